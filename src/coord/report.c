/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A migration's results: libvirt's statistics of the completed job, the [Migration] limits that
 * judge them, and their renderings (JSON, JUnit XML, key=value). */
#include <inttypes.h>
#include <libvirt/libvirt.h>
#include <libxml/xmlwriter.h>
#include "fileio.h"
#include "report.h"
#include "string-util.h"
#include "strv.h"

static const char *const stat_names[_MIGRATION_STAT_MAX] = {
        [MIGRATION_STAT_TIME_ELAPSED] = VIR_DOMAIN_JOB_TIME_ELAPSED,
        [MIGRATION_STAT_DOWNTIME] = VIR_DOMAIN_JOB_DOWNTIME,
        [MIGRATION_STAT_SETUP_TIME] = VIR_DOMAIN_JOB_SETUP_TIME,
        [MIGRATION_STAT_DATA_TOTAL] = VIR_DOMAIN_JOB_DATA_TOTAL,
        [MIGRATION_STAT_DATA_PROCESSED] = VIR_DOMAIN_JOB_DATA_PROCESSED,
        [MIGRATION_STAT_DATA_REMAINING] = VIR_DOMAIN_JOB_DATA_REMAINING,
        [MIGRATION_STAT_MEMORY_TOTAL] = VIR_DOMAIN_JOB_MEMORY_TOTAL,
        [MIGRATION_STAT_MEMORY_PROCESSED] = VIR_DOMAIN_JOB_MEMORY_PROCESSED,
        [MIGRATION_STAT_MEMORY_REMAINING] = VIR_DOMAIN_JOB_MEMORY_REMAINING,
        [MIGRATION_STAT_MEMORY_CONSTANT] = VIR_DOMAIN_JOB_MEMORY_CONSTANT,
        [MIGRATION_STAT_MEMORY_NORMAL] = VIR_DOMAIN_JOB_MEMORY_NORMAL,
        [MIGRATION_STAT_MEMORY_NORMAL_BYTES] = VIR_DOMAIN_JOB_MEMORY_NORMAL_BYTES,
        [MIGRATION_STAT_MEMORY_BPS] = VIR_DOMAIN_JOB_MEMORY_BPS,
        [MIGRATION_STAT_MEMORY_DIRTY_RATE] = VIR_DOMAIN_JOB_MEMORY_DIRTY_RATE,
        [MIGRATION_STAT_MEMORY_PAGE_SIZE] = VIR_DOMAIN_JOB_MEMORY_PAGE_SIZE,
        [MIGRATION_STAT_MEMORY_ITERATION] = VIR_DOMAIN_JOB_MEMORY_ITERATION,
        [MIGRATION_STAT_MEMORY_POSTCOPY_REQS] = VIR_DOMAIN_JOB_MEMORY_POSTCOPY_REQS,
        [MIGRATION_STAT_COMPRESSION_CACHE] = VIR_DOMAIN_JOB_COMPRESSION_CACHE,
        [MIGRATION_STAT_COMPRESSION_BYTES] = VIR_DOMAIN_JOB_COMPRESSION_BYTES,
        [MIGRATION_STAT_COMPRESSION_PAGES] = VIR_DOMAIN_JOB_COMPRESSION_PAGES,
        [MIGRATION_STAT_COMPRESSION_CACHE_MISSES] = VIR_DOMAIN_JOB_COMPRESSION_CACHE_MISSES,
        [MIGRATION_STAT_COMPRESSION_OVERFLOW] = VIR_DOMAIN_JOB_COMPRESSION_OVERFLOW,
        [MIGRATION_STAT_AUTO_CONVERGE_THROTTLE] = VIR_DOMAIN_JOB_AUTO_CONVERGE_THROTTLE,
        [MIGRATION_STAT_DISK_TOTAL] = VIR_DOMAIN_JOB_DISK_TOTAL,
        [MIGRATION_STAT_DISK_PROCESSED] = VIR_DOMAIN_JOB_DISK_PROCESSED,
        [MIGRATION_STAT_DISK_REMAINING] = VIR_DOMAIN_JOB_DISK_REMAINING,
        [MIGRATION_STAT_DISK_BPS] = VIR_DOMAIN_JOB_DISK_BPS,
};

