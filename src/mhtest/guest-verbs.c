/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* "mhtest guest JOB:GUEST": the main of mhtest-guest@JOB:GUEST.service. One run of a guest, in
 * phases, each a function of GuestRun:
 *
 *   init       the job, the guest, its domain name
 *   connect    libvirt, with its event loop (lifecycle and metadata events, close callback)
 *   find       a domain of that name already running here (migrated in, or left by a run of the
 *              service that died) is adopted when its mhtest metadata says it is this guest
 *   prepare    only when creating: host facts and domain XML, overlays of the disk images;
 *              either way the cloud-init seed and the management address (guest-access.h)
 *   start      the transient domain, then READY=1 once the ready marker is on the console and
 *              the SSH forward runs
 *   supervise  libvirt's events until the domain ends or SIGTERM; WATCHDOG=1 meanwhile
 *   stop       ACPI power button, ShutdownTimeoutSec=, then destroy
 *   cleanup    overlays removed once the domain is gone; seed, reservation and forward when
 *              the run ends (guest_access_done())
 *
 * How the domain ended decides the exit status: 0 when it was stopped here or migrated away
 * (to the host the coordinator recorded), non-zero with a GUEST_FAILED journal event saying
 * what happened otherwise, so that Restart=on-failure starts it again. */
#include <inttypes.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <systemd/sd-daemon.h>
#include "accel.h"
#include "fileio.h"
#include "guest-access.h"
#include "guest-image.h"
#include "guest-instance.h"
#include "guest-network.h"
#include "guest-seed.h"
#include "guest-placement.h"
#include "log.h"
#include "message-ids.h"
#include "mhtest.h"
#include "path-util.h"
#include "string-util.h"
#include "strv.h"
#include "time-util.h"
#include "virt-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(virConnectPtr, virConnectClose);
DEFINE_TRIVIAL_CLEANUP_FUNC(virDomainPtr, virDomainFree);

/* How a domain's run ended, as libvirt told it. */
typedef enum GuestEnd {
        GUEST_END_NONE,          /* still running */
        GUEST_END_SHUTDOWN,      /* the guest powered off (by itself, or on our ACPI request) */
        GUEST_END_DESTROYED,     /* virDomainDestroy (here when stopping, else another client) */
        GUEST_END_CRASHED,       /* the guest crashed: a panic (pvpanic) or on_crash */
        GUEST_END_QEMU_FAILED,   /* QEMU exited unexpectedly: killed, or it crashed */
        GUEST_END_MIGRATED,      /* migrated to another host */
        GUEST_END_OTHER,         /* saved, restored from a snapshot: not something mhtest does */
        GUEST_END_LIBVIRT_GONE,  /* the connection to libvirtd closed: its state is unknown */
} GuestEnd;

typedef struct GuestRun {
        Config *c;
        JobConfig *j;
        const GuestSection *g;
        char *job;
        const char *guest; /* the [Guest] section's name */
        unsigned index;    /* instance, 0..Count-1 */
        char *name;        /* libvirt domain */
        char *instance;    /* the overlays' directory name */
        char *serial;
        char *config_hash;
        bool kvm;
        bool create_refused; /* libvirt rejected the domain as configured */

        GuestOverlays overlays;
        GuestAccess access;
        char *xml;

        virConnectPtr conn;
        virDomainPtr dom;
        int lifecycle_cb, metadata_cb;
        bool adopted;

        int sigfd, sig_watch, timer;
        bool sigterm, stopping;
        uint64_t last_ping;
        GuestEnd end;
        char *end_detail;  /* what libvirt said, for the journal */
        char *migrated_to; /* from the coordinator's GUEST_MIGRATION_NS metadata */
} GuestRun;

static const char *virt_error(void) {
        virErrorPtr e = virGetLastError();
        return e && e->message ? e->message : "unknown libvirt error";
}

static void quiet_libvirt_errors(void *userdata, virErrorPtr e) {
        /* libvirt prints every error to stderr by default; we log what matters ourselves. */
}

static void guest_run_done(GuestRun *r) {
        guest_access_done(&r->access); /* before the connection closes: it uses it */
        if (r->timer > 0)
                (void) virEventRemoveTimeout(r->timer);
        if (r->sig_watch > 0)
                (void) virEventRemoveHandle(r->sig_watch);
        if (r->conn) {
                if (r->lifecycle_cb >= 0)
                        (void) virConnectDomainEventDeregisterAny(r->conn, r->lifecycle_cb);
                if (r->metadata_cb >= 0)
                        (void) virConnectDomainEventDeregisterAny(r->conn, r->metadata_cb);
        }
        if (r->dom)
                virDomainFree(r->dom);
        if (r->conn)
                virConnectClose(r->conn);
        if (r->sigfd >= 0)
                close(r->sigfd);
        guest_overlays_done(&r->overlays);
        free(r->xml);
        free(r->name);
        free(r->instance);
        free(r->serial);
        free(r->config_hash);
        free(r->end_detail);
        free(r->migrated_to);
        free(r->job);
        job_config_free(r->j);
        config_free(r->c);
}

