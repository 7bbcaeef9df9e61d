#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# VM groups (seed 003, LAVA vm_group) in one container lab host, for real (systemd, libvirtd,
# QEMU TCG, the busybox tick guest). Asserts on what systemd, libvirt and the processes say:
# - [Guest vm] Count=2 AutoStart=no Role=vm: after "systemctl start mhtest@grp" neither
#   instance's unit runs and libvirt has no domain of them; "mhtest vms wait" fails naming them;
# - "mhtest vms start grp vm" + "mhtest vms wait grp vm": both units active (READY), both
#   domains running with the ready marker on their consoles;
# - "mhtest status grp --json" lists them with unit and domain state and console lines;
# - [Guest raw] Launcher= (a qemu-system-x86_64 argv with the tick kernel, console on stdout)
#   reaches READY as a child of the unit's main process;
# - "systemctl stop mhtest@grp" stops every guest: no domain and no QEMU process left.
set -uo pipefail
. "$MHTEST_SOURCE_ROOT/tests/system/lib.sh"

require_lab_capable
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed"
images=$("$MHTEST_SOURCE_ROOT/tools/build-guest-images.sh") || { say "FAIL: cannot build the test guest"; exit 1; }

LAB=mhvms
h=$LAB-h1
trap lab_down EXIT
"$MHTEST" lab down "$LAB" >/dev/null 2>&1
t0=$SECONDS
if ! "$MHTEST" lab up --name="$LAB" --hosts=1 ${BUILD_ROOT:+--from="$BUILD_ROOT"} --images="$images" --quiet; then
        say "FAIL: mhtest lab up"
        exit 1
fi
say "lab up in $((SECONDS - t0)) s"

V="virsh -q -c qemu:///system"
img=/var/lib/mhtest/images
job="[Job]
Description=VM group test

[Guest vm]
Memory=256M
Kernel=$img/vmlinuz
Initrd=$img/initrd-tick.gz
KernelCommandLine=console=ttyS0 quiet panic=-1
Type=qemu
Role=vm
Count=2
AutoStart=no
ReadyMarker=GUEST-UP
ReadyTimeoutSec=240
ShutdownTimeoutSec=5

[Guest raw]
Role=raw
AutoStart=no
Launcher=qemu-system-x86_64 -nodefaults -display none -machine pc -accel tcg -m 256 -kernel $img/vmlinuz -initrd $img/initrd-tick.gz -append \"console=ttyS0 quiet panic=-1\" -serial stdio -no-reboot
ReadyMarker=GUEST-UP
ReadyTimeoutSec=240
"
printf '%s' "$job" | hx "$h" sh -c 'mkdir -p /etc/mhtest/jobs.d && cat > /etc/mhtest/jobs.d/grp.conf && systemctl daemon-reload' ||
        fail "write the job"

unit_state() { hx "$h" systemctl show -P ActiveState "mhtest-guest@grp:$1.service"; }
domains() { hx "$h" $V list --all --name | tr -d '\r' | grep -v '^$' | sort | tr '\n' ' '; }
# the processes whose executable is QEMU (not their command line: this shell's own matches it)
qemus() { hx "$h" sh -c 'for p in /proc/[0-9]*; do case $(readlink $p/exe) in */qemu-system-x86_64) echo ${p#/proc/};; esac; done' | tr '\n' ' '; }

# before the job: vms start refuses, naming the job unit
out=$(hx "$h" mhtest vms start grp vm 2>&1); rc=$?
check "vms start before the job is started fails" test "$rc" -ne 0
check "... saying the job is not started" grep -q "is not started on this host" <<<"$out"

check "systemctl start mhtest@grp" hx "$h" systemctl start mhtest@grp.service
for i in vm-1 vm-2 raw; do
        check_eq "$i not started by the job (systemd)" inactive "$(unit_state "$i")"
