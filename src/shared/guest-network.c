/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "guest-network.h"
#include "fileio.h"
#include "path-util.h"
#include "process-util.h"
#include "string-util.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>

DEFINE_TRIVIAL_CLEANUP_FUNC(xmlDocPtr, xmlFreeDoc);
DEFINE_TRIVIAL_CLEANUP_FUNC(virNetworkPtr, virNetworkFree);
DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put);

#define X(s) BAD_CAST(s)

/* An IPv4 subnet in host byte order. */
typedef struct Subnet {
        uint32_t address; /* the address as given (the guest's, or the gateway's in a network) */
        unsigned prefix;
} Subnet;

static uint32_t subnet_mask(const Subnet *s) {
        return s->prefix == 0 ? 0 : UINT32_MAX << (32 - s->prefix);
}

static bool subnet_contains(const Subnet *s, uint32_t a) {
        return (a & subnet_mask(s)) == (s->address & subnet_mask(s));
}

static int ipv4_parse(const char *s, uint32_t *ret) {
        struct in_addr a;

        if (inet_pton(AF_INET, s, &a) != 1)
                return -EINVAL;
        *ret = ntohl(a.s_addr);
        return 0;
}

static void ipv4_format(uint32_t a, char buf[static INET_ADDRSTRLEN]) {
        struct in_addr x = { .s_addr = htonl(a) };

        inet_ntop(AF_INET, &x, buf, INET_ADDRSTRLEN);
}

static int subnet_parse(const char *cidr, Subnet *ret) {
        _cleanup_free_ char *a = strndup(cidr, strcspn(cidr, "/"));
        const char *slash = strchr(cidr, '/');
        char *end;
        unsigned long p;

        if (!a)
                return -ENOMEM;
        if (!slash || ipv4_parse(a, &ret->address) < 0)
                return -EINVAL;
        errno = 0;
        p = strtoul(slash + 1, &end, 10);
        if (errno || *end || end == slash + 1 || p > 32)
                return -EINVAL;
        ret->prefix = (unsigned) p;
        return 0;
}

/* 32-bit FNV-1a: a stable bridge name for a network name of any length. */
static uint32_t fnv1a(const char *s) {
        uint32_t h = 2166136261u;

        for (; *s; s++)
                h = (h ^ (uint8_t) *s) * 16777619u;
        return h;
}

static int doc_to_string(xmlDocPtr doc, char **ret) {
        xmlChar *mem = NULL;
        int size = 0;

        xmlDocDumpFormatMemory(doc, &mem, &size, 1);
        if (!mem)
                return -ENOMEM;
        *ret = strdup((const char *) mem);
        xmlFree(mem);
        return *ret ? 0 : -ENOMEM;
}

static xmlNodePtr child_with_props(xmlNodePtr parent, const char *name, const char *a1, const char *v1,
                                   const char *a2, const char *v2) {
        xmlNodePtr n = xmlNewChild(parent, NULL, X(name), NULL);

        if (!n || (a1 && !xmlNewProp(n, X(a1), X(v1))) || (a2 && !xmlNewProp(n, X(a2), X(v2))))
                return NULL;
        return n;
}

