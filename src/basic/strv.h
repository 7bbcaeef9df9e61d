/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>
#include "macro.h"

/* NULL-terminated string vectors. */
char **strv_free(char **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);
#define _cleanup_strv_free_ _cleanup_(strv_freep)

size_t strv_length(char * const *l);
bool strv_contains(char * const *l, const char *s);
int strv_extend(char ***l, const char *value);
int strv_consume(char ***l, char *value);
/* Append a formatted string. */
int strv_extendf(char ***l, const char *format, ...) _printf_(2, 3);
int strv_extend_strv(char ***a, char * const *b);
char **strv_copy(char * const *l);
char **strv_new_ap(const char *x, va_list ap);
char **strv_new_internal(const char *x, ...) _sentinel_;
#define strv_new(...) strv_new_internal(__VA_ARGS__, NULL)
int strv_sort(char **l);
char *strv_join(char * const *l, const char *sep);
bool strv_equal(char * const *a, char * const *b);
void strv_uniq(char **l);

/* Split on whitespace; "double" and 'single' quotes group words, backslash escapes the next
 * character. Returns -EINVAL on unbalanced quotes. */
int strv_split_quoted(const char *s, char ***ret);

#define STRV_FOREACH(s, l) for (typeof(*(l)) *s = (l); s && *s; s++)
/* A literal vector for an argv: STRV_MAKE("cp", "-a", src, dst). */
#define STRV_MAKE(...) ((char **) (const char *[]) { __VA_ARGS__, NULL })
