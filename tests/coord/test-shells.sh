#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mhtest-coord's test shells with LAVA's multinode API, for real: a 3-host container lab (one
# boot), LAVA's own helper scripts from Debian's lava-dispatcher package (unchanged), Debian's
# lava-coordinator started by mhtest-coord in the lab's controller namespace, each host shell a
# transient unit ("ssh HOST systemd-run --pipe --wait"). Run 1: a server and two clients exchange
# a value (lava-send/lava-wait), lava-wait-all by role and for the whole group across 3 hosts,
# meet at lava-sync; an After= shell on every host asks systemd that the first shells' units
# have ended. Run 2: a wrong value fails the run, a shell that runs past TimeoutSec= fails its
# testcase (systemd's result: timeout) while the others still end. Run 3: a busybox guest
# migrated h1 -> h2 by a [Migration] with WaitFor=go: the destination's shell sees no domain
# before the source's shell sends "go", both lava-wait for mhtest-migrated-NAME and its
# statistics, the source's QEMU process has left h1, and the guest's tick loop (a process
# started at boot) goes on counting on h2; a shell with After=mig starts on h2 once the
# migration has ended (the guest is there) and gets mhtest-migrated-mig in its own group. After each run: no lava-coordinator, no shell
# process, no transient unit, no scripts left. Run 4: LAVA's lava-start-vms and lava-wait-for-vms
# in a host shell start and await an AutoStart=no guest (mhtest vms start|wait). Run 5: SIGTERM
# while a migration waits for its WaitFor= message ends the run at once, the shells and the job
# stopped. Boots QEMU: run under flock /tmp/mhtest-qemu.lock.
set -uo pipefail
. "$MHTEST_SOURCE_ROOT/tests/system/lib.sh"

require_lab_capable
COORD=${MHTEST_COORD:?}
command -v lava-coordinator >/dev/null || skip "lava-coordinator is not installed (apt-get install lava-coordinator)"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed"
scripts=$("$MHTEST_SOURCE_ROOT/tools/lava-scripts.sh") || { say "FAIL: cannot unpack LAVA's scripts from lava-dispatcher"; exit 1; }
images=$("$MHTEST_SOURCE_ROOT/tools/build-guest-images.sh") || { say "FAIL: cannot build the test guest"; exit 1; }

lab_up mhshells 3 --images="$images"
T=$(mktemp -d)
coord_pid=
trap '[ -n "$coord_pid" ] && kill "$coord_pid" 2>/dev/null; lab_down; rm -rf "$T"' EXIT
h1=$LAB-h1
h2=$LAB-h2
h3=$LAB-h3
mkdir -p "$T/etc/mhtest/jobs.d" "$T/run/mhtest/hosts.d"
cp /run/mhtest/hosts.d/"$LAB"-h*.conf "$T/run/mhtest/hosts.d/"
echo "$LAB-ctl" > "$T/etc/hostname"

install_job() { # install_job NAME CONTENT: on every host and the controller's tree
        for h in $h1 $h2 $h3; do
                printf '%s' "$2" | hx "$h" sh -c "mkdir -p /etc/mhtest/jobs.d && cat > /etc/mhtest/jobs.d/$1.conf && systemctl daemon-reload" ||
                        fail "write job $1 on $h"
        done
        printf '%s' "$2" > "$T/etc/mhtest/jobs.d/$1.conf"
}

coordinator_processes() { # lava-coordinators in the lab's controller namespace or started by mhtest-coord
        local p ns
        ns="net:[$(stat -L -c %i "/run/netns/$LAB-ctl")]"
        for p in $(pgrep -f '^/usr/bin/python3 /usr/bin/lava-coordinator'); do
                if [ "$(readlink "/proc/$p/ns/net")" = "$ns" ] || grep -q 'mhtest-lava-' "/proc/$p/cmdline" 2>/dev/null; then
                        printf '%s ' "$p"
                fi
        done
}

nothing_left() { # nothing_left JOB: no transient unit, shell or script left anywhere
        local h
        check_eq "$1: no lava-coordinator left" "" "$(coordinator_processes)"
        for h in $h1 $h2 $h3; do
                check_eq "$1: no mhtest-test-* unit left on $h" "" \
                        "$(hx "$h" systemctl list-units --all --no-legend --plain 'mhtest-test-*' | tr -d '[:space:]')"
                check_eq "$1: no shell process left on $h" "" "$(hx "$h" pgrep -f '[l]ava-|[s]leep 600' | tr '\n' ' ')"
                check_eq "$1: no LAVA scripts left on $h" "" "$(hx "$h" ls -A /run/mhtest/lava 2>/dev/null | tr -d '[:space:]')"
        done
}

