/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "macro.h"

/* An "L1 host": a QEMU guest that boots the machine's own userspace (9p, read-only, under a
 * tmpfs overlay made by tools/l1-init) with Debian's kernel and modules (tools/prepare-l1.sh),
 * real systemd as PID 1, an emulated IOMMU and NICs that DPDK drives. QEMU is spawned with an
 * argv, daemonized, and driven over QMP (never the human monitor: it echoes control codes). */

typedef struct L1VMNic {
        const char *model; /* "e1000", "virtio-net-pci" */
        const char *mac;
        const char *tap;   /* an existing tap in QEMU's network namespace; NULL: in-QEMU hub */
        unsigned hub;      /* hub id when tap is NULL */
        unsigned pci_slot; /* fixed slot on pcie.0, so the guest sees stable PCI addresses */
} L1VMNic;

#define L1VM_NICS_MAX 8

typedef struct L1VMSpec {
        const char *kernel;
        const char *initrd;
        const char *modules_dir;      /* shared as tag "modules" */
        const char *payload_dir;      /* tag "payload", may be NULL */
        const char *host_payload_dir; /* tag "hostpayload", may be NULL */
        const char *out_dir;          /* tag "out" (writable), may be NULL */
        const char *unit;             /* systemd.unit= */
        const char *extra_kernel_args;
        unsigned memory_mib;
        unsigned cpus;
        bool kvm;
        L1VMNic nics[L1VM_NICS_MAX];
        size_t n_nics;
        const char *qmp_socket;
        const char *console_log;
        const char *pidfile;
} L1VMSpec;

/* The CPU model: the virtualization extension with nested paging plus what DPDK needs
 * (Debian's DPDK dies with SIGILL without SSSE3/SSE4.2/POPCNT), 1 GiB pages offered. */
const char *l1vm_cpu_model(bool kvm);
int l1vm_build_argv(const L1VMSpec *s, char ***ret);
/* Start QEMU daemonized (returns once QEMU is initialized), inside the network namespace at
 * netns_path if not NULL. ret_pid is read from the pidfile. */
int l1vm_start(const L1VMSpec *s, const char *netns_path, const char *qemu_log, pid_t *ret_pid);
/* One QMP command without arguments; ret_reply (may be NULL) gets the JSON "return" value. */
int l1vm_qmp(const char *socket_path, const char *command, char **ret_reply);
bool l1vm_pid_alive(pid_t pid);
/* Wait until the console log contains marker (the kernel's "Linux version" proves that KVM runs a
 * standard kernel). -ETIMEDOUT at the deadline, -ESRCH if QEMU (pid > 0) exited first. */
int l1vm_wait_console(const char *console_log, const char *marker, pid_t pid, uint64_t timeout_usec);
#define L1VM_KERNEL_MARKER "Linux version"
#define L1VM_FIRST_OUTPUT_USEC (60 * USEC_PER_SEC)
/* ACPI powerdown, wait up to timeout_usec for QEMU to exit; then "quit", then SIGKILL. */
int l1vm_stop(const char *qmp_socket, pid_t pid, uint64_t timeout_usec);
