/*
 * Unit tests for rest/context: PostgREST's request.headers and
 * request.cookies as JSON — Cookie left out of the headers, names
 * lower-cased, the last repeated header winning, cookies split as
 * Web.Cookie splits them, bytes that are not UTF-8 replaced so the text is
 * always valid for PostgreSQL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "rest/context.h"

/* Parses text (which must be a JSON object) and compares it with the
 * expected JSON, key order aside. */
static void assert_json(char *text, const char *expected) {
    json_error_t err;
    json_t *got = json_loads(text, 0, &err);
    json_t *want = json_loads(expected, 0, &err);
    assert_non_null(got);
    assert_non_null(want);
    if (!json_equal(got, want))
        fail_msg("got %s, want %s", text, expected);
    json_decref(got);
    json_decref(want);
    free(text);
}

static void test_headers(void **state) {
    (void)state;
    http_header_t h[] = {
        {"authorization", "Bearer x.y.z"},
        {"Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
        {"cookie", "a=1"},
        {"x-dup", "first"},
        {"X-Dup", "second"},
        {"x-quote", "say \"hi\"\\"},
    };
    assert_json(rest_ctx_headers_json(h, sizeof(h) / sizeof(h[0])),
                "{\"authorization\":\"Bearer x.y.z\","
                "\"traceparent\":\"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\","
                "\"x-dup\":\"second\",\"x-quote\":\"say \\\"hi\\\"\\\\\"}");
    assert_json(rest_ctx_headers_json(NULL, 0), "{}");
}

static void test_headers_not_utf8(void **state) {
    (void)state;
    http_header_t h[] = {
        {"x-latin1", "caf\xe9"},                          /* a lone Latin-1 byte */
        {"x-overlong", "\xc0\xaf"},                       /* overlong '/' */
        {"x-surrogate", "\xed\xa0\x80"},                  /* U+D800 */
        {"x-ok", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"}, /* é € 😀 */
        {"x-cut", "ab\xe2\x82"},                          /* a sequence cut short */
    };
    assert_json(rest_ctx_headers_json(h, sizeof(h) / sizeof(h[0])),
                "{\"x-latin1\":\"caf\\ufffd\",\"x-overlong\":\"\\ufffd\\ufffd\","
                "\"x-surrogate\":\"\\ufffd\\ufffd\\ufffd\",\"x-ok\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\","
                "\"x-cut\":\"ab\\ufffd\\ufffd\"}");
}

static void test_cookies(void **state) {
    (void)state;
    assert_json(rest_ctx_cookies_json(NULL), "{}");
    assert_json(rest_ctx_cookies_json(""), "{}");
    assert_json(rest_ctx_cookies_json("sessionId=abc123; theme=dark"), "{\"sessionId\":\"abc123\",\"theme\":\"dark\"}");
    /* the first '=' splits; values are kept as sent (quotes, '=', blanks) */
    assert_json(rest_ctx_cookies_json("tok=a=b==;q=\"x y\";  sp = v "),
                "{\"tok\":\"a=b==\",\"q\":\"\\\"x y\\\"\",\"sp \":\" v \"}");
    /* no '=': a name with an empty value; empty names and pieces skipped */
    assert_json(rest_ctx_cookies_json("flag; =orphan;;x=1;"), "{\"flag\":\"\",\"x\":\"1\"}");
    /* a repeated name: the last wins; names keep their case */
    assert_json(rest_ctx_cookies_json("A=1; a=2; A=3"), "{\"A\":\"3\",\"a\":\"2\"}");
    assert_json(rest_ctx_cookies_json("n=caf\xe9"), "{\"n\":\"caf\\ufffd\"}");
}

static void test_cookies_many(void **state) {
    (void)state;
    /* as many pieces as an 8 KiB head can hold */
    char big[8192];
    size_t o = 0;
    for (int i = 0; o + 16 < sizeof(big); i++)
        o += (size_t)snprintf(big + o, sizeof(big) - o, "c%d=%d;", i, i);
    char *text = rest_ctx_cookies_json(big);
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    assert_true(json_object_size(j) > 500);
    assert_string_equal(json_string_value(json_object_get(j, "c7")), "7");
    json_decref(j);
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_headers_not_utf8),
        cmocka_unit_test(test_cookies),
        cmocka_unit_test(test_cookies_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
