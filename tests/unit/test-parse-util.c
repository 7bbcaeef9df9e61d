/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <sys/socket.h>

#include "parse-util.h"
#include "path-util.h"
#include "string-util.h"
#include "tests.h"

static void test_boolean(void **state) {
        const char *yes[] = { "1", "yes", "YES", "y", "true", "True", "t", "on" };
        const char *no[] = { "0", "no", "n", "false", "FALSE", "f", "off", "Off" };
        const char *bad[] = { "", "2", "yess", "enable", "-1", " yes" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                assert_int_equal(parse_boolean(yes[i]), 1);
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                assert_int_equal(parse_boolean(no[i]), 0);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(parse_boolean(bad[i]), -EINVAL);
}

static void test_unsigned(void **state) {
        uint64_t u64 = 7;
        unsigned u = 7;

        assert_int_equal(parse_uint64("0", &u64), 0);
        assert_int_equal(u64, 0);
        assert_int_equal(parse_uint64("18446744073709551615", &u64), 0);
        assert_true(u64 == UINT64_MAX);
        assert_int_equal(parse_uint64("18446744073709551616", &u64), -ERANGE);
        assert_int_equal(parse_uint64("-1", &u64), -EINVAL);
        assert_int_equal(parse_uint64("", &u64), -EINVAL);
        assert_int_equal(parse_uint64("12a", &u64), -EINVAL);
        assert_int_equal(parse_uint64(" 1", &u64), -EINVAL);
        assert_int_equal(parse_unsigned("4294967295", &u), 0);
        assert_true(u == UINT32_MAX);
        assert_int_equal(parse_unsigned("4294967296", &u), -ERANGE);
}

static void assert_size(const char *s, uint64_t expected) {
        uint64_t v = 0;

        assert_int_equal(parse_size(s, &v), 0);
        assert_true(v == expected);
}

static void test_size(void **state) {
        uint64_t v;

        assert_size("0", 0);
        assert_size("512", 512);
        assert_size("512B", 512);
        assert_size("1K", 1024);
        assert_size("1k", 1024);
        assert_size("1KiB", 1024);
        assert_size("1KB", 1024); /* IEC even when spelled KB, as systemd does */
        assert_size("2M", 2 * 1024 * 1024);
        assert_size("1024M", UINT64_C(1) << 30);
        assert_size("1G", UINT64_C(1) << 30);
        assert_size("1GiB", UINT64_C(1) << 30);
        assert_size("6 G", UINT64_C(6) << 30);
        assert_size("1T", UINT64_C(1) << 40);
        assert_size("2P", UINT64_C(2) << 50);

        assert_int_equal(parse_size("", &v), -EINVAL);
        assert_int_equal(parse_size("G", &v), -EINVAL);
        assert_int_equal(parse_size("1X", &v), -EINVAL);
        assert_int_equal(parse_size("1Gi", &v), -EINVAL);
        assert_int_equal(parse_size("1.5G", &v), -EINVAL);
        assert_int_equal(parse_size("-1G", &v), -EINVAL);
        assert_int_equal(parse_size("1GB2", &v), -EINVAL);
        assert_int_equal(parse_size("16384P", &v), -ERANGE);
}

static void assert_format_size(uint64_t v, const char *expected) {
        _cleanup_free_ char *s = NULL;

        assert_int_equal(format_size(v, &s), 0);
        assert_string_equal(s, expected);
}

static void test_format_size(void **state) {
        assert_format_size(0, "0");
        assert_format_size(1000, "1000");
        assert_format_size(1024, "1K");
        assert_format_size(1536, "1536");
        assert_format_size(UINT64_C(1) << 30, "1G");
        assert_format_size(UINT64_C(3) << 29, "1536M");
        assert_format_size(UINT64_C(1) << 50, "1P");
        assert_format_size(UINT64_C(1) << 60, "1024P");
}

static void assert_time(const char *s, uint64_t unit, uint64_t expected) {
        uint64_t v = 0;

        assert_int_equal(parse_time_usec(s, unit, &v), 0);
        assert_true(v == expected);
}

static void test_time(void **state) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
        uint64_t v;

        assert_time("5", USEC_PER_SEC, 5 * USEC_PER_SEC);
        assert_time("5", USEC_PER_MSEC, 5 * USEC_PER_MSEC);
        assert_time("0", USEC_PER_SEC, 0);
        assert_time("5s", USEC_PER_MSEC, 5 * USEC_PER_SEC);
        assert_time("200ms", USEC_PER_SEC, 200 * USEC_PER_MSEC);
        assert_time("1min 30s", USEC_PER_SEC, 90 * USEC_PER_SEC);
        assert_time("1min30s", USEC_PER_SEC, 90 * USEC_PER_SEC);
        assert_time("2h", USEC_PER_SEC, 7200 * USEC_PER_SEC);
        assert_time("10us", USEC_PER_SEC, 10);
        assert_time("3 seconds", USEC_PER_SEC, 3 * USEC_PER_SEC);

        assert_int_equal(parse_time_usec("", USEC_PER_SEC, &v), -EINVAL);
        assert_int_equal(parse_time_usec("5 parsecs", USEC_PER_SEC, &v), -EINVAL);
        assert_int_equal(parse_time_usec("-5s", USEC_PER_SEC, &v), -EINVAL);
        assert_int_equal(parse_time_usec("s", USEC_PER_SEC, &v), -EINVAL);

        assert_int_equal(format_time_usec(90 * USEC_PER_SEC, &a), 0);
        assert_string_equal(a, "90s");
        assert_int_equal(format_time_usec(300 * USEC_PER_MSEC, &b), 0);
        assert_string_equal(b, "300ms");
        assert_int_equal(format_time_usec(7, &c), 0);
        assert_string_equal(c, "7us");
}

