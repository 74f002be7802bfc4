/*
 * net/server: see server.h. Each worker binds its own listening socket
 * with SO_REUSEPORT (libuv 1.44 has no flag for it, so the socket is made
 * here and handed to uv_tcp_open): the kernel balances accepts across
 * workers without a shared accept lock or handle passing.
 */
#include "net/server.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth/token_cache.h"
#include "db/pool.h"
#include "hub/hub.h"
#include "net/conn.h"
#include "util/log.h"
#include "util/mem.h"

server_t srv;
_Thread_local worker_t *worker_self;

static void refresh_clock(worker_t *w) {
    uv_update_time(&w->loop);
    w->now_ms = (int64_t)uv_now(&w->loop);
    w->now_s = (int64_t)time(NULL);
}

void worker_post(worker_t *w, struct hub_msg *m) {
    pthread_mutex_lock(&w->inbox_mu);
    if (w->stopped) {
        pthread_mutex_unlock(&w->inbox_mu);
        hub_msg_unref(m);
        return;
    }
    if (w->inbox_len == w->inbox_cap) {
        w->inbox_cap = w->inbox_cap ? w->inbox_cap * 2 : 256;
        w->inbox = xrealloc(w->inbox, w->inbox_cap * sizeof(*w->inbox));
    }
    w->inbox[w->inbox_len++] = m;
    /* Under the lock: finish() cannot close the handle between the two. */
    if (w->inbox_len == 1)
        uv_async_send(&w->wake);
    pthread_mutex_unlock(&w->inbox_mu);
}

static void on_connection(uv_stream_t *listener, int status) {
    worker_t *w = listener->data;
    if (status < 0) {
        log_warn("accept failed", "\"error\":\"%s\"", uv_strerror(status));
        return;
    }
    conn_accept(w, listener);
}

