/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include "accel.h"
#include "config.h"
#include "cpu-util.h"
#include "fileio.h"
#include "hugepages.h"
#include "kmod-util.h"
#include "log.h"
#include "message-ids.h"
#include "mhtest.h"
#include "parse-util.h"
#include "path-util.h"
#include "pci-driver.h"
#include "process-util.h"
#include "state.h"
#include "steps.h"
#include "string-util.h"
#include "strv.h"

/* "mhtest check [JOB]": the preflight doctor. Reads the host (below --root), changes nothing,
 * prints one line per requirement with the remedy, and fails if any requirement fails. Without
 * JOB it checks what any job would need; with JOB, what that job needs on this host. */

typedef enum CheckStatus { CHECK_PASS, CHECK_WARN, CHECK_FAIL, _CHECK_STATUS_MAX } CheckStatus;
static const char *const check_status_table[_CHECK_STATUS_MAX] = { "pass", "warn", "fail" };

typedef struct CheckResult {
        char *name;
        CheckStatus status;
        char *message;
        char *remedy;
} CheckResult;

typedef struct Checks {
        const char *root;
        Config *config;
        JobConfig *job; /* NULL: host only */
        CpuInfo cpu;
        bool have_cpu;
        CheckResult *results;
        size_t n_results;
        AccelProbe accel;
        bool have_accel;
        char **cmdline_add; /* kernel arguments the job needs that only boot can give */
        char **cmdline_why;
        bool cmdline_required; /* the job cannot run without those arguments */
} Checks;

static void checks_done(Checks *c) {
        for (size_t i = 0; i < c->n_results; i++) {
                free(c->results[i].name);
                free(c->results[i].message);
                free(c->results[i].remedy);
        }
        free(c->results);
        strv_free(c->cmdline_add);
        strv_free(c->cmdline_why);
        cpu_info_done(&c->cpu);
        accel_probe_done(&c->accel);
}

static int add(Checks *c, const char *name, CheckStatus status, const char *remedy, const char *fmt, ...)
        _printf_(5, 6);
static int add(Checks *c, const char *name, CheckStatus status, const char *remedy, const char *fmt, ...) {
        CheckResult *n;
        va_list ap;
        char *m;

        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        n = realloc(c->results, (c->n_results + 1) * sizeof(CheckResult));
        if (!m || !n) {
                free(m);
                if (n)
                        c->results = n;
                return log_oom();
        }
        c->results = n;
        c->results[c->n_results++] = (CheckResult) {
                .name = strdup(name),
                .status = status,
                .message = m,
                .remedy = remedy ? strdup(remedy) : NULL,
        };
        return 0;
}

static bool job_needs_kvm(const Checks *c) {
        if (!c->job)
                return false;
        if (c->job->nested && c->job->nested->enable == NESTED_YES)
                return true;
        for (size_t i = 0; i < c->job->n_guests; i++)
                if (c->job->guests[i]->virt_type == GUEST_VIRT_KVM)
                        return true;
        return false;
}

static bool job_has_vfio(const Checks *c) {
        return c->job && c->job->vfio && strv_length(c->job->vfio->devices) > 0;
}

/* ---- CPU, KVM ---- */

static void check_cpu(Checks *c) {
        const char *m;
        int r;

        r = cpu_info_read(c->root, &c->cpu);
        if (r < 0) {
                add(c, "cpu-virtualization", CHECK_FAIL, NULL, "cannot read /proc/cpuinfo: %s", strerror(-r));
                return;
        }
        c->have_cpu = true;
        m = cpu_info_kvm_module(&c->cpu);
        if (m)
                add(c, "cpu-virtualization", CHECK_PASS, NULL, "%s CPU with %s (KVM module %s)", strna(c->cpu.vendor_id),
                    cpu_info_has_flag(&c->cpu, "vmx") ? "VT-x (vmx)" : "AMD-V (svm)", m);
        else
                add(c, "cpu-virtualization", job_needs_kvm(c) ? CHECK_FAIL : CHECK_WARN,
                    "enable VT-x/AMD-V in the firmware; in a VM, give the guest the vmx or svm CPU flag "
                    "(QEMU: -cpu host or +vmx/+svm); or let guests run under TCG ([Nested] Enable=auto, [Guest] Type=qemu)",
                    "%s CPU without vmx/svm: no KVM, guests run under TCG (slow)", strna(c->cpu.vendor_id));
}

