/*
 * rest/query_write: the statements of writes on a table. It owns POST
 * (insert of one object or an array, upsert through Prefer resolution and
 * on_conflict, missing=default), PATCH (update of the filtered rows),
 * DELETE, and the CTE that return=representation wraps around them.
 * It must never take a value out of the body into SQL: the body is bound
 * whole, once, and PostgreSQL reads it with json_to_record(set) typed by
 * the catalog's columns; only catalog text (column types, defaults) is
 * pasted.
 */
#include "rest/query_int.h"
#include "util/mem.h"

#include <jansson.h>

#include <stdlib.h>
#include <string.h>

/* Wraps a write statement: with return=representation, RETURNING every
 * column into a CTE that the select list projects and the body
 * aggregates; otherwise the bare statement (no RETURNING, so a policy
 * that allows INSERT without SELECT still works) and the row count. */
static int finish_write(planner_t *p, rest_plan_t *plan, const char *qual, buf_t *stmt, int resolution_used,
                        int returning) {
    int rc = -1;
    buf_t *sel = NULL, *ord = NULL;
    if (rq_take_param(p, "limit") || rq_take_param(p, "offset")) {
        rq_err_set(p->err, 400, "PGRST100", "limit and offset are not supported on writes");
        rq_err_details(p->err, "PostgREST 12 dropped limited updates and deletes; filter on a key instead");
        goto out;
    }
    const char *select = rq_take_param(p, "select");
    const char *order = rq_take_param(p, "order");
    plan->is_write = 1;
    plan->max_affected = p->prefs.handling == 1 ? p->prefs.max_affected : -1;
    plan->prefer_applied = rq_prefer_applied(p, resolution_used, 1);
    if (p->prefs.ret != 1) {
        plan->sql = rq_buf_take(stmt);
        stmt = NULL;
        plan->result = REST_RESULT_COMMAND;
        rc = 0;
        goto out;
    }
    sel = buf_new(128);
    ord = buf_new(64);
    if (rq_render_select(p, select, "_pgrst_w", &sel) < 0)
        goto out;
    if (order && rq_render_order(p, order, "_pgrst_w", &ord) < 0)
        goto out;
    buf_t *sql = buf_new(stmt->len + sel->len + 256);
    buf_printf(&sql, "WITH _pgrst_w AS (%.*s", (int)stmt->len, (const char *)stmt->data);
    if (returning)
        buf_printf(&sql, " RETURNING %s.*", qual);
    buf_puts(&sql, ") SELECT ");
    rq_put_body_agg(p, &sql, "_pgrst_t");
    buf_printf(&sql,
               " AS body, pg_catalog.count(*) AS total, pg_catalog.count(*) AS nrows FROM (SELECT %.*s FROM _pgrst_w",
               (int)sel->len, (const char *)sel->data);
    if (ord->len)
        buf_printf(&sql, " ORDER BY %.*s", (int)ord->len, (const char *)ord->data);
    buf_puts(&sql, ") _pgrst_t");
    plan->sql = rq_buf_take(sql);
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

int rq_invalid_body(planner_t *p, const char *why) {
    rq_err_set(p->err, 400, "PGRST102", "Empty or invalid json");
    if (why)
        rq_err_details(p->err, "%s", why);
    return -1;
}

/* The request body as JSON. Integers are read as reals so that a big
 * number is not a parse error: only the shape and the keys matter here,
 * PostgreSQL reads the original text. Caller json_decref()s. */
static json_t *load_body(planner_t *p) {
    if (!p->req->body || p->req->body_len == 0) {
        rq_invalid_body(p, NULL);
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(p->req->body, p->req->body_len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &je);
    if (!j)
        rq_invalid_body(p, je.text);
    return j;
}

static int unknown_write_column(planner_t *p, const char *col) {
    rq_err_set(p->err, 400, "PGRST204", "Could not find the '%s' column of '%s' in the schema cache", col, p->relname);
    return -1;
}

/* "a" type, "b" type: the column definition list of json_to_record(set). */
static int put_coldefs(planner_t *p, buf_t **b, char **cols, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const rest_column_t *col = rest_table_column(p->rel, cols[i]);
        if (!col)
            return unknown_write_column(p, cols[i]);
        if (i)
            buf_puts(b, ", ");
        rq_put_ident(b, col->name);
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
    const char *oc = rq_take_param(p, "on_conflict");
    if (oc) {
        char **cols = NULL;
        size_t n = 0;
        if (rq_parse_columns_param(p, oc, &cols, &n) < 0) {
            rq_free_names(cols, n);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            if (!rest_table_column(p->rel, cols[i])) {
                rq_unknown_column(p, cols[i]);
                rq_free_names(cols, n);
                return -1;
            }
            if (i)
                buf_puts(out, ", ");
            rq_put_ident(out, cols[i]);
        }
        rq_free_names(cols, n);
        return (int)n;
    }
    for (size_t i = 0; i < p->rel->npk; i++) {
        if (i)
            buf_puts(out, ", ");
        rq_put_ident(out, p->rel->pk[i]);
    }
    return (int)p->rel->npk;
}

/* POST: insert one object or an array of objects, optionally upserting. */
int rq_plan_insert(planner_t *p, rest_plan_t *plan, const char *qual) {
    int rc = -1;
    char **cols = NULL;
    size_t ncols = 0;
    buf_t *stmt = NULL, *target = buf_new(64);
    json_t *body = load_body(p);
    if (!body)
        goto out;
    int is_obj = json_is_object(body);
    if (!is_obj && !json_is_array(body)) {
        rq_invalid_body(p, "the body must be a JSON object or an array of objects");
        goto out;
    }
    size_t nrows = is_obj ? 1 : json_array_size(body);
    for (size_t i = 0; !is_obj && i < nrows; i++)
        if (!json_is_object(json_array_get(body, i))) {
            rq_invalid_body(p, "the body must be a JSON object or an array of objects");
            goto out;
        }
    const char *colp = rq_take_param(p, "columns");
    if (colp) {
        if (rq_parse_columns_param(p, colp, &cols, &ncols) < 0)
            goto out;
    } else if (nrows > 0) {
        json_t *first = is_obj ? body : json_array_get(body, 0);
        for (size_t i = 1; i < nrows; i++)
            if (!same_keys(first, json_array_get(body, i))) {
                rq_invalid_body(p, "All object keys must match");
                goto out;
            }
        const char *k;
        json_t *v;
        cols = xcalloc(json_object_size(first) + 1, sizeof(*cols));
        json_object_foreach(first, k, v) { cols[ncols++] = xstrdup(k); }
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
        n1 = rq_add_param(p, (const char *)arr->data, arr->len);
        buf_unref(arr);
    } else {
        n1 = rq_add_param(p, p->req->body, p->req->body_len);
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
            rq_put_ident(&stmt, cols[i]);
        }
        buf_puts(&stmt, ") SELECT ");
        for (size_t i = 0; i < ncols; i++) {
            const rest_column_t *col = rest_table_column(p->rel, cols[i]);
            if (i)
                buf_puts(&stmt, ", ");
            if (missing_default && col->default_expr) {
                /* key absent → the column's DEFAULT, key present (even null) → its value */
                int nk = rq_add_param(p, cols[i], strlen(cols[i]));
                if (nk < 0)
                    goto out;
                buf_printf(&stmt, "CASE WHEN _pgrst_e.j ? $%d THEN _pgrst_b.", nk);
                rq_put_ident(&stmt, cols[i]);
                buf_printf(&stmt, " ELSE %s END", col->default_expr);
            } else {
                buf_puts(&stmt, "_pgrst_b.");
                rq_put_ident(&stmt, cols[i]);
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
                    rq_put_ident(&stmt, cols[i]);
                    buf_puts(&stmt, " = EXCLUDED.");
                    rq_put_ident(&stmt, cols[i]);
                }
            }
        }
    } else {
        rq_take_param(p, "on_conflict");
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
    rq_free_names(cols, ncols);
    if (body)
        json_decref(body);
    return rc;
}

/* Marks the parameters that shape a write's answer, so rq_render_where does
 * not read them as filters. */
static void mark_write_params(planner_t *p) {
    static const char *const keys[] = {"select", "order", "limit", "offset", "columns", "on_conflict"};
    for (size_t i = 0; i < p->nqp; i++)
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
            if (!strcmp(p->qp[i].key, keys[k]))
                p->qp[i].used = 1;
}

/* PATCH: one object of new values, applied to the filtered rows. */
int rq_plan_update(planner_t *p, rest_plan_t *plan, const char *qual) {
    int rc = -1, returning = 1;
    char **cols = NULL;
    size_t ncols = 0;
    buf_t *stmt = NULL, *w = buf_new(128);
    json_t *body = load_body(p);
    if (!body)
        goto out;
    if (!json_is_object(body)) {
        rq_invalid_body(p, "the body of a PATCH must be a JSON object");
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
    int nw = rq_render_where(p, qual, &w);
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
        int n1 = rq_add_param(p, p->req->body, p->req->body_len);
        if (n1 < 0)
            goto out;
        buf_printf(&stmt, "UPDATE %s SET ", qual);
        for (size_t i = 0; i < ncols; i++) {
            if (i)
                buf_puts(&stmt, ", ");
            rq_put_ident(&stmt, cols[i]);
            buf_puts(&stmt, " = _pgrst_b.");
            rq_put_ident(&stmt, cols[i]);
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
    rq_free_names(cols, ncols);
    if (body)
        json_decref(body);
    return rc;
}

int rq_plan_delete(planner_t *p, rest_plan_t *plan, const char *qual) {
    buf_t *w = buf_new(128);
    mark_write_params(p);
    int nw = rq_render_where(p, qual, &w);
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
