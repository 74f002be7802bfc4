/*
 * Unit tests for proto/msg: decoding of what realtime-js 2.119.1 sends (both
 * serializers, text and binary), every rejection path, and the exact bytes
 * of every encoder. Expected frames are written out by hand, never produced
 * by the code under test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/msg.h"

#define LIT_LEN(lit) (sizeof(lit) - 1)

/* ---- helpers ---------------------------------------------------------- */

static void assert_view(msg_str_t v, const char *want) {
    if (!want) {
        assert_null(v.s);
        assert_int_equal(v.len, 0);
        return;
    }
    assert_non_null(v.s);
    assert_int_equal(v.len, strlen(want));
    assert_memory_equal(v.s, want, v.len);
}

/* Compares a buf with expected bytes and checks the WebSocket headroom is
 * still in front of the data. Releases the buf. */
static void assert_buf_bytes(buf_t *b, const void *want, size_t n) {
    assert_non_null(b);
    assert_ptr_equal(b->data, b->bytes + BUF_HEADROOM);
    if (b->len != n)
        fprintf(stderr, "got %zu bytes: %.*s\n", b->len, (int)b->len, (const char *)b->data);
    assert_int_equal(b->len, n);
    assert_memory_equal(b->data, want, n);
    buf_unref(b);
}

#define assert_buf_str(b, lit) assert_buf_bytes((b), (lit), LIT_LEN(lit))

static void assert_cleared(const msg_in_t *m) {
    assert_null(m->_root);
    assert_null(m->payload);
    assert_null(m->topic.s);
    assert_null(m->event.s);
    assert_null(m->join_ref.s);
    assert_null(m->ref.s);
    assert_null(m->user_payload);
    assert_int_equal(m->binary, 0);
}

static int decode_text(msg_vsn_t vsn, const char *s, msg_in_t *m) {
    char err[128] = "";
    int rc = msg_decode_text(vsn, s, strlen(s), m, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "unexpected error: %s\n", err);
    return rc;
}

/* Builds a kind 3 frame by hand from its parts, independently of
 * msg_encode_user_push, so decoder tests do not trust the encoder. */
typedef struct {
    uint8_t kind, encoding;
    const char *jr, *ref, *topic, *event, *meta;
    size_t jr_len, ref_len, topic_len, event_len, meta_len;
    const char *payload;
    size_t payload_len;
} parts_t;

static size_t build(const parts_t *p, uint8_t *out) {
    size_t o = 0;
    out[o++] = p->kind;
    out[o++] = (uint8_t)p->jr_len;
    out[o++] = (uint8_t)p->ref_len;
    out[o++] = (uint8_t)p->topic_len;
    out[o++] = (uint8_t)p->event_len;
    out[o++] = (uint8_t)p->meta_len;
    out[o++] = p->encoding;
    memcpy(out + o, p->jr, p->jr_len), o += p->jr_len;
    memcpy(out + o, p->ref, p->ref_len), o += p->ref_len;
    memcpy(out + o, p->topic, p->topic_len), o += p->topic_len;
    memcpy(out + o, p->event, p->event_len), o += p->event_len;
    memcpy(out + o, p->meta, p->meta_len), o += p->meta_len;
    memcpy(out + o, p->payload, p->payload_len), o += p->payload_len;
    return o;
}

/* A valid kind 3 push as realtime-js writes it for
 * channel.send({type:'broadcast', event:'cursor', payload:{...}}) on a
 * persisted channel. */
static parts_t good_push(void) {
    parts_t p = {.kind = 3, .encoding = MSG_ENC_JSON};
    p.jr = "4", p.jr_len = 1;
    p.ref = "17", p.ref_len = 2;
    p.topic = "realtime:room1", p.topic_len = LIT_LEN("realtime:room1");
    p.event = "cursor", p.event_len = LIT_LEN("cursor");
    p.meta = "{\"persist\":true}", p.meta_len = LIT_LEN("{\"persist\":true}");
    p.payload = "{\"x\":10,\"y\":[1,{\"z\":null}]}";
    p.payload_len = LIT_LEN("{\"x\":10,\"y\":[1,{\"z\":null}]}");
    return p;
}

/* ---- text decoding ---------------------------------------------------- */

/* The join example from docs/realtime-js-protocol.md, both serializers. */
#define JOIN_PAYLOAD                                                                                                   \
    "{\"config\":{"                                                                                                    \
    "\"broadcast\":{\"self\":true,\"ack\":true},"                                                                      \
    "\"presence\":{\"key\":\"me\",\"enabled\":true},"                                                                  \
    "\"postgres_changes\":[{\"event\":\"INSERT\",\"schema\":\"public\",\"table\":\"todos\"},"                          \
    "{\"event\":\"*\",\"schema\":\"public\",\"table\":\"todos\",\"filter\":\"id=eq.7\"}],"                             \
    "\"private\":false},"                                                                                              \
    "\"access_token\":\"eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.c2ln\"}"

static void check_join(const msg_in_t *m) {
    assert_view(m->join_ref, "6");
    assert_view(m->ref, "6");
    assert_view(m->topic, "realtime:room1");
    assert_view(m->event, "phx_join");
    assert_int_equal(m->binary, 0);
    assert_non_null(m->payload);
    json_t *cfg = json_object_get(m->payload, "config");
    assert_true(json_is_true(json_object_get(json_object_get(cfg, "broadcast"), "self")));
    assert_true(json_is_true(json_object_get(json_object_get(cfg, "broadcast"), "ack")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(cfg, "presence"), "key")), "me");
    json_t *pc = json_object_get(cfg, "postgres_changes");
    assert_int_equal(json_array_size(pc), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(pc, 0), "event")), "INSERT");
    assert_string_equal(json_string_value(json_object_get(json_array_get(pc, 1), "filter")), "id=eq.7");
    assert_true(json_is_false(json_object_get(cfg, "private")));
    assert_string_equal(json_string_value(json_object_get(m->payload, "access_token")),
                        "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.c2ln");
}

static void test_decode_v2_join(void **state) {
    (void)state;
    msg_in_t m;
    assert_int_equal(decode_text(MSG_VSN_2, "[\"6\",\"6\",\"realtime:room1\",\"phx_join\"," JOIN_PAYLOAD "]", &m), 0);
    check_join(&m);
    msg_in_clear(&m);
    assert_cleared(&m);
}

