/*
 * Unit tests for cdc/history without a stream: positions (text, parse of
 * untrusted text, order), and the history of changes: what cdc_hist_add
 * keeps and how head and floor move, the values rebuilt exactly from an
 * entry, each entry keeping its relation's shape across an ALTER TABLE,
 * eviction by bytes and by age (oldest first, floor at the last evicted),
 * cdc_hist_after at every boundary (with the ring wrapped and grown while
 * wrapped), cdc_hist_keep_lsn and cdc_hist_stream_start.
 *
 * Times are in PostgreSQL's epoch (µs since 2000-01-01), around NOW.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdc/history.h"
#include "util/mem.h"

#define SEC 1000000LL
#define NOW (800000000LL * SEC)

static cdc_pos_t P(uint64_t lsn, uint32_t ord) { return (cdc_pos_t){lsn, ord}; }

static void assert_pos(cdc_pos_t got, cdc_pos_t want) {
    assert_int_equal(got.lsn, want.lsn);
    assert_int_equal(got.ord, want.ord);
}

/* ---- positions ------------------------------------------------------------- */

static void assert_text(cdc_pos_t p, const char *want) {
    char t[CDC_POS_TEXT_MAX];
    memset(t, 'x', sizeof(t));
    cdc_pos_text(p, t);
    assert_string_equal(t, want);
    cdc_pos_t back = {12345, 678};
    assert_int_equal(cdc_pos_parse(t, strlen(t), &back), 0);
    assert_pos(back, p);
}

/* Parses s (len bytes) and expects it to be p. */
static void assert_parses(const char *s, size_t len, cdc_pos_t p) {
    cdc_pos_t got = {12345, 678};
    assert_int_equal(cdc_pos_parse(s, len, &got), 0);
    assert_pos(got, p);
}

/* Refused, and *out left as it was. */
static void assert_refused(const char *s, size_t len) {
    cdc_pos_t got = {12345, 678};
    assert_int_equal(cdc_pos_parse(s, len, &got), -1);
    assert_pos(got, P(12345, 678));
}
#define REFUSED(lit) assert_refused(lit, sizeof(lit) - 1)

static void pos_text_round_trip(void **state) {
    (void)state;
    assert_text(P(0, 0), "0/0:0");
    assert_text(P(UINT64_MAX, UINT32_MAX), "FFFFFFFF/FFFFFFFF:4294967295");
    assert_text(P(0x16B374D848ULL, 3), "16/B374D848:3");
    assert_text(P(0xFFFFFFFFULL, 1), "0/FFFFFFFF:1");
    assert_text(P(1ULL << 32, 10), "1/0:10");
    assert_text(P(0xA00000000ULL | 0x0000000F, 4294967294u), "A/F:4294967294");
    /* the longest text fits with its NUL */
    assert_true(strlen("FFFFFFFF/FFFFFFFF:4294967295") < CDC_POS_TEXT_MAX);
}

/* What the parser takes beyond cdc_pos_text's exact output: lowercase
 * hex, leading zeros within the field widths (8 hex digits, 10 decimal);
 * it reads len bytes, not up to a NUL. */
static void pos_parse_lenient_forms(void **state) {
    (void)state;
    const char *s = "16/b374d848:3";
    assert_parses(s, strlen(s), P(0x16B374D848ULL, 3));
    s = "16/B374d848:3";
    assert_parses(s, strlen(s), P(0x16B374D848ULL, 3));
    s = "ffffffff/ffffffff:4294967295";
    assert_parses(s, strlen(s), P(UINT64_MAX, UINT32_MAX));
    s = "00000016/0B374D84:0000000003";
    assert_parses(s, strlen(s), P(0x160B374D84ULL, 3));
    s = "0/0:0000000000";
    assert_parses(s, strlen(s), P(0, 0));
    /* len bounds the text: what follows is not read */
    s = "1/2:34xyz";
    assert_parses(s, 6, P(0x100000002ULL, 34));
    assert_parses(s, 5, P(0x100000002ULL, 3));
}

static void pos_parse_refusals(void **state) {
    (void)state;
    cdc_pos_t got = {1, 2};
    assert_int_equal(cdc_pos_parse(NULL, 0, &got), -1);
    assert_int_equal(cdc_pos_parse(NULL, 5, &got), -1);
    REFUSED("");
    assert_refused("0/0:1", 0);
    REFUSED("16");
    REFUSED("16:3");         /* no '/' */
    REFUSED("16B374D848:3"); /* no '/' */
    REFUSED("16/B374D848");  /* no ':' */
    REFUSED("16/B374D848:"); /* no ordinal */
    REFUSED("16/B374D8483"); /* no ':' */
    REFUSED("/B374D848:3");  /* no high half */
    REFUSED("16/:3");        /* no low half */
    REFUSED(":3");
    REFUSED("/:");
    REFUSED("123456789/0:1");   /* 9 hex digits */
    REFUSED("0/123456789:1");   /* 9 hex digits */
    REFUSED("000000000/0:1");   /* 9 digits, even as zeros */
    REFUSED("0/0:00000000001"); /* 11 decimal digits */
    REFUSED("0/0:x");
    REFUSED("0/0:A"); /* the ordinal is decimal */
    REFUSED("0/0:-1");
    REFUSED("0/0:+1");
    REFUSED("0/0:4294967296"); /* UINT32_MAX + 1 */
    REFUSED("0/0:9999999999");
    REFUSED("0/0:99999999999999999999");
    REFUSED("0/0:3 ");
    REFUSED(" 0/0:3");
    REFUSED("0/0: 3");
    REFUSED("0/0:3x");
    REFUSED("0/0:3:4");
    REFUSED("0/0/0:3");
    REFUSED("0x16/0:1");
    REFUSED("G/0:1");
    REFUSED("0/g:1");
    REFUSED("-1/0:1");
    REFUSED("16/B374D848:3\n");
    /* an embedded NUL counts as a byte like any other */
    REFUSED("0/0:1\0");
    REFUSED("0/0:1\0002");
    REFUSED("0/0\0:1");
    REFUSED("\0/0:1");
    /* bytes above 0x7F (signed char) */
    REFUSED("0/0:\xb9");
    REFUSED("\xff/0:1");
}

