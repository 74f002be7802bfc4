/*
 * cdc/policy: compiles a role's row-level security expression (its
 * permissive policies OR-ed, as pg_get_expr prints them) into a plan the
 * CDC thread can often decide without the database. The expression is
 * split into top-level OR-ed disjuncts, each into top-level AND-ed
 * conjuncts, and each conjunct is recognised as one of:
 *   UID    col = (SELECT auth.uid())          the row's col vs the `sub` claim
 *   CLAIM  (SELECT fn() AS x), fn without args  depends on the claims (and on
 *                                                tables fn reads), not on the row
 *   ROW    col = 'literal'::type, a bare boolean col, col IS [NOT] NULL
 *                                              depends on the row only (compiled
 *                                              to a cdc/filter condition)
 *   TRUE   true
 * A disjunct with any other conjunct is "opaque". A row is visible iff
 * some disjunct is true; so one decided-true disjunct proves visibility,
 * and when no disjunct is opaque the plan decides exactly either way.
 * Opaque cases go to the database. I/O-free; it never runs SQL.
 */
#ifndef TC_CDC_POLICY_H
#define TC_CDC_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "cdc/filter.h"

enum { POL_UID = 1, POL_CLAIM, POL_ROW, POL_TRUE };

typedef struct {
    uint8_t kind;
    uint32_t arg; /* UID: column; CLAIM: index in the term list; ROW: index in the predicate list */
} pol_term_t;

typedef struct {
    pol_term_t *t;
    size_t n;
    uint8_t opaque; /* has a conjunct the plan cannot evaluate */
} pol_disj_t;

typedef struct {
    pol_disj_t *d;
    size_t n;
    uint8_t exact; /* no opaque disjunct: the plan decides both ways */
} cdc_policy_t;

/* Distinct CLAIM terms and ROW predicates, shared by the plans of one
 * catalog. claims[i] is the term's SQL text (a scalar boolean expression to
 * evaluate under the subscriber's claims) and fn[i] the function it calls
 * ("is_admin", "public.is_admin"); rows[i] is a filter on one table's
 * columns (predicates of different tables are distinct entries). */
typedef struct {
    char **claims, **fn;
    size_t nclaims;
    cdc_filter_t **rows;
    uint32_t *row_table; /* oid of the table rows[i] belongs to */
    size_t nrows;
} cdc_pol_terms_t;

/* Compiles expr for a table with these columns (oid: the table's).
 * Returns a plan (cdc_pol_free) — never NULL; a plan whose every disjunct
 * is opaque helps nothing but is valid. New terms are added to terms. */
cdc_policy_t *cdc_pol_compile(const char *expr, const cdc_column_t *cols, size_t ncols, uint32_t oid,
                              cdc_pol_terms_t *terms);
void cdc_pol_free(cdc_policy_t *p);
void cdc_pol_terms_clear(cdc_pol_terms_t *terms);

/* Decision for one row and one subscriber. uid_eq(col) says whether the
 * row's col equals the subscriber's sub; claim[i] is CLAIM term i's value
 * for the subscriber (1 true, 0 false or NULL, -1 unknown); rowbit(i)
 * whether ROW predicate i holds on the row. Returns 1 visible, 0 not
 * visible, -1 undecided (ask the database). */
typedef struct {
    int (*uid_eq)(void *ud, uint32_t col);
    int (*row)(void *ud, uint32_t pred);
    const int8_t *claim;
    void *ud;
} cdc_pol_input_t;
int cdc_pol_decide(const cdc_policy_t *p, const cdc_pol_input_t *in);

/* Exposed for tests: splits at top-level " OR " (sep "OR") or " AND "
 * after stripping redundant outer parentheses, skipping quoted text.
 * Returns the number of parts; parts[i] are new strings (free each). */
size_t cdc_pol_split(const char *expr, const char *sep, char ***parts);

#endif
