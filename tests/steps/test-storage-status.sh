#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mhtest status for [Storage NAME]: the generated mount unit's name, systemd's state where a
# system manager answers (none here: null), and the kernel's view of Where= (a real tmpfs
# mounted in a private mount namespace stands in for the NFS export).
. "$(dirname "$0")/steps-lib.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
if [ -z "${MHTEST_IN_MOUNTNS:-}" ]; then
        unshare --mount true 2>/dev/null || { echo "SKIP: cannot create a mount namespace"; exit 77; }
        MHTEST_IN_MOUNTNS=1 exec unshare --mount --propagation private -- "$0" "$@"
fi
cleanup() {
        [ -n "${ROOT:-}" ] && mountpoint -q "$ROOT/srv/images" && umount "$ROOT/srv/images"
        remove_root
}
trap cleanup EXIT

new_root
job st <<'E'
[Storage images]
What=nfs.example:/export/images
Where=/srv/images
ReadOnly=yes
E
mkdir -p "$ROOT/srv/images"
mh --json status st
expect_ok "status" $RC
s=$(echo "$OUT" | jq -c '.storage[0]')
expect_eq "unit name" "$(echo "$s" | jq -r .unit)" srv-images.mount
expect_eq "not mounted" "$(echo "$s" | jq -r .mounted)" false
expect_eq "systemd not asked under --root" "$(echo "$s" | jq -r .unit_state)" null
mount -t tmpfs -o size=1M "nfs stand-in" "$ROOT/srv/images"
mh --json status st
s=$(echo "$OUT" | jq -c '.storage[0]')
expect_eq "mounted" "$(echo "$s" | jq -r .mounted)" true
expect_eq "its type" "$(echo "$s" | jq -r .mounted_type)" tmpfs
expect_eq "its source, unescaped" "$(echo "$s" | jq -r .mounted_source)" "nfs stand-in"
mh status st
expect_contains "text output" "$OUT" "storage    images: /srv/images, unit srv-images.mount"
umount "$ROOT/srv/images"
finish