static void pos_order(void **state) {
    (void)state;
    assert_int_equal(cdc_pos_cmp(P(5, 1), P(5, 1)), 0);
    assert_int_equal(cdc_pos_cmp(P(5, 1), P(5, 2)), -1);
    assert_int_equal(cdc_pos_cmp(P(5, 2), P(5, 1)), 1);
    /* the LSN first, whatever the ordinal */
    assert_int_equal(cdc_pos_cmp(P(5, UINT32_MAX), P(6, 0)), -1);
    assert_int_equal(cdc_pos_cmp(P(6, 0), P(5, UINT32_MAX)), 1);
    /* (lsn, 0) is before every change of the transaction at lsn */
    assert_int_equal(cdc_pos_cmp(P(6, 0), P(6, 1)), -1);
    /* the high half of the LSN counts (not a 32-bit compare) */
    assert_int_equal(cdc_pos_cmp(P(1ULL << 32, 0), P(0xFFFFFFFFULL, 9)), 1);
    assert_int_equal(cdc_pos_cmp(P(0, 0), P(UINT64_MAX, UINT32_MAX)), -1);
    assert_int_equal(cdc_pos_cmp(P(UINT64_MAX, UINT32_MAX), P(UINT64_MAX, UINT32_MAX)), 0);
    /* text order is not position order; parsing restores it */
    cdc_pos_t a, b;
    assert_int_equal(cdc_pos_parse("9/0:1", 5, &a), 0);
    assert_int_equal(cdc_pos_parse("10/0:1", 6, &b), 0);
    assert_int_equal(cdc_pos_cmp(a, b), -1);
    assert_int_equal(cdc_pos_parse("0/0:9", 5, &a), 0);
    assert_int_equal(cdc_pos_parse("0/0:10", 6, &b), 0);
    assert_int_equal(cdc_pos_cmp(a, b), -1);
}

/* ---- changes ----------------------------------------------------------------- */

/* public.todos (id int8 key, title text, done bool), and the shape after
 * ALTER TABLE todos ADD COLUMN due timestamptz. */
static pgo_column_t todos_cols[4] = {
    {"id", 20, -1, 1}, {"title", 25, -1, 0}, {"done", 16, -1, 0}, {"due", 1184, -1, 0}};
static const pgo_relation_t todos = {16384, "public", "todos", 'd', 3, todos_cols};
static const pgo_relation_t todos2 = {16384, "public", "todos", 'd', 4, todos_cols};

/* An INSERT of todos with id as text. */
typedef struct {
    char id[24];
    pgo_value_t v[3];
    pgo_msg_t m;
} ins_t;

static void ins_init(ins_t *x, uint64_t id) {
    memset(x, 0, sizeof(*x));
    snprintf(x->id, sizeof(x->id), "%llu", (unsigned long long)id);
    x->v[0] = (pgo_value_t){'t', x->id, (uint32_t)strlen(x->id)};
    x->v[1] = (pgo_value_t){'t', "buy milk", 8};
    x->v[2] = (pgo_value_t){'n', NULL, 0};
    x->m = (pgo_msg_t){.kind = PGO_INSERT, .rel = &todos, .new_tuple = {3, x->v}};
}

/* Adds an INSERT at pos committed at commit_time, seen then. */
static int add_at(cdc_hist_t *h, cdc_pos_t pos, int64_t commit_time) {
    ins_t x;
    ins_init(&x, pos.lsn * 100 + pos.ord);
    return cdc_hist_add(h, &x.m, pos, commit_time, 1, commit_time);
}

static void assert_values(const pgo_tuple_t *got, const pgo_value_t *want, uint16_t n) {
    assert_int_equal(got->natts, n);
    for (uint16_t i = 0; i < n; i++) {
        assert_int_equal(got->values[i].kind, want[i].kind);
        if (want[i].kind == 't') {
            assert_int_equal(got->values[i].len, want[i].len);
            if (want[i].len)
                assert_memory_equal(got->values[i].data, want[i].data, want[i].len);
        }
    }
}

/* Rebuilds entry i and checks it against the message that was added. */
static void assert_entry_msg(const cdc_hist_t *h, size_t i, const pgo_msg_t *want, cdc_pos_t pos, int64_t ct) {
    const cdc_hist_entry_t *e = cdc_hist_at(h, i);
    assert_pos(e->pos, pos);
    assert_int_equal(e->commit_time, ct);
    pgo_value_t vals[16];
    assert_true((size_t)e->natts_new + e->natts_old <= 16);
    pgo_msg_t m;
    memset(&m, 0xA5, sizeof(m));
    cdc_hist_msg(e, &m, vals);
    assert_int_equal(m.kind, want->kind);
    assert_int_equal(m.lsn, pos.lsn);
    assert_int_equal(m.commit_time, ct);
    assert_ptr_equal(m.rel, cdc_hist_entry_rel(e));
    assert_int_equal(m.rel->relid, want->rel->relid);
    assert_int_equal(m.rel->ncols, want->rel->ncols);
    assert_int_equal(m.old_kind, want->old_kind);
    assert_values(&m.new_tuple, want->new_tuple.values, want->new_tuple.natts);
    if (want->old_kind)
        assert_values(&m.old_tuple, want->old_tuple.values, want->old_tuple.natts);
    else
        assert_int_equal(m.old_tuple.natts, 0);
}

