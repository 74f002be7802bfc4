/*
 * Unit tests for rest/catalog and rest/query: the statements and bind
 * parameters planned for what supabase-js 2.119.1's from()/rpc() send
 * (every filter operator, negation, in-lists with quoted values, logic
 * trees, select/order/range/Prefer/Accept variants, inserts, upserts,
 * updates, deletes, every rpc return kind), every error path with its
 * PostgREST code and status, the answers rest_respond builds (status,
 * Content-Range, body), the SQLSTATE table and the catalog rows. Expected
 * SQL is written out by hand; tests/tools/rest_pg_check.sh runs the same
 * shapes against a real PostgreSQL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rest/catalog.h"
#include "rest/query.h"

/* ---- fixture: the catalog rows REST_CATALOG_SQL would return ---------- */

/* Catalog rows as string literals glued to macro calls: clang-format 14 takes
 * each COL(...) for a call and stacks the rest of the row diagonally. */
/* clang-format off */
#define COL(n, t, nul, def, expr) "{\"name\":\"" n "\",\"type\":\"" t "\",\"nullable\":" nul ",\"has_default\":" def ",\"default\":" expr "}"

static const char *const ROW_BOOKINGS[] = {
    "t", "public", "bookings", "r", "t",
    "[" COL("id", "bigint", "false", "true", "\"nextval('bookings_id_seq'::regclass)\"") ","
    COL("customer_id", "uuid", "false", "false", "null") ","
    COL("status", "booking_status", "false", "true", "\"'pending'::booking_status\"") ","
    COL("service", "text", "false", "false", "null") ","
    COL("price", "numeric(10,2)", "true", "false", "null") ","
    COL("tags", "text[]", "false", "true", "\"'{}'::text[]\"") ","
    COL("meta", "jsonb", "false", "true", "\"'{}'::jsonb\"") ","
    COL("scheduled_at", "timestamp with time zone", "true", "false", "null") ","
    COL("we\\\"ird", "text", "true", "false", "null") "]",
    "[\"id\"]", NULL, NULL};
static const char *const ROW_SETTINGS[] = {
    "t", "public", "settings", "r", "t",
    "[" COL("user_id", "uuid", "false", "false", "null") "," COL("key", "text", "false", "false", "null") ","
    COL("value", "jsonb", "true", "false", "null") "]",
    "[\"user_id\",\"key\"]", NULL, NULL};
static const char *const ROW_LOGS[] = {"t", "public", "logs", "v", "f", "[" COL("msg", "text", "true", "false", "null") "]",
                                       "[]", NULL, NULL};

#define ARG(n, t, def, var) "{\"name\":\"" n "\",\"type\":\"" t "\",\"has_default\":" def ",\"variadic\":" var "}"
#define RC(n, t) "{\"name\":\"" n "\",\"type\":\"" t "\"}"

static const char *const ROW_FUNCS[][9] = {
    {"f", "public", "accept_booking", "v", "f", "[" ARG("booking_id", "bigint", "false", "false") "]",
     "[" RC("id", "bigint") "," RC("status", "booking_status") "]", "bookings", "c"},
    {"f", "public", "bookings_by_status", "s", "t", "[" ARG("s", "booking_status", "false", "false") "]",
     "[" RC("id", "bigint") "," RC("status", "booking_status") "]", "bookings", "c"},
    {"f", "public", "count_bookings", "s", "f", "[]", "[]", "bigint", "s"},
    {"f", "public", "touch", "v", "f", "[]", "[]", "void", "v"},
    {"f", "public", "add", "i", "f", "[" ARG("a", "integer", "false", "false") "," ARG("b", "integer", "true", "false") "]",
     "[]", "integer", "s"},
    {"f", "public", "echo_json", "i", "f", "[" ARG("", "json", "false", "false") "]", "[]", "json", "s"},
    {"f", "public", "stats", "s", "f", "[]", "[" RC("n", "bigint") "," RC("total", "numeric") "]", "record", "o"},
    {"f", "public", "tags_of", "i", "t", "[" ARG("t", "text[]", "false", "true") "]", "[]", "text", "s"},
    {"f", "public", "pick", "i", "f", "[" ARG("a", "integer", "false", "false") "]", "[]", "integer", "s"},
    {"f", "public", "pick", "i", "f", "[" ARG("a", "text", "false", "false") "]", "[]", "text", "s"},
};
/* clang-format on */

static rest_catalog_t *cat;

