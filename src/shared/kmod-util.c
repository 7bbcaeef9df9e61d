/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <sys/utsname.h>
#include "fileio.h"
#include "kmod-util.h"
#include "parse-util.h"
#include "path-util.h"
#include "string-util.h"
#include "strv.h"

static const char *const module_state_table[_MODULE_STATE_MAX] = {
        [MODULE_NOT_LOADED] = "not-loaded",
        [MODULE_LIVE] = "live",
        [MODULE_COMING] = "coming",
        [MODULE_GOING] = "going",
        [MODULE_BUILTIN] = "builtin",
};
DEFINE_STRING_TABLE_LOOKUP(module_state, ModuleState);

static int kernel_release(const char *root, char **ret) {
        _cleanup_free_ char *p = path_prefix_root(root, "/proc/sys/kernel/osrelease");
        struct utsname u;

        if (!p)
                return -ENOMEM;
        if (read_one_line_file(p, ret) >= 0 && !isempty(*ret))
                return 0;
        if (uname(&u) < 0)
                return -errno;
        *ret = strdup(u.release);
        return *ret ? 0 : -ENOMEM;
}

/* kmod names modules with '_'; users and modprobe.d may write '-'. */
static char *module_name_normalize(const char *name) {
        char *s = strdup(name);

        for (char *p = s; p && *p; p++)
                if (*p == '-')
                        *p = '_';
        return s;
}

int module_context_new(const char *root, struct kmod_ctx **ret) {
        static const char *const dirs[] = { "/etc/modprobe.d", "/run/modprobe.d", "/usr/local/lib/modprobe.d",
                                            "/lib/modprobe.d" };
        _cleanup_free_ char *release = NULL, *rel = NULL, *dirname = NULL;
        _cleanup_strv_free_ char **config = NULL;
        struct kmod_ctx *ctx;
        int r;

        r = kernel_release(root, &release);
        if (r < 0)
                return r;
        rel = strjoin("/lib/modules/", release);
        if (!rel)
                return -ENOMEM;
        dirname = path_prefix_root(root, rel);
        if (!dirname)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                char *p = path_prefix_root(root, dirs[i]);

                if (!p || strv_consume(&config, p) < 0)
                        return -ENOMEM;
        }
        ctx = kmod_new(dirname, (const char *const *) config);
        if (!ctx)
                return -ENOMEM;
        *ret = ctx;
        return 0;
}

static int module_lookup(struct kmod_ctx *ctx, const char *name, struct kmod_module **ret) {
        _cleanup_(kmod_module_unref_listp) struct kmod_list *list = NULL;
        int r;

        r = kmod_module_new_from_lookup(ctx, name, &list);
        if (r < 0)
                return r;
        if (!list)
                return -ENOENT;
        *ret = kmod_module_get_module(list);
        return *ret ? 0 : -ENOENT;
}

/* A context for root and the module a name (or alias) resolves to. */
static int module_open(const char *root, const char *name, struct kmod_ctx **ret_ctx, struct kmod_module **ret_mod) {
        _cleanup_(kmod_unrefp) struct kmod_ctx *ctx = NULL;
        int r;

        r = module_context_new(root, &ctx);
        if (r < 0)
                return r;
        r = module_lookup(ctx, name, ret_mod);
        if (r < 0)
                return r;
        *ret_ctx = TAKE_PTR(ctx);
        return 0;
}

int module_available(const char *root, const char *name) {
        _cleanup_(kmod_unrefp) struct kmod_ctx *ctx = NULL;
        _cleanup_(kmod_module_unrefp) struct kmod_module *mod = NULL;
        ModuleState st;
        int r;

        if (module_state(root, name, &st) >= 0 && st != MODULE_NOT_LOADED)
                return 1;
        r = module_open(root, name, &ctx, &mod);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        /* A lookup "finds" any name; only a path or a built-in entry means it exists. */
        return kmod_module_get_path(mod) || kmod_module_get_initstate(mod) == KMOD_MODULE_BUILTIN;
}

static char *sys_module_path(const char *root, const char *name, const char *suffix) {
        _cleanup_free_ char *n = module_name_normalize(name), *rel = NULL;

        if (!n)
                return NULL;
        rel = strjoin("/sys/module/", n, suffix ? "/" : "", strempty(suffix));
        return rel ? path_prefix_root(root, rel) : NULL;
}

int module_state(const char *root, const char *name, ModuleState *ret) {
        _cleanup_free_ char *dir = sys_module_path(root, name, NULL), *p = sys_module_path(root, name, "initstate"),
                            *s = NULL;
        int r;

        if (!dir || !p)
                return -ENOMEM;
        r = read_one_line_file(p, &s);
        if (r == -ENOENT) {
                /* Built-in modules have /sys/module/NAME (for parameters) without initstate. */
                *ret = dir_exists(dir) ? MODULE_BUILTIN : MODULE_NOT_LOADED;
                return 0;
        }
        if (r < 0)
                return r;
        if (streq(s, "live"))
                *ret = MODULE_LIVE;
        else if (streq(s, "coming"))
                *ret = MODULE_COMING;
        else if (streq(s, "going"))
                *ret = MODULE_GOING;
        else
                return -EBADMSG;
        return 0;
}

