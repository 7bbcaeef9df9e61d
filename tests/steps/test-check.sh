#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# "mhtest check": pass/warn/fail per requirement with the remedy, non-zero on a failure, the
# kernel command-line suggestions, --json, and that it changes nothing. Hosts are --root trees
# (FAKE sysfs/procfs, the FAKE module tree); NIC safety reads a real veth in a network
# namespace of the test's own.
if [ -z "${MHTEST_IN_NETNS:-}" ]; then
        unshare --net true 2>/dev/null || { echo "SKIP: cannot create a network namespace"; exit 77; }
        MHTEST_IN_NETNS=1 exec unshare --net "$0" "$@"
fi
. "$(dirname "$0")/fake-lib.sh"

ip link set lo up
ip link add nv4 type veth peer name p-nv4 && ip link set nv4 up && ip addr add 192.0.2.1/24 dev nv4
ip link add nfree type veth peer name p-nfree && ip link set nfree up

# host CPU(amd|intel|none) IOMMU(yes|no) JOBCONF: a machine to check
host() {
        new_root "$1" "$3"
        mkdir -p "$ROOT/sys/kernel/mm/hugepages/hugepages-2048kB" "$ROOT/sys/kernel/iommu_groups" \
                "$ROOT/sys/bus/pci/devices" "$ROOT/usr/bin" "$ROOT/usr/sbin"
        echo 0 >"$ROOT/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
        echo 0 >"$ROOT/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"
        printf 'MemTotal:       4194304 kB\nMemFree:        2097152 kB\nMemAvailable:   3145728 kB\n' >"$ROOT/proc/meminfo"
        echo "BOOT_IMAGE=/vmlinuz root=/dev/vda ro quiet" >"$ROOT/proc/cmdline"
        for p in usr/bin/qemu-system-x86_64 usr/sbin/libvirtd usr/bin/dpdk-testpmd; do
                printf '#!/bin/sh\n' >"$ROOT/$p" && chmod +x "$ROOT/$p"
        done
        if [ "$2" = yes ]; then
                for g in 1 2; do mkdir -p "$ROOT/sys/kernel/iommu_groups/$g/devices"; done
        fi
        pcidev 0000:03:00.0 1 nfree
        pcidev 0000:04:00.0 2 nv4
}
pcidev() { # ADDR GROUP NETDEV
        local d=$ROOT/sys/bus/pci/devices/$1
        mkdir -p "$d/net/$3"
        echo "(null)" >"$d/driver_override"
        if [ -d "$ROOT/sys/kernel/iommu_groups/$2" ]; then
                ln -s "$ROOT/sys/kernel/iommu_groups/$2" "$d/iommu_group"
                ln -s "$d" "$ROOT/sys/kernel/iommu_groups/$2/devices/$1"
        fi
}
check() { # ARGS...: run "mhtest check", keep the output, and make sure nothing changed
        local before
        before=$(snapshot)
        mh check "$@"
        [ "$(snapshot)" = "$before" ] || fail "check changed the host tree"
}
line() { echo "$OUT" | grep -E "^  (PASS|WARN|FAIL)  $1 " | head -1; }
status() { line "$1" | awk '{print $1}'; }

echo "== host only, all there: passes"
host amd yes ""
check
expect_eq "exit 0" "$RC" 0
expect_eq "cpu" "$(status cpu-virtualization)" PASS
expect_contains "names the module" "$(line cpu-virtualization)" "kvm_amd"
expect_eq "kvm module loadable" "$(status kvm-module)" PASS
expect_eq "iommu" "$(status iommu)" PASS
expect_eq "vfio-pci available" "$(status vfio-module)" PASS
expect_eq "qemu" "$(status program-qemu)" PASS
expect_eq "libvirt" "$(status program-libvirt)" PASS
expect_contains "hugepage sizes listed" "$(line hugepages)" "page sizes offered: 2M"
expect_eq "cmdline" "$(status kernel-cmdline)" PASS

