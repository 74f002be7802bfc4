/*
 * Unit tests for ws/frame: the RFC 6455 section 5.7 examples, every close
 * code the parser can answer, independence from how bytes are chunked,
 * incremental UTF-8 across fragments, the zero-copy and no-idle-heap
 * promises, and the encoders.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws/frame.h"

/* ------------------------------------------------------------------ */
/* A recorder: every callback appends an event; the log can be compared. */

enum { EV_MSG = 1, EV_PING, EV_PONG, EV_CLOSE };

typedef struct {
    int type, opcode;
    uint16_t code;
    uint8_t *data;
    size_t len;
    int in_input; /* data pointed into the fed chunk (zero copy) */
} event_t;

typedef struct {
    event_t ev[64];
    int n;
    int stop_after; /* a callback returns non-zero once n reaches this; 0 = never */
    const uint8_t *chunk;
    size_t chunk_len;
} rec_t;

static int record(rec_t *r, int type, int opcode, uint16_t code, const void *d, size_t len) {
    assert_true(r->n < 64);
    event_t *e = &r->ev[r->n++];
    e->type = type;
    e->opcode = opcode;
    e->code = code;
    e->len = len;
    e->data = malloc(len + 1);
    assert_non_null(e->data);
    if (len)
        memcpy(e->data, d, len);
    e->in_input = r->chunk && (const uint8_t *)d >= r->chunk && (const uint8_t *)d < r->chunk + r->chunk_len;
    return r->stop_after && r->n >= r->stop_after;
}

static int on_message(void *ud, int opcode, uint8_t *data, size_t len) {
    return record(ud, EV_MSG, opcode, 0, data, len);
}
static int on_ping(void *ud, const uint8_t *data, size_t len) { return record(ud, EV_PING, 0, 0, data, len); }
static int on_pong(void *ud, const uint8_t *data, size_t len) { return record(ud, EV_PONG, 0, 0, data, len); }
static int on_close(void *ud, uint16_t code, const char *reason, size_t len) {
    return record(ud, EV_CLOSE, 0, code, reason, len);
}

static const ws_parser_cb_t CB = {on_message, on_ping, on_pong, on_close};

static void rec_reset(rec_t *r) {
    for (int i = 0; i < r->n; i++)
        free(r->ev[i].data);
    memset(r, 0, sizeof(*r));
}

/* Feeds a private copy of wire (the parser unmasks in place) in chunks of
 * `chunk` bytes (0 = whole). Returns the first non-OK result, or OK. */
static int feed_chunked(ws_parser_t *p, const uint8_t *wire, size_t n, size_t chunk, rec_t *r) {
    uint8_t *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, wire, n);
    if (chunk == 0)
        chunk = n ? n : 1;
    int rc = WS_PARSE_OK;
    for (size_t off = 0; off < n && rc == WS_PARSE_OK; off += chunk) {
        size_t len = n - off < chunk ? n - off : chunk;
        r->chunk = copy + off;
        r->chunk_len = len;
        rc = ws_parser_feed(p, copy + off, len, &CB, r);
    }
    r->chunk = NULL;
    free(copy);
    return rc;
}

/* One-shot: a fresh parser, feed, free. */
static int parse(const uint8_t *wire, size_t n, uint32_t max, size_t chunk, rec_t *r) {
    ws_parser_t p;
    ws_parser_init(&p, max);
    int rc = feed_chunked(&p, wire, n, chunk, r);
    ws_parser_free(&p);
    return rc;
}

/* A masked client frame with a chosen first byte (FIN, RSV, opcode). */
static size_t frame(uint8_t *out, uint8_t b0, const void *payload, size_t len) {
    size_t n = ws_frame_encode_client(out, b0 & 0x0F, payload, len, 0x37fa213d);
    out[0] = b0;
    return n;
}

#define FIN 0x80

/* ------------------------------------------------------------------ */
/* RFC 6455 section 5.7 */

static const uint8_t RFC_MASKED_HELLO[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};

static void test_rfc_single_masked_text(void **state) {
    (void)state;
    rec_t r = {0};
    assert_int_equal(parse(RFC_MASKED_HELLO, sizeof(RFC_MASKED_HELLO), 1024, 0, &r), WS_PARSE_OK);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.ev[0].type, EV_MSG);
    assert_int_equal(r.ev[0].opcode, WS_OP_TEXT);
    assert_int_equal(r.ev[0].len, 5);
    assert_memory_equal(r.ev[0].data, "Hello", 5);
    assert_true(r.ev[0].in_input); /* delivered in place, not copied */
    rec_reset(&r);
}

