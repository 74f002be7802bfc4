/*
 * rest/query_url: the query string of a PostgREST request. It owns
 * splitting and form-decoding it into parameters, the lexer of names and
 * quoted names the other grammars share, fields (column, JSON path,
 * cast), select=, order=, the columns=/on_conflict= lists, and
 * limit/offset (intersected with the Range header on reads).
 * It must never paste request text into SQL unchecked: names are looked
 * up in the relation and double-quoted, JSON keys are bound, and only a
 * JSON array index (digits), a cast ([A-Za-z0-9_]) and the LIMIT/OFFSET
 * numbers it parsed itself are written verbatim.
 */
#include "rest/query_int.h"
#include "util/mem.h"
#include "util/pct.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- query string ------------------------------------------------------- */

/* application/x-www-form-urlencoded (what URLSearchParams sends): '+' is
 * a space and a malformed '%' stays literal. NULL if it would contain a
 * NUL byte; else malloc'd, the caller frees it. */
static char *url_decode(const char *s, size_t n) { return pct_decode_dup(s, n, PCT_PLUS_SPACE, NULL); }

int rq_parse_query(planner_t *p) {
    const char *q = p->req->query ? p->req->query : "";
    size_t cap = 0;
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t seg = amp ? (size_t)(amp - q) : strlen(q);
        if (seg > 0) {
            const char *eq = memchr(q, '=', seg);
            size_t klen = eq ? (size_t)(eq - q) : seg;
            char *k = url_decode(q, klen);
            char *v = eq ? url_decode(eq + 1, seg - klen - 1) : xstrdup("");
            if (!k || !v) {
                free(k);
                free(v);
                rq_err_set(p->err, 400, "PGRST100", "failed to parse the query string");
                rq_err_details(p->err, "a query parameter contains a NUL byte");
                return -1;
            }
            if (p->nqp == cap) {
                cap = cap ? cap * 2 : 8;
                p->qp = xrealloc(p->qp, cap * sizeof(*p->qp));
            }
            p->qp[p->nqp++] = (qparam_t){k, v, 0};
        }
        q += seg + (amp ? 1 : 0);
    }
    return 0;
}

/* The last value of a reserved parameter, marking every occurrence used. */
const char *rq_take_param(planner_t *p, const char *key) {
    const char *v = NULL;
    for (size_t i = 0; i < p->nqp; i++)
        if (!strcmp(p->qp[i].key, key)) {
            p->qp[i].used = 1;
            v = p->qp[i].val;
        }
    return v;
}

/* ---- names: the lexer every grammar of the query string shares ---------- */

/* Identifier characters as PostgREST reads them: letters (any non-ASCII
 * byte counts), digits, '_', '$', spaces (trimmed later), and '-' unless
 * it starts a "->" JSON arrow. */
static int ident_char(const cur_t *c) {
    int ch = peek(c);
    if (ch < 0)
        return 0;
    if (isalnum(ch) || ch == '_' || ch == '$' || ch == ' ' || ch >= 0x80)
        return 1;
    return ch == '-' && !(c->i + 1 < c->n && c->s[c->i + 1] == '>');
}

/* A double-quoted string with backslash escapes; returns malloc'd content
 * or NULL (no closing quote). The cursor is on the opening quote. */
char *rq_parse_quoted(cur_t *c) {
    c->i++;
    char *out = xmalloc(c->n - c->i + 1);
    size_t o = 0;
    while (c->i < c->n) {
        char ch = c->s[c->i++];
        if (ch == '"') {
            out[o] = '\0';
            return out;
        }
        if (ch == '\\' && c->i < c->n)
            ch = c->s[c->i++];
        out[o++] = ch;
    }
    free(out);
    return NULL;
}

/* A field name: quoted, or a run of identifier characters with the
 * surrounding spaces trimmed. Returns malloc'd or NULL if there is none. */
char *rq_parse_name(cur_t *c) {
    if (peek(c) == '"')
        return rq_parse_quoted(c);
    size_t start = c->i;
    while (ident_char(c))
        c->i++;
    size_t a = start, b = c->i;
    while (a < b && c->s[a] == ' ')
        a++;
    while (b > a && c->s[b - 1] == ' ')
        b--;
    if (a == b)
        return NULL;
    return xstrndup(c->s + a, b - a);
}

