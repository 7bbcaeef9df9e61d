#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The test command of the README: on a fresh Debian 12 machine, as root,
#
#     tools/run-tests.sh
#
# installs the build and test dependencies (tools/install-deps.sh), builds mhtest from scratch,
# runs every test suite, builds a second time with AddressSanitizer and UBSan and runs the unit
# and integration suites there, checks the code style, and ends with one line
# "N passed, N failed, N skipped". Exit status 0 only if nothing failed.
#
# Environment:
#   MHTEST_BUILD_DIR       build directory (default: build-ci), wiped first
#   MHTEST_SKIP_DEPS=1     do not run tools/install-deps.sh
#   MHTEST_SKIP_ASAN=1     skip the sanitizer build
#   MHTEST_SUITES="a b"    run only these suites in the first build (default: all of them)
#   MHTEST_TIMEOUT_MULTIPLIER  passed to meson test (default: 2)
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
src=$PWD
build=${MHTEST_BUILD_DIR:-build-ci}
build_asan=$build-asan
multiplier=${MHTEST_TIMEOUT_MULTIPLIER:-2}
start=$SECONDS
failed_steps=()
logs=()

say() { printf '\n=== %s (%ds)\n' "$*" $((SECONDS - start)); }

fail_step() {
        failed_steps+=("$1")
        echo "run-tests: FAILED: $1" >&2
}

# Suites of a configured build, from meson's introspection (not a hard-coded list: a suite
# someone adds is run too), in the order unit, install, integration, system, vm, others.
list_suites() {
        meson introspect --tests "$1" | python3 -c '
import json, sys
seen = []
for t in json.load(sys.stdin):
    for s in t["suite"]:
        s = s.split(":", 1)[-1]
        if s not in seen:
            seen.append(s)
# cheap and broad first, the expensive tiers last
order = ["unit", "install", "integration", "system", "vm"]
seen.sort(key=lambda s: (order.index(s) if s in order else len(order), s))
print("\n".join(seen))'
}

# run_suite BUILD SUITE LOGBASE: heavy suites (they boot containers and VMs on a 2-core
# machine) run one test at a time; the light ones in parallel.
run_suite() {
        local b=$1 suite=$2 logbase=$3 jobs=()

        case $suite in
        unit | install) ;;
        *) jobs=(--num-processes 1) ;;
        esac
        say "meson test --suite $suite ($b)"
        logs+=("$b/meson-logs/$logbase.json")
        rm -f "$b/meson-logs/$logbase.json"
        meson test -C "$b" --suite "$suite" --no-rebuild --print-errorlogs \
                --timeout-multiplier "$multiplier" --logbase "$logbase" "${jobs[@]}" </dev/null ||
                fail_step "meson test --suite $suite ($b)"
}

# The style check (.editorconfig, .clang-format): real rules the whole tree keeps today, so a
# regression fails CI. Whitespace rules apply to every tracked text file; clang-format applies
# to the files in clang_format_files (grow the list as files are reformatted), because
# reformatting everyone's files at once would only produce conflicts.
clang_format_files=(tests/unit/tests.[ch] tests/unit/test-strv.c tests/unit/test-parse-util.c
        tests/unit/test-config.c tests/unit/test-config-validate.c tests/unit/test-conf-parser.c
        tests/unit/test-conf-files.c src/shared/guest-seed.[ch] src/shared/guest-network.[ch]
        tests/guest/test-guest-seed-net.c)
