#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The vfio step. PCI devices are FAKE (fake-kernel.c: a fake sysfs whose bind/unbind/
# drivers_probe/driver_override behave like the kernel's); the network side is REAL: the test
# runs in a network namespace of its own (unshare), where each fake NIC's interface name is a
# real veth with or without addresses, routes and upper devices, read by mhtest over netlink.
if [ -z "${MHTEST_IN_NETNS:-}" ]; then
        unshare --net true 2>/dev/null || { echo "SKIP: cannot create a network namespace"; exit 77; }
        MHTEST_IN_NETNS=1 exec unshare --net "$0" "$@"
fi
. "$(dirname "$0")/fake-lib.sh"

# ---- the network namespace: one veth per fake NIC ----
ip link set lo up
veth() { ip link add "$1" type veth peer name "p-$1" && ip link set "$1" up && ip link set "p-$1" up; }
for n in nfree0 nfree1 nv4 nv6 nbrp nmacv nmgmt ncfgm nroute nsplit nsplit2 nvirt; do veth $n || exit 1; done
ip addr add 10.55.0.1/24 dev nvirt
ip addr add 192.0.2.1/24 dev nv4
ip addr add 2001:db8::1/64 dev nv6 nodad
ip link add br-t type bridge && ip link set nbrp master br-t && ip link set br-t up
ip addr add 198.51.100.1/24 dev br-t
ip link add link nmacv name mv0 type macvlan && ip link set mv0 up
ip addr add 203.0.113.1/24 dev mv0
ip route add default dev nmgmt
ip route add 10.99.0.0/16 dev nroute
HAVE_VLAN=
if ip link add nvl type veth peer name p-nvl 2>/dev/null && ip link add link nvl name nvl.100 type vlan id 100 2>/dev/null; then
        ip link set nvl up && ip link set nvl.100 up && ip addr add 192.0.2.129/25 dev nvl.100 && HAVE_VLAN=1
fi

# ---- the fake PCI tree ----
fake_write() { # FILE VALUE: a write the fake kernel reacts to
        LD_PRELOAD="$MHTEST_FAKE_KERNEL" MHTEST_FAKE_ROOT="$ROOT" sh -c 'printf "%s" "$2" >"$1"' _ "$1" "$2"
}
# dev ADDR GROUP NETDEV: a NIC e1000 claims, bound to it, with its interface
dev() {
        local d=$ROOT/sys/bus/pci/devices/$1
        mkdir -p "$d/net/$3"
        echo "(null)" >"$d/driver_override"
        echo e1000 >"$d/.fake-match"
        if [ -n "$2" ]; then
                mkdir -p "$ROOT/sys/kernel/iommu_groups/$2/devices"
                ln -s "$ROOT/sys/kernel/iommu_groups/$2" "$d/iommu_group"
                ln -s "$d" "$ROOT/sys/kernel/iommu_groups/$2/devices/$1"
        fi
        fake_write "$ROOT/sys/bus/pci/drivers/e1000/bind" "$1"
}
pci_root() { # IOMMU(yes|no) JOBCONF
        new_root amd "$2"
        printf '[Host]\nName=testhost\n[Safety]\nManagementInterfaces=ncfgm\n' >"$ROOT/etc/mhtest/mhtest.conf"
        mkdir -p "$ROOT/sys/bus/pci/devices" "$ROOT/sys/kernel/iommu_groups" "$ROOT/dev"
        : >"$ROOT/sys/bus/pci/drivers_probe"
        fake_modprobe e1000
        local g=
        [ "$1" = yes ] && g=1
        dev 0000:03:00.0 "${g:+10}" nfree0
        dev 0000:03:00.1 "${g:+11}" nfree1
        dev 0000:04:00.0 "${g:+12}" nv4
        dev 0000:04:00.1 "${g:+13}" nv6
        dev 0000:05:00.0 "${g:+14}" nbrp
        dev 0000:05:00.1 "${g:+15}" nmacv
        dev 0000:06:00.0 "${g:+16}" nmgmt
        dev 0000:06:00.1 "${g:+17}" ncfgm
        dev 0000:06:00.2 "${g:+18}" nroute
        dev 0000:07:00.0 "${g:+20}" nsplit
        dev 0000:07:00.1 "${g:+20}" nsplit2
        dev 0000:06:00.3 "${g:+21}" nvirt
        # a virtio NIC: its interface hangs off the virtio device (ADDR/virtio0/net/NAME)
        mkdir -p "$ROOT/sys/bus/pci/devices/0000:06:00.3/virtio0"
        mv "$ROOT/sys/bus/pci/devices/0000:06:00.3/net" "$ROOT/sys/bus/pci/devices/0000:06:00.3/virtio0/"
        [ -n "$HAVE_VLAN" ] && dev 0000:05:00.2 "${g:+19}" nvl
        return 0
}
drv() { local l; l=$(readlink "$ROOT/sys/bus/pci/devices/$1/driver") && basename "$l" || echo none; }
job() { printf '[VFIO]\\nDevices=%s\\n%s' "$1" "${2:-}"; }
refused() { # DESC DEVICES NEEDLE
        pci_root yes "$(job "$2")"
        local before
        before=$(snapshot)
        mh apply vfio j
        expect_eq "$1: refused (non-zero)" "$([ "$RC" -ne 0 ] && echo yes)" yes
        expect_contains "$1: reason" "$OUT" "$3"
        expect_eq "$1: nothing changed" "$(snapshot)" "$before"
}

