/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <stdlib.h>

#include "guest-instance.h"
#include "parse-util.h"
#include "string-util.h"
#include "strv.h"
#include "virt-util.h"

int guest_instance_name(const GuestSection *g, unsigned index, char **ret) {
        if (g->count > 1)
                return asprintf_safe(ret, "%s-%u", g->section.name, index + 1) < 0 ? -ENOMEM : 0;
        *ret = strdup(g->section.name);
        return *ret ? 0 : -ENOMEM;
}

int guest_instance_find(const JobConfig *j, const char *instance, const GuestSection **ret_guest,
                        unsigned *ret_index) {
        const char *dash = strrchr(instance, '-');

        /* A section of that very name first: guest_instance_validate() refuses a section name
         * that is also an instance of a Count= guest. */
        for (size_t i = 0; i < j->n_guests; i++)
                if (j->guests[i]->count <= 1 && streq(j->guests[i]->section.name, instance)) {
                        *ret_guest = j->guests[i];
                        *ret_index = 0;
                        return 0;
                }
        if (!dash)
                return -ENOENT;
        for (size_t i = 0; i < j->n_guests; i++) {
                GuestSection *g = j->guests[i];
                unsigned n;

                if (g->count <= 1 || strlen(g->section.name) != (size_t) (dash - instance) ||
                    !strneq(g->section.name, instance, dash - instance))
                        continue;
                /* "GUEST-N" exactly as guest_instance_name() writes it: no sign, no leading 0 */
                if (!isdigit((unsigned char) dash[1]) || dash[1] == '0' || parse_unsigned(dash + 1, &n) < 0 ||
                    n < 1 || n > g->count)
                        return -ENOENT;
                *ret_guest = g;
                *ret_index = n - 1;
                return 0;
        }
        return -ENOENT;
}

int guest_instance_unit(const char *job, const GuestSection *g, unsigned index, char **ret) {
        _cleanup_free_ char *inst = NULL;

        if (guest_instance_name(g, index, &inst) < 0)
                return -ENOMEM;
        return asprintf_safe(ret, "mhtest-guest@%s:%s.service", job, inst) < 0 ? -ENOMEM : 0;
}

int guest_console_log_path(const char *job, const GuestSection *g, unsigned index, char **ret) {
        _cleanup_free_ char *domain = NULL;

        if (guest_domain_name(job, g, index, &domain) < 0)
                return -ENOMEM;
        if (!g->launcher)
                return guest_serial_log_path(domain, ret);
        *ret = strjoin(GUEST_LAUNCHER_LOG_DIR "/", domain, "-console.log");
        return *ret ? 0 : -ENOMEM;
}

const char *guest_libvirt_uri(void) {
        return getenv("MHTEST_LIBVIRT_URI") ?: "qemu:///system";
}

bool guest_in_vm_group(const GuestSection *g, const char *role) {
        return role ? streq_ptr(g->role, role) : !g->auto_start;
}

/* Keys that describe a libvirt domain: a Launcher= command line says all of that itself. */
static const char *const launcher_ignored_keys[] = {
        "Image", "Disks", "Kernel", "Initrd", "KernelCommandLine", "Machine", "CPUModel", "Type",
        "Interfaces", "HugePages", "HugePageSize", "NestedVirtualization", "VCPUPinning", "EmulatorPinning",
        "Memory", "VCPUs", "ManagementNetwork", "ManagementAddress", "SSHForward", "SSHAuthorizedKeys",
        "Hostname",
};

static bool key_set(const ConfigSection *s, const char *key) {
        const ConfigKey *k = section_type_find_key(s->type, key);

        return k && s->origins[k - s->type->keys].line > 0;
}

void guest_instance_validate(const JobConfig *j, ConfigDiagnostics *d) {
        for (size_t i = 0; i < j->n_guests; i++) {
                const GuestSection *g = j->guests[i];
                _cleanup_free_ char *last = NULL;

                /* "a" with Count=2 makes a-1 and a-2: a section named so would share its unit. */
                for (size_t k = 0; g->count > 1 && k < j->n_guests; k++) {
                        const char *n = j->guests[k]->section.name, *dash = strrchr(n, '-');
                        unsigned idx;

                        if (k != i && dash && strlen(g->section.name) == (size_t) (dash - n) &&
                            strneq(n, g->section.name, dash - n) && parse_unsigned(dash + 1, &idx) >= 0 &&
                            idx >= 1 && idx <= g->count)
                                job_error(d, &g->section, "Count",
                                          "instance %s of this guest is also the name of [Guest %s]", n, n);
                }
                /* JOB:GUEST-N must stay a valid instance name (64 characters). */
                if (guest_instance_name(g, g->count - 1, &last) >= 0 &&
                    strlen(j->name) + 1 + strlen(last) > 64)
                        job_error(d, &g->section, "Count",
                                  "the unit instance %s:%s is longer than 64 characters", j->name, last);
                if (g->count > 1)
                        STRV_FOREACH(n, g->interfaces)
                                if (strchr(*n, '/'))
                                        job_error(d, &g->section, "Interfaces",
                                                  "\"%s\": a fixed MAC address is for one guest, not Count=%u",
                                                  *n, g->count);
                /* the coordinator migrates, locates and hands over one domain per guest name */
                for (size_t m = 0; g->count > 1 && m < j->n_migrations; m++)
                        if (strv_contains(j->migrations[m]->guests, g->section.name))
                                job_error(d, &j->migrations[m]->section, "Guests",
                                          "guest \"%s\" has Count=%u: a group of instances cannot migrate "
                                          "(expected a guest with Count=1)",
                                          g->section.name, g->count);
                if (!g->launcher)
                        continue;
                for (size_t k = 0; k < ELEMENTSOF(launcher_ignored_keys); k++)
                        if (key_set(&g->section, launcher_ignored_keys[k]))
                                job_error(d, &g->section, launcher_ignored_keys[k],
                                          "does not apply to a guest with Launcher= (its command line says "
                                          "what the guest is)");
                for (size_t m = 0; m < j->n_migrations; m++)
                        if (strv_contains(j->migrations[m]->guests, g->section.name))
                                job_error(d, &j->migrations[m]->section, "Guests",
                                          "guest \"%s\" has Launcher= and cannot migrate (no libvirt domain)",
                                          g->section.name);
        }
}
