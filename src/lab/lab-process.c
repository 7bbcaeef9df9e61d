/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The lab's processes: the helper programs it runs, the cgroup subtree of every host, and the
 * identity of the processes it starts and must stop again. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include "fileio.h"
#include "lab-internal.h"
#include "log.h"
#include "parse-util.h"
#include "process-util.h"
#include "string-util.h"
#include "strv.h"

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

