/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The container backend of "mhtest lab": each host is a systemd-nspawn container booting the
 * machine's own OS from an overlay (lab-root.c), in its own network namespace attached to the lab
 * bridge (lab-network.c) and its own cgroup subtree (lab-process.c). Nothing is created in the
 * machine's own network namespace, and "down" removes everything "up" made, also when "up"
 * fails half way. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fileio.h"
#include "lab-internal.h"
#include "log.h"
#include "message-ids.h"
#include "netns-util.h"
#include "parse-util.h"
#include "path-util.h"
#include "process-util.h"
#include "string-util.h"
#include "strv.h"
#include "time-util.h"

#define LAB_READY_TIMEOUT_SEC 180
#define LAB_DOWN_TIMEOUT_SEC 60
/* Marker (in LAB_RUN_DIR) for the machine-wide directory the first lab made and the last one
 * removes. */
#define LAB_MARK_NSPAWN_DIR LAB_RUN_DIR "/.made-run-systemd-nspawn"
#define NSPAWN_COMM "systemd-nspawn"

/* ---- processes of a host ---- */

/* True while systemd-nspawn runs (a zombie has exited). */
bool lab_container_running(const LabHost *h) {
        return lab_host_process_running(h, NSPAWN_COMM);
}

/* The container's PID 1: the child of nspawn that runs systemd. */
pid_t lab_container_leader(const LabHost *h) {
        _cleanup_free_ char *p = NULL, *children = NULL;

        if (!lab_container_running(h))
                return 0;
        if (asprintf_safe(&p, "/proc/%d/task/%d/children", (int) h->pid, (int) h->pid) < 0)
                return 0;
        if (read_one_line_file(p, &children) < 0)
                return 0;
        for (char *w = strtok(children, " "); w; w = strtok(NULL, " ")) {
                unsigned v;
                if (parse_unsigned(w, &v) >= 0 && v > 0 && lab_pid_is((pid_t) v, "systemd"))
                        return (pid_t) v;
        }
        return 0;
}

