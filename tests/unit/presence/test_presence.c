/*
 * test_presence: pres_* against Phoenix Presence semantics as
 * @supabase/realtime-js merges them. Every diff and state is parsed back;
 * a port of the client's syncDiff replays the diffs and must arrive at the
 * server's state, and a random-operation run is checked against a model.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "presence/presence.h"

/* ---- helpers ------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void) { /* xorshift64: deterministic runs */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void shuffle(uint64_t *a, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(rnd() % i);
        uint64_t tmp = a[i - 1];
        a[i - 1] = a[j];
        a[j] = tmp;
    }
}

static json_t *parse_bytes(const uint8_t *p, size_t n) {
    json_error_t err;
    json_t *j = json_loadb((const char *)p, n, 0, &err);
    if (!j)
        fail_msg("invalid JSON (%s): %.*s", err.text, (int)n, (const char *)p);
    return j;
}

/* Returns the state's raw bytes (caller frees) and its parse in *parsed. */
static char *state_str(const pres_topic_t *t, json_t **parsed) {
    buf_t *b = buf_new(0);
    pres_state(t, &b);
    char *s = strndup((const char *)b->data, b->len);
    assert_non_null(s);
    if (parsed)
        *parsed = parse_bytes(b->data, b->len);
    buf_unref(b);
    return s;
}

static json_t *state_json(const pres_topic_t *t) {
    json_t *j;
    free(state_str(t, &j));
    return j;
}

static void check_diff_shape(json_t *d) {
    assert_true(json_is_object(d));
    assert_int_equal(json_object_size(d), 2);
    assert_true(json_is_object(json_object_get(d, "joins")));
    assert_true(json_is_object(json_object_get(d, "leaves")));
}

/* Tracks meta (consumed) and returns the parsed diff (caller decrefs). */
static json_t *track(pres_topic_t *t, uint64_t owner, const char *key, json_t *meta) {
    buf_t *b = buf_new(0);
    assert_int_equal(pres_track(t, owner, key, meta, &b), 0);
    json_decref(meta);
    json_t *d = parse_bytes(b->data, b->len);
    buf_unref(b);
    check_diff_shape(d);
    return d;
}

/* Returns the parsed diff, or NULL when the owner had nothing. */
static json_t *untrack(pres_topic_t *t, uint64_t owner) {
    buf_t *b = buf_new(0);
    int rc = pres_untrack(t, owner, &b);
    json_t *d = NULL;
    if (rc == 0) {
        assert_int_equal(b->len, 0);
    } else {
        assert_int_equal(rc, 1);
        d = parse_bytes(b->data, b->len);
        check_diff_shape(d);
    }
    buf_unref(b);
    return d;
}

static void assert_ref_ok(const char *r) {
    assert_non_null(r);
    assert_int_equal(strlen(r), 11);
    for (const char *p = r; *p; p++)
        assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
}

/* The phx_ref of metas[i] under key in a diff part or a state. */
static const char *ref_at(json_t *obj, const char *key, size_t i) {
    json_t *m = json_array_get(json_object_get(json_object_get(obj, key), "metas"), i);
    return json_string_value(json_object_get(m, "phx_ref"));
}

static void assert_json_eq(json_t *got, json_t *want) {
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
        char *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
        fprintf(stderr, "got:  %s\nwant: %s\n", g, w);
        free(g);
        free(w);
        fail();
    }
}

/* ---- a port of @supabase/phoenix Presence.syncDiff -------------------------- */

static bool has_ref(json_t *metas, json_t *ref) {
    size_t i;
    json_t *m;
    json_array_foreach(metas, i, m) {
        if (json_equal(json_object_get(m, "phx_ref"), ref))
            return true;
    }
    return false;
}

/* Joins replace the key's presence with the joined metas, keeping current
 * metas whose ref is not among them in front; leaves then drop metas by ref
 * and a key with no metas left disappears. */
