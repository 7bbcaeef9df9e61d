/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <sys/types.h>
#include "lab.h"
#include "macro.h"
#include "time-util.h"

/* The lab's own layout. Two backends share the verbs, the state, the network layout and the
 * hosts.d/SSH wiring:
 *
 *   state      /run/mhtest/lab/NAME/lab.json   (backend, subnet, hosts with address and pid)
 *   ssh        /run/mhtest/lab/NAME/id_ed25519, /run/mhtest/lab/NAME/ssh_config
 *   hosts.d    /run/mhtest/hosts.d/HOST.conf   (written for the controller side)
 *   host names NAME-h1, NAME-h2, ...           (default NAME: "lab")
 *   netns      one switch namespace NAME-sw with the lab bridge, one per host (containers), one
 *              controller namespace NAME-ctl for mhtest-coord; nothing in the machine's namespace.
 *
 * One file per subject:
 *   lab-state.c    the record (lab.json), names and paths
 *   lab-process.c  the lab's processes: programs it runs, cgroups, identity, waiting for the end
 *   lab-network.c  subnet choice, namespaces, bridges, veths, taps
 *   lab-root.c     a host's root: overlay, identity, fake hugepage counters, mhtest installed
 *   lab-ssh.c      keys, ssh_config, hosts.d entries, commands over SSH
 *   lab-nspawn.c   the container backend: boot, readiness, poweroff of systemd-nspawn hosts
 *   lab-vm.c       the L1 VM backend: QEMU hosts
 *   lab-verbs.c    up, down, status, exec */

#define LAB_RUN_DIR "/run/mhtest/lab"
#define LAB_HOSTS_DIR "/run/mhtest/hosts.d"
#define LAB_IMAGES_PATH "/var/lib/mhtest/images"
#define LAB_DEFAULT_NAME "lab"
#define LAB_DEFAULT_HOSTS 2U
#define LAB_MAX_HOSTS 32U

typedef enum LabBackend {
        LAB_BACKEND_CONTAINER,
        LAB_BACKEND_VM,
        _LAB_BACKEND_MAX,
        _LAB_BACKEND_INVALID = -EINVAL,
} LabBackend;

DECLARE_STRING_TABLE_LOOKUP(lab_backend, LabBackend);

/* What "lab up" was asked for, checked. */
typedef struct LabOptions {
        const char *name;
        unsigned n_hosts;
        const char *from; /* build or install tree mhtest is taken from; NULL: the machine's */
        const char *images;
        LabBackend backend;
        bool quiet;
} LabOptions;

typedef struct LabHost {
        char *name;         /* NAME-hK: host name, machine name, network namespace */
        char *address;      /* on the lab network */
        pid_t pid;          /* systemd-nspawn or QEMU; 0: not started */
        uint64_t pid_start; /* its start time (/proc/PID/stat), which tells it from a reused PID */
} LabHost;

typedef struct Lab {
        char *name;
        char *dir;
        LabBackend backend;
        uint32_t subnet; /* host byte order, a /24 */
        char *images;
        char *from;
        bool created_images;
        bool made_run_dir, made_hosts_dir; /* /run/mhtest, /run/mhtest/hosts.d did not exist before */
        LabHost *hosts;
        size_t n_hosts;
} Lab;

