/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <json-c/json.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "guest-image.h"
#include "path-util.h"
#include "process-util.h"
#include "string-util.h"
#include "strv.h"

void guest_overlays_done(GuestOverlays *o) {
        free(o->dir);
        free(o->image);
        strv_free(o->disks);
        *o = (GuestOverlays) {};
}

int guest_disk_targets(const GuestSection *g, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        char dev = 'a';

        if (g->image && strv_extendf(&l, "vd%c", dev++) < 0)
                return -ENOMEM;
        STRV_FOREACH (d, g->disks)
                if (strv_extendf(&l, "vd%c", dev++) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

int guest_overlay_dir(const char *root, const char *job, const char *instance, char **ret) {
        _cleanup_free_ char *p = strjoin(GUEST_IMAGE_DIR "/", job, "/", instance);

        if (!p)
                return -ENOMEM;
        *ret = path_prefix_root(root, p);
        return *ret ? 0 : -ENOMEM;
}

static int qemu_img(char **ret_path) {
        return find_executable("qemu-img", ret_path);
}

int guest_image_format(const char *path, char **ret) {
        _cleanup_free_ char *exe = NULL, *out = NULL;
        json_object *o, *f;
        char *fmt = NULL;
        int r;

        r = qemu_img(&exe);
        if (r < 0)
                return r;
        /* -U: the base may be open in another guest's QEMU, which holds a shared lock on it */
        char *argv[] = { exe, (char *) "info", (char *) "-U", (char *) "--output=json", (char *) path, NULL };
        r = spawn_capture(argv, &out);
        if (r < 0)
                return r;
        if (r != 0)
                return -EIO;
        o = json_tokener_parse(out);
        if (o && json_object_object_get_ex(o, "format", &f) && json_object_is_type(f, json_type_string))
                fmt = strdup(json_object_get_string(f));
        else {
                json_object_put(o);
                return -EBADMSG;
        }
        json_object_put(o);
        if (!fmt)
                return -ENOMEM;
        *ret = fmt;
        return 0;
}

static int overlay_create(const char *exe, const char *base, const char *overlay) {
        _cleanup_free_ char *fmt = NULL;
        int r;

        r = guest_image_format(base, &fmt);
        if (r < 0)
                return r;
        /* the backing format is given, never probed again by QEMU */
        char *argv[] = { (char *) exe, (char *) "create", (char *) "-q", (char *) "-f", (char *) "qcow2",
                         (char *) "-b", (char *) base, (char *) "-F", fmt, (char *) overlay, NULL };
        r = spawn_wait(argv);
        if (r < 0)
                return r;
        return r == 0 ? 0 : -EIO;
}

int guest_overlays_remove(const char *root, const char *job, const char *instance) {
        _cleanup_free_ char *dir = NULL, *parent = NULL;
        int r;

        r = guest_overlay_dir(root, job, instance, &dir);
        if (r < 0)
                return r;
        if (!dir_exists(dir))
                return 0;
        r = rm_rf(dir);
        if (r < 0)
                return r;
        parent = strndup(dir, strrchr(dir, '/') - dir);
        if (!parent)
                return -ENOMEM;
        (void) rmdir(parent); /* other instances of the job may still have theirs */
        return 1;
}

/* vda is Image= when set, the disks follow: the names of the domain's targets */
static int overlays_fill(const char *exe, const GuestSection *g, GuestOverlays *o) {
        char dev = 'a';
        int r;

        if (g->image) {
                if (asprintf_safe(&o->image, "%s/vd%c.qcow2", o->dir, dev++) < 0)
                        return -ENOMEM;
                r = overlay_create(exe, g->image, o->image);
                if (r < 0)
                        return r;
        }
        STRV_FOREACH (d, g->disks) {
                _cleanup_free_ char *p = NULL;

                if (asprintf_safe(&p, "%s/vd%c.qcow2", o->dir, dev++) < 0)
                        return -ENOMEM;
                r = overlay_create(exe, *d, p);
                if (r < 0)
                        return r;
                r = strv_consume(&o->disks, TAKE_PTR(p));
                if (r < 0)
                        return r;
        }
        return 0;
}

int guest_overlays_create(const char *root, const char *job, const char *instance, const GuestSection *g,
                          GuestOverlays *ret) {
        _cleanup_(guest_overlays_done) GuestOverlays o = {};
        _cleanup_free_ char *exe = NULL;
        int r;

        if (!g->image && strv_length(g->disks) == 0) {
                *ret = (GuestOverlays) {};
                return 0;
        }
        r = qemu_img(&exe);
        if (r < 0)
                return r;
        r = guest_overlay_dir(root, job, instance, &o.dir);
        if (r < 0)
                return r;
        /* a leftover of a run that did not clean up (killed, host crash) */
        r = guest_overlays_remove(root, job, instance);
        if (r < 0)
                return r;
        /* QEMU runs as another user: it must reach the directory; libvirt gives it the files */
        r = mkdir_p(o.dir, 0755);
        if (r >= 0)
                r = overlays_fill(exe, g, &o);
        if (r < 0) {
                (void) guest_overlays_remove(root, job, instance);
                return r;
        }
        *ret = o;
        o = (GuestOverlays) {};
        return 0;
}