static void assert_cpus(const char *s, const char *expected, unsigned count) {
        _cleanup_free_ char *f = NULL;
        CPUSet c = {};

        assert_int_equal(cpu_set_parse(s, &c), 0);
        assert_int_equal(cpu_set_count(&c), count);
        assert_int_equal(cpu_set_format(&c, &f), 0);
        assert_string_equal(f, expected);
        cpu_set_done(&c);
}

static void test_cpu_set(void **state) {
        CPUSet c = {}, d = {};
        unsigned n = 0;

        assert_cpus("0", "0", 1);
        assert_cpus("0-3", "0-3", 4);
        assert_cpus("0-3,8,10-11", "0-3,8,10-11", 7);
        assert_cpus("3 1 2", "1-3", 3);
        assert_cpus("1,1,1", "1", 1);
        assert_cpus("63-64", "63-64", 2);
        assert_cpus("200", "200", 1);

        assert_int_equal(cpu_set_parse("", &c), -EINVAL);
        assert_int_equal(cpu_set_parse("a", &c), -EINVAL);
        assert_int_equal(cpu_set_parse("3-1", &c), -EINVAL);
        assert_int_equal(cpu_set_parse("1-", &c), -EINVAL);
        assert_int_equal(cpu_set_parse("-1", &c), -EINVAL);
        assert_int_equal(cpu_set_parse("1;2", &c), -EINVAL);
        assert_int_equal(cpu_set_parse("65536", &c), -EINVAL);

        assert_int_equal(cpu_set_parse("2,4-5", &c), 0);
        assert_true(cpu_set_isset(&c, 2));
        assert_false(cpu_set_isset(&c, 3));
        assert_false(cpu_set_isset(&c, 1000));
        assert_int_equal(cpu_set_max(&c), 5);
        CPU_SET_FOREACH (cpu, &c)
                n += cpu;
        assert_int_equal(n, 2 + 4 + 5);
        assert_int_equal(cpu_set_copy(&c, &d), 0);
        cpu_set_done(&c);
        assert_int_equal(cpu_set_count(&d), 3);
        cpu_set_done(&d);
        assert_int_equal(cpu_set_max(&d), -1);
}