static void client_apply(json_t *state, json_t *diff) {
    const char *key;
    json_t *p;
    json_object_foreach(json_object_get(diff, "joins"), key, p) {
        json_t *cur = json_object_get(state, key);
        json_t *np = json_deep_copy(p);
        json_t *nmetas = json_object_get(np, "metas");
        if (cur) {
            json_t *keep = json_array();
            size_t i;
            json_t *m;
            json_array_foreach(json_object_get(cur, "metas"), i, m) {
                if (!has_ref(nmetas, json_object_get(m, "phx_ref")))
                    json_array_append(keep, m);
            }
            json_array_extend(keep, nmetas);
            json_object_set_new(np, "metas", keep);
        }
        json_object_set_new(state, key, np);
    }
    json_object_foreach(json_object_get(diff, "leaves"), key, p) {
        json_t *cur = json_object_get(state, key);
        if (!cur)
            continue;
        json_t *metas = json_object_get(cur, "metas");
        json_t *gone = json_object_get(p, "metas");
        for (size_t i = json_array_size(metas); i-- > 0;)
            if (has_ref(gone, json_object_get(json_array_get(metas, i), "phx_ref")))
                json_array_remove(metas, i);
        if (json_array_size(metas) == 0)
            json_object_del(state, key);
    }
}

/* ---- tests ------------------------------------------------------------------ */

static void test_empty(void **st) {
    (void)st;
    pres_topic_t *t = pres_topic_new();
    char *s = state_str(t, NULL);
    assert_string_equal(s, "{}");
    free(s);
    assert_int_equal(pres_entries(t), 0);
    assert_int_equal(pres_keys(t), 0);
    assert_null(untrack(t, 1));
    pres_topic_free(t);
    pres_topic_free(NULL);
}

static void test_track_joins(void **st) {
    (void)st;
    pres_topic_t *t = pres_topic_new();
    buf_t *b = buf_new(0);
    buf_puts(&b, "PRE"); /* the diff is appended, not written over */
    json_t *meta = json_pack("{s:s,s:i}", "name", "alice", "n", 1);
    assert_int_equal(pres_track(t, 7, "alice", meta, &b), 0);
    json_decref(meta);
    assert_memory_equal(b->data, "PRE", 3);
    json_t *d = parse_bytes(b->data + 3, b->len - 3);
    const char *ref = ref_at(json_object_get(d, "joins"), "alice", 0);
    assert_ref_ok(ref);

    char want[256];
    snprintf(want, sizeof(want),
             "{\"joins\":{\"alice\":{\"metas\":[{\"name\":\"alice\",\"n\":1,\"phx_ref\":\"%s\"}]}},"
             "\"leaves\":{}}",
             ref);
    assert_int_equal(b->len - 3, strlen(want));
    assert_memory_equal(b->data + 3, want, strlen(want));

    char *s = state_str(t, NULL);
    snprintf(want, sizeof(want), "{\"alice\":{\"metas\":[{\"name\":\"alice\",\"n\":1,\"phx_ref\":\"%s\"}]}}", ref);
    assert_string_equal(s, want);
    assert_int_equal(pres_entries(t), 1);
    assert_int_equal(pres_keys(t), 1);
    free(s);
    json_decref(d);
    buf_unref(b);
    pres_topic_free(t);
}

static void test_two_owners_share_key(void **st) {
    (void)st;
    pres_topic_t *t = pres_topic_new();
    json_t *d1 = track(t, 1, "u", json_pack("{s:s}", "tab", "one"));
    json_t *d2 = track(t, 2, "u", json_pack("{s:s}", "tab", "two"));
    const char *r1 = ref_at(json_object_get(d1, "joins"), "u", 0);
    const char *r2 = ref_at(json_object_get(d2, "joins"), "u", 0);
    assert_string_not_equal(r1, r2);

    /* The second diff carries only the second meta. */
    json_t *want =
        json_pack("{s:{s:{s:[{s:s,s:s}]}},s:{}}", "joins", "u", "metas", "tab", "two", "phx_ref", r2, "leaves");
    assert_json_eq(d2, want);
    json_decref(want);

    json_t *s = state_json(t);
    want = json_pack("{s:{s:[{s:s,s:s},{s:s,s:s}]}}", "u", "metas", "tab", "one", "phx_ref", r1, "tab", "two",
                     "phx_ref", r2);
    assert_json_eq(s, want);
    assert_int_equal(pres_entries(t), 2);
    assert_int_equal(pres_keys(t), 1);
    json_decref(want);
    json_decref(s);
    json_decref(d1);
    json_decref(d2);
    pres_topic_free(t);
}

