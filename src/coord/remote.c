/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include "log.h"
#include "process-util.h"
#include "remote.h"
#include "string-util.h"
#include "strv.h"
#include "time-util.h"
#include "unit-watch.h"

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

/* The ssh command line of a host: key, config and port from hosts.d/, never a prompt, a bounded
 * connect. */
static int ssh_argv_opts(const RemoteHost *h, unsigned connect_timeout_s, char *const *extra, char ***ret) {
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *port = NULL, *timeout = NULL;

        if (asprintf_safe(&port, "%u", h->ssh_port) < 0 ||
            asprintf_safe(&timeout, "ConnectTimeout=%u", connect_timeout_s) < 0)
                return -ENOMEM;
        argv = strv_new("ssh", "-xT", "-o", "BatchMode=yes", "-o", timeout, "-p", port);
        if (!argv)
                return -ENOMEM;
        if (h->ssh_config && (strv_extend(&argv, "-F") < 0 || strv_extend(&argv, h->ssh_config) < 0))
                return -ENOMEM;
        if (h->identity_file && (strv_extend(&argv, "-i") < 0 || strv_extend(&argv, h->identity_file) < 0))
                return -ENOMEM;
        if (strv_extend_strv(&argv, (char **) extra) < 0 || strv_extend(&argv, "--") < 0 || strv_extend(&argv, h->ssh_target) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(argv);
        return 0;
}

static int ssh_argv_full(const RemoteHost *h, unsigned connect_timeout_s, char ***ret) {
        return ssh_argv_opts(h, connect_timeout_s, NULL, ret);
}

int remote_ssh_argv(const RemoteHost *h, char ***ret) {
        return ssh_argv_full(h, 10, ret);
}

int remote_ssh_forward_argv(const RemoteHost *h, const char *address, unsigned port, char ***ret) {
        _cleanup_free_ char *dest = NULL;

        if (asprintf_safe(&dest, "[%s]:%u", address, port) < 0)
                return -ENOMEM;
        return ssh_argv_opts(h, 10, STRV_MAKE("-W", dest), ret);
}

/* ssh hands the remote side one command line for its shell: only words that mean the same to a
 * shell go there (job, guest and unit names are such words; anything else is refused). */
static bool shell_safe(const char *s) {
        if (isempty(s))
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char) *s) && !strchr("-_.:@=/+,%", *s))
                        return false;
        return true;
}

int remote_ssh_capture(const RemoteHost *h, unsigned connect_timeout_s, char *const *cmd, char **ret_output) {
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *buf = NULL;
        size_t n;
        int r;

        STRV_FOREACH(w, cmd)
                if (!shell_safe(*w))
                        return -EINVAL;
        r = ssh_argv_full(h, connect_timeout_s, &argv);
        if (r < 0)
                return r;
        if (strv_extend_strv(&argv, (char **) cmd) < 0)
                return -ENOMEM;
        /* stderr too: ssh says there why it could not connect */
        r = spawn_capture_all(argv, &buf);
        if (r < 0)
                return r;
        n = strlen(buf);
        /* one line per line, no trailing newline */
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                buf[--n] = 0;
        if (ret_output)
                *ret_output = TAKE_PTR(buf);
        return r;
}

int remote_journal_tail(const RemoteHost *h, const char *unit, unsigned lines, char **ret) {
        _cleanup_free_ char *n = NULL;

        if (asprintf_safe(&n, "%u", lines) < 0)
                return -ENOMEM;
        return remote_ssh_capture(h, 10,
                                  STRV_MAKE("journalctl", "--no-pager", "-q", "-o", "cat", "-n", n, "-u", unit),
                                  ret);
}