static void close_handle(uv_handle_t *h, void *arg) {
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Everything is gone or given up on: close every handle so uv_run returns.
 * Messages other workers post from now on are dropped in worker_post. */
static void finish(worker_t *w) {
    if (w->stopped)
        return;
    pthread_mutex_lock(&w->inbox_mu);
    w->stopped = 1;
    for (size_t i = 0; i < w->inbox_len; i++)
        hub_msg_unref(w->inbox[i]);
    w->inbox_len = 0;
    pthread_mutex_unlock(&w->inbox_mu);
    for (conn_t *c = w->conns, *n; c; c = n) {
        n = conn_next(c);
        conn_destroy(c);
    }
    if (w->db) {
        db_pool_close(w->db); /* frees itself as its handles close */
        w->db = NULL;
    }
    uv_walk(&w->loop, close_handle, NULL);
}

static void on_drain_poll(uv_timer_t *t) {
    worker_t *w = t->data;
    refresh_clock(w);
    if (!w->conns)
        finish(w);
}

static void on_drain_deadline(uv_timer_t *t) {
    worker_t *w = t->data;
    log_warn("drain timeout: closing remaining clients", "\"worker\":%d", w->id);
    finish(w);
}

static void start_drain(worker_t *w) {
    if (w->draining)
        return;
    w->draining = 1;
    uv_close((uv_handle_t *)&w->listener, NULL);
    for (conn_t *c = w->conns; c; c = conn_next(c))
        conn_drain(c);
    /* Poll until the clients took their close frames, up to the timeout. */
    uv_timer_start(&w->drain_timer, on_drain_poll, 20, 20);
    uv_timer_start(&w->tick, on_drain_deadline, (uint64_t)srv.cfg.drain_timeout_ms, 0);
}

static void on_wake(uv_async_t *a) {
    worker_t *w = a->data;
    pthread_mutex_lock(&w->inbox_mu);
    struct hub_msg **msgs = w->inbox;
    size_t n = w->inbox_len;
    w->inbox = NULL;
    w->inbox_len = w->inbox_cap = 0;
    pthread_mutex_unlock(&w->inbox_mu);
    if (n)
        hub_deliver_inbox(msgs, n);
    free(msgs);
    if (atomic_load(&w->drain_requested))
        start_drain(w);
}

static void run_after_flush(worker_t *w);

static void on_tick(uv_timer_t *t) {
    worker_t *w = t->data;
    refresh_clock(w);
    for (conn_t *c = w->conns, *n; c; c = n) {
        n = conn_next(c);
        conn_tick(c, w->now_ms, w->now_s);
    }
    /* Timers run before the poll phase: what the tick queued (idle closes,
     * token-expiry notices) must not wait for the next wake-up. */
    conn_flush_dirty(w);
    run_after_flush(w);
    hub_paced_poll();
}

void worker_after_flush(void (*fn)(uint64_t), uint64_t arg) {
    worker_t *w = worker_self;
    if (w->nafter == w->capafter) {
        w->capafter = w->capafter ? w->capafter * 2 : 16;
        w->after_flush = xrealloc(w->after_flush, w->capafter * sizeof(*w->after_flush));
    }
    w->after_flush[w->nafter].fn = fn;
    w->after_flush[w->nafter].arg = arg;
    w->nafter++;
}

static void run_after_flush(worker_t *w) {
    for (size_t i = 0; i < w->nafter; i++)
        w->after_flush[i].fn(w->after_flush[i].arg);
    w->nafter = 0;
}

static void on_check(uv_check_t *h) {
    worker_t *w = h->data;
    w->now_ms = (int64_t)uv_now(&w->loop);
    conn_flush_dirty(w);
    run_after_flush(w);
    hub_paced_poll();
}

static void *worker_main(void *arg) {
    worker_t *w = arg;
    worker_self = w;
    met_register(&w->met);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    tok_cache_free();
    return NULL;
}

static int bind_listener(worker_t *w) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (uv_ip4_addr(srv.cfg.host, srv.cfg.port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(srv.cfg.host, srv.cfg.port, (struct sockaddr_in6 *)&ss) != 0) {
        log_error("bad listen address", "\"host\":\"%s\"", srv.cfg.host);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
        goto fail_fd;
    socklen_t len = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (bind(fd, (struct sockaddr *)&ss, len) < 0)
        goto fail_fd;
    uv_tcp_init(&w->loop, &w->listener);
    w->listener.data = w;
    if (uv_tcp_open(&w->listener, fd) < 0 || uv_listen((uv_stream_t *)&w->listener, 4096, on_connection) < 0) {
        log_error("listen failed", "\"port\":%d", srv.cfg.port);
        return -1;
    }
    return 0;
fail_fd:
    close(fd);
fail:
    log_error("bind failed", "\"host\":\"%s\",\"port\":%d,\"error\":\"%s\"", srv.cfg.host, srv.cfg.port,
              strerror(errno));
    return -1;
}

int srv_start(void) {
    srv.workers = xcalloc((size_t)srv.nworkers, sizeof(worker_t));
    for (int i = 0; i < srv.nworkers; i++) {
        worker_t *w = &srv.workers[i];
        w->id = i;
        uv_loop_init(&w->loop);
        pthread_mutex_init(&w->inbox_mu, NULL);
        uv_async_init(&w->loop, &w->wake, on_wake);
        w->wake.data = w;
        uv_timer_init(&w->loop, &w->tick);
        w->tick.data = w;
        uv_timer_init(&w->loop, &w->drain_timer);
        w->drain_timer.data = w;
        uv_check_init(&w->loop, &w->flush);
        w->flush.data = w;
        uv_check_start(&w->flush, on_check);
        uv_timer_start(&w->tick, on_tick, 1000, 1000);
        refresh_clock(w);
        if (srv.cfg.db_host) {
            db_config_t dc = {srv.cfg.db_host, srv.cfg.db_port, srv.cfg.db_user, srv.cfg.db_password,
                              srv.cfg.db_name, srv.cfg.db_pool_size, 4096};
            w->db = db_pool_new(&w->loop, &dc);
        }
        if (bind_listener(w) < 0)
            return -1;
    }
    for (int i = 0; i < srv.nworkers; i++)
        if (pthread_create(&srv.workers[i].thread, NULL, worker_main, &srv.workers[i]) != 0) {
            log_error("thread creation failed", "\"worker\":%d", i);
            return -1;
        }
    return 0;
}

void srv_drain(void) {
    for (int i = 0; i < srv.nworkers; i++) {
        atomic_store(&srv.workers[i].drain_requested, 1);
        uv_async_send(&srv.workers[i].wake);
    }
}

void srv_join(void) {
    for (int i = 0; i < srv.nworkers; i++) {
        worker_t *w = &srv.workers[i];
        pthread_join(w->thread, NULL);
        uv_loop_close(&w->loop);
        pthread_mutex_destroy(&w->inbox_mu);
        free(w->inbox);
        free(w->after_flush);
    }
    free(srv.workers);
    srv.workers = NULL;
}
