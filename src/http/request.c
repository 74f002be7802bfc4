/*
 * http/request: one HTTP/1.1 request, read incrementally with Debian's
 * libhttp-parser (see request.h). It owns the limits a server must put on
 * what a client sends before any route sees it (head size, URL length,
 * header count, body size) and the decoding of the path. It must never
 * read past the end of the request: the bytes after it (a WebSocket
 * frame, the next pipelined request) belong to the caller.
 */
#include "http/request.h"
#include "util/mem.h"
#include "util/pct.h"

#include <http_parser.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

#define HTTP_MAX_URL 4096

/* A growable string; s is NUL-terminated whenever non-NULL. */
typedef struct {
    char *s;
    size_t len, cap;
} sbuf_t;

struct http_req {
    http_parser parser;
    size_t max_body;
    http_req_status_t state;
    int status;        /* HTTP status to answer once state is ERROR */
    size_t head_bytes; /* bytes fed before the end of the headers */
    int headers_done;
    int message_done;
    int in_value; /* the last header callback was on_header_value */
    sbuf_t url, field, value, body;
    http_header_t headers[HTTP_MAX_HEADERS];
    size_t nheaders;
    char *path;  /* decoded */
    char *query; /* raw */
    int keep_alive;
    int upgrade;
};

static void sb_append(sbuf_t *b, const char *p, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->s = xrealloc(b->s, cap); /* freed by sb_free or moved out by sb_take */
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

/* Hands the string to the caller (who frees it) and empties b. */
static char *sb_take(sbuf_t *b) {
    char *s = b->s ? b->s : xstrdup("");
    b->s = NULL;
    b->len = b->cap = 0;
    return s;
}

static void sb_free(sbuf_t *b) {
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}

static int fail(http_req_t *r, int status) {
    if (!r->status)
        r->status = status;
    return -1; /* makes http_parser stop with HPE_CB_* */
}

/* ---------------------------------------------------------------------
 * http_parser callbacks. Data callbacks may come in pieces (a header name
 * split across two reads arrives as two on_header_field calls), so they
 * accumulate; a header is complete when the next name or the end of the
 * headers begins.
 */
static int commit_header(http_req_t *r) {
    if (!r->field.s && !r->in_value)
        return 0;
    if (r->nheaders == HTTP_MAX_HEADERS)
        return fail(r, 431);
    http_header_t *h = &r->headers[r->nheaders++];
    h->name = sb_take(&r->field);
    for (char *c = h->name; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    h->value = sb_take(&r->value);
    /* http_parser skips leading blanks of a value but keeps trailing ones. */
    size_t vl = strlen(h->value);
    while (vl > 0 && (h->value[vl - 1] == ' ' || h->value[vl - 1] == '\t'))
        h->value[--vl] = '\0';
    r->in_value = 0;
    return 0;
}

static int on_url(http_parser *hp, const char *at, size_t n) {
    http_req_t *r = hp->data;
    if (r->url.len + n > HTTP_MAX_URL)
        return fail(r, 414);
    sb_append(&r->url, at, n);
    return 0;
}

static int on_header_field(http_parser *hp, const char *at, size_t n) {
    http_req_t *r = hp->data;
    if (r->in_value && commit_header(r))
        return -1;
    sb_append(&r->field, at, n);
    return 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t n) {
    http_req_t *r = hp->data;
    r->in_value = 1;
    sb_append(&r->value, at, n);
    return 0;
}

/* Splits the URL into a decoded path and a raw query. */
static int split_url(http_req_t *r) {
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (!r->url.s || http_parser_parse_url(r->url.s, r->url.len, 0, &u) != 0)
        return fail(r, 400);
    if (u.field_set & (1 << UF_PATH)) {
        /* Strict: an invalid escape or an escaped NUL would let a path mean
         * one thing to us and another to anything that treats it as C; '+'
         * is itself in a path. */
        r->path = pct_decode_dup(r->url.s + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len, PCT_STRICT, NULL);
        if (!r->path)
            return fail(r, 400);
    } else {
        r->path = xstrdup("/"); /* absolute-form without a path */
    }
    if (u.field_set & (1 << UF_QUERY))
        r->query = xstrndup(r->url.s + u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len);
    else
        r->query = xstrdup("");
    return 0;
}

static int on_headers_complete(http_parser *hp) {
    http_req_t *r = hp->data;
    r->headers_done = 1;
    if (commit_header(r))
        return -1;
    if (hp->http_major != 1)
        return fail(r, 400);
    /* CONNECT asks for a tunnel, which http_parser reports as an upgrade;
     * nothing here tunnels, so refuse it before anyone takes it for one. */
    if (hp->method == HTTP_CONNECT)
        return fail(r, 405);
    if ((hp->flags & F_CONTENTLENGTH) && hp->content_length > r->max_body)
        return fail(r, 413); /* before reading a byte of it */
    if (split_url(r))
        return -1;
    r->keep_alive = http_should_keep_alive(hp);
    r->upgrade = hp->upgrade;
    return 0;
}

static int on_body(http_parser *hp, const char *at, size_t n) {
    http_req_t *r = hp->data;
    if (n > r->max_body - r->body.len) /* chunked: no length up front */
        return fail(r, 413);
    sb_append(&r->body, at, n);
    return 0;
}

static int on_message_complete(http_parser *hp) {
    http_req_t *r = hp->data;
    r->message_done = 1;
    /* Stop right here, so the caller learns where this request ended. */
    http_parser_pause(hp, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---------------------------------------------------------------------
 * Public API.
 */
http_req_t *http_req_new(size_t max_body) {
    http_req_t *r = xcalloc(1, sizeof(*r)); /* freed by http_req_free */
    http_parser_init(&r->parser, HTTP_REQUEST);
    r->parser.data = r;
    r->max_body = max_body;
    return r;
}

void http_req_free(http_req_t *r) {
    if (!r)
        return;
    sb_free(&r->url);
    sb_free(&r->field);
    sb_free(&r->value);
    sb_free(&r->body);
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->path);
    free(r->query);
    free(r);
}

static int status_for(enum http_errno e) {
    switch (e) {
    case HPE_HEADER_OVERFLOW: return 431;
    default: return 400;
    }
}

http_req_status_t http_req_feed(http_req_t *r, const char *data, size_t len, size_t *consumed) {
    size_t off = 0;
    *consumed = 0;
    if (r->state != HTTP_REQ_MORE)
        return r->state;
    while (off < len) {
        size_t n = len - off;
        /* Until the headers end, feed no more than the head may still
         * hold, so an endless header costs at most HTTP_MAX_HEAD bytes. */
        if (!r->headers_done && n > HTTP_MAX_HEAD - r->head_bytes)
            n = HTTP_MAX_HEAD - r->head_bytes;
        int before = r->headers_done;
        size_t got = http_parser_execute(&r->parser, &settings, data + off, n);
        if (!before)
            r->head_bytes += got;
        off += got;
        enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);
        if (r->message_done) {
            *consumed = off;
            return r->state = HTTP_REQ_DONE;
        }
        if (e != HPE_OK || got < n) {
            r->status = r->status ? r->status : status_for(e);
            *consumed = off;
            return r->state = HTTP_REQ_ERROR;
        }
        if (!r->headers_done && r->head_bytes >= HTTP_MAX_HEAD) {
            r->status = 431;
            *consumed = off;
            return r->state = HTTP_REQ_ERROR;
        }
    }
    *consumed = off;
    return HTTP_REQ_MORE;
}

int http_req_error_status(const http_req_t *r) { return r->state == HTTP_REQ_ERROR ? r->status : 0; }

const char *http_req_method(const http_req_t *r) {
    if (!r->headers_done)
        return "";
    return http_method_str((enum http_method)r->parser.method);
}

const char *http_req_path(const http_req_t *r) { return r->path ? r->path : ""; }

const char *http_req_query(const http_req_t *r) { return r->query ? r->query : ""; }

const char *http_req_header(const http_req_t *r, const char *lname) {
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, lname) == 0)
            return r->headers[i].value;
    return NULL;
}

