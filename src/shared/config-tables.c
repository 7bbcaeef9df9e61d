/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <inttypes.h>
#include "config.h"
#include "parse-util.h"
#include "path-util.h"
#include "string-util.h"

/* One table per section: a new key is one line here, documented in man/mhtest.conf.5.scd. */

static const char *const nested_mode_table[] = { "auto", "yes", "no" };
static const char *const kvm_module_table[] = { "auto", "kvm_intel", "kvm_amd" };
static const char *const vhost_user_mode_table[] = { "server", "client" };
static const char *const guest_virt_table[] = { "auto", "kvm", "qemu" };
static const char *const migration_mode_table[] = { "live", "postcopy", "offline" };
static const char *const migration_transport_table[] = { "ssh", "tcp" };
static const char *const forward_mode_table[] = { "io", "mac", "macswap", "flowgen", "rxonly", "txonly",
                                                  "csum", "icmpecho", "5tswap", "noisy" };

#define ENUM(t) .enum_table = t, .n_enum = ELEMENTSOF(t)

static int check_host_name(const char *v, char **ret) {
        return hostname_valid(v) ? 0 : -EINVAL;
}

static int check_host_glob(const char *v, char **ret) {
        return isempty(v) || string_has_cc(v) ? -EINVAL : 0;
}

static int check_address(const char *v, char **ret) {
        struct in6_addr a;

        /* a host name, an IPv4 address (hostname_valid() takes those) or an IPv6 address */
        return hostname_valid(v) || cidr_parse(v, NULL, NULL) == 0 || inet_pton(AF_INET6, v, &a) == 1 ? 0 : -EINVAL;
}

static int check_ifname(const char *v, char **ret) {
        return ifname_valid(v) ? 0 : -EINVAL;
}

static int check_mac(const char *v, char **ret) {
        uint8_t m[6];

        if (mac_address_parse(v, m) < 0)
                return -EINVAL;
        if (m[0] & 1)
                return -EINVAL; /* multicast */
        *ret = ascii_strlower(strdup(v));
        return *ret ? 0 : -ENOMEM;
}

static int check_cidr(const char *v, char **ret) {
        return cidr_parse(v, NULL, NULL);
}

static int check_ipv4_cidr(const char *v, char **ret) {
        int family;

        return cidr_parse(v, &family, NULL) == 0 && family == AF_INET ? 0 : -EINVAL;
}

static int check_name(const char *v, char **ret) {
        return unit_instance_name_valid(v) ? 0 : -EINVAL;
}

static int check_forward_mode(const char *v, char **ret) {
        for (size_t i = 0; i < ELEMENTSOF(forward_mode_table); i++)
                if (streq(v, forward_mode_table[i]))
                        return 0;
        return -EINVAL;
}

static int check_compression(const char *v, char **ret) {
        /* QEMU's methods as libvirt names them (VIR_MIGRATE_PARAM_COMPRESSION) */
        return streq(v, "xbzrle") || streq(v, "mt") || streq(v, "zlib") || streq(v, "zstd") ? 0 : -EINVAL;
}

static int check_libvirt_uri(const char *v, char **ret) {
        return strstr(v, "://") || strstr(v, ":///") ? 0 : -EINVAL;
}

static int check_fs_type(const char *v, char **ret) {
        for (const char *p = v; *p; p++)
                if (!(*p >= 'a' && *p <= 'z') && !(*p >= '0' && *p <= '9') && !strchr("._-", *p))
                        return -EINVAL;
        return isempty(v) ? -EINVAL : 0;
}

static int check_no_cc(const char *v, char **ret) {
        return string_has_cc(v) ? -EINVAL : 0;
}

static int check_host_port(const char *v, char **ret) {
        const char *colon = strrchr(v, ':');
        _cleanup_free_ char *host = NULL;
        unsigned port;

        if (!colon || parse_unsigned(colon + 1, &port) < 0 || port == 0 || port > 65535)
                return -EINVAL;
        host = strndup(v, colon - v);
        if (!host)
                return -ENOMEM;
        return check_address(host, NULL);
}

static int check_word(const char *v, char **ret) {
        if (isempty(v) || string_has_cc(v) || strpbrk(v, " \t<>="))
                return -EINVAL;
        return 0;
}

