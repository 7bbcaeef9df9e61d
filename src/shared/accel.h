/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include "macro.h"

/* Which accelerator a standard Linux guest (Debian's kernel) really runs on here. One probe for
 * every place mhtest starts QEMU or a libvirt domain: L1 hosts (lab --backend=vm, the vm suite),
 * [Guest] Type=auto, and "mhtest check", which shows the decision and its reason.
 *
 * /dev/kvm alone proves nothing: a PVM host (kvm_pvm, no vmx/svm in /proc/cpuinfo) opens it and
 * creates VMs, but runs only guest kernels built for PVM. So KVM is reported only where the CPU
 * offers vmx or svm, the module behind /dev/kvm is not kvm_pvm, and KVM_CREATE_VM works. Where the
 * kernel's facts say KVM but this machine is itself a guest (the "hypervisor" CPU flag: nested
 * KVM, which some hypervisors emulate badly), the probe says so in needs_proof: a caller that
 * boots a kernel proves it with a bounded boot (l1vm_prove_kvm()).
 *
 * Override: MHTEST_ACCEL=kvm|tcg in the environment decides without probing (documented in
 * mhtest(8)). */

typedef enum Accel {
        ACCEL_TCG,
        ACCEL_KVM,
        _ACCEL_MAX,
        _ACCEL_INVALID = -EINVAL,
} Accel;

typedef struct AccelProbe {
        Accel accel;
        bool overridden;       /* MHTEST_ACCEL decided */
        bool needs_proof;      /* ACCEL_KVM from the kernel's facts, inside a hypervisor */
        const char *extension; /* "vmx", "svm" or NULL: what the CPU offers for nested guests */
        char *reason;          /* one sentence: why this accelerator */
} AccelProbe;

#define ACCEL_ENV "MHTEST_ACCEL"

void accel_probe_done(AccelProbe *p);
/* Reads ROOT/proc/cpuinfo, ROOT/sys/module, ROOT/dev/kvm; asks the kernel (KVM_CREATE_VM) only
 * when root is NULL or "/". Fails only on allocation or an invalid MHTEST_ACCEL (-EINVAL). */
int accel_probe(const char *root, AccelProbe *ret);

DECLARE_STRING_TABLE_LOOKUP(accel, Accel);
