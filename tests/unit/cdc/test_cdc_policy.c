/*
 * Unit tests for cdc/policy: TechCare's policies as pg_get_expr prints them
 * (and OR-ed as the catalog query joins them) compile into plans that
 * decide rows in the server when every disjunct is understood, prove
 * visibility from one true disjunct, and defer to the database otherwise.
 * Shapes that look alike but mean something else (a term under NOT or
 * AND, inside a subquery, quoted text) are never misread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cdc/policy.h"

static const cdc_column_t booking_cols[] = {
    {"id", "uuid"},        {"customer_id", "uuid"}, {"technician_id", "uuid"}, {"status", "booking_status"},
    {"is_public", "bool"}, {"Owner Id", "uuid"}};
#define NB (sizeof(booking_cols) / sizeof(booking_cols[0]))

static const char bookings_expr[] =
    "(( SELECT is_admin() AS is_admin)) OR (((customer_id = ( SELECT auth.uid() AS uid)) OR (technician_id = ( "
    "SELECT auth.uid() AS uid)) OR ((status = 'pending'::booking_status) AND ( SELECT is_verified_technician() AS "
    "is_verified_technician))))";

/* A scripted row and subscriber. */
typedef struct {
    int uid[NB]; /* uid_eq answer per column */
    int row[8];  /* per ROW predicate */
} fake_t;

static int f_uid(void *ud, uint32_t col) { return ((fake_t *)ud)->uid[col]; }
static int f_row(void *ud, uint32_t pred) { return ((fake_t *)ud)->row[pred]; }

static void split(void **state) {
    (void)state;
    char **p;
    size_t n = cdc_pol_split("((a = 1) OR (b = ' OR ') OR (c AND d))", "OR", &p);
    assert_int_equal(n, 3);
    assert_string_equal(p[0], "(a = 1)");
    assert_string_equal(p[1], "(b = ' OR ')");
    assert_string_equal(p[2], "(c AND d)");
    for (size_t i = 0; i < n; i++)
        free(p[i]);
    free(p);
    n = cdc_pol_split("(x IN ( SELECT 1 WHERE (a OR b)))", "OR", &p);
    assert_int_equal(n, 1); /* the OR is inside the subquery */
    free(p[0]);
    free(p);
    n = cdc_pol_split(").]'", "OR", &p); /* unterminated quote (found by fuzz_policy) */
    assert_int_equal(n, 1);
    free(p[0]);
    free(p);
}

static void bookings_plan(void **state) {
    (void)state;
    cdc_pol_terms_t terms = {0};
    cdc_policy_t *p = cdc_pol_compile(bookings_expr, booking_cols, NB, 42, &terms);
    assert_int_equal(p->n, 4);
    assert_true(p->exact);
    assert_int_equal(terms.nclaims, 2);
    assert_string_equal(terms.fn[0], "is_admin");
    assert_string_equal(terms.claims[0], "(SELECT is_admin() AS is_admin)");
    assert_string_equal(terms.fn[1], "is_verified_technician");
    assert_int_equal(terms.nrows, 1);
    assert_int_equal(terms.row_table[0], 42);

    fake_t f;
    memset(&f, 0, sizeof(f));
    int8_t claims[2] = {0, 0};
    cdc_pol_input_t in = {f_uid, f_row, claims, &f};
    /* a stranger's booking, not pending: decided "no" without the database */
    assert_int_equal(cdc_pol_decide(p, &in), 0);
    /* own booking */
    f.uid[1] = 1;
    assert_int_equal(cdc_pol_decide(p, &in), 1);
    f.uid[1] = 0;
    /* pending: visible to a verified technician only */
    f.row[0] = 1;
    assert_int_equal(cdc_pol_decide(p, &in), 0);
    claims[1] = 1;
    assert_int_equal(cdc_pol_decide(p, &in), 1);
    /* admins see everything */
    f.row[0] = 0;
    claims[0] = 1;
    claims[1] = 0;
    assert_int_equal(cdc_pol_decide(p, &in), 1);
    /* claims not known yet: a true disjunct still proves it, else ask */
    in.claim = NULL;
    assert_int_equal(cdc_pol_decide(p, &in), -1);
    f.uid[2] = 1;
    assert_int_equal(cdc_pol_decide(p, &in), 1);
    /* an unsure uid comparison is not a "no" */
    f.uid[2] = -1;
    claims[0] = 0;
    in.claim = claims;
    assert_int_equal(cdc_pol_decide(p, &in), -1);
    cdc_pol_free(p);
    cdc_pol_terms_clear(&terms);
}

