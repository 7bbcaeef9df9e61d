/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* testpmd.c: golden command lines for several [Testpmd] configurations, port parsing, and the
 * telemetry client with its parsers (against recorded DPDK 22.11 answers and a fake server). */
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include "config.h"
#include "state.h"
#include "string-util.h"
#include "strv.h"
#include "testpmd.h"
#include "tests.h"

static JobConfig *load(const char *root, const char *conf, Config **ret_c) {
        _cleanup_(config_diagnostics_done) ConfigDiagnostics d = {};
        JobConfig *j = NULL;

        test_write(root, "/etc/mhtest/jobs.d/j.conf", conf);
        assert_int_equal(config_load(root, ret_c), 0);
        assert_int_equal(config_load_job(*ret_c, "j", &j, &d), 0);
        assert_int_equal(d.n_errors, 0);
        assert_non_null(j->testpmd);
        return j;
}

static char *build(const char *root, const char *conf, TestpmdLaunch *l, const char *forward) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(job_config_freep) JobConfig *j = load(root, conf, &c);
        _cleanup_(cpu_set_done) CPUSet fwd = {};
        _cleanup_strv_free_ char **argv = NULL;
        TestpmdPort *ports = NULL;
        size_t n = 0;
        char *s;

        assert_int_equal(cpu_set_parse(forward, &fwd), 0);
        assert_int_equal(testpmd_ports_parse(j->testpmd->ports, "/run/mhtest/j", &ports, &n), 0);
        l->binary = "/usr/bin/dpdk-testpmd";
        l->file_prefix = "mhtest-j";
        l->forward = &fwd;
        assert_int_equal(testpmd_build_argv(j->testpmd, ports, n, l, &argv), 0);
        testpmd_ports_free(ports, n);
        s = strv_join(argv, " ");
        assert_non_null(s);
        return s;
}

static void test_argv_null_no_hugepages(void **state) {
        TestpmdLaunch l = { .main_lcore = 0, .numa_node = -1, .interactive = true };
        _cleanup_free_ char *s = build(*state, "[Testpmd]\nPorts=null:a null:b\n", &l, "1");

        assert_string_equal(s, "/usr/bin/dpdk-testpmd -l 0,1 --main-lcore=0 --file-prefix=mhtest-j --no-huge -m 1024 "
                               "--no-pci --vdev net_null_a --vdev net_null_b -- -i --forward-mode=io --nb-cores=1 "
                               "--rxq=1 --txq=1");
}

static void test_argv_vhost_hugepages_numa(void **state) {
        TestpmdLaunch l = { .main_lcore = 0, .numa_node = 1, .n_numa_nodes = 2, .hugepages = true,
                            .huge_dir = "/dev/hugepages", .interactive = true };
        _cleanup_free_ char *s = build(*state,
                                       "[Testpmd]\n"
                                       "Ports=vhost-user:vm1 vhost-user:vm2\n"
                                       "VhostUserMode=client\n"
                                       "ForwardMode=macswap\n"
                                       "RxQueues=2\nTxQueues=2\n"
                                       "RxDescriptors=1024\nTxDescriptors=2048\n"
                                       "Memory=2G\nTotalMbufs=32768\n"
                                       "ExtraEALArguments=--log-level=pmd.net.vhost:debug\n"
                                       "ExtraArguments=--burst=64 \"--eth-peer=0,02:00:00:00:00:01\"\n",
                                       &l, "2-3");

        assert_string_equal(s, "/usr/bin/dpdk-testpmd -l 0,2-3 --main-lcore=0 --file-prefix=mhtest-j "
                               "--huge-dir=/dev/hugepages --huge-unlink --socket-mem=0,2048 --no-pci "
                               "--vdev net_vhost_vm1,iface=/run/mhtest/j/vm1.sock,queues=2,client=1 "
                               "--vdev net_vhost_vm2,iface=/run/mhtest/j/vm2.sock,queues=2,client=1 "
                               "--log-level=pmd.net.vhost:debug -- -i --forward-mode=macswap --nb-cores=2 --rxq=2 "
                               "--txq=2 --rxd=1024 --txd=2048 --total-num-mbufs=32768 --burst=64 "
                               "--eth-peer=0,02:00:00:00:00:01");
}

