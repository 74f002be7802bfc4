/*
 * rest/query_rpc: calls of rpc/<fn>. It owns choosing the overload
 * PostgREST would choose from the body's keys (POST) or the query's
 * parameters (GET/HEAD), passing the arguments by name, and the shape of
 * the answer for each kind of result (set, composite, scalar, void).
 * It must never call a function the catalog does not list, nor a VOLATILE
 * one through GET or HEAD; argument values are bind parameters cast to
 * the catalog's argument types.
 */
#include "rest/query_int.h"
#include "util/mem.h"

#include <jansson.h>

#include <stdlib.h>
#include <string.h>

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

static void keyset_free(keyset_t *ks) { rq_free_names(ks->k, ks->n); }

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
        rq_err_set(p->err, 404, "PGRST202", "Could not find the function %s.%s(%s) in the schema cache", REST_SCHEMA,
                   fname, names);
        rq_err_details(
            p->err,
            "Searched for the function %s.%s with parameters %s or with a single unnamed json/jsonb parameter, "
            "but no matches were found in the schema cache.",
            REST_SCHEMA, fname, names);
    } else {
        rq_err_set(p->err, 404, "PGRST202", "Could not find the function %s.%s without parameters in the schema cache",
                   REST_SCHEMA, fname);
        rq_err_details(
            p->err,
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
        rq_err_hint(p->err, "Perhaps you meant to call the function %s.%s(%s)", any->schema, any->name,
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
        rq_err_set(p->err, 300, "PGRST203", "Could not choose the best candidate function between: %s",
                   (const char *)b->data);
        rq_err_hint(p->err,
                    "Try renaming the parameters or the function itself in the database so function overloading "
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
            rq_put_array_elem(&lit, p->qp[i].val, strlen(p->qp[i].val));
        }
    buf_putc(&lit, '}');
    return rq_buf_take(lit);
}

/* The call expression, and (POST with named arguments) the FROM item that
 * types the body's members: json_to_record(...) AS _pgrst_a(...). */
static int render_call(planner_t *p, const rest_func_t *f, const keyset_t *ks, int post, int json_whole, buf_t **call,
                       buf_t **from) {
    rq_put_ident(call, f->schema);
    buf_putc(call, '.');
    rq_put_ident(call, f->name);
    buf_putc(call, '(');
    if (json_whole) {
        int n = p->req->body && p->req->body_len ? rq_add_param(p, p->req->body, p->req->body_len)
                                                 : rq_add_param(p, "{}", 2);
        if (n < 0)
            return -1;
        buf_printf(call, "$%d::%s)", n, f->args[0].type);
        return 0;
    }
    int nb = 0;
    if (post && ks->n) {
        if ((nb = rq_add_param(p, p->req->body, p->req->body_len)) < 0)
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
        rq_put_ident(call, a->name);
        buf_puts(call, " := ");
        if (post) {
            buf_puts(call, "_pgrst_a.");
            rq_put_ident(call, a->name);
            rq_put_ident(from, a->name);
            buf_printf(from, " %s", a->type);
        } else {
            char *v = get_arg_value(p, a);
            int n = rq_add_param(p, v, strlen(v));
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
    const char *select = rq_take_param(p, "select"), *order = rq_take_param(p, "order");
    if (scalar_set)
        buf_puts(&sel, "_pgrst_r.pgrst_scalar");
    else if (rq_render_select(p, select, "_pgrst_r", &sel) < 0)
        goto out;
    if (order && rq_render_order(p, order, "_pgrst_r", &ord) < 0)
        goto out;
    int nw = rq_render_where(p, "_pgrst_r", &w);
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
            rq_put_ident(&sql, f->ret_cols[i].name);
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
        rq_put_body_agg(p, &sql, scalar_set ? "_pgrst_t.pgrst_scalar" : "_pgrst_t");
    buf_puts(&sql, " AS body, ");
    buf_puts(&sql, p->prefs.count ? "(SELECT pg_catalog.count(*) FROM _pgrst_s)" : "NULL::bigint");
    buf_printf(&sql, " AS total, pg_catalog.count(*) AS nrows FROM (SELECT %.*s FROM _pgrst_s AS _pgrst_r",
               (int)sel->len, (const char *)sel->data);
    if (ord->len)
        buf_printf(&sql, " ORDER BY %.*s", (int)ord->len, (const char *)ord->data);
    rq_put_limit(p, &sql);
    buf_puts(&sql, ") _pgrst_t");
    plan->sql = rq_buf_take(sql);
    plan->result = single_row && p->method != M_HEAD ? REST_RESULT_SCALAR : REST_RESULT_ROWS;
    rc = 0;
out:
    buf_unref(sel);
    buf_unref(w);
    buf_unref(ord);
    return rc;
}

/* POST/GET/HEAD rpc/<fn>. */
int rq_plan_rpc(planner_t *p, rest_plan_t *plan, const char *fname) {
    int rc = -1, post = p->method == M_POST, json_whole = 0, body_is_object = 1;
    keyset_t ks = {0};
    json_t *body = NULL;
    buf_t *call = buf_new(128), *from = buf_new(128);
    if (p->method != M_POST && p->method != M_GET && p->method != M_HEAD) {
        rq_err_set(p->err, 405, "PGRST101", "Cannot use the %s method on RPC", p->req->method);
        goto out;
    }
    if (post && p->req->body && p->req->body_len) {
        json_error_t je;
        body = json_loadb(p->req->body, p->req->body_len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &je);
        if (!body) {
            rq_invalid_body(p, je.text);
            goto out;
        }
        body_is_object = json_is_object(body);
        const char *k;
        json_t *v;
        if (body_is_object)
            json_object_foreach(body, k, v) { keyset_add(&ks, k); }
    }
    static const char *const reserved[] = {"select", "order", "limit", "offset", "columns", "on_conflict"};
    for (size_t i = 0; i < p->nqp; i++) {
        for (size_t r = 0; r < sizeof(reserved) / sizeof(reserved[0]); r++)
            if (!strcmp(p->qp[i].key, reserved[r]))
                p->qp[i].used = 1;
        if (!post && !p->qp[i].used && !rq_is_tree_key(p->qp[i].key))
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
        rq_err_set(p->err, 405, "25006", "function %s.%s is VOLATILE and cannot be called with %s", f->schema, f->name,
                   p->req->method);
        rq_err_hint(p->err, "Call it with POST (supabase.rpc() without { get: true } or { head: true })");
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
    if (rq_parse_range(p, !post) < 0)
        goto out;
    plan->is_rpc = 1;
    plan->offset = (long)p->offset;
    plan->return_body = p->method != M_HEAD && !f->returns_void;
    plan->prefer_applied = rq_prefer_applied(p, 0, 0);
    if (f->returns_set || f->returns_composite) {
        rc = plan_rpc_rows(p, plan, f, call, from);
        goto out;
    }
    /* scalar or void: filters have no columns to name */
    buf_t *w = buf_new(16);
    int nw = rq_render_where(p, "_pgrst_r", &w);
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
    plan->sql = rq_buf_take(sql);
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