/* The first end libvirt reports counts: a panic (CRASHED) is followed by STOPPED. */
static void guest_run_ended(GuestRun *r, GuestEnd end, const char *what) {
        if (r->end != GUEST_END_NONE)
                return;
        r->end = end;
        r->end_detail = strdup(what);
        log_debug("Domain %s: %s.", r->name, what);
}

bool arg_print_xml = false;
GuestIncoming arg_guest_incoming = GUEST_INCOMING_NONE;

/* --- init ----------------------------------------------------------------------------------- */

static int guest_run_init(GuestRun *r, const char *arg) {
        const char *colon = strchr(arg, ':');
        int k;

        if (!colon)
                return log_error_errno(-EINVAL, "Expected JOB:GUEST, got \"%s\".", arg);
        r->job = strndup(arg, colon - arg);
        if (!r->job)
                return log_oom();
        log_set_context_job(r->job);
        log_set_context_guest(colon + 1);
        k = load_config(&r->c);
        if (k < 0)
                return k;
        log_set_context_host(r->c->host_name);
        k = load_job(r->c, r->job, &r->j);
        if (k < 0)
                return k;
        if (guest_instance_find(r->j, colon + 1, &r->g, &r->index) < 0)
                return log_error_errno(-ENOENT, "Job %s has no guest %s ([Guest %s], or an instance GUEST-N of a "
                                                "[Guest GUEST] with Count=N).", r->job, colon + 1, colon + 1);
        r->guest = r->g->section.name;
        if (guest_domain_name(r->job, r->g, r->index, &r->name) < 0 ||
            guest_serial_log_path(r->name, &r->serial) < 0)
                return log_oom();
        /* the domain name without its "mhtest-JOB-" */
        r->instance = strdup(r->name + strlen("mhtest-") + strlen(r->job) + 1);
        if (!r->instance)
                return log_oom();
        k = job_config_hash(r->j, &r->config_hash);
        if (k < 0)
                return log_error_errno(k, "Failed to hash job %s: %m", r->job);
        return 0;
}

/* --- prepare: the domain XML with the host facts it needs ------------------------------------ */

/* The domain XML of g as its service starts it, with the accelerator and every host fact it
 * needs decided here; what "guest --print-xml" prints. */
static int guest_build_xml(GuestRun *r) {
        _cleanup_(config_diagnostics_done) ConfigDiagnostics d = {};
        _cleanup_(guest_placement_done) GuestPlacement p = {};
        _cleanup_free_ char *vhost_dir = NULL, *seed = NULL;
        const GuestSection *g = r->g;
        GuestXmlOptions o = {};
        int k;

        k = guest_check_files(r->c, g, &d);
        if (k < 0)
                return log_oom();
        if (k > 0) {
                print_diagnostics(&d);
                return log_error_errno(-ENOENT, "Guest %s cannot start on this host: %d file(s) missing.",
                                       r->guest, k);
        }

        if (g->virt_type == GUEST_VIRT_AUTO) {
                _cleanup_(accel_probe_done) AccelProbe a = {};

                k = accel_probe(arg_root, &a);
                if (k < 0)
                        return log_error_errno(k, "Invalid %s=%s: expected kvm or tcg.", ACCEL_ENV,
                                               getenv(ACCEL_ENV));
                o.kvm = a.accel == ACCEL_KVM;
                log_full(arg_print_xml ? LOG_DEBUG : LOG_INFO, "Guest %s: Type=auto runs it under %s: %s.",
                         r->guest, o.kvm ? "KVM" : "TCG", a.reason);
        } else
                o.kvm = g->virt_type == GUEST_VIRT_KVM;

        k = guest_placement(arg_root, NULL, r->c, r->j, g, r->index, o.kvm, &p);
        if (k == -EOPNOTSUPP)
                return log_error_errno(k, "Guest %s: NestedVirtualization=yes under KVM, but this host's "
                                          "CPU offers neither vmx nor svm to pass on.", r->guest);
        if (k == -ENOSPC)
                return log_error_errno(k, "Guest %s: VCPUPinning=auto/EmulatorPinning=auto: not enough "
                                          "CPUs off testpmd's forwarding cores and other guests' vCPUs "
                                          "(VCPUs=%u). Set the CPUs by hand or fewer VCPUs=.", r->guest,
                                       g->vcpus);
        if (k < 0)
                return log_error_errno(k, "Guest %s: failed to read this host's CPUs: %m", r->guest);
        if (p.housekeeping)
                log_warning("Guest %s: VCPUPinning=auto: too few free cores, some vCPUs share housekeeping "
                            "CPUs.", r->guest);

        if (asprintf_safe(&vhost_dir, "/run/mhtest/%s", r->job) < 0 ||
            guest_access_seed_path(g, r->name, &seed) < 0)
                return log_oom();
        o.seed = seed;
        o.management_network = g->management_network;
        o.vhost_user_dir = vhost_dir;
        o.nested_feature = p.nested_feature;
        o.vcpus = &p.vcpus;
        o.emulator = &p.emulator;
        o.config_hash = r->config_hash;
        o.image = r->overlays.image;
        o.disks = r->overlays.disks;
        k = guest_domain_xml(r->j, g, r->index, &o, &r->xml);
        if (k < 0)
                return log_error_errno(k, "Failed to build the domain XML of guest %s: %m", r->guest);
        r->kvm = o.kvm;
        return 0;
}

