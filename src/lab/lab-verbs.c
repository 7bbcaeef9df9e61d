/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* "mhtest lab up|down|status|exec": the verbs, the same for both backends, dispatched to
 * lab-nspawn.c (containers) or lab-vm.c (L1 VMs) where they differ. */
#include <limits.h>
#include <stdio.h>
#include <unistd.h>
#include "lab-internal.h"
#include "log.h"
#include "message-ids.h"
#include "netns-util.h"
#include "path-util.h"
#include "state.h"
#include "string-util.h"
#include "strv.h"

static const LabArgs *arg;

static const char *lab_name_arg(int argc, char *argv[], int idx) {
        if (argc > idx)
                return argv[idx];
        return arg->name ?: LAB_DEFAULT_NAME;
}

static int verb_lab_up(int argc, char *argv[]) {
        _cleanup_free_ char *default_from = NULL;
        LabOptions o = {
                .name = arg->name ?: LAB_DEFAULT_NAME,
                .n_hosts = arg->n_hosts ?: LAB_DEFAULT_HOSTS,
                .from = arg->from,
                .images = arg->images,
                .backend = LAB_BACKEND_CONTAINER,
                .quiet = arg->quiet,
        };

        if (argc > 2)
                return log_error_errno(-EINVAL, "Usage: mhtest lab up [--name=NAME] [--hosts=N] [--from=TREE] "
                                       "[--backend=container|vm] [--images=DIR]");
        if (!lab_name_valid(o.name))
                return log_error_errno(-EINVAL, "Invalid lab name \"%s\": 1-24 characters a-z, 0-9 and \"-\", "
                                       "starting with a letter.", o.name);
        if (o.n_hosts > LAB_MAX_HOSTS)
                return log_error_errno(-EINVAL, "--hosts=%u: at most %u hosts.", o.n_hosts, LAB_MAX_HOSTS);
        if (arg->backend) {
                o.backend = lab_backend_from_string(arg->backend);
                if (o.backend < 0)
                        return log_error_errno(-EINVAL, "Invalid --backend=%s (expected container or vm).", arg->backend);
        }
        if (geteuid() != 0)
                return log_error_errno(-EPERM, "mhtest lab needs root (namespaces, mounts, containers).");
        /* Run from a build tree: install that build into the hosts. */
        if (!o.from && lab_default_from(&default_from) > 0)
                o.from = default_from;
        if (o.backend == LAB_BACKEND_VM)
                return lab_vm_up(&o);
        if (o.images && !path_is_absolute(o.images))
                return log_error_errno(-EINVAL, "--images=%s: expected an absolute path.", o.images);
        return lab_container_up(&o);
}

/* Everything "up" makes that outlives it, looked for where it would be: processes (checked by the
 * backends, which wait for them), cgroups, mounts, network namespaces, /run entries. */
