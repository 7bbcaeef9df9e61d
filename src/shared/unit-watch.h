/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Watching systemd units over D-Bus: their state, their pending job and the result of their
 * last job, kept current from the manager's signals (PropertiesChanged, JobRemoved), never by
 * polling. Returns errors; what a state means for a job is the caller's business. */

#include <stdint.h>
#include <systemd/sd-bus.h>

#include "macro.h"

typedef struct UnitState {
        char *name;
        char *path;         /* the unit's object path */
        char *load_state;   /* "loaded", "not-found", ... */
        char *active_state; /* "active", "activating", "deactivating", "inactive", "failed" */
        char *sub_state;
        char *invocation_id; /* 32 hex digits, "" before the first start */
        uint32_t job_id;     /* 0: no job pending */
        char *job_type;      /* "start", "stop", "restart", ...; NULL without a job */
        char *job_result;    /* result of the last job of this unit seen to finish, or NULL */
        uint32_t job_result_id; /* the id of that job */
        bool oneshot;        /* a service of Type=oneshot: its ExecStart= is one piece of work */
        bool dirty;          /* a signal said something changed since the last read */
} UnitState;

typedef struct UnitWatch {
        sd_bus *bus;
        UnitState *units;
        size_t n_units;
        sd_bus_slot **slots;
        size_t n_slots;
} UnitWatch;

/* The system manager: its private socket (root only, no dbus-daemon needed, as systemctl does),
 * else the system bus. */
int unit_watch_open_bus(sd_bus **ret);

/* A string-array property of the Unit interface ("Wants", "ConsistsOf", ...). */
int unit_watch_get_unit_strv(sd_bus *bus, const char *unit, const char *property, char ***ret);

/* The type of the job pending on unit ("start", "stop", "restart", ...) in *ret, NULL if none. */
int unit_watch_get_job_type(sd_bus *bus, const char *unit, char **ret);

/* Start watching these units: subscribe to the manager's signals first, then read each unit's
 * state, so that no change is missed in between. */
int unit_watch_new(sd_bus *bus, char *const *units, UnitWatch **ret);
UnitWatch *unit_watch_free(UnitWatch *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(UnitWatch *, unit_watch_free);

/* Wait for the manager's next signals (up to timeout_usec, UINT64_MAX: no limit), then re-read
 * the units they concern. Returns > 0 if a unit's state was re-read, 0 on timeout. */
int unit_watch_wait(UnitWatch *w, uint64_t timeout_usec);

/* The unit's Result= of its type's interface (Service, Mount, ...): "success", "exit-code",
 * "timeout", ... */
int unit_watch_get_result(UnitWatch *w, const UnitState *u, char **ret);

/* Enqueue a start job for the unit in the given job mode; returns once it is queued. */
int unit_watch_start_unit(UnitWatch *w, const UnitState *u, const char *mode);

/* Enqueue a stop job for the unit in the given job mode ("replace", "fail", ...). */
int unit_watch_stop_unit(UnitWatch *w, const UnitState *u, const char *mode);

static inline bool unit_state_is(const UnitState *u, const char *active_state) {
        return u->active_state && streq(u->active_state, active_state);
}

static inline bool unit_state_inactive_or_failed(const UnitState *u) {
        return unit_state_is(u, "inactive") || unit_state_is(u, "failed");
}