static void test_rfc_unmasked_examples_rejected(void **state) {
    (void)state;
    /* The RFC's unmasked frames are server frames; from a client, 1002. */
    const uint8_t hello[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    const uint8_t frag[] = {0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f};
    const uint8_t ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    rec_t r = {0};
    assert_int_equal(parse(hello, sizeof(hello), 1024, 0, &r), WS_CLOSE_PROTOCOL);
    assert_int_equal(parse(frag, sizeof(frag), 1024, 0, &r), WS_CLOSE_PROTOCOL);
    assert_int_equal(parse(ping, sizeof(ping), 1024, 1, &r), WS_CLOSE_PROTOCOL);
    assert_int_equal(r.n, 0);
}

static void test_rfc_fragmented_text_with_ping_between(void **state) {
    (void)state;
    uint8_t wire[64];
    size_t n = frame(wire, WS_OP_TEXT, "Hel", 3);
    n += frame(wire + n, FIN | WS_OP_PING, "p", 1);
    n += frame(wire + n, FIN | WS_OP_CONT, "lo", 2);
    for (size_t chunk = 0; chunk <= n; chunk++) {
        rec_t r = {0};
        assert_int_equal(parse(wire, n, 1024, chunk, &r), WS_PARSE_OK);
        assert_int_equal(r.n, 2);
        assert_int_equal(r.ev[0].type, EV_PING);
        assert_memory_equal(r.ev[0].data, "p", 1);
        assert_int_equal(r.ev[1].type, EV_MSG);
        assert_int_equal(r.ev[1].opcode, WS_OP_TEXT);
        assert_int_equal(r.ev[1].len, 5);
        assert_memory_equal(r.ev[1].data, "Hello", 5);
        rec_reset(&r);
    }
}

static void test_rfc_ping_pong(void **state) {
    (void)state;
    /* RFC: "Masked Pong response". */
    const uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    uint8_t wire[64];
    size_t n = frame(wire, FIN | WS_OP_PING, "Hello", 5);
    memcpy(wire + n, pong, sizeof(pong));
    n += sizeof(pong);
    rec_t r = {0};
    assert_int_equal(parse(wire, n, 0, 0, &r), WS_PARSE_OK); /* control frames ignore max */
    assert_int_equal(r.n, 2);
    assert_int_equal(r.ev[0].type, EV_PING);
    assert_memory_equal(r.ev[0].data, "Hello", 5);
    assert_int_equal(r.ev[1].type, EV_PONG);
    assert_memory_equal(r.ev[1].data, "Hello", 5);
    rec_reset(&r);
}

static void check_binary(size_t len, const uint8_t *expect_hdr, size_t hdr_len) {
    uint8_t *payload = malloc(len), *wire = malloc(len + 14);
    assert_non_null(payload);
    assert_non_null(wire);
    for (size_t i = 0; i < len; i++)
        payload[i] = (uint8_t)(i * 7 + 3);
    size_t n = frame(wire, FIN | WS_OP_BINARY, payload, len);
    assert_int_equal(n, hdr_len + 4 + len);
    assert_memory_equal(wire, expect_hdr, hdr_len);
    const size_t chunks[] = {0, 1, 1000};
    for (size_t c = 0; c < 3; c++) {
        rec_t r = {0};
        assert_int_equal(parse(wire, n, 1 << 20, chunks[c], &r), WS_PARSE_OK);
        assert_int_equal(r.n, 1);
        assert_int_equal(r.ev[0].opcode, WS_OP_BINARY);
        assert_int_equal(r.ev[0].len, len);
        assert_memory_equal(r.ev[0].data, payload, len);
        /* Delivered from the caller's chunk unless the frame was split. */
        assert_int_equal(r.ev[0].in_input, chunks[c] == 0 || n <= chunks[c]);
        rec_reset(&r);
    }
    free(payload);
    free(wire);
}

static void test_rfc_binary_256_and_64k(void **state) {
    (void)state;
    const uint8_t h256[] = {0x82, 0xFE, 0x01, 0x00};
    check_binary(256, h256, sizeof(h256));
    const uint8_t h64k[] = {0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0};
    check_binary(65536, h64k, sizeof(h64k));
}

/* ------------------------------------------------------------------ */
/* Chunking independence */

static void assert_same_log(const rec_t *a, const rec_t *b) {
    assert_int_equal(a->n, b->n);
    for (int i = 0; i < a->n; i++) {
        assert_int_equal(a->ev[i].type, b->ev[i].type);
        assert_int_equal(a->ev[i].opcode, b->ev[i].opcode);
        assert_int_equal(a->ev[i].code, b->ev[i].code);
        assert_int_equal(a->ev[i].len, b->ev[i].len);
        if (a->ev[i].len)
            assert_memory_equal(a->ev[i].data, b->ev[i].data, a->ev[i].len);
    }
}

static void test_byte_by_byte_equals_whole(void **state) {
    (void)state;
    size_t big = 70000;
    uint8_t *wire = malloc(big + 1024), *blob = malloc(big);
    assert_non_null(wire);
    assert_non_null(blob);
    for (size_t i = 0; i < big; i++)
        blob[i] = (uint8_t)(i ^ (i >> 8));
    size_t n = 0;
    n += frame(wire + n, FIN | WS_OP_TEXT, "{\"topic\":\"phoenix\"}", 19);
    n += frame(wire + n, WS_OP_BINARY, blob, 300);
    n += frame(wire + n, FIN | WS_OP_PING, "", 0);
    n += frame(wire + n, WS_OP_CONT, "", 0);
    n += frame(wire + n, FIN | WS_OP_CONT, blob + 300, 5);
    n += frame(wire + n, FIN | WS_OP_PONG, "pp", 2);
    n += frame(wire + n, FIN | WS_OP_TEXT, "", 0);
    n += frame(wire + n, FIN | WS_OP_BINARY, blob, big);
    n += frame(wire + n, FIN | WS_OP_TEXT, "caf\xc3\xa9", 5);
    n += frame(wire + n, FIN | WS_OP_CLOSE,
               "\x03\xe8"
               "bye",
               5);
    n += frame(wire + n, FIN | WS_OP_TEXT, "ignored", 7); /* after close */

    rec_t whole = {0};
    assert_int_equal(parse(wire, n, 1 << 20, 0, &whole), WS_PARSE_OK);
    assert_int_equal(whole.n, 8);
    assert_int_equal(whole.ev[7].type, EV_CLOSE);
    assert_int_equal(whole.ev[7].code, 1000);
    const size_t chunks[] = {1, 2, 3, 5, 13, 64, 301, 4096};
    for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        rec_t r = {0};
        assert_int_equal(parse(wire, n, 1 << 20, chunks[c], &r), WS_PARSE_OK);
        assert_same_log(&whole, &r);
        rec_reset(&r);
    }
    rec_reset(&whole);
    free(wire);
    free(blob);
}

