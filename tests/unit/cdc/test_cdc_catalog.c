/*
 * Unit tests for cdc/catalog: the per-table event limits syntax, and how a
 * catalog result (built here as libpq would hand it over, one row per
 * table and request role) becomes per-role decisions: no RLS, a bypassing
 * role and a lone USING (true) policy need no check; no privilege or no
 * policy means never; anything else gets a check statement built from the
 * policies. Checked against PostgreSQL itself by the integration suite
 * (24/25/27-postgres-changes*).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

#include "cdc/catalog.h"
#include "cdc/subs.h"

static void limits_syntax(void **state) {
    (void)state;
    char err[256];
    assert_int_equal(cdc_cat_limits_check(NULL, err, sizeof(err)), 0);
    assert_int_equal(cdc_cat_limits_check("", err, sizeof(err)), 0);
    assert_int_equal(cdc_cat_limits_check("public.messages:INSERT,public.payments:insert|update", err, sizeof(err)), 0);
    assert_int_equal(cdc_cat_limits_check("public.messages:*", err, sizeof(err)), 0);
    assert_int_equal(cdc_cat_limits_check("messages:INSERT", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "schema.table"));
    assert_int_equal(cdc_cat_limits_check("public.messages:TRUNCATE", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "TRUNCATE"));
    assert_int_equal(cdc_cat_limits_check("public.messages:", err, sizeof(err)), -1);
    assert_int_equal(cdc_cat_limits_check("public.:INSERT", err, sizeof(err)), -1);
}

static void roles(void **state) {
    (void)state;
    assert_int_equal(cdc_cat_role("anon"), CDC_ROLE_ANON);
    assert_int_equal(cdc_cat_role("authenticated"), CDC_ROLE_AUTHENTICATED);
    assert_int_equal(cdc_cat_role("service_role"), CDC_ROLE_SERVICE);
    assert_int_equal(cdc_cat_role("postgres"), CDC_ROLE_ANON); /* least privilege */
    assert_int_equal(cdc_cat_role(NULL), CDC_ROLE_ANON);
    assert_string_equal(cdc_cat_role_name(CDC_ROLE_SERVICE), "service_role");
}

/* One catalog row: oid, schema, name, qualified, alias, published, rls,
 * columns JSON, role, can_select, bypass, permissive, restrictive. */
typedef struct {
    const char *v[13];
} row_t;

static PGresult *make_result(const row_t *rows, int n) {
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    PGresAttDesc atts[13];
    memset(atts, 0, sizeof(atts));
    static char names[13][8];
    for (int i = 0; i < 13; i++) {
        snprintf(names[i], sizeof(names[i]), "c%d", i);
        atts[i].name = names[i];
        atts[i].format = 0;
        atts[i].typid = 25;
        atts[i].typlen = -1;
        atts[i].atttypmod = -1;
    }
    assert_true(PQsetResultAttrs(r, 13, atts));
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 13; k++)
            assert_true(PQsetvalue(r, i, k, (char *)rows[i].v[k], rows[i].v[k] ? (int)strlen(rows[i].v[k]) : -1));
    return r;
}

#define COLS                                                                                                           \
    "[[\"id\",\"uuid\",2950,2950,false,true],[\"customer_id\",\"uuid\",2950,2950,false,false],"                        \
    "[\"meta\",\"jsonb\",3802,3802,true,false],[\"d\",\"email\",16500,25,false,false]]"

