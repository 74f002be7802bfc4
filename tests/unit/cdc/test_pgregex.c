/*
 * Unit tests for cdc/pgrxparse and cdc/pgregex: the tree the parser builds
 * (flags, sets, bounds), every refusal with PostgreSQL's message, match
 * answers for the ARE features accepted (anchors and newline modes,
 * classes, brackets, escapes, bounds, word constraints, case folding,
 * directors, UTF-8), and the matcher's budget: exact cut, linear work on
 * nested repetitions, overrun bounded by one position.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdc/pgregex.h"
#include "cdc/pgrxparse.h"

static void test_tree(void **state) {
    (void)state;
    pgrx_t rx;
    const char *err = NULL;
    assert_int_equal(pgrx_parse("(?n)a{2,3}|[^b-dx\\d[:space:]]", 29, 0, &rx, &err), 0);
    assert_int_equal(rx.icase, 0);
    assert_int_equal(rx.nlstop, 1);
    assert_int_equal(rx.nlanchor, 1);
    const pgrx_node_t *root = &rx.nodes[rx.root];
    assert_int_equal(root->kind, PGRX_ALT);
    const pgrx_node_t *left = &rx.nodes[root->first]; /* CAT of one REP */
    assert_int_equal(left->kind, PGRX_CAT);
    const pgrx_node_t *rep = &rx.nodes[left->first];
    assert_int_equal(rep->kind, PGRX_REP);
    assert_int_equal(rep->min, 2);
    assert_int_equal(rep->max, 3);
    assert_int_equal(rx.nodes[rep->first].kind, PGRX_CHAR);
    assert_int_equal(rx.nodes[rep->first].c, 'a');
    assert_int_equal(rx.nsets, 1);
    assert_int_equal(rx.sets[0].neg, 1);
    assert_int_equal(rx.sets[0].classes, PGRX_CC_DIGIT | PGRX_CC_SPACE);
    assert_int_equal(rx.sets[0].nr, 2);
    assert_int_equal(rx.ranges[rx.sets[0].r0].lo, 'b');
    assert_int_equal(rx.ranges[rx.sets[0].r0].hi, 'd');
    assert_int_equal(rx.ranges[rx.sets[0].r0 + 1].lo, 'x');
    pgrx_free(&rx);
    pgrx_free(&rx); /* emptied: freeing again is harmless */

    /* ~* folds, and [:upper:] means alpha then */
    assert_int_equal(pgrx_parse("[[:upper:]]", 11, 1, &rx, &err), 0);
    assert_int_equal(rx.icase, 1);
    assert_int_equal(rx.sets[0].classes, PGRX_CC_ALPHA);
    pgrx_free(&rx);
    /* ***= takes the rest literally */
    assert_int_equal(pgrx_parse("***=a.(", 7, 0, &rx, &err), 0);
    assert_int_equal(rx.nodes[rx.root].kind, PGRX_CAT);
    assert_int_equal(rx.nn, 4);
    assert_int_equal(rx.nodes[rx.nodes[rx.root].last].c, '(');
    pgrx_free(&rx);
}

static void assert_refused(const char *pat, const char *want) {
    const char *err = NULL;
    pgregex_t *re = pgregex_compile(pat, strlen(pat), 0, &err);
    if (re) {
        pgregex_free(re);
        fail_msg("/%s/ compiled, wanted \"%s\"", pat, want);
    }
    if (strcmp(err, want) != 0)
        fail_msg("/%s/: \"%s\", wanted \"%s\"", pat, err, want);
    pgrx_t rx;
    const char *err2 = NULL;
    int rc = pgrx_parse(pat, strlen(pat), 0, &rx, &err2);
    if (strcmp(want, "regular expression is too complex") == 0 && rc == 0) {
        pgrx_free(&rx); /* a program-size limit, not a syntax error */
        return;
    }
    assert_int_equal(rc, -1);
    assert_string_equal(err2, want);
    assert_null(rx.nodes);
}