result() { # result FILE PYTHON-EXPRESSION over r (the JSON result)
        python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null
}

check_eq "no lava-coordinator before the runs" "" "$(coordinator_processes)"

# ---- run 1: everything passes ----
server="set -e; lava-send ready port=4242; lava-wait-all hello client; grep -q \"client@$h2:from=client@$h2\" \$LAVA_MULTI_NODE_CACHE; lava-send hello from=\$(lava-self); lava-wait-all hello; test \$(grep -o :from= \$LAVA_MULTI_NODE_CACHE | wc -l) = 3; lava-sync done; lava-test-case exchange --result pass"
client="set -e; test \$(lava-role) = client; lava-wait ready; grep -qx \"server@$h1:port=4242\" \$LAVA_MULTI_NODE_CACHE; lava-send hello from=\$(lava-self); lava-wait-all hello; test \$(grep -o :from= \$LAVA_MULTI_NODE_CACHE | wc -l) = 3; lava-sync done"
after="set -e; for u in server client; do if systemctl -q is-active mhtest-test-lava-\$u.service; then echo \"\$u still active\"; exit 1; fi; done; lava-test-case first-shells-ended --result pass"
install_job lava "[Job]
Description=LAVA multinode test shells
Hosts=$h1 $h2 $h3

[Test server]
Host=$h1
Role=server
Exec=sh -c '$server'
TimeoutSec=120

[Test client]
Host=$h2 $h3
Role=client
Exec=sh -c '$client'
TimeoutSec=120

[Test after]
Host=$h1 $h2 $h3
After=server client
Exec=sh -c '$after'
TimeoutSec=60
"
out=$("$COORD" --root="$T" plan lava) || fail "mhtest-coord plan lava"
check "plan lists the After= shell" grep -q "after on $h1, role after (after server client)" <<<"$out"

export PATH=/run/mhtest/lab/$LAB/bin:$PATH
ctl "$COORD" --root="$T" --lava-scripts="$scripts" run lava --json="$T/r1.json" --junit="$T/r1.xml" > "$T/r1.out" 2>&1
rc=$?
check_eq "run 1: mhtest-coord exit status" 0 "$rc"
[ "$rc" = 0 ] || tail -n 60 "$T/r1.out"
check_eq "run 1: 6 shells reported" 6 "$(result "$T/r1.json" 'len(r["tests"])')"
check_eq "run 1: every shell passed with exit status 0" True \
        "$(result "$T/r1.json" 'len(r["tests"]) == 6 and all(t["passed"] and t["exit_status"] == 0 for t in r["tests"])')"
check_eq "run 1: lava-test-case lines became testcases" "['exchange', 'first-shells-ended', 'first-shells-ended', 'first-shells-ended']" \
        "$(result "$T/r1.json" 'sorted(c["name"] for t in r["tests"] for c in t["testcases"] if not c["name"].startswith("multinode-"))')"
check_eq "run 1: the server's calls were answered as LAVA records them" \
        "['multinode-send-ready', 'multinode-wait_all-hello', 'multinode-send-hello', 'multinode-wait_all-hello', 'multinode-sync-done']" \
        "$(result "$T/r1.json" '[c["name"] for t in r["tests"] if t["test"] == "server" for c in t["testcases"] if c["name"].startswith("multinode-")]')"
check_eq "run 1: systemd ran each shell to a clean exit" "['success']" \
        "$(result "$T/r1.json" 'sorted(set(t.get("systemd_result") for t in r["tests"]))')"
check "run 1: JUnit counts the shells and their testcases, 0 failures" \
        python3 -c 'import sys,xml.etree.ElementTree as E; s=E.parse(sys.argv[1]).getroot(); c=[x for x in s.iter("testcase") if x.get("classname","").startswith("test.")]; sys.exit(0 if len(c) >= 6 + 4 and s.get("failures")=="0" else 1)' "$T/r1.xml"
nothing_left "run 1"

# ---- run 2: a wrong value and a timeout ----
client_wrong="set -e; lava-wait ready; grep -qx \"server@$h1:port=4243\" \$LAVA_MULTI_NODE_CACHE"
install_job lavafail "[Job]
Hosts=$h1 $h2 $h3

[Test server]
Host=$h1
Exec=sh -c 'lava-send ready port=4242'

[Test client]
Host=$h2
Exec=sh -c '$client_wrong'
TimeoutSec=120