static int setup(void **state) {
    (void)state;
    cat = rest_catalog_new();
    if (rest_catalog_add_row(cat, ROW_BOOKINGS, 9) || rest_catalog_add_row(cat, ROW_SETTINGS, 9) ||
        rest_catalog_add_row(cat, ROW_LOGS, 9))
        return -1;
    for (size_t i = 0; i < sizeof(ROW_FUNCS) / sizeof(ROW_FUNCS[0]); i++)
        if (rest_catalog_add_row(cat, ROW_FUNCS[i], 9))
            return -1;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    rest_catalog_free(cat);
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

typedef struct {
    const char *prefer, *range, *accept, *profile, *body;
} extra_t;

#define X(...) (&(extra_t){__VA_ARGS__})
#define NOX X(.prefer = NULL)
#define BK "\"public\".\"bookings\""

static int run(const char *m, const char *t, const char *q, const extra_t *x, rest_plan_t *p, rest_error_t *e) {
    rest_request_t r = {m, t, q, x->prefer, x->range, x->accept, x->profile, x->body, x->body ? strlen(x->body) : 0};
    return rest_plan(cat, &r, p, e);
}

static void plan_ok(const char *m, const char *t, const char *q, const extra_t *x, rest_plan_t *p) {
    rest_error_t e;
    int rc = run(m, t, q, x, p, &e);
    if (rc != 0)
        fprintf(stderr, "unexpected error %d %s: %s (%s)\n", e.status, e.code, e.message, e.details);
    assert_int_equal(rc, 0);
    assert_non_null(p->sql);
}

static void expect_err(const char *m, const char *t, const char *q, const extra_t *x, int status, const char *code,
                       const char *msg) {
    rest_plan_t p;
    rest_error_t e;
    int rc = run(m, t, q, x, &p, &e);
    if (rc == 0)
        fprintf(stderr, "planned instead of failing: %s\n", p.sql);
    assert_int_equal(rc, -1);
    assert_null(p.sql);
    assert_int_equal(p.nparams, 0);
    assert_int_equal(e.status, status);
    assert_string_equal(e.code, code);
    if (msg)
        assert_string_equal(e.message, msg);
}

static void assert_params(const rest_plan_t *p, int n, ...) {
    va_list ap;
    va_start(ap, n);
    assert_int_equal(p->nparams, n);
    for (int i = 0; i < n; i++) {
        const char *want = va_arg(ap, const char *);
        if (!want)
            assert_null(p->params[i]);
        else
            assert_string_equal(p->params[i], want);
    }
    va_end(ap);
}

static void assert_contains(const char *s, const char *frag) {
    if (!strstr(s, frag))
        fprintf(stderr, "missing: %s\n   in: %s\n", frag, s);
    assert_non_null(strstr(s, frag));
}

/* The WHERE text of a plain GET on bookings with query q. */
static void where_is(const char *q, const char *where, int nparams, const char *param) {
    rest_plan_t p;
    plan_ok("GET", "bookings", q, NOX, &p);
    char want[1024];
    snprintf(want, sizeof(want), " FROM " BK " WHERE %s)", where);
    assert_contains(p.sql, want);
    assert_int_equal(p.nparams, nparams);
    if (param)
        assert_string_equal(p.params[nparams - 1], param);
    rest_plan_free(&p);
}

typedef struct {
    int status;
    char headers[512];
    char body[1024];
} answer_t;

static answer_t respond(const rest_plan_t *p, const char *body, long total, long nrows) {
    answer_t a;
    buf_t *h = buf_new(64), *o = buf_new(64);
    a.status = rest_respond(p, body, total, nrows, &h, &o);
    snprintf(a.headers, sizeof(a.headers), "%.*s", (int)h->len, (const char *)h->data);
    snprintf(a.body, sizeof(a.body), "%.*s", (int)o->len, (const char *)o->data);
    buf_unref(h);
    buf_unref(o);
    return a;
}

/* ---- catalog ------------------------------------------------------------- */

static void test_catalog_lookup(void **state) {
    (void)state;
    const rest_table_t *t = rest_catalog_table(cat, "public", "bookings");
    assert_non_null(t);
    assert_int_equal(t->ncols, 9);
    assert_int_equal(t->npk, 1);
    assert_string_equal(t->pk[0], "id");
    assert_true(t->insertable);
    const rest_column_t *c = rest_table_column(t, "status");
    assert_non_null(c);
    assert_string_equal(c->type, "booking_status");
    assert_true(c->has_default);
    assert_false(c->nullable);
    assert_string_equal(c->default_expr, "'pending'::booking_status");
    assert_null(rest_table_column(t, "price")->default_expr);
    assert_non_null(rest_table_column(t, "we\"ird"));
    assert_null(rest_table_column(t, "nope"));
    assert_null(rest_catalog_table(cat, "private", "bookings"));
    assert_null(rest_catalog_table(cat, "public", "pg_class"));
    assert_false(rest_catalog_table(cat, "public", "logs")->insertable);

    const rest_func_t *f = rest_catalog_func(cat, "public", "stats");
    assert_non_null(f);
    assert_true(f->returns_composite);
    assert_true(f->ret_out_params);
    assert_int_equal(f->nret_cols, 2);
    assert_string_equal(f->ret_cols[1].name, "total");
    f = rest_catalog_func(cat, "public", "tags_of");
    assert_true(f->returns_set);
    assert_true(f->args[0].is_variadic);
    f = rest_catalog_func(cat, "public", "touch");
    assert_true(f->returns_void);
    assert_true(f->is_volatile);
    assert_true(rest_catalog_func(cat, "public", "add")->args[1].has_default);
    assert_string_equal(rest_catalog_func_at(cat, "public", "pick", 0)->args[0].type, "integer");
    assert_string_equal(rest_catalog_func_at(cat, "public", "pick", 1)->args[0].type, "text");
    assert_null(rest_catalog_func_at(cat, "public", "pick", 2));
    assert_null(rest_catalog_func(cat, "public", "nope"));
}

static void test_catalog_malformed_rows(void **state) {
    (void)state;
    rest_catalog_t *c = rest_catalog_new();
    const char *bad_kind[9] = {"x", "public", "t", "r", "t", "[]", "[]", NULL, NULL};
    const char *bad_cols[9] = {"t", "public", "t", "r", "t", "{\"not\":\"an array\"}", "[]", NULL, NULL};
    const char *bad_col[9] = {"t", "public", "t", "r", "t", "[{\"name\":\"a\"}]", "[]", NULL, NULL};
    const char *bad_pk[9] = {"t", "public", "t", "r", "t", "[]", "[1]", NULL, NULL};
    const char *bad_bool[9] = {"t", "public", "t", "r", "maybe", "[]", "[]", NULL, NULL};
    const char *bad_fkind[9] = {"f", "public", "f", "v", "f", "[]", "[]", "int", "z"};
    const char *bad_args[9] = {"f", "public", "f", "v", "f", "[{\"name\":\"a\"}]", "[]", "int", "s"};
    const char *null_name[9] = {"t", "public", NULL, "r", "t", "[]", "[]", NULL, NULL};
    const char *good[9] = {"t", "public", "t", "r", "true", "[]", "[]", NULL, NULL};
    assert_int_equal(rest_catalog_add_row(c, bad_kind, 9), -1);
    assert_int_equal(rest_catalog_add_row(c, bad_cols, 9), -1);
    assert_int_equal(rest_catalog_add_row(c, bad_col, 9), -1);
    assert_int_equal(rest_catalog_add_row(c, bad_pk, 9), -1);
    assert_int_equal(rest_catalog_add_row(c, bad_bool, 9), -1);
    assert_int_equal(rest_catalog_add_row(c, bad_fkind, 9), -1);
    assert_int_equal(rest_catalog_add_row(c, bad_args, 9), -1);
    assert_int_equal(rest_catalog_add_row(c, null_name, 9), -1);
    assert_int_equal(rest_catalog_add_row(c, good, 8), -1);
    assert_null(rest_catalog_table(c, "public", "t"));
    assert_int_equal(rest_catalog_add_row(c, good, 9), 0);
    assert_non_null(rest_catalog_table(c, "public", "t"));
    rest_catalog_free(c);
    assert_non_null(strstr(REST_CATALOG_SQL, "$1::text[]"));
}

/* ---- reads ------------------------------------------------------------------ */

static void test_read_default(void **state) {
    (void)state;
    rest_plan_t p;
    plan_ok("GET", "bookings", "", NOX, &p);
    assert_string_equal(p.sql, "SELECT coalesce(pg_catalog.json_agg(_pgrst_t), '[]')::text AS body, NULL::bigint AS "
                               "total, pg_catalog.count(*) AS nrows FROM (SELECT " BK ".* FROM " BK ") _pgrst_t");
    assert_int_equal(p.nparams, 0);
    assert_int_equal(p.result, REST_RESULT_ROWS);
    assert_true(p.return_body);
    assert_false(p.is_write);
    assert_false(p.count_exact);
    assert_null(p.prefer_applied);
    rest_plan_free(&p);
}

static void test_read_full(void **state) {
    (void)state;
    rest_plan_t p;
    plan_ok("GET", "bookings", "select=id,svc:service,price::text&status=eq.pending&order=id.desc&limit=10&offset=20",
            X(.prefer = "count=exact"), &p);
    assert_string_equal(p.sql, "SELECT coalesce(pg_catalog.json_agg(_pgrst_t), '[]')::text AS body, "
                               "(SELECT pg_catalog.count(*) FROM " BK " WHERE " BK ".\"status\" = $1) AS total, "
                               "pg_catalog.count(*) AS nrows FROM (SELECT " BK ".\"id\", " BK
                               ".\"service\" AS \"svc\", " BK ".\"price\"::text AS \"price\" FROM " BK " WHERE " BK
                               ".\"status\" = $1 ORDER BY " BK ".\"id\" DESC LIMIT 10 OFFSET 20) _pgrst_t");
    assert_params(&p, 1, "pending");
    assert_true(p.count_exact);
    assert_int_equal(p.offset, 20);
    assert_string_equal(p.prefer_applied, "count=exact");
    rest_plan_free(&p);
}

static void test_filter_operators(void **state) {
    (void)state;
    where_is("id=eq.5", BK ".\"id\" = $1", 1, "5");
    where_is("id=neq.5", BK ".\"id\" <> $1", 1, "5");
    where_is("price=gt.1.5", BK ".\"price\" > $1", 1, "1.5");
    where_is("price=gte.2", BK ".\"price\" >= $1", 1, "2");
    where_is("price=lt.3", BK ".\"price\" < $1", 1, "3");
    where_is("price=lte.4", BK ".\"price\" <= $1", 1, "4");
    where_is("service=like.*sink*", BK ".\"service\"::text LIKE $1", 1, "%sink%");
    where_is("service=ilike.FIX*", BK ".\"service\"::text ILIKE $1", 1, "FIX%");
    where_is("service=match.%5Ea", BK ".\"service\"::text ~ $1", 1, "^a");
    where_is("service=imatch.a%24", BK ".\"service\"::text ~* $1", 1, "a$");
    where_is("price=isdistinct.5", BK ".\"price\" IS DISTINCT FROM $1", 1, "5");
    where_is("tags=cs.%7Ba,b%7D", BK ".\"tags\" @> $1", 1, "{a,b}");
    where_is("tags=cd.%7Ba%7D", BK ".\"tags\" <@ $1", 1, "{a}");
    where_is("tags=ov.%7Ba%7D", BK ".\"tags\" && $1", 1, "{a}");
    where_is("meta=cs.%7B%22k%22:1%7D", BK ".\"meta\" @> $1", 1, "{\"k\":1}");
    where_is("price=sl.(1,2)", BK ".\"price\" << $1", 1, "(1,2)");
    where_is("price=sr.(1,2)", BK ".\"price\" >> $1", 1, "(1,2)");
    where_is("price=nxr.(1,2)", BK ".\"price\" &< $1", 1, "(1,2)");
    where_is("price=nxl.(1,2)", BK ".\"price\" &> $1", 1, "(1,2)");
    where_is("price=adj.(1,2)", BK ".\"price\" -|- $1", 1, "(1,2)");
    where_is("service=fts.cat", BK ".\"service\" @@ pg_catalog.to_tsquery($1)", 1, "cat");
    where_is("service=plfts.fat%20cat", BK ".\"service\" @@ pg_catalog.plainto_tsquery($1)", 1, "fat cat");
    where_is("service=phfts(english).fat+cat", BK ".\"service\" @@ pg_catalog.phraseto_tsquery($1, $2)", 2, "fat cat");
    where_is("service=wfts.x", BK ".\"service\" @@ pg_catalog.websearch_to_tsquery($1)", 1, "x");
    where_is("id=eq(any).%7B1,2%7D", BK ".\"id\" = ANY ($1)", 1, "{1,2}");
    where_is("price=gt(all).%7B1,2%7D", BK ".\"price\" > ALL ($1)", 1, "{1,2}");
    where_is("service=like(any).%7Ba*,*b%7D", BK ".\"service\"::text LIKE ANY ($1)", 1, "{a%,%b}");
    /* values are taken whole: dots, commas and parentheses included */
    where_is("service=eq.a.b,(c)", BK ".\"service\" = $1", 1, "a.b,(c)");
    where_is("service=eq.", BK ".\"service\" = $1", 1, "");
}

static void test_filter_is(void **state) {
    (void)state;
    where_is("price=is.null", BK ".\"price\" IS NULL", 0, NULL);
    where_is("price=is.NULL", BK ".\"price\" IS NULL", 0, NULL);
    where_is("price=is.not_null", BK ".\"price\" IS NOT NULL", 0, NULL);
    where_is("price=not.is.null", "NOT (" BK ".\"price\" IS NULL)", 0, NULL);
    where_is("service=is.true", BK ".\"service\" IS TRUE", 0, NULL);
    where_is("service=is.false", BK ".\"service\" IS FALSE", 0, NULL);
    where_is("service=is.unknown", BK ".\"service\" IS UNKNOWN", 0, NULL);
    expect_err("GET", "bookings", "price=is.maybe", NOX, 400, "PGRST100", "failed to parse filter (is.maybe)");
}

static void test_filter_in_lists(void **state) {
    (void)state;
    where_is("id=in.(1,2,3)", BK ".\"id\" = ANY ($1)", 1, "{\"1\",\"2\",\"3\"}");
    where_is("id=not.in.(1,2)", "NOT (" BK ".\"id\" = ANY ($1))", 1, "{\"1\",\"2\"}");
    /* supabase-js quotes values holding , ( or ); quotes and backslashes inside are escaped */
    where_is("service=in.(%22a,b%22,c,%22d%5C%22e%22)", BK ".\"service\" = ANY ($1)", 1, "{\"a,b\",\"c\",\"d\\\"e\"}");
    where_is("service=in.(%22(x)%22,NULL)", BK ".\"service\" = ANY ($1)", 1, "{\"(x)\",\"NULL\"}");
    where_is("service=in.(a%5Cb)", BK ".\"service\" = ANY ($1)", 1, "{\"a\\\\b\"}");
    where_is("service=in.()", BK ".\"service\" = ANY ($1)", 1, "{}");
    where_is("service=in.(,)", BK ".\"service\" = ANY ($1)", 1, "{\"\",\"\"}");
    expect_err("GET", "bookings", "id=in.1,2", NOX, 400, "PGRST100", "failed to parse filter (in.1,2)");
    expect_err("GET", "bookings", "id=in.(1,2", NOX, 400, "PGRST100", NULL);
    expect_err("GET", "bookings", "id=in.(1)x", NOX, 400, "PGRST100", NULL);
}

static void test_filter_negation_and_multi(void **state) {
    (void)state;
    where_is("status=not.eq.pending", "NOT (" BK ".\"status\" = $1)", 1, "pending");
    where_is("service=not.like.a*", "NOT (" BK ".\"service\"::text LIKE $1)", 1, "a%");
    where_is("id=gt.1&id=lt.9", BK ".\"id\" > $1 AND " BK ".\"id\" < $2", 2, "9");
    /* '+' and %-escapes are decoded in keys and values */
    where_is("service=eq.a+b%2Bc", BK ".\"service\" = $1", 1, "a b+c");
    where_is("%22we%5C%22ird%22=eq.x", BK ".\"we\"\"ird\" = $1", 1, "x");
}

static void test_filter_json_path(void **state) {
    (void)state;
    where_is("meta-%3E%3Ekind=eq.home", "(" BK ".\"meta\"->>$1) = $2", 2, "home");
    where_is("meta-%3Ea-%3E0-%3E%3Eb=like.x*", "(" BK ".\"meta\"->$1->0->>$2)::text LIKE $3", 3, "x%");
    where_is("meta-%3E-1=is.null", "(" BK ".\"meta\"->(-1)) IS NULL", 0, NULL);
    rest_plan_t p;
    plan_ok("GET", "bookings", "select=meta-%3Ea-%3E%3Eb,k:meta-%3E%3Ekind,meta-%3E2", NOX, &p);
    assert_contains(p.sql, "SELECT (" BK ".\"meta\"->$1->>$2) AS \"b\", (" BK ".\"meta\"->>$3) AS \"k\", (" BK
                           ".\"meta\"->2) AS \"2\" FROM");
    assert_params(&p, 3, "a", "b", "kind");
    rest_plan_free(&p);
}

static void test_logic_trees(void **state) {
    (void)state;
    where_is("or=(id.eq.1,price.gt.2)", "(" BK ".\"id\" = $1 OR " BK ".\"price\" > $2)", 2, "2");
    where_is("and=(id.eq.1,price.gt.2)", "(" BK ".\"id\" = $1 AND " BK ".\"price\" > $2)", 2, "2");
    where_is("not.or=(id.eq.1,id.eq.2)", "NOT (" BK ".\"id\" = $1 OR " BK ".\"id\" = $2)", 2, "2");
    where_is("or=(id.eq.1,and(price.gt.2,price.lt.3))",
             "(" BK ".\"id\" = $1 OR (" BK ".\"price\" > $2 AND " BK ".\"price\" < $3))", 3, "3");
    where_is("or=(id.eq.1,not.and(price.gt.2,price.is.null))",
             "(" BK ".\"id\" = $1 OR NOT (" BK ".\"price\" > $2 AND " BK ".\"price\" IS NULL))", 2, "2");
    where_is("or=(status.not.eq.pending,id.in.(1,%222,3%22))",
             "(NOT (" BK ".\"status\" = $1) OR " BK ".\"id\" = ANY ($2))", 2, "{\"1\",\"2,3\"}");
    where_is("or=(service.eq.%22a,b)%22,tags.cs.%7Bx,y%7D)", "(" BK ".\"service\" = $1 OR " BK ".\"tags\" @> $2)", 2,
             "{x,y}");
    where_is("or=(service.like.*a*,meta-%3E%3Ek.eq.v)",
             "(" BK ".\"service\"::text LIKE $1 OR (" BK ".\"meta\"->>$2) = $3)", 3, "v");
    where_is("id=eq.1&or=(id.eq.2)", BK ".\"id\" = $1 AND (" BK ".\"id\" = $2)", 2, "2");
    expect_err("GET", "bookings", "or=(id.eq.1", NOX, 400, "PGRST100", "failed to parse logic tree ((id.eq.1)");
    expect_err("GET", "bookings", "or=id.eq.1", NOX, 400, "PGRST100", NULL);
    expect_err("GET", "bookings", "or=()", NOX, 400, "PGRST100", NULL);
    expect_err("GET", "bookings", "or=(id.eq.1)x", NOX, 400, "PGRST100", NULL);
    expect_err("GET", "bookings", "or=(id.zz.1)", NOX, 400, "PGRST100", NULL);
    expect_err("GET", "bookings", "or=(id)", NOX, 400, "PGRST100", NULL);
    expect_err("GET", "bookings", "or=(nope.eq.1)", NOX, 400, "42703", "column bookings.nope does not exist");
    char deep[512] = "or=(";
    for (int i = 0; i < 40; i++)
        strcat(deep, "and(");
    strcat(deep, "id.eq.1");
    for (int i = 0; i < 41; i++)
        strcat(deep, ")");
    expect_err("GET", "bookings", deep, NOX, 400, "PGRST100", NULL);
}

static void test_select_variants(void **state) {
    (void)state;
    rest_plan_t p;
    plan_ok("GET", "bookings", "select=*,total:price::numeric,%22we%5C%22ird%22,%20id%20", NOX, &p);
    assert_contains(p.sql, "(SELECT " BK ".*, " BK ".\"price\"::numeric AS \"total\", " BK ".\"we\"\"ird\", " BK
                           ".\"id\" FROM " BK ")");
    rest_plan_free(&p);
    plan_ok("GET", "bookings", "select=", NOX, &p);
    assert_contains(p.sql, "(SELECT " BK ".* FROM");
    rest_plan_free(&p);
    expect_err("GET", "bookings", "select=id,bids(*)", NOX, 400, "PGRST100", "embedding resources is not supported");
    expect_err("GET", "bookings", "select=id,b:bids!inner(id)", NOX, 400, "PGRST100", NULL);
    expect_err("GET", "bookings", "select=...profiles(name)", NOX, 400, "PGRST100", NULL);
    expect_err("GET", "bookings", "select=count()", NOX, 400, "PGRST123", "Use of aggregate functions is not allowed");
    expect_err("GET", "bookings", "select=price.sum()", NOX, 400, "PGRST123", NULL);
    expect_err("GET", "bookings", "select=id,", NOX, 400, "PGRST100", "failed to parse select parameter (id,)");
    expect_err("GET", "bookings", "select=id::", NOX, 400, "PGRST100", NULL);
    expect_err("GET", "bookings", "select=id::text;drop", NOX, 400, "PGRST100", NULL);
    expect_err("GET", "bookings", "select=id%20x,y", NOX, 400, "42703", "column bookings.id x does not exist");
    expect_err("GET", "bookings", "select=nope", NOX, 400, "42703", "column bookings.nope does not exist");
    expect_err("GET", "bookings", "select=%22unterminated", NOX, 400, "PGRST100", NULL);
}

static void test_order_variants(void **state) {
    (void)state;
    rest_plan_t p;
    plan_ok("GET", "bookings", "order=price.desc.nullslast,id,service.asc,status.nullsfirst,meta-%3E%3Ek.desc", NOX,
            &p);
    assert_contains(p.sql, " ORDER BY " BK ".\"price\" DESC NULLS LAST, " BK ".\"id\", " BK ".\"service\" ASC, " BK
                           ".\"status\" NULLS FIRST, (" BK ".\"meta\"->>$1) DESC)");
    assert_params(&p, 1, "k");
    rest_plan_free(&p);
    expect_err("GET", "bookings", "order=id.up", NOX, 400, "PGRST100", "failed to parse order (id.up)");
    expect_err("GET", "bookings", "order=id,", NOX, 400, "PGRST100", NULL);
    expect_err("GET", "bookings", "order=nope.asc", NOX, 400, "42703", NULL);
    expect_err("GET", "bookings", "order=bids(id).desc", NOX, 400, "PGRST100", NULL);
}

static void test_ranges(void **state) {
    (void)state;
    static const struct {
        const char *q, *range, *tail;
        long offset;
    } cases[] = {
        {"limit=10", NULL, " LIMIT 10) _pgrst_t", 0},
        {"limit=10&offset=5", NULL, " LIMIT 10 OFFSET 5) _pgrst_t", 5},
        {"offset=5", NULL, " OFFSET 5) _pgrst_t", 5},
        {"", "0-9", " LIMIT 10) _pgrst_t", 0},
        {"", "10-", " OFFSET 10) _pgrst_t", 10},
        {"limit=5", "2-20", " LIMIT 3 OFFSET 2) _pgrst_t", 2},
        {"limit=0", NULL, " LIMIT 0) _pgrst_t", 0},
        {"offset=20", "0-9", " LIMIT 0 OFFSET 20) _pgrst_t", 20},
        {"", "items=0-9", " FROM " BK ") _pgrst_t", 0}, /* not a range PostgREST reads: ignored */
        {"limit=9223372036854775807&offset=1", NULL, " OFFSET 1) _pgrst_t", 1},
        {"limit=9223372036854775807", NULL, " FROM " BK ") _pgrst_t", 0}, /* no limit, in effect */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rest_plan_t p;
        plan_ok("GET", "bookings", cases[i].q, X(.range = cases[i].range), &p);
        size_t sl = strlen(p.sql), tl = strlen(cases[i].tail);
        if (sl < tl || strcmp(p.sql + sl - tl, cases[i].tail))
            fprintf(stderr, "case %zu: %s\n", i, p.sql);
        assert_true(sl >= tl && !strcmp(p.sql + sl - tl, cases[i].tail));
        assert_int_equal(p.offset, cases[i].offset);
        rest_plan_free(&p);
    }
    expect_err("GET", "bookings", "limit=-1", NOX, 400, "PGRST100", "failed to parse limit parameter (-1)");
    expect_err("GET", "bookings", "limit=abc", NOX, 400, "PGRST100", NULL);
    expect_err("GET", "bookings", "offset=1.5", NOX, 400, "PGRST100", "failed to parse offset parameter (1.5)");
    expect_err("GET", "bookings", "limit=9223372036854775808", NOX, 400, "PGRST100", NULL);
    expect_err("GET", "bookings", "", X(.range = "5-2"), 416, "PGRST103", "Requested range not satisfiable");
    /* Range is a GET header: a write ignores it */
    rest_plan_t p;
    plan_ok("DELETE", "bookings", "id=eq.1", X(.range = "0-0"), &p);
    rest_plan_free(&p);
}

static void test_read_head_and_accept(void **state) {
    (void)state;
    rest_plan_t p;
    plan_ok("HEAD", "bookings", "select=id", X(.prefer = "count=exact"), &p);
    assert_contains(p.sql, "SELECT NULL::text AS body, (SELECT pg_catalog.count(*) FROM " BK ") AS total,");
    assert_false(p.return_body);
    rest_plan_free(&p);
    plan_ok("GET", "bookings", "", X(.accept = "application/vnd.pgrst.object+json"), &p);
    assert_true(p.single_object);
    rest_plan_free(&p);
    plan_ok("GET", "bookings", "", X(.accept = "application/vnd.pgrst.object+json;nulls=stripped"), &p);
    assert_true(p.single_object);
    assert_contains(p.sql, "coalesce(pg_catalog.json_strip_nulls(pg_catalog.json_agg(_pgrst_t)), '[]')::text");
    rest_plan_free(&p);
    plan_ok("GET", "bookings", "", X(.accept = "text/html, application/json;q=0.9, */*;q=0.8"), &p);
    assert_false(p.single_object);
    rest_plan_free(&p);
    plan_ok("GET", "bookings", "", X(.accept = "*/*", .profile = "public"), &p);
    rest_plan_free(&p);
    expect_err("GET", "bookings", "", X(.accept = "text/csv"), 406, "PGRST107",
               "None of these media types are available: text/csv");
    expect_err("GET", "bookings", "", X(.profile = "private"), 406, "PGRST106",
               "The schema must be one of the following: public");
    expect_err("POST", "bookings", "", X(.profile = "auth", .body = "{}"), 406, "PGRST106", NULL);
}

static void test_read_errors(void **state) {
    (void)state;
    expect_err("GET", "nope", "", NOX, 404, "PGRST205", "Could not find the table 'public.nope' in the schema cache");
    expect_err("GET", "pg_class", "", NOX, 404, "PGRST205", NULL);
    expect_err("GET", "bookings/1", "", NOX, 404, "PGRST125", NULL);
    expect_err("GET", "", "", NOX, 404, "PGRST125", NULL);
    expect_err("GET", "bookings", "nope=eq.1", NOX, 400, "42703", "column bookings.nope does not exist");
    expect_err("GET", "bookings", "id=foo.1", NOX, 400, "PGRST100", "failed to parse filter (foo.1)");
    expect_err("GET", "bookings", "id=eq", NOX, 400, "PGRST100", "failed to parse filter (eq)");
    expect_err("GET", "bookings", "id=1", NOX, 400, "PGRST100", NULL);
    expect_err("GET", "bookings", "id=eq(some).1", NOX, 400, "PGRST100", NULL);
    expect_err("GET", "bookings", "id=neq(any).%7B1%7D", NOX, 400, "PGRST100", NULL);
    expect_err("GET", "bookings", "id", NOX, 400, "PGRST100", "failed to parse filter ()");
    expect_err("GET", "bookings", "bids.status=eq.x", NOX, 400, "PGRST108",
               "Cannot apply filter because 'bids' is not an embedded resource in this request");
    expect_err("GET", "bookings", "bids.order=id", NOX, 400, "PGRST108", NULL);
    expect_err("GET", "bookings", "id(x)=eq.1", NOX, 400, "PGRST100", "failed to parse tree path (id(x))");
    expect_err("GET", "bookings", "service=eq.a%00b", NOX, 400, "PGRST100", NULL);
    expect_err("PUT", "bookings", "", NOX, 405, "PGRST117", "Unsupported HTTP method: PUT");
    expect_err("GET", "bookings", "", X(.prefer = "handling=strict, count=bogus"), 400, "PGRST122",
               "Invalid preferences given with handling=strict");
}

/* ---- writes ----------------------------------------------------------------- */

static void test_insert_object(void **state) {
    (void)state;
    rest_plan_t p;
    plan_ok("POST", "bookings", "", X(.body = "{\"service\":\"x\",\"price\":1.50}"), &p);
    assert_string_equal(p.sql, "INSERT INTO " BK " (\"service\", \"price\") SELECT _pgrst_b.\"service\", "
                               "_pgrst_b.\"price\" FROM pg_catalog.json_to_recordset($1::json) AS _pgrst_b(\"service\" "
                               "text, \"price\" numeric(10,2))");
    assert_params(&p, 1, "[{\"service\":\"x\",\"price\":1.50}]");
    assert_int_equal(p.result, REST_RESULT_COMMAND);
    assert_false(p.return_body);
    assert_true(p.is_write);
    assert_true(p.is_insert);
    rest_plan_free(&p);

    plan_ok("POST", "bookings", "select=id,service",
            X(.prefer = "return=representation", .body = "{\"service\":\"x\"}"), &p);
    assert_string_equal(p.sql, "WITH _pgrst_w AS (INSERT INTO " BK " (\"service\") SELECT _pgrst_b.\"service\" FROM "
                               "pg_catalog.json_to_recordset($1::json) AS _pgrst_b(\"service\" text) RETURNING " BK
                               ".*) SELECT coalesce(pg_catalog.json_agg(_pgrst_t), '[]')::text AS body, "
                               "pg_catalog.count(*) AS total, pg_catalog.count(*) AS nrows FROM (SELECT "
                               "_pgrst_w.\"id\", _pgrst_w.\"service\" FROM _pgrst_w) _pgrst_t");
    assert_int_equal(p.result, REST_RESULT_ROWS);
    assert_true(p.return_body);
    assert_string_equal(p.prefer_applied, "return=representation");
    rest_plan_free(&p);
}

static void test_insert_array(void **state) {
    (void)state;
    rest_plan_t p;
    /* supabase-js: columns="a","b" with the union of the keys */
    plan_ok("POST", "bookings", "columns=%22service%22,%22price%22",
            X(.body = "[{\"service\":\"a\"},{\"service\":\"b\",\"price\":2,\"ignored\":1}]"), &p);
    assert_contains(p.sql, "INSERT INTO " BK " (\"service\", \"price\") SELECT");
    assert_params(&p, 1, "[{\"service\":\"a\"},{\"service\":\"b\",\"price\":2,\"ignored\":1}]");
    rest_plan_free(&p);
    plan_ok("POST", "bookings", "", X(.body = "[{\"service\":\"a\"},{\"service\":\"b\"}]"), &p);
    assert_contains(p.sql, "(\"service\") SELECT _pgrst_b.\"service\" FROM");
    rest_plan_free(&p);
    /* no columns at all: every row gets its defaults */
    plan_ok("POST", "logs", "", X(.body = "[]"), &p);
    assert_string_equal(p.sql, "INSERT INTO \"public\".\"logs\" SELECT FROM pg_catalog.json_array_elements($1::json)");
    rest_plan_free(&p);
    plan_ok("POST", "logs", "", X(.body = "{}"), &p);
    assert_params(&p, 1, "[{}]");
    rest_plan_free(&p);
    /* big numbers are PostgreSQL's to read, not ours */
    plan_ok("POST", "bookings", "", X(.body = "{\"price\":123456789012345678901234567890.123}"), &p);
    rest_plan_free(&p);
    expect_err("POST", "bookings", "", X(.body = "[{\"service\":\"a\"},{\"price\":1}]"), 400, "PGRST102",
               "Empty or invalid json");
    expect_err("POST", "bookings", "", X(.body = "[{\"service\":\"a\"},2]"), 400, "PGRST102", NULL);
    expect_err("POST", "bookings", "", X(.body = "\"str\""), 400, "PGRST102", NULL);
    expect_err("POST", "bookings", "", X(.body = "{\"service\":"), 400, "PGRST102", NULL);
    expect_err("POST", "bookings", "", X(.body = NULL), 400, "PGRST102", NULL);
    expect_err("POST", "bookings", "", X(.body = "{\"nope\":1}"), 400, "PGRST204",
               "Could not find the 'nope' column of 'bookings' in the schema cache");
    expect_err("POST", "bookings", "columns=service,nope", X(.body = "{\"service\":1}"), 400, "PGRST204", NULL);
    expect_err("POST", "bookings", "columns=service,", X(.body = "{\"service\":1}"), 400, "PGRST100", NULL);
    expect_err("POST", "bookings", "limit=1", X(.body = "{\"service\":1}"), 400, "PGRST100", NULL);
}

static void test_insert_missing_default(void **state) {
    (void)state;
    rest_plan_t p;
    plan_ok("POST", "bookings", "columns=service,status,price",
            X(.prefer = "missing=default", .body = "[{\"service\":\"a\"}]"), &p);
    assert_string_equal(p.sql,
                        "INSERT INTO " BK " (\"service\", \"status\", \"price\") SELECT _pgrst_b.\"service\", CASE "
                        "WHEN _pgrst_e.j ? $2 THEN _pgrst_b.\"status\" ELSE 'pending'::booking_status END, "
                        "_pgrst_b.\"price\" FROM pg_catalog.jsonb_array_elements($1::jsonb) AS _pgrst_e(j) CROSS JOIN "
                        "LATERAL pg_catalog.jsonb_to_record(_pgrst_e.j) AS _pgrst_b(\"service\" text, \"status\" "
                        "booking_status, \"price\" numeric(10,2))");
    assert_params(&p, 2, "[{\"service\":\"a\"}]", "status");
    assert_string_equal(p.prefer_applied, "missing=default");
    rest_plan_free(&p);
}

static void test_upsert(void **state) {
    (void)state;
    rest_plan_t p;
    plan_ok("POST", "settings", "",
            X(.prefer = "resolution=merge-duplicates", .body = "{\"user_id\":\"u\",\"key\":\"k\",\"value\":1}"), &p);
    assert_contains(p.sql, " ON CONFLICT (\"user_id\", \"key\") DO UPDATE SET \"user_id\" = EXCLUDED.\"user_id\", "
                           "\"key\" = EXCLUDED.\"key\", \"value\" = EXCLUDED.\"value\"");
    assert_string_equal(p.prefer_applied, "resolution=merge-duplicates");
    rest_plan_free(&p);
    plan_ok("POST", "settings", "on_conflict=key",
            X(.prefer = "resolution=ignore-duplicates, return=representation", .body = "{\"key\":\"k\"}"), &p);
    assert_contains(p.sql, " ON CONFLICT (\"key\") DO NOTHING RETURNING \"public\".\"settings\".*)");
    assert_string_equal(p.prefer_applied, "resolution=ignore-duplicates, return=representation");
    rest_plan_free(&p);
    /* no primary key and no on_conflict: a plain insert, the preference not applied */
    plan_ok("POST", "logs", "", X(.prefer = "resolution=merge-duplicates", .body = "{\"msg\":\"m\"}"), &p);
    assert_null(strstr(p.sql, "ON CONFLICT"));
    assert_null(p.prefer_applied);
    rest_plan_free(&p);
    /* on_conflict without resolution: ignored */
    plan_ok("POST", "settings", "on_conflict=key", X(.body = "{\"key\":\"k\"}"), &p);
    assert_null(strstr(p.sql, "ON CONFLICT"));
    rest_plan_free(&p);
    expect_err("POST", "settings", "on_conflict=nope",
               X(.prefer = "resolution=merge-duplicates", .body = "{\"key\":1}"), 400, "42703",
               "column settings.nope does not exist");
}

static void test_update(void **state) {
    (void)state;
    rest_plan_t p;
    plan_ok("PATCH", "bookings", "id=eq.7", X(.body = "{\"price\":3,\"tags\":[\"a\"]}"), &p);
    assert_string_equal(p.sql, "UPDATE " BK " SET \"price\" = _pgrst_b.\"price\", \"tags\" = _pgrst_b.\"tags\" FROM "
                               "pg_catalog.json_to_record($2::json) AS _pgrst_b(\"price\" numeric(10,2), \"tags\" "
                               "text[]) WHERE " BK ".\"id\" = $1");
    assert_params(&p, 2, "7", "{\"price\":3,\"tags\":[\"a\"]}");
    assert_int_equal(p.result, REST_RESULT_COMMAND);
    assert_false(p.is_insert);
    assert_false(p.is_delete);
    rest_plan_free(&p);
    plan_ok("PATCH", "bookings", "id=eq.7&select=id&order=id",
            X(.prefer = "return=representation", .body = "{\"price\":3}"), &p);
    assert_contains(p.sql, "WHERE " BK ".\"id\" = $1 RETURNING " BK ".*) SELECT");
    assert_contains(p.sql, "FROM (SELECT _pgrst_w.\"id\" FROM _pgrst_w ORDER BY _pgrst_w.\"id\") _pgrst_t");
    rest_plan_free(&p);
    /* an empty object changes nothing */
    plan_ok("PATCH", "bookings", "id=eq.7", X(.body = "{}"), &p);
    assert_string_equal(p.sql, "SELECT " BK ".* FROM " BK " WHERE false AND " BK ".\"id\" = $1");
    assert_params(&p, 1, "7");
    rest_plan_free(&p);
    plan_ok("PATCH", "bookings", "", X(.prefer = "handling=strict, max-affected=5", .body = "{\"price\":1}"), &p);
    assert_int_equal(p.max_affected, 5);
    assert_string_equal(p.prefer_applied, "handling=strict, max-affected=5");
    rest_plan_free(&p);
    plan_ok("PATCH", "bookings", "", X(.prefer = "max-affected=5", .body = "{\"price\":1}"), &p);
    assert_int_equal(p.max_affected, -1);
    rest_plan_free(&p);
    expect_err("PATCH", "bookings", "", X(.body = "[{\"price\":1}]"), 400, "PGRST102", NULL);
    expect_err("PATCH", "bookings", "", X(.body = "{\"nope\":1}"), 400, "PGRST204", NULL);
    expect_err("PATCH", "bookings", "limit=1", X(.body = "{\"price\":1}"), 400, "PGRST100", NULL);
    expect_err("PATCH", "bookings", "nope=eq.1", X(.body = "{\"price\":1}"), 400, "42703", NULL);
}

static void test_delete(void **state) {
    (void)state;
    rest_plan_t p;
    plan_ok("DELETE", "bookings", "id=in.(1,2)&select=id", X(.prefer = "count=exact"), &p);
    assert_string_equal(p.sql, "DELETE FROM " BK " WHERE " BK ".\"id\" = ANY ($1)");
    assert_params(&p, 1, "{\"1\",\"2\"}");
    assert_true(p.is_delete);
    assert_true(p.count_exact);
    rest_plan_free(&p);
    plan_ok("DELETE", "bookings", "", X(.prefer = "return=representation"), &p);
    assert_string_equal(p.sql, "WITH _pgrst_w AS (DELETE FROM " BK " RETURNING " BK ".*) SELECT "
                               "coalesce(pg_catalog.json_agg(_pgrst_t), '[]')::text AS body, pg_catalog.count(*) AS "
                               "total, pg_catalog.count(*) AS nrows FROM (SELECT _pgrst_w.* FROM _pgrst_w) _pgrst_t");
    rest_plan_free(&p);
    expect_err("DELETE", "bookings", "offset=1", NOX, 400, "PGRST100", "limit and offset are not supported on writes");
}

/* ---- rpc ---------------------------------------------------------------------- */

static void test_rpc_composite(void **state) {
    (void)state;
    rest_plan_t p;
    plan_ok("POST", "rpc/accept_booking", "select=id", X(.body = "{\"booking_id\":5}"), &p);
    assert_string_equal(p.sql, "WITH _pgrst_s AS (SELECT _pgrst_r.* FROM pg_catalog.json_to_record($1::json) AS "
                               "_pgrst_a(\"booking_id\" bigint) CROSS JOIN LATERAL "
                               "\"public\".\"accept_booking\"(\"booking_id\" := _pgrst_a.\"booking_id\") AS _pgrst_r) "
                               "SELECT coalesce((pg_catalog.json_agg(_pgrst_t) -> 0)::text, 'null') AS body, "
                               "NULL::bigint AS total, pg_catalog.count(*) AS nrows FROM (SELECT _pgrst_r.\"id\" FROM "
                               "_pgrst_s AS _pgrst_r) _pgrst_t");
    assert_params(&p, 1, "{\"booking_id\":5}");
    assert_int_equal(p.result, REST_RESULT_SCALAR);
    assert_true(p.is_rpc);
    assert_false(p.is_write);
    rest_plan_free(&p);
    plan_ok("GET", "rpc/bookings_by_status", "s=pending&id=gt.3&order=id.desc&limit=2", X(.prefer = "count=exact"), &p);
    assert_string_equal(p.sql, "WITH _pgrst_s AS (SELECT _pgrst_r.* FROM "
                               "\"public\".\"bookings_by_status\"(\"s\" := $1::booking_status) AS _pgrst_r WHERE "
                               "_pgrst_r.\"id\" > $2) SELECT coalesce(pg_catalog.json_agg(_pgrst_t), '[]')::text AS "
                               "body, (SELECT pg_catalog.count(*) FROM _pgrst_s) AS total, pg_catalog.count(*) AS "
                               "nrows FROM (SELECT _pgrst_r.* FROM _pgrst_s AS _pgrst_r ORDER BY _pgrst_r.\"id\" DESC "
                               "LIMIT 2) _pgrst_t");
    assert_params(&p, 2, "pending", "3");
    assert_int_equal(p.result, REST_RESULT_ROWS);
    rest_plan_free(&p);
    plan_ok("GET", "rpc/stats", "", NOX, &p);
    assert_contains(p.sql, "FROM \"public\".\"stats\"() AS _pgrst_r(\"n\", \"total\")");
    assert_int_equal(p.result, REST_RESULT_SCALAR);
    rest_plan_free(&p);
    plan_ok("HEAD", "rpc/stats", "", NOX, &p);
    assert_int_equal(p.result, REST_RESULT_ROWS);
    assert_false(p.return_body);
    rest_plan_free(&p);
    expect_err("GET", "rpc/bookings_by_status", "s=pending&nope=eq.1", NOX, 400, "42703",
               "column bookings_by_status.nope does not exist");
}

static void test_rpc_scalar_void(void **state) {
    (void)state;
    rest_plan_t p;
    plan_ok("GET", "rpc/count_bookings", "", NOX, &p);
    assert_string_equal(p.sql,
                        "SELECT coalesce(pg_catalog.to_json(\"public\".\"count_bookings\"())::text, 'null') AS body");
    assert_int_equal(p.result, REST_RESULT_SCALAR);
    assert_int_equal(p.nparams, 0);
    rest_plan_free(&p);
    plan_ok("POST", "rpc/touch", "", NOX, &p);
    assert_string_equal(p.sql, "SELECT coalesce((\"public\".\"touch\"())::text, '') AS body");
    assert_true(p.rpc_void);
    assert_false(p.return_body);
    rest_plan_free(&p);
    plan_ok("POST", "rpc/add", "", X(.body = "{\"a\":1}"), &p);
    assert_string_equal(p.sql, "SELECT coalesce(pg_catalog.to_json(\"public\".\"add\"(\"a\" := _pgrst_a.\"a\"))::text, "
                               "'null') AS body FROM pg_catalog.json_to_record($1::json) AS _pgrst_a(\"a\" integer)");
    rest_plan_free(&p);
    plan_ok("GET", "rpc/add", "b=2&a=1", NOX, &p);
    assert_contains(p.sql, "\"public\".\"add\"(\"a\" := $1::integer, \"b\" := $2::integer)");
    assert_params(&p, 2, "1", "2");
    rest_plan_free(&p);
    plan_ok("POST", "rpc/echo_json", "", X(.body = "[1,2]"), &p);
    assert_contains(p.sql, "\"public\".\"echo_json\"($1::json)");
    assert_params(&p, 1, "[1,2]");
    rest_plan_free(&p);
    plan_ok("POST", "rpc/echo_json", "", NOX, &p);
    assert_params(&p, 1, "{}");
    rest_plan_free(&p);
    expect_err("GET", "rpc/count_bookings", "x=eq.1", NOX, 400, "42703", NULL);
}

static void test_rpc_variadic_and_set_scalar(void **state) {
    (void)state;
    rest_plan_t p;
    plan_ok("GET", "rpc/tags_of", "t=a&t=b,c", NOX, &p);
    assert_contains(p.sql, "\"public\".\"tags_of\"(VARIADIC \"t\" := $1::text[]) AS _pgrst_r(pgrst_scalar)");
    assert_contains(p.sql, "coalesce(pg_catalog.json_agg(_pgrst_t.pgrst_scalar), '[]')::text");
    assert_params(&p, 1, "{\"a\",\"b,c\"}");
    rest_plan_free(&p);
    plan_ok("GET", "rpc/tags_of", "t=%7Bx,y%7D", NOX, &p);
    assert_params(&p, 1, "{x,y}");
    rest_plan_free(&p);
    plan_ok("POST", "rpc/tags_of", "", X(.body = "{\"t\":[\"x\"]}"), &p);
    assert_contains(p.sql, "(VARIADIC \"t\" := _pgrst_a.\"t\")");
    rest_plan_free(&p);
}

static void test_rpc_errors(void **state) {
    (void)state;
    expect_err("POST", "rpc/add", "", X(.body = "{\"zzz\":1}"), 404, "PGRST202",
               "Could not find the function public.add(zzz) in the schema cache");
    expect_err("POST", "rpc/add", "", X(.body = "{\"b\":1}"), 404, "PGRST202", NULL);
    expect_err("POST", "rpc/nope", "", NOX, 404, "PGRST202",
               "Could not find the function public.nope without parameters in the schema cache");
    expect_err("GET", "rpc/touch", "", NOX, 405, "25006", NULL);
    expect_err("HEAD", "rpc/accept_booking", "booking_id=1", NOX, 405, "25006", NULL);
    expect_err("PATCH", "rpc/add", "", X(.body = "{}"), 405, "PGRST101", "Cannot use the PATCH method on RPC");
    expect_err("POST", "rpc/pick", "", X(.body = "{\"a\":1}"), 300, "PGRST203", NULL);
    expect_err("POST", "rpc/add", "", X(.body = "{\"a\":"), 400, "PGRST102", NULL);
    rest_error_t e;
    rest_plan_t p;
    assert_int_equal(run("POST", "rpc/add", "", X(.body = "{\"zzz\":1,\"aaa\":2}"), &p, &e), -1);
    assert_string_equal(e.message, "Could not find the function public.add(aaa, zzz) in the schema cache");
    assert_string_equal(e.hint, "Perhaps you meant to call the function public.add(a, b)");
}

/* ---- answers ------------------------------------------------------------------- */

static void test_respond_reads(void **state) {
    (void)state;
    rest_plan_t p;
    answer_t a;
    plan_ok("GET", "bookings", "", NOX, &p);
    a = respond(&p, "[{\"id\":1}, \n {\"id\":2}]", -1, 2);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.headers, "Content-Range: 0-1/*\r\n");
    assert_string_equal(a.body, "[{\"id\":1}, \n {\"id\":2}]");
    a = respond(&p, "[]", -1, 0);
    assert_string_equal(a.headers, "Content-Range: */*\r\n");
    assert_string_equal(a.body, "[]");
    /* the body's own length wins over nrows; strings with commas do not count */
    a = respond(&p, "[{\"s\":\"a,b],[\"}, {\"t\":[1,2]}]", -1, 99);
    assert_string_equal(a.headers, "Content-Range: 0-1/*\r\n");
    rest_plan_free(&p);

    plan_ok("GET", "bookings", "limit=2&offset=2", X(.prefer = "count=exact"), &p);
    a = respond(&p, "[{\"id\":3},{\"id\":4}]", 10, 2);
    assert_int_equal(a.status, 206);
    assert_string_equal(a.headers, "Preference-Applied: count=exact\r\nContent-Range: 2-3/10\r\n");
    a = respond(&p, "[{\"id\":3},{\"id\":4}]", 4, 2);
    assert_int_equal(a.status, 206); /* 2 of 4 */
    a = respond(&p, "[]", 1, 0);
    assert_int_equal(a.status, 416);
    assert_string_equal(a.headers, "Preference-Applied: count=exact\r\nContent-Range: */1\r\n");
    assert_string_equal(a.body,
                        "{\"code\":\"PGRST103\",\"details\":\"An offset of 2 was requested, but there are only 1 "
                        "rows.\",\"hint\":null,\"message\":\"Requested range not satisfiable\"}");
    a = respond(&p, "[]", 2, 0);
    assert_int_equal(a.status, 206); /* offset == total: empty, not an error */
    assert_string_equal(a.headers, "Preference-Applied: count=exact\r\nContent-Range: */2\r\n");
    rest_plan_free(&p);

    plan_ok("GET", "bookings", "", X(.prefer = "count=exact"), &p);
    a = respond(&p, "[{\"id\":1}]", 1, 1);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.headers, "Preference-Applied: count=exact\r\nContent-Range: 0-0/1\r\n");
    a = respond(&p, "[]", 0, 0);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.headers, "Preference-Applied: count=exact\r\nContent-Range: */0\r\n");
    rest_plan_free(&p);

    plan_ok("HEAD", "bookings", "", X(.prefer = "count=exact"), &p);
    a = respond(&p, NULL, 42, 42);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.headers, "Preference-Applied: count=exact\r\nContent-Range: 0-41/42\r\n");
    assert_string_equal(a.body, "");
    rest_plan_free(&p);
}

