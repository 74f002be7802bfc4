/*
 * net/server: see server.h. Each worker binds its own listening socket
 * with SO_REUSEPORT (libuv 1.44 has no flag for it, so the socket is made
 * here and handed to uv_tcp_open): the kernel balances accepts across
 * workers without a shared accept lock or handle passing.
 */
#include "net/server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "db/pool.h"
#include "net/conn.h"
#include "util/log.h"
#include "util/mem.h"

server_t srv;
_Atomic size_t srv_paced_bytes[SRV_MAX_WORKERS];
_Thread_local worker_t *worker_self;

static void refresh_clock(worker_t *w) {
    uv_update_time(&w->loop);
    w->now_ms = (int64_t)uv_now(&w->loop);
    w->now_s = (int64_t)time(NULL);
}

int worker_post(worker_t *w, mbox_fn fn, void *item) { return mbox_post(&w->mbox, fn, item); }

enum { LISTEN_OPEN, LISTEN_CLOSING, LISTEN_CLOSED };

static int bind_listener(worker_t *w);

static void on_listener_closed(uv_handle_t *h) {
    worker_t *w = h->data;
    w->listener_state = LISTEN_CLOSED;
}

static void on_relisten(uv_timer_t *t) {
    worker_t *w = t->data;
    if (w->draining || w->stopped)
        return;
    /* bind_listener logs why it failed; try again a second later */
    if (w->listener_state != LISTEN_CLOSED || bind_listener(w) < 0) {
        if (uv_timer_start(&w->relisten, on_relisten, 1000, 0) < 0)
            log_error("cannot restart the listener timer", "\"worker\":%d", w->id);
        return;
    }
    log_info("accepting connections again", "\"worker\":%d", w->id);
}

/* libuv hands us an accept() error only after its own remedy for EMFILE
 * failed (it closes a spare descriptor, accepts and drops what waits, then
 * reopens the spare; with several threads another may take the freed
 * descriptor first) and then calls accept() again at once, in a loop: an
 * error that persists would spin this worker. So a resource error must
 * change something before we return: free a descriptor by shedding this
 * worker's oldest connection accepted above the ceiling (the retry then
 * succeeds), or else close the listener for a second (the kernel sends new
 * connections to the other workers' listeners meanwhile). Other errors
 * concern the one connection accept() dropped; the next accept is a new
 * one, so they are only logged. */
static void accept_failed(worker_t *w, int status) {
    int resource = status == UV_EMFILE || status == UV_ENFILE || status == UV_ENOBUFS || status == UV_ENOMEM;
    const char *action = "none";
    if (resource) {
        if (status == UV_EMFILE || status == UV_ENFILE)
            met_add(M_LIM_FILES, 1);
        if ((status == UV_EMFILE || status == UV_ENFILE) && conn_shed_overload(w)) {
            action = "shed the oldest connection above the ceiling";
        } else if (w->listener_state == LISTEN_OPEN && !w->draining) {
            action = "listener paused for 1 s";
            w->listener_state = LISTEN_CLOSING;
            uv_close((uv_handle_t *)&w->listener, on_listener_closed);
            if (uv_timer_start(&w->relisten, on_relisten, 1000, 0) < 0)
                log_error("cannot start the listener timer", "\"worker\":%d", w->id);
        }
    }
    int64_t now = (int64_t)uv_now(&w->loop);
    if (now - w->accept_log_ms >= 1000 || !w->accept_log_ms) {
        w->accept_log_ms = now;
        log_warn("accept failed",
                 "\"worker\":%d,\"error\":\"%s\",\"open\":%d,\"ceiling\":%d,\"fd_limit\":%d,"
                 "\"action\":\"%s\"",
                 w->id, uv_strerror(status), atomic_load(&srv.nconns), srv.conn_ceiling, srv.fd_limit, action);
    }
}

