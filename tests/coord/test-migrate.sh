#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mhtest-coord run for real, on one 2-host container lab with busybox guests (Debian cloud
# kernel, a serial TICK counter) that mhtest-guest@ starts when the coordinator provisions a job.
# One job per scenario, each run with --keep so that afterwards the test asks libvirt and
# systemd on both hosts (never the coordinator's report) where each domain runs and which host's
# mhtest-guest@ supervises it, then stops the job itself:
#   ssh       one live migration over qemu+ssh; the JUnit (read with junitparser) against
#             libvirt's completed-job figures (virsh domjobinfo --completed --rawstats)
#   pingpong  3 rounds over qemu+tcp, ending on host 2
#   parallel  two guests at once (a parallel group, as seed 001's mig1/mig2), then the same two
#             back as a synchronized pair: libvirt's incoming QEMUs started together
#   postcopy  Mode=postcopy under a tight bandwidth, switched by the coordinator at 20 % of memory:
#             libvirt's own event on the source says "Suspended Post-copy". QEMU's post-copy
#             destination needs userfaultfd(2): the lab's nspawn allows the call, and for this
#             scenario (the last) the lab hosts' libvirt runs QEMU as root with its capabilities,
#             since this machine's vm.unprivileged_userfaultfd may be 0 and is not ours to change.
# Every guest's ticks across both hosts' serial logs form one gapless sequence.
set -uo pipefail
. "$MHTEST_SOURCE_ROOT/tests/system/lib.sh"

require_lab_capable
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed"
/usr/bin/python3 -c 'import junitparser' 2>/dev/null || skip "python3-junitparser is not installed (tools/install-deps.sh)"
COORD=${MHTEST_COORD:?}
images=$("$MHTEST_SOURCE_ROOT/tools/build-guest-images.sh") || { say "FAIL: cannot build the test guest"; exit 1; }