static void assert_pci(const char *s, const char *expected) {
        _cleanup_free_ char *n = NULL;

        if (!expected) {
                assert_int_equal(pci_address_normalize(s, &n), -EINVAL);
                return;
        }
        assert_int_equal(pci_address_normalize(s, &n), 0);
        assert_string_equal(n, expected);
}

static void test_pci(void **state) {
        assert_pci("0000:04:00.0", "0000:04:00.0");
        assert_pci("04:00.1", "0000:04:00.1");
        assert_pci("0000:AF:1f.7", "0000:af:1f.7");
        assert_pci("ffff:ff:1f.7", "ffff:ff:1f.7");
        assert_pci("0000:04:00", NULL);
        assert_pci("0000:04:20.0", NULL); /* device is 5 bits */
        assert_pci("0000:04:00.8", NULL); /* function is 3 bits */
        assert_pci("000:04:00.0", NULL);
        assert_pci("0000:004:00.0", NULL);
        assert_pci("0000:04:00.0 ", NULL);
        assert_pci("0000:0g:00.0", NULL);
        assert_pci("eth0", NULL);
        assert_pci("", NULL);
}

static void test_mac(void **state) {
        uint8_t m[6];

        assert_int_equal(mac_address_parse("52:54:00:12:34:56", m), 0);
        assert_int_equal(m[0], 0x52);
        assert_int_equal(m[5], 0x56);
        assert_int_equal(mac_address_parse("AA:bb:CC:dd:EE:ff", m), 0);
        assert_int_equal(m[1], 0xbb);
        assert_true(mac_address_valid("01:00:5e:00:00:01")); /* valid syntax; multicast is policy */
        assert_false(mac_address_valid("52:54:00:12:34"));
        assert_false(mac_address_valid("52:54:00:12:34:567"));
        assert_false(mac_address_valid("52-54-00-12-34-56"));
        assert_false(mac_address_valid("52:54:00:12:34:5g"));
        assert_false(mac_address_valid("5:54:00:12:34:56:"));
        assert_false(mac_address_valid(""));
}

static void test_cidr(void **state) {
        unsigned plen = 0;
        int family = 0;

        assert_int_equal(cidr_parse("10.0.0.1/24", &family, &plen), 0);
        assert_int_equal(family, AF_INET);
        assert_int_equal(plen, 24);
        assert_int_equal(cidr_parse("fd00::1/64", &family, &plen), 0);
        assert_int_equal(family, AF_INET6);
        assert_int_equal(plen, 64);
        assert_int_equal(cidr_parse("0.0.0.0/0", NULL, NULL), 0);
        assert_int_equal(cidr_parse("::/128", NULL, NULL), 0);
        assert_int_equal(cidr_parse("10.0.0.1", NULL, NULL), -EINVAL);
        assert_int_equal(cidr_parse("10.0.0.1/33", NULL, NULL), -EINVAL);
        assert_int_equal(cidr_parse("fd00::1/129", NULL, NULL), -EINVAL);
        assert_int_equal(cidr_parse("10.0.0.256/24", NULL, NULL), -EINVAL);
        assert_int_equal(cidr_parse("10.0.0.1/", NULL, NULL), -EINVAL);
        assert_int_equal(cidr_parse("10.0.0.1/x", NULL, NULL), -EINVAL);
        assert_int_equal(cidr_parse("host/24", NULL, NULL), -EINVAL);
}