size_t http_req_header_count(const http_req_t *r) { return r->nheaders; }

const http_header_t *http_req_header_at(const http_req_t *r, size_t i) {
    return i < r->nheaders ? &r->headers[i] : NULL;
}

const char *http_req_body(const http_req_t *r, size_t *len) {
    if (len)
        *len = r->body.len;
    return r->body.s ? r->body.s : "";
}

int http_req_keep_alive(const http_req_t *r) { return r->keep_alive; }
void http_req_set_keep_alive(http_req_t *r, int keep_alive) { r->keep_alive = keep_alive; }

int http_req_is_upgrade(const http_req_t *r) { return r->upgrade; }

int http_req_headers_done(const http_req_t *r) { return r->headers_done && r->state != HTTP_REQ_ERROR && !r->status; }

/* Query components: '+' is a space, and a '%' without two hex digits is
 * kept as is (browsers send such strings, and it is no ambiguity). The
 * decoded length must fit the int http_query_get returns. */
static int query_decode(const char *s, size_t n, char *out, size_t outlen) {
    size_t len;
    if (outlen > (size_t)INT_MAX + 1)
        outlen = (size_t)INT_MAX + 1;
    if (pct_decode(s, n, PCT_PLUS_SPACE, out, outlen, &len) != PCT_OK)
        return -1;
    return (int)len;
}

/* Does the (encoded) key s[0..n) decode to name? */
static int key_matches(const char *s, size_t n, const char *name) {
    char tmp[256];
    size_t nl = strlen(name);
    if (nl >= sizeof(tmp))
        return n == nl && memcmp(s, name, n) == 0;
    int dl = query_decode(s, n, tmp, sizeof(tmp));
    return dl >= 0 && (size_t)dl == nl && memcmp(tmp, name, nl) == 0;
}

/* The first pair of query whose key decodes to name: its raw value in
 * *v, *vlen (empty for a key without '='). Returns 0, or -1 if absent. */
static int query_find(const char *query, const char *name, const char **v, size_t *vlen) {
    const char *p = query;
    for (;;) {
        const char *end = strchr(p, '&');
        size_t plen = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', plen);
        size_t klen = eq ? (size_t)(eq - p) : plen;
        if (key_matches(p, klen, name)) {
            *v = eq ? eq + 1 : p + plen;
            *vlen = (size_t)(p + plen - *v);
            return 0;
        }
        if (!end)
            return -1;
        p = end + 1;
    }
}

int http_query_get(const char *query, const char *name, char *out, size_t outlen) {
    const char *v;
    size_t vlen;
    if (!query || !name || !out || outlen == 0 || query_find(query, name, &v, &vlen) < 0)
        return -1;
    return query_decode(v, vlen, out, outlen);
}

int http_query_has(const char *query, const char *name) {
    const char *v;
    size_t vlen;
    return query && name && query_find(query, name, &v, &vlen) == 0;
}

int http_bool_value(const char *s) {
    if (!s)
        return -1;
    if (!strcmp(s, "true"))
        return 1;
    if (!strcmp(s, "false"))
        return 0;
    return -1;
}
