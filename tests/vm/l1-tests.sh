#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs inside the L1 host (mhtest-vmtest.service, real systemd as PID 1, the real kernel) and
# drives the provisioning steps the way a user does: systemctl start/stop of the step units of
# the job "vmtest". Every assertion reads the kernel's state (sysfs, /dev, testpmd's telemetry),
# never a file mhtest wrote. Writes OUT/STEP.log and OUT/STEP.result ("pass" or "fail: why")
# for each of nested, hugepages, vfio, testpmd, then OUT/done.
set -u
OUT=${1:?usage: l1-tests.sh OUTDIR}
HERE=$(dirname "$(readlink -f "$0")")
JOB=vmtest
NICS="0000:00:03.0 0000:00:04.0"
MGMT=0000:00:02.0
export SYSTEMD_PAGER=cat SYSTEMD_COLORS=0

up() { cut -d' ' -f1 /proc/uptime; }

# begin STEP: start a step's log; fail/ok record assertions; finish writes the verdict.
step= failures= skipped=
begin() {
        step=$1 failures= skipped=
        exec 3>"$OUT/$step.log"
        echo "=== $step (guest uptime $(up)s)" | tee /dev/console >&3
}
note() { echo "$*" >&3; }
ok() { echo "ok: $*" >&3; }
fail() {
        echo "FAIL: $*" >&3
        failures="${failures:+$failures; }$*"
}
expect() { # expect DESC ACTUAL WANTED
        if [ "$2" = "$3" ]; then ok "$1: $2"; else fail "$1: got '$2', expected '$3'"; fi
}
skip() { # the step cannot run here: its verdict is "skip: why" unless something failed
        echo "SKIP: $*" >&3
        skipped=$*
}
finish() {
        local verdict=pass
        [ -n "$skipped" ] && verdict="skip: $skipped"
        [ -n "$failures" ] && verdict="fail: $failures"
        echo "$verdict" >"$OUT/$step.result"
        echo "=== $step: $verdict (guest uptime $(up)s)" | tee /dev/console >&3
        exec 3>&-
}
unit() { # unit start|stop UNIT: run systemctl, log its result and the unit's journal on failure
        local rc
        systemctl "$1" "$2" >&3 2>&1
        rc=$?
        note "systemctl $1 $2 -> rc=$rc ($(systemctl show -P ActiveState "$2"))"
        [ $rc = 0 ] || journalctl -b -u "$2" --no-pager -o cat -n 30 >&3 2>&1
        return $rc
}
readf() { cat "$1" 2>/dev/null || echo absent; }
driver_of() { basename "$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null)" 2>/dev/null || echo none; }
group_of() { basename "$(readlink "/sys/bus/pci/devices/$1/iommu_group")"; }

# ---------------------------------------------------------------- nested
nested_param=/sys/module/kvm_amd/parameters/nested
# mhtest check first, before any step changes the host: the preflight doctor against the real
# kernel (CPU flags, IOMMU groups, the vfio NICs, /proc/cmdline), which the unit tests only see
# as --root trees.
begin check
if mhtest check $JOB --json >"$OUT/check.json" 2>&3; then
        note "mhtest check $JOB: exit 0"
else
        note "mhtest check $JOB: exit $? (a failing requirement is asserted below if it matters)"
fi
cat "$OUT/check.json" >&3
status_of() { python3 -c 'import json,sys; print(next((c["status"] for c in json.load(open(sys.argv[1]))["checks"] if c["check"] == sys.argv[2]), "absent"))' "$OUT/check.json" "$1" 2>/dev/null || echo unreadable; }
expect "check cpu-virtualization (svm in the L1 CPU)" "$(status_of cpu-virtualization)" pass
expect "check iommu (intel-iommu groups)" "$(status_of iommu)" pass
expect "check nic-safety (the two e1000s are free)" "$(status_of nic-safety)" pass
cmdline_add=$(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1])).get("kernel_cmdline_add", [])))' "$OUT/check.json" 2>/dev/null)
note "kernel command line: $(cat /proc/cmdline)"
note "arguments check asks to add: '$cmdline_add'"
# the L1 boots with intel_iommu=on iommu=pt: a check that reads /proc/cmdline asks for neither
case " $cmdline_add " in
*" iommu=pt "* | *" intel_iommu=on "*) fail "check asks for IOMMU arguments that /proc/cmdline already has: $cmdline_add" ;;
*) ok "check finds iommu=pt and intel_iommu=on on the real kernel command line" ;;
esac
finish

