/*
 * buf: see buf.h. Growth doubles; a buf is freed when its last reference
 * goes. Never appended to once shared (refs > 1): callers seal, then share.
 */
#include "util/buf.h"
#include "util/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

buf_t *buf_new(size_t cap) {
    if (cap < 64)
        cap = 64;
    buf_t *b = xmalloc(sizeof(*b) + BUF_HEADROOM + cap);
    atomic_init(&b->refs, 1);
    b->paced = 0;
    b->len = 0;
    b->cap = cap;
    b->data = b->bytes + BUF_HEADROOM;
    return b;
}

static void reserve(buf_t **bp, size_t extra) {
    buf_t *b = *bp;
    if (b->len + extra <= b->cap)
        return;
    size_t off = (size_t)(b->data - b->bytes);
    size_t cap = b->cap * 2;
    while (cap < b->len + extra)
        cap *= 2;
    b = xrealloc(b, sizeof(*b) + off + cap);
    b->cap = cap;
    b->data = b->bytes + off;
    *bp = b;
}

void buf_append(buf_t **bp, const void *p, size_t n) {
    reserve(bp, n);
    memcpy((*bp)->data + (*bp)->len, p, n);
    (*bp)->len += n;
}

void buf_putc(buf_t **bp, char c) {
    reserve(bp, 1);
    (*bp)->data[(*bp)->len++] = (uint8_t)c;
}

void buf_puts(buf_t **bp, const char *s) { buf_append(bp, s, strlen(s)); }

void buf_printf(buf_t **bp, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    reserve(bp, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf((char *)(*bp)->data + (*bp)->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    (*bp)->len += (size_t)n;
}

void buf_json_str(buf_t **bp, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    reserve(bp, n + 2);
    buf_putc(bp, '"');
    size_t run = 0; /* bytes that need no escaping, copied in one go */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        buf_append(bp, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        switch (c) {
        case '"':
            esc[1] = '"';
            buf_append(bp, esc, 2);
            break;
        case '\\':
            esc[1] = '\\';
            buf_append(bp, esc, 2);
            break;
        case '\n':
            esc[1] = 'n';
            buf_append(bp, esc, 2);
            break;
        case '\r':
            esc[1] = 'r';
            buf_append(bp, esc, 2);
            break;
        case '\t':
            esc[1] = 't';
            buf_append(bp, esc, 2);
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            buf_append(bp, esc, 6);
        }
    }
    buf_append(bp, s + run, n - run);
    buf_putc(bp, '"');
}

void buf_json_str_or_null(buf_t **bp, const char *s, size_t n) {
    if (s)
        buf_json_str(bp, s, n);
    else
        buf_append(bp, "null", 4);
}

uint8_t *buf_prepend(buf_t *b, size_t n) {
    b->data -= n;
    b->len += n;
    b->cap += n;
    return b->data;
}

void buf_unref(buf_t *b) {
    if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
        free(b);
}
