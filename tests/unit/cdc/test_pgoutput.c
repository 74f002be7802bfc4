/*
 * Unit tests for cdc/pgoutput: every message kind of protocol versions 1 to
 * 4 built byte by byte as PostgreSQL's proto.c writes them, the stream-block
 * state that decides whether data messages carry an xid, every rejection
 * (each truncation of a valid message included), relation replacement after
 * ALTER TABLE, type names, and pgo_value_json / pgo_timestamp_iso against
 * texts written out by hand from what PostgreSQL 15's to_jsonb prints.
 * (tests/tools/pgoutput_pg_check.sh compares with a live server.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdc/pgoutput.h"

/* ---- message builder ---------------------------------------------------- */

typedef struct {
    uint8_t b[4096];
    size_t n;
} msg_t;

static void w_u8(msg_t *m, uint8_t v) { m->b[m->n++] = v; }
static void w_u16(msg_t *m, uint16_t v) {
    w_u8(m, (uint8_t)(v >> 8));
    w_u8(m, (uint8_t)v);
}
static void w_u32(msg_t *m, uint32_t v) {
    w_u16(m, (uint16_t)(v >> 16));
    w_u16(m, (uint16_t)v);
}
static void w_u64(msg_t *m, uint64_t v) {
    w_u32(m, (uint32_t)(v >> 32));
    w_u32(m, (uint32_t)v);
}
static void w_str(msg_t *m, const char *s) {
    memcpy(m->b + m->n, s, strlen(s) + 1);
    m->n += strlen(s) + 1;
}
static void w_text(msg_t *m, const char *s) {
    w_u8(m, 't');
    w_u32(m, (uint32_t)strlen(s));
    memcpy(m->b + m->n, s, strlen(s));
    m->n += strlen(s);
}

/* RELATION 16384 public.todos (id int8 key, title text, done bool). */
static msg_t relation_msg(int xid, uint32_t relid, int with_extra_col) {
    msg_t m = {.n = 0};
    w_u8(&m, 'R');
    if (xid >= 0)
        w_u32(&m, (uint32_t)xid);
    w_u32(&m, relid);
    w_str(&m, "public");
    w_str(&m, "todos");
    w_u8(&m, 'd');
    w_u16(&m, with_extra_col ? 4 : 3);
    w_u8(&m, 1);
    w_str(&m, "id");
    w_u32(&m, 20);
    w_u32(&m, 0xFFFFFFFF); /* typmod -1 */
    w_u8(&m, 0);
    w_str(&m, "title");
    w_u32(&m, 25);
    w_u32(&m, 0xFFFFFFFF);
    w_u8(&m, 0);
    w_str(&m, "done");
    w_u32(&m, 16);
    w_u32(&m, 0xFFFFFFFF);
    if (with_extra_col) {
        w_u8(&m, 0);
        w_str(&m, "due");
        w_u32(&m, 1184);
        w_u32(&m, 0xFFFFFFFF);
    }
    return m;
}

static void w_row(msg_t *m, const char *id, const char *title, char done_kind) {
    w_u16(m, 3);
    w_text(m, id);
    if (title)
        w_text(m, title);
    else
        w_u8(m, 'u');
    if (done_kind == 't')
        w_text(m, "t");
    else
        w_u8(m, (uint8_t)done_kind);
}

static pgo_decoder_t *decoder_with_todos(int proto) {
    pgo_decoder_t *d = pgo_decoder_new(proto);
    msg_t r = relation_msg(-1, 16384, 0);
    pgo_msg_t out;
    char err[128];
    assert_int_equal(pgo_decode(d, r.b, r.n, &out, err, sizeof(err)), 0);
    pgo_msg_clear(&out);
    return d;
}

static void assert_value(const pgo_value_t *v, char kind, const char *text) {
    assert_int_equal(v->kind, kind);
    if (text) {
        assert_int_equal(v->len, strlen(text));
        assert_memory_equal(v->data, text, v->len);
    }
}

/* Decodes m expecting failure, with err mentioning want. */
static void assert_rejects(pgo_decoder_t *d, const msg_t *m, const char *want) {
    pgo_msg_t out;
    char err[256] = "";
    assert_int_equal(pgo_decode(d, m->b, m->n, &out, err, sizeof(err)), -1);
    if (!strstr(err, want))
        fprintf(stderr, "error was: %s\n", err);
    assert_non_null(strstr(err, want));
    assert_null(out.new_tuple.values);
    assert_null(out.old_tuple.values);
    assert_null(out.truncate_relids);
    assert_null(out.rel);
}

/* ---- transaction framing ----------------------------------------------- */

static void test_begin_commit_origin(void **state) {
    (void)state;
    pgo_decoder_t *d = pgo_decoder_new(1);
    pgo_msg_t out;
    char err[128];

    msg_t m = {.n = 0};
    w_u8(&m, 'B');
    w_u64(&m, 0x0000001600B374D8ULL);
    w_u64(&m, (uint64_t)-1000000); /* one second before 2000 */
    w_u32(&m, 742);
    assert_int_equal(pgo_decode(d, m.b, m.n, &out, err, sizeof(err)), 0);
    assert_int_equal(out.kind, PGO_BEGIN);
    assert_true(out.lsn == 0x0000001600B374D8ULL);
    assert_true(out.commit_time == -1000000);
    assert_int_equal(out.xid, 742);
    assert_int_equal(out.in_stream, 0);
    pgo_msg_clear(&out);

    m.n = 0;
    w_u8(&m, 'C');
    w_u8(&m, 0);
    w_u64(&m, 100);
    w_u64(&m, 200);
    w_u64(&m, 757382400123456ULL);
    assert_int_equal(pgo_decode(d, m.b, m.n, &out, err, sizeof(err)), 0);
    assert_int_equal(out.kind, PGO_COMMIT);
    assert_true(out.lsn == 100 && out.end_lsn == 200);
    assert_true(out.commit_time == 757382400123456LL);
    pgo_msg_clear(&out);

    m.n = 0;
    w_u8(&m, 'O');
    w_u64(&m, 300);
    w_str(&m, "node_a");
    assert_int_equal(pgo_decode(d, m.b, m.n, &out, err, sizeof(err)), 0);
    assert_int_equal(out.kind, PGO_ORIGIN);
    assert_true(out.lsn == 300);
    assert_string_equal(out.origin, "node_a");
    pgo_msg_clear(&out);
    pgo_decoder_free(d);
}

