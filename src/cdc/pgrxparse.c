/*
 * cdc/pgrxparse: see pgrxparse.h. Owns the ARE grammar: a recursive
 * descent over the pattern's code points (alternation > concatenation >
 * quantified atom), with PostgreSQL's error messages. The tree's arrays
 * grow by doubling and go to the caller in a pgrx_t. It must never recurse
 * more than PGRX_MAX_DEPTH groups deep and never read past the pattern.
 */
#include "cdc/pgrxparse.h"
#include "cdc/pgchar.h"
#include "util/hex.h"
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint32_t *p;
    size_t n, i;
    pgrx_node_t *nodes;
    size_t nn, ncap;
    pgrx_t *rx;
    size_t scap, rcap;
    int depth;
    const char *err;
} rparse_t;

static int32_t rn_new(rparse_t *ps, uint8_t kind) {
    if (ps->nn == ps->ncap) {
        ps->ncap = ps->ncap ? ps->ncap * 2 : 32;
        ps->nodes = xrealloc(ps->nodes, ps->ncap * sizeof *ps->nodes);
    }
    pgrx_node_t *nd = &ps->nodes[ps->nn];
    memset(nd, 0, sizeof *nd);
    nd->kind = kind;
    nd->first = nd->last = nd->next = -1;
    return (int32_t)ps->nn++;
}

static void rn_append(rparse_t *ps, int32_t parent, int32_t child) {
    pgrx_node_t *p = &ps->nodes[parent];
    if (p->first < 0)
        p->first = child;
    else
        ps->nodes[p->last].next = child;
    ps->nodes[parent].last = child;
}

static int32_t rset_new(rparse_t *ps) {
    pgrx_t *re = ps->rx;
    if (re->nsets == ps->scap) {
        ps->scap = ps->scap ? ps->scap * 2 : 8;
        re->sets = xrealloc(re->sets, ps->scap * sizeof *re->sets);
    }
    pgrx_set_t *st = &re->sets[re->nsets];
    memset(st, 0, sizeof *st);
    st->r0 = re->nranges;
    return (int32_t)re->nsets++;
}

/* Ranges of a set are appended while it is the newest set. */
static void rset_range(rparse_t *ps, int32_t set, uint32_t lo, uint32_t hi) {
    pgrx_t *re = ps->rx;
    if (re->nranges == ps->rcap) {
        ps->rcap = ps->rcap ? ps->rcap * 2 : 16;
        re->ranges = xrealloc(re->ranges, ps->rcap * sizeof *re->ranges);
    }
    re->ranges[re->nranges].lo = lo;
    re->ranges[re->nranges].hi = hi;
    re->nranges++;
    re->sets[set].nr++;
}

static int rp_peek(const rparse_t *ps, size_t ahead) { return ps->i + ahead < ps->n ? (int)ps->p[ps->i + ahead] : -1; }

static int rp_fail(rparse_t *ps, const char *msg) {
    if (!ps->err)
        ps->err = msg;
    return -1;
}

/* Hex digits for \x (1..8), \u (exactly 4), \U (exactly 8). */
static int rp_hex(rparse_t *ps, size_t minc, size_t maxc, uint32_t *out) {
    uint64_t v = 0;
    size_t k = 0;
    while (k < maxc && ps->i < ps->n && ps->p[ps->i] < 128 && pgc_isxdigit((int)ps->p[ps->i])) {
        v = v * 16 + (uint64_t)hex_digit((unsigned char)ps->p[ps->i]);
        ps->i++;
        k++;
    }
    if (k < minc)
        return rp_fail(ps, "invalid escape \\ sequence");
    if (v > 0x10FFFF)
        return rp_fail(ps, "invalid escape \\ sequence");
    *out = (uint32_t)v;
    return 0;
}

/* One escape after '\' (already consumed). Sets *chr for a character, or
 * *cls / *notcls for a class shorthand, or *assert for a constraint.
 * Returns 0 or -1. */
