/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <pthread.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include "coord.h"
#include "fileio.h"
#include "log.h"
#include "message-ids.h"
#include "migrate.h"
#include "preflight.h"
#include "shells.h"
#include "state.h"
#include "string-util.h"
#include "strv.h"
#include "unit-watch.h"
#include "virt-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(virConnectPtr, virConnectClose);
DEFINE_TRIVIAL_CLEANUP_FUNC(virDomainPtr, virDomainFree);

#define JOURNAL_LINES 12
#define HANDOVER_TIMEOUT_USEC (120 * USEC_PER_SEC)

typedef struct HostRun {
        RemoteHost remote;
        sd_bus *bus;
        pthread_mutex_t lock; /* the bus: one thread at a time */
        const char *job;
        uint64_t timeout_usec;
        pthread_t thread;
        bool started;      /* a start job was sent: the end of the run stops the job here */
        char *state;       /* systemd's result of the start job of mhtest@JOB ("done", "failed", ...) */
        char *failed_unit; /* the unit whose start job failed */
        char *explanation; /* the units that failed, each with its last journal lines */
        bool ok;
} HostRun;

/* Where a guest is, asked of libvirt on every host, and who supervises it there (systemd). */
typedef struct GuestPlace {
        char *host;  /* NULL: running nowhere */
        char *state; /* libvirt's domain state there */
        char *unit_state; /* ActiveState of mhtest-guest@JOB:GUEST on that host */
} GuestPlace;

typedef struct StepThread {
        pthread_t thread;
        const char *job;
        const JobConfig *j;
        const MigrationStep *step;
        HostRun *hosts;
        size_t n_hosts;
        HostRun *from, *to;
        ShellRun *shells;
        MigrationResult result;
        GuestPlace place; /* after the step */
        bool done;        /* under running_lock */
        atomic_bool waiting; /* for its WaitFor= message: no migration to abort */
} StepThread;

/* SIGINT/SIGTERM: a thread of their own takes them (sigwait, no handler), sets this and aborts
 * the running migrations through libvirt; every other thread looks at the flag. */
static atomic_bool interrupted;
static pthread_mutex_t running_lock = PTHREAD_MUTEX_INITIALIZER;
static StepThread *running;
static size_t n_running;
static ShellRun *running_shells; /* under running_lock: what SIGINT/SIGTERM ends */

static bool run_interrupted(void) {
        return atomic_load(&interrupted);
}

static void guest_place_done(GuestPlace *p) {
        free(p->host);
        free(p->state);
        free(p->unit_state);
        *p = (GuestPlace) {};
}

static const char *domain_state_to_string(int state) {
        static const char *const table[] = {
                [VIR_DOMAIN_NOSTATE] = "no state",  [VIR_DOMAIN_RUNNING] = "running",
                [VIR_DOMAIN_BLOCKED] = "blocked",   [VIR_DOMAIN_PAUSED] = "paused",
                [VIR_DOMAIN_SHUTDOWN] = "shutting down", [VIR_DOMAIN_SHUTOFF] = "shut off",
                [VIR_DOMAIN_CRASHED] = "crashed",   [VIR_DOMAIN_PMSUSPENDED] = "suspended",
        };
        return state >= 0 && (size_t) state < ELEMENTSOF(table) && table[state] ? table[state] : "unknown";
}

static int guest_unit_name(const char *job, const char *guest, char **ret) {
        return asprintf_safe(ret, "mhtest-guest@%s:%s.service", job, guest) < 0 ? -ENOMEM : 0;
}

static int guest_domain(const JobConfig *j, const char *guest, char **ret) {
        for (size_t i = 0; i < j->n_guests; i++)
                if (streq(j->guests[i]->section.name, guest))
                        return guest_domain_name(j->name, j->guests[i], 0, ret);
        return -ENOENT;
}

/* Ask libvirt on every host where the domain is. A running copy wins over a paused one (a
 * failed migration can leave the destination's paused and gone a moment later). */