LAB=mhcoord
T=$(mktemp -d)
watcher=
cleanup() {
        [ -n "$watcher" ] && kill "$watcher" 2>/dev/null
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
mkdir -p "$T/etc/mhtest/jobs.d" "$T/run/mhtest/hosts.d"
cp /run/mhtest/hosts.d/"$LAB"-h*.conf "$T/run/mhtest/hosts.d/"
echo "$LAB-ctl" > "$T/etc/hostname"
# libvirt's ssh transport runs "ssh" from PATH: the lab's wrapper carries its key and config
export PATH=/run/mhtest/lab/$LAB/bin:$PATH

guest() { tick_guest "$1" "$h1"; } # guest NAME: a [Guest] on host 1

write_job() { # write_job JOB TEXT: on both hosts and the controller
        local h
        for h in $h1 $h2; do
                printf '%s' "$2" | hx "$h" sh -c "mkdir -p /etc/mhtest/jobs.d && cat > /etc/mhtest/jobs.d/$1.conf && systemctl daemon-reload" ||
                        fail "write job $1 on $h"
        done
        printf '%s' "$2" > "$T/etc/mhtest/jobs.d/$1.conf"
}

run_job() { # run_job JOB: the coordinator, keeping the job up for the checks
        ctl "$COORD" --root="$T" run "$1" --keep --timeout=300 --json="$T/$1.json" --junit="$T/$1.xml" > "$T/$1.out" 2>&1
        local rc=$?
        sed 's/^/    | /' "$T/$1.out"
        check_eq "mhtest-coord run $1: exit status" 0 "$rc"
}

# where JOB GUEST HOST: libvirt runs the domain on HOST only, and HOST's mhtest-guest@ supervises it
where() {
        local job=$1 g=$2 on=$3 off dom="mhtest-$1-$2" unit="mhtest-guest@$1:$2.service"
        off=$h1
        [ "$on" = "$h1" ] && off=$h2
        check_eq "$job: libvirt runs $g on $on" running "$(hx "$on" virsh -q -c qemu:///system domstate "$dom" 2>&1 | head -1)"
        check_eq "$job: no $g on $off" "" "$(hx "$off" virsh -q -c qemu:///system list --name | grep -x "$dom")"
        check_eq "$job: $unit active on $on" active "$(hx "$on" systemctl is-active "$unit")"
        check "$job: $unit on $on has a main process" \
                test "$(hx "$on" systemctl show -P MainPID "$unit")" != 0
        check_eq "$job: $unit not active on $off" inactive "$(hx "$off" systemctl is-active "$unit")"
}

stop_job() { # the run kept the job: stop it the way the coordinator would
        local h g
        for h in $h1 $h2; do
                for g in "${@:2}"; do hx "$h" systemctl stop "mhtest-guest@$1:$g.service"; done
                hx "$h" systemctl stop "mhtest@$1.service"
        done
}

# gapless JOB GUEST: the ticks of both hosts' serial logs make one sequence, no gap, no repeat
gapless() {
        local ticks count gaps dups
        ticks=$(for h in $h1 $h2; do hx "$h" cat "/var/log/libvirt/qemu/mhtest-$1-$2-serial.log" 2>/dev/null; done |
                tr -d '\r' | awk '/^TICK/{print $2}' | sort -n | uniq -c |
                awk '$1 != 1 {dup++} {n[NR]=$2} END {for (i = 2; i <= NR; i++) if (n[i] != n[i-1] + 1) gap++; print NR, gap + 0, dup + 0}')
        read -r count gaps dups <<<"$ticks"
        check "$1: $2 printed ticks (${count:-0})" test "${count:-0}" -gt 2
        check_eq "$1: no gap in $2's ticks" 0 "${gaps:-x}"
        check_eq "$1: no repeated tick of $2" 0 "${dups:-x}"
}

# ---- ssh: one live migration over qemu+ssh, the report against libvirt's own figures ----
write_job ssh "[Job]
Hosts=$h1 $h2

$(guest g1)
[Migration over-ssh]
Guests=g1
From=$h1
To=$h2
Transport=ssh
MaxDowntime=300ms
MaxDowntimeLimit=30s
"
out=$("$COORD" --root="$T" plan ssh) || fail "mhtest-coord plan ssh"
check "plan lists the migration" grep -q "1. over-ssh round 1/1" <<<"$out"
run_job ssh
where ssh g1 "$h2"
hx "$h2" virsh -c qemu:///system domjobinfo --completed --keep-completed --rawstats mhtest-ssh-g1 > "$T/ssh.jobinfo"
check "ssh: JUnit (junitparser) agrees with libvirt's completed job" /usr/bin/python3 - "$T/ssh.xml" "$T/ssh.jobinfo" <<'EOP'
import re, sys
from junitparser import JUnitXml
suite = JUnitXml.fromfile(sys.argv[1])
raw = dict(re.findall(r'^\s*(\w+)\s*:\s*(\S+)', open(sys.argv[2]).read(), re.M))
cases = list(suite)
mig = [c for c in cases if c.classname == 'migration.over-ssh']
assert suite.tests == 3 and suite.failures == 0, (suite.tests, suite.failures)
assert len(mig) == 1 and not mig[0].result, mig
kv = dict(l.split('=', 1) for l in mig[0].system_out.strip().splitlines())
for k in ('downtime', 'time_elapsed', 'data_processed', 'memory_processed', 'memory_total', 'setup_time',
          'memory_iteration', 'memory_dirty_rate'):
    assert kv.get(k) == raw.get(k), (k, kv.get(k), raw.get(k))
assert int(kv['data_processed']) > 0 and kv['from'].endswith('-h1') and kv['to'].endswith('-h2'), kv
print('  junit and libvirt: downtime %s ms, total %s ms, %s bytes, %s passes' %
      (kv['downtime'], kv['time_elapsed'], kv['data_processed'], kv['memory_iteration']))
EOP
stop_job ssh g1
gapless ssh g1

# ---- pingpong: 3 rounds over qemu+tcp, data over direct TCP ----
write_job pp "[Job]
Hosts=$h1 $h2

$(guest g1)
[Migration pingpong]
Guests=g1
From=$h1
To=$h2
Transport=tcp
Rounds=3
PingPong=yes
"
run_job pp
check_eq "pp: 3 migrations passed" "3 3" "$(/usr/bin/python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["migrations"]; print(len(m), sum(x["passed"] for x in m))' "$T/pp.json")"
check_eq "pp: directions h1>h2, h2>h1, h1>h2" "$h1>$h2 $h2>$h1 $h1>$h2" \
        "$(/usr/bin/python3 -c 'import json,sys; print(" ".join(x["from"]+">"+x["to"] for x in json.load(open(sys.argv[1]))["migrations"]))' "$T/pp.json")"
where pp g1 "$h2"
stop_job pp g1
gapless pp g1

# ---- parallel: two guests at once, then back as a synchronized pair ----
write_job par "[Job]
Hosts=$h1 $h2

$(guest g1)
$(guest g2)
[Migration mig1]
Guests=g1
From=$h1
To=$h2
Transport=tcp
ParallelGroup=grp

[Migration mig2]
Guests=g2
From=$h1
To=$h2
Transport=tcp
ParallelGroup=grp

[Migration back]
Guests=g1 g2
From=$h2
To=$h1
Transport=tcp
Synchronized=yes
"
out=$("$COORD" --root="$T" plan par) || fail "mhtest-coord plan par"
check "plan: mig1 and mig2 in one phase" grep -q "1. grp round 1/1 (in parallel)" <<<"$out"
run_job par
where par g1 "$h1"
where par g2 "$h1"
# libvirt's own record: each incoming QEMU's start in the destination's domain log
starts() { # starts HOST DOMAIN: epoch seconds of each "starting up" in libvirt's log of the domain
        hx "$1" cat "/var/log/libvirt/qemu/$2.log" | awk '/starting up/ {sub(/:$/, "", $2); print $1 " " $2}' |
                while read -r t; do date -d "$t" +%s.%N; done
}
g1h2=$(starts "$h2" mhtest-par-g1 | tail -1) g2h2=$(starts "$h2" mhtest-par-g2 | tail -1)
g1h1=$(starts "$h1" mhtest-par-g1 | tail -1) g2h1=$(starts "$h1" mhtest-par-g2 | tail -1)
check "par: libvirt started both incoming guests on $h2 within 2 s of each other ($g1h2 $g2h2)" \
        awk -v a="${g1h2:-0}" -v b="${g2h2:-1000}" 'BEGIN {d = a - b; exit !(d < 2 && d > -2)}'
check "par: the synchronized pair's incoming guests on $h1 started within 2 s ($g1h1 $g2h1)" \
        awk -v a="${g1h1:-0}" -v b="${g2h1:-1000}" 'BEGIN {d = a - b; exit !(d < 2 && d > -2)}'
stop_job par g1 g2
gapless par g1
gapless par g2

# ---- postcopy: a bandwidth that keeps pre-copy busy; the coordinator switches at 20 % ----
for h in $h1 $h2; do
        hx "$h" sh -c 'printf "user = \"root\"\ngroup = \"root\"\nclear_emulator_capabilities = 0\n" >> /etc/libvirt/qemu.conf &&
                systemctl restart libvirtd.service' || fail "$h: libvirtd with QEMU as root"
done
write_job post "[Job]
Hosts=$h1 $h2

$(guest g1)
[Migration post]
Guests=g1
From=$h1
To=$h2
Transport=tcp
Mode=postcopy
Bandwidth=16M
PostcopyAfterPercent=20
"
# libvirt's lifecycle events on the source (every domain: this one does not exist yet)
hx "$h1" stdbuf -oL virsh -c qemu:///system event --event lifecycle --loop \
        --timeout 300 > "$T/post.events" 2>&1 &
watcher=$!
run_job post
kill "$watcher" 2>/dev/null
wait "$watcher" 2>/dev/null
watcher=
sed 's/^/    | /' "$T/post.events"
check "post: libvirt on $h1 reported the switch (event Suspended Post-copy)" grep -q "domain 'mhtest-post-g1': Suspended Post-copy" "$T/post.events"
check_eq "post: the report says post-copy" true \
        "$(/usr/bin/python3 -c 'import json,sys; print(str(json.load(open(sys.argv[1]))["migrations"][0]["postcopy"]).lower())' "$T/post.json")"
where post g1 "$h2"
stop_job post g1
gapless post g1

# nothing left: no domain, no job unit
for h in $h1 $h2; do
        check_eq "no domain left on $h" "" "$(hx "$h" virsh -q -c qemu:///system list --all --name | tr -d '[:space:]')"
done
finish
