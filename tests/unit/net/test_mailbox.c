/*
 * net/mailbox: several threads post to a loop running on its own thread;
 * every item arrives exactly once, in each thread's posting order, on the
 * loop's thread; a closed mailbox refuses posts (their handler runs with
 * run = 0); a full one refuses and frees too. Waits are bounded: a lost
 * wake-up fails the test instead of hanging it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/mailbox.h"

enum { PRODUCERS = 4, PER_PRODUCER = 20000 };

typedef struct {
    int producer;
    int seq;
} item_t;

static mailbox_t mb;
static uv_loop_t loop;
static pthread_t loop_thread;
/* written by the loop thread only, read after it is joined */
static int next_seq[PRODUCERS];
static long delivered, out_of_order, wrong_thread, batches;
static int dropped; /* run = 0 calls: any thread (atomic) */

static void on_item(void *p, int run) {
    item_t *it = p;
    if (!run) {
        __atomic_add_fetch(&dropped, 1, __ATOMIC_RELAXED);
        free(it);
        return;
    }
    if (!pthread_equal(pthread_self(), loop_thread))
        wrong_thread++;
    if (it->seq != next_seq[it->producer])
        out_of_order++;
    next_seq[it->producer] = it->seq + 1;
    delivered++;
    free(it);
}

/* The last item: closes the mailbox from its own loop, so uv_run returns. */
static void on_stop(void *p, int run) {
    (void)p;
    if (run)
        mbox_close(&mb);
}

static void after_batch(void *arg) {
    (void)arg;
    batches++;
}

static void *run_loop(void *arg) {
    (void)arg;
    uv_run(&loop, UV_RUN_DEFAULT);
    return NULL;
}

static void *produce(void *arg) {
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        item_t *it = malloc(sizeof(*it));
        it->producer = id;
        it->seq = i;
        mbox_post(&mb, on_item, it);
    }
    return NULL;
}

/* Joins t within seconds; 0 on success. */
static int join_within(pthread_t t, int seconds) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += seconds;
    return pthread_timedjoin_np(t, NULL, &ts);
}

static void posts_from_threads_arrive_once_in_order(void **state) {
    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(mbox_init(&mb, &loop, "test", 0, after_batch, NULL), 0);
    /* The loop thread's id must be known before any item runs. */
    assert_int_equal(pthread_create(&loop_thread, NULL, run_loop, NULL), 0);
    pthread_t prod[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++)
        assert_int_equal(pthread_create(&prod[i], NULL, produce, (void *)(intptr_t)i), 0);
    for (int i = 0; i < PRODUCERS; i++)
        assert_int_equal(join_within(prod[i], 30), 0);
    assert_int_equal(mbox_post(&mb, on_stop, NULL), 0);
    assert_int_equal(join_within(loop_thread, 30), 0);

    assert_int_equal(delivered, (long)PRODUCERS * PER_PRODUCER);
    assert_int_equal(out_of_order, 0);
    assert_int_equal(wrong_thread, 0);
    for (int i = 0; i < PRODUCERS; i++)
        assert_int_equal(next_seq[i], PER_PRODUCER);
    /* Batching: far fewer wake-ups than items (one per non-empty swap). */
    assert_true(batches >= 1);
    assert_true(batches < delivered);
    assert_int_equal(__atomic_load_n(&dropped, __ATOMIC_RELAXED), 0);

    /* Closed: refused, and the handler still gets the item to free. */
    item_t *late = malloc(sizeof(*late));
    late->producer = 0;
    late->seq = 0;
    assert_int_equal(mbox_post(&mb, on_item, late), -1);
    assert_int_equal(__atomic_load_n(&dropped, __ATOMIC_RELAXED), 1);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    mbox_destroy(&mb);
}

static void full_mailbox_refuses_and_close_drops_pending(void **state) {
    (void)state;
    __atomic_store_n(&dropped, 0, __ATOMIC_RELAXED);
    memset(next_seq, 0, sizeof(next_seq));
    delivered = 0;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(mbox_init(&mb, &loop, "small", 3, NULL, NULL), 0);
    for (int i = 0; i < 5; i++) {
        item_t *it = malloc(sizeof(*it));
        it->producer = 0;
        it->seq = i;
        assert_int_equal(mbox_post(&mb, on_item, it), i < 3 ? 0 : -1);
    }
    assert_int_equal(__atomic_load_n(&dropped, __ATOMIC_RELAXED), 2);
    /* Nothing ran yet (the loop has not turned): close drops the three. */
    loop_thread = pthread_self();
    mbox_close(&mb);
    assert_int_equal(delivered, 0);
    assert_int_equal(__atomic_load_n(&dropped, __ATOMIC_RELAXED), 5);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    mbox_destroy(&mb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(posts_from_threads_arrive_once_in_order),
        cmocka_unit_test(full_mailbox_refuses_and_close_drops_pending),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
