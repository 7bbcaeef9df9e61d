/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The tokenizer: line numbers, systemd's syntax rather than inih's defaults. */
#include "conf-parser.h"
#include "string-util.h"
#include "tests.h"

static RawFile *load(const char *root, const char *contents) {
        _cleanup_free_ char *p = test_path(root, "/f.conf");
        RawFile *f = NULL;

        test_write(root, "/f.conf", contents);
        assert_int_equal(raw_file_load(p, &f), 0);
        return f;
}

static void assert_entry(const RawFile *f, size_t i, const char *section, const char *key, const char *value,
                         unsigned line) {
        assert_true(i < f->n_entries);
        assert_string_equal(f->entries[i].section, section);
        if (key) {
                assert_non_null(f->entries[i].key);
                assert_string_equal(f->entries[i].key, key);
                assert_string_equal(f->entries[i].value, value);
        } else
                assert_null(f->entries[i].key);
        assert_int_equal(f->entries[i].line, line);
}

static void test_entries_and_lines(void **state) {
        _cleanup_(raw_file_freep) RawFile *f = load(*state,
                                                    "# comment\n"
                                                    "; another comment\n"
                                                    "\n"
                                                    "[Job]\n"
                                                    "Description = spaced out  \n"
                                                    "   Hosts=a b\n"
                                                    "Empty=\n"
                                                    "[Guest  vm1 ]\n"
                                                    "Memory=1G\n");

        assert_int_equal(f->error_line, 0);
        assert_int_equal(f->n_entries, 6);
        assert_entry(f, 0, "Job", NULL, NULL, 4);
        assert_entry(f, 1, "Job", "Description", "spaced out", 5);
        assert_entry(f, 2, "Job", "Hosts", "a b", 6);
        assert_entry(f, 3, "Job", "Empty", "", 7);
        assert_entry(f, 4, "Guest  vm1", NULL, NULL, 8);
        assert_entry(f, 5, "Guest  vm1", "Memory", "1G", 9);
}

/* Bug: Debian's inih cut values at " ;" (inline comments) and split keys at ':'. */
static void test_no_inline_comments(void **state) {
        _cleanup_(raw_file_freep) RawFile *f = load(*state,
                                                    "[Migration m]\n"
                                                    "Workload=sh -c \"a ; b\" # not a comment\n"
                                                    "Description=x ; y\n"
                                                    "A:B=c=d\n");

        assert_int_equal(f->error_line, 0);
        assert_int_equal(f->n_entries, 4);
        assert_entry(f, 1, "Migration m", "Workload", "sh -c \"a ; b\" # not a comment", 2);
        assert_entry(f, 2, "Migration m", "Description", "x ; y", 3);
        assert_entry(f, 3, "Migration m", "A:B", "c=d", 4);
}

/* Bug: lines were limited to inih's 200-byte buffer. */
static void test_long_lines(void **state) {
        _cleanup_free_ char *contents = NULL, *value = NULL;
        _cleanup_(raw_file_freep) RawFile *f = NULL;
        size_t n = 60000;

        value = malloc(n + 1);
        assert_non_null(value);
        memset(value, 'x', n);
        value[n] = 0;
        contents = strjoin("[Guest g]\nKernelCommandLine=", value, "\nMemory=1G\n");
        assert_non_null(contents);
        f = load(*state, contents);
        assert_int_equal(f->error_line, 0);
        assert_int_equal(f->n_entries, 3);
        assert_entry(f, 1, "Guest g", "KernelCommandLine", value, 2);
        assert_entry(f, 2, "Guest g", "Memory", "1G", 3);
}

static void test_too_long_line(void **state) {
        _cleanup_free_ char *contents = NULL;
        _cleanup_(raw_file_freep) RawFile *f = NULL;
        size_t n = 70000;

        contents = malloc(n + 64);
        assert_non_null(contents);
        strcpy(contents, "[Job]\nDescription=");
        memset(contents + strlen(contents), 'x', n);
        strcpy(contents + strlen("[Job]\nDescription=") + n, "\nHosts=a\n");
        f = load(*state, contents);
        assert_int_equal(f->error_line, 2);
        assert_string_equal(f->error, "line too long");
        /* the rest of the file is still read */
        assert_entry(f, f->n_entries - 1, "Job", "Hosts", "a", 3);
}

static void test_crlf_bom(void **state) {
        _cleanup_(raw_file_freep) RawFile *f = load(*state, "\xEF\xBB\xBF[Job]\r\nDescription=dos\r\n");

        assert_int_equal(f->error_line, 0);
        assert_int_equal(f->n_entries, 2);
        assert_entry(f, 0, "Job", NULL, NULL, 1);
        assert_entry(f, 1, "Job", "Description", "dos", 2);
}

static void test_no_trailing_newline(void **state) {
        _cleanup_(raw_file_freep) RawFile *f = load(*state, "[Job]\nDescription=last");

        assert_int_equal(f->error_line, 0);
        assert_entry(f, 1, "Job", "Description", "last", 2);
}

static void test_syntax_errors(void **state) {
        const struct {
                const char *contents;
                unsigned line;
                const char *error;
        } cases[] = {
                { "[Job]\nno equals sign\n", 2, "expected 'Key=value' or '[Section]'" },
                { "[Job]\n=value\n", 2, "expected 'Key=value' or '[Section]'" },
                { "Key=value\n[Job]\n", 1, "assignment outside of any section" },
                { "\n\n[Job\nKey=value\n", 3, "section header without closing ']'" },
                { "[Job]\n[Nested\nEnable=yes\n[Job]\nBad line\n", 2, "section header without closing ']'" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(raw_file_freep) RawFile *f = load(*state, cases[i].contents);
                assert_int_equal(f->error_line, cases[i].line);
                assert_string_equal(f->error, cases[i].error);
        }
}

/* The assignments of a malformed section header are not attributed to the previous section. */
static void test_bad_header_skips_its_keys(void **state) {
        _cleanup_(raw_file_freep) RawFile *f =
                load(*state, "[Job]\nA=1\n[Nested\nEnable=yes\n[Guest g]\nB=2\n");

        assert_int_equal(f->error_line, 3);
        assert_int_equal(f->n_entries, 4);
        assert_entry(f, 1, "Job", "A", "1", 2);
        assert_entry(f, 2, "Guest g", NULL, NULL, 5);
        assert_entry(f, 3, "Guest g", "B", "2", 6);
}

static void test_unreadable(void **state) {
        _cleanup_free_ char *p = test_path(*state, "/missing.conf");
        RawFile *f = NULL;

        assert_int_equal(raw_file_load(p, &f), -ENOENT);
        assert_null(f);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, test_root_setup, test_root_teardown)
        const struct CMUnitTest tests[] = {
                T(test_entries_and_lines), T(test_no_inline_comments),
                T(test_long_lines),        T(test_too_long_line),
                T(test_crlf_bom),          T(test_no_trailing_newline),
                T(test_syntax_errors),     T(test_bad_header_skips_its_keys),
                T(test_unreadable),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