static int lab_check_gone(const Lab *l) {
        _cleanup_strv_free_ char **left = NULL, **roots = NULL, **netns = NULL;
        _cleanup_free_ char *dir_prefix = strjoin(l->dir, "/"), *line = NULL, *sw = lab_sw_ns(l), *ctl = lab_ctl_ns(l);
        _cleanup_fclose_ FILE *f = NULL;
        size_t n = 0;

        if (!dir_prefix || !sw || !ctl || lab_cgroup_roots(&roots) < 0 || !(netns = strv_new(sw, ctl)))
                return log_oom();
        for (size_t i = 0; i < l->n_hosts; i++) {
                _cleanup_free_ char *hostsd = strjoin(LAB_HOSTS_DIR "/", l->hosts[i].name, ".conf"),
                                    *propagate = strjoin("/run/systemd/nspawn/propagate/", l->hosts[i].name);
                if (!hostsd || !propagate || strv_extend(&netns, l->hosts[i].name) < 0)
                        return log_oom();
                STRV_FOREACH(c, STRV_MAKE(hostsd, propagate))
                        if (access(*c, F_OK) >= 0 && strv_extend(&left, *c) < 0)
                                return log_oom();
                STRV_FOREACH(root, roots) {
                        _cleanup_free_ char *cg = lab_host_cgroup(*root, &l->hosts[i]);
                        if (!cg)
                                return log_oom();
                        if (access(cg, F_OK) >= 0 && strv_consume(&left, strjoin("cgroup ", cg)) < 0)
                                return log_oom();
                }
        }
        STRV_FOREACH(ns, netns) {
                _cleanup_free_ char *p = strjoin(NETNS_RUN_DIR "/", *ns);
                if (!p)
                        return log_oom();
                if (access(p, F_OK) >= 0 && strv_consume(&left, strjoin("network namespace ", p)) < 0)
                        return log_oom();
        }
        if (access(l->dir, F_OK) >= 0 && strv_extend(&left, l->dir) < 0)
                return log_oom();
        f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return log_error_errno(-errno, "Failed to read /proc/self/mountinfo: %m");
        while (getline(&line, &n, f) > 0) {
                char mp[PATH_MAX];
                if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 &&
                    (startswith(mp, dir_prefix) || streq(mp, l->dir)) && strv_consume(&left, strjoin("mount ", mp)) < 0)
                        return log_oom();
        }
        STRV_FOREACH(x, left)
                log_warning("Lab %s: %s is left.", l->name, *x);
        return left ? -EBUSY : 0;
}

static int verb_lab_down(int argc, char *argv[]) {
        _cleanup_(lab_freep) Lab *l = NULL;
        const char *name = lab_name_arg(argc, argv, 2);
        _cleanup_free_ char *f1 = NULL;
        int r;

        if (!lab_name_valid(name))
                return log_error_errno(-EINVAL, "Invalid lab name \"%s\".", name);
        if (geteuid() != 0)
                return log_error_errno(-EPERM, "mhtest lab needs root.");
        r = lab_load(name, &l);
        if (r == -ENOENT) {
                _cleanup_free_ char *dir = strjoin(LAB_RUN_DIR "/", name);
                if (dir && access(dir, F_OK) >= 0)
                        return log_error_errno(-EBADMSG, "%s has no lab.json; remove it by hand.", dir);
                if (!arg->quiet)
                        log_info("Lab %s is not up.", name);
                return 0;
        }
        if (r < 0)
                return log_error_errno(r, "Failed to read the state of lab %s: %m", name);
        r = l->backend == LAB_BACKEND_VM ? lab_vm_down(l) : lab_container_down(l);
        /* Whatever the backend says: down is down only when nothing of the lab is left. */
        if (lab_check_gone(l) < 0)
                r = -EBUSY;
        if (asprintf_safe(&f1, "MHTEST_LAB=%s", name) < 0)
                return log_oom();
        if (r < 0)
                return log_error_errno(r, "Lab %s: some of it could not be removed (see above).", name);
        log_event(LOG_INFO, 0, MHTEST_MESSAGE_LAB_DOWN, STRV_MAKE(f1), "Lab %s is down; everything it made was removed.", name);
        return 0;
}

