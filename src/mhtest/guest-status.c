/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guests of "mhtest status JOB": each instance with its unit's state (asked of systemd), its
 * domain's state and addresses (asked of libvirt), where it runs and the last lines of its
 * console. What cannot be asked (no systemd, no libvirtd) shows as unknown; it is not an error. */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "fileio.h"
#include "guest-instance.h"
#include "log.h"
#include "mhtest.h"
#include "string-util.h"
#include "strv.h"
#include "unit-watch.h"
#include "virt-util.h"

#define GUEST_STATUS_CONSOLE_LINES 5

DEFINE_TRIVIAL_CLEANUP_FUNC(virConnectPtr, virConnectClose);
DEFINE_TRIVIAL_CLEANUP_FUNC(virDomainPtr, virDomainFree);

static void quiet_libvirt_errors(void *userdata, virErrorPtr e) {
}

static const char *domain_state_to_string(int state) {
        static const char *const table[] = {
                [VIR_DOMAIN_NOSTATE] = "nostate",   [VIR_DOMAIN_RUNNING] = "running",
                [VIR_DOMAIN_BLOCKED] = "blocked",   [VIR_DOMAIN_PAUSED] = "paused",
                [VIR_DOMAIN_SHUTDOWN] = "shutdown", [VIR_DOMAIN_SHUTOFF] = "shutoff",
                [VIR_DOMAIN_CRASHED] = "crashed",   [VIR_DOMAIN_PMSUSPENDED] = "pmsuspended",
        };
        return state >= 0 && (size_t) state < ELEMENTSOF(table) && table[state] ? table[state] : "unknown";
}

/* The domain's addresses as libvirt knows them: from its networks' DHCP leases, else from the
 * host's ARP table (bridged interfaces). */
static json_object *domain_addresses(virDomainPtr d) {
        static const unsigned sources[] = { VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE,
                                            VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP };
        json_object *a = json_object_new_array();

        for (size_t s = 0; a && s < ELEMENTSOF(sources) && json_object_array_length(a) == 0; s++) {
                virDomainInterfacePtr *ifaces = NULL;
                int n = virDomainInterfaceAddresses(d, &ifaces, sources[s], 0);

                for (int i = 0; i < n; i++) {
                        for (unsigned k = 0; k < ifaces[i]->naddrs; k++)
                                json_object_array_add(a, json_object_new_string(ifaces[i]->addrs[k].addr));
                        virDomainInterfaceFree(ifaces[i]);
                }
                free(ifaces);
        }
        return a;
}

