/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu-util.h"
#include "fileio.h"
#include "kmod-util.h"
#include "log.h"
#include "message-ids.h"
#include "path-util.h"
#include "state.h"
#include "steps.h"
#include "string-util.h"
#include "strv.h"

/* Nested KVM: "options kvm_* nested=1" in a modprobe.d drop-in (so every later load has it)
 * and, if the module is loaded with nested off and unused, a reload through libkmod. The state
 * records the drop-in as it was and the module's state before, so revert can restore both,
 * whatever point a crashed apply reached. */

#define NESTED_DROPIN "/etc/modprobe.d/mhtest-nested.conf"

static const char *module_from_config(int m) {
        return m == KVM_MODULE_INTEL ? "kvm_intel" : m == KVM_MODULE_AMD ? "kvm_amd" : NULL;
}

/* The users that keep a module from being reloaded, as one readable list; NULL if none. */
static int module_blockers(const char *root, const char *module, char **ret) {
        _cleanup_strv_free_ char **holders = NULL, **procs = NULL, **l = NULL;
        unsigned refcnt = 0;
        int r;

        r = module_users(root, module, &refcnt, &holders);
        if (r < 0)
                return r;
        if (refcnt == 0 && strv_length(holders) == 0) {
                *ret = NULL;
                return 0;
        }
        STRV_FOREACH(h, holders) {
                char *s = strjoin("module ", *h);
                if (!s || strv_consume(&l, s) < 0)
                        return -ENOMEM;
        }
        if (kvm_users(root, &procs) >= 0)
                STRV_FOREACH(p, procs) {
                        char *s = strjoin("process ", *p);
                        if (!s || strv_consume(&l, s) < 0)
                                return -ENOMEM;
                }
        if (refcnt > 0) {
                char *s = NULL;
                if (asprintf_safe(&s, "%u reference(s) (running guests hold /dev/kvm)", refcnt) < 0 ||
                    strv_consume(&l, s) < 0)
                        return -ENOMEM;
        }
        *ret = strv_join(l, ", ");
        return *ret ? 1 : -ENOMEM;
}

/* Unload and load again with options; if loading fails, try to give the host its module back
 * with fallback_options so KVM is not left missing. */
static int module_reload(const char *root, const char *module, const char *options, const char *fallback_options) {
        int r;

        r = module_unload(root, module);
        if (r < 0)
                return log_error_errno(r, "Failed to unload %s: %m", module);
        r = module_load(root, module, options);
        if (r < 0) {
                log_error_errno(r, "Failed to load %s with \"%s\": %m", module, options);
                if (module_load(root, module, fallback_options) < 0)
                        log_error("Failed to load %s again with \"%s\"; KVM is not available until it is loaded.",
                                  module, strempty(fallback_options));
                return r;
        }
        return 0;
}

static int read_dropin(const char *root, char **ret) {
        _cleanup_free_ char *p = path_prefix_root(root, NESTED_DROPIN);
        int r;

        if (!p)
                return -ENOMEM;
        r = read_full_file(p, ret, NULL);
        if (r == -ENOENT) {
                *ret = NULL;
                return 0;
        }
        return r;
}

static int write_dropin(const char *root, const char *contents) {
        _cleanup_free_ char *p = path_prefix_root(root, NESTED_DROPIN);
        int r;

        if (!p)
                return -ENOMEM;
        if (!contents)
                return unlink(p) < 0 && errno != ENOENT ? -errno : 0;
        r = mkdir_parents(p, 0755);
        if (r < 0)
                return r;
        return write_file_atomic(p, contents, 0644);
}

