/*
 * util/hex: the value of one hexadecimal digit, for every decoder that
 * reads them (percent-encoding, JSON \u escapes, bytea, uuids). It never
 * allocates or decides what a malformed escape means.
 */
#ifndef TC_UTIL_HEX_H
#define TC_UTIL_HEX_H

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

#endif
