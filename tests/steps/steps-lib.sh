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
