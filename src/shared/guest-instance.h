/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "config.h"

/* Instances of a [Guest NAME] section: NAME itself, or NAME-1 .. NAME-N with Count=N (N > 1).
 * Each instance is its own unit, mhtest-guest@JOB:INSTANCE.service, and its own domain
 * (guest_domain_name() with the same index, from 0). */

/* "NAME" or "NAME-N" for index N-1. */
int guest_instance_name(const GuestSection *g, unsigned index, char **ret);
/* The guest section and index an instance name stands for; -ENOENT if none. */
int guest_instance_find(const JobConfig *j, const char *instance, const GuestSection **ret_guest,
                        unsigned *ret_index);
/* "mhtest-guest@JOB:INSTANCE.service" */
int guest_instance_unit(const char *job, const GuestSection *g, unsigned index, char **ret);
/* Where the instance's console is logged: the libvirt serial log (guest_serial_log_path()), or
 * for a Launcher= guest the file its standard output and error go to. */
int guest_console_log_path(const char *job, const GuestSection *g, unsigned index, char **ret);
#define GUEST_LAUNCHER_LOG_DIR "/var/log/mhtest"

/* The libvirt URI of this host's guests: $MHTEST_LIBVIRT_URI, else qemu:///system. */
const char *guest_libvirt_uri(void);

/* Whether a guest belongs to a "vms start|wait JOB [ROLE]" selection: with a role, the guests of
 * that role; without one, the guests that the job does not start (AutoStart=no). */
bool guest_in_vm_group(const GuestSection *g, const char *role);

/* The checks of Count=, Role=, AutoStart= and Launcher= that span a job (config_load_job()). */
void guest_instance_validate(const JobConfig *j, ConfigDiagnostics *d);
