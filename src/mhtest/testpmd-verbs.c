/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* "mhtest testpmd JOB": the main of mhtest-testpmd@JOB.service. testpmd runs on a pty owned by
 * this supervisor (so it stays alive without stdin and an operator can reach its prompt through
 * "mhtest testpmd-console JOB"); readiness, rates and liveness come from DPDK's telemetry socket. */
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include "cpu-topology.h"
#include "fileio.h"
#include "log.h"
#include "message-ids.h"
#include "mhtest.h"
#include "path-util.h"
#include "process-util.h"
#include "state.h"
#include "string-util.h"
#include "strv.h"
#include "testpmd.h"

#define CONSOLE_MAX_CLIENTS 8
#define STARTING_POLL_USEC (200 * USEC_PER_MSEC)
#define SAMPLE_USEC USEC_PER_SEC
#define STOP_POLL_USEC (100 * USEC_PER_MSEC)
#define STOP_SETTLE_USEC (3 * USEC_PER_SEC)
#define QUIT_TIMEOUT_USEC (10 * USEC_PER_SEC)
#define DETACH_CHAR 0x1d /* Ctrl-] */

typedef enum Phase { PHASE_STARTING, PHASE_RUNNING, PHASE_STOPPING, PHASE_QUITTING } Phase;

static const char *const phase_table[] = { "starting", "running", "stopping", "stopping" };

typedef struct PortState {
        const TestpmdPort *port;
        int port_id; /* -1 until telemetry lists it */
        bool started;
        EthdevLink link;
        bool have_stats;
        EthdevStats stats, logged;
        uint64_t stats_usec, logged_usec;
        uint64_t rx_pps, tx_pps;
} PortState;

typedef struct ConsoleClient {
        int fd;
        sd_event_source *source;
} ConsoleClient;

typedef struct Supervisor {
        const char *job;
        TestpmdSection *s;
        TestpmdPort *ports;
        size_t n_ports;
        PortState *state;
        CoreSelection cores;
        char **argv;
        char *file_prefix, *telemetry_path, *run_dir, *status_path, *console_path;

        sd_event *event;
        sd_event_source *timer, *watchdog_timer;
        pid_t pid;
        bool reaped; /* testpmd ran and exited: its leftovers may go */
        int pty_fd;
        char *line; /* partial output line */
        size_t line_len;

        TelemetryClient *tm;
        bool telemetry_warned;
        bool port_start_failed; /* testpmd could not start a port, even again: quit and fail */
        unsigned port_start_retries;
        uint64_t telemetry_ok_usec;
        uint64_t watchdog_usec;
        uint64_t next_log_usec;
        Phase phase;
        uint64_t stop_begin_usec;

        int console_fd;
        ConsoleClient clients[CONSOLE_MAX_CLIENTS];

        cpu_set_t *affinity; /* ours before pinning, what testpmd gets (EAL only uses lcores in it) */
        size_t affinity_size;
} Supervisor;

/* the event loop's time of this iteration (CLOCK_MONOTONIC) */
static uint64_t loop_now_usec(Supervisor *v) {
        uint64_t t = 0;
        (void) sd_event_now(v->event, CLOCK_MONOTONIC, &t);
        return t;
}

static uint64_t realtime_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + ts.tv_nsec / 1000;
}

static int job_run_dir(const char *job, char **ret) {
        _cleanup_free_ char *d = strjoin("/run/mhtest/", job);

        if (!d)
                return -ENOMEM;
        *ret = path_prefix_root(arg_root, d);
        return *ret ? 0 : -ENOMEM;
}

/* ---- preparation: everything is checked before anything starts ---- */

static int check_vfio_port(const TestpmdPort *p, int *node) {
        _cleanup_free_ char *dev = NULL, *drv = NULL, *numa = NULL, *link = NULL, *n = NULL;
        ssize_t k;

        if (asprintf_safe(&dev, "/sys/bus/pci/devices/%s", p->device) < 0)
                return log_oom();
        drv = strjoin(dev, "/driver");
        numa = strjoin(dev, "/numa_node");
        if (!drv || !numa)
                return log_oom();
        free(dev);
        dev = NULL;
        {
                _cleanup_free_ char *rdrv = path_prefix_root(arg_root, drv), *rnuma = path_prefix_root(arg_root, numa);
                if (!rdrv || !rnuma)
                        return log_oom();
                link = calloc(1, PATH_MAX);
                if (!link)
                        return log_oom();
                k = readlink(rdrv, link, PATH_MAX - 1);
                if (k < 0 || !streq(path_basename(link), "vfio-pci"))
                        return log_error_errno(-ENXIO,
                                               "Port %s: %s is not bound to vfio-pci (driver: %s). Start "
                                               "mhtest-vfio@%s.service (the [VFIO] step) first.",
                                               p->spec, p->device, k < 0 ? "none" : path_basename(link),
                                               log_get_context()->job);
                if (read_one_line_file(rnuma, &n) >= 0) {
                        int x = atoi(n);
                        if (x >= 0 && *node < 0)
                                *node = x;
                        else if (x >= 0 && x != *node)
                                log_warning("Port %s is on NUMA node %d, other ports on node %d; memory goes to node %d.",
                                            p->spec, x, *node, *node);
                }
        }
        return 0;
}

