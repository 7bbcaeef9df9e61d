/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <sys/stat.h>
#include "fileio.h"
#include "path-util.h"
#include "pci-driver.h"
#include "string-util.h"
#include "strv.h"

static char *pci_path(const char *root, const char *addr, const char *attr) {
        _cleanup_free_ char *rel = strjoin("/sys/bus/pci/devices/", addr, attr ? "/" : "", strempty(attr));

        return rel ? path_prefix_root(root, rel) : NULL;
}

bool pci_device_exists(const char *root, const char *addr) {
        _cleanup_free_ char *p = pci_path(root, addr, NULL);

        return p && dir_exists(p);
}

static int read_link_basename(const char *path, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 256;

        for (;;) {
                ssize_t n;

                buf = realloc(buf, size);
                if (!buf)
                        return -ENOMEM;
                n = readlink(path, buf, size);
                if (n < 0)
                        return -errno;
                if ((size_t) n < size) {
                        buf[n] = 0;
                        break;
                }
                size *= 2;
        }
        *ret = strdup(path_basename(buf));
        return *ret ? 0 : -ENOMEM;
}

int pci_device_driver(const char *root, const char *addr, char **ret) {
        _cleanup_free_ char *p = pci_path(root, addr, "driver");
        int r;

        if (!p)
                return -ENOMEM;
        r = read_link_basename(p, ret);
        if (r == -ENOENT) {
                *ret = NULL;
                return 0;
        }
        return r;
}

int pci_device_driver_override(const char *root, const char *addr, char **ret) {
        _cleanup_free_ char *p = pci_path(root, addr, "driver_override"), *s = NULL;
        int r;

        if (!p)
                return -ENOMEM;
        r = read_one_line_file(p, &s);
        if (r < 0)
                return r;
        if (isempty(s) || streq(s, "(null)"))
                s = (free(s), NULL);
        *ret = TAKE_PTR(s);
        return 0;
}

int pci_device_iommu_group(const char *root, const char *addr, char **ret) {
        _cleanup_free_ char *p = pci_path(root, addr, "iommu_group");

        if (!p)
                return -ENOMEM;
        return read_link_basename(p, ret);
}

static int list_dir(const char *path, char ***ret) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;

        if (!l)
                return -ENOMEM;
        d = opendir(path);
        if (!d)
                return -errno;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.' && strv_extend(&l, de->d_name) < 0)
                        return -ENOMEM;
        strv_sort(l);
        *ret = TAKE_PTR(l);
        return 0;
}

int pci_iommu_group_devices(const char *root, const char *group, char ***ret) {
        _cleanup_free_ char *rel = strjoin("/sys/kernel/iommu_groups/", group, "/devices"), *p = NULL;

        if (!rel)
                return -ENOMEM;
        p = path_prefix_root(root, rel);
        if (!p)
                return -ENOMEM;
        return list_dir(p, ret);
}

bool pci_iommu_present(const char *root) {
        _cleanup_free_ char *p = path_prefix_root(root, "/sys/kernel/iommu_groups");
        _cleanup_strv_free_ char **l = NULL;

        return p && list_dir(p, &l) >= 0 && strv_length(l) > 0;
}

int pci_device_netdevs(const char *root, const char *addr, char ***ret) {
        _cleanup_free_ char *dev = pci_path(root, addr, NULL);
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;

        if (!dev || !l)
                return -ENOMEM;
        d = opendir(dev);
        if (!d)
                return -errno;
        /* ADDR/net/NAME for most NICs; virtio NICs hang theirs off the virtio device:
         * ADDR/virtioN/net/NAME. */
        while ((de = readdir(d))) {
                _cleanup_strv_free_ char **names = NULL;
                _cleanup_free_ char *p = NULL;

                if (streq(de->d_name, "net"))
                        p = strjoin(dev, "/net");
                else if (startswith(de->d_name, "virtio"))
                        p = strjoin(dev, "/", de->d_name, "/net");
                else
                        continue;
                if (!p)
                        return -ENOMEM;
                if (list_dir(p, &names) < 0)
                        continue;
                if (strv_extend_strv(&l, names) < 0)
                        return -ENOMEM;
        }
        strv_sort(l);
        *ret = TAKE_PTR(l);
        return 0;
}

