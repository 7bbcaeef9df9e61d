/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mhtest job wait-started|wait-stopped JOB: what mhtest@JOB.service runs (ExecStart=,
 * ExecStopPost=), so that "systemctl start|stop mhtest@JOB" return only once every unit of the
 * job is active, or stopped. The job unit Wants= its units but is not ordered against them
 * (mhtest@.service(8) says why), so systemd runs these while the units start or stop; they wait
 * on the manager's signals. */
#include <time.h>

#include "config.h"
#include "journal.h"
#include "log.h"
#include "message-ids.h"
#include "mhtest.h"
#include "string-util.h"
#include "strv.h"
#include "unit-watch.h"

/* journal lines of a failed unit repeated in the job's own log */
#define JOB_TAIL_LINES 10
/* how long journald may take to write out what a failed unit said last */
#define JOURNAL_SYNC_TIMEOUT_USEC (2 * 1000000ULL)

static uint64_t mono_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

static double seconds_since(uint64_t t0) {
        return (double) (mono_usec() - t0) / 1e6;
}

static void job_log_context(const char *job) {
        _cleanup_(config_freep) Config *c = NULL;

        log_set_context_job(job);
        /* The host's name for MHTEST_HOST=; a configuration that does not load is the
         * validation's and the steps' to report, not this waiter's. */
        if (config_load(arg_root, &c) >= 0)
                log_set_context_host(c->host_name);
}

