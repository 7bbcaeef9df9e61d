#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Install what mhtest needs to build, run its demo and all of its tests, from Debian 12's
# packages. Idempotent; run as root.
set -euo pipefail
packages=(
        # build
        meson ninja-build pkg-config gcc scdoc
        libsystemd-dev libvirt-dev libnl-3-dev libnl-route-3-dev libkmod-dev libcmocka-dev
        libinih-dev libjson-c-dev libxml2-dev libssl-dev libhwloc-dev libclang-rt-14-dev
        # run and test
        systemd systemd-container dbus iproute2 kmod hwloc
        libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils
        dpdk-dev openssh-server openssh-client
        busybox-static cpio bc man-db python3 file
        # the JUnit consumer tests/coord/test-migrate.sh reads the coordinator's report with
        python3-junitparser
        # LAVA multinode test shells: the coordinator (the helper scripts: tools/lava-scripts.sh)
        lava-coordinator
        # guests: cloud-init seeds (genisoimage; isoinfo for its test), management networks
        # (libvirt runs dnsmasq), the Debian test guest (tools/build-debian-guest.sh)
        genisoimage dnsmasq-base mmdebstrap
        # style check (tools/run-tests.sh)
        clang-format git
)
missing=()
for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
        echo "install-deps: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# mhtest-coord starts lava-coordinator for a run; the package's own service would bind 0.0.0.0:3079
# on this machine (and in every lab host, whose root is this one)
if systemctl -q is-enabled lava-coordinator.service 2>/dev/null; then
        systemctl disable --now lava-coordinator.service 2>/dev/null || systemctl disable lava-coordinator.service
fi