static void test_update_leaves_old_joins_new(void **st) {
    (void)st;
    pres_topic_t *t = pres_topic_new();
    json_t *d1 = track(t, 1, "u", json_pack("{s:s}", "s", "a"));
    const char *r1 = ref_at(json_object_get(d1, "joins"), "u", 0);
    json_t *d2 = track(t, 1, "u", json_pack("{s:s}", "s", "b"));
    const char *r2 = ref_at(json_object_get(d2, "joins"), "u", 0);
    assert_ref_ok(r2);
    assert_string_not_equal(r1, r2);
    json_t *want = json_pack("{s:{s:{s:[{s:s,s:s,s:s}]}},s:{s:{s:[{s:s,s:s}]}}}", "joins", "u", "metas", "s", "b",
                             "phx_ref", r2, "phx_ref_prev", r1, "leaves", "u", "metas", "s", "a", "phx_ref", r1);
    assert_json_eq(d2, want);
    json_decref(want);
    assert_int_equal(pres_entries(t), 1);
    assert_int_equal(pres_keys(t), 1);

    /* With a second owner on the key, the updated meta moves to the end, as
     * it does in the client; the leave lists the stored meta verbatim,
     * phx_ref_prev included. */
    json_t *d3 = track(t, 2, "u", json_pack("{s:s}", "s", "other"));
    const char *r3 = ref_at(json_object_get(d3, "joins"), "u", 0);
    json_t *d4 = track(t, 1, "u", json_pack("{s:s}", "s", "c"));
    const char *r4 = ref_at(json_object_get(d4, "joins"), "u", 0);
    want =
        json_pack("{s:{s:{s:[{s:s,s:s,s:s}]}},s:{s:{s:[{s:s,s:s,s:s}]}}}", "joins", "u", "metas", "s", "c", "phx_ref",
                  r4, "phx_ref_prev", r2, "leaves", "u", "metas", "s", "b", "phx_ref", r2, "phx_ref_prev", r1);
    assert_json_eq(d4, want);
    json_decref(want);
    json_t *s = state_json(t);
    want = json_pack("{s:{s:[{s:s,s:s},{s:s,s:s,s:s}]}}", "u", "metas", "s", "other", "phx_ref", r3, "s", "c",
                     "phx_ref", r4, "phx_ref_prev", r2);
    assert_json_eq(s, want);
    assert_int_equal(pres_entries(t), 2);
    json_decref(want);
    json_decref(s);
    json_decref(d1);
    json_decref(d2);
    json_decref(d3);
    json_decref(d4);
    pres_topic_free(t);
}

static void test_owner_moves_to_other_key(void **st) {
    (void)st;
    pres_topic_t *t = pres_topic_new();
    json_t *d1 = track(t, 1, "a", json_pack("{s:i}", "v", 1));
    json_t *d2 = track(t, 2, "a", json_pack("{s:i}", "v", 2));
    const char *r1 = ref_at(json_object_get(d1, "joins"), "a", 0);
    const char *r2 = ref_at(json_object_get(d2, "joins"), "a", 0);
    json_t *d3 = track(t, 1, "b", json_pack("{s:i}", "v", 3));
    const char *r3 = ref_at(json_object_get(d3, "joins"), "b", 0);
    /* A plain leave + join: no phx_ref_prev across keys. */
    json_t *want = json_pack("{s:{s:{s:[{s:i,s:s}]}},s:{s:{s:[{s:i,s:s}]}}}", "joins", "b", "metas", "v", 3, "phx_ref",
                             r3, "leaves", "a", "metas", "v", 1, "phx_ref", r1);
    assert_json_eq(d3, want);
    json_decref(want);
    assert_int_equal(pres_entries(t), 2);
    assert_int_equal(pres_keys(t), 2);

    /* Owner 2 moves too: key "a" empties and goes away. */
    json_t *d4 = track(t, 2, "b", json_pack("{s:i}", "v", 4));
    const char *r4 = ref_at(json_object_get(d4, "joins"), "b", 0);
    assert_int_equal(pres_keys(t), 1);
    json_t *s = state_json(t);
    want = json_pack("{s:{s:[{s:i,s:s},{s:i,s:s}]}}", "b", "metas", "v", 3, "phx_ref", r3, "v", 4, "phx_ref", r4);
    assert_json_eq(s, want);
    assert_string_equal(ref_at(json_object_get(d4, "leaves"), "a", 0), r2);
    json_decref(want);
    json_decref(s);
    json_decref(d1);
    json_decref(d2);
    json_decref(d3);
    json_decref(d4);
    pres_topic_free(t);
}