static int check_env(const char *v, char **ret) {
        const char *eq = strchr(v, '=');

        if (!eq || eq == v || string_has_cc(v))
                return -EINVAL;
        for (const char *p = v; p < eq; p++)
                if (!(*p == '_' || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                      (p > v && *p >= '0' && *p <= '9')))
                        return -EINVAL;
        return 0;
}

static int check_path(const char *v, char **ret) {
        return path_is_normalized_absolute(v) ? 0 : -EINVAL;
}

int config_check_pci(const char *v, char **ret) {
        return pci_address_normalize(v, ret);
}

int hugepages_request_parse(const char *item, HugePagesRequest *ret) {
        _cleanup_free_ char *copy = strdup(item);
        HugePagesRequest r = { .node = -1 };
        char *colon, *at;
        unsigned node;

        if (!copy)
                return -ENOMEM;
        colon = strchr(copy, ':');
        if (!colon)
                return -EINVAL;
        *colon = 0;
        at = strchr(colon + 1, '@');
        if (at) {
                *at = 0;
                if (parse_unsigned(at + 1, &node) < 0 || node > 1023)
                        return -EINVAL;
                r.node = (int) node;
        }
        if (parse_size(copy, &r.page_size) < 0 || r.page_size < 4096 ||
            (r.page_size & (r.page_size - 1)) != 0)
                return -EINVAL;
        /* A plain number counts pages; a number with a unit is an amount of memory. */
        if (parse_uint64(colon + 1, &r.count) < 0) {
                r.count = 0;
                if (parse_size(colon + 1, &r.bytes) < 0 || r.bytes == 0 || r.bytes % r.page_size != 0)
                        return -EINVAL;
        } else if (r.count == 0)
                return -EINVAL;
        *ret = r;
        return 0;
}

int config_check_hugepages(const char *v, char **ret) {
        _cleanup_free_ char *size = NULL, *amount = NULL;
        HugePagesRequest r;
        int k;

        k = hugepages_request_parse(v, &r);
        if (k < 0)
                return k;
        if (format_size(r.page_size, &size) < 0)
                return -ENOMEM;
        if (r.count > 0)
                k = asprintf_safe(&amount, "%" PRIu64, r.count);
        else {
                _cleanup_free_ char *b = NULL;
                if (format_size(r.bytes, &b) < 0)
                        return -ENOMEM;
                k = asprintf_safe(&amount, "%siB", b);
        }
        if (k < 0)
                return -ENOMEM;
        if (r.node >= 0)
                k = asprintf_safe(ret, "%s:%s@%d", size, amount, r.node);
        else
                k = asprintf_safe(ret, "%s:%s", size, amount);
        return k < 0 ? -ENOMEM : 0;
}

int config_check_testpmd_port(const char *v, char **ret) {
        const char *arg = strchr(v, ':');
        _cleanup_free_ char *kind = NULL;

        if (!arg || !arg[1])
                return -EINVAL;
        kind = strndup(v, arg - v);
        if (!kind)
                return -ENOMEM;
        arg++;
        if (streq(kind, "vhost-user") || streq(kind, "null") || streq(kind, "ring"))
                return unit_instance_name_valid(arg) ? 0 : -EINVAL;
        if (streq(kind, "vfio")) {
                _cleanup_free_ char *pci = NULL;
                if (pci_address_normalize(arg, &pci) < 0)
                        return -EINVAL;
                *ret = strjoin("vfio:", pci);
                return *ret ? 0 : -ENOMEM;
        }
        if (streq(kind, "virtio-user"))
                return path_is_normalized_absolute(arg) ? 0 : -EINVAL;
        return -EINVAL;
}

int config_check_guest_interface(const char *v, char **ret) {
        _cleanup_free_ char *copy = strdup(v);
        char *slash, *colon;

        if (!copy)
                return -ENOMEM;
        slash = strchr(copy, '/');
        if (slash) {
                *slash = 0;
                if (check_mac(slash + 1, ret) < 0)
                        return -EINVAL;
                free(*ret);
                *ret = NULL;
        }
        if (streq(copy, "management") || streq(copy, "user"))
                return 0;
        colon = strchr(copy, ':');
        if (!colon)
                return -EINVAL;
        *colon = 0;
        if (streq(copy, "vhost-user") || streq(copy, "network"))
                return unit_instance_name_valid(colon + 1) ? 0 : -EINVAL;
        if (streq(copy, "bridge"))
                return ifname_valid(colon + 1) ? 0 : -EINVAL;
        return -EINVAL;
}

