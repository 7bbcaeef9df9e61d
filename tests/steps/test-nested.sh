#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The nested step against the FAKE kernel (fake-kernel.c) and the FAKE module tree: module
# choice from the CPU, drop-in, reload when unused, refusal when in use, auto skip, revert,
# revert after a crash, and 100 apply/revert cycles that leave the fake kernel as it was.
. "$(dirname "$0")/fake-lib.sh"

JOB_YES='[Nested]\nEnable=yes\n'
JOB_AUTO='[Nested]\nEnable=auto\n'
dropin() { cat "$ROOT/etc/modprobe.d/mhtest-nested.conf" 2>/dev/null; }
nested() { cat "$ROOT/sys/module/$1/parameters/nested" 2>/dev/null || echo unloaded; }

echo "== AMD, kvm_amd loaded with nested=0 and unused: reload, idempotent, exact revert"
new_root amd "$JOB_YES"
fake_modprobe kvm_amd nested=0
before=$(snapshot)
mh apply nested j
expect_eq "apply exit" "$RC" 0
expect_eq "kvm_amd nested after apply" "$(nested kvm_amd)" 1
expect_contains "drop-in" "$(dropin)" "options kvm_amd nested=1"
expect_contains "state recorded" "$(cat "$ROOT/run/mhtest/j/nested.state")" '"nested_before":"0"'
mh status j --json
expect_contains "status shows the step applied" "$OUT" '"state":"applied"'
mid=$(snapshot)
mh apply nested j
expect_eq "second apply exit" "$RC" 0
expect_contains "second apply says nothing changed" "$OUT" "nothing changed"
expect_eq "second apply changed nothing" "$(snapshot)" "$mid"
mh revert nested j
expect_eq "revert exit" "$RC" 0
expect_eq "kvm_amd nested after revert" "$(nested kvm_amd)" 0
expect_eq "fake kernel and files as before" "$(snapshot)" "$before"
mh revert nested j
expect_eq "revert without state is a no-op" "$RC:$(snapshot | md5sum)" "0:$(echo "$before" | md5sum)"

echo "== a previous drop-in of the admin is restored, not removed"
new_root amd "$JOB_YES"
printf 'options kvm_amd npt=1\n' >"$ROOT/etc/modprobe.d/mhtest-nested.conf"
fake_modprobe kvm_amd nested=0
before=$(snapshot)
mh apply nested j
expect_eq "apply exit" "$RC" 0
mh revert nested j
expect_eq "previous drop-in back" "$(dropin)" "options kvm_amd npt=1"
expect_eq "state as before" "$(snapshot)" "$before"

echo "== Intel: kvm_intel (bool parameter N -> Y)"
new_root intel "$JOB_YES"
fake_modprobe kvm_intel
before=$(snapshot)
mh apply nested j
expect_eq "apply exit" "$RC" 0
expect_eq "kvm_intel nested" "$(nested kvm_intel)" Y
expect_contains "drop-in names kvm_intel" "$(dropin)" "options kvm_intel nested=1"
mh revert nested j
expect_eq "kvm_intel nested after revert" "$(nested kvm_intel)" N
expect_eq "state as before" "$(snapshot)" "$before"

echo "== module in use (a guest holds /dev/kvm): refused, nothing changed"
new_root amd "$JOB_YES"
fake_modprobe kvm_amd nested=0
mkdir -p "$ROOT/proc/4242/fd"
echo qemu-system-x86 >"$ROOT/proc/4242/comm"
ln -s /dev/kvm "$ROOT/proc/4242/fd/11"
echo 1 >"$ROOT/sys/module/kvm_amd/refcnt" # what the kernel counts for the open VM
before=$(snapshot)
mh apply nested j
expect_eq "apply refused (non-zero)" "$([ "$RC" -ne 0 ] && echo yes)" yes
expect_contains "names the user" "$OUT" "qemu-system-x86[4242]"
expect_contains "says it refuses" "$OUT" "Refusing to reload kvm_amd"
expect_eq "nothing changed" "$(snapshot)" "$before"

