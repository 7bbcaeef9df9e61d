/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "step.h"

/* The steps in apply order. A step whose apply is NULL is declared but not implemented yet:
 * "mhtest apply" fails for it instead of reporting a success it did not achieve. */
static const Step step_nested = { "nested", "nested KVM module option" };
static const Step step_hugepages = { "hugepages", "hugepage reservation and hugetlbfs mount" };
static const Step step_vfio = { "vfio", "PCI devices bound to vfio-pci" };
static const Step step_bridge = { "bridge", "bridges and their ports" };

const Step *const steps[] = { &step_nested, &step_hugepages, &step_vfio, &step_bridge, NULL };

const Step *step_find(const char *name) {
        for (size_t i = 0; steps[i]; i++)
                if (streq(steps[i]->name, name))
                        return steps[i];
        return NULL;
}
