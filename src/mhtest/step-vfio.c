/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "steps.h"

/* Not implemented yet: apply/revert are NULL, so "mhtest apply vfio" fails and says so. */
const Step step_vfio = { "vfio", "PCI devices bound to vfio-pci" };
