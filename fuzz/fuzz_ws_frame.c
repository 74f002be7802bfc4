/*
 * fuzz_ws_frame: libFuzzer target for ws/frame. The first input byte picks
 * a chunking pattern, a message limit and an early stop; the rest is fed to
 * the parser. It aborts when (a) feeding in chunks gives a different result
 * or event sequence than feeding whole, (b) a delivered message breaks a
 * promise (size, UTF-8, close code), (c) the incremental UTF-8 DFA
 * disagrees with the simple reference decoder below, or (d) the same bytes
 * framed as a fragmented text message are not judged as the reference
 * judges them. It never trusts ws_utf8_step to check ws_utf8_step.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws/frame.h"

#include "fuzz_check.h"

/* ------------------------------------------------------------------ */
/* Reference UTF-8 judge: decode each sequence, then ask whether its code
 * point (or, for a truncated tail, any completion of it) is a scalar
 * value that needs exactly that many bytes. */

enum { REF_VALID, REF_INVALID, REF_INCOMPLETE };

static int ref_utf8(const uint8_t *s, size_t n) {
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    static const uint32_t max_cp[5] = {0, 0x7F, 0x7FF, 0xFFFF, 0x10FFFF};
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07;
        } else {
            return REF_INVALID;
        }
        size_t have = n - i < len ? n - i : len;
        for (size_t k = 1; k < have; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return REF_INVALID;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        unsigned missing = 6 * (unsigned)(len - have);
        uint32_t lo = cp << missing, hi = lo | ((UINT32_C(1) << missing) - 1);
        uint32_t a = lo > min_cp[len] ? lo : min_cp[len];
        uint32_t b = hi < max_cp[len] ? hi : max_cp[len];
        if (a > b || (a >= 0xD800 && b <= 0xDFFF))
            return REF_INVALID;
        if (have < len)
            return REF_INCOMPLETE;
        i += len;
    }
    return REF_VALID;
}

static int dfa_class(uint32_t st) { return st == 0 ? REF_VALID : st == 1 ? REF_INVALID : REF_INCOMPLETE; }

/* ------------------------------------------------------------------ */
/* Event log: a count and a running hash of everything the callbacks saw. */

typedef struct {
    uint64_t hash;
    unsigned events;
    unsigned stop_after;
    uint32_t max;
} log_t;

static void mix(log_t *l, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        l->hash = (l->hash ^ b[i]) * UINT64_C(1099511628211);
}

static int event(log_t *l, int type, int opcode, uint32_t code, const void *d, size_t n) {
    mix(l, &type, sizeof(type));
    mix(l, &opcode, sizeof(opcode));
    mix(l, &code, sizeof(code));
    mix(l, &n, sizeof(n));
    if (n)
        mix(l, d, n);
    l->events++;
    return l->stop_after && l->events >= l->stop_after;
}

static int on_message(void *ud, int opcode, uint8_t *d, size_t n) {
    log_t *l = ud;
    CHECK(opcode == WS_OP_TEXT || opcode == WS_OP_BINARY);
    CHECK(n <= l->max);
    if (opcode == WS_OP_TEXT)
        CHECK(ref_utf8(d, n) == REF_VALID);
    return event(l, 1, opcode, 0, d, n);
}

static int on_ping(void *ud, const uint8_t *d, size_t n) {
    CHECK(n <= 125);
    return event(ud, 2, 0, 0, d, n);
}

static int on_pong(void *ud, const uint8_t *d, size_t n) {
    CHECK(n <= 125);
    return event(ud, 3, 0, 0, d, n);
}

static int on_close(void *ud, uint16_t code, const char *reason, size_t n) {
    CHECK(n <= 123);
    CHECK((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999) ||
          (code == 1005 && n == 0));
    CHECK(ref_utf8((const uint8_t *)reason, n) == REF_VALID);
    return event(ud, 4, 0, code, reason, n);
}

static const ws_parser_cb_t CB = {on_message, on_ping, on_pong, on_close};

/* Next chunk size for pattern `mode` (0 = the rest at once). */
static size_t next_chunk(unsigned mode, uint32_t *rng) {
    static const size_t fixed[] = {0, 1, 2, 3, 7, 64};
    if (mode < 6)
        return fixed[mode];
    *rng = *rng * 1103515245u + 12345u;
    return mode == 6 ? 1 + (*rng >> 16) % 16 : 1 + (*rng >> 16) % 300;
}

