/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "steps.h"

/* Not implemented yet: apply/revert are NULL, so "mhtest apply bridge" fails and says so. */
const Step step_bridge = { "bridge", "bridges and their ports" };