static void test_respond_single(void **state) {
    (void)state;
    rest_plan_t p;
    answer_t a;
    plan_ok("GET", "bookings", "", X(.accept = "application/vnd.pgrst.object+json"), &p);
    a = respond(&p, "[{\"id\":1,\"s\":\"[x]\"}]", -1, 1);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body, "{\"id\":1,\"s\":\"[x]\"}");
    a = respond(&p, "[]", -1, 0);
    assert_int_equal(a.status, 406);
    assert_string_equal(a.body, "{\"code\":\"PGRST116\",\"details\":\"The result contains 0 rows\",\"hint\":null,"
                                "\"message\":\"JSON object requested, multiple (or no) rows returned\"}");
    a = respond(&p, "[{\"id\":1}, \n {\"id\":2}]", -1, 2);
    assert_int_equal(a.status, 406);
    assert_non_null(strstr(a.body, "The result contains 2 rows"));
    rest_plan_free(&p);
    /* writes too, with or without a body */
    plan_ok("DELETE", "bookings", "id=eq.1", X(.accept = "application/vnd.pgrst.object+json"), &p);
    a = respond(&p, NULL, -1, 3);
    assert_int_equal(a.status, 406);
    a = respond(&p, NULL, -1, 1);
    assert_int_equal(a.status, 204);
    rest_plan_free(&p);
    plan_ok("POST", "bookings", "",
            X(.accept = "application/vnd.pgrst.object+json", .prefer = "return=representation",
              .body = "{\"service\":\"s\"}"),
            &p);
    a = respond(&p, "[{\"id\":9}]", 1, 1);
    assert_int_equal(a.status, 201);
    assert_string_equal(a.body, "{\"id\":9}");
    rest_plan_free(&p);
}

