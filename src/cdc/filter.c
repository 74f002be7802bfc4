/*
 * cdc/filter: owns the postgres_changes filter grammar (the one
 * supabase/realtime's Subscriptions.parse_subscription_params and
 * realtime.subscription_check_filters accept) and its evaluation on a row
 * image: operators, negation, `in` lists, IS and IS DISTINCT FROM, SQL
 * three-valued logic for NULL, the eq keys subscriptions are indexed by,
 * and the work budget. What a value of a type is, and how two compare, is
 * cdc/pgvalue's (date/time: cdc/pgtime); LIKE is cdc/pglike's, regular
 * expressions cdc/pgregex's, the syntax of `in` lists cdc/pgarray's.
 *
 * It must never do I/O, never ask the database, and never allocate in
 * cdc_filter_match / cdc_filter_match_budget: they run for every change and
 * every candidate subscriber. Everything a match needs is prepared by
 * cdc_filter_parse. Evaluation charges its work to a budget the caller
 * gives (one evaluation path: cdc_filter_match is the budgeted one with a
 * budget nobody can spend), so no customer-written filter can take the
 * CDC thread for longer than its budget, however long the cell.
 *
 * Deliberate choices (see also docs in filter.h):
 *  - text ordering (lt/gt on text, varchar, bpchar, name, citext) is byte
 *    order, i.e. the "C" collation; ILIKE, imatch and citext fold ASCII
 *    letters only, as PostgreSQL does under the C collation;
 *  - regular expressions are PostgreSQL AREs minus back-references,
 *    lookaround, octal escapes, collating elements and the b/e/x/q options,
 *    which are refused at parse time; what is accepted is evaluated by a
 *    Thompson NFA (a yes/no answer needs no submatch rules, so it equals
 *    PostgreSQL's);
 *  - date/time filter values are ISO 8601 forms only; a timestamptz value
 *    without an offset is taken as UTC;
 *  - a LIKE pattern ending in an escape and malformed regexes are refused at
 *    join, where PostgreSQL would fail at evaluation.
 */
#include "cdc/filter.h"
#include "cdc/pgarray.h"
#include "cdc/pgchar.h"
#include "cdc/pglike.h"
#include "cdc/pgregex.h"
#include "cdc/pgvalue.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

/* Longest filter accepted: real ones are a few hundred bytes; the bound
 * keeps parse-time work and per-condition state small. */
#define FILTER_MAX_LEN 8192
/* supabase/realtime's limit on `in` lists. */
#define IN_MAX_VALUES 100
/* MAXDIM: array_in's nesting limit, for `in` lists. */
#define ARRAY_MAXDIM 6

/* ------------------------------------------------------------------------
 * Conditions
 * ---------------------------------------------------------------------- */

typedef enum {
    OP_EQ,
    OP_NEQ,
    OP_LT,
    OP_LTE,
    OP_GT,
    OP_GTE,
    OP_IN,
    OP_LIKE,
    OP_ILIKE,
    OP_IS,
    OP_MATCH,
    OP_IMATCH,
    OP_ISDISTINCT,
} op_t;

static const char *const op_names[] = {
    "eq", "neq", "lt", "lte", "gt", "gte", "in", "like", "ilike", "is", "match", "imatch", "isdistinct",
};

typedef struct {
    size_t col;
    op_t op;
    uint8_t negate;
    uint8_t is_kw; /* OP_IS: 0 null, 1 true, 2 false, 3 unknown */
    pgv_kind_t kind;
    int sub;
    pgv_val_t val;   /* scalar operand; like/ilike: the pattern */
    char *vbuf;      /* owns val.s and what val.u.dec points into */
    pgv_val_t *list; /* OP_IN */
    size_t nlist;
    uint64_t list_bytes; /* OP_IN, text kinds: the elements' bytes, to size the work up front */
    char *lbuf;          /* owns the list's strings */
    pgregex_t *re;       /* OP_MATCH / OP_IMATCH */
    char *key;           /* normalised eq value for cdc_filter_eq_key, or NULL */
    size_t keylen;
} cond_t;

struct cdc_filter {
    cond_t *conds;
    size_t n;
    size_t *cols; /* distinct column indexes, in order of first use */
    size_t ncols;
};

