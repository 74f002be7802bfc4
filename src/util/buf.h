/*
 * buf: reference-counted byte buffers for bytes that many connections send.
 *
 * A buf is built once (append while refs == 1), then shared read-only: every
 * connection that queues it takes a reference and drops it when the kernel
 * has the bytes. It reserves BUF_HEADROOM bytes in front of the data so a
 * framing layer can prepend its header without copying the payload.
 * It never knows what the bytes mean.
 */
#ifndef TC_UTIL_BUF_H
#define TC_UTIL_BUF_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define BUF_HEADROOM 14 /* the largest RFC 6455 header: 2 + 8 + 4 */

typedef struct buf {
    atomic_int refs;
    uint8_t paced;   /* bytes whose producer waits for them to be written (Postgres Changes frames) */
    size_t len;      /* bytes at data */
    size_t cap;      /* bytes available after data[0] */
    uint8_t *data;   /* points into bytes[], after the headroom until sealed */
    uint8_t bytes[]; /* headroom + capacity */
} buf_t;

/* A new buf with one reference held by the caller (release with buf_unref).
 * Aborts on out-of-memory, like every allocation in this project. */
buf_t *buf_new(size_t cap);
/* Appends; may move the buf, so *bp is updated. Only while the caller holds
 * the sole reference. */
void buf_append(buf_t **bp, const void *p, size_t n);
void buf_putc(buf_t **bp, char c);
void buf_puts(buf_t **bp, const char *s);
void buf_printf(buf_t **bp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included. */
void buf_json_str(buf_t **bp, const char *s, size_t n);
/* Appends a JSON string literal, or null when s is NULL. */
void buf_json_str_or_null(buf_t **bp, const char *s, size_t n);
/* Moves data back by n bytes into the headroom; returns the new start.
 * n <= headroom left. Used by framing layers to prepend a header. */
uint8_t *buf_prepend(buf_t *b, size_t n);

static inline buf_t *buf_ref(buf_t *b) {
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return b;
}
void buf_unref(buf_t *b);

#endif