static void test_argv_vfio(void **state) {
        TestpmdLaunch l = { .main_lcore = 0, .numa_node = 0, .n_numa_nodes = 1, .hugepages = true,
                            .interactive = true };
        _cleanup_free_ char *s = build(*state,
                                       "[VFIO]\nDevices=0000:01:00.0 02:00.0\n"
                                       "[Testpmd]\nPorts=vfio:01:00.0 vfio:0000:02:00.0 vhost-user:vm\n"
                                       "Memory=1G\n",
                                       &l, "1");

        /* only the vfio step's devices are probed: an allow-list, no --no-pci */
        assert_string_equal(s, "/usr/bin/dpdk-testpmd -l 0,1 --main-lcore=0 --file-prefix=mhtest-j --huge-unlink --socket-mem=1024 "
                               "-a 0000:01:00.0 -a 0000:02:00.0 "
                               "--vdev net_vhost_vm,iface=/run/mhtest/j/vm.sock,queues=1 -- -i --forward-mode=io "
                               "--nb-cores=1 --rxq=1 --txq=1");
}

static void test_argv_not_interactive(void **state) {
        TestpmdLaunch l = { .main_lcore = 2, .numa_node = -1, .stats_period = 5 };
        _cleanup_free_ char *s = build(*state,
                                       "[Testpmd]\nPorts=ring:r0 virtio-user:/tmp/x.sock\nTxFirst=yes\nMemory=512M\n"
                                       "ForwardMode=rxonly\n",
                                       &l, "0-1");

        assert_string_equal(s, "/usr/bin/dpdk-testpmd -l 2,0-1 --main-lcore=2 --file-prefix=mhtest-j --no-huge -m 512 "
                               "--no-pci --vdev net_ring_r0 --vdev net_virtio_user0,path=/tmp/x.sock,queues=1 -- "
                               "--stats-period=5 --forward-mode=rxonly --nb-cores=2 --rxq=1 --txq=1 --tx-first");
}

static void test_argv_refuses_main_in_forward(void **state) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(job_config_freep) JobConfig *j = load(*state, "[Testpmd]\nPorts=null:a\n", &c);
        _cleanup_(cpu_set_done) CPUSet fwd = {};
        char **argv = NULL;
        TestpmdPort *ports = NULL;
        size_t n;
        TestpmdLaunch l = { .binary = "x", .file_prefix = "p", .main_lcore = 1, .forward = &fwd };

        assert_int_equal(cpu_set_parse("1-2", &fwd), 0);
        assert_int_equal(testpmd_ports_parse(j->testpmd->ports, "/run", &ports, &n), 0);
        assert_int_equal(testpmd_build_argv(j->testpmd, ports, n, &l, &argv), -EINVAL);
        assert_null(argv);
        testpmd_ports_free(ports, n);
}

static void test_ports_parse(void **state) {
        char *good[] = { (char *) "vhost-user:vm1", (char *) "vfio:01:00.1", (char *) "virtio-user:/run/q.sock",
                         (char *) "virtio-user:/run/r.sock", NULL };
        char *bad_kind[] = { (char *) "tap:x", NULL };
        char *bad_name[] = { (char *) "vhost-user:../etc", NULL };
        char *bad_path[] = { (char *) "virtio-user:relative", NULL };
        TestpmdPort *p = NULL;
        size_t n = 0;

        assert_int_equal(testpmd_ports_parse(good, "/run/mhtest/j", &p, &n), 0);
        assert_int_equal(n, 4);
        assert_int_equal(p[0].kind, TESTPMD_PORT_VHOST_USER);
        assert_string_equal(p[0].device, "net_vhost_vm1");
        assert_string_equal(p[0].socket, "/run/mhtest/j/vm1.sock");
        assert_int_equal(p[1].kind, TESTPMD_PORT_VFIO);
        assert_string_equal(p[1].device, "0000:01:00.1");
        assert_null(p[1].socket);
        assert_string_equal(p[2].device, "net_virtio_user0");
        assert_string_equal(p[3].device, "net_virtio_user1");
        assert_string_equal(p[3].socket, "/run/r.sock");
        testpmd_ports_free(p, n);
        assert_int_equal(testpmd_ports_parse(bad_kind, "/run", &p, &n), -EINVAL);
        assert_int_equal(testpmd_ports_parse(bad_name, "/run", &p, &n), -EINVAL);
        assert_int_equal(testpmd_ports_parse(bad_path, "/run", &p, &n), -EINVAL);
        assert_string_equal(testpmd_port_kind_to_string(TESTPMD_PORT_RING), "ring");
        assert_string_equal(testpmd_start_command(&(TestpmdSection) { .tx_first = true }), "start tx_first");
}