void rq_field_free(field_t *f) {
    free(f->col);
    free(f->alias);
    free(f->cast);
    free(f->last);
    if (f->path)
        buf_unref(f->path);
    memset(f, 0, sizeof(*f));
}

/* ---- fields: column, JSON path, cast --------------------------------- */

int rq_unknown_column(planner_t *p, const char *col) {
    rq_err_set(p->err, 400, "42703", "column %s.%s does not exist", p->relname, col);
    return -1;
}

/* JSON path operands: an integer index (pasted, digits only) or a key
 * (bound). Integer means optional '-' then 1..9 digits, followed by the
 * end of the operand. */
static int json_index_len(const cur_t *c) {
    size_t i = c->i, d = 0;
    if (i < c->n && c->s[i] == '-')
        i++;
    while (i < c->n && isdigit((unsigned char)c->s[i]) && d < 10)
        i++, d++;
    if (d == 0 || d > 9)
        return 0;
    if (i < c->n && !strchr("-:.,)", c->s[i]))
        return 0;
    if (i < c->n && c->s[i] == '-' && !(i + 1 < c->n && c->s[i + 1] == '>'))
        return 0;
    return (int)(i - c->i);
}

/* Parses "col[->a->>b]" at the cursor into f, checking col against the
 * relation. Returns 0, or -1 with err set (syntax: PGRST100 with what). */
int rq_parse_field(planner_t *p, cur_t *c, field_t *f, const char *what, const char *whole) {
    memset(f, 0, sizeof(*f));
    f->col = rq_parse_name(c);
    if (!f->col)
        goto syntax;
    while (at(c, "->")) {
        int two = at(c, "->>");
        c->i += two ? 3 : 2;
        if (!f->path)
            f->path = buf_new(32);
        buf_puts(&f->path, two ? "->>" : "->");
        free(f->last);
        int il = json_index_len(c);
        if (il > 0) {
            f->last = xstrndup(c->s + c->i, (size_t)il);
            if (f->last[0] == '-')
                buf_printf(&f->path, "(%s)", f->last);
            else
                buf_puts(&f->path, f->last);
            c->i += (size_t)il;
        } else {
            f->last = rq_parse_name(c);
            if (!f->last)
                goto syntax;
            int n = rq_add_param(p, f->last, strlen(f->last));
            if (n < 0)
                goto fail;
            rq_put_param(&f->path, n);
        }
    }
    if (!rest_table_column(p->rel, f->col)) {
        rq_unknown_column(p, f->col);
        goto fail;
    }
    return 0;
syntax:
    rq_err_set(p->err, 400, "PGRST100", "failed to parse %s (%s)", what, whole);
    rq_err_details(p->err, "expected a column name at position %zu", c->i + 1);
fail:
    rq_field_free(f);
    return -1;
}

/* Renders the field as an SQL expression qualified by qual; a JSON path
 * is parenthesised so that a following cast or operator binds to all of it. */
void rq_put_field(buf_t **b, const char *qual, const field_t *f) {
    if (f->path)
        buf_putc(b, '(');
    buf_puts(b, qual);
    buf_putc(b, '.');
    rq_put_ident(b, f->col);
    if (f->path) {
        buf_append(b, f->path->data, f->path->len);
        buf_putc(b, ')');
    }
}

/* ---- select ------------------------------------------------------------ */

static int embed_error(planner_t *p, const char *name, const char *sel) {
    rq_err_set(p->err, 400, "PGRST100", "embedding resources is not supported");
    rq_err_details(p->err,
                   "'%s' in select=%s names a related resource; this server serves one table or function per request",
                   name, sel);
    rq_err_hint(p->err, "Query the related table with a separate request");
    return -1;
}

static int select_syntax(planner_t *p, const char *sel, const cur_t *c) {
    rq_err_set(p->err, 400, "PGRST100", "failed to parse select parameter (%s)", sel);
    if (at_end(c))
        rq_err_details(p->err, "unexpected end of input");
    else
        rq_err_details(p->err, "unexpected \"%c\" at position %zu", c->s[c->i], c->i + 1);
    return -1;
}

/* One select item after an optional alias: field[->path][::cast], or an
 * embedding / aggregate, which are refused. */
