/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <inttypes.h>
#include "fileio.h"
#include "path-util.h"
#include "state.h"
#include "string-util.h"
#include "strv.h"
#include "testpmd.h"

static const char *const testpmd_port_kind_table[_TESTPMD_PORT_KIND_MAX] = {
        [TESTPMD_PORT_VHOST_USER] = "vhost-user",
        [TESTPMD_PORT_VFIO] = "vfio",
        [TESTPMD_PORT_NULL] = "null",
        [TESTPMD_PORT_RING] = "ring",
        [TESTPMD_PORT_VIRTIO_USER] = "virtio-user",
};

DEFINE_STRING_TABLE_LOOKUP(testpmd_port_kind, TestpmdPortKind);

void testpmd_ports_free(TestpmdPort *p, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(p[i].spec);
                free(p[i].arg);
                free(p[i].device);
                free(p[i].socket);
        }
        free(p);
}

int testpmd_ports_parse(char * const *specs, const char *socket_dir, TestpmdPort **ret, size_t *ret_n) {
        size_t n = strv_length(specs), n_virtio = 0;
        TestpmdPort *ports = calloc(n ?: 1, sizeof(TestpmdPort));
        int r = -ENOMEM;

        if (!ports)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                TestpmdPort *p = &ports[i];
                const char *colon = strchr(specs[i], ':');
                _cleanup_free_ char *kind = NULL;

                if (!colon || !colon[1]) {
                        r = -EINVAL;
                        goto fail;
                }
                kind = strndup(specs[i], colon - specs[i]);
                p->spec = strdup(specs[i]);
                p->arg = strdup(colon + 1);
                if (!kind || !p->spec || !p->arg)
                        goto fail;
                p->kind = testpmd_port_kind_from_string(kind);
                switch (p->kind) {
                case TESTPMD_PORT_VHOST_USER:
                        if (!unit_instance_name_valid(p->arg)) {
                                r = -EINVAL;
                                goto fail;
                        }
                        p->device = strjoin("net_vhost_", p->arg);
                        p->socket = strjoin(socket_dir, "/", p->arg, ".sock");
                        if (!p->socket)
                                goto fail;
                        break;
                case TESTPMD_PORT_NULL:
                case TESTPMD_PORT_RING:
                        if (!unit_instance_name_valid(p->arg)) {
                                r = -EINVAL;
                                goto fail;
                        }
                        p->device = strjoin(p->kind == TESTPMD_PORT_NULL ? "net_null_" : "net_ring_", p->arg);
                        break;
                case TESTPMD_PORT_VFIO:
                        r = pci_address_normalize(p->arg, &p->device);
                        if (r < 0)
                                goto fail;
                        break;
                case TESTPMD_PORT_VIRTIO_USER:
                        if (!path_is_normalized_absolute(p->arg)) {
                                r = -EINVAL;
                                goto fail;
                        }
                        /* a path is no device name: number them */
                        if (asprintf_safe(&p->device, "net_virtio_user%zu", n_virtio++) < 0)
                                goto fail;
                        p->socket = strdup(p->arg);
                        if (!p->socket)
                                goto fail;
                        break;
                default:
                        r = -EINVAL;
                        goto fail;
                }
                if (!p->device) {
                        r = -ENOMEM;
                        goto fail;
                }
                r = -ENOMEM;
        }
        *ret = ports;
        *ret_n = n;
        return 0;
fail:
        testpmd_ports_free(ports, n);
        return r;
}

int testpmd_file_prefix(const char *job, char **ret) {
        *ret = strjoin("mhtest-", job);
        return *ret ? 0 : -ENOMEM;
}

const char *testpmd_start_command(const TestpmdSection *s) {
        return s->tx_first ? "start tx_first" : "start";
}

#define ADD(...)                                                                \
        do {                                                                    \
                char *_s_;                                                      \
                if (asprintf_safe(&_s_, __VA_ARGS__) < 0 || strv_consume(&argv, _s_) < 0) \
                        return -ENOMEM;                                         \
        } while (0)

