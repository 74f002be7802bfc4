/*
 * cdc/pgregex: see pgregex.h. Owns the NFA program (instructions, bracket
 * sets with their ASCII answers precomputed, the start-character filter),
 * its generation from cdc/pgrxparse's tree, and the matcher, which runs
 * every thread in lockstep over the text (Pike/Thompson simulation: one
 * closure per position, marks instead of a visited set per thread). It
 * must never allocate while matching (its state is on the stack, sized by
 * RE_MAX_INST), never backtrack, and never change PostgreSQL's answer.
 */
#include "cdc/pgregex.h"
#include "cdc/pgchar.h"
#include "cdc/pgrxparse.h"
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

/* Program size: the matcher keeps its state on the stack (about 10 bytes
 * per instruction). */
#define RE_MAX_INST 2048

/* Instructions. The assertions, RI_BOL on, are in PGRX_BOL.. order. */
enum {
    RI_CHAR,
    RI_ANY,
    RI_ANYNL,
    RI_SET,
    RI_SPLIT,
    RI_JMP,
    RI_MATCH,
    RI_BOL,
    RI_EOL,
    RI_BOS,
    RI_EOS,
    RI_WBEG,
    RI_WEND,
    RI_WB,
    RI_NWB,
};
_Static_assert(RI_EOL - RI_BOL == PGRX_EOL && RI_BOS - RI_BOL == PGRX_BOS && RI_EOS - RI_BOL == PGRX_EOS &&
                   RI_WBEG - RI_BOL == PGRX_WBEG && RI_WEND - RI_BOL == PGRX_WEND && RI_WB - RI_BOL == PGRX_WB &&
                   RI_NWB - RI_BOL == PGRX_NWB && PGRX_BOL == 0,
               "assertion instructions follow pgrxparse's order");

typedef struct {
    uint8_t op;
    uint32_t a, b; /* CHAR: the code point and its other case; SET: index; SPLIT/JMP: targets */
} rinst_t;

typedef struct {
    uint8_t neg;
    uint32_t classes;    /* PGRX_CC_* the set contains */
    uint32_t notclasses; /* PGRX_CC_* whose complement it contains (\D \S \W) */
    size_t r0, nr;       /* ranges[r0 .. r0 + nr) */
    uint64_t ascii[2];   /* set_match's answer for each ASCII character, made at compile */
} rset_t;

struct pgregex {
    rinst_t *code;
    size_t n;
    rset_t *sets;
    size_t nsets;
    pgrx_range_t *ranges;
    size_t nranges;
    uint8_t icase, nlstop, nlanchor;
    uint8_t anchored;  /* starts with \A, or ^ without newline anchors: can only match at 0 */
    uint8_t first_any; /* a match may start with any character, or consume none */
    uint64_t first[2]; /* else: the ASCII bytes a match may start with (non-ASCII: always tried) */
};

static int cc_test(uint32_t cls, uint32_t c) {
    if (c > 127)
        return 0;
    int ch = (int)c;
    if ((cls & PGRX_CC_ALPHA) && pgc_isalpha(ch))
        return 1;
    if ((cls & PGRX_CC_DIGIT) && pgc_isdigit(ch))
        return 1;
    if ((cls & PGRX_CC_ALNUM) && pgc_isalnum(ch))
        return 1;
    if ((cls & PGRX_CC_UPPER) && ch >= 'A' && ch <= 'Z')
        return 1;
    if ((cls & PGRX_CC_LOWER) && ch >= 'a' && ch <= 'z')
        return 1;
    if ((cls & PGRX_CC_SPACE) && pgc_isspace(ch))
        return 1;
    if ((cls & PGRX_CC_PUNCT) && ch > 32 && ch < 127 && !pgc_isalnum(ch))
        return 1;
    if ((cls & PGRX_CC_PRINT) && ch >= 32 && ch < 127)
        return 1;
    if ((cls & PGRX_CC_GRAPH) && ch > 32 && ch < 127)
        return 1;
    if ((cls & PGRX_CC_CNTRL) && (ch < 32 || ch == 127))
        return 1;
    if ((cls & PGRX_CC_XDIGIT) && pgc_isxdigit(ch))
        return 1;
    if ((cls & PGRX_CC_BLANK) && (ch == ' ' || ch == '\t'))
        return 1;
    if ((cls & PGRX_CC_WORD) && (pgc_isalnum(ch) || ch == '_'))
        return 1;
    return 0;
}