echo "== two free NICs: bound, /dev/vfio/N, idempotent, exact revert"
pci_root yes "$(job "0000:03:00.0 0000:03:00.1")"
before=$(snapshot)
mh apply vfio j
expect_eq "apply exit" "$RC" 0
expect_eq "03:00.0 driver" "$(drv 0000:03:00.0)" vfio-pci
expect_eq "03:00.1 driver" "$(drv 0000:03:00.1)" vfio-pci
expect_eq "/dev/vfio nodes" "$(ls "$ROOT/dev/vfio" | tr '\n' ' ')" "10 11 vfio "
expect_eq "netdevs gone, as the kernel does" "$(ls "$ROOT/sys/bus/pci/devices/0000:03:00.0/net" 2>/dev/null)" ""
mh status j --json
expect_contains "status lists the change" "$OUT" "bound 0000:03:00.0 to vfio-pci (was e1000)"
mid=$(snapshot)
mh apply vfio j
expect_eq "second apply exit" "$RC" 0
expect_contains "second apply says so" "$OUT" "nothing changed"
expect_eq "second apply changed nothing" "$(snapshot)" "$mid"
mh revert vfio j
expect_eq "revert exit" "$RC" 0
expect_eq "03:00.0 back on e1000" "$(drv 0000:03:00.0)" e1000
expect_eq "fake kernel as before (drivers, overrides, nodes, modules, netdevs)" "$(snapshot)" "$before"
mh revert vfio j
expect_eq "revert without state: no-op" "$RC:$(snapshot | md5sum)" "0:$(echo "$before" | md5sum)"

echo "== refusals: nothing may change"
refused "IPv4 address" 0000:04:00.0 "nv4 has address 192.0.2.1/24"
refused "IPv6-only address" 0000:04:00.1 "nv6 has address 2001:db8::1/64"
refused "bridge upper with an address" 0000:05:00.0 "br-t (master of nbrp) has address 198.51.100.1/24"
refused "macvlan upper with an address" 0000:05:00.1 "mv0 (macvlan on nmacv) has address 203.0.113.1/24"
if [ -n "$HAVE_VLAN" ]; then
        refused "VLAN upper with an address" 0000:05:00.2 "nvl.100 (vlan on nvl) has address"
else
        echo "(VLAN and bond devices are not available in this kernel: the VLAN case runs in the vm tier)"
fi
refused "default route (management connection)" 0000:06:00.0 "nmgmt carries the default route"
refused "[Safety] ManagementInterfaces=" 0000:06:00.1 "ncfgm is a management interface"
refused "route without address" 0000:06:00.2 "nroute has route 10.99.0.0/16"
refused "virtio NIC (interface under virtio0/net)" 0000:06:00.3 "nvirt has address 10.55.0.1/24"
refused "split IOMMU group" 0000:07:00.0 "IOMMU group 20 also contains 0000:07:00.1 (on e1000)"
refused "unknown device" "0000:03:00.0 0000:99:00.0" "0000:99:00.0: no such PCI device"
refused "one bad device refuses all" "0000:03:00.0 0000:04:00.0" "0000:04:00.0 (nv4)"

echo "== whole IOMMU group listed: allowed"
pci_root yes "$(job "0000:07:00.0 0000:07:00.1")"
ip link set nsplit down; ip link set nsplit2 down
before=$(snapshot)
mh apply vfio j
expect_eq "apply exit" "$RC" 0
expect_eq "one node for the group" "$(ls "$ROOT/dev/vfio" | tr '\n' ' ')" "20 vfio "
mh revert vfio j
expect_eq "as before" "$(snapshot)" "$before"

