/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "macro.h"
#include "parse-util.h"

/* CPU topology (NUMA nodes, cores, hardware threads) read through hwloc, and the choice of
 * dataplane cores on it. hwloc reads this machine, an XML export (lstopo foo.xml) or a synthetic
 * description ("numa:2 core:4 pu:2"), so core selection is tested on topologies this machine
 * does not have. */

typedef struct CpuTopology CpuTopology;

/* xml_path NULL: this machine (hwloc also honours HWLOC_XMLFILE / HWLOC_SYNTHETIC). */
int cpu_topology_load(const char *xml_path, CpuTopology **ret);
int cpu_topology_load_synthetic(const char *description, CpuTopology **ret);
void cpu_topology_free(CpuTopology *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(CpuTopology *, cpu_topology_free);

/* Every CPU the machine has (online or not) and those this process may use. */
int cpu_topology_all(CpuTopology *t, CPUSet *ret);
int cpu_topology_usable(CpuTopology *t, CPUSet *ret);
unsigned cpu_topology_n_numa_nodes(CpuTopology *t);
/* NUMA node (OS index) of a CPU, -1 if unknown. */
int cpu_topology_cpu_node(CpuTopology *t, unsigned cpu);
/* The hardware threads sharing cpu's core (cpu included). */
int cpu_topology_siblings(CpuTopology *t, unsigned cpu, CPUSet *ret);

typedef struct CoreRequest {
        unsigned n_forward;      /* forwarding lcores wanted */
        int numa_node;           /* where the NICs are; -1: anywhere */
        const CPUSet *isolated;  /* isolcpus=: when not empty, forwarding CPUs come only from it */
        const CPUSet *reserved;  /* in use by something else (guest pinning, another job) */
} CoreRequest;

typedef struct CoreSelection {
        unsigned main_lcore;     /* control thread: a housekeeping CPU, it does not busy-poll */
        CPUSet forward;          /* forwarding lcores */
        CPUSet held;             /* HT siblings of forwarding CPUs left idle so nobody shares the core */
        bool remote;             /* some forwarding CPUs are not on the requested NUMA node */
} CoreSelection;

void core_selection_done(CoreSelection *s);

/* Pick forwarding CPUs: whole cores only (HT siblings stay together), never the core of CPU 0
 * nor other housekeeping CPUs (those outside isolcpus= when it is set), nothing reserved;
 * cores of the requested NUMA node first. -ENOSPC if there are not enough. */
int cpu_topology_select_cores(CpuTopology *t, const CoreRequest *req, CoreSelection *ret);

typedef struct GuestCpuRequest {
        unsigned n_vcpus;        /* CPUs for vCPUs wanted (one each); 0: none */
        bool emulator;           /* also choose CPUs for the emulator threads */
        int numa_node;           /* where the guest's memory is; -1: anywhere */
        const CPUSet *isolated;  /* isolcpus= */
        const CPUSet *avoid;     /* never used: testpmd's forwarding CPUs (their HT siblings too) */
        const CPUSet *reserved;  /* other guests' vCPUs: not shared */
} GuestCpuRequest;

typedef struct GuestCpuSelection {
        CPUSet vcpus;            /* vCPU n on the n-th CPU */
        CPUSet emulator;
        bool housekeeping;       /* too few free cores: some vCPUs run on housekeeping CPUs */
} GuestCpuSelection;

void guest_cpu_selection_done(GuestCpuSelection *s);

/* Pick CPUs for a guest: vCPUs on whole free cores (not housekeeping, not avoided, not reserved),
 * the requested NUMA node's first, then on housekeeping CPUs when the host has no free core left;
 * the emulator threads on housekeeping CPUs (the core of CPU 0, those outside isolcpus=) that no
 * vCPU uses, else on any CPU off the avoided ones. Never an avoided CPU nor its HT sibling.
 * -ENOSPC if there are not enough. */
int cpu_topology_select_guest_cpus(CpuTopology *t, const GuestCpuRequest *req, GuestCpuSelection *ret);

/* CPUs isolated with isolcpus=: /sys/devices/system/cpu/isolated below root, else the
 * isolcpus= of /proc/cmdline (flags like "domain," or "managed_irq," skipped). Empty if none. */
int cpu_isolated_read(const char *root, CPUSet *ret);
