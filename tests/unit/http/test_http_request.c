/*
 * Unit tests for http/request: the request reader's results must not depend
 * on how the bytes were split, it must stop exactly where the request ends,
 * and every limit must answer its status.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/request.h"

#define UPGRADE_REQ                                                                                                    \
    "GET /realtime/v1/websocket?apikey=abc%2Bdef%3D&vsn=1.0.0&log_level=info HTTP/1.1\r\n"                             \
    "Host: localhost:4000\r\n"                                                                                         \
    "Upgrade: websocket\r\n"                                                                                           \
    "Connection: Upgrade\r\n"                                                                                          \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"                                                                  \
    "Sec-WebSocket-Version: 13\r\n"                                                                                    \
    "X-Trailing:  spaced value  \r\n"                                                                                  \
    "\r\n"

/* A masked text frame "Hi" that follows the upgrade request on the wire. */
static const char WS_BYTES[] = "\x81\x82\x01\x02\x03\x04\x49\x6b";

static void check_upgrade_req(const http_req_t *r) {
    char out[64];
    assert_string_equal(http_req_method(r), "GET");
    assert_string_equal(http_req_path(r), "/realtime/v1/websocket");
    assert_string_equal(http_req_query(r), "apikey=abc%2Bdef%3D&vsn=1.0.0&log_level=info");
    assert_true(http_req_is_upgrade(r));
    assert_string_equal(http_req_header(r, "upgrade"), "websocket");
    assert_string_equal(http_req_header(r, "sec-websocket-key"), "dGhlIHNhbXBsZSBub25jZQ==");
    assert_string_equal(http_req_header(r, "x-trailing"), "spaced value");
    assert_int_equal(http_query_get(http_req_query(r), "apikey", out, sizeof(out)), 8);
    assert_string_equal(out, "abc+def=");
    assert_int_equal(http_query_get(http_req_query(r), "vsn", out, sizeof(out)), 5);
    assert_string_equal(out, "1.0.0");
    assert_int_equal(http_query_get(http_req_query(r), "log_level", out, sizeof(out)), 4);
    assert_string_equal(out, "info");
    size_t blen = 1;
    http_req_body(r, &blen);
    assert_int_equal(blen, 0);
}

static void test_upgrade_whole_with_trailing_ws_bytes(void **state) {
    (void)state;
    const size_t reqlen = sizeof(UPGRADE_REQ) - 1;
    char wire[sizeof(UPGRADE_REQ) + sizeof(WS_BYTES)];
    memcpy(wire, UPGRADE_REQ, reqlen);
    memcpy(wire + reqlen, WS_BYTES, sizeof(WS_BYTES) - 1);
    size_t total = reqlen + sizeof(WS_BYTES) - 1, consumed = 0;

    http_req_t *r = http_req_new(1024);
    assert_int_equal(http_req_feed(r, wire, total, &consumed), HTTP_REQ_DONE);
    assert_int_equal(consumed, reqlen); /* the frame is left for WebSocket */
    check_upgrade_req(r);
    assert_int_equal(http_req_error_status(r), 0);
    /* A finished request takes nothing more. */
    assert_int_equal(http_req_feed(r, wire + consumed, total - consumed, &consumed), HTTP_REQ_DONE);
    assert_int_equal(consumed, 0);
    http_req_free(r);
}

static void test_upgrade_split_everywhere(void **state) {
    (void)state;
    const size_t reqlen = sizeof(UPGRADE_REQ) - 1;
    char wire[sizeof(UPGRADE_REQ) + sizeof(WS_BYTES)];
    memcpy(wire, UPGRADE_REQ, reqlen);
    memcpy(wire + reqlen, WS_BYTES, sizeof(WS_BYTES) - 1);
    size_t total = reqlen + sizeof(WS_BYTES) - 1;

    for (size_t split = 0; split <= reqlen; split++) {
        http_req_t *r = http_req_new(1024);
        size_t c1 = 0, c2 = 0;
        http_req_status_t st = http_req_feed(r, wire, split, &c1);
        if (split < reqlen) {
            assert_int_equal(st, HTTP_REQ_MORE);
            assert_int_equal(c1, split);
            assert_int_equal(http_req_feed(r, wire + split, total - split, &c2), HTTP_REQ_DONE);
        } else {
            assert_int_equal(st, HTTP_REQ_DONE);
        }
        assert_int_equal(c1 + c2, reqlen);
        check_upgrade_req(r);
        http_req_free(r);
    }
}

