#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Source the bash completion of mhtest and check what it offers for a few command lines,
# against a configuration tree made here (masking, drop-ins, --root=).
#
#   test-completion.sh shell-completion/mhtest.bash
set -u
completion=${1:?usage: test-completion.sh MHTEST_BASH}

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

mkdir -p "$T"/etc/mhtest/jobs.d "$T"/run/mhtest/jobs.d "$T"/usr/local/lib/mhtest/jobs.d \
        "$T"/usr/lib/mhtest/jobs.d/pvp.conf.d "$T"/etc/mhtest/hosts.d "$T"/run/mhtest/hosts.d \
        "$T"/run/mhtest/lab/lab "$T"/etc/mhtest/jobs.d/pvp.conf.d
printf '[Job]\n' >"$T"/usr/lib/mhtest/jobs.d/demo.conf
ln -s /dev/null "$T"/etc/mhtest/jobs.d/demo.conf                    # masked
printf '[Job]\n[Guest vnf]\nImage=/x\n' >"$T"/etc/mhtest/jobs.d/pvp.conf
printf '[Job]\n[Guest hidden]\nImage=/x\n' >"$T"/usr/local/lib/mhtest/jobs.d/pvp.conf  # hidden by /etc
printf '[Guest  extra ]\nImage=/x\n' >"$T"/usr/lib/mhtest/jobs.d/pvp.conf.d/10-extra.conf
printf '[Guest masked]\nImage=/x\n' >"$T"/usr/lib/mhtest/jobs.d/pvp.conf.d/20-masked.conf
ln -s /dev/null "$T"/etc/mhtest/jobs.d/pvp.conf.d/20-masked.conf
printf '[Job]\nHosts=host1 host2\n[Guest mig1]\nKernel=/k\n' >"$T"/run/mhtest/jobs.d/migrate.conf
mkdir -p "$T"/run/mhtest/jobs.d/migrate.conf.d
printf '[Guest vm]\nKernel=/k\nCount=2\nRole=client\nCount=3\nAutoStart=no\n[Guest mig1]\nRole=server\n' \
        >"$T"/run/mhtest/jobs.d/migrate.conf.d/10-vms.conf
printf '[Job]\n' >"$T"/etc/mhtest/jobs.d/.hidden.conf
printf '[Host]\nAddress=192.0.2.1\n' >"$T"/etc/mhtest/hosts.d/host1.conf
printf '[Host]\nAddress=192.0.2.2\n' >"$T"/run/mhtest/hosts.d/host2.conf
mkdir -p "$T"/run/mhtest/lab/lab/hosts.d "$T"/run/mhtest/lab/stale
printf '{}\n' >"$T"/run/mhtest/lab/lab/lab.json
printf '[Host]\nAddress=10.77.0.11\n' >"$T"/run/mhtest/lab/lab/hosts.d/lab-h1.conf
printf '[Host]\nAddress=10.77.0.12\n' >"$T"/run/mhtest/lab/lab/hosts.d/lab-h2.conf

# shellcheck source=mhtest.bash
. "$completion" || exit 1

failed=0
passed=0

# Split a command line into COMP_WORDS the way bash does: at whitespace, with each run of
# other COMP_WORDBREAKS characters ("=", ":", ...) a word of its own.
split_words() {
        local line=$1 c w='' kind='' i
        COMP_WORDS=()
        for ((i = 0; i < ${#line}; i++)); do
                c=${line:i:1}
                if [[ $c == [[:space:]] ]]; then
                        [[ -n $w ]] && COMP_WORDS+=("$w")
                        w='' kind=''
                elif [[ $COMP_WORDBREAKS == *"$c"* ]]; then
                        [[ -n $w && $kind != b ]] && { COMP_WORDS+=("$w"); w=''; }
                        w+=$c kind=b
                else
                        [[ -n $w && $kind == b ]] && { COMP_WORDS+=("$w"); w=''; }
                        w+=$c kind=w
                fi
        done
        if [[ -n $w ]]; then
                COMP_WORDS+=("$w")
        fi
        COMP_CWORD=${#COMP_WORDS[@]}
        if [[ $line =~ [[:space:]]$ ]]; then
                COMP_WORDS+=('')
        fi
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
}

# check LINE EXPECTED...: the sorted COMPREPLY for LINE (cursor at the end) equals EXPECTED.
check() {
        local line=$1 got want
        shift
        COMP_LINE=$line
        COMP_POINT=${#line}
        split_words "$line"
        COMPREPLY=()
        _mhtest mhtest "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')
        want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
        [[ ${#COMPREPLY[@]} -eq 0 ]] && got=' '
        [[ $# -eq 0 ]] && want=' '
        if [[ $got == "$want" ]]; then
                passed=$((passed + 1))
        else
                echo "FAIL: '$line' (COMP_WORDS: ${COMP_WORDS[*]@Q}, COMP_CWORD=$COMP_CWORD)"
                echo "      expected: $want"
                echo "      got:      $got"
                failed=$((failed + 1))
        fi
}

check 'mhtest ' config check apply revert status testpmd testpmd-console guest vms console job lab
check 'mhtest con' config console
check 'mhtest te' testpmd testpmd-console
check 'mhtest config ' show validate hash
check "mhtest --root=$T config show " migrate pvp
check "mhtest config --root=$T validate p" pvp
check "mhtest --root $T status " migrate pvp
check "mhtest --root=$T apply " nested hugepages vfio bridge
check "mhtest --root=$T revert hugepages " migrate pvp
check "mhtest --root=$T apply hugepages pvp "
check "mhtest --root=$T testpmd-console p" pvp
check "mhtest --root=$T guest " migrate:mig1 migrate:vm-1 migrate:vm-2 migrate:vm-3 pvp:extra pvp:vnf
check "mhtest --root=$T console migrate:v" vm-1 vm-2 vm-3
check 'mhtest vms ' start wait list
check "mhtest --root=$T vms start " migrate pvp
check "mhtest --root=$T vms wait migrate " client server
check "mhtest --root=$T vms wait --timeout 30 migrate c" client
check "mhtest --root=$T vms list pvp "
check "mhtest --root=$T guest pvp:" extra vnf
check "mhtest --root=$T guest pvp:v" vnf
check 'mhtest job ' wait-started wait-stopped
check "mhtest --root=$T job wait-stopped " migrate pvp
check 'mhtest --log-level=w' warning
check 'mhtest --log-level ' debug info notice warning err
check 'mhtest --ver' --version
check 'mhtest status --js' --json
check 'mhtest lab ' up down status exec
check 'mhtest lab up --back' --backend=
check 'mhtest lab up --backend=' container vm
check 'mhtest lab up --backend ' container vm
check "mhtest --root=$T lab status " lab
check "mhtest --root=$T lab exec " lab-ctl lab-h1 lab-h2
check "mhtest --root=$T lab exec lab-h" lab-h1 lab-h2
check "mhtest --root=$T lab exec lab-h1 " --
check "mhtest --root=$T lab down --name=" lab
check "mhtest --root=$T lab status --name " lab
check "mhtest --root=${T%/*}/${T##*/}/et" "$T/etc"
check "mhtest --root=$T/usr/lib/mhtest/jobs.d/pvp.conf." "$T/usr/lib/mhtest/jobs.d/pvp.conf.d"

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
