/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <net/if.h>
#include "bridge.h"
#include "log.h"
#include "message-ids.h"
#include "parse-util.h"
#include "state.h"
#include "steps.h"
#include "string-util.h"
#include "strv.h"

/* State (/run/mhtest/JOB/bridge.state):
 *   "bridges": [ { "name": "br0", "ifindex": N (0 until created), "created": bool,
 *                  "was_up": bool, "addresses": [ "10.0.0.1/24" ] (added by mhtest),
 *                  "ports": [ { "name": "eth1", "master": "br9" | null, "up": bool } ] } ]
 *              ports record their master and admin state from before mhtest first touched them
 *   "changes": human-readable list for "mhtest status" */

typedef struct PortPlan {
        const char *name;
        NetLink link;
        bool enslave;
} PortPlan;

typedef struct BridgePlan {
        BridgeSection *section;
        BridgeSpec spec;
        uint8_t mac[6];
        NetLink link; /* ifindex 0: does not exist */
        bool ours;
        bool set_options;
        char **add_addresses;
        PortPlan *ports;
        size_t n_ports;
} BridgePlan;

typedef struct Plans {
        BridgePlan *items;
        size_t n;
} Plans;

static void plans_done(Plans *plans) {
        BridgePlan *p = plans->items;

        for (size_t i = 0; p && i < plans->n; i++) {
                net_link_done(&p[i].link);
                strv_free(p[i].add_addresses);
                for (size_t k = 0; k < p[i].n_ports; k++)
                        net_link_done(&p[i].ports[k].link);
                free(p[i].ports);
        }
        free(p);
        *plans = (Plans) {};
}

static json_object *state_bridge(json_object *st, const char *name) {
        json_object *a = state_get(st, "bridges");

        for (size_t i = 0; a && i < json_object_array_length(a); i++) {
                json_object *b = json_object_array_get_idx(a, i);
                if (streq_ptr(json_object_get_string(state_get(b, "name")), name))
                        return b;
        }
        return NULL;
}

static json_object *state_port(json_object *b, const char *name) {
        json_object *a = state_get(b, "ports");

        for (size_t i = 0; a && i < json_object_array_length(a); i++) {
                json_object *p = json_object_array_get_idx(a, i);
                if (streq_ptr(json_object_get_string(state_get(p, "name")), name))
                        return p;
        }
        return NULL;
}

static bool is_ours(json_object *sb, const NetLink *l) {
        int64_t idx;

        if (!sb || !json_object_get_boolean(state_get(sb, "created")))
                return false;
        /* ifindex 0: apply stopped between recording and creating; the name is all we know */
        idx = json_object_get_int64(state_get(sb, "ifindex"));
        return idx == 0 || idx == l->ifindex;
}

/* A bridge whose MAC was not set by its admin takes the lowest MAC of its ports, and keeps the
 * last one when its last port leaves: a foreign bridge gets its recorded MAC back. One that
 * had none (all zero: a bridge that never had a port) cannot get that back. */
static void restore_mac(struct nl_sock *sk, const NetLink *br, const char *recorded) {
        uint8_t mac[6];
        static const uint8_t zero[6] = {};
        int r;

        if (!recorded || mac_address_parse(recorded, mac) < 0 || !br->has_mac || memcmp(br->mac, mac, 6) == 0)
                return;
        if (memcmp(mac, zero, 6) == 0) {
                log_warning("%s keeps the MAC address the kernel gave it when its first port joined: it had "
                            "none before, and a bridge's address cannot be cleared.", br->name);
                return;
        }
        r = net_link_set_mac(sk, br->ifindex, mac);
        if (r < 0)
                log_warning_errno(r, "Failed to give %s its MAC address %s back, ignoring: %m", br->name, recorded);
}

/* Put ports back to their recorded masters and admin states, remove what mhtest added, delete
 * the bridges it created. Everything is read back; returns < 0 if something did not come back. */