static int select_cores(const JobConfig *j, const char *job, TestpmdSection *s, int numa_node, CoreSelection *ret) {
        _cleanup_(cpu_topology_freep) CpuTopology *t = NULL;
        _cleanup_(cpu_set_done) CPUSet all = {}, usable = {}, isolated = {}, reserved = {};
        _cleanup_strv_free_ char **owners = NULL;
        _cleanup_free_ char *fmt = NULL;
        int r;

        r = cpu_topology_load(NULL, &t);
        if (r < 0)
                return log_error_errno(r, "Failed to read the CPU topology (hwloc): %m");
        r = cpu_topology_all(t, &all);
        if (r >= 0)
                r = cpu_topology_usable(t, &usable);
        if (r >= 0)
                r = cpu_isolated_read(arg_root, &isolated);
        if (r < 0)
                return log_error_errno(r, "Failed to read CPU sets: %m");
        r = testpmd_reserved_cpus(arg_root, j, &reserved, &owners);
        if (r < 0)
                return log_oom();

        if (s->cores.automatic) {
                CoreRequest req = {
                        .n_forward = s->forward_cores,
                        .numa_node = numa_node,
                        .isolated = &isolated,
                        .reserved = &reserved,
                };
                r = cpu_topology_select_cores(t, &req, ret);
                if (r == -ENOSPC)
                        return log_error_errno(r,
                                               "Cores=auto: not enough CPUs for %u forwarding core(s): whole cores "
                                               "are needed outside the core of CPU 0%s, not pinned to guests nor "
                                               "used by another job's testpmd. Set Cores= or ForwardCores=.",
                                               s->forward_cores,
                                               cpu_set_count(&isolated) > 0 ? " and inside isolcpus=" : "");
                if (r < 0)
                        return log_error_errno(r, "Failed to select cores: %m");
                if (ret->remote)
                        log_warning("Cores=auto: NUMA node %d has too few free cores; some forwarding cores are on "
                                    "another node.", numa_node);
                return 0;
        }

        /* explicit: the first CPU is the main lcore, the others forward */
        {
                CoreSelection sel = {};
                bool first = true;

                CPU_SET_FOREACH(c, &s->cores.cpus) {
                        if (!cpu_set_isset(&all, c))
                                return log_error_errno(-EINVAL, "Cores=: CPU %d does not exist on this host (CPUs: %s).", c,
                                                       cpu_set_format(&all, &fmt) >= 0 ? fmt : "?");
                        if (!cpu_set_isset(&usable, c))
                                return log_error_errno(-EINVAL, "Cores=: CPU %d is offline or not allowed for mhtest.", c);
                        if (first) {
                                sel.main_lcore = c;
                                first = false;
                                continue;
                        }
                        if (cpu_set_isset(&reserved, c)) {
                                core_selection_done(&sel);
                                return log_error_errno(-EBUSY,
                                                       "Cores=: CPU %d is reserved for something else (a guest's "
                                                       "VCPUPinning=/EmulatorPinning= or another job's testpmd%s%s).",
                                                       c, owners ? ": " : "", owners ? owners[0] : "");
                        }
                        if (cpu_set_count(&isolated) > 0 && !cpu_set_isset(&isolated, c))
                                log_warning("Cores=: forwarding CPU %d is not in isolcpus=, the kernel will schedule "
                                            "other work on it.", c);
                        if (cpu_set_add(&sel.forward, c) < 0) {
                                core_selection_done(&sel);
                                return log_oom();
                        }
                }
                *ret = sel;
        }
        return 0;
}

static int check_hugepages(const JobConfig *j, uint64_t need, const char **ret_dir) {
        _cleanup_free_ char *base = path_prefix_root(arg_root, "/sys/kernel/mm/hugepages");
        _cleanup_closedir_ DIR *d = NULL;
        uint64_t free_bytes = 0;
        struct dirent *de;

        if (!base)
                return log_oom();
        *ret_dir = j->hugepages->mount_point;
        d = opendir(base);
        while (d && (de = readdir(d))) {
                _cleanup_free_ char *p = NULL, *v = NULL;
                uint64_t kb, n;

                if (sscanf(de->d_name, "hugepages-%" SCNu64 "kB", &kb) != 1)
                        continue;
                if (j->hugepages->mount_page_size > 0 && kb * 1024 != j->hugepages->mount_page_size)
                        continue;
                if (asprintf_safe(&p, "%s/%s/free_hugepages", base, de->d_name) < 0)
                        return log_oom();
                if (read_one_line_file(p, &v) >= 0 && parse_uint64(v, &n) >= 0)
                        free_bytes += n * kb * 1024;
        }
        if (free_bytes < need)
                return log_error_errno(-ENOMEM,
                                       "testpmd needs Memory=%" PRIu64 "M of hugepages, only %" PRIu64
                                       "M are free. Is mhtest-hugepages@%s.service started, with enough Pages=?",
                                       need >> 20, free_bytes >> 20, log_get_context()->job);
        return 0;
}

static int supervisor_prepare(Supervisor *v, const JobConfig *j) {
        _cleanup_free_ char *binary = NULL, *socket_dir = NULL;
        TestpmdLaunch l = {};
        int numa_node = -1, r;
        /* HugePages=auto: the job's hugepages if it reserves any, else --no-huge */
        bool hugepages = v->s->hugepages != NESTED_NO && j->hugepages && strv_length(j->hugepages->pages) > 0;
        const char *huge_dir = NULL;

        r = find_executable(v->s->binary, &binary);
        if (r < 0)
                return log_error_errno(r, "testpmd binary \"%s\" not found (Binary=; Debian ships it in dpdk-dev): %m",
                                       v->s->binary);
        r = job_run_dir(v->job, &v->run_dir);
        if (r < 0)
                return log_oom();
        socket_dir = strdup(v->run_dir);
        if (!socket_dir)
                return log_oom();
        r = testpmd_ports_parse(v->s->ports, socket_dir, &v->ports, &v->n_ports);
        if (r < 0)
                return log_error_errno(r, "[Testpmd] Ports=: unknown port kind or malformed port (expected "
                                          "vhost-user:NAME, vfio:PCI, null:NAME, ring:NAME, virtio-user:PATH).");
        if (v->n_ports == 0)
                return log_error_errno(-EINVAL, "[Testpmd] Ports= is empty: nothing to forward.");
        for (size_t i = 0; i < v->n_ports; i++)
                if (v->ports[i].kind == TESTPMD_PORT_VFIO) {
                        if (!j->vfio || !strv_contains(j->vfio->devices, v->ports[i].device))
                                return log_error_errno(-EINVAL, "Port %s is not a device of [VFIO] Devices=.",
                                                       v->ports[i].spec);
                        r = check_vfio_port(&v->ports[i], &numa_node);
                        if (r < 0)
                                return r;
                }
        r = select_cores(j, v->job, v->s, numa_node, &v->cores);
        if (r < 0)
                return r;
        if (hugepages) {
                r = check_hugepages(j, v->s->memory, &huge_dir);
                if (r < 0)
                        return r;
        }
        r = testpmd_file_prefix(v->job, &v->file_prefix);
        if (r >= 0)
                r = telemetry_socket_path(v->file_prefix, &v->telemetry_path);
        if (r < 0)
                return log_oom();
        v->status_path = strjoin(v->run_dir, "/testpmd.json");
        v->console_path = strjoin(v->run_dir, "/testpmd-console.sock");
        if (!v->status_path || !v->console_path)
                return log_oom();

        l = (TestpmdLaunch) {
                .binary = binary,
                .file_prefix = v->file_prefix,
                .main_lcore = v->cores.main_lcore,
                .forward = &v->cores.forward,
                .hugepages = hugepages,
                .huge_dir = huge_dir,
                .numa_node = numa_node,
                .interactive = true,
        };
        if (hugepages) {
                _cleanup_(cpu_topology_freep) CpuTopology *t = NULL;
                if (cpu_topology_load(NULL, &t) >= 0)
                        l.n_numa_nodes = cpu_topology_n_numa_nodes(t);
        }
        r = testpmd_build_argv(v->s, v->ports, v->n_ports, &l, &v->argv);
        if (r < 0)
                return log_error_errno(r, "Failed to build the testpmd command line: %m");
        v->state = calloc(v->n_ports, sizeof(PortState));
        if (!v->state)
                return log_oom();
        for (size_t i = 0; i < v->n_ports; i++)
                v->state[i] = (PortState) { .port = &v->ports[i], .port_id = -1 };
        return 0;
}