static void test_upgrade_byte_by_byte(void **state) {
    (void)state;
    const size_t reqlen = sizeof(UPGRADE_REQ) - 1;
    http_req_t *r = http_req_new(1024);
    size_t c = 0;
    for (size_t i = 0; i < reqlen; i++) {
        http_req_status_t st = http_req_feed(r, &UPGRADE_REQ[i], 1, &c);
        assert_int_equal(st, i + 1 == reqlen ? HTTP_REQ_DONE : HTTP_REQ_MORE);
        assert_int_equal(c, 1);
    }
    check_upgrade_req(r);
    http_req_free(r);
}

static void test_post_content_length_pipelined(void **state) {
    (void)state;
    const char req[] = "POST /api/broadcast HTTP/1.1\r\n"
                       "Host: x\r\n"
                       "Content-Type: application/json\r\n"
                       "Content-Length: 13\r\n"
                       "\r\n"
                       "{\"a\":\"hello\"}";
    const char next[] = "GET / HTTP/1.1\r\n\r\n";
    char wire[sizeof(req) + sizeof(next)];
    memcpy(wire, req, sizeof(req) - 1);
    memcpy(wire + sizeof(req) - 1, next, sizeof(next) - 1);

    for (size_t split = 0; split < sizeof(req) - 1; split++) {
        http_req_t *r = http_req_new(64);
        size_t c1 = 0, c2 = 0, blen = 0;
        assert_int_equal(http_req_feed(r, wire, split, &c1), HTTP_REQ_MORE);
        assert_int_equal(http_req_feed(r, wire + split, sizeof(wire) - 1 - split, &c2), HTTP_REQ_DONE);
        assert_int_equal(c1 + c2, sizeof(req) - 1);
        assert_string_equal(http_req_method(r), "POST");
        assert_string_equal(http_req_path(r), "/api/broadcast");
        assert_string_equal(http_req_query(r), "");
        const char *body = http_req_body(r, &blen);
        assert_int_equal(blen, 13);
        assert_memory_equal(body, "{\"a\":\"hello\"}", 13);
        assert_true(http_req_keep_alive(r));
        assert_false(http_req_is_upgrade(r));
        http_req_free(r);
    }
}

static void test_post_chunked(void **state) {
    (void)state;
    const char req[] = "POST /api/broadcast HTTP/1.1\r\n"
                       "Transfer-Encoding: chunked\r\n"
                       "Connection: close\r\n"
                       "\r\n"
                       "5\r\nhello\r\n"
                       "6;ext=1\r\n world\r\n"
                       "0\r\n"
                       "\r\n";
    const char tail[] = "XYZ";
    char wire[sizeof(req) + sizeof(tail)];
    memcpy(wire, req, sizeof(req) - 1);
    memcpy(wire + sizeof(req) - 1, tail, sizeof(tail) - 1);
    size_t total = sizeof(req) - 1 + sizeof(tail) - 1;

    for (size_t split = 0; split < sizeof(req) - 1; split++) {
        http_req_t *r = http_req_new(11);
        size_t c1 = 0, c2 = 0, blen = 0;
        assert_int_equal(http_req_feed(r, wire, split, &c1), HTTP_REQ_MORE);
        assert_int_equal(http_req_feed(r, wire + split, total - split, &c2), HTTP_REQ_DONE);
        assert_int_equal(c1 + c2, sizeof(req) - 1);
        const char *body = http_req_body(r, &blen);
        assert_int_equal(blen, 11);
        assert_memory_equal(body, "hello world", 11);
        assert_false(http_req_keep_alive(r));
        http_req_free(r);
    }
}

/* Feeds s whole and expects an error with the given status. */
static void expect_error(const char *s, size_t len, size_t max_body, int status) {
    http_req_t *r = http_req_new(max_body);
    size_t c = 0;
    assert_int_equal(http_req_feed(r, s, len, &c), HTTP_REQ_ERROR);
    assert_int_equal(http_req_error_status(r), status);
    /* Errors are sticky. */
    assert_int_equal(http_req_feed(r, "GET / HTTP/1.1\r\n\r\n", 18, &c), HTTP_REQ_ERROR);
    http_req_free(r);
}