/* ---- relations and rows ------------------------------------------------- */

static void test_relation_cached(void **state) {
    (void)state;
    pgo_decoder_t *d = pgo_decoder_new(1);
    pgo_msg_t out;
    char err[128];
    msg_t m = relation_msg(-1, 16384, 0);
    assert_null(pgo_relation(d, 16384));
    assert_int_equal(pgo_decode(d, m.b, m.n, &out, err, sizeof(err)), 0);
    assert_int_equal(out.kind, PGO_RELATION);
    const pgo_relation_t *rel = pgo_relation(d, 16384);
    assert_ptr_equal(out.rel, rel);
    assert_int_equal(rel->relid, 16384);
    assert_string_equal(rel->schema, "public");
    assert_string_equal(rel->name, "todos");
    assert_int_equal(rel->replident, 'd');
    assert_int_equal(rel->ncols, 3);
    assert_string_equal(rel->cols[0].name, "id");
    assert_int_equal(rel->cols[0].type_oid, 20);
    assert_int_equal(rel->cols[0].typmod, -1);
    assert_int_equal(rel->cols[0].is_key, 1);
    assert_string_equal(rel->cols[1].name, "title");
    assert_int_equal(rel->cols[1].is_key, 0);
    assert_int_equal(rel->cols[2].type_oid, 16);
    pgo_msg_clear(&out);

    /* pgoutput writes "" for pg_catalog */
    m.n = 0;
    w_u8(&m, 'R');
    w_u32(&m, 99);
    w_str(&m, "");
    w_str(&m, "weird");
    w_u8(&m, 'f');
    w_u16(&m, 0);
    assert_int_equal(pgo_decode(d, m.b, m.n, &out, err, sizeof(err)), 0);
    assert_string_equal(out.rel->schema, "pg_catalog");
    assert_int_equal(out.rel->ncols, 0);
    assert_int_equal(out.rel->replident, 'f');
    pgo_msg_clear(&out);
    assert_null(pgo_relation(d, 12345));
    pgo_decoder_free(d);
}

static void test_insert(void **state) {
    (void)state;
    pgo_decoder_t *d = decoder_with_todos(1);
    pgo_msg_t out;
    char err[128];
    msg_t m = {.n = 0};
    w_u8(&m, 'I');
    w_u32(&m, 16384);
    w_u8(&m, 'N');
    w_row(&m, "5", "buy milk", 'n');
    assert_int_equal(pgo_decode(d, m.b, m.n, &out, err, sizeof(err)), 0);
    assert_int_equal(out.kind, PGO_INSERT);
    assert_ptr_equal(out.rel, pgo_relation(d, 16384));
    assert_int_equal(out.old_kind, 0);
    assert_null(out.old_tuple.values);
    assert_int_equal(out.new_tuple.natts, 3);
    assert_value(&out.new_tuple.values[0], 't', "5");
    assert_value(&out.new_tuple.values[1], 't', "buy milk");
    assert_value(&out.new_tuple.values[2], 'n', NULL);
    /* views, not copies */
    assert_true((const uint8_t *)out.new_tuple.values[1].data > m.b &&
                (const uint8_t *)out.new_tuple.values[1].data < m.b + m.n);
    pgo_msg_clear(&out);
    assert_null(out.new_tuple.values);
    pgo_decoder_free(d);
}

static void test_update_forms(void **state) {
    (void)state;
    pgo_decoder_t *d = decoder_with_todos(1);
    pgo_msg_t out;
    char err[128];

    /* no old tuple; unchanged TOASTed title */
    msg_t m = {.n = 0};
    w_u8(&m, 'U');
    w_u32(&m, 16384);
    w_u8(&m, 'N');
    w_row(&m, "5", NULL, 't');
    assert_int_equal(pgo_decode(d, m.b, m.n, &out, err, sizeof(err)), 0);
    assert_int_equal(out.kind, PGO_UPDATE);
    assert_int_equal(out.old_kind, 0);
    assert_null(out.old_tuple.values);
    assert_value(&out.new_tuple.values[1], 'u', NULL);
    assert_value(&out.new_tuple.values[2], 't', "t");
    pgo_msg_clear(&out);

    /* key changed: 'K' with the old key, other columns null */
    m.n = 0;
    w_u8(&m, 'U');
    w_u32(&m, 16384);
    w_u8(&m, 'K');
    w_row(&m, "5", "", 'n');
    w_u8(&m, 'N');
    w_row(&m, "6", "x", 'n');
    assert_int_equal(pgo_decode(d, m.b, m.n, &out, err, sizeof(err)), 0);
    assert_int_equal(out.old_kind, 'K');
    assert_value(&out.old_tuple.values[0], 't', "5");
    assert_value(&out.new_tuple.values[0], 't', "6");
    pgo_msg_clear(&out);

    /* REPLICA IDENTITY FULL: 'O' */
    m.n = 0;
    w_u8(&m, 'U');
    w_u32(&m, 16384);
    w_u8(&m, 'O');
    w_row(&m, "6", "old", 't');
    w_u8(&m, 'N');
    w_row(&m, "6", "new", 't');
    assert_int_equal(pgo_decode(d, m.b, m.n, &out, err, sizeof(err)), 0);
    assert_int_equal(out.old_kind, 'O');
    assert_value(&out.old_tuple.values[1], 't', "old");
    assert_value(&out.new_tuple.values[1], 't', "new");
    pgo_msg_clear(&out);
    pgo_decoder_free(d);
}

static void test_delete_forms(void **state) {
    (void)state;
    pgo_decoder_t *d = decoder_with_todos(1);
    pgo_msg_t out;
    char err[128];
    for (int k = 0; k < 2; k++) {
        msg_t m = {.n = 0};
        w_u8(&m, 'D');
        w_u32(&m, 16384);
        w_u8(&m, k ? 'O' : 'K');
        w_row(&m, "9", k ? "t" : "", k ? 't' : 'n');
        assert_int_equal(pgo_decode(d, m.b, m.n, &out, err, sizeof(err)), 0);
        assert_int_equal(out.kind, PGO_DELETE);
        assert_int_equal(out.old_kind, k ? 'O' : 'K');
        assert_value(&out.old_tuple.values[0], 't', "9");
        assert_null(out.new_tuple.values);
        pgo_msg_clear(&out);
    }
    pgo_decoder_free(d);
}

