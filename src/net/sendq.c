/*
 * net/sendq: see sendq.h. The capacity is a power of two, so positions
 * wrap with a mask.
 */
#include "net/sendq.h"

#include <stdlib.h>

#include "util/mem.h"

/* Paced buffers are counted per worker so the CDC thread publishes no
 * faster than clients take them (hub pacing). Only the worker writes its
 * counter; the CDC thread reads it. */
static void paced_add(sendq_t *q, const buf_t *b, int sign) {
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

static void release(sendq_t *q) {
    if (q->q != q->inl)
        free(q->q);
    q->q = NULL;
    q->cap = q->head = 0;
}

void sendq_push(sendq_t *q, buf_t *b) {
    if (q->cap == 0) {
        q->q = q->inl;
        q->cap = 4;
        q->head = 0;
    }
    if (q->len == q->cap) {
        uint32_t ncap = q->cap * 4;
        buf_t **nq = xmalloc(ncap * sizeof(*nq));
        for (uint32_t i = 0; i < q->len; i++)
            nq[i] = q->q[(q->head + i) & (q->cap - 1)];
        if (q->q != q->inl)
            free(q->q);
        q->q = nq;
        q->head = 0;
        q->cap = ncap;
    }
    q->q[(q->head + q->len) & (q->cap - 1)] = b;
    q->len++;
    q->bytes += b->len;
    paced_add(q, b, 1);
}

static void drop_head(sendq_t *q) {
    buf_t *b = q->q[q->head];
    paced_add(q, b, -1);
    buf_unref(b);
    q->head = (q->head + 1) & (q->cap - 1);
    q->len--;
}

void sendq_consume(sendq_t *q, size_t n) {
    q->bytes -= n;
    while (n > 0 && q->len) {
        buf_t *b = q->q[q->head];
        size_t avail = b->len - q->off;
        if (n < avail) {
            q->off += n;
            return;
        }
        n -= avail;
        drop_head(q);
        q->off = 0;
    }
    if (q->len == 0)
        release(q);
}

void sendq_trim(sendq_t *q, uint32_t keep) {
    size_t kept = 0;
    for (uint32_t i = 0; i < q->len; i++) {
        buf_t *b = q->q[(q->head + i) & (q->cap - 1)];
        if (i < keep) {
            kept += b->len;
        } else {
            paced_add(q, b, -1);
            buf_unref(b);
        }
    }
    if (keep < q->len)
        q->len = keep;
    q->bytes = kept - q->off;
}

void sendq_clear(sendq_t *q) {
    while (q->len)
        drop_head(q);
    release(q);
    q->bytes = q->off = 0;
}

uint32_t sendq_iov(const sendq_t *q, uv_buf_t *iov, uint32_t max, size_t *total) {
    uint32_t n = 0;
    *total = 0;
    for (; n < q->len && n < max; n++) {
        buf_t *b = q->q[(q->head + n) & (q->cap - 1)];
        size_t off = n == 0 ? q->off : 0;
        iov[n] = uv_buf_init((char *)b->data + off, (unsigned)(b->len - off));
        *total += b->len - off;
    }
    return n;
}
