/*
 * util/hex: the value of one hexadecimal digit, for every decoder that
 * reads them (percent-encoding, JSON \u escapes, bytea, uuids). It never
 * allocates or decides what a malformed escape means.
 */
#ifndef TC_UTIL_HEX_H
#define TC_UTIL_HEX_H

#include <stddef.h>
#include <stdint.h>

/* 0..15 for '0'-'9', 'a'-'f', 'A'-'F'; -1 for anything else. c is a byte
 * value (pass (unsigned char) for a char). */
static inline int hex_digit(int c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* PostgreSQL's hex text form of bytea ("\\x0102ff", what the server gets with
 * bytea_output=hex) into out, which has room for (n - 2) / 2 bytes.
 * Returns the byte count, or -1 if s is not that form. */
static inline long hex_bytea_decode(const char *s, size_t n, uint8_t *out) {
    if (n < 2 || s[0] != '\\' || s[1] != 'x' || (n - 2) % 2)
        return -1;
    size_t k = (n - 2) / 2;
    for (size_t i = 0; i < k; i++) {
        int hi = hex_digit((unsigned char)s[2 + 2 * i]), lo = hex_digit((unsigned char)s[3 + 2 * i]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return (long)k;
}

#endif
