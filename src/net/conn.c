/*
 * net/conn: see conn.h. Owns a connection's lifetime, its send queue
 * (net/sendq) and its WebSocket framing; never parses HTTP, never decodes a
 * message, never names the module that handles one: it calls the handler
 * tables installed at accept and at upgrade.
 *
 * Writes are batched: conn_send only queues a shared buffer and marks the
 * connection dirty; the worker's check phase (after poll, so after every
 * read and inbox delivery of this iteration) writes each dirty connection
 * with one writev. Only when the kernel buffer is full do we fall back to
 * uv_write, which waits for writability; the queue keeps its references
 * until libuv is done with them.
 *
 * Lifetime: conn_destroy unlinks and uv_close()s; the memory goes in the
 * close callback, which libuv runs after any cancelled write callback, so
 * nothing queued is freed under libuv's feet. Nothing here frees a
 * connection inside a read or delivery path, and a handler's state is
 * never freed while that handler is running (in_data).
 */
#include "net/conn.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "metrics/metrics.h"
#include "net/peer.h"
#include "net/sendq.h"
#include "net/server.h"
#include "util/log.h"
#include "util/mem.h"
#include "ws/frame.h"

enum { MODE_STREAM, MODE_WS };

struct conn {
    uv_tcp_t tcp;
    worker_t *w;
    conn_t *prev, *next; /* worker's list */
    conn_t *dirty_next;  /* worker's dirty list */
    uint64_t id;
    uint8_t mode;
    uint8_t dirty, writing, closing, dead, close_after_write, lingering;
    /* the installed handlers: the stream one until an upgrade, then the
     * WebSocket one (each with its state, which the handler frees) */
    const conn_stream_handler_t *sh;
    void *sud;
    const conn_ws_handler_t *wh;
    void *wud;
    uint8_t in_data; /* inside sh->data: its state must not be freed yet */
    ws_parser_t ws;  /* WebSocket mode */
    sendq_t q;
    uint32_t inflight; /* buffers of the outstanding uv_write */
    size_t inflight_bytes;
    int64_t behind_since_ms; /* queue above send_queue_max since then (0: not) */
    int64_t progress_ms;     /* the kernel last took bytes from the queue */
    uv_write_t *wreq;        /* only while a uv_write is outstanding */
    /* held by a handler that answers later (conn_hold) */
    uint8_t held;
    void (*cancel)(void *);
    void *cancel_arg;
    uint8_t *stash; /* bytes read while held (pipelining) */
    size_t stash_len;
    int64_t last_rx_ms, closing_since_ms;
    peer_t *peer; /* the client address's counts (net/peer) */
    /* WebSocket: the last complete frame; the heartbeat timeout counts
     * from it, not from the last byte, so a frame trickled in byte by
     * byte does not keep a connection alive */
    int64_t last_frame_ms;
    /* accepted above the connection ceiling: answered, then closed; on
     * the worker's overload list (oldest first) */
    uint8_t overload;
    conn_t *ovl_prev, *ovl_next;
};

/* The loop's clock, fresh within a callback (libuv updates it after each
 * poll); w->now_ms is refreshed only once per iteration. */
static int64_t loop_ms(const conn_t *c) { return (int64_t)uv_now(&c->w->loop); }

/* The worker's list of connections above the ceiling (conn_accept). */
static void ovl_unlink(conn_t *c) {
    worker_t *w = c->w;
    if (!c->overload)
        return;
    if (c->ovl_prev)
        c->ovl_prev->ovl_next = c->ovl_next;
    else
        w->ovl_head = c->ovl_next;
    if (c->ovl_next)
        c->ovl_next->ovl_prev = c->ovl_prev;
    else
        w->ovl_tail = c->ovl_prev;
    c->ovl_prev = c->ovl_next = NULL;
    c->overload = 0;
    w->novl--;
}

static _Atomic uint64_t next_id = 1;

