/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The root file system of a container host: a tmpfs upper layer over the machine's own /, and
 * what makes it a host of its own before it boots (identity, masked services, libvirt settings,
 * mhtest installed from --from).
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
#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fileio.h"
#include "lab-internal.h"
#include "log.h"
#include "string-util.h"
#include "strv.h"

#define LAB_FAKE_SYSCTL_DIR "/var/lib/mhtest-lab/sysctl"

/* Enabled on a typical build machine, wrong in a test host: they would touch machine-global state
 * (udev, sysctl, modules, binfmt), run the machine's workloads (postgresql, dpdk, guests), or
 * just burn the CPU a lab shares (timers). */
static const char *const masked_units[] = {
        "postgresql.service", "dpdk.service", "libvirt-guests.service", "e2scrub_reap.service",
        "lava-coordinator.service",
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

/* ROOT/REL, its parent directories made. */
static int root_path(const char *root, const char *rel, char **ret) {
        _cleanup_free_ char *p = strjoin(root, rel);
        int r;

        if (!p)
                return -ENOMEM;
        r = mkdir_parents(p, 0755);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

int lab_root_write(const char *root, const char *rel, const char *contents, mode_t mode) {
        _cleanup_free_ char *p = NULL;
        int r;

        r = root_path(root, rel, &p);
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
int lab_root_append(const char *root, const char *rel, const char *add) {
        _cleanup_free_ char *p = strjoin(root, rel), *old = NULL, *n = NULL;
        struct stat st;

        if (!p)
                return -ENOMEM;
        if (read_full_file(p, &old, NULL) < 0)
                old = strdup("");
        n = strjoin(strempty(old), old && *old && !endswith(old, "\n") ? "\n" : "", add);
        if (!n)
                return -ENOMEM;
        return lab_root_write(root, rel, n, stat(p, &st) >= 0 ? st.st_mode & 07777 : 0644);
}

int lab_root_symlink(const char *root, const char *rel, const char *target) {
        _cleanup_free_ char *p = NULL;
        int r;

        r = root_path(root, rel, &p);
        if (r < 0)
                return r;
        if (unlink(p) < 0 && errno != ENOENT)
                return -errno;
        return RET_NERRNO(symlink(target, p));
}

int lab_root_mask_units(const char *root, const char *const *units, size_t n_units) {
        for (size_t i = 0; i < n_units; i++) {
                _cleanup_free_ char *rel = strjoin("/etc/systemd/system/", units[i]);
                int r;

                if (!rel)
                        return -ENOMEM;
                r = lab_root_symlink(root, rel, "/dev/null");
                if (r < 0)
                        return r;
        }
        return 0;
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

/* ---- fake hugepage counters (see the top of this file) ---- */

/* A plain file reading "0" at fake, where the kernel has the counter real: 1 if made, 0 if the
 * kernel has no such counter. */
static int fake_counter(const char *real, const char *fake) {
        int r;

        if (access(real, F_OK) < 0)
                return 0;
        r = mkdir_parents(fake, 0755);
        if (r >= 0)
                r = write_file_atomic(fake, "0\n", 0644);
        return r < 0 ? r : 1;
}

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
                        r = fake_counter(rp, fp);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

int lab_host_fake_hugepages(const Lab *l, const LabHost *h, const char *root, char ***binds) {
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
                r = fake_counter(real, f);
                if (r < 0)
                        return r;
                if (r > 0 && strv_consume(binds, strjoin("--bind=", inside, ":", real)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* ---- the overlay root of a host, and what makes it a host of its own ---- */

int lab_host_mount_root(const Lab *l, const LabHost *h) {
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

int lab_hosts_lines(const Lab *l, char **ret) {
        _cleanup_free_ char *s = NULL, *ctl = lab_ip4_format(l->subnet + 1);

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

int lab_host_prepare_root(const Lab *l, const LabHost *h, const char *root) {
        _cleanup_free_ char *mid = NULL, *uuid = NULL, *hosts = NULL, *s = NULL, *install = NULL;
        int r;

        /* identity */
        s = strjoin(h->name, "\n");
        if (!s || random_hex(16, &mid) < 0)
                return -ENOMEM;
        r = lab_root_write(root, "/etc/hostname", s, 0644);
        if (r < 0)
                return r;
        free(s);
        s = strjoin(mid, "\n");
        if (!s)
                return -ENOMEM;
        r = lab_root_write(root, "/etc/machine-id", s, 0444);
        if (r < 0)
                return r;
        r = lab_hosts_lines(l, &hosts);
        if (r >= 0)
                r = lab_root_append(root, "/etc/hosts", hosts);
        if (r < 0)
                return r;

        /* what must not run in a test host */
        r = lab_root_mask_units(root, masked_units, ELEMENTSOF(masked_units));
        if (r < 0)
                return r;
        r = lab_root_symlink(root, "/etc/systemd/system/default.target", "/lib/systemd/system/multi-user.target");
        if (r < 0)
                return r;

        r = lab_ssh_prepare_root(l, h, root);
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
        r = lab_root_append(root, "/etc/libvirt/libvirtd.conf", s);
        if (r >= 0)
                r = lab_root_append(root, "/etc/libvirt/qemu.conf", "# mhtest lab\ncgroup_controllers = [ ]\n");
        if (r < 0)
                return r;
        r = lab_root_symlink(root, "/etc/systemd/system/sockets.target.wants/libvirtd-tcp.socket",
                             "/lib/systemd/system/libvirtd-tcp.socket");
        if (r < 0)
                return r;
        free(s);
        s = NULL;
        if (asprintf_safe(&s, "[Socket]\nListenStream=\nListenStream=%s:16509\n", h->address) < 0)
                return -ENOMEM;
        r = lab_root_write(root, "/etc/systemd/system/libvirtd-tcp.socket.d/50-mhtest-lab.conf", s, 0644);
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
                r = lab_run_quiet(STRV_MAKE("cp", "-a", "--no-preserve=ownership", src, dst));
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- mhtest from a build tree or an install tree ---- */

int lab_default_from(char **ret) {
        char buf[PATH_MAX];
        _cleanup_free_ char *probe = NULL;
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
static int stage_merge_usr(const char *dest) {
        STRV_FOREACH(top, STRV_MAKE("lib", "bin", "sbin", "lib64", "lib32", "libx32")) {
                _cleanup_free_ char *machine = strjoin("/", *top), *staged = strjoin(dest, "/", *top);
                _cleanup_free_ char *dst = NULL, *src = NULL;
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
                dst = buf[0] == '/' ? strjoin(dest, buf) : strjoin(dest, "/", buf);
                src = strjoin(staged, "/.");
                if (!dst || !src)
                        return -ENOMEM;
                r = mkdir_p(dst, 0755);
                if (r >= 0)
                        r = lab_run_quiet(STRV_MAKE("cp", "-a", src, dst));
                if (r >= 0)
                        r = rm_rf(staged);
                if (r < 0)
                        return r;
        }
        return 0;
}

int lab_install_stage(const char *from, const char *dest) {
        _cleanup_free_ char *tree = NULL, *probe = NULL;
        int r;

        tree = realpath(from, NULL);
        if (!tree)
                return log_error_errno(-errno, "--from=%s: %m", from);
        probe = strjoin(tree, "/build.ninja");
        if (!probe)
                return log_oom();
        if (access(probe, F_OK) >= 0) {
                log_info("Installing mhtest from the build tree %s.", tree);
                r = lab_run_quiet(STRV_MAKE("meson", "install", "-C", tree, "--no-rebuild", "--quiet", "--destdir", dest));
                if (r < 0)
                        return log_error_errno(r, "Failed to install %s (build it first: ninja -C %s).", tree, tree);
                return stage_merge_usr(dest);
        }
        /* An install tree (a DESTDIR): copied as it is. */
        if (!dir_exists(tree))
                return log_error_errno(-ENOTDIR, "--from=%s is neither a build tree (no build.ninja) nor a directory.", from);
        log_info("Installing mhtest from the install tree %s.", tree);
        r = mkdir_p(dest, 0755);
        if (r < 0)
                return r;
        {
                _cleanup_free_ char *src = strjoin(tree, "/.");
                r = src ? lab_run_quiet(STRV_MAKE("cp", "-a", src, dest)) : -ENOMEM;
        }
        return r < 0 ? r : stage_merge_usr(dest);
}