static int job_open(const char *job, char **ret_unit, sd_bus **ret_bus) {
        _cleanup_free_ char *unit = NULL;
        int r;

        if (asprintf_safe(&unit, "mhtest@%s.service", job) < 0)
                return log_oom();
        r = unit_watch_open_bus(ret_bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to systemd: %m");
        *ret_unit = TAKE_PTR(unit);
        return 0;
}

/* One entry per failed unit, named, with its result and last words, decided here and only here. */
void job_report_failed_unit(UnitWatch *w, const char *job, const UnitState *u, bool stopping) {
        _cleanup_strv_free_ char **tail = NULL, **fields = NULL;
        _cleanup_free_ char *result = NULL, *what = NULL, *lines = NULL;
        int r;

        if (!streq_ptr(u->load_state, "loaded"))
                r = asprintf_safe(&what, "%s could not be loaded (%s)", u->name, strna(u->load_state));
        else if (unit_state_is(u, "failed")) {
                (void) unit_watch_get_result(w, u, &result);
                r = asprintf_safe(&what, "%s failed%s (result: %s)", u->name,
                                  stopping ? " while stopping" : "", strna(result));
        } else
                r = asprintf_safe(&what, "%s did not start: its start job ended with result \"%s\"", u->name,
                                  strna(u->job_result));
        if (r < 0) {
                log_oom();
                return;
        }
        r = journal_sync(JOURNAL_SYNC_TIMEOUT_USEC);
        if (r < 0)
                log_debug_errno(r, "Failed to synchronize the journal, its last lines may be missing: %m");
        r = journal_unit_tail(u->name, u->invocation_id, JOB_TAIL_LINES, &tail);
        if (r < 0)
                log_debug_errno(r, "Failed to read the journal of %s: %m", u->name);
        if (r > 0) {
                lines = strv_join(tail, "\n    ");
                if (!lines) {
                        log_oom();
                        return;
                }
        }
        if (strv_extendf(&fields, "MHTEST_UNIT=%s", u->name) < 0) {
                log_oom();
                return;
        }
        log_event(LOG_ERR, 0, MHTEST_MESSAGE_JOB_UNIT_FAILED, fields, "Job %s: %s%s%s", job, what,
                  lines ? ". Its last journal lines:\n    " : ".", strempty(lines));
}

/* The units of the job: those PartOf= it (its ConsistsOf=); with only_wanted, those it also
 * Wants=, i.e. the ones its start started. An administrator's Wants= drop-in for something else
 * is not waited for. */
static int job_units(sd_bus *bus, const char *unit, bool only_wanted, char ***ret) {
        _cleanup_strv_free_ char **wants = NULL, **parts = NULL, **l = NULL;
        int r;

        r = unit_watch_get_unit_strv(bus, unit, "ConsistsOf", &parts);
        if (r >= 0 && only_wanted)
                r = unit_watch_get_unit_strv(bus, unit, "Wants", &wants);
        if (r < 0)
                return log_error_errno(r, "Failed to read the dependencies of %s: %m", unit);
        l = calloc(1, sizeof(char *));
        if (!l)
                return log_oom();
        STRV_FOREACH (p, parts)
                if ((!only_wanted || strv_contains(wants, *p)) && strv_extend(&l, *p) < 0)
                        return log_oom();
        strv_sort(l);
        *ret = TAKE_PTR(l);
        return 0;
}

static int job_wait_started(const char *job) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(unit_watch_freep) UnitWatch *w = NULL;
        _cleanup_strv_free_ char **units = NULL;
        _cleanup_free_ char *unit = NULL, *list = NULL;
        uint64_t t0 = mono_usec();
        int r;

        r = job_open(job, &unit, &bus);
        if (r < 0)
                return r;
        r = job_units(bus, unit, true, &units);
        if (r < 0)
                return r;
        list = strv_join(units, " ");
        if (!list)
                return log_oom();
        r = unit_watch_new(bus, units, &w);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the units of %s: %m", unit);

        for (;;) {
                bool all_active = true, failed = false;

                for (size_t i = 0; i < w->n_units; i++) {
                        const UnitState *u = &w->units[i];

                        /* A pending job decides; a unit "failed" from an earlier run that is
                         * about to be started again is not a failure. */
                        if (u->job_id != 0 || u->dirty) {
                                all_active = false;
                                continue;
                        }
                        if (unit_state_is(u, "active"))
                                continue;
                        all_active = false;
                        /* Inactive without a job: its start job was cancelled (a unit it
                         * requires failed) or it was stopped meanwhile. Activating or
                         * deactivating without a job (a service waiting to be restarted)
                         * will go on to one or the other. */
                        if (unit_state_inactive_or_failed(u) || !streq_ptr(u->load_state, "loaded")) {
                                job_report_failed_unit(w, job, u, false);
                                failed = true;
                        }
                }
                if (failed)
                        /* ExecStopPost= (wait-stopped) now stops every unit of the job. */
                        return log_error_errno(-EIO,
                                               "Job %s failed to start after %.1f s; stopping its units.",
                                               job, seconds_since(t0));
                if (all_active)
                        break;
                r = unit_watch_wait(w, UINT64_MAX);
                if (r < 0)
                        return log_error_errno(r, "Failed to watch the units of %s: %m", unit);
        }
        log_event(LOG_INFO, 0, MHTEST_MESSAGE_JOB_STARTED, NULL,
                  "Job %s: all %zu units active after %.1f s: %s", job, w->n_units, seconds_since(t0),
                  *list ? list : "(none)");
        return 0;
}

