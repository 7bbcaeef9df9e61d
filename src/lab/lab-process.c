/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The lab's processes: the helper programs it runs, the cgroup subtree of every host, and the
 * identity of the processes it starts and must stop again. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
#include "fileio.h"
#include "lab-internal.h"
#include "log.h"
#include "parse-util.h"
#include "process-util.h"
#include "string-util.h"
#include "strv.h"
#include "time-util.h"

int lab_devnull_fd(void) {
        return RET_NERRNO(open("/dev/null", O_RDWR | O_CLOEXEC));
}

int lab_run_quiet(char * const *argv) {
        _cleanup_close_ int null = lab_devnull_fd();
        _cleanup_free_ char *out = NULL, *cmd = strv_join(argv, " ");
        int pipefd[2], r;
        pid_t pid;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        r = spawn_async(argv, null, pipefd[1], pipefd[1], &pid);
        close(pipefd[1]);
        if (r < 0) {
                close(pipefd[0]);
                return log_error_errno(r, "Failed to run %s: %m", argv[0]);
        }
        {
                _cleanup_fclose_ FILE *f = fdopen(pipefd[0], "re");
                size_t n = 0;
                if (f)
                        (void) getdelim(&out, &n, '\0', f);
                else
                        close(pipefd[0]);
        }
        r = wait_for_exit(pid);
        if (r != 0) {
                log_error("\"%s\" failed (exit status %d):\n%s", strna(cmd), r, strempty(out));
                return -EIO;
        }
        return 0;
}

bool lab_pid_is(pid_t pid, const char *comm) {
        _cleanup_free_ char *p = NULL, *c = NULL;

        if (pid <= 0 || asprintf_safe(&p, "/proc/%d/comm", (int) pid) < 0)
                return false;
        if (read_one_line_file(p, &c) < 0)
                return false;
        return !comm || streq(c, comm);
}

/* ---- cgroups: each host gets its own subtree, or every --keep-unit container would share the
 * invoking process's cgroup and one host's systemd could kill another's units. ---- */

int lab_cgroup_roots(char ***ret) {
        if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) >= 0)
                *ret = strv_new("/sys/fs/cgroup"); /* unified */
        else if (access("/sys/fs/cgroup/unified/cgroup.procs", F_OK) >= 0)
                *ret = strv_new("/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"); /* hybrid */
        else
                *ret = strv_new("/sys/fs/cgroup/systemd"); /* legacy */
        return *ret ? 0 : -ENOMEM;
}

char *lab_host_cgroup(const char *root, const LabHost *h) {
        return strjoin(root, "/mhtest-lab-", h->name);
}

int lab_cgroup_enter(const LabHost *h) {
        _cleanup_strv_free_ char **roots = NULL;
        int r, ret = 0;

        r = lab_cgroup_roots(&roots);
        if (r < 0)
                return r;
        STRV_FOREACH(c, roots) {
                _cleanup_free_ char *cg = lab_host_cgroup(*c, h), *procs = NULL;
                if (!cg || !(procs = strjoin(cg, "/cgroup.procs")))
                        return -ENOMEM;
                r = write_string_file(procs, "0");
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}

void lab_cgroup_kill(const char *path, int sig) {
        _cleanup_closedir_ DIR *d = opendir(path);
        _cleanup_free_ char *procs = strjoin(path, "/cgroup.procs"), *content = NULL;
        struct dirent *de;

        if (!d)
                return;
        if (procs && read_full_file(procs, &content, NULL) >= 0)
                for (char *w = strtok(content, "\n"); w; w = strtok(NULL, "\n")) {
                        unsigned v;
                        if (parse_unsigned(w, &v) >= 0 && v > 1)
                                (void) kill((pid_t) v, sig);
                }
        while ((de = readdir(d)))
                if (de->d_type == DT_DIR && !streq(de->d_name, ".") && !streq(de->d_name, "..")) {
                        _cleanup_free_ char *sub = strjoin(path, "/", de->d_name);
                        if (sub)
                                lab_cgroup_kill(sub, sig);
                }
}

/* Children first: a cgroup directory goes only when it has none. */
int lab_cgroup_remove(const char *path) {
        _cleanup_closedir_ DIR *d = opendir(path);
        struct dirent *de;

        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d)))
                if (de->d_type == DT_DIR && !streq(de->d_name, ".") && !streq(de->d_name, "..")) {
                        _cleanup_free_ char *sub = strjoin(path, "/", de->d_name);
                        if (sub)
                                (void) lab_cgroup_remove(sub);
                }
        return rmdir(path) < 0 && errno != ENOENT ? -errno : 0;
}

