/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* Live progress of the running migrations on a TTY (stderr): one line per migration, redrawn in
 * place. Quiet when stderr is not a terminal. Safe to call from any thread. */
bool progress_enabled(void);
/* A slot for one migration; -1 when progress is off. */
int progress_open(const char *label);
void progress_update(int slot, const char *text);
/* The migration ended: its line goes away. */
void progress_close(int slot);
/* Erase the block before writing something else on stderr; the next update draws it again. */
void progress_clear(void);
