/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>
#include "bridge.h"
#include "string-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_msg *, nlmsg_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_cb *, nl_cb_put);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_cache *, nl_cache_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_addr *, nl_addr_put);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_addr *, rtnl_addr_put);

int nle_to_errno(int nle) {
        static const struct {
                int nle, err;
        } map[] = {
                { NLE_SUCCESS, 0 },          { NLE_INTR, EINTR },
                { NLE_BAD_SOCK, EBADF },     { NLE_AGAIN, EAGAIN },
                { NLE_NOMEM, ENOMEM },       { NLE_EXIST, EEXIST },
                { NLE_INVAL, EINVAL },       { NLE_RANGE, ERANGE },
                { NLE_MSGSIZE, EMSGSIZE },   { NLE_OPNOTSUPP, EOPNOTSUPP },
                { NLE_AF_NOSUPPORT, EAFNOSUPPORT }, { NLE_OBJ_NOTFOUND, ENOENT },
                { NLE_NOATTR, ENOENT },      { NLE_MISSING_ATTR, EINVAL },
                { NLE_AF_MISMATCH, EAFNOSUPPORT }, { NLE_SEQ_MISMATCH, EILSEQ },
                { NLE_MSG_OVERFLOW, EOVERFLOW }, { NLE_MSG_TRUNC, EMSGSIZE },
                { NLE_NOADDR, EADDRNOTAVAIL }, { NLE_SRCRT_NOSUPPORT, EOPNOTSUPP },
                { NLE_MSG_TOOSHORT, EMSGSIZE }, { NLE_MSGTYPE_NOSUPPORT, EOPNOTSUPP },
                { NLE_OBJ_MISMATCH, EINVAL }, { NLE_NOCACHE, ENOENT },
                { NLE_BUSY, EBUSY },         { NLE_PROTO_MISMATCH, EPROTONOSUPPORT },
                { NLE_NOACCESS, EACCES },    { NLE_PERM, EPERM },
                { NLE_PKTLOC_FILE, ENOENT }, { NLE_PARSE_ERR, EINVAL },
                { NLE_NODEV, ENODEV },       { NLE_IMMUTABLE, EPERM },
                { NLE_DUMP_INTR, EINTR },    { NLE_ATTRSIZE, ERANGE },
        };

        if (nle < 0)
                nle = -nle;
        for (size_t i = 0; i < ELEMENTSOF(map); i++)
                if (map[i].nle == nle)
                        return -map[i].err;
        return -EIO;
}

void net_link_done(NetLink *l) {
        free(l->name);
        free(l->kind);
        l->name = l->kind = NULL;
}

int netlink_open(struct nl_sock **ret) {
        struct nl_sock *sk = nl_socket_alloc();
        int r;

        if (!sk)
                return -ENOMEM;
        /* Requests that change something ask for their ACK themselves; queries get their answer
         * (or an error) without one, so a reply is never followed by a stray ACK. */
        nl_socket_disable_auto_ack(sk);
        r = nl_connect(sk, NETLINK_ROUTE);
        if (r < 0) {
                nl_socket_free(sk);
                return nle_to_errno(r);
        }
        *ret = sk;
        return 0;
}

void netlink_close(struct nl_sock *sk) {
        nl_socket_free(sk);
}

static int request_ack(struct nl_sock *sk, struct nl_msg *msg) {
        int r;

        nlmsg_hdr(msg)->nlmsg_flags |= NLM_F_ACK;
        r = nl_send_auto(sk, msg);
        if (r < 0)
                return nle_to_errno(r);
        r = nl_wait_for_ack(sk);
        return r < 0 ? nle_to_errno(r) : 0;
}

static struct nl_msg *link_msg(int type, int flags, int ifindex, unsigned ifi_flags, unsigned ifi_change) {
        struct ifinfomsg ifi = {
                .ifi_family = AF_UNSPEC,
                .ifi_index = ifindex,
                .ifi_flags = ifi_flags,
                .ifi_change = ifi_change,
        };
        struct nl_msg *m = nlmsg_alloc_simple(type, NLM_F_REQUEST | flags);