/* ------------------------------------------------------------------ */
/* Protocol errors */

/* Expects code whether the bytes come whole or one at a time. */
static void expect_code(const uint8_t *wire, size_t n, uint32_t max, int code) {
    rec_t r = {0};
    assert_int_equal(parse(wire, n, max, 0, &r), code);
    rec_reset(&r);
    assert_int_equal(parse(wire, n, max, 1, &r), code);
    rec_reset(&r);
}

static void test_rsv_and_opcodes(void **state) {
    (void)state;
    uint8_t wire[32];
    for (uint8_t rsv = 0x10; rsv <= 0x40; rsv <<= 1) {
        size_t n = frame(wire, FIN | rsv | WS_OP_TEXT, "x", 1);
        expect_code(wire, n, 100, WS_CLOSE_PROTOCOL);
    }
    const uint8_t bad_ops[] = {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF};
    for (size_t i = 0; i < sizeof(bad_ops); i++) {
        size_t n = frame(wire, FIN | bad_ops[i], "x", 1);
        expect_code(wire, n, 100, WS_CLOSE_PROTOCOL);
    }
}

static void test_unmasked(void **state) {
    (void)state;
    uint8_t wire[32];
    size_t n = frame(wire, FIN | WS_OP_BINARY, "abc", 3);
    wire[1] &= 0x7F;
    expect_code(wire, n, 100, WS_CLOSE_PROTOCOL);
}

