/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <time.h>
#include "log.h"
#include "remote.h"
#include "string-util.h"
#include "strv.h"

void remote_host_done(RemoteHost *h) {
        free(h->ssh_target);
        free(h->libvirt_uri);
        free(h->tcp_uri);
        free(h->migration_address);
        *h = (RemoteHost) {};
}

int remote_host_from_config(const Config *c, const char *name, RemoteHost *ret) {
        const HostConfig *hc = config_find_host(c, name);
        const HostSection *h;
        RemoteHost r = { .name = name };

        if (!hc)
                return -ENOENT;
        h = hc->host;
        r.identity_file = h->identity_file;
        r.ssh_config = h->ssh_config;
        r.ssh_port = h->ssh_port;
        if (asprintf_safe(&r.ssh_target, "%s@%s", h->ssh_user, h->address) < 0)
                return -ENOMEM;
        if (h->libvirt_uri)
                r.libvirt_uri = strdup(h->libvirt_uri);
        else if (h->identity_file)
                asprintf_safe(&r.libvirt_uri, "qemu+ssh://%s@%s:%u/system?keyfile=%s&no_verify=1", h->ssh_user,
                              h->address, h->ssh_port, h->identity_file);
        else
                asprintf_safe(&r.libvirt_uri, "qemu+ssh://%s@%s:%u/system", h->ssh_user, h->address, h->ssh_port);
        asprintf_safe(&r.tcp_uri, "qemu+tcp://%s/system", h->migration_address ?: h->address);
        r.migration_address = strdup(h->migration_address ?: h->address);
        if (!r.libvirt_uri || !r.tcp_uri || !r.migration_address) {
                remote_host_done(&r);
                return -ENOMEM;
        }
        *ret = r;
        return 0;
}

/* D-Bus address values: everything but [-_/.\a-zA-Z0-9] is %-escaped. */
static int bus_escape(const char *s, char **ret) {
        char *e = malloc(strlen(s) * 3 + 1), *p = e;

        if (!e)
                return -ENOMEM;
        for (; *s; s++) {
                if (isalnum((unsigned char) *s) || strchr("-_/.\\", *s))
                        *p++ = *s;
                else
                        p += sprintf(p, "%%%02x", (unsigned char) *s);
        }
        *p = 0;
        *ret = e;
        return 0;
}

int remote_ssh_argv(const RemoteHost *h, char ***ret) {
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *port = NULL;

        if (asprintf_safe(&port, "%u", h->ssh_port) < 0)
                return -ENOMEM;
        argv = strv_new("ssh", "-xT", "-o", "BatchMode=yes", "-p", port);
        if (!argv)
                return -ENOMEM;
        if (h->ssh_config && (strv_extend(&argv, "-F") < 0 || strv_extend(&argv, h->ssh_config) < 0))
                return -ENOMEM;
        if (h->identity_file && (strv_extend(&argv, "-i") < 0 || strv_extend(&argv, h->identity_file) < 0))
                return -ENOMEM;
        if (strv_extend(&argv, "--") < 0 || strv_extend(&argv, h->ssh_target) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(argv);
        return 0;
}

int remote_bus_open(const RemoteHost *h, sd_bus **ret) {
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *address = NULL;
        sd_bus *bus = NULL;
        int r;

        /* As sd_bus_open_system_remote() does, but with the host's ssh options (key, config,
         * port) from hosts.d/, which that call has no way to take. */
        r = remote_ssh_argv(h, &argv);
        if (r < 0)
                return r;
        if (strv_extend(&argv, "systemd-stdio-bridge") < 0)
                return -ENOMEM;
        address = strdup("unixexec:path=ssh");
        if (!address)
                return -ENOMEM;
        for (size_t i = 0; argv[i]; i++) {
                _cleanup_free_ char *e = NULL;
                char *n;
                if (bus_escape(argv[i], &e) < 0 || asprintf_safe(&n, "%s,argv%zu=%s", address, i, e) < 0)
                        return -ENOMEM;
                free(address);
                address = n;
        }
        r = sd_bus_new(&bus);
        if (r < 0)
                return r;
        r = sd_bus_set_address(bus, address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, true);
        if (r >= 0)
                r = sd_bus_set_trusted(bus, true);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0) {
                sd_bus_unref(bus);
                return r;
        }
        *ret = bus;
        return 0;
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static int unit_active_state(sd_bus *bus, const char *unit, char **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path;
        int r;

        r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                               "org.freedesktop.systemd1.Manager", "LoadUnit", &error, &reply, "s", unit);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return r;
        return sd_bus_get_property_string(bus, "org.freedesktop.systemd1", path, "org.freedesktop.systemd1.Unit",
                                          "ActiveState", &error, ret);
}

static int wait_state(sd_bus *bus, const char *unit, const char *const *done, uint64_t timeout_usec,
                      char **ret_state) {
        uint64_t deadline = now_usec() + timeout_usec;

        for (;;) {
                _cleanup_free_ char *state = NULL;
                int r = unit_active_state(bus, unit, &state);
                if (r < 0)
                        return r;
                for (size_t i = 0; done[i]; i++)
                        if (streq(state, done[i])) {
                                if (ret_state)
                                        *ret_state = TAKE_PTR(state);
                                return (int) i;
                        }
                if (now_usec() > deadline)
                        return -ETIMEDOUT;
                usleep(200 * 1000);
        }
}

int remote_unit_start(sd_bus *bus, const char *unit, uint64_t timeout_usec, char **ret_state) {
        static const char *const done[] = { "active", "failed", NULL };
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                               "org.freedesktop.systemd1.Manager", "StartUnit", &error, NULL, "ss", unit, "replace");
        if (r < 0) {
                log_error("Failed to start %s: %s", unit, error.message ?: strerror(-r));
                return r;
        }
        r = wait_state(bus, unit, done, timeout_usec, ret_state);
        if (r < 0)
                return r;
        return r == 0 ? 0 : -EIO;
}

int remote_unit_stop(sd_bus *bus, const char *unit, uint64_t timeout_usec) {
        static const char *const done[] = { "inactive", "failed", NULL };
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                               "org.freedesktop.systemd1.Manager", "StopUnit", &error, NULL, "ss", unit, "replace");
        if (r < 0) {
                log_error("Failed to stop %s: %s", unit, error.message ?: strerror(-r));
                return r;
        }
        r = wait_state(bus, unit, done, timeout_usec, NULL);
        return r < 0 ? r : 0;
}