/* head moves only forward; only a new position returns 1 */
static void add_positions(void **state) {
    (void)state;
    cdc_hist_t h;
    cdc_hist_init(&h, 60, 1 << 20);
    assert_true(cdc_hist_enabled(&h));
    assert_int_equal(cdc_hist_len(&h), 0);
    assert_int_equal(cdc_hist_keep_lsn(&h), 0);

    assert_int_equal(add_at(&h, P(100, 1), NOW), 1);
    assert_int_equal(add_at(&h, P(100, 2), NOW), 1);
    assert_int_equal(add_at(&h, P(200, 1), NOW), 1);
    assert_int_equal(cdc_hist_len(&h), 3);
    assert_pos(h.head, P(200, 1));
    assert_pos(h.floor, P(0, 0));
    /* again, or older: not new, not kept, head stays */
    assert_int_equal(add_at(&h, P(200, 1), NOW), 0);
    assert_int_equal(add_at(&h, P(100, 2), NOW), 0);
    assert_int_equal(add_at(&h, P(150, 7), NOW), 0);
    assert_int_equal(add_at(&h, P(0, 0), NOW), 0);
    assert_int_equal(cdc_hist_len(&h), 3);
    assert_pos(h.head, P(200, 1));
    assert_int_equal(h.evicted, 0);

    /* keep 0 (a change the history does not serve): head moves, floor
     * does not, nothing kept, and it is not new a second time */
    ins_t x;
    ins_init(&x, 1);
    assert_int_equal(cdc_hist_add(&h, &x.m, P(300, 1), NOW, 0, NOW), 1);
    assert_int_equal(cdc_hist_len(&h), 3);
    assert_pos(h.head, P(300, 1));
    assert_pos(h.floor, P(0, 0));
    assert_int_equal(cdc_hist_add(&h, &x.m, P(300, 1), NOW, 1, NOW), 0);
    assert_int_equal(cdc_hist_len(&h), 3);
    /* no relation: the same as keep 0 */
    x.m.rel = NULL;
    assert_int_equal(cdc_hist_add(&h, &x.m, P(300, 2), NOW, 1, NOW), 1);
    assert_int_equal(cdc_hist_len(&h), 3);
    assert_pos(h.head, P(300, 2));

    /* the kept ones, in order */
    assert_pos(cdc_hist_at(&h, 0)->pos, P(100, 1));
    assert_pos(cdc_hist_at(&h, 1)->pos, P(100, 2));
    assert_pos(cdc_hist_at(&h, 2)->pos, P(200, 1));
    assert_int_equal(cdc_hist_keep_lsn(&h), 100);
    size_t bytes = 0;
    for (size_t i = 0; i < cdc_hist_len(&h); i++)
        bytes += cdc_hist_at(&h, i)->bytes;
    assert_int_equal(h.bytes, bytes);
    cdc_hist_free(&h);
}

/* Every kind of value and old tuple comes back exactly, copied: the
 * message's own bytes may go away after cdc_hist_add. */
