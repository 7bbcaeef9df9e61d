/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lab_install_stage(): what "lab up --from TREE" puts into the hosts, for both backends. A build
 * directory is installed with "meson install --destdir", an install tree (a DESTDIR) is copied
 * as it is; either way what landed in /lib, /bin ... moves below /usr where the machine's are
 * merged-/usr symlinks (a directory cannot be copied over them). */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fileio.h"
#include "lab-internal.h"
#include "mhtest-build.h"
#include "tests.h"

static bool machine_merged_usr(void) {
        struct stat st;

        return lstat("/lib", &st) >= 0 && S_ISLNK(st.st_mode);
}

static void assert_exists(const char *root, const char *rel, bool exists) {
        _cleanup_free_ char *p = test_path(root, rel);

        if ((access(p, F_OK) >= 0) != exists)
                fail_msg("%s: expected %s", p, exists ? "to exist" : "not to exist");
}

/* What "meson install --destdir" left: copied, and merged into /usr like the machine. */
static void test_install_tree(void **state) {
        const char *root = *state;
        _cleanup_free_ char *tree = test_path(root, "/destdir"), *dest = test_path(root, "/dest");

        test_write(root, "/destdir/usr/local/bin/mhtest", "#!/bin/sh\n");
        test_write(root, "/destdir/lib/systemd/system/mhtest@.service", "[Unit]\n");
        test_write(root, "/destdir/etc/mhtest/jobs.d/demo.conf", "[Job]\n");
        assert_int_equal(lab_install_stage(tree, dest), 0);
        assert_exists(dest, "/usr/local/bin/mhtest", true);
        assert_exists(dest, "/etc/mhtest/jobs.d/demo.conf", true);
        if (machine_merged_usr()) {
                assert_exists(dest, "/usr/lib/systemd/system/mhtest@.service", true);
                assert_exists(dest, "/lib", false);
        } else
                assert_exists(dest, "/lib/systemd/system/mhtest@.service", true);
        /* the tree itself is left as it was */
        assert_exists(tree, "/lib/systemd/system/mhtest@.service", true);
}

/* This build directory: installed, the binary where the build puts it. */
static void test_build_tree(void **state) {
        const char *root = *state, *build = getenv("MHTEST_BUILD_ROOT");
        _cleanup_free_ char *dest = test_path(root, "/dest");

        if (!build)
                skip();
        assert_int_equal(lab_install_stage(build, dest), 0);
        assert_exists(dest, MHTEST_BINARY_PATH, true);
        if (machine_merged_usr())
                assert_exists(dest, "/lib", false);
}

static void test_not_a_tree(void **state) {
        const char *root = *state;
        _cleanup_free_ char *missing = test_path(root, "/missing"), *file = test_path(root, "/file"),
                            *dest = test_path(root, "/dest");

        test_write(root, "/file", "not a tree\n");
        assert_int_equal(lab_install_stage(missing, dest), -ENOENT);
        assert_int_equal(lab_install_stage(file, dest), -ENOTDIR);
        assert_exists(dest, "/", false);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_install_tree, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(test_build_tree, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(test_not_a_tree, test_root_setup, test_root_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