static void check_kvm_module(Checks *c) {
        const char *m = c->have_cpu ? cpu_info_kvm_module(&c->cpu) : NULL;
        _cleanup_free_ char *nested = NULL, *kvm = path_prefix_root(c->root, "/dev/kvm");
        bool wants_nested = c->job && c->job->nested && c->job->nested->enable != NESTED_NO;
        ModuleState st;
        int r;

        if (!m)
                return;
        r = module_state(c->root, m, &st);
        if (r >= 0 && st != MODULE_NOT_LOADED) {
                (void) module_param_read(c->root, m, "nested", &nested);
                if (wants_nested && !module_param_is_on(nested))
                        add(c, "kvm-module", CHECK_WARN,
                            "\"mhtest apply nested JOB\" (or starting the job) reloads it with nested=1; it refuses while guests run",
                            "%s loaded with nested=%s", m, strna(nested));
                else
                        add(c, "kvm-module", CHECK_PASS, NULL, "%s loaded (nested=%s)%s", m, strna(nested),
                            kvm && access(kvm, F_OK) < 0 ? ", but /dev/kvm is missing" : "");
                return;
        }
        r = module_available(c->root, m);
        if (r > 0)
                add(c, "kvm-module", CHECK_PASS, NULL, "%s not loaded, loadable from the module tree", m);
        else
                add(c, "kvm-module", job_needs_kvm(c) || wants_nested ? CHECK_FAIL : CHECK_WARN,
                    "install the kernel's modules (Debian: linux-image-$(uname -r)) or use a kernel with KVM",
                    "%s is neither loaded nor in the module tree%s", m, r < 0 ? " (module tree unreadable)" : "");
}

/* Which accelerator guests and L1 hosts get here, decided once for every QEMU mhtest starts. */
static void check_accel(Checks *c) {
        int r;

        r = accel_probe(c->root, &c->accel);
        if (r < 0) {
                add(c, "accelerator", CHECK_FAIL, "set " ACCEL_ENV " to kvm or tcg, or unset it",
                    r == -EINVAL ? "invalid " ACCEL_ENV "=%s" : "cannot probe the accelerator%s",
                    r == -EINVAL ? getenv(ACCEL_ENV) : "");
                return;
        }
        c->have_accel = true;
        if (c->accel.accel == ACCEL_KVM)
                add(c, "accelerator", CHECK_PASS, NULL, "kvm: %s", c->accel.reason);
        else
                add(c, "accelerator", job_needs_kvm(c) ? CHECK_FAIL : CHECK_WARN,
                    "guests and L1 hosts run under TCG emulation, many times slower than KVM; "
                    ACCEL_ENV "=kvm forces KVM where the probe is wrong",
                    "tcg: %s", c->accel.reason);
}

/* ---- IOMMU, vfio ---- */

static void check_iommu(Checks *c) {
        bool intel = c->have_cpu && c->cpu.vendor == CPU_VENDOR_INTEL;
        bool noiommu = job_has_vfio(c) && c->job->vfio->no_iommu;

        if (pci_iommu_present(c->root)) {
                add(c, "iommu", CHECK_PASS, NULL, "IOMMU present (/sys/kernel/iommu_groups)");
                return;
        }
        if (job_has_vfio(c) && intel) {
                c->cmdline_required = !c->job->vfio->no_iommu;
                if (strv_extend(&c->cmdline_add, "intel_iommu=on") < 0 ||
                    strv_extend(&c->cmdline_why, "intel_iommu=on: [VFIO] Devices= needs the IOMMU (Intel turns it on at boot)") < 0)
                        log_oom();
        }
        add(c, "iommu", !job_has_vfio(c) ? CHECK_WARN : noiommu ? CHECK_WARN : CHECK_FAIL,
            intel ? "enable VT-d in the firmware and boot with intel_iommu=on (see kernel-cmdline)"
                  : "enable AMD-Vi/IOMMU in the firmware (amd_iommu is on by default when the firmware offers it)",
            "no IOMMU groups: vfio-pci cannot be used%s", noiommu ? " safely; [VFIO] NoIOMMU=yes will use unsafe no-IOMMU mode" : "");
}

