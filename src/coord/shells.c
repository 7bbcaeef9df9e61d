/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <libvirt/libvirt.h>
#include "fileio.h"
#include "guest-instance.h"
#include "lava.h"
#include "log.h"
#include "message-ids.h"
#include "process-util.h"
#include "remote.h"
#include "report.h"
#include "schedule.h"
#include "shells.h"
#include "string-util.h"
#include "strv.h"
#include "time-util.h"
#include "virt-util.h"

#define SHELL_TAIL_LINES 20U
/* after TimeoutSec= systemd stops the unit (RuntimeMaxSec=); the controller waits this long more
 * for systemd-run to report it before it ends the SSH connection itself */
#define SHELL_GRACE_USEC (30 * USEC_PER_SEC)
#define JOIN_TIMEOUT_USEC (120 * USEC_PER_SEC)
#define DEFAULT_LAVA_SCRIPTS "/usr/lib/python3/dist-packages/lava_dispatcher/lava_test_shell"
/* a guest shell waits this long at most for the guest's sshd (cloud-init may still be running
 * when the guest's ReadyMarker= appeared), within TimeoutSec= */
#define GUEST_SSH_WAIT_USEC (300 * USEC_PER_SEC)
#define GUEST_SSH_RETRY_USEC (2 * USEC_PER_SEC)

typedef struct ShellCase {
        char *name;
        bool pass;
} ShellCase;

typedef enum ShellState { SHELL_PENDING, SHELL_RUNNING, SHELL_DONE } ShellState;

/* a mhtest-migrated-NAME message as sent, for the groups of After= tests that start later */
typedef struct ShellMessage {
        char *id;
        char **pairs;
} ShellMessage;

typedef struct Shell {
        ShellRun *run;
        const TestSection *test;
        char *target; /* the host, or the guest instance (GUEST or GUEST-N) */
        bool guest;
        const GuestSection *guest_section;
        unsigned guest_index;
        RemoteHost remote; /* the host; for a guest, the host it runs on when the shell starts */
        bool have_remote;
        char **ssh;        /* "ssh ... -- user@target": the remote command follows */
        bool guest_scripts; /* LAVA's scripts were copied into the guest */
        char *client_name;
        char *role;
        char *unit;
        char *group_name;
        unsigned group_size;
        LavaClient lava;
        pthread_t thread;
        pid_t pid; /* ssh, under run->lock */
        ShellState state;
        bool thread_started;
        int exit_status;
        bool timed_out;
        char *systemd_result;
        char *error;
        char *tail[SHELL_TAIL_LINES];
        size_t n_lines;
        ShellCase *cases;
        size_t n_cases;
        uint64_t begin_usec, end_usec;
        bool passed;
} Shell;

struct ShellRun {
        const Config *c;
        const JobConfig *j;
        ShellOptions o;
        LavaCoordinator coordinator;
        bool have_coordinator;
        char *group_name;
        char *remote_dir; /* on hosts */
        char *guest_dir;  /* in guests: /run may be noexec there (Debian's initramfs mounts it so) */
        char *staging; /* the scripts as LAVA's overlay writes them */
        char **installed; /* hosts that got the scripts */
        Shell *shells;
        size_t n_shells;
        LavaClient self;
        char self_hostname[256];
        bool self_registered;
        char **migrations_ended; /* [Migration] sections all of whose steps have ended */
        ShellMessage *messages;  /* under lock */
        size_t n_messages;
        char **self_groups; /* After= groups mhtest-coord has joined, under lock */
        bool launched;
        bool cancel;
        pthread_mutex_t lock;
        pthread_cond_t cond;
};

static bool shell_in_first_group(const Shell *s) {
        return strv_length(s->test->after) == 0;
}

static int shell_add(ShellRun *r, const TestSection *t, const char *target, const GuestSection *g, unsigned index) {
        Shell *n = realloc(r->shells, sizeof(Shell) * (r->n_shells + 1)), *s;
        const char *role = g ? g->role : NULL;

        if (!n)
                return -ENOMEM;
        r->shells = n;
        s = &r->shells[r->n_shells++];
        *s = (Shell) { .run = r, .test = t, .guest = !!g, .guest_section = g, .guest_index = index,
                       .exit_status = -1 };
        if (!(s->target = strdup(target)) || asprintf_safe(&s->client_name, "%s@%s", t->section.name, target) < 0 ||
            !(s->role = strdup(t->role ?: role ?: t->section.name)) ||
            asprintf_safe(&s->unit, "mhtest-test-%s-%s.service", r->j->name, t->section.name) < 0)
                return -ENOMEM;
        return 0;
}

static int shells_build(ShellRun *r) {
        const JobConfig *j = r->j;
        int k;

        for (size_t i = 0; i < j->n_tests; i++) {
                const TestSection *t = j->tests[i];

                STRV_FOREACH(h, t->hosts)
                        if ((k = shell_add(r, t, *h, NULL, 0)) < 0)
                                return k;
                /* Guest=NAME: every instance of [Guest NAME]; Guest=NAME-N: that instance; Role=
                 * alone: every instance of every guest of that role */
                for (size_t g = 0; g < j->n_guests; g++) {
                        const GuestSection *gs = j->guests[g];
                        bool by_role = t->role && strv_length(t->hosts) == 0 && strv_length(t->guests) == 0 &&
                                       streq_ptr(gs->role, t->role);

                        for (unsigned n = 0; n < MAX(gs->count, 1U); n++) {
                                _cleanup_free_ char *inst = NULL;

                                if (guest_instance_name(gs, n, &inst) < 0)
                                        return -ENOMEM;
                                if ((by_role || strv_contains(t->guests, gs->section.name) ||
                                     strv_contains(t->guests, inst)) &&
                                    (k = shell_add(r, t, inst, gs, n)) < 0)
                                        return k;
                        }
                }
        }
        /* the groups: the shells that start together; an After= test's shells form their own */
        for (size_t i = 0; i < r->n_shells; i++) {
                Shell *s = &r->shells[i];
                unsigned n = 0;

                for (size_t k2 = 0; k2 < r->n_shells; k2++)
                        if (shell_in_first_group(s) ? shell_in_first_group(&r->shells[k2])
                                                    : r->shells[k2].test == s->test)
                                n++;
                s->group_size = n;
                if (shell_in_first_group(s))
                        s->group_name = strdup(r->group_name);
                else
                        (void) asprintf_safe(&s->group_name, "%s-%s", r->group_name, s->test->section.name);
                if (!s->group_name)
                        return -ENOMEM;
                s->lava = (LavaClient) { .coordinator = &r->coordinator, .group_name = s->group_name,
                                         .group_size = s->group_size, .client_name = s->client_name,
                                         .role = s->role, .hostname = s->target };
        }
        return 0;
}

/* LAVA_GROUP as LAVA's overlay writes it into lava-group: "\tCLIENT\tROLE\n" per member, with
 * the backslash escapes left for lava-group's printf. */