static void seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Reads an operand the filter's author wrote (s must outlive the value:
 * numerics point into it) as a value of the condition's kind. Returns 0,
 * or -1 with a PostgreSQL-like message in err. Whether the text gets
 * pgv_parse's operand rules (long floats copied, names clipped to 63
 * bytes) follows err, as it always has: a caller with no err buffer gets
 * the cell rules. */
static int operand_parse(pgv_kind_t kind, int sub, const char *s, size_t n, pgv_val_t *out, char *err, size_t errlen) {
    int rc = pgv_parse(kind, sub, s, n, err != NULL, out);
    if (rc == 0)
        return 0;
    if (err) {
        int shown = n > 64 ? 64 : (int)n;
        const char *label = pgv_kind_label(kind, sub);
        if (rc == PGV_ERANGE)
            seterr(err, errlen, "value \"%.*s\" is out of range for type %s", shown, s, label);
        else if (rc == PGV_EUNSUPPORTED)
            seterr(err, errlen, "\"%.*s\" is not supported in filters: give a date/time value", shown, s);
        else
            seterr(err, errlen, "invalid input syntax for type %s: \"%.*s\"", label, shown, s);
    }
    return -1;
}

/* ------------------------------------------------------------------------
 * `in` lists: PostgreSQL's array literal syntax (the value between the
 * parentheses becomes '{...}' for a one-dimensional array).
 * ---------------------------------------------------------------------- */

typedef struct {
    char *buf;   /* element strings, NUL-terminated, back to back */
    size_t w;    /* bytes used in buf */
    size_t *off; /* offsets into buf */
    size_t *len;
    uint8_t *isnull;
    size_t n, cap;
    /* Shape checks of a multi-dimensional list (PostgreSQL's array_in):
     * per nesting level, whether it holds sub-lists (1) or elements (2),
     * and the length every sub-list at that level must have. */
    uint8_t level_kind[ARRAY_MAXDIM + 1];
    size_t level_len[ARRAY_MAXDIM + 1];
} plist_t;

static void plist_push(plist_t *pl, size_t start, size_t len, int isnull) {
    if (pl->n == pl->cap) {
        pl->cap = pl->cap ? pl->cap * 2 : 8;
        pl->off = xrealloc(pl->off, pl->cap * sizeof *pl->off);
        pl->len = xrealloc(pl->len, pl->cap * sizeof *pl->len);
        pl->isnull = xrealloc(pl->isnull, pl->cap);
    }
    pl->off[pl->n] = start;
    pl->len[pl->n] = len;
    pl->isnull[pl->n] = (uint8_t)isnull;
    pl->n++;
}

/* The list at level holds an item of kind (1 sub-list, 2 element): all of
 * one level's items must be of one kind. */
static int plist_item(plist_t *pl, int level, uint8_t kind) {
    if (pl->level_kind[level] && pl->level_kind[level] != kind)
        return -1; /* elements and sub-lists mixed */
    pl->level_kind[level] = kind;
    return 0;
}

static int plist_open(void *ctx, int level, size_t index) {
    (void)index;
    return level > 1 ? plist_item(ctx, level - 1, 1) : 0;
}

/* Elements are copied unescaped into buf, which has room for them all:
 * each takes at most its text's bytes plus a NUL, and every element's
 * text is followed by a ',' or '}' that is not copied. */
static int plist_elem(void *ctx, int level, size_t index, const char *s, size_t n, unsigned flags) {
    plist_t *pl = ctx;
    (void)index;
    if (plist_item(pl, level, 2) != 0)
        return -1;
    size_t start = pl->w;
    pl->w += pgarray_unescape(s, n, pl->buf + start);
    plist_push(pl, start, pl->w - start, (flags & PGARRAY_NULL) != 0);
    pl->buf[pl->w++] = '\0';
    return 0;
}

static int plist_close(void *ctx, int level, size_t items) {
    plist_t *pl = ctx;
    if (level == 1)
        return 0;
    if (items == 0)
        return -1; /* only the whole list may be empty */
    /* sub-lists of one level all have the same length */
    if (pl->level_len[level] && pl->level_len[level] != items)
        return -1;
    pl->level_len[level] = items;
    return 0;
}

/* Parses the text between the parentheses of in.(...) as PostgreSQL parses
 * '{...}' for = ANY(array): quoting, backslash escapes, NULL, and
 * rectangular nested lists, which = ANY flattens. Returns 0, or -1 with a
 * message in err; the caller frees pl's arrays either way. */
