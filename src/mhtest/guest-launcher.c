/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* [Guest] Launcher=: a guest run by a command line (a qemu-system-* invocation, say) instead of
 * libvirt, still supervised as the main of mhtest-guest@JOB:GUEST.service. The command is this
 * process's child, spawned with its argv (no shell). Its standard output and error are the
 * guest's console: copied to the console log, where the ready marker is looked for as on a
 * libvirt guest's serial log. Its exit status becomes the unit's result; SIGTERM stops it with
 * SIGTERM, then SIGKILL after LAUNCHER_STOP_TIMEOUT_USEC. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "fileio.h"
#include "guest-instance.h"
#include "log.h"
#include "message-ids.h"
#include "mhtest.h"
#include "process-util.h"
#include "string-util.h"
#include "strv.h"
#include "time-util.h"

#define LAUNCHER_STOP_TIMEOUT_USEC (30 * USEC_PER_SEC)
#define LAUNCHER_WATCHDOG_USEC (5 * USEC_PER_SEC)

typedef struct Launcher {
        const char *guest; /* the instance name, for messages */
        const char *marker;
        char *log_path;
        int log_fd;
        int out_fd; /* read end of the command's stdout/stderr, -1 at EOF */
        int sig_fd;
        pid_t pid;
        int status; /* wait_for_exit()-style, valid once exited */
        bool exited;
        bool ready;
        char *window; /* the last strlen(marker)-1 bytes, so that a marker split across reads is found */
        size_t n_window;
} Launcher;

static int safe_close(int fd) {
        if (fd >= 0)
                (void) close(fd);
        return -EBADF;
}

static void launcher_done(Launcher *l) {
        if (l->pid > 0 && !l->exited) {
                (void) kill(l->pid, SIGKILL);
                (void) wait_for_exit(l->pid);
        }
        safe_close(l->log_fd);
        safe_close(l->out_fd);
        safe_close(l->sig_fd);
        free(l->log_path);
        free(l->window);
}

/* Copy what the command wrote to the console log; look for the marker. -EPIPE at EOF. */
static int launcher_read(Launcher *l) {
        char buf[4096];
        ssize_t n = read(l->out_fd, buf, sizeof buf);

        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        if (n == 0) {
                l->out_fd = safe_close(l->out_fd);
                return -EPIPE;
        }
        if (write(l->log_fd, buf, n) != n)
                log_warning("Guest %s: failed to write its console log %s, ignoring.", l->guest, l->log_path);
        if (!l->ready && l->marker) {
                size_t m = strlen(l->marker), total = l->n_window + n;
                char *w = malloc(total);

                if (!w)
                        return -ENOMEM;
                memcpy(w, l->window, l->n_window);
                memcpy(w + l->n_window, buf, n);
                if (memmem(w, total, l->marker, m))
                        l->ready = true;
                l->n_window = MIN(total, m - 1);
                memmove(w, w + total - l->n_window, l->n_window);
                free(l->window);
                l->window = w;
        }
        return 0;
}

/* Handle the signals that arrived: the child's exit, or a stop request (returns 1). */
static int launcher_signals(Launcher *l) {
        struct signalfd_siginfo si;
        bool stop = false;

        while (read(l->sig_fd, &si, sizeof si) == sizeof si)
                if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
                        stop = true;
        if (!l->exited) {
                int st;
                pid_t p = waitpid(l->pid, &st, WNOHANG);

                if (p == l->pid) {
                        l->exited = true;
                        l->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                }
        }
        return stop;
}

/* Wait for I/O or signals up to timeout_usec. Returns 1 on a stop request. */
static int launcher_poll(Launcher *l, uint64_t timeout_usec) {
        struct pollfd p[2] = { { .fd = l->sig_fd, .events = POLLIN }, { .fd = l->out_fd, .events = POLLIN } };
        int r;

        r = poll(p, l->out_fd >= 0 ? 2 : 1, (int) MIN(timeout_usec / USEC_PER_MSEC, (uint64_t) INT32_MAX));
        if (r < 0)
                return errno == EINTR ? 0 : -errno;
        if (l->out_fd >= 0 && (p[1].revents & (POLLIN | POLLHUP))) {
                r = launcher_read(l);
                if (r < 0 && r != -EPIPE)
                        return r;
        }
        if (p[0].revents & POLLIN)
                return launcher_signals(l);
        return 0;
}

/* SIGTERM, then SIGKILL after the timeout; its output is still copied meanwhile. */
static void launcher_stop(Launcher *l) {
        uint64_t deadline = now_usec() + LAUNCHER_STOP_TIMEOUT_USEC;

        if (!l->exited)
                (void) kill(l->pid, SIGTERM);
        while (!l->exited) {
                uint64_t now = now_usec();

                if (now >= deadline) {
                        log_warning("Guest %s: its command (pid %d) did not exit within %llu s of SIGTERM, killing it.",
                                    l->guest, (int) l->pid,
                                    (unsigned long long) (LAUNCHER_STOP_TIMEOUT_USEC / USEC_PER_SEC));
                        (void) kill(l->pid, SIGKILL);
                        l->status = wait_for_exit(l->pid);
                        l->exited = true;
                        break;
                }
                if (launcher_poll(l, deadline - now) < 0)
                        (void) launcher_signals(l);
        }
        while (l->out_fd >= 0 && launcher_read(l) >= 0)
                ;
}

static void launcher_tail(Launcher *l, char **ret) {
        (void) fsync(l->log_fd);
        (void) read_file_tail(l->log_path, 15, ret);
}