static void test_refusals(void **state) {
    (void)state;
    assert_refused("(a", "parentheses () not balanced");
    assert_refused("a)", "parentheses () not balanced");
    assert_refused("[a", "brackets [] not balanced");
    assert_refused("[[:alpha:]", "brackets [] not balanced");
    assert_refused("a{2", "braces {} not balanced");
    assert_refused("a{3,2}", "invalid repetition count(s)");
    assert_refused("a{256}", "invalid repetition count(s)");
    assert_refused("*a", "quantifier operand invalid");
    assert_refused("a**", "quantifier operand invalid");
    assert_refused("^*", "quantifier operand invalid");
    assert_refused("{1}", "quantifier operand invalid");
    assert_refused("(\\1)", "back-references and octal escapes are not supported");
    assert_refused("\\0", "back-references and octal escapes are not supported");
    assert_refused("a(?=b)", "lookahead and lookbehind constraints are not supported");
    assert_refused("a(?<!b)", "lookahead and lookbehind constraints are not supported");
    assert_refused("(?x)a", "regular expression options b, e and x are not supported");
    assert_refused("(?z)a", "invalid embedded option");
    assert_refused("(?i", "invalid embedded option");
    assert_refused("(?#x)", "invalid embedded option");
    assert_refused("[[.a.]]", "collating elements and equivalence classes are not supported");
    assert_refused("[[=a=]]", "collating elements and equivalence classes are not supported");
    assert_refused("[[:nope:]]", "invalid character class");
    assert_refused("[z-a]", "invalid character range");
    assert_refused("[a-\\d]", "invalid character range");
    assert_refused("[\\d-z]", "invalid character range");
    assert_refused("\\q", "invalid escape \\ sequence");
    assert_refused("\\x", "invalid escape \\ sequence");
    assert_refused("\\u12", "invalid escape \\ sequence");
    assert_refused("\\x110000", "invalid escape \\ sequence");
    assert_refused("a\\", "invalid escape \\ sequence");
    char deep[200];
    memset(deep, '(', 65);
    memset(deep + 65, ')', 65);
    deep[130] = '\0';
    assert_refused(deep, "regular expression is too complex");
    assert_refused("(a{255}){255}", "regular expression is too complex");
    assert_refused("(((){255}){255}){255}", "regular expression is too complex"); /* emits nothing, forever */
}

static int rmatch(const char *pat, int icase, const char *text) {
    const char *err = NULL;
    pgregex_t *re = pgregex_compile(pat, strlen(pat), icase, &err);
    if (!re)
        fail_msg("/%s/ refused: %s", pat, err);
    uint64_t left = UINT64_MAX;
    int r = pgregex_exec(re, text, strlen(text), &left);
    assert_true(r == 0 || r == 1);
    assert_true(left < UINT64_MAX); /* every evaluation costs something */
    pgregex_free(re);
    return r;
}

