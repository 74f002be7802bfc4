/*
 * http/session: see session.h. One http_session_t per connection, from
 * accept until the connection closes or upgrades (net/conn then calls
 * close, which frees it).
 */
#include "http/session.h"

#include <stdlib.h>
#include <string.h>

#include "http/request.h"
#include "http/response.h"
#include "http/routes.h"
#include "metrics/metrics.h"
#include "util/log.h"
#include "util/mem.h"

/* HTTP phases, each with its deadline:
 * PH_HEAD  request line + headers, header_timeout_ms: from accept for a
 *          connection's first request (a connection that sends nothing
 *          costs a descriptor too), from its first byte for the next ones;
 * PH_BODY  the body, body_timeout_ms from the end of the headers;
 * PH_IDLE  keep-alive between requests, idle_timeout_ms from the previous
 *          response (queued; for a held request, from conn_resume). Held
 *          requests (database work) have no deadline: net/conn does not
 *          tick a held connection's handler. */
enum { PH_HEAD, PH_BODY, PH_IDLE };
/* Connections above the ceiling get this long at most for their headers:
 * their descriptors come out of the reserve. */
#define OVERLOAD_HEADER_MS 2000

typedef struct {
    http_req_t *req; /* while a request is being read */
    uint8_t phase;
    uint8_t overload;   /* accepted above the ceiling: one answer, then close */
    int64_t phase_ms;   /* the phase began (loop clock) */
    size_t idle_unsent; /* PH_IDLE: response bytes not yet sent, at the last tick */
    uint8_t head;       /* the request being answered (now or, held, later) is a HEAD */
} http_session_t;

static http_session_config_t cfg;

void http_session_init(const http_session_config_t *c) { cfg = *c; }

static void *session_open(conn_t *c, conn_admit_t how) {
    if (how == CONN_REFUSED_PER_IP) {
        http_respond_error(c, 429,
                           "MaxConnectionsPerIp: too many connections from this address (MAX_CONNECTIONS_PER_IP)", 0);
        return NULL;
    }
    http_session_t *s = xcalloc(1, sizeof(*s)); /* freed by session_close */
    s->overload = how == CONN_OVERLOAD;
    s->phase = PH_HEAD; /* the first request's header deadline counts from accept */
    s->phase_ms = conn_now_ms(c);
    return s;
}

static void session_close(void *ud) {
    http_session_t *s = ud;
    if (!s)
        return;
    http_req_free(s->req);
    free(s);
}

/* Reads requests until the bytes run out or the connection stops taking
 * them (held, closing, upgraded). Returns the bytes used. */
static size_t session_data(void *ud, conn_t *c, uint8_t *data, size_t len) {
    http_session_t *s = ud;
    size_t total = 0;
    if (!s)
        return len; /* refused at accept: nothing is read */
    while (total < len && !conn_is_held(c) && !conn_is_closing(c) && !conn_is_websocket(c)) {
        if (!s->req)
            s->req = http_req_new(cfg.max_body); /* freed below, by the deadline or by session_close */
        if (s->phase == PH_IDLE) {
            /* the first byte of the next request on a keep-alive connection */
            s->phase = PH_HEAD;
            s->phase_ms = conn_now_ms(c);
        }
        size_t used = 0;
        http_req_status_t st = http_req_feed(s->req, (const char *)data + total, len - total, &used);
        if (st == HTTP_REQ_MORE) {
            if (s->phase == PH_HEAD && http_req_headers_done(s->req)) {
                s->phase = PH_BODY;
                s->phase_ms = conn_now_ms(c);
            }
            return len;
        }
        if (st == HTTP_REQ_ERROR) {
            s->head = 0; /* its method may not even have been read */
            routes_error(c, http_req_error_status(s->req));
            return len;
        }
        total += used;
        http_req_t *req = s->req;
        s->req = NULL;
        met_add(M_HTTP_REQUESTS, 1);
        s->head = !strcmp(http_req_method(req), "HEAD");
        if (s->overload)
            routes_overloaded(c, req);
        else
            routes_handle(c, req);
        http_req_free(req);
        /* Answered, held or upgraded: the keep-alive idle deadline runs from
         * here (a held request restarts it in session_resumed). */
        s->phase = PH_IDLE;
        s->phase_ms = conn_now_ms(c);
    }
    return total;
}

static void session_resumed(void *ud, conn_t *c) {
    http_session_t *s = ud;
    if (!s)
        return;
    s->phase = PH_IDLE; /* the response is queued: idle from now */
    s->phase_ms = conn_now_ms(c);
}

/* A request that misses its deadline is answered 408 and closed: the
 * client learns why, and a slow sender (slowloris: a byte now and then)
 * holds a descriptor for one deadline at most, not for as long as it keeps
 * trickling. An idle keep-alive connection is just closed: there is no
 * request to answer. */
static void session_tick(void *ud, conn_t *c, int64_t now_ms) {
    http_session_t *s = ud;
    if (!s)
        return;
    const char *which;
    int limit;
    switch (s->phase) {
    case PH_IDLE:
        which = "idle";
        limit = cfg.idle_timeout_ms;
        break;
    case PH_BODY:
        which = "body";
        limit = cfg.body_timeout_ms;
        break;
    default:
        which = "header";
        limit = cfg.header_timeout_ms;
        if (s->overload && limit > OVERLOAD_HEADER_MS)
            limit = OVERLOAD_HEADER_MS;
        break;
    }
    if (s->phase == PH_IDLE) {
        /* Not idle while a response is still going out and moving: a large
         * answer to a slow reader is not cut. One that does not move (the
         * client stopped reading) times out like an idle connection. */
        size_t unsent = conn_unsent(c);
        if (unsent && unsent != s->idle_unsent)
            s->phase_ms = now_ms;
        s->idle_unsent = unsent;
    }
    int64_t waited = now_ms - s->phase_ms;
    if (waited < limit)
        return;
    met_add(M_HTTP_TIMEOUTS, 1);
    if (s->phase == PH_IDLE) {
        log_info("idle http connection closed", "\"conn\":%llu,\"peer\":\"%s\",\"deadline\":\"idle\",\"limit_ms\":%d",
                 (unsigned long long)conn_id(c), conn_peer(c), limit);
        conn_destroy(c);
        return;
    }
    log_warn("http request timed out",
             "\"conn\":%llu,\"peer\":\"%s\",\"deadline\":\"%s\",\"limit_ms\":%d,"
             "\"waited_ms\":%lld",
             (unsigned long long)conn_id(c), conn_peer(c), which, limit, (long long)waited);
    /* What was read of the request is dropped; nothing more is read. */
    http_req_free(s->req);
    s->req = NULL;
    routes_timeout(c, which, limit);
}

int http_session_answering_head(const conn_t *c) {
    const http_session_t *s = conn_stream_state(c, &http_session_handler);
    return s && s->head;
}

const conn_stream_handler_t http_session_handler = {
    .open = session_open,
    .data = session_data,
    .tick = session_tick,
    .resumed = session_resumed,
    .close = session_close,
};