static void test_truncate_and_message(void **state) {
    (void)state;
    pgo_decoder_t *d = pgo_decoder_new(1);
    pgo_msg_t out;
    char err[128];
    msg_t m = {.n = 0};
    w_u8(&m, 'T');
    w_u32(&m, 2);
    w_u8(&m, 3);
    w_u32(&m, 16384);
    w_u32(&m, 16390);
    assert_int_equal(pgo_decode(d, m.b, m.n, &out, err, sizeof(err)), 0);
    assert_int_equal(out.kind, PGO_TRUNCATE);
    assert_int_equal(out.ntruncate, 2);
    assert_int_equal(out.truncate_flags, 3);
    assert_int_equal(out.truncate_relids[0], 16384);
    assert_int_equal(out.truncate_relids[1], 16390);
    pgo_msg_clear(&out);

    m.n = 0;
    w_u8(&m, 'M');
    w_u8(&m, 1);
    w_u64(&m, 0xABCDEF);
    w_str(&m, "pfx");
    w_u32(&m, 3);
    memcpy(m.b + m.n, "a\0b", 3);
    m.n += 3;
    assert_int_equal(pgo_decode(d, m.b, m.n, &out, err, sizeof(err)), 0);
    assert_int_equal(out.kind, PGO_MESSAGE);
    assert_int_equal(out.transactional, 1);
    assert_true(out.lsn == 0xABCDEF);
    assert_string_equal(out.prefix, "pfx");
    assert_int_equal(out.content_len, 3);
    assert_memory_equal(out.content, "a\0b", 3);
    pgo_msg_clear(&out);
    pgo_decoder_free(d);
}

/* ---- streaming ---------------------------------------------------------- */

static void test_stream_block_xids(void **state) {
    (void)state;
    pgo_decoder_t *d = decoder_with_todos(2);
    pgo_msg_t out;
    char err[128];

    msg_t start = {.n = 0};
    w_u8(&start, 'S');
    w_u32(&start, 900);
    w_u8(&start, 1);
    assert_int_equal(pgo_decode(d, start.b, start.n, &out, err, sizeof(err)), 0);
    assert_int_equal(out.kind, PGO_STREAM_START);
    assert_int_equal(out.xid, 900);
    assert_int_equal(out.first_segment, 1);
    pgo_msg_clear(&out);
    assert_rejects(d, &start, "inside a stream");

    /* inside: RELATION, TYPE, INSERT, TRUNCATE and MESSAGE carry an xid */
    msg_t m = relation_msg(901, 16384, 1);
    assert_int_equal(pgo_decode(d, m.b, m.n, &out, err, sizeof(err)), 0);
    assert_int_equal(out.in_stream, 1);
    assert_int_equal(out.xid, 901);
    assert_int_equal(out.rel->ncols, 4);
    pgo_msg_clear(&out);

    m.n = 0;
    w_u8(&m, 'Y');
    w_u32(&m, 901);
    w_u32(&m, 17000);
    w_str(&m, "public");
    w_str(&m, "mood");
    assert_int_equal(pgo_decode(d, m.b, m.n, &out, err, sizeof(err)), 0);
    assert_int_equal(out.xid, 901);
    assert_int_equal(out.type_oid, 17000);
    assert_string_equal(out.type_name, "mood");
    pgo_msg_clear(&out);

    m.n = 0;
    w_u8(&m, 'I');
    w_u32(&m, 902);
    w_u32(&m, 16384);
    w_u8(&m, 'N');
    w_u16(&m, 4);
    w_text(&m, "1");
    w_text(&m, "a");
    w_u8(&m, 'n');
    w_u8(&m, 'n');
    assert_int_equal(pgo_decode(d, m.b, m.n, &out, err, sizeof(err)), 0);
    assert_int_equal(out.kind, PGO_INSERT);
    assert_int_equal(out.in_stream, 1);
    assert_int_equal(out.xid, 902);
    assert_value(&out.new_tuple.values[1], 't', "a");
    pgo_msg_clear(&out);

    m.n = 0;
    w_u8(&m, 'T');
    w_u32(&m, 900);
    w_u32(&m, 1);
    w_u8(&m, 0);
    w_u32(&m, 16384);
    assert_int_equal(pgo_decode(d, m.b, m.n, &out, err, sizeof(err)), 0);
    assert_int_equal(out.xid, 900);
    assert_int_equal(out.truncate_relids[0], 16384);
    pgo_msg_clear(&out);

    m.n = 0;
    w_u8(&m, 'M');
    w_u32(&m, 900);
    w_u8(&m, 1);
    w_u64(&m, 5);
    w_str(&m, "p");
    w_u32(&m, 0);
    assert_int_equal(pgo_decode(d, m.b, m.n, &out, err, sizeof(err)), 0);
    assert_int_equal(out.xid, 900);
    assert_int_equal(out.content_len, 0);
    pgo_msg_clear(&out);

    msg_t stop = {.n = 0};
    w_u8(&stop, 'E');
    assert_int_equal(pgo_decode(d, stop.b, stop.n, &out, err, sizeof(err)), 0);
    assert_int_equal(out.kind, PGO_STREAM_STOP);
    pgo_msg_clear(&out);
    assert_rejects(d, &stop, "outside a stream");

    /* outside again: the same INSERT without xid */
    m.n = 0;
    w_u8(&m, 'I');
    w_u32(&m, 16384);
    w_u8(&m, 'N');
    w_u16(&m, 4);
    w_text(&m, "2");
    w_u8(&m, 'n');
    w_u8(&m, 'n');
    w_u8(&m, 'n');
    assert_int_equal(pgo_decode(d, m.b, m.n, &out, err, sizeof(err)), 0);
    assert_int_equal(out.in_stream, 0);
    assert_int_equal(out.xid, 0);
    pgo_msg_clear(&out);

    m.n = 0;
    w_u8(&m, 'c');
    w_u32(&m, 900);
    w_u8(&m, 0);
    w_u64(&m, 10);
    w_u64(&m, 20);
    w_u64(&m, 30);
    assert_int_equal(pgo_decode(d, m.b, m.n, &out, err, sizeof(err)), 0);
    assert_int_equal(out.kind, PGO_STREAM_COMMIT);
    assert_int_equal(out.xid, 900);
    assert_true(out.lsn == 10 && out.end_lsn == 20 && out.commit_time == 30);
    pgo_msg_clear(&out);

    m.n = 0;
    w_u8(&m, 'A');
    w_u32(&m, 900);
    w_u32(&m, 902);
    assert_int_equal(pgo_decode(d, m.b, m.n, &out, err, sizeof(err)), 0);
    assert_int_equal(out.kind, PGO_STREAM_ABORT);
    assert_int_equal(out.xid, 900);
    assert_int_equal(out.subxid, 902);
    assert_int_equal(out.has_abort_info, 0);
    pgo_msg_clear(&out);

    /* abort LSN and time belong to version 4 only */
    w_u64(&m, 40);
    w_u64(&m, 50);
    assert_rejects(d, &m, "trailing bytes");
    pgo_decoder_free(d);
}

