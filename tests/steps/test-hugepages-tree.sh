#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# hugepages step against --root trees whose sysfs is the FAKE kernel of fake-hugetlb.c
# (LD_PRELOAD): page sizes and NUMA nodes this machine does not have (1G, node 1), the
# MinAvailableMemory floor, a kernel that grants fewer pages than asked (partial allocation),
# plain files bound over sysfs as lab containers have them, and a crash in the middle of apply.
. "$(dirname "$0")/steps-lib.sh"
: "${MHTEST_FAKE_HUGETLB:?run through meson test}"
: "${MHTEST_CRASH_SHIM:?run through meson test}"
trap remove_root EXIT

# new_tree "NODES" "SIZES_KB" MEMAVAILABLE_KB: pools at 0, /proc/meminfo
new_tree() {
        new_root
        for kb in $2; do
                mkdir -p "$ROOT/sys/kernel/mm/hugepages/hugepages-${kb}kB"
                echo 0 >"$ROOT/sys/kernel/mm/hugepages/hugepages-${kb}kB/nr_hugepages"
                for n in $1; do
                        mkdir -p "$ROOT/sys/devices/system/node/node$n/hugepages/hugepages-${kb}kB"
                        echo 0 >"$ROOT/sys/devices/system/node/node$n/hugepages/hugepages-${kb}kB/nr_hugepages"
                done
        done
        mkdir -p "$ROOT/proc"
        printf 'MemTotal:       25165824 kB\nMemFree:        20000000 kB\nMemAvailable:   %s kB\nHugepagesize:       2048 kB\n' \
                "$3" >"$ROOT/proc/meminfo"
        MH_PREFIX=(env LD_PRELOAD="$MHTEST_FAKE_HUGETLB" MHTEST_FAKE_ROOT="$ROOT")
}
# every pool of the fake kernel, "path=value", sorted: what the kernel state looks like
pools() {
        (cd "$ROOT/sys" && grep -r . --include=nr_hugepages . | sort)
}
pool() { # SIZE_KB [NODE]
        if [ $# -gt 1 ]; then
                cat "$ROOT/sys/devices/system/node/node$2/hugepages/hugepages-$1kB/nr_hugepages"
        else
                cat "$ROOT/sys/kernel/mm/hugepages/hugepages-$1kB/nr_hugepages"
        fi
}
state_exists() { [ -e "$ROOT/run/mhtest/$1/hugepages.state" ] && echo yes || echo no; }

echo "# per node, by count and by size, 2M and 1G"
new_tree "0 1" "2048 1048576" 20000000
job hp <<'E'
[HugePages]
Pages=2M:16@0 1G:2@1 2M:512MiB@1
E
before=$(pools)
mh apply hugepages hp
expect_ok "apply" $RC
expect_eq "2M node 0" "$(pool 2048 0)" 16
expect_eq "2M node 1 (512MiB)" "$(pool 2048 1)" 256
expect_eq "2M global is the sum of the nodes" "$(pool 2048)" 272
expect_eq "1G node 1" "$(pool 1048576 1)" 2
expect_eq "1G node 0 untouched" "$(pool 1048576 0)" 0
check_reapply hugepages hp pools "already as requested"
check_status hugepages hp "1G pages on node 1: 0 -> 2"
mh revert hugepages hp
expect_ok "revert" $RC
expect_eq "revert restores every pool" "$(pools)" "$before"
expect_eq "revert removes the state" "$(state_exists hp)" no
mh revert hugepages hp
expect_ok "revert without state is a no-op" $RC
expect_contains "revert without state says so" "$OUT" "nothing to revert"

echo "# global request: the kernel spreads it over the nodes; revert restores each node"
new_tree "0 1" "2048" 20000000
echo 3 >"$ROOT/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages"
echo 3 >"$ROOT/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
job hp <<'E'
[HugePages]
Pages=2M:10
E
before=$(pools)
mh apply hugepages hp
expect_ok "apply global" $RC
expect_eq "global pool" "$(pool 2048)" 10
mh revert hugepages hp
expect_eq "per-node counts restored (3 on node 0, 0 on node 1)" "$(pools)" "$before"

echo "# refusals change nothing"
new_tree "0" "2048" 20000000
before=$(pools)
job one <<'E'
[HugePages]
Pages=1G:1
E
mh apply hugepages one
expect_fail "1G refused where the kernel offers only 2M" $RC
expect_contains "refusal names the offered sizes" "$OUT" "offered: 2M"
job node <<'E'
[HugePages]
Pages=2M:4@7
E
mh apply hugepages node
expect_fail "node 7 refused" $RC
expect_contains "refusal names the node" "$OUT" "node 7"
job mixed <<'E'
[HugePages]
Pages=2M:4 2M:4@0
E
mh apply hugepages mixed
expect_fail "global and per-node for one size refused" $RC
expect_eq "refusals changed no pool" "$(pools)" "$before"
expect_eq "refusals wrote no state" "$(ls "$ROOT/run/mhtest" 2>/dev/null)" ""

echo "# the floor: [HugePages] MinAvailableMemory= and [Safety] MinAvailableMemory="
new_tree "0" "2048" 2097152   # 2 GiB available
before=$(pools)
job floor <<'E'
[HugePages]
Pages=2M:1024@0
MinAvailableMemory=1G
E
mh apply hugepages floor
expect_fail "2 GiB of pages with 2 GiB available and a 1G floor refused" $RC
expect_contains "refusal gives the numbers" "$OUT" "at least 1G must stay available"
safety <<'E'
MinAvailableMemory=1536M
E
job safety <<'E'
[HugePages]
Pages=2M:512@0
E
mh apply hugepages safety
expect_fail "1 GiB of pages leaving 1 GiB under a 1.5G [Safety] floor refused" $RC
expect_eq "floor refusals changed nothing" "$(pools)" "$before"
job fits <<'E'
[HugePages]
Pages=2M:256@0
E
mh apply hugepages fits
expect_ok "512 MiB of pages leaving 1.5 GiB pass the [Safety] floor" $RC
expect_eq "granted" "$(pool 2048 0)" 256
mh revert hugepages fits

echo "# partial allocation: the FAKE kernel grants 10 of 16 pages; mhtest gives them back"
new_tree "0 1" "2048 1048576" 20000000
echo 2 >"$ROOT/sys/devices/system/node/node1/hugepages/hugepages-1048576kB/nr_hugepages"
echo 2 >"$ROOT/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages"
before=$(pools)
# the 1G pool shrinks first, then the 2M pool cannot grow as asked
job part <<'E'
[HugePages]
Pages=1G:1@1 2M:16@0
E
MH_PREFIX=(env LD_PRELOAD="$MHTEST_FAKE_HUGETLB" MHTEST_FAKE_ROOT="$ROOT" MHTEST_FAKE_HUGEPAGES_LIMIT=10)
mh apply hugepages part
expect_fail "partial allocation is an error" $RC
expect_contains "it says what the kernel granted" "$OUT" "asked for 16, the kernel granted 10"
expect_eq "every pool is back as before (the shrunk 1G pool too)" "$(pools)" "$before"
expect_eq "no state left" "$(state_exists part)" no

echo "# transient refusal: the FAKE kernel grants nothing to the first 2 growing writes"
new_tree "0" "2048 1048576" 20000000
before=$(pools)
job busy <<'E'
[HugePages]
Pages=1G:2
E
MH_PREFIX=(env LD_PRELOAD="$MHTEST_FAKE_HUGETLB" MHTEST_FAKE_ROOT="$ROOT" MHTEST_FAKE_HUGEPAGES_BUSY=2)
mh apply hugepages busy
expect_ok "a pool granted on the third write is applied" $RC
expect_eq "1G pool after transient refusals" "$(pool 1048576)" 2
expect_contains "each retry is logged" "$OUT" "attempt 3 of 5"
mh revert hugepages busy
expect_eq "revert gives the pages back" "$(pools)" "$before"
MH_PREFIX=(env LD_PRELOAD="$MHTEST_FAKE_HUGETLB" MHTEST_FAKE_ROOT="$ROOT" MHTEST_FAKE_HUGEPAGES_BUSY=9)
mh apply hugepages busy
expect_fail "a pool still refused after 5 writes fails the step" $RC
expect_contains "the failure says why and what to do for 1G pages" "$OUT" "hugepagesz=1G hugepages=N"
expect_eq "nothing changed" "$(pools)" "$before"

echo "# plain files bound over sysfs (lab containers): truncated writes, read back"
new_root
mkdir -p "$ROOT/sys/kernel/mm/hugepages/hugepages-2048kB" "$ROOT/proc"
echo 1024 >"$ROOT/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
printf 'MemAvailable:   20000000 kB\n' >"$ROOT/proc/meminfo"
job plain <<'E'
[HugePages]
Pages=2M:16
E
MH_PREFIX=(env)
mh apply hugepages plain
expect_ok "apply on plain files" $RC
expect_eq "the file holds 16, not 1624" "$(cat "$ROOT/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")" 16
mh revert hugepages plain
expect_eq "revert writes 1024 back" "$(cat "$ROOT/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")" 1024

echo "# crash in the middle of apply (killed after its first pool write): revert restores"
for after in 1 2; do
        new_tree "0 1" "2048 1048576" 20000000
        job crash <<'E'
[HugePages]
Pages=2M:16@0 1G:2@1 2M:8@1
E
        before=$(pools)
        MH_PREFIX=(env LD_PRELOAD="$MHTEST_CRASH_SHIM $MHTEST_FAKE_HUGETLB" MHTEST_FAKE_ROOT="$ROOT"
                   MHTEST_CRASH_ON=hugepages MHTEST_CRASH_AFTER=$after)
        mh apply hugepages crash
        expect_eq "apply killed after pool write $after" "$RC" 137
        expect_eq "state was written before the change" "$(state_exists crash)" yes
        [ "$(pools)" != "$before" ] && pass "the crash left pools changed" || fail "the crash changed nothing"
        MH_PREFIX=(env LD_PRELOAD="$MHTEST_FAKE_HUGETLB" MHTEST_FAKE_ROOT="$ROOT")
        mh revert hugepages crash
        expect_ok "revert after the crash" $RC
        expect_eq "revert after the crash restores every pool" "$(pools)" "$before"
done

finish
