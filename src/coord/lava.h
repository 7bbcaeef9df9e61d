/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <json-c/json.h>

/* The dispatcher's side of LAVA's multinode API: mhtest-coord plays LAVA's dispatcher for every
 * test shell of a run. It talks to a lava-coordinator (Debian's package: one TCP connection per
 * request, 8 hex digits of length then JSON, the answer "wait" until it can be given) and
 * answers the markers LAVA's helper scripts print (<LAVA_MULTI_NODE> <LAVA_SEND id k=v>) with
 * the lines LAVA's dispatcher writes back (lava_dispatcher/actions/test/multinode.py). */

typedef struct LavaCoordinator {
        char *host;
        uint16_t port;
        pid_t pid;      /* > 0: started by us, stopped by lava_coordinator_stop() */
        char *work_dir; /* its configuration file */
} LavaCoordinator;

/* Start Debian's lava-coordinator listening on port (it binds 0.0.0.0 whatever its configuration
 * says) and wait until it accepts connections, at most timeout_usec. */
int lava_coordinator_start(uint16_t port, uint64_t timeout_usec, LavaCoordinator *ret);
/* Use a running one: "HOST:PORT". */
int lava_coordinator_use(const char *host_port, LavaCoordinator *ret);
/* Stop what lava_coordinator_start() started (SIGTERM, reaped) and remove its files. */
void lava_coordinator_stop(LavaCoordinator *c);

/* One member of a group, as the dispatcher's MultinodeProtocol base message describes it. */
typedef struct LavaClient {
        const LavaCoordinator *coordinator;
        const char *group_name;
        unsigned group_size;
        const char *client_name;
        const char *role;
        const char *hostname;
} LavaClient;

/* One request and its answer (a parsed JSON object). */
int lava_request(const LavaCoordinator *c, json_object *msg, json_object **ret_reply);
/* The client's base message merged into msg (consumed), asked again while the answer is "wait",
 * until deadline (CLOCK_MONOTONIC usec; -ETIMEDOUT), or until *cancel becomes true (-ECANCELED).
 * Returns the answer: its "message" if it has one, else its "response" string. */
int lava_poll(const LavaClient *l, json_object *msg, uint64_t deadline, const bool *cancel,
              json_object **ret_reply);
/* One group_data request: registers the client without waiting for the others. */
int lava_register(const LavaClient *l);
/* group_data until the group is complete (0). */
int lava_join(const LavaClient *l, uint64_t deadline, const bool *cancel);
/* lava_send with key=value pairs (a NULL-terminated list), as LAVA_SEND does. */
int lava_send(const LavaClient *l, const char *message_id, char **pairs, uint64_t deadline);
/* lava_wait: the message's data, {"client": {"key": "value"}}. */
int lava_wait(const LavaClient *l, const char *message_id, uint64_t deadline, const bool *cancel,
              json_object **ret_reply);
void lava_leave(const LavaClient *l);

/* If line carries a multinode marker, relay it and return 1 with the line to write to the
 * shell's stdin in *ret_reply (NULL for LAVA_SEND, which gets none), else return 0. *ret_api is
 * set to the call's testcase name as LAVA's dispatcher records it (multinode-send-ID, ...), and
 * *ret_ok to whether the coordinator answered. */
int lava_relay_line(const LavaClient *l, const char *line, uint64_t deadline, const bool *cancel,
                    char **ret_reply, char **ret_api, bool *ret_ok);

/* "<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=x RESULT=pass ...>" (lava-test-case): 1 with the name and
 * whether it passed, 0 if the line has none. */
int lava_parse_testcase(const char *line, char **ret_name, bool *ret_pass);
