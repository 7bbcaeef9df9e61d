#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared by the system tests: a local lab of container hosts ("mhtest lab"), brought up once per
# test file and always torn down (trap), plus assertion helpers. Sourced, not run.
set -uo pipefail

MHTEST=${MHTEST_BIN:-mhtest}
BUILD_ROOT=${MHTEST_BUILD_ROOT:-}
LAB=${LAB:-}
FAILS=0
SKIP=77

say() { printf '%s\n' "$*"; }
fail() { say "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { say "ok: $*"; }
skip() { say "SKIP: $*"; exit $SKIP; }
check() { # check DESCRIPTION CMD... : pass if CMD succeeds
        local what=$1; shift
        if "$@"; then pass "$what"; else fail "$what"; fi
}
check_eq() { # check_eq DESCRIPTION EXPECTED ACTUAL
        if [ "$2" = "$3" ]; then pass "$1 ($3)"; else fail "$1: expected '$2', got '$3'"; fi
}
finish() {
        if [ "$FAILS" -gt 0 ]; then say "$FAILS assertion(s) failed"; exit 1; fi
        say "all assertions passed"; exit 0
}

# Tests skip only where nspawn cannot run here.
require_lab_capable() {
        [ "$(id -u)" = 0 ] || skip "needs root (namespaces, mounts, containers)"
        for p in systemd-nspawn nsenter ssh-keygen virsh; do
                command -v "$p" >/dev/null || skip "$p is not installed (tools/install-deps.sh)"
        done
        [ -x /usr/sbin/sshd ] || skip "openssh-server is not installed"
        [ -x /usr/sbin/libvirtd ] || skip "libvirt-daemon-system is not installed"
        [ -d /lib/systemd/system ] && [ -x /lib/systemd/systemd ] || skip "no systemd to boot in a container"
        unshare --net true 2>/dev/null || skip "cannot create network namespaces here"
        grep -qw overlay /proc/filesystems || skip "no overlayfs in this kernel"
}

lab_down() {
        [ -n "$LAB" ] || return 0
        "$MHTEST" lab down "$LAB" >/dev/null 2>&1 || "$MHTEST" lab down "$LAB"
}

lab_up() { # lab_up NAME HOSTS
        LAB=$1
        trap 'lab_down' EXIT
        "$MHTEST" lab down "$LAB" >/dev/null 2>&1 # a leftover from an interrupted run
        local t0=$SECONDS
        if ! "$MHTEST" lab up --name="$LAB" --hosts="$2" ${BUILD_ROOT:+--from="$BUILD_ROOT"} --quiet; then
                say "FAIL: mhtest lab up --name=$LAB --hosts=$2"
                exit 1
        fi
        say "lab $LAB up with $2 hosts in $((SECONDS - t0)) s"
}

hx() { # hx HOST CMD... : run CMD on a lab host
        local h=$1; shift
        "$MHTEST" lab exec "$h" -- "$@"
}

ctl() { # ctl CMD... : run CMD in the lab's controller namespace
        "$MHTEST" lab exec "$LAB-ctl" -- "$@"
}

# What a lab may leave behind on the machine, one line per item.
machine_snapshot() {
        echo "## netns"; ip netns list 2>/dev/null | awk '{print $1}' | sort
        echo "## mounts"; awk '{print $1, $2, $3}' /proc/self/mounts | sort
        echo "## cgroups"
        for d in /sys/fs/cgroup /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
                [ -d "$d" ] && find "$d" -mindepth 1 -maxdepth 1 -type d | sort
        done
        echo "## processes in lab cgroups or lab paths"
        for p in /proc/[0-9]*; do
                cg=$(grep -so 'mhtest-lab-[^/]*' "$p/cgroup" | head -1)
                [ -n "$cg" ] && echo "cgroup ${p#/proc/} $(cat "$p/comm" 2>/dev/null) $cg"
                cl=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -so '/run/mhtest/lab/[^/ ]*' | head -1)
                [ -n "$cl" ] && echo "cmdline ${p#/proc/} $(cat "$p/comm" 2>/dev/null) $cl"
        done | sort
        echo "## /run"
        find /run/mhtest /run/netns /run/systemd/nspawn /run/mount 2>/dev/null | sort
        # the machine's hugepage pool: other tests may change it meanwhile, so a difference is
        # reported but not counted; test-lab proves the hosts write their own counter files
        echo "## hugepages"
        echo "nr_hugepages $(cat /proc/sys/vm/nr_hugepages)"
        echo "## root ssh"
        ls -la /root/.ssh 2>/dev/null | awk 'NR > 1 {print "root-ssh", $1, $5, $NF}'
}

# Compare two machine snapshots; lines that name another lab (in parallel runs) are reported but
# not counted against this one.
compare_snapshots() { # compare_snapshots BEFORE AFTER LABNAME
        local d ours others name=$3
        d=$(diff "$1" "$2" | grep '^[<>]')
        ours=$(printf '%s\n' "$d" | grep -E "$name|/run/netns\$|/run/systemd/nspawn|/run/mhtest\$|/run/mhtest/lab\$|/run/mhtest/hosts.d\$|^[<>] root-ssh" | grep -v '^$')
        others=$(printf '%s\n' "$d" | grep -vxF -- "$ours" | grep -v '^$')
        [ -n "$others" ] && say "note: changed meanwhile by something else (not counted): $(echo "$others" | tr '\n' ';')"
        if [ -n "$ours" ]; then
                say "difference:"; say "$ours"
                return 1
        fi
        return 0
}
