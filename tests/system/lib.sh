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
check_empty() { # check_empty DESCRIPTION CMD... : pass if CMD succeeds and prints nothing
        local what=$1 out rc; shift
        out=$("$@" 2>&1); rc=$?
        if [ $rc -ne 0 ]; then fail "$what: the command failed ($rc): $out"
        elif [ -n "$out" ]; then fail "$what: got '$out'"
        else pass "$what"; fi
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

lab_up() { # lab_up NAME HOSTS [LAB-UP-OPTIONS...]
        LAB=$1
        trap 'lab_down' EXIT
        "$MHTEST" lab down "$LAB" >/dev/null 2>&1 # a leftover from an interrupted run
        local t0=$SECONDS
        if ! "$MHTEST" lab up --name="$LAB" --hosts="$2" ${BUILD_ROOT:+--from="$BUILD_ROOT"} --quiet "${@:3}"; then
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

tick_guest() { # tick_guest NAME HOST [KEY=VALUE...] : a [Guest] of the busybox tick guest (lab images)
        printf '[Guest %s]\nHost=%s\nMemory=256M\nKernel=/var/lib/mhtest/images/vmlinuz\n' "$1" "$2"
        printf 'Initrd=/var/lib/mhtest/images/initrd-tick.gz\nKernelCommandLine=console=ttyS0 quiet panic=-1\n'
        printf 'Type=qemu\nReadyMarker=GUEST-UP\nReadyTimeoutSec=120\n'
        [ $# -gt 2 ] && printf '%s\n' "${@:3}"
        printf '\n'
}

wait_until() { # wait_until WHAT CMD... : a state, bounded only against hangs (120 s)
        local what=$1 i; shift
        for ((i = 0; i < 600; i++)); do
                "$@" >/dev/null 2>&1 && return 0
                sleep 0.2
        done
        fail "timed out waiting for $what"
        return 1
}

# tp_telemetry HOST JOB CMD... : testpmd's own answers, asked inside the lab host over the
# telemetry socket of job JOB's testpmd; one JSON line for the greeting (it carries testpmd's
# pid), then one per command (its value)
tp_telemetry() {
        local h=$1 j=$2; shift 2
        hx "$h" python3 -c '
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.settimeout(5)
s.connect(sys.argv[1])
print(json.dumps(json.loads(s.recv(65536))))
for c in sys.argv[2:]:
    s.send(c.encode())
    print(json.dumps(json.loads(s.recv(1 << 20))[c.split(",")[0]]))' "/var/run/dpdk/mhtest-$j/dpdk_telemetry.v2" "$@"
}
tp_eval() { # tp_eval EXPR : python expression on r = [greeting, reply...] read from tp_telemetry
        python3 -c 'import json, sys; r = [json.loads(l) for l in sys.stdin]; print(eval(sys.argv[1]))' "$1"
}

# What a lab may leave behind on the machine, one line per item, each prefixed by its kind.
machine_snapshot() {
        # First, and in one pass (a process that exits a second after "lab down" returned still
        # counts): which lab hosts have processes in their cgroup, which labs have processes
        # with their files on the command line. Not the processes themselves: a lab that stays
        # up (another one) starts and ends processes all the time. lab_processes names them.
        lab_processes | awk '{print "proc", $1, $2}' | sort -u
        ip netns list 2>/dev/null | awk '{print "netns", $1}' | sort
        awk '{print "mount", $1, $2, $3}' /proc/self/mounts | sort
        for d in /sys/fs/cgroup /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
                [ -d "$d" ] && find "$d" -mindepth 1 -maxdepth 1 -type d -printf 'cgroup %p\n' | sort
        done
        ip netns list 2>/dev/null | awk '{print "netns", $1}' | sort
        awk '{print "mount", $1, $2, $3}' /proc/self/mounts | sort
        for d in /sys/fs/cgroup /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
                [ -d "$d" ] && find "$d" -mindepth 1 -maxdepth 1 -type d -printf 'cgroup %p\n' | sort
        done
        # deep enough for /run/mhtest/lab/LAB/HOST/root, never into a host's root (another lab's
        # overlay of / would list the whole file system)
        find /run/mhtest /run/netns /run/systemd/nspawn /run/mount -xdev -maxdepth 4 -printf 'run %p\n' 2>/dev/null | sort
        echo "hugepages nr_hugepages $(cat /proc/sys/vm/nr_hugepages)"
        ls -la /root/.ssh 2>/dev/null | awk 'NR > 1 {print "root-ssh", $1, $5, $NF}'
}

# "cgroup mhtest-lab-HOST PID COMM" / "cmdline /run/mhtest/lab/LAB PID COMM" for every process
# of a lab (la[b]: grep's own command line does not match)
lab_processes() {
        grep -s -o 'mhtest-lab-[^/]*' /proc/[0-9]*/cgroup | sort -u | while IFS=: read -r f what; do
                f=${f%/cgroup}
                echo "cgroup $what ${f#/proc/} $(cat "$f/comm" 2>/dev/null)"
        done
        grep -s -a -o '/run/mhtest/la[b]/[^/[:cntrl:]]*' /proc/[0-9]*/cmdline | sort -u | while IFS=: read -r f what; do
                f=${f%/cmdline}
                echo "cmdline $what ${f#/proc/} $(cat "$f/comm" 2>/dev/null)"
        done
}

# Every netns a lab makes is named LAB-sw, LAB-ctl or LAB-hN (both backends).
LAB_NETNS_RE='^[a-z][a-z0-9-]*-(sw|ctl|h[0-9]+)$'

# not_from_a_lab LINE [AFTER-SNAPSHOT]: the snapshot line is provably none of any lab's:
# - the machine's hugepage pool: a lab host's nr_hugepages files are bind mounts of the lab's own
#   counter files (test-lab proves a write inside lands there), while other suites allocate real
#   pages meanwhile;
# - a netns not named like a lab's, with its /run/netns entry and nsfs mount; and /run/netns
#   itself while such a netns exists (its maker needs it);
# - a cgroup not named mhtest-lab-* (the only cgroups a lab makes);
# - a mount whose source is not mhtest-lab-* and that is not below /run/netns, /run/mhtest or
#   /run/systemd/nspawn (where every mount of a lab is).
# Everything else counts, whichever lab it names: lab processes, /run/mhtest, /run/systemd/nspawn,
# /run/mount, root's ssh files. check_lab_items proves, while a lab is up, that the rules above
# leave none of its items out.
not_from_a_lab() {
        local kind a b c
        read -r kind a b c <<<"$1"
        case $kind in
        hugepages) return 0 ;;
        netns) ! [[ $a =~ $LAB_NETNS_RE ]] ;;
        cgroup) [[ ${a##*/} != mhtest-lab-* ]] ;;
        run)
                case $a in
                /run/netns) foreign_netns "${2:-}" ;;
                /run/netns/*) ! [[ ${a#/run/netns/} =~ $LAB_NETNS_RE ]] ;;
                *) return 1 ;;
                esac ;;
        mount)
                [[ $a == mhtest-lab-* ]] && return 1
                case $b in
                /run/netns) foreign_netns "${2:-}" ;;
                /run/netns/*) ! [[ ${b#/run/netns/} =~ $LAB_NETNS_RE ]] ;;
                /run/mhtest | /run/mhtest/* | /run/systemd/nspawn | /run/systemd/nspawn/*) return 1 ;;
                *) return 0 ;;
                esac ;;
        *) return 1 ;;
        esac
}
foreign_netns() { # SNAPSHOT-FILE: it lists a netns not named like a lab's
        [ -n "$1" ] && awk '$1 == "netns" {print $2}' "$1" | grep -qvE "$LAB_NETNS_RE"
}

# Compare two machine snapshots: every difference counts, whichever lab it comes from, except
# the lines not_from_a_lab proves foreign (reported, not counted).
compare_snapshots() { # compare_snapshots BEFORE AFTER
        local line ours=() others=()
        while IFS= read -r line; do
                if not_from_a_lab "${line:2}" "$2"; then others+=("$line"); else ours+=("$line"); fi
        done < <(diff "$1" "$2" | grep '^[<>] ')
        [ ${#others[@]} -gt 0 ] && say "note: changed meanwhile, provably not by a lab (not counted): $(printf '%s;' "${others[@]}")"
        if [ ${#ours[@]} -gt 0 ]; then
                say "difference:"; printf '%s\n' "${ours[@]}"
                printf '%s\n' "${ours[@]}" | grep -q '^> proc ' && { say "lab processes now:"; lab_processes; }
                return 1
        fi
        return 0
}

# check_lab_items BEFORE DURING LAB: every item that appeared with the lab and names it is one
# compare_snapshots counts (so its exceptions cannot hide a leftover of a lab).
check_lab_items() {
        local line missed=()
        while IFS= read -r line; do
                not_from_a_lab "${line:2}" "$2" && missed+=("${line:2}")
        done < <(diff "$1" "$2" | grep '^> ' | grep -F -- "$3")
        if [ ${#missed[@]} -gt 0 ]; then
                say "items of lab $3 the leftover check would not count:"; printf '%s\n' "${missed[@]}"
                return 1
        fi
        return 0
}