/* A unix socket path that is still served means another instance runs. */
static bool socket_alive(const char *path, int type) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;

        if (strlen(path) >= sizeof(sa.sun_path))
                return false;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
        return fd >= 0 && connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0;
}

static int qemu_group(gid_t *ret) {
        /* QEMU run by libvirt is libvirt-qemu:kvm on Debian; the socket group lets it connect. */
        static const char *const names[] = { "libvirt-qemu", "kvm", "qemu" };
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                struct group *g = getgrnam(names[i]);
                if (g) {
                        *ret = g->gr_gid;
                        return 0;
                }
        }
        return -ENOENT;
}

static int setup_run_dir(Supervisor *v) {
        gid_t gid;
        int r;

        if (socket_alive(v->telemetry_path, SOCK_SEQPACKET))
                return log_error_errno(-EBUSY, "testpmd of job %s is already running (%s answers).", v->job,
                                       v->telemetry_path);
        if (socket_alive(v->console_path, SOCK_STREAM))
                return log_error_errno(-EBUSY, "A supervisor of job %s is already running (%s answers).", v->job,
                                       v->console_path);
        r = mkdir_p(v->run_dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create %s: %m", v->run_dir);
        /* a killed testpmd leaves its sockets: vhost server mode cannot bind over them */
        (void) unlink(v->telemetry_path);
        (void) unlink(v->console_path);
        for (size_t i = 0; i < v->n_ports; i++)
                if (v->ports[i].kind == TESTPMD_PORT_VHOST_USER && v->s->vhost_user_mode == VHOST_USER_SERVER)
                        (void) unlink(v->ports[i].socket);
        if (v->s->vhost_user_mode == VHOST_USER_CLIENT) {
                /* QEMU is the server and creates the sockets here */
                if (qemu_group(&gid) >= 0 && chown(v->run_dir, 0, gid) >= 0)
                        (void) chmod(v->run_dir, 0775);
                else
                        (void) chmod(v->run_dir, 01777);
        }
        return 0;
}

/* ---- output of the pty: journal and console clients ---- */

static void console_client_close(ConsoleClient *c) {
        c->source = sd_event_source_disable_unref(c->source);
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -EBADF;
}

static void quit_testpmd(Supervisor *v);
static int pty_command(Supervisor *v, const char *cmd);
#define PORT_START_RETRIES 3U

static void output_line(Supervisor *v, const char *line) {
        const char *p = line;

        while (*p == ' ')
                p++;
        if (!*p || streq(p, "testpmd>") || streq(p, "testpmd> "))
                return;
        log_info("testpmd: %s", line);
        /* testpmd stays at its prompt with a port it could not start: nothing would ever make
         * it ready. A start can fail transiently (an emulated e1000 whose hardware init fails
         * once and works the next time, seen in the L1 tier), so ask testpmd to start that port
         * again, a few times; then give up at once instead of at TimeoutStartSec=. */
        if (v->phase == PHASE_STARTING && startswith(p, "Fail to start port")) {
                unsigned port;

                if (sscanf(p, "Fail to start port %u", &port) == 1 && v->port_start_retries < PORT_START_RETRIES) {
                        _cleanup_free_ char *cmd = NULL;

                        v->port_start_retries++;
                        log_warning("testpmd of job %s could not start port %u (\"%s\"); starting it again "
                                    "(%u of %u).", v->job, port, p, v->port_start_retries, PORT_START_RETRIES);
                        if (asprintf_safe(&cmd, "port start %u", port) >= 0)
                                (void) pty_command(v, cmd);
                        return;
                }
                (void) log_event(LOG_ERR, 0, MHTEST_MESSAGE_TESTPMD_EXITED, NULL,
                                 "testpmd of job %s could not start a port (\"%s\"); quitting it.", v->job, p);
                v->port_start_failed = true;
                quit_testpmd(v);
        }
}

static void handle_output(Supervisor *v, const char *buf, size_t n) {
        for (size_t i = 0; i < CONSOLE_MAX_CLIENTS; i++)
                if (v->clients[i].fd >= 0 && send(v->clients[i].fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
                    errno != EAGAIN)
                        console_client_close(&v->clients[i]);
        for (size_t i = 0; i < n; i++) {
                char ch = buf[i];
                if (ch == '\r')
                        continue;
                if (ch == '\n' || v->line_len >= 4000) {
                        if (v->line) {
                                v->line[v->line_len] = 0;
                                output_line(v, v->line);
                        }
                        v->line_len = 0;
                        if (ch == '\n')
                                continue;
                }
                if (!v->line && !(v->line = malloc(4096)))
                        return;
                v->line[v->line_len++] = ch;
        }
}

static int on_pty(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Supervisor *v = userdata;
        char buf[4096];
        ssize_t k;

        k = read(fd, buf, sizeof(buf));
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (k <= 0) {
                /* EIO: testpmd closed the terminal (it exited); the child watch tells why */
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
                return 0;
        }
        handle_output(v, buf, k);
        return 0;
}

static int pty_command(Supervisor *v, const char *cmd) {
        _cleanup_free_ char *line = strjoin(cmd, "\n");
        size_t n;

        if (!line)
                return -ENOMEM;
        n = strlen(line);
        for (size_t done = 0; done < n;) {
                ssize_t k = write(v->pty_fd, line + done, n - done);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return log_warning_errno(-errno, "Failed to write \"%s\" to testpmd's terminal: %m", cmd);
                done += k;
        }
        return 0;
}

/* ---- console ---- */

static int on_console_client(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Supervisor *v = userdata;
        ConsoleClient *c = NULL;
        char buf[1024];
        ssize_t k;

        for (size_t i = 0; i < CONSOLE_MAX_CLIENTS; i++)
                if (v->clients[i].fd == fd)
                        c = &v->clients[i];
        if (!c)
                return 0;
        k = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (k <= 0) {
                log_info("Console client detached.");
                console_client_close(c);
                return 0;
        }
        for (ssize_t done = 0; done < k;) {
                ssize_t w = write(v->pty_fd, buf + done, k - done);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        break;
                done += w;
        }
        return 0;
}

static int on_console_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Supervisor *v = userdata;
        _cleanup_close_ int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        static const char full[] = "mhtest: too many console clients\r\n";

        if (cfd < 0)
                return 0;
        for (size_t i = 0; i < CONSOLE_MAX_CLIENTS; i++)
                if (v->clients[i].fd < 0) {
                        if (sd_event_add_io(v->event, &v->clients[i].source, cfd, EPOLLIN, on_console_client, v) < 0)
                                return 0;
                        v->clients[i].fd = TAKE_FD(cfd);
                        log_info("Console client attached.");
                        return 0;
                }
        (void) send(cfd, full, sizeof(full) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        return 0;
}

static int console_listen(Supervisor *v) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (strlen(v->console_path) >= sizeof(sa.sun_path))
                return log_error_errno(-ENAMETOOLONG, "Console socket path too long: %s", v->console_path);
        strcpy(sa.sun_path, v->console_path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return log_error_errno(-errno, "Failed to create the console socket: %m");
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return log_error_errno(-errno, "Failed to bind %s: %m", v->console_path);
        /* the prompt can stop forwarding and quit testpmd: root only */
        (void) chmod(v->console_path, 0600);
        if (listen(fd, 4) < 0)
                return log_error_errno(-errno, "Failed to listen on %s: %m", v->console_path);
        r = sd_event_add_io(v->event, NULL, fd, EPOLLIN, on_console_accept, v);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the console socket: %m");
        v->console_fd = TAKE_FD(fd);
        return 0;
}

/* ---- telemetry ---- */

static int telemetry(Supervisor *v, const char *cmd, json_object **ret) {
        int r;

        if (!v->tm) {
                r = telemetry_open(v->telemetry_path, USEC_PER_SEC, &v->tm);
                if (r < 0)
                        return r;
                log_debug("Connected to telemetry of %s at %s.", v->tm->version, v->telemetry_path);
        }
        r = telemetry_query(v->tm, cmd, ret);
        if (r < 0 && r != -ENOENT) {
                /* a dead or stuck connection: reconnect next time */
                telemetry_close(v->tm);
                v->tm = NULL;
        }
        if (r >= 0) {
                v->telemetry_ok_usec = loop_now_usec(v);
                v->telemetry_warned = false;
        }
        return r;
}

/* Map configured ports to ethdev port ids and read whether they are started and linked. */
static int refresh_ports(Supervisor *v) {
        _cleanup_json_ json_object *list = NULL;
        _cleanup_free_ unsigned *ids = NULL;
        size_t n;
        int r;

        r = telemetry(v, "/ethdev/list", &list);
        if (r < 0)
                return r;
        r = ethdev_list_parse(list, &ids, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                _cleanup_json_ json_object *info = NULL, *link = NULL;
                _cleanup_(ethdev_info_done) EthdevInfo ei = {};
                char cmd[64];

                snprintf(cmd, sizeof(cmd), "/ethdev/info,%u", ids[i]);
                r = telemetry(v, cmd, &info);
                if (r < 0)
                        return r;
                r = ethdev_info_parse(info, &ei);
                if (r < 0)
                        return r;
                for (size_t k = 0; k < v->n_ports; k++) {
                        PortState *p = &v->state[k];
                        if (!streq(ei.name, p->port->device))
                                continue;
                        p->port_id = ei.port_id;
                        p->started = ei.started;
                        snprintf(cmd, sizeof(cmd), "/ethdev/link_status,%u", ids[i]);
                        if (telemetry(v, cmd, &link) >= 0)
                                (void) ethdev_link_parse(link, &p->link);
                }
        }
        return 0;
}

static int sample_stats(Supervisor *v) {
        uint64_t t = loop_now_usec(v);
        int r;

        for (size_t i = 0; i < v->n_ports; i++) {
                PortState *p = &v->state[i];
                _cleanup_json_ json_object *o = NULL;
                EthdevStats st;
                char cmd[64];

                if (p->port_id < 0)
                        continue;
                snprintf(cmd, sizeof(cmd), "/ethdev/stats,%d", p->port_id);
                r = telemetry(v, cmd, &o);
                if (r < 0)
                        return r;
                r = ethdev_stats_parse(o, &st);
                if (r < 0)
                        return r;
                if (p->have_stats) {
                        p->rx_pps = ethdev_rate(p->stats.ipackets, st.ipackets, t - p->stats_usec);
                        p->tx_pps = ethdev_rate(p->stats.opackets, st.opackets, t - p->stats_usec);
                } else {
                        p->logged = st;
                        p->logged_usec = t;
                }
                p->stats = st;
                p->stats_usec = t;
                p->have_stats = true;
        }
        return 0;
}

static void write_status(Supervisor *v) {
        _cleanup_json_ json_object *o = json_object_new_object();
        json_object *ports = json_object_new_array();
        _cleanup_free_ char *fwd = NULL;
        const char *s;

        if (!o || !ports || cpu_set_format(&v->cores.forward, &fwd) < 0)
                return;
        json_object_object_add(o, "job", json_object_new_string(v->job));
        json_object_object_add(o, "state", json_object_new_string(phase_table[v->phase]));
        json_object_object_add(o, "pid", json_object_new_int(getpid()));
        json_object_object_add(o, "testpmd_pid", json_object_new_int(v->pid));
        json_object_object_add(o, "file_prefix", json_object_new_string(v->file_prefix));
        json_object_object_add(o, "main_lcore", json_object_new_int(v->cores.main_lcore));
        json_object_object_add(o, "forward_cores", json_object_new_string(fwd));
        json_object_object_add(o, "forward_mode", json_object_new_string(v->s->forward_mode ?: "io"));
        json_object_object_add(o, "console", json_object_new_string(v->console_path));
        json_object_object_add(o, "updated_realtime_usec", json_object_new_int64(realtime_usec()));
        for (size_t i = 0; i < v->n_ports; i++) {
                PortState *p = &v->state[i];
                json_object *jp = json_object_new_object();
                json_object_object_add(jp, "port", json_object_new_string(p->port->spec));
                json_object_object_add(jp, "device", json_object_new_string(p->port->device));
                json_object_object_add(jp, "port_id", json_object_new_int(p->port_id));
                if (p->port->socket)
                        json_object_object_add(jp, "socket", json_object_new_string(p->port->socket));
                json_object_object_add(jp, "started", json_object_new_boolean(p->started));
                json_object_object_add(jp, "link", json_object_new_string(p->link.up ? "up" : "down"));
                json_object_object_add(jp, "speed_mbps", json_object_new_int64(p->link.speed_mbps));
                json_object_object_add(jp, "rx_pps", json_object_new_int64(p->rx_pps));
                json_object_object_add(jp, "tx_pps", json_object_new_int64(p->tx_pps));
                json_object_object_add(jp, "rx_packets", json_object_new_int64(p->stats.ipackets));
                json_object_object_add(jp, "tx_packets", json_object_new_int64(p->stats.opackets));
                json_object_object_add(jp, "rx_missed", json_object_new_int64(p->stats.imissed));
                json_object_object_add(jp, "rx_errors", json_object_new_int64(p->stats.ierrors));
                json_object_object_add(jp, "tx_errors", json_object_new_int64(p->stats.oerrors));
                json_object_array_add(ports, jp);
        }
        json_object_object_add(o, "ports", ports);
        s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (s && write_file_atomic(v->status_path, s, 0644) < 0)
                log_debug("Failed to write %s, ignoring.", v->status_path);
}

static void notify_status(Supervisor *v) {
        _cleanup_free_ char *st = strdup("STATUS=");

        for (size_t i = 0; st && i < v->n_ports; i++) {
                PortState *p = &v->state[i];
                char *x;
                if (asprintf_safe(&x, "%s%s%s: rx %" PRIu64 " pps, tx %" PRIu64 " pps%s", st, i > 0 ? "; " : "",
                                  p->port->spec, p->rx_pps, p->tx_pps, p->link.up ? "" : " (link down)") < 0)
                        return;
                free(st);
                st = x;
        }
        if (st)
                (void) sd_notify(false, st);
}

static void log_port(Supervisor *v, PortState *p, const char *message_id, int level, const char *what, uint64_t rx_pps,
                     uint64_t tx_pps) {
        _cleanup_strv_free_ char **f = NULL;
        char *x;

#define F(...)                                                                        \
        do {                                                                          \
                if (asprintf_safe(&x, __VA_ARGS__) < 0 || strv_consume(&f, x) < 0) \
                        return;                                                       \
        } while (0)
        F("MHTEST_PORT=%s", p->port->spec);
        F("MHTEST_DEVICE=%s", p->port->device);
        F("RX_PPS=%" PRIu64, rx_pps);
        F("TX_PPS=%" PRIu64, tx_pps);
        F("RX_MISSED=%" PRIu64, p->stats.imissed);
        F("RX_PACKETS=%" PRIu64, p->stats.ipackets);
        F("TX_PACKETS=%" PRIu64, p->stats.opackets);
        F("RX_ERRORS=%" PRIu64, p->stats.ierrors);
        F("TX_ERRORS=%" PRIu64, p->stats.oerrors);
        F("LINK=%s", p->link.up ? "up" : "down");
#undef F
        (void) log_event(level, 0, message_id, f,
                         "%s %s: rx %" PRIu64 " pps, tx %" PRIu64 " pps, rx %" PRIu64 " / tx %" PRIu64
                         " packets, %" PRIu64 " missed, link %s",
                         what, p->port->spec, rx_pps, tx_pps, p->stats.ipackets, p->stats.opackets, p->stats.imissed,
                         p->link.up ? "up" : "down");
}

static void log_stats(Supervisor *v) {
        for (size_t i = 0; i < v->n_ports; i++) {
                PortState *p = &v->state[i];
                uint64_t dt = p->stats_usec - p->logged_usec;
                /* rates over the whole interval, not the last second */
                log_port(v, p, MHTEST_MESSAGE_TESTPMD_STATS, LOG_INFO, "Port",
                         ethdev_rate(p->logged.ipackets, p->stats.ipackets, dt),
                         ethdev_rate(p->logged.opackets, p->stats.opackets, dt));
                p->logged = p->stats;
                p->logged_usec = p->stats_usec;
        }
}

static int arm_timer(Supervisor *v, uint64_t usec) {
        int r = sd_event_source_set_time(v->timer, loop_now_usec(v) + usec);
        if (r >= 0)
                r = sd_event_source_set_enabled(v->timer, SD_EVENT_ONESHOT);
        return r;
}

/* DPDK creates server-mode sockets with our umask; QEMU (libvirt-qemu) must be able to
 * connect, which needs write permission on the socket. */
static void open_vhost_sockets(Supervisor *v) {
        gid_t gid;
        bool group = qemu_group(&gid) >= 0;

        if (v->s->vhost_user_mode != VHOST_USER_SERVER)
                return;
        for (size_t i = 0; i < v->n_ports; i++) {
                const char *p = v->ports[i].socket;
                if (v->ports[i].kind != TESTPMD_PORT_VHOST_USER)
                        continue;
                if (group && chown(p, 0, gid) >= 0 && chmod(p, 0660) >= 0)
                        continue;
                if (chmod(p, 0666) < 0)
                        log_warning_errno(-errno, "Failed to make %s accessible to QEMU, ignoring: %m", p);
        }
}

static bool ports_ready(Supervisor *v) {
        for (size_t i = 0; i < v->n_ports; i++) {
                PortState *p = &v->state[i];
                if (p->port_id < 0 || !p->started)
                        return false;
                /* Link state is not a readiness condition: NICs such as e1000 report link only
                 * once forwarding has started (seen in the L1 VM tier). STATUS= and the journal
                 * say "link down" while it is. */
        }
        return true;
}

static void quit_testpmd(Supervisor *v) {
        v->phase = PHASE_QUITTING;
        (void) pty_command(v, "quit");
        (void) arm_timer(v, QUIT_TIMEOUT_USEC);
}

static bool stats_equal(const EthdevStats *a, const EthdevStats *b) {
        return a->ipackets == b->ipackets && a->opackets == b->opackets && a->imissed == b->imissed;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Supervisor *v = userdata;
        int r;

        switch (v->phase) {
        case PHASE_STARTING:
                r = refresh_ports(v);
                if (r >= 0 && ports_ready(v)) {
                        _cleanup_free_ char *fwd = NULL;

                        open_vhost_sockets(v);
                        (void) pty_command(v, testpmd_start_command(v->s));
                        (void) sample_stats(v);
                        v->phase = PHASE_RUNNING;
                        v->next_log_usec = loop_now_usec(v) + v->s->stats_interval_usec;
                        (void) cpu_set_format(&v->cores.forward, &fwd);
                        write_status(v);
                        /* logged before READY=1: systemd's "Started" then follows it in the journal */
                        (void) log_event(LOG_NOTICE, 0, MHTEST_MESSAGE_TESTPMD_READY, NULL,
                                         "testpmd of job %s is forwarding (%s) on %zu port(s), main lcore %u, "
                                         "forwarding lcores %s.",
                                         v->job, v->s->forward_mode ?: "io", v->n_ports, v->cores.main_lcore,
                                         strna(fwd));
                        (void) sd_notifyf(false, "READY=1\nSTATUS=Forwarding (%s) on %zu port(s)",
                                          v->s->forward_mode ?: "io", v->n_ports);
                        return arm_timer(v, SAMPLE_USEC);
                }
                return arm_timer(v, STARTING_POLL_USEC);

        case PHASE_RUNNING:
                r = refresh_ports(v);
                if (r >= 0)
                        r = sample_stats(v);
                if (r < 0) {
                        if (!v->telemetry_warned)
                                log_warning_errno(r, "testpmd's telemetry does not answer: %m");
                        v->telemetry_warned = true;
                } else {
                        notify_status(v);
                        write_status(v);
                        if (v->s->stats_interval_usec > 0 && loop_now_usec(v) >= v->next_log_usec) {
                                log_stats(v);
                                v->next_log_usec += v->s->stats_interval_usec;
                                if (v->next_log_usec < loop_now_usec(v))
                                        v->next_log_usec = loop_now_usec(v) + v->s->stats_interval_usec;
                        }
                }
                return arm_timer(v, SAMPLE_USEC);

        case PHASE_STOPPING: {
                /* forwarding was stopped: once the counters settle they are final */
                bool settled = true;
                EthdevStats before[v->n_ports];

                for (size_t i = 0; i < v->n_ports; i++)
                        before[i] = v->state[i].stats;
                r = sample_stats(v);
                for (size_t i = 0; i < v->n_ports; i++)
                        if (!stats_equal(&before[i], &v->state[i].stats))
                                settled = false;
                if (r >= 0 && !settled && loop_now_usec(v) < v->stop_begin_usec + STOP_SETTLE_USEC)
                        return arm_timer(v, STOP_POLL_USEC);
                for (size_t i = 0; i < v->n_ports; i++)
                        if (v->state[i].have_stats)
                                log_port(v, &v->state[i], MHTEST_MESSAGE_TESTPMD_STOPPED, LOG_NOTICE, "Final statistics of",
                                         0, 0);
                (void) log_event(LOG_NOTICE, 0, MHTEST_MESSAGE_TESTPMD_STOPPED, NULL,
                                 "testpmd of job %s stopped on request.", v->job);
                quit_testpmd(v);
                return 0;
        }

        case PHASE_QUITTING:
                log_warning("testpmd did not quit, killing it.");
                (void) kill(v->pid, SIGKILL);
                return 0;
        }
        return 0;
}

static int on_watchdog(sd_event_source *s, uint64_t usec, void *userdata) {
        Supervisor *v = userdata;
        uint64_t t = loop_now_usec(v);

        /* alive = telemetry answered within the last half period; while starting, the start
         * timeout guards us instead */
        if (v->phase != PHASE_RUNNING || v->telemetry_ok_usec + v->watchdog_usec / 2 >= t)
                (void) sd_notify(false, "WATCHDOG=1");
        (void) sd_event_source_set_time(s, t + v->watchdog_usec / 4);
        return 0;
}

static int on_stop_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Supervisor *v = userdata;

        if (v->phase == PHASE_STOPPING || v->phase == PHASE_QUITTING)
                return 0;
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Stopping testpmd");
        log_info("Received %s, stopping testpmd.", strsignal(si->ssi_signo));
        if (v->phase == PHASE_STARTING) {
                (void) log_event(LOG_NOTICE, 0, MHTEST_MESSAGE_TESTPMD_STOPPED, NULL,
                                 "testpmd of job %s stopped on request before it was ready.", v->job);
                v->phase = PHASE_QUITTING;
                (void) kill(v->pid, SIGTERM);
                return arm_timer(v, QUIT_TIMEOUT_USEC);
        }
        v->phase = PHASE_STOPPING;
        v->stop_begin_usec = loop_now_usec(v);
        (void) pty_command(v, "stop");
        return arm_timer(v, STOP_POLL_USEC);
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Supervisor *v = userdata;
        int status = si->si_code == CLD_EXITED ? si->si_status : 128 + si->si_status;
        _cleanup_strv_free_ char **f = NULL;
        char *x;

        /* drain what testpmd printed last */
        for (;;) {
                char buf[4096];
                ssize_t k = read(v->pty_fd, buf, sizeof(buf));
                if (k <= 0)
                        break;
                handle_output(v, buf, k);
        }
        v->pid = 0;
        v->reaped = true;
        if (v->phase == PHASE_STOPPING || v->phase == PHASE_QUITTING) {
                log_info("testpmd exited (status %d).", status);
                return sd_event_exit(sd_event_source_get_event(s), v->port_start_failed ? 1 : 0);
        }
        if (asprintf_safe(&x, "EXIT_STATUS=%d", status) >= 0)
                (void) strv_consume(&f, x);
        if (si->si_code != CLD_EXITED && asprintf_safe(&x, "EXIT_SIGNAL=%s", sigabbrev_np(si->si_status) ?: "?") >= 0)
                (void) strv_consume(&f, x);
        (void) log_event(LOG_ERR, 0, MHTEST_MESSAGE_TESTPMD_EXITED, f, "testpmd of job %s %s %d%s.", v->job,
                         si->si_code == CLD_EXITED ? "exited with status" : "was killed by signal",
                         si->si_code == CLD_EXITED ? si->si_status : si->si_status,
                         v->phase == PHASE_STARTING ? " before its ports were up" : "");
        /* an unexpected exit is a failure even with status 0: systemd must restart us */
        return sd_event_exit(sd_event_source_get_event(s), status != 0 ? MIN(status, 255) : 1);
}

#define AFFINITY_CPUS 8192

/* Keep the supervisor (telemetry polling, pty, journal) off the forwarding CPUs. */
static void pin_supervisor(Supervisor *v) {
        size_t size = CPU_ALLOC_SIZE(AFFINITY_CPUS);
        cpu_set_t *hk;

        v->affinity = CPU_ALLOC(AFFINITY_CPUS);
        if (!v->affinity)
                return;
        if (sched_getaffinity(0, size, v->affinity) < 0) {
                CPU_FREE(v->affinity);
                v->affinity = NULL;
                return;
        }
        v->affinity_size = size;
        hk = CPU_ALLOC(AFFINITY_CPUS);
        if (!hk)
                return;
        CPU_ZERO_S(size, hk);
        for (unsigned c = 0; c < AFFINITY_CPUS; c++)
                if (CPU_ISSET_S(c, size, v->affinity) && !cpu_set_isset(&v->cores.forward, c) &&
                    !cpu_set_isset(&v->cores.held, c))
                        CPU_SET_S(c, size, hk);
        if (CPU_COUNT_S(size, hk) > 0 && sched_setaffinity(0, size, hk) < 0)
                log_debug_errno(-errno, "Failed to move off the forwarding CPUs, ignoring: %m");
        CPU_FREE(hk);
}

static int spawn_testpmd(Supervisor *v) {
        _cleanup_close_ int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
        struct winsize ws = { .ws_row = 50, .ws_col = 160 };
        char *slave;
        pid_t pid;

        if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 || !(slave = ptsname(master)))
                return log_error_errno(-errno, "Failed to allocate a pty for testpmd: %m");
        (void) ioctl(master, TIOCSWINSZ, &ws);
        {
                _cleanup_free_ char *cmd = strv_join(v->argv, " ");
                log_info("Starting %s", strna(cmd));
        }
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0)
                return log_error_errno(-errno, "Failed to fork: %m");
        if (pid == 0) {
                sigset_t ss;
                int fd;

                sigemptyset(&ss);
                sigprocmask(SIG_SETMASK, &ss, NULL);
                signal(SIGPIPE, SIG_DFL);
                if (v->affinity)
                        (void) sched_setaffinity(0, v->affinity_size, v->affinity);
                /* a session of its own with the pty as controlling terminal, as tmux gave it */
                if (setsid() < 0)
                        _exit(127);
                fd = open(slave, O_RDWR);
                if (fd < 0 || ioctl(fd, TIOCSCTTY, 0) < 0)
                        _exit(127);
                if (dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
                        _exit(127);
                if (fd > 2)
                        close(fd);
                execv(v->argv[0], v->argv);
                fprintf(stderr, "Failed to execute %s: %m\n", v->argv[0]);
                _exit(127);
        }
        v->pid = pid;
        v->pty_fd = TAKE_FD(master);
        return 0;
}