static void test_stream_abort_v4(void **state) {
    (void)state;
    pgo_decoder_t *d = pgo_decoder_new(4);
    pgo_msg_t out;
    char err[128];
    msg_t m = {.n = 0};
    w_u8(&m, 'A');
    w_u32(&m, 900);
    w_u32(&m, 900);
    w_u64(&m, 40);
    w_u64(&m, 50);
    assert_int_equal(pgo_decode(d, m.b, m.n, &out, err, sizeof(err)), 0);
    assert_int_equal(out.has_abort_info, 1);
    assert_true(out.lsn == 40 && out.commit_time == 50);
    pgo_msg_clear(&out);
    /* streaming=on (not parallel) in v4: no abort info */
    m.n = 9;
    assert_int_equal(pgo_decode(d, m.b, m.n, &out, err, sizeof(err)), 0);
    assert_int_equal(out.has_abort_info, 0);
    pgo_msg_clear(&out);
    /* neither form */
    m.n = 13;
    assert_rejects(d, &m, "trailing bytes");
    pgo_decoder_free(d);
}

/* ---- two-phase ---------------------------------------------------------- */

static void test_two_phase(void **state) {
    (void)state;
    pgo_decoder_t *d = pgo_decoder_new(3);
    pgo_msg_t out;
    char err[128];

    msg_t m = {.n = 0};
    w_u8(&m, 'b');
    w_u64(&m, 1);
    w_u64(&m, 2);
    w_u64(&m, 3);
    w_u32(&m, 77);
    w_str(&m, "g1");
    assert_int_equal(pgo_decode(d, m.b, m.n, &out, err, sizeof(err)), 0);
    assert_int_equal(out.kind, PGO_BEGIN_PREPARE);
    assert_true(out.lsn == 1 && out.end_lsn == 2 && out.commit_time == 3);
    assert_int_equal(out.xid, 77);
    assert_string_equal(out.gid, "g1");
    pgo_msg_clear(&out);

    const char kinds[] = {'P', 'K', 'p'};
    const pgo_kind_t want[] = {PGO_PREPARE, PGO_COMMIT_PREPARED, PGO_STREAM_PREPARE};
    for (int k = 0; k < 3; k++) {
        m.n = 0;
        w_u8(&m, (uint8_t)kinds[k]);
        w_u8(&m, 0);
        w_u64(&m, 4);
        w_u64(&m, 5);
        w_u64(&m, 6);
        w_u32(&m, 77);
        w_str(&m, "g1");
        assert_int_equal(pgo_decode(d, m.b, m.n, &out, err, sizeof(err)), 0);
        assert_int_equal(out.kind, want[k]);
        assert_true(out.lsn == 4 && out.end_lsn == 5 && out.commit_time == 6);
        assert_int_equal(out.xid, 77);
        assert_string_equal(out.gid, "g1");
        pgo_msg_clear(&out);
    }

    m.n = 0;
    w_u8(&m, 'r');
    w_u8(&m, 0);
    w_u64(&m, 7);
    w_u64(&m, 8);
    w_u64(&m, 9);
    w_u64(&m, 10);
    w_u32(&m, 78);
    w_str(&m, "g2");
    assert_int_equal(pgo_decode(d, m.b, m.n, &out, err, sizeof(err)), 0);
    assert_int_equal(out.kind, PGO_ROLLBACK_PREPARED);
    assert_true(out.lsn == 7 && out.end_lsn == 8 && out.prepare_time == 9 && out.commit_time == 10);
    assert_string_equal(out.gid, "g2");
    pgo_msg_clear(&out);
    pgo_decoder_free(d);

    /* not in version 2, and streaming not in version 1 */
    d = pgo_decoder_new(2);
    assert_rejects(d, &m, "protocol version 2");
    pgo_decoder_free(d);
    d = pgo_decoder_new(1);
    m.n = 0;
    w_u8(&m, 'S');
    w_u32(&m, 1);
    w_u8(&m, 1);
    assert_rejects(d, &m, "protocol version 1");
    pgo_decoder_free(d);
}

/* ---- schema changes and rejections -------------------------------------- */

static void test_relation_replaced(void **state) {
    (void)state;
    pgo_decoder_t *d = decoder_with_todos(1);
    pgo_msg_t out;
    char err[128];
    msg_t ins = {.n = 0};
    w_u8(&ins, 'I');
    w_u32(&ins, 16384);
    w_u8(&ins, 'N');
    w_row(&ins, "1", "a", 'n');
    assert_int_equal(pgo_decode(d, ins.b, ins.n, &out, err, sizeof(err)), 0);
    pgo_msg_clear(&out);

    /* ALTER TABLE ADD COLUMN: the next RELATION has 4 columns */
    msg_t r = relation_msg(-1, 16384, 1);
    assert_int_equal(pgo_decode(d, r.b, r.n, &out, err, sizeof(err)), 0);
    pgo_msg_clear(&out);
    assert_int_equal(pgo_relation(d, 16384)->ncols, 4);
    assert_string_equal(pgo_relation(d, 16384)->cols[3].name, "due");
    /* a 3-column tuple no longer fits */
    assert_rejects(d, &ins, "tuple has 3 columns, relation public.todos has 4");

    /* a malformed RELATION leaves the cache alone */
    msg_t bad = relation_msg(-1, 16384, 0);
    bad.n -= 2;
    assert_rejects(d, &bad, "truncated RELATION");
    assert_int_equal(pgo_relation(d, 16384)->ncols, 4);
    pgo_decoder_free(d);
}

