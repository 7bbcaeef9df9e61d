/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include "process-util.h"
#include "string-util.h"

int spawn_async(char * const *argv, int stdin_fd, int stdout_fd, int stderr_fd, pid_t *ret_pid) {
        pid_t pid;

        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                sigset_t ss;

                sigemptyset(&ss);
                sigprocmask(SIG_SETMASK, &ss, NULL);
                signal(SIGPIPE, SIG_DFL);
                if (stdin_fd >= 0 && dup2(stdin_fd, STDIN_FILENO) < 0)
                        _exit(127);
                if (stdout_fd >= 0 && dup2(stdout_fd, STDOUT_FILENO) < 0)
                        _exit(127);
                if (stderr_fd >= 0 && dup2(stderr_fd, STDERR_FILENO) < 0)
                        _exit(127);
                execvp(argv[0], argv);
                fprintf(stderr, "Failed to execute %s: %m\n", argv[0]);
                _exit(127);
        }
        *ret_pid = pid;
        return 0;
}

int wait_for_exit(pid_t pid) {
        int status;

        for (;;) {
                if (waitpid(pid, &status, 0) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                break;
        }
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return -EPROTO;
}

int spawn_wait(char * const *argv) {
        pid_t pid;
        int r;

        r = spawn_async(argv, -1, -1, -1, &pid);
        if (r < 0)
                return r;
        return wait_for_exit(pid);
}

static int capture(char * const *argv, bool with_stderr, char **ret_stdout) {
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, allocated = 0;
        int pipefd[2], r;
        pid_t pid;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        r = spawn_async(argv, -1, pipefd[1], with_stderr ? pipefd[1] : -1, &pid);
        close(pipefd[1]);
        if (r < 0) {
                close(pipefd[0]);
                return r;
        }
        for (;;) {
                ssize_t k;
                if (n + 4097 > allocated) {
                        char *b;
                        allocated = MAX(allocated * 2, n + 4097);
                        b = realloc(buf, allocated);
                        if (!b) {
                                close(pipefd[0]);
                                (void) wait_for_exit(pid);
                                return -ENOMEM;
                        }
                        buf = b;
                }
                k = read(pipefd[0], buf + n, allocated - n - 1);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                n += k;
        }
        close(pipefd[0]);
        if (!buf && !(buf = malloc(1)))
                return -ENOMEM;
        buf[n] = 0;
        r = wait_for_exit(pid);
        if (ret_stdout)
                *ret_stdout = TAKE_PTR(buf);
        return r;
}

int spawn_capture(char * const *argv, char **ret_stdout) {
        return capture(argv, false, ret_stdout);
}

int spawn_capture_all(char * const *argv, char **ret_output) {
        return capture(argv, true, ret_output);
}

int find_executable(const char *name, char **ret) {
        const char *path = getenv("PATH") ?: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        _cleanup_free_ char *copy = NULL;
        char *state = NULL;

        if (strchr(name, '/')) {
                if (access(name, X_OK) < 0)
                        return -errno;
                *ret = strdup(name);
                return *ret ? 0 : -ENOMEM;
        }
        copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        for (char *d = strtok_r(copy, ":", &state); d; d = strtok_r(NULL, ":", &state)) {
                _cleanup_free_ char *p = strjoin(d, "/", name);
                if (!p)
                        return -ENOMEM;
                if (access(p, X_OK) == 0) {
                        *ret = TAKE_PTR(p);
                        return 0;
                }
        }
        return -ENOENT;
}
