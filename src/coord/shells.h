/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <libxml/xmlwriter.h>
#include <json-c/json.h>
#include "config.h"
#include "migrate.h"
#include "schedule.h"

/* The [Test] shells of a run: on hosts each runs as a transient unit ("ssh HOST systemd-run
 * --pipe --wait --collect ..."), mhtest-coord owns its stdin and stdout and answers LAVA's
 * multinode markers in it through a lava-coordinator (lava.h). */
typedef struct ShellRun ShellRun;

typedef struct ShellOptions {
        const char *lava_scripts; /* LAVA's lava_test_shell directory (lava-test-case, multi_node/) */
        bool tty;                 /* print progress lines */
} ShellOptions;

/* Start the lava-coordinator (or use [Job] Coordinator=), install LAVA's scripts on the targets,
 * register the group and start every shell without After=; returns at once. *ret is NULL when
 * the job has no [Test]. */
int shells_start(const Config *c, const JobConfig *j, const ShellOptions *o, ShellRun **ret);
/* mhtest-coord plan: the shells, where they run, their roles and order. */
int shells_print_plan(const Config *c, const JobConfig *j);
/* The same as a JSON array, for mhtest-coord plan --json. */
json_object *shells_plan_to_json(const Config *c, const JobConfig *j);
/* Wait until every shell has ended (the After= ones start as their predecessors end). Returns
 * true if every shell and every testcase in them passed. */
bool shells_wait(ShellRun *r);
/* For SIGINT/SIGTERM, from any thread: end every running shell (its SSH connection, then
 * "systemctl stop" of its unit), start no more; shells_wait() then returns soon, all failed. */
void shells_cancel(ShellRun *r);
/* Stop what is left (transient units, the scripts, the lava-coordinator) and free. */
ShellRun *shells_free(ShellRun *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(ShellRun *, shells_free);

/* [Migration] WaitFor=: lava-wait for the message as the group member "mhtest-coord". */
int shells_wait_for_message(ShellRun *r, const char *message_id, uint64_t timeout_usec);
/* The migration phases before phases_done have ended (the run calls this after each phase,
 * and with sched->n_phases when no more will run): the shells of an After= test naming a
 * [Migration] all of whose steps are in those phases may start. */
void shells_migrations_settled(ShellRun *r, const Schedule *sched, size_t phases_done);
/* lava-send mhtest-migrated-NAME with the migration's statistics as key=value pairs
 * (migration_result_to_kv()). */
void shells_migration_ended(ShellRun *r, const MigrationResult *m);

json_object *shells_to_json(const ShellRun *r);
/* The testcases: one per shell, one per lava-test-case line and failed multinode call. */
void shells_count(const ShellRun *r, size_t *ret_tests, size_t *ret_failures);
int shells_junit(const ShellRun *r, xmlTextWriterPtr w);
