/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The L1 VM backend of "mhtest lab": every host is a QEMU guest (l1vm.h) booting the machine's
 * own userspace with this build of mhtest installed, nested virtualization exposed, an emulated
 * IOMMU and two e1000 NICs that DPDK and vfio-pci drive.
 *
 * Supervised QEMU rather than libvirt: QEMU runs inside the lab's switch namespace and opens its
 * taps there, so the machine's own namespace never sees a lab interface; libvirt would create the
 * taps in its daemon's namespace (the machine's) and needs a running libvirtd on the machine.
 * QEMU daemonizes with a pidfile and is driven over QMP (powerdown, status).
 *
 * Layout, all inside the switch namespace NAME-sw:
 *   br0            lab network (management), the controller's veth, every host's hK-m tap
 *   wire0, wire1   per-lab virtual wires: every host's first/second e1000 (hK-d0, hK-d1)
 * In the L1: 00:02.0 management virtio NIC (address 10.77.0.1K/24), 00:03.0 and 00:04.0 e1000.
 * lab status/exec/down reach hosts by SSH from the controller namespace NAME-ctl, the same
 * path mhtest-coord uses: no second control channel to keep working. */
#include <json-c/json.h>
#include <linux/if.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fileio.h"
#include "l1vm.h"
#include "lab-internal.h"
#include "log.h"
#include "message-ids.h"
#include "netns-util.h"
#include "parse-util.h"
#include "process-util.h"
#include "string-util.h"
#include "strv.h"
#include "time-util.h"

#define free_and_replace(a, b) \
        do {                     \
                free(a);         \
                (a) = (b);       \
        } while (0)

/* Apart from the container labs' 10.77.x.0/24: each lab has its own namespaces anyway. */
#define LAB_VM_SUBNET "10.78.0"
#define LAB_VM_CONTROLLER_ADDRESS LAB_VM_SUBNET ".1"
#define LAB_VM_HOSTS_MAX 9U
#define LAB_VM_READY_TIMEOUT_USEC (900ULL * 1000000ULL)
#define L1_CACHE_DEFAULT "/var/cache/mhtest/l1"

static char *vm_path(const char *name, const char *suffix) {
        return strjoin(LAB_RUN_DIR "/", name, suffix ? "/" : "", strempty(suffix));
}

static int host_address(unsigned k, char **ret) {
        return asprintf_safe(ret, LAB_VM_SUBNET ".%u", 10 + k);
}

static char *ns_name(const char *lab, const char *what) {
        return strjoin(lab, "-", what);
}

/* Run argv inside namespace ns (the controller's), capturing stdout if ret_out is set. */
static int spawn_in_netns(const char *ns, char * const *argv, char **ret_out) {
        _cleanup_close_ int ns_fd = netns_open(ns);
        int saved = -EBADF, r;

        if (ns_fd < 0)
                return ns_fd;
        /* The child inherits the namespace; we return to ours at once. */
        r = netns_enter(ns_fd, &saved);
        if (r < 0)
                return r;
        r = ret_out ? spawn_capture(argv, ret_out) : spawn_wait(argv);
        netns_leave(&saved);
        return r;
}

static int write_file(const char *dir, const char *rel, const char *contents, mode_t mode) {
        _cleanup_free_ char *p = strjoin(dir, "/", rel);
        int r;

        if (!p)
                return -ENOMEM;
        r = mkdir_parents(p, 0755);
        if (r < 0)
                return r;
        return write_file_atomic(p, contents, mode);
}

static const char *const masked_units[] = {
        /* basic.target still pulls in what the machine enabled for itself. */
        "libvirtd.socket", "libvirtd-ro.socket", "libvirtd-admin.socket", "virtlockd.socket",
        "virtlockd-admin.socket", "virtlogd.socket", "virtlogd-admin.socket", "apt-daily.timer",
        "apt-daily-upgrade.timer", "man-db.timer", "dpkg-db-backup.timer", "e2scrub_all.timer",
        "fstrim.timer", "logrotate.timer", "systemd-timesyncd.service", "postgresql.service",
        "systemd-pstore.service",
};

