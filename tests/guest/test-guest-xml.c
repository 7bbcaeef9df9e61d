/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Guest domain XML: built from jobs in a temporary --root tree, read back node by node with
 * libxml2's XPath, and every document checked against libvirt's own schema with
 * virt-xml-validate (tools/install-deps.sh installs it: its absence fails the test). Host
 * facts come from the tree (/proc/cpuinfo, /run/mhtest) and from synthetic hwloc topologies;
 * the CLI (mhtest guest --print-xml) is run on the same trees for the refusals. */
#include <fcntl.h>
#include <unistd.h>
/* cmocka needs these before its header */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "config.h"
#include "cpu-topology.h"
#include "fileio.h"
#include "guest-image.h"
#include "guest-placement.h"
#include "process-util.h"
#include "string-util.h"
#include "strv.h"
#include "virt-util.h"

static char root[] = "/tmp/mhtest-guest-xml-XXXXXX";
static unsigned n_validated;

static void write_root_file(const char *rel, const char *contents) {
        _cleanup_free_ char *p = strjoin(root, rel);
        assert_non_null(p);
        assert_int_equal(mkdir_parents(p, 0755), 0);
        assert_int_equal(write_file_atomic(p, contents, 0644), 0);
}

static int remove_below(const char *rel) {
        _cleanup_free_ char *p = strjoin(root, rel);
        assert_non_null(p);
        return rm_rf(p);
}

typedef struct Loaded {
        Config *c;
        JobConfig *j;
} Loaded;

static void loaded_done(Loaded *l) {
        job_config_free(l->j);
        config_free(l->c);
}

/* Job "j" on host h1, which must validate. */
static Loaded load(const char *job) {
        _cleanup_(config_diagnostics_done) ConfigDiagnostics d = {};
        Loaded l = {};

        write_root_file("/etc/mhtest/mhtest.conf", "[Host]\nName=h1\n");
        write_root_file("/etc/mhtest/jobs.d/j.conf", job);
        assert_int_equal(config_load(root, &l.c), 0);
        assert_int_equal(config_load_job(l.c, "j", &l.j, &d), 0);
        for (size_t i = 0; i < d.n_errors; i++) {
                _cleanup_free_ char *m = NULL;
                assert_int_equal(config_error_format(&d.errors[i], &m), 0);
                print_message("unexpected: %s\n", m);
        }
        assert_int_equal(d.n_errors + l.c->diagnostics.n_errors, 0);
        return l;
}

/* The errors of job "j", each formatted as "FILE:LINE: [Section] Key=: message", joined by
 * newlines; NULL when it loads without any. */
static char *load_errors(const char *job) {
        _cleanup_(config_diagnostics_done) ConfigDiagnostics d = {};
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(job_config_freep) JobConfig *j = NULL;
        char *all = NULL;

        write_root_file("/etc/mhtest/mhtest.conf", "[Host]\nName=h1\n");
        write_root_file("/etc/mhtest/jobs.d/j.conf", job);
        assert_int_equal(config_load(root, &c), 0);
        (void) config_load_job(c, "j", &j, &d);
        for (size_t i = 0; i < d.n_errors; i++) {
                _cleanup_free_ char *m = NULL, *prev = all;
                assert_int_equal(config_error_format(&d.errors[i], &m), 0);
                all = prev ? strjoin(prev, "\n", m) : strdup(m);
                assert_non_null(all);
        }
        return all;
}

static const GuestSection *guest(const JobConfig *j, const char *name) {
        for (size_t i = 0; i < j->n_guests; i++)
                if (streq(j->guests[i]->section.name, name))
                        return j->guests[i];
        fail_msg("no [Guest %s]", name);
        return NULL;
}

static void validate_with_libvirt(const char *xml) {
        _cleanup_free_ char *p = strjoin(root, "/domain.xml"), *exe = NULL;
        char *argv[] = { (char *) "virt-xml-validate", NULL, (char *) "domain", NULL };

        if (find_executable("virt-xml-validate", &exe) < 0)
                fail_msg(
                        "virt-xml-validate is missing (package libvirt-clients, see tools/install-deps.sh)");
        assert_int_equal(write_file_atomic(p, xml, 0644), 0);
        argv[1] = p;
        if (spawn_wait(argv) != 0)
                fail_msg("virt-xml-validate refuses:\n%s", xml);
        n_validated++;
}

/* Parse and schema-check one produced document. */
static xmlDocPtr check_xml(const char *xml) {
        xmlDocPtr doc = xmlReadMemory(xml, (int) strlen(xml), "d.xml", NULL, XML_PARSE_NONET);

        assert_non_null(doc);
        validate_with_libvirt(xml);
        return doc;
}

static xmlDocPtr build(const Loaded *l, const char *name, const GuestXmlOptions *o) {
        _cleanup_free_ char *xml = NULL;

        assert_int_equal(guest_domain_xml(l->j, guest(l->j, name), 0, o, &xml), 0);
        return check_xml(xml);
}

