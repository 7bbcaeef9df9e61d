/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include "conf-files.h"
#include "path-util.h"
#include "string-util.h"
#include "strv.h"

const char *const conf_search_dirs[] = {
        "/etc/mhtest",
        "/run/mhtest",
        "/usr/local/lib/mhtest",
        "/usr/lib/mhtest",
        NULL,
};

bool conf_file_is_masked(const char *path) {
        struct stat st;
        char target[64];
        ssize_t n;

        if (lstat(path, &st) < 0)
                return false;
        if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3))
                return true;
        if (!S_ISLNK(st.st_mode))
                return false;
        n = readlink(path, target, sizeof target - 1);
        if (n < 0)
                return false;
        target[n] = 0;
        return streq(target, "/dev/null");
}

int conf_files_find(const char *root, const char *relpath, char **ret) {
        for (size_t i = 0; conf_search_dirs[i]; i++) {
                _cleanup_free_ char *dir = path_prefix_root(root, conf_search_dirs[i]);
                _cleanup_free_ char *p = NULL;

                if (!dir)
                        return -ENOMEM;
                p = strjoin(dir, "/", relpath);
                if (!p)
                        return -ENOMEM;
                if (conf_file_is_masked(p))
                        return 0;
                if (access(p, F_OK) < 0)
                        continue;
                *ret = TAKE_PTR(p);
                return 1;
        }
        return 0;
}

int conf_files_list(const char *root, const char *reldir, const char *suffix, char ***ret) {
        _cleanup_strv_free_ char **seen = NULL, **result = NULL;

        seen = calloc(1, sizeof(char *));
        result = calloc(1, sizeof(char *));
        if (!seen || !result)
                return -ENOMEM;

        for (size_t i = 0; conf_search_dirs[i]; i++) {
                _cleanup_free_ char *base = path_prefix_root(root, conf_search_dirs[i]), *dir = NULL;
                _cleanup_closedir_ DIR *d = NULL;
                struct dirent *de;

                if (!base)
                        return -ENOMEM;
                dir = strjoin(base, "/", reldir);
                if (!dir)
                        return -ENOMEM;
                d = opendir(dir);
                if (!d) {
                        if (errno == ENOENT || errno == ENOTDIR)
                                continue;
                        return -errno;
                }
                while ((de = readdir(d))) {
                        _cleanup_free_ char *p = NULL;
                        struct stat st;

                        if (de->d_name[0] == '.' || !endswith(de->d_name, suffix))
                                continue;
                        if (strv_contains(seen, de->d_name))
                                continue; /* masked by a higher directory */
                        if (strv_extend(&seen, de->d_name) < 0)
                                return -ENOMEM;
                        p = strjoin(dir, "/", de->d_name);
                        if (!p)
                                return -ENOMEM;
                        if (conf_file_is_masked(p))
                                continue;
                        if (stat(p, &st) < 0 || !S_ISREG(st.st_mode))
                                continue;
                        if (strv_consume(&result, TAKE_PTR(p)) < 0)
                                return -ENOMEM;
                }
        }

        /* Lexical order of the file names, wherever they live. */
        for (size_t i = 1; result[0] && result[i]; i++) /* result[1] does not exist when empty */
                for (size_t j = i; j > 0 && strcmp(path_basename(result[j - 1]), path_basename(result[j])) > 0; j--) {
                        char *t = result[j];
                        result[j] = result[j - 1];
                        result[j - 1] = t;
                }
        *ret = TAKE_PTR(result);
        return 0;
}
