/*
 * libFuzzer target for cdc/policy. The input is a policy expression as
 * pg_get_expr might print it (the catalog hands the module whatever the
 * database says, including policies a project wrote). It is compiled
 * against a fixed column set and the plan is decided for every
 * combination of a few scripted inputs. Besides "no crash, no leak", it
 * checks the module's own invariants: splitting returns at least one
 * part; a plan has at least one disjunct; a plan marked exact never
 * answers "undecided" once every input is known; and when an input is
 * unknown the answer never contradicts the answer with it known (unknown
 * may only turn a decision into "undecided").
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdc/policy.h"

#include "fuzz_check.h"

static const cdc_column_t cols[] = {{"id", "uuid"},          {"customer_id", "uuid"}, {"status", "booking_status"},
                                    {"is_verified", "bool"}, {"Owner Id", "uuid"},    {"n", "int4"}};
#define NCOLS (sizeof cols / sizeof cols[0])

typedef struct {
    int uid, row; /* answer for every column / predicate */
} in_t;

static int f_uid(void *ud, uint32_t col) {
    (void)col;
    return ((in_t *)ud)->uid;
}
static int f_row(void *ud, uint32_t pred) {
    (void)pred;
    return ((in_t *)ud)->row;
}

/* libFuzzer calls it; declared for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096)
        return 0;
    char *expr = malloc(size + 1);
    memcpy(expr, data, size);
    expr[size] = 0;
    if (strlen(expr) != size) { /* the catalog never passes NUL bytes */
        free(expr);
        return 0;
    }
    char **parts;
    size_t np = cdc_pol_split(expr, "OR", &parts);
    CHECK(np >= 1);
    for (size_t i = 0; i < np; i++)
        free(parts[i]);
    free(parts);

    cdc_pol_terms_t terms = {0};
    cdc_policy_t *p = cdc_pol_compile(expr, cols, NCOLS, 1, &terms);
    CHECK(p != NULL && p->n >= 1);
    int8_t *claims = malloc(terms.nclaims + 1);
    for (int uid = -1; uid <= 1; uid++)
        for (int row = -1; row <= 1; row++)
            for (int cv = -1; cv <= 1; cv++) {
                memset(claims, cv, terms.nclaims + 1);
                in_t in = {uid, row};
                cdc_pol_input_t pin = {f_uid, f_row, claims, &in};
                int r = cdc_pol_decide(p, &pin);
                CHECK(r >= -1 && r <= 1);
                if (p->exact && uid >= 0 && row >= 0 && cv >= 0)
                    CHECK(r != -1);
                /* knowing more never flips a decision */
                if (r != -1)
                    for (int u2 = 0; u2 <= 1; u2++)
                        for (int r2 = 0; r2 <= 1; r2++)
                            for (int c2 = 0; c2 <= 1; c2++) {
                                if ((uid >= 0 && u2 != uid) || (row >= 0 && r2 != row) || (cv >= 0 && c2 != cv))
                                    continue;
                                int8_t *k = malloc(terms.nclaims + 1);
                                memset(k, c2, terms.nclaims + 1);
                                in_t in2 = {u2, r2};
                                cdc_pol_input_t pin2 = {f_uid, f_row, k, &in2};
                                int r2v = cdc_pol_decide(p, &pin2);
                                CHECK(r2v == r || r2v == -1);
                                free(k);
                            }
            }
    free(claims);
    cdc_pol_free(p);
    cdc_pol_terms_clear(&terms);
    free(expr);
    return 0;
}