static void test_untrack_leaves(void **st) {
    (void)st;
    pres_topic_t *t = pres_topic_new();
    json_t *d1 = track(t, 1, "u", json_pack("{s:s}", "tab", "one"));
    json_t *d2 = track(t, 2, "u", json_pack("{s:s}", "tab", "two"));
    const char *r1 = ref_at(json_object_get(d1, "joins"), "u", 0);
    const char *r2 = ref_at(json_object_get(d2, "joins"), "u", 0);

    buf_t *b = buf_new(0);
    assert_int_equal(pres_untrack(t, 1, &b), 1);
    char want[256];
    snprintf(want, sizeof(want), "{\"joins\":{},\"leaves\":{\"u\":{\"metas\":[{\"tab\":\"one\",\"phx_ref\":\"%s\"}]}}}",
             r1);
    assert_int_equal(b->len, strlen(want));
    assert_memory_equal(b->data, want, b->len);
    buf_unref(b);

    json_t *s = state_json(t);
    json_t *w = json_pack("{s:{s:[{s:s,s:s}]}}", "u", "metas", "tab", "two", "phx_ref", r2);
    assert_json_eq(s, w);
    json_decref(w);
    json_decref(s);
    assert_int_equal(pres_entries(t), 1);
    assert_int_equal(pres_keys(t), 1);

    json_t *d3 = untrack(t, 2);
    assert_non_null(d3);
    assert_string_equal(ref_at(json_object_get(d3, "leaves"), "u", 0), r2);
    assert_int_equal(json_object_size(json_object_get(d3, "joins")), 0);
    assert_int_equal(pres_entries(t), 0);
    assert_int_equal(pres_keys(t), 0);
    char *ss = state_str(t, NULL);
    assert_string_equal(ss, "{}");
    free(ss);
    json_decref(d1);
    json_decref(d2);
    json_decref(d3);
    pres_topic_free(t);
}

static void test_untrack_unknown_owner(void **st) {
    (void)st;
    pres_topic_t *t = pres_topic_new();
    buf_t *b = buf_new(0);
    buf_puts(&b, "xyz");
    assert_int_equal(pres_untrack(t, 42, &b), 0);
    json_decref(track(t, 1, "u", json_object()));
    assert_int_equal(pres_untrack(t, 42, &b), 0);
    assert_int_equal(pres_untrack(t, 1, &b), 1);
    size_t len = b->len;
    assert_int_equal(pres_untrack(t, 1, &b), 0); /* already gone */
    assert_int_equal(b->len, len);
    assert_memory_equal(b->data, "xyz", 3);
    buf_unref(b);
    pres_topic_free(t);
}