static void test_control_frame_rules(void **state) {
    (void)state;
    uint8_t wire[256], payload[126] = {0};
    /* 125 is the most a control frame may carry. */
    size_t n = frame(wire, FIN | WS_OP_PING, payload, 125);
    expect_code(wire, n, 0, WS_PARSE_OK);
    n = frame(wire, FIN | WS_OP_PING, payload, 126);
    expect_code(wire, n, 0, WS_CLOSE_PROTOCOL);
    const uint8_t ctl[] = {WS_OP_PING, WS_OP_PONG, WS_OP_CLOSE};
    for (size_t i = 0; i < 3; i++) {
        n = frame(wire, ctl[i], "", 0); /* FIN clear */
        expect_code(wire, n, 0, WS_CLOSE_PROTOCOL);
    }
}

static void test_fragmentation_rules(void **state) {
    (void)state;
    uint8_t wire[64];
    size_t n = frame(wire, FIN | WS_OP_CONT, "x", 1); /* nothing to continue */
    expect_code(wire, n, 100, WS_CLOSE_PROTOCOL);
    n = frame(wire, WS_OP_CONT, "x", 1);
    expect_code(wire, n, 100, WS_CLOSE_PROTOCOL);

    n = frame(wire, WS_OP_TEXT, "a", 1);
    n += frame(wire + n, FIN | WS_OP_TEXT, "b", 1); /* new message mid-message */
    expect_code(wire, n, 100, WS_CLOSE_PROTOCOL);
    n = frame(wire, WS_OP_BINARY, "a", 1);
    n += frame(wire + n, WS_OP_BINARY, "b", 1);
    expect_code(wire, n, 100, WS_CLOSE_PROTOCOL);
}

static void test_length_top_bit(void **state) {
    (void)state;
    uint8_t wire[14] = {FIN | WS_OP_BINARY, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    expect_code(wire, sizeof(wire), 100, WS_CLOSE_PROTOCOL);
}

static void test_huge_declared_length_costs_nothing(void **state) {
    (void)state;
    /* 2^63 - 1 declared; only the header is ever sent. */
    uint8_t wire[14] = {FIN | WS_OP_BINARY, 0x80 | 127, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4};
    ws_parser_t p;
    ws_parser_init(&p, 1 << 20);
    rec_t r = {0};
    /* Byte by byte: the verdict comes with the last header byte. */
    for (size_t i = 0; i < 13; i++) {
        assert_int_equal(ws_parser_feed(&p, wire + i, 1, &CB, &r), WS_PARSE_OK);
        assert_true(p._partial_cap <= 14);
    }
    assert_int_equal(ws_parser_feed(&p, wire + 13, 1, &CB, &r), WS_CLOSE_TOO_BIG);
    assert_null(p._partial);
    assert_null(p._msg);
    ws_parser_free(&p);

    /* A 1 MiB frame over a 1000-byte limit is refused from its header. */
    uint8_t hdr[14] = {FIN | WS_OP_TEXT, 0x80 | 127, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4};
    expect_code(hdr, sizeof(hdr), 1000, WS_CLOSE_TOO_BIG);
}

static void test_max_message_boundaries(void **state) {
    (void)state;
    uint8_t wire[128], data[16];
    memset(data, 'x', sizeof(data));
    size_t n = frame(wire, FIN | WS_OP_TEXT, data, 10);
    expect_code(wire, n, 10, WS_PARSE_OK);
    n = frame(wire, FIN | WS_OP_TEXT, data, 11);
    expect_code(wire, n, 10, WS_CLOSE_TOO_BIG);

    /* The limit applies to the sum of fragments. */
    n = frame(wire, WS_OP_BINARY, data, 6);
    n += frame(wire + n, FIN | WS_OP_CONT, data, 4);
    expect_code(wire, n, 10, WS_PARSE_OK);
    rec_t r = {0};
    assert_int_equal(parse(wire, n, 10, 0, &r), WS_PARSE_OK);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.ev[0].len, 10);
    rec_reset(&r);
    n = frame(wire, WS_OP_BINARY, data, 6);
    n += frame(wire + n, WS_OP_CONT, data, 3);
    n += frame(wire + n, FIN | WS_OP_CONT, data, 2);
    expect_code(wire, n, 10, WS_CLOSE_TOO_BIG);
    /* Control frames in between do not count. */
    n = frame(wire, WS_OP_BINARY, data, 6);
    n += frame(wire + n, FIN | WS_OP_PING, data, 16);
    n += frame(wire + n, FIN | WS_OP_CONT, data, 4);
    expect_code(wire, n, 10, WS_PARSE_OK);
}

/* ------------------------------------------------------------------ */
/* UTF-8 */

