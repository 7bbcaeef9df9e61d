/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <openssl/evp.h>
#include "conf-files.h"
#include "conf-parser.h"
#include "config.h"
#include "fileio.h"
#include "guest-instance.h"
#include "path-util.h"
#include "string-util.h"
#include "strv.h"

/* ---- diagnostics ---- */

void config_diagnostics_done(ConfigDiagnostics *d) {
        for (size_t i = 0; i < d->n_errors; i++) {
                free(d->errors[i].file);
                free(d->errors[i].section);
                free(d->errors[i].key);
                free(d->errors[i].message);
        }
        free(d->errors);
        *d = (ConfigDiagnostics) {};
}

int config_error_add(ConfigDiagnostics *d, const char *file, unsigned line, const char *section,
                     const char *key, const char *format, ...) {
        ConfigError *e;
        va_list ap;
        int r;

        e = realloc(d->errors, sizeof(ConfigError) * (d->n_errors + 1));
        if (!e)
                return -ENOMEM;
        d->errors = e;
        e = &d->errors[d->n_errors++];
        *e = (ConfigError) {
                .file = file ? strdup(file) : NULL,
                .line = line,
                .section = section ? strdup(section) : NULL,
                .key = key ? strdup(key) : NULL,
        };
        va_start(ap, format);
        r = vasprintf(&e->message, format, ap);
        va_end(ap);
        if (r < 0)
                e->message = NULL;
        return 0;
}

int config_error_format(const ConfigError *e, char **ret) {
        _cleanup_free_ char *where = NULL, *what = NULL;

        if (e->file && e->line > 0)
                asprintf_safe(&where, "%s:%u: ", e->file, e->line);
        else if (e->file)
                asprintf_safe(&where, "%s: ", e->file);
        if (e->section && e->key)
                asprintf_safe(&what, "[%s] %s=: ", e->section, e->key);
        else if (e->section)
                asprintf_safe(&what, "[%s]: ", e->section);
        return asprintf_safe(ret, "%s%s%s", strempty(where), strempty(what), strna(e->message)) < 0 ? -ENOMEM : 0;
}

/* ---- typed values ---- */

#define FIELD(s, k, type) ((type *) ((uint8_t *) (s) + (k)->offset))

static void key_free_value(ConfigSection *s, const ConfigKey *k) {
        switch (k->type) {
        case CONFIG_STRING:
        case CONFIG_PATH:
                free(*FIELD(s, k, char *));
                *FIELD(s, k, char *) = NULL;
                break;
        case CONFIG_STRV:
        case CONFIG_COMMAND:
                *FIELD(s, k, char **) = strv_free(*FIELD(s, k, char **));
                break;
        case CONFIG_CPUSET:
                cpu_set_done(FIELD(s, k, CPUSet));
                break;
        case CONFIG_CORES:
                cpu_set_done(&FIELD(s, k, CoreSpec)->cpus);
                FIELD(s, k, CoreSpec)->automatic = false;
                break;
        case CONFIG_BOOL:
                *FIELD(s, k, bool) = false;
                break;
        case CONFIG_ENUM:
                *FIELD(s, k, int) = 0;
                break;
        case CONFIG_UNSIGNED:
                *FIELD(s, k, unsigned) = 0;
                break;
        case CONFIG_SIZE:
        case CONFIG_SEC:
        case CONFIG_MSEC:
                *FIELD(s, k, uint64_t) = 0;
                break;
        default:
                break;
        }
}

/* Parse value into the field. Returns 0, -EINVAL (with *ret_bad set to the offending word for
 * lists) or -ENOMEM. */
static int key_parse_value(ConfigSection *s, const ConfigKey *k, const char *value, char **ret_bad) {
        int r;

        switch (k->type) {
        case CONFIG_BOOL:
                r = parse_boolean(value);
                if (r < 0)
                        return -EINVAL;
                *FIELD(s, k, bool) = r;
                return 0;
        case CONFIG_ENUM:
                for (size_t i = 0; i < k->n_enum; i++)
                        if (streq(k->enum_table[i], value)) {
                                *FIELD(s, k, int) = (int) i;
                                return 0;
                        }
                return -EINVAL;
        case CONFIG_UNSIGNED: {
                unsigned u;
                if (parse_unsigned(value, &u) < 0)
                        return -EINVAL;
                /* 0 means "unset" for keys whose default is 0 (MTU=, TotalMbufs=, ...) */
                if (!(u == 0 && streq_ptr(k->default_value, "0")) &&
                    (u < k->min || (k->max > 0 && u > k->max)))
                        return -EINVAL;
                *FIELD(s, k, unsigned) = u;
                return 0;
        }
        case CONFIG_SIZE:
                return parse_size(value, FIELD(s, k, uint64_t)) < 0 ? -EINVAL : 0;
        case CONFIG_SEC:
                return parse_time_usec(value, USEC_PER_SEC, FIELD(s, k, uint64_t)) < 0 ? -EINVAL : 0;
        case CONFIG_MSEC:
                return parse_time_usec(value, USEC_PER_MSEC, FIELD(s, k, uint64_t)) < 0 ? -EINVAL : 0;
        case CONFIG_STRING: {
                _cleanup_free_ char *n = NULL;
                if (k->check) {
                        r = k->check(value, &n);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0)
                                return -EINVAL;
                }
                return free_and_strdup(FIELD(s, k, char *), n ?: value);
        }
        case CONFIG_PATH:
                if (!path_is_normalized_absolute(value))
                        return -EINVAL;
                return free_and_strdup(FIELD(s, k, char *), value);
        case CONFIG_STRV: {
                _cleanup_strv_free_ char **words = NULL;
                r = strv_split_quoted(value, &words);
                if (r < 0)
                        return r == -ENOMEM ? r : -EINVAL;
                STRV_FOREACH(w, words) {
                        _cleanup_free_ char *n = NULL;
                        if (k->check) {
                                r = k->check(*w, &n);
                                if (r == -ENOMEM)
                                        return r;
                                if (r < 0) {
                                        *ret_bad = strdup(*w);
                                        return -EINVAL;
                                }
                        }
                        if (!strv_contains(*FIELD(s, k, char **), n ?: *w) &&
                            strv_extend(FIELD(s, k, char **), n ?: *w) < 0)
                                return -ENOMEM;
                }
                return 0;
        }
        case CONFIG_COMMAND: {
                char **words = NULL;
                r = strv_split_quoted(value, &words);
                if (r < 0)
                        return r == -ENOMEM ? r : -EINVAL;
                strv_free(*FIELD(s, k, char **));
                *FIELD(s, k, char **) = words;
                return 0;
        }
        case CONFIG_CPUSET: {
                CPUSet c;
                if (cpu_set_parse(value, &c) < 0)
                        return -EINVAL;
                cpu_set_done(FIELD(s, k, CPUSet));
                *FIELD(s, k, CPUSet) = c;
                return 0;
        }
        case CONFIG_CORES: {
                CoreSpec *cs = FIELD(s, k, CoreSpec);
                CPUSet c = {};
                if (streq(value, "auto")) {
                        cpu_set_done(&cs->cpus);
                        cs->automatic = true;
                        return 0;
                }
                if (cpu_set_parse(value, &c) < 0)
                        return -EINVAL;
                cpu_set_done(&cs->cpus);
                cs->cpus = c;
                cs->automatic = false;
                return 0;
        }
        default:
                return -EINVAL;
        }
}