static int select_item(planner_t *p, cur_t *c, const char *sel, const char *qual, buf_t **out) {
    field_t f;
    char *alias = NULL;
    size_t save = c->i;
    if (eat(c, "..."))
        return embed_error(p, "...", sel);
    char *first = rq_parse_name(c);
    if (!first)
        return select_syntax(p, sel, c);
    if (peek(c) == ':' && !at(c, "::")) {
        c->i++;
        alias = first;
        if (eat(c, "..."))
            goto embed;
    } else {
        free(first);
        c->i = save;
    }
    {
        /* Look ahead past the name for an embedding or aggregate. */
        cur_t look = *c;
        char *name = rq_parse_name(&look);
        if (!name) {
            free(alias);
            return select_syntax(p, sel, &look);
        }
        if (peek(&look) == '(' || peek(&look) == '!') {
            int agg = at(&look, "()");
            if (agg) {
                rq_err_set(p->err, 400, "PGRST123", "Use of aggregate functions is not allowed");
                free(name);
                free(alias);
                return -1;
            }
            embed_error(p, name, sel);
            free(name);
            free(alias);
            return -1;
        }
        free(name);
    }
    if (rq_parse_field(p, c, &f, "select parameter", sel) < 0) {
        free(alias);
        return -1;
    }
    f.alias = alias;
    if (peek(c) == '.') {
        /* col.sum() and friends: aggregates, disabled as in PostgREST's default */
        rq_err_set(p->err, 400, "PGRST123", "Use of aggregate functions is not allowed");
        rq_field_free(&f);
        return -1;
    }
    if (eat(c, "::")) {
        size_t s = c->i;
        while (!at_end(c) && (isalnum(peek(c)) || peek(c) == '_'))
            c->i++;
        if (c->i == s) {
            rq_field_free(&f);
            return select_syntax(p, sel, c);
        }
        f.cast = xstrndup(c->s + s, c->i - s);
    }
    if (!at_end(c) && peek(c) != ',') {
        rq_field_free(&f);
        return select_syntax(p, sel, c);
    }
    rq_put_field(out, qual, &f);
    if (f.cast)
        buf_printf(out, "::%s", f.cast);
    const char *as = f.alias ? f.alias : f.path ? f.last : f.cast ? f.col : NULL;
    if (as) {
        buf_puts(out, " AS ");
        rq_put_ident(out, as);
    }
    rq_field_free(&f);
    return 0;
embed : {
    cur_t look = *c;
    char *name = rq_parse_name(&look);
    embed_error(p, name ? name : "...", sel);
    free(name);
    free(alias);
    return -1;
}
}

/* select=... to an SQL select list qualified by qual; absent or empty
 * means every column. */
int rq_render_select(planner_t *p, const char *sel, const char *qual, buf_t **out) {
    if (!sel || !*sel) {
        buf_printf(out, "%s.*", qual);
        return 0;
    }
    cur_t c = {sel, 0, strlen(sel)};
    for (int first = 1;; first = 0) {
        if (!first)
            buf_puts(out, ", ");
        if (eat(&c, "*")) {
            buf_printf(out, "%s.*", qual);
            if (!at_end(&c) && peek(&c) != ',')
                return select_syntax(p, sel, &c);
        } else if (select_item(p, &c, sel, qual, out) < 0) {
            return -1;
        }
        if (at_end(&c))
            return 0;
        c.i++; /* ',' */
        if (at_end(&c))
            return select_syntax(p, sel, &c);
    }
}

/* ---- order ------------------------------------------------------------- */

static int order_syntax(planner_t *p, const char *ord, const cur_t *c) {
    rq_err_set(p->err, 400, "PGRST100", "failed to parse order (%s)", ord);
    if (at_end(c))
        rq_err_details(p->err, "unexpected end of input");
    else
        rq_err_details(p->err, "unexpected \"%c\" at position %zu", c->s[c->i], c->i + 1);
    return -1;
}