static int bridges_restore(struct nl_sock *sk, json_object *st) {
        json_object *bridges = state_get(st, "bridges");
        int ret = 0, r;

        for (size_t i = bridges ? json_object_array_length(bridges) : 0; i-- > 0;) {
                json_object *b = json_object_array_get_idx(bridges, i), *ports = state_get(b, "ports"),
                            *addrs = state_get(b, "addresses");
                const char *name = json_object_get_string(state_get(b, "name"));
                bool created = json_object_get_boolean(state_get(b, "created"));
                NetLink br = {};
                bool br_exists;

                r = net_link_get(sk, name, 0, &br);
                if (r < 0 && r != -ENODEV)
                        return log_error_errno(r, "Failed to look up %s: %m", name);
                br_exists = r >= 0;

                for (size_t k = ports ? json_object_array_length(ports) : 0; k-- > 0;) {
                        json_object *p = json_object_array_get_idx(ports, k);
                        const char *pname = json_object_get_string(state_get(p, "name")),
                                   *prev = json_object_get_string(state_get(p, "master"));
                        bool up = json_object_get_boolean(state_get(p, "up"));
                        NetLink pl = {}, ml = {};
                        int want = 0;

                        r = net_link_get(sk, pname, 0, &pl);
                        if (r == -ENODEV) {
                                log_warning("Port %s of %s is gone, nothing to restore.", pname, name);
                                continue;
                        }
                        if (r < 0) {
                                ret = log_error_errno(r, "Failed to look up %s: %m", pname);
                                continue;
                        }
                        if (prev) {
                                if (net_link_get(sk, prev, 0, &ml) >= 0)
                                        want = ml.ifindex;
                                else
                                        log_warning("%s's previous master %s is gone, releasing it.", pname, prev);
                                net_link_done(&ml);
                        }
                        if (pl.master != want) {
                                r = net_link_set_master(sk, pl.ifindex, want);
                                if (r < 0)
                                        ret = log_error_errno(r, "Failed to give %s back to %s: %m", pname,
                                                              prev ?: "no master");
                        }
                        if (!!(pl.flags & IFF_UP) != up) {
                                r = net_link_set_up(sk, pl.ifindex, up);
                                if (r < 0)
                                        ret = log_error_errno(r, "Failed to set %s %s: %m", pname, up ? "up" : "down");
                        }
                        net_link_done(&pl);
                        /* read back */
                        if (net_link_get(sk, pname, 0, &pl) >= 0) {
                                if (pl.master != want || !!(pl.flags & IFF_UP) != up)
                                        ret = log_error_errno(-EIO, "%s did not return to %s, %s.", pname,
                                                              prev ?: "no master", up ? "up" : "down");
                                net_link_done(&pl);
                        }
                }

                if (br_exists) {
                        /* once the ports left, the kernel may have recomputed the bridge's MAC */
                        net_link_done(&br);
                        r = net_link_get(sk, name, 0, &br);
                        if (r < 0 && r != -ENODEV)
                                return log_error_errno(r, "Failed to look up %s: %m", name);
                        br_exists = r >= 0;
                }
                if (br_exists && created && is_ours(b, &br) && streq_ptr(br.kind, "bridge")) {
                        r = net_link_delete(sk, br.ifindex);
                        if (r < 0 && r != -ENODEV)
                                ret = log_error_errno(r, "Failed to delete bridge %s: %m", name);
                } else if (br_exists && created)
                        log_warning("%s is not the bridge mhtest created (index %d), leaving it alone.", name,
                                    br.ifindex);
                else if (br_exists) {
                        for (size_t k = 0; addrs && k < json_object_array_length(addrs); k++) {
                                const char *a = json_object_get_string(json_object_array_get_idx(addrs, k));
                                r = net_address_del(sk, br.ifindex, a);
                                if (r < 0)
                                        ret = log_error_errno(r, "Failed to remove %s from %s: %m", a, name);
                        }
                        restore_mac(sk, &br, json_object_get_string(state_get(b, "mac")));
                        if (!json_object_get_boolean(state_get(b, "was_up")) && (br.flags & IFF_UP)) {
                                r = net_link_set_up(sk, br.ifindex, false);
                                if (r < 0)
                                        ret = log_error_errno(r, "Failed to set %s down: %m", name);
                        }
                }
                net_link_done(&br);

                /* read back the bridge */
                r = net_link_get(sk, name, 0, &br);
                if (r >= 0) {
                        if (created && is_ours(b, &br) && streq_ptr(br.kind, "bridge"))
                                ret = log_error_errno(-EIO, "Bridge %s still exists.", name);
                        for (size_t k = 0; !created && addrs && k < json_object_array_length(addrs); k++) {
                                const char *a = json_object_get_string(json_object_array_get_idx(addrs, k));
                                if (net_address_has(sk, br.ifindex, a) > 0)
                                        ret = log_error_errno(-EIO, "%s still has %s.", name, a);
                        }
                        net_link_done(&br);
                }
        }
        return ret;
}