static void supervisor_done(Supervisor *v) {
        for (size_t i = 0; i < CONSOLE_MAX_CLIENTS; i++)
                console_client_close(&v->clients[i]);
        if (v->console_fd >= 0) {
                close(v->console_fd);
                (void) unlink(v->console_path);
        }
        if (v->pid > 0) {
                (void) kill(v->pid, SIGKILL);
                (void) waitpid(v->pid, NULL, 0);
                v->reaped = true;
        }
        telemetry_close(v->tm);
        if (v->status_path)
                (void) unlink(v->status_path);
        /* testpmd is gone: its runtime directory (stale sockets after a kill) and our sockets go too */
        if (v->reaped && v->file_prefix) {
                _cleanup_free_ char *d = NULL;
                if (telemetry_runtime_dir(v->file_prefix, &d) >= 0) {
                        (void) rm_rf(d);
                        /* /run/dpdk too, when no other DPDK process uses it */
                        *strrchr(d, '/') = 0;
                        (void) rmdir(d);
                }
                for (size_t i = 0; i < v->n_ports; i++)
                        if (v->ports[i].kind == TESTPMD_PORT_VHOST_USER &&
                            v->s->vhost_user_mode == VHOST_USER_SERVER)
                                (void) unlink(v->ports[i].socket);
        }
        /* the job's runtime directory goes when nothing else (another step's state) is in it */
        if (v->reaped && v->run_dir)
                (void) rmdir(v->run_dir);
        if (v->pty_fd >= 0)
                close(v->pty_fd);
        sd_event_source_disable_unref(v->timer);
        sd_event_source_disable_unref(v->watchdog_timer);
        sd_event_unref(v->event);
        if (v->affinity)
                CPU_FREE(v->affinity);
        free(v->line);
        free(v->state);
        testpmd_ports_free(v->ports, v->n_ports);
        core_selection_done(&v->cores);
        strv_free(v->argv);
        free(v->file_prefix);
        free(v->telemetry_path);
        free(v->run_dir);
        free(v->status_path);
        free(v->console_path);
}