static void test_rejections(void **state) {
    (void)state;
    pgo_decoder_t *d = decoder_with_todos(1);
    pgo_msg_t out;
    char err[128];
    msg_t m = {.n = 0};

    assert_int_equal(pgo_decode(d, m.b, 0, &out, err, sizeof(err)), -1);
    assert_string_equal(err, "empty message");
    assert_int_equal(pgo_decode(d, NULL, 0, &out, NULL, 0), -1);

    w_u8(&m, 'Z');
    assert_rejects(d, &m, "unknown message kind 0x5a");

    m.n = 0;
    w_u8(&m, 'I');
    w_u32(&m, 777);
    w_u8(&m, 'N');
    w_row(&m, "1", "a", 'n');
    assert_rejects(d, &m, "relation 777");

    m.n = 0;
    w_u8(&m, 'I');
    w_u32(&m, 16384);
    w_u8(&m, 'K');
    w_row(&m, "1", "a", 'n');
    assert_rejects(d, &m, "not 'N'");

    m.n = 0;
    w_u8(&m, 'D');
    w_u32(&m, 16384);
    w_u8(&m, 'N');
    w_row(&m, "1", "a", 'n');
    assert_rejects(d, &m, "not 'K' or 'O'");

    m.n = 0;
    w_u8(&m, 'U');
    w_u32(&m, 16384);
    w_u8(&m, 'K');
    w_row(&m, "1", "a", 'n');
    w_u8(&m, 'K');
    assert_rejects(d, &m, "UPDATE with tuple tag 0x4b");

    /* binary values: the stream never asks for them */
    m.n = 0;
    w_u8(&m, 'I');
    w_u32(&m, 16384);
    w_u8(&m, 'N');
    w_u16(&m, 3);
    w_text(&m, "1");
    w_u8(&m, 'b');
    w_u32(&m, 1);
    w_u8(&m, 'x');
    w_u8(&m, 'n');
    assert_rejects(d, &m, "binary value in column title");

    m.n = 0;
    w_u8(&m, 'I');
    w_u32(&m, 16384);
    w_u8(&m, 'N');
    w_u16(&m, 3);
    w_text(&m, "1");
    w_u8(&m, 'q');
    w_u8(&m, 'n');
    assert_rejects(d, &m, "unknown tuple value kind 0x71");

    /* a text value longer than the message */
    m.n = 0;
    w_u8(&m, 'I');
    w_u32(&m, 16384);
    w_u8(&m, 'N');
    w_u16(&m, 3);
    w_u8(&m, 't');
    w_u32(&m, 0xFFFFFFF0);
    w_u8(&m, 'n');
    assert_rejects(d, &m, "truncated INSERT");

    /* trailing bytes */
    m.n = 0;
    w_u8(&m, 'I');
    w_u32(&m, 16384);
    w_u8(&m, 'N');
    w_row(&m, "1", "a", 'n');
    w_u8(&m, 0);
    assert_rejects(d, &m, "1 trailing bytes after INSERT");

    /* more relations than bytes */
    m.n = 0;
    w_u8(&m, 'T');
    w_u32(&m, 0x40000000);
    w_u8(&m, 0);
    w_u32(&m, 1);
    assert_rejects(d, &m, "truncated TRUNCATE");

    /* OID 0, a replica identity PostgreSQL has not */
    m.n = 0;
    w_u8(&m, 'Y');
    w_u32(&m, 0);
    w_str(&m, "public");
    w_str(&m, "x");
    assert_rejects(d, &m, "type OID 0");
    msg_t r = relation_msg(-1, 16400, 0);
    r.b[1 + 4 + 7 + 6] = 'x';
    assert_rejects(d, &r, "replica identity 0x78");

    /* unterminated string */
    m.n = 0;
    w_u8(&m, 'O');
    w_u64(&m, 1);
    w_u8(&m, 'a');
    assert_rejects(d, &m, "unterminated string");
    pgo_decoder_free(d);
}

/* Every proper prefix of every valid message is refused (no message of
 * these is valid at a shorter length), and nothing reads past the end:
 * each prefix is copied to an exactly sized heap block for ASan. */
static void test_every_truncation(void **state) {
    (void)state;
    msg_t ms[8];
    int nm = 0;
    ms[nm++] = relation_msg(-1, 16384, 1);
    msg_t *m = &ms[nm++];
    m->n = 0;
    w_u8(m, 'I');
    w_u32(m, 16384);
    w_u8(m, 'N');
    w_u16(m, 4);
    w_text(m, "1");
    w_text(m, "abc");
    w_u8(m, 'u');
    w_u8(m, 'n');
    m = &ms[nm++];
    m->n = 0;
    w_u8(m, 'U');
    w_u32(m, 16384);
    w_u8(m, 'O');
    w_u16(m, 4);
    w_text(m, "1");
    w_text(m, "abc");
    w_text(m, "t");
    w_u8(m, 'n');
    w_u8(m, 'N');
    w_u16(m, 4);
    w_text(m, "1");
    w_u8(m, 'u');
    w_text(m, "f");
    w_text(m, "2024-01-01 00:00:00+00");
    m = &ms[nm++];
    m->n = 0;
    w_u8(m, 'M');
    w_u8(m, 0);
    w_u64(m, 1);
    w_str(m, "p");
    w_u32(m, 2);
    w_u16(m, 0x4142);
    m = &ms[nm++];
    m->n = 0;
    w_u8(m, 'C');
    w_u8(m, 0);
    w_u64(m, 1);
    w_u64(m, 2);
    w_u64(m, 3);
    m = &ms[nm++];
    m->n = 0;
    w_u8(m, 'r');
    w_u8(m, 0);
    w_u64(m, 1);
    w_u64(m, 2);
    w_u64(m, 3);
    w_u64(m, 4);
    w_u32(m, 5);
    w_str(m, "gid");

    pgo_decoder_t *d = pgo_decoder_new(3);
    pgo_msg_t out;
    char err[128];
    assert_int_equal(pgo_decode(d, ms[0].b, ms[0].n, &out, err, sizeof(err)), 0);
    pgo_msg_clear(&out);
    for (int k = 0; k < nm; k++) {
        for (size_t len = 1; len < ms[k].n; len++) {
            uint8_t *copy = malloc(len);
            memcpy(copy, ms[k].b, len);
            assert_int_equal(pgo_decode(d, copy, len, &out, err, sizeof(err)), -1);
            assert_non_null(strstr(err, "truncated"));
            free(copy);
        }
        assert_int_equal(pgo_decode(d, ms[k].b, ms[k].n, &out, err, sizeof(err)), 0);
        pgo_msg_clear(&out);
    }
    pgo_decoder_free(d);
}

/* ---- types --------------------------------------------------------------- */