int module_users(const char *root, const char *name, unsigned *ret_refcnt, char ***ret_holders) {
        _cleanup_free_ char *p = sys_module_path(root, name, "refcnt"), *h = sys_module_path(root, name, "holders"),
                            *s = NULL;
        _cleanup_strv_free_ char **holders = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        unsigned refcnt = 0;
        int r;

        if (!p || !h)
                return -ENOMEM;
        r = read_one_line_file(p, &s);
        if (r < 0 && r != -ENOENT)
                return r;
        if (r >= 0 && parse_unsigned(s, &refcnt) < 0)
                return -EBADMSG;
        d = opendir(h);
        if (d) {
                struct dirent *de;

                while ((de = readdir(d)))
                        if (de->d_name[0] != '.' && strv_extend(&holders, de->d_name) < 0)
                                return -ENOMEM;
        }
        strv_sort(holders);
        if (ret_refcnt)
                *ret_refcnt = refcnt;
        if (ret_holders)
                *ret_holders = TAKE_PTR(holders);
        return 0;
}

int module_param_read(const char *root, const char *name, const char *param, char **ret) {
        _cleanup_free_ char *rel = strjoin("parameters/", param), *p = NULL;

        if (!rel)
                return -ENOMEM;
        p = sys_module_path(root, name, rel);
        if (!p)
                return -ENOMEM;
        return read_one_line_file(p, ret);
}

bool module_param_is_on(const char *v) {
        unsigned u;

        if (!v)
                return false;
        if (streq(v, "Y") || streq(v, "y"))
                return true;
        return parse_unsigned(v, &u) >= 0 && u > 0;
}

int module_load(const char *root, const char *name, const char *options) {
        _cleanup_(kmod_unrefp) struct kmod_ctx *ctx = NULL;
        _cleanup_(kmod_module_unrefp) struct kmod_module *mod = NULL;
        int r;

        r = module_open(root, name, &ctx, &mod);
        if (r < 0)
                return r;
        /* No install commands: they are shell strings, and mhtest never runs a shell. */
        r = kmod_module_probe_insert_module(mod, KMOD_PROBE_IGNORE_COMMAND | KMOD_PROBE_FAIL_ON_LOADED, options,
                                            NULL, NULL, NULL);
        if (r == -EEXIST)
                return 1;
        if (r > 0) /* blacklisted */
                return -EPERM;
        return r;
}

static int plan_add(const char *root, struct kmod_module *m, char ***l) {
        ModuleState st;
        int r;

        r = module_state(root, kmod_module_get_name(m), &st);
        if (r < 0)
                return r;
        if (st != MODULE_NOT_LOADED || strv_contains(*l, kmod_module_get_name(m)))
                return 0;
        return strv_extend(l, kmod_module_get_name(m));
}

static int plan_walk(const char *root, struct kmod_module *m, char ***l, unsigned depth) {
        _cleanup_(kmod_module_unref_listp) struct kmod_list *deps = kmod_module_get_dependencies(m);
        struct kmod_list *i;
        int r;

        if (depth > 64)
                return -ELOOP;
        kmod_list_foreach(i, deps) {
                _cleanup_(kmod_module_unrefp) struct kmod_module *d = kmod_module_get_module(i);

                r = plan_walk(root, d, l, depth + 1);
                if (r < 0)
                        return r;
        }
        return plan_add(root, m, l);
}

int module_load_plan(const char *root, const char *name, char ***ret) {
        _cleanup_(kmod_unrefp) struct kmod_ctx *ctx = NULL;
        _cleanup_(kmod_module_unrefp) struct kmod_module *mod = NULL;
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        int r;

        if (!l)
                return -ENOMEM;
        r = module_open(root, name, &ctx, &mod);
        if (r < 0)
                return r;
        r = plan_walk(root, mod, &l, 0);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(l);
        return 0;
}

int module_unload(const char *root, const char *name) {
        _cleanup_(kmod_unrefp) struct kmod_ctx *ctx = NULL;
        _cleanup_(kmod_module_unrefp) struct kmod_module *mod = NULL;
        _cleanup_free_ char *n = module_name_normalize(name);
        int r;

        if (!n)
                return -ENOMEM;
        r = module_context_new(root, &ctx);
        if (r < 0)
                return r;
        r = kmod_module_new_from_name(ctx, n, &mod);
        if (r < 0)
                return r;
        r = kmod_module_remove_module(mod, KMOD_REMOVE_NOWAIT);
        /* The kernel says EWOULDBLOCK (== EAGAIN) for a module in use. */
        return r == -EAGAIN ? -EBUSY : r;
}

int kvm_users(const char *root, char ***ret) {
        _cleanup_free_ char *proc = path_prefix_root(root, "/proc");
        _cleanup_strv_free_ char **users = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;

        if (!proc)
                return -ENOMEM;
        d = opendir(proc);
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                _cleanup_free_ char *fddir = NULL, *comm_path = NULL, *comm = NULL;
                _cleanup_closedir_ DIR *fds = NULL;
                struct dirent *fe;
                unsigned pid;
                bool uses = false;

                if (parse_unsigned(de->d_name, &pid) < 0)
                        continue;
                if (asprintf_safe(&fddir, "%s/%u/fd", proc, pid) < 0 ||
                    asprintf_safe(&comm_path, "%s/%u/comm", proc, pid) < 0)
                        return -ENOMEM;
                fds = opendir(fddir);
                if (!fds)
                        continue; /* gone, or not ours to look at */
                while (!uses && (fe = readdir(fds))) {
                        char target[256];
                        ssize_t n = readlinkat(dirfd(fds), fe->d_name, target, sizeof(target) - 1);

                        if (n <= 0)
                                continue;
                        target[n] = 0;
                        uses = streq(target, "/dev/kvm") || startswith(target, "anon_inode:kvm-vm");
                }
                if (!uses)
                        continue;
                (void) read_one_line_file(comm_path, &comm);
                char *u = NULL;
                if (asprintf_safe(&u, "%s[%u]", comm ?: "?", pid) < 0 || strv_consume(&users, u) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(users);
        return 0;
}
