/*
 * Unit tests for cdc/messages: which relations are realtime.messages, and
 * what an INSERT of a row becomes (topic, privacy, event, meta id, JSON or
 * binary payload), or why it is not delivered: other extensions, missing
 * columns, over-long topic or event, a payload over the limit, a
 * binary_payload not in hex form, a payload column that is not json, and
 * rows of a table whose columns are in another order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cdc/messages.h"
#include "proto/msg.h"

enum { C_TOPIC, C_EXT, C_PAYLOAD, C_EVENT, C_PRIVATE, C_UPDATED, C_INSERTED, C_ID, C_BIN, NCOLS };

static pgo_column_t cols[NCOLS] = {
    {"topic", 25, -1, 0},         {"extension", 25, -1, 0}, {"payload", 3802, -1, 0},
    {"event", 25, -1, 0},         {"private", 16, -1, 0},   {"updated_at", 1114, -1, 0},
    {"inserted_at", 1114, -1, 0}, {"id", 2950, -1, 1},      {"binary_payload", 17, -1, 0},
};
static pgo_relation_t rel = {16400, "realtime", "messages", 'd', NCOLS, cols};

typedef struct {
    pgo_value_t v[NCOLS];
    pgo_msg_t m;
} row_t;

static void set(row_t *r, int col, const char *text) {
    if (!text)
        r->v[col] = (pgo_value_t){'n', NULL, 0};
    else
        r->v[col] = (pgo_value_t){'t', text, (uint32_t)strlen(text)};
}

/* A JSON broadcast as realtime.send writes it. */
static void row_init(row_t *r) {
    memset(r, 0, sizeof(*r));
    set(r, C_TOPIC, "room:1");
    set(r, C_EXT, "broadcast");
    set(r, C_PAYLOAD, "{\"id\": \"0b0e4d84-6a39-4f5c-9c1b-1f1b2c3d4e5f\", \"hello\": \"world\"}");
    set(r, C_EVENT, "greet");
    set(r, C_PRIVATE, "t");
    set(r, C_UPDATED, "2026-12-03 10:00:00");
    set(r, C_INSERTED, "2026-12-03 10:00:00");
    set(r, C_ID, "0b0e4d84-6a39-4f5c-9c1b-1f1b2c3d4e5f");
    set(r, C_BIN, NULL);
    r->m.kind = PGO_INSERT;
    r->m.rel = &rel;
    r->m.new_tuple.natts = NCOLS;
    r->m.new_tuple.values = r->v;
}

static void test_is_messages(void **state) {
    (void)state;
    pgo_relation_t r = rel;
    assert_true(cdc_msg_is_messages(&r));
    r.name = "messages_2026_12_03";
    assert_true(cdc_msg_is_messages(&r));
    r.name = "messages_default";
    assert_true(cdc_msg_is_messages(&r));
    r.name = "messages_2026_12_3x";
    assert_false(cdc_msg_is_messages(&r));
    r.name = "messages_archive";
    assert_false(cdc_msg_is_messages(&r));
    r.name = "messages";
    r.schema = "public";
    assert_false(cdc_msg_is_messages(&r)); /* TechCare's chat table is another one */
    assert_false(cdc_msg_is_messages(NULL));
}

static void test_json(void **state) {
    (void)state;
    row_t r;
    row_init(&r);
    const char *why = "unset";
    cdc_msg_t *b = cdc_msg_from_insert(&r.m, 1 << 20, &why);
    assert_non_null(b);
    assert_string_equal(b->topic, "realtime:room:1");
    assert_int_equal(b->topic_len, strlen("realtime:room:1"));
    assert_true(b->is_private);
    assert_string_equal(b->event, "greet");
    assert_int_equal(b->encoding, MSG_ENC_JSON);
    assert_string_equal(b->meta, "{\"id\":\"0b0e4d84-6a39-4f5c-9c1b-1f1b2c3d4e5f\"}");
    assert_int_equal(b->payload_len, r.v[C_PAYLOAD].len);
    assert_memory_equal(b->payload, r.v[C_PAYLOAD].data, b->payload_len);
    assert_true(cdc_msg_cost(b) > b->payload_len);
    cdc_msg_free(b);

    set(&r, C_PRIVATE, "f");
    b = cdc_msg_from_insert(&r.m, 1 << 20, NULL);
    assert_non_null(b);
    assert_false(b->is_private);
    cdc_msg_free(b);
    cdc_msg_free(NULL);
}

static void test_binary(void **state) {
    (void)state;
    row_t r;
    row_init(&r);
    set(&r, C_PAYLOAD, NULL);
    set(&r, C_BIN, "\\xdeadbeef00FF");
    cdc_msg_t *b = cdc_msg_from_insert(&r.m, 1 << 20, NULL);
    assert_non_null(b);
    assert_int_equal(b->encoding, MSG_ENC_RAW);
    static const uint8_t want[] = {0xde, 0xad, 0xbe, 0xef, 0x00, 0xff};
    assert_int_equal(b->payload_len, sizeof(want));
    assert_memory_equal(b->payload, want, sizeof(want));
    cdc_msg_free(b);

    set(&r, C_BIN, "\\x");
    b = cdc_msg_from_insert(&r.m, 1 << 20, NULL);
    assert_non_null(b);
    assert_int_equal(b->payload_len, 0); /* an empty bytea is a valid, empty payload */
    cdc_msg_free(b);

    const char *why = NULL;
    static const char *const bad[] = {"\\xdeadbee", "\\xzz", "deadbeef", "\\\\x00", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        set(&r, C_BIN, bad[i]);
        assert_null(cdc_msg_from_insert(&r.m, 1 << 20, &why));
        assert_non_null(why);
    }
    /* binary wins over a JSON payload, as in supabase/realtime */
    row_init(&r);
    set(&r, C_BIN, "\\x01");
    b = cdc_msg_from_insert(&r.m, 1 << 20, NULL);
    assert_non_null(b);
    assert_int_equal(b->encoding, MSG_ENC_RAW);
    cdc_msg_free(b);
}

