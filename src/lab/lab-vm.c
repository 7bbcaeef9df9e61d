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
 * In the L1: 00:02.0 management virtio NIC (address 10.78.0.1K/24), 00:03.0 and 00:04.0 e1000.
 * lab status/exec/down reach hosts by SSH from the controller namespace NAME-ctl, the same
 * path mhtest-coord uses: no second control channel to keep working. */
#include <linux/if.h>
#include <stdio.h>
#include <unistd.h>
#include "accel.h"
#include "fileio.h"
#include "l1vm.h"
#include "lab-internal.h"
#include "log.h"
#include "message-ids.h"
#include "netns-util.h"
#include "string-util.h"
#include "strv.h"

/* Apart from the container labs' 10.77.x.0/24: each lab has its own namespaces anyway. */
#define LAB_VM_SUBNET ((10u << 24) | (78u << 16))
#define LAB_VM_HOSTS_MAX 9U
#define LAB_VM_READY_TIMEOUT_USEC (900 * USEC_PER_SEC)
#define LAB_VM_STOP_TIMEOUT_USEC (90 * USEC_PER_SEC)
#define L1_CACHE_DEFAULT "/var/cache/mhtest/l1"
/* QEMU's command name ("qemu-system-x86_64" cut to 15 characters) */
#define QEMU_COMM "qemu-system-"

static const char *const masked_units[] = {
        /* basic.target still pulls in what the machine enabled for itself. */
        "libvirtd.socket", "libvirtd-ro.socket", "libvirtd-admin.socket", "virtlockd.socket",
        "virtlockd-admin.socket", "virtlogd.socket", "virtlogd-admin.socket", "apt-daily.timer",
        "apt-daily-upgrade.timer", "man-db.timer", "dpkg-db-backup.timer", "e2scrub_all.timer",
        "fstrim.timer", "logrotate.timer", "systemd-timesyncd.service", "postgresql.service",
        "systemd-pstore.service", "lava-coordinator.service",
};

/* DIR/hK[/file]: a host's QMP socket, pidfile, console, per-host payload. */
static char *host_path(const Lab *l, size_t i, const char *file) {
        _cleanup_free_ char *hk = NULL;

        if (asprintf_safe(&hk, "h%zu", i + 1) < 0)
                return NULL;
        return lab_path(l, hk, file);
}

/* What every L1 host gets over / (the 9p share "payload"): mhtest from --from, a target to boot,
 * sshd with the lab's keys only, and the lab's client key and pinned host key for host to host
 * SSH (libvirt's qemu+ssh between hosts). */
