/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu-util.h"
#include "fileio.h"
#include "path-util.h"
#include "string-util.h"
#include "strv.h"

static const char *const cpu_vendor_table[_CPU_VENDOR_MAX] = {
        [CPU_VENDOR_UNKNOWN] = "unknown",
        [CPU_VENDOR_INTEL] = "intel",
        [CPU_VENDOR_AMD] = "amd",
        [CPU_VENDOR_HYGON] = "hygon",
};
DEFINE_STRING_TABLE_LOOKUP(cpu_vendor, CpuVendor);

void cpu_info_done(CpuInfo *c) {
        free(c->vendor_id);
        free(c->model_name);
        strv_free(c->flags);
        *c = (CpuInfo) {};
}

static CpuVendor vendor_from_id(const char *id) {
        if (streq_ptr(id, "GenuineIntel"))
                return CPU_VENDOR_INTEL;
        if (streq_ptr(id, "AuthenticAMD"))
                return CPU_VENDOR_AMD;
        if (streq_ptr(id, "HygonGenuine"))
                return CPU_VENDOR_HYGON;
        return CPU_VENDOR_UNKNOWN;
}

/* "key\t\t: value" -> value if the line's key is key. */
static const char *cpuinfo_value(const char *line, const char *key) {
        size_t n = strlen(key);
        const char *p;

        if (!strneq(line, key, n))
                return NULL;
        p = line + n;
        p += strspn(p, " \t");
        if (*p != ':')
                return NULL;
        p++;
        return p + strspn(p, " \t");
}

int cpu_info_read(const char *root, CpuInfo *ret) {
        _cleanup_(cpu_info_done) CpuInfo c = {};
        _cleanup_free_ char *path = path_prefix_root(root, "/proc/cpuinfo"), *s = NULL;
        char *line, *saveptr = NULL;
        int r;

        if (!path)
                return -ENOMEM;
        r = read_full_file(path, &s, NULL);
        if (r < 0)
                return r;
        /* Only the first processor: all cores of a host carry the same virtualization flags. */
        for (line = strtok_r(s, "\n", &saveptr); line; line = strtok_r(NULL, "\n", &saveptr)) {
                const char *v;

                if (c.flags && strneq(line, "processor", 9))
                        break;
                if (!c.vendor_id && (v = cpuinfo_value(line, "vendor_id"))) {
                        c.vendor_id = strdup(v);
                        if (!c.vendor_id)
                                return -ENOMEM;
                } else if (!c.model_name && (v = cpuinfo_value(line, "model name"))) {
                        c.model_name = strdup(v);
                        if (!c.model_name)
                                return -ENOMEM;
                } else if (!c.flags && (v = cpuinfo_value(line, "flags"))) {
                        r = strv_split_quoted(v, &c.flags);
                        if (r < 0)
                                return r;
                }
        }
        if (!c.flags)
                return -EBADMSG;
        c.vendor = vendor_from_id(c.vendor_id);
        *ret = c;
        c = (CpuInfo) {};
        return 0;
}

bool cpu_info_has_flag(const CpuInfo *c, const char *flag) {
        return strv_contains(c->flags, flag);
}

const char *cpu_info_kvm_module(const CpuInfo *c) {
        if (cpu_info_has_flag(c, "vmx"))
                return "kvm_intel";
        if (cpu_info_has_flag(c, "svm"))
                return "kvm_amd";
        return NULL;
}
