/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>
#include "macro.h"

/* Children always get an argv, never a shell string. */
int spawn_async(char * const *argv, int stdin_fd, int stdout_fd, int stderr_fd, pid_t *ret_pid);
/* Returns the exit status (>= 0), or 128+signal, or negative errno if it could not run. */
int wait_for_exit(pid_t pid);
int spawn_wait(char * const *argv);
/* Run, capture stdout (stderr passes through), return exit status as spawn_wait(). */
int spawn_capture(char * const *argv, char **ret_stdout);
/* The same with stderr into the same buffer, in the order written. */
int spawn_capture_all(char * const *argv, char **ret_output);
/* Search PATH; returns 0 with the absolute path, -ENOENT if not found. */
int find_executable(const char *name, char **ret);