static int key_reset(ConfigSection *s, const ConfigKey *k) {
        _cleanup_free_ char *bad = NULL;

        key_free_value(s, k);
        if (!k->default_value)
                return 0;
        return key_parse_value(s, k, k->default_value, &bad);
}

static int quote_word(const char *w, char **ret) {
        size_t n = 0;
        char *r;

        if (*w && !strpbrk(w, " \t\"'\\")) {
                *ret = strdup(w);
                return *ret ? 0 : -ENOMEM;
        }
        r = malloc(strlen(w) * 2 + 3);
        if (!r)
                return -ENOMEM;
        r[n++] = '"';
        for (const char *p = w; *p; p++) {
                if (*p == '"' || *p == '\\')
                        r[n++] = '\\';
                r[n++] = *p;
        }
        r[n++] = '"';
        r[n] = 0;
        *ret = r;
        return 0;
}

int config_key_format(const ConfigSection *s, const ConfigKey *k, char **ret) {
        switch (k->type) {
        case CONFIG_BOOL:
                *ret = strdup(yes_no(*FIELD(s, k, bool)));
                break;
        case CONFIG_ENUM: {
                int i = *FIELD(s, k, int);
                *ret = strdup(i >= 0 && (size_t) i < k->n_enum ? k->enum_table[i] : "");
                break;
        }
        case CONFIG_UNSIGNED:
                return asprintf_safe(ret, "%u", *FIELD(s, k, unsigned)) < 0 ? -ENOMEM : 0;
        case CONFIG_SIZE:
                return format_size(*FIELD(s, k, uint64_t), ret);
        case CONFIG_SEC:
        case CONFIG_MSEC:
                return format_time_usec(*FIELD(s, k, uint64_t), ret);
        case CONFIG_STRING:
        case CONFIG_PATH:
                *ret = strdup(strempty(*FIELD(s, k, char *)));
                break;
        case CONFIG_STRV:
        case CONFIG_COMMAND: {
                _cleanup_strv_free_ char **q = calloc(1, sizeof(char *));
                if (!q)
                        return -ENOMEM;
                STRV_FOREACH(w, *FIELD(s, k, char **)) {
                        char *x;
                        if (quote_word(*w, &x) < 0 || strv_consume(&q, x) < 0)
                                return -ENOMEM;
                }
                *ret = strv_join(q, " ");
                break;
        }
        case CONFIG_CPUSET:
                return cpu_set_format(FIELD(s, k, CPUSet), ret);
        case CONFIG_CORES: {
                const CoreSpec *cs = FIELD(s, k, CoreSpec);
                if (cs->automatic) {
                        *ret = strdup("auto");
                        break;
                }
                return cpu_set_format(&cs->cpus, ret);
        }
        default:
                return -EINVAL;
        }
        return *ret ? 0 : -ENOMEM;
}

/* ---- sections ---- */

static void section_free(ConfigSection *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->type->n_keys; i++)
                key_free_value(s, &s->type->keys[i]);
        free(s->name);
        free(s->origins);
        free(s);
}

static int section_new(const SectionType *t, const char *name, ConfigOrigin origin, ConfigSection **ret) {
        ConfigSection *s = calloc(1, t->size);
        int r;

        if (!s)
                return -ENOMEM;
        s->type = t;
        s->origin = origin;
        s->origins = calloc(t->n_keys, sizeof(ConfigOrigin));
        if (!s->origins || (name && !(s->name = strdup(name)))) {
                free(s->origins);
                free(s);
                return -ENOMEM;
        }
        for (size_t i = 0; i < t->n_keys; i++) {
                r = key_reset(s, &t->keys[i]);
                if (r < 0) {
                        section_free(s);
                        return r;
                }
        }
        *ret = s;
        return 0;
}

void section_list_done(SectionList *l) {
        for (size_t i = 0; i < l->n_sections; i++)
                section_free(l->sections[i]);
        free(l->sections);
        *l = (SectionList) {};
}

ConfigSection *section_list_find(const SectionList *l, const SectionType *type, const char *name) {
        for (size_t i = 0; i < l->n_sections; i++)
                if (l->sections[i]->type == type && streq_ptr(l->sections[i]->name, name))
                        return l->sections[i];
        return NULL;
}

static int section_list_add(SectionList *l, ConfigSection *s) {
        ConfigSection **n = realloc(l->sections, sizeof(ConfigSection *) * (l->n_sections + 1));
        if (!n)
                return -ENOMEM;
        l->sections = n;
        l->sections[l->n_sections++] = s;
        return 0;
}

const ConfigKey *section_type_find_key(const SectionType *t, const char *key) {
        for (size_t i = 0; i < t->n_keys; i++)
                if (streq(t->keys[i].name, key))
                        return &t->keys[i];
        return NULL;
}

/* ---- loading ---- */

typedef struct LoadContext {
        const SectionType *const *types; /* NULL terminated */
        ConfigDiagnostics *diag;
        const char *host;  /* for [Match] Host=, NULL: [Match] not allowed */
        char ***interned;  /* file names ConfigOrigin points to */
} LoadContext;

static const char *intern(char ***files, const char *path) {
        STRV_FOREACH(f, *files)
                if (streq(*f, path))
                        return *f;
        if (strv_extend(files, path) < 0)
                return NULL;
        return (*files)[strv_length(*files) - 1];
}

static const SectionType *find_type(const SectionType *const *types, const char *name) {
        for (size_t i = 0; types[i]; i++)
                if (streq(types[i]->name, name))
                        return types[i];
        return NULL;
}

/* Does this file's [Match] section (if any) select this host? Problems are reported. */
static bool raw_file_matches(const RawFile *f, const LoadContext *ctx) {
        bool have_match = false, matched = false;

        for (size_t i = 0; i < f->n_entries; i++) {
                const RawEntry *e = &f->entries[i];
                _cleanup_strv_free_ char **pats = NULL;

                if (!streq(e->section, "Match"))
                        continue;
                if (!ctx->host) {
                        config_error_add(ctx->diag, f->path, e->line, "Match", e->key,
                                         "[Match] is only allowed in job files");
                        continue;
                }
                if (!e->key)
                        continue;
                if (!streq(e->key, "Host")) {
                        if (!startswith(e->key, "X-"))
                                config_error_add(ctx->diag, f->path, e->line, "Match", e->key,
                                                 "unknown key (expected Host=)");
                        continue;
                }
                if (strv_split_quoted(e->value, &pats) < 0 || !pats || !pats[0]) {
                        config_error_add(ctx->diag, f->path, e->line, "Match", "Host",
                                         "expected host name patterns, got \"%s\"", e->value);
                        continue;
                }
                have_match = true;
                STRV_FOREACH(p, pats)
                        if (fnmatch(*p, ctx->host, 0) == 0)
                                matched = true;
        }
        return !have_match || matched;
}

