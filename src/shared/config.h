/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include "macro.h"
#include "parse-util.h"

/* The configuration model: mhtest.conf (this host), hosts.d/ (one host a file), jobs.d/ (jobs
 * with drop-ins). Every section is a typed struct whose first member is a ConfigSection; its
 * keys are described by one table (config-tables.c), so a new key is one table line and
 * parsing, defaults, "config show" and "config hash" follow from it. */

typedef enum ConfigValueType {
        CONFIG_BOOL,     /* bool */
        CONFIG_ENUM,     /* int, index into ConfigKey.enum_table */
        CONFIG_UNSIGNED, /* unsigned, range min..max */
        CONFIG_SIZE,     /* uint64_t bytes, IEC suffixes */
        CONFIG_SEC,      /* uint64_t usec, plain number = seconds */
        CONFIG_MSEC,     /* uint64_t usec, plain number = milliseconds */
        CONFIG_STRING,   /* char *, optional item check */
        CONFIG_PATH,     /* char *, absolute normalized path */
        CONFIG_STRV,     /* char **, whitespace separated, item check; empty assignment resets */
        CONFIG_COMMAND,  /* char **, a command line split with quotes; replaced, not appended */
        CONFIG_CPUSET,   /* CPUSet */
        CONFIG_CORES,    /* CoreSpec: "auto" or a CPU list */
        _CONFIG_VALUE_TYPE_MAX,
} ConfigValueType;

typedef struct ConfigKey {
        const char *name;
        ConfigValueType type;
        size_t offset;
        const char *default_value; /* parsed at section creation and on empty assignment */
        const char *expected;      /* what a valid value looks like, for error messages */
        /* Check and normalize one word (list items) or the whole value (strings). */
        int (*check)(const char *value, char **ret_normalized);
        const char *const *enum_table;
        size_t n_enum;
        unsigned min, max; /* CONFIG_UNSIGNED, max 0 = no upper bound */
} ConfigKey;

typedef struct ConfigOrigin {
        const char *file; /* interned in the Config's file list */
        unsigned line;    /* 0: default */
} ConfigOrigin;

struct SectionType;

typedef struct ConfigSection {
        const struct SectionType *type;
        char *name; /* the NAME of "[Bridge NAME]", NULL for unnamed sections */
        ConfigOrigin origin;
        ConfigOrigin *origins; /* one per key */
} ConfigSection;

typedef struct SectionType {
        const char *name;
        bool named;
        size_t size;
        const ConfigKey *keys;
        size_t n_keys;
        bool (*name_valid)(const char *name);
        const char *name_expected;
} SectionType;

typedef struct CoreSpec {
        bool automatic;
        CPUSet cpus;
} CoreSpec;

/* ---- enums ---- */
typedef enum NestedMode { NESTED_AUTO, NESTED_YES, NESTED_NO, _NESTED_MODE_MAX } NestedMode;
typedef enum KvmModule { KVM_MODULE_AUTO, KVM_MODULE_INTEL, KVM_MODULE_AMD, _KVM_MODULE_MAX } KvmModule;
typedef enum VhostUserMode { VHOST_USER_SERVER, VHOST_USER_CLIENT, _VHOST_USER_MODE_MAX } VhostUserMode;
typedef enum GuestVirtType { GUEST_VIRT_AUTO, GUEST_VIRT_KVM, GUEST_VIRT_QEMU, _GUEST_VIRT_MAX } GuestVirtType;
typedef enum MigrationMode { MIGRATION_LIVE, MIGRATION_POSTCOPY, MIGRATION_OFFLINE, _MIGRATION_MODE_MAX } MigrationMode;
typedef enum MigrationTransport { MIGRATION_TRANSPORT_SSH, MIGRATION_TRANSPORT_TCP, _MIGRATION_TRANSPORT_MAX } MigrationTransport;

/* ---- mhtest.conf ---- */
typedef struct SelfSection {
        ConfigSection section;
        char *name;
} SelfSection;

typedef struct SafetySection {
        ConfigSection section;
        uint64_t min_available_memory;
        char **management_interfaces;
} SafetySection;

/* ---- hosts.d/NAME.conf ---- */
typedef struct HostSection {
        ConfigSection section;
        char *name;
        char *address;
        char *ssh_user;
        unsigned ssh_port;
        char *identity_file;
        char *ssh_config;
        char *libvirt_uri;
        char *migration_address;
        char *description;
} HostSection;

/* ---- jobs.d/JOB.conf ---- */
typedef struct MatchSection {
        ConfigSection section;
        char **host;
} MatchSection;

typedef struct JobSection {
        ConfigSection section;
        char *description;
        char **hosts;
        char *coordinator; /* HOST:PORT of a running lava-coordinator; NULL: mhtest-coord starts one */
} JobSection;

typedef struct NestedSection {
        ConfigSection section;
        int enable; /* NestedMode */
        int module; /* KvmModule */
        bool reload;
} NestedSection;

typedef struct HugePagesSection {
        ConfigSection section;
        char **pages; /* normalized "SIZE:COUNT[@NODE]" / "SIZE:BYTES[@NODE]" items */
        char *mount_point;
        uint64_t mount_page_size;
        uint64_t min_available_memory;
} HugePagesSection;

