/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <pthread.h>
#include <json-c/json.h>
#include "config.h"

/* [Migration] Synchronized=: the guests of one section in one phase start migrating together.
 * Each arrives once: ready to migrate (waits for the others) or out (failed before, does not
 * hold the others up). */
typedef struct SyncBarrier {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        unsigned expected;
        unsigned arrived;
} SyncBarrier;

void sync_barrier_arrive(SyncBarrier *b, bool wait);

/* The migration schedule of a job: phases run one after the other; the migrations of a phase
 * run at the same time (same [Migration] ParallelGroup=, same round). */
typedef struct MigrationStep {
        const MigrationSection *migration;
        const char *guest;
        unsigned round; /* 1-based */
        const char *from;
        const char *to;
        SyncBarrier *barrier; /* shared with the section's other guests of this phase, or NULL */
} MigrationStep;

typedef struct SchedulePhase {
        char *label;
        MigrationStep *steps;
        size_t n_steps;
        SyncBarrier **barriers;
        size_t n_barriers;
} SchedulePhase;

typedef struct Schedule {
        SchedulePhase *phases;
        size_t n_phases;
} Schedule;

void schedule_done(Schedule *s);
int schedule_build(const JobConfig *j, Schedule *ret);
json_object *schedule_to_json(const JobConfig *j, const Schedule *s);