uint64_t conn_id(const conn_t *c) { return c->id; }
struct worker *conn_worker(const conn_t *c) {
    return c->w;
}
int conn_is_closing(const conn_t *c) { return c->closing || c->dead || c->close_after_write; }
int conn_is_held(const conn_t *c) { return c->held; }
int conn_is_websocket(const conn_t *c) { return c->mode == MODE_WS; }
void *conn_stream_state(const conn_t *c, const conn_stream_handler_t *h) { return c->sh == h ? c->sud : NULL; }
int64_t conn_now_ms(const conn_t *c) { return loop_ms(c); }
conn_t *conn_next(const conn_t *c) { return c->next; }
struct peer *conn_peer_entry(const conn_t *c) {
    return c->peer;
}

size_t conn_unsent(const conn_t *c) {
    return c->q.bytes + uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

const char *conn_peer(const conn_t *c) {
    static _Thread_local char s[64];
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    s[0] = 0;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, s, sizeof(s));
        } else {
            char ip[INET_ADDRSTRLEN];
            uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
            snprintf(s, sizeof(s), "%s:%d", ip, ntohs(((struct sockaddr_in *)&ss)->sin_port));
        }
    }
    return s;
}

/* The stream handler is done with the connection (gone or upgraded): its
 * state goes, unless its data callback is still running (on_read does it
 * when that returns). */
static void stream_close(conn_t *c) {
    if (!c->sh || c->in_data)
        return;
    const conn_stream_handler_t *sh = c->sh;
    c->sh = NULL;
    if (sh->close)
        sh->close(c->sud);
    c->sud = NULL;
}

/* ---- send queue ---------------------------------------------------- */

static void mark_dirty(conn_t *c) {
    if (c->dirty || c->dead)
        return;
    c->dirty = 1;
    c->dirty_next = c->w->dirty;
    c->w->dirty = c;
}

static void q_consume(conn_t *c, size_t n) {
    sendq_consume(&c->q, n);
    if (c->q.bytes <= srv.net.send_queue_max)
        c->behind_since_ms = 0;
}

/* A client that does not keep up: keep what the kernel or libuv already
 * has (the partly written head, or the buffers of the outstanding write),
 * drop the rest, and close with a code that says why. */
static void slow_consumer(conn_t *c, const char *why) {
    sendq_trim(&c->q, c->writing ? c->inflight : (c->q.off ? 1 : 0));
    met_add(M_SLOW_CLOSES, 1);
    log_warn("slow consumer closed", "\"conn\":%llu,\"peer\":\"%s\",\"why\":\"%s\",\"limit\":%zu",
             (unsigned long long)c->id, conn_peer(c), why, srv.net.send_queue_max);
    conn_close(c, WS_CLOSE_TRY_AGAIN, "slow consumer: send queue full");
}

/* Two rules, so that a client that reads is never closed because someone
 * else's transaction was large. Paced bytes (Postgres Changes) come no
 * faster than clients take them, and their sum over all clients is bounded
 * by the CDC thread: a queue may pass send_queue_max with them, and only
 * a client that stays above it for slow_consumer_ms (it is not reading, or
 * reads far slower than everyone else) is closed. Broadcast and presence
 * have no producer that could wait: above send_queue_max of those, the
 * client is closed at once, as before. */
void conn_send_owned(conn_t *c, buf_t *b) {
    if (c->dead || c->closing) {
        buf_unref(b);
        return;
    }
    if (!b->paced && sendq_unpaced(&c->q) + b->len > srv.net.send_queue_max) {
        buf_unref(b);
        slow_consumer(c, "send queue full");
        return;
    }
    sendq_push(&c->q, b);
    if (c->q.bytes > srv.net.send_queue_max && !c->behind_since_ms)
        c->behind_since_ms = c->w->now_ms ? c->w->now_ms : 1;
    mark_dirty(c);
}

void conn_send(conn_t *c, buf_t *b) { conn_send_owned(c, buf_ref(b)); }

/* ---- writing --------------------------------------------------------- */

