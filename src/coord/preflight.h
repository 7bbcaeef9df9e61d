/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "config.h"
#include "remote.h"
#include "schedule.h"

/* The hash of job as each of hosts reads it (its own [Match] Host= drop-ins applied), in the
 * order of hosts: what "mhtest config hash JOB" must print there. */
int preflight_expected_hashes(Config *c, const char *job, char *const *hosts, char ***ret);

/* Check every host at once before anything changes: reachable over ssh (connect timeout, no
 * prompt), "mhtest config hash JOB" equal to expected_hashes[i], libvirtd answering, the CPU of
 * each guest that migrates there usable. Logs every problem (host, what, both hashes, libvirt's
 * words) and returns < 0 if there was one. */
int preflight_run(const JobConfig *j, const Schedule *s, const RemoteHost *const *hosts, size_t n_hosts,
                  char *const *expected_hashes);
