#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The mhtest demo, on one Debian 12 machine as root, from a clone of the repository:
#  1. installs what is needed (tools/install-deps.sh), builds mhtest, builds the cached tick
#     guest (tools/build-guest-images.sh: Debian's cloud kernel and a busybox initramfs that
#     prints "TICK n" once a second on its serial console);
#  2. brings up a local lab of 2 hosts, demo-h1 and demo-h2 (systemd-nspawn containers booting
#     this machine's OS with sshd and libvirtd, "mhtest lab up --name=demo") and installs the job
#     conf.d/examples/lab/migrate-demo.conf on both hosts and on the lab's controller;
#  3. from the controller, "mhtest-coord run migrate-demo": provisions both hosts
#     (mhtest@migrate-demo: a bridge, a hugepage pool, guest g1 on demo-h1, g2 on demo-h2),
#     migrates g1 to demo-h2 and back, then g1 and g2 at once in opposite directions, writes
#     JSON and JUnit, and stops the job on both hosts; after each migration the demo asks
#     libvirt on each host which guest runs there ("virsh list");
#  4. prints the statistics of every migration (from the JSON), each guest's ticks as printed
#     on each host (one gapless sequence: the guest kept running while it moved), what each
#     step of the job did on each host (from the journal), and that nothing is left running;
#  5. tears the lab down, also when something failed or on Ctrl-C.
# Exit status 0 only if every part passed.
#   BUILD=DIR      build directory (default build-demo; relative to the repository)
#   SKIP_DEPS=1    do not run tools/install-deps.sh
#   SKIP_BUILD=1   use BUILD as it is (the system test runs the demo on the build under test)
#   DEMO_OUT=DIR   where the JSON and JUnit reports go (default BUILD/demo)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
BUILD=${BUILD:-build-demo}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
OUT=${DEMO_OUT:-$BUILD/demo}
LAB=demo
JOB=migrate-demo
JOBFILE=$top/conf.d/examples/lab/$JOB.conf
M=$BUILD/src/mhtest/mhtest
COORD=$BUILD/src/coord/mhtest-coord
hosts=("$LAB-h1" "$LAB-h2")
lab_is_up=0
ctl_root=

if [ -t 1 ]; then say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }; else say() { printf '\n==> %s\n' "$*"; }; fi
run() { printf '$ %s\n' "$*"; "$@"; }
hx() { "$M" lab exec "$@"; } # hx HOST CMD...: CMD on a lab host (or the controller, $LAB-ctl)

cleanup() {
        local rc=$?
        if [ "$lab_is_up" = 1 ]; then
                say "Tearing the lab down"
                run "$M" lab down "$LAB" || rc=1
        fi
        [ -n "$ctl_root" ] && rm -rf "$ctl_root"
        exit $rc
}

[ "$(id -u)" = 0 ] || { echo "demo: run as root (it creates namespaces, mounts and containers)" >&2; exit 1; }

if [ "${SKIP_DEPS:-0}" != 1 ]; then
        say "Installing build and runtime dependencies (Debian packages)"
        run "$top/tools/install-deps.sh" || exit 1
fi

if [ "${SKIP_BUILD:-0}" != 1 ]; then
        say "Building mhtest in $BUILD"
        if [ ! -f "$BUILD/build.ninja" ]; then
                run meson setup "$BUILD" || exit 1
        fi
        run ninja -C "$BUILD" -j"$(nproc)" || exit 1
fi
for b in "$M" "$COORD"; do
        [ -x "$b" ] || { echo "demo: $b is not built" >&2; exit 1; }
done

say "The test guest: Debian's cloud kernel and a busybox initramfs printing TICK n once a second (cached)"
images=$("$top/tools/build-guest-images.sh") || exit 1
echo "$images"

if "$M" lab status "$LAB" >/dev/null 2>&1; then
        echo "demo: a lab named $LAB is already up; take it down first: $M lab down $LAB" >&2
        exit 1
fi
trap cleanup EXIT
trap 'exit 130' INT TERM
say "A local lab of 2 hosts with mhtest installed from $BUILD"
lab_is_up=1
run "$M" lab up --name="$LAB" --hosts=2 --from="$BUILD" --images="$images" --quiet || exit 1
run "$M" lab status "$LAB"