static void test_utf8_split_across_fragments(void **state) {
    (void)state;
    const uint8_t text[6] = {'a', 0xF0, 0x9D, 0x84, 0x9E, 'b'}; /* a U+1D11E b */
    /* Two and three fragments, split at every pair of points. */
    for (size_t s1 = 0; s1 <= 6; s1++) {
        for (size_t s2 = s1; s2 <= 6; s2++) {
            uint8_t wire[128];
            size_t n = frame(wire, WS_OP_TEXT, text, s1);
            n += frame(wire + n, WS_OP_CONT, text + s1, s2 - s1);
            n += frame(wire + n, FIN | WS_OP_CONT, text + s2, 6 - s2);
            rec_t r = {0};
            assert_int_equal(parse(wire, n, 100, 0, &r), WS_PARSE_OK);
            assert_int_equal(r.n, 1);
            assert_int_equal(r.ev[0].len, 6);
            assert_memory_equal(r.ev[0].data, text, 6);
            rec_reset(&r);
            assert_int_equal(parse(wire, n, 100, 1, &r), WS_PARSE_OK);
            assert_int_equal(r.n, 1);
            rec_reset(&r);
        }
    }
    /* A message whose last fragment ends inside the character: 1007. */
    for (size_t s = 2; s <= 4; s++) {
        uint8_t wire[64];
        size_t n = frame(wire, WS_OP_TEXT, "a", 1);
        n += frame(wire + n, FIN | WS_OP_CONT, text + 1, s - 1);
        expect_code(wire, n, 100, WS_CLOSE_BAD_DATA);
    }
}

#define S(lit)                                                                                                         \
    { lit, sizeof(lit) - 1 }

static const struct {
    const char *s;
    size_t n;
} BAD_UTF8[] = {
    S("\x80"), /* stray continuation */
    S("\xbf"),
    S("\xc0\x80"),     /* overlong NUL */
    S("\xc1\xbf"),     /* overlong */
    S("\xe0\x80\x80"), /* overlong 3-byte */
    S("\xe0\x9f\xbf"),
    S("\xf0\x80\x80\x80"), /* overlong 4-byte */
    S("\xf0\x8f\xbf\xbf"),
    S("\xed\xa0\x80"),     /* U+D800 surrogate */
    S("\xed\xbf\xbf"),     /* U+DFFF */
    S("\xf4\x90\x80\x80"), /* U+110000 */
    S("\xf5\x80\x80\x80"),
    S("\xfe"),
    S("\xff"),
    S("\xc2\x41"), /* lead without continuation */
    S("\xe2\x82"), /* truncated at the end */
    S("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
      "edited"),
};

static const struct {
    const char *s;
    size_t n;
} GOOD_UTF8[] = {
    S(""),
    S("\x7f"),
    S("\xc2\x80"),         /* U+0080 */
    S("\xdf\xbf"),         /* U+07FF */
    S("\xe0\xa0\x80"),     /* U+0800 */
    S("\xed\x9f\xbf"),     /* U+D7FF */
    S("\xee\x80\x80"),     /* U+E000 */
    S("\xef\xbf\xbf"),     /* U+FFFF */
    S("\xf0\x90\x80\x80"), /* U+10000 */
    S("\xf4\x8f\xbf\xbf"), /* U+10FFFF */
    S("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 plain ascii long enough for the fast path"),
};

static void test_utf8_invalid_and_valid(void **state) {
    (void)state;
    uint8_t wire[128];
    for (size_t i = 0; i < sizeof(BAD_UTF8) / sizeof(BAD_UTF8[0]); i++) {
        const uint8_t *s = (const uint8_t *)BAD_UTF8[i].s;
        assert_int_not_equal(ws_utf8_step(0, s, BAD_UTF8[i].n), 0);
        size_t n = frame(wire, FIN | WS_OP_TEXT, s, BAD_UTF8[i].n);
        expect_code(wire, n, 100, WS_CLOSE_BAD_DATA);
        /* The same bytes are fine in a binary message. */
        n = frame(wire, FIN | WS_OP_BINARY, s, BAD_UTF8[i].n);
        expect_code(wire, n, 100, WS_PARSE_OK);
    }
    for (size_t i = 0; i < sizeof(GOOD_UTF8) / sizeof(GOOD_UTF8[0]); i++) {
        const uint8_t *s = (const uint8_t *)GOOD_UTF8[i].s;
        assert_int_equal(ws_utf8_step(0, s, GOOD_UTF8[i].n), 0);
        size_t n = frame(wire, FIN | WS_OP_TEXT, s, GOOD_UTF8[i].n);
        expect_code(wire, n, 100, WS_PARSE_OK);
        /* Fed to the DFA one byte at a time, the result is the same. */
        uint32_t st = 0;
        for (size_t k = 0; k < GOOD_UTF8[i].n; k++)
            st = ws_utf8_step(st, s + k, 1);
        assert_int_equal(st, 0);
    }
    /* Reject is sticky; an open sequence is neither 0 nor 1. */
    assert_int_equal(ws_utf8_step(1, (const uint8_t *)"a", 1), 1);
    uint32_t mid = ws_utf8_step(0, (const uint8_t *)"\xe2\x82", 2);
    assert_true(mid > 1);
    assert_int_equal(ws_utf8_step(mid, (const uint8_t *)"\xac", 1), 0); /* U+20AC */
}