static bool name_valid_instance(const char *n) {
        return unit_instance_name_valid(n);
}

static bool name_valid_ifname(const char *n) {
        return ifname_valid(n);
}

#define O(s, f) offsetof(s, f)

/* mhtest.conf */
static const ConfigKey self_keys[] = {
        { "Name", CONFIG_STRING, O(SelfSection, name), NULL, "a host name", check_host_name },
};
const SectionType section_self = { .name = "Host", .size = sizeof(SelfSection), .keys = self_keys,
                                   .n_keys = ELEMENTSOF(self_keys) };

static const ConfigKey safety_keys[] = {
        { "MinAvailableMemory", CONFIG_SIZE, O(SafetySection, min_available_memory), "1G", "a size like 1G" },
        { "ManagementInterfaces", CONFIG_STRV, O(SafetySection, management_interfaces), NULL,
          "network interface names", check_ifname },
};
const SectionType section_safety = { .name = "Safety", .size = sizeof(SafetySection), .keys = safety_keys,
                                     .n_keys = ELEMENTSOF(safety_keys) };

/* hosts.d/NAME.conf */
static const ConfigKey host_keys[] = {
        { "Name", CONFIG_STRING, O(HostSection, name), NULL, "a host name", check_host_name },
        { "Description", CONFIG_STRING, O(HostSection, description), NULL, "text", check_no_cc },
        { "Address", CONFIG_STRING, O(HostSection, address), NULL, "a host name or IP address", check_address },
        { "SSHUser", CONFIG_STRING, O(HostSection, ssh_user), "root", "a user name", check_name },
        { "SSHPort", CONFIG_UNSIGNED, O(HostSection, ssh_port), "22", "a port number 1-65535", .min = 1, .max = 65535 },
        { "IdentityFile", CONFIG_PATH, O(HostSection, identity_file), NULL, "an absolute path" },
        { "SSHConfig", CONFIG_PATH, O(HostSection, ssh_config), NULL, "an absolute path" },
        { "LibvirtURI", CONFIG_STRING, O(HostSection, libvirt_uri), NULL, "a libvirt URI like qemu+ssh://host/system",
          check_libvirt_uri },
        { "MigrationAddress", CONFIG_STRING, O(HostSection, migration_address), NULL, "a host name or IP address",
          check_address },
};
const SectionType section_host = { .name = "Host", .size = sizeof(HostSection), .keys = host_keys,
                                   .n_keys = ELEMENTSOF(host_keys) };

/* jobs.d/JOB.conf */
static const ConfigKey match_keys[] = {
        { "Host", CONFIG_STRV, O(MatchSection, host), NULL, "host name patterns", check_host_glob },
};
const SectionType section_match = { .name = "Match", .size = sizeof(MatchSection), .keys = match_keys,
                                    .n_keys = ELEMENTSOF(match_keys) };

static const ConfigKey job_keys[] = {
        { "Description", CONFIG_STRING, O(JobSection, description), NULL, "text", check_no_cc },
        { "Hosts", CONFIG_STRV, O(JobSection, hosts), NULL, "host names", check_host_name },
        { "Coordinator", CONFIG_STRING, O(JobSection, coordinator), NULL,
          "the HOST:PORT of a lava-coordinator like 192.0.2.1:3079", check_host_port },
};
const SectionType section_job = { .name = "Job", .size = sizeof(JobSection), .keys = job_keys,
                                  .n_keys = ELEMENTSOF(job_keys) };

static const ConfigKey nested_keys[] = {
        { "Enable", CONFIG_ENUM, O(NestedSection, enable), "yes", "yes, no or auto", ENUM(nested_mode_table) },
        { "Module", CONFIG_ENUM, O(NestedSection, module), "auto", "auto, kvm_intel or kvm_amd",
          ENUM(kvm_module_table) },
        { "Reload", CONFIG_BOOL, O(NestedSection, reload), "yes", "a boolean" },
};
const SectionType section_nested = { .name = "Nested", .size = sizeof(NestedSection), .keys = nested_keys,
                                     .n_keys = ELEMENTSOF(nested_keys) };