static int apply_raw_file(const RawFile *f, SectionList *list, const LoadContext *ctx) {
        const char *file = intern(ctx->interned, f->path);
        ConfigSection *cur = NULL;
        bool cur_bad = false;
        int r;

        if (!file)
                return -ENOMEM;
        if (f->error_line > 0)
                config_error_add(ctx->diag, f->path, f->error_line, NULL, NULL, "%s", f->error);
        if (!raw_file_matches(f, ctx))
                return 0;

        for (size_t i = 0; i < f->n_entries; i++) {
                const RawEntry *e = &f->entries[i];
                ConfigOrigin origin = { .file = file, .line = e->line };
                const ConfigKey *k;
                _cleanup_free_ char *bad = NULL;

                if (streq(e->section, "Match"))
                        continue;

                if (!e->key) {
                        _cleanup_free_ char *tname = strdup(e->section);
                        char *sp, *name = NULL;
                        const SectionType *t;

                        if (!tname)
                                return -ENOMEM;
                        cur = NULL;
                        cur_bad = true;
                        sp = strchr(tname, ' ');
                        if (sp) {
                                *sp = 0;
                                name = strstrip(sp + 1);
                        }
                        t = find_type(ctx->types, tname);
                        if (!t) {
                                _cleanup_strv_free_ char **names = NULL;
                                _cleanup_free_ char *list_s = NULL;
                                for (size_t j = 0; ctx->types[j]; j++)
                                        if (strv_extend(&names, ctx->types[j]->name) < 0)
                                                return -ENOMEM;
                                list_s = strv_join(names, ", ");
                                config_error_add(ctx->diag, f->path, e->line, e->section, NULL,
                                                 "unknown section (expected one of: %s)", strna(list_s));
                                continue;
                        }
                        if (t->named && isempty(name)) {
                                config_error_add(ctx->diag, f->path, e->line, e->section, NULL,
                                                 "section needs a name, like [%s NAME]", t->name);
                                continue;
                        }
                        if (!t->named && name) {
                                config_error_add(ctx->diag, f->path, e->line, e->section, NULL,
                                                 "section [%s] takes no name", t->name);
                                continue;
                        }
                        if (name && t->name_valid && !t->name_valid(name)) {
                                config_error_add(ctx->diag, f->path, e->line, e->section, NULL,
                                                 "invalid name \"%s\" (expected %s)", name, t->name_expected);
                                continue;
                        }
                        cur = section_list_find(list, t, name);
                        if (!cur) {
                                r = section_new(t, name, origin, &cur);
                                if (r < 0)
                                        return r;
                                r = section_list_add(list, cur);
                                if (r < 0) {
                                        section_free(cur);
                                        return r;
                                }
                        }
                        cur_bad = false;
                        continue;
                }

                if (!cur) {
                        if (!cur_bad)
                                config_error_add(ctx->diag, f->path, e->line, NULL, e->key,
                                                 "assignment outside of any section");
                        continue;
                }
                if (startswith(e->key, "X-"))
                        continue;
                k = section_type_find_key(cur->type, e->key);
                if (!k) {
                        config_error_add(ctx->diag, f->path, e->line, e->section, e->key,
                                         "unknown key in [%s]", cur->type->name);
                        continue;
                }
                if (isempty(e->value)) {
                        r = key_reset(cur, k);
                        if (r < 0)
                                return r;
                        cur->origins[k - cur->type->keys] = origin;
                        continue;
                }
                r = key_parse_value(cur, k, e->value, &bad);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        if (bad)
                                config_error_add(ctx->diag, f->path, e->line, e->section, e->key,
                                                 "invalid item \"%s\" (expected %s)", bad, k->expected);
                        else
                                config_error_add(ctx->diag, f->path, e->line, e->section, e->key,
                                                 "invalid value \"%s\" (expected %s)", e->value, k->expected);
                        continue;
                }
                cur->origins[k - cur->type->keys] = origin;
        }
        return 0;
}

