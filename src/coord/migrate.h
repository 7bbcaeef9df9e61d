/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "remote.h"
#include "schedule.h"

typedef struct MigrationResult {
        const MigrationStep *step;
        char *domain;
        bool ok;
        char *error;
        uint64_t wall_ms;       /* measured around the libvirt call */
        uint64_t elapsed_ms;    /* libvirt's job time */
        uint64_t downtime_ms;
        uint64_t data_bytes;    /* data processed */
        uint64_t memory_bytes;  /* memory processed */
        int check;              /* -1 none, 0 failed, 1 passed */
        char *check_output;
} MigrationResult;

void migration_result_done(MigrationResult *r);
int migrate_one(const char *job, const JobConfig *j, const MigrationStep *st, const RemoteHost *from,
                const RemoteHost *to, MigrationResult *ret);
