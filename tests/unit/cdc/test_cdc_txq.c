/*
 * Unit tests for cdc/txq without a stream or database: the row image that
 * authorization judges (unknown values left out so they read as NULL,
 * json spliced, everything else a JSON string of its text), and a REST
 * write's hold released by its answer, and rows of realtime.messages
 * queued as broadcasts in their transaction (resent transactions skipped,
 * other extensions and a server without the messages publication
 * ignored). The whole queue runs in the
 * integration suite (24-27, 14-write-latency, 34-isolation-cdc-work).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "cdc/engine_int.h"
#include "util/mem.h"

static void row_image(void **state) {
    (void)state;
    pgo_column_t cols[4] = {{"id", 23, -1, 1}, {"doc", 3802, -1, 0}, {"note", 25, -1, 0}, {"big", 25, -1, 0}};
    pgo_relation_t rel = {1, "public", "t", 'd', 4, cols};
    uint8_t is_json[4] = {0, 1, 0, 0};
    cdc_table_t tb;
    memset(&tb, 0, sizeof(tb));
    tb.ncols = 4;
    tb.is_json = is_json;
    cdc_cell_t cells[4] = {{"7", 1}, {"{\"a\": [1, 2]}", 13}, {NULL, 0}, {NULL, 0}};
    uint8_t unknown[4] = {0, 0, 0, 1}; /* big: unchanged TOAST */
    cdc_change_t cc = {"public", "t", CDC_EV_UPDATE, 4, cells, unknown};
    buf_t *b = cdc_txq_row_image(&cc, &rel, &tb);
    assert_int_equal(b->len, strlen("{\"id\":\"7\",\"doc\":{\"a\": [1, 2]},\"note\":null}"));
    assert_memory_equal(b->data, "{\"id\":\"7\",\"doc\":{\"a\": [1, 2]},\"note\":null}", b->len);
    buf_unref(b);

    /* without a catalog entry json is a string like any other text */
    b = cdc_txq_row_image(&cc, &rel, NULL);
    assert_memory_equal(b->data, "{\"id\":\"7\",\"doc\":\"{\\\"a\\\": [1, 2]}\",\"note\":null}", b->len);
    buf_unref(b);
}

/* A held transaction is released when its mark's answer comes (with no
 * grace configured, at once); another mark's answer does not release it. */
static void written_releases_hold(void **state) {
    (void)state;
    cdc_eng_t *e = xcalloc(1, sizeof(*e));
    assert_int_equal(uv_loop_init(&e->loop), 0);
    cdc_txq_init(&e->q);
    cdc_tx_t *t = xcalloc(1, sizeof(*t));
    t->mark = 5;
    t->hold_until = uv_now(&e->loop) + 500;
    *e->q.tail = t;
    e->q.tail = &t->next;
    assert_int_equal(cdc_txq_length(e), 1);
    cdc_txq_written(e, 4);
    assert_int_not_equal(t->hold_until, 0);
    cdc_txq_written(e, 5);
    assert_int_equal(t->hold_until, 0);
    /* many answers, most never followed by their commit: still bounded */
    for (uint64_t m = 100; m < 5100; m++)
        cdc_txq_written(e, m);
    assert_true(htab_count(&e->q.written) <= 5002);
    cdc_txq_free(e);
    assert_int_equal(cdc_txq_length(e), 0);
    assert_int_equal(uv_loop_close(&e->loop), 0);
    free(e);
}

/* Broadcast from the database: an INSERT into realtime.messages becomes an
 * entry of its transaction with no matches and its broadcast, counted in
 * the queue's bytes. No catalog: the queue only holds what it got. */
static void broadcasts_queued(void **state) {
    (void)state;
    cdc_eng_t *e = xcalloc(1, sizeof(*e));
    assert_int_equal(uv_loop_init(&e->loop), 0);
    cdc_txq_init(&e->q);
    e->cfg.messages_publication = "supabase_realtime_messages_publication";
    e->cfg.messages_max_bytes = 1 << 20;
    e->cfg.queue_max = 64u << 20;
    e->cat_loading = 1; /* nothing asks the (absent) database for a catalog */
    pgo_column_t cols[6] = {{"topic", 25, -1, 0}, {"extension", 25, -1, 0}, {"payload", 3802, -1, 0},
                            {"event", 25, -1, 0}, {"private", 16, -1, 0},   {"id", 2950, -1, 1}};
    pgo_relation_t rel = {9, "realtime", "messages", 'd', 6, cols};
    pgo_value_t v[6] = {{'t', "room", 4}, {'t', "broadcast", 9}, {'t', "{\"a\": 1}", 8},
                        {'t', "ev", 2},   {'t', "t", 1},         {'t', "0b0e4d84-6a39-4f5c-9c1b-1f1b2c3d4e5f", 36}};
    pgo_value_t p[6];
    memcpy(p, v, sizeof(v));
    p[1] = (pgo_value_t){'t', "presence", 8};
    pgo_msg_t begin = {.kind = PGO_BEGIN, .lsn = 100, .commit_time = 1};
    pgo_msg_t ins = {.kind = PGO_INSERT, .rel = &rel, .new_tuple = {6, v}};
    pgo_msg_t pres = {.kind = PGO_INSERT, .rel = &rel, .new_tuple = {6, p}};
    pgo_msg_t commit = {.kind = PGO_COMMIT, .lsn = 100, .end_lsn = 120};
    cdc_txq_begin(e, &begin);
    cdc_txq_change(e, &ins);
    cdc_txq_change(e, &pres);
    cdc_txq_commit(e, &commit);
    assert_int_equal(cdc_txq_length(e), 1);
    cdc_tx_t *t = e->q.head;
    assert_int_equal(t->n, 1);
    assert_int_equal(t->ch[0].nm, 0);
    assert_non_null(t->ch[0].bcast);
    assert_string_equal(t->ch[0].bcast->topic, "realtime:room");
    assert_true(t->ch[0].bcast->is_private);
    assert_int_equal(e->q.queued_bytes, t->ch[0].cost);
    assert_int_equal(t->end_lsn, 120);

    /* the same transaction again after a reconnect: skipped whole */
    begin.lsn = 100;
    commit.end_lsn = 120;
    cdc_txq_begin(e, &begin);
    cdc_txq_change(e, &ins);
    cdc_txq_commit(e, &commit);
    assert_int_equal(cdc_txq_length(e), 1);

    /* messages publication off: the row is nobody's */
    e->cfg.messages_publication = NULL;
    begin.lsn = commit.lsn = 200;
    commit.end_lsn = 220;
    cdc_txq_begin(e, &begin);
    cdc_txq_change(e, &ins);
    cdc_txq_commit(e, &commit);
    assert_int_equal(cdc_txq_length(e), 2);
    assert_int_equal(t->next->n, 0);

    cdc_txq_free(e);
    assert_int_equal(e->q.queued_bytes, 0);
    assert_int_equal(uv_loop_close(&e->loop), 0);
    free(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(row_image),
        cmocka_unit_test(written_releases_hold),
        cmocka_unit_test(broadcasts_queued),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
