#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The Debian test guest (tools/build-debian-guest.sh) on a 2-host lab, for real: libvirtd, QEMU
# (TCG here), cloud-init, sshd, qemu-guest-agent and libvirt's dnsmasq consume what mhtest made.
# One lab, one guest boot, the job of tests/system/debian-guest.conf:
#   one host   "systemctl start mhtest@dn" on host 1 starts the guest on a qcow2 overlay of the
#              cached image, with a cloud-init seed (an SSH key and Hostname=), a management
#              interface whose fixed address comes from a DHCP reservation on a libvirt NAT
#              network mhtest creates (in the lab host's own network namespace), and an SSH
#              forward. Asserts: ssh with the injected key over the forwarded port of the host's
#              lab address (from the controller); the host name through the guest agent; the
#              lease libvirt's DHCP gave the MAC and the address the guest itself has; libvirt
#              runs the disk on the overlay.
#   migrate    mhtest-coord migrates it to host 2 without shared storage (libvirt copies the
#              overlay's top layer): a file written and synced in the guest before is there after
#              (read over host 2's forward with the page cache dropped); the Workload= process the
#              guest agent started before still runs after (Check=); libvirt runs the domain on host
#              2 on host 2's overlay, host 2's mhtest-guest@ supervises it, host 1's ended with
#              "migrated" and left no overlay or seed; the JUnit (junitparser) carries libvirt's disk
#              figures, equal to virsh domjobinfo --completed.
#   check      back to host 1 with a Workload= that kills that process: Check= fails, so the run
#              fails (exit status, JUnit failure), and the guest is supervised where libvirt runs it.
#   abort      to host 2 at 1 MiB/s with TimeoutSec=2: the coordinator aborts it, the guest runs on
#              supervised on host 1, and host 2 has no overlay, seed or network left.
#   stop       "systemctl stop" on both hosts leaves no domain, network, reservation record,
#              overlay, seed ISO or listener; the cached image is unchanged.
. "$(dirname "$0")/lib.sh"
require_lab_capable
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed"
[ -x /usr/sbin/dnsmasq ] || fail "dnsmasq is not installed (dnsmasq-base, tools/install-deps.sh)"
command -v genisoimage >/dev/null || fail "genisoimage is not installed (tools/install-deps.sh)"
/usr/bin/python3 -c 'import junitparser' 2>/dev/null || fail "python3-junitparser is not installed (tools/install-deps.sh)"
[ "$FAILS" = 0 ] || finish
COORD=${MHTEST_COORD:?}

images=$("$MHTEST_SOURCE_ROOT/tools/build-debian-guest.sh") || { say "FAIL: cannot build the Debian guest"; exit 1; }
T=$(mktemp -d)
cleanup() {
        lab_down
        rm -rf "$T"
}
trap cleanup EXIT
# The cached image is the guest's base (the lab hosts see its directory as
# /var/lib/mhtest/images, at the same path on both): mhtest-guest@ attaches a qcow2 overlay of
# it, never the image itself.
sum_before=$(stat -c '%s %Y' "$images/debian.raw")

lab_up mhdeb 2 --images="$images"
trap cleanup EXIT
h1=mhdeb-h1
h2=mhdeb-h2
addr1=$(sed -n 's/^Address=//p' /run/mhtest/hosts.d/$h1.conf | head -1)
addr2=$(sed -n 's/^Address=//p' /run/mhtest/hosts.d/$h2.conf | head -1)
[ -n "$addr1" ] && [ -n "$addr2" ] || { say "FAIL: no lab addresses"; exit 1; }
ssh-keygen -q -t ed25519 -N "" -C mhtest-test -f "$T/key"
job=$(sed "s/@H1@/$h1/g; s/@H2@/$h2/g" "$MHTEST_SOURCE_ROOT/tests/system/debian-guest.conf")
mkdir -p "$T/etc/mhtest/jobs.d/dn.conf.d" "$T/run/mhtest/hosts.d"
cp /run/mhtest/hosts.d/mhdeb-h*.conf "$T/run/mhtest/hosts.d/"
echo mhdeb-ctl > "$T/etc/hostname"
printf '%s\n' "$job" > "$T/etc/mhtest/jobs.d/dn.conf"
for h in $h1 $h2; do
        # nspawn mounts /proc/sys read-only; libvirt writes the new bridge's IPv6 sysctls. A lab
        # host has its own network namespace, so its /proc/sys/net is its own: writable there only.
        hx "$h" sh -c 'mount --bind /proc/sys/net /proc/sys/net && mount -o remount,bind,rw /proc/sys/net' ||
                fail "make $h's /proc/sys/net writable"
        hx "$h" sh -c 'mkdir -p /etc/mhtest/keys && cat > /etc/mhtest/keys/test.pub' < "$T/key.pub"
        printf '%s\n' "$job" | hx "$h" sh -c 'mkdir -p /etc/mhtest/jobs.d && cat > /etc/mhtest/jobs.d/dn.conf && systemctl daemon-reload' ||
                fail "write the job on $h"
