/*
 * rest/query: PostgREST's request grammar (the part supabase-js sends)
 * to one SQL statement, and the statement's result to PostgREST's answer.
 * It owns the parsing of select/order/filters/logic trees, Prefer, Range
 * and Accept, the shapes of the statements, and the status/header rules.
 *
 * It must never put a request byte into SQL: identifiers come from the
 * catalog and are double-quoted, values become bind parameters ($n, type
 * unknown so PostgreSQL infers it from the column), and the few things
 * pasted verbatim are checked to be digits (limits, JSON array indexes)
 * or [A-Za-z0-9_] (casts, which is what PostgREST allows too). It runs
 * nothing, holds no state between calls, and never decides who may see a
 * row: that is row-level security's job, in the caller's transaction.
 */
#include "rest/query.h"
#include "util/hex.h"
#include "util/mem.h"

#include <jansson.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REST_SCHEMA "public"
#define MAX_PARAMS 32767     /* well under PostgreSQL's 65535 bind parameters */
#define MAX_TREE_DEPTH 32    /* nested and()/or() in a logic tree */
#define NO_LIMIT INT64_MAX

/* ---- errors ------------------------------------------------------------ */

/* snprintf may cut a multi-byte character in half: drop the partial tail
 * so the JSON we send stays valid UTF-8 as far as we are concerned. */
static void utf8_trim(char *s, size_t cap, int n) {
    if (n < 0 || (size_t)n < cap)
        return;
    size_t len = strlen(s), i = len;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    if (i > 0 && ((unsigned char)s[i - 1] & 0x80)) {
        unsigned char lead = (unsigned char)s[i - 1];
        size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
        if (len - (i - 1) < want)
            s[i - 1] = '\0';
    }
}

static void vset(char *dst, size_t cap, const char *fmt, va_list ap) {
    int n = vsnprintf(dst, cap, fmt, ap);
    utf8_trim(dst, cap, n);
}

