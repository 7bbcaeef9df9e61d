#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# "mhtest config show|validate|hash" and the common options, as a user runs them, on --root
# trees: exit codes, file:line in the output, the hash across hosts that split a job
# differently.
set -euo pipefail

mhtest=${MHTEST_BIN:?}
gen=${MHTEST_GENERATOR:?}
src=${MHTEST_SOURCE_ROOT:?}
tmp=$(mktemp -d /tmp/mhtest-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failed=0

check() { # DESCRIPTION EXPECTED-RC COMMAND...: runs it, output in $tmp/out
        local what=$1 want=$2 rc=0
        shift 2
        "$@" >"$tmp/out" 2>&1 || rc=$?
        if [ "$rc" != "$want" ]; then
                echo "FAIL $what: exit $rc, expected $want"
                cat "$tmp/out"
                failed=1
                return 1
        fi
        echo "ok $what"
}

contains() { # DESCRIPTION TEXT: the last output contains TEXT
        if grep -qF -- "$2" "$tmp/out"; then
                echo "ok $1"
        else
                echo "FAIL $1: no \"$2\" in:"
                cat "$tmp/out"
                failed=1
        fi
}

# the common options; the version is the one meson.build declares
version=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$src/meson.build" | head -1)
[ -n "$version" ] || { echo "FAIL: no version in $src/meson.build"; exit 1; }
for tool in "$mhtest" "$gen"; do
        check "$(basename "$tool") --help" 0 "$tool" --help
        check "$(basename "$tool") --version" 0 "$tool" --version
        contains "$(basename "$tool") --version prints the project's version" " $version"
        check "$(basename "$tool") --log-level=bogus" 2 "$tool" --log-level=bogus --help
done
check "config --help" 0 "$mhtest" config --help
contains "config --help" "config show|validate|hash"

# a host with the example configuration: host1
ex=$tmp/host1
mkdir -p "$ex/etc/mhtest" "$ex/usr/lib/mhtest/jobs.d"
cp -a "$src/conf.d/examples/." "$ex/etc/mhtest/"
cp "$src/conf.d/mhtest.conf" "$ex/usr/lib/mhtest/"
cp "$src/conf.d/jobs.d/demo.conf" "$ex/usr/lib/mhtest/jobs.d/"
echo host1 >"$ex/etc/hostname"

check "validate the examples" 0 "$mhtest" --root="$ex" config validate
contains "validate counts the jobs" "(3 job(s))"
check "validate one job" 0 "$mhtest" --root="$ex" config validate pvp
check "quiet validate" 0 "$mhtest" --root="$ex" --quiet config validate
[ ! -s "$tmp/out" ] || { echo "FAIL: --quiet printed something"; failed=1; }
check "show" 0 "$mhtest" --root="$ex" config show
contains "show names this host" "# This host: host1"
contains "show lists the jobs" "# Jobs: demo migrate pvp"
check "show a job" 0 "$mhtest" --root="$ex" config show pvp
line=$(grep -n '^MountPoint=' "$ex/etc/mhtest/jobs.d/pvp.conf" | cut -d: -f1)
contains "show gives file:line" "# $ex/etc/mhtest/jobs.d/pvp.conf:$line"
contains "show lists the drop-in" "# $ex/etc/mhtest/jobs.d/pvp.conf.d/10-small-host.conf"
check "show --all" 0 "$mhtest" --root="$ex" --all config show pvp
contains "show --all includes defaults" "(default)"
check "show an unknown job" 1 "$mhtest" --root="$ex" config show nope
contains "says which job" 'Job "nope" not found'
check "validate an unknown job" 1 "$mhtest" --root="$ex" config validate nope
check "hash without a job" 1 "$mhtest" --root="$ex" config hash
check "unknown config verb" 1 "$mhtest" --root="$ex" config frobnicate

# the hash: the same effective pvp job on host1, written another way (split into /run and /etc,
# keys in other order, values spelled differently)
check "hash on host1" 0 "$mhtest" --root="$ex" config hash pvp
h1=$(cat "$tmp/out")
[[ $h1 =~ ^[0-9a-f]{64}$ ]] || { echo "FAIL: hash is not 64 hex digits: $h1"; failed=1; }
h2root=$tmp/split
mkdir -p "$h2root/etc/mhtest/jobs.d/pvp.conf.d" "$h2root/run/mhtest/jobs.d" "$h2root/usr/lib/mhtest"
cp -a "$src/conf.d/examples/hosts.d" "$h2root/etc/mhtest/"
cp "$src/conf.d/mhtest.conf" "$h2root/usr/lib/mhtest/"
echo host1 >"$h2root/etc/hostname"
# the main file in /run, keys reversed, sizes and booleans spelled differently
awk 'function flush() { for (i = n; i > 0; i--) print keys[i]; n = 0 }
     /^\[/ { flush(); print; next }
     /=/ { keys[++n] = $0 }
     END { flush() }' "$ex/etc/mhtest/jobs.d/pvp.conf" >"$tmp/reordered"
sed -e 's/^Memory=4G$/Memory=4096M/' -e 's/^HugePages=yes$/HugePages=true/' "$tmp/reordered" \
        >"$h2root/run/mhtest/jobs.d/pvp.conf"
cp "$ex/etc/mhtest/jobs.d/pvp.conf.d/"*.conf "$h2root/etc/mhtest/jobs.d/pvp.conf.d/"
check "hash of the split job" 0 "$mhtest" --root="$h2root" config hash pvp
h2=$(cat "$tmp/out")
if [ "$h1" = "$h2" ]; then
        echo "ok same effective job, same hash"
else
        echo "FAIL same effective job, different hash: $h1 vs $h2"
        diff <("$mhtest" --root="$ex" --all config show pvp | sed 's/ *#.*//') \
                <("$mhtest" --root="$h2root" --all config show pvp | sed 's/ *#.*//') || true
        failed=1
fi
sed -i 's/^Memory=4096M$/Memory=4098M/' "$h2root/run/mhtest/jobs.d/pvp.conf"
check "hash after a change" 0 "$mhtest" --root="$h2root" config hash pvp
[ "$(cat "$tmp/out")" != "$h1" ] || { echo "FAIL: a changed job hashes the same"; failed=1; }

# a typo: file:line, section and key, exit 1, and the other errors too
sed -i 's/^Rounds=/Rouns=/; s/^Bandwidth=1G$/Bandwidth=lots/' "$ex/etc/mhtest/jobs.d/migrate.conf"
l1=$(grep -n '^Rouns=' "$ex/etc/mhtest/jobs.d/migrate.conf" | cut -d: -f1)
l2=$(grep -n '^Bandwidth=' "$ex/etc/mhtest/jobs.d/migrate.conf" | cut -d: -f1)
check "validate a typo" 1 "$mhtest" --root="$ex" config validate
contains "typo with file:line and key" "$ex/etc/mhtest/jobs.d/migrate.conf:$l1: [Migration pingpong] Rouns=: unknown key"
contains "bad value with file:line and key" "$ex/etc/mhtest/jobs.d/migrate.conf:$l2: [Migration pingpong] Bandwidth=: invalid value \"lots\""
contains "error count" "2 error(s)."
check "the other jobs still validate" 0 "$mhtest" --root="$ex" config validate pvp
check "hash refuses an invalid job" 1 "$mhtest" --root="$ex" config hash migrate

exit $failed
