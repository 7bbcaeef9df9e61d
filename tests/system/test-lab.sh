#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# "mhtest lab up --hosts 3" then "mhtest lab down" leaves the machine as it was (namespaces,
# mounts, cgroups, processes, /run files, hugepages), already when "lab down" returns; in
# between, every host is a host of its own: identity, keys, listening addresses, reachability by
# name, hugepage writes that stay inside, its own cgroup subtree.
. "$(dirname "$0")/lib.sh"
require_lab_capable

before=$(mktemp) during=$(mktemp) after=$(mktemp)
trap 'rm -f "$before" "$during" "$after"' EXIT
machine_snapshot >"$before"
lab_up mhsys3 3
trap 'lab_down; rm -f "$before" "$during" "$after"' EXIT
H=(mhsys3-h1 mhsys3-h2 mhsys3-h3)
machine_snapshot >"$during"
check "the leftover check counts every item of the running lab" check_lab_items "$before" "$during" mhsys3
check_eq "the lab's items include its netns, mounts, cgroups, processes and /run entries" \
        "cgroup mount netns proc run" \
        "$(diff "$before" "$during" | grep '^> ' | grep -F mhsys3 | awk '{print $2}' | sort -u | tr '\n' ' ' | sed 's/ $//')"

# status
st=$("$MHTEST" lab status mhsys3 --json)
check_eq "lab status lists 3 hosts" 3 "$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)["hosts"]))' <<<"$st")"
check_eq "every host is running" "running running running" \
        "$(python3 -c 'import json,sys; print(" ".join(h["state"] if h["state"] != "degraded" else "running" for h in json.load(sys.stdin)["hosts"]))' <<<"$st")"

# identity: hostname, machine-id, libvirt host_uuid, ssh host key differ per host
ids=() uuids=() keys=() names=()
for h in "${H[@]}"; do
        names+=("$(hx "$h" hostname)")
        ids+=("$(hx "$h" cat /etc/machine-id)")
        uuids+=("$(hx "$h" virsh -q -c qemu:///system capabilities | grep -m1 -o '<uuid>.*</uuid>')")
        keys+=("$(hx "$h" cat /etc/ssh/ssh_host_ed25519_key.pub | awk '{print $2}')")
done
check_eq "host names" "${H[*]}" "${names[*]}"
check_eq "3 distinct machine-ids" 3 "$(printf '%s\n' "${ids[@]}" | sort -u | wc -l)"
check "machine-ids differ from the machine's" bash -c "! printf '%s\n' ${ids[*]} | grep -qx \"$(cat /etc/machine-id 2>/dev/null || echo none)\""
check_eq "3 distinct libvirt host_uuids" 3 "$(printf '%s\n' "${uuids[@]}" | sort -u | wc -l)"
check_eq "3 distinct SSH host keys" 3 "$(printf '%s\n' "${keys[@]}" | sort -u | wc -l)"

# sshd and libvirtd listen on the lab address only
for i in 0 1 2; do
        h=${H[$i]} addr=$(awk -F= '/^Address=/{print $2}' "/run/mhtest/hosts.d/$h.conf")
        listen=$(hx "$h" ss -Hltn | awk '{print $4}' | sort | tr '\n' ' ')
        check_eq "$h listens on its lab address only (ssh, libvirt tcp)" "$addr:16509 $addr:22 " "$listen"
        check "$h: libvirtd answers" bash -c "'$MHTEST' lab exec '$h' -- virsh -q -c qemu:///system uri >/dev/null"
        check "$h: mhtest installed from the build tree" hx "$h" test -x /usr/local/bin/mhtest
        check "$h: generator installed" hx "$h" test -x /lib/systemd/system-generators/mhtest-generator
done

# reachability by name: controller -> every host, host -> host (what libvirt p2p migration uses)
for h in "${H[@]}"; do
        check_eq "ssh from the controller to $h by name" "$h" "$(ctl ssh "$h" hostname 2>&1)"
