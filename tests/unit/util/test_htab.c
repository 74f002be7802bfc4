/*
 * util/htab and util/hash: the table against a plain array under random
 * inserts and removals (backward-shift deletion must keep every remaining
 * item findable), growth and shrinking, iteration, a zeroed table, and the
 * hash's chaining and spread.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/hash.h"
#include "util/htab.h"

typedef struct {
    uint64_t id;
    bool in;
} item_t;

static bool id_eq(const void *item, const void *key) { return ((const item_t *)item)->id == *(const uint64_t *)key; }

/* A deliberately poor hash (many equal low bits) so probe runs are long and
 * every removal has neighbours to shift. */
static uint64_t weak_hash(uint64_t id) { return id % 37; }

static void random_ops_match_reference(void **state) {
    (void)state;
    enum { N = 2000 };
    item_t *items = calloc(N, sizeof(*items));
    htab_t t = {0};
    srand(7);
    for (size_t i = 0; i < N; i++)
        items[i].id = i * 1000003u;
    for (int step = 0; step < 200000; step++) {
        item_t *it = &items[(size_t)rand() % N];
        if (it->in) {
            assert_true(htab_remove(&t, weak_hash(it->id), it));
            it->in = false;
        } else {
            assert_null(htab_find(&t, weak_hash(it->id), id_eq, &it->id));
            htab_insert(&t, weak_hash(it->id), it);
            it->in = true;
        }
        if (step % 997 == 0) {
            size_t n = 0;
            for (size_t i = 0; i < N; i++) {
                item_t *f = htab_find(&t, weak_hash(items[i].id), id_eq, &items[i].id);
                assert_ptr_equal(f, items[i].in ? &items[i] : NULL);
                n += items[i].in;
            }
            assert_int_equal(htab_count(&t), n);
        }
    }
    htab_free(&t);
    free(items);
}

static void grows_shrinks_and_iterates(void **state) {
    (void)state;
    enum { N = 10000 };
    item_t *items = calloc(N, sizeof(*items));
    htab_t t = {0};
    for (size_t i = 0; i < N; i++) {
        items[i].id = i;
        htab_insert(&t, hash_u64(i), &items[i]);
    }
    assert_true(t.mask + 1 >= N * 4 / 3);
    size_t seen = 0, pos = 0;
    item_t *it;
    while ((it = htab_next(&t, &pos))) {
        assert_false(it->in); /* each item once */
        it->in = true;
        seen++;
    }
    assert_int_equal(seen, N);
    for (size_t i = 0; i < N - 3; i++)
        assert_true(htab_remove(&t, hash_u64(i), &items[i]));
    assert_int_equal(htab_count(&t), 3);
    assert_true(t.mask + 1 <= 32); /* gave back its peak */
    for (size_t i = N - 3; i < N; i++)
        assert_ptr_equal(htab_find(&t, hash_u64(i), id_eq, &items[i].id), &items[i]);
    assert_false(htab_remove(&t, hash_u64(0), &items[0]));
    htab_free(&t);
    assert_null(htab_find(&t, 1, id_eq, &items[1].id)); /* freed is empty again */
    size_t p0 = 0;
    assert_null(htab_next(&t, &p0));
    free(items);
}

static void hash_chains_and_spreads(void **state) {
    (void)state;
    assert_int_equal(hash_bytes(HASH_INIT, "abc", 3), hash_str("abc"));
    assert_int_not_equal(hash_str("abc"), hash_str("abd"));
    /* Chaining is order-sensitive: (a, b) is not (b, a). */
    uint64_t ab = hash_bytes(hash_bytes(HASH_INIT, "a", 1), "b", 1);
    uint64_t ba = hash_bytes(hash_bytes(HASH_INIT, "b", 1), "a", 1);
    assert_int_not_equal(ab, ba);
    /* Names differing in one character land in all 64 buckets of 64. */
    bool hit[64] = {false};
    char name[16];
    for (int i = 0; i < 4096; i++) {
        int n = snprintf(name, sizeof(name), "room:%d", i);
        hit[hash_bytes(HASH_INIT, name, (size_t)n) & 63] = true;
    }
    for (int i = 0; i < 64; i++)
        assert_true(hit[i]);
    /* hash_u64 is a bijection: no two of many sequential ids collide. */
    assert_int_not_equal(hash_u64(1), hash_u64(2));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_ops_match_reference),
        cmocka_unit_test(grows_shrinks_and_iterates),
        cmocka_unit_test(hash_chains_and_spreads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
