/*
 * cdc/policy: see policy.h.
 *
 * The recogniser reads PostgreSQL's own deparsed text, which is regular
 * for these shapes: `(customer_id = ( SELECT auth.uid() AS uid))`,
 * `( SELECT is_admin() AS is_admin)`, `(status = 'pending'::booking_status)`.
 * Anything it does not recognise exactly is opaque and left to the
 * database, so a misreading can only cost a round trip, not a leak, as
 * long as each recognised shape means what it says:
 *  - UID is true only when the column's text equals the sub claim byte for
 *    byte (equal text means equal values for every type; a different text
 *    proves nothing for types like uuid, so a mismatch counts as false only
 *    when the claim is a canonical lowercase uuid and the column is uuid);
 *  - ROW literals are accepted only when they need no unescaping.
 */
#include "cdc/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

/* 1 if s[0..n) is one parenthesized group (its outer parentheses are
 * redundant). Quoted text is skipped. */
static int wrapped(const char *s, size_t n) {
    if (n < 2 || s[0] != '(' || s[n - 1] != ')')
        return 0;
    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\'' || c == '"') {
            for (i++; i < n && s[i] != c; i++)
                ;
            continue;
        }
        if (c == '(')
            depth++;
        else if (c == ')' && --depth == 0 && i != n - 1)
            return 0;
    }
    return depth == 0;
}

static int space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

static void trim(const char **s, size_t *n) {
    for (;;) {
        while (*n && space(**s))
            (*s)++, (*n)--;
        while (*n && space((*s)[*n - 1]))
            (*n)--;
        if (!wrapped(*s, *n))
            return;
        (*s)++;
        *n -= 2;
    }
}

size_t cdc_pol_split(const char *expr, const char *sep, char ***parts) {
    const char *s = expr;
    size_t n = strlen(expr);
    trim(&s, &n);
    char tok[8];
    size_t tl = (size_t)snprintf(tok, sizeof(tok), " %s ", sep);
    size_t cap = 4, np = 0, start = 0;
    *parts = xmalloc(cap * sizeof(**parts));
    int depth = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n) {
            char c = s[i];
            if (c == '\'' || c == '"') {
                for (i++; i < n && s[i] != c; i++)
                    ;
                if (i >= n)
                    i = n - 1; /* unterminated: the rest is quoted; still end the last part */
                continue;
            }
            if (c == '(')
                depth++;
            else if (c == ')')
                depth--;
        }
        /* deparsed keywords are upper case, surrounded by single spaces */
        int at_sep = i < n && depth == 0 && i + tl <= n && !memcmp(s + i, tok, tl);
        if (i == n || at_sep) {
            if (np == cap) {
                cap *= 2;
                *parts = xrealloc(*parts, cap * sizeof(**parts));
            }
            (*parts)[np++] = xstrndup(s + start, i - start);
            if (at_sep) {
                start = i + tl;
                i += tl - 1;
            }
        }
    }
    return np;
}

/* ---- recognising conjuncts ---------------------------------------------------- */

/* An identifier at the start of s[0..n): a plain lower-case name or a
 * quoted one without embedded quotes. Copies it into out; returns its
 * length in s, or 0. */
static size_t ident(const char *s, size_t n, char *out, size_t outsz) {
    if (n && s[0] == '"') {
        const char *e = memchr(s + 1, '"', n - 1);
        if (!e || (size_t)(e - s - 1) >= outsz || (e + 1 < s + n && e[1] == '"'))
            return 0;
        memcpy(out, s + 1, (size_t)(e - s - 1));
        out[e - s - 1] = 0;
        return (size_t)(e - s + 1);
    }
    size_t i = 0;
    while (i < n &&
           (s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (i && ((s[i] >= '0' && s[i] <= '9') || s[i] == '$'))))
        i++;
    if (!i || i >= outsz)
        return 0;
    memcpy(out, s, i);
    out[i] = 0;
    return i;
}

static long column(const cdc_column_t *cols, size_t ncols, const char *name) {
    for (size_t i = 0; i < ncols; i++)
        if (!strcmp(cols[i].name, name))
            return (long)i;
    return -1;
}

static int ends_with(const char *s, size_t n, const char *tail, size_t *head) {
    size_t tl = strlen(tail);
    if (n < tl || memcmp(s + n - tl, tail, tl) != 0)
        return 0;
    *head = n - tl;
    return 1;
}

/* `SELECT fn() AS alias` (outer parentheses already stripped): fn is a
 * name or schema.name, without arguments, and not auth.uid (a uuid, not a
 * truth value). Writes fn to out. */
