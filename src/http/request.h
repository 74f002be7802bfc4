/*
 * http/request: an incremental HTTP/1.1 request reader built on Node's
 * http-parser (Debian's libhttp-parser). It collects the method, path,
 * query, the headers this server uses and a bounded body, and answers a
 * status code for what it refuses. It never touches sockets or routes.
 */
#ifndef TC_HTTP_REQUEST_H
#define TC_HTTP_REQUEST_H

#include <stddef.h>
#include <stdint.h>

typedef enum { HTTP_REQ_MORE = 0, HTTP_REQ_DONE = 1, HTTP_REQ_ERROR = 2 } http_req_status_t;

#define HTTP_MAX_HEADERS 32
#define HTTP_MAX_HEAD 8192 /* request line + headers; more is 431 */

typedef struct {
    char *name, *value;
} http_header_t; /* name lower-cased */

typedef struct http_req http_req_t; /* opaque; fields read through functions below */

/* A new reader. max_body: bytes; a larger body is refused with 413.
 * Free with http_req_free. */
http_req_t *http_req_new(size_t max_body);
void http_req_free(http_req_t *r);
/* Feeds bytes. On HTTP_REQ_DONE, *consumed says how many bytes of data
 * belonged to the request (what follows is the next protocol's, e.g. the
 * first WebSocket frame). On HTTP_REQ_ERROR, http_req_error_status gives
 * the status to answer (400 malformed, 405 CONNECT, 413 body, 414 URL,
 * 431 head or header count). Once DONE or ERROR, further feeds consume
 * nothing and return the same status; a next request needs a new reader. */
http_req_status_t http_req_feed(http_req_t *r, const char *data, size_t len, size_t *consumed);
int http_req_error_status(const http_req_t *r);

const char *http_req_method(const http_req_t *r); /* "GET", "POST", ... */
const char *http_req_path(const http_req_t *r);   /* percent-decoded path, no query */
const char *http_req_query(const http_req_t *r);  /* raw query string after '?', "" if none */
/* Header value by lower-case name, NULL if absent. Repeated headers: the first. */
const char *http_req_header(const http_req_t *r, const char *lname);
/* Every header, in arrival order (repeated ones too), names lower-cased:
 * at most HTTP_MAX_HEADERS, within HTTP_MAX_HEAD bytes. i < the count. */
size_t http_req_header_count(const http_req_t *r);
const http_header_t *http_req_header_at(const http_req_t *r, size_t i);
const char *http_req_body(const http_req_t *r, size_t *len);
int http_req_keep_alive(const http_req_t *r);
/* Overrides the client's choice: 0 when the answer must close (http/routes
 * at the connection ceiling). */
void http_req_set_keep_alive(http_req_t *r, int keep_alive);
int http_req_is_upgrade(const http_req_t *r);
/* 1 once the request line and every header have arrived and were
 * accepted (what may still be missing is the body): the caller's header
 * deadline ends and its body deadline starts here. */
int http_req_headers_done(const http_req_t *r);

/* Finds name in a query string (a=1&b=2; keys are decoded before they are
 * compared, the first match wins), percent- and '+'-decodes its value into
 * out (NUL-terminated; a '%' without two hex digits is kept as is).
 * Returns the decoded length, or -1 if absent, if it does not fit, or if
 * it would decode to a NUL byte. */
int http_query_get(const char *query, const char *name, char *out, size_t outlen);
/* 1 if name is a key of the query string (with or without a value, however
 * long or badly encoded its value is), else 0: tells "absent" from
 * http_query_get's other -1 cases. */
int http_query_has(const char *query, const char *name);
/* A strict boolean: 1 for exactly "true", 0 for exactly "false", -1 for
 * anything else (NULL, "", "1", "TRUE", "yes"...). */
int http_bool_value(const char *s);

#endif
