/*
 * proto/msg: decoders and encoders for the Phoenix serializers realtime-js
 * speaks (vsn 1.0.0 JSON objects, vsn 2.0.0 JSON arrays and binary kinds
 * 3 and 4). It owns the byte layout of one message and nothing else.
 * It must never trust a length, a type or an encoding it has not checked,
 * never echo raw client bytes into an error string, and never look at what
 * a topic or event means (that is the channel layer's business).
 */
#include "proto/msg.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Text frames have no length prefix, so bound the header strings: nothing
 * realtime-js sends comes close, and a 1 MB "topic" would only ever be an
 * attack on every hash table and log line that later sees it. */
#define MAX_TEXT_FIELD 1024

/* Kind 3 header: kind, five lengths, encoding. */
#define USER_PUSH_HEADER 7
/* Kind 4 header: kind, three lengths, encoding. */
#define USER_BCAST_HEADER 5

/* Room for the fixed JSON of a vsn 1 envelope plus a little escaping, so a
 * typical frame is built without a single regrowth. */
#define ENVELOPE_SLACK 96

#define PUT_LIT(bp, lit) buf_append((bp), (lit), sizeof(lit) - 1)

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void msg_in_clear(msg_in_t *m) {
    if (!m)
        return;
    json_decref(m->_root); /* NULL-safe; payload is borrowed from _root */
    memset(m, 0, sizeof(*m));
}

/* ---- text decoding ---------------------------------------------------- */

/* Takes one header string out of a decoded frame. v is NULL when a vsn 1
 * key is absent (realtime-js omits join_ref on heartbeats). Refs may be
 * null or any string; topic and event must be non-empty strings. NUL bytes
 * (jansson lets "\u0000" through under JSON_ALLOW_NUL) are refused because
 * these strings end up as C strings in maps and logs. */
static int take_text_str(const json_t *v, const char *name, int is_ref, msg_str_t *dst, char *err, size_t errlen) {
    if (!json_is_string(v)) {
        if (is_ref && (!v || json_is_null(v))) {
            *dst = MSG_STR_NULL;
            return 0;
        }
        return fail(err, errlen, is_ref ? "%s must be a string or null" : "%s must be a non-empty string", name);
    }
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (!is_ref && n == 0)
        return fail(err, errlen, "%s must be a non-empty string", name);
    if (n > MAX_TEXT_FIELD)
        return fail(err, errlen, "%s is longer than %d bytes", name, MAX_TEXT_FIELD);
    if (memchr(s, '\0', n))
        return fail(err, errlen, "%s contains a NUL byte", name);
    dst->s = s;
    dst->len = n;
    return 0;
}

/* Fills out's header fields and payload from the five values, in either
 * serializer's order of appearance. The payload is borrowed from the root. */
static int take_fields(json_t *jr, json_t *ref, json_t *topic, json_t *event, json_t *payload, msg_in_t *out, char *err,
                       size_t errlen) {
    if (take_text_str(jr, "join_ref", 1, &out->join_ref, err, errlen) ||
        take_text_str(ref, "ref", 1, &out->ref, err, errlen) ||
        take_text_str(topic, "topic", 0, &out->topic, err, errlen) ||
        take_text_str(event, "event", 0, &out->event, err, errlen))
        return -1;
    /* realtime-js always sends an object, and every consumer reads it as
     * one: refusing anything else here spares each of them the check. */
    if (!json_is_object(payload))
        return fail(err, errlen, "payload must be an object");
    out->payload = payload;
    return 0;
}

