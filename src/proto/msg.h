/*
 * proto/msg: the Phoenix channel message serializers realtime-js speaks.
 *   vsn 1.0.0: every frame is {"join_ref","ref","topic","event","payload"}.
 *   vsn 2.0.0: text frames are [join_ref, ref, topic, event, payload];
 *              binary frames carry user broadcasts: kind 3 from clients,
 *              kind 4 to clients (see docs/PROTOCOL.md for the layout).
 * Decoders validate everything and say what is wrong; encoders build the
 * payload of one outgoing frame into a buf (framing is ws/frame's job).
 * This module knows nothing of sockets, channels or authorization.
 */
#ifndef TC_PROTO_MSG_H
#define TC_PROTO_MSG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef enum { MSG_VSN_1 = 1, MSG_VSN_2 = 2 } msg_vsn_t;

/* A string view; s == NULL stands for JSON null / absent. */
typedef struct {
    const char *s;
    size_t len;
} msg_str_t;

#define MSG_STR_NULL ((msg_str_t){NULL, 0})
#define MSG_STR(lit) ((msg_str_t){(lit), sizeof(lit) - 1})

enum { MSG_BIN_PUSH = 0, MSG_BIN_REPLY = 1, MSG_BIN_BROADCAST = 2, MSG_BIN_USER_PUSH = 3, MSG_BIN_USER_BROADCAST = 4 };
enum { MSG_ENC_RAW = 0, MSG_ENC_JSON = 1 };

typedef struct {
    msg_str_t join_ref, ref, topic, event;
    /* Text frames: the payload, always a JSON object (owned by the message;
     * msg_in_clear releases it). NULL for binary frames. */
    json_t *payload;
    /* Binary kind 3 (user broadcast push): event is "broadcast", and these
     * describe the user's message. Views into the fed bytes. */
    int binary;
    msg_str_t user_event;
    msg_str_t meta;   /* raw JSON object text, or empty */
    uint8_t encoding; /* MSG_ENC_RAW or MSG_ENC_JSON (validated JSON) */
    const uint8_t *user_payload;
    size_t user_payload_len;
    json_t *_root; /* private */
} msg_in_t;

/* Decode one text frame. Views in *out point into jansson storage owned by
 * *out, or into data (binary): data must outlive *out. Returns 0, or -1
 * with a one-line reason in err (e.g. "expected a JSON array of 5
 * elements"). On success release with msg_in_clear. In vsn 1.0.0 a missing
 * join_ref or ref key reads as null (realtime-js omits join_ref on heartbeats). */
int msg_decode_text(msg_vsn_t vsn, const char *data, size_t len, msg_in_t *out, char *err, size_t errlen);
/* Decode one binary frame (vsn 2.0.0 only; kind 3 is the only kind a client may send).
 * An empty join_ref or ref decodes as null (realtime-js writes null as ""). */
int msg_decode_binary(const uint8_t *data, size_t len, msg_in_t *out, char *err, size_t errlen);
void msg_in_clear(msg_in_t *m);

/* Encoders. Each returns a new buf (one reference for the caller) holding
 * the frame payload, with BUF_HEADROOM left for the WebSocket header.
 * payload_json must be valid JSON text (usually an object); an empty one
 * (NULL or 0 bytes) is written as {}, likewise response_json and
 * user_payload below. */
buf_t *msg_encode(msg_vsn_t vsn, msg_str_t join_ref, msg_str_t ref, msg_str_t topic, const char *event,
                  const char *payload_json, size_t payload_len);
/* phx_reply: payload {"status":status,"response":response_json}; response
 * must be a JSON object (realtime-js reads it unguarded). */
buf_t *msg_encode_reply(msg_vsn_t vsn, msg_str_t join_ref, msg_str_t ref, msg_str_t topic, const char *status,
                        const char *response_json, size_t response_len);
/* A broadcast as a JSON text frame: event "broadcast", payload
 * {"type":"broadcast","event":user_event,"payload":user_payload[,"meta":meta]}.
 * user_payload is JSON text. meta may be NULL/0. */
buf_t *msg_encode_broadcast_json(msg_vsn_t vsn, msg_str_t topic, msg_str_t user_event, const char *user_payload,
                                 size_t user_payload_len, const char *meta_json, size_t meta_len);
/* A broadcast as a vsn 2.0.0 binary kind 4 frame. Returns NULL if topic,
 * event or meta is longer than 255 bytes (the format's one-byte lengths),
 * or if encoding is neither MSG_ENC_RAW nor MSG_ENC_JSON. */
buf_t *msg_encode_broadcast_binary(msg_str_t topic, msg_str_t user_event, const char *meta_json, size_t meta_len,
                                   uint8_t encoding, const uint8_t *payload, size_t payload_len);

/* Client side (load generator, tests): a kind 3 user broadcast push. NULL
 * under the same conditions as above (join_ref and ref included); a null
 * join_ref or ref is written as empty. */
buf_t *msg_encode_user_push(msg_str_t join_ref, msg_str_t ref, msg_str_t topic, msg_str_t user_event,
                            const char *meta_json, size_t meta_len, uint8_t encoding, const uint8_t *payload,
                            size_t payload_len);

#endif
