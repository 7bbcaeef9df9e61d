/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The cloud-init NoCloud seed and the management network's XML, without libvirt or a guest:
 * the seed ISO is made by the real genisoimage and read back with isoinfo (another program of
 * the same package: its volume label and the files cloud-init reads); the network XML is
 * checked node by node and against libvirt's schema with virt-xml-validate. Both programs are
 * installed by tools/install-deps.sh: their absence fails the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <libxml/parser.h>
#include <libxml/xpath.h>

#include "fileio.h"
#include "guest-network.h"
#include "guest-seed.h"
#include "process-util.h"
#include "string-util.h"
#include "strv.h"

static char root[] = "/tmp/mhtest-seed-net-XXXXXX";

static void write_below_root(const char *rel, const char *contents) {
        _cleanup_free_ char *p = strjoin(root, rel);
        assert_non_null(p);
        assert_int_equal(mkdir_parents(p, 0755), 0);
        assert_int_equal(write_file_atomic(p, contents, 0644), 0);
}

/* The text of the first node of an XPath expression on xml; NULL if none. */
static char *xpath_string(const char *xml, const char *expr) {
        xmlDocPtr doc = xmlReadMemory(xml, (int) strlen(xml), NULL, NULL, 0);
        xmlXPathContextPtr ctx;
        xmlXPathObjectPtr o;
        char *s = NULL;

        assert_non_null(doc);
        ctx = xmlXPathNewContext(doc);
        o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
        if (o && o->nodesetval && o->nodesetval->nodeNr > 0) {
                xmlChar *c = xmlNodeGetContent(o->nodesetval->nodeTab[0]);
                s = strdup((const char *) c);
                xmlFree(c);
        }
        xmlXPathFreeObject(o);
        xmlXPathFreeContext(ctx);
        xmlFreeDoc(doc);
        return s;
}

static void assert_xpath(const char *xml, const char *expr, const char *expected) {
        _cleanup_free_ char *s = xpath_string(xml, expr);
        if (!streq_ptr(s, expected))
                fail_msg("%s: expected \"%s\", got \"%s\" in\n%s", expr, expected, strna(s), xml);
}

static void validate(const char *xml, const char *schema) {
        _cleanup_free_ char *validator = NULL, *p = strjoin(root, "/validate.xml");
        int r;

        assert_non_null(p);
        if (find_executable("virt-xml-validate", &validator) < 0)
                fail_msg("virt-xml-validate is not installed (libvirt-clients, tools/install-deps.sh)");
        assert_int_equal(write_file_atomic(p, xml, 0644), 0);
        r = spawn_wait(STRV_MAKE(validator, p, schema));
        if (r != 0)
                fail_msg("virt-xml-validate %s refused:\n%s", schema, xml);
}

static void test_network_xml(void **state) {
        _cleanup_free_ char *xml = NULL, *bridge = NULL;

        assert_int_equal(guest_network_xml("mhtest-mgmt", "192.168.200.10/24", &xml), 0);
        assert_xpath(xml, "/network/name", "mhtest-mgmt");
        assert_xpath(xml, "/network/forward/@mode", "nat");
        assert_xpath(xml, "/network/ip/@address", "192.168.200.1");
        assert_xpath(xml, "/network/ip/@prefix", "24");
        assert_xpath(xml, "/network/ip/dhcp/range/@start", "192.168.200.128");
        assert_xpath(xml, "/network/ip/dhcp/range/@end", "192.168.200.254");
        bridge = xpath_string(xml, "/network/bridge/@name");
        assert_non_null(bridge);
        assert_true(startswith(bridge, "mhbr-"));
        assert_in_range(strlen(bridge), 6, 15); /* IFNAMSIZ - 1 */
        validate(xml, "network");

        /* the bridge name depends on the network's name only, and differs between networks */
        {
                _cleanup_free_ char *again = NULL, *other = NULL, *b2 = NULL, *b3 = NULL;
                assert_int_equal(guest_network_xml("mhtest-mgmt", "10.1.0.5/16", &again), 0);
                assert_int_equal(guest_network_xml("mhtest-mgmt2", "192.168.200.10/24", &other), 0);
                b2 = xpath_string(again, "/network/bridge/@name");
                b3 = xpath_string(other, "/network/bridge/@name");
                assert_string_equal(b2, bridge);
                assert_string_not_equal(b3, bridge);
                assert_xpath(again, "/network/ip/@address", "10.1.0.1");
                assert_xpath(again, "/network/ip/dhcp/range/@start", "10.1.128.0");
                assert_xpath(again, "/network/ip/dhcp/range/@end", "10.1.255.254");
        }
        /* the smallest subnet with room: /30 has the gateway .1, the guest .2 and range .2 */
        {
                _cleanup_free_ char *small = NULL;
                assert_int_equal(guest_network_xml("n", "10.0.0.2/30", &small), 0);
                assert_xpath(small, "/network/ip/dhcp/range/@start", "10.0.0.2");
                assert_xpath(small, "/network/ip/dhcp/range/@end", "10.0.0.2");
                validate(small, "network");
        }
}