static void decisions(void **state) {
    (void)state;
    const row_t rows[] = {
        /* 100: bookings, RLS, per-role policies */
        {{"100", "public", "bookings", "\"public\".\"bookings\"", "bookings", "t", "t", COLS, "anon", "t", "f", NULL,
          NULL}},
        {{"100", "public", "bookings", "\"public\".\"bookings\"", "bookings", "t", "t", COLS, "authenticated", "t", "f",
          "((customer_id = ( SELECT auth.uid() AS uid)))", "((customer_id IS NOT NULL))"}},
        {{"100", "public", "bookings", "\"public\".\"bookings\"", "bookings", "t", "t", COLS, "service_role", "t", "t",
          NULL, NULL}},
        /* 200: messages, RLS, USING (true) for authenticated, no SELECT for anon */
        {{"200", "public", "messages", "\"public\".\"messages\"", "messages", "t", "t", COLS, "anon", "f", "f",
          "(true)", NULL}},
        {{"200", "public", "messages", "\"public\".\"messages\"", "messages", "t", "t", COLS, "authenticated", "t", "f",
          "(true)", NULL}},
        {{"200", "public", "messages", "\"public\".\"messages\"", "messages", "t", "t", COLS, "service_role", "t", "t",
          NULL, NULL}},
        /* 300: no RLS, not published */
        {{"300", "private", "notes", "\"private\".\"notes\"", "notes", "f", "f", COLS, "anon", "t", "f", NULL, NULL}},
        {{"300", "private", "notes", "\"private\".\"notes\"", "notes", "f", "f", COLS, "authenticated", "t", "f", NULL,
          NULL}},
        {{"300", "private", "notes", "\"private\".\"notes\"", "notes", "f", "f", COLS, "service_role", "t", "t", NULL,
          NULL}},
    };
    PGresult *r = make_result(rows, 9);
    char err[256];
    cdc_catalog_t *c = cdc_cat_load(r, NULL, "public.messages:INSERT", err, sizeof(err));
    PQclear(r);
    assert_non_null(c);
    assert_int_equal(cdc_cat_count(c), 3);

    const cdc_table_t *b = cdc_cat_find(c, "public", "bookings");
    assert_non_null(b);
    assert_ptr_equal(cdc_cat_by_oid(c, 100), b);
    assert_true(b->published && b->rls);
    assert_int_equal(b->events, CDC_EV_ALL);
    assert_int_equal(b->ncols, 4);
    assert_string_equal(b->cols[1].name, "customer_id");
    assert_string_equal(b->cols[3].type, "email");
    assert_int_equal(b->conv_oids[3], 25); /* a domain converts as its base */
    assert_true(b->is_pk[0] && !b->is_pk[1]);
    assert_true(b->is_json[2] && !b->is_json[0]);
    assert_int_equal(b->vis[CDC_ROLE_ANON], CDC_VIS_NEVER);     /* RLS, no policy for anon */
    assert_int_equal(b->vis[CDC_ROLE_SERVICE], CDC_VIS_ALWAYS); /* bypasses RLS */
    assert_int_equal(b->vis[CDC_ROLE_AUTHENTICATED], CDC_VIS_CHECK);
    const char *sql = b->check_sql[CDC_ROLE_AUTHENTICATED];
    assert_non_null(strstr(sql, "jsonb_populate_record(NULL::\"public\".\"bookings\""));
    assert_non_null(strstr(sql, "AS bookings WHERE (((customer_id = ( SELECT auth.uid() AS uid))))"));
    assert_non_null(strstr(sql, " AND (((customer_id IS NOT NULL)))"));
    assert_null(b->plan[CDC_ROLE_AUTHENTICATED]); /* a restrictive policy applies: no plan, the database decides */

    const cdc_table_t *m = cdc_cat_by_oid(c, 200);
    assert_non_null(m);
    assert_int_equal(m->events, CDC_EV_INSERT);
    assert_int_equal(m->vis[CDC_ROLE_ANON], CDC_VIS_NEVER);           /* no SELECT privilege */
    assert_int_equal(m->vis[CDC_ROLE_AUTHENTICATED], CDC_VIS_ALWAYS); /* USING (true) alone */
    assert_null(m->check_sql[CDC_ROLE_AUTHENTICATED]);

    const cdc_table_t *n = cdc_cat_find(c, "private", "notes");
    assert_non_null(n);
    assert_false(n->published);
    for (int k = 0; k < CDC_NROLES; k++)
        assert_int_equal(n->vis[k], CDC_VIS_ALWAYS); /* no RLS */
    assert_null(cdc_cat_find(c, "public", "notes"));
    assert_null(cdc_cat_by_oid(c, 150));

    cdc_catalog_t *c2 = cdc_cat_ref(c);
    cdc_cat_unref(c);
    assert_non_null(cdc_cat_find(c2, "public", "bookings")); /* still alive */
    cdc_cat_unref(c2);
}

static void bad_results(void **state) {
    (void)state;
    char err[256];
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_FATAL_ERROR);
    assert_null(cdc_cat_load(r, NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "catalog query failed"));
    PQclear(r);
    const row_t bad = {
        {"1", "public", "t", "\"public\".\"t\"", "t", "t", "t", "{not json", "anon", "t", "f", NULL, NULL}};
    r = make_result(&bad, 1);
    assert_null(cdc_cat_load(r, NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "bad column list"));
    PQclear(r);
    const row_t ok = {{"1", "public", "t", "\"public\".\"t\"", "t", "t", "t", NULL, "anon", "t", "f", NULL, NULL}};
    r = make_result(&ok, 1);
    assert_null(cdc_cat_load(r, NULL, "nonsense", err, sizeof(err))); /* limits are checked too */
    PQclear(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(limits_syntax),
        cmocka_unit_test(roles),
        cmocka_unit_test(decisions),
        cmocka_unit_test(bad_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
