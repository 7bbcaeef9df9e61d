/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <sys/stat.h>
#include "fileio.h"
#include "hugepages.h"
#include "log.h"
#include "message-ids.h"
#include "parse-util.h"
#include "path-util.h"
#include "state.h"
#include "steps.h"
#include "string-util.h"
#include "strv.h"


/* How many times a growing pool's write is made before a short grant is final. */
#define HUGEPAGES_ATTEMPTS 5U
#define GIGANTIC_PAGE_SIZE (UINT64_C(1) << 30)
/* Why the kernel grants no gigantic page at run time although memory is free, and what to do. */
#define GIGANTIC_REMEDY                                                                          \
        " A 1 GiB page needs a naturally aligned 1 GiB range with no unmovable kernel memory "  \
        "(slab, page tables) in it, and the kernel steals such ranges for its own allocations " \
        "as soon as they are free; at run time this is best effort. Reserve the pages at boot "   \
        "(kernel command line: hugepagesz=1G hugepages=N; \"mhtest check JOB\" prints the "       \
        "arguments), or on a kernel with CONFIG_CMA let it keep a range for them (hugetlb_cma=SIZE)."
/* State (/run/mhtest/JOB/hugepages.state):
 *   "pools":   [ { "page_size": BYTES, "global": N, "nodes": [ { "node": 0, "count": N } ] } ]
 *              the counts before mhtest first touched that page size: revert writes them back
 *              per node (and the global pool, for trees without node directories)
 *   "mount":   { "path": "/dev/hugepages-JOB", "page_size": BYTES, "mounted": bool,
 *                "created_dir": bool }  mounted=false: an existing hugetlbfs mount was reused
 *   "changes": human-readable list for "mhtest status" */

static inline const char *strnull(const char *s) {
        return s ?: "(null)";
}

typedef struct Target {
        uint64_t page_size;
        int node; /* -1: the global pool */
        uint64_t count;
        uint64_t current;
} Target;

static char *size_str(uint64_t sz) {
        char *s = NULL;

        return format_size(sz, &s) < 0 ? NULL : s;
}

static char *pool_str(uint64_t page_size, int node) {
        _cleanup_free_ char *sz = size_str(page_size);
        char *s = NULL;

        if (!sz)
                return NULL;
        if (node < 0)
                (void) asprintf_safe(&s, "%s pages", sz);
        else
                (void) asprintf_safe(&s, "%s pages on node %d", sz, node);
        return s;
}

static json_object *state_find_pool(json_object *st, uint64_t page_size) {
        json_object *pools;

        if (!json_object_object_get_ex(st, "pools", &pools))
                return NULL;
        for (size_t i = 0; i < json_object_array_length(pools); i++) {
                json_object *p = json_object_array_get_idx(pools, i), *v;
                if (json_object_object_get_ex(p, "page_size", &v) &&
                    (uint64_t) json_object_get_int64(v) == page_size)
                        return p;
        }
        return NULL;
}

/* Record every pool of this page size as it is now (global and per node). */
static int state_add_pool(json_object *st, const char *root, uint64_t page_size, const int *nodes, size_t n_nodes) {
        json_object *pools, *p, *jn;
        uint64_t c;
        int r;

        if (state_find_pool(st, page_size))
                return 0; /* the values from before mhtest's first apply win */
        if (!json_object_object_get_ex(st, "pools", &pools)) {
                pools = json_object_new_array();
                json_object_object_add(st, "pools", pools);
        }
        r = hugepages_get(root, page_size, -1, &c);
        if (r < 0)
                return r;
        p = json_object_new_object();
        jn = json_object_new_array();
        json_object_object_add(p, "page_size", json_object_new_int64((int64_t) page_size));
        json_object_object_add(p, "global", json_object_new_int64((int64_t) c));
        json_object_object_add(p, "nodes", jn);
        json_object_array_add(pools, p);
        for (size_t i = 0; i < n_nodes; i++) {
                json_object *o;

                r = hugepages_get(root, page_size, nodes[i], &c);
                if (r < 0)
                        return r;
                o = json_object_new_object();
                json_object_object_add(o, "node", json_object_new_int(nodes[i]));
                json_object_object_add(o, "count", json_object_new_int64((int64_t) c));
                json_object_array_add(jn, o);
        }
        return 0;
}