static void opaque_parts(void **state) {
    (void)state;
    cdc_pol_terms_t terms = {0};
    /* bids: the customer's branch is a subquery, opaque */
    const char *bids = "(( SELECT is_admin() AS is_admin)) OR (((technician_id = ( SELECT auth.uid() AS uid)) OR "
                       "(id IN ( SELECT b.id\n   FROM bookings b\n  WHERE (b.customer_id = ( SELECT auth.uid() AS "
                       "uid))))))";
    cdc_policy_t *p = cdc_pol_compile(bids, booking_cols, NB, 7, &terms);
    assert_int_equal(p->n, 3);
    assert_false(p->exact);
    fake_t f;
    memset(&f, 0, sizeof(f));
    int8_t claims[1] = {0};
    cdc_pol_input_t in = {f_uid, f_row, claims, &f};
    assert_int_equal(cdc_pol_decide(p, &in), -1); /* only the database knows */
    f.uid[2] = 1;
    assert_int_equal(cdc_pol_decide(p, &in), 1); /* the bidder: proven without it */
    cdc_pol_free(p);

    /* NOT, AND-ed uid terms, unknown columns, other functions, casts to
     * another type, quoted literals: never read as a shortcut */
    const char *tricky[] = {
        "(NOT (customer_id = ( SELECT auth.uid() AS uid)))",
        "(user_id = ( SELECT auth.uid() AS uid))",
        "(customer_id = ( SELECT auth.role() AS role))",
        "((status)::text = 'pending'::text)",
        "(status = 'it''s'::booking_status)",
        "(status = 'pending'::text)",
        "(( SELECT is_admin(1) AS is_admin))",
        "(( SELECT auth.uid() AS uid) IS NOT NULL)",
    };
    for (size_t i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++) {
        p = cdc_pol_compile(tricky[i], booking_cols, NB, 7, &terms);
        assert_int_equal(p->n, 1);
        assert_true(p->d[0].opaque);
        memset(&f, 0, sizeof(f));
        for (size_t c = 0; c < NB; c++)
            f.uid[c] = 1; /* even if every uid matched */
        assert_int_equal(cdc_pol_decide(p, &in), -1);
        cdc_pol_free(p);
    }
    /* AND of a uid term and an opaque one: a false uid decides "no" */
    p = cdc_pol_compile("((customer_id = ( SELECT auth.uid() AS uid)) AND (id IN ( SELECT 1)))", booking_cols, NB, 7,
                        &terms);
    memset(&f, 0, sizeof(f));
    assert_int_equal(cdc_pol_decide(p, &in), 0);
    f.uid[1] = 1;
    assert_int_equal(cdc_pol_decide(p, &in), -1);
    cdc_pol_free(p);
    cdc_pol_terms_clear(&terms);
}

static void row_shapes(void **state) {
    (void)state;
    cdc_pol_terms_t terms = {0};
    const char *exprs[] = {"is_public", "(technician_id IS NULL)", "(technician_id IS NOT NULL)",
                           "(\"Owner Id\" = ( SELECT auth.uid() AS uid))", "true"};
    const int kinds[] = {POL_ROW, POL_ROW, POL_ROW, POL_UID, POL_TRUE};
    for (size_t i = 0; i < 5; i++) {
        cdc_policy_t *p = cdc_pol_compile(exprs[i], booking_cols, NB, 9, &terms);
        assert_int_equal(p->n, 1);
        assert_int_equal(p->d[0].n, 1);
        assert_int_equal(p->d[0].t[0].kind, kinds[i]);
        if (kinds[i] == POL_UID)
            assert_int_equal(p->d[0].t[0].arg, 5);
        cdc_pol_free(p);
    }
    assert_int_equal(terms.nrows, 3);
    /* the compiled predicates are real filters on the row */
    cdc_cell_t cells[NB] = {{NULL, 0}};
    cells[4] = (cdc_cell_t){"t", 1};
    assert_int_equal(cdc_filter_match(terms.rows[0], cells, NULL), 1);
    assert_int_equal(cdc_filter_match(terms.rows[1], cells, NULL), 1); /* technician_id IS NULL */
    assert_int_equal(cdc_filter_match(terms.rows[2], cells, NULL), 0);
    cdc_pol_terms_clear(&terms);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(split),
        cmocka_unit_test(bookings_plan),
        cmocka_unit_test(opaque_parts),
        cmocka_unit_test(row_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
