/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "macro.h"

/* Join an absolute path below a root directory ("--root="). root may be NULL or "/". */
char *path_prefix_root(const char *root, const char *path);
bool path_is_absolute(const char *p);
/* Absolute, normalized ("//", "/./", "/../" and trailing "/" not allowed), no control characters. */
bool path_is_normalized_absolute(const char *p);
const char *path_basename(const char *p);
/* systemd unit name escaping of a path, as systemd-escape --path does. */
int unit_name_from_path(const char *path, const char *suffix, char **ret);
