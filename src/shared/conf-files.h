/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "macro.h"

/* The configuration search path, highest priority first. Each is resolved below --root. */
extern const char *const conf_search_dirs[];

/* Locate "relpath" (e.g. "mhtest.conf", "jobs.d/pvp.conf") in the search path: the first
 * directory that has it wins; a symlink to /dev/null (or an empty regular file named so? no:
 * only /dev/null) masks it. Returns 1 and the full path if found, 0 if absent or masked. */
int conf_files_find(const char *root, const char *relpath, char **ret);

/* List the "*.conf" files of a directory (e.g. "jobs.d/pvp.conf.d") across the search path:
 * same-name files in higher directories mask lower ones, /dev/null masks completely, the
 * result is sorted by file name. ret_names (optional) gets the basenames of every file name
 * seen, masked ones included. */
int conf_files_list(const char *root, const char *reldir, const char *suffix, char ***ret);

/* Whether the path is a symlink to /dev/null (or /dev/null itself). */
bool conf_file_is_masked(const char *path);