static void test_decode_v1_join(void **state) {
    (void)state;
    msg_in_t m;
    /* realtime-js's key order: JSON.stringify({topic, event, payload, ref, join_ref}) */
    assert_int_equal(decode_text(MSG_VSN_1,
                                 "{\"topic\":\"realtime:room1\",\"event\":\"phx_join\",\"payload\":" JOIN_PAYLOAD
                                 ",\"ref\":\"6\",\"join_ref\":\"6\"}",
                                 &m),
                     0);
    check_join(&m);
    msg_in_clear(&m);
}

static void test_decode_heartbeat(void **state) {
    (void)state;
    msg_in_t m;
    assert_int_equal(decode_text(MSG_VSN_2, "[null,\"12\",\"phoenix\",\"heartbeat\",{}]", &m), 0);
    assert_view(m.join_ref, NULL);
    assert_view(m.ref, "12");
    assert_view(m.topic, "phoenix");
    assert_view(m.event, "heartbeat");
    assert_int_equal(json_object_size(m.payload), 0);
    msg_in_clear(&m);

    /* vsn 1: phoenix pushes {topic, event, payload, ref}: no join_ref key at all */
    assert_int_equal(
        decode_text(MSG_VSN_1, "{\"topic\":\"phoenix\",\"event\":\"heartbeat\",\"payload\":{},\"ref\":\"12\"}", &m), 0);
    assert_view(m.join_ref, NULL);
    assert_view(m.ref, "12");
    assert_view(m.topic, "phoenix");
    assert_view(m.event, "heartbeat");
    assert_true(json_is_object(m.payload));
    msg_in_clear(&m);

    /* both refs absent / explicit null, and unknown keys ignored */
    assert_int_equal(decode_text(MSG_VSN_1,
                                 "{\"topic\":\"phoenix\",\"event\":\"heartbeat\",\"payload\":{},\"ref\":null,"
                                 "\"extra\":[1]}",
                                 &m),
                     0);
    assert_view(m.join_ref, NULL);
    assert_view(m.ref, NULL);
    msg_in_clear(&m);
}

static void test_decode_access_token(void **state) {
    (void)state;
    msg_in_t m;
    assert_int_equal(decode_text(MSG_VSN_2,
                                 "[\"6\",\"9\",\"realtime:room1\",\"access_token\",{\"access_token\":\"abc.def.ghi\"}]",
                                 &m),
                     0);
    assert_view(m.join_ref, "6");
    assert_view(m.ref, "9");
    assert_view(m.event, "access_token");
    assert_string_equal(json_string_value(json_object_get(m.payload, "access_token")), "abc.def.ghi");
    msg_in_clear(&m);

    assert_int_equal(decode_text(MSG_VSN_1,
                                 "{\"topic\":\"realtime:room1\",\"event\":\"access_token\","
                                 "\"payload\":{\"access_token\":\"abc.def.ghi\"},\"ref\":\"9\",\"join_ref\":\"6\"}",
                                 &m),
                     0);
    assert_view(m.join_ref, "6");
    assert_view(m.event, "access_token");
    assert_string_equal(json_string_value(json_object_get(m.payload, "access_token")), "abc.def.ghi");
    msg_in_clear(&m);
}

static void test_decode_broadcast_nested(void **state) {
    (void)state;
    static const char *frames[2] = {
        "{\"topic\":\"realtime:room1\",\"event\":\"broadcast\",\"payload\":{\"type\":\"broadcast\","
        "\"event\":\"cursor\",\"payload\":{\"pos\":{\"a\":[1,2,{\"b\":null}]},\"s\":\"\\u00e9\xc3\xa9\"}},"
        "\"ref\":\"3\",\"join_ref\":\"1\"}",
        "[\"1\",\"3\",\"realtime:room1\",\"broadcast\",{\"type\":\"broadcast\",\"event\":\"cursor\","
        "\"payload\":{\"pos\":{\"a\":[1,2,{\"b\":null}]},\"s\":\"\\u00e9\xc3\xa9\"}}]",
    };
    for (int v = 0; v < 2; v++) {
        msg_in_t m;
        assert_int_equal(decode_text(v == 0 ? MSG_VSN_1 : MSG_VSN_2, frames[v], &m), 0);
        assert_view(m.join_ref, "1");
        assert_view(m.ref, "3");
        assert_view(m.event, "broadcast");
        assert_string_equal(json_string_value(json_object_get(m.payload, "event")), "cursor");
        json_t *inner = json_object_get(m.payload, "payload");
        json_t *a = json_object_get(json_object_get(inner, "pos"), "a");
        assert_int_equal(json_array_size(a), 3);
        assert_int_equal(json_integer_value(json_array_get(a, 1)), 2);
        assert_true(json_is_null(json_object_get(json_array_get(a, 2), "b")));
        assert_string_equal(json_string_value(json_object_get(inner, "s")), "\xc3\xa9\xc3\xa9");
        msg_in_clear(&m);
    }
}

static void test_decode_text_field_limits(void **state) {
    (void)state;
    char frame[1200];
    char name[1100];
    msg_in_t m;
    char err[128];

    memset(name, 't', 1024);
    name[1024] = '\0';
    snprintf(frame, sizeof(frame), "[null,null,\"%s\",\"e\",{}]", name);
    assert_int_equal(decode_text(MSG_VSN_2, frame, &m), 0);
    assert_int_equal(m.topic.len, 1024);
    msg_in_clear(&m);

    memset(name, 't', 1025);
    name[1025] = '\0';
    snprintf(frame, sizeof(frame), "[null,null,\"%s\",\"e\",{}]", name);
    assert_int_equal(msg_decode_text(MSG_VSN_2, frame, strlen(frame), &m, err, sizeof(err)), -1);
    assert_string_equal(err, "topic is longer than 1024 bytes");
    snprintf(frame, sizeof(frame), "[null,null,\"t\",\"%s\",{}]", name);
    assert_int_equal(msg_decode_text(MSG_VSN_2, frame, strlen(frame), &m, err, sizeof(err)), -1);
    assert_string_equal(err, "event is longer than 1024 bytes");
    snprintf(frame, sizeof(frame), "[\"%s\",null,\"t\",\"e\",{}]", name);
    assert_int_equal(msg_decode_text(MSG_VSN_2, frame, strlen(frame), &m, err, sizeof(err)), -1);
    assert_string_equal(err, "join_ref is longer than 1024 bytes");
    assert_cleared(&m);

    /* empty refs are strings, not null */
    assert_int_equal(decode_text(MSG_VSN_2, "[\"\",\"\",\"t\",\"e\",{}]", &m), 0);
    assert_view(m.join_ref, "");
    assert_view(m.ref, "");
    msg_in_clear(&m);
}