int lab_container_nsenter_argv(pid_t leader, char * const *cmd, char ***ret) {
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *t = NULL, *term = NULL;

        if (asprintf_safe(&t, "%d", (int) leader) < 0)
                return -ENOMEM;
        term = strjoin("TERM=", getenv("TERM") ?: "dumb");
        argv = strv_new("nsenter", "-t", t, "-m", "-u", "-i", "-n", "-p", "-C", "-r", "-w", "--",
                        "/usr/bin/env", "-i",
                        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                        "HOME=/root", "USER=root", "LOGNAME=root", "LANG=C.UTF-8", term ?: "TERM=dumb");
        if (!argv || strv_extend_strv(&argv, cmd) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(argv);
        return 0;
}

static int host_run(pid_t leader, char **ret_out, const char *first, ...) _sentinel_;
static int host_run(pid_t leader, char **ret_out, const char *first, ...) {
        _cleanup_strv_free_ char **cmd = NULL, **argv = NULL;
        _cleanup_close_ int null = lab_devnull_fd();
        va_list ap;
        pid_t pid;
        int r;

        va_start(ap, first);
        cmd = strv_new_ap(first, ap);
        va_end(ap);
        if (!cmd)
                return -ENOMEM;
        r = lab_container_nsenter_argv(leader, cmd, &argv);
        if (r < 0)
                return r;
        if (ret_out) {
                /* spawn_capture lets stderr through: keep readiness polling quiet */
                _cleanup_close_ int saved = dup(STDERR_FILENO);
                if (saved < 0)
                        return -errno;
                (void) dup2(null, STDERR_FILENO);
                r = spawn_capture(argv, ret_out);
                (void) dup2(saved, STDERR_FILENO);
                return r;
        }
        r = spawn_async(argv, null, null, null, &pid);
        if (r < 0)
                return r;
        return wait_for_exit(pid);
}

/* "systemctl is-system-running" inside the host. (Its private bus socket, reached through
 * /proc/PID/root, refuses a peer from outside its PID namespace.) */
int lab_container_system_state(pid_t leader, char **ret) {
        _cleanup_free_ char *out = NULL;
        int r;

        r = host_run(leader, &out, "systemctl", "is-system-running", NULL);
        if (r < 0)
                return r;
        if (!out)
                return -ENODATA;
        strstrip(out);
        *ret = TAKE_PTR(out);
        return 0;
}

/* ---- boot ---- */

static int host_boot(Lab *l, LabHost *h) {
        _cleanup_strv_free_ char **argv = NULL, **binds = NULL, **cgroups = NULL;
        _cleanup_free_ char *root = lab_path(l, h->name, "root"), *console = lab_path(l, h->name, "console.log");
        _cleanup_free_ char *netns = strjoin(NETNS_RUN_DIR "/", h->name), *hostsd = lab_path(l, "hosts.d", NULL);
        _cleanup_close_ int log_fd = -EBADF, null = -EBADF;
        int errpipe[2];
        pid_t pid;
        int r;

        if (!root || !console || !netns || !hostsd)
                return -ENOMEM;
        r = lab_host_fake_hugepages(l, h, root, &binds);
        if (r < 0)
                return log_error_errno(r, "Failed to prepare the hugepage counters of %s: %m", h->name);
        argv = strv_new("systemd-nspawn", "--quiet", "-D", root, "-M", h->name, "--register=no", "--keep-unit",
                        "--link-journal=no", "--capability=CAP_NET_ADMIN",
                        /* QEMU's post-copy destination needs userfaultfd(2) and munlockall(2),
                         * which nspawn's seccomp allowlist leaves out without CAP_IPC_LOCK
                         * ("Postcopy is not supported"; its log: "munlockall: Operation not
                         * permitted") */
                        "--system-call-filter=userfaultfd @memlock");
        if (!argv)
                return -ENOMEM;
        if (strv_consume(&argv, strjoin("--network-namespace-path=", netns)) < 0 ||
            strv_consume(&argv, strjoin("--bind=", l->images, ":" LAB_IMAGES_PATH)) < 0 ||
            strv_consume(&argv, strjoin("--bind-ro=", hostsd, ":" LAB_HOSTS_DIR)) < 0)
                return -ENOMEM;
        /* Device nodes a virtualization host wants, where the machine has them. */
        STRV_FOREACH(dev, STRV_MAKE("/dev/kvm", "/dev/net/tun", "/dev/vhost-net", "/dev/vhost-vsock"))
                if (access(*dev, F_OK) >= 0 && strv_consume(&argv, strjoin("--bind=", *dev)) < 0)
                        return -ENOMEM;
        if (strv_extend_strv(&argv, binds) < 0 || strv_extend(&argv, "--boot") < 0 ||
            strv_extend(&argv, "--console=pipe") < 0)
                return -ENOMEM;

        r = lab_cgroup_roots(&cgroups);
        if (r < 0)
                return r;
        STRV_FOREACH(c, cgroups) {
                _cleanup_free_ char *cg = lab_host_cgroup(*c, h);
                if (!cg)
                        return -ENOMEM;
                if (mkdir(cg, 0755) < 0 && errno != EEXIST)
                        return log_error_errno(-errno, "Failed to create cgroup %s: %m", cg);
        }
        log_fd = open(console, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);
        null = lab_devnull_fd();
        if (log_fd < 0 || null < 0)
                return -errno;

        /* A close-on-exec pipe tells when the child has become systemd-nspawn (EOF) or why it
         * could not (an errno), so nobody ever sees it half way. */
        if (pipe2(errpipe, O_CLOEXEC) < 0)
                return -errno;
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0) {
                r = -errno;
                close(errpipe[0]);
                close(errpipe[1]);
                return r;
        }
        if (pid == 0) {
                sigset_t ss;
                int e;

                close(errpipe[0]);
                if (lab_cgroup_enter(h) < 0) {
                        e = EPERM;
                        (void) !write(errpipe[1], &e, sizeof e);
                        _exit(126);
                }
                sigemptyset(&ss);
                sigprocmask(SIG_SETMASK, &ss, NULL);
                signal(SIGPIPE, SIG_DFL);
                /* /proc/sys and /sys stay read-only in the hosts: a writable /proc/sys would be the
                 * machine's. */
                unsetenv("SYSTEMD_NSPAWN_API_VFS_WRITABLE");
                unsetenv("NOTIFY_SOCKET");
                unsetenv("LISTEN_FDS");
                unsetenv("LISTEN_PID");
                if (setsid() < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(log_fd, STDOUT_FILENO) < 0 ||
                    dup2(log_fd, STDERR_FILENO) < 0) {
                        e = errno;
                        (void) !write(errpipe[1], &e, sizeof e);
                        _exit(126);
                }
                execvp(argv[0], argv);
                e = errno;
                (void) !write(errpipe[1], &e, sizeof e);
                _exit(127);
        }
        close(errpipe[1]);
        {
                int e = 0;
                ssize_t k;
                do
                        k = read(errpipe[0], &e, sizeof e);
                while (k < 0 && errno == EINTR);
                close(errpipe[0]);
                if (k == sizeof e) {
                        (void) wait_for_exit(pid);
                        return log_error_errno(-e, "Failed to start systemd-nspawn for %s: %m", h->name);
                }
        }
        h->pid = pid;
        /* It cannot be gone yet: nobody has waited for it. */
        r = lab_pid_start_time(pid, &h->pid_start);
        if (r < 0)
                return log_error_errno(r, "Failed to read the start time of systemd-nspawn (PID %d): %m", (int) pid);
        return lab_save(l);
}