echo "== no IOMMU: refused; NoIOMMU=yes enables unsafe mode, recorded and reverted"
pci_root no "$(job 0000:03:00.0)"
before=$(snapshot)
mh apply vfio j
expect_eq "refused (non-zero)" "$([ "$RC" -ne 0 ] && echo yes)" yes
expect_contains "reason" "$OUT" "no IOMMU"
expect_eq "nothing changed" "$(snapshot)" "$before"
pci_root no "$(job 0000:03:00.0 'NoIOMMU=yes\n')"
before=$(snapshot)
mh apply vfio j
expect_eq "NoIOMMU apply exit" "$RC" 0
expect_eq "unsafe mode on" "$(cat "$ROOT/sys/module/vfio/parameters/enable_unsafe_noiommu_mode")" Y
expect_eq "noiommu node" "$(ls "$ROOT/dev/vfio" | tr '\n' ' ')" "noiommu-42 vfio "
mh revert vfio j
expect_eq "NoIOMMU revert exit" "$RC" 0
expect_eq "as before (module unloaded, parameter gone with it)" "$(snapshot)" "$before"

echo "== failure mid-way: the devices already rebound are given back"
pci_root yes "$(job "0000:03:00.0 0000:03:00.1")"
before=$(snapshot)
OUT=$(LD_PRELOAD="$MHTEST_FAKE_KERNEL" MHTEST_FAKE_ROOT="$ROOT" MHTEST_FAKE_PROBE_FAIL=0000:03:00.1 \
        "$MHTEST_BIN" --root="$ROOT" apply vfio j 2>&1)
RC=$?
expect_eq "apply failed (non-zero)" "$([ "$RC" -ne 0 ] && echo yes)" yes
expect_contains "says what failed" "$OUT" "Failed to bind 0000:03:00.1 to vfio-pci"
expect_contains "says it rolled back" "$OUT" "given back to their drivers"
expect_eq "03:00.0 back on e1000" "$(drv 0000:03:00.0)" e1000
expect_eq "as before, no state left" "$(snapshot)" "$before"

echo "== crash mid-apply (killed at the second device's probe), then revert"
pci_root yes "$(job "0000:03:00.0 0000:03:00.1" 'Persist=yes\n')"
before=$(snapshot)
OUT=$(LD_PRELOAD="$MHTEST_FAKE_KERNEL" MHTEST_FAKE_ROOT="$ROOT" MHTEST_FAKE_CRASH_PROBE=0000:03:00.1 \
        "$MHTEST_BIN" --root="$ROOT" apply vfio j 2>&1)
RC=$?
expect_eq "apply was killed" "$RC" 137
expect_eq "left half-done: 03:00.1 unbound" "$(drv 0000:03:00.1)" none
mh revert vfio j
expect_eq "revert exit" "$RC" 0
expect_eq "03:00.0 back" "$(drv 0000:03:00.0)" e1000
expect_eq "03:00.1 back" "$(drv 0000:03:00.1)" e1000
expect_eq "as before" "$(snapshot)" "$before"

echo "== Persist=yes: driverctl's override files"
pci_root yes "$(job "0000:03:00.0" 'Persist=yes\n')"
before=$(snapshot)
mh apply vfio j
expect_eq "apply exit" "$RC" 0
expect_eq "driverctl file" "$(cat "$ROOT/etc/driverctl.d/pci-0000:03:00.0" 2>/dev/null)" vfio-pci
mh revert vfio j
expect_eq "removed on revert" "$(snapshot)" "$before"

echo "== 100 apply/revert cycles"
pci_root yes "$(job "0000:03:00.0 0000:03:00.1")"
before=$(snapshot)
bad=0
for i in $(seq 100); do
        mh apply vfio j
        [ "$RC" = 0 ] && [ "$(drv 0000:03:00.1)" = vfio-pci ] || { bad=$((bad + 1)); echo "cycle $i apply: $OUT"; }
        mh revert vfio j
        [ "$RC" = 0 ] || { bad=$((bad + 1)); echo "cycle $i revert: $OUT"; }
done
expect_eq "failed cycles" "$bad" 0
expect_eq "fake kernel after 100 cycles as before" "$(snapshot)" "$before"

finish