static int guest_locate(HostRun *hosts, size_t n_hosts, const char *domain, GuestPlace *ret) {
        int best = -1, best_state = VIR_DOMAIN_NOSTATE;

        for (size_t i = 0; i < n_hosts; i++) {
                _cleanup_(virConnectClosep) virConnectPtr conn = NULL;
                _cleanup_(virDomainFreep) virDomainPtr dom = NULL;
                int state = VIR_DOMAIN_NOSTATE, reason;

                if (!hosts[i].remote.libvirt_uri || !(conn = virConnectOpen(hosts[i].remote.libvirt_uri)))
                        continue;
                dom = virDomainLookupByName(conn, domain);
                if (!dom || virDomainGetState(dom, &state, &reason, 0) < 0)
                        continue;
                if (state == VIR_DOMAIN_SHUTOFF)
                        continue;
                if (best < 0 || (state == VIR_DOMAIN_RUNNING && best_state != VIR_DOMAIN_RUNNING)) {
                        best = (int) i;
                        best_state = state;
                }
        }
        *ret = (GuestPlace) {};
        if (best < 0)
                return 0;
        ret->host = strdup(hosts[best].remote.name);
        ret->state = strdup(domain_state_to_string(best_state));
        return ret->host && ret->state ? 1 : -ENOMEM;
}

static HostRun *find_host(HostRun *hosts, size_t n, const char *name) {
        for (size_t i = 0; name && i < n; i++)
                if (streq(hosts[i].remote.name, name))
                        return &hosts[i];
        return NULL;
}

/* Make sure the guest's service runs where the guest is: start it there (it adopts the running
 * domain), wait for systemd's verdict. */
static int guest_supervise(HostRun *h, const char *unit, char **ret_state) {
        _cleanup_free_ char *result = NULL;
        int r;

        if (!h->bus)
                return -ENOTCONN;
        pthread_mutex_lock(&h->lock);
        r = remote_unit_start(h->bus, unit, HANDOVER_TIMEOUT_USEC, NULL, &result);
        if (ret_state && remote_unit_state(h->bus, unit, ret_state, NULL) < 0)
                *ret_state = NULL;
        pthread_mutex_unlock(&h->lock);
        if (r == -EIO)
                log_error("Starting %s on %s ended with \"%s\".", unit, h->remote.name, strna(result));
        return r;
}

static void step_fail(StepThread *t, const char *fmt, ...) _printf_(2, 3);
static void step_fail(StepThread *t, const char *fmt, ...) {
        _cleanup_free_ char *more = NULL;
        va_list ap;
        char *e;

        va_start(ap, fmt);
        if (vasprintf(&more, fmt, ap) < 0)
                more = NULL;
        va_end(ap);
        t->result.ok = false;
        if (t->result.error && asprintf_safe(&e, "%s; %s", t->result.error, strna(more)) >= 0) {
                free(t->result.error);
                t->result.error = e;
        } else if (!t->result.error)
                t->result.error = TAKE_PTR(more);
}

/* The hand-over after a migration libvirt completed: the source's guest service ends cleanly
 * (the domain left: exit 0), the destination's starts and adopts the domain, and libvirt has the
 * domain running there. Any of these failing fails the migration. */
static void step_handover(StepThread *t, const char *unit) {
        _cleanup_free_ char *result = NULL;
        int r;

        if (t->from->bus) {
                pthread_mutex_lock(&t->from->lock);
                r = remote_unit_wait_stopped(t->from->bus, unit, HANDOVER_TIMEOUT_USEC, &result);
                pthread_mutex_unlock(&t->from->lock);
                if (r < 0)
                        step_fail(t, "%s on %s did not end after the domain left: %s", unit, t->from->remote.name,
                                  strerror(-r));
                else if (!streq(result, "success"))
                        step_fail(t, "%s on %s ended with result \"%s\" instead of a clean exit", unit,
                                  t->from->remote.name, result);
        }
        r = guest_supervise(t->to, unit, &t->place.unit_state);
        if (r < 0)
                step_fail(t, "%s did not adopt the guest on %s (%s)", unit, t->to->remote.name,
                          r == -EIO ? "its start failed" : strerror(-r));
}