static int guest_print_xml(GuestRun *r) {
        int k;

        if (!guest_on_host(r->c, r->g, r->c->host_name))
                return log_error_errno(-EINVAL, "Guest %s of job %s is placed on %s, not on this host (%s).",
                                       r->guest, r->job, strna(r->g->host), r->c->host_name);
        k = guest_build_xml(r);
        if (k < 0)
                return k;
        fputs(r->xml, stdout);
        return fflush(stdout) == 0 ? 0 : log_error_errno(-errno, "Failed to write the XML: %m");
}

/* Everything the domain needs on this host before it is created. */
static int guest_run_prepare(GuestRun *r) {
        int k;

        k = guest_access_prepare(&r->access, r->conn, r->c, r->g, r->index, r->guest, r->name, false);
        if (k < 0)
                return k;

        k = guest_overlays_create(arg_root, r->job, r->instance, r->g, &r->overlays);
        if (k == -ENOENT)
                return log_error_errno(k, "Guest %s: qemu-img is not installed; it makes the overlays "
                                          "that keep Image=/Disks= unwritten.", r->guest);
        if (k < 0)
                return log_error_errno(k, "Guest %s: failed to create the overlays of its disk images in "
                                          "%s: %m", r->guest, GUEST_IMAGE_DIR);
        if (r->overlays.dir)
                log_info("Guest %s: disk overlays in %s.", r->guest, r->overlays.dir);
        return guest_build_xml(r);
}

/* Undo guest_run_prepare() once the domain is gone (never while it may still use the files). */
static void guest_run_cleanup(GuestRun *r) {
        _cleanup_free_ char *dir = NULL;
        int k;

        k = guest_overlays_remove(arg_root, r->job, r->instance);
        if (k < 0 && guest_overlay_dir(arg_root, r->job, r->instance, &dir) >= 0)
                log_warning_errno(k, "Failed to remove the overlays in %s, ignoring: %m", dir);
        else if (k > 0)
                log_debug("Removed the overlays of guest %s.", r->guest);
}

/* --- incoming: a migration to this host ------------------------------------------------------
 *
 * A guest migrates without shared storage (VIR_MIGRATE_NON_SHARED_INC): libvirt copies the top
 * layer of each overlay over NBD into a file that must exist here already, at the same path,
 * backed by the same base image (which every host has at the same path); QEMU here opens the
 * seed ISO (a read-only cdrom, not copied) and the management network. "--prepare-incoming"
 * makes all of that as the guest's own service would before creating the domain, and leaves it:
 * the service that adopts the migrated domain here owns it from then on (it removes the
 * overlays once the domain is gone, the seed and the reservation when it ends).
 * "--remove-incoming" takes it back after a migration that did not arrive. */

static int guest_incoming_connect(GuestRun *r) {
        const char *uri = getenv("MHTEST_LIBVIRT_URI") ?: "qemu:///system";
        _cleanup_(virDomainFreep) virDomainPtr d = NULL;

        virSetErrorFunc(NULL, quiet_libvirt_errors);
        r->conn = virConnectOpen(uri);
        if (!r->conn)
                return log_error_errno(-ECONNREFUSED, "Failed to connect to libvirt at %s: %s", uri, virt_error());
        /* the files of a domain that runs here belong to its service */
        d = virDomainLookupByName(r->conn, r->name);
        if (d && virDomainIsActive(d) == 1)
                return log_error_errno(-EBUSY, "Domain %s runs on this host: its files belong to the service "
                                               "of guest %s here, not to a migration.", r->name, r->guest);
        return 0;
}