done
check_eq "ssh from ${H[0]} to ${H[2]} by name" "${H[2]}" "$(hx "${H[0]}" ssh "${H[2]}" hostname 2>&1)"
check_eq "libvirt qemu+tcp from ${H[1]} to ${H[0]}" "${H[0]}" "$(hx "${H[1]}" virsh -c "qemu+tcp://${H[0]}/system" hostname 2>&1)"
check "hosts.d entries validate on the controller side" "$MHTEST" config show >/dev/null
check "the machine's own namespace cannot reach the lab network" \
        bash -c "! ip route get $(awk -F= '/^Address=/{print $2}' /run/mhtest/hosts.d/${H[0]}.conf) 2>/dev/null | grep -q 'dev p-'"

# hugepage counters are per host and never the machine's
real=$(cat /proc/sys/vm/nr_hugepages)
hx "${H[0]}" sh -c 'echo 7 > /proc/sys/vm/nr_hugepages; echo 5 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages'
check_eq "${H[0]}: /proc/sys/vm/nr_hugepages written inside" 7 "$(hx "${H[0]}" cat /proc/sys/vm/nr_hugepages)"
check_eq "${H[0]}: sysfs nr_hugepages written inside" 5 "$(hx "${H[0]}" cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages)"
check_eq "${H[1]}: unaffected by ${H[0]}" 0 "$(hx "${H[1]}" cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages)"
check_eq "the sysfs write landed in ${H[0]}'s own counter file on the machine side" 5 \
        "$(cat "/run/mhtest/lab/$LAB/${H[0]}/hugepages/kernel-mm/hugepages-2048kB/nr_hugepages")"
check "${H[0]}: the counters are bind mounts, not the kernel's" \
        bash -c "'$MHTEST' lab exec '${H[0]}' -- grep -q ' /proc/sys/vm/nr_hugepages ' /proc/self/mountinfo"
[ "$(cat /proc/sys/vm/nr_hugepages)" = "$real" ] || say "note: the machine's nr_hugepages changed meanwhile (another test?)"
check "/proc/sys stays read-only in a host" hx "${H[0]}" sh -c '! (echo 1 > /proc/sys/vm/drop_caches) 2>/dev/null'

# own cgroup subtree per host; lab exec runs inside it
for h in "${H[@]}"; do
        check "$h has its own cgroup subtree" test -n "$(find /sys/fs/cgroup -maxdepth 2 -type d -name "mhtest-lab-$h" -print -quit)"
done

# lab exec: exit status and stdin pass through
hx "${H[0]}" sh -c 'exit 7'; check_eq "lab exec passes the exit status" 7 "$?"
check_eq "lab exec passes stdin" "hello" "$(echo hello | hx "${H[0]}" cat)"

# Right when "lab down" returns, nothing of the lab exists: no process (not even a zombie:
# systemd-nspawn belongs to PID 1 once "lab up" has exited, and PID 1 reaps it when it gets to
# it), no cgroup, mount, netns or /run entry. Read at once, before anything can settle.
lab_left() { # lab_left NAME: every item of lab NAME that exists now, one per line
        local n=$1
        lab_processes | grep -E "^(cgroup mhtest-lab-$n-h[0-9]+|cmdline /run/mhtest/lab/$n) "
        find /sys/fs/cgroup -maxdepth 2 -type d -name "mhtest-lab-$n-h*" -printf 'cgroup %p\n' 2>/dev/null
        awk -v d="/run/mhtest/lab/$n" -v ns="/run/netns/$n-" \
                '$5 == d || index($5, d "/") == 1 || index($5, ns) == 1 {print "mount", $5}' /proc/self/mountinfo
        ip netns list 2>/dev/null | awk -v n="$n" '$1 ~ "^" n "-(sw|ctl|h[0-9]+)$" {print "netns", $1}'
        ls -d "/run/mhtest/lab/$n" /run/mhtest/hosts.d/"$n"-h* /run/systemd/nspawn/propagate/"$n"-h* 2>/dev/null | sed 's/^/run /'
}
"$MHTEST" lab down mhsys3
rc=$?
left=$(lab_left mhsys3)
check_eq "lab down succeeds" 0 "$rc"
check_eq "nothing of the lab is left when lab down returns (processes, zombies too, cgroups, mounts, netns, /run)" "" "$left"
LAB=
machine_snapshot >"$after"
check "machine after lab down equals before lab up (every lab's leftovers count)" compare_snapshots "$before" "$after"
finish