static void expect_refused(row_t *r, size_t max, int silent) {
    const char *why = "unset";
    assert_null(cdc_msg_from_insert(&r->m, max, &why));
    if (silent)
        assert_null(why);
    else
        assert_true(why && why[0]);
}

static void test_refused(void **state) {
    (void)state;
    row_t r;
    row_init(&r);
    set(&r, C_EXT, "presence");
    expect_refused(&r, 1 << 20, 1);
    row_init(&r);
    r.m.kind = PGO_UPDATE;
    expect_refused(&r, 1 << 20, 1);
    static const int required[] = {C_TOPIC, C_EVENT, C_PRIVATE, C_ID};
    for (size_t i = 0; i < sizeof(required) / sizeof(*required); i++) {
        row_init(&r);
        set(&r, required[i], NULL);
        expect_refused(&r, 1 << 20, 0);
    }
    row_init(&r);
    set(&r, C_PAYLOAD, NULL);
    expect_refused(&r, 1 << 20, 0); /* neither payload */
    row_init(&r);
    set(&r, C_TOPIC, "");
    expect_refused(&r, 1 << 20, 0);

    char topic[CDC_MSG_TOPIC_MAX + 2];
    memset(topic, 'a', sizeof(topic) - 1);
    topic[sizeof(topic) - 1] = 0;
    row_init(&r);
    set(&r, C_TOPIC, topic);
    expect_refused(&r, 1 << 20, 0);
    topic[CDC_MSG_TOPIC_MAX] = 0; /* exactly the limit */
    set(&r, C_TOPIC, topic);
    cdc_msg_t *b = cdc_msg_from_insert(&r.m, 1 << 20, NULL);
    assert_non_null(b);
    assert_int_equal(b->topic_len, 255);
    cdc_msg_free(b);

    char event[CDC_MSG_EVENT_MAX + 2];
    memset(event, 'e', sizeof(event) - 1);
    event[sizeof(event) - 1] = 0;
    row_init(&r);
    set(&r, C_EVENT, event);
    expect_refused(&r, 1 << 20, 0);

    row_init(&r);
    expect_refused(&r, r.v[C_PAYLOAD].len - 1, 0); /* one byte over */
    b = cdc_msg_from_insert(&r.m, r.v[C_PAYLOAD].len, NULL);
    assert_non_null(b);
    cdc_msg_free(b);
    row_init(&r);
    set(&r, C_PAYLOAD, NULL);
    set(&r, C_BIN, "\\x0102030405");
    expect_refused(&r, 4, 0);
}

/* A realtime.messages whose columns are another order or type (a project
 * made its own): found by name; a payload that is not json is refused. */
static void test_other_shape(void **state) {
    (void)state;
    pgo_column_t c2[4] = {{"id", 2950, -1, 1}, {"private", 16, -1, 0}, {"event", 25, -1, 0}, {"topic", 25, -1, 0}};
    pgo_column_t c3[6] = {{"id", 2950, -1, 1},  {"private", 16, -1, 0},   {"event", 25, -1, 0},
                          {"topic", 25, -1, 0}, {"extension", 25, -1, 0}, {"payload", 25, -1, 0}};
    pgo_relation_t r2 = {1, "realtime", "messages", 'd', 4, c2};
    pgo_relation_t r3 = {1, "realtime", "messages", 'd', 6, c3};
    pgo_value_t v[6] = {{'t', "0b0e4d84-6a39-4f5c-9c1b-1f1b2c3d4e5f", 36},
                        {'t', "f", 1},
                        {'t', "e", 1},
                        {'t', "t", 1},
                        {'t', "broadcast", 9},
                        {'t', "{}", 2}};
    pgo_msg_t m = {.kind = PGO_INSERT, .rel = &r2, .new_tuple = {4, v}};
    const char *why = NULL;
    assert_null(cdc_msg_from_insert(&m, 1 << 20, &why)); /* no extension column: not a broadcast */
    m.rel = &r3;
    m.new_tuple.natts = 6;
    assert_null(cdc_msg_from_insert(&m, 1 << 20, &why));
    assert_non_null(why); /* payload is text */
    c3[5].type_oid = 114; /* json */
    cdc_msg_t *b = cdc_msg_from_insert(&m, 1 << 20, NULL);
    assert_non_null(b);
    assert_string_equal(b->topic, "realtime:t");
    assert_false(b->is_private);
    cdc_msg_free(b);
    /* a malformed id gives no meta rather than broken JSON */
    v[0] = (pgo_value_t){'t', "\"},\"x", 5};
    b = cdc_msg_from_insert(&m, 1 << 20, NULL);
    assert_non_null(b);
    assert_string_equal(b->meta, "");
    cdc_msg_free(b);
}

static void test_maintain_sql(void **state) {
    (void)state;
    assert_non_null(strstr(cdc_msg_maintain_sql(), "realtime.tc_messages_maintain($1::interval, $2::integer)"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_messages), cmocka_unit_test(test_json),        cmocka_unit_test(test_binary),
        cmocka_unit_test(test_refused),     cmocka_unit_test(test_other_shape), cmocka_unit_test(test_maintain_sql),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
