/*
 * cdc/pgregex: PostgreSQL's ~ and ~* on text, for patterns cdc/pgrxparse
 * accepts: compiled to a Thompson NFA and run over UTF-8 text in one pass,
 * with the work charged to a budget. A yes/no answer needs no submatch
 * rules, so it equals PostgreSQL's; classes and case folding are ASCII,
 * as under the "C" collation.
 *
 * It must never backtrack (work is at most about program size x text
 * length), never allocate while matching (its state is on the stack), and
 * never run past the budget by more than one text position.
 */
#ifndef TC_CDC_PGREGEX_H
#define TC_CDC_PGREGEX_H

#include <stddef.h>
#include <stdint.h>

typedef struct pgregex pgregex_t;

/* Compiles pattern for ~ (icase 0) or ~* (icase 1). Returns a program
 * (free with pgregex_free) or NULL with a static message in *err: the
 * parser's, or "regular expression is too complex" past 2048 instructions. */
pgregex_t *pgregex_compile(const char *pat, size_t patlen, int icase, const char **err);
void pgregex_free(pgregex_t *re);

/* Does the pattern match anywhere in s[0..n)? Charges *left per text
 * position: the instructions its closure entered plus the threads tried on
 * its character (a bracket set also costs its ranges for a non-ASCII
 * character). The charge follows the position's work, so it may overrun
 * by one position (a few thousand units at most). Returns 1, 0, or -1
 * when *left ran out (then *left is 0). */
int pgregex_exec(const pgregex_t *re, const char *s, size_t n, uint64_t *left);

#endif