int testpmd_build_argv(const TestpmdSection *s, const TestpmdPort *ports, size_t n_ports,
                       const TestpmdLaunch *l, char ***ret) {
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *lcores = NULL, *fwd = NULL;
        uint64_t memory_mb = (s->memory + (1 << 20) - 1) >> 20;
        unsigned n_forward = cpu_set_count(l->forward), queues = MAX(s->rx_queues, s->tx_queues);
        bool any_pci = false;
        int r;

        if (n_forward == 0 || cpu_set_isset(l->forward, l->main_lcore))
                return -EINVAL;
        r = cpu_set_format(l->forward, &fwd);
        if (r < 0)
                return r;

        ADD("%s", l->binary);
        /* -l: main lcore first so --main-lcore names one of the list */
        ADD("-l");
        ADD("%u,%s", l->main_lcore, fwd);
        ADD("--main-lcore=%u", l->main_lcore);
        ADD("--file-prefix=%s", l->file_prefix);
        if (l->hugepages) {
                if (l->huge_dir)
                        ADD("--huge-dir=%s", l->huge_dir);
                /* map files unlinked right after mapping: a killed testpmd leaves no
                 * rtemap_* behind that would keep the job's pages from being reverted */
                ADD("--huge-unlink");
                if (l->numa_node >= 0 && l->n_numa_nodes > 1) {
                        /* "--socket-mem 0,1024": only the NICs' node gets memory */
                        _cleanup_free_ char *sm = NULL;
                        for (unsigned i = 0; i < l->n_numa_nodes; i++) {
                                char *x;
                                if (asprintf_safe(&x, "%s%s%" PRIu64, strempty(sm), i > 0 ? "," : "",
                                                  (int) i == l->numa_node ? memory_mb : 0) < 0)
                                        return -ENOMEM;
                                free(sm);
                                sm = x;
                        }
                        ADD("--socket-mem=%s", sm);
                } else
                        ADD("--socket-mem=%" PRIu64, memory_mb);
        } else {
                ADD("--no-huge");
                ADD("-m");
                ADD("%" PRIu64, memory_mb);
        }
        for (size_t i = 0; i < n_ports; i++)
                if (ports[i].kind == TESTPMD_PORT_VFIO) {
                        ADD("-a");
                        ADD("%s", ports[i].device);
                        any_pci = true;
                }
        /* never let DPDK probe whatever PCI device it finds: only the vfio step's devices */
        if (!any_pci)
                ADD("--no-pci");
        for (size_t i = 0; i < n_ports; i++) {
                const TestpmdPort *p = &ports[i];
                switch (p->kind) {
                case TESTPMD_PORT_VHOST_USER:
                        ADD("--vdev");
                        ADD("%s,iface=%s,queues=%u%s", p->device, p->socket, queues,
                            s->vhost_user_mode == VHOST_USER_CLIENT ? ",client=1" : "");
                        break;
                case TESTPMD_PORT_NULL:
                case TESTPMD_PORT_RING:
                        ADD("--vdev");
                        ADD("%s", p->device);
                        break;
                case TESTPMD_PORT_VIRTIO_USER:
                        ADD("--vdev");
                        ADD("%s,path=%s,queues=%u", p->device, p->socket, queues);
                        break;
                default:
                        break;
                }
        }
        if (strv_extend_strv(&argv, s->extra_eal_arguments) < 0)
                return -ENOMEM;

        ADD("--");
        if (l->interactive)
                ADD("-i");
        else
                ADD("--stats-period=%u", MAX(l->stats_period, 1u));
        ADD("--forward-mode=%s", s->forward_mode ?: "io");
        ADD("--nb-cores=%u", n_forward);
        ADD("--rxq=%u", s->rx_queues);
        ADD("--txq=%u", s->tx_queues);
        if (s->rx_descriptors > 0)
                ADD("--rxd=%u", s->rx_descriptors);
        if (s->tx_descriptors > 0)
                ADD("--txd=%u", s->tx_descriptors);
        if (s->total_mbufs > 0)
                ADD("--total-num-mbufs=%u", s->total_mbufs);
        if (!l->interactive && s->tx_first)
                ADD("--tx-first");
        if (strv_extend_strv(&argv, s->extra_arguments) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(argv);
        return 0;
}

#undef ADD

/* ---- telemetry ---- */

int testpmd_running_cpus(const char *root, const char *skip_job, CPUSet *ret, char ***ret_owners) {
        _cleanup_free_ char *runbase = path_prefix_root(root, "/run/mhtest");
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_(cpu_set_done) CPUSet s = {};
        _cleanup_strv_free_ char **owners = NULL;
        struct dirent *de;

        if (!runbase)
                return -ENOMEM;
        d = opendir(runbase);
        while (d && (de = readdir(d))) {
                _cleanup_free_ char *p = NULL, *text = NULL;
                _cleanup_json_ json_object *o = NULL;
                _cleanup_(cpu_set_done) CPUSet other = {};
                json_object *x, *pidv;

                if (de->d_name[0] == '.' || streq_ptr(de->d_name, skip_job))
                        continue;
                if (asprintf_safe(&p, "%s/%s/testpmd.json", runbase, de->d_name) < 0)
                        return -ENOMEM;
                if (read_full_file(p, &text, NULL) < 0)
                        continue;
                o = json_tokener_parse(text);
                if (!o || !json_object_object_get_ex(o, "forward_cores", &x) ||
                    !json_object_object_get_ex(o, "pid", &pidv))
                        continue;
                if (kill((pid_t) json_object_get_int(pidv), 0) < 0 && errno == ESRCH)
                        continue; /* stale */
                if (cpu_set_parse(json_object_get_string(x), &other) < 0)
                        continue;
                CPU_SET_FOREACH(c, &other) {
                        if (cpu_set_add(&s, c) < 0 || (ret_owners && strv_extend(&owners, de->d_name) < 0))
                                return -ENOMEM;
                }
        }
        *ret = s;
        s = (CPUSet) {};
        if (ret_owners)
                *ret_owners = TAKE_PTR(owners);
        return 0;
}

int testpmd_reserved_cpus(const char *root, const JobConfig *j, CPUSet *ret, char ***ret_owners) {
        _cleanup_(cpu_set_done) CPUSet s = {};
        int r;

        r = testpmd_running_cpus(root, j->name, &s, ret_owners);
        if (r < 0)
                return r;
        for (size_t i = 0; i < j->n_guests; i++) {
                const GuestSection *g = j->guests[i];
                CPU_SET_FOREACH(c, &g->vcpu_pinning.cpus)
                        if (cpu_set_add(&s, c) < 0)
                                return -ENOMEM;
                CPU_SET_FOREACH(c, &g->emulator_pinning.cpus)
                        if (cpu_set_add(&s, c) < 0)
                                return -ENOMEM;
        }
        *ret = s;
        s = (CPUSet) {};
        return 0;
}

int telemetry_runtime_dir(const char *file_prefix, char **ret) {
        const char *base = "/var/run";

        if (getuid() != 0) {
                const char *x = getenv("XDG_RUNTIME_DIR");
                base = x && *x ? x : "/tmp";
        }
        *ret = strjoin(base, "/dpdk/", file_prefix);
        return *ret ? 0 : -ENOMEM;
}

int telemetry_socket_path(const char *file_prefix, char **ret) {
        _cleanup_free_ char *d = NULL;
        int r = telemetry_runtime_dir(file_prefix, &d);

        if (r < 0)
                return r;
        *ret = strjoin(d, "/dpdk_telemetry.v2");
        return *ret ? 0 : -ENOMEM;
}

void telemetry_close(TelemetryClient *c) {
        if (!c)
                return;
        if (c->fd >= 0)
                close(c->fd);
        free(c->version);
        free(c);
}

static int recv_message(TelemetryClient *c, uint64_t timeout_usec, char **ret, size_t *ret_size) {
        /* one SOCK_SEQPACKET record per reply, at most max_output_len plus the key */
        size_t size = (c->max_output_len ?: 16384) + 4096;
        _cleanup_free_ char *buf = malloc(size + 1);
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
        ssize_t k;
        int r;

        if (!buf)
                return -ENOMEM;
        r = RET_NERRNO(poll(&pfd, 1, (int) (timeout_usec / 1000)));
        if (r < 0)
                return r;
        if (r == 0)
                return -ETIMEDOUT;
        k = recv(c->fd, buf, size, MSG_TRUNC);
        if (k < 0)
                return -errno;
        if (k == 0)
                return -ECONNRESET;
        if ((size_t) k > size)
                return -EMSGSIZE;
        buf[k] = 0;
        *ret = TAKE_PTR(buf);
        *ret_size = k;
        return 0;
}

int telemetry_parse_greeting(const char *text, size_t size, char **ret_version, size_t *ret_max_output_len) {
        _cleanup_json_ json_object *o = NULL;
        json_object *v;
        struct json_tokener *tok = json_tokener_new();

        if (!tok)
                return -ENOMEM;
        o = json_tokener_parse_ex(tok, text, (int) size);
        json_tokener_free(tok);
        if (!o || !json_object_is_type(o, json_type_object))
                return -EBADMSG;
        if (!json_object_object_get_ex(o, "max_output_len", &v) || !json_object_is_type(v, json_type_int) ||
            json_object_get_int64(v) <= 0)
                return -EBADMSG;
        *ret_max_output_len = json_object_get_int64(v);
        if (ret_version) {
                *ret_version = json_object_object_get_ex(o, "version", &v) ? strdup(json_object_get_string(v))
                                                                          : strdup("unknown");
                if (!*ret_version)
                        return -ENOMEM;
        }
        return 0;
}

int telemetry_open(const char *path, uint64_t timeout_usec, TelemetryClient **ret) {
        _cleanup_(telemetry_closep) TelemetryClient *c = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_free_ char *greeting = NULL;
        size_t n;
        int r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        c = calloc(1, sizeof(TelemetryClient));
        if (!c)
                return -ENOMEM;
        c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
                return -errno;
        if (connect(c->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        r = recv_message(c, timeout_usec, &greeting, &n);
        if (r < 0)
                return r;
        r = telemetry_parse_greeting(greeting, n, &c->version, &c->max_output_len);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

int telemetry_parse_reply(const char *command, const char *text, size_t size, json_object **ret) {
        _cleanup_json_ json_object *o = NULL;
        _cleanup_free_ char *key = strndup(command, strcspn(command, ","));
        struct json_tokener *tok = json_tokener_new();
        json_object *v;

        if (!tok || !key) {
                if (tok)
                        json_tokener_free(tok);
                return -ENOMEM;
        }
        if (size == SIZE_MAX)
                size = strlen(text);
        o = json_tokener_parse_ex(tok, text, (int) size);
        json_tokener_free(tok);
        if (!o || !json_object_is_type(o, json_type_object))
                return -EBADMSG;
        if (!json_object_object_get_ex(o, key, &v))
                return -EBADMSG;
        if (!v)
                return -ENOENT;
        *ret = json_object_get(v);
        return 0;
}

int telemetry_query(TelemetryClient *c, const char *command, json_object **ret) {
        _cleanup_free_ char *reply = NULL;
        size_t n;
        int r;

        if (send(c->fd, command, strlen(command), MSG_NOSIGNAL) < 0)
                return -errno;
        r = recv_message(c, 1000000, &reply, &n);
        if (r < 0)
                return r;
        return telemetry_parse_reply(command, reply, n, ret);
}

void ethdev_info_done(EthdevInfo *i) {
        free(i->name);
        free(i->mac);
        *i = (EthdevInfo) {};
}

int ethdev_list_parse(json_object *v, unsigned **ret, size_t *ret_n) {
        _cleanup_free_ unsigned *ids = NULL;
        size_t n;

        if (!json_object_is_type(v, json_type_array))
                return -EBADMSG;
        n = json_object_array_length(v);
        ids = calloc(n ?: 1, sizeof(unsigned));
        if (!ids)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(v, i);
                if (!json_object_is_type(e, json_type_int) || json_object_get_int64(e) < 0)
                        return -EBADMSG;
                ids[i] = (unsigned) json_object_get_int64(e);
        }
        *ret = TAKE_PTR(ids);
        *ret_n = n;
        return 0;
}

static int get_u64(json_object *o, const char *key, uint64_t *ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
                return -EBADMSG;
        *ret = json_object_get_uint64(v);
        return 0;
}

int ethdev_stats_parse(json_object *v, EthdevStats *ret) {
        EthdevStats s = {};
        const struct {
                const char *key;
                uint64_t *field;
        } fields[] = {
                { "ipackets", &s.ipackets }, { "opackets", &s.opackets },   { "ibytes", &s.ibytes },
                { "obytes", &s.obytes },     { "imissed", &s.imissed },     { "ierrors", &s.ierrors },
                { "oerrors", &s.oerrors },   { "rx_nombuf", &s.rx_nombuf },
        };

        if (!json_object_is_type(v, json_type_object))
                return -EBADMSG;
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                if (get_u64(v, fields[i].key, fields[i].field) < 0)
                        return -EBADMSG;
        *ret = s;
        return 0;
}

int ethdev_info_parse(json_object *v, EthdevInfo *ret) {
        _cleanup_(ethdev_info_done) EthdevInfo i = { .numa_node = -1 };
        json_object *x;
        uint64_t u;

        if (!json_object_is_type(v, json_type_object))
                return -EBADMSG;
        if (!json_object_object_get_ex(v, "name", &x) || !json_object_is_type(x, json_type_string))
                return -EBADMSG;
        i.name = strdup(json_object_get_string(x));
        if (!i.name)
                return -ENOMEM;
        if (get_u64(v, "port_id", &u) < 0)
                return -EBADMSG;
        i.port_id = (unsigned) u;
        if (get_u64(v, "dev_started", &u) < 0)
                return -EBADMSG;
        i.started = u != 0;
        if (json_object_object_get_ex(v, "numa_node", &x) && json_object_is_type(x, json_type_int))
                i.numa_node = json_object_get_int(x);
        if (json_object_object_get_ex(v, "mac_addr", &x) && json_object_is_type(x, json_type_string)) {
                i.mac = strdup(json_object_get_string(x));
                if (!i.mac)
                        return -ENOMEM;
        }
        *ret = i;
        i = (EthdevInfo) {};
        return 0;
}

int ethdev_link_parse(json_object *v, EthdevLink *ret) {
        json_object *x;
        EthdevLink l = {};
        const char *s;

        if (!json_object_is_type(v, json_type_object) || !json_object_object_get_ex(v, "status", &x) ||
            !json_object_is_type(x, json_type_string))
                return -EBADMSG;
        s = json_object_get_string(x);
        if (streq(s, "UP"))
                l.up = true;
        else if (!streq(s, "DOWN"))
                return -EBADMSG;
        if (json_object_object_get_ex(v, "speed", &x) && json_object_is_type(x, json_type_int))
                l.speed_mbps = json_object_get_uint64(x);
        if (json_object_object_get_ex(v, "duplex", &x) && json_object_is_type(x, json_type_string))
                l.full_duplex = streq(json_object_get_string(x), "full-duplex");
        *ret = l;
        return 0;
}

uint64_t ethdev_rate(uint64_t before, uint64_t after, uint64_t usec) {
        if (after < before || usec == 0)
                return 0;
        return (uint64_t) ((double) (after - before) * 1e6 / (double) usec + 0.5);
}
