/*
 * net/sendq: see sendq.h. The capacity is a power of two, so positions
 * wrap with a mask.
 */
#include "net/sendq.h"

#include <stdlib.h>

#include "util/mem.h"

static void release(sendq_t *q) {
    if (q->q != q->inl)
        free(q->q);
    q->q = NULL;
    q->cap = q->head = 0;
}

void sendq_grow(sendq_t *q) {
    if (q->cap == 0) {
        q->q = q->inl;
        q->cap = 4;
        q->head = 0;
        return;
    }
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

static void drop_head(sendq_t *q) {
    buf_t *b = q->q[q->head];
    sendq_paced_add(q, b, -1);
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
            sendq_paced_add(q, b, -1);
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