static int notcc_test(uint32_t notcls, uint32_t c) {
    for (uint32_t bit = 1; bit <= PGRX_CC_WORD; bit <<= 1)
        if ((notcls & bit) && !cc_test(bit, c))
            return 1;
    return 0;
}

static uint32_t other_case(uint32_t c) {
    if (c < 128) {
        int u = pgc_toupper((int)c), l = pgc_tolower((int)c);
        return (uint32_t)(u != (int)c ? u : l);
    }
    return c;
}

static int set_has(const pgregex_t *re, const rset_t *st, uint32_t c) {
    if (cc_test(st->classes, c) || notcc_test(st->notclasses, c))
        return 1;
    for (size_t i = 0; i < st->nr; i++) {
        const pgrx_range_t *r = &re->ranges[st->r0 + i];
        if (c >= r->lo && c <= r->hi)
            return 1;
    }
    return 0;
}

/* The set's answer for c, from its classes and ranges. */
static int set_match_slow(const pgregex_t *re, const rset_t *st, uint32_t c) {
    int m = set_has(re, st, c);
    if (!m && re->icase) {
        uint32_t o = other_case(c);
        if (o != c)
            m = set_has(re, st, o);
    }
    if (st->neg)
        return !m && !(re->nlstop && c == '\n');
    return m;
}

/* Most text is ASCII: one bit test instead of classes and a range scan. */
static int set_match(const pgregex_t *re, const rset_t *st, uint32_t c) {
    if (c < 128)
        return (int)((st->ascii[c >> 6] >> (c & 63)) & 1);
    return set_match_slow(re, st, c);
}

/* Fills every set's ASCII answers; icase and nlstop must be final. */
static void set_fill_ascii(pgregex_t *re) {
    for (size_t i = 0; i < re->nsets; i++) {
        rset_t *st = &re->sets[i];
        st->ascii[0] = st->ascii[1] = 0;
        for (uint32_t c = 0; c < 128; c++)
            if (set_match_slow(re, st, c))
                st->ascii[c >> 6] |= UINT64_C(1) << (c & 63);
    }
}

/* --- code generation ------------------------------------------------- */

typedef struct {
    rinst_t *code;
    size_t n;
    int over;
    size_t steps; /* emission calls: "(()){255}" nests emit nothing, forever */
} remit_t;

#define RE_NO_PATCH UINT32_MAX
#define RE_MAX_EMIT_STEPS 100000

static size_t re_put(remit_t *em, uint8_t op, uint32_t a, uint32_t b) {
    if (em->n >= RE_MAX_INST) {
        em->over = 1;
        return em->n;
    }
    em->code[em->n].op = op;
    em->code[em->n].a = a;
    em->code[em->n].b = b;
    return em->n++;
}