static void on_connection(uv_stream_t *listener, int status) {
    worker_t *w = listener->data;
    if (status < 0) {
        accept_failed(w, status);
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
 * What other threads post from now on is dropped by the mailbox (its
 * handler runs with run = 0, on the posting thread). The connections go
 * first: a dropped item's handler then finds none of them alive to touch
 * from that other thread (the mailbox's lock orders their teardown before
 * the drop). */
static void finish(worker_t *w) {
    if (w->stopped)
        return;
    w->stopped = 1;
    for (conn_t *c = w->conns, *n; c; c = n) {
        n = conn_next(c);
        conn_destroy(c);
    }
    mbox_close(&w->mbox);
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
    uv_timer_stop(&w->relisten);
    if (w->listener_state == LISTEN_OPEN) {
        w->listener_state = LISTEN_CLOSING;
        uv_close((uv_handle_t *)&w->listener, on_listener_closed);
    }
    for (conn_t *c = w->conns; c; c = conn_next(c))
        conn_drain(c);
    /* Poll until the clients took their close frames, up to the timeout.
     * Without either timer the drain could never end: stop at once. */
    int r = uv_timer_start(&w->drain_timer, on_drain_poll, 20, 20);
    if (r < 0 || (r = uv_timer_start(&w->tick, on_drain_deadline, (uint64_t)srv.net.drain_timeout_ms, 0)) < 0) {
        log_error("cannot time the drain: closing remaining clients", "\"worker\":%d,\"error\":\"%s\"", w->id,
                  uv_strerror(r));
        finish(w);
    }
}

/* After each mailbox batch (and mbox_wake): a drain srv_drain asked for. */
static void after_mail(void *arg) {
    worker_t *w = arg;
    if (atomic_load(&w->drain_requested))
        start_drain(w);
}

static void run_after_flush(worker_t *w);

/* libuv meets EMFILE on accept with its own remedy (close a spare
 * descriptor, accept and close every waiting connection, reopen the spare)
 * and does not tell us. The reserve under the connection ceiling should
 * keep the process from getting there; this once-a-second probe (one dup
 * and close) says when it did anyway (a limit below the reserve, or
 * descriptors taken by something else), and frees what this worker can:
 * its connections above the ceiling, so the next /health gets in. */
static void probe_files(worker_t *w) {
    int fd = fcntl(uv_backend_fd(&w->loop), F_DUPFD_CLOEXEC, 0);
    if (fd >= 0) {
        close(fd);
        return;
    }
    if (errno != EMFILE && errno != ENFILE)
        return;
    int err = errno, shed = 0;
    while (conn_shed_overload(w))
        shed++;
    log_warn("out of file descriptors: new connections are dropped until some close",
             "\"worker\":%d,\"error\":\"%s\",\"open\":%d,\"ceiling\":%d,\"fd_limit\":%d,\"reserve\":%d,\"shed\":%d",
             w->id, strerror(err), atomic_load(&srv.nconns), srv.conn_ceiling, srv.fd_limit, srv.fd_reserve, shed);
}

static void on_tick(uv_timer_t *t) {
    worker_t *w = t->data;
    refresh_clock(w);
    probe_files(w);
    for (conn_t *c = w->conns, *n; c; c = n) {
        n = conn_next(c);
        conn_tick(c, w->now_ms, w->now_s);
    }
    /* Timers run before the poll phase: what the tick queued (idle closes,
     * token-expiry notices) must not wait for the next wake-up. */
    conn_flush_dirty(w);
    run_after_flush(w);
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
    if (srv.net.after_flush)
        srv.net.after_flush();
}

static void *worker_main(void *arg) {
    worker_t *w = arg;
    worker_self = w;
    met_register(&w->met);
    int r = uv_run(&w->loop, UV_RUN_DEFAULT);
    if (r != 0)
        log_warn("worker loop ended with handles open", "\"worker\":%d", w->id);
    if (srv.net.thread_exit)
        srv.net.thread_exit();
    return NULL;
}

static int bind_listener(worker_t *w) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (uv_ip4_addr(srv.net.host, srv.net.port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(srv.net.host, srv.net.port, (struct sockaddr_in6 *)&ss) != 0) {
        log_error("bad listen address", "\"host\":\"%s\"", srv.net.host);
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
    int r = uv_tcp_init(&w->loop, &w->listener);
    if (r < 0) {
        close(fd);
        log_error("listen failed", "\"port\":%d,\"error\":\"%s\"", srv.net.port, uv_strerror(r));
        return -1;
    }
    w->listener.data = w;
    w->listener_state = LISTEN_OPEN;
    if ((r = uv_tcp_open(&w->listener, fd)) < 0)
        close(fd); /* not the handle's yet */
    if (r < 0 || (r = uv_listen((uv_stream_t *)&w->listener, 4096, on_connection)) < 0) {
        log_error("listen failed", "\"port\":%d,\"error\":\"%s\"", srv.net.port, uv_strerror(r));
        w->listener_state = LISTEN_CLOSING;
        uv_close((uv_handle_t *)&w->listener, on_listener_closed);
        return -1;
    }
    return 0;
fail_fd:
    close(fd);
fail:
    log_error("bind failed", "\"host\":\"%s\",\"port\":%d,\"error\":\"%s\"", srv.net.host, srv.net.port,
              strerror(errno));
    return -1;
}

/* Descriptors that are not client connections, kept out of the connection
 * ceiling so that reaching it never makes the rest of the server fail:
 *  - 32 for the process: stdin/out/err, the main loop (epoll, its async
 *    and signal pipes), files opened at start and on the way (JWKS),
 *    libpq's transient sockets while it resolves and reconnects;
 *  - per worker: its loop's epoll and eventfd, libuv's spare descriptor
 *    for EMFILE, its listener (4), the connections it may keep above the
 *    ceiling to answer /health or 503 (SRV_OVERLOAD_PER_WORKER), and with
 *    a database its pool plus one for a reconnect overlapping the old
 *    connection;
 *  - with Postgres Changes, 8 for the CDC thread: its loop (3), its pool
 *    (2), the replication stream and a reconnect of each. */
#define FD_RESERVE_PROCESS 32
#define FD_RESERVE_WORKER 4
#define FD_RESERVE_CDC 8

/* Raises the soft RLIMIT_NOFILE to --max-open-files or the hard limit and
 * derives the connection ceiling (see server.h). */
static void limit_files(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        log_warn("cannot read the file descriptor limit", "\"error\":\"%s\"", strerror(errno));
        rl.rlim_cur = rl.rlim_max = 1024;
    } else {
        rlim_t before = rl.rlim_cur;
        rlim_t want = srv.net.max_open_files > 0 ? (rlim_t)srv.net.max_open_files : rl.rlim_max;
        /* Linux refuses an infinite RLIMIT_NOFILE (fs.nr_open caps it, 1 Mi by default) */
        if (want == RLIM_INFINITY)
            want = 1 << 20;
        if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max) {
            log_warn("max open files is above the hard limit: using the hard limit", "\"wanted\":%llu,\"hard\":%llu",
                     (unsigned long long)want, (unsigned long long)rl.rlim_max);
            want = rl.rlim_max;
        }
        struct rlimit nl = {want, rl.rlim_max};
        if (want != before && setrlimit(RLIMIT_NOFILE, &nl) != 0)
            log_warn("cannot set the file descriptor limit", "\"wanted\":%llu,\"error\":\"%s\"",
                     (unsigned long long)want, strerror(errno));
        else
            rl.rlim_cur = want;
        log_info("file descriptor limit", "\"soft_before\":%llu,\"soft\":%llu,\"hard\":%lld",
                 (unsigned long long)before, (unsigned long long)rl.rlim_cur,
                 rl.rlim_max == RLIM_INFINITY ? -1LL : (long long)rl.rlim_max);
    }
    srv.fd_limit = rl.rlim_cur > INT_MAX ? INT_MAX : (int)rl.rlim_cur;
    int per_worker = FD_RESERVE_WORKER + SRV_OVERLOAD_PER_WORKER + (srv.net.db ? srv.net.db->size + 1 : 0);
    srv.fd_reserve = FD_RESERVE_PROCESS + srv.nworkers * per_worker + (srv.net.db && srv.net.cdc ? FD_RESERVE_CDC : 0);
    int room = srv.fd_limit - srv.fd_reserve;
    srv.conn_ceiling = room < srv.net.max_connections ? room : srv.net.max_connections;
    if (srv.conn_ceiling < 1) {
        log_warn("the file descriptor limit leaves no room for connections: raise it (ulimit -n) or use fewer workers",
                 "\"fd_limit\":%d,\"reserve\":%d", srv.fd_limit, srv.fd_reserve);
        srv.conn_ceiling = 1;
    }
    log_info("connection ceiling", "\"ceiling\":%d,\"max_connections\":%d,\"fd_limit\":%d,\"reserve\":%d",
             srv.conn_ceiling, srv.net.max_connections, srv.fd_limit, srv.fd_reserve);
}

/* Sets up worker w's loop and handles (on the main thread, before its
 * thread runs). Every libuv call is checked: a worker that lacks one of its
 * handles would hang or never flush. Returns 0, or -1 (logged). */
static int worker_init(worker_t *w, int id) {
    w->id = id;
    /* Both need descriptors (epoll, eventfd): a file limit too low fails here. */
    int r = uv_loop_init(&w->loop);
    if (r < 0) {
        log_error("cannot start a worker loop", "\"worker\":%d,\"error\":\"%s\"", id, uv_strerror(r));
        return -1;
    }
    if (mbox_init(&w->mbox, &w->loop, "worker", 0, after_mail, w) < 0)
        return -1;
    if ((r = uv_timer_init(&w->loop, &w->tick)) < 0 || (r = uv_timer_init(&w->loop, &w->drain_timer)) < 0 ||
        (r = uv_timer_init(&w->loop, &w->relisten)) < 0 || (r = uv_check_init(&w->loop, &w->flush)) < 0)
        goto fail;
    w->tick.data = w->drain_timer.data = w->relisten.data = w->flush.data = w;
    if ((r = uv_check_start(&w->flush, on_check)) < 0 || (r = uv_timer_start(&w->tick, on_tick, 1000, 1000)) < 0)
        goto fail;
    refresh_clock(w);
    if (srv.net.db) {
        w->db = db_pool_new(&w->loop, srv.net.db);
        if (!w->db)
            log_warn("no database pool on this worker", "\"worker\":%d", id);
    }
    return bind_listener(w);
fail:
    log_error("cannot start a worker", "\"worker\":%d,\"error\":\"%s\"", id, uv_strerror(r));
    return -1;
}

int srv_start(const srv_config_t *cfg) {
    srv.net = *cfg;
    srv.nworkers = cfg->workers > SRV_MAX_WORKERS ? SRV_MAX_WORKERS : cfg->workers < 1 ? 1 : cfg->workers;
    limit_files();
    srv.workers = xcalloc((size_t)srv.nworkers, sizeof(worker_t));
    for (int i = 0; i < srv.nworkers; i++)
        if (worker_init(&srv.workers[i], i) < 0)
            return -1;
    for (int i = 0; i < srv.nworkers; i++)
        if (pthread_create(&srv.workers[i].thread, NULL, worker_main, &srv.workers[i]) != 0) {
            log_error("thread creation failed", "\"worker\":%d", i);
            return -1;
        }
    return 0;
}

int srv_port(int w) {
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (w < 0 || w >= srv.nworkers || uv_tcp_getsockname(&srv.workers[w].listener, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    return ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                    : ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

void srv_drain(void) {
    for (int i = 0; i < srv.nworkers; i++) {
        atomic_store(&srv.workers[i].drain_requested, 1);
        mbox_wake(&srv.workers[i].mbox);
    }
}

void srv_join(void) {
    for (int i = 0; i < srv.nworkers; i++) {
        worker_t *w = &srv.workers[i];
        pthread_join(w->thread, NULL);
        int r = uv_loop_close(&w->loop);
        if (r < 0) /* a handle still open: its memory stays (it may be in use) */
            log_error("worker loop not closed", "\"worker\":%d,\"error\":\"%s\"", w->id, uv_strerror(r));
        mbox_destroy(&w->mbox);
        free(w->after_flush);
    }
    free(srv.workers);
    srv.workers = NULL;
}