static int bridge_revert(StepContext *ctx) {
        _cleanup_json_ json_object *st = NULL;
        _cleanup_(netlink_closep) struct nl_sock *sk = NULL;
        int r;

        r = state_load(ctx->root, ctx->job->name, "bridge", &st);
        if (r == -ENOENT) {
                log_info("Bridges of job %s: nothing to revert.", ctx->job->name);
                return 0;
        }
        if (r < 0)
                return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL, "Failed to load the bridge state: %m");
        r = netlink_open(&sk);
        if (r < 0)
                return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL, "Failed to open rtnetlink: %m");
        r = bridges_restore(sk, st);
        if (r < 0)
                return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_PARTIAL, NULL,
                                 "Bridges of job %s only partly reverted; state kept, run revert again.",
                                 ctx->job->name);
        r = state_remove(ctx->root, ctx->job->name, "bridge");
        if (r < 0)
                log_warning_errno(r, "Failed to remove the bridge state, ignoring: %m");
        log_event(LOG_INFO, 0, MHTEST_MESSAGE_STEP_REVERTED, NULL,
                  "Bridges of job %s reverted: ports back to their previous masters, created bridges removed.",
                  ctx->job->name);
        return 0;
}

static bool ifindex_in(int ifindex, const int *l, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (l[i] == ifindex)
                        return true;
        return false;
}

/* Why a link must not be touched, NULL if it may be. */
static const char *management_reason(const NetLink *l, char **mgmt, const int *routed, size_t n_routed) {
        if (strv_contains(mgmt, l->name))
                return "is listed in [Safety] ManagementInterfaces=";
        if (ifindex_in(l->ifindex, routed, n_routed))
                return "carries a default route";
        return NULL;
}

