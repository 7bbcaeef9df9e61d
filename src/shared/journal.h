/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

/* Route basic's log functions to the journal (sd_journal_sendv) with MHTEST_* fields when
 * stderr is connected to it; events (a MESSAGE_ID) go to the journal also when the tool logs to
 * the console, whenever journald listens. Call once at the start of main(). */
void log_setup(const char *program_name);

/* journalctl --sync: returns once journald wrote everything it received before the call. */
int journal_sync(uint64_t timeout_usec);

/* The last n journal messages of one run of unit (its processes' and systemd's about it; all
 * runs if invocation_id is empty), oldest first, as "HH:MM:SS IDENTIFIER: MESSAGE". Returns how
 * many. */
int journal_unit_tail(const char *unit, const char *invocation_id, unsigned n, char ***ret);
