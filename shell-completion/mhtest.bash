# SPDX-License-Identifier: LGPL-2.1-or-later
# bash completion for mhtest(8): commands, subcommands, steps, options, job names, JOB:GUEST
# instances, lab names and lab hosts. Job and guest names are read from the configuration
# directories (below --root=DIR when the command line has one), with the same masking rules
# as mhtest itself: a name in a higher directory hides it below, a symlink to /dev/null masks it.

_mhtest_dirs=(/etc/mhtest /run/mhtest /usr/local/lib/mhtest /usr/lib/mhtest)

# Is this path a mask (a symlink to /dev/null, or /dev/null's character device)?
_mhtest_masked() {
        [[ -L $1 && $(readlink -- "$1") == /dev/null ]] && return 0
        [[ -c $1 && $1 -ef /dev/null ]]
}

# The files NAME.conf of a directory relative to the configuration directories, one per name,
# highest directory first, masked names dropped. Prints the paths.
_mhtest_conf_files() {
        local root=$1 reldir=$2 d f name
        local -A seen=()
        for d in "${_mhtest_dirs[@]}"; do
                for f in "$root$d/$reldir"/*.conf; do
                        [[ -e $f || -L $f ]] || continue
                        name=${f##*/}
                        [[ $name == .* || -n ${seen[$name]-} ]] && continue
                        seen[$name]=1
                        _mhtest_masked "$f" && continue
                        [[ -f $f ]] && printf '%s\n' "$f"
                done
        done
}

_mhtest_jobs() {
        local f
        while IFS= read -r f; do
                f=${f##*/}
                printf '%s\n' "${f%.conf}"
        done < <(_mhtest_conf_files "$1" jobs.d)
}

# The text of a job: its main file, then its drop-ins in order.
_mhtest_job_text() {
        local root=$1 job=$2 d f main=
        for d in "${_mhtest_dirs[@]}"; do
                f=$root$d/jobs.d/$job.conf
                if [[ -e $f || -L $f ]]; then
                        _mhtest_masked "$f" || main=$f
                        break
                fi
        done
        [[ -n $main ]] || return 0
        {
                cat -- "$main"
                while IFS= read -r f; do cat -- "$f"; done < <(_mhtest_conf_files "$root" "jobs.d/$job.conf.d")
        } 2>/dev/null
}

# "NAME COUNT ROLE" for every [Guest NAME] section of a job's text on stdin (the last Count=
# and Role= win, as in mhtest).
_mhtest_guest_sections() {
        local line name='' count=1 role='' i
        local -A counts=() roles=()
        local -a order=()
        while IFS= read -r line; do
                if [[ $line =~ ^[[:space:]]*\[([^]]*)\] ]]; then
                        name=''
                        if [[ ${BASH_REMATCH[1]} =~ ^Guest[[:space:]]+([^][:space:]]+)[[:space:]]*$ ]]; then
                                name=${BASH_REMATCH[1]}
                                [[ -n ${counts[$name]-} ]] || { order+=("$name"); counts[$name]=1; roles[$name]=-; }
                        fi
                elif [[ -n $name && $line =~ ^[[:space:]]*Count[[:space:]]*=[[:space:]]*([0-9]*) ]]; then
                        counts[$name]=${BASH_REMATCH[1]:-1}
                elif [[ -n $name && $line =~ ^[[:space:]]*Role[[:space:]]*=[[:space:]]*([^[:space:]]*) ]]; then
                        roles[$name]=${BASH_REMATCH[1]:--}
                fi
        done
        for name in "${order[@]}"; do
                printf '%s %s %s\n' "$name" "${counts[$name]}" "${roles[$name]}"
        done
}

# JOB:GUEST for every [Guest NAME] section of every job, JOB:NAME-1 .. JOB:NAME-N with Count=N.
_mhtest_guests() {
        local root=$1 job name count role i
        while IFS= read -r job; do
                while read -r name count role; do
                        if ((count > 1)); then
                                for ((i = 1; i <= count; i++)); do printf '%s:%s-%d\n' "$job" "$name" "$i"; done
                        else
                                printf '%s:%s\n' "$job" "$name"
                        fi
                done < <(_mhtest_job_text "$root" "$job" | _mhtest_guest_sections)
        done < <(_mhtest_jobs "$root") | sort -u
}

