/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include "fileio.h"
#include "hugepages.h"
#include "parse-util.h"
#include "path-util.h"
#include "string-util.h"

#define GLOBAL_DIR "/sys/kernel/mm/hugepages"
#define NODE_DIR "/sys/devices/system/node"

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

static int cmp_int(const void *a, const void *b) {
        int x = *(const int *) a, y = *(const int *) b;
        return x < y ? -1 : x > y;
}

/* "hugepages-2048kB" -> 2 MiB */
static int parse_pool_dir_name(const char *name, uint64_t *ret) {
        _cleanup_free_ char *n = NULL;
        uint64_t kb;

        if (!startswith(name, "hugepages-") || !endswith(name, "kB"))
                return -EINVAL;
        n = strndup(name + strlen("hugepages-"), strlen(name) - strlen("hugepages-") - 2);
        if (!n)
                return -ENOMEM;
        if (parse_uint64(n, &kb) < 0 || kb == 0 || kb > UINT64_MAX / 1024)
                return -EINVAL;
        *ret = kb * 1024;
        return 0;
}

int hugepages_sizes(const char *root, uint64_t **ret_sizes, size_t *ret_n) {
        _cleanup_free_ char *dir = path_prefix_root(root, GLOBAL_DIR);
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_free_ uint64_t *sizes = NULL;
        size_t n = 0;
        struct dirent *de;

        if (!dir)
                return -ENOMEM;
        d = opendir(dir);
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                uint64_t sz, *a;

                if (parse_pool_dir_name(de->d_name, &sz) < 0)
                        continue;
                a = reallocarray(sizes, n + 1, sizeof(uint64_t));
                if (!a)
                        return -ENOMEM;
                sizes = a;
                sizes[n++] = sz;
        }
        if (n > 1)
                qsort(sizes, n, sizeof(uint64_t), cmp_u64);
        *ret_sizes = TAKE_PTR(sizes);
        *ret_n = n;
        return 0;
}

int hugepages_nodes(const char *root, int **ret_nodes, size_t *ret_n) {
        _cleanup_free_ char *dir = path_prefix_root(root, NODE_DIR);
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_free_ int *nodes = NULL;
        size_t n = 0;
        struct dirent *de;

        if (!dir)
                return -ENOMEM;
        d = opendir(dir);
        if (!d) {
                if (errno != ENOENT)
                        return -errno;
                *ret_nodes = NULL;
                *ret_n = 0;
                return 0;
        }
        while ((de = readdir(d))) {
                _cleanup_free_ char *hp = NULL;
                unsigned node;
                int *a;

                if (!startswith(de->d_name, "node") || parse_unsigned(de->d_name + 4, &node) < 0 ||
                    node > 1023)
                        continue;
                if (asprintf_safe(&hp, "%s/%s/hugepages", dir, de->d_name) < 0)
                        return -ENOMEM;
                if (!dir_exists(hp))
                        continue;
                a = reallocarray(nodes, n + 1, sizeof(int));
                if (!a)
                        return -ENOMEM;
                nodes = a;
                nodes[n++] = (int) node;
        }
        if (n > 1)
                qsort(nodes, n, sizeof(int), cmp_int);
        *ret_nodes = TAKE_PTR(nodes);
        *ret_n = n;
        return 0;
}

int hugepages_pool_path(const char *root, uint64_t page_size, int node, char **ret) {
        _cleanup_free_ char *p = NULL;
        int r;

        if (node < 0)
                r = asprintf_safe(&p, GLOBAL_DIR "/hugepages-%" PRIu64 "kB/nr_hugepages", page_size / 1024);
        else
                r = asprintf_safe(&p, NODE_DIR "/node%d/hugepages/hugepages-%" PRIu64 "kB/nr_hugepages", node,
                                  page_size / 1024);
        if (r < 0)
                return -ENOMEM;
        *ret = path_prefix_root(root, p);
        return *ret ? 0 : -ENOMEM;
}

bool hugepages_size_supported(const char *root, uint64_t page_size) {
        _cleanup_free_ char *p = NULL;

        return page_size >= 1024 && hugepages_pool_path(root, page_size, -1, &p) >= 0 && file_exists(p);
}

