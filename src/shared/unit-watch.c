/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "string-util.h"
#include "strv.h"
#include "unit-watch.h"

#define SYSTEMD_DEST "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER "org.freedesktop.systemd1.Manager"
#define SYSTEMD_UNIT "org.freedesktop.systemd1.Unit"
#define SYSTEMD_JOB "org.freedesktop.systemd1.Job"

static uint64_t mono_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

/* sd-bus errors carry a message worth more than errno's text; keep it in the debug log. */
static int bus_error(const sd_bus_error *e, int r, const char *what, const char *unit) {
        if (e && sd_bus_error_is_set(e))
                log_debug("%s %s: %s", what, unit, e->message);
        return r;
}

int unit_watch_open_bus(sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        /* What systemctl does as root: the manager's own socket works also where no dbus-daemon
         * runs (early boot, shutdown, minimal hosts), and every answer comes from PID 1
         * directly. */
        if (geteuid() == 0) {
                r = sd_bus_new(&bus);
                if (r < 0)
                        return r;
                r = sd_bus_set_address(bus, "unix:path=/run/systemd/private");
                if (r >= 0)
                        r = sd_bus_start(bus);
                if (r >= 0) {
                        *ret = TAKE_PTR(bus);
                        return 0;
                }
                log_debug_errno(r, "Cannot use systemd's private socket, trying the system bus: %m");
                bus = sd_bus_flush_close_unref(bus);
        }
        return sd_bus_open_system(ret);
}

static int unit_path(sd_bus *bus, const char *unit, char **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path;
        int r;

        /* LoadUnit, not GetUnit: a unit nobody references yet is not loaded, and then it has no
         * object to watch. */
        r = sd_bus_call_method(bus, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, "LoadUnit", &e, &reply, "s",
                               unit);
        if (r < 0)
                return bus_error(&e, r, "LoadUnit", unit);
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return r;
        *ret = strdup(path);
        return *ret ? 0 : -ENOMEM;
}

int unit_watch_get_unit_strv(sd_bus *bus, const char *unit, const char *property, char ***ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        r = unit_path(bus, unit, &path);
        if (r < 0)
                return r;
        r = sd_bus_get_property_strv(bus, SYSTEMD_DEST, path, SYSTEMD_UNIT, property, &e, ret);
        return r < 0 ? bus_error(&e, r, property, unit) : 0;
}

/* The type of a job object; -ENOENT if the job is gone already. */
static int job_type(sd_bus *bus, const char *job_path, char **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_get_property_string(bus, SYSTEMD_DEST, job_path, SYSTEMD_JOB, "JobType", &e, ret);
        if (r < 0 && sd_bus_error_has_name(&e, "org.freedesktop.DBus.Error.UnknownObject"))
                return -ENOENT;
        return r < 0 ? bus_error(&e, r, "JobType", job_path) : 0;
}

int unit_watch_get_job_type(sd_bus *bus, const char *unit, char **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *path = NULL;
        const char *jpath;
        uint32_t id;
        int r;

        r = unit_path(bus, unit, &path);
        if (r < 0)
                return r;
        r = sd_bus_get_property(bus, SYSTEMD_DEST, path, SYSTEMD_UNIT, "Job", &e, &reply, "(uo)");
        if (r < 0)
                return bus_error(&e, r, "Job", unit);
        r = sd_bus_message_read(reply, "(uo)", &id, &jpath);
        if (r < 0)
                return r;
        *ret = NULL;
        if (id == 0)
                return 0;
        r = job_type(bus, jpath, ret);
        return r == -ENOENT ? 0 : r;
}

static UnitState *find_unit(UnitWatch *w, const char *name, const char *path) {
        for (size_t i = 0; i < w->n_units; i++)
                if ((name && streq(w->units[i].name, name)) || (path && streq_ptr(w->units[i].path, path)))
                        return &w->units[i];
        return NULL;
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        UnitState *u = userdata;

        u->dirty = true;
        return 0;
}

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        UnitWatch *w = userdata;
        const char *job_path, *unit, *result;
        uint32_t id;
        UnitState *u;

        if (sd_bus_message_read(m, "uoss", &id, &job_path, &unit, &result) < 0)
                return 0;
        u = find_unit(w, unit, NULL);
        if (!u)
                return 0;
        (void) free_and_strdup(&u->job_result, result);
        u->job_result_id = id;
        u->dirty = true;
        return 0;
}

