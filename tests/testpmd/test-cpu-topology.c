/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Core selection on synthetic hwloc topologies: 1 and 2 NUMA nodes, with and without SMT
 * (also with Linux's sibling numbering, where CPU N and N+cores share a core), isolcpus. */
#include "cpu-topology.h"
#include "fileio.h"
#include "tests.h"

static char *select_str(const char *topology, unsigned n, int node, const char *isolated, const char *reserved,
                        unsigned *ret_main, char **ret_held, int *ret_r) {
        _cleanup_(cpu_topology_freep) CpuTopology *t = NULL;
        _cleanup_(cpu_set_done) CPUSet iso = {}, res = {};
        _cleanup_(core_selection_done) CoreSelection sel = {};
        CoreRequest req = { .n_forward = n, .numa_node = node, .isolated = &iso, .reserved = &res };
        char *s = NULL;

        assert_int_equal(cpu_topology_load_synthetic(topology, &t), 0);
        if (isolated)
                assert_int_equal(cpu_set_parse(isolated, &iso), 0);
        if (reserved)
                assert_int_equal(cpu_set_parse(reserved, &res), 0);
        *ret_r = cpu_topology_select_cores(t, &req, &sel);
        if (*ret_r < 0)
                return NULL;
        assert_int_equal(cpu_set_format(&sel.forward, &s), 0);
        if (ret_main)
                *ret_main = sel.main_lcore;
        if (ret_held) {
                if (cpu_set_count(&sel.held) > 0)
                        assert_int_equal(cpu_set_format(&sel.held, ret_held), 0);
                else
                        *ret_held = strdup("");
        }
        return s;
}

static void test_one_node_no_smt(void **state) {
        _cleanup_free_ char *s = NULL, *held = NULL;
        unsigned main_lcore = 99;
        int r;

        s = select_str("numa:1 core:4 pu:1", 2, 0, NULL, NULL, &main_lcore, &held, &r);
        assert_int_equal(r, 0);
        /* never CPU 0: it is the main lcore's (housekeeping) */
        assert_string_equal(s, "1-2");
        assert_int_equal(main_lcore, 0);
        assert_string_equal(held, "");
        free(s);
        s = select_str("numa:1 core:4 pu:1", 4, 0, NULL, NULL, NULL, NULL, &r);
        assert_int_equal(r, -ENOSPC);
        assert_null(s);
}

static void test_smt_siblings_together(void **state) {
        _cleanup_free_ char *s = NULL, *held = NULL;
        unsigned main_lcore = 99;
        int r;

        /* hwloc numbering: core 0 = {0,1}, core 1 = {2,3} ... */
        s = select_str("numa:1 core:4 pu:2", 2, 0, NULL, NULL, &main_lcore, &held, &r);
        assert_int_equal(r, 0);
        assert_string_equal(s, "2-3");
        assert_int_equal(main_lcore, 0);
        assert_string_equal(held, "");
        free(s);
        free(held);
        /* an odd count: the sibling is held idle, not given to anybody */
        s = select_str("numa:1 core:4 pu:2", 3, 0, NULL, NULL, NULL, &held, &r);
        assert_int_equal(r, 0);
        assert_string_equal(s, "2-4");
        assert_string_equal(held, "5");
        free(s);
        free(held);
        /* Linux numbering: CPU N and N+4 are siblings; CPU 4 shares CPU 0's core */
        s = select_str("numa:1 core:4 pu:2(indexes=0,4,1,5,2,6,3,7)", 2, 0, NULL, NULL, &main_lcore, &held, &r);
        assert_int_equal(r, 0);
        assert_string_equal(s, "1,5");
        assert_true(main_lcore == 0 || main_lcore == 4);
        assert_string_equal(held, "");
}

static void test_two_nodes(void **state) {
        _cleanup_free_ char *s = NULL;
        unsigned main_lcore = 99;
        int r;

        /* NICs on node 1: forwarding cores from node 1 (CPUs 4-7) */
        s = select_str("numa:2 core:4 pu:1", 2, 1, NULL, NULL, &main_lcore, NULL, &r);
        assert_int_equal(r, 0);
        assert_string_equal(s, "4-5");
        assert_int_equal(main_lcore, 0);
        free(s);
        /* node 0: CPU 0's core is housekeeping */
        s = select_str("numa:2 core:4 pu:1", 3, 0, NULL, NULL, NULL, NULL, &r);
        assert_int_equal(r, 0);
        assert_string_equal(s, "1-3");
        free(s);
        /* more than node 1 has: spill over to node 0, still never CPU 0 */
        s = select_str("numa:2 core:4 pu:1", 5, 1, NULL, NULL, NULL, NULL, &r);
        assert_int_equal(r, 0);
        assert_string_equal(s, "1,4-7");
        free(s);
        /* 2 nodes with SMT, Linux numbering: node 1 has cores {2,6} and {3,7} */
        s = select_str("numa:2 core:2 pu:2(indexes=0,4,1,5,2,6,3,7)", 2, 1, NULL, NULL, NULL, NULL, &r);
        assert_int_equal(r, 0);
        assert_string_equal(s, "2,6");
}

static void test_isolcpus(void **state) {
        _cleanup_free_ char *s = NULL;
        unsigned main_lcore = 99;
        int r;

        /* only isolated CPUs forward; the main lcore is a housekeeping one */
        s = select_str("numa:1 core:8 pu:1", 2, 0, "4-7", NULL, &main_lcore, NULL, &r);
        assert_int_equal(r, 0);
        assert_string_equal(s, "4-5");
        assert_int_equal(main_lcore, 0);
        free(s);
        /* reserved (a guest's pinning) are skipped */
        s = select_str("numa:1 core:8 pu:1", 2, 0, "4-7", "4", NULL, NULL, &r);
        assert_int_equal(r, 0);
        assert_string_equal(s, "5-6");
        free(s);
        s = select_str("numa:1 core:8 pu:1", 5, 0, "4-7", NULL, NULL, NULL, &r);
        assert_int_equal(r, -ENOSPC);
        /* a core with only one isolated sibling cannot be used: siblings stay together */
        s = select_str("numa:1 core:4 pu:2", 1, 0, "2,4-5", NULL, NULL, NULL, &r);
        assert_int_equal(r, 0);
        assert_string_equal(s, "4");
}

static void test_isolated_read(void **state) {
        const char *root = *state;
        _cleanup_(cpu_set_done) CPUSet s = {};
        _cleanup_free_ char *f = NULL;

        /* no sysfs file: isolcpus= of the kernel command line, flags skipped */
        test_write(root, "/proc/cmdline", "BOOT_IMAGE=/vmlinuz quiet isolcpus=domain,managed_irq,2-3,6 nohz_full=2-3\n");
        assert_int_equal(cpu_isolated_read(root, &s), 0);
        assert_int_equal(cpu_set_format(&s, &f), 0);
        assert_string_equal(f, "2-3,6");
        cpu_set_done(&s);
        free(f);
        f = NULL;
        /* the kernel's view wins */
        test_write(root, "/sys/devices/system/cpu/isolated", "4-5\n");
        assert_int_equal(cpu_isolated_read(root, &s), 0);
        assert_int_equal(cpu_set_format(&s, &f), 0);
        assert_string_equal(f, "4-5");
        cpu_set_done(&s);
        test_write(root, "/sys/devices/system/cpu/isolated", "\n");
        assert_int_equal(cpu_isolated_read(root, &s), 0);
        assert_int_equal(cpu_set_count(&s), 0);
}

static void test_queries(void **state) {
        _cleanup_(cpu_topology_freep) CpuTopology *t = NULL;
        _cleanup_(cpu_set_done) CPUSet sib = {}, all = {};
        _cleanup_free_ char *f = NULL;

        assert_int_equal(cpu_topology_load_synthetic("numa:2 core:2 pu:2(indexes=0,4,1,5,2,6,3,7)", &t), 0);
        assert_int_equal(cpu_topology_n_numa_nodes(t), 2);
        assert_int_equal(cpu_topology_cpu_node(t, 6), 1);
        assert_int_equal(cpu_topology_cpu_node(t, 5), 0);
        assert_int_equal(cpu_topology_siblings(t, 1, &sib), 0);
        assert_int_equal(cpu_set_format(&sib, &f), 0);
        assert_string_equal(f, "1,5");
        assert_int_equal(cpu_topology_all(t, &all), 0);
        assert_int_equal(cpu_set_count(&all), 8);
}

static void test_bad_synthetic(void **state) {
        CpuTopology *t = NULL;

        assert_int_equal(cpu_topology_load_synthetic("core:nonsense", &t), -EINVAL);
        assert_null(t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_one_node_no_smt),
                cmocka_unit_test(test_smt_siblings_together),
                cmocka_unit_test(test_two_nodes),
                cmocka_unit_test(test_isolcpus),
                cmocka_unit_test_setup_teardown(test_isolated_read, test_root_setup, test_root_teardown),
                cmocka_unit_test(test_queries),
                cmocka_unit_test(test_bad_synthetic),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
