/*
 * net/conn: one client TCP connection on its worker. It moves bytes: it
 * reads, hands what it read to the handler installed on the connection,
 * keeps a bounded queue of shared buffers to write (batched into one
 * writev per loop iteration) and closes in order. A client whose queue
 * passes the configured bound is closed (1013) instead of growing memory.
 *
 * Two kinds of handler, installed by the layers above and called through
 * these tables only (net never names an upper layer):
 *  - a stream handler, installed at accept (srv_config_t.accept: the
 *    HTTP/1.1 session, http/session), gets raw bytes;
 *  - a WebSocket handler, installed by whoever upgrades the connection
 *    (conn_upgrade: channel/socket's table), gets complete messages; the
 *    frames themselves (ws/frame: ping, pong, close, fragmentation,
 *    UTF-8) are handled here.
 * It never interprets a request or a message.
 */
#ifndef TC_NET_CONN_H
#define TC_NET_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "util/buf.h"

typedef struct conn conn_t;
struct worker;

/* How a connection was admitted (conn_stream_handler_t.open). */
typedef enum {
    CONN_ADMITTED,      /* served */
    CONN_OVERLOAD,      /* above the connection ceiling: answer one request, then close */
    CONN_REFUSED_PER_IP /* its address has max_conns_per_ip open: say why, then close */
} conn_admit_t;

/* Before an upgrade. Every callback runs on the connection's worker. */
typedef struct conn_stream_handler {
    /* At accept: the handler's state for c (passed back as ud), or NULL.
     * With CONN_REFUSED_PER_IP the handler answers and closes; nothing is
     * read from the connection. */
    void *(*open)(conn_t *c, conn_admit_t how);
    /* Bytes read. Returns how many were used: fewer than len only when
     * the handler stopped reading (conn_hold, an upgrade, a close); the
     * rest is kept for conn_resume (held) or given to the WebSocket
     * handler (upgraded), or dropped (closing). */
    size_t (*data)(void *ud, conn_t *c, uint8_t *bytes, size_t len);
    /* Once a second (deadlines). now_ms: the loop's clock. */
    void (*tick)(void *ud, conn_t *c, int64_t now_ms);
    /* conn_resume: a held request was answered; bytes kept while held
     * come through data next. */
    void (*resumed)(void *ud, conn_t *c);
    /* The handler is done with c: the connection is gone or upgraded.
     * Frees ud; must not touch c. */
    void (*close)(void *ud);
} conn_stream_handler_t;

/* After an upgrade. Every callback runs on the connection's worker. */
typedef struct conn_ws_handler {
    /* One complete message (WS_OP_TEXT or WS_OP_BINARY); data is valid
     * during the call only. */
    void (*message)(void *ud, int opcode, const uint8_t *data, size_t len);
    /* Once a second. now_s: the wall clock, seconds since the epoch. */
    void (*tick)(void *ud, int64_t now_s);
    /* The connection is gone: leave everything, free ud. Must not send. */
    void (*close)(void *ud);
} conn_ws_handler_t;

/* Called by the worker's listener; installs srv_config_t.accept. */
void conn_accept(struct worker *w, uv_stream_t *listener);

/* Queues b to be written; takes its own reference (the caller keeps
 * theirs). Never closes or frees the connection synchronously, so it is
 * safe to call while iterating subscribers. */
void conn_send(conn_t *c, buf_t *b);
/* As conn_send, but the caller's reference moves to the connection. */
void conn_send_owned(conn_t *c, buf_t *b);
/* Starts an orderly close: WebSocket connections get a close frame with
 * code and reason after what is queued; HTTP ones are closed after their
 * response. The connection is freed later, never inside this call. */
void conn_close(conn_t *c, uint16_t code, const char *reason);
/* Closing this connection after its queued bytes are written (HTTP
 * responses without keep-alive). */
void conn_close_after_write(conn_t *c);
/* 1 once the connection reads no more requests or messages: closing, or
 * closing after its queued bytes, or gone. */
int conn_is_closing(const conn_t *c);

/* Switches the connection to WebSocket after a valid handshake: queues the
 * 101 response with accept_key, then hands every message to h with ud.
 * The stream handler's close runs (its state is freed); from then on the
 * connection owns ud and gives it back through h->close when it dies.
 * Call from inside the stream handler's data callback (or on the
 * connection's worker). */
void conn_upgrade(conn_t *c, const char *accept_key, const conn_ws_handler_t *h, void *ud);
int conn_is_websocket(const conn_t *c);
/* The state h's open returned for c, while h is c's stream handler (NULL
 * otherwise: another handler, upgraded, or gone). For h's own module. */
void *conn_stream_state(const conn_t *c, const conn_stream_handler_t *h);

/* Handlers that answer later (database work) hold the connection: no
 * further bytes reach the stream handler until conn_resume. cancel(arg)
 * runs if the connection dies while held (the handler must then not touch
 * it). */
void conn_hold(conn_t *c, void (*cancel)(void *), void *arg);
void conn_resume(conn_t *c);
int conn_is_held(const conn_t *c);

uint64_t conn_id(const conn_t *c);
struct worker *conn_worker(const conn_t *c);
/* The loop's clock in ms, fresh within a callback. */
int64_t conn_now_ms(const conn_t *c);
/* The peer address as text, for logs. */
const char *conn_peer(const conn_t *c);
/* What the connection's client address holds (net/peer): per-address
 * limits and budgets. Valid while the connection lives. */
struct peer *conn_peer_entry(const conn_t *c);
/* Bytes queued and not yet taken by the kernel (ours and libuv's). */
size_t conn_unsent(const conn_t *c);

/* Worker side (net/server.c): the once-a-second check for idle clients,
 * expired tokens and stuck closes; the flush of every connection that
 * queued bytes during this loop iteration; the drain at shutdown. */
void conn_tick(conn_t *c, int64_t now_ms, int64_t now_s);
void conn_flush_dirty(struct worker *w);
void conn_drain(conn_t *c);
/* Closes at once, without writing what is queued (also for handlers: an
 * idle keep-alive connection). Frees later, never inside this call. */
void conn_destroy(conn_t *c);
conn_t *conn_next(const conn_t *c);
#endif