static void check_vfio_module(Checks *c) {
        _cleanup_free_ char *drv = path_prefix_root(c->root, "/sys/bus/pci/drivers/vfio-pci");
        int r;

        if (drv && dir_exists(drv)) {
                add(c, "vfio-module", CHECK_PASS, NULL, "vfio-pci loaded");
                return;
        }
        r = module_available(c->root, "vfio-pci");
        if (r > 0)
                add(c, "vfio-module", CHECK_PASS, NULL, "vfio-pci loadable from the module tree");
        else
                add(c, "vfio-module", job_has_vfio(c) ? CHECK_FAIL : CHECK_WARN,
                    "install the kernel's modules (vfio-pci is in Debian's linux-image packages)",
                    "vfio-pci is neither loaded nor in the module tree");
}

static void check_nic_safety(Checks *c) {
        _cleanup_strv_free_ char **reasons = NULL;
        _cleanup_free_ char *all = NULL;
        StepContext ctx = { .root = c->root, .config = c->config, .job = c->job };
        int r;

        if (!job_has_vfio(c))
                return;
        r = vfio_check_devices(&ctx, pci_iommu_present(c->root), &reasons);
        if (r < 0) {
                add(c, "nic-safety", CHECK_FAIL, NULL, "cannot check [VFIO] Devices=: %s", strerror(-r));
                return;
        }
        if (!reasons) {
                add(c, "nic-safety", CHECK_PASS, NULL, "%zu device(s) in [VFIO] Devices= carry no address, route or management connection and keep their IOMMU groups whole",
                    strv_length(c->job->vfio->devices));
                return;
        }
        all = strv_join(reasons, "; ");
        add(c, "nic-safety", CHECK_FAIL,
            "remove addresses/routes from those interfaces (or from their bridge/bond/VLAN), pick other devices, or list every member of the IOMMU group",
            "%s", strna(all));
}

/* ---- hugepages ---- */

static char *size_str(uint64_t b) {
        char *s = NULL;
        return format_size(b, &s) < 0 ? NULL : s;
}

