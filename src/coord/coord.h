/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "config.h"

typedef struct CoordOptions {
        const char *json_file;
        const char *junit_file;
        uint64_t timeout_usec;
        bool keep; /* leave the job running on the hosts after the run */
        const char *lava_scripts; /* LAVA's lava_test_shell directory, NULL: the default */
        char **expected_hashes; /* "mhtest config hash JOB" as each host of [Job] Hosts= must print it */
} CoordOptions;

int coord_run(const Config *c, const JobConfig *j, const CoordOptions *o);
