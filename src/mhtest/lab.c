/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* "mhtest lab": several hosts on one machine. The container backend: each host is a
 * systemd-nspawn container booting the machine's own OS from an overlay (tmpfs upper over /),
 * in its own network namespace, attached by a veth to a bridge in a switch namespace; a
 * controller namespace on the same bridge is where mhtest-coord runs. Nothing is created in the
 * machine's own network namespace, and "down" removes everything "up" made, also when "up"
 * fails half way.
 *
 * For the hugepages step (and anyone reading hugepage counters inside a lab host): a lab host
 * must not change the machine's hugepage pool, so these paths are plain files (initially "0")
 * bound over the kernel's inside every container host, per host:
 *   /sys/kernel/mm/hugepages/hugepages-*kB/{nr,free,resv,surplus,nr_overcommit}_hugepages
 *                                          (and nr_hugepages_mempolicy)   (whole directory bound)
 *   /sys/devices/system/node/nodeN/hugepages/hugepages-*kB/{nr,free,surplus}_hugepages
 *   /proc/sys/vm/{nr_hugepages,nr_overcommit_hugepages,nr_hugepages_mempolicy}
 *                          (files in the host's own /var/lib/mhtest-lab/sysctl/)
 * Writing nr_hugepages there changes only the file: free_hugepages does not follow, and
 * /proc/meminfo and a hugetlbfs mount still show the machine's real (usually empty) pool. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <glob.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include "fileio.h"
#include "lab.h"
#include "log.h"
#include "message-ids.h"
#include "mhtest.h"
#include "netns-util.h"
#include "parse-util.h"
#include "path-util.h"
#include "process-util.h"
#include "state.h"
#include "string-util.h"
#include "strv.h"

#define LAB_RUN_DIR "/run/mhtest/lab"
#define LAB_HOSTS_DIR "/run/mhtest/hosts.d"
#define LAB_IMAGES_PATH "/var/lib/mhtest/images"
#define LAB_DEFAULT_NAME "lab"
#define LAB_FAKE_SYSCTL_DIR "/var/lib/mhtest-lab/sysctl"
#define LAB_DEFAULT_HOSTS 2U
#define LAB_MAX_HOSTS 32U
#define LAB_READY_TIMEOUT_SEC 180
#define LAB_DOWN_TIMEOUT_SEC 60
/* Markers (in LAB_RUN_DIR) for machine-wide things the first lab made and the last one removes. */
#define LAB_MARK_NSPAWN_DIR LAB_RUN_DIR "/.made-run-systemd-nspawn"

#ifndef STRV_MAKE
#define STRV_MAKE(...) ((char **) ((const char *[]) { __VA_ARGS__, NULL }))
#endif

#pragma weak lab_vm_up
#pragma weak lab_vm_down
#pragma weak lab_vm_host_state

static const char *const lab_backend_table[_LAB_BACKEND_MAX] = {
        [LAB_BACKEND_CONTAINER] = "container",
        [LAB_BACKEND_VM] = "vm",
};
DECLARE_STRING_TABLE_LOOKUP(lab_backend, LabBackend);
DEFINE_STRING_TABLE_LOOKUP(lab_backend, LabBackend);

/* Enabled on a typical build machine, wrong in a test host: they would touch machine-global state
 * (udev, sysctl, modules, binfmt), run the machine's workloads (postgresql, dpdk, guests), or
 * just burn the CPU a lab shares (timers). */
static const char *const masked_units[] = {
        "postgresql.service", "dpdk.service", "libvirt-guests.service", "e2scrub_reap.service",
        "systemd-sysctl.service", "procps.service",
        "systemd-udevd.service", "udev.service", "systemd-udevd-control.socket",
        "systemd-udevd-kernel.socket", "systemd-udev-trigger.service", "systemd-udev-settle.service",
        "proc-sys-fs-binfmt_misc.automount", "proc-sys-fs-binfmt_misc.mount", "systemd-binfmt.service",
        "systemd-modules-load.service", "kmod-static-nodes.service",
        "systemd-timesyncd.service", "systemd-pstore.service", "getty@tty1.service", "console-getty.service",
        "apt-daily.timer", "apt-daily-upgrade.timer", "dpkg-db-backup.timer", "e2scrub_all.timer",
        "fstrim.timer", "logrotate.timer", "man-db.timer", "systemd-tmpfiles-clean.timer",
        "cron.service", "rsyslog.service", "networking.service", "systemd-networkd.service",
        "NetworkManager.service", "ifupdown-pre.service", "systemd-networkd-wait-online.service",
};

typedef struct LabHost {
        char *name;    /* NAME-hK: host name, machine name, network namespace */
        char *address; /* on the lab network */
        pid_t nspawn;  /* 0: not started */
} LabHost;

typedef struct Lab {
        char *name;
        char *dir;
        LabBackend backend;
        uint32_t subnet; /* host byte order, a /24 */
        char *images;
        char *from;
        bool created_images;
        bool made_run_dir, made_hosts_dir; /* /run/mhtest, /run/mhtest/hosts.d did not exist before */
        LabHost *hosts;
        size_t n_hosts;
} Lab;

static void lab_free(Lab *l) {
        if (!l)
                return;
        for (size_t i = 0; i < l->n_hosts; i++) {
                free(l->hosts[i].name);
                free(l->hosts[i].address);
        }
        free(l->hosts);
        free(l->name);
        free(l->dir);
        free(l->images);
        free(l->from);
        free(l);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(Lab *, lab_free);

static char *ip4_format(uint32_t a) {
        char *buf = malloc(16);

        if (buf)
                snprintf(buf, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
        return buf;
}

static char *lab_sw_ns(const Lab *l) {
        return strjoin(l->name, "-sw");
}

static char *lab_ctl_ns(const Lab *l) {
        return strjoin(l->name, "-ctl");
}

static char *lab_path(const Lab *l, const char *a, const char *b) {
        return strjoin(l->dir, "/", a, b ? "/" : "", strempty(b));
}

static bool lab_name_valid(const char *s) {
        if (isempty(s) || strlen(s) > 24 || !(s[0] >= 'a' && s[0] <= 'z'))
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
                        return false;
        return true;
}

/* ---- state: /run/mhtest/lab/NAME/lab.json ---- */

static int lab_save(const Lab *l) {
        _cleanup_json_ json_object *o = json_object_new_object();
        _cleanup_free_ char *p = strjoin(l->dir, "/lab.json"), *subnet = ip4_format(l->subnet), *ctl = ip4_format(l->subnet + 1);
        json_object *hosts = json_object_new_array();

        if (!o || !hosts || !p || !subnet || !ctl)
                return -ENOMEM;
        json_object_object_add(o, "name", json_object_new_string(l->name));
        json_object_object_add(o, "backend", json_object_new_string(lab_backend_to_string(l->backend)));
        json_object_object_add(o, "subnet", json_object_new_string(subnet));
        json_object_object_add(o, "prefix", json_object_new_int(24));
        json_object_object_add(o, "controller", json_object_new_string(ctl));
        json_object_object_add(o, "images", json_object_new_string(strempty(l->images)));
        json_object_object_add(o, "created_images", json_object_new_boolean(l->created_images));
        json_object_object_add(o, "made_run_dir", json_object_new_boolean(l->made_run_dir));
        json_object_object_add(o, "made_hosts_dir", json_object_new_boolean(l->made_hosts_dir));
        if (l->from)
                json_object_object_add(o, "from", json_object_new_string(l->from));
        for (size_t i = 0; i < l->n_hosts; i++) {
                json_object *h = json_object_new_object();
                json_object_object_add(h, "name", json_object_new_string(l->hosts[i].name));
                json_object_object_add(h, "address", json_object_new_string(l->hosts[i].address));
                json_object_object_add(h, "pid", json_object_new_int(l->hosts[i].nspawn));
                json_object_array_add(hosts, h);
        }
        json_object_object_add(o, "hosts", hosts);
        return write_file_atomic(p, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE),
                                 0644);
}

static const char *json_str(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static int lab_load(const char *name, Lab **ret) {
        _cleanup_(lab_freep) Lab *l = calloc(1, sizeof(Lab));
        _cleanup_free_ char *p = NULL;
        json_object *o, *hosts, *v;
        uint32_t a, b, c, d;

        if (!l)
                return -ENOMEM;
        l->name = strdup(name);
        l->dir = strjoin(LAB_RUN_DIR "/", name);
        p = strjoin(LAB_RUN_DIR "/", name, "/lab.json");
        if (!l->name || !l->dir || !p)
                return -ENOMEM;
        o = json_object_from_file(p);
        if (!o)
                return access(p, F_OK) < 0 ? -ENOENT : -EBADMSG;
        _cleanup_json_ json_object *owner = o;
        l->backend = lab_backend_from_string(json_str(o, "backend"));
        if (l->backend < 0)
                l->backend = LAB_BACKEND_CONTAINER;
        if (!json_str(o, "subnet") || sscanf(json_str(o, "subnet"), "%u.%u.%u.%u", &a, &b, &c, &d) != 4)
                return -EBADMSG;
        l->subnet = a << 24 | b << 16 | c << 8 | d;
        if (!isempty(json_str(o, "images")))
                l->images = strdup(json_str(o, "images"));
        if (json_str(o, "from"))
                l->from = strdup(json_str(o, "from"));
        l->created_images = json_object_object_get_ex(o, "created_images", &v) && json_object_get_boolean(v);
        l->made_run_dir = json_object_object_get_ex(o, "made_run_dir", &v) && json_object_get_boolean(v);
        l->made_hosts_dir = json_object_object_get_ex(o, "made_hosts_dir", &v) && json_object_get_boolean(v);
        if (json_object_object_get_ex(o, "hosts", &hosts)) {
                size_t n = json_object_array_length(hosts);
                l->hosts = calloc(n ?: 1, sizeof(LabHost));
                if (!l->hosts)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++) {
                        json_object *h = json_object_array_get_idx(hosts, i);
                        LabHost *lh = &l->hosts[l->n_hosts++];
                        lh->name = strdup(strempty(json_str(h, "name")));
                        lh->address = strdup(strempty(json_str(h, "address")));
                        if (json_object_object_get_ex(h, "pid", &v))
                                lh->nspawn = json_object_get_int(v);
                        if (!lh->name || !lh->address)
                                return -ENOMEM;
                }
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static int lab_list(char ***ret) {
        _cleanup_closedir_ DIR *d = opendir(LAB_RUN_DIR);
        _cleanup_strv_free_ char **names = NULL;
        struct dirent *de;

        if (!d) {
                if (errno != ENOENT)
                        return -errno;
        } else
                while ((de = readdir(d))) {
                        if (de->d_name[0] == '.' || !lab_name_valid(de->d_name))
                                continue;
                        if (strv_extend(&names, de->d_name) < 0)
                                return -ENOMEM;
                }
        strv_sort(names);
        *ret = TAKE_PTR(names);
        return 0;
}

/* ---- processes ---- */

static int devnull_fd(void) {
        return open("/dev/null", O_RDWR | O_CLOEXEC);
}

/* Run quietly; on failure show what the program said. */
static int run_quiet(char * const *argv) {
        _cleanup_close_ int null = devnull_fd();
        _cleanup_free_ char *out = NULL, *cmd = strv_join(argv, " ");
        int pipefd[2], r;
        pid_t pid;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        r = spawn_async(argv, null, pipefd[1], pipefd[1], &pid);
        close(pipefd[1]);
        if (r < 0) {
                close(pipefd[0]);
                return log_error_errno(r, "Failed to run %s: %m", argv[0]);
        }
        {
                _cleanup_fclose_ FILE *f = fdopen(pipefd[0], "re");
                size_t n = 0;
                if (f)
                        (void) getdelim(&out, &n, '\0', f);
                else
                        close(pipefd[0]);
        }
        r = wait_for_exit(pid);
        if (r != 0) {
                log_error("\"%s\" failed (exit status %d):\n%s", strna(cmd), r, strempty(out));
                return -EIO;
        }
        return 0;
}

static bool pid_is(pid_t pid, const char *comm) {
        _cleanup_free_ char *p = NULL, *c = NULL;

        if (pid <= 0 || asprintf_safe(&p, "/proc/%d/comm", (int) pid) < 0)
                return false;
        if (read_one_line_file(p, &c) < 0)
                return false;
        return !comm || streq(c, comm);
}

/* True while the process runs (reaps it if it is our child and has exited). */
static bool nspawn_running(pid_t pid) {
        _cleanup_free_ char *p = NULL, *stat = NULL;
        char *e;

        if (pid <= 0)
                return false;
        (void) waitpid(pid, NULL, WNOHANG);
        if (!pid_is(pid, "systemd-nspawn"))
                return false;
        if (asprintf_safe(&p, "/proc/%d/stat", (int) pid) < 0 || read_one_line_file(p, &stat) < 0)
                return false;
        e = strrchr(stat, ')');
        return e && e[1] == ' ' && e[2] != 'Z';
}

/* The container's PID 1: the child of nspawn that runs systemd. */
static pid_t host_leader(const LabHost *h) {
        _cleanup_free_ char *p = NULL, *children = NULL;

        if (!nspawn_running(h->nspawn))
                return 0;
        if (asprintf_safe(&p, "/proc/%d/task/%d/children", (int) h->nspawn, (int) h->nspawn) < 0)
                return 0;
        if (read_one_line_file(p, &children) < 0)
                return 0;
        for (char *w = strtok(children, " "); w; w = strtok(NULL, " ")) {
                unsigned v;
                if (parse_unsigned(w, &v) >= 0 && v > 0 && pid_is((pid_t) v, "systemd"))
                        return (pid_t) v;
        }
        return 0;
}

/* argv prefix entering every namespace of the host, with its root and a clean environment. */
static int host_nsenter_argv(pid_t leader, char * const *cmd, char ***ret) {
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
        _cleanup_close_ int null = devnull_fd();
        va_list ap;
        pid_t pid;
        int r;

        va_start(ap, first);
        cmd = strv_new_ap(first, ap);
        va_end(ap);
        if (!cmd)
                return -ENOMEM;
        r = host_nsenter_argv(leader, cmd, &argv);
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

/* ---- cgroups: each host gets its own subtree, or every --keep-unit container would share the
 * invoking process's cgroup and one host's systemd could kill another's units. ---- */

static int cgroup_roots(char ***ret) {
        if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) >= 0)
                *ret = strv_new("/sys/fs/cgroup"); /* unified */
        else if (access("/sys/fs/cgroup/unified/cgroup.procs", F_OK) >= 0)
                *ret = strv_new("/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"); /* hybrid */
        else
                *ret = strv_new("/sys/fs/cgroup/systemd"); /* legacy */
        return *ret ? 0 : -ENOMEM;
}

static char *host_cgroup(const char *root, const LabHost *h) {
        return strjoin(root, "/mhtest-lab-", h->name);
}

static int rmdir_tree(const char *path) {
        _cleanup_closedir_ DIR *d = opendir(path);
        struct dirent *de;

        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d)))
                if (de->d_type == DT_DIR && !streq(de->d_name, ".") && !streq(de->d_name, "..")) {
                        _cleanup_free_ char *sub = strjoin(path, "/", de->d_name);
                        if (sub)
                                (void) rmdir_tree(sub);
                }
        return rmdir(path) < 0 && errno != ENOENT ? -errno : 0;
}