typedef struct {
    msg_vsn_t vsn;
    const char *in;
    size_t len; /* 0: strlen(in) */
    const char *err;
    int prefix; /* err is a prefix (jansson decides the byte offset) */
} text_err_case_t;

#define BAD_JSON "invalid JSON at byte "

static const text_err_case_t text_errors[] = {
    {MSG_VSN_2, "not json", 0, BAD_JSON, 1},
    {MSG_VSN_2, "", 0, BAD_JSON, 1},
    {MSG_VSN_2, "[null,null,\"t\",\"e\",{}", 0, BAD_JSON, 1},
    {MSG_VSN_2, "[null,null,\"t\",\"e\",{}]x", 0, BAD_JSON, 1},
    {MSG_VSN_2, "[null,null,\"t\",\"e\",{}]{}", 0, BAD_JSON, 1},
    {MSG_VSN_2, "[null,null,\"t\",\"e\",{}]]", 0, BAD_JSON, 1},
    {MSG_VSN_2, "[null,null,\"t\0\",\"e\",{}]", 23, BAD_JSON, 1},  /* raw NUL byte */
    {MSG_VSN_2, "[null,null,\"t\xff\",\"e\",{}]", 0, BAD_JSON, 1}, /* bad UTF-8 */
    {MSG_VSN_2, "[null,null,\"t\",\"e\",{\"a\":1,}]", 0, BAD_JSON, 1},
    {MSG_VSN_2, "[null,\"1\",\"t\",\"e\"]", 0, "expected a JSON array of 5 elements", 0},
    {MSG_VSN_2, "[null,\"1\",\"t\",\"e\",{},{}]", 0, "expected a JSON array of 5 elements", 0},
    {MSG_VSN_2, "[]", 0, "expected a JSON array of 5 elements", 0},
    {MSG_VSN_2, "{\"topic\":\"t\",\"event\":\"e\",\"payload\":{}}", 0, "expected a JSON array of 5 elements", 0},
    {MSG_VSN_2, "\"str\"", 0, "expected a JSON array of 5 elements", 0},
    {MSG_VSN_2, "5", 0, "expected a JSON array of 5 elements", 0},
    {MSG_VSN_2, "null", 0, "expected a JSON array of 5 elements", 0},
    {MSG_VSN_2, "[1,\"1\",\"t\",\"e\",{}]", 0, "join_ref must be a string or null", 0},
    {MSG_VSN_2, "[true,\"1\",\"t\",\"e\",{}]", 0, "join_ref must be a string or null", 0},
    {MSG_VSN_2, "[{},\"1\",\"t\",\"e\",{}]", 0, "join_ref must be a string or null", 0},
    {MSG_VSN_2, "[null,2,\"t\",\"e\",{}]", 0, "ref must be a string or null", 0},
    {MSG_VSN_2, "[null,[],\"t\",\"e\",{}]", 0, "ref must be a string or null", 0},
    {MSG_VSN_2, "[null,1.5,\"t\",\"e\",{}]", 0, "ref must be a string or null", 0},
    {MSG_VSN_2, "[null,null,null,\"e\",{}]", 0, "topic must be a non-empty string", 0},
    {MSG_VSN_2, "[null,null,\"\",\"e\",{}]", 0, "topic must be a non-empty string", 0},
    {MSG_VSN_2, "[null,null,7,\"e\",{}]", 0, "topic must be a non-empty string", 0},
    {MSG_VSN_2, "[null,null,\"t\",null,{}]", 0, "event must be a non-empty string", 0},
    {MSG_VSN_2, "[null,null,\"t\",\"\",{}]", 0, "event must be a non-empty string", 0},
    {MSG_VSN_2, "[null,null,\"t\",false,{}]", 0, "event must be a non-empty string", 0},
    {MSG_VSN_2, "[null,null,\"t\",\"e\",null]", 0, "payload must be an object", 0},
    {MSG_VSN_2, "[null,null,\"t\",\"e\",[]]", 0, "payload must be an object", 0},
    {MSG_VSN_2, "[null,null,\"t\",\"e\",\"x\"]", 0, "payload must be an object", 0},
    {MSG_VSN_2, "[null,null,\"t\",\"e\",3]", 0, "payload must be an object", 0},
    {MSG_VSN_2, "[null,null,\"a\\u0000b\",\"e\",{}]", 0, "topic contains a NUL byte", 0},
    {MSG_VSN_2, "[null,null,\"t\",\"\\u0000\",{}]", 0, "event contains a NUL byte", 0},
    {MSG_VSN_2, "[\"1\\u0000\",null,\"t\",\"e\",{}]", 0, "join_ref contains a NUL byte", 0},
    {MSG_VSN_2, "[null,\"\\u0000\",\"t\",\"e\",{}]", 0, "ref contains a NUL byte", 0},
    {MSG_VSN_1, "not json", 0, BAD_JSON, 1},
    {MSG_VSN_1, "{\"topic\":\"t\",\"event\":\"e\",\"payload\":{}} x", 0, BAD_JSON, 1},
    {MSG_VSN_1, "[null,null,\"t\",\"e\",{}]", 0, "expected a JSON object", 0},
    {MSG_VSN_1, "\"x\"", 0, "expected a JSON object", 0},
    {MSG_VSN_1, "{\"event\":\"e\",\"payload\":{}}", 0, "topic must be a non-empty string", 0},
    {MSG_VSN_1, "{\"topic\":\"t\",\"payload\":{}}", 0, "event must be a non-empty string", 0},
    {MSG_VSN_1, "{\"topic\":\"t\",\"event\":\"e\"}", 0, "payload must be an object", 0},
    {MSG_VSN_1, "{\"topic\":\"t\",\"event\":\"e\",\"payload\":null}", 0, "payload must be an object", 0},
    {MSG_VSN_1, "{\"topic\":\"t\",\"event\":\"e\",\"payload\":[]}", 0, "payload must be an object", 0},
    {MSG_VSN_1, "{\"topic\":\"t\",\"event\":\"e\",\"payload\":{},\"ref\":5}", 0, "ref must be a string or null", 0},
    {MSG_VSN_1, "{\"topic\":\"t\",\"event\":\"e\",\"payload\":{},\"join_ref\":[]}", 0,
     "join_ref must be a string or null", 0},
    {MSG_VSN_1, "{\"topic\":\"t\\u0000\",\"event\":\"e\",\"payload\":{}}", 0, "topic contains a NUL byte", 0},
    {(msg_vsn_t)3, "[null,null,\"t\",\"e\",{}]", 0, "unsupported serializer version 3", 0},
};

