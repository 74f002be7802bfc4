/*
 * http/routes: see routes.h. A handful of routes, so a scan of the table
 * beats anything cleverer; the table is written before the workers start
 * and only read after, so it needs no lock.
 */
#include "http/routes.h"
#include "http/response.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "util/log.h"
#include "util/mem.h"

static void respond(conn_t *c, int status, const char *ctype, const char *body, size_t len, int keep_alive) {
    http_respond(c, status, ctype, NULL, body, len, keep_alive);
}

static void respond_error(conn_t *c, int status, const char *reason, int keep_alive) {
    http_respond_error(c, status, reason, keep_alive);
}

void routes_error(conn_t *c, int status) { respond_error(c, status, http_status_text(status), 0); }

void routes_timeout(conn_t *c, const char *which, int limit_ms) {
    char why[160];
    snprintf(why, sizeof(why), "Request Timeout: the request's %s did not arrive within %d ms",
             !strcmp(which, "body") ? "body" : "line and headers", limit_ms);
    respond_error(c, 408, why, 0);
}

/* ---- the table -------------------------------------------------------------- */

typedef struct {
    char *path;
    size_t len;
    int flags;
    route_fn fn;
} route_t;

static route_t table[ROUTES_MAX];
static size_t ntable;
static char *reserved[ROUTES_MAX];
static size_t nreserved;
static route_fn fallback;

void routes_add(const char *path, int flags, route_fn fn) {
    if (ntable == ROUTES_MAX) {
        log_error("route table full", "\"path\":\"%s\",\"max\":%d", path, ROUTES_MAX);
        abort();
    }
    table[ntable++] = (route_t){xstrdup(path), strlen(path), flags, fn};
}

void routes_reserve(const char *prefix) {
    if (nreserved == ROUTES_MAX) {
        log_error("route table full", "\"prefix\":\"%s\",\"max\":%d", prefix, ROUTES_MAX);
        abort();
    }
    reserved[nreserved++] = xstrdup(prefix);
}

void routes_set_fallback(route_fn fn) { fallback = fn; }

void routes_reset(void) {
    for (size_t i = 0; i < ntable; i++)
        free(table[i].path);
    for (size_t i = 0; i < nreserved; i++)
        free(reserved[i]);
    ntable = nreserved = 0;
    fallback = NULL;
}

/* An exact route wins over one that holds the path beneath it; among those,
 * the longest. *rest: the part below the route's path. */
static const route_t *find(const char *path, const char **rest) {
    const route_t *best = NULL;
    for (size_t i = 0; i < ntable; i++) {
        const route_t *r = &table[i];
        if (strncmp(path, r->path, r->len) != 0)
            continue;
        if (!(r->flags & ROUTE_UNDER) && path[r->len] == '\0') {
            *rest = "";
            return r;
        }
        if ((r->flags & ROUTE_UNDER) && path[r->len] == '/' && (!best || r->len > best->len)) {
            best = r;
            *rest = path + r->len + 1;
        }
    }
    return best;
}

static int is_reserved(const char *path) {
    for (size_t i = 0; i < nreserved; i++) {
        size_t n = strlen(reserved[i]);
        if (!strncmp(path, reserved[i], n) && (path[n] == '\0' || path[n] == '/'))
            return 1;
    }
    return 0;
}

route_fn routes_pick(const http_req_t *r, int full, const char **rest) {
    const char *path = http_req_path(r);
    const char *method = http_req_method(r);
    const route_t *rt = find(path, rest);
    if (full)
        return rt && (rt->flags & ROUTE_WHEN_FULL) ? rt->fn : NULL;
    if (!strcmp(method, "OPTIONS") && !(rt && (rt->flags & ROUTE_OPTIONS)))
        return NULL;
    if (rt)
        return rt->fn;
    /* What is left is the web app's, when one is configured: GET and HEAD
     * only, and never a path the API owns. */
    *rest = path;
    if (fallback && (!strcmp(method, "GET") || !strcmp(method, "HEAD")) && !is_reserved(path))
        return fallback;
    return NULL;
}

void routes_overloaded(conn_t *c, http_req_t *r) {
    const char *rest = "";
    route_fn fn = routes_pick(r, 1, &rest);
    /* Monitoring must see the server as it is, above all when it is full;
     * the handler sees keep-alive off, as the connection closes after. */
    if (fn) {
        http_req_set_keep_alive(r, 0);
        fn(c, r, rest);
        return;
    }
    met_add(M_LIM_FILES, 1);
    static const char body[] = "{\"error\":\"Service Unavailable: the server is at its connection limit; retry later\","
                               "\"limit\":\"connections\"}";
    http_respond(c, 503, "application/json", "Retry-After: 1\r\n", body, sizeof(body) - 1, 0);
}

void routes_handle(conn_t *c, http_req_t *r) {
    const char *rest = "";
    route_fn fn = routes_pick(r, 0, &rest);
    if (fn)
        fn(c, r, rest);
    else if (!strcmp(http_req_method(r), "OPTIONS"))
        respond(c, 204, "text/plain", "", 0, http_req_keep_alive(r));
    else
        respond_error(c, 404, "not found", http_req_keep_alive(r));
}
