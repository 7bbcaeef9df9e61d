/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "fileio.h"
#include "l1vm.h"
#include "parse-util.h"
#include "path-util.h"
#include "process-util.h"
#include "string-util.h"
#include "strv.h"
#include "time-util.h"

#ifndef STRV_MAKE
#define STRV_MAKE(...) ((char **) ((const char *[]) { __VA_ARGS__, NULL }))
#endif

const char *l1vm_cpu_model(bool kvm) {
        /* Under KVM the host CPU carries its own svm/vmx; under TCG qemu64 plus the flags is
         * twice as fast as "max" (no crypto self-tests of AVX code paths under emulation). */
        return kvm ? "host" : "qemu64,+svm,+npt,+ssse3,+sse4.1,+sse4.2,+popcnt,+pdpe1gb";
}

static bool share_path_ok(const char *p) {
        /* QEMU's -virtfs option list separates with commas; a path with one cannot be passed. */
        return p && path_is_normalized_absolute(p) && !strchr(p, ',');
}

static int add_share(char ***argv, const char *tag, const char *path, bool read_only) {
        int r;

        if (!share_path_ok(path))
                return -EINVAL;
        r = strv_extendf(argv, "-virtfs");
        if (r < 0)
                return r;
        return strv_extendf(argv, "local,path=%s,mount_tag=%s,security_model=none%s%s", path, tag,
                        read_only ? ",readonly=on" : "", streq(path, "/") ? ",multidevs=remap" : "");
}

int l1vm_build_argv(const L1VMSpec *s, char ***ret) {
        _cleanup_(strv_freep) char **argv = NULL;
        _cleanup_free_ char *append = NULL;
        int r;

        if (!s->kernel || !s->initrd || !s->modules_dir || !s->unit || !s->qmp_socket)
                return -EINVAL;
        if (strchr(s->qmp_socket, ',') || (s->console_log && strchr(s->console_log, ',')))
                return -EINVAL;

        if (asprintf_safe(&append,
                          "console=ttyS0 rdinit=/init intel_iommu=on iommu=pt panic=-1 loglevel=4 "
                          "systemd.unit=%s systemd.show_status=1%s%s",
                          s->unit, s->extra_kernel_args ? " " : "",
                          strempty(s->extra_kernel_args)) < 0)
                return -ENOMEM;

        argv = strv_new("qemu-system-x86_64", "-nodefaults", "-no-reboot", "-display", "none");
        if (!argv)
                return -ENOMEM;
        r = strv_extendf(&argv, "-machine");
        if (r >= 0)
                /* Under KVM the emulated IOMMU's interrupt remapping needs the split irqchip
                 * (QEMU refuses intel-iommu,intremap=on with kernel-irqchip=on). */
                r = strv_extendf(&argv, "q35,accel=%s", s->kvm ? "kvm,kernel-irqchip=split" : "tcg");
        if (r >= 0)
                r = strv_extendf(&argv, "-cpu");
        if (r >= 0)
                r = strv_extendf(&argv, "%s", l1vm_cpu_model(s->kvm));
        if (r >= 0)
                r = strv_extendf(&argv, "-smp");
        if (r >= 0)
                r = strv_extendf(&argv, "%u", s->cpus ?: 2);
        if (r >= 0)
                r = strv_extendf(&argv, "-m");
        if (r >= 0)
                r = strv_extendf(&argv, "%uM", s->memory_mib ?: 2048);
        /* The IOMMU must come before the devices it translates for. */
        if (r >= 0)
                r = strv_extend_strv(&argv, STRV_MAKE("-device", "intel-iommu,intremap=on"));
        if (r < 0)
                return r;

        /* NICs before the 9p shares, which take the first free slots. */
        for (size_t i = 0; i < s->n_nics; i++) {
                const L1VMNic *n = &s->nics[i];

                if (!n->model || !n->mac || strchr(n->mac, ',') || (n->tap && strchr(n->tap, ',')))
                        return -EINVAL;
                r = strv_extendf(&argv, "-netdev");
                if (r >= 0)
                        r = n->tap ? strv_extendf(&argv, "tap,id=n%zu,ifname=%s,script=no,downscript=no", i, n->tap)
                                   : strv_extendf(&argv, "hubport,id=n%zu,hubid=%u", i, n->hub);
                if (r >= 0)
                        r = strv_extendf(&argv, "-device");
                if (r >= 0)
                        r = strv_extendf(&argv, "%s,netdev=n%zu,mac=%s,bus=pcie.0,addr=0x%x", n->model, i, n->mac,
                                     n->pci_slot);
                if (r < 0)
                        return r;
        }

        r = strv_extend_strv(&argv, STRV_MAKE("-kernel", s->kernel, "-initrd", s->initrd, "-append", append));
        if (r < 0)
                return r;
        r = add_share(&argv, "hostroot", "/", true);
        if (r >= 0)
                r = add_share(&argv, "modules", s->modules_dir, true);
        if (r >= 0 && s->payload_dir)
                r = add_share(&argv, "payload", s->payload_dir, true);
        if (r >= 0 && s->host_payload_dir)
                r = add_share(&argv, "hostpayload", s->host_payload_dir, true);
        if (r >= 0 && s->out_dir)
                r = add_share(&argv, "out", s->out_dir, false);
        if (r >= 0)
                r = strv_extendf(&argv, "-qmp");
        if (r >= 0)
                r = strv_extendf(&argv, "unix:%s,server=on,wait=off", s->qmp_socket);
        if (r >= 0)
                r = strv_extendf(&argv, "-serial");
        if (r >= 0)
                r = s->console_log ? strv_extendf(&argv, "file:%s", s->console_log) : strv_extendf(&argv, "null");
        if (r >= 0 && s->pidfile)
                r = strv_extend_strv(&argv, STRV_MAKE("-daemonize", "-pidfile", s->pidfile));
        if (r < 0)
                return r;

        *ret = TAKE_PTR(argv);
        return 0;
}