static char *xpath(xmlDocPtr doc, const char *expr) {
        xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
        xmlXPathObjectPtr r;
        char *s;

        assert_non_null(ctx);
        xmlXPathRegisterNs(ctx, BAD_CAST "qemu", BAD_CAST "http://libvirt.org/schemas/domain/qemu/1.0");
        xmlXPathRegisterNs(ctx, BAD_CAST "mhtest", BAD_CAST "https://mhtest.example/guest/1");
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

static const GuestXmlOptions tcg = { .kvm = false, .vhost_user_dir = "/run/mhtest/j" };
static const GuestXmlOptions kvm = { .kvm = true, .vhost_user_dir = "/run/mhtest/j" };

static void test_vhost_user_tcg(void **state) {
        _cleanup_(loaded_done) Loaded l = load(
                "[Testpmd]\nPorts=vhost-user:vh0 vhost-user:vh1\n"
                "[Guest vm1]\nMemory=512M\nVCPUs=2\nKernel=/srv/images/vmlinuz\nInitrd=/srv/images/initrd.gz\n"
                "KernelCommandLine=console=ttyS0 quiet\nRole=main_vm\n"
                "Interfaces=vhost-user:vh0/52:54:00:00:00:01 management vhost-user:vh1\nVCPUPinning=2-3\n"
                "EmulatorPinning=1\n");
        xmlDocPtr doc = build(&l, "vm1", &tcg);

        assert_xpath(doc, "string(/domain/@type)", "qemu");
        assert_xpath(doc, "string(/domain/name)", "mhtest-j-vm1");
        assert_xpath(doc, "string(/domain/metadata/mhtest:guest/@job)", "j");
        assert_xpath(doc, "string(/domain/metadata/mhtest:guest/@role)", "main_vm");
        assert_xpath(doc, "string(/domain/memory)", "524288");
        assert_xpath(doc, "string(/domain/vcpu)", "2");
        /* vhost-user: guest RAM shared with testpmd through a memfd */
        assert_xpath(doc, "string(/domain/memoryBacking/source/@type)", "memfd");
        assert_xpath(doc, "string(/domain/memoryBacking/access/@mode)", "shared");
        assert_xpath(doc, "count(/domain/memoryBacking/hugepages)", "0");
        assert_xpath(doc, "string(/domain/cpu/numa/cell/@memAccess)", "shared");
        assert_xpath(doc, "string(/domain/cpu/numa/cell/@cpus)", "0-1");
        assert_xpath(doc, "string(/domain/os/kernel)", "/srv/images/vmlinuz");
        assert_xpath(doc, "string(/domain/os/initrd)", "/srv/images/initrd.gz");
        assert_xpath(doc, "string(/domain/os/cmdline)", "console=ttyS0 quiet");
        assert_xpath(doc, "count(/domain/os/boot)", "0");
        assert_xpath(doc, "count(/domain/devices/disk)", "0");
        assert_xpath(doc, "count(/domain/devices/interface[@type='vhostuser'])", "2");
        assert_xpath(doc, "string(/domain/devices/interface[1]/source/@path)", "/run/mhtest/j/vh0.sock");
        assert_xpath(doc, "string(/domain/devices/interface[1]/mac/@address)", "52:54:00:00:00:01");
        /* testpmd is the server (VhostUserMode= default): the guest connects and reconnects */
        assert_xpath(doc, "string(/domain/devices/interface[1]/source/@mode)", "client");
        assert_xpath(doc, "string(/domain/devices/interface[1]/source/reconnect/@enabled)", "yes");
        assert_xpath(doc, "string(/domain/devices/interface[2]/source/@network)", "default");
        assert_xpath(doc, "string(/domain/devices/interface[3]/alias/@name)", "ua-net2");
        assert_xpath(doc, "string(/domain/cputune/vcpupin[@vcpu='0']/@cpuset)", "2");
        assert_xpath(doc, "string(/domain/cputune/vcpupin[@vcpu='1']/@cpuset)", "3");
        assert_xpath(doc, "string(/domain/cputune/emulatorpin/@cpuset)", "1");
        /* TCG: no MSI-X vectors on the vhost-user NICs (QEMU 7.2 crash, TESTBED.md), not others */
        assert_xpath(doc, "count(/domain/qemu:override/qemu:device)", "2");
        assert_xpath(doc, "string(/domain/qemu:override/qemu:device[1]/@alias)", "ua-net0");
        assert_xpath(doc, "string(/domain/qemu:override/qemu:device[2]/@alias)", "ua-net2");
        assert_xpath(doc,
                     "string(/domain/qemu:override/qemu:device[2]/qemu:frontend/qemu:property"
                     "[@name='vectors']/@value)",
                     "0");
        /* a pty console, logged to the file the ready marker is read from, fresh at each start */
        assert_xpath(doc, "string(/domain/devices/serial/@type)", "pty");
        assert_xpath(doc, "string(/domain/devices/serial/log/@file)",
                     "/var/log/libvirt/qemu/mhtest-j-vm1-serial.log");
        assert_xpath(doc, "string(/domain/devices/serial/log/@append)", "off");
        assert_xpath(doc, "string(/domain/devices/console/target/@type)", "serial");
        assert_xpath(doc, "string(/domain/devices/channel[@type='unix']/target[@type='virtio']/@name)",
                     "org.qemu.guest_agent.0");
        assert_xpath(doc, "count(/domain/features/acpi)", "1");
        xmlFreeDoc(doc);
}

static void test_vhost_user_server_kvm(void **state) {
        /* testpmd as the client: the domain must listen, or nobody does */
        _cleanup_(loaded_done) Loaded l =
                load("[Testpmd]\nPorts=vhost-user:vh0\nVhostUserMode=client\n"
                     "[Guest vm1]\nImage=/srv/vm1.qcow2\nInterfaces=vhost-user:vh0\n");
        xmlDocPtr doc = build(&l, "vm1", &kvm);

        assert_xpath(doc, "string(/domain/@type)", "kvm");
        assert_xpath(doc, "string(/domain/devices/interface/source/@mode)", "server");
        assert_xpath(doc, "count(/domain/devices/interface/source/reconnect)", "0");
        assert_xpath(doc, "string(/domain/memoryBacking/source/@type)", "memfd");
        /* KVM has irqfds: MSI-X stays */
        assert_xpath(doc, "count(/domain/qemu:override)", "0");
        xmlFreeDoc(doc);
}

/* The cloud-init seed as a read-only cdrom on the machine's controller, optional (dropped where
 * the file is missing, as on a migration's destination); management interfaces on
 * ManagementNetwork= with their MAC. */
static void test_seed_and_management(void **state) {
        _cleanup_(loaded_done) Loaded l = load(
                "[Guest vm1]\nImage=/srv/debian.raw\nKernel=/srv/vmlinuz\n"
                "Interfaces=management/52:54:00:00:00:10\nManagementNetwork=mgmt\n"
                "ManagementAddress=192.168.200.10/24\nSSHForward=2222\n"
                "[Guest vm2]\nMachine=q35\nKernel=/srv/vmlinuz\nInterfaces=management\n");
        GuestXmlOptions o = tcg;
        xmlDocPtr doc;

        o.seed = "/var/lib/mhtest/seed/mhtest-j-vm1.iso";
        o.management_network = "mgmt";
        doc = build(&l, "vm1", &o);
        assert_xpath(doc, "count(/domain/devices/disk)", "2");
        assert_xpath(doc, "string(/domain/devices/disk[@device='cdrom']/source/@file)",
                     "/var/lib/mhtest/seed/mhtest-j-vm1.iso");
        assert_xpath(doc, "string(/domain/devices/disk[@device='cdrom']/source/@startupPolicy)", "optional");
        assert_xpath(doc, "string(/domain/devices/disk[@device='cdrom']/target/@bus)", "ide");
        assert_xpath(doc, "count(/domain/devices/disk[@device='cdrom']/readonly)", "1");
        assert_xpath(doc, "string(/domain/devices/disk[@device='disk']/target/@dev)", "vda");
        assert_xpath(doc, "string(/domain/devices/interface/source/@network)", "mgmt");
        assert_xpath(doc, "string(/domain/devices/interface/mac/@address)", "52:54:00:00:00:10");
        xmlFreeDoc(doc);

        o.seed = "/var/lib/mhtest/seed/mhtest-j-vm2.iso";
        o.management_network = NULL;
        doc = build(&l, "vm2", &o);
        assert_xpath(doc, "string(/domain/devices/disk[@device='cdrom']/target/@bus)", "sata");
        assert_xpath(doc, "string(/domain/devices/disk[@device='cdrom']/target/@dev)", "sda");
        assert_xpath(doc, "string(/domain/devices/interface/source/@network)", "default");
        xmlFreeDoc(doc);

        /* no seed: no cdrom */
        doc = build(&l, "vm2", &tcg);
        assert_xpath(doc, "count(/domain/devices/disk)", "0");
        xmlFreeDoc(doc);
}

static void test_disks_with_kernel(void **state) {
        _cleanup_(loaded_done) Loaded l = load(
                "[Guest vm1]\nImage=/srv/root.qcow2\nDisks=/srv/data.raw /srv/scratch.qcow2\nKernel=/srv/vmlinuz\n"
                "Initrd=/srv/initrd\nKernelCommandLine=root=/dev/vda console=ttyS0\n"
                "[Guest vm2]\nDisks=/srv/only.img\nKernel=/srv/vmlinuz\n");
        GuestXmlOptions overlay = tcg;
        xmlDocPtr doc = build(&l, "vm1", &tcg);

        assert_xpath(doc, "count(/domain/devices/disk)", "3");
        assert_xpath(doc, "string(/domain/devices/disk[1]/source/@file)", "/srv/root.qcow2");
        assert_xpath(doc, "string(/domain/devices/disk[1]/target/@dev)", "vda");
        assert_xpath(doc, "string(/domain/devices/disk[1]/driver/@type)", "qcow2");
        assert_xpath(doc, "string(/domain/devices/disk[2]/source/@file)", "/srv/data.raw");
        assert_xpath(doc, "string(/domain/devices/disk[2]/target/@dev)", "vdb");
        assert_xpath(doc, "string(/domain/devices/disk[2]/driver/@type)", "raw");
        assert_xpath(doc, "string(/domain/devices/disk[3]/target/@dev)", "vdc");
        assert_xpath(doc, "string(/domain/devices/disk[3]/driver/@type)", "qcow2");
        /* the kernel boots directly, the disks are there for its root= */
        assert_xpath(doc, "string(/domain/os/kernel)", "/srv/vmlinuz");
        assert_xpath(doc, "string(/domain/os/cmdline)", "root=/dev/vda console=ttyS0");
        assert_xpath(doc, "count(/domain/os/boot)", "0");
        xmlFreeDoc(doc);

        /* the hook for a run's overlay: the attached file replaces Image=, other disks stay */
        overlay.image = "/var/lib/mhtest/j/vm1.overlay.qcow2";
        doc = build(&l, "vm1", &overlay);
        assert_xpath(doc, "string(/domain/devices/disk[1]/source/@file)",
                     "/var/lib/mhtest/j/vm1.overlay.qcow2");
        assert_xpath(doc, "count(/domain/devices/disk[source/@file='/srv/root.qcow2'])", "0");
        assert_xpath(doc, "string(/domain/devices/disk[2]/source/@file)", "/srv/data.raw");
        xmlFreeDoc(doc);

        /* every disk on its overlay (guest-image.h): qcow2 whatever the base, host-cached */
        char *disk_overlays[] = { (char *) "/var/lib/mhtest/guests/j/vm1/vdb.qcow2",
                                  (char *) "/var/lib/mhtest/guests/j/vm1/vdc.qcow2", NULL };
        overlay.image = "/var/lib/mhtest/guests/j/vm1/vda.qcow2";
        overlay.disks = disk_overlays;
        doc = build(&l, "vm1", &overlay);
        assert_xpath(doc, "count(/domain/devices/disk[starts-with(source/@file, '/srv/')])", "0");
        assert_xpath(doc, "string(/domain/devices/disk[2]/source/@file)", "/var/lib/mhtest/guests/j/vm1/vdb.qcow2");
        assert_xpath(doc, "string(/domain/devices/disk[2]/target/@dev)", "vdb");
        assert_xpath(doc, "count(/domain/devices/disk[driver/@type='qcow2' and driver/@cache='writeback'])", "3");
        xmlFreeDoc(doc);
        /* as many overlays as Disks=, or none */
        disk_overlays[1] = NULL;
        _cleanup_free_ char *bad = NULL;
        assert_int_equal(guest_domain_xml(l.j, guest(l.j, "vm1"), 0, &overlay, &bad), -EINVAL);

        doc = build(&l, "vm2", &tcg);
        assert_xpath(doc, "count(/domain/devices/disk)", "1");
        assert_xpath(doc, "string(/domain/devices/disk/target/@dev)", "vda");
        xmlFreeDoc(doc);

        /* the targets a migration copies (VIR_MIGRATE_PARAM_MIGRATE_DISKS) are the XML's */
        _cleanup_strv_free_ char **t1 = NULL, **t2 = NULL, **t3 = NULL;
        assert_int_equal(guest_disk_targets(guest(l.j, "vm1"), &t1), 0);
        assert_int_equal(strv_length(t1), 3);
        assert_string_equal(t1[0], "vda");
        assert_string_equal(t1[1], "vdb");
        assert_string_equal(t1[2], "vdc");
        assert_int_equal(guest_disk_targets(guest(l.j, "vm2"), &t2), 0);
        assert_int_equal(strv_length(t2), 1);
        assert_string_equal(t2[0], "vda");
        _cleanup_(loaded_done) Loaded k = load("[Guest vm3]\nKernel=/srv/vmlinuz\n");
        assert_int_equal(guest_disk_targets(guest(k.j, "vm3"), &t3), 0);
        assert_null(t3);
}

/* What adoption compares: the metadata a domain is created with, parsed back. */
static void test_metadata(void **state) {
        _cleanup_(loaded_done) Loaded l = load("[Guest vm1]\nKernel=/srv/vmlinuz\nRole=main_vm\n");
        _cleanup_(guest_metadata_done) GuestMetadata m = {};
        _cleanup_free_ char *to = NULL, *mig = NULL;
        GuestXmlOptions o = tcg;
        xmlDocPtr doc;
        xmlNodePtr n;
        xmlBufferPtr buf = xmlBufferCreate();

        o.config_hash = "0123abcd";
        doc = build(&l, "vm1", &o);
        assert_xpath(doc, "string(/domain/metadata/mhtest:guest/@instance)", "1");
        assert_xpath(doc, "string(/domain/metadata/mhtest:guest/@config)", "0123abcd");
        /* the element alone, as virDomainGetMetadata returns it */
        for (n = xmlDocGetRootElement(doc)->children; n && !xmlStrEqual(n->name, BAD_CAST "metadata"); n = n->next)
                ;
        assert_non_null(n);
        n = xmlFirstElementChild(n);
        assert_true(xmlNodeDump(buf, doc, n, 0, 0) > 0);
        assert_int_equal(guest_metadata_parse((const char *) xmlBufferContent(buf), &m), 0);
        assert_string_equal(m.job, "j");
        assert_string_equal(m.guest, "vm1");
        assert_int_equal(m.instance, 1);
        assert_string_equal(m.config_hash, "0123abcd");
        xmlBufferFree(buf);
        xmlFreeDoc(doc);

        /* as libvirt returns it: selected by namespace, given back without */
        guest_metadata_done(&m);
        assert_int_equal(guest_metadata_parse("<guest job=\"gs\" name=\"g1\" instance=\"1\" config=\"abc\"/>", &m), 0);
        assert_string_equal(m.job, "gs");
        assert_string_equal(m.config_hash, "abc");
        guest_metadata_done(&m);
        /* foreign or broken metadata is no match */
        assert_int_equal(guest_metadata_parse("<x:guest xmlns:x='https://example.com/other' job='j' name='vm1' "
                                              "instance='1'/>", &m), -EBADMSG);
        assert_int_equal(guest_metadata_parse("<x:guest xmlns:x='" GUEST_METADATA_NS "' job='j' name='vm1'/>", &m),
                         -EBADMSG);
        assert_int_equal(guest_metadata_parse("<x:guest xmlns:x='" GUEST_METADATA_NS "' job='j' name='vm1' "
                                              "instance='0'/>", &m), -EBADMSG);
        assert_int_equal(guest_metadata_parse("not xml", &m), -EBADMSG);
        assert_int_equal(guest_metadata_parse(NULL, &m), -EBADMSG);

        /* the coordinator's destination record, as libvirt gives it back (with its namespace) */
        assert_int_equal(guest_migration_xml("h2&co", &mig), 0);
        assert_null(strstr(mig, "h2&co"));
        assert_int_equal(guest_migration_parse("<m:migration xmlns:m='" GUEST_MIGRATION_NS "' to='h2&amp;co'/>", &to), 0);
        assert_string_equal(to, "h2&co");
        free(to);
        to = NULL;
        assert_int_equal(guest_migration_parse("<migration to=\"h2\"/>", &to), 0);
        assert_string_equal(to, "h2");
}

static void test_image_boot_bridge(void **state) {
        _cleanup_(loaded_done) Loaded l =
                load("[Bridge br0]\n"
                     "[Guest vm1]\nImage=/var/lib/images/a.img\nCPUModel=host-passthrough\n"
                     "Interfaces=bridge:br0 network:lab-net/52:54:00:aa:bb:cc user\n");
        xmlDocPtr doc = build(&l, "vm1", &kvm);

        assert_xpath(doc, "string(/domain/os/boot/@dev)", "hd");
        assert_xpath(doc, "count(/domain/os/kernel)", "0");
        assert_xpath(doc, "string(/domain/devices/disk/driver/@type)", "raw");
        assert_xpath(doc, "string(/domain/devices/interface[@type='bridge']/source/@bridge)", "br0");
        assert_xpath(doc, "string(/domain/devices/interface[@type='network']/source/@network)", "lab-net");
        assert_xpath(doc, "string(/domain/devices/interface[@type='network']/mac/@address)",
                     "52:54:00:aa:bb:cc");
        assert_xpath(doc, "count(/domain/devices/interface[@type='user'])", "1");
        assert_xpath(doc, "string(/domain/cpu/@mode)", "host-passthrough");
        /* no vhost-user, no hugepages: private anonymous memory */
        assert_xpath(doc, "count(/domain/memoryBacking)", "0");
        assert_xpath(doc, "count(/domain/cpu/numa)", "0");
        assert_xpath(doc, "count(/domain/cputune)", "0");
        xmlFreeDoc(doc);
}

static void test_hugepages(void **state) {
        _cleanup_(loaded_done) Loaded l =
                load("[Testpmd]\nPorts=vhost-user:vh0\n"
                     "[HugePages]\nPages=2M:512 1G:4@1\n"
                     "[Guest big]\nKernel=/k\nMemory=2G\nHugePages=yes\nInterfaces=vhost-user:vh0\n"
                     "[Guest small]\nKernel=/k\nMemory=256M\nHugePages=yes\nHugePageSize=2M\n");
        xmlDocPtr doc = build(&l, "big", &tcg);

        /* the largest size of Pages=, on the one node its item names */
        assert_xpath(doc, "string(/domain/memoryBacking/hugepages/page/@size)", "1048576");
        assert_xpath(doc, "string(/domain/memoryBacking/hugepages/page/@unit)", "KiB");
        assert_xpath(doc, "string(/domain/memoryBacking/source/@type)", "memfd");
        assert_xpath(doc, "string(/domain/memoryBacking/access/@mode)", "shared");
        assert_xpath(doc, "string(/domain/numatune/memory/@nodeset)", "1");
        assert_xpath(doc, "string(/domain/numatune/memory/@mode)", "strict");
        xmlFreeDoc(doc);

        doc = build(&l, "small", &tcg);
        assert_xpath(doc, "string(/domain/memoryBacking/hugepages/page/@size)", "2048");
        /* 2M pages on every node: no binding; no vhost-user: nothing to share */
        assert_xpath(doc, "count(/domain/numatune)", "0");
        assert_xpath(doc, "count(/domain/memoryBacking/access)", "0");
        assert_xpath(doc, "count(/domain/cpu/numa)", "0");
        xmlFreeDoc(doc);
}

static void test_hugepages_mount_page_size(void **state) {
        _cleanup_(loaded_done) Loaded l = load("[HugePages]\nPages=2M:1GiB@0 1G:2\nMountPageSize=2M\n"
                                               "[Guest vm1]\nKernel=/k\nMemory=1G\nHugePages=yes\n");
        xmlDocPtr doc = build(&l, "vm1", &kvm);

        assert_xpath(doc, "string(/domain/memoryBacking/hugepages/page/@size)", "2048");
        assert_xpath(doc, "string(/domain/numatune/memory/@nodeset)", "0");
        xmlFreeDoc(doc);
}

static void test_nested(void **state) {
        _cleanup_(loaded_done) Loaded l = load("[Guest l1]\nKernel=/k\nNestedVirtualization=yes\n"
                                               "[Guest plain]\nKernel=/k\n");
        _cleanup_(guest_placement_done) GuestPlacement tcg_p = {}, intel = {}, amd = {}, plain = {};
        GuestXmlOptions o = tcg;
        const char *f = NULL;
        xmlDocPtr doc;

        /* TCG emulates svm whatever the host is */
        write_root_file("/proc/cpuinfo",
                        "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vmx sse4_2\n");
        assert_int_equal(guest_placement(root, NULL, l.c, l.j, guest(l.j, "l1"), 0, false, &tcg_p), 0);
        assert_string_equal(tcg_p.nested_feature, "svm");
        o.nested_feature = tcg_p.nested_feature;
        doc = build(&l, "l1", &o);
        assert_xpath(doc, "string(/domain/cpu/feature/@name)", "svm");
        assert_xpath(doc, "string(/domain/cpu/feature/@policy)", "require");
        assert_xpath(doc, "string(/domain/cpu/model)", "qemu64");
        xmlFreeDoc(doc);

        /* KVM: the host's own extension */
        assert_int_equal(guest_placement(root, NULL, l.c, l.j, guest(l.j, "l1"), 0, true, &intel), 0);
        assert_string_equal(intel.nested_feature, "vmx");
        o = kvm;
        o.nested_feature = intel.nested_feature;
        doc = build(&l, "l1", &o);
        assert_xpath(doc, "string(/domain/cpu/feature[@policy='require']/@name)", "vmx");
        xmlFreeDoc(doc);

        write_root_file("/proc/cpuinfo",
                        "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu svm npt\n");
        assert_int_equal(guest_placement(root, NULL, l.c, l.j, guest(l.j, "l1"), 0, true, &amd), 0);
        assert_string_equal(amd.nested_feature, "svm");

        /* a PVM host: KVM but neither extension to pass on */
        write_root_file("/proc/cpuinfo",
                        "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu hypervisor\n");
        assert_int_equal(guest_nested_feature(root, true, &f), -EOPNOTSUPP);
        assert_int_equal(guest_nested_feature(root, false, &f), 0);
        assert_string_equal(f, "svm");

        /* no NestedVirtualization=: no feature, whatever the CPU */
        assert_int_equal(guest_placement(root, NULL, l.c, l.j, guest(l.j, "plain"), 0, true, &plain), 0);
        assert_null(plain.nested_feature);
        doc = build(&l, "plain", &kvm);
        assert_xpath(doc, "count(/domain/cpu/feature)", "0");
        xmlFreeDoc(doc);
}

/* Resolve g's placement on a synthetic topology and build its XML. */
static xmlDocPtr build_placed(const Loaded *l, CpuTopology *t, const char *name, GuestPlacement *p) {
        GuestXmlOptions o = tcg;

        assert_int_equal(guest_placement(root, t, l->c, l->j, guest(l->j, name), 0, false, p), 0);
        o.vcpus = &p->vcpus;
        o.emulator = &p->emulator;
        return build(l, name, &o);
}

static void test_pinning_auto(void **state) {
        /* 2 nodes x 4 cores x 2 threads: CPUs 0-7 on node 0 (core 0 = CPUs 0,1), 8-15 on node 1 */
        _cleanup_(cpu_topology_freep) CpuTopology *t = NULL;
        _cleanup_(loaded_done) Loaded l = load(
                "[Testpmd]\nPorts=vhost-user:vh0\nForwardCores=2\n"
                "[Guest a]\nKernel=/k\nVCPUs=2\nVCPUPinning=auto\nEmulatorPinning=auto\nInterfaces=vhost-user:vh0\n"
                "[Guest b]\nKernel=/k\nVCPUs=2\nVCPUPinning=auto\n"
                "[Guest c]\nKernel=/k\nVCPUs=1\nVCPUPinning=12\nEmulatorPinning=auto\n");
        _cleanup_(guest_placement_done) GuestPlacement a = {}, b = {}, c = {}, again = {};
        _cleanup_(cpu_set_done) CPUSet fwd = {};
        _cleanup_free_ char *s = NULL;
        xmlDocPtr doc;

        assert_int_equal(cpu_topology_load_synthetic("numa:2 core:4 pu:2", &t), 0);
        /* testpmd, not started yet, will take the first whole cores off CPU 0's: 2 and 3 */
        assert_int_equal(guest_testpmd_cpus(root, t, l.j, &fwd), 0);
        assert_int_equal(cpu_set_format(&fwd, &s), 0);
        assert_string_equal(s, "2-3");

        doc = build_placed(&l, t, "a", &a);
        assert_xpath(doc, "string(/domain/cputune/vcpupin[@vcpu='0']/@cpuset)", "4");
        assert_xpath(doc, "string(/domain/cputune/vcpupin[@vcpu='1']/@cpuset)", "5");
        /* emulator threads on the housekeeping core */
        assert_xpath(doc, "string(/domain/cputune/emulatorpin/@cpuset)", "0-1");
        assert_false(a.housekeeping);
        xmlFreeDoc(doc);

        /* b is placed after a, off a's vCPUs; no EmulatorPinning=: none */
        doc = build_placed(&l, t, "b", &b);
        assert_xpath(doc, "string(/domain/cputune/vcpupin[@vcpu='0']/@cpuset)", "6");
        assert_xpath(doc, "string(/domain/cputune/vcpupin[@vcpu='1']/@cpuset)", "7");
        assert_xpath(doc, "count(/domain/cputune/emulatorpin)", "0");
        xmlFreeDoc(doc);

        /* c: its own vCPU by hand, the emulator automatic */
        doc = build_placed(&l, t, "c", &c);
        assert_xpath(doc, "string(/domain/cputune/vcpupin[@vcpu='0']/@cpuset)", "12");
        assert_xpath(doc, "string(/domain/cputune/emulatorpin/@cpuset)", "0-1");
        xmlFreeDoc(doc);

        /* asked again, a gets the same CPUs */
        assert_int_equal(guest_placement(root, t, l.c, l.j, guest(l.j, "a"), 0, false, &again), 0);
        assert_true(cpu_set_isset(&again.vcpus, 4) && cpu_set_isset(&again.vcpus, 5));
        assert_int_equal(cpu_set_count(&again.vcpus), 2);
}

static void test_pinning_auto_running_testpmd(void **state) {
        _cleanup_(cpu_topology_freep) CpuTopology *t = NULL;
        _cleanup_(loaded_done) Loaded l = load("[Testpmd]\nPorts=null:n0\n"
                                               "[Guest a]\nKernel=/k\nVCPUs=2\nVCPUPinning=auto\n");
        _cleanup_(guest_placement_done) GuestPlacement a = {};
        _cleanup_free_ char *status = NULL;
        xmlDocPtr doc;

        assert_int_equal(cpu_topology_load_synthetic("numa:2 core:4 pu:2", &t), 0);
        /* a running supervisor recorded CPU 4 (and another job's CPU 7): those are the truth;
         * the siblings 5 and 6 stay free of vCPUs too */
        assert_true(asprintf_safe(&status, "{\"pid\": %d, \"forward_cores\": \"4\"}", (int) getpid()) > 0);
        write_root_file("/run/mhtest/j/testpmd.json", status);
        free(status);
        assert_true(asprintf_safe(&status, "{\"pid\": %d, \"forward_cores\": \"7\"}", (int) getpid()) > 0);
        write_root_file("/run/mhtest/other/testpmd.json", status);
        doc = build_placed(&l, t, "a", &a);
        assert_xpath(doc, "string(/domain/cputune/vcpupin[@vcpu='0']/@cpuset)", "2");
        assert_xpath(doc, "string(/domain/cputune/vcpupin[@vcpu='1']/@cpuset)", "3");
        xmlFreeDoc(doc);
        assert_int_equal(remove_below("/run/mhtest"), 0);
}

static void test_pinning_auto_numa_isolcpus(void **state) {
        _cleanup_(cpu_topology_freep) CpuTopology *t = NULL;
        _cleanup_(loaded_done) Loaded l = load(
                "[HugePages]\nPages=2M:512@1\n"
                "[Testpmd]\nPorts=null:n0\nCores=0,2,9\n"
                "[Guest a]\nKernel=/k\nVCPUs=3\nHugePages=yes\nVCPUPinning=auto\nEmulatorPinning=auto\n");
        _cleanup_(guest_placement_done) GuestPlacement a = {};
        xmlDocPtr doc;

        assert_int_equal(cpu_topology_load_synthetic("numa:2 core:4 pu:2", &t), 0);
        /* Cores= by hand: 0 is the main lcore, 2 and 9 forward (cores 2-3 and 8-9 stay off); the
         * hugepages are on node 1: vCPUs there first; isolcpus= makes 0-7 housekeeping */
        write_root_file("/sys/devices/system/cpu/isolated", "8-15\n");
        doc = build_placed(&l, t, "a", &a);
        assert_xpath(doc, "string(/domain/cputune/vcpupin[@vcpu='0']/@cpuset)", "10");
        assert_xpath(doc, "string(/domain/cputune/vcpupin[@vcpu='1']/@cpuset)", "11");
        assert_xpath(doc, "string(/domain/cputune/vcpupin[@vcpu='2']/@cpuset)", "12");
        assert_xpath(doc, "string(/domain/cputune/emulatorpin/@cpuset)", "0-1,4-7");
        assert_xpath(doc, "string(/domain/numatune/memory/@nodeset)", "1");
        xmlFreeDoc(doc);
        assert_int_equal(remove_below("/sys"), 0);
}

static void test_pinning_auto_small_host(void **state) {
        /* this project's machines: 2 CPUs, testpmd forwarding on CPU 1 */
        _cleanup_(cpu_topology_freep) CpuTopology *t = NULL;
        _cleanup_(loaded_done) Loaded l =
                load("[Testpmd]\nPorts=null:n0\n"
                     "[Guest two]\nHost=h1\nKernel=/k\nVCPUs=2\nVCPUPinning=auto\n"
                     "[Guest one]\nKernel=/k\nVCPUPinning=auto\nEmulatorPinning=auto\n");
        _cleanup_(guest_placement_done) GuestPlacement one = {}, two = {};
        xmlDocPtr doc;

        assert_int_equal(cpu_topology_load_synthetic("core:2 pu:1", &t), 0);
        doc = build_placed(&l, t, "one", &one);
        assert_true(one.housekeeping);
        assert_xpath(doc, "string(/domain/cputune/vcpupin[@vcpu='0']/@cpuset)", "0");
        assert_xpath(doc, "string(/domain/cputune/emulatorpin/@cpuset)", "0");
        xmlFreeDoc(doc);
        /* never on testpmd's CPU: refused; "one" above was placed as if "two" (first in the job,
         * but never started) were not there */
        assert_int_equal(guest_placement(root, t, l.c, l.j, guest(l.j, "two"), 0, false, &two), -ENOSPC);
}

static void test_escaping(void **state) {
        /* config strings reach the XML through libxml2's writer, escaped */
        _cleanup_(loaded_done) Loaded l = load("[Guest vm1]\nKernel=/srv/a&b/vmlinuz\n"
                                               "Description=<script> & \"quotes\" 'too'\n"
                                               "KernelCommandLine=console=ttyS0 x=\"<&>\"\n");
        xmlDocPtr doc = build(&l, "vm1", &tcg);

        assert_xpath(doc, "string(/domain/description)", "<script> & \"quotes\" 'too'");
        assert_xpath(doc, "string(/domain/os/kernel)", "/srv/a&b/vmlinuz");
        assert_xpath(doc, "string(/domain/os/cmdline)", "console=ttyS0 x=\"<&>\"");
        xmlFreeDoc(doc);
}

static void test_unresolved_host_facts(void **state) {
        /* the caller must resolve what the host decides; no silent guess */
        _cleanup_(loaded_done) Loaded l = load("[Guest n]\nKernel=/k\nNestedVirtualization=yes\n"
                                               "[Guest p]\nKernel=/k\nVCPUPinning=auto\n");
        char *xml = NULL;

        assert_int_equal(guest_domain_xml(l.j, guest(l.j, "n"), 0, &tcg, &xml), -EINVAL);
        assert_int_equal(guest_domain_xml(l.j, guest(l.j, "p"), 0, &tcg, &xml), -EINVAL);
        assert_null(xml);
}

static void assert_contains(const char *haystack, const char *needle) {
        if (!haystack || !strstr(haystack, needle))
                fail_msg("expected \"%s\" in:\n%s", needle, strna(haystack));
}

static void test_refusals(void **state) {
        _cleanup_free_ char *e = NULL, *prefix = strjoin(root, "/etc/mhtest/jobs.d/j.conf:");

        /* a vhost-user port testpmd does not have */
        e = load_errors(
                "[Testpmd]\nPorts=vhost-user:vh0\n[Guest g]\nKernel=/k\nInterfaces=vhost-user:vh9\n");
        assert_contains(e, prefix);
        assert_contains(e,
                        "j.conf:5: [Guest g] Interfaces=: \"vhost-user:vh9\" is not a vhost-user port of "
                        "[Testpmd] Ports=");
        free(e);
        /* vhost-user without any [Testpmd] */
        e = load_errors("[Guest g]\nKernel=/k\nInterfaces=vhost-user:vh0\n");
        assert_contains(e, "j.conf:3: [Guest g] Interfaces=: \"vhost-user:vh0\" is not a vhost-user port");
        free(e);
        /* bad network names */
        e = load_errors("[Guest g]\nKernel=/k\nInterfaces=network:lab:net\n");
        assert_contains(e, "j.conf:3: [Guest g] Interfaces=: invalid item \"network:lab:net\"");
        free(e);
        e = load_errors("[Guest g]\nKernel=/k\nInterfaces=network:\n");
        assert_contains(e, "j.conf:3: [Guest g] Interfaces=: invalid item \"network:\"");
        free(e);
        e = load_errors("[Guest g]\nKernel=/k\nInterfaces=bridge:br-missing\n");
        assert_contains(
                e, "j.conf:3: [Guest g] Interfaces=: \"bridge:br-missing\" names no [Bridge br-missing]");
        free(e);
        e = NULL;
}

static void test_missing_files(void **state) {
        _cleanup_(loaded_done) Loaded l =
                load("[Guest g]\nImage=/srv/images/root.qcow2\nKernel=/srv/images/vmlinuz\n"
                     "Disks=/srv/images/data.raw /srv/images/gone.raw\n");
        _cleanup_(config_diagnostics_done) ConfigDiagnostics d = {};
        _cleanup_free_ char *m0 = NULL, *m1 = NULL, *prefix = strjoin(root, "/etc/mhtest/jobs.d/j.conf:");

        write_root_file("/srv/images/vmlinuz", "kernel");
        write_root_file("/srv/images/data.raw", "disk");
        assert_int_equal(guest_check_files(l.c, guest(l.j, "g"), &d), 2);
        assert_int_equal(config_error_format(&d.errors[0], &m0), 0);
        assert_int_equal(config_error_format(&d.errors[1], &m1), 0);
        assert_true(startswith(m0, prefix));
        assert_contains(
                m0,
                "j.conf:2: [Guest g] Image=: \"/srv/images/root.qcow2\" cannot be used on this host: "
                "No such file or directory");
        assert_contains(m1,
                        "j.conf:4: [Guest g] Disks=: \"/srv/images/gone.raw\" cannot be used on this host");

        config_diagnostics_done(&d);
        write_root_file("/srv/images/root.qcow2", "image");
        write_root_file("/srv/images/gone.raw", "disk");
        assert_int_equal(guest_check_files(l.c, guest(l.j, "g"), &d), 0);
        assert_int_equal(d.n_errors, 0);
        assert_int_equal(remove_below("/srv"), 0);
}

/* mhtest --root=ROOT guest --print-xml j:NAME; returns the exit status. */
static int print_xml(const char *name, char **ret_stdout, char **ret_stderr) {
        _cleanup_free_ char *root_arg = strjoin("--root=", root), *what = strjoin("j:", name),
                            *out = strjoin(root, "/stdout"), *err = strjoin(root, "/stderr");
        const char *bin = getenv("MHTEST_BIN");
        char *argv[] = { (char *) bin, root_arg, (char *) "guest", (char *) "--print-xml", what, NULL };
        int o, e, status;
        pid_t pid;

        assert_non_null(bin);
        o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        e = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(o >= 0 && e >= 0);
        assert_int_equal(spawn_async(argv, -1, o, e, &pid), 0);
        status = wait_for_exit(pid);
        close(o);
        close(e);
        assert_int_equal(read_full_file(out, ret_stdout, NULL), 0);
        assert_int_equal(read_full_file(err, ret_stderr, NULL), 0);
        return status;
}

static void test_cli_print_xml(void **state) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        xmlDocPtr doc;

        assert_int_equal(setenv("MHTEST_ACCEL", "tcg", 1), 0);
        write_root_file("/etc/mhtest/mhtest.conf", "[Host]\nName=h1\n");
        write_root_file("/srv/k", "kernel");
        write_root_file("/srv/root.qcow2", "image");
        write_root_file("/etc/mhtest/jobs.d/j.conf",
                        "[Testpmd]\nPorts=vhost-user:vh0\nVhostUserMode=client\n"
                        "[Guest vm1]\nImage=/srv/root.qcow2\nKernel=/srv/k\nNestedVirtualization=yes\n"
                        "Interfaces=vhost-user:vh0\n"
                        "[Guest away]\nHost=h2\nKernel=/srv/k\n"
                        "[Job]\nHosts=h1 h2\n");
        write_root_file("/etc/mhtest/hosts.d/h2.conf", "[Host]\nAddress=192.0.2.2\n");

        assert_int_equal(print_xml("vm1", &out, &err), 0);
        doc = check_xml(out);
        assert_xpath(doc, "string(/domain/name)", "mhtest-j-vm1");
        assert_xpath(doc, "string(/domain/@type)", "qemu");
        assert_xpath(doc, "string(/domain/cpu/feature[@policy='require']/@name)", "svm");
        assert_xpath(doc, "string(/domain/devices/interface/source/@mode)", "server");
        assert_xpath(doc, "string(/domain/devices/interface/source/@path)", "/run/mhtest/j/vh0.sock");
        assert_xpath(doc, "count(/domain/qemu:override/qemu:device)", "1");
        xmlFreeDoc(doc);
        free(out);
        free(err);

        /* placed on another host: refused, nothing printed */
        assert_int_equal(print_xml("away", &out, &err), 1);
        assert_string_equal(out, "");
        assert_contains(err, "placed on h2, not on this host (h1)");
        free(out);
        free(err);

        /* a missing image: refused with the file and line of Image= */
        assert_int_equal(remove_below("/srv/root.qcow2"), 0);
        assert_int_equal(print_xml("vm1", &out, &err), 1);
        assert_string_equal(out, "");
        assert_contains(
                err,
                "/etc/mhtest/jobs.d/j.conf:5: [Guest vm1] Image=: \"/srv/root.qcow2\" cannot be used "
                "on this host");
        free(out);
        free(err);

        /* an unknown vhost-user port: the job does not validate */
        write_root_file("/srv/root.qcow2", "image");
        write_root_file("/etc/mhtest/jobs.d/j.conf",
                        "[Testpmd]\nPorts=vhost-user:vh0\n"
                        "[Guest vm1]\nKernel=/srv/k\nInterfaces=vhost-user:vh1\n");
        assert_int_equal(print_xml("vm1", &out, &err), 1);
        assert_string_equal(out, "");
        assert_contains(err,
                        "/etc/mhtest/jobs.d/j.conf:5: [Guest vm1] Interfaces=: \"vhost-user:vh1\" is not a "
                        "vhost-user port of [Testpmd] Ports=");
        free(out);
        free(err);
        out = err = NULL;
        assert_int_equal(unsetenv("MHTEST_ACCEL"), 0);
        assert_int_equal(remove_below("/etc/mhtest/hosts.d"), 0);
        assert_int_equal(remove_below("/srv"), 0);
}

static int setup(void **state) {
        return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state) {
        print_message("%u domain XML documents validated with virt-xml-validate\n", n_validated);
        return rm_rf(root);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_vhost_user_tcg),
                cmocka_unit_test(test_vhost_user_server_kvm),
                cmocka_unit_test(test_disks_with_kernel),
                cmocka_unit_test(test_seed_and_management),
                cmocka_unit_test(test_metadata),
                cmocka_unit_test(test_image_boot_bridge),
                cmocka_unit_test(test_hugepages),
                cmocka_unit_test(test_hugepages_mount_page_size),
                cmocka_unit_test(test_nested),
                cmocka_unit_test(test_pinning_auto),
                cmocka_unit_test(test_pinning_auto_running_testpmd),
                cmocka_unit_test(test_pinning_auto_numa_isolcpus),
                cmocka_unit_test(test_pinning_auto_small_host),
                cmocka_unit_test(test_escaping),
                cmocka_unit_test(test_unresolved_host_facts),
                cmocka_unit_test(test_refusals),
                cmocka_unit_test(test_missing_files),
                cmocka_unit_test(test_cli_print_xml),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