static int payload_common(const char *labdir, const LabOptions *o) {
        _cleanup_free_ char *root = strjoin(labdir, "/payload/root"), *key = NULL, *pub = NULL, *from = NULL;
        _cleanup_free_ char *hostkey = NULL, *hostkey_dst = NULL;
        int r;

        if (!root)
                return -ENOMEM;
        r = mkdir_p(root, 0755);
        if (r < 0)
                return r;
        /* Without a build tree the L1 runs the mhtest installed on the machine (its / is shared). */
        if (o->from) {
                from = strdup(o->from);
                if (!from)
                        return -ENOMEM;
                log_info("Installing mhtest from %s into the L1 hosts.", from);
                char *argv[] = { (char *) "meson", (char *) "install", (char *) "-C", from,
                                 (char *) "--destdir", root, (char *) "--no-rebuild", (char *) "--quiet", NULL };
                r = spawn_wait(argv);
                if (r != 0)
                        return log_error_errno(r < 0 ? r : -EIO, "Failed to install %s into the L1 payload.", from);
        }

        r = write_file(root, "etc/systemd/system/mhtest-lab.target",
                       "[Unit]\n"
                       "Description=mhtest lab L1 host\n"
                       "Requires=basic.target\n"
                       "After=basic.target\n"
                       /* logind turns QMP's ACPI powerdown into a clean poweroff. */
                       "Wants=systemd-networkd.service systemd-logind.service mhtest-lab-sshd.service\n"
                       "AllowIsolate=yes\n",
                       0644);
        if (r >= 0)
                r = write_file(root, "etc/systemd/system/mhtest-lab-sshd.service",
                               "[Unit]\n"
                               "Description=OpenSSH server of the mhtest lab\n"
                               "After=network.target\n"
                               "[Service]\n"
                               "ExecStart=/usr/sbin/sshd -D -e -f /etc/mhtest-lab/sshd_config\n"
                               "RuntimeDirectory=sshd\n"
                               "RuntimeDirectoryPreserve=yes\n"
                               "Restart=on-failure\n",
                               0644);
        /* Only the lab's keys: not the machine's host keys, not root's authorized_keys. */
        if (r >= 0)
                r = write_file(root, "etc/mhtest-lab/sshd_config",
                               "HostKey /etc/mhtest-lab/ssh_host_ed25519_key\n"
                               "AuthorizedKeysFile /etc/mhtest-lab/authorized_keys\n"
                               "PermitRootLogin prohibit-password\n"
                               "PasswordAuthentication no\n"
                               "KbdInteractiveAuthentication no\n"
                               "UsePAM no\n"
                               "Subsystem sftp internal-sftp\n",
                               0644);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(masked_units); i++) {
                _cleanup_free_ char *p = strjoin(root, "/etc/systemd/system/", masked_units[i]);
                if (!p)
                        return -ENOMEM;
                if (symlink("/dev/null", p) < 0 && errno != EEXIST)
                        return -errno;
        }

        key = vm_path(o->name, "id_ed25519.pub");
        hostkey = vm_path(o->name, "ssh_host_ed25519_key");
        if (!key || !hostkey)
                return -ENOMEM;
        r = read_full_file(key, &pub, NULL);
        if (r < 0)
                return r;
        r = write_file(root, "etc/mhtest-lab/authorized_keys", pub, 0600);
        if (r < 0)
                return r;
        _cleanup_free_ char *priv = NULL;
        r = read_full_file(hostkey, &priv, NULL);
        if (r < 0)
                return r;
        r = write_file(root, "etc/mhtest-lab/ssh_host_ed25519_key", priv, 0600);
        if (r < 0)
                return r;

        /* Hosts reach each other as the controller reaches them (libvirt's qemu+ssh between
         * hosts), with the lab's key and pinned host key. */
        _cleanup_free_ char *client = vm_path(o->name, "id_ed25519"), *client_key = NULL,
                            *known = vm_path(o->name, "known_hosts"), *known_s = NULL, *cfg = NULL;
        if (!client || !known)
                return -ENOMEM;
        r = read_full_file(client, &client_key, NULL);
        if (r >= 0)
                r = read_full_file(known, &known_s, NULL);
        if (r < 0)
                return r;
        if (asprintf_safe(&cfg,
                          "Host %s-* " LAB_VM_SUBNET ".*\n"
                          "  User root\n"
                          "  IdentityFile /root/.ssh/id_ed25519\n"
                          "  IdentitiesOnly yes\n"
                          "  UserKnownHostsFile /etc/mhtest-lab/known_hosts\n"
                          "  StrictHostKeyChecking yes\n",
                          o->name) < 0)
                return -ENOMEM;
        r = write_file(root, "root/.ssh/id_ed25519", client_key, 0600);
        if (r >= 0)
                r = write_file(root, "root/.ssh/config", cfg, 0644);
        if (r >= 0)
                r = write_file(root, "etc/mhtest-lab/known_hosts", known_s, 0644);
        return r;
}