int msg_decode_text(msg_vsn_t vsn, const char *data, size_t len, msg_in_t *out, char *err, size_t errlen) {
    json_error_t jerr;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (vsn != MSG_VSN_1 && vsn != MSG_VSN_2)
        return fail(err, errlen, "unsupported serializer version %d", (int)vsn);
    /* No JSON_DISABLE_EOF_CHECK: trailing bytes make the frame invalid.
     * JSON_DECODE_ANY so a scalar frame gets our message, not jansson's
     * (which quotes the offending input). */
    json_t *root = json_loadb(data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!root)
        return fail(err, errlen, "invalid JSON at byte %d", jerr.position);

    if (vsn == MSG_VSN_1) {
        if (!json_is_object(root)) {
            fail(err, errlen, "expected a JSON object");
            goto out;
        }
        rc =
            take_fields(json_object_get(root, "join_ref"), json_object_get(root, "ref"), json_object_get(root, "topic"),
                        json_object_get(root, "event"), json_object_get(root, "payload"), out, err, errlen);
    } else {
        if (!json_is_array(root) || json_array_size(root) != 5) {
            fail(err, errlen, "expected a JSON array of 5 elements");
            goto out;
        }
        rc = take_fields(json_array_get(root, 0), json_array_get(root, 1), json_array_get(root, 2),
                         json_array_get(root, 3), json_array_get(root, 4), out, err, errlen);
    }

out:
    if (rc == 0) {
        out->_root = root;
    } else {
        json_decref(root);
        memset(out, 0, sizeof(*out));
    }
    return rc;
}

/* ---- binary decoding -------------------------------------------------- */

enum { STR_OK = 0, STR_NUL, STR_BAD_UTF8 };

/* Checks that s is well-formed UTF-8 (no overlongs, no surrogates, nothing
 * past U+10FFFF) without NUL. Binary frames bypass the WebSocket layer's
 * UTF-8 check, yet topic and event get copied into JSON text frames for
 * other clients: one bad byte there would make every browser receiving it
 * drop its connection (close 1007). */
static int check_utf8(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            if (c == 0)
                return STR_NUL;
            i++;
            continue;
        }
        size_t k;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
            k = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return STR_BAD_UTF8;
        }
        if (n - i <= k)
            return STR_BAD_UTF8;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return STR_BAD_UTF8;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return STR_BAD_UTF8;
        i += k + 1;
    }
    return STR_OK;
}

/* A header string of a kind 3 frame. realtime-js writes a null ref or
 * join_ref as the empty string, so for refs empty means null. */
static int take_bin_str(const uint8_t *p, size_t n, const char *name, int is_ref, msg_str_t *dst, char *err,
                        size_t errlen) {
    if (n == 0) {
        if (!is_ref)
            return fail(err, errlen, "%s must not be empty", name);
        *dst = MSG_STR_NULL;
        return 0;
    }
    switch (check_utf8(p, n)) {
    case STR_NUL: return fail(err, errlen, "%s contains a NUL byte", name);
    case STR_BAD_UTF8: return fail(err, errlen, "%s is not valid UTF-8", name);
    default: break;
    }
    dst->s = (const char *)p;
    dst->len = n;
    return 0;
}

/* Parses p to validate it, then drops the tree: binary payloads are relayed
 * as bytes, so keeping a parsed copy would only cost memory. Integers are
 * read as reals because JSON.stringify happily writes 1e21-sized integers
 * that jansson would refuse as json_int_t overflow. Returns the value's
 * type, or -1 if p is not JSON. */
static int json_type_of(const uint8_t *p, size_t n) {
    json_error_t jerr;
    json_t *v = json_loadb((const char *)p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &jerr);
    if (!v)
        return -1;
    int t = (int)json_typeof(v);
    json_decref(v);
    return t;
}

