#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Build the test guest mhtest's guest and migration tests boot: Debian's cloud kernel and a
# busybox initramfs whose /init prints "GUEST-UP" and then "TICK n" once a second on the
# serial console (a gap or a repeat in the ticks shows a guest that did not keep running
# across a migration). Everything from Debian packages; cached, the second run costs nothing.
#
#     DIR/vmlinuz  DIR/initrd-tick.gz
#
# Usage: build-guest-images.sh [DIR]   (default $MHTEST_GUEST_IMAGES or /var/cache/mhtest/guest)
set -euo pipefail

dir=${1:-${MHTEST_GUEST_IMAGES:-/var/cache/mhtest/guest}}
log() { echo "build-guest-images: $*" >&2; }

mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9
if [ -s "$dir/vmlinuz" ] && [ -s "$dir/initrd-tick.gz" ]; then
        echo "$dir"
        exit 0
fi
work=$(mktemp -d)
chmod 755 "$work" # apt-get download drops privileges to _apt
trap 'rm -rf "$work"' EXIT
cd "$work"

if [ ! -s "$dir/vmlinuz" ]; then
        apt-get download linux-image-cloud-amd64 >/dev/null 2>&1 || { apt-get update -q >/dev/null; apt-get download linux-image-cloud-amd64 >/dev/null; }
        dep=$(dpkg-deb -f linux-image-cloud-amd64_*.deb Depends | grep -o 'linux-image-[0-9][^ ,]*-cloud-amd64' | head -1)
        [ -n "$dep" ] || { log "cannot tell which kernel linux-image-cloud-amd64 depends on"; exit 1; }
        apt-get download "$dep" >/dev/null
        dpkg -x "$dep"_*.deb kpkg
        cp kpkg/boot/vmlinuz-* "$dir/vmlinuz.tmp"
        mv "$dir/vmlinuz.tmp" "$dir/vmlinuz"
        log "kernel $(basename kpkg/boot/vmlinuz-*)"
fi

mkdir -p initrd/bin initrd/proc initrd/sys initrd/dev
cp /bin/busybox initrd/bin/busybox
cat > initrd/init <<'EOI'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
echo "GUEST-UP $(uname -r)"
i=0
while true; do
        i=$((i + 1))
        echo "TICK $i"
        sleep 1
done
EOI
chmod +x initrd/init
(cd initrd && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$dir/initrd-tick.gz.tmp"
mv "$dir/initrd-tick.gz.tmp" "$dir/initrd-tick.gz"
echo "$dir"
