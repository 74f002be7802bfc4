/*
 * channel/store and channel/replay: what a client says about persistence
 * (persist: true | false | {ttl}, httpSend's persist[ttl]=) and replay
 * (config.broadcast.replay {since, limit}) is read strictly, clamped where
 * supabase/realtime clamps, and refused with a reason otherwise; meta.id
 * round-trips; ids are version 4 uuids.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "channel/chan_int.h"
#include "channel/store.h"

static json_t *js(const char *text) {
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
    assert_non_null(v);
    return v;
}

static int persist_of(const char *text, int *persist, int64_t *ttl) {
    char err[128];
    json_t *v = text ? js(text) : NULL;
    int r = chan_store_parse_persist(v, persist, ttl, err, sizeof(err));
    json_decref(v);
    return r;
}

static void test_persist(void **state) {
    (void)state;
    int p;
    int64_t ttl;
    assert_int_equal(persist_of(NULL, &p, &ttl), 0);
    assert_int_equal(p, 0);
    assert_int_equal(persist_of("false", &p, &ttl), 0);
    assert_int_equal(p, 0);
    assert_int_equal(persist_of("null", &p, &ttl), 0);
    assert_int_equal(p, 0);
    assert_int_equal(persist_of("true", &p, &ttl), 0);
    assert_int_equal(p, 1);
    assert_int_equal(ttl, CHAN_STORE_MAX_TTL_S);
    assert_int_equal(persist_of("{}", &p, &ttl), 0);
    assert_int_equal(p, 1);
    assert_int_equal(ttl, CHAN_STORE_MAX_TTL_S);
    assert_int_equal(persist_of("{\"ttl\":60}", &p, &ttl), 0);
    assert_int_equal(p, 1);
    assert_int_equal(ttl, 60);
    assert_int_equal(persist_of("{\"ttl\":99999999999}", &p, &ttl), 0);
    assert_int_equal(ttl, CHAN_STORE_MAX_TTL_S); /* clamped to the retention */
    /* refused: wrong types, zero, negative, fractions */
    const char *bad[] = {"\"true\"", "1", "[]", "{\"ttl\":0}", "{\"ttl\":-5}", "{\"ttl\":1.5}", "{\"ttl\":\"60\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(persist_of(bad[i], &p, &ttl), -1);
}

static void test_ttl_text(void **state) {
    (void)state;
    char err[128];
    int64_t ttl = 0;
    assert_int_equal(chan_store_parse_ttl_text("60", &ttl, err, sizeof(err)), 0);
    assert_int_equal(ttl, 60);
    assert_int_equal(chan_store_parse_ttl_text("999999999999", &ttl, err, sizeof(err)), 0);
    assert_int_equal(ttl, CHAN_STORE_MAX_TTL_S);
    const char *bad[] = {"", "0", "-1", "+1", "1.5", "1e3", " 1", "1 ", "abc", "9999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(chan_store_parse_ttl_text(bad[i], &ttl, err, sizeof(err)), -1);
}

static void test_meta_and_uuid(void **state) {
    (void)state;
    char id[37], meta[64], back[40];
    chan_store_uuid(id);
    assert_int_equal(strlen(id), 36);
    assert_int_equal(id[14], '4');
    assert_true(strchr("89ab", id[19]) != NULL);
    chan_store_meta(id, meta, sizeof(meta));
    assert_int_equal(chan_store_meta_id(meta, strlen(meta), back, sizeof(back)), 0);
    assert_string_equal(back, id);
    const char *replayed = "{\"replayed\":true,\"id\":\"abc\"}";
    assert_int_equal(chan_store_meta_id(replayed, strlen(replayed), back, sizeof(back)), 0);
    assert_string_equal(back, "abc");
    assert_int_equal(chan_store_meta_id("{\"persist\":true}", 16, back, sizeof(back)), -1);
    assert_int_equal(chan_store_meta_id("{\"id\":1}", 8, back, sizeof(back)), -1);
    assert_int_equal(chan_store_meta_id("{", 1, back, sizeof(back)), -1);
    assert_int_equal(chan_store_meta_id(NULL, 0, back, sizeof(back)), -1);
}

static int replay_of(const char *bc, int is_private, join_t *j, char *reason) {
    memset(j, 0, sizeof(*j));
    json_t *v = js(bc);
    int r = chan_replay_parse(v, is_private, j, reason, 256);
    json_decref(v);
    return r;
}

static void test_replay_config(void **state) {
    (void)state;
    join_t j;
    char reason[256];
    assert_int_equal(replay_of("{}", 1, &j, reason), 0);
    assert_int_equal(j.replay_limit, 0);
    assert_int_equal(replay_of("{\"replay\":null}", 0, &j, reason), 0);
    assert_int_equal(j.replay_limit, 0);
    assert_int_equal(replay_of("{\"replay\":{\"since\":1700000000000,\"limit\":5}}", 1, &j, reason), 0);
    assert_int_equal(j.replay_limit, 5);
    assert_int_equal(j.replay_since, 1700000000000LL);
    assert_int_equal(replay_of("{\"replay\":{\"since\":0}}", 1, &j, reason), 0);
    assert_int_equal(j.replay_limit, CHAN_REPLAY_MAX);
    assert_int_equal(replay_of("{\"replay\":{\"since\":0,\"limit\":1000}}", 1, &j, reason), 0);
    assert_int_equal(j.replay_limit, CHAN_REPLAY_MAX);

    assert_int_equal(replay_of("{\"replay\":{\"since\":0}}", 0, &j, reason), -1);
    assert_non_null(strstr(reason, "Replay is not allowed for public channels"));
    const char *bad[] = {"{\"replay\":true}",
                         "{\"replay\":{}}",
                         "{\"replay\":{\"since\":\"1700000000000\"}}",
                         "{\"replay\":{\"since\":1.5}}",
                         "{\"replay\":{\"since\":-1}}",
                         "{\"replay\":{\"since\":99999999999999999}}",
                         "{\"replay\":{\"since\":0,\"limit\":-1}}",
                         "{\"replay\":{\"since\":0,\"limit\":0}}",
                         "{\"replay\":{\"since\":0,\"limit\":\"5\"}}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(replay_of(bad[i], 1, &j, reason), -1);
        assert_non_null(strstr(reason, "UnableToReplayMessages: Replay params are not valid"));
        assert_int_equal(j.replay_limit, 0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_persist),
        cmocka_unit_test(test_ttl_text),
        cmocka_unit_test(test_meta_and_uuid),
        cmocka_unit_test(test_replay_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
