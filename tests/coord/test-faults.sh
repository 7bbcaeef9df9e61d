#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mhtest-coord when things go wrong, on one 2-host container lab:
# - refused by the preflight, with nothing started on any host (asked of systemd on both hosts):
#   the job differs on one host (named, with both hashes), a host's sshd down, a host's libvirtd
#   down;
# - a guest CPU model the destination cannot run (AVX-512 under TCG): refused by the preflight
#   with libvirt's list of missing features, nothing started;
# - a host whose job fails to start: the coordinator names host, unit and the journal lines;
# - the hand-over after a migration: libvirt has the domain on the destination only, the source's
#   mhtest-guest@ ended with result success, the destination's is active;
# - the destination's QEMU killed during a migration: the guest still runs on the source,
#   supervised there, and the report says so with libvirt's error;
# - SIGTERM to mhtest-coord during a migration: the migration aborted, the guest running and
#   supervised on one host, the report names it.
# Migrations slow enough to interrupt come from a bandwidth limit; the test waits on libvirt's
# migration-iteration event, never on a sleep.
set -uo pipefail
. "$MHTEST_SOURCE_ROOT/tests/system/lib.sh"

require_lab_capable
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed"
COORD=${MHTEST_COORD:?}
images=$("$MHTEST_SOURCE_ROOT/tools/build-guest-images.sh") || { say "FAIL: cannot build the test guest"; exit 1; }