[Test sleeper]
Host=$h3
Exec=sleep 600
TimeoutSec=5
"
t0=$SECONDS
ctl "$COORD" --root="$T" --lava-scripts="$scripts" run lavafail --json="$T/r2.json" --junit="$T/r2.xml" > "$T/r2.out" 2>&1
rc=$?
check_eq "run 2: mhtest-coord exit status" 1 "$rc"
check "run 2: ended long before the sleeper's sleep would ($((SECONDS - t0)) s)" test $((SECONDS - t0)) -lt 300
check_eq "run 2: the server passed" True "$(result "$T/r2.json" '[t["passed"] for t in r["tests"] if t["test"] == "server"][0]')"
check_eq "run 2: the client got 4242, not 4243, and failed" "False 1" \
        "$(result "$T/r2.json" '" ".join(str(x) for t in r["tests"] if t["test"] == "client" for x in (t["passed"], t["exit_status"]))')"
check_eq "run 2: systemd stopped the sleeper at TimeoutSec=" "timeout True False" \
        "$(result "$T/r2.json" '" ".join(str(x) for t in r["tests"] if t["test"] == "sleeper" for x in (t.get("systemd_result"), t["timed_out"], t["passed"]))')"
check "run 2: JUnit has the failures of the client and the sleeper" \
        python3 -c 'import sys,xml.etree.ElementTree as E; s=E.parse(sys.argv[1]).getroot(); f=[x.get("name") for x in s.iter("testcase") if x.find("failure") is not None]; sys.exit(0 if any(n.startswith("client on") for n in f) and any(n.startswith("sleeper on") for n in f) else 1)' "$T/r2.xml"
nothing_left "run 2"

# ---- run 3: a migration waits for a shell's message; shells wait for mhtest-migrated-NAME ----
dom=mhtest-shmig-g1
log=/var/log/libvirt/qemu/$dom-serial.log
src="set -e; pid=\$(pgrep -o -f [g]uest=$dom); virsh -q -c qemu:///system domstate $dom | grep -qx running; grep -q TICK $log; lava-wait dst-ready; lava-send go; lava-wait mhtest-migrated-mig; grep -q mhtest-coord:passed=true \$LAVA_MULTI_NODE_CACHE; grep -q mhtest-coord:to=$h2 \$LAVA_MULTI_NODE_CACHE; timeout 60 sh -c \"while kill -0 \$pid 2>/dev/null; do sleep 0.2; done\" || { echo QEMU still runs on the source; exit 1; }"
dst="set -e; if virsh -q -c qemu:///system list --name | grep -qx $dom; then echo the guest is here before go; exit 1; fi; lava-send dst-ready; lava-wait mhtest-migrated-mig; grep -q mhtest-coord:downtime= \$LAVA_MULTI_NODE_CACHE; virsh -q -c qemu:///system domstate $dom | grep -qx running; timeout 60 sh -c \"until grep -q TICK $log; do sleep 0.2; done\"; first=\$(grep -m1 -o \"TICK [0-9]*\" $log | cut -d\" \" -f2); echo first tick on the destination: \$first; test \$first -gt 3"
aftermig="set -e; virsh -q -c qemu:///system domstate $dom | grep -qx running; lava-wait mhtest-migrated-mig; grep -q mhtest-coord:migration=mig \$LAVA_MULTI_NODE_CACHE; grep -q mhtest-coord:passed=true \$LAVA_MULTI_NODE_CACHE; lava-test-case started-after-migration --result pass"
install_job shmig "[Job]
Hosts=$h1 $h2

$(tick_guest g1 "$h1")
[Migration mig]
Guests=g1
From=$h1
To=$h2
Transport=tcp
WaitFor=go
TimeoutSec=120

[Test src]
Host=$h1
Exec=sh -c '$src'
TimeoutSec=180

[Test dst]
Host=$h2
Exec=sh -c '$dst'
TimeoutSec=180

[Test aftermig]
Host=$h2
After=mig
Exec=sh -c '$aftermig'
TimeoutSec=60
"
ctl "$COORD" --root="$T" --lava-scripts="$scripts" run shmig --json="$T/r3.json" > "$T/r3.out" 2>&1
rc=$?
check_eq "run 3: mhtest-coord exit status" 0 "$rc"
[ "$rc" = 0 ] || tail -n 60 "$T/r3.out"
check_eq "run 3: the migration passed" True "$(result "$T/r3.json" 'len(r["migrations"]) == 1 and r["migrations"][0]["passed"]')"
check_eq "run 3: the three shells passed" "[True, True, True]" "$(result "$T/r3.json" '[t["passed"] for t in r["tests"]]')"
check_eq "run 3: the After=mig shell started where the guest had arrived and got mhtest-migrated-mig" \
        "['multinode-wait-mhtest-migrated-mig', 'started-after-migration']" \
        "$(result "$T/r3.json" '[c["name"] for t in r["tests"] if t["test"] == "aftermig" for c in t["testcases"] if c["result"] == "pass"]')"
