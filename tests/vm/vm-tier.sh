#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The vm suite's host side. One L1 boot serves every step test:
#
#   vm-tier.sh boot SRC BUILD KVMTEST RESULTS    boot the L1 once, run l1-tests.sh inside,
#                                                 leave RESULTS/STEP.{log,result}
#   vm-tier.sh check STEP SRC BUILD KVMTEST RESULTS
#                                                 the verdict of one step (boots first if no
#                                                 results of a finished boot exist)
#
# The L1 (KVM where mhtest's accelerator probe says a standard guest runs, proven by the kernel's
# first console line within a deadline; TCG otherwise): q35 + intel-iommu, CPU with svm/npt and what
# DPDK needs, two e1000 NICs on an in-QEMU hub (00:03.0, 00:04.0), a virtio management NIC on
# its own hub (00:02.0), the machine's / over 9p read-only + tmpfs overlay, the Debian kernel
# and modules from tools/prepare-l1.sh, this build's mhtest installed from a meson install
# --destdir staging tree shared over 9p, systemd as PID 1 booting mhtest-vmtest.target.
# Exit 77 only if QEMU cannot run here at all.
set -uo pipefail

mode=$1
shift
if [ "$mode" = check ]; then
        what=$1
        shift
fi
src=$1 build=$2 kvmtest=$3 results=$4
timeout_s=${MHTEST_VM_TIMEOUT:-600}
first_output_s=${MHTEST_VM_FIRST_OUTPUT:-60}

log() { echo "vm-tier: $*"; }

# The accelerator, from mhtest's probe (mhtest check --json): "ACCEL NEEDS_PROOF REASON".
probe_accel() {
        "$build/src/mhtest/mhtest" check --json 2>/dev/null | python3 -c '
import json, sys
a = json.load(sys.stdin)["accelerator"]
print(a["accel"], int(a["needs_proof"]), a["reason"])' 2>/dev/null || echo "tcg 0 the accelerator probe (mhtest check --json) gave no answer"
}

# run_qemu ACCEL: boot the L1 once; QEMU's exit status, 124 at the deadline, 125 if a KVM boot
# printed nothing within first_output_s (the kernel does not run under this KVM).
run_qemu() {
        local accel=$1 cpu machine t0
        if [ "$accel" = kvm ]; then
                # The host's own CPU and vendor (vmx on Intel, svm on AMD) for the nested tests;
                # the emulated IOMMU's interrupt remapping needs the split irqchip under KVM.
                cpu=host
                machine=q35,accel=kvm,kernel-irqchip=split
        else
                # Under TCG QEMU emulates svm only; SSE4.2/SSSE3/POPCNT for DPDK; 1 GiB pages.
                cpu=qemu64,+svm,+npt,+ssse3,+sse4.1,+sse4.2,+popcnt,+pdpe1gb
                machine=q35,accel=tcg
        fi
        : >"$results/console.log"
        timeout -s TERM "$timeout_s" qemu-system-x86_64 \
                -nodefaults -no-reboot -display none -serial stdio \
                -machine "$machine" -cpu "$cpu" -smp 2 -m 6G \
                -device intel-iommu,intremap=on \
                -netdev hubport,id=mgmt,hubid=1 \
                -device virtio-net-pci,netdev=mgmt,mac=52:54:00:00:00:10,bus=pcie.0,addr=0x2 \
                -netdev hubport,id=p0,hubid=0 -device e1000,netdev=p0,mac=52:54:00:12:34:01,bus=pcie.0,addr=0x3 \
                -netdev hubport,id=p1,hubid=0 -device e1000,netdev=p1,mac=52:54:00:12:34:02,bus=pcie.0,addr=0x4 \
                -kernel "$kdir/vmlinuz" -initrd "$kdir/initrd.img" -append "$(echo $append)" \
                -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
                -virtfs local,path="$kdir/lib/modules",mount_tag=modules,security_model=none,readonly=on \
                -virtfs local,path="$work/payload",mount_tag=payload,security_model=none,readonly=on \
                -virtfs local,path="$work/out",mount_tag=out,security_model=none \
                </dev/null >"$results/console.log" 2>&1 &
        qemu_pid=$!
        if [ "$accel" = kvm ]; then
                # A KVM that runs no standard guest kernel (PVM) shows nothing at all: the
                # kernel's first line must appear within the deadline.
                t0=$SECONDS
                until grep -q 'Linux version' "$results/console.log" 2>/dev/null; do
                        if ! kill -0 "$qemu_pid" 2>/dev/null || [ $((SECONDS - t0)) -ge "$first_output_s" ]; then
                                break
                        fi
                        sleep 0.5
                done
                if ! grep -q 'Linux version' "$results/console.log" 2>/dev/null && kill -0 "$qemu_pid" 2>/dev/null; then
                        kill "$qemu_pid" 2>/dev/null
                        wait "$qemu_pid" 2>/dev/null
                        qemu_pid=
                        return 125
                fi
        fi
        wait "$qemu_pid"
        rc=$?
        qemu_pid=
        return $rc
}

