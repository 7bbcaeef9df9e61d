/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "macro.h"

/* Whether a network interface carries something the host needs, read over rtnetlink
 * (libnl-route-3) in the caller's network namespace — never from /sys/class/net, which in a
 * container can list another namespace's interfaces.
 *
 * The interface and every upper device above it (its bond/bridge master, VLAN/macvlan/ipvlan
 * devices on it, and theirs, transitively) are checked for: an IPv4 address, an IPv6 address
 * other than link-local, a unicast route through it (outside the local table, not
 * link-local), the default route, and a name in management (the [Safety]
 * ManagementInterfaces= list). Returns 0 and *ret_reason = NULL if it carries none, 1 and a
 * human-readable reason if it does, -ENODEV if there is no such interface here. */
int netdev_usage(const char *ifname, char * const *management, char **ret_reason);
