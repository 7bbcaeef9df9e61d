/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include "fileio.h"
#include "log.h"
#include "netns-util.h"
#include "string-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_sock *, nl_socket_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_link *, rtnl_link_put);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_addr *, rtnl_addr_put);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_addr *, nl_addr_put);

static void netns_leavep(int *saved) {
        if (*saved >= 0)
                netns_leave(saved);
}
#define _cleanup_netns_leave_ _cleanup_(netns_leavep)

/* libnl speaks NLE_*; everything above speaks negative errno. */
static int nl_errno(int nle) {
        switch (nle < 0 ? -nle : nle) {
        case 0:
                return 0;
        case NLE_EXIST:
                return -EEXIST;
        case NLE_NOMEM:
                return -ENOMEM;
        case NLE_PERM:
        case NLE_NOACCESS:
                return -EPERM;
        case NLE_OBJ_NOTFOUND:
        case NLE_NODEV:
                return -ENODEV;
        case NLE_INVAL:
        case NLE_RANGE:
                return -EINVAL;
        case NLE_BUSY:
                return -EBUSY;
        case NLE_OPNOTSUPP:
                return -EOPNOTSUPP;
        case NLE_AF_NOSUPPORT:
                return -EAFNOSUPPORT;
        default:
                return -EIO;
        }
}

/* Who made /run/netns a mount point: the last namespace removed takes it away again, whichever
 * caller made it (iproute2 leaves it; a test bed must not). */
#define NETNS_MADE_MARKER "/run/mhtest/.made-run-netns-mount"

static int safe_close(int fd) {
        if (fd >= 0)
                close(fd);
        return -EBADF;
}

static char *netns_path(const char *name) {
        return strjoin(NETNS_RUN_DIR "/", name);
}

bool netns_exists(const char *name) {
        _cleanup_free_ char *p = netns_path(name);
        return p && access(p, F_OK) >= 0;
}

int netns_open(const char *name) {
        _cleanup_free_ char *p = netns_path(name);
        if (!p)
                return -ENOMEM;
        return RET_NERRNO(open(p, O_RDONLY | O_CLOEXEC));
}

int netns_enter(int netns_fd, int *ret_saved) {
        _cleanup_close_ int saved = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);

        if (saved < 0)
                return -errno;
        if (setns(netns_fd, CLONE_NEWNET) < 0)
                return -errno;
        *ret_saved = TAKE_FD(saved);
        return 0;
}

void netns_leave(int *saved) {
        if (*saved < 0)
                return;
        if (setns(*saved, CLONE_NEWNET) < 0) {
                log_error_errno(-errno, "Failed to return to the original network namespace: %m");
                abort();
        }
        close(*saved);
        *saved = -EBADF;
}

/* What "ip netns add" does: /run/netns is a shared mount point, so namespaces bound there are
 * seen by every mount namespace that is a peer of it. */
static int run_dir_prepare(bool *ret_made) {
        bool made = false;

        if (mkdir(NETNS_RUN_DIR, 0755) < 0 && errno != EEXIST)
                return -errno;
        for (;;) {
                if (mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) >= 0)
                        break;
                if (errno != EINVAL || made)
                        return -errno;
                /* Not a mount point yet. */
                if (mount(NETNS_RUN_DIR, NETNS_RUN_DIR, "none", MS_BIND | MS_REC, NULL) < 0)
                        return -errno;
                made = true;
        }
        *ret_made = made;
        return 0;
}

static int link_up(struct nl_sock *sk, const char *ifname, int master) {
        _cleanup_(rtnl_link_putp) struct rtnl_link *l = NULL, *change = NULL;
        int r;

        r = rtnl_link_get_kernel(sk, 0, ifname, &l);
        if (r < 0)
                return nl_errno(r);
        change = rtnl_link_alloc();
        if (!change)
                return -ENOMEM;
        if (master > 0)
                rtnl_link_set_master(change, master);
        rtnl_link_set_flags(change, IFF_UP);
        return nl_errno(rtnl_link_change(sk, l, change, 0));
}

