/*
 * fuzz_check.h: what every fuzz target shares. CHECK aborts (which
 * libFuzzer reports, with the input) naming the file, line and condition
 * that failed; fuzz_model_hex is the naive hex digit the models some
 * targets compare against are written with.
 */
#ifndef TC_FUZZ_CHECK_H
#define TC_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                                   \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

/* The value of hex digit c (either case), or -1. */
static inline int fuzz_model_hex(unsigned char c) {
    static const char digits[] = "0123456789abcdef";
    if (c >= 'A' && c <= 'F')
        c = (unsigned char)(c - 'A' + 'a');
    const char *d = c ? strchr(digits, c) : NULL;
    return d ? (int)(d - digits) : -1;
}

#endif
