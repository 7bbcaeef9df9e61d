#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The mhtest demo, on one Debian 12 machine as root: install what is needed, build, bring up a
# local lab of 2 hosts (systemd-nspawn containers booting this machine's OS), run the vendor job
# "demo" on every host with "systemctl start mhtest@demo", show "mhtest status demo" and the
# journal story per host, stop the job, and tear the lab down — also when something fails.
#   BUILD=DIR   build directory (default build-demo)      HOSTS=N   lab size (default 2)
#   SKIP_DEPS=1 do not run tools/install-deps.sh
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
BUILD=${BUILD:-build-demo}
HOSTS=${HOSTS:-2}
LAB=demo
JOB=demo
M=$top/$BUILD/src/mhtest/mhtest
lab_is_up=0

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

cleanup() {
        local rc=$?
        if [ "$lab_is_up" = 1 ]; then
                say "Tearing the lab down"
                run "$M" lab down "$LAB" || rc=1
        fi
        exit $rc
}

[ "$(id -u)" = 0 ] || { echo "demo: run as root (it creates namespaces, mounts and containers)" >&2; exit 1; }

if [ "${SKIP_DEPS:-0}" != 1 ]; then
        say "Installing build and runtime dependencies (Debian packages)"
        run "$top/tools/install-deps.sh" || exit 1
fi

say "Building mhtest in $BUILD"
if [ ! -f "$BUILD/build.ninja" ]; then
        run meson setup "$BUILD" || exit 1
fi
run ninja -C "$BUILD" -j"$(nproc)" || exit 1

trap cleanup EXIT
trap 'exit 130' INT TERM
say "Bringing up a local lab of $HOSTS hosts with mhtest installed from $BUILD"
lab_is_up=1
run "$M" lab up --name="$LAB" --hosts="$HOSTS" --from="$BUILD" || exit 1
hosts=()
for i in $(seq 1 "$HOSTS"); do hosts+=("$LAB-h$i"); done
run "$M" lab status "$LAB"

for h in "${hosts[@]}"; do
        # the journal catalog explains each mhtest event (journalctl -x)
        "$M" lab exec "$h" -- journalctl --update-catalog >/dev/null 2>&1
done

say "The job: $JOB (vendor configuration, as every host sees it)"
run "$M" lab exec "${hosts[0]}" -- mhtest config show "$JOB"

declare -A started
for h in "${hosts[@]}"; do
        say "$h: systemctl start mhtest@$JOB"
        if run "$M" lab exec "$h" -- systemctl start "mhtest@$JOB.service"; then
                started[$h]=1
        else
                started[$h]=0
                echo "demo: mhtest@$JOB did not start on $h (the journal below says why)"
        fi
done

declare -A failed_units
for h in "${hosts[@]}"; do
        say "$h: mhtest status $JOB"
        run "$M" lab exec "$h" -- mhtest status "$JOB"
        say "$h: the units"
        run "$M" lab exec "$h" -- systemctl list-units --all --no-pager --plain "mhtest*@$JOB.service"
        failed_units[$h]=$("$M" lab exec "$h" -- systemctl list-units --all --no-legend --plain --state=failed \
                "mhtest*@$JOB.service" | awk '{print $1}' | tr '\n' ' ')
done

# let testpmd report its rates once (a TESTPMD_STATS event), up to 20 s
for h in "${hosts[@]}"; do
        "$M" lab exec "$h" -- systemctl is-active -q "mhtest-testpmd@$JOB.service" || continue
        echo "waiting for testpmd's first statistics on $h ..."
        for _ in $(seq 1 100); do
                [ -n "$("$M" lab exec "$h" -- journalctl -q --no-pager -o cat "MHTEST_JOB=$JOB" \
                        MESSAGE_ID=be1fe3b9cfc044e5b11f390c2183ac79 2>/dev/null)" ] && break
                sleep 0.2
        done
done

# "systemctl stop" returns once every step is reverted and testpmd stopped (mhtest@.service(8)),
# so the journal read right after it tells the whole story, reverts included.
for h in "${hosts[@]}"; do
        say "$h: systemctl stop mhtest@$JOB"
        run "$M" lab exec "$h" -- systemctl stop "mhtest@$JOB.service"
        "$M" lab exec "$h" -- systemctl reset-failed 'mhtest*' 2>/dev/null
done

summary=""
for h in "${hosts[@]}"; do
        say "$h: the journal story (journalctl MHTEST_JOB=$JOB)"
        run "$M" lab exec "$h" -- journalctl --no-pager -o short-precise "MHTEST_JOB=$JOB"
        summary+=$("$M" lab exec "$h" -- journalctl --no-pager -o json "MHTEST_JOB=$JOB" | python3 -c '
import json, sys
ids = {"95a3fa1289784dffb25d0196f3eacbec": "applied", "010ca905dc504e04a8f0d81bb1b62824": "unchanged",
       "71e03e8ceeeb4fdbb09f9cea65488712": "skipped", "0f26cc9b65df48979a94197459457997": "reverted",
       "1c282f0185344ff8b49ff59ac254ecff": "NOT IMPLEMENTED", "2574e17baf4146d18ec3903a359792d6": "FAILED",
       "2d2726bf63a34faa97f775823764024a": "REFUSED", "105a57726a6f41ed911984bc45206b8b": "FAILED (rolled back)",
       "587493ca4a344728a58ab7d0fa642201": "forwarding", "a7adf4a74c674ee2ad92419fafac10ec": "stopped",
       "6d7a76f4804846efb5dedc46530d92ca": "EXITED", "895757bae3a24f358bd0738a17c5d020": "all units active",
       "4045484043084947a4c4ece45158d975": "A UNIT FAILED", "3bc2fd206ab54ae1bbd7967502f3f08e": "all units stopped"}
job_ids = ("895757bae3a24f358bd0738a17c5d020", "4045484043084947a4c4ece45158d975", "3bc2fd206ab54ae1bbd7967502f3f08e")
seen = {}
for line in sys.stdin:
    e = json.loads(line)
    what = ids.get(e.get("MESSAGE_ID"))
    if not what:
        continue
    step = e.get("MHTEST_STEP") or ("testpmd" if e.get("MESSAGE_ID") in ("587493ca4a344728a58ab7d0fa642201", "a7adf4a74c674ee2ad92419fafac10ec", "6d7a76f4804846efb5dedc46530d92ca") else
                                    "job" if e.get("MESSAGE_ID") in job_ids else "-")
    seen.setdefault(step, [])
    if what not in seen[step]:
        seen[step].append(what)
for step, whats in seen.items():
    # read right after "systemctl stop" returned: an applied step shows its revert
    if "applied" in whats and "reverted" not in whats:
        whats.append("NOT REVERTED")
    print("  %-10s %-10s %s" % (sys.argv[1], step, ", ".join(whats)))' "$h")$'\n'
done

say "Summary: what each step did on each host (from the journal's MESSAGE_IDs)"
printf '  %-10s %-10s %s\n' HOST STEP EVENTS
printf '%s' "$summary"
rc=0
if grep -q "NOT REVERTED" <<<"$summary"; then
        echo "  a step was not reverted when \"systemctl stop\" returned"; rc=1
fi
for h in "${hosts[@]}"; do
        if [ "${started[$h]}" = 1 ]; then echo "  $h: mhtest@$JOB started and stopped cleanly"
        else echo "  $h: mhtest@$JOB FAILED to start; failed units: ${failed_units[$h]:-none}"; rc=1; fi
done
exit $rc
