/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "config.h"
#include "cpu-topology.h"

/* What a guest's domain XML needs from the host it runs on, beyond its configuration: the
 * nested virtualization extension to require and the CPUs of VCPUPinning=auto and
 * EmulatorPinning=auto, chosen off every testpmd's forwarding CPUs. */

/* "svm" or "vmx", the extension a guest with NestedVirtualization=yes gets: under TCG svm (QEMU
 * emulates no vmx), under KVM the host CPU's own (ROOT/proc/cpuinfo). -EOPNOTSUPP under KVM on a
 * CPU that offers neither; -ENOENT/-EBADMSG when cpuinfo cannot be read. */
int guest_nested_feature(const char *root, bool kvm, const char **ret);

/* The forwarding CPUs of every testpmd on this host: those a running supervisor recorded in
 * ROOT/run/mhtest/JOB/testpmd.json, and for j's own testpmd when it does not run yet, the ones
 * it will take (all of Cores= but the main lcore, or the same choice as Cores=auto). */
int guest_testpmd_cpus(const char *root, CpuTopology *t, const JobConfig *j, CPUSet *ret);

typedef struct GuestPlacement {
        const char *nested_feature; /* NULL without NestedVirtualization=yes */
        CPUSet vcpus;               /* VCPUPinning=auto: vCPU n on the n-th CPU; empty otherwise */
        CPUSet emulator;            /* EmulatorPinning=auto; empty otherwise */
        bool housekeeping;          /* some vCPUs had to go to housekeeping CPUs */
} GuestPlacement;

void guest_placement_done(GuestPlacement *p);

/* Resolve the host facts of instance index of g (on this host, c->host_name). Guests of the
 * job on this host are placed in the order of the job, instance by instance, each off the
 * vCPUs of those before it, so every instance gets the same CPUs whenever it is asked.
 * t: NULL loads this machine's topology when automatic pinning needs it. -ENOSPC when the host
 * has too few CPUs for the automatic pinning. */
int guest_placement(const char *root, CpuTopology *t, const Config *c, const JobConfig *j,
                    const GuestSection *g, unsigned index, bool kvm, GuestPlacement *ret);