static void test_decode_text_errors(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(text_errors) / sizeof(text_errors[0]); i++) {
        const text_err_case_t *c = &text_errors[i];
        size_t len = c->len ? c->len : strlen(c->in);
        char err[128] = "";
        msg_in_t m;
        memset(&m, 0xA5, sizeof(m)); /* must come back cleared */
        int rc = msg_decode_text(c->vsn, c->in, len, &m, err, sizeof(err));
        if (rc != -1 || (c->prefix ? strncmp(err, c->err, strlen(c->err)) : strcmp(err, c->err)))
            fail_msg("case %zu: rc %d, err \"%s\", wanted \"%s\"", i, rc, err, c->err);
        assert_null(strchr(err, '\n'));
        assert_cleared(&m);
        msg_in_clear(&m); /* harmless after an error */
    }
}

static void test_decode_error_buffer(void **state) {
    (void)state;
    msg_in_t m;
    char err[8];
    const char *in = "[null,null,\"t\",\"e\",null]";
    /* no error buffer at all */
    assert_int_equal(msg_decode_text(MSG_VSN_2, in, strlen(in), &m, NULL, 0), -1);
    /* a short one is truncated, still terminated */
    memset(err, 'X', sizeof(err));
    assert_int_equal(msg_decode_text(MSG_VSN_2, in, strlen(in), &m, err, sizeof(err)), -1);
    assert_string_equal(err, "payload");
    assert_int_equal(msg_decode_binary((const uint8_t *)"\x09", 1, &m, NULL, 0), -1);
    msg_in_clear(NULL);
}

/* ---- binary decoding -------------------------------------------------- */

static void test_decode_binary_push(void **state) {
    (void)state;
    uint8_t frame[512];
    parts_t p = good_push();
    size_t n = build(&p, frame);
    msg_in_t m;
    char err[128] = "";

    assert_int_equal(msg_decode_binary(frame, n, &m, err, sizeof(err)), 0);
    assert_int_equal(m.binary, 1);
    assert_null(m.payload);
    assert_view(m.join_ref, "4");
    assert_view(m.ref, "17");
    assert_view(m.topic, "realtime:room1");
    assert_view(m.event, "broadcast");
    assert_view(m.user_event, "cursor");
    assert_view(m.meta, "{\"persist\":true}");
    assert_int_equal(m.encoding, MSG_ENC_JSON);
    /* views point into the fed bytes, not copies */
    assert_ptr_equal(m.topic.s, (const char *)frame + 7 + 1 + 2);
    assert_ptr_equal(m.user_payload, frame + n - p.payload_len);
    assert_int_equal(m.user_payload_len, p.payload_len);
    assert_memory_equal(m.user_payload, p.payload, p.payload_len);
    msg_in_clear(&m);
    assert_cleared(&m);

    /* null refs arrive as empty strings; no meta; raw bytes with NUL and 0xff */
    p.jr_len = p.ref_len = p.meta_len = 0;
    p.encoding = MSG_ENC_RAW;
    p.payload = "\x00\xff\x01";
    p.payload_len = 3;
    n = build(&p, frame);
    assert_int_equal(msg_decode_binary(frame, n, &m, err, sizeof(err)), 0);
    assert_view(m.join_ref, NULL);
    assert_view(m.ref, NULL);
    assert_int_equal(m.meta.len, 0);
    assert_int_equal(m.encoding, MSG_ENC_RAW);
    assert_int_equal(m.user_payload_len, 3);
    assert_memory_equal(m.user_payload, "\x00\xff\x01", 3);
    msg_in_clear(&m);

    /* empty raw payload (an empty ArrayBuffer) */
    p.payload_len = 0;
    n = build(&p, frame);
    assert_int_equal(msg_decode_binary(frame, n, &m, err, sizeof(err)), 0);
    assert_int_equal(m.user_payload_len, 0);
    msg_in_clear(&m);

    /* JSON payloads: any value (JSON.stringify of a string or number), and
     * integers past int64 (JSON.stringify(1e20)) */
    static const char *ok_json[] = {
        "\"hi\"", "12", "null", "[1,2]", " {\"n\":100000000000000000000} ", "{\"s\":\"a\\u0000b\"}"};
    p.encoding = MSG_ENC_JSON;
    for (size_t i = 0; i < sizeof(ok_json) / sizeof(ok_json[0]); i++) {
        p.payload = ok_json[i];
        p.payload_len = strlen(ok_json[i]);
        n = build(&p, frame);
        if (msg_decode_binary(frame, n, &m, err, sizeof(err)) != 0)
            fail_msg("payload %s: %s", ok_json[i], err);
        assert_int_equal(m.user_payload_len, p.payload_len);
        msg_in_clear(&m);
    }

    /* multi-byte UTF-8 in topic and event */
    p.topic = "realtime:caf\xc3\xa9";
    p.topic_len = strlen(p.topic);
    p.event = "\xf0\x9f\x98\x80";
    p.event_len = 4;
    n = build(&p, frame);
    assert_int_equal(msg_decode_binary(frame, n, &m, err, sizeof(err)), 0);
    assert_view(m.topic, "realtime:caf\xc3\xa9");
    assert_view(m.user_event, "\xf0\x9f\x98\x80");
    msg_in_clear(&m);
}

