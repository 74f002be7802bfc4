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
    size_t off;      /* bytes of q[head] already written */
    size_t bytes;    /* queued and not written (off excluded) */
    size_t paced;    /* bytes of paced buffers queued (whole buffers) */
    _Atomic size_t *paced_total; /* the worker's sum of paced bytes (NULL: none) */
} sendq_t;

/* Takes the caller's reference to b. */
void sendq_push(sendq_t *q, buf_t *b);
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
