/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "guest-access.h"
#include "guest-network.h"
#include "guest-seed.h"
#include "log.h"
#include "mhtest.h"
#include "string-util.h"
#include "strv.h"
#include <systemd/sd-id128.h>

int guest_access_seed_path(const GuestSection *g, const char *domain, char **ret) {
        *ret = NULL;
        return guest_wants_seed(g) ? guest_seed_path(domain, ret) : 0;
}

static int make_seed(GuestAccess *a, const Config *c, const GuestSection *g, unsigned index) {
        _cleanup_strv_free_ char **keys = NULL;
        _cleanup_free_ char *path = NULL, *host = NULL, *bad = NULL, *id = NULL;
        sd_id128_t rnd;
        int r;

        r = guest_access_seed_path(g, a->domain, &path);
        if (r < 0 || !path)
                return r;
        r = guest_seed_hostname(g, index, &host);
        if (r < 0)
                return log_error_errno(
                        r, "Guest %s: \"%s\" is no valid host name for cloud-init; set Hostname=.", a->name,
                        g->hostname ?: g->section.name);
        r = guest_seed_read_keys(c->root, g->ssh_authorized_keys, &keys, &bad);
        if (r == -EBADMSG)
                return log_error_errno(
                        r,
                        "Guest %s: SSHAuthorizedKeys=%s holds no public key line, or one with "
                        "control characters.",
                        a->name, bad);
        if (r < 0)
                return log_error_errno(r, "Guest %s: cannot read SSHAuthorizedKeys=%s: %m", a->name,
                                       strna(bad));
        /* a new instance-id each run: cloud-init applies the seed at this boot */
        r = sd_id128_randomize(&rnd);
        if (r < 0 || asprintf_safe(&id, "%s-" SD_ID128_FORMAT_STR, a->domain, SD_ID128_FORMAT_VAL(rnd)) < 0)
                return log_oom();
        r = guest_seed_build(path, id, host, keys);
        if (r == -ENOENT)
                return log_error_errno(r,
                                       "Guest %s: genisoimage is not installed (tools/install-deps.sh), "
                                       "needed for the cloud-init seed.",
                                       a->name);
        if (r < 0)
                return log_error_errno(r, "Guest %s: failed to make the cloud-init seed %s: %m", a->name,
                                       path);
        log_info("Guest %s: cloud-init seed %s (host name %s, %zu SSH key(s)).", a->name, path, host,
                 strv_length(keys));
        a->seed = TAKE_PTR(path);
        return 0;
}

int guest_access_prepare(GuestAccess *a, virConnectPtr conn, const Config *c, const GuestSection *g,
                         unsigned index, const char *name, const char *domain, bool adopted) {
        const char *network = g->management_network ?: "default", *mac = NULL;
        _cleanup_free_ char *reason = NULL;
        int r;

        a->conn = conn;
        a->name = name;
        a->domain = strdup(domain);
        if (!a->domain)
                return log_oom();
        if (!adopted) {
                r = make_seed(a, c, g, index);
                if (r < 0)
                        return r;
        } else {
                /* the running domain keeps the seed its first run made; it goes at this run's end */
                r = guest_access_seed_path(g, domain, &a->seed);
                if (r < 0)
                        return log_oom();
        }
        if (!g->management_address)
                return 0;
        STRV_FOREACH (i, g->interfaces)
                if (startswith(*i, "management/"))
                        mac = *i + strlen("management/");
        if (!mac) /* the configuration's check makes sure there is one */
                return log_error_errno(-EINVAL,
                                       "Guest %s: ManagementAddress= needs a management interface with "
                                       "a MAC address.",
                                       name);
        r = guest_network_reserve(conn, arg_root, network, g->management_address, mac, domain, &reason);
        /* what it created before failing is recorded: release it */
        a->reserved = true;
        if (r < 0)
                return log_error_errno(r, "Guest %s: ManagementAddress=%s: %s.", name, g->management_address,
                                       reason ?: "failed");
        log_info("Guest %s: libvirt network %s gives %s the address %s.", name, network, mac,
                 g->management_address);
        return 0;
}

int guest_access_start(GuestAccess *a, const GuestSection *g) {
        _cleanup_free_ char *address = NULL;
        int r;

        if (g->ssh_forward == 0)
                return 0;
        address = strndup(g->management_address, strcspn(g->management_address, "/"));
        if (!address)
                return log_oom();
        r = guest_ssh_forward_start(g->ssh_forward, address, 22, &a->forward);
        if (r == -EADDRINUSE)
                return log_error_errno(r, "Guest %s: SSHForward=%u: the port is in use on this host.",
                                       a->name, g->ssh_forward);
        if (r == -ENOENT)
                return log_error_errno(r, "Guest %s: SSHForward=: systemd-socket-proxyd is not installed.",
                                       a->name);
        if (r < 0)
                return log_error_errno(r, "Guest %s: SSHForward=%u: %m", a->name, g->ssh_forward);
        log_info("Guest %s: port %u of this host forwards to %s:22 (systemd-socket-proxyd, PID %d).",
                 a->name, g->ssh_forward, address, (int) a->forward);
        return 0;
}

void guest_access_done(GuestAccess *a) {
        int r;

        if (a->forward > 0) {
                r = guest_ssh_forward_stop(a->forward);
                if (r < 0)
                        log_warning_errno(r, "Guest %s: failed to stop the SSH forward (PID %d): %m",
                                          a->name, (int) a->forward);
                else
                        log_info("Guest %s: SSH forward stopped.", a->name);
        }
        if (a->reserved && a->conn) {
                r = guest_network_release(a->conn, arg_root, a->domain);
                if (r < 0)
                        log_warning_errno(r,
                                          "Guest %s: failed to release its management network reservation "
                                          "(%s): %m",
                                          a->name, GUEST_NETWORK_STATE_DIR);
                else if (r > 0)
                        log_info("Guest %s: management network reservation released.", a->name);
        }
        if (a->seed) {
                r = guest_seed_remove(a->seed);
                if (r < 0)
                        log_warning_errno(r, "Guest %s: failed to remove %s: %m", a->name, a->seed);
        }
        free(a->domain);
        free(a->seed);
        *a = (GuestAccess){};
}
