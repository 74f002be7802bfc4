/*
 * Unit tests for cdc/pgjson through its resolver interface: the element
 * types of arrays come from the caller (asked once per array or vector,
 * unknown ones are strings), arrays nest and convert element by element, the
 * nesting limit and malformed array text fall back to one JSON string
 * (nothing half-written stays), box's ';' delimiter, bounds prefixes,
 * vectors, and the scalar rewrites (floats in numeric notation, timestamps
 * in XSD form, json spliced only when valid, strings always valid UTF-8).
 * test_pgoutput covers the same rules through pgo_value_json.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdc/pgjson.h"
#include "cdc/pgtype.h"

/* A resolver over a few made-up OIDs; counts its calls. */
enum { T_INT = 1, T_TEXT, T_BOOL, T_INTARR, T_BOX, T_BOXARR, T_FLOAT, T_TSTZ, T_JSON, T_VEC, T_SELF };

typedef struct {
    int calls;
} res_t;

static pgjson_type_t resolve(const void *ctx, uint32_t oid) {
    ((res_t *)(uintptr_t)ctx)->calls++;
    switch (oid) {
    case T_INT: return (pgjson_type_t){PGTYPE_NUM, 0};
    case T_BOOL: return (pgjson_type_t){PGTYPE_BOOL, 0};
    case T_INTARR: return (pgjson_type_t){PGTYPE_ARRAY, T_INT};
    case T_BOXARR: return (pgjson_type_t){PGTYPE_ARRAY, 603};
    case T_FLOAT: return (pgjson_type_t){PGTYPE_FLOAT, 0};
    case T_TSTZ: return (pgjson_type_t){PGTYPE_TSTZ, 0};
    case T_JSON: return (pgjson_type_t){PGTYPE_JSON, 0};
    case T_VEC: return (pgjson_type_t){PGTYPE_VECTOR, T_INT};
    case T_SELF: return (pgjson_type_t){PGTYPE_ARRAY, T_SELF}; /* an array of itself: depth must stop it */
    default: return (pgjson_type_t){PGTYPE_STRING, 0};
    }
}

static void conv(uint8_t json, uint32_t elem, const char *text, const char *want, int want_calls) {
    res_t r = {0};
    buf_t *b = buf_new(16);
    buf_append(&b, "<", 1); /* what precedes must survive a rollback */
    pgjson_value((pgjson_type_t){json, elem}, text, strlen(text), resolve, &r, &b);
    if (b->len - 1 != strlen(want) || memcmp(b->data + 1, want, b->len - 1) != 0)
        fail_msg("[%s]: got [%.*s], wanted [%s]", text, (int)b->len - 1, (const char *)b->data + 1, want);
    assert_int_equal(b->data[0], '<');
    if (want_calls >= 0)
        assert_int_equal(r.calls, want_calls);
    buf_unref(b);
}

static void test_scalars(void **state) {
    (void)state;
    conv(PGTYPE_STRING, 0, "a\"b\\c\n\x01", "\"a\\\"b\\\\c\\n\\u0001\"", 0);
    conv(PGTYPE_STRING, 0, "\xe2\x82\xac \xe2\x82 \xed\xa0\x80",
         "\"\xe2\x82\xac \\ufffd\\ufffd \\ufffd\\ufffd\\ufffd\"", 0);
    conv(PGTYPE_BOOL, 0, "t", "true", 0);
    conv(PGTYPE_BOOL, 0, "true", "\"true\"", 0); /* output text is t/f only */
    conv(PGTYPE_NUM, 0, "-12.50", "-12.50", 0);
    conv(PGTYPE_NUM, 0, "NaN", "\"NaN\"", 0);
    conv(PGTYPE_NUM, 0, "+1", "\"+1\"", 0);
    conv(PGTYPE_FLOAT, 0, "-1.25e-3", "-0.00125", 0);
    conv(PGTYPE_FLOAT, 0, "12e2", "1200", 0);
    conv(PGTYPE_FLOAT, 0, "-0", "0", 0);
    conv(PGTYPE_FLOAT, 0, "+1", "\"+1\"", 0);
    conv(PGTYPE_FLOAT, 0, "1e1001", "\"1e1001\"", 0);
    conv(PGTYPE_FLOAT, 0, " 1", "\" 1\"", 0);
    conv(PGTYPE_FLOAT, 0, "Infinity", "\"Infinity\"", 0);
    conv(PGTYPE_JSON, 0, " [1, {\"a\": null}] ", " [1, {\"a\": null}] ", 0);
    conv(PGTYPE_JSON, 0, "[1,]", "\"[1,]\"", 0);
    conv(PGTYPE_JSON, 0, "01", "\"01\"", 0);
    conv(PGTYPE_TS, 0, "2024-01-01 10:00:00", "\"2024-01-01T10:00:00\"", 0);
    conv(PGTYPE_TSTZ, 0, "2024-01-01 10:00:00-03", "\"2024-01-01T10:00:00-03:00\"", 0);
    conv(PGTYPE_TSTZ, 0, "-infinity", "\"-infinity\"", 0);
    conv(PGTYPE_STRING, 0, "", "\"\"", 0);

    /* deep json nests on the heap, not the stack */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 1);
    assert_non_null(deep);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = '\0';
    res_t r = {0};
    buf_t *b = buf_new(16);
    pgjson_value((pgjson_type_t){PGTYPE_JSON, 0}, deep, 2 * depth, resolve, &r, &b);
    assert_int_equal(b->len, 2 * depth);
    buf_unref(b);
    free(deep);
}