static int guest_prepare_incoming(GuestRun *r) {
        int k;

        k = guest_incoming_connect(r);
        if (k < 0)
                return k;
        /* the seed (same host name and keys; a new instance-id, as at every start) and the
         * management reservation; on failure guest_run_done() takes back what was made */
        k = guest_access_prepare(&r->access, r->conn, r->c, r->g, r->index, r->guest, r->name, false);
        if (k < 0)
                return k;
        k = guest_overlays_create(arg_root, r->job, r->instance, r->g, &r->overlays);
        if (k == -ENOENT)
                return log_error_errno(k, "Guest %s: qemu-img is not installed; it makes the overlays.", r->guest);
        if (k < 0)
                return log_error_errno(k, "Guest %s: failed to create the overlays of its disk images in %s: %m",
                                       r->guest, GUEST_IMAGE_DIR);
        /* one line per disk the migration copies: TARGET PATH (what the coordinator names) */
        if (r->overlays.image)
                printf("vda %s\n", r->overlays.image);
        STRV_FOREACH (d, r->overlays.disks)
                printf("%s %s\n", strrchr(*d, '/') + 1, *d); /* ".../vdb.qcow2" */
        if (fflush(stdout) != 0) {
                k = log_error_errno(-errno, "Failed to write the disk list: %m");
                guest_run_cleanup(r);
                return k;
        }
        log_info("Guest %s: ready for an incoming migration: %s%s%s%s.", r->guest,
                 r->overlays.dir ? "overlays in " : "", strempty(r->overlays.dir),
                 r->access.seed ? (r->overlays.dir ? ", seed " : "seed ") : "", strempty(r->access.seed));
        /* handed over: the service that adopts the domain owns them */
        free(r->access.seed);
        r->access.seed = NULL;
        r->access.reserved = false;
        return 0;
}

static int guest_remove_incoming(GuestRun *r) {
        _cleanup_free_ char *seed = NULL;
        int k, ret = 0;

        k = guest_incoming_connect(r);
        if (k < 0)
                return k;
        guest_run_cleanup(r);
        if (guest_access_seed_path(r->g, r->name, &seed) < 0)
                return log_oom();
        if (seed) {
                k = guest_seed_remove(seed);
                if (k < 0)
                        ret = log_error_errno(k, "Failed to remove %s: %m", seed);
        }
        k = guest_network_release(r->conn, arg_root, r->name);
        if (k < 0)
                ret = log_error_errno(k, "Guest %s: failed to release its management network reservation: %m",
                                      r->guest);
        if (ret == 0)
                log_info("Guest %s: removed what a migration here would have used.", r->guest);
        return ret;
}

/* --- libvirt's events ------------------------------------------------------------------------ */

static void read_migration_target(GuestRun *r, virDomainPtr dom) {
        _cleanup_free_ char *xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, GUEST_MIGRATION_NS, 0);
        char *to = NULL;

        if (xml && guest_migration_parse(xml, &to) >= 0) {
                free(r->migrated_to);
                r->migrated_to = to;
                log_debug("Domain %s: the coordinator migrates it to %s.", r->name, to);
        }
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *userdata) {
        GuestRun *r = userdata;

        if (!streq_ptr(virDomainGetName(dom), r->name))
                return 0;
        log_debug("Domain %s: lifecycle event %d, detail %d.", r->name, event, detail);
        switch (event) {
        case VIR_DOMAIN_EVENT_STOPPED:
                switch (detail) {
                case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN:
                        guest_run_ended(r, GUEST_END_SHUTDOWN, "the guest powered off (libvirt: stopped, shutdown)");
                        break;
                case VIR_DOMAIN_EVENT_STOPPED_DESTROYED:
                        guest_run_ended(r, GUEST_END_DESTROYED, "the domain was destroyed (libvirt: stopped, destroyed)");
                        break;
                case VIR_DOMAIN_EVENT_STOPPED_CRASHED:
                        guest_run_ended(r, GUEST_END_CRASHED, "the guest crashed (libvirt: stopped, crashed)");
                        break;
                case VIR_DOMAIN_EVENT_STOPPED_MIGRATED:
                        guest_run_ended(r, GUEST_END_MIGRATED, "the domain migrated away (libvirt: stopped, migrated)");
                        break;
                case VIR_DOMAIN_EVENT_STOPPED_FAILED:
                        guest_run_ended(r, GUEST_END_QEMU_FAILED,
                                        "QEMU exited unexpectedly: killed or crashed (libvirt: stopped, failed)");
                        break;
                case VIR_DOMAIN_EVENT_STOPPED_SAVED:
                        guest_run_ended(r, GUEST_END_OTHER, "the domain was saved to a file (libvirt: stopped, saved)");
                        break;
                default:
                        guest_run_ended(r, GUEST_END_OTHER, "the domain stopped (libvirt: stopped, other reason)");
                }
                break;
        case VIR_DOMAIN_EVENT_CRASHED:
                guest_run_ended(r, GUEST_END_CRASHED,
                                detail == VIR_DOMAIN_EVENT_CRASHED_PANICKED
                                        ? "the guest kernel panicked (libvirt: crashed, panicked)"
                                        : "the guest crashed (libvirt: crashed)");
                break;
        case VIR_DOMAIN_EVENT_SUSPENDED:
                if (detail == VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED || detail == VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY)
                        read_migration_target(r, dom);
                break;
        }
        return 0;
}