typedef struct BridgeSection {
        ConfigSection section;
        bool stp;
        uint64_t forward_delay_usec;
        unsigned mtu;
        char *mac_address;
        bool vlan_filtering;
        unsigned default_pvid;
        char **addresses;
        char **ports;
} BridgeSection;

typedef struct VFIOSection {
        ConfigSection section;
        char **devices;
        bool no_iommu;
        bool persist;
} VFIOSection;

typedef struct StorageSection {
        ConfigSection section;
        char *what;
        char *where;
        char *type;
        char *options;
        bool read_only;
        uint64_t timeout_usec;
} StorageSection;

typedef struct TestpmdSection {
        ConfigSection section;
        char **ports;
        int vhost_user_mode;
        CoreSpec cores;
        unsigned forward_cores;
        char *forward_mode;
        unsigned rx_queues, tx_queues;
        unsigned rx_descriptors, tx_descriptors;
        uint64_t memory;
        int hugepages; /* NestedMode values: auto = the job's hugepages if it has any */
        unsigned total_mbufs;
        bool tx_first;
        uint64_t stats_interval_usec;
        uint64_t watchdog_usec;
        char *binary;
        char **extra_arguments;
        char **extra_eal_arguments;
} TestpmdSection;

#define GUEST_DISKS_MAX 25U /* vdb..vdz, after Image= on vda */

typedef struct GuestSection {
        ConfigSection section;
        char *host;
        char *description;
        uint64_t memory;
        unsigned vcpus;
        char *image;
        char **disks; /* further disk images: vdb, vdc, ... */
        char *kernel;
        char *initrd;
        char *kernel_command_line;
        char *machine;
        char *cpu_model;
        int virt_type;
        char **interfaces;
        char *management_network; /* libvirt network of the "management" interface */
        char *management_address; /* IPv4/PREFIX its MAC gets from a DHCP reservation */
        unsigned ssh_forward;     /* host TCP port forwarded to management_address:22; 0: none */
        char **ssh_authorized_keys; /* public key files, for the cloud-init seed */
        char *hostname;             /* for the cloud-init seed */
        bool hugepages;
        uint64_t hugepage_size; /* 0: the job's (guest_hugepages()) */
        bool nested_virtualization;
        CoreSpec vcpu_pinning;     /* automatic: chosen on the host (guest-placement.h) */
        CoreSpec emulator_pinning;
        char *role;
        unsigned count;
        bool auto_start;
        char *ready_marker;
        char *prompt;
        uint64_t ready_timeout_usec;
        char **launcher; /* a command line that runs the guest instead of libvirt (guest-launcher.c) */
        uint64_t shutdown_timeout_usec;
} GuestSection;

typedef struct MigrationSection {
        ConfigSection section;
        char **guests;
        char *from;
        char *to;
        int mode;
        int transport;
        char *parallel_group;
        unsigned rounds;
        bool ping_pong;
        char **workload;
        char **check;
        uint64_t max_downtime_usec;
        uint64_t bandwidth;
        uint64_t timeout_usec;
        bool auto_converge;
        char *wait_for; /* a LAVA multinode message ID to wait for before starting */
        /* tuning, passed to libvirt */
        char **compression;            /* methods: xbzrle mt zlib zstd; empty: uncompressed */
        unsigned parallel_connections; /* multifd; 0: one connection */
        unsigned postcopy_after_iterations; /* Mode=postcopy: switch at this pre-copy pass */
        unsigned postcopy_after_percent;    /* ... or once this much memory was sent */
        bool synchronized;             /* the guests of the section start together */
        /* limits, checked against libvirt's figures of the completed job */
        uint64_t max_downtime_limit_usec;
        uint64_t max_total_time_usec;
        uint64_t max_data;
} MigrationSection;

/* [Test NAME]: a test shell run by mhtest-coord on hosts (a transient unit) or in guests, with
 * LAVA's multinode API relayed to a lava-coordinator (src/coord/shells.c, lava.c). */
typedef struct TestSection {
        ConfigSection section;
        char **hosts;
        char **guests;
        char *role;
        char **exec;
        uint64_t timeout_usec;
        char **after;
        char **environment;
        char *ssh_identity; /* Guest= shells: the controller's private key for the guest's sshd */
        char *ssh_user;     /* Guest= shells: the user to log in as in the guest */
} TestSection;

extern const SectionType section_self, section_safety, section_host, section_match, section_job,
        section_nested, section_hugepages, section_bridge, section_vfio, section_storage,
        section_testpmd, section_guest, section_migration, section_test;

/* ---- diagnostics ---- */
typedef struct ConfigError {
        char *file;
        unsigned line;
        char *section;
        char *key;
        char *message;
} ConfigError;

typedef struct ConfigDiagnostics {
        ConfigError *errors;
        size_t n_errors;
} ConfigDiagnostics;