static void msg_rebuilt(void **state) {
    (void)state;
    cdc_hist_t h;
    cdc_hist_init(&h, 60, 1 << 20);

    /* INSERT: text, NULL, an empty text, and text with a NUL and high bytes */
    char id[] = "42", title[] = "a\0b\xff", done[] = "";
    pgo_value_t iv[3] = {{'t', id, 2}, {'t', title, 4}, {'t', done, 0}};
    pgo_msg_t ins = {.kind = PGO_INSERT, .rel = &todos, .new_tuple = {3, iv}};
    pgo_value_t iv_want[3] = {{'t', "42", 2}, {'t', "a\0b\xff", 4}, {'t', "", 0}};
    pgo_msg_t ins_want = ins;
    ins_want.new_tuple.values = iv_want;

    /* UPDATE with the key's old value ('K'), title unchanged TOAST ('u') */
    char id2[] = "43", oldid[] = "41";
    pgo_value_t uv[3] = {{'t', id2, 2}, {'u', NULL, 0}, {'n', NULL, 0}};
    pgo_value_t uo[3] = {{'t', oldid, 2}, {'n', NULL, 0}, {'n', NULL, 0}};
    pgo_msg_t upd = {.kind = PGO_UPDATE, .rel = &todos, .old_kind = 'K', .old_tuple = {3, uo}, .new_tuple = {3, uv}};
    pgo_value_t uv_want[3] = {{'t', "43", 2}, {'u', NULL, 0}, {'n', NULL, 0}};
    pgo_value_t uo_want[3] = {{'t', "41", 2}, {'n', NULL, 0}, {'n', NULL, 0}};
    pgo_msg_t upd_want = upd;
    upd_want.new_tuple.values = uv_want;
    upd_want.old_tuple.values = uo_want;

    /* UPDATE without an old tuple */
    pgo_msg_t upd0 = {.kind = PGO_UPDATE, .rel = &todos, .new_tuple = {3, uv_want}};

    /* DELETE with the whole old row ('O'), no new tuple */
    char oid_[] = "7", otitle[] = "gone";
    pgo_value_t dov[3] = {{'t', oid_, 1}, {'t', otitle, 4}, {'t', "t", 1}};
    pgo_msg_t del = {.kind = PGO_DELETE, .rel = &todos, .old_kind = 'O', .old_tuple = {3, dov}};
    pgo_value_t dov_want[3] = {{'t', "7", 1}, {'t', "gone", 4}, {'t', "t", 1}};
    pgo_msg_t del_want = del;
    del_want.old_tuple.values = dov_want;

    assert_int_equal(cdc_hist_add(&h, &ins, P(0x16B374D848ULL, 1), NOW - 5, 1, NOW), 1);
    assert_int_equal(cdc_hist_add(&h, &upd, P(0x16B374D848ULL, 2), NOW - 5, 1, NOW), 1);
    assert_int_equal(cdc_hist_add(&h, &upd0, P(0x16B374D848ULL, 3), NOW - 5, 1, NOW), 1);
    assert_int_equal(cdc_hist_add(&h, &del, P(0x16B374D900ULL, 1), NOW - 1, 1, NOW), 1);
    /* the caller's buffers are reused */
    memset(id, 'z', sizeof(id));
    memset(title, 'z', sizeof(title));
    memset(id2, 'z', sizeof(id2));
    memset(oldid, 'z', sizeof(oldid));
    memset(oid_, 'z', sizeof(oid_));
    memset(otitle, 'z', sizeof(otitle));
    memset(iv, 0, sizeof(iv));
    memset(uv, 0, sizeof(uv));
    memset(uo, 0, sizeof(uo));
    memset(dov, 0, sizeof(dov));

    assert_int_equal(cdc_hist_len(&h), 4);
    assert_entry_msg(&h, 0, &ins_want, P(0x16B374D848ULL, 1), NOW - 5);
    assert_entry_msg(&h, 1, &upd_want, P(0x16B374D848ULL, 2), NOW - 5);
    assert_entry_msg(&h, 2, &upd0, P(0x16B374D848ULL, 3), NOW - 5);
    assert_entry_msg(&h, 3, &del_want, P(0x16B374D900ULL, 1), NOW - 1);
    const cdc_hist_entry_t *e = cdc_hist_at(&h, 1);
    assert_int_equal(e->kind, PGO_UPDATE);
    assert_int_equal(e->old_kind, 'K');
    assert_int_equal(e->natts_new, 3);
    assert_int_equal(e->natts_old, 3);
    e = cdc_hist_at(&h, 2);
    assert_int_equal(e->natts_old, 0);
    e = cdc_hist_at(&h, 3);
    assert_int_equal(e->kind, PGO_DELETE);
    assert_int_equal(e->natts_new, 0);

    /* the old tuple's values follow the new tuple's in vals */
    pgo_value_t vals[6];
    pgo_msg_t m;
    cdc_hist_msg(cdc_hist_at(&h, 1), &m, vals);
    assert_ptr_equal(m.new_tuple.values, vals);
    assert_ptr_equal(m.old_tuple.values, vals + 3);

    /* an entry costs at least its header and its values */
    assert_true(cdc_hist_at(&h, 0)->bytes >= sizeof(cdc_hist_entry_t) + 2 + 4 + 0);
    size_t bytes = 0;
    for (size_t i = 0; i < cdc_hist_len(&h); i++)
        bytes += cdc_hist_at(&h, i)->bytes;
    assert_int_equal(h.bytes, bytes);
    cdc_hist_free(&h);
}

/* An entry keeps the shape its relation had when it was added. */
static void relation_shapes(void **state) {
    (void)state;
    cdc_hist_t h;
    cdc_hist_init(&h, 60, 1 << 20);

    /* the caller's relation is a copy that goes away (like the decoder's) */
    pgo_relation_t *r = xcalloc(1, sizeof(*r));
    r->relid = 16384;
    r->schema = xstrdup("public");
    r->name = xstrdup("todos");
    r->replident = 'd';
    r->ncols = 3;
    r->cols = xcalloc(3, sizeof(*r->cols));
    for (int i = 0; i < 3; i++) {
        r->cols[i] = todos_cols[i];
        r->cols[i].name = xstrdup(todos_cols[i].name);
    }
    cdc_hist_relation(&h, r);
    ins_t x;
    ins_init(&x, 1);
    x.m.rel = r;
    assert_int_equal(cdc_hist_add(&h, &x.m, P(100, 1), NOW, 1, NOW), 1);
    /* the same RELATION again (a new session): nothing changes */
    cdc_hist_relation(&h, r);
    assert_int_equal(cdc_hist_add(&h, &x.m, P(100, 2), NOW, 1, NOW), 1);
    for (int i = 0; i < 3; i++)
        free(r->cols[i].name);
    free(r->cols);
    free(r->schema);
    free(r->name);
    free(r);

    x.m.rel = &todos; /* what the entries are compared with */

    /* ALTER TABLE todos ADD COLUMN due */
    cdc_hist_relation(&h, &todos2);
    pgo_value_t v4[4] = {{'t', "2", 1}, {'t', "walk", 4}, {'n', NULL, 0}, {'t', "2024-01-01 00:00:00+00", 22}};
    pgo_msg_t m4 = {.kind = PGO_INSERT, .rel = &todos2, .new_tuple = {4, v4}};
    assert_int_equal(cdc_hist_add(&h, &m4, P(200, 1), NOW, 1, NOW), 1);

    for (size_t i = 0; i < 2; i++) {
        const pgo_relation_t *er = cdc_hist_entry_rel(cdc_hist_at(&h, i));
        assert_int_equal(er->relid, 16384);
        assert_string_equal(er->schema, "public");
        assert_string_equal(er->name, "todos");
        assert_int_equal(er->replident, 'd');
        assert_int_equal(er->ncols, 3);
        for (int c = 0; c < 3; c++) {
            assert_string_equal(er->cols[c].name, todos_cols[c].name);
            assert_int_equal(er->cols[c].type_oid, todos_cols[c].type_oid);
            assert_int_equal(er->cols[c].typmod, todos_cols[c].typmod);
            assert_int_equal(er->cols[c].is_key, todos_cols[c].is_key);
        }
        assert_entry_msg(&h, i, &x.m, P(100, (uint32_t)i + 1), NOW);
    }
    const pgo_relation_t *er = cdc_hist_entry_rel(cdc_hist_at(&h, 2));
    assert_int_equal(er->ncols, 4);
    assert_string_equal(er->cols[3].name, "due");
    assert_int_equal(er->cols[3].type_oid, 1184);
    assert_entry_msg(&h, 2, &m4, P(200, 1), NOW);

    /* a change whose shape the history was not told of (its RELATION
     * message not passed on): the entry has the change's shape, and the
     * older entries keep theirs. Here: the key moves to title, and the
     * column renamed. */
    pgo_column_t cols3[3] = {{"id", 20, -1, 0}, {"name", 25, -1, 1}, {"done", 16, -1, 0}};
    pgo_relation_t todos3 = {16384, "public", "todos", 'f', 3, cols3};
    x.m.rel = &todos3;
    assert_int_equal(cdc_hist_add(&h, &x.m, P(300, 1), NOW, 1, NOW), 1);
    er = cdc_hist_entry_rel(cdc_hist_at(&h, 3));
    assert_int_equal(er->ncols, 3);
    assert_int_equal(er->replident, 'f');
    assert_string_equal(er->cols[1].name, "name");
    assert_int_equal(er->cols[1].is_key, 1);
    assert_int_equal(cdc_hist_entry_rel(cdc_hist_at(&h, 2))->ncols, 4);
    er = cdc_hist_entry_rel(cdc_hist_at(&h, 0));
    assert_string_equal(er->cols[1].name, "title");
    assert_int_equal(er->replident, 'd');

    /* another table beside it */
    pgo_relation_t other = {777, "app", "notes", 'd', 3, todos_cols};
    x.m.rel = &other;
    assert_int_equal(cdc_hist_add(&h, &x.m, P(300, 2), NOW, 1, NOW), 1);
    er = cdc_hist_entry_rel(cdc_hist_at(&h, 4));
    assert_int_equal(er->relid, 777);
    assert_string_equal(er->schema, "app");
    assert_int_equal(cdc_hist_entry_rel(cdc_hist_at(&h, 3))->relid, 16384);

    /* the oldest shapes go with their last entries (ASan: no leak, no
     * use after free) */
    h.max_bytes = 0;
    assert_int_equal(cdc_hist_evict(&h, NOW), 1);
    assert_int_equal(cdc_hist_len(&h), 0);
    cdc_hist_free(&h);
}