/* lab-state.c */
void lab_free(Lab *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(Lab *, lab_free);
/* A lab as "up" is asked for it, nothing made yet: hosts NAME-hK at .11, .12, ... of subnet. */
int lab_new(const LabOptions *o, uint32_t subnet, Lab **ret);
/* Its directory, and its record in it. */
int lab_create(const Lab *l, mode_t mode);
/* Its directory, and /run/mhtest/lab and /run/mhtest when it made them and they are empty. */
int lab_remove_dir(const Lab *l);
char *lab_ip4_format(uint32_t a);
char *lab_sw_ns(const Lab *l);
char *lab_ctl_ns(const Lab *l);
/* DIR/a or DIR/a/b */
char *lab_path(const Lab *l, const char *a, const char *b);
bool lab_name_valid(const char *s);
int lab_save(const Lab *l);
/* -ENOENT: no such lab; -EBADMSG: unreadable state. */
int lab_load(const char *name, Lab **ret);
int lab_list(char ***ret);

/* lab-process.c */
int lab_devnull_fd(void);
/* Run a helper program quietly; on failure log what it said. */
int lab_run_quiet(char * const *argv);
/* The process exists with this command name (any name if comm is NULL). */
bool lab_pid_is(pid_t pid, const char *comm);
int lab_pid_start_time(pid_t pid, uint64_t *ret);
/* The host's recorded process (pid and start time; without a start time, by a command name
 * starting with comm) runs: it exists and has not exited (a zombie has). */
bool lab_host_process_running(const LabHost *h, const char *comm);
/* How long "lab down" waits for the lab's processes to be gone (exited and reaped by their
 * parents) once the hosts were told to stop; then what still runs in the hosts' cgroups, or is a
 * recorded process, is killed, and reaped for at most LAB_REAP_AFTER_KILL_USEC more. A parent
 * other than us reaps: "lab up" has exited, so systemd-nspawn and a daemonized QEMU belong to
 * PID 1 (or the nearest subreaper), which may take its time. */
#define LAB_REAP_TIMEOUT_USEC (15 * USEC_PER_SEC)
#define LAB_REAP_AFTER_KILL_USEC (5 * USEC_PER_SEC)
/* Wait until no process of the lab has an entry in /proc: nothing runs in, or as a zombie still
 * names, a host's cgroup, and no host's recorded process (comm as above) exists. -EBUSY (with a
 * warning naming every PID left, and for a zombie the parent that has not reaped it) if that does
 * not happen in time. */
int lab_wait_processes_gone(const Lab *l, const char *comm, uint64_t timeout_usec);
/* The cgroup hierarchies a host gets a subtree in: the unified one, or name=systemd plus the
 * unified one on a hybrid machine. */
int lab_cgroup_roots(char ***ret);
char *lab_host_cgroup(const char *root, const LabHost *h);
/* Move the calling process into the host's cgroup in every hierarchy (the first error, after trying
 * all). */
int lab_cgroup_enter(const LabHost *h);
void lab_cgroup_kill(const char *path, int sig);
int lab_cgroup_remove(const char *path);

/* lab-network.c */
int lab_pick_subnet(const char *self, uint32_t *ret);
/* The switch namespace with bridge br0 and the controller namespace on it (address .1); with
 * host_namespaces, a namespace per host on br0 too (address of the host). */
int lab_network_up(const Lab *l, bool host_namespaces);
int lab_network_bridge_add(const Lab *l, const char *bridge);
/* A persistent tap inside namespace ns, enslaved to bridge, up; it dies with the namespace. */
int lab_network_tap_add(const char *ns, const char *tap, const char *bridge);
/* Remove every namespace of the lab (with them their bridges, veths and taps). */
int lab_network_down(const Lab *l);
/* Enter the lab's controller namespace for good (before an exec). */
int lab_enter_ctl(const Lab *l);
/* Run argv in the lab's controller namespace (capturing stdout if ret_out), as spawn_wait(). */
int lab_ctl_run(const Lab *l, char * const *argv, char **ret_out);

/* lab-root.c */
int lab_root_write(const char *root, const char *rel, const char *contents, mode_t mode);
int lab_root_append(const char *root, const char *rel, const char *add);
int lab_root_symlink(const char *root, const char *rel, const char *target);
/* Mask the units in root's /etc/systemd/system. */
int lab_root_mask_units(const char *root, const char *const *units, size_t n_units);
/* /etc/hosts lines naming the controller and every host. */
int lab_hosts_lines(const Lab *l, char **ret);
int lab_host_mount_root(const Lab *l, const LabHost *h);
int lab_host_prepare_root(const Lab *l, const LabHost *h, const char *root);
/* Plain files standing in for the kernel's hugepage counters; the nspawn --bind= options to
 * add are appended to binds. */
int lab_host_fake_hugepages(const Lab *l, const LabHost *h, const char *root, char ***binds);
/* The build directory mhtest runs from (1), or none (0). */
int lab_default_from(char **ret);
/* mhtest from the build tree or install tree "from", installed into dest (a DESTDIR with merged
 * /usr, ready to copy over a root). */
int lab_install_stage(const char *from, const char *dest);

/* lab-ssh.c */
/* The lab's key, ssh_config and an ssh wrapper (bin/ssh) using that config. Logs its errors. */
int lab_write_ssh(const Lab *l);
int lab_ssh_prepare_root(const Lab *l, const LabHost *h, const char *root);
/* /run/mhtest/hosts.d/HOST.conf for every host (and a copy in the lab's own hosts.d/). Logs its
 * errors. */
int lab_write_hosts_d(const Lab *l);
int lab_remove_hosts_d(const Lab *l);
/* ssh argv reaching host of lab name with the lab's config, each word of cmd quoted for the
 * remote shell. */
int lab_ssh_argv(const char *name, const char *host, char * const *options, char * const *cmd, char ***ret);

/* lab-nspawn.c: the container backend */
int lab_container_up(const LabOptions *o);
int lab_container_down(Lab *l);
/* The container's PID 1, 0 if not running. */
pid_t lab_container_leader(const LabHost *h);
bool lab_container_running(const LabHost *h);
int lab_container_system_state(pid_t leader, char **ret);
/* argv prefix entering every namespace of the host, with its root and a clean environment. */
int lab_container_nsenter_argv(pid_t leader, char * const *cmd, char ***ret);

/* lab-vm.c: the L1 VM backend */
int lab_vm_up(const LabOptions *o);
int lab_vm_down(Lab *l);
/* A vm lab host's state for "lab status": "down" (QEMU gone), "booting" (no SSH answer yet), or
 * systemd's state (systemctl is-system-running) over SSH from the controller namespace. */
int lab_vm_host_state(const Lab *l, const LabHost *h, char **ret);