int guest_network_xml(const char *name, const char *cidr, char **ret) {
        _cleanup_(xmlFreeDocp) xmlDocPtr doc = xmlNewDoc(X("1.0"));
        char gw[INET_ADDRSTRLEN], lo[INET_ADDRSTRLEN], hi[INET_ADDRSTRLEN], prefix[4], bridge[16];
        uint32_t net, bcast, size;
        xmlNodePtr root, ip, dhcp;
        Subnet s;

        if (!doc)
                return -ENOMEM;
        if (subnet_parse(cidr, &s) < 0 || s.prefix > 30)
                return -EINVAL;
        net = s.address & subnet_mask(&s);
        size = s.prefix == 0 ? 0 : UINT32_C(1) << (32 - s.prefix);
        bcast = net + size - 1;
        if (s.address == net || s.address == bcast || s.address == net + 1)
                return -EINVAL;
        ipv4_format(net + 1, gw);
        ipv4_format(MAX(net + size / 2, net + 2), lo);
        ipv4_format(bcast - 1, hi);
        snprintf(prefix, sizeof(prefix), "%u", s.prefix);
        snprintf(bridge, sizeof(bridge), "mhbr-%08x", fnv1a(name));

        root = xmlNewNode(NULL, X("network"));
        if (!root)
                return -ENOMEM;
        xmlDocSetRootElement(doc, root);
        if (!xmlNewTextChild(root, NULL, X("name"), X(name)) ||
            !child_with_props(root, "forward", "mode", "nat", NULL, NULL) ||
            !child_with_props(root, "bridge", "name", bridge, "stp", "off") ||
            !(ip = child_with_props(root, "ip", "address", gw, "prefix", prefix)) ||
            !(dhcp = xmlNewChild(ip, NULL, X("dhcp"), NULL)) ||
            !child_with_props(dhcp, "range", "start", lo, "end", hi))
                return -ENOMEM;
        return doc_to_string(doc, ret);
}

int guest_network_host_xml(const char *mac, const char *ip, char **ret) {
        _cleanup_(xmlFreeDocp) xmlDocPtr doc = xmlNewDoc(X("1.0"));
        xmlBufferPtr buf;
        xmlNodePtr n;

        if (!doc || !(n = xmlNewNode(NULL, X("host"))))
                return -ENOMEM;
        xmlDocSetRootElement(doc, n);
        if (!xmlNewProp(n, X("mac"), X(mac)) || !xmlNewProp(n, X("ip"), X(ip)))
                return -ENOMEM;
        /* the element alone, without an XML declaration: what virNetworkUpdate() takes */
        buf = xmlBufferCreate();
        if (!buf)
                return -ENOMEM;
        *ret = xmlNodeDump(buf, doc, n, 0, 0) >= 0 ? strdup((const char *) xmlBufferContent(buf)) : NULL;
        xmlBufferFree(buf);
        return *ret ? 0 : -ENOMEM;
}

static const char *virt_error(void) {
        virErrorPtr e = virGetLastError();
        return e && e->message ? e->message : "unknown libvirt error";
}

static char *prop(xmlNodePtr n, const char *name) {
        xmlChar *v = xmlGetProp(n, X(name));
        char *s = v ? strdup((const char *) v) : NULL;

        xmlFree(v);
        return s;
}

static bool is_element(xmlNodePtr n, const char *name) {
        return n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, X(name));
}

/* The subnet of an <ip> element (address with prefix= or netmask=); -EINVAL if not IPv4. */
static int ip_element_subnet(xmlNodePtr ip, Subnet *ret) {
        _cleanup_free_ char *family = prop(ip, "family"), *address = prop(ip, "address"),
                            *prefix = prop(ip, "prefix"), *netmask = prop(ip, "netmask");
        uint32_t mask;

        if ((family && !streq(family, "ipv4")) || !address || ipv4_parse(address, &ret->address) < 0)
                return -EINVAL;
        if (prefix) {
                char *end;
                unsigned long p = strtoul(prefix, &end, 10);
                if (*end || p > 32)
                        return -EINVAL;
                ret->prefix = (unsigned) p;
                return 0;
        }
        if (!netmask || ipv4_parse(netmask, &mask) < 0)
                return -EINVAL;
        ret->prefix = (unsigned) __builtin_popcount(mask);
        return 0;
}

typedef enum ReservationCheck {
        RESERVATION_MISSING,
        RESERVATION_PRESENT,
} ReservationCheck;

/* Find the <ip> of the network's XML whose subnet holds address; *ret_index is its position
 * among the <ip> elements (virNetworkUpdate()'s parentIndex). Then whether its DHCP already
 * reserves address for mac, or reserves either for something else. */