/* After a migration that failed: find the guest with libvirt and have it supervised there. */
static void step_settle(StepThread *t, const char *unit) {
        HostRun *h;
        int r;

        r = guest_locate(t->hosts, t->n_hosts, t->result.domain, &t->place);
        if (r <= 0) {
                step_fail(t, "libvirt has guest %s running on no host", t->step->guest);
                return;
        }
        h = find_host(t->hosts, t->n_hosts, t->place.host);
        r = guest_supervise(h, unit, &t->place.unit_state);
        if (r < 0)
                step_fail(t, "guest %s runs on %s but %s could not supervise it there", t->step->guest, h->remote.name,
                          unit);
}

static bool step_wait_for(StepThread *t, const char *message_id) {
        int k;

        log_info("Migration %s of %s waits for %s (WaitFor=).", t->step->migration->section.name, t->step->guest,
                 message_id);
        atomic_store(&t->waiting, true);
        k = shells_wait_for_message(t->shells, message_id, t->step->migration->timeout_usec);
        atomic_store(&t->waiting, false);
        return k >= 0 && !run_interrupted();
}

static void *step_thread(void *p) {
        StepThread *t = p;
        const char *wait_for = t->step->migration->wait_for;
        _cleanup_free_ char *unit = NULL;

        if (run_interrupted()) {
                t->result = (MigrationResult) { .step = t->step, .check = -1,
                                                .error = strdup("not started: the run was interrupted") };
                sync_barrier_arrive(t->step->barrier, false); /* do not hold the section's others */
                (void) guest_domain(t->j, t->step->guest, &t->result.domain);
        } else if (wait_for && !step_wait_for(t, wait_for)) {
                /* [Migration] WaitFor=: the test shells say when (LAVA multinode message) */
                t->result = (MigrationResult) { .step = t->step, .check = -1 };
                sync_barrier_arrive(t->step->barrier, false); /* do not hold the section's others */
                (void) asprintf_safe(&t->result.error,
                                     run_interrupted() ? "not started: the run was interrupted while waiting for %s (WaitFor=)"
                                                       : "no test shell sent %s (WaitFor=) within TimeoutSec=",
                                     wait_for);
                (void) guest_domain(t->j, t->step->guest, &t->result.domain);
        } else {
                (void) migrate_one(t->job, t->j, t->step, &t->from->remote, &t->to->remote, &t->result);
                shells_migration_ended(t->shells, &t->result);
        }

        if (guest_unit_name(t->job, t->step->guest, &unit) >= 0 && t->result.domain) {
                bool offline = t->step->migration->mode == MIGRATION_OFFLINE;

                /* offline: the guest runs on at the source, supervised there */
                if (t->result.ok && !offline)
                        step_handover(t, unit);
                if (!t->result.ok || offline)
                        step_settle(t, unit);
                else if (!(t->place.host = strdup(t->to->remote.name)) || !(t->place.state = strdup("running")))
                        step_fail(t, "out of memory");
        }

        pthread_mutex_lock(&running_lock);
        t->done = true;
        pthread_mutex_unlock(&running_lock);
        return NULL;
}

static void abort_migration(const StepThread *t) {
        _cleanup_(virConnectClosep) virConnectPtr conn = NULL;
        _cleanup_(virDomainFreep) virDomainPtr dom = NULL;
        _cleanup_free_ char *domain = NULL;

        /* a connection of its own: the migrating thread's is busy in the migration call */
        if (guest_domain(t->j, t->step->guest, &domain) < 0 || !(conn = virConnectOpen(t->from->remote.libvirt_uri)) ||
            !(dom = virDomainLookupByName(conn, domain)))
                return;
        if (virDomainAbortJob(dom) < 0)
                log_warning("Could not abort the migration of %s on %s: %s", t->step->guest, t->from->remote.name,
                            virGetLastErrorMessage());
        else
                log_notice("Aborted the migration of %s from %s to %s.", t->step->guest, t->step->from, t->step->to);
}

