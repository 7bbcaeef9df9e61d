# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared by test-hugepages-*.sh and test-bridge.sh: check helpers, a --root tree with the
# job's configuration, and the mhtest binary run against it.
set -u
: "${MHTEST_BIN:?run through meson test}"
failures=0
checks=0
ROOT=

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
expect_fail() { # DESC RC: a refusal exits non-zero
        if [ "$2" != 0 ]; then pass "$1 (exit $2)"; else fail "$1: exit 0, wanted non-zero"; fi
}
expect_ok() { # DESC RC
        if [ "$2" = 0 ]; then pass "$1"; else fail "$1: exit $2"; fi
}
finish() {
        echo "$checks checks, $failures failed"
        [ "$checks" -gt 0 ] && [ "$failures" = 0 ]
        exit $?
}

# A fresh --root tree (only /etc/mhtest and /run in it; the test adds what it needs).
new_root() {
        remove_root
        ROOT=$(mktemp -d /tmp/mhtest-steps.XXXXXX)
        mkdir -p "$ROOT/etc/mhtest/jobs.d" "$ROOT/run"
        printf '[Host]\nName=testhost\n' >"$ROOT/etc/mhtest/mhtest.conf"
}
remove_root() {
        case "${ROOT:-}" in /tmp/mhtest-steps.*) rm -rf --one-file-system "$ROOT" ;; esac
        ROOT=
}
job() { # NAME < config
        cat >"$ROOT/etc/mhtest/jobs.d/$1.conf"
}
safety() { # < [Safety] lines
        { printf '[Host]\nName=testhost\n[Safety]\n'; cat; } >"$ROOT/etc/mhtest/mhtest.conf"
}
# mhtest against the tree; output (stdout+stderr) in $OUT, exit status in $RC
OUT=
RC=0
mh() {
        OUT=$("${MH_PREFIX[@]}" "$MHTEST_BIN" --root="$ROOT" "$@" 2>&1)
        RC=$?
        [ -n "${VERBOSE:-}" ] && echo "$OUT"
        return 0
}
MH_PREFIX=(env)

# Checks every step test makes. SNAPSHOT is a command printing the kernel state the step
# touches (never mhtest's own files).
check_reapply() { # STEP JOB SNAPSHOT MESSAGE: a second apply exits 0, says so, changes nothing
        local applied
        applied=$($3)
        mh apply "$1" "$2"
        expect_ok "apply again" $RC
        expect_contains "apply again says nothing changed" "$OUT" "$4"
        expect_eq "apply again changed nothing" "$($3)" "$applied"
}
check_status() { # STEP JOB CHANGE: status --json says applied and lists CHANGE
        mh --json status "$2"
        expect_eq "status: applied" \
                "$(echo "$OUT" | jq -r --arg s "$1" '.steps[] | select(.step == $s) | .state')" applied
        expect_contains "status: what changed" \
                "$(echo "$OUT" | jq -r --arg s "$1" '.steps[] | select(.step == $s) | .changes[]')" "$3"
}
check_cycles() { # STEP JOB SNAPSHOT APPLIED: 100 apply/revert cycles, SNAPSHOT compared after each
        local before i diffs=0 applies=0
        before=$($3)
        for i in $(seq 100); do
                mh apply "$1" "$2"
                [ "$RC" = 0 ] && $4 && applies=$((applies + 1))
                mh revert "$1" "$2"
                [ "$RC" = 0 ] && [ "$($3)" = "$before" ] || { diffs=$((diffs + 1)); echo "cycle $i differs"; }
        done
        expect_eq "cycles that applied and read back" $applies 100
        expect_eq "cycles whose revert left a difference" $diffs 0
}
