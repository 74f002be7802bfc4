/*
 * libFuzzer target for proto/msg. The first input byte picks the decoder
 * (0: vsn 1 text, 1: vsn 2 text, 2: binary; taken mod 3), the rest is the
 * frame. Whatever a decoder accepts must re-encode into frames that decode
 * back to the same thing: a mismatch aborts, so the fuzzer reports it.
 * It checks only invariants of msg itself, never the channel layer's.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/msg.h"

#include "fuzz_check.h"

static int same_str(msg_str_t a, msg_str_t b) {
    if ((a.s == NULL) != (b.s == NULL) || a.len != b.len)
        return 0;
    return a.len == 0 || memcmp(a.s, b.s, a.len) == 0;
}

/* Frames we build for text clients must be JSON that a parser accepts
 * (integers as reals: binary payloads may hold integers past int64). */
static json_t *parse_frame(const buf_t *b) {
    json_error_t jerr;
    return json_loadb((const char *)b->data, b->len, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &jerr);
}

static void fuzz_text(msg_vsn_t vsn, const uint8_t *data, size_t size) {
    msg_in_t m, back;
    char err[128];
    if (msg_decode_text(vsn, (const char *)data, size, &m, err, sizeof(err)) != 0) {
        CHECK(strlen(err) > 0 && strchr(err, '\n') == NULL);
        return;
    }
    char *payload = json_dumps(m.payload, JSON_COMPACT);
    CHECK(payload != NULL);
    size_t plen = strlen(payload);

    /* event.s is a jansson string with no NUL inside: safe as a C string */
    buf_t *b = msg_encode(vsn, m.join_ref, m.ref, m.topic, m.event.s, payload, plen);
    CHECK(msg_decode_text(vsn, (const char *)b->data, b->len, &back, err, sizeof(err)) == 0);
    CHECK(same_str(m.join_ref, back.join_ref) && same_str(m.ref, back.ref));
    CHECK(same_str(m.topic, back.topic) && same_str(m.event, back.event));
    CHECK(json_equal(m.payload, back.payload));
    msg_in_clear(&back);
    buf_unref(b);

    b = msg_encode_reply(vsn, m.join_ref, m.ref, m.topic, m.event.s, payload, plen);
    CHECK(msg_decode_text(vsn, (const char *)b->data, b->len, &back, err, sizeof(err)) == 0);
    CHECK(json_equal(m.payload, json_object_get(back.payload, "response")));
    CHECK(strcmp(json_string_value(json_object_get(back.payload, "status")), m.event.s) == 0);
    msg_in_clear(&back);
    buf_unref(b);

    b = msg_encode_broadcast_json(vsn, m.topic, m.event, payload, plen, payload, plen);
    CHECK(msg_decode_text(vsn, (const char *)b->data, b->len, &back, err, sizeof(err)) == 0);
    CHECK(json_equal(m.payload, json_object_get(back.payload, "payload")));
    CHECK(json_equal(m.payload, json_object_get(back.payload, "meta")));
    msg_in_clear(&back);
    buf_unref(b);

    free(payload);
    msg_in_clear(&m);
}

static void check_kind4(const msg_in_t *m) {
    buf_t *b = msg_encode_broadcast_binary(m->topic, m->user_event, m->meta.s, m->meta.len, m->encoding,
                                           m->user_payload, m->user_payload_len);
    CHECK(b != NULL);
    const uint8_t *d = b->data;
    size_t off = 5;
    CHECK(b->len == off + m->topic.len + m->user_event.len + m->meta.len + m->user_payload_len);
    CHECK(d[0] == MSG_BIN_USER_BROADCAST && d[1] == m->topic.len && d[2] == m->user_event.len);
    CHECK(d[3] == m->meta.len && d[4] == m->encoding);
    CHECK(memcmp(d + off, m->topic.s, m->topic.len) == 0);
    off += m->topic.len;
    CHECK(memcmp(d + off, m->user_event.s, m->user_event.len) == 0);
    off += m->user_event.len;
    CHECK(m->meta.len == 0 || memcmp(d + off, m->meta.s, m->meta.len) == 0);
    off += m->meta.len;
    CHECK(m->user_payload_len == 0 || memcmp(d + off, m->user_payload, m->user_payload_len) == 0);
    buf_unref(b);
}

static void fuzz_binary(const uint8_t *data, size_t size) {
    msg_in_t m, back;
    char err[128];
    if (msg_decode_binary(data, size, &m, err, sizeof(err)) != 0) {
        CHECK(strlen(err) > 0 && strchr(err, '\n') == NULL);
        return;
    }
    check_kind4(&m);

    /* kind 3 re-encoded from the decoded fields is the very same frame
     * (null refs travel as empty, as realtime-js writes them) */
    buf_t *b = msg_encode_user_push(m.join_ref, m.ref, m.topic, m.user_event, m.meta.s, m.meta.len, m.encoding,
                                    m.user_payload, m.user_payload_len);
    CHECK(b != NULL);
    CHECK(b->len == size && memcmp(b->data, data, size) == 0);
    CHECK(msg_decode_binary(b->data, b->len, &back, err, sizeof(err)) == 0);
    CHECK(same_str(m.join_ref, back.join_ref) && same_str(m.ref, back.ref));
    CHECK(same_str(m.topic, back.topic) && same_str(m.event, back.event));
    CHECK(same_str(m.user_event, back.user_event) && same_str(m.meta, back.meta));
    CHECK(m.encoding == back.encoding && m.user_payload_len == back.user_payload_len);
    CHECK(m.user_payload_len == 0 || memcmp(m.user_payload, back.user_payload, m.user_payload_len) == 0);
    msg_in_clear(&back);
    buf_unref(b);

    /* What a binary push carries is relayed to text clients too: validated
     * strings, meta and JSON payload must embed into valid JSON. */
    for (int v = MSG_VSN_1; v <= MSG_VSN_2; v++) {
        int json = m.encoding == MSG_ENC_JSON;
        b = msg_encode_broadcast_json((msg_vsn_t)v, m.topic, m.user_event, json ? (const char *)m.user_payload : NULL,
                                      json ? m.user_payload_len : 0, m.meta.s, m.meta.len);
        json_t *root = parse_frame(b);
        CHECK(root != NULL);
        json_decref(root);
        buf_unref(b);
    }
    msg_in_clear(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0: fuzz_text(MSG_VSN_1, data + 1, size - 1); break;
    case 1: fuzz_text(MSG_VSN_2, data + 1, size - 1); break;
    default: fuzz_binary(data + 1, size - 1); break;
    }
    return 0;
}