static int parse_array_items(const char *s, size_t n, plist_t *pl, char *err, size_t errlen) {
    static const pgarray_visitor_t visitor = {plist_open, plist_elem, plist_close};
    memset(pl, 0, sizeof *pl);
    pl->buf = xmalloc(n + 2);
    /* The array literal is "{" s "}": scanned whole, so the list's own
     * braces and the shape rules apply from its first byte. */
    char *whole = xmalloc(n + 2);
    whole[0] = '{';
    memcpy(whole + 1, s, n);
    whole[n + 1] = '}';
    size_t i = 0;
    int rc = pgarray_scan(whole, n + 2, &i, ',', ARRAY_MAXDIM, &visitor, pl);
    if (rc == 0 && i != n + 2)
        rc = -1; /* junk after the closing brace */
    free(whole);
    if (rc != 0)
        seterr(err, errlen, "invalid filter value for in: malformed list \"(%.*s)\"", n > 64 ? 64 : (int)n, s);
    return rc;
}

/* ------------------------------------------------------------------------
 * The filter string: segments, conditions
 * ---------------------------------------------------------------------- */

/* Splits at top-level commas as supabase/realtime's split_top_level: not
 * inside parentheses, nor inside a double-quoted string that began after
 * '.', '(' or ','. Calls back with each raw segment. */
typedef struct {
    const char *s;
    size_t n;
} span_t;

static size_t split_top_level(const char *s, size_t n, span_t **out) {
    size_t cap = 4, cnt = 0, start = 0;
    span_t *v = xmalloc(cap * sizeof *v);
    int depth = 0, quoted = 0;
    char prev = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (quoted) {
            if (c == '\\' && i + 1 < n) {
                prev = s[++i];
                continue;
            }
            if (c == '"')
                quoted = 0;
            prev = c;
            continue;
        }
        if (c == '"' && (prev == '.' || prev == '(' || prev == ',')) {
            quoted = 1;
        } else if (c == '(') {
            depth++;
        } else if (c == ')') {
            if (depth > 0)
                depth--;
        } else if (c == ',' && depth == 0) {
            if (cnt == cap)
                v = xrealloc(v, (cap *= 2) * sizeof *v);
            v[cnt].s = s + start;
            v[cnt].n = i - start;
            cnt++;
            start = i + 1;
            prev = 0;
            continue;
        }
        prev = c;
    }
    if (cnt == cap)
        v = xrealloc(v, (cap + 1) * sizeof *v);
    v[cnt].s = s + start;
    v[cnt].n = n - start;
    cnt++;
    *out = v;
    return cnt;
}

/* unquote_value: "..." with \x escapes, only when the closing quote is the
 * last byte; otherwise the value stays as written. Returns a new string
 * (caller frees) and its length. */
static char *unquote_value(const char *v, size_t n, size_t *outlen) {
    char *out = xmalloc(n + 1);
    if (n >= 2 && v[0] == '"') {
        size_t w = 0, i = 1;
        for (;;) {
            if (i >= n)
                break; /* unterminated: keep as is */
            if (v[i] == '"') {
                if (i == n - 1) {
                    out[w] = '\0';
                    *outlen = w;
                    return out;
                }
                break;
            }
            if (v[i] == '\\' && i + 1 < n)
                i++;
            out[w++] = v[i++];
        }
    }
    memcpy(out, v, n);
    out[n] = '\0';
    *outlen = n;
    return out;
}

static void cond_free(cond_t *c) {
    free(c->vbuf);
    free(c->list);
    free(c->lbuf);
    pgregex_free(c->re);
    free(c->key);
}

void cdc_filter_free(cdc_filter_t *f) {
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        cond_free(&f->conds[i]);
    free(f->conds);
    free(f->cols);
    free(f);
}

/* The normalised text pgoutput would send for an eq operand, for the kinds
 * whose output form is canonical regardless of typmod and session settings. */
static void cond_make_key(cond_t *c) {
    char tmp[PGV_CANONICAL_MAX];
    const char *k = tmp;
    size_t kl;
    if (c->kind == PGV_TEXT || c->kind == PGV_OPAQUE) {
        k = c->val.s;
        kl = c->val.len;
    } else if ((kl = pgv_canonical(c->kind, &c->val, tmp)) == 0) {
        return;
    }
    c->key = xstrndup(k, kl);
    c->keylen = kl;
}

static int op_is_ordering(op_t op) { return op == OP_LT || op == OP_LTE || op == OP_GT || op == OP_GTE; }

