/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>
#include "config.h"
#include "config-log.h"
#include "journal.h"
#include "lab.h"
#include "mhtest-build.h"
#include "log.h"
#include "mhtest.h"
#include "message-ids.h"
#include "parse-util.h"
#include "string-util.h"

char *arg_root = NULL;
bool arg_json = false;
bool arg_all = false;
bool arg_quiet = false;
static LabArgs arg_lab = {};

/* The lab lives in src/lab; it gets its options here. */
static int verb_lab(int argc, char *argv[]) {
        if (arg_root && !streq(arg_root, "/"))
                return log_error_errno(-EINVAL, "mhtest lab acts on this machine; --root is not supported.");
        arg_lab.json = arg_json;
        arg_lab.quiet = arg_quiet;
        return lab_main(&arg_lab, argc, argv);
}

typedef struct Verb {
        const char *name;
        int min_args, max_args; /* including the verb itself */
        int (*run)(int argc, char *argv[]);
        const char *usage;
        const char *help;
} Verb;

static const Verb verbs[] = {
        { "config", 2, 3, verb_config, "config show|validate|hash [JOB]",
          "Show the merged configuration with the origin of every value, validate it,\n"
          "or print a hash of a job's effective configuration." },
        { "check", 1, 2, verb_check, "check [JOB]",
          "Preflight doctor: CPU virtualization, IOMMU, modules, hugepages, NIC safety,\n"
          "programs, kernel command line." },
        { "apply", 3, 3, verb_apply, "apply STEP JOB", "Apply one provisioning step (what mhtest-STEP@JOB.service runs)." },
        { "revert", 3, 3, verb_revert, "revert STEP JOB", "Revert exactly what \"apply STEP JOB\" changed." },
        { "status", 1, 2, verb_status, "status [JOB]",
          "Show each step's state and what it changed, testpmd's rates and the guests\n"
          "(unit and domain state, host, addresses, the last console lines)." },
        { "testpmd", 2, 2, verb_testpmd, "testpmd JOB", "Run testpmd for JOB under supervision (service main)." },
        { "testpmd-console", 2, 2, verb_testpmd_console, "testpmd-console JOB", "Attach to the running testpmd prompt." },
        { "guest", 2, 2, verb_guest, "guest [--print-xml] [--prepare-incoming] [--remove-incoming] JOB:GUEST",
          "Run a libvirt guest under supervision (service main), or print its XML.\n"
          "--print-xml prints the domain XML this host would start and starts nothing.\n"
          "--prepare-incoming makes the overlays, seed and management reservation a migration\n"
          "of the guest to this host needs; --remove-incoming removes them again." },
        { "vms", 3, 4, verb_vms, "vms start|wait|list JOB [ROLE]",
          "Start the guests of JOB that the job does not start (AutoStart=no), or those of ROLE;\n"
          "wait until they are ready (--timeout=SEC), or list the job's guests and their units' states.\n"
          "Like LAVA's lava-start-vms and lava-wait-for-vms." },
        { "console", 2, 2, verb_console, "console JOB:GUEST[-N]",
          "Attach to a guest's serial console (hands over to \"virsh console\")." },
        { "job", 3, 3, verb_job, "job wait-started|wait-stopped JOB",
          "Wait until every unit of JOB is active, or stopped (what mhtest@JOB.service runs)." },
        { "lab", 2, 64, verb_lab, "lab up|down|status|exec ...", "Local hosts on one machine." },
};

static const Verb *find_verb(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i].name, name))
                        return &verbs[i];
        return NULL;
}

