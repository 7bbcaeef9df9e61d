/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Guest instances (guest-instance.c): Count=, Role=, AutoStart= and Launcher= as the job file
 * says them, loaded through the real configuration code, and the names every verb and the
 * generator derive from them (instance, unit, domain, console log). */
#include "config.h"
#include "guest-instance.h"
#include "string-util.h"
#include "strv.h"
#include "tests.h"
#include "virt-util.h"

static const char job_file[] =
        "[Guest vm]\n"
        "Kernel=/img/vmlinuz\n"
        "Role=worker\n"
        "Count=3\n"
        "AutoStart=no\n"
        "[Guest db]\n"
        "Kernel=/img/vmlinuz\n"
        "Role=worker\n"
        "[Guest lone-2]\n"
        "Kernel=/img/vmlinuz\n"
        "AutoStart=no\n"
        "[Guest raw]\n"
        "Launcher=/usr/bin/qemu-system-x86_64 -nographic -kernel \"/img/my kernel\"\n"
        "ReadyMarker=UP\n";

static JobConfig *load(const char *root, Config **ret_c) {
        _cleanup_(config_diagnostics_done) ConfigDiagnostics d = {};
        JobConfig *j = NULL;

        test_write(root, "/etc/mhtest/mhtest.conf", "[Host]\nName=h1\n");
        test_write(root, "/etc/mhtest/jobs.d/grp.conf", job_file);
        assert_int_equal(config_load(root, ret_c), 0);
        assert_int_equal(config_load_job(*ret_c, "grp", &j, &d), 0);
        for (size_t i = 0; i < d.n_errors; i++)
                print_error("unexpected: %s\n", d.errors[i].message);
        assert_int_equal(d.n_errors, 0);
        return j;
}

static GuestSection *find(JobConfig *j, const char *name) {
        for (size_t i = 0; i < j->n_guests; i++)
                if (streq(j->guests[i]->section.name, name))
                        return j->guests[i];
        fail_msg("no [Guest %s]", name);
        return NULL;
}

static void test_keys(void **state) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(job_config_freep) JobConfig *j = load(*state, &c);
        GuestSection *vm = find(j, "vm"), *db = find(j, "db"), *raw = find(j, "raw");

        assert_int_equal(vm->count, 3);
        assert_string_equal(vm->role, "worker");
        assert_false(vm->auto_start);
        /* defaults */
        assert_int_equal(db->count, 1);
        assert_true(db->auto_start);
        assert_null(raw->role);
        /* argv as written, quotes removed, nothing run through a shell */
        assert_int_equal(strv_length(raw->launcher), 4);
        assert_string_equal(raw->launcher[0], "/usr/bin/qemu-system-x86_64");
        assert_string_equal(raw->launcher[3], "/img/my kernel");
        assert_null(vm->launcher);
}

static void test_names(void **state) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(job_config_freep) JobConfig *j = load(*state, &c);
        GuestSection *vm = find(j, "vm"), *db = find(j, "db"), *raw = find(j, "raw");
        _cleanup_free_ char *n1 = NULL, *n2 = NULL, *u = NULL, *d = NULL, *l1 = NULL, *l2 = NULL, *dd = NULL;

        assert_int_equal(guest_instance_name(vm, 0, &n1), 0);
        assert_string_equal(n1, "vm-1");
        assert_int_equal(guest_instance_name(db, 0, &n2), 0);
        assert_string_equal(n2, "db");
        assert_int_equal(guest_instance_unit("grp", vm, 2, &u), 0);
        assert_string_equal(u, "mhtest-guest@grp:vm-3.service");
        /* the unit's instance and the domain name count alike */
        assert_int_equal(guest_domain_name("grp", vm, 2, &d), 0);
        assert_string_equal(d, "mhtest-grp-vm-3");
        assert_int_equal(guest_domain_name("grp", db, 0, &dd), 0);
        assert_string_equal(dd, "mhtest-grp-db");
        assert_int_equal(guest_console_log_path("grp", vm, 1, &l1), 0);
        assert_string_equal(l1, "/var/log/libvirt/qemu/mhtest-grp-vm-2-serial.log");
        assert_int_equal(guest_console_log_path("grp", raw, 0, &l2), 0);
        assert_string_equal(l2, "/var/log/mhtest/mhtest-grp-raw-console.log");
}

static void test_find(void **state) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(job_config_freep) JobConfig *j = load(*state, &c);
        const GuestSection *g = NULL;
        unsigned idx = 99;

        assert_int_equal(guest_instance_find(j, "vm-2", &g, &idx), 0);
        assert_ptr_equal(g, find(j, "vm"));
        assert_int_equal(idx, 1);
        assert_int_equal(guest_instance_find(j, "vm-3", &g, &idx), 0);
        assert_int_equal(idx, 2);
        assert_int_equal(guest_instance_find(j, "db", &g, &idx), 0);
        assert_ptr_equal(g, find(j, "db"));
        assert_int_equal(idx, 0);
        /* a section whose name looks like an instance is that section */
        assert_int_equal(guest_instance_find(j, "lone-2", &g, &idx), 0);
        assert_ptr_equal(g, find(j, "lone-2"));
        /* Count=3: the section name alone, 0, 4, signs and leading zeros name no instance */
        g = NULL;
        idx = 99;
        assert_int_equal(guest_instance_find(j, "vm", &g, &idx), -ENOENT);
        assert_int_equal(guest_instance_find(j, "vm-0", &g, &idx), -ENOENT);
        assert_int_equal(guest_instance_find(j, "vm-4", &g, &idx), -ENOENT);
        assert_int_equal(guest_instance_find(j, "vm-+1", &g, &idx), -ENOENT);
        assert_int_equal(guest_instance_find(j, "vm-01", &g, &idx), -ENOENT);
        assert_int_equal(guest_instance_find(j, "db-1", &g, &idx), -ENOENT);
        assert_int_equal(guest_instance_find(j, "nope", &g, &idx), -ENOENT);
        assert_null(g);
        assert_int_equal(idx, 99);
}

static void test_vm_group(void **state) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(job_config_freep) JobConfig *j = load(*state, &c);

        /* no role: what the job does not start itself */
        assert_true(guest_in_vm_group(find(j, "vm"), NULL));
        assert_true(guest_in_vm_group(find(j, "lone-2"), NULL));
        assert_false(guest_in_vm_group(find(j, "db"), NULL));
        /* a role: every guest of it, started by the job or not */
        assert_true(guest_in_vm_group(find(j, "vm"), "worker"));
        assert_true(guest_in_vm_group(find(j, "db"), "worker"));
        assert_false(guest_in_vm_group(find(j, "lone-2"), "worker"));
        assert_false(guest_in_vm_group(find(j, "raw"), "other"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_keys, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(test_names, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(test_find, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(test_vm_group, test_root_setup, test_root_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