/* Type checks and operand preparation for one condition whose column,
 * operator and raw value are known. Returns 0 or -1 with err set. */
static int cond_prepare(cond_t *c, const cdc_column_t *col, const char *raw, size_t rawlen, char *err, size_t errlen) {
    const char *tname = col->type ? col->type : "unknown";
    if (c->op == OP_IS) {
        static const char *const kws[] = {"null", "true", "false", "unknown"};
        size_t len;
        char *v = unquote_value(raw, rawlen, &len);
        size_t k = 0;
        while (k < 4 && !(strlen(kws[k]) == len && memcmp(kws[k], v, len) == 0))
            k++;
        free(v);
        if (k == 4) {
            seterr(err, errlen, "invalid value for is filter: must be null, true, false, or unknown");
            return -1;
        }
        if (k != 0 && c->kind != PGV_BOOL) {
            seterr(err, errlen, "is %s filter requires a boolean column, got %s", kws[k], tname);
            return -1;
        }
        c->is_kw = (uint8_t)k;
        return 0;
    }
    if (c->kind == PGV_UNSUPPORTED) {
        seterr(err, errlen, "filters on column %s of type %s support only is.null", col->name, tname);
        return -1;
    }
    if (c->op == OP_LIKE || c->op == OP_ILIKE || c->op == OP_MATCH || c->op == OP_IMATCH) {
        if (!pgv_kind_is_text(c->kind)) {
            seterr(err, errlen, "operator %s requires a text-compatible column type, got %s", op_names[c->op], tname);
            return -1;
        }
        size_t len;
        c->vbuf = unquote_value(raw, rawlen, &len);
        c->val.s = c->vbuf;
        c->val.len = len;
        if (c->op == OP_LIKE || c->op == OP_ILIKE) {
            if (pglike_ends_with_escape(c->vbuf, len)) {
                seterr(err, errlen, "LIKE pattern must not end with escape character");
                return -1;
            }
            return 0;
        }
        const char *rerr = NULL;
        /* citext's ~ and ~* both fold case */
        c->re = pgregex_compile(c->vbuf, len, c->op == OP_IMATCH || c->kind == PGV_CITEXT, &rerr);
        if (!c->re) {
            seterr(err, errlen, "invalid regular expression for %s filter: %s", op_names[c->op], rerr);
            return -1;
        }
        return 0;
    }
    if (op_is_ordering(c->op) && c->kind == PGV_OPAQUE) {
        seterr(err, errlen, "operator %s is not supported on column %s of type %s: its sort order is not known",
               op_names[c->op], col->name, tname);
        return -1;
    }
    if (c->op == OP_IN) {
        /* raw is "(...)"; the caller checked the parentheses */
        plist_t pl = {0};
        int rc = parse_array_items(raw + 1, rawlen - 2, &pl, err, errlen);
        if (rc == 0 && pl.n > IN_MAX_VALUES) {
            seterr(err, errlen, "too many values for `in` filter. Maximum %d", IN_MAX_VALUES);
            rc = -1;
        }
        if (rc == 0) {
            c->lbuf = pl.buf;
            pl.buf = NULL;
            c->nlist = pl.n;
            c->list = xcalloc(pl.n ? pl.n : 1, sizeof *c->list);
            for (size_t k = 0; k < pl.n && rc == 0; k++) {
                if (pl.isnull[k]) {
                    c->list[k].isnull = 1;
                    continue;
                }
                rc = operand_parse(c->kind, c->sub, c->lbuf + pl.off[k], pl.len[k], &c->list[k], err, errlen);
                c->list_bytes += c->list[k].len;
            }
        }
        free(pl.buf);
        free(pl.off);
        free(pl.len);
        free(pl.isnull);
        return rc;
    }
    /* eq, neq, lt, lte, gt, gte, isdistinct: a literal of the column's type */
    size_t len;
    c->vbuf = unquote_value(raw, rawlen, &len);
    if (operand_parse(c->kind, c->sub, c->vbuf, len, &c->val, err, errlen) != 0)
        return -1;
    if (c->op == OP_EQ && !c->negate)
        cond_make_key(c);
    return 0;
}

static const cdc_column_t *find_column(const cdc_column_t *cols, size_t ncols, const char *name, size_t nl,
                                       size_t *idx) {
    for (size_t i = 0; i < ncols; i++)
        if (cols[i].name && strlen(cols[i].name) == nl && memcmp(cols[i].name, name, nl) == 0) {
            *idx = i;
            return &cols[i];
        }
    return NULL;
}