echo "== module not loaded: loaded with nested=1 (kvm with it), revert unloads both"
new_root amd "$JOB_YES"
before=$(snapshot)
mh apply nested j
expect_eq "apply exit" "$RC" 0
expect_eq "kvm_amd nested" "$(nested kvm_amd)" 1
expect_eq "kvm loaded as dependency" "$(cat "$ROOT/sys/module/kvm/initstate" 2>/dev/null)" live
mh revert nested j
expect_eq "revert exit" "$RC" 0
expect_eq "nothing left loaded" "$(ls "$ROOT/sys/module")" ""
expect_eq "state as before" "$(snapshot)" "$before"

echo "== already nested=1 (6.1's kvm_amd default): only the drop-in is written"
new_root amd "$JOB_YES"
fake_modprobe kvm_amd nested=1
# an unload removes the module's sysfs directory with everything in it: a reload with the same
# nested=1 would otherwise leave no trace
: >"$ROOT/sys/module/kvm_amd/.loaded-before-apply"
before=$(snapshot)
mh apply nested j
expect_eq "apply exit" "$RC" 0
expect_eq "kvm_amd was not reloaded" \
        "$([ -e "$ROOT/sys/module/kvm_amd/.loaded-before-apply" ] && echo kept || echo reloaded)" kept
expect_contains "drop-in" "$(dropin)" "nested=1"
mh revert nested j
expect_eq "state as before" "$(snapshot)" "$before"

echo "== Reload=no: only the drop-in, the loaded module keeps nested=0 (said so)"
new_root amd '[Nested]\nEnable=yes\nReload=no\n'
fake_modprobe kvm_amd nested=0
before=$(snapshot)
mh apply nested j
expect_eq "apply exit" "$RC" 0
expect_contains "warns" "$OUT" "Reload=no"
expect_eq "module untouched" "$(nested kvm_amd)" 0
expect_contains "drop-in" "$(dropin)" "nested=1"
mh apply nested j
expect_contains "second apply: nothing changed" "$OUT" "nothing changed"
mh revert nested j
expect_eq "as before" "$(snapshot)" "$before"

echo "== no virtualization extensions: auto skips (exit 0), yes refuses"
new_root none "$JOB_AUTO"
before=$(snapshot)
mh apply nested j
expect_eq "auto: exit 0" "$RC" 0
expect_contains "auto: says skipped" "$OUT" "skipped"
expect_eq "auto: nothing changed" "$(snapshot)" "$before"
new_root none "$JOB_YES"
before=$(snapshot)
mh apply nested j
expect_eq "yes: refused (non-zero)" "$([ "$RC" -ne 0 ] && echo yes)" yes
expect_contains "yes: gives the reason" "$OUT" "no virtualization extensions"
expect_eq "yes: nothing changed" "$(snapshot)" "$before"

echo "== Module=kvm_intel on an AMD CPU: refused"
new_root amd '[Nested]\nEnable=yes\nModule=kvm_intel\n'
mh apply nested j
expect_eq "refused" "$([ "$RC" -ne 0 ] && echo yes)" yes
expect_contains "reason" "$OUT" "does not support"

echo "== crash in the middle of apply (killed between unload and load), then revert"
new_root amd "$JOB_YES"
fake_modprobe kvm_amd nested=0
before=$(snapshot)
OUT=$(LD_PRELOAD="$MHTEST_FAKE_KERNEL" MHTEST_FAKE_ROOT="$ROOT" MHTEST_FAKE_CRASH_LOAD=kvm_amd \
        "$MHTEST_BIN" --root="$ROOT" apply nested j 2>&1)
RC=$?
expect_eq "apply was killed" "$RC" 137
expect_eq "kvm_amd left unloaded by the crash" "$(nested kvm_amd)" unloaded
mh revert nested j
expect_eq "revert exit" "$RC" 0
expect_eq "kvm_amd back with nested=0" "$(nested kvm_amd)" 0
expect_eq "state as before" "$(snapshot)" "$before"

echo "== 100 apply/revert cycles"
new_root amd "$JOB_YES"
fake_modprobe kvm_amd nested=0
before=$(snapshot)
bad=0
for i in $(seq 100); do
        mh apply nested j
        [ "$RC" = 0 ] && [ "$(nested kvm_amd)" = 1 ] || { bad=$((bad + 1)); echo "cycle $i apply: $OUT"; }
        mh revert nested j
        [ "$RC" = 0 ] || { bad=$((bad + 1)); echo "cycle $i revert: $OUT"; }
done
expect_eq "failed cycles" "$bad" 0
expect_eq "fake kernel after 100 cycles as before" "$(snapshot)" "$before"

finish
