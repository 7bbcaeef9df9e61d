/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include "path-util.h"
#include "string-util.h"

char *path_prefix_root(const char *root, const char *path) {
        if (isempty(root) || streq(root, "/"))
                return strdup(path);
        while (*path == '/')
                path++;
        if (endswith(root, "/"))
                return strjoin(root, path);
        return strjoin(root, "/", path);
}

bool path_is_absolute(const char *p) {
        return p && p[0] == '/';
}

bool path_is_normalized_absolute(const char *p) {
        if (!path_is_absolute(p) || string_has_cc(p))
                return false;
        if (streq(p, "/"))
                return true;
        if (endswith(p, "/") || strstr(p, "//") || strstr(p, "/./") || strstr(p, "/../") ||
            endswith(p, "/.") || endswith(p, "/.."))
                return false;
        return true;
}

const char *path_basename(const char *p) {
        const char *s = strrchr(p, '/');
        return s ? s + 1 : p;
}

int unit_name_from_path(const char *path, const char *suffix, char **ret) {
        _cleanup_free_ char *e = NULL;
        const char *p = path;
        size_t n = 0;

        while (*p == '/')
                p++;
        if (!*p)
                return (*ret = strjoin("-", suffix)) ? 0 : -ENOMEM;
        e = malloc(strlen(p) * 4 + strlen(suffix) + 1);
        if (!e)
                return -ENOMEM;
        for (const char *c = p; *c; c++) {
                if (*c == '/') {
                        while (c[1] == '/')
                                c++;
                        if (c[1] == 0)
                                break;
                        e[n++] = '-';
                } else if ((*c == '.' && c == p) || (!isalnum((unsigned char) *c) && !strchr(":_.", *c)))
                        n += sprintf(e + n, "\\x%02x", (unsigned char) *c);
                else
                        e[n++] = *c;
        }
        strcpy(e + n, suffix);
        *ret = TAKE_PTR(e);
        return 0;
}