static int nested_apply(StepContext *ctx) {
        const NestedSection *ns = ctx->job->nested;
        _cleanup_(cpu_info_done) CpuInfo cpu = {};
        _cleanup_json_ json_object *st = NULL;
        _cleanup_free_ char *want = NULL, *dropin = NULL, *value = NULL, *blockers = NULL, *opt_on = NULL,
                            *opt_prev = NULL;
        _cleanup_strv_free_ char **plan = NULL;
        const char *module, *cpu_module;
        bool loaded, nested_on, need_dropin, need_load, need_reload, have_state;
        json_object *changes;
        ModuleState ms;
        int mode = ns ? ns->enable : NESTED_NO, r;

        if (mode == NESTED_NO) {
                log_event(LOG_INFO, 0, MHTEST_MESSAGE_STEP_UNCHANGED, NULL,
                          "Nested virtualization not requested ([Nested] Enable=no); nothing to do.");
                return 1;
        }

        /* Validate everything first. */
        r = cpu_info_read(ctx->root, &cpu);
        if (r < 0)
                return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL, "Failed to read /proc/cpuinfo: %m");
        cpu_module = cpu_info_kvm_module(&cpu);
        module = module_from_config(ns->module) ?: cpu_module;
        if (!cpu_module || !streq(module, cpu_module)) {
                const char *why = !cpu_module ? "the CPU has no virtualization extensions (neither vmx nor svm)"
                                              : "the CPU does not support the configured Module=";
                if (mode == NESTED_AUTO) {
                        log_event(LOG_WARNING, 0, MHTEST_MESSAGE_STEP_SKIPPED, NULL,
                                  "Nested KVM skipped: %s (%s); [Nested] Enable=auto allows that, guests run under TCG.",
                                  why, strna(cpu.vendor_id));
                        return 1;
                }
                return log_event(LOG_ERR, -EOPNOTSUPP, MHTEST_MESSAGE_STEP_REFUSED, NULL,
                                 "Refusing nested KVM with %s: %s (%s). Set [Nested] Enable=auto to skip it on such hosts.",
                                 module ?: "kvm", why, strna(cpu.vendor_id));
        }

        r = state_load(ctx->root, ctx->job->name, "nested", &st);
        if (r < 0 && r != -ENOENT)
                return log_error_errno(r, "Failed to read the state of a previous apply: %m");
        have_state = r >= 0;
        if (have_state && !streq_ptr(state_get_string(st, "module"), module))
                return log_event(LOG_ERR, -EBUSY, MHTEST_MESSAGE_STEP_REFUSED, NULL,
                                 "Refusing: a previous apply changed %s; revert it first (mhtest revert nested %s).",
                                 strna(state_get_string(st, "module")), ctx->job->name);

        if (asprintf_safe(&want, "# Written by mhtest for job %s; removed by \"mhtest revert nested %s\".\noptions %s nested=1\n",
                          ctx->job->name, ctx->job->name, module) < 0 ||
            asprintf_safe(&opt_on, "nested=1") < 0)
                return log_oom();
        r = read_dropin(ctx->root, &dropin);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s: %m", NESTED_DROPIN);
        r = module_state(ctx->root, module, &ms);
        if (r < 0)
                return log_error_errno(r, "Failed to read the state of module %s: %m", module);
        loaded = ms != MODULE_NOT_LOADED;
        if (loaded) {
                r = module_param_read(ctx->root, module, "nested", &value);
                if (r < 0)
                        return log_error_errno(r, "Failed to read /sys/module/%s/parameters/nested: %m", module);
        }
        nested_on = module_param_is_on(value);
        need_dropin = !streq_ptr(dropin, want);
        need_load = !loaded;
        need_reload = loaded && !nested_on;

        if (need_reload && ms == MODULE_BUILTIN)
                return log_event(LOG_ERR, -EOPNOTSUPP, MHTEST_MESSAGE_STEP_REFUSED, NULL,
                                 "Refusing: %s is built into the kernel with nested=%s; add %s.nested=1 to the kernel command line.",
                                 module, value, module);
        if (need_reload && !ns->reload) {
                log_warning("%s is loaded with nested=%s and [Nested] Reload=no: nested KVM takes effect at its next load.",
                            module, value);
                need_reload = false;
        }
        if (need_reload) {
                r = module_blockers(ctx->root, module, &blockers);
                if (r < 0)
                        return log_error_errno(r, "Failed to read the users of %s: %m", module);
                if (blockers)
                        return log_event(LOG_ERR, -EBUSY, MHTEST_MESSAGE_STEP_REFUSED, NULL,
                                         "Refusing to reload %s with nested=1: it is in use by %s. Stop the guests first; nothing was changed.",
                                         module, blockers);
        }
        if (need_load) {
                r = module_load_plan(ctx->root, module, &plan);
                if (r < 0)
                        return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL,
                                         "Cannot load %s: not found in the module tree: %m", module);
        }
        if (!need_dropin && !need_load && !need_reload) {
                if (!nested_on) {
                        log_event(LOG_INFO, 0, MHTEST_MESSAGE_STEP_UNCHANGED, NULL,
                                  "%s in place; %s keeps nested=%s until it is loaded again ([Nested] Reload=no); nothing changed.",
                                  NESTED_DROPIN, module, strna(value));
                        return 1;
                }
                log_event(LOG_INFO, 0, MHTEST_MESSAGE_STEP_UNCHANGED, NULL,
                          "Nested KVM already enabled: %s nested=%s, %s in place; nothing changed.", module,
                          strna(value), NESTED_DROPIN);
                return 1;
        }

        /* Record what revert needs before the first change. A state from an earlier (possibly
         * crashed) apply is kept: it holds the host as it was before mhtest touched it. */
        if (!have_state) {
                st = json_object_new_object();
                json_object_object_add(st, "module", json_object_new_string(module));
                json_object_object_add(st, "dropin", json_object_new_string(NESTED_DROPIN));
                json_object_object_add(st, "dropin_previous", state_new_string_or_null(dropin));
                json_object_object_add(st, "dropin_ours", json_object_new_string(want));
                json_object_object_add(st, "loaded_before", json_object_new_boolean(loaded));
                json_object_object_add(st, "nested_before", state_new_string_or_null(value));
                if (plan) {
                        json_object *jp = json_object_new_array();
                        STRV_FOREACH(m, plan)
                                json_object_array_add(jp, json_object_new_string(*m));
                        json_object_object_add(st, "modules_loaded", jp);
                }
                changes = json_object_new_array();
                json_object_array_add(changes, json_object_new_string(dropin ? "replaced " NESTED_DROPIN
                                                                             : "created " NESTED_DROPIN));
                if (need_load)
                        json_object_array_add(changes, json_object_new_string("loaded the KVM module with nested=1"));
                if (need_reload)
                        json_object_array_add(changes, json_object_new_string("reloaded the KVM module with nested=1"));
                json_object_object_add(st, "changes", changes);
                r = state_save(ctx->root, ctx->job->name, "nested", st);
                if (r < 0)
                        return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL,
                                         "Failed to record the state for revert; nothing was changed: %m");
        }

        if (need_dropin) {
                r = write_dropin(ctx->root, want);
                if (r < 0)
                        return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL, "Failed to write %s: %m",
                                         NESTED_DROPIN);
        }
        if (need_load) {
                r = module_load(ctx->root, module, opt_on);
                if (r < 0)
                        return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_PARTIAL, NULL,
                                         "Wrote %s but failed to load %s: %m; \"mhtest revert nested %s\" undoes it.",
                                         NESTED_DROPIN, module, ctx->job->name);
        }
        if (need_reload) {
                if (asprintf_safe(&opt_prev, "nested=%s", value) < 0)
                        return log_oom();
                r = module_reload(ctx->root, module, opt_on, opt_prev);
                if (r < 0)
                        return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_PARTIAL, NULL,
                                         "Wrote %s but could not reload %s; \"mhtest revert nested %s\" undoes it.",
                                         NESTED_DROPIN, module, ctx->job->name);
        }
        if (need_load || need_reload) {
                free(value);
                value = NULL;
                r = module_param_read(ctx->root, module, "nested", &value);
                if (r < 0 || !module_param_is_on(value))
                        return log_event(LOG_ERR, r < 0 ? r : -EIO, MHTEST_MESSAGE_STEP_FAILED, NULL,
                                         "%s was loaded with nested=1 but /sys/module/%s/parameters/nested reads \"%s\".",
                                         module, module, strna(value));
        }
        log_event(LOG_INFO, 0, MHTEST_MESSAGE_STEP_APPLIED, NULL, "Nested KVM enabled: %s nested=%s%s%s.", module,
                  strna(value), need_dropin ? ", wrote " NESTED_DROPIN : "",
                  need_reload ? ", module reloaded" : need_load ? ", module loaded" : "");
        return 0;
}

