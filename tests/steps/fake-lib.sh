# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared by test-nested.sh, test-vfio.sh, test-check.sh: a --root tree per case on the FAKE
# kernel (fake-kernel.c, LD_PRELOADed: writes to its sysfs behave like the kernel's, module
# loads go to its /sys/module) and the FAKE module tree (tests/fixtures/modules).
set -u
: "${MHTEST_BIN:?run through meson test}"
: "${MHTEST_FAKE_KERNEL:?run through meson test}"
if [ -z "${MHTEST_FAKE_MODULES:-}" ] || [ ! -f "$MHTEST_FAKE_MODULES" ]; then
        echo "SKIP: no fake module tree (depmod missing at build time)"
        exit 77
fi
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
MODPROBE=$(command -v modprobe || echo /usr/sbin/modprobe)
[ -x "$MODPROBE" ] || { echo "SKIP: no modprobe (Debian package kmod)"; exit 77; }

RELEASE=6.1.0-mhtest-fake
# Trees on tmpfs when there is one: state files are fsync()ed, and the loops write hundreds.
TMPBASE=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && TMPBASE=/dev/shm
failures=0
checks=0
ROOT=

cleanup_root() {
        case "${ROOT:-}" in "$TMPBASE"/mhtest-steps.*) rm -rf "$ROOT" ;; esac
        ROOT=
}
trap cleanup_root EXIT

pass() { checks=$((checks + 1)); echo "ok: $*"; }
fail() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL: $*"; }
expect_eq() { # DESC ACTUAL WANTED (multi-line values are shown as a diff)
        if [ "$2" = "$3" ]; then
                case "$2" in *$'\n'*) pass "$1" ;; *) pass "$1 ($2)" ;; esac
        else
                case "$2$3" in
                *$'\n'*) fail "$1:"; diff <(echo "$3") <(echo "$2") | head -40 ;;
                *) fail "$1: got '$2', wanted '$3'" ;;
                esac
        fi
}
expect_contains() { # DESC HAYSTACK NEEDLE
        case "$2" in *"$3"*) pass "$1" ;; *) fail "$1: '$3' not in: $2" ;; esac
}
finish() {
        echo "$checks checks, $failures failed"
        [ "$checks" -gt 0 ] && [ "$failures" = 0 ]
        exit $?
}

# new_root CPU(amd|intel|none) JOBCONF: a fresh tree with cpuinfo, the module tree, this job.
new_root() {
        cleanup_root
        ROOT=$(mktemp -d "$TMPBASE/mhtest-steps.XXXXXX")
        mkdir -p "$ROOT/proc/sys/kernel" "$ROOT/etc/mhtest/jobs.d" "$ROOT/etc/modprobe.d" "$ROOT/run/mhtest" "$ROOT/sys/module"
        echo "$RELEASE" >"$ROOT/proc/sys/kernel/osrelease"
        tar -xf "$MHTEST_FAKE_MODULES" -C "$ROOT"
        case $1 in
        amd) printf 'processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: Fake EPYC\nflags\t\t: fpu sse2 svm npt sse4_2\n\nprocessor\t: 1\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 svm npt sse4_2\n' ;;
        intel) printf 'processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Fake Xeon\nflags\t\t: fpu sse2 vmx ept sse4_2\n' ;;
        none) printf 'processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: QEMU Virtual CPU\nflags\t\t: fpu sse2 hypervisor\n' ;;
        esac >"$ROOT/proc/cpuinfo"
        printf '[Host]\nName=testhost\n' >"$ROOT/etc/mhtest/mhtest.conf"
        printf '%b' "$2" >"$ROOT/etc/mhtest/jobs.d/j.conf"
}

# Run mhtest on the fake kernel; output (stdout+stderr) in $OUT, exit status in $RC.
mh() {
        OUT=$(LD_PRELOAD="$MHTEST_FAKE_KERNEL" MHTEST_FAKE_ROOT="$ROOT" SYSTEMD_LOG_TARGET=console \
                "$MHTEST_BIN" --root="$ROOT" "$@" 2>&1)
        RC=$?
}

# The real kmod tools, on the fake kernel: how a test puts the host in its starting state.
fake_modprobe() {
        LD_PRELOAD="$MHTEST_FAKE_KERNEL" MHTEST_FAKE_ROOT="$ROOT" \
                "$MODPROBE" -d "$ROOT" -S "$RELEASE" -C "$ROOT/etc/modprobe.d" "$@"
}

# Everything the fake kernel and mhtest can change, as text: the tree (types, link targets)
# and every file's content.
snapshot() {
        (
                cd "$ROOT" || exit 1
                find sys dev etc run -mindepth 0 2>/dev/null -printf '%p %y %l\n' | sort
                grep -r -s "" sys dev etc run | sort
        )
}