/* ------------------------------------------------------------------ */
/* Close frames */

static void test_close_payloads(void **state) {
    (void)state;
    uint8_t wire[256];
    rec_t r = {0};

    size_t n = frame(wire, FIN | WS_OP_CLOSE, "", 0);
    assert_int_equal(parse(wire, n, 100, 0, &r), WS_PARSE_OK);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.ev[0].type, EV_CLOSE);
    assert_int_equal(r.ev[0].code, 1005);
    assert_int_equal(r.ev[0].len, 0);
    rec_reset(&r);

    n = frame(wire, FIN | WS_OP_CLOSE, "\x03", 1);
    expect_code(wire, n, 100, WS_CLOSE_PROTOCOL);

    const uint16_t bad[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t pl[2] = {(uint8_t)(bad[i] >> 8), (uint8_t)bad[i]};
        n = frame(wire, FIN | WS_OP_CLOSE, pl, 2);
        expect_code(wire, n, 100, WS_CLOSE_PROTOCOL);
    }
    const uint16_t good[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                             1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        uint8_t pl[2] = {(uint8_t)(good[i] >> 8), (uint8_t)good[i]};
        n = frame(wire, FIN | WS_OP_CLOSE, pl, 2);
        assert_int_equal(parse(wire, n, 100, 1, &r), WS_PARSE_OK);
        assert_int_equal(r.n, 1);
        assert_int_equal(r.ev[0].code, good[i]);
        rec_reset(&r);
    }

    n = frame(wire, FIN | WS_OP_CLOSE, "\x03\xe8\xed\xa0\x80", 5); /* surrogate in reason */
    expect_code(wire, n, 100, WS_CLOSE_BAD_DATA);

    n = frame(wire, FIN | WS_OP_CLOSE, "\x0f\xa0gone \xe2\x82\xac", 10); /* 4000 "gone €" */
    assert_int_equal(parse(wire, n, 100, 0, &r), WS_PARSE_OK);
    assert_int_equal(r.ev[0].code, 4000);
    assert_int_equal(r.ev[0].len, 8);
    assert_memory_equal(r.ev[0].data, "gone \xe2\x82\xac", 8);
    rec_reset(&r);
}

static void test_input_after_close_ignored(void **state) {
    (void)state;
    uint8_t wire[64];
    size_t n = frame(wire, FIN | WS_OP_CLOSE, "\x03\xe8", 2);
    n += frame(wire + n, FIN | WS_OP_TEXT, "late", 4);
    memcpy(wire + n, "\xff\xff\xff", 3); /* and garbage */
    n += 3;
    ws_parser_t p;
    ws_parser_init(&p, 100);
    rec_t r = {0};
    assert_int_equal(feed_chunked(&p, wire, n, 0, &r), WS_PARSE_OK);
    assert_int_equal(feed_chunked(&p, wire, n, 0, &r), WS_PARSE_OK);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.ev[0].type, EV_CLOSE);
    assert_null(p._partial);
    assert_null(p._msg);
    ws_parser_free(&p);
    rec_reset(&r);
}

/* ------------------------------------------------------------------ */
/* Callbacks that stop, memory */

