/*
 * Unit tests for cdc/subs: wildcards, event masks, DELETE evaluated on the
 * old row, removal by id and by owner, and the index against a linear scan
 * over random subscriptions and random rows (>= 10,000 comparisons).
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
    return (cdc_change_t){.schema = schema, .table = table, .event = ev, .ncols = NCOLS,
                          .cells = r->cells, .unknown = r->unknown};
}

static void test_basic(void **state) {
    (void)state;
    cdc_subs_t *s = cdc_subs_new();
    int o1, o2;
    char err[200];
    uint32_t a = cdc_subs_add(s, &o1, CDC_EV_ALL, "public", "todos", NULL, 0, NULL, 0, err, sizeof(err));
    uint32_t b = cdc_subs_add(s, &o1, CDC_EV_INSERT, "public", "*", NULL, 0, NULL, 0, err, sizeof(err));
    uint32_t c = cdc_subs_add(s, &o2, CDC_EV_DELETE, "*", "*", NULL, 0, NULL, 0, err, sizeof(err));
    uint32_t d = cdc_subs_add(s, &o2, CDC_EV_ALL, "public", "todos", parse("id=eq.007"), NCOLS, NULL, 0, err,
                              sizeof(err));
    uint32_t e = cdc_subs_add(s, &o2, CDC_EV_UPDATE, "public", "todos", parse("id=gt.5"), NCOLS, NULL, 0, err,
                              sizeof(err));
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
static void w_u16(msg_t *m, uint16_t v) { w_u8(m, (uint8_t)(v >> 8)); w_u8(m, (uint8_t)v); }
static void w_u32(msg_t *m, uint32_t v) { w_u16(m, (uint16_t)(v >> 16)); w_u16(m, (uint16_t)v); }
static void w_str(msg_t *m, const char *s) { memcpy(m->b + m->n, s, strlen(s) + 1); m->n += strlen(s) + 1; }
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

/* ---- random: the index against a linear scan ------------------------------ */

typedef struct {
    uint32_t id;
    void *owner;
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
    cdc_subs_t *s = cdc_subs_new();
    for (size_t i = 0; i < NSUBS; i++) {
        ref_t *r = &refs[i];
        r->owner = &owners[rnd(8)];
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
        r->id = cdc_subs_add(s, r->owner, r->events, r->schema, r->table, f, NCOLS, NULL, 0, NULL, 0);
        assert_int_not_equal(r->id, 0);
        if (r->events == 0)
            r->events = CDC_EV_ALL;
        r->live = 1;
    }
    cdc_match_t *m = NULL;
    size_t cap = 0, comparisons = 0, total = 0;
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
    assert_true(total > 10000); /* the rows really hit subscriptions */
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
        cmocka_unit_test(test_random_vs_linear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
