#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# hugepages step on the REAL kernel of this machine: 2M pages on node 0 allocated and freed
# through sysfs, hugetlbfs really mounted. nr_hugepages is global: it is saved and restored in
# a trap, counts are small (16 pages), and the test runs in a private mount namespace so no
# mount can outlive it. The --root tree links /sys and /proc to the real ones; only /etc/mhtest
# (the job) and /run/mhtest (the state) are the tree's own.
. "$(dirname "$0")/steps-lib.sh"
: "${MHTEST_CRASH_SHIM:?run through meson test}"

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
POOL=/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages
GLOBAL=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
[ -w "$POOL" ] && [ -w "$GLOBAL" ] || { echo "SKIP: no writable 2M hugepage pool on node 0"; exit 77; }
# /proc/meminfo's HugePages_Total counts the default page size only
grep -qx 'Hugepagesize: *2048 kB' /proc/meminfo || { echo "SKIP: the default hugepage size is not 2M"; exit 77; }

if [ -z "${MHTEST_IN_MOUNTNS:-}" ]; then
        # one test at a time touches the machine's pools (other suites use this lock too)
        exec 9>/tmp/mhtest-hugepages.lock
        flock -w 600 9 || { echo "SKIP: hugepage lock busy"; exit 77; }
        unshare --mount true 2>/dev/null || { echo "SKIP: cannot create a mount namespace"; exit 77; }
        saved=$(cat /proc/sys/vm/nr_hugepages)
        restore() { echo "$saved" >/proc/sys/vm/nr_hugepages; }
        trap restore EXIT
        MHTEST_IN_MOUNTNS=1 unshare --mount --propagation private -- "$0" "$@"
        rc=$?
        restore
        now=$(cat /proc/sys/vm/nr_hugepages)
        [ "$now" = "$saved" ] || { echo "FAIL: nr_hugepages is $now after the test, was $saved"; exit 1; }
        exit $rc
fi

cleanup() {
        # only what this test mounted below its own tree
        [ -n "${ROOT:-}" ] && grep -o " $ROOT/[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount "$m"; done
        remove_root
}
trap cleanup EXIT

base=$(cat "$POOL")
want=$((base + 16))
global_base=$(cat "$GLOBAL")
new_real_root() {
        new_root
        ln -s /sys "$ROOT/sys"
        ln -s /proc "$ROOT/proc"
        mkdir -p "$ROOT/mnt"
}
meminfo_total() { awk '/^HugePages_Total:/ { print $2 }' /proc/meminfo; }
# the kernel state the step touches: every 2M/1G pool (global and per node) and the hugetlbfs
# mounts, mount points relative to the tree
snapshot() {
        grep -r . --include=nr_hugepages /sys/kernel/mm/hugepages /sys/devices/system/node/node*/hugepages 2>/dev/null | sort
        awk '$9 == "hugetlbfs" { print $5, $9, $NF }' /proc/self/mountinfo | sed "s|$ROOT|ROOT|" | sort
        ls -a "$ROOT/mnt"
}
fstype() { stat -f -c '%T %S' "$1" 2>/dev/null; }
mounted_at() { awk -v p="$1" '$5 == p' /proc/self/mountinfo | wc -l; }

new_real_root
cat >"$ROOT/etc/mhtest/jobs.d/hp.conf" <<E
[HugePages]
Pages=2M:${want}@0
MountPoint=/mnt/huge
E
before=$(snapshot)

echo "# apply: pages read back from the kernel, hugetlbfs mounted with pagesize=2M"
mh apply hugepages hp
expect_ok "apply" $RC
expect_eq "node 0 pool" "$(cat "$POOL")" "$want"
# the kernel's own totals grew by exactly the 16 pages asked for on node 0, no more, no less
expect_eq "global 2M pool grew by 16" "$(cat "$GLOBAL")" $((global_base + 16))
expect_eq "HugePages_Total in /proc/meminfo grew by 16" "$(meminfo_total)" $((global_base + 16))
expect_eq "hugetlbfs with 2M pages at the mount point" "$(fstype "$ROOT/mnt/huge")" "hugetlbfs 2097152"
check_reapply hugepages hp snapshot "already as requested"
check_status hugepages hp "mounted hugetlbfs pagesize=2M at /mnt/huge"
applied=$(snapshot)
sed -i 's|^MountPoint=.*|MountPoint=/mnt/elsewhere|' "$ROOT/etc/mhtest/jobs.d/hp.conf"
mh apply hugepages hp
expect_fail "a MountPoint= changed since apply is refused" $RC
expect_contains "it says to revert first" "$OUT" "revert it first"
expect_eq "and changed nothing" "$(snapshot)" "$applied"
sed -i 's|^MountPoint=.*|MountPoint=/mnt/huge|' "$ROOT/etc/mhtest/jobs.d/hp.conf"
mh revert hugepages hp
expect_ok "revert" $RC
expect_eq "revert restores pools and mounts exactly" "$(snapshot)" "$before"

echo "# an existing hugetlbfs with the right page size is reused and never unmounted"
mkdir -p "$ROOT/mnt/huge"
mount -t hugetlbfs -o pagesize=2M nodev "$ROOT/mnt/huge"
theirs=$(snapshot)
mh apply hugepages hp
expect_ok "apply reusing a hugetlbfs mount" $RC
expect_eq "no second mount on top" "$(mounted_at "$ROOT/mnt/huge")" 1
mh revert hugepages hp
expect_eq "revert leaves their mount and restores the pool" "$(snapshot)" "$theirs"
umount "$ROOT/mnt/huge"

echo "# something else mounted there: refused, nothing changed"
mount -t tmpfs -o size=1M tmpfs "$ROOT/mnt/huge"
theirs=$(snapshot)
mh apply hugepages hp
expect_fail "tmpfs at the mount point refused" $RC
expect_contains "refusal says why" "$OUT" "neither mounts over nor unmounts"
expect_eq "refusal changed nothing" "$(snapshot)" "$theirs"
expect_eq "their tmpfs is still there" "$(fstype "$ROOT/mnt/huge" | cut -d' ' -f1)" tmpfs
umount "$ROOT/mnt/huge"
rmdir "$ROOT/mnt/huge"

echo "# the floor against the real MemAvailable"
cat >"$ROOT/etc/mhtest/jobs.d/greedy.conf" <<E
[HugePages]
Pages=2M:${want}@0
MinAvailableMemory=1000T
E
mh apply hugepages greedy
expect_fail "a floor above MemAvailable refuses" $RC
expect_eq "refusal changed nothing" "$(snapshot)" "$before"

echo "# crash after the pool write, before the mount: revert restores"
MH_PREFIX=(env LD_PRELOAD="$MHTEST_CRASH_SHIM" MHTEST_CRASH_ON=hugepages MHTEST_CRASH_AFTER=1)
mh apply hugepages hp
MH_PREFIX=(env)
expect_eq "apply killed after its pool write" "$RC" 137
expect_eq "the pool was changed" "$(cat "$POOL")" "$want"
mh revert hugepages hp
expect_ok "revert after the crash" $RC
expect_eq "revert after the crash restores pools and mounts" "$(snapshot)" "$before"

echo "# 100 apply/revert cycles, kernel state compared after each"
pool_granted() { [ "$(cat "$POOL")" = "$want" ]; }
check_cycles hugepages hp snapshot pool_granted

finish