static void host_console_tail(const Lab *l, const LabHost *h) {
        _cleanup_free_ char *p = lab_path(l, h->name, "console.log"), *s = NULL;
        size_t n = 0;
        const char *t;

        if (!p || read_full_file(p, &s, &n) < 0 || n == 0)
                return;
        t = n > 2000 ? s + n - 2000 : s;
        log_error("Last console output of %s (%s):\n%s", h->name, p, t);
}

/* ---- readiness ---- */

/* Cheapest checks first: the sshd probe is a connect() from this process, so the hosts boot
 * without a stream of nsenter/systemctl processes competing for the CPU; systemd's state and
 * libvirtd are asked once sshd answers (it starts late in the boot). */
typedef enum HostReady {
        HOST_BOOTING,    /* no PID 1 yet */
        HOST_SSHD,       /* systemd up, waiting for sshd on the lab address */
        HOST_SYSTEMD,    /* sshd answers, waiting for systemd to finish starting up */
        HOST_LIBVIRTD,   /* system running, waiting for libvirtd */
        HOST_READY,
} HostReady;

static const char *const host_ready_what[] = {
        [HOST_BOOTING] = "the container's systemd to start",
        [HOST_SSHD] = "sshd to answer on the lab address",
        [HOST_SYSTEMD] = "systemd to finish starting up",
        [HOST_LIBVIRTD] = "libvirtd to answer",
        [HOST_READY] = "nothing",
};

/* One step towards ready; returns the state reached, or negative if the host failed. */
static int host_poll_ready(const LabHost *h, HostReady state, const char *ctl_ns) {
        _cleanup_free_ char *out = NULL;
        pid_t leader;
        int r;

        if (!lab_container_running(h))
                return -ECHILD;
        leader = lab_container_leader(h);
        if (leader <= 0)
                return HOST_BOOTING;
        switch (state) {
        case HOST_BOOTING:
        case HOST_SSHD:
                return netns_tcp_probe(ctl_ns, h->address, 22, 1000) >= 0 ? HOST_SYSTEMD : HOST_SSHD;
        case HOST_SYSTEMD:
                r = lab_container_system_state(leader, &out);
                if (r < 0 || !out)
                        return HOST_SYSTEMD;
                if (streq(out, "running") || streq(out, "degraded"))
                        return HOST_LIBVIRTD;
                if (streq(out, "maintenance") || streq(out, "stopping") || streq(out, "offline"))
                        return -EHOSTDOWN;
                return HOST_SYSTEMD;
        case HOST_LIBVIRTD:
                r = host_run(leader, NULL, "virsh", "-q", "-c", "qemu:///system", "version", NULL);
                return r == 0 ? HOST_READY : HOST_LIBVIRTD;
        default:
                return HOST_READY;
        }
}