done
# libvirt's ssh transport runs "ssh" from PATH: the lab's wrapper carries its key and config
export PATH=/run/mhtest/lab/mhdeb/bin:$PATH

SSH=(ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
        -o ConnectTimeout=10 -o IdentitiesOnly=yes -o LogLevel=ERROR -i "$T/key" -p 2222)
net_named() { # the libvirt networks named mhtest-mgmt on a host (the listing must work)
        hx "$1" sh -c 'n=$(virsh -q -c qemu:///system net-list --all --name) && { printf "%s\n" "$n" | grep -x mhtest-mgmt || :; }'
}
dir_empty() { # dir_empty HOST DIR [FIND-TESTS...]: what is in DIR on HOST (nothing when there is no DIR)
        hx "$1" sh -c 'd=$1; shift; test ! -e "$d" || find "$d" -mindepth 1 "$@"' sh "${@:2}"
}

# ---- one host: the guest as its service starts it ----
check_empty "no network mhtest-mgmt before" net_named "$h1"
t0=$SECONDS
check "systemctl start mhtest@dn on $h1" hx "$h1" systemctl start mhtest@dn.service
say "guest ready (login: on its console) after $((SECONDS - t0)) s"
check_eq "guest unit active" active "$(hx "$h1" systemctl is-active mhtest-guest@dn:deb.service)"
check_eq "network mhtest-mgmt created and active" "yes" \
        "$(hx "$h1" virsh -c qemu:///system net-info mhtest-mgmt 2>/dev/null | awk '/^Active:/{print $2}')"

# ssh over the forward from the controller (another netns, as a user's machine would): the
# guest's sshd accepts the injected key once cloud-init has run; bounded by a deadline
ok=
deadline=$((SECONDS + 600))
while [ $SECONDS -lt $deadline ]; do
        if out=$(ctl "${SSH[@]}" "root@$addr1" 'hostname; ip -4 -o addr show' 2>"$T/ssh.err"); then ok=1; break; fi
        # wait on the guest: the next attempt after the guest's console has grown
        hx "$h1" timeout 5 tail -n0 -f /var/log/libvirt/qemu/mhtest-dn-deb-serial.log >/dev/null 2>&1
done
check "ssh root@$addr1:2222 with the injected key" test -n "$ok"
say "ssh answered after $((SECONDS - t0)) s from the start (TCG)"
check_eq "host name from the seed" debtest "$(head -1 <<<"$out")"
check "the guest has its reserved address" grep -q 'inet 192.168.213.10/24' <<<"$out"
[ -n "$ok" ] || { say "ssh: $(tail -3 "$T/ssh.err")"; hx "$h1" tail -30 /var/log/libvirt/qemu/mhtest-dn-deb-serial.log; }