static void expect_done(const char *s, size_t len, size_t max_body) {
    http_req_t *r = http_req_new(max_body);
    size_t c = 0;
    assert_int_equal(http_req_feed(r, s, len, &c), HTTP_REQ_DONE);
    assert_int_equal(c, len);
    http_req_free(r);
}

static void test_malformed_400(void **state) {
    (void)state;
    const char *bad[] = {
        "GARBAGE\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        "GET / HTTP/1.x\r\n\r\n",
        "GET / HTTP/2.0\r\n\r\n",      /* only HTTP/1.x */
        "GET /a%00b HTTP/1.1\r\n\r\n", /* escaped NUL */
        "GET /a%zzb HTTP/1.1\r\n\r\n", /* not hex */
        "GET /a%4 HTTP/1.1\r\n\r\n",   /* truncated escape */
        "GET /a% HTTP/1.1\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_error(bad[i], strlen(bad[i]), 100, 400);
}

static void test_connect_405(void **state) {
    (void)state;
    const char *s = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
    expect_error(s, strlen(s), 100, 405);
}

static void test_path_decoding(void **state) {
    (void)state;
    const char s[] = "GET /a%20b/c%2Fd+e?x=%20+ HTTP/1.1\r\n\r\n";
    http_req_t *r = http_req_new(0);
    size_t c = 0;
    assert_int_equal(http_req_feed(r, s, sizeof(s) - 1, &c), HTTP_REQ_DONE);
    assert_string_equal(http_req_path(r), "/a b/c/d+e"); /* '+' is literal in a path */
    assert_string_equal(http_req_query(r), "x=%20+");    /* the query stays raw */
    http_req_free(r);
}

/* Builds a GET whose URL is exactly url_len bytes. */
static char *request_with_url(size_t url_len, size_t *len) {
    char *s = malloc(url_len + 64);
    assert_non_null(s);
    size_t n = 0;
    n += (size_t)sprintf(s, "GET /");
    memset(s + n, 'a', url_len - 1);
    n += url_len - 1;
    n += (size_t)sprintf(s + n, " HTTP/1.1\r\n\r\n");
    *len = n;
    return s;
}

static void test_url_limit_414(void **state) {
    (void)state;
    size_t len;
    char *ok = request_with_url(4096, &len);
    expect_done(ok, len, 0);
    free(ok);
    char *big = request_with_url(4097, &len);
    expect_error(big, len, 0, 414);
    free(big);
}

/* Builds a request whose head (request line to the blank line) is exactly
 * head bytes, padded through one header value. */
static char *request_with_head(size_t head, size_t *len) {
    char *s = malloc(head + 1);
    assert_non_null(s);
    const char *pre = "GET / HTTP/1.1\r\nX-Pad: ";
    size_t n = strlen(pre);
    memcpy(s, pre, n);
    size_t pad = head - n - 4;
    memset(s + n, 'p', pad);
    n += pad;
    memcpy(s + n, "\r\n\r\n", 4);
    *len = n + 4;
    return s;
}

static void test_head_limit_431(void **state) {
    (void)state;
    size_t len;
    char *ok = request_with_head(HTTP_MAX_HEAD, &len);
    assert_int_equal(len, HTTP_MAX_HEAD);
    expect_done(ok, len, 0);
    free(ok);
    char *big = request_with_head(HTTP_MAX_HEAD + 1, &len);
    expect_error(big, len, 0, 431);
    /* The same, fed byte by byte, never grows past the limit. */
    http_req_t *r = http_req_new(0);
    size_t c = 0;
    http_req_status_t st = HTTP_REQ_MORE;
    size_t i;
    for (i = 0; i < len && st == HTTP_REQ_MORE; i++)
        st = http_req_feed(r, big + i, 1, &c);
    assert_int_equal(st, HTTP_REQ_ERROR);
    assert_int_equal(i, HTTP_MAX_HEAD);
    assert_int_equal(http_req_error_status(r), 431);
    http_req_free(r);
    free(big);
}

static char *request_with_headers(int count, size_t *len) {
    char *s = malloc(64 + (size_t)count * 32);
    assert_non_null(s);
    size_t n = (size_t)sprintf(s, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < count; i++)
        n += (size_t)sprintf(s + n, "X-H%d: v%d\r\n", i, i);
    n += (size_t)sprintf(s + n, "\r\n");
    *len = n;
    return s;
}

static void test_header_count_431(void **state) {
    (void)state;
    size_t len;
    char *ok = request_with_headers(HTTP_MAX_HEADERS, &len);
    http_req_t *r = http_req_new(0);
    size_t c = 0;
    assert_int_equal(http_req_feed(r, ok, len, &c), HTTP_REQ_DONE);
    assert_string_equal(http_req_header(r, "x-h31"), "v31");
    http_req_free(r);
    free(ok);
    char *big = request_with_headers(HTTP_MAX_HEADERS + 1, &len);
    expect_error(big, len, 0, 431);
    free(big);
}

static void test_body_limit_413(void **state) {
    (void)state;
    const char *cl_ok = "POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd";
    expect_done(cl_ok, strlen(cl_ok), 4);
    /* Refused from the header alone, before the body arrives. */
    const char *cl = "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n";
    expect_error(cl, strlen(cl), 4, 413);
    const char *huge = "POST / HTTP/1.1\r\nContent-Length: 99999999999999\r\n\r\n";
    expect_error(huge, strlen(huge), 4, 413);
    const char *ch = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    expect_error(ch, strlen(ch), 4, 413);
    expect_done(ch, strlen(ch), 5);
}

static void test_headers_case_insensitive(void **state) {
    (void)state;
    const char s[] = "GET / HTTP/1.1\r\n"
                     "HOST: a.example\r\n"
                     "X-Dup: first\r\n"
                     "x-dup: second\r\n"
                     "X-Empty:\r\n"
                     "X-After: after\r\n"
                     "\r\n";
    /* Split everywhere so names and values arrive in pieces. */
    for (size_t split = 0; split < sizeof(s) - 1; split++) {
        http_req_t *r = http_req_new(0);
        size_t c = 0;
        http_req_feed(r, s, split, &c);
        assert_int_equal(http_req_feed(r, s + split, sizeof(s) - 1 - split, &c), HTTP_REQ_DONE);
        assert_string_equal(http_req_header(r, "host"), "a.example");
        assert_string_equal(http_req_header(r, "Host"), "a.example");
        assert_string_equal(http_req_header(r, "X-DUP"), "first");
        assert_string_equal(http_req_header(r, "x-empty"), "");
        assert_string_equal(http_req_header(r, "x-after"), "after");
        assert_null(http_req_header(r, "x-missing"));
        http_req_free(r);
    }
}

static void test_query_get(void **state) {
    (void)state;
    char out[16];
    const char *q = "a=1&b=x+y%21&empty=&flag&c%5Fd=k&a=2&nul=x%00y&bad=%zz%4";
    assert_int_equal(http_query_get(q, "a", out, sizeof(out)), 1);
    assert_string_equal(out, "1"); /* the first of repeated keys */
    assert_int_equal(http_query_get(q, "b", out, sizeof(out)), 4);
    assert_string_equal(out, "x y!");
    assert_int_equal(http_query_get(q, "empty", out, sizeof(out)), 0);
    assert_string_equal(out, "");
    assert_int_equal(http_query_get(q, "flag", out, sizeof(out)), 0);
    assert_int_equal(http_query_get(q, "c_d", out, sizeof(out)), 1); /* keys decode too */
    assert_string_equal(out, "k");
    assert_int_equal(http_query_get(q, "bad", out, sizeof(out)), 5); /* kept literally */
    assert_string_equal(out, "%zz%4");
    assert_int_equal(http_query_get(q, "nul", out, sizeof(out)), -1);
    assert_int_equal(http_query_get(q, "missing", out, sizeof(out)), -1);
    assert_int_equal(http_query_get(q, "fla", out, sizeof(out)), -1); /* no prefix match */
    assert_int_equal(http_query_get("", "a", out, sizeof(out)), -1);

    /* Too small: "x y!" needs 5 bytes with its NUL. */
    assert_int_equal(http_query_get(q, "b", out, 5), 4);
    assert_int_equal(http_query_get(q, "b", out, 4), -1);
    assert_int_equal(http_query_get(q, "b", out, 0), -1);
}

/* The head/body boundary the connection's deadlines switch on: not before
 * the blank line, at once after it (body still missing), and never for a
 * refused request. */
static void test_headers_done(void **state) {
    (void)state;
    const char req[] = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
    const size_t head = sizeof(req) - 1 - 5;
    for (size_t split = 0; split <= sizeof(req) - 1; split++) {
        http_req_t *r = http_req_new(64);
        size_t c = 0;
        assert_false(http_req_headers_done(r));
        http_req_status_t st = http_req_feed(r, req, split, &c);
        assert_int_equal(st, split == sizeof(req) - 1 ? HTTP_REQ_DONE : HTTP_REQ_MORE);
        assert_int_equal(http_req_headers_done(r), split >= head);
        if (st == HTTP_REQ_MORE) {
            assert_int_equal(http_req_feed(r, req + split, sizeof(req) - 1 - split, &c), HTTP_REQ_DONE);
            assert_true(http_req_headers_done(r));
        }
        http_req_free(r);
    }
    /* Byte by byte: false up to the last byte of the head, then true. */
    http_req_t *r = http_req_new(64);
    for (size_t i = 0; i < sizeof(req) - 1; i++) {
        size_t c = 0;
        http_req_feed(r, req + i, 1, &c);
        assert_int_equal(http_req_headers_done(r), i + 1 >= head);
    }
    http_req_free(r);
    /* A head the reader refuses (body too large) is not "done". */
    r = http_req_new(4);
    size_t c = 0;
    assert_int_equal(http_req_feed(r, req, head, &c), HTTP_REQ_ERROR);
    assert_int_equal(http_req_error_status(r), 413);
    assert_false(http_req_headers_done(r));
    http_req_free(r);
    r = http_req_new(64);
    const char bad[] = "GET / HTTP/1.1\r\nBad Header\r\n\r\n";
    assert_int_equal(http_req_feed(r, bad, sizeof(bad) - 1, &c), HTTP_REQ_ERROR);
    assert_false(http_req_headers_done(r));
    http_req_free(r);
}

static void test_query_has(void **state) {
    (void)state;
    char out[8];
    const char *q = "a=1&flag&private="
                    "0123456789abcdef"
                    "&nul=x%00y&c%5Fd=k&empty=";
    assert_true(http_query_has(q, "a"));
    assert_true(http_query_has(q, "flag"));
    assert_true(http_query_has(q, "c_d")); /* keys decode */
    assert_true(http_query_has(q, "empty"));
    /* present, though http_query_get cannot read it */
    assert_true(http_query_has(q, "private"));
    assert_int_equal(http_query_get(q, "private", out, sizeof(out)), -1);
    assert_true(http_query_has(q, "nul"));
    assert_int_equal(http_query_get(q, "nul", out, sizeof(out)), -1);
    assert_false(http_query_has(q, "missing"));
    assert_false(http_query_has(q, "fla"));
    assert_false(http_query_has(q, "privat"));
    assert_false(http_query_has("", "a"));
    assert_false(http_query_has(NULL, "a"));
    assert_false(http_query_has(q, NULL));
}

static void test_bool_value(void **state) {
    (void)state;
    assert_int_equal(http_bool_value("true"), 1);
    assert_int_equal(http_bool_value("false"), 0);
    const char *no[] = {"", "1", "0", "TRUE", "True", "yes", "on", "true ", " true", "falsey", "t", "f"};
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        assert_int_equal(http_bool_value(no[i]), -1);
    assert_int_equal(http_bool_value(NULL), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upgrade_whole_with_trailing_ws_bytes),
        cmocka_unit_test(test_upgrade_split_everywhere),
        cmocka_unit_test(test_upgrade_byte_by_byte),
        cmocka_unit_test(test_post_content_length_pipelined),
        cmocka_unit_test(test_post_chunked),
        cmocka_unit_test(test_malformed_400),
        cmocka_unit_test(test_connect_405),
        cmocka_unit_test(test_path_decoding),
        cmocka_unit_test(test_url_limit_414),
        cmocka_unit_test(test_head_limit_431),
        cmocka_unit_test(test_header_count_431),
        cmocka_unit_test(test_body_limit_413),
        cmocka_unit_test(test_headers_case_insensitive),
        cmocka_unit_test(test_query_get),
        cmocka_unit_test(test_headers_done),
        cmocka_unit_test(test_query_has),
        cmocka_unit_test(test_bool_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