static int lab_status_one(const char *name, json_object *out) {
        _cleanup_(lab_freep) Lab *l = NULL;
        _cleanup_free_ char *subnet = NULL, *ctl = NULL;
        json_object *jo, *jhosts;
        int r;

        r = lab_load(name, &l);
        if (r < 0)
                return log_error_errno(r, "Lab %s: %s", name, r == -ENOENT ? "not up." : "unreadable state.");
        subnet = lab_ip4_format(l->subnet);
        ctl = lab_ctl_ns(l);
        if (!subnet || !ctl)
                return log_oom();
        jo = json_object_new_object();
        jhosts = json_object_new_array();
        json_object_object_add(jo, "name", json_object_new_string(l->name));
        json_object_object_add(jo, "backend", json_object_new_string(lab_backend_to_string(l->backend)));
        json_object_object_add(jo, "subnet", json_object_new_string(subnet));
        json_object_object_add(jo, "controller_netns", json_object_new_string(ctl));
        json_object_object_add(jo, "images", json_object_new_string(strempty(l->images)));
        json_object_object_add(jo, "hosts", jhosts);
        if (!arg->json)
                printf("Lab %s (%s backend, network %s/24, controller netns %s, images %s)\n", l->name,
                       lab_backend_to_string(l->backend), subnet, ctl, strna(l->images));
        for (size_t i = 0; i < l->n_hosts; i++) {
                const LabHost *h = &l->hosts[i];
                _cleanup_free_ char *state = NULL;
                json_object *jh = json_object_new_object();
                pid_t leader = l->backend == LAB_BACKEND_CONTAINER ? lab_container_leader(h) : 0;
                bool running = l->backend == LAB_BACKEND_CONTAINER && lab_container_running(h);

                if (leader > 0 && lab_container_system_state(leader, &state) >= 0 && state)
                        ;
                else if (l->backend == LAB_BACKEND_VM && lab_vm_host_state(l, h, &state) >= 0)
                        ;
                else {
                        free(state);
                        state = strdup(l->backend != LAB_BACKEND_CONTAINER ? "unknown" : running ? "booting" : "down");
                }
                json_object_object_add(jh, "name", json_object_new_string(h->name));
                json_object_object_add(jh, "address", json_object_new_string(h->address));
                json_object_object_add(jh, "state", json_object_new_string(strempty(state)));
                json_object_object_add(jh, "nspawn_pid", json_object_new_int(running ? h->pid : 0));
                json_object_object_add(jh, "leader_pid", json_object_new_int(leader));
                json_object_array_add(jhosts, jh);
                if (!arg->json)
                        printf("  %-16s %-15s %s\n", h->name, h->address, strempty(state));
        }
        json_object_array_add(out, jo);
        return 0;
}

