#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bridge step on the REAL kernel, over rtnetlink, inside a private network namespace this test
# creates (unshare --net: every link in it dies with the test). veth pairs stand in for NICs;
# one carries a default route, one is a [Safety] management interface. Kernel state is read
# with ip(8) -j: links (kind, master, admin state, MTU, MAC, bridge options) and addresses.
. "$(dirname "$0")/steps-lib.sh"
: "${MHTEST_CRASH_SHIM:?run through meson test}"

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
command -v ip >/dev/null && command -v jq >/dev/null || { echo "SKIP: needs ip and jq"; exit 77; }
if [ -z "${MHTEST_IN_NETNS:-}" ]; then
        unshare --net true 2>/dev/null || { echo "SKIP: cannot create a network namespace"; exit 77; }
        MHTEST_IN_NETNS=1 exec unshare --net -- "$0" "$@"
fi
trap remove_root EXIT

# every link and address of the namespace, one line each, without ifindexes or kernel-made
# IPv6 link-local addresses
snapshot() {
        ip -j -d link show | jq -r '.[] | [.ifname, (.linkinfo.info_kind // "-"), (.master // "-"),
                (if (.flags | index("UP")) then "up" else "down" end), .mtu, .address,
                (.linkinfo.info_data | if . then "stp=\(.stp_state) fd=\(.forward_delay) vf=\(.vlan_filtering)" else "" end)]
                | @tsv' | sort
        ip -j addr show | jq -r '.[] | .ifname as $n | .addr_info[] | select(.scope != "link")
                | "\($n) \(.local)/\(.prefixlen)"' | sort
}
link() { ip -j -d link show "$1" 2>/dev/null | jq -r ".[0]$2"; }
has_addr() { ip -j addr show dev "$1" | jq -r --arg a "$2" '[.[0].addr_info[] | "\(.local)/\(.prefixlen)"] | index($a) != null'; }
veth() { ip link add "$1" type veth peer name "$1-peer"; }

ip link set lo up
veth p1
veth p2
ip link set p2 up
veth up0                                   # carries the default route
ip link set up0 up
ip link set up0-peer up
ip addr add 192.0.2.2/24 dev up0
ip route add default via 192.0.2.1 dev up0
veth m0                                    # listed in [Safety] ManagementInterfaces=
new_root
safety <<'E'
ManagementInterfaces=m0
E
job br <<'E'
[Bridge mhbr0]
STP=no
ForwardDelaySec=0
MTU=1400
MACAddress=52:54:00:12:34:56
Address=10.9.0.1/24 fd00:9::1/64
Ports=p1 p2
E
before=$(snapshot)

echo "# create, enslave, address, up: read back from the kernel"
mh apply bridge br
expect_ok "apply" $RC
expect_eq "kind" "$(link mhbr0 .linkinfo.info_kind)" bridge
expect_eq "STP off" "$(link mhbr0 .linkinfo.info_data.stp_state)" 0
expect_eq "forward delay 0" "$(link mhbr0 .linkinfo.info_data.forward_delay)" 0
expect_eq "MTU" "$(link mhbr0 .mtu)" 1400
expect_eq "MAC" "$(link mhbr0 .address)" 52:54:00:12:34:56
expect_contains "bridge up" "$(link mhbr0 .flags)" UP
expect_eq "p1 enslaved" "$(link p1 .master)" mhbr0
expect_contains "p1 brought up" "$(link p1 .flags)" UP
expect_eq "p2 enslaved" "$(link p2 .master)" mhbr0
expect_eq "IPv4 address" "$(has_addr mhbr0 10.9.0.1/24)" true
expect_eq "IPv6 address" "$(has_addr mhbr0 fd00:9::1/64)" true
check_reapply bridge br snapshot "already as configured"
check_status bridge br "enslaved p1 to mhbr0 (was: no master, down)"
mh revert bridge br
expect_ok "revert" $RC
expect_eq "revert: bridge gone, p1 down again, p2 still up, no masters" "$(snapshot)" "$before"
mh revert bridge br
expect_ok "revert without state is a no-op" $RC
expect_contains "revert without state says so" "$OUT" "nothing to revert"

echo "# STP on with a forward delay"
job stp <<'E'
[Bridge mhstp]
STP=yes
ForwardDelaySec=4
E
mh apply bridge stp
expect_ok "apply STP=yes" $RC
expect_eq "STP on" "$(link mhstp .linkinfo.info_data.stp_state)" 1
expect_eq "forward delay 4 s (centiseconds)" "$(link mhstp .linkinfo.info_data.forward_delay)" 400
mh revert bridge stp
expect_eq "revert" "$(snapshot)" "$before"

echo "# VLAN filtering and default PVID (where the kernel has CONFIG_BRIDGE_VLAN_FILTERING)"
job vlan <<'E'
[Bridge mhvlan]
VLANFiltering=yes
DefaultPVID=5
Ports=p1
E
if ip link add mhprobe type bridge vlan_filtering 1 2>/dev/null; then
        ip link del mhprobe
        mh apply bridge vlan
        expect_ok "apply VLAN filtering" $RC
        expect_eq "VLAN filtering on" "$(link mhvlan .linkinfo.info_data.vlan_filtering)" 1
        expect_eq "default PVID" "$(link mhvlan .linkinfo.info_data.vlan_default_pvid)" 5
        mh revert bridge vlan
