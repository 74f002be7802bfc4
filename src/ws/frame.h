/*
 * ws/frame: the RFC 6455 codec, with no I/O. A parser that is fed bytes and
 * reports whole messages (fragments reassembled, control frames between
 * them), pings, pongs and closes, validating what the RFC requires of a
 * server: client frames masked, RSV bits clear, control frames short and
 * unfragmented, text valid UTF-8 (checked incrementally), the message size
 * bounded. It also seals outgoing frames in place (server frames are never
 * masked) and computes the handshake accept key.
 * It knows nothing of sockets, HTTP or channels.
 */
#ifndef TC_WS_FRAME_H
#define TC_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

enum {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA,
};

/* Close codes this server sends. */
enum {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001, /* server draining (SIGTERM), idle timeout */
    WS_CLOSE_PROTOCOL = 1002,   /* RFC violation: unmasked, RSV, bad opcode, bad control frame */
    WS_CLOSE_UNSUPPORTED = 1003,
    WS_CLOSE_BAD_DATA = 1007, /* text frame that is not UTF-8 */
    WS_CLOSE_POLICY = 1008,   /* rate limits, auth */
    WS_CLOSE_TOO_BIG = 1009,  /* message larger than the configured maximum */
    WS_CLOSE_INTERNAL = 1011,
    WS_CLOSE_TRY_AGAIN = 1013, /* slow consumer: send queue full */
};

typedef struct {
    /* Return 0 to go on, non-zero to stop parsing at once (the connection
     * is going away); ws_parser_feed then returns WS_PARSE_STOPPED. */
    int (*on_message)(void *ud, int opcode, uint8_t *data, size_t len); /* TEXT or BINARY; data valid during the call */
    int (*on_ping)(void *ud, const uint8_t *data, size_t len);
    int (*on_pong)(void *ud, const uint8_t *data, size_t len);
    int (*on_close)(void *ud, uint16_t code, const char *reason, size_t reason_len); /* code 1005 if none sent */
} ws_parser_cb_t;

/* Parser state. Kept small: a connection between messages holds no heap
 * memory at all (partial frames and fragmented messages are buffered on the
 * heap only while they are incomplete). Fields are private. */
typedef struct {
    uint8_t *_partial; /* bytes of an incomplete frame carried between feeds */
    uint32_t _partial_len, _partial_cap;
    uint8_t *_msg; /* fragmented message being reassembled */
    uint32_t _msg_len, _msg_cap;
    uint32_t _max_message; /* bytes; a larger message fails with 1009 */
    uint32_t _utf8_state;  /* incremental UTF-8 validation across fragments */
    uint8_t _msg_opcode;   /* opcode of the message in reassembly, 0 if none */
    uint8_t _closed;
} ws_parser_t;

#define WS_PARSE_OK 0
#define WS_PARSE_STOPPED (-1)

void ws_parser_init(ws_parser_t *p, uint32_t max_message);
/* Frees what the parser buffers; it may be re-initialised after. */
void ws_parser_free(ws_parser_t *p);
/* Consumes all of data (unmasking it in place). Returns WS_PARSE_OK,
 * WS_PARSE_STOPPED (a callback asked to stop), or a close code > 0
 * (1002, 1007, 1009) when the peer broke the protocol: the caller sends a
 * close frame with that code and stops reading. */
int ws_parser_feed(ws_parser_t *p, uint8_t *data, size_t len, const ws_parser_cb_t *cb, void *ud);

/* Writes a server frame header (FIN set, unmasked) for the payload held in
 * b into its headroom. b must not be shared yet. */
void ws_frame_seal(buf_t *b, int opcode);
/* A close frame payload: 2-byte code + reason (truncated to fit 125). New
 * buf, sealed, one reference for the caller. */
buf_t *ws_frame_close(uint16_t code, const char *reason);
/* Sec-WebSocket-Accept for a client key: base64(SHA-1(key + GUID)), 28
 * chars + NUL. Returns -1 if the key is not a base64 16-byte nonce. */
int ws_accept_key(const char *client_key, size_t len, char out[29]);
/* Incremental UTF-8 validator (DFA): returns the new state; 0 = complete
 * and valid so far, 1 = invalid (sticky), other = inside a sequence. */
uint32_t ws_utf8_step(uint32_t state, const uint8_t *s, size_t n);

/* Client side, for the load generator and tests: encodes one masked frame
 * into out (len + 14 bytes room). Returns the byte count. */
size_t ws_frame_encode_client(uint8_t *out, int opcode, const uint8_t *payload, size_t len, uint32_t mask);

#endif
