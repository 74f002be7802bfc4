/*
 * net/sendq: a connection's queue of shared buffers to write: a ring whose
 * head may be partly written, with the byte counts the connection's limits
 * need (all bytes, and paced ones: Postgres Changes frames, which the hub
 * paces by the sum over a worker). It holds one reference per queued
 * buffer and drops it once written or discarded. It never writes to a
 * socket and never decides a limit.
 */
#ifndef TC_NET_SENDQ_H
#define TC_NET_SENDQ_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "util/buf.h"

typedef struct {
    /* Small bursts use the inline ring (no allocation when a connection
     * goes from idle to busy, which fan-out does constantly); bigger ones
     * move to the heap until the queue drains. */
    buf_t **q;
    buf_t *inl[4];
    uint32_t head, len, cap;
    size_t off;                  /* bytes of q[head] already written */
    size_t bytes;                /* queued and not written (off excluded) */
    size_t paced;                /* bytes of paced buffers queued (whole buffers) */
    _Atomic size_t *paced_total; /* the worker's sum of paced bytes (NULL: none) */
} sendq_t;

/* Makes room for one more buffer (internal to sendq_push). */
void sendq_grow(sendq_t *q);

/* Paced buffers are counted per worker so the CDC thread publishes no
 * faster than clients take them (hub pacing). Only the worker writes its
 * counter; the CDC thread reads it. */
static inline void sendq_paced_add(sendq_t *q, const buf_t *b, int sign) {
    if (!b->paced)
        return;
    if (sign > 0)
        q->paced += b->len;
    else
        q->paced -= b->len;
    if (!q->paced_total)
        return;
    size_t v = atomic_load_explicit(q->paced_total, memory_order_relaxed);
    v = sign > 0 ? v + b->len : v - b->len;
    atomic_store_explicit(q->paced_total, v, memory_order_relaxed);
}

/* Takes the caller's reference to b. Inline: fan-out calls it once per
 * recipient. */
static inline void sendq_push(sendq_t *q, buf_t *b) {
    if (q->len == q->cap)
        sendq_grow(q);
    q->q[(q->head + q->len) & (q->cap - 1)] = b;
    q->len++;
    q->bytes += b->len;
    sendq_paced_add(q, b, 1);
}
/* Drops n written bytes from the head. An empty queue keeps no memory. */
void sendq_consume(sendq_t *q, size_t n);
/* Keeps the first keep buffers (the kernel or libuv has them), drops the
 * rest. */
void sendq_trim(sendq_t *q, uint32_t keep);
/* Drops everything. */
void sendq_clear(sendq_t *q);
/* Fills iov with up to max buffers from the head; *total: their bytes. */
uint32_t sendq_iov(const sendq_t *q, uv_buf_t *iov, uint32_t max, size_t *total);

/* Bytes of broadcast and presence frames queued. paced counts whole
 * buffers while bytes leaves out the written part of the head (off), so
 * the difference alone could wrap below zero when the head is paced. */
static inline size_t sendq_unpaced(const sendq_t *q) { return q->bytes + q->off - q->paced; }

#endif
