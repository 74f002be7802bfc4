/*
 * rest/context: PostgREST's request context, the transaction-local
 * settings a database function or policy reads with current_setting():
 * request.headers (every header but Cookie, as a JSON object, names
 * lower-cased, the last of a repeated header winning), request.cookies
 * (the Cookie header as a JSON object) — as PostgREST's ApiRequest builds
 * them (Web.Cookie's parsing: pieces split on ';', leading blanks of a
 * name dropped, name and value split at the first '='). Bytes that are not
 * UTF-8 become U+FFFD, as PostgREST's lenient decoding does, so the JSON
 * is always valid text for PostgreSQL.
 * Pure functions: no I/O, nothing kept. Sizes are bounded by the caller's
 * HTTP reader (HTTP_MAX_HEADERS headers within HTTP_MAX_HEAD bytes).
 */
#ifndef TC_REST_CONTEXT_H
#define TC_REST_CONTEXT_H

#include <stddef.h>

#include "http/request.h"

/* request.headers for the n headers h (names already lower-cased by
 * http/request; lower-cased again here for callers that are not). The
 * caller frees the result. */
char *rest_ctx_headers_json(const http_header_t *h, size_t n);
/* request.cookies for a Cookie header value (NULL: none, "{}"). A piece
 * with an empty name is skipped; a piece without '=' is a name with an
 * empty value. The caller frees the result. */
char *rest_ctx_cookies_json(const char *cookie);

#endif
