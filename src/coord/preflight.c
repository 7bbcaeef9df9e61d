/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Before mhtest-coord changes anything: every host reachable over ssh, its copy of the job equal
 * to the controller's (mhtest config hash), its libvirtd answering, and the guests' CPU usable
 * where they migrate to. One thread per host; the verdict is read in the main thread. */
#include <pthread.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/xmlwriter.h>
#include "log.h"
#include "message-ids.h"
#include "preflight.h"
#include "string-util.h"
#include "strv.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(virConnectPtr, virConnectClose);
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlTextWriterPtr, xmlFreeTextWriter);
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlBufferPtr, xmlBufferFree);

#define PREFLIGHT_CONNECT_TIMEOUT_S 10

typedef struct PreflightHost {
        const RemoteHost *remote;
        const char *job;
        const char *expected_hash;
        const GuestSection **guests; /* migrated to this host */
        size_t n_guests;
        pthread_t thread;
        /* results */
        char *hash;
        unsigned long libvirt_version;
        char **problems; /* why this host is refused, one line each */
} PreflightHost;

int preflight_expected_hashes(Config *c, const char *job, char *const *hosts, char ***ret) {
        _cleanup_strv_free_ char **hashes = NULL;
        char *self = c->host_name;
        int r = 0;

        /* Each host reads the job with its own [Match] Host= drop-ins: hash it as that host would. */
        STRV_FOREACH(h, hosts) {
                _cleanup_(config_diagnostics_done) ConfigDiagnostics d = {};
                _cleanup_(job_config_freep) JobConfig *j = NULL;
                _cleanup_free_ char *hash = NULL;

                c->host_name = *h;
                r = config_load_job(c, job, &j, &d);
                if (r >= 0 && d.n_errors > 0)
                        r = -EINVAL;
                if (r >= 0)
                        r = job_config_hash(j, &hash);
                if (r < 0 || strv_consume(&hashes, TAKE_PTR(hash)) < 0)
                        break;
        }
        c->host_name = self;
        if (r < 0)
                return r;
        if (!hashes && !(hashes = strv_new(NULL)))
                return -ENOMEM;
        *ret = TAKE_PTR(hashes);
        return 0;
}

/* The <cpu> a guest asks for, as virConnectCompareHypervisorCPU() takes it. */
static int guest_cpu_xml(const GuestSection *g, char **ret) {
        _cleanup_(xmlBufferFreep) xmlBufferPtr buf = xmlBufferCreate();
        _cleanup_(xmlFreeTextWriterp) xmlTextWriterPtr w = NULL;

        if (!buf || !(w = xmlNewTextWriterMemory(buf, 0)))
                return -ENOMEM;
        if (xmlTextWriterStartElement(w, BAD_CAST "cpu") < 0 ||
            xmlTextWriterWriteAttribute(w, BAD_CAST "mode", BAD_CAST "custom") < 0 ||
            xmlTextWriterWriteAttribute(w, BAD_CAST "match", BAD_CAST "exact") < 0 ||
            xmlTextWriterWriteElement(w, BAD_CAST "model", BAD_CAST g->cpu_model) < 0 ||
            xmlTextWriterEndElement(w) < 0 || xmlTextWriterFlush(w) < 0)
                return -EIO;
        *ret = strdup((const char *) xmlBufferContent(buf));
        return *ret ? 0 : -ENOMEM;
}

static void add_problem(PreflightHost *p, const char *fmt, ...) _printf_(2, 3);
static void add_problem(PreflightHost *p, const char *fmt, ...) {
        va_list ap;
        char *s = NULL;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        if (!s || strv_consume(&p->problems, s) < 0)
                (void) strv_extend(&p->problems, "out of memory");
}

static void check_cpus(PreflightHost *p, virConnectPtr conn) {
        for (size_t i = 0; i < p->n_guests; i++) {
                const GuestSection *g = p->guests[i];
                _cleanup_free_ char *xml = NULL;
                int r;

                /* host-model/host-passthrough take the source's CPU: libvirt compares it with the
                 * destination when it prepares the migration. */
                if (streq(g->cpu_model, "host-passthrough") || streq(g->cpu_model, "host-model"))
                        continue;
                if (guest_cpu_xml(g, &xml) < 0) {
                        add_problem(p, "cannot describe the CPU of guest %s", g->section.name);
                        continue;
                }
                r = virConnectCompareHypervisorCPU(conn, NULL, NULL, NULL,
                                                   g->virt_type == GUEST_VIRT_KVM    ? "kvm"
                                                   : g->virt_type == GUEST_VIRT_QEMU ? "qemu"
                                                                                     : NULL,
                                                   xml, VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE);
                if (r == VIR_CPU_COMPARE_ERROR || r == VIR_CPU_COMPARE_INCOMPATIBLE)
                        /* libvirt's message names the features the host lacks */
                        add_problem(p, "guest %s cannot run here with CPU %s: %s", g->section.name, g->cpu_model,
                                    virGetLastErrorMessage());
        }
}