static int lab_wait_ready(const Lab *l) {
        _cleanup_free_ HostReady *states = calloc(l->n_hosts, sizeof(HostReady));
        _cleanup_free_ char *ctl = lab_ctl_ns(l);
        uint64_t deadline = now_usec() + LAB_READY_TIMEOUT_SEC * USEC_PER_SEC;

        if (!states || !ctl)
                return -ENOMEM;
        for (;;) {
                size_t ready = 0;

                for (size_t i = 0; i < l->n_hosts; i++) {
                        int r;

                        if (states[i] == HOST_READY) {
                                ready++;
                                continue;
                        }
                        r = host_poll_ready(&l->hosts[i], states[i], ctl);
                        if (r == -ECHILD) {
                                host_console_tail(l, &l->hosts[i]);
                                return log_error_errno(r, "Host %s: systemd-nspawn exited while waiting for %s.",
                                                       l->hosts[i].name, host_ready_what[states[i]]);
                        }
                        if (r < 0) {
                                host_console_tail(l, &l->hosts[i]);
                                return log_error_errno(r, "Host %s: systemd went down while booting.", l->hosts[i].name);
                        }
                        if ((HostReady) r != states[i])
                                log_debug("Host %s: %s done.", l->hosts[i].name, host_ready_what[states[i]]);
                        states[i] = r;
                        if (states[i] == HOST_READY)
                                ready++;
                }
                if (ready == l->n_hosts)
                        return 0;
                if (now_usec() > deadline) {
                        for (size_t i = 0; i < l->n_hosts; i++)
                                if (states[i] != HOST_READY) {
                                        host_console_tail(l, &l->hosts[i]);
                                        return log_error_errno(-ETIMEDOUT, "Host %s not ready after %d s: waiting for %s.",
                                                               l->hosts[i].name, LAB_READY_TIMEOUT_SEC,
                                                               host_ready_what[states[i]]);
                                }
                }
                sleep_usec(100 * USEC_PER_MSEC);
        }
}

/* ---- down: everything up made, in reverse, also for a half-made lab ---- */

static int unmount_below(const char *dir) {
        _cleanup_strv_free_ char **mounts = NULL;
        _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
        _cleanup_free_ char *prefix = strjoin(dir, "/"), *line = NULL;
        size_t n = 0;
        int r = 0;

        if (!f || !prefix)
                return -errno;
        while (getline(&line, &n, f) > 0) {
                char mp[PATH_MAX];
                if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && startswith(mp, prefix))
                        if (strv_extend(&mounts, mp) < 0)
                                return -ENOMEM;
        }
        /* deepest (last mounted) first */
        for (size_t i = strv_length(mounts); i > 0; i--) {
                if (umount2(mounts[i - 1], 0) >= 0)
                        continue;
                if (umount2(mounts[i - 1], MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT) {
                        log_warning_errno(-errno, "Failed to unmount %s: %m", mounts[i - 1]);
                        r = -errno;
                }
        }
        return r;
}

static void host_stop(const LabHost *h) {
        pid_t leader = lab_container_leader(h);

        /* SIGRTMIN+4: systemd's "poweroff" */
        if (leader > 0)
                (void) kill(leader, SIGRTMIN + 4);
}

/* With poweroff set, ask again every 2 s: a systemd still starting up has no signal handlers
 * yet, and a namespace's PID 1 ignores what it does not handle. */
static bool host_wait_gone(const LabHost *h, unsigned timeout_ms, bool poweroff) {
        uint64_t start = now_usec(), last = start, deadline = start + (uint64_t) timeout_ms * USEC_PER_MSEC;

        while (lab_container_running(h)) {
                uint64_t n = now_usec();
                if (n > deadline)
                        return false;
                if (poweroff && n - last > 2 * USEC_PER_SEC) {
                        host_stop(h);
                        last = n;
                }
                sleep_usec(50 * USEC_PER_MSEC);
        }
        return true;
}

