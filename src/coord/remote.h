/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>
#include "config.h"

/* How the coordinator reaches a host: the engines admins already run. systemd over D-Bus
 * through "ssh HOST systemd-stdio-bridge" (what systemctl -H does), libvirt through its remote
 * URIs. Everything is derived from hosts.d/HOST.conf. */
typedef struct RemoteHost {
        const char *name;
        char *ssh_target;  /* user@address */
        char *libvirt_uri; /* control connection */
        char *tcp_uri;     /* qemu+tcp://address/system (Transport=tcp) */
        char *migration_address;
        const char *identity_file;
        const char *ssh_config;
        unsigned ssh_port;
} RemoteHost;

void remote_host_done(RemoteHost *h);
int remote_host_from_config(const Config *c, const char *name, RemoteHost *ret);
/* "ssh [options from hosts.d/] -- user@address": append the remote command's words. */
int remote_ssh_argv(const RemoteHost *h, char ***ret);
/* "ssh [options from hosts.d/] -W [ADDRESS]:PORT -- user@address": the host's sshd connects to
 * ADDRESS:PORT and ssh relays that connection on its stdin and stdout (a ProxyCommand). */
int remote_ssh_forward_argv(const RemoteHost *h, const char *address, unsigned port, char ***ret);
/* Run cmd (words a shell takes as they are, else -EINVAL) on the host over ssh, with BatchMode and
 * a connect timeout; its stdout and stderr (ssh's own errors included) in *ret_output. Returns
 * the exit status (255: ssh failed), or a negative errno. */
int remote_ssh_capture(const RemoteHost *h, unsigned connect_timeout_s, char *const *cmd, char **ret_output);
/* The last lines the host's journal has of unit (journalctl -u UNIT -n LINES -o cat, over ssh). */
int remote_journal_tail(const RemoteHost *h, const char *unit, unsigned lines, char **ret);
/* A bus connected to the host's system bus over SSH. */
int remote_bus_open(const RemoteHost *h, sd_bus **ret);
/* Start or stop a unit and wait for systemd's result of that job (JobRemoved): 0 for "done",
 * -EIO otherwise with the result ("failed", "dependency", "timeout", ...) in *ret_result,
 * -ETIMEDOUT after timeout_usec, -ECANCELED as soon as cancelled() says so. */
int remote_unit_start(sd_bus *bus, const char *unit, uint64_t timeout_usec, bool (*cancelled)(void),
                      char **ret_result);
/* The same for a job unit whose start waits for the units in also (its Wants=): the start job
 * of one of them that ends otherwise than "done" ends the wait at once, -EIO, with that unit in
 * *ret_failed_unit and its job's result in *ret_result. */
int remote_unit_start_all(sd_bus *bus, const char *unit, char *const *also, uint64_t timeout_usec,
                          bool (*cancelled)(void), char **ret_result, char **ret_failed_unit);
int remote_unit_stop(sd_bus *bus, const char *unit, uint64_t timeout_usec);
/* The unit's ActiveState and (ret_result non-NULL) its Result=. */
int remote_unit_state(sd_bus *bus, const char *unit, char **ret_active_state, char **ret_result);
/* Wait until unit is inactive or failed with no job pending; its Result= ("success", "exit-code",
 * "signal", ...) in *ret_result. */
int remote_unit_wait_stopped(sd_bus *bus, const char *unit, uint64_t timeout_usec, char **ret_result);
