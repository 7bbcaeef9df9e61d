/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mhtest vms start|wait|list JOB [ROLE]: the guests of a job that the job does not start itself
 * (AutoStart=no), or the guests of a role, as LAVA's lava-start-vms and lava-wait-for-vms do for
 * a vm_group. Their units are started over D-Bus and awaited on the manager's signals
 * (unit-watch.c), like every wait of the host tool. */
#include "config.h"
#include "guest-instance.h"
#include "log.h"
#include "mhtest.h"
#include "state.h"
#include "string-util.h"
#include "strv.h"
#include "time-util.h"
#include "unit-watch.h"

uint64_t arg_timeout_usec = UINT64_MAX;

typedef struct VmsContext {
        Config *config;
        JobConfig *job;
        const char *role;
        char **units;     /* the selected instances' units on this host */
        char **instances; /* their instance names, same order */
} VmsContext;

static void vms_context_done(VmsContext *v) {
        job_config_free(v->job);
        config_free(v->config);
        strv_free(v->units);
        strv_free(v->instances);
}

static int vms_select(const char *job, const char *role, VmsContext *v) {
        bool role_known = false;
        int r;

        v->role = role;
        log_set_context_job(job);
        r = load_config(&v->config);
        if (r < 0)
                return r;
        log_set_context_host(v->config->host_name);
        r = load_job(v->config, job, &v->job);
        if (r < 0)
                return r;
        v->units = strv_new(NULL);
        v->instances = strv_new(NULL);
        if (!v->units || !v->instances)
                return log_oom();
        for (size_t i = 0; i < v->job->n_guests; i++) {
                const GuestSection *g = v->job->guests[i];

                if (role && streq_ptr(g->role, role))
                        role_known = true;
                if (!guest_in_vm_group(g, role) || !guest_on_host(v->config, g, v->config->host_name))
                        continue;
                for (unsigned k = 0; k < g->count; k++) {
                        char *u = NULL, *n = NULL;

                        if (guest_instance_unit(job, g, k, &u) < 0 || strv_consume(&v->units, u) < 0 ||
                            guest_instance_name(g, k, &n) < 0 || strv_consume(&v->instances, n) < 0)
                                return log_oom();
                }
        }
        if (role && !role_known)
                return log_error_errno(-ENOENT, "Job %s has no [Guest] with Role=%s.", job, role);
        return 0;
}

static int vms_require_selection(const VmsContext *v) {
        if (strv_length(v->units) > 0)
                return 0;
        if (v->role)
                return log_error_errno(-ENOENT, "Job %s has no guest of role %s on this host (%s).",
                                       v->job->name, v->role, v->config->host_name);
        return log_error_errno(-ENOENT, "Job %s has no guest with AutoStart=no on this host (%s).",
                               v->job->name, v->config->host_name);
}