static int on_reloading(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        UnitWatch *w = userdata;

        /* daemon-reload: every unit may have changed without a PropertiesChanged of its own */
        for (size_t i = 0; i < w->n_units; i++)
                w->units[i].dirty = true;
        return 0;
}

static int add_match(UnitWatch *w, const char *path, const char *interface, const char *member,
                     sd_bus_message_handler_t cb, void *userdata) {
        sd_bus_slot **s;
        int r;

        s = reallocarray(w->slots, w->n_slots + 1, sizeof(sd_bus_slot *));
        if (!s)
                return -ENOMEM;
        w->slots = s;
        /* Direct connections (the private socket) carry no sender: match it only on a bus. */
        r = sd_bus_match_signal(w->bus, &w->slots[w->n_slots],
                                sd_bus_is_bus_client(w->bus) > 0 ? SYSTEMD_DEST : NULL, path, interface,
                                member, cb, userdata);
        if (r < 0)
                return r;
        w->n_slots++;
        return 0;
}

static int read_variant_string(sd_bus_message *m, char **ret) {
        const char *s;
        int r;

        r = sd_bus_message_read(m, "v", "s", &s);
        if (r < 0)
                return r;
        return free_and_strdup(ret, s);
}

/* One GetAll: a consistent picture of the unit as the manager has it at this moment. */
static int unit_read(UnitWatch *w, UnitState *u) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *jpath = NULL;
        uint32_t job_id = 0;
        int r;

        u->dirty = false;
        r = sd_bus_call_method(w->bus, SYSTEMD_DEST, u->path, "org.freedesktop.DBus.Properties", "GetAll",
                               &e, &reply, "s", SYSTEMD_UNIT);
        if (r < 0)
                return bus_error(&e, r, "GetAll", u->name);
        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *name;

                r = sd_bus_message_read(reply, "s", &name);
                if (r < 0)
                        return r;
                if (streq(name, "LoadState"))
                        r = read_variant_string(reply, &u->load_state);
                else if (streq(name, "ActiveState"))
                        r = read_variant_string(reply, &u->active_state);
                else if (streq(name, "SubState"))
                        r = read_variant_string(reply, &u->sub_state);
                else if (streq(name, "Job")) {
                        const char *p;

                        r = sd_bus_message_read(reply, "v", "(uo)", &job_id, &p);
                        if (r >= 0 && job_id != 0 && !(jpath = strdup(p)))
                                r = -ENOMEM;
                } else if (streq(name, "InvocationID")) {
                        const uint8_t *id;
                        size_t n;

                        r = sd_bus_message_enter_container(reply, 'v', "ay");
                        if (r >= 0)
                                r = sd_bus_message_read_array(reply, 'y', (const void **) &id, &n);
                        if (r >= 0) {
                                char hex[33] = "";

                                for (size_t k = 0; k < n && k < 16; k++)
                                        snprintf(hex + 2 * k, 3, "%02x", id[k]);
                                r = free_and_strdup(&u->invocation_id, n == 16 ? hex : "");
                        }
                        if (r >= 0)
                                r = sd_bus_message_exit_container(reply);
                } else
                        r = sd_bus_message_skip(reply, "v");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;

        u->job_id = job_id;
        free(u->job_type);
        u->job_type = NULL;
        if (job_id != 0) {
                r = job_type(w->bus, jpath, &u->job_type);
                if (r == -ENOENT) /* finished in between: its signals are on their way */
                        u->dirty = true;
                else if (r < 0)
                        return r;
        }
        return 0;
}