static void linger(conn_t *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

static void on_write(uv_write_t *req, int status) {
    conn_t *c = req->data;
    free(req);
    c->wreq = NULL;
    c->writing = 0;
    if (status < 0) {
        if (!c->dead) {
            log_debug("write failed", "\"conn\":%llu,\"error\":\"%s\"", (unsigned long long)c->id, uv_strerror(status));
            conn_destroy(c);
        }
        return;
    }
    met_add(M_BYTES_OUT, (int64_t)c->inflight_bytes);
    c->progress_ms = c->w->now_ms;
    q_consume(c, c->inflight_bytes);
    c->inflight = 0;
    if (c->q.len || c->closing || c->close_after_write)
        mark_dirty(c);
}

static void start_write(conn_t *c) {
    uv_buf_t iov[64];
    size_t total;
    uint32_t n = sendq_iov(&c->q, iov, 64, &total);
    c->wreq = xmalloc(sizeof(*c->wreq));
    c->wreq->data = c;
    int r = uv_write(c->wreq, (uv_stream_t *)&c->tcp, iov, n, on_write);
    if (r < 0) {
        log_debug("write failed", "\"conn\":%llu,\"error\":\"%s\"", (unsigned long long)c->id, uv_strerror(r));
        free(c->wreq);
        c->wreq = NULL;
        conn_destroy(c);
        return;
    }
    c->writing = 1;
    c->inflight = n;
    c->inflight_bytes = total;
}

static void flush(conn_t *c) {
    if (c->dead || c->writing)
        return;
    while (c->q.len) {
        uv_buf_t iov[64];
        size_t total;
        uint32_t n = sendq_iov(&c->q, iov, 64, &total);
        int r = uv_try_write((uv_stream_t *)&c->tcp, iov, n);
        if (r == UV_EAGAIN)
            r = 0;
        if (r < 0) {
            log_debug("write failed", "\"conn\":%llu,\"error\":\"%s\"", (unsigned long long)c->id, uv_strerror(r));
            conn_destroy(c);
            return;
        }
        met_add(M_BYTES_OUT, r);
        if (r > 0)
            c->progress_ms = c->w->now_ms;
        q_consume(c, (size_t)r);
        if ((size_t)r < total) {
            start_write(c);
            return;
        }
    }
    if (c->closing || c->close_after_write)
        linger(c);
}

/* Writing one connection can queue bytes for others (a close publishes
 * presence leaves), so go round until nothing new was queued. */
void conn_flush_dirty(worker_t *w) {
    while (w->dirty) {
        conn_t *c = w->dirty;
        w->dirty = NULL;
        while (c) {
            conn_t *next = c->dirty_next;
            c->dirty = 0;
            c->dirty_next = NULL;
            flush(c);
            c = next;
        }
    }
}

/* ---- closing --------------------------------------------------------- */

static void on_closed(uv_handle_t *h) {
    conn_t *c = h->data;
    sendq_clear(&c->q);
    free(c);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
    (void)status;
    free(req);
}

/* Everything, close frame included, is written. Closing the socket now
 * would make the kernel reset the connection if the client is still
 * sending, and the client would lose what we wrote. So: half-close our
 * side, then read and discard until the client closes (or conn_tick gives
 * up after five seconds). */
static void linger(conn_t *c) {
    if (c->lingering || c->dead)
        return;
    c->lingering = 1;
    uv_shutdown_t *req = xmalloc(sizeof(*req));
    int r = uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown);
    if (r < 0) {
        log_debug("cannot half-close", "\"conn\":%llu,\"error\":\"%s\"", (unsigned long long)c->id, uv_strerror(r));
        free(req);
        conn_destroy(c);
        return;
    }
    r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (r < 0 && r != UV_EALREADY) {
        /* Nothing to discard with: the socket goes now (the kernel has
         * our bytes; at worst a client still sending sees a reset). */
        log_debug("cannot read while lingering", "\"conn\":%llu,\"error\":\"%s\"", (unsigned long long)c->id,
                  uv_strerror(r));
        conn_destroy(c);
    }
}