static int rp_escape(rparse_t *ps, int in_bracket, uint32_t *chr, uint32_t *cls, uint32_t *notcls, int *assert) {
    *cls = *notcls = 0;
    *assert = -1;
    if (ps->i >= ps->n)
        return rp_fail(ps, "invalid escape \\ sequence");
    uint32_t e = ps->p[ps->i++];
    switch (e) {
    case 'a': *chr = 7; return 0;
    case 'b': *chr = 8; return 0;
    case 'B': *chr = '\\'; return 0;
    case 'e': *chr = 27; return 0;
    case 'f': *chr = 12; return 0;
    case 'n': *chr = 10; return 0;
    case 'r': *chr = 13; return 0;
    case 't': *chr = 9; return 0;
    case 'v': *chr = 11; return 0;
    case 'c':
        if (ps->i >= ps->n)
            return rp_fail(ps, "invalid escape \\ sequence");
        *chr = ps->p[ps->i++] & 037;
        return 0;
    case 'x': return rp_hex(ps, 1, 8, chr);
    case 'u': return rp_hex(ps, 4, 4, chr);
    case 'U': return rp_hex(ps, 8, 8, chr);
    case 'd': *cls = PGRX_CC_DIGIT; return 0;
    case 's': *cls = PGRX_CC_SPACE; return 0;
    case 'w': *cls = PGRX_CC_WORD; return 0;
    case 'D': *notcls = PGRX_CC_DIGIT; return 0;
    case 'S': *notcls = PGRX_CC_SPACE; return 0;
    case 'W': *notcls = PGRX_CC_WORD; return 0;
    default: break;
    }
    if (!in_bracket) {
        switch (e) {
        case 'A': *assert = PGRX_BOS; return 0;
        case 'Z': *assert = PGRX_EOS; return 0;
        case 'm': *assert = PGRX_WBEG; return 0;
        case 'M': *assert = PGRX_WEND; return 0;
        case 'y': *assert = PGRX_WB; return 0;
        case 'Y': *assert = PGRX_NWB; return 0;
        default: break;
        }
    }
    if (e >= '0' && e <= '9')
        return rp_fail(ps, "back-references and octal escapes are not supported");
    if (e < 128 && pgc_isalnum((int)e))
        return rp_fail(ps, "invalid escape \\ sequence");
    *chr = e;
    return 0;
}

static const struct {
    const char *name;
    uint32_t bit;
} class_names[] = {
    {"alpha", PGRX_CC_ALPHA}, {"digit", PGRX_CC_DIGIT}, {"alnum", PGRX_CC_ALNUM},   {"upper", PGRX_CC_UPPER},
    {"lower", PGRX_CC_LOWER}, {"space", PGRX_CC_SPACE}, {"punct", PGRX_CC_PUNCT},   {"print", PGRX_CC_PRINT},
    {"graph", PGRX_CC_GRAPH}, {"cntrl", PGRX_CC_CNTRL}, {"xdigit", PGRX_CC_XDIGIT}, {"blank", PGRX_CC_BLANK},
    {"word", PGRX_CC_WORD},
};

