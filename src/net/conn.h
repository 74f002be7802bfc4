/*
 * net/conn: one client TCP connection on its worker: reading (HTTP first,
 * then WebSocket frames after an upgrade), a bounded queue of shared
 * buffers to write, batched into writev once per loop iteration, and an
 * orderly close. A client whose queue passes the configured bound is
 * closed (1013) instead of growing memory.
 * It never interprets messages: HTTP requests go to http/routes, WebSocket
 * messages to channel/socket.
 */
#ifndef TC_NET_CONN_H
#define TC_NET_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "proto/msg.h"
#include "util/buf.h"

typedef struct conn conn_t;
struct worker;

/* Called by the worker's listener. */
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
int conn_is_closing(const conn_t *c);

/* Switches an HTTP connection to WebSocket after a valid handshake: sends
 * the 101 response with accept_key and gives the socket to channel/socket.
 * apikey: the connection's token (may be NULL). */
void conn_upgrade(conn_t *c, const char *accept_key, msg_vsn_t vsn, const char *apikey, int log_debug);

/* HTTP handlers that answer later (database work) hold the connection:
 * no further request is read until conn_resume. cancel(arg) runs if the
 * connection dies while held (the handler must then not touch it). */
void conn_hold(conn_t *c, void (*cancel)(void *), void *arg);
void conn_resume(conn_t *c);

uint64_t conn_id(const conn_t *c);
struct worker *conn_worker(const conn_t *c);
/* The peer address as text, for logs. */
const char *conn_peer(const conn_t *c);
/* What the connection's client address holds (net/peer): per-address
 * limits and budgets. Valid while the connection lives. */
struct peer *conn_peer_entry(const conn_t *c);



/* Worker side (net/server.c): the once-a-second check for idle clients,
 * expired tokens and stuck closes; the flush of every connection that
 * queued bytes during this loop iteration; the drain at shutdown. */
void conn_tick(conn_t *c, int64_t now_ms, int64_t now_s);
void conn_flush_dirty(struct worker *w);
void conn_drain(conn_t *c);
void conn_destroy(conn_t *c);
conn_t *conn_next(const conn_t *c);
#endif
