/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include "journal.h"
#include "log.h"
#include "string-util.h"
#include "strv.h"

static int journal_sink(int level, int error, const char *message_id, const char *file, int line,
                        const char *func, const LogContext *ctx, char * const *fields, const char *message) {
        _cleanup_strv_free_ char **items = calloc(1, sizeof(char *));
        struct iovec iov[32];
        size_t n = 0;
        int r;

        if (!items)
                return -ENOMEM;
#define ADD(...)                                                        \
        do {                                                            \
                char *_s_;                                              \
                if (asprintf_safe(&_s_, __VA_ARGS__) < 0 ||             \
                    strv_consume(&items, _s_) < 0)                      \
                        return -ENOMEM;                                 \
        } while (0)
        ADD("MESSAGE=%s", message);
        ADD("PRIORITY=%i", level);
        ADD("SYSLOG_IDENTIFIER=%s", program_invocation_short_name);
        if (message_id)
                ADD("MESSAGE_ID=%s", message_id);
        if (error > 0)
                ADD("ERRNO=%i", error);
        if (ctx->job)
                ADD("MHTEST_JOB=%s", ctx->job);
        if (ctx->host)
                ADD("MHTEST_HOST=%s", ctx->host);
        if (ctx->step)
                ADD("MHTEST_STEP=%s", ctx->step);
        if (ctx->guest)
                ADD("MHTEST_GUEST=%s", ctx->guest);
        ADD("CODE_FILE=%s", file);
        ADD("CODE_LINE=%i", line);
        ADD("CODE_FUNC=%s", func);
#undef ADD
        STRV_FOREACH(f, items)
                iov[n++] = (struct iovec) { .iov_base = *f, .iov_len = strlen(*f) };
        STRV_FOREACH(f, fields) {
                if (n >= ELEMENTSOF(iov))
                        break;
                iov[n++] = (struct iovec) { .iov_base = *f, .iov_len = strlen(*f) };
        }
        r = sd_journal_sendv(iov, (int) n);
        return r;
}

void log_setup(const char *program_name) {
        const char *e;

        log_set_program_name(program_name);
        log_set_journal_sink(journal_sink);
        e = getenv("MHTEST_LOG_LEVEL");
        if (e && log_level_from_string(e) >= 0)
                log_set_max_level(log_level_from_string(e));
        /* Tests pin the target so that nothing they run writes to the machine's kernel log. */
        e = getenv("MHTEST_LOG_TARGET");
        if (e && streq(e, "console"))
                log_set_target(LOG_TARGET_CONSOLE);
        else if (e && streq(e, "journal"))
                log_set_target(LOG_TARGET_JOURNAL);
}