int verb_testpmd(int argc, char *argv[]) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(job_config_freep) JobConfig *j = NULL;
        _cleanup_(supervisor_done) Supervisor v = { .pty_fd = -EBADF, .console_fd = -EBADF };
        sigset_t ss;
        uint64_t wd = 0;
        int r;

        for (size_t i = 0; i < CONSOLE_MAX_CLIENTS; i++)
                v.clients[i].fd = -EBADF;
        v.job = argv[1];
        log_set_context_job(v.job);
        log_set_context_step("testpmd");
        r = load_config(&c);
        if (r < 0)
                return r;
        log_set_context_host(c->host_name);
        r = load_job(c, v.job, &j);
        if (r < 0)
                return r;
        if (!j->testpmd)
                return log_error_errno(-EINVAL, "Job %s has no [Testpmd] section.", v.job);
        v.s = j->testpmd;

        r = supervisor_prepare(&v, j);
        if (r < 0)
                return r;
        r = setup_run_dir(&v);
        if (r < 0)
                return r;

        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGCHLD);
        sigaddset(&ss, SIGHUP);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        r = sd_event_new(&v.event);
        if (r < 0)
                return log_error_errno(r, "Failed to create the event loop: %m");
        r = console_listen(&v);
        if (r < 0)
                return r;
        pin_supervisor(&v);
        r = spawn_testpmd(&v);
        if (r < 0)
                return r;
        if ((r = sd_event_add_child(v.event, NULL, v.pid, WEXITED, on_child, &v)) < 0 ||
            (r = sd_event_add_io(v.event, NULL, v.pty_fd, EPOLLIN, on_pty, &v)) < 0 ||
            (r = sd_event_add_signal(v.event, NULL, SIGTERM, on_stop_signal, &v)) < 0 ||
            (r = sd_event_add_signal(v.event, NULL, SIGINT, on_stop_signal, &v)) < 0 ||
            (r = sd_event_add_signal(v.event, NULL, SIGHUP, NULL, NULL)) < 0 ||
            (r = sd_event_add_time(v.event, &v.timer, CLOCK_MONOTONIC, 0, 0, on_timer, &v)) < 0)
                return log_error_errno(r, "Failed to set up the event loop: %m");
        (void) arm_timer(&v, STARTING_POLL_USEC);

        /* [Testpmd] WatchdogSec= overrides the unit's when systemd watches us at all */
        if (sd_watchdog_enabled(false, &wd) > 0) {
                if (v.s->watchdog_usec > 0) {
                        wd = v.s->watchdog_usec;
                        (void) sd_notifyf(false, "WATCHDOG_USEC=%" PRIu64, wd);
                }
                v.watchdog_usec = wd;
                r = sd_event_add_time(v.event, &v.watchdog_timer, CLOCK_MONOTONIC, loop_now_usec(&v) + wd / 4, 0,
                                      on_watchdog, &v);
                if (r >= 0)
                        r = sd_event_source_set_enabled(v.watchdog_timer, SD_EVENT_ON);
                if (r < 0)
                        return log_error_errno(r, "Failed to set up the watchdog: %m");
        }
        (void) sd_notifyf(false, "MAINPID=%d\nSTATUS=Starting testpmd (pid %d)", getpid(), v.pid);

        r = sd_event_loop(v.event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return r;
}