static void check_hugepages(Checks *c) {
        _cleanup_free_ uint64_t *sizes = NULL;
        _cleanup_strv_free_ char **offered = NULL;
        uint64_t avail = 0, need = 0, floor;
        size_t n = 0;
        int r;

        (void) hugepages_sizes(c->root, &sizes, &n);
        for (size_t i = 0; i < n; i++) {
                char *s = size_str(sizes[i]);
                if (!s || strv_consume(&offered, s) < 0) {
                        log_oom();
                        return;
                }
        }
        r = meminfo_get(c->root, "MemAvailable", &avail);
        if (!c->job || !c->job->hugepages || strv_length(c->job->hugepages->pages) == 0) {
                _cleanup_free_ char *o = strv_join(offered, " "), *a = size_str(avail);
                add(c, "hugepages", n > 0 ? CHECK_PASS : CHECK_WARN, n > 0 ? NULL : "a kernel with CONFIG_HUGETLBFS",
                    "page sizes offered: %s; MemAvailable %s", n > 0 ? strna(o) : "none", r >= 0 ? strna(a) : "unknown");
                return;
        }

        floor = c->job->hugepages->min_available_memory > 0 ? c->job->hugepages->min_available_memory
                : c->config->safety                            ? c->config->safety->min_available_memory
                                                               : 0;
        STRV_FOREACH(item, c->job->hugepages->pages) {
                _cleanup_free_ char *ps = NULL;
                HugePagesRequest req;
                uint64_t count, have = 0;

                if (hugepages_request_parse(*item, &req) < 0)
                        continue;
                ps = size_str(req.page_size);
                count = req.count > 0 ? req.count : (req.bytes + req.page_size - 1) / req.page_size;
                if (!hugepages_size_supported(c->root, req.page_size)) {
                        bool gb = req.page_size == UINT64_C(1) << 30;
                        add(c, "hugepages", CHECK_FAIL,
                            gb && c->have_cpu && !cpu_info_has_flag(&c->cpu, "pdpe1gb")
                                    ? "this CPU has no 1G pages (no pdpe1gb flag): use 2M pages"
                                    : "boot with the page size enabled (see kernel-cmdline)",
                            "%s pages requested (%s) but the kernel does not offer that size", strna(ps), *item);
                        if (gb && (!c->have_cpu || cpu_info_has_flag(&c->cpu, "pdpe1gb"))) {
                                char *a = NULL;
                                c->cmdline_required = true;
                                if (asprintf_safe(&a, "default_hugepagesz=1G hugepagesz=1G hugepages=%" PRIu64, count) < 0 ||
                                    strv_consume(&c->cmdline_add, a) < 0 ||
                                    strv_extend(&c->cmdline_why, "1G pages: reserved at boot, where memory is not fragmented yet") < 0)
                                        log_oom();
                        }
                        continue;
                }
                (void) hugepages_get(c->root, req.page_size, -1, &have);
                if (count > have)
                        need += (count - have) * req.page_size;
                if (req.page_size == UINT64_C(1) << 30 && count > have) {
                        char *a = NULL;
                        add(c, "hugepages", CHECK_WARN,
                            "if \"mhtest apply hugepages\" gets fewer 1G pages than asked, reserve them at boot (see kernel-cmdline)",
                            "%" PRIu64 " more 1G page(s) to allocate at runtime: fragmentation can make that fail", count - have);
                        if (asprintf_safe(&a, "hugepagesz=1G hugepages=%" PRIu64, count) < 0 || strv_consume(&c->cmdline_add, a) < 0 ||
                            strv_extend(&c->cmdline_why, "1G pages: only if runtime allocation falls short") < 0)
                                log_oom();
                }
        }
        if (r < 0) {
                add(c, "hugepages", CHECK_WARN, NULL, "cannot read MemAvailable: %s", strerror(-r));
                return;
        }
        {
                _cleanup_free_ char *a = size_str(avail), *nd = size_str(need), *f = size_str(floor);
                if (need > 0 && (avail < floor || need > avail - floor))
                        add(c, "hugepages", CHECK_FAIL,
                            "ask for fewer pages, free memory, or lower [HugePages] MinAvailableMemory= / [Safety] MinAvailableMemory=",
                            "%s more hugepage memory requested, MemAvailable %s: that would leave less than the floor %s",
                            strna(nd), strna(a), strna(f));
                else
                        add(c, "hugepages", CHECK_PASS, NULL, "%s more hugepage memory requested, MemAvailable %s, floor %s",
                            strna(nd), strna(a), strna(f));
        }
}

/* ---- programs ---- */

static int find_program(const char *root, const char *name, char **ret) {
        static const char *const dirs[] = { "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin" };

        if (!root || streq(root, "/") || strchr(name, '/')) {
                _cleanup_free_ char *p = strchr(name, '/') ? path_prefix_root(root, name) : NULL;
                if (strchr(name, '/')) {
                        if (!p)
                                return -ENOMEM;
                        if (access(p, X_OK) < 0)
                                return -errno;
                        *ret = strdup(name);
                        return *ret ? 0 : -ENOMEM;
                }
                return find_executable(name, ret);
        }
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                _cleanup_free_ char *rel = strjoin(dirs[i], "/", name), *p = NULL;
                if (!rel)
                        return -ENOMEM;
                p = path_prefix_root(root, rel);
                if (p && access(p, X_OK) >= 0) {
                        *ret = TAKE_PTR(rel);
                        return 0;
                }
        }
        return -ENOENT;
}

static void check_program(Checks *c, const char *what, char * const *names, bool needed, const char *remedy) {
        _cleanup_free_ char *joined = strv_join(names, " or ");

        STRV_FOREACH(n, names) {
                _cleanup_free_ char *p = NULL;
                if (find_program(c->root, *n, &p) >= 0) {
                        add(c, what, CHECK_PASS, NULL, "%s", p);
                        return;
                }
        }
        add(c, what, needed ? CHECK_FAIL : CHECK_WARN, remedy, "%s not found", strna(joined));
}

