/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* FAKE KERNEL for the hugepages tests — an LD_PRELOAD shim. It makes the hugepage pools of a
 * --root tree of plain files ($MHTEST_FAKE_ROOT) react to writes the way the kernel's do:
 *
 *   ROOT/sys/kernel/mm/hugepages/hugepages-<KB>kB/nr_hugepages
 *   ROOT/sys/devices/system/node/node<N>/hugepages/hugepages-<KB>kB/nr_hugepages
 *
 * - A write always "succeeds" (returns its length) but the pool only grows as far as memory
 *   allows: $MHTEST_FAKE_HUGEPAGES_LIMIT is how many pages of each size the fake machine can
 *   hold in all (unset: unlimited). Shrinking always works.
 * - $MHTEST_FAKE_HUGEPAGES_BUSY=N: the first N writes of the process that would grow a pool grant
 *   nothing, as the kernel's alloc_contig_range() does while pages of the range are in flight
 *   (a gigantic page write that fails and succeeds a moment later).
 * - A node pool is part of the global one: writing a node file sets the global file to the sum
 *   of the nodes; writing the global file spreads the pages over the nodes round robin (the
 *   kernel interleaves over the nodes with memory) and keeps the sum.
 * Without node directories only the global file exists. Files outside $MHTEST_FAKE_ROOT are
 * never touched: the shim passes every other write through unchanged. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_NODES 64

static ssize_t (*real_write)(int, const void *, size_t);

static int read_u64(const char *path, uint64_t *ret) {
        char buf[64] = "";
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -1;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return -1;
        *ret = strtoull(buf, NULL, 10);
        return 0;
}

static void write_u64(const char *path, uint64_t v) {
        char buf[32];
        int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        int n;

        if (fd < 0)
                return;
        n = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", v);
        (void) !syscall(SYS_write, fd, buf, (size_t) n);
        close(fd);
}

/* The node pool files of one size that exist in the tree: their node numbers, ascending. */
static int list_nodes(const char *root, const char *pool, int nodes[MAX_NODES]) {
        char p[PATH_MAX];
        int n = 0;

        for (int i = 0; i < MAX_NODES && n < MAX_NODES; i++) {
                snprintf(p, sizeof(p), "%s/sys/devices/system/node/node%d/hugepages/%s/nr_hugepages", root, i, pool);
                if (access(p, F_OK) == 0)
                        nodes[n++] = i;
        }
        return n;
}

static void node_path(char *p, size_t sz, const char *root, int node, const char *pool) {
        snprintf(p, sz, "%s/sys/devices/system/node/node%d/hugepages/%s/nr_hugepages", root, node, pool);
}

/* Handle a write to a pool file; false if fd is not one of the fake's files. */
static bool fake_pool_write(int fd, const void *data, size_t len) {
        const char *root = getenv("MHTEST_FAKE_ROOT"), *lim = getenv("MHTEST_FAKE_HUGEPAGES_LIMIT");
        char link[64], path[PATH_MAX], pool[64], p[PATH_MAX], val[64];
        uint64_t limit = lim ? strtoull(lim, NULL, 10) : UINT64_MAX, want, others = 0, got, c;
        int nodes[MAX_NODES], n_nodes, node = -1;
        const char *rel, *slash;
        ssize_t k;

        if (!root || !*root)
                return false;
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        k = readlink(link, path, sizeof(path) - 1);
        if (k <= 0)
                return false;
        path[k] = 0;
        if (strncmp(path, root, strlen(root)) != 0 || path[strlen(root)] != '/')
                return false;
        rel = path + strlen(root);
        if (strlen(rel) < strlen("/nr_hugepages") || strcmp(rel + strlen(rel) - strlen("/nr_hugepages"), "/nr_hugepages") != 0)
                return false;
        if (strncmp(rel, "/sys/kernel/mm/hugepages/", 25) == 0)
                rel += 25;
        else if (sscanf(rel, "/sys/devices/system/node/node%d/hugepages/", &node) == 1)
                rel = strstr(rel, "/hugepages/") + strlen("/hugepages/");
        else
                return false;
        slash = strchr(rel, '/');
        if (!slash || (size_t) (slash - rel) >= sizeof(pool))
                return false;
        memcpy(pool, rel, slash - rel);
        pool[slash - rel] = 0;

        snprintf(val, sizeof(val), "%.*s", (int) (len < sizeof(val) - 1 ? len : sizeof(val) - 1), (const char *) data);
        want = strtoull(val, NULL, 10);
        n_nodes = list_nodes(root, pool, nodes);

        {
                static long busy = -1;
                const char *b = getenv("MHTEST_FAKE_HUGEPAGES_BUSY");

                uint64_t before = 0, after = 0;

                if (busy < 0)
                        busy = b ? strtol(b, NULL, 10) : 0;
                /* The file written was truncated on open: the pool's size is the sum of the
                 * nodes' (a tree without nodes counts as empty). */
                for (int i = 0; busy > 0 && i < n_nodes; i++) {
                        node_path(p, sizeof(p), root, nodes[i], pool);
                        if (read_u64(p, &c) == 0) {
                                before += c;
                                after += nodes[i] == node ? want : c;
                        }
                }
                if (node < 0)
                        after = want;
                if (busy > 0 && after > before) {
                        /* "succeeds", grants nothing: put back what the truncating open erased */
                        if (node >= 0) {
                                node_path(p, sizeof(p), root, node, pool);
                                write_u64(p, before - (after - want));
                        } else
                                write_u64(path, before);
                        busy--;
                        return true;
                }
        }

        if (node >= 0) {
                for (int i = 0; i < n_nodes; i++) {
                        if (nodes[i] == node)
                                continue;
                        node_path(p, sizeof(p), root, nodes[i], pool);
                        if (read_u64(p, &c) == 0)
                                others += c;
                }
                got = want;
                if (limit != UINT64_MAX && got > (limit > others ? limit - others : 0)) {
                        node_path(p, sizeof(p), root, node, pool);
                        /* growing stops where memory ends, shrinking always works */
                        if (read_u64(p, &c) < 0)
                                c = 0;
                        got = limit > others ? limit - others : 0;
                        if (got < c && want >= c)
                                got = c;
                }
                write_u64(path, got);
                snprintf(p, sizeof(p), "%s/sys/kernel/mm/hugepages/%s/nr_hugepages", root, pool);
                write_u64(p, others + got);
                return true;
        }

        got = limit != UINT64_MAX && want > limit ? limit : want;
        write_u64(path, got);
        if (n_nodes > 0) {
                uint64_t share[MAX_NODES] = {};
                for (uint64_t i = 0; i < got; i++)
                        share[i % (uint64_t) n_nodes]++;
                for (int i = 0; i < n_nodes; i++) {
                        node_path(p, sizeof(p), root, nodes[i], pool);
                        write_u64(p, share[i]);
                }
        }
        return true;
}

ssize_t write(int fd, const void *buf, size_t count) {
        int saved;

        if (!real_write)
                real_write = (ssize_t (*)(int, const void *, size_t)) dlsym(RTLD_NEXT, "write");
        saved = errno;
        if (fake_pool_write(fd, buf, count)) {
                errno = saved;
                return (ssize_t) count;
        }
        errno = saved;
        return real_write(fd, buf, count);
}
