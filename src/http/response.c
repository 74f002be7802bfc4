/*
 * http/response: see response.h. Every answer carries permissive CORS
 * headers: the web app calls the server from another origin, with
 * supabase-js's headers.
 */
#include "http/response.h"

#include <string.h>

#include "http/session.h"
#include "util/buf.h"

const char *http_status_text(int status) {
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 422: return "Unprocessable Entity";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return status < 300 ? "OK" : status < 400 ? "Redirect" : status < 500 ? "Bad Request" : "Error";
    }
}

void http_respond(conn_t *c, int status, const char *ctype, const char *extra_headers, const void *data, size_t len,
                  int keep_alive) {
    /* A HEAD's answer says how long the body would be, and stops there. */
    int body = status != 204 && !http_session_answering_head(c);
    buf_t *b = buf_new(512 + (body ? len : 0));
    buf_printf(&b, "HTTP/1.1 %d %s\r\n", status, http_status_text(status));
    if (status != 204)
        buf_printf(&b, "Content-Type: %s\r\nContent-Length: %zu\r\n", ctype, len);
    buf_puts(&b, "Access-Control-Allow-Origin: *\r\n"
                 "Access-Control-Allow-Headers: authorization, x-client-info, apikey, content-type, prefer, range, "
                 "accept-profile, content-profile, x-supabase-api-version, x-retry-count\r\n"
                 "Access-Control-Allow-Methods: GET, HEAD, POST, PATCH, PUT, DELETE, OPTIONS\r\n"
                 "Access-Control-Expose-Headers: content-range, preference-applied, x-supabase-api-version\r\n");
    if (extra_headers)
        buf_puts(&b, extra_headers);
    buf_puts(&b, keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n");
    if (body)
        buf_append(&b, data, len);
    conn_send_owned(c, b);
    if (!keep_alive)
        conn_close_after_write(c);
}

void http_respond_error(conn_t *c, int status, const char *reason, int keep_alive) {
    buf_t *b = buf_new(64 + strlen(reason));
    buf_puts(&b, "{\"error\":");
    buf_json_str(&b, reason, strlen(reason));
    buf_putc(&b, '}');
    http_respond(c, status, "application/json", NULL, b->data, b->len, keep_alive);
    buf_unref(b);
}

static void pending_cancel(void *arg) { ((http_pending_t *)arg)->c = NULL; }

void http_pending_start(http_pending_t *p, conn_t *c, int keep_alive) {
    p->c = c;
    p->keep_alive = keep_alive;
    conn_hold(c, pending_cancel, p);
}

void http_pending_respond(http_pending_t *p, int status, const char *ctype, const char *extra_headers, const void *body,
                          size_t len) {
    conn_t *c = p->c;
    if (!c)
        return;
    p->c = NULL;
    http_respond(c, status, ctype, extra_headers, body, len, p->keep_alive);
    conn_resume(c);
}