static void test_rejects_bad_input(void **st) {
    (void)st;
    pres_topic_t *t = pres_topic_new();
    json_decref(track(t, 1, "u", json_pack("{s:i}", "keep", 1)));
    char *before = state_str(t, NULL);
    json_t *bad[] = {json_array(), json_string("x"), json_integer(3), json_null(), json_true(), NULL};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        for (uint64_t owner = 1; owner <= 2; owner++) { /* existing, then new */
            buf_t *b = buf_new(0);
            assert_int_equal(pres_track(t, owner, "u", bad[i], &b), -1);
            assert_int_equal(pres_track(t, owner, "v", bad[i], &b), -1);
            assert_int_equal(b->len, 0);
            buf_unref(b);
        }
        json_decref(bad[i]);
    }
    /* Keys that could not go out as JSON strings. */
    const char *bad_keys[] = {NULL, "\xff", "ok\xc0\xaf", "\xed\xa0\x80"};
    for (size_t i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
        json_t *m = json_object();
        buf_t *b = buf_new(0);
        assert_int_equal(pres_track(t, 1, bad_keys[i], m, &b), -1);
        assert_int_equal(pres_track(t, 3, bad_keys[i], m, &b), -1);
        assert_int_equal(b->len, 0);
        buf_unref(b);
        json_decref(m);
    }
    char *after = state_str(t, NULL);
    assert_string_equal(before, after);
    assert_int_equal(pres_entries(t), 1);
    assert_int_equal(pres_keys(t), 1);
    free(before);
    free(after);
    pres_topic_free(t);
}

static void test_meta_is_copied(void **st) {
    (void)st;
    pres_topic_t *t = pres_topic_new();
    json_t *meta = json_pack("{s:i,s:{s:i},s:[i]}", "a", 1, "nested", "x", 1, "arr", 1);
    buf_t *b = buf_new(0);
    assert_int_equal(pres_track(t, 1, "u", meta, &b), 0);
    buf_unref(b);
    /* The caller's object is left as it was: no phx_ref added to it. */
    assert_null(json_object_get(meta, "phx_ref"));
    assert_int_equal(json_object_size(meta), 3);
    char *before = state_str(t, NULL);

    json_object_set_new(meta, "a", json_integer(2));
    json_object_set_new(json_object_get(meta, "nested"), "x", json_integer(99));
    json_array_append_new(json_object_get(meta, "arr"), json_integer(2));
    json_object_set_new(meta, "added", json_true());
    char *after = state_str(t, NULL);
    assert_string_equal(before, after);
    json_t *s = parse_bytes((const uint8_t *)after, strlen(after));
    json_t *m = json_array_get(json_object_get(json_object_get(s, "u"), "metas"), 0);
    assert_int_equal(json_integer_value(json_object_get(m, "a")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "nested"), "x")), 1);
    assert_int_equal(json_array_size(json_object_get(m, "arr")), 1);
    json_decref(s);
    free(before);
    free(after);
    json_decref(meta);
    pres_topic_free(t);
}

static void test_user_phx_ref_overridden(void **st) {
    (void)st;
    pres_topic_t *t = pres_topic_new();
    json_t *meta = json_pack("{s:s,s:s,s:i}", "phx_ref", "mine", "phx_ref_prev", "fake", "u", 1);
    buf_t *b = buf_new(0);
    assert_int_equal(pres_track(t, 1, "k", meta, &b), 0);
    json_t *d = parse_bytes(b->data, b->len);
    buf_unref(b);
    json_t *m = json_array_get(json_object_get(json_object_get(json_object_get(d, "joins"), "k"), "metas"), 0);
    const char *r1 = json_string_value(json_object_get(m, "phx_ref"));
    assert_ref_ok(r1);
    assert_null(json_object_get(m, "phx_ref_prev")); /* a fresh join has none */
    assert_int_equal(json_object_size(m), 2);
    assert_string_equal(json_string_value(json_object_get(meta, "phx_ref")), "mine");

    json_t *d2 = track(t, 1, "k", meta); /* consumes meta */
    m = json_array_get(json_object_get(json_object_get(json_object_get(d2, "joins"), "k"), "metas"), 0);
    assert_string_equal(json_string_value(json_object_get(m, "phx_ref_prev")), r1);
    assert_string_not_equal(json_string_value(json_object_get(m, "phx_ref")), "mine");
    json_t *s = state_json(t);
    assert_json_eq(json_object_get(json_object_get(s, "k"), "metas"),
                   json_object_get(json_object_get(json_object_get(d2, "joins"), "k"), "metas"));
    json_decref(s);
    json_decref(d);
    json_decref(d2);
    pres_topic_free(t);
}

