/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "config.h"

/* libvirt domain name of a guest instance: mhtest-JOB-GUEST, or mhtest-JOB-GUEST-N when
 * [Guest] Count= > 1 (N from 1). */
int guest_domain_name(const char *job, const GuestSection *g, unsigned index, char **ret);
/* Where the guest's serial console is logged (the ready marker is looked for there). */
int guest_serial_log_path(const char *domain, char **ret);

typedef struct GuestXmlOptions {
        bool kvm;                  /* domain type kvm, else qemu (TCG) */
        const char *vhost_user_dir; /* where testpmd's vhost-user sockets live (/run/mhtest/JOB) */
        const char *management_network; /* libvirt network for "management" interfaces */
} GuestXmlOptions;

/* The libvirt domain XML of a guest, built with libxml2's writer. */
int guest_domain_xml(const char *job, const GuestSection *g, unsigned index, const GuestXmlOptions *o,
                     char **ret);
