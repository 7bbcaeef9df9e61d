/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdarg.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "accel.h"
#include "cpu-util.h"
#include "fileio.h"
#include "log.h"
#include "path-util.h"
#include "string-util.h"

static const char *const accel_table[_ACCEL_MAX] = {
        [ACCEL_TCG] = "tcg",
        [ACCEL_KVM] = "kvm",
};
DEFINE_STRING_TABLE_LOOKUP(accel, Accel);

void accel_probe_done(AccelProbe *p) {
        free(p->reason);
        *p = (AccelProbe) {};
}

static bool root_is_host(const char *root) {
        return !root || streq(root, "/") || isempty(root);
}

static bool root_exists(const char *root, const char *path) {
        _cleanup_free_ char *p = path_prefix_root(root, path);

        return p && access(p, F_OK) >= 0;
}

/* -errno of the first failing step: open, API version, KVM_CREATE_VM. */
static int kvm_create_vm(const char **ret_step) {
        _cleanup_close_ int fd = -EBADF, vm = -EBADF;

        *ret_step = "open /dev/kvm";
        fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret_step = "KVM_GET_API_VERSION";
        if (ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
                return -EPROTO;
        *ret_step = "KVM_CREATE_VM";
        vm = ioctl(fd, KVM_CREATE_VM, 0);
        if (vm < 0)
                return -errno;
        return 0;
}

static int decide(AccelProbe *p, Accel a, const char *fmt, ...) _printf_(3, 4);
static int decide(AccelProbe *p, Accel a, const char *fmt, ...) {
        va_list ap;
        int r;

        p->accel = a;
        va_start(ap, fmt);
        r = vasprintf(&p->reason, fmt, ap);
        va_end(ap);
        if (r < 0) {
                p->reason = NULL;
                return -ENOMEM;
        }
        return 0;
}

int accel_probe(const char *root, AccelProbe *ret) {
        _cleanup_(accel_probe_done) AccelProbe p = {};
        _cleanup_(cpu_info_done) CpuInfo cpu = {};
        const char *env = getenv(ACCEL_ENV), *step = NULL;
        bool have_cpu, nested_hv;
        int r;

        have_cpu = cpu_info_read(root, &cpu) >= 0;
        if (have_cpu)
                p.extension = cpu_info_has_flag(&cpu, "vmx") ? "vmx" : cpu_info_has_flag(&cpu, "svm") ? "svm" : NULL;

        if (!isempty(env)) {
                Accel a = accel_from_string(env);
                if (a < 0)
                        return -EINVAL;
                p.overridden = true;
                r = decide(&p, a, "%s=%s in the environment", ACCEL_ENV, env);
        } else if (!root_exists(root, "/dev/kvm"))
                r = decide(&p, ACCEL_TCG, "no /dev/kvm");
        else if (root_exists(root, "/sys/module/kvm_pvm"))
                /* PVM (Pagetable-based VM) serves /dev/kvm without vmx/svm and runs only guest
                 * kernels built for it: Debian's kernel prints nothing under it. */
                r = decide(&p, ACCEL_TCG, "/dev/kvm is served by kvm_pvm, which runs only PVM guest kernels");
        else if (!have_cpu)
                r = decide(&p, ACCEL_TCG, "/proc/cpuinfo is unreadable, so no vmx/svm can be confirmed");
        else if (!p.extension)
                r = decide(&p, ACCEL_TCG,
                           "/dev/kvm exists but the CPU offers neither vmx nor svm (a paravirtual KVM runs "
                           "no standard guest kernel)");
        else if (root_is_host(root) && (r = kvm_create_vm(&step)) < 0)
                r = decide(&p, ACCEL_TCG, "/dev/kvm is unusable: %s failed: %s", step, strerror(-r));
        else {
                const char *module = cpu_info_kvm_module(&cpu);
                _cleanup_free_ char *sysmod = module ? strjoin("/sys/module/", module) : NULL;

                nested_hv = cpu_info_has_flag(&cpu, "hypervisor");
                p.needs_proof = nested_hv;
                r = decide(&p, ACCEL_KVM, "the CPU offers %s%s%s%s and /dev/kvm creates VMs%s", p.extension,
                           sysmod && root_exists(root, sysmod) ? " (" : "",
                           sysmod && root_exists(root, sysmod) ? module : "",
                           sysmod && root_exists(root, sysmod) ? " loaded)" : "",
                           nested_hv ? "; this machine is itself a guest (nested KVM), so a bounded boot "
                                       "proves it"
                                     : "");
        }
        if (r < 0)
                return r;
        *ret = p;
        p = (AccelProbe) {};
        return 0;
}