static int payload_host(const char *labdir, const char *host, unsigned k, const char *hosts_file) {
        _cleanup_free_ char *root = NULL, *net = NULL, *addr = NULL, *hn = NULL;
        int r;

        if (asprintf_safe(&root, "%s/h%u/payload/root", labdir, k) < 0 || host_address(k, &addr) < 0 ||
            asprintf_safe(&net,
                          "[Match]\nMACAddress=52:54:00:77:%02x:10\n\n"
                          "[Network]\nAddress=%s/24\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n",
                          k, addr) < 0 ||
            asprintf_safe(&hn, "%s\n", host) < 0)
                return -ENOMEM;
        r = write_file(root, "etc/hostname", hn, 0644);
        if (r >= 0)
                r = write_file(root, "etc/hosts", hosts_file, 0644);
        if (r >= 0)
                r = write_file(root, "etc/systemd/network/10-mhtest-lab.network", net, 0644);
        return r;
}

static int l1_cache(char **ret_dir) {
        const char *cache = getenv("MHTEST_L1_CACHE") ?: L1_CACHE_DEFAULT;
        _cleanup_free_ char *cur = strjoin(cache, "/current"), *dir = NULL, *k = NULL;

        if (!cur)
                return -ENOMEM;
        dir = realpath(cur, NULL);
        if (!dir)
                return log_error_errno(-errno, "No L1 kernel prepared in %s: run tools/prepare-l1.sh first.", cache);
        k = strjoin(dir, "/vmlinuz");
        if (!k || !file_exists(k))
                return log_error_errno(-ENOENT, "%s is incomplete: run tools/prepare-l1.sh.", dir);
        *ret_dir = TAKE_PTR(dir);
        return 0;
}

static int hosts_d_write(const char *name, const char *host, const char *addr) {
        _cleanup_free_ char *p = NULL, *s = NULL, *key = vm_path(name, "id_ed25519"),
                            *config = vm_path(name, "ssh_config");

        if (!key || !config || asprintf_safe(&p, LAB_HOSTS_DIR "/%s.conf", host) < 0 ||
            asprintf_safe(&s,
                          "# Written by mhtest lab up (vm backend); removed by mhtest lab down.\n"
                          "[Host]\nName=%s\nAddress=%s\nSSHUser=root\nIdentityFile=%s\nSSHConfig=%s\n"
                          "LibvirtURI=qemu+ssh://root@%s/system?keyfile=%s&no_verify=1\nMigrationAddress=%s\n",
                          host, addr, key, config, addr, key, addr) < 0)
                return -ENOMEM;
        return write_file("/", p + 1, s, 0644);
}

