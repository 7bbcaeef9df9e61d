#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mhtest-guest@JOB:GUEST.service for real, in one container lab host (real systemd, real
# libvirtd, QEMU TCG), with the busybox tick guest and a raw base disk. Asserts on what systemd,
# libvirt, qemu-img and the journal say:
# - READY by the console marker; the disk libvirt attached is an overlay backed by the base;
# - kill -9 of QEMU: the journal says QEMU exited unexpectedly (not "migrated"), the unit is
#   restarted (NRestarts) and runs a new domain;
# - kill -9 of the service's main process: the restarted service adopts the same domain (same
#   libvirt id);
# - libvirtd restarted: the service fails naming it, is restarted and adopts the same domain;
# - a running domain of the guest's name without mhtest metadata is refused and left running;
# - a guest that powers off by itself fails, named, and is restarted;
# - stop: the tick guest ignores the ACPI power button, so ShutdownTimeoutSec= passes and the
#   domain is destroyed, as the journal says; no domain and no overlay are left, and the base
#   image's checksum is unchanged.
set -uo pipefail
. "$MHTEST_SOURCE_ROOT/tests/system/lib.sh"

require_lab_capable
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed"
command -v qemu-img >/dev/null || skip "qemu-img is not installed"
images=$("$MHTEST_SOURCE_ROOT/tools/build-guest-images.sh") || { say "FAIL: cannot build the test guest"; exit 1; }

LAB=mhguest
h=$LAB-h1
cleanup() {
        if [ "$FAILS" -gt 0 ] && [ -n "${h:-}" ]; then
                say "journal of the guest units:"
                hx "$h" journalctl -b -q -o short-monotonic -u 'mhtest-guest@*' | tail -60
        fi
        lab_down
}
trap cleanup EXIT
"$MHTEST" lab down "$LAB" >/dev/null 2>&1
t0=$SECONDS
if ! "$MHTEST" lab up --name="$LAB" --hosts=1 ${BUILD_ROOT:+--from="$BUILD_ROOT"} --images="$images" --quiet; then
        say "FAIL: mhtest lab up"
        exit 1
fi
say "lab up in $((SECONDS - t0)) s"

V="virsh -q -c qemu:///system"
base=/var/lib/mhtest/base/disk.raw
job="[Job]
Description=guest supervision test

[Guest g1]
Memory=256M
Image=$base
Kernel=/var/lib/mhtest/images/vmlinuz
Initrd=/var/lib/mhtest/images/initrd-tick.gz
KernelCommandLine=console=ttyS0 quiet panic=-1
Type=qemu
ReadyMarker=GUEST-UP
ReadyTimeoutSec=120
ShutdownTimeoutSec=5

[Guest off]
Memory=256M
Kernel=/var/lib/mhtest/images/vmlinuz
Initrd=/var/lib/mhtest/images/initrd-tick.gz
KernelCommandLine=console=ttyS0 quiet panic=-1 mhtest.poweroff_after=3
Type=qemu
ReadyMarker=GUEST-UP
ReadyTimeoutSec=120
"
printf '%s' "$job" | hx "$h" sh -c 'mkdir -p /etc/mhtest/jobs.d && cat > /etc/mhtest/jobs.d/gs.conf && systemctl daemon-reload' ||
        fail "write the job"
hx "$h" sh -c "mkdir -p ${base%/*} && qemu-img create -q -f raw $base 16M && printf 'mhtest base image\n' | dd of=$base conv=notrunc status=none" ||
        fail "create the base image"
sum0=$(hx "$h" sha256sum "$base" | cut -d' ' -f1)

unit=mhtest-guest@gs:g1.service
dom=mhtest-gs-g1
show() { hx "$h" systemctl show -P "$2" "$1"; }
# wait_for SECONDS DESCRIPTION CMD...: until CMD succeeds (states change asynchronously)
wait_for() {
        local secs=$1 what=$2; shift 2
        local deadline=$((SECONDS + secs))
        until "$@"; do
                if [ $SECONDS -ge $deadline ]; then fail "$what (after $secs s)"; return 1; fi
                sleep 0.5
        done
        pass "$what"
}
journal_has() { # journal_has UNIT TEXT: the unit's messages of this boot mention TEXT
        hx "$h" journalctl -b -q -o cat -u "$1" | grep -qF -- "$2"
}
active_with_domain() {
        [ "$(show "$unit" ActiveState)" = active ] && [ "$(hx "$h" $V domid "$dom" 2>/dev/null | tr -d '[:space:]')" != "" ]
}
nrestarts_at_least() { [ "$(show "$1" NRestarts)" -ge "$2" ] 2>/dev/null; }
qemu_pid() { hx "$h" cat "/run/libvirt/qemu/$dom.pid"; }

# 1. start: READY once the marker is on the console, the disk is an overlay of the base
check "systemctl start $unit (returns at READY=1)" hx "$h" systemctl start "$unit"
check_eq "$unit active" active "$(show "$unit" ActiveState)"
check "ready marker on the console" hx "$h" grep -q GUEST-UP "/var/log/libvirt/qemu/$dom-serial.log"
disk=$(hx "$h" $V domblklist "$dom" | awk '$1 == "vda" {print $2}')
check_eq "libvirt attached the overlay as vda" /var/lib/mhtest/guests/gs/g1/vda.qcow2 "$disk"
backing=$(hx "$h" qemu-img info -U --output=json "$disk" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j.get("backing-filename"), j.get("backing-filename-format"), j["format"])')
check_eq "the overlay is qcow2 backed by the base (raw)" "$base raw qcow2" "$backing"
check "the domain carries mhtest metadata" sh -c "$MHTEST lab exec $h -- $V metadata $dom https://mhtest.example/guest/1 | grep -q 'job=\"gs\"'"

