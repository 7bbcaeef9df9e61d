/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The dispatcher's side of LAVA multinode (src/coord/lava.c) against Debian's real
 * lava-coordinator, started by lava_coordinator_start() in a network namespace of this test's
 * own (it binds 0.0.0.0): the markers LAVA's helper scripts print are relayed and answered
 * with the exact lines LAVA's dispatcher writes; lava-test-case lines are recognized. */
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include "lava.h"
#include "string-util.h"
#include "strv.h"
#include "tests.h"
#include "time-util.h"

static LavaCoordinator coordinator;

static LavaClient client(const char *name, const char *role) {
        return (LavaClient) { .coordinator = &coordinator, .group_name = "test-group", .group_size = 2,
                              .client_name = name, .role = role, .hostname = name };
}

static void relay(const LavaClient *l, const char *line, const char *expected_reply, bool expected_ok) {
        _cleanup_free_ char *reply = NULL, *api = NULL;
        bool ok = false;

        assert_int_equal(lava_relay_line(l, line, now_usec() + 10 * USEC_PER_SEC, NULL, &reply, &api, &ok), 1);
        assert_true(ok == expected_ok);
        if (expected_reply)
                assert_string_equal(reply, expected_reply);
        else
                assert_null(reply);
}

static void test_relay(void **state) {
        LavaClient a = client("server@h1", "server"), b = client("client@h2", "client");
        _cleanup_free_ char *reply = NULL, *api = NULL;
        bool ok;

        assert_int_equal(lava_register(&a), 0);
        assert_int_equal(lava_join(&b, now_usec() + 10 * USEC_PER_SEC, NULL), 0);
        assert_int_equal(lava_join(&a, now_usec() + 10 * USEC_PER_SEC, NULL), 0);

        /* not a marker */
        assert_int_equal(lava_relay_line(&a, "hello world", 0, NULL, &reply, &api, &ok), 0);
        /* lava-send gets no answer; a value may hold spaces (the dispatcher's split) */
        relay(&a, "<LAVA_MULTI_NODE> <LAVA_SEND ready port=4242 msg=a b>", NULL, true);
        relay(&b, "<LAVA_MULTI_NODE> <LAVA_WAIT ready>",
              "<LAVA_WAIT_COMPLETE server@h1:port=4242 server@h1:msg=a b>\n\n\n", true);
        /* lava-wait-all for the whole group: both have sent */
        relay(&b, "<LAVA_MULTI_NODE> <LAVA_SEND hello from=client@h2>", NULL, true);
        relay(&a, "<LAVA_MULTI_NODE> <LAVA_SEND hello from=server@h1>", NULL, true);
        relay(&a, "<LAVA_MULTI_NODE> <LAVA_WAIT_ALL hello>",
              "<LAVA_WAIT_ALL_COMPLETE client@h2:from=client@h2 server@h1:from=server@h1>\n\n\n", true);
        relay(&a, "<LAVA_MULTI_NODE> <LAVA_WAIT_ALL hello client>",
              "<LAVA_WAIT_ALL_COMPLETE client@h2:from=client@h2 server@h1:from=server@h1>\n\n\n", true);
        /* an unknown call is not answered, as the dispatcher has no handler for it */
        relay(&a, "<LAVA_MULTI_NODE> <LAVA_FROB x>", NULL, false);
        /* a wait nobody answers times out */
        assert_int_equal(lava_relay_line(&a, "<LAVA_MULTI_NODE> <LAVA_WAIT never>", now_usec() + USEC_PER_SEC, NULL,
                                         &reply, &api, &ok), 1);
        assert_false(ok);
        assert_null(reply);
        assert_string_equal(api, "multinode-wait-never");
}

static void test_testcase(void **state) {
        _cleanup_free_ char *name = NULL;
        bool pass = false;

        assert_int_equal(lava_parse_testcase("<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=boot RESULT=pass>", &name, &pass), 1);
        assert_string_equal(name, "boot");
        assert_true(pass);
        free(name);
        name = NULL;
        assert_int_equal(lava_parse_testcase("x <LAVA_SIGNAL_TESTCASE TEST_CASE_ID=net RESULT=fail UNITS=s>", &name,
                                             &pass), 1);
        assert_string_equal(name, "net");
        assert_false(pass);
        assert_int_equal(lava_parse_testcase("<LAVA_SIGNAL_TESTCASE RESULT=pass>", &name, &pass), 0);
        assert_int_equal(lava_parse_testcase("TEST_CASE_ID=x RESULT=pass", &name, &pass), 0);
}

static int lo_up(void) {
        struct ifreq ifr = { .ifr_name = "lo" };
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;

        if (fd < 0)
                return -errno;
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0 || (ifr.ifr_flags |= IFF_UP, ioctl(fd, SIOCSIFFLAGS, &ifr) < 0))
                r = -errno;
        close(fd);
        return r;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_testcase),
                cmocka_unit_test(test_relay),
        };
        int r;

        if (access("/usr/bin/lava-coordinator", X_OK) < 0) {
                printf("SKIP: lava-coordinator is not installed\n");
                return 77;
        }
        if (unshare(CLONE_NEWNET) < 0 || lo_up() < 0) {
                printf("SKIP: cannot make a network namespace here: %s\n", strerror(errno));
                return 77;
        }
        r = lava_coordinator_start(0, 30 * USEC_PER_SEC, &coordinator);
        if (r < 0) {
                printf("lava-coordinator did not start: %s\n", strerror(-r));
                return 1;
        }
        r = cmocka_run_group_tests(tests, NULL, NULL);
        lava_coordinator_stop(&coordinator);
        return r;
}