/* Escaping of key names, and a key that is the empty string. */
static void test_key_names_escaped(void **st) {
    (void)st;
    pres_topic_t *t = pres_topic_new();
    const char *keys[] = {"", "q\"uote", "back\\slash", "tab\tnl\n", "\x01", "caf\xc3\xa9 \xe2\x9c\x93"};
    size_t n = sizeof(keys) / sizeof(keys[0]);
    for (size_t i = 0; i < n; i++) {
        json_t *d = track(t, i, keys[i], json_pack("{s:i}", "i", (int)i));
        assert_non_null(json_object_get(json_object_get(d, "joins"), keys[i]));
        json_decref(d);
    }
    assert_int_equal(pres_keys(t), n);
    json_t *s = state_json(t);
    assert_int_equal(json_object_size(s), n);
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(json_object_get(json_object_get(s, keys[i]), "metas"), 0);
        assert_int_equal(json_integer_value(json_object_get(m, "i")), (json_int_t)i);
    }
    json_decref(s);
    for (size_t i = 0; i < n; i++) {
        json_t *d = untrack(t, i);
        assert_non_null(json_object_get(json_object_get(d, "leaves"), keys[i]));
        json_decref(d);
    }
    assert_int_equal(pres_keys(t), 0);
    pres_topic_free(t);
}

/* ---- phx_ref uniqueness, from two threads at once ------------------------------ */

#define REFS_PER_THREAD 50000

static void *track_many(void *arg) {
    pres_topic_t *t = arg;
    for (uint64_t i = 0; i < REFS_PER_THREAD; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%u", (unsigned)(i % 256));
        json_t *m = json_object();
        buf_t *b = buf_new(0);
        if (pres_track(t, i, key, m, &b) != 0)
            abort(); /* cmocka asserts are not for other threads */
        buf_unref(b);
        json_decref(m);
    }
    return NULL;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static size_t collect_refs(const pres_topic_t *t, json_t **state, const char **out) {
    *state = state_json(t);
    size_t n = 0;
    const char *key;
    json_t *p;
    json_object_foreach(*state, key, p) {
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(p, "metas"), i, m) {
            out[n++] = json_string_value(json_object_get(m, "phx_ref"));
        }
    }
    return n;
}

static void test_refs_unique_across_threads(void **st) {
    (void)st;
    pres_topic_t *t1 = pres_topic_new(), *t2 = pres_topic_new();
    pthread_t th1, th2;
    assert_int_equal(pthread_create(&th1, NULL, track_many, t1), 0);
    assert_int_equal(pthread_create(&th2, NULL, track_many, t2), 0);
    assert_int_equal(pthread_join(th1, NULL), 0);
    assert_int_equal(pthread_join(th2, NULL), 0);
    assert_int_equal(pres_entries(t1), REFS_PER_THREAD);
    assert_int_equal(pres_keys(t2), 256);

    const char **refs = calloc(2 * REFS_PER_THREAD, sizeof(*refs));
    assert_non_null(refs);
    json_t *s1, *s2;
    size_t n = collect_refs(t1, &s1, refs);
    n += collect_refs(t2, &s2, refs + n);
    assert_int_equal(n, 2 * REFS_PER_THREAD);
    for (size_t i = 0; i < n; i++)
        assert_ref_ok(refs[i]);
    qsort(refs, n, sizeof(*refs), cmp_str);
    for (size_t i = 1; i < n; i++)
        if (strcmp(refs[i - 1], refs[i]) == 0)
            fail_msg("duplicate phx_ref %s", refs[i]);
    free(refs);
    json_decref(s1);
    json_decref(s2);
    pres_topic_free(t1);
    pres_topic_free(t2);
}

/* ---- random operations against a model and against the client's merge --------- */

#define M_OWNERS 48
#define M_OPS 6000