static void test_respond_writes(void **state) {
    (void)state;
    rest_plan_t p;
    answer_t a;
    plan_ok("POST", "bookings", "", X(.body = "{\"service\":\"s\"}"), &p);
    a = respond(&p, NULL, -1, 1);
    assert_int_equal(a.status, 201);
    assert_string_equal(a.headers, "Content-Range: */*\r\n");
    assert_string_equal(a.body, "");
    rest_plan_free(&p);
    plan_ok("POST", "bookings", "", X(.prefer = "return=minimal, count=exact", .body = "[{\"service\":\"s\"}]"), &p);
    a = respond(&p, NULL, -1, 1);
    assert_string_equal(a.headers, "Preference-Applied: return=minimal, count=exact\r\nContent-Range: */1\r\n");
    rest_plan_free(&p);
    plan_ok("POST", "bookings", "", X(.prefer = "return=representation", .body = "{\"service\":\"s\"}"), &p);
    a = respond(&p, "[{\"id\":1}]", 1, 1);
    assert_int_equal(a.status, 201);
    assert_string_equal(a.body, "[{\"id\":1}]");
    rest_plan_free(&p);

    plan_ok("PATCH", "bookings", "", X(.body = "{\"price\":1}"), &p);
    a = respond(&p, NULL, -1, 3);
    assert_int_equal(a.status, 204);
    assert_string_equal(a.headers, "Content-Range: 0-2/*\r\n");
    a = respond(&p, NULL, -1, 0);
    assert_string_equal(a.headers, "Content-Range: */*\r\n");
    rest_plan_free(&p);
    plan_ok("PATCH", "bookings", "", X(.prefer = "return=representation,count=exact", .body = "{\"price\":1}"), &p);
    a = respond(&p, "[{\"id\":1},{\"id\":2}]", 2, 2);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.headers,
                        "Preference-Applied: return=representation, count=exact\r\nContent-Range: 0-1/2\r\n");
    rest_plan_free(&p);
    plan_ok("PATCH", "bookings", "", X(.prefer = "handling=strict,max-affected=2", .body = "{\"price\":1}"), &p);
    a = respond(&p, NULL, -1, 2);
    assert_int_equal(a.status, 204);
    a = respond(&p, NULL, -1, 3);
    assert_int_equal(a.status, 400);
    assert_non_null(strstr(a.body, "\"code\":\"PGRST124\""));
    assert_non_null(strstr(a.body, "The query affects 3 rows"));
    rest_plan_free(&p);

    plan_ok("DELETE", "bookings", "", X(.prefer = "count=exact"), &p);
    a = respond(&p, NULL, -1, 4);
    assert_int_equal(a.status, 204);
    assert_string_equal(a.headers, "Preference-Applied: count=exact\r\nContent-Range: */4\r\n");
    rest_plan_free(&p);
    plan_ok("DELETE", "bookings", "", X(.prefer = "return=representation"), &p);
    a = respond(&p, "[{\"id\":1}]", 1, 1);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body, "[{\"id\":1}]");
    rest_plan_free(&p);
}