static int nl_open(struct nl_sock **ret) {
        _cleanup_(nl_socket_freep) struct nl_sock *sk = nl_socket_alloc();
        int r;

        if (!sk)
                return -ENOMEM;
        r = nl_connect(sk, NETLINK_ROUTE);
        if (r < 0)
                return nl_errno(r);
        *ret = TAKE_PTR(sk);
        return 0;
}

int netns_add(const char *name, bool *ret_made_run_mount) {
        _cleanup_free_ char *p = netns_path(name);
        _cleanup_netns_leave_ int saved = -EBADF;
        _cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
        _cleanup_close_ int fd = -EBADF;
        bool made = false;
        int r;

        if (!p)
                return -ENOMEM;
        r = run_dir_prepare(&made);
        if (r < 0)
                return r;
        if (ret_made_run_mount)
                *ret_made_run_mount = made;
        if (made && (mkdir_p("/run/mhtest", 0755) < 0 || write_file_atomic(NETNS_MADE_MARKER, "", 0644) < 0))
                log_debug("Failed to record that %s was made a mount point, ignoring.", NETNS_RUN_DIR);

        fd = open(p, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        fd = safe_close(fd);

        saved = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        if (saved < 0) {
                r = -errno;
                (void) unlink(p);
                return r;
        }
        if (unshare(CLONE_NEWNET) < 0) {
                r = -errno;
                (void) unlink(p);
                return r;
        }
        /* From here on this thread is in the new, empty namespace. */
        if (mount("/proc/self/ns/net", p, "none", MS_BIND, NULL) < 0) {
                r = -errno;
                (void) unlink(p);
                return r;
        }
        /* No IPv6 on a lab network: no DAD delays, no router solicitations. This sysctl belongs
         * to the namespace just created. */
        (void) write_string_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
        (void) write_string_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
        r = nl_open(&sk);
        if (r >= 0)
                r = link_up(sk, "lo", 0);
        if (r < 0) {
                netns_leave(&saved);
                (void) netns_remove(name);
                return r;
        }
        return 0;
}

int netns_remove(const char *name) {
        _cleanup_free_ char *p = netns_path(name);

        if (!p)
                return -ENOMEM;
        if (umount2(p, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
                return -errno;
        if (unlink(p) < 0 && errno != ENOENT)
                return -errno;
        (void) netns_run_dir_release();
        return 0;
}

int netns_run_dir_release(void) {
        _cleanup_closedir_ DIR *d = opendir(NETNS_RUN_DIR);
        struct dirent *de;

        if (access(NETNS_MADE_MARKER, F_OK) < 0)
                return 0; /* not ours to remove */
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        return -EBUSY;
        if (umount2(NETNS_RUN_DIR, MNT_DETACH) < 0 && errno != EINVAL)
                return -errno;
        if (rmdir(NETNS_RUN_DIR) < 0 && errno != ENOENT)
                return -errno;
        (void) unlink(NETNS_MADE_MARKER);
        return 0;
}

static int enter_named(const char *ns, int *ret_saved) {
        _cleanup_close_ int fd = netns_open(ns);

        if (fd < 0)
                return fd;
        return netns_enter(fd, ret_saved);
}

int netns_bridge_add(const char *ns, const char *bridge) {
        _cleanup_netns_leave_ int saved = -EBADF;
        _cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
        _cleanup_(rtnl_link_putp) struct rtnl_link *l = NULL;
        int r;

        r = enter_named(ns, &saved);
        if (r < 0)
                return r;
        r = nl_open(&sk);
        if (r < 0)
                return r;
        l = rtnl_link_bridge_alloc();
        if (!l)
                return -ENOMEM;
        rtnl_link_set_name(l, bridge);
        r = rtnl_link_add(sk, l, NLM_F_CREATE | NLM_F_EXCL);
        if (r < 0)
                return nl_errno(r);
        /* A new bridge has STP off; its ports forward at once. */
        return link_up(sk, bridge, 0);
}

static int addr_add(struct nl_sock *sk, const char *ifname, const char *cidr) {
        _cleanup_(rtnl_addr_putp) struct rtnl_addr *a = NULL;
        _cleanup_(nl_addr_putp) struct nl_addr *local = NULL;
        int ifindex, r;

        ifindex = (int) if_nametoindex(ifname);
        if (ifindex <= 0)
                return -ENODEV;
        r = nl_addr_parse(cidr, AF_INET, &local);
        if (r < 0)
                return nl_errno(r);
        a = rtnl_addr_alloc();
        if (!a)
                return -ENOMEM;
        rtnl_addr_set_ifindex(a, ifindex);
        r = rtnl_addr_set_local(a, local);
        if (r < 0)
                return nl_errno(r);
        rtnl_addr_set_prefixlen(a, nl_addr_get_prefixlen(local));
        return nl_errno(rtnl_addr_add(sk, a, 0));
}

int netns_veth_add(const char *ns, const char *bridge, const char *port, const char *peer_ns,
                   const char *peer_name, const char *cidr) {
        _cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
        _cleanup_(rtnl_link_putp) struct rtnl_link *veth = NULL, *br = NULL;
        _cleanup_close_ int peer_fd = -EBADF;
        struct rtnl_link *peer;
        int r;

        peer_fd = netns_open(peer_ns);
        if (peer_fd < 0)
                return peer_fd;

        {
                _cleanup_netns_leave_ int saved = -EBADF;

                r = enter_named(ns, &saved);
                if (r < 0)
                        return r;
                r = nl_open(&sk);
                if (r < 0)
                        return r;
                r = rtnl_link_get_kernel(sk, 0, bridge, &br);
                if (r < 0)
                        return nl_errno(r);
                veth = rtnl_link_veth_alloc();
                if (!veth)
                        return -ENOMEM;
                rtnl_link_set_name(veth, port);
                peer = rtnl_link_veth_get_peer(veth);
                rtnl_link_set_name(peer, peer_name);
                rtnl_link_set_ns_fd(peer, peer_fd);
                rtnl_link_put(peer);
                r = rtnl_link_add(sk, veth, NLM_F_CREATE | NLM_F_EXCL);
                if (r < 0)
                        return nl_errno(r);
                r = link_up(sk, port, rtnl_link_get_ifindex(br));
                if (r < 0)
                        return r;
                nl_socket_free(TAKE_PTR(sk));
        }
        {
                _cleanup_netns_leave_ int saved = -EBADF;

                r = netns_enter(peer_fd, &saved);
                if (r < 0)
                        return r;
                r = nl_open(&sk);
                if (r < 0)
                        return r;
                if (cidr) {
                        r = addr_add(sk, peer_name, cidr);
                        if (r < 0)
                                return r;
                }
                return link_up(sk, peer_name, 0);
        }
}

int netns_tcp_probe(const char *ns, const char *addr, uint16_t port, int timeout_ms) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
        struct pollfd pfd;
        char buf[64];
        int r;

        if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
                return -EINVAL;
        {
                _cleanup_netns_leave_ int saved = -EBADF;

                r = enter_named(ns, &saved);
                if (r < 0)
                        return r;
                /* A socket stays in the namespace it was made in. */
                fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        return -errno;
        }
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                return -errno;
        pfd = (struct pollfd) { .fd = fd, .events = POLLIN };
        r = poll(&pfd, 1, timeout_ms);
        if (r < 0)
                return -errno;
        if (r == 0)
                return -ETIMEDOUT;
        if (read(fd, buf, sizeof buf) <= 0)
                return -ECONNRESET;
        return 0;
}