static int64_t obj_int(json_object *o, const char *key, int64_t def) {
        json_object *v = state_get(o, key);
        return v ? json_object_get_int64(v) : def;
}

/* Write the recorded counts back: shrinking pools first, so the pages they free are there for
 * the pools that grow. Every pool is read back; returns -EBUSY (logged per pool) if one did not
 * come back, e.g. because pages are still in use. */
static int pools_restore(const char *root, json_object *st) {
        json_object *pools;
        int ret = 0;

        if (!json_object_object_get_ex(st, "pools", &pools))
                return 0;
        for (int pass = 0; pass < 3; pass++)
                for (size_t i = 0; i < json_object_array_length(pools); i++) {
                        json_object *p = json_object_array_get_idx(pools, i), *nodes = NULL;
                        uint64_t sz = (uint64_t) obj_int(p, "page_size", 0), want, cur, got;
                        size_t n;

                        (void) json_object_object_get_ex(p, "nodes", &nodes);
                        n = nodes ? json_object_array_length(nodes) : 0;
                        for (size_t k = 0; k <= n; k++) {
                                json_object *o = k < n ? json_object_array_get_idx(nodes, k) : p;
                                int node = k < n ? (int) obj_int(o, "node", -1) : -1;
                                _cleanup_free_ char *what = pool_str(sz, node);
                                int r;

                                want = (uint64_t) obj_int(o, k < n ? "count" : "global", 0);
                                if (hugepages_get(root, sz, node, &cur) < 0)
                                        cur = UINT64_MAX;
                                /* pass 0 shrinks, pass 1 grows, pass 2 only checks; the global
                                 * pool goes last: on a real kernel it is the sum of the nodes
                                 * and already right, a tree of plain files needs the write */
                                if (pass == 2) {
                                        if (cur != want) {
                                                log_error("%s: %" PRIu64 " instead of %" PRIu64
                                                          " after restoring (pages still in use?)",
                                                          strnull(what), cur, want);
                                                ret = -EBUSY;
                                        }
                                        continue;
                                }
                                if (cur == want || (pass == 0) != (cur > want))
                                        continue;
                                r = hugepages_set(root, sz, node, want, &got);
                                if (r < 0) {
                                        log_error_errno(r, "Failed to restore %s to %" PRIu64 ": %m",
                                                        strnull(what), want);
                                        ret = -EBUSY;
                                }
                        }
                }
        return ret;
}

static int mount_restore(const char *root, json_object *st) {
        json_object *m;
        _cleanup_free_ char *path = NULL;
        const char *where;
        uint64_t ps;
        bool mounted;
        int r;

        if (!json_object_object_get_ex(st, "mount", &m) || !(where = json_object_get_string(state_get(m, "path"))))
                return 0;
        path = path_prefix_root(root, where);
        if (!path)
                return log_oom();
        if (json_object_get_boolean(state_get(m, "mounted"))) {
                r = hugetlbfs_probe(path, &mounted, &ps);
                if (r < 0 && r != -ENOENT)
                        return log_error_errno(r, "Failed to inspect %s: %m", path);
                /* Only what is still our hugetlbfs is unmounted: if someone replaced it, it is theirs. */
                if (r >= 0 && mounted && ps == (uint64_t) obj_int(m, "page_size", 0)) {
                        r = hugetlbfs_umount(path);
                        if (r < 0)
                                return log_error_errno(r, "Failed to unmount hugetlbfs at %s: %m", path);
                } else if (r >= 0 && mounted)
                        log_warning("%s is no longer the hugetlbfs mhtest mounted, leaving it alone.", path);
        }
        if (json_object_get_boolean(state_get(m, "created_dir")) && rmdir(path) < 0 && errno != ENOENT)
                log_warning_errno(errno, "Failed to remove %s, ignoring: %m", path);
        return 0;
}

