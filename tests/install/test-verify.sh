#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# systemd-analyze verify over the shipped units and the generated ones, from a
# "meson install --destdir" tree, and mhtest@JOB.service wants exactly the units its job
# declares, with no ordering between them.
#
# How verify is made to see the DESTDIR (systemd 252): --root=DIR resolves the unit search
# path and ExecStart= binaries below DIR; the generator output directory is not in verify's
# search path (it does not run generators by default), so SYSTEMD_UNIT_PATH adds it, as a
# path below the root, with a trailing ':' to keep the default directories. The machine's own
# unit files are copied into the root so that default dependencies (sysinit.target, ...)
# resolve. Documentation=man: entries are checked against the installed pages via MANPATH.
# Unit names with ':' (mhtest-guest@JOB:GUEST) cannot be named on verify's command line (':'
# separates an alias there); they are loaded, and reported, as dependencies of their job.
source "$(dirname "$0")/lib.sh"

units_load=/run/systemd/systemd-units-load
units_load_existed=0
[ -e $units_load ] && units_load_existed=1
cleanup() {
        rm -rf "$tmp"
        # verify writes this on the machine; leave it as it was
        [ $units_load_existed = 1 ] || rm -f $units_load
}
trap cleanup EXIT

command -v systemd-analyze >/dev/null || { echo "SKIP: no systemd-analyze"; exit 77; }
sysunits=/usr/lib/systemd/system
[ -f $sysunits/sysinit.target ] || sysunits=/lib/systemd/system
[ -f $sysunits/sysinit.target ] || { echo "SKIP: no systemd unit files on this machine"; exit 77; }

install_destdir
root=$dest
mhtest=$(installed_path /bin/mhtest)
unitdir=$(dirname "$(installed_path /mhtest@.service)")
gen=$(installed_path /mhtest-generator)
mkdir -p "$root/usr/lib/systemd/system"
cp -an "$sysunits/." "$root/usr/lib/systemd/system/"

verify_args=(--root="$root" --man=no)
if man=$(installed_path /man5/mhtest.conf.5 2>/dev/null); then
        export MANPATH=$root$(dirname "$(dirname "$man")")
        verify_args=(--root="$root" --man=yes)
else
        echo "note: man pages not installed, Documentation= not checked"
fi
export SYSTEMD_UNIT_PATH=/run/systemd/generator:

# the configuration: this host is host1 of the examples, plus the vendor demo job
mkdir -p "$root/etc/mhtest"
echo host1 >"$root/etc/hostname"
mkdir -p "$root/etc/mhtest"
cp -a "$src/conf.d/examples/." "$root/etc/mhtest/"
out=$root/run/systemd/generator
mkdir -p "$out" "$root/run/systemd/generator.early" "$root/run/systemd/generator.late"
"$root$gen" --root="$root" "$out" "$root/run/systemd/generator.early" "$root/run/systemd/generator.late" ||
        fail "generator failed"

verify() {
        local rc=0
        systemd-analyze verify "${verify_args[@]}" "$@" >"$tmp/verify.out" 2>&1 || rc=$?
        # any warning counts: verify exits 0 on unknown keys
        if [ $rc -ne 0 ] || [ -s "$tmp/verify.out" ]; then
                cat "$tmp/verify.out"
                return 1
        fi
}

# The text of a unit as systemd assembles it: its fragment (the template, or a generated unit)
# and its drop-ins, with %i replaced by the instance.
unit_text() {
        local unit=$1 instance= files=()
        if [[ $unit == *@*.service ]]; then
                instance=${unit#*@}
                instance=${instance%.service}
                files+=("$root$unitdir/${unit%%@*}@.service")
        elif [ -f "$out/$unit" ]; then
                files+=("$out/$unit")
        else
                files+=("$root$unitdir/$unit")
        fi
        shopt -s nullglob
        files+=("$out/$unit.d/"*.conf "$root/etc/systemd/system/$unit.d/"*.conf)
        shopt -u nullglob
        cat "${files[@]}" | sed "s/%i/$instance/g"
}

# Requires= and Wants= (and the stronger kinds) of a unit.
deps() {
        unit_text "$1" | sed -n 's/^\(Requires\|Wants\|Requisite\|BindsTo\)=//p' | tr ' ' '\n' |
                { grep . || true; } | sort
}

expect_deps() {
        local unit=$1
        shift
        printf '%s\n' "$@" | sort >"$tmp/want"
        deps "$unit" >"$tmp/got"
        diff -u "$tmp/want" "$tmp/got" || fail "$unit: wrong dependencies"
}

# what each job declares (conf.d/jobs.d/demo.conf, conf.d/examples/jobs.d/*.conf) on host1
expect_deps mhtest@demo.service \
        mhtest-nested@demo.service mhtest-hugepages@demo.service mhtest-bridge@demo.service \
        mhtest-testpmd@demo.service
expect_deps mhtest@pvp.service \
        mhtest-nested@pvp.service mhtest-hugepages@pvp.service mhtest-vfio@pvp.service \
        mhtest-testpmd@pvp.service mhtest-guest@pvp:vnf.service
expect_deps mhtest@migrate.service \
        mhtest-bridge@migrate.service mhtest-guest@migrate:mig1.service \
        var-lib-virt_test-images.mount var-lib-virt_test-isos.mount

# stopping the job stops everything it pulled in
for job in demo pvp migrate; do
        for u in $(deps "mhtest@$job.service"); do
                unit_text "$u" | grep -qx "PartOf=mhtest@$job.service" || fail "$u is not PartOf=mhtest@$job.service"
        done
done

# ...and is not ordered against them: the job unit waits for them itself (ExecStart=,
# ExecStopPost=), which is what makes "systemctl stop" return only once they are stopped
# (mhtest@.service(8)); an After= or Before= between them would bring the early return back
for job in demo pvp migrate; do
        unit_text "mhtest@$job.service" | grep -E '^(After|Before)=' | grep -F -e mhtest- -e .mount &&
                fail "mhtest@$job.service is ordered against its units"
        for u in $(deps "mhtest@$job.service"); do
                unit_text "$u" | grep -E "^(After|Before)=.*mhtest@$job\.service" &&
                        fail "$u is ordered against mhtest@$job.service"
        done
done

# verify: every shipped template (as an instance), every generated unit, every job
units=()
for t in "" -nested -hugepages -vfio -bridge -testpmd -guest; do
        units+=("mhtest$t@verify.service")
done
for job in demo pvp migrate; do
        units+=("mhtest@$job.service")
        for u in $(deps "mhtest@$job.service"); do
                case $u in *:*) ;; *) units+=("$u") ;; esac
        done
done
for f in "$out"/*.mount; do
        units+=("$(basename "$f")")
done
mapfile -t units < <(printf '%s\n' "${units[@]}" | awk '!seen[$0]++')
echo "verifying: ${units[*]}"
verify "${units[@]}" || fail "systemd-analyze verify"

# controls: the setup really reads the generated drop-ins and the DESTDIR's binaries
echo "controls (each must fail):"
printf '[Unit]\nRequires=mhtest-nonexistent@demo.service\n' >"$out/mhtest@demo.service.d/99-control.conf"
if verify mhtest@demo.service; then
        fail "control: verify did not see a drop-in in the generator directory"
fi
rm "$out/mhtest@demo.service.d/99-control.conf"
mv "$root$mhtest" "$root$mhtest.moved"
if verify mhtest@demo.service; then
        fail "control: verify did not resolve ExecStart= in the DESTDIR"
fi
mv "$root$mhtest.moved" "$root$mhtest"
verify mhtest@demo.service || fail "verify after the controls"
echo "ok"
