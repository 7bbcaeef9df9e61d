/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>
#include "config.h"
#include "macro.h"

/* Options shared by every verb. */
extern char *arg_root;
extern bool arg_json;
extern bool arg_all;
extern bool arg_quiet;

/* Load mhtest.conf and hosts.d, report their errors (but carry on). */
int load_config(Config **ret);
/* Load and validate a job; logs every error and returns -EINVAL if it does not validate. */
int load_job(Config *c, const char *name, JobConfig **ret);
void print_diagnostics(const ConfigDiagnostics *d);

int verb_config(int argc, char *argv[]);
int verb_apply(int argc, char *argv[]);
int verb_revert(int argc, char *argv[]);
int verb_status(int argc, char *argv[]);
int verb_not_implemented(int argc, char *argv[]);
int verb_check(int argc, char *argv[]);      /* check.c */
int verb_testpmd(int argc, char *argv[]);    /* testpmd-verbs.c */
int verb_testpmd_console(int argc, char *argv[]);
/* Adds "testpmd" (the supervisor's status file, null when not running) to a job's status
 * object and prints it unless --json. */
int testpmd_status(const char *job, json_object *out);
int verb_guest(int argc, char *argv[]);      /* guest-verbs.c */
extern bool arg_print_xml;                   /* guest --print-xml */
typedef enum GuestIncoming {
        GUEST_INCOMING_NONE,
        GUEST_INCOMING_PREPARE, /* guest --prepare-incoming */
        GUEST_INCOMING_REMOVE,  /* guest --remove-incoming */
} GuestIncoming;
extern GuestIncoming arg_guest_incoming;
int verb_job(int argc, char *argv[]);        /* job-verbs.c */
struct UnitWatch;
struct UnitState;
/* Log that a unit of the job failed (or did not start), with its result and last journal lines. */
void job_report_failed_unit(struct UnitWatch *w, const char *job, const struct UnitState *u, bool stopping);
/* Run a guest with Launcher= as this process's child until it exits or SIGTERM; the exit status
 * of the service main (guest-launcher.c). */
int guest_launcher_run(const JobConfig *j, const GuestSection *g, unsigned index);
int verb_vms(int argc, char *argv[]);        /* vms-verbs.c */
extern uint64_t arg_timeout_usec;            /* vms wait --timeout=, UINT64_MAX: none */
int verb_console(int argc, char *argv[]);    /* console-verb.c */
/* Adds "guests" to a job's status object and prints them unless --json (guest-status.c). */
int guest_status(const Config *c, const JobConfig *j, json_object *out);
