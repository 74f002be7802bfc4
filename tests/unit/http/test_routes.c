/*
 * http/routes: which registered handler a request reaches. Exact routes win
 * over routes that hold the paths below them, the longest of those wins,
 * OPTIONS goes to a handler only when it asked for it, the fallback gets
 * GET/HEAD outside reserved prefixes only, and at the connection ceiling
 * only ROUTE_WHEN_FULL routes run, with keep-alive off. Handlers here record
 * the call and never touch the (absent) connection.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "http/request.h"
#include "http/routes.h"

static const char *called; /* which handler ran last */
static char got_rest[256];
static int got_ka;

#define HANDLER(name)                                                                                                  \
    static void name(conn_t *c, http_req_t *r, const char *rest) {                                                     \
        (void)c;                                                                                                       \
        called = #name;                                                                                                \
        snprintf(got_rest, sizeof(got_rest), "%s", rest);                                                              \
        got_ka = http_req_keep_alive(r);                                                                               \
    }
HANDLER(h_socket)
HANDLER(h_batch)
HANDLER(h_one)
HANDLER(h_deep)
HANDLER(h_health)
HANDLER(h_app)

static http_req_t *req(const char *method, const char *target) {
    char wire[512];
    int n = snprintf(wire, sizeof(wire), "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", method, target);
    http_req_t *r = http_req_new(1024);
    size_t used;
    assert_int_equal(http_req_feed(r, wire, (size_t)n, &used), HTTP_REQ_DONE);
    return r;
}

/* Routes one request and returns the handler's name ("" when the table
 * answers itself: 404, 204, 503). A handler found runs as routes_handle or
 * routes_overloaded would run it. */
static const char *route(const char *method, const char *target, int full) {
    called = "";
    got_rest[0] = '\0';
    http_req_t *r = req(method, target);
    const char *rest = NULL;
    if (routes_pick(r, full, &rest)) {
        if (full)
            routes_overloaded(NULL, r);
        else
            routes_handle(NULL, r);
    }
    http_req_free(r);
    return called;
}

static int setup(void **state) {
    (void)state;
    routes_add("/realtime/v1/websocket", ROUTE_OPTIONS, h_socket);
    routes_add("/realtime/v1/api/broadcast", ROUTE_EXACT, h_batch);
    routes_add("/realtime/v1/api/broadcast", ROUTE_UNDER, h_one);
    routes_add("/realtime/v1/api/broadcast/deep", ROUTE_UNDER, h_deep);
    routes_add("/health", ROUTE_WHEN_FULL, h_health);
    routes_reserve("/realtime/v1");
    routes_reserve("/health");
    routes_set_fallback(h_app);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    routes_reset();
    return 0;
}

static void exact_under_and_longest(void **state) {
    (void)state;
    assert_string_equal(route("POST", "/realtime/v1/api/broadcast", 0), "h_batch");
    assert_string_equal(route("POST", "/realtime/v1/api/broadcast/room/events/e", 0), "h_one");
    assert_string_equal(got_rest, "room/events/e");
    /* A trailing slash is below the route, not the route itself. */
    assert_string_equal(route("POST", "/realtime/v1/api/broadcast/", 0), "h_one");
    assert_string_equal(got_rest, "");
    assert_string_equal(route("POST", "/realtime/v1/api/broadcast/deep/x", 0), "h_deep");
    assert_string_equal(got_rest, "x");
    /* Whole segments only: a longer name is not below the route. */
    assert_string_equal(route("POST", "/realtime/v1/api/broadcastX", 0), "");
    assert_string_equal(route("GET", "/health", 0), "h_health");
    assert_int_equal(got_ka, 1);
}

static void options_and_fallback(void **state) {
    (void)state;
    assert_string_equal(route("OPTIONS", "/realtime/v1/websocket", 0), "h_socket");
    /* The fallback: GET and HEAD outside the API's prefixes only. */
    assert_string_equal(route("GET", "/customer/bookings", 0), "h_app");
    assert_string_equal(got_rest, "/customer/bookings");
    assert_string_equal(route("HEAD", "/", 0), "h_app");
    assert_string_equal(route("GET", "/healthz", 0), "h_app");
    assert_string_equal(route("GET", "/health/x", 0), "");
    assert_string_equal(route("GET", "/realtime/v1/nothing", 0), "");
    /* OPTIONS elsewhere is the table's 204, never a handler's. */
    assert_string_equal(route("OPTIONS", "/realtime/v1/api/broadcast", 0), "");
}

static void at_the_ceiling(void **state) {
    (void)state;
    assert_string_equal(route("GET", "/health", 1), "h_health");
    assert_int_equal(got_ka, 0);
    assert_string_equal(route("POST", "/realtime/v1/api/broadcast", 1), "");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_under_and_longest),
        cmocka_unit_test(options_and_fallback),
        cmocka_unit_test(at_the_ceiling),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
