/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The accelerator probe against --root trees: the cases of a machine with no /dev/kvm, a PVM
 * /dev/kvm without vmx/svm, real KVM, nested KVM, and the MHTEST_ACCEL override. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "accel.h"
#include "tests.h"

#define CPU_SVM "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 svm npt\n"
#define CPU_VMX_NESTED "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vmx ept hypervisor\n"
#define CPU_NONE "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 hypervisor\n"

static int setup(void **state) {
        unsetenv(ACCEL_ENV);
        return test_root_setup(state);
}

static void probe(const char *root, AccelProbe *ret) {
        assert_int_equal(accel_probe(root, ret), 0);
        assert_non_null(ret->reason);
}

static void test_no_dev_kvm(void **state) {
        const char *root = *state;
        _cleanup_(accel_probe_done) AccelProbe p = {};

        test_write(root, "/proc/cpuinfo", CPU_SVM);
        probe(root, &p);
        assert_int_equal(p.accel, ACCEL_TCG);
        assert_string_equal(p.extension, "svm");
        assert_non_null(strstr(p.reason, "no /dev/kvm"));
}

static void test_pvm(void **state) {
        const char *root = *state;
        _cleanup_(accel_probe_done) AccelProbe p = {};

        /* the machine of 2026-12-02: /dev/kvm from kvm_pvm, no vmx/svm */
        test_write(root, "/proc/cpuinfo", CPU_NONE);
        test_write(root, "/dev/kvm", "");
        test_write(root, "/sys/module/kvm_pvm/parameters/nested_pvm", "Y\n");
        probe(root, &p);
        assert_int_equal(p.accel, ACCEL_TCG);
        assert_null(p.extension);
        assert_non_null(strstr(p.reason, "kvm_pvm"));

}

static void test_no_extension(void **state) {
        const char *root = *state;
        _cleanup_(accel_probe_done) AccelProbe p = {};

        /* whatever serves /dev/kvm: without vmx/svm no standard guest kernel runs */
        test_write(root, "/proc/cpuinfo", CPU_NONE);
        test_write(root, "/dev/kvm", "");
        probe(root, &p);
        assert_int_equal(p.accel, ACCEL_TCG);
        assert_non_null(strstr(p.reason, "neither vmx nor svm"));
}

static void test_kvm(void **state) {
        const char *root = *state;
        _cleanup_(accel_probe_done) AccelProbe p = {}, q = {};

        test_write(root, "/proc/cpuinfo", CPU_SVM);
        test_write(root, "/dev/kvm", "");
        test_write(root, "/sys/module/kvm_amd/parameters/nested", "1\n");
        probe(root, &p);
        assert_int_equal(p.accel, ACCEL_KVM);
        assert_false(p.needs_proof);
        assert_false(p.overridden);
        assert_string_equal(p.extension, "svm");
        assert_non_null(strstr(p.reason, "kvm_amd loaded"));

        /* a guest itself: KVM by the kernel's facts, to be proven by a bounded boot */
        test_write(root, "/proc/cpuinfo", CPU_VMX_NESTED);
        probe(root, &q);
        assert_int_equal(q.accel, ACCEL_KVM);
        assert_true(q.needs_proof);
        assert_string_equal(q.extension, "vmx");
}

static void test_override(void **state) {
        const char *root = *state;
        _cleanup_(accel_probe_done) AccelProbe p = {}, q = {};
        AccelProbe bad = {};

        test_write(root, "/proc/cpuinfo", CPU_SVM);
        test_write(root, "/dev/kvm", "");
        setenv(ACCEL_ENV, "tcg", 1);
        probe(root, &p);
        assert_int_equal(p.accel, ACCEL_TCG);
        assert_true(p.overridden);
        assert_non_null(strstr(p.reason, ACCEL_ENV "=tcg"));

        /* KVM forced where the probe would say TCG (no /dev/kvm in this tree) */
        {
                _cleanup_free_ char *kvm = test_path(root, "/dev/kvm");
                assert_int_equal(unlink(kvm), 0);
        }
        setenv(ACCEL_ENV, "kvm", 1);
        probe(root, &q);
        assert_int_equal(q.accel, ACCEL_KVM);
        assert_true(q.overridden);

        setenv(ACCEL_ENV, "hvf", 1);
        assert_int_equal(accel_probe(root, &bad), -EINVAL);
        assert_null(bad.reason);
        unsetenv(ACCEL_ENV);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_no_dev_kvm, setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(test_pvm, setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(test_no_extension, setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(test_kvm, setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(test_override, setup, test_root_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
