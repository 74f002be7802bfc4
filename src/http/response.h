/*
 * http/response: writing HTTP/1.1 answers (status line, headers with CORS,
 * body) to a connection. Shared by every HTTP handler; it decides nothing
 * about what to answer.
 */
#ifndef TC_HTTP_RESPONSE_H
#define TC_HTTP_RESPONSE_H

#include <stddef.h>

#include "net/conn.h"

/* extra_headers: complete header lines ("X: y\r\n"...) or NULL. The body is
 * left out after a HEAD (http_session_answering_head). */
void http_respond(conn_t *c, int status, const char *ctype, const char *extra_headers, const void *body, size_t len,
                  int keep_alive);
/* {"error": reason} */
void http_respond_error(conn_t *c, int status, const char *reason, int keep_alive);
const char *http_status_text(int status);

/* An answer that waits for the database. The connection is held (no next
 * request is read) until http_pending_respond; if the client goes away
 * meanwhile, c becomes NULL and the answer is dropped. Embed it in the
 * handler's own state. */
typedef struct {
    conn_t *c;
    int keep_alive;
} http_pending_t;

void http_pending_start(http_pending_t *p, conn_t *c, int keep_alive);
/* Answers (if the client is still there) and lets the connection read its
 * next request. */
void http_pending_respond(http_pending_t *p, int status, const char *ctype, const char *extra_headers, const void *body,
                          size_t len);

#endif
