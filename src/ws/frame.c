/*
 * ws/frame: the RFC 6455 codec (see frame.h). It owns the byte-level rules
 * of WebSocket framing on the server side: header parsing and validation,
 * unmasking, reassembly of fragmented messages, incremental UTF-8 checks,
 * and the encoding of server frames. It must never do I/O, never copy a
 * frame that arrived whole in the caller's chunk, and never allocate from a
 * length the peer merely declared: memory grows only with bytes received,
 * and only up to the configured message size.
 */
#include "ws/frame.h"
#include "util/mem.h"

#include <assert.h>
#include <string.h>

#include <openssl/evp.h>

#define WS_MAX_HEADER 14 /* 2 + 8 (64-bit length) + 4 (mask) */
#define WS_MAX_CONTROL 125

/* Result of parse_header() when the header is not all there yet. */
#define HDR_MORE (-1)

typedef struct {
    unsigned fin;
    unsigned opcode;
    size_t hlen;  /* header bytes, mask included */
    uint64_t len; /* payload bytes */
    uint8_t mask[4];
} frame_hdr_t;

/* ---------------------------------------------------------------------
 * UTF-8: a small DFA. States (all < 16, so a sticky reject is cheap):
 */
enum {
    U8_ACCEPT = 0, /* between characters */
    U8_REJECT = 1, /* invalid, sticky */
    U8_CONT1 = 2,  /* one more 80..BF */
    U8_CONT2 = 3,  /* two more 80..BF */
    U8_CONT3 = 4,  /* three more 80..BF */
    U8_E0 = 5,     /* after E0: A0..BF (rules out overlong 3-byte forms) */
    U8_ED = 6,     /* after ED: 80..9F (rules out surrogates D800..DFFF) */
    U8_F0 = 7,     /* after F0: 90..BF (rules out overlong 4-byte forms) */
    U8_F4 = 8,     /* after F4: 80..8F (nothing above U+10FFFF) */
};

static uint32_t utf8_lead(uint8_t c) {
    if (c < 0x80)
        return U8_ACCEPT;
    if (c < 0xC2) /* stray continuation, or C0/C1 (always overlong) */
        return U8_REJECT;
    if (c < 0xE0)
        return U8_CONT1;
    if (c == 0xE0)
        return U8_E0;
    if (c == 0xED)
        return U8_ED;
    if (c < 0xF0)
        return U8_CONT2;
    if (c == 0xF0)
        return U8_F0;
    if (c < 0xF4)
        return U8_CONT3;
    if (c == 0xF4)
        return U8_F4;
    return U8_REJECT; /* F5..FF would encode beyond U+10FFFF */
}

static uint32_t utf8_cont(uint32_t state, uint8_t c) {
    uint8_t lo = 0x80, hi = 0xBF;
    uint32_t next;
    switch (state) {
    case U8_CONT1: next = U8_ACCEPT; break;
    case U8_CONT2: next = U8_CONT1; break;
    case U8_CONT3: next = U8_CONT2; break;
    case U8_E0:
        lo = 0xA0;
        next = U8_CONT1;
        break;
    case U8_ED:
        hi = 0x9F;
        next = U8_CONT1;
        break;
    case U8_F0:
        lo = 0x90;
        next = U8_CONT2;
        break;
    case U8_F4:
        hi = 0x8F;
        next = U8_CONT2;
        break;
    default: return U8_REJECT;
    }
    return (c >= lo && c <= hi) ? next : U8_REJECT;
}

uint32_t ws_utf8_step(uint32_t state, const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (state == U8_REJECT)
            return U8_REJECT;
        if (state == U8_ACCEPT) {
            /* Chat payloads are mostly ASCII: skip it 8 bytes at a time. */
            while (n - i >= 8) {
                uint64_t w;
                memcpy(&w, s + i, 8);
                if (w & UINT64_C(0x8080808080808080))
                    break;
                i += 8;
            }
            if (i == n)
                break;
            state = utf8_lead(s[i++]);
        } else {
            state = utf8_cont(state, s[i++]);
        }
    }
    return state;
}