/* A TYPE message is decoded into the history's own type cache. */
static void type_names(void **state) {
    (void)state;
    cdc_hist_t h;
    cdc_hist_init(&h, 60, 1 << 20);
    const uint8_t y[] = {'Y', 0, 0, 0x40, 0x01, 'p', 'u', 'b', 'l', 'i', 'c', 0, 'm', 'o', 'o', 'd', 0};
    assert_null(pgo_type_name(h.types, 0x4001));
    cdc_hist_type(&h, y, sizeof(y));
    assert_non_null(pgo_type_name(h.types, 0x4001));
    assert_string_equal(pgo_type_name(h.types, 0x4001), "mood");
    /* not a TYPE message, or cut short: ignored */
    cdc_hist_type(&h, y, sizeof(y) - 3);
    cdc_hist_type(&h, (const uint8_t *)"Z", 1);
    assert_string_equal(pgo_type_name(h.types, 0x4001), "mood");
    cdc_hist_free(&h);
}

/* ---- eviction ------------------------------------------------------------------- */

static void evict_by_bytes(void **state) {
    (void)state;
    cdc_hist_t h;
    cdc_hist_init(&h, 3600, SIZE_MAX);
    for (uint32_t i = 1; i <= 5; i++)
        assert_int_equal(add_at(&h, P(100 * i, i), NOW), 1);
    /* nothing is over either bound */
    assert_int_equal(cdc_hist_evict(&h, NOW), 0);
    assert_int_equal(cdc_hist_len(&h), 5);

    /* room for the newest three */
    size_t three = cdc_hist_at(&h, 2)->bytes + cdc_hist_at(&h, 3)->bytes + cdc_hist_at(&h, 4)->bytes;
    h.max_bytes = three;
    assert_int_equal(cdc_hist_evict(&h, NOW), 1);
    assert_int_equal(cdc_hist_len(&h), 3);
    assert_int_equal(h.bytes, three);
    assert_int_equal(h.evicted, 2);
    assert_pos(h.floor, P(200, 2)); /* the last one dropped */
    assert_pos(h.head, P(500, 5));
    assert_pos(cdc_hist_at(&h, 0)->pos, P(300, 3));
    assert_int_equal(cdc_hist_keep_lsn(&h), 300);
    /* again: nothing moves */
    assert_int_equal(cdc_hist_evict(&h, NOW), 0);
    assert_int_equal(cdc_hist_len(&h), 3);

    /* a byte short of the three: one more goes */
    h.max_bytes = three - 1;
    assert_int_equal(cdc_hist_evict(&h, NOW), 1);
    assert_int_equal(cdc_hist_len(&h), 2);
    assert_pos(h.floor, P(300, 3));
    assert_int_equal(h.evicted, 3);

    /* no room at all: everything goes, the floor is the newest */
    h.max_bytes = 0;
    assert_int_equal(cdc_hist_evict(&h, NOW), 1);
    assert_int_equal(cdc_hist_len(&h), 0);
    assert_int_equal(h.bytes, 0);
    assert_pos(h.floor, P(500, 5));
    assert_int_equal(cdc_hist_keep_lsn(&h), 0);
    assert_int_equal(h.evicted, 5);
    cdc_hist_free(&h);
}

