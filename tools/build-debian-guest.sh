#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Build the Debian test guest that proves cloud-init's SSH key and hostname, the management
# network's DHCP reservation, the SSH port forward and the QEMU guest agent against the real
# programs that consume them. Debian packages only (mmdebstrap, minbase variant, no
# recommends, no documentation): systemd, udev, dbus, openssh-server, qemu-guest-agent, cloud-init
# reading nothing but a NoCloud seed (datasource_list: [ NoCloud, None ]), systemd-networkd
# with DHCP on every Ethernet NIC, the cloud kernel. A serial getty on ttyS0 comes from
# console=ttyS0. Boots directly (no boot loader) with
#
#     Kernel=DIR/vmlinuz  Initrd=DIR/initrd.img  Image=DIR/debian.raw
#     KernelCommandLine=console=ttyS0 root=/dev/vda rw quiet
#
# The disk is one ext4 file system (label "root", no partition table) made from the tree by
# mke2fs -d, so no loop device or mount is needed. Cached like build-guest-images.sh: flock,
# and a second run with the files present costs nothing.
#
# Usage: build-debian-guest.sh [DIR]   (default $MHTEST_DEBIAN_GUEST or /var/cache/mhtest/debian-guest)
set -euo pipefail

dir=${1:-${MHTEST_DEBIAN_GUEST:-/var/cache/mhtest/debian-guest}}
log() { echo "build-debian-guest: $*" >&2; }

mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9
# dbus: mhtest-coord's guest shells run "systemd-run --pipe --wait", which talks to systemd
# over the system bus. A cached image built from another package list is built again.
packages=linux-image-cloud-amd64,systemd,systemd-sysv,udev,dbus,openssh-server,qemu-guest-agent,cloud-init,iproute2,netbase,iputils-ping
if [ -s "$dir/vmlinuz" ] && [ -s "$dir/initrd.img" ] && [ -s "$dir/debian.raw" ] &&
        [ "$(cat "$dir/packages" 2>/dev/null)" = "$packages" ]; then
        echo "$dir"
        exit 0
fi
for p in mmdebstrap mke2fs; do
        command -v "$p" >/dev/null || { log "$p is not installed (tools/install-deps.sh)"; exit 1; }
done
# The machine's own Debian release and mirror (deb822 or one-line sources).
. /etc/os-release
suite=${VERSION_CODENAME:?cannot tell the Debian release from /etc/os-release}
mirror=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $2 !~ /^\[/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
mirror=${mirror:-http://deb.debian.org/debian}

# cloud-init under TCG costs seconds per module: NoCloud only, no default user (the keys go to
# root, as seed 004 wants), only the modules that the seed's meta-data and user-data need, one
# host key type. Units a test guest has no use for are masked: they cost boot time under TCG.
export CLOUD_CFG='datasource_list: [ NoCloud, None ]
users: []
ssh_genkeytypes: [ ed25519 ]
cloud_init_modules: [ seed_random, bootcmd, write_files, set_hostname, update_hostname, update_etc_hosts, ssh ]
cloud_config_modules: [ runcmd ]
cloud_final_modules: [ scripts_user, final_message ]'
export MASKED='getty@.service e2scrub_reap.service e2scrub_all.timer apt-daily.timer apt-daily-upgrade.timer fstrim.timer systemd-binfmt.service'

work=$(mktemp -d "$dir/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
tree=$work/tree
t0=$SECONDS

mmdebstrap --mode=root --variant=minbase --quiet \
        --include="$packages" \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' \
        --essential-hook='mkdir -p "$1/etc/initramfs-tools/conf.d"' \
        --essential-hook='printf "MODULES=list\n" > "$1/etc/initramfs-tools/conf.d/mhtest"' \
        --essential-hook='mkdir -p "$1/usr/share/initramfs-tools/modules.d"' \
        --essential-hook='printf "virtio_pci\nvirtio_blk\next4\n" > "$1/usr/share/initramfs-tools/modules.d/mhtest"' \
        --customize-hook='printf "%s\n" "$CLOUD_CFG" > "$1/etc/cloud/cloud.cfg.d/90-mhtest.cfg"' \
        --customize-hook='chroot "$1" systemctl mask $MASKED >/dev/null 2>&1' \
        --customize-hook='printf "network: {config: disabled}\n" > "$1/etc/cloud/cloud.cfg.d/91-mhtest-network.cfg"' \
        --customize-hook='printf "[Match]\nType=ether\n\n[Network]\nDHCP=ipv4\n\n[DHCPv4]\nClientIdentifier=mac\n" > "$1/etc/systemd/network/80-mhtest-dhcp.network"' \
        --customize-hook='chroot "$1" systemctl enable systemd-networkd.service >/dev/null 2>&1' \
        --customize-hook='printf "LABEL=root / ext4 defaults 0 1\n" > "$1/etc/fstab"' \
        --customize-hook='rm -f "$1/etc/hostname"' \
        --customize-hook=': > "$1/etc/machine-id"; rm -f "$1/var/lib/dbus/machine-id"' \
        --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
        "$suite" "$tree" "$mirror"
log "tree built in $((SECONDS - t0)) s"

kernel=$(ls "$tree"/boot/vmlinuz-* | head -1)
initrd=$(ls "$tree"/boot/initrd.img-* | head -1)
[ -s "$kernel" ] && [ -s "$initrd" ] || { log "no kernel or initrd in the tree"; exit 1; }
cp "$kernel" "$work/vmlinuz"
cp "$initrd" "$work/initrd.img"

# Room for cloud-init's and the journal's writes: the tree's size plus 256 MiB.
size=$(( $(du -sm "$tree" | cut -f1) + 256 ))
mke2fs -q -t ext4 -L root -d "$tree" "$work/debian.raw" "${size}M"
chmod 644 "$work/vmlinuz" "$work/initrd.img" "$work/debian.raw"
mv "$work/vmlinuz" "$dir/vmlinuz"
mv "$work/initrd.img" "$dir/initrd.img"
mv "$work/debian.raw" "$dir/debian.raw"
echo "$packages" > "$dir/packages"
log "$(basename "$kernel"), ${size} MiB disk, $((SECONDS - t0)) s in all"
echo "$dir"
