/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fileio.h"
#include "kmod-util.h"
#include "log.h"
#include "message-ids.h"
#include "netdev-util.h"
#include "path-util.h"
#include "pci-driver.h"
#include "state.h"
#include "steps.h"
#include "string-util.h"
#include "strv.h"

/* [VFIO] Devices= on vfio-pci. Everything that could make the host unsafe is checked before
 * anything changes: unknown devices, IOMMU groups that would be split, NICs that carry an
 * address, a route or the management connection (over netlink, also through bond/bridge/VLAN
 * uppers), no IOMMU without NoIOMMU=yes. The state records each device's driver and
 * driver_override as they were, so revert (also after a crash) gives every device back. */

#define NOIOMMU_PARAM "enable_unsafe_noiommu_mode"
#define DRIVERCTL_DIR "/etc/driverctl.d"

/* Drivers the kernel's vfio accepts for the other members of a group in use (vfio's viability
 * check), besides vfio-pci itself and no driver at all. */
static bool group_member_viable(const char *driver) {
        return !driver || streq(driver, "vfio-pci") || streq(driver, "pci-stub") || streq(driver, "pcieport");
}

static json_object *state_device(json_object *st, const char *addr) {
        json_object *devs;

        if (!json_object_object_get_ex(st, "devices", &devs))
                return NULL;
        for (size_t i = 0; i < json_object_array_length(devs); i++) {
                json_object *d = json_object_array_get_idx(devs, i);
                if (streq_ptr(state_get_string(d, "address"), addr))
                        return d;
        }
        return NULL;
}

/* Everything that must hold before a device may leave its driver. Reasons go to *reasons;
 * "mhtest check" runs the same. */
int vfio_check_devices(StepContext *ctx, bool iommu, char ***reasons) {
        const VFIOSection *v = ctx->job->vfio;
        char * const *mgmt = ctx->config->safety ? ctx->config->safety->management_interfaces : NULL;
        _cleanup_strv_free_ char **groups_seen = NULL;
        int r;

        STRV_FOREACH(dev, v->devices) {
                _cleanup_free_ char *driver = NULL, *group = NULL;
                _cleanup_strv_free_ char **netdevs = NULL, **members = NULL;

                if (!pci_device_exists(ctx->root, *dev)) {
                        if (strv_extendf(reasons, "%s: no such PCI device", *dev) < 0)
                                return -ENOMEM;
                        continue;
                }
                r = pci_device_driver(ctx->root, *dev, &driver);
                if (r < 0)
                        return log_error_errno(r, "Failed to read the driver of %s: %m", *dev);

                r = pci_device_iommu_group(ctx->root, *dev, &group);
                if (r < 0 && r != -ENOENT)
                        return log_error_errno(r, "Failed to read the IOMMU group of %s: %m", *dev);
                if (r == -ENOENT && iommu && strv_extendf(reasons, "%s: not in any IOMMU group", *dev) < 0)
                        return -ENOMEM;
                if (group && !strv_contains(groups_seen, group)) {
                        _cleanup_strv_free_ char **blocking = NULL;

                        if (strv_extend(&groups_seen, group) < 0)
                                return -ENOMEM;
                        r = pci_iommu_group_devices(ctx->root, group, &members);
                        if (r < 0)
                                return log_error_errno(r, "Failed to list IOMMU group %s: %m", group);
                        STRV_FOREACH(m, members) {
                                _cleanup_free_ char *md = NULL;

                                if (strv_contains(v->devices, *m))
                                        continue;
                                if (pci_device_driver(ctx->root, *m, &md) < 0)
                                        return -EIO;
                                if (!group_member_viable(md) &&
                                    strv_extendf(&blocking, "%s (on %s)", *m, md) < 0)
                                        return -ENOMEM;
                        }
                        if (blocking) {
                                _cleanup_free_ char *names = strv_join(blocking, ", ");
                                if (!names || strv_extendf(reasons,
                                                                  "%s: IOMMU group %s also contains %s, which is neither listed in [VFIO] Devices= nor on vfio-pci; binding would split the group",
                                                                  *dev, group, names) < 0)
                                        return -ENOMEM;
                        }
                }

                if (streq_ptr(driver, "vfio-pci"))
                        continue; /* no netdev any more */
                r = pci_device_netdevs(ctx->root, *dev, &netdevs);
                if (r < 0)
                        return log_error_errno(r, "Failed to list the network interfaces of %s: %m", *dev);
                STRV_FOREACH(n, netdevs) {
                        _cleanup_free_ char *why = NULL;

                        r = netdev_usage(*n, mgmt, &why);
                        if (r == -ENODEV)
                                r = strv_extendf(reasons,
                                                        "%s: its interface %s is not visible in this network namespace, so mhtest cannot verify it carries nothing",
                                                        *dev, *n);
                        else if (r < 0)
                                return log_error_errno(r, "Failed to read the addresses and routes of %s over netlink: %m", *n);
                        else if (r > 0)
                                r = strv_extendf(reasons, "%s (%s): %s", *dev, *n, why);
                        if (r < 0)
                                return -ENOMEM;
                }
        }
        return 0;
}

