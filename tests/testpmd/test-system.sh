#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mhtest-testpmd@JOB.service under real systemd, in a lab host (systemd-nspawn booting this
# machine's OS): "systemctl start" returns (active) only after READY=1, i.e. once both ports are
# started; kill -9 of testpmd makes systemd restart the service and it is active again; the
# journal of MHTEST_JOB=JOB holds the stats entries with their fields; "systemctl stop" stops it
# cleanly with the final statistics logged.
. "$(dirname "$0")/../system/lib.sh"
require_lab_capable
command -v dpdk-testpmd >/dev/null || skip "dpdk-testpmd is not installed (dpdk-dev)"

ID_READY=587493ca4a344728a58ab7d0fa642201
ID_STATS=be1fe3b9cfc044e5b11f390c2183ac79
ID_STOPPED=a7adf4a74c674ee2ad92419fafac10ec
J=systp
U=mhtest-testpmd@$J.service

lab_up mhsystp 1
H=mhsystp-h1

printf '[Testpmd]\nPorts=null:a null:b\nStatsIntervalSec=1\nWatchdogSec=10\n' |
        hx "$H" sh -c "mkdir -p /etc/mhtest/jobs.d && cat > /etc/mhtest/jobs.d/$J.conf"

prop() { hx "$H" systemctl show -P "$1" "$U"; }
status_json() { hx "$H" mhtest status "$J" --json; }
tp_field() { # tp_field EXPR : python expression on t = status()["testpmd"]
        status_json | python3 -c 'import json, sys; t = json.load(sys.stdin)["testpmd"]; print(eval(sys.argv[1]))' "$1"
}
telemetry() { tp_telemetry "$H" "$J" "$@"; }
tm_field() { # tm_field EXPR CMD... : python expression on r = [greeting, reply...]
        local expr=$1; shift
        telemetry "$@" | tp_eval "$expr"
}
journal_ids() { # the MESSAGE_IDs of the job's entries, in order
        hx "$H" journalctl --no-pager -o json "MHTEST_JOB=$J" | python3 -c '
import json, sys
for l in sys.stdin:
    e = json.loads(l)
    print(e.get("MESSAGE_ID", "-"), e.get("MHTEST_PORT", "-"), e.get("RX_PPS", "-"), e.get("TX_PPS", "-"),
          e.get("RX_MISSED", "-"), e.get("RX_PACKETS", "-"), e.get("_PID", "-"), e.get("MHTEST_HOST", "-"))'
}

# --- start: active only after READY ---
check "systemctl start $U" hx "$H" systemctl start "$U"
check_eq "$U active" active "$(prop ActiveState)"
# start returned: systemd has READY=1. Both ports must be started at this point.
check_eq "ports started when start returned (testpmd's telemetry)" "1 1" \
        "$(tm_field '" ".join(str(i["dev_started"]) for i in r[1:])' /ethdev/info,0 /ethdev/info,1)"
started_after_ready=$(hx "$H" journalctl --no-pager -o json | python3 -c '
import json, sys
ready = started = None
for i, l in enumerate(sys.stdin):
    e = json.loads(l)
    if e.get("MESSAGE_ID") == sys.argv[1] and ready is None:
        ready = i
    # systemd: "Started mhtest DPDK testpmd for job J." (MESSAGE_ID of a unit started)
    if e.get("UNIT") == sys.argv[2] and e.get("MESSAGE_ID") == "39f53479d3a045ac8e11786248231fbf" and started is None:
        started = i
print("yes" if ready is not None and started is not None and ready < started else f"no ready={ready} started={started}")' \
        "$ID_READY" "$U")
check_eq "systemd reported the unit started only after READY" yes "$started_after_ready"
mpid=$(prop MainPID)
check "MainPID is the supervisor" hx "$H" sh -c "tr '\\0' ' ' </proc/$mpid/cmdline | grep -c 'mhtest testpmd $J' >/dev/null"

# --- stats in the journal ---
stats_ports() { journal_ids | grep "^$ID_STATS" | awk '{print $2}' | sort -u | wc -l | grep -qx 2; }
wait_until "stats entries for both ports" stats_ports
stats=$(journal_ids | grep "^$ID_STATS" | tail -1)
read -r _ port rx tx missed rxp _ host <<<"$stats"
check "stats entry has MHTEST_PORT= ($port)" test "$port" = null:a -o "$port" = null:b
check "stats entry has RX_PPS=/TX_PPS= > 0 ($rx/$tx)" test "$rx" -gt 0 -a "$tx" -gt 0
check "stats entry has RX_MISSED= and RX_PACKETS= ($missed, $rxp)" test "$missed" != - -a "$rxp" -gt 0
check_eq "stats entry has MHTEST_HOST=" "$H" "$host"
status_rates() { prop StatusText | grep -c 'null:a: rx [1-9][0-9]* pps' >/dev/null; }
check "systemd STATUS= shows rates" status_rates

# --- kill -9 testpmd: restarted, active again ---
old_tp=$(tp_field 't["testpmd_pid"]')
restarts=$(prop NRestarts)
check "kill -9 testpmd ($old_tp)" hx "$H" kill -9 "$old_tp"
restarted() { [ "$(prop NRestarts)" -gt "$restarts" ] && [ "$(prop ActiveState)" = active ]; }
wait_until "a restart" restarted
check_eq "$U active again after kill -9" active "$(prop ActiveState)"
check "NRestarts grew" test "$(prop NRestarts)" -gt "$restarts"
new_tp=$(tp_field 't["testpmd_pid"]')
check "a new testpmd runs ($new_tp)" test -n "$new_tp" -a "$new_tp" != "$old_tp"
check_eq "the telemetry socket is the new testpmd's" "$new_tp" "$(tm_field 'r[0]["pid"]')"
# (grep reads everything: with pipefail, an early grep -q exit would fail the writer)
exited_logged() { hx "$H" journalctl --no-pager "MHTEST_JOB=$J" MESSAGE_ID=6d7a76f4804846efb5dedc46530d92ca | grep -c 'killed by signal 9' >/dev/null; }
check "journal: TESTPMD_EXITED of the killed testpmd" exited_logged
opackets() { tm_field 'sum(x["opackets"] for x in r[1:])' /ethdev/stats,0 /ethdev/stats,1; }
forwarded=$(opackets)
forwarding() { [ "$(opackets)" -gt "${forwarded:-0}" ]; }
wait_until "forwarding after the restart" forwarding

# --- stop: clean, final statistics ---
check "systemctl stop $U" hx "$H" systemctl stop "$U"
check_eq "$U inactive (not failed) after stop" inactive "$(prop ActiveState)"
final_logged() { journal_ids | grep -c "^$ID_STOPPED null:b" >/dev/null; }
check "journal: final statistics (TESTPMD_STOPPED with MHTEST_PORT=)" final_logged
check "DPDK runtime directory removed" hx "$H" test ! -e /var/run/dpdk/mhtest-$J
finish
