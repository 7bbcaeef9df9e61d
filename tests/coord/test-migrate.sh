#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mhtest-coord run for real: a 2-host container lab, a busybox guest (Debian cloud kernel)
# started by mhtest-guest@ on host 1 when the coordinator provisions the job, live-migrated
# host1 -> host2 -> host1 (ping-pong, data over direct TCP, control over qemu+tcp) and then
# once more over qemu+ssh. Asserts on what libvirt and the guest say, not on mhtest's files:
# the coordinator's JSON/JUnit results, where the domain runs afterwards, and that the guest's
# serial TICK counter continued across every migration without a gap or a repeat.
set -uo pipefail
. "$MHTEST_SOURCE_ROOT/tests/system/lib.sh"

require_lab_capable
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed"
COORD=${MHTEST_COORD:?}
images=$("$MHTEST_SOURCE_ROOT/tools/build-guest-images.sh") || { say "FAIL: cannot build the test guest"; exit 1; }

LAB=mhcoord
T=$(mktemp -d)
cleanup() {
        lab_down
        rm -rf "$T"
}
trap cleanup EXIT
"$MHTEST" lab down "$LAB" >/dev/null 2>&1
if ! "$MHTEST" lab up --name="$LAB" --hosts=2 --from="$BUILD_ROOT" --images="$images" --quiet; then
        say "FAIL: mhtest lab up"
        exit 1
fi
h1=$LAB-h1
h2=$LAB-h2

job="[Job]
Description=coordinator test: ping-pong live migration
Hosts=$h1 $h2

[Guest g1]
Host=$h1
Memory=256M
Kernel=/var/lib/mhtest/images/vmlinuz
Initrd=/var/lib/mhtest/images/initrd-tick.gz
KernelCommandLine=console=ttyS0 quiet panic=-1
Type=qemu
ReadyMarker=GUEST-UP
ReadyTimeoutSec=120

[Migration pingpong]
Guests=g1
From=$h1
To=$h2
Transport=tcp
Rounds=2
PingPong=yes
MaxDowntime=500ms

[Migration over-ssh]
Guests=g1
From=$h1
To=$h2
Transport=ssh
"
for h in $h1 $h2; do
        printf '%s' "$job" | hx "$h" sh -c 'mkdir -p /etc/mhtest/jobs.d && cat > /etc/mhtest/jobs.d/mig.conf && systemctl daemon-reload' ||
                fail "write the job on $h"
done
mkdir -p "$T/etc/mhtest/jobs.d" "$T/run/mhtest/hosts.d"
printf '%s' "$job" > "$T/etc/mhtest/jobs.d/mig.conf"
cp /run/mhtest/hosts.d/"$LAB"-h*.conf "$T/run/mhtest/hosts.d/"
echo "$LAB-ctl" > "$T/etc/hostname"

# the plan first: it acts on nothing
out=$("$COORD" --root="$T" plan mig) || fail "mhtest-coord plan"
check "plan lists 3 migration phases" grep -q "3. over-ssh round 1/1" <<<"$out"

# libvirt's ssh transport runs "ssh" from PATH: the lab's wrapper carries its key and config
export PATH=/run/mhtest/lab/$LAB/bin:$PATH
ctl "$COORD" --root="$T" run mig --json="$T/result.json" --junit="$T/result.xml" --timeout=300
rc=$?
check_eq "mhtest-coord run exit status" 0 "$rc"
check_eq "result: passed" "true" "$(python3 -c 'import json,sys; print(str(json.load(open(sys.argv[1]))["passed"]).lower())' "$T/result.json" 2>/dev/null)"
check_eq "3 migrations reported" 3 "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["migrations"]))' "$T/result.json" 2>/dev/null)"
check "every migration has data transferred and a downtime" python3 - "$T/result.json" <<'EOP'
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(0 if all(m["data_bytes"] > 0 and m["downtime_ms"] > 0 and m["passed"] for m in r["migrations"]) else 1)
EOP
check "JUnit has 5 testcases (2 hosts + 3 migrations), 0 failures" \
        python3 -c 'import sys,xml.etree.ElementTree as E; s=E.parse(sys.argv[1]).getroot(); sys.exit(0 if s.get("tests")=="5" and s.get("failures")=="0" else 1)' "$T/result.xml"

# the run put the hosts back: no domain left, mhtest@mig inactive everywhere
for h in $h1 $h2; do
        check_eq "no domain left on $h" "" "$(hx "$h" virsh -q -c qemu:///system list --name | tr -d '[:space:]')"
        check_eq "mhtest@mig.service inactive on $h" inactive "$(hx "$h" systemctl is-active mhtest@mig.service)"
done

# the guest kept running: its TICKs across both hosts' serial logs form one gapless sequence
ticks=$(for h in $h1 $h2; do hx "$h" cat /var/log/libvirt/qemu/mhtest-mig-g1-serial.log; done |
        tr -d '\r' | awk '/^TICK/{print $2}' | sort -n | uniq -c | awk '$1 != 1 {dup++} {n[NR]=$2} END {for (i = 2; i <= NR; i++) if (n[i] != n[i-1] + 1) gap++; print NR, gap + 0, dup + 0}')
read -r count gaps dups <<<"$ticks"
check "guest printed ticks (${count:-0})" test "${count:-0}" -gt 3
check_eq "no gap in the guest's tick sequence" 0 "${gaps:-x}"
check_eq "no repeated tick" 0 "${dups:-x}"
finish
