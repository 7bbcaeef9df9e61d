#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Build the test guests mhtest's guest, migration and PVP tests boot: Debian's cloud kernel and
# two busybox initramfs images. Everything from Debian packages; cached, the second run costs
# nothing (each file is built once; a missing one is built alone, and an initrd again when its
# /init is not the one below).
#
#     DIR/vmlinuz        the kernel of linux-image-cloud-amd64
#     DIR/initrd-tick.gz /init prints "GUEST-UP" and then "TICK n" once a second on the serial
#                        console (a gap or a repeat in the ticks shows a guest that did not keep
#                        running across a migration); with mhtest.poweroff_after=N on the kernel
#                        command line it powers off by itself after N ticks
#     DIR/initrd-pvp.gz  /init loads virtio_net and its dependencies (modules of the same kernel
#                        package as DIR/vmlinuz), sets up the NICs the kernel command line names,
#                        pings through each and prints the counts (see the script below)
#
# Usage: build-guest-images.sh [DIR]   (default $MHTEST_GUEST_IMAGES or /var/cache/mhtest/guest)
set -euo pipefail

dir=${1:-${MHTEST_GUEST_IMAGES:-/var/cache/mhtest/guest}}
log() { echo "build-guest-images: $*" >&2; }

# The tick initrd's /init. A cached initrd-tick.gz whose /init differs from this is built again.
tick_init() {
        cat <<'EOI'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
echo "GUEST-UP $(uname -r)"
# mhtest.poweroff_after=N: a guest-initiated poweroff after N ticks (guest supervision tests)
off=$(sed -n 's/.*mhtest\.poweroff_after=\([0-9]*\).*/\1/p' /proc/cmdline)
i=0
while true; do
        i=$((i + 1))
        echo "TICK $i"
        if [ -n "$off" ] && [ "$i" -ge "$off" ]; then
                echo "POWEROFF after $i ticks"
                poweroff -f
        fi
        sleep 1
done
EOI
}

# The PVP initrd's /init. A cached initrd-pvp.gz whose /init differs from this is built again.
pvp_init() {
        cat <<'EOI'
#!/bin/busybox sh
# The PVP guest: on the kernel command line
#   mhtest.pvp.nic=MAC,ADDRESS/PREFIX,PEER[,PEER-MAC]   (once per NIC)
#   mhtest.pvp.count=N (default 10)   mhtest.pvp.interval=SECONDS (default 0.2)
# it gives the NIC with MAC the address, a permanent ARP entry for PEER (PEER-MAC, default
# 02:00:00:00:00:01) and no IPv6, so that the N echo requests are all the NIC sends; prints
# "PVP-UP", pings PEER through every NIC at once, then one line per NIC
#   PVP-RESULT if=eth0 mac=MAC peer=PEER transmitted=N received=M
# and "PVP-DONE", and keeps running (a guest that stops is a failed service).
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
for m in $(cat /lib/modules/order); do
        insmod "/lib/modules/$m.ko" || echo "PVP-ERROR insmod $m failed"
done
count=10 interval=0.2 nics=
for a in $(cat /proc/cmdline); do
        case $a in
        mhtest.pvp.count=*) count=${a#*=} ;;
        mhtest.pvp.interval=*) interval=${a#*=} ;;
        mhtest.pvp.nic=*) nics="$nics ${a#*=}" ;;
        esac
done
iface_of() { # the interface whose MAC is $1, waited for up to 30 s
        local i n
        for i in $(seq 300); do
                for n in /sys/class/net/*; do
                        [ "$(cat "$n/address" 2>/dev/null)" = "$1" ] && { echo "${n##*/}"; return 0; }
                done
                sleep 0.1
        done
        return 1
}
ifs=
for nic in $nics; do
        IFS=, read -r mac addr peer peermac <<EON
$nic
EON
        ifc=$(iface_of "$mac") || { echo "PVP-ERROR no interface with MAC $mac"; continue; }
        echo 1 > "/proc/sys/net/ipv6/conf/$ifc/disable_ipv6" 2>/dev/null
        ip addr add "$addr" dev "$ifc"
        ip link set "$ifc" up
        arp -i "$ifc" -s "$peer" "${peermac:-02:00:00:00:00:01}"
        echo "$mac $peer" > "/tmp/$ifc.nic"
        ifs="$ifs $ifc"
done
echo "PVP-UP $(uname -r) nics:$ifs"
for ifc in $ifs; do
        read -r mac peer < "/tmp/$ifc.nic"
        ping -q -c "$count" -i "$interval" -W 10 -I "$ifc" "$peer" > "/tmp/$ifc.ping" 2>&1 &
done
wait
for ifc in $ifs; do
        read -r mac peer < "/tmp/$ifc.nic"
        sed 's/^/PVP-PING /' "/tmp/$ifc.ping"
        tx=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "/tmp/$ifc.ping")
        rx=$(sed -n 's/.* \([0-9]*\) packets received.*/\1/p' "/tmp/$ifc.ping")
        echo "PVP-RESULT if=$ifc mac=$mac peer=$peer transmitted=${tx:-0} received=${rx:-0}"
done
echo "PVP-DONE"
while true; do
        sleep 3600
