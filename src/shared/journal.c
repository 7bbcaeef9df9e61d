/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
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
        /* Events reach the journal whenever journald listens, not only under systemd: a tool
         * run from a shell is in "journalctl MESSAGE_ID=..." too (console output unchanged). */
        log_set_journal_events(true);
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

/* journalctl --sync: journald's varlink method Synchronize returns once everything it received
 * before the call is written, so a reader then sees the last words of a process that just
 * exited. One request, one reply, each ended by a NUL byte. */
int journal_sync(uint64_t timeout_usec) {
        static const char request[] = "{\"method\":\"io.systemd.Journal.Synchronize\",\"parameters\":{}}";
        struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = "/run/systemd/journal/io.systemd.journal" };
        _cleanup_close_ int fd = -EBADF;
        char reply[512];
        size_t n = 0;
        int timeout_ms = timeout_usec / 1000 > INT_MAX ? INT_MAX : (int) (timeout_usec / 1000);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        if (send(fd, request, sizeof(request), MSG_NOSIGNAL) != (ssize_t) sizeof(request))
                return -EIO;
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t k;
                int r;

                r = poll(&p, 1, timeout_ms);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        return -ETIMEDOUT;
                k = recv(fd, reply + n, sizeof(reply) - 1 - n, 0);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -ECONNRESET;
                n += (size_t) k;
                if (memchr(reply, 0, n))
                        break;
                if (n >= sizeof(reply) - 1)
                        return -EBADMSG;
        }
        /* A reply without "error" is the method's (empty) return value. */
        return strstr(reply, "\"error\"") ? -EIO : 0;
}

static int journal_field(sd_journal *j, const char *field, char **ret) {
        const void *data;
        size_t l, k = strlen(field);
        int r;

        r = sd_journal_get_data(j, field, &data, &l);
        if (r < 0)
                return r;
        if (l <= k || ((const char *) data)[k] != '=')
                return -EBADMSG;
        *ret = strndup((const char *) data + k + 1, l - k - 1);
        return *ret ? 0 : -ENOMEM;
}

int journal_unit_tail(const char *unit, const char *invocation_id, unsigned n, char ***ret) {
        _cleanup_(sd_journal_closep) sd_journal *j = NULL;
        _cleanup_strv_free_ char **lines = calloc(1, sizeof(char *));
        _cleanup_free_ char *m1 = strjoin("_SYSTEMD_UNIT=", unit), *m2 = strjoin("UNIT=", unit),
                            *i1 = NULL, *i2 = NULL;
        unsigned got = 0;
        int r;

        if (!lines || !m1 || !m2)
                return -ENOMEM;
        if (!isempty(invocation_id)) {
                i1 = strjoin("_SYSTEMD_INVOCATION_ID=", invocation_id);
                i2 = strjoin("INVOCATION_ID=", invocation_id);
                if (!i1 || !i2)
                        return -ENOMEM;
        }
        r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM);
        if (r < 0)
                return r;
        /* What the unit's processes logged, or what systemd logged about the unit (UNIT=, as
         * journalctl -u does), of this run of it only. */
        r = sd_journal_add_match(j, m1, 0);
        if (r >= 0 && i1)
                r = sd_journal_add_match(j, i1, 0);
        if (r >= 0)
                r = sd_journal_add_disjunction(j);
        if (r >= 0)
                r = sd_journal_add_match(j, m2, 0);
        if (r >= 0 && i2)
                r = sd_journal_add_match(j, i2, 0);
        if (r < 0)
                return r;
        r = sd_journal_seek_tail(j);
        if (r < 0)
                return r;
        while (got < n && (r = sd_journal_previous(j)) > 0) {
                _cleanup_free_ char *msg = NULL, *ident = NULL, *line = NULL;
                uint64_t t = 0;
                struct tm tm;
                time_t s;
                char ts[16] = "";

                if (journal_field(j, "MESSAGE", &msg) < 0)
                        continue;
                if (journal_field(j, "SYSLOG_IDENTIFIER", &ident) < 0)
                        ident = NULL;
                if (sd_journal_get_realtime_usec(j, &t) >= 0) {
                        s = (time_t) (t / 1000000);
                        if (localtime_r(&s, &tm))
                                (void) strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
                }
                if (asprintf_safe(&line, "%s%s%s%s%s", ts, *ts ? " " : "", strempty(ident), ident ? ": " : "",
                                  msg) < 0)
                        return -ENOMEM;
                r = strv_consume(&lines, TAKE_PTR(line));
                if (r < 0)
                        return r;
                got++;
        }
        if (r < 0)
                return r;
        for (unsigned a = 0, b = got; a + 1 < b; a++, b--) { /* newest first: reverse */
                char *t = lines[a];
                lines[a] = lines[b - 1];
                lines[b - 1] = t;
        }
        *ret = TAKE_PTR(lines);
        return (int) got;
}
