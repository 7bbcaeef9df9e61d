/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The lab network: a private /24 that exists only inside namespaces the lab creates and owns. A
 * switch namespace NAME-sw holds the bridge br0; the controller namespace NAME-ctl (address .1)
 * and, for containers, one namespace per host (.11, .12, ...) hang on it by veths; QEMU hosts
 * get taps in the switch namespace. Removing the namespaces removes everything. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netlink/route/link.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "lab-internal.h"
#include "log.h"
#include "netns-util.h"
#include "process-util.h"
#include "string-util.h"
#include "strv.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_sock *, nl_socket_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_link *, rtnl_link_put);

/* Enter the named network namespace; *ret_saved returns to ours (netns_leave()). */
static int ns_enter(const char *ns, int *ret_saved) {
        _cleanup_close_ int fd = netns_open(ns);

        if (fd < 0)
                return fd;
        return netns_enter(fd, ret_saved);
}

static bool overlaps(uint32_t a, uint32_t amask, uint32_t b, uint32_t bmask) {
        uint32_t m = amask & bmask;
        return (a & m) == (b & m);
}

/* A /24 that no route of the machine and no other lab uses. */
int lab_pick_subnet(const char *self, uint32_t *ret) {
        _cleanup_strv_free_ char **labs = NULL;
        uint32_t used[256 + 64];
        size_t n_used = 0;
        uint32_t masks[256 + 64];
        _cleanup_fclose_ FILE *f = fopen("/proc/net/route", "re");
        char line[512];

        if (f) {
                (void) fgets(line, sizeof line, f); /* header */
                while (n_used < 256 && fgets(line, sizeof line, f)) {
                        unsigned dest, mask;
                        if (sscanf(line, "%*s %x %*x %*x %*d %*d %*d %x", &dest, &mask) != 2 || mask == 0)
                                continue; /* the default route overlaps everything: not a conflict */
                        used[n_used] = ntohl(dest);
                        masks[n_used++] = ntohl(mask);
                }
        }
        if (lab_list(&labs) >= 0)
                STRV_FOREACH(n, labs) {
                        _cleanup_(lab_freep) Lab *o = NULL;
                        if (streq(*n, self) || n_used >= ELEMENTSOF(used) || lab_load(*n, &o) < 0)
                                continue;
                        used[n_used] = o->subnet;
                        masks[n_used++] = 0xffffff00u;
                }
        /* 10.77.0.0/24 first (the recipe's), then upwards. */
        for (uint32_t third = 0; third < 256; third++) {
                uint32_t cand = (10u << 24) | (77u << 16) | (third << 8);
                bool clash = false;
                for (size_t i = 0; i < n_used && !clash; i++)
                        clash = overlaps(cand, 0xffffff00u, used[i], masks[i]);
                if (!clash) {
                        *ret = cand;
                        return 0;
                }
        }
        return -EADDRNOTAVAIL;
}

int lab_network_up(const Lab *l, bool host_namespaces) {
        _cleanup_free_ char *sw = lab_sw_ns(l), *ctl = lab_ctl_ns(l), *ctl_addr = lab_ip4_format(l->subnet + 1),
                            *ctl_cidr = NULL;
        int r;

        if (!sw || !ctl || !ctl_addr || !(ctl_cidr = strjoin(ctl_addr, "/24")))
                return log_oom();
        STRV_FOREACH(ns, STRV_MAKE(sw, ctl)) {
                r = netns_add(*ns, NULL);
                if (r < 0)
                        return log_error_errno(r, "Failed to create network namespace %s: %m", *ns);
        }
        r = netns_bridge_add(sw, "br0");
        if (r < 0)
                return log_error_errno(r, "Failed to create the lab bridge in %s: %m", sw);
        r = netns_veth_add(sw, "br0", "p-ctl", ctl, "eth0", ctl_cidr);
        if (r < 0)
                return log_error_errno(r, "Failed to connect %s to the lab bridge: %m", ctl);
        if (!host_namespaces)
                return 0;
        for (size_t i = 0; i < l->n_hosts; i++) {
                const LabHost *h = &l->hosts[i];
                _cleanup_free_ char *port = NULL, *cidr = strjoin(h->address, "/24");

                if (!cidr || asprintf_safe(&port, "p-h%zu", i + 1) < 0)
                        return log_oom();
                r = netns_add(h->name, NULL);
                if (r >= 0)
                        r = netns_veth_add(sw, "br0", port, h->name, "eth0", cidr);
                if (r < 0)
                        return log_error_errno(r, "Failed to set up the network of %s: %m", h->name);
        }
        return 0;
}

