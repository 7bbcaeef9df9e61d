/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include "netdev-util.h"
#include "string-util.h"
#include "strv.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_sock *, nl_socket_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_cache *, nl_cache_free);

/* libnl's NLE_* codes as negative errno, in one place. */
static int nl_to_errno(int nle) {
        switch (nle < 0 ? -nle : nle) {
        case 0:
                return 0;
        case NLE_NOMEM:
                return -ENOMEM;
        case NLE_PERM:
                return -EPERM;
        case NLE_OBJ_NOTFOUND:
                return -ENODEV;
        case NLE_AGAIN:
                return -EAGAIN;
        default:
                return -EIO;
        }
}

/* Upper devices: the master (bond, bridge, team) and stacked devices whose lower link is ifindex. */
static bool is_stacked_kind(const char *kind) {
        static const char *const kinds[] = { "vlan", "macvlan", "macvtap", "ipvlan", "ipvtap", "vxlan", "hsr" };

        for (size_t i = 0; kind && i < ELEMENTSOF(kinds); i++)
                if (streq(kind, kinds[i]))
                        return true;
        return false;
}

typedef struct Upper {
        int ifindex;
        char *how; /* "eth1", "bond0 (master of eth1)" */
} Upper;

static int uppers_add(Upper **l, size_t *n, int ifindex, char *how) {
        Upper *u;

        if (!how)
                return -ENOMEM;
        for (size_t i = 0; i < *n; i++)
                if ((*l)[i].ifindex == ifindex) {
                        free(how);
                        return 0;
                }
        u = realloc(*l, (*n + 1) * sizeof(Upper));
        if (!u) {
                free(how);
                return -ENOMEM;
        }
        *l = u;
        (*l)[(*n)++] = (Upper) { ifindex, how };
        return 1;
}

static bool ipv6_link_local(struct nl_addr *a) {
        const unsigned char *b;

        if (!a || nl_addr_get_family(a) != AF_INET6 || nl_addr_get_len(a) < 2)
                return false;
        b = nl_addr_get_binary_addr(a);
        return b[0] == 0xfe && (b[1] & 0xc0) == 0x80;
}

