/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* "mhtest lab": several hosts on one machine, linked into mhtest for "mhtest lab". mhtest's
 * command line parser fills LabArgs; everything else belongs to the lab (lab-internal.h). */

typedef struct LabArgs {
        const char *name;    /* --name */
        unsigned n_hosts;    /* --hosts; 0: not given */
        const char *from;    /* --from: a build directory or an install tree */
        const char *backend; /* --backend */
        const char *images;  /* --images */
        bool json;
        bool quiet;
} LabArgs;

/* argv[0] is "lab", argv[1] the lab verb: up, down, status or exec. */
int lab_main(const LabArgs *args, int argc, char *argv[]);
