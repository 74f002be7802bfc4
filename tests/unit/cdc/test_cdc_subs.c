/*
 * Unit tests for cdc/subs: wildcards, event masks, DELETE evaluated on the
 * old row, removal by id and by owner, per-address work budgets (isolation
 * between budgets, refill per change, the per-candidate charge, the
 * exhausted count), and the index against a linear scan over random
 * subscriptions and random rows (>= 10,000 comparisons), budgets included.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdc/subs.h"

static const cdc_column_t COLS[] = {{"id", "int4"}, {"name", "text"}, {"flag", "bool"}};
#define NCOLS 3

static cdc_filter_t *parse(const char *f) {
    char err[128];
    cdc_filter_t *p = cdc_filter_parse(f, COLS, NCOLS, err, sizeof(err));
    if (!p)
        fail_msg("filter %s: %s", f, err);
    return p;
}

/* A row of (id, name, flag); name NULL when nm is NULL. */
typedef struct {
    char id[16], name[16];
    cdc_cell_t cells[NCOLS];
    uint8_t unknown[NCOLS];
} row_t;

static void row_set(row_t *r, int id, const char *nm, int flag) {
    snprintf(r->id, sizeof(r->id), "%d", id);
    r->cells[0] = (cdc_cell_t){r->id, strlen(r->id)};
    if (nm) {
        snprintf(r->name, sizeof(r->name), "%s", nm);
        r->cells[1] = (cdc_cell_t){r->name, strlen(r->name)};
    } else {
        r->cells[1] = (cdc_cell_t){NULL, 0};
    }
    r->cells[2] = (cdc_cell_t){flag ? "t" : "f", 1};
    memset(r->unknown, 0, sizeof(r->unknown));
}

static cdc_change_t change(const char *schema, const char *table, unsigned ev, const row_t *r) {
    return (cdc_change_t){
        .schema = schema, .table = table, .event = ev, .ncols = NCOLS, .cells = r->cells, .unknown = r->unknown};
}

static void test_basic(void **state) {
    (void)state;
    cdc_subs_t *s = cdc_subs_new();
    int o1, o2;
    char err[200];
    uint32_t a = cdc_subs_add(s, &o1, CDC_EV_ALL, "public", "todos", NULL, 0, NULL, 0, err, sizeof(err));
    uint32_t b = cdc_subs_add(s, &o1, CDC_EV_INSERT, "public", "*", NULL, 0, NULL, 0, err, sizeof(err));
    uint32_t c = cdc_subs_add(s, &o2, CDC_EV_DELETE, "*", "*", NULL, 0, NULL, 0, err, sizeof(err));
    uint32_t d =
        cdc_subs_add(s, &o2, CDC_EV_ALL, "public", "todos", parse("id=eq.007"), NCOLS, NULL, 0, err, sizeof(err));
    uint32_t e =
        cdc_subs_add(s, &o2, CDC_EV_UPDATE, "public", "todos", parse("id=gt.5"), NCOLS, NULL, 0, err, sizeof(err));
    assert_true(a && b && c && d && e);
    assert_int_equal(cdc_subs_count(s), 5);
    /* wildcards refuse filter and select */
    const char *sel[] = {"id"};
    assert_int_equal(cdc_subs_add(s, &o1, 0, "public", "*", parse("id=eq.1"), NCOLS, NULL, 0, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "wildcard"));
    assert_int_equal(cdc_subs_add(s, &o1, 0, "*", "todos", NULL, 0, sel, 1, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "Column selection"));

    cdc_match_t *m = NULL;
    size_t cap = 0, n;
    row_t r;
    row_set(&r, 7, "x", 1);
    cdc_change_t ch = change("public", "todos", CDC_EV_INSERT, &r);
    n = cdc_subs_match(s, &ch, &m, &cap);
    assert_int_equal(n, 3); /* a, b, d sorted by id */
    assert_int_equal(m[0].id, a);
    assert_ptr_equal(m[0].owner, &o1);
    assert_int_equal(m[1].id, b);
    assert_int_equal(m[2].id, d);
    assert_ptr_equal(m[2].owner, &o2);

    ch = change("public", "todos", CDC_EV_UPDATE, &r);
    n = cdc_subs_match(s, &ch, &m, &cap);
    assert_int_equal(n, 3); /* a, d, e */
    assert_int_equal(m[2].id, e);

    ch = change("other", "todos", CDC_EV_DELETE, &r);
    n = cdc_subs_match(s, &ch, &m, &cap);
    assert_int_equal(n, 1);
    assert_int_equal(m[0].id, c);

    /* unknown key cell (e.g. unchanged TOAST or absent from a key-only old row) never matches eq */
    r.unknown[0] = 1;
    ch = change("public", "todos", CDC_EV_INSERT, &r);
    n = cdc_subs_match(s, &ch, &m, &cap);
    assert_int_equal(n, 2);
    /* a filter compiled for another column count does not apply */
    row_set(&r, 7, "x", 1);
    ch = change("public", "todos", CDC_EV_UPDATE, &r);
    ch.ncols = 2;
    n = cdc_subs_match(s, &ch, &m, &cap);
    assert_int_equal(n, 1);
    assert_int_equal(m[0].id, a);

    size_t ns;
    assert_null(cdc_subs_select(s, a, &ns));
    assert_int_equal(ns, 0);
    uint32_t f = cdc_subs_add(s, &o1, 0, "public", "todos", NULL, 0, sel, 1, err, sizeof(err));
    const char *const *got = cdc_subs_select(s, f, &ns);
    assert_int_equal(ns, 1);
    assert_string_equal(got[0], "id");

    assert_int_equal(cdc_subs_remove(s, d), 0);
    assert_int_equal(cdc_subs_remove(s, d), -1);
    assert_int_equal(cdc_subs_remove_owner(s, &o1), 3);
    assert_int_equal(cdc_subs_count(s), 2);
    ch = change("public", "todos", CDC_EV_INSERT, &r);
    assert_int_equal(cdc_subs_match(s, &ch, &m, &cap), 0);
    free(m);
    cdc_subs_free(s);
}

