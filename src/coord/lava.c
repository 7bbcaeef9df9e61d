/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <netinet/in.h>
#include "fileio.h"
#include "lava.h"
#include "log.h"
#include "process-util.h"
#include "string-util.h"
#include "strv.h"
#include "time-util.h"

#define LAVA_POLL_DELAY_USEC (1 * USEC_PER_SEC) /* the dispatcher's default poll_delay */
#define LAVA_IO_TIMEOUT_SEC 30

static int lava_connect(const char *host, uint16_t port) {
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
        char service[8];
        int fd = -EHOSTUNREACH;

        snprintf(service, sizeof(service), "%u", port);
        if (getaddrinfo(host, service, &hints, &res) != 0)
                return -EHOSTUNREACH;
        for (struct addrinfo *a = res; a; a = a->ai_next) {
                struct timeval tv = { .tv_sec = LAVA_IO_TIMEOUT_SEC };
                int s = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
                if (s < 0)
                        continue;
                (void) setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
                (void) setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
                if (connect(s, a->ai_addr, a->ai_addrlen) == 0) {
                        fd = s;
                        break;
                }
                fd = -errno;
                close(s);
        }
        freeaddrinfo(res);
        return fd;
}

static int free_tcp_port(uint16_t *ret) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
        socklen_t l = sizeof(a);
        _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &a, sizeof(a)) < 0 || getsockname(fd, (struct sockaddr *) &a, &l) < 0)
                return -errno;
        *ret = ntohs(a.sin_port);
        return 0;
}

int lava_coordinator_use(const char *host_port, LavaCoordinator *ret) {
        const char *colon = strrchr(host_port, ':');
        unsigned port;

        if (!colon || parse_unsigned(colon + 1, &port) < 0 || port == 0 || port > 65535)
                return -EINVAL;
        *ret = (LavaCoordinator) { .host = strndup(host_port, colon - host_port), .port = (uint16_t) port };
        return ret->host ? 0 : -ENOMEM;
}

int lava_coordinator_start(uint16_t port, uint64_t timeout_usec, LavaCoordinator *ret) {
        _cleanup_free_ char *conf = NULL, *log = NULL, *json = NULL;
        _cleanup_strv_free_ char **argv = NULL;
        char tmpl[] = "/tmp/mhtest-lava-XXXXXX";
        LavaCoordinator c = {};
        uint64_t deadline = now_usec() + timeout_usec;
        int r;

        /* Only mhtest-coord talks to it: any free port serves, and two runs do not meet. */
        if (port == 0 && (r = free_tcp_port(&port)) < 0)
                return r;
        if (!mkdtemp(tmpl))
                return -errno;
        c.work_dir = strdup(tmpl);
        c.host = strdup("localhost");
        c.port = port;
        if (!c.work_dir || !c.host || !(conf = strjoin(tmpl, "/lava-coordinator.conf")) ||
            !(log = strjoin(tmpl, "/lava-coordinator.log")) ||
            asprintf_safe(&json, "{\"port\": %u, \"blocksize\": 4096, \"poll_delay\": 1, "
                                 "\"coordinator_hostname\": \"localhost\"}\n", port) < 0) {
                lava_coordinator_stop(&c);
                return -ENOMEM;
        }
        r = write_file_atomic(conf, json, 0644);
        if (r >= 0) {
                argv = strv_new("lava-coordinator", "--logfile", log, "--loglevel", "INFO", "--config", conf);
                r = argv ? spawn_async(argv, -1, -1, -1, &c.pid) : -ENOMEM;
        }
        if (r < 0) {
                lava_coordinator_stop(&c);
                return r;
        }
        for (;;) {
                _cleanup_close_ int fd = lava_connect(c.host, c.port);
                int status;

                if (fd >= 0)
                        break;
                if (waitpid(c.pid, &status, WNOHANG) == c.pid) {
                        c.pid = 0;
                        lava_coordinator_stop(&c);
                        return -ECHILD;
                }
                if (now_usec() > deadline) {
                        lava_coordinator_stop(&c);
                        return -ETIMEDOUT;
                }
                /* it gives no readiness notification: its listening socket is the state */
                (void) poll(NULL, 0, 50);
        }
        *ret = c;
        return 0;
}

void lava_coordinator_stop(LavaCoordinator *c) {
        if (c->pid > 0) {
                (void) kill(c->pid, SIGTERM);
                (void) wait_for_exit(c->pid);
        }
        if (c->work_dir)
                (void) rm_rf(c->work_dir);
        free(c->work_dir);
        free(c->host);
        *c = (LavaCoordinator) {};
}