static int plan_bridge(struct nl_sock *sk, StepContext *ctx, json_object *st, BridgeSection *s, char **mgmt,
                       const int *routed, size_t n_routed, BridgePlan *p) {
        const char *name = s->section.name;
        bool exists;
        int r;

        p->section = s;
        p->spec = (BridgeSpec) {
                .name = name,
                .stp = s->stp,
                .forward_delay_cs = (uint32_t) ((s->forward_delay_usec + 5000) / 10000),
                .mtu = s->mtu,
                .vlan_filtering = s->vlan_filtering,
                .default_pvid = (uint16_t) s->default_pvid,
        };
        if (s->mac_address) {
                if (mac_address_parse(s->mac_address, p->mac) < 0)
                        return log_event(LOG_ERR, -EINVAL, MHTEST_MESSAGE_STEP_REFUSED, NULL,
                                         "[Bridge %s] MACAddress=%s is not a MAC address.", name, s->mac_address);
                p->spec.mac = p->mac;
        }
        if (s->forward_delay_usec > UINT32_MAX * UINT64_C(10000))
                return log_event(LOG_ERR, -ERANGE, MHTEST_MESSAGE_STEP_REFUSED, NULL,
                                 "[Bridge %s] ForwardDelaySec= is too large.", name);

        r = net_link_get(sk, name, 0, &p->link);
        if (r < 0 && r != -ENODEV)
                return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL, "Failed to look up %s: %m", name);
        exists = r >= 0;
        if (exists) {
                _cleanup_free_ char *why = NULL;

                p->ours = is_ours(state_bridge(st, name), &p->link);
                if (!streq_ptr(p->link.kind, "bridge"))
                        return log_event(LOG_ERR, -EEXIST, MHTEST_MESSAGE_STEP_REFUSED, NULL,
                                         "[Bridge %s] refused: %s exists and is a %s, not a bridge.", name, name,
                                         p->link.kind ?: "plain device");
                if (!bridge_matches(&p->link, &p->spec, &why)) {
                        if (!p->ours)
                                return log_event(LOG_ERR, -EEXIST, MHTEST_MESSAGE_STEP_REFUSED, NULL,
                                                 "[Bridge %s] refused: bridge %s exists, was not created by mhtest "
                                                 "and differs from the configuration (%s); mhtest reuses such a "
                                                 "bridge only as it is and never changes or deletes it.",
                                                 name, name, why);
                        if (p->spec.mac && (!p->link.has_mac || memcmp(p->link.mac, p->spec.mac, 6) != 0))
                                return log_event(LOG_ERR, -EEXIST, MHTEST_MESSAGE_STEP_REFUSED, NULL,
                                                 "[Bridge %s] refused: MACAddress= changed since apply; revert first.",
                                                 name);
                        p->set_options = true;
                }
        }

        STRV_FOREACH(a, s->addresses) {
                r = exists ? net_address_has(sk, p->link.ifindex, *a) : 0;
                if (r < 0)
                        return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL,
                                         "Failed to read the addresses of %s: %m", name);
                if (r == 0 && strv_extend(&p->add_addresses, *a) < 0)
                        return log_oom();
        }

        p->ports = calloc(strv_length(s->ports) + 1, sizeof(PortPlan));
        if (!p->ports)
                return log_oom();
        STRV_FOREACH(port, s->ports) {
                PortPlan *pp = &p->ports[p->n_ports++];
                const char *why;

                pp->name = *port;
                if (streq(*port, name))
                        return log_event(LOG_ERR, -EINVAL, MHTEST_MESSAGE_STEP_REFUSED, NULL,
                                         "[Bridge %s] Ports=%s: a bridge cannot be its own port.", name, *port);
                r = net_link_get(sk, *port, 0, &pp->link);
                if (r == -ENODEV)
                        return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_REFUSED, NULL,
                                         "[Bridge %s] Ports=%s: no such network interface.", name, *port);
                if (r < 0)
                        return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL, "Failed to look up %s: %m",
                                         *port);
                if (pp->link.flags & IFF_LOOPBACK)
                        return log_event(LOG_ERR, -EINVAL, MHTEST_MESSAGE_STEP_REFUSED, NULL,
                                         "[Bridge %s] Ports=%s: the loopback device cannot be a port.", name, *port);
                if (streq_ptr(pp->link.kind, "bridge"))
                        return log_event(LOG_ERR, -EINVAL, MHTEST_MESSAGE_STEP_REFUSED, NULL,
                                         "[Bridge %s] Ports=%s: is a bridge; bridges cannot be enslaved to bridges.",
                                         name, *port);
                why = management_reason(&pp->link, mgmt, routed, n_routed);
                if (why)
                        return log_event(LOG_ERR, -EPERM, MHTEST_MESSAGE_STEP_REFUSED, NULL,
                                         "[Bridge %s] Ports=%s refused: %s %s; enslaving it could cut this host "
                                         "off.", name, *port, *port, why);
                if (exists && pp->link.master == p->link.ifindex)
                        continue;
                pp->enslave = true;
                if (pp->link.master > 0) {
                        NetLink m = {};

                        r = net_link_get(sk, NULL, pp->link.master, &m);
                        if (r < 0)
                                return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL,
                                                 "Failed to look up the master of %s: %m", *port);
                        why = management_reason(&m, mgmt, routed, n_routed);
                        if (why) {
                                r = log_event(LOG_ERR, -EPERM, MHTEST_MESSAGE_STEP_REFUSED, NULL,
                                              "[Bridge %s] Ports=%s refused: it is a port of %s, which %s.", name,
                                              *port, m.name, why);
                                net_link_done(&m);
                                return r;
                        }
                        net_link_done(&m);
                }
        }
        return 0;
}