begin nested
# The module follows the CPU the L1 got: svm under TCG (QEMU emulates no vmx) or on AMD hosts,
# vmx under KVM on Intel hosts. The job says Module=auto.
if grep -qw svm /proc/cpuinfo; then
        kmod=kvm_amd
elif grep -qw vmx /proc/cpuinfo; then
        kmod=kvm_intel
else
        kmod=
fi
note "cpu flags: $(grep -m1 -o -w -E 'svm|npt|vmx|ept' /proc/cpuinfo | sort -u | tr '\n' ' '); module: ${kmod:-none}"
if [ -z "$kmod" ]; then
        skip "the L1's CPU offers neither vmx nor svm ($(cat /proc/cmdline | grep -o 'accel=[a-z]*' || echo "see the host's QEMU command line")): nested virtualization cannot be tested here"
else
        nested_param=/sys/module/$kmod/parameters/nested
        udevadm settle
        before=$(readf $nested_param)
        note "before ($kmod.nested=0 on the L1 command line): $before"
        expect "nested before the step (the test must start from 0)" "$before" 0
        if unit start mhtest-nested@$JOB.service; then
                expect "nested after start" "$(readf $nested_param)" 1
                if [ -c /dev/kvm ]; then ok "/dev/kvm present"; else fail "/dev/kvm missing"; fi
                out=$(timeout 300 "$HERE/kvmtest" 2>&1)
                rc=$?
                note "$out"
                if [ $rc = 0 ] && grep -q 'KVM_EXIT_HLT' <<<"$out"; then ok "L2 ran to HLT"; else fail "L2 KVM smoke rc=$rc"; fi
                unit stop mhtest-nested@$JOB.service || fail "stop (revert) failed"
                expect "nested after stop" "$(readf $nested_param)" 0
        else
                fail "systemctl start mhtest-nested@$JOB failed"
        fi
fi
finish

# ---------------------------------------------------------------- hugepages
hp=/sys/kernel/mm/hugepages
begin hugepages
h2_before=$(readf $hp/hugepages-2048kB/nr_hugepages)
note "page sizes offered: $(ls $hp | tr '\n' ' '); 2M before: $h2_before"
h1=$hp/hugepages-1048576kB/nr_hugepages
if [ -e $h1 ]; then
        # Offered by the L1's CPU (pdpe1gb), none reserved at boot: the step allocates one at run
        # time and its revert gives it back, both read from the kernel's pool and meminfo.
        h1_before=$(readf $h1)
        expect "1G pool before the step" "$h1_before" 0
        hp1g_total() { awk '/^Hugetlb:/ {print $2}' /proc/meminfo; }
        if unit start mhtest-hugepages@vm1g.service; then
                expect "1G nr_hugepages" "$(readf $h1)" 1
                expect "1G free_hugepages (a real page, unused)" "$(readf $hp/hugepages-1048576kB/free_hugepages)" 1
                note "meminfo Hugetlb: $(hp1g_total) kB"
                unit stop mhtest-hugepages@vm1g.service || fail "1G stop (revert) failed"
                expect "1G nr_hugepages after revert" "$(readf $h1)" 0
        else
                reason=$(journalctl -b -u mhtest-hugepages@vm1g.service -o cat -p err | tail -n 3)
                expect "1G nr_hugepages after the failed start" "$(readf $h1)" 0
                case $reason in
                *"hugepagesz=1G hugepages=N"*) note "the step said why and what to do" ;;
                *) fail "the failed 1G step did not say why: $reason" ;;
                esac
                # The step's fault only if the kernel grants the page to a write by hand now.
                echo 1 >$h1
                by_hand=$(readf $h1)
                echo 0 >$h1
                if [ "$by_hand" = 1 ]; then
                        fail "mhtest-hugepages@vm1g got no 1G page after 5 writes, but a write by hand just got one"
                else
                        skip "the L1's kernel grants no 1 GiB page at run time, to the step or by hand (pageblocks: $(tail -n 3 /proc/pagetypeinfo | tr -s ' ' | tr '\n' ';'))"
                fi
        fi
else
        skip "1G pages not offered by the L1's CPU (no pdpe1gb): 2M only"
fi
hugepages_up=no
if unit start mhtest-hugepages@$JOB.service; then
        hugepages_up=yes
        expect "2M nr_hugepages" "$(readf $hp/hugepages-2048kB/nr_hugepages)" 128
        note "$(grep -E '^Huge' /proc/meminfo)"
else
        fail "systemctl start mhtest-hugepages@$JOB failed"