int lab_network_bridge_add(const Lab *l, const char *bridge) {
        _cleanup_free_ char *sw = lab_sw_ns(l);
        int r;

        if (!sw)
                return log_oom();
        r = netns_bridge_add(sw, bridge);
        if (r < 0)
                return log_error_errno(r, "Failed to create bridge %s in %s: %m", bridge, sw);
        return 0;
}

int lab_network_tap_add(const char *ns, const char *tap, const char *bridge) {
        _cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
        _cleanup_(rtnl_link_putp) struct rtnl_link *link = NULL, *br = NULL, *change = NULL;
        _cleanup_close_ int tun = -EBADF;
        struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
        int saved = -EBADF, r;

        if (strlen(tap) >= IFNAMSIZ)
                return -ENAMETOOLONG;
        r = ns_enter(ns, &saved);
        if (r < 0)
                return r;
        tun = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (tun < 0) {
                r = -errno;
                goto out;
        }
        strncpy(ifr.ifr_name, tap, IFNAMSIZ - 1);
        if (ioctl(tun, TUNSETIFF, &ifr) < 0 || ioctl(tun, TUNSETPERSIST, 1) < 0) {
                r = -errno;
                goto out;
        }
        sk = nl_socket_alloc();
        if (!sk) {
                r = -ENOMEM;
                goto out;
        }
        if (nl_connect(sk, NETLINK_ROUTE) < 0 || rtnl_link_get_kernel(sk, 0, tap, &link) < 0 ||
            rtnl_link_get_kernel(sk, 0, bridge, &br) < 0) {
                r = -ENODEV;
                goto out;
        }
        change = rtnl_link_alloc();
        if (!change) {
                r = -ENOMEM;
                goto out;
        }
        rtnl_link_set_master(change, rtnl_link_get_ifindex(br));
        rtnl_link_set_flags(change, IFF_UP);
        r = rtnl_link_change(sk, link, change, 0) < 0 ? -EIO : 0;
out:
        netns_leave(&saved);
        return r;
}

int lab_network_down(const Lab *l) {
        _cleanup_free_ char *sw = lab_sw_ns(l), *ctl = lab_ctl_ns(l);
        int r, ret = 0;

        if (!sw || !ctl)
                return log_oom();
        for (size_t i = 0; i < l->n_hosts; i++) {
                r = netns_remove(l->hosts[i].name);
                if (r < 0)
                        ret = log_warning_errno(r, "Failed to remove network namespace %s: %m", l->hosts[i].name);
        }
        STRV_FOREACH(ns, STRV_MAKE(ctl, sw)) {
                r = netns_remove(*ns);
                if (r < 0)
                        ret = log_warning_errno(r, "Failed to remove network namespace %s: %m", *ns);
        }
        (void) netns_run_dir_release();
        return ret;
}

int lab_ctl_run(const Lab *l, char * const *argv, char **ret_out) {
        _cleanup_free_ char *ctl = lab_ctl_ns(l);
        int saved = -EBADF, r;

        if (!ctl)
                return -ENOMEM;
        /* The child inherits the namespace; we return to ours at once. */
        r = ns_enter(ctl, &saved);
        if (r < 0)
                return r;
        r = ret_out ? spawn_capture(argv, ret_out) : spawn_wait(argv);
        netns_leave(&saved);
        return r;
}

int lab_enter_ctl(const Lab *l) {
        _cleanup_free_ char *ctl = lab_ctl_ns(l);
        int saved, r;

        if (!ctl)
                return log_oom();
        r = ns_enter(ctl, &saved);
        if (r < 0)
                return log_error_errno(r, "Failed to enter the controller namespace %s of lab %s: %m", ctl, l->name);
        close(saved);
        return 0;
}