static int load_files(char * const *files, SectionList *list, const LoadContext *ctx) {
        STRV_FOREACH(p, files) {
                _cleanup_(raw_file_freep) RawFile *f = NULL;
                int r;

                r = raw_file_load(*p, &f);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        config_error_add(ctx->diag, *p, 0, NULL, NULL, "cannot read: %s", strerror(-r));
                        continue;
                }
                r = apply_raw_file(f, list, ctx);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Main file first, then drop-ins from "<relpath>.d/" in file-name order. */
static int collect_files(const char *root, const char *relpath, char ***ret) {
        _cleanup_strv_free_ char **files = calloc(1, sizeof(char *)), **dropins = NULL;
        _cleanup_free_ char *main_file = NULL, *dir = NULL;
        int r;

        if (!files)
                return -ENOMEM;
        r = conf_files_find(root, relpath, &main_file);
        if (r < 0)
                return r;
        if (r > 0 && strv_consume(&files, TAKE_PTR(main_file)) < 0)
                return -ENOMEM;
        dir = strjoin(relpath, ".d");
        if (!dir)
                return -ENOMEM;
        r = conf_files_list(root, dir, ".conf", &dropins);
        if (r < 0)
                return r;
        if (strv_extend_strv(&files, dropins) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(files);
        return 0;
}

void job_config_free(JobConfig *j) {
        if (!j)
                return;
        section_list_done(&j->sections);
        free(j->bridges);
        free(j->storages);
        free(j->guests);
        free(j->migrations);
        free(j->tests);
        strv_free(j->files);
        free(j->name);
        free(j);
}

static void host_config_free(HostConfig *h) {
        if (!h)
                return;
        section_list_done(&h->sections);
        free(h->file);
        free(h);
}

void config_free(Config *c) {
        if (!c)
                return;
        section_list_done(&c->main);
        for (size_t i = 0; i < c->n_hosts; i++)
                host_config_free(c->hosts[i]);
        free(c->hosts);
        config_diagnostics_done(&c->diagnostics);
        strv_free(c->main_files);
        strv_free(c->files);
        free(c->host_name);
        free(c->root);
        free(c);
}

static int ensure_section(SectionList *l, const SectionType *t, ConfigSection **ret) {
        ConfigSection *s = section_list_find(l, t, NULL);
        int r;

        if (!s) {
                r = section_new(t, NULL, (ConfigOrigin) {}, &s);
                if (r < 0)
                        return r;
                r = section_list_add(l, s);
                if (r < 0) {
                        section_free(s);
                        return r;
                }
        }
        *ret = s;
        return 0;
}

static int read_host_name(const char *root, char **ret) {
        _cleanup_free_ char *p = path_prefix_root(root, "/etc/hostname"), *s = NULL;
        char buf[256];

        if (!p)
                return -ENOMEM;
        if (read_one_line_file(p, &s) >= 0 && hostname_valid(strstrip(s))) {
                *ret = strdup(strstrip(s));
                return *ret ? 0 : -ENOMEM;
        }
        if (gethostname(buf, sizeof buf) < 0)
                return -errno;
        buf[sizeof buf - 1] = 0;
        *ret = strdup(buf);
        return *ret ? 0 : -ENOMEM;
}

int config_load(const char *root, Config **ret) {
        static const SectionType *const main_types[] = { &section_self, &section_safety, NULL };
        static const SectionType *const host_types[] = { &section_host, NULL };
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_strv_free_ char **host_files = NULL;
        ConfigSection *s;
        int r;

        c = calloc(1, sizeof(Config));
        if (!c)
                return -ENOMEM;
        c->files = calloc(1, sizeof(char *));
        if (!c->files)
                return -ENOMEM;
        if (root && !(c->root = strdup(root)))
                return -ENOMEM;

        r = collect_files(root, "mhtest.conf", &c->main_files);
        if (r < 0)
                return r;
        LoadContext mctx = { .types = main_types, .diag = &c->diagnostics, .interned = &c->files };
        r = load_files(c->main_files, &c->main, &mctx);
        if (r < 0)
                return r;
        if (ensure_section(&c->main, &section_self, &s) < 0)
                return -ENOMEM;
        c->self = (SelfSection *) s;
        if (ensure_section(&c->main, &section_safety, &s) < 0)
                return -ENOMEM;
        c->safety = (SafetySection *) s;

        if (c->self->name)
                c->host_name = strdup(c->self->name);
        else if (read_host_name(root, &c->host_name) < 0)
                c->host_name = strdup("localhost");
        if (!c->host_name)
                return -ENOMEM;

        r = conf_files_list(root, "hosts.d", ".conf", &host_files);
        if (r < 0)
                return r;
        STRV_FOREACH(p, host_files) {
                HostConfig *h, **n;
                LoadContext hctx = { .types = host_types, .diag = &c->diagnostics, .interned = &c->files };
                char *one[] = { *p, NULL };
                _cleanup_free_ char *stem = NULL;

                h = calloc(1, sizeof(HostConfig));
                if (!h)
                        return -ENOMEM;
                n = realloc(c->hosts, sizeof(HostConfig *) * (c->n_hosts + 1));
                if (!n) {
                        free(h);
                        return -ENOMEM;
                }
                c->hosts = n;
                c->hosts[c->n_hosts++] = h;
                h->file = strdup(*p);
                if (!h->file)
                        return -ENOMEM;
                r = load_files(one, &h->sections, &hctx);
                if (r < 0)
                        return r;
                if (ensure_section(&h->sections, &section_host, &s) < 0)
                        return -ENOMEM;
                h->host = (HostSection *) s;
                if (!h->host->name) {
                        stem = strndup(path_basename(*p), strlen(path_basename(*p)) - strlen(".conf"));
                        if (!stem)
                                return -ENOMEM;
                        if (!hostname_valid(stem))
                                config_error_add(&c->diagnostics, *p, 0, "Host", "Name",
                                                 "file name is not a valid host name and Name= is not set");
                        h->host->name = TAKE_PTR(stem);
                }
                if (!h->host->address)
                        config_error_add(&c->diagnostics, *p, h->host->section.origin.line, "Host", "Address",
                                         "missing: every host needs Address=");
                for (size_t i = 0; i + 1 < c->n_hosts; i++)
                        if (streq(c->hosts[i]->host->name, h->host->name))
                                config_error_add(&c->diagnostics, *p, h->host->section.origins[0].line, "Host",
                                                 "Name", "host \"%s\" is already declared in %s",
                                                 h->host->name, c->hosts[i]->file);
        }

        *ret = TAKE_PTR(c);
        return 0;
}

const HostConfig *config_find_host(const Config *c, const char *name) {
        for (size_t i = 0; i < c->n_hosts; i++)
                if (streq(c->hosts[i]->host->name, name))
                        return c->hosts[i];
        return NULL;
}

int config_list_jobs(const Config *c, char ***ret) {
        _cleanup_strv_free_ char **files = NULL, **names = calloc(1, sizeof(char *));
        int r;

        if (!names)
                return -ENOMEM;
        r = conf_files_list(c->root, "jobs.d", ".conf", &files);
        if (r < 0)
                return r;
        STRV_FOREACH(f, files) {
                const char *b = path_basename(*f);
                if (strv_consume(&names, strndup(b, strlen(b) - strlen(".conf"))) < 0)
                        return -ENOMEM;
        }
        strv_sort(names);
        *ret = TAKE_PTR(names);
        return 0;
}


void job_error(ConfigDiagnostics *d, const ConfigSection *s, const char *key, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL, *section = NULL;
        const ConfigOrigin *o = &s->origin;
        const ConfigKey *k = key ? section_type_find_key(s->type, key) : NULL;
        va_list ap;

        if (k && s->origins[k - s->type->keys].file)
                o = &s->origins[k - s->type->keys];
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (s->name)
                asprintf_safe(&section, "%s %s", s->type->name, s->name);
        config_error_add(d, o->file, o->line, section ?: s->type->name, key, "%s", strna(msg));
}

#define APPEND(arr, n, v)                                                       \
        ({                                                                      \
                typeof(arr) _a_ = realloc(arr, sizeof(*(arr)) * ((n) + 1));     \
                if (_a_) {                                                      \
                        _a_[(n)++] = (v);                                       \
                        arr = _a_;                                              \
                }                                                               \
                _a_ ? 0 : -ENOMEM;                                              \
        })

static bool job_has_host(const JobConfig *j, const char *h) {
        return strv_contains(j->job->hosts, h);
}

static bool testpmd_has_port(const JobConfig *j, const char *port) {
        return j->testpmd && strv_contains(j->testpmd->ports, port);
}

int guest_hugepages(const JobConfig *j, const GuestSection *g, GuestHugePages *ret) {
        GuestHugePages h = { .page_size = g->hugepage_size, .node = -1 };
        unsigned n_items = 0;

        if (!j->hugepages || strv_length(j->hugepages->pages) == 0)
                return -ENOENT;
        if (h.page_size == 0)
                h.page_size = j->hugepages->mount_page_size;
        if (h.page_size == 0)
                STRV_FOREACH(p, j->hugepages->pages) {
                        HugePagesRequest r;
                        if (hugepages_request_parse(*p, &r) >= 0 && r.page_size > h.page_size)
                                h.page_size = r.page_size;
                }
        STRV_FOREACH(p, j->hugepages->pages) {
                HugePagesRequest r;
                if (hugepages_request_parse(*p, &r) < 0 || r.page_size != h.page_size)
                        continue;
                h.node = n_items++ == 0 ? r.node : -1;
                h.pool += r.count > 0 ? r.count * r.page_size : r.bytes;
        }
        if (n_items == 0)
                return -ENOENT;
        *ret = h;
        return 0;
}

static void validate_guest_hugepages(const JobConfig *j, const GuestSection *g, ConfigDiagnostics *d) {
        _cleanup_free_ char *size = NULL, *pool = NULL;
        GuestHugePages h;

        if (!g->hugepages) {
                if (g->hugepage_size > 0)
                        job_error(d, &g->section, "HugePageSize", "needs HugePages=yes");
                return;
        }
        if (!j->hugepages || strv_length(j->hugepages->pages) == 0) {
                job_error(d, &g->section, "HugePages", "needs [HugePages] Pages= in the job");
                return;
        }
        if (guest_hugepages(j, g, &h) < 0) {
                job_error(d, &g->section, g->hugepage_size > 0 ? "HugePageSize" : "HugePages",
                          "no page size of [HugePages] Pages= matches (expected one of its sizes)");
                return;
        }
        if (format_size(h.page_size, &size) < 0 || format_size(h.pool, &pool) < 0)
                return;
        if (g->memory % h.page_size != 0)
                job_error(d, &g->section, "Memory", "not a multiple of the guest's %s hugepages", size);
        else if (g->memory * g->count > h.pool)
                job_error(d, &g->section, "Memory",
                          "%u guest(s) need more than the %siB of %s pages that [HugePages] Pages= requests",
                          g->count, pool, size);
}

/* A vhost-user socket has one peer: no other interface of the job may use the port. */
static void validate_vhost_user_once(const JobConfig *j, size_t i, char **n, const char *base,
                                     ConfigDiagnostics *d) {
        size_t l = strlen(base);

        for (size_t k = 0; k <= i; k++)
                STRV_FOREACH(m, j->guests[k]->interfaces) {
                        if (k == i && m >= n)
                                return;
                        if (strneq(*m, base, l) && ((*m)[l] == 0 || (*m)[l] == '/'))
                                job_error(d, &j->guests[i]->section, "Interfaces",
                                          "port \"%s\" is also an interface of [Guest %s] (a vhost-user "
                                          "port connects one NIC)", base + strlen("vhost-user:"),
                                          j->guests[k]->section.name);
                }
}

const TestSection *job_find_test(const JobConfig *j, const char *name) {
        for (size_t i = 0; i < j->n_tests; i++)
                if (streq(j->tests[i]->section.name, name))
                        return j->tests[i];
        return NULL;
}

static const GuestSection *job_find_guest(const JobConfig *j, const char *name) {
        for (size_t i = 0; i < j->n_guests; i++)
                if (streq(j->guests[i]->section.name, name))
                        return j->guests[i];
        return NULL;
}

/* Whether following After= from t comes back to t (depth bounds a cycle not through t). */
static bool test_after_reaches(const JobConfig *j, const TestSection *t, const char *target, size_t depth) {
        if (depth > j->n_tests)
                return false;
        STRV_FOREACH(a, t->after) {
                const TestSection *x = job_find_test(j, *a);
                if (streq(*a, target) || (x && test_after_reaches(j, x, target, depth + 1)))
                        return true;
        }
        return false;
}

static void validate_tests(const JobConfig *j, ConfigDiagnostics *d) {
        bool have_hosts = strv_length(j->job->hosts) > 0;

        for (size_t i = 0; i < j->n_migrations; i++)
                if (j->migrations[i]->wait_for && j->n_tests == 0)
                        job_error(d, &j->migrations[i]->section, "WaitFor",
                                  "needs a [Test] section: only test shells send messages");

        for (size_t i = 0; i < j->n_tests; i++) {
                const TestSection *t = j->tests[i];

                if (strv_length(t->exec) == 0)
                        job_error(d, &t->section, "Exec", "missing (expected a command line)");
                if (strv_length(t->hosts) == 0 && strv_length(t->guests) == 0 && !t->role)
                        job_error(d, &t->section, "Host", "missing (expected Host=, Guest= or Role=)");
                if (strv_length(t->hosts) > 0 && !have_hosts)
                        job_error(d, &t->section, "Host", "test shells need [Job] Hosts= listing the hosts");
                if (strv_length(t->hosts) == 0 && (strv_length(t->guests) > 0 || t->role) && !have_hosts)
                        job_error(d, &t->section, strv_length(t->guests) > 0 ? "Guest" : "Role",
                                  "guest shells need [Job] Hosts= listing the hosts the guests run on");
                STRV_FOREACH(h, t->hosts)
                        if (have_hosts && !job_has_host(j, *h))
                                job_error(d, &t->section, "Host", "host \"%s\" is not in [Job] Hosts=", *h);
                STRV_FOREACH(g, t->guests) {
                        const GuestSection *gs;
                        unsigned index;

                        /* a section (with Count=N: every instance of it), or one instance GUEST-N */
                        gs = job_find_guest(j, *g);
                        if (!gs && guest_instance_find(j, *g, &gs, &index) < 0)
                                job_error(d, &t->section, "Guest", "guest \"%s\" has no [Guest %s] section and is "
                                          "no instance GUEST-N of a Count= guest", *g, *g);
                        else if (!gs->management_address)
                                job_error(d, &t->section, "Guest",
                                          "[Guest %s] has no ManagementAddress= (a guest shell connects to the "
                                          "guest's sshd there, through its host)", gs->section.name);
                }
                if (t->role && strv_length(t->hosts) == 0 && strv_length(t->guests) == 0) {
                        bool found = false;
                        for (size_t k = 0; k < j->n_guests; k++)
                                if (streq_ptr(j->guests[k]->role, t->role)) {
                                        found = true;
                                        if (!j->guests[k]->management_address)
                                                job_error(d, &t->section, "Role",
                                                          "[Guest %s] of Role=%s has no ManagementAddress= (a guest "
                                                          "shell connects to the guest's sshd there, through its host)",
                                                          j->guests[k]->section.name, t->role);
                                }
                        if (!found)
                                job_error(d, &t->section, "Role", "no [Guest] of the job has Role=%s", t->role);
                }
                STRV_FOREACH(a, t->after) {
                        bool migration = false;

                        for (size_t k = 0; k < j->n_migrations; k++)
                                migration = migration || streq(j->migrations[k]->section.name, *a);
                        if (!job_find_test(j, *a) && !migration)
                                job_error(d, &t->section, "After", "\"%s\" has no [Test %s] or [Migration %s] section",
                                          *a, *a, *a);
                        else if (job_find_test(j, *a) &&
                                 (streq(*a, t->section.name) ||
                                  test_after_reaches(j, job_find_test(j, *a), t->section.name, 0)))
                                job_error(d, &t->section, "After", "\"%s\" leads back to this test (a cycle)", *a);
                }
        }
}

/* The guest's "management" interfaces in Interfaces=, and the first one's MAC (NULL if none). */
static size_t guest_management_interfaces(const GuestSection *g, const char **ret_mac) {
        size_t n = 0;

        *ret_mac = NULL;
        STRV_FOREACH(i, g->interfaces) {
                if (streq(*i, "management"))
                        n++;
                else if (startswith(*i, "management/") && n++ == 0)
                        *ret_mac = *i + strlen("management/");
        }
        return n;
}

static void validate_guest_management(const JobConfig *j, size_t i, ConfigDiagnostics *d) {
        const GuestSection *g = j->guests[i];
        const char *mac;
        size_t n = guest_management_interfaces(g, &mac);

        if (g->management_network && n == 0)
                job_error(d, &g->section, "ManagementNetwork", "needs a management interface in Interfaces=");
        if (g->management_address) {
                if (n != 1 || !mac)
                        job_error(d, &g->section, "ManagementAddress",
                                  "needs exactly one management interface with a MAC address in Interfaces= "
                                  "(like management/52:54:00:00:00:10), for the DHCP reservation");
        }
        if (g->ssh_forward > 0 && !g->management_address)
                job_error(d, &g->section, "SSHForward", "needs ManagementAddress= (the forward's destination)");
        for (size_t k = 0; k < i; k++) {
                const GuestSection *o = j->guests[k];
                _cleanup_free_ char *a = NULL, *b = NULL;

                if (g->ssh_forward > 0 && o->ssh_forward == g->ssh_forward &&
                    (!g->host || !o->host || streq(g->host, o->host)))
                        job_error(d, &g->section, "SSHForward", "port %u is also forwarded for [Guest %s]",
                                  g->ssh_forward, o->section.name);
                if (!g->management_address || !o->management_address ||
                    !streq(g->management_network ?: "default", o->management_network ?: "default"))
                        continue;
                a = strndup(g->management_address, strcspn(g->management_address, "/"));
                b = strndup(o->management_address, strcspn(o->management_address, "/"));
                if (a && b && streq(a, b))
                        job_error(d, &g->section, "ManagementAddress", "%s is also the address of [Guest %s]", a,
                                  o->section.name);
        }
}

static void validate_job(const Config *c, const JobConfig *j, ConfigDiagnostics *d) {
        bool have_hosts = strv_length(j->job->hosts) > 0;

        STRV_FOREACH(h, j->job->hosts)
                if (!config_find_host(c, *h) && !streq(*h, c->host_name))
                        job_error(d, &j->job->section, "Hosts",
                                  "host \"%s\" is not declared in hosts.d/ (expected a declared host)", *h);

        if (j->hugepages) {
                bool size_ok = j->hugepages->mount_page_size == 0;
                STRV_FOREACH(p, j->hugepages->pages) {
                        HugePagesRequest a;
                        if (hugepages_request_parse(*p, &a) < 0)
                                continue;
                        if (a.page_size == j->hugepages->mount_page_size)
                                size_ok = true;
                        for (char **q = p + 1; *q; q++) {
                                HugePagesRequest b;
                                if (hugepages_request_parse(*q, &b) >= 0 && b.page_size == a.page_size &&
                                    b.node == a.node)
                                        job_error(d, &j->hugepages->section, "Pages",
                                                  "\"%s\" and \"%s\" request the same page size on the same node",
                                                  *p, *q);
                        }
                }
                if (!size_ok)
                        job_error(d, &j->hugepages->section, "MountPageSize",
                                  "page size is not one of those in Pages=");
                if (j->hugepages->mount_point && strv_length(j->hugepages->pages) == 0)
                        job_error(d, &j->hugepages->section, "MountPoint", "needs Pages= to be set");
        }

        for (size_t i = 0; i < j->n_bridges; i++)
                for (size_t k = i + 1; k < j->n_bridges; k++)
                        STRV_FOREACH(p, j->bridges[k]->ports)
                                if (strv_contains(j->bridges[i]->ports, *p))
                                        job_error(d, &j->bridges[k]->section, "Ports",
                                                  "port \"%s\" is already a port of [Bridge %s]", *p,
                                                  j->bridges[i]->section.name);

        for (size_t i = 0; i < j->n_storages; i++) {
                StorageSection *s = j->storages[i];
                if (!s->what)
                        job_error(d, &s->section, "What", "missing (expected a device or server:/export)");
                if (!s->where)
                        job_error(d, &s->section, "Where", "missing (expected an absolute path)");
                for (size_t k = 0; k < i; k++)
                        if (s->where && streq_ptr(s->where, j->storages[k]->where))
                                job_error(d, &s->section, "Where", "\"%s\" is also the mount point of [Storage %s]",
                                          s->where, j->storages[k]->section.name);
        }

        if (j->testpmd) {
                if (strv_length(j->testpmd->ports) == 0)
                        job_error(d, &j->testpmd->section, "Ports", "no ports (expected at least one port)");
                STRV_FOREACH(p, j->testpmd->ports)
                        if (startswith(*p, "vfio:") && (!j->vfio || !strv_contains(j->vfio->devices, *p + 5)))
                                job_error(d, &j->testpmd->section, "Ports",
                                          "port \"%s\" is not a device of [VFIO] Devices=", *p);
                if (j->testpmd->hugepages == NESTED_YES && (!j->hugepages || strv_length(j->hugepages->pages) == 0))
                        job_error(d, &j->testpmd->section, "HugePages", "needs [HugePages] Pages= in the job");
                if (!j->testpmd->cores.automatic && cpu_set_count(&j->testpmd->cores.cpus) < 2)
                        job_error(d, &j->testpmd->section, "Cores",
                                  "needs at least two CPUs (one main lcore and one forwarding core)");
        }

        for (size_t i = 0; i < j->n_guests; i++) {
                GuestSection *g = j->guests[i];

                if (g->host && have_hosts && !job_has_host(j, g->host))
                        job_error(d, &g->section, "Host", "host \"%s\" is not in [Job] Hosts=", g->host);
                if (!g->image && !g->kernel && !g->launcher)
                        job_error(d, &g->section, "Image", "missing (expected Image=, Kernel= or Launcher=)");
                if (g->initrd && !g->kernel)
                        job_error(d, &g->section, "Initrd", "needs Kernel=");
                if (g->kernel_command_line && !g->kernel)
                        job_error(d, &g->section, "KernelCommandLine", "needs Kernel=");
                STRV_FOREACH(p, g->disks)
                        if (streq_ptr(*p, g->image))
                                job_error(d, &g->section, "Disks", "\"%s\" is already the guest's Image=",
                                          *p);
                if (strv_length(g->disks) > GUEST_DISKS_MAX)
                        job_error(d, &g->section, "Disks", "%zu disks (expected at most %u besides Image=)",
                                  strv_length(g->disks), GUEST_DISKS_MAX);
                validate_guest_hugepages(j, g, d);
                STRV_FOREACH(n, g->interfaces) {
                        _cleanup_free_ char *base = strndup(*n, strcspn(*n, "/"));
                        if (!base)
                                continue;
                        if (startswith(base, "vhost-user:")) {
                                _cleanup_free_ char *port = strjoin("vhost-user:", base + strlen("vhost-user:"));
                                if (port && !testpmd_has_port(j, port))
                                        job_error(d, &g->section, "Interfaces",
                                                  "\"%s\" is not a vhost-user port of [Testpmd] Ports=", *n);
                                else if (g->count > 1)
                                        job_error(d, &g->section, "Interfaces",
                                                  "\"%s\": a vhost-user port connects one guest, not "
                                                  "Count=%u", *n, g->count);
                                else
                                        validate_vhost_user_once(j, i, n, base, d);
                        } else if (startswith(base, "bridge:")) {
                                const char *br = base + strlen("bridge:");
                                bool found = false;
                                for (size_t k = 0; k < j->n_bridges; k++)
                                        if (streq(j->bridges[k]->section.name, br))
                                                found = true;
                                if (!found)
                                        job_error(d, &g->section, "Interfaces",
                                                  "\"%s\" names no [Bridge %s] section of the job", *n, br);
                        }
                        if (strchr(*n, '/'))
                                for (size_t k = 0; k <= i; k++)
                                        STRV_FOREACH(m, j->guests[k]->interfaces) {
                                                if (k == i && m >= n)
                                                        break;
                                                if (strchr(*m, '/') &&
                                                    streq(strchr(*m, '/'), strchr(*n, '/')))
                                                        job_error(d, &g->section, "Interfaces",
                                                                  "MAC address %s is also used by [Guest %s]",
                                                                  strchr(*n, '/') + 1,
                                                                  j->guests[k]->section.name);
                                        }
                }
                validate_guest_management(j, i, d);
                if (!g->vcpu_pinning.automatic && g->vcpu_pinning.cpus.n_words > 0 &&
                    cpu_set_count(&g->vcpu_pinning.cpus) < g->vcpus)
                        job_error(d, &g->section, "VCPUPinning", "has fewer CPUs than VCPUs=%u", g->vcpus);
        }

        guest_instance_validate(j, d);

        for (size_t i = 0; i < j->n_migrations; i++) {
                MigrationSection *m = j->migrations[i];

                if (strv_length(m->guests) == 0)
                        job_error(d, &m->section, "Guests", "missing (expected guest names of the job)");
                STRV_FOREACH(g, m->guests) {
                        const GuestSection *found = NULL;
                        for (size_t k = 0; k < j->n_guests; k++)
                                if (streq(j->guests[k]->section.name, *g))
                                        found = j->guests[k];
                        if (!found)
                                job_error(d, &m->section, "Guests", "guest \"%s\" has no [Guest %s] section", *g, *g);
                        /* a guest with disks migrates with them: the destination makes its own
                         * overlays and libvirt copies their top layers (mhtest-coord(8)) */
                }
                if (!have_hosts && (m->from || m->to))
                        job_error(d, &m->section, m->from ? "From" : "To",
                                  "migrations need [Job] Hosts= listing the hosts");
                if (!m->from)
                        job_error(d, &m->section, "From", "missing (expected a host of the job)");
                else if (have_hosts && !job_has_host(j, m->from))
                        job_error(d, &m->section, "From", "host \"%s\" is not in [Job] Hosts=", m->from);
                if (!m->to)
                        job_error(d, &m->section, "To", "missing (expected a host of the job)");
                else if (have_hosts && !job_has_host(j, m->to))
                        job_error(d, &m->section, "To", "host \"%s\" is not in [Job] Hosts=", m->to);
                if (m->from && m->to && streq(m->from, m->to))
                        job_error(d, &m->section, "To", "same host as From= (expected a different host)");
        }

        validate_tests(j, d);
}

static int check_guest_file(const Config *c, const GuestSection *g, const char *key, const char *path,
                            ConfigDiagnostics *d) {
        _cleanup_free_ char *p = path_prefix_root(c->root, path);
        struct stat st;

        if (!p)
                return -ENOMEM;
        if (stat(p, &st) < 0) {
                job_error(d, &g->section, key, "\"%s\" cannot be used on this host: %s", path,
                          strerror(errno));
                return 1;
        }
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
                job_error(d, &g->section, key, "\"%s\" is not a file (expected a file or a block device)",
                          path);
                return 1;
        }
        return 0;
}

int guest_check_files(const Config *c, const GuestSection *g, ConfigDiagnostics *d) {
        const struct {
                const char *key, *path;
        } files[] = {
                { "Image", g->image },
                { "Kernel", g->kernel },
                { "Initrd", g->initrd },
        };
        int n = 0, r;

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                if (!files[i].path)
                        continue;
                r = check_guest_file(c, g, files[i].key, files[i].path, d);
                if (r < 0)
                        return r;
                n += r;
        }
        STRV_FOREACH(p, g->disks) {
                r = check_guest_file(c, g, "Disks", *p, d);
                if (r < 0)
                        return r;
                n += r;
        }
        STRV_FOREACH(p, g->ssh_authorized_keys) {
                r = check_guest_file(c, g, "SSHAuthorizedKeys", *p, d);
                if (r < 0)
                        return r;
                n += r;
        }
        return n;
}

