/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>
#include "macro.h"

/* "mhtest lab": several hosts on one machine. Two backends share the verbs, the state layout,
 * the network layout and the hosts.d/SSH wiring:
 *
 *   state      /run/mhtest/lab/NAME/lab.json   (backend, subnet, hosts with address and pid)
 *   ssh        /run/mhtest/lab/NAME/id_ed25519, /run/mhtest/lab/NAME/ssh_config
 *   hosts.d    /run/mhtest/hosts.d/HOST.conf   (written for the controller side)
 *   host names NAME-h1, NAME-h2, ...           (default NAME: "lab")
 *   netns      one switch namespace with the lab bridge, one per host (containers), one
 *              controller namespace for mhtest-coord; nothing in the machine's namespace.
 *
 * lab.c owns the verbs and the container (systemd-nspawn) backend; lab-vm.c the L1 VM backend. */

typedef enum LabBackend {
        LAB_BACKEND_CONTAINER,
        LAB_BACKEND_VM,
        _LAB_BACKEND_MAX,
        _LAB_BACKEND_INVALID = -EINVAL,
} LabBackend;

typedef struct LabOptions {
        const char *name;
        unsigned n_hosts;
        const char *from; /* build or install tree mhtest is taken from */
        LabBackend backend;
} LabOptions;

int lab_vm_up(const LabOptions *o);
int lab_vm_down(const char *name);
/* A vm lab host's state for "lab status": "down" (QEMU gone), "booting" (no SSH answer yet), or
 * systemd's state (systemctl is-system-running) over SSH from the controller namespace. */
int lab_vm_host_state(const char *name, const char *host, pid_t qemu_pid, char **ret);
