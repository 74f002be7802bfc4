/*
 * auth/b64: the base64url codec (RFC 4648 section 5, no padding) that JWS
 * compact serialisation uses. Declared in auth/jwt.h.
 *
 * Decoding is strict on purpose: one byte string has exactly one accepted
 * encoding, so a token cannot be re-encoded (padding, stray characters,
 * non-zero spare bits) into a different string that still verifies.
 * It never allocates while decoding; the caller provides the room.
 */
#include "auth/jwt.h"
#include "util/mem.h"

#include <limits.h>

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Returns 0..63 for an alphabet character, -1 for anything else (including
 * '=' and the '+' '/' of plain base64). */
static inline int b64_val(unsigned char c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Returns a malloc'd NUL-terminated string; the caller frees it. */
char *b64url_encode(const uint8_t *in, size_t len) {
    size_t full = len / 3, rem = len % 3;
    char *out = xmalloc(full * 4 + (rem ? rem + 1 : 0) + 1);
    char *p = out;

    for (size_t i = 0; i < full; i++, in += 3) {
        uint32_t v = (uint32_t)in[0] << 16 | (uint32_t)in[1] << 8 | in[2];
        *p++ = B64URL[v >> 18];
        *p++ = B64URL[(v >> 12) & 63];
        *p++ = B64URL[(v >> 6) & 63];
        *p++ = B64URL[v & 63];
    }
    if (rem) {
        uint32_t v = (uint32_t)in[0] << 16 | (rem == 2 ? (uint32_t)in[1] << 8 : 0);
        *p++ = B64URL[v >> 18];
        *p++ = B64URL[(v >> 12) & 63];
        if (rem == 2)
            *p++ = B64URL[(v >> 6) & 63];
    }
    *p = '\0';
    return out;
}

/* Writes at most len * 3 / 4 bytes to out. A tail of one character carries
 * fewer than 8 bits and is never valid; the spare low bits of a 2- or
 * 3-character tail must be zero, as an encoder writes them. */
long b64url_decode(const char *in, size_t len, uint8_t *out) {
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0, i = 0;

    if (len % 4 == 1 || len > (size_t)LONG_MAX / 3)
        return -1;
    for (; i + 4 <= len; i += 4) {
        int a = b64_val(s[i]), b = b64_val(s[i + 1]), c = b64_val(s[i + 2]), d = b64_val(s[i + 3]);
        if ((a | b | c | d) < 0)
            return -1;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        out[o++] = (uint8_t)(v >> 16);
        out[o++] = (uint8_t)(v >> 8);
        out[o++] = (uint8_t)v;
    }
    if (len - i == 2) {
        int a = b64_val(s[i]), b = b64_val(s[i + 1]);
        if ((a | b) < 0 || (b & 15))
            return -1;
        out[o++] = (uint8_t)(a << 2 | b >> 4);
    } else if (len - i == 3) {
        int a = b64_val(s[i]), b = b64_val(s[i + 1]), c = b64_val(s[i + 2]);
        if ((a | b | c) < 0 || (c & 3))
            return -1;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
        out[o++] = (uint8_t)(v >> 16);
        out[o++] = (uint8_t)(v >> 8);
    }
    return (long)o;
}
