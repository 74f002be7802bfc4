/*
 * cdc/pgrxparse: the syntax of PostgreSQL's advanced regular expressions
 * (AREs), read into a tree for cdc/pgregex to compile: directors (***= and
 * ***:), embedded options, alternation, quantifiers and bounds, brackets
 * with ranges and [:class:]es, the escapes. What cannot be matched by an
 * NFA without submatch rules, or is rarely used, is refused with a
 * message: back-references, lookahead and lookbehind, octal escapes,
 * collating elements and equivalence classes, options b, e and x.
 *
 * It must never recurse deeper than PGRX_MAX_DEPTH groups, never accept a
 * pattern PostgreSQL refuses, and never decide how the tree is matched.
 */
#ifndef TC_CDC_PGRXPARSE_H
#define TC_CDC_PGRXPARSE_H

#include <stddef.h>
#include <stdint.h>

/* Group nesting accepted: the parser recurses once per group. */
#define PGRX_MAX_DEPTH 64
/* RE_DUP_MAX: the largest bound of {m,n}. */
#define PGRX_DUPMAX 255

/* Character class bits (ASCII only, as under the C collation). */
enum {
    PGRX_CC_ALPHA = 1 << 0,
    PGRX_CC_DIGIT = 1 << 1,
    PGRX_CC_ALNUM = 1 << 2,
    PGRX_CC_UPPER = 1 << 3,
    PGRX_CC_LOWER = 1 << 4,
    PGRX_CC_SPACE = 1 << 5,
    PGRX_CC_PUNCT = 1 << 6,
    PGRX_CC_PRINT = 1 << 7,
    PGRX_CC_GRAPH = 1 << 8,
    PGRX_CC_CNTRL = 1 << 9,
    PGRX_CC_XDIGIT = 1 << 10,
    PGRX_CC_BLANK = 1 << 11,
    PGRX_CC_WORD = 1 << 12,
};

/* Node kinds. */
enum { PGRX_EMPTY, PGRX_CHAR, PGRX_ANY, PGRX_SET, PGRX_CAT, PGRX_ALT, PGRX_REP, PGRX_ASSERT };

/* Assertions (PGRX_ASSERT's aop): ^ $ \A \Z \m \M \y \Y. */
enum { PGRX_BOL, PGRX_EOL, PGRX_BOS, PGRX_EOS, PGRX_WBEG, PGRX_WEND, PGRX_WB, PGRX_NWB };

/* A node; children are linked through next, -1 ends a list. */
typedef struct {
    uint8_t kind;
    uint8_t aop;      /* PGRX_ASSERT */
    int32_t first;    /* CAT/ALT: first child; REP: the child */
    int32_t last;     /* CAT/ALT: last child (for appending) */
    int32_t next;     /* next sibling */
    uint32_t c;       /* PGRX_CHAR: the code point */
    int32_t set;      /* PGRX_SET: index into sets */
    int32_t min, max; /* PGRX_REP; max -1 = unbounded */
} pgrx_node_t;

/* A bracket expression or class escape: what it contains, before
 * negation and case folding (the matcher applies both). */
typedef struct {
    uint8_t neg;
    uint32_t classes;    /* PGRX_CC_* the set contains */
    uint32_t notclasses; /* PGRX_CC_* whose complement the set contains (\D \S \W in brackets) */
    size_t r0, nr;       /* ranges[r0 .. r0 + nr) */
} pgrx_set_t;

typedef struct {
    uint32_t lo, hi;
} pgrx_range_t;

/* A parsed pattern. Owns its arrays: free with pgrx_free. */
typedef struct {
    pgrx_node_t *nodes;
    size_t nn;
    int32_t root;
    pgrx_set_t *sets;
    size_t nsets;
    pgrx_range_t *ranges;
    size_t nranges;
    uint8_t icase;    /* ~* or (?i) */
    uint8_t nlstop;   /* . and [^...] do not match a newline */
    uint8_t nlanchor; /* ^ and $ match at newlines */
} pgrx_t;

/* Parses pattern (UTF-8; invalid bytes are characters of their own) for ~
 * (icase 0) or ~* (icase 1) into *out. Returns 0, or -1 with *err set to a
 * static message ("parentheses () not balanced", ...) and *out empty. */
int pgrx_parse(const char *pat, size_t patlen, int icase, pgrx_t *out, const char **err);
void pgrx_free(pgrx_t *rx);

#endif