/* order=a.desc.nullslast,b → ORDER BY list (without the keywords). */
int rq_render_order(planner_t *p, const char *ord, const char *qual, buf_t **out) {
    cur_t c = {ord, 0, strlen(ord)};
    for (int first = 1;; first = 0) {
        field_t f;
        {
            cur_t look = c;
            char *name = rq_parse_name(&look);
            if (name && peek(&look) == '(') {
                rq_err_set(p->err, 400, "PGRST100", "ordering by a related resource is not supported");
                rq_err_details(p->err,
                               "'%s' in order=%s names a related resource; this server serves one table per request",
                               name, ord);
                free(name);
                return -1;
            }
            free(name);
        }
        if (rq_parse_field(p, &c, &f, "order", ord) < 0)
            return -1;
        if (!first)
            buf_puts(out, ", ");
        rq_put_field(out, qual, &f);
        rq_field_free(&f);
        if (eat(&c, ".asc"))
            buf_puts(out, " ASC");
        else if (eat(&c, ".desc"))
            buf_puts(out, " DESC");
        if (eat(&c, ".nullsfirst"))
            buf_puts(out, " NULLS FIRST");
        else if (eat(&c, ".nullslast"))
            buf_puts(out, " NULLS LAST");
        if (at_end(&c))
            return 0;
        if (peek(&c) != ',')
            return order_syntax(p, ord, &c);
        c.i++;
        if (at_end(&c))
            return order_syntax(p, ord, &c);
    }
}

/* The columns parameter: "a","b" or a,b. */
int rq_parse_columns_param(planner_t *p, const char *v, char ***cols, size_t *ncols) {
    cur_t c = {v, 0, strlen(v)};
    size_t cap = 0;
    for (;;) {
        char *name = rq_parse_name(&c);
        if (!name || (!at_end(&c) && peek(&c) != ',')) {
            free(name);
            rq_err_set(p->err, 400, "PGRST100", "failed to parse columns parameter (%s)", v);
            return -1;
        }
        if (*ncols == cap) {
            cap = cap ? cap * 2 : 8;
            *cols = xrealloc(*cols, cap * sizeof(**cols));
        }
        (*cols)[(*ncols)++] = name;
        if (at_end(&c))
            return 0;
        c.i++;
    }
}

void rq_free_names(char **v, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Non-negative decimal that fits int64 (limit/offset, Range bounds). */
static int parse_i64(const char *s, size_t n, int64_t *out) {
    if (n == 0 || n > 19)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        int d = s[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* limit/offset parameters, then (GET/HEAD only, as PostgREST 11+) the Range
 * header "a-b" / "a-", intersected. Sets p->offset and p->limit. */
int rq_parse_range(planner_t *p, int allow_header) {
    const char *lim = rq_take_param(p, "limit"), *off = rq_take_param(p, "offset");
    int64_t lower = 0, upper = NO_LIMIT, v;
    if (off) {
        if (parse_i64(off, strlen(off), &v) < 0) {
            rq_err_set(p->err, 400, "PGRST100", "failed to parse offset parameter (%s)", off);
            rq_err_details(p->err, "offset must be a non-negative integer");
            return -1;
        }
        lower = v;
    }
    if (lim) {
        if (parse_i64(lim, strlen(lim), &v) < 0) {
            rq_err_set(p->err, 400, "PGRST100", "failed to parse limit parameter (%s)", lim);
            rq_err_details(p->err, "limit must be a non-negative integer");
            return -1;
        }
        upper = v > NO_LIMIT - lower ? NO_LIMIT : lower + v - 1;
        if (v == 0)
            upper = lower - 1;
    }
    const char *h = allow_header ? p->req->range : NULL;
    if (h) {
        const char *dash = strchr(h, '-');
        int64_t lo, hi = NO_LIMIT;
        size_t hl = dash ? strlen(dash + 1) : 0;
        if (dash && parse_i64(h, (size_t)(dash - h), &lo) == 0 && (hl == 0 || parse_i64(dash + 1, hl, &hi) == 0)) {
            if (hi < lo) {
                rq_err_set(p->err, 416, "PGRST103", "Requested range not satisfiable");
                rq_err_details(
                    p->err,
                    "The lower boundary must be lower than or equal to the upper boundary in the Range header.");
                return -1;
            }
            if (lo > lower)
                lower = lo;
            if (hi < upper)
                upper = hi;
        } /* else: not a range PostgREST understands either; ignored */
    }
    p->offset = lower;
    p->limit = upper == NO_LIMIT ? NO_LIMIT : upper < lower ? 0 : upper - lower + 1;
    return 0;
}

void rq_put_limit(planner_t *p, buf_t **b) {
    if (p->limit != NO_LIMIT)
        buf_printf(b, " LIMIT %lld", (long long)p->limit);
    if (p->offset > 0)
        buf_printf(b, " OFFSET %lld", (long long)p->offset);
}