static void re_emit(const pgrx_t *rx, int32_t id, remit_t *em) {
    if (em->over)
        return;
    if (++em->steps > RE_MAX_EMIT_STEPS) {
        em->over = 1;
        return;
    }
    const pgrx_node_t *nd = &rx->nodes[id];
    switch (nd->kind) {
    case PGRX_EMPTY: return;
    case PGRX_CHAR: {
        uint32_t alt = rx->icase ? other_case(nd->c) : nd->c;
        re_put(em, RI_CHAR, nd->c, alt);
        return;
    }
    case PGRX_ANY: re_put(em, rx->nlstop ? RI_ANYNL : RI_ANY, 0, 0); return;
    case PGRX_SET: re_put(em, RI_SET, (uint32_t)nd->set, 0); return;
    case PGRX_ASSERT: re_put(em, (uint8_t)(RI_BOL + nd->aop), 0, 0); return; /* same order */
    case PGRX_CAT:
        for (int32_t ch = nd->first; ch >= 0 && !em->over; ch = rx->nodes[ch].next)
            re_emit(rx, ch, em);
        return;
    case PGRX_ALT: {
        /* The JMPs out of each branch are chained through their targets
         * (RE_NO_PATCH ends the chain) and patched once the end is known. */
        uint32_t jumps = RE_NO_PATCH;
        for (int32_t ch = nd->first; ch >= 0 && !em->over; ch = rx->nodes[ch].next) {
            if (rx->nodes[ch].next < 0) {
                re_emit(rx, ch, em);
                break;
            }
            size_t sp = re_put(em, RI_SPLIT, 0, 0);
            if (em->over)
                return;
            em->code[sp].a = (uint32_t)em->n;
            re_emit(rx, ch, em);
            size_t j = re_put(em, RI_JMP, jumps, 0);
            if (em->over)
                return;
            jumps = (uint32_t)j;
            em->code[sp].b = (uint32_t)em->n;
        }
        if (em->over)
            return;
        while (jumps != RE_NO_PATCH) {
            uint32_t nx = em->code[jumps].a;
            em->code[jumps].a = (uint32_t)em->n;
            jumps = nx;
        }
        return;
    }
    case PGRX_REP: {
        for (int32_t k = 0; k < nd->min && !em->over; k++)
            re_emit(rx, nd->first, em);
        if (nd->max < 0) {
            size_t loop = re_put(em, RI_SPLIT, 0, 0);
            if (em->over)
                return;
            em->code[loop].a = (uint32_t)em->n;
            re_emit(rx, nd->first, em);
            re_put(em, RI_JMP, (uint32_t)loop, 0);
            if (em->over)
                return;
            em->code[loop].b = (uint32_t)em->n;
            return;
        }
        /* x{m,n}: n-m optional copies, each SPLIT skipping to the end;
         * the skips are chained through b like the JMPs above. */
        uint32_t splits = RE_NO_PATCH;
        for (int32_t k = nd->min; k < nd->max && !em->over; k++) {
            size_t sp = re_put(em, RI_SPLIT, 0, splits);
            if (em->over)
                return;
            em->code[sp].a = (uint32_t)em->n;
            splits = (uint32_t)sp;
            re_emit(rx, nd->first, em);
        }
        if (em->over)
            return;
        while (splits != RE_NO_PATCH) {
            uint32_t nx = em->code[splits].b;
            em->code[splits].b = (uint32_t)em->n;
            splits = nx;
        }
        return;
    }
    default: return;
    }
}

void pgregex_free(pgregex_t *re) {
    if (!re)
        return;
    free(re->code);
    free(re->sets);
    free(re->ranges);
    free(re);
}

/* The ASCII characters a match can start with: the consuming instructions
 * reachable from the start, taking every assertion as passable (so it is a
 * superset). A position whose character is outside it, with no thread
 * alive, cannot start a match and can be skipped without its closure. */
static void re_fill_first(pgregex_t *re) {
    uint16_t stack[2 * RE_MAX_INST + 2];
    uint64_t mark[RE_MAX_INST / 64 + 1];
    size_t sp = 0;
    memset(mark, 0, sizeof mark);
    re->first[0] = re->first[1] = 0;
    re->first_any = 0;
    stack[sp++] = 0;
    while (sp > 0 && !re->first_any) {
        uint32_t x = stack[--sp];
        if (mark[x >> 6] & (UINT64_C(1) << (x & 63)))
            continue;
        mark[x >> 6] |= UINT64_C(1) << (x & 63);
        const rinst_t *in = &re->code[x];
        switch (in->op) {
        case RI_JMP: stack[sp++] = (uint16_t)in->a; break;
        case RI_SPLIT:
            stack[sp++] = (uint16_t)in->b;
            stack[sp++] = (uint16_t)in->a;
            break;
        case RI_MATCH: /* an empty match: every position can */
        case RI_ANY:
        case RI_ANYNL: re->first_any = 1; break;
        case RI_CHAR:
            if (in->a < 128)
                re->first[in->a >> 6] |= UINT64_C(1) << (in->a & 63);
            if (in->b < 128)
                re->first[in->b >> 6] |= UINT64_C(1) << (in->b & 63);
            break;
        case RI_SET:
            re->first[0] |= re->sets[in->a].ascii[0];
            re->first[1] |= re->sets[in->a].ascii[1];
            break;
        default: stack[sp++] = (uint16_t)(x + 1); break; /* an assertion */
        }
    }
}