static void test_respond_rpc(void **state) {
    (void)state;
    rest_plan_t p;
    answer_t a;
    plan_ok("POST", "rpc/touch", "", NOX, &p);
    a = respond(&p, "", -1, 1);
    assert_int_equal(a.status, 204);
    assert_string_equal(a.body, "");
    rest_plan_free(&p);
    plan_ok("GET", "rpc/count_bookings", "", NOX, &p);
    a = respond(&p, "42", -1, 1);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.headers, "Content-Range: 0-0/*\r\n");
    assert_string_equal(a.body, "42");
    a = respond(&p, NULL, -1, 1);
    assert_string_equal(a.body, "null");
    rest_plan_free(&p);
    plan_ok("GET", "rpc/bookings_by_status", "s=pending&limit=1", X(.prefer = "count=exact"), &p);
    a = respond(&p, "[{\"id\":1}]", 3, 1);
    assert_int_equal(a.status, 206);
    assert_string_equal(a.headers, "Preference-Applied: count=exact\r\nContent-Range: 0-0/3\r\n");
    rest_plan_free(&p);
}

/* ---- errors from PostgreSQL ---------------------------------------------------- */

static void test_error_from_pg(void **state) {
    (void)state;
    static const struct {
        const char *st;
        int anon, status;
    } cases[] = {
        {"08006", 0, 503}, {"09000", 0, 500}, {"0L000", 0, 403}, {"0P000", 0, 403}, {"23503", 0, 409},
        {"23505", 0, 409}, {"23502", 0, 400}, {"23514", 0, 400}, {"25006", 0, 405}, {"25001", 0, 500},
        {"28000", 0, 403}, {"2D000", 0, 500}, {"38000", 0, 500}, {"39000", 0, 500}, {"3B000", 0, 500},
        {"40001", 0, 500}, {"53000", 0, 503}, {"53400", 0, 500}, {"54000", 0, 500}, {"55000", 0, 500},
        {"57014", 0, 500}, {"58000", 0, 500}, {"F0000", 0, 500}, {"HV000", 0, 500}, {"P0001", 0, 400},
        {"P0002", 0, 500}, {"XX000", 0, 500}, {"42883", 0, 404}, {"42P01", 0, 404}, {"42501", 1, 401},
        {"42501", 0, 403}, {"22P02", 0, 400}, {"22001", 0, 400}, {"42703", 0, 400}, {"42P17", 0, 500},
        {"PT402", 0, 402}, {"PT999", 0, 500}, {"", 0, 500},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rest_error_t e;
        rest_error_from_pg(cases[i].st, "m", NULL, NULL, cases[i].anon, &e);
        if (e.status != cases[i].status)
            fprintf(stderr, "%s -> %d\n", cases[i].st, e.status);
        assert_int_equal(e.status, cases[i].status);
    }
    rest_error_t e;
    rest_error_from_pg("23505", "duplicate key value violates unique constraint \"k\"", "Key (id)=(1) already exists.",
                       NULL, 0, &e);
    buf_t *b = buf_new(64);
    rest_error_json(&e, &b);
    assert_int_equal(b->len, strlen("{\"code\":\"23505\",\"details\":\"Key (id)=(1) already exists.\",\"hint\":null,"
                                    "\"message\":\"duplicate key value violates unique constraint \\\"k\\\"\"}"));
    assert_memory_equal(b->data,
                        "{\"code\":\"23505\",\"details\":\"Key (id)=(1) already exists.\",\"hint\":null,"
                        "\"message\":\"duplicate key value violates unique constraint \\\"k\\\"\"}",
                        b->len);
    buf_unref(b);
    /* long messages are cut at a character boundary */
    char longmsg[600];
    memset(longmsg, 'a', sizeof(longmsg));
    memcpy(longmsg + 254, "\xc3\xa9\xc3\xa9", 4);
    longmsg[599] = '\0';
    rest_error_from_pg("P0001", longmsg, NULL, "h", 0, &e);
    assert_int_equal(strlen(e.message), 254);
    assert_string_equal(e.hint, "h");
    assert_string_equal(e.details, "");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalog_lookup),   cmocka_unit_test(test_catalog_malformed_rows),
        cmocka_unit_test(test_read_default),     cmocka_unit_test(test_read_full),
        cmocka_unit_test(test_filter_operators), cmocka_unit_test(test_filter_is),
        cmocka_unit_test(test_filter_in_lists),  cmocka_unit_test(test_filter_negation_and_multi),
        cmocka_unit_test(test_filter_json_path), cmocka_unit_test(test_logic_trees),
        cmocka_unit_test(test_select_variants),  cmocka_unit_test(test_order_variants),
        cmocka_unit_test(test_ranges),           cmocka_unit_test(test_read_head_and_accept),
        cmocka_unit_test(test_read_errors),      cmocka_unit_test(test_insert_object),
        cmocka_unit_test(test_insert_array),     cmocka_unit_test(test_insert_missing_default),
        cmocka_unit_test(test_upsert),           cmocka_unit_test(test_update),
        cmocka_unit_test(test_delete),           cmocka_unit_test(test_rpc_composite),
        cmocka_unit_test(test_rpc_scalar_void),  cmocka_unit_test(test_rpc_variadic_and_set_scalar),
        cmocka_unit_test(test_rpc_errors),       cmocka_unit_test(test_respond_reads),
        cmocka_unit_test(test_respond_single),   cmocka_unit_test(test_respond_writes),
        cmocka_unit_test(test_respond_rpc),      cmocka_unit_test(test_error_from_pg),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
