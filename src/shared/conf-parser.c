/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ini.h>
#include "conf-parser.h"
#include "string-util.h"

/* inih hands its handler no line numbers (Debian builds it without INI_HANDLER_LINENO), and
 * only calls it for key=value lines. We feed it through our own reader, which counts lines,
 * reports section headers and rejects overlong lines, so every entry knows where it came from.
 *
 * Debian's inih is also built with inline comments (" ;" ends a value), ':' as a second
 * delimiter and a 200-byte line buffer. systemd's format has none of these: "Description=a ; b"
 * is the whole text, "A:B=c" is the key "A:B", and a long KernelCommandLine= is fine. So the
 * reader splits each assignment itself (at the first '=') and hands inih only a short
 * placeholder assignment, for which inih calls the handler, which records our split. */
#define CONF_LINE_MAX (64U * 1024U)

typedef struct ReaderState {
        FILE *f;
        RawFile *file;
        unsigned line;
        int error;
        bool in_section;
        bool bad_section; /* after a malformed header: its assignments are not reported again */
        char *key, *value; /* the assignment on the current line, NULL if none */
} ReaderState;

static int raw_file_add(RawFile *f, const char *section, const char *key, const char *value, unsigned line) {
        RawEntry *e = realloc(f->entries, sizeof(RawEntry) * (f->n_entries + 1));

        if (!e)
                return -ENOMEM;
        f->entries = e;
        e = &f->entries[f->n_entries];
        *e = (RawEntry) {
                .section = strdup(section),
                .key = key ? strdup(key) : NULL,
                .value = value ? strdup(value) : NULL,
                .line = line,
        };
        f->n_entries++;
        if (!e->section || (key && !e->key) || (value && !e->value))
                return -ENOMEM;
        return 0;
}

static void set_syntax_error(RawFile *f, unsigned line, const char *msg) {
        if (f->error_line != 0)
                return;
        f->error_line = line;
        f->error = strdup(msg);
}

static char *reader(char *str, int num, void *stream) {
        ReaderState *s = stream;
        _cleanup_free_ char *buf = NULL;
        size_t allocated = 0;
        ssize_t n;
        char *p, *eq;

        free(s->key);
        free(s->value);
        s->key = s->value = NULL;

        n = getline(&buf, &allocated, s->f);
        if (n < 0)
                return NULL;
        s->line++;
        buf[strcspn(buf, "\r\n")] = 0;
        p = buf;
        if (s->line == 1 && startswith(p, "\xEF\xBB\xBF"))
                p += 3; /* UTF-8 byte order mark */
        /* Leading whitespace would make inih treat the line as a continuation of the previous
         * value; systemd has no such rule, so strip it. */
        p = strstrip(p);
        str[0] = 0;
        if (strlen(p) > CONF_LINE_MAX) {
                set_syntax_error(s->file, s->line, "line too long");
                return str;
        }
        if (p[0] == 0 || strchr("#;", p[0]))
                return str;
        if (p[0] == '[') {
                if (!endswith(p, "]")) {
                        set_syntax_error(s->file, s->line, "section header without closing ']'");
                        s->bad_section = true;
                } else {
                        _cleanup_free_ char *h = strndup(p + 1, strlen(p) - 2);
                        if (!h || raw_file_add(s->file, strstrip(h), NULL, NULL, s->line) < 0)
                                s->error = -ENOMEM;
                        s->in_section = true;
                        s->bad_section = false;
                }
                return str;
        }
        eq = strchr(p, '=');
        if (!eq) {
                set_syntax_error(s->file, s->line, "expected 'Key=value' or '[Section]'");
                return str;
        }
        *eq = 0;
        s->key = strdup(strstrip(p));
        s->value = strdup(strstrip(eq + 1));
        if (!s->key || !s->value) {
                s->error = -ENOMEM;
                return str;
        }
        if (isempty(s->key)) {
                set_syntax_error(s->file, s->line, "expected 'Key=value' or '[Section]'");
                return str;
        }
        /* An assignment inih cannot misread; it calls the handler for it, in a section or not. */
        snprintf(str, num, "k=v\n");
        return str;
}

static int handler(void *user, const char *section, const char *name, const char *value) {
        ReaderState *s = user;
        const char *cur = NULL;

        if (!s->key || s->bad_section)
                return 1;
        /* the section is the last header we recorded */
        for (size_t i = s->file->n_entries; i > 0; i--)
                if (!s->file->entries[i - 1].key) {
                        cur = s->file->entries[i - 1].section;
                        break;
                }
        if (!s->in_section || !cur) {
                set_syntax_error(s->file, s->line, "assignment outside of any section");
                return 1;
        }
        if (raw_file_add(s->file, cur, s->key, s->value, s->line) < 0)
                s->error = -ENOMEM;
        return 1;
}

void raw_file_free(RawFile *f) {
        if (!f)
                return;
        for (size_t i = 0; i < f->n_entries; i++) {
                free(f->entries[i].section);
                free(f->entries[i].key);
                free(f->entries[i].value);
        }
        free(f->entries);
        free(f->path);
        free(f->error);
        free(f);
}

int raw_file_load(const char *path, RawFile **ret) {
        _cleanup_(raw_file_freep) RawFile *f = NULL;
        _cleanup_fclose_ FILE *fp = NULL;
        ReaderState s;
        int r;

        fp = fopen(path, "re");
        if (!fp)
                return -errno;
        f = calloc(1, sizeof(RawFile));
        if (!f)
                return -ENOMEM;
        f->path = strdup(path);
        if (!f->path)
                return -ENOMEM;

        s = (ReaderState) { .f = fp, .file = f };
        r = ini_parse_stream(reader, &s, handler, &s);
        free(s.key);
        free(s.value);
        if (s.error < 0)
                return s.error;
        if (r > 0)
                set_syntax_error(f, (unsigned) r, "syntax error");
        else if (r < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(f);
        return 0;
}
