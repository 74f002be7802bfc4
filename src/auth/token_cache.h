/*
 * auth/token_cache: a per-thread memo of tokens that verified. The same
 * token is presented again and again (the apikey on every connection, one
 * user's token on each of their channels and on every reconnect), and a
 * hit costs a hash and a compare instead of an HMAC and two JSON parses.
 * Only successes are kept, with their expiry: exp and nbf are checked on
 * every use, so a cached token expires exactly when it would uncached.
 * It never decides what a role may do.
 */
#ifndef TC_AUTH_TOKEN_CACHE_H
#define TC_AUTH_TOKEN_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "auth/jwt.h"

typedef struct {
    int64_t exp, nbf;
    const char *role;        /* borrowed from the cache: valid until this thread's next call */
    const char *sub;         /* "" if none */
    const char *claims_json; /* the payload object as compact JSON */
} tok_info_t;

/* jwt_verify through the calling thread's cache. On JWT_OK fills *out. */
jwt_status_t tok_verify(const jwt_keyring_t *kr, const char *token, size_t len, int64_t now, tok_info_t *out, char *msg,
                        size_t msglen);

/* Frees the calling thread's cache (at thread exit). */
void tok_cache_free(void);

#endif
