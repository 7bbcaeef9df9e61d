/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <syslog.h>
#include "macro.h"

typedef enum LogTarget {
        LOG_TARGET_AUTO,    /* journal if stderr is connected to it (JOURNAL_STREAM), else console */
        LOG_TARGET_CONSOLE,
        LOG_TARGET_JOURNAL,
        /* Generators: the journal if journald runs (daemon-reload), else the kernel log
         * (early boot), as systemd.generator(7) asks; stderr only if neither works. */
        LOG_TARGET_JOURNAL_OR_KMSG,
        _LOG_TARGET_MAX,
        _LOG_TARGET_INVALID = -EINVAL,
} LogTarget;

/* Structured context added to every journal entry: MHTEST_JOB=, MHTEST_HOST=, MHTEST_STEP=,
 * MHTEST_GUEST=. */
typedef struct LogContext {
        const char *job;
        const char *host;
        const char *step;
        const char *guest;
} LogContext;

/* The journal writer lives in src/shared (it needs libsystemd); basic only knows its shape.
 * fields is a NULL-terminated list of "KEY=value" strings, may be NULL. */
typedef int (*LogJournalSink)(int level, int error, const char *message_id, const char *file,
                              int line, const char *func, const LogContext *context,
                              char * const *fields, const char *message);

void log_set_max_level(int level);
int log_get_max_level(void);
int log_level_from_string(const char *s);
/* --log-level=LEVEL of every tool: sets the level, or logs what was expected and returns < 0. */
int log_set_max_level_from_option(const char *arg);
void log_set_target(LogTarget target);
LogTarget log_get_effective_target(void);
void log_set_journal_sink(LogJournalSink sink);
void log_set_program_name(const char *name);
/* Copies the strings; NULL leaves a field unset. */
void log_set_context_job(const char *job);
void log_set_context_host(const char *host);
void log_set_context_step(const char *step);
void log_set_context_guest(const char *guest);
/* This thread only, over the process's value (NULL falls back to it again). */
void log_set_thread_context_guest(const char *guest);
void log_set_thread_context_step(const char *step);
/* The calling thread's context: its own fields over the process's. */
const LogContext *log_get_context(void);
/* Events (a MESSAGE_ID) logged to the console go to the journal sink too. */
void log_set_journal_events(bool b);
bool log_stderr_is_journal(void);

int log_internal(int level, int error, const char *message_id, char * const *fields, const char *file,
                 int line, const char *func, const char *format, ...) _printf_(8, 9);

#define log_full_errno(level, error, ...) \
        log_internal(level, error, NULL, NULL, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_full(level, ...) (void) log_full_errno(level, 0, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(error, ...) log_full_errno(LOG_DEBUG, error, __VA_ARGS__)
#define log_info_errno(error, ...) log_full_errno(LOG_INFO, error, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, error, __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_ERR, error, __VA_ARGS__)

/* An event with a MESSAGE_ID (documented in mhtest.catalog) and optional extra fields. */
#define log_event(level, error, message_id, fields, ...) \
        log_internal(level, error, message_id, fields, __FILE__, __LINE__, __func__, __VA_ARGS__)

#define log_oom() log_error_errno(-ENOMEM, "Out of memory.")