static void *signal_thread(void *p) {
        const sigset_t *set = p;

        for (;;) {
                int sig;

                if (sigwait(set, &sig) != 0)
                        continue;
                if (atomic_exchange(&interrupted, true)) {
                        log_notice("Got %s again: still putting the guests in a known place.", strsignal(sig));
                        continue;
                }
                log_event(LOG_NOTICE, 0, MHTEST_MESSAGE_COORD_INTERRUPTED, NULL,
                          "Got %s: aborting the running migrations, then reporting where every guest is.",
                          strsignal(sig));
                pthread_mutex_lock(&running_lock);
                for (size_t i = 0; i < n_running; i++)
                        if (!running[i].done && !atomic_load(&running[i].waiting))
                                abort_migration(&running[i]);
                /* the test shells too: a run waiting for them, or a step waiting for its
                 * WaitFor= message, ends now */
                shells_cancel(running_shells);
                pthread_mutex_unlock(&running_lock);
        }
        return NULL;
}

/* every line of s after prefix */
static char *indent_lines(const char *s, const char *prefix) {
        size_t n = strlen(prefix) + 1;
        char *out, *o;

        for (const char *c = s; *c; c++)
                n += *c == '\n' ? strlen(prefix) + 1 : 1;
        out = o = malloc(n);
        if (!out)
                return NULL;
        o = stpcpy(o, prefix);
        for (const char *c = s; *c; c++) {
                *o++ = *c;
                if (*c == '\n')
                        o = stpcpy(o, prefix);
        }
        *o = 0;
        return out;
}

static void *provision_thread(void *p) {
        HostRun *h = p;
        _cleanup_strv_free_ char **wants = NULL;
        _cleanup_free_ char *unit = NULL;
        int r;

        if (asprintf_safe(&unit, "mhtest@%s.service", h->job) < 0)
                return NULL;
        if (!h->bus)
                return NULL;
        /* the units the job pulls in: a guest that fails to start fails the provisioning at
         * once, though systemd restarts it and the job itself would keep waiting */
        (void) unit_watch_get_unit_strv(h->bus, unit, "Wants", &wants);
        h->started = true;
        r = remote_unit_start_all(h->bus, unit, wants, h->timeout_usec, run_interrupted, &h->state, &h->failed_unit);
        h->ok = r >= 0;
        if (r == -ETIMEDOUT || r == -ECANCELED)
                h->state = strdup(r == -ETIMEDOUT ? "timeout (--timeout)" : "interrupted");
        if (!h->ok && r != -ECANCELED) {
                _cleanup_strv_free_ char **units = NULL;
                _cleanup_(unit_watch_freep) UnitWatch *w = NULL;
                _cleanup_free_ char *text = NULL;

                /* which of the job's units failed, and the journal lines that say why */
                units = strv_new(unit);
                if (!units || strv_extend_strv(&units, wants) < 0)
                        return NULL;
                if (unit_watch_new(h->bus, units, &w) < 0)
                        return NULL;
                for (size_t i = 0; i < w->n_units; i++) {
                        const UnitState *u = &w->units[i];
                        _cleanup_free_ char *result = NULL, *lines = NULL, *indented = NULL;
                        char *n;

                        if (!unit_state_is(u, "failed") && !streq_ptr(u->name, h->failed_unit) &&
                            !(i == 0 && !unit_state_is(u, "active")))
                                continue;
                        (void) unit_watch_get_result(w, u, &result);
                        (void) remote_journal_tail(&h->remote, u->name, JOURNAL_LINES, &lines);
                        indented = indent_lines(isempty(lines) ? "(no journal lines)" : lines, "      ");
                        if (asprintf_safe(&n, "%s\n    %s (%s, result %s):\n%s", strempty(text), u->name,
                                          strna(u->active_state), strna(result), strna(indented)) < 0)
                                return NULL;
                        free(text);
                        text = n;
                }
                h->explanation = TAKE_PTR(text);
        }
        return NULL;
}

static int shells_junit_write(xmlTextWriterPtr w, const void *userdata) {
        return shells_junit(userdata, w);
}