/* ---------------------------------------------------------------------
 * Buffers. Both grow geometrically but never past `limit`, a bound the
 * caller already checked against max_message; both go back to NULL as soon
 * as what they hold has been delivered, so an idle parser owns no heap.
 */
static void grow(uint8_t **bufp, uint32_t *capp, size_t need, size_t limit) {
    if (need <= *capp)
        return;
    size_t cap = *capp ? (size_t)*capp * 2 : 64;
    while (cap < need)
        cap *= 2;
    if (cap > limit)
        cap = limit;
    assert(cap >= need);
    *bufp = xrealloc(*bufp, cap); /* freed by release_partial/release_msg */
    *capp = (uint32_t)cap;
}

static void release_partial(ws_parser_t *p) {
    free(p->_partial);
    p->_partial = NULL;
    p->_partial_len = p->_partial_cap = 0;
}

static void release_msg(ws_parser_t *p) {
    free(p->_msg);
    p->_msg = NULL;
    p->_msg_len = p->_msg_cap = 0;
    p->_msg_opcode = 0;
    p->_utf8_state = U8_ACCEPT;
}

static void partial_append(ws_parser_t *p, const uint8_t *d, size_t n, size_t limit) {
    grow(&p->_partial, &p->_partial_cap, (size_t)p->_partial_len + n, limit);
    memcpy(p->_partial + p->_partial_len, d, n);
    p->_partial_len += (uint32_t)n;
}

static void msg_append(ws_parser_t *p, const uint8_t *d, size_t n) {
    if (n == 0)
        return;
    grow(&p->_msg, &p->_msg_cap, (size_t)p->_msg_len + n, p->_max_message);
    memcpy(p->_msg + p->_msg_len, d, n);
    p->_msg_len += (uint32_t)n;
}

/* ---------------------------------------------------------------------
 * Parser.
 */
void ws_parser_init(ws_parser_t *p, uint32_t max_message) {
    memset(p, 0, sizeof(*p));
    /* Keep header + payload of one frame representable in a uint32_t. */
    if (max_message > UINT32_MAX - 2 * WS_MAX_HEADER)
        max_message = UINT32_MAX - 2 * WS_MAX_HEADER;
    p->_max_message = max_message;
}

void ws_parser_free(ws_parser_t *p) {
    release_partial(p);
    release_msg(p);
}

static int is_control(unsigned opcode) { return (opcode & 0x8) != 0; }

/* Rules that the first byte alone decides, checked as soon as it arrives. */
static int check_first_byte(const ws_parser_t *p, uint8_t b0) {
    unsigned fin = b0 >> 7, opcode = b0 & 0x0F;
    if (b0 & 0x70) /* RSV1..3: no extension was negotiated */
        return WS_CLOSE_PROTOCOL;
    switch (opcode) {
    case WS_OP_CONT: return p->_msg_opcode ? 0 : WS_CLOSE_PROTOCOL;
    case WS_OP_TEXT:
    case WS_OP_BINARY: return p->_msg_opcode ? WS_CLOSE_PROTOCOL : 0;
    case WS_OP_CLOSE:
    case WS_OP_PING:
    case WS_OP_PONG: return fin ? 0 : WS_CLOSE_PROTOCOL;
    default: return WS_CLOSE_PROTOCOL;
    }
}

/* Header size implied by the second byte (mask included). */
static size_t header_size(uint8_t b1) {
    uint8_t len7 = b1 & 0x7F;
    return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
}

/* Parses and validates a frame header from the n bytes at d. Returns 0
 * with *h filled, HDR_MORE if the header is incomplete (what there is was
 * valid), or a close code. The size check runs here, before a single
 * payload byte is buffered. */
