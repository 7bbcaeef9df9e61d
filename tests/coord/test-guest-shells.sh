#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Test shells in a guest, for real: the Debian test guest (tools/build-debian-guest.sh: systemd,
# sshd, cloud-init, qemu-guest-agent) on a lab host, started by mhtest-coord's provisioning with
# the controller's public key in its cloud-init seed (SSHAuthorizedKeys=) and a fixed management
# address (a DHCP reservation on a libvirt NAT network inside the lab host). mhtest-coord runs
# a [Test] Guest= shell and a [Test] Role= shell (the guest's [Guest] Role=) inside the guest
# over "ssh -o ProxyCommand='ssh HOST -W [ADDRESS]:22' root@ADDRESS" with [Test] SSHIdentity=,
# each as a transient unit of the guest's systemd, LAVA's own helper scripts (Debian's
# lava-dispatcher) copied into the guest. Run 1: the guest shell sends its boot ID with
# lava-send; a host shell on the guest's host reads the guest's boot ID through the guest agent
# (another channel than SSH) and compares, then lava-sends a value the guest shell checks; the
# Role= shell sees both guest shells in lava-group with the guest's role. Afterwards (--keep): no
# scripts, no mhtest-test-* unit in the guest (asked through the guest agent), no
# lava-coordinator. Run 2: a shell with a key the guest does not accept fails with the reason,
# within its TimeoutSec=. Boots QEMU: run under flock /tmp/mhtest-qemu.lock.
set -uo pipefail
. "$MHTEST_SOURCE_ROOT/tests/system/lib.sh"

require_lab_capable
COORD=${MHTEST_COORD:?}
command -v lava-coordinator >/dev/null || skip "lava-coordinator is not installed (apt-get install lava-coordinator)"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed"
[ -x /usr/sbin/dnsmasq ] || fail "dnsmasq is not installed (dnsmasq-base, tools/install-deps.sh)"
command -v genisoimage >/dev/null || fail "genisoimage is not installed (tools/install-deps.sh)"
[ "$FAILS" = 0 ] || finish
scripts=$("$MHTEST_SOURCE_ROOT/tools/lava-scripts.sh") || { say "FAIL: cannot unpack LAVA's scripts from lava-dispatcher"; exit 1; }
images=$("$MHTEST_SOURCE_ROOT/tools/build-debian-guest.sh") || { say "FAIL: cannot build the Debian guest"; exit 1; }

T=$(mktemp -d)
job_started=
cleanup() {
        [ -n "$job_started" ] && hx "$h1" systemctl stop mhtest@gsh.service >/dev/null 2>&1
        lab_down
        rm -rf "$T"
}
lab_up mhgsh 2 --images="$images"
trap cleanup EXIT
h1=$LAB-h1
h2=$LAB-h2
dom=mhtest-gsh-deb
mkdir -p "$T/etc/mhtest/jobs.d" "$T/run/mhtest/hosts.d"
cp /run/mhtest/hosts.d/"$LAB"-h*.conf "$T/run/mhtest/hosts.d/"
echo "$LAB-ctl" > "$T/etc/hostname"
# nspawn mounts /proc/sys read-only; libvirt writes the management bridge's IPv6 sysctls. The
# lab host has its own network namespace, so its /proc/sys/net is its own: made writable there.
hx "$h1" sh -c 'mount --bind /proc/sys/net /proc/sys/net && mount -o remount,bind,rw /proc/sys/net' ||
        fail "make $h1's /proc/sys/net writable"
# the controller's key: the guest accepts its public half (cloud-init), [Test] SSHIdentity= is
# the private half
ssh-keygen -q -t ed25519 -N "" -C mhtest-coord -f "$T/key"
ssh-keygen -q -t ed25519 -N "" -C not-accepted -f "$T/otherkey"
hx "$h1" sh -c 'mkdir -p /etc/mhtest/keys && cat > /etc/mhtest/keys/coord.pub' < "$T/key.pub" || fail "install the key"

install_job() { # install_job NAME CONTENT: on every host and in the controller's tree
        local h
        for h in $h1 $h2; do
                printf '%s' "$2" | hx "$h" sh -c "mkdir -p /etc/mhtest/jobs.d && cat > /etc/mhtest/jobs.d/$1.conf && systemctl daemon-reload" ||
                        fail "write job $1 on $h"
        done
        printf '%s' "$2" > "$T/etc/mhtest/jobs.d/$1.conf"
}

coordinator_processes() { # lava-coordinators in the lab's controller namespace
        local p ns
        ns="net:[$(stat -L -c %i "/run/netns/$LAB-ctl")]"
        for p in $(pgrep -f '^/usr/bin/python3 /usr/bin/lava-coordinator'); do
                [ "$(readlink "/proc/$p/ns/net")" = "$ns" ] && printf '%s ' "$p"
        done
}

