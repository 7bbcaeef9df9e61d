/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <stdarg.h>
#include "string-util.h"

char *strjoin_internal(const char *x, ...) {
        va_list ap;
        size_t n = 0;
        char *r, *p;

        va_start(ap, x);
        for (const char *s = x; s; s = va_arg(ap, const char *))
                n += strlen(s);
        va_end(ap);

        p = r = malloc(n + 1);
        if (!r)
                return NULL;
        va_start(ap, x);
        for (const char *s = x; s; s = va_arg(ap, const char *))
                p = stpcpy(p, s);
        va_end(ap);
        *p = 0;
        return r;
}

int asprintf_safe(char **ret, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(ret, fmt, ap);
        va_end(ap);
        if (r < 0) {
                *ret = NULL;
                return -ENOMEM;
        }
        return r;
}

char *strstrip(char *s) {
        char *e;

        while (isspace((unsigned char) *s))
                s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char) e[-1]))
                *--e = 0;
        return s;
}

bool startswith(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool endswith(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && streq(s + a - b, suffix);
}

int free_and_strdup(char **p, const char *s) {
        char *c = NULL;

        if (s) {
                c = strdup(s);
                if (!c)
                        return -ENOMEM;
        }
        free(*p);
        *p = c;
        return 0;
}

char *ascii_strlower(char *s) {
        for (char *p = s; *p; p++)
                *p = tolower((unsigned char) *p);
        return s;
}

bool string_has_cc(const char *s) {
        for (const char *p = s; *p; p++)
                if ((unsigned char) *p < ' ' || *p == 127)
                        return true;
        return false;
}

char *shell_quote(const char *s) {
        size_t n = 3;
        char *q, *o;

        for (const char *p = s; *p; p++)
                n += *p == '\'' ? 4 : 1;
        o = q = malloc(n);
        if (!q)
                return NULL;
        *o++ = '\'';
        for (const char *p = s; *p; p++) {
                if (*p == '\'') {
                        memcpy(o, "'\\''", 4);
                        o += 4;
                } else
                        *o++ = *p;
        }
        *o++ = '\'';
        *o = 0;
        return q;
}
