/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "macro.h"
#include <libvirt/libvirt.h>
#include <sys/types.h>

/* A guest's management network ([Guest] ManagementNetwork=, ManagementAddress=, SSHForward=):
 * a libvirt network with a DHCP host reservation (MAC -> fixed IPv4 address) for the guest's
 * "management" interface, and a host TCP port forwarded to the guest's SSH port.
 *
 * What mhtest did to libvirt is recorded in /run/mhtest/networks/NETWORK.json (below root):
 * whether it created (or started) the network, and which reservations it added for which
 * domain, so that release takes back exactly that: its reservations, and the network itself
 * once no mhtest guest uses it any more and only if mhtest made it. Reserve and release hold
 * /run/mhtest/networks/.lock, as guests of one host start and stop in parallel. */

#define GUEST_NETWORK_STATE_DIR "/run/mhtest/networks"

/* The XML of a network mhtest creates for cidr (the guest's address and prefix length): NAT,
 * bridge mhbr-HASH (its own, named from the network's name), gateway the subnet's first address,
 * a DHCP range over the upper half of the subnet. -EINVAL when the subnet has no room for a
 * gateway, a range and the guest (prefix > 30) or the guest's address is the gateway or the
 * subnet's network or broadcast address. */
int guest_network_xml(const char *name, const char *cidr, char **ret);
/* <host mac='MAC' ip='IP'/> */
int guest_network_host_xml(const char *mac, const char *ip, char **ret);

/* Make sure network exists and runs (creating it from cidr as a transient network, or starting
 * a defined one, when needed) and that its DHCP gives mac the address of cidr, adding the
 * reservation if it is not there yet. On failure *ret_reason says why in words (the network's
 * subnet does not hold the address, the MAC or address is reserved for another, libvirt's
 * error). */
int guest_network_reserve(virConnectPtr conn, const char *root, const char *network, const char *cidr,
                          const char *mac, const char *domain, char **ret_reason);
/* Undo what guest_network_reserve() did for domain, on every network it touched: remove the
 * reservations it added, then the network if mhtest created it (or stop it if mhtest started
 * it) and no other domain's reservation is recorded. Returns the number of reservations
 * released, or the first error while still releasing the rest. */
int guest_network_release(virConnectPtr conn, const char *root, const char *domain);

/* The guest's management address as libvirt sees it: the IPv4 address of its DHCP lease for
 * mac (any interface when mac is NULL), else what the guest agent reports for that interface.
 * -ENODATA when neither knows one. For "mhtest status". */
int guest_management_address(virDomainPtr dom, const char *mac, char **ret);

/* The SSH port forward: systemd-socket-proxyd listening on the host's TCP port (every
 * address) and relaying each connection to address:target_port (22 for SSH). The socket is bound here (so a
 * port in use fails at once, -EADDRINUSE) and handed to the proxy as socket activation does (LISTEN_FDS=1);
 * the proxy is a child of the caller, so it ends with the guest's service. */
int guest_ssh_forward_start(unsigned port, const char *address, unsigned target_port, pid_t *ret_pid);
/* SIGTERM and reap it; 0 if pid <= 0. */
int guest_ssh_forward_stop(pid_t pid);