/* One segment "col=[not.]op.value" into c. Returns 0 or -1 with err. */
static int parse_condition(const char *seg, size_t n, const cdc_column_t *cols, size_t ncols, cond_t *c, char *err,
                           size_t errlen) {
    int shown = n > 64 ? 64 : (int)n;
    const char *eq = memchr(seg, '=', n);
    if (!eq) {
        seterr(err, errlen, "invalid filter \"%.*s\": expected column=operator.value", shown, seg);
        return -1;
    }
    const char *name = seg;
    size_t namelen = (size_t)(eq - seg);
    const char *rest = eq + 1;
    size_t rn = n - namelen - 1;
    if (rn >= 4 && memcmp(rest, "not.", 4) == 0) {
        c->negate = 1;
        rest += 4;
        rn -= 4;
    }
    const char *dot = memchr(rest, '.', rn);
    if (!dot) {
        seterr(err, errlen, "invalid filter \"%.*s\": expected column=operator.value", shown, seg);
        return -1;
    }
    size_t oplen = (size_t)(dot - rest);
    size_t op = 0;
    while (op < sizeof op_names / sizeof op_names[0] &&
           !(strlen(op_names[op]) == oplen && memcmp(op_names[op], rest, oplen) == 0))
        op++;
    if (op == sizeof op_names / sizeof op_names[0]) {
        seterr(err, errlen, "invalid filter operator %.*s", oplen > 32 ? 32 : (int)oplen, rest);
        return -1;
    }
    c->op = (op_t)op;
    const char *val = dot + 1;
    size_t vlen = rn - oplen - 1;
    if (c->op == OP_IN && !(vlen >= 2 && val[0] == '(' && val[vlen - 1] == ')')) {
        seterr(err, errlen, "`in` filter value must be wrapped by parentheses");
        return -1;
    }
    const cdc_column_t *col = find_column(cols, ncols, name, namelen, &c->col);
    if (!col) {
        seterr(err, errlen, "invalid column for filter %.*s", namelen > 64 ? 64 : (int)namelen, name);
        return -1;
    }
    c->kind = pgv_type_kind(col->type, &c->sub);
    return cond_prepare(c, col, val, vlen, err, errlen);
}

cdc_filter_t *cdc_filter_parse(const char *filter, const cdc_column_t *cols, size_t ncols, char *err, size_t errlen) {
    cdc_filter_t *f = xcalloc(1, sizeof *f);
    span_t *segs = NULL;
    if (err && errlen)
        err[0] = '\0';
    const char *s = filter ? filter : "";
    size_t n = strlen(s);
    pgc_trim(&s, &n);
    if (n == 0)
        return f;
    if (n > FILTER_MAX_LEN) {
        seterr(err, errlen, "filter is too long (at most %d bytes)", FILTER_MAX_LEN);
        goto fail;
    }
    size_t nseg = split_top_level(s, n, &segs);
    f->conds = xcalloc(nseg, sizeof *f->conds);
    f->cols = xcalloc(nseg, sizeof *f->cols);
    for (size_t i = 0; i < nseg; i++) {
        const char *seg = segs[i].s;
        size_t sl = segs[i].n;
        pgc_trim(&seg, &sl);
        if (sl == 0) {
            seterr(err, errlen, "filter must not contain empty segments (check for extra commas)");
            goto fail;
        }
        cond_t *c = &f->conds[f->n++];
        if (parse_condition(seg, sl, cols, ncols, c, err, errlen) != 0)
            goto fail;
        size_t k = 0;
        while (k < f->ncols && f->cols[k] != c->col)
            k++;
        if (k == f->ncols)
            f->cols[f->ncols++] = c->col;
    }
    free(segs);
    return f;
fail:
    free(segs);
    cdc_filter_free(f);
    return NULL;
}

/* ------------------------------------------------------------------------
 * Work accounting
 * ---------------------------------------------------------------------- */

/* Work accounting for cdc_filter_match_budget: *left units remain. A
 * charge larger than what remains empties the budget and fails, so callers
 * charge before the work they can size and stop there. */
static inline int charge(uint64_t *left, uint64_t units) {
    if (*left < units) {
        *left = 0;
        return -1;
    }
    *left -= units;
    return 0;
}