static void test_event_mask(void **state) {
    (void)state;
    assert_int_equal(cdc_subs_event_mask("*"), CDC_EV_ALL);
    assert_int_equal(cdc_subs_event_mask("insert"), CDC_EV_INSERT);
    assert_int_equal(cdc_subs_event_mask("UPDATE"), CDC_EV_UPDATE);
    assert_int_equal(cdc_subs_event_mask("Delete"), CDC_EV_DELETE);
    assert_int_equal(cdc_subs_event_mask("bogus"), CDC_EV_ALL);
    assert_int_equal(cdc_subs_event_mask(NULL), CDC_EV_ALL);
}

/* ---- change_from_msg, built from a decoded message ----------------------- */

typedef struct {
    uint8_t b[1024];
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
static void w_col(msg_t *m, int key, const char *name, uint32_t oid) {
    w_u8(m, (uint8_t)key);
    w_str(m, name);
    w_u32(m, oid);
    w_u32(m, 0xFFFFFFFF);
}

static void test_change_from_msg(void **state) {
    (void)state;
    pgo_decoder_t *d = pgo_decoder_new(1);
    pgo_msg_t pm;
    msg_t r = {.n = 0};
    w_u8(&r, 'R');
    w_u32(&r, 100);
    w_str(&r, "public");
    w_str(&r, "t");
    w_u8(&r, 'd');
    w_u16(&r, 3);
    w_col(&r, 1, "id", 23);
    w_col(&r, 0, "name", 25);
    w_col(&r, 0, "flag", 16);
    assert_int_equal(pgo_decode(d, r.b, r.n, &pm, NULL, 0), 0);
    pgo_msg_clear(&pm);

    cdc_subs_t *s = cdc_subs_new();
    int o;
    uint32_t byid = cdc_subs_add(s, &o, 0, "public", "t", parse("id=eq.3"), NCOLS, NULL, 0, NULL, 0);
    uint32_t byname = cdc_subs_add(s, &o, 0, "public", "t", parse("name=eq.bob"), NCOLS, NULL, 0, NULL, 0);
    uint32_t isnull = cdc_subs_add(s, &o, 0, "public", "t", parse("name=is.null"), NCOLS, NULL, 0, NULL, 0);

    /* DELETE with key-only old row: filters read the OLD row; name is unknown there. */
    msg_t del = {.n = 0};
    w_u8(&del, 'D');
    w_u32(&del, 100);
    w_u8(&del, 'K');
    w_u16(&del, 3);
    w_text(&del, "3");
    w_u8(&del, 'n');
    w_u8(&del, 'n');
    assert_int_equal(pgo_decode(d, del.b, del.n, &pm, NULL, 0), 0);
    cdc_cell_t cells[3];
    uint8_t unk[3];
    cdc_change_t ch;
    assert_int_equal(cdc_subs_change_from_msg(&pm, cells, unk, &ch), 0);
    assert_int_equal(ch.event, CDC_EV_DELETE);
    assert_string_equal(ch.schema, "public");
    assert_string_equal(ch.table, "t");
    assert_int_equal(unk[0], 0);
    assert_int_equal(unk[1], 1);
    cdc_match_t *m = NULL;
    size_t cap = 0;
    assert_int_equal(cdc_subs_match(s, &ch, &m, &cap), 1);
    assert_int_equal(m[0].id, byid);
    pgo_msg_clear(&pm);

    /* UPDATE: filters read the NEW row; an unchanged TOAST value is unknown. */
    msg_t up = {.n = 0};
    w_u8(&up, 'U');
    w_u32(&up, 100);
    w_u8(&up, 'N');
    w_u16(&up, 3);
    w_text(&up, "4");
    w_u8(&up, 'u');
    w_text(&up, "t");
    assert_int_equal(pgo_decode(d, up.b, up.n, &pm, NULL, 0), 0);
    assert_int_equal(cdc_subs_change_from_msg(&pm, cells, unk, &ch), 0);
    assert_int_equal(ch.event, CDC_EV_UPDATE);
    assert_int_equal(unk[1], 1);
    assert_int_equal(cdc_subs_match(s, &ch, &m, &cap), 0); /* name=is.null must not match unknown */
    pgo_msg_clear(&pm);

    msg_t ins = {.n = 0};
    w_u8(&ins, 'I');
    w_u32(&ins, 100);
    w_u8(&ins, 'N');
    w_u16(&ins, 3);
    w_text(&ins, "3");
    w_text(&ins, "bob");
    w_u8(&ins, 'n');
    assert_int_equal(pgo_decode(d, ins.b, ins.n, &pm, NULL, 0), 0);
    assert_int_equal(cdc_subs_change_from_msg(&pm, cells, unk, &ch), 0);
    assert_int_equal(cdc_subs_match(s, &ch, &m, &cap), 2);
    assert_int_equal(m[0].id, byid);
    assert_int_equal(m[1].id, byname);
    pgo_msg_clear(&pm);
    (void)isnull;

    free(m);
    cdc_subs_free(s);
    pgo_decoder_free(d);
}

/* ---- work budgets --------------------------------------------------------- */

/* Is id among the n matches? */
static int has(const cdc_match_t *m, size_t n, uint32_t id) {
    for (size_t i = 0; i < n; i++)
        if (m[i].id == id)
            return 1;
    return 0;
}

/* A row whose name is a long run of 'a': what a customer inserts to make
 * its own regex bindings expensive for everyone. */
#define LONG_NAME (64 * 1024)
static cdc_change_t long_change(char *buf, cdc_cell_t *cells, const char *id) {
    memset(buf, 'a', LONG_NAME);
    cells[0] = (cdc_cell_t){id, strlen(id)};
    cells[1] = (cdc_cell_t){buf, LONG_NAME};
    cells[2] = (cdc_cell_t){"t", 1};
    return (cdc_change_t){
        .schema = "public", .table = "msgs", .event = CDC_EV_INSERT, .ncols = NCOLS, .cells = cells, .unknown = NULL};
}

static void test_budget_isolation(void **state) {
    (void)state;
    cdc_subs_t *s = cdc_subs_new();
    cdc_budget_t attacker = {0}, admin = {0};
    int att_chan1, att_chan2, admin_chan;
    uint32_t evil[4], admin_all, admin_eq, admin_like;
    /* The attacker's address has two channels of nested-repetition regexes. */
    for (int i = 0; i < 4; i++)
        evil[i] = cdc_subs_add_budget(s, i < 2 ? (void *)&att_chan1 : (void *)&att_chan2, CDC_EV_ALL, "public", "msgs",
                                      parse("name=imatch.^(a+)+$"), NCOLS, NULL, 0, NULL, 0, &attacker);
    admin_all = cdc_subs_add_budget(s, &admin_chan, CDC_EV_ALL, "public", "msgs", NULL, 0, NULL, 0, NULL, 0, &admin);
    admin_eq = cdc_subs_add_budget(s, &admin_chan, CDC_EV_INSERT, "public", "msgs", parse("id=eq.9"), NCOLS, NULL, 0,
                                   NULL, 0, &admin);
    admin_like = cdc_subs_add_budget(s, &admin_chan, CDC_EV_ALL, "public", "msgs", parse("name=like.aaa%"), NCOLS, NULL,
                                     0, NULL, 0, &admin);
    static char buf[LONG_NAME];
    cdc_cell_t cells[NCOLS];
    cdc_change_t ch = long_change(buf, cells, "9");
    cdc_match_t *m = NULL;
    size_t cap = 0, ex = 99;

    /* Without limits every binding matches (the regex does match). */
    size_t n = cdc_subs_match(s, &ch, &m, &cap);
    assert_int_equal(n, 7);

    /* With a budget smaller than one regex evaluation the attacker's
     * bindings all miss this change; the admin's, on its own budget, all
     * match. */
    n = cdc_subs_match_budget(s, &ch, &m, &cap, 1, 100000, &ex);
    assert_int_equal(n, 3);
    assert_true(has(m, n, admin_all) && has(m, n, admin_eq) && has(m, n, admin_like));
    for (int i = 0; i < 4; i++)
        assert_false(has(m, n, evil[i]));
    assert_int_equal(ex, 1);
    assert_int_equal(attacker.gen, 1);
    assert_int_equal(attacker.left, 0);
    assert_int_equal(admin.gen, 1);
    assert_true(admin.left > 0 && admin.left < 100000);
    for (size_t i = 1; i < n; i++)
        assert_true(m[i - 1].id < m[i].id); /* sorted by id, as cdc_subs_match */

    /* The same change again (same gen): nothing is refilled. The attacker
     * stays at 0 without being counted again; the admin pays again from
     * what it had left. */
    uint64_t admin_left = admin.left;
    n = cdc_subs_match_budget(s, &ch, &m, &cap, 1, 100000, &ex);
    assert_int_equal(n, 3);
    assert_int_equal(ex, 0);
    assert_int_equal(attacker.left, 0);
    assert_true(admin.left < admin_left);

    /* The next change refills both. */
    n = cdc_subs_match_budget(s, &ch, &m, &cap, 2, 100000, NULL);
    assert_int_equal(n, 3);
    assert_int_equal(attacker.gen, 2);
    assert_int_equal(admin.left, admin_left);

    /* A budget large enough for every regex gives the unlimited answer. */
    n = cdc_subs_match_budget(s, &ch, &m, &cap, 3, UINT64_MAX / 2, &ex);
    assert_int_equal(n, 7);
    assert_int_equal(ex, 0);

    /* The attacker's address leaves: the admin is untouched. */
    assert_int_equal(cdc_subs_remove_owner(s, &att_chan1), 2);
    assert_int_equal(cdc_subs_remove_owner(s, &att_chan2), 2);
    n = cdc_subs_match_budget(s, &ch, &m, &cap, 4, 100000, &ex);
    assert_int_equal(n, 3);
    assert_int_equal(ex, 0);
    free(m);
    cdc_subs_free(s);
}

static void test_budget_per_candidate(void **state) {
    (void)state;
    cdc_subs_t *s = cdc_subs_new();
    cdc_budget_t b = {0};
    int o;
    for (int i = 0; i < 5; i++)
        assert_int_not_equal(cdc_subs_add_budget(s, &o, CDC_EV_ALL, "public", "t", NULL, 0, NULL, 0, NULL, 0, &b), 0);
    row_t r;
    row_set(&r, 1, "x", 0);
    cdc_change_t ch = change("public", "t", CDC_EV_INSERT, &r);
    cdc_match_t *m = NULL;
    size_t cap = 0, ex = 99;
    const uint64_t U = CDC_SUBS_CANDIDATE_UNITS;
    assert_true(U >= 1);
    uint64_t gen = 10;

    /* Bindings without filters still cost U each: three fit in 3U. */
    assert_int_equal(cdc_subs_match_budget(s, &ch, &m, &cap, ++gen, 3 * U, &ex), 3);
    assert_int_equal(ex, 1);
    assert_int_equal(b.left, 0);
    /* Not quite four: still three, the fourth is not evaluated. */
    assert_int_equal(cdc_subs_match_budget(s, &ch, &m, &cap, ++gen, 4 * U - 1, &ex), 3);
    assert_int_equal(ex, 1);
    /* Exactly five: all of them, and the budget reached 0 (counted). */
    assert_int_equal(cdc_subs_match_budget(s, &ch, &m, &cap, ++gen, 5 * U, &ex), 5);
    assert_int_equal(ex, 1);
    /* One unit more: all, with one left, not exhausted. */
    assert_int_equal(cdc_subs_match_budget(s, &ch, &m, &cap, ++gen, 5 * U + 1, &ex), 5);
    assert_int_equal(ex, 0);
    assert_int_equal(b.left, 1);
    /* Zero per change: nothing, exhausted. */
    assert_int_equal(cdc_subs_match_budget(s, &ch, &m, &cap, ++gen, 0, &ex), 0);
    assert_int_equal(ex, 1);
    /* Candidates filtered out by the event mask cost their units too. */
    cdc_subs_free(s);
    s = cdc_subs_new();
    for (int i = 0; i < 5; i++)
        cdc_subs_add_budget(s, &o, CDC_EV_DELETE, "public", "t", NULL, 0, NULL, 0, NULL, 0, &b);
    assert_int_equal(cdc_subs_match_budget(s, &ch, &m, &cap, ++gen, 100 * U, &ex), 0);
    assert_int_equal(b.left, 95 * U);
    /* A filter is charged on top: with exactly U left its candidate is looked
     * at, its filter cannot run, it does not match. */
    uint32_t f = cdc_subs_add_budget(s, &o, CDC_EV_ALL, "public", "t", parse("id=eq.1"), NCOLS, NULL, 0, NULL, 0, &b);
    assert_int_not_equal(f, 0);
    assert_int_equal(cdc_subs_match_budget(s, &ch, &m, &cap, ++gen, 6 * U, &ex), 0);
    assert_int_equal(ex, 1);
    assert_int_equal(cdc_subs_match_budget(s, &ch, &m, &cap, ++gen, 6 * U + 100, &ex), 1);
    assert_int_equal(m[0].id, f);
    assert_int_equal(ex, 0);
    free(m);
    cdc_subs_free(s);
}

/* The rate bound: what changes used adds up against cap until the caller
 * drains it; per change the budget then grants only what is left. */
static void test_budget_rate(void **state) {
    (void)state;
    cdc_subs_t *s = cdc_subs_new();
    cdc_budget_t b = {0}, other = {0};
    int o, p;
    const uint64_t U = CDC_SUBS_CANDIDATE_UNITS;
    for (int i = 0; i < 4; i++)
        assert_int_not_equal(cdc_subs_add_budget(s, &o, CDC_EV_ALL, "public", "t", NULL, 0, NULL, 0, NULL, 0, &b), 0);
    assert_int_not_equal(cdc_subs_add_budget(s, &p, CDC_EV_ALL, "public", "t", NULL, 0, NULL, 0, NULL, 0, &other), 0);
    b.cap = 10 * U; /* two and a half changes' worth of this owner's 4 candidates */
    row_t r;
    row_set(&r, 1, "x", 0);
    cdc_change_t ch = change("public", "t", CDC_EV_INSERT, &r);
    cdc_match_t *m = NULL;
    size_t cap = 0, ex = 99;
    uint64_t gen = 100;

    /* 1st change: 4U of 10U; 2nd: 4U more (8U spent); 3rd: only 2U left: two
     * candidates, exhausted; the other owner has no cap and gets its match. */
    assert_int_equal(cdc_subs_match_budget(s, &ch, &m, &cap, ++gen, 100 * U, &ex), 5);
    assert_int_equal(ex, 0);
    assert_int_equal(cdc_subs_match_budget(s, &ch, &m, &cap, ++gen, 100 * U, &ex), 5);
    assert_int_equal(cdc_subs_match_budget(s, &ch, &m, &cap, ++gen, 100 * U, &ex), 3);
    assert_int_equal(ex, 1);
    assert_int_equal(b.given, 2 * U);
    /* Spent in full: nothing until the caller drains it. */
    assert_int_equal(cdc_subs_match_budget(s, &ch, &m, &cap, ++gen, 100 * U, &ex), 1);
    assert_int_equal(ex, 1);
    assert_int_equal(b.spent, 10 * U);
    b.spent -= 5 * U; /* the caller's drain: room for one more change (and a unit) */
    assert_int_equal(cdc_subs_match_budget(s, &ch, &m, &cap, ++gen, 100 * U, &ex), 5);
    assert_int_equal(ex, 0);
    /* cap 0: no rate bound, whatever was spent */
    b.cap = 0;
    for (int i = 0; i < 5; i++)
        assert_int_equal(cdc_subs_match_budget(s, &ch, &m, &cap, ++gen, 100 * U, &ex), 5);
    free(m);
    cdc_subs_free(s);
}

static void test_budget_exhausted_count(void **state) {
    (void)state;
    cdc_subs_t *s = cdc_subs_new();
    cdc_budget_t b[3] = {{0}, {0}, {0}};
    int o[3];
    const uint64_t U = CDC_SUBS_CANDIDATE_UNITS;
    /* Budget 0 and 1: ten bindings each, across a plain list, an eq bucket
     * and a wildcard, interleaved with each other so their runs alternate.
     * Budget 2: one binding. NULL budget: one binding, never limited. */
    uint32_t ids[2][10];
    for (int k = 0; k < 10; k++)
        for (int j = 0; j < 2; j++) {
            const char *table = k % 3 == 0 ? "*" : "t";
            cdc_filter_t *f = k % 3 == 1 ? parse("id=eq.1") : NULL;
            ids[j][k] = cdc_subs_add_budget(s, &o[j], CDC_EV_ALL, "public", table, f, NCOLS, NULL, 0, NULL, 0, &b[j]);
            assert_int_not_equal(ids[j][k], 0);
        }
    uint32_t lone = cdc_subs_add_budget(s, &o[2], CDC_EV_ALL, "public", "t", NULL, 0, NULL, 0, NULL, 0, &b[2]);
    uint32_t free_one = cdc_subs_add(s, &o[2], CDC_EV_ALL, "public", "t", NULL, 0, NULL, 0, NULL, 0);
    row_t r;
    row_set(&r, 1, "x", 0);
    cdc_change_t ch = change("public", "t", CDC_EV_UPDATE, &r);
    cdc_match_t *m = NULL;
    size_t cap = 0, ex = 0;
    /* Enough for the lone binding, not for ten. */
    uint64_t per = 3 * U;
    size_t n = cdc_subs_match_budget(s, &ch, &m, &cap, 7, per, &ex);
    assert_int_equal(ex, 2);
    assert_true(has(m, n, lone) && has(m, n, free_one));
    size_t of[2] = {0, 0};
    for (int j = 0; j < 2; j++)
        for (int k = 0; k < 10; k++)
            of[j] += (size_t)has(m, n, ids[j][k]);
    assert_true(of[0] >= 1 && of[0] <= 3);
    assert_true(of[1] >= 1 && of[1] <= 3);
    assert_int_equal(n, 2 + of[0] + of[1]);
    assert_int_equal(b[0].left, 0);
    assert_int_equal(b[1].left, 0);
    assert_int_equal(b[2].left, per - U);
    /* cdc_subs_match ignores budgets: all 22. */
    assert_int_equal(cdc_subs_match(s, &ch, &m, &cap), 22);
    /* No budget touched by a change keeps its gen. */
    cdc_change_t other = change("other", "x", CDC_EV_UPDATE, &r);
    assert_int_equal(cdc_subs_match_budget(s, &other, &m, &cap, 8, per, &ex), 0);
    assert_int_equal(ex, 0);
    assert_int_equal(b[2].gen, 7);
    free(m);
    cdc_subs_free(s);
}

/* ---- removal ------------------------------------------------------------- */

static void test_remove_owner_keeps_others(void **state) {
    (void)state;
    cdc_subs_t *s = cdc_subs_new();
    cdc_budget_t bud = {0};
    int owners[3];
    uint32_t ids[3][60], max_id = 0;
    /* Interleaved adds of three owners into the same buckets (plain, eq,
     * wildcard), some with a shared budget, so removal must unlink from
     * the middle of runs and lists. */
    for (int k = 0; k < 60; k++)
        for (int j = 0; j < 3; j++) {
            cdc_filter_t *f = k % 3 == 0 ? parse("id=eq.5") : k % 3 == 1 ? parse("name=ilike.%x%") : NULL;
            const char *table = k % 3 == 2 && k % 2 ? "*" : "t";
            ids[j][k] = cdc_subs_add_budget(s, &owners[j], CDC_EV_ALL, "public", table, f, NCOLS, NULL, 0, NULL, 0,
                                            k % 2 ? &bud : NULL);
            assert_true(ids[j][k] > max_id);
            max_id = ids[j][k];
        }
    assert_int_equal(cdc_subs_count(s), 180);
    row_t r;
    row_set(&r, 5, "xx", 0);
    cdc_change_t ch = change("public", "t", CDC_EV_INSERT, &r);
    cdc_match_t *m = NULL;
    size_t cap = 0;
    assert_int_equal(cdc_subs_match(s, &ch, &m, &cap), 180);

    /* One binding of owner 0 by id, then the rest of owner 0 at once. */
    assert_int_equal(cdc_subs_remove(s, ids[0][7]), 0);
    assert_int_equal(cdc_subs_remove_owner(s, &owners[0]), 59);
    assert_int_equal(cdc_subs_remove_owner(s, &owners[0]), 0);
    assert_int_equal(cdc_subs_count(s), 120);
    for (int k = 0; k < 60; k++)
        assert_int_equal(cdc_subs_remove(s, ids[0][k]), -1);
    size_t n = cdc_subs_match(s, &ch, &m, &cap);
    assert_int_equal(n, 120);
    for (int k = 0; k < 60; k++) {
        assert_true(has(m, n, ids[1][k]));
        assert_true(has(m, n, ids[2][k]));
    }
    n = cdc_subs_match_budget(s, &ch, &m, &cap, 1, UINT64_MAX / 2, NULL);
    assert_int_equal(n, 120);

    /* Ids are never reused: a new binding of the removed owner gets a new one. */
    uint32_t again = cdc_subs_add(s, &owners[0], CDC_EV_ALL, "public", "t", NULL, 0, NULL, 0, NULL, 0);
    assert_true(again > max_id);
    assert_int_equal(cdc_subs_remove_owner(s, &owners[0]), 1);
    assert_int_equal(cdc_subs_remove_owner(s, &owners[1]), 60);
    assert_int_equal(cdc_subs_remove_owner(s, &owners[2]), 60);
    assert_int_equal(cdc_subs_count(s), 0);
    assert_int_equal(cdc_subs_match(s, &ch, &m, &cap), 0);
    /* An emptied registry takes bindings again. */
    uint32_t last = cdc_subs_add(s, &owners[1], CDC_EV_ALL, "public", "t", parse("id=eq.5"), NCOLS, NULL, 0, NULL, 0);
    assert_true(last > again);
    assert_int_equal(cdc_subs_match(s, &ch, &m, &cap), 1);
    free(m);
    cdc_subs_free(s);
}

/* Many owners of many bindings, removed owner by owner: each removal takes
 * exactly that owner's bindings and the rest keep matching. (The work is
 * proportional to the owner's bindings; bench/match_bench.c times it.) */
static void test_remove_owner_at_scale(void **state) {
    (void)state;
    enum { OWNERS = 50, PER = 400 };
    cdc_subs_t *s = cdc_subs_new();
    static int owners[OWNERS];
    static cdc_budget_t budgets[OWNERS];
    for (int k = 0; k < PER; k++)
        for (int j = 0; j < OWNERS; j++)
            cdc_subs_add_budget(s, &owners[j], CDC_EV_ALL, "public", "t", parse("name=ilike.%x%"), NCOLS, NULL, 0, NULL,
                                0, &budgets[j]);
    assert_int_equal(cdc_subs_count(s), OWNERS * PER);
    row_t r;
    row_set(&r, 1, "xyz", 0);
    cdc_change_t ch = change("public", "t", CDC_EV_INSERT, &r);
    cdc_match_t *m = NULL;
    size_t cap = 0;
    for (int j = 0; j < OWNERS; j++) {
        assert_int_equal(cdc_subs_remove_owner(s, &owners[j]), PER);
        assert_int_equal(cdc_subs_count(s), (size_t)(OWNERS - j - 1) * PER);
        if (j % 10 == 0) {
            size_t n = cdc_subs_match_budget(s, &ch, &m, &cap, (uint64_t)j + 1, UINT64_MAX / 2, NULL);
            assert_int_equal(n, (size_t)(OWNERS - j - 1) * PER);
            for (size_t i = 0; i < n; i++)
                assert_ptr_not_equal(m[i].owner, &owners[j]);
        }
    }
    free(m);
    cdc_subs_free(s);
}

/* ---- random: the index against a linear scan ------------------------------ */

typedef struct {
    uint32_t id;
    void *owner;
    cdc_budget_t *budget;
    unsigned events;
    const char *schema, *table;
    cdc_filter_t *filter; /* the test's own copy */
    int live;
} ref_t;

static uint64_t rng = 88172645463325252ULL;
static unsigned rnd(unsigned n) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static const char *SCHEMAS[] = {"public", "other", "*"};
static const char *TABLES[] = {"a", "b", "*"};
static const char *NAMES[] = {"x0", "x1", "x2", "x3", "x4"};

static void random_filter(char *f, size_t n) {
    switch (rnd(9)) {
    case 0: snprintf(f, n, "id=eq.%d", (int)rnd(12) - 1); break;
    case 1: snprintf(f, n, "id=eq.0%d", (int)rnd(10)); break;
    case 2: snprintf(f, n, "name=eq.%s", NAMES[rnd(5)]); break;
    case 3: snprintf(f, n, "flag=eq.%s", rnd(2) ? "true" : "f"); break;
    case 4: snprintf(f, n, "id=gt.%d", (int)rnd(10)); break;
    case 5: snprintf(f, n, "id=eq.%d,name=neq.%s", (int)rnd(10), NAMES[rnd(5)]); break;
    case 6: snprintf(f, n, "name=in.(%s,%s)", NAMES[rnd(5)], NAMES[rnd(5)]); break;
    case 7: snprintf(f, n, "flag=eq.t,id=eq.%d", (int)rnd(10)); break;
    default: snprintf(f, n, "name=is.null"); break;
    }
}

static int ref_match(const ref_t *r, const cdc_change_t *c) {
    if (!r->live || !(r->events & c->event))
        return 0;
    if (strcmp(r->schema, "*") && strcmp(r->schema, c->schema))
        return 0;
    if (strcmp(r->table, "*") && strcmp(r->table, c->table))
        return 0;
    return !r->filter || cdc_filter_match(r->filter, c->cells, c->unknown);
}

#define NSUBS 2000
static void test_random_vs_linear(void **state) {
    (void)state;
    static ref_t refs[NSUBS];
    int owners[8];
    /* Owners 0-3 share budget 0 (one address), 4-5 have budget 1, 6 budget
     * 2, 7 none. */
    static cdc_budget_t budgets[3];
    cdc_budget_t *owner_budget[8] = {&budgets[0], &budgets[0], &budgets[0], &budgets[0],
                                     &budgets[1], &budgets[1], &budgets[2], NULL};
    cdc_subs_t *s = cdc_subs_new();
    for (size_t i = 0; i < NSUBS; i++) {
        ref_t *r = &refs[i];
        unsigned o = rnd(8);
        r->owner = &owners[o];
        r->budget = owner_budget[o];
        r->events = rnd(8);
        r->schema = SCHEMAS[rnd(3)];
        r->table = TABLES[rnd(3)];
        cdc_filter_t *f = NULL;
        r->filter = NULL;
        if (strcmp(r->schema, "*") && strcmp(r->table, "*") && rnd(4)) {
            char fs[64];
            random_filter(fs, sizeof(fs));
            f = parse(fs);
            r->filter = parse(fs);
        }
        r->id = cdc_subs_add_budget(s, r->owner, r->events, r->schema, r->table, f, NCOLS, NULL, 0, NULL, 0, r->budget);
        assert_int_not_equal(r->id, 0);
        if (r->events == 0)
            r->events = CDC_EV_ALL;
        r->live = 1;
    }
    cdc_match_t *m = NULL;
    size_t cap = 0, comparisons = 0, total = 0, limited = 0;
    uint64_t gen = 0;
    static uint8_t want[NSUBS + 1];
    for (int round = 0; round < 3; round++) {
        for (int k = 0; k < 4000; k++) {
            row_t row;
            row_set(&row, (int)rnd(12) - 1, rnd(6) ? NAMES[rnd(5)] : NULL, (int)rnd(2));
            for (int i = 0; i < NCOLS; i++)
                row.unknown[i] = rnd(10) == 0;
            for (int i = 0; i < NCOLS; i++)
                if (row.unknown[i])
                    row.cells[i] = (cdc_cell_t){NULL, 0};
            static const unsigned evs[] = {CDC_EV_INSERT, CDC_EV_UPDATE, CDC_EV_DELETE};
            cdc_change_t ch = change(SCHEMAS[rnd(2)], TABLES[rnd(2)], evs[rnd(3)], &row);
            memset(want, 0, sizeof(want));
            size_t nwant = 0;
            for (size_t i = 0; i < NSUBS; i++)
                if (ref_match(&refs[i], &ch)) {
                    want[refs[i].id] = 1;
                    nwant++;
                }
            size_t n = cdc_subs_match(s, &ch, &m, &cap);
            assert_int_equal(n, nwant);
            for (size_t i = 0; i < n; i++) {
                assert_true(m[i].id <= NSUBS && want[m[i].id]);
                assert_ptr_equal(m[i].owner, refs[m[i].id - 1].owner);
                if (i)
                    assert_true(m[i - 1].id < m[i].id);
            }
            comparisons++;
            total += n;
            /* With budgets no one can spend: the same answer. */
            size_t ex = 99;
            assert_int_equal(cdc_subs_match_budget(s, &ch, &m, &cap, ++gen, UINT64_MAX / 2, &ex), nwant);
            assert_int_equal(ex, 0);
            /* With small budgets: a subset, sorted; a budget that did not
             * run out lost nothing; unbudgeted bindings never lose; the
             * exhausted count is the budgets at 0 that this change used. */
            uint64_t per = rnd(200);
            n = cdc_subs_match_budget(s, &ch, &m, &cap, ++gen, per, &ex);
            static uint8_t got[NSUBS + 1];
            memset(got, 0, sizeof(got));
            for (size_t i = 0; i < n; i++) {
                assert_true(m[i].id <= NSUBS && want[m[i].id]);
                if (i)
                    assert_true(m[i - 1].id < m[i].id);
                got[m[i].id] = 1;
            }
            for (size_t i = 0; i < NSUBS; i++)
                if (want[refs[i].id] && !got[refs[i].id]) {
                    assert_non_null(refs[i].budget);
                    assert_int_equal(refs[i].budget->gen, gen);
                    assert_int_equal(refs[i].budget->left, 0);
                    limited++;
                }
            size_t zero = 0;
            for (int b = 0; b < 3; b++)
                zero += budgets[b].gen == gen && budgets[b].left == 0;
            assert_int_equal(ex, zero);
        }
        /* remove a third of what is left, by id or by owner */
        if (round == 0) {
            for (size_t i = 0; i < NSUBS; i++)
                if (refs[i].live && rnd(3) == 0) {
                    assert_int_equal(cdc_subs_remove(s, refs[i].id), 0);
                    refs[i].live = 0;
                }
        } else if (round == 1) {
            size_t expect = 0;
            for (size_t i = 0; i < NSUBS; i++)
                if (refs[i].live && refs[i].owner == &owners[3]) {
                    refs[i].live = 0;
                    expect++;
                }
            assert_int_equal(cdc_subs_remove_owner(s, &owners[3]), expect);
        }
    }
    assert_true(comparisons >= 10000);
    assert_true(total > 10000);  /* the rows really hit subscriptions */
    assert_true(limited > 1000); /* and the small budgets really cut */
    /* Ids are never reused, even after removals. */
    uint32_t max_id = 0;
    for (size_t i = 0; i < NSUBS; i++)
        if (refs[i].id > max_id)
            max_id = refs[i].id;
    uint32_t fresh = cdc_subs_add(s, &owners[0], 0, "public", "a", NULL, 0, NULL, 0, NULL, 0);
    assert_true(fresh > max_id);
    assert_int_equal(cdc_subs_remove(s, fresh), 0);
    size_t live = 0;
    for (size_t i = 0; i < NSUBS; i++) {
        live += (size_t)refs[i].live;
        cdc_filter_free(refs[i].filter);
    }
    assert_int_equal(cdc_subs_count(s), live);
    free(m);
    cdc_subs_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_event_mask),
        cmocka_unit_test(test_change_from_msg),
        cmocka_unit_test(test_budget_isolation),
        cmocka_unit_test(test_budget_per_candidate),
        cmocka_unit_test(test_budget_exhausted_count),
        cmocka_unit_test(test_budget_rate),
        cmocka_unit_test(test_remove_owner_keeps_others),
        cmocka_unit_test(test_remove_owner_at_scale),
        cmocka_unit_test(test_random_vs_linear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