static void test_decode_binary_truncated(void **state) {
    (void)state;
    uint8_t frame[512];
    char err[128];
    msg_in_t m;

    /* JSON payload is an object: no strict prefix of the frame is valid */
    parts_t p = good_push();
    size_t n = build(&p, frame);
    size_t strings_end = n - p.payload_len;
    for (size_t cut = 0; cut < n; cut++) {
        memset(&m, 0xA5, sizeof(m));
        err[0] = '\0';
        if (msg_decode_binary(frame, cut, &m, err, sizeof(err)) != -1)
            fail_msg("prefix of %zu bytes accepted", cut);
        assert_cleared(&m);
        const char *want = cut == 0            ? "empty binary frame"
                           : cut < 7           ? "truncated binary frame header"
                           : cut < strings_end ? "binary frame shorter than its declared lengths"
                                               : "payload is not valid JSON";
        assert_string_equal(err, want);
    }

    /* raw payload runs to the end of the frame: once the strings are all
     * there, a shorter frame is simply a shorter payload */
    p.encoding = MSG_ENC_RAW;
    n = build(&p, frame);
    for (size_t cut = 0; cut <= n; cut++) {
        int rc = msg_decode_binary(frame, cut, &m, err, sizeof(err));
        if (cut < strings_end) {
            assert_int_equal(rc, -1);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(m.user_payload_len, cut - strings_end);
            msg_in_clear(&m);
        }
    }
}

typedef struct {
    parts_t p;
    const char *err;
} bin_err_case_t;

static void test_decode_binary_errors(void **state) {
    (void)state;
    bin_err_case_t cases[64];
    size_t nc = 0;
    parts_t base = good_push();

#define CASE(field_assignments, message)                                                                               \
    do {                                                                                                               \
        parts_t q = base;                                                                                              \
        field_assignments;                                                                                             \
        cases[nc].p = q;                                                                                               \
        cases[nc].err = (message);                                                                                     \
        nc++;                                                                                                          \
    } while (0)
#define SET(f, lit) (q.f = (lit), q.f##_len = LIT_LEN(lit))

    CASE(q.kind = 0, "unsupported binary message kind 0");
    CASE(q.kind = 1, "unsupported binary message kind 1");
    CASE(q.kind = 2, "unsupported binary message kind 2");
    CASE(q.kind = 4, "unsupported binary message kind 4");
    CASE(q.kind = 255, "unsupported binary message kind 255");
    CASE(q.encoding = 2, "unsupported payload encoding 2");
    CASE(q.encoding = 255, "unsupported payload encoding 255");
    CASE(SET(payload, "{\"a\":"), "payload is not valid JSON");
    CASE(SET(payload, "{} x"), "payload is not valid JSON");
    CASE(SET(payload, "{}{}"), "payload is not valid JSON");
    CASE(SET(payload, ""), "payload is not valid JSON");
    CASE(SET(payload, "nope"), "payload is not valid JSON");
    CASE(SET(payload, "\"\xff\""), "payload is not valid JSON");
    CASE(SET(meta, "[]"), "meta must be a JSON object");
    CASE(SET(meta, "1"), "meta must be a JSON object");
    CASE(SET(meta, "\"s\""), "meta must be a JSON object");
    CASE(SET(meta, "null"), "meta must be a JSON object");
    CASE(SET(meta, "{"), "meta must be a JSON object");
    CASE(SET(meta, "{}x"), "meta must be a JSON object");
    CASE(SET(topic, ""), "topic must not be empty");
    CASE(SET(event, ""), "event must not be empty");
    CASE(SET(topic, "a\0b"), "topic contains a NUL byte");
    CASE(SET(event, "\0"), "event contains a NUL byte");
    CASE(SET(ref, "1\0"), "ref contains a NUL byte");
    CASE(SET(jr, "\0"), "join_ref contains a NUL byte");
    CASE(SET(topic, "t\xff"), "topic is not valid UTF-8");
    CASE(SET(topic, "\xc0\x80"), "topic is not valid UTF-8");     /* overlong NUL */
    CASE(SET(topic, "\xe0\x80\xaf"), "topic is not valid UTF-8"); /* overlong '/' */
    CASE(SET(topic, "\xed\xa0\x80"), "topic is not valid UTF-8"); /* surrogate */
    CASE(SET(topic, "x\xe2\x82"), "topic is not valid UTF-8");    /* cut sequence */
    /* cut at the end of the field, though the next field's byte would complete it */
    CASE((SET(topic, "x\xe2\x82"), SET(event, "\x80z")), "topic is not valid UTF-8");
    CASE(SET(topic, "\xf4\x90\x80\x80"), "topic is not valid UTF-8"); /* > U+10FFFF */
    CASE(SET(topic, "\x80"), "topic is not valid UTF-8");             /* lone continuation */
    CASE(SET(event, "\xc3("), "event is not valid UTF-8");
    CASE(SET(jr, "\xfe"), "join_ref is not valid UTF-8");
    CASE(SET(ref, "\xf8\x88\x80\x80\x80"), "ref is not valid UTF-8");
#undef SET
#undef CASE

    for (size_t i = 0; i < nc; i++) {
        uint8_t frame[512];
        size_t n = build(&cases[i].p, frame);
        char err[128] = "";
        msg_in_t m;
        memset(&m, 0xA5, sizeof(m));
        int rc = msg_decode_binary(frame, n, &m, err, sizeof(err));
        if (rc != -1 || strcmp(err, cases[i].err))
            fail_msg("case %zu: rc %d, err \"%s\", wanted \"%s\"", i, rc, err, cases[i].err);
        assert_cleared(&m);
    }

    /* a kind byte alone, and a lone kind 3 */
    char err[128];
    msg_in_t m;
    assert_int_equal(msg_decode_binary((const uint8_t *)"\x04", 1, &m, err, sizeof(err)), -1);
    assert_string_equal(err, "unsupported binary message kind 4");
    assert_int_equal(msg_decode_binary((const uint8_t *)"\x03", 1, &m, err, sizeof(err)), -1);
    assert_string_equal(err, "truncated binary frame header");
    assert_int_equal(msg_decode_binary(NULL, 0, &m, err, sizeof(err)), -1);
    assert_string_equal(err, "empty binary frame");
}

/* ---- text encoding ---------------------------------------------------- */

