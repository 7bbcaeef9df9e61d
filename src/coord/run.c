/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <pthread.h>
#include <inttypes.h>
#include "coord.h"
#include "fileio.h"
#include "log.h"
#include "migrate.h"
#include "shells.h"
#include "state.h"
#include "string-util.h"
#include "strv.h"

typedef struct HostRun {
        RemoteHost remote;
        sd_bus *bus;
        char *state;
        bool ok;
} HostRun;

typedef struct StepThread {
        pthread_t thread;
        const char *job;
        const JobConfig *j;
        const MigrationStep *step;
        const RemoteHost *from, *to;
        ShellRun *shells;
        MigrationResult result;
} StepThread;

static void *step_thread(void *p) {
        StepThread *t = p;
        const char *wait_for = t->step->migration->wait_for;

        /* [Migration] WaitFor=: the test shells say when (LAVA multinode message) */
        if (wait_for && shells_wait_for_message(t->shells, wait_for, t->step->migration->timeout_usec) < 0) {
                t->result = (MigrationResult) { .step = t->step, .check = -1 };
                sync_barrier_arrive(t->step->barrier, false); /* do not hold the section's others */
                (void) asprintf_safe(&t->result.error, "no test shell sent %s (WaitFor=) within TimeoutSec=",
                                     wait_for);
                return NULL;
        }
        (void) migrate_one(t->job, t->j, t->step, t->from, t->to, &t->result);
        shells_migration_ended(t->shells, &t->result);
        return NULL;
}

static const RemoteHost *find_remote(HostRun *hosts, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (streq(hosts[i].remote.name, name))
                        return &hosts[i].remote;
        return NULL;
}

/* After a migration the guest's service on the source has exited (the domain left); start it
 * on the destination, where it adopts the running domain and supervises it. */
static void supervise_on(HostRun *hosts, size_t n, const char *job, const MigrationStep *st) {
        _cleanup_free_ char *unit = NULL, *state = NULL;

        for (size_t i = 0; i < n; i++) {
                if (!streq(hosts[i].remote.name, st->to) || !hosts[i].bus)
                        continue;
                if (asprintf_safe(&unit, "mhtest-guest@%s:%s.service", job, st->guest) < 0)
                        return;
                if (remote_unit_start(hosts[i].bus, unit, 120 * USEC_PER_SEC, &state) < 0)
                        log_warning("%s on %s is %s after the migration.", unit, st->to, strna(state));
                return;
        }
}

static int shells_junit_write(xmlTextWriterPtr w, const void *userdata) {
        return shells_junit(userdata, w);
}