static int parse_header(const ws_parser_t *p, const uint8_t *d, size_t n, frame_hdr_t *h) {
    if (n < 1)
        return HDR_MORE;
    int rc = check_first_byte(p, d[0]);
    if (rc)
        return rc;
    if (n < 2)
        return HDR_MORE;
    if (!(d[1] & 0x80)) /* clients must mask (RFC 6455 5.1) */
        return WS_CLOSE_PROTOCOL;
    h->fin = d[0] >> 7;
    h->opcode = d[0] & 0x0F;
    uint8_t len7 = d[1] & 0x7F;
    if (is_control(h->opcode) && len7 > WS_MAX_CONTROL)
        return WS_CLOSE_PROTOCOL;
    h->hlen = header_size(d[1]);
    if (n < h->hlen)
        return HDR_MORE;
    if (len7 < 126) {
        h->len = len7;
    } else if (len7 == 126) {
        h->len = (uint64_t)d[2] << 8 | d[3];
    } else {
        h->len = 0;
        for (int i = 0; i < 8; i++)
            h->len = h->len << 8 | d[2 + i];
        if (h->len >> 63)
            return WS_CLOSE_PROTOCOL;
    }
    memcpy(h->mask, d + h->hlen - 4, 4);
    if (!is_control(h->opcode) && h->len > (uint64_t)(p->_max_message - p->_msg_len))
        return WS_CLOSE_TOO_BIG;
    return 0;
}

static void unmask(uint8_t *d, size_t n, const uint8_t mask[4]) {
    size_t i = 0;
    if (n >= 8) {
        uint8_t m8[8];
        uint64_t m, w;
        for (int k = 0; k < 8; k++)
            m8[k] = mask[k & 3];
        memcpy(&m, m8, 8);
        for (; n - i >= 8; i += 8) {
            memcpy(&w, d + i, 8);
            w ^= m;
            memcpy(d + i, &w, 8);
        }
    }
    for (; i < n; i++)
        d[i] ^= mask[i & 3];
}

static int close_code_valid(uint16_t code) {
    if (code >= 1000 && code <= 1003)
        return 1;
    if (code >= 1007 && code <= 1014) /* 1004-1006 reserved, 1015 TLS */
        return 1;
    return code >= 3000 && code <= 4999; /* registered and private use */
}

static int handle_close(ws_parser_t *p, const uint8_t *d, size_t n, const ws_parser_cb_t *cb, void *ud) {
    uint16_t code = 1005; /* "no status received" */
    const char *reason = NULL;
    size_t rlen = 0;
    if (n == 1)
        return WS_CLOSE_PROTOCOL;
    if (n >= 2) {
        code = (uint16_t)(d[0] << 8 | d[1]);
        if (!close_code_valid(code))
            return WS_CLOSE_PROTOCOL;
        reason = (const char *)d + 2;
        rlen = n - 2;
        if (ws_utf8_step(U8_ACCEPT, d + 2, rlen) != U8_ACCEPT)
            return WS_CLOSE_BAD_DATA;
    }
    /* Whatever follows a close is not ours to read; a message that was
     * being reassembled is abandoned. */
    p->_closed = 1;
    release_msg(p);
    if (cb->on_close && cb->on_close(ud, code, reason, rlen))
        return WS_PARSE_STOPPED;
    return WS_PARSE_OK;
}

static int deliver(const ws_parser_cb_t *cb, void *ud, int opcode, uint8_t *d, size_t n) {
    if (cb->on_message && cb->on_message(ud, opcode, d, n))
        return WS_PARSE_STOPPED;
    return WS_PARSE_OK;
}

/* A data frame (TEXT, BINARY or CONT) whose payload d is unmasked. */
static int handle_data(ws_parser_t *p, const frame_hdr_t *h, uint8_t *d, size_t n, const ws_parser_cb_t *cb, void *ud) {
    if (h->opcode != WS_OP_CONT && h->fin) {
        /* The common case: one frame, one message, no copy. */
        if (h->opcode == WS_OP_TEXT && ws_utf8_step(U8_ACCEPT, d, n) != U8_ACCEPT)
            return WS_CLOSE_BAD_DATA;
        return deliver(cb, ud, (int)h->opcode, d, n);
    }
    if (h->opcode != WS_OP_CONT) {
        p->_msg_opcode = (uint8_t)h->opcode;
        p->_utf8_state = U8_ACCEPT;
    }
    /* Validate each fragment as it comes so bad text fails early; a
     * character may straddle fragments, which the DFA state carries. */
    if (p->_msg_opcode == WS_OP_TEXT) {
        p->_utf8_state = ws_utf8_step(p->_utf8_state, d, n);
        if (p->_utf8_state == U8_REJECT)
            return WS_CLOSE_BAD_DATA;
        if (h->fin && p->_utf8_state != U8_ACCEPT)
            return WS_CLOSE_BAD_DATA;
    }
    if (!h->fin) {
        msg_append(p, d, n);
        return WS_PARSE_OK;
    }
    int opcode = p->_msg_opcode, rc;
    if (p->_msg_len == 0) {
        rc = deliver(cb, ud, opcode, d, n); /* earlier fragments were empty */
    } else {
        msg_append(p, d, n);
        rc = deliver(cb, ud, opcode, p->_msg, p->_msg_len);
    }
    release_msg(p);
    return rc;
}