fi
# The verdict waits for the revert, after testpmd used the pages.
exec 4>&3

# ---------------------------------------------------------------- vfio
step_hp_failures=$failures step_hp_skipped=$skipped
begin vfio
mgmt_if=$(ls /sys/bus/pci/devices/$MGMT/virtio*/net 2>/dev/null | head -1)
mgmt_drv=$(driver_of $MGMT)
note "management NIC $MGMT: driver $mgmt_drv, netdev $mgmt_if, $(ip -br addr show dev "$mgmt_if" 2>&1)"
for i in $(seq 100); do
        ip -4 addr show dev "$mgmt_if" 2>/dev/null | grep -q 'inet ' && break
        udevadm settle; sleep 0.2
done
ip -4 addr show dev "$mgmt_if" | grep -q 'inet ' || fail "management NIC has no address: the refusal test proves nothing"
if unit start mhtest-vfio@vmmgmt.service; then
        fail "vfio step took the management NIC (driver now $(driver_of $MGMT))"
        unit stop mhtest-vfio@vmmgmt.service
elif [ "$(systemctl show -P LoadState mhtest-vfio@vmmgmt.service)" != loaded ]; then
        fail "mhtest-vfio@.service is not installed"
elif journalctl -b -u mhtest-vfio@vmmgmt.service -o cat | grep -q 'not implemented'; then
        fail "the vfio step is not implemented"
else
        why=$(journalctl -b -u mhtest-vfio@vmmgmt.service -o cat -p err | grep -m1 '^Refused')
        mgmt_addr=$(ip -4 -o addr show dev "$mgmt_if" | awk '{print $4; exit}')
        case $why in
        *"$MGMT ($mgmt_if): $mgmt_if has address $mgmt_addr"*) ok "vfio step refused the management NIC for its address: $why" ;;
        *) fail "vfio step refused the management NIC, but not for its address $mgmt_addr: '$why'" ;;
        esac
fi
expect "management NIC driver" "$(driver_of $MGMT)" "$mgmt_drv"

# A NIC whose upper device (a VLAN on it, a bond it is enslaved to) carries an address: the
# step must refuse it for that reason, with the kernel's real 8021q and bonding drivers.
nic0=${NICS%% *}
nic0_if=$(ls /sys/bus/pci/devices/$nic0/net 2>/dev/null | head -1)
refused_for() { # refused_for WHAT EXPECTED: start the job, expect refusal naming EXPECTED
        local why
        if unit start mhtest-vfio@$JOB.service; then
                fail "$1: vfio step bound the NIC (driver now $(driver_of $nic0))"
                unit stop mhtest-vfio@$JOB.service
                return
        fi
        why=$(journalctl -b -u mhtest-vfio@$JOB.service -o cat -p err | grep '^Refused' | tail -n 1)
        case $why in
        *"$2"*) ok "$1: refused: $why" ;;
        *) fail "$1: refused, but not because $2: '$why'" ;;
        esac
        expect "$1: $nic0 driver" "$(driver_of $nic0)" e1000
        systemctl reset-failed mhtest-vfio@$JOB.service
}
if [ -z "$nic0_if" ]; then
        fail "$nic0 has no netdev: the upper-device refusals cannot be tested"
else
        # A VLAN comes up only on a lower device that is up; put the NIC back as it was after.
        nic0_was_up=$(ip -o link show dev "$nic0_if" | grep -c '[<,]UP[,>]')
        if ip link set "$nic0_if" up 2>&3 && ip link add link "$nic0_if" name vl100 type vlan id 100 2>&3 &&
                ip addr add 192.0.2.1/24 dev vl100 2>&3 && ip link set vl100 up 2>&3; then
                note "$(ip -d -br link show vl100)"
                refused_for "VLAN upper with an address" "vl100 (vlan on $nic0_if) has address 192.0.2.1/24"
        else
                fail "cannot create a VLAN on $nic0_if (8021q)"
        fi
        ip link del vl100 2>/dev/null
        if ip link add bond0 type bond 2>&3 && ip link set "$nic0_if" down 2>&3 &&
                ip link set "$nic0_if" master bond0 2>&3 && ip addr add 198.51.100.1/24 dev bond0 2>&3 &&
                ip link set bond0 up 2>&3; then
                note "$(ip -br link show master bond0)"
                refused_for "bond upper with an address" "bond0 (master of $nic0_if) has address 198.51.100.1/24"
        else
                fail "cannot enslave $nic0_if to a bond (bonding)"
        fi
        ip link set "$nic0_if" nomaster 2>/dev/null
        ip link del bond0 2>/dev/null
        [ "$nic0_was_up" = 0 ] && ip link set "$nic0_if" down
        note "after the upper tests: $(ip -br link show dev "$nic0_if")"