static void check_programs(Checks *c) {
        bool guests = c->job && c->job->n_guests > 0, testpmd = c->job && c->job->testpmd;
        char *qemu[] = { (char *) "qemu-system-x86_64", NULL };
        char *libvirt[] = { (char *) "libvirtd", (char *) "virtqemud", NULL };
        char *dpdk[] = { (char *) (testpmd && c->job->testpmd->binary ? c->job->testpmd->binary : "dpdk-testpmd"), NULL };

        check_program(c, "program-qemu", qemu, guests, "install qemu-system-x86 (Debian)");
        check_program(c, "program-libvirt", libvirt, guests, "install libvirt-daemon-system (Debian)");
        if (testpmd || !c->job)
                check_program(c, "program-testpmd", dpdk, testpmd,
                              "install dpdk-dev (Debian ships dpdk-testpmd there) or set [Testpmd] Binary=");
}

/* ---- connectivity ---- */

/* A TCP connection to host:port within timeout_ms (the other hosts' sshd: what the coordinator
 * and libvirt's qemu+ssh:// use). 0 reachable, negative errno otherwise. */
static int tcp_reachable(const char *host, unsigned port, int timeout_ms) {
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *ai = NULL;
        char service[16];
        int r = -EHOSTUNREACH;

        snprintf(service, sizeof(service), "%u", port);
        if (getaddrinfo(host, service, &hints, &ai) != 0)
                return -EADDRNOTAVAIL;
        for (struct addrinfo *a = ai; a; a = a->ai_next) {
                _cleanup_close_ int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                struct pollfd p;
                int err = 0;
                socklen_t len = sizeof(err);

                if (fd < 0) {
                        r = -errno;
                        continue;
                }
                if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
                        r = 0;
                        break;
                }
                if (errno != EINPROGRESS) {
                        r = -errno;
                        continue;
                }
                p = (struct pollfd) { .fd = fd, .events = POLLOUT };
                if (poll(&p, 1, timeout_ms) <= 0) {
                        r = -ETIMEDOUT;
                        continue;
                }
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                        err = errno;
                if (err == 0) {
                        r = 0;
                        break;
                }
                r = -err;
        }
        freeaddrinfo(ai);
        return r;
}

static void check_connectivity(Checks *c) {
        if (!c->job || !c->job->job)
                return;
        STRV_FOREACH(h, c->job->job->hosts) {
                const HostConfig *hc;
                const char *addr;
                unsigned port;
                int r;

                if (streq_ptr(*h, c->config->host_name))
                        continue;
                hc = config_find_host(c->config, *h);
                if (!hc || !hc->host) {
                        add(c, "connectivity", CHECK_FAIL, "describe it in hosts.d/HOST.conf ([Host] Address=)",
                            "host %s of [Job] Hosts= is not described in hosts.d", *h);
                        continue;
                }
                addr = hc->host->address ?: *h;
                port = hc->host->ssh_port ?: 22;
                r = tcp_reachable(addr, port, 3000);
                if (r < 0)
                        add(c, "connectivity", CHECK_FAIL,
                            "check the host's Address=/SSHPort= in hosts.d, the network and that sshd runs there",
                            "%s (%s port %u) not reachable: %s", *h, addr, port, strerror(-r));
                else
                        add(c, "connectivity", CHECK_PASS, NULL, "%s reachable (%s port %u)", *h, addr, port);
        }
}

/* ---- kernel command line ---- */

/* The CPU list of a kernel argument such as "isolcpus=domain,managed_irq,2-5" (flags skipped). */
static int cmdline_cpus(char * const *args, const char *key, CPUSet *ret) {
        size_t k = strlen(key);

        *ret = (CPUSet) {};
        STRV_FOREACH(a, args) {
                const char *v;

                if (!strneq(*a, key, k) || (*a)[k] != '=')
                        continue;
                v = *a + k + 1;
                while (*v && !(*v >= '0' && *v <= '9')) {
                        const char *comma = strchr(v, ',');
                        if (!comma)
                                return 0;
                        v = comma + 1;
                }
                cpu_set_done(ret);
                if (cpu_set_parse(v, ret) < 0)
                        *ret = (CPUSet) {};
        }
        return 0;
}

static bool cpu_set_covers(const CPUSet *have, const CPUSet *want) {
        CPU_SET_FOREACH(cpu, want)
                if (!cpu_set_isset(have, cpu))
                        return false;
        return true;
}

