/*
 * http/routes: the route table. Endpoint modules (api/, rest/, http/static)
 * register their paths at start-up; routes_handle finds the handler of one
 * complete request. It owns the table and the answers for requests nobody
 * takes (404, OPTIONS, 503 at the connection ceiling). It never names an
 * endpoint, and the table never changes once the workers run.
 */
#ifndef TC_HTTP_ROUTES_H
#define TC_HTTP_ROUTES_H

#include "http/request.h"
#include "net/conn.h"

/* rest: for an exact route "", for a prefix route what follows "path/". */
typedef void (*route_fn)(conn_t *c, http_req_t *req, const char *rest);

enum {
    ROUTE_EXACT = 0,
    ROUTE_UNDER = 1,     /* every path below path/ (whole segments), not path itself */
    ROUTE_OPTIONS = 2,   /* the handler answers OPTIONS itself (not the generic 204) */
    ROUTE_WHEN_FULL = 4, /* also answered on a connection at the ceiling */
};

/* Registers fn for path (copied). Called from main before the workers
 * start; a full table (ROUTES_MAX) aborts at start-up. */
#define ROUTES_MAX 32
void routes_add(const char *path, int flags, route_fn fn);
/* Marks prefix (a whole segment) as the API's: the fallback never gets a
 * path under it, so a mistyped API call answers JSON, not the web app. */
void routes_reserve(const char *prefix);
/* What answers a GET or HEAD no route takes (the web app), or NULL. */
void routes_set_fallback(route_fn fn);
/* Empties the table (tests). */
void routes_reset(void);

/* The handler routes_handle (full: routes_overloaded) would run for req,
 * with *rest for it, or NULL when the answer is the table's own (404, 204
 * for OPTIONS, 503 when full). */
route_fn routes_pick(const http_req_t *req, int full, const char **rest);
/* Answers one complete request (the caller frees req afterwards). */
void routes_handle(conn_t *c, http_req_t *req);
/* Answers a request the reader refused, with status, and closes. */
void routes_error(conn_t *c, int status);
/* Answers a request that missed its deadline (which: "header" or "body",
 * limit_ms: the deadline) with 408 and a JSON reason naming it, and
 * closes. */
void routes_timeout(conn_t *c, const char *which, int limit_ms);
/* Answers one complete request that came on a connection accepted at the
 * connection ceiling (net/conn): routes registered ROUTE_WHEN_FULL (health,
 * metrics) as always, anything else (WebSocket upgrades too) 503 with a
 * JSON reason. Both close the connection: its descriptor is borrowed from
 * the reserve. */
void routes_overloaded(conn_t *c, http_req_t *req);

#endif