fi
for dev in $NICS; do note "$dev before: driver $(driver_of $dev), group $(group_of $dev)"; done
vfio_up=no
if unit start mhtest-vfio@$JOB.service; then
        vfio_up=yes
        for dev in $NICS; do
                expect "$dev driver" "$(driver_of $dev)" vfio-pci
                g=$(group_of $dev)
                if [ -c /dev/vfio/$g ]; then ok "/dev/vfio/$g present"; else fail "/dev/vfio/$g missing"; fi
        done
else
        fail "systemctl start mhtest-vfio@$JOB failed"
fi
exec 5>&3
step_vfio_failures=$failures

# ---------------------------------------------------------------- testpmd
begin testpmd
if [ $vfio_up = yes ] && [ $hugepages_up = yes ]; then
        # Started in the background: while the unit is activating, what testpmd's telemetry says
        # about the links goes to the log (the service is READY only with link up).
        systemctl start mhtest-testpmd@$JOB.service >&3 2>&1 &
        start_pid=$!
        logged_links=no
        while kill -0 $start_pid 2>/dev/null; do
                sock=$(ls /run/dpdk/*/dpdk_telemetry.v2 2>/dev/null | head -1)
                if [ $logged_links = no ] && [ -n "$sock" ] &&
                        [ "$(systemctl show -P ActiveState mhtest-testpmd@$JOB.service)" = activating ]; then
                        sleep 5 # let the ports come up before the snapshot
                        note "links while activating: $(python3 "$HERE/telemetry-check.py" --links "$sock" 2>&1 | tr '\n' ' ')"
                        logged_links=yes
                fi
                sleep 1
        done
        wait $start_pid
        rc=$?
        note "systemctl start mhtest-testpmd@$JOB.service -> rc=$rc ($(systemctl show -P ActiveState mhtest-testpmd@$JOB.service))"
        if [ $rc = 0 ]; then
                expect "testpmd unit state after start (Type=notify: READY)" \
                        "$(systemctl show -P ActiveState mhtest-testpmd@$JOB.service)" active
                sock=$(ls /run/dpdk/*/dpdk_telemetry.v2 2>/dev/null | head -1)
                if [ -z "$sock" ]; then
                        fail "no telemetry socket under /run/dpdk"
                else
                        note "telemetry: $sock"
                        python3 "$HERE/telemetry-check.py" "$sock" >&3 2>&1 ||
                                fail "telemetry: links not up or no forwarding (see log)"
                fi
        else
                journalctl -b -u mhtest-testpmd@$JOB.service --no-pager -o cat -n 40 >&3 2>&1
                fail "systemctl start mhtest-testpmd@$JOB failed"
        fi
        # Also after a failed start: Restart=on-failure keeps trying and holds the NICs and pages.
        unit stop mhtest-testpmd@$JOB.service || fail "stop failed"
else
        fail "not run: vfio or hugepages step failed"
fi
finish

# ---------------------------------------------------------------- reverts
exec 3>&5
step=vfio failures=$step_vfio_failures
if [ $vfio_up = yes ]; then
        unit stop mhtest-vfio@$JOB.service || fail "stop (revert) failed"
        for dev in $NICS; do
                expect "$dev driver after revert" "$(driver_of $dev)" e1000
                ls /sys/bus/pci/devices/$dev/net >/dev/null 2>&1 && ok "$dev has a netdev again" ||
                        fail "$dev has no netdev after revert"
        done
fi
finish

exec 3>&4
step=hugepages failures=$step_hp_failures skipped=$step_hp_skipped
if [ $hugepages_up = yes ]; then
        unit stop mhtest-hugepages@$JOB.service || fail "stop (revert) failed"
        expect "2M nr_hugepages after revert" "$(readf $hp/hugepages-2048kB/nr_hugepages)" "$h2_before"
        note "after revert: $(grep -E '^HugePages_(Total|Free|Rsvd)' /proc/meminfo | tr -s ' ' | tr '\n' ' ')"
        note "files on hugetlbfs: $(find /dev/hugepages /run/dpdk -maxdepth 2 2>/dev/null | head -20 | tr '\n' ' ')"
fi
finish

journalctl -b --no-pager -o short-monotonic >"$OUT/journal.txt" 2>&1
echo "guest uptime $(up)s" >"$OUT/done"
sync
