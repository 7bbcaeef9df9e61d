/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include "macro.h"

/* Links, bridges, ports and addresses over rtnetlink (libnl-3 / libnl-route-3), in the network
 * namespace of the calling process. Never /sys/class/net: inside a lab host joined to another
 * namespace it shows the wrong interfaces. Errors are negative errno (NLE_* converted). */

struct nl_sock;

typedef struct NetLink {
        int ifindex;
        char *name;
        char *kind; /* IFLA_INFO_KIND ("bridge", "veth", ...), NULL for plain devices */
        int master; /* ifindex of the master, 0: none */
        unsigned flags; /* IFF_* */
        unsigned mtu;
        uint8_t mac[6];
        bool has_mac;
        /* bridges only (IFLA_INFO_DATA) */
        bool stp;
        uint32_t forward_delay_cs; /* centiseconds (USER_HZ) */
        bool vlan_filtering;
        uint16_t default_pvid;
} NetLink;

void net_link_done(NetLink *l);

/* What a bridge is asked to be. mtu 0: leave as the kernel makes it; mac NULL: kernel's. */
typedef struct BridgeSpec {
        const char *name;
        bool stp;
        uint32_t forward_delay_cs;
        unsigned mtu;
        const uint8_t *mac;
        bool vlan_filtering;
        uint16_t default_pvid;
} BridgeSpec;

int netlink_open(struct nl_sock **ret);
void netlink_close(struct nl_sock *sk);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_sock *, netlink_close);
/* libnl's NLE_* to errno */
int nle_to_errno(int nle);

/* -ENODEV if there is no such link. name or ifindex (> 0). */
int net_link_get(struct nl_sock *sk, const char *name, int ifindex, NetLink *ret);

/* Create a bridge with all its options in one request (NLM_F_EXCL: -EEXIST if the name is taken).
 * -EOPNOTSUPP for VLAN filtering on a kernel built without it. */
int bridge_create(struct nl_sock *sk, const BridgeSpec *spec);
/* Change STP, forward delay, VLAN filtering and default PVID of an existing bridge (as read). */
int bridge_set_options(struct nl_sock *sk, const NetLink *current, const BridgeSpec *spec);
/* Whether a bridge as read matches a spec; on mismatch ret_why (may be NULL) says what differs. */
bool bridge_matches(const NetLink *l, const BridgeSpec *spec, char **ret_why);

int net_link_delete(struct nl_sock *sk, int ifindex);
/* master 0: release from its master. */
int net_link_set_master(struct nl_sock *sk, int ifindex, int master);
int net_link_set_up(struct nl_sock *sk, int ifindex, bool up);
int net_link_set_mtu(struct nl_sock *sk, int ifindex, unsigned mtu);
int net_link_set_mac(struct nl_sock *sk, int ifindex, const uint8_t mac[6]);

/* Addresses as "10.0.0.1/24" or "fd00::1/64". */
int net_address_has(struct nl_sock *sk, int ifindex, const char *cidr);
int net_address_add(struct nl_sock *sk, int ifindex, const char *cidr);
/* Not there is not an error. */
int net_address_del(struct nl_sock *sk, int ifindex, const char *cidr);

/* ifindexes of the links that carry a default route (IPv4 or IPv6, any table, multipath
 * included): the links a host is reached through. */
int net_default_route_links(struct nl_sock *sk, int **ret, size_t *ret_n);