static void test_callback_stop(void **state) {
    (void)state;
    uint8_t wire[64];
    size_t n = frame(wire, FIN | WS_OP_TEXT, "one", 3);
    n += frame(wire + n, FIN | WS_OP_TEXT, "two", 3);
    for (size_t chunk = 0; chunk <= 2; chunk++) {
        ws_parser_t p;
        ws_parser_init(&p, 100);
        rec_t r = {0};
        r.stop_after = 1;
        assert_int_equal(feed_chunked(&p, wire, n, chunk, &r), WS_PARSE_STOPPED);
        assert_int_equal(r.n, 1);
        assert_memory_equal(r.ev[0].data, "one", 3);
        assert_null(p._partial); /* nothing left held */
        /* The stream is over: more input is not parsed. */
        assert_int_equal(feed_chunked(&p, wire, n, 0, &r), WS_PARSE_OK);
        assert_int_equal(r.n, 1);
        ws_parser_free(&p);
        rec_reset(&r);
    }
    /* Each kind of callback can stop. */
    const uint8_t kinds[] = {WS_OP_PING, WS_OP_PONG, WS_OP_CLOSE};
    for (size_t i = 0; i < 3; i++) {
        n = frame(wire, FIN | kinds[i], "", 0);
        n += frame(wire + n, FIN | WS_OP_TEXT, "two", 3);
        rec_t r = {0};
        r.stop_after = 1;
        assert_int_equal(parse(wire, n, 100, 0, &r), WS_PARSE_STOPPED);
        assert_int_equal(r.n, 1);
        rec_reset(&r);
    }
    /* A stop from the message that completes a fragmented one. */
    n = frame(wire, WS_OP_BINARY, "ab", 2);
    n += frame(wire + n, FIN | WS_OP_CONT, "cd", 2);
    n += frame(wire + n, FIN | WS_OP_TEXT, "two", 3);
    rec_t r = {0};
    r.stop_after = 1;
    assert_int_equal(parse(wire, n, 100, 3, &r), WS_PARSE_STOPPED);
    assert_int_equal(r.n, 1);
    assert_memory_equal(r.ev[0].data, "abcd", 4);
    rec_reset(&r);
}

static void test_idle_parser_holds_no_heap(void **state) {
    (void)state;
    uint8_t wire[128];
    size_t n = frame(wire, WS_OP_TEXT, "frag", 4);
    size_t first = n;
    n += frame(wire + n, FIN | WS_OP_CONT, "mented", 6);
    ws_parser_t p;
    ws_parser_init(&p, 100);
    rec_t r = {0};
    /* Half of the first frame: held. */
    assert_int_equal(feed_chunked(&p, wire, 5, 0, &r), WS_PARSE_OK);
    assert_non_null(p._partial);
    assert_null(p._msg);
    /* The rest of the first fragment: the message is being reassembled. */
    assert_int_equal(feed_chunked(&p, wire + 5, first - 5, 0, &r), WS_PARSE_OK);
    assert_null(p._partial);
    assert_non_null(p._msg);
    /* The last fragment, byte by byte: done, nothing held. */
    assert_int_equal(feed_chunked(&p, wire + first, n - first, 1, &r), WS_PARSE_OK);
    assert_int_equal(r.n, 1);
    assert_memory_equal(r.ev[0].data, "fragmented", 10);
    assert_null(p._partial);
    assert_null(p._msg);
    assert_int_equal(p._msg_opcode, 0);
    ws_parser_free(&p);
    rec_reset(&r);
}

/* ------------------------------------------------------------------ */
/* Encoders */

static void test_seal_header_lengths(void **state) {
    (void)state;
    const struct {
        size_t len, hlen;
        uint8_t b1;
    } cases[] = {{0, 2, 0}, {125, 2, 125}, {126, 4, 126}, {65535, 4, 126}, {65536, 10, 127}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        buf_t *b = buf_new(cases[i].len);
        uint8_t *payload = malloc(cases[i].len + 1);
        assert_non_null(payload);
        memset(payload, 'z', cases[i].len);
        buf_append(&b, payload, cases[i].len);
        ws_frame_seal(b, WS_OP_TEXT);
        assert_int_equal(b->len, cases[i].hlen + cases[i].len);
        assert_int_equal(b->data[0], 0x81);
        assert_int_equal(b->data[1], cases[i].b1); /* unmasked */
        uint64_t declared = cases[i].b1;
        if (cases[i].hlen == 4)
            declared = (uint64_t)b->data[2] << 8 | b->data[3];
        if (cases[i].hlen == 10) {
            declared = 0;
            for (int k = 0; k < 8; k++)
                declared = declared << 8 | b->data[2 + k];
        }
        assert_int_equal(declared, cases[i].len);
        assert_memory_equal(b->data + cases[i].hlen, payload, cases[i].len);
        free(payload);
        buf_unref(b);
    }
}