static int state_write(const char *name, unsigned n_hosts) {
        _cleanup_free_ char *path = vm_path(name, "lab.json");
        json_object *o = json_object_new_object(), *hosts = json_object_new_array();
        int r = 0;

        if (!path || !o || !hosts)
                return -ENOMEM;
        json_object_object_add(o, "name", json_object_new_string(name));
        json_object_object_add(o, "backend", json_object_new_string("vm"));
        json_object_object_add(o, "subnet", json_object_new_string(LAB_VM_SUBNET ".0"));
        json_object_object_add(o, "prefix", json_object_new_int(24));
        json_object_object_add(o, "controller", json_object_new_string(LAB_VM_CONTROLLER_ADDRESS));
        for (unsigned k = 1; k <= n_hosts; k++) {
                _cleanup_free_ char *host = NULL, *addr = NULL, *pidf = NULL, *pid_s = NULL, *qmp = NULL;
                json_object *h = json_object_new_object();
                unsigned pid = 0;

                if (asprintf_safe(&host, "%s-h%u", name, k) < 0 || host_address(k, &addr) < 0 ||
                    asprintf_safe(&pidf, LAB_RUN_DIR "/%s/h%u/qemu.pid", name, k) < 0 ||
                    asprintf_safe(&qmp, LAB_RUN_DIR "/%s/h%u/qmp.sock", name, k) < 0)
                        return -ENOMEM;
                if (read_one_line_file(pidf, &pid_s) >= 0)
                        (void) parse_unsigned(strstrip(pid_s), &pid);
                json_object_object_add(h, "name", json_object_new_string(host));
                json_object_object_add(h, "address", json_object_new_string(addr));
                json_object_object_add(h, "pid", json_object_new_int((int) pid));
                json_object_object_add(h, "qmp", json_object_new_string(qmp));
                json_object_array_add(hosts, h);
        }
        json_object_object_add(o, "hosts", hosts);
        r = write_file_atomic(path, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY), 0644);
        json_object_put(o);
        return r;
}

static int keygen(const char *path, const char *comment) {
        char *argv[] = { (char *) "ssh-keygen", (char *) "-q", (char *) "-t", (char *) "ed25519", (char *) "-N",
                         (char *) "", (char *) "-C", (char *) comment, (char *) "-f", (char *) path, NULL };
        int r = spawn_wait(argv);
        return r == 0 ? 0 : r < 0 ? r : -EIO;
}

static int ssh_files(const char *name, unsigned n_hosts) {
        _cleanup_free_ char *dir = vm_path(name, NULL), *key = vm_path(name, "id_ed25519"),
                            *hostkey = vm_path(name, "ssh_host_ed25519_key"), *hostpub = NULL,
                            *config = NULL, *known = NULL;
        int r;

        if (!dir || !key || !hostkey)
                return -ENOMEM;
        r = keygen(key, "mhtest-lab");
        if (r >= 0)
                r = keygen(hostkey, "mhtest-lab-host");
        if (r < 0)
                return log_error_errno(r, "Failed to generate the lab's SSH keys: %m");
        _cleanup_free_ char *hostpub_path = strjoin(hostkey, ".pub");
        if (!hostpub_path)
                return -ENOMEM;
        r = read_one_line_file(hostpub_path, &hostpub);
        if (r < 0)
                return r;
        for (unsigned k = 1; k <= n_hosts; k++) {
                _cleanup_free_ char *addr = NULL;
                char *c, *kn;
                if (host_address(k, &addr) < 0)
                        return -ENOMEM;
                /* ssh expands nothing in a scrubbed environment (virsh): absolute paths only. */
                if (asprintf_safe(&c,
                                  "%sHost %s-h%u\n  HostName %s\n  User root\n  IdentityFile %s\n"
                                  "  IdentitiesOnly yes\n  UserKnownHostsFile %s/known_hosts\n"
                                  "  StrictHostKeyChecking yes\n  HostKeyAlias %s-h%u\n",
                                  strempty(config), name, k, addr, key, dir, name, k) < 0 ||
                    asprintf_safe(&kn, "%s%s-h%u,%s %s\n", strempty(known), name, k, addr, hostpub) < 0)
                        return -ENOMEM;
                free_and_replace(config, c);
                free_and_replace(known, kn);
        }
        r = write_file(dir, "ssh_config", config, 0644);
        if (r >= 0)
                r = write_file(dir, "known_hosts", known, 0644);
        return r;
}

static int host_ready(const char *name, const char *host) {
        _cleanup_free_ char *ctl = ns_name(name, "ctl"), *out = NULL;
        _cleanup_(strv_freep) char **argv = NULL;
        int r;

        if (!ctl)
                return -ENOMEM;
        r = lab_ssh_argv(name, host, STRV_MAKE("-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=QUIET"),
                         STRV_MAKE("systemctl", "is-system-running", "--wait"), &argv);
        if (r < 0)
                return r;
        r = spawn_in_netns(ctl, argv, &out);
        if (r < 0)
                return r;
        /* "degraded" is up too: a unit of the machine's own may fail in an L1. */
        return out && (startswith(out, "running") || startswith(out, "degraded"));
}