static int kind_is_bytes(pgv_kind_t k) {
    return k == PGV_TEXT || k == PGV_OPAQUE || k == PGV_BPCHAR || k == PGV_CITEXT;
}

/* What reading a cell of n bytes as a value of the kind costs: the typed
 * kinds are parsed (linear in the cell, which a customer controls: a
 * 512 KiB "number" must cost what it costs), bpchar's padding is scanned
 * from the end, the other text kinds are their bytes as they are. */
static uint64_t cell_units(pgv_kind_t kind, size_t n) {
    return kind == PGV_TEXT || kind == PGV_OPAQUE || kind == PGV_CITEXT ? 0 : n;
}

/* A cell as a value of the kind, parsed once however many operands it is
 * compared with (an `in` list has up to 100). Returns 0, or -1 if the cell
 * is not a value of the kind (then no comparison is true). */
static int cell_value(pgv_kind_t kind, int sub, const char *s, size_t n, pgv_val_t *out) {
    if (kind == PGV_TEXT || kind == PGV_OPAQUE || kind == PGV_CITEXT) {
        out->s = s; /* nothing else of a text value is ever read */
        out->len = n;
        return 0;
    }
    return pgv_parse(kind, sub, s, n, 0, out) == 0 ? 0 : -1;
}

/* An upper bound of the work pgv_cmp does on a cell of n bytes and operand
 * v, known before the cell is read: the bytes it may compare (numerics are
 * charged per comparison instead, digits being known only once parsed). */
static uint64_t cmp_units(pgv_kind_t kind, size_t n, const pgv_val_t *v) {
    return kind_is_bytes(kind) ? (uint64_t)(n < v->len ? n : v->len) : 0;
}

/* The digits pgv_cmp may walk comparing two numerics. */
static uint64_t numeric_units(const pgv_val_t *a, const pgv_val_t *b) {
    return a->u.dec.nch > b->u.dec.nch ? a->u.dec.nch : b->u.dec.nch;
}

/* ------------------------------------------------------------------------
 * Evaluation
 * ---------------------------------------------------------------------- */

/* TV_BUDGET: the budget ran out before the condition's value was known. */
enum { TV_FALSE = 0, TV_TRUE = 1, TV_NULL = 2, TV_BUDGET = 3 };

static int tv_not(int tv) { return tv == TV_NULL ? TV_NULL : !tv; }

/* One condition on its cell. Charges 1 for the condition plus, before
 * reading the cell, a bound of the work it will do (LIKE and regexes charge
 * as they go; numerics per comparison). */
