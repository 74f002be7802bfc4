/*
 * Unit tests for cdc/pglike: LIKE and ILIKE answers (wildcards, escapes,
 * UTF-8 characters for '_', ASCII-only folding, backtracking to the last
 * '%'), the trailing-escape check, and the work budget: units charged,
 * a sharp cut, and linear cost on the patterns that make naive matchers
 * exponential.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cdc/pglike.h"

static int like(const char *t, const char *p, int fold) {
    uint64_t left = UINT64_MAX;
    int r = pglike_match(t, strlen(t), p, strlen(p), fold, &left);
    assert_true(r == 0 || r == 1);
    return r;
}

static void test_answers(void **state) {
    (void)state;
    static const struct {
        const char *t, *p;
        int fold, want;
    } c[] = {
        {"hello", "hello", 0, 1},
        {"hello", "h%", 0, 1},
        {"hello", "%lo", 0, 1},
        {"hello", "%l%", 0, 1},
        {"hello", "h_llo", 0, 1},
        {"hello", "h_lo", 0, 0},
        {"hello", "HELLO", 0, 0},
        {"hello", "HELLO", 1, 1},
        {"HeLLo", "%ll%", 1, 1},
        {"", "", 0, 1},
        {"", "%", 0, 1},
        {"", "_", 0, 0},
        {"a", "", 0, 0},
        {"100%", "100\\%", 0, 1},
        {"1000", "100\\%", 0, 0},
        {"a_b", "a\\_b", 0, 1},
        {"axb", "a\\_b", 0, 0},
        {"a\\b", "a\\\\b", 0, 1},
        {"\xc3\xa9t\xc3\xa9", "_t_", 0, 1}, /* '_' is one character, not one byte */
        {"\xc3\xa9t\xc3\xa9", "__t__", 0, 0},
        {"\xc3\x89T\xc3\x89", "\xc3\xa9t\xc3\xa9", 1, 0}, /* folding is ASCII only */
        {"abcabcabd", "%abd", 0, 1},
        {"abcabcabd", "%abc", 0, 0},
        {"mississippi", "%iss%ipp%", 0, 1},
        {"aaa", "%a%a%a%", 0, 1},
        {"aa", "%a%a%a%", 0, 0},
        {"xAbx", "%ab%", 1, 1},
        {"ab", "a%%%b", 0, 1},
        {"abc", "%_c", 0, 1},
        {"c", "%_c", 0, 0},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        int r = like(c[i].t, c[i].p, c[i].fold);
        if (r != c[i].want)
            fail_msg("\"%s\" %s \"%s\": %d, wanted %d", c[i].t, c[i].fold ? "ILIKE" : "LIKE", c[i].p, r, c[i].want);
    }
}

static void test_escape_check(void **state) {
    (void)state;
    assert_true(pglike_ends_with_escape("abc\\", 4));
    assert_true(pglike_ends_with_escape("\\", 1));
    assert_true(pglike_ends_with_escape("a\\\\\\", 4));
    assert_false(pglike_ends_with_escape("abc\\\\", 5));
    assert_false(pglike_ends_with_escape("a\\%", 3));
    assert_false(pglike_ends_with_escape("", 0));
}

static void test_budget(void **state) {
    (void)state;
    /* exact cut: with the units an unlimited run spends it answers */
    const char *t = "the quick brown fox jumps over the lazy dog", *p = "%o%e%z%";
    uint64_t left = UINT64_MAX;
    assert_int_equal(pglike_match(t, strlen(t), p, strlen(p), 0, &left), 1);
    uint64_t used = UINT64_MAX - left;
    assert_true(used > 0 && used < 200);
    left = used;
    assert_int_equal(pglike_match(t, strlen(t), p, strlen(p), 0, &left), 1);
    assert_int_equal(left, 0);
    left = used - 1;
    assert_int_equal(pglike_match(t, strlen(t), p, strlen(p), 0, &left), -1);
    assert_int_equal(left, 0);

    /* 512 KiB of 'a': "%a%a%a%b" is linear, "%aaa...b" text x pattern */
    size_t n = 512 * 1024;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, 'a', n);
    left = UINT64_MAX;
    assert_int_equal(pglike_match(big, n, "%a%a%a%b", 8, 0, &left), 0);
    used = UINT64_MAX - left;
    assert_true(used >= n / 2 && used <= 8 * (uint64_t)n);
    char pat[42];
    pat[0] = '%';
    memset(pat + 1, 'a', 40);
    pat[41] = 'b';
    left = UINT64_MAX;
    assert_int_equal(pglike_match(big, n, pat, sizeof pat, 0, &left), 0);
    used = UINT64_MAX - left;
    assert_true(used <= 42 * (uint64_t)n + 42);
    left = 1000;
    assert_int_equal(pglike_match(big, n, pat, sizeof pat, 1, &left), -1);
    assert_int_equal(left, 0);
    free(big);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_escape_check),
        cmocka_unit_test(test_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