check "run 3: summary counts migrations and tests" grep -q "^shmig: 1 migration(s), [0-9]* test(s) (0 failed), all passed$" "$T/r3.out"
check_eq "run 3: no domain left on $h2" "" "$(hx "$h2" virsh -q -c qemu:///system list --name | tr -d '[:space:]')"
nothing_left "run 3"

# ---- run 4: lava-start-vms / lava-wait-for-vms in a host shell start and await AutoStart=no guests ----
vms="set -e; if virsh -q -c qemu:///system list --name | grep -q shvms; then echo a guest runs before lava-start-vms; exit 1; fi; lava-start-vms; lava-wait-for-vms; virsh -q -c qemu:///system list --name | grep -q shvms; lava-test-case vm-running --result pass"
install_job shvms "[Job]
Hosts=$h1 $h2

$(tick_guest g2 "$h1" AutoStart=no)

[Test vmhost]
Host=$h1
Exec=sh -c '$vms'
TimeoutSec=240
"
ctl "$COORD" --root="$T" --lava-scripts="$scripts" run shvms --json="$T/r4.json" > "$T/r4.out" 2>&1
rc=$?
check_eq "run 4: mhtest-coord exit status" 0 "$rc"
[ "$rc" = 0 ] || tail -n 60 "$T/r4.out"
check_eq "run 4: mhtest vms start and wait ran for the shell's lava-start-vms and lava-wait-for-vms" \
        "['mhtest-vms-start', 'multinode-send-lava_vm_start', 'mhtest-vms-wait', 'multinode-send-lava_vm_stop', 'multinode-wait_all-lava_vm_stop', 'vm-running']" \
        "$(result "$T/r4.json" '[c["name"] for t in r["tests"] for c in t["testcases"] if c["result"] == "pass"]')"
check_eq "run 4: no domain left on $h1" "" "$(hx "$h1" virsh -q -c qemu:///system list --name | tr -d '[:space:]')"
nothing_left "run 4"

# ---- run 5: SIGTERM while a migration waits for its WaitFor= message (TimeoutSec=600) ----
install_job shint "[Job]
Hosts=$h1 $h2

$(tick_guest g1 "$h1")
[Migration mig]
Guests=g1
From=$h1
To=$h2
Transport=tcp
WaitFor=never-sent
TimeoutSec=600

[Test idle]
Host=$h1
Exec=sleep 600
TimeoutSec=600
"
# not through ctl(): $! must be mhtest-coord itself ("lab exec" execs it), not a subshell
"$MHTEST" lab exec "$LAB-ctl" -- "$COORD" --root="$T" --lava-scripts="$scripts" run shint --json="$T/r5.json" > "$T/r5.out" 2>&1 &
coord_pid=$!
wait_until "run 5: the migration waits for never-sent" grep -q "waits for never-sent (WaitFor=)" "$T/r5.out"
kill -TERM "$coord_pid"
wait_until "run 5: mhtest-coord ended after SIGTERM (not at TimeoutSec=600)" eval '! kill -0 "$coord_pid" 2>/dev/null'
wait "$coord_pid"
rc=$?
coord_pid=
check "run 5: the run failed (exit $rc)" test "$rc" -ne 0
[ "$rc" != 0 ] || tail -n 60 "$T/r5.out"
check_eq "run 5: the report says the run was interrupted" True "$(result "$T/r5.json" 'r["interrupted"]')"
check_eq "run 5: the migration was not started, interrupted while it waited" \
        "not started: the run was interrupted while waiting for never-sent (WaitFor=)" \
        "$(result "$T/r5.json" 'r["migrations"][0]["error"]')"
check_eq "run 5: the idle shell did not pass" False "$(result "$T/r5.json" 'r["tests"][0]["passed"]')"
for h in $h1 $h2; do
        check_eq "run 5: no domain left on $h" "" "$(hx "$h" virsh -q -c qemu:///system list --name | tr -d '[:space:]')"
done
nothing_left "run 5"
finish