static void check_cmdline(Checks *c) {
        _cleanup_free_ char *path = path_prefix_root(c->root, "/proc/cmdline"), *line = NULL, *add_s = NULL,
                            *why_s = NULL;
        _cleanup_strv_free_ char **args = NULL;
        _cleanup_(cpu_set_done) CPUSet want = {};
        int r;

        r = path ? read_one_line_file(path, &line) : -ENOMEM;
        if (r < 0 || strv_split_quoted(line, &args) < 0) {
                add(c, "kernel-cmdline", CHECK_WARN, NULL, "cannot read /proc/cmdline");
                return;
        }

        if (c->job) {
                if (c->job->testpmd && !c->job->testpmd->cores.automatic)
                        CPU_SET_FOREACH(cpu, &c->job->testpmd->cores.cpus)
                                (void) cpu_set_add(&want, cpu);
                for (size_t i = 0; i < c->job->n_guests; i++)
                        CPU_SET_FOREACH(cpu, &c->job->guests[i]->vcpu_pinning.cpus)
                                (void) cpu_set_add(&want, cpu);
        }
        if (cpu_set_count(&want) > 0) {
                _cleanup_free_ char *cpus = NULL;
                static const char *const keys[] = { "isolcpus", "nohz_full", "rcu_nocbs" };

                if (cpu_set_format(&want, &cpus) < 0)
                        return (void) log_oom();
                for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                        _cleanup_(cpu_set_done) CPUSet have = {};
                        char *a = NULL;

                        (void) cmdline_cpus(args, keys[i], &have);
                        if (cpu_set_covers(&have, &want))
                                continue;
                        if (asprintf_safe(&a, "%s=%s", keys[i], cpus) < 0 || strv_consume(&c->cmdline_add, a) < 0)
                                return (void) log_oom();
                }
                if (strv_extend(&c->cmdline_why, "isolcpus/nohz_full/rcu_nocbs: keep the kernel off the pinned testpmd and vCPU cores") < 0)
                        return (void) log_oom();
        }
        if (job_has_vfio(c) && !strv_contains(args, "iommu=pt")) {
                if (strv_extend(&c->cmdline_add, "iommu=pt") < 0 ||
                    strv_extend(&c->cmdline_why, "iommu=pt: host devices not assigned to guests skip IOMMU translation") < 0)
                        return (void) log_oom();
        }
        /* Drop what /proc/cmdline has already, and the explanations of nothing. */
        for (size_t i = 0; c->cmdline_add && c->cmdline_add[i];) {
                _cleanup_strv_free_ char **words = NULL;
                bool present = true;

                if (strv_split_quoted(c->cmdline_add[i], &words) < 0)
                        return (void) log_oom();
                STRV_FOREACH(w, words)
                        if (!strv_contains(args, *w))
                                present = false;
                if (present) {
                        free(c->cmdline_add[i]);
                        memmove(c->cmdline_add + i, c->cmdline_add + i + 1,
                                (strv_length(c->cmdline_add + i + 1) + 1) * sizeof(char *));
                } else
                        i++;
        }
        if (strv_length(c->cmdline_add) == 0) {
                add(c, "kernel-cmdline", CHECK_PASS, NULL, "%s", c->job ? "has everything the job needs from boot" : "nothing required without a job");
                return;
        }
        strv_uniq(c->cmdline_add);
        add_s = strv_join(c->cmdline_add, " ");
        why_s = strv_join(c->cmdline_why, "; ");
        {
                _cleanup_free_ char *remedy = strjoin("add to the kernel command line: ", strna(add_s),
                                                      " — reboot required (mhtest never edits the bootloader)");
                add(c, "kernel-cmdline", c->cmdline_required ? CHECK_FAIL : CHECK_WARN, remedy, "missing boot arguments: %s (%s)",
                    strna(add_s), strna(why_s));
        }
}

/* ---- output ---- */