static int read_exactly(int fd, char *buf, size_t n) {
        size_t got = 0;

        while (got < n) {
                ssize_t k = read(fd, buf + got, n - got);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -EPIPE;
                got += (size_t) k;
        }
        return 0;
}

int lava_request(const LavaCoordinator *c, json_object *msg, json_object **ret_reply) {
        const char *s = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN);
        _cleanup_free_ char *head = NULL, *body = NULL;
        _cleanup_close_ int fd = -EBADF;
        char hdr[9] = {};
        unsigned long n;
        json_object *reply;
        int r;

        fd = lava_connect(c->host, c->port);
        if (fd < 0)
                return fd;
        if (asprintf_safe(&head, "%08zX%s", strlen(s), s) < 0)
                return -ENOMEM;
        if (write(fd, head, strlen(head)) != (ssize_t) strlen(head))
                return -EIO;
        (void) shutdown(fd, SHUT_WR);
        r = read_exactly(fd, hdr, 8);
        if (r < 0)
                return r;
        n = strtoul(hdr, NULL, 16);
        if (n == 0 || n > 0xFFFFFF)
                return -EBADMSG;
        body = malloc(n + 1);
        if (!body)
                return -ENOMEM;
        r = read_exactly(fd, body, n);
        if (r < 0)
                return r;
        body[n] = 0;
        reply = json_tokener_parse(body);
        if (!reply || !json_object_is_type(reply, json_type_object)) {
                json_object_put(reply);
                return -EBADMSG;
        }
        *ret_reply = reply;
        return 0;
}

static const char *reply_response(json_object *reply) {
        json_object *v;
        return json_object_object_get_ex(reply, "response", &v) ? json_object_get_string(v) : "";
}

static void add_base_message(const LavaClient *l, json_object *msg) {
        /* the base message of lava_dispatcher's MultinodeProtocol */
        json_object_object_add(msg, "port", json_object_new_int(l->coordinator->port));
        json_object_object_add(msg, "blocksize", json_object_new_int(4096));
        json_object_object_add(msg, "poll_delay", json_object_new_int(LAVA_POLL_DELAY_USEC / USEC_PER_SEC));
        json_object_object_add(msg, "host", json_object_new_string(l->coordinator->host));
        json_object_object_add(msg, "hostname", json_object_new_string(l->hostname));
        json_object_object_add(msg, "client_name", json_object_new_string(l->client_name));
        json_object_object_add(msg, "group_name", json_object_new_string(l->group_name));
        json_object_object_add(msg, "role", json_object_new_string(l->role));
}

int lava_poll(const LavaClient *l, json_object *msg, uint64_t deadline, const bool *cancel,
              json_object **ret_reply) {
        json_object *m;

        add_base_message(l, msg);
        for (;;) {
                json_object *reply = NULL;
                int r = lava_request(l->coordinator, msg, &reply);

                if (r < 0) {
                        json_object_put(msg);
                        return r;
                }
                if (!streq(reply_response(reply), "wait")) {
                        if (json_object_object_get_ex(reply, "message", &m))
                                *ret_reply = json_object_get(m);
                        else
                                *ret_reply = json_object_new_string(reply_response(reply));
                        json_object_put(reply);
                        json_object_put(msg);
                        return 0;
                }
                json_object_put(reply);
                for (uint64_t until = now_usec() + LAVA_POLL_DELAY_USEC; now_usec() < until;) {
                        if (cancel && __atomic_load_n(cancel, __ATOMIC_ACQUIRE)) {
                                json_object_put(msg);
                                return -ECANCELED;
                        }
                        (void) poll(NULL, 0, 100);
                }
                if (now_usec() > deadline) {
                        json_object_put(msg);
                        return -ETIMEDOUT;
                }
        }
}

static json_object *request_new(const char *request, const char *message_id) {
        json_object *o = json_object_new_object();

        json_object_object_add(o, "request", json_object_new_string(request));
        if (message_id)
                json_object_object_add(o, "messageID", json_object_new_string(message_id));
        return o;
}

static bool reply_is_nack(json_object *reply) {
        return json_object_is_type(reply, json_type_string) && streq(json_object_get_string(reply), "nack");
}