static int on_metadata(virConnectPtr conn, virDomainPtr dom, int type, const char *nsuri, void *userdata) {
        GuestRun *r = userdata;

        if (type == VIR_DOMAIN_METADATA_ELEMENT && streq_ptr(nsuri, GUEST_MIGRATION_NS) &&
            streq_ptr(virDomainGetName(dom), r->name))
                read_migration_target(r, dom);
        return 0;
}

static void on_close(virConnectPtr conn, int reason, void *userdata) {
        GuestRun *r = userdata;

        guest_run_ended(r, GUEST_END_LIBVIRT_GONE,
                        reason == VIR_CONNECT_CLOSE_REASON_EOF         ? "libvirtd closed the connection (it exited)"
                        : reason == VIR_CONNECT_CLOSE_REASON_KEEPALIVE ? "libvirtd stopped answering keepalives"
                                                                       : "the connection to libvirtd failed");
}

static void on_signal(int watch, int fd, int events, void *userdata) {
        GuestRun *r = userdata;
        struct signalfd_siginfo si;

        while (read(fd, &si, sizeof si) == sizeof si)
                r->sigterm = true;
}

/* Every 200 ms: the loop comes back to look at the console and the clock; WATCHDOG=1 each second
 * while the domain runs and libvirtd answers. */
static void on_timer(int timer, void *userdata) {
        GuestRun *r = userdata;
        uint64_t t = now_usec();

        if (t < r->last_ping + USEC_PER_SEC)
                return;
        r->last_ping = t;
        if (r->end == GUEST_END_NONE && virConnectIsAlive(r->conn) == 1)
                (void) sd_notify(false, "WATCHDOG=1");
}

static int guest_run_connect(GuestRun *r) {
        const char *uri = getenv("MHTEST_LIBVIRT_URI") ?: "qemu:///system";
        sigset_t mask;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        r->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (r->sigfd < 0)
                return log_error_errno(-errno, "Failed to create signalfd: %m");

        virSetErrorFunc(NULL, quiet_libvirt_errors);
        /* before the connection: events are delivered through the loop it registers */
        if (virEventRegisterDefaultImpl() < 0)
                return log_error_errno(-EIO, "Failed to set up libvirt's event loop: %s", virt_error());
        r->sig_watch = virEventAddHandle(r->sigfd, VIR_EVENT_HANDLE_READABLE, on_signal, r, NULL);
        r->timer = virEventAddTimeout(200, on_timer, r, NULL);
        if (r->sig_watch < 0 || r->timer < 0)
                return log_error_errno(-EIO, "Failed to watch signals in libvirt's event loop.");

        r->conn = virConnectOpen(uri);
        if (!r->conn)
                return log_error_errno(-ECONNREFUSED, "Failed to connect to libvirt at %s: %s", uri, virt_error());
        if (virConnectRegisterCloseCallback(r->conn, on_close, r, NULL) < 0 ||
            virConnectSetKeepAlive(r->conn, 5, 3) < 0)
                log_debug("No close callback or keepalive on %s: %s", uri, virt_error());
        /* every domain of the connection, filtered by name: the domain does not exist yet */
        r->lifecycle_cb = virConnectDomainEventRegisterAny(r->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                           VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), r, NULL);
        r->metadata_cb = virConnectDomainEventRegisterAny(r->conn, NULL, VIR_DOMAIN_EVENT_ID_METADATA_CHANGE,
                                                          VIR_DOMAIN_EVENT_CALLBACK(on_metadata), r, NULL);
        if (r->lifecycle_cb < 0)
                return log_error_errno(-EIO, "Failed to subscribe to libvirt's domain events: %s", virt_error());
        return 0;
}

/* Run libvirt's event loop until done(r), SIGTERM (-ECANCELED, not while stopping) or
 * timeout_usec (-ETIMEDOUT; 0: none). */
static int guest_run_loop(GuestRun *r, bool (*done)(GuestRun *r), uint64_t timeout_usec) {
        uint64_t deadline = timeout_usec > 0 ? now_usec() + timeout_usec : UINT64_MAX;

        for (;;) {
                if (done(r))
                        return 0;
                if (r->sigterm && !r->stopping)
                        return -ECANCELED;
                if (now_usec() >= deadline)
                        return -ETIMEDOUT;
                if (virEventRunDefaultImpl() < 0)
                        return log_error_errno(-EIO, "libvirt's event loop failed: %s", virt_error());
        }
}

