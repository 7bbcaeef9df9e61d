#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# PVP (seed 004) for real, in a lab host (systemd-nspawn booting this machine's OS, with its
# libvirtd): "systemctl start mhtest@JOB" starts the job's testpmd (two net_vhost ports,
# icmpecho forwarding) and a guest (Debian's cloud kernel, tools/build-guest-images.sh's PVP
# initrd) with two vhost-user NICs on those ports. The guest pings through each NIC; the test
# counts exactly, from both ends: the guest's ping says N transmitted and N received on each
# NIC, testpmd's telemetry N packets received and N sent on each port (the guest has no IPv6
# and a permanent ARP entry, so the echo requests are all it sends). Once with testpmd the
# vhost-user server and QEMU the client, once the other way round; libvirt is asked which side
# its domain took. "systemctl stop" leaves no domain, no testpmd and no socket behind.
# Then the refusals, each with what it names and nothing started: a vhost-user port testpmd does
# not have (file, line and key; no unit starts), a missing initrd (the same, from the guest
# service's host check), a libvirt network the host does not have (libvirt's refusal, named).
. "$(dirname "$0")/../system/lib.sh"
require_lab_capable
command -v dpdk-testpmd >/dev/null || skip "dpdk-testpmd is not installed (dpdk-dev)"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed"
images=$("${MHTEST_SOURCE_ROOT:-$(dirname "$0")/../..}/tools/build-guest-images.sh") ||
        { say "FAIL: cannot build the test guests"; exit 1; }

N=20
lab_up mhpvp 1 --images="$images"
H=mhpvp-h1