say "The job $JOB ($JOBFILE), installed on both hosts and on the controller"
grep -v '^#' "$JOBFILE" | cat -s
for h in "${hosts[@]}"; do
        hx "$h" -- sh -c "mkdir -p /etc/mhtest/jobs.d && cat > /etc/mhtest/jobs.d/$JOB.conf && systemctl daemon-reload" \
                < "$JOBFILE" || exit 1
done
ctl_root=$(mktemp -d)
mkdir -p "$ctl_root/etc/mhtest/jobs.d" "$ctl_root/run/mhtest/hosts.d"
cp "$JOBFILE" "$ctl_root/etc/mhtest/jobs.d/"
cp /run/mhtest/hosts.d/"$LAB"-h*.conf "$ctl_root/run/mhtest/hosts.d/"
echo "$LAB-ctl" > "$ctl_root/etc/hostname"

say "mhtest-coord plan $JOB (acts on nothing)"
run "$M" lab exec "$LAB-ctl" -- "$COORD" --root="$ctl_root" plan "$JOB" || exit 1

say "mhtest-coord run $JOB: preflight, provisioning, migrations, report, stop"
echo "(after each migration, \"libvirt:\" is what virsh list says runs on each host)"
mkdir -p "$OUT"
json=$OUT/$JOB.json
junit=$OUT/$JOB.xml
rm -f "$json" "$junit"
# stdbuf: the coordinator's lines as they come (a pipe is not a TTY: no progress lines)
printf '$ %s\n' "$M lab exec $LAB-ctl -- $COORD --root=$ctl_root run $JOB --json=$json --junit=$junit"
hx "$LAB-ctl" -- stdbuf -oL "$COORD" --root="$ctl_root" run "$JOB" --json="$json" --junit="$junit" 2>&1 |
        python3 -u -c '
import os, select, subprocess, sys
m, hosts = sys.argv[1], sys.argv[2:]
def libvirt():
    # a migrating guest is paused on its destination until it switches over: running is where it is
    ps = [subprocess.Popen([m, "lab", "exec", h, "--", "virsh", "-q", "-c", "qemu:///system", "list",
                            "--state-running", "--name"], stdout=subprocess.PIPE, text=True) for h in hosts]
    seen = ["%s runs %s" % (h, " ".join(sorted(p.communicate()[0].split())) or "nothing") for h, p in zip(hosts, ps)]
    print("    libvirt: " + ", ".join(seen))
# The coordinator prints the result lines of a phase (one per migration) at once when the
# phase ended, then starts the next phase: ask libvirt after the last line of the phase
fd, buf, pending = sys.stdin.fileno(), b"", False
while True:
    if pending and not select.select([fd], [], [], 0.05)[0]:
        libvirt()
        pending = False
        continue
    data = os.read(fd, 4096)
    if not data:
        break
    buf += data
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        line = line.decode(errors="replace")
        result = line.startswith(("  PASS ", "  FAIL ", "  SKIP "))
        if pending and not result:
            libvirt()
            pending = False
        print(line)
        pending = pending or result
if pending:
    libvirt()' "$M" "${hosts[@]}"
crc=${PIPESTATUS[0]}
rc=0
[ "$crc" = 0 ] || rc=1
echo "JSON: $json"
echo "JUnit: $junit"

say "The statistics of every migration (libvirt's completed jobs, from the JSON report)"
python3 - "$json" <<'EOP' || rc=1
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except (OSError, ValueError) as e:
    sys.exit("  no report: %s" % e)
fmt = "  %-10s %-5s %-20s %8s %8s %9s %6s  %s"
print(fmt % ("MIGRATION", "GUEST", "FROM -> TO", "DOWNTIME", "TOTAL", "DATA", "PASSES", "RESULT"))
for m in r["migrations"]:
    print(fmt % ("%s/%d" % (m["migration"], m["round"]), m["guest"], m["from"] + " -> " + m["to"],
                 "%d ms" % m["downtime_ms"], "%d ms" % m["elapsed_ms"], "%.1f MiB" % (m["data_bytes"] / 1048576),
                 m["stats"].get("memory_iteration", "-"),
                 "pass, then on " + str(m["guest_after"]["host"]) if m["passed"] else "FAIL: " + m.get("error", "")))
