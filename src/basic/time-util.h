/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include "macro.h"
#include "parse-util.h" /* USEC_PER_SEC, USEC_PER_MSEC */

/* CLOCK_MONOTONIC in microseconds: deadlines and durations, never wall time. */
uint64_t now_usec(void);
/* Sleep (EINTR ends it early: callers re-check their condition anyway). */
void sleep_usec(uint64_t usec);
