/*
 * Unit tests for channel/pgwait's reading of a join's
 * config.postgres_changes_options: wait only when true (or "true"), the
 * timeout clamped to [1 s, 20 s], 15 s when absent or not a number.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>

#include "channel/chan_int.h"

static int parse(const char *config) {
    json_t *c = json_loads(config, 0, NULL);
    assert_non_null(c);
    int ms = chan_pgwait_parse(c);
    json_decref(c);
    return ms;
}

static void test_no_wait(void **state) {
    (void)state;
    assert_int_equal(parse("{}"), 0);
    assert_int_equal(parse("{\"postgres_changes_options\":null}"), 0);
    assert_int_equal(parse("{\"postgres_changes_options\":{}}"), 0);
    assert_int_equal(parse("{\"postgres_changes_options\":{\"wait\":false,\"timeout\":5000}}"), 0);
    assert_int_equal(parse("{\"postgres_changes_options\":{\"wait\":1}}"), 0);
    assert_int_equal(parse("{\"postgres_changes_options\":{\"wait\":\"yes\"}}"), 0);
    assert_int_equal(parse("{\"postgres_changes_options\":[true]}"), 0);
}

static void test_timeouts(void **state) {
    (void)state;
    assert_int_equal(parse("{\"postgres_changes_options\":{\"wait\":true}}"), 15000);
    assert_int_equal(parse("{\"postgres_changes_options\":{\"wait\":\"true\"}}"), 15000);
    assert_int_equal(parse("{\"postgres_changes_options\":{\"wait\":true,\"timeout\":null}}"), 15000);
    assert_int_equal(parse("{\"postgres_changes_options\":{\"wait\":true,\"timeout\":\"5000\"}}"), 15000);
    assert_int_equal(parse("{\"postgres_changes_options\":{\"wait\":true,\"timeout\":5000}}"), 5000);
    assert_int_equal(parse("{\"postgres_changes_options\":{\"wait\":true,\"timeout\":2500.7}}"), 2500);
    assert_int_equal(parse("{\"postgres_changes_options\":{\"wait\":true,\"timeout\":1}}"), 1000);
    assert_int_equal(parse("{\"postgres_changes_options\":{\"wait\":true,\"timeout\":0}}"), 1000);
    assert_int_equal(parse("{\"postgres_changes_options\":{\"wait\":true,\"timeout\":-5}}"), 1000);
    assert_int_equal(parse("{\"postgres_changes_options\":{\"wait\":true,\"timeout\":20000}}"), 20000);
    assert_int_equal(parse("{\"postgres_changes_options\":{\"wait\":true,\"timeout\":60000}}"), 20000);
    assert_int_equal(parse("{\"postgres_changes_options\":{\"wait\":true,\"timeout\":1e300}}"), 20000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_wait),
        cmocka_unit_test(test_timeouts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