# The Role= values of a job's guests.
_mhtest_roles() {
        local name count role
        while read -r name count role; do
                [[ $role != - ]] && printf '%s\n' "$role"
        done < <(_mhtest_job_text "$1" "$2" | _mhtest_guest_sections) | sort -u
}

# The hosts of every lab that is up (their copies of the hosts.d/ files "lab up" wrote), and
# each lab's controller, NAME-ctl.
_mhtest_lab_hosts() {
        local d f
        for d in "$1"/run/mhtest/lab/*/; do
                [[ -f $d/lab.json ]] || continue
                d=${d%/}
                printf '%s-ctl\n' "${d##*/}"
                for f in "$d"/hosts.d/*.conf; do
                        [[ -f $f ]] || continue
                        f=${f##*/}
                        printf '%s\n' "${f%.conf}"
                done
        done
}

_mhtest_labs() {
        local d
        for d in "$1"/run/mhtest/lab/*/; do
                [[ -f $d/lab.json ]] || continue
                d=${d%/}
                printf '%s\n' "${d##*/}"
        done
}

_mhtest() {
        local verbs='config check apply revert status testpmd testpmd-console guest vms console job lab'
        local opts_arg='--root= --log-level= --name= --hosts= --from= --backend= --images= --timeout='
        local opts_flag='-h --help --version --json --all -q --quiet --print-xml --prepare-incoming --remove-incoming'
        local steps='nested hugepages vfio bridge'
        local levels='debug info notice warning err'
        local -a words=() args=()
        local line cur root='' i w verb nospace=''

        # bash splits words at COMP_WORDBREAKS ("=", ":", "@", ...); split the line at whitespace
        # ourselves so that "--root=DIR" and "JOB:GUEST" are one word each.
        line=${COMP_LINE:0:COMP_POINT}
        read -r -a words <<< "$line"
        if [[ $line =~ [[:space:]]$ || ${#words[@]} -eq 0 ]]; then
                cur=''
        else
                cur=${words[-1]}
                unset 'words[-1]'
        fi

        # Options may stand anywhere; collect the positional arguments after "mhtest".
        for ((i = 1; i < ${#words[@]}; i++)); do
                w=${words[i]}
                case $w in
                --)
                        args+=("${words[@]:i}")
                        break
                        ;;
                --root=*) root=${w#--root=} ;;
                --root) root=${words[i + 1]-}; ((i++)) ;;
                --log-level|--name|--hosts|--from|--backend|--images|--timeout) ((i++)) ;;
                -*) ;;
                *) args+=("$w") ;;
                esac
        done
        root=${root%/}

        local prev=${words[-1]}
        local -a cand=()
        case $prev in
        --root|--from|--images)
                mapfile -t cand < <(compgen -d -- "$cur")
                nospace=1
                ;;
        --log-level) mapfile -t cand < <(compgen -W "$levels" -- "$cur") ;;
        --backend) mapfile -t cand < <(compgen -W 'container vm' -- "$cur") ;;
        --name) mapfile -t cand < <(compgen -W "$(_mhtest_labs "$root")" -- "$cur") ;;
        --hosts|--timeout) ;;
        *)
                case $cur in
                --root=*|--from=*|--images=*)
                        mapfile -t cand < <(compgen -d -- "${cur#*=}")
                        cand=("${cand[@]/#/${cur%%=*}=}")
                        nospace=1
                        ;;
                --log-level=*) mapfile -t cand < <(compgen -P --log-level= -W "$levels" -- "${cur#*=}") ;;
                --backend=*) mapfile -t cand < <(compgen -P --backend= -W 'container vm' -- "${cur#*=}") ;;
                --name=*) mapfile -t cand < <(compgen -P --name= -W "$(_mhtest_labs "$root")" -- "${cur#*=}") ;;
                --hosts=*|--timeout=*) ;;
                -*)
                        mapfile -t cand < <(compgen -W "$opts_arg $opts_flag" -- "$cur")
                        [[ ${#cand[@]} -eq 1 && ${cand[0]} == *= ]] && nospace=1
                        ;;
                *)
                        verb=${args[0]-}
                        local n=${#args[@]}
                        case $verb in
                        '')
                                mapfile -t cand < <(compgen -W "$verbs" -- "$cur") ;;
                        config)
                                if ((n == 1)); then
                                        mapfile -t cand < <(compgen -W 'show validate hash' -- "$cur")
                                elif ((n == 2)); then
                                        mapfile -t cand < <(compgen -W "$(_mhtest_jobs "$root")" -- "$cur")
                                fi
                                ;;
                        check|status|testpmd|testpmd-console)
                                ((n == 1)) && mapfile -t cand < <(compgen -W "$(_mhtest_jobs "$root")" -- "$cur")
                                ;;
                        apply|revert)
                                if ((n == 1)); then
                                        mapfile -t cand < <(compgen -W "$steps" -- "$cur")
                                elif ((n == 2)); then
                                        mapfile -t cand < <(compgen -W "$(_mhtest_jobs "$root")" -- "$cur")
                                fi
                                ;;
                        guest|console)
                                ((n == 1)) && mapfile -t cand < <(compgen -W "$(_mhtest_guests "$root")" -- "$cur")
                                ;;
                        vms)
                                if ((n == 1)); then
                                        mapfile -t cand < <(compgen -W 'start wait list' -- "$cur")
                                elif ((n == 2)); then
                                        mapfile -t cand < <(compgen -W "$(_mhtest_jobs "$root")" -- "$cur")
                                elif ((n == 3)); then
                                        mapfile -t cand < <(compgen -W "$(_mhtest_roles "$root" "${args[2]}")" -- "$cur")
                                fi
                                ;;
                        job)
                                if ((n == 1)); then
                                        mapfile -t cand < <(compgen -W 'wait-started wait-stopped' -- "$cur")
                                elif ((n == 2)); then
                                        mapfile -t cand < <(compgen -W "$(_mhtest_jobs "$root")" -- "$cur")
                                fi
                                ;;
                        lab)
                                if ((n == 1)); then
                                        mapfile -t cand < <(compgen -W 'up down status exec' -- "$cur")
                                elif ((n == 2)); then
                                        case ${args[1]-} in
                                        down|status)
                                                mapfile -t cand < <(compgen -W "$(_mhtest_labs "$root")" -- "$cur") ;;
                                        exec)
                                                mapfile -t cand < <(compgen -W "$(_mhtest_lab_hosts "$root")" -- "$cur") ;;
                                        esac
                                elif [[ ${args[1]-} == exec ]]; then
                                        if ((n == 3)); then
                                                mapfile -t cand < <(compgen -W '--' -- "$cur")
                                        elif [[ ${args[3]-} == -- ]] && ((n == 4)); then
                                                mapfile -t cand < <(compgen -c -- "$cur")
                                        fi
                                fi
                                ;;
                        esac
                        ;;
                esac
                ;;
        esac

        # readline replaces only the part of the word after its last COMP_WORDBREAKS character:
        # drop what comes before it ("--root=", "JOB:") from the candidates.
        local wb=${COMP_WORDBREAKS-$' \t\n"\'><=;|&(:'} prefix=''
        for ((i = ${#cur} - 1; i >= 0; i--)); do
                if [[ $wb == *"${cur:i:1}"* ]]; then
                        prefix=${cur:0:i+1}
                        break
                fi
        done
        [[ -n $prefix ]] && cand=("${cand[@]#"$prefix"}")
        COMPREPLY=("${cand[@]}")
        if [[ -n $nospace ]]; then
                compopt -o nospace 2>/dev/null
                [[ $prev == --root || $prev == --from || $prev == --images || $cur == --*=* ]] &&
                        compopt -o filenames 2>/dev/null
        fi
        return 0
}

complete -F _mhtest mhtest
