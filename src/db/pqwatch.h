/*
 * db/pqwatch: watching a libpq connection's socket on a libuv loop, for
 * every module that drives libpq without blocking (the pool, the
 * replication stream). It follows PQsocket(), which may change while
 * connecting; it never reads or writes the connection itself.
 */
#ifndef TC_DB_PQWATCH_H
#define TC_DB_PQWATCH_H

#include <libpq-fe.h>
#include <uv.h>

typedef struct {
    uv_loop_t *loop;
    uv_poll_t *poll; /* heap: freed by libuv's close callback, after the owner may be gone */
    int fd, events;
    uv_poll_cb cb;
    void *data; /* handed to cb as poll->data */
} pq_watch_t;

void pq_watch_init(pq_watch_t *w, uv_loop_t *loop, uv_poll_cb cb, void *data);
/* Watches pg's socket for events (UV_READABLE | UV_WRITABLE). connecting:
 * libpq may have closed its socket and opened another with the same number
 * (epoll forgot the old one, and libuv skips an unchanged mask), so the
 * watch is restarted. Returns 0 or -1. */
int pq_watch(pq_watch_t *w, PGconn *pg, int events, int connecting);
/* Stops watching (closes the handle). */
void pq_unwatch(pq_watch_t *w);

#endif