/* A bracket expression, '[' consumed. */
static int32_t rp_bracket(rparse_t *ps) {
    int32_t node = rn_new(ps, PGRX_SET);
    int32_t set = rset_new(ps);
    ps->nodes[node].set = set;
    if (rp_peek(ps, 0) == '^') {
        ps->rx->sets[set].neg = 1;
        ps->i++;
    }
    int first = 1;
    for (;;) {
        int c = rp_peek(ps, 0);
        if (c < 0)
            return rp_fail(ps, "brackets [] not balanced");
        if (c == ']' && !first) {
            ps->i++;
            break;
        }
        first = 0;
        if (c == '[' && (rp_peek(ps, 1) == ':' || rp_peek(ps, 1) == '.' || rp_peek(ps, 1) == '=')) {
            int kind = rp_peek(ps, 1);
            if (kind != ':')
                return rp_fail(ps, "collating elements and equivalence classes are not supported");
            size_t s = ps->i + 2, e = s;
            while (e + 1 < ps->n && !(ps->p[e] == ':' && ps->p[e + 1] == ']'))
                e++;
            if (e + 1 >= ps->n)
                return rp_fail(ps, "brackets [] not balanced");
            uint32_t bit = 0;
            for (size_t k = 0; k < sizeof class_names / sizeof class_names[0] && !bit; k++) {
                size_t nl = strlen(class_names[k].name);
                if (e - s != nl)
                    continue;
                size_t j = 0;
                while (j < nl && ps->p[s + j] == (uint32_t)(unsigned char)class_names[k].name[j])
                    j++;
                if (j == nl)
                    bit = class_names[k].bit;
            }
            if (!bit)
                return rp_fail(ps, "invalid character class");
            /* Under case folding upper and lower mean alpha, as in PostgreSQL. */
            if (ps->rx->icase && (bit == PGRX_CC_UPPER || bit == PGRX_CC_LOWER))
                bit = PGRX_CC_ALPHA;
            ps->rx->sets[set].classes |= bit;
            ps->i = e + 2;
            if (rp_peek(ps, 0) == '-' && rp_peek(ps, 1) != ']' && rp_peek(ps, 1) >= 0)
                return rp_fail(ps, "invalid character range");
            continue;
        }
        uint32_t lo, hi, cls, notcls;
        int assert;
        ps->i++;
        if (c == '\\') {
            if (rp_escape(ps, 1, &lo, &cls, &notcls, &assert))
                return -1;
            if (cls || notcls) {
                ps->rx->sets[set].classes |= cls;
                ps->rx->sets[set].notclasses |= notcls;
                if (rp_peek(ps, 0) == '-' && rp_peek(ps, 1) != ']' && rp_peek(ps, 1) >= 0)
                    return rp_fail(ps, "invalid character range");
                continue;
            }
        } else {
            lo = (uint32_t)c;
        }
        hi = lo;
        if (rp_peek(ps, 0) == '-' && rp_peek(ps, 1) >= 0 && rp_peek(ps, 1) != ']') {
            ps->i++;
            int c2 = rp_peek(ps, 0);
            ps->i++;
            if (c2 == '\\') {
                if (rp_escape(ps, 1, &hi, &cls, &notcls, &assert))
                    return -1;
                if (cls || notcls)
                    return rp_fail(ps, "invalid character range");
            } else if (c2 == '[' && (rp_peek(ps, 0) == ':' || rp_peek(ps, 0) == '.' || rp_peek(ps, 0) == '=')) {
                return rp_fail(ps, "invalid character range");
            } else {
                hi = (uint32_t)c2;
            }
            if (lo > hi)
                return rp_fail(ps, "invalid character range");
        }
        rset_range(ps, set, lo, hi);
    }
    return node;
}

static int32_t rp_alt(rparse_t *ps);

static int rp_is_quant(const rparse_t *ps) {
    int c = rp_peek(ps, 0);
    if (c == '*' || c == '+' || c == '?')
        return 1;
    return c == '{' && rp_peek(ps, 1) >= '0' && rp_peek(ps, 1) <= '9';
}