static void test_frame_close(void **state) {
    (void)state;
    buf_t *b = ws_frame_close(1001, "going away");
    assert_int_equal(b->len, 2 + 2 + 10);
    assert_memory_equal(b->data, "\x88\x0c\x03\xe9going away", 14);
    buf_unref(b);

    b = ws_frame_close(1005, "ignored");
    assert_int_equal(b->len, 2);
    assert_memory_equal(b->data, "\x88\x00", 2);
    buf_unref(b);

    b = ws_frame_close(1000, NULL);
    assert_memory_equal(b->data, "\x88\x02\x03\xe8", 4);
    buf_unref(b);

    /* 122 ASCII bytes then a 2-byte char: 124 bytes don't fit in 123; the
     * char is dropped whole, not split. */
    char reason[200];
    memset(reason, 'r', 122);
    memcpy(reason + 122, "\xc3\xa9tail", 7);
    b = ws_frame_close(1011, reason);
    assert_int_equal(b->data[1], 2 + 122);
    assert_int_equal(ws_utf8_step(0, b->data + 4, b->len - 4), 0);
    buf_unref(b);
}

static void test_accept_key(void **state) {
    (void)state;
    char out[29];
    const char *k = "dGhlIHNhbXBsZSBub25jZQ==";
    assert_int_equal(ws_accept_key(k, strlen(k), out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    const char *bad[] = {
        "",
        "dGhlIHNhbXBsZSBub25jZQ=",   /* short */
        "dGhlIHNhbXBsZSBub25jZQ===", /* long */
        "dGhlIHNhbXBsZSBub25jZQAA",  /* 18 bytes, no padding */
        "dGhlIHNhbXBsZSBub25j*Q==",  /* not base64 */
        "dGhlIHNhbXBsZSBub25jZ===",  /* padding too early */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(ws_accept_key(bad[i], strlen(bad[i]), out), -1);
}

static void test_encode_client_roundtrip(void **state) {
    (void)state;
    const size_t lens[] = {0, 1, 7, 8, 9, 125, 126, 127, 65535, 65536, 100000};
    uint8_t *payload = malloc(100000), *wire = malloc(100000 + 14);
    assert_non_null(payload);
    assert_non_null(wire);
    for (size_t i = 0; i < 100000; i++)
        payload[i] = (uint8_t)(i * 31);
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        size_t n = ws_frame_encode_client(wire, WS_OP_BINARY, payload, lens[i], 0xdeadbeef + (uint32_t)i);
        size_t hl = lens[i] <= 125 ? 6 : lens[i] <= 65535 ? 8 : 14;
        assert_int_equal(n, hl + lens[i]);
        assert_int_equal(wire[1] & 0x80, 0x80);
        rec_t r = {0};
        assert_int_equal(parse(wire, n, 1 << 20, 0, &r), WS_PARSE_OK);
        assert_int_equal(r.n, 1);
        assert_int_equal(r.ev[0].len, lens[i]);
        if (lens[i])
            assert_memory_equal(r.ev[0].data, payload, lens[i]);
        rec_reset(&r);
    }
    free(payload);
    free(wire);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_single_masked_text),
        cmocka_unit_test(test_rfc_unmasked_examples_rejected),
        cmocka_unit_test(test_rfc_fragmented_text_with_ping_between),
        cmocka_unit_test(test_rfc_ping_pong),
        cmocka_unit_test(test_rfc_binary_256_and_64k),
        cmocka_unit_test(test_byte_by_byte_equals_whole),
        cmocka_unit_test(test_rsv_and_opcodes),
        cmocka_unit_test(test_unmasked),
        cmocka_unit_test(test_control_frame_rules),
        cmocka_unit_test(test_fragmentation_rules),
        cmocka_unit_test(test_length_top_bit),
        cmocka_unit_test(test_huge_declared_length_costs_nothing),
        cmocka_unit_test(test_max_message_boundaries),
        cmocka_unit_test(test_utf8_split_across_fragments),
        cmocka_unit_test(test_utf8_invalid_and_valid),
        cmocka_unit_test(test_close_payloads),
        cmocka_unit_test(test_input_after_close_ignored),
        cmocka_unit_test(test_callback_stop),
        cmocka_unit_test(test_idle_parser_holds_no_heap),
        cmocka_unit_test(test_seal_header_lengths),
        cmocka_unit_test(test_frame_close),
        cmocka_unit_test(test_accept_key),
        cmocka_unit_test(test_encode_client_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
