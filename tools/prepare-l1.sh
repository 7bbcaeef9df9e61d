#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Prepare what an L1 VM host boots (mhtest lab --backend=vm, the vm test suite): Debian's
# generic kernel with its modules tree (depmod'ed, shared into the guest over 9p) and a busybox
# initramfs whose /init is tools/l1-init. Everything comes from Debian packages through apt;
# the result is cached and the second run costs nothing:
#
#     CACHE/KVER/vmlinuz          the kernel
#     CACHE/KVER/lib/modules/     the modules tree (the guest's /lib/modules)
#     CACHE/KVER/initrd.img       busybox + virtio/9p/overlay modules + l1-init as /init
#     CACHE/current -> KVER
#
# Usage: prepare-l1.sh [--cache DIR] [--init FILE] [--kernel-version KVER]
#   --cache DIR        default $MHTEST_L1_CACHE or /var/cache/mhtest/l1
#   --init FILE        the initramfs's /init (default: l1-init next to this script)
#   --kernel-version   default: what Debian's linux-image-amd64 depends on
# Prints "KVER CACHE/KVER" on success.
#
# The generic kernel, not the cloud one: the cloud kernel has neither 9p nor e1000.
set -euo pipefail

cache=${MHTEST_L1_CACHE:-/var/cache/mhtest/l1}
init=$(dirname "$(readlink -f "$0")")/l1-init
kver=

while [ $# -gt 0 ]; do
        case $1 in
        --cache) cache=$2; shift 2 ;;
        --init) init=$2; shift 2 ;;
        --kernel-version) kver=$2; shift 2 ;;
        *) echo "prepare-l1: unknown argument $1" >&2; exit 2 ;;
        esac
done

log() { echo "prepare-l1: $*" >&2; }

[ -r "$init" ] || { log "no init script $init"; exit 1; }
for p in apt-get dpkg depmod cpio gzip; do
        command -v "$p" >/dev/null || { log "$p is missing (tools/install-deps.sh installs it)"; exit 1; }
done
busybox=/bin/busybox
if ! file -L "$busybox" 2>/dev/null | grep -q 'statically linked'; then
        log "$busybox is not the static busybox (install busybox-static)"
        exit 1
fi

if [ -z "$kver" ]; then
        kver=$(apt-cache depends linux-image-amd64 2>/dev/null |
                sed -n 's/^ *Depends: linux-image-\(6\.[0-9.]*-[0-9]*-amd64\)$/\1/p' | head -1)
        # apt lists may be missing on a fresh machine, or only list the versions already known.
        if [ -z "$kver" ] && [ -L "$cache/current" ]; then
                kver=$(readlink "$cache/current")
        fi
        [ -n "$kver" ] || { log "cannot tell the current Debian kernel (apt-get update?)"; exit 1; }
fi
dir=$cache/$kver
mkdir -p "$cache"

# Serialize concurrent preparations (a test and a lab up at once).
exec 9>"$cache/.lock"
flock 9

if [ ! -e "$dir/.kernel-done" ]; then
        log "fetching linux-image-$kver"
        rm -rf "$dir"
        mkdir -p "$dir/dl"
        (cd "$dir/dl" && apt-get download -q "linux-image-$kver" >&2) || {
                log "apt-get download linux-image-$kver failed"
                rm -rf "$dir"
                exit 1
        }
        dpkg -x "$dir"/dl/linux-image-*.deb "$dir/kg"
        mv "$dir/kg/boot/vmlinuz-$kver" "$dir/vmlinuz"
        mkdir -p "$dir/lib/modules"
        mv "$dir/kg/lib/modules/$kver" "$dir/lib/modules/$kver"
        rm -rf "$dir/dl" "$dir/kg"
        depmod -b "$dir" "$kver"
        touch "$dir/.kernel-done"
fi

# The initramfs depends on the init script too: rebuild when it changed.
stamp=$( (sha256sum <"$init"; sha256sum <"$busybox") | sha256sum | cut -c1-16)
if [ "$(cat "$dir/.initrd-stamp" 2>/dev/null)" != "$stamp" ] || [ ! -s "$dir/initrd.img" ]; then
        log "building initrd for $kver"
        tmp=$(mktemp -d "$dir/initrd.XXXXXX")
        trap 'rm -rf "$tmp"' EXIT
        mkdir -p "$tmp"/{bin,dev,proc,sys,lower,rw,newroot,payload,lib/modules/"$kver"}
        cp "$busybox" "$tmp/bin/busybox"
        install -m 0755 "$init" "$tmp/init"
        # On 6.1, 9p needs netfs and fscache.
        mods="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
              9pnet 9pnet_virtio netfs fscache 9p overlay"
        for m in $mods; do
                f=$(find "$dir/lib/modules/$kver/kernel" -name "$m.ko*" | head -1)
                [ -n "$f" ] || { log "module $m not found in $kver"; exit 1; }
                rel=${f#"$dir/lib/modules/$kver/"}
                mkdir -p "$tmp/lib/modules/$kver/$(dirname "$rel")"
                cp "$f" "$tmp/lib/modules/$kver/$rel"
        done
        cp "$dir/lib/modules/$kver"/modules.{order,builtin,builtin.modinfo} "$tmp/lib/modules/$kver/" 2>/dev/null || true
        depmod -b "$tmp" "$kver"
        (cd "$tmp" && find . | cpio -o -H newc --quiet | gzip -1) >"$dir/initrd.img.new"
        mv "$dir/initrd.img.new" "$dir/initrd.img"
        echo "$stamp" >"$dir/.initrd-stamp"
        rm -rf "$tmp"
        trap - EXIT
fi

ln -sfn "$kver" "$cache/current.new"
mv -T "$cache/current.new" "$cache/current"
echo "$kver $dir"