LAB=mhfault
T=$(mktemp -d)
bg_pids=()
cleanup() {
        for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; done
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
export PATH=/run/mhtest/lab/$LAB/bin:$PATH

guest=$(tick_guest g1 "$h1")
jobs=(flt slow bad cpu)
job_flt="[Job]
Description=coordinator faults: one migration
Hosts=$h1 $h2

$guest
[Migration one]
Guests=g1
From=$h1
To=$h2
Transport=tcp
"
# 2 MiB/s: a 256 MiB idle guest sends ~90 MiB, so this migration lasts long enough to interrupt
job_slow="[Job]
Description=coordinator faults: a slow migration
Hosts=$h1 $h2

$guest
[Migration slow]
Guests=g1
From=$h1
To=$h2
Transport=tcp
Bandwidth=2M
TimeoutSec=600
"
# a CPU model with AVX-512, which QEMU's TCG does not emulate (type qemu: what these hosts run)
job_cpu="[Job]
Description=coordinator faults: a guest CPU the destination cannot run
Hosts=$h1 $h2

$(tick_guest g1 "$h1" CPUModel=Skylake-Server)
[Migration one]
Guests=g1
From=$h1
To=$h2
Transport=tcp
"
job_bad="[Job]
Description=coordinator faults: a guest that cannot start
Hosts=$h1 $h2

${guest//initrd-tick.gz/no-such-initrd.gz}
"
mkdir -p "$T/etc/mhtest/jobs.d" "$T/run/mhtest/hosts.d"
cp /run/mhtest/hosts.d/"$LAB"-h*.conf "$T/run/mhtest/hosts.d/"
echo "$LAB-ctl" > "$T/etc/hostname"
for job in "${jobs[@]}"; do
        var=job_$job
        printf '%s' "${!var}" > "$T/etc/mhtest/jobs.d/$job.conf"
        for h in $h1 $h2; do
                printf '%s' "${!var}" | hx "$h" sh -c "mkdir -p /etc/mhtest/jobs.d && cat > /etc/mhtest/jobs.d/$job.conf" ||
                        fail "write job $job on $h"
        done
done
for h in $h1 $h2; do hx "$h" systemctl daemon-reload; done

coord() { # coord ARGS...: mhtest-coord in the lab's controller namespace; output in $T/out
        ctl "$COORD" --root="$T" "$@" >"$T/out" 2>&1
}
show() { sed 's/^/    | /' "$T/out"; }
json() { # json FILE PYTHON-EXPRESSION-ON-r
        python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@" 2>/dev/null
}
# systemd's own record: a unit never left "inactive" since the host booted
never_started() { # never_started JOB
        local h u
        for h in $h1 $h2; do
                for u in "mhtest@$1.service" "mhtest-guest@$1:g1.service"; do
                        check_eq "$u never started on $h" 0 "$(hx "$h" systemctl show -P InactiveExitTimestampMonotonic "$u")"
                done
        done
}
stop_job() { # stop_job JOB: what mhtest-coord does at the end of a run, after a --keep run
        local h
        for h in $h1 $h2; do
                hx "$h" systemctl stop "mhtest-guest@$1:g1.service" "mhtest@$1.service"
                hx "$h" systemctl reset-failed "mhtest*" 2>/dev/null
        done
}
domstate() { # domstate HOST DOMAIN: libvirt's word, "absent" if it has no such domain
        hx "$1" virsh -q -c qemu:///system domstate "$2" 2>/dev/null | tr -d '[:space:]' || true
}
where_is() { # where_is JOB: "HOST:libvirt-state:unit-state" for each host where libvirt has the domain
        local h s
        for h in $h1 $h2; do
                s=$(domstate "$h" "mhtest-$1-g1")
                [ -n "$s" ] && printf '%s:%s:%s ' "$h" "$s" "$(hx "$h" systemctl is-active "mhtest-guest@$1:g1.service")"
        done
}
# run_slow_until_migrating: mhtest-coord run slow --keep in the background ($coord_pid), back
# once libvirt on the source reports a migration iteration (memory is being sent). The event
# wait starts before mhtest-coord, so the event cannot be missed.
run_slow_until_migrating() {
        local wait_pid
        hx "$h1" virsh -c qemu:///system event --event migration-iteration --timeout 300 >"$T/event" 2>&1 &
        wait_pid=$!
        bg_pids+=("$wait_pid")
        # not through ctl(): $! must be mhtest-coord itself ("lab exec" execs it), not a subshell
        "$MHTEST" lab exec "$LAB-ctl" -- "$COORD" --root="$T" run slow --keep --json="$T/r.json" >"$T/out" 2>&1 &
        coord_pid=$!
        bg_pids+=("$coord_pid")
        wait "$wait_pid"
        check "libvirt on $h1 reported the migration under way" grep -q "migration-iteration" "$T/event"
}

say "== the job differs on $h2: refused, naming the host and both hashes"
printf '[Job]\nDescription=edited on %s only\n' "$h2" |
        hx "$h2" sh -c 'mkdir -p /etc/mhtest/jobs.d/flt.conf.d && cat > /etc/mhtest/jobs.d/flt.conf.d/50-differ.conf'
ctl_hash=$("$MHTEST" --root="$T" config hash flt)
h2_hash=$(hx "$h2" mhtest config hash flt)
coord run flt --json="$T/r.json"
rc=$?
show
check "refused (exit $rc)" test "$rc" -ne 0
check "the refusal names $h2 with its hash and the controller's" \
        grep -q "Preflight $h2: job flt differs.*$h2_hash.*$ctl_hash" "$T/out"
check "$h1, whose job is the same, is not named as differing" bash -c "! grep -q 'Preflight $h1: job' '$T/out'"
check_eq "the report says the preflight refused" refused "$(json "$T/r.json" 'r["preflight"]')"
never_started flt
hx "$h2" rm -rf /etc/mhtest/jobs.d/flt.conf.d

say "== a guest CPU the destination cannot run: refused with the missing features"
coord run cpu --json="$T/r.json"
rc=$?
show
check "refused (exit $rc)" test "$rc" -ne 0
check "the refusal names $h2, the guest and its CPU model" \
        grep -q "Preflight $h2: guest g1 cannot run here with CPU Skylake-Server" "$T/out"
check "libvirt's reason names a missing AVX-512 feature" grep -qi "Preflight $h2: .*avx512" "$T/out"
check_eq "the report says the preflight refused" refused "$(json "$T/r.json" 'r["preflight"]')"
never_started cpu

say "== sshd down on $h2: refused at once with ssh's reason"
hx "$h2" systemctl stop ssh.service
t0=$SECONDS
coord run flt
rc=$?
show
check "refused (exit $rc)" test "$rc" -ne 0
check "in less than 30 s ($((SECONDS - t0)) s)" test $((SECONDS - t0)) -lt 30
check "the refusal names $h2 and ssh's reason" grep -q "Preflight $h2: unreachable over ssh.*\(refused\|timed out\|No route\)" "$T/out"
never_started flt
hx "$h2" systemctl start ssh.service

say "== libvirtd down on $h2: refused, nothing started"
libvirt_units=$(hx "$h2" systemctl list-units --no-legend --plain --state=active 'libvirtd*' 'virtqemud*' | awk '{print $1}' | tr '\n' ' ')
# shellcheck disable=SC2086
hx "$h2" systemctl stop $libvirt_units
coord run flt
rc=$?
show
check "refused (exit $rc)" test "$rc" -ne 0
check "the refusal names $h2 and libvirt's reason" grep -q "Preflight $h2: libvirtd does not answer" "$T/out"
never_started flt
# sockets first: a socket does not start beside a running libvirtd (the tcp one is the
# migration's control connection)
# shellcheck disable=SC2086
hx "$h2" systemctl start $(tr ' ' '\n' <<<"$libvirt_units" | grep '\.socket$')
hx "$h2" systemctl start libvirtd.service
check "libvirtd's sockets all back on $h2" test "$(hx "$h2" systemctl list-units --no-legend --plain --state=active 'libvirtd*' 'virtqemud*' | awk '{print $1}' | tr '\n' ' ')" = "$libvirt_units"

say "== a guest that cannot start on $h1: host, unit and journal lines named, no migration"
coord run bad --json="$T/r.json"
rc=$?
show
check "failed (exit $rc)" test "$rc" -ne 0
check "names $h1, the guest's unit and systemd's job result" \
        grep -q "Provisioning $h1 failed: mhtest-guest@bad:g1.service: start job failed" "$T/out"
check "quotes the guest unit's journal (the missing initrd)" grep -q "no-such-initrd" "$T/out"
check_eq "$h1's provisioning failed in the report" False "$(json "$T/r.json" '[p["passed"] for p in r["provisioning"] if p["host"] == "'"$h1"'"][0]')"
check_eq "no migration in the report" 0 "$(json "$T/r.json" 'len(r["migrations"])')"
check "the run stopped the job it started on both hosts" bash -c "! grep -q 'Failed to stop' '$T/out'"
for h in $h1 $h2; do
        check "mhtest@bad not active on $h after the run" test "$(hx "$h" systemctl is-active mhtest@bad.service)" != active
done
for h in $h1 $h2; do hx "$h" systemctl reset-failed "mhtest*" 2>/dev/null; done

say "== one migration: the source's guest service ends cleanly, the destination's adopts the domain"
coord run flt --keep --json="$T/r.json"
rc=$?
show
check_eq "mhtest-coord run flt" 0 "$rc"
check_eq "libvirt: the domain runs on $h2" running "$(domstate "$h2" mhtest-flt-g1)"
check_eq "libvirt: no domain on $h1" "" "$(domstate "$h1" mhtest-flt-g1)"
check_eq "systemd: mhtest-guest@flt:g1 active on $h2" active "$(hx "$h2" systemctl is-active mhtest-guest@flt:g1.service)"
check_eq "systemd: mhtest-guest@flt:g1 ended on $h1 with" "inactive success 0" \
        "$(for p in ActiveState Result ExecMainStatus; do hx "$h1" systemctl show -P "$p" mhtest-guest@flt:g1.service; done | xargs)"
check_eq "the report's guest section: on $h2, supervised" "$h2 True" "$(json "$T/r.json" 'r["guests"][0]["host"] + " " + str(r["guests"][0]["supervised"])')"
stop_job flt

say "== the destination's QEMU killed during a migration"
run_slow_until_migrating
qemu_pid=$(hx "$h2" cat /run/libvirt/qemu/mhtest-slow-g1.pid)
check "the incoming QEMU on $h2 has a pid ($qemu_pid)" test -n "$qemu_pid"
[ -n "$qemu_pid" ] && hx "$h2" kill -9 "$qemu_pid"
wait "$coord_pid"
rc=$?
show
check "the run failed (exit $rc)" test "$rc" -ne 0
check_eq "libvirt and systemd: the guest runs on $h1 only, supervised there" "$h1:running:active " "$(where_is slow)"
check_eq "the report: the migration failed" False "$(json "$T/r.json" 'r["migrations"][0]["passed"]')"
check "the report carries libvirt's error" test -n "$(json "$T/r.json" 'r["migrations"][0]["error"]')"
check_eq "the report: after it, the guest on $h1, supervised" "$h1 True" \
        "$(json "$T/r.json" 'r["migrations"][0]["guest_after"]["host"] + " " + str(r["migrations"][0]["guest_after"]["supervised"])')"
check_eq "the report's guest section agrees" "$h1 True" "$(json "$T/r.json" 'r["guests"][0]["host"] + " " + str(r["guests"][0]["supervised"])')"
stop_job slow

say "== SIGTERM to mhtest-coord during a migration"
run_slow_until_migrating
kill -TERM "$coord_pid"
wait "$coord_pid"
rc=$?
show
check "the run failed (exit $rc)" test "$rc" -ne 0
check "the migration was aborted" grep -q "Aborted the migration of g1" "$T/out"
place=$(where_is slow)
check "libvirt and systemd: the guest runs on exactly one host, supervised there ($place)" \
        bash -c "[[ '$place' =~ ^$LAB-h[12]:running:active\ \$ ]]"
check_eq "the report names that host, supervised" "${place%%:*} True" \
        "$(json "$T/r.json" 'r["guests"][0]["host"] + " " + str(r["guests"][0]["supervised"])')"
check_eq "the report says the run was interrupted" True "$(json "$T/r.json" 'r["interrupted"]')"
stop_job slow
finish