int lab_vm_up(const LabOptions *o) {
        _cleanup_free_ char *labdir = NULL, *cache = NULL, *sw = NULL, *ctl = NULL, *hosts_file = NULL;
        bool kvm = l1vm_kvm_usable();
        uint64_t start = now_usec();
        int r;

        if (o->n_hosts < 1 || o->n_hosts > LAB_VM_HOSTS_MAX)
                return log_error_errno(-EINVAL, "The vm backend runs 1 to %u hosts.", LAB_VM_HOSTS_MAX);
        labdir = vm_path(o->name, NULL);
        sw = ns_name(o->name, "sw");
        ctl = ns_name(o->name, "ctl");
        if (!labdir || !sw || !ctl)
                return log_oom();
        if (dir_exists(labdir))
                return log_error_errno(-EEXIST, "Lab %s is already up (%s); \"mhtest lab down\" first.", o->name, labdir);
        r = l1_cache(&cache);
        if (r < 0)
                return r;
        r = mkdir_p(labdir, 0700);
        if (r < 0)
                return log_error_errno(r, "Failed to create %s: %m", labdir);

        /* From here on every failure tears down what was made. */
        r = ssh_files(o->name, o->n_hosts);
        if (r < 0)
                goto fail;
        hosts_file = strdup("127.0.0.1 localhost\n");
        for (unsigned k = 1; k <= o->n_hosts && hosts_file; k++) {
                _cleanup_free_ char *addr = NULL;
                char *n;
                if (host_address(k, &addr) < 0 || asprintf_safe(&n, "%s%s %s-h%u\n", hosts_file, addr, o->name, k) < 0) {
                        r = -ENOMEM;
                        goto fail;
                }
                free_and_replace(hosts_file, n);
        }
        r = payload_common(labdir, o);
        if (r < 0) {
                log_error_errno(r, "Failed to prepare the L1 payload: %m");
                goto fail;
        }

        r = netns_add(sw, NULL);
        if (r >= 0)
                r = netns_add(ctl, NULL);
        if (r >= 0)
                r = netns_bridge_add(sw, "br0");
        if (r >= 0)
                r = netns_bridge_add(sw, "wire0");
        if (r >= 0)
                r = netns_bridge_add(sw, "wire1");
        if (r >= 0)
                r = netns_veth_add(sw, "br0", "ctl", ctl, "lab0", LAB_VM_CONTROLLER_ADDRESS "/24");
        if (r < 0) {
                log_error_errno(r, "Failed to set up the lab network: %m");
                goto fail;
        }

        for (unsigned k = 1; k <= o->n_hosts; k++) {
                _cleanup_free_ char *host = NULL, *hdir = NULL, *payload = NULL, *hpayload = NULL, *qmp = NULL,
                                    *console = NULL, *pidfile = NULL, *qlog = NULL, *kernel = NULL,
                                    *initrd = NULL, *modules = NULL, *addr = NULL, *netns_path = NULL;
                char tap_m[IFNAMSIZ], tap_0[IFNAMSIZ], tap_1[IFNAMSIZ], mac_m[18], mac_0[18], mac_1[18];
                pid_t pid;

                snprintf(tap_m, sizeof tap_m, "h%u-m", k);
                snprintf(tap_0, sizeof tap_0, "h%u-d0", k);
                snprintf(tap_1, sizeof tap_1, "h%u-d1", k);
                snprintf(mac_m, sizeof mac_m, "52:54:00:77:%02x:10", k);
                snprintf(mac_0, sizeof mac_0, "52:54:00:77:%02x:01", k);
                snprintf(mac_1, sizeof mac_1, "52:54:00:77:%02x:02", k);
                if (asprintf_safe(&host, "%s-h%u", o->name, k) < 0 || asprintf_safe(&hdir, "%s/h%u", labdir, k) < 0 ||
                    !(payload = strjoin(labdir, "/payload")) || !(hpayload = strjoin(hdir, "/payload")) ||
                    !(qmp = strjoin(hdir, "/qmp.sock")) || !(console = strjoin(hdir, "/console.log")) ||
                    !(pidfile = strjoin(hdir, "/qemu.pid")) || !(qlog = strjoin(hdir, "/qemu.log")) ||
                    !(kernel = strjoin(cache, "/vmlinuz")) || !(initrd = strjoin(cache, "/initrd.img")) ||
                    !(modules = strjoin(cache, "/lib/modules")) || host_address(k, &addr) < 0 ||
                    !(netns_path = strjoin(NETNS_RUN_DIR "/", sw))) {
                        r = -ENOMEM;
                        goto fail;
                }
                r = payload_host(labdir, host, k, hosts_file);
                if (r >= 0)
                        r = lab_network_tap_add(sw, tap_m, "br0");
                if (r >= 0)
                        r = lab_network_tap_add(sw, tap_0, "wire0");
                if (r >= 0)
                        r = lab_network_tap_add(sw, tap_1, "wire1");
                if (r < 0) {
                        log_error_errno(r, "Failed to prepare host %s: %m", host);
                        goto fail;
                }
                L1VMSpec spec = {
                        .kernel = kernel,
                        .initrd = initrd,
                        .modules_dir = modules,
                        .payload_dir = payload,
                        .host_payload_dir = hpayload,
                        .unit = "mhtest-lab.target",
                        .memory_mib = 2048,
                        .cpus = 2,
                        .kvm = kvm,
                        .nics = {
                                { .model = "virtio-net-pci", .mac = mac_m, .tap = tap_m, .pci_slot = 2 },
                                { .model = "e1000", .mac = mac_0, .tap = tap_0, .pci_slot = 3 },
                                { .model = "e1000", .mac = mac_1, .tap = tap_1, .pci_slot = 4 },
                        },
                        .n_nics = 3,
                        .qmp_socket = qmp,
                        .console_log = console,
                        .pidfile = pidfile,
                };
                r = l1vm_start(&spec, netns_path, qlog, &pid);
                if (r < 0) {
                        log_error_errno(r, "Failed to start QEMU for %s (see %s): %m", host, qlog);
                        goto fail;
                }
                log_info("%s: QEMU pid %d (%s), %s on the lab network.", host, (int) pid, kvm ? "KVM" : "TCG", addr);
                r = hosts_d_write(o->name, host, addr);
                if (r < 0) {
                        log_error_errno(r, "Failed to write the hosts.d entry of %s: %m", host);
                        goto fail;
                }
        }
        r = state_write(o->name, o->n_hosts);
        if (r < 0) {
                log_error_errno(r, "Failed to write the lab state: %m");
                goto fail;
        }

        /* Ready = systemd up and sshd answering with the lab's key, from the controller side. */
        for (unsigned k = 1; k <= o->n_hosts; k++) {
                _cleanup_free_ char *host = NULL, *pidf = NULL, *pid_s = NULL;
                unsigned pid = 0;

                if (asprintf_safe(&host, "%s-h%u", o->name, k) < 0 ||
                    asprintf_safe(&pidf, "%s/h%u/qemu.pid", labdir, k) < 0) {
                        r = -ENOMEM;
                        goto fail;
                }
                if (read_one_line_file(pidf, &pid_s) >= 0)
                        (void) parse_unsigned(strstrip(pid_s), &pid);
                for (;;) {
                        if (!l1vm_pid_alive((pid_t) pid)) {
                                r = log_error_errno(-ECHILD, "%s: QEMU exited during boot (see %s/h%u/console.log).",
                                                    host, labdir, k);
                                goto fail;
                        }
                        if (host_ready(o->name, host) > 0)
                                break;
                        if (now_usec() - start > LAB_VM_READY_TIMEOUT_USEC) {
                                r = log_error_errno(-ETIMEDOUT, "%s did not become ready (see %s/h%u/console.log).",
                                                    host, labdir, k);
                                goto fail;
                        }
                        (void) usleep(1000 * 1000);
                }
                log_info("%s: ready after %.1fs.", host, (now_usec() - start) / 1e6);
        }
        {
                _cleanup_free_ char *f1 = NULL, *f2 = NULL;
                if (asprintf_safe(&f1, "MHTEST_LAB=%s", o->name) < 0 || asprintf_safe(&f2, "MHTEST_LAB_HOSTS=%u", o->n_hosts) < 0)
                        return log_oom();
                log_event(LOG_INFO, 0, MHTEST_MESSAGE_LAB_UP, STRV_MAKE(f1, f2),
                          "Lab %s is up: %u L1 VM host(s) (%s) on " LAB_VM_SUBNET ".0/24, ready in %.1f s.", o->name,
                          o->n_hosts, kvm ? "KVM" : "TCG", (now_usec() - start) / 1e6);
        }
        return 0;

fail:
        (void) lab_vm_down(o->name);
        return r;
}