bool hugepages_node_exists(const char *root, int node) {
        _cleanup_free_ char *p = NULL;

        if (asprintf_safe(&p, NODE_DIR "/node%d/hugepages", node) < 0)
                return false;
        _cleanup_free_ char *full = path_prefix_root(root, p);
        return full && dir_exists(full);
}

int hugepages_get(const char *root, uint64_t page_size, int node, uint64_t *ret_count) {
        _cleanup_free_ char *p = NULL, *line = NULL;
        int r;

        r = hugepages_pool_path(root, page_size, node, &p);
        if (r < 0)
                return r;
        r = read_one_line_file(p, &line);
        if (r < 0)
                return r;
        return parse_uint64(strstrip(line), ret_count);
}

int hugepages_set(const char *root, uint64_t page_size, int node, uint64_t count, uint64_t *ret_count) {
        _cleanup_free_ char *p = NULL, *s = NULL;
        _cleanup_close_ int fd = -EBADF;
        ssize_t k;
        int r;

        r = hugepages_pool_path(root, page_size, node, &p);
        if (r < 0)
                return r;
        if (asprintf_safe(&s, "%" PRIu64 "\n", count) < 0)
                return -ENOMEM;
        /* O_TRUNC: sysfs ignores it, but a plain file bound over sysfs would otherwise keep the
         * tail of a longer old value ("1024" overwritten by "16" reads "1624"). */
        fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        k = write(fd, s, strlen(s));
        if (k < 0)
                return -errno;
        if ((size_t) k != strlen(s))
                return -EIO;
        (void) close(TAKE_FD(fd));
        /* The kernel grants what it can and still reports success: only reading back tells. */
        return hugepages_get(root, page_size, node, ret_count);
}

int meminfo_get(const char *root, const char *field, uint64_t *ret_bytes) {
        _cleanup_free_ char *p = path_prefix_root(root, "/proc/meminfo"), *s = NULL;
        size_t l = strlen(field);
        int r;

        if (!p)
                return -ENOMEM;
        r = read_full_file(p, &s, NULL);
        if (r < 0)
                return r;
        for (char *line = s; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
                unsigned long long v;
                char unit[8] = "";

                if (!strneq(line, field, l) || line[l] != ':')
                        continue;
                if (sscanf(line + l + 1, "%llu %7s", &v, unit) < 1)
                        return -EBADMSG;
                if (streq(unit, "kB"))
                        v *= 1024;
                else if (unit[0] != 0)
                        return -EBADMSG;
                *ret_bytes = v;
                return 0;
        }
        return -ENOENT;
}

int hugetlbfs_probe(const char *path, bool *ret_mounted, uint64_t *ret_page_size) {
        struct statx sx = {}, parent = {};
        struct statfs sfs;
        _cleanup_free_ char *up = strjoin(path, "/..");

        if (!up)
                return -ENOMEM;
        if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) < 0)
                return -errno;
        if (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
                *ret_mounted = sx.stx_attributes & STATX_ATTR_MOUNT_ROOT;
        else {
                /* old kernels: a different device than the parent directory */
                if (statx(AT_FDCWD, up, 0, STATX_BASIC_STATS, &parent) < 0)
                        return -errno;
                *ret_mounted = sx.stx_dev_major != parent.stx_dev_major ||
                               sx.stx_dev_minor != parent.stx_dev_minor;
        }
        if (statfs(path, &sfs) < 0)
                return -errno;
        *ret_page_size = *ret_mounted && (uint64_t) sfs.f_type == HUGETLBFS_MAGIC ? (uint64_t) sfs.f_bsize : 0;
        return 0;
}

int hugetlbfs_mount(const char *path, uint64_t page_size) {
        _cleanup_free_ char *opts = NULL;

        if (asprintf_safe(&opts, "pagesize=%" PRIu64 "K", page_size / 1024) < 0)
                return -ENOMEM;
        return RET_NERRNO(mount("hugetlbfs", path, "hugetlbfs", MS_NOSUID | MS_NODEV, opts));
}

int hugetlbfs_umount(const char *path) {
        return RET_NERRNO(umount2(path, UMOUNT_NOFOLLOW));
}
