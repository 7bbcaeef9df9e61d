/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>
#include <stdint.h>
#include "config.h"
#include "macro.h"

/* DPDK testpmd as a subject: the EAL and testpmd command line built from [Testpmd], and a client
 * of DPDK's telemetry socket (JSON over SOCK_SEQPACKET) with the parsers of its answers. */

typedef enum TestpmdPortKind {
        TESTPMD_PORT_VHOST_USER,
        TESTPMD_PORT_VFIO,
        TESTPMD_PORT_NULL,
        TESTPMD_PORT_RING,
        TESTPMD_PORT_VIRTIO_USER,
        _TESTPMD_PORT_KIND_MAX,
        _TESTPMD_PORT_KIND_INVALID = -EINVAL,
} TestpmdPortKind;

DECLARE_STRING_TABLE_LOOKUP(testpmd_port_kind, TestpmdPortKind);

typedef struct TestpmdPort {
        char *spec;   /* as configured: "vhost-user:vm1" */
        TestpmdPortKind kind;
        char *arg;    /* what follows the kind: "vm1", "0000:01:00.0", a path */
        char *device; /* the DPDK device (and ethdev) name: "net_vhost_vm1", "0000:01:00.0" */
        char *socket; /* vhost-user / virtio-user socket, NULL for others */
} TestpmdPort;

/* vhost-user:NAME gets socket_dir/NAME.sock (what [Guest] Interfaces=vhost-user:NAME uses).
 * -EINVAL for an unknown kind or a malformed argument. */
int testpmd_ports_parse(char * const *specs, const char *socket_dir, TestpmdPort **ret, size_t *ret_n);
void testpmd_ports_free(TestpmdPort *p, size_t n);

typedef struct TestpmdLaunch {
        const char *binary;      /* resolved path */
        const char *file_prefix; /* "mhtest-JOB": one DPDK runtime directory per job */
        unsigned main_lcore;
        const CPUSet *forward;   /* forwarding lcores */
        bool hugepages;          /* false: --no-huge -m Memory= */
        const char *huge_dir;    /* restrict DPDK to this hugetlbfs mount, NULL: any */
        int numa_node;           /* socket memory on this node; -1: not NUMA-aware */
        unsigned n_numa_nodes;
        bool interactive;        /* -i: the supervisor drives the prompt on a pty */
        unsigned stats_period;   /* seconds, when not interactive: keeps testpmd alive without stdin */
} TestpmdLaunch;

/* File prefix of a job's testpmd: "mhtest-JOB". */
int testpmd_file_prefix(const char *job, char **ret);
int testpmd_build_argv(const TestpmdSection *s, const TestpmdPort *ports, size_t n_ports,
                       const TestpmdLaunch *l, char ***ret);
/* The command the supervisor types at the prompt to start forwarding. */
const char *testpmd_start_command(const TestpmdSection *s);

/* The forwarding CPUs running testpmd supervisors recorded in ROOT/run/mhtest/JOB/testpmd.json
 * (a file whose supervisor pid is gone is stale), except skip_job's (NULL: none skipped).
 * ret_owners, when not NULL, gets the job of each of those CPUs in order. */
int testpmd_running_cpus(const char *root, const char *skip_job, CPUSet *ret, char ***ret_owners);
/* CPUs a job's testpmd leaves alone: its guests' explicit VCPUPinning= and EmulatorPinning=,
 * other jobs' running testpmd (ret_owners as above, for those). */
int testpmd_reserved_cpus(const char *root, const JobConfig *j, CPUSet *ret, char ***ret_owners);

/* ---- telemetry ---- */

/* <runtime dir>/dpdk/<prefix>/dpdk_telemetry.v2 where runtime dir is DPDK's: /var/run for
 * root, $XDG_RUNTIME_DIR (or /tmp) otherwise. */
int telemetry_runtime_dir(const char *file_prefix, char **ret);
int telemetry_socket_path(const char *file_prefix, char **ret);

typedef struct TelemetryClient {
        int fd;
        size_t max_output_len;
        char *version;
} TelemetryClient;

/* Connect and read the greeting. Every reply is awaited at most timeout_usec. */
int telemetry_open(const char *path, uint64_t timeout_usec, TelemetryClient **ret);
void telemetry_close(TelemetryClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(TelemetryClient *, telemetry_close);
/* Send "/ethdev/stats,0" and return the value of its answer ({"/ethdev/stats": VALUE}).
 * -ENOENT if the answer is null (unknown command or parameter). size SIZE_MAX: text is
 * NUL-terminated. */
int telemetry_query(TelemetryClient *c, const char *command, json_object **ret);
int telemetry_parse_reply(const char *command, const char *text, size_t size, json_object **ret);
int telemetry_parse_greeting(const char *text, size_t size, char **ret_version, size_t *ret_max_output_len);

typedef struct EthdevStats {
        uint64_t ipackets, opackets, ibytes, obytes;
        uint64_t imissed, ierrors, oerrors, rx_nombuf;
} EthdevStats;

typedef struct EthdevInfo {
        char *name;
        unsigned port_id;
        bool started;
        int numa_node;
        char *mac;
} EthdevInfo;

typedef struct EthdevLink {
        bool up;
        uint64_t speed_mbps; /* 0 if not reported */
        bool full_duplex;
} EthdevLink;

void ethdev_info_done(EthdevInfo *i);
int ethdev_list_parse(json_object *v, unsigned **ret, size_t *ret_n);
int ethdev_stats_parse(json_object *v, EthdevStats *ret);
int ethdev_info_parse(json_object *v, EthdevInfo *ret);
int ethdev_link_parse(json_object *v, EthdevLink *ret);

/* Packets per second between two snapshots usec apart (0 if counters went backwards: the port
 * was reset or testpmd restarted). */
uint64_t ethdev_rate(uint64_t before, uint64_t after, uint64_t usec);