int netdev_usage(const char *ifname, char * const *management, char **ret_reason) {
        _cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
        _cleanup_(nl_cache_freep) struct nl_cache *links = NULL, *addrs = NULL, *routes = NULL;
        _cleanup_strv_free_ char **reasons = NULL;
        struct rtnl_link *link;
        Upper *uppers = NULL;
        size_t n_uppers = 0;
        int r;

        sk = nl_socket_alloc();
        if (!sk)
                return -ENOMEM;
        r = nl_connect(sk, NETLINK_ROUTE);
        if (r < 0)
                return nl_to_errno(r);
        r = rtnl_link_alloc_cache(sk, AF_UNSPEC, &links);
        if (r < 0)
                return nl_to_errno(r);
        r = rtnl_addr_alloc_cache(sk, &addrs);
        if (r < 0)
                return nl_to_errno(r);
        r = rtnl_route_alloc_cache(sk, AF_UNSPEC, 0, &routes);
        if (r < 0)
                return nl_to_errno(r);

        link = rtnl_link_get_by_name(links, ifname);
        if (!link)
                return -ENODEV;
        r = uppers_add(&uppers, &n_uppers, rtnl_link_get_ifindex(link), strdup(ifname));
        rtnl_link_put(link);
        if (r < 0)
                goto finish;

        /* Walk up: each round may add uppers of the ones found so far. */
        for (size_t i = 0; i < n_uppers; i++) {
                struct rtnl_link *l = rtnl_link_get(links, uppers[i].ifindex);
                char name[IFNAMSIZ + 1];
                int master;

                if (!l)
                        continue;
                snprintf(name, sizeof(name), "%s", rtnl_link_get_name(l));
                master = rtnl_link_get_master(l);
                rtnl_link_put(l);
                if (master > 0) {
                        struct rtnl_link *m = rtnl_link_get(links, master);
                        char *how = NULL;

                        if (m && asprintf_safe(&how, "%s (master of %s)", rtnl_link_get_name(m), name) < 0)
                                how = NULL;
                        if (m) {
                                rtnl_link_put(m);
                                r = uppers_add(&uppers, &n_uppers, master, how);
                                if (r < 0)
                                        goto finish;
                        }
                }
                for (struct nl_object *o = nl_cache_get_first(links); o; o = nl_cache_get_next(o)) {
                        struct rtnl_link *s = (struct rtnl_link *) o;
                        int32_t netnsid;
                        char *how = NULL;

                        if (rtnl_link_get_link(s) != uppers[i].ifindex || !is_stacked_kind(rtnl_link_get_type(s)))
                                continue;
                        /* a lower link in another namespace is another device with the same index */
                        if (rtnl_link_get_link_netnsid(s, &netnsid) >= 0)
                                continue;
                        if (asprintf_safe(&how, "%s (%s on %s)", rtnl_link_get_name(s), rtnl_link_get_type(s), name) < 0)
                                how = NULL;
                        r = uppers_add(&uppers, &n_uppers, rtnl_link_get_ifindex(s), how);
                        if (r < 0)
                                goto finish;
                }
        }

        for (size_t i = 0; i < n_uppers; i++) {
                struct rtnl_link *l = rtnl_link_get(links, uppers[i].ifindex);
                const char *name = l ? rtnl_link_get_name(l) : NULL;
                char *s = NULL;

                if (name && strv_contains(management, name) &&
                    (asprintf_safe(&s, "%s is a management interface ([Safety] ManagementInterfaces=)", uppers[i].how) < 0 ||
                     strv_consume(&reasons, s) < 0)) {
                        if (l)
                                rtnl_link_put(l);
                        r = -ENOMEM;
                        goto finish;
                }
                if (l)
                        rtnl_link_put(l);

                for (struct nl_object *o = nl_cache_get_first(addrs); o; o = nl_cache_get_next(o)) {
                        struct rtnl_addr *a = (struct rtnl_addr *) o;
                        struct nl_addr *local = rtnl_addr_get_local(a);
                        char buf[INET6_ADDRSTRLEN + 8];

                        if (rtnl_addr_get_ifindex(a) != uppers[i].ifindex || ipv6_link_local(local))
                                continue;
                        if (asprintf_safe(&s, "%s has address %s", uppers[i].how,
                                          local ? nl_addr2str(local, buf, sizeof(buf)) : "?") < 0 ||
                            strv_consume(&reasons, s) < 0) {
                                r = -ENOMEM;
                                goto finish;
                        }
                }
                for (struct nl_object *o = nl_cache_get_first(routes); o; o = nl_cache_get_next(o)) {
                        struct rtnl_route *rt = (struct rtnl_route *) o;
                        struct nl_addr *dst = rtnl_route_get_dst(rt);
                        bool via = false;
                        char buf[INET6_ADDRSTRLEN + 8];

                        if (rtnl_route_get_table(rt) == RT_TABLE_LOCAL || rtnl_route_get_type(rt) != RTN_UNICAST ||
                            ipv6_link_local(dst))
                                continue;
                        for (int k = 0; k < rtnl_route_get_nnexthops(rt); k++)
                                if (rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(rt, k)) == uppers[i].ifindex)
                                        via = true;
                        if (!via)
                                continue;
                        if (!dst || nl_addr_get_prefixlen(dst) == 0)
                                r = asprintf_safe(&s, "%s carries the default route (the management connection)",
                                                  uppers[i].how);
                        else
                                r = asprintf_safe(&s, "%s has route %s", uppers[i].how,
                                                  nl_addr2str(dst, buf, sizeof(buf)));
                        if (r < 0 || strv_consume(&reasons, s) < 0) {
                                r = -ENOMEM;
                                goto finish;
                        }
                }
        }

        strv_uniq(reasons);
        if (strv_length(reasons) == 0) {
                *ret_reason = NULL;
                r = 0;
        } else {
                *ret_reason = strv_join(reasons, "; ");
                r = *ret_reason ? 1 : -ENOMEM;
        }
finish:
        for (size_t i = 0; i < n_uppers; i++)
                free(uppers[i].how);
        free(uppers);
        return r;
}