echo "== nested=yes on a CPU without virtualization: fails with the remedy"
host none yes '[Nested]\nEnable=yes\n'
check j
expect_eq "non-zero" "$([ "$RC" -ne 0 ] && echo yes)" yes
expect_eq "cpu fails" "$(status cpu-virtualization)" FAIL
expect_contains "remedy printed" "$OUT" "-> enable VT-x/AMD-V in the firmware"
host none yes '[Nested]\nEnable=auto\n'
check j
expect_eq "auto: only a warning, exit 0" "$(status cpu-virtualization):$RC" "WARN:0"

echo "== kvm_amd loaded with nested=0 while the job wants nested: warn"
host amd yes '[Nested]\nEnable=yes\n'
fake_modprobe kvm_amd nested=0
check j
expect_eq "kvm-module warns" "$(status kvm-module)" WARN
expect_contains "says nested=0" "$(line kvm-module)" "nested=0"

echo "== VFIO on Intel without IOMMU: iommu and kernel command line fail, exact arguments"
host intel no '[VFIO]\nDevices=0000:03:00.0\n'
check j
expect_eq "non-zero" "$([ "$RC" -ne 0 ] && echo yes)" yes
expect_eq "iommu fails" "$(status iommu)" FAIL
expect_eq "cmdline fails" "$(status kernel-cmdline)" FAIL
expect_contains "exact arguments" "$OUT" "add to the kernel command line: intel_iommu=on iommu=pt"
expect_contains "reboot required" "$OUT" "reboot required"

echo "== VFIO with IOMMU: only iommu=pt suggested (a warning)"
host intel yes '[VFIO]\nDevices=0000:03:00.0\n'
check j
expect_eq "exit 0" "$RC" 0
expect_eq "nic-safety" "$(status nic-safety)" PASS
expect_eq "cmdline warns" "$(status kernel-cmdline)" WARN
expect_contains "iommu=pt only" "$(echo "$OUT" | grep -- '-> add to the kernel')" "command line: iommu=pt —"
echo "BOOT_IMAGE=/vmlinuz ro iommu=pt" >"$ROOT/proc/cmdline"
check j
expect_eq "present: pass" "$(status kernel-cmdline)" PASS

echo "== NIC safety: a routed NIC and an unknown device fail, named"
host amd yes '[VFIO]\nDevices=0000:04:00.0 0000:99:00.0\n'
check j
expect_eq "non-zero" "$([ "$RC" -ne 0 ] && echo yes)" yes
expect_eq "nic-safety fails" "$(status nic-safety)" FAIL
expect_contains "address named" "$(line nic-safety)" "0000:04:00.0 (nv4): nv4 has address 192.0.2.1/24"
expect_contains "unknown device named" "$(line nic-safety)" "0000:99:00.0: no such PCI device"

echo "== pinned cores: isolcpus/nohz_full/rcu_nocbs suggested, accepted when present"
host amd yes '[Testpmd]\nPorts=null:n0\nCores=2-3\n[Guest g]\nKernel=/boot/vmlinuz\nVCPUPinning=4-5\n'
check j
expect_eq "cmdline warns" "$(status kernel-cmdline)" WARN
expect_contains "exact arguments" "$OUT" "isolcpus=2-5 nohz_full=2-5 rcu_nocbs=2-5"
echo "BOOT_IMAGE=/vmlinuz ro isolcpus=domain,managed_irq,2-5 nohz_full=2-5 rcu_nocbs=1-7" >"$ROOT/proc/cmdline"
check j
expect_eq "covered: pass" "$(status kernel-cmdline)" PASS
echo "BOOT_IMAGE=/vmlinuz ro isolcpus=2-4 nohz_full=2-5 rcu_nocbs=2-5" >"$ROOT/proc/cmdline"
check j
expect_contains "partial isolcpus: only isolcpus" "$(echo "$OUT" | grep -- '-> add to the kernel')" "command line: isolcpus=2-5 —"

