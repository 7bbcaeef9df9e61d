/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>
#include "macro.h"

char *strjoin_internal(const char *x, ...) _sentinel_;
#define strjoin(...) strjoin_internal(__VA_ARGS__, NULL)
int asprintf_safe(char **ret, const char *fmt, ...) _printf_(2, 3);
char *strstrip(char *s);
bool startswith(const char *s, const char *prefix);
bool endswith(const char *s, const char *suffix);
int free_and_strdup(char **p, const char *s);
char *ascii_strlower(char *s);
bool string_has_cc(const char *s);
/* One word for a POSIX shell, in single quotes (ssh hands the remote side one command string). */
char *shell_quote(const char *s);