/* A whole frame with its payload at d (masked on entry). */
static int handle_frame(ws_parser_t *p, const frame_hdr_t *h, uint8_t *d, const ws_parser_cb_t *cb, void *ud) {
    size_t n = (size_t)h->len;
    unmask(d, n, h->mask);
    switch (h->opcode) {
    case WS_OP_PING: return (cb->on_ping && cb->on_ping(ud, d, n)) ? WS_PARSE_STOPPED : WS_PARSE_OK;
    case WS_OP_PONG: return (cb->on_pong && cb->on_pong(ud, d, n)) ? WS_PARSE_STOPPED : WS_PARSE_OK;
    case WS_OP_CLOSE: return handle_close(p, d, n, cb, ud);
    default: return handle_data(p, h, d, n, cb, ud);
    }
}

/* No partial frame pending: parse straight from the caller's chunk. A
 * frame wholly inside it is handled in place; the rest of a frame that
 * does not fit is carried in _partial. *used says what was consumed. */
static int feed_direct(ws_parser_t *p, uint8_t *d, size_t n, size_t *used, const ws_parser_cb_t *cb, void *ud) {
    frame_hdr_t h;
    int rc = parse_header(p, d, n, &h);
    if (rc > 0)
        return rc;
    if (rc == HDR_MORE) {
        partial_append(p, d, n, WS_MAX_HEADER);
        *used = n;
        return WS_PARSE_OK;
    }
    size_t total = h.hlen + (size_t)h.len; /* bounded by parse_header */
    if (total > n) {
        partial_append(p, d, n, total);
        *used = n;
        return WS_PARSE_OK;
    }
    *used = total;
    return handle_frame(p, &h, d + h.hlen, cb, ud);
}

/* A partial frame is pending: first complete (and validate) its header,
 * then its payload, from d; handle it once whole. */
static int feed_partial(ws_parser_t *p, const uint8_t *d, size_t n, size_t *used, const ws_parser_cb_t *cb, void *ud) {
    frame_hdr_t h;
    size_t off = 0;
    for (;;) {
        int rc = parse_header(p, p->_partial, p->_partial_len, &h);
        if (rc > 0)
            return rc;
        if (rc == 0)
            break;
        if (off == n) {
            *used = off;
            return WS_PARSE_OK;
        }
        /* Take only up to the next point where the header can be judged. */
        size_t want = p->_partial_len < 2 ? 2 : header_size(p->_partial[1]);
        size_t take = want - p->_partial_len;
        if (take > n - off)
            take = n - off;
        partial_append(p, d + off, take, WS_MAX_HEADER);
        off += take;
    }
    size_t total = h.hlen + (size_t)h.len;
    size_t take = total - p->_partial_len;
    if (take > n - off)
        take = n - off;
    partial_append(p, d + off, take, total);
    off += take;
    *used = off;
    if (p->_partial_len < total)
        return WS_PARSE_OK;
    int rc = handle_frame(p, &h, p->_partial + h.hlen, cb, ud);
    release_partial(p); /* only now: on_message may have pointed into it */
    return rc;
}