static const ConfigKey hugepages_keys[] = {
        { "Pages", CONFIG_STRV, O(HugePagesSection, pages), NULL,
          "SIZE:COUNT or SIZE:AMOUNT with an optional @NODE, like 1G:6 or 2M:1GiB@0", config_check_hugepages },
        { "MountPoint", CONFIG_PATH, O(HugePagesSection, mount_point), NULL, "an absolute path" },
        { "MountPageSize", CONFIG_SIZE, O(HugePagesSection, mount_page_size), "0", "a page size like 2M or 1G" },
        { "MinAvailableMemory", CONFIG_SIZE, O(HugePagesSection, min_available_memory), "0", "a size like 2G" },
};
const SectionType section_hugepages = { .name = "HugePages", .size = sizeof(HugePagesSection),
                                        .keys = hugepages_keys, .n_keys = ELEMENTSOF(hugepages_keys) };

static const ConfigKey bridge_keys[] = {
        { "STP", CONFIG_BOOL, O(BridgeSection, stp), "no", "a boolean" },
        { "ForwardDelaySec", CONFIG_SEC, O(BridgeSection, forward_delay_usec), "0", "a time span like 0 or 4s" },
        { "MTU", CONFIG_UNSIGNED, O(BridgeSection, mtu), "0", "an MTU 68-65535", .min = 68, .max = 65535 },
        { "MACAddress", CONFIG_STRING, O(BridgeSection, mac_address), NULL, "a unicast MAC like 52:54:00:12:34:56",
          check_mac },
        { "VLANFiltering", CONFIG_BOOL, O(BridgeSection, vlan_filtering), "no", "a boolean" },
        { "DefaultPVID", CONFIG_UNSIGNED, O(BridgeSection, default_pvid), "1", "a VLAN id 1-4094", .min = 1,
          .max = 4094 },
        { "Address", CONFIG_STRV, O(BridgeSection, addresses), NULL, "addresses with prefix like 10.0.0.1/24",
          check_cidr },
        { "Ports", CONFIG_STRV, O(BridgeSection, ports), NULL, "network interface names", check_ifname },
};
const SectionType section_bridge = { .name = "Bridge", .named = true, .size = sizeof(BridgeSection),
                                     .keys = bridge_keys, .n_keys = ELEMENTSOF(bridge_keys),
                                     .name_valid = name_valid_ifname,
                                     .name_expected = "an interface name of at most 15 characters" };

static const ConfigKey vfio_keys[] = {
        { "Devices", CONFIG_STRV, O(VFIOSection, devices), NULL, "PCI addresses like 0000:04:00.0",
          config_check_pci },
        { "NoIOMMU", CONFIG_BOOL, O(VFIOSection, no_iommu), "no", "a boolean" },
        { "Persist", CONFIG_BOOL, O(VFIOSection, persist), "no", "a boolean" },
};
const SectionType section_vfio = { .name = "VFIO", .size = sizeof(VFIOSection), .keys = vfio_keys,
                                   .n_keys = ELEMENTSOF(vfio_keys) };

static const ConfigKey storage_keys[] = {
        { "What", CONFIG_STRING, O(StorageSection, what), NULL, "a device or server:/export", check_no_cc },
        { "Where", CONFIG_PATH, O(StorageSection, where), NULL, "an absolute path" },
        { "Type", CONFIG_STRING, O(StorageSection, type), "nfs", "a file system type like nfs", check_fs_type },
        { "Options", CONFIG_STRING, O(StorageSection, options), NULL, "mount options", check_no_cc },
        { "ReadOnly", CONFIG_BOOL, O(StorageSection, read_only), "no", "a boolean" },
        { "TimeoutSec", CONFIG_SEC, O(StorageSection, timeout_usec), "90", "a time span" },
};
const SectionType section_storage = { .name = "Storage", .named = true, .size = sizeof(StorageSection),
                                      .keys = storage_keys, .n_keys = ELEMENTSOF(storage_keys),
                                      .name_valid = name_valid_instance,
                                      .name_expected = "a name of letters, digits, '_', '.', '-'" };

