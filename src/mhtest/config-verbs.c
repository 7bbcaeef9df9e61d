/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
#include "log.h"
#include "mhtest.h"
#include "strv.h"

static int show_main(Config *c) {
        _cleanup_strv_free_ char **jobs = NULL;
        int r;

        printf("# This host: %s\n", c->host_name);
        STRV_FOREACH(f, c->main_files)
                printf("# %s\n", *f);
        r = section_list_dump(&c->main, stdout, arg_all);
        if (r < 0)
                return log_error_errno(r, "Failed to format configuration: %m");
        for (size_t i = 0; i < c->n_hosts; i++) {
                printf("\n# %s\n", c->hosts[i]->file);
                r = section_list_dump(&c->hosts[i]->sections, stdout, arg_all);
                if (r < 0)
                        return log_error_errno(r, "Failed to format configuration: %m");
        }
        r = config_list_jobs(c, &jobs);
        if (r < 0)
                return log_error_errno(r, "Failed to list jobs: %m");
        printf("\n# Jobs:");
        STRV_FOREACH(j, jobs)
                printf(" %s", *j);
        printf("\n");
        return 0;
}

static int show_job(Config *c, const char *name) {
        _cleanup_(config_diagnostics_done) ConfigDiagnostics d = {};
        _cleanup_(job_config_freep) JobConfig *j = NULL;
        int r;

        r = config_load_job(c, name, &j, &d);
        if (r == -ENOENT)
                return log_error_errno(r, "Job \"%s\" not found.", name);
        if (r < 0)
                return log_error_errno(r, "Failed to load job \"%s\": %m", name);
        STRV_FOREACH(f, j->files)
                printf("# %s\n", *f);
        r = section_list_dump(&j->sections, stdout, arg_all);
        if (r < 0)
                return log_error_errno(r, "Failed to format configuration: %m");
        if (d.n_errors > 0) {
                print_diagnostics(&d);
                return log_error_errno(-EINVAL, "Job \"%s\" is not valid (%zu error(s)).", name, d.n_errors);
        }
        return 0;
}

static int validate(Config *c, const char *only) {
        _cleanup_strv_free_ char **jobs = NULL;
        size_t n_errors = c->diagnostics.n_errors;
        int r;

        print_diagnostics(&c->diagnostics);
        if (only) {
                jobs = strv_new(only);
                if (!jobs)
                        return log_oom();
        } else {
                r = config_list_jobs(c, &jobs);
                if (r < 0)
                        return log_error_errno(r, "Failed to list jobs: %m");
        }
        STRV_FOREACH(name, jobs) {
                _cleanup_(config_diagnostics_done) ConfigDiagnostics d = {};
                _cleanup_(job_config_freep) JobConfig *j = NULL;

                r = config_load_job(c, *name, &j, &d);
                if (r == -ENOENT) {
                        log_error("Job \"%s\" not found.", *name);
                        n_errors++;
                        continue;
                }
                if (r < 0 && r != -EINVAL)
                        return log_error_errno(r, "Failed to load job \"%s\": %m", *name);
                print_diagnostics(&d);
                n_errors += d.n_errors;
        }
        if (n_errors > 0) {
                log_error("%zu error(s).", n_errors);
                return -EINVAL;
        }
        if (!arg_quiet)
                printf("Configuration is valid (%zu job(s)).\n", strv_length(jobs));
        return 0;
}

static int hash(Config *c, const char *name) {
        _cleanup_(job_config_freep) JobConfig *j = NULL;
        _cleanup_free_ char *h = NULL;
        int r;

        r = load_job(c, name, &j);
        if (r < 0)
                return r;
        r = job_config_hash(j, &h);
        if (r < 0)
                return log_error_errno(r, "Failed to hash job \"%s\": %m", name);
        printf("%s\n", h);
        return 0;
}

int verb_config(int argc, char *argv[]) {
        _cleanup_(config_freep) Config *c = NULL;
        const char *job = argc > 2 ? argv[2] : NULL;
        int r;

        /* mhtest@JOB.service runs "config validate JOB": its errors belong to the job's story */
        if (job)
                log_set_context_job(job);
        r = load_config(&c);
        if (r < 0)
                return r;
        log_set_context_host(c->host_name);
        if (streq(argv[1], "show"))
                return job ? show_job(c, job) : show_main(c);
        if (streq(argv[1], "validate"))
                return validate(c, job);
        if (streq(argv[1], "hash")) {
                if (!job)
                        return log_error_errno(-EINVAL, "Usage: mhtest config hash JOB");
                return hash(c, job);
        }
        return log_error_errno(-EINVAL, "Unknown \"config %s\" (expected show, validate or hash).", argv[1]);
}
