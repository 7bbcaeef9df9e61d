/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "guest-seed.h"
#include "fileio.h"
#include "parse-util.h"
#include "path-util.h"
#include "process-util.h"
#include "string-util.h"
#include "strv.h"
#include <fcntl.h>
#include <sys/stat.h>

int guest_seed_path(const char *domain, char **ret) {
        *ret = strjoin(GUEST_SEED_DIR "/", domain, ".iso");
        return *ret ? 0 : -ENOMEM;
}

bool guest_wants_seed(const GuestSection *g) {
        return strv_length(g->ssh_authorized_keys) > 0 || g->hostname;
}

int guest_seed_hostname(const GuestSection *g, unsigned index, char **ret) {
        _cleanup_free_ char *h = NULL;

        if (g->count > 1) /* as guest_instance_name() names the instance */
                (void) asprintf_safe(&h, "%s-%u", g->hostname ?: g->section.name, index + 1);
        else
                h = strdup(g->hostname ?: g->section.name);
        if (!h)
                return -ENOMEM;
        if (!g->hostname)
                for (char *p = h; *p; p++)
                        if (*p == '_')
                                *p = '-';
        if (!hostname_valid(h))
                return -EINVAL;
        *ret = TAKE_PTR(h);
        return 0;
}

int guest_seed_read_keys(const char *root, char *const *files, char ***ret_keys, char **ret_bad) {
        _cleanup_strv_free_ char **keys = NULL;
        int r;

        STRV_FOREACH (f, files) {
                _cleanup_free_ char *p = path_prefix_root(root, *f), *text = NULL;
                size_t before = strv_length(keys);
                char *line, *save = NULL;
                bool bad = false;

                if (!p)
                        return -ENOMEM;
                r = read_full_file(p, &text, NULL);
                if (r < 0) {
                        *ret_bad = strdup(*f);
                        return r;
                }
                for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                        char *k = strstrip(line);

                        if (isempty(k) || k[0] == '#')
                                continue;
                        if (string_has_cc(k)) {
                                bad = true;
                                break;
                        }
                        if (strv_extend(&keys, k) < 0)
                                return -ENOMEM;
                }
                if (bad || strv_length(keys) == before) {
                        *ret_bad = strdup(*f);
                        return -EBADMSG;
                }
        }
        *ret_keys = TAKE_PTR(keys);
        return 0;
}

/* A YAML double-quoted scalar: only '"' and '\' need escapes once control characters are out. */
static int yaml_quote(const char *s, char **ret) {
        _cleanup_free_ char *q = malloc(strlen(s) * 2 + 3);
        char *o = q;

        if (!q)
                return -ENOMEM;
        if (string_has_cc(s))
                return -EINVAL;
        *o++ = '"';
        for (const char *p = s; *p; p++) {
                if (*p == '"' || *p == '\\')
                        *o++ = '\\';
                *o++ = *p;
        }
        *o++ = '"';
        *o = 0;
        *ret = TAKE_PTR(q);
        return 0;
}

int guest_seed_meta_data(const char *instance_id, const char *hostname, char **ret) {
        _cleanup_free_ char *id = NULL, *host = NULL;

        if (yaml_quote(instance_id, &id) < 0 || yaml_quote(hostname, &host) < 0)
                return -EINVAL;
        return asprintf_safe(ret, "instance-id: %s\nlocal-hostname: %s\n", id, host) < 0 ? -ENOMEM : 0;
}

int guest_seed_user_data(char *const *keys, char **ret) {
        /* The keys go to root too (seed 004 injects its key for root); disable_root: false
         * lets root log in with them instead of being told to use the default user. */
        _cleanup_free_ char *s = strdup("#cloud-config\n"
                                        "disable_root: false\n"
                                        "ssh_pwauth: false\n");
        if (!s)
                return -ENOMEM;
        if (strv_length(keys) > 0) {
                char *n = strjoin(s, "ssh_authorized_keys:\n");
                if (!n)
                        return -ENOMEM;
                free(s);
                s = n;
        }
        STRV_FOREACH (k, keys) {
                _cleanup_free_ char *q = NULL;
                char *n;

                if (yaml_quote(*k, &q) < 0)
                        return -EINVAL;
                n = strjoin(s, "  - ", q, "\n");
                if (!n)
                        return -ENOMEM;
                free(s);
                s = n;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

static int write_seed_file(const char *dir, const char *name, const char *contents) {
        _cleanup_free_ char *p = strjoin(dir, "/", name);

        return p ? write_file_atomic(p, contents, 0644) : -ENOMEM;
}

int guest_seed_build(const char *path, const char *instance_id, const char *hostname, char *const *keys) {
        _cleanup_free_ char *meta = NULL, *user = NULL, *dir = NULL, *tmp = NULL, *genisoimage = NULL,
                            *md = NULL, *ud = NULL;
        int r;

        r = guest_seed_meta_data(instance_id, hostname, &meta);
        if (r < 0)
                return r;
        r = guest_seed_user_data(keys, &user);
        if (r < 0)
                return r;
        r = find_executable("genisoimage", &genisoimage);
        if (r < 0)
                return r;
        r = mkdir_parents(path, 0755);
        if (r < 0)
                return r;
        dir = strjoin(path, ".XXXXXX");
        tmp = strjoin(path, ".tmp");
        if (!dir || !tmp)
                return -ENOMEM;
        if (!mkdtemp(dir))
                return -errno;
        r = write_seed_file(dir, "meta-data", meta);
        if (r >= 0)
                r = write_seed_file(dir, "user-data", user);
        if (r >= 0) {
                md = strjoin(dir, "/meta-data");
                ud = strjoin(dir, "/user-data");
                if (!md || !ud)
                        r = -ENOMEM;
        }
        if (r >= 0) {
                /* NoCloud looks for a file system labelled "cidata"; Joliet and Rock Ridge keep the
                 * file names as they are. */
                char *argv[] = { genisoimage,
                                 (char *) "-quiet",
                                 (char *) "-output",
                                 tmp,
                                 (char *) "-volid",
                                 (char *) "cidata",
                                 (char *) "-joliet",
                                 (char *) "-rock",
                                 ud,
                                 md,
                                 NULL };
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
                pid_t pid;

                r = spawn_async(argv, null, -1, -1, &pid);
                if (null >= 0)
                        close(null);
                if (r >= 0)
                        r = wait_for_exit(pid);
                if (r > 0)
                        r = -EIO;
        }
        (void) rm_rf(dir);
        if (r >= 0 && chmod(tmp, 0644) < 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

int guest_seed_remove(const char *path) {
        if (unlink(path) < 0)
                return errno == ENOENT ? 0 : -errno;
        return 1;
}
