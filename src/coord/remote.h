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
/* A bus connected to the host's system bus over SSH. */
int remote_bus_open(const RemoteHost *h, sd_bus **ret);
/* Start a unit and wait until it is active (0) or failed (-EIO), at most timeout_usec. */
int remote_unit_start(sd_bus *bus, const char *unit, uint64_t timeout_usec, char **ret_state);
int remote_unit_stop(sd_bus *bus, const char *unit, uint64_t timeout_usec);