static void evict_by_age(void **state) {
    (void)state;
    cdc_hist_t h;
    cdc_hist_init(&h, 60, SIZE_MAX);
    int64_t ct[5] = {NOW - 100 * SEC, NOW - 70 * SEC, NOW - 60 * SEC - 1, NOW - 60 * SEC, NOW - 10 * SEC};
    for (uint32_t i = 0; i < 5; i++)
        assert_int_equal(add_at(&h, P(1000 + i, 1), ct[i]), 1);
    assert_int_equal(cdc_hist_len(&h), 5);
    /* as of the newest commit nothing is too old */
    assert_int_equal(cdc_hist_evict(&h, NOW - 40 * SEC), 0);
    assert_int_equal(cdc_hist_len(&h), 5);
    /* now: older than 60 s goes; exactly 60 s stays */
    assert_int_equal(cdc_hist_evict(&h, NOW), 1);
    assert_int_equal(cdc_hist_len(&h), 2);
    assert_int_equal(h.evicted, 3);
    assert_pos(h.floor, P(1002, 1));
    assert_pos(cdc_hist_at(&h, 0)->pos, P(1003, 1));
    assert_int_equal(cdc_hist_keep_lsn(&h), 1003);
    assert_int_equal(cdc_hist_evict(&h, NOW), 0);
    /* later, all of it */
    assert_int_equal(cdc_hist_evict(&h, NOW + 51 * SEC), 1);
    assert_int_equal(cdc_hist_len(&h), 0);
    assert_pos(h.floor, P(1004, 1));
    assert_pos(h.head, P(1004, 1));
    assert_int_equal(h.bytes, 0);
    cdc_hist_free(&h);
}

/* A change already too old when decoded (after a long outage): nothing
 * before it can be served either. */
static void too_old_when_added(void **state) {
    (void)state;
    cdc_hist_t h;
    cdc_hist_init(&h, 60, SIZE_MAX);
    for (uint32_t i = 1; i <= 3; i++)
        assert_int_equal(add_at(&h, P(100, i), NOW - 30 * SEC), 1);
    ins_t x;
    ins_init(&x, 9);
    /* exactly the window: kept */
    assert_int_equal(cdc_hist_add(&h, &x.m, P(200, 1), NOW - 60 * SEC, 1, NOW), 1);
    assert_int_equal(cdc_hist_len(&h), 4);
    /* a microsecond past it: dropped, and everything before it */
    assert_int_equal(cdc_hist_add(&h, &x.m, P(300, 1), NOW - 60 * SEC - 1, 1, NOW), 1);
    assert_int_equal(cdc_hist_len(&h), 0);
    assert_pos(h.floor, P(300, 1));
    assert_pos(h.head, P(300, 1));
    assert_int_equal(h.bytes, 0);
    assert_int_equal(h.evicted, 4);
    assert_int_equal(cdc_hist_keep_lsn(&h), 0);
    /* the next fresh change is kept again */
    assert_int_equal(cdc_hist_add(&h, &x.m, P(300, 2), NOW, 1, NOW), 1);
    assert_int_equal(cdc_hist_len(&h), 1);
    assert_pos(h.floor, P(300, 1));
    assert_int_equal(cdc_hist_after(&h, h.floor), 0);
    cdc_hist_free(&h);
}

static void keep_nothing(void **state) {
    (void)state;
    cdc_hist_t h;
    cdc_hist_init(&h, 0, SIZE_MAX);
    assert_false(cdc_hist_enabled(&h));
    assert_int_equal(add_at(&h, P(100, 1), NOW), 1);
    assert_int_equal(cdc_hist_len(&h), 0);
    assert_pos(h.head, P(100, 1));
    assert_pos(h.floor, P(100, 1));
    assert_int_equal(add_at(&h, P(100, 1), NOW), 0);
    assert_int_equal(add_at(&h, P(100, 2), NOW), 1);
    assert_pos(h.floor, P(100, 2));
    assert_int_equal(cdc_hist_len(&h), 0);
    assert_int_equal(h.bytes, 0);
    assert_int_equal(cdc_hist_keep_lsn(&h), 0);
    assert_int_equal(cdc_hist_after(&h, P(0, 0)), 0);
    assert_int_equal(cdc_hist_evict(&h, NOW + 3600 * SEC), 0);
    cdc_hist_free(&h);

    /* negative is off as well */
    cdc_hist_init(&h, -5, SIZE_MAX);
    assert_false(cdc_hist_enabled(&h));
    assert_int_equal(add_at(&h, P(100, 1), NOW), 1);
    assert_int_equal(cdc_hist_len(&h), 0);
    cdc_hist_free(&h);
}

/* ---- finding a resume's start ----------------------------------------------------- */

static void after_boundaries(void **state) {
    (void)state;
    cdc_hist_t h;
    cdc_hist_init(&h, 60, SIZE_MAX);
    assert_int_equal(cdc_hist_after(&h, P(0, 0)), 0);
    assert_int_equal(cdc_hist_after(&h, P(UINT64_MAX, UINT32_MAX)), 0);
    assert_int_equal(add_at(&h, P(10, 1), NOW), 1);
    assert_int_equal(add_at(&h, P(10, 2), NOW), 1);
    assert_int_equal(add_at(&h, P(20, 1), NOW), 1);
    assert_int_equal(add_at(&h, P(30, 5), NOW), 1);
    assert_int_equal(cdc_hist_after(&h, P(0, 0)), 0);  /* before the first */
    assert_int_equal(cdc_hist_after(&h, P(10, 0)), 0); /* just before it */
    assert_int_equal(cdc_hist_after(&h, P(10, 1)), 1); /* exactly an entry */
    assert_int_equal(cdc_hist_after(&h, P(10, 2)), 2);
    assert_int_equal(cdc_hist_after(&h, P(10, 3)), 2); /* between */
    assert_int_equal(cdc_hist_after(&h, P(15, 0)), 2);
    assert_int_equal(cdc_hist_after(&h, P(19, UINT32_MAX)), 2);
    assert_int_equal(cdc_hist_after(&h, P(20, 1)), 3);
    assert_int_equal(cdc_hist_after(&h, P(30, 4)), 3);
    assert_int_equal(cdc_hist_after(&h, P(30, 5)), 4); /* the last: none after */
    assert_int_equal(cdc_hist_after(&h, P(30, 6)), 4);
    assert_int_equal(cdc_hist_after(&h, P(UINT64_MAX, UINT32_MAX)), 4);
    assert_int_equal(cdc_hist_len(&h), 4);
    /* one entry */
    h.max_bytes = cdc_hist_at(&h, 3)->bytes;
    assert_int_equal(cdc_hist_evict(&h, NOW), 1);
    assert_int_equal(cdc_hist_len(&h), 1);
    assert_int_equal(cdc_hist_after(&h, P(20, 1)), 0);
    assert_int_equal(cdc_hist_after(&h, P(30, 4)), 0);
    assert_int_equal(cdc_hist_after(&h, P(30, 5)), 1);
    cdc_hist_free(&h);
}

