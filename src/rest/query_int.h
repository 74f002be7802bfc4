/*
 * rest/query_int: the private header of rest/query, shared by its files
 * and by nothing else. Why it exists: rest/query is one planner split
 * along its seams into several files, and they all work on the same
 * planner_t during one rest_plan() call, so the struct and the helpers
 * each file lends the others must be declared somewhere. Putting them in
 * query.h would expose the planner's insides to rest/http; here they stay
 * private. Include it only from src/rest/query*.c.
 *
 *   query.c         rest_plan, rest_plan_free; dispatch; reads (GET/HEAD);
 *                   bind parameters, quoted identifiers, the body aggregate
 *   query_url.c     the query string: parameters, names, fields, select,
 *                   order, columns lists, limit/offset and Range
 *   query_filter.c  filters, operators, in() lists, and()/or() trees
 *   query_prefs.c   Prefer, Accept, Preference-Applied
 *   query_write.c   POST/PATCH/DELETE on a table, upsert, RETURNING
 *   query_rpc.c     rpc/<fn>: overloads, arguments, result shapes
 *   query_answer.c  rest_respond, rest_error_*, and rq_err_* for the rest
 *
 * Naming: functions with external linkage carry rq_ (they share the
 * static library with every other module); the types and the cursor's
 * static inline helpers keep their short names, which only these files see.
 * Ownership: every malloc'd string or array returned below belongs to the
 * caller; everything a planner_t holds is freed by rest_plan().
 */
#ifndef TC_REST_QUERY_INT_H
#define TC_REST_QUERY_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rest/catalog.h"
#include "rest/query.h"
#include "util/buf.h"

#define REST_SCHEMA "public"
#define NO_LIMIT INT64_MAX

/* ---- the planner's state ----------------------------------------------- */

typedef struct {
    char *key, *val;
    int used; /* reserved word or rpc argument: not a filter */
} qparam_t;

typedef enum { M_GET, M_HEAD, M_POST, M_PATCH, M_DELETE } method_t;

typedef struct {
    int ret;           /* 0 unset, 1 representation, 2 minimal, 3 headers-only */
    int count;         /* 0 none, else the index of the word in count_words (query_prefs.c) */
    int resolution;    /* 0 none, 1 merge-duplicates, 2 ignore-duplicates */
    int missing;       /* 0 unset, 1 default, 2 null */
    int handling;      /* 0 unset, 1 strict, 2 lenient */
    long max_affected; /* -1 unset */
} prefs_t;

/* A column reference as a request names it: column, JSON path, cast. */
typedef struct {
    char *col;   /* catalog name, malloc'd */
    char *alias; /* alias: or NULL */
    char *cast;  /* ::type or NULL */
    char *last;  /* last JSON path operand (the default alias), or NULL */
    buf_t *path; /* rendered JSON path ("->$3->>$4") or NULL */
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
    const rest_table_t *rel; /* what columns may be named: a table, or a function's result */
    rest_table_t fnrel;      /* the function's result, borrowed from the catalog */
    const char *relname;     /* for messages: table or function name */
    int64_t offset, limit;   /* limit NO_LIMIT = none */
} planner_t;

/* ---- a cursor over one parameter value ------------------------------- */

typedef struct {
    const char *s;
    size_t i, n;
} cur_t;

static inline int peek(const cur_t *c) { return c->i < c->n ? (unsigned char)c->s[c->i] : -1; }
static inline int at(const cur_t *c, const char *lit) {
    size_t l = strlen(lit);
    return c->n - c->i >= l && !memcmp(c->s + c->i, lit, l);
}
static inline int eat(cur_t *c, const char *lit) {
    if (!at(c, lit))
        return 0;
    c->i += strlen(lit);
    return 1;
}
static inline int at_end(const cur_t *c) { return c->i >= c->n; }

/* ---- query_answer.c: filling a rest_error_t ------------------------------ */

/* Clears *e and sets status, code and message; details and hint add to
 * it. Text cut by the buffer's size never ends in half a UTF-8 character. */
void rq_err_set(rest_error_t *e, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void rq_err_details(rest_error_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rq_err_hint(rest_error_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- query.c: emitting SQL ----------------------------------------------- */

/* Copies v[0..n) (NULL: SQL NULL) into p->params; returns its $n, or -1
 * with p->err set when there are too many. */
int rq_add_param(planner_t *p, const char *v, size_t n);
void rq_put_ident(buf_t **b, const char *s); /* "s", inner quotes doubled */
void rq_put_param(buf_t **b, int n);         /* $n */
char *rq_buf_take(buf_t *b);                 /* b's text, malloc'd; drops b */
void rq_put_body_agg(planner_t *p, buf_t **b, const char *expr);

/* ---- query_url.c: the query string ---------------------------------------- */

int rq_parse_query(planner_t *p);                         /* req->query into p->qp */
const char *rq_take_param(planner_t *p, const char *key); /* borrowed from p->qp, or NULL */
char *rq_parse_quoted(cur_t *c);                          /* malloc'd, or NULL */
char *rq_parse_name(cur_t *c);                            /* malloc'd, or NULL */
int rq_unknown_column(planner_t *p, const char *col);
/* f's members are malloc'd: release with rq_field_free (done on error). */
int rq_parse_field(planner_t *p, cur_t *c, field_t *f, const char *what, const char *whole);
void rq_field_free(field_t *f);
void rq_put_field(buf_t **b, const char *qual, const field_t *f);
int rq_render_select(planner_t *p, const char *sel, const char *qual, buf_t **out);
int rq_render_order(planner_t *p, const char *ord, const char *qual, buf_t **out);
/* Appends to the malloc'd *cols even on error: release with rq_free_names. */
int rq_parse_columns_param(planner_t *p, const char *v, char ***cols, size_t *ncols);
void rq_free_names(char **v, size_t n);
int rq_parse_range(planner_t *p, int allow_header);
void rq_put_limit(planner_t *p, buf_t **b);

/* ---- query_filter.c: filters and logic trees ------------------------------ */

void rq_put_array_elem(buf_t **b, const char *v, size_t n);
int rq_is_tree_key(const char *k);
int rq_render_where(planner_t *p, const char *qual, buf_t **w);

/* ---- query_prefs.c: headers ---------------------------------------------- */

int rq_parse_prefer(planner_t *p);
int rq_parse_accept(planner_t *p);
char *rq_prefer_applied(const planner_t *p, int resolution_used, int is_write); /* malloc'd, or NULL */

/* ---- query_write.c: writes on a table ------------------------------------ */

int rq_invalid_body(planner_t *p, const char *why);
int rq_plan_insert(planner_t *p, rest_plan_t *plan, const char *qual);
int rq_plan_update(planner_t *p, rest_plan_t *plan, const char *qual);
int rq_plan_delete(planner_t *p, rest_plan_t *plan, const char *qual);

/* ---- query_rpc.c: functions ---------------------------------------------- */

int rq_plan_rpc(planner_t *p, rest_plan_t *plan, const char *fname);

#endif