static int hugepages_revert(StepContext *ctx) {
        _cleanup_json_ json_object *st = NULL;
        int r;

        r = state_load(ctx->root, ctx->job->name, "hugepages", &st);
        if (r == -ENOENT) {
                log_info("Hugepages of job %s: nothing to revert.", ctx->job->name);
                return 0;
        }
        if (r < 0)
                return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL, "Failed to load the hugepages state: %m");

        /* Unmount first: pages held by files on our mount could not be freed. */
        r = mount_restore(ctx->root, st);
        if (r < 0)
                return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL,
                                 "Hugepages of job %s not reverted: the hugetlbfs mount stays; state kept.",
                                 ctx->job->name);
        r = pools_restore(ctx->root, st);
        if (r < 0)
                return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_PARTIAL, NULL,
                                 "Hugepages of job %s only partly reverted; state kept, run revert again.",
                                 ctx->job->name);
        r = state_remove(ctx->root, ctx->job->name, "hugepages");
        if (r < 0)
                log_warning_errno(r, "Failed to remove the hugepages state, ignoring: %m");
        log_event(LOG_INFO, 0, MHTEST_MESSAGE_STEP_REVERTED, NULL,
                  "Hugepages of job %s reverted: previous page counts restored.", ctx->job->name);
        return 0;
}

static uint64_t floor_bytes(StepContext *ctx) {
        if (ctx->job->hugepages->min_available_memory > 0)
                return ctx->job->hugepages->min_available_memory;
        return ctx->config->safety ? ctx->config->safety->min_available_memory : 0;
}

