/*
 * rest/http: /rest/v1/ over HTTP. Verifies the caller's JWT (Authorization:
 * Bearer, else the apikey), loads the schema cache when needed, plans the
 * request with rest/query and runs it through the worker's pool as the
 * caller's role with request.jwt.claims set, so row-level security decides
 * every read and write. It never builds SQL itself.
 */
#ifndef TC_REST_HTTP_H
#define TC_REST_HTTP_H

#include "auth/jwt.h"

/* Registers /rest/v1/<target> into http/routes; keys (not owned, outlive
 * the workers) verify the caller's token. */
void rest_http_register(const jwt_keyring_t *keys);

#endif