/* Record (once: what was there before mhtest's first apply wins) what revert needs. */
static int record_bridge(struct nl_sock *sk, json_object *st, BridgePlan *p, bool *changed) {
        const char *name = p->spec.name;
        json_object *bridges = state_get(st, "bridges"), *b = state_bridge(st, name), *ports, *addrs;
        bool exists = p->link.ifindex > 0;

        if (!bridges) {
                bridges = json_object_new_array();
                json_object_object_add(st, "bridges", bridges);
        }
        if (!b) {
                b = json_object_new_object();
                json_object_object_add(b, "name", json_object_new_string(name));
                json_object_object_add(b, "ifindex", json_object_new_int(exists ? p->link.ifindex : 0));
                json_object_object_add(b, "created", json_object_new_boolean(!exists));
                json_object_object_add(b, "was_up", json_object_new_boolean(exists && (p->link.flags & IFF_UP)));
                if (exists && p->link.has_mac) {
                        char mac[18];
                        snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", p->link.mac[0], p->link.mac[1],
                                 p->link.mac[2], p->link.mac[3], p->link.mac[4], p->link.mac[5]);
                        json_object_object_add(b, "mac", json_object_new_string(mac));
                }
                json_object_object_add(b, "addresses", json_object_new_array());
                json_object_object_add(b, "ports", json_object_new_array());
                json_object_array_add(bridges, b);
                if (exists) {
                        state_add_change(st, "reused bridge %s (not created by mhtest: never deleted)", name);
                        if (!(p->link.flags & IFF_UP))
                                *changed = true;
                }
        } else if (!exists) {
                /* ours, but gone since: it will be created again */
                json_object_object_add(b, "ifindex", json_object_new_int(0));
                json_object_object_add(b, "created", json_object_new_boolean(true));
        }
        if (!exists) {
                state_add_change(st, "created bridge %s (STP %s, forward delay %u.%02us, VLAN filtering %s%s)", name,
                            p->spec.stp ? "on" : "off", p->spec.forward_delay_cs / 100, p->spec.forward_delay_cs % 100,
                            p->spec.vlan_filtering ? "on" : "off", p->spec.vlan_filtering ? ", default PVID set" : "");
                *changed = true;
        } else if (!(p->link.flags & IFF_UP))
                *changed = true;
        if (p->set_options) {
                state_add_change(st, "changed the options of bridge %s", name);
                *changed = true;
        }
        if (p->spec.mtu > 0 && (!exists || p->link.mtu != p->spec.mtu))
                *changed = true;

        addrs = state_get(b, "addresses");
        STRV_FOREACH(a, p->add_addresses) {
                bool known = false;
                for (size_t i = 0; i < json_object_array_length(addrs); i++)
                        known = known || streq_ptr(json_object_get_string(json_object_array_get_idx(addrs, i)), *a);
                if (!known)
                        json_object_array_add(addrs, json_object_new_string(*a));
                state_add_change(st, "added address %s to %s", *a, name);
                *changed = true;
        }

        ports = state_get(b, "ports");
        for (size_t i = 0; i < p->n_ports; i++) {
                PortPlan *pp = &p->ports[i];
                _cleanup_(net_link_done) NetLink m = {};

                if (!pp->enslave && (pp->link.flags & IFF_UP))
                        continue;
                *changed = true;
                if (pp->link.master > 0 && net_link_get(sk, NULL, pp->link.master, &m) < 0)
                        return -ENODEV;
                if (!state_port(b, pp->name)) {
                        json_object *o = json_object_new_object();
                        json_object_object_add(o, "name", json_object_new_string(pp->name));
                        json_object_object_add(o, "master", m.name ? json_object_new_string(m.name) : NULL);
                        json_object_object_add(o, "up", json_object_new_boolean(pp->link.flags & IFF_UP));
                        json_object_array_add(ports, o);
                }
                if (pp->enslave)
                        state_add_change(st, "enslaved %s to %s (was: %s%s, %s)", pp->name, name,
                                    m.name ? "port of " : "no master", strempty(m.name),
                                    pp->link.flags & IFF_UP ? "up" : "down");
                else
                        state_add_change(st, "brought port %s of %s up", pp->name, name);
        }
        return 0;
}

