/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The search path: /etc > /run > /usr/local/lib > /usr/lib, masking, lexical order. */
#include "conf-files.h"
#include "path-util.h"
#include "string-util.h"
#include "strv.h"
#include "tests.h"

/* Bug (found by ASan): sorting an empty list read past its end. */
static void test_list_empty(void **state) {
        _cleanup_strv_free_ char **l = NULL, **m = NULL;

        assert_int_equal(conf_files_list(*state, "jobs.d", ".conf", &l), 0);
        assert_non_null(l);
        assert_null(l[0]);
        test_write(*state, "/etc/mhtest/jobs.d/README", "no .conf here\n");
        assert_int_equal(conf_files_list(*state, "jobs.d", ".conf", &m), 0);
        assert_null(m[0]);
}

static void test_list_one(void **state) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *p = test_path(*state, "/run/mhtest/hosts.d/a.conf");

        test_write(*state, "/run/mhtest/hosts.d/a.conf", "");
        assert_int_equal(conf_files_list(*state, "hosts.d", ".conf", &l), 0);
        assert_int_equal(strv_length(l), 1);
        assert_string_equal(l[0], p);
}

static void test_list_order_and_masking(void **state) {
        const char *root = *state;
        _cleanup_strv_free_ char **l = NULL;
        const char *expected[] = {
                "/usr/lib/mhtest/d/05-a.conf", "/usr/local/lib/mhtest/d/10-b.conf",
                "/etc/mhtest/d/20-c.conf",     "/run/mhtest/d/30-d.conf",
                "/usr/lib/mhtest/d/99-z.conf",
        };

        test_write(root, "/usr/lib/mhtest/d/05-a.conf", "");
        test_write(root, "/usr/lib/mhtest/d/10-b.conf", "lower, masked by name");
        test_write(root, "/usr/local/lib/mhtest/d/10-b.conf", "");
        test_write(root, "/etc/mhtest/d/20-c.conf", "");
        test_write(root, "/usr/lib/mhtest/d/30-d.conf", "lower, masked by name");
        test_write(root, "/run/mhtest/d/30-d.conf", "");
        test_write(root, "/usr/lib/mhtest/d/40-gone.conf", "masked by /dev/null");
        test_symlink(root, "/etc/mhtest/d/40-gone.conf", "/dev/null");
        test_write(root, "/usr/lib/mhtest/d/99-z.conf", "");
        test_write(root, "/etc/mhtest/d/.hidden.conf", "");
        test_write(root, "/etc/mhtest/d/50-dir.conf/x", "a directory named .conf");

        assert_int_equal(conf_files_list(root, "d", ".conf", &l), 0);
        assert_int_equal(strv_length(l), ELEMENTSOF(expected));
        for (size_t i = 0; i < ELEMENTSOF(expected); i++) {
                _cleanup_free_ char *p = test_path(root, expected[i]);
                assert_string_equal(l[i], p);
        }
}

static void test_find(void **state) {
        const char *root = *state;
        _cleanup_free_ char *p = NULL, *q = NULL, *want = test_path(root, "/usr/local/lib/mhtest/x.conf");

        assert_int_equal(conf_files_find(root, "x.conf", &p), 0);
        assert_null(p);
        test_write(root, "/usr/lib/mhtest/x.conf", "");
        test_write(root, "/usr/local/lib/mhtest/x.conf", "");
        assert_int_equal(conf_files_find(root, "x.conf", &p), 1);
        assert_string_equal(p, want);
        /* a /dev/null symlink above masks it completely */
        test_symlink(root, "/run/mhtest/x.conf", "/dev/null");
        assert_int_equal(conf_files_find(root, "x.conf", &q), 0);
        assert_null(q);
}

static void test_is_masked(void **state) {
        const char *root = *state;
        _cleanup_free_ char *a = test_path(root, "/a"), *b = test_path(root, "/b"),
                            *c = test_path(root, "/c");

        test_symlink(root, "/a", "/dev/null");
        test_write(root, "/b", "");
        test_symlink(root, "/c", "/dev/zero");
        assert_true(conf_file_is_masked(a));
        assert_false(conf_file_is_masked(b));
        assert_false(conf_file_is_masked(c));
        assert_true(conf_file_is_masked("/dev/null"));
        assert_false(conf_file_is_masked("/nonexistent"));
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, test_root_setup, test_root_teardown)
        const struct CMUnitTest tests[] = {
                T(test_list_empty), T(test_list_one),  T(test_list_order_and_masking),
                T(test_find),       T(test_is_masked),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