static void help(const Verb *v) {
        if (v) {
                printf("mhtest %s\n\n%s\n\n"
                       "Options:\n"
                       "  --root=DIR          Operate on the tree below DIR (/etc, /run, /sys, /proc)\n"
                       "  --json              Machine-readable output where supported\n"
                       "  --all               config show: also list keys at their default\n"
                       "  --timeout=SEC       vms wait: give up after this long (default: no limit)\n"
                       "  --log-level=LEVEL   debug, info, notice, warning, err\n\n"
                       "See mhtest(8).\n",
                       v->usage, v->help);
                return;
        }
        printf("mhtest [OPTIONS...] COMMAND ...\n\n"
               "Prepare this host for multi-host virtualization tests, the systemd way.\n\n"
               "Commands:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                printf("  %-34s %.*s\n", verbs[i].usage, (int) strcspn(verbs[i].help, "\n"), verbs[i].help);
        printf("\nOptions:\n"
               "  -h --help           Show this help (COMMAND --help: help for one command)\n"
               "     --version        Show the version\n"
               "     --root=DIR       Operate on the tree below DIR instead of /\n"
               "     --log-level=LEVEL  debug, info, notice, warning, err\n"
               "     --json           Machine-readable output where supported\n"
               "     --all            config show: also list keys at their default\n"
               "     --timeout=SEC    vms wait: give up after this long\n"
               "  -q --quiet          Print less\n\n"
               "See mhtest(8) and mhtest.conf(5).\n");
}

int load_config(Config **ret) {
        _cleanup_(config_freep) Config *c = NULL;
        int r;

        r = config_load(arg_root, &c);
        if (r < 0)
                return log_error_errno(r, "Failed to load configuration: %m");
        *ret = TAKE_PTR(c);
        return 0;
}

void print_diagnostics(const ConfigDiagnostics *d) {
        (void) config_diagnostics_log(d);
}

int load_job(Config *c, const char *name, JobConfig **ret) {
        _cleanup_(config_diagnostics_done) ConfigDiagnostics d = {};
        _cleanup_(job_config_freep) JobConfig *j = NULL;
        int r;

        r = config_load_job(c, name, &j, &d);
        if (r == -ENOENT)
                return log_error_errno(r, "Job \"%s\" not found: no jobs.d/%s.conf in the configuration directories.",
                                       name, name);
        if (r < 0 && r != -EINVAL)
                return log_error_errno(r, "Failed to load job \"%s\": %m", name);
        if (c->diagnostics.n_errors > 0 || d.n_errors > 0) {
                print_diagnostics(&c->diagnostics);
                print_diagnostics(&d);
                return log_error_errno(-EINVAL, "Job \"%s\" is not valid: %zu error(s); nothing was changed.", name,
                                       c->diagnostics.n_errors + d.n_errors);
        }
        *ret = TAKE_PTR(j);
        return 0;
}

int verb_not_implemented(int argc, char *argv[]) {
        log_error("\"mhtest %s\" is not implemented yet.", argv[0]);
        return -EOPNOTSUPP;
}

int main(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_ROOT, ARG_LOG_LEVEL, ARG_JSON, ARG_ALL,
               ARG_LAB_NAME, ARG_LAB_HOSTS, ARG_LAB_FROM, ARG_LAB_BACKEND, ARG_LAB_IMAGES, ARG_PRINT_XML, ARG_PREPARE_INCOMING,
               ARG_REMOVE_INCOMING, ARG_TIMEOUT };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "root", required_argument, NULL, ARG_ROOT },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "json", no_argument, NULL, ARG_JSON },
                { "all", no_argument, NULL, ARG_ALL },
                { "quiet", no_argument, NULL, 'q' },
                { "print-xml", no_argument, NULL, ARG_PRINT_XML }, /* guest */
                { "prepare-incoming", no_argument, NULL, ARG_PREPARE_INCOMING }, /* guest */
                { "remove-incoming", no_argument, NULL, ARG_REMOVE_INCOMING },   /* guest */
                { "timeout", required_argument, NULL, ARG_TIMEOUT }, /* vms wait */
                /* mhtest lab */
                { "name", required_argument, NULL, ARG_LAB_NAME },
                { "hosts", required_argument, NULL, ARG_LAB_HOSTS },
                { "from", required_argument, NULL, ARG_LAB_FROM },
                { "backend", required_argument, NULL, ARG_LAB_BACKEND },
                { "images", required_argument, NULL, ARG_LAB_IMAGES },
                {}
        };
        bool show_help = false;
        const Verb *v;
        int c, r, nargs;

        log_setup("mhtest");

        /* Options may stand anywhere, as with systemctl; "lab exec HOST -- CMD" stops at "--". */
        while ((c = getopt_long(argc, argv, "hq", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        show_help = true;
                        break;
                case ARG_VERSION:
                        printf("mhtest %s\n", PACKAGE_VERSION);
                        return 0;
                case ARG_ROOT:
                        arg_root = optarg;
                        break;
                case ARG_LOG_LEVEL:
                        if (log_set_max_level_from_option(optarg) < 0)
                                return 2;
                        break;
                case ARG_JSON:
                        arg_json = true;
                        break;
                case ARG_ALL:
                        arg_all = true;
                        break;
                case 'q':
                        arg_quiet = true;
                        break;
                case ARG_PRINT_XML:
                        arg_print_xml = true;
                        break;
                case ARG_PREPARE_INCOMING:
                        arg_guest_incoming = GUEST_INCOMING_PREPARE;
                        break;
                case ARG_REMOVE_INCOMING:
                        arg_guest_incoming = GUEST_INCOMING_REMOVE;
                        break;
                case ARG_TIMEOUT:
                        if (parse_time_usec(optarg, USEC_PER_SEC, &arg_timeout_usec) < 0) {
                                log_error("Invalid --timeout=%s (expected a time span like 300 or 5min).", optarg);
                                return 2;
                        }
                        break;
                case ARG_LAB_NAME:
                        arg_lab.name = optarg;
                        break;
                case ARG_LAB_HOSTS:
                        if (parse_unsigned(optarg, &arg_lab.n_hosts) < 0 || arg_lab.n_hosts < 1) {
                                log_error("Invalid --hosts=%s (expected a number of hosts, 1 or more).", optarg);
                                return 2;
                        }
                        break;
                case ARG_LAB_FROM:
                        arg_lab.from = optarg;
                        break;
                case ARG_LAB_BACKEND:
                        arg_lab.backend = optarg;
                        break;
                case ARG_LAB_IMAGES:
                        arg_lab.images = optarg;
                        break;
                default:
                        return 2;
                }

        nargs = argc - optind;
        if (nargs == 0) {
                if (show_help) {
                        help(NULL);
                        return 0;
                }
                log_error("No command given. See \"mhtest --help\".");
                return 2;
        }
        v = find_verb(argv[optind]);
        if (!v) {
                log_error("Unknown command \"%s\". See \"mhtest --help\".", argv[optind]);
                return 2;
        }
        if (show_help) {
                help(v);
                return 0;
        }
        if (nargs < v->min_args || nargs > v->max_args) {
                log_error("Usage: mhtest %s", v->usage);
                return 2;
        }
        r = v->run(nargs, argv + optind);
        return r < 0 ? 1 : r;
}
