/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <time.h>
#include <libvirt/libvirt.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>
#include <json-c/json.h>
#include "guest-image.h"
#include "guest-seed.h"
#include "log.h"
#include "message-ids.h"
#include "migrate.h"
#include "progress.h"
#include "string-util.h"
#include "strv.h"
#include "time-util.h"
#include "virt-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(virConnectPtr, virConnectClose);
DEFINE_TRIVIAL_CLEANUP_FUNC(virDomainPtr, virDomainFree);

/* libvirt prints every error on stderr unless told otherwise; the coordinator reports the ones
 * that matter itself (a poll of a job that just ended is not one). */
static void virt_error_quiet(void *userdata, virErrorPtr e) {
}

static void virt_errors_quiet(void) {
        virSetErrorFunc(NULL, virt_error_quiet);
}

static char *virt_error_dup(void) {
        virErrorPtr e = virGetLastError();
        return strdup(e && e->message ? e->message : "unknown libvirt error");
}

/* The destination's connection, opened while the source's is: with a qemu+ssh URI each costs an
 * SSH handshake, and the completed job's statistics are read there right after the migration. */
typedef struct ConnectAhead {
        const char *uri;
        virConnectPtr conn;
        pthread_t thread;
        bool started;
} ConnectAhead;

static void *connect_ahead_thread(void *userdata) {
        ConnectAhead *a = userdata;

        a->conn = virConnectOpen(a->uri);
        return NULL;
}

static void connect_ahead_start(ConnectAhead *a, const char *uri) {
        a->uri = uri;
        a->started = pthread_create(&a->thread, NULL, connect_ahead_thread, a) == 0;
}

/* The connection (NULL if it failed); the caller owns it. */
static virConnectPtr connect_ahead_take(ConnectAhead *a) {
        virConnectPtr c;

        if (a->started) {
                pthread_join(a->thread, NULL);
                a->started = false;
        } else if (a->uri && !a->conn)
                a->conn = virConnectOpen(a->uri);
        c = a->conn;
        a->conn = NULL;
        return c;
}

static void connect_ahead_done(ConnectAhead *a) {
        virConnectPtr c = connect_ahead_take(a);

        if (c)
                virConnectClose(c);
}