static int execute_bridge(struct nl_sock *sk, StepContext *ctx, json_object *st, BridgePlan *p) {
        const char *name = p->spec.name;
        NetLink l = {};
        int r;

        if (p->link.ifindex <= 0) {
                r = bridge_create(sk, &p->spec);
                if (r == -EOPNOTSUPP && p->spec.vlan_filtering)
                        return log_error_errno(r, "Failed to create bridge %s: this kernel has no VLAN filtering "
                                               "on bridges (CONFIG_BRIDGE_VLAN_FILTERING); VLANFiltering=yes "
                                               "cannot be met here.", name);
                if (r < 0)
                        return log_error_errno(r, "Failed to create bridge %s: %m", name);
                r = net_link_get(sk, name, 0, &p->link);
                if (r < 0)
                        return log_error_errno(r, "Bridge %s vanished after creation: %m", name);
                /* now revert can tell this bridge from one someone makes under the same name later */
                json_object_object_add(state_bridge(st, name), "ifindex", json_object_new_int(p->link.ifindex));
                r = state_save(ctx->root, ctx->job->name, "bridge", st);
                if (r < 0)
                        return log_error_errno(r, "Failed to update the bridge state: %m");
        } else if (p->set_options) {
                r = bridge_set_options(sk, &p->link, &p->spec);
                if (r < 0)
                        return log_error_errno(r, "Failed to change the options of bridge %s: %m", name);
        }

        for (size_t i = 0; i < p->n_ports; i++) {
                PortPlan *pp = &p->ports[i];

                if (pp->enslave) {
                        r = net_link_set_master(sk, pp->link.ifindex, p->link.ifindex);
                        if (r < 0)
                                return log_error_errno(r, "Failed to enslave %s to %s: %m", pp->name, name);
                }
                if (!(pp->link.flags & IFF_UP)) {
                        r = net_link_set_up(sk, pp->link.ifindex, true);
                        if (r < 0)
                                return log_error_errno(r, "Failed to bring %s up: %m", pp->name);
                }
                r = net_link_get(sk, NULL, pp->link.ifindex, &l);
                if (r < 0)
                        return log_error_errno(r, "Failed to read %s back: %m", pp->name);
                if (l.master != p->link.ifindex || !(l.flags & IFF_UP)) {
                        net_link_done(&l);
                        return log_error_errno(-EIO, "%s is not an up port of %s after enslaving it.", pp->name, name);
                }
                net_link_done(&l);
        }

        /* after the ports: each port joining makes the kernel lower the bridge's MTU to its
         * ports' minimum, until the MTU is set explicitly (which then sticks) */
        r = net_link_get(sk, NULL, p->link.ifindex, &l);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s back: %m", name);
        bool mtu_differs = p->spec.mtu > 0 && l.mtu != p->spec.mtu;
        net_link_done(&l);
        if (mtu_differs) {
                r = net_link_set_mtu(sk, p->link.ifindex, p->spec.mtu);
                if (r < 0)
                        return log_error_errno(r, "Failed to set the MTU of %s to %u: %m", name, p->spec.mtu);
        }
        STRV_FOREACH(a, p->add_addresses) {
                r = net_address_add(sk, p->link.ifindex, *a);
                if (r < 0 && r != -EEXIST)
                        return log_error_errno(r, "Failed to add %s to %s: %m", *a, name);
                r = net_address_has(sk, p->link.ifindex, *a);
                if (r <= 0)
                        return log_error_errno(r < 0 ? r : -EIO, "%s does not have %s after adding it.", name, *a);
        }
        if (!(p->link.flags & IFF_UP)) {
                r = net_link_set_up(sk, p->link.ifindex, true);
                if (r < 0)
                        return log_error_errno(r, "Failed to bring %s up: %m", name);
        }

        r = net_link_get(sk, NULL, p->link.ifindex, &l);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s back: %m", name);
        {
                _cleanup_free_ char *why = NULL;
                bool ok = bridge_matches(&l, &p->spec, &why) && (l.flags & IFF_UP);

                net_link_done(&l);
                if (!ok)
                        return log_error_errno(-EIO, "Bridge %s is not as configured after applying: %s.", name,
                                               why ?: "it is down");
        }
        return 0;
}