void conn_destroy(conn_t *c) {
    if (c->dead)
        return;
    c->dead = 1;
    worker_t *w = c->w;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->wh) {
        /* Leaves channels and publishes presence leaves to the others. */
        const conn_ws_handler_t *wh = c->wh;
        c->wh = NULL;
        wh->close(c->wud);
        c->wud = NULL;
        met_add(M_CONNECTIONS, -1);
    }
    if (c->mode == MODE_WS)
        ws_parser_free(&c->ws);
    stream_close(c);
    if (c->held && c->cancel)
        c->cancel(c->cancel_arg);
    c->held = 0;
    free(c->stash);
    c->stash = NULL;
    peer_conn_close(c->peer);
    c->peer = NULL;
    ovl_unlink(c);
    atomic_fetch_sub(&srv.nconns, 1);
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

/* Stops reading; a failure only means the handle is already stopped or
 * closing, which is what we want. */
static void read_stop(conn_t *c) {
    int r = uv_read_stop((uv_stream_t *)&c->tcp);
    if (r < 0)
        log_debug("cannot stop reading", "\"conn\":%llu,\"error\":\"%s\"", (unsigned long long)c->id, uv_strerror(r));
}

void conn_close(conn_t *c, uint16_t code, const char *reason) {
    if (c->closing || c->dead)
        return;
    if (c->mode == MODE_WS) {
        buf_t *f = ws_frame_close(code, reason);
        if (sendq_unpaced(&c->q) + f->len <= srv.net.send_queue_max + 256) {
            sendq_push(&c->q, f);
        } else {
            buf_unref(f);
        }
        log_debug("closing", "\"conn\":%llu,\"code\":%u,\"reason\":\"%s\"", (unsigned long long)c->id, code,
                  reason ? reason : "");
    }
    c->closing = 1;
    c->closing_since_ms = c->w->now_ms;
    read_stop(c);
    mark_dirty(c);
}

void conn_close_after_write(conn_t *c) {
    if (c->dead)
        return;
    c->close_after_write = 1;
    c->closing_since_ms = c->w->now_ms;
    read_stop(c);
    mark_dirty(c);
}

void conn_drain(conn_t *c) {
    /* An idle keep-alive HTTP connection has nothing to say goodbye with. */
    if (c->mode == MODE_STREAM && !c->held && !c->q.len) {
        conn_destroy(c);
        return;
    }
    conn_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
}

/* A WebSocket client: behind on its queue too long, or silent. */
static void ws_tick(conn_t *c, int64_t now_ms, int64_t now_s) {
    int64_t idle = now_ms - c->last_frame_ms;
    if (c->behind_since_ms) {
        /* Behind: a client that reads gets slow_consumer_ms to catch up; one
         * whose socket took nothing for a few seconds is not reading, and
         * holding it would only hold the Postgres Changes burst back for
         * everyone (hub pacing). */
        int64_t since = c->progress_ms > c->behind_since_ms ? c->progress_ms : c->behind_since_ms;
        int64_t stuck = srv.net.slow_consumer_ms < 3000 ? srv.net.slow_consumer_ms : 3000;
        if (now_ms - c->behind_since_ms > srv.net.slow_consumer_ms) {
            slow_consumer(c, "behind for longer than the slow consumer timeout");
            return;
        }
        if (now_ms - since > stuck) {
            slow_consumer(c, "not reading");
            return;
        }
    }
    if (idle > 2 * (int64_t)srv.net.heartbeat_interval_ms) {
        /* Bytes after the last complete frame: a frame that did not arrive
         * in time (trickled, or stalled), not a silent client. */
        int partial = c->last_rx_ms > c->last_frame_ms;
        met_add(M_IDLE_CLOSES, 1);
        log_info("idle client closed", "\"conn\":%llu,\"peer\":\"%s\",\"idle_ms\":%lld,\"incomplete_frame\":%s",
                 (unsigned long long)c->id, conn_peer(c), (long long)idle, partial ? "true" : "false");
        conn_close(c, WS_CLOSE_GOING_AWAY, partial ? "heartbeat timeout: incomplete frame" : "heartbeat timeout");
        return;
    }
    if (c->wh && c->wh->tick)
        c->wh->tick(c->wud, now_s);
}

