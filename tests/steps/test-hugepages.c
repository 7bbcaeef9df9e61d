/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hugepages.c against a --root tree of plain files (the form lab containers bind over sysfs),
 * and the pure parts of bridge.c (NLE_* conversion, compatibility of a bridge with a spec). The
 * real kernel is in test-hugepages-real.sh and test-bridge.sh. */
#include <net/if.h>
#include <netlink/errno.h>
#include "bridge.h"
#include "fileio.h"
#include "hugepages.h"
#include "tests.h"

static void tree(const char *root) {
        test_write(root, "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "1024\n");
        test_write(root, "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", "0\n");
        test_write(root, "/sys/kernel/mm/hugepages/hugepages-64kB/nr_hugepages", "0\n");
        test_write(root, "/sys/kernel/mm/hugepages/not-a-pool/nr_hugepages", "0\n");
        test_write(root, "/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages", "512\n");
        test_write(root, "/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages", "512\n");
        test_write(root, "/sys/devices/system/node/node10/hugepages/hugepages-2048kB/nr_hugepages", "0\n");
        test_write(root, "/sys/devices/system/node/node2/meminfo", "no hugepages dir: a memoryless node\n");
        test_write(root, "/proc/meminfo",
                   "MemTotal:       25165824 kB\nMemAvailable:   20971520 kB\nHugePages_Total:    1024\n");
}

static void test_sizes_nodes(void **state) {
        const char *root = *state;
        _cleanup_free_ uint64_t *sizes = NULL;
        _cleanup_free_ int *nodes = NULL;
        size_t n = 0;

        tree(root);
        assert_int_equal(hugepages_sizes(root, &sizes, &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(sizes[0], 64 * 1024);
        assert_int_equal(sizes[1], 2 * 1024 * 1024);
        assert_int_equal(sizes[2], UINT64_C(1) << 30);
        assert_int_equal(hugepages_nodes(root, &nodes, &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(nodes[0], 0);
        assert_int_equal(nodes[1], 1);
        assert_int_equal(nodes[2], 10);
        assert_true(hugepages_size_supported(root, UINT64_C(1) << 30));
        assert_false(hugepages_size_supported(root, UINT64_C(16) << 30));
        assert_true(hugepages_node_exists(root, 10));
        assert_false(hugepages_node_exists(root, 2));
}

static void test_no_numa(void **state) {
        const char *root = *state;
        _cleanup_free_ int *nodes = NULL;
        size_t n = 7;

        test_write(root, "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "0\n");
        assert_int_equal(hugepages_nodes(root, &nodes, &n), 0);
        assert_int_equal(n, 0);
}

static void test_get_set(void **state) {
        const char *root = *state;
        _cleanup_free_ char *s = NULL, *p = NULL;
        uint64_t c = 0;

        tree(root);
        assert_int_equal(hugepages_get(root, 2 * 1024 * 1024, -1, &c), 0);
        assert_int_equal(c, 1024);
        assert_int_equal(hugepages_get(root, 2 * 1024 * 1024, 1, &c), 0);
        assert_int_equal(c, 512);
        /* a shorter value must not leave the tail of the old one in a plain file */
        assert_int_equal(hugepages_set(root, 2 * 1024 * 1024, -1, 16, &c), 0);
        assert_int_equal(c, 16);
        assert_int_equal(hugepages_pool_path(root, 2 * 1024 * 1024, -1, &p), 0);
        assert_int_equal(read_full_file(p, &s, NULL), 0);
        assert_string_equal(s, "16\n");
        assert_int_equal(hugepages_get(root, UINT64_C(1) << 30, 3, &c), -ENOENT);
        assert_int_equal(hugepages_set(root, UINT64_C(1) << 30, 3, 1, &c), -ENOENT);
}

static void test_meminfo(void **state) {
        const char *root = *state;
        uint64_t v = 0;

        tree(root);
        assert_int_equal(meminfo_get(root, "MemAvailable", &v), 0);
        assert_int_equal(v, UINT64_C(20971520) * 1024);
        assert_int_equal(meminfo_get(root, "HugePages_Total", &v), 0);
        assert_int_equal(v, 1024);
        assert_int_equal(meminfo_get(root, "MemAvail", &v), -ENOENT);
        assert_int_equal(meminfo_get(root, "Nothing", &v), -ENOENT);
}

static void test_probe_not_mounted(void **state) {
        const char *root = *state;
        _cleanup_free_ char *p = test_path(root, "/mnt/huge");
        bool mounted = true;
        uint64_t ps = 1;

        assert_int_equal(mkdir_p(p, 0755), 0);
        assert_int_equal(hugetlbfs_probe(p, &mounted, &ps), 0);
        assert_false(mounted);
        assert_int_equal(ps, 0);
        assert_int_equal(hugetlbfs_probe("/nonexistent/mhtest", &mounted, &ps), -ENOENT);
}

static void test_nle(void **state) {
        assert_int_equal(nle_to_errno(-NLE_EXIST), -EEXIST);
        assert_int_equal(nle_to_errno(-NLE_NODEV), -ENODEV);
        assert_int_equal(nle_to_errno(-NLE_OPNOTSUPP), -EOPNOTSUPP);
        assert_int_equal(nle_to_errno(-NLE_BUSY), -EBUSY);
        assert_int_equal(nle_to_errno(-9999), -EIO);
}

static void test_bridge_matches(void **state) {
        static const uint8_t mac[6] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 };
        NetLink l = { .ifindex = 3, .name = (char *) "br0", .kind = (char *) "bridge", .mtu = 1500,
                      .forward_delay_cs = 1, .default_pvid = 1, .has_mac = true };
        BridgeSpec s = { .name = "br0" };
        _cleanup_free_ char *why = NULL, *why2 = NULL, *why3 = NULL;

        memcpy(l.mac, mac, 6);
        /* the kernel's jiffies round forward delays by a centisecond */
        assert_true(bridge_matches(&l, &s, NULL));
        s.stp = true;
        s.mtu = 9000;
        assert_false(bridge_matches(&l, &s, &why));
        assert_string_equal(why, "STP is off, MTU is 1500");
        s = (BridgeSpec) { .name = "br0", .vlan_filtering = true, .default_pvid = 5 };
        l.vlan_filtering = true;
        assert_false(bridge_matches(&l, &s, &why2));
        assert_string_equal(why2, "default PVID is 1");
        l.kind = (char *) "veth";
        assert_false(bridge_matches(&l, &s, &why3));
        assert_string_equal(why3, "it is a veth, not a bridge");
        s = (BridgeSpec) { .name = "br0", .mac = mac };
        l.kind = (char *) "bridge";
        l.vlan_filtering = false;
        assert_true(bridge_matches(&l, &s, NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_sizes_nodes, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(test_no_numa, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(test_get_set, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(test_meminfo, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(test_probe_not_mounted, test_root_setup, test_root_teardown),
                cmocka_unit_test(test_nle),
                cmocka_unit_test(test_bridge_matches),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