boot() {
        local work qemu_pid rc accel needs_proof reason kver kdir start

        # Nothing of an earlier run may pass for this one's results, whatever fails below.
        rm -rf "$results"
        mkdir -p "$results"
        if ! command -v qemu-system-x86_64 >/dev/null; then
                log "qemu-system-x86_64 is not installed: cannot run L1 hosts here"
                return 77
        fi
        if ! qemu-system-x86_64 -machine q35,accel=tcg -nodefaults -display none -S \
                -device intel-iommu -qmp stdio >/dev/null 2>&1 <<<'{"execute":"qmp_capabilities"}
{"execute":"quit"}'; then
                log "qemu-system-x86_64 cannot start a q35 TCG machine here"
                return 77
        fi

        start=$SECONDS
        read -r kver kdir < <("$src/tools/prepare-l1.sh") || {
                log "tools/prepare-l1.sh failed"
                return 1
        }
        log "kernel $kver prepared in $((SECONDS - start))s"

        work=$(mktemp -d /var/tmp/mhtest-vm.XXXXXX)
        cleanup() {
                [ -n "${qemu_pid:-}" ] && kill "$qemu_pid" 2>/dev/null && wait "$qemu_pid" 2>/dev/null
                rm -rf "$work"
        }
        trap cleanup EXIT INT TERM

        # What the L1 gets over / : this build installed, the job configs, the test units.
        local root=$work/payload/root
        meson install -C "$build" --destdir "$root" --no-rebuild --quiet >"$work/install.log" 2>&1 || {
                cat "$work/install.log"
                log "meson install --destdir failed"
                return 1
        }
        mkdir -p "$root/etc/mhtest/jobs.d" "$root/etc/systemd/system" "$root/etc/systemd/network" \
                "$root/usr/local/lib/mhtest-vmtest"
        cp "$src"/tests/vm/jobs/*.conf "$root/etc/mhtest/jobs.d/"
        cp "$src"/tests/vm/units/*.service "$src"/tests/vm/units/*.target "$root/etc/systemd/system/"
        cp "$src/tests/vm/units/mgmt.network" "$root/etc/systemd/network/10-mgmt.network"
        install -m 0755 "$src/tests/vm/l1-tests.sh" "$src/tests/vm/telemetry-check.py" "$kvmtest" \
                "$root/usr/local/lib/mhtest-vmtest/"
        mv "$root/usr/local/lib/mhtest-vmtest/$(basename "$kvmtest")" "$root/usr/local/lib/mhtest-vmtest/kvmtest"
        # basic.target still pulls in what the machine enabled for itself: keep it out of the L1.
        for u in libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket virtlockd.socket \
                virtlockd-admin.socket virtlogd.socket virtlogd-admin.socket apt-daily.timer \
                apt-daily-upgrade.timer man-db.timer dpkg-db-backup.timer e2scrub_all.timer \
                fstrim.timer logrotate.timer systemd-timesyncd.service postgresql.service \
                systemd-pstore.service; do
                ln -sf /dev/null "$root/etc/systemd/system/$u"
        done

        read -r accel needs_proof reason < <(probe_accel)
        log "accelerator: $accel ($reason)"
        [ "$needs_proof" = 1 ] && log "KVM is not certain here: the kernel's first console line must appear within ${first_output_s}s"
        # nested=0 for both vendors: the nested test must see the step turn it to 1 (Debian's
        # 6.1 loads kvm_amd with nested=1 by default). 1 GiB pages offered, none reserved: the
        # hugepages test allocates one at run time (6 GiB of memory, so the kernel has several
        # aligned 1 GiB ranges to choose from).
        local append="console=ttyS0 rdinit=/init intel_iommu=on iommu=pt panic=-1 loglevel=4
                systemd.unit=mhtest-vmtest.target systemd.show_status=1 kvm_amd.nested=0 kvm_intel.nested=0
                hugepagesz=1G"
        mkdir -p "$work/out"
        log "booting the L1 ($accel, timeout ${timeout_s}s)"
        start=$SECONDS
        run_qemu "$accel"
        rc=$?
        if [ $rc = 125 ]; then
                log "KVM: the L1's kernel printed nothing in ${first_output_s}s (a KVM that runs no standard guest kernel): booting under TCG"
                accel=tcg
                mv "$results/console.log" "$results/console-kvm.log"
                rm -rf "$work/out" && mkdir -p "$work/out"
                start=$SECONDS
                run_qemu tcg
                rc=$?
        fi
        echo "$accel" >"$results/accel"
        log "QEMU exited with $rc after $((SECONDS - start))s"
        cp -r "$work/out/." "$results/"
        rm -rf "$work"
        trap - EXIT INT TERM
        if [ ! -e "$results/done" ]; then
                log "the console's last lines:"
                tail -n 40 "$results/console.log"
                [ $rc = 124 ] && log "the L1 did not finish within ${timeout_s}s"
                log "the in-guest tests did not complete"
                return 1
        fi
        for s in check nested hugepages vfio testpmd; do
                printf 'vm-tier: %-10s %s\n' "$s" "$(cat "$results/$s.result" 2>/dev/null || echo 'no result')"
        done
        touch "$results/.complete"
        return 0
}

# One boot at a time for every test of this build.
mkdir -p "$(dirname "$results")"
exec 9>"$results.lock"
flock 9
case $mode in
boot)
        boot
        exit
        ;;
check)
        # A check that finds no finished boot (run alone, "meson test vm-nested") boots itself.
        if [ ! -e "$results/.complete" ]; then
                boot
                r=$?
                [ $r = 0 ] || exit $r
        fi
        cat "$results/$what.log" 2>/dev/null
        verdict=$(cat "$results/$what.result" 2>/dev/null || echo "fail: no result (see $results/console.log)")
        echo "vm-tier: $what: $verdict (L1 under $(cat "$results/accel" 2>/dev/null))"
        case $verdict in
        pass) exit 0 ;;
        skip*) exit 77 ;;
        *) exit 1 ;;
        esac
        ;;
*)
        echo "usage: vm-tier.sh boot|check ..." >&2
        exit 2
        ;;
esac
