/*
 * cdc/pglike: PostgreSQL's LIKE and ILIKE on text (MatchText semantics
 * for UTF-8: '_' is one character, '%' any run, '\' escapes the next
 * byte), as an iterative matcher whose work is charged to a budget.
 * ILIKE folds ASCII letters only, as under the "C" collation.
 *
 * It must never recurse, never allocate, and never do more than about
 * (pattern length x text length) steps, however the pattern is written.
 */
#ifndef TC_CDC_PGLIKE_H
#define TC_CDC_PGLIKE_H

#include <stddef.h>
#include <stdint.h>

/* Does t[0..tn) match pattern p[0..pn)? fold: ILIKE. Each matcher step,
 * and each byte skipped looking for a piece's first literal, costs one
 * unit of *left, checked at each backtrack: a run may overrun the budget
 * by at most one pattern length before the answer -1 (then *left is 0).
 * Returns 1, 0, or -1 (budget out). The pattern must not end in an escape
 * (pglike_ends_with_escape). */
int pglike_match(const char *t, size_t tn, const char *p, size_t pn, int fold, uint64_t *left);

/* A pattern whose last character is an unescaped '\': PostgreSQL raises
 * "LIKE pattern must not end with escape character" when it gets there. */
int pglike_ends_with_escape(const char *p, size_t n);

#endif
