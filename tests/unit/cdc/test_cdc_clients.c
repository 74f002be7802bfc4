/*
 * Unit tests for cdc/clients: the registry of joined channels, the wire ids
 * their bindings share, and the per-address filter budgets. No database,
 * no hub (clients here never go live, so no topic is looked up).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cdc/clients.h"
#include "util/mem.h"

static cdc_client_t *new_client(cdc_reg_t *r, uint64_t id, uint64_t peer) {
    return cdc_cli_new(r, id, "realtime:room", 13, 0, peer, 500, 1, xstrdup("{\"sub\":\"x\"}"));
}

static uint32_t bind(cdc_reg_t *r, cdc_client_t *c, const char *table, const char *key) {
    char err[128];
    uint32_t sub =
        cdc_subs_add_budget(r->subs, c, CDC_EV_ALL, "public", table, NULL, 0, NULL, 0, err, sizeof(err), &c->budget->b);
    assert_true(sub > 0);
    return cdc_cli_add_binding(r, c, key, sub) ? sub : 0;
}

/* Identical bindings share a wire id, different ones never do; an id
 * outlives a channel that leaves while another still uses it. */
static void wire_ids(void **state) {
    (void)state;
    cdc_reg_t r;
    cdc_cli_init(&r);
    cdc_client_t *a = new_client(&r, 1, 10), *b = new_client(&r, 2, 11);
    uint32_t sa = bind(&r, a, "t", "INSERT\x1fpublic\x1ft"), sb = bind(&r, b, "t", "INSERT\x1fpublic\x1ft");
    uint32_t sc = bind(&r, b, "u", "INSERT\x1fpublic\x1fu");
    uint32_t own = bind(&r, a, "u", NULL); /* a key too long to share: its own id */
    cdc_cli_insert(&r, a);
    cdc_cli_insert(&r, b);
    assert_int_not_equal(sa, sb); /* internal ids stay unique */
    uint32_t wa = cdc_cli_wire_id(&r, sa);
    assert_true(wa >= 1000);
    assert_int_equal(cdc_cli_wire_id(&r, sb), wa);
    assert_int_not_equal(cdc_cli_wire_id(&r, sc), wa);
    assert_int_not_equal(cdc_cli_wire_id(&r, own), wa);
    assert_int_not_equal(cdc_cli_wire_id(&r, own), cdc_cli_wire_id(&r, sc));
    assert_int_equal(cdc_cli_count(&r), 2);

    cdc_cli_remove(&r, 1);
    assert_null(cdc_cli_find(&r, 1));
    assert_int_equal(cdc_cli_wire_id(&r, sa), 0);
    assert_int_equal(cdc_cli_wire_id(&r, sb), wa); /* still b's */
    assert_int_equal(cdc_cli_count(&r), 1);
    cdc_cli_free(&r);
}

/* Channels from one address share one budget; it goes with the last. A
 * client held by a queued match outlives its leave, marked dead. */
static void budgets_and_references(void **state) {
    (void)state;
    cdc_reg_t r;
    cdc_cli_init(&r);
    cdc_client_t *a = new_client(&r, 1, 42), *b = new_client(&r, 2, 42), *c = new_client(&r, 3, 43);
    assert_ptr_equal(a->budget, b->budget);
    assert_ptr_not_equal(a->budget, c->budget);
    assert_int_equal(a->budget->refs, 2);
    assert_int_equal(a->budget->b.cap, 500);
    cdc_cli_insert(&r, a);
    cdc_cli_insert(&r, b);
    cdc_cli_insert(&r, c);

    a->budget->b.spent = 300;
    cdc_cli_budget_drain(&r, 100, 1000); /* 100 units a second, for a second */
    assert_int_equal(a->budget->b.spent, 200);
    cdc_cli_budget_drain(&r, 100, 5000);
    assert_int_equal(a->budget->b.spent, 0);

    a->refs++; /* a queued match holds it */
    cdc_cli_remove(&r, 1);
    assert_true(a->dead);
    assert_null(cdc_cli_topic(a));
    assert_int_equal(b->budget->refs, 2);
    cdc_cli_unref(a);
    assert_int_equal(b->budget->refs, 1);

    cdc_cli_set_claims(b, 1, xstrdup("{\"sub\":\"c0000000-0000-4000-8000-000000000001\"}"));
    assert_string_equal(b->sub, "c0000000-0000-4000-8000-000000000001");
    assert_true(b->sub_uuid);
    cdc_cli_set_claims(b, 1, xstrdup("{\"sub\":\"C0000000-0000-4000-8000-000000000001\"}"));
    assert_false(b->sub_uuid); /* not canonical: uppercase */
    cdc_cli_set_claims(b, 1, xstrdup("{}"));
    assert_null(b->sub);
    cdc_cli_free(&r);
}

/* Many clients and distinct bindings: the tables grow and shrink. */
static void many(void **state) {
    (void)state;
    cdc_reg_t r;
    cdc_cli_init(&r);
    enum { N = 3000 };
    char key[64];
    for (uint64_t i = 1; i <= N; i++) {
        cdc_client_t *c = new_client(&r, i, i % 97);
        snprintf(key, sizeof(key), "*\x1fpublic\x1ft%llu", (unsigned long long)(i % 500));
        bind(&r, c, "t", key);
        cdc_cli_insert(&r, c);
    }
    assert_int_equal(cdc_cli_count(&r), N);
    for (uint64_t i = 1; i <= N; i += 2)
        cdc_cli_remove(&r, i);
    assert_int_equal(cdc_cli_count(&r), N / 2);
    for (uint64_t i = 2; i <= N; i += 2)
        assert_non_null(cdc_cli_find(&r, i));
    cdc_cli_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wire_ids),
        cmocka_unit_test(budgets_and_references),
        cmocka_unit_test(many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