result() { # result FILE PYTHON-EXPRESSION over r (the JSON result)
        python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null
}

gexec() { # gexec CMD: run "sh -c CMD" in the guest through the guest agent, print its stdout
        local out pid
        out=$(hx "$h1" virsh -c qemu:///system qemu-agent-command "$dom" \
                "$(python3 -c 'import json,sys; print(json.dumps({"execute": "guest-exec", "arguments": {"path": "/bin/sh", "arg": ["-c", sys.argv[1]], "capture-output": True}}))' "$1")") || return 1
        pid=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["return"]["pid"])' <<<"$out") || return 1
        python3 - "$h1" "$dom" "$pid" "$MHTEST" <<'EOF'
import base64, json, subprocess, sys, time
h, dom, pid, mhtest = sys.argv[1:5]
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    r = json.loads(subprocess.check_output([mhtest, "lab", "exec", h, "--", "virsh", "-c", "qemu:///system",
        "qemu-agent-command", dom, json.dumps({"execute": "guest-exec-status", "arguments": {"pid": int(pid)}})]))["return"]
    if r["exited"]:
        sys.stdout.write(base64.b64decode(r.get("out-data", "")).decode())
        sys.exit(r.get("exitcode", 1))
    time.sleep(0.2)  # the guest agent has no wait call: poll the process's state
sys.exit(1)
EOF
}