        if (m && nlmsg_append(m, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0) {
                nlmsg_free(m);
                return NULL;
        }
        return m;
}

static int link_parse_cb(struct nl_msg *msg, void *arg) {
        NetLink *l = arg;
        struct nlmsghdr *h = nlmsg_hdr(msg);
        struct ifinfomsg *ifi = nlmsg_data(h);
        struct nlattr *tb[IFLA_MAX + 1], *li[IFLA_INFO_MAX + 1], *br[IFLA_BR_MAX + 1];

        if (h->nlmsg_type != RTM_NEWLINK || nlmsg_parse(h, sizeof(*ifi), tb, IFLA_MAX, NULL) < 0)
                return NL_SKIP;
        net_link_done(l);
        *l = (NetLink) { .ifindex = ifi->ifi_index, .flags = ifi->ifi_flags };
        if (tb[IFLA_IFNAME])
                l->name = strdup(nla_get_string(tb[IFLA_IFNAME]));
        if (tb[IFLA_MASTER])
                l->master = (int) nla_get_u32(tb[IFLA_MASTER]);
        if (tb[IFLA_MTU])
                l->mtu = nla_get_u32(tb[IFLA_MTU]);
        if (tb[IFLA_ADDRESS] && nla_len(tb[IFLA_ADDRESS]) == 6) {
                memcpy(l->mac, nla_data(tb[IFLA_ADDRESS]), 6);
                l->has_mac = true;
        }
        if (!tb[IFLA_LINKINFO] || nla_parse_nested(li, IFLA_INFO_MAX, tb[IFLA_LINKINFO], NULL) < 0)
                return NL_OK;
        if (li[IFLA_INFO_KIND])
                l->kind = strdup(nla_get_string(li[IFLA_INFO_KIND]));
        if (!streq_ptr(l->kind, "bridge") || !li[IFLA_INFO_DATA] ||
            nla_parse_nested(br, IFLA_BR_MAX, li[IFLA_INFO_DATA], NULL) < 0)
                return NL_OK;
        if (br[IFLA_BR_STP_STATE])
                l->stp = nla_get_u32(br[IFLA_BR_STP_STATE]) != 0;
        if (br[IFLA_BR_FORWARD_DELAY])
                l->forward_delay_cs = nla_get_u32(br[IFLA_BR_FORWARD_DELAY]);
        if (br[IFLA_BR_VLAN_FILTERING])
                l->vlan_filtering = nla_get_u8(br[IFLA_BR_VLAN_FILTERING]) != 0;
        if (br[IFLA_BR_VLAN_DEFAULT_PVID])
                l->default_pvid = nla_get_u16(br[IFLA_BR_VLAN_DEFAULT_PVID]);
        return NL_OK;
}

int net_link_get(struct nl_sock *sk, const char *name, int ifindex, NetLink *ret) {
        _cleanup_(nlmsg_freep) struct nl_msg *m = link_msg(RTM_GETLINK, 0, ifindex > 0 ? ifindex : 0, 0, 0);
        _cleanup_(nl_cb_putp) struct nl_cb *cb = NULL;
        NetLink l = {};
        int r;

        if (!m)
                return -ENOMEM;
        if (ifindex <= 0 && (!name || strlen(name) >= IFNAMSIZ))
                return -EINVAL;
        if (ifindex <= 0 && nla_put_string(m, IFLA_IFNAME, name) < 0)
                return -ENOMEM;
        {
                /* nl_socket_get_cb() takes a reference */
                struct nl_cb *s = nl_socket_get_cb(sk);
                cb = nl_cb_clone(s);
                nl_cb_put(s);
        }
        if (!cb)
                return -ENOMEM;
        nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, link_parse_cb, &l);
        r = nl_send_auto(sk, m);
        if (r < 0)
                return nle_to_errno(r);
        r = nl_recvmsgs(sk, cb);
        if (r < 0) {
                net_link_done(&l);
                return nle_to_errno(r);
        }
        if (l.ifindex <= 0 || !l.name) {
                net_link_done(&l);
                return -ENODEV;
        }
        *ret = l;
        return 0;
}