int config_load_job(Config *c, const char *name, JobConfig **ret, ConfigDiagnostics *d) {
        static const SectionType *const job_types[] = {
                &section_job, &section_nested, &section_hugepages, &section_bridge, &section_vfio,
                &section_storage, &section_testpmd, &section_guest, &section_migration, &section_test, NULL,
        };
        _cleanup_(job_config_freep) JobConfig *j = NULL;
        _cleanup_free_ char *rel = NULL, *main_file = NULL;
        ConfigSection *s;
        int r;

        if (!unit_instance_name_valid(name)) {
                _cleanup_free_ char *file = NULL;

                /* When the name comes from a jobs.d/ file, name that file (the one to rename). */
                if (!strchr(name, '/') && (rel = strjoin("jobs.d/", name, ".conf")) &&
                    conf_files_find(c->root, rel, &file) < 0)
                        file = NULL;
                config_error_add(d, file, 0, NULL, NULL,
                                 "invalid job name \"%s\" (expected letters, digits, '_', '.', '-', at most 64)", name);
                return -EINVAL;
        }
        rel = strjoin("jobs.d/", name, ".conf");
        if (!rel)
                return -ENOMEM;
        r = conf_files_find(c->root, rel, &main_file);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;

        j = calloc(1, sizeof(JobConfig));
        if (!j || !(j->name = strdup(name)))
                return -ENOMEM;
        r = collect_files(c->root, rel, &j->files);
        if (r < 0)
                return r;

        LoadContext ctx = { .types = job_types, .diag = d, .host = c->host_name, .interned = &c->files };
        r = load_files(j->files, &j->sections, &ctx);
        if (r < 0)
                return r;

        if (ensure_section(&j->sections, &section_job, &s) < 0)
                return -ENOMEM;
        j->job = (JobSection *) s;
        j->nested = (NestedSection *) section_list_find(&j->sections, &section_nested, NULL);
        j->hugepages = (HugePagesSection *) section_list_find(&j->sections, &section_hugepages, NULL);
        j->vfio = (VFIOSection *) section_list_find(&j->sections, &section_vfio, NULL);
        j->testpmd = (TestpmdSection *) section_list_find(&j->sections, &section_testpmd, NULL);
        for (size_t i = 0; i < j->sections.n_sections; i++) {
                ConfigSection *x = j->sections.sections[i];
                r = 0;
                if (x->type == &section_bridge)
                        r = APPEND(j->bridges, j->n_bridges, (BridgeSection *) x);
                else if (x->type == &section_storage)
                        r = APPEND(j->storages, j->n_storages, (StorageSection *) x);
                else if (x->type == &section_guest)
                        r = APPEND(j->guests, j->n_guests, (GuestSection *) x);
                else if (x->type == &section_migration)
                        r = APPEND(j->migrations, j->n_migrations, (MigrationSection *) x);
                else if (x->type == &section_test)
                        r = APPEND(j->tests, j->n_tests, (TestSection *) x);
                if (r < 0)
                        return r;
        }

        validate_job(c, j, d);
        *ret = TAKE_PTR(j);
        return 0;
}

