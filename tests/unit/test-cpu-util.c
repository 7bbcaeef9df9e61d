/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cpu-util and the pure parts of kmod-util and pci-driver, against --root trees. */
#include "cpu-util.h"
#include "kmod-util.h"
#include "pci-driver.h"
#include "strv.h"
#include "tests.h"

#define STRV_MAKE(...) ((char **) (const char *[]) { __VA_ARGS__, NULL })

static void test_cpuinfo_amd(void **state) {
        const char *root = *state;
        _cleanup_(cpu_info_done) CpuInfo c = {};

        test_write(root, "/proc/cpuinfo",
                   "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7543\n"
                   "flags\t\t: fpu sse2 svm npt\n\n"
                   "processor\t: 1\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 svm npt extra_on_cpu1\n");
        assert_int_equal(cpu_info_read(root, &c), 0);
        assert_int_equal(c.vendor, CPU_VENDOR_AMD);
        assert_string_equal(c.vendor_id, "AuthenticAMD");
        assert_string_equal(c.model_name, "AMD EPYC 7543");
        assert_true(cpu_info_has_flag(&c, "svm"));
        assert_false(cpu_info_has_flag(&c, "sv"));
        /* only the first processor is read */
        assert_false(cpu_info_has_flag(&c, "extra_on_cpu1"));
        assert_string_equal(cpu_info_kvm_module(&c), "kvm_amd");
        assert_string_equal(cpu_vendor_to_string(c.vendor), "amd");
}

static void test_cpuinfo_intel_and_none(void **state) {
        const char *root = *state;
        _cleanup_(cpu_info_done) CpuInfo c = {}, d = {}, e = {};

        test_write(root, "/proc/cpuinfo", "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vmx ept\n");
        assert_int_equal(cpu_info_read(root, &c), 0);
        assert_int_equal(c.vendor, CPU_VENDOR_INTEL);
        assert_string_equal(cpu_info_kvm_module(&c), "kvm_intel");

        test_write(root, "/proc/cpuinfo", "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu hypervisor\n");
        assert_int_equal(cpu_info_read(root, &d), 0);
        assert_null(cpu_info_kvm_module(&d));

        test_write(root, "/proc/cpuinfo", "processor\t: 0\nvendor_id\t: GenuineIntel\n");
        assert_int_equal(cpu_info_read(root, &e), -EBADMSG);
}

static void test_module_state_and_params(void **state) {
        const char *root = *state;
        _cleanup_strv_free_ char **holders = NULL;
        _cleanup_free_ char *v = NULL;
        unsigned refcnt = 99;
        ModuleState st;

        assert_int_equal(module_state(root, "kvm_amd", &st), 0);
        assert_int_equal(st, MODULE_NOT_LOADED);
        test_write(root, "/sys/module/kvm_amd/initstate", "live\n");
        test_write(root, "/sys/module/kvm_amd/refcnt", "2\n");
        test_write(root, "/sys/module/kvm_amd/parameters/nested", "0\n");
        test_write(root, "/sys/module/kvm/holders/kvm_amd/.keep", "");
        test_write(root, "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "N\n"); /* built in */
        /* names with '-' are the same module */
        assert_int_equal(module_state(root, "kvm-amd", &st), 0);
        assert_int_equal(st, MODULE_LIVE);
        assert_int_equal(module_state(root, "vfio", &st), 0);
        assert_int_equal(st, MODULE_BUILTIN);
        assert_int_equal(module_users(root, "kvm_amd", &refcnt, NULL), 0);
        assert_int_equal(refcnt, 2);
        assert_int_equal(module_users(root, "kvm", &refcnt, &holders), 0);
        assert_int_equal(refcnt, 0);
        assert_true(strv_equal(holders, STRV_MAKE("kvm_amd")));
        assert_int_equal(module_param_read(root, "kvm_amd", "nested", &v), 0);
        assert_string_equal(v, "0");
        assert_false(module_param_is_on(v));
        assert_true(module_param_is_on("1"));
        assert_true(module_param_is_on("Y"));
        assert_false(module_param_is_on("N"));
        assert_false(module_param_is_on(NULL));
}

static void test_kvm_users(void **state) {
        const char *root = *state;
        _cleanup_strv_free_ char **users = NULL;

        test_write(root, "/proc/4242/comm", "qemu-system-x86\n");
        test_symlink(root, "/proc/4242/fd/3", "/dev/null");
        test_symlink(root, "/proc/4242/fd/11", "anon_inode:kvm-vm");
        test_write(root, "/proc/17/comm", "bash\n");
        test_symlink(root, "/proc/17/fd/0", "/dev/pts/0");
        test_write(root, "/proc/self-not-a-pid/comm", "x\n");
        assert_int_equal(kvm_users(root, &users), 0);
        assert_true(strv_equal(users, STRV_MAKE("qemu-system-x86[4242]")));
}

static void test_pci_reads(void **state) {
        const char *root = *state;
        _cleanup_free_ char *drv = NULL, *ovr = NULL, *group = NULL, *ovr2 = NULL;
        _cleanup_strv_free_ char **members = NULL, **nets = NULL;

        assert_false(pci_iommu_present(root));
        assert_false(pci_device_exists(root, "0000:03:00.0"));
        test_write(root, "/sys/bus/pci/devices/0000:03:00.0/driver_override", "(null)\n");
        test_write(root, "/sys/bus/pci/devices/0000:03:00.0/virtio0/net/eth0/.keep", "");
        test_write(root, "/sys/kernel/iommu_groups/7/devices/.keep", "");
        test_symlink(root, "/sys/kernel/iommu_groups/7/devices/0000:03:00.0", "../../../../bus/pci/devices/0000:03:00.0");
        test_symlink(root, "/sys/kernel/iommu_groups/7/devices/0000:03:00.1", "../../../../bus/pci/devices/0000:03:00.1");
        test_symlink(root, "/sys/bus/pci/devices/0000:03:00.0/iommu_group", "../../../../kernel/iommu_groups/7");
        test_symlink(root, "/sys/bus/pci/devices/0000:03:00.0/driver", "../../../../bus/pci/drivers/virtio-pci");
        assert_true(pci_device_exists(root, "0000:03:00.0"));
        assert_true(pci_iommu_present(root));
        assert_int_equal(pci_device_driver(root, "0000:03:00.0", &drv), 0);
        assert_string_equal(drv, "virtio-pci");
        assert_int_equal(pci_device_driver_override(root, "0000:03:00.0", &ovr), 0);
        assert_null(ovr);
        test_write(root, "/sys/bus/pci/devices/0000:03:00.0/driver_override", "vfio-pci\n");
        assert_int_equal(pci_device_driver_override(root, "0000:03:00.0", &ovr2), 0);
        assert_string_equal(ovr2, "vfio-pci");
        assert_int_equal(pci_device_iommu_group(root, "0000:03:00.0", &group), 0);
        assert_string_equal(group, "7");
        assert_int_equal(pci_iommu_group_devices(root, group, &members), 0);
        assert_true(strv_equal(members, STRV_MAKE("0000:03:00.0", "0000:03:00.1")));
        /* a virtio NIC's interface is below virtioN/net */
        assert_int_equal(pci_device_netdevs(root, "0000:03:00.0", &nets), 0);
        assert_true(strv_equal(nets, STRV_MAKE("eth0")));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_cpuinfo_amd, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(test_cpuinfo_intel_and_none, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(test_module_state_and_params, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(test_kvm_users, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(test_pci_reads, test_root_setup, test_root_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