static bool domain_gone(GuestRun *r) {
        return r->end != GUEST_END_NONE;
}

/* --- find: adopt a domain that is this guest ------------------------------------------------- */

/* The running domain named like the guest is this guest (job, guest and instance in its
 * metadata), or refused. */
static int guest_run_check_identity(GuestRun *r) {
        _cleanup_free_ char *xml = virDomainGetMetadata(r->dom, VIR_DOMAIN_METADATA_ELEMENT, GUEST_METADATA_NS, 0);
        _cleanup_(guest_metadata_done) GuestMetadata m = {};

        if (!xml || guest_metadata_parse(xml, &m) < 0)
                return log_error_errno(-EEXIST, "A domain named %s runs on this host but carries no mhtest "
                                                "metadata (%s): it is not guest %s of job %s. Refusing to "
                                                "adopt or replace it; remove it or rename it.",
                                       r->name, GUEST_METADATA_NS, r->guest, r->job);
        if (!streq(m.job, r->job) || !streq(m.guest, r->guest) || m.instance != r->index + 1)
                return log_error_errno(-EEXIST, "The domain %s running on this host is instance %u of guest %s "
                                                "of job %s, not instance %u of guest %s of job %s. Refusing "
                                                "to adopt it.",
                                       r->name, m.instance, m.guest, m.job, r->index + 1, r->guest, r->job);
        /* Not refused: a job's drop-ins may differ between hosts ([Match] Host=), and a migrated
         * domain keeps the XML its first host gave it. */
        if (!streq_ptr(m.config_hash, r->config_hash))
                log_warning("The domain %s was started from another configuration of job %s (hash %s, here "
                            "%s): it runs as it was started, not as this host's configuration says.",
                            r->name, r->job, strna(m.config_hash), r->config_hash);
        return 0;
}

/* 1: adopted a running domain; 0: none to adopt, create one. */
static int guest_run_find(GuestRun *r) {
        int state = VIR_DOMAIN_NOSTATE, k;

        r->dom = virDomainLookupByName(r->conn, r->name);
        if (r->dom && virDomainGetState(r->dom, &state, NULL, 0) < 0)
                state = VIR_DOMAIN_NOSTATE;
        if (r->dom && (state == VIR_DOMAIN_SHUTOFF || state == VIR_DOMAIN_NOSTATE) &&
            virDomainIsPersistent(r->dom) == 1)
                return log_error_errno(-EEXIST, "A defined (persistent) domain named %s exists on this host: "
                                                "mhtest runs guest %s as a transient domain of that name. "
                                                "Refusing to touch it; undefine or rename it.",
                                       r->name, r->guest);
        if (!r->dom || state == VIR_DOMAIN_SHUTOFF || state == VIR_DOMAIN_NOSTATE) {
                /* a guest runs where it is placed, or wherever a migration took it */
                if (!guest_on_host(r->c, r->g, r->c->host_name))
                        return log_error_errno(-EINVAL, "Guest %s of job %s is placed on %s, not on this host "
                                                        "(%s), and does not run here.",
                                               r->guest, r->job, strna(r->g->host), r->c->host_name);
                if (r->dom) {
                        virDomainFree(r->dom);
                        r->dom = NULL;
                }
                return 0;
        }
        k = guest_run_check_identity(r);
        if (k < 0)
                return k;
        /* a destination a migration here recorded is not where this run goes */
        (void) virDomainSetMetadata(r->dom, VIR_DOMAIN_METADATA_ELEMENT, NULL, NULL, GUEST_MIGRATION_NS,
                                    VIR_DOMAIN_AFFECT_LIVE);
        r->adopted = true;
        k = guest_access_prepare(&r->access, r->conn, r->c, r->g, r->index, r->guest, r->name, true);
        if (k < 0)
                return k;
        log_event(LOG_INFO, 0, MHTEST_MESSAGE_GUEST_STARTED, NULL,
                  "Guest %s is already running here as %s (%s), adopting it.", r->guest, r->name,
                  state == VIR_DOMAIN_PAUSED ? "paused" : "running");
        return 1;
}

/* --- start ----------------------------------------------------------------------------------- */

static bool ready_or_gone(GuestRun *r) {
        _cleanup_free_ char *s = NULL;

        if (domain_gone(r))
                return true;
        return read_full_file(r->serial, &s, NULL) >= 0 && strstr(s, r->g->ready_marker ?: r->g->prompt);
}

static int guest_run_destroy(GuestRun *r) {
        if (virDomainDestroy(r->dom) < 0 && !domain_gone(r))
                return log_error_errno(-EIO, "Failed to destroy %s: %s", r->name, virt_error());
        /* the STOPPED event follows the call: the domain is gone once it is in */
        if (guest_run_loop(r, domain_gone, 10 * USEC_PER_SEC) < 0)
                return log_error_errno(-ETIMEDOUT, "Domain %s still runs 10 s after it was destroyed.", r->name);
        return 0;
}

