/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* "mhtest guest JOB:GUEST": the main of mhtest-guest@JOB:GUEST.service. Starts the guest as a
 * transient libvirt domain (or adopts it when it is already running here, e.g. migrated in),
 * reports READY=1 when its ready marker shows on the serial console, WATCHDOG=1 while it runs,
 * and shuts it down on SIGTERM. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <systemd/sd-daemon.h>
#include "accel.h"
#include "fileio.h"
#include "guest-access.h"
#include "guest-instance.h"
#include "guest-placement.h"
#include "log.h"
#include "message-ids.h"
#include "mhtest.h"
#include "path-util.h"
#include "string-util.h"
#include "strv.h"
#include "virt-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(virConnectPtr, virConnectClose);
DEFINE_TRIVIAL_CLEANUP_FUNC(virDomainPtr, virDomainFree);

static const char *virt_error(void) {
        virErrorPtr e = virGetLastError();
        return e && e->message ? e->message : "unknown libvirt error";
}

static void quiet_libvirt_errors(void *userdata, virErrorPtr e) {
        /* libvirt prints every error to stderr by default; we log what matters ourselves. */
}

static int wait_ready(const char *serial, const char *marker, uint64_t timeout_usec, int sigfd) {
        uint64_t waited = 0;

        for (;;) {
                _cleanup_free_ char *s = NULL;
                struct pollfd p = { .fd = sigfd, .events = POLLIN };

                if (read_full_file(serial, &s, NULL) >= 0 && strstr(s, marker))
                        return 0;
                if (waited >= timeout_usec)
                        return -ETIMEDOUT;
                /* Poll the console log while watching for SIGTERM. */
                if (poll(&p, 1, 200) > 0)
                        return -ECANCELED;
                waited += 200 * USEC_PER_MSEC;
        }
}

static int domain_state(virDomainPtr d, int *ret_reason) {
        int state = VIR_DOMAIN_NOSTATE, reason = 0;

        if (virDomainGetState(d, &state, &reason, 0) < 0)
                return -ENOENT;
        if (ret_reason)
                *ret_reason = reason;
        return state;
}

static void stop_domain(virDomainPtr d, const char *name) {
        for (int i = 0; i < 150; i++) {
                int st = domain_state(d, NULL);
                if (st < 0 || st == VIR_DOMAIN_SHUTOFF)
                        return;
                if (i == 0 && virDomainShutdown(d) < 0)
                        break;
                usleep(200 * 1000);
        }
        /* It did not shut down within 30 s (or cannot, e.g. no ACPI in a busybox guest). */
        if (virDomainDestroy(d) < 0 && domain_state(d, NULL) >= 0)
                log_warning("Failed to destroy %s: %s", name, virt_error());
}

bool arg_print_xml = false;

/* The domain XML of g as its service starts it, with the accelerator and every host fact it
 * needs decided here; what "guest --print-xml" prints. */
static int guest_build_xml(const Config *c, const JobConfig *j, const GuestSection *g, unsigned index,
                           bool *ret_kvm, char **ret) {
        _cleanup_(config_diagnostics_done) ConfigDiagnostics d = {};
        _cleanup_(guest_placement_done) GuestPlacement p = {};
        _cleanup_free_ char *vhost_dir = NULL, *domain = NULL, *seed = NULL;
        const char *name = g->section.name;
        GuestXmlOptions o = {};
        int r;

        r = guest_check_files(c, g, &d);
        if (r < 0)
                return log_oom();
        if (r > 0) {
                print_diagnostics(&d);
                return log_error_errno(-ENOENT, "Guest %s cannot start on this host: %d file(s) missing.",
                                       name, r);
        }

        if (g->virt_type == GUEST_VIRT_AUTO) {
                _cleanup_(accel_probe_done) AccelProbe a = {};

                r = accel_probe(arg_root, &a);
                if (r < 0)
                        return log_error_errno(r, "Invalid %s=%s: expected kvm or tcg.", ACCEL_ENV,
                                               getenv(ACCEL_ENV));
                o.kvm = a.accel == ACCEL_KVM;
                log_full(arg_print_xml ? LOG_DEBUG : LOG_INFO, "Guest %s: Type=auto runs it under %s: %s.",
                         name, o.kvm ? "KVM" : "TCG", a.reason);
        } else
                o.kvm = g->virt_type == GUEST_VIRT_KVM;

        r = guest_placement(arg_root, NULL, c, j, g, index, o.kvm, &p);
        if (r == -EOPNOTSUPP)
                return log_error_errno(r, "Guest %s: NestedVirtualization=yes under KVM, but this host's "
                                          "CPU offers neither vmx nor svm to pass on.", name);
        if (r == -ENOSPC)
                return log_error_errno(r, "Guest %s: VCPUPinning=auto/EmulatorPinning=auto: not enough "
                                          "CPUs off testpmd's forwarding cores and other guests' vCPUs "
                                          "(VCPUs=%u). Set the CPUs by hand or fewer VCPUs=.", name,
                                       g->vcpus);
        if (r < 0)
                return log_error_errno(r, "Guest %s: failed to read this host's CPUs: %m", name);
        if (p.housekeeping)
                log_warning("Guest %s: VCPUPinning=auto: too few free cores, some vCPUs share housekeeping "
                            "CPUs.", name);

        if (asprintf_safe(&vhost_dir, "/run/mhtest/%s", j->name) < 0 || guest_domain_name(j->name, g, index, &domain) < 0 ||
            guest_access_seed_path(g, domain, &seed) < 0)
                return log_oom();
        o.seed = seed;
        o.management_network = g->management_network;
        o.vhost_user_dir = vhost_dir;
        o.nested_feature = p.nested_feature;
        o.vcpus = &p.vcpus;
        o.emulator = &p.emulator;
        r = guest_domain_xml(j, g, index, &o, ret);
        if (r < 0)
                return log_error_errno(r, "Failed to build the domain XML of guest %s: %m", name);
        if (ret_kvm)
                *ret_kvm = o.kvm;
        return 0;
}