int lab_vm_down(const char *name) {
        _cleanup_free_ char *labdir = vm_path(name, NULL), *sw = ns_name(name, "sw"), *ctl = ns_name(name, "ctl");
        int r = 0, k;

        if (!labdir || !sw || !ctl)
                return log_oom();
        /* Every host shuts down at once; then each is waited for (and forced if it hangs). */
        for (unsigned i = 1; i <= LAB_VM_HOSTS_MAX; i++) {
                _cleanup_free_ char *qmp = NULL;
                if (asprintf_safe(&qmp, "%s/h%u/qmp.sock", labdir, i) < 0)
                        return log_oom();
                if (file_exists(qmp))
                        (void) l1vm_qmp(qmp, "system_powerdown", NULL);
        }
        for (unsigned i = 1; i <= LAB_VM_HOSTS_MAX; i++) {
                _cleanup_free_ char *pidf = NULL, *pid_s = NULL, *qmp = NULL, *hostconf = NULL;
                unsigned pid = 0;

                if (asprintf_safe(&pidf, "%s/h%u/qemu.pid", labdir, i) < 0 ||
                    asprintf_safe(&qmp, "%s/h%u/qmp.sock", labdir, i) < 0 ||
                    asprintf_safe(&hostconf, LAB_HOSTS_DIR "/%s-h%u.conf", name, i) < 0)
                        return log_oom();
                if (read_one_line_file(pidf, &pid_s) >= 0 && parse_unsigned(strstrip(pid_s), &pid) >= 0 && pid > 0) {
                        k = l1vm_stop(qmp, (pid_t) pid, 90 * 1000000ULL);
                        if (k < 0)
                                r = log_error_errno(k, "Failed to stop QEMU %u of %s-h%u: %m", pid, name, i);
                }
                if (unlink(hostconf) < 0 && errno != ENOENT)
                        r = log_error_errno(-errno, "Failed to remove %s: %m", hostconf);
        }
        /* The taps, bridges and veths go away with their namespaces. */
        k = netns_remove(ctl);
        if (k < 0)
                r = log_error_errno(k, "Failed to remove namespace %s: %m", ctl);
        k = netns_remove(sw);
        if (k < 0)
                r = log_error_errno(k, "Failed to remove namespace %s: %m", sw);
        (void) netns_run_dir_release();
        k = rm_rf(labdir);
        if (k < 0 && k != -ENOENT)
                r = log_error_errno(k, "Failed to remove %s: %m", labdir);
        (void) rmdir(LAB_HOSTS_DIR);
        (void) rmdir(LAB_RUN_DIR);
        return r;
}

int lab_vm_host_state(const char *name, const char *host, pid_t qemu_pid, char **ret) {
        _cleanup_free_ char *ctl = ns_name(name, "ctl"), *out = NULL;
        _cleanup_(strv_freep) char **argv = NULL;
        int r;

        if (!ctl)
                return -ENOMEM;
        if (!l1vm_pid_alive(qemu_pid)) {
                *ret = strdup("down");
                return *ret ? 0 : -ENOMEM;
        }
        r = lab_ssh_argv(name, host, STRV_MAKE("-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=QUIET"),
                         STRV_MAKE("systemctl", "is-system-running"), &argv);
        if (r < 0)
                return r;
        r = spawn_in_netns(ctl, argv, &out);
        /* is-system-running exits non-zero for anything but "running": its output is the state. */
        if (r < 0 || r == 255 || isempty(out ? strstrip(out) : NULL)) {
                *ret = strdup("booting");
                return *ret ? 0 : -ENOMEM;
        }
        *ret = TAKE_PTR(out);
        return 0;
}