/* An atom; *is_assert tells a constraint (which takes no quantifier). */
static int32_t rp_atom(rparse_t *ps, int *is_assert) {
    *is_assert = 0;
    uint32_t c = ps->p[ps->i++];
    int32_t nd;
    switch (c) {
    case '(': {
        if (rp_peek(ps, 0) == '?') {
            int c2 = rp_peek(ps, 1);
            if (c2 == '=' || c2 == '!' || c2 == '<')
                return rp_fail(ps, "lookahead and lookbehind constraints are not supported");
            if (c2 != ':')
                return rp_fail(ps, "invalid embedded option");
            ps->i += 2;
        }
        if (++ps->depth > PGRX_MAX_DEPTH)
            return rp_fail(ps, "regular expression is too complex");
        nd = rp_alt(ps);
        if (nd < 0)
            return -1;
        if (rp_peek(ps, 0) != ')')
            return rp_fail(ps, "parentheses () not balanced");
        ps->i++;
        ps->depth--;
        return nd;
    }
    case ')': return rp_fail(ps, "parentheses () not balanced");
    case '.': return rn_new(ps, PGRX_ANY);
    case '[': return rp_bracket(ps);
    case '^':
    case '$':
        nd = rn_new(ps, PGRX_ASSERT);
        ps->nodes[nd].aop = c == '^' ? PGRX_BOL : PGRX_EOL;
        *is_assert = 1;
        return nd;
    case '*':
    case '+':
    case '?': return rp_fail(ps, "quantifier operand invalid");
    case '{':
        if (rp_peek(ps, 0) >= '0' && rp_peek(ps, 0) <= '9')
            return rp_fail(ps, "quantifier operand invalid");
        break;
    case '\\': {
        uint32_t chr = 0, cls, notcls;
        int assert;
        if (rp_escape(ps, 0, &chr, &cls, &notcls, &assert))
            return -1;
        if (assert >= 0) {
            nd = rn_new(ps, PGRX_ASSERT);
            ps->nodes[nd].aop = (uint8_t)assert;
            *is_assert = 1;
            return nd;
        }
        if (cls || notcls) {
            nd = rn_new(ps, PGRX_SET);
            int32_t set = rset_new(ps);
            ps->nodes[nd].set = set;
            ps->rx->sets[set].classes = cls;
            ps->rx->sets[set].notclasses = notcls;
            return nd;
        }
        c = chr;
        break;
    }
    default: break;
    }
    nd = rn_new(ps, PGRX_CHAR);
    ps->nodes[nd].c = c;
    return nd;
}

static int rp_bound(rparse_t *ps, int32_t *v) {
    int64_t x = 0;
    size_t k = 0;
    while (ps->i < ps->n && ps->p[ps->i] >= '0' && ps->p[ps->i] <= '9') {
        if (x <= PGRX_DUPMAX)
            x = x * 10 + (ps->p[ps->i] - '0');
        ps->i++;
        k++;
    }
    if (k == 0)
        return 0;
    if (x > PGRX_DUPMAX)
        return rp_fail(ps, "invalid repetition count(s)");
    *v = (int32_t)x;
    return 1;
}

static int32_t rp_quantified(rparse_t *ps) {
    int is_assert;
    int32_t atom = rp_atom(ps, &is_assert);
    if (atom < 0 || !rp_is_quant(ps))
        return atom;
    if (is_assert)
        return rp_fail(ps, "quantifier operand invalid");
    int32_t min = 0, max = -1;
    int c = (int)ps->p[ps->i++];
    if (c == '+')
        min = 1;
    else if (c == '?')
        max = 1;
    else if (c == '{') {
        int r = rp_bound(ps, &min);
        if (r < 0)
            return -1;
        max = min;
        if (rp_peek(ps, 0) == ',') {
            ps->i++;
            max = -1;
            r = rp_bound(ps, &max);
            if (r < 0)
                return -1;
            if (r == 0)
                max = -1;
        }
        if (rp_peek(ps, 0) != '}')
            return rp_fail(ps, "braces {} not balanced");
        ps->i++;
        if (max >= 0 && min > max)
            return rp_fail(ps, "invalid repetition count(s)");
    }
    if (rp_peek(ps, 0) == '?') /* non-greedy: the same yes/no answer */
        ps->i++;
    if (rp_is_quant(ps))
        return rp_fail(ps, "quantifier operand invalid");
    int32_t rep = rn_new(ps, PGRX_REP);
    ps->nodes[rep].first = atom;
    ps->nodes[rep].min = min;
    ps->nodes[rep].max = max;
    return rep;
}

static int32_t rp_cat(rparse_t *ps) {
    int32_t cat = rn_new(ps, PGRX_CAT);
    for (;;) {
        int c = rp_peek(ps, 0);
        if (c < 0 || c == '|' || (c == ')' && ps->depth > 0))
            break;
        int32_t q = rp_quantified(ps);
        if (q < 0)
            return -1;
        rn_append(ps, cat, q);
    }
    return cat;
}