static const ConfigKey testpmd_keys[] = {
        { "Ports", CONFIG_STRV, O(TestpmdSection, ports), NULL,
          "ports like vhost-user:NAME, vfio:PCI, null:NAME, ring:NAME or virtio-user:PATH",
          config_check_testpmd_port },
        { "VhostUserMode", CONFIG_ENUM, O(TestpmdSection, vhost_user_mode), "server", "server or client",
          ENUM(vhost_user_mode_table) },
        { "Cores", CONFIG_CORES, O(TestpmdSection, cores), "auto", "auto or a CPU list like 2-3" },
        { "ForwardCores", CONFIG_UNSIGNED, O(TestpmdSection, forward_cores), "1", "a number 1-1024", .min = 1,
          .max = 1024 },
        { "ForwardMode", CONFIG_STRING, O(TestpmdSection, forward_mode), "io",
          "io, mac, macswap, flowgen, rxonly, txonly, csum, icmpecho, 5tswap or noisy", check_forward_mode },
        { "RxQueues", CONFIG_UNSIGNED, O(TestpmdSection, rx_queues), "1", "a number 1-1024", .min = 1, .max = 1024 },
        { "TxQueues", CONFIG_UNSIGNED, O(TestpmdSection, tx_queues), "1", "a number 1-1024", .min = 1, .max = 1024 },
        { "RxDescriptors", CONFIG_UNSIGNED, O(TestpmdSection, rx_descriptors), "0", "a number 0-65535", .max = 65535 },
        { "TxDescriptors", CONFIG_UNSIGNED, O(TestpmdSection, tx_descriptors), "0", "a number 0-65535", .max = 65535 },
        { "Memory", CONFIG_SIZE, O(TestpmdSection, memory), "1G", "a size like 1G" },
        { "HugePages", CONFIG_ENUM, O(TestpmdSection, hugepages), "auto", "auto, yes or no",
          ENUM(nested_mode_table) },
        { "TotalMbufs", CONFIG_UNSIGNED, O(TestpmdSection, total_mbufs), "0", "a number" },
        { "TxFirst", CONFIG_BOOL, O(TestpmdSection, tx_first), "no", "a boolean" },
        { "StatsIntervalSec", CONFIG_SEC, O(TestpmdSection, stats_interval_usec), "10", "a time span" },
        { "WatchdogSec", CONFIG_SEC, O(TestpmdSection, watchdog_usec), "30", "a time span" },
        { "Binary", CONFIG_STRING, O(TestpmdSection, binary), "dpdk-testpmd", "a program name or absolute path",
          check_no_cc },
        { "ExtraArguments", CONFIG_COMMAND, O(TestpmdSection, extra_arguments), NULL, "testpmd arguments" },
        { "ExtraEALArguments", CONFIG_COMMAND, O(TestpmdSection, extra_eal_arguments), NULL, "EAL arguments" },
};
const SectionType section_testpmd = { .name = "Testpmd", .size = sizeof(TestpmdSection), .keys = testpmd_keys,
                                      .n_keys = ELEMENTSOF(testpmd_keys) };