void conn_tick(conn_t *c, int64_t now_ms, int64_t now_s) {
    if (c->dead)
        return;
    if (c->closing || c->close_after_write) {
        /* The peer does not take its last bytes: give up on it. */
        if (now_ms - c->closing_since_ms > 5000)
            conn_destroy(c);
        return;
    }
    if (c->mode == MODE_WS)
        ws_tick(c, now_ms, now_s);
    else if (c->sh && c->sh->tick && !c->held) /* held: the database work has its own bounds */
        c->sh->tick(c->sud, c, now_ms);
}

/* ---- reading --------------------------------------------------------- */

static int on_ws_message(void *ud, int opcode, uint8_t *data, size_t len) {
    conn_t *c = ud;
    c->last_frame_ms = loop_ms(c);
    met_add(M_MSG_IN, 1);
    c->wh->message(c->wud, opcode, data, len);
    return c->closing || c->dead;
}

static int on_ws_ping(void *ud, const uint8_t *data, size_t len) {
    conn_t *c = ud;
    c->last_frame_ms = loop_ms(c);
    buf_t *b = buf_new(len);
    buf_append(&b, data, len);
    ws_frame_seal(b, WS_OP_PONG);
    conn_send_owned(c, b);
    return 0;
}

static int on_ws_pong(void *ud, const uint8_t *data, size_t len) {
    conn_t *c = ud;
    (void)data, (void)len;
    c->last_frame_ms = loop_ms(c);
    return 0;
}

static int on_ws_close(void *ud, uint16_t code, const char *reason, size_t reason_len) {
    conn_t *c = ud;
    (void)reason, (void)reason_len;
    c->last_frame_ms = loop_ms(c);
    /* Echo the peer's code, as RFC 6455 asks; 1005 means it sent none. */
    conn_close(c, code == 1005 ? WS_CLOSE_NORMAL : code, "");
    return 1;
}

static const ws_parser_cb_t ws_cb = {on_ws_message, on_ws_ping, on_ws_pong, on_ws_close};

static const char *close_reason(int code) {
    switch (code) {
    case WS_CLOSE_PROTOCOL: return "protocol error";
    case WS_CLOSE_BAD_DATA: return "invalid UTF-8 in text frame";
    case WS_CLOSE_TOO_BIG: return "message too big";
    default: return "error";
    }
}

static void read_ws(conn_t *c, uint8_t *data, size_t len) {
    int r = ws_parser_feed(&c->ws, data, len, &ws_cb, c);
    if (r > 0) {
        met_add(M_PROTOCOL_ERRORS, 1);
        log_warn("websocket protocol error", "\"conn\":%llu,\"peer\":\"%s\",\"code\":%d,\"reason\":\"%s\"",
                 (unsigned long long)c->id, conn_peer(c), r, close_reason(r));
        conn_close(c, (uint16_t)r, close_reason(r));
    }
}

/* Bytes for the stream handler; what it leaves is kept while the
 * connection is held, or goes to the WebSocket parser after an upgrade. */
