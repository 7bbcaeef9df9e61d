#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-lab: "mhtest lab up --backend=vm --hosts 2" reaches ready; hosts.d entries point at the
# hosts; "lab exec" runs commands in an L1 over SSH from the controller namespace; a job started
# there with systemctl turns nested KVM on in the L1's kernel (0 -> 1) and stop turns it off (0); the hosts reach each other over
# the lab network; "lab down" leaves no process, namespace, mount or file behind.
#   lab-vm.sh SRC BUILD
set -uo pipefail
src=$1 build=$2
mhtest=$build/src/mhtest/mhtest
name=vmt$$
fail=0

log() { echo "lab-vm: $*"; }
check() { # check DESC CMD...: run an assertion
        if "${@:2}"; then log "ok: $1"; else log "FAIL: $1"; fail=1; fi
}

command -v qemu-system-x86_64 >/dev/null || { log "qemu-system-x86_64 is not installed"; exit 77; }
[ "$(id -u)" = 0 ] || { log "needs root (namespaces, taps)"; exit 77; }
"$src/tools/prepare-l1.sh" >/dev/null || { log "tools/prepare-l1.sh failed"; exit 1; }

pids=
cleanup() {
        "$mhtest" lab down "$name" >/dev/null 2>&1
        for p in $pids; do kill -9 "$p" 2>/dev/null; done
}
trap cleanup EXIT INT TERM

start=$SECONDS
if ! timeout 1200 "$mhtest" lab up --backend=vm --hosts=2 --name="$name" --from="$build"; then
        log "FAIL: lab up"
        tail -n 30 /run/mhtest/lab/$name/h*/console.log 2>/dev/null
        exit 1
fi
log "lab up: ready in $((SECONDS - start))s"
pids=$(python3 -c 'import json,sys; print(" ".join(str(h["pid"]) for h in json.load(open(sys.argv[1]))["hosts"]))' \
        /run/mhtest/lab/$name/lab.json)

"$mhtest" lab status "$name"
for k in 1 2; do
        check "hosts.d entry of $name-h$k" grep -q "^Address=10\.78\.0\.1$k$" /run/mhtest/hosts.d/$name-h$k.conf
        check "$name-h$k answers with its own hostname" \
                test "$("$mhtest" lab exec "$name-h$k" -- hostname)" = "$name-h$k"
done
check "$name-h1 runs systemd as PID 1" test "$("$mhtest" lab exec "$name-h1" -- sh -c 'cat /proc/1/comm')" = systemd
check "$name-h1 reaches $name-h2 by SSH over the lab network" \
        test "$("$mhtest" lab exec "$name-h1" -- sh -c "ssh -o BatchMode=yes $name-h2 hostname")" = "$name-h2"

# The acceptance path: a job with [Nested], started the systemd way, in the L1's real kernel.
# Debian's 6.1 loads kvm_amd with nested=1 by default, so the host is first put in a state
# where the step has something to do: the module reloaded with nested=0 (real modprobe).
hx() { "$mhtest" lab exec "$name-h1" -- sh -c "$1"; }
kmod=$(hx 'if grep -qw svm /proc/cpuinfo; then echo kvm_amd; elif grep -qw vmx /proc/cpuinfo; then echo kvm_intel; fi')
if [ -z "$kmod" ]; then
        log "SKIP: the L1's CPU offers neither vmx nor svm: no nested test"
        nested_skipped=1
else
        param=/sys/module/$kmod/parameters/nested
        hx 'mkdir -p /etc/mhtest/jobs.d && printf "[Job]\nDescription=vm-lab\n\n[Nested]\nEnable=yes\n" >/etc/mhtest/jobs.d/labnest.conf && systemctl daemon-reload'
        hx "udevadm settle; modprobe -r $kmod && modprobe $kmod nested=0"
        check "$kmod nested reads 0 before the job in $name-h1" test "$(hx "cat $param")" = 0
        check "systemctl start mhtest@labnest in $name-h1" hx 'systemctl start mhtest@labnest'
        check "mhtest-nested@labnest active when start returns" test "$(hx 'systemctl is-active mhtest-nested@labnest')" = active
        check "$kmod nested reads 1 after start" test "$(hx "cat $param")" = 1
        check "systemctl stop mhtest@labnest in $name-h1" hx 'systemctl stop mhtest@labnest'
        check "mhtest-nested@labnest inactive when stop returns" test "$(hx 'systemctl is-active mhtest-nested@labnest')" = inactive
        check "$kmod nested reads 0 again after stop" test "$(hx "cat $param")" = 0
fi

start=$SECONDS
check "lab down" "$mhtest" lab down "$name"
log "lab down took $((SECONDS - start))s"
check "no lab directory left" test ! -e /run/mhtest/lab/$name
check "no hosts.d entry left" test -z "$(ls /run/mhtest/hosts.d/$name-* 2>/dev/null)"
check "no namespace left" test ! -e /run/netns/$name-sw -a ! -e /run/netns/$name-ctl
check "no mount left" test -z "$(grep -F "$name" /proc/self/mountinfo)"
for p in $pids; do
        check "QEMU $p gone (not even a zombie)" test ! -d /proc/$p
done
trap - EXIT INT TERM
[ $fail = 0 ] && [ -n "${nested_skipped:-}" ] && exit 77
exit $fail
