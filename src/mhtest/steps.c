/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "steps.h"

/* The steps in apply order. A step whose apply is NULL is declared but not implemented yet:
 * "mhtest apply" fails for it instead of reporting a success it did not achieve. */
const Step *const steps[] = { &step_nested, &step_hugepages, &step_vfio, &step_bridge, NULL };

const Step *step_find(const char *name) {
        for (size_t i = 0; steps[i]; i++)
                if (streq(steps[i]->name, name))
                        return steps[i];
        return NULL;
}