static void *preflight_thread(void *userdata) {
        PreflightHost *p = userdata;
        _cleanup_(virConnectClosep) virConnectPtr conn = NULL;
        _cleanup_free_ char *out = NULL;
        int r;

        r = remote_ssh_capture(p->remote, PREFLIGHT_CONNECT_TIMEOUT_S, STRV_MAKE("mhtest", "config", "hash", p->job),
                               &out);
        if (r == 255 || r < 0) {
                /* ssh itself failed: nothing else can be asked */
                add_problem(p, "unreachable over ssh (%s): %s", p->remote->ssh_target,
                            r < 0 ? strerror(-r) : isempty(out) ? "ssh failed" : out);
                return NULL;
        }
        if (r != 0)
                add_problem(p, "\"mhtest config hash %s\" failed (exit status %d): %s", p->job, r, strna(out));
        else {
                /* the last line: whatever mhtest logged to stderr comes before it */
                const char *nl = strrchr(out, '\n');

                p->hash = strdup(nl ? nl + 1 : out);
                if (!p->hash)
                        return NULL;
                if (!streq(p->hash, p->expected_hash))
                        add_problem(p, "job %s differs from the controller's: config hash %s here, %s on the controller",
                                    p->job, p->hash, p->expected_hash);
        }

        conn = virConnectOpen(p->remote->libvirt_uri);
        if (!conn || virConnectGetLibVersion(conn, &p->libvirt_version) < 0) {
                add_problem(p, "libvirtd does not answer at %s: %s", p->remote->libvirt_uri, virGetLastErrorMessage());
                return NULL;
        }
        check_cpus(p, conn);
        return NULL;
}

static int add_guest(PreflightHost *p, const GuestSection *g) {
        const GuestSection **n;

        for (size_t i = 0; i < p->n_guests; i++)
                if (p->guests[i] == g)
                        return 0;
        n = reallocarray(p->guests, p->n_guests + 1, sizeof(*n));
        if (!n)
                return -ENOMEM;
        p->guests = n;
        p->guests[p->n_guests++] = g;
        return 0;
}

static const GuestSection *find_guest(const JobConfig *j, const char *name) {
        for (size_t i = 0; i < j->n_guests; i++)
                if (streq(j->guests[i]->section.name, name))
                        return j->guests[i];
        return NULL;
}

int preflight_run(const JobConfig *j, const Schedule *s, const RemoteHost *const *hosts, size_t n_hosts,
                  char *const *expected_hashes) {
        _cleanup_free_ PreflightHost *p = NULL;
        size_t n_problems = 0;
        int r = 0;

        p = calloc(MAX(n_hosts, 1u), sizeof(PreflightHost));
        if (!p)
                return log_oom();
        for (size_t i = 0; i < n_hosts; i++)
                p[i] = (PreflightHost) { .remote = hosts[i], .job = j->name, .expected_hash = expected_hashes[i] };
        for (size_t i = 0; r >= 0 && i < s->n_phases; i++)
                for (size_t k = 0; r >= 0 && k < s->phases[i].n_steps; k++) {
                        const MigrationStep *st = &s->phases[i].steps[k];
                        const GuestSection *g = find_guest(j, st->guest);

                        for (size_t h = 0; g && h < n_hosts; h++)
                                if (streq(hosts[h]->name, st->to))
                                        r = add_guest(&p[h], g);
                }
        if (r < 0)
                goto finish;

        for (size_t i = 0; i < n_hosts; i++)
                if (pthread_create(&p[i].thread, NULL, preflight_thread, &p[i]) != 0) {
                        r = log_error_errno(-EAGAIN, "Failed to start a preflight thread.");
                        for (size_t k = 0; k < i; k++)
                                pthread_join(p[k].thread, NULL);
                        goto finish;
                }
        for (size_t i = 0; i < n_hosts; i++)
                pthread_join(p[i].thread, NULL);

        for (size_t i = 0; i < n_hosts; i++) {
                char field[128];
                char *fields[] = { field, NULL };

                snprintf(field, sizeof field, "MHTEST_HOST=%s", hosts[i]->name);
                if (!p[i].problems) {
                        log_event(LOG_INFO, 0, MHTEST_MESSAGE_COORD_PREFLIGHT, fields,
                                  "Preflight %s: reachable, job hash %.12s, libvirt %lu.%lu.%lu, guest CPUs usable.",
                                  hosts[i]->name, strna(p[i].hash), p[i].libvirt_version / 1000000,
                                  p[i].libvirt_version / 1000 % 1000, p[i].libvirt_version % 1000);
                        continue;
                }
                STRV_FOREACH(m, p[i].problems) {
                        log_event(LOG_ERR, 0, MHTEST_MESSAGE_COORD_PREFLIGHT, fields, "Preflight %s: %s",
                                  hosts[i]->name, *m);
                        n_problems++;
                }
        }
        if (n_problems > 0)
                r = log_error_errno(-EHOSTUNREACH, "Preflight found %zu problem(s): nothing was started on any host.",
                                    n_problems);
finish:
        for (size_t i = 0; i < n_hosts; i++) {
                free(p[i].guests);
                free(p[i].hash);
                strv_free(p[i].problems);
        }
        return r;
}