static void test_arrays(void **state) {
    (void)state;
    conv(PGTYPE_ARRAY, T_INT, "{1,2,NULL}", "[1,2,null]", 1); /* the element type: once per array */
    conv(PGTYPE_ARRAY, T_INT, "{}", "[]", 1);
    conv(PGTYPE_ARRAY, T_INT, "{{1,2},{3,4}}", "[[1,2],[3,4]]", 1);
    conv(PGTYPE_ARRAY, T_INT, "[0:1]={5,6}", "[5,6]", 1);
    conv(PGTYPE_ARRAY, T_INT, "{1, x}", "[1,\"x\"]", 1); /* an element that is not its type's text */
    conv(PGTYPE_ARRAY, T_TEXT, "{\"a,b\",\"q\\\"x\",\"NULL\",\"\"}", "[\"a,b\",\"q\\\"x\",\"NULL\",\"\"]", 1);
    conv(PGTYPE_ARRAY, T_TEXT, "{a\\,b}", "[\"a,b\"]", 1);
    conv(PGTYPE_ARRAY, T_BOOL, "{t,f}", "[true,false]", 1);
    conv(PGTYPE_ARRAY, T_FLOAT, "{1e+2,NaN}", "[100,\"NaN\"]", 1);
    conv(PGTYPE_ARRAY, T_TSTZ, "{\"2024-01-01 10:00:00+00\"}", "[\"2024-01-01T10:00:00+00:00\"]", 1);
    conv(PGTYPE_ARRAY, T_JSON, "{\"{\\\"a\\\": 1}\",null}", "[{\"a\": 1},null]", 1);
    conv(PGTYPE_ARRAY, 603, "{(1,1),(0,0);(2,2),(1,1)}", "[\"(1,1),(0,0)\",\"(2,2),(1,1)\"]", 1);
    conv(PGTYPE_ARRAY, T_VEC, "{\"1 2\",\"3\"}", "[[1,2],[3]]", 3); /* the array's, each vector's */
    conv(PGTYPE_ARRAY, T_INTARR, "{\"{1,2}\"}", "[[1,2]]", 2);      /* an element whose type is an array */
    conv(PGTYPE_VECTOR, T_INT, " 1  2 3", "[1,2,3]", 1);
    conv(PGTYPE_VECTOR, T_INT, "", "[]", 1);
    /* malformed: the text as one string, nothing of the array left */
    conv(PGTYPE_ARRAY, T_INT, "{1,2", "\"{1,2\"", -1);
    conv(PGTYPE_ARRAY, T_INT, "{1,2} x", "\"{1,2} x\"", -1);
    conv(PGTYPE_ARRAY, T_INT, "[0:1]{1,2}", "\"[0:1]{1,2}\"", -1);
    conv(PGTYPE_ARRAY, T_INT, "{{1},2,}", "\"{{1},2,}\"", -1);
    conv(PGTYPE_ARRAY, T_INT, "", "\"\"", -1);
    /* at most 8 levels, however they come: nested lists or element types */
    conv(PGTYPE_ARRAY, T_INT, "{{{{{{{{1}}}}}}}}", "[[[[[[[[1]]]]]]]]", 1);
    conv(PGTYPE_ARRAY, T_INT, "{{{{{{{{{1}}}}}}}}}", "\"{{{{{{{{{1}}}}}}}}}\"", -1);
    conv(PGTYPE_ARRAY, T_SELF, "{\"{\\\"{}\\\"}\"}", "[[[]]]", 3);
    conv(PGTYPE_ARRAY, T_SELF, "{{{{{{{\"{x}\"}}}}}}}", "[[[[[[[[\"x\"]]]]]]]]", 2);     /* 8th level: "{x}" */
    conv(PGTYPE_ARRAY, T_SELF, "{{{{{{{{\"{x}\"}}}}}}}}", "[[[[[[[[\"{x}\"]]]]]]]]", 1); /* 9th: a string */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_arrays),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