int ws_parser_feed(ws_parser_t *p, uint8_t *data, size_t len, const ws_parser_cb_t *cb, void *ud) {
    size_t off = 0;
    while (off < len && !p->_closed) {
        size_t used = 0;
        int rc;
        if (p->_partial_len > 0)
            rc = feed_partial(p, data + off, len - off, &used, cb, ud);
        else
            rc = feed_direct(p, data + off, len - off, &used, cb, ud);
        if (rc != WS_PARSE_OK) {
            /* A violation or a stop ends the stream: drop what we hold
             * now rather than when the connection is finally freed. */
            p->_closed = 1;
            ws_parser_free(p);
            return rc;
        }
        off += used;
    }
    return WS_PARSE_OK;
}

/* ---------------------------------------------------------------------
 * Encoding.
 */

/* Writes a frame header for a payload of n bytes into out (up to 10
 * bytes, 14 with a mask); returns its size. */
static size_t put_header(uint8_t *out, int opcode, size_t n, int masked) {
    uint8_t mbit = masked ? 0x80 : 0;
    out[0] = (uint8_t)(0x80 | (opcode & 0x0F));
    if (n <= WS_MAX_CONTROL) {
        out[1] = (uint8_t)(mbit | n);
        return 2;
    }
    if (n <= 0xFFFF) {
        out[1] = mbit | 126;
        out[2] = (uint8_t)(n >> 8);
        out[3] = (uint8_t)n;
        return 4;
    }
    out[1] = mbit | 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
    return 10;
}

void ws_frame_seal(buf_t *b, int opcode) {
    uint8_t hdr[10];
    size_t hl = put_header(hdr, opcode, b->len, 0);
    assert((size_t)(b->data - b->bytes) >= hl && "buf sealed twice or headroom used");
    memcpy(buf_prepend(b, hl), hdr, hl);
}

buf_t *ws_frame_close(uint16_t code, const char *reason) {
    buf_t *b = buf_new(WS_MAX_CONTROL); /* the caller's reference */
    /* 1005 means "no code": it is reported, never sent (RFC 6455 7.4.1),
     * so echoing it back is an empty close payload. */
    if (code != 1005) {
        uint8_t be[2] = {(uint8_t)(code >> 8), (uint8_t)code};
        buf_append(&b, be, 2);
        size_t rlen = reason ? strlen(reason) : 0;
        if (rlen > WS_MAX_CONTROL - 2) {
            rlen = WS_MAX_CONTROL - 2;
            /* Never cut a character in half: the peer would fail us
             * with 1007 for our own close reason. */
            while (rlen > 0 && ((uint8_t)reason[rlen] & 0xC0) == 0x80)
                rlen--;
        }
        if (rlen > 0)
            buf_append(&b, reason, rlen);
    }
    ws_frame_seal(b, WS_OP_CLOSE);
    return b;
}

static int is_b64(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int ws_accept_key(const char *client_key, size_t len, char out[29]) {
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    /* A 16-byte nonce in base64 is exactly 22 symbols and "==". */
    if (len != 24 || client_key[22] != '=' || client_key[23] != '=')
        return -1;
    for (size_t i = 0; i < 22; i++)
        if (!is_b64(client_key[i]))
            return -1;
    unsigned char nonce[18];
    if (EVP_DecodeBlock(nonce, (const unsigned char *)client_key, 24) != 18)
        return -1;

    unsigned char cat[24 + sizeof(guid) - 1];
    memcpy(cat, client_key, 24);
    memcpy(cat + 24, guid, sizeof(guid) - 1);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(cat, sizeof(cat), md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
        return -1;
    if (EVP_EncodeBlock((unsigned char *)out, md, 20) != 28) /* NUL-terminates */
        return -1;
    return 0;
}

size_t ws_frame_encode_client(uint8_t *out, int opcode, const uint8_t *payload, size_t len, uint32_t mask) {
    size_t hl = put_header(out, opcode, len, 1);
    uint8_t *m = out + hl;
    m[0] = (uint8_t)(mask >> 24);
    m[1] = (uint8_t)(mask >> 16);
    m[2] = (uint8_t)(mask >> 8);
    m[3] = (uint8_t)mask;
    hl += 4;
    if (len > 0) {
        memcpy(out + hl, payload, len);
        unmask(out + hl, len, m); /* masking and unmasking are one XOR */
    }
    return hl + len;
}
