/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "macro.h"

/* Read a whole file (up to 16 MiB) or its first line (newline stripped). */
int read_full_file(const char *path, char **ret, size_t *ret_size);
int read_one_line_file(const char *path, char **ret);
/* The last n_lines lines of a file (a console log), without a trailing newline; "" if empty. */
int read_file_tail(const char *path, unsigned n_lines, char **ret);
/* Write a string to an existing file (sysfs, procfs): open, write, close, no truncation games. */
int write_string_file(const char *path, const char *s);
/* Write atomically: temporary file in the same directory, fsync, rename. */
int write_file_atomic(const char *path, const char *contents, mode_t mode);
int mkdir_p(const char *path, mode_t mode);
int mkdir_parents(const char *path, mode_t mode);
/* Remove a directory tree (does not cross mount points, does not follow symlinks). */
int rm_rf(const char *path);
bool file_exists(const char *path);
bool dir_exists(const char *path);