static int bridge_apply(StepContext *ctx) {
        _cleanup_(netlink_closep) struct nl_sock *sk = NULL;
        _cleanup_json_ json_object *st = NULL;
        _cleanup_free_ int *routed = NULL;
        _cleanup_(plans_done) Plans plans = {};
        size_t n_routed = 0;
        char **mgmt = ctx->config->safety ? ctx->config->safety->management_interfaces : NULL;
        bool had_state, changed = false;
        int r;

        if (ctx->job->n_bridges == 0) {
                log_event(LOG_INFO, 0, MHTEST_MESSAGE_STEP_UNCHANGED, NULL, "Job %s has no [Bridge] sections.",
                          ctx->job->name);
                return 1;
        }
        r = netlink_open(&sk);
        if (r < 0)
                return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL, "Failed to open rtnetlink: %m");
        r = state_load(ctx->root, ctx->job->name, "bridge", &st);
        if (r < 0 && r != -ENOENT)
                return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL, "Failed to load the bridge state: %m");
        had_state = r >= 0;
        if (!st)
                st = json_object_new_object();
        r = net_default_route_links(sk, &routed, &n_routed);
        if (r < 0)
                return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL, "Failed to read the routes: %m");

        /* ---- validate every bridge before touching anything ---- */
        plans.items = calloc(ctx->job->n_bridges, sizeof(BridgePlan));
        if (!plans.items)
                return log_oom();
        for (size_t i = 0; i < ctx->job->n_bridges; i++) {
                plans.n++;
                r = plan_bridge(sk, ctx, st, ctx->job->bridges[i], mgmt, routed, n_routed, &plans.items[i]);
                if (r < 0)
                        return r;
        }

        /* ---- record how to undo it, then change ---- */
        for (size_t i = 0; i < plans.n; i++) {
                r = record_bridge(sk, st, &plans.items[i], &changed);
                if (r < 0) {
                        return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL, "Failed to read the links: %m");
                }
        }
        if (!changed && had_state) {
                log_event(LOG_INFO, 0, MHTEST_MESSAGE_STEP_UNCHANGED, NULL,
                          "Bridges of job %s already as configured, nothing changed.", ctx->job->name);
                return 1;
        }
        r = state_save(ctx->root, ctx->job->name, "bridge", st);
        if (r < 0) {
                return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL,
                                 "Failed to write the bridge state, nothing changed: %m");
        }
        if (!changed) {
                log_event(LOG_INFO, 0, MHTEST_MESSAGE_STEP_UNCHANGED, NULL,
                          "Bridges of job %s already as configured, nothing changed.", ctx->job->name);
                return 1;
        }
        for (size_t i = 0; i < plans.n; i++) {
                r = execute_bridge(sk, ctx, st, &plans.items[i]);
                if (r < 0) {
                        if (bridges_restore(sk, st) < 0) {
                                return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL,
                                                 "Bridges of job %s not applied, and rolling back failed too; "
                                                 "state kept for revert.", ctx->job->name);
                        }
                        (void) state_remove(ctx->root, ctx->job->name, "bridge");
                        return log_event(LOG_ERR, r, MHTEST_MESSAGE_STEP_FAILED, NULL,
                                         "Bridges of job %s not applied: [Bridge %s] failed; everything was "
                                         "rolled back.", ctx->job->name, plans.items[i].spec.name);
                }
        }
        log_event(LOG_INFO, 0, MHTEST_MESSAGE_STEP_APPLIED, NULL, "Bridges of job %s applied (%zu bridge%s).",
                  ctx->job->name, plans.n, plans.n == 1 ? "" : "s");
        return 0;
}

const Step step_bridge = {
        .name = "bridge",
        .description = "bridges and their ports",
        .apply = bridge_apply,
        .revert = bridge_revert,
};
