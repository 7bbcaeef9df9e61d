#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The Debian test guest (tools/build-debian-guest.sh) on a lab host, for real: libvirtd, QEMU
# (TCG here), cloud-init, sshd, qemu-guest-agent and libvirt's dnsmasq consume what mhtest
# made. "systemctl start mhtest@dn" starts the guest with a cloud-init seed (an SSH key and
# Hostname=), a management interface whose fixed address comes from a DHCP reservation on a
# libvirt NAT network mhtest creates (inside the lab host's own network namespace), and an SSH
# forward. Asserts: ssh with the injected key over the forwarded port of the host's lab address
# (from the controller); the host name the guest reports through the guest agent; the lease
# libvirt's DHCP gave the MAC and the address the guest itself has; after "systemctl stop" no
# domain, network, reservation record, seed ISO or listener is left.
. "$(dirname "$0")/lib.sh"
require_lab_capable
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed"
[ -x /usr/sbin/dnsmasq ] || fail "dnsmasq is not installed (dnsmasq-base, tools/install-deps.sh)"
command -v genisoimage >/dev/null || fail "genisoimage is not installed (tools/install-deps.sh)"
[ "$FAILS" = 0 ] || finish

images=$("$MHTEST_SOURCE_ROOT/tools/build-debian-guest.sh") || { say "FAIL: cannot build the Debian guest"; exit 1; }
T=$(mktemp -d)
cleanup() {
        lab_down
        rm -rf "$T"
}
trap cleanup EXIT
# The cached image is the guest's base (the lab hosts see its directory as
# /var/lib/mhtest/images): mhtest-guest@ attaches a qcow2 overlay of it, never the image itself.
sum_before=$(stat -c '%s %Y' "$images/debian.raw")

lab_up mhdeb 1 --images="$images"
trap cleanup EXIT
h=mhdeb-h1
addr=$(sed -n 's/^Address=//p' /run/mhtest/hosts.d/$h.conf | head -1)
[ -n "$addr" ] || { say "FAIL: no lab address for $h"; exit 1; }
# nspawn mounts /proc/sys read-only; libvirt writes the new bridge's IPv6 sysctls. The lab host
# has its own network namespace, so its /proc/sys/net is its own: made writable there only.
hx "$h" sh -c 'mount --bind /proc/sys/net /proc/sys/net && mount -o remount,bind,rw /proc/sys/net' ||
        fail "make the lab host's /proc/sys/net writable"
ssh-keygen -q -t ed25519 -N "" -C mhtest-test -f "$T/key"
hx "$h" sh -c 'mkdir -p /etc/mhtest/keys && cat > /etc/mhtest/keys/test.pub' < "$T/key.pub"

job="[Guest deb]
Memory=768M
Image=/var/lib/mhtest/images/debian.raw
Kernel=/var/lib/mhtest/images/vmlinuz
Initrd=/var/lib/mhtest/images/initrd.img
KernelCommandLine=console=ttyS0 root=/dev/vda rw quiet
Type=qemu
Interfaces=management/52:54:00:4d:00:10
ManagementNetwork=mhtest-mgmt
ManagementAddress=192.168.213.10/24
SSHForward=2222
SSHAuthorizedKeys=/etc/mhtest/keys/test.pub
Hostname=debtest
ReadyMarker=login:
ReadyTimeoutSec=580
"
printf '%s' "$job" | hx "$h" sh -c 'mkdir -p /etc/mhtest/jobs.d && cat > /etc/mhtest/jobs.d/dn.conf && systemctl daemon-reload' ||
        fail "write the job"

check_empty "no network mhtest-mgmt before" hx "$h" sh -c \
        'n=$(virsh -q -c qemu:///system net-list --all --name) && { printf "%s\n" "$n" | grep -x mhtest-mgmt || :; }'
t0=$SECONDS
check "systemctl start mhtest@dn" hx "$h" systemctl start mhtest@dn.service
say "guest ready (login: on its console) after $((SECONDS - t0)) s"
check_eq "guest unit active" active "$(hx "$h" systemctl is-active mhtest-guest@dn:deb.service)"
check_eq "network mhtest-mgmt created and active" "yes" \
        "$(hx "$h" virsh -c qemu:///system net-info mhtest-mgmt 2>/dev/null | awk '/^Active:/{print $2}')"

