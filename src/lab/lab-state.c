/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The record of a lab, /run/mhtest/lab/NAME/lab.json: what "up" made, so that "down", "status"
 * and "exec" (later processes) find it again; and the names and paths derived from it. */
#include <dirent.h>
#include <stdio.h>
#include <unistd.h>
#include "fileio.h"
#include "lab-internal.h"
#include "log.h"
#include "state.h"
#include "string-util.h"
#include "strv.h"

static const char *const lab_backend_table[_LAB_BACKEND_MAX] = {
        [LAB_BACKEND_CONTAINER] = "container",
        [LAB_BACKEND_VM] = "vm",
};
DEFINE_STRING_TABLE_LOOKUP(lab_backend, LabBackend);

void lab_free(Lab *l) {
        if (!l)
                return;
        for (size_t i = 0; i < l->n_hosts; i++) {
                free(l->hosts[i].name);
                free(l->hosts[i].address);
        }
        free(l->hosts);
        free(l->name);
        free(l->dir);
        free(l->images);
        free(l->from);
        free(l);
}

int lab_new(const LabOptions *o, uint32_t subnet, Lab **ret) {
        _cleanup_(lab_freep) Lab *l = calloc(1, sizeof(Lab));

        if (!l)
                return log_oom();
        l->name = strdup(o->name);
        l->dir = strjoin(LAB_RUN_DIR "/", o->name);
        l->backend = o->backend;
        l->subnet = subnet;
        l->hosts = calloc(o->n_hosts ?: 1, sizeof(LabHost));
        if (!l->name || !l->dir || !l->hosts || (o->from && !(l->from = strdup(o->from))))
                return log_oom();
        for (unsigned i = 0; i < o->n_hosts; i++) {
                LabHost *h = &l->hosts[l->n_hosts++];
                if (asprintf_safe(&h->name, "%s-h%u", l->name, i + 1) < 0 || !(h->address = lab_ip4_format(subnet + 11 + i)))
                        return log_oom();
        }
        /* Before anything is made: what did not exist then is ours to remove. */
        l->made_run_dir = access("/run/mhtest", F_OK) < 0;
        l->made_hosts_dir = access(LAB_HOSTS_DIR, F_OK) < 0;
        *ret = TAKE_PTR(l);
        return 0;
}

int lab_create(const Lab *l, mode_t mode) {
        int r;

        r = mkdir_p(l->dir, mode);
        if (r < 0)
                return log_error_errno(r, "Failed to create %s: %m", l->dir);
        r = lab_save(l);
        if (r < 0)
                return log_error_errno(r, "Failed to write the record of lab %s: %m", l->name);
        return 0;
}

int lab_remove_dir(const Lab *l) {
        int r = 0;

        if (rm_rf(l->dir) < 0 && access(l->dir, F_OK) >= 0)
                r = log_warning_errno(-EBUSY, "Failed to remove %s completely.", l->dir);
        (void) rmdir(LAB_RUN_DIR);
        if (l->made_run_dir)
                (void) rmdir("/run/mhtest");
        return r;
}

char *lab_ip4_format(uint32_t a) {
        char *buf = malloc(16);

        if (buf)
                snprintf(buf, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
        return buf;
}

char *lab_sw_ns(const Lab *l) {
        return strjoin(l->name, "-sw");
}

char *lab_ctl_ns(const Lab *l) {
        return strjoin(l->name, "-ctl");
}

char *lab_path(const Lab *l, const char *a, const char *b) {
        return strjoin(l->dir, "/", a, b ? "/" : "", strempty(b));
}

bool lab_name_valid(const char *s) {
        if (isempty(s) || strlen(s) > 24 || !(s[0] >= 'a' && s[0] <= 'z'))
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
                        return false;
        return true;
}

int lab_save(const Lab *l) {
        _cleanup_json_ json_object *o = json_object_new_object();
        _cleanup_free_ char *p = strjoin(l->dir, "/lab.json"), *subnet = lab_ip4_format(l->subnet),
                            *ctl = lab_ip4_format(l->subnet + 1);
        json_object *hosts = json_object_new_array();

        if (!o || !hosts || !p || !subnet || !ctl)
                return -ENOMEM;
        json_object_object_add(o, "name", json_object_new_string(l->name));
        json_object_object_add(o, "backend", json_object_new_string(lab_backend_to_string(l->backend)));
        json_object_object_add(o, "subnet", json_object_new_string(subnet));
        json_object_object_add(o, "prefix", json_object_new_int(24));
        json_object_object_add(o, "controller", json_object_new_string(ctl));
        json_object_object_add(o, "images", json_object_new_string(strempty(l->images)));
        json_object_object_add(o, "created_images", json_object_new_boolean(l->created_images));
        json_object_object_add(o, "made_run_dir", json_object_new_boolean(l->made_run_dir));
        json_object_object_add(o, "made_hosts_dir", json_object_new_boolean(l->made_hosts_dir));
        if (l->from)
                json_object_object_add(o, "from", json_object_new_string(l->from));
        for (size_t i = 0; i < l->n_hosts; i++) {
                json_object *h = json_object_new_object();
                json_object_object_add(h, "name", json_object_new_string(l->hosts[i].name));
                json_object_object_add(h, "address", json_object_new_string(l->hosts[i].address));
                json_object_object_add(h, "pid", json_object_new_int(l->hosts[i].pid));
                json_object_object_add(h, "pid_start", json_object_new_int64((int64_t) l->hosts[i].pid_start));
                json_object_array_add(hosts, h);
        }
        json_object_object_add(o, "hosts", hosts);
        return write_file_atomic(p, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE),
                                 0644);
}

