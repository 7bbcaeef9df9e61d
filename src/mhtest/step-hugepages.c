/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "steps.h"

/* Not implemented yet: apply/revert are NULL, so "mhtest apply hugepages" fails and says so. */
const Step step_hugepages = { "hugepages", "hugepage reservation and hugetlbfs mount" };