# ssh over the forward from the controller (another netns, as a user's machine would): the
# guest's sshd accepts the injected key once cloud-init has run; bounded by a deadline
SSH=(ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
        -o ConnectTimeout=10 -o IdentitiesOnly=yes -i "$T/key" -p 2222 "root@$addr")
ok=
deadline=$((SECONDS + 600))
while [ $SECONDS -lt $deadline ]; do
        if out=$(ctl "${SSH[@]}" 'hostname; ip -4 -o addr show' 2>"$T/ssh.err"); then ok=1; break; fi
        # wait on the guest: the next attempt after the guest's console has grown
        hx "$h" timeout 5 tail -n0 -f /var/log/libvirt/qemu/mhtest-dn-deb-serial.log >/dev/null 2>&1
done
check "ssh root@$addr:2222 with the injected key" test -n "$ok"
say "ssh answered after $((SECONDS - t0)) s from the start (TCG)"
check_eq "host name from the seed" debtest "$(head -1 <<<"$out")"
check "the guest has its reserved address" grep -q 'inet 192.168.213.10/24' <<<"$out"
[ -n "$ok" ] || { say "ssh: $(tail -3 "$T/ssh.err")"; hx "$h" tail -30 /var/log/libvirt/qemu/mhtest-dn-deb-serial.log; }

leases=$(hx "$h" virsh -q -c qemu:///system net-dhcp-leases mhtest-mgmt)
check "libvirt's lease gives the MAC the reserved address" \
        grep -Eq '52:54:00:4d:00:10 +ipv4 +192\.168\.213\.10/24' <<<"$leases"
agent=$(hx "$h" virsh -c qemu:///system qemu-agent-command mhtest-dn-deb '{"execute":"guest-get-host-name"}')
check_eq "guest agent: host name" debtest \
        "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["return"]["host-name"])' <<<"$agent" 2>/dev/null)"
check "status shows the address" sh -c "\"$MHTEST\" lab exec $h -- mhtest status dn | grep -q 192.168.213.10"
check "the seed ISO is attached" hx "$h" test -s /var/lib/mhtest/seed/mhtest-dn-deb.iso
disks=$(hx "$h" virsh -q -c qemu:///system domblklist mhtest-dn-deb)
check "libvirt runs vda on the overlay, not on the cached image" \
        grep -Eq '^ *vda +/var/lib/mhtest/guests/dn/deb/vda\.qcow2$' <<<"$disks"

check "systemctl stop mhtest@dn" hx "$h" systemctl stop mhtest@dn.service
check_empty "no domain left" hx "$h" sh -c 'n=$(virsh -q -c qemu:///system list --all --name) && printf "%s" "$n" | tr -d "[:space:]"'
check_empty "no network mhtest-mgmt left" hx "$h" sh -c \
        'n=$(virsh -q -c qemu:///system net-list --all --name) && { printf "%s\n" "$n" | grep -x mhtest-mgmt || :; }'
check_empty "no overlay left" hx "$h" sh -c 'test ! -e /var/lib/mhtest/guests || find /var/lib/mhtest/guests -mindepth 1'
check_empty "no seed ISO left" hx "$h" sh -c 'test ! -e /var/lib/mhtest/seed || find /var/lib/mhtest/seed -name "*.iso"'
check_empty "no reservation record left" hx "$h" sh -c \
        'test ! -e /run/mhtest/networks || find /run/mhtest/networks -name "*.json"'
check_empty "nothing listens on port 2222" hx "$h" ss -Hltn 'sport = :2222'
check_empty "no socket proxy left" hx "$h" sh -c 'pgrep -af "systemd-socket-prox[y]d" || [ $? = 1 ]'
check_eq "the cached image is unchanged" "$sum_before" "$(stat -c '%s %Y' "$images/debian.raw")"
finish