static void print_step(const StepThread *t) {
        const MigrationResult *m = &t->result;

        printf("  %s %s: %s -> %s  ", m->ok ? "PASS" : "FAIL", m->step->guest, m->step->from, m->step->to);
        if (m->ok)
                printf("downtime %" PRIu64 " ms, total %" PRIu64 " ms (wall %" PRIu64 " ms), data %" PRIu64 " bytes",
                       m->downtime_ms, m->elapsed_ms, m->wall_ms, m->data_bytes);
        else
                printf("%s", strna(m->error));
        if (t->place.host)
                printf("; guest %s on %s, mhtest-guest@ %s there", strna(t->place.state), t->place.host,
                       strna(t->place.unit_state));
        else
                printf("; guest running on no host");
        printf("\n");
}

static json_object *place_json(const char *guest, const char *domain, const GuestPlace *p) {
        json_object *o = json_object_new_object();

        if (guest)
                json_object_object_add(o, "guest", json_object_new_string(guest));
        if (domain)
                json_object_object_add(o, "domain", json_object_new_string(domain));
        json_object_object_add(o, "host", p->host ? json_object_new_string(p->host) : NULL);
        json_object_object_add(o, "state", json_object_new_string(p->state ?: "not running"));
        json_object_object_add(o, "unit_state", p->unit_state ? json_object_new_string(p->unit_state) : NULL);
        json_object_object_add(o, "supervised", json_object_new_boolean(streq_ptr(p->unit_state, "active")));
        return o;
}

/* The end of every run that provisioned: where each guest of the job is, from libvirt, and the
 * state of its service there, from systemd. */
static int report_guests(HostRun *hosts, size_t n_hosts, const JobConfig *j, json_object *arr) {
        bool ok = true;

        printf("Where every guest is:\n");
        for (size_t i = 0; i < j->n_guests; i++) {
                const char *name = j->guests[i]->section.name;
                _cleanup_free_ char *domain = NULL, *unit = NULL;
                _cleanup_strv_free_ char **fields = calloc(5, sizeof(char *));
                _cleanup_(guest_place_done) GuestPlace p = {};
                HostRun *h;

                if (!fields || guest_domain_name(j->name, j->guests[i], 0, &domain) < 0 ||
                    guest_unit_name(j->name, name, &unit) < 0)
                        return log_oom();
                if (guest_locate(hosts, n_hosts, domain, &p) > 0 && (h = find_host(hosts, n_hosts, p.host)) && h->bus) {
                        pthread_mutex_lock(&h->lock);
                        (void) remote_unit_state(h->bus, unit, &p.unit_state, NULL);
                        pthread_mutex_unlock(&h->lock);
                }
                printf("  %-16s %-16s %-14s %s %s\n", name, p.host ?: "-", p.state ?: "not running", unit,
                       p.unit_state ?: "-");
                if (asprintf_safe(&fields[0], "MHTEST_GUEST=%s", name) < 0 ||
                    asprintf_safe(&fields[1], "MHTEST_HOST=%s", strempty(p.host)) < 0 ||
                    asprintf_safe(&fields[2], "DOMAIN_STATE=%s", p.state ?: "not running") < 0 ||
                    asprintf_safe(&fields[3], "UNIT_STATE=%s", p.unit_state ?: "") < 0)
                        return log_oom();
                log_event(LOG_INFO, 0, MHTEST_MESSAGE_COORD_GUEST_PLACE, fields, "Guest %s: %s%s%s, %s %s.", name,
                          p.state ?: "not running", p.host ? " on " : "", strempty(p.host), unit,
                          p.unit_state ?: "not asked");
                if (p.host && !streq_ptr(p.unit_state, "active")) {
                        log_error("Guest %s runs on %s without its service (%s is %s there).", name, p.host, unit,
                                  strna(p.unit_state));
                        ok = false;
                }
                json_object_array_add(arr, place_json(name, domain, &p));
        }
        return ok ? 0 : -EIO;
}