/* ---- mhtest status ---- */

int testpmd_status(const char *job, json_object *out) {
        _cleanup_free_ char *dir = NULL, *p = NULL, *text = NULL;
        _cleanup_json_ json_object *o = NULL;
        json_object *x, *ports;
        bool alive;

        if (job_run_dir(job, &dir) < 0 || !(p = strjoin(dir, "/testpmd.json")))
                return log_oom();
        if (read_full_file(p, &text, NULL) < 0 || !(o = json_tokener_parse(text)) ||
            !json_object_object_get_ex(o, "pid", &x)) {
                if (!arg_json)
                        printf("  %-10s not running\n", "testpmd");
                json_object_object_add(out, "testpmd", NULL);
                return 0;
        }
        alive = !(kill((pid_t) json_object_get_int(x), 0) < 0 && errno == ESRCH);
        if (!alive)
                json_object_object_add(o, "state", json_object_new_string("dead"));
        if (!arg_json) {
                json_object *st = NULL, *ml = NULL, *fc = NULL, *tp = NULL;
                (void) json_object_object_get_ex(o, "state", &st);
                (void) json_object_object_get_ex(o, "main_lcore", &ml);
                (void) json_object_object_get_ex(o, "forward_cores", &fc);
                (void) json_object_object_get_ex(o, "testpmd_pid", &tp);
                printf("  %-10s %s (pid %d, main lcore %d, forwarding lcores %s)\n", "testpmd",
                       json_object_get_string(st), json_object_get_int(tp), json_object_get_int(ml),
                       json_object_get_string(fc));
                if (json_object_object_get_ex(o, "ports", &ports))
                        for (size_t i = 0; i < json_object_array_length(ports); i++) {
                                json_object *e = json_object_array_get_idx(ports, i), *a, *b, *l, *m, *id;
                                json_object_object_get_ex(e, "port", &id);
                                json_object_object_get_ex(e, "link", &l);
                                json_object_object_get_ex(e, "rx_pps", &a);
                                json_object_object_get_ex(e, "tx_pps", &b);
                                json_object_object_get_ex(e, "rx_missed", &m);
                                printf("             %-24s link %-4s rx %10" PRId64 " pps  tx %10" PRId64
                                       " pps  missed %" PRId64 "\n",
                                       json_object_get_string(id), json_object_get_string(l), json_object_get_int64(a),
                                       json_object_get_int64(b), json_object_get_int64(m));
                        }
        }
        json_object_object_add(out, "testpmd", TAKE_PTR(o));
        return 0;
}

