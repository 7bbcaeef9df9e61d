/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "config.h"

/* A cloud-init NoCloud seed: an ISO 9660 image with the volume label "cidata" holding
 * meta-data (instance-id, local-hostname) and user-data (#cloud-config with the guest's
 * [Guest] SSHAuthorizedKeys=), attached to the guest as a read-only cdrom and removed at stop. */

/* Where the seed of a domain lives: /var/lib/mhtest/seed/DOMAIN.iso. */
#define GUEST_SEED_DIR "/var/lib/mhtest/seed"
int guest_seed_path(const char *domain, char **ret);

/* Whether g gets a seed: SSHAuthorizedKeys= or Hostname= is set. */
bool guest_wants_seed(const GuestSection *g);

/* The guest's host name: Hostname=, else the guest's name with "_" made "-"; with Count= > 1,
 * "-N" appended for instance index N-1 (as the instance is named). -EINVAL if that is no valid
 * host name. */
int guest_seed_hostname(const GuestSection *g, unsigned index, char **ret);

/* The keys of the authorized_keys files (below root): their lines that are neither empty nor
 * comments. -EBADMSG when a file holds none or a line has control characters (*ret_bad names
 * the file then), other negative errno when a file cannot be read. */
int guest_seed_read_keys(const char *root, char *const *files, char ***ret_keys, char **ret_bad);

/* The seed's two files. */
int guest_seed_meta_data(const char *instance_id, const char *hostname, char **ret);
int guest_seed_user_data(char *const *keys, char **ret);

/* Write meta-data and user-data into a fresh directory and make the ISO at path with
 * genisoimage (spawned with argv), replacing any old one atomically. */
int guest_seed_build(const char *path, const char *instance_id, const char *hostname, char *const *keys);
/* Remove the seed; 0 if it was not there. */
int guest_seed_remove(const char *path);
