/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* CRASH INJECTION for the steps tests — an LD_PRELOAD shim that kills the process (SIGKILL, as
 * a power cut or the OOM killer would) right after its Nth change to the kernel has been made,
 * so a test can check that revert restores the host from the state written before:
 *
 *   MHTEST_CRASH_ON=hugepages   count writes to files named nr_hugepages
 *   MHTEST_CRASH_ON=netlink     count rtnetlink requests that change something (RTM_NEW*,
 *                               RTM_DEL*, RTM_SET*); rtnetlink handles a request inside
 *                               sendmsg(), so the change is done when the call returns
 *   MHTEST_CRASH_AFTER=N        kill after the Nth of those (default 1)
 *
 * The change itself is passed through unchanged to the real kernel (or to another shim). */
#include <dlfcn.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static unsigned counter;

static void count_one(void) {
        const char *n = getenv("MHTEST_CRASH_AFTER");
        unsigned after = n ? (unsigned) strtoul(n, NULL, 10) : 1;

        if (++counter >= after)
                raise(SIGKILL);
}

static bool crash_on(const char *what) {
        const char *on = getenv("MHTEST_CRASH_ON");
        return on && strcmp(on, what) == 0;
}

static bool is_pool_file(int fd) {
        char link[64], path[4096];
        ssize_t k;

        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        k = readlink(link, path, sizeof(path) - 1);
        if (k <= 0)
                return false;
        path[k] = 0;
        return k > 13 && strcmp(path + k - 13, "/nr_hugepages") == 0;
}

static bool is_rtnl_change(int fd, const void *buf, size_t len) {
        struct sockaddr_storage sa = {};
        socklen_t sl = sizeof(sa);
        const struct nlmsghdr *h = buf;
        int proto = 0;
        socklen_t pl = sizeof(proto);

        if (getsockname(fd, (struct sockaddr *) &sa, &sl) < 0 || sa.ss_family != AF_NETLINK)
                return false;
        if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &pl) < 0 || proto != NETLINK_ROUTE)
                return false;
        if (len < sizeof(*h))
                return false;
        /* RTM_NEW* = 4k+0, RTM_DEL* = 4k+1, RTM_GET* = 4k+2, RTM_SET* = 4k+3 */
        return h->nlmsg_type >= RTM_BASE && (h->nlmsg_type - RTM_BASE) % 4 != 2;
}

ssize_t write(int fd, const void *buf, size_t count) {
        static ssize_t (*real)(int, const void *, size_t);
        ssize_t r;

        if (!real)
                real = (ssize_t (*)(int, const void *, size_t)) dlsym(RTLD_NEXT, "write");
        r = real(fd, buf, count);
        if (r >= 0 && crash_on("hugepages") && is_pool_file(fd))
                count_one();
        return r;
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
        static ssize_t (*real)(int, const struct msghdr *, int);
        bool change;
        ssize_t r;

        if (!real)
                real = (ssize_t (*)(int, const struct msghdr *, int)) dlsym(RTLD_NEXT, "sendmsg");
        change = crash_on("netlink") && msg->msg_iovlen > 0 &&
                 is_rtnl_change(fd, msg->msg_iov[0].iov_base, msg->msg_iov[0].iov_len);
        r = real(fd, msg, flags);
        if (r >= 0 && change)
                count_one();
        return r;
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to, socklen_t tl) {
        static ssize_t (*real)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
        bool change;
        ssize_t r;

        if (!real)
                real = (ssize_t (*)(int, const void *, size_t, int, const struct sockaddr *, socklen_t)) dlsym(RTLD_NEXT,
                                                                                                          "sendto");
        change = crash_on("netlink") && is_rtnl_change(fd, buf, len);
        r = real(fd, buf, len, flags, to, tl);
        if (r >= 0 && change)
                count_one();
        return r;
}