static void cgroup_kill_all(const char *path, int sig) {
        _cleanup_closedir_ DIR *d = opendir(path);
        _cleanup_free_ char *procs = strjoin(path, "/cgroup.procs"), *content = NULL;
        struct dirent *de;

        if (!d)
                return;
        if (procs && read_full_file(procs, &content, NULL) >= 0)
                for (char *w = strtok(content, "\n"); w; w = strtok(NULL, "\n")) {
                        unsigned v;
                        if (parse_unsigned(w, &v) >= 0 && v > 1)
                                (void) kill((pid_t) v, sig);
                }
        while ((de = readdir(d)))
                if (de->d_type == DT_DIR && !streq(de->d_name, ".") && !streq(de->d_name, "..")) {
                        _cleanup_free_ char *sub = strjoin(path, "/", de->d_name);
                        if (sub)
                                cgroup_kill_all(sub, sig);
                }
}

/* ---- addresses: a private /24 that no route of the machine and no other lab uses ---- */

static bool overlaps(uint32_t a, uint32_t amask, uint32_t b, uint32_t bmask) {
        uint32_t m = amask & bmask;
        return (a & m) == (b & m);
}

static int lab_pick_subnet(const char *self, uint32_t *ret) {
        _cleanup_strv_free_ char **labs = NULL;
        uint32_t used[256 + 64];
        size_t n_used = 0;
        uint32_t masks[256 + 64];
        _cleanup_fclose_ FILE *f = fopen("/proc/net/route", "re");
        char line[512];

        if (f) {
                (void) fgets(line, sizeof line, f); /* header */
                while (n_used < 256 && fgets(line, sizeof line, f)) {
                        unsigned dest, mask;
                        if (sscanf(line, "%*s %x %*x %*x %*d %*d %*d %x", &dest, &mask) != 2 || mask == 0)
                                continue; /* the default route overlaps everything: not a conflict */
                        used[n_used] = ntohl(dest);
                        masks[n_used++] = ntohl(mask);
                }
        }
        if (lab_list(&labs) >= 0)
                STRV_FOREACH(n, labs) {
                        _cleanup_(lab_freep) Lab *o = NULL;
                        if (streq(*n, self) || n_used >= ELEMENTSOF(used) || lab_load(*n, &o) < 0)
                                continue;
                        used[n_used] = o->subnet;
                        masks[n_used++] = 0xffffff00u;
                }
        /* 10.77.0.0/24 first (the recipe's), then upwards. */
        for (uint32_t third = 0; third < 256; third++) {
                uint32_t cand = (10u << 24) | (77u << 16) | (third << 8);
                bool clash = false;
                for (size_t i = 0; i < n_used && !clash; i++)
                        clash = overlaps(cand, 0xffffff00u, used[i], masks[i]);
                if (!clash) {
                        *ret = cand;
                        return 0;
                }
        }
        return -EADDRNOTAVAIL;
}