/* ---- identity and the end of the lab's processes ---- */

typedef struct ProcStat {
        char comm[64];
        char state;
        pid_t ppid;
        uint64_t start; /* clock ticks after boot */
} ProcStat;

static int proc_stat(pid_t pid, ProcStat *ret) {
        _cleanup_free_ char *p = NULL, *s = NULL;
        const char *open_paren, *close_paren;
        unsigned long long start;
        int ppid, n;
        char state;

        if (pid <= 0)
                return -ESRCH;
        if (asprintf_safe(&p, "/proc/%d/stat", (int) pid) < 0)
                return -ENOMEM;
        if (read_one_line_file(p, &s) < 0)
                return -ESRCH;
        /* "PID (COMM) STATE PPID ..." where COMM may hold anything, ")" included */
        open_paren = strchr(s, '(');
        close_paren = strrchr(s, ')');
        if (!open_paren || !close_paren || close_paren < open_paren)
                return -EBADMSG;
        /* fields 3 (state), 4 (ppid), then 5-21 skipped, 22 (starttime) */
        n = sscanf(close_paren + 1,
                   " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                   &state, &ppid, &start);
        if (n != 3)
                return -EBADMSG;
        *ret = (ProcStat) { .state = state, .ppid = ppid, .start = start };
        snprintf(ret->comm, sizeof ret->comm, "%.*s", (int) (close_paren - open_paren - 1), open_paren + 1);
        return 0;
}

/* A zombie (or one on its way out): it has exited, its parent has not reaped it yet. */
static bool proc_exited(const ProcStat *st) {
        return st->state == 'Z' || st->state == 'X';
}

int lab_pid_start_time(pid_t pid, uint64_t *ret) {
        ProcStat st;
        int r;

        r = proc_stat(pid, &st);
        if (r < 0)
                return r;
        *ret = st.start;
        return 0;
}

/* The process the lab recorded still has an entry in /proc: same start time, or where none was
 * recorded, a command name starting with comm. A zombie counts: it exists until reaped. */
static bool pid_recorded_exists(pid_t pid, uint64_t start, const char *comm, ProcStat *ret) {
        ProcStat st;

        if (pid <= 0 || proc_stat(pid, &st) < 0)
                return false;
        if (start > 0 ? st.start != start : !startswith(st.comm, comm))
                return false;
        if (ret)
                *ret = st;
        return true;
}

bool lab_host_process_running(const LabHost *h, const char *comm) {
        ProcStat st;

        /* Reap it if it is our own child ("up" failing half way): nobody else will. */
        if (h->pid > 0)
                (void) waitpid(h->pid, NULL, WNOHANG);
        return pid_recorded_exists(h->pid, h->pid_start, comm, &st) && !proc_exited(&st);
}

/* Which host's cgroup a line of /proc/PID/cgroup ("ID:CONTROLLERS:/PATH") names, if any. The
 * unified hierarchy keeps naming it for a zombie, which the cgroup itself no longer lists. */
static ssize_t cgroup_line_host(const Lab *l, const char *line) {
        const char *path = strchr(line, ':');

        if (!path || !(path = strchr(path + 1, ':')))
                return -1;
        path++;
        for (size_t i = 0; i < l->n_hosts; i++) {
                size_t n = strlen("/mhtest-lab-") + strlen(l->hosts[i].name);
                if (startswith(path, "/mhtest-lab-") && strncmp(path + strlen("/mhtest-lab-"), l->hosts[i].name,
                                                                 strlen(l->hosts[i].name)) == 0 &&
                    (path[n] == '\0' || path[n] == '/' || path[n] == ' '))
                        return (ssize_t) i;
        }
        return -1;
}

typedef struct Leftover {
        pid_t pid;
        size_t host;
        ProcStat stat;
} Leftover;

static int leftover_add(Leftover **list, size_t *n, pid_t pid, size_t host, const ProcStat *st) {
        Leftover *a;

        for (size_t i = 0; i < *n; i++)
                if ((*list)[i].pid == pid)
                        return 0;
        a = reallocarray(*list, *n + 1, sizeof(Leftover));
        if (!a)
                return -ENOMEM;
        a[(*n)++] = (Leftover) { .pid = pid, .host = host, .stat = *st };
        *list = a;
        return 0;
}

/* Every process of the lab that still has an entry in /proc: what runs in (or, as a zombie,
 * still names) a host's cgroup, and the recorded process of every host. */
static int lab_leftovers(const Lab *l, const char *comm, Leftover **ret, size_t *ret_n) {
        _cleanup_free_ Leftover *list = NULL;
        _cleanup_closedir_ DIR *d = opendir("/proc");
        struct dirent *de;
        size_t n = 0;
        int r;

        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                _cleanup_free_ char *p = NULL, *content = NULL;
                unsigned v;
                ProcStat st;

                if (parse_unsigned(de->d_name, &v) < 0 || (pid_t) v == getpid())
                        continue;
                if (asprintf_safe(&p, "/proc/%u/cgroup", v) < 0)
                        return -ENOMEM;
                if (read_full_file(p, &content, NULL) < 0)
                        continue; /* gone meanwhile */
                for (char *line = strtok(content, "\n"); line; line = strtok(NULL, "\n")) {
                        ssize_t host = cgroup_line_host(l, line);
                        if (host < 0)
                                continue;
                        if (proc_stat((pid_t) v, &st) >= 0) {
                                r = leftover_add(&list, &n, (pid_t) v, (size_t) host, &st);
                                if (r < 0)
                                        return r;
                        }
                        break;
                }
        }
        for (size_t i = 0; i < l->n_hosts; i++) {
                ProcStat st;
                if (pid_recorded_exists(l->hosts[i].pid, l->hosts[i].pid_start, comm, &st)) {
                        r = leftover_add(&list, &n, l->hosts[i].pid, i, &st);
                        if (r < 0)
                                return r;
                }
        }
        *ret = TAKE_PTR(list);
        *ret_n = n;
        return 0;
}