static int32_t rp_alt(rparse_t *ps) {
    int32_t first = rp_cat(ps);
    if (first < 0 || rp_peek(ps, 0) != '|')
        return first;
    int32_t alt = rn_new(ps, PGRX_ALT);
    rn_append(ps, alt, first);
    while (rp_peek(ps, 0) == '|') {
        ps->i++;
        int32_t b = rp_cat(ps);
        if (b < 0)
            return -1;
        rn_append(ps, alt, b);
    }
    return alt;
}
/* Decodes the pattern to code points; the caller frees *out. */
static size_t decode_all(const char *s, size_t n, uint32_t **out) {
    uint32_t *cp = xmalloc((n + 1) * sizeof *cp);
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        size_t l;
        cp[k++] = pgc_u8dec((const unsigned char *)s + i, n - i, &l);
        i += l;
    }
    *out = cp;
    return k;
}

void pgrx_free(pgrx_t *rx) {
    if (!rx)
        return;
    free(rx->nodes);
    free(rx->sets);
    free(rx->ranges);
    memset(rx, 0, sizeof *rx);
}

int pgrx_parse(const char *pat, size_t patlen, int icase, pgrx_t *out, const char **err) {
    memset(out, 0, sizeof *out);
    out->icase = (uint8_t)icase;
    rparse_t ps = {0};
    ps.rx = out;
    uint32_t *cp = NULL;
    ps.n = decode_all(pat, patlen, &cp);
    ps.p = cp;
    int literal = 0;
    /* Directors and embedded options, only at the start (as in PostgreSQL). */
    if (ps.n >= 4 && cp[0] == '*' && cp[1] == '*' && cp[2] == '*' && (cp[3] == '=' || cp[3] == ':')) {
        literal = cp[3] == '=';
        ps.i = 4;
    }
    if (!literal && ps.i + 1 < ps.n && cp[ps.i] == '(' && cp[ps.i + 1] == '?' && ps.i + 2 < ps.n &&
        cp[ps.i + 2] < 128 && pgc_isalpha((int)cp[ps.i + 2])) {
        size_t j = ps.i + 2;
        for (; j < ps.n && cp[j] != ')'; j++) {
            switch (cp[j]) {
            case 'i': out->icase = 1; break;
            case 'c': out->icase = 0; break;
            case 'n':
            case 'm': out->nlstop = out->nlanchor = 1; break;
            case 'p':
                out->nlstop = 1;
                out->nlanchor = 0;
                break;
            case 'w':
                out->nlstop = 0;
                out->nlanchor = 1;
                break;
            case 's': out->nlstop = out->nlanchor = 0; break;
            case 't': break;
            case 'q': literal = 1; break;
            case 'b':
            case 'e':
            case 'x': ps.err = "regular expression options b, e and x are not supported"; break;
            default: ps.err = "invalid embedded option"; break;
            }
            if (ps.err)
                break;
        }
        if (!ps.err && j >= ps.n)
            ps.err = "invalid embedded option";
        ps.i = j + 1;
    }
    int32_t root = -1;
    if (!ps.err) {
        if (literal) {
            root = rn_new(&ps, PGRX_CAT);
            for (; ps.i < ps.n; ps.i++) {
                int32_t c = rn_new(&ps, PGRX_CHAR);
                ps.nodes[c].c = cp[ps.i];
                rn_append(&ps, root, c);
            }
        } else {
            root = rp_alt(&ps);
            if (root >= 0 && ps.i < ps.n)
                root = rp_fail(&ps, "parentheses () not balanced");
        }
    }
    free(cp);
    /* The tree is the caller's now (freed below on failure). */
    out->nodes = ps.nodes;
    out->nn = ps.nn;
    out->root = root;
    if (root < 0 || ps.err) {
        *err = ps.err ? ps.err : "invalid regular expression";
        pgrx_free(out);
        return -1;
    }
    return 0;
}
