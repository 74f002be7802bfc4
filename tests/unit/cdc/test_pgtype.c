/*
 * Unit tests for cdc/pgtype: lookups by OID and by name, the table's order
 * (the binary search depends on it), and its consistency: every element
 * type is itself built in, arrays are named after their element, and the
 * JSON categories of the types whose text to_jsonb rewrites.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "cdc/pgtype.h"

static void test_lookups(void **state) {
    (void)state;
    const pgtype_t *t = pgtype_builtin(23);
    assert_non_null(t);
    assert_string_equal(t->name, "int4");
    assert_int_equal(t->json, PGTYPE_NUM);
    assert_int_equal(t->elem, 0);
    t = pgtype_builtin(1007);
    assert_non_null(t);
    assert_string_equal(t->name, "_int4");
    assert_int_equal(t->json, PGTYPE_ARRAY);
    assert_int_equal(t->elem, 23);
    assert_int_equal(pgtype_builtin(22)->json, PGTYPE_VECTOR);
    assert_int_equal(pgtype_builtin(16)->json, PGTYPE_BOOL);
    assert_int_equal(pgtype_builtin(700)->json, PGTYPE_FLOAT);
    assert_int_equal(pgtype_builtin(1700)->json, PGTYPE_NUM);
    assert_int_equal(pgtype_builtin(3802)->json, PGTYPE_JSON);
    assert_int_equal(pgtype_builtin(1114)->json, PGTYPE_TS);
    assert_int_equal(pgtype_builtin(1184)->json, PGTYPE_TSTZ);
    assert_int_equal(pgtype_builtin(26)->json, PGTYPE_STRING); /* to_jsonb(oid) is a string */
    assert_int_equal(pgtype_builtin(1082)->json, PGTYPE_STRING);
    assert_null(pgtype_builtin(0));
    assert_null(pgtype_builtin(10000));
    assert_null(pgtype_builtin(17000));
    assert_null(pgtype_builtin(UINT32_MAX));
    assert_null(pgtype_builtin(1004)); /* a gap in the OIDs */
    t = pgtype_builtin_named("timestamptz");
    assert_non_null(t);
    assert_int_equal(t->oid, 1184);
    assert_null(pgtype_builtin_named("mood"));
    assert_null(pgtype_builtin_named("integer")); /* typnames only, not SQL spellings */
    assert_null(pgtype_builtin_named(""));
}

static void test_table(void **state) {
    (void)state;
    size_t count = 0;
    uint32_t prev = 0;
    for (uint32_t oid = 0; oid < 10000; oid++) {
        const pgtype_t *t = pgtype_builtin(oid);
        if (!t)
            continue;
        count++;
        assert_int_equal(t->oid, oid);
        assert_true(oid > prev || count == 1);
        prev = oid;
        assert_ptr_equal(pgtype_builtin_named(t->name), t); /* names are unique */
        if (t->json == PGTYPE_ARRAY) {
            const pgtype_t *e = pgtype_builtin(t->elem);
            assert_non_null(e);
            assert_int_equal(t->name[0], '_');
            assert_string_equal(t->name + 1, e->name);
        } else if (t->json == PGTYPE_VECTOR) {
            assert_non_null(pgtype_builtin(t->elem));
        } else {
            assert_int_equal(t->elem, 0);
            assert_true(t->name[0] != '_');
        }
    }
    assert_int_equal(count, 158);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