/* ---- root file system of a host ---- */

static int root_write(const char *root, const char *rel, const char *contents, mode_t mode) {
        _cleanup_free_ char *p = strjoin(root, rel);
        int r;

        if (!p)
                return -ENOMEM;
        r = mkdir_parents(p, 0755);
        if (r < 0)
                return r;
        (void) unlink(p);
        r = write_file_atomic(p, contents, mode);
        if (r >= 0 && chmod(p, mode) < 0)
                return -errno;
        return r;
}

/* Append to a file the lower layer provides (the merged view reads it, the write lands in the
 * upper layer). */
static int root_append(const char *root, const char *rel, const char *add) {
        _cleanup_free_ char *p = strjoin(root, rel), *old = NULL, *n = NULL;
        struct stat st;

        if (!p)
                return -ENOMEM;
        if (read_full_file(p, &old, NULL) < 0)
                old = strdup("");
        n = strjoin(strempty(old), old && *old && !endswith(old, "\n") ? "\n" : "", add);
        if (!n)
                return -ENOMEM;
        return root_write(root, rel, n, stat(p, &st) >= 0 ? st.st_mode & 07777 : 0644);
}

static int root_symlink(const char *root, const char *rel, const char *target) {
        _cleanup_free_ char *p = strjoin(root, rel);
        int r;

        if (!p)
                return -ENOMEM;
        r = mkdir_parents(p, 0755);
        if (r < 0)
                return r;
        if (unlink(p) < 0 && errno != ENOENT)
                return -errno;
        return RET_NERRNO(symlink(target, p));
}

static int random_hex(size_t bytes, char **ret) {
        _cleanup_close_ int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        unsigned char buf[32];
        char *s;

        if (fd < 0)
                return -errno;
        if (bytes > sizeof buf || read(fd, buf, bytes) != (ssize_t) bytes)
                return -EIO;
        s = malloc(bytes * 2 + 1);
        if (!s)
                return -ENOMEM;
        for (size_t i = 0; i < bytes; i++)
                sprintf(s + 2 * i, "%02x", buf[i]);
        *ret = s;
        return 0;
}