bool job_runs_on_host(const JobConfig *j, const char *host) {
        return strv_length(j->job->hosts) == 0 || strv_contains(j->job->hosts, host);
}

bool guest_on_host(const Config *c, const GuestSection *g, const char *host) {
        if (g->host)
                return streq(g->host, host);
        return streq(host, c->host_name);
}

int job_steps(const JobConfig *j, const char *host, char ***ret) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));

        if (!l)
                return -ENOMEM;
        if (!job_runs_on_host(j, host)) {
                *ret = TAKE_PTR(l);
                return 0;
        }
        if (j->nested && j->nested->enable != NESTED_NO && strv_extend(&l, "nested") < 0)
                return -ENOMEM;
        if (j->hugepages && strv_length(j->hugepages->pages) > 0 && strv_extend(&l, "hugepages") < 0)
                return -ENOMEM;
        if (j->vfio && strv_length(j->vfio->devices) > 0 && strv_extend(&l, "vfio") < 0)
                return -ENOMEM;
        if (j->n_bridges > 0 && strv_extend(&l, "bridge") < 0)
                return -ENOMEM;
        if (j->testpmd && strv_extend(&l, "testpmd") < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

/* ---- show and hash ---- */

int section_list_dump(const SectionList *l, FILE *f, bool all) {
        for (size_t i = 0; i < l->n_sections; i++) {
                const ConfigSection *s = l->sections[i];

                if (i > 0)
                        fputc('\n', f);
                if (s->name)
                        fprintf(f, "[%s %s]\n", s->type->name, s->name);
                else
                        fprintf(f, "[%s]\n", s->type->name);
                for (size_t k = 0; k < s->type->n_keys; k++) {
                        const ConfigKey *key = &s->type->keys[k];
                        _cleanup_free_ char *v = NULL, *kv = NULL;
                        int r;

                        if (!s->origins[k].file && !all)
                                continue;
                        r = config_key_format(s, key, &v);
                        if (r < 0)
                                return r;
                        if (asprintf_safe(&kv, "%s=%s", key->name, v) < 0)
                                return -ENOMEM;
                        if (s->origins[k].file)
                                fprintf(f, "%-40s # %s:%u\n", kv, s->origins[k].file, s->origins[k].line);
                        else
                                fprintf(f, "%-40s # (default)\n", kv);
                }
        }
        return 0;
}

static int section_cmp(const void *a, const void *b) {
        const ConfigSection *x = *(ConfigSection * const *) a, *y = *(ConfigSection * const *) b;
        int r = strcmp(x->type->name, y->type->name);
        return r != 0 ? r : strcmp(strempty(x->name), strempty(y->name));
}

int job_config_hash(const JobConfig *j, char **ret_hex) {
        _cleanup_free_ ConfigSection **sorted = NULL;
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int md_len = 0;
        EVP_MD_CTX *ctx;
        int r = 0;

        sorted = malloc(sizeof(ConfigSection *) * (j->sections.n_sections + 1));
        if (!sorted)
                return -ENOMEM;
        memcpy(sorted, j->sections.sections, sizeof(ConfigSection *) * j->sections.n_sections);
        qsort(sorted, j->sections.n_sections, sizeof(ConfigSection *), section_cmp);

        ctx = EVP_MD_CTX_new();
        if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
                EVP_MD_CTX_free(ctx);
                return -ENOMEM;
        }
        /* The effective values, defaults included, in a canonical order: how the job is split
         * into files, in which order keys appear and how values are spelled do not matter. */
        for (size_t i = 0; i < j->sections.n_sections && r >= 0; i++) {
                const ConfigSection *s = sorted[i];
                _cleanup_free_ char *h = NULL;

                if (asprintf_safe(&h, "[%s%s%s]\n", s->type->name, s->name ? " " : "", strempty(s->name)) < 0) {
                        r = -ENOMEM;
                        break;
                }
                EVP_DigestUpdate(ctx, h, strlen(h));
                for (size_t k = 0; k < s->type->n_keys; k++) {
                        _cleanup_free_ char *v = NULL;
                        r = config_key_format(s, &s->type->keys[k], &v);
                        if (r < 0)
                                break;
                        EVP_DigestUpdate(ctx, s->type->keys[k].name, strlen(s->type->keys[k].name));
                        EVP_DigestUpdate(ctx, "=", 1);
                        EVP_DigestUpdate(ctx, v, strlen(v));
                        EVP_DigestUpdate(ctx, "\n", 1);
                }
        }
        if (r >= 0 && EVP_DigestFinal_ex(ctx, md, &md_len) != 1)
                r = -EIO;
        EVP_MD_CTX_free(ctx);
        if (r < 0)
                return r;

        *ret_hex = malloc(md_len * 2 + 1);
        if (!*ret_hex)
                return -ENOMEM;
        for (unsigned i = 0; i < md_len; i++)
                sprintf(*ret_hex + i * 2, "%02x", md[i]);
        return 0;
}
