/*
 * net/mailbox: a worker's inbox. Any thread posts an item with the handler
 * that consumes it; the loop that owns the mailbox is woken (uv_async) and
 * runs every handler in posting order, the whole batch per wake-up, so a
 * burst of posts costs one wake-up. Items from one thread keep their order.
 * Bounded: past max pending items a post is refused (logged, at most once
 * a second) and its handler runs at once with run = 0 so the item can be
 * freed. It never interprets an item and never blocks on its handlers.
 */
#ifndef TC_NET_MAILBOX_H
#define TC_NET_MAILBOX_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Consumes item: run = 1 on the mailbox's loop thread, or run = 0 (on
 * whichever thread refuses or drops it: a full or closed mailbox) so it
 * only frees. Either way the item is the handler's from then on. */
typedef void (*mbox_fn)(void *item, int run);

typedef struct mailbox {
    uv_async_t async;
    pthread_mutex_t mu;
    struct mbox_item *q; /* pending, in posting order (under mu) */
    size_t len, cap, max;
    int closed;       /* under mu: posts are refused */
    uint64_t refused; /* since the last warning (under mu) */
    int64_t warned_ms;
    const char *name; /* for logs */
    /* run after each batch, on the loop thread (NULL: none) */
    void (*after)(void *arg);
    void *after_arg;
} mailbox_t;

/* Sets m up on loop (call on the loop's thread, before other threads post).
 * max: pending items before posts are refused (0: 1 Mi). after(arg) runs
 * on every wake-up once the batch is done, also after mbox_wake. Returns 0,
 * or a libuv error (logged; m is then unusable and needs no close). */
int mbox_init(mailbox_t *m, uv_loop_t *loop, const char *name, size_t max, void (*after)(void *), void *arg);

/* From any thread: queues fn(item, 1) for the loop. Returns 0, or -1 when
 * the mailbox is closed or full (fn(item, 0) has then run). */
int mbox_post(mailbox_t *m, mbox_fn fn, void *item);

/* From any thread: wakes the loop (after runs) without an item. */
void mbox_wake(mailbox_t *m);

/* On the loop thread: refuses every further post, drops what is pending
 * (fn(item, 0)) and closes the wake-up handle (freed with the loop's next
 * iteration). Idempotent. */
void mbox_close(mailbox_t *m);

/* After the loop has ended (its handles closed): frees what remains. */
void mbox_destroy(mailbox_t *m);

#endif