static json_object *group_data_new(const LavaClient *l) {
        json_object *msg = request_new("group_data", NULL);

        json_object_object_add(msg, "group_size", json_object_new_int((int) l->group_size));
        return msg;
}

int lava_register(const LavaClient *l) {
        json_object *msg = group_data_new(l), *reply = NULL;
        int r;

        /* one group_data request registers the client; its answer is "wait" until all have */
        add_base_message(l, msg);
        r = lava_request(l->coordinator, msg, &reply);
        json_object_put(msg);
        if (r >= 0 && streq(reply_response(reply), "nack"))
                r = -EPROTO;
        json_object_put(reply);
        return r;
}

int lava_join(const LavaClient *l, uint64_t deadline, const bool *cancel) {
        json_object *reply = NULL;
        int r = lava_poll(l, group_data_new(l), deadline, cancel, &reply);

        if (r >= 0 && reply_is_nack(reply))
                r = -EPROTO;
        json_object_put(reply);
        return r;
}

void lava_leave(const LavaClient *l) {
        json_object *reply = NULL;

        if (lava_poll(l, request_new("clear_group", NULL), now_usec() + 10 * USEC_PER_SEC, NULL, &reply) >= 0)
                json_object_put(reply);
}

int lava_send(const LavaClient *l, const char *message_id, char **pairs, uint64_t deadline) {
        json_object *msg = request_new("lava_send", message_id), *data = json_object_new_object(), *reply = NULL;
        int r;

        /* as the dispatcher's _on_send: only "k=v" with exactly one '=' are kept */
        STRV_FOREACH(p, pairs) {
                const char *eq = strchr(*p, '=');
                _cleanup_free_ char *k = NULL;
                if (!eq || strchr(eq + 1, '=') || !(k = strndup(*p, eq - *p)))
                        continue;
                json_object_object_add(data, k, json_object_new_string(eq + 1));
        }
        json_object_object_add(msg, "message", data);
        r = lava_poll(l, msg, deadline, NULL, &reply);
        if (r >= 0 && reply_is_nack(reply))
                r = -EPROTO;
        json_object_put(reply);
        return r;
}

int lava_wait(const LavaClient *l, const char *message_id, uint64_t deadline, const bool *cancel,
              json_object **ret_reply) {
        json_object *msg = request_new("lava_wait", message_id);

        json_object_object_add(msg, "nodeID", json_object_new_string(l->client_name));
        return lava_poll(l, msg, deadline, cancel, ret_reply);
}

/* " target:key=value ..." as _on_wait() and _on_wait_all() write it, or " nack" */
static int format_pairs(json_object *reply, char **ret) {
        _cleanup_free_ char *s = strdup("");

        if (!s)
                return -ENOMEM;
        if (reply_is_nack(reply)) {
                *ret = strdup(" nack");
                return *ret ? 0 : -ENOMEM;
        }
        if (!json_object_is_type(reply, json_type_object)) {
                *ret = TAKE_PTR(s);
                return 0;
        }
        {
                json_object_object_foreach(reply, target, messages) {
                        if (!json_object_is_type(messages, json_type_object))
                                continue;
                        json_object_object_foreach(messages, key, value) {
                                char *n;
                                const char *v = json_object_is_type(value, json_type_null) ? "None"
                                                                                            : json_object_get_string(value);
                                if (asprintf_safe(&n, "%s %s:%s=%s", s, target, key, v) < 0)
                                        return -ENOMEM;
                                free(s);
                                s = n;
                        }
                }
        }
        *ret = TAKE_PTR(s);
        return 0;
}

/* LAVA's dispatcher writes sendline(reply) and then sendline("\n"): the reply line and two
 * line feeds. */
static int reply_line(const char *api, const char *rest, char **ret) {
        return asprintf_safe(ret, "<LAVA_%s_COMPLETE%s>\n\n\n", api, rest);
}

static char *lowercase_dup(const char *s) {
        char *d = strdup(s);
        return d ? ascii_strlower(d) : NULL;
}

static bool is_word_char(char c) {
        return c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The dispatcher splits a LAVA_SEND's parameters with re.split(r"\s+(?=\w+(?:=))") (a value may
 * hold spaces), the others with str.split(). */
