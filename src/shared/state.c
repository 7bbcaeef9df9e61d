/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <sys/stat.h>
#include "fileio.h"
#include "path-util.h"
#include "state.h"
#include "string-util.h"

int state_path(const char *root, const char *job, const char *step, char **ret) {
        _cleanup_free_ char *p = NULL;

        if (asprintf_safe(&p, "/run/mhtest/%s/%s.state", job, step) < 0)
                return -ENOMEM;
        *ret = path_prefix_root(root, p);
        return *ret ? 0 : -ENOMEM;
}

int state_save(const char *root, const char *job, const char *step, json_object *state) {
        _cleanup_free_ char *p = NULL;
        const char *s;
        int r;

        r = state_path(root, job, step, &p);
        if (r < 0)
                return r;
        r = mkdir_parents(p, 0755);
        if (r < 0)
                return r;
        s = json_object_to_json_string_ext(state, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!s)
                return -ENOMEM;
        return write_file_atomic(p, s, 0600);
}

int state_load(const char *root, const char *job, const char *step, json_object **ret) {
        _cleanup_free_ char *p = NULL, *s = NULL;
        json_object *o;
        int r;

        r = state_path(root, job, step, &p);
        if (r < 0)
                return r;
        r = read_full_file(p, &s, NULL);
        if (r < 0)
                return r;
        o = json_tokener_parse(s);
        if (!o)
                return -EBADMSG;
        *ret = o;
        return 0;
}

int state_remove(const char *root, const char *job, const char *step) {
        _cleanup_free_ char *p = NULL, *dir = NULL;
        int r;

        r = state_path(root, job, step, &p);
        if (r < 0)
                return r;
        if (unlink(p) < 0 && errno != ENOENT)
                return -errno;
        /* the job's directory goes when its last state goes */
        dir = strndup(p, strrchr(p, '/') - p);
        if (dir)
                (void) rmdir(dir);
        return 0;
}

const char *state_get_string(json_object *o, const char *key) {
        json_object *v;

        if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

bool state_get_bool(json_object *o, const char *key) {
        json_object *v;

        return o && json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

json_object *state_new_string_or_null(const char *s) {
        return s ? json_object_new_string(s) : NULL;
}

void state_add_change(json_object *state, const char *format, ...) {
        json_object *changes = state_get(state, "changes");
        char *s = NULL;
        va_list ap;

        va_start(ap, format);
        if (vasprintf(&s, format, ap) < 0)
                s = NULL;
        va_end(ap);
        if (!s)
                return;
        if (!changes) {
                changes = json_object_new_array();
                json_object_object_add(state, "changes", changes);
        }
        json_object_array_add(changes, json_object_new_string(s));
        free(s);
}

json_object *state_get(json_object *o, const char *key) {
        json_object *v;

        return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}
