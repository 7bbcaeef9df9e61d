/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "config.h"
#include <libvirt/libvirt.h>
#include <sys/types.h>

/* How a test reaches a guest of "mhtest guest": its cloud-init seed (SSH keys, host name), the
 * DHCP reservation of its management address and the SSH port forward. Prepared before the
 * domain starts, the forward once it runs, everything undone when the service's main returns,
 * whichever way (stop, crash, migration away, failed start). */
typedef struct GuestAccess {
        virConnectPtr conn; /* not owned: closed after guest_access_done() */
        const char *name;   /* the guest instance, for messages */
        char *domain;
        char *seed;    /* the seed ISO this run made */
        bool reserved; /* guest_network_reserve() was done */
        pid_t forward; /* systemd-socket-proxyd */
} GuestAccess;

/* Where the guest's seed is attached from; NULL (and 0) when it gets none. */
int guest_access_seed_path(const GuestSection *g, const char *domain, char **ret);
/* Before the domain starts, or when a running one is adopted (then the seed is not made again):
 * the seed and the reservation. Logs its errors. */
int guest_access_prepare(GuestAccess *a, virConnectPtr conn, const Config *c, const GuestSection *g,
                         unsigned index, const char *name, const char *domain, bool adopted);
/* Once the domain runs: the SSH forward. Logs its errors. */
int guest_access_start(GuestAccess *a, const GuestSection *g);
/* Undo it all; logs what could not be undone. */
void guest_access_done(GuestAccess *a);