/* The exit status of a guest this host refuses to start as configured (unknown guest, missing
 * files, a domain libvirt rejects): a restart cannot help, so the unit's RestartPreventExitStatus=
 * lists it and systemd fails the unit at once instead of restarting it every RestartSec=. 78 is
 * EX_CONFIG, which systemd shows as "CONFIG". */
#define GUEST_EXIT_REFUSED 78

/* libvirt errors that mean the domain as configured cannot be created, whatever the retry. */
static bool virt_error_is_config(void) {
        switch (virGetLastErrorCode()) {
        case VIR_ERR_NO_NETWORK:
        case VIR_ERR_XML_ERROR:
        case VIR_ERR_XML_DETAIL:
        case VIR_ERR_CONFIG_UNSUPPORTED:
        case VIR_ERR_INVALID_ARG:
                return true;
        default:
                return false;
        }
}

static int guest_run_start(GuestRun *r) {
        const char *marker = r->g->ready_marker ?: r->g->prompt;
        int k;

        /* a fresh console log, so that an old ready marker does not count */
        (void) unlink(r->serial);
        r->dom = virDomainCreateXML(r->conn, r->xml, 0);
        if (!r->dom) {
                r->create_refused = virt_error_is_config();
                return log_event(LOG_ERR, EIO, MHTEST_MESSAGE_GUEST_FAILED, NULL, "Failed to start guest %s (%s): %s",
                                 r->guest, r->name, virt_error());
        }
        log_event(LOG_INFO, 0, MHTEST_MESSAGE_GUEST_STARTED, NULL, "Started guest %s as %s (%s).", r->guest,
                  r->name, r->kvm ? "KVM" : "TCG");
        if (!marker)
                return 0;

        (void) sd_notifyf(false, "STATUS=Waiting for \"%s\" on the console of %s", marker, r->name);
        k = guest_run_loop(r, ready_or_gone, r->g->ready_timeout_usec);
        if (k == -ECANCELED)
                return k;
        if (k == 0 && !domain_gone(r))
                return 0;
        if (k == -ETIMEDOUT) {
                _cleanup_free_ char *tail = NULL;

                (void) guest_run_destroy(r);
                (void) read_file_tail(r->serial, 15, &tail);
                return log_event(LOG_ERR, ETIMEDOUT, MHTEST_MESSAGE_GUEST_FAILED, NULL,
                                 "Guest %s did not print \"%s\" on its console (%s) within its ReadyTimeoutSec= "
                                 "under %s. The console's last lines:\n%s",
                                 r->guest, marker, r->serial, r->kvm ? "KVM" : "TCG", isempty(tail) ? "(nothing)" : tail);
        }
        return k < 0 ? k : -ESRCH; /* ended before it was ready: the caller reports how */
}

/* --- stop ------------------------------------------------------------------------------------ */

static int guest_run_stop(GuestRun *r) {
        uint64_t timeout = r->g->shutdown_timeout_usec, t0 = now_usec();
        int k;

        r->stopping = true;
        /* the unit's TimeoutStopSec= may be shorter than ShutdownTimeoutSec= plus a destroy */
        (void) sd_notifyf(false, "STOPPING=1\nEXTEND_TIMEOUT_USEC=%" PRIu64, timeout + 30 * USEC_PER_SEC);
        if (domain_gone(r))
                return 0;
        if (virDomainShutdownFlags(r->dom, VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN) < 0) {
                if (domain_gone(r))
                        return 0;
                log_notice("Guest %s: the ACPI power button request failed (%s), destroying it.", r->guest,
                           virt_error());
        } else {
                k = guest_run_loop(r, domain_gone, timeout);
                if (k == 0 && r->end == GUEST_END_SHUTDOWN) {
                        log_event(LOG_INFO, 0, MHTEST_MESSAGE_GUEST_STOPPED, NULL,
                                  "Guest %s shut down cleanly on the ACPI power button in %.1f s.", r->guest,
                                  (double) (now_usec() - t0) / USEC_PER_SEC);
                        return 0;
                }
                if (k == 0)
                        return 0; /* ended otherwise meanwhile: the caller reports how */
                log_notice("Guest %s did not power off within ShutdownTimeoutSec=%" PRIu64 "s of the ACPI "
                           "power button, destroying it.", r->guest, timeout / USEC_PER_SEC);
        }
        k = guest_run_destroy(r);
        if (k < 0)
                return k;
        log_event(LOG_INFO, 0, MHTEST_MESSAGE_GUEST_STOPPED, NULL, "Guest %s stopped: destroyed (%s).",
                  r->guest, r->end == GUEST_END_DESTROYED ? "no clean shutdown" : strna(r->end_detail));
        return 0;
}

