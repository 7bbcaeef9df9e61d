#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Unpack LAVA's test shell helper scripts (lava-test-case, multi_node/lava-send, lava-wait,
# lava-wait-all, lava-sync, lava-self, lava-role, lava-group, ...) from Debian's lava-dispatcher
# package, unchanged, for "mhtest-coord --lava-scripts=DIR". Installing lava-dispatcher itself
# would pull libguestfs, systemd-sysv and the dispatcher's Python stack onto the controller for
# a few shell scripts: "apt-get download" + "dpkg-deb -x" take only the package's files.
# Cached: the second run costs nothing. Prints the directory to pass as --lava-scripts=.
#
# Usage: lava-scripts.sh [DIR]   (default $MHTEST_LAVA_CACHE or /var/cache/mhtest/lava)
set -euo pipefail

dir=${1:-${MHTEST_LAVA_CACHE:-/var/cache/mhtest/lava}}
sub=usr/lib/python3/dist-packages/lava_dispatcher/lava_test_shell
log() { echo "lava-scripts: $*" >&2; }

mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9
if [ -f "$dir/lava_test_shell/multi_node/lava-send" ]; then
        echo "$dir/lava_test_shell"
        exit 0
fi
work=$(mktemp -d)
chmod 755 "$work" # apt-get download drops privileges to _apt
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download lava-dispatcher >/dev/null 2>&1 || { apt-get update -q >/dev/null; apt-get download lava-dispatcher >/dev/null; }
dpkg-deb -x lava-dispatcher_*.deb pkg
[ -f "pkg/$sub/multi_node/lava-send" ] || { log "no $sub/multi_node/lava-send in $(ls lava-dispatcher_*.deb)"; exit 1; }
rm -rf "$dir/lava_test_shell.tmp"
cp -a "pkg/$sub" "$dir/lava_test_shell.tmp"
mv "$dir/lava_test_shell.tmp" "$dir/lava_test_shell"
log "$(ls lava-dispatcher_*.deb)"
echo "$dir/lava_test_shell"
