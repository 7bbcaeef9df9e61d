/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <sys/stat.h>
#include "fileio.h"
#include "string-util.h"

int read_full_file(const char *path, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, allocated = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        for (;;) {
                ssize_t k;

                if (n + 4096 + 1 > allocated) {
                        char *b;
                        allocated = MAX(allocated * 2, n + 4096 + 1);
                        if (allocated > 16 * 1024 * 1024)
                                return -EFBIG;
                        b = realloc(buf, allocated);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                }
                k = read(fd, buf + n, allocated - n - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += k;
        }
        if (!buf && !(buf = malloc(1)))
                return -ENOMEM;
        buf[n] = 0;
        if (ret_size)
                *ret_size = n;
        *ret = TAKE_PTR(buf);
        return 0;
}

int read_one_line_file(const char *path, char **ret) {
        _cleanup_free_ char *s = NULL;
        int r;

        r = read_full_file(path, &s, NULL);
        if (r < 0)
                return r;
        s[strcspn(s, "\n")] = 0;
        *ret = TAKE_PTR(s);
        return 0;
}

int write_string_file(const char *path, const char *s) {
        _cleanup_close_ int fd = -EBADF;
        size_t n = strlen(s);
        ssize_t k;

        /* O_TRUNC as a shell's ">" does: ignored by sysfs and procfs, and needed when a plain file
         * stands in for them (the fake hugepage counters of a lab host). */
        fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        k = write(fd, s, n);
        if (k < 0)
                return -errno;
        if ((size_t) k != n)
                return -EIO;
        return 0;
}

int write_file_atomic(const char *path, const char *contents, mode_t mode) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t n = strlen(contents);
        int r;

        if (asprintf_safe(&tmp, "%s.tmp.%d", path, getpid()) < 0)
                return -ENOMEM;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return -errno;
        if (write(fd, contents, n) != (ssize_t) n || fsync(fd) < 0) {
                r = errno > 0 ? -errno : -EIO;
                unlink(tmp);
                return r;
        }
        if (rename(tmp, path) < 0) {
                r = -errno;
                unlink(tmp);
                return r;
        }
        return 0;
}

int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int mkdir_parents(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);
        char *slash;

        if (!p)
                return -ENOMEM;
        slash = strrchr(p, '/');
        if (!slash || slash == p)
                return 0;
        *slash = 0;
        return mkdir_p(p, mode);
}

static int rm_rf_at(int parent_fd, const char *name, dev_t dev) {
        struct stat st;
        int r = 0;

        if (fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (S_ISDIR(st.st_mode)) {
                _cleanup_closedir_ DIR *d = NULL;
                int fd;
                struct dirent *de;

                if (st.st_dev != dev)
                        return -EXDEV;
                fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0)
                        return -errno;
                d = fdopendir(fd);
                if (!d) {
                        close(fd);
                        return -errno;
                }
                while ((de = readdir(d))) {
                        int k;
                        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                                continue;
                        k = rm_rf_at(dirfd(d), de->d_name, dev);
                        if (k < 0 && r == 0)
                                r = k;
                }
                if (unlinkat(parent_fd, name, AT_REMOVEDIR) < 0 && r == 0)
                        r = -errno;
                return r;
        }
        if (unlinkat(parent_fd, name, 0) < 0)
                return errno == ENOENT ? 0 : -errno;
        return 0;
}

int rm_rf(const char *path) {
        struct stat st;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        return rm_rf_at(AT_FDCWD, path, st.st_dev);
}

bool file_exists(const char *path) {
        return access(path, F_OK) == 0;
}

bool dir_exists(const char *path) {
        struct stat st;
        return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int read_file_tail(const char *path, unsigned n_lines, char **ret) {
        _cleanup_free_ char *s = NULL;
        size_t n = 0;
        char *t;
        int r;

        r = read_full_file(path, &s, &n);
        if (r < 0)
                return r;
        while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
                s[--n] = 0;
        t = s + n;
        for (unsigned k = 0; t > s && k < n_lines; k++) {
                t--;
                while (t > s && t[-1] != '\n')
                        t--;
        }
        *ret = strdup(t);
        return *ret ? 0 : -ENOMEM;
}
