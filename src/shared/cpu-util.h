/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "macro.h"

/* The CPU as /proc/cpuinfo (below --root) describes its first processor. */
typedef enum CpuVendor {
        CPU_VENDOR_UNKNOWN,
        CPU_VENDOR_INTEL,
        CPU_VENDOR_AMD,
        CPU_VENDOR_HYGON,
        _CPU_VENDOR_MAX,
        _CPU_VENDOR_INVALID = -EINVAL,
} CpuVendor;

typedef struct CpuInfo {
        CpuVendor vendor;
        char *vendor_id;  /* as the kernel prints it, e.g. "AuthenticAMD" */
        char *model_name;
        char **flags;
} CpuInfo;

void cpu_info_done(CpuInfo *c);
/* -ENOENT if /proc/cpuinfo is missing, -EBADMSG if it has no "flags" line. */
int cpu_info_read(const char *root, CpuInfo *ret);
bool cpu_info_has_flag(const CpuInfo *c, const char *flag);
/* "kvm_intel" (vmx) or "kvm_amd" (svm), NULL without hardware virtualization. */
const char *cpu_info_kvm_module(const CpuInfo *c);

DECLARE_STRING_TABLE_LOOKUP(cpu_vendor, CpuVendor);