const char *migration_stat_name(MigrationStat s) {
        return s >= 0 && s < _MIGRATION_STAT_MAX ? stat_names[s] : NULL;
}

void migration_result_done(MigrationResult *r) {
        free(r->domain);
        free(r->error);
        free(r->check_output);
}

void migration_result_set_stat(MigrationResult *r, MigrationStat s, uint64_t v) {
        r->stats[s] = v;
        r->stats_set |= UINT32_C(1) << s;
        /* the figures every report shows first */
        switch (s) {
        case MIGRATION_STAT_TIME_ELAPSED:
                r->elapsed_ms = v;
                break;
        case MIGRATION_STAT_DOWNTIME:
                r->downtime_ms = v;
                break;
        case MIGRATION_STAT_DATA_PROCESSED:
                r->data_bytes = v;
                break;
        case MIGRATION_STAT_MEMORY_PROCESSED:
                r->memory_bytes = v;
                break;
        default:
                break;
        }
}

bool migration_result_get_stat(const MigrationResult *r, MigrationStat s, uint64_t *ret) {
        if (!(r->stats_set & (UINT32_C(1) << s)))
                return false;
        if (ret)
                *ret = r->stats[s];
        return true;
}

int migration_limits_check(const MigrationSection *m, const MigrationResult *r, char **ret_reason) {
        static const struct {
                MigrationStat stat;
                const char *key, *what, *unit;
                size_t offset;    /* of the limit in MigrationSection */
                uint64_t divisor; /* limit unit -> statistic unit */
        } limits[] = {
                { MIGRATION_STAT_DOWNTIME, "MaxDowntimeLimit", "downtime", "ms",
                  offsetof(MigrationSection, max_downtime_limit_usec), 1000 },
                { MIGRATION_STAT_TIME_ELAPSED, "MaxTotalTime", "total time", "ms",
                  offsetof(MigrationSection, max_total_time_usec), 1000 },
                { MIGRATION_STAT_DATA_PROCESSED, "MaxData", "data transferred", "bytes",
                  offsetof(MigrationSection, max_data), 1 },
        };

        for (size_t i = 0; i < ELEMENTSOF(limits); i++) {
                uint64_t limit = *(const uint64_t *) ((const uint8_t *) m + limits[i].offset), v;

                if (limit == 0)
                        continue;
                if (!migration_result_get_stat(r, limits[i].stat, &v)) {
                        if (ret_reason &&
                            asprintf_safe(ret_reason, "libvirt reported no %s to check %s= against",
                                          limits[i].what, limits[i].key) < 0)
                                return -ENOMEM;
                        return -ENODATA;
                }
                /* a limit in µs compares in ms, rounded up: MaxDowntimeLimit=1500us allows 2 ms */
                limit = (limit + limits[i].divisor - 1) / limits[i].divisor;
                if (v > limit) {
                        if (ret_reason &&
                            asprintf_safe(ret_reason, "%s %" PRIu64 " %s exceeds %s=%" PRIu64 " %s",
                                          limits[i].what, v, limits[i].unit, limits[i].key, limit,
                                          limits[i].unit) < 0)
                                return -ENOMEM;
                        return -ERANGE;
                }
        }
        return 0;
}

static int kv_add(char ***l, const char *key, const char *fmt, ...) _printf_(3, 4);
static int kv_add(char ***l, const char *key, const char *fmt, ...) {
        _cleanup_free_ char *v = NULL;
        char *item;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&v, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        item = strjoin(key, "=", v);
        if (!item)
                return -ENOMEM;
        return strv_consume(l, item);
}