int msg_decode_binary(const uint8_t *data, size_t len, msg_in_t *out, char *err, size_t errlen) {
    memset(out, 0, sizeof(*out));
    if (len == 0)
        return fail(err, errlen, "empty binary frame");
    if (data[0] != MSG_BIN_USER_PUSH)
        return fail(err, errlen, "unsupported binary message kind %u", (unsigned)data[0]);
    if (len < USER_PUSH_HEADER)
        return fail(err, errlen, "truncated binary frame header");

    size_t jr_len = data[1], ref_len = data[2], topic_len = data[3], event_len = data[4], meta_len = data[5];
    uint8_t encoding = data[6];
    size_t off = USER_PUSH_HEADER; /* no overflow: at most 7 + 5 * 255 */
    if (len - off < jr_len + ref_len + topic_len + event_len + meta_len)
        return fail(err, errlen, "binary frame shorter than its declared lengths");
    if (encoding != MSG_ENC_RAW && encoding != MSG_ENC_JSON)
        return fail(err, errlen, "unsupported payload encoding %u", (unsigned)encoding);

    if (take_bin_str(data + off, jr_len, "join_ref", 1, &out->join_ref, err, errlen))
        goto bad;
    off += jr_len;
    if (take_bin_str(data + off, ref_len, "ref", 1, &out->ref, err, errlen))
        goto bad;
    off += ref_len;
    if (take_bin_str(data + off, topic_len, "topic", 0, &out->topic, err, errlen))
        goto bad;
    off += topic_len;
    if (take_bin_str(data + off, event_len, "event", 0, &out->user_event, err, errlen))
        goto bad;
    off += event_len;
    if (meta_len > 0) {
        if (json_type_of(data + off, meta_len) != JSON_OBJECT) {
            fail(err, errlen, "meta must be a JSON object");
            goto bad;
        }
        out->meta.s = (const char *)data + off;
        out->meta.len = meta_len;
    }
    off += meta_len;

    out->user_payload = data + off;
    out->user_payload_len = len - off;
    if (encoding == MSG_ENC_JSON && json_type_of(out->user_payload, out->user_payload_len) < 0) {
        fail(err, errlen, "payload is not valid JSON");
        goto bad;
    }
    out->encoding = encoding;
    out->event = MSG_STR("broadcast");
    out->binary = 1;
    return 0;

bad:
    memset(out, 0, sizeof(*out));
    return -1;
}

/* ---- text encoding ---------------------------------------------------- */

/* Starts a text frame: everything up to where the payload goes. body_hint
 * is what the caller will append, so the buf is sized once. The caller
 * appends the payload, then calls frame_close. */
static buf_t *frame_open(msg_vsn_t vsn, msg_str_t join_ref, msg_str_t ref, msg_str_t topic, const char *event,
                         size_t event_len, size_t body_hint) {
    buf_t *b = buf_new(ENVELOPE_SLACK + join_ref.len + ref.len + topic.len + event_len + body_hint);
    if (vsn == MSG_VSN_1) {
        PUT_LIT(&b, "{\"join_ref\":");
        buf_json_str_or_null(&b, join_ref.s, join_ref.len);
        PUT_LIT(&b, ",\"ref\":");
        buf_json_str_or_null(&b, ref.s, ref.len);
        PUT_LIT(&b, ",\"topic\":");
        buf_json_str_or_null(&b, topic.s, topic.len);
        PUT_LIT(&b, ",\"event\":");
        buf_json_str(&b, event, event_len);
        PUT_LIT(&b, ",\"payload\":");
    } else {
        buf_putc(&b, '[');
        buf_json_str_or_null(&b, join_ref.s, join_ref.len);
        buf_putc(&b, ',');
        buf_json_str_or_null(&b, ref.s, ref.len);
        buf_putc(&b, ',');
        buf_json_str_or_null(&b, topic.s, topic.len);
        buf_putc(&b, ',');
        buf_json_str(&b, event, event_len);
        buf_putc(&b, ',');
    }
    return b;
}

static void frame_close(msg_vsn_t vsn, buf_t **bp) { buf_putc(bp, vsn == MSG_VSN_1 ? '}' : ']'); }

/* Appends JSON text verbatim. An empty value becomes {}: a null or missing
 * payload throws inside realtime-js and wedges the connection, so an empty
 * object is the only safe reading of "nothing". */
static void put_json(buf_t **bp, const char *json, size_t len) {
    if (json && len)
        buf_append(bp, json, len);
    else
        PUT_LIT(bp, "{}");
}

/* Returns a new buf; the caller owns its one reference (buf_unref). */
buf_t *msg_encode(msg_vsn_t vsn, msg_str_t join_ref, msg_str_t ref, msg_str_t topic, const char *event,
                  const char *payload_json, size_t payload_len) {
    buf_t *b = frame_open(vsn, join_ref, ref, topic, event, strlen(event), payload_len);
    put_json(&b, payload_json, payload_len);
    frame_close(vsn, &b);
    return b;
}

/* Returns a new buf; the caller owns its one reference (buf_unref). */
buf_t *msg_encode_reply(msg_vsn_t vsn, msg_str_t join_ref, msg_str_t ref, msg_str_t topic, const char *status,
                        const char *response_json, size_t response_len) {
    size_t status_len = strlen(status);
    buf_t *b = frame_open(vsn, join_ref, ref, topic, "phx_reply", 9, 32 + status_len + response_len);
    PUT_LIT(&b, "{\"status\":");
    buf_json_str(&b, status, status_len);
    PUT_LIT(&b, ",\"response\":");
    put_json(&b, response_json, response_len);
    buf_putc(&b, '}');
    frame_close(vsn, &b);
    return b;
}