int pci_device_vfio_node(const char *root, const char *addr, char **ret) {
        _cleanup_free_ char *group = NULL;
        const char *const prefixes[] = { "/dev/vfio/", "/dev/vfio/noiommu-" };
        int r;

        r = pci_device_iommu_group(root, addr, &group);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(prefixes); i++) {
                _cleanup_free_ char *rel = strjoin(prefixes[i], group), *p = NULL;

                if (!rel)
                        return -ENOMEM;
                p = path_prefix_root(root, rel);
                if (!p)
                        return -ENOMEM;
                if (access(p, F_OK) >= 0) {
                        *ret = TAKE_PTR(rel);
                        return 0;
                }
        }
        return -ENOENT;
}

static int write_sysfs(const char *root, const char *rel, const char *value) {
        _cleanup_free_ char *p = path_prefix_root(root, rel);

        if (!p)
                return -ENOMEM;
        return write_string_file(p, value);
}

static int unbind_current(const char *root, const char *addr) {
        _cleanup_free_ char *cur = NULL, *rel = NULL;
        int r;

        r = pci_device_driver(root, addr, &cur);
        if (r < 0 || !cur)
                return r;
        rel = strjoin("/sys/bus/pci/drivers/", cur, "/unbind");
        if (!rel)
                return -ENOMEM;
        r = write_sysfs(root, rel, addr);
        if (r < 0)
                return r;
        cur = (free(cur), NULL);
        r = pci_device_driver(root, addr, &cur);
        if (r < 0)
                return r;
        return cur ? -EBUSY : 0;
}

static int set_override(const char *root, const char *addr, const char *driver) {
        _cleanup_free_ char *p = pci_path(root, addr, "driver_override"), *v = NULL;
        int r;

        if (!p)
                return -ENOMEM;
        /* The kernel clears driver_override on a bare newline. */
        r = write_string_file(p, driver ?: "\n");
        if (r < 0)
                return r;
        r = pci_device_driver_override(root, addr, &v);
        if (r < 0)
                return r;
        return streq_ptr(v, driver) ? 0 : -EIO;
}

int pci_driver_override_bind(const char *root, const char *addr, const char *driver) {
        _cleanup_free_ char *cur = NULL;
        int r;

        r = pci_device_driver(root, addr, &cur);
        if (r < 0)
                return r;
        if (streq_ptr(cur, driver))
                return 0;
        /* driver_override first: once unbound, nothing else may claim the device. */
        r = set_override(root, addr, driver);
        if (r < 0)
                return r;
        r = unbind_current(root, addr);
        if (r < 0)
                return r;
        r = write_sysfs(root, "/sys/bus/pci/drivers_probe", addr);
        if (r < 0)
                return r;
        cur = (free(cur), NULL);
        r = pci_device_driver(root, addr, &cur);
        if (r < 0)
                return r;
        return streq_ptr(cur, driver) ? 0 : -EIO;
}

int pci_driver_restore(const char *root, const char *addr, const char *driver, const char *override) {
        _cleanup_free_ char *cur = NULL, *cur_override = NULL;
        int r;

        r = pci_device_driver(root, addr, &cur);
        if (r < 0)
                return r;
        r = pci_device_driver_override(root, addr, &cur_override);
        if (r < 0)
                return r;
        if (streq_ptr(cur, driver) && streq_ptr(cur_override, override))
                return 0;
        if (!streq_ptr(cur, driver)) {
                /* Through the original driver's own bind file: drivers_probe could pick another
                 * driver that matches the device too. */
                r = set_override(root, addr, driver);
                if (r < 0)
                        return r;
                r = unbind_current(root, addr);
                if (r < 0)
                        return r;
                if (driver) {
                        _cleanup_free_ char *rel = strjoin("/sys/bus/pci/drivers/", driver, "/bind"), *p = NULL;

                        if (!rel)
                                return -ENOMEM;
                        p = path_prefix_root(root, rel);
                        if (!p)
                                return -ENOMEM;
                        r = access(p, F_OK) >= 0 ? write_string_file(p, addr)
                                                 : write_sysfs(root, "/sys/bus/pci/drivers_probe", addr);
                        if (r < 0)
                                return r;
                }
                cur = (free(cur), NULL);
                r = pci_device_driver(root, addr, &cur);
                if (r < 0)
                        return r;
                if (!streq_ptr(cur, driver))
                        return -EIO;
        }
        return set_override(root, addr, override);
}
