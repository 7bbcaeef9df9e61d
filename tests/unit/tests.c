/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <unistd.h>

#include "fileio.h"
#include "path-util.h"
#include "string-util.h"
#include "tests.h"

int test_root_setup(void **state) {
        char *t = strdup("/tmp/mhtest-unit-XXXXXX");

        if (!t || !mkdtemp(t)) {
                free(t);
                return -1;
        }
        *state = t;
        return 0;
}

int test_root_teardown(void **state) {
        char *t = *state;
        int r = 0;

        if (t && startswith(t, "/tmp/mhtest-unit-"))
                r = rm_rf(t);
        free(t);
        *state = NULL;
        return r < 0 ? -1 : 0;
}

char *test_path(const char *root, const char *relpath) {
        char *p = path_prefix_root(root, relpath);

        assert_non_null(p);
        return p;
}

void test_write(const char *root, const char *relpath, const char *contents) {
        _cleanup_free_ char *p = test_path(root, relpath);
        _cleanup_fclose_ FILE *f = NULL;

        assert_int_equal(mkdir_parents(p, 0755), 0);
        f = fopen(p, "we");
        assert_non_null(f);
        assert_int_equal(fputs(contents, f) >= 0, 1);
        assert_int_equal(fflush(f), 0);
}

void test_symlink(const char *root, const char *relpath, const char *target) {
        _cleanup_free_ char *p = test_path(root, relpath);

        assert_int_equal(mkdir_parents(p, 0755), 0);
        assert_int_equal(symlink(target, p), 0);
}
