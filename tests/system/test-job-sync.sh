#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# "systemctl start|stop mhtest@JOB" are synchronous, for real, in a lab host running systemd:
# - right when "systemctl start mhtest@demo" returns, every unit the job pulled in is active, no
#   job is pending, and the changes are in place (read from the host's counter files, links and
#   processes, not from mhtest);
# - "systemctl restart" returns with everything applied again;
# - right when "systemctl stop mhtest@demo" returns, the host equals its snapshot from before the
#   start: hugepage counters, links, mhtest's units, /run/mhtest, DPDK's runtime files, testpmd;
#   also when the stop comes while the job is still starting;
# - a job whose hugepages step is refused: start fails at once (not at a timeout), names the
#   step and its result in the job's journal, and the host is as before (the other steps were
#   reverted before "systemctl start" returned).
# Each command and the snapshot after it run in one shell inside the host, so nothing can settle
# in between.
. "$(dirname "$0")/lib.sh"
require_lab_capable

ID_APPLIED=95a3fa1289784dffb25d0196f3eacbec
ID_REVERTED=0f26cc9b65df48979a94197459457997
ID_JOB_STARTED=895757bae3a24f358bd0738a17c5d020
ID_JOB_UNIT_FAILED=4045484043084947a4c4ece45158d975
ID_JOB_STOPPED=3bc2fd206ab54ae1bbd7967502f3f08e

lab_up mhsync 1
H=mhsync-h1
JOB=demo