int unit_watch_new(sd_bus *bus, char *const *units, UnitWatch **ret) {
        _cleanup_(unit_watch_freep) UnitWatch *w = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        w = calloc(1, sizeof(UnitWatch));
        if (!w)
                return -ENOMEM;
        w->bus = sd_bus_ref(bus);
        w->units = calloc(MAX(strv_length(units), 1u), sizeof(UnitState));
        if (!w->units)
                return -ENOMEM;
        STRV_FOREACH (n, units) {
                UnitState *u = &w->units[w->n_units];

                u->name = strdup(*n);
                if (!u->name)
                        return -ENOMEM;
                w->n_units++;
                r = unit_path(bus, *n, &u->path);
                if (r < 0)
                        return r;
                if (endswith(*n, ".service")) {
                        _cleanup_(sd_bus_error_free) sd_bus_error te = SD_BUS_ERROR_NULL;
                        _cleanup_free_ char *type = NULL;

                        r = sd_bus_get_property_string(bus, SYSTEMD_DEST, u->path,
                                                       "org.freedesktop.systemd1.Service", "Type", &te,
                                                       &type);
                        if (r < 0)
                                return bus_error(&te, r, "Type", *n);
                        u->oneshot = streq(type, "oneshot");
                }
        }

        /* Signals first, then the states: a change after a read is always signalled. On the
         * system bus the manager emits unit signals only to subscribers; its private socket gets
         * them anyway, and Subscribe does no harm there. */
        r = sd_bus_call_method(bus, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, "Subscribe", &e, NULL,
                               NULL);
        /* a connection subscribes once; the next watch on the same bus finds it subscribed */
        if (r < 0 && !sd_bus_error_has_name(&e, "org.freedesktop.systemd1.AlreadySubscribed"))
                return bus_error(&e, r, "Subscribe", "manager");
        r = add_match(w, SYSTEMD_PATH, SYSTEMD_MANAGER, "JobRemoved", on_job_removed, w);
        if (r >= 0)
                r = add_match(w, SYSTEMD_PATH, SYSTEMD_MANAGER, "Reloading", on_reloading, w);
        for (size_t i = 0; r >= 0 && i < w->n_units; i++)
                r = add_match(w, w->units[i].path, "org.freedesktop.DBus.Properties", "PropertiesChanged",
                              on_properties_changed, &w->units[i]);
        if (r < 0)
                return r;
        for (size_t i = 0; i < w->n_units; i++) {
                r = unit_read(w, &w->units[i]);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(w);
        return 0;
}

UnitWatch *unit_watch_free(UnitWatch *w) {
        if (!w)
                return NULL;
        for (size_t i = 0; i < w->n_slots; i++)
                sd_bus_slot_unref(w->slots[i]);
        free(w->slots);
        for (size_t i = 0; i < w->n_units; i++) {
                UnitState *u = &w->units[i];

                free(u->name);
                free(u->path);
                free(u->load_state);
                free(u->active_state);
                free(u->sub_state);
                free(u->invocation_id);
                free(u->job_type);
                free(u->job_result);
        }
        free(w->units);
        sd_bus_unref(w->bus);
        free(w);
        return NULL;
}

int unit_watch_wait(UnitWatch *w, uint64_t timeout_usec) {
        uint64_t deadline = timeout_usec == UINT64_MAX ? UINT64_MAX : mono_usec() + timeout_usec;
        int r;

        for (;;) {
                int n = 0;

                /* Drain everything queued before re-reading: a burst of signals costs one read. */
                while ((r = sd_bus_process(w->bus, NULL)) > 0)
                        ;
                if (r < 0)
                        return r;
                for (size_t i = 0; i < w->n_units; i++) {
                        if (!w->units[i].dirty)
                                continue;
                        r = unit_read(w, &w->units[i]);
                        if (r < 0)
                                return r;
                        n++;
                }
                if (n > 0)
                        return n;
                if (deadline != UINT64_MAX && mono_usec() >= deadline)
                        return 0;
                r = sd_bus_wait(w->bus, deadline == UINT64_MAX ? UINT64_MAX : deadline - mono_usec());
                if (r < 0 && r != -EINTR)
                        return r;
        }
}

int unit_watch_get_result(UnitWatch *w, const UnitState *u, char **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *iface = NULL;
        const char *dot = strrchr(u->name, '.');
        int r;

        /* Result= lives on the type's interface: .service -> org.freedesktop.systemd1.Service */
        if (!dot || !dot[1])
                return -EINVAL;
        iface = strjoin("org.freedesktop.systemd1.", dot + 1);
        if (!iface)
                return -ENOMEM;
        iface[strlen("org.freedesktop.systemd1.")] = (char) toupper((unsigned char) dot[1]);
        r = sd_bus_get_property_string(w->bus, SYSTEMD_DEST, u->path, iface, "Result", &e, ret);
        return r < 0 ? bus_error(&e, r, "Result", u->name) : 0;
}

int unit_watch_start_unit(UnitWatch *w, const UnitState *u, const char *mode) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(w->bus, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, "StartUnit", &e, NULL,
                               "ss", u->name, mode);
        return r < 0 ? bus_error(&e, r, "StartUnit", u->name) : 0;
}

int unit_watch_stop_unit(UnitWatch *w, const UnitState *u, const char *mode) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(w->bus, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, "StopUnit", &e, NULL,
                               "ss", u->name, mode);
        return r < 0 ? bus_error(&e, r, "StopUnit", u->name) : 0;
}