static const char *m_keys[] = {"alice", "bob", "", "q\"k", "caf\xc3\xa9", "k5"};
#define M_KEYS (sizeof(m_keys) / sizeof(m_keys[0]))

typedef struct {
    int key; /* index into m_keys, -1: not tracked */
    int n;
    uint64_t seq; /* when last tracked: the order within a key */
    char ref[32], prev[32];
} m_owner_t;

static json_t *m_meta(uint64_t o, const m_owner_t *m) {
    json_t *j = json_pack("{s:I,s:i,s:s}", "o", (json_int_t)o, "n", m->n, "phx_ref", m->ref);
    if (m->prev[0])
        json_object_set_new(j, "phx_ref_prev", json_string(m->prev));
    return j;
}

static json_t *m_one(int key, json_t *meta) {
    if (key < 0)
        return json_object();
    return json_pack("{s:{s:[o]}}", m_keys[key], "metas", meta);
}

static json_t *m_state(const m_owner_t *own) {
    json_t *s = json_object();
    for (size_t k = 0; k < M_KEYS; k++) {
        json_t *metas = json_array();
        uint64_t last = 0;
        for (;;) { /* owners of k by ascending seq */
            int best = -1;
            for (int o = 0; o < M_OWNERS; o++)
                if (own[o].key == (int)k && own[o].seq > last && (best < 0 || own[o].seq < own[best].seq))
                    best = o;
            if (best < 0)
                break;
            json_array_append_new(metas, m_meta((uint64_t)best, &own[best]));
            last = own[best].seq;
        }
        if (json_array_size(metas))
            json_object_set_new(s, m_keys[k], json_pack("{s:o}", "metas", metas));
        else
            json_decref(metas);
    }
    return s;
}

static void test_random_ops_match_model_and_client(void **st) {
    (void)st;
    m_owner_t own[M_OWNERS];
    memset(own, 0, sizeof(own));
    for (int o = 0; o < M_OWNERS; o++)
        own[o].key = -1;
    pres_topic_t *t = pres_topic_new();
    json_t *client = json_object();
    uint64_t seq = 0;
    size_t entries = 0;

    for (int op = 0; op < M_OPS; op++) {
        uint64_t o = rnd() % M_OWNERS;
        m_owner_t old = own[o];
        json_t *d, *want;
        if (rnd() % 10 < 6) {
            int k = (int)(rnd() % M_KEYS);
            json_t *meta = json_pack("{s:I,s:i}", "o", (json_int_t)o, "n", op);
            if (op % 7 == 0) /* a user phx_ref never survives */
                json_object_set_new(meta, "phx_ref", json_string("user"));
            d = track(t, o, m_keys[k], meta);
            const char *ref = ref_at(json_object_get(d, "joins"), m_keys[k], 0);
            assert_ref_ok(ref);
            own[o].key = k;
            own[o].n = op;
            own[o].seq = ++seq;
            snprintf(own[o].ref, sizeof(own[o].ref), "%s", ref);
            snprintf(own[o].prev, sizeof(own[o].prev), "%s", old.key == k ? old.ref : "");
            if (old.key < 0)
                entries++;
            want = json_pack("{s:o,s:o}", "joins", m_one(k, m_meta(o, &own[o])), "leaves",
                             m_one(old.key, old.key < 0 ? NULL : m_meta(o, &old)));
        } else {
            d = untrack(t, o);
            if (old.key < 0) {
                assert_null(d);
                continue;
            }
            own[o].key = -1;
            entries--;
            want = json_pack("{s:{},s:o}", "joins", "leaves", m_one(old.key, m_meta(o, &old)));
        }
        assert_json_eq(d, want);
        json_decref(want);
        client_apply(client, d);
        json_decref(d);

        json_t *s = state_json(t);
        json_t *model = m_state(own);
        assert_json_eq(s, model);
        assert_json_eq(client, s);
        assert_int_equal(pres_entries(t), entries);
        assert_int_equal(pres_keys(t), json_object_size(model));
        json_decref(model);
        json_decref(s);
    }
    json_decref(client);
    pres_topic_free(t); /* with entries left: must not leak */
}