static void test_encode_plain(void **state) {
    (void)state;
    const char *p = "{\"a\":1}";
    assert_buf_str(
        msg_encode(MSG_VSN_1, MSG_STR("1"), MSG_STR("2"), MSG_STR("realtime:room1"), "phx_close", p, strlen(p)),
        "{\"join_ref\":\"1\",\"ref\":\"2\",\"topic\":\"realtime:room1\",\"event\":\"phx_close\","
        "\"payload\":{\"a\":1}}");
    assert_buf_str(
        msg_encode(MSG_VSN_2, MSG_STR("1"), MSG_STR("2"), MSG_STR("realtime:room1"), "phx_close", p, strlen(p)),
        "[\"1\",\"2\",\"realtime:room1\",\"phx_close\",{\"a\":1}]");
    assert_buf_str(msg_encode(MSG_VSN_1, MSG_STR_NULL, MSG_STR_NULL, MSG_STR("t"), "system", "{}", 2),
                   "{\"join_ref\":null,\"ref\":null,\"topic\":\"t\",\"event\":\"system\",\"payload\":{}}");
    assert_buf_str(msg_encode(MSG_VSN_2, MSG_STR_NULL, MSG_STR(""), MSG_STR("t"), "system", "{}", 2),
                   "[null,\"\",\"t\",\"system\",{}]");
    /* an empty payload is never sent as nothing (or null): it is {} */
    assert_buf_str(msg_encode(MSG_VSN_2, MSG_STR_NULL, MSG_STR_NULL, MSG_STR("t"), "e", NULL, 0),
                   "[null,null,\"t\",\"e\",{}]");
    assert_buf_str(msg_encode(MSG_VSN_1, MSG_STR_NULL, MSG_STR_NULL, MSG_STR("t"), "e", "", 0),
                   "{\"join_ref\":null,\"ref\":null,\"topic\":\"t\",\"event\":\"e\",\"payload\":{}}");
}

static void test_encode_escaping(void **state) {
    (void)state;
    /* quote, backslash, the short escapes, other control chars as \u00XX,
     * DEL and UTF-8 passed through untouched */
    msg_str_t topic = MSG_STR("a\"b\\c\nd\re\tf\x01g\x1f\x7f h\xc3\xa9\xf0\x9f\x98\x80");
    msg_str_t jr = MSG_STR("\"");
    msg_str_t ref = {"x\0y", 3};
    assert_buf_str(msg_encode(MSG_VSN_2, jr, ref, topic, "ev\"\\", "{}", 2),
                   "[\"\\\"\",\"x\\u0000y\",\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u001f\x7f h\xc3\xa9\xf0\x9f\x98\x80\","
                   "\"ev\\\"\\\\\",{}]");
    assert_buf_str(msg_encode(MSG_VSN_1, jr, ref, topic, "ev\"\\", "{}", 2),
                   "{\"join_ref\":\"\\\"\",\"ref\":\"x\\u0000y\",\"topic\":\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u001f"
                   "\x7f h\xc3\xa9\xf0\x9f\x98\x80\",\"event\":\"ev\\\"\\\\\",\"payload\":{}}");
}

static void test_encode_reply(void **state) {
    (void)state;
    const char *resp = "{\"postgres_changes\":[{\"event\":\"*\",\"id\":1000}]}";
    assert_buf_str(
        msg_encode_reply(MSG_VSN_2, MSG_STR("6"), MSG_STR("6"), MSG_STR("realtime:room1"), "ok", resp, strlen(resp)),
        "[\"6\",\"6\",\"realtime:room1\",\"phx_reply\",{\"status\":\"ok\",\"response\":"
        "{\"postgres_changes\":[{\"event\":\"*\",\"id\":1000}]}}]");
    assert_buf_str(
        msg_encode_reply(MSG_VSN_1, MSG_STR("6"), MSG_STR("6"), MSG_STR("realtime:room1"), "ok", resp, strlen(resp)),
        "{\"join_ref\":\"6\",\"ref\":\"6\",\"topic\":\"realtime:room1\",\"event\":\"phx_reply\","
        "\"payload\":{\"status\":\"ok\",\"response\":{\"postgres_changes\":[{\"event\":\"*\","
        "\"id\":1000}]}}}");
    /* heartbeat reply: response {} even when none is given */
    assert_buf_str(msg_encode_reply(MSG_VSN_2, MSG_STR_NULL, MSG_STR("12"), MSG_STR("phoenix"), "ok", NULL, 0),
                   "[null,\"12\",\"phoenix\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]");
    const char *why = "{\"reason\":\"bad \\\"token\\\"\"}";
    assert_buf_str(msg_encode_reply(MSG_VSN_1, MSG_STR("1"), MSG_STR("2"), MSG_STR("t"), "error", why, strlen(why)),
                   "{\"join_ref\":\"1\",\"ref\":\"2\",\"topic\":\"t\",\"event\":\"phx_reply\",\"payload\":"
                   "{\"status\":\"error\",\"response\":{\"reason\":\"bad \\\"token\\\"\"}}}");
}

static void test_encode_broadcast_json(void **state) {
    (void)state;
    const char *pl = "{\"x\":1}";
    const char *meta = "{\"id\":\"abc\"}";
    assert_buf_str(
        msg_encode_broadcast_json(MSG_VSN_2, MSG_STR("realtime:room1"), MSG_STR("cursor"), pl, strlen(pl), NULL, 0),
        "[null,null,\"realtime:room1\",\"broadcast\",{\"type\":\"broadcast\",\"event\":\"cursor\","
        "\"payload\":{\"x\":1}}]");
    assert_buf_str(msg_encode_broadcast_json(MSG_VSN_2, MSG_STR("realtime:room1"), MSG_STR("cursor"), pl, strlen(pl),
                                             meta, strlen(meta)),
                   "[null,null,\"realtime:room1\",\"broadcast\",{\"type\":\"broadcast\",\"event\":\"cursor\","
                   "\"payload\":{\"x\":1},\"meta\":{\"id\":\"abc\"}}]");
    assert_buf_str(msg_encode_broadcast_json(MSG_VSN_1, MSG_STR("realtime:room1"), MSG_STR("a\"b"), pl, strlen(pl),
                                             meta, strlen(meta)),
                   "{\"join_ref\":null,\"ref\":null,\"topic\":\"realtime:room1\",\"event\":\"broadcast\","
                   "\"payload\":{\"type\":\"broadcast\",\"event\":\"a\\\"b\",\"payload\":{\"x\":1},"
                   "\"meta\":{\"id\":\"abc\"}}}");
    /* a meta pointer with no length is no meta; a non-object payload passes through */
    assert_buf_str(msg_encode_broadcast_json(MSG_VSN_1, MSG_STR("t"), MSG_STR("e"), "[1]", 3, meta, 0),
                   "{\"join_ref\":null,\"ref\":null,\"topic\":\"t\",\"event\":\"broadcast\","
                   "\"payload\":{\"type\":\"broadcast\",\"event\":\"e\",\"payload\":[1]}}");
}

