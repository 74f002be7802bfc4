/*
 * util/pct: each rule on its own (escapes, '+', strict vs literal '%',
 * NUL refusal, the output bound), then the three callers' flag sets on the
 * inputs their own tests pin, so a change here shows up as the rule it
 * breaks rather than as a routing or PostgREST failure.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "util/pct.h"

/* Decodes the C string s; returns the status, the output in out. */
static pct_status_t dec(const char *s, unsigned flags, char *out, size_t outlen, size_t *len) {
    return pct_decode(s, strlen(s), flags, out, outlen, len);
}

static void escapes(void **state) {
    (void)state;
    char out[64];
    size_t n = 99;
    assert_int_equal(dec("a%20b%2Fc%2fd", 0, out, sizeof out, &n), PCT_OK);
    assert_string_equal(out, "a b/c/d");
    assert_int_equal(n, 7);
    assert_int_equal(dec("%C3%A9", 0, out, sizeof out, &n), PCT_OK); /* bytes, not code points */
    assert_string_equal(out, "\xc3\xa9");
    assert_int_equal(dec("%41", 0, out, sizeof out, &n), PCT_OK); /* an escape that ends the input */
    assert_string_equal(out, "A");
    assert_int_equal(dec("%2541", 0, out, sizeof out, &n), PCT_OK); /* decoded once, never twice */
    assert_string_equal(out, "%41");
    assert_int_equal(dec("", 0, out, sizeof out, &n), PCT_OK);
    assert_string_equal(out, "");
    assert_int_equal(n, 0);
}

static void plus(void **state) {
    (void)state;
    char out[64];
    assert_int_equal(dec("a+b%2B", 0, out, sizeof out, NULL), PCT_OK);
    assert_string_equal(out, "a+b+");
    assert_int_equal(dec("a+b%2B", PCT_PLUS_SPACE, out, sizeof out, NULL), PCT_OK);
    assert_string_equal(out, "a b+"); /* an escaped '+' stays a '+' */
}

static void malformed_escapes(void **state) {
    (void)state;
    static const char *const bad[] = {"%", "a%", "%4", "a%4", "%zz", "%4z", "%z4", "%%41", "x%+1"};
    static const char *const kept[] = {"%", "a%", "%4", "a%4", "%zz", "%4z", "%z4", "%A", "x% 1"};
    char out[64];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(dec(bad[i], PCT_STRICT, out, sizeof out, NULL), PCT_E_ESCAPE);
        /* literal: the '%' stays, the bytes after it are read as usual */
        assert_int_equal(dec(bad[i], PCT_PLUS_SPACE, out, sizeof out, NULL), PCT_OK);
        assert_string_equal(out, kept[i]);
    }
}

static void nul_is_refused(void **state) {
    (void)state;
    char out[64];
    for (unsigned flags = 0; flags < 4; flags++) {
        assert_int_equal(dec("a%00b", flags, out, sizeof out, NULL), PCT_E_NUL);
        assert_int_equal(pct_decode("a\0b", 3, flags, out, sizeof out, NULL), PCT_E_NUL);
        assert_null(pct_decode_dup("%00", 3, flags, NULL));
    }
    /* the first problem met wins */
    assert_int_equal(dec("%00%zz", PCT_STRICT, out, sizeof out, NULL), PCT_E_NUL);
    assert_int_equal(dec("%zz%00", PCT_STRICT, out, sizeof out, NULL), PCT_E_ESCAPE);
}

static void bounded(void **state) {
    (void)state;
    char out[8];
    size_t n = 99;
    memset(out, 'x', sizeof out);
    assert_int_equal(dec("abcd", 0, out, 5, &n), PCT_OK); /* 4 bytes and the NUL fit */
    assert_string_equal(out, "abcd");
    memset(out, 'x', sizeof out);
    n = 99;
    assert_int_equal(dec("abcde", 0, out, 5, &n), PCT_E_SPACE);
    assert_int_equal(n, 99);                                      /* untouched on a refusal */
    assert_int_equal(out[5], 'x');                                /* nothing written past outlen */
    assert_int_equal(dec("%41%42%43%44", 0, out, 5, &n), PCT_OK); /* the bound is on the output */
    assert_string_equal(out, "ABCD");
    assert_int_equal(dec("", 0, out, 0, &n), PCT_E_SPACE); /* not even room for the NUL */
    assert_int_equal(dec("", 0, out, 1, &n), PCT_OK);
}

static void dup_owns_its_result(void **state) {
    (void)state;
    size_t n;
    char *s = pct_decode_dup("a%20b+c", 7, PCT_PLUS_SPACE, &n);
    assert_non_null(s);
    assert_string_equal(s, "a b c");
    assert_int_equal(n, 5);
    free(s);
    s = pct_decode_dup("a%2", 3, 0, NULL); /* a literal '%' still fits in n + 1 */
    assert_string_equal(s, "a%2");
    free(s);
    assert_null(pct_decode_dup("a%2", 3, PCT_STRICT, NULL));
}

/* The callers' flag sets on their own tests' inputs. */
static void callers(void **state) {
    (void)state;
    char out[64];
    /* http/request, the path: strict, '+' is itself */
    char *p = pct_decode_dup("/a%20b/c%2Fd+e", 14, PCT_STRICT, NULL);
    assert_string_equal(p, "/a b/c/d+e");
    free(p);
    assert_null(pct_decode_dup("/a%zzb", 6, PCT_STRICT, NULL));
    assert_null(pct_decode_dup("/a%4", 4, PCT_STRICT, NULL));
    /* http/request, query values and rest/query_url, parameters: '+' is a
     * space, a malformed '%' is kept */
    assert_int_equal(dec("x+y%21", PCT_PLUS_SPACE, out, sizeof out, NULL), PCT_OK);
    assert_string_equal(out, "x y!");
    assert_int_equal(dec("%zz%4", PCT_PLUS_SPACE, out, sizeof out, NULL), PCT_OK);
    assert_string_equal(out, "%zz%4");
    assert_int_equal(dec("a+b%2Bc", PCT_PLUS_SPACE, out, sizeof out, NULL), PCT_OK);
    assert_string_equal(out, "a b+c");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escapes),        cmocka_unit_test(plus),    cmocka_unit_test(malformed_escapes),
        cmocka_unit_test(nul_is_refused), cmocka_unit_test(bounded), cmocka_unit_test(dup_owns_its_result),
        cmocka_unit_test(callers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