int coord_run(const Config *c, const JobConfig *j, const CoordOptions *o) {
        _cleanup_(schedule_done) Schedule s = {};
        _cleanup_free_ HostRun *hosts = NULL;
        _cleanup_free_ MigrationResult **all = NULL;
        _cleanup_free_ StepThread *threads = NULL;
        _cleanup_(shells_freep) ShellRun *shells = NULL;
        size_t n_hosts = strv_length(j->job->hosts), n_all = 0, n_threads = 0;
        bool ok = true, tty = isatty(STDOUT_FILENO);
        json_object *out = json_object_new_object(), *jprov = json_object_new_array(),
                    *jmig = json_object_new_array();
        int r;

        json_object_object_add(out, "job", json_object_new_string(j->name));
        json_object_object_add(out, "provisioning", jprov);
        json_object_object_add(out, "migrations", jmig);
        if (n_hosts == 0) {
                json_object_put(out);
                return log_error_errno(-EINVAL, "Job %s has no [Job] Hosts=: nothing to coordinate.", j->name);
        }
        r = schedule_build(j, &s);
        if (r < 0) {
                json_object_put(out);
                return log_error_errno(r, "Failed to build the schedule: %m");
        }
        hosts = calloc(n_hosts, sizeof(HostRun));
        if (!hosts) {
                json_object_put(out);
                return log_oom();
        }

        /* 1. provision every host: systemctl start mhtest@JOB, over D-Bus via SSH */
        for (size_t i = 0; i < n_hosts; i++) {
                _cleanup_free_ char *unit = NULL;
                HostRun *h = &hosts[i];
                json_object *p = json_object_new_object();

                json_object_object_add(p, "host", json_object_new_string(j->job->hosts[i]));
                json_object_array_add(jprov, p);
                r = remote_host_from_config(c, j->job->hosts[i], &h->remote);
                if (r < 0) {
                        log_error("Host %s is not declared in hosts.d/.", j->job->hosts[i]);
                        h->remote.name = j->job->hosts[i];
                        ok = false;
                        continue;
                }
                if (asprintf_safe(&unit, "mhtest@%s.service", j->name) < 0)
                        return log_oom();
                if (tty)
                        printf("[provision] %s: starting %s ...\n", h->remote.name, unit);
                r = remote_bus_open(&h->remote, &h->bus);
                if (r < 0) {
                        log_error_errno(r, "Failed to connect to systemd on %s (%s): %m", h->remote.name,
                                        h->remote.ssh_target);
                        ok = false;
                        continue;
                }
                r = remote_unit_start(h->bus, unit, o->timeout_usec, &h->state);
                h->ok = r >= 0;
                json_object_object_add(p, "state", json_object_new_string(strna(h->state)));
                json_object_object_add(p, "passed", json_object_new_boolean(h->ok));
                if (!h->ok) {
                        log_error_errno(r, "%s on %s did not become active (%s): see journalctl MHTEST_JOB=%s on %s",
                                        unit, h->remote.name, strna(h->state), j->name, h->remote.name);
                        ok = false;
                } else if (tty)
                        printf("[provision] %s: %s active\n", h->remote.name, unit);
        }

        /* 2. the test shells, in parallel with the migrations */
        if (ok) {
                ShellOptions so = { .lava_scripts = o->lava_scripts, .tty = tty };
                if (shells_start(c, j, &so, &shells) < 0)
                        ok = false;
        }

        /* 3. the migration phases, the steps of a phase in parallel */
        for (size_t i = 0; ok && i < s.n_phases; i++) {
                SchedulePhase *ph = &s.phases[i];

                free(threads);
                threads = calloc(ph->n_steps, sizeof(StepThread));
                if (!threads)
                        return log_oom();
                n_threads = ph->n_steps;
                if (tty)
                        printf("[%zu/%zu] %s\n", i + 1, s.n_phases, ph->label);
                for (size_t k = 0; k < ph->n_steps; k++) {
                        StepThread *t = &threads[k];
                        *t = (StepThread) { .job = j->name, .j = j, .step = &ph->steps[k],
                                            .from = find_remote(hosts, n_hosts, ph->steps[k].from),
                                            .to = find_remote(hosts, n_hosts, ph->steps[k].to),
                                            .shells = shells };
                        if (pthread_create(&t->thread, NULL, step_thread, t) != 0)
                                return log_error_errno(-EAGAIN, "Failed to start a migration thread.");
                }
                for (size_t k = 0; k < n_threads; k++) {
                        MigrationResult **n;
                        pthread_join(threads[k].thread, NULL);
                        n = realloc(all, sizeof(MigrationResult *) * (n_all + 1));
                        if (!n)
                                return log_oom();
                        all = n;
                        all[n_all] = malloc(sizeof(MigrationResult));
                        if (!all[n_all])
                                return log_oom();
                        *all[n_all] = threads[k].result;
                        json_object_array_add(jmig, migration_result_to_json(all[n_all]));
                        if (!all[n_all]->ok)
                                ok = false;
                        else if (all[n_all]->step->migration->mode != MIGRATION_OFFLINE)
                                /* offline: the guest runs on, supervised, at the source */
                                supervise_on(hosts, n_hosts, j->name, all[n_all]->step);
                        printf("  %s %s: %s -> %s  %s", all[n_all]->ok ? "PASS" : "FAIL", all[n_all]->step->guest,
                               all[n_all]->step->from, all[n_all]->step->to,
                               all[n_all]->ok ? "" : strna(all[n_all]->error));
                        if (all[n_all]->ok)
                                printf("downtime %" PRIu64 " ms, total %" PRIu64 " ms (wall %" PRIu64
                                       " ms), data %" PRIu64 " bytes",
                                       all[n_all]->downtime_ms, all[n_all]->elapsed_ms, all[n_all]->wall_ms,
                                       all[n_all]->data_bytes);
                        printf("\n");
                        n_all++;
                }
        }

        /* the run ends when every test shell has ended too */
        if (!shells_wait(shells))
                ok = false;
        json_object_object_add(out, "tests", shells_to_json(shells));

        /* 4. put the hosts back unless asked to keep them: guests first (a migrated guest is
         * supervised where it landed, outside that host's mhtest@JOB), then the job */
        for (size_t i = 0; !o->keep && i < n_hosts; i++) {
                _cleanup_free_ char *unit = NULL;
                if (!hosts[i].bus)
                        continue;
                for (size_t g = 0; g < j->n_guests; g++) {
                        _cleanup_free_ char *gu = NULL;
                        if (asprintf_safe(&gu, "mhtest-guest@%s:%s.service", j->name, j->guests[g]->section.name) < 0)
                                return log_oom();
                        (void) remote_unit_stop(hosts[i].bus, gu, o->timeout_usec);
                }
                if (asprintf_safe(&unit, "mhtest@%s.service", j->name) < 0)
                        return log_oom();
                if (remote_unit_stop(hosts[i].bus, unit, o->timeout_usec) < 0) {
                        log_error("Failed to stop %s on %s.", unit, hosts[i].remote.name);
                        ok = false;
                }
        }

        json_object_object_add(out, "passed", json_object_new_boolean(ok));
        if (o->json_file) {
                r = write_file_atomic(o->json_file,
                                      json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY |
                                                                                  JSON_C_TO_STRING_NOSLASHESCAPE),
                                      0644);
                if (r < 0)
                        log_error_errno(r, "Failed to write %s: %m", o->json_file);
        }
        if (o->junit_file) {
                _cleanup_free_ ReportHost *rh = calloc(n_hosts, sizeof(ReportHost));
                if (!rh)
                        return log_oom();
                for (size_t i = 0; i < n_hosts; i++)
                        rh[i] = (ReportHost) { .name = hosts[i].remote.name, .ok = hosts[i].ok,
                                               .state = hosts[i].state };
                ReportExtra tests = { .write = shells_junit_write, .userdata = shells };
                shells_count(shells, &tests.n_tests, &tests.n_failures);
                r = report_write_junit(o->junit_file, j->name, all, n_all, rh, n_hosts, &tests);
                if (r < 0)
                        log_error_errno(r, "Failed to write %s: %m", o->junit_file);
        }
        json_object_put(out);
        printf("%s: %zu migration(s), %s\n", j->name, n_all, ok ? "all passed" : "FAILED");

        for (size_t i = 0; i < n_all; i++) {
                migration_result_done(all[i]);
                free(all[i]);
        }
        for (size_t i = 0; i < n_hosts; i++) {
                sd_bus_flush_close_unref(hosts[i].bus);
                free(hosts[i].state);
                if (hosts[i].remote.ssh_target)
                        remote_host_done(&hosts[i].remote);
        }
        return ok ? 0 : -EIO;
}
