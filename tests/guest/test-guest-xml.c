/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Guest domain XML: built from a job in a temporary --root tree, checked node by node with
 * libxml2's XPath and, where installed, against libvirt's own schema (virt-xml-validate). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include "config.h"
#include "fileio.h"
#include "process-util.h"
#include "string-util.h"
#include "virt-util.h"

static char root[] = "/tmp/mhtest-guest-xml-XXXXXX";

static void write_job(const char *contents) {
        _cleanup_free_ char *p = strjoin(root, "/etc/mhtest/jobs.d/j.conf");
        assert_int_equal(mkdir_parents(p, 0755), 0);
        assert_int_equal(write_file_atomic(p, contents, 0644), 0);
}

static char *build_xml(bool kvm) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(job_config_freep) JobConfig *j = NULL;
        _cleanup_(config_diagnostics_done) ConfigDiagnostics d = {};
        GuestXmlOptions o = { .kvm = kvm, .vhost_user_dir = "/run/mhtest/j" };
        char *xml = NULL;

        assert_int_equal(config_load(root, &c), 0);
        assert_int_equal(config_load_job(c, "j", &j, &d), 0);
        assert_int_equal(d.n_errors, 0);
        assert_int_equal(j->n_guests, 1);
        assert_int_equal(guest_domain_xml("j", j->guests[0], 0, &o, &xml), 0);
        return xml;
}

static char *xpath(xmlDocPtr doc, const char *expr) {
        xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
        xmlXPathObjectPtr r;
        char *s;

        xmlXPathRegisterNs(ctx, BAD_CAST "qemu", BAD_CAST "http://libvirt.org/schemas/domain/qemu/1.0");
        r = xmlXPathEvalExpression(BAD_CAST expr, ctx);
        assert_non_null(r);
        s = (char *) xmlXPathCastToString(r);
        xmlXPathFreeObject(r);
        xmlXPathFreeContext(ctx);
        return s;
}

static void assert_xpath(xmlDocPtr doc, const char *expr, const char *expected) {
        char *s = xpath(doc, expr);
        if (!streq(s, expected))
                fail_msg("%s: got \"%s\", expected \"%s\"", expr, s, expected);
        xmlFree(s);
}

static void validate_with_libvirt(const char *xml) {
        _cleanup_free_ char *p = strjoin(root, "/domain.xml"), *exe = NULL;
        char *argv[] = { (char *) "virt-xml-validate", NULL, (char *) "domain", NULL };

        if (find_executable("virt-xml-validate", &exe) < 0) {
                /* schema check is extra; the XPath checks above are the test. Say it was not done. */
                print_message("note: virt-xml-validate not installed (libvirt-clients), libvirt's schema not checked\n");
                return;
        }
        assert_int_equal(write_file_atomic(p, xml, 0644), 0);
        argv[1] = p;
        assert_int_equal(spawn_wait(argv), 0);
}

static void test_vhost_user_tcg(void **state) {
        _cleanup_free_ char *xml = NULL;
        xmlDocPtr doc;

        write_job("[Testpmd]\nPorts=vhost-user:vh0 vhost-user:vh1\n"
                  "[Guest vm1]\nMemory=512M\nVCPUs=2\nKernel=/srv/images/vmlinuz\nInitrd=/srv/images/initrd.gz\n"
                  "KernelCommandLine=console=ttyS0 quiet\n"
                  "Interfaces=vhost-user:vh0/52:54:00:00:00:01 vhost-user:vh1\nVCPUPinning=2-3\nEmulatorPinning=1\n");
        xml = build_xml(false);
        doc = xmlReadMemory(xml, (int) strlen(xml), "d.xml", NULL, 0);
        assert_non_null(doc);
        assert_xpath(doc, "string(/domain/@type)", "qemu");
        assert_xpath(doc, "string(/domain/name)", "mhtest-j-vm1");
        assert_xpath(doc, "string(/domain/memory)", "524288");
        assert_xpath(doc, "string(/domain/vcpu)", "2");
        assert_xpath(doc, "string(/domain/memoryBacking/source/@type)", "memfd");
        assert_xpath(doc, "string(/domain/memoryBacking/access/@mode)", "shared");
        assert_xpath(doc, "string(/domain/cpu/numa/cell/@memAccess)", "shared");
        assert_xpath(doc, "string(/domain/os/kernel)", "/srv/images/vmlinuz");
        assert_xpath(doc, "string(/domain/os/cmdline)", "console=ttyS0 quiet");
        assert_xpath(doc, "count(/domain/devices/interface[@type='vhostuser'])", "2");
        assert_xpath(doc, "string(/domain/devices/interface[1]/source/@path)", "/run/mhtest/j/vh0.sock");
        assert_xpath(doc, "string(/domain/devices/interface[1]/mac/@address)", "52:54:00:00:00:01");
        assert_xpath(doc, "string(/domain/cputune/vcpupin[@vcpu='1']/@cpuset)", "3");
        assert_xpath(doc, "string(/domain/cputune/emulatorpin/@cpuset)", "1");
        /* TCG: no MSI-X vectors on vhost-user NICs (QEMU 7.2 crash, TESTBED.md) */
        assert_xpath(doc, "count(/domain/qemu:override/qemu:device)", "2");
        assert_xpath(doc, "string(/domain/qemu:override/qemu:device[2]/@alias)", "ua-net1");
        assert_xpath(doc, "string(/domain/devices/serial/source/@path)",
                     "/var/log/libvirt/qemu/mhtest-j-vm1-serial.log");
        xmlFreeDoc(doc);
        validate_with_libvirt(xml);
}

static void test_image_bridge_kvm(void **state) {
        _cleanup_free_ char *xml = NULL;
        xmlDocPtr doc;

        write_job("[Bridge br0]\n[HugePages]\nPages=2M:512\n"
                  "[Guest vm1]\nImage=/var/lib/images/a.qcow2\nInterfaces=bridge:br0 management\nHugePages=yes\n"
                  "CPUModel=host-passthrough\n");
        xml = build_xml(true);
        doc = xmlReadMemory(xml, (int) strlen(xml), "d.xml", NULL, 0);
        assert_non_null(doc);
        assert_xpath(doc, "string(/domain/@type)", "kvm");
        assert_xpath(doc, "string(/domain/devices/disk/driver/@type)", "qcow2");
        assert_xpath(doc, "string(/domain/devices/interface[@type='bridge']/source/@bridge)", "br0");
        assert_xpath(doc, "string(/domain/devices/interface[@type='network']/source/@network)", "default");
        assert_xpath(doc, "count(/domain/memoryBacking/hugepages)", "1");
        assert_xpath(doc, "string(/domain/cpu/@mode)", "host-passthrough");
        assert_xpath(doc, "count(/domain/qemu:override)", "0");
        xmlFreeDoc(doc);
        validate_with_libvirt(xml);
}

static int setup(void **state) {
        return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state) {
        return rm_rf(root);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_vhost_user_tcg),
                cmocka_unit_test(test_image_bridge_kvm),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
