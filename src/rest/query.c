/*
 * rest/query: PostgREST's request grammar (the part supabase-js sends)
 * to one SQL statement, and the statement's result to PostgREST's answer.
 * This file owns the entry points (rest_plan, rest_plan_free), the
 * planner's life (method, profile, headers, the query string, then a
 * table or a function), reads (GET/HEAD on a table), and the helpers
 * every planning file writes SQL with: bind parameters, quoted
 * identifiers, the aggregate that makes the body. The other parts of
 * the planner are listed in query_int.h, their private header.
 *
 * It must never put a request byte into SQL: identifiers come from the
 * catalog and are double-quoted, values become bind parameters ($n, type
 * unknown so PostgreSQL infers it from the column), and the few things
 * pasted verbatim are checked to be digits (limits, JSON array indexes)
 * or [A-Za-z0-9_] (casts, which is what PostgREST allows too). It runs
 * nothing, holds no state between calls, and never decides who may see a
 * row: that is row-level security's job, in the caller's transaction.
 * Every file of rest/query keeps to these rules.
 */
#include "rest/query.h"
#include "rest/query_int.h"
#include "util/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARAMS 32767 /* well under PostgreSQL's 65535 bind parameters */

/* ---- emitting SQL -------------------------------------------------------- */

/* Stores a copy of v[0..n) as the next bind parameter; returns its number
 * ($n), or -1 (err set) past MAX_PARAMS. */
int rq_add_param(planner_t *p, const char *v, size_t n) {
    if (p->nparams >= MAX_PARAMS) {
        rq_err_set(p->err, 400, "PGRST100", "too many values in the request");
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
void rq_put_ident(buf_t **b, const char *s) {
    buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"')
            buf_putc(b, '"');
        buf_putc(b, *s);
    }
    buf_putc(b, '"');
}

void rq_put_param(buf_t **b, int n) { buf_printf(b, "$%d", n); }

/* Closes a buf into a malloc'd NUL-terminated string (caller frees) and
 * drops the buf. */
char *rq_buf_take(buf_t *b) {
    char *s = xstrndup((const char *)b->data, b->len);
    buf_unref(b);
    return s;
}

/* The aggregate that turns the rows of _pgrst_t into the JSON body. */
void rq_put_body_agg(planner_t *p, buf_t **b, const char *expr) {
    if (p->strip_nulls)
        buf_printf(b, "coalesce(pg_catalog.json_strip_nulls(pg_catalog.json_agg(%s)), '[]')::text", expr);
    else
        buf_printf(b, "coalesce(pg_catalog.json_agg(%s), '[]')::text", expr);
}

/* ---- reads -------------------------------------------------------------- */

/* GET/HEAD on a table or view. */
static int plan_read(planner_t *p, rest_plan_t *plan, const char *qual) {
    int rc = -1;
    buf_t *sel = buf_new(128), *w = buf_new(128), *ord = buf_new(64), *sql = NULL;
    const char *order = rq_take_param(p, "order");
    if (rq_render_select(p, rq_take_param(p, "select"), qual, &sel) < 0)
        goto out;
    if (rq_parse_range(p, 1) < 0)
        goto out;
    if (order && rq_render_order(p, order, qual, &ord) < 0)
        goto out;
    int nw = rq_render_where(p, qual, &w);
    if (nw < 0)
        goto out;
    sql = buf_new(512);
    buf_puts(&sql, "SELECT ");
    if (p->method == M_HEAD)
        buf_puts(&sql, "NULL::text");
    else
        rq_put_body_agg(p, &sql, "_pgrst_t");
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
    rq_put_limit(p, &sql);
    buf_puts(&sql, ") _pgrst_t");
    plan->sql = rq_buf_take(sql);
    plan->result = REST_RESULT_ROWS;
    plan->return_body = p->method != M_HEAD;
    plan->offset = (long)p->offset;
    plan->prefer_applied = rq_prefer_applied(p, 0, 0);
    rc = 0;
out:
    buf_unref(sel);
    buf_unref(w);
    buf_unref(ord);
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
    rq_err_set(p->err, 405, "PGRST117", "Unsupported HTTP method: %s", p->req->method);
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
        rq_err_set(p->err, 404, "PGRST125", "Invalid path specified in request URL");
        return -1;
    }
    p->rel = rest_catalog_table(p->cat, REST_SCHEMA, name);
    if (!p->rel) {
        rq_err_set(p->err, 404, "PGRST205", "Could not find the table '%s.%s' in the schema cache", REST_SCHEMA, name);
        return -1;
    }
    p->relname = p->rel->name;
    buf_t *q = buf_new(64);
    rq_put_ident(&q, p->rel->schema);
    buf_putc(&q, '.');
    rq_put_ident(&q, p->rel->name);
    char *qual = rq_buf_take(q);
    int rc;
    switch (p->method) {
    case M_GET:
    case M_HEAD: rc = plan_read(p, plan, qual); break;
    case M_POST: rc = rq_plan_insert(p, plan, qual); break;
    case M_PATCH: rc = rq_plan_update(p, plan, qual); break;
    default: rc = rq_plan_delete(p, plan, qual); break;
    }
    free(qual);
    return rc;
}

int rest_plan(const rest_catalog_t *cat, const rest_request_t *req, rest_plan_t *plan, rest_error_t *err) {
    memset(plan, 0, sizeof(*plan));
    plan->max_affected = -1;
    memset(err, 0, sizeof(*err));
    if (!cat || !req || !req->method || !req->target) {
        rq_err_set(err, 500, "PGRST000", "internal error: incomplete request");
        return -1;
    }
    planner_t p = {.cat = cat, .req = req, .err = err, .limit = NO_LIMIT};
    int rc = -1;
    if (parse_method(&p) < 0)
        goto out;
    if (req->profile && *req->profile && strcmp(req->profile, REST_SCHEMA)) {
        rq_err_set(err, 406, "PGRST106", "The schema must be one of the following: %s", REST_SCHEMA);
        goto out;
    }
    if (rq_parse_accept(&p) < 0 || rq_parse_prefer(&p) < 0 || rq_parse_query(&p) < 0)
        goto out;
    if (!strncmp(req->target, "rpc/", 4))
        rc = rq_plan_rpc(&p, plan, req->target + 4);
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
            rq_err_set(err, 500, "PGRST000", "internal error while planning the request");
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