static int noiommu_read(const char *root, char **ret) {
        return module_param_read(root, "vfio", NOIOMMU_PARAM, ret);
}

static int noiommu_write(const char *root, const char *value) {
        _cleanup_free_ char *p = path_prefix_root(root, "/sys/module/vfio/parameters/" NOIOMMU_PARAM), *v = NULL;
        int r;

        if (!p)
                return -ENOMEM;
        r = write_string_file(p, value);
        if (r < 0)
                return r;
        r = noiommu_read(root, &v);
        if (r < 0)
                return r;
        return module_param_is_on(v) == module_param_is_on(value) ? 0 : -EIO;
}

static char *driverctl_path(const char *root, const char *addr) {
        _cleanup_free_ char *rel = strjoin(DRIVERCTL_DIR "/pci-", addr);
        return rel ? path_prefix_root(root, rel) : NULL;
}

/* Give back everything the state records; with only_bound, only the devices apply rebound in
 * this run (rollback). Returns the number of failures, logged. */
static int vfio_restore(StepContext *ctx, json_object *st, char * const *only) {
        json_object *devs = NULL, *mods = NULL, *persist = NULL;
        const char *noiommu_prev = state_get_string(st, "noiommu_previous");
        unsigned failures = 0;
        int r;

        (void) json_object_object_get_ex(st, "persist", &persist);
        for (size_t i = persist ? json_object_array_length(persist) : 0; i > 0; i--) {
                json_object *p = json_object_array_get_idx(persist, i - 1);
                const char *addr = state_get_string(p, "address"), *prev = state_get_string(p, "previous");
                _cleanup_free_ char *path = addr ? driverctl_path(ctx->root, addr) : NULL;

                if (!path || (only && !strv_contains(only, addr)))
                        continue;
                r = prev ? write_file_atomic(path, prev, 0644) : (unlink(path) < 0 && errno != ENOENT ? -errno : 0);
                if (r < 0) {
                        log_error_errno(r, "Failed to restore %s: %m", path);
                        failures++;
                }
        }

        if (!only && state_get_bool(st, "driverctl_dir_created")) {
                _cleanup_free_ char *dir = path_prefix_root(ctx->root, DRIVERCTL_DIR);
                /* only if empty: files someone else put there since stay */
                if (dir && rmdir(dir) < 0 && errno != ENOENT && errno != ENOTEMPTY)
                        log_warning_errno(-errno, "Failed to remove %s, ignoring: %m", DRIVERCTL_DIR);
        }

        (void) json_object_object_get_ex(st, "devices", &devs);
        for (size_t i = devs ? json_object_array_length(devs) : 0; i > 0; i--) {
                json_object *d = json_object_array_get_idx(devs, i - 1);
                const char *addr = state_get_string(d, "address"), *drv = state_get_string(d, "driver"),
                           *ovr = state_get_string(d, "driver_override");

                if (!addr || (only && !strv_contains(only, addr)))
                        continue;
                r = pci_driver_restore(ctx->root, addr, drv, ovr);
                if (r < 0) {
                        log_error_errno(r, "Failed to give %s back to %s: %m", addr, drv ?: "no driver");
                        failures++;
                } else
                        log_info("%s back on %s.", addr, drv ?: "no driver (as before)");
        }

        if (!only && state_get_bool(st, "noiommu_set")) {
                ModuleState ms;

                if (module_state(ctx->root, "vfio", &ms) >= 0 && ms != MODULE_NOT_LOADED &&
                    (r = noiommu_write(ctx->root, noiommu_prev ?: "N")) < 0) {
                        log_error_errno(r, "Failed to restore vfio's %s: %m", NOIOMMU_PARAM);
                        failures++;
                }
        }

        /* The modules apply loaded, last first; in use (a device someone else bound) stays. */
        (void) json_object_object_get_ex(st, "modules_loaded", &mods);
        for (size_t i = !only && mods ? json_object_array_length(mods) : 0; i > 0; i--) {
                const char *m = json_object_get_string(json_object_array_get_idx(mods, i - 1));
                ModuleState ms;

                if (module_state(ctx->root, m, &ms) < 0 || ms != MODULE_LIVE)
                        continue;
                r = module_unload(ctx->root, m);
                if (r < 0)
                        log_warning_errno(r, "Could not unload %s, which apply loaded, leaving it: %m", m);
        }
        return failures;
}

