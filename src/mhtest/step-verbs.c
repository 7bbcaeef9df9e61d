/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
#include "log.h"
#include "message-ids.h"
#include "mhtest.h"
#include "state.h"
#include "steps.h"
#include "storage-status.h"
#include "strv.h"

static int run_step(const char *step_name, const char *job_name, bool apply) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(job_config_freep) JobConfig *j = NULL;
        const Step *s;
        StepContext ctx;
        int r;

        log_set_context_job(job_name);
        log_set_context_step(step_name);
        s = step_find(step_name);
        if (!s)
                return log_error_errno(-EINVAL, "Unknown step \"%s\".", step_name);
        r = load_config(&c);
        if (r < 0)
                return r;
        log_set_context_host(c->host_name);
        r = load_job(c, job_name, &j);
        if (r < 0)
                return r;

        if (!(apply ? s->apply : s->revert)) {
                log_event(LOG_ERR, EOPNOTSUPP, MHTEST_MESSAGE_STEP_NOT_IMPLEMENTED, NULL,
                          "Step %s of job %s: not implemented yet; nothing was changed.", step_name, job_name);
                return -EOPNOTSUPP;
        }
        ctx = (StepContext) { .root = arg_root, .config = c, .job = j };
        r = apply ? s->apply(&ctx) : s->revert(&ctx);
        return r < 0 ? r : 0;
}

int verb_apply(int argc, char *argv[]) {
        return run_step(argv[1], argv[2], true);
}

int verb_revert(int argc, char *argv[]) {
        return run_step(argv[1], argv[2], false);
}

static int status_job(Config *c, const char *name, json_object *out) {
        _cleanup_(config_diagnostics_done) ConfigDiagnostics d = {};
        _cleanup_(job_config_freep) JobConfig *j = NULL;
        _cleanup_strv_free_ char **used = NULL;
        json_object *jo, *jsteps;
        int r;

        r = config_load_job(c, name, &j, &d);
        if (r == -ENOENT)
                return log_error_errno(r, "Job \"%s\" not found.", name);
        if (r < 0 && r != -EINVAL)
                return log_error_errno(r, "Failed to load job \"%s\": %m", name);
        r = job_steps(j, c->host_name, &used);
        if (r < 0)
                return log_oom();

        jo = json_object_new_object();
        jsteps = json_object_new_array();
        json_object_object_add(jo, "job", json_object_new_string(name));
        json_object_object_add(jo, "host", json_object_new_string(c->host_name));
        json_object_object_add(jo, "valid", json_object_new_boolean(d.n_errors == 0));
        json_object_object_add(jo, "steps", jsteps);
        if (!arg_json)
                printf("%s (on %s)%s\n", name, c->host_name, d.n_errors > 0 ? " — configuration NOT VALID" : "");
        for (size_t i = 0; steps[i]; i++) {
                _cleanup_json_ json_object *st = NULL;
                json_object *js, *changes = NULL;
                bool uses = strv_contains(used, steps[i]->name);
                const char *state;

                if (!uses && state_load(arg_root, name, steps[i]->name, &st) < 0)
                        continue;
                js = json_object_new_object();
                if (!st)
                        (void) state_load(arg_root, name, steps[i]->name, &st);
                if (st && json_object_object_get_ex(st, "changes", &changes))
                        json_object_get(changes);
                state = st ? "applied" : !steps[i]->apply ? "not-implemented" : "not-applied";
                json_object_object_add(js, "step", json_object_new_string(steps[i]->name));
                json_object_object_add(js, "used", json_object_new_boolean(uses));
                json_object_object_add(js, "state", json_object_new_string(state));
                json_object_object_add(js, "changes", changes ?: json_object_new_array());
                json_object_array_add(jsteps, js);
                if (!arg_json) {
                        printf("  %-10s %s\n", steps[i]->name, state);
                        for (size_t k = 0; changes && k < json_object_array_length(changes); k++)
                                printf("             %s\n",
                                       json_object_get_string(json_object_array_get_idx(changes, k)));
                }
        }
        r = storage_status(arg_root, j, jo, !arg_json);
        if (r < 0) {
                json_object_put(jo);
                return r;
        }
        if (j->testpmd && (r = testpmd_status(name, jo)) < 0) {
                json_object_put(jo);
                return r;
        }
        r = guest_status(c, j, jo);
        if (r < 0) {
                json_object_put(jo);
                return r;
        }
        json_object_array_add(out, jo);
        return 0;
}

int verb_status(int argc, char *argv[]) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_strv_free_ char **jobs = NULL;
        _cleanup_json_ json_object *out = json_object_new_array();
        int r;

        r = load_config(&c);
        if (r < 0)
                return r;
        if (argc > 1)
                jobs = strv_new(argv[1]);
        else if (config_list_jobs(c, &jobs) < 0)
                return log_oom();
        if (!jobs)
                return log_oom();
        STRV_FOREACH(name, jobs) {
                r = status_job(c, *name, out);
                if (r < 0)
                        return r;
        }
        if (arg_json)
                printf("%s\n", json_object_to_json_string_ext(argc > 1 ? json_object_array_get_idx(out, 0) : out,
                                                              JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        return 0;
}