static int guest_instance_status(const Config *c, const JobConfig *j, const GuestSection *g, unsigned index,
                                 virConnectPtr conn, UnitWatch *w, json_object *out) {
        _cleanup_free_ char *inst = NULL, *unit = NULL, *domain = NULL, *log = NULL, *tail = NULL;
        _cleanup_(virDomainFreep) virDomainPtr dom = NULL;
        const char *unit_state = "unknown", *dom_state = NULL, *host = g->host ?: c->host_name;
        json_object *o, *addrs = NULL;
        int state = VIR_DOMAIN_NOSTATE, reason = 0;

        if (guest_instance_name(g, index, &inst) < 0 || guest_instance_unit(j->name, g, index, &unit) < 0 ||
            guest_domain_name(j->name, g, index, &domain) < 0 || guest_console_log_path(j->name, g, index, &log) < 0)
                return log_oom();
        for (size_t n = 0; w && n < w->n_units; n++)
                if (streq(w->units[n].name, unit))
                        unit_state = strna(w->units[n].active_state);
        if (g->launcher)
                dom_state = NULL; /* no domain: the unit's main runs the guest */
        else if (!conn)
                dom_state = "unknown";
        else if (!(dom = virDomainLookupByName(conn, domain)))
                dom_state = "absent";
        else if (virDomainGetState(dom, &state, &reason, 0) < 0)
                dom_state = "unknown";
        else {
                dom_state = domain_state_to_string(state);
                /* it runs here, wherever the configuration placed it (a migration brought it) */
                host = c->host_name;
                if (!g->management_address && (state == VIR_DOMAIN_RUNNING || state == VIR_DOMAIN_PAUSED))
                        addrs = domain_addresses(dom);
        }
        /* a fixed management address is the guest's address, whatever else libvirt knows */
        if (g->management_address) {
                _cleanup_free_ char *a = strndup(g->management_address, strcspn(g->management_address, "/"));

                if (!a)
                        return log_oom();
                addrs = json_object_new_array();
                json_object_array_add(addrs, json_object_new_string(a));
        }
        if (g->launcher && !streq(unit_state, "unknown") && guest_on_host(c, g, c->host_name))
                host = c->host_name;
        (void) read_file_tail(log, GUEST_STATUS_CONSOLE_LINES, &tail);

        o = json_object_new_object();
        json_object_object_add(o, "guest", json_object_new_string(inst));
        json_object_object_add(o, "role", g->role ? json_object_new_string(g->role) : NULL);
        json_object_object_add(o, "auto_start", json_object_new_boolean(g->auto_start));
        json_object_object_add(o, "launcher", json_object_new_boolean(!!g->launcher));
        json_object_object_add(o, "unit", json_object_new_string(unit));
        json_object_object_add(o, "unit_state", json_object_new_string(unit_state));
        json_object_object_add(o, "host", json_object_new_string(host));
        json_object_object_add(o, "domain", g->launcher ? NULL : json_object_new_string(domain));
        json_object_object_add(o, "domain_state", dom_state ? json_object_new_string(dom_state) : NULL);
        json_object_object_add(o, "addresses", addrs ?: json_object_new_array());
        json_object_object_add(o, "ssh_forward", g->ssh_forward ? json_object_new_int(g->ssh_forward) : NULL);
        json_object_object_add(o, "console_log", json_object_new_string(log));
        json_object_object_add(o, "console", tail ? json_object_new_string(tail) : NULL);
        json_object_array_add(out, o);

        if (!arg_json) {
                json_object *a;

                printf("    %s%s%s: unit %s, host %s", inst, g->role ? " role " : "", strempty(g->role),
                       unit_state, host);
                if (g->launcher)
                        printf(", Launcher=");
                else
                        printf(", domain %s %s", domain, dom_state);
                a = json_object_object_get(o, "addresses");
                for (size_t k = 0; k < json_object_array_length(a); k++)
                        printf("%s%s", k == 0 ? ", addresses " : " ",
                               json_object_get_string(json_object_array_get_idx(a, k)));
                printf("\n");
                for (const char *l = tail; !isempty(l);) {
                        size_t n = strcspn(l, "\n");

                        printf("        | %.*s\n", (int) n, l);
                        l += n + (l[n] == '\n');
                }
        }
        return 0;
}

int guest_status(const Config *c, const JobConfig *j, json_object *out) {
        _cleanup_(virConnectClosep) virConnectPtr conn = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(unit_watch_freep) UnitWatch *w = NULL;
        _cleanup_strv_free_ char **units = strv_new(NULL);
        json_object *guests = json_object_new_array();
        int r;

        if (!guests || !units)
                return log_oom();
        json_object_object_add(out, "guests", guests);
        if (j->n_guests == 0)
                return 0;
        for (size_t i = 0; i < j->n_guests; i++)
                for (unsigned k = 0; k < j->guests[i]->count; k++) {
                        char *u = NULL;

                        if (guest_instance_unit(j->name, j->guests[i], k, &u) < 0 || strv_consume(&units, u) < 0)
                                return log_oom();
                }
        if (unit_watch_open_bus(&bus) >= 0 && unit_watch_new(bus, units, &w) < 0)
                log_debug("Cannot read the guest units of job %s from systemd, their state is unknown.", j->name);
        virSetErrorFunc(NULL, quiet_libvirt_errors);
        /* read-only: status changes nothing */
        conn = virConnectOpenReadOnly(guest_libvirt_uri());
        if (!conn)
                log_debug("Cannot connect to libvirt at %s, domain states are unknown.", guest_libvirt_uri());
        if (!arg_json)
                printf("  guests\n");
        for (size_t i = 0; i < j->n_guests; i++)
                for (unsigned k = 0; k < j->guests[i]->count; k++) {
                        r = guest_instance_status(c, j, j->guests[i], k, conn, w, guests);
                        if (r < 0)
                                return r;
                }
        return 0;
}