/* Compiles a parsed pattern: the tree's flags and sets are copied, the
 * tree is emitted as code, then the matcher's shortcuts are made. */
pgregex_t *pgregex_compile(const char *pat, size_t patlen, int icase, const char **err) {
    pgrx_t rx;
    if (pgrx_parse(pat, patlen, icase, &rx, err) != 0)
        return NULL;
    pgregex_t *re = xcalloc(1, sizeof *re);
    re->icase = rx.icase;
    re->nlstop = rx.nlstop;
    re->nlanchor = rx.nlanchor;
    if (rx.nsets) {
        re->sets = xcalloc(rx.nsets, sizeof *re->sets);
        for (size_t i = 0; i < rx.nsets; i++) {
            re->sets[i].neg = rx.sets[i].neg;
            re->sets[i].classes = rx.sets[i].classes;
            re->sets[i].notclasses = rx.sets[i].notclasses;
            re->sets[i].r0 = rx.sets[i].r0;
            re->sets[i].nr = rx.sets[i].nr;
        }
        re->nsets = rx.nsets;
    }
    if (rx.nranges) {
        re->ranges = xmalloc(rx.nranges * sizeof *re->ranges);
        memcpy(re->ranges, rx.ranges, rx.nranges * sizeof *re->ranges);
        re->nranges = rx.nranges;
    }
    remit_t em = {xmalloc(RE_MAX_INST * sizeof(rinst_t)), 0, 0, 0};
    re_emit(&rx, rx.root, &em);
    re_put(&em, RI_MATCH, 0, 0);
    re->code = em.code;
    re->n = em.n;
    pgrx_free(&rx);
    if (em.over) {
        *err = "regular expression is too complex";
        pgregex_free(re);
        return NULL;
    }
    set_fill_ascii(re);
    re_fill_first(re);
    re->anchored = re->code[0].op == RI_BOS || (re->code[0].op == RI_BOL && !re->nlanchor);
    return re;
}

#define RC_NONE UINT32_MAX /* "no character": before the start, past the end */

static int re_word(uint32_t c) { return c != RC_NONE && cc_test(PGRX_CC_WORD, c); }

static int re_assert(const pgregex_t *re, uint8_t op, uint32_t prev, uint32_t cur) {
    switch (op) {
    case RI_BOL: return prev == RC_NONE || (re->nlanchor && prev == '\n');
    case RI_EOL: return cur == RC_NONE || (re->nlanchor && cur == '\n');
    case RI_BOS: return prev == RC_NONE;
    case RI_EOS: return cur == RC_NONE;
    case RI_WBEG: return !re_word(prev) && re_word(cur);
    case RI_WEND: return re_word(prev) && !re_word(cur);
    case RI_WB: return re_word(prev) != re_word(cur);
    case RI_NWB: return re_word(prev) == re_word(cur);
    default: return 0;
    }
}

typedef struct {
    uint16_t *stack;
    uint64_t *mark;
    uint16_t *list;
    size_t n;
    int matched;
    uint64_t visited; /* instructions entered: the closure's work */
} rclosure_t;

/* Adds pc and everything reachable from it without consuming a character
 * at this position (context: prev and cur characters) to cl->list. */
static void re_addthread(const pgregex_t *re, rclosure_t *cl, uint32_t pc, uint32_t prev, uint32_t cur) {
    size_t sp = 0, visited = 0;
    cl->stack[sp++] = (uint16_t)pc;
    while (sp > 0) {
        uint32_t x = cl->stack[--sp];
        if (cl->mark[x >> 6] & (UINT64_C(1) << (x & 63)))
            continue;
        cl->mark[x >> 6] |= UINT64_C(1) << (x & 63);
        visited++;
        const rinst_t *in = &re->code[x];
        switch (in->op) {
        case RI_JMP: cl->stack[sp++] = (uint16_t)in->a; break;
        case RI_SPLIT:
            cl->stack[sp++] = (uint16_t)in->b;
            cl->stack[sp++] = (uint16_t)in->a;
            break;
        case RI_MATCH: cl->matched = 1; break;
        case RI_CHAR:
        case RI_ANY:
        case RI_ANYNL:
        case RI_SET: cl->list[cl->n++] = (uint16_t)x; break;
        default:
            if (re_assert(re, in->op, prev, cur))
                cl->stack[sp++] = (uint16_t)(x + 1);
            break;
        }
    }
    cl->visited += visited;
}

