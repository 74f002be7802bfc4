/*
 * libFuzzer target for cdc/pgoutput. The first input byte picks the
 * protocol version (1 + byte % 4); the rest is a sequence of messages, each
 * a 2-byte big-endian length and that many bytes (a short tail is one last
 * message). They go through one decoder that already holds a RELATION with
 * a column of every conversion kind and TYPE messages for user types, so
 * fuzzed INSERT/UPDATE/DELETE reach the tuple code; the fuzzer can send its
 * own RELATION and TYPE messages too, and STREAM START/STOP change how the
 * rest decode. Every value of every decoded tuple, and every message's
 * bytes taken as the text of a value of each type, goes through
 * pgo_value_json, whose output must parse with jansson: invalid JSON
 * aborts, and so do crashes and leaks (the decoder is freed per input).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cdc/pgoutput.h"
#include "fuzz_json.h"

#include "fuzz_check.h"

/* One type of each conversion kind, arrays of them, and user types. */
static const uint32_t TYPES[] = {
    16,   21,   23,   20,   700, 701,   1700,  26,    25,    1042,  114,   3802, 1114,
    1184, 1082, 1083, 22,   30,  1000,  1005,  1007,  1009,  1022,  1231,  1115, 1185,
    199,  3807, 1020, 3905, 600, 17000, 17001, 17002, 17003, 17004, 17005,
};
#define NTYPES (sizeof(TYPES) / sizeof(TYPES[0]))

static size_t put(uint8_t *b, size_t n, const void *p, size_t len) {
    memcpy(b + n, p, len);
    return n + len;
}

static size_t put_u32(uint8_t *b, size_t n, uint32_t v) {
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return put(b, n, x, 4);
}

static void must_decode(pgo_decoder_t *d, const uint8_t *b, size_t n) {
    pgo_msg_t m;
    char err[128];
    int rc = pgo_decode(d, b, n, &m, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "fuzz_pgoutput: preamble: %s\n", err);
    CHECK(rc == 0);
    pgo_msg_clear(&m);
}

/* TYPE messages for the user types, and RELATION 16384 with one column per
 * entry of TYPES ("c0", "c1", ...; c0 the key), RELATION 16385 with one
 * text column: short tuples for the fuzzer to find. */
static void preamble(pgo_decoder_t *d) {
    static const struct {
        uint32_t oid;
        const char *nsp, *name;
    } types[] = {
        {17000, "public", "mood"},    {17001, "public", "_mood"},   {17002, "", "int4"},
        {17003, "public", "_posint"}, {17004, "public", "_things"}, {17005, "public", "pair"},
    };
    uint8_t b[2048];
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        size_t n = put(b, 0, "Y", 1);
        n = put_u32(b, n, types[i].oid);
        n = put(b, n, types[i].nsp, strlen(types[i].nsp) + 1);
        n = put(b, n, types[i].name, strlen(types[i].name) + 1);
        must_decode(d, b, n);
    }
    pgo_type_set_base(d, 17003, 1007);
    pgo_type_set_base(d, 17004, 3807);

    size_t n = put(b, 0, "R", 1);
    n = put_u32(b, n, 16384);
    n = put(b, n, "public\0t\0d", 10);
    b[n++] = 0;
    b[n++] = (uint8_t)NTYPES;
    for (size_t i = 0; i < NTYPES; i++) {
        char name[8];
        int len = snprintf(name, sizeof(name), "c%zu", i);
        b[n++] = i == 0;
        n = put(b, n, name, (size_t)len + 1);
        n = put_u32(b, n, TYPES[i]);
        n = put_u32(b, n, 0xFFFFFFFF);
    }
    must_decode(d, b, n);
    n = put(b, 0, "R", 1);
    n = put_u32(b, n, 16385);
    n = put(b, n, "public\0s\0f\0\1\1v\0", 15);
    n = put_u32(b, n, 25);
    n = put_u32(b, n, 0xFFFFFFFF);
    must_decode(d, b, n);
}

static void check_json(const buf_t *b) {
    json_error_t e;
    json_t *j = json_loadb((const char *)b->data, b->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!j && json_error_code(&e) == json_error_numeric_overflow) {
        size_t len;
        char *s = fuzz_shrink_numbers((const char *)b->data, b->len, &len);
        j = json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
        free(s);
    }
    if (!j)
        fprintf(stderr, "invalid JSON (%s): %.*s\n", e.text, (int)b->len, (const char *)b->data);
    CHECK(j != NULL);
    json_decref(j);
}

static void value_json_checked(const pgo_decoder_t *d, uint32_t oid, const pgo_value_t *v) {
    buf_t *b = buf_new(64);
    pgo_value_json(d, oid, v, &b);
    check_json(b);
    buf_unref(b);
}

static void check_tuple(const pgo_decoder_t *d, const pgo_relation_t *rel, const pgo_tuple_t *t) {
    CHECK(t->natts == rel->ncols);
    for (uint16_t i = 0; i < t->natts; i++) {
        const pgo_value_t *v = &t->values[i];
        CHECK(v->kind == 'n' || v->kind == 'u' || v->kind == 't');
        if (v->kind != 'u')
            value_json_checked(d, rel->cols[i].type_oid, v);
        (void)pgo_type_name(d, rel->cols[i].type_oid);
    }
}

static void one_message(pgo_decoder_t *d, const uint8_t *data, size_t size) {
    pgo_msg_t m;
    char err[256];
    if (pgo_decode(d, data, size, &m, err, sizeof(err)) != 0) {
        CHECK(err[0] != '\0');
        CHECK(m.rel == NULL && m.new_tuple.values == NULL && m.old_tuple.values == NULL);
        return;
    }
    switch (m.kind) {
    case PGO_INSERT:
        CHECK(m.rel == pgo_relation(d, m.rel->relid));
        check_tuple(d, m.rel, &m.new_tuple);
        break;
    case PGO_UPDATE:
        if (m.old_kind)
            check_tuple(d, m.rel, &m.old_tuple);
        check_tuple(d, m.rel, &m.new_tuple);
        break;
    case PGO_DELETE:
        CHECK(m.old_kind == 'K' || m.old_kind == 'O');
        check_tuple(d, m.rel, &m.old_tuple);
        break;
    case PGO_RELATION: CHECK(m.rel == pgo_relation(d, m.rel->relid)); break;
    default: break;
    }
    pgo_msg_clear(&m);

    /* the same bytes as the text of a value of every type */
    pgo_value_t v = {.kind = 't', .data = (const char *)data, .len = (uint32_t)size};
    for (size_t i = 0; i < NTYPES; i++)
        value_json_checked(d, TYPES[i], &v);
}

/* libFuzzer calls it; declared for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    pgo_decoder_t *d = pgo_decoder_new(1 + data[0] % 4);
    preamble(d);
    size_t i = 1;
    while (i < size) {
        size_t len = size - i;
        if (len >= 2) {
            size_t want = (size_t)data[i] << 8 | data[i + 1];
            if (want <= len - 2) {
                i += 2;
                len = want;
            }
        }
        /* an exactly sized copy, so ASan sees any read past the message */
        uint8_t *msg = malloc(len ? len : 1);
        CHECK(msg != NULL);
        memcpy(msg, data + i, len);
        one_message(d, msg, len);
        free(msg);
        i += len;
    }
    pgo_decoder_free(d);
    return 0;
}