int lab_wait_processes_gone(const Lab *l, const char *comm, uint64_t timeout_usec) {
        uint64_t deadline = now_usec() + timeout_usec;
        bool killed = false;
        int r;

        for (;;) {
                _cleanup_free_ Leftover *left = NULL;
                size_t n = 0, running = 0;

                for (size_t i = 0; i < l->n_hosts; i++)
                        if (l->hosts[i].pid > 0)
                                (void) waitpid(l->hosts[i].pid, NULL, WNOHANG);
                r = lab_leftovers(l, comm, &left, &n);
                if (r < 0)
                        return log_error_errno(r, "Failed to list the processes of lab %s: %m", l->name);
                if (n == 0)
                        return 0;
                if (now_usec() < deadline) {
                        sleep_usec(50 * USEC_PER_MSEC);
                        continue;
                }
                for (size_t i = 0; i < n; i++)
                        if (!proc_exited(&left[i].stat))
                                running++;
                if (running > 0 && !killed) {
                        /* Only what is in the lab's own cgroups or is a recorded process with its
                         * start time checked: nothing else is ours to kill. */
                        for (size_t i = 0; i < n; i++)
                                if (!proc_exited(&left[i].stat)) {
                                        log_warning("Lab %s: PID %d (%s) of %s still runs after %.0f s, killing it.",
                                                    l->name, (int) left[i].pid, left[i].stat.comm,
                                                    l->hosts[left[i].host].name, (double) timeout_usec / USEC_PER_SEC);
                                        (void) kill(left[i].pid, SIGKILL);
                                }
                        killed = true;
                        deadline = now_usec() + LAB_REAP_AFTER_KILL_USEC;
                        continue;
                }
                for (size_t i = 0; i < n; i++) {
                        const Leftover *o = &left[i];
                        ProcStat parent = {};

                        if (proc_exited(&o->stat)) {
                                (void) proc_stat(o->stat.ppid, &parent);
                                log_warning("Lab %s: PID %d (%s) of %s has exited but is not reaped: its parent, "
                                            "PID %d (%s), has not collected it.",
                                            l->name, (int) o->pid, o->stat.comm, l->hosts[o->host].name,
                                            (int) o->stat.ppid, parent.comm[0] ? parent.comm : "?");
                        } else
                                log_warning("Lab %s: PID %d (%s) of %s still runs after SIGKILL (state %c).", l->name,
                                            (int) o->pid, o->stat.comm, l->hosts[o->host].name, o->stat.state);
                }
                return -EBUSY;
        }
}
