/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include "macro.h"

/* Named network namespaces as iproute2 keeps them (/run/netns/NAME bind mounts, so "ip netns
 * exec" works on them), and the few netlink operations a private lab network needs. Every
 * operation runs inside a namespace the caller names; none touches the caller's own namespace. */

#define NETNS_RUN_DIR "/run/netns"

/* Create /run/netns/NAME holding a fresh network namespace with "lo" up. If /run/netns had to be
 * made a (shared, bind) mount point for that, *ret_made_run_mount is set to true. -EEXIST if the
 * name is taken. */
int netns_add(const char *name, bool *ret_made_run_mount);
/* Remove /run/netns/NAME (the namespace goes away with its last user). Missing is not an error.
 * The last one removed also takes away the /run/netns mount if netns_add() made it. */
int netns_remove(const char *name);
bool netns_exists(const char *name);
/* If netns_add() made /run/netns a mount point and it holds no namespace any more, unmount and
 * remove it. */
int netns_run_dir_release(void);
/* Open /run/netns/NAME, O_CLOEXEC. */
int netns_open(const char *name);

/* Enter a network namespace; *ret_saved is an fd of the namespace to return to. */
int netns_enter(int netns_fd, int *ret_saved);
/* Return to the saved namespace and close it. Aborts if that is impossible: carrying on in the
 * wrong namespace would touch the machine's network. */
void netns_leave(int *saved);

/* Inside namespace ns: create a bridge (STP off, up). */
int netns_bridge_add(const char *ns, const char *bridge);
/* Inside namespace ns: a veth pair, "port" enslaved to bridge in ns and up, its peer "peer_name"
 * moved into namespace peer_ns, with address cidr ("10.1.2.3/24", may be NULL), up. */
int netns_veth_add(const char *ns, const char *bridge, const char *port, const char *peer_ns,
                   const char *peer_name, const char *cidr);
/* Open a TCP connection to addr:port from inside namespace ns and wait up to timeout_ms for the
 * peer to send something (an SSH banner): 0 when it did. */
int netns_tcp_probe(const char *ns, const char *addr, uint16_t port, int timeout_ms);