check_style() {
        local files=() bad=0 f

        if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
                mapfile -t files < <(git ls-files)
        else
                mapfile -t files < <(find . -path ./.git -prune -o -path './build*' -prune -o -type f -print | sed 's|^\./||')
        fi
        for f in "${files[@]}"; do
                [ -f "$f" ] && [ ! -L "$f" ] || continue
                case $f in */fixtures/*) continue ;; esac # test data, may be malformed on purpose
                grep -Iq . "$f" 2>/dev/null || continue # binary or empty
                if grep -nE '[[:space:]]+$' "$f" | sed "s|^|$f:|;s|\$| <- trailing whitespace|" | grep .; then
                        bad=1
                fi
                case $f in
                *.scd) ;; # scdoc indents with tabs
                *)
                        if grep -nP '\t' "$f" | sed "s|^|$f:|;s|\$| <- tab (indent with spaces)|" | grep .; then
                                bad=1
                        fi
                        ;;
                esac
                if [ -n "$(tail -c1 "$f")" ]; then
                        echo "$f: no newline at end of file"
                        bad=1
                fi
        done
        mapfile -t files < <(ls -d "${clang_format_files[@]}" 2>/dev/null)
        if true; then
                if [ ${#files[@]} -gt 0 ]; then
                        if command -v clang-format >/dev/null; then
                                clang-format --dry-run --Werror "${files[@]}" || bad=1
                        else
                                echo "clang-format not installed (tools/install-deps.sh installs it)"
                                bad=1
                        fi
                fi
        fi
        [ $bad = 0 ] && echo "style: ok (${#files[@]} files checked with clang-format)"
        return $bad
}

if [ "${1:-}" = --style ]; then
        check_style
        exit
fi

# ---- dependencies ----
if [ "${MHTEST_SKIP_DEPS:-0}" != 1 ]; then
        say "install-deps"
        if [ "$(id -u)" = 0 ]; then
                tools/install-deps.sh || fail_step "tools/install-deps.sh"
        else
                echo "run-tests: not root, not installing dependencies (tools/install-deps.sh needs root)"
        fi
fi

# ---- build 1: everything, every suite ----
say "build $build"
rm -rf "$build"
if meson setup "$build" --werror >/dev/null && ninja -C "$build" -j2; then
        mapfile -t suites < <(list_suites "$build")
        if [ -n "${MHTEST_SUITES:-}" ]; then
                read -r -a suites <<<"$MHTEST_SUITES"
        fi
        echo "suites: ${suites[*]}"
        for s in "${suites[@]}"; do
                run_suite "$build" "$s" "testlog-$s"
        done
else
        fail_step "build $build"
fi

# ---- build 2: sanitizers, unit and integration suites ----
if [ "${MHTEST_SKIP_ASAN:-0}" != 1 ]; then
        say "build $build_asan (address,undefined)"
        rm -rf "$build_asan"
        # b_lundef=false: the sanitizer runtimes resolve some symbols only at run time.
        if meson setup "$build_asan" --werror -Db_sanitize=address,undefined -Db_lundef=false \
                -Dbuildtype=debug >/dev/null && ninja -C "$build_asan" -j2; then
                mapfile -t asan_suites < <(list_suites "$build_asan")
                for s in unit integration; do
                        if printf '%s\n' "${asan_suites[@]}" | grep -qx "$s"; then
                                run_suite "$build_asan" "$s" "testlog-asan-$s"
                        fi
                done
        else
                fail_step "build $build_asan"
        fi
fi

# ---- style ----
say "style"
check_style || fail_step "style check"

# ---- summary ----
say "summary"
read -r passed failed skipped < <(python3 - "${logs[@]}" <<'EOF'
import json, os, sys
p = f = s = 0
for log in sys.argv[1:]:
    if not os.path.exists(log):
        continue
    for line in open(log):
        try:
            r = json.loads(line)["result"]
        except (ValueError, KeyError):
            continue
        if r in ("OK", "EXPECTEDFAIL"):
            p += 1
        elif r == "SKIP":
            s += 1
        else:
            f += 1
print(p, f, s)
EOF
)
test_failed=$failed
for s in "${failed_steps[@]}"; do
        echo "failed: $s"
        # A step that failed without a failing test (build, style, deps) still counts.
        case $s in
        meson\ test*) [ "$test_failed" -gt 0 ] || failed=$((failed + 1)) ;;
        *) failed=$((failed + 1)) ;;
        esac
done
echo "total time: $((SECONDS - start))s"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ ${#failed_steps[@]} -eq 0 ]
