/*
 * http/routes: what the server answers over plain HTTP: the WebSocket
 * handshake at /realtime/v1/websocket, GET /health, GET /metrics, and the
 * broadcast endpoints realtime-js falls back to
 * (POST /realtime/v1/api/broadcast and
 *  POST /realtime/v1/api/broadcast/<topic>/events/<event>).
 * It validates and responds; it never reads sockets itself.
 */
#ifndef TC_HTTP_ROUTES_H
#define TC_HTTP_ROUTES_H

#include "http/request.h"
#include "net/conn.h"

/* Answers one complete request (the caller frees req afterwards). */
void routes_handle(conn_t *c, http_req_t *req);
/* Answers a request the reader refused, with status, and closes. */
void routes_error(conn_t *c, int status);
/* Answers a request that missed its deadline (which: "header" or "body",
 * limit_ms: the deadline) with 408 and a JSON reason naming it, and
 * closes. */
void routes_timeout(conn_t *c, const char *which, int limit_ms);
/* Answers one complete request that came on a connection accepted at the
 * connection ceiling (net/conn): /health and /metrics as always, anything
 * else (WebSocket upgrades too) 503 with a JSON reason. Both close the
 * connection: its descriptor is borrowed from the reserve. */
void routes_overloaded(conn_t *c, http_req_t *req);

#endif