static int hugepages_apply(StepContext *ctx) {
        HugePagesSection *h = ctx->job->hugepages;
        _cleanup_json_ json_object *st = NULL;
        _cleanup_free_ Target *targets = NULL;
        _cleanup_free_ int *nodes = NULL;
        _cleanup_free_ char *mount_path = NULL;
        size_t n_targets = 0, n_nodes = 0;
        uint64_t mount_ps = 0, avail, need = 0, released = 0, floor = floor_bytes(ctx), mounted_ps = 0;
        bool had_state, do_mount = false, mounted = false, changed = false;
        json_object *m_old = NULL;
        int r;

        if (!h || strv_length(h->pages) == 0) {
                log_event(LOG_INFO, 0, MHTEST_MESSAGE_STEP_UNCHANGED, NULL, "Job %s requests no hugepages.",
                          ctx->job->name);
                return 1;
        }

        /* ---- validate everything before touching anything ---- */
        r = hugepages_nodes(ctx->root, &nodes, &n_nodes);
        if (r < 0)
                return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL, "Failed to list NUMA nodes: %m");
        targets = calloc(strv_length(h->pages), sizeof(Target));
        if (!targets)
                return log_oom();
        STRV_FOREACH(item, h->pages) {
                HugePagesRequest q;
                Target *t = &targets[n_targets];
                _cleanup_free_ char *sz = NULL;

                r = hugepages_request_parse(*item, &q);
                if (r < 0)
                        return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_REFUSED, NULL,
                                         "[HugePages] Pages=%s is not valid.", *item);
                sz = size_str(q.page_size);
                if (!hugepages_size_supported(ctx->root, q.page_size)) {
                        _cleanup_free_ uint64_t *sizes = NULL;
                        _cleanup_free_ char *offered = NULL;
                        size_t n = 0;

                        (void) hugepages_sizes(ctx->root, &sizes, &n);
                        for (size_t i = 0; i < n; i++) {
                                _cleanup_free_ char *s = size_str(sizes[i]);
                                char *j = strjoin(strempty(offered), offered ? " " : "", strnull(s));
                                free(offered);
                                offered = j;
                        }
                        return log_event(LOG_ERR, -EOPNOTSUPP, MHTEST_MESSAGE_STEP_REFUSED, NULL,
                                         "[HugePages] Pages=%s: the kernel offers no %s pages (offered: %s); "
                                         "1G pages may need hugepagesz=1G on the kernel command line.",
                                         *item, strnull(sz), isempty(offered) ? "none" : offered);
                }
                if (q.node >= 0 && !hugepages_node_exists(ctx->root, q.node))
                        return log_event(LOG_ERR, -ENXIO, MHTEST_MESSAGE_STEP_REFUSED, NULL,
                                         "[HugePages] Pages=%s: NUMA node %d does not exist or has no hugepages.",
                                         *item, q.node);
                for (size_t i = 0; i < n_targets; i++)
                        if (targets[i].page_size == q.page_size && (targets[i].node < 0) != (q.node < 0))
                                return log_event(LOG_ERR, -EINVAL, MHTEST_MESSAGE_STEP_REFUSED, NULL,
                                                 "[HugePages] Pages=%s: %s pages are requested both for all "
                                                 "nodes and per node; use one form per page size.",
                                                 *item, strnull(sz));
                t->page_size = q.page_size;
                t->node = q.node;
                t->count = q.count > 0 ? q.count : q.bytes / q.page_size;
                r = hugepages_get(ctx->root, t->page_size, t->node, &t->current);
                if (r < 0)
                        return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL,
                                         "Failed to read the %s pool: %m", strnull(sz));
                if (t->count >= t->current)
                        need += (t->count - t->current) * t->page_size;
                else
                        released += (t->current - t->count) * t->page_size;
                n_targets++;
        }

        if (h->mount_point) {
                mount_ps = h->mount_page_size ?: targets[0].page_size;
                mount_path = path_prefix_root(ctx->root, h->mount_point);
                if (!mount_path)
                        return log_oom();
                if (!hugepages_size_supported(ctx->root, mount_ps))
                        return log_event(LOG_ERR, -EOPNOTSUPP, MHTEST_MESSAGE_STEP_REFUSED, NULL,
                                         "[HugePages] MountPageSize=%" PRIu64 " is not a page size the kernel offers.",
                                         mount_ps);
                r = hugetlbfs_probe(mount_path, &mounted, &mounted_ps);
                if (r == -ENOENT)
                        mounted = false;
                else if (r < 0)
                        return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL, "Failed to inspect %s: %m",
                                         mount_path);
                if (mounted && mounted_ps != mount_ps) {
                        _cleanup_free_ char *want = size_str(mount_ps), *have = size_str(mounted_ps);
                        return log_event(LOG_ERR, -EBUSY, MHTEST_MESSAGE_STEP_REFUSED, NULL,
                                         "[HugePages] MountPoint=%s: %s%s is mounted there, not hugetlbfs with "
                                         "pagesize=%s; mhtest neither mounts over nor unmounts someone else's mount.",
                                         h->mount_point, mounted_ps ? "hugetlbfs with pagesize=" : "another file system",
                                         mounted_ps ? strnull(have) : "", strnull(want));
                }
                do_mount = !mounted;
        }

        if (need > released) {
                r = meminfo_get(ctx->root, "MemAvailable", &avail);
                if (r < 0)
                        return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL,
                                         "Failed to read MemAvailable from /proc/meminfo: %m");
                if (avail < floor || need - released > avail - floor) {
                        _cleanup_free_ char *a = size_str(avail / 1024 * 1024), *f = size_str(floor),
                                            *n = size_str((need - released) / 1024 * 1024);
                        return log_event(LOG_ERR, -ENOMEM, MHTEST_MESSAGE_STEP_REFUSED, NULL,
                                         "Hugepages of job %s refused: they need %s more, %s is available and "
                                         "at least %s must stay available (MinAvailableMemory=).",
                                         ctx->job->name, strnull(n), strnull(a), strnull(f));
                }
        }

        /* ---- record how to undo it, then change ---- */
        r = state_load(ctx->root, ctx->job->name, "hugepages", &st);
        if (r < 0 && r != -ENOENT)
                return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL, "Failed to load the hugepages state: %m");
        had_state = r >= 0;
        if (!st)
                st = json_object_new_object();
        for (size_t i = 0; i < n_targets; i++) {
                _cleanup_free_ char *what = pool_str(targets[i].page_size, targets[i].node);

                r = state_add_pool(st, ctx->root, targets[i].page_size, nodes, n_nodes);
                if (r < 0)
                        return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL,
                                         "Failed to read the hugepage pools: %m");
                if (targets[i].current != targets[i].count) {
                        state_add_change(st, "%s: %" PRIu64 " -> %" PRIu64, strnull(what), targets[i].current,
                                    targets[i].count);
                        changed = true;
                }
        }
        if (h->mount_point && json_object_object_get_ex(st, "mount", &m_old) &&
            !streq_ptr(json_object_get_string(state_get(m_old, "path")), h->mount_point))
                return log_event(LOG_ERR, -EBUSY, MHTEST_MESSAGE_STEP_REFUSED, NULL,
                                 "[HugePages] MountPoint=%s: the job was applied with MountPoint=%s; revert it "
                                 "first.", h->mount_point, strnull(json_object_get_string(state_get(m_old, "path"))));
        if (do_mount) {
                json_object *m;
                _cleanup_free_ char *ps = size_str(mount_ps);

                if (!json_object_object_get_ex(st, "mount", &m)) {
                        m = json_object_new_object();
                        json_object_object_add(m, "path", json_object_new_string(h->mount_point));
                        json_object_object_add(m, "created_dir", json_object_new_boolean(!dir_exists(mount_path)));
                        json_object_object_add(st, "mount", m);
                }
                json_object_object_add(m, "page_size", json_object_new_int64((int64_t) mount_ps));
                json_object_object_add(m, "mounted", json_object_new_boolean(true));
                state_add_change(st, "mounted hugetlbfs pagesize=%s at %s", strnull(ps), h->mount_point);
                changed = true;
        } else if (h->mount_point && !json_object_object_get_ex(st, "mount", NULL)) {
                /* reused as it was: nothing to undo, but status tells */
                json_object *m = json_object_new_object();
                json_object_object_add(m, "path", json_object_new_string(h->mount_point));
                json_object_object_add(m, "page_size", json_object_new_int64((int64_t) mount_ps));
                json_object_object_add(m, "mounted", json_object_new_boolean(false));
                json_object_object_add(st, "mount", m);
                state_add_change(st, "reused the hugetlbfs already mounted at %s", h->mount_point);
        }

        if (!changed && had_state) {
                log_event(LOG_INFO, 0, MHTEST_MESSAGE_STEP_UNCHANGED, NULL,
                          "Hugepages of job %s already as requested, nothing changed.", ctx->job->name);
                return 1;
        }
        r = state_save(ctx->root, ctx->job->name, "hugepages", st);
        if (r < 0)
                return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL,
                                 "Failed to write the hugepages state, nothing changed: %m");
        if (!changed) {
                log_event(LOG_INFO, 0, MHTEST_MESSAGE_STEP_UNCHANGED, NULL,
                          "Hugepages of job %s already as requested, nothing changed.", ctx->job->name);
                return 1;
        }

        /* shrink first, so that what is freed can be used by the pools that grow */
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < n_targets; i++) {
                        Target *t = &targets[i];
                        _cleanup_free_ char *what = pool_str(t->page_size, t->node);
                        uint64_t got = 0;

                        if (t->count == t->current || (pass == 0) != (t->count < t->current))
                                continue;
                        r = hugepages_set(ctx->root, t->page_size, t->node, t->count, &got);
                        /* A growing pool may be granted less than asked where a moment later the
                         * same write succeeds: a page of the pool needs a free (or movable)
                         * naturally aligned range, and alloc_contig_range() fails transiently on
                         * pages that are in flight (measured with 1 GiB pages on Debian's 6.1:
                         * one of several writes in a row failed). A few more writes, no more: a
                         * range that unmovable kernel memory occupies stays unusable. */
                        for (unsigned attempt = 2; r >= 0 && got < t->count && t->count > t->current &&
                                                   attempt <= HUGEPAGES_ATTEMPTS;
                             attempt++) {
                                log_info("%s: asked for %" PRIu64 ", the kernel granted %" PRIu64
                                         "; asking again (attempt %u of %u).",
                                         strnull(what), t->count, got, attempt, HUGEPAGES_ATTEMPTS);
                                r = hugepages_set(ctx->root, t->page_size, t->node, t->count, &got);
                        }
                        if (r >= 0 && got == t->count)
                                continue;
                        if (r < 0)
                                log_error_errno(r, "Failed to set %s to %" PRIu64 ": %m", strnull(what), t->count);
                        if (pools_restore(ctx->root, st) < 0)
                                return log_event(LOG_ERR, r < 0 ? r : -ENOMEM, MHTEST_MESSAGE_STEP_PARTIAL, NULL,
                                                 "Hugepages of job %s: %s: asked for %" PRIu64 ", got %" PRIu64
                                                 "; giving the pages back failed too, state kept for revert.",
                                                 ctx->job->name, strnull(what), t->count, got);
                        (void) mount_restore(ctx->root, st);
                        (void) state_remove(ctx->root, ctx->job->name, "hugepages");
                        if (r < 0)
                                return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL,
                                                 "Hugepages of job %s not applied: %s could not be set; "
                                                 "previous counts restored.", ctx->job->name, strnull(what));
                        return log_event(LOG_ERR, -ENOMEM, MHTEST_MESSAGE_STEP_PARTIAL, NULL,
                                         "Hugepages of job %s not applied: %s: asked for %" PRIu64
                                         ", the kernel granted %" PRIu64 " (%u attempts); gave them back, previous "
                                         "counts restored.%s",
                                         ctx->job->name, strnull(what), t->count, got, HUGEPAGES_ATTEMPTS,
                                         t->page_size >= GIGANTIC_PAGE_SIZE ? GIGANTIC_REMEDY : "");
                }

        if (do_mount) {
                uint64_t ps = 0;

                r = mkdir_p(mount_path, 0755);
                if (r >= 0)
                        r = hugetlbfs_mount(mount_path, mount_ps);
                if (r >= 0)
                        r = hugetlbfs_probe(mount_path, &mounted, &ps);
                if (r >= 0 && (!mounted || ps != mount_ps))
                        r = -EIO;
                if (r < 0) {
                        log_error_errno(r, "Failed to mount hugetlbfs at %s: %m", mount_path);
                        (void) mount_restore(ctx->root, st);
                        if (pools_restore(ctx->root, st) >= 0)
                                (void) state_remove(ctx->root, ctx->job->name, "hugepages");
                        return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL,
                                         "Hugepages of job %s not applied: mounting hugetlbfs at %s failed.",
                                         ctx->job->name, h->mount_point);
                }
        }

        _cleanup_free_ char *summary = strv_join(h->pages, " ");
        log_event(LOG_INFO, 0, MHTEST_MESSAGE_STEP_APPLIED, NULL, "Hugepages of job %s applied: %s%s%s.",
                  ctx->job->name, strnull(summary), do_mount ? ", hugetlbfs mounted at " : "",
                  do_mount ? h->mount_point : "");
        return 0;
}

const Step step_hugepages = {
        .name = "hugepages",
        .description = "hugepage reservation and hugetlbfs mount",
        .apply = hugepages_apply,
        .revert = hugepages_revert,
};