else
        mh apply bridge vlan
        expect_fail "VLANFiltering=yes fails on a kernel without bridge VLAN filtering" $RC
        expect_contains "and says why" "$OUT" "CONFIG_BRIDGE_VLAN_FILTERING"
fi
expect_eq "nothing left either way" "$(snapshot)" "$before"

echo "# refusals: management ports, missing ports, a non-bridge with the name; nothing changes"
for port in up0 m0 nosuch0; do
        job refuse <<E
[Bridge mhbr1]
Ports=p1 $port
E
        mh apply bridge refuse
        expect_fail "Ports=$port refused" $RC
        case $port in
        up0) expect_contains "it carries the default route" "$OUT" "carries a default route" ;;
        m0) expect_contains "it is a management interface" "$OUT" "ManagementInterfaces" ;;
        nosuch0) expect_contains "it does not exist" "$OUT" "no such network interface" ;;
        esac
        expect_eq "refusal changed nothing" "$(snapshot)" "$before"
done
veth mhbr9
before=$(snapshot)
job notbridge <<'E'
[Bridge mhbr9]
Ports=p1
E
mh apply bridge notbridge
expect_fail "a veth named like the bridge refused" $RC
expect_contains "it says what it is" "$OUT" "is a veth, not a bridge"
expect_eq "refusal changed nothing" "$(snapshot)" "$before"
# a port of a bridge that carries the default route is part of the management path
ip link add mgmtbr type bridge
veth p3
ip link set p3 master mgmtbr
ip link set mgmtbr up
ip addr add 198.51.100.2/24 dev mgmtbr
ip route add default via 198.51.100.1 dev mgmtbr metric 200
before=$(snapshot)
job upper <<'E'
[Bridge mhbr1]
Ports=p3
E
mh apply bridge upper
expect_fail "a port of the management bridge refused" $RC
expect_contains "it names the bridge" "$OUT" "it is a port of mgmtbr, which carries a default route"
expect_eq "refusal changed nothing" "$(snapshot)" "$before"

echo "# a foreign bridge: reused when compatible, never changed or deleted"
ip link add fbr type bridge forward_delay 0 stp_state 0
veth p4                                    # its own port: the bridge's MAC follows its ports
ip link set p4 master fbr
job reuse <<'E'
[Bridge fbr]
Address=10.8.0.1/24
Ports=p1
E
before=$(snapshot)
mh apply bridge reuse
expect_ok "a compatible foreign bridge is reused" $RC
expect_eq "p1 in fbr" "$(link p1 .master)" fbr
expect_contains "fbr brought up" "$(link fbr .flags)" UP
expect_eq "address added" "$(has_addr fbr 10.8.0.1/24)" true
mh revert bridge reuse
expect_ok "revert" $RC
expect_eq "fbr kept, down again, without the address; p1 released" "$(snapshot)" "$before"
# a bridge without ports has the random MAC it was created with; its first port's MAC replaces
# it and, when that port leaves, the kernel zeroes it: revert gives the recorded one back
ip link add fbr0 type bridge forward_delay 0
before=$(snapshot)
job reuse0 <<'E'
[Bridge fbr0]
Ports=p1
E
mh apply bridge reuse0
expect_ok "a foreign bridge without ports is reused" $RC
mh revert bridge reuse0
expect_ok "revert" $RC
expect_eq "fbr0 kept with its MAC, p1 released" "$(snapshot)" "$before"
ip link del fbr0
ip link add fbr2 type bridge stp_state 1 forward_delay 1500
before=$(snapshot)
job clash <<'E'
[Bridge fbr2]
STP=no
Ports=p1
E
mh apply bridge clash
expect_fail "an incompatible foreign bridge refused" $RC
expect_contains "it says what differs" "$OUT" "STP is on"
expect_eq "refusal changed nothing" "$(snapshot)" "$before"

echo "# a port's previous master comes back"
ip link add old0 type bridge
ip link set p1 master old0
before=$(snapshot)
mh apply bridge br
expect_ok "apply takes p1 from old0" $RC
expect_eq "p1 in mhbr0" "$(link p1 .master)" mhbr0
mh revert bridge br
expect_eq "p1 back in old0" "$(link p1 .master)" old0
expect_eq "everything as before" "$(snapshot)" "$before"

echo "# crash after the Nth netlink change: revert restores"
for after in 1 2 3 4 5; do
        MH_PREFIX=(env LD_PRELOAD="$MHTEST_CRASH_SHIM" MHTEST_CRASH_ON=netlink MHTEST_CRASH_AFTER=$after)
        mh apply bridge br
        MH_PREFIX=(env)
        expect_eq "apply killed after change $after" "$RC" 137
        [ "$(snapshot)" != "$before" ] && pass "the crash left the links changed" || fail "the crash changed nothing"
        mh revert bridge br
        expect_ok "revert after the crash" $RC
        expect_eq "revert after the crash restores links and addresses" "$(snapshot)" "$before"
done

echo "# 100 apply/revert cycles, kernel state compared after each"
p2_in_mhbr0() { [ "$(link p2 .master)" = mhbr0 ]; }
check_cycles bridge br snapshot p2_in_mhbr0

finish