static const ConfigKey guest_keys[] = {
        { "Host", CONFIG_STRING, O(GuestSection, host), NULL, "a host name of the job", check_host_name },
        { "Description", CONFIG_STRING, O(GuestSection, description), NULL, "text", check_no_cc },
        { "Memory", CONFIG_SIZE, O(GuestSection, memory), "256M", "a size like 1G" },
        { "VCPUs", CONFIG_UNSIGNED, O(GuestSection, vcpus), "1", "a number 1-512", .min = 1, .max = 512 },
        { "Image", CONFIG_PATH, O(GuestSection, image), NULL, "an absolute path" },
        { "Disks", CONFIG_STRV, O(GuestSection, disks), NULL, "absolute paths of disk images", check_path },
        { "Kernel", CONFIG_PATH, O(GuestSection, kernel), NULL, "an absolute path" },
        { "Initrd", CONFIG_PATH, O(GuestSection, initrd), NULL, "an absolute path" },
        { "KernelCommandLine", CONFIG_STRING, O(GuestSection, kernel_command_line), NULL, "text", check_no_cc },
        { "Machine", CONFIG_STRING, O(GuestSection, machine), "pc", "a QEMU machine type like pc or q35",
          check_fs_type },
        { "CPUModel", CONFIG_STRING, O(GuestSection, cpu_model), "qemu64",
          "a CPU model like qemu64 or host-passthrough", check_no_cc },
        { "Type", CONFIG_ENUM, O(GuestSection, virt_type), "auto", "auto, kvm or qemu", ENUM(guest_virt_table) },
        { "Interfaces", CONFIG_STRV, O(GuestSection, interfaces), NULL,
          "interfaces like vhost-user:PORT, bridge:NAME, network:NAME or management, each with an optional /MAC",
          config_check_guest_interface },
        { "ManagementNetwork", CONFIG_STRING, O(GuestSection, management_network), NULL,
          "a libvirt network name", check_name },
        { "ManagementAddress", CONFIG_STRING, O(GuestSection, management_address), NULL,
          "an IPv4 address with its prefix length, like 192.168.200.10/24", check_ipv4_cidr },
        { "SSHForward", CONFIG_UNSIGNED, O(GuestSection, ssh_forward), NULL, "a TCP port 1-65535",
          .min = 1, .max = 65535 },
        { "SSHAuthorizedKeys", CONFIG_STRV, O(GuestSection, ssh_authorized_keys), NULL,
          "absolute paths of public key files", check_path },
        { "Hostname", CONFIG_STRING, O(GuestSection, hostname), NULL, "a host name", check_host_name },
        { "HugePages", CONFIG_BOOL, O(GuestSection, hugepages), "no", "a boolean" },
        { "HugePageSize", CONFIG_SIZE, O(GuestSection, hugepage_size), NULL,
          "a page size of [HugePages] Pages= like 2M" },
        { "NestedVirtualization", CONFIG_BOOL, O(GuestSection, nested_virtualization), "no", "a boolean" },
        { "VCPUPinning", CONFIG_CORES, O(GuestSection, vcpu_pinning), NULL, "auto or a CPU list like 2-3" },
        { "EmulatorPinning", CONFIG_CORES, O(GuestSection, emulator_pinning), NULL,
          "auto or a CPU list like 1" },
        { "Role", CONFIG_STRING, O(GuestSection, role), NULL, "a role name", check_name },
        { "Count", CONFIG_UNSIGNED, O(GuestSection, count), "1", "a number 1-64", .min = 1, .max = 64 },
        { "AutoStart", CONFIG_BOOL, O(GuestSection, auto_start), "yes", "a boolean" },
        { "ReadyMarker", CONFIG_STRING, O(GuestSection, ready_marker), NULL, "text", check_no_cc },
        { "Prompt", CONFIG_STRING, O(GuestSection, prompt), NULL, "text", check_no_cc },
        { "ReadyTimeoutSec", CONFIG_SEC, O(GuestSection, ready_timeout_usec), "300", "a time span" },
        { "Launcher", CONFIG_COMMAND, O(GuestSection, launcher), NULL, "a command line" },
        { "ShutdownTimeoutSec", CONFIG_SEC, O(GuestSection, shutdown_timeout_usec), "60", "a time span" },
};
const SectionType section_guest = { .name = "Guest", .named = true, .size = sizeof(GuestSection),
                                    .keys = guest_keys, .n_keys = ELEMENTSOF(guest_keys),
                                    .name_valid = name_valid_instance,
                                    .name_expected = "a name of letters, digits, '_', '.', '-' (no ':')" };