/* ---- binary encoding -------------------------------------------------- */

static void test_encode_broadcast_binary_layout(void **state) {
    (void)state;
    const uint8_t payload[] = {0x00, 0xff, 0x10};
    const char *meta = "{\"id\":1}";
    buf_t *b = msg_encode_broadcast_binary(MSG_STR("room"), MSG_STR("ev"), meta, strlen(meta), MSG_ENC_RAW, payload,
                                           sizeof(payload));
    assert_non_null(b);
    assert_ptr_equal(b->data, b->bytes + BUF_HEADROOM);
    assert_int_equal(b->len, 5 + 4 + 2 + 8 + 3);
    const uint8_t *d = b->data;
    assert_int_equal(d[0], 4); /* kind: user broadcast */
    assert_int_equal(d[1], 4); /* topic_len */
    assert_int_equal(d[2], 2); /* event_len */
    assert_int_equal(d[3], 8); /* meta_len */
    assert_int_equal(d[4], MSG_ENC_RAW);
    assert_memory_equal(d + 5, "room", 4);
    assert_memory_equal(d + 9, "ev", 2);
    assert_memory_equal(d + 11, "{\"id\":1}", 8);
    assert_int_equal(d[19], 0x00);
    assert_int_equal(d[20], 0xff);
    assert_int_equal(d[21], 0x10);
    buf_unref(b);

    /* no meta, JSON payload; and a frame can take the WebSocket header in front */
    b = msg_encode_broadcast_binary(MSG_STR("t"), MSG_STR("e"), NULL, 0, MSG_ENC_JSON, (const uint8_t *)"{}", 2);
    static const uint8_t want[] = {4, 1, 1, 0, 1, 't', 'e', '{', '}'};
    assert_int_equal(b->len, sizeof(want));
    assert_memory_equal(b->data, want, sizeof(want));
    uint8_t *hdr = buf_prepend(b, BUF_HEADROOM);
    assert_ptr_equal(hdr, b->bytes);
    assert_int_equal(b->len, sizeof(want) + BUF_HEADROOM);
    buf_unref(b);

    /* empty payload */
    static const uint8_t want2[] = {4, 1, 1, 0, 0, 't', 'e'};
    assert_buf_bytes(msg_encode_broadcast_binary(MSG_STR("t"), MSG_STR("e"), NULL, 0, MSG_ENC_RAW, NULL, 0), want2,
                     sizeof(want2));
}

static void test_encode_user_push_layout(void **state) {
    (void)state;
    /* what realtime-js's _encodeUserBroadcastPush writes for join_ref "4",
     * ref "17", topic "realtime:r", event "e", meta {"persist":true}, {"a":1} */
    static const uint8_t want[] = {3,   1,   2,   10,  1,   16,  1,   '4', '1', '7', 'r', 'e', 'a', 'l', 't',
                                   'i', 'm', 'e', ':', 'r', 'e', '{', '"', 'p', 'e', 'r', 's', 'i', 's', 't',
                                   '"', ':', 't', 'r', 'u', 'e', '}', '{', '"', 'a', '"', ':', '1', '}'};
    const char *meta = "{\"persist\":true}";
    assert_buf_bytes(msg_encode_user_push(MSG_STR("4"), MSG_STR("17"), MSG_STR("realtime:r"), MSG_STR("e"), meta,
                                          strlen(meta), MSG_ENC_JSON, (const uint8_t *)"{\"a\":1}", 7),
                     want, sizeof(want));
    /* null refs are written as empty, like the client does */
    static const uint8_t want2[] = {3, 0, 0, 1, 1, 0, 0, 't', 'e', 0xAB};
    assert_buf_bytes(msg_encode_user_push(MSG_STR_NULL, MSG_STR_NULL, MSG_STR("t"), MSG_STR("e"), NULL, 0, MSG_ENC_RAW,
                                          (const uint8_t *)"\xab", 1),
                     want2, sizeof(want2));
}

static void test_encode_binary_limits(void **state) {
    (void)state;
    char big[256];
    memset(big, 'a', sizeof(big));
    msg_str_t s255 = {big, 255}, s256 = {big, 256};
    const char *pl = "{}";
    const uint8_t *p = (const uint8_t *)pl;

    buf_t *b = msg_encode_broadcast_binary(s255, s255, big, 255, MSG_ENC_JSON, p, 2);
    assert_non_null(b);
    assert_int_equal(b->len, 5 + 3 * 255 + 2);
    assert_int_equal(b->data[1], 255);
    assert_int_equal(b->data[2], 255);
    assert_int_equal(b->data[3], 255);
    buf_unref(b);
    assert_null(msg_encode_broadcast_binary(s256, MSG_STR("e"), NULL, 0, MSG_ENC_JSON, p, 2));
    assert_null(msg_encode_broadcast_binary(MSG_STR("t"), s256, NULL, 0, MSG_ENC_JSON, p, 2));
    assert_null(msg_encode_broadcast_binary(MSG_STR("t"), MSG_STR("e"), big, 256, MSG_ENC_JSON, p, 2));
    assert_null(msg_encode_broadcast_binary(MSG_STR("t"), MSG_STR("e"), NULL, 0, 2, p, 2));

    b = msg_encode_user_push(s255, s255, s255, s255, big, 255, MSG_ENC_RAW, p, 2);
    assert_non_null(b);
    assert_int_equal(b->len, 7 + 5 * 255 + 2);
    buf_unref(b);
    assert_null(msg_encode_user_push(s256, MSG_STR_NULL, MSG_STR("t"), MSG_STR("e"), NULL, 0, MSG_ENC_RAW, p, 2));
    assert_null(msg_encode_user_push(MSG_STR_NULL, s256, MSG_STR("t"), MSG_STR("e"), NULL, 0, MSG_ENC_RAW, p, 2));
    assert_null(msg_encode_user_push(MSG_STR_NULL, MSG_STR_NULL, s256, MSG_STR("e"), NULL, 0, MSG_ENC_RAW, p, 2));
    assert_null(msg_encode_user_push(MSG_STR_NULL, MSG_STR_NULL, MSG_STR("t"), s256, NULL, 0, MSG_ENC_RAW, p, 2));
    assert_null(
        msg_encode_user_push(MSG_STR_NULL, MSG_STR_NULL, MSG_STR("t"), MSG_STR("e"), big, 256, MSG_ENC_RAW, p, 2));
    assert_null(msg_encode_user_push(MSG_STR_NULL, MSG_STR_NULL, MSG_STR("t"), MSG_STR("e"), NULL, 0, 7, p, 2));
}

