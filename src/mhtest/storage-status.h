/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>
#include "config.h"

/* Adds "storage": [ { name, unit, where, what, read_only, unit_state (systemd's ActiveState or
 * null), mounted, mounted_type, mounted_source } ] to a job's status object; prints a line per
 * [Storage] section if print is set. */
int storage_status(const char *root, const JobConfig *j, json_object *jo_job, bool print);