static uint64_t now_usec_realtime(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* Run a command in the guest through the QEMU guest agent (guest-exec), wait for it, return
 * its exit code (>= 0) and output. */
static int guest_exec(virDomainPtr d, char * const *argv, unsigned timeout_s, char **ret_output) {
        _cleanup_free_ char *reply = NULL, *cmd = NULL;
        json_object *o = json_object_new_object(), *args = json_object_new_object(),
                    *arr = json_object_new_array(), *r = NULL, *ret, *pid;
        int64_t p;

        json_object_object_add(o, "execute", json_object_new_string("guest-exec"));
        json_object_object_add(args, "path", json_object_new_string(argv[0]));
        for (size_t i = 1; argv[i]; i++)
                json_object_array_add(arr, json_object_new_string(argv[i]));
        json_object_object_add(args, "arg", arr);
        json_object_object_add(args, "capture-output", json_object_new_boolean(true));
        json_object_object_add(o, "arguments", args);
        cmd = strdup(json_object_to_json_string(o));
        json_object_put(o);
        if (!cmd)
                return -ENOMEM;
        reply = virDomainQemuAgentCommand(d, cmd, 10, 0);
        if (!reply)
                return -EHOSTUNREACH;
        r = json_tokener_parse(reply);
        if (!r || !json_object_object_get_ex(r, "return", &ret) || !json_object_object_get_ex(ret, "pid", &pid)) {
                json_object_put(r);
                return -EBADMSG;
        }
        p = json_object_get_int64(pid);
        json_object_put(r);

        for (unsigned i = 0; i < timeout_s * 5; i++) {
                _cleanup_free_ char *q = NULL, *st = NULL;
                json_object *s, *rr, *exited, *code, *out;

                if (asprintf_safe(&q, "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":%" PRId64 "}}", p) < 0)
                        return -ENOMEM;
                st = virDomainQemuAgentCommand(d, q, 10, 0);
                if (!st)
                        return -EHOSTUNREACH;
                s = json_tokener_parse(st);
                if (s && json_object_object_get_ex(s, "return", &rr) &&
                    json_object_object_get_ex(rr, "exited", &exited) && json_object_get_boolean(exited)) {
                        int c = json_object_object_get_ex(rr, "exitcode", &code) ? json_object_get_int(code) : 255;
                        if (ret_output && json_object_object_get_ex(rr, "out-data", &out))
                                *ret_output = strdup(json_object_get_string(out)); /* base64, as QGA sends it */
                        json_object_put(s);
                        return c;
                }
                json_object_put(s);
                usleep(200 * 1000);
        }
        return -ETIMEDOUT;
}

/* A guest with disk images, a cloud-init seed or a management network migrates without shared
 * storage: its destination makes beforehand, as the guest's own service there would, what QEMU
 * opens there (the overlays at the same paths over the same base images, the seed ISO, the
 * network with the guest's reservation) and libvirt copies the overlays' top layers over NBD
 * (VIR_MIGRATE_NON_SHARED_INC); the destination's service owns them once it adopted the domain.
 * A migration that did not arrive takes them back. */
static bool guest_needs_incoming(const GuestSection *g) {
        return g->image || strv_length(g->disks) > 0 || guest_wants_seed(g) || g->management_address;
}

/* "mhtest guest OPTION JOB:GUEST" on the destination; its exit status, or a negative errno. */
static int incoming_run(const RemoteHost *to, const char *job, const char *guest, const char *option,
                        char **ret_output) {
        _cleanup_free_ char *arg = NULL;

        if (asprintf_safe(&arg, "%s:%s", job, guest) < 0)
                return -ENOMEM;
        return remote_ssh_capture(to, 10, STRV_MAKE("mhtest", "guest", option, arg), ret_output);
}

static void incoming_remove(const MigrationStep *st, const char *job, const RemoteHost *to) {
        _cleanup_free_ char *out = NULL;
        int k;

        k = incoming_run(to, job, st->guest, "--remove-incoming", &out);
        if (k != 0)
                log_warning("Could not remove on %s what the migration of %s would have used (mhtest guest "
                            "--remove-incoming: %s): %s", st->to, st->guest, k < 0 ? strerror(-k) : "failed",
                            strna(out));
        else
                log_info("Removed on %s the overlays, seed and reservation prepared for %s.", st->to, st->guest);
}

/* "vda (2.1 MiB allocated of 2048.0 MiB), vdb (...)": the overlays libvirt copies, as the
 * source's QEMU has them now. */
static char *disks_describe(virDomainPtr dom, char *const *targets) {
        _cleanup_free_ char *s = NULL;

        STRV_FOREACH (t, targets) {
                virDomainBlockInfo info;
                char *n = NULL;

                if (virDomainGetBlockInfo(dom, *t, &info, 0) >= 0)
                        (void) asprintf_safe(&n, "%s%s%s (%.1f MiB allocated of %.1f MiB)", strempty(s), s ? ", " : "",
                                             *t, info.allocation / 1048576.0, info.capacity / 1048576.0);
                else
                        (void) asprintf_safe(&n, "%s%s%s", strempty(s), s ? ", " : "", *t);
                if (!n)
                        return NULL;
                free(s);
                s = n;
        }
        return TAKE_PTR(s);
}

/* A thread beside the blocking migration call watches libvirt's job: it draws the progress line,
 * switches Mode=postcopy to post-copy when pre-copy reached PostcopyAfterIterations=, sent
 * PostcopyAfterPercent= of memory or stopped converging, and aborts the job after TimeoutSec=
 * (the guest stays on the source). */
typedef struct MigrationMonitor {
        virDomainPtr dom;
        const MigrationSection *m;
        int progress_slot;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool done;
        bool aborted;
        bool postcopy_tried;
        bool postcopy;           /* virDomainMigrateStartPostCopy() succeeded */
        char *postcopy_reason;
        uint64_t last_iteration, last_iteration_remaining;
        bool disks; /* storage migration: keep libvirt's disk figures of the running job */
        bool disk_seen;
        unsigned long long disk_total, disk_processed, disk_remaining;
} MigrationMonitor;

#define MONITOR_INTERVAL_USEC (250 * USEC_PER_MSEC)

static bool postcopy_due(MigrationMonitor *mon, uint64_t iteration, uint64_t processed, uint64_t total,
                         uint64_t remaining) {
        const MigrationSection *m = mon->m;
        bool stalled = false;

        /* QEMU counts passes over memory from 1: iteration N is the (N-1)th re-send of dirtied pages */
        if (iteration > mon->last_iteration) {
                stalled = mon->last_iteration >= 2 && remaining >= mon->last_iteration_remaining;
                mon->last_iteration = iteration;
                mon->last_iteration_remaining = remaining;
        }
        if (iteration >= m->postcopy_after_iterations)
                return asprintf_safe(&mon->postcopy_reason, "pre-copy pass %" PRIu64 " (PostcopyAfterIterations=%u)",
                                     iteration, m->postcopy_after_iterations) >= 0;
        if (m->postcopy_after_percent > 0 && total > 0 && processed * 100 >= total * m->postcopy_after_percent)
                return asprintf_safe(&mon->postcopy_reason, "%" PRIu64 "%% of memory sent (PostcopyAfterPercent=%u)",
                                     processed * 100 / total, m->postcopy_after_percent) >= 0;
        if (stalled)
                return asprintf_safe(&mon->postcopy_reason,
                                     "pre-copy does not converge (%" PRIu64 " bytes remain at pass %" PRIu64 ")",
                                     remaining, iteration) >= 0;
        return false;
}

static void monitor_poll(MigrationMonitor *mon) {
        virTypedParameterPtr params = NULL;
        int nparams = 0, type = 0;
        unsigned long long total = 0, processed = 0, remaining = 0, bps = 0, iteration = 0;

        if (virDomainGetJobStats(mon->dom, &type, &params, &nparams, 0) < 0)
                return;
        if (type == VIR_DOMAIN_JOB_NONE) {
                virTypedParamsFree(params, nparams);
                return;
        }
        (void) virTypedParamsGetULLong(params, nparams, VIR_DOMAIN_JOB_MEMORY_TOTAL, &total);
        (void) virTypedParamsGetULLong(params, nparams, VIR_DOMAIN_JOB_MEMORY_PROCESSED, &processed);
        (void) virTypedParamsGetULLong(params, nparams, VIR_DOMAIN_JOB_MEMORY_REMAINING, &remaining);
        (void) virTypedParamsGetULLong(params, nparams, VIR_DOMAIN_JOB_MEMORY_BPS, &bps);
        (void) virTypedParamsGetULLong(params, nparams, VIR_DOMAIN_JOB_MEMORY_ITERATION, &iteration);
        if (mon->disks && virTypedParamsGetULLong(params, nparams, VIR_DOMAIN_JOB_DISK_TOTAL, &mon->disk_total) > 0) {
                mon->disk_seen = true;
                (void) virTypedParamsGetULLong(params, nparams, VIR_DOMAIN_JOB_DISK_PROCESSED, &mon->disk_processed);
                (void) virTypedParamsGetULLong(params, nparams, VIR_DOMAIN_JOB_DISK_REMAINING, &mon->disk_remaining);
        }
        virTypedParamsFree(params, nparams);

        if (mon->m->mode == MIGRATION_POSTCOPY && !mon->postcopy_tried && total > 0 &&
            postcopy_due(mon, iteration, processed, total, remaining)) {
                /* asked once: a refusal (the job just completed) is not asked again at every poll */
                mon->postcopy_tried = true;
                if (virDomainMigrateStartPostCopy(mon->dom, 0) >= 0)
                        mon->postcopy = true;
                else
                        log_warning("Could not switch the migration to post-copy (%s): %s",
                                    strna(mon->postcopy_reason), virGetLastErrorMessage());
        }
        if (mon->progress_slot >= 0 && total > 0) {
                _cleanup_free_ char *line = NULL;
                if (asprintf_safe(&line, "%3" PRIu64 "%% of memory, %.1f MiB/s, %.1f MiB remaining, pass %llu%s",
                                  (uint64_t) ((total - MIN(remaining, total)) * 100 / total), bps / 1048576.0,
                                  remaining / 1048576.0, iteration, mon->postcopy ? ", post-copy" : "") >= 0)
                        progress_update(mon->progress_slot, line);
        }
}

static void *monitor_thread(void *p) {
        MigrationMonitor *mon = p;
        struct timespec now, deadline = {}, next;
        bool timed = mon->m->timeout_usec > 0;
        /* nothing to draw or decide: ask libvirt nothing during the migration, only keep time */
        bool polls = mon->progress_slot >= 0 || mon->m->mode == MIGRATION_POSTCOPY || mon->disks;

        clock_gettime(CLOCK_REALTIME, &now);
        if (timed) {
                deadline = now;
                deadline.tv_sec += (time_t) (mon->m->timeout_usec / USEC_PER_SEC);
        }
        pthread_mutex_lock(&mon->lock);
        while (!mon->done) {
                if (!polls && !timed) {
                        pthread_cond_wait(&mon->cond, &mon->lock);
                        continue;
                }
                clock_gettime(CLOCK_REALTIME, &next);
                next.tv_nsec += MONITOR_INTERVAL_USEC * 1000;
                if (next.tv_nsec >= 1000000000L) {
                        next.tv_sec++;
                        next.tv_nsec -= 1000000000L;
                }
                if (timed && (!polls || next.tv_sec > deadline.tv_sec ||
                              (next.tv_sec == deadline.tv_sec && next.tv_nsec > deadline.tv_nsec)))
                        next = deadline;
                (void) pthread_cond_timedwait(&mon->cond, &mon->lock, &next);
                if (mon->done)
                        break;
                clock_gettime(CLOCK_REALTIME, &now);
                if (timed && (now.tv_sec > deadline.tv_sec ||
                              (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec))) {
                        mon->aborted = true;
                        (void) virDomainAbortJob(mon->dom);
                        break;
                }
                if (!polls)
                        continue;
                /* libvirt calls block: not under the lock the migrating thread needs to end us */
                pthread_mutex_unlock(&mon->lock);
                monitor_poll(mon);
                pthread_mutex_lock(&mon->lock);
        }
        pthread_mutex_unlock(&mon->lock);
        return NULL;
}

/* Whether libvirt had the completed job's statistics. */
static bool read_job_stats(virDomainPtr d, MigrationResult *res) {
        virTypedParameterPtr params = NULL;
        int nparams = 0, type = 0;

        /* KEEP_COMPLETED: whoever asks next (virsh domjobinfo --completed) sees the same figures */
        if (virDomainGetJobStats(d, &type, &params, &nparams,
                                 VIR_DOMAIN_JOB_STATS_COMPLETED | VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED) < 0) {
                log_debug("No completed job statistics for %s: %s", res->domain, virGetLastErrorMessage());
                return false;
        }
        if (type == VIR_DOMAIN_JOB_NONE) {
                virTypedParamsFree(params, nparams);
                return false;
        }
        for (MigrationStat s = 0; s < _MIGRATION_STAT_MAX; s++) {
                unsigned long long v;
                if (virTypedParamsGetULLong(params, nparams, migration_stat_name(s), &v) > 0)
                        migration_result_set_stat(res, s, v);
        }
        virTypedParamsFree(params, nparams);
        return true;
}

/* After a switch to post-copy the source's call returns while the destination still pulls the
 * last pages: its job, and the statistics, complete a moment later. Bounded against a hang. */
#define POSTCOPY_STATS_WAIT_USEC (30 * USEC_PER_SEC)
static void read_postcopy_job_stats(virDomainPtr d, MigrationResult *res) {
        uint64_t deadline = now_usec() + POSTCOPY_STATS_WAIT_USEC;

        while (!read_job_stats(d, res)) {
                if (now_usec() >= deadline) {
                        log_warning("libvirt on the destination gave no statistics for the post-copy migration of %s "
                                    "within %llu s.", res->domain, (unsigned long long) (POSTCOPY_STATS_WAIT_USEC / USEC_PER_SEC));
                        return;
                }
                sleep_usec(100 * USEC_PER_MSEC);
        }
}

/* The journal fields of a migration event: who, where, and libvirt's main figures. */
static int migration_fields(const MigrationStep *st, const MigrationResult *res, char ***ret) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));

        if (!l ||
            strv_extendf(&l, "MHTEST_MIGRATION=%s", st->migration->section.name) < 0 ||
            strv_extendf(&l, "MHTEST_ROUND=%u", st->round) < 0 ||
            strv_extendf(&l, "SRC_HOST=%s", st->from) < 0 ||
            strv_extendf(&l, "DST_HOST=%s", st->to) < 0)
                return -ENOMEM;
        if (res && res->domain && strv_extendf(&l, "MHTEST_DOMAIN=%s", res->domain) < 0)
                return -ENOMEM;
        if (res && res->stats_set &&
            (strv_extendf(&l, "DOWNTIME_MS=%" PRIu64, res->downtime_ms) < 0 ||
             strv_extendf(&l, "TOTAL_MS=%" PRIu64, res->elapsed_ms) < 0 ||
             strv_extendf(&l, "DATA_BYTES=%" PRIu64, res->data_bytes) < 0))
                return -ENOMEM;
        if (res && res->wall_ms > 0 && strv_extendf(&l, "WALL_MS=%" PRIu64, res->wall_ms) < 0)
                return -ENOMEM;
        uint64_t disk;
        if (res && migration_result_get_stat(res, MIGRATION_STAT_DISK_PROCESSED, &disk) &&
            strv_extendf(&l, "DISK_BYTES=%" PRIu64, disk) < 0)
                return -ENOMEM;
        if (res && res->postcopy && strv_extend(&l, "POSTCOPY=1") < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

static int migration_fail(const MigrationStep *st, MigrationResult *res, int error) {
        _cleanup_strv_free_ char **fields = NULL;

        res->ok = false;
        progress_clear();
        (void) migration_fields(st, res, &fields);
        log_event(LOG_ERR, error, MHTEST_MESSAGE_MIGRATION_FAILED, fields, "Migration of %s from %s to %s failed: %s",
                  st->guest, st->from, st->to, strna(res->error));
        return error;
}

static void set_error(MigrationResult *res, const char *fmt, ...) _printf_(2, 3);
static void set_error(MigrationResult *res, const char *fmt, ...) {
        va_list ap;
        char *e = NULL;

        va_start(ap, fmt);
        if (vasprintf(&e, fmt, ap) < 0)
                e = NULL;
        va_end(ap);
        free(res->error);
        res->error = e;
}

int migrate_one(const char *job, const JobConfig *j, const MigrationStep *st, const RemoteHost *from,
                const RemoteHost *to, MigrationResult *res) {
        const MigrationSection *m = st->migration;
        _cleanup_(virConnectClosep) virConnectPtr src = NULL, dst = NULL;
        _cleanup_(virDomainFreep) virDomainPtr dom = NULL, ddom = NULL;
        _cleanup_free_ char *data_uri = NULL, *dest_uri = NULL, *label = NULL, *reason = NULL;
        _cleanup_strv_free_ char **fields = NULL, **disks = NULL;
        _cleanup_free_ char *disks_copied = NULL;
        bool incoming = false;
        const GuestSection *g = NULL;
        virTypedParameterPtr params = NULL;
        int nparams = 0, maxparams = 0, mr, k;
        unsigned flags = VIR_MIGRATE_PEER2PEER;
        uint64_t t0, t_begin = now_ms(), t_workload = 0;
        _cleanup_(connect_ahead_done) ConnectAhead ahead = {};

        static pthread_once_t quiet_once = PTHREAD_ONCE_INIT;

        (void) pthread_once(&quiet_once, virt_errors_quiet);
        *res = (MigrationResult) { .step = st, .check = -1 };
        log_set_thread_context_guest(st->guest);
        for (size_t i = 0; i < j->n_guests; i++)
                if (streq(j->guests[i]->section.name, st->guest))
                        g = j->guests[i];
        if (!g || guest_domain_name(job, g, 0, &res->domain) < 0) {
                sync_barrier_arrive(st->barrier, false);
                return -ENOMEM;
        }
        if (!from || !to) {
                sync_barrier_arrive(st->barrier, false);
                set_error(res, "host %s is not reachable", from ? st->to : st->from);
                return migration_fail(st, res, -EHOSTUNREACH);
        }

        connect_ahead_start(&ahead, to->libvirt_uri);
        src = virConnectOpen(from->libvirt_uri);
        if (!src) {
                sync_barrier_arrive(st->barrier, false);
                res->error = virt_error_dup();
                return migration_fail(st, res, -ECONNREFUSED);
        }
        dom = virDomainLookupByName(src, res->domain);
        if (!dom) {
                sync_barrier_arrive(st->barrier, false);
                set_error(res, "guest %s is not running on %s", res->domain, from->name);
                return migration_fail(st, res, -ENOENT);
        }

        if (m->workload) {
                _cleanup_free_ char *out = NULL;
                uint64_t tw = now_ms();
                k = guest_exec(dom, m->workload, 30, &out);
                t_workload = now_ms() - tw;
                if (k != 0) {
                        sync_barrier_arrive(st->barrier, false);
                        set_error(res, "workload before migration %s (%s)",
                                  k < 0 ? "could not run through the guest agent" : "failed",
                                  k < 0 ? strerror(-k) : "non-zero exit");
                        return migration_fail(st, res, -EIO);
                }
        }

        /* Control over libvirt's connection, data over direct TCP between the hosts. */
        dest_uri = strdup(m->transport == MIGRATION_TRANSPORT_TCP ? to->tcp_uri : to->libvirt_uri);
        if (!dest_uri || asprintf_safe(&data_uri, "tcp://%s", to->migration_address) < 0) {
                sync_barrier_arrive(st->barrier, false);
                return -ENOMEM;
        }
        virTypedParamsAddString(&params, &nparams, &maxparams, VIR_MIGRATE_PARAM_URI, data_uri);
        if (m->bandwidth > 0)
                virTypedParamsAddULLong(&params, &nparams, &maxparams, VIR_MIGRATE_PARAM_BANDWIDTH,
                                        MAX(m->bandwidth / (1024 * 1024), 1ULL));
        STRV_FOREACH(c, m->compression)
                virTypedParamsAddString(&params, &nparams, &maxparams, VIR_MIGRATE_PARAM_COMPRESSION, *c);
        if (strv_length(m->compression) > 0)
                flags |= VIR_MIGRATE_COMPRESSED;
        if (m->parallel_connections > 0) {
                flags |= VIR_MIGRATE_PARALLEL;
                virTypedParamsAddInt(&params, &nparams, &maxparams, VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS,
                                     (int) m->parallel_connections);
        }
        switch (m->mode) {
        case MIGRATION_OFFLINE:
                /* libvirt copies the persistent definition only (it requires PERSIST_DEST and a
                 * persistent domain); the guest keeps running where it is. mhtest's guests are
                 * transient: define the running one persistent for the copy, and let libvirt
                 * undefine it again on the source, where it runs on as before. */
                flags |= VIR_MIGRATE_OFFLINE | VIR_MIGRATE_PERSIST_DEST;
                if (virDomainIsPersistent(dom) == 0) {
                        _cleanup_free_ char *xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_MIGRATABLE);
                        _cleanup_(virDomainFreep) virDomainPtr p = xml ? virDomainDefineXML(src, xml) : NULL;
                        if (!p) {
                                sync_barrier_arrive(st->barrier, false);
                                virTypedParamsFree(params, nparams);
                                set_error(res, "cannot define %s persistent for an offline migration: %s",
                                          res->domain, virGetLastErrorMessage());
                                return migration_fail(st, res, -EIO);
                        }
                        flags |= VIR_MIGRATE_UNDEFINE_SOURCE;
                }
                break;
        case MIGRATION_POSTCOPY:
                flags |= VIR_MIGRATE_LIVE | VIR_MIGRATE_POSTCOPY;
                break;
        default:
                flags |= VIR_MIGRATE_LIVE;
        }
        if (m->auto_converge)
                flags |= VIR_MIGRATE_AUTO_CONVERGE;
        if (m->max_downtime_usec > 0 && m->mode != MIGRATION_OFFLINE &&
            virDomainMigrateSetMaxDowntime(dom, m->max_downtime_usec / 1000, 0) < 0)
                log_warning("Could not set the maximum downtime of %s: %s", res->domain,
                            virGetLastErrorMessage());

        if (m->mode != MIGRATION_OFFLINE && guest_needs_incoming(g)) {
                _cleanup_free_ char *out = NULL;

                k = incoming_run(to, job, st->guest, "--prepare-incoming", &out);
                if (k != 0) {
                        sync_barrier_arrive(st->barrier, false);
                        virTypedParamsFree(params, nparams);
                        set_error(res, "%s could not prepare for the guest's disks, seed or management network "
                                  "(mhtest guest --prepare-incoming: %s): %s", st->to,
                                  k < 0 ? strerror(-k) : "failed", strna(out));
                        return migration_fail(st, res, -EIO);
                }
                incoming = true;
                if (guest_disk_targets(g, &disks) < 0 ||
                    (disks && virTypedParamsAddStringList(&params, &nparams, &maxparams,
                                                          VIR_MIGRATE_PARAM_MIGRATE_DISKS, (const char **) disks) < 0)) {
                        sync_barrier_arrive(st->barrier, false);
                        virTypedParamsFree(params, nparams);
                        incoming_remove(st, job, to);
                        return -ENOMEM;
                }
                if (disks) {
                        flags |= VIR_MIGRATE_NON_SHARED_INC;
                        disks_copied = disks_describe(dom, disks);
                }
        }

        /* Synchronized=: every guest of the section is ready; they go together. */
        sync_barrier_arrive(st->barrier, true);

        /* libvirt does not tell the source where its domain went: the guest's supervisor there
         * reads it from this (virt-util.h) */
        _cleanup_free_ char *target_xml = NULL;
        if (guest_migration_xml(st->to, &target_xml) < 0 ||
            virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, target_xml, "mhtest-migration",
                                 GUEST_MIGRATION_NS, VIR_DOMAIN_AFFECT_LIVE) < 0)
                log_warning("Could not record the destination in the metadata of %s: %s", res->domain,
                            virGetLastErrorMessage());

        (void) migration_fields(st, NULL, &fields);
        if (disks && strv_extendf(&fields, "DISKS=%s", strempty(disks_copied)) < 0)
                log_oom();
        log_event(LOG_INFO, 0, MHTEST_MESSAGE_MIGRATION_STARTED, fields, "Migrating %s from %s to %s (%s, round %u)%s%s.",
                  st->guest, st->from, st->to, m->section.name, st->round,
                  disks ? ", copying the top layer of disk " : "", strempty(disks_copied));
        fields = strv_free(fields);
        if (asprintf_safe(&label, "%s %s -> %s", st->guest, st->from, st->to) < 0)
                label = NULL;
        MigrationMonitor mon = { .dom = dom, .m = m, .progress_slot = label ? progress_open(label) : -1,
                                 .disks = disks != NULL,
                                 .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
        pthread_t mon_tid;
        bool monitored = m->mode != MIGRATION_OFFLINE && pthread_create(&mon_tid, NULL, monitor_thread, &mon) == 0;

        res->started_usec = now_usec_realtime();
        t0 = now_ms();
        mr = virDomainMigrateToURI3(dom, dest_uri, params, nparams, flags);
        res->wall_ms = now_ms() - t0;
        if (monitored) {
                pthread_mutex_lock(&mon.lock);
                mon.done = true;
                pthread_cond_signal(&mon.cond);
                pthread_mutex_unlock(&mon.lock);
                pthread_join(mon_tid, NULL);
        }
        progress_close(mon.progress_slot);
        virTypedParamsFree(params, nparams);
        res->postcopy = mon.postcopy;
        if (res->postcopy)
                log_info("Switched %s to post-copy after %s.", st->guest, mon.postcopy_reason);
        free(mon.postcopy_reason);
        if (mr < 0) {
                if (mon.aborted)
                        set_error(res, "aborted after TimeoutSec=%" PRIu64 "s: %s", m->timeout_usec / USEC_PER_SEC,
                                  virGetLastErrorMessage());
                else if (m->mode == MIGRATION_POSTCOPY && strstr(virGetLastErrorMessage(), "Postcopy is not supported"))
                        /* QEMU's words when userfaultfd(2) fails on the destination: say why */
                        set_error(res,
                                  "%s (QEMU on %s cannot use userfaultfd(2): post-copy needs vm.unprivileged_userfaultfd=1 "
                                  "there or QEMU running with CAP_SYS_PTRACE, and, in a container, userfaultfd(2) and munlockall(2) "
                                  "allowed by its seccomp filter; the domain's QEMU log on %s says which)",
                                  virGetLastErrorMessage(), st->to, st->to);
                else
                        res->error = virt_error_dup();
                if (incoming)
                        incoming_remove(st, job, to);
                return migration_fail(st, res, -EIO);
        }

        /* The completed job's statistics: on the destination (the source's job ended with the
         * domain there), kept for whoever asks after us. */
        dst = connect_ahead_take(&ahead);
        if (dst)
                ddom = virDomainLookupByName(dst, res->domain);
        if (m->mode == MIGRATION_OFFLINE) {
                /* no data moved, no job statistics: what counts is the definition on the destination */
                if (!ddom || virDomainIsPersistent(ddom) != 1) {
                        set_error(res, "libvirt reported success, but %s has no persistent definition of %s",
                                  st->to, res->domain);
                        return migration_fail(st, res, -EIO);
                }
                /* the guest still runs on the source: Check= runs there */
                virDomainFree(ddom);
                (void) virDomainRef(dom);
                ddom = dom;
        } else if (ddom && res->postcopy)
                read_postcopy_job_stats(ddom, res);
        else if (ddom)
                (void) read_job_stats(ddom, res);
        /* libvirt's completed job on the destination has no disk figures of a storage migration
         * (0 in libvirt 9.0): the source's running job had them, as its last poll saw them */
        uint64_t dt = 0;
        if (mon.disk_seen && (!migration_result_get_stat(res, MIGRATION_STAT_DISK_TOTAL, &dt) || dt == 0)) {
                migration_result_set_stat(res, MIGRATION_STAT_DISK_TOTAL, mon.disk_total);
                migration_result_set_stat(res, MIGRATION_STAT_DISK_PROCESSED, mon.disk_processed);
                migration_result_set_stat(res, MIGRATION_STAT_DISK_REMAINING, mon.disk_remaining);
        }
        res->ok = true;
        res->coord_ms = now_ms() - t_begin - t_workload;

        k = migration_limits_check(m, res, &reason);
        if (k < 0) {
                res->ok = false;
                set_error(res, "%s", strna(reason));
        }

        if (m->check) {
                _cleanup_free_ char *out = NULL;
                _cleanup_strv_free_ char **check_fields = NULL;

                k = ddom ? guest_exec(ddom, m->check, 60, &out) : -ENOENT;
                res->check = k == 0;
                res->check_output = TAKE_PTR(out);
                if (k != 0 && res->ok) {
                        res->ok = false;
                        set_error(res, "check after migration %s",
                                  k < 0 ? "could not run through the guest agent" : "failed");
                }
                (void) migration_fields(st, NULL, &check_fields);
                (void) strv_extend(&check_fields, k == 0 ? "CHECK_RESULT=pass" : "CHECK_RESULT=fail");
                progress_clear();
                log_event(k == 0 ? LOG_INFO : LOG_ERR, 0, MHTEST_MESSAGE_CHECK_RESULT, check_fields,
                          "Check of %s after migration to %s: %s", st->guest, st->to, k == 0 ? "pass" : "fail");
        }
        if (!res->ok)
                return migration_fail(st, res, -EIO);

        (void) migration_fields(st, res, &fields);
        progress_clear();
        uint64_t disk_bytes = 0;
        _cleanup_free_ char *disk_note = NULL, *disk_names = disks ? strv_join(disks, " ") : NULL;
        if (disk_names && migration_result_get_stat(res, MIGRATION_STAT_DISK_PROCESSED, &disk_bytes) &&
            asprintf_safe(&disk_note, ", %" PRIu64 " bytes of disk %s", disk_bytes, disk_names) < 0)
                disk_note = NULL;
        log_event(LOG_INFO, 0, MHTEST_MESSAGE_MIGRATION_COMPLETED, fields,
                  "Migrated %s from %s to %s: downtime %" PRIu64 " ms, total %" PRIu64 " ms, %" PRIu64 " bytes%s%s.",
                  st->guest, st->from, st->to, res->downtime_ms, res->elapsed_ms, res->data_bytes,
                  strempty(disk_note), res->postcopy ? ", post-copy" : "");
        return 0;
}
