/*
 * Unit tests for cdc/engine's start-up failure path: a start that fails
 * after its loop, pool and handles exist (here: a slot name the stream
 * refuses) frees them all and leaves the engine stopped, so workers'
 * calls are refused and a later start is possible. Under ASan (TC_SANITIZE)
 * LeakSanitizer checks that nothing leaks. No database is reached: the
 * pool only starts connecting to a socket directory that does not exist.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cdc/engine.h"

static void refuse(void *ud, int run, const char *response, const char *reason) {
    (void)ud;
    (void)run;
    (void)response;
    (void)reason;
    fail_msg("done must not run for a refused join");
}

static void failed_start_cleans_up(void **state) {
    (void)state;
    cdc_engine_config_t cfg = {
        .host = "/nonexistent-techcare-socket-dir",
        .port = "5432",
        .user = "nobody",
        .dbname = "nothing",
        .repl_user = "nobody",
        .slot = "Not A Slot Name!",
        .publication = "techcare",
    };
    for (int round = 0; round < 2; round++) {
        assert_int_equal(cdc_engine_start(&cfg), -1);
        assert_int_equal(cdc_engine_running(), 0);
        cdc_join_req_t req = {.topic = "realtime:x", .topic_len = 10, .bindings = "[]", .done = refuse};
        assert_int_equal(cdc_engine_join(&req), 0);
        cdc_engine_leave(1); /* refused quietly */
        assert_int_equal(cdc_engine_mark(), 0);
        cdc_engine_stop(); /* a no-op when not running */
    }
}

static void bad_limits_refused(void **state) {
    (void)state;
    cdc_engine_config_t cfg = {.slot = "techcare", .publication = "techcare", .table_events = "nodot:INSERT"};
    assert_int_equal(cdc_engine_start(&cfg), -1);
    assert_int_equal(cdc_engine_running(), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(failed_start_cleans_up),
        cmocka_unit_test(bad_limits_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