static void err_set(rest_error_t *e, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void err_set(rest_error_t *e, int status, const char *code, const char *fmt, ...) {
    memset(e, 0, sizeof(*e));
    e->status = status;
    snprintf(e->code, sizeof(e->code), "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vset(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

static void err_details(rest_error_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void err_details(rest_error_t *e, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vset(e->details, sizeof(e->details), fmt, ap);
    va_end(ap);
}

static void err_hint(rest_error_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void err_hint(rest_error_t *e, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vset(e->hint, sizeof(e->hint), fmt, ap);
    va_end(ap);
}

/* ---- the planner's state ----------------------------------------------- */

typedef struct {
    char *key, *val;
    int used;            /* reserved word or rpc argument: not a filter */
} qparam_t;

typedef enum { M_GET, M_HEAD, M_POST, M_PATCH, M_DELETE } method_t;

typedef struct {
    int ret;             /* 0 unset, 1 representation, 2 minimal, 3 headers-only */
    int count;           /* 0 none, else the index of the word in count_words */
    int resolution;      /* 0 none, 1 merge-duplicates, 2 ignore-duplicates */
    int missing;         /* 0 unset, 1 default, 2 null */
    int handling;        /* 0 unset, 1 strict, 2 lenient */
    long max_affected;   /* -1 unset */
} prefs_t;

static const char *const count_words[] = {"", "exact", "planned", "estimated"};

/* A column reference as a request names it: column, JSON path, cast. */
typedef struct {
    char *col;           /* catalog name, malloc'd */
    char *alias;         /* alias: or NULL */
    char *cast;          /* ::type or NULL */
    char *last;          /* last JSON path operand (the default alias), or NULL */
    buf_t *path;         /* rendered JSON path ("->$3->>$4") or NULL */
} field_t;

typedef struct {
    const rest_catalog_t *cat;
    const rest_request_t *req;
    rest_error_t *err;
    method_t method;
    prefs_t prefs;
    int strip_nulls;
    int single;
    qparam_t *qp;
    size_t nqp;
    char **params;
    int nparams, cap_params;
    const rest_table_t *rel;  /* what columns may be named: a table, or a function's result */
    rest_table_t fnrel;       /* the function's result, borrowed from the catalog */
    const char *relname;      /* for messages: table or function name */
    int64_t offset, limit;    /* limit NO_LIMIT = none */
} planner_t;

static void field_free(field_t *f) {
    free(f->col);
    free(f->alias);
    free(f->cast);
    free(f->last);
    if (f->path)
        buf_unref(f->path);
    memset(f, 0, sizeof(*f));
}

/* Stores a copy of v[0..n) as the next bind parameter; returns its number
 * ($n), or -1 (err set) past MAX_PARAMS. */
static int add_param(planner_t *p, const char *v, size_t n) {
    if (p->nparams >= MAX_PARAMS) {
        err_set(p->err, 400, "PGRST100", "too many values in the request");
        return -1;
    }
    if (p->nparams == p->cap_params) {
        p->cap_params = p->cap_params ? p->cap_params * 2 : 8;
        p->params = xrealloc(p->params, (size_t)p->cap_params * sizeof(*p->params));
    }
    p->params[p->nparams++] = v ? xstrndup(v, n) : NULL;
    return p->nparams;
}

/* Appends s as a double-quoted identifier. */
static void put_ident(buf_t **b, const char *s) {
    buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"')
            buf_putc(b, '"');
        buf_putc(b, *s);
    }
    buf_putc(b, '"');
}

static void put_param(buf_t **b, int n) { buf_printf(b, "$%d", n); }

/* Closes a buf into a malloc'd NUL-terminated string (caller frees) and
 * drops the buf. */
static char *buf_take(buf_t *b) {
    char *s = xstrndup((const char *)b->data, b->len);
    buf_unref(b);
    return s;
}

/* ---- query string ------------------------------------------------------- */

/* Decodes application/x-www-form-urlencoded (what URLSearchParams sends):
 * %XX and '+' as space; a malformed % stays literal. Returns a malloc'd
 * string (caller frees), or NULL if it would contain a NUL byte. */
static char *url_decode(const char *s, size_t n) {
    char *out = xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < n) {
            int hi = hex_digit((unsigned char)s[i + 1]), lo = hex_digit((unsigned char)s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                c = (char)(hi * 16 + lo);
                i += 2;
            }
        }
        if (c == '\0') {
            free(out);
            return NULL;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

static int parse_query(planner_t *p) {
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
                err_set(p->err, 400, "PGRST100", "failed to parse the query string");
                err_details(p->err, "a query parameter contains a NUL byte");
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
static const char *take_param(planner_t *p, const char *key) {
    const char *v = NULL;
    for (size_t i = 0; i < p->nqp; i++)
        if (!strcmp(p->qp[i].key, key)) {
            p->qp[i].used = 1;
            v = p->qp[i].val;
        }
    return v;
}

/* ---- a cursor over one parameter value ------------------------------- */

typedef struct {
    const char *s;
    size_t i, n;
} cur_t;

static int peek(const cur_t *c) { return c->i < c->n ? (unsigned char)c->s[c->i] : -1; }
static int at(const cur_t *c, const char *lit) {
    size_t l = strlen(lit);
    return c->n - c->i >= l && !memcmp(c->s + c->i, lit, l);
}
static int eat(cur_t *c, const char *lit) {
    if (!at(c, lit))
        return 0;
    c->i += strlen(lit);
    return 1;
}
static int at_end(const cur_t *c) { return c->i >= c->n; }

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
static char *parse_quoted(cur_t *c) {
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
static char *parse_name(cur_t *c) {
    if (peek(c) == '"')
        return parse_quoted(c);
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

/* ---- fields: column, JSON path, cast --------------------------------- */

static int unknown_column(planner_t *p, const char *col) {
    err_set(p->err, 400, "42703", "column %s.%s does not exist", p->relname, col);
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
static int parse_field(planner_t *p, cur_t *c, field_t *f, const char *what, const char *whole) {
    memset(f, 0, sizeof(*f));
    f->col = parse_name(c);
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
            f->last = parse_name(c);
            if (!f->last)
                goto syntax;
            int n = add_param(p, f->last, strlen(f->last));
            if (n < 0)
                goto fail;
            put_param(&f->path, n);
        }
    }
    if (!rest_table_column(p->rel, f->col)) {
        unknown_column(p, f->col);
        goto fail;
    }
    return 0;
syntax:
    err_set(p->err, 400, "PGRST100", "failed to parse %s (%s)", what, whole);
    err_details(p->err, "expected a column name at position %zu", c->i + 1);
fail:
    field_free(f);
    return -1;
}

/* Renders the field as an SQL expression qualified by qual; a JSON path
 * is parenthesised so that a following cast or operator binds to all of it. */
static void put_field(buf_t **b, const char *qual, const field_t *f) {
    if (f->path)
        buf_putc(b, '(');
    buf_puts(b, qual);
    buf_putc(b, '.');
    put_ident(b, f->col);
    if (f->path) {
        buf_append(b, f->path->data, f->path->len);
        buf_putc(b, ')');
    }
}

/* ---- select ------------------------------------------------------------ */

static int embed_error(planner_t *p, const char *name, const char *sel) {
    err_set(p->err, 400, "PGRST100", "embedding resources is not supported");
    err_details(p->err, "'%s' in select=%s names a related resource; this server serves one table or function per request",
                name, sel);
    err_hint(p->err, "Query the related table with a separate request");
    return -1;
}

static int select_syntax(planner_t *p, const char *sel, const cur_t *c) {
    err_set(p->err, 400, "PGRST100", "failed to parse select parameter (%s)", sel);
    if (at_end(c))
        err_details(p->err, "unexpected end of input");
    else
        err_details(p->err, "unexpected \"%c\" at position %zu", c->s[c->i], c->i + 1);
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
    char *first = parse_name(c);
    if (!first)
        return select_syntax(p, sel, c);
    if (peek(c) == ':' && !at(c, "::")) {
        c->i++;
        alias = first;
        save = c->i;
        if (eat(c, "..."))
            goto embed;
    } else {
        free(first);
        c->i = save;
    }
    {
        /* Look ahead past the name for an embedding or aggregate. */
        cur_t look = *c;
        char *name = parse_name(&look);
        if (!name) {
            free(alias);
            return select_syntax(p, sel, &look);
        }
        if (peek(&look) == '(' || peek(&look) == '!') {
            int agg = at(&look, "()");
            if (agg) {
                err_set(p->err, 400, "PGRST123", "Use of aggregate functions is not allowed");
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
    if (parse_field(p, c, &f, "select parameter", sel) < 0) {
        free(alias);
        return -1;
    }
    f.alias = alias;
    if (peek(c) == '.') {
        /* col.sum() and friends: aggregates, disabled as in PostgREST's default */
        err_set(p->err, 400, "PGRST123", "Use of aggregate functions is not allowed");
        field_free(&f);
        return -1;
    }
    if (eat(c, "::")) {
        size_t s = c->i;
        while (!at_end(c) && (isalnum(peek(c)) || peek(c) == '_'))
            c->i++;
        if (c->i == s) {
            field_free(&f);
            return select_syntax(p, sel, c);
        }
        f.cast = xstrndup(c->s + s, c->i - s);
    }
    if (!at_end(c) && peek(c) != ',') {
        field_free(&f);
        return select_syntax(p, sel, c);
    }
    put_field(out, qual, &f);
    if (f.cast)
        buf_printf(out, "::%s", f.cast);
    const char *as = f.alias ? f.alias : f.path ? f.last : f.cast ? f.col : NULL;
    if (as) {
        buf_puts(out, " AS ");
        put_ident(out, as);
    }
    field_free(&f);
    return 0;
embed:
    {
        cur_t look = *c;
        char *name = parse_name(&look);
        embed_error(p, name ? name : "...", sel);
        free(name);
        free(alias);
        return -1;
    }
}

/* select=... to an SQL select list qualified by qual; absent or empty
 * means every column. */
static int render_select(planner_t *p, const char *sel, const char *qual, buf_t **out) {
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
    err_set(p->err, 400, "PGRST100", "failed to parse order (%s)", ord);
    if (at_end(c))
        err_details(p->err, "unexpected end of input");
    else
        err_details(p->err, "unexpected \"%c\" at position %zu", c->s[c->i], c->i + 1);
    return -1;
}

/* order=a.desc.nullslast,b → ORDER BY list (without the keywords). */
static int render_order(planner_t *p, const char *ord, const char *qual, buf_t **out) {
    cur_t c = {ord, 0, strlen(ord)};
    for (int first = 1;; first = 0) {
        field_t f;
        {
            cur_t look = c;
            char *name = parse_name(&look);
            if (name && peek(&look) == '(') {
                err_set(p->err, 400, "PGRST100", "ordering by a related resource is not supported");
                err_details(p->err, "'%s' in order=%s names a related resource; this server serves one table per request",
                            name, ord);
                free(name);
                return -1;
            }
            free(name);
        }
        if (parse_field(p, &c, &f, "order", ord) < 0)
            return -1;
        if (!first)
            buf_puts(out, ", ");
        put_field(out, qual, &f);
        field_free(&f);
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

/* ---- filters ------------------------------------------------------------ */

typedef enum { OP_CMP, OP_LIKE, OP_IS, OP_ISDISTINCT, OP_IN, OP_FTS } opkind_t;

typedef struct {
    const char *name;
    opkind_t kind;
    const char *sql;     /* operator, or tsquery function for OP_FTS */
    int text_cast;       /* compare the column as text (like, match) */
    int quantifiable;    /* accepts (any)/(all) */
} op_t;

static const op_t ops[] = {
    {"eq", OP_CMP, "=", 0, 1},        {"neq", OP_CMP, "<>", 0, 0},
    {"gt", OP_CMP, ">", 0, 1},        {"gte", OP_CMP, ">=", 0, 1},
    {"lt", OP_CMP, "<", 0, 1},        {"lte", OP_CMP, "<=", 0, 1},
    {"like", OP_LIKE, "LIKE", 1, 1},  {"ilike", OP_LIKE, "ILIKE", 1, 1},
    {"match", OP_CMP, "~", 1, 1},     {"imatch", OP_CMP, "~*", 1, 1},
    {"is", OP_IS, "IS", 0, 0},        {"isdistinct", OP_ISDISTINCT, "IS DISTINCT FROM", 0, 0},
    {"in", OP_IN, "= ANY", 0, 0},     {"cs", OP_CMP, "@>", 0, 0},
    {"cd", OP_CMP, "<@", 0, 0},       {"ov", OP_CMP, "&&", 0, 0},
    {"sl", OP_CMP, "<<", 0, 0},       {"sr", OP_CMP, ">>", 0, 0},
    {"nxr", OP_CMP, "&<", 0, 0},      {"nxl", OP_CMP, "&>", 0, 0},
    {"adj", OP_CMP, "-|-", 0, 0},     {"fts", OP_FTS, "pg_catalog.to_tsquery", 0, 0},
    {"plfts", OP_FTS, "pg_catalog.plainto_tsquery", 0, 0},
    {"phfts", OP_FTS, "pg_catalog.phraseto_tsquery", 0, 0},
    {"wfts", OP_FTS, "pg_catalog.websearch_to_tsquery", 0, 0},
};

static const op_t *find_op(const char *s, size_t n) {
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (strlen(ops[i].name) == n && !memcmp(ops[i].name, s, n))
            return &ops[i];
    return NULL;
}

static int filter_syntax(planner_t *p, const char *whole, const char *why) {
    err_set(p->err, 400, "PGRST100", "failed to parse filter (%s)", whole);
    err_details(p->err, "%s", why);
    return -1;
}

/* Appends v as an element of a PostgreSQL array literal: always quoted,
 * so commas, braces and the word NULL are just text. */
static void put_array_elem(buf_t **b, const char *v, size_t n) {
    buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '"' || v[i] == '\\')
            buf_putc(b, '\\');
        buf_putc(b, v[i]);
    }
    buf_putc(b, '"');
}

/* "(a,"b,c",d)" at the cursor to an array literal {"a","b,c","d"} in *lit.
 * Elements are PostgREST's: quoted with backslash escapes, or anything
 * but ',' and ')'. Returns 0, or -1 on a syntax error. */
static int parse_in_list(cur_t *c, buf_t **lit) {
    if (!eat(c, "("))
        return -1;
    buf_putc(lit, '{');
    if (eat(c, ")")) {
        buf_putc(lit, '}');
        return 0;
    }
    for (int first = 1;; first = 0) {
        if (!first)
            buf_putc(lit, ',');
        if (peek(c) == '"') {
            cur_t save = *c;
            char *q = parse_quoted(c);
            if (q && (at_end(c) || peek(c) == ',' || peek(c) == ')')) {
                put_array_elem(lit, q, strlen(q));
                free(q);
                goto next;
            }
            free(q);
            *c = save; /* not a whole quoted element: read it raw */
        }
        {
            size_t s = c->i;
            while (!at_end(c) && peek(c) != ',' && peek(c) != ')')
                c->i++;
            put_array_elem(lit, c->s + s, c->i - s);
        }
    next:
        if (eat(c, ")")) {
            buf_putc(lit, '}');
            return 0;
        }
        if (!eat(c, ","))
            return -1;
    }
}

/* A single value inside a logic tree: "quoted", {pg,array}, or anything
 * up to ',' or ')'. Returns malloc'd text, or NULL on a syntax error. */
static char *parse_tree_value(cur_t *c) {
    if (peek(c) == '"') {
        cur_t save = *c;
        char *q = parse_quoted(c);
        if (q && (at_end(c) || peek(c) == ',' || peek(c) == ')'))
            return q;
        free(q);
        *c = save;
    }
    size_t s = c->i;
    if (peek(c) == '{') {
        while (!at_end(c) && peek(c) != '}')
            c->i++;
        if (!eat(c, "}"))
            return NULL;
        if (!at_end(c) && peek(c) != ',' && peek(c) != ')')
            return NULL;
        return xstrndup(c->s + s, c->i - s);
    }
    while (!at_end(c) && peek(c) != ',' && peek(c) != ')')
        c->i++;
    return xstrndup(c->s + s, c->i - s);
}

static char *like_pattern(const char *v) {
    char *s = xstrdup(v);
    for (char *q = s; *q; q++)
        if (*q == '*')
            *q = '%';
    return s;
}

/* Renders "[not.]op[(mod)].value" applied to field f. In a logic tree the
 * value ends at ',' or ')' and the cursor is left there; at the top level
 * the value is the rest of the parameter. whole is for messages. */
static int render_opexpr(planner_t *p, cur_t *c, const field_t *f, const char *qual, int in_tree, const char *whole,
                         buf_t **w) {
    int neg = eat(c, "not.");
    size_t s = c->i;
    while (!at_end(c) && isalpha(peek(c)))
        c->i++;
    const op_t *op = find_op(c->s + s, c->i - s);
    if (!op)
        return filter_syntax(p, whole, "unknown operator: expected eq, neq, gt, gte, lt, lte, like, ilike, match, imatch, "
                                       "is, isdistinct, in, cs, cd, ov, sl, sr, nxr, nxl, adj, fts, plfts, phfts, wfts");
    char quant[4] = "";
    char *config = NULL;
    if (eat(c, "(")) {
        size_t ms = c->i;
        while (!at_end(c) && (isalnum(peek(c)) || peek(c) == '_'))
            c->i++;
        size_t ml = c->i - ms;
        if (!eat(c, ")") || ml == 0)
            return filter_syntax(p, whole, "malformed operator modifier");
        if (op->kind == OP_FTS) {
            config = xstrndup(c->s + ms, ml);
        } else if (op->quantifiable && ml == 3 && (!memcmp(c->s + ms, "any", 3) || !memcmp(c->s + ms, "all", 3))) {
            memcpy(quant, c->s + ms, 3);
        } else {
            return filter_syntax(p, whole, "unknown operator modifier: expected (any) or (all)");
        }
    }
    if (!eat(c, ".")) {
        free(config);
        return filter_syntax(p, whole, "expected '.' and a value after the operator");
    }
    int rc = -1;
    char *val = NULL;
    buf_t *lit = NULL;
    if (op->kind == OP_IN) {
        lit = buf_new(32);
        if (parse_in_list(c, &lit) < 0 || (!in_tree && !at_end(c))) {
            filter_syntax(p, whole, "expected a list of values in parentheses: in.(a,b,\"c,d\")");
            goto out;
        }
    } else if (in_tree) {
        val = parse_tree_value(c);
        if (!val) {
            filter_syntax(p, whole, "malformed value");
            goto out;
        }
    } else {
        val = xstrndup(c->s + c->i, c->n - c->i);
        c->i = c->n;
    }
    if (neg)
        buf_puts(w, "NOT (");
    int n;
    switch (op->kind) {
    case OP_IS: {
        static const char *const words[][2] = {{"null", "NULL"},   {"not_null", "NOT NULL"}, {"true", "TRUE"},
                                               {"false", "FALSE"}, {"unknown", "UNKNOWN"}};
        const char *kw = NULL;
        for (size_t i = 0; i < 5; i++)
            if (!strcasecmp(val, words[i][0]))
                kw = words[i][1];
        if (!kw) {
            filter_syntax(p, whole, "is. takes null, not_null, true, false or unknown");
            goto out;
        }
        put_field(w, qual, f);
        buf_printf(w, " IS %s", kw);
        break;
    }
    case OP_IN:
        if ((n = add_param(p, (const char *)lit->data, lit->len)) < 0)
            goto out;
        put_field(w, qual, f);
        buf_puts(w, " = ANY (");
        put_param(w, n);
        buf_putc(w, ')');
        break;
    case OP_FTS: {
        int cn = 0;
        if (config && (cn = add_param(p, config, strlen(config))) < 0)
            goto out;
        if ((n = add_param(p, val, strlen(val))) < 0)
            goto out;
        put_field(w, qual, f);
        buf_printf(w, " @@ %s(", op->sql);
        if (cn) {
            put_param(w, cn);
            buf_puts(w, ", ");
        }
        put_param(w, n);
        buf_putc(w, ')');
        break;
    }
    default: {
        char *v = op->kind == OP_LIKE ? like_pattern(val) : NULL;
        n = add_param(p, v ? v : val, strlen(v ? v : val));
        free(v);
        if (n < 0)
            goto out;
        put_field(w, qual, f);
        if (op->text_cast)
            buf_puts(w, "::text");
        buf_printf(w, " %s ", op->sql);
        if (quant[0]) {
            buf_printf(w, "%s (", quant[1] == 'n' ? "ANY" : "ALL");
            put_param(w, n);
            buf_putc(w, ')');
        } else {
            put_param(w, n);
        }
    }
    }
    if (neg)
        buf_putc(w, ')');
    rc = 0;
out:
    free(val);
    free(config);
    if (lit)
        buf_unref(lit);
    return rc;
}

static int tree_syntax(planner_t *p, const char *whole, const char *why) {
    err_set(p->err, 400, "PGRST100", "failed to parse logic tree (%s)", whole);
    err_details(p->err, "%s", why);
    return -1;
}

/* "(item,item,...)" joined by joiner (" AND " / " OR "); an item is a
 * nested [not.]and(...)/or(...) or "field.[not.]op.value". */
static int render_tree(planner_t *p, cur_t *c, const char *joiner, const char *qual, const char *whole, int depth,
                       buf_t **w) {
    if (depth > MAX_TREE_DEPTH)
        return tree_syntax(p, whole, "logic tree nested too deeply");
    if (!eat(c, "("))
        return tree_syntax(p, whole, "expected '('");
    buf_putc(w, '(');
    for (int first = 1;; first = 0) {
        if (!first)
            buf_puts(w, joiner);
        int neg = 0;
        cur_t look = *c;
        neg = eat(&look, "not.");
        if (at(&look, "and(") || at(&look, "or(")) {
            int is_and = at(&look, "and(");
            look.i += is_and ? 3 : 2;
            *c = look;
            if (neg)
                buf_puts(w, "NOT ");
            if (render_tree(p, c, is_and ? " AND " : " OR ", qual, whole, depth + 1, w) < 0)
                return -1;
        } else {
            field_t f;
            if (parse_field(p, c, &f, "logic tree", whole) < 0)
                return -1;
            if (!eat(c, ".")) {
                field_free(&f);
                return tree_syntax(p, whole, "expected '.' after a column name");
            }
            int rc = render_opexpr(p, c, &f, qual, 1, whole, w);
            field_free(&f);
            if (rc < 0)
                return -1;
        }
        if (eat(c, ")")) {
            buf_putc(w, ')');
            return 0;
        }
        if (!eat(c, ","))
            return tree_syntax(p, whole, "expected ',' or ')'");
    }
}

static int is_tree_key(const char *k) {
    return !strcmp(k, "or") || !strcmp(k, "and") || !strcmp(k, "not.or") || !strcmp(k, "not.and");
}

/* One unreserved query parameter as a filter (key = field, value =
 * operator expression) or a logic tree; appended to *w. */
static int render_filter_param(planner_t *p, const qparam_t *q, const char *qual, buf_t **w) {
    if (is_tree_key(q->key)) {
        int neg = !strncmp(q->key, "not.", 4);
        const char *k = q->key + (neg ? 4 : 0);
        cur_t c = {q->val, 0, strlen(q->val)};
        if (neg)
            buf_puts(w, "NOT ");
        if (render_tree(p, &c, !strcmp(k, "and") ? " AND " : " OR ", qual, q->val, 0, w) < 0)
            return -1;
        if (!at_end(&c))
            return tree_syntax(p, q->val, "unexpected text after the closing ')'");
        return 0;
    }
    cur_t kc = {q->key, 0, strlen(q->key)};
    {
        cur_t look = kc;
        char *name = parse_name(&look);
        if (name && peek(&look) == '.') {
            err_set(p->err, 400, "PGRST108",
                    "Cannot apply filter because '%s' is not an embedded resource in this request", name);
            err_hint(p->err, "Verify that '%s' is included in the 'select' query parameter.", name);
            free(name);
            return -1;
        }
        free(name);
    }
    field_t f;
    if (parse_field(p, &kc, &f, "tree path", q->key) < 0)
        return -1;
    if (!at_end(&kc)) {
        field_free(&f);
        err_set(p->err, 400, "PGRST100", "failed to parse tree path (%s)", q->key);
        err_details(p->err, "unexpected \"%c\" at position %zu", q->key[kc.i], kc.i + 1);
        return -1;
    }
    cur_t vc = {q->val, 0, strlen(q->val)};
    int rc = render_opexpr(p, &vc, &f, qual, 0, q->val, w);
    field_free(&f);
    return rc;
}

/* Every unused parameter is a filter; rejects reserved words that name an
 * embedded resource (bids.order, bids.limit ...). Returns the number of
 * conditions appended to *w (AND-joined), or -1. */
static int render_where(planner_t *p, const char *qual, buf_t **w) {
    int n = 0;
    for (size_t i = 0; i < p->nqp; i++) {
        if (p->qp[i].used)
            continue;
        if (n++)
            buf_puts(w, " AND ");
        if (render_filter_param(p, &p->qp[i], qual, w) < 0)
            return -1;
    }
    return n;
}

/* ---- headers: Prefer, Accept, Range, profile ------------------------- */

static int strict_error(planner_t *p, const char *bad, size_t n) {
    err_set(p->err, 400, "PGRST122", "Invalid preferences given with handling=strict");
    err_details(p->err, "Invalid preferences: %.*s", (int)n, bad);
    return -1;
}

/* Prefer: comma-separated key=value tokens (several Prefer headers arrive
 * joined by commas). Unknown tokens are ignored unless handling=strict. */
static int parse_prefer(planner_t *p) {
    prefs_t *pr = &p->prefs;
    pr->max_affected = -1;
    const char *s = p->req->prefer;
    if (!s)
        return 0;
    const char *bad = NULL;
    size_t badlen = 0;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        const char *e = s;
        while (*e && *e != ',')
            e++;
        size_t n = (size_t)(e - s);
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n == 0)
            break;
#define TOK(lit) (n == strlen(lit) && !strncmp(s, lit, n))
        if (TOK("return=representation"))
            pr->ret = 1;
        else if (TOK("return=minimal"))
            pr->ret = 2;
        else if (TOK("return=headers-only"))
            pr->ret = 3;
        else if (TOK("count=exact"))
            pr->count = 1;
        else if (TOK("count=planned"))
            pr->count = 2;
        else if (TOK("count=estimated"))
            pr->count = 3;
        else if (TOK("resolution=merge-duplicates"))
            pr->resolution = 1;
        else if (TOK("resolution=ignore-duplicates"))
            pr->resolution = 2;
        else if (TOK("missing=default"))
            pr->missing = 1;
        else if (TOK("missing=null"))
            pr->missing = 2;
        else if (TOK("handling=strict"))
            pr->handling = 1;
        else if (TOK("handling=lenient"))
            pr->handling = 2;
        else if (TOK("tx=commit") || TOK("tx=rollback") || (n > 9 && !strncmp(s, "timezone=", 9)))
            ; /* accepted, not applied: the caller owns the transaction */
        else if (n > 13 && !strncmp(s, "max-affected=", 13)) {
            char tmp[24];
            size_t dl = n - 13;
            char *end;
            if (dl >= sizeof(tmp))
                goto invalid;
            memcpy(tmp, s + 13, dl);
            tmp[dl] = '\0';
            errno = 0;
            long v = strtol(tmp, &end, 10);
            if (errno || *end || v < 0 || !isdigit((unsigned char)tmp[0]))
                goto invalid;
            pr->max_affected = v;
        } else {
        invalid:
            if (!bad) {
                bad = s;
                badlen = n;
            }
        }
#undef TOK
        s = e;
    }
    if (bad && pr->handling == 1)
        return strict_error(p, bad, badlen);
    return 0;
}

/* Accept: the first media range we can produce wins (JSON array, or the
 * single object of .single()); none → 406 PGRST107. nulls=stripped asks
 * for null members to be dropped. */
static int parse_accept(planner_t *p) {
    const char *s = p->req->accept;
    if (!s || !*s)
        return 0;
    const char *r = s;
    while (*r) {
        while (*r == ' ' || *r == ',')
            r++;
        const char *e = r;
        while (*e && *e != ',')
            e++;
        const char *semi = memchr(r, ';', (size_t)(e - r));
        const char *te = semi ? semi : e;
        while (te > r && te[-1] == ' ')
            te--;
        size_t tl = (size_t)(te - r);
#define MT(lit) (tl == strlen(lit) && !strncasecmp(r, lit, tl))
        int single = MT("application/vnd.pgrst.object+json") || MT("application/vnd.pgrst.object");
        int ok = single || MT("application/json") || MT("application/*") || MT("*/*") ||
                 MT("application/vnd.pgrst.array+json") || MT("application/vnd.pgrst.array");
#undef MT
        if (ok && tl > 0) {
            p->single = single;
            if (semi) {
                /* parameters: nulls=stripped is the one we act on */
                for (const char *q = semi; q < e; q++)
                    if ((size_t)(e - q) >= 14 && !strncasecmp(q, "nulls=stripped", 14))
                        p->strip_nulls = 1;
            }
            return 0;
        }
        r = e;
    }
    err_set(p->err, 406, "PGRST107", "None of these media types are available: %s", s);
    return -1;
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
static int parse_range(planner_t *p, int allow_header) {
    const char *lim = take_param(p, "limit"), *off = take_param(p, "offset");
    int64_t lower = 0, upper = NO_LIMIT, v;
    if (off) {
        if (parse_i64(off, strlen(off), &v) < 0) {
            err_set(p->err, 400, "PGRST100", "failed to parse offset parameter (%s)", off);
            err_details(p->err, "offset must be a non-negative integer");
            return -1;
        }
        lower = v;
    }
    if (lim) {
        if (parse_i64(lim, strlen(lim), &v) < 0) {
            err_set(p->err, 400, "PGRST100", "failed to parse limit parameter (%s)", lim);
            err_details(p->err, "limit must be a non-negative integer");
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
                err_set(p->err, 416, "PGRST103", "Requested range not satisfiable");
                err_details(p->err, "The lower boundary must be lower than or equal to the upper boundary in the Range header.");
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

static void put_limit(planner_t *p, buf_t **b) {
    if (p->limit != NO_LIMIT)
        buf_printf(b, " LIMIT %lld", (long long)p->limit);
    if (p->offset > 0)
        buf_printf(b, " OFFSET %lld", (long long)p->offset);
}

/* Preference-Applied, in PostgREST's order; only what was asked and used. */
static char *prefer_applied(const planner_t *p, int resolution_used, int is_write) {
    buf_t *b = buf_new(64);
    const prefs_t *pr = &p->prefs;
    if (resolution_used)
        buf_printf(&b, "%sresolution=%s", b->len ? ", " : "",
                   pr->resolution == 1 ? "merge-duplicates" : "ignore-duplicates");
    if (is_write && pr->ret)
        buf_printf(&b, "%sreturn=%s", b->len ? ", " : "",
                   pr->ret == 1 ? "representation" : pr->ret == 2 ? "minimal" : "headers-only");
    if (pr->count)
        buf_printf(&b, "%scount=%s", b->len ? ", " : "", count_words[pr->count]);
    if (is_write && pr->missing)
        buf_printf(&b, "%smissing=%s", b->len ? ", " : "", pr->missing == 1 ? "default" : "null");
    if (pr->handling)
        buf_printf(&b, "%shandling=%s", b->len ? ", " : "", pr->handling == 1 ? "strict" : "lenient");
    if (p->method == M_PATCH || p->method == M_DELETE) {
        if (pr->handling == 1 && pr->max_affected >= 0)
            buf_printf(&b, "%smax-affected=%ld", b->len ? ", " : "", pr->max_affected);
    }
    if (b->len == 0) {
        buf_unref(b);
        return NULL;
    }
    return buf_take(b);
}

/* ---- statement shapes --------------------------------------------------- */

/* The aggregate that turns the rows of _pgrst_t into the JSON body. */
static void put_body_agg(planner_t *p, buf_t **b, const char *expr) {
    if (p->strip_nulls)
        buf_printf(b, "coalesce(pg_catalog.json_strip_nulls(pg_catalog.json_agg(%s)), '[]')::text", expr);
    else
        buf_printf(b, "coalesce(pg_catalog.json_agg(%s), '[]')::text", expr);
}

/* GET/HEAD on a table or view. */
static int plan_read(planner_t *p, rest_plan_t *plan, const char *qual) {
    int rc = -1;
    buf_t *sel = buf_new(128), *w = buf_new(128), *ord = buf_new(64), *sql = NULL;
    const char *order = take_param(p, "order");
    if (render_select(p, take_param(p, "select"), qual, &sel) < 0)
        goto out;
    if (parse_range(p, 1) < 0)
        goto out;
    if (order && render_order(p, order, qual, &ord) < 0)
        goto out;
    int nw = render_where(p, qual, &w);
    if (nw < 0)
        goto out;
    sql = buf_new(512);
    buf_puts(&sql, "SELECT ");
    if (p->method == M_HEAD)
        buf_puts(&sql, "NULL::text");
    else
        put_body_agg(p, &sql, "_pgrst_t");
    buf_puts(&sql, " AS body, ");
    if (p->prefs.count) {
        buf_printf(&sql, "(SELECT pg_catalog.count(*) FROM %s", qual);
        if (nw)
            buf_printf(&sql, " WHERE %.*s", (int)w->len, (const char *)w->data);
        buf_puts(&sql, ")");
    } else {
        buf_puts(&sql, "NULL::bigint");
    }
    buf_printf(&sql, " AS total, pg_catalog.count(*) AS nrows FROM (SELECT %.*s FROM %s", (int)sel->len,
               (const char *)sel->data, qual);
    if (nw)
        buf_printf(&sql, " WHERE %.*s", (int)w->len, (const char *)w->data);
    if (ord->len)
        buf_printf(&sql, " ORDER BY %.*s", (int)ord->len, (const char *)ord->data);
    put_limit(p, &sql);
    buf_puts(&sql, ") _pgrst_t");
    plan->sql = buf_take(sql);
    plan->result = REST_RESULT_ROWS;
    plan->return_body = p->method != M_HEAD;
    plan->offset = (long)p->offset;
    plan->prefer_applied = prefer_applied(p, 0, 0);
    rc = 0;
out:
    buf_unref(sel);
    buf_unref(w);
    buf_unref(ord);
    return rc;
}

/* Wraps a write statement: with return=representation, RETURNING every
 * column into a CTE that the select list projects and the body
 * aggregates; otherwise the bare statement (no RETURNING, so a policy
 * that allows INSERT without SELECT still works) and the row count. */
static int finish_write(planner_t *p, rest_plan_t *plan, const char *qual, buf_t *stmt, int resolution_used,
                        int returning) {
    int rc = -1;
    buf_t *sel = NULL, *ord = NULL;
    if (take_param(p, "limit") || take_param(p, "offset")) {
        err_set(p->err, 400, "PGRST100", "limit and offset are not supported on writes");
        err_details(p->err, "PostgREST 12 dropped limited updates and deletes; filter on a key instead");
        goto out;
    }
    const char *select = take_param(p, "select");
    const char *order = take_param(p, "order");
    plan->is_write = 1;
    plan->max_affected = p->prefs.handling == 1 ? p->prefs.max_affected : -1;
    plan->prefer_applied = prefer_applied(p, resolution_used, 1);
    if (p->prefs.ret != 1) {
        plan->sql = buf_take(stmt);
        stmt = NULL;
        plan->result = REST_RESULT_COMMAND;
        rc = 0;
        goto out;
    }
    sel = buf_new(128);
    ord = buf_new(64);
    if (render_select(p, select, "_pgrst_w", &sel) < 0)
        goto out;
    if (order && render_order(p, order, "_pgrst_w", &ord) < 0)
        goto out;
    buf_t *sql = buf_new(stmt->len + sel->len + 256);
    buf_printf(&sql, "WITH _pgrst_w AS (%.*s", (int)stmt->len, (const char *)stmt->data);
    if (returning)
        buf_printf(&sql, " RETURNING %s.*", qual);
    buf_puts(&sql, ") SELECT ");
    put_body_agg(p, &sql, "_pgrst_t");
    buf_printf(&sql, " AS body, pg_catalog.count(*) AS total, pg_catalog.count(*) AS nrows FROM (SELECT %.*s FROM _pgrst_w",
               (int)sel->len, (const char *)sel->data);
    if (ord->len)
        buf_printf(&sql, " ORDER BY %.*s", (int)ord->len, (const char *)ord->data);
    buf_puts(&sql, ") _pgrst_t");
    plan->sql = buf_take(sql);
    plan->result = REST_RESULT_ROWS;
    plan->return_body = 1;
    rc = 0;
out:
    if (stmt)
        buf_unref(stmt);
    if (sel)
        buf_unref(sel);
    if (ord)
        buf_unref(ord);
    return rc;
}

static int invalid_body(planner_t *p, const char *why) {
    err_set(p->err, 400, "PGRST102", "Empty or invalid json");
    if (why)
        err_details(p->err, "%s", why);
    return -1;
}

/* The request body as JSON. Integers are read as reals so that a big
 * number is not a parse error: only the shape and the keys matter here,
 * PostgreSQL reads the original text. Caller json_decref()s. */
static json_t *load_body(planner_t *p) {
    if (!p->req->body || p->req->body_len == 0) {
        invalid_body(p, NULL);
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(p->req->body, p->req->body_len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &je);
    if (!j)
        invalid_body(p, je.text);
    return j;
}

static int unknown_write_column(planner_t *p, const char *col) {
    err_set(p->err, 400, "PGRST204", "Could not find the '%s' column of '%s' in the schema cache", col, p->relname);
    return -1;
}

/* The columns parameter: "a","b" or a,b. */
static int parse_columns_param(planner_t *p, const char *v, char ***cols, size_t *ncols) {
    cur_t c = {v, 0, strlen(v)};
    size_t cap = 0;
    for (;;) {
        char *name = parse_name(&c);
        if (!name || (!at_end(&c) && peek(&c) != ',')) {
            free(name);
            err_set(p->err, 400, "PGRST100", "failed to parse columns parameter (%s)", v);
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

static void free_names(char **v, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* "a" type, "b" type: the column definition list of json_to_record(set). */
static int put_coldefs(planner_t *p, buf_t **b, char **cols, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const rest_column_t *col = rest_table_column(p->rel, cols[i]);
        if (!col)
            return unknown_write_column(p, cols[i]);
        if (i)
            buf_puts(b, ", ");
        put_ident(b, col->name);
        buf_printf(b, " %s", col->type);
    }
    return 0;
}

/* The keys of every object must be the same set (PostgREST's rule when no
 * columns parameter says which to take). */
static int same_keys(json_t *a, json_t *b) {
    if (json_object_size(a) != json_object_size(b))
        return 0;
    const char *k;
    json_t *v;
    json_object_foreach(a, k, v) {
        if (!json_object_get(b, k))
            return 0;
    }
    return 1;
}

/* The conflict target: on_conflict=a,b or the primary key; NULL-free
 * list in *out. Returns the count, 0 if there is none, -1 on error. */
static int conflict_target(planner_t *p, buf_t **out) {
    const char *oc = take_param(p, "on_conflict");
    if (oc) {
        char **cols = NULL;
        size_t n = 0;
        if (parse_columns_param(p, oc, &cols, &n) < 0) {
            free_names(cols, n);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            if (!rest_table_column(p->rel, cols[i])) {
                unknown_column(p, cols[i]);
                free_names(cols, n);
                return -1;
            }
            if (i)
                buf_puts(out, ", ");
            put_ident(out, cols[i]);
        }
        free_names(cols, n);
        return (int)n;
    }
    for (size_t i = 0; i < p->rel->npk; i++) {
        if (i)
            buf_puts(out, ", ");
        put_ident(out, p->rel->pk[i]);
    }
    return (int)p->rel->npk;
}

/* POST: insert one object or an array of objects, optionally upserting. */
static int plan_insert(planner_t *p, rest_plan_t *plan, const char *qual) {
    int rc = -1;
    char **cols = NULL;
    size_t ncols = 0;
    buf_t *stmt = NULL, *target = buf_new(64);
    json_t *body = load_body(p);
    if (!body)
        goto out;
    int is_obj = json_is_object(body);
    if (!is_obj && !json_is_array(body)) {
        invalid_body(p, "the body must be a JSON object or an array of objects");
        goto out;
    }
    size_t nrows = is_obj ? 1 : json_array_size(body);
    for (size_t i = 0; !is_obj && i < nrows; i++)
        if (!json_is_object(json_array_get(body, i))) {
            invalid_body(p, "the body must be a JSON object or an array of objects");
            goto out;
        }
    const char *colp = take_param(p, "columns");
    if (colp) {
        if (parse_columns_param(p, colp, &cols, &ncols) < 0)
            goto out;
    } else if (nrows > 0) {
        json_t *first = is_obj ? body : json_array_get(body, 0);
        for (size_t i = 1; i < nrows; i++)
            if (!same_keys(first, json_array_get(body, i))) {
                invalid_body(p, "All object keys must match");
                goto out;
            }
        const char *k;
        json_t *v;
        cols = xcalloc(json_object_size(first) + 1, sizeof(*cols));
        json_object_foreach(first, k, v) {
            cols[ncols++] = xstrdup(k);
        }
    }
    for (size_t i = 0; i < ncols; i++)
        if (!rest_table_column(p->rel, cols[i])) {
            unknown_write_column(p, cols[i]);
            goto out;
        }
    /* $1: always an array, so that one statement shape serves both. */
    int n1;
    if (is_obj) {
        buf_t *arr = buf_new(p->req->body_len + 2);
        buf_putc(&arr, '[');
        buf_append(&arr, p->req->body, p->req->body_len);
        buf_putc(&arr, ']');
        n1 = add_param(p, (const char *)arr->data, arr->len);
        buf_unref(arr);
    } else {
        n1 = add_param(p, p->req->body, p->req->body_len);
    }
    if (n1 < 0)
        goto out;
    int missing_default = p->prefs.missing == 1;
    stmt = buf_new(256);
    buf_printf(&stmt, "INSERT INTO %s", qual);
    if (ncols == 0) {
        buf_printf(&stmt, " SELECT FROM pg_catalog.json_array_elements($%d::json)", n1);
    } else {
        buf_puts(&stmt, " (");
        for (size_t i = 0; i < ncols; i++) {
            if (i)
                buf_puts(&stmt, ", ");
            put_ident(&stmt, cols[i]);
        }
        buf_puts(&stmt, ") SELECT ");
        for (size_t i = 0; i < ncols; i++) {
            const rest_column_t *col = rest_table_column(p->rel, cols[i]);
            if (i)
                buf_puts(&stmt, ", ");
            if (missing_default && col->default_expr) {
                /* key absent → the column's DEFAULT, key present (even null) → its value */
                int nk = add_param(p, cols[i], strlen(cols[i]));
                if (nk < 0)
                    goto out;
                buf_printf(&stmt, "CASE WHEN _pgrst_e.j ? $%d THEN _pgrst_b.", nk);
                put_ident(&stmt, cols[i]);
                buf_printf(&stmt, " ELSE %s END", col->default_expr);
            } else {
                buf_puts(&stmt, "_pgrst_b.");
                put_ident(&stmt, cols[i]);
            }
        }
        if (missing_default)
            buf_printf(&stmt,
                       " FROM pg_catalog.jsonb_array_elements($%d::jsonb) AS _pgrst_e(j)"
                       " CROSS JOIN LATERAL pg_catalog.jsonb_to_record(_pgrst_e.j) AS _pgrst_b(",
                       n1);
        else
            buf_printf(&stmt, " FROM pg_catalog.json_to_recordset($%d::json) AS _pgrst_b(", n1);
        if (put_coldefs(p, &stmt, cols, ncols) < 0)
            goto out;
        buf_putc(&stmt, ')');
    }
    int resolution_used = 0;
    if (p->prefs.resolution) {
        int nt = conflict_target(p, &target);
        if (nt < 0)
            goto out;
        if (nt > 0) {
            resolution_used = 1;
            buf_printf(&stmt, " ON CONFLICT (%.*s) DO ", (int)target->len, (const char *)target->data);
            if (p->prefs.resolution == 2 || ncols == 0) {
                buf_puts(&stmt, "NOTHING");
            } else {
                buf_puts(&stmt, "UPDATE SET ");
                for (size_t i = 0; i < ncols; i++) {
                    if (i)
                        buf_puts(&stmt, ", ");
                    put_ident(&stmt, cols[i]);
                    buf_puts(&stmt, " = EXCLUDED.");
                    put_ident(&stmt, cols[i]);
                }
            }
        }
    } else {
        take_param(p, "on_conflict");
    }
    /* Filters mean nothing to an INSERT (PostgREST ignores them too). */
    for (size_t i = 0; i < p->nqp; i++)
        p->qp[i].used = 1;
    plan->is_insert = 1;
    rc = finish_write(p, plan, qual, stmt, resolution_used, 1);
    stmt = NULL;
out:
    if (stmt)
        buf_unref(stmt);
    buf_unref(target);
    free_names(cols, ncols);
    if (body)
        json_decref(body);
    return rc;
}

/* Marks the parameters that shape a write's answer, so render_where does
 * not read them as filters. */
static void mark_write_params(planner_t *p) {
    static const char *const keys[] = {"select", "order", "limit", "offset", "columns", "on_conflict"};
    for (size_t i = 0; i < p->nqp; i++)
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
            if (!strcmp(p->qp[i].key, keys[k]))
                p->qp[i].used = 1;
}

/* PATCH: one object of new values, applied to the filtered rows. */
static int plan_update(planner_t *p, rest_plan_t *plan, const char *qual) {
    int rc = -1, returning = 1;
    char **cols = NULL;
    size_t ncols = 0;
    buf_t *stmt = NULL, *w = buf_new(128);
    json_t *body = load_body(p);
    if (!body)
        goto out;
    if (!json_is_object(body)) {
        invalid_body(p, "the body of a PATCH must be a JSON object");
        goto out;
    }
    const char *k;
    json_t *v;
    cols = xcalloc(json_object_size(body) + 1, sizeof(*cols));
    json_object_foreach(body, k, v) {
        if (!rest_table_column(p->rel, k)) {
            unknown_write_column(p, k);
            goto out;
        }
        cols[ncols++] = xstrdup(k);
    }
    mark_write_params(p);
    int nw = render_where(p, qual, &w);
    if (nw < 0)
        goto out;
    stmt = buf_new(256);
    if (ncols == 0) {
        /* Nothing to set: touch no row (nor fire UPDATE triggers), answer
         * as if none matched. */
        buf_printf(&stmt, "SELECT %s.* FROM %s WHERE false", qual, qual);
        if (nw) /* the filters still type their parameters */
            buf_printf(&stmt, " AND %.*s", (int)w->len, (const char *)w->data);
        returning = 0;
    } else {
        int n1 = add_param(p, p->req->body, p->req->body_len);
        if (n1 < 0)
            goto out;
        buf_printf(&stmt, "UPDATE %s SET ", qual);
        for (size_t i = 0; i < ncols; i++) {
            if (i)
                buf_puts(&stmt, ", ");
            put_ident(&stmt, cols[i]);
            buf_puts(&stmt, " = _pgrst_b.");
            put_ident(&stmt, cols[i]);
        }
        buf_printf(&stmt, " FROM pg_catalog.json_to_record($%d::json) AS _pgrst_b(", n1);
        if (put_coldefs(p, &stmt, cols, ncols) < 0)
            goto out;
        buf_putc(&stmt, ')');
        if (nw)
            buf_printf(&stmt, " WHERE %.*s", (int)w->len, (const char *)w->data);
    }
    rc = finish_write(p, plan, qual, stmt, 0, returning);
    stmt = NULL;
out:
    if (stmt)
        buf_unref(stmt);
    buf_unref(w);
    free_names(cols, ncols);
    if (body)
        json_decref(body);
    return rc;
}

static int plan_delete(planner_t *p, rest_plan_t *plan, const char *qual) {
    buf_t *w = buf_new(128);
    mark_write_params(p);
    int nw = render_where(p, qual, &w);
    if (nw < 0) {
        buf_unref(w);
        return -1;
    }
    buf_t *stmt = buf_new(128);
    buf_printf(&stmt, "DELETE FROM %s", qual);
    if (nw)
        buf_printf(&stmt, " WHERE %.*s", (int)w->len, (const char *)w->data);
    buf_unref(w);
    plan->is_delete = 1;
    return finish_write(p, plan, qual, stmt, 0, 1);
}

/* ---- rpc ------------------------------------------------------------------ */

static int is_json_type(const char *t) { return !strcmp(t, "json") || !strcmp(t, "jsonb"); }

/* A function of one unnamed json/jsonb parameter takes the whole body. */
static int single_json_arg(const rest_func_t *f) {
    return f->nargs == 1 && !f->args[0].name[0] && is_json_type(f->args[0].type);
}

static const rest_arg_t *func_arg(const rest_func_t *f, const char *name) {
    for (size_t i = 0; i < f->nargs; i++)
        if (f->args[i].name[0] && !strcmp(f->args[i].name, name))
            return &f->args[i];
    return NULL;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The argument names the request gives: the body's keys (POST) or the
 * unreserved query parameters (GET/HEAD), sorted, deduplicated. */
typedef struct {
    char **k;
    size_t n;
} keyset_t;

static void keyset_add(keyset_t *ks, const char *k) {
    for (size_t i = 0; i < ks->n; i++)
        if (!strcmp(ks->k[i], k))
            return;
    ks->k = xrealloc(ks->k, (ks->n + 1) * sizeof(*ks->k));
    ks->k[ks->n++] = xstrdup(k);
}

static void keyset_free(keyset_t *ks) { free_names(ks->k, ks->n); }

/* How well f fits the given keys: -1 not callable; else the number of
 * keys it takes as named arguments (POST: all of them must be). */
static int overload_score(const rest_func_t *f, const keyset_t *ks, int post) {
    int matched = 0;
    for (size_t i = 0; i < ks->n; i++) {
        if (func_arg(f, ks->k[i]))
            matched++;
        else if (post)
            return -1;
    }
    for (size_t i = 0; i < f->nargs; i++) {
        const rest_arg_t *a = &f->args[i];
        if (a->has_default)
            continue;
        if (!a->name[0])
            return -1; /* an unnamed required argument cannot be passed by name */
        int given = 0;
        for (size_t j = 0; j < ks->n && !given; j++)
            given = !strcmp(ks->k[j], a->name);
        if (!given)
            return -1;
    }
    return matched;
}

static void put_signature(buf_t **b, const rest_func_t *f) {
    buf_printf(b, "%s.%s(", f->schema, f->name);
    for (size_t i = 0; i < f->nargs; i++)
        buf_printf(b, "%s%s => %s", i ? ", " : "", f->args[i].name, f->args[i].type);
    buf_putc(b, ')');
}

static int func_not_found(planner_t *p, const char *fname, const keyset_t *ks, const rest_func_t *any) {
    buf_t *b = buf_new(64);
    for (size_t i = 0; i < ks->n; i++)
        buf_printf(&b, "%s%s", i ? ", " : "", ks->k[i]);
    buf_putc(&b, '\0');
    const char *names = (const char *)b->data;
    if (ks->n) {
        err_set(p->err, 404, "PGRST202", "Could not find the function %s.%s(%s) in the schema cache", REST_SCHEMA,
                fname, names);
        err_details(p->err,
                    "Searched for the function %s.%s with parameters %s or with a single unnamed json/jsonb parameter, "
                    "but no matches were found in the schema cache.",
                    REST_SCHEMA, fname, names);
    } else {
        err_set(p->err, 404, "PGRST202", "Could not find the function %s.%s without parameters in the schema cache",
                REST_SCHEMA, fname);
        err_details(p->err,
                    "Searched for the function %s.%s without parameters or with a single unnamed json/jsonb parameter, "
                    "but no matches were found in the schema cache.",
                    REST_SCHEMA, fname);
    }
    buf_unref(b);
    if (any) {
        buf_t *h = buf_new(64);
        for (size_t i = 0; i < any->nargs; i++)
            buf_printf(&h, "%s%s", i ? ", " : "", any->args[i].name);
        buf_putc(&h, '\0');
        err_hint(p->err, "Perhaps you meant to call the function %s.%s(%s)", any->schema, any->name,
                 (const char *)h->data);
        buf_unref(h);
    }
    return -1;
}

/* Picks the overload the keys call (PostgREST's rule: named arguments
 * must cover the required ones; POST may name nothing else; a single
 * unnamed json/jsonb parameter takes any POST body as a last resort). */
static const rest_func_t *choose_overload(planner_t *p, const char *fname, const keyset_t *ks, int post,
                                          int body_is_object, int *json_whole) {
    const rest_func_t *best = NULL, *fallback = NULL, *any = NULL, *tie = NULL;
    int best_score = -1;
    *json_whole = 0;
    for (size_t i = 0;; i++) {
        const rest_func_t *f = rest_catalog_func_at(p->cat, REST_SCHEMA, fname, i);
        if (!f)
            break;
        any = any ? any : f;
        if (post && single_json_arg(f)) {
            fallback = fallback ? fallback : f;
            continue;
        }
        int s = body_is_object || !post ? overload_score(f, ks, post) : -1;
        if (s < 0)
            continue;
        if (s > best_score) {
            best = f;
            best_score = s;
            tie = NULL;
        } else if (s == best_score) {
            tie = f;
        }
    }
    if (best && tie) {
        buf_t *b = buf_new(128);
        put_signature(&b, best);
        buf_puts(&b, ", ");
        put_signature(&b, tie);
        buf_putc(&b, '\0');
        err_set(p->err, 300, "PGRST203", "Could not choose the best candidate function between: %s",
                (const char *)b->data);
        err_hint(p->err, "Try renaming the parameters or the function itself in the database so function overloading "
                         "can be resolved");
        buf_unref(b);
        return NULL;
    }
    if (best)
        return best;
    if (fallback) {
        *json_whole = 1;
        return fallback;
    }
    func_not_found(p, fname, ks, any);
    return NULL;
}

/* The GET value of a named argument: the last occurrence, or for a
 * VARIADIC one every occurrence as an array literal (a single "{...}" is
 * taken as the array itself). Returns a malloc'd string. */
static char *get_arg_value(planner_t *p, const rest_arg_t *a) {
    size_t count = 0;
    const char *last = NULL;
    for (size_t i = 0; i < p->nqp; i++)
        if (!strcmp(p->qp[i].key, a->name)) {
            p->qp[i].used = 1;
            count++;
            last = p->qp[i].val;
        }
    if (!a->is_variadic || (count == 1 && last[0] == '{'))
        return xstrdup(last);
    buf_t *lit = buf_new(64);
    buf_putc(&lit, '{');
    size_t k = 0;
    for (size_t i = 0; i < p->nqp; i++)
        if (!strcmp(p->qp[i].key, a->name)) {
            if (k++)
                buf_putc(&lit, ',');
            put_array_elem(&lit, p->qp[i].val, strlen(p->qp[i].val));
        }
    buf_putc(&lit, '}');
    return buf_take(lit);
}

/* The call expression, and (POST with named arguments) the FROM item that
 * types the body's members: json_to_record(...) AS _pgrst_a(...). */
static int render_call(planner_t *p, const rest_func_t *f, const keyset_t *ks, int post, int json_whole,
                       buf_t **call, buf_t **from) {
    put_ident(call, f->schema);
    buf_putc(call, '.');
    put_ident(call, f->name);
    buf_putc(call, '(');
    if (json_whole) {
        int n = p->req->body && p->req->body_len ? add_param(p, p->req->body, p->req->body_len)
                                                 : add_param(p, "{}", 2);
        if (n < 0)
            return -1;
        buf_printf(call, "$%d::%s)", n, f->args[0].type);
        return 0;
    }
    int nb = 0;
    if (post && ks->n) {
        if ((nb = add_param(p, p->req->body, p->req->body_len)) < 0)
            return -1;
        buf_printf(from, "pg_catalog.json_to_record($%d::json) AS _pgrst_a(", nb);
    }
    size_t k = 0;
    for (size_t i = 0; i < f->nargs; i++) {
        const rest_arg_t *a = &f->args[i];
        int given = 0;
        for (size_t j = 0; j < ks->n && !given; j++)
            given = a->name[0] && !strcmp(ks->k[j], a->name);
        if (!given)
            continue; /* left to its DEFAULT */
        if (k++) {
            buf_puts(call, ", ");
            if (post)
                buf_puts(from, ", ");
        }
        if (a->is_variadic)
            buf_puts(call, "VARIADIC ");
        put_ident(call, a->name);
        buf_puts(call, " := ");
        if (post) {
            buf_puts(call, "_pgrst_a.");
            put_ident(call, a->name);
            put_ident(from, a->name);
            buf_printf(from, " %s", a->type);
        } else {
            char *v = get_arg_value(p, a);
            int n = add_param(p, v, strlen(v));
            free(v);
            if (n < 0)
                return -1;
            buf_printf(call, "$%d::%s", n, a->type);
        }
    }
    buf_putc(call, ')');
    if (nb)
        buf_putc(from, ')');
    return 0;
}

/* The body, its total and its length over _pgrst_s, the function's rows. */
static int plan_rpc_rows(planner_t *p, rest_plan_t *plan, const rest_func_t *f, buf_t *call, buf_t *from) {
    int rc = -1;
    int scalar_set = !f->returns_composite;
    buf_t *sel = buf_new(128), *w = buf_new(128), *ord = buf_new(64), *sql = NULL;
    const char *select = take_param(p, "select"), *order = take_param(p, "order");
    if (scalar_set)
        buf_puts(&sel, "_pgrst_r.pgrst_scalar");
    else if (render_select(p, select, "_pgrst_r", &sel) < 0)
        goto out;
    if (order && render_order(p, order, "_pgrst_r", &ord) < 0)
        goto out;
    int nw = render_where(p, "_pgrst_r", &w);
    if (nw < 0)
        goto out;
    sql = buf_new(512);
    buf_puts(&sql, "WITH _pgrst_s AS (SELECT _pgrst_r.* FROM ");
    if (from->len)
        buf_printf(&sql, "%.*s CROSS JOIN LATERAL ", (int)from->len, (const char *)from->data);
    buf_printf(&sql, "%.*s AS _pgrst_r", (int)call->len, (const char *)call->data);
    if (scalar_set) {
        buf_puts(&sql, "(pgrst_scalar)");
    } else if (f->ret_out_params) {
        buf_putc(&sql, '(');
        for (size_t i = 0; i < f->nret_cols; i++) {
            if (i)
                buf_puts(&sql, ", ");
            put_ident(&sql, f->ret_cols[i].name);
        }
        buf_putc(&sql, ')');
    }
    if (nw)
        buf_printf(&sql, " WHERE %.*s", (int)w->len, (const char *)w->data);
    buf_puts(&sql, ") SELECT ");
    int single_row = !f->returns_set;
    if (p->method == M_HEAD)
        buf_puts(&sql, "NULL::text");
    else if (single_row)
        buf_printf(&sql, "coalesce((%spg_catalog.json_agg(_pgrst_t) -> 0%s)::text, 'null')",
                   p->strip_nulls ? "pg_catalog.json_strip_nulls(" : "", p->strip_nulls ? ")" : "");
    else
        put_body_agg(p, &sql, scalar_set ? "_pgrst_t.pgrst_scalar" : "_pgrst_t");
    buf_puts(&sql, " AS body, ");
    buf_puts(&sql, p->prefs.count ? "(SELECT pg_catalog.count(*) FROM _pgrst_s)" : "NULL::bigint");
    buf_printf(&sql, " AS total, pg_catalog.count(*) AS nrows FROM (SELECT %.*s FROM _pgrst_s AS _pgrst_r",
               (int)sel->len, (const char *)sel->data);
    if (ord->len)
        buf_printf(&sql, " ORDER BY %.*s", (int)ord->len, (const char *)ord->data);
    put_limit(p, &sql);
    buf_puts(&sql, ") _pgrst_t");
    plan->sql = buf_take(sql);
    plan->result = single_row && p->method != M_HEAD ? REST_RESULT_SCALAR : REST_RESULT_ROWS;
    rc = 0;
out:
    buf_unref(sel);
    buf_unref(w);
    buf_unref(ord);
    return rc;
}

/* POST/GET/HEAD rpc/<fn>. */
static int plan_rpc(planner_t *p, rest_plan_t *plan, const char *fname) {
    int rc = -1, post = p->method == M_POST, json_whole = 0, body_is_object = 1;
    keyset_t ks = {0};
    json_t *body = NULL;
    buf_t *call = buf_new(128), *from = buf_new(128);
    if (p->method != M_POST && p->method != M_GET && p->method != M_HEAD) {
        err_set(p->err, 405, "PGRST101", "Cannot use the %s method on RPC", p->req->method);
        goto out;
    }
    if (post && p->req->body && p->req->body_len) {
        json_error_t je;
        body = json_loadb(p->req->body, p->req->body_len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &je);
        if (!body) {
            invalid_body(p, je.text);
            goto out;
        }
        body_is_object = json_is_object(body);
        const char *k;
        json_t *v;
        if (body_is_object)
            json_object_foreach(body, k, v) {
                keyset_add(&ks, k);
            }
    }
    static const char *const reserved[] = {"select", "order", "limit", "offset", "columns", "on_conflict"};
    for (size_t i = 0; i < p->nqp; i++) {
        for (size_t r = 0; r < sizeof(reserved) / sizeof(reserved[0]); r++)
            if (!strcmp(p->qp[i].key, reserved[r]))
                p->qp[i].used = 1;
        if (!post && !p->qp[i].used && !is_tree_key(p->qp[i].key))
            keyset_add(&ks, p->qp[i].key);
    }
    if (ks.n > 1)
        qsort(ks.k, ks.n, sizeof(*ks.k), cmp_str);
    const rest_func_t *f = choose_overload(p, fname, &ks, post, body_is_object, &json_whole);
    if (!f)
        goto out;
    if (!post) {
        /* on GET, the keys that name no argument are filters on the result */
        keyset_t args = {0};
        for (size_t i = 0; i < ks.n; i++)
            if (func_arg(f, ks.k[i]))
                keyset_add(&args, ks.k[i]);
        keyset_free(&ks);
        ks = args;
    }
    if (!post && f->is_volatile) {
        err_set(p->err, 405, "25006", "function %s.%s is VOLATILE and cannot be called with %s", f->schema, f->name,
                p->req->method);
        err_hint(p->err, "Call it with POST (supabase.rpc() without { get: true } or { head: true })");
        goto out;
    }
    p->fnrel = (rest_table_t){.schema = f->schema, .name = f->name};
    if (f->returns_composite) {
        p->fnrel.cols = f->ret_cols;
        p->fnrel.ncols = f->nret_cols;
    }
    p->rel = &p->fnrel;
    p->relname = f->name;
    if (render_call(p, f, &ks, post, json_whole, &call, &from) < 0)
        goto out;
    if (parse_range(p, !post) < 0)
        goto out;
    plan->is_rpc = 1;
    plan->offset = (long)p->offset;
    plan->return_body = p->method != M_HEAD && !f->returns_void;
    plan->prefer_applied = prefer_applied(p, 0, 0);
    if (f->returns_set || f->returns_composite) {
        rc = plan_rpc_rows(p, plan, f, call, from);
        goto out;
    }
    /* scalar or void: filters have no columns to name */
    buf_t *w = buf_new(16);
    int nw = render_where(p, "_pgrst_r", &w);
    buf_unref(w);
    if (nw < 0)
        goto out;
    buf_t *sql = buf_new(256);
    if (f->returns_void)
        buf_printf(&sql, "SELECT coalesce((%.*s)::text, '') AS body", (int)call->len, (const char *)call->data);
    else
        buf_printf(&sql, "SELECT coalesce(pg_catalog.to_json(%.*s)::text, 'null') AS body", (int)call->len,
                   (const char *)call->data);
    if (from->len)
        buf_printf(&sql, " FROM %.*s", (int)from->len, (const char *)from->data);
    plan->sql = buf_take(sql);
    plan->result = REST_RESULT_SCALAR;
    plan->rpc_void = f->returns_void;
    rc = 0;
out:
    keyset_free(&ks);
    if (body)
        json_decref(body);
    buf_unref(call);
    buf_unref(from);
    return rc;
}

/* ---- entry points ------------------------------------------------------ */

static int parse_method(planner_t *p) {
    static const struct {
        const char *name;
        method_t m;
    } ms[] = {{"GET", M_GET}, {"HEAD", M_HEAD}, {"POST", M_POST}, {"PATCH", M_PATCH}, {"DELETE", M_DELETE}};
    for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++)
        if (!strcmp(p->req->method, ms[i].name)) {
            p->method = ms[i].m;
            return 0;
        }
    err_set(p->err, 405, "PGRST117", "Unsupported HTTP method: %s", p->req->method);
    return -1;
}

static void planner_free(planner_t *p) {
    for (size_t i = 0; i < p->nqp; i++) {
        free(p->qp[i].key);
        free(p->qp[i].val);
    }
    free(p->qp);
    for (int i = 0; i < p->nparams; i++)
        free(p->params[i]);
    free(p->params);
}

static int plan_table(planner_t *p, rest_plan_t *plan, const char *name) {
    if (!*name || strchr(name, '/')) {
        err_set(p->err, 404, "PGRST125", "Invalid path specified in request URL");
        return -1;
    }
    p->rel = rest_catalog_table(p->cat, REST_SCHEMA, name);
    if (!p->rel) {
        err_set(p->err, 404, "PGRST205", "Could not find the table '%s.%s' in the schema cache", REST_SCHEMA, name);
        return -1;
    }
    p->relname = p->rel->name;
    buf_t *q = buf_new(64);
    put_ident(&q, p->rel->schema);
    buf_putc(&q, '.');
    put_ident(&q, p->rel->name);
    char *qual = buf_take(q);
    int rc;
    switch (p->method) {
    case M_GET:
    case M_HEAD: rc = plan_read(p, plan, qual); break;
    case M_POST: rc = plan_insert(p, plan, qual); break;
    case M_PATCH: rc = plan_update(p, plan, qual); break;
    default: rc = plan_delete(p, plan, qual); break;
    }
    free(qual);
    return rc;
}

int rest_plan(const rest_catalog_t *cat, const rest_request_t *req, rest_plan_t *plan, rest_error_t *err) {
    memset(plan, 0, sizeof(*plan));
    plan->max_affected = -1;
    memset(err, 0, sizeof(*err));
    if (!cat || !req || !req->method || !req->target) {
        err_set(err, 500, "PGRST000", "internal error: incomplete request");
        return -1;
    }
    planner_t p = {.cat = cat, .req = req, .err = err, .limit = NO_LIMIT};
    int rc = -1;
    if (parse_method(&p) < 0)
        goto out;
    if (req->profile && *req->profile && strcmp(req->profile, REST_SCHEMA)) {
        err_set(err, 406, "PGRST106", "The schema must be one of the following: %s", REST_SCHEMA);
        goto out;
    }
    if (parse_accept(&p) < 0 || parse_prefer(&p) < 0 || parse_query(&p) < 0)
        goto out;
    if (!strncmp(req->target, "rpc/", 4))
        rc = plan_rpc(&p, plan, req->target + 4);
    else
        rc = plan_table(&p, plan, req->target);
out:
    if (rc == 0) {
        plan->params = p.params;
        plan->nparams = p.nparams;
        p.params = NULL;
        p.nparams = 0;
        plan->single_object = p.single;
        plan->count_exact = p.prefs.count != 0;
    } else {
        rest_plan_free(plan);
        plan->max_affected = -1;
        if (!err->status)
            err_set(err, 500, "PGRST000", "internal error while planning the request");
    }
    planner_free(&p);
    return rc;
}

void rest_plan_free(rest_plan_t *plan) {
    if (!plan)
        return;
    free(plan->sql);
    for (int i = 0; i < plan->nparams; i++)
        free(plan->params[i]);
    free(plan->params);
    free(plan->prefer_applied);
    memset(plan, 0, sizeof(*plan));
}

/* ---- the answer ---------------------------------------------------------- */

/* Elements of a JSON array text (json_agg's output): commas at depth 1
 * outside strings, plus one unless the array is empty. */
static long json_array_len(const char *s) {
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
        s++;
    if (*s != '[')
        return 1; /* not an array: one value */
    const char *q = s + 1;
    while (*q == ' ' || *q == '\n' || *q == '\t' || *q == '\r')
        q++;
    if (*q == ']' || !*q)
        return 0;
    long commas = 0;
    int depth = 0, in_str = 0;
    for (; *s; s++) {
        char c = *s;
        if (in_str) {
            if (c == '\\' && s[1])
                s++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            depth++;
        } else if (c == ']' || c == '}') {
            depth--;
        } else if (c == ',' && depth == 1) {
            commas++;
        }
    }
    return commas + 1;
}

/* The one element of a one-element JSON array text. */
static void put_single(buf_t **out, const char *body) {
    const char *a = body, *b = body + strlen(body);
    while (a < b && (*a == ' ' || *a == '\n' || *a == '\t' || *a == '\r'))
        a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '\n' || b[-1] == '\t' || b[-1] == '\r'))
        b--;
    if (b - a >= 2 && *a == '[' && b[-1] == ']')
        a++, b--;
    buf_append(out, a, (size_t)(b - a));
}

static void content_range(buf_t **h, long lower, long upper, long total) {
    buf_puts(h, "Content-Range: ");
    if (total != 0 && lower <= upper)
        buf_printf(h, "%ld-%ld", lower, upper);
    else
        buf_putc(h, '*');
    if (total >= 0)
        buf_printf(h, "/%ld\r\n", total);
    else
        buf_puts(h, "/*\r\n");
}

static int respond_error(const rest_error_t *e, buf_t **out) {
    rest_error_json(e, out);
    return e->status;
}

static int not_single(long n, buf_t **out) {
    rest_error_t e;
    err_set(&e, 406, "PGRST116", "JSON object requested, multiple (or no) rows returned");
    err_details(&e, "The result contains %ld rows", n);
    return respond_error(&e, out);
}

int rest_respond(const rest_plan_t *plan, const char *body, long total, long nrows, buf_t **headers, buf_t **out) {
    if (plan->prefer_applied)
        buf_printf(headers, "Preference-Applied: %s\r\n", plan->prefer_applied);
    if (plan->result == REST_RESULT_SCALAR) {
        long t = plan->count_exact ? 1 : -1;
        content_range(headers, 0, 0, t);
        if (plan->rpc_void)
            return 204;
        if (plan->return_body)
            buf_puts(out, body ? body : "null");
        return 200;
    }
    long n = nrows < 0 ? 0 : nrows;
    if (plan->result == REST_RESULT_ROWS && body)
        n = json_array_len(body);
    if (plan->is_write) {
        if (plan->max_affected >= 0 && n > plan->max_affected && !plan->is_insert) {
            rest_error_t e;
            err_set(&e, 400, "PGRST124", "Query result exceeds max-affected preference constraint");
            err_details(&e, "The query affects %ld rows", n);
            return respond_error(&e, out);
        }
        if (plan->single_object && n != 1)
            return not_single(n, out);
        long t = plan->count_exact ? n : -1;
        if (plan->is_insert || plan->is_delete)
            content_range(headers, 1, 0, t);
        else
            content_range(headers, 0, n - 1, t);
        if (plan->return_body) {
            if (plan->single_object)
                put_single(out, body ? body : "[]");
            else
                buf_puts(out, body ? body : "[]");
        }
        return plan->is_insert ? 201 : plan->return_body ? 200 : 204;
    }
    long lower = plan->offset, upper = lower + n - 1;
    long t = plan->count_exact ? total : -1;
    if (t >= 0 && lower > t) {
        rest_error_t e;
        err_set(&e, 416, "PGRST103", "Requested range not satisfiable");
        err_details(&e, "An offset of %ld was requested, but there are only %ld rows.", lower, t);
        content_range(headers, 1, 0, t);
        return respond_error(&e, out);
    }
    if (plan->single_object && n != 1)
        return not_single(n, out);
    content_range(headers, lower, upper, t);
    if (plan->return_body) {
        if (plan->single_object)
            put_single(out, body ? body : "[]");
        else
            buf_puts(out, body ? body : "[]");
    }
    return t >= 0 && 1 + upper - lower < t ? 206 : 200;
}

/* ---- PostgreSQL errors -------------------------------------------------- */

/* PostgREST 12.2's table (Error.hs), class by class. */
static int pg_status(const char *st, int is_anon) {
    if (!st || strlen(st) != 5)
        return 500;
    static const struct {
        const char *code;
        int status;
    } exact[] = {{"23503", 409}, {"23505", 409}, {"25006", 405}, {"53400", 500}, {"P0001", 400},
                 {"42883", 404}, {"42P01", 404}, {"42P17", 500}};
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
        if (!strcmp(st, exact[i].code))
            return exact[i].status;
    if (!strcmp(st, "42501"))
        return is_anon ? 401 : 403;
    if (st[0] == 'P' && st[1] == 'T' && isdigit((unsigned char)st[2]) && isdigit((unsigned char)st[3]) &&
        isdigit((unsigned char)st[4]))
        return atoi(st + 2); /* RAISE ... SQLSTATE 'PT402' → 402 */
    static const struct {
        const char *cls;
        int status;
    } classes[] = {{"08", 503}, {"09", 500}, {"0L", 403}, {"0P", 403}, {"25", 500}, {"28", 403}, {"2D", 500},
                   {"38", 500}, {"39", 500}, {"3B", 500}, {"40", 500}, {"53", 503}, {"54", 500}, {"55", 500},
                   {"57", 500}, {"58", 500}, {"F0", 500}, {"HV", 500}, {"P0", 500}, {"XX", 500}};
    for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
        if (st[0] == classes[i].cls[0] && st[1] == classes[i].cls[1])
            return classes[i].status;
    return 400;
}

void rest_error_from_pg(const char *sqlstate, const char *message, const char *detail, const char *hint, int is_anon,
                        rest_error_t *err) {
    int status = pg_status(sqlstate, is_anon);
    if (status < 400 || status > 599) /* PTxxx may only pick an error status */
        status = 500;
    err_set(err, status, sqlstate && *sqlstate ? sqlstate : "XX000", "%s", message ? message : "");
    if (detail)
        err_details(err, "%s", detail);
    if (hint)
        err_hint(err, "%s", hint);
}

void rest_error_json(const rest_error_t *err, buf_t **out) {
    buf_puts(out, "{\"code\":");
    buf_json_str(out, err->code, strlen(err->code));
    buf_puts(out, ",\"details\":");
    buf_json_str_or_null(out, err->details[0] ? err->details : NULL, strlen(err->details));
    buf_puts(out, ",\"hint\":");
    buf_json_str_or_null(out, err->hint[0] ? err->hint : NULL, strlen(err->hint));
    buf_puts(out, ",\"message\":");
    buf_json_str(out, err->message, strlen(err->message));
    buf_putc(out, '}');
}
