/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fileio: the tail of a console log (what a boot that missed its deadline reports). */
#include <stdlib.h>
#include "fileio.h"
#include "tests.h"

static void test_read_file_tail(void **state) {
        const char *root = *state;
        _cleanup_free_ char *p = test_path(root, "/console.log"), *a = NULL, *b = NULL, *c = NULL, *d = NULL;

        test_write(root, "/console.log", "one\ntwo\nthree\nfour\n\n");
        assert_int_equal(read_file_tail(p, 2, &a), 0);
        assert_string_equal(a, "three\nfour");
        assert_int_equal(read_file_tail(p, 10, &b), 0);
        assert_string_equal(b, "one\ntwo\nthree\nfour");

        test_write(root, "/console.log", "no newline at all");
        assert_int_equal(read_file_tail(p, 1, &c), 0);
        assert_string_equal(c, "no newline at all");

        test_write(root, "/console.log", "");
        assert_int_equal(read_file_tail(p, 3, &d), 0);
        assert_string_equal(d, "");

        assert_int_equal(read_file_tail("/nonexistent/console.log", 3, &d), -ENOENT);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_read_file_tail, test_root_setup, test_root_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