int lab_container_down(Lab *l) {
        _cleanup_strv_free_ char **cgroups = NULL;
        int r = 0;

        if (lab_cgroup_roots(&cgroups) < 0)
                return -ENOMEM;

        for (size_t i = 0; i < l->n_hosts; i++)
                host_stop(&l->hosts[i]);
        for (size_t i = 0; i < l->n_hosts; i++) {
                LabHost *h = &l->hosts[i];

                if (host_wait_gone(h, LAB_DOWN_TIMEOUT_SEC * 1000, true))
                        continue;
                log_warning("Host %s did not power off in %d s, terminating systemd-nspawn (PID %d).", h->name,
                            LAB_DOWN_TIMEOUT_SEC, (int) h->pid);
                (void) kill(h->pid, SIGTERM);
                if (host_wait_gone(h, 10000, false))
                        continue;
                (void) kill(h->pid, SIGKILL);
                STRV_FOREACH(c, cgroups) {
                        _cleanup_free_ char *cg = lab_host_cgroup(*c, h);
                        if (cg)
                                lab_cgroup_kill(cg, SIGKILL);
                }
                (void) host_wait_gone(h, 5000, false);
        }
        /* Anything a host left in its cgroup (nothing, after a clean poweroff). */
        for (size_t i = 0; i < l->n_hosts; i++)
                STRV_FOREACH(c, cgroups) {
                        _cleanup_free_ char *cg = lab_host_cgroup(*c, &l->hosts[i]);
                        if (cg)
                                lab_cgroup_kill(cg, SIGKILL);
                }
        /* Down only when every process of the hosts has left /proc: systemd-nspawn has exited
         * above, but "lab up" exited long ago, so PID 1 reaps it, when it gets to it. */
        if (lab_wait_processes_gone(l, NSPAWN_COMM, LAB_REAP_TIMEOUT_USEC) < 0)
                r = -EBUSY;

        if (unmount_below(l->dir) < 0)
                r = -EBUSY;
        for (size_t i = 0; i < l->n_hosts; i++) {
                const LabHost *h = &l->hosts[i];
                _cleanup_free_ char *propagate = strjoin("/run/systemd/nspawn/propagate/", h->name);

                STRV_FOREACH(c, cgroups) {
                        _cleanup_free_ char *cg = lab_host_cgroup(*c, h);
                        int k = cg ? lab_cgroup_remove(cg) : -ENOMEM;
                        if (k < 0) {
                                log_warning_errno(k, "Failed to remove cgroup %s: %m", strna(cg));
                                r = -EBUSY;
                        }
                }
                if (propagate)
                        (void) rm_rf(propagate);
        }
        if (lab_remove_hosts_d(l) < 0 || lab_network_down(l) < 0)
                r = -EBUSY;

        if (l->created_images && l->images)
                (void) rm_rf(l->images);
        /* Machine-wide things the first container lab made, removed by the last one. */
        if (access(LAB_MARK_NSPAWN_DIR, F_OK) >= 0) {
                bool other = false;
                _cleanup_strv_free_ char **labs = NULL;
                if (lab_list(&labs) >= 0)
                        STRV_FOREACH(n, labs) {
                                _cleanup_(lab_freep) Lab *o = NULL;
                                if (streq(*n, l->name))
                                        continue;
                                if (lab_load(*n, &o) < 0 || o->backend == LAB_BACKEND_CONTAINER)
                                        other = true;
                        }
                if (!other) {
                        (void) rmdir("/run/systemd/nspawn/propagate");
                        (void) rmdir("/run/systemd/nspawn/locks");
                        (void) rmdir("/run/systemd/nspawn");
                        if (access("/run/systemd/nspawn", F_OK) < 0)
                                (void) unlink(LAB_MARK_NSPAWN_DIR);
                }
        }
        if (lab_remove_dir(l) < 0)
                r = -EBUSY;
        return r;
}

/* ---- up ---- */