static const ConfigKey migration_keys[] = {
        { "Guests", CONFIG_STRV, O(MigrationSection, guests), NULL, "guest names of the job", check_name },
        { "From", CONFIG_STRING, O(MigrationSection, from), NULL, "a host name of the job", check_host_name },
        { "To", CONFIG_STRING, O(MigrationSection, to), NULL, "a host name of the job", check_host_name },
        { "Mode", CONFIG_ENUM, O(MigrationSection, mode), "live", "live, postcopy or offline",
          ENUM(migration_mode_table) },
        { "Transport", CONFIG_ENUM, O(MigrationSection, transport), "ssh", "ssh or tcp",
          ENUM(migration_transport_table) },
        { "ParallelGroup", CONFIG_STRING, O(MigrationSection, parallel_group), NULL, "a group name", check_name },
        { "Rounds", CONFIG_UNSIGNED, O(MigrationSection, rounds), "1", "a number 1-10000", .min = 1, .max = 10000 },
        { "PingPong", CONFIG_BOOL, O(MigrationSection, ping_pong), "no", "a boolean" },
        { "Workload", CONFIG_COMMAND, O(MigrationSection, workload), NULL, "a command line" },
        { "Check", CONFIG_COMMAND, O(MigrationSection, check), NULL, "a command line" },
        { "MaxDowntime", CONFIG_MSEC, O(MigrationSection, max_downtime_usec), "0", "a time span like 300ms" },
        { "Bandwidth", CONFIG_SIZE, O(MigrationSection, bandwidth), "0", "bytes per second like 1G" },
        { "TimeoutSec", CONFIG_SEC, O(MigrationSection, timeout_usec), "300", "a time span" },
        { "AutoConverge", CONFIG_BOOL, O(MigrationSection, auto_converge), "no", "a boolean" },
        { "WaitFor", CONFIG_STRING, O(MigrationSection, wait_for), NULL,
          "a LAVA message ID (no spaces, '<', '>' or '=')", check_word },
        { "Compression", CONFIG_STRV, O(MigrationSection, compression), NULL, "xbzrle, mt, zlib or zstd",
          check_compression },
        { "ParallelConnections", CONFIG_UNSIGNED, O(MigrationSection, parallel_connections), "0",
          "a number 0-255", .max = 255 },
        { "PostcopyAfterIterations", CONFIG_UNSIGNED, O(MigrationSection, postcopy_after_iterations), "2",
          "a number 1-1000", .min = 1, .max = 1000 },
        { "PostcopyAfterPercent", CONFIG_UNSIGNED, O(MigrationSection, postcopy_after_percent), "0",
          "a percentage 0-100", .max = 100 },
        { "Synchronized", CONFIG_BOOL, O(MigrationSection, synchronized), "yes", "a boolean" },
        { "MaxDowntimeLimit", CONFIG_MSEC, O(MigrationSection, max_downtime_limit_usec), "0",
          "a time span like 500ms" },
        { "MaxTotalTime", CONFIG_MSEC, O(MigrationSection, max_total_time_usec), "0", "a time span like 10s" },
        { "MaxData", CONFIG_SIZE, O(MigrationSection, max_data), "0", "a size like 512M" },
};
const SectionType section_migration = { .name = "Migration", .named = true, .size = sizeof(MigrationSection),
                                        .keys = migration_keys, .n_keys = ELEMENTSOF(migration_keys),
                                        .name_valid = name_valid_instance,
                                        .name_expected = "a name of letters, digits, '_', '.', '-'" };

static const ConfigKey test_keys[] = {
        { "Host", CONFIG_STRV, O(TestSection, hosts), NULL, "host names of the job", check_host_name },
        { "Guest", CONFIG_STRV, O(TestSection, guests), NULL, "guest names of the job", check_name },
        { "Role", CONFIG_STRING, O(TestSection, role), NULL, "a role name", check_name },
        { "Exec", CONFIG_COMMAND, O(TestSection, exec), NULL, "a command line" },
        { "TimeoutSec", CONFIG_SEC, O(TestSection, timeout_usec), "600", "a time span" },
        { "After", CONFIG_STRV, O(TestSection, after), NULL, "test or migration names of the job", check_name },
        { "Environment", CONFIG_STRV, O(TestSection, environment), NULL,
          "assignments like KEY=VALUE (no spaces)", check_env },
        { "SSHIdentity", CONFIG_PATH, O(TestSection, ssh_identity), NULL, "an absolute path" },
        { "SSHUser", CONFIG_STRING, O(TestSection, ssh_user), "root", "a user name", check_name },
};
const SectionType section_test = { .name = "Test", .named = true, .size = sizeof(TestSection), .keys = test_keys,
                                   .n_keys = ELEMENTSOF(test_keys), .name_valid = name_valid_instance,
                                   .name_expected = "a name of letters, digits, '_', '.', '-'" };
