#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Golden tests of mhtest-generator: for each case in tests/fixtures/generator, run the
# generator on the case's --root tree into a temporary directory and compare what it wrote
# with the expected tree (tests/fixtures/generator/README).
set -euo pipefail

gen=${MHTEST_GENERATOR:?}
src=${MHTEST_SOURCE_ROOT:?}
fixtures=$src/tests/fixtures/generator
tmp=$(mktemp -d /tmp/mhtest-gen-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failed=0
n=0

for case_dir in "$fixtures"/*/; do
        name=$(basename "$case_dir")
        w=$tmp/$name
        mkdir -p "$w/out/normal" "$w/out/early" "$w/out/late"
        cp -a "$case_dir/root" "$w/root"
        if [ -e "$case_dir/vendor-config" ]; then
                mkdir -p "$w/root/usr/lib/mhtest/jobs.d"
                cp "$src/conf.d/mhtest.conf" "$w/root/usr/lib/mhtest/"
                cp "$src/conf.d/jobs.d/demo.conf" "$w/root/usr/lib/mhtest/jobs.d/"
        fi
        if [ -e "$case_dir/example-config" ]; then
                mkdir -p "$w/root/etc/mhtest"
                cp -a "$src/conf.d/examples/." "$w/root/etc/mhtest/"
        fi

        rc=0
        "$gen" --root="$w/root" "$w/out/normal" "$w/out/early" "$w/out/late" 2>"$w/stderr" || rc=$?
        n=$((n + 1))
        if [ $rc -ne 0 ]; then
                echo "FAIL $name: generator exited $rc (a generator never fails)"
                cat "$w/stderr"
                failed=1
                continue
        fi
        if [ -n "$(find "$w/out/early" "$w/out/late" -mindepth 1)" ]; then
                echo "FAIL $name: wrote into the early or late directory"
                failed=1
        fi
        if [ "${MHTEST_UPDATE_GOLDEN:-0}" = 1 ]; then
                rm -rf "$case_dir/expected"
                if [ -n "$(ls -A "$w/out/normal")" ]; then
                        cp -a "$w/out/normal" "$case_dir/expected"
                fi
                echo "updated $name"
                continue
        fi
        expected=$case_dir/expected
        [ -d "$expected" ] || expected=$w/empty
        mkdir -p "$w/empty"
        if ! diff -ru "$expected" "$w/out/normal"; then
                echo "FAIL $name: output differs from $case_dir/expected"
                failed=1
        fi
        # Only regular files and directories, mode 0644/0755: what systemd reads.
        if find "$w/out/normal" -type f ! -perm 0644 | grep .; then
                echo "FAIL $name: generated files must be mode 0644"
                failed=1
        fi
        if [ -f "$case_dir/stderr" ]; then
                while IFS= read -r line; do
                        want=${line//@ROOT@/$w/root}
                        if ! grep -qF -- "$want" "$w/stderr"; then
                                echo "FAIL $name: log lacks: $want"
                                echo "--- log:"
                                cat "$w/stderr"
                                failed=1
                        fi
                done <"$case_dir/stderr"
        fi
        [ $failed = 0 ] && echo "ok $name"
done

[ $n -ge 6 ] || { echo "FAIL: only $n cases found in $fixtures"; exit 1; }
exit $failed
