#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# "meson install --destdir" puts everything where systemd and the user expect it, and the
# installed tools work: binaries, the 7 unit templates, the generator in systemd's generator
# directory, man pages that render, the journal catalog, bash completion, vendor config.
source "$(dirname "$0")/lib.sh"
trap 'rm -rf "$tmp"' EXIT

install_destdir

# everything meson says it installs is there
python3 - "$tmp/installed.json" "$dest" <<'PY' || fail "files missing from the DESTDIR"
import json, os, sys
missing = [p for p in json.load(open(sys.argv[1])).values() if not os.path.lexists(sys.argv[2] + p)]
for p in missing:
    print("missing:", p)
sys.exit(1 if missing else 0)
PY

# binaries
mhtest=$(installed_path /bin/mhtest)
[ -x "$dest$mhtest" ] || fail "$mhtest is not executable"
"$dest$mhtest" --version | grep -q '^mhtest ' || fail "mhtest --version"
"$dest$mhtest" --help >/dev/null || fail "mhtest --help"

# unit templates, all in one directory: systemd's system unit directory
unitdir=
for u in mhtest@ mhtest-nested@ mhtest-hugepages@ mhtest-vfio@ mhtest-bridge@ mhtest-testpmd@ mhtest-guest@; do
        p=$(installed_path "/$u.service")
        d=$(dirname "$p")
        [ -z "$unitdir" ] || [ "$unitdir" = "$d" ] || fail "$p is not in $unitdir"
        unitdir=$d
        grep -q "^ExecStart=$mhtest " "$dest$p" || fail "$p: ExecStart= does not run $mhtest"
done
if pkg-config --exists systemd; then
        want=$(pkg-config --variable=systemdsystemunitdir systemd)
        [ "$unitdir" = "$want" ] || fail "units in $unitdir, systemd reads $want"
        want=$(pkg-config --variable=systemdsystemgeneratordir systemd)
        [ "$(installed_path /mhtest-generator)" = "$want/mhtest-generator" ] ||
                fail "generator not in $want"
fi
gen=$(installed_path /mhtest-generator)
[ -x "$dest$gen" ] || fail "$gen is not executable"
mkdir "$tmp/gen-out"
"$dest$gen" --root="$tmp/empty-root" "$tmp/gen-out" || fail "installed generator"

# man pages: installed and rendering without a warning
n=0
for page in man8/mhtest.8 man5/mhtest.conf.5 man8/mhtest-generator.8 man8/mhtest@.service.8; do
        if ! p=$(installed_path "/$page" 2>/dev/null); then
                if meson introspect --buildoptions "$build" | grep -q '"name": "man", "value": "disabled"'; then
                        echo "note: $page not checked, built with -Dman=disabled"
                        continue
                fi
                fail "$page is not installed (is scdoc installed? tools/install-deps.sh)"
        fi
        out=$(MANWIDTH=80 LC_ALL=C.UTF-8 man -l "$dest$p" 2>"$tmp/man.err") || fail "man -l $page"
        [ ! -s "$tmp/man.err" ] || { cat "$tmp/man.err"; fail "man -l $page warns"; }
        [ "$(printf '%s\n' "$out" | wc -l)" -gt 10 ] || fail "man -l $page renders almost nothing"
        n=$((n + 1))
done
echo "man pages rendered: $n"

# journal catalog: installed, and journalctl can build its database from it
cat=$(installed_path /mhtest.catalog)
case $cat in */catalog/mhtest.catalog) ;; *) fail "catalog at $cat" ;; esac
if command -v journalctl >/dev/null; then
        journalctl --root="$dest" --update-catalog || fail "journalctl --update-catalog"
        ids=$(journalctl --root="$dest" --list-catalog | wc -l)
        [ "$ids" -ge 1 ] || fail "no catalog entries"
        echo "catalog entries: $ids"
fi

# bash completion
comp=$(installed_path /completions/mhtest)
bash -n "$dest$comp" || fail "bash completion does not parse"

# vendor configuration, lowest priority in the search path
vendor=$(installed_path /lib/mhtest/mhtest.conf)
installed_path /lib/mhtest/jobs.d/demo.conf >/dev/null
case $(dirname "$vendor") in /usr/lib/mhtest | /usr/local/lib/mhtest) ;; *) fail "vendor config in $(dirname "$vendor"), not in the search path" ;; esac
"$dest$mhtest" --root="$dest" config validate || fail "the installed vendor config does not validate"
"$dest$mhtest" --root="$dest" config show demo >/dev/null || fail "config show demo"

# the example configs validate; a typo is reported with file:line and the key, exit 1
ex=$tmp/examples
mkdir -p "$ex/etc/mhtest"
cp -a "$src/conf.d/examples/." "$ex/etc/mhtest/"
mkdir -p "$ex/usr/lib/mhtest/jobs.d"
cp "$src/conf.d/mhtest.conf" "$ex/usr/lib/mhtest/"
cp "$src/conf.d/jobs.d/demo.conf" "$ex/usr/lib/mhtest/jobs.d/"
echo host1 >"$ex/etc/hostname"
"$dest$mhtest" --root="$ex" config validate || fail "conf.d examples do not validate"
for job in demo pvp migrate; do
        "$dest$mhtest" --root="$ex" config hash "$job" | grep -qE '^[0-9a-f]{64}$' || fail "config hash $job"
done

sed -i 's/^Transport=/Transprot=/' "$ex/etc/mhtest/jobs.d/migrate.conf"
line=$(grep -n '^Transprot=' "$ex/etc/mhtest/jobs.d/migrate.conf" | cut -d: -f1)
rc=0
"$dest$mhtest" --root="$ex" config validate >"$tmp/out" 2>&1 || rc=$?
cat "$tmp/out"
[ $rc -eq 1 ] || fail "config validate with a typo exited $rc, expected 1"
grep -qF "$ex/etc/mhtest/jobs.d/migrate.conf:$line: [Migration pingpong] Transprot=:" "$tmp/out" ||
        fail "the typo is not reported with file:line and key"
echo "ok"