static int put_bridge_options(struct nl_msg *m, const BridgeSpec *spec, bool vlan) {
        struct nlattr *li, *data;

        li = nla_nest_start(m, IFLA_LINKINFO);
        if (!li || nla_put_string(m, IFLA_INFO_KIND, "bridge") < 0)
                return -ENOMEM;
        data = nla_nest_start(m, IFLA_INFO_DATA);
        /* The kernel applies FORWARD_DELAY before STP_STATE and checks the 2-30 s range only while
         * STP runs: a new bridge can get STP with any delay, and 0 turned off keeps a guest's
         * DHCP from waiting 15 s for the port to forward. */
        if (!data || nla_put_u32(m, IFLA_BR_FORWARD_DELAY, spec->forward_delay_cs) < 0 ||
            nla_put_u32(m, IFLA_BR_STP_STATE, spec->stp ? 1 : 0) < 0)
                return -ENOMEM;
        /* Kernels without CONFIG_BRIDGE_VLAN_FILTERING refuse IFLA_BR_VLAN_FILTERING whatever its
         * value (EOPNOTSUPP): send it only when VLAN filtering is asked for or must be turned off. */
        if (vlan && (nla_put_u8(m, IFLA_BR_VLAN_FILTERING, spec->vlan_filtering ? 1 : 0) < 0 ||
                     (spec->vlan_filtering && nla_put_u16(m, IFLA_BR_VLAN_DEFAULT_PVID, spec->default_pvid ?: 1) < 0)))
                return -ENOMEM;
        nla_nest_end(m, data);
        nla_nest_end(m, li);
        return 0;
}

int bridge_create(struct nl_sock *sk, const BridgeSpec *spec) {
        _cleanup_(nlmsg_freep) struct nl_msg *m = link_msg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0, 0, 0);
        int r;

        if (!m)
                return -ENOMEM;
        if (!spec->name || strlen(spec->name) >= IFNAMSIZ)
                return -EINVAL;
        if (nla_put_string(m, IFLA_IFNAME, spec->name) < 0 ||
            (spec->mac && nla_put(m, IFLA_ADDRESS, 6, spec->mac) < 0) ||
            (spec->mtu > 0 && nla_put_u32(m, IFLA_MTU, spec->mtu) < 0))
                return -ENOMEM;
        r = put_bridge_options(m, spec, spec->vlan_filtering);
        if (r < 0)
                return r;
        return request_ack(sk, m);
}

int bridge_set_options(struct nl_sock *sk, const NetLink *current, const BridgeSpec *spec) {
        _cleanup_(nlmsg_freep) struct nl_msg *m = link_msg(RTM_NEWLINK, 0, current->ifindex, 0, 0);
        int r;

        if (!m)
                return -ENOMEM;
        r = put_bridge_options(m, spec, spec->vlan_filtering || current->vlan_filtering);
        if (r < 0)
                return r;
        return request_ack(sk, m);
}

