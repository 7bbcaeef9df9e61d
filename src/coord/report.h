/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <json-c/json.h>
#include <libxml/xmlwriter.h>
#include "schedule.h"

/* What libvirt reports for a completed migration job (VIR_DOMAIN_JOB_STATS_COMPLETED), one
 * slot per typed parameter; a slot libvirt did not give stays unset (QEMU reports compression
 * figures only with compression, postcopy requests only after a switch to post-copy). */
typedef enum MigrationStat {
        MIGRATION_STAT_TIME_ELAPSED,
        MIGRATION_STAT_DOWNTIME,
        MIGRATION_STAT_SETUP_TIME,
        MIGRATION_STAT_DATA_TOTAL,
        MIGRATION_STAT_DATA_PROCESSED,
        MIGRATION_STAT_DATA_REMAINING,
        MIGRATION_STAT_MEMORY_TOTAL,
        MIGRATION_STAT_MEMORY_PROCESSED,
        MIGRATION_STAT_MEMORY_REMAINING,
        MIGRATION_STAT_MEMORY_CONSTANT,
        MIGRATION_STAT_MEMORY_NORMAL,
        MIGRATION_STAT_MEMORY_NORMAL_BYTES,
        MIGRATION_STAT_MEMORY_BPS,
        MIGRATION_STAT_MEMORY_DIRTY_RATE,
        MIGRATION_STAT_MEMORY_PAGE_SIZE,
        MIGRATION_STAT_MEMORY_ITERATION,
        MIGRATION_STAT_MEMORY_POSTCOPY_REQS,
        MIGRATION_STAT_COMPRESSION_CACHE,
        MIGRATION_STAT_COMPRESSION_BYTES,
        MIGRATION_STAT_COMPRESSION_PAGES,
        MIGRATION_STAT_COMPRESSION_CACHE_MISSES,
        MIGRATION_STAT_COMPRESSION_OVERFLOW,
        MIGRATION_STAT_AUTO_CONVERGE_THROTTLE,
        MIGRATION_STAT_DISK_TOTAL, /* storage migration (NBD): the copied disks */
        MIGRATION_STAT_DISK_PROCESSED,
        MIGRATION_STAT_DISK_REMAINING,
        MIGRATION_STAT_DISK_BPS,
        _MIGRATION_STAT_MAX,
} MigrationStat;

/* libvirt's name of the typed parameter (VIR_DOMAIN_JOB_*), also the key in reports. */
const char *migration_stat_name(MigrationStat s);

typedef struct MigrationResult {
        const MigrationStep *step;
        char *domain;
        bool ok;
        char *error;
        uint64_t started_usec;  /* CLOCK_REALTIME when libvirt was asked to migrate */
        uint64_t wall_ms;       /* measured around the libvirt call */
        uint64_t coord_ms;      /* the coordinator's whole migration: connecting to the source to
                                 * the completed job's statistics (Workload=/Check= not counted) */
        uint64_t elapsed_ms;    /* libvirt's job time */
        uint64_t downtime_ms;
        uint64_t data_bytes;    /* data processed */
        uint64_t memory_bytes;  /* memory processed */
        uint64_t stats[_MIGRATION_STAT_MAX];
        uint32_t stats_set;     /* bit per MigrationStat that libvirt gave */
        bool postcopy;          /* switched to post-copy (virDomainMigrateStartPostCopy succeeded) */
        int check;              /* -1 none, 0 failed, 1 passed */
        char *check_output;
} MigrationResult;

void migration_result_done(MigrationResult *r);
void migration_result_set_stat(MigrationResult *r, MigrationStat s, uint64_t v);
bool migration_result_get_stat(const MigrationResult *r, MigrationStat s, uint64_t *ret);

/* The [Migration] limits (MaxDowntimeLimit=, MaxTotalTime=, MaxData=) against libvirt's
 * figures: 0 when all hold, -ERANGE with the first one broken described in *ret_reason, -ENODATA
 * when a limit is set but libvirt gave no figure to judge it by. */
int migration_limits_check(const MigrationSection *m, const MigrationResult *r, char **ret_reason);

/* The result as "key=value" items (libvirt's statistic names, plus migration, guest, round,
 * from, to, passed, wall_ms, postcopy, check, error), for test messages and logs. */
int migration_result_to_kv(const MigrationResult *r, char ***ret);
json_object *migration_result_to_json(const MigrationResult *r);

/* One host's provisioning, as the reports show it. */
typedef struct ReportHost {
        const char *name;
        bool ok;
        const char *state;  /* the job unit's state */
        const char *error;  /* why it failed, or NULL */
} ReportHost;

/* More testcases in the same suite (the test shells'): how many, how many failed, and a
 * function that writes them. */
typedef struct ReportExtra {
        size_t n_tests;
        size_t n_failures;
        int (*write)(xmlTextWriterPtr w, const void *userdata);
        const void *userdata;
} ReportExtra;

/* A JUnit XML file: one testcase per host provisioned and per migration, then extra's (may be
 * NULL); a migration's testcase carries libvirt's figures as properties and as key=value lines
 * in system-out. */
int report_write_junit(const char *path, const char *job, MigrationResult * const *results, size_t n,
                       const ReportHost *hosts, size_t n_hosts, const ReportExtra *extra);