/* ---- 10,000 owners in and out in random order ----------------------------------- */

#define BIG 10000

static void test_ten_thousand_owners_churn(void **st) {
    (void)st;
    uint64_t *order = malloc(BIG * sizeof(*order));
    int *key_of = malloc(BIG * sizeof(*key_of));
    assert_non_null(order);
    assert_non_null(key_of);
    for (uint64_t i = 0; i < BIG; i++)
        order[i] = i * 0x10001u + 5; /* spread-out owner ids */
    shuffle(order, BIG);
    pres_topic_t *t = pres_topic_new();
    char key[32];
    for (size_t i = 0; i < BIG; i++) {
        key_of[i] = (int)(rnd() % 1000);
        snprintf(key, sizeof(key), "user-%d", key_of[i]);
        json_decref(track(t, order[i], key, json_pack("{s:I}", "o", (json_int_t)order[i])));
    }
    assert_int_equal(pres_entries(t), BIG);
    /* Re-track a third of them, some under new keys. */
    for (size_t n = 0; n < BIG / 3; n++) {
        size_t i = (size_t)(rnd() % BIG);
        if (rnd() % 2)
            key_of[i] = (int)(rnd() % 1000);
        snprintf(key, sizeof(key), "user-%d", key_of[i]);
        json_decref(track(t, order[i], key, json_pack("{s:b}", "again", 1)));
    }
    assert_int_equal(pres_entries(t), BIG);
    bool used[1000] = {false};
    size_t nkeys = 0;
    for (size_t i = 0; i < BIG; i++)
        if (!used[key_of[i]]) {
            used[key_of[i]] = true;
            nkeys++;
        }
    assert_int_equal(pres_keys(t), nkeys);
    json_t *s = state_json(t);
    size_t metas = 0;
    const char *k;
    json_t *p;
    json_object_foreach(s, k, p) { metas += json_array_size(json_object_get(p, "metas")); }
    assert_int_equal(metas, BIG);
    assert_int_equal(json_object_size(s), nkeys);
    json_decref(s);

    /* Untrack in another random order; each leave names the owner's key. */
    uint64_t *perm = malloc(BIG * sizeof(*perm));
    assert_non_null(perm);
    for (uint64_t i = 0; i < BIG; i++)
        perm[i] = i;
    shuffle(perm, BIG);
    for (size_t n = 0; n < BIG; n++) {
        size_t i = (size_t)perm[n];
        json_t *d = untrack(t, order[i]);
        assert_non_null(d);
        snprintf(key, sizeof(key), "user-%d", key_of[i]);
        assert_non_null(ref_at(json_object_get(d, "leaves"), key, 0));
        json_decref(d);
        assert_int_equal(pres_entries(t), BIG - n - 1);
    }
    assert_int_equal(pres_entries(t), 0);
    assert_int_equal(pres_keys(t), 0);
    char *ss = state_str(t, NULL);
    assert_string_equal(ss, "{}");
    free(ss);
    assert_null(untrack(t, order[0]));
    /* Still usable after emptying out (tables shrank back). */
    json_decref(track(t, 1, "again", json_object()));
    assert_int_equal(pres_entries(t), 1);
    free(perm);
    free(order);
    free(key_of);
    pres_topic_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_track_joins),
        cmocka_unit_test(test_two_owners_share_key),
        cmocka_unit_test(test_update_leaves_old_joins_new),
        cmocka_unit_test(test_owner_moves_to_other_key),
        cmocka_unit_test(test_untrack_leaves),
        cmocka_unit_test(test_untrack_unknown_owner),
        cmocka_unit_test(test_rejects_bad_input),
        cmocka_unit_test(test_meta_is_copied),
        cmocka_unit_test(test_user_phx_ref_overridden),
        cmocka_unit_test(test_key_names_escaped),
        cmocka_unit_test(test_refs_unique_across_threads),
        cmocka_unit_test(test_random_ops_match_model_and_client),
        cmocka_unit_test(test_ten_thousand_owners_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