static int checks_print(Checks *c) {
        unsigned counts[_CHECK_STATUS_MAX] = {};

        for (size_t i = 0; i < c->n_results; i++) {
                const CheckResult *r = c->results + i;
                counts[r->status]++;
                /* On a terminal the table below says it already; the journal gets one entry each. */
                if (log_get_effective_target() == LOG_TARGET_JOURNAL)
                        log_event(r->status == CHECK_FAIL ? LOG_ERR : r->status == CHECK_WARN ? LOG_WARNING : LOG_INFO, 0,
                                  MHTEST_MESSAGE_PREFLIGHT_RESULT, NULL, "check %s: %s: %s", r->name,
                                  check_status_table[r->status], r->message);
        }
        if (arg_json) {
                _cleanup_json_ json_object *o = json_object_new_object();
                json_object *a = json_object_new_array(), *cl = json_object_new_array();

                json_object_object_add(o, "host", json_object_new_string(strempty(c->config->host_name)));
                json_object_object_add(o, "job", c->job ? json_object_new_string(c->job->name) : NULL);
                json_object_object_add(o, "result", json_object_new_string(counts[CHECK_FAIL] ? "fail"
                                                                           : counts[CHECK_WARN] ? "warn" : "pass"));
                for (size_t i = 0; i < c->n_results; i++) {
                        json_object *e = json_object_new_object();
                        json_object_object_add(e, "check", json_object_new_string(c->results[i].name));
                        json_object_object_add(e, "status", json_object_new_string(check_status_table[c->results[i].status]));
                        json_object_object_add(e, "message", json_object_new_string(c->results[i].message));
                        json_object_object_add(e, "remedy", state_new_string_or_null(c->results[i].remedy));
                        json_object_array_add(a, e);
                }
                json_object_object_add(o, "checks", a);
                if (c->have_accel) {
                        json_object *ac = json_object_new_object();
                        json_object_object_add(ac, "accel", json_object_new_string(accel_to_string(c->accel.accel)));
                        json_object_object_add(ac, "reason", json_object_new_string(c->accel.reason));
                        json_object_object_add(ac, "overridden", json_object_new_boolean(c->accel.overridden));
                        json_object_object_add(ac, "needs_proof", json_object_new_boolean(c->accel.needs_proof));
                        json_object_object_add(ac, "extension", state_new_string_or_null(c->accel.extension));
                        json_object_object_add(o, "accelerator", ac);
                }
                STRV_FOREACH(s, c->cmdline_add)
                        json_object_array_add(cl, json_object_new_string(*s));
                json_object_object_add(o, "kernel_cmdline_add", cl);
                json_object_object_add(o, "reboot_required", json_object_new_boolean(strv_length(c->cmdline_add) > 0));
                printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        } else {
                printf("Preflight check of %s%s%s:\n", strempty(c->config->host_name), c->job ? " for job " : "",
                       c->job ? c->job->name : "");
                for (size_t i = 0; i < c->n_results; i++) {
                        const CheckResult *r = c->results + i;
                        printf("  %-4s  %-18s %s\n", r->status == CHECK_PASS ? "PASS" : r->status == CHECK_WARN ? "WARN" : "FAIL",
                               r->name, r->message);
                        if (r->remedy && r->status != CHECK_PASS)
                                printf("        %-18s -> %s\n", "", r->remedy);
                }
                printf("%u passed, %u warning(s), %u failed.\n", counts[CHECK_PASS], counts[CHECK_WARN], counts[CHECK_FAIL]);
        }
        return counts[CHECK_FAIL] > 0 ? -EINVAL : 0;
}

int verb_check(int argc, char *argv[]) {
        _cleanup_(config_freep) Config *config = NULL;
        _cleanup_(job_config_freep) JobConfig *job = NULL;
        _cleanup_(checks_done) Checks c = {};
        int r;

        r = load_config(&config);
        if (r < 0)
                return r;
        if (argc > 1) {
                log_set_context_job(argv[1]);
                r = load_job(config, argv[1], &job);
                if (r < 0)
                        return r;
        }
        log_set_context_host(config->host_name);
        c = (Checks) { .root = arg_root, .config = config, .job = job };

        check_cpu(&c);
        check_kvm_module(&c);
        check_accel(&c);
        check_iommu(&c);
        check_vfio_module(&c);
        check_nic_safety(&c);
        check_hugepages(&c);
        check_programs(&c);
        check_connectivity(&c);
        check_cmdline(&c);
        return checks_print(&c);
}
