/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mhtest-coord: provisions the hosts of a job and drives cross-host migration of its guests. */
#include <getopt.h>
#include <inttypes.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include "config.h"
#include "config-log.h"
#include "coord.h"
#include "fileio.h"
#include "journal.h"
#include "log.h"
#include "mhtest-build.h"
#include "preflight.h"
#include "schedule.h"
#include "shells.h"
#include "state.h"
#include "string-util.h"
#include "strv.h"

static const char *arg_root;
static const char *arg_json_file;
static const char *arg_junit_file;
static bool arg_keep;
static const char *arg_lava_scripts;
static uint64_t arg_timeout_usec = 600 * USEC_PER_SEC;

static void help(void) {
        printf("mhtest-coord [OPTIONS...] COMMAND JOB\n\n"
               "Provision the hosts of a job and drive cross-host live migration of its guests.\n\n"
               "Commands:\n"
               "  plan JOB             Print the schedule without acting\n"
               "  run JOB              Execute it\n\n"
               "Options:\n"
               "  -h --help            Show this help\n"
               "     --version        Show the version\n"
               "     --root=DIR       Read the configuration below DIR\n"
               "     --json=FILE      Write the plan or the results as JSON to FILE\n"
               "     --junit=FILE     Write the results as JUnit XML to FILE (run)\n"
               "     --keep           run: leave the job running on the hosts afterwards\n"
               "     --timeout=SEC    run: how long a host may take to provision (default 600)\n"
               "     --lava-scripts=DIR  run: LAVA's lava_test_shell directory (lava-test-case,\n"
               "                      multi_node/lava-send, ...) installed for the test shells\n"
               "     --log-level=LEVEL  debug, info, notice, warning, err\n");
}

static const char *host_uri(const Config *c, const char *host) {
        const HostConfig *h = config_find_host(c, host);
        return h && h->host->libvirt_uri ? h->host->libvirt_uri : NULL;
}

static int print_plan(const Config *c, const JobConfig *j, const Schedule *s) {
        printf("Job %s%s%s\n", j->name, j->job->description ? ": " : "", strempty(j->job->description));
        printf("\nProvisioning (systemctl start mhtest@%s over systemd's D-Bus API via SSH):\n", j->name);
        STRV_FOREACH(h, j->job->hosts) {
                _cleanup_strv_free_ char **steps = NULL;
                _cleanup_free_ char *list = NULL;
                const HostConfig *hc = config_find_host(c, *h);

                if (job_steps(j, *h, &steps) < 0 || !(list = strv_join(steps, " ")))
                        return log_oom();
                printf("  %-16s %-24s steps: %s\n", *h, hc && hc->host->address ? hc->host->address : "(this host)",
                       *list ? list : "(none)");
                for (size_t i = 0; i < j->n_guests; i++)
                        if (guest_on_host(c, j->guests[i], *h))
                                printf("  %-16s %-24s guest: %s%s\n", "", "", j->guests[i]->section.name,
                                       j->guests[i]->auto_start ? "" : " (not auto-started)");
        }
        printf("\nMigrations:\n");
        if (s->n_phases == 0)
                printf("  (none)\n");
        for (size_t i = 0; i < s->n_phases; i++) {
                printf("  %zu. %s%s\n", i + 1, s->phases[i].label, s->phases[i].n_steps > 1 ? " (in parallel)" : "");
                for (size_t k = 0; k < s->phases[i].n_steps; k++) {
                        const MigrationStep *st = &s->phases[i].steps[k];
                        const MigrationSection *m = st->migration;
                        static const char *const modes[] = { "live", "postcopy", "offline" };
                        static const char *const transports[] = { "ssh", "tcp" };
                        _cleanup_free_ char *bw = NULL, *dt = NULL;

                        printf("     %s: %s -> %s, %s over %s", st->guest, st->from, st->to, modes[m->mode],
                               transports[m->transport]);
                        if (host_uri(c, st->from))
                                printf(" (%s)", host_uri(c, st->from));
                        if (m->max_downtime_usec > 0 && format_time_usec(m->max_downtime_usec, &dt) >= 0)
                                printf(", max downtime %s", dt);
                        if (m->bandwidth > 0 && format_size(m->bandwidth, &bw) >= 0)
                                printf(", bandwidth %s/s", bw);
                        printf("\n");
                        if (m->workload) {
                                _cleanup_free_ char *w = strv_join(m->workload, " ");
                                printf("        workload before: %s\n", strna(w));
                        }
                        if (m->check) {
                                _cleanup_free_ char *w = strv_join(m->check, " ");
                                printf("        check after: %s\n", strna(w));
                        }
                }
        }
        return 0;
}

