/*
 * libFuzzer target for cdc/filter. The input is a filter string, then
 * optionally a NUL byte and a row: cells separated by 0x1E, a cell that is
 * exactly 0x15 is SQL NULL, exactly 0x16 an unchanged TOAST value (unknown).
 * The filter is parsed against a fixed column set of every supported kind
 * and evaluated on the fuzzed row and on fixed rows of typical values.
 * Besides "no crash, no leak", it checks invariants of the module itself:
 * errors are NUL-terminated within the buffer, matching is deterministic,
 * a single condition and its "not." form are validated alike and never both
 * match, and the eq key of a single condition matches its own value.
 * cdc_filter_match_budget runs with small budgets taken from the input:
 * when it answers (0/1) it agrees with cdc_filter_match, when it runs out
 * (-1) the budget is 0, and the cut is exact: with the units an unlimited
 * evaluation used it answers, with one less it runs out.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdc/filter.h"

#include "fuzz_check.h"

static const cdc_column_t cols[] = {
    {"id", "int4"},      {"u", "uuid"},    {"st", "mood"},   {"t", "text"},         {"c", "bpchar"}, {"n", "numeric"},
    {"f", "float8"},     {"r", "float4"},  {"b", "bool"},    {"ts", "timestamptz"}, {"d", "date"},   {"tm", "time"},
    {"lt", "timestamp"}, {"tz", "timetz"}, {"a", "_int4"},   {"s", "int2"},         {"g", "int8"},   {"e", "citext"},
    {"nm", "name"},      {"j", "jsonb"},   {"v", "varchar"}, {"x", NULL},
};
#define NCOLS (sizeof cols / sizeof cols[0])

/* Typical cells, in pgoutput's text forms (column order as above). */
static const char *const fixed_rows[][NCOLS] = {
    {"7",
     "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
     "happy",
     "hello",
     "ab    ",
     "1.50",
     "1.5",
     "0.1",
     "t",
     "2024-01-01 10:00:00+00",
     "2024-01-01",
     "10:00:00",
     "2024-01-01 10:00:00",
     "10:00:00+01",
     "{1,2}",
     "-3",
     "9223372036854775807",
     "Ann@Example.com",
     "alice",
     "{\"k\": 1}",
     "x,y",
     "opaque"},
    {"-2147483648",
     "00000000-0000-0000-0000-000000000000",
     "sad",
     "",
     "",
     "NaN",
     "NaN",
     "-Infinity",
     "f",
     "infinity",
     "0044-03-15 BC",
     "24:00:00",
     "-infinity",
     "00:00:00-05:30",
     "{}",
     "0",
     "0",
     "",
     "",
     "null",
     "",
     ""},
    {NULL,     NULL,
     NULL,     "\xc3\xa9\xe6\x97\xa5",
     NULL,     "-0.000001",
     "1e+308", NULL,
     NULL,     "0044-03-15 10:00:00.123456+00 BC",
     NULL,     "23:59:59.999999",
     NULL,     NULL,
     NULL,     NULL,
     NULL,     NULL,
     NULL,     NULL,
     NULL,     NULL},
};
#define NFIXED (sizeof fixed_rows / sizeof fixed_rows[0])

/* Budgets for the budgeted evaluation, from the input's bytes (set once per input). */
static uint64_t budget_seed;

static void check_budget(const cdc_filter_t *f, const cdc_cell_t *cells, const uint8_t *unknown, int r) {
    uint64_t b = UINT64_MAX;
    CHECK(cdc_filter_match_budget(f, cells, unknown, &b) == r);
    uint64_t used = UINT64_MAX - b;
    uint64_t tries[5] = {budget_seed % 64, used ? budget_seed % used : 0, used, used ? used - 1 : 0,
                         (budget_seed >> 8) % 4096};
    for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
        b = tries[i];
        int rb = cdc_filter_match_budget(f, cells, unknown, &b);
        if (tries[i] >= used) {
            CHECK(rb == r);
            CHECK(b == tries[i] - used);
        } else {
            CHECK(rb == -1);
            CHECK(b == 0);
        }
    }
}

static int match_twice(const cdc_filter_t *f, const cdc_cell_t *cells, const uint8_t *unknown) {
    int r = cdc_filter_match(f, cells, unknown);
    CHECK(r == 0 || r == 1);
    CHECK(cdc_filter_match(f, cells, unknown) == r);
    check_budget(f, cells, unknown, r);
    return r;
}