static int vfio_apply(StepContext *ctx) {
        const VFIOSection *v = ctx->job->vfio;
        _cleanup_strv_free_ char **reasons = NULL, **plan = NULL, **bound_now = NULL;
        _cleanup_json_ json_object *st = NULL;
        _cleanup_free_ char *drivers_dir = NULL, *noiommu_prev = NULL;
        json_object *devs, *changes, *persist;
        bool iommu, need_module, all_done = true, have_state;
        int r;

        if (!v || strv_length(v->devices) == 0) {
                log_event(LOG_INFO, 0, MHTEST_MESSAGE_STEP_UNCHANGED, NULL, "No [VFIO] Devices=; nothing to do.");
                return 1;
        }

        iommu = pci_iommu_present(ctx->root);
        if (!iommu && !v->no_iommu)
                return log_event(LOG_ERR, -ENODEV, MHTEST_MESSAGE_STEP_REFUSED, NULL,
                                 "Refusing vfio binding: this host has no IOMMU (/sys/kernel/iommu_groups is empty). "
                                 "Enable VT-d/AMD-Vi in the firmware and intel_iommu=on (Intel) on the kernel command line, "
                                 "or set [VFIO] NoIOMMU=yes to use vfio's unsafe no-IOMMU mode. Nothing was changed.");

        r = vfio_check_devices(ctx, iommu, &reasons);
        if (r < 0)
                return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL, "Failed to check the devices: %m");
        if (reasons) {
                STRV_FOREACH(why, reasons)
                        log_error("Refused: %s.", *why);
                return log_event(LOG_ERR, -EBUSY, MHTEST_MESSAGE_STEP_REFUSED, NULL,
                                 "Refusing to bind [VFIO] Devices= to vfio-pci: %zu problem(s), listed above. Nothing was changed.",
                                 strv_length(reasons));
        }

        drivers_dir = path_prefix_root(ctx->root, "/sys/bus/pci/drivers/vfio-pci");
        if (!drivers_dir)
                return log_oom();
        need_module = !dir_exists(drivers_dir);
        if (need_module) {
                r = module_load_plan(ctx->root, "vfio-pci", &plan);
                if (r < 0)
                        return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL,
                                         "vfio-pci is not loaded and cannot be found in the module tree: %m");
        }
        STRV_FOREACH(dev, v->devices) {
                _cleanup_free_ char *drv = NULL, *node = NULL;
                if (pci_device_driver(ctx->root, *dev, &drv) < 0 || !streq_ptr(drv, "vfio-pci") ||
                    pci_device_vfio_node(ctx->root, *dev, &node) < 0)
                        all_done = false;
        }
        if (v->persist)
                STRV_FOREACH(dev, v->devices) {
                        _cleanup_free_ char *p = driverctl_path(ctx->root, *dev), *s = NULL;
                        if (!p || read_one_line_file(p, &s) < 0 || !streq(s, "vfio-pci"))
                                all_done = false;
                }
        if (all_done && !need_module) {
                log_event(LOG_INFO, 0, MHTEST_MESSAGE_STEP_UNCHANGED, NULL,
                          "All %zu device(s) already on vfio-pci; nothing changed.", strv_length(v->devices));
                return 1;
        }

        /* Record the host as it is, before the first change. An existing state (an earlier or
         * crashed apply) already holds the original drivers: it is extended, never overwritten. */
        r = state_load(ctx->root, ctx->job->name, "vfio", &st);
        if (r < 0 && r != -ENOENT)
                return log_error_errno(r, "Failed to read the state of a previous apply: %m");
        have_state = r >= 0;
        if (!have_state) {
                st = json_object_new_object();
                json_object_object_add(st, "devices", json_object_new_array());
                json_object_object_add(st, "changes", json_object_new_array());
                json_object_object_add(st, "persist", json_object_new_array());
        }
        json_object_object_get_ex(st, "devices", &devs);
        json_object_object_get_ex(st, "changes", &changes);
        if (!json_object_object_get_ex(st, "persist", &persist)) {
                persist = json_object_new_array();
                json_object_object_add(st, "persist", persist);
        }
        STRV_FOREACH(dev, v->devices) {
                _cleanup_free_ char *drv = NULL, *ovr = NULL;
                json_object *d;
                char *c = NULL;

                if (state_device(st, *dev))
                        continue;
                if (pci_device_driver(ctx->root, *dev, &drv) < 0 || pci_device_driver_override(ctx->root, *dev, &ovr) < 0)
                        return log_error_errno(-EIO, "Failed to read the driver of %s.", *dev);
                d = json_object_new_object();
                json_object_object_add(d, "address", json_object_new_string(*dev));
                json_object_object_add(d, "driver", state_new_string_or_null(drv));
                json_object_object_add(d, "driver_override", state_new_string_or_null(ovr));
                json_object_array_add(devs, d);
                if (!streq_ptr(drv, "vfio-pci")) {
                        if (asprintf_safe(&c, "bound %s to vfio-pci (was %s)", *dev, drv ?: "unbound") < 0)
                                return log_oom();
                        json_object_array_add(changes, json_object_new_string(c));
                        free(c);
                }
                if (v->persist) {
                        _cleanup_free_ char *p = driverctl_path(ctx->root, *dev), *prev = NULL;
                        json_object *o = json_object_new_object();

                        if (!p)
                                return log_oom();
                        (void) read_full_file(p, &prev, NULL);
                        json_object_object_add(o, "address", json_object_new_string(*dev));
                        json_object_object_add(o, "previous", state_new_string_or_null(prev));
                        json_object_array_add(persist, o);
                        if (asprintf_safe(&c, "wrote " DRIVERCTL_DIR "/pci-%s", *dev) < 0)
                                return log_oom();
                        json_object_array_add(changes, json_object_new_string(c));
                        free(c);
                }
        }
        if (v->persist && !json_object_object_get_ex(st, "driverctl_dir_created", NULL)) {
                _cleanup_free_ char *dir = path_prefix_root(ctx->root, DRIVERCTL_DIR);
                if (!dir)
                        return log_oom();
                json_object_object_add(st, "driverctl_dir_created", json_object_new_boolean(!dir_exists(dir)));
        }
        if (plan && !json_object_object_get_ex(st, "modules_loaded", NULL)) {
                json_object *jp = json_object_new_array();
                STRV_FOREACH(m, plan)
                        json_object_array_add(jp, json_object_new_string(*m));
                json_object_object_add(st, "modules_loaded", jp);
                json_object_array_add(changes, json_object_new_string("loaded vfio-pci"));
        }
        if (!iommu && !state_get_bool(st, "noiommu_set")) {
                if (noiommu_read(ctx->root, &noiommu_prev) >= 0)
                        json_object_object_add(st, "noiommu_previous", json_object_new_string(noiommu_prev));
                json_object_object_add(st, "noiommu_set", json_object_new_boolean(true));
                json_object_array_add(changes, json_object_new_string("enabled vfio " NOIOMMU_PARAM));
        }
        r = state_save(ctx->root, ctx->job->name, "vfio", st);
        if (r < 0)
                return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL,
                                 "Failed to record the state for revert; nothing was changed: %m");

        if (need_module) {
                r = module_load(ctx->root, "vfio-pci", NULL);
                if (r < 0 || !dir_exists(drivers_dir)) {
                        log_error_errno(r < 0 ? r : -ENOENT, "Failed to load vfio-pci: %m");
                        goto rollback;
                }
        }
        if (!iommu) {
                _cleanup_free_ char *cur = NULL;

                if (noiommu_read(ctx->root, &cur) < 0) {
                        log_error("The kernel's vfio has no %s parameter (built without CONFIG_VFIO_NOIOMMU, as Debian's "
                                  "kernels are): NoIOMMU=yes cannot work on this host.", NOIOMMU_PARAM);
                        goto rollback;
                }
                r = noiommu_write(ctx->root, "Y");
                if (r < 0) {
                        log_error_errno(r, "Failed to enable vfio's %s: %m", NOIOMMU_PARAM);
                        goto rollback;
                }
                log_warning("vfio's unsafe no-IOMMU mode is enabled ([VFIO] NoIOMMU=yes): devices can DMA anywhere.");
        }

        STRV_FOREACH(dev, v->devices) {
                _cleanup_free_ char *drv = NULL, *node = NULL;

                if (pci_device_driver(ctx->root, *dev, &drv) >= 0 && streq_ptr(drv, "vfio-pci"))
                        continue;
                if (strv_extend(&bound_now, *dev) < 0) {
                        log_oom();
                        goto rollback;
                }
                r = pci_driver_override_bind(ctx->root, *dev, "vfio-pci");
                if (r < 0) {
                        _cleanup_free_ char *now = NULL;
                        (void) pci_device_driver(ctx->root, *dev, &now);
                        log_error_errno(r, "Failed to bind %s to vfio-pci (it is now on %s): %m", *dev, now ?: "no driver");
                        goto rollback;
                }
                r = pci_device_vfio_node(ctx->root, *dev, &node);
                if (r < 0) {
                        log_error_errno(r, "%s is on vfio-pci but its /dev/vfio group node did not appear: %m", *dev);
                        goto rollback;
                }
                log_info("%s bound to vfio-pci (was %s), %s ready.", *dev, drv ?: "unbound", node);
        }
        if (v->persist)
                STRV_FOREACH(dev, v->devices) {
                        _cleanup_free_ char *p = driverctl_path(ctx->root, *dev);

                        r = p ? mkdir_parents(p, 0755) : -ENOMEM;
                        if (r >= 0)
                                r = write_file_atomic(p, "vfio-pci\n", 0644);
                        if (r < 0) {
                                log_error_errno(r, "Failed to write %s: %m", strna(p));
                                goto rollback;
                        }
                }

        log_event(LOG_INFO, 0, MHTEST_MESSAGE_STEP_APPLIED, NULL, "%zu device(s) on vfio-pci%s%s.",
                  strv_length(v->devices), need_module ? ", vfio-pci loaded" : "",
                  !iommu ? ", unsafe no-IOMMU mode" : "");
        return 0;