for g in r.get("guests", []):
    print("  %s at the end: %s on %s" % (g["guest"], g["state"], g["host"]))
sys.exit(0 if r["migrations"] and r["passed"] else 1)
EOP

say "The guests' own story: the TICK n lines each printed on its serial console, on each host"
echo "(a host's serial log holds the guest's last stay there: an incoming migration starts it afresh)"
for g in g1 g2; do
        for h in "${hosts[@]}"; do
                echo "$h"
                hx "$h" -- cat "/var/log/libvirt/qemu/mhtest-$JOB-$g-serial.log" 2>/dev/null | tr -d '\r'
        done | python3 -c '
import sys
g, ticks, host = sys.argv[1], {}, None
for line in sys.stdin:
    w = line.split()
    if len(w) == 1:
        host = w[0]
    elif len(w) == 2 and w[0] == "TICK" and w[1].isdigit():
        ticks.setdefault(int(w[1]), []).append(host)
n = sorted(ticks)
gaps = sum(1 for a, b in zip(n, n[1:]) if b != a + 1)
dups = sum(1 for t in n if len(ticks[t]) > 1)
runs = []
for t in n:
    if not runs or ticks[t][0] != runs[-1][0]:
        runs.append([ticks[t][0], t, t])
    runs[-1][2] = t
print("  %s: %s" % (g, ", then ".join("TICK %d-%d on %s" % (a, b, h) for h, a, b in runs) or "no ticks"))
ok = len(runs) > 1 and not gaps and not dups
print("  %s: %d ticks, %d gap(s), %d repeated: %s" % (g, len(n), gaps, dups,
      "one sequence across the hosts" if ok else "NOT ONE SEQUENCE ACROSS THE HOSTS"))
sys.exit(0 if ok else 1)' "$g" || rc=1
done

say "What mhtest@$JOB did on each host (the journal's events, journalctl MHTEST_JOB=$JOB)"
printf '  %-8s %-10s %s\n' HOST STEP EVENTS
for h in "${hosts[@]}"; do
        hx "$h" -- journalctl --no-pager -o json "MHTEST_JOB=$JOB" | python3 -c '
import json, sys
ids = {"95a3fa1289784dffb25d0196f3eacbec": "applied", "010ca905dc504e04a8f0d81bb1b62824": "unchanged",
       "71e03e8ceeeb4fdbb09f9cea65488712": "skipped", "0f26cc9b65df48979a94197459457997": "reverted",
       "2574e17baf4146d18ec3903a359792d6": "FAILED", "2d2726bf63a34faa97f775823764024a": "REFUSED",
       "105a57726a6f41ed911984bc45206b8b": "FAILED (rolled back)"}
seen = {}
for line in sys.stdin:
    e = json.loads(line)
    what = ids.get(e.get("MESSAGE_ID"))
    if what and e.get("MHTEST_STEP"):
        seen.setdefault(e["MHTEST_STEP"], [])
        if what not in seen[e["MHTEST_STEP"]]:
            seen[e["MHTEST_STEP"]].append(what)
bad = False
for step, whats in seen.items():
    if "applied" in whats and "reverted" not in whats:
        whats.append("NOT REVERTED")
        bad = True
    print("  %-8s %-10s %s" % (sys.argv[1], step, ", ".join(whats)))
sys.exit(1 if bad or not seen else 0)' "$h" || rc=1
done

say "Left on the hosts after the run"
for h in "${hosts[@]}"; do
        left=$(hx "$h" -- virsh -q -c qemu:///system list --all --name | tr -s '[:space:]' ' ')
        units=$(hx "$h" -- systemctl list-units --no-legend --plain --state=active 'mhtest*' | awk '{print $1}' | tr '\n' ' ')
        echo "  $h: libvirt domains: ${left:-none}; active mhtest units: ${units:-none}"
        [ -z "${left// /}" ] && [ -z "${units// /}" ] || rc=1
done

say "Result"
if [ "$crc" = 0 ]; then
        echo "  mhtest-coord run $JOB: every migration passed"
else
        echo "  mhtest-coord run $JOB FAILED (exit status $crc)"
fi
[ "$rc" = 0 ] && echo "  demo: PASSED" || echo "  demo: FAILED"
exit $rc