static int payload_common(const Lab *l) {
        _cleanup_free_ char *root = lab_path(l, "payload", "root"), *pub = NULL, *priv = NULL, *client_key = NULL,
                            *known_s = NULL, *cfg = NULL, *net = lab_ip4_format(l->subnet);
        int r;

        if (!root || !net)
                return -ENOMEM;
        r = mkdir_p(root, 0755);
        if (r < 0)
                return r;
        /* Without --from the L1 runs the mhtest installed on the machine (its / is shared). */
        if (l->from) {
                r = lab_install_stage(l->from, root);
                if (r < 0)
                        return r;
        }

        r = lab_root_write(root, "/etc/systemd/system/mhtest-lab.target",
                           "[Unit]\n"
                           "Description=mhtest lab L1 host\n"
                           "Requires=basic.target\n"
                           "After=basic.target\n"
                           /* logind turns QMP's ACPI powerdown into a clean poweroff. */
                           "Wants=systemd-networkd.service systemd-logind.service mhtest-lab-sshd.service\n"
                           "AllowIsolate=yes\n",
                           0644);
        if (r >= 0)
                r = lab_root_write(root, "/etc/systemd/system/mhtest-lab-sshd.service",
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
                r = lab_root_write(root, "/etc/mhtest-lab/sshd_config",
                                   "HostKey /etc/mhtest-lab/ssh_host_ed25519_key\n"
                                   "AuthorizedKeysFile /etc/mhtest-lab/authorized_keys\n"
                                   "PermitRootLogin prohibit-password\n"
                                   "PasswordAuthentication no\n"
                                   "KbdInteractiveAuthentication no\n"
                                   "UsePAM no\n"
                                   "Subsystem sftp internal-sftp\n",
                                   0644);
        if (r >= 0)
                r = lab_root_mask_units(root, masked_units, ELEMENTSOF(masked_units));
        if (r < 0)
                return r;

        STRV_FOREACH(f, STRV_MAKE("id_ed25519.pub", "ssh_host_ed25519_key", "id_ed25519", "known_hosts")) {
                _cleanup_free_ char *p = lab_path(l, *f, NULL);
                char **dst = streq(*f, "id_ed25519.pub") ? &pub : streq(*f, "ssh_host_ed25519_key") ? &priv :
                             streq(*f, "id_ed25519") ? &client_key : &known_s;
                if (!p)
                        return -ENOMEM;
                r = read_full_file(p, dst, NULL);
                if (r < 0)
                        return r;
        }
        *strrchr(net, '.') = 0;
        if (asprintf_safe(&cfg,
                          "Host %s-* %s.*\n"
                          "  User root\n"
                          "  IdentityFile /root/.ssh/id_ed25519\n"
                          "  IdentitiesOnly yes\n"
                          "  UserKnownHostsFile /etc/mhtest-lab/known_hosts\n"
                          "  StrictHostKeyChecking yes\n",
                          l->name, net) < 0)
                return -ENOMEM;
        r = lab_root_write(root, "/etc/mhtest-lab/authorized_keys", pub, 0600);
        if (r >= 0)
                r = lab_root_write(root, "/etc/mhtest-lab/ssh_host_ed25519_key", priv, 0600);
        if (r >= 0)
                r = lab_root_write(root, "/root/.ssh/id_ed25519", client_key, 0600);
        if (r >= 0)
                r = lab_root_write(root, "/root/.ssh/config", cfg, 0644);
        if (r >= 0)
                r = lab_root_write(root, "/etc/mhtest-lab/known_hosts", known_s, 0644);
        return r;
}

/* What one host gets on top (the 9p share "hostpayload"): its name, the lab's names, its address. */
static int payload_host(const Lab *l, size_t i) {
        _cleanup_free_ char *root = host_path(l, i, "payload/root"), *net = NULL, *hn = NULL, *lines = NULL,
                            *hosts = NULL;
        const LabHost *h = &l->hosts[i];
        int r;

        if (!root || lab_hosts_lines(l, &lines) < 0 ||
            !(hosts = strjoin("127.0.0.1 localhost\n", lines)) ||
            asprintf_safe(&net,
                          "[Match]\nMACAddress=52:54:00:77:%02zx:10\n\n"
                          "[Network]\nAddress=%s/24\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n",
                          i + 1, h->address) < 0 ||
            asprintf_safe(&hn, "%s\n", h->name) < 0)
                return -ENOMEM;
        r = lab_root_write(root, "/etc/hostname", hn, 0644);
        if (r >= 0)
                r = lab_root_write(root, "/etc/hosts", hosts, 0644);
        if (r >= 0)
                r = lab_root_write(root, "/etc/systemd/network/10-mhtest-lab.network", net, 0644);
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

/* "systemctl is-system-running" over SSH from the controller namespace; wait as systemd does. */
static int host_system_state(const Lab *l, const LabHost *h, bool wait, char **ret) {
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *out = NULL;
        int r;

        r = lab_ssh_argv(l->name, h->name, STRV_MAKE("-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=QUIET"),
                         wait ? STRV_MAKE("systemctl", "is-system-running", "--wait") : STRV_MAKE("systemctl", "is-system-running"),
                         &argv);
        if (r < 0)
                return r;
        r = lab_ctl_run(l, argv, &out);
        /* is-system-running exits non-zero for anything but "running": its output is the state;
         * ssh's own failures exit 255. */
        if (r < 0 || r == 255 || isempty(out ? strstrip(out) : NULL))
                return -EHOSTUNREACH;
        *ret = TAKE_PTR(out);
        return 0;
}

/* Its own payload and its taps: the management NIC on br0, the e1000s on the wires. */
static int host_prepare(const Lab *l, size_t i) {
        _cleanup_free_ char *sw = lab_sw_ns(l);
        int r;

        if (!sw)
                return -ENOMEM;
        r = payload_host(l, i);
        if (r < 0)
                return r;
        STRV_FOREACH(t, STRV_MAKE("m:br0", "d0:wire0", "d1:wire1")) {
                _cleanup_free_ char *tap = NULL;
                if (asprintf_safe(&tap, "h%zu-%.*s", i + 1, (int) strcspn(*t, ":"), *t) < 0)
                        return -ENOMEM;
                r = lab_network_tap_add(sw, tap, strchr(*t, ':') + 1);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int host_start(Lab *l, size_t i, const char *cache, bool kvm) {
        LabHost *h = &l->hosts[i];
        _cleanup_free_ char *payload = lab_path(l, "payload", NULL), *hpayload = host_path(l, i, "payload"),
                            *qmp = host_path(l, i, "qmp.sock"), *console = host_path(l, i, "console.log"),
                            *pidfile = host_path(l, i, "qemu.pid"), *qlog = host_path(l, i, "qemu.log"),
                            *kernel = strjoin(cache, "/vmlinuz"), *initrd = strjoin(cache, "/initrd.img"),
                            *modules = strjoin(cache, "/lib/modules"), *sw = lab_sw_ns(l), *netns_path = NULL;
        char tap_m[IFNAMSIZ], tap_0[IFNAMSIZ], tap_1[IFNAMSIZ], mac_m[18], mac_0[18], mac_1[18];
        unsigned k = (unsigned) i + 1;
        int r;

        if (!payload || !hpayload || !qmp || !console || !pidfile || !qlog || !kernel || !initrd || !modules || !sw ||
            !(netns_path = strjoin(NETNS_RUN_DIR "/", sw)))
                return -ENOMEM;
        snprintf(tap_m, sizeof tap_m, "h%u-m", k);
        snprintf(tap_0, sizeof tap_0, "h%u-d0", k);
        snprintf(tap_1, sizeof tap_1, "h%u-d1", k);
        snprintf(mac_m, sizeof mac_m, "52:54:00:77:%02x:10", k);
        snprintf(mac_0, sizeof mac_0, "52:54:00:77:%02x:01", k);
        snprintf(mac_1, sizeof mac_1, "52:54:00:77:%02x:02", k);
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
        r = l1vm_start(&spec, netns_path, qlog, &h->pid);
        if (r < 0)
                return log_error_errno(r, "Failed to start QEMU for %s (see %s): %m", h->name, qlog);
        /* Recorded at once, with its start time: "down" stops this process and no other. */
        r = lab_pid_start_time(h->pid, &h->pid_start);
        if (r < 0)
                return log_error_errno(r, "QEMU of %s (PID %d) is gone right after it started (see %s).", h->name,
                                       (int) h->pid, console);
        r = lab_save(l);
        if (r < 0)
                return log_error_errno(r, "Failed to record QEMU of %s: %m", h->name);
        log_info("%s: QEMU pid %d (%s), %s on the lab network.", h->name, (int) h->pid, kvm ? "KVM" : "TCG", h->address);
        return 0;
}

/* Stop every QEMU of the lab that is still the process the lab started: ACPI powerdown to all at
 * once (systemd in the L1 stops its units and mhtest reverts), then each is waited for, and
 * forced ("quit", then SIGKILL) if it hangs. */
static int hosts_stop(const Lab *l, uint64_t timeout_usec) {
        int r = 0;

        for (size_t i = 0; i < l->n_hosts; i++) {
                _cleanup_free_ char *qmp = host_path(l, i, "qmp.sock");
                if (qmp && lab_host_process_running(&l->hosts[i], QEMU_COMM))
                        (void) l1vm_qmp(qmp, "system_powerdown", NULL);
        }
        for (size_t i = 0; i < l->n_hosts; i++) {
                const LabHost *h = &l->hosts[i];
                _cleanup_free_ char *qmp = host_path(l, i, "qmp.sock");
                int k;

                if (!qmp)
                        return log_oom();
                if (!lab_host_process_running(h, QEMU_COMM))
                        continue;
                k = l1vm_stop(qmp, h->pid, timeout_usec);
                if (k < 0)
                        r = log_error_errno(k, "Failed to stop QEMU %d of %s: %m", (int) h->pid, h->name);
        }
        return r;
}

/* Where the kernel's facts say KVM but cannot prove it (this machine is a guest itself), the
 * first host's boot proves it: its kernel prints its first line within a bounded time, or the
 * lab runs on TCG. A hypervisor that emulates nested KVM badly boots nothing and says nothing. */
static int prove_kvm(Lab *l, const char *cache, bool *kvm) {
        _cleanup_free_ char *console = host_path(l, 0, "console.log");
        int r;

        if (!console)
                return log_oom();
        r = l1vm_wait_console(console, L1VM_KERNEL_MARKER, l->hosts[0].pid, L1VM_FIRST_OUTPUT_USEC);
        if (r >= 0) {
                log_info("%s: its kernel runs under KVM (\"%s\" on the console).", l->hosts[0].name, L1VM_KERNEL_MARKER);
                return 0;
        }
        log_warning_errno(r, "%s: no \"%s\" on the console within %.0f s under KVM (%m); falling back to TCG "
                          "(MHTEST_ACCEL=tcg skips the proof).",
                          l->hosts[0].name, L1VM_KERNEL_MARKER, (double) L1VM_FIRST_OUTPUT_USEC / USEC_PER_SEC);
        /* A kernel that printed nothing will not power off either. */
        r = hosts_stop(l, USEC_PER_SEC);
        if (r >= 0)
                r = lab_wait_processes_gone(l, QEMU_COMM, LAB_REAP_TIMEOUT_USEC);
        if (r < 0)
                return r;
        *kvm = false;
        return host_start(l, 0, cache, false);
}

int lab_vm_up(const LabOptions *o) {
        _cleanup_(accel_probe_done) AccelProbe accel = {};
        _cleanup_(lab_freep) Lab *l = NULL;
        _cleanup_free_ char *cache = NULL;
        uint64_t start = now_usec();
        bool kvm;
        int r;

        if (o->n_hosts < 1 || o->n_hosts > LAB_VM_HOSTS_MAX)
                return log_error_errno(-EINVAL, "The vm backend runs 1 to %u hosts.", LAB_VM_HOSTS_MAX);
        r = lab_new(o, LAB_VM_SUBNET, &l);
        if (r < 0)
                return r;
        if (dir_exists(l->dir))
                return log_error_errno(-EEXIST, "Lab %s is already up (%s); \"mhtest lab down\" first.", l->name, l->dir);
        r = accel_probe(NULL, &accel);
        if (r == -EINVAL)
                return log_error_errno(r, "Invalid $%s=%s (expected kvm or tcg).", ACCEL_ENV, getenv(ACCEL_ENV));
        if (r < 0)
                return log_error_errno(r, "Failed to decide the accelerator: %m");
        kvm = accel.accel == ACCEL_KVM;
        log_info("L1 hosts run under %s: %s.", kvm ? "KVM" : "TCG", accel.reason);
        r = l1_cache(&cache);
        if (r < 0)
                return r;
        r = lab_create(l, 0700);
        if (r < 0)
                return r;

        /* From here on every failure tears down what was made. */
        r = lab_write_ssh(l);
        if (r < 0)
                goto fail;
        r = payload_common(l);
        if (r < 0) {
                log_error_errno(r, "Failed to prepare the L1 payload: %m");
                goto fail;
        }
        r = lab_network_up(l, false);
        if (r >= 0)
                r = lab_network_bridge_add(l, "wire0");
        if (r >= 0)
                r = lab_network_bridge_add(l, "wire1");
        if (r < 0)
                goto fail;
        for (size_t i = 0; i < l->n_hosts; i++) {
                r = host_prepare(l, i);
                if (r < 0) {
                        log_error_errno(r, "Failed to prepare host %s: %m", l->hosts[i].name);
                        goto fail;
                }
                r = host_start(l, i, cache, kvm);
                if (r >= 0 && i == 0 && kvm && accel.needs_proof)
                        r = prove_kvm(l, cache, &kvm);
                if (r < 0)
                        goto fail;
        }
        r = lab_write_hosts_d(l);
        if (r < 0)
                goto fail;

        /* Ready = systemd up and sshd answering with the lab's key, from the controller side. */
        for (size_t i = 0; i < l->n_hosts; i++) {
                const LabHost *h = &l->hosts[i];

                for (;;) {
                        _cleanup_free_ char *state = NULL;

                        if (!lab_host_process_running(h, QEMU_COMM)) {
                                r = log_error_errno(-ECHILD, "%s: QEMU exited during boot (see %s/h%zu/console.log).",
                                                    h->name, l->dir, i + 1);
                                goto fail;
                        }
                        /* "degraded" is up too: a unit of the machine's own may fail in an L1. */
                        if (host_system_state(l, h, true, &state) >= 0 &&
                            (startswith(state, "running") || startswith(state, "degraded")))
                                break;
                        if (now_usec() - start > LAB_VM_READY_TIMEOUT_USEC) {
                                r = log_error_errno(-ETIMEDOUT, "%s did not become ready (see %s/h%zu/console.log).",
                                                    h->name, l->dir, i + 1);
                                goto fail;
                        }
                        sleep_usec(USEC_PER_SEC);
                }
                log_info("%s: ready after %.1fs.", h->name, (double) (now_usec() - start) / USEC_PER_SEC);
        }
        {
                _cleanup_free_ char *f1 = NULL, *f2 = NULL, *net = lab_ip4_format(l->subnet);
                if (!net || asprintf_safe(&f1, "MHTEST_LAB=%s", l->name) < 0 ||
                    asprintf_safe(&f2, "MHTEST_LAB_HOSTS=%zu", l->n_hosts) < 0)
                        return log_oom();
                log_event(LOG_INFO, 0, MHTEST_MESSAGE_LAB_UP, STRV_MAKE(f1, f2),
                          "Lab %s is up: %zu L1 VM host(s) (%s) on %s/24, ready in %.1f s.", l->name, l->n_hosts,
                          kvm ? "KVM" : "TCG", net, (double) (now_usec() - start) / USEC_PER_SEC);
        }
        return 0;

fail:
        log_error("Lab %s did not come up; removing what was made.", l->name);
        (void) lab_vm_down(l);
        return r;
}

int lab_vm_down(Lab *l) {
        int r = 0;

        if (hosts_stop(l, LAB_VM_STOP_TIMEOUT_USEC) < 0)
                r = -EBUSY;
        /* Down only when every QEMU has left /proc: it daemonized, so PID 1 reaps it. */
        if (lab_wait_processes_gone(l, QEMU_COMM, LAB_REAP_TIMEOUT_USEC) < 0)
                r = -EBUSY;
        /* The taps, bridges and veths go away with the namespaces. */
        if (lab_remove_hosts_d(l) < 0 || lab_network_down(l) < 0)
                r = -EBUSY;
        if (lab_remove_dir(l) < 0)
                r = -EBUSY;
        return r;
}

int lab_vm_host_state(const Lab *l, const LabHost *h, char **ret) {
        if (!lab_host_process_running(h, QEMU_COMM)) {
                *ret = strdup("down");
                return *ret ? 0 : -ENOMEM;
        }
        if (host_system_state(l, h, false, ret) < 0) {
                *ret = strdup("booting");
                return *ret ? 0 : -ENOMEM;
        }
        return 0;
}
