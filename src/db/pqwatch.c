/* db/pqwatch: see pqwatch.h. */
#include "db/pqwatch.h"

#include <stdlib.h>

#include "util/mem.h"

static void free_handle(uv_handle_t *h) { free(h); }

void pq_watch_init(pq_watch_t *w, uv_loop_t *loop, uv_poll_cb cb, void *data) {
    w->loop = loop;
    w->poll = NULL;
    w->fd = -1;
    w->events = 0;
    w->cb = cb;
    w->data = data;
}

void pq_unwatch(pq_watch_t *w) {
    if (w->poll) {
        uv_close((uv_handle_t *)w->poll, free_handle);
        w->poll = NULL;
    }
    w->fd = -1;
    w->events = 0;
}

int pq_watch(pq_watch_t *w, PGconn *pg, int events, int connecting) {
    int fd = PQsocket(pg);
    if (fd < 0)
        return -1;
    if (w->poll && w->fd != fd)
        pq_unwatch(w);
    if (!w->poll) {
        w->poll = xmalloc(sizeof(*w->poll));
        if (uv_poll_init_socket(w->loop, w->poll, fd) != 0) {
            free(w->poll);
            w->poll = NULL;
            return -1;
        }
        w->poll->data = w->data;
        w->fd = fd;
        w->events = 0;
    } else if (connecting) {
        uv_poll_stop(w->poll);
        w->events = 0;
    }
    if (events != w->events && uv_poll_start(w->poll, events, w->cb) != 0)
        return -1;
    w->events = events;
    return 0;
}