static void test_names(void **state) {
        assert_true(ifname_valid("eth0"));
        assert_true(ifname_valid("mhdemo0"));
        assert_true(ifname_valid("a23456789012345")); /* 15 characters */
        assert_false(ifname_valid("a234567890123456"));
        assert_false(ifname_valid(""));
        assert_false(ifname_valid("."));
        assert_false(ifname_valid(".."));
        assert_false(ifname_valid("a/b"));
        assert_false(ifname_valid("a:b"));
        assert_false(ifname_valid("a b"));

        assert_true(hostname_valid("host1"));
        assert_true(hostname_valid("host-1.example.com"));
        assert_false(hostname_valid(""));
        assert_false(hostname_valid("-host"));
        assert_false(hostname_valid(".host"));
        assert_false(hostname_valid("host..com"));
        assert_false(hostname_valid("host name"));
        assert_false(hostname_valid("host/1"));
        assert_false(hostname_valid("a234567890123456789012345678901234567890123456789012345678901234"));

        assert_true(unit_instance_name_valid("pvp"));
        assert_true(unit_instance_name_valid("job_1.a-b"));
        assert_false(unit_instance_name_valid(""));
        assert_false(unit_instance_name_valid("-job"));
        assert_false(unit_instance_name_valid(".job"));
        assert_false(unit_instance_name_valid("job:guest"));
        assert_false(unit_instance_name_valid("job@x"));
        assert_false(unit_instance_name_valid("job/x"));
        assert_false(unit_instance_name_valid("a b"));
        assert_true(unit_instance_name_valid(
                "a234567890123456789012345678901234567890123456789012345678901234"));
        assert_false(unit_instance_name_valid(
                "a2345678901234567890123456789012345678901234567890123456789012345"));
}

static void assert_unit_name(const char *path, const char *expected) {
        _cleanup_free_ char *u = NULL;

        assert_int_equal(unit_name_from_path(path, ".mount", &u), 0);
        assert_string_equal(u, expected);
}

static void test_paths(void **state) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL;

        /* as "systemd-escape --path --suffix=mount" */
        assert_unit_name("/", "-.mount");
        assert_unit_name("/var/lib/virt_test/images", "var-lib-virt_test-images.mount");
        assert_unit_name("/mnt/my-share", "mnt-my\\x2dshare.mount");
        assert_unit_name("/srv/.hidden", "srv-.hidden.mount");
        assert_unit_name("/.hidden", "\\x2ehidden.mount");
        assert_unit_name("/a b", "a\\x20b.mount");

        assert_true(path_is_normalized_absolute("/"));
        assert_true(path_is_normalized_absolute("/var/lib/x"));
        assert_false(path_is_normalized_absolute("var/lib"));
        assert_false(path_is_normalized_absolute("/var//lib"));
        assert_false(path_is_normalized_absolute("/var/./lib"));
        assert_false(path_is_normalized_absolute("/var/../lib"));
        assert_false(path_is_normalized_absolute("/var/lib/"));
        assert_false(path_is_normalized_absolute("/var/lib/.."));
        assert_false(path_is_normalized_absolute(""));

        a = path_prefix_root(NULL, "/etc/mhtest");
        assert_string_equal(a, "/etc/mhtest");
        b = path_prefix_root("/", "/etc/mhtest");
        assert_string_equal(b, "/etc/mhtest");
        c = path_prefix_root("/tmp/r", "/etc/mhtest");
        assert_string_equal(c, "/tmp/r/etc/mhtest");
        d = path_prefix_root("/tmp/r/", "etc");
        assert_string_equal(d, "/tmp/r/etc");
        assert_string_equal(path_basename("/a/b.conf"), "b.conf");
        assert_string_equal(path_basename("b.conf"), "b.conf");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_boolean), cmocka_unit_test(test_unsigned),
                cmocka_unit_test(test_size),    cmocka_unit_test(test_format_size),
                cmocka_unit_test(test_time),    cmocka_unit_test(test_cpu_set),
                cmocka_unit_test(test_pci),     cmocka_unit_test(test_mac),
                cmocka_unit_test(test_cidr),    cmocka_unit_test(test_names),
                cmocka_unit_test(test_paths),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
