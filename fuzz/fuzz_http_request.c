/*
 * fuzz_http_request: libFuzzer target for http/request. The first input
 * byte picks a chunking pattern and a body limit; the rest is one
 * connection's bytes. Each input is read twice, whole and in chunks: a
 * request that completes one way must complete the other, at the same
 * offset, with the same method, path, query, headers and body (errors may
 * differ in status, since limits can trip at different points). On DONE
 * every accessor is read and http_query_get / http_query_has /
 * http_bool_value run over the query; http_req_headers_done is checked
 * after every chunk (monotonic while the request is read, 1 when done, 0
 * once refused).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/request.h"

#include "fuzz_check.h"

static size_t next_chunk(unsigned mode, uint32_t *rng) {
    static const size_t fixed[] = {0, 1, 2, 3, 17, 256};
    if (mode < 6)
        return fixed[mode];
    *rng = *rng * 1103515245u + 12345u;
    return mode == 6 ? 1 + (*rng >> 16) % 8 : 1 + (*rng >> 16) % 512;
}

/* Feeds data in chunks until the request is done or refused; *consumed is
 * where the request ended (on DONE). */
static http_req_status_t feed(http_req_t *r, const uint8_t *data, size_t size, unsigned mode, uint32_t seed,
                              size_t *consumed) {
    http_req_status_t st = HTTP_REQ_MORE;
    uint32_t rng = seed;
    size_t off = 0;
    *consumed = 0;
    int head_done = 0;
    while (off < size && st == HTTP_REQ_MORE) {
        size_t n = next_chunk(mode, &rng), c = 0;
        if (n == 0 || n > size - off)
            n = size - off;
        st = http_req_feed(r, (const char *)data + off, n, &c);
        CHECK(c <= n);
        if (st == HTTP_REQ_MORE)
            CHECK(c == n);
        /* the connection's body deadline starts here: once the head is
         * done it stays done, and a refused request never is */
        int hd = http_req_headers_done(r);
        CHECK(hd == 0 || hd == 1);
        if (st != HTTP_REQ_ERROR)
            CHECK(hd >= head_done);
        else
            CHECK(hd == 0);
        head_done = hd;
        *consumed += c;
        off += n;
    }
    if (st == HTTP_REQ_DONE)
        CHECK(http_req_headers_done(r));
    return st;
}

static void read_query(const char *q) {
    static const char *const names[] = {"apikey", "vsn", "log_level", "token", "a", "private", ""};
    static const size_t sizes[] = {1, 4, 8, 64, 4096};
    static char out[4096];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        int has = http_query_has(q, names[i]);
        CHECK(has == 0 || has == 1);
        for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
            int n = http_query_get(q, names[i], out, sizes[k]);
            CHECK(n >= -1);
            if (n >= 0) {
                CHECK(has); /* what can be read is there */
                CHECK((size_t)n < sizes[k]);
                CHECK(strlen(out) == (size_t)n); /* no embedded NUL */
                /* the broadcast API's strict flag: exactly "true" or "false" */
                int b = http_bool_value(out);
                CHECK(b == -1 || (b == 1 && !strcmp(out, "true")) || (b == 0 && !strcmp(out, "false")));
            }
        }
    }
}

static void read_done(const http_req_t *r, size_t max_body) {
    CHECK(http_req_error_status(r) == 0);
    CHECK(strlen(http_req_method(r)) > 0);
    const char *path = http_req_path(r);
    CHECK(strlen(path) <= 4096);
    const char *q = http_req_query(r);
    CHECK(strlen(q) <= 4096);
    read_query(q);
    size_t blen = 0;
    const char *body = http_req_body(r, &blen);
    CHECK(body != NULL && blen <= max_body);
    static const char *const hs[] = {"host",           "upgrade",           "connection", "sec-websocket-key",
                                     "Content-Length", "transfer-encoding", "x-missing"};
    for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
        const char *v = http_req_header(r, hs[i]);
        if (v)
            CHECK(strlen(v) <= 8192);
    }
    CHECK(http_req_keep_alive(r) == 0 || http_req_keep_alive(r) == 1);
    CHECK(http_req_is_upgrade(r) == 0 || http_req_is_upgrade(r) == 1);
}

static int same_str(const char *a, const char *b) { return (a == NULL && b == NULL) || (a && b && !strcmp(a, b)); }

static void compare(const http_req_t *a, const http_req_t *b) {
    CHECK(!strcmp(http_req_method(a), http_req_method(b)));
    CHECK(!strcmp(http_req_path(a), http_req_path(b)));
    CHECK(!strcmp(http_req_query(a), http_req_query(b)));
    static const char *const hs[] = {"host",           "upgrade",           "connection",           "sec-websocket-key",
                                     "content-length", "transfer-encoding", "sec-websocket-version"};
    for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++)
        CHECK(same_str(http_req_header(a, hs[i]), http_req_header(b, hs[i])));
    size_t la = 0, lb = 0;
    const char *ba = http_req_body(a, &la), *bb = http_req_body(b, &lb);
    CHECK(la == lb && memcmp(ba, bb, la) == 0);
    CHECK(http_req_keep_alive(a) == http_req_keep_alive(b));
    CHECK(http_req_is_upgrade(a) == http_req_is_upgrade(b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    data++;
    size--;
    size_t max_body = (size_t)(sel >> 3) * 64; /* 0 .. 1984 */
    http_req_t *whole = http_req_new(max_body), *part = http_req_new(max_body);
    size_t cw = 0, cp = 0;
    http_req_status_t sw = feed(whole, data, size, 0, 0, &cw);
    http_req_status_t sp = feed(part, data, size, sel & 7, sel, &cp);

    CHECK((sw == HTTP_REQ_DONE) == (sp == HTTP_REQ_DONE));
    if (sw == HTTP_REQ_DONE) {
        CHECK(cw == cp && cw <= size);
        read_done(whole, max_body);
        read_done(part, max_body);
        compare(whole, part);
    }
    static const int statuses[] = {400, 405, 413, 414, 431};
    for (int k = 0; k < 2; k++) {
        const http_req_t *r = k ? part : whole;
        if ((k ? sp : sw) == HTTP_REQ_ERROR) {
            int s = http_req_error_status(r), ok = 0;
            for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
                ok |= s == statuses[i];
            CHECK(ok);
        }
    }
    http_req_free(whole);
    http_req_free(part);
    return 0;
}