done
EOI
}
initrd_current() { # initrd_current NAME INIT-FUNCTION
        [ -s "$dir/$1" ] && [ "$(zcat "$dir/$1" | cpio -i --quiet --to-stdout init 2>/dev/null)" = "$($2)" ]
}

mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9
initrd_current initrd-pvp.gz pvp_init || rm -f "$dir/initrd-pvp.gz"
# a stale tick initrd is replaced in place (pack_initrd renames): running tests boot it
tick_ok=
initrd_current initrd-tick.gz tick_init && tick_ok=1
if [ -s "$dir/vmlinuz" ] && [ -n "$tick_ok" ] && [ -s "$dir/initrd-pvp.gz" ]; then
        echo "$dir"
        exit 0
fi
work=$(mktemp -d)
chmod 755 "$work" # apt-get download drops privileges to _apt
trap 'rm -rf "$work"' EXIT
cd "$work"

# The release a bzImage was built as ("6.1.0-57-cloud-amd64"), from its setup header: the
# kernel_version field at 0x20e points to the version string, relative to 0x200.
kernel_release() {
        python3 -c '
import sys
d = open(sys.argv[1], "rb").read(1 << 16)
off = int.from_bytes(d[0x20e:0x210], "little") + 0x200
print(d[off:off + 256].split(b"\0")[0].split()[0].decode())' "$1"
}

# Unpack linux-image-RELEASE (default: the one linux-image-cloud-amd64 depends on) into kpkg/.
fetch_kernel() {
        local pkg
        if [ -n "${1:-}" ]; then
                pkg=linux-image-$1
                apt-get download "$pkg" >/dev/null 2>&1 || { apt-get update -q >/dev/null; apt-get download "$pkg" >/dev/null 2>&1; } || return 1
        else
                apt-get download linux-image-cloud-amd64 >/dev/null 2>&1 || { apt-get update -q >/dev/null; apt-get download linux-image-cloud-amd64 >/dev/null; }
                pkg=$(dpkg-deb -f linux-image-cloud-amd64_*.deb Depends | grep -o 'linux-image-[0-9][^ ,]*-cloud-amd64' | head -1)
                [ -n "$pkg" ] || { log "cannot tell which kernel linux-image-cloud-amd64 depends on"; exit 1; }
                apt-get download "$pkg" >/dev/null
        fi
        rm -rf kpkg
        dpkg -x "$pkg"_*.deb kpkg
}

# The kernel, and for the PVP initrd the modules of that very kernel: a cached vmlinuz keeps its
# release if the archive still has it; otherwise both are replaced (the tick initrd has no
# modules and stays).
if [ ! -s "$dir/vmlinuz" ] || [ ! -s "$dir/initrd-pvp.gz" ]; then
        if [ -s "$dir/vmlinuz" ] && fetch_kernel "$(kernel_release "$dir/vmlinuz")"; then
                :
        else
                fetch_kernel
                cp kpkg/boot/vmlinuz-* "$dir/vmlinuz.tmp"
                mv "$dir/vmlinuz.tmp" "$dir/vmlinuz"
                rm -f "$dir/initrd-pvp.gz"
        fi
        log "kernel $(basename kpkg/boot/vmlinuz-*)"
fi

new_initrd() { # new_initrd TREE
        mkdir -p "$1/bin" "$1/proc" "$1/sys" "$1/dev" "$1/tmp"
        cp /bin/busybox "$1/bin/busybox"
}
pack_initrd() { # pack_initrd TREE NAME
        (cd "$1" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$dir/$2.tmp"
        mv "$dir/$2.tmp" "$dir/$2"
}

if [ -z "$tick_ok" ]; then
        new_initrd tick
        tick_init > tick/init
        chmod +x tick/init
        pack_initrd tick initrd-tick.gz
fi

if [ ! -s "$dir/initrd-pvp.gz" ]; then
        release=$(basename kpkg/lib/modules/*)
        mdir=kpkg/lib/modules/$release
        new_initrd pvp
        mkdir -p pvp/lib/modules
        # virtio_net and virtio_pci with their dependencies, each after what it depends on;
        # nothing for what the kernel has built in (CONFIG_...=y).
        declare -A seen=()
        add_module() {
                local m=$1 f d
                [ -z "${seen[$m]:-}" ] || return 0
                seen[$m]=1
                f=$(find "$mdir/kernel" -name "$m.ko" -o -name "${m//_/-}.ko" | head -1)
                if [ -z "$f" ]; then
                        grep -q "/$m.ko\$" "$mdir/modules.builtin" && return 0
                        log "$release has no module $m"
                        exit 1
                fi
                for d in $(modinfo -F depends "$f" | tr , ' '); do
                        add_module "$d"
                done
                cp "$f" pvp/lib/modules/
                echo "$m" >> pvp/lib/modules/order
        }
        add_module virtio_pci
        add_module virtio_net
        log "PVP initrd for $release: modules $(tr '\n' ' ' < pvp/lib/modules/order)"
        pvp_init > pvp/init
        chmod +x pvp/init
        pack_initrd pvp initrd-pvp.gz
fi
echo "$dir"