static void test_type_names(void **state) {
    (void)state;
    static const struct {
        uint32_t oid;
        const char *name;
    } want[] = {
        {21, "int2"},
        {23, "int4"},
        {20, "int8"},
        {700, "float4"},
        {701, "float8"},
        {1700, "numeric"},
        {16, "bool"},
        {25, "text"},
        {1043, "varchar"},
        {1042, "bpchar"},
        {2950, "uuid"},
        {114, "json"},
        {3802, "jsonb"},
        {1114, "timestamp"},
        {1184, "timestamptz"},
        {1082, "date"},
        {1083, "time"},
        {1266, "timetz"},
        {1186, "interval"},
        {17, "bytea"},
        {26, "oid"},
        {19, "name"},
        {18, "char"},
        {869, "inet"},
        {650, "cidr"},
        {829, "macaddr"},
        {790, "money"},
        {1560, "bit"},
        {1562, "varbit"},
        {3614, "tsvector"},
        {600, "point"},
        {1007, "_int4"},
        {1009, "_text"},
        {2951, "_uuid"},
        {1016, "_int8"},
        {1015, "_varchar"},
        {3807, "_jsonb"},
        {1000, "_bool"},
        {1022, "_float8"},
        {1231, "_numeric"},
        {1185, "_timestamptz"},
        {3904, "int4range"},
        {4451, "int4multirange"},
        {6157, "_int8multirange"},
    };
    pgo_decoder_t *d = pgo_decoder_new(1);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_string_equal(pgo_type_name(d, want[i].oid), want[i].name);
        assert_string_equal(pgo_type_name(NULL, want[i].oid), want[i].name);
    }
    assert_null(pgo_type_name(d, 0));
    assert_null(pgo_type_name(d, 17000));
    assert_null(pgo_type_name(d, 2249)); /* record: a pseudo-type, never a column's */

    pgo_msg_t out;
    char err[128];
    msg_t m = {.n = 0};
    w_u8(&m, 'Y');
    w_u32(&m, 17000);
    w_str(&m, "public");
    w_str(&m, "mood");
    assert_int_equal(pgo_decode(d, m.b, m.n, &out, err, sizeof(err)), 0);
    assert_int_equal(out.kind, PGO_TYPE);
    assert_string_equal(out.type_schema, "public");
    pgo_msg_clear(&out);
    assert_string_equal(pgo_type_name(d, 17000), "mood");

    /* renamed: the new TYPE message wins */
    m.n = 0;
    w_u8(&m, 'Y');
    w_u32(&m, 17000);
    w_str(&m, "public");
    w_str(&m, "feeling");
    assert_int_equal(pgo_decode(d, m.b, m.n, &out, err, sizeof(err)), 0);
    pgo_msg_clear(&out);
    assert_string_equal(pgo_type_name(d, 17000), "feeling");
    pgo_decoder_free(d);
}

/* ---- value conversion ---------------------------------------------------- */

static char *json_of(const pgo_decoder_t *d, uint32_t oid, char kind, const char *text, size_t len) {
    pgo_value_t v = {.kind = kind, .data = text, .len = (uint32_t)len};
    buf_t *b = buf_new(16);
    pgo_value_json(d, oid, &v, &b);
    char *s = malloc(b->len + 1);
    memcpy(s, b->data, b->len);
    s[b->len] = '\0';
    buf_unref(b);
    return s;
}

typedef struct {
    uint32_t oid;
    const char *text, *json;
} conv_t;

static void check_conversions(const pgo_decoder_t *d, const conv_t *c, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char *got = json_of(d, c[i].oid, 't', c[i].text, strlen(c[i].text));
        if (strcmp(got, c[i].json) != 0)
            fprintf(stderr, "oid %u text [%s]: got [%s], want [%s]\n", c[i].oid, c[i].text, got, c[i].json);
        assert_string_equal(got, c[i].json);
        free(got);
    }
}

static void test_json_scalars(void **state) {
    (void)state;
    static const conv_t c[] = {
        {21, "-32768", "-32768"},
        {23, "42", "42"},
        {20, "9223372036854775807", "9223372036854775807"},
        {1700, "1.50", "1.50"},
        {1700, "-0.001", "-0.001"},
        {1700, "NaN", "\"NaN\""},
        {1700, "Infinity", "\"Infinity\""},
        {1700, "-Infinity", "\"-Infinity\""},
        {26, "4294967295", "\"4294967295\""}, /* to_jsonb(oid) is a string */
        {16, "t", "true"},
        {16, "f", "false"},
        {25, "hello", "\"hello\""},
        {25, "", "\"\""},
        {25, "q\"b\\n\nt\tr\rb\bf\f\x01\x7f", "\"q\\\"b\\\\n\\nt\\tr\\rb\\bf\\f\\u0001\x7f\""},
        {25, "\xc3\xa9\xe6\x97\xa5\xf0\x9f\x8e\x89", "\"\xc3\xa9\xe6\x97\xa5\xf0\x9f\x8e\x89\""},
        {25, "bad \xff \xc3 \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf",
         "\"bad \\ufffd \\ufffd \\ufffd\\ufffd\\ufffd "
         "\\ufffd\\ufffd\\ufffd\\ufffd \\ufffd\\ufffd\""},
        {1042, "ab   ", "\"ab   \""},
        {2950, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\""},
        {17, "\\xdeadbeef", "\"\\\\xdeadbeef\""},
        {1082, "2024-01-01", "\"2024-01-01\""},
        {1082, "0044-03-15 BC", "\"0044-03-15 BC\""},
        {1083, "10:00:00", "\"10:00:00\""},
        {1266, "10:00:00+02", "\"10:00:00+02\""},
        {1186, "1 day 02:03:04", "\"1 day 02:03:04\""},
        {600, "(1,2)", "\"(1,2)\""},
        {3904, "[1,10)", "\"[1,10)\""},
        {790, "$12.34", "\"$12.34\""},
        {114, "{\"b\":1, \"a\":[1,2.0e2]}", "{\"b\":1, \"a\":[1,2.0e2]}"},
        {3802, "{\"a\": [1, 200], \"b\": 1}", "{\"a\": [1, 200], \"b\": 1}"},
        {3802, "\"\\ud83d\\ude00\"", "\"\\ud83d\\ude00\""},
        {3802, "null", "null"},
        {3802, "1e400", "1e400"},
    };
    check_conversions(NULL, c, sizeof(c) / sizeof(c[0]));
}