echo "== hugepages: feasibility against MemAvailable and the floor; 1G not offered"
host amd yes '[HugePages]\nPages=2M:512\n'
check j
expect_eq "1G of 3G available, floor 1G: pass" "$(status hugepages):$RC" "PASS:0"
host amd yes '[HugePages]\nPages=2M:1024\nMinAvailableMemory=2G\n'
check j
expect_eq "2G of 3G, floor 2G: fail" "$(status hugepages)" FAIL
expect_contains "says why" "$(line hugepages)" "less than the floor"
host amd yes '[HugePages]\nPages=1G:4\n'
sed -i 's/^flags.*/& pdpe1gb/' "$ROOT/proc/cpuinfo"
check j
expect_eq "1G not offered: fail" "$(status hugepages)" FAIL
expect_contains "boot arguments for 1G pages" "$OUT" "default_hugepagesz=1G hugepagesz=1G hugepages=4"

echo "== programs: a job with guests needs qemu and libvirt"
host amd yes '[Guest g]\nKernel=/boot/vmlinuz\n'
rm "$ROOT/usr/bin/qemu-system-x86_64"
check j
expect_eq "qemu missing fails" "$(status program-qemu)" FAIL
expect_contains "remedy" "$OUT" "install qemu-system-x86"
host amd yes '[Testpmd]\nPorts=null:n0\nBinary=/opt/dpdk/bin/dpdk-testpmd\n'
check j
expect_eq "[Testpmd] Binary= missing fails" "$(status program-testpmd)" FAIL

echo "== connectivity to the job's other hosts (TCP to their ssh port)"
host amd yes '[Job]\nHosts=testhost peer down\n'
READY=$ROOT/listener.ready
python3 -c '
import socket, sys, os
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1])); os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    c, _ = s.accept(); c.close()
' "$READY" &
LISTENER=$!
trap 'kill $LISTENER 2>/dev/null; cleanup_root' EXIT
for i in $(seq 100); do [ -s "$READY" ] && break; sleep 0.1; done
mkdir -p "$ROOT/etc/mhtest/hosts.d"
printf '[Host]\nAddress=127.0.0.1\nSSHPort=%s\n' "$(cat "$READY")" >"$ROOT/etc/mhtest/hosts.d/peer.conf"
printf '[Host]\nAddress=127.0.0.1\nSSHPort=9\n' >"$ROOT/etc/mhtest/hosts.d/down.conf"
rm "$READY"
check j
kill $LISTENER; wait $LISTENER 2>/dev/null
expect_eq "non-zero" "$([ "$RC" -ne 0 ] && echo yes)" yes
expect_contains "reachable host passes" "$OUT" "PASS  connectivity       peer reachable (127.0.0.1 port"
expect_contains "closed port fails" "$OUT" "FAIL  connectivity       down (127.0.0.1 port 9) not reachable: Connection refused"
expect_eq "this host is not checked" "$(echo "$OUT" | grep -c 'testhost (')" 0

echo "== --json"
host intel no '[VFIO]\nDevices=0000:03:00.0\n'
check --json j
expect_eq "non-zero" "$([ "$RC" -ne 0 ] && echo yes)" yes
json=$(echo "$OUT" | sed -n '/^{/,/^}/p')
expect_eq "valid JSON, result fail" "$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"])')" fail
expect_eq "reboot_required" "$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["reboot_required"])')" True
expect_eq "cmdline arguments" "$(echo "$json" | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["kernel_cmdline_add"]))')" "intel_iommu=on iommu=pt"
expect_eq "every check has status and message" "$(echo "$json" | python3 -c 'import json,sys; c=json.load(sys.stdin)["checks"]; print(all(e["status"] in ("pass","warn","fail") and e["message"] for e in c) and len(c) >= 8)')" True

finish
