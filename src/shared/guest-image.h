/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "config.h"

/* A guest never writes its base images (Image=, Disks=): each run of its service attaches qcow2
 * overlays backed by them, kept in one directory per guest instance,
 *
 *     /var/lib/mhtest/guests/JOB/INSTANCE/vda.qcow2, vdb.qcow2, ...
 *
 * (INSTANCE: the guest's name, NAME-N with Count=), created when the domain is created and
 * removed when it is gone. */
#define GUEST_IMAGE_DIR "/var/lib/mhtest/guests"

typedef struct GuestOverlays {
        char *dir;    /* the instance's directory (under --root) */
        char *image;  /* the overlay of Image=, or NULL */
        char **disks; /* the overlays of Disks=, in order, or NULL */
} GuestOverlays;

void guest_overlays_done(GuestOverlays *o);

/* The domain's targets of g's overlays, in order: vda for Image= when set, the disks follow
 * (each overlay is named TARGET.qcow2). An empty list (NULL) when g has no disk image. */
int guest_disk_targets(const GuestSection *g, char ***ret);

int guest_overlay_dir(const char *root, const char *job, const char *instance, char **ret);
/* The format of a disk image as qemu-img detects it ("raw", "qcow2", ...). -EBADMSG when
 * qemu-img names none, -ENOENT when qemu-img is not installed. */
int guest_image_format(const char *path, char **ret);
/* One overlay per base image of g in the instance's directory, after removing what an earlier
 * run left there. On failure nothing is left behind. */
int guest_overlays_create(const char *root, const char *job, const char *instance, const GuestSection *g,
                          GuestOverlays *ret);
/* Remove the instance's directory (every overlay in it) and the job's directory when empty.
 * 0 when there was nothing. */
int guest_overlays_remove(const char *root, const char *job, const char *instance);