/* Returns a new buf; the caller owns its one reference (buf_unref). */
buf_t *msg_encode_broadcast_json(msg_vsn_t vsn, msg_str_t topic, msg_str_t user_event, const char *user_payload,
                                 size_t user_payload_len, const char *meta_json, size_t meta_len) {
    buf_t *b = frame_open(vsn, MSG_STR_NULL, MSG_STR_NULL, topic, "broadcast", 9,
                          48 + user_event.len + user_payload_len + meta_len);
    PUT_LIT(&b, "{\"type\":\"broadcast\",\"event\":");
    buf_json_str_or_null(&b, user_event.s, user_event.len);
    PUT_LIT(&b, ",\"payload\":");
    put_json(&b, user_payload, user_payload_len);
    if (meta_json && meta_len) {
        PUT_LIT(&b, ",\"meta\":");
        buf_append(&b, meta_json, meta_len);
    }
    buf_putc(&b, '}');
    frame_close(vsn, &b);
    return b;
}

/* ---- binary encoding -------------------------------------------------- */

/* buf_append with a zero length is a no-op, but memcpy from NULL is not
 * allowed even then: empty views may carry a NULL pointer. */
static void put_bytes(buf_t **bp, const void *p, size_t n) {
    if (n)
        buf_append(bp, p, n);
}

/* Returns a new buf (caller owns the reference), or NULL when a length does
 * not fit its byte or encoding is unknown. */
buf_t *msg_encode_broadcast_binary(msg_str_t topic, msg_str_t user_event, const char *meta_json, size_t meta_len,
                                   uint8_t encoding, const uint8_t *payload, size_t payload_len) {
    if (!meta_json)
        meta_len = 0;
    if (topic.len > 255 || user_event.len > 255 || meta_len > 255 || encoding > MSG_ENC_JSON)
        return NULL;
    buf_t *b = buf_new(USER_BCAST_HEADER + topic.len + user_event.len + meta_len + payload_len);
    uint8_t hdr[USER_BCAST_HEADER] = {MSG_BIN_USER_BROADCAST, (uint8_t)topic.len, (uint8_t)user_event.len,
                                      (uint8_t)meta_len, encoding};
    buf_append(&b, hdr, sizeof(hdr));
    put_bytes(&b, topic.s, topic.len);
    put_bytes(&b, user_event.s, user_event.len);
    put_bytes(&b, meta_json, meta_len);
    put_bytes(&b, payload, payload_len);
    return b;
}

/* Returns a new buf (caller owns the reference), or NULL when a length does
 * not fit its byte or encoding is unknown. A null ref is written as empty,
 * as realtime-js does. */
buf_t *msg_encode_user_push(msg_str_t join_ref, msg_str_t ref, msg_str_t topic, msg_str_t user_event,
                            const char *meta_json, size_t meta_len, uint8_t encoding, const uint8_t *payload,
                            size_t payload_len) {
    if (!meta_json)
        meta_len = 0;
    if (join_ref.len > 255 || ref.len > 255 || topic.len > 255 || user_event.len > 255 || meta_len > 255 ||
        encoding > MSG_ENC_JSON)
        return NULL;
    buf_t *b = buf_new(USER_PUSH_HEADER + join_ref.len + ref.len + topic.len + user_event.len + meta_len + payload_len);
    uint8_t hdr[USER_PUSH_HEADER] = {
        MSG_BIN_USER_PUSH,       (uint8_t)join_ref.len, (uint8_t)ref.len, (uint8_t)topic.len,
        (uint8_t)user_event.len, (uint8_t)meta_len,     encoding};
    buf_append(&b, hdr, sizeof(hdr));
    put_bytes(&b, join_ref.s, join_ref.len);
    put_bytes(&b, ref.s, ref.len);
    put_bytes(&b, topic.s, topic.len);
    put_bytes(&b, user_event.s, user_event.len);
    put_bytes(&b, meta_json, meta_len);
    put_bytes(&b, payload, payload_len);
    return b;
}