/* "col=op.v" -> "col=not.op.v" when the filter is one condition without
 * "not."; NULL otherwise. The caller frees. */
static char *negated(const char *filter) {
    if (strchr(filter, ',') != NULL)
        return NULL;
    const char *eq = strchr(filter, '=');
    if (!eq || strncmp(eq + 1, "not.", 4) == 0)
        return NULL;
    size_t n = strlen(filter);
    char *out = malloc(n + 5);
    CHECK(out != NULL);
    size_t head = (size_t)(eq + 1 - filter);
    memcpy(out, filter, head);
    memcpy(out + head, "not.", 4);
    memcpy(out + head + 4, eq + 1, n - head + 1);
    return out;
}

/* Fills cells/unknown from the row part of the input. */
static void read_row(const uint8_t *p, size_t n, cdc_cell_t *cells, uint8_t *unknown) {
    size_t c = 0, start = 0;
    for (size_t i = 0; i <= n && c < NCOLS; i++) {
        if (i < n && p[i] != 0x1E)
            continue;
        const char *s = (const char *)p + start;
        size_t len = i - start;
        if (len == 1 && s[0] == 0x15) {
            cells[c].data = NULL;
        } else if (len == 1 && s[0] == 0x16) {
            cells[c].data = NULL;
            unknown[c] = 1;
        } else {
            cells[c].data = s;
            cells[c].len = len;
        }
        c++;
        start = i + 1;
    }
}

/* libFuzzer calls it; declared for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    budget_seed = 1469598103934665603ULL;
    for (size_t i = 0; i < size; i++)
        budget_seed = (budget_seed ^ data[i]) * 1099511628211ULL;
    const uint8_t *nul = memchr(data, 0, size);
    size_t flen = nul ? (size_t)(nul - data) : size;
    char *filter = malloc(flen + 1);
    CHECK(filter != NULL);
    memcpy(filter, data, flen);
    filter[flen] = '\0';

    char err[96];
    memset(err, 'x', sizeof err);
    cdc_filter_t *f = cdc_filter_parse(filter, cols, NCOLS, err, sizeof err);
    if (!f) {
        CHECK(memchr(err, '\0', sizeof err) != NULL && err[0] != '\0');
    } else {
        const size_t *idx;
        size_t nidx = cdc_filter_columns(f, &idx);
        for (size_t i = 0; i < nidx; i++)
            CHECK(idx[i] < NCOLS);
    }

    char *neg = f ? negated(filter) : NULL;
    cdc_filter_t *g = neg ? cdc_filter_parse(neg, cols, NCOLS, err, sizeof err) : NULL;
    if (neg)
        CHECK(g != NULL); /* "not." never changes what is valid */

    /* Rows: the fuzzed one, then the fixed ones. */
    for (size_t r = 0; f && r <= NFIXED; r++) {
        cdc_cell_t cells[NCOLS];
        uint8_t unknown[NCOLS];
        memset(cells, 0, sizeof cells);
        memset(unknown, 0, sizeof unknown);
        if (r == NFIXED) {
            if (!nul)
                break;
            read_row(nul + 1, size - flen - 1, cells, unknown);
        } else {
            for (size_t c = 0; c < NCOLS; c++)
                if (fixed_rows[r][c]) {
                    cells[c].data = fixed_rows[r][c];
                    cells[c].len = strlen(fixed_rows[r][c]);
                }
        }
        int m = match_twice(f, cells, unknown);
        if (g)
            CHECK(m + match_twice(g, cells, unknown) <= 1);
    }

    /* The eq key of a lone condition is a value that satisfies it. */
    size_t kcol;
    const char *kval;
    size_t klen;
    if (f && cdc_filter_eq_key(f, &kcol, &kval, &klen)) {
        CHECK(kcol < NCOLS);
        char *copy = malloc(klen + 1); /* reads every byte: ASan checks the view */
        CHECK(copy != NULL);
        memcpy(copy, kval, klen);
        if (!strchr(filter, ',')) {
            cdc_cell_t cells[NCOLS];
            memset(cells, 0, sizeof cells);
            cells[kcol].data = copy;
            cells[kcol].len = klen;
            CHECK(cdc_filter_match(f, cells, NULL) == 1);
            check_budget(f, cells, NULL, 1);
        }
        free(copy);
    }

    cdc_filter_free(g);
    free(neg);
    cdc_filter_free(f);
    free(filter);
    return 0;
}
