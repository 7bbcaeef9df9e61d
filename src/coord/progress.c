/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <pthread.h>
#include "progress.h"
#include "string-util.h"

#define PROGRESS_SLOTS 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *labels[PROGRESS_SLOTS], *texts[PROGRESS_SLOTS];
static unsigned drawn; /* lines of the block on the screen, the cursor below them */

bool progress_enabled(void) {
        static int tty = -1;

        if (tty < 0)
                tty = isatty(STDERR_FILENO) && !streq_ptr(getenv("TERM"), "dumb");
        return tty;
}

static void erase_locked(void) {
        if (drawn > 0)
                fprintf(stderr, "\033[%uA\r\033[J", drawn);
        drawn = 0;
}

static void draw_locked(void) {
        erase_locked();
        for (unsigned i = 0; i < PROGRESS_SLOTS; i++)
                if (labels[i]) {
                        fprintf(stderr, "\033[K  %s: %s\n", labels[i], texts[i] ?: "starting");
                        drawn++;
                }
        fflush(stderr);
}

int progress_open(const char *label) {
        int slot = -1;

        if (!progress_enabled())
                return -1;
        pthread_mutex_lock(&lock);
        for (int i = 0; i < PROGRESS_SLOTS; i++)
                if (!labels[i]) {
                        labels[i] = strdup(label);
                        slot = labels[i] ? i : -1;
                        break;
                }
        pthread_mutex_unlock(&lock);
        return slot;
}

void progress_update(int slot, const char *text) {
        if (slot < 0 || slot >= PROGRESS_SLOTS)
                return;
        pthread_mutex_lock(&lock);
        free(texts[slot]);
        texts[slot] = strdup(text);
        draw_locked();
        pthread_mutex_unlock(&lock);
}

void progress_close(int slot) {
        if (slot < 0 || slot >= PROGRESS_SLOTS)
                return;
        pthread_mutex_lock(&lock);
        free(labels[slot]);
        free(texts[slot]);
        labels[slot] = texts[slot] = NULL;
        erase_locked();
        fflush(stderr);
        pthread_mutex_unlock(&lock);
}

void progress_clear(void) {
        if (!progress_enabled())
                return;
        pthread_mutex_lock(&lock);
        erase_locked();
        fflush(stderr);
        pthread_mutex_unlock(&lock);
}