static int claim_term(const char *s, size_t n, char *out, size_t outsz) {
    if (n < 7 || memcmp(s, "SELECT ", 7) != 0)
        return 0;
    s += 7, n -= 7;
    char a[64], b[64];
    size_t l = ident(s, n, a, sizeof(a));
    if (!l)
        return 0;
    s += l, n -= l;
    b[0] = 0;
    if (n && *s == '.') {
        size_t l2 = ident(s + 1, n - 1, b, sizeof(b));
        if (!l2)
            return 0;
        s += 1 + l2, n -= 1 + l2;
    }
    if (n < 7 || memcmp(s, "() AS ", 6) != 0)
        return 0;
    char alias[64];
    if (ident(s + 6, n - 6, alias, sizeof(alias)) != n - 6)
        return 0;
    if (b[0])
        snprintf(out, outsz, "%s.%s", a, b);
    else
        snprintf(out, outsz, "%s", a);
    return strcmp(out, "auth.uid") != 0 && strcmp(out, "uid") != 0;
}

static uint32_t add_claim(cdc_pol_terms_t *t, const char *sql, const char *fn) {
    for (size_t i = 0; i < t->nclaims; i++)
        if (!strcmp(t->claims[i], sql))
            return (uint32_t)i;
    t->claims = xrealloc(t->claims, (t->nclaims + 1) * sizeof(*t->claims));
    t->fn = xrealloc(t->fn, (t->nclaims + 1) * sizeof(*t->fn));
    t->claims[t->nclaims] = xstrdup(sql);
    t->fn[t->nclaims] = xstrdup(fn);
    return (uint32_t)t->nclaims++;
}

static int add_row(cdc_pol_terms_t *t, const char *filter, const cdc_column_t *cols, size_t ncols, uint32_t oid,
                   uint32_t *idx) {
    char err[128];
    cdc_filter_t *f = cdc_filter_parse(filter, cols, ncols, err, sizeof(err));
    if (!f)
        return 0;
    t->rows = xrealloc(t->rows, (t->nrows + 1) * sizeof(*t->rows));
    t->row_table = xrealloc(t->row_table, (t->nrows + 1) * sizeof(*t->row_table));
    t->rows[t->nrows] = f;
    t->row_table[t->nrows] = oid;
    *idx = (uint32_t)t->nrows++;
    return 1;
}

/* A literal usable verbatim as a filter value: no quote to unescape, and
 * nothing the filter grammar treats specially. */
static int plain_literal(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == ' ' || c == ':'))
            return 0;
    }
    return n > 0;
}

static pol_term_t recognise(const char *text, const cdc_column_t *cols, size_t ncols, uint32_t oid,
                            cdc_pol_terms_t *terms) {
    pol_term_t t = {0, 0};
    const char *s = text;
    size_t n = strlen(text), head;
    trim(&s, &n);
    char name[128], filter[512];
    if (n == 4 && !memcmp(s, "true", 4)) {
        t.kind = POL_TRUE;
        return t;
    }
    if (ends_with(s, n, " = ( SELECT auth.uid() AS uid)", &head)) {
        long c = ident(s, head, name, sizeof(name)) == head ? column(cols, ncols, name) : -1;
        if (c >= 0) {
            t.kind = POL_UID;
            t.arg = (uint32_t)c;
        }
        return t;
    }
    if (claim_term(s, n, name, sizeof(name))) {
        char sql[512];
        snprintf(sql, sizeof(sql), "(%.*s)", (int)n, s);
        t.kind = POL_CLAIM;
        t.arg = add_claim(terms, sql, name);
        return t;
    }
    size_t l = ident(s, n, name, sizeof(name));
    long c = l ? column(cols, ncols, name) : -1;
    if (c < 0)
        return t;
    const char *rest = s + l;
    size_t rn = n - l;
    const char *type = cols[c].type ? cols[c].type : "";
    int ok = 0;
    if (rn == 0 && !strcmp(type, "bool")) {
        snprintf(filter, sizeof(filter), "%s=is.true", name);
        ok = 1;
    } else if (rn == 8 && !memcmp(rest, " IS NULL", 8)) {
        snprintf(filter, sizeof(filter), "%s=is.null", name);
        ok = 1;
    } else if (rn == 12 && !memcmp(rest, " IS NOT NULL", 12)) {
        snprintf(filter, sizeof(filter), "%s=not.is.null", name);
        ok = 1;
    } else if (rn > 4 && !memcmp(rest, " = '", 4)) {
        const char *lit = rest + 4;
        const char *q = memchr(lit, '\'', rn - 4);
        if (q) {
            size_t ll = (size_t)(q - lit);
            const char *cast = q + 1;
            size_t cl = rn - 4 - ll - 1;
            /* the literal must be of the column's own type */
            int same_type =
                cl > 2 && cast[0] == ':' && cast[1] == ':' && strlen(type) == cl - 2 && !memcmp(cast + 2, type, cl - 2);
            if (same_type && plain_literal(lit, ll) && strchr(name, ',') == NULL) {
                snprintf(filter, sizeof(filter), "%s=eq.%.*s", name, (int)ll, lit);
                ok = 1;
            }
        }
    }
    if (ok && strchr(name, ',') == NULL && strchr(name, '=') == NULL &&
        add_row(terms, filter, cols, ncols, oid, &t.arg))
        t.kind = POL_ROW;
    return t;
}