/* --- supervise: how the run ended decides the exit status ------------------------------------- */

static int guest_run_report(GuestRun *r) {
        switch (r->end) {
        case GUEST_END_NONE:
                return 0;
        case GUEST_END_MIGRATED:
                if (r->migrated_to)
                        log_event(LOG_INFO, 0, MHTEST_MESSAGE_GUEST_STOPPED, NULL,
                                  "Guest %s migrated to %s and left this host.", r->guest, r->migrated_to);
                else
                        log_event(LOG_INFO, 0, MHTEST_MESSAGE_GUEST_STOPPED, NULL,
                                  "Guest %s migrated away and left this host; the migrating client recorded "
                                  "no destination (libvirt does not tell the source).", r->guest);
                return 0;
        default:
                return log_event(LOG_ERR, EIO, MHTEST_MESSAGE_GUEST_FAILED, NULL, "Guest %s (%s) failed: %s.",
                                 r->guest, r->name, strna(r->end_detail));
        }
}

static int guest_run_supervise(GuestRun *r) {
        int k;

        k = guest_access_start(&r->access, r->g);
        if (k < 0) {
                if (!r->adopted)
                        (void) guest_run_destroy(r);
                return k;
        }

        log_event(LOG_INFO, 0, MHTEST_MESSAGE_GUEST_READY, NULL, "Guest %s is ready.", r->guest);
        (void) sd_notifyf(false, "READY=1\nSTATUS=Guest %s running as %s", r->guest, r->name);
        /* an adopted domain may have ended before the events were subscribed */
        if (r->adopted && virDomainIsActive(r->dom) == 0)
                guest_run_ended(r, GUEST_END_OTHER, "the domain stopped while it was being adopted");
        k = guest_run_loop(r, domain_gone, 0);
        if (k == -ECANCELED) {
                k = guest_run_stop(r);
                if (k < 0)
                        return k;
                /* stopped here: success, whichever way it went down */
                if (r->end == GUEST_END_SHUTDOWN || r->end == GUEST_END_DESTROYED)
                        return 0;
        }
        if (k < 0)
                return k;
        return guest_run_report(r);
}

int verb_guest(int argc, char *argv[]) {
        _cleanup_(guest_run_done) GuestRun r = { .sigfd = -EBADF, .lifecycle_cb = -1, .metadata_cb = -1 };
        int k;

        k = guest_run_init(&r, argv[1]);
        if (k < 0)
                return arg_print_xml || arg_guest_incoming != GUEST_INCOMING_NONE ? k : GUEST_EXIT_REFUSED;
        if (r.g->launcher && arg_print_xml)
                return log_error_errno(-EOPNOTSUPP, "Guest %s runs under Launcher=: it has no domain XML.",
                                       argv[1]);
        if (r.g->launcher && arg_guest_incoming != GUEST_INCOMING_NONE)
                return log_error_errno(-EOPNOTSUPP, "Guest %s runs under Launcher=: it does not migrate.",
                                       argv[1]);
        if (r.g->launcher)
                return guest_launcher_run(r.j, r.g, r.index);
        if (arg_print_xml)
                return guest_print_xml(&r);
        if (arg_guest_incoming == GUEST_INCOMING_PREPARE)
                return guest_prepare_incoming(&r);
        if (arg_guest_incoming == GUEST_INCOMING_REMOVE)
                return guest_remove_incoming(&r);

        k = guest_run_connect(&r);
        if (k < 0)
                return k;
        k = guest_run_find(&r);
        if (k < 0)
                return k;
        if (k == 0) {
                k = guest_run_prepare(&r);
                if (k < 0) {
                        guest_run_cleanup(&r);
                        return GUEST_EXIT_REFUSED;
                }
                k = guest_run_start(&r);
                if (k < 0 && !r.dom && r.create_refused) {
                        guest_run_cleanup(&r);
                        return GUEST_EXIT_REFUSED;
                }
                if (k == -ECANCELED) {
                        (void) guest_run_stop(&r);
                        guest_run_cleanup(&r);
                        return 0;
                }
                if (k == -ESRCH) {
                        k = log_event(LOG_ERR, EIO, MHTEST_MESSAGE_GUEST_FAILED, NULL,
                                      "Guest %s (%s) failed before it was ready: %s.", r.guest, r.name,
                                      strna(r.end_detail));
                }
                if (k < 0) {
                        if (!r.dom || domain_gone(&r))
                                guest_run_cleanup(&r);
                        return k;
                }
        }
        k = guest_run_supervise(&r);
        /* the files stay while the domain may still use them (libvirtd gone, an error here) */
        if (domain_gone(&r) && r.end != GUEST_END_LIBVIRT_GONE)
                guest_run_cleanup(&r);
        return k;
}