/* Feeds a private copy of data; returns the parser's first non-OK result. */
static int run(const uint8_t *data, size_t size, unsigned mode, uint32_t seed, log_t *l) {
    uint8_t *copy = malloc(size ? size : 1);
    CHECK(copy);
    if (size)
        memcpy(copy, data, size);
    ws_parser_t p;
    ws_parser_init(&p, l->max);
    int rc = WS_PARSE_OK;
    uint32_t rng = seed;
    for (size_t off = 0; off < size && rc == WS_PARSE_OK;) {
        size_t n = next_chunk(mode, &rng);
        if (n == 0 || n > size - off)
            n = size - off;
        rc = ws_parser_feed(&p, copy + off, n, &CB, l);
        off += n;
        /* The no-idle-heap promise. */
        CHECK(p._partial_len > 0 || p._partial == NULL);
        CHECK(p._msg_opcode != 0 || p._msg == NULL);
        CHECK(p._msg_len <= l->max);
    }
    CHECK(rc == WS_PARSE_OK || rc == WS_PARSE_STOPPED || rc == WS_CLOSE_PROTOCOL || rc == WS_CLOSE_BAD_DATA ||
          rc == WS_CLOSE_TOO_BIG);
    ws_parser_free(&p);
    free(copy);
    return rc;
}

/* The parser on raw input: chunked must equal whole. */
static void check_parser(const uint8_t *data, size_t size, uint8_t sel) {
    static const uint32_t limits[8] = {0, 1, 16, 125, 126, 1000, 65535, 1 << 20};
    log_t whole = {.hash = 14695981039346656037u, .stop_after = (sel >> 3) & 3, .max = limits[sel >> 5]};
    log_t part = whole;
    int a = run(data, size, 0, 0, &whole);
    int b = run(data, size, sel & 7, sel, &part);
    CHECK(a == b);
    CHECK(whole.events == part.events);
    CHECK(whole.hash == part.hash);
}

/* The DFA, fed in pieces, against the reference. */
static void check_utf8(const uint8_t *data, size_t size, uint8_t sel) {
    uint32_t st = 0, rng = sel;
    for (size_t off = 0; off < size;) {
        rng = rng * 1103515245u + 12345u;
        size_t n = (sel & 1) ? 1 + (rng >> 16) % 5 : size - off;
        if (n > size - off)
            n = size - off;
        st = ws_utf8_step(st, data + off, n);
        off += n;
    }
    CHECK(dfa_class(st) == ref_utf8(data, size));
}

/* The input as the payload of a text message in three fragments. */
static void check_framed_text(const uint8_t *data, size_t size, uint8_t sel) {
    size_t s1 = (size_t)sel * 7 % (size + 1);
    size_t s2 = s1 + (size_t)sel * 13 % (size - s1 + 1);
    uint8_t *wire = malloc(size + 3 * 14);
    CHECK(wire);
    size_t n = ws_frame_encode_client(wire, WS_OP_TEXT, data, s1, 0x01020304u * sel);
    wire[0] &= 0x7F; /* not final */
    size_t m = n;
    n += ws_frame_encode_client(wire + n, WS_OP_CONT, data + s1, s2 - s1, 0xa5a5a5a5u);
    wire[m] &= 0x7F;
    n += ws_frame_encode_client(wire + n, WS_OP_CONT, data + s2, size - s2, 0x5a5a5a5au ^ sel);

    log_t l = {.hash = 14695981039346656037u, .max = 1 << 20};
    ws_parser_t p;
    ws_parser_init(&p, l.max);
    int rc = ws_parser_feed(&p, wire, n, &CB, &l);
    int ref = ref_utf8(data, size);
    if (ref == REF_VALID) {
        log_t expect = {.hash = 14695981039346656037u};
        event(&expect, 1, WS_OP_TEXT, 0, data, size); /* the very message, reassembled */
        CHECK(rc == WS_PARSE_OK && l.events == 1 && l.hash == expect.hash);
    } else {
        CHECK(rc == WS_CLOSE_BAD_DATA && l.events == 0);
    }
    CHECK(p._partial == NULL && p._msg == NULL);
    ws_parser_free(&p);
    free(wire);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    data++;
    size--;
    check_parser(data, size, sel);
    check_utf8(data, size, sel);
    check_framed_text(data, size, sel);
    return 0;
}