int coord_run(const Config *c, const JobConfig *j, const CoordOptions *o) {
        _cleanup_(schedule_done) Schedule s = {};
        _cleanup_free_ HostRun *hosts = NULL;
        _cleanup_free_ const RemoteHost **remotes = NULL;
        _cleanup_free_ MigrationResult **all = NULL;
        _cleanup_free_ StepThread *threads = NULL;
        _cleanup_strv_free_ char **failed_guests = NULL;
        _cleanup_(shells_freep) ShellRun *shells = NULL;
        size_t n_hosts = strv_length(j->job->hosts), n_all = 0, n_threads = 0;
        bool ok = true, migrations_ok = true, tty = isatty(STDOUT_FILENO), provisioned = false,
             have_signal_thread = false;
        json_object *out = json_object_new_object(), *jprov = json_object_new_array(),
                    *jmig = json_object_new_array(), *jguests = json_object_new_array(),
                    *jskipped = json_object_new_array();
        pthread_t sig_tid;
        sigset_t set, old;
        int r;

        json_object_object_add(out, "job", json_object_new_string(j->name));
        json_object_object_add(out, "provisioning", jprov);
        json_object_object_add(out, "migrations", jmig);
        json_object_object_add(out, "skipped", jskipped);
        json_object_object_add(out, "guests", jguests);
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
        remotes = calloc(n_hosts, sizeof(RemoteHost *));
        if (!hosts || !remotes) {
                json_object_put(out);
                return log_oom();
        }
        for (size_t i = 0; i < n_hosts; i++) {
                HostRun *h = &hosts[i];

                pthread_mutex_init(&h->lock, NULL);
                h->job = j->name;
                h->timeout_usec = o->timeout_usec;
                remotes[i] = &h->remote;
                r = remote_host_from_config(c, j->job->hosts[i], &h->remote);
                if (r < 0) {
                        log_error("Host %s is not declared in hosts.d/: nothing was started on any host.",
                                  j->job->hosts[i]);
                        h->remote.name = j->job->hosts[i];
                        ok = false;
                }
        }

        /* Before any thread exists (libvirt's and sd-bus's included), so that all of them
         * inherit the mask and only the signal thread takes these. */
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &set, &old);
        atomic_store(&interrupted, false);
        have_signal_thread = pthread_create(&sig_tid, NULL, signal_thread, &set) == 0;

        /* 0. preflight: every host, at once, before anything changes */
        if (ok && preflight_run(j, &s, remotes, n_hosts, o->expected_hashes) < 0) {
                json_object_object_add(out, "preflight", json_object_new_string("refused"));
                ok = false;
        }

        /* 1. provision every host at once: systemctl start mhtest@JOB, over D-Bus via SSH,
         * and systemd's verdict on that job */
        for (size_t i = 0; ok && i < n_hosts; i++) {
                /* Here, not in the host's thread: sd-bus runs ssh with PR_SET_PDEATHSIG, which
                 * fires when the thread that forked it ends, and the bus outlives that thread. */
                r = remote_bus_open(&hosts[i].remote, &hosts[i].bus);
                if (r < 0)
                        (void) asprintf_safe(&hosts[i].explanation, "cannot reach systemd over ssh (%s): %s",
                                             hosts[i].remote.ssh_target, strerror(-r));
                if (tty)
                        printf("[provision] %s: starting mhtest@%s.service ...\n", hosts[i].remote.name, j->name);
                if (pthread_create(&hosts[i].thread, NULL, provision_thread, &hosts[i]) != 0) {
                        log_error("Failed to start a provisioning thread.");
                        for (size_t k = 0; k < i; k++)
                                pthread_join(hosts[k].thread, NULL);
                        ok = false;
                        break;
                }
                if (i == n_hosts - 1) {
                        provisioned = true;
                        for (size_t k = 0; k < n_hosts; k++)
                                pthread_join(hosts[k].thread, NULL);
                }
        }
        for (size_t i = 0; provisioned && i < n_hosts; i++) {
                HostRun *h = &hosts[i];
                json_object *p = json_object_new_object();
                char field[128];
                char *fields[] = { field, NULL };

                json_object_object_add(p, "host", json_object_new_string(h->remote.name));
                json_object_object_add(p, "state", json_object_new_string(strna(h->state)));
                json_object_object_add(p, "passed", json_object_new_boolean(h->ok));
                if (h->explanation)
                        json_object_object_add(p, "error", json_object_new_string(h->explanation));
                json_object_array_add(jprov, p);
                if (h->ok) {
                        if (tty)
                                printf("[provision] %s: mhtest@%s.service active\n", h->remote.name, j->name);
                        continue;
                }
                ok = false;
                snprintf(field, sizeof field, "MHTEST_HOST=%s", h->remote.name);
                if (h->failed_unit)
                        log_event(LOG_ERR, 0, MHTEST_MESSAGE_COORD_PROVISION_FAILED, fields,
                                  "Provisioning %s failed: %s: start job %s%s", h->remote.name, h->failed_unit,
                                  strna(h->state), strempty(h->explanation));
                else
                        log_event(LOG_ERR, 0, MHTEST_MESSAGE_COORD_PROVISION_FAILED, fields,
                                  "Provisioning %s failed: %s%s", h->remote.name,
                                  h->state ?: strna(h->explanation), h->state ? strempty(h->explanation) : "");
        }
        if (provisioned && !ok)
                log_error("Provisioning failed: no migration was started.");

        /* 2. the test shells, in parallel with the migrations */
        if (ok && provisioned) {
                ShellOptions so = { .lava_scripts = o->lava_scripts, .tty = tty };
                if (shells_start(c, j, &so, &shells) < 0)
                        ok = false;
                pthread_mutex_lock(&running_lock);
                running_shells = shells;
                pthread_mutex_unlock(&running_lock);
        }

        /* 3. the migration phases, the steps of a phase in parallel; a step of a guest whose
         * earlier migration failed is skipped, the other guests' steps still run */
        for (size_t i = 0; ok && provisioned && i < s.n_phases && !run_interrupted(); i++) {
                SchedulePhase *ph = &s.phases[i];

                free(threads);
                threads = calloc(ph->n_steps, sizeof(StepThread));
                if (!threads)
                        return log_oom();
                n_threads = 0;
                if (tty)
                        printf("[%zu/%zu] %s\n", i + 1, s.n_phases, ph->label);
                pthread_mutex_lock(&running_lock);
                running = threads;
                n_running = 0;
                for (size_t k = 0; k < ph->n_steps; k++) {
                        const MigrationStep *st = &ph->steps[k];
                        StepThread *t = &threads[n_threads];

                        if (strv_contains(failed_guests, st->guest)) {
                                json_object *sk = json_object_new_object();

                                sync_barrier_arrive(st->barrier, false); /* do not hold the section's others */

                                printf("  SKIP %s: %s -> %s  an earlier migration of %s failed\n", st->guest,
                                       st->from, st->to, st->guest);
                                json_object_object_add(sk, "migration", json_object_new_string(st->migration->section.name));
                                json_object_object_add(sk, "guest", json_object_new_string(st->guest));
                                json_object_object_add(sk, "round", json_object_new_int((int) st->round));
                                json_object_array_add(jskipped, sk);
                                continue;
                        }
                        *t = (StepThread) { .job = j->name, .j = j, .step = st, .hosts = hosts, .n_hosts = n_hosts,
                                            .shells = shells,
                                            .from = find_host(hosts, n_hosts, st->from),
                                            .to = find_host(hosts, n_hosts, st->to) };
                        if (!t->from || !t->to || pthread_create(&t->thread, NULL, step_thread, t) != 0) {
                                sync_barrier_arrive(st->barrier, false);
                                log_error("Failed to start the migration of %s.", st->guest);
                                migrations_ok = false;
                                continue;
                        }
                        n_running = ++n_threads;
                }
                pthread_mutex_unlock(&running_lock);
                for (size_t k = 0; k < n_threads; k++)
                        pthread_join(threads[k].thread, NULL);
                pthread_mutex_lock(&running_lock);
                running = NULL;
                n_running = 0;
                pthread_mutex_unlock(&running_lock);

                for (size_t k = 0; k < n_threads; k++) {
                        StepThread *t = &threads[k];
                        MigrationResult **n;
                        json_object *mj;

                        n = realloc(all, sizeof(MigrationResult *) * (n_all + 1));
                        if (!n)
                                return log_oom();
                        all = n;
                        all[n_all] = malloc(sizeof(MigrationResult));
                        if (!all[n_all])
                                return log_oom();
                        *all[n_all] = t->result;
                        mj = migration_result_to_json(all[n_all]);
                        json_object_object_add(mj, "guest_after", place_json(NULL, NULL, &t->place));
                        json_object_array_add(jmig, mj);
                        print_step(t);
                        if (!t->result.ok) {
                                migrations_ok = false;
                                if (strv_extend(&failed_guests, t->step->guest) < 0)
                                        return log_oom();
                        }
                        guest_place_done(&t->place);
                        n_all++;
                }
                /* [Test] After= a migration of this phase */
                shells_migrations_settled(shells, &s, i + 1);
        }
        shells_migrations_settled(shells, &s, s.n_phases);
        /* the run ends when every test shell has ended too; an interrupted run does not wait
         * for them (shells_free() stops what is left) */
        if (run_interrupted())
                ok = false;
        else if (!shells_wait(shells))
                ok = false;
        json_object_object_add(out, "tests", shells_to_json(shells));
        if (run_interrupted()) {
                log_error("The run was interrupted: no further migration was started.");
                json_object_object_add(out, "interrupted", json_object_new_boolean(true));
                ok = false;
        }
        ok = ok && migrations_ok;

        /* 4. where every guest is, then the report: written before the hosts are put back, so
         * it says where the guests were left (with --keep, where they still are) */
        if (provisioned && report_guests(hosts, n_hosts, j, jguests) < 0)
                ok = false;
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
                                               .state = hosts[i].state, .error = hosts[i].explanation };
                ReportExtra tests = { .write = shells_junit_write, .userdata = shells };
                shells_count(shells, &tests.n_tests, &tests.n_failures);
                r = report_write_junit(o->junit_file, j->name, all, n_all, rh, n_hosts, &tests);
                if (r < 0)
                        log_error_errno(r, "Failed to write %s: %m", o->junit_file);
        }
        json_object_put(out);

        /* 5. put the hosts back unless asked to keep them: guests first (a migrated guest is
         * supervised where it landed, outside that host's mhtest@JOB), then the job */
        for (size_t i = 0; !o->keep && i < n_hosts; i++) {
                _cleanup_free_ char *unit = NULL;

                if (!hosts[i].bus || !hosts[i].started)
                        continue;
                for (size_t g = 0; g < j->n_guests; g++) {
                        _cleanup_free_ char *gu = NULL;

                        if (guest_unit_name(j->name, j->guests[g]->section.name, &gu) < 0)
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
        {
                size_t n_tests, n_test_failures;

                /* the shells and the testcases in them, as the JUnit report counts them */
                shells_count(shells, &n_tests, &n_test_failures);
                printf("%s: %zu migration(s), %zu test(s) (%zu failed), %s\n", j->name, n_all, n_tests,
                       n_test_failures, ok ? "all passed" : "FAILED");
        }

        if (have_signal_thread) {
                pthread_cancel(sig_tid);
                pthread_join(sig_tid, NULL);
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        for (size_t i = 0; i < n_all; i++) {
                migration_result_done(all[i]);
                free(all[i]);
        }
        for (size_t i = 0; i < n_hosts; i++) {
                sd_bus_flush_close_unref(hosts[i].bus);
                free(hosts[i].state);
                free(hosts[i].explanation);
                free(hosts[i].failed_unit);
                pthread_mutex_destroy(&hosts[i].lock);
                if (hosts[i].remote.ssh_target)
                        remote_host_done(&hosts[i].remote);
        }
        return ok ? 0 : -EIO;
}