cdc_policy_t *cdc_pol_compile(const char *expr, const cdc_column_t *cols, size_t ncols, uint32_t oid,
                              cdc_pol_terms_t *terms) {
    cdc_policy_t *p = xcalloc(1, sizeof(*p));
    p->exact = 1;
    /* Flatten nested ORs: the policies come as "(p1) OR (p2)" and each
     * may itself be an OR. */
    char **stack = NULL;
    size_t ns = 0, cap = 0;
    char **top;
    size_t nt = cdc_pol_split(expr, "OR", &top);
    for (size_t i = nt; i-- > 0;) {
        if (ns == cap) {
            cap = cap ? cap * 2 : 8;
            stack = xrealloc(stack, cap * sizeof(*stack));
        }
        stack[ns++] = top[i];
    }
    free(top);
    while (ns) {
        char *e = stack[--ns];
        char **parts;
        size_t np = cdc_pol_split(e, "OR", &parts);
        if (np > 1) {
            for (size_t i = np; i-- > 0;) {
                if (ns == cap) {
                    cap *= 2;
                    stack = xrealloc(stack, cap * sizeof(*stack));
                }
                stack[ns++] = parts[i];
            }
            free(parts);
            free(e);
            continue;
        }
        free(parts[0]);
        free(parts);
        /* one disjunct: its AND-ed conjuncts */
        p->d = xrealloc(p->d, (p->n + 1) * sizeof(*p->d));
        pol_disj_t *d = &p->d[p->n++];
        memset(d, 0, sizeof(*d));
        char **conj;
        size_t nc = cdc_pol_split(e, "AND", &conj);
        d->t = xcalloc(nc, sizeof(*d->t));
        d->n = nc;
        for (size_t i = 0; i < nc; i++) {
            d->t[i] = recognise(conj[i], cols, ncols, oid, terms);
            if (!d->t[i].kind)
                d->opaque = 1;
            free(conj[i]);
        }
        free(conj);
        if (d->opaque)
            p->exact = 0;
        free(e);
    }
    free(stack);
    return p;
}

void cdc_pol_free(cdc_policy_t *p) {
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->d[i].t);
    free(p->d);
    free(p);
}

void cdc_pol_terms_clear(cdc_pol_terms_t *t) {
    for (size_t i = 0; i < t->nclaims; i++) {
        free(t->claims[i]);
        free(t->fn[i]);
    }
    for (size_t i = 0; i < t->nrows; i++)
        cdc_filter_free(t->rows[i]);
    free(t->claims);
    free(t->fn);
    free(t->rows);
    free(t->row_table);
    memset(t, 0, sizeof(*t));
}

int cdc_pol_decide(const cdc_policy_t *p, const cdc_pol_input_t *in) {
    int undecided = 0;
    for (size_t i = 0; i < p->n; i++) {
        const pol_disj_t *d = &p->d[i];
        int v = 1; /* AND of the conjuncts: 1 true, 0 false, -1 unknown */
        for (size_t k = 0; k < d->n && v != 0; k++) {
            int x;
            switch (d->t[k].kind) {
            case POL_TRUE: x = 1; break;
            case POL_UID: x = in->uid_eq(in->ud, d->t[k].arg); break;
            case POL_ROW: x = in->row(in->ud, d->t[k].arg); break;
            case POL_CLAIM: x = in->claim ? in->claim[d->t[k].arg] : -1; break;
            default: x = -1; break;
            }
            if (x == 0)
                v = 0;
            else if (x < 0)
                v = -1;
        }
        if (v == 1)
            return 1;
        if (v < 0)
            undecided = 1;
    }
    return undecided ? -1 : 0;
}