static int verb_lab_status(int argc, char *argv[]) {
        _cleanup_json_ json_object *out = json_object_new_array();
        _cleanup_strv_free_ char **names = NULL;
        int r;

        if (argc > 2 || arg->name)
                names = strv_new(lab_name_arg(argc, argv, 2));
        else {
                r = lab_list(&names);
                if (r < 0)
                        return log_error_errno(r, "Failed to list labs: %m");
                if (!names && !arg->json)
                        printf("No lab is up.\n");
        }
        STRV_FOREACH(n, names) {
                r = lab_status_one(*n, out);
                if (r < 0)
                        return r;
        }
        if (arg->json)
                printf("%s\n", json_object_to_json_string_ext(argc > 2 || arg->name ? json_object_array_get_idx(out, 0) : out,
                                                              JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        return 0;
}

/* Find HOST ("NAME-hK", "hK" with --name, or "NAME-ctl"/"ctl" for the controller). */
static int lab_find_host(const char *host, Lab **ret_lab, ssize_t *ret_idx) {
        _cleanup_strv_free_ char **names = NULL;
        int r;

        r = lab_list(&names);
        if (r < 0)
                return r;
        STRV_FOREACH(n, names) {
                _cleanup_(lab_freep) Lab *l = NULL;
                _cleanup_free_ char *ctl = NULL;

                if (arg->name && !streq(*n, arg->name))
                        continue;
                if (lab_load(*n, &l) < 0)
                        continue;
                ctl = lab_ctl_ns(l);
                if (!ctl)
                        return -ENOMEM;
                if (streq(host, ctl) || ((arg->name || strv_length(names) == 1) && streq(host, "ctl"))) {
                        *ret_idx = -1;
                        *ret_lab = TAKE_PTR(l);
                        return 0;
                }
                for (size_t i = 0; i < l->n_hosts; i++) {
                        const char *short_name = l->hosts[i].name + strlen(l->name) + 1;
                        if (streq(host, l->hosts[i].name) ||
                            ((arg->name || strv_length(names) == 1) && streq(host, short_name))) {
                                *ret_idx = (ssize_t) i;
                                *ret_lab = TAKE_PTR(l);
                                return 0;
                        }
                }
        }
        return -ENOENT;
}

static int verb_lab_exec(int argc, char *argv[]) {
        _cleanup_(lab_freep) Lab *l = NULL;
        _cleanup_strv_free_ char **cmd = NULL, **full = NULL;
        ssize_t idx;
        int r;

        if (argc < 3)
                return log_error_errno(-EINVAL, "Usage: mhtest lab exec HOST [--] CMD...");
        r = lab_find_host(argv[2], &l, &idx);
        if (r == -ENOENT)
                return log_error_errno(r, "No lab host \"%s\" (see \"mhtest lab status\").", argv[2]);
        if (r < 0)
                return log_error_errno(r, "Failed to look up lab host %s: %m", argv[2]);
        for (int i = 3; i < argc; i++)
                if (!(i == 3 && streq(argv[i], "--")) && strv_extend(&cmd, argv[i]) < 0)
                        return log_oom();
        if (!cmd && !(cmd = strv_new("/bin/bash", "-l")))
                return log_oom();

        if (idx < 0) {
                /* The controller: this machine, in the lab's controller network namespace, with the
                 * lab's ssh first in PATH. */
                _cleanup_free_ char *path = NULL, *bin = lab_path(l, "bin", NULL);

                if (!bin || asprintf_safe(&path, "%s:%s", bin, getenv("PATH") ?: "/usr/sbin:/usr/bin:/sbin:/bin") < 0)
                        return log_oom();
                r = lab_enter_ctl(l);
                if (r < 0)
                        return r;
                setenv("PATH", path, 1);
                setenv("MHTEST_LAB", l->name, 1);
                execvp(cmd[0], cmd);
                return log_error_errno(-errno, "Failed to execute %s: %m", cmd[0]);
        }
        if (l->backend != LAB_BACKEND_CONTAINER) {
                /* Any backend with sshd: over ssh from the controller namespace. */
                r = lab_ssh_argv(l->name, l->hosts[idx].name, STRV_MAKE(isatty(STDIN_FILENO) ? "-t" : "-T"), cmd, &full);
                if (r < 0)
                        return log_oom();
                r = lab_enter_ctl(l);
                if (r < 0)
                        return r;
                execvp(full[0], full);
                return log_error_errno(-errno, "Failed to execute ssh: %m");
        }
        {
                pid_t leader = lab_container_leader(&l->hosts[idx]);
                if (leader <= 0)
                        return log_error_errno(-ESRCH, "Host %s is not running.", l->hosts[idx].name);
                /* Into the host's cgroup subtree: what the command starts belongs to the host, is
                 * accounted there, and is gone after "lab down" like everything else of the host. */
                if (lab_cgroup_enter(&l->hosts[idx]) < 0)
                        log_debug("Failed to move into the cgroup of %s, ignoring.", l->hosts[idx].name);
                r = lab_container_nsenter_argv(leader, cmd, &full);
                if (r < 0)
                        return log_oom();
                fflush(stdout);
                execvp(full[0], full);
                return log_error_errno(-errno, "Failed to execute nsenter: %m");
        }
}

int lab_main(const LabArgs *args, int argc, char *argv[]) {
        const char *v = argv[1];

        arg = args;
        if (streq(v, "up"))
                return verb_lab_up(argc, argv);
        if (streq(v, "down"))
                return verb_lab_down(argc, argv);
        if (streq(v, "status"))
                return verb_lab_status(argc, argv);
        if (streq(v, "exec"))
                return verb_lab_exec(argc, argv);
        return log_error_errno(-EINVAL, "Unknown lab command \"%s\" (expected up, down, status or exec).", v);
}