static int job_wait_stopped(const char *job) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(unit_watch_freep) UnitWatch *w = NULL;
        _cleanup_strv_free_ char **units = NULL;
        _cleanup_free_ char *unit = NULL, *own_job = NULL, *list = NULL;
        _cleanup_strv_free_ char **down = NULL, **wanted = NULL;
        _cleanup_free_ bool *was_up = NULL, *stop_sent = NULL;
        uint64_t t0 = mono_usec();
        bool restarting, failed = false;
        int r;

        r = job_open(job, &unit, &bus);
        if (r < 0)
                return r;
        /* Run as ExecStopPost=: during a stop ("stop"), after a failed start ("start"), or in
         * the stop half of a restart ("restart"), where systemd restarts the units with the
         * job (PartOf= propagates restart) and the start half waits for them. */
        r = unit_watch_get_job_type(bus, unit, &own_job);
        if (r < 0)
                return log_error_errno(r, "Failed to read the job of %s: %m", unit);
        restarting = streq_ptr(own_job, "restart");
        r = job_units(bus, unit, false, &units);
        if (r >= 0)
                r = job_units(bus, unit, true, &wanted);
        if (r < 0)
                return r;
        r = unit_watch_new(bus, units, &w);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the units of %s: %m", unit);
        was_up = calloc(MAX(w->n_units, 1u), sizeof(bool));
        stop_sent = calloc(MAX(w->n_units, 1u), sizeof(bool));
        if (!was_up || !stop_sent)
                return log_oom();
        for (size_t i = 0; i < w->n_units; i++)
                was_up[i] = w->units[i].job_id != 0 || !unit_state_inactive_or_failed(&w->units[i]);

        for (;;) {
                bool all_down = true;

                for (size_t i = 0; i < w->n_units; i++) {
                        UnitState *u = &w->units[i];

                        if (u->dirty) {
                                all_down = false;
                                continue;
                        }
                        if (u->job_id == 0 && unit_state_inactive_or_failed(u))
                                continue;
                        if (u->job_id != 0 && !u->job_type) { /* job gone meanwhile: re-read */
                                all_down = false;
                                continue;
                        }
                        if (u->job_id != 0 && streq(u->job_type, "stop")) {
                                all_down = false;
                                continue;
                        }
                        if (u->job_id != 0 && restarting)
                                continue; /* restarted with the job */
                        if (stop_sent[i] && u->job_id == 0 && !unit_state_is(u, "deactivating")) {
                                /* stopped on our request, then started again by someone else */
                                log_warning(
                                        "Job %s: %s was started again while the job stopped, not waiting for it.",
                                        job, u->name);
                                continue;
                        }
                        all_down = false;
                        if (stop_sent[i])
                                continue;
                        /* A step applying right now is not cut short (its apply would be left
                         * half done, with no revert to follow): once it is active, it is
                         * stopped and reverts, or it failed and rolled back by itself. */
                        if (u->oneshot && streq_ptr(u->job_type, "start") && unit_state_is(u, "activating"))
                                continue;
                        /* Not on its way down: a start still pending after a failed start, or a
                         * unit that got no stop job. It is part of the job: stop it. */
                        log_debug("Job %s: stopping %s (%s%s%s).", job, u->name, u->active_state,
                                  u->job_type ? ", job " : "", strempty(u->job_type));
                        r = unit_watch_stop_unit(w, u, "replace");
                        if (r < 0)
                                return log_error_errno(r, "Failed to stop %s: %m", u->name);
                        stop_sent[i] = true;
                        u->dirty = true; /* read its stop job back before judging it again */
                }
                if (all_down)
                        break;
                r = unit_watch_wait(w, UINT64_MAX);
                if (r < 0)
                        return log_error_errno(r, "Failed to watch the units of %s: %m", unit);
        }

        if (restarting) {
                log_info("Job %s restarts; its units restart with it.", job);
                return 0;
        }
        for (size_t i = 0; i < w->n_units; i++) {
                /* named: the units the job uses, and any other unit of it that was up */
                if ((was_up[i] || strv_contains(wanted, w->units[i].name)) &&
                    strv_extend(&down, w->units[i].name) < 0)
                        return log_oom();
                if (was_up[i] && unit_state_is(&w->units[i], "failed")) {
                        job_report_failed_unit(w, job, &w->units[i], true);
                        failed = true;
                }
        }
        if (failed)
                return log_error_errno(-EIO, "Job %s: not every unit stopped cleanly (%.1f s).", job,
                                       seconds_since(t0));
        list = strv_join(down, " ");
        if (!list)
                return log_oom();
        log_event(LOG_INFO, 0, MHTEST_MESSAGE_JOB_STOPPED, NULL,
                  "Job %s: all %zu units stopped after %.1f s%s%s%s", job, strv_length(down),
                  seconds_since(t0), streq_ptr(own_job, "start") ? " (the start failed)" : "",
                  *list ? ": " : "", list);
        return 0;
}

int verb_job(int argc, char *argv[]) {
        job_log_context(argv[2]);
        if (streq(argv[1], "wait-started"))
                return job_wait_started(argv[2]);
        if (streq(argv[1], "wait-stopped"))
                return job_wait_stopped(argv[2]);
        return log_error_errno(
                -EINVAL, "Unknown command \"job %s\" (expected wait-started or wait-stopped).", argv[1]);
}
