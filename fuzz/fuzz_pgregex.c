/*
 * libFuzzer target for cdc/pgrxparse, cdc/pgregex and cdc/pglike. The
 * input is a pattern, a NUL byte and a text (no NUL: the pattern is
 * matched against itself). The pattern is compiled for ~ and ~* and run
 * on the text, and used as a LIKE and ILIKE pattern. Besides "no crash, no
 * leak", it checks the modules' promises: the parser and the compiler
 * agree on what is valid and on the message; errors are non-empty static
 * text; answers are 0 or 1 and deterministic; the budget cut is exact
 * (with the units an unlimited run spent the answer is the same, with one
 * less it is -1 and the budget 0); and the two matchers agree where they
 * must: for an ASCII pattern P without LIKE's special characters, and a
 * text without overlong UTF-8, LIKE '%P%' and ILIKE '%P%' answer as
 * ~ '***=P' and ~* '***=P' do.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdc/pgchar.h"
#include "cdc/pglike.h"
#include "cdc/pgregex.h"
#include "cdc/pgrxparse.h"

#include "fuzz_check.h"

/* Runs a matcher unlimited, then at its exact cost and one below. */
static int regex_checked(const pgregex_t *re, const char *t, size_t n) {
    uint64_t left = UINT64_MAX;
    int r = pgregex_exec(re, t, n, &left);
    CHECK(r == 0 || r == 1);
    uint64_t used = UINT64_MAX - left;
    CHECK(used > 0);
    left = used;
    CHECK(pgregex_exec(re, t, n, &left) == r && left == 0);
    left = used - 1;
    int cut = pgregex_exec(re, t, n, &left);
    CHECK(cut == -1 && left == 0);
    return r;
}

static int like_checked(const char *t, size_t n, const char *p, size_t pn, int fold) {
    uint64_t left = UINT64_MAX;
    int r = pglike_match(t, n, p, pn, fold, &left);
    CHECK(r == 0 || r == 1);
    uint64_t used = UINT64_MAX - left;
    left = used;
    CHECK(pglike_match(t, n, p, pn, fold, &left) == r && left == 0);
    if (used > 0) {
        left = used - 1;
        /* LIKE checks its budget at backtracks: one pattern's length late at most */
        int cut = pglike_match(t, n, p, pn, fold, &left);
        CHECK(cut == -1 && left == 0);
    }
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t pn = nul ? (size_t)(nul - data) : size;
    size_t tn = nul ? size - pn - 1 : pn;
    /* exactly sized copies: ASan sees over-reads */
    char *pat = malloc(pn ? pn : 1), *text = malloc(tn ? tn : 1);
    CHECK(pat != NULL && text != NULL);
    memcpy(pat, data, pn);
    memcpy(text, nul ? nul + 1 : data, tn);

    int ans[2] = {-1, -1};
    for (int icase = 0; icase < 2; icase++) {
        const char *err = NULL, *perr = NULL;
        pgregex_t *re = pgregex_compile(pat, pn, icase, &err);
        pgrx_t rx;
        int prc = pgrx_parse(pat, pn, icase, &rx, &perr);
        if (prc == 0)
            pgrx_free(&rx);
        else
            CHECK(perr && perr[0] && rx.nodes == NULL);
        if (!re) {
            CHECK(err && err[0]);
            /* the compiler refuses what the parser does, with its words, or a program too big */
            CHECK(prc != 0 ? strcmp(err, perr) == 0 : strcmp(err, "regular expression is too complex") == 0);
            continue;
        }
        CHECK(prc == 0);
        ans[icase] = regex_checked(re, text, tn);
        CHECK(regex_checked(re, text, tn) == ans[icase]);
        pgregex_free(re);
    }

    if (!pglike_ends_with_escape(pat, pn)) {
        like_checked(text, tn, pat, pn, 0);
        like_checked(text, tn, pat, pn, 1);
    }

    /* A plain ASCII pattern: LIKE '%P%' is ~ '***=P' (and ILIKE is ~*).
     * They differ only on invalid UTF-8, which a UTF-8 database never
     * holds: LIKE compares bytes, the regex code points, so an overlong
     * sequence ("\xc0\x91") is U+0011 to one and not to the other. */
    int plain = 1;
    for (size_t i = 0; i < pn && plain; i++)
        plain = (unsigned char)pat[i] < 0x80 && pat[i] != '%' && pat[i] != '_' && pat[i] != '\\';
    for (size_t i = 0, l; i < tn && plain; i += l)
        plain = pgc_u8dec((const unsigned char *)text + i, tn - i, &l) >= 0x80 || l == 1;
    if (plain) {
        char *lp = malloc(pn + 2), *rp = malloc(pn + 4);
        CHECK(lp != NULL && rp != NULL);
        lp[0] = '%';
        memcpy(lp + 1, pat, pn);
        lp[pn + 1] = '%';
        memcpy(rp, "***=", 4);
        memcpy(rp + 4, pat, pn);
        for (int fold = 0; fold < 2; fold++) {
            const char *err = NULL;
            pgregex_t *re = pgregex_compile(rp, pn + 4, fold, &err);
            CHECK(re != NULL || strcmp(err, "regular expression is too complex") == 0);
            if (re) {
                CHECK(regex_checked(re, text, tn) == like_checked(text, tn, lp, pn + 2, fold));
                pgregex_free(re);
            }
        }
        free(lp);
        free(rp);
    }
    free(pat);
    free(text);
    return 0;
}