static cdc_pos_t nth_pos(uint32_t k) { return P(0x100000000ULL + 64ULL * (k / 3), 1 + k % 3); }

/* Checks entries [0, len) are nth_pos(first ..) in order and that
 * cdc_hist_after finds each boundary. */
static void check_ring(const cdc_hist_t *h, uint32_t first) {
    size_t n = cdc_hist_len(h);
    for (size_t i = 0; i < n; i++) {
        cdc_pos_t p = nth_pos(first + (uint32_t)i);
        assert_pos(cdc_hist_at(h, i)->pos, p);
        assert_int_equal(cdc_hist_after(h, p), i + 1);
        assert_int_equal(cdc_hist_after(h, P(p.lsn, p.ord - 1)), i);
    }
    assert_int_equal(cdc_hist_after(h, P(0, 0)), 0);
    assert_int_equal(cdc_hist_after(h, h->floor), 0);
    assert_int_equal(cdc_hist_after(h, h->head), n);
    assert_int_equal(cdc_hist_after(h, P(UINT64_MAX, 0)), n);
}

/* Adding while evicting (as cdc/txq does over the bytes bound) wraps the
 * ring; it also grows while wrapped. */
static void after_wrapped(void **state) {
    (void)state;
    cdc_hist_t h;
    cdc_hist_init(&h, 3600, SIZE_MAX);
    assert_int_equal(add_at(&h, nth_pos(0), NOW), 1);
    size_t one = cdc_hist_at(&h, 0)->bytes; /* every entry here costs the same */
    h.max_bytes = 1000 * one;
    uint32_t k = 1;
    for (; k < 1500; k++) {
        assert_int_equal(add_at(&h, nth_pos(k), NOW), 1);
        if (h.bytes > h.max_bytes)
            assert_int_equal(cdc_hist_evict(&h, NOW), 1);
    }
    assert_int_equal(cdc_hist_len(&h), 1000);
    assert_true(h.at + h.n > h.cap); /* the ring did wrap */
    assert_int_equal(h.evicted, 500);
    assert_pos(h.floor, nth_pos(499));
    assert_pos(h.head, nth_pos(1499));
    assert_int_equal(cdc_hist_keep_lsn(&h), nth_pos(500).lsn);
    check_ring(&h, 500);

    /* more room: it fills the ring and grows while wrapped */
    h.max_bytes = SIZE_MAX;
    size_t cap = h.cap;
    for (; k < 1500 + (uint32_t)(cap - 1000) + 10; k++)
        assert_int_equal(add_at(&h, nth_pos(k), NOW), 1);
    assert_true(h.cap > cap);
    assert_int_equal(cdc_hist_len(&h), 1000 + (cap - 1000) + 10);
    check_ring(&h, 500);

    /* and evicting from the grown ring */
    h.max_bytes = 10 * one;
    assert_int_equal(cdc_hist_evict(&h, NOW), 1);
    assert_int_equal(cdc_hist_len(&h), 10);
    assert_pos(h.floor, nth_pos(k - 11));
    check_ring(&h, k - 10);
    cdc_hist_free(&h);
}

/* ---- the stream ---------------------------------------------------------------------- */