int l1vm_start(const L1VMSpec *s, const char *netns_path, const char *qemu_log, pid_t *ret_pid) {
        _cleanup_(strv_freep) char **argv = NULL;
        _cleanup_free_ char *pid_s = NULL;
        _cleanup_close_ int log_fd = -EBADF, ns_fd = -EBADF;
        pid_t child;
        int r;

        if (!s->pidfile)
                return -EINVAL;
        r = l1vm_build_argv(s, &argv);
        if (r < 0)
                return r;
        if (netns_path) {
                ns_fd = open(netns_path, O_RDONLY | O_CLOEXEC);
                if (ns_fd < 0)
                        return -errno;
        }
        log_fd = open(qemu_log ?: "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (log_fd < 0)
                return -errno;
        (void) unlink(s->pidfile);

        fflush(stdout);
        fflush(stderr);
        child = fork();
        if (child < 0)
                return -errno;
        if (child == 0) {
                /* QEMU creates nothing in the machine's namespace: its taps live next to the
                 * lab's bridges. */
                if (ns_fd >= 0 && setns(ns_fd, CLONE_NEWNET) < 0)
                        _exit(126);
                if (dup2(log_fd, STDOUT_FILENO) < 0 || dup2(log_fd, STDERR_FILENO) < 0)
                        _exit(126);
                int null_fd = open("/dev/null", O_RDONLY);
                if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0)
                        _exit(126);
                execvp(argv[0], argv);
                _exit(127);
        }
        /* With -daemonize the first process exits once the machine is set up (or failed). */
        r = wait_for_exit(child);
        if (r < 0)
                return r;
        if (r == 126)
                return -EPERM;
        if (r == 127)
                return -ENOENT;
        if (r != 0)
                return -EIO;
        r = read_one_line_file(s->pidfile, &pid_s);
        if (r < 0)
                return r;
        unsigned p;
        r = parse_unsigned(strstrip(pid_s), &p);
        if (r < 0 || p == 0)
                return -EBADMSG;
        *ret_pid = (pid_t) p;
        return 0;
}