static void test_network_xml_refused(void **state) {
        static const char *const bad[] = {
                "10.0.0.1/31",   /* no room */
                "10.0.0.1/24",   /* the gateway */
                "10.0.0.0/24",   /* the subnet's own address */
                "10.0.0.255/24", /* broadcast */
                "10.0.0.300/24", /* not an address */
                "10.0.0.3",      /* no prefix */
                "10.0.0.3/33",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char *xml = NULL;
                if (guest_network_xml("n", bad[i], &xml) != -EINVAL)
                        fail_msg("%s was not refused", bad[i]);
                assert_null(xml);
        }
}

static void test_host_xml(void **state) {
        _cleanup_free_ char *xml = NULL;

        assert_int_equal(guest_network_host_xml("52:54:00:00:00:10", "192.168.200.10", &xml), 0);
        assert_string_equal(xml, "<host mac=\"52:54:00:00:00:10\" ip=\"192.168.200.10\"/>");
}

static void test_seed_texts(void **state) {
        _cleanup_free_ char *meta = NULL, *user = NULL, *none = NULL;

        assert_int_equal(guest_seed_meta_data("mhtest-j-g-0123", "web1", &meta), 0);
        assert_string_equal(meta, "instance-id: \"mhtest-j-g-0123\"\nlocal-hostname: \"web1\"\n");
        /* a key comment with a quote and a backslash stays one YAML string */
        assert_int_equal(
                guest_seed_user_data(STRV_MAKE("ssh-ed25519 AAAAC3Nz a\"b\\c", "ssh-rsa AAAAB3 x"), &user),
                0);
        assert_string_equal(user,
                            "#cloud-config\n"
                            "disable_root: false\n"
                            "ssh_pwauth: false\n"
                            "ssh_authorized_keys:\n"
                            "  - \"ssh-ed25519 AAAAC3Nz a\\\"b\\\\c\"\n"
                            "  - \"ssh-rsa AAAAB3 x\"\n");
        assert_int_equal(guest_seed_user_data(NULL, &none), 0);
        assert_null(strstr(none, "ssh_authorized_keys"));
        {
                char *x = NULL;
                assert_int_equal(guest_seed_user_data(STRV_MAKE("ssh-ed25519 A\tB"), &x), -EINVAL);
                assert_null(x);
        }
}

static void test_seed_hostname(void **state) {
        GuestSection g = { .section.name = (char *) "my_vm", .count = 1 };
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;

        assert_int_equal(guest_seed_hostname(&g, 0, &a), 0);
        assert_string_equal(a, "my-vm");
        g.count = 3;
        assert_int_equal(guest_seed_hostname(&g, 2, &b), 0);
        assert_string_equal(b, "my-vm-3");
        g.count = 1;
        g.hostname = (char *) "db.example";
        assert_int_equal(guest_seed_hostname(&g, 0, &c), 0);
        assert_string_equal(c, "db.example");
        assert_false(guest_wants_seed(&(GuestSection){ .section.name = (char *) "x" }));
        assert_true(guest_wants_seed(&g));
}

static void test_seed_read_keys(void **state) {
        _cleanup_strv_free_ char **keys = NULL;
        _cleanup_free_ char *bad = NULL, *bad2 = NULL, *bad3 = NULL;
        char **none = NULL;

        write_below_root("/keys/a.pub", "# team keys\n\nssh-ed25519 AAAA one@a\n  ssh-rsa BBBB two@a  \n");
        write_below_root("/keys/b.pub", "ssh-ed25519 CCCC three@b");
        write_below_root("/keys/empty.pub", "# nothing\n\n");
        write_below_root("/keys/cc.pub", "ssh-ed25519 DD\x01 x\n");
        assert_int_equal(guest_seed_read_keys(root, STRV_MAKE("/keys/a.pub", "/keys/b.pub"), &keys, &bad),
                         0);
        assert_true(strv_equal(
                keys,
                STRV_MAKE("ssh-ed25519 AAAA one@a", "ssh-rsa BBBB two@a", "ssh-ed25519 CCCC three@b")));
        assert_int_equal(
                guest_seed_read_keys(root, STRV_MAKE("/keys/a.pub", "/keys/empty.pub"), &none, &bad),
                -EBADMSG);
        assert_string_equal(bad, "/keys/empty.pub");
        assert_null(none);
        assert_int_equal(guest_seed_read_keys(root, STRV_MAKE("/keys/cc.pub"), &none, &bad2), -EBADMSG);
        assert_string_equal(bad2, "/keys/cc.pub");
        assert_int_equal(guest_seed_read_keys(root, STRV_MAKE("/keys/missing.pub"), &none, &bad3), -ENOENT);
        assert_string_equal(bad3, "/keys/missing.pub");
}