static int network_check(const char *xml, const char *network, uint32_t address, const char *addr_str,
                         const char *mac, int *ret_index, ReservationCheck *ret_check, char **ret_reason) {
        _cleanup_(xmlFreeDocp) xmlDocPtr doc =
                xmlReadMemory(xml, (int) strlen(xml), NULL, NULL,
                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
        int index = 0;

        if (!root)
                return -EBADMSG;
        for (xmlNodePtr ip = root->children; ip; ip = ip->next) {
                xmlNodePtr dhcp = NULL;
                Subnet s;

                if (!is_element(ip, "ip"))
                        continue;
                if (ip_element_subnet(ip, &s) < 0 || !subnet_contains(&s, address)) {
                        index++;
                        continue;
                }
                for (xmlNodePtr c = ip->children; c; c = c->next)
                        if (is_element(c, "dhcp"))
                                dhcp = c;
                if (!dhcp) {
                        (void) asprintf_safe(ret_reason,
                                             "libvirt network %s serves no DHCP on the subnet of %s",
                                             network, addr_str);
                        return -EOPNOTSUPP;
                }
                *ret_check = RESERVATION_MISSING;
                for (xmlNodePtr h = dhcp->children; h; h = h->next) {
                        _cleanup_free_ char *hmac = NULL, *hip = NULL;

                        if (!is_element(h, "host"))
                                continue;
                        hmac = prop(h, "mac");
                        hip = prop(h, "ip");
                        bool same_mac = hmac && strcasecmp(hmac, mac) == 0,
                             same_ip = hip && streq(hip, addr_str);
                        if (same_mac && same_ip)
                                *ret_check = RESERVATION_PRESENT;
                        else if (same_mac || same_ip) {
                                (void) asprintf_safe(
                                        ret_reason, "libvirt network %s already reserves %s for %s", network,
                                        same_mac ? strna(hip) : addr_str, same_mac ? mac : strna(hmac));
                                return -EADDRINUSE;
                        }
                }
                *ret_index = index;
                return 0;
        }
        (void) asprintf_safe(ret_reason, "libvirt network %s has no IPv4 subnet that holds %s", network,
                             addr_str);
        return -EADDRNOTAVAIL;
}

/* /run/mhtest/networks/NETWORK.json: {"created": bool, "started": bool,
 * "hosts": [{"domain", "mac", "ip", "added"}]} */
static int state_file(const char *root, const char *network, char **ret) {
        _cleanup_free_ char *p = strjoin(GUEST_NETWORK_STATE_DIR "/", network, ".json");

        if (!p)
                return -ENOMEM;
        *ret = path_prefix_root(root, p);
        return *ret ? 0 : -ENOMEM;
}

static json_object *state_read(const char *path) {
        _cleanup_free_ char *s = NULL;
        json_object *o;

        if (read_full_file(path, &s, NULL) >= 0 && (o = json_tokener_parse(s)) &&
            json_object_is_type(o, json_type_object))
                return o;
        o = json_object_new_object();
        if (o)
                json_object_object_add(o, "hosts", json_object_new_array());
        return o;
}

static int state_write(const char *path, json_object *o) {
        const char *s =
                json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        int r;

        if (!s)
                return -ENOMEM;
        r = mkdir_parents(path, 0755);
        return r < 0 ? r : write_file_atomic(path, s, 0600);
}

static bool state_bool(json_object *o, const char *key) {
        json_object *v;

        return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

static const char *state_str(json_object *o, const char *key) {
        json_object *v;

        return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static json_object *state_hosts(json_object *o) {
        json_object *v;

        if (json_object_object_get_ex(o, "hosts", &v) && json_object_is_type(v, json_type_array))
                return v;
        v = json_object_new_array();
        json_object_object_add(o, "hosts", v);
        return v;
}

/* Serializes reserve and release among the guests of this host. */
static int lock_networks(const char *root) {
        _cleanup_free_ char *p = path_prefix_root(root, GUEST_NETWORK_STATE_DIR "/.lock");
        int fd, r;

        if (!p)
                return -ENOMEM;
        r = mkdir_parents(p, 0755);
        if (r < 0)
                return r;
        fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        if (flock(fd, LOCK_EX) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static unsigned update_flags(virNetworkPtr net) {
        /* A reservation lives as long as the running network; a persistent network's definition
         * stays as its owner wrote it. */
        return VIR_NETWORK_UPDATE_AFFECT_LIVE;
}

int guest_network_reserve(virConnectPtr conn, const char *root, const char *network, const char *cidr,
                          const char *mac, const char *domain, char **ret_reason) {
        _cleanup_(virNetworkFreep) virNetworkPtr net = NULL;
        _cleanup_(json_object_putp) json_object *state = NULL;
        _cleanup_free_ char *path = NULL, *xml = NULL, *host = NULL, *addr = NULL;
        _cleanup_close_ int lock = -EBADF;
        ReservationCheck check = RESERVATION_MISSING;
        json_object *entry;
        Subnet s;
        int index = -1, r;

        if (subnet_parse(cidr, &s) < 0)
                return -EINVAL;
        addr = strndup(cidr, strcspn(cidr, "/"));
        if (!addr)
                return -ENOMEM;
        r = state_file(root, network, &path);
        if (r < 0)
                return r;
        lock = lock_networks(root);
        if (lock < 0)
                return lock;
        state = state_read(path);
        if (!state)
                return -ENOMEM;

        net = virNetworkLookupByName(conn, network);
        if (!net) {
                _cleanup_free_ char *def = NULL;

                r = guest_network_xml(network, cidr, &def);
                if (r < 0) {
                        (void) asprintf_safe(
                                ret_reason,
                                "cannot make a network for %s: a subnet with room for a "
                                "gateway (its first address), a DHCP range and the guest is needed",
                                cidr);
                        return r;
                }
                /* transient: gone with libvirtd's state at a reboot, as is /run/mhtest */
                net = virNetworkCreateXML(conn, def);
                if (!net) {
                        (void) asprintf_safe(ret_reason, "cannot create libvirt network %s: %s", network,
                                             virt_error());
                        return -EIO;
                }
                json_object_object_add(state, "created", json_object_new_boolean(true));
                /* record it at once: a failure below still gets it removed */
                (void) state_write(path, state);
        } else if (virNetworkIsActive(net) == 0) {
                if (virNetworkCreate(net) < 0) {
                        (void) asprintf_safe(ret_reason, "cannot start libvirt network %s: %s", network,
                                             virt_error());
                        return -EIO;
                }
                json_object_object_add(state, "started", json_object_new_boolean(true));
                (void) state_write(path, state);
        }

        xml = virNetworkGetXMLDesc(net, 0);
        if (!xml) {
                (void) asprintf_safe(ret_reason, "cannot read libvirt network %s: %s", network,
                                     virt_error());
                return -EIO;
        }
        r = network_check(xml, network, s.address, addr, mac, &index, &check, ret_reason);
        if (r < 0)
                return r;
        if (check == RESERVATION_MISSING) {
                r = guest_network_host_xml(mac, addr, &host);
                if (r < 0)
                        return r;
                if (virNetworkUpdate(net, VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
                                     VIR_NETWORK_SECTION_IP_DHCP_HOST, index, host, update_flags(net)) < 0) {
                        (void) asprintf_safe(ret_reason,
                                             "cannot add the DHCP reservation %s to libvirt network %s: %s",
                                             host, network, virt_error());
                        return -EIO;
                }
        }

        /* reserved again for the same domain (its service restarted and adopted it): one entry */
        for (size_t i = 0; i < json_object_array_length(state_hosts(state)); i++) {
                json_object *h = json_object_array_get_idx(state_hosts(state), i);
                if (streq_ptr(state_str(h, "domain"), domain) && streq_ptr(state_str(h, "mac"), mac) &&
                    streq_ptr(state_str(h, "ip"), addr))
                        return state_write(path, state);
        }

        entry = json_object_new_object();
        if (!entry)
                return -ENOMEM;
        json_object_object_add(entry, "domain", json_object_new_string(domain));
        json_object_object_add(entry, "mac", json_object_new_string(mac));
        json_object_object_add(entry, "ip", json_object_new_string(addr));
        /* a reservation that was there already (the network's owner made it) stays */
        json_object_object_add(entry, "added", json_object_new_boolean(check == RESERVATION_MISSING));
        json_object_array_add(state_hosts(state), entry);
        return state_write(path, state);
}

/* Release domain's reservations on one network (state file path); 0 or the count released. */
static int release_one(virConnectPtr conn, const char *network, const char *path, const char *domain) {
        _cleanup_(virNetworkFreep) virNetworkPtr net = NULL;
        _cleanup_(json_object_putp) json_object *state = state_read(path);
        json_object *hosts, *kept;
        int n = 0, r = 0;

        if (!state)
                return -ENOMEM;
        hosts = state_hosts(state);
        kept = json_object_new_array();
        if (!kept)
                return -ENOMEM;
        net = virNetworkLookupByName(conn, network);
        for (size_t i = 0; i < json_object_array_length(hosts); i++) {
                json_object *h = json_object_array_get_idx(hosts, i);
                const char *mac = state_str(h, "mac"), *ip = state_str(h, "ip");
                _cleanup_free_ char *xml = NULL;

                if (!streq_ptr(state_str(h, "domain"), domain)) {
                        json_object_array_add(kept, json_object_get(h));
                        continue;
                }
                n++;
                if (!state_bool(h, "added") || !net || !mac || !ip)
                        continue;
                if (guest_network_host_xml(mac, ip, &xml) < 0 ||
                    virNetworkUpdate(net, VIR_NETWORK_UPDATE_COMMAND_DELETE,
                                     VIR_NETWORK_SECTION_IP_DHCP_HOST, -1, xml, update_flags(net)) < 0)
                        r = r < 0 ? r : -EIO;
        }
        json_object_object_add(state, "hosts", kept);
        if (json_object_array_length(kept) > 0)
                return r < 0 ? r : (state_write(path, state) < 0 ? -EIO : n);

        /* No mhtest guest uses it any more: take back what mhtest did to it. */
        if (net && (state_bool(state, "created") || state_bool(state, "started")) &&
            virNetworkIsActive(net) == 1 && virNetworkDestroy(net) < 0)
                r = r < 0 ? r : -EIO;
        if (unlink(path) < 0 && errno != ENOENT)
                r = r < 0 ? r : -errno;
        return r < 0 ? r : n;
}

int guest_network_release(virConnectPtr conn, const char *root, const char *domain) {
        _cleanup_free_ char *dir = path_prefix_root(root, GUEST_NETWORK_STATE_DIR);
        _cleanup_close_ int lock = -EBADF;
        DIR *d;
        struct dirent *de;
        int n = 0, r = 0;

        if (!dir)
                return -ENOMEM;
        if (!dir_exists(dir))
                return 0;
        lock = lock_networks(root);
        if (lock < 0)
                return lock;
        d = opendir(dir);
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                _cleanup_free_ char *network = NULL, *path = NULL;
                int k;

                if (de->d_name[0] == '.' || !endswith(de->d_name, ".json"))
                        continue;
                network = strndup(de->d_name, strlen(de->d_name) - strlen(".json"));
                path = strjoin(dir, "/", de->d_name);
                if (!network || !path) {
                        r = -ENOMEM;
                        break;
                }
                k = release_one(conn, network, path, domain);
                if (k < 0 && r == 0)
                        r = k;
                else if (k > 0)
                        n += k;
        }
        closedir(d);
        return r < 0 ? r : n;
}

static int first_ipv4(virDomainInterfacePtr *ifaces, int n, const char *mac, char **ret) {
        for (int i = 0; i < n; i++) {
                if (mac && (!ifaces[i]->hwaddr || strcasecmp(ifaces[i]->hwaddr, mac) != 0))
                        continue;
                for (unsigned k = 0; k < ifaces[i]->naddrs; k++)
                        if (ifaces[i]->addrs[k].type == VIR_IP_ADDR_TYPE_IPV4 && ifaces[i]->addrs[k].addr) {
                                *ret = strdup(ifaces[i]->addrs[k].addr);
                                return *ret ? 0 : -ENOMEM;
                        }
        }
        return -ENODATA;
}

int guest_management_address(virDomainPtr dom, const char *mac, char **ret) {
        static const unsigned sources[] = { VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE,
                                            VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT };
        int r = -ENODATA;

        for (size_t s = 0; s < ELEMENTSOF(sources) && r == -ENODATA; s++) {
                virDomainInterfacePtr *ifaces = NULL;
                int n = virDomainInterfaceAddresses(dom, &ifaces, sources[s], 0);

                if (n < 0)
                        continue; /* no agent in the guest, or not connected yet */
                r = first_ipv4(ifaces, n, mac, ret);
                for (int i = 0; i < n; i++)
                        virDomainInterfaceFree(ifaces[i]);
                free(ifaces);
        }
        return r;
}

static int find_socket_proxyd(char **ret) {
        static const char *const paths[] = { "/usr/lib/systemd/systemd-socket-proxyd",
                                             "/lib/systemd/systemd-socket-proxyd" };

        for (size_t i = 0; i < ELEMENTSOF(paths); i++)
                if (access(paths[i], X_OK) >= 0) {
                        *ret = strdup(paths[i]);
                        return *ret ? 0 : -ENOMEM;
                }
        return -ENOENT;
}

int guest_ssh_forward_start(unsigned port, const char *address, unsigned target_port, pid_t *ret_pid) {
        _cleanup_free_ char *proxyd = NULL, *target = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_in6 sa = { .sin6_family = AF_INET6,
                                   .sin6_port = htons((uint16_t) port),
                                   .sin6_addr = IN6ADDR_ANY_INIT };
        int one = 1, zero = 0, r;
        pid_t pid;

        if (port == 0 || port > 65535 || target_port == 0 || target_port > 65535)
                return -EINVAL;
        r = find_socket_proxyd(&proxyd);
        if (r < 0)
                return r;
        if (asprintf_safe(&target, "%s:%u", address, target_port) < 0)
                return -ENOMEM;
        /* every address, IPv4 and IPv6, as the seed's "{host}:2222" */
        fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0 ||
            bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, SOMAXCONN) < 0)
                return -errno;

        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                char pidstr[32];
                sigset_t ss;
                char *argv[] = { proxyd, target, NULL };

                sigemptyset(&ss);
                sigprocmask(SIG_SETMASK, &ss, NULL);
                /* socket activation: the listening socket is fd 3, for this very process */
                if (fd == 3)
                        (void) fcntl(fd, F_SETFD, 0);
                else if (dup2(fd, 3) < 0)
                        _exit(127);
                snprintf(pidstr, sizeof(pidstr), "%d", (int) getpid());
                if (setenv("LISTEN_FDS", "1", 1) < 0 || setenv("LISTEN_PID", pidstr, 1) < 0)
                        _exit(127);
                unsetenv("LISTEN_FDNAMES");
                unsetenv("NOTIFY_SOCKET"); /* the guest's service notifies, not the proxy */
                unsetenv("WATCHDOG_PID");
                unsetenv("WATCHDOG_USEC");
                execv(proxyd, argv);
                _exit(127);
        }
        *ret_pid = pid;
        return 0;
}

int guest_ssh_forward_stop(pid_t pid) {
        int r;

        if (pid <= 0)
                return 0;
        if (kill(pid, SIGTERM) < 0 && errno != ESRCH)
                return -errno;
        r = wait_for_exit(pid);
        return r < 0 ? r : 0;
}
