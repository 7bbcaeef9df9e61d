/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <pthread.h>
#include <time.h>
#include <libvirt/libvirt.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>
#include <json-c/json.h>
#include "log.h"
#include "message-ids.h"
#include "migrate.h"
#include "string-util.h"
#include "strv.h"
#include "virt-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(virConnectPtr, virConnectClose);
DEFINE_TRIVIAL_CLEANUP_FUNC(virDomainPtr, virDomainFree);

void migration_result_done(MigrationResult *r) {
        free(r->domain);
        free(r->error);
        free(r->check_output);
}

static char *virt_error_dup(void) {
        virErrorPtr e = virGetLastError();
        return strdup(e && e->message ? e->message : "unknown libvirt error");
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

/* [Migration] TimeoutSec=: a migration that does not converge in time is aborted through
 * libvirt (the guest stays on the source), from a thread that waits beside the blocking call. */
typedef struct MigrationGuard {
        virDomainPtr dom;
        uint64_t timeout_usec;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool done;
        bool aborted;
} MigrationGuard;

static void *guard_thread(void *p) {
        MigrationGuard *g = p;
        struct timespec deadline;
        int r = 0;

        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += (time_t) (g->timeout_usec / USEC_PER_SEC);
        pthread_mutex_lock(&g->lock);
        while (!g->done && r != ETIMEDOUT)
                r = pthread_cond_timedwait(&g->cond, &g->lock, &deadline);
        if (!g->done) {
                g->aborted = true;
                (void) virDomainAbortJob(g->dom);
        }
        pthread_mutex_unlock(&g->lock);
        return NULL;
}

static void read_job_stats(virDomainPtr d, MigrationResult *res) {
        virTypedParameterPtr params = NULL;
        int nparams = 0, type = 0;
        unsigned long long v;

        if (virDomainGetJobStats(d, &type, &params, &nparams, VIR_DOMAIN_JOB_STATS_COMPLETED) < 0)
                return;
        if (virTypedParamsGetULLong(params, nparams, VIR_DOMAIN_JOB_TIME_ELAPSED, &v) > 0)
                res->elapsed_ms = v;
        if (virTypedParamsGetULLong(params, nparams, VIR_DOMAIN_JOB_DOWNTIME, &v) > 0)
                res->downtime_ms = v;
        if (virTypedParamsGetULLong(params, nparams, VIR_DOMAIN_JOB_DATA_PROCESSED, &v) > 0)
                res->data_bytes = v;
        if (virTypedParamsGetULLong(params, nparams, VIR_DOMAIN_JOB_MEMORY_PROCESSED, &v) > 0)
                res->memory_bytes = v;
        virTypedParamsFree(params, nparams);
}

int migrate_one(const char *job, const JobConfig *j, const MigrationStep *st, const RemoteHost *from,
                const RemoteHost *to, MigrationResult *res) {
        const MigrationSection *m = st->migration;
        _cleanup_(virConnectClosep) virConnectPtr src = NULL, dst = NULL;
        _cleanup_(virDomainFreep) virDomainPtr dom = NULL, ddom = NULL;
        _cleanup_free_ char *data_uri = NULL, *dest_uri = NULL;
        const GuestSection *g = NULL;
        virTypedParameterPtr params = NULL;
        int nparams = 0, maxparams = 0;
        unsigned flags = VIR_MIGRATE_PEER2PEER;
        char fields_buf[4][64];
        char *fields[5] = {};
        uint64_t t0;

        *res = (MigrationResult) { .step = st, .check = -1 };
        for (size_t i = 0; i < j->n_guests; i++)
                if (streq(j->guests[i]->section.name, st->guest))
                        g = j->guests[i];
        if (!g || guest_domain_name(job, g, 0, &res->domain) < 0)
                return -ENOMEM;

        src = virConnectOpen(from->libvirt_uri);
        if (!src) {
                res->error = virt_error_dup();
                return -ECONNREFUSED;
        }
        dom = virDomainLookupByName(src, res->domain);
        if (!dom) {
                res->error = strjoin("guest ", res->domain, " is not running on ", from->name);
                return -ENOENT;
        }

        if (m->workload) {
                _cleanup_free_ char *out = NULL;
                int k = guest_exec(dom, m->workload, 30, &out);
                if (k != 0) {
                        asprintf_safe(&res->error, "workload before migration %s (%s)",
                                      k < 0 ? "could not run through the guest agent" : "failed",
                                      k < 0 ? strerror(-k) : "non-zero exit");
                        return -EIO;
                }
        }

        /* Control over libvirt's connection, data over direct TCP between the hosts. */
        dest_uri = strdup(m->transport == MIGRATION_TRANSPORT_TCP ? to->tcp_uri : to->libvirt_uri);
        if (!dest_uri || asprintf_safe(&data_uri, "tcp://%s", to->migration_address) < 0)
                return -ENOMEM;
        virTypedParamsAddString(&params, &nparams, &maxparams, VIR_MIGRATE_PARAM_URI, data_uri);
        if (m->bandwidth > 0)
                virTypedParamsAddULLong(&params, &nparams, &maxparams, VIR_MIGRATE_PARAM_BANDWIDTH,
                                        MAX(m->bandwidth / (1024 * 1024), 1ULL));
        if (m->mode != MIGRATION_OFFLINE)
                flags |= VIR_MIGRATE_LIVE;
        if (m->mode == MIGRATION_POSTCOPY)
                flags |= VIR_MIGRATE_POSTCOPY;
        if (m->auto_converge)
                flags |= VIR_MIGRATE_AUTO_CONVERGE;
        if (m->max_downtime_usec > 0 &&
            virDomainMigrateSetMaxDowntime(dom, m->max_downtime_usec / 1000, 0) < 0)
                log_warning("Could not set the maximum downtime of %s: %s", res->domain,
                            virGetLastErrorMessage());

        log_set_context_guest(st->guest);
        log_event(LOG_INFO, 0, MHTEST_MESSAGE_MIGRATION_STARTED, NULL, "Migrating %s from %s to %s (%s, round %u).",
                  st->guest, st->from, st->to, m->section.name, st->round);
        MigrationGuard guard = { .dom = dom, .timeout_usec = m->timeout_usec,
                                 .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
        pthread_t guard_tid;
        bool guarded = m->timeout_usec > 0 && pthread_create(&guard_tid, NULL, guard_thread, &guard) == 0;
        int mr;

        t0 = now_ms();
        mr = virDomainMigrateToURI3(dom, dest_uri, params, nparams, flags);
        if (guarded) {
                pthread_mutex_lock(&guard.lock);
                guard.done = true;
                pthread_cond_signal(&guard.cond);
                pthread_mutex_unlock(&guard.lock);
                pthread_join(guard_tid, NULL);
        }
        if (mr < 0) {
                res->wall_ms = now_ms() - t0;
                if (guard.aborted)
                        asprintf_safe(&res->error, "aborted after TimeoutSec=%" PRIu64 "s: %s",
                                      m->timeout_usec / USEC_PER_SEC, virGetLastErrorMessage());
                else
                        res->error = virt_error_dup();
                virTypedParamsFree(params, nparams);
                log_event(LOG_ERR, EIO, MHTEST_MESSAGE_MIGRATION_FAILED, NULL, "Migration of %s from %s to %s failed: %s",
                          st->guest, st->from, st->to, res->error);
                return -EIO;
        }
        res->wall_ms = now_ms() - t0;
        virTypedParamsFree(params, nparams);

        /* The completed job's statistics: on the destination, once. */
        dst = virConnectOpen(to->libvirt_uri);
        if (dst && (ddom = virDomainLookupByName(dst, res->domain)))
                read_job_stats(ddom, res);
        res->ok = true;

        if (m->check) {
                _cleanup_free_ char *out = NULL;
                int k = ddom ? guest_exec(ddom, m->check, 60, &out) : -ENOENT;
                res->check = k == 0;
                res->check_output = TAKE_PTR(out);
                if (k != 0) {
                        res->ok = false;
                        asprintf_safe(&res->error, "check after migration %s",
                                      k < 0 ? "could not run through the guest agent" : "failed");
                }
                char *check_fields[] = { (char *) (k == 0 ? "CHECK_RESULT=pass" : "CHECK_RESULT=fail"), NULL };
                log_event(k == 0 ? LOG_INFO : LOG_ERR, 0, MHTEST_MESSAGE_CHECK_RESULT, check_fields,
                          "Check of %s after migration to %s: %s", st->guest, st->to, k == 0 ? "pass" : "fail");
        }

        snprintf(fields_buf[0], sizeof fields_buf[0], "MIGRATION_DOWNTIME_MS=%" PRIu64, res->downtime_ms);
        snprintf(fields_buf[1], sizeof fields_buf[1], "MIGRATION_TOTAL_MS=%" PRIu64, res->elapsed_ms);
        snprintf(fields_buf[2], sizeof fields_buf[2], "MIGRATION_DATA_BYTES=%" PRIu64, res->data_bytes);
        snprintf(fields_buf[3], sizeof fields_buf[3], "MIGRATION_WALL_MS=%" PRIu64, res->wall_ms);
        for (size_t i = 0; i < 4; i++)
                fields[i] = fields_buf[i];
        log_event(LOG_INFO, 0, MHTEST_MESSAGE_MIGRATION_COMPLETED, fields,
                  "Migrated %s from %s to %s: downtime %" PRIu64 " ms, total %" PRIu64 " ms, %" PRIu64 " bytes.",
                  st->guest, st->from, st->to, res->downtime_ms, res->elapsed_ms, res->data_bytes);
        return res->ok ? 0 : -EIO;
}