static int nested_revert(StepContext *ctx) {
        _cleanup_json_ json_object *st = NULL;
        _cleanup_free_ char *dropin = NULL, *value = NULL, *blockers = NULL, *opt_prev = NULL;
        const char *module, *prev, *ours, *nested_before;
        bool loaded_before, loaded, unload, reload, restore_load;
        json_object *jp = NULL;
        ModuleState ms;
        int r;

        r = state_load(ctx->root, ctx->job->name, "nested", &st);
        if (r == -ENOENT) {
                log_info("Nothing to revert for nested: no state recorded.");
                return 1;
        }
        if (r < 0)
                return log_error_errno(r, "Failed to read the nested state: %m");
        module = state_get_string(st, "module");
        prev = state_get_string(st, "dropin_previous");
        ours = state_get_string(st, "dropin_ours");
        nested_before = state_get_string(st, "nested_before");
        loaded_before = state_get_bool(st, "loaded_before");
        if (!module || !ours)
                return log_error_errno(-EBADMSG, "The nested state file is incomplete; not touching the host.");

        /* Check the module's users first: if it is in use nothing is changed and revert can be
         * retried once the guests are gone. */
        r = module_state(ctx->root, module, &ms);
        if (r < 0)
                return log_error_errno(r, "Failed to read the state of module %s: %m", module);
        loaded = ms != MODULE_NOT_LOADED && ms != MODULE_BUILTIN;
        if (loaded)
                (void) module_param_read(ctx->root, module, "nested", &value);
        unload = loaded && !loaded_before;
        /* a crash between unloading and loading again left it out */
        restore_load = !loaded && loaded_before;
        reload = loaded && loaded_before && nested_before && !module_param_is_on(nested_before) &&
                 module_param_is_on(value);
        if (unload || reload) {
                r = module_blockers(ctx->root, module, &blockers);
                if (r < 0)
                        return log_error_errno(r, "Failed to read the users of %s: %m", module);
                if (blockers)
                        return log_event(LOG_ERR, -EBUSY, MHTEST_MESSAGE_STEP_REFUSED, NULL,
                                         "Refusing to %s %s: it is in use by %s. Stop the guests and revert again; nothing was changed.",
                                         reload ? "reload" : "unload", module, blockers);
        }

        /* Put back the drop-in as it was (before a reload, so the module's configuration is the
         * old one again), unless someone replaced ours since: then it is theirs. */
        r = read_dropin(ctx->root, &dropin);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s: %m", NESTED_DROPIN);
        if (streq_ptr(dropin, ours)) {
                r = write_dropin(ctx->root, prev);
                if (r < 0)
                        return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL, "Failed to restore %s: %m",
                                         NESTED_DROPIN);
        } else if (!streq_ptr(dropin, prev))
                log_warning("%s was changed by someone else since mhtest wrote it, leaving it alone.", NESTED_DROPIN);

        if (unload) {
                /* What apply loaded, the module's dependencies with it, last loaded first. */
                (void) json_object_object_get_ex(st, "modules_loaded", &jp);
                r = module_unload(ctx->root, module);
                if (r < 0)
                        return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL, "Failed to unload %s: %m",
                                         module);
                for (size_t i = jp ? json_object_array_length(jp) : 0; i > 0; i--) {
                        const char *m = json_object_get_string(json_object_array_get_idx(jp, i - 1));
                        ModuleState mst;

                        if (streq(m, module) || module_state(ctx->root, m, &mst) < 0 || mst != MODULE_LIVE)
                                continue;
                        r = module_unload(ctx->root, m);
                        if (r < 0)
                                log_warning_errno(r, "Failed to unload %s, which apply loaded for %s, leaving it: %m",
                                                  m, module);
                }
        } else if (restore_load) {
                if (asprintf_safe(&opt_prev, "nested=%s", strna(nested_before)) < 0)
                        return log_oom();
                r = module_load(ctx->root, module, nested_before ? opt_prev : NULL);
                if (r < 0)
                        return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL, "Failed to load %s again: %m",
                                         module);
        } else if (reload) {
                if (asprintf_safe(&opt_prev, "nested=%s", nested_before) < 0)
                        return log_oom();
                r = module_reload(ctx->root, module, opt_prev, "nested=1");
                if (r < 0)
                        return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL, "Failed to reload %s with %s: %m",
                                         module, opt_prev);
                free(value);
                value = NULL;
                r = module_param_read(ctx->root, module, "nested", &value);
                if (r < 0 || module_param_is_on(value))
                        return log_event(LOG_ERR, r < 0 ? r : -EIO, MHTEST_MESSAGE_STEP_FAILED, NULL,
                                         "%s reloaded with %s but nested reads \"%s\".", module, opt_prev, strna(value));
        }

        r = state_remove(ctx->root, ctx->job->name, "nested");
        if (r < 0)
                return log_error_errno(r, "Failed to remove the nested state: %m");
        log_event(LOG_INFO, 0, MHTEST_MESSAGE_STEP_REVERTED, NULL, "Nested KVM reverted: %s %s, %s %s.", module,
                  unload ? "unloaded" : reload ? "reloaded with its previous nested value"
                  : restore_load ? "loaded again" : "left loaded as it was",
                  NESTED_DROPIN, prev ? "restored" : "removed");
        return 0;
}

const Step step_nested = {
        .name = "nested",
        .description = "nested KVM module option",
        .apply = nested_apply,
        .revert = nested_revert,
};
