/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <fcntl.h>
#include <sys/stat.h>
#include "log.h"
#include "string-util.h"

static int max_level = LOG_INFO;
static LogTarget target = LOG_TARGET_AUTO;
static LogJournalSink journal_sink;
static const char *program_name;
/* The process's context (set once by main) and each thread's own: threads that work for
 * different guests at once (the coordinator's migrations) set theirs without touching another
 * thread's. A field a thread did not set falls back to the process's. */
static char *ctx_job, *ctx_host, *ctx_step, *ctx_guest;
static LogContext context;
static _Thread_local char *tctx_guest, *tctx_step;
static _Thread_local LogContext thread_context;
static bool journal_events;

static const char *const level_table[] = {
        [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
        [LOG_ERR] = "err",     [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
        [LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
};

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

int log_level_from_string(const char *s) {
        for (size_t i = 0; i < ELEMENTSOF(level_table); i++)
                if (streq(level_table[i], s))
                        return (int) i;
        if (streq(s, "error"))
                return LOG_ERR;
        if (streq(s, "warn"))
                return LOG_WARNING;
        if (s[0] >= '0' && s[0] <= '7' && s[1] == 0)
                return s[0] - '0';
        return -EINVAL;
}

int log_set_max_level_from_option(const char *arg) {
        int l = log_level_from_string(arg);

        if (l < 0) {
                log_error("Invalid --log-level=%s (expected debug, info, notice, warning, err).", arg);
                return -EINVAL;
        }
        log_set_max_level(l);
        return 0;
}

void log_set_target(LogTarget t) {
        target = t;
}

void log_set_journal_sink(LogJournalSink sink) {
        journal_sink = sink;
}

void log_set_program_name(const char *name) {
        program_name = name;
}

static void set_field(char **store, const char **field, const char *value) {
        free(*store);
        *store = value ? strdup(value) : NULL;
        *field = *store;
}

void log_set_context_job(const char *job) {
        set_field(&ctx_job, &context.job, job);
}

void log_set_context_host(const char *host) {
        set_field(&ctx_host, &context.host, host);
}

void log_set_context_step(const char *step) {
        set_field(&ctx_step, &context.step, step);
}

void log_set_context_guest(const char *guest) {
        set_field(&ctx_guest, &context.guest, guest);
}

void log_set_thread_context_guest(const char *guest) {
        free(tctx_guest);
        tctx_guest = guest ? strdup(guest) : NULL;
}

void log_set_thread_context_step(const char *step) {
        free(tctx_step);
        tctx_step = step ? strdup(step) : NULL;
}

const LogContext *log_get_context(void) {
        thread_context = (LogContext) {
                .job = context.job,
                .host = context.host,
                .step = tctx_step ?: context.step,
                .guest = tctx_guest ?: context.guest,
        };
        return &thread_context;
}

void log_set_journal_events(bool b) {
        journal_events = b;
}

bool log_stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

LogTarget log_get_effective_target(void) {
        if (target != LOG_TARGET_AUTO)
                return target;
        return log_stderr_is_journal() && journal_sink ? LOG_TARGET_JOURNAL : LOG_TARGET_CONSOLE;
}

static int write_kmsg(int level, const char *message) {
        char line[2200];
        int fd, n;
        ssize_t k;

        fd = open("/dev/kmsg", O_WRONLY | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = snprintf(line, sizeof line, "<%d>%s[%d]: %s\n", LOG_DAEMON | level,
                     program_name ?: program_invocation_short_name, (int) getpid(), message);
        k = write(fd, line, MIN((size_t) n, sizeof line - 1));
        close(fd);
        return k < 0 ? -errno : 0;
}

int log_internal(int level, int error, const char *message_id, char * const *fields, const char *file,
                 int line, const char *func, const char *format, ...) {
        char buf[2048];
        va_list ap;
        int saved = errno;

        if (error < 0)
                error = -error;
        if (level > max_level)
                return -error;

        /* %m prints the error we were given, not whatever errno happens to be. */
        errno = error;
        va_start(ap, format);
        vsnprintf(buf, sizeof buf, format, ap);
        va_end(ap);

        switch (log_get_effective_target()) {
        case LOG_TARGET_JOURNAL:
        case LOG_TARGET_JOURNAL_OR_KMSG:
                if (journal_sink &&
                    journal_sink(level, error, message_id, file, line, func, log_get_context(), fields, buf) >= 0) {
                        errno = saved;
                        return -error;
                }
                if (target == LOG_TARGET_JOURNAL_OR_KMSG && write_kmsg(level, buf) >= 0) {
                        errno = saved;
                        return -error;
                }
                break;
        default:
                /* An event goes to the journal too whenever journald listens, also from a shell:
                 * journalctl MESSAGE_ID=... tells the story whoever ran the tool. */
                if (journal_events && message_id && journal_sink)
                        (void) journal_sink(level, error, message_id, file, line, func, log_get_context(), fields,
                                            buf);
                break;
        }

        if (program_name && level <= LOG_WARNING)
                fprintf(stderr, "%s: %s\n", program_name, buf);
        else
                fprintf(stderr, "%s\n", buf);
        errno = saved;
        return -error;
}