/* Answers recorded from dpdk-testpmd 22.11 */
static const char greeting[] = "{\"version\":\"DPDK 22.11.11\",\"pid\":14201,\"max_output_len\":16384}";
static const char stats_reply[] =
        "{\"/ethdev/stats\":{\"ipackets\":85435264,\"opackets\":85241184,\"ibytes\":5467856896,\"obytes\":"
        "5455435776,\"imissed\":7,\"ierrors\":1,\"oerrors\":2,\"rx_nombuf\":3,\"q_ipackets\":[0,0],\"q_opackets\":"
        "[0,0],\"q_ibytes\":[0,0],\"q_obytes\":[0,0],\"q_errors\":[0,0]}}";
static const char info_reply[] =
        "{\"/ethdev/info\":{\"name\":\"net_null0\",\"state\":1,\"nb_rx_queues\":1,\"nb_tx_queues\":1,\"port_id\":3,"
        "\"mtu\":1500,\"rx_mbuf_size_min\":0,\"mac_addr\":\"66:58:EC:9B:2B:B2\",\"promiscuous\":1,\"scattered_rx\":0,"
        "\"all_multicast\":1,\"dev_started\":1,\"lro\":0,\"dev_configured\":1,\"rxq_state\":[0],\"txq_state\":[0],"
        "\"numa_node\":-1,\"dev_flags\":64,\"rx_offloads\":0,\"tx_offloads\":0,\"ethdev_rss_hf\":0}}";