# run_pvp JOB MODE : the whole story with [Testpmd] VhostUserMode=MODE
run_pvp() {
        local J=$1 mode=$2 dom=mhtest-$1-vnf
        local U=mhtest@$J.service log=/var/log/libvirt/qemu/mhtest-$1-vnf-serial.log
        local want_domain_side=client; [ "$mode" = client ] && want_domain_side=server
        say "--- VhostUserMode=$mode: testpmd is the vhost-user $mode, the domain the $want_domain_side"

        cat <<EOF | hx "$H" sh -c "mkdir -p /etc/mhtest/jobs.d && cat > /etc/mhtest/jobs.d/$J.conf && systemctl daemon-reload"
[Testpmd]
Ports=vhost-user:vh0 vhost-user:vh1
VhostUserMode=$mode
ForwardMode=icmpecho
StatsIntervalSec=60

[Guest vnf]
Memory=256M
VCPUs=1
Type=qemu
Kernel=/var/lib/mhtest/images/vmlinuz
Initrd=/var/lib/mhtest/images/initrd-pvp.gz
KernelCommandLine=console=ttyS0 quiet panic=-1 mhtest.pvp.count=$N mhtest.pvp.nic=52:54:00:00:00:01,198.18.0.2/24,198.18.0.1 mhtest.pvp.nic=52:54:00:00:00:02,198.18.1.2/24,198.18.1.1
Interfaces=vhost-user:vh0/52:54:00:00:00:01 vhost-user:vh1/52:54:00:00:00:02
ReadyMarker=PVP-UP
ReadyTimeoutSec=180
EOF
        check "systemctl start $U" hx "$H" systemctl start "$U"
        check_eq "mhtest-testpmd@$J active" active "$(hx "$H" systemctl is-active "mhtest-testpmd@$J.service")"
        check_eq "mhtest-guest@$J:vnf active" active "$(hx "$H" systemctl is-active "mhtest-guest@$J:vnf.service")"

        # libvirt's view of the running domain: two vhost-user NICs on testpmd's sockets, the
        # other side of testpmd's
        check_eq "libvirt: the domain's vhost-user NICs (socket, side)" \
                "/run/mhtest/$J/vh0.sock $want_domain_side /run/mhtest/$J/vh1.sock $want_domain_side" \
                "$(hx "$H" virsh -q -c qemu:///system dumpxml "$dom" | python3 -c '
import sys, xml.etree.ElementTree as E
d = E.parse(sys.stdin).getroot()
print(" ".join(s.get("path") + " " + s.get("mode") for s in d.findall("devices/interface[@type=\"vhostuser\"]/source")))')"
        check_eq "testpmd's ports are the two net_vhost devices" "net_vhost_vh0 net_vhost_vh1" \
                "$(tp_telemetry "$H" "$J" /ethdev/info,0 /ethdev/info,1 | tp_eval '" ".join(i["name"] for i in r[1:])')"
        # testpmd's side, from the command line of the process that answers on the telemetry socket
        local tp_pid want_clients=0
        [ "$mode" = client ] && want_clients=2
        tp_pid=$(tp_telemetry "$H" "$J" | tp_eval 'r[0]["pid"]')
        check_eq "testpmd ($tp_pid): vhost-user devices with client=1" "$want_clients" \
                "$(hx "$H" cat "/proc/$tp_pid/cmdline" | tr '\0' '\n' | grep -c '^net_vhost_vh[01],.*,client=1$')"

        done_printed() { hx "$H" grep -c PVP-DONE "$log" >/dev/null; }
        wait_until "the guest's ping results on its console" done_printed
        local results
        results=$(hx "$H" cat "$log" | tr -d '\r' | grep '^PVP-')
        say "$(grep -E '^PVP-(UP|RESULT|ERROR)|transmitted' <<<"$results")"
        check_eq "the guest found both NICs" "eth0 eth1" "$(sed -n 's/^PVP-UP .* nics: *//p' <<<"$results")"
        check_eq "the guest: no error" "" "$(grep '^PVP-ERROR' <<<"$results")"
        check_eq "the guest's ping: $N transmitted, $N received on each NIC" \
                "52:54:00:00:00:01 $N $N;52:54:00:00:00:02 $N $N;" \
                "$(sed -n 's/^PVP-RESULT .* mac=\([^ ]*\) .* transmitted=\([0-9]*\) received=\([0-9]*\)$/\1 \2 \3/p' <<<"$results" | sort | tr '\n' ';')"
        # testpmd's own counters: each echo request received once and answered once, per port
        check_eq "testpmd's telemetry: $N packets in and $N out on each port, none missed or failed" \
                "$N $N 0 0 0;$N $N 0 0 0" \
                "$(tp_telemetry "$H" "$J" /ethdev/stats,0 /ethdev/stats,1 |
                        tp_eval '";".join(" ".join(str(s[k]) for k in ("ipackets", "opackets", "imissed", "ierrors", "oerrors")) for s in r[1:])')"

        check "systemctl stop $U" hx "$H" systemctl stop "$U"
        check_eq "no domain left" "" "$(hx "$H" virsh -q -c qemu:///system list --all --name | grep -x "$dom")"
        check_eq "mhtest-testpmd@$J inactive" inactive "$(hx "$H" systemctl is-active "mhtest-testpmd@$J.service")"
        check_eq "mhtest-guest@$J:vnf inactive" inactive "$(hx "$H" systemctl is-active "mhtest-guest@$J:vnf.service")"
        check_eq "no testpmd of $J runs" "" "$(hx "$H" pgrep -f "file-prefix=mhtest-$J( |\$)")"
        check_eq "no vhost-user socket left" "" "$(hx "$H" sh -c "ls /run/mhtest/$J/*.sock 2>/dev/null")"
        check "DPDK runtime directory removed" hx "$H" test ! -e "/var/run/dpdk/mhtest-$J"
}

# refused JOB UNIT MESSAGE CONF : "systemctl start mhtest@JOB" of CONF fails, UNIT's journal
# holds MESSAGE, a refused guest service was not restarted (exit 78, RestartPreventExitStatus=)
# and no domain of JOB was ever defined (the guest is transient: none kept).
refused() {
        local J=$1 unit=$2 msg=$3
        say "--- refused: $msg"
        printf '%s\n' "$4" | hx "$H" sh -c "cat > /etc/mhtest/jobs.d/$J.conf && systemctl daemon-reload"
        check "systemctl start mhtest@$J fails" start_fails "$J"
        check "the journal of $unit says: $msg" journal_says "$unit" "$msg"
        if [ "$unit" != "mhtest@$J.service" ]; then
                check_eq "$unit failed with exit status 78 (refused as configured)" 78 \
                        "$(hx "$H" systemctl show -P ExecMainStatus "$unit")"
                check_eq "$unit was not restarted" 0 "$(hx "$H" systemctl show -P NRestarts "$unit")"
        fi
        check_eq "no domain of $J" "" "$(hx "$H" virsh -q -c qemu:///system list --all --name | grep "^mhtest-$J-")"
        # (libvirt may open the domain's own log before it refuses: the serial log is QEMU's)
        check_eq "the guest's QEMU never ran (no serial console log)" "" \
                "$(hx "$H" sh -c "ls /var/log/libvirt/qemu/mhtest-$J-*serial* 2>/dev/null")"
        hx "$H" systemctl stop "mhtest@$J.service" "mhtest-guest@$J:vnf.service"
        hx "$H" systemctl reset-failed
        hx "$H" rm -f "/etc/mhtest/jobs.d/$J.conf"
}
start_fails() { ! hx "$H" systemctl start "mhtest@$1.service"; }
# (grep reads everything: with pipefail, an early grep -q exit would fail the writer)
journal_says() { hx "$H" journalctl --no-pager -o cat -u "$1" | grep -cF -- "$2" >/dev/null; }

run_pvp pvps server
run_pvp pvpc client

# config validation: the job does not start at all, testpmd included
refused badport mhtest@badport.service \
        '/etc/mhtest/jobs.d/badport.conf:5: [Guest vnf] Interfaces=: "vhost-user:vh9/52:54:00:00:00:02" is not a vhost-user port of [Testpmd] Ports=' \
        "[Testpmd]
Ports=vhost-user:vh0 vhost-user:vh1
[Guest vnf]
Kernel=/var/lib/mhtest/images/vmlinuz
Interfaces=vhost-user:vh0/52:54:00:00:00:01 vhost-user:vh9/52:54:00:00:00:02"
check_eq "mhtest-testpmd@badport never started" "" \
        "$(hx "$H" systemctl show -P ActiveEnterTimestamp mhtest-testpmd@badport.service)"
# host checks: the guest service names the file before it asks libvirt for anything
refused noimage mhtest-guest@noimage:vnf.service \
        '/etc/mhtest/jobs.d/noimage.conf:4: [Guest vnf] Initrd=: "/var/lib/mhtest/images/initrd-none.gz" cannot be used on this host' \
        "[Guest vnf]
Type=qemu
Kernel=/var/lib/mhtest/images/vmlinuz
Initrd=/var/lib/mhtest/images/initrd-none.gz"
# a libvirt network this host does not have: libvirt refuses the domain, the service says so
refused nonet mhtest-guest@nonet:vnf.service \
        "Failed to start guest vnf (mhtest-nonet-vnf)" \
        "[Guest vnf]
Type=qemu
Kernel=/var/lib/mhtest/images/vmlinuz
Initrd=/var/lib/mhtest/images/initrd-pvp.gz
Interfaces=network:mhtest-no-such-net"
check "the journal names the missing network" journal_says mhtest-guest@nonet:vnf.service mhtest-no-such-net
finish
