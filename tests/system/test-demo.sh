#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The README's demo, tools/demo.sh, run as a user runs it but on the build under test
# (SKIP_DEPS=1 SKIP_BUILD=1 BUILD=the build dir), so that it cannot rot unnoticed. Asserted:
# - its exit status;
# - from its JSON report: the 4 migrations, each passed, in the job's directions, and after each
#   the guest on its destination (the coordinator asked libvirt);
# - from its transcript, what libvirt itself said after each migration (virsh list on each host,
#   printed by the demo): the guests on the hosts they were migrated to, never on both;
# - each guest's serial ticks across both hosts form one sequence that moved host (the demo's
#   own check, which reads both hosts' serial logs; each holds the guest's last stay there);
# - nothing left: the demo's lab is down and its namespaces are gone.
# coord-migrate tests the same migrations in depth (libvirt's figures, synchronized pairs);
# this test is about the demo script.
set -uo pipefail
. "$MHTEST_SOURCE_ROOT/tests/system/lib.sh"

require_lab_capable
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed"
[ -n "$BUILD_ROOT" ] || skip "MHTEST_BUILD_ROOT is not set (run through meson test)"
"$MHTEST" lab status demo >/dev/null 2>&1 && skip "a lab named demo is already up (someone's demo is running)"

T=$(mktemp -d)
trap 'rm -rf "$T"; "$MHTEST" lab down demo >/dev/null 2>&1' EXIT

t0=$SECONDS
SKIP_DEPS=1 SKIP_BUILD=1 BUILD=$BUILD_ROOT DEMO_OUT=$T "$MHTEST_SOURCE_ROOT/tools/demo.sh" </dev/null > "$T/out" 2>&1
rc=$?
sed 's/^/    | /' "$T/out"
say "demo took $((SECONDS - t0)) s"
check_eq "tools/demo.sh exit status" 0 "$rc"

json=$T/migrate-demo.json
check "the demo wrote its JSON report" test -s "$json"
check "the demo wrote its JUnit report" test -s "$T/migrate-demo.xml"
check_eq "migrations in the order of the plan: guest from>to, passed, guest after (JSON)" \
        "g1 demo-h1>demo-h2 True demo-h2;g1 demo-h2>demo-h1 True demo-h1;g1 demo-h1>demo-h2 True demo-h2;g2 demo-h2>demo-h1 True demo-h1;" \
        "$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print("".join("%s %s>%s %s %s;" % (m["guest"], m["from"], m["to"], m["passed"], m["guest_after"]["host"])
              for m in r["migrations"]))' "$json" 2>&1)"
check_eq "the whole run passed (JSON)" True "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["passed"])' "$json" 2>&1)"

# what libvirt said after each migration phase, in order (virsh list --state-running on each host)
dom=mhtest-migrate-demo
check_eq "libvirt after each migration phase (the demo's virsh list on each host)" \
        "demo-h1 runs nothing, demo-h2 runs $dom-g1 $dom-g2|demo-h1 runs $dom-g1, demo-h2 runs $dom-g2|demo-h1 runs $dom-g2, demo-h2 runs $dom-g1|" \
        "$(sed -n 's/^    libvirt: //p' "$T/out" | tr '\n' '|')"
# the hosts each guest printed its ticks on, in order, from the demo's reading of both serial logs
# (a host's log holds only the guest's last stay there: g1's last stays are demo-h1, then demo-h2)
check_eq "g1's ticks: one sequence, printed on demo-h1, then demo-h2" \
        "g1: on demo-h1 on demo-h2" "$(grep -o '^  g1: TICK.*' "$T/out" | grep -o -e '^  g1:' -e 'on demo-h[12]' | xargs)"
check_eq "g2's ticks: one sequence, printed on demo-h2, demo-h1" \
        "g2: on demo-h2 on demo-h1" "$(grep -o '^  g2: TICK.*' "$T/out" | grep -o -e '^  g2:' -e 'on demo-h[12]' | xargs)"
check "g1 and g2: no gap, no repeated tick" test "$(grep -c ': [0-9]* ticks, 0 gap(s), 0 repeated: one sequence across the hosts' "$T/out")" = 2

# the demo took its lab down
check "the demo's lab is down" sh -c '! "$1" lab status demo >/dev/null 2>&1' sh "$MHTEST"
check_eq "no network namespace of the demo's lab left" "" "$(ip netns list | awk '$1 ~ /^demo-/ {print $1}' | xargs)"
finish