static void read_stream(conn_t *c, uint8_t *data, size_t len) {
    size_t used = len;
    if (c->sh) {
        c->in_data = 1;
        used = c->sh->data(c->sud, c, data, len);
        c->in_data = 0;
        if (used > len)
            used = len;
    }
    if (c->dead || c->mode == MODE_WS)
        stream_close(c); /* deferred while its data callback ran */
    data += used;
    len -= used;
    if (len == 0 || c->dead || c->closing || c->close_after_write)
        return;
    if (c->held) {
        /* A client pipelined behind a request answered later: keep the
         * bytes (bounded by one read) for conn_resume. */
        c->stash = xrealloc(c->stash, c->stash_len + len);
        memcpy(c->stash + c->stash_len, data, len);
        c->stash_len += len;
        read_stop(c);
        return;
    }
    if (c->mode == MODE_WS)
        read_ws(c, data, len);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
    (void)suggested;
    conn_t *c = h->data;
    /* One buffer per worker: each read is fully handled before the next
     * allocation, and the WebSocket parser copies only partial frames. */
    *b = uv_buf_init((char *)c->w->rbuf, sizeof(c->w->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    conn_t *c = s->data;
    if (n < 0) {
        conn_destroy(c);
        return;
    }
    if (n == 0 || c->dead || c->closing)
        return;
    c->last_rx_ms = loop_ms(c);
    met_add(M_BYTES_IN, n);
    if (c->mode == MODE_STREAM)
        read_stream(c, (uint8_t *)b->base, (size_t)n);
    else
        read_ws(c, (uint8_t *)b->base, (size_t)n);
}

void conn_hold(conn_t *c, void (*cancel)(void *), void *arg) {
    c->held = 1;
    c->cancel = cancel;
    c->cancel_arg = arg;
}

void conn_resume(conn_t *c) {
    if (!c->held || c->dead)
        return;
    c->held = 0;
    c->cancel = NULL;
    c->last_rx_ms = loop_ms(c);
    if (c->sh && c->sh->resumed)
        c->sh->resumed(c->sud, c);
    if (c->closing || c->close_after_write)
        return;
    if (c->stash) {
        uint8_t *s = c->stash;
        size_t n = c->stash_len;
        c->stash = NULL;
        c->stash_len = 0;
        read_stream(c, s, n);
        free(s);
        if (c->held || c->dead || c->closing || c->close_after_write)
            return;
    }
    /* Reading stops only when bytes were stashed: otherwise it still runs
     * (UV_EALREADY), and that is fine. */
    int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (r < 0 && r != UV_EALREADY) {
        log_debug("cannot read again", "\"conn\":%llu,\"error\":\"%s\"", (unsigned long long)c->id, uv_strerror(r));
        conn_destroy(c); /* frees later: safe even inside a read path */
    }
}

void conn_upgrade(conn_t *c, const char *accept_key, const conn_ws_handler_t *h, void *ud) {
    if (c->dead || c->mode == MODE_WS) {
        /* Nobody will call h->close for it otherwise. */
        h->close(ud);
        return;
    }
    buf_t *b = buf_new(160);
    buf_printf(&b,
               "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Accept: %s\r\n\r\n",
               accept_key);
    conn_send_owned(c, b);
    c->mode = MODE_WS;
    ws_parser_init(&c->ws, srv.net.max_message);
    c->wh = h;
    c->wud = ud;
    c->last_frame_ms = loop_ms(c); /* the handshake counts as the first frame */
    stream_close(c);
    met_add(M_CONNECTIONS, 1);
    met_add(M_CONNECTS, 1);
}

int conn_shed_overload(worker_t *w) {
    conn_t *old = w->ovl_head;
    if (!old)
        return 0;
    /* Not answered yet: refused without one (a client that has sent its
     * request by now has been answered, so this is mostly one that sends
     * nothing, or slowly). */
    if (!old->closing && !old->close_after_write)
        met_add(M_LIM_FILES, 1);
    log_debug("connection above the ceiling shed", "\"conn\":%llu,\"peer\":\"%s\"", (unsigned long long)old->id,
              conn_peer(old));
    conn_destroy(old); /* closes the socket now; frees later */
    return 1;
}

/* Above the ceiling: the connection is kept just long enough to answer its
 * request (the stream handler opened with CONN_OVERLOAD: /health, /metrics,
 * or 503), so a client sees why instead of a reset or a hang. At most
 * SRV_OVERLOAD_PER_WORKER per worker, their descriptors taken from the
 * reserve; a new one sheds the oldest, so connections that send nothing
 * cannot keep /health from being answered. */
static void overload_admit(worker_t *w, conn_t *c) {
    if (w->novl >= SRV_OVERLOAD_PER_WORKER)
        conn_shed_overload(w);
    c->overload = 1;
    c->ovl_prev = w->ovl_tail;
    c->ovl_next = NULL;
    if (w->ovl_tail)
        w->ovl_tail->ovl_next = c;
    else
        w->ovl_head = c;
    w->ovl_tail = c;
    w->novl++;
    w->ovl_unlogged++;
    int64_t now = loop_ms(c);
    if (!w->ovl_log_ms || now - w->ovl_log_ms >= 1000) {
        log_warn("at the connection ceiling: new connections get /health, /metrics or 503",
                 "\"worker\":%d,\"open\":%d,\"ceiling\":%d,\"fd_limit\":%d,\"accepted_above_ceiling\":%llu", w->id,
                 atomic_load(&srv.nconns), srv.conn_ceiling, srv.fd_limit, (unsigned long long)w->ovl_unlogged);
        w->ovl_log_ms = now;
        w->ovl_unlogged = 0;
    }
}

/* Counts the connection against its address; NULL when the address is at
 * its limit (over: above the ceiling, counted without a limit). */
static peer_t *peer_open(conn_t *c, int over) {
    struct sockaddr_storage ss;
    int sslen = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sslen) == 0)
        return peer_conn_open((struct sockaddr *)&ss, over ? 0 : srv.net.max_conns_per_ip);
    return peer_conn_open((struct sockaddr *)&ss, 0); /* family 0: counted as "local" */
}