/* ---- mhtest testpmd-console ---- */

static struct termios saved_termios;
static bool termios_saved = false;

static void restore_terminal(void) {
        if (termios_saved)
                (void) tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
}

static int write_all(int fd, const char *buf, size_t n) {
        for (size_t done = 0; done < n;) {
                ssize_t k = write(fd, buf + done, n - done);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                done += k;
        }
        return 0;
}

int verb_testpmd_console(int argc, char *argv[]) {
        _cleanup_free_ char *dir = NULL, *path = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;
        struct pollfd p[2];
        bool tty = isatty(STDIN_FILENO);

        if (job_run_dir(argv[1], &dir) < 0 || !(path = strjoin(dir, "/testpmd-console.sock")))
                return log_oom();
        if (strlen(path) >= sizeof(sa.sun_path))
                return log_error_errno(-ENAMETOOLONG, "Console socket path too long: %s", path);
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return log_error_errno(-errno, "Failed to create a socket: %m");
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return log_error_errno(-errno, "testpmd of job %s is not running (no console at %s): %m", argv[1], path);
        fprintf(stderr, "Attached to testpmd of job %s. Press Ctrl-] to detach (testpmd keeps running).\n", argv[1]);
        if (tty && tcgetattr(STDIN_FILENO, &saved_termios) >= 0) {
                struct termios raw = saved_termios;
                termios_saved = true;
                cfmakeraw(&raw);
                (void) tcsetattr(STDIN_FILENO, TCSANOW, &raw);
        }
        /* show the prompt */
        (void) write_all(fd, "\n", 1);

        p[0] = (struct pollfd) { .fd = STDIN_FILENO, .events = POLLIN };
        p[1] = (struct pollfd) { .fd = fd, .events = POLLIN };
        for (;;) {
                char buf[4096];
                ssize_t k;

                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
                        k = read(fd, buf, sizeof(buf));
                        if (k <= 0) {
                                restore_terminal();
                                fprintf(stderr, "\nThe console of job %s closed (testpmd exited).\n", argv[1]);
                                return -ECONNRESET;
                        }
                        (void) write_all(STDOUT_FILENO, buf, k);
                }
                if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                        char *detach;
                        k = read(STDIN_FILENO, buf, sizeof(buf));
                        if (k <= 0)
                                break; /* stdin closed: detach */
                        detach = memchr(buf, DETACH_CHAR, k);
                        if (write_all(fd, buf, detach ? (size_t) (detach - buf) : (size_t) k) < 0 || detach)
                                break;
                }
        }
        restore_terminal();
        fprintf(stderr, "\nDetached from testpmd of job %s.\n", argv[1]);
        return 0;
}
