/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include "strv.h"

char **strv_free(char **l) {
        STRV_FOREACH(s, l)
                free(*s);
        free(l);
        return NULL;
}

size_t strv_length(char * const *l) {
        size_t n = 0;
        for (; l && l[n]; n++)
                ;
        return n;
}

bool strv_contains(char * const *l, const char *s) {
        for (size_t i = 0; l && l[i]; i++)
                if (streq(l[i], s))
                        return true;
        return false;
}

int strv_consume(char ***l, char *value) {
        size_t n = strv_length(*l);
        char **c;

        if (!value)
                return -ENOMEM;
        c = realloc(*l, sizeof(char *) * (n + 2));
        if (!c) {
                free(value);
                return -ENOMEM;
        }
        c[n] = value;
        c[n + 1] = NULL;
        *l = c;
        return 0;
}

int strv_extend(char ***l, const char *value) {
        return strv_consume(l, strdup(value));
}

int strv_extend_strv(char ***a, char * const *b) {
        for (size_t i = 0; b && b[i]; i++) {
                int r = strv_extend(a, b[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

char **strv_copy(char * const *l) {
        char **c = calloc(strv_length(l) + 1, sizeof(char *));
        if (!c)
                return NULL;
        for (size_t i = 0; l && l[i]; i++) {
                c[i] = strdup(l[i]);
                if (!c[i])
                        return strv_free(c);
        }
        return c;
}

char **strv_new_ap(const char *x, va_list ap) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        if (!l)
                return NULL;
        for (const char *s = x; s; s = va_arg(ap, const char *))
                if (strv_extend(&l, s) < 0)
                        return NULL;
        return TAKE_PTR(l);
}

char **strv_new_internal(const char *x, ...) {
        va_list ap;
        char **l;

        va_start(ap, x);
        l = strv_new_ap(x, ap);
        va_end(ap);
        return l;
}

static int str_cmp(const void *a, const void *b) {
        return strcmp(*(char * const *) a, *(char * const *) b);
}

int strv_sort(char **l) {
        size_t n = strv_length(l);

        if (n > 1) /* qsort() wants a non-NULL array even for 0 elements */
                qsort(l, n, sizeof(char *), str_cmp);
        return 0;
}

char *strv_join(char * const *l, const char *sep) {
        size_t n = 1, k = strlen(sep);
        char *r, *p;

        for (size_t i = 0; l && l[i]; i++)
                n += strlen(l[i]) + k;
        p = r = malloc(n);
        if (!r)
                return NULL;
        *p = 0;
        for (size_t i = 0; l && l[i]; i++) {
                if (i > 0)
                        p = stpcpy(p, sep);
                p = stpcpy(p, l[i]);
        }
        return r;
}

bool strv_equal(char * const *a, char * const *b) {
        size_t i;
        for (i = 0; a && a[i] && b && b[i]; i++)
                if (!streq(a[i], b[i]))
                        return false;
        return (!a || !a[i]) && (!b || !b[i]);
}

static bool strv_contains_n(char * const *l, size_t n, const char *s) {
        for (size_t i = 0; i < n; i++)
                if (streq(l[i], s))
                        return true;
        return false;
}

void strv_uniq(char **l) {
        size_t w = 0;
        for (size_t i = 0; l && l[i]; i++) {
                if (strv_contains_n(l, w, l[i])) {
                        free(l[i]);
                        continue;
                }
                l[w++] = l[i];
        }
        if (l)
                l[w] = NULL;
}

int strv_split_quoted(const char *s, char ***ret) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        _cleanup_free_ char *word = NULL;
        size_t n = 0;
        bool in_word = false;
        char quote = 0;

        if (!l)
                return -ENOMEM;
        word = malloc(strlen(s) + 1);
        if (!word)
                return -ENOMEM;

        for (const char *p = s;; p++) {
                char c = *p;

                if (c == 0) {
                        if (quote)
                                return -EINVAL;
                        break;
                }
                if (quote) {
                        if (c == quote)
                                quote = 0;
                        else if (c == '\\' && quote == '"' && p[1])
                                word[n++] = *++p;
                        else
                                word[n++] = c;
                        continue;
                }
                if (isspace((unsigned char) c)) {
                        if (in_word) {
                                word[n] = 0;
                                if (strv_extend(&l, word) < 0)
                                        return -ENOMEM;
                                n = 0;
                                in_word = false;
                        }
                        continue;
                }
                in_word = true;
                if (c == '"' || c == '\'')
                        quote = c;
                else if (c == '\\' && p[1])
                        word[n++] = *++p;
                else
                        word[n++] = c;
        }
        if (in_word) {
                word[n] = 0;
                if (strv_extend(&l, word) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

int strv_extendf(char ***l, const char *format, ...) {
        va_list ap;
        char *s;
        int r;

        va_start(ap, format);
        r = vasprintf(&s, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return strv_consume(l, s);
}
