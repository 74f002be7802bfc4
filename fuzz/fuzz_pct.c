/*
 * fuzz_pct: libFuzzer target for util/pct. The first input byte picks an
 * output bound; the rest is the encoded text. For every flag set:
 *  - pct_decode_dup agrees, status and bytes, with a second, deliberately
 *    naive decoder written from pct.h's rules (model_decode);
 *  - the output is never longer than the input, holds no NUL, and its
 *    reported length is its strlen;
 *  - PCT_PLUS_SPACE is exactly "turn every '+' into ' ', then decode"
 *    ('+' is never a hex digit, so no escape changes meaning);
 *  - PCT_STRICT only refuses: when it accepts, the lenient decode gives the
 *    same bytes, and when only it refuses, the reason is PCT_E_ESCAPE;
 *  - pct_decode into a heap buffer of exactly the chosen bound (ASan sees
 *    one byte past it) succeeds iff the whole output and its NUL fit, with
 *    the same bytes, and otherwise refuses.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/pct.h"

#include "fuzz_check.h"

/* The rules, one by one, into out (room for n + 1). */
static pct_status_t model_decode(const uint8_t *s, size_t n, unsigned flags, char *out, size_t *outn) {
    size_t i = 0, o = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t used = 1;
        if (c == '%') {
            int ok = n - i >= 3 && fuzz_model_hex(s[i + 1]) >= 0 && fuzz_model_hex(s[i + 2]) >= 0;
            if (ok) {
                c = (unsigned char)(fuzz_model_hex(s[i + 1]) * 16 + fuzz_model_hex(s[i + 2]));
                used = 3;
            } else if (flags & PCT_STRICT) {
                return PCT_E_ESCAPE;
            }
        } else if (c == '+' && (flags & PCT_PLUS_SPACE)) {
            c = ' ';
        }
        if (c == 0)
            return PCT_E_NUL;
        out[o++] = (char)c;
        i += used;
    }
    out[o] = '\0';
    *outn = o;
    return PCT_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    size_t bound_sel = data[0];
    const char *s = (const char *)data + 1;
    size_t n = size - 1;

    char *plus = malloc(n + 1), *model = malloc(n + 1);
    CHECK(plus && model);
    for (size_t i = 0; i < n; i++)
        plus[i] = s[i] == '+' ? ' ' : s[i];

    char *dec[4];
    size_t len[4];
    for (unsigned flags = 0; flags < 4; flags++) {
        size_t dl = SIZE_MAX, ml = SIZE_MAX;
        dec[flags] = pct_decode_dup(s, n, flags, &dl);
        len[flags] = dl;
        pct_status_t st = model_decode(data + 1, n, flags, model, &ml);
        CHECK((st == PCT_OK) == (dec[flags] != NULL));
        if (dec[flags]) {
            CHECK(dl == ml && memcmp(dec[flags], model, dl + 1) == 0);
            CHECK(dl <= n && strlen(dec[flags]) == dl);
        }

        /* the status, not only success, matches the model */
        char *tmp = malloc(n + 1);
        CHECK(tmp);
        CHECK(pct_decode(s, n, flags, tmp, n + 1, NULL) == st);
        free(tmp);

        /* the bound: a buffer of exactly outlen bytes */
        size_t outlen = bound_sel % (n + 2);
        char *b = malloc(outlen ? outlen : 1);
        CHECK(b);
        size_t bl = SIZE_MAX;
        pct_status_t bs = pct_decode(s, n, flags, outlen ? b : NULL, outlen, &bl);
        if (st == PCT_OK && ml + 1 <= outlen)
            CHECK(bs == PCT_OK && bl == ml && memcmp(b, model, ml + 1) == 0);
        else if (st == PCT_OK)
            CHECK(bs == PCT_E_SPACE && bl == SIZE_MAX);
        else
            CHECK(bs == st || bs == PCT_E_SPACE);
        free(b);
    }

    /* '+' as space is the same as replacing it first */
    for (unsigned strict = 0; strict <= PCT_STRICT; strict += PCT_STRICT) {
        char *viaplus = pct_decode_dup(plus, n, strict, NULL);
        char *direct = dec[strict | PCT_PLUS_SPACE];
        CHECK(!viaplus == !direct);
        CHECK(!direct || strcmp(viaplus, direct) == 0);
        free(viaplus);
    }
    /* strict only refuses */
    for (unsigned p = 0; p <= PCT_PLUS_SPACE; p++) {
        char *strict = dec[p | PCT_STRICT], *lenient = dec[p];
        if (strict)
            CHECK(lenient && strcmp(strict, lenient) == 0);
        else if (lenient)
            CHECK(pct_decode(s, n, p | PCT_STRICT, model, n + 1, NULL) == PCT_E_ESCAPE);
    }

    for (int i = 0; i < 4; i++)
        free(dec[i]);
    free(plus);
    free(model);
    return 0;
}