leases=$(hx "$h1" virsh -q -c qemu:///system net-dhcp-leases mhtest-mgmt)
check "libvirt's lease gives the MAC the reserved address" \
        grep -Eq '52:54:00:4d:00:10 +ipv4 +192\.168\.213\.10/24' <<<"$leases"
agent=$(hx "$h1" virsh -c qemu:///system qemu-agent-command mhtest-dn-deb '{"execute":"guest-get-host-name"}')
check_eq "guest agent: host name" debtest \
        "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["return"]["host-name"])' <<<"$agent" 2>/dev/null)"
check "status shows the address" sh -c "\"$MHTEST\" lab exec $h1 -- mhtest status dn | grep -q 192.168.213.10"
check "the seed ISO is attached" hx "$h1" test -s /var/lib/mhtest/seed/mhtest-dn-deb.iso
check "libvirt runs vda on the overlay, not on the cached image" grep -Eq '^ *vda +/var/lib/mhtest/guests/dn/deb/vda\.qcow2$' \
        <<<"$(hx "$h1" virsh -q -c qemu:///system domblklist mhtest-dn-deb)"

# ---- migrate: h1 -> h2 by the coordinator, the overlay's top layer copied ----
mark=mark-$RANDOM-$RANDOM
check "a file written and synced in the guest before the migration" \
        ctl "${SSH[@]}" "root@$addr1" "echo $mark > /root/before-migration && sync"
ctl "$COORD" --root="$T" run dn --keep --timeout=300 --json="$T/m1.json" --junit="$T/m1.xml" > "$T/m1.out" 2>&1
rc=$?
sed 's/^/    | /' "$T/m1.out"
check_eq "mhtest-coord run dn ($h1 -> $h2): exit status" 0 "$rc"
check "the coordinator names the disk it copies" grep -q "copying the top layer of disk vda (" "$T/m1.out"

# where HOST: libvirt runs the domain on HOST only, and HOST's mhtest-guest@ supervises it
where() {
        local on=$1 off=$h1 unit=mhtest-guest@dn:deb.service
        [ "$on" = "$h1" ] && off=$h2
        check_eq "libvirt runs the guest on $on" running "$(hx "$on" virsh -q -c qemu:///system domstate mhtest-dn-deb 2>&1 | head -1)"
        check_empty "no guest on $off" hx "$off" sh -c \
                'n=$(virsh -q -c qemu:///system list --name) && { printf "%s\n" "$n" | grep -x mhtest-dn-deb || :; }'
        check_eq "$unit active on $on" active "$(hx "$on" systemctl is-active "$unit")"
        check "$unit on $on has a main process" test "$(hx "$on" systemctl show -P MainPID "$unit")" != 0
        check_eq "$unit not active on $off" inactive "$(hx "$off" systemctl is-active "$unit")"
}
where "$h2"
check_eq "$h1's guest service ended cleanly" success "$(hx "$h1" systemctl show -P Result mhtest-guest@dn:deb.service)"
check "$h1's guest service says it migrated to $h2" sh -c \
        "\"$MHTEST\" lab exec $h1 -- journalctl -q -o cat -u mhtest-guest@dn:deb.service | grep -q 'migrated to $h2'"
check "libvirt runs vda on $h2's overlay" grep -Eq '^ *vda +/var/lib/mhtest/guests/dn/deb/vda\.qcow2$' \
        <<<"$(hx "$h2" virsh -q -c qemu:///system domblklist mhtest-dn-deb)"
check "the overlay on $h2 is backed by the cached image" sh -c \
        "\"$MHTEST\" lab exec $h2 -- qemu-img info -U /var/lib/mhtest/guests/dn/deb/vda.qcow2 | grep -q 'backing file: /var/lib/mhtest/images/debian.raw'"
check_empty "no overlay left on $h1" dir_empty "$h1" /var/lib/mhtest/guests
check_empty "no seed ISO left on $h1" dir_empty "$h1" /var/lib/mhtest/seed -name "*.iso"
after=$(ctl "${SSH[@]}" "root@$addr2" 'sync; echo 3 > /proc/sys/vm/drop_caches; cat /root/before-migration; hostname' 2>&1)
check_eq "the file is there after the migration (ssh over $h2's forward, page cache dropped)" "$mark" "$(head -1 <<<"$after")"
check_eq "ssh over $h2's forward reaches the same guest" debtest "$(sed -n 2p <<<"$after")"
check "the workload still runs (ssh)" ctl "${SSH[@]}" "root@$addr2" 'kill -0 $(cat /run/mhtest-workload.pid)'
hx "$h2" virsh -c qemu:///system domjobinfo --completed --keep-completed --rawstats mhtest-dn-deb > "$T/m1.jobinfo"
check "JUnit (junitparser): migration and check passed, libvirt's disk figures" /usr/bin/python3 - "$T/m1.xml" "$T/m1.jobinfo" <<'EOP'
import re, sys
from junitparser import JUnitXml
suite = JUnitXml.fromfile(sys.argv[1])
raw = dict(re.findall(r'^\s*(\w+)\s*:\s*(\S+)', open(sys.argv[2]).read(), re.M))
mig = [c for c in suite if c.classname == 'migration.m']
assert suite.failures == 0 and len(mig) == 1 and not mig[0].result, (suite.failures, mig)
kv = dict(l.split('=', 1) for l in mig[0].system_out.strip().splitlines())
assert kv.get('check') == 'pass', kv
for k in ('data_processed', 'memory_processed', 'downtime', 'time_elapsed'):
    assert k in kv and kv[k] == raw.get(k), (k, kv.get(k), raw.get(k))
# the disk figures are the source's running job's (the destination's completed job has 0)
assert int(kv['disk_total']) > 0 and 0 < int(kv['disk_processed']) <= int(kv['disk_total']), kv
print('  disk %s of %s bytes copied, %s bytes in all, downtime %s ms' %
      (kv['disk_processed'], kv['disk_total'], kv['data_processed'], kv['downtime']))
EOP

# ---- check: back to h1, the workload killed first: Check= fails the run ----
# The guest is placed on h2 now: provisioning starts a guest's unit on its Host=, which would
# boot a second copy on h1 (a unit that finds no domain creates one).
dropin="[Guest deb]
Host=$h2

[Migration m]
From=$h2
To=$h1
Workload=sh -c \"kill \$(cat /run/mhtest-workload.pid)\"
"
printf '%s' "$dropin" > "$T/etc/mhtest/jobs.d/dn.conf.d/back.conf"
for h in $h1 $h2; do
        printf '%s' "$dropin" | hx "$h" sh -c 'mkdir -p /etc/mhtest/jobs.d/dn.conf.d && cat > /etc/mhtest/jobs.d/dn.conf.d/back.conf && systemctl daemon-reload' ||
                fail "write the drop-in on $h"
done
ctl "$COORD" --root="$T" run dn --keep --timeout=300 --json="$T/m2.json" --junit="$T/m2.xml" > "$T/m2.out" 2>&1
rc=$?
sed 's/^/    | /' "$T/m2.out"
check "mhtest-coord run dn ($h2 -> $h1, failing check): exit status non-zero" test "$rc" != 0
check "JUnit (junitparser): the migration failed on its check" /usr/bin/python3 - "$T/m2.xml" <<'EOP'
import sys
from junitparser import JUnitXml, Failure
suite = JUnitXml.fromfile(sys.argv[1])
mig = [c for c in suite if c.classname == 'migration.m']
assert suite.failures >= 1 and len(mig) == 1, (suite.failures, mig)
assert any(isinstance(r, Failure) and 'check' in (r.message or '') for r in mig[0].result), mig[0].result
kv = dict(l.split('=', 1) for l in mig[0].system_out.strip().splitlines())
assert kv.get('check') == 'fail' and int(kv.get('disk_processed', 0)) > 0, kv
EOP
where "$h1"
check_empty "no overlay left on $h2" dir_empty "$h2" /var/lib/mhtest/guests

# ---- abort: a migration libvirt does not complete takes back what the destination prepared ----
dropin="[Guest deb]
Host=$h1

[Migration m]
From=$h1
To=$h2
Workload=true
Bandwidth=1M
TimeoutSec=2
"
printf '%s' "$dropin" > "$T/etc/mhtest/jobs.d/dn.conf.d/back.conf"
for h in $h1 $h2; do
        printf '%s' "$dropin" | hx "$h" sh -c 'cat > /etc/mhtest/jobs.d/dn.conf.d/back.conf && systemctl daemon-reload' ||
                fail "write the drop-in on $h"
done
ctl "$COORD" --root="$T" run dn --keep --timeout=300 > "$T/m3.out" 2>&1
rc=$?
sed 's/^/    | /' "$T/m3.out"
check "mhtest-coord run dn ($h1 -> $h2 at 1 MiB/s, TimeoutSec=2): exit status non-zero" test "$rc" != 0
check "the coordinator says it aborted and removed what $h2 prepared" sh -c \
        "grep -q 'aborted after TimeoutSec=2s' '$T/m3.out' && grep -q 'Removed on $h2 the overlays, seed and reservation' '$T/m3.out'"
where "$h1"
check_empty "no overlay left on $h2" dir_empty "$h2" /var/lib/mhtest/guests
check_empty "no seed ISO left on $h2" dir_empty "$h2" /var/lib/mhtest/seed -name "*.iso"
check_empty "no network mhtest-mgmt left on $h2" net_named "$h2"

# ---- stop: nothing left on either host ----
for h in $h1 $h2; do
        check "systemctl stop mhtest@dn on $h" hx "$h" systemctl stop mhtest-guest@dn:deb.service mhtest@dn.service
        check_empty "no domain left on $h" hx "$h" sh -c 'n=$(virsh -q -c qemu:///system list --all --name) && printf "%s" "$n" | tr -d "[:space:]"'
        check_empty "no network mhtest-mgmt left on $h" net_named "$h"
        check_empty "no overlay left on $h" dir_empty "$h" /var/lib/mhtest/guests
        check_empty "no seed ISO left on $h" dir_empty "$h" /var/lib/mhtest/seed -name "*.iso"
        check_empty "no reservation record left on $h" dir_empty "$h" /run/mhtest/networks -name "*.json"
        check_empty "nothing listens on port 2222 on $h" hx "$h" ss -Hltn 'sport = :2222'
        check_empty "no socket proxy left on $h" hx "$h" sh -c 'pgrep -af "systemd-socket-prox[y]d" || [ $? = 1 ]'
done
check_eq "the cached image is unchanged" "$sum_before" "$(stat -c '%s %Y' "$images/debian.raw")"
finish
