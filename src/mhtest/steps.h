/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>
#include "config.h"

/* A provisioning step: what mhtest-STEP@JOB.service runs. apply validates the whole request
 * first, records what revert needs (state.h) before changing anything, verifies each change by
 * reading it back and returns 0 if it changed the host, 1 if the host already was as requested.
 * revert restores the recorded state exactly; without state it is a no-op. */
typedef struct StepContext {
        const char *root;
        Config *config;
        JobConfig *job;
} StepContext;

typedef struct Step {
        const char *name;
        const char *description;
        int (*apply)(StepContext *ctx);
        int (*revert)(StepContext *ctx);
} Step;

const Step *step_find(const char *name);

/* The vfio step's safety checks without changing anything (step-vfio.c; used by "check"):
 * unknown devices, split IOMMU groups, NICs with an address, route or management role. */
int vfio_check_devices(StepContext *ctx, bool iommu, char ***ret_reasons);
extern const Step *const steps[];

/* One file each: step-nested.c, step-hugepages.c, step-vfio.c, step-bridge.c. */
extern const Step step_nested, step_hugepages, step_vfio, step_bridge;