bool bridge_matches(const NetLink *l, const BridgeSpec *spec, char **ret_why) {
        _cleanup_free_ char *why = NULL;
        uint32_t d = l->forward_delay_cs > spec->forward_delay_cs ? l->forward_delay_cs - spec->forward_delay_cs
                                                                   : spec->forward_delay_cs - l->forward_delay_cs;

#define DIFF(fmt, ...)                                                                      \
        do {                                                                                \
                char *_s = NULL;                                                            \
                if (asprintf_safe(&_s, "%s%s" fmt, strempty(why), why ? ", " : "", __VA_ARGS__) >= 0) { \
                        free(why);                                                          \
                        why = _s;                                                           \
                }                                                                           \
        } while (0)

        if (!streq_ptr(l->kind, "bridge"))
                DIFF("it is a %s, not a bridge", l->kind ?: "device");
        else {
                if (l->stp != spec->stp)
                        DIFF("STP is %s", l->stp ? "on" : "off");
                /* the kernel keeps jiffies: allow its rounding of one centisecond */
                if (d > 1)
                        DIFF("forward delay is %u.%02us", l->forward_delay_cs / 100, l->forward_delay_cs % 100);
                if (l->vlan_filtering != spec->vlan_filtering)
                        DIFF("VLAN filtering is %s", l->vlan_filtering ? "on" : "off");
                else if (spec->vlan_filtering && l->default_pvid != (spec->default_pvid ?: 1))
                        DIFF("default PVID is %u", l->default_pvid);
                if (spec->mtu > 0 && l->mtu != spec->mtu)
                        DIFF("MTU is %u", l->mtu);
                if (spec->mac && (!l->has_mac || memcmp(l->mac, spec->mac, 6) != 0))
                        DIFF("MAC is %02x:%02x:%02x:%02x:%02x:%02x", l->mac[0], l->mac[1], l->mac[2], l->mac[3],
                             l->mac[4], l->mac[5]);
        }
#undef DIFF
        bool match = !why;
        if (ret_why)
                *ret_why = TAKE_PTR(why);
        return match;
}

int net_link_delete(struct nl_sock *sk, int ifindex) {
        _cleanup_(nlmsg_freep) struct nl_msg *m = link_msg(RTM_DELLINK, 0, ifindex, 0, 0);

        return m ? request_ack(sk, m) : -ENOMEM;
}

int net_link_set_master(struct nl_sock *sk, int ifindex, int master) {
        _cleanup_(nlmsg_freep) struct nl_msg *m = link_msg(RTM_NEWLINK, 0, ifindex, 0, 0);

        if (!m || nla_put_u32(m, IFLA_MASTER, (uint32_t) master) < 0)
                return -ENOMEM;
        return request_ack(sk, m);
}

int net_link_set_up(struct nl_sock *sk, int ifindex, bool up) {
        _cleanup_(nlmsg_freep) struct nl_msg *m = link_msg(RTM_NEWLINK, 0, ifindex, up ? IFF_UP : 0, IFF_UP);

        return m ? request_ack(sk, m) : -ENOMEM;
}

int net_link_set_mtu(struct nl_sock *sk, int ifindex, unsigned mtu) {
        _cleanup_(nlmsg_freep) struct nl_msg *m = link_msg(RTM_NEWLINK, 0, ifindex, 0, 0);

        if (!m || nla_put_u32(m, IFLA_MTU, mtu) < 0)
                return -ENOMEM;
        return request_ack(sk, m);
}

int net_link_set_mac(struct nl_sock *sk, int ifindex, const uint8_t mac[6]) {
        _cleanup_(nlmsg_freep) struct nl_msg *m = link_msg(RTM_NEWLINK, 0, ifindex, 0, 0);

        if (!m || nla_put(m, IFLA_ADDRESS, 6, mac) < 0)
                return -ENOMEM;
        return request_ack(sk, m);
}

static int addr_parse(const char *cidr, struct nl_addr **ret) {
        int r = nl_addr_parse(cidr, AF_UNSPEC, ret);
        if (r < 0)
                return nle_to_errno(r);
        if (nl_addr_get_family(*ret) != AF_INET && nl_addr_get_family(*ret) != AF_INET6) {
                nl_addr_put(*ret);
                return -EAFNOSUPPORT;
        }
        return 0;
}