static int verb_plan(Config *c, JobConfig *j) {
        _cleanup_(schedule_done) Schedule s = {};
        int r;

        if (strv_length(j->job->hosts) == 0)
                log_warning("Job %s has no [Job] Hosts=: it runs on this host only.", j->name);
        r = schedule_build(j, &s);
        if (r < 0)
                return log_error_errno(r, "Failed to build the schedule: %m");
        r = print_plan(c, j, &s);
        if (r < 0)
                return r;
        r = shells_print_plan(c, j);
        if (r < 0)
                return log_oom();
        if (arg_json_file) {
                _cleanup_json_ json_object *o = schedule_to_json(j, &s);
                const char *str;

                json_object_object_add(o, "tests", shells_plan_to_json(c, j));
                str = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
                r = write_file_atomic(arg_json_file, str, 0644);
                if (r < 0)
                        return log_error_errno(r, "Failed to write %s: %m", arg_json_file);
        }
        return 0;
}

/* libvirt prints every error to stderr by default; the coordinator reports the ones that matter
 * itself (virGetLastErrorMessage() in the thread that made the call), with their context. */
static void virt_error_quiet(void *userdata, virErrorPtr e) {
}

int main(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_ROOT, ARG_LOG_LEVEL, ARG_JSON, ARG_JUNIT, ARG_KEEP, ARG_TIMEOUT, ARG_LAVA_SCRIPTS };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "root", required_argument, NULL, ARG_ROOT },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "json", required_argument, NULL, ARG_JSON },
                { "junit", required_argument, NULL, ARG_JUNIT },
                { "keep", no_argument, NULL, ARG_KEEP },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                { "lava-scripts", required_argument, NULL, ARG_LAVA_SCRIPTS },
                {}
        };
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(config_diagnostics_done) ConfigDiagnostics d = {};
        _cleanup_(job_config_freep) JobConfig *j = NULL;
        const char *verb, *job;
        int opt, r;

        log_setup("mhtest-coord");
        virSetErrorFunc(NULL, virt_error_quiet);
        while ((opt = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (opt) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("mhtest-coord %s\n", PACKAGE_VERSION);
                        return 0;
                case ARG_ROOT:
                        arg_root = optarg;
                        break;
                case ARG_LOG_LEVEL:
                        if (log_set_max_level_from_option(optarg) < 0)
                                return 2;
                        break;
                case ARG_JSON:
                        arg_json_file = optarg;
                        break;
                case ARG_JUNIT:
                        arg_junit_file = optarg;
                        break;
                case ARG_KEEP:
                        arg_keep = true;
                        break;
                case ARG_LAVA_SCRIPTS:
                        arg_lava_scripts = optarg;
                        break;
                case ARG_TIMEOUT:
                        if (parse_time_usec(optarg, USEC_PER_SEC, &arg_timeout_usec) < 0) {
                                log_error("Invalid --timeout=%s.", optarg);
                                return 2;
                        }
                        break;
                default:
                        return 2;
                }
        if (argc - optind != 2) {
                log_error("Usage: mhtest-coord plan|run JOB (see --help).");
                return 2;
        }
        verb = argv[optind];
        job = argv[optind + 1];
        if (!streq(verb, "plan") && !streq(verb, "run")) {
                log_error("Unknown command \"%s\" (expected plan or run).", verb);
                return 2;
        }
        log_set_context_job(job);

        r = config_load(arg_root, &c);
        if (r < 0) {
                log_error_errno(r, "Failed to load configuration: %m");
                return 1;
        }
        r = config_load_job(c, job, &j, &d);
        if (r == -ENOENT) {
                log_error("Job \"%s\" not found.", job);
                return 1;
        }
        if (r < 0 && r != -EINVAL) {
                log_error_errno(r, "Failed to load job \"%s\": %m", job);
                return 1;
        }
        if (d.n_errors > 0 || c->diagnostics.n_errors > 0) {
                (void) config_diagnostics_log(&c->diagnostics);
                (void) config_diagnostics_log(&d);
                log_error("Job \"%s\" is not valid; nothing was done.", job);
                return 1;
        }

        if (streq(verb, "plan"))
                return verb_plan(c, j) < 0 ? 1 : 0;

        _cleanup_strv_free_ char **hashes = NULL;
        r = preflight_expected_hashes(c, job, j->job->hosts, &hashes);
        if (r < 0) {
                log_error_errno(r, "Failed to hash job \"%s\" as its hosts read it: %m", job);
                return 1;
        }
        CoordOptions o = { .json_file = arg_json_file, .junit_file = arg_junit_file,
                           .timeout_usec = arg_timeout_usec, .keep = arg_keep,
                           .lava_scripts = arg_lava_scripts, .expected_hashes = hashes };
        return coord_run(c, j, &o) < 0 ? 1 : 0;
}