/* to_jsonb(float) goes through numeric_in: plain notation, scale kept. */
static void test_json_floats(void **state) {
    (void)state;
    static const conv_t c[] = {
        {701, "0", "0"},
        {701, "-0", "0"},
        {701, "1.5", "1.5"},
        {701, "-123.456", "-123.456"},
        {701, "1.5e-10", "0.00000000015"},
        {701, "1e+21", "1000000000000000000000"},
        {701, "-1e+22", "-10000000000000000000000"},
        {701, "1.2345e+3", "1234.5"},
        {701, "1.5e+1", "15"},
        {701, "0e+100", "0"},
        {701, "-00.000e+2", "0.0"},
        {701, "007.5e-1", "0.75"},
        {701, "NaN", "\"NaN\""},
        {701, "Infinity", "\"Infinity\""},
        {701, "-Infinity", "\"-Infinity\""},
        {700, "1.1", "1.1"},
        {700, "1e+20", "100000000000000000000"},
        {700, "-2.5e-05", "-0.000025"},
        /* not float text: a string, still valid JSON */
        {701, "1e", "\"1e\""},
        {701, "1e99999", "\"1e99999\""},
        {701, "--1", "\"--1\""},
        {701, "", "\"\""},
        {23, "12a", "\"12a\""},
        {23, "01", "\"01\""},
        {16, "yes", "\"yes\""},
        {3802, "{\"a\":}", "\"{\\\"a\\\":}\""},
        {3802, "\"\\ud800\"", "\"\\\"\\\\ud800\\\"\""},
    };
    check_conversions(NULL, c, sizeof(c) / sizeof(c[0]));
    char *got = json_of(NULL, 701, 't', "1e+308", 6);
    assert_int_equal(strlen(got), 309);
    assert_int_equal(got[0], '1');
    assert_int_equal(strspn(got + 1, "0"), 308);
    free(got);
    /* the smallest subnormal: 324 decimals */
    got = json_of(NULL, 701, 't', "5e-324", 6);
    assert_int_equal(strlen(got), 2 + 324);
    assert_memory_equal(got, "0.", 2);
    assert_int_equal(strspn(got + 2, "0"), 323);
    assert_int_equal(got[2 + 323], '5');
    free(got);
}

static void test_json_timestamps(void **state) {
    (void)state;
    static const conv_t c[] = {
        {1114, "2024-01-01 10:00:00", "\"2024-01-01T10:00:00\""},
        {1114, "2024-02-29 23:59:59.999999", "\"2024-02-29T23:59:59.999999\""},
        {1114, "0044-03-15 10:00:00.25 BC", "\"0044-03-15T10:00:00.25 BC\""},
        {1114, "12345-06-07 08:09:10", "\"12345-06-07T08:09:10\""},
        {1114, "infinity", "\"infinity\""},
        {1114, "-infinity", "\"-infinity\""},
        {1184, "2024-01-01 10:00:00+00", "\"2024-01-01T10:00:00+00:00\""},
        {1184, "2024-01-01 10:00:00.5+00", "\"2024-01-01T10:00:00.5+00:00\""},
        {1184, "2024-01-01 10:00:00+05:30", "\"2024-01-01T10:00:00+05:30\""},
        {1184, "1900-01-01 10:00:00+00:19:32", "\"1900-01-01T10:00:00+00:19:32\""},
        {1184, "1999-12-31 23:59:59.123456-08", "\"1999-12-31T23:59:59.123456-08:00\""},
        {1184, "0044-03-15 10:00:00+00 BC", "\"0044-03-15T10:00:00+00:00 BC\""},
        {1184, "infinity", "\"infinity\""},
        /* not ISO: left as it is */
        {1184, "Mon Jan 01 10:00:00 2024 UTC", "\"Mon Jan 01 10:00:00 2024 UTC\""},
        {1184, "2024-01-01 10:00:00", "\"2024-01-01 10:00:00\""},
        {1114, "2024-01-01", "\"2024-01-01\""},
    };
    check_conversions(NULL, c, sizeof(c) / sizeof(c[0]));
}

static void test_json_arrays(void **state) {
    (void)state;
    static const conv_t c[] = {
        {1007, "{1,2,3}", "[1,2,3]"},
        {1007, "{}", "[]"},
        {1007, "{{1,2},{3,4}}", "[[1,2],[3,4]]"},
        {1007, "[0:1]={5,6}", "[5,6]"},
        {1007, "[1:1][2:3]={{7,8}}", "[[7,8]]"},
        {1007, "{NULL,1}", "[null,1]"},
        {1009, "{\"a b\",NULL,\"NULL\",\"\",\"x\\\"y\\\\z\",\"{}\",\",\",\xc3\xa9}",
         "[\"a b\",null,\"NULL\",\"\",\"x\\\"y\\\\z\",\"{}\",\",\",\"\xc3\xa9\"]"},
        {1009, "{null,NuLl}", "[null,null]"},
        {1009, "{ a , \"b\" }", "[\"a\",\"b\"]"},
        {1009, "{a\\,b}", "[\"a,b\"]"},
        {1000, "{t,f,NULL}", "[true,false,null]"},
        {1022, "{1.5e-10,NaN,-Infinity,1e+100}",
         "[0.00000000015,\"NaN\",\"-Infinity\",10000000000000000000000000000000000000000000000000000000000000000000000"
         "000000000000000000000000000000]"},
        {1231, "{1.50,NaN}", "[1.50,\"NaN\"]"},
        {1185, "{\"2024-01-01 10:00:00+00\",infinity}", "[\"2024-01-01T10:00:00+00:00\",\"infinity\"]"},
        {1115, "{\"2024-01-01 10:00:00.25\"}", "[\"2024-01-01T10:00:00.25\"]"},
        {1182, "{2024-01-01,infinity}", "[\"2024-01-01\",\"infinity\"]"},
        {3807, "{\"{\\\"a\\\": 1}\",\"[1, 2]\",NULL,\"\\\"s\\\"\",null}", "[{\"a\": 1},[1, 2],null,\"s\",null]"},
        {199, "{\"{\\\"b\\\":1}\",\"nope\"}", "[{\"b\":1},\"nope\"]"},
        {1020, "{(1,2),(3,4);(5,6),(7,8)}", "[\"(1,2),(3,4)\",\"(5,6),(7,8)\"]"},
        {3905, "{\"[1,10)\",empty}", "[\"[1,10)\",\"empty\"]"},
        {2951, "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", "[\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"]"},
        {22, "1 2", "[1,2]"},
        {22, "", "[]"},
        {30, "1 2", "[\"1\",\"2\"]"},
        /* not array text: the whole value as a string */
        {1007, "{1,2", "\"{1,2\""},
        {1007, "{1,,2}", "\"{1,,2}\""},
        {1007, "{1}x", "\"{1}x\""},
        {1007, "1,2", "\"1,2\""},
        {1007, "[1:2]{1,2}", "\"[1:2]{1,2}\""},
        {1009, "{\"a}", "\"{\\\"a}\""},
        {1009, "{a\"b}", "\"{a\\\"b}\""},
        {1007, "{{{{{{{{{1}}}}}}}}}", "\"{{{{{{{{{1}}}}}}}}}\""},
        {1007, "{{{{{{1}}}}}}", "[[[[[[1]]]]]]"},
    };
    check_conversions(NULL, c, sizeof(c) / sizeof(c[0]));
}

