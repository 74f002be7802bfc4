/*
 * http/session: the HTTP/1.1 side of a connection before any upgrade: the
 * stream handler net/conn calls with the bytes it reads. It reads requests
 * one at a time (http/request), hands each to http/routes, and keeps the
 * deadlines of each phase (408 for a request that does not arrive in
 * time), the answer for connections accepted above the ceiling and for
 * addresses over their connection limit. It never touches a socket and
 * never decides what a request is answered: routes does.
 */
#ifndef TC_HTTP_SESSION_H
#define TC_HTTP_SESSION_H

#include <stddef.h>

#include "net/conn.h"

typedef struct {
    size_t max_body;       /* request body bytes */
    int header_timeout_ms; /* request line + headers, PH_HEAD */
    int body_timeout_ms;   /* the body after the headers, PH_BODY */
    int idle_timeout_ms;   /* keep-alive between requests, PH_IDLE */
} http_session_config_t;

/* Copies cfg; call from main before the workers start. */
void http_session_init(const http_session_config_t *cfg);

/* The stream handler to install at accept (srv_config_t.accept). */
extern const conn_stream_handler_t http_session_handler;

/* Is the request c's answer is for a HEAD? Its answer then carries the
 * headers a GET's would (Content-Length included) and no body: a body
 * would be read as the start of the next response on a kept-alive
 * connection. 0 for a connection this handler does not serve. */
int http_session_answering_head(const conn_t *c);

#endif