/* isoinfo's view of the ISO: its volume id, and a file as Rock Ridge names it. */
static char *isoinfo(const char *iso, const char *file) {
        _cleanup_free_ char *out = NULL;
        char *argv_d[] = { (char *) "isoinfo", (char *) "-d", (char *) "-i", (char *) iso, NULL };
        char *argv_x[] = { (char *) "isoinfo", (char *) "-R", (char *) "-i", (char *) iso,
                           (char *) "-x",      (char *) file, NULL };

        if (spawn_capture(file ? argv_x : argv_d, &out) != 0)
                return NULL;
        return TAKE_PTR(out);
}

static void test_seed_build(void **state) {
        _cleanup_free_ char *iso = strjoin(root, "/seed/dom.iso"), *tmp = strjoin(root, "/seed/dom.iso.tmp"),
                            *d = NULL, *user = NULL, *meta = NULL, *prog = NULL;

        if (find_executable("genisoimage", &prog) < 0)
                fail_msg("genisoimage is not installed (tools/install-deps.sh)");
        assert_int_equal(guest_seed_build(iso, "mhtest-j-g-1", "g1", STRV_MAKE("ssh-ed25519 AAAA k@x")), 0);
        assert_true(file_exists(iso));
        assert_false(file_exists(tmp));
        d = isoinfo(iso, NULL);
        assert_non_null(d);
        assert_non_null(strstr(d, "Volume id: cidata"));
        user = isoinfo(iso, "/user-data");
        meta = isoinfo(iso, "/meta-data");
        assert_non_null(user);
        assert_non_null(meta);
        assert_non_null(strstr(user, "#cloud-config\n"));
        assert_non_null(strstr(user, "  - \"ssh-ed25519 AAAA k@x\"\n"));
        assert_string_equal(meta, "instance-id: \"mhtest-j-g-1\"\nlocal-hostname: \"g1\"\n");
        /* built again, it is replaced; removed, it is gone, and a second removal is a no-op */
        assert_int_equal(guest_seed_build(iso, "mhtest-j-g-2", "g1", NULL), 0);
        free(meta);
        meta = isoinfo(iso, "/meta-data");
        assert_non_null(strstr(meta, "mhtest-j-g-2"));
        assert_int_equal(guest_seed_remove(iso), 1);
        assert_false(file_exists(iso));
        assert_int_equal(guest_seed_remove(iso), 0);
        {
                /* nothing but the ISO was left in its directory */
                _cleanup_free_ char *dir = strjoin(root, "/seed");
                DIR *dd = opendir(dir);
                struct dirent *de;
                unsigned n = 0;
                assert_non_null(dd);
                while ((de = readdir(dd)))
                        if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                                n++;
                closedir(dd);
                assert_int_equal(n, 0);
        }
}

static int tcp_listen(uint16_t port, uint16_t *ret_port) {
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_port = htons(port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(listen(fd, 4), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *) &sa, &len), 0);
        *ret_port = ntohs(sa.sin_port);
        return fd;
}

static int tcp_connect(uint16_t port) {
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_port = htons(port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

/* The forward relays bytes both ways through the real systemd-socket-proxyd; a second forward
 * on the port fails at once; after stop the port refuses connections. */
static void test_ssh_forward(void **state) {
        _cleanup_close_ int server = -EBADF, client = -EBADF, conn = -EBADF;
        uint16_t target, port;
        pid_t pid = 0, pid2 = 0;
        char buf[16] = {};

        server = tcp_listen(0, &target);
        { _cleanup_close_ int probe = tcp_listen(0, &port); /* a free port, closed again */ }
        assert_int_equal(guest_ssh_forward_start(port, "127.0.0.1", target, &pid), 0);
        assert_true(pid > 0);
        assert_int_equal(guest_ssh_forward_start(port, "127.0.0.1", target, &pid2), -EADDRINUSE);
        /* the socket listens before the proxy runs: connecting needs no wait */
        client = tcp_connect(port);
        assert_true(client >= 0);
        conn = accept4(server, NULL, NULL, SOCK_CLOEXEC);
        assert_true(conn >= 0);
        assert_int_equal(write(client, "ping", 4), 4);
        assert_int_equal(read(conn, buf, sizeof(buf)), 4);
        assert_memory_equal(buf, "ping", 4);
        assert_int_equal(write(conn, "pong", 4), 4);
        assert_int_equal(read(client, buf, sizeof(buf)), 4);
        assert_memory_equal(buf, "pong", 4);

        assert_int_equal(guest_ssh_forward_stop(pid), 0);
        assert_int_equal(kill(pid, 0), -1); /* reaped: no such process */
        assert_int_equal(tcp_connect(port), -ECONNREFUSED);
        assert_int_equal(guest_ssh_forward_start(port, "127.0.0.1", 0, &pid2), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_network_xml),   cmocka_unit_test(test_network_xml_refused),
                cmocka_unit_test(test_host_xml),      cmocka_unit_test(test_seed_texts),
                cmocka_unit_test(test_seed_hostname), cmocka_unit_test(test_seed_read_keys),
                cmocka_unit_test(test_seed_build),    cmocka_unit_test(test_ssh_forward),
        };
        int r;

        assert_non_null(mkdtemp(root));
        r = cmocka_run_group_tests(tests, NULL, NULL);
        (void) rm_rf(root);
        return r;
}
