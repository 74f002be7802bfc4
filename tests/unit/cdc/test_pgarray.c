/*
 * Unit tests for cdc/pgarray: the events a visitor sees for array text
 * (nesting, indexes, quoting, escapes, unquoted NULL, spaces), the
 * delimiter, the nesting limit, a callback's refusal, every syntax error,
 * and unescaping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cdc/pgarray.h"

/* A visitor that writes what it sees: "(" per open (with level:index),
 * ")" per close (with items), elements as [text] with flags E and N. */
typedef struct {
    char log[1024];
    size_t n;
    int refuse_level; /* open of this level returns -1 */
} rec_t;

static void logf_(rec_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(rec_t *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(r->log + r->n, sizeof r->log - r->n, fmt, ap);
    va_end(ap);
    if (k > 0)
        r->n += (size_t)k;
}

static int rec_open(void *ctx, int level, size_t index) {
    rec_t *r = ctx;
    logf_(r, "(%d:%zu", level, index);
    return level == r->refuse_level ? -1 : 0;
}

static int rec_elem(void *ctx, int level, size_t index, const char *s, size_t n, unsigned flags) {
    rec_t *r = ctx;
    logf_(r, " %d:%zu[%.*s]%s%s", level, index, (int)n, s, flags & PGARRAY_ESCAPED ? "E" : "",
          flags & PGARRAY_NULL ? "N" : "");
    return 0;
}

static int rec_close(void *ctx, int level, size_t items) {
    rec_t *r = ctx;
    logf_(r, " )%d/%zu", level, items);
    return 0;
}

static const pgarray_visitor_t REC = {rec_open, rec_elem, rec_close};

/* Scans text; want NULL: must fail. */
static void scan(const char *text, char delim, int max_levels, const char *want, size_t want_end) {
    rec_t r = {.n = 0};
    size_t i = 0;
    int rc = pgarray_scan(text, strlen(text), &i, delim, max_levels, &REC, &r);
    if (!want) {
        if (rc == 0)
            fail_msg("\"%s\" accepted: %s", text, r.log);
        return;
    }
    if (rc != 0)
        fail_msg("\"%s\" refused: %s", text, r.log);
    if (strcmp(r.log, want) != 0)
        fail_msg("\"%s\": got \"%s\", wanted \"%s\"", text, r.log, want);
    assert_int_equal(i, want_end);
}

static void test_events(void **state) {
    (void)state;
    scan("{}", ',', 6, "(1:0 )1/0", 2);
    scan("{ } tail", ',', 6, "(1:0 )1/0", 3);
    scan("{1,2,3}", ',', 6, "(1:0 1:0[1] 1:1[2] 1:2[3] )1/3", 7);
    scan("{ a b , c }", ',', 6, "(1:0 1:0[a b] 1:1[c] )1/2", 11);
    scan("{{1,2},{3}}", ',', 6, "(1:0(2:0 2:0[1] 2:1[2] )2/2(2:1 2:0[3] )2/1 )1/2", 11);
    scan("{{},{}}", ',', 6, "(1:0(2:0 )2/0(2:1 )2/0 )1/2", 7); /* shapes are the visitor's */
    scan("{NULL,null,\"NULL\",NULL\\ ,nulls}", ',', 6,
         "(1:0 1:0[NULL]N 1:1[null]N 1:2[NULL] 1:3[NULL\\ ]E 1:4[nulls] )1/5", 31);
    scan("{\"a,b\",\"q\\\"x\",\"\"}", ',', 6, "(1:0 1:0[a,b] 1:1[q\\\"x]E 1:2[] )1/3", 17);
    scan("{a\\,b,c\\\\}", ',', 6, "(1:0 1:0[a\\,b]E 1:1[c\\\\]E )1/2", 10);
    scan("{ \"x\" , y }", ',', 6, "(1:0 1:0[x] 1:1[y] )1/2", 11);
    scan("{(1,2),(3,4);(5,6),(7,8)}", ';', 6, "(1:0 1:0[(1,2),(3,4)] 1:1[(5,6),(7,8)] )1/2", 25);
    scan("{a\t\n}", ',', 6, "(1:0 1:0[a] )1/1", 5);
}

static void test_errors(void **state) {
    (void)state;
    static const char *const bad[] = {
        "",       "x",     " {}",       "{",        "{1",     "{1,",       "{1,}", "{,1}",
        "{1,,2}", "{\"a}", "{\"a\\\"}", "{a\"b\"}", "{a{b}}", "{\"a\" b}", "{a\\",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        scan(bad[k], ',', 6, NULL, 0);
    scan("{1}}", ',', 6, "(1:0 1:0[1] )1/1", 3); /* what follows the list is the caller's */
    /* nesting: max_levels lists deep at most */
    scan("{{{1}}}", ',', 3, "(1:0(2:0(3:0 3:0[1] )3/1 )2/1 )1/1", 7);
    scan("{{{1}}}", ',', 2, NULL, 0);
    scan("{}", ',', 0, NULL, 0);
    /* a refusal stops the scan */
    rec_t r = {.refuse_level = 2};
    size_t i = 0;
    assert_int_equal(pgarray_scan("{1,{2}}", 7, &i, ',', 6, &REC, &r), -1);
    assert_string_equal(r.log, "(1:0 1:0[1](2:1");
    assert_int_equal(i, 0); /* *ip moves only on success */
    /* open and close may be left out */
    pgarray_visitor_t only_elem = {NULL, rec_elem, NULL};
    rec_t r2 = {.n = 0};
    i = 0;
    assert_int_equal(pgarray_scan("{{a},{b}}", 9, &i, ',', 6, &only_elem, &r2), 0);
    assert_string_equal(r2.log, " 2:0[a] 2:0[b]");
    /* the length bounds the scan, not a NUL */
    rec_t r3 = {.n = 0};
    i = 0;
    assert_int_equal(pgarray_scan("{ab}", 3, &i, ',', 6, &REC, &r3), -1);
}

static void test_unescape(void **state) {
    (void)state;
    char out[32];
    assert_int_equal(pgarray_unescape("a\\,b\\\\c\\\"", 9, out), 6);
    assert_memory_equal(out, "a,b\\c\"", 6);
    assert_int_equal(pgarray_unescape("plain", 5, out), 5);
    assert_memory_equal(out, "plain", 5);
    assert_int_equal(pgarray_unescape("end\\", 4, out), 4); /* a lone trailing backslash is kept */
    assert_memory_equal(out, "end\\", 4);
    assert_int_equal(pgarray_unescape("", 0, out), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_unescape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