rollback:
        /* Back to the recorded state; a state from an earlier apply keeps what that one did. */
        r = vfio_restore(ctx, st, have_state ? bound_now : NULL);
        if (r == 0 && !have_state)
                (void) state_remove(ctx->root, ctx->job->name, "vfio");
        return log_event(LOG_ERR, -EIO, MHTEST_MESSAGE_STEP_PARTIAL, NULL,
                         "vfio binding failed part-way; %s", r == 0 ? "the devices already rebound were given back to their drivers."
                                                                    : "some devices could not be given back (above); \"mhtest revert vfio JOB\" retries.");
}

static int vfio_revert(StepContext *ctx) {
        _cleanup_json_ json_object *st = NULL;
        int r;

        r = state_load(ctx->root, ctx->job->name, "vfio", &st);
        if (r == -ENOENT) {
                log_info("Nothing to revert for vfio: no state recorded.");
                return 1;
        }
        if (r < 0)
                return log_error_errno(r, "Failed to read the vfio state: %m");
        r = vfio_restore(ctx, st, NULL);
        if (r > 0)
                return log_event(LOG_ERR, -EIO, MHTEST_MESSAGE_STEP_FAILED, NULL,
                                 "vfio revert incomplete: %d item(s) could not be restored (above); the state is kept for another try.", r);
        r = state_remove(ctx->root, ctx->job->name, "vfio");
        if (r < 0)
                return log_error_errno(r, "Failed to remove the vfio state: %m");
        log_event(LOG_INFO, 0, MHTEST_MESSAGE_STEP_REVERTED, NULL, "vfio reverted: every device back on its previous driver.");
        return 0;
}

const Step step_vfio = {
        .name = "vfio",
        .description = "PCI devices bound to vfio-pci",
        .apply = vfio_apply,
        .revert = vfio_revert,
};
