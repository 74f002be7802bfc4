/*
 * rest/query_filter: the filters of a PostgREST request, i.e. every query
 * parameter that no other part claimed: column=[not.]op[(modifier)].value
 * with PostgREST's operators, in.(...) lists, and the and()/or() logic
 * trees, rendered as one AND-joined WHERE condition.
 * It must never paste a value into SQL: each value is a bind parameter
 * (an in() list becomes one array-literal parameter); only the operator
 * keywords of its own table are written verbatim.
 */
#include "rest/query_int.h"
#include "util/mem.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TREE_DEPTH 32 /* nested and()/or() in a logic tree */

/* ---- filters ------------------------------------------------------------ */

typedef enum { OP_CMP, OP_LIKE, OP_IS, OP_ISDISTINCT, OP_IN, OP_FTS } opkind_t;

typedef struct {
    const char *name;
    opkind_t kind;
    const char *sql;  /* operator, or tsquery function for OP_FTS */
    int text_cast;    /* compare the column as text (like, match) */
    int quantifiable; /* accepts (any)/(all) */
} op_t;

static const op_t ops[] = {
    {"eq", OP_CMP, "=", 0, 1},
    {"neq", OP_CMP, "<>", 0, 0},
    {"gt", OP_CMP, ">", 0, 1},
    {"gte", OP_CMP, ">=", 0, 1},
    {"lt", OP_CMP, "<", 0, 1},
    {"lte", OP_CMP, "<=", 0, 1},
    {"like", OP_LIKE, "LIKE", 1, 1},
    {"ilike", OP_LIKE, "ILIKE", 1, 1},
    {"match", OP_CMP, "~", 1, 1},
    {"imatch", OP_CMP, "~*", 1, 1},
    {"is", OP_IS, "IS", 0, 0},
    {"isdistinct", OP_ISDISTINCT, "IS DISTINCT FROM", 0, 0},
    {"in", OP_IN, "= ANY", 0, 0},
    {"cs", OP_CMP, "@>", 0, 0},
    {"cd", OP_CMP, "<@", 0, 0},
    {"ov", OP_CMP, "&&", 0, 0},
    {"sl", OP_CMP, "<<", 0, 0},
    {"sr", OP_CMP, ">>", 0, 0},
    {"nxr", OP_CMP, "&<", 0, 0},
    {"nxl", OP_CMP, "&>", 0, 0},
    {"adj", OP_CMP, "-|-", 0, 0},
    {"fts", OP_FTS, "pg_catalog.to_tsquery", 0, 0},
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
    rq_err_set(p->err, 400, "PGRST100", "failed to parse filter (%s)", whole);
    rq_err_details(p->err, "%s", why);
    return -1;
}

/* Appends v as an element of a PostgreSQL array literal: always quoted,
 * so commas, braces and the word NULL are just text. */
