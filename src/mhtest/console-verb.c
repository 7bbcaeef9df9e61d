/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mhtest console JOB:GUEST[-N]: attach to a guest's serial console. The domain's console is a
 * pty that libvirt hands out; "virsh console" already does the attaching (raw terminal, the
 * escape key, one reader at a time), so this finds the domain and hands over to it. */
#include <unistd.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "guest-instance.h"
#include "log.h"
#include "mhtest.h"
#include "string-util.h"
#include "virt-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(virConnectPtr, virConnectClose);
DEFINE_TRIVIAL_CLEANUP_FUNC(virDomainPtr, virDomainFree);

static void quiet_libvirt_errors(void *userdata, virErrorPtr e) {
}

int verb_console(int argc, char *argv[]) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(job_config_freep) JobConfig *j = NULL;
        _cleanup_(virConnectClosep) virConnectPtr conn = NULL;
        _cleanup_(virDomainFreep) virDomainPtr dom = NULL;
        _cleanup_free_ char *job = NULL, *domain = NULL, *log = NULL;
        const char *colon = strchr(argv[1], ':'), *uri = guest_libvirt_uri();
        const GuestSection *g = NULL;
        unsigned index = 0;
        int r, state = VIR_DOMAIN_NOSTATE, reason;

        if (!colon)
                return log_error_errno(-EINVAL, "Expected JOB:GUEST, got \"%s\".", argv[1]);
        job = strndup(argv[1], colon - argv[1]);
        if (!job)
                return log_oom();
        r = load_config(&c);
        if (r >= 0)
                r = load_job(c, job, &j);
        if (r < 0)
                return r;
        if (guest_instance_find(j, colon + 1, &g, &index) < 0)
                return log_error_errno(-ENOENT, "Job %s has no guest %s (with Count=N, name an instance: GUEST-1 .. GUEST-N).",
                                       job, colon + 1);
        if (guest_domain_name(job, g, index, &domain) < 0 || guest_console_log_path(job, g, index, &log) < 0)
                return log_oom();
        if (g->launcher)
                return log_error_errno(-EOPNOTSUPP, "Guest %s runs under Launcher=, not libvirt: it has no console "
                                                    "to attach to. Its output is logged to %s.", colon + 1, log);

        virSetErrorFunc(NULL, quiet_libvirt_errors);
        conn = virConnectOpenReadOnly(uri);
        if (!conn)
                return log_error_errno(-ECONNREFUSED, "Failed to connect to libvirt at %s: %s", uri,
                                       virGetLastErrorMessage());
        dom = virDomainLookupByName(conn, domain);
        if (dom && virDomainGetState(dom, &state, &reason, 0) < 0)
                state = VIR_DOMAIN_NOSTATE;
        if (!dom || (state != VIR_DOMAIN_RUNNING && state != VIR_DOMAIN_PAUSED))
                return log_error_errno(-ESRCH, "Guest %s of job %s (domain %s) is not running on this host (%s)%s%s%s. "
                                               "Its console log: %s",
                                       colon + 1, job, domain, c->host_name,
                                       g->host && !streq(g->host, c->host_name) ? "; it is placed on " : "",
                                       g->host && !streq(g->host, c->host_name) ? g->host : "",
                                       g->host && !streq(g->host, c->host_name) ? "" : "; is its unit started?", log);

        char *args[] = { (char *) "virsh", (char *) "-c", (char *) uri, (char *) "console", domain, NULL };
        fflush(stdout);
        execvp(args[0], args);
        return log_error_errno(-errno, "Failed to run virsh (libvirt-clients): %m");
}