/* ---- round trips ------------------------------------------------------ */

static void test_user_push_round_trip(void **state) {
    (void)state;
    char topic255[256];
    memset(topic255, 'r', 255);
    topic255[255] = '\0';
    struct {
        msg_str_t jr, ref, topic, event;
        const char *meta;
        uint8_t enc;
        const char *payload;
        size_t payload_len;
    } cases[] = {
        {MSG_STR("1"), MSG_STR("2"), MSG_STR("realtime:room1"), MSG_STR("cursor"), "{\"persist\":true}", MSG_ENC_JSON,
         "{\"x\":[1,2]}", 11},
        {MSG_STR_NULL, MSG_STR_NULL, MSG_STR("t"), MSG_STR("e"), NULL, MSG_ENC_RAW, "\0\1\2", 3},
        {MSG_STR("9"), MSG_STR_NULL, {topic255, 255}, MSG_STR("\xc3\xa9v\xe2\x82\xac"), NULL, MSG_ENC_RAW, "", 0},
        {MSG_STR("j"), MSG_STR("r"), MSG_STR("t"), MSG_STR("e"), "{}", MSG_ENC_JSON, "\"str\"", 5},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t meta_len = cases[i].meta ? strlen(cases[i].meta) : 0;
        buf_t *b =
            msg_encode_user_push(cases[i].jr, cases[i].ref, cases[i].topic, cases[i].event, cases[i].meta, meta_len,
                                 cases[i].enc, (const uint8_t *)cases[i].payload, cases[i].payload_len);
        assert_non_null(b);
        msg_in_t m;
        char err[128] = "";
        if (msg_decode_binary(b->data, b->len, &m, err, sizeof(err)) != 0)
            fail_msg("case %zu: %s", i, err);
        assert_int_equal(m.join_ref.len, cases[i].jr.len);
        assert_true((m.join_ref.s == NULL) == (cases[i].jr.s == NULL));
        assert_memory_equal(m.join_ref.s ? m.join_ref.s : "", cases[i].jr.s ? cases[i].jr.s : "", m.join_ref.len);
        assert_int_equal(m.ref.len, cases[i].ref.len);
        assert_true((m.ref.s == NULL) == (cases[i].ref.s == NULL));
        assert_int_equal(m.topic.len, cases[i].topic.len);
        assert_memory_equal(m.topic.s, cases[i].topic.s, m.topic.len);
        assert_int_equal(m.user_event.len, cases[i].event.len);
        assert_memory_equal(m.user_event.s, cases[i].event.s, m.user_event.len);
        assert_view(m.event, "broadcast");
        assert_int_equal(m.meta.len, meta_len);
        if (meta_len)
            assert_memory_equal(m.meta.s, cases[i].meta, meta_len);
        assert_int_equal(m.encoding, cases[i].enc);
        assert_int_equal(m.user_payload_len, cases[i].payload_len);
        if (cases[i].payload_len)
            assert_memory_equal(m.user_payload, cases[i].payload, cases[i].payload_len);
        msg_in_clear(&m);
        buf_unref(b);
    }
}

/* What we encode, we (and so realtime-js's JSON.parse) can decode: the
 * escaping round-trips through a real JSON parser. */
static void test_text_round_trip(void **state) {
    (void)state;
    msg_str_t topic = MSG_STR("realtime:\"q\"\\\x01\n\xc3\xa9");
    for (int v = 1; v <= 2; v++) {
        buf_t *b = msg_encode((msg_vsn_t)v, MSG_STR("7"), MSG_STR_NULL, topic, "ev\t", "{\"k\":[true]}", 12);
        msg_in_t m;
        assert_int_equal(msg_decode_text((msg_vsn_t)v, (const char *)b->data, b->len, &m, NULL, 0), 0);
        assert_view(m.join_ref, "7");
        assert_view(m.ref, NULL);
        assert_int_equal(m.topic.len, topic.len);
        assert_memory_equal(m.topic.s, topic.s, topic.len);
        assert_view(m.event, "ev\t");
        assert_true(json_is_true(json_array_get(json_object_get(m.payload, "k"), 0)));
        msg_in_clear(&m);
        buf_unref(b);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_v2_join),          cmocka_unit_test(test_decode_v1_join),
        cmocka_unit_test(test_decode_heartbeat),        cmocka_unit_test(test_decode_access_token),
        cmocka_unit_test(test_decode_broadcast_nested), cmocka_unit_test(test_decode_text_field_limits),
        cmocka_unit_test(test_decode_text_errors),      cmocka_unit_test(test_decode_error_buffer),
        cmocka_unit_test(test_decode_binary_push),      cmocka_unit_test(test_decode_binary_truncated),
        cmocka_unit_test(test_decode_binary_errors),    cmocka_unit_test(test_encode_plain),
        cmocka_unit_test(test_encode_escaping),         cmocka_unit_test(test_encode_reply),
        cmocka_unit_test(test_encode_broadcast_json),   cmocka_unit_test(test_encode_broadcast_binary_layout),
        cmocka_unit_test(test_encode_user_push_layout), cmocka_unit_test(test_encode_binary_limits),
        cmocka_unit_test(test_user_push_round_trip),    cmocka_unit_test(test_text_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