static int cond_eval(const cond_t *c, const cdc_cell_t *cell, uint64_t *left) {
    int isnull = cell->data == NULL;
    size_t n = cell->len;
    pgv_val_t cv;
    int r;
    switch (c->op) {
    case OP_IS:
        if (charge(left, 1) != 0)
            return TV_BUDGET;
        if (c->is_kw == 0 || c->is_kw == 3) {
            r = isnull;
        } else if (isnull) {
            r = 0;
        } else {
            int64_t b;
            if (charge(left, n) != 0) /* boolin trims the whole cell */
                return TV_BUDGET;
            if (pgv_parse_bool(cell->data, n, &b) != 0)
                return TV_NULL;
            r = c->is_kw == 1 ? b == 1 : b == 0;
        }
        return c->negate ? !r : r;
    case OP_ISDISTINCT:
        r = 1;
        if (charge(left, isnull ? 1 : 1 + cell_units(c->kind, n) + cmp_units(c->kind, n, &c->val)) != 0)
            return TV_BUDGET;
        if (!isnull) {
            if (cell_value(c->kind, c->sub, cell->data, n, &cv) != 0)
                return TV_NULL;
            if (c->kind == PGV_NUMERIC && charge(left, numeric_units(&cv, &c->val)) != 0)
                return TV_BUDGET;
            r = pgv_cmp(c->kind, &cv, &c->val) != 0;
        }
        return c->negate ? !r : r;
    case OP_IN: {
        int tv;
        if (charge(left, 1) != 0)
            return TV_BUDGET;
        if (c->nlist == 0) { /* x = ANY('{}') is false, even for NULL x */
            tv = TV_FALSE;
        } else if (isnull) {
            tv = TV_NULL;
        } else {
            /* Each element is compared once, at most the shorter of the
             * two in bytes: charged whole, before the loop. */
            uint64_t bytes = 0;
            if (kind_is_bytes(c->kind)) {
                bytes = (uint64_t)n * c->nlist;
                if (bytes > c->list_bytes)
                    bytes = c->list_bytes;
            }
            if (charge(left, cell_units(c->kind, n) + c->nlist + bytes) != 0)
                return TV_BUDGET;
            if (cell_value(c->kind, c->sub, cell->data, n, &cv) != 0)
                return TV_NULL;
            tv = TV_FALSE;
            for (size_t k = 0; k < c->nlist; k++) {
                if (c->list[k].isnull) {
                    tv = TV_NULL;
                    continue;
                }
                if (c->kind == PGV_NUMERIC && charge(left, numeric_units(&cv, &c->list[k])) != 0)
                    return TV_BUDGET;
                if (pgv_cmp(c->kind, &cv, &c->list[k]) == 0) {
                    tv = TV_TRUE;
                    break;
                }
            }
        }
        return c->negate ? tv_not(tv) : tv;
    }
    default: break;
    }
    if (isnull)
        return charge(left, 1) != 0 ? TV_BUDGET : TV_NULL;
    switch (c->op) {
    case OP_LIKE:
    case OP_ILIKE:
        if (charge(left, 1) != 0)
            return TV_BUDGET;
        r = pglike_match(cell->data, n, c->val.s, c->val.len, c->op == OP_ILIKE || c->kind == PGV_CITEXT, left);
        break;
    case OP_MATCH:
    case OP_IMATCH:
        if (charge(left, 1) != 0)
            return TV_BUDGET;
        r = pgregex_exec(c->re, cell->data, n, left);
        break;
    default: {
        if (charge(left, 1 + cell_units(c->kind, n) + cmp_units(c->kind, n, &c->val)) != 0)
            return TV_BUDGET;
        if (cell_value(c->kind, c->sub, cell->data, n, &cv) != 0)
            return TV_NULL;
        if (c->kind == PGV_NUMERIC && charge(left, numeric_units(&cv, &c->val)) != 0)
            return TV_BUDGET;
        int cmp = pgv_cmp(c->kind, &cv, &c->val);
        switch (c->op) {
        case OP_EQ: r = cmp == 0; break;
        case OP_NEQ: r = cmp != 0; break;
        case OP_LT: r = cmp < 0; break;
        case OP_LTE: r = cmp <= 0; break;
        case OP_GT: r = cmp > 0; break;
        default: r = cmp >= 0; break;
        }
        break;
    }
    }
    if (r < 0)
        return TV_BUDGET;
    return c->negate ? !r : r;
}

/* The evaluation both entry points inline: a call between them would cost
 * more than the budget's bookkeeping does. */
static inline int filter_eval(const cdc_filter_t *f, const cdc_cell_t *cells, const uint8_t *unknown,
                              uint64_t *budget) {
    if (!f)
        return 1;
    for (size_t i = 0; i < f->n; i++) {
        const cond_t *c = &f->conds[i];
        if (unknown && unknown[c->col] && cells[c->col].data == NULL)
            return charge(budget, 1) != 0 ? -1 : 0;
        int tv = cond_eval(c, &cells[c->col], budget);
        if (tv == TV_BUDGET) {
            *budget = 0;
            return -1;
        }
        if (tv != TV_TRUE)
            return 0;
    }
    return 1;
}

int cdc_filter_match_budget(const cdc_filter_t *f, const cdc_cell_t *cells, const uint8_t *unknown, uint64_t *budget) {
    return filter_eval(f, cells, unknown, budget);
}

int cdc_filter_match(const cdc_filter_t *f, const cdc_cell_t *cells, const uint8_t *unknown) {
    /* The same evaluation with a budget no evaluation can spend (2^64 units
     * are centuries of work), so both entry points always agree. */
    uint64_t unlimited = UINT64_MAX;
    return filter_eval(f, cells, unknown, &unlimited) == 1;
}

size_t cdc_filter_columns(const cdc_filter_t *f, const size_t **idx) {
    *idx = f ? f->cols : NULL;
    return f ? f->ncols : 0;
}

int cdc_filter_eq_key(const cdc_filter_t *f, size_t *col, const char **value, size_t *len) {
    for (size_t i = 0; f && i < f->n; i++)
        if (f->conds[i].key) {
            *col = f->conds[i].col;
            *value = f->conds[i].key;
            *len = f->conds[i].keylen;
            return 1;
        }
    return 0;
}