/* Gives the connection to the installed stream handler. */
static void stream_open(conn_t *c, conn_admit_t how) {
    c->sh = srv.net.accept;
    c->sud = c->sh && c->sh->open ? c->sh->open(c, how) : NULL;
}

void conn_accept(worker_t *w, uv_stream_t *listener) {
    conn_t *c = xcalloc(1, sizeof(*c)); /* freed by on_closed, after conn_destroy's uv_close */
    int r = uv_tcp_init(&w->loop, &c->tcp);
    if (r < 0) {
        /* Not for an unbound TCP handle in libuv; logged should it change. */
        log_error("cannot accept", "\"error\":\"%s\"", uv_strerror(r));
        free(c);
        return;
    }
    c->tcp.data = c;
    c->w = w;
    c->q.paced_total = &srv_paced_bytes[w->id];
    c->id = atomic_fetch_add(&next_id, 1);
    c->mode = MODE_STREAM;
    c->last_rx_ms = loop_ms(c);
    c->last_frame_ms = c->last_rx_ms;
    if ((r = uv_accept(listener, (uv_stream_t *)&c->tcp)) < 0) {
        log_debug("accept failed", "\"error\":\"%s\"", uv_strerror(r));
        uv_close((uv_handle_t *)&c->tcp, on_closed);
        return;
    }
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    int open = atomic_fetch_add(&srv.nconns, 1) + 1;
    if (w->draining) {
        log_warn("connection refused", "\"reason\":\"draining\"");
        conn_destroy(c);
        return;
    }
    /* Above the ceiling (max connections, or the descriptors left after the
     * reserve): answered, not served. */
    int over = open > srv.conn_ceiling;
    c->peer = peer_open(c, over);
    if (over) {
        overload_admit(w, c);
    } else if (!c->peer) {
        /* One address must not take every descriptor: the handler answers
         * why, then the connection closes (instead of a reset). */
        met_add(M_LIM_CONNS_IP, 1);
        log_warn("connection refused",
                 "\"peer\":\"%s\",\"reason\":\"too many connections from this address\","
                 "\"limit\":%d",
                 conn_peer(c), srv.net.max_conns_per_ip);
        stream_open(c, CONN_REFUSED_PER_IP);
        if (!c->close_after_write && !c->closing)
            conn_close_after_write(c);
        return;
    }
    stream_open(c, over ? CONN_OVERLOAD : CONN_ADMITTED);
    if (c->dead)
        return;
    /* Small frames go out at once; without it they still go, later. */
    if ((r = uv_tcp_nodelay(&c->tcp, 1)) < 0)
        log_debug("TCP_NODELAY refused", "\"conn\":%llu,\"error\":\"%s\"", (unsigned long long)c->id, uv_strerror(r));
    if ((r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)) < 0) {
        log_debug("cannot read a new connection", "\"conn\":%llu,\"error\":\"%s\"", (unsigned long long)c->id,
                  uv_strerror(r));
        conn_destroy(c);
    }
}
