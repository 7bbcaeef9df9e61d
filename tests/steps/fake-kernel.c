/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* FAKE KERNEL for tests — an LD_PRELOAD shim, modelled on libvirt's tests/virpcimock.c and
 * kmod's testsuite. It makes a directory tree ($MHTEST_FAKE_ROOT) behave like the parts of
 * sysfs that mhtest writes, the way the kernel reacts to those writes:
 *
 * PCI (below ROOT/sys/bus/pci):
 *   devices/ADDR/driver_override  stores the name; "" or "\n" clears it to "(null)"
 *   drivers/DRV/unbind            ADDR: removes the device's driver link (ENODEV if not bound
 *                                 to DRV); its netdev (net/) disappears; vfio-pci drops
 *                                 /dev/vfio/GROUP when the group's last device leaves it
 *   drivers/DRV/bind              ADDR: binds if unbound and DRV matches (driver_override, or
 *                                 DRV listed in the device's .fake-match: its id table)
 *   drivers_probe                 ADDR: binds an unbound device to driver_override's driver if
 *                                 that is registered, else to the first registered driver of
 *                                 .fake-match; a probe that fails leaves it unbound, and the
 *                                 write still succeeds (as the kernel's does)
 *   binding to vfio-pci creates ROOT/dev/vfio/GROUP (or noiommu-N in noiommu mode)
 * Modules (ROOT/sys/module; libkmod's own reads of /sys/module are redirected there):
 *   init_module/finit_module      create sys/module/NAME (initstate, refcnt, holders/,
 *                                 parameters/ from the .ko's parmtype= with options applied);
 *                                 dependencies must be loaded (ENOENT) and get a holder and a
 *                                 reference; "mhtest_fake_pci_driver=DRV" registers a PCI driver
 *   delete_module                 EWOULDBLOCK while refcnt > 0 or holders exist; unbinds the
 *                                 devices of the module's PCI driver, drops the references
 *   parameters/P writes           a bool parameter (Y/N) reads back as Y or N
 * Failure injection: MHTEST_FAKE_PROBE_FAIL="ADDR ..." makes vfio-pci's probe of those devices
 * fail; MHTEST_FAKE_CRASH_LOAD=NAME kills the calling process (SIGKILL) when it loads module
 * NAME, MHTEST_FAKE_CRASH_PROBE="ADDR ..." when it writes one of them to drivers_probe — a
 * crash in the middle of a step. Nothing outside $MHTEST_FAKE_ROOT is ever written. */
/* The shim defines open and open64 itself: no 64-bit renaming of the declarations. */
#undef _FILE_OFFSET_BITS
/* Paths are built in PATH_MAX buffers; a truncated one only fails its lookup in the fake tree. */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <dirent.h>
#include <errno.h>
#include <unistd.h>

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static FILE *(*real_fopen)(const char *, const char *);
static DIR *(*real_opendir)(const char *);
static int (*real_stat)(const char *, struct stat *);
static int (*real_lstat)(const char *, struct stat *);
static int (*real_fstatat)(int, const char *, struct stat *, int);
static int (*real_access)(const char *, int);
static ssize_t (*real_write)(int, const void *, size_t);
static long (*real_syscall)(long, ...);

long init_module(void *mem, unsigned long len, const char *args);
long delete_module(const char *name, unsigned flags);

static void init(void) {
        if (real_write)
                return;
        real_open = dlsym(RTLD_NEXT, "open");
        real_openat = dlsym(RTLD_NEXT, "openat");
        real_fopen = dlsym(RTLD_NEXT, "fopen");
        real_opendir = dlsym(RTLD_NEXT, "opendir");
        real_stat = dlsym(RTLD_NEXT, "stat");
        real_lstat = dlsym(RTLD_NEXT, "lstat");
        real_fstatat = dlsym(RTLD_NEXT, "fstatat");
        real_access = dlsym(RTLD_NEXT, "access");
        real_syscall = dlsym(RTLD_NEXT, "syscall");
        real_write = dlsym(RTLD_NEXT, "write");
}

static const char *fake_root(void) {
        const char *r = getenv("MHTEST_FAKE_ROOT");
        return r && *r ? r : NULL;
}

/* ---- small file helpers on the real functions ---- */

/* sysfs values read back with a trailing newline, as the kernel prints them. */
static int fk_write_file(const char *path, const char *s) {
        int fd = real_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        size_t len = strlen(s);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = real_write(fd, s, len);
        if (n >= 0 && len > 0 && s[len - 1] != '\n')
                n = real_write(fd, "\n", 1);
        close(fd);
        return n < 0 ? -errno : 0;
}

static int fk_read_file(const char *path, char *buf, size_t size) {
        int fd = real_open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = read(fd, buf, size - 1);
        close(fd);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
                buf[--n] = 0;
        return 0;
}

static bool fk_exists(const char *path) {
        struct stat st;
        return real_lstat(path, &st) == 0;
}

static void fk_rm_rf(const char *path) {
        struct stat st;
        DIR *d;
        struct dirent *de;

        if (real_lstat(path, &st) < 0)
                return;
        if (!S_ISDIR(st.st_mode)) {
                unlink(path);
                return;
        }
        d = real_opendir(path);
        while (d && (de = readdir(d))) {
                char p[PATH_MAX];
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
                fk_rm_rf(p);
        }
        if (d)
                closedir(d);
        rmdir(path);
}

static void fk_mkdir_p(const char *path) {
        char p[PATH_MAX];

        snprintf(p, sizeof(p), "%s", path);
        for (char *s = p + 1; *s; s++)
                if (*s == '/') {
                        *s = 0;
                        mkdir(p, 0755);
                        *s = '/';
                }
        mkdir(p, 0755);
}

#define P(buf, ...) snprintf(buf, sizeof(buf), __VA_ARGS__)

/* ---- PCI ---- */

static int dev_driver(const char *root, const char *addr, char *ret, size_t size) {
        char p[PATH_MAX], t[PATH_MAX];
        ssize_t n;

        P(p, "%s/sys/bus/pci/devices/%s/driver", root, addr);
        n = readlink(p, t, sizeof(t) - 1);
        if (n < 0)
                return -errno;
        t[n] = 0;
        snprintf(ret, size, "%s", strrchr(t, '/') ? strrchr(t, '/') + 1 : t);
        return 0;
}

static int dev_group(const char *root, const char *addr, char *ret, size_t size) {
        char p[PATH_MAX], t[PATH_MAX];
        ssize_t n;

        P(p, "%s/sys/bus/pci/devices/%s/iommu_group", root, addr);
        n = readlink(p, t, sizeof(t) - 1);
        if (n < 0)
                return -errno;
        t[n] = 0;
        snprintf(ret, size, "%s", strrchr(t, '/') ? strrchr(t, '/') + 1 : t);
        return 0;
}

static bool param_on(const char *root, const char *module, const char *param) {
        char p[PATH_MAX], v[64];

        P(p, "%s/sys/module/%s/parameters/%s", root, module, param);
        return fk_read_file(p, v, sizeof(v)) >= 0 && (!strcmp(v, "Y") || !strcmp(v, "1"));
}

static bool word_in(const char *list, const char *word) {
        size_t n = strlen(word);

        for (const char *p = list; p && *p;) {
                p += strspn(p, " \n,");
                if (strncmp(p, word, n) == 0 && (p[n] == 0 || strchr(" \n,", p[n])))
                        return true;
                p += strcspn(p, " \n,");
        }
        return false;
}

static int vfio_group_add(const char *root, const char *addr) {
        char p[PATH_MAX], g[64];

        if (dev_group(root, addr, g, sizeof(g)) < 0) {
                /* noiommu mode: vfio makes a group of its own for the device */
                static const char *gn = "42";
                char l[PATH_MAX];

                if (!param_on(root, "vfio", "enable_unsafe_noiommu_mode"))
                        return -EINVAL; /* vfio-pci refuses devices without a group */
                P(p, "%s/sys/kernel/iommu_groups/%s/devices", root, gn);
                fk_mkdir_p(p);
                P(l, "%s/sys/kernel/iommu_groups/%s/devices/%s", root, gn, addr);
                P(p, "%s/sys/bus/pci/devices/%s", root, addr);
                symlink(p, l);
                P(l, "%s/sys/bus/pci/devices/%s/iommu_group", root, addr);
                P(p, "%s/sys/kernel/iommu_groups/%s", root, gn);
                symlink(p, l);
                P(l, "%s/sys/bus/pci/devices/%s/.fake-noiommu-group", root, addr);
                fk_write_file(l, gn);
                P(p, "%s/dev/vfio", root);
                fk_mkdir_p(p);
                P(p, "%s/dev/vfio/noiommu-%s", root, gn);
                return fk_write_file(p, "");
        }
        P(p, "%s/dev/vfio", root);
        fk_mkdir_p(p);
        P(p, "%s/dev/vfio/%s", root, g);
        return fk_exists(p) ? 0 : fk_write_file(p, "");
}

static void vfio_group_del(const char *root, const char *addr) {
        char p[PATH_MAX], g[64], d[PATH_MAX];
        DIR *dir;
        struct dirent *de;
        bool busy = false;

        if (dev_group(root, addr, g, sizeof(g)) < 0)
                return;
        P(p, "%s/sys/bus/pci/devices/%s/.fake-noiommu-group", root, addr);
        if (fk_exists(p)) {
                unlink(p);
                P(p, "%s/sys/bus/pci/devices/%s/iommu_group", root, addr);
                unlink(p);
                P(p, "%s/sys/kernel/iommu_groups/%s", root, g);
                fk_rm_rf(p);
                P(p, "%s/dev/vfio/noiommu-%s", root, g);
                unlink(p);
                P(p, "%s/dev/vfio", root);
                rmdir(p);
                return;
        }
        P(d, "%s/sys/kernel/iommu_groups/%s/devices", root, g);
        dir = real_opendir(d);
        while (dir && (de = readdir(dir))) {
                char drv[64];
                if (de->d_name[0] == '.' || !strcmp(de->d_name, addr))
                        continue;
                if (dev_driver(root, de->d_name, drv, sizeof(drv)) >= 0 && !strcmp(drv, "vfio-pci"))
                        busy = true;
        }
        if (dir)
                closedir(dir);
        if (!busy) {
                P(p, "%s/dev/vfio/%s", root, g);
                unlink(p);
                P(p, "%s/dev/vfio", root);
                rmdir(p);
        }
}

static int pci_do_bind(const char *root, const char *addr, const char *drv) {
        char p[PATH_MAX], t[PATH_MAX], q[PATH_MAX];
        const char *fail = getenv("MHTEST_FAKE_PROBE_FAIL");

        if (!strcmp(drv, "vfio-pci")) {
                if (word_in(fail, addr))
                        return -EIO; /* the probe failed: stays unbound */
                if (vfio_group_add(root, addr) < 0)
                        return -EINVAL;
        } else {
                P(p, "%s/sys/bus/pci/devices/%s/.fake-net", root, addr);
                P(q, "%s/sys/bus/pci/devices/%s/net", root, addr);
                if (fk_exists(p))
                        rename(p, q);
        }
        P(t, "%s/sys/bus/pci/drivers/%s", root, drv);
        P(p, "%s/sys/bus/pci/devices/%s/driver", root, addr);
        if (symlink(t, p) < 0)
                return -errno;
        P(t, "%s/sys/bus/pci/devices/%s", root, addr);
        P(p, "%s/sys/bus/pci/drivers/%s/%s", root, drv, addr);
        symlink(t, p);
        return 0;
}

static int pci_do_unbind(const char *root, const char *addr, const char *drv) {
        char p[PATH_MAX], q[PATH_MAX];

        if (!strcmp(drv, "vfio-pci"))
                vfio_group_del(root, addr);
        P(p, "%s/sys/bus/pci/devices/%s/net", root, addr);
        P(q, "%s/sys/bus/pci/devices/%s/.fake-net", root, addr);
        if (fk_exists(p))
                rename(p, q);
        P(p, "%s/sys/bus/pci/devices/%s/driver", root, addr);
        unlink(p);
        P(p, "%s/sys/bus/pci/drivers/%s/%s", root, drv, addr);
        unlink(p);
        return 0;
}

static bool pci_driver_registered(const char *root, const char *drv) {
        char p[PATH_MAX];
        P(p, "%s/sys/bus/pci/drivers/%s", root, drv);
        return fk_exists(p);
}

static bool pci_driver_matches(const char *root, const char *addr, const char *drv) {
        char p[PATH_MAX], v[4096];

        P(p, "%s/sys/bus/pci/devices/%s/driver_override", root, addr);
        if (fk_read_file(p, v, sizeof(v)) >= 0 && strcmp(v, "(null)") && *v)
                return !strcmp(v, drv);
        P(p, "%s/sys/bus/pci/devices/%s/.fake-match", root, addr);
        return fk_read_file(p, v, sizeof(v)) >= 0 && word_in(v, drv);
}

static ssize_t pci_write(const char *root, const char *rel, const char *buf, size_t n) {
        char addr[64], drv[128], p[PATH_MAX], cur[128];

        snprintf(addr, sizeof(addr), "%.*s", (int) strcspn(buf, "\n"), buf);
        if (sscanf(rel, "sys/bus/pci/devices/%63[^/]/driver_override", addr) == 1) {
                char v[256];
                snprintf(v, sizeof(v), "%.*s", (int) strcspn(buf, "\n"), buf);
                P(p, "%s/%s", root, rel);
                return fk_write_file(p, *v ? v : "(null)") < 0 ? -EIO : (ssize_t) n;
        }
        P(p, "%s/sys/bus/pci/devices/%s", root, addr);
        if (!fk_exists(p))
                return -ENODEV;
        if (!strcmp(rel, "sys/bus/pci/drivers_probe")) {
                char v[4096];
                if (word_in(getenv("MHTEST_FAKE_CRASH_PROBE"), addr))
                        kill(getpid(), SIGKILL);
                if (dev_driver(root, addr, cur, sizeof(cur)) >= 0)
                        return n;
                P(p, "%s/sys/bus/pci/devices/%s/driver_override", root, addr);
                if (fk_read_file(p, v, sizeof(v)) >= 0 && strcmp(v, "(null)") && *v) {
                        if (pci_driver_registered(root, v))
                                (void) pci_do_bind(root, addr, v);
                        return n;
                }
                P(p, "%s/sys/bus/pci/devices/%s/.fake-match", root, addr);
                if (fk_read_file(p, v, sizeof(v)) < 0)
                        return n;
                for (char *w = strtok(v, " \n"); w; w = strtok(NULL, " \n"))
                        if (pci_driver_registered(root, w) && pci_do_bind(root, addr, w) >= 0)
                                break;
                return n;
        }
        if (sscanf(rel, "sys/bus/pci/drivers/%127[^/]/", drv) == 1) {
                const char *attr = rel + strlen("sys/bus/pci/drivers/") + strlen(drv);
                int r;

                if (!strcmp(attr, "/unbind")) {
                        if (dev_driver(root, addr, cur, sizeof(cur)) < 0 || strcmp(cur, drv))
                                return -ENODEV;
                        pci_do_unbind(root, addr, drv);
                        return n;
                }
                if (!strcmp(attr, "/bind")) {
                        if (dev_driver(root, addr, cur, sizeof(cur)) >= 0)
                                return -EBUSY;
                        if (!pci_driver_matches(root, addr, drv))
                                return -ENODEV;
                        r = pci_do_bind(root, addr, drv);
                        return r < 0 ? r : (ssize_t) n;
                }
        }
        return -2000; /* not ours */
}

/* ---- modules ---- */

static void modinfo_get(const char *mem, size_t len, const char *key, char *ret, size_t size) {
        size_t k = strlen(key);

        *ret = 0;
        for (size_t i = 0; i + k < len; i++)
                if ((i == 0 || mem[i - 1] == 0) && memcmp(mem + i, key, k) == 0 && mem[i + k] == '=') {
                        snprintf(ret, size, "%.*s", (int) strnlen(mem + i + k + 1, len - i - k - 1), mem + i + k + 1);
                        return;
                }
}

/* Each "key=value" of modinfo, in order. */
static void modinfo_each(const char *mem, size_t len, const char *key, void (*f)(const char *, void *), void *data) {
        size_t k = strlen(key);

        for (size_t i = 0; i + k < len; i++)
                if ((i == 0 || mem[i - 1] == 0) && memcmp(mem + i, key, k) == 0 && mem[i + k] == '=') {
                        char v[512];
                        snprintf(v, sizeof(v), "%.*s", (int) strnlen(mem + i + k + 1, len - i - k - 1), mem + i + k + 1);
                        f(v, data);
                }
}

static int refcnt_add(const char *root, const char *mod, int delta) {
        char p[PATH_MAX], v[32], s[32];
        P(p, "%s/sys/module/%s/refcnt", root, mod);
        if (fk_read_file(p, v, sizeof(v)) < 0)
                return -ENOENT;
        P(s, "%d", atoi(v) + delta);
        return fk_write_file(p, s);
}

struct load {
        const char *root, *name, *args;
        int err;
};

static void param_create(const char *spec, void *data) {
        struct load *l = data;
        char name[128], type[64], p[PATH_MAX], val[256] = "";
        const char *a;

        if (sscanf(spec, "%127[^:]:%63s", name, type) != 2)
                return;
        /* the fake's "mhtest_fake_default=NAME:VALUE" was applied already; options win */
        P(p, "%s/sys/module/%s/parameters/%s", l->root, l->name, name);
        if (!fk_exists(p))
                fk_write_file(p, !strcmp(type, "bool") ? "N" : "0");
        for (a = l->args; a && *a;) {
                size_t n = strlen(name);
                a += strspn(a, " ");
                if (strncmp(a, name, n) == 0 && a[n] == '=') {
                        snprintf(val, sizeof(val), "%.*s", (int) strcspn(a + n + 1, " "), a + n + 1);
                        if (!strcmp(type, "bool"))
                                snprintf(val, sizeof(val), "%s", strchr("1yY", val[0]) ? "Y" : "N");
                        fk_write_file(p, val);
                }
                a += strcspn(a, " ");
        }
}

static void param_default(const char *spec, void *data) {
        struct load *l = data;
        char name[128], val[128], p[PATH_MAX];

        if (sscanf(spec, "%127[^:]:%127s", name, val) != 2)
                return;
        P(p, "%s/sys/module/%s/parameters/%s", l->root, l->name, name);
        fk_write_file(p, val);
}

static void dep_check(const char *deps, void *data) {
        struct load *l = data;
        char d[512], p[PATH_MAX];

        snprintf(d, sizeof(d), "%s", deps);
        for (char *s = strtok(d, ","); s; s = strtok(NULL, ",")) {
                P(p, "%s/sys/module/%s/initstate", l->root, s);
                if (!fk_exists(p))
                        l->err = -ENOENT; /* "Unknown symbol in module" */
        }
}

static void dep_hold(const char *deps, void *data) {
        struct load *l = data;
        char d[512], p[PATH_MAX], t[PATH_MAX];

        snprintf(d, sizeof(d), "%s", deps);
        for (char *s = strtok(d, ","); s; s = strtok(NULL, ",")) {
                P(p, "%s/sys/module/%s/holders/%s", l->root, s, l->name);
                P(t, "%s/sys/module/%s", l->root, l->name);
                symlink(t, p);
                refcnt_add(l->root, s, +1);
        }
}

static int module_insert(const char *mem, size_t len, const char *args) {
        const char *root = fake_root();
        char name[128], p[PATH_MAX], drv[128];
        struct load l;

        if (!root)
                return -EPERM;
        modinfo_get(mem, len, "name", name, sizeof(name));
        if (!*name)
                return -ENOEXEC;
        if (getenv("MHTEST_FAKE_CRASH_LOAD") && !strcmp(getenv("MHTEST_FAKE_CRASH_LOAD"), name))
                kill(getpid(), SIGKILL);
        l = (struct load) { root, name, args, 0 };
        P(p, "%s/sys/module/%s/initstate", root, name);
        if (fk_exists(p))
                return -EEXIST;
        modinfo_each(mem, len, "depends", dep_check, &l);
        if (l.err < 0)
                return l.err;
        P(p, "%s/sys/module/%s/holders", root, name);
        fk_mkdir_p(p);
        P(p, "%s/sys/module/%s/parameters", root, name);
        fk_mkdir_p(p);
        modinfo_each(mem, len, "mhtest_fake_default", param_default, &l);
        modinfo_each(mem, len, "parmtype", param_create, &l);
        P(p, "%s/sys/module/%s/refcnt", root, name);
        fk_write_file(p, "0");
        modinfo_each(mem, len, "depends", dep_hold, &l);
        modinfo_get(mem, len, "mhtest_fake_dev", drv, sizeof(drv));
        if (*drv) { /* a device node the module registers, e.g. vfio/vfio */
                char d[PATH_MAX];
                P(p, "%s/dev/%s", root, drv);
                snprintf(d, sizeof(d), "%s", p);
                *strrchr(d, '/') = 0;
                fk_mkdir_p(d);
                fk_write_file(p, "");
                P(p, "%s/sys/module/%s/.fake-dev", root, name);
                fk_write_file(p, drv);
        }
        modinfo_get(mem, len, "mhtest_fake_pci_driver", drv, sizeof(drv));
        if (*drv) {
                static const char *const files[] = { "bind", "unbind", "new_id", "remove_id" };
                P(p, "%s/sys/bus/pci/drivers/%s", root, drv);
                fk_mkdir_p(p);
                for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                        P(p, "%s/sys/bus/pci/drivers/%s/%s", root, drv, files[i]);
                        fk_write_file(p, "");
                }
                P(p, "%s/sys/bus/pci/drivers/%s/.fake-module", root, drv);
                fk_write_file(p, name);
        }
        P(p, "%s/sys/module/%s/initstate", root, name);
        fk_write_file(p, "live");
        return 0;
}

static int module_remove(const char *name) {
        const char *root = fake_root();
        char p[PATH_MAX], v[64];
        DIR *d;
        struct dirent *de;
        bool holders = false;

        if (!root)
                return -EPERM;
        P(p, "%s/sys/module/%s/initstate", root, name);
        if (!fk_exists(p))
                return -ENOENT;
        P(p, "%s/sys/module/%s/holders", root, name);
        d = real_opendir(p);
        while (d && (de = readdir(d)))
                if (de->d_name[0] != '.')
                        holders = true;
        if (d)
                closedir(d);
        P(p, "%s/sys/module/%s/refcnt", root, name);
        if (holders || (fk_read_file(p, v, sizeof(v)) >= 0 && atoi(v) > 0))
                return -EWOULDBLOCK;
        /* Its PCI driver goes away: the kernel unbinds the devices first. */
        P(p, "%s/sys/bus/pci/drivers", root);
        d = real_opendir(p);
        while (d && (de = readdir(d))) {
                char m[PATH_MAX], owner[128], dd[PATH_MAX];
                DIR *devs;
                struct dirent *e;

                if (de->d_name[0] == '.')
                        continue;
                P(m, "%s/sys/bus/pci/drivers/%s/.fake-module", root, de->d_name);
                if (fk_read_file(m, owner, sizeof(owner)) < 0 || strcmp(owner, name))
                        continue;
                P(dd, "%s/sys/bus/pci/drivers/%s", root, de->d_name);
                devs = real_opendir(dd);
                while (devs && (e = readdir(devs)))
                        if (strchr(e->d_name, ':'))
                                pci_do_unbind(root, e->d_name, de->d_name);
                if (devs)
                        closedir(devs);
                fk_rm_rf(dd);
        }
        if (d)
                closedir(d);
        /* drop the references it held on its dependencies */
        P(p, "%s/sys/module", root);
        d = real_opendir(p);
        while (d && (de = readdir(d))) {
                char h[PATH_MAX];
                if (de->d_name[0] == '.')
                        continue;
                P(h, "%s/sys/module/%s/holders/%s", root, de->d_name, name);
                if (fk_exists(h)) {
                        unlink(h);
                        refcnt_add(root, de->d_name, -1);
                }
        }
        if (d)
                closedir(d);
        P(p, "%s/sys/module/%s/.fake-dev", root, name);
        if (fk_read_file(p, v, sizeof(v)) >= 0) {
                char n[PATH_MAX];
                P(n, "%s/dev/%s", root, v);
                unlink(n);
                *strrchr(n, '/') = 0;
                rmdir(n); /* devtmpfs drops the directory with its last node */
        }
        P(p, "%s/sys/module/%s", root, name);
        fk_rm_rf(p);
        return 0;
}

long init_module(void *mem, unsigned long len, const char *args) {
        int r;

        init();
        r = module_insert(mem, len, args);
        if (r < 0) {
                errno = -r;
                return -1;
        }
        return 0;
}

long delete_module(const char *name, unsigned flags) {
        int r;

        init();
        r = module_remove(name);
        if (r < 0) {
                errno = -r;
                return -1;
        }
        return 0;
}

long syscall(long number, ...) {
        va_list ap;
        long a[6];

        init();
        va_start(ap, number);
        for (int i = 0; i < 6; i++)
                a[i] = va_arg(ap, long);
        va_end(ap);
        if (number == SYS_finit_module) {
                struct stat st;
                char *mem;
                int r;

                if (fstat((int) a[0], &st) < 0)
                        return -1;
                mem = malloc(st.st_size + 1);
                if (!mem || pread((int) a[0], mem, st.st_size, 0) != st.st_size) {
                        free(mem);
                        errno = EIO;
                        return -1;
                }
                r = module_insert(mem, st.st_size, (const char *) a[1]);
                free(mem);
                if (r < 0) {
                        errno = -r;
                        return -1;
                }
                return 0;
        }
        if (number == SYS_init_module)
                return init_module((void *) a[0], (unsigned long) a[1], (const char *) a[2]);
        if (number == SYS_delete_module)
                return delete_module((const char *) a[0], (unsigned) a[1]);
        return real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* ---- path redirection for libkmod's /sys/module reads ---- */

static const char *redirect(const char *path, char *buf, size_t size) {
        const char *root = fake_root();

        if (!root || !path)
                return path;
        if (strncmp(path, "/sys/module", 11) == 0 && (path[11] == 0 || path[11] == '/')) {
                snprintf(buf, size, "%s%s", root, path);
                return buf;
        }
        return path;
}

int open(const char *path, int flags, ...) {
        char b[PATH_MAX];
        mode_t mode = 0;

        init();
        if (flags & (O_CREAT | O_TMPFILE)) {
                va_list ap;
                va_start(ap, flags);
                mode = va_arg(ap, mode_t);
                va_end(ap);
        }
        return real_open(redirect(path, b, sizeof(b)), flags, mode);
}
int open64(const char *path, int flags, ...) __attribute__((alias("open")));

int openat(int dirfd, const char *path, int flags, ...) {
        char b[PATH_MAX];
        mode_t mode = 0;

        init();
        if (flags & (O_CREAT | O_TMPFILE)) {
                va_list ap;
                va_start(ap, flags);
                mode = va_arg(ap, mode_t);
                va_end(ap);
        }
        return real_openat(dirfd, redirect(path, b, sizeof(b)), flags, mode);
}
int openat64(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat")));

FILE *fopen(const char *path, const char *mode) {
        char b[PATH_MAX];
        init();
        return real_fopen(redirect(path, b, sizeof(b)), mode);
}
FILE *fopen64(const char *path, const char *mode) __attribute__((alias("fopen")));

DIR *opendir(const char *path) {
        char b[PATH_MAX];
        init();
        return real_opendir(redirect(path, b, sizeof(b)));
}

int stat(const char *path, struct stat *st) {
        char b[PATH_MAX];
        init();
        return real_stat(redirect(path, b, sizeof(b)), st);
}

int lstat(const char *path, struct stat *st) {
        char b[PATH_MAX];
        init();
        return real_lstat(redirect(path, b, sizeof(b)), st);
}

int fstatat(int dirfd, const char *path, struct stat *st, int flags) {
        char b[PATH_MAX];
        init();
        return real_fstatat(dirfd, redirect(path, b, sizeof(b)), st, flags);
}

int access(const char *path, int mode) {
        char b[PATH_MAX];
        init();
        return real_access(redirect(path, b, sizeof(b)), mode);
}

/* ---- writes to the fake sysfs ---- */

ssize_t write(int fd, const void *buf, size_t n) {
        const char *root;
        char link[64], path[PATH_MAX], data[4096];
        size_t rl;
        ssize_t k;

        init();
        root = fake_root();
        if (!root || n >= sizeof(data))
                return real_write(fd, buf, n);
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        k = readlink(link, path, sizeof(path) - 1);
        if (k < 0)
                return real_write(fd, buf, n);
        path[k] = 0;
        rl = strlen(root);
        if (strncmp(path, root, rl) != 0 || strncmp(path + rl, "/sys/", 5) != 0)
                return real_write(fd, buf, n);
        memcpy(data, buf, n);
        data[n] = 0;
        if (strncmp(path + rl + 1, "sys/bus/pci/", 12) == 0) {
                k = pci_write(root, path + rl + 1, data, n);
                if (k != -2000) {
                        if (k < 0) {
                                errno = (int) -k;
                                return -1;
                        }
                        return k;
                }
        }
        if (strstr(path + rl, "/parameters/")) {
                char cur[64];
                if (fk_read_file(path, cur, sizeof(cur)) >= 0 && (!strcmp(cur, "Y") || !strcmp(cur, "N"))) {
                        if (fk_write_file(path, strchr("1yY", data[0]) ? "Y" : "N") < 0)
                                return -1;
                        return n;
                }
                data[strcspn(data, "\n")] = 0;
                return fk_write_file(path, data) < 0 ? -1 : (ssize_t) n;
        }
        return real_write(fd, buf, n);
}