/* Plain files standing in for the kernel's hugepage counters (see the top of this file). */
static int fake_hugepages_dir(const char *real, const char *fake) {
        _cleanup_closedir_ DIR *d = opendir(real);
        struct dirent *de;
        int r;

        if (!d)
                return errno == ENOENT ? 0 : -errno;
        r = mkdir_p(fake, 0755);
        if (r < 0)
                return r;
        while ((de = readdir(d))) {
                static const char *const files[] = { "nr_hugepages", "free_hugepages", "resv_hugepages",
                                                     "surplus_hugepages", "nr_overcommit_hugepages",
                                                     "nr_hugepages_mempolicy" };
                if (!startswith(de->d_name, "hugepages-"))
                        continue;
                for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                        _cleanup_free_ char *rp = strjoin(real, "/", de->d_name, "/", files[i]);
                        _cleanup_free_ char *fp = strjoin(fake, "/", de->d_name, "/", files[i]);
                        if (!rp || !fp)
                                return -ENOMEM;
                        if (access(rp, F_OK) < 0)
                                continue;
                        r = mkdir_parents(fp, 0755);
                        if (r >= 0)
                                r = write_file_atomic(fp, "0\n", 0644);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int host_fake_hugepages(const Lab *l, const LabHost *h, const char *root, char ***binds) {
        _cleanup_free_ char *base = lab_path(l, h->name, "hugepages");
        _cleanup_free_ char *fake = NULL;
        glob_t g = {};
        int r;

        if (!base)
                return -ENOMEM;
        fake = strjoin(base, "/kernel-mm");
        if (!fake)
                return -ENOMEM;
        r = fake_hugepages_dir("/sys/kernel/mm/hugepages", fake);
        if (r < 0)
                return r;
        if (dir_exists(fake) && strv_consume(binds, strjoin("--bind=", fake, ":/sys/kernel/mm/hugepages")) < 0)
                return -ENOMEM;
        if (glob("/sys/devices/system/node/node[0-9]*/hugepages", 0, NULL, &g) == 0)
                for (size_t i = 0; i < g.gl_pathc; i++) {
                        _cleanup_free_ char *f = NULL;
                        const char *node = g.gl_pathv[i] + strlen("/sys/devices/system/node/");
                        f = strjoin(base, "/", node);
                        if (!f) {
                                globfree(&g);
                                return -ENOMEM;
                        }
                        for (char *c = f + strlen(base) + 1; *c; c++)
                                if (*c == '/')
                                        *c = '-';
                        r = fake_hugepages_dir(g.gl_pathv[i], f);
                        if (r >= 0 && dir_exists(f) &&
                            strv_consume(binds, strjoin("--bind=", f, ":", g.gl_pathv[i])) < 0)
                                r = -ENOMEM;
                        if (r < 0) {
                                globfree(&g);
                                return r;
                        }
                }
        globfree(&g);
        /* nspawn binds below /proc from inside the container (after procfs is mounted there), so
         * these sources live in the host's own root (its upper layer). */
        static const char *const sysctls[] = { "nr_hugepages", "nr_overcommit_hugepages", "nr_hugepages_mempolicy" };
        for (size_t i = 0; i < ELEMENTSOF(sysctls); i++) {
                _cleanup_free_ char *real = strjoin("/proc/sys/vm/", sysctls[i]);
                _cleanup_free_ char *inside = strjoin(LAB_FAKE_SYSCTL_DIR "/", sysctls[i]);
                _cleanup_free_ char *f = NULL;
                if (!real || !inside || !(f = strjoin(root, inside)))
                        return -ENOMEM;
                if (access(real, F_OK) < 0)
                        continue;
                r = mkdir_parents(f, 0755);
                if (r >= 0)
                        r = write_file_atomic(f, "0\n", 0644);
                if (r < 0)
                        return r;
                if (strv_consume(binds, strjoin("--bind=", inside, ":", real)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int host_hosts_lines(const Lab *l, char **ret) {
        _cleanup_free_ char *s = NULL, *ctl = ip4_format(l->subnet + 1);

        if (!ctl || asprintf_safe(&s, "# mhtest lab %s\n%s\t%s-ctl\n", l->name, ctl, l->name) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < l->n_hosts; i++) {
                char *n = NULL;
                if (asprintf_safe(&n, "%s%s\t%s\n", s, l->hosts[i].address, l->hosts[i].name) < 0)
                        return -ENOMEM;
                free(s);
                s = n;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

static int host_prepare_root(const Lab *l, const LabHost *h, const char *root) {
        _cleanup_free_ char *mid = NULL, *uuid = NULL, *hosts = NULL, *s = NULL, *key = NULL, *pub = NULL,
                            *keyfile = NULL, *install = NULL;
        int r;

        /* identity */
        s = strjoin(h->name, "\n");
        if (!s || random_hex(16, &mid) < 0)
                return -ENOMEM;
        r = root_write(root, "/etc/hostname", s, 0644);
        if (r < 0)
                return r;
        free(s);
        s = strjoin(mid, "\n");
        if (!s)
                return -ENOMEM;
        r = root_write(root, "/etc/machine-id", s, 0444);
        if (r < 0)
                return r;
        r = host_hosts_lines(l, &hosts);
        if (r >= 0)
                r = root_append(root, "/etc/hosts", hosts);
        if (r < 0)
                return r;

        /* what must not run in a test host */
        for (size_t i = 0; i < ELEMENTSOF(masked_units); i++) {
                _cleanup_free_ char *rel = strjoin("/etc/systemd/system/", masked_units[i]);
                if (!rel)
                        return -ENOMEM;
                r = root_symlink(root, rel, "/dev/null");
                if (r < 0)
                        return r;
        }
        r = root_symlink(root, "/etc/systemd/system/default.target", "/lib/systemd/system/multi-user.target");
        if (r < 0)
                return r;

        /* ssh: the lab key logs in as root everywhere and is the key libvirtd uses host to host */
        keyfile = lab_path(l, "id_ed25519", NULL);
        if (!keyfile || read_full_file(keyfile, &key, NULL) < 0)
                return -EIO;
        free(keyfile);
        keyfile = lab_path(l, "id_ed25519.pub", NULL);
        if (!keyfile || read_full_file(keyfile, &pub, NULL) < 0)
                return -EIO;
        r = root_write(root, "/root/.ssh/id_ed25519", key, 0600);
        if (r >= 0)
                r = root_write(root, "/root/.ssh/authorized_keys", pub, 0600);
        if (r < 0)
                return r;
        free(s);
        s = NULL;
        if (asprintf_safe(&s,
                          "# mhtest lab %s: reach the other hosts by name, no host key prompts\n"
                          "Host %s-*\n"
                          "  User root\n"
                          "  IdentityFile /root/.ssh/id_ed25519\n"
                          "  StrictHostKeyChecking no\n"
                          "  UserKnownHostsFile /dev/null\n"
                          "  LogLevel ERROR\n",
                          l->name, l->name) < 0)
                return -ENOMEM;
        r = root_write(root, "/root/.ssh/config", s, 0600);
        if (r < 0)
                return r;
        {
                _cleanup_free_ char *root_ssh = strjoin(root, "/root/.ssh"), *root_dir = strjoin(root, "/root");
                if (!root_ssh || !root_dir || chmod(root_ssh, 0700) < 0 || chmod(root_dir, 0700) < 0)
                        return -EIO;
        }
        /* fresh host key: the machine's keys must not be shared by every host */
        {
                _cleanup_free_ char *pattern = strjoin(root, "/etc/ssh/ssh_host_*"), *hk = NULL;
                glob_t g = {};
                if (!pattern)
                        return -ENOMEM;
                if (glob(pattern, 0, NULL, &g) == 0)
                        for (size_t i = 0; i < g.gl_pathc; i++)
                                (void) unlink(g.gl_pathv[i]);
                globfree(&g);
                hk = strjoin(root, "/etc/ssh/ssh_host_ed25519_key");
                if (!hk)
                        return -ENOMEM;
                r = mkdir_parents(hk, 0755);
                if (r < 0)
                        return r;
                r = run_quiet(STRV_MAKE("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", h->name, "-f", hk));
                if (r < 0)
                        return r;
        }
        free(s);
        s = NULL;
        if (asprintf_safe(&s,
                          "# mhtest lab: listen on the lab address only\n"
                          "ListenAddress %s\n"
                          "HostKey /etc/ssh/ssh_host_ed25519_key\n"
                          "PermitRootLogin prohibit-password\n"
                          "PasswordAuthentication no\n"
                          "UseDNS no\n",
                          h->address) < 0)
                return -ENOMEM;
        r = root_write(root, "/etc/ssh/sshd_config.d/50-mhtest-lab.conf", s, 0644);
        if (r < 0)
                return r;
        r = root_symlink(root, "/etc/systemd/system/multi-user.target.wants/ssh.service", "/lib/systemd/system/ssh.service");
        if (r < 0)
                return r;

        /* libvirt: a host UUID of its own (the SMBIOS one is the machine's, and libvirt refuses to
         * migrate "to the same host"), TCP on the lab address only, and no cgroup controllers
         * (nspawn mounts the v1 hierarchies read-only) */
        if (asprintf_safe(&uuid, "%.8s-%.4s-%.4s-%.4s-%.12s", mid, mid + 8, mid + 12, mid + 16, mid + 20) < 0)
                return -ENOMEM;
        free(s);
        s = NULL;
        if (asprintf_safe(&s, "# mhtest lab\nhost_uuid = \"%s\"\nauth_tcp = \"none\"\n", uuid) < 0)
                return -ENOMEM;
        r = root_append(root, "/etc/libvirt/libvirtd.conf", s);
        if (r >= 0)
                r = root_append(root, "/etc/libvirt/qemu.conf", "# mhtest lab\ncgroup_controllers = [ ]\n");
        if (r < 0)
                return r;
        r = root_symlink(root, "/etc/systemd/system/sockets.target.wants/libvirtd-tcp.socket",
                         "/lib/systemd/system/libvirtd-tcp.socket");
        if (r < 0)
                return r;
        free(s);
        s = NULL;
        if (asprintf_safe(&s, "[Socket]\nListenStream=\nListenStream=%s:16509\n", h->address) < 0)
                return -ENOMEM;
        r = root_write(root, "/etc/systemd/system/libvirtd-tcp.socket.d/50-mhtest-lab.conf", s, 0644);
        if (r < 0)
                return r;
        /* the default NAT network would start dnsmasq in every host */
        {
                _cleanup_free_ char *p = strjoin(root, "/etc/libvirt/qemu/networks/autostart/default.xml");
                if (p)
                        (void) unlink(p);
        }

        /* mhtest from --from, installed before boot so the generator runs at boot */
        install = lab_path(l, "install", NULL);
        if (!install)
                return -ENOMEM;
        if (dir_exists(install)) {
                _cleanup_free_ char *src = strjoin(install, "/."), *dst = strjoin(root, "/");
                if (!src || !dst)
                        return -ENOMEM;
                r = run_quiet(STRV_MAKE("cp", "-a", "--no-preserve=ownership", src, dst));
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- the lab's own files: ssh key and config, hosts.d entries ---- */

static int lab_write_ssh(const Lab *l) {
        _cleanup_free_ char *key = lab_path(l, "id_ed25519", NULL), *cfg = lab_path(l, "ssh_config", NULL), *s = NULL;
        _cleanup_free_ char *bin = lab_path(l, "bin", "ssh"), *wrapper = NULL, *comment = strjoin("mhtest-lab-", l->name);
        _cleanup_free_ char *net = ip4_format(l->subnet);
        int r;

        if (!key || !cfg || !bin || !comment || !net)
                return -ENOMEM;
        *strrchr(net, '.') = 0;
        r = run_quiet(STRV_MAKE("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", key));
        if (r < 0)
                return r;
        /* Absolute paths throughout: virsh runs ssh with a scrubbed environment, and ssh_config
         * expands no variables. */
        if (asprintf_safe(&s,
                          "# mhtest lab %s (generated; removed by \"mhtest lab down %s\")\n"
                          "Host %s-* %s.*\n"
                          "  User root\n"
                          "  IdentityFile %s\n"
                          "  IdentitiesOnly yes\n"
                          "  StrictHostKeyChecking no\n"
                          "  UserKnownHostsFile /dev/null\n"
                          "  LogLevel ERROR\n",
                          l->name, l->name, l->name, net, key) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < l->n_hosts; i++) {
                char *n = NULL;
                if (asprintf_safe(&n, "%s\nHost %s\n  HostName %s\n", s, l->hosts[i].name, l->hosts[i].address) < 0)
                        return -ENOMEM;
                free(s);
                s = n;
        }
        r = write_file_atomic(cfg, s, 0644);
        if (r < 0)
                return r;
        if (asprintf_safe(&wrapper, "#!/bin/sh\n# ssh with the lab's config (libvirt's qemu+ssh finds it first in PATH)\n"
                                    "exec /usr/bin/ssh -F %s \"$@\"\n", cfg) < 0)
                return -ENOMEM;
        r = mkdir_parents(bin, 0755);
        if (r >= 0)
                r = write_file_atomic(bin, wrapper, 0755);
        return r;
}

static int lab_write_hosts_d(const Lab *l) {
        _cleanup_free_ char *key = lab_path(l, "id_ed25519", NULL), *cfg = lab_path(l, "ssh_config", NULL),
                            *own = lab_path(l, "hosts.d", NULL);
        int r;

        if (!key || !cfg || !own)
                return -ENOMEM;
        r = mkdir_p(LAB_HOSTS_DIR, 0755);
        if (r >= 0)
                r = mkdir_p(own, 0755);
        if (r < 0)
                return r;
        for (size_t i = 0; i < l->n_hosts; i++) {
                const LabHost *h = &l->hosts[i];
                _cleanup_free_ char *s = NULL, *p = NULL, *p2 = NULL;

                if (asprintf_safe(&s,
                                  "# mhtest lab %s (generated; removed by \"mhtest lab down %s\")\n"
                                  "[Host]\n"
                                  "Description=lab %s host %zu (%s)\n"
                                  "Address=%s\n"
                                  "SSHUser=root\n"
                                  "IdentityFile=%s\n"
                                  "SSHConfig=%s\n"
                                  "LibvirtURI=qemu+ssh://root@%s/system?keyfile=%s&no_verify=1\n"
                                  "MigrationAddress=%s\n",
                                  l->name, l->name, l->name, i + 1, lab_backend_to_string(l->backend), h->address,
                                  key, cfg, h->address, key, h->address) < 0)
                        return -ENOMEM;
                p = strjoin(LAB_HOSTS_DIR "/", h->name, ".conf");
                p2 = strjoin(own, "/", h->name, ".conf");
                if (!p || !p2)
                        return -ENOMEM;
                r = write_file_atomic(p, s, 0644);
                if (r >= 0)
                        r = write_file_atomic(p2, s, 0644);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- mhtest from a build tree ---- */

static int default_from(char **ret) {
        _cleanup_free_ char *exe = NULL, *dir = NULL, *probe = NULL;
        char buf[PATH_MAX];
        ssize_t n;

        /* mhtest run from its build directory (build/src/mhtest/mhtest): install that build. */
        n = readlink("/proc/self/exe", buf, sizeof buf - 1);
        if (n <= 0)
                return 0;
        buf[n] = 0;
        for (int up = 0; up < 3; up++) {
                char *slash = strrchr(buf, '/');
                if (!slash)
                        return 0;
                *slash = 0;
        }
        probe = strjoin(buf, "/build.ninja");
        if (!probe)
                return -ENOMEM;
        if (access(probe, F_OK) < 0)
                return 0;
        *ret = strdup(buf);
        return *ret ? 1 : -ENOMEM;
}

/* Merged /usr: /lib and friends are symlinks on the machine, and "cp -a" will not write a
 * directory over a symlink. Move what the install put under /lib into /usr/lib, and so on. */
static int stage_merge_usr(const char *install) {
        STRV_FOREACH(top, STRV_MAKE("lib", "bin", "sbin", "lib64", "lib32", "libx32")) {
                _cleanup_free_ char *machine = strjoin("/", *top), *staged = strjoin(install, "/", *top);
                _cleanup_free_ char *target = NULL, *dst = NULL, *src = NULL;
                char buf[PATH_MAX];
                struct stat st;
                ssize_t n;
                int r;

                if (!machine || !staged)
                        return -ENOMEM;
                if (lstat(machine, &st) < 0 || !S_ISLNK(st.st_mode) || !dir_exists(staged))
                        continue;
                n = readlink(machine, buf, sizeof buf - 1);
                if (n <= 0)
                        continue;
                buf[n] = 0;
                dst = buf[0] == '/' ? strjoin(install, buf) : strjoin(install, "/", buf);
                src = strjoin(staged, "/.");
                if (!dst || !src)
                        return -ENOMEM;
                r = mkdir_p(dst, 0755);
                if (r >= 0)
                        r = run_quiet(STRV_MAKE("cp", "-a", src, dst));
                if (r >= 0)
                        r = rm_rf(staged);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int lab_stage_install(Lab *l) {
        _cleanup_free_ char *install = lab_path(l, "install", NULL), *probe = NULL, *from = NULL;
        int r;

        if (!install)
                return -ENOMEM;
        if (!l->from)
                return 0;
        from = realpath(l->from, NULL);
        if (!from)
                return log_error_errno(-errno, "--from=%s: %m", l->from);
        free(l->from);
        l->from = TAKE_PTR(from);
        probe = strjoin(l->from, "/build.ninja");
        if (!probe)
                return -ENOMEM;
        if (access(probe, F_OK) >= 0) {
                log_info("Installing mhtest from the build tree %s.", l->from);
                r = run_quiet(STRV_MAKE("meson", "install", "-C", l->from, "--no-rebuild", "--quiet", "--destdir", install));
                if (r < 0)
                        return log_error_errno(r, "Failed to install %s (build it first: ninja -C %s).", l->from, l->from);
                return stage_merge_usr(install);
        }
        /* An install tree (a DESTDIR): copied over every host's root as it is. */
        if (!dir_exists(l->from))
                return log_error_errno(-ENOTDIR, "--from=%s is neither a build tree (no build.ninja) nor a directory.", l->from);
        r = mkdir_p(install, 0755);
        if (r < 0)
                return r;
        {
                _cleanup_free_ char *src = strjoin(l->from, "/.");
                r = src ? run_quiet(STRV_MAKE("cp", "-a", src, install)) : -ENOMEM;
                return r < 0 ? r : stage_merge_usr(install);
        }
}

/* ---- one host: root, boot ---- */

static int host_mount_root(const Lab *l, const LabHost *h) {
        _cleanup_free_ char *ov = lab_path(l, h->name, "ov"), *root = lab_path(l, h->name, "root");
        _cleanup_free_ char *upper = NULL, *work = NULL, *opts = NULL, *src = strjoin("mhtest-lab-", h->name);
        int r;

        if (!ov || !root || !src)
                return -ENOMEM;
        r = mkdir_p(ov, 0755);
        if (r >= 0)
                r = mkdir_p(root, 0755);
        if (r < 0)
                return r;
        if (mount(src, ov, "tmpfs", MS_NODEV | MS_NOSUID, "mode=0755,size=4G") < 0)
                return log_error_errno(-errno, "Failed to mount a tmpfs on %s: %m", ov);
        upper = strjoin(ov, "/upper");
        work = strjoin(ov, "/work");
        if (!upper || !work || mkdir(upper, 0755) < 0 || mkdir(work, 0755) < 0)
                return -EIO;
        if (asprintf_safe(&opts, "lowerdir=/,upperdir=%s,workdir=%s", upper, work) < 0)
                return -ENOMEM;
        if (mount(src, root, "overlay", 0, opts) < 0)
                return log_error_errno(-errno, "Failed to mount the overlay root of %s on %s: %m", h->name, root);
        return 0;
}

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
        r = host_fake_hugepages(l, h, root, &binds);
        if (r < 0)
                return log_error_errno(r, "Failed to prepare the hugepage counters of %s: %m", h->name);
        argv = strv_new("systemd-nspawn", "--quiet", "-D", root, "-M", h->name, "--register=no", "--keep-unit",
                        "--link-journal=no", "--capability=CAP_NET_ADMIN");
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

        r = cgroup_roots(&cgroups);
        if (r < 0)
                return r;
        STRV_FOREACH(c, cgroups) {
                _cleanup_free_ char *cg = host_cgroup(*c, h);
                if (!cg)
                        return -ENOMEM;
                if (mkdir(cg, 0755) < 0 && errno != EEXIST)
                        return log_error_errno(-errno, "Failed to create cgroup %s: %m", cg);
        }
        log_fd = open(console, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);
        null = devnull_fd();
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
                STRV_FOREACH(c, cgroups) {
                        _cleanup_free_ char *procs = strjoin(*c, "/mhtest-lab-", h->name, "/cgroup.procs");
                        if (!procs || write_string_file(procs, "0") < 0) {
                                e = EPERM;
                                (void) !write(errpipe[1], &e, sizeof e);
                                _exit(126);
                        }
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
        h->nspawn = pid;
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

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static void sleep_ms(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };
        (void) nanosleep(&ts, NULL);
}


/* "systemctl is-system-running" inside the host. (Its private bus socket, reached through
 * /proc/PID/root, refuses a peer from outside its PID namespace.) */
static int host_system_state(pid_t leader, char **ret) {
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
static int host_poll_ready(const Lab *l, const LabHost *h, HostReady state, const char *ctl_ns) {
        _cleanup_free_ char *out = NULL;
        pid_t leader;
        int r;

        if (!nspawn_running(h->nspawn))
                return -ECHILD;
        leader = host_leader(h);
        if (leader <= 0)
                return HOST_BOOTING;
        switch (state) {
        case HOST_BOOTING:
        case HOST_SSHD:
                return netns_tcp_probe(ctl_ns, h->address, 22, 1000) >= 0 ? HOST_SYSTEMD : HOST_SSHD;
        case HOST_SYSTEMD:
                r = host_system_state(leader, &out);
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
                        r = host_poll_ready(l, &l->hosts[i], states[i], ctl);
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
                sleep_ms(100);
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
        pid_t leader = host_leader(h);

        /* SIGRTMIN+4: systemd's "poweroff" */
        if (leader > 0)
                (void) kill(leader, SIGRTMIN + 4);
}

/* With poweroff set, ask again every 2 s: a systemd still starting up has no signal handlers
 * yet, and a namespace's PID 1 ignores what it does not handle. */
static bool host_wait_gone(const LabHost *h, unsigned timeout_ms, bool poweroff) {
        uint64_t start = now_usec(), last = start, deadline = start + (uint64_t) timeout_ms * USEC_PER_MSEC;

        while (nspawn_running(h->nspawn)) {
                uint64_t n = now_usec();
                if (n > deadline)
                        return false;
                if (poweroff && n - last > 2 * USEC_PER_SEC) {
                        host_stop(h);
                        last = n;
                }
                sleep_ms(50);
        }
        return true;
}

static int lab_teardown(Lab *l) {
        _cleanup_strv_free_ char **cgroups = NULL;
        _cleanup_free_ char *sw = lab_sw_ns(l), *ctl = lab_ctl_ns(l);
        int r = 0;

        if (!sw || !ctl || cgroup_roots(&cgroups) < 0)
                return -ENOMEM;

        for (size_t i = 0; i < l->n_hosts; i++)
                host_stop(&l->hosts[i]);
        for (size_t i = 0; i < l->n_hosts; i++) {
                LabHost *h = &l->hosts[i];

                if (host_wait_gone(h, LAB_DOWN_TIMEOUT_SEC * 1000, true))
                        continue;
                log_warning("Host %s did not power off in %d s, terminating systemd-nspawn (PID %d).", h->name,
                            LAB_DOWN_TIMEOUT_SEC, (int) h->nspawn);
                (void) kill(h->nspawn, SIGTERM);
                if (host_wait_gone(h, 10000, false))
                        continue;
                (void) kill(h->nspawn, SIGKILL);
                STRV_FOREACH(c, cgroups) {
                        _cleanup_free_ char *cg = host_cgroup(*c, h);
                        if (cg)
                                cgroup_kill_all(cg, SIGKILL);
                }
                (void) host_wait_gone(h, 5000, false);
        }
        /* Anything a host left in its cgroup (nothing, after a clean poweroff). */
        for (size_t i = 0; i < l->n_hosts; i++)
                STRV_FOREACH(c, cgroups) {
                        _cleanup_free_ char *cg = host_cgroup(*c, &l->hosts[i]);
                        if (cg)
                                cgroup_kill_all(cg, SIGKILL);
                }

        if (unmount_below(l->dir) < 0)
                r = -EBUSY;
        for (size_t i = 0; i < l->n_hosts; i++) {
                const LabHost *h = &l->hosts[i];
                _cleanup_free_ char *propagate = strjoin("/run/systemd/nspawn/propagate/", h->name);
                _cleanup_free_ char *hostsd = strjoin(LAB_HOSTS_DIR "/", h->name, ".conf");

                STRV_FOREACH(c, cgroups) {
                        _cleanup_free_ char *cg = host_cgroup(*c, h);
                        if (cg && rmdir_tree(cg) < 0) {
                                log_warning_errno(-errno, "Failed to remove cgroup %s: %m", cg);
                                r = -EBUSY;
                        }
                }
                if (propagate)
                        (void) rm_rf(propagate);
                if (hostsd)
                        (void) unlink(hostsd);
                if (netns_remove(h->name) < 0)
                        r = -EBUSY;
        }
        (void) netns_remove(ctl);
        (void) netns_remove(sw);

        if (l->created_images && l->images)
                (void) rm_rf(l->images);
        if (rm_rf(l->dir) < 0) {
                log_warning("Failed to remove %s completely.", l->dir);
                r = -EBUSY;
        }
        if (l->made_hosts_dir)
                (void) rmdir(LAB_HOSTS_DIR);
        /* Machine-wide things the first container lab made, removed by the last one. */
        if (access(LAB_MARK_NSPAWN_DIR, F_OK) >= 0) {
                bool other = false;
                _cleanup_strv_free_ char **labs = NULL;
                if (lab_list(&labs) >= 0)
                        STRV_FOREACH(n, labs) {
                                _cleanup_(lab_freep) Lab *o = NULL;
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
        (void) rmdir(LAB_RUN_DIR);
        if (l->made_run_dir)
                (void) rmdir("/run/mhtest");
        return r;
}

/* ---- verbs ---- */

static int lab_up_container(const LabOptions *o) {
        _cleanup_(lab_freep) Lab *l = calloc(1, sizeof(Lab));
        _cleanup_free_ char *sw = NULL, *ctl = NULL, *ctl_cidr = NULL, *ctl_addr = NULL;
        uint64_t t0 = now_usec();
        int r;

        if (!l)
                return log_oom();
        STRV_FOREACH(prog, STRV_MAKE("systemd-nspawn", "nsenter", "ssh-keygen", "/usr/sbin/sshd", "/usr/sbin/libvirtd", "virsh")) {
                _cleanup_free_ char *p = NULL;
                if ((*prog)[0] == '/' ? access(*prog, X_OK) < 0 : find_executable(*prog, &p) < 0)
                        return log_error_errno(-ENOENT, "%s is not installed; run tools/install-deps.sh "
                                               "(packages systemd-container, openssh-server, libvirt-daemon-system).", *prog);
        }
        l->name = strdup(o->name);
        l->dir = strjoin(LAB_RUN_DIR "/", o->name);
        l->backend = LAB_BACKEND_CONTAINER;
        if (!l->name || !l->dir)
                return log_oom();
        if (access(l->dir, F_OK) >= 0)
                return log_error_errno(-EEXIST, "Lab \"%s\" exists already (%s): \"mhtest lab down %s\" first.", l->name,
                                       l->dir, l->name);
        if (o->from)
                l->from = strdup(o->from);
        else if (default_from(&l->from) < 0)
                return log_oom();
        r = lab_pick_subnet(l->name, &l->subnet);
        if (r < 0)
                return log_error_errno(r, "No free /24 in 10.77.0.0/16 for the lab network.");
        l->hosts = calloc(o->n_hosts, sizeof(LabHost));
        if (!l->hosts)
                return log_oom();
        for (unsigned i = 0; i < o->n_hosts; i++) {
                LabHost *h = &l->hosts[l->n_hosts++];
                if (asprintf_safe(&h->name, "%s-h%u", l->name, i + 1) < 0 || !(h->address = ip4_format(l->subnet + 11 + i)))
                        return log_oom();
                if (netns_exists(h->name))
                        return log_error_errno(-EEXIST, "Network namespace %s exists already; not touching it.", h->name);
        }
        sw = lab_sw_ns(l);
        ctl = lab_ctl_ns(l);
        ctl_addr = ip4_format(l->subnet + 1);
        if (!sw || !ctl || !ctl_addr || asprintf_safe(&ctl_cidr, "%s/24", ctl_addr) < 0)
                return log_oom();
        if (netns_exists(sw) || netns_exists(ctl))
                return log_error_errno(-EEXIST, "Network namespace %s or %s exists already; not touching it.", sw, ctl);

        /* From here on everything made is recorded, and removed again if "up" fails. */
        l->made_run_dir = access("/run/mhtest", F_OK) < 0;
        l->made_hosts_dir = access(LAB_HOSTS_DIR, F_OK) < 0;
        if (access("/run/systemd/nspawn", F_OK) < 0) {
                r = mkdir_p(LAB_RUN_DIR, 0755);
                if (r >= 0)
                        r = write_file_atomic(LAB_MARK_NSPAWN_DIR, "", 0644);
                if (r < 0)
                        return log_error_errno(r, "Failed to create %s: %m", LAB_RUN_DIR);
        }
        r = mkdir_p(l->dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create %s: %m", l->dir);
        if (arg_lab_images)
                l->images = strdup(arg_lab_images);
        else {
                l->images = lab_path(l, "images", NULL);
                l->created_images = true;
        }
        if (!l->images)
                return log_oom();
        r = lab_save(l);
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

        r = lab_stage_install(l);
        if (r < 0)
                goto fail;
        r = lab_write_ssh(l);
        if (r < 0) {
                log_error_errno(r, "Failed to write the lab's SSH key and config: %m");
                goto fail;
        }
        r = lab_write_hosts_d(l);
        if (r < 0) {
                log_error_errno(r, "Failed to write hosts.d entries: %m");
                goto fail;
        }

        /* network */
        STRV_FOREACH(ns, STRV_MAKE(sw, ctl)) {
                r = netns_add(*ns, NULL);
                if (r < 0) {
                        log_error_errno(r, "Failed to create network namespace %s: %m", *ns);
                        goto fail;
                }
        }
        r = netns_bridge_add(sw, "br0");
        if (r < 0) {
                log_error_errno(r, "Failed to create the lab bridge in %s: %m", sw);
                goto fail;
        }
        r = netns_veth_add(sw, "br0", "p-ctl", ctl, "eth0", ctl_cidr);
        if (r < 0) {
                log_error_errno(r, "Failed to connect %s to the lab bridge: %m", ctl);
                goto fail;
        }
        for (size_t i = 0; i < l->n_hosts; i++) {
                LabHost *h = &l->hosts[i];
                _cleanup_free_ char *port = NULL, *cidr = strjoin(h->address, "/24");

                if (!cidr || asprintf_safe(&port, "p-h%zu", i + 1) < 0) {
                        r = log_oom();
                        goto fail;
                }
                r = netns_add(h->name, NULL);
                if (r >= 0)
                        r = netns_veth_add(sw, "br0", port, h->name, "eth0", cidr);
                if (r < 0) {
                        log_error_errno(r, "Failed to set up the network of %s: %m", h->name);
                        goto fail;
                }
        }

        /* roots, then boot all hosts, then wait for all of them */
        for (size_t i = 0; i < l->n_hosts; i++) {
                _cleanup_free_ char *root = lab_path(l, l->hosts[i].name, "root");
                if (!root) {
                        r = log_oom();
                        goto fail;
                }
                r = host_mount_root(l, &l->hosts[i]);
                if (r < 0)
                        goto fail;
                r = host_prepare_root(l, &l->hosts[i], root);
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
        if (!arg_quiet) {
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
        (void) lab_teardown(l);
        return r < 0 ? r : -EIO;
}

static const char *lab_name_arg(int argc, char *argv[], int idx) {
        if (argc > idx)
                return argv[idx];
        return arg_lab_name ?: LAB_DEFAULT_NAME;
}

static int verb_lab_up(int argc, char *argv[]) {
        LabOptions o = {
                .name = arg_lab_name ?: LAB_DEFAULT_NAME,
                .n_hosts = arg_lab_hosts ?: LAB_DEFAULT_HOSTS,
                .from = arg_lab_from,
                .backend = LAB_BACKEND_CONTAINER,
        };

        if (argc > 2)
                return log_error_errno(-EINVAL, "Usage: mhtest lab up [--name=NAME] [--hosts=N] [--from=TREE] "
                                       "[--backend=container|vm] [--images=DIR]");
        if (!lab_name_valid(o.name))
                return log_error_errno(-EINVAL, "Invalid lab name \"%s\": 1-24 characters a-z, 0-9 and \"-\", "
                                       "starting with a letter.", o.name);
        if (o.n_hosts > LAB_MAX_HOSTS)
                return log_error_errno(-EINVAL, "--hosts=%u: at most %u hosts.", o.n_hosts, LAB_MAX_HOSTS);
        if (arg_lab_backend) {
                o.backend = lab_backend_from_string(arg_lab_backend);
                if (o.backend < 0)
                        return log_error_errno(-EINVAL, "Invalid --backend=%s (expected container or vm).", arg_lab_backend);
        }
        if (geteuid() != 0)
                return log_error_errno(-EPERM, "mhtest lab needs root (namespaces, mounts, containers).");
        if (o.backend == LAB_BACKEND_VM) {
                if (!lab_vm_up)
                        return log_error_errno(-EOPNOTSUPP, "--backend=vm is not available yet in this build of mhtest; "
                                               "use --backend=container.");
                /* The same --from default as containers: run from a build tree, install that. */
                _cleanup_free_ char *vm_from = NULL;
                if (!o.from && default_from(&vm_from) > 0)
                        o.from = vm_from;
                return lab_vm_up(&o);
        }
        if (arg_lab_images && !path_is_absolute(arg_lab_images))
                return log_error_errno(-EINVAL, "--images=%s: expected an absolute path.", arg_lab_images);
        return lab_up_container(&o);
}

static int verb_lab_down(int argc, char *argv[]) {
        _cleanup_(lab_freep) Lab *l = NULL;
        const char *name = lab_name_arg(argc, argv, 2);
        _cleanup_free_ char *f1 = NULL;
        int r;

        if (!lab_name_valid(name))
                return log_error_errno(-EINVAL, "Invalid lab name \"%s\".", name);
        if (geteuid() != 0)
                return log_error_errno(-EPERM, "mhtest lab needs root.");
        r = lab_load(name, &l);
        if (r == -ENOENT) {
                _cleanup_free_ char *dir = strjoin(LAB_RUN_DIR "/", name);
                if (dir && access(dir, F_OK) >= 0)
                        return log_error_errno(-EBADMSG, "%s has no lab.json; remove it by hand.", dir);
                if (!arg_quiet)
                        log_info("Lab %s is not up.", name);
                return 0;
        }
        if (r < 0)
                return log_error_errno(r, "Failed to read the state of lab %s: %m", name);
        if (l->backend == LAB_BACKEND_VM) {
                if (!lab_vm_down)
                        return log_error_errno(-EOPNOTSUPP, "Lab %s uses the vm backend, not available in this build.", name);
                return lab_vm_down(name);
        }
        r = lab_teardown(l);
        if (asprintf_safe(&f1, "MHTEST_LAB=%s", name) < 0)
                return log_oom();
        if (r < 0)
                return log_error_errno(r, "Lab %s: some of it could not be removed (see above).", name);
        log_event(LOG_INFO, 0, MHTEST_MESSAGE_LAB_DOWN, STRV_MAKE(f1), "Lab %s is down; everything it made was removed.", name);
        return 0;
}

static int lab_status_one(const char *name, json_object *out) {
        _cleanup_(lab_freep) Lab *l = NULL;
        _cleanup_free_ char *subnet = NULL, *ctl = NULL;
        json_object *jo, *jhosts;
        int r;

        r = lab_load(name, &l);
        if (r < 0)
                return log_error_errno(r, "Lab %s: %s", name, r == -ENOENT ? "not up." : "unreadable state.");
        subnet = ip4_format(l->subnet);
        ctl = lab_ctl_ns(l);
        if (!subnet || !ctl)
                return log_oom();
        jo = json_object_new_object();
        jhosts = json_object_new_array();
        json_object_object_add(jo, "name", json_object_new_string(l->name));
        json_object_object_add(jo, "backend", json_object_new_string(lab_backend_to_string(l->backend)));
        json_object_object_add(jo, "subnet", json_object_new_string(subnet));
        json_object_object_add(jo, "controller_netns", json_object_new_string(ctl));
        json_object_object_add(jo, "images", json_object_new_string(strempty(l->images)));
        json_object_object_add(jo, "hosts", jhosts);
        if (!arg_json)
                printf("Lab %s (%s backend, network %s/24, controller netns %s, images %s)\n", l->name,
                       lab_backend_to_string(l->backend), subnet, ctl, strna(l->images));
        for (size_t i = 0; i < l->n_hosts; i++) {
                const LabHost *h = &l->hosts[i];
                _cleanup_free_ char *state = NULL;
                json_object *jh = json_object_new_object();
                pid_t leader = l->backend == LAB_BACKEND_CONTAINER ? host_leader(h) : 0;

                if (leader > 0 && host_system_state(leader, &state) >= 0 && state)
                        ;
                else if (l->backend == LAB_BACKEND_VM && lab_vm_host_state &&
                         lab_vm_host_state(l->name, h->name, h->nspawn, &state) >= 0)
                        ;
                else {
                        free(state);
                        state = strdup(l->backend != LAB_BACKEND_CONTAINER ? "unknown" :
                                       nspawn_running(h->nspawn) ? "booting" : "down");
                }
                json_object_object_add(jh, "name", json_object_new_string(h->name));
                json_object_object_add(jh, "address", json_object_new_string(h->address));
                json_object_object_add(jh, "state", json_object_new_string(strempty(state)));
                json_object_object_add(jh, "nspawn_pid", json_object_new_int(nspawn_running(h->nspawn) ? h->nspawn : 0));
                json_object_object_add(jh, "leader_pid", json_object_new_int(leader));
                json_object_array_add(jhosts, jh);
                if (!arg_json)
                        printf("  %-16s %-15s %s\n", h->name, h->address, strempty(state));
        }
        json_object_array_add(out, jo);
        return 0;
}

static int verb_lab_status(int argc, char *argv[]) {
        _cleanup_json_ json_object *out = json_object_new_array();
        _cleanup_strv_free_ char **names = NULL;
        int r;

        if (argc > 2 || arg_lab_name)
                names = strv_new(lab_name_arg(argc, argv, 2));
        else {
                r = lab_list(&names);
                if (r < 0)
                        return log_error_errno(r, "Failed to list labs: %m");
                if (!names && !arg_json)
                        printf("No lab is up.\n");
        }
        STRV_FOREACH(n, names) {
                r = lab_status_one(*n, out);
                if (r < 0)
                        return r;
        }
        if (arg_json)
                printf("%s\n", json_object_to_json_string_ext(argc > 2 || arg_lab_name ? json_object_array_get_idx(out, 0) : out,
                                                              JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        return 0;
}

/* Find HOST ("NAME-hK", "hK" with --name, or "NAME-ctl"/"ctl" for the controller). */
static int lab_find_host(const char *host, Lab **ret_lab, ssize_t *ret_idx) {
        _cleanup_strv_free_ char **names = NULL;
        int r;

        r = lab_list(&names);
        if (r < 0)
                return r;
        STRV_FOREACH(n, names) {
                _cleanup_(lab_freep) Lab *l = NULL;
                _cleanup_free_ char *ctl = NULL;

                if (arg_lab_name && !streq(*n, arg_lab_name))
                        continue;
                if (lab_load(*n, &l) < 0)
                        continue;
                ctl = lab_ctl_ns(l);
                if (!ctl)
                        return -ENOMEM;
                if (streq(host, ctl) || ((arg_lab_name || strv_length(names) == 1) && streq(host, "ctl"))) {
                        *ret_idx = -1;
                        *ret_lab = TAKE_PTR(l);
                        return 0;
                }
                for (size_t i = 0; i < l->n_hosts; i++) {
                        const char *short_name = l->hosts[i].name + strlen(l->name) + 1;
                        if (streq(host, l->hosts[i].name) ||
                            ((arg_lab_name || strv_length(names) == 1) && streq(host, short_name))) {
                                *ret_idx = (ssize_t) i;
                                *ret_lab = TAKE_PTR(l);
                                return 0;
                        }
                }
        }
        return -ENOENT;
}

static int verb_lab_exec(int argc, char *argv[]) {
        _cleanup_(lab_freep) Lab *l = NULL;
        _cleanup_strv_free_ char **cmd = NULL, **full = NULL;
        ssize_t idx;
        int r;

        if (argc < 3)
                return log_error_errno(-EINVAL, "Usage: mhtest lab exec HOST [--] CMD...");
        r = lab_find_host(argv[2], &l, &idx);
        if (r == -ENOENT)
                return log_error_errno(r, "No lab host \"%s\" (see \"mhtest lab status\").", argv[2]);
        if (r < 0)
                return log_error_errno(r, "Failed to look up lab host %s: %m", argv[2]);
        for (int i = 3; i < argc; i++)
                if (!(i == 3 && streq(argv[i], "--")) && strv_extend(&cmd, argv[i]) < 0)
                        return log_oom();
        if (!cmd && !(cmd = strv_new("/bin/bash", "-l")))
                return log_oom();

        if (idx < 0) {
                /* The controller: this machine, in the lab's controller network namespace, with the
                 * lab's ssh first in PATH. */
                _cleanup_free_ char *ctl = lab_ctl_ns(l), *path = NULL, *bin = lab_path(l, "bin", NULL);
                _cleanup_close_ int fd = -EBADF;
                int saved;

                if (!ctl || !bin || asprintf_safe(&path, "%s:%s", bin, getenv("PATH") ?: "/usr/sbin:/usr/bin:/sbin:/bin") < 0)
                        return log_oom();
                fd = netns_open(ctl);
                if (fd < 0)
                        return log_error_errno(fd, "Lab %s has no controller namespace: %m", l->name);
                r = netns_enter(fd, &saved);
                if (r < 0)
                        return log_error_errno(r, "Failed to enter %s: %m", ctl);
                close(saved);
                setenv("PATH", path, 1);
                setenv("MHTEST_LAB", l->name, 1);
                execvp(cmd[0], cmd);
                return log_error_errno(-errno, "Failed to execute %s: %m", cmd[0]);
        }
        if (l->backend != LAB_BACKEND_CONTAINER) {
                /* Any backend with sshd: over ssh from the controller namespace. */
                _cleanup_free_ char *cfg = lab_path(l, "ssh_config", NULL), *ctl = lab_ctl_ns(l);
                _cleanup_close_ int fd = -EBADF;
                int saved;

                if (!cfg || !ctl)
                        return log_oom();
                full = strv_new("ssh", "-F", cfg, isatty(STDIN_FILENO) ? "-t" : "-T", l->hosts[idx].name, "--");
                if (!full)
                        return log_oom();
                /* ssh joins its arguments into one string for the remote shell: quote each word
                 * so that "lab exec H -- sh -c 'a b'" keeps its word boundaries. */
                STRV_FOREACH(c, cmd)
                        if (strv_consume(&full, shell_quote(*c)) < 0)
                                return log_oom();
                fd = netns_open(ctl);
                if (fd < 0 || netns_enter(fd, &saved) < 0)
                        return log_error_errno(-ENXIO, "Failed to enter %s.", ctl);
                close(saved);
                execvp(full[0], full);
                return log_error_errno(-errno, "Failed to execute ssh: %m");
        }
        {
                _cleanup_strv_free_ char **cgroups = NULL;
                pid_t leader = host_leader(&l->hosts[idx]);
                if (leader <= 0)
                        return log_error_errno(-ESRCH, "Host %s is not running.", l->hosts[idx].name);
                /* Into the host's cgroup subtree: what the command starts belongs to the host, is
                 * accounted there, and is gone after "lab down" like everything else of the host. */
                if (cgroup_roots(&cgroups) >= 0)
                        STRV_FOREACH(c, cgroups) {
                                _cleanup_free_ char *procs = strjoin(*c, "/mhtest-lab-", l->hosts[idx].name, "/cgroup.procs");
                                if (procs && write_string_file(procs, "0") < 0)
                                        log_debug("Failed to move into %s, ignoring.", procs);
                        }
                r = host_nsenter_argv(leader, cmd, &full);
                if (r < 0)
                        return log_oom();
                fflush(stdout);
                execvp(full[0], full);
                return log_error_errno(-errno, "Failed to execute nsenter: %m");
        }
}

int verb_lab(int argc, char *argv[]) {
        const char *v = argv[1];

        if (arg_root && !streq(arg_root, "/"))
                return log_error_errno(-EINVAL, "mhtest lab acts on this machine; --root is not supported.");
        if (streq(v, "up"))
                return verb_lab_up(argc, argv);
        if (streq(v, "down"))
                return verb_lab_down(argc, argv);
        if (streq(v, "status"))
                return verb_lab_status(argc, argv);
        if (streq(v, "exec"))
                return verb_lab_exec(argc, argv);
        return log_error_errno(-EINVAL, "Unknown lab command \"%s\" (expected up, down, status or exec).", v);
}
