/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* cmocka needs these before its header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "macro.h"

/* A temporary root directory for --root: created by test_root_setup() (a cmocka setup
 * function, *state = the path), removed with everything below it by test_root_teardown(). */
int test_root_setup(void **state);
int test_root_teardown(void **state);

/* Write a file below root (relpath may start with '/'), creating parent directories. The
 * test fails if that does not work. */
void test_write(const char *root, const char *relpath, const char *contents);
/* A symlink below root pointing to target (e.g. "/dev/null"). */
void test_symlink(const char *root, const char *relpath, const char *target);
/* root + relpath, freshly allocated. */
char *test_path(const char *root, const char *relpath);
