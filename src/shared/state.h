/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>
#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put);
#define _cleanup_json_ _cleanup_(json_object_putp)

/* What a step needs to revert lives in /run/mhtest/JOB/STEP.state (below --root), written
 * atomically before the host is changed. */
int state_path(const char *root, const char *job, const char *step, char **ret);
int state_save(const char *root, const char *job, const char *step, json_object *state);
/* -ENOENT if there is no state. */
int state_load(const char *root, const char *job, const char *step, json_object **ret);
int state_remove(const char *root, const char *job, const char *step);

/* Reading a state object: a string member (NULL if missing or null), a boolean member (false
 * if missing), a string or null for a member to add. */
const char *state_get_string(json_object *o, const char *key);
bool state_get_bool(json_object *o, const char *key);
json_object *state_new_string_or_null(const char *s);

/* Every state file carries a "changes" list of what the step did, for "mhtest status": append
 * one line to it. */
void state_add_change(json_object *state, const char *format, ...) _printf_(2, 3);
/* A member of a state object (any type), NULL if it is absent (or o is NULL). */
json_object *state_get(json_object *o, const char *key);
