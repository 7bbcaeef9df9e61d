/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Route basic's log functions to the journal (sd_journal_sendv) with MHTEST_* fields when
 * stderr is connected to it. Call once at the start of main(). */
void log_setup(const char *program_name);