static int re_consumes(const pgregex_t *re, const rinst_t *in, uint32_t c) {
    switch (in->op) {
    case RI_CHAR: return c == in->a || c == in->b;
    case RI_ANY: return 1;
    case RI_ANYNL: return c != '\n';
    case RI_SET: return set_match(re, &re->sets[in->a], c);
    default: return 0;
    }
}

/* Does the pattern match anywhere in s? Linear in len(s) x program size;
 * all state on the stack. Charges *left per text position: the
 * instructions its closure entered plus the threads tried on its character
 * (a bracket set costs its ranges, which it scans for non-ASCII
 * characters). The charge follows the
 * position's work, so it may overrun by one position (a few thousand units
 * at most) before -1 stops it. */
int pgregex_exec(const pgregex_t *re, const char *s, size_t n, uint64_t *left) {
    uint16_t stack[2 * RE_MAX_INST + 2], clist[RE_MAX_INST], raw[RE_MAX_INST];
    uint64_t mark[RE_MAX_INST / 64 + 1];
    size_t nraw = 0, pos = 0;
    uint32_t prev = RC_NONE;
    uint64_t l = *left;
    rclosure_t cl = {stack, mark, clist, 0, 0, 0};
    for (;;) {
        if (nraw == 0 && !re->first_any && !re->anchored && pos < n) {
            /* No thread alive: skip the ASCII characters no match starts
             * with, one unit each, never past the budget. (An anchored
             * pattern stops instead, below.) */
            size_t lim = n - pos, k = 0;
            if (lim > l)
                lim = (size_t)l;
            for (; k < lim; k++) {
                unsigned char b = (unsigned char)s[pos + k];
                if (b >= 128 || ((re->first[b >> 6] >> (b & 63)) & 1))
                    break;
            }
            if (k > 0) {
                prev = (unsigned char)s[pos + k - 1];
                pos += k;
                l -= k;
            }
        }
        size_t clen = 0;
        uint32_t cur = pos < n ? pgc_u8dec((const unsigned char *)s + pos, n - pos, &clen) : RC_NONE;
        memset(mark, 0, ((re->n + 63) / 64) * sizeof mark[0]);
        cl.n = 0;
        cl.visited = 1; /* the position itself: decoding, clearing marks */
        for (size_t k = 0; k < nraw; k++)
            re_addthread(re, &cl, raw[k], prev, cur);
        /* A match may start here, unless the pattern is anchored at 0: then
         * once its threads died nothing can match any more. */
        if (!re->anchored || pos == 0)
            re_addthread(re, &cl, 0, prev, cur);
        else if (cl.n == 0 && !cl.matched)
            cur = RC_NONE;
        uint64_t work = cl.visited;
        if (cl.matched || cur == RC_NONE) {
            if (work > l)
                goto out;
            *left = l - work;
            return cl.matched;
        }
        nraw = 0;
        work += cl.n;
        for (size_t k = 0; k < cl.n; k++) {
            const rinst_t *in = &re->code[clist[k]];
            if (re_consumes(re, in, cur))
                raw[nraw++] = (uint16_t)(clist[k] + 1);
        }
        if (cur >= 128) /* sets scan their ranges for non-ASCII characters */
            for (size_t k = 0; k < cl.n; k++)
                if (re->code[clist[k]].op == RI_SET)
                    work += re->sets[re->code[clist[k]].a].nr;
        if (work > l)
            goto out;
        l -= work;
        prev = cur;
        pos += clen;
    }
out:
    *left = 0;
    return -1;
}