void config_diagnostics_done(ConfigDiagnostics *d);
/* An error about key (NULL: the section) of a job's section, at the line that set the key. */
void job_error(ConfigDiagnostics *d, const ConfigSection *s, const char *key, const char *fmt, ...)
        _printf_(4, 5);
int config_error_add(ConfigDiagnostics *d, const char *file, unsigned line, const char *section,
                     const char *key, const char *format, ...) _printf_(6, 7);
/* "FILE:LINE: [Section] Key=: message" */
int config_error_format(const ConfigError *e, char **ret);

/* ---- sections generically ---- */
typedef struct SectionList {
        ConfigSection **sections;
        size_t n_sections;
} SectionList;

void section_list_done(SectionList *l);
ConfigSection *section_list_find(const SectionList *l, const SectionType *type, const char *name);
const ConfigKey *section_type_find_key(const SectionType *t, const char *key);
/* The value of a key as it would be written in a config file (canonical form). */
int config_key_format(const ConfigSection *s, const ConfigKey *k, char **ret);

/* ---- loaded configuration ---- */
typedef struct JobConfig {
        char *name;
        char **files; /* files that contributed, in merge order */
        SectionList sections;
        JobSection *job;
        NestedSection *nested;
        HugePagesSection *hugepages;
        VFIOSection *vfio;
        TestpmdSection *testpmd;
        BridgeSection **bridges;
        size_t n_bridges;
        StorageSection **storages;
        size_t n_storages;
        GuestSection **guests;
        size_t n_guests;
        MigrationSection **migrations;
        size_t n_migrations;
        TestSection **tests;
        size_t n_tests;
} JobConfig;

typedef struct HostConfig {
        char *file;
        SectionList sections;
        HostSection *host;
} HostConfig;

typedef struct Config {
        char *root;
        char **files; /* every file read: owns the strings ConfigOrigin points to */
        char **main_files;
        SectionList main;
        SelfSection *self;
        SafetySection *safety;
        char *host_name; /* effective name of this host */
        HostConfig **hosts;
        size_t n_hosts;
        ConfigDiagnostics diagnostics; /* errors in mhtest.conf and hosts.d */
} Config;

void config_free(Config *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Config *, config_free);
void job_config_free(JobConfig *j);
DEFINE_TRIVIAL_CLEANUP_FUNC(JobConfig *, job_config_free);

/* Load mhtest.conf and hosts.d below root (NULL = "/"). Problems are collected in
 * c->diagnostics; only a failure to read is returned as negative errno. */
int config_load(const char *root, Config **ret);
/* List job names (the jobs.d/ *.conf files across the search path, masking applied), sorted. */
int config_list_jobs(const Config *c, char ***ret);
/* Load and validate a job: -ENOENT if it does not exist; errors are appended to d. */
int config_load_job(Config *c, const char *name, JobConfig **ret, ConfigDiagnostics *d);
const HostConfig *config_find_host(const Config *c, const char *name);

/* Whether the job is placed on this host ([Job] Hosts= empty or contains it). */
bool job_runs_on_host(const JobConfig *j, const char *host);
/* Steps the job uses on a host, in apply order ("nested", "hugepages", ...). */
int job_steps(const JobConfig *j, const char *host, char ***ret);
/* Guests of the job that run on the given host (Host= equal, or empty and host is self). */
bool guest_on_host(const Config *c, const GuestSection *g, const char *host);

int job_config_hash(const JobConfig *j, char **ret_hex);
const TestSection *job_find_test(const JobConfig *j, const char *name);
/* Writes the merged view, each value with the file:line it came from. */
int section_list_dump(const SectionList *l, FILE *f, bool all);

/* Item checks, shared with the tables and the tests. */
int config_check_pci(const char *v, char **ret);
int config_check_hugepages(const char *v, char **ret);
int config_check_testpmd_port(const char *v, char **ret);
int config_check_guest_interface(const char *v, char **ret);

/* Parse a normalized [HugePages] Pages= item. count is 0 if given as bytes (then bytes is set);
 * node is -1 for "all nodes". */
typedef struct HugePagesRequest {
        uint64_t page_size;
        uint64_t count;
        uint64_t bytes;
        int node;
} HugePagesRequest;
int hugepages_request_parse(const char *item, HugePagesRequest *ret);

/* The hugepages backing a guest with HugePages=yes: its HugePageSize=, else [HugePages]
 * MountPageSize=, else the largest page size of Pages=. node: the NUMA node of the Pages= item
 * of that size when there is exactly one such item and it names a node, else -1 (any node).
 * pool: the bytes Pages= requests of that size. -ENOENT when the job has no such pages. */
typedef struct GuestHugePages {
        uint64_t page_size;
        int node;
        uint64_t pool;
} GuestHugePages;
int guest_hugepages(const JobConfig *j, const GuestSection *g, GuestHugePages *ret);

/* What only the guest's host can check: that Image=, Disks=, Kernel= and Initrd= exist below
 * c->root. Not part of config_load_job(): the generator and the coordinator load jobs where the
 * images are not (or not yet: a [Storage] mount). Errors are appended to d; returns how many. */
int guest_check_files(const Config *c, const GuestSection *g, ConfigDiagnostics *d);