done
check_eq "no domain after the job's start (libvirt)" "" "$(domains)"
check_eq "no QEMU after the job's start" "" "$(qemus)"
out=$(hx "$h" mhtest vms wait grp vm --timeout=10 2>&1); rc=$?
check "vms wait before vms start fails" test "$rc" -ne 0
check "... naming an instance's unit" grep -q "mhtest-guest@grp:vm-1.service" <<<"$out"

t0=$SECONDS
check "mhtest vms start grp vm" hx "$h" mhtest vms start grp vm
check "mhtest vms wait grp vm" hx "$h" mhtest vms wait grp vm --timeout=300
say "vm-1 and vm-2 ready $((SECONDS - t0)) s after vms start"
for i in 1 2; do
        check_eq "vm-$i unit active" active "$(unit_state vm-$i)"
        check_eq "domain mhtest-grp-vm-$i running" running "$(hx "$h" $V domstate mhtest-grp-vm-$i | tr -d '\r' | head -1)"
        check "vm-$i console has the ready marker" hx "$h" grep -q GUEST-UP /var/log/libvirt/qemu/mhtest-grp-vm-$i-serial.log
done
check_eq "raw (another role) not started by vms start grp vm" inactive "$(unit_state raw)"

hx "$h" mhtest status grp --json > "${TMPDIR:-/tmp}/mhvms-status.$$" 2>/dev/null
check "status --json: both instances with unit active, domain running, host and console lines" python3 - "$h" "${TMPDIR:-/tmp}/mhvms-status.$$" <<'EOP'
import json, sys
host, path = sys.argv[1], sys.argv[2]
g = {x["guest"]: x for x in json.load(open(path))["guests"]}
ok = True
for n in ("vm-1", "vm-2"):
    x = g.get(n)
    good = x is not None and x["unit_state"] == "active" and x["domain_state"] == "running" \
        and x["host"] == host and x["domain"] == "mhtest-grp-" + n and x["role"] == "vm" \
        and x["console"] is not None and ("TICK" in x["console"] or "GUEST-UP" in x["console"])
    if not good:
        print("guest", n, x)
        ok = False
x = g.get("raw")
if not x or x["launcher"] is not True or x["domain"] is not None or x["unit_state"] != "inactive":
    print("guest raw", x)
    ok = False
sys.exit(0 if ok else 1)
EOP
rm -f "${TMPDIR:-/tmp}/mhvms-status.$$"

# Launcher=: QEMU as the child of the unit's main process, ready by the marker on its stdout
t0=$SECONDS
check "mhtest vms start grp raw" hx "$h" mhtest vms start grp raw
check "mhtest vms wait grp raw" hx "$h" mhtest vms wait grp raw --timeout=300
say "raw ready $((SECONDS - t0)) s after vms start"
check_eq "raw unit active" active "$(unit_state raw)"
main=$(hx "$h" systemctl show -P MainPID mhtest-guest@grp:raw.service | tr -d '\r')
child=$(hx "$h" sh -c "ps -o comm= --ppid $main" | tr -d '\r')
check_eq "raw's QEMU is the child of the unit's main process ($main)" qemu-system-x86 "${child:0:15}"
check "raw's console log has the marker" hx "$h" grep -q GUEST-UP /var/log/mhtest/mhtest-grp-raw-console.log
check "vms wait with no role (every AutoStart=no guest) is satisfied" hx "$h" mhtest vms wait grp --timeout=30
check_eq "three QEMUs (two libvirt, one Launcher=)" 3 "$(qemus | wc -w)"

t0=$SECONDS
check "systemctl stop mhtest@grp" hx "$h" systemctl stop mhtest@grp.service
say "stop returned after $((SECONDS - t0)) s"
for i in vm-1 vm-2 raw; do
        s=$(unit_state "$i")
        check "$i stopped with the job ($s)" test "$s" = inactive
done
check_eq "no domain left" "" "$(domains)"
check_eq "no QEMU process left" "" "$(qemus)"
finish
