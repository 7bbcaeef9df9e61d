/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "string-util.h"
#include "strv.h"
#include "tests.h"

static void assert_split(const char *s, const char *const *expected) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;

        assert_int_equal(strv_split_quoted(s, &l), 0);
        for (; expected[n]; n++) {
                assert_non_null(l[n]);
                assert_string_equal(l[n], expected[n]);
        }
        assert_null(l[n]);
}

static void test_split_quoted(void **state) {
        _cleanup_strv_free_ char **l = NULL;

        assert_split("", (const char *[]){ NULL });
        assert_split("   \t ", (const char *[]){ NULL });
        assert_split("a", (const char *[]){ "a", NULL });
        assert_split("  a  b\tc ", (const char *[]){ "a", "b", "c", NULL });
        assert_split("sh -c \"while :; do date; done\"",
                     (const char *[]){ "sh", "-c", "while :; do date; done", NULL });
        assert_split("'single quoted' x", (const char *[]){ "single quoted", "x", NULL });
        assert_split("\"a \\\"b\\\" c\"", (const char *[]){ "a \"b\" c", NULL });
        assert_split("a\\ b", (const char *[]){ "a b", NULL });
        assert_split("pre\"fix suf\"fix", (const char *[]){ "prefix suffix", NULL });
        /* An empty quoted string is a word, as in systemd's extract_first_word(). */
        assert_split("\"\"", (const char *[]){ "", NULL });

        assert_int_equal(strv_split_quoted("\"unbalanced", &l), -EINVAL);
        assert_int_equal(strv_split_quoted("a 'b", &l), -EINVAL);
}

static void test_extend_contains_join(void **state) {
        _cleanup_strv_free_ char **l = NULL, **c = NULL;
        _cleanup_free_ char *j = NULL;

        assert_int_equal(strv_length(l), 0);
        assert_false(strv_contains(l, "a"));
        assert_int_equal(strv_extend(&l, "b"), 0);
        assert_int_equal(strv_extend(&l, "a"), 0);
        assert_int_equal(strv_consume(&l, strdup("c")), 0);
        assert_int_equal(strv_length(l), 3);
        assert_true(strv_contains(l, "a"));
        assert_false(strv_contains(l, "d"));

        j = strv_join(l, ", ");
        assert_string_equal(j, "b, a, c");

        c = strv_copy(l);
        assert_true(strv_equal(l, c));
        assert_int_equal(strv_sort(c), 0);
        assert_false(strv_equal(l, c));
        assert_string_equal(c[0], "a");
        assert_string_equal(c[1], "b");
        assert_string_equal(c[2], "c");
}

static void test_uniq_new(void **state) {
        _cleanup_strv_free_ char **l = strv_new("x", "y", "x", "z", "y");
        _cleanup_strv_free_ char **e = strv_new("x", "y", "z");
        _cleanup_free_ char *j = NULL;

        assert_non_null(l);
        strv_uniq(l);
        assert_true(strv_equal(l, e));
        assert_int_equal(strv_extend_strv(&l, e), 0);
        assert_int_equal(strv_length(l), 6);
        j = strv_join(l, " ");
        assert_string_equal(j, "x y z x y z");
}

/* shell_quote() round-trips through the word splitter that reads quoted words back */
static void test_shell_quote(void **state) {
        static const char *const words[] = { "plain", "a b", "it's", "", "$HOME `x` \\ \"q\"" };

        for (size_t i = 0; i < ELEMENTSOF(words); i++) {
                _cleanup_free_ char *q = shell_quote(words[i]);
                _cleanup_strv_free_ char **back = NULL;

                assert_non_null(q);
                assert_int_equal(q[0], '\'');
                /* an empty word quotes to '' — the splitter drops it, a shell keeps it */
                if (!*words[i]) {
                        assert_string_equal(q, "''");
                        continue;
                }
                assert_int_equal(strv_split_quoted(q, &back), 0);
                assert_int_equal(strv_length(back), 1);
                assert_string_equal(back[0], words[i]);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_shell_quote),
                cmocka_unit_test(test_split_quoted),
                cmocka_unit_test(test_extend_contains_join),
                cmocka_unit_test(test_uniq_new),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