static void test_answers(void **state) {
    (void)state;
    static const struct {
        const char *pat;
        int icase;
        const char *text;
        int want;
    } c[] = {
        {"abc", 0, "xxabcxx", 1},
        {"^abc", 0, "xxabc", 0},
        {"abc$", 0, "xxabc", 1},
        {"^$", 0, "", 1},
        {"", 0, "anything", 1},
        {"a|b|c", 0, "zzc", 1},
        {"colou?r", 0, "color", 1},
        {"^a{2,3}$", 0, "aaaa", 0},
        {"^a{2,3}$", 0, "aaa", 1},
        {"^a{2,}$", 0, "aaaaaaa", 1},
        {"^a{2}$", 0, "a", 0},
        {"^(ab)+$", 0, "ababab", 1},
        {"^(ab)*?$", 0, "", 1},
        {"[0-9]+", 0, "abc", 0},
        {"[^a-c]", 0, "abc", 0},
        {"\\d\\s\\w", 0, "1 x", 1},
        {"^\\D+$", 0, "abc", 1},
        {"[\\D]", 0, "123", 0},
        {"[[:alpha:]_]+$", 0, "a_b", 1},
        {"[[:punct:]]", 0, "abc", 0},
        {"\\mfoo\\M", 0, "a foo b", 1},
        {"\\mfoo\\M", 0, "afoob", 0},
        {"\\yfoo\\y", 0, "(foo)", 1},
        {"o\\Y", 0, "foo", 1},
        {"\\Afoo\\Z", 0, "foo", 1},
        {"\\Afoo", 0, "xfoo", 0},
        {"ABC", 1, "xabcx", 1},
        {"[A-C]+", 1, "abc", 1},
        {"(?i)abc", 0, "ABC", 1},
        {"(?c)abc", 1, "ABC", 0},
        {"[[:lower:]]", 1, "ABC", 1},
        {"\\x41", 0, "A", 1},
        {"\\u00e9", 0, "\xc3\xa9", 1},
        {"^.$", 0, "\xc3\xa9", 1},
        {"^..$", 0, "\xc3\xa9", 0},
        {"^[\xc3\xa0-\xc3\xbf]$", 0, "\xc3\xa9", 1},
        {"^\xc3\xa9$", 1, "\xc3\x89", 0},
        {"a.c", 0, "a\nc", 1},
        {"(?n)a.c", 0, "a\nc", 0},
        {"(?n)^b", 0, "a\nb", 1},
        {"^b", 0, "a\nb", 0},
        {"(?p)^b", 0, "a\nb", 0},
        {"(?w)^b", 0, "a\nb", 1},
        {"(?w)a.c", 0, "a\nc", 1},
        {"(?n)a[^x]c", 0, "a\nc", 0},
        {"***=a.c", 0, "abc", 0},
        {"***=a.c", 0, "xa.cx", 1},
        {"***:(?i)A", 0, "a", 1},
        {"(?q)a+", 0, "aa+", 1},
        {"a\\.b", 0, "a.b", 1},
        {"a\\.b", 0, "axb", 0},
        {"\\e\\t", 0, "\x1b\t", 1},
        {"\\cA", 0, "\x01", 1},
        {"[\\]]", 0, "]", 1},
        {"[]a]", 0, "]", 1},
        {"[a-]", 0, "-", 1},
        {"x{0}y", 0, "y", 1},
        {"(a|ab)(c|bcd)(d*)$", 0, "abcd", 1},
        {"^(a+)+$", 0, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", 0},
        {"\xff", 0, "a\xff", 1}, /* an invalid byte is a character of its own */
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        int r = rmatch(c[i].pat, c[i].icase, c[i].text);
        if (r != c[i].want)
            fail_msg("/%s/%s on \"%s\": %d, wanted %d", c[i].pat, c[i].icase ? "i" : "", c[i].text, r, c[i].want);
    }
}

static void test_budget(void **state) {
    (void)state;
    const char *err = NULL;
    pgregex_t *re = pgregex_compile("\\m(urgent|asap)\\M", 17, 1, &err);
    assert_non_null(re);
    const char *t = "please handle this ASAP, thanks";
    uint64_t left = UINT64_MAX;
    assert_int_equal(pgregex_exec(re, t, strlen(t), &left), 1);
    uint64_t used = UINT64_MAX - left;
    left = used;
    assert_int_equal(pgregex_exec(re, t, strlen(t), &left), 1);
    assert_int_equal(left, 0);
    left = used - 1;
    assert_int_equal(pgregex_exec(re, t, strlen(t), &left), -1);
    assert_int_equal(left, 0);
    pgregex_free(re);

    /* nested repetition over 512 KiB: linear, and a small budget stops it */
    size_t n = 512 * 1024;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, 'a', n);
    re = pgregex_compile("^(a+)+$", 7, 0, &err);
    assert_non_null(re);
    left = UINT64_MAX;
    assert_int_equal(pgregex_exec(re, big, n, &left), 1);
    used = UINT64_MAX - left;
    assert_true(used >= n && used <= 32 * (uint64_t)n);
    left = 2000000;
    big[n - 1] = 'b';
    assert_int_equal(pgregex_exec(re, big, n, &left), -1);
    assert_int_equal(left, 0);
    pgregex_free(re);

    /* a start character nowhere in the text: skipped at one unit a byte */
    re = pgregex_compile("zq", 2, 0, &err);
    assert_non_null(re);
    left = UINT64_MAX;
    assert_int_equal(pgregex_exec(re, big, n, &left), 0);
    used = UINT64_MAX - left;
    assert_true(used >= n && used <= n + 8);
    pgregex_free(re);
    free(big);
    pgregex_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