int lab_load(const char *name, Lab **ret) {
        _cleanup_(lab_freep) Lab *l = calloc(1, sizeof(Lab));
        _cleanup_free_ char *p = NULL;
        _cleanup_json_ json_object *o = NULL;
        json_object *hosts, *v;
        uint32_t a, b, c, d;

        if (!l)
                return -ENOMEM;
        l->name = strdup(name);
        l->dir = strjoin(LAB_RUN_DIR "/", name);
        p = strjoin(LAB_RUN_DIR "/", name, "/lab.json");
        if (!l->name || !l->dir || !p)
                return -ENOMEM;
        o = json_object_from_file(p);
        if (!o)
                return access(p, F_OK) < 0 ? -ENOENT : -EBADMSG;
        l->backend = lab_backend_from_string(state_get_string(o, "backend"));
        if (l->backend < 0)
                l->backend = LAB_BACKEND_CONTAINER;
        if (!state_get_string(o, "subnet") || sscanf(state_get_string(o, "subnet"), "%u.%u.%u.%u", &a, &b, &c, &d) != 4)
                return -EBADMSG;
        l->subnet = a << 24 | b << 16 | c << 8 | d;
        if (!isempty(state_get_string(o, "images")))
                l->images = strdup(state_get_string(o, "images"));
        if (state_get_string(o, "from"))
                l->from = strdup(state_get_string(o, "from"));
        l->created_images = state_get_bool(o, "created_images");
        l->made_run_dir = state_get_bool(o, "made_run_dir");
        l->made_hosts_dir = state_get_bool(o, "made_hosts_dir");
        if (json_object_object_get_ex(o, "hosts", &hosts)) {
                size_t n = json_object_array_length(hosts);
                l->hosts = calloc(n ?: 1, sizeof(LabHost));
                if (!l->hosts)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++) {
                        json_object *h = json_object_array_get_idx(hosts, i);
                        LabHost *lh = &l->hosts[l->n_hosts++];
                        lh->name = strdup(strempty(state_get_string(h, "name")));
                        lh->address = strdup(strempty(state_get_string(h, "address")));
                        if (json_object_object_get_ex(h, "pid", &v))
                                lh->pid = json_object_get_int(v);
                        if (json_object_object_get_ex(h, "pid_start", &v))
                                lh->pid_start = (uint64_t) json_object_get_int64(v);
                        if (!lh->name || !lh->address)
                                return -ENOMEM;
                }
        }
        *ret = TAKE_PTR(l);
        return 0;
}

int lab_list(char ***ret) {
        _cleanup_closedir_ DIR *d = opendir(LAB_RUN_DIR);
        _cleanup_strv_free_ char **names = NULL;
        struct dirent *de;

        if (!d) {
                if (errno != ENOENT)
                        return -errno;
        } else
                while ((de = readdir(d))) {
                        if (de->d_name[0] == '.' || !lab_name_valid(de->d_name))
                                continue;
                        if (strv_extend(&names, de->d_name) < 0)
                                return -ENOMEM;
                }
        strv_sort(names);
        *ret = TAKE_PTR(names);
        return 0;
}
