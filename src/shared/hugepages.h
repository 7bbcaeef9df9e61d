/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include "macro.h"

/* Hugepage pools as the kernel offers them in sysfs, below --root:
 *   /sys/kernel/mm/hugepages/hugepages-<KB>kB/nr_hugepages                    (global, node = -1)
 *   /sys/devices/system/node/node<N>/hugepages/hugepages-<KB>kB/nr_hugepages  (per NUMA node)
 * Only sysfs is used, never /proc/sys/vm, so the files may also be plain files bound over sysfs
 * (lab containers): every write truncates and is read back. */

/* Page sizes (bytes) the kernel offers, ascending. */
int hugepages_sizes(const char *root, uint64_t **ret_sizes, size_t *ret_n);
/* NUMA nodes that have hugepage pools, ascending; none if the kernel has no node directories. */
int hugepages_nodes(const char *root, int **ret_nodes, size_t *ret_n);
bool hugepages_size_supported(const char *root, uint64_t page_size);
bool hugepages_node_exists(const char *root, int node);

/* The nr_hugepages file of a pool (node -1: global). */
int hugepages_pool_path(const char *root, uint64_t page_size, int node, char **ret);
int hugepages_get(const char *root, uint64_t page_size, int node, uint64_t *ret_count);
/* Write the persistent pool size and read it back: ret_count is what the kernel granted, which
 * may be less than asked (no error then: the caller decides what a short pool means). */
int hugepages_set(const char *root, uint64_t page_size, int node, uint64_t count, uint64_t *ret_count);

/* A field of /proc/meminfo in bytes ("MemAvailable"). */
int meminfo_get(const char *root, const char *field, uint64_t *ret_bytes);

/* What is mounted at path: ret_mounted tells whether path is a mount point at all; if it is a
 * hugetlbfs, ret_page_size is its page size, else 0. */
int hugetlbfs_probe(const char *path, bool *ret_mounted, uint64_t *ret_page_size);
int hugetlbfs_mount(const char *path, uint64_t page_size);
int hugetlbfs_umount(const char *path);
