/*
 * rest/http: /rest/v1/ over HTTP. Verifies the caller's JWT (Authorization:
 * Bearer, else the apikey), loads the schema cache when needed, plans the
 * request with rest/query and runs it through the worker's pool as the
 * caller's role with request.jwt.claims set, so row-level security decides
 * every read and write. It never builds SQL itself.
 */
#ifndef TC_REST_HTTP_H
#define TC_REST_HTTP_H

#include "http/request.h"
#include "net/conn.h"

/* target: the path after /rest/v1/ (percent-decoded). */
void rest_http_handle(conn_t *c, http_req_t *req, const char *target);

#endif
