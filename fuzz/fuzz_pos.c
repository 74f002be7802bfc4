/*
 * fuzz_pos: libFuzzer target for cdc/history's positions. The input is a
 * position's text as a client sends it (postgres_changes_resume.after),
 * read from a heap copy of exactly its length (ASan sees one byte past it).
 *  - cdc_pos_parse agrees, acceptance and value, with a second,
 *    deliberately naive parser written from history.h's format
 *    ("16/B374D848:3": the LSN's two halves as 1 to 8 hex digits either
 *    case, then the ordinal as 1 to 10 decimal digits, at most UINT32_MAX,
 *    nothing else) (model_parse);
 *  - a refused input leaves *out as it was;
 *  - when it accepts, cdc_pos_text of the result is canonical: uppercase
 *    hex and no leading zeros (the input with those stripped and
 *    uppercased: canonical_of), it fits CDC_POS_TEXT_MAX, it parses back
 *    to the same position, and printing that again gives the same text;
 *  - every prefix of an accepted input that is itself a position parses
 *    as the model says (len, not a NUL, ends the text);
 *  - the first 12 bytes, read as a position (any LSN, any ordinal), print
 *    and parse back to themselves, and cdc_pos_cmp orders that position
 *    and the parsed one as (lsn, ord) does.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdc/history.h"

#include "fuzz_check.h"

static int model_dec(unsigned char c) { return c >= '0' && c <= '9' ? c - '0' : -1; }

/* Splits s at the first '/' and the first ':' after it; each field must
 * be all digits of its base, 1 to max of them. */
static int model_field(const uint8_t *s, size_t n, int hex, size_t max, uint64_t *out) {
    if (n < 1 || n > max)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        int d = hex ? fuzz_model_hex(s[i]) : model_dec(s[i]);
        if (d < 0)
            return -1;
        v = v * (hex ? 16 : 10) + (uint64_t)d;
    }
    *out = v;
    return 0;
}

static int model_parse(const uint8_t *s, size_t n, cdc_pos_t *out) {
    const uint8_t *slash = memchr(s, '/', n);
    if (!slash)
        return -1;
    size_t hi_n = (size_t)(slash - s);
    const uint8_t *rest = slash + 1;
    size_t rest_n = n - hi_n - 1;
    const uint8_t *colon = memchr(rest, ':', rest_n);
    if (!colon)
        return -1;
    size_t lo_n = (size_t)(colon - rest);
    const uint8_t *ord_s = colon + 1;
    size_t ord_n = rest_n - lo_n - 1;
    uint64_t hi, lo, ord;
    if (model_field(s, hi_n, 1, 8, &hi) < 0 || model_field(rest, lo_n, 1, 8, &lo) < 0 ||
        model_field(ord_s, ord_n, 0, 10, &ord) < 0 || ord > UINT32_MAX)
        return -1;
    out->lsn = hi << 32 | lo;
    out->ord = (uint32_t)ord;
    return 0;
}

/* The canonical text of an accepted input: each field without its
 * leading zeros (one zero left for zero), hex in uppercase. */
static void canonical_of(const uint8_t *s, size_t n, char *out) {
    size_t o = 0, i = 0;
    while (i < n) {
        size_t end = i;
        while (end < n && s[end] != '/' && s[end] != ':')
            end++;
        size_t start = i;
        while (start + 1 < end && s[start] == '0')
            start++;
        for (size_t k = start; k < end; k++)
            out[o++] = (char)(s[k] >= 'a' && s[k] <= 'f' ? s[k] - 'a' + 'A' : s[k]);
        if (end < n)
            out[o++] = (char)s[end];
        i = end + 1;
    }
    out[o] = '\0';
}

static int model_cmp(cdc_pos_t a, cdc_pos_t b) {
    if (a.lsn != b.lsn)
        return a.lsn < b.lsn ? -1 : 1;
    if (a.ord != b.ord)
        return a.ord < b.ord ? -1 : 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size ? size : 1);
    CHECK(s);
    if (size)
        memcpy(s, data, size);

    const cdc_pos_t sentinel = {0x0123456789ABCDEFULL, 0xDEADBEEF};
    cdc_pos_t p = sentinel, want = sentinel;
    int rc = cdc_pos_parse(s, size, &p);
    int mrc = model_parse(data, size, &want);
    CHECK(rc == 0 || rc == -1);
    CHECK(rc == mrc);
    CHECK(p.lsn == want.lsn && p.ord == want.ord);

    if (rc == 0) {
        char text[CDC_POS_TEXT_MAX + 1];
        memset(text, 'x', sizeof(text));
        cdc_pos_text(p, text);
        size_t tn = strnlen(text, sizeof(text));
        CHECK(tn < CDC_POS_TEXT_MAX);
        CHECK(size < 64); /* accepted inputs are short */
        char canon[64];
        canonical_of(data, size, canon);
        CHECK(strcmp(text, canon) == 0);
        canonical_of((const uint8_t *)text, tn, canon);
        CHECK(strcmp(text, canon) == 0);
        cdc_pos_t back = sentinel;
        CHECK(cdc_pos_parse(text, tn, &back) == 0);
        CHECK(cdc_pos_cmp(back, p) == 0 && back.lsn == p.lsn && back.ord == p.ord);
        char again[CDC_POS_TEXT_MAX];
        cdc_pos_text(back, again);
        CHECK(strcmp(again, text) == 0);
        CHECK(cdc_pos_cmp(p, p) == 0);
        /* prefixes: the same answers as the model */
        for (size_t k = 0; k < size; k++) {
            cdc_pos_t a = sentinel, b = sentinel;
            CHECK(cdc_pos_parse(s, k, &a) == model_parse(data, k, &b));
            CHECK(a.lsn == b.lsn && a.ord == b.ord);
        }
    }

    if (size >= 12) {
        cdc_pos_t q;
        memcpy(&q.lsn, data, 8);
        memcpy(&q.ord, data + 8, 4);
        char text[CDC_POS_TEXT_MAX];
        cdc_pos_text(q, text);
        cdc_pos_t back = sentinel;
        CHECK(cdc_pos_parse(text, strlen(text), &back) == 0);
        CHECK(back.lsn == q.lsn && back.ord == q.ord);
        CHECK(cdc_pos_cmp(q, back) == 0);
        if (rc == 0) {
            CHECK(cdc_pos_cmp(q, p) == model_cmp(q, p));
            CHECK(cdc_pos_cmp(p, q) == -model_cmp(q, p));
        }
    }
    free(s);
    return 0;
}