static int vms_start(const char *job, const char *role) {
        _cleanup_(vms_context_done) VmsContext v = {};
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(unit_watch_freep) UnitWatch *jw = NULL, *w = NULL;
        _cleanup_free_ char *job_unit = NULL, *list = NULL;
        char *jobv[2] = {};
        int r;

        r = vms_select(job, role, &v);
        if (r >= 0)
                r = vms_require_selection(&v);
        if (r < 0)
                return r;
        r = unit_watch_open_bus(&bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to systemd: %m");
        /* Without the job's steps (hugepages, bridges, testpmd) the guests would start on a host
         * that is not ready for them: their units are ordered after the steps, not bound to them. */
        if (asprintf_safe(&job_unit, "mhtest@%s.service", job) < 0)
                return log_oom();
        jobv[0] = job_unit;
        r = unit_watch_new(bus, jobv, &jw);
        if (r < 0)
                return log_error_errno(r, "Failed to read the state of %s: %m", job_unit);
        if (!unit_state_is(&jw->units[0], "active") &&
            !(jw->units[0].job_id != 0 && streq_ptr(jw->units[0].job_type, "start")))
                return log_error_errno(-ESRCH, "Job %s is not started on this host (%s is %s): "
                                               "\"systemctl start %s\" first.",
                                       job, job_unit, strna(jw->units[0].active_state), job_unit);
        r = unit_watch_new(bus, v.units, &w);
        if (r < 0)
                return log_error_errno(r, "Failed to read the guest units of job %s: %m", job);
        for (size_t i = 0; i < w->n_units; i++) {
                r = unit_watch_start_unit(w, &w->units[i], "replace");
                if (r < 0)
                        return log_error_errno(r, "Failed to start %s: %m", w->units[i].name);
        }
        list = strv_join(v.instances, " ");
        if (!list)
                return log_oom();
        log_info("Job %s: starting %zu guest(s)%s%s: %s", job, w->n_units, role ? " of role " : "",
                 strempty(role), list);
        return 0;
}

static int vms_wait(const char *job, const char *role) {
        _cleanup_(vms_context_done) VmsContext v = {};
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(unit_watch_freep) UnitWatch *w = NULL;
        uint64_t t0 = now_usec(), deadline = arg_timeout_usec == UINT64_MAX ? UINT64_MAX : t0 + arg_timeout_usec;
        int r;

        r = vms_select(job, role, &v);
        if (r >= 0)
                r = vms_require_selection(&v);
        if (r < 0)
                return r;
        r = unit_watch_open_bus(&bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to systemd: %m");
        r = unit_watch_new(bus, v.units, &w);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the guest units of job %s: %m", job);

        for (;;) {
                _cleanup_strv_free_ char **pending = NULL;
                size_t n_failed = 0;
                uint64_t now;

                for (size_t i = 0; i < w->n_units; i++) {
                        const UnitState *u = &w->units[i];

                        /* Ready is active with no job left: a notify service is active once
                         * it said READY=1 (the guest's ready marker). */
                        if (u->job_id == 0 && !u->dirty && unit_state_is(u, "active"))
                                continue;
                        /* Failed, or inactive with no start pending (never started, or its
                         * start was cancelled): it will not get ready without someone acting.
                         * Activating without a job is a restart on its way. */
                        if (u->job_id == 0 && !u->dirty &&
                            (unit_state_inactive_or_failed(u) || !streq_ptr(u->load_state, "loaded"))) {
                                job_report_failed_unit(w, job, u, false);
                                n_failed++;
                                continue;
                        }
                        if (strv_extendf(&pending, "%s (%s%s%s)", v.instances[i], strna(u->active_state),
                                         u->job_type ? ", job " : "", strempty(u->job_type)) < 0)
                                return log_oom();
                }
                if (n_failed > 0)
                        return log_error_errno(-EIO, "Job %s: %zu of %zu guest(s) failed or are not started "
                                                     "(\"mhtest vms start %s%s%s\" starts them).",
                                               job, n_failed, w->n_units, job, role ? " " : "", strempty(role));
                if (!pending)
                        break;
                now = now_usec();
                if (now >= deadline) {
                        _cleanup_free_ char *list = strv_join(pending, ", ");
                        return log_error_errno(-ETIMEDOUT, "Job %s: guest(s) not ready after %.1f s: %s", job,
                                               (double) (now - t0) / USEC_PER_SEC, strna(list));
                }
                r = unit_watch_wait(w, deadline == UINT64_MAX ? UINT64_MAX : deadline - now);
                if (r < 0)
                        return log_error_errno(r, "Failed to watch the guest units of job %s: %m", job);
        }
        log_info("Job %s: %zu guest(s) ready after %.1f s.", job, w->n_units,
                 (double) (now_usec() - t0) / USEC_PER_SEC);
        return 0;
}

/* Every guest instance of the job with its role and unit state; the units of other hosts are
 * not this host's to ask. */
static int vms_list(const char *job, const char *role) {
        _cleanup_(vms_context_done) VmsContext v = {};
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(unit_watch_freep) UnitWatch *w = NULL;
        _cleanup_json_ json_object *out = json_object_new_array();
        _cleanup_strv_free_ char **units = strv_new(NULL);
        int r;

        r = vms_select(job, role, &v);
        if (r < 0)
                return r;
        if (!out || !units)
                return log_oom();
        for (size_t i = 0; i < v.job->n_guests; i++) {
                const GuestSection *g = v.job->guests[i];

                for (unsigned k = 0; guest_on_host(v.config, g, v.config->host_name) && k < g->count; k++) {
                        char *u = NULL;

                        if (guest_instance_unit(job, g, k, &u) < 0 || strv_consume(&units, u) < 0)
                                return log_oom();
                }
        }
        if (unit_watch_open_bus(&bus) >= 0)
                (void) unit_watch_new(bus, units, &w); /* no systemd here: states unknown */
        if (!arg_json && !arg_quiet)
                printf("%-20s %-12s %-9s %-16s %-12s %s\n", "GUEST", "ROLE", "AUTOSTART", "HOST", "STATE", "UNIT");
        for (size_t i = 0; i < v.job->n_guests; i++) {
                const GuestSection *g = v.job->guests[i];
                bool here = guest_on_host(v.config, g, v.config->host_name);

                if (role && !streq_ptr(g->role, role))
                        continue;
                for (unsigned k = 0; k < g->count; k++) {
                        _cleanup_free_ char *inst = NULL, *unit = NULL;
                        const char *state = here ? "unknown" : "elsewhere";
                        json_object *o;

                        if (guest_instance_name(g, k, &inst) < 0 || guest_instance_unit(job, g, k, &unit) < 0)
                                return log_oom();
                        for (size_t n = 0; here && w && n < w->n_units; n++)
                                if (streq(w->units[n].name, unit))
                                        state = strna(w->units[n].active_state);
                        o = json_object_new_object();
                        json_object_object_add(o, "guest", json_object_new_string(inst));
                        json_object_object_add(o, "role", g->role ? json_object_new_string(g->role) : NULL);
                        json_object_object_add(o, "auto_start", json_object_new_boolean(g->auto_start));
                        json_object_object_add(o, "host",
                                               json_object_new_string(g->host ?: v.config->host_name));
                        json_object_object_add(o, "unit", json_object_new_string(unit));
                        json_object_object_add(o, "state", json_object_new_string(state));
                        json_object_object_add(o, "launcher", json_object_new_boolean(!!g->launcher));
                        json_object_array_add(out, o);
                        if (!arg_json)
                                printf("%-20s %-12s %-9s %-16s %-12s %s\n", inst, strna(g->role),
                                       yes_no(g->auto_start), g->host ?: v.config->host_name, state, unit);
                }
        }
        if (arg_json)
                printf("%s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY |
                                                                           JSON_C_TO_STRING_NOSLASHESCAPE));
        return 0;
}

int verb_vms(int argc, char *argv[]) {
        const char *role = argc > 3 ? argv[3] : NULL;

        if (role && !unit_instance_name_valid(role))
                return log_error_errno(-EINVAL, "Invalid role \"%s\".", role);
        if (streq(argv[1], "start"))
                return vms_start(argv[2], role);
        if (streq(argv[1], "wait"))
                return vms_wait(argv[2], role);
        if (streq(argv[1], "list"))
                return vms_list(argv[2], role);
        return log_error_errno(-EINVAL, "Unknown command \"vms %s\" (expected start, wait or list).", argv[1]);
}