int guest_launcher_run(const JobConfig *j, const GuestSection *g, unsigned index) {
        _cleanup_(launcher_done) Launcher l = { .log_fd = -EBADF, .out_fd = -EBADF, .sig_fd = -EBADF };
        _cleanup_free_ char *inst = NULL, *cmdline = NULL, *tail = NULL;
        _cleanup_close_ int null_fd = -EBADF;
        int pipefd[2], r;
        uint64_t deadline, last_watchdog = 0;
        sigset_t mask;

        if (guest_instance_name(g, index, &inst) < 0 || guest_console_log_path(j->name, g, index, &l.log_path) < 0)
                return log_oom();
        l.guest = inst;
        l.marker = g->ready_marker ?: g->prompt;
        cmdline = strv_join(g->launcher, " ");
        if (!cmdline)
                return log_oom();

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGCHLD);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        l.sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (l.sig_fd < 0)
                return log_error_errno(-errno, "Failed to create signalfd: %m");

        /* a fresh console log, so that an old ready marker does not count */
        r = mkdir_parents(l.log_path, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create the directory of %s: %m", l.log_path);
        l.log_fd = open(l.log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
        if (l.log_fd < 0)
                return log_error_errno(-errno, "Failed to open the console log %s: %m", l.log_path);
        null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (null_fd < 0)
                return log_error_errno(-errno, "Failed to open /dev/null: %m");
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return log_error_errno(-errno, "Failed to create a pipe: %m");
        r = spawn_async(g->launcher, null_fd, pipefd[1], pipefd[1], &l.pid);
        safe_close(pipefd[1]);
        l.out_fd = pipefd[0];
        if (r < 0)
                return log_event(LOG_ERR, -r, MHTEST_MESSAGE_GUEST_FAILED, NULL,
                                 "Failed to start guest %s (Launcher=%s): %s", inst, cmdline, strerror(-r));
        (void) fcntl(l.out_fd, F_SETFL, O_NONBLOCK);
        log_event(LOG_INFO, 0, MHTEST_MESSAGE_GUEST_STARTED, NULL, "Started guest %s: Launcher=%s (pid %d).", inst,
                  cmdline, (int) l.pid);

        deadline = now_usec() + g->ready_timeout_usec;
        if (l.marker)
                (void) sd_notifyf(false, "STATUS=Waiting for \"%s\" on the output of guest %s", l.marker, inst);
        else
                l.ready = true;

        while (!l.ready) {
                uint64_t now = now_usec();

                if (l.exited || now >= deadline) {
                        bool timed_out = !l.exited;

                        launcher_stop(&l);
                        launcher_tail(&l, &tail);
                        return log_event(LOG_ERR, timed_out ? ETIMEDOUT : EIO, MHTEST_MESSAGE_GUEST_FAILED, NULL,
                                         "Guest %s %s \"%s\" on its output (%s)%s. Its last lines:\n%s",
                                         inst, timed_out ? "did not print" : "exited without printing", l.marker,
                                         l.log_path, timed_out ? " within its ReadyTimeoutSec=" : "",
                                         isempty(tail) ? "(nothing)" : tail);
                }
                r = launcher_poll(&l, MIN(deadline - now, LAUNCHER_WATCHDOG_USEC));
                if (r < 0)
                        return log_error_errno(r, "Guest %s: failed to watch its command: %m", inst);
                if (r > 0) {
                        (void) sd_notify(false, "STOPPING=1");
                        launcher_stop(&l);
                        log_event(LOG_INFO, 0, MHTEST_MESSAGE_GUEST_STOPPED, NULL,
                                  "Guest %s stopped before it was ready (its command's exit status %d).", inst,
                                  l.status);
                        return 0;
                }
                if (l.exited) /* read what it wrote last before judging */
                        while (l.out_fd >= 0 && launcher_read(&l) >= 0 && !l.ready)
                                ;
        }
        log_event(LOG_INFO, 0, MHTEST_MESSAGE_GUEST_READY, NULL, "Guest %s is ready.", inst);
        (void) sd_notifyf(false, "READY=1\nSTATUS=Guest %s running (Launcher=, pid %d)", inst, (int) l.pid);

        while (!l.exited) {
                uint64_t now = now_usec();

                if (now - last_watchdog >= LAUNCHER_WATCHDOG_USEC) {
                        (void) sd_notify(false, "WATCHDOG=1");
                        last_watchdog = now;
                }
                r = launcher_poll(&l, LAUNCHER_WATCHDOG_USEC);
                if (r < 0)
                        return log_error_errno(r, "Guest %s: failed to watch its command: %m", inst);
                if (r > 0) {
                        (void) sd_notify(false, "STOPPING=1");
                        launcher_stop(&l);
                        log_event(LOG_INFO, 0, MHTEST_MESSAGE_GUEST_STOPPED, NULL,
                                  "Guest %s stopped (its command's exit status %d).", inst, l.status);
                        return 0;
                }
        }
        while (l.out_fd >= 0 && launcher_read(&l) >= 0)
                ;
        if (l.status == 0) {
                log_event(LOG_INFO, 0, MHTEST_MESSAGE_GUEST_STOPPED, NULL,
                          "Guest %s: its command exited with status 0.", inst);
                return 0;
        }
        launcher_tail(&l, &tail);
        log_event(LOG_ERR, EIO, MHTEST_MESSAGE_GUEST_FAILED, NULL, "Guest %s: its command %s %d. Its last lines:\n%s",
                  inst, l.status > 128 ? "was killed by signal" : "exited with status",
                  l.status > 128 ? l.status - 128 : l.status, isempty(tail) ? "(nothing)" : tail);
        return l.status;
}