int lab_container_up(const LabOptions *o) {
        _cleanup_(lab_freep) Lab *l = NULL;
        _cleanup_free_ char *ctl = NULL, *ctl_addr = NULL, *sw = NULL, *install = NULL;
        uint64_t t0 = now_usec();
        uint32_t subnet;
        int r;

        STRV_FOREACH(prog, STRV_MAKE("systemd-nspawn", "nsenter", "ssh-keygen", "/usr/sbin/sshd", "/usr/sbin/libvirtd", "virsh")) {
                _cleanup_free_ char *p = NULL;
                if ((*prog)[0] == '/' ? access(*prog, X_OK) < 0 : find_executable(*prog, &p) < 0)
                        return log_error_errno(-ENOENT, "%s is not installed; run tools/install-deps.sh "
                                               "(packages systemd-container, openssh-server, libvirt-daemon-system).", *prog);
        }
        r = lab_pick_subnet(o->name, &subnet);
        if (r < 0)
                return log_error_errno(r, "No free /24 in 10.77.0.0/16 for the lab network.");
        r = lab_new(o, subnet, &l);
        if (r < 0)
                return r;
        if (access(l->dir, F_OK) >= 0)
                return log_error_errno(-EEXIST, "Lab \"%s\" exists already (%s): \"mhtest lab down %s\" first.", l->name,
                                       l->dir, l->name);
        for (size_t i = 0; i < l->n_hosts; i++)
                if (netns_exists(l->hosts[i].name))
                        return log_error_errno(-EEXIST, "Network namespace %s exists already; not touching it.",
                                               l->hosts[i].name);
        sw = lab_sw_ns(l);
        ctl = lab_ctl_ns(l);
        ctl_addr = lab_ip4_format(l->subnet + 1);
        if (!sw || !ctl || !ctl_addr)
                return log_oom();
        if (netns_exists(sw) || netns_exists(ctl))
                return log_error_errno(-EEXIST, "Network namespace %s or %s exists already; not touching it.", sw, ctl);
        if (o->images)
                l->images = strdup(o->images);
        else {
                l->images = lab_path(l, "images", NULL);
                l->created_images = true;
        }
        if (!l->images)
                return log_oom();

        /* From here on everything made is recorded, and removed again if "up" fails. */
        if (access("/run/systemd/nspawn", F_OK) < 0) {
                r = mkdir_p(LAB_RUN_DIR, 0755);
                if (r >= 0)
                        r = write_file_atomic(LAB_MARK_NSPAWN_DIR, "", 0644);
                if (r < 0) {
                        log_error_errno(r, "Failed to create %s: %m", LAB_RUN_DIR);
                        goto fail;
                }
        }
        r = lab_create(l, 0755);
        if (r < 0)
                goto fail;
        if (l->created_images) {
                r = mkdir_p(l->images, 0755);
                if (r < 0)
                        goto fail;
        } else if (!dir_exists(l->images)) {
                r = log_error_errno(-ENOTDIR, "--images=%s: not a directory.", l->images);
                goto fail;
        }

        if (l->from) {
                install = lab_path(l, "install", NULL);
                if (!install) {
                        r = log_oom();
                        goto fail;
                }
                r = lab_install_stage(l->from, install);
                if (r < 0)
                        goto fail;
        }
        r = lab_write_ssh(l);
        if (r < 0)
                goto fail;
        r = lab_write_hosts_d(l);
        if (r < 0)
                goto fail;
        r = lab_network_up(l, true);
        if (r < 0)
                goto fail;

        /* roots, then boot all hosts, then wait for all of them */
        for (size_t i = 0; i < l->n_hosts; i++) {
                _cleanup_free_ char *root = lab_path(l, l->hosts[i].name, "root");
                if (!root) {
                        r = log_oom();
                        goto fail;
                }
                r = lab_host_mount_root(l, &l->hosts[i]);
                if (r < 0)
                        goto fail;
                r = lab_host_prepare_root(l, &l->hosts[i], root);
                if (r < 0) {
                        log_error_errno(r, "Failed to prepare the root of %s: %m", l->hosts[i].name);
                        goto fail;
                }
        }
        for (size_t i = 0; i < l->n_hosts; i++) {
                r = host_boot(l, &l->hosts[i]);
                if (r < 0) {
                        log_error_errno(r, "Failed to boot %s: %m", l->hosts[i].name);
                        goto fail;
                }
        }
        r = lab_wait_ready(l);
        if (r < 0)
                goto fail;

        {
                _cleanup_free_ char *secs = NULL, *f1 = NULL, *f2 = NULL;
                if (asprintf_safe(&secs, "%.1f", (double) (now_usec() - t0) / USEC_PER_SEC) < 0 ||
                    asprintf_safe(&f1, "MHTEST_LAB=%s", l->name) < 0 || asprintf_safe(&f2, "MHTEST_LAB_HOSTS=%zu", l->n_hosts) < 0)
                        return log_oom();
                log_event(LOG_INFO, 0, MHTEST_MESSAGE_LAB_UP, STRV_MAKE(f1, f2),
                          "Lab %s is up: %zu container host(s) on %s/24, ready in %s s.", l->name, l->n_hosts,
                          ctl_addr, secs);
        }
        if (!o->quiet) {
                printf("Lab %s is up (%zu hosts, network %s/24, controller %s in netns %s):\n", l->name, l->n_hosts,
                       ctl_addr, ctl_addr, ctl);
                for (size_t i = 0; i < l->n_hosts; i++)
                        printf("  %-16s %s\n", l->hosts[i].name, l->hosts[i].address);
                printf("Run a command on a host:   mhtest lab exec %s -- systemctl status\n"
                       "Run the coordinator:       mhtest lab exec %s -- mhtest-coord run JOB\n"
                       "SSH from the controller:   mhtest lab exec %s -- ssh %s\n"
                       "Tear it down:              mhtest lab down %s\n",
                       l->hosts[0].name, ctl, ctl, l->hosts[0].name, l->name);
        }
        return 0;

fail:
        log_error("Lab %s did not come up; removing what was made.", l->name);
        (void) lab_container_down(l);
        return r < 0 ? r : -EIO;
}