static int qmp_read_message(FILE *f, struct json_object **ret) {
        _cleanup_free_ char *line = NULL;
        size_t n = 0;

        if (getline(&line, &n, f) < 0)
                return feof(f) ? -ECONNRESET : -errno;
        *ret = json_tokener_parse(line);
        return *ret ? 0 : -EBADMSG;
}

/* Reads messages until a reply (not an asynchronous event) arrives. */
static int qmp_read_reply(FILE *f, struct json_object **ret) {
        for (;;) {
                struct json_object *o = NULL, *v;
                int r = qmp_read_message(f, &o);
                if (r < 0)
                        return r;
                if (json_object_object_get_ex(o, "return", &v) || json_object_object_get_ex(o, "error", &v)) {
                        *ret = o;
                        return 0;
                }
                json_object_put(o);
        }
}

static int qmp_execute(FILE *f, const char *command, char **ret_reply) {
        struct json_object *o = NULL, *v;
        int r;

        if (fprintf(f, "{\"execute\":\"%s\"}\n", command) < 0 || fflush(f) != 0)
                return -EIO;
        r = qmp_read_reply(f, &o);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(o, "return", &v)) {
                json_object_put(o);
                return -EREMOTEIO;
        }
        if (ret_reply) {
                *ret_reply = strdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
                if (!*ret_reply) {
                        json_object_put(o);
                        return -ENOMEM;
                }
        }
        json_object_put(o);
        return 0;
}

int l1vm_qmp(const char *socket_path, const char *command, char **ret_reply) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct json_object *greeting = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        int fd, r;

        if (strlen(socket_path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, socket_path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        struct timeval tv = { .tv_sec = 30 };
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        f = fdopen(fd, "r+");
        if (!f) {
                close(fd);
                return -errno;
        }
        r = qmp_read_message(f, &greeting);
        if (r < 0)
                return r;
        json_object_put(greeting);
        r = qmp_execute(f, "qmp_capabilities", NULL);
        if (r < 0)
                return r;
        return qmp_execute(f, command, ret_reply);
}

bool l1vm_pid_alive(pid_t pid) {
        _cleanup_free_ char *path = NULL, *stat = NULL;
        const char *p;

        if (pid <= 0 || asprintf_safe(&path, "/proc/%d/stat", (int) pid) < 0)
                return false;
        if (read_one_line_file(path, &stat) < 0)
                return false;
        /* A zombie has exited: its parent (not us when daemonized) has yet to reap it. */
        p = strrchr(stat, ')');
        return p && !startswith(p, ") Z");
}

static bool wait_gone(pid_t pid, uint64_t timeout_usec) {
        uint64_t deadline = now_usec() + timeout_usec;

        while (l1vm_pid_alive(pid)) {
                if (now_usec() > deadline)
                        return false;
                (void) poll(NULL, 0, 100);
        }
        return true;
}

int l1vm_stop(const char *qmp_socket, pid_t pid, uint64_t timeout_usec) {
        if (!l1vm_pid_alive(pid))
                return 0;
        /* A clean shutdown first: systemd in the L1 stops its units (and mhtest reverts). */
        if (l1vm_qmp(qmp_socket, "system_powerdown", NULL) >= 0 && wait_gone(pid, timeout_usec))
                return 0;
        if (l1vm_qmp(qmp_socket, "quit", NULL) >= 0 && wait_gone(pid, 10 * 1000000ULL))
                return 0;
        if (kill(pid, SIGKILL) < 0 && errno != ESRCH)
                return -errno;
        return wait_gone(pid, 10 * 1000000ULL) ? 0 : -ETIMEDOUT;
}

int l1vm_wait_console(const char *console_log, const char *marker, pid_t pid, uint64_t timeout_usec) {
        uint64_t deadline = now_usec() + timeout_usec;

        for (;;) {
                _cleanup_free_ char *text = NULL;

                if (read_full_file(console_log, &text, NULL) >= 0 && strstr(text, marker))
                        return 0;
                if (pid > 0 && !l1vm_pid_alive(pid))
                        return -ESRCH;
                if (now_usec() >= deadline)
                        return -ETIMEDOUT;
                /* The console log is a plain file QEMU appends to: nothing to wait on but time. */
                (void) usleep(200 * 1000);
        }
}