int net_address_has(struct nl_sock *sk, int ifindex, const char *cidr) {
        _cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
        _cleanup_(nl_addr_putp) struct nl_addr *want = NULL;
        int r;

        r = addr_parse(cidr, &want);
        if (r < 0)
                return r;
        r = rtnl_addr_alloc_cache(sk, &cache);
        if (r < 0)
                return nle_to_errno(r);
        for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
                struct rtnl_addr *a = (struct rtnl_addr *) o;
                struct nl_addr *local = rtnl_addr_get_local(a);

                if (rtnl_addr_get_ifindex(a) != ifindex || !local)
                        continue;
                if (nl_addr_get_family(local) == nl_addr_get_family(want) &&
                    nl_addr_get_len(local) == nl_addr_get_len(want) &&
                    memcmp(nl_addr_get_binary_addr(local), nl_addr_get_binary_addr(want), nl_addr_get_len(want)) == 0 &&
                    (unsigned) rtnl_addr_get_prefixlen(a) == nl_addr_get_prefixlen(want))
                        return 1;
        }
        return 0;
}

static int address_request(struct nl_sock *sk, int ifindex, const char *cidr, bool add) {
        _cleanup_(rtnl_addr_putp) struct rtnl_addr *a = rtnl_addr_alloc();
        _cleanup_(nl_addr_putp) struct nl_addr *local = NULL;
        _cleanup_(nlmsg_freep) struct nl_msg *m = NULL;
        int r;

        if (!a)
                return -ENOMEM;
        r = addr_parse(cidr, &local);
        if (r < 0)
                return r;
        rtnl_addr_set_ifindex(a, ifindex);
        r = rtnl_addr_set_local(a, local);
        if (r < 0)
                return nle_to_errno(r);
        rtnl_addr_set_prefixlen(a, (int) nl_addr_get_prefixlen(local));
        r = add ? rtnl_addr_build_add_request(a, NLM_F_EXCL, &m) : rtnl_addr_build_delete_request(a, 0, &m);
        if (r < 0)
                return nle_to_errno(r);
        return request_ack(sk, m);
}

int net_address_add(struct nl_sock *sk, int ifindex, const char *cidr) {
        return address_request(sk, ifindex, cidr, true);
}

int net_address_del(struct nl_sock *sk, int ifindex, const char *cidr) {
        int r = address_request(sk, ifindex, cidr, false);
        return r == -EADDRNOTAVAIL || r == -ENOENT ? 0 : r;
}

typedef struct IfindexList {
        int *items;
        size_t n;
        int error;
} IfindexList;

static void nexthop_cb(struct rtnl_nexthop *nh, void *arg) {
        IfindexList *l = arg;
        int ifindex = rtnl_route_nh_get_ifindex(nh), *a;

        if (ifindex <= 0)
                return;
        for (size_t i = 0; i < l->n; i++)
                if (l->items[i] == ifindex)
                        return;
        a = reallocarray(l->items, l->n + 1, sizeof(int));
        if (!a) {
                l->error = -ENOMEM;
                return;
        }
        l->items = a;
        l->items[l->n++] = ifindex;
}

int net_default_route_links(struct nl_sock *sk, int **ret, size_t *ret_n) {
        _cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
        IfindexList l = {};
        int r;

        r = rtnl_route_alloc_cache(sk, AF_UNSPEC, 0, &cache);
        if (r < 0)
                return nle_to_errno(r);
        for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
                struct rtnl_route *rt = (struct rtnl_route *) o;
                struct nl_addr *dst = rtnl_route_get_dst(rt);

                if (rtnl_route_get_type(rt) != RTN_UNICAST || (dst && nl_addr_get_prefixlen(dst) != 0))
                        continue;
                rtnl_route_foreach_nexthop(rt, nexthop_cb, &l);
        }
        if (l.error < 0) {
                free(l.items);
                return l.error;
        }
        *ret = l.items;
        *ret_n = l.n;
        return 0;
}