# ---- run 1: a guest shell, a Role= shell in the guest and a host shell exchange values ----
inguest="set -e; test \"\$(hostname)\" = debtest; test \"\$(lava-self)\" = inguest@deb; test \"\$(lava-role)\" = vm; systemctl is-active -q mhtest-test-gsh-inguest.service; lava-send from-guest host=\$(hostname) boot=\$(cat /proc/sys/kernel/random/boot_id); lava-wait from-host; grep -qx hostshell@$h1:value=42 \$LAVA_MULTI_NODE_CACHE; lava-test-case guest-got-value --result pass; lava-sync all-here"
byrole="set -e; test \"\$(hostname)\" = debtest; g=\$(lava-group | awk \"{print \\\$1 \\\":\\\" \\\$2}\" | sort | tr \"\\n\" \" \"); echo group: \$g; test \"\$g\" = \"byrole@deb:vm hostshell@$h1:hostshell inguest@deb:vm \"; lava-sync all-here"
# the host shell: the guest's boot ID through the guest agent (not SSH) must be the one the
# guest shell sent
cat > "$T/hostshell.sh" <<'EOF'
set -ex
dom=mhtest-$MHTEST_JOB-deb
agent() { virsh -c qemu:///system qemu-agent-command "$dom" "$1"; }
lava-wait from-guest
grep -qx inguest@deb:host=debtest "$LAVA_MULTI_NODE_CACHE"
sent=$(sed -n 's/^inguest@deb:boot=//p' "$LAVA_MULTI_NODE_CACHE")
handle=$(agent '{"execute":"guest-file-open","arguments":{"path":"/proc/sys/kernel/random/boot_id"}}' |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["return"])')
boot=$(agent "{\"execute\":\"guest-file-read\",\"arguments\":{\"handle\":$handle}}" |
        python3 -c 'import json,sys,base64; print(base64.b64decode(json.load(sys.stdin)["return"]["buf-b64"]).decode().strip())')
agent "{\"execute\":\"guest-file-close\",\"arguments\":{\"handle\":$handle}}" >/dev/null
echo "guest boot ID over SSH $sent, through the guest agent $boot"
test -n "$boot"
test "$sent" = "$boot"
lava-send from-host value=42
lava-sync all-here
EOF
hx "$h1" sh -c 'cat > /root/hostshell.sh' < "$T/hostshell.sh" || fail "install the host shell's script"
install_job gsh "[Job]
Description=test shells in the Debian guest
Hosts=$h1 $h2

[Guest deb]
Host=$h1
Memory=768M
Image=/var/lib/mhtest/images/debian.raw
Kernel=/var/lib/mhtest/images/vmlinuz
Initrd=/var/lib/mhtest/images/initrd.img
KernelCommandLine=console=ttyS0 root=/dev/vda rw quiet
Type=qemu
Interfaces=management/52:54:00:4d:00:20
ManagementNetwork=mhtest-mgmt
ManagementAddress=192.168.213.20/24
SSHAuthorizedKeys=/etc/mhtest/keys/coord.pub
Hostname=debtest
Role=vm
ReadyMarker=login:
ReadyTimeoutSec=580

[Test inguest]
Guest=deb
Exec=sh -c '$inguest'
SSHIdentity=$T/key
TimeoutSec=500

[Test byrole]
Role=vm
Exec=sh -c '$byrole'
SSHIdentity=$T/key
TimeoutSec=500

[Test hostshell]
Host=$h1
Exec=sh /root/hostshell.sh
TimeoutSec=500
"
out=$("$COORD" --root="$T" plan gsh --json="$T/plan.json") || fail "mhtest-coord plan gsh"
check "plan: the guest shell runs in the guest over SSH" grep -q "in the guest: ssh root@192.168.213.20 through its host" <<<"$out"
check_eq "plan --json lists the shells" "inguest:deb byrole:deb hostshell:$h1" \
        "$(result "$T/plan.json" '" ".join(t["test"] + ":" + t.get("guest", t.get("host", "")) for t in r["tests"])')"

export PATH=/run/mhtest/lab/$LAB/bin:$PATH
job_started=1
t0=$SECONDS
ctl "$COORD" --root="$T" --lava-scripts="$scripts" --timeout=650 run gsh --keep --json="$T/r1.json" --junit="$T/r1.xml" > "$T/r1.out" 2>&1
rc=$?
say "run 1 took $((SECONDS - t0)) s (Debian guest under TCG)"
check_eq "run 1: mhtest-coord exit status" 0 "$rc"
[ "$rc" = 0 ] || tail -n 80 "$T/r1.out"
check_eq "run 1: every shell passed with exit status 0" "inguest:True:0 byrole:True:0 hostshell:True:0" \
        "$(result "$T/r1.json" '" ".join("%s:%s:%s" % (t["test"], t["passed"], t["exit_status"]) for t in r["tests"])')"
check_eq "run 1: the guest shells went through the guest's host" "$h1 $h1" \
        "$(result "$T/r1.json" '" ".join(t.get("via_host", "-") for t in r["tests"] if "guest" in t)')"
check_eq "run 1: systemd in the guest ran the guest shells to a clean exit" "success success" \
        "$(result "$T/r1.json" '" ".join(str(t.get("systemd_result")) for t in r["tests"] if "guest" in t)')"
check_eq "run 1: the guest shell's calls were answered" \
        "multinode-send-from-guest multinode-wait-from-host guest-got-value multinode-sync-all-here" \
        "$(result "$T/r1.json" '" ".join(c["name"] + ("" if c["result"] == "pass" else ":FAIL") for t in r["tests"] if t["test"] == "inguest" for c in t["testcases"])')"
check "run 1: the host shell compared the boot IDs" grep -q "guest boot ID over SSH" <<<"$(result "$T/r1.json" '[t["output_tail"] for t in r["tests"] if t["test"] == "hostshell"][0]')"
check "run 1: summary counts migrations and tests" grep -qx "gsh: 0 migration(s), 11 test(s) (0 failed), all passed" "$T/r1.out"
check_eq "run 1: no lava-coordinator left" "" "$(coordinator_processes)"
check_eq "run 1: no LAVA scripts left in the guest" "" "$(gexec 'ls -A /var/lib/mhtest/lava 2>/dev/null')"
check_eq "run 1: no mhtest-test-* unit left in the guest" "" \
        "$(gexec "systemctl list-units --all --no-legend --plain 'mhtest-test-*'" | tr -d '[:space:]')"
check_eq "run 1: no mhtest-test-* unit left on $h1" "" \
        "$(hx "$h1" systemctl list-units --all --no-legend --plain 'mhtest-test-*' | tr -d '[:space:]')"

# ---- run 2: a key the guest does not accept ----
install_job gsh "$(sed -e "s|SSHIdentity=$T/key\$|SSHIdentity=$T/otherkey|" -e 's/^TimeoutSec=500$/TimeoutSec=30/' "$T/etc/mhtest/jobs.d/gsh.conf" |
        sed '/^\[Test byrole\]/,$d')"
t0=$SECONDS
ctl "$COORD" --root="$T" --lava-scripts="$scripts" --timeout=650 run gsh --keep --json="$T/r2.json" > "$T/r2.out" 2>&1
rc=$?
check_eq "run 2: mhtest-coord exit status" 1 "$rc"
check "run 2: ended within the shell's TimeoutSec= ($((SECONDS - t0)) s)" test $((SECONDS - t0)) -lt 120
check_eq "run 2: the guest shell failed for the key" \
        "False cannot install LAVA's helper scripts in guest deb over SSH through $h1 (ssh could not connect or log in)" \
        "$(result "$T/r2.json" '" ".join(str(x) for t in r["tests"] if t["test"] == "inguest" for x in (t["passed"], t.get("error")))')"
check_eq "run 2: no lava-coordinator left" "" "$(coordinator_processes)"

check "systemctl stop mhtest@gsh" hx "$h1" systemctl stop mhtest@gsh.service
job_started=
check_eq "no domain left" "" "$(hx "$h1" virsh -q -c qemu:///system list --all --name | tr -d '[:space:]')"
finish