static int guest_print_xml(const Config *c, const JobConfig *j, const GuestSection *g, unsigned index) {
        _cleanup_free_ char *xml = NULL;
        int r;

        if (!guest_on_host(c, g, c->host_name))
                return log_error_errno(-EINVAL, "Guest %s of job %s is placed on %s, not on this host (%s).",
                                       g->section.name, j->name, strna(g->host), c->host_name);
        r = guest_build_xml(c, j, g, index, NULL, &xml);
        if (r < 0)
                return r;
        fputs(xml, stdout);
        return fflush(stdout) == 0 ? 0 : log_error_errno(-errno, "Failed to write the XML: %m");
}

int verb_guest(int argc, char *argv[]) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(job_config_freep) JobConfig *j = NULL;
        _cleanup_(virConnectClosep) virConnectPtr conn = NULL;
        _cleanup_(virDomainFreep) virDomainPtr dom = NULL;
        _cleanup_(guest_access_done) GuestAccess access = {};
        _cleanup_free_ char *job = NULL, *xml = NULL, *name = NULL, *serial = NULL;
        _cleanup_close_ int sigfd = -EBADF;
        const char *colon = strchr(argv[1], ':'), *uri;
        const GuestSection *g = NULL;
        unsigned index = 0;
        sigset_t mask;
        bool adopted = false, kvm = false;
        int r;

        if (!colon)
                return log_error_errno(-EINVAL, "Expected JOB:GUEST, got \"%s\".", argv[1]);
        job = strndup(argv[1], colon - argv[1]);
        if (!job)
                return log_oom();
        log_set_context_job(job);
        log_set_context_guest(colon + 1);
        r = load_config(&c);
        if (r < 0)
                return r;
        log_set_context_host(c->host_name);
        r = load_job(c, job, &j);
        if (r < 0)
                return r;
        if (guest_instance_find(j, colon + 1, &g, &index) < 0)
                return log_error_errno(-ENOENT, "Job %s has no guest %s ([Guest %s], or an instance GUEST-N of a "
                                                "[Guest GUEST] with Count=N).", job, colon + 1, colon + 1);
        if (g->launcher && arg_print_xml)
                return log_error_errno(-EOPNOTSUPP, "Guest %s runs under Launcher=: it has no domain XML.", colon + 1);
        if (g->launcher)
                return guest_launcher_run(j, g, index);
        if (arg_print_xml)
                return guest_print_xml(c, j, g, index);

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sigfd < 0)
                return log_error_errno(-errno, "Failed to create signalfd: %m");

        r = guest_build_xml(c, j, g, index, &kvm, &xml);
        if (r < 0)
                return r;
        if (guest_domain_name(job, g, index, &name) < 0 || guest_serial_log_path(name, &serial) < 0)
                return log_oom();

        virSetErrorFunc(NULL, quiet_libvirt_errors);
        uri = getenv("MHTEST_LIBVIRT_URI") ?: "qemu:///system";
        conn = virConnectOpen(uri);
        if (!conn)
                return log_error_errno(-ECONNREFUSED, "Failed to connect to libvirt at %s: %s", uri, virt_error());

        dom = virDomainLookupByName(conn, name);
        /* A guest runs where it is placed, or wherever a migration took it. */
        if (!(dom && domain_state(dom, NULL) == VIR_DOMAIN_RUNNING) && !guest_on_host(c, g, c->host_name))
                return log_error_errno(-EINVAL, "Guest %s of job %s is placed on %s, not on this host (%s).",
                                       colon + 1, job, strna(g->host), c->host_name);
        if (dom && domain_state(dom, NULL) == VIR_DOMAIN_RUNNING) {
                adopted = true;
                log_info("Guest %s is already running here (%s), adopting it.", colon + 1, name);
                r = guest_access_prepare(&access, conn, c, g, index, colon + 1, name, true);
                if (r < 0)
                        return r;
        } else {
                if (dom) {
                        virDomainFree(dom);
                        dom = NULL;
                }
                r = guest_access_prepare(&access, conn, c, g, index, colon + 1, name, false);
                if (r < 0)
                        return r;
                /* A fresh console log, so that an old ready marker does not count. */
                (void) unlink(serial);
                dom = virDomainCreateXML(conn, xml, 0);
                if (!dom)
                        return log_event(LOG_ERR, EIO, MHTEST_MESSAGE_GUEST_FAILED, NULL,
                                         "Failed to start guest %s (%s): %s", colon + 1, name, virt_error());
                log_event(LOG_INFO, 0, MHTEST_MESSAGE_GUEST_STARTED, NULL, "Started guest %s as %s (%s).",
                          colon + 1, name, kvm ? "KVM" : "TCG");
        }

        if (!adopted && (g->ready_marker || g->prompt)) {
                (void) sd_notifyf(false, "STATUS=Waiting for \"%s\" on the console of %s",
                                  g->ready_marker ?: g->prompt, name);
                r = wait_ready(serial, g->ready_marker ?: g->prompt, g->ready_timeout_usec, sigfd);
                if (r == -ECANCELED) {
                        stop_domain(dom, name);
                        return 0;
                }
                if (r < 0) {
                        _cleanup_free_ char *tail = NULL;

                        stop_domain(dom, name);
                        (void) read_file_tail(serial, 15, &tail);
                        return log_event(LOG_ERR, ETIMEDOUT, MHTEST_MESSAGE_GUEST_FAILED, NULL,
                                         "Guest %s did not print \"%s\" on its console (%s) within its "
                                         "ReadyTimeoutSec= under %s. The console's last lines:\n%s",
                                         colon + 1, g->ready_marker ?: g->prompt, serial,
                                         kvm ? "KVM" : "TCG", isempty(tail) ? "(nothing)" : tail);
                }
        }
        r = guest_access_start(&access, g);
        if (r < 0) {
                stop_domain(dom, name);
                return r;
        }
        log_event(LOG_INFO, 0, MHTEST_MESSAGE_GUEST_READY, NULL, "Guest %s is ready.", colon + 1);
        (void) sd_notifyf(false, "READY=1\nSTATUS=Guest %s running as %s", colon + 1, name);

        for (;;) {
                struct pollfd p = { .fd = sigfd, .events = POLLIN };
                int reason = 0, st;

                if (poll(&p, 1, 1000) > 0) {
                        (void) sd_notify(false, "STOPPING=1");
                        stop_domain(dom, name);
                        log_event(LOG_INFO, 0, MHTEST_MESSAGE_GUEST_STOPPED, NULL, "Guest %s stopped.", colon + 1);
                        return 0;
                }
                st = domain_state(dom, &reason);
                if (st == VIR_DOMAIN_RUNNING || st == VIR_DOMAIN_PAUSED) {
                        (void) sd_notify(false, "WATCHDOG=1");
                        continue;
                }
                /* A transient domain that migrated away disappears from this host. */
                if (st < 0 || (st == VIR_DOMAIN_SHUTOFF && reason == VIR_DOMAIN_SHUTOFF_MIGRATED)) {
                        log_info("Guest %s left this host (migrated away).", colon + 1);
                        return 0;
                }
                return log_event(LOG_ERR, EIO, MHTEST_MESSAGE_GUEST_FAILED, NULL,
                                 "Guest %s stopped unexpectedly (state %d, reason %d).", colon + 1, st, reason);
        }
}