int migration_result_to_kv(const MigrationResult *r, char ***ret) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        const MigrationStep *st = r->step;

        if (!l)
                return -ENOMEM;
        if (kv_add(&l, "migration", "%s", st->migration->section.name) < 0 ||
            kv_add(&l, "guest", "%s", st->guest) < 0 ||
            kv_add(&l, "round", "%u", st->round) < 0 ||
            kv_add(&l, "from", "%s", st->from) < 0 ||
            kv_add(&l, "to", "%s", st->to) < 0 ||
            kv_add(&l, "passed", "%s", r->ok ? "true" : "false") < 0 ||
            kv_add(&l, "wall_ms", "%" PRIu64, r->wall_ms) < 0 ||
            kv_add(&l, "postcopy", "%s", r->postcopy ? "true" : "false") < 0)
                return -ENOMEM;
        for (MigrationStat s = 0; s < _MIGRATION_STAT_MAX; s++) {
                uint64_t v;
                if (migration_result_get_stat(r, s, &v) && kv_add(&l, stat_names[s], "%" PRIu64, v) < 0)
                        return -ENOMEM;
        }
        if (r->check >= 0 && kv_add(&l, "check", "%s", r->check ? "pass" : "fail") < 0)
                return -ENOMEM;
        /* one line per item: an error message keeps its words, not its line breaks */
        if (r->error) {
                _cleanup_free_ char *e = strdup(r->error);
                if (!e)
                        return -ENOMEM;
                for (char *p = e; *p; p++)
                        if (*p == '\n' || *p == '\r')
                                *p = ' ';
                if (kv_add(&l, "error", "%s", e) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

json_object *migration_result_to_json(const MigrationResult *r) {
        json_object *o = json_object_new_object(), *stats = json_object_new_object();

        json_object_object_add(o, "migration", json_object_new_string(r->step->migration->section.name));
        json_object_object_add(o, "guest", json_object_new_string(r->step->guest));
        json_object_object_add(o, "domain", json_object_new_string(strempty(r->domain)));
        json_object_object_add(o, "round", json_object_new_int((int) r->step->round));
        json_object_object_add(o, "from", json_object_new_string(r->step->from));
        json_object_object_add(o, "to", json_object_new_string(r->step->to));
        json_object_object_add(o, "passed", json_object_new_boolean(r->ok));
        if (r->error)
                json_object_object_add(o, "error", json_object_new_string(r->error));
        json_object_object_add(o, "started_usec", json_object_new_int64((int64_t) r->started_usec));
        json_object_object_add(o, "wall_ms", json_object_new_int64((int64_t) r->wall_ms));
        json_object_object_add(o, "coord_ms", json_object_new_int64((int64_t) r->coord_ms));
        json_object_object_add(o, "elapsed_ms", json_object_new_int64((int64_t) r->elapsed_ms));
        json_object_object_add(o, "downtime_ms", json_object_new_int64((int64_t) r->downtime_ms));
        json_object_object_add(o, "data_bytes", json_object_new_int64((int64_t) r->data_bytes));
        json_object_object_add(o, "memory_bytes", json_object_new_int64((int64_t) r->memory_bytes));
        json_object_object_add(o, "postcopy", json_object_new_boolean(r->postcopy));
        for (MigrationStat s = 0; s < _MIGRATION_STAT_MAX; s++) {
                uint64_t v;
                if (migration_result_get_stat(r, s, &v))
                        json_object_object_add(stats, stat_names[s], json_object_new_int64((int64_t) v));
        }
        json_object_object_add(o, "stats", stats);
        if (r->check >= 0)
                json_object_object_add(o, "check", json_object_new_string(r->check ? "pass" : "fail"));
        return o;
}

#define W(x)                           \
        do {                           \
                if ((x) < 0)           \
                        return -EIO;   \
        } while (0)

static int junit_host(xmlTextWriterPtr w, const char *job, const ReportHost *h) {
        W(xmlTextWriterStartElement(w, BAD_CAST "testcase"));
        W(xmlTextWriterWriteAttribute(w, BAD_CAST "classname", BAD_CAST "provision"));
        W(xmlTextWriterWriteFormatAttribute(w, BAD_CAST "name", "mhtest@%s on %s", job, h->name));
        if (!h->ok) {
                W(xmlTextWriterStartElement(w, BAD_CAST "failure"));
                if (h->error)
                        W(xmlTextWriterWriteAttribute(w, BAD_CAST "message", BAD_CAST h->error));
                else
                        W(xmlTextWriterWriteFormatAttribute(w, BAD_CAST "message", "unit state %s",
                                                            strna(h->state)));
                W(xmlTextWriterEndElement(w));
        }
        return xmlTextWriterEndElement(w) < 0 ? -EIO : 0;
}

static int junit_migration(xmlTextWriterPtr w, const MigrationResult *m) {
        _cleanup_strv_free_ char **kv = NULL;

        if (migration_result_to_kv(m, &kv) < 0)
                return -ENOMEM;
        W(xmlTextWriterStartElement(w, BAD_CAST "testcase"));
        W(xmlTextWriterWriteFormatAttribute(w, BAD_CAST "classname", "migration.%s",
                                            m->step->migration->section.name));
        W(xmlTextWriterWriteFormatAttribute(w, BAD_CAST "name", "%s round %u %s->%s", m->step->guest,
                                            m->step->round, m->step->from, m->step->to));
        W(xmlTextWriterWriteFormatAttribute(w, BAD_CAST "time", "%.3f", m->wall_ms / 1000.0));
        if (!m->ok) {
                W(xmlTextWriterStartElement(w, BAD_CAST "failure"));
                W(xmlTextWriterWriteAttribute(w, BAD_CAST "message", BAD_CAST strna(m->error)));
                W(xmlTextWriterEndElement(w));
        }
        W(xmlTextWriterStartElement(w, BAD_CAST "properties"));
        STRV_FOREACH(i, kv) {
                const char *eq = strchr(*i, '=');
                _cleanup_free_ char *k = strndup(*i, eq - *i);
                if (!k)
                        return -ENOMEM;
                W(xmlTextWriterStartElement(w, BAD_CAST "property"));
                W(xmlTextWriterWriteAttribute(w, BAD_CAST "name", BAD_CAST k));
                W(xmlTextWriterWriteAttribute(w, BAD_CAST "value", BAD_CAST(eq + 1)));
                W(xmlTextWriterEndElement(w));
        }
        W(xmlTextWriterEndElement(w));
        W(xmlTextWriterStartElement(w, BAD_CAST "system-out"));
        STRV_FOREACH(i, kv)
                W(xmlTextWriterWriteFormatString(w, "%s\n", *i));
        W(xmlTextWriterEndElement(w));
        return xmlTextWriterEndElement(w) < 0 ? -EIO : 0;
}

static int junit_write(xmlTextWriterPtr w, const char *job, MigrationResult * const *results, size_t n,
                       const ReportHost *hosts, size_t n_hosts, const ReportExtra *extra) {
        size_t failures = extra ? extra->n_failures : 0, tests = n + n_hosts + (extra ? extra->n_tests : 0);
        int r;

        for (size_t i = 0; i < n; i++)
                failures += !results[i]->ok;
        for (size_t i = 0; i < n_hosts; i++)
                failures += !hosts[i].ok;
        W(xmlTextWriterSetIndent(w, 1));
        W(xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL));
        W(xmlTextWriterStartElement(w, BAD_CAST "testsuite"));
        W(xmlTextWriterWriteFormatAttribute(w, BAD_CAST "name", "mhtest-coord %s", job));
        W(xmlTextWriterWriteFormatAttribute(w, BAD_CAST "tests", "%zu", tests));
        W(xmlTextWriterWriteFormatAttribute(w, BAD_CAST "failures", "%zu", failures));
        W(xmlTextWriterWriteAttribute(w, BAD_CAST "errors", BAD_CAST "0"));
        for (size_t i = 0; i < n_hosts; i++) {
                r = junit_host(w, job, &hosts[i]);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < n; i++) {
                r = junit_migration(w, results[i]);
                if (r < 0)
                        return r;
        }
        if (extra && extra->write) {
                r = extra->write(w, extra->userdata);
                if (r < 0)
                        return r;
        }
        return xmlTextWriterEndDocument(w) < 0 ? -EIO : 0;
}
#undef W

int report_write_junit(const char *path, const char *job, MigrationResult * const *results, size_t n,
                       const ReportHost *hosts, size_t n_hosts, const ReportExtra *extra) {
        xmlBufferPtr buf = xmlBufferCreate();
        xmlTextWriterPtr w;
        int r;

        if (!buf)
                return -ENOMEM;
        w = xmlNewTextWriterMemory(buf, 0);
        if (!w) {
                xmlBufferFree(buf);
                return -ENOMEM;
        }
        r = junit_write(w, job, results, n, hosts, n_hosts, extra);
        xmlFreeTextWriter(w); /* flushes into buf */
        if (r >= 0)
                r = write_file_atomic(path, (const char *) xmlBufferContent(buf), 0644);
        xmlBufferFree(buf);
        return r;
}