static void stream_start(void **state) {
    (void)state;
    cdc_hist_t h;
    cdc_hist_init(&h, 3600, SIZE_MAX);

    /* the first start, nothing confirmed: the history starts at the slot */
    cdc_hist_stream_start(&h, 1000, 0);
    assert_pos(h.floor, P(1000, 0));
    assert_pos(h.head, P(1000, 0));
    assert_int_equal(add_at(&h, P(900, 1), NOW), 0); /* before the slot: not new */
    assert_int_equal(cdc_hist_len(&h), 0);
    assert_int_equal(add_at(&h, P(1000, 1), NOW), 1);
    assert_int_equal(add_at(&h, P(1100, 1), NOW), 1);
    assert_int_equal(add_at(&h, P(1200, 1), NOW), 1);

    /* a restart where the slot is where this process left it (at the
     * oldest change kept, or before): nothing changes */
    cdc_hist_stream_start(&h, 1000, 1000);
    cdc_hist_stream_start(&h, 900, 1000);
    /* still nothing confirmed, the slot where it was */
    cdc_hist_stream_start(&h, 1000, 0);
    assert_int_equal(cdc_hist_len(&h), 3);
    assert_pos(h.floor, P(1000, 0));
    assert_pos(h.head, P(1200, 1));
    /* the resent transactions are not new */
    assert_int_equal(add_at(&h, P(1000, 1), NOW), 0);
    assert_int_equal(add_at(&h, P(1200, 1), NOW), 0);
    assert_int_equal(cdc_hist_len(&h), 3);
    assert_int_equal(h.evicted, 0);

    /* the oldest evicted: the floor is (1000, 1), the engine confirms the
     * oldest kept, 1100, and the slot restarts there, ahead of the floor:
     * nothing is missing, nothing changes */
    h.max_bytes = cdc_hist_at(&h, 1)->bytes + cdc_hist_at(&h, 2)->bytes;
    assert_int_equal(cdc_hist_evict(&h, NOW), 1);
    assert_pos(h.floor, P(1000, 1));
    assert_int_equal(cdc_hist_keep_lsn(&h), 1100);
    cdc_hist_stream_start(&h, 1100, 1100);
    assert_int_equal(cdc_hist_len(&h), 2);
    assert_pos(h.floor, P(1000, 1));
    assert_pos(h.head, P(1200, 1));
    /* all evicted, the engine confirmed what it delivered (the commit's
     * end, past head's commit LSN) and the slot restarts there */
    h.max_bytes = 0;
    assert_int_equal(cdc_hist_evict(&h, NOW), 1);
    assert_pos(h.floor, P(1200, 1));
    cdc_hist_stream_start(&h, 1230, 1230);
    assert_pos(h.floor, P(1200, 1));
    assert_pos(h.head, P(1200, 1));
    h.max_bytes = SIZE_MAX;
    assert_int_equal(add_at(&h, P(1000, 1), NOW), 0);
    assert_int_equal(add_at(&h, P(1100, 1), NOW), 0);
    assert_int_equal(add_at(&h, P(1200, 1), NOW), 0);
    assert_int_equal(add_at(&h, P(1300, 1), NOW), 1);
    assert_int_equal(add_at(&h, P(1400, 1), NOW), 1);
    assert_int_equal(add_at(&h, P(1500, 1), NOW), 1);
    assert_int_equal(h.evicted, 3);

    /* the slot ahead of what was confirmed and of head (moved by someone
     * else, or recreated): cleared, starting there */
    cdc_hist_stream_start(&h, 5000, 1000);
    assert_int_equal(cdc_hist_len(&h), 0);
    assert_int_equal(h.bytes, 0);
    assert_int_equal(h.evicted, 6);
    assert_pos(h.floor, P(5000, 0));
    assert_pos(h.head, P(5000, 0));
    assert_int_equal(cdc_hist_keep_lsn(&h), 0);
    assert_int_equal(add_at(&h, P(4000, 1), NOW), 0);
    assert_int_equal(add_at(&h, P(5000, 1), NOW), 1);
    assert_int_equal(cdc_hist_len(&h), 1);

    /* ahead of what was confirmed, not of the floor: nothing changes */
    cdc_hist_stream_start(&h, 4000, 1000);
    assert_int_equal(cdc_hist_len(&h), 1);
    assert_pos(h.floor, P(5000, 0));
    assert_pos(h.head, P(5000, 1));
    cdc_hist_free(&h);

    /* the first start with the history off: positions still move */
    cdc_hist_init(&h, 0, SIZE_MAX);
    cdc_hist_stream_start(&h, 77, 0);
    assert_pos(h.floor, P(77, 0));
    assert_pos(h.head, P(77, 0));
    cdc_hist_free(&h);
}

/* The slot moved ahead of what this process confirmed, but not past head
 * (pg_replication_slot_advance to a point already decoded): the stream
 * resends from there, and the history must still serve every change after
 * its floor. history.h: "every change after floor is here or still to come
 * on the stream". A client that saw (1200, 1) and missed (1300, 1) must get
 * it back, or be told it cannot resume. */
static void stream_start_behind_head(void **state) {
    (void)state;
    cdc_hist_t h;
    cdc_hist_init(&h, 3600, SIZE_MAX);
    cdc_hist_stream_start(&h, 1000, 0);
    assert_int_equal(add_at(&h, P(1100, 1), NOW), 1);
    assert_int_equal(add_at(&h, P(1200, 1), NOW), 1);
    assert_int_equal(add_at(&h, P(1300, 1), NOW), 1);
    /* the engine confirmed up to the oldest change kept */
    uint64_t confirmed = cdc_hist_keep_lsn(&h);
    assert_int_equal(confirmed, 1100);

    cdc_hist_stream_start(&h, 1200, confirmed);
    /* the slot resends what committed from 1200 on (new or not, as the
     * history sees it) */
    (void)add_at(&h, P(1200, 1), NOW);
    (void)add_at(&h, P(1300, 1), NOW);
    assert_pos(h.head, P(1300, 1));

    cdc_pos_t from = P(1200, 1);
    int refused = cdc_pos_cmp(from, h.floor) < 0;
    size_t i = cdc_hist_after(&h, from);
    int served = i < cdc_hist_len(&h) && cdc_pos_cmp(cdc_hist_at(&h, i)->pos, P(1300, 1)) == 0;
    cdc_hist_free(&h);
    assert_true(refused || served);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pos_text_round_trip), cmocka_unit_test(pos_parse_lenient_forms),
        cmocka_unit_test(pos_parse_refusals),  cmocka_unit_test(pos_order),
        cmocka_unit_test(add_positions),       cmocka_unit_test(msg_rebuilt),
        cmocka_unit_test(relation_shapes),     cmocka_unit_test(type_names),
        cmocka_unit_test(evict_by_bytes),      cmocka_unit_test(evict_by_age),
        cmocka_unit_test(too_old_when_added),  cmocka_unit_test(keep_nothing),
        cmocka_unit_test(after_boundaries),    cmocka_unit_test(after_wrapped),
        cmocka_unit_test(stream_start),        cmocka_unit_test(stream_start_behind_head),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