int remote_bus_open(const RemoteHost *h, sd_bus **ret) {
        _cleanup_strv_free_ char **argv = NULL, **ssh = NULL;
        _cleanup_free_ char *address = NULL;
        sd_bus *bus = NULL;
        int r;

        /* As sd_bus_open_system_remote() does, but with the host's ssh options (key, config,
         * port) from hosts.d/, which that call has no way to take. setsid: a Ctrl-C on the
         * controller's terminal goes to its process group, and this connection has to outlive
         * it (the coordinator aborts and stops what runs on the hosts through it). */
        r = ssh_argv_full(h, 10, &ssh);
        if (r < 0)
                return r;
        argv = strv_new("setsid", "--wait");
        if (!argv || strv_extend_strv(&argv, ssh) < 0 || strv_extend(&argv, "systemd-stdio-bridge") < 0)
                return -ENOMEM;
        address = strdup("unixexec:path=setsid");
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

/* Enqueue a job for unit and wait for systemd's verdict on it (the manager's JobRemoved signal):
 * "done", or why not ("failed", "dependency", "timeout", "canceled", ...). A start job of one of
 * the units in also that ends otherwise than "done" ends the wait at once: a unit that systemd
 * restarts after each failure keeps the job waiting for it until the timeout. */
static int unit_job(sd_bus *bus, const char *method, const char *unit, char *const *also, uint64_t timeout_usec,
                    bool (*cancelled)(void), char **ret_result, char **ret_failed_unit) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(unit_watch_freep) UnitWatch *w = NULL;
        _cleanup_strv_free_ char **units = NULL;
        uint64_t deadline = now_usec() + timeout_usec;
        const char *job, *id;
        unsigned job_id = 0;
        UnitState *u;
        int r;

        units = strv_new(unit);
        if (!units || strv_extend_strv(&units, (char **) also) < 0)
                return -ENOMEM;
        /* subscribed before the job exists: its end cannot be missed */
        r = unit_watch_new(bus, units, &w);
        if (r < 0)
                return r;
        for (size_t i = 0; i < w->n_units; i++) {
                free(w->units[i].job_result);
                w->units[i].job_result = NULL;
        }
        u = &w->units[0];
        r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                               "org.freedesktop.systemd1.Manager", method, &error, &reply, "ss", unit, "replace");
        if (r < 0) {
                log_error("Failed to %s %s: %s", streq(method, "StartUnit") ? "start" : "stop", unit,
                          error.message ?: strerror(-r));
                return r;
        }
        /* our job: a stop that replaces a pending start ends that one first ("canceled") */
        r = sd_bus_message_read(reply, "o", &job);
        if (r < 0)
                return r;
        id = strrchr(job, '/');
        if (!id || parse_unsigned(id + 1, &job_id) < 0)
                return -EBADMSG;
        while (!u->job_result || u->job_result_id != job_id) {
                uint64_t now = now_usec();

                for (size_t i = 1; i < w->n_units; i++) {
                        const UnitState *a = &w->units[i];

                        if (!a->job_result || streq(a->job_result, "done") || streq(a->job_result, "skipped"))
                                continue;
                        if (ret_result)
                                *ret_result = strdup(a->job_result);
                        if (ret_failed_unit)
                                *ret_failed_unit = strdup(a->name);
                        return -EIO;
                }
                if (cancelled && cancelled())
                        return -ECANCELED;
                if (now >= deadline)
                        return -ETIMEDOUT;
                /* in slices, so that an interrupted run stops waiting */
                r = unit_watch_wait(w, MIN(deadline - now, 250 * USEC_PER_MSEC));
                if (r < 0)
                        return r;
        }
        if (ret_result)
                *ret_result = strdup(u->job_result);
        if (ret_failed_unit && !streq(u->job_result, "done"))
                *ret_failed_unit = strdup(unit);
        return streq(u->job_result, "done") ? 0 : -EIO;
}

int remote_unit_start(sd_bus *bus, const char *unit, uint64_t timeout_usec, bool (*cancelled)(void),
                      char **ret_result) {
        return unit_job(bus, "StartUnit", unit, NULL, timeout_usec, cancelled, ret_result, NULL);
}

int remote_unit_start_all(sd_bus *bus, const char *unit, char *const *also, uint64_t timeout_usec,
                          bool (*cancelled)(void), char **ret_result, char **ret_failed_unit) {
        return unit_job(bus, "StartUnit", unit, also, timeout_usec, cancelled, ret_result, ret_failed_unit);
}

int remote_unit_stop(sd_bus *bus, const char *unit, uint64_t timeout_usec) {
        return unit_job(bus, "StopUnit", unit, NULL, timeout_usec, NULL, NULL, NULL);
}

int remote_unit_state(sd_bus *bus, const char *unit, char **ret_active_state, char **ret_result) {
        _cleanup_(unit_watch_freep) UnitWatch *w = NULL;
        int r;

        r = unit_watch_new(bus, STRV_MAKE(unit), &w);
        if (r < 0)
                return r;
        if (ret_result) {
                r = unit_watch_get_result(w, &w->units[0], ret_result);
                if (r < 0)
                        return r;
        }
        *ret_active_state = strdup(strna(w->units[0].active_state));
        return *ret_active_state ? 0 : -ENOMEM;
}

int remote_unit_wait_stopped(sd_bus *bus, const char *unit, uint64_t timeout_usec, char **ret_result) {
        _cleanup_(unit_watch_freep) UnitWatch *w = NULL;
        uint64_t deadline = now_usec() + timeout_usec;
        UnitState *u;
        int r;

        r = unit_watch_new(bus, STRV_MAKE(unit), &w);
        if (r < 0)
                return r;
        u = &w->units[0];
        while (!unit_state_inactive_or_failed(u) || u->job_id != 0) {
                uint64_t now = now_usec();

                if (now >= deadline)
                        return -ETIMEDOUT;
                r = unit_watch_wait(w, deadline - now);
                if (r < 0)
                        return r;
        }
        return ret_result ? unit_watch_get_result(w, u, ret_result) : 0;
}
