/*
 * fuzz_redact: libFuzzer target for util/redact. Every input is redacted
 * whole and cut at every 1/8 of its length (trace() redacts a clipped
 * frame), and as a finished log line in place. It asserts what must hold
 * for any input: no crash or leak; no JWT-shaped run in any output; valid
 * JSON in, valid JSON out; an input with no token and no secret key comes
 * back byte for byte; the in-place form never grows.
 */
#include "util/redact.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_no_jwt(const char *s, size_t n, const uint8_t *in, size_t inlen) {
    for (size_t i = 0; i < n; i++)
        if (redact_jwt_len(s + i, n - i)) {
            fprintf(stderr, "fuzz_redact: a JWT-shaped run survived at %zu of %zu (input %zu bytes)\n", i, n, inlen);
            (void)in;
            abort();
        }
}

/* Redacts data[0..len), checks the invariants, frees what it made. */
static void one(const uint8_t *data, size_t len, int whole) {
    buf_t *b = buf_new(len + 16);
    redact_json((const char *)data, len, &b);
    check_no_jwt((const char *)b->data, b->len, data, len);
    if (whole) {
        json_error_t err;
        json_t *in = json_loadb((const char *)data, len, JSON_DECODE_ANY, &err);
        if (in) {
            json_t *out = json_loadb((const char *)b->data, b->len, JSON_DECODE_ANY, &err);
            if (!out) {
                fprintf(stderr, "fuzz_redact: valid JSON became invalid: %s\n", err.text);
                abort();
            }
            json_decref(out);
            json_decref(in);
        }
        /* No "eyJ", no escape (which could spell one), no key at all (so no
         * secret one): nothing may change. */
        if (!memmem(data, len, "eyJ", 3) && !memchr(data, '\\', len) && !memchr(data, ':', len) &&
            (b->len != len || memcmp(b->data, data, len) != 0)) {
            fprintf(stderr, "fuzz_redact: text without secrets was changed\n");
            abort();
        }
    }
    buf_unref(b);
}

/* libFuzzer calls it; declared for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    one(data, len, 1);
    for (int k = 1; k < 8; k++)
        one(data, len * (size_t)k / 8, 0);

    char *line = malloc(len + 1);
    if (!line)
        abort();
    memcpy(line, data, len);
    size_t n = redact_jwts_inplace(line, len);
    if (n > len)
        abort();
    check_no_jwt(line, n, data, len);
    free(line);
    return 0;
}