static int lava_group_string(const ShellRun *r, const Shell *self, char **ret) {
        _cleanup_free_ char *s = strdup("");

        if (!s)
                return -ENOMEM;
        for (size_t i = 0; i < r->n_shells; i++) {
                const Shell *x = &r->shells[i];
                char *n;
                if (!streq(x->group_name, self->group_name))
                        continue;
                if (asprintf_safe(&n, "%s\\t%s\\t%s\\n", s, x->client_name, x->role) < 0)
                        return -ENOMEM;
                free(s);
                s = n;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

static int ssh_run(char *const *ssh, const char *command);

static void shell_log(Shell *s, int level, const char *message_id, char **extra, const char *fmt, ...)
        _printf_(5, 6);
static void shell_log(Shell *s, int level, const char *message_id, char **extra, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL, *ft = NULL, *fh = NULL, *fu = NULL;
        _cleanup_strv_free_ char **fields = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (!msg || asprintf_safe(&ft, "MHTEST_TEST=%s", s->test->section.name) < 0 ||
            asprintf_safe(&fh, s->guest ? "MHTEST_GUEST=%s" : "MHTEST_HOST=%s", s->target) < 0 ||
            asprintf_safe(&fu, "UNIT=%s", s->unit) < 0 || !(fields = strv_new(ft, fh, fu)) ||
            strv_extend_strv(&fields, extra) < 0)
                return;
        log_event(level, 0, message_id, fields, "%s on %s: %s", s->test->section.name, s->target, msg);
}

static int shell_add_case(Shell *s, const char *name, bool pass) {
        ShellCase *n;
        char *d = strdup(name);

        if (!d)
                return -ENOMEM;
        pthread_mutex_lock(&s->run->lock);
        n = realloc(s->cases, sizeof(ShellCase) * (s->n_cases + 1));
        if (n) {
                s->cases = n;
                s->cases[s->n_cases++] = (ShellCase) { .name = d, .pass = pass };
        }
        pthread_mutex_unlock(&s->run->lock);
        if (!n)
                free(d);
        return n ? 0 : -ENOMEM;
}

static void shell_output_line(Shell *s, const char *line, bool is_stderr) {
        char *d = strdup(line);
        _cleanup_free_ char *name = NULL;
        bool pass;

        if (d) {
                free(s->tail[s->n_lines % SHELL_TAIL_LINES]);
                s->tail[s->n_lines % SHELL_TAIL_LINES] = d;
                s->n_lines++;
        }
        shell_log(s, LOG_INFO, MHTEST_MESSAGE_TEST_OUTPUT, STRV_MAKE(is_stderr ? "STREAM=stderr" : "STREAM=stdout"),
                  "%s", line);
        if (is_stderr) {
                /* systemd-run --wait says how the unit ended: "Finished with result: timeout" */
                const char *p = strstr(line, "Finished with result: ");
                if (p)
                        (void) free_and_strdup(&s->systemd_result, p + strlen("Finished with result: "));
                return;
        }
        if (lava_parse_testcase(line, &name, &pass) > 0)
                (void) shell_add_case(s, name, pass);
}

/* lava-start-vms and lava-wait-for-vms send lava_vm_start and lava_vm_stop: in a host shell
 * they also start and await the job's AutoStart=no guests on that host ("mhtest vms start|wait
 * JOB" over SSH) before the message goes to the group. */
static void shell_vms(Shell *s, const char *line) {
        static const struct {
                const char *marker, *verb, *testcase;
        } map[] = {
                { "<LAVA_MULTI_NODE> <LAVA_SEND lava_vm_start", "start", "mhtest-vms-start" },
                { "<LAVA_MULTI_NODE> <LAVA_SEND lava_vm_stop", "wait", "mhtest-vms-wait" },
        };
        _cleanup_free_ char *q = NULL, *cmd = NULL;

        if (s->guest)
                return;
        for (size_t i = 0; i < ELEMENTSOF(map); i++) {
                const char *p = strstr(line, map[i].marker);
                int r;

                if (!p || !strchr(" >", p[strlen(map[i].marker)]))
                        continue;
                q = shell_quote(s->run->j->name);
                if (!q || asprintf_safe(&cmd, "mhtest vms %s %s", map[i].verb, q) < 0)
                        return;
                r = ssh_run(s->ssh, cmd);
                shell_log(s, r == 0 ? LOG_INFO : LOG_ERR, MHTEST_MESSAGE_TEST_OUTPUT, STRV_MAKE("STREAM=mhtest-coord"),
                          "%s: exit status %d", cmd, r);
                (void) shell_add_case(s, map[i].testcase, r == 0);
                return;
        }
}

static void shell_handle_marker(Shell *s, const char *line, int stdin_fd, uint64_t deadline) {
        _cleanup_free_ char *reply = NULL, *api = NULL, *fc = NULL, *fr = NULL;
        bool ok;
        int r;

        shell_vms(s, line);

        r = lava_relay_line(&s->lava, line, deadline, &s->run->cancel, &reply, &api, &ok);
        if (r <= 0)
                return;
        (void) shell_add_case(s, api, ok);
        if (asprintf_safe(&fc, "MULTINODE_CALL=%s", api) >= 0 &&
            asprintf_safe(&fr, "MULTINODE_RESULT=%s", ok ? "pass" : "fail") >= 0)
                shell_log(s, ok ? LOG_INFO : LOG_WARNING, MHTEST_MESSAGE_TEST_MULTINODE, STRV_MAKE(fc, fr),
                          "%s %s", api, ok ? "answered" : "failed (nack or timed out)");
        if (reply && stdin_fd >= 0) {
                size_t n = strlen(reply), done = 0;
                while (done < n) {
                        ssize_t k = write(stdin_fd, reply + done, n - done);
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k <= 0)
                                break;
                        done += (size_t) k;
                }
        }
}

typedef struct LineBuffer {
        char *data;
        size_t size;
        bool eof;
} LineBuffer;

/* Read what fd has; hand every complete line (and the rest at EOF) to the shell. */
static void line_buffer_read(Shell *s, LineBuffer *b, int fd, bool is_stderr, int stdin_fd, uint64_t deadline) {
        char buf[4096];
        ssize_t k = read(fd, buf, sizeof(buf));
        char *nl, *n;

        if (k < 0 && (errno == EINTR || errno == EAGAIN))
                return;
        if (k <= 0)
                b->eof = true;
        else {
                n = realloc(b->data, b->size + (size_t) k + 1);
                if (!n) {
                        b->eof = true;
                        return;
                }
                b->data = n;
                memcpy(b->data + b->size, buf, (size_t) k);
                b->size += (size_t) k;
                b->data[b->size] = 0;
        }
        while (b->size > 0 && ((nl = memchr(b->data, '\n', b->size)) || b->eof)) {
                size_t len = nl ? (size_t) (nl - b->data) : b->size;
                _cleanup_free_ char *line = strndup(b->data, len);
                if (!line)
                        break;
                if (len > 0 && line[len - 1] == '\r')
                        line[len - 1] = 0;
                memmove(b->data, b->data + len + (nl ? 1 : 0), b->size - len - (nl ? 1 : 0));
                b->size -= len + (nl ? 1 : 0);
                shell_output_line(s, line, is_stderr);
                if (!is_stderr)
                        shell_handle_marker(s, line, stdin_fd, deadline);
        }
}

/* where LAVA's scripts are on the shell's target */
static const char *shell_dir(const Shell *s) {
        return s->guest ? s->run->guest_dir : s->run->remote_dir;
}

static int shell_command(const Shell *s, char ***ret) {
        const ShellRun *r = s->run;
        _cleanup_strv_free_ char **cmd = NULL, **argv = NULL;
        _cleanup_free_ char *group = NULL, *joined = NULL;
        int k;

        k = lava_group_string(r, s, &group);
        if (k < 0)
                return k;
        cmd = strv_new("systemd-run", "--pipe", "--wait", "--collect", "--service-type=exec",
                       "--property=PrivateTmp=yes");
        if (!cmd || strv_extendf(&cmd, "--unit=%s", s->unit) < 0 ||
            strv_extendf(&cmd, "--description=mhtest test %s of job %s", s->test->section.name, r->j->name) < 0)
                return -ENOMEM;
        if (s->test->timeout_usec > 0 &&
            strv_extendf(&cmd, "--property=RuntimeMaxSec=%" PRIu64 "us", s->test->timeout_usec) < 0)
                return -ENOMEM;
        if (strv_extendf(&cmd, "--setenv=PATH=%s/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                         shell_dir(s)) < 0 ||
            strv_extendf(&cmd, "--setenv=LAVA_TEST_BIN=%s/bin", shell_dir(s)) < 0 ||
            strv_extendf(&cmd, "--setenv=LAVA_HOSTNAME=%s", s->client_name) < 0 ||
            strv_extendf(&cmd, "--setenv=LAVA_ROLE=%s", s->role) < 0 ||
            strv_extendf(&cmd, "--setenv=TARGET_ROLE=%s", s->role) < 0 ||
            strv_extendf(&cmd, "--setenv=LAVA_GROUP=%s", group) < 0 ||
            strv_extend(&cmd, "--setenv=LAVA_MULTI_NODE_CACHE=/tmp/lava_multi_node_cache.txt") < 0 ||
            strv_extend(&cmd, "--setenv=LAVA_MULTI_NODE_NETWORK_CACHE=/tmp/lava_multi_node_network_cache.txt") < 0 ||
            strv_extend(&cmd, "--setenv=LAVA_RESULT_DIR=/tmp/lava-results") < 0 ||
            strv_extendf(&cmd, "--setenv=MHTEST_JOB=%s", r->j->name) < 0 ||
            strv_extendf(&cmd, "--setenv=MHTEST_TEST=%s", s->test->section.name) < 0)
                return -ENOMEM;
        STRV_FOREACH(e, s->test->environment)
                if (strv_extendf(&cmd, "--setenv=%s", *e) < 0)
                        return -ENOMEM;
        if (strv_extend(&cmd, "--") < 0 || strv_extend_strv(&cmd, s->test->exec) < 0)
                return -ENOMEM;

        /* ssh hands the remote side one command line for the user's shell: every word is quoted,
         * so what the shell runs is exactly this argv */
        STRV_FOREACH(w, cmd) {
                _cleanup_free_ char *q = shell_quote(*w);
                char *n;
                if (!q || !(n = joined ? strjoin(joined, " ", q) : strdup(q)))
                        return -ENOMEM;
                free(joined);
                joined = n;
        }
        argv = strv_copy(s->ssh);
        if (!argv || strv_extend(&argv, joined) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(argv);
        return 0;
}

/* ssh: "ssh ... -- user@target" of a host or a guest */
static int ssh_run(char *const *ssh, const char *command) {
        _cleanup_strv_free_ char **argv = strv_copy((char **) ssh);

        if (!argv || strv_extend(&argv, command) < 0)
                return -ENOMEM;
        return spawn_wait(argv);
}

static void shell_stop_unit(Shell *s) {
        _cleanup_free_ char *q = shell_quote(s->unit), *cmd = NULL;

        /* "systemctl stop" of a unit that is gone (--collect) succeeds */
        if (q && asprintf_safe(&cmd, "systemctl stop %s", q) >= 0)
                (void) ssh_run(s->ssh, cmd);
}

static void shell_run_host(Shell *s) {
        _cleanup_strv_free_ char **argv = NULL;
        int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
        LineBuffer bo = {}, be = {};
        uint64_t deadline = UINT64_MAX, hard = UINT64_MAX;
        pid_t pid;
        int r;

        r = shell_command(s, &argv);
        if (r < 0) {
                s->error = strdup("out of memory");
                return;
        }
        if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
            spawn_async(argv, in[0], out[1], err[1], &pid) < 0) {
                (void) asprintf_safe(&s->error, "cannot start ssh: %s", strerror(errno));
                for (int *p = (int[]) { in[0], in[1], out[0], out[1], err[0], err[1] }, i = 0; i < 6; i++)
                        if (p[i] >= 0)
                                close(p[i]);
                return;
        }
        close(in[0]);
        close(out[1]);
        close(err[1]);
        pthread_mutex_lock(&s->run->lock);
        s->pid = pid;
        if (__atomic_load_n(&s->run->cancel, __ATOMIC_ACQUIRE))
                (void) kill(pid, SIGTERM);
        pthread_mutex_unlock(&s->run->lock);
        if (s->test->timeout_usec > 0) {
                deadline = s->begin_usec + s->test->timeout_usec;
                hard = deadline + SHELL_GRACE_USEC;
        }
        shell_log(s, LOG_INFO, MHTEST_MESSAGE_TEST_STARTED, NULL, "started (%s, role %s)", s->unit, s->role);

        while (!bo.eof || !be.eof) {
                struct pollfd p[2] = { { .fd = bo.eof ? -1 : out[0], .events = POLLIN },
                                       { .fd = be.eof ? -1 : err[0], .events = POLLIN } };
                uint64_t now = now_usec();
                int timeout_ms = hard == UINT64_MAX ? -1 : now >= hard ? 0 : (int) MIN((hard - now) / 1000, 60000U);

                if (now >= hard) {
                        s->timed_out = true;
                        (void) asprintf_safe(&s->error, "no end reported %s after TimeoutSec=: SSH connection ended",
                                             "30 s");
                        (void) kill(pid, SIGTERM);
                        break;
                }
                if (poll(p, 2, timeout_ms) < 0 && errno != EINTR)
                        break;
                if (p[0].revents)
                        line_buffer_read(s, &bo, out[0], false, in[1], deadline);
                if (p[1].revents)
                        line_buffer_read(s, &be, err[0], true, in[1], deadline);
        }
        close(in[1]);
        close(out[0]);
        close(err[0]);
        free(bo.data);
        free(be.data);
        pthread_mutex_lock(&s->run->lock);
        s->pid = 0;
        pthread_mutex_unlock(&s->run->lock);
        s->exit_status = wait_for_exit(pid);
        if (__atomic_load_n(&s->run->cancel, __ATOMIC_ACQUIRE) && !s->error)
                s->error = strdup("cancelled: mhtest-coord was interrupted");
        if (s->timed_out || s->exit_status != 0)
                shell_stop_unit(s);
        if (streq_ptr(s->systemd_result, "timeout"))
                s->timed_out = true;
}

static int scripts_install(ShellRun *r, const char *dir, char *const *ssh_prefix);

/* ManagementAddress= without its /PREFIX */
static char *guest_ssh_address(const GuestSection *g) {
        const char *slash = strchr(g->management_address, '/');
        return slash ? strndup(g->management_address, slash - g->management_address) : strdup(g->management_address);
}

/* Which host of the job runs the guest instance now, asked of libvirt there (a migration may
 * have moved it): the first host where its domain is running. */
static int guest_locate_host(Shell *s, const char **ret_host) {
        const JobConfig *j = s->run->j;
        _cleanup_free_ char *domain = NULL;

        if (guest_domain_name(j->name, s->guest_section, s->guest_index, &domain) < 0)
                return -ENOMEM;
        STRV_FOREACH(h, j->job->hosts) {
                RemoteHost rh = {};
                virConnectPtr conn = NULL;
                virDomainPtr dom = NULL;
                int state = VIR_DOMAIN_NOSTATE, reason;

                if (remote_host_from_config(s->run->c, *h, &rh) < 0)
                        continue;
                conn = virConnectOpen(rh.libvirt_uri);
                dom = conn ? virDomainLookupByName(conn, domain) : NULL;
                if (dom && virDomainGetState(dom, &state, &reason, 0) < 0)
                        state = VIR_DOMAIN_NOSTATE;
                if (dom)
                        virDomainFree(dom);
                if (conn)
                        virConnectClose(conn);
                remote_host_done(&rh);
                if (state == VIR_DOMAIN_RUNNING) {
                        *ret_host = *h;
                        return 0;
                }
        }
        return -EHOSTUNREACH;
}

/* The guest's sshd at its ManagementAddress=, reached through the host it runs on: ssh's
 * ProxyCommand is "ssh HOST -W [ADDRESS]:22" with the host's options from hosts.d/ (ssh runs
 * it with /bin/sh, so every word is quoted, and '%' doubled against ssh's own %-tokens). */
static int guest_ssh_argv(Shell *s, char ***ret) {
        const GuestSection *g = s->guest_section;
        _cleanup_strv_free_ char **jump = NULL, **argv = NULL;
        _cleanup_free_ char *address = guest_ssh_address(g), *proxy = strdup("ProxyCommand=");
        int k;

        if (!address || !proxy)
                return -ENOMEM;
        k = remote_ssh_forward_argv(&s->remote, address, 22, &jump);
        if (k < 0)
                return k;
        STRV_FOREACH(w, jump) {
                _cleanup_free_ char *q = shell_quote(*w), *e = NULL;
                char *n;
                size_t m = 0;

                if (!q || !(e = malloc(strlen(q) * 2 + 1)))
                        return -ENOMEM;
                for (const char *c = q; *c; c++) {
                        if (*c == '%')
                                e[m++] = '%';
                        e[m++] = *c;
                }
                e[m] = 0;
                if (!(n = strjoin(proxy, w == jump ? "" : " ", e)))
                        return -ENOMEM;
                free(proxy);
                proxy = n;
        }
        /* the guest's host key is new with every overlay: not checked (the path to it is the
         * host's authenticated SSH connection and the host's own management network) */
        argv = strv_new("ssh", "-xT", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o",
                        "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                        "-o", proxy);
        if (!argv)
                return -ENOMEM;
        if (s->test->ssh_identity &&
            (strv_extend(&argv, "-i") < 0 || strv_extend(&argv, s->test->ssh_identity) < 0 ||
             strv_extend(&argv, "-o") < 0 || strv_extend(&argv, "IdentitiesOnly=yes") < 0))
                return -ENOMEM;
        if (strv_extend(&argv, "--") < 0 || strv_extendf(&argv, "%s@%s", s->test->ssh_user ?: "root", address) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(argv);
        return 0;
}

/* Find the guest's host, then copy LAVA's scripts into the guest, retrying while ssh cannot
 * connect (the guest's sshd may not accept the key yet), until deadline. */
static int shell_guest_prepare(Shell *s, uint64_t deadline) {
        const char *host = NULL;
        int k;

        k = guest_locate_host(s, &host);
        if (k < 0) {
                (void) asprintf_safe(&s->error, "guest %s runs on no host of the job (asked libvirt on each)",
                                     s->target);
                return k;
        }
        if (remote_host_from_config(s->run->c, host, &s->remote) < 0) {
                (void) asprintf_safe(&s->error, "host %s is not declared in hosts.d/", host);
                return -ENOENT;
        }
        s->have_remote = true;
        k = guest_ssh_argv(s, &s->ssh);
        if (k < 0) {
                s->error = strdup("out of memory");
                return k;
        }
        shell_log(s, LOG_INFO, MHTEST_MESSAGE_TEST_OUTPUT, STRV_MAKE("STREAM=mhtest-coord"),
                  "connecting to %s through %s", s->ssh[strv_length(s->ssh) - 1], host);
        for (;;) {
                k = scripts_install(s->run, shell_dir(s), s->ssh);
                if (k == 0) {
                        s->guest_scripts = true;
                        return 0;
                }
                if (k != 255 || now_usec() + GUEST_SSH_RETRY_USEC >= deadline ||
                    __atomic_load_n(&s->run->cancel, __ATOMIC_ACQUIRE))
                        break;
                (void) usleep(GUEST_SSH_RETRY_USEC);
        }
        (void) asprintf_safe(&s->error, "cannot install LAVA's helper scripts in guest %s over SSH through %s (%s)",
                             s->target, host, k == 255 ? "ssh could not connect or log in" : "copy failed");
        return -EIO;
}

static void shell_finish(Shell *s) {
        _cleanup_free_ char *fr = NULL, *fe = NULL, *fs = NULL;
        bool cases_ok = true;

        s->end_usec = now_usec();
        for (size_t i = 0; i < s->n_cases; i++)
                cases_ok = cases_ok && s->cases[i].pass;
        s->passed = !s->error && !s->timed_out && s->exit_status == 0 && cases_ok;
        if (asprintf_safe(&fr, "TEST_RESULT=%s", s->passed ? "pass" : "fail") >= 0 &&
            asprintf_safe(&fe, "EXIT_STATUS=%d", s->exit_status) >= 0 &&
            asprintf_safe(&fs, "SYSTEMD_RESULT=%s", strna(s->systemd_result)) >= 0)
                shell_log(s, s->passed ? LOG_INFO : LOG_ERR, MHTEST_MESSAGE_TEST_ENDED, STRV_MAKE(fr, fe, fs),
                          "%s: exit status %d, systemd result %s%s%s", s->passed ? "passed" : "FAILED",
                          s->exit_status, strna(s->systemd_result), s->error ? ", " : "", strempty(s->error));
        if (s->run->o.tty)
                printf("  %s test %s on %s (exit status %d%s)\n", s->passed ? "PASS" : "FAIL",
                       s->test->section.name, s->target, s->exit_status, s->timed_out ? ", timed out" : "");
}

static void shells_launch_ready(ShellRun *r);

/* The group of an After= test, once complete: mhtest-coord joins it as one more member (as in
 * the first group) and sends it every mhtest-migrated-NAME sent so far, so a shell that starts
 * after a migration lava-waits for it as the first group's shells do. Done by the first shell
 * of the group that gets here. */
static void shells_self_join(Shell *s) {
        ShellRun *r = s->run;
        LavaClient self;
        ShellMessage *m = NULL;
        size_t n = 0;
        bool first;
        int k;

        if (r->j->n_migrations == 0)
                return;
        pthread_mutex_lock(&r->lock);
        first = !strv_contains(r->self_groups, s->group_name);
        if (first && strv_extend(&r->self_groups, s->group_name) < 0)
                first = false;
        if (first && r->n_messages > 0 && (m = calloc(r->n_messages, sizeof(ShellMessage))))
                for (n = 0; n < r->n_messages; n++)
                        m[n] = (ShellMessage) { .id = strdup(r->messages[n].id),
                                                .pairs = strv_copy(r->messages[n].pairs) };
        pthread_mutex_unlock(&r->lock);
        if (!first)
                return;
        self = r->self;
        self.group_name = s->group_name;
        self.group_size = s->group_size;
        k = lava_register(&self);
        for (size_t i = 0; i < n; i++) {
                if (k >= 0 && m[i].id && m[i].pairs &&
                    lava_send(&self, m[i].id, m[i].pairs, now_usec() + JOIN_TIMEOUT_USEC) < 0)
                        log_warning("Failed to send %s to the group %s.", m[i].id, s->group_name);
                free(m[i].id);
                strv_free(m[i].pairs);
        }
        free(m);
        if (k < 0)
                log_warning_errno(k, "mhtest-coord could not join the LAVA group %s: %m", s->group_name);
}

static void *shell_thread(void *p) {
        Shell *s = p;

        s->begin_usec = now_usec();
        if (__atomic_load_n(&s->run->cancel, __ATOMIC_ACQUIRE))
                s->error = strdup("cancelled before it started: mhtest-coord was interrupted");
        else if (s->guest)
                (void) shell_guest_prepare(s, MIN(s->begin_usec + GUEST_SSH_WAIT_USEC,
                                                  s->test->timeout_usec > 0 ? s->begin_usec + s->test->timeout_usec
                                                                            : UINT64_MAX));
        else if (!s->have_remote)
                (void) asprintf_safe(&s->error, "host %s is not declared in hosts.d/", s->target);
        else if (!strv_contains(s->run->installed, s->target))
                s->error = strdup("LAVA's helper scripts could not be installed on the host");
        if (!s->error && !shell_in_first_group(s)) {
                /* an After= test's shells form a group of their own, registered when they start */
                int k = lava_register(&s->lava);
                if (k >= 0)
                        k = lava_join(&s->lava, now_usec() + JOIN_TIMEOUT_USEC, &s->run->cancel);
                if (k < 0)
                        (void) asprintf_safe(&s->error, "cannot join the LAVA group: %s", strerror(-k));
                else
                        shells_self_join(s);
        }
        if (!s->error)
                shell_run_host(s);
        if (s->guest_scripts) {
                _cleanup_free_ char *q = shell_quote(shell_dir(s)), *cmd = NULL;
                if (q && asprintf_safe(&cmd, "rm -rf %s", q) >= 0 && ssh_run(s->ssh, cmd) != 0)
                        shell_log(s, LOG_WARNING, MHTEST_MESSAGE_TEST_OUTPUT, STRV_MAKE("STREAM=mhtest-coord"),
                                  "failed to remove %s in the guest", shell_dir(s));
        }
        shell_finish(s);

        pthread_mutex_lock(&s->run->lock);
        s->state = SHELL_DONE;
        shells_launch_ready(s->run);
        pthread_cond_broadcast(&s->run->cond);
        pthread_mutex_unlock(&s->run->lock);
        return NULL;
}

/* After= a [Migration]: once all its steps have ended, or at once when the run is cancelled */
static bool migration_ended(const ShellRun *r, const char *name) {
        bool is_migration = false;

        for (size_t i = 0; i < r->j->n_migrations; i++)
                is_migration = is_migration || streq(r->j->migrations[i]->section.name, name);
        return !is_migration || strv_contains(r->migrations_ended, name) ||
               __atomic_load_n(&r->cancel, __ATOMIC_ACQUIRE);
}

static bool test_ended(const ShellRun *r, const char *name) {
        for (size_t i = 0; i < r->n_shells; i++)
                if (streq(r->shells[i].test->section.name, name) && r->shells[i].state != SHELL_DONE)
                        return false;
        return true;
}

/* With the lock held: start every pending shell whose After= tests have all ended. */
static void shells_launch_ready(ShellRun *r) {
        for (size_t i = 0; i < r->n_shells; i++) {
                Shell *s = &r->shells[i];
                bool ready = s->state == SHELL_PENDING;

                STRV_FOREACH(a, s->test->after)
                        ready = ready && test_ended(r, *a) && migration_ended(r, *a);
                if (!ready)
                        continue;
                s->state = SHELL_RUNNING;
                if (pthread_create(&s->thread, NULL, shell_thread, s) != 0) {
                        s->error = strdup("cannot start a thread");
                        s->state = SHELL_DONE;
                        continue;
                }
                s->thread_started = true;
        }
}

/* LAVA's helper scripts, flattened into one bin/ as LAVA's overlay does (the top-level lava-*
 * and multi_node/lava-*), copied with tar over SSH. */
static int scripts_list(const char *dir, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        static const char *const subdirs[] = { "", "multi_node/" };

        for (size_t i = 0; i < ELEMENTSOF(subdirs); i++) {
                _cleanup_free_ char *path = strjoin(dir, "/", subdirs[i]);
                DIR *d = path ? opendir(path) : NULL;
                struct dirent *de;

                if (!d)
                        return path ? -errno : -ENOMEM;
                while ((de = readdir(d)))
                        if (startswith(de->d_name, "lava-") && de->d_type == DT_REG &&
                            strv_extendf(&l, "%s%s", subdirs[i], de->d_name) < 0) {
                                closedir(d);
                                return -ENOMEM;
                        }
                closedir(d);
        }
        if (!strv_contains(l, "multi_node/lava-send"))
                return -ENOENT;
        strv_sort(l);
        *ret = TAKE_PTR(l);
        return 0;
}

/* LAVA's overlay (lava_dispatcher/actions/deploy/overlay.py) writes each script into one bin/ as
 * "#!/bin/sh", an empty line and the file, mode 0755; the settings it also writes there come
 * from the unit's environment here. */
static int scripts_stage(const char *src, char **files, char **ret_dir) {
        char tmpl[] = "/tmp/mhtest-lava-bin-XXXXXX";
        int k;

        if (!mkdtemp(tmpl))
                return -errno;
        STRV_FOREACH(f, files) {
                _cleanup_free_ char *from = strjoin(src, "/", *f), *to = NULL, *data = NULL, *full = NULL;
                const char *base = strrchr(*f, '/') ? strrchr(*f, '/') + 1 : *f;

                if (!from || !(to = strjoin(tmpl, "/", base)))
                        k = -ENOMEM;
                else if ((k = read_full_file(from, &data, NULL)) >= 0)
                        k = (full = strjoin("#!/bin/sh\n\n", data)) ? write_file_atomic(to, full, 0755) : -ENOMEM;
                if (k < 0) {
                        (void) rm_rf(tmpl);
                        return k;
                }
        }
        *ret_dir = strdup(tmpl);
        return *ret_dir ? 0 : -ENOMEM;
}

/* Copy the staged scripts to REMOTE_DIR/bin over ssh (a host's or a guest's). Returns 0, the
 * exit status of ssh (255: it could not connect), or a negative errno. */
static int scripts_install(ShellRun *r, const char *dir, char *const *ssh_prefix) {
        _cleanup_strv_free_ char **ssh = strv_copy((char **) ssh_prefix);
        _cleanup_free_ char *q = NULL, *cmd = NULL;
        int p[2];
        pid_t tp, sp;
        int k, kt, ks;

        q = shell_quote(dir);
        if (!ssh || !q || asprintf_safe(&cmd, "mkdir -p %s/bin && tar -xf - -C %s/bin", q, q) < 0 ||
            strv_extend(&ssh, cmd) < 0)
                return -ENOMEM;
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        k = spawn_async(STRV_MAKE("tar", "-C", r->staging, "-cf", "-", "."), -1, p[1], -1, &tp);
        close(p[1]);
        if (k < 0) {
                close(p[0]);
                return k;
        }
        k = spawn_async(ssh, p[0], -1, -1, &sp);
        close(p[0]);
        kt = wait_for_exit(tp);
        if (k < 0)
                return k;
        ks = wait_for_exit(sp);
        if (ks != 0)
                return ks;
        return kt == 0 ? 0 : -EIO;
}

static int group_name_new(const char *job, char **ret) {
        uint32_t id;

        if (getrandom(&id, sizeof(id), 0) != sizeof(id))
                id = (uint32_t) now_usec();
        return asprintf_safe(ret, "mhtest-%s-%08" PRIx32, job, id) < 0 ? -ENOMEM : 0;
}

int shells_start(const Config *c, const JobConfig *j, const ShellOptions *o, ShellRun **ret) {
        _cleanup_(shells_freep) ShellRun *r = NULL;
        _cleanup_strv_free_ char **files = NULL;
        uint64_t deadline = now_usec() + JOIN_TIMEOUT_USEC;
        int k;

        *ret = NULL;
        if (j->n_tests == 0)
                return 0;
        r = calloc(1, sizeof(ShellRun));
        if (!r)
                return log_oom();
        r->c = c;
        r->j = j;
        r->o = *o;
        if (!r->o.lava_scripts)
                r->o.lava_scripts = getenv("MHTEST_LAVA_SCRIPTS") ?: DEFAULT_LAVA_SCRIPTS;
        pthread_mutex_init(&r->lock, NULL);
        pthread_cond_init(&r->cond, NULL);
        if (group_name_new(j->name, &r->group_name) < 0 ||
            asprintf_safe(&r->remote_dir, "/run/mhtest/lava/%s", r->group_name) < 0 ||
            asprintf_safe(&r->guest_dir, "/var/lib/mhtest/lava/%s", r->group_name) < 0 || shells_build(r) < 0)
                return log_oom();
        for (size_t i = 0; i < r->n_shells; i++) {
                Shell *s = &r->shells[i];
                if (s->guest || remote_host_from_config(c, s->target, &s->remote) < 0)
                        continue;
                s->have_remote = true;
                if (remote_ssh_argv(&s->remote, &s->ssh) < 0)
                        return log_oom();
        }

        k = scripts_list(r->o.lava_scripts, &files);
        if (k < 0)
                return log_error_errno(k, "LAVA's helper scripts (multi_node/lava-send, ...) are not in %s: %m. "
                                          "Install lava-dispatcher, or unpack them with tools/lava-scripts.sh and "
                                          "pass --lava-scripts=DIR.", r->o.lava_scripts);
        k = scripts_stage(r->o.lava_scripts, files, &r->staging);
        if (k < 0)
                return log_error_errno(k, "Failed to prepare LAVA's helper scripts from %s: %m", r->o.lava_scripts);

        if (j->job->coordinator) {
                k = lava_coordinator_use(j->job->coordinator, &r->coordinator);
                if (k < 0)
                        return log_error_errno(k, "Invalid [Job] Coordinator=%s: %m", j->job->coordinator);
        } else {
                k = lava_coordinator_start(0, 30 * USEC_PER_SEC, &r->coordinator);
                if (k < 0)
                        return log_error_errno(k, "Failed to start lava-coordinator: %m");
                log_info("Started lava-coordinator (pid %d) on port %u for group %s.", (int) r->coordinator.pid,
                         r->coordinator.port, r->group_name);
        }
        r->have_coordinator = true;

        for (size_t i = 0; i < r->n_shells; i++) {
                Shell *s = &r->shells[i];
                if (s->guest || !s->have_remote || strv_contains(r->installed, s->target))
                        continue;
                k = scripts_install(r, r->remote_dir, s->ssh);
                if (k > 0)
                        log_error("Failed to install LAVA's helper scripts in %s on %s: ssh exit status %d.",
                                  r->remote_dir, s->target, k);
                else if (k < 0)
                        log_error_errno(k, "Failed to install LAVA's helper scripts in %s on %s: %m", r->remote_dir,
                                        s->target);
                else if (strv_extend(&r->installed, s->target) < 0)
                        return log_oom();
        }

        /* The dispatcher's group_data for every member of the first group: the group is complete
         * before any shell runs, so every lava-send reaches every member. */
        for (size_t i = 0; i < r->n_shells; i++)
                if (shell_in_first_group(&r->shells[i]) && (k = lava_register(&r->shells[i].lava)) < 0)
                        return log_error_errno(k, "Failed to register %s with lava-coordinator: %m",
                                               r->shells[i].client_name);
        for (size_t i = 0; i < r->n_shells; i++)
                if (shell_in_first_group(&r->shells[i]) && (k = lava_join(&r->shells[i].lava, deadline, NULL)) < 0)
                        return log_error_errno(k, "Group %s did not complete: %m", r->group_name);

        /* mhtest-coord itself, for [Migration] WaitFor= and mhtest-migrated-NAME: a member beyond
         * group_size, registered after the group completed */
        if (gethostname(r->self_hostname, sizeof(r->self_hostname) - 1) < 0)
                strcpy(r->self_hostname, "localhost");
        r->self = (LavaClient) { .coordinator = &r->coordinator, .group_name = r->group_name,
                                 .group_size = 0, .client_name = "mhtest-coord", .role = "mhtest-coord",
                                 .hostname = r->self_hostname };
        if (j->n_migrations > 0) {
                for (size_t i = 0; i < r->n_shells; i++)
                        if (shell_in_first_group(&r->shells[i]))
                                r->self.group_size = r->shells[i].group_size;
                r->self_registered = lava_register(&r->self) >= 0;
        }

        pthread_mutex_lock(&r->lock);
        shells_launch_ready(r);
        r->launched = true;
        pthread_mutex_unlock(&r->lock);
        *ret = TAKE_PTR(r);
        return 0;
}

static void shells_plan_done(ShellRun *r) {
        for (size_t i = 0; i < r->n_shells; i++) {
                free(r->shells[i].target);
                free(r->shells[i].client_name);
                free(r->shells[i].role);
                free(r->shells[i].unit);
                free(r->shells[i].group_name);
        }
        free(r->shells);
}

int shells_print_plan(const Config *c, const JobConfig *j) {
        ShellRun r = { .c = c, .j = j, .group_name = (char *) "plan" };
        int k;

        if (j->n_tests == 0)
                return 0;
        printf("\nTest shells (systemd-run --pipe over SSH; LAVA multinode through lava-coordinator%s%s):\n",
               j->job->coordinator ? " at " : "", strempty(j->job->coordinator));
        k = shells_build(&r);
        for (size_t i = 0; k >= 0 && i < r.n_shells; i++) {
                const Shell *s = &r.shells[i];
                _cleanup_free_ char *after = strv_join(s->test->after, " "), *cmd = strv_join(s->test->exec, " ");
                printf("  %s on %s, role %s%s%s%s\n", s->test->section.name, s->target, s->role,
                       after && *after ? " (after " : "", after && *after ? after : "", after && *after ? ")" : "");
                if (s->guest) {
                        _cleanup_free_ char *a = guest_ssh_address(s->guest_section);
                        printf("     %s  [in the guest: ssh %s@%s through its host]\n", strna(cmd),
                               s->test->ssh_user ?: "root", strna(a));
                } else
                        printf("     %s\n", strna(cmd));
        }
        shells_plan_done(&r);
        return k;
}

json_object *shells_plan_to_json(const Config *c, const JobConfig *j) {
        ShellRun r = { .c = c, .j = j, .group_name = (char *) "plan" };
        json_object *a = json_object_new_array();

        if (shells_build(&r) >= 0)
                for (size_t i = 0; i < r.n_shells; i++) {
                        const Shell *s = &r.shells[i];
                        json_object *o = json_object_new_object(), *exec = json_object_new_array(),
                                    *after = json_object_new_array();

                        json_object_object_add(o, "test", json_object_new_string(s->test->section.name));
                        json_object_object_add(o, s->guest ? "guest" : "host", json_object_new_string(s->target));
                        json_object_object_add(o, "client_name", json_object_new_string(s->client_name));
                        json_object_object_add(o, "role", json_object_new_string(s->role));
                        json_object_object_add(o, "unit", json_object_new_string(s->unit));
                        if (s->guest) {
                                json_object_object_add(o, "ssh_user", json_object_new_string(s->test->ssh_user ?: "root"));
                                json_object_object_add(o, "management_address",
                                                       json_object_new_string(s->guest_section->management_address));
                        }
                        STRV_FOREACH(w, s->test->exec)
                                json_object_array_add(exec, json_object_new_string(*w));
                        json_object_object_add(o, "exec", exec);
                        STRV_FOREACH(w, s->test->after)
                                json_object_array_add(after, json_object_new_string(*w));
                        json_object_object_add(o, "after", after);
                        json_object_object_add(o, "timeout_sec",
                                               json_object_new_int64((int64_t) (s->test->timeout_usec / USEC_PER_SEC)));
                        json_object_array_add(a, o);
                }
        shells_plan_done(&r);
        return a;
}

bool shells_wait(ShellRun *r) {
        bool ok = true;

        if (!r || !r->launched)
                return true;
        pthread_mutex_lock(&r->lock);
        for (;;) {
                bool all = true;
                for (size_t i = 0; i < r->n_shells; i++)
                        all = all && r->shells[i].state == SHELL_DONE;
                if (all)
                        break;
                pthread_cond_wait(&r->cond, &r->lock);
        }
        pthread_mutex_unlock(&r->lock);
        for (size_t i = 0; i < r->n_shells; i++) {
                if (r->shells[i].thread_started) {
                        pthread_join(r->shells[i].thread, NULL);
                        r->shells[i].thread_started = false;
                }
                ok = ok && r->shells[i].passed;
        }
        return ok;
}

void shells_cancel(ShellRun *r) {
        if (!r)
                return;
        __atomic_store_n(&r->cancel, true, __ATOMIC_RELEASE);
        pthread_mutex_lock(&r->lock);
        for (size_t i = 0; i < r->n_shells; i++)
                if (r->shells[i].pid > 0)
                        (void) kill(r->shells[i].pid, SIGTERM);
        pthread_mutex_unlock(&r->lock);
}

int shells_wait_for_message(ShellRun *r, const char *message_id, uint64_t timeout_usec) {
        json_object *reply = NULL;
        int k;

        if (!r || !r->self_registered)
                return -ENOTCONN;
        k = lava_wait(&r->self, message_id, now_usec() + timeout_usec, &r->cancel, &reply);
        json_object_put(reply);
        return k;
}

void shells_migration_ended(ShellRun *r, const MigrationResult *m) {
        _cleanup_strv_free_ char **pairs = NULL;
        _cleanup_free_ char *id = NULL;
        int k;

        if (!r || !r->self_registered)
                return;
        /* the statistics as the report's key=value lines have them (migration_result_to_kv()) */
        if (asprintf_safe(&id, "mhtest-migrated-%s", m->step->migration->section.name) < 0 ||
            migration_result_to_kv(m, &pairs) < 0) {
                log_oom();
                return;
        }
        k = lava_send(&r->self, id, pairs, now_usec() + JOIN_TIMEOUT_USEC);
        if (k < 0)
                log_warning_errno(k, "Failed to send %s to the test shells: %m", id);

        /* kept for the After= groups that start later (a later step of the same section
         * replaces it, as a second lava-send of an ID does) */
        pthread_mutex_lock(&r->lock);
        for (size_t i = 0; i < r->n_messages; i++)
                if (streq(r->messages[i].id, id)) {
                        strv_free(r->messages[i].pairs);
                        r->messages[i].pairs = TAKE_PTR(pairs);
                        break;
                }
        if (pairs) {
                ShellMessage *n = realloc(r->messages, sizeof(ShellMessage) * (r->n_messages + 1));
                if (n) {
                        r->messages = n;
                        r->messages[r->n_messages++] = (ShellMessage) { .id = TAKE_PTR(id), .pairs = TAKE_PTR(pairs) };
                }
        }
        pthread_mutex_unlock(&r->lock);
}

void shells_migrations_settled(ShellRun *r, const Schedule *sched, size_t phases_done) {
        if (!r)
                return;
        pthread_mutex_lock(&r->lock);
        for (size_t i = 0; i < r->j->n_migrations; i++) {
                const char *name = r->j->migrations[i]->section.name;
                bool later = false;

                for (size_t p = phases_done; p < sched->n_phases; p++)
                        for (size_t k = 0; k < sched->phases[p].n_steps; k++)
                                later = later || sched->phases[p].steps[k].migration == r->j->migrations[i];
                if (!later && !strv_contains(r->migrations_ended, name))
                        (void) strv_extend(&r->migrations_ended, name);
        }
        if (r->launched)
                shells_launch_ready(r);
        pthread_mutex_unlock(&r->lock);
}

static char *shell_tail(const Shell *s) {
        _cleanup_free_ char *t = strdup("");
        size_t first = s->n_lines > SHELL_TAIL_LINES ? s->n_lines - SHELL_TAIL_LINES : 0;

        for (size_t i = first; t && i < s->n_lines; i++) {
                char *n = strjoin(t, s->tail[i % SHELL_TAIL_LINES], "\n");
                free(t);
                t = n;
        }
        return TAKE_PTR(t);
}

static char *shell_failure(const Shell *s) {
        char *m = NULL;

        if (s->error)
                return strdup(s->error);
        if (s->timed_out)
                (void) asprintf_safe(&m, "timed out (TimeoutSec=%" PRIu64 "s)", s->test->timeout_usec / USEC_PER_SEC);
        else if (s->exit_status != 0)
                (void) asprintf_safe(&m, "exit status %d", s->exit_status);
        else
                m = strdup("a testcase in the shell failed");
        return m;
}

json_object *shells_to_json(const ShellRun *r) {
        json_object *a = json_object_new_array();

        for (size_t i = 0; r && i < r->n_shells; i++) {
                const Shell *s = &r->shells[i];
                json_object *o = json_object_new_object(), *cases = json_object_new_array();
                _cleanup_free_ char *tail = shell_tail(s);

                json_object_object_add(o, "test", json_object_new_string(s->test->section.name));
                json_object_object_add(o, s->guest ? "guest" : "host", json_object_new_string(s->target));
                if (s->guest && s->have_remote)
                        json_object_object_add(o, "via_host", json_object_new_string(s->remote.name));
                json_object_object_add(o, "client_name", json_object_new_string(s->client_name));
                json_object_object_add(o, "role", json_object_new_string(s->role));
                json_object_object_add(o, "group", json_object_new_string(s->group_name));
                json_object_object_add(o, "unit", json_object_new_string(s->unit));
                json_object_object_add(o, "exit_status", json_object_new_int(s->exit_status));
                if (s->systemd_result)
                        json_object_object_add(o, "systemd_result", json_object_new_string(s->systemd_result));
                json_object_object_add(o, "timed_out", json_object_new_boolean(s->timed_out));
                if (s->error)
                        json_object_object_add(o, "error", json_object_new_string(s->error));
                json_object_object_add(o, "passed", json_object_new_boolean(s->passed));
                json_object_object_add(o, "duration_ms",
                                       json_object_new_int64((int64_t) ((s->end_usec - s->begin_usec) / 1000)));
                for (size_t k = 0; k < s->n_cases; k++) {
                        json_object *c = json_object_new_object();
                        json_object_object_add(c, "name", json_object_new_string(s->cases[k].name));
                        json_object_object_add(c, "result", json_object_new_string(s->cases[k].pass ? "pass" : "fail"));
                        json_object_array_add(cases, c);
                }
                json_object_object_add(o, "testcases", cases);
                json_object_object_add(o, "output_tail", json_object_new_string(strempty(tail)));
                json_object_array_add(a, o);
        }
        return a;
}

void shells_count(const ShellRun *r, size_t *ret_tests, size_t *ret_failures) {
        size_t n = 0, f = 0;

        for (size_t i = 0; r && i < r->n_shells; i++) {
                n += 1 + r->shells[i].n_cases;
                f += !r->shells[i].passed;
                for (size_t k = 0; k < r->shells[i].n_cases; k++)
                        f += !r->shells[i].cases[k].pass;
        }
        *ret_tests = n;
        *ret_failures = f;
}

int shells_junit(const ShellRun *r, xmlTextWriterPtr w) {
        int k = 0;

        for (size_t i = 0; r && i < r->n_shells; i++) {
                const Shell *s = &r->shells[i];
                _cleanup_free_ char *tail = shell_tail(s), *failure = s->passed ? NULL : shell_failure(s);

                k |= xmlTextWriterStartElement(w, BAD_CAST "testcase");
                k |= xmlTextWriterWriteFormatAttribute(w, BAD_CAST "classname", "test.%s", s->test->section.name);
                k |= xmlTextWriterWriteFormatAttribute(w, BAD_CAST "name", "%s on %s", s->test->section.name, s->target);
                k |= xmlTextWriterWriteFormatAttribute(w, BAD_CAST "time", "%.3f",
                                                       (double) (s->end_usec - s->begin_usec) / USEC_PER_SEC);
                if (failure) {
                        k |= xmlTextWriterStartElement(w, BAD_CAST "failure");
                        k |= xmlTextWriterWriteAttribute(w, BAD_CAST "message", BAD_CAST failure);
                        k |= xmlTextWriterEndElement(w);
                }
                k |= xmlTextWriterStartElement(w, BAD_CAST "system-out");
                k |= xmlTextWriterWriteFormatString(w, "exit_status=%d systemd_result=%s\n%s", s->exit_status,
                                                    strna(s->systemd_result), strempty(tail));
                k |= xmlTextWriterEndElement(w);
                k |= xmlTextWriterEndElement(w);
                for (size_t c = 0; c < s->n_cases; c++) {
                        k |= xmlTextWriterStartElement(w, BAD_CAST "testcase");
                        k |= xmlTextWriterWriteFormatAttribute(w, BAD_CAST "classname", "test.%s.%s",
                                                               s->test->section.name, s->target);
                        k |= xmlTextWriterWriteAttribute(w, BAD_CAST "name", BAD_CAST s->cases[c].name);
                        if (!s->cases[c].pass) {
                                k |= xmlTextWriterStartElement(w, BAD_CAST "failure");
                                k |= xmlTextWriterWriteAttribute(w, BAD_CAST "message", BAD_CAST "result fail");
                                k |= xmlTextWriterEndElement(w);
                        }
                        k |= xmlTextWriterEndElement(w);
                }
        }
        return k < 0 ? -EIO : 0;
}

ShellRun *shells_free(ShellRun *r) {
        if (!r)
                return NULL;
        __atomic_store_n(&r->cancel, true, __ATOMIC_RELEASE);
        /* shells still waiting for a migration start now and end at once, cancelled */
        pthread_mutex_lock(&r->lock);
        if (r->launched)
                shells_launch_ready(r);
        pthread_mutex_unlock(&r->lock);
        (void) shells_wait(r);
        STRV_FOREACH(h, r->installed)
                for (size_t i = 0; i < r->n_shells; i++)
                        if (!r->shells[i].guest && streq(r->shells[i].target, *h)) {
                                _cleanup_free_ char *q = shell_quote(r->remote_dir), *cmd = NULL;
                                if (q && asprintf_safe(&cmd, "rm -rf %s", q) >= 0 && ssh_run(r->shells[i].ssh, cmd) != 0)
                                        log_warning("Failed to remove %s on %s.", r->remote_dir, *h);
                                break;
                        }
        if (r->have_coordinator) {
                /* a coordinator of [Job] Coordinator= outlives the run: clear the groups there */
                if (r->coordinator.pid <= 0)
                        for (size_t i = 0; i < r->n_shells; i++)
                                lava_leave(&r->shells[i].lava);
                lava_coordinator_stop(&r->coordinator);
        }
        for (size_t i = 0; i < r->n_shells; i++) {
                Shell *s = &r->shells[i];
                if (s->have_remote)
                        remote_host_done(&s->remote);
                strv_free(s->ssh);
                free(s->target);
                free(s->client_name);
                free(s->role);
                free(s->unit);
                free(s->group_name);
                free(s->systemd_result);
                free(s->error);
                for (size_t k = 0; k < SHELL_TAIL_LINES; k++)
                        free(s->tail[k]);
                for (size_t k = 0; k < s->n_cases; k++)
                        free(s->cases[k].name);
                free(s->cases);
        }
        free(r->shells);
        for (size_t i = 0; i < r->n_messages; i++) {
                free(r->messages[i].id);
                strv_free(r->messages[i].pairs);
        }
        free(r->messages);
        strv_free(r->migrations_ended);
        strv_free(r->self_groups);
        strv_free(r->installed);
        free(r->group_name);
        free(r->remote_dir);
        free(r->guest_dir);
        if (r->staging)
                (void) rm_rf(r->staging);
        free(r->staging);
        pthread_mutex_destroy(&r->lock);
        pthread_cond_destroy(&r->cond);
        free(r);
        return NULL;
}