static void test_telemetry_parse(void **state) {
        _cleanup_json_ json_object *v = NULL;
        _cleanup_free_ unsigned *ids = NULL;
        _cleanup_free_ char *version = NULL;
        _cleanup_(ethdev_info_done) EthdevInfo info = {};
        EthdevStats st;
        EthdevLink link;
        size_t n, max;

        assert_int_equal(telemetry_parse_greeting(greeting, strlen(greeting), &version, &max), 0);
        assert_string_equal(version, "DPDK 22.11.11");
        assert_int_equal(max, 16384);
        assert_int_equal(telemetry_parse_greeting("{}", 2, NULL, &max), -EBADMSG);

        assert_int_equal(telemetry_parse_reply("/ethdev/stats,0", stats_reply, strlen(stats_reply), &v), 0);
        assert_int_equal(ethdev_stats_parse(v, &st), 0);
        assert_int_equal(st.ipackets, 85435264);
        assert_int_equal(st.opackets, 85241184);
        assert_int_equal(st.obytes, 5455435776ULL);
        assert_int_equal(st.imissed, 7);
        assert_int_equal(st.ierrors, 1);
        assert_int_equal(st.oerrors, 2);
        assert_int_equal(st.rx_nombuf, 3);
        json_object_put(v);
        v = NULL;

        assert_int_equal(telemetry_parse_reply("/ethdev/info,3", info_reply, strlen(info_reply), &v), 0);
        assert_int_equal(ethdev_info_parse(v, &info), 0);
        assert_string_equal(info.name, "net_null0");
        assert_int_equal(info.port_id, 3);
        assert_true(info.started);
        assert_int_equal(info.numa_node, -1);
        assert_string_equal(info.mac, "66:58:EC:9B:2B:B2");
        json_object_put(v);
        v = NULL;

        assert_int_equal(telemetry_parse_reply("/ethdev/link_status,0",
                                               "{\"/ethdev/link_status\":{\"status\":\"UP\",\"speed\":10000,"
                                               "\"duplex\":\"full-duplex\"}}",
                                               SIZE_MAX, &v),
                         0);
        assert_int_equal(ethdev_link_parse(v, &link), 0);
        assert_true(link.up);
        assert_int_equal(link.speed_mbps, 10000);
        assert_true(link.full_duplex);
        json_object_put(v);
        v = NULL;
        assert_int_equal(telemetry_parse_reply("/ethdev/link_status,1", "{\"/ethdev/link_status\":{\"status\":\"DOWN\"}}",
                                               SIZE_MAX, &v),
                         0);
        assert_int_equal(ethdev_link_parse(v, &link), 0);
        assert_false(link.up);
        json_object_put(v);
        v = NULL;

        assert_int_equal(telemetry_parse_reply("/ethdev/list", "{\"/ethdev/list\":[0,1,4]}", SIZE_MAX, &v), 0);
        assert_int_equal(ethdev_list_parse(v, &ids, &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(ids[2], 4);
        json_object_put(v);
        v = NULL;

        /* an unknown port: DPDK answers null */
        assert_int_equal(telemetry_parse_reply("/ethdev/stats,9", "{\"/ethdev/stats\":null}", SIZE_MAX, &v), -ENOENT);
        /* the answer to another command, garbage, a truncated reply */
        assert_int_equal(telemetry_parse_reply("/ethdev/stats,0", "{\"/ethdev/list\":[]}", SIZE_MAX, &v), -EBADMSG);
        assert_int_equal(telemetry_parse_reply("/ethdev/list", "nonsense", SIZE_MAX, &v), -EBADMSG);
        assert_int_equal(telemetry_parse_reply("/ethdev/stats,0", stats_reply, 40, &v), -EBADMSG);
        v = json_object_new_array();
        assert_int_equal(ethdev_stats_parse(v, &st), -EBADMSG);

        assert_int_equal(ethdev_rate(100, 1100, 500000), 2000);
        assert_int_equal(ethdev_rate(1100, 100, 500000), 0);
        assert_int_equal(ethdev_rate(1, 2, 0), 0);
}

/* A fake DPDK: greets, then answers /ethdev/list and a stats query, as SOCK_SEQPACKET records. */
static void test_telemetry_client(void **state) {
        const char *root = *state;
        _cleanup_free_ char *path = test_path(root, "/dpdk_telemetry.v2");
        _cleanup_(telemetry_closep) TelemetryClient *c = NULL;
        _cleanup_json_ json_object *v = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        EthdevStats st;
        int lfd, status;
        pid_t pid;

        strcpy(sa.sun_path, path);
        lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        assert_true(lfd >= 0);
        assert_int_equal(bind(lfd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(listen(lfd, 1), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int fd = accept(lfd, NULL, NULL);
                char buf[256];
                ssize_t k;

                if (fd < 0 || send(fd, greeting, strlen(greeting), 0) < 0)
                        _exit(1);
                while ((k = recv(fd, buf, sizeof(buf) - 1, 0)) > 0) {
                        buf[k] = 0;
                        if (streq(buf, "/ethdev/list"))
                                (void) send(fd, "{\"/ethdev/list\":[0,1]}", 22, 0);
                        else if (streq(buf, "/ethdev/stats,1"))
                                (void) send(fd, stats_reply, strlen(stats_reply), 0);
                        else
                                (void) send(fd, "{\"/x\":null}", 11, 0);
                }
                _exit(0);
        }
        close(lfd);
        assert_int_equal(telemetry_open(path, USEC_PER_SEC, &c), 0);
        assert_string_equal(c->version, "DPDK 22.11.11");
        assert_int_equal(telemetry_query(c, "/ethdev/list", &v), 0);
        assert_int_equal(json_object_array_length(v), 2);
        json_object_put(v);
        v = NULL;
        assert_int_equal(telemetry_query(c, "/ethdev/stats,1", &v), 0);
        assert_int_equal(ethdev_stats_parse(v, &st), 0);
        assert_int_equal(st.ipackets, 85435264);
        /* the fake answers something else: not taken for the answer */
        assert_int_equal(telemetry_query(c, "/ethdev/info,0", &v) < 0, 1);
        telemetry_close(TAKE_PTR(c));
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        /* nobody listens any more */
        assert_int_equal(telemetry_open(path, USEC_PER_SEC, &c), -ECONNREFUSED);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_argv_null_no_hugepages, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(test_argv_vhost_hugepages_numa, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(test_argv_vfio, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(test_argv_not_interactive, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(test_argv_refuses_main_in_forward, test_root_setup, test_root_teardown),
                cmocka_unit_test(test_ports_parse),
                cmocka_unit_test(test_telemetry_parse),
                cmocka_unit_test_setup_teardown(test_telemetry_client, test_root_setup, test_root_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