static int split_params(const char *params, bool send, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        const char *start = params + strspn(params, " \t"), *p = start;

        while (*start) {
                const char *ws = p + strcspn(p, " \t"), *next = ws + strspn(ws, " \t");
                bool cut = !*next;

                if (!cut && !send)
                        cut = true;
                else if (!cut) {
                        const char *q = next;
                        while (is_word_char(*q))
                                q++;
                        cut = q > next && *q == '=';
                }
                if (!cut) {
                        p = next;
                        continue;
                }
                char *w = strndup(start, ws - start);
                if (!w || strv_consume(&l, w) < 0)
                        return -ENOMEM;
                start = p = next;
        }
        if (!l && !(l = calloc(1, sizeof(char *))))
                return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

int lava_relay_line(const LavaClient *l, const char *line, uint64_t deadline, const bool *cancel,
                    char **ret_reply, char **ret_api, bool *ret_ok) {
        static const char prefix[] = "<LAVA_MULTI_NODE> <LAVA_";
        _cleanup_free_ char *name = NULL, *params = NULL, *pairs = NULL, *lname = NULL;
        _cleanup_strv_free_ char **words = NULL;
        json_object *msg, *reply = NULL;
        const char *p = strstr(line, prefix), *sp, *end;
        int r;

        /* the dispatcher's pattern: <LAVA_MULTI_NODE> <LAVA_(\S+) ([^>]+)> */
        if (!p)
                return 0;
        p += strlen(prefix);
        sp = p + strcspn(p, " \t>");
        if (sp == p || *sp == '>' || !*sp)
                return 0;
        end = strchr(sp, '>');
        if (!end || end == sp + 1)
                return 0;
        name = strndup(p, sp - p);
        params = strndup(sp + 1, end - sp - 1);
        if (!name || !params)
                return -ENOMEM;
        r = split_params(params, streq(name, "SEND"), &words);
        if (r < 0)
                return r;
        if (strv_length(words) == 0)
                return 0;
        lname = lowercase_dup(name);
        if (!lname || asprintf_safe(ret_api, "multinode-%s-%s", lname, words[0]) < 0)
                return -ENOMEM;
        *ret_reply = NULL;
        *ret_ok = true;

        if (streq(name, "SEND")) {
                r = lava_send(l, words[0], words + 1, deadline);
                *ret_ok = r >= 0;
                return r == -ENOMEM ? r : 1;
        }
        if (streq(name, "SYNC"))
                msg = request_new("lava_sync", words[0]);
        else if (streq(name, "WAIT")) {
                msg = request_new("lava_wait", words[0]);
                json_object_object_add(msg, "nodeID", json_object_new_string(l->client_name));
        } else if (streq(name, "WAIT_ALL")) {
                msg = request_new("lava_wait_all", words[0]);
                if (words[1])
                        json_object_object_add(msg, "waitrole", json_object_new_string(words[1]));
        } else {
                /* the dispatcher ignores a signal it has no handler for */
                *ret_ok = false;
                return 1;
        }
        r = lava_poll(l, msg, deadline, cancel, &reply);
        if (r < 0) {
                /* a timed out call leaves the shell waiting: its own timeout ends it */
                *ret_ok = false;
                return r == -ENOMEM ? r : 1;
        }
        if (streq(name, "SYNC"))
                r = reply_line(name, reply_is_nack(reply) ? " nack" : "", ret_reply);
        else if ((r = format_pairs(reply, &pairs)) >= 0)
                r = reply_line(name, pairs, ret_reply);
        *ret_ok = !reply_is_nack(reply);
        json_object_put(reply);
        return r < 0 ? r : 1;
}

int lava_parse_testcase(const char *line, char **ret_name, bool *ret_pass) {
        static const char prefix[] = "<LAVA_SIGNAL_TESTCASE ";
        _cleanup_free_ char *params = NULL;
        _cleanup_strv_free_ char **words = NULL;
        const char *p = strstr(line, prefix), *end, *id = NULL, *result = NULL;

        if (!p)
                return 0;
        p += strlen(prefix);
        end = strchr(p, '>');
        if (!end)
                return 0;
        if (!(params = strndup(p, end - p)) || split_params(params, false, &words) < 0)
                return -ENOMEM;
        STRV_FOREACH(w, words) {
                if (startswith(*w, "TEST_CASE_ID="))
                        id = *w + strlen("TEST_CASE_ID=");
                else if (startswith(*w, "RESULT="))
                        result = *w + strlen("RESULT=");
        }
        if (isempty(id) || !result)
                return 0;
        *ret_name = strdup(id);
        if (!*ret_name)
                return -ENOMEM;
        *ret_pass = streq(result, "pass") || streq(result, "skip");
        return 1;
}
