/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>
#include "config.h"

/* The migration schedule of a job: phases run one after the other; the migrations of a phase
 * run at the same time (same [Migration] ParallelGroup=, same round). */
typedef struct MigrationStep {
        const MigrationSection *migration;
        const char *guest;
        unsigned round; /* 1-based */
        const char *from;
        const char *to;
} MigrationStep;

typedef struct SchedulePhase {
        char *label;
        MigrationStep *steps;
        size_t n_steps;
} SchedulePhase;

typedef struct Schedule {
        SchedulePhase *phases;
        size_t n_phases;
} Schedule;

void schedule_done(Schedule *s);
int schedule_build(const JobConfig *j, Schedule *ret);
json_object *schedule_to_json(const JobConfig *j, const Schedule *s);
