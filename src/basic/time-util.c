/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <time.h>
#include "time-util.h"

uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * UINT64_C(1000000) + (uint64_t) ts.tv_nsec / 1000;
}

void sleep_usec(uint64_t usec) {
        struct timespec ts = {
                .tv_sec = (time_t) (usec / UINT64_C(1000000)),
                .tv_nsec = (long) (usec % UINT64_C(1000000)) * 1000L,
        };

        (void) nanosleep(&ts, NULL);
}