static void test_json_user_types(void **state) {
    (void)state;
    pgo_decoder_t *d = pgo_decoder_new(1);
    pgo_msg_t out;
    char err[128];
    struct {
        uint32_t oid;
        const char *schema, *name;
    } types[] = {
        {17000, "public", "mood"},    {17001, "public", "_mood"},
        {17002, "", "int4"}, /* a domain over int4: pgoutput names the base */
        {17003, "public", "_posint"}, {17004, "", "jsonb"},
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        msg_t m = {.n = 0};
        w_u8(&m, 'Y');
        w_u32(&m, types[i].oid);
        w_str(&m, types[i].schema);
        w_str(&m, types[i].name);
        assert_int_equal(pgo_decode(d, m.b, m.n, &out, err, sizeof(err)), 0);
        pgo_msg_clear(&out);
    }
    assert_string_equal(pgo_type_name(d, 17002), "int4");
    conv_t c[] = {
        {17000, "happy", "\"happy\""},
        {17001, "{sad,happy}", "[\"sad\",\"happy\"]"},
        {17001, "(not an array)", "\"(not an array)\""},
        {17002, "5", "5"},
        {17003, "{1,2}", "[\"1\",\"2\"]"}, /* until the caller says what it is */
        {17004, "{\"a\": 1}", "{\"a\": 1}"},
        {17999, "(1,\"a b\")", "\"(1,\\\"a b\\\")\""}, /* never named: a string */
    };
    check_conversions(d, c, sizeof(c) / sizeof(c[0]));

    pgo_type_set_base(d, 17003, 1007);
    c[4].json = "[1,2]";
    pgo_type_set_base(d, 17000, 17000); /* itself: ignored */
    pgo_type_set_base(d, 23, 25);       /* built-in: ignored */
    pgo_type_set_base(d, 18000, 18001); /* a cycle ends as a string */
    pgo_type_set_base(d, 18001, 18000);
    conv_t after[] = {
        c[4],
        {17000, "happy", "\"happy\""},
        {23, "5", "5"},
        {18000, "x", "\"x\""},
    };
    check_conversions(d, after, sizeof(after) / sizeof(after[0]));
    assert_null(pgo_type_name(d, 18000));
    pgo_decoder_free(d);
}

static void test_json_null_and_unchanged(void **state) {
    (void)state;
    char *got = json_of(NULL, 23, 'n', NULL, 0);
    assert_string_equal(got, "null");
    free(got);
    got = json_of(NULL, 25, 'u', NULL, 0);
    assert_string_equal(got, "null");
    free(got);
    got = json_of(NULL, 25, 't', NULL, 0); /* an empty text value may have no data pointer */
    assert_string_equal(got, "\"\"");
    free(got);
    /* appends: what was in the buf stays */
    pgo_value_t v = {.kind = 't', .data = "{1,2,{3}", .len = 8};
    buf_t *b = buf_new(16);
    buf_puts(&b, "{\"a\":");
    pgo_value_json(NULL, 1007, &v, &b); /* fails as an array half-way, rolled back to a string */
    assert_int_equal(b->len, strlen("{\"a\":\"{1,2,{3}\""));
    assert_memory_equal(b->data, "{\"a\":\"{1,2,{3}\"", b->len);
    buf_unref(b);
    /* an element that is not its type's text becomes a string on its own */
    char *got2 = json_of(NULL, 1007, 't', "{1,x}", 5);
    assert_string_equal(got2, "[1,\"x\"]");
    free(got2);
}

/* ---- commit timestamps --------------------------------------------------- */

static void test_timestamp_iso(void **state) {
    (void)state;
    static const struct {
        int64_t us;
        const char *want;
    } c[] = {
        {0, "2000-01-01T00:00:00.000Z"},
        {1, "2000-01-01T00:00:00.000Z"},
        {999999, "2000-01-01T00:00:00.999Z"},
        {-1, "1999-12-31T23:59:59.999Z"},
        {-86400000000LL, "1999-12-31T00:00:00.000Z"},
        {INT64_C(757382400123456), "2024-01-01T00:00:00.123Z"}, /* unix 1704067200 - 946684800 */
        {INT64_C(5097600000000), "2000-02-29T00:00:00.000Z"},
        {INT64_C(5183999999999), "2000-02-29T23:59:59.999Z"},
        {INT64_C(-946684800000000), "1970-01-01T00:00:00.000Z"},
        {INT64_C(252455615999999999), "9999-12-31T23:59:59.999Z"},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        char out[32];
        pgo_timestamp_iso(c[i].us, out);
        assert_string_equal(out, c[i].want);
    }
    char out[32];
    pgo_timestamp_iso(INT64_MAX, out);
    assert_true(strlen(out) < 32);
    pgo_timestamp_iso(INT64_MIN, out);
    assert_true(strlen(out) < 32);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_begin_commit_origin),
        cmocka_unit_test(test_relation_cached),
        cmocka_unit_test(test_insert),
        cmocka_unit_test(test_update_forms),
        cmocka_unit_test(test_delete_forms),
        cmocka_unit_test(test_truncate_and_message),
        cmocka_unit_test(test_stream_block_xids),
        cmocka_unit_test(test_stream_abort_v4),
        cmocka_unit_test(test_two_phase),
        cmocka_unit_test(test_relation_replaced),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_json_scalars),
        cmocka_unit_test(test_json_floats),
        cmocka_unit_test(test_json_timestamps),
        cmocka_unit_test(test_json_arrays),
        cmocka_unit_test(test_json_user_types),
        cmocka_unit_test(test_json_null_and_unchanged),
        cmocka_unit_test(test_timestamp_iso),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
