/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <systemd/sd-bus.h>
#include "fileio.h"
#include "log.h"
#include "path-util.h"
#include "storage-status.h"
#include "string-util.h"

/* [Storage NAME] sections are not a step: mhtest-generator turns each into a .mount unit that
 * the job pulls in. Their state comes from two places: systemd (ActiveState over sd-bus, when a
 * system manager answers and we look at the real root) and the kernel (what /proc/self/mountinfo
 * says is mounted at Where=), so "mhtest status" has an answer also without systemd. */


static int unit_active_state(sd_bus *bus, const char *unit, char **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path;
        int r;

        /* GetUnit, not LoadUnit: status must not make systemd load anything */
        r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                               "org.freedesktop.systemd1.Manager", "GetUnit", &error, &reply, "s", unit);
        if (r < 0)
                return sd_bus_error_has_name(&error, "org.freedesktop.systemd1.NoSuchUnit") ? -ENOENT : r;
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return r;
        return sd_bus_get_property_string(bus, "org.freedesktop.systemd1", path, "org.freedesktop.systemd1.Unit",
                                          "ActiveState", &error, ret);
}

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static void unescape_octal(char *s) {
        char *w = s;

        for (char *p = s; *p; p++) {
                if (p[0] == '\\' && p[1] >= '0' && p[1] <= '7' && p[2] >= '0' && p[2] <= '7' && p[3] >= '0' &&
                    p[3] <= '7') {
                        *w++ = (char) ((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
                        p += 3;
                } else
                        *w++ = *p;
        }
        *w = 0;
}

/* The topmost mount at path: its type and source; 0 if nothing is mounted there. */
static int mount_at(const char *path, char **ret_type, char **ret_source) {
        _cleanup_free_ char *s = NULL, *type = NULL, *source = NULL;
        int r;

        r = read_full_file("/proc/self/mountinfo", &s, NULL);
        if (r < 0)
                return r;
        for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
                char *f[5] = {}, *sep, *p = line;

                /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPEROPTIONS */
                for (int i = 0; i < 5; i++) {
                        f[i] = strsep(&p, " ");
                        if (!f[i])
                                break;
                }
                if (!f[4] || !p)
                        continue;
                unescape_octal(f[4]);
                if (!streq(f[4], path) || !(sep = strstr(p, " - ")))
                        continue;
                sep += 3;
                free(type);
                free(source);
                type = strdup(strsep(&sep, " ") ?: "");
                source = strdup(sep ? strsep(&sep, " ") ?: "" : "");
                if (!type || !source)
                        return -ENOMEM;
                unescape_octal(source);
        }
        if (!type)
                return 0;
        *ret_type = TAKE_PTR(type);
        *ret_source = TAKE_PTR(source);
        return 1;
}

int storage_status(const char *root, const JobConfig *j, json_object *jo_job, bool print) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        json_object *list = json_object_new_array();
        bool real_root = !root || streq(root, "/");

        json_object_object_add(jo_job, "storage", list);
        /* systemd's view is about the real root only; under --root it would describe another tree */
        if (j->n_storages > 0 && real_root && sd_bus_open_system(&bus) < 0)
                bus = NULL;
        for (size_t i = 0; i < j->n_storages; i++) {
                const StorageSection *s = j->storages[i];
                _cleanup_free_ char *unit = NULL, *state = NULL, *where = NULL, *type = NULL, *source = NULL;
                json_object *o = json_object_new_object();
                int r;

                json_object_array_add(list, o);
                json_object_object_add(o, "name", json_object_new_string(s->section.name));
                if (!s->where)
                        continue;
                if (unit_name_from_path(s->where, ".mount", &unit) < 0 || !(where = path_prefix_root(root, s->where)))
                        return log_oom();
                if (bus) {
                        r = unit_active_state(bus, unit, &state);
                        if (r == -ENOENT && !(state = strdup("inactive")))
                                return log_oom();
                        if (r < 0 && r != -ENOENT)
                                log_debug_errno(r, "Failed to get the state of %s, ignoring: %m", unit);
                }
                r = mount_at(where, &type, &source);
                if (r < 0)
                        log_debug_errno(r, "Failed to read /proc/self/mountinfo, ignoring: %m");
                json_object_object_add(o, "unit", json_object_new_string(unit));
                json_object_object_add(o, "where", json_object_new_string(s->where));
                json_object_object_add(o, "what", s->what ? json_object_new_string(s->what) : NULL);
                json_object_object_add(o, "read_only", json_object_new_boolean(s->read_only));
                json_object_object_add(o, "unit_state", state ? json_object_new_string(state) : NULL);
                json_object_object_add(o, "mounted", json_object_new_boolean(r > 0));
                json_object_object_add(o, "mounted_type", type ? json_object_new_string(type) : NULL);
                json_object_object_add(o, "mounted_source", source ? json_object_new_string(source) : NULL);
                if (print) {
                        printf("  %-10s %s: %s, unit %s %s", "storage", s->section.name, s->where, unit,
                               state ?: real_root ? "(systemd not reachable)" : "(systemd not asked under --root)");
                        if (r > 0)
                                printf(", mounted: %s %s\n", type, source);
                        else
                                printf(", not mounted\n");
                }
        }
        return 0;
}
