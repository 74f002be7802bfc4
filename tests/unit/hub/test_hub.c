/*
 * hub on real workers (net/server, two loop threads, no client): subscribers
 * on both workers get what is published from outside a worker (through
 * each worker's mailbox) and from a worker (local at once, the other
 * through its mailbox); a private topic and a public one of the same name
 * are two topics; an unsubscribed subscriber gets nothing more; a topic
 * with no subscriber left is gone from the table. Subscriptions change on
 * the subscriber's own worker (worker_post); the test thread waits on a
 * condition variable with a deadline.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hub/hub.h"
#include "net/server.h"
#include "proto/msg.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

typedef struct {
    hub_sub_t sub; /* first: deliver gets it back */
    int worker;    /* where it must be delivered */
    int got;       /* under mu */
    int wrong_worker;
    char last[32];
} test_sub_t;

static int ops_done; /* worker_post operations finished, under mu */

static void deliver(hub_sub_t *s, hub_msg_t *m) {
    test_sub_t *t = (test_sub_t *)s;
    pthread_mutex_lock(&mu);
    t->got++;
    t->wrong_worker += worker_self->id != t->worker;
    size_t n = m->payload_len < sizeof(t->last) - 1 ? m->payload_len : sizeof(t->last) - 1;
    memcpy(t->last, m->payload, n);
    t->last[n] = 0;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

typedef struct {
    test_sub_t *s;
    const char *topic;
    int is_private;
    int subscribe; /* 1: subscribe, 0: unsubscribe, 2: publish to its topic from this worker, 3: nothing */
} op_t;

static void done(void) {
    pthread_mutex_lock(&mu);
    ops_done++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void publish_text(hub_topic_t *t, const char *text) {
    hub_publish(hub_msg_broadcast(t, NULL, "ev", 2, NULL, 0, MSG_ENC_JSON, text, strlen(text)));
}

/* On the subscriber's worker. */
static void run_op(void *arg, int run) {
    op_t *op = arg;
    if (run) {
        if (op->subscribe == 1)
            hub_subscribe(&op->s->sub, op->topic, strlen(op->topic), op->is_private);
        else if (op->subscribe == 0)
            hub_unsubscribe(&op->s->sub);
        else if (op->subscribe == 2)
            publish_text(op->s->sub.topic, "\"from-worker\"");
    }
    done();
}

/* Waits until pred holds (mu held), at most 10 s. */
#define WAIT_UNTIL(pred)                                                                                               \
    do {                                                                                                               \
        struct timespec ts_;                                                                                           \
        clock_gettime(CLOCK_REALTIME, &ts_);                                                                           \
        ts_.tv_sec += 10;                                                                                              \
        while (!(pred) && pthread_cond_timedwait(&cv, &mu, &ts_) != ETIMEDOUT) {                                       \
        }                                                                                                              \
        assert_true(pred);                                                                                             \
    } while (0)

/* Runs op on worker w and waits for it. */
static void on_worker(int w, op_t *op) {
    pthread_mutex_lock(&mu);
    int before = ops_done;
    pthread_mutex_unlock(&mu);
    assert_int_equal(worker_post(&srv.workers[w], run_op, op), 0);
    pthread_mutex_lock(&mu);
    WAIT_UNTIL(ops_done > before);
    pthread_mutex_unlock(&mu);
}

static void fan_out_private_public_and_removal(void **state) {
    (void)state;
    static test_sub_t a = {.sub.deliver = deliver, .worker = 0};
    static test_sub_t b = {.sub.deliver = deliver, .worker = 1};
    static test_sub_t p = {.sub.deliver = deliver, .worker = 1}; /* private, same name */
    const char *name = "realtime:room";
    op_t sa = {&a, name, 0, 1}, sb = {&b, name, 0, 1}, sp = {&p, name, 1, 1};
    on_worker(0, &sa);
    on_worker(1, &sb);
    on_worker(1, &sp);

    hub_topic_t *pub = hub_topic_find(name, strlen(name), 0);
    hub_topic_t *priv = hub_topic_find(name, strlen(name), 1);
    assert_non_null(pub);
    assert_non_null(priv);
    assert_ptr_not_equal(pub, priv);
    assert_int_equal(hub_topic_subscribers(pub), 2);
    assert_int_equal(hub_topic_subscribers(priv), 1);

    /* From outside any worker: both workers' mailboxes. */
    publish_text(pub, "\"one\"");
    pthread_mutex_lock(&mu);
    WAIT_UNTIL(a.got == 1 && b.got == 1);
    assert_string_equal(a.last, "\"one\"");
    assert_string_equal(b.last, "\"one\"");
    pthread_mutex_unlock(&mu);

    publish_text(priv, "\"secret\"");
    pthread_mutex_lock(&mu);
    WAIT_UNTIL(p.got == 1);
    assert_string_equal(p.last, "\"secret\"");
    pthread_mutex_unlock(&mu);

    /* From worker 0: local delivery to a, worker 1's mailbox for b. */
    op_t pa = {&a, name, 0, 2};
    on_worker(0, &pa);
    pthread_mutex_lock(&mu);
    WAIT_UNTIL(a.got == 2 && b.got == 2);
    assert_string_equal(b.last, "\"from-worker\"");
    pthread_mutex_unlock(&mu);

    /* b leaves: a still gets messages, b does not. */
    op_t ub = {&b, name, 0, 0};
    on_worker(1, &ub);
    assert_int_equal(hub_topic_subscribers(pub), 1);
    publish_text(pub, "\"two\"");
    pthread_mutex_lock(&mu);
    WAIT_UNTIL(a.got == 3);
    pthread_mutex_unlock(&mu);
    /* Anything for b would have been posted before the marker op below
     * (one mailbox per worker keeps order): once it ran, b has all. */
    op_t noop = {&b, name, 0, 3};
    on_worker(1, &noop);
    pthread_mutex_lock(&mu);
    assert_int_equal(b.got, 2);
    assert_int_equal(p.got, 1); /* the private topic saw none of the public messages */
    assert_int_equal(a.wrong_worker + b.wrong_worker + p.wrong_worker, 0);
    pthread_mutex_unlock(&mu);

    /* The last subscribers leave: the topics leave the table, while the
     * references we hold keep their memory valid. */
    op_t ua = {&a, name, 0, 0}, up = {&p, name, 1, 0};
    on_worker(0, &ua);
    on_worker(1, &up);
    assert_null(hub_topic_find(name, strlen(name), 0));
    assert_null(hub_topic_find(name, strlen(name), 1));
    size_t len;
    assert_string_equal(hub_topic_name(pub, &len), name);
    hub_topic_release(pub);
    hub_topic_release(priv);
}

/* Many topics: the table grows and shrinks, every lookup stays right. */
static void many_topics(void **state) {
    (void)state;
    enum { N = 300 };
    static test_sub_t subs[N];
    static char names[N][32];
    static op_t ops[N];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "realtime:t%d", i);
        subs[i].sub.deliver = deliver;
        subs[i].worker = i % 2;
        ops[i] = (op_t){&subs[i], names[i], i % 3 == 0, 1};
        on_worker(i % 2, &ops[i]);
    }
    for (int i = 0; i < N; i++) {
        hub_topic_t *t = hub_topic_find(names[i], strlen(names[i]), i % 3 == 0);
        assert_non_null(t);
        assert_null(hub_topic_find(names[i], strlen(names[i]), i % 3 != 0));
        hub_topic_release(t);
    }
    for (int i = 0; i < N; i++) {
        ops[i].subscribe = 0;
        on_worker(i % 2, &ops[i]);
        assert_null(hub_topic_find(names[i], strlen(names[i]), i % 3 == 0));
    }
}

static int start(void **state) {
    (void)state;
    static const srv_config_t cfg = {
        .host = "127.0.0.1",
        .port = 0,
        .workers = 2,
        .max_connections = 10,
        .send_queue_max = 1 << 20,
        .slow_consumer_ms = 10000,
        .heartbeat_interval_ms = 30000,
        .max_message = 1 << 20,
        .drain_timeout_ms = 1000,
    };
    hub_init(2);
    return srv_start(&cfg) < 0;
}

static int stop(void **state) {
    (void)state;
    srv_drain();
    srv_join();
    hub_shutdown();
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fan_out_private_public_and_removal),
        cmocka_unit_test(many_topics),
    };
    return cmocka_run_group_tests(tests, start, stop);
}