# 2. kill -9 of QEMU: a failure named as such, the unit restarted with a new domain
id1=$(hx "$h" $V domid "$dom" | tr -d '[:space:]')
pid=$(qemu_pid)
check "QEMU pid from libvirt's pidfile ($pid)" test -n "$pid"
hx "$h" kill -9 "$pid"
wait_for 120 "unit restarted after kill -9 of QEMU (NRestarts >= 1)" nrestarts_at_least "$unit" 1
wait_for 120 "unit active again with a domain" active_with_domain
id2=$(hx "$h" $V domid "$dom" | tr -d '[:space:]')
check "a new domain after the restart ($id1 -> $id2)" test "$id1" != "$id2"
check "journal: QEMU exited unexpectedly" journal_has "$unit" "QEMU exited unexpectedly"
check "journal does not say migrated" sh -c "! $MHTEST lab exec $h -- journalctl -b -q -o cat -u $unit | grep -qi migrated"

# 3. kill -9 of the service: the restart adopts the running domain
n=$(show "$unit" NRestarts)
hx "$h" systemctl kill --signal=SIGKILL --kill-who=main "$unit"
wait_for 120 "unit restarted after kill -9 of its main process" nrestarts_at_least "$unit" $((n + 1))
wait_for 60 "unit active again" active_with_domain
check_eq "the same domain runs (adopted, not recreated)" "$id2" "$(hx "$h" $V domid "$dom" | tr -d '[:space:]')"
check "journal: adopting it" journal_has "$unit" "is already running here as $dom (running), adopting it"

# 3b. libvirtd restarted under a running guest: the service fails naming it, systemd restarts
# it, and it adopts the domain QEMU kept running (same id), overlay still in place
n=$(show "$unit" NRestarts)
check "systemctl restart libvirtd" hx "$h" systemctl restart libvirtd.service
wait_for 120 "unit restarted after libvirtd went away" nrestarts_at_least "$unit" $((n + 1))
wait_for 60 "unit active again" active_with_domain
check "journal: libvirtd closed the connection" journal_has "$unit" "libvirtd closed the connection (it exited)"
check_eq "the same domain runs after libvirtd's restart (adopted)" "$id2" "$(hx "$h" $V domid "$dom" | tr -d '[:space:]')"
check "the overlay is still there" hx "$h" test -e /var/lib/mhtest/guests/gs/g1/vda.qcow2

# 4. stop: ACPI power button, not obeyed by the tick guest, destroy after ShutdownTimeoutSec=5
check "systemctl stop $unit" hx "$h" systemctl stop "$unit"
check "journal: no power off within ShutdownTimeoutSec=5s, destroyed" \
        journal_has "$unit" "did not power off within ShutdownTimeoutSec=5s of the ACPI power button, destroying it"
check "journal: stopped: destroyed" journal_has "$unit" "Guest g1 stopped: destroyed"
check_eq "unit inactive (not failed)" inactive "$(show "$unit" ActiveState)"
check_eq "no domain left" "" "$(hx "$h" $V list --all --name | tr -d '[:space:]')"
check "no overlay left" hx "$h" test ! -e /var/lib/mhtest/guests/gs
check_eq "base image unchanged" "$sum0" "$(hx "$h" sha256sum "$base" | cut -d' ' -f1)"

# 5. a running domain with the guest's name but no mhtest metadata is not ours
cat > /tmp/mhtest-foreign-$$.xml <<EOF
<domain type='qemu'><name>$dom</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type><kernel>/var/lib/mhtest/images/vmlinuz</kernel>
<initrd>/var/lib/mhtest/images/initrd-tick.gz</initrd><cmdline>console=ttyS0 quiet</cmdline></os>
<devices><serial type='pty'/><memballoon model='none'/></devices></domain>
EOF
hx "$h" $V create /dev/stdin < /tmp/mhtest-foreign-$$.xml >/dev/null || fail "create a foreign domain"
rm -f /tmp/mhtest-foreign-$$.xml
fid=$(hx "$h" $V domid "$dom" | tr -d '[:space:]')
hx "$h" systemctl reset-failed "$unit" 2>/dev/null
check "systemctl start refuses a foreign domain" sh -c "! $MHTEST lab exec $h -- systemctl start $unit"
check "journal: carries no mhtest metadata" journal_has "$unit" "carries no mhtest metadata"
check_eq "the foreign domain was left running" "$fid" "$(hx "$h" $V domid "$dom" 2>/dev/null | tr -d '[:space:]')"
hx "$h" systemctl stop "$unit" 2>/dev/null
hx "$h" $V destroy "$dom" >/dev/null
hx "$h" systemctl reset-failed "$unit" 2>/dev/null

# 6. a guest that powers off by itself: a failure naming it, restarted
off=mhtest-guest@gs:off.service
check "systemctl start $off" hx "$h" systemctl start "$off"
wait_for 120 "$off restarted after the guest powered off" nrestarts_at_least "$off" 1
check "journal: the guest powered off" journal_has "$off" "Guest off (mhtest-gs-off) failed: the guest powered off"
hx "$h" systemctl stop "$off"
check_eq "no domain left" "" "$(hx "$h" $V list --all --name | tr -d '[:space:]')"
finish