# The host as far as the demo job can change it, one line per item; failed units are listed
# apart ("failed-unit"), for the failing-start case. The hugepage counters are the lab host's own
# files (mhtest-lab(8)), seen from inside the host.
SNAPSHOT='snapshot() {
        for f in /proc/sys/vm/nr_hugepages /sys/kernel/mm/hugepages/*/nr_hugepages \
                 /sys/devices/system/node/node*/hugepages/*/nr_hugepages; do
                [ -e "$f" ] && echo "hugepages $f $(cat "$f")"
        done
        ip -br link | awk "{print \"link\", \$1, \$2}"
        systemctl list-units --plain --no-legend --all "mhtest*" | \
                awk "\$3 != \"inactive\" || \$4 != \"dead\" {print (\$3 == \"failed\" ? \"failed-unit\" : \"unit\"), \$1, \$3, \$4}"
        systemctl list-jobs --plain --no-legend 2>/dev/null | awk "{print \"job\", \$2, \$3, \$4}"
        find /run/mhtest /run/dpdk /var/run/dpdk /etc/modprobe.d -mindepth 1 2>/dev/null | sed "s/^/file /" | sort
        awk "\$3 == \"hugetlbfs\" {print \"mount\", \$2, \$4}" /proc/self/mounts
        pgrep -x dpdk-testpmd >/dev/null && echo "process dpdk-testpmd"
        true
}'

# in_host CMD : run "CMD" then the snapshot, in one shell in the host; prints the snapshot
# lines, "rc N" and "elapsed_ms N"
in_host() {
        hx "$H" sh -c "$SNAPSHOT
t0=\$(date +%s%N); $1 >/dev/null 2>&1; rc=\$?; t1=\$(date +%s%N)
snapshot
echo rc \$rc; echo elapsed_ms \$(( (t1 - t0) / 1000000 ))"
}

lines() { printf '%s\n' "$1" | grep "^$2 " | sort; }
has() { grep -qE -- "^$1\$" <<<"$2"; } # has REGEX SNAPSHOT: a whole line matches
value() { printf '%s\n' "$1" | awk -v k="$2" '$1 == k {print $2}'; }
hp2m() { lines "$1" hugepages | awk '$2 == "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages" {print $3}'; }
state_of() { printf '%s\n' "$1" | grep -E '^(hugepages|link|unit|failed-unit|job|file|mount|process) ' | sort; }

compare_states() { # compare_states WHAT BEFORE AFTER [GREP-V]
        local b a
        b=$(state_of "$2")
        a=$(state_of "$3")
        if [ -n "${4:-}" ]; then
                b=$(printf '%s\n' "$b" | grep -v -- "$4")
                a=$(printf '%s\n' "$a" | grep -v -- "$4")
        fi
        if [ "$b" = "$a" ]; then
                pass "$1"
        else
                fail "$1; the difference:"
                diff <(printf '%s\n' "$b") <(printf '%s\n' "$a")
        fi
}

# journal_count ID [MATCH...] : entries of the job with this MESSAGE_ID since the test began
journal_count() {
        local id=$1; shift
        hx "$H" journalctl --no-pager -q -o cat --since="@$T_BEGIN" "MHTEST_JOB=$JOB" "MESSAGE_ID=$id" "$@" | grep -c .
}

assert_applied() { # assert_applied WHAT SNAPSHOT
        local s=$2 u wants
        check_eq "$1: systemctl start mhtest@$JOB succeeded" 0 "$(value "$s" rc)"
        wants=$(hx "$H" systemctl show -p Wants --value "mhtest@$JOB.service" | tr ' ' '\n' | grep '^mhtest-' | sort)
        for u in $wants; do
                check "$1: $u was active when it returned" has "unit $u active [a-z]+" "$s"
        done
        check "$1: mhtest@$JOB was active when it returned" has "unit mhtest@$JOB.service active exited" "$s"
        check_eq "$1: no job pending when it returned" "" "$(lines "$s" job)"
        check_eq "$1: 2M pages in the host's counter, 64 more than before" "$((HP0 + 64))" "$(hp2m "$s")"
        check "$1: bridge mhdemo0 existed in the host" has "link mhdemo0 [A-Z]+" "$s"
        check "$1: testpmd was running" has "process dpdk-testpmd" "$s"
        check "$1: its vhost-user sockets existed" has "file /run/mhtest/$JOB/vhost0.sock" "$s"
        check "$1: ... both of them" has "file /run/mhtest/$JOB/vhost1.sock" "$s"
        say "$1 took $(value "$s" elapsed_ms) ms"
}

check "$H: the demo job validates" hx "$H" mhtest config validate "$JOB"
T_BEGIN=$(hx "$H" date +%s)
before=$(in_host true)
HP0=$(hp2m "$before")
check "before: nothing of mhtest is active or pending" test -z "$(lines "$before" unit; lines "$before" job)"

say "--- systemctl start mhtest@$JOB"
started=$(in_host "systemctl start mhtest@$JOB.service")
assert_applied start "$started"

say "--- systemctl restart mhtest@$JOB"
restarted=$(in_host "systemctl restart mhtest@$JOB.service")
assert_applied restart "$restarted"

say "--- systemctl stop mhtest@$JOB"
stopped=$(in_host "systemctl stop mhtest@$JOB.service")
check_eq "systemctl stop mhtest@$JOB succeeded" 0 "$(value "$stopped" rc)"
say "stop took $(value "$stopped" elapsed_ms) ms"
compare_states "right when stop returned, the host equals its state before the start" "$before" "$stopped"
check "journal: the job said all its units were active (MESSAGE_ID)" test "$(journal_count $ID_JOB_STARTED)" -ge 2
check "journal: the job said all its units were stopped (MESSAGE_ID)" test "$(journal_count $ID_JOB_STOPPED)" -ge 1
for step in hugepages bridge; do
        check_eq "journal: $step applied twice (start, restart) and reverted twice (restart, stop)" \
                "$(journal_count $ID_APPLIED MHTEST_STEP=$step)" "$(journal_count $ID_REVERTED MHTEST_STEP=$step)"
done

say "--- systemctl stop while mhtest@$JOB is starting (its ExecStart= waiting)"
interrupted=$(in_host "systemctl start --no-block mhtest@$JOB.service; i=0
until [ \"\$(systemctl show -p SubState --value mhtest@$JOB.service)\" = start ] || [ \$i -ge 600 ]; do
        sleep 0.05; i=\$((i + 1))
done
systemctl stop mhtest@$JOB.service")
check_eq "systemctl stop mhtest@$JOB during its start succeeded" 0 "$(value "$interrupted" rc)"
say "the interrupted start and the stop took $(value "$interrupted" elapsed_ms) ms"
compare_states "right when that stop returned, the host equals its state before (no unit failed either)" \
        "$before" "$interrupted"

say "--- a job whose hugepages step is refused"
hx "$H" sh -c "mkdir -p /etc/mhtest/jobs.d/$JOB.conf.d && printf '[HugePages]\nPages=\nPages=2M:10000000\n' >/etc/mhtest/jobs.d/$JOB.conf.d/90-too-many-pages.conf && systemctl daemon-reload"
check "the job still validates (the refusal comes from the host, at apply)" hx "$H" mhtest config validate "$JOB"
T_FAIL=$(hx "$H" date +%s)
failed=$(in_host "systemctl start mhtest@$JOB.service")
check "systemctl start mhtest@$JOB failed" test "$(value "$failed" rc)" != 0
say "the failing start took $(value "$failed" elapsed_ms) ms"
compare_states "right when the failed start returned, the host equals its state before (failed units aside)" \
        "$before" "$failed" "^failed-unit "
check_eq "the refused step is failed" "failed-unit mhtest-hugepages@$JOB.service failed failed" \
        "$(lines "$failed" failed-unit | grep "mhtest-hugepages@")"
check_eq "mhtest@$JOB failed by its own verdict, not at a timeout" exit-code \
        "$(hx "$H" systemctl show -p Result --value "mhtest@$JOB.service")"
check_eq "no step of the job is left active or pending" "" \
        "$(lines "$failed" unit; lines "$failed" job)"
msg=$(hx "$H" journalctl --no-pager -q -o cat --since="@$T_FAIL" -u "mhtest@$JOB.service" \
        "MESSAGE_ID=$ID_JOB_UNIT_FAILED" "MHTEST_UNIT=mhtest-hugepages@$JOB.service")
say "the job's journal says:"; printf '%s\n' "$msg" | sed 's/^/    /'
check "journal of mhtest@$JOB names the failed step and its result" \
        grep -q "mhtest-hugepages@$JOB.service failed (result: exit-code)" <<<"$msg"
check "journal of mhtest@$JOB repeats the step's own words (the refusal)" grep -qi "refus\|MemAvailable\|floor" <<<"$msg"
hx "$H" sh -c "rm -rf /etc/mhtest/jobs.d/$JOB.conf.d && systemctl daemon-reload && systemctl reset-failed 'mhtest*'"
after=$(in_host true)
compare_states "after reset-failed, the host equals its state before the test" "$before" "$after"
finish