void rq_put_array_elem(buf_t **b, const char *v, size_t n) {
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
            char *q = rq_parse_quoted(c);
            if (q && (at_end(c) || peek(c) == ',' || peek(c) == ')')) {
                rq_put_array_elem(lit, q, strlen(q));
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
            rq_put_array_elem(lit, c->s + s, c->i - s);
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
        char *q = rq_parse_quoted(c);
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
        return filter_syntax(p, whole,
                             "unknown operator: expected eq, neq, gt, gte, lt, lte, like, ilike, match, imatch, "
                             "is, isdistinct, in, cs, cd, ov, sl, sr, nxr, nxl, adj, fts, plfts, phfts, wfts");
    /* Read once: which of val and lit is filled below follows from it, and
     * the static analyzer cannot tell that the buffer writes in between
     * leave the ops table alone. */
    const opkind_t kind = op->kind;
    char quant[4] = "";
    char *config = NULL;
    if (eat(c, "(")) {
        size_t ms = c->i;
        while (!at_end(c) && (isalnum(peek(c)) || peek(c) == '_'))
            c->i++;
        size_t ml = c->i - ms;
        if (!eat(c, ")") || ml == 0)
            return filter_syntax(p, whole, "malformed operator modifier");
        if (kind == OP_FTS) {
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
    if (kind == OP_IN) {
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
    switch (kind) {
    case OP_IS: {
        static const char *const words[][2] = {
            {"null", "NULL"}, {"not_null", "NOT NULL"}, {"true", "TRUE"}, {"false", "FALSE"}, {"unknown", "UNKNOWN"}};
        const char *kw = NULL;
        for (size_t i = 0; i < 5; i++)
            if (!strcasecmp(val, words[i][0]))
                kw = words[i][1];
        if (!kw) {
            filter_syntax(p, whole, "is. takes null, not_null, true, false or unknown");
            goto out;
        }
        rq_put_field(w, qual, f);
        buf_printf(w, " IS %s", kw);
        break;
    }
    case OP_IN:
        if ((n = rq_add_param(p, (const char *)lit->data, lit->len)) < 0)
            goto out;
        rq_put_field(w, qual, f);
        buf_puts(w, " = ANY (");
        rq_put_param(w, n);
        buf_putc(w, ')');
        break;
    case OP_FTS: {
        int cn = 0;
        if (config && (cn = rq_add_param(p, config, strlen(config))) < 0)
            goto out;
        if ((n = rq_add_param(p, val, strlen(val))) < 0)
            goto out;
        rq_put_field(w, qual, f);
        buf_printf(w, " @@ %s(", op->sql);
        if (cn) {
            rq_put_param(w, cn);
            buf_puts(w, ", ");
        }
        rq_put_param(w, n);
        buf_putc(w, ')');
        break;
    }
    default: {
        char *v = kind == OP_LIKE ? like_pattern(val) : NULL;
        n = rq_add_param(p, v ? v : val, strlen(v ? v : val));
        free(v);
        if (n < 0)
            goto out;
        rq_put_field(w, qual, f);
        if (op->text_cast)
            buf_puts(w, "::text");
        buf_printf(w, " %s ", op->sql);
        if (quant[0]) {
            buf_printf(w, "%s (", quant[1] == 'n' ? "ANY" : "ALL");
            rq_put_param(w, n);
            buf_putc(w, ')');
        } else {
            rq_put_param(w, n);
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
    rq_err_set(p->err, 400, "PGRST100", "failed to parse logic tree (%s)", whole);
    rq_err_details(p->err, "%s", why);
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
            if (rq_parse_field(p, c, &f, "logic tree", whole) < 0)
                return -1;
            if (!eat(c, ".")) {
                rq_field_free(&f);
                return tree_syntax(p, whole, "expected '.' after a column name");
            }
            int rc = render_opexpr(p, c, &f, qual, 1, whole, w);
            rq_field_free(&f);
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

int rq_is_tree_key(const char *k) {
    return !strcmp(k, "or") || !strcmp(k, "and") || !strcmp(k, "not.or") || !strcmp(k, "not.and");
}

/* One unreserved query parameter as a filter (key = field, value =
 * operator expression) or a logic tree; appended to *w. */
static int render_filter_param(planner_t *p, const qparam_t *q, const char *qual, buf_t **w) {
    if (rq_is_tree_key(q->key)) {
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
        char *name = rq_parse_name(&look);
        if (name && peek(&look) == '.') {
            rq_err_set(p->err, 400, "PGRST108",
                       "Cannot apply filter because '%s' is not an embedded resource in this request", name);
            rq_err_hint(p->err, "Verify that '%s' is included in the 'select' query parameter.", name);
            free(name);
            return -1;
        }
        free(name);
    }
    field_t f;
    if (rq_parse_field(p, &kc, &f, "tree path", q->key) < 0)
        return -1;
    if (!at_end(&kc)) {
        rq_field_free(&f);
        rq_err_set(p->err, 400, "PGRST100", "failed to parse tree path (%s)", q->key);
        rq_err_details(p->err, "unexpected \"%c\" at position %zu", q->key[kc.i], kc.i + 1);
        return -1;
    }
    cur_t vc = {q->val, 0, strlen(q->val)};
    int rc = render_opexpr(p, &vc, &f, qual, 0, q->val, w);
    rq_field_free(&f);
    return rc;
}

/* Every unused parameter is a filter; rejects reserved words that name an
 * embedded resource (bids.order, bids.limit ...). Returns the number of
 * conditions appended to *w (AND-joined), or -1. */
int rq_render_where(planner_t *p, const char *qual, buf_t **w) {
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
