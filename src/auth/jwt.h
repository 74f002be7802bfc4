/*
 * auth/jwt: verifies JSON Web Tokens (JWS compact form) against configured
 * keys: HS256/384/512 with the shared secret, RS256/384/512 and
 * ES256/384/512 with public keys from a JWKS document. The algorithm is
 * pinned by the key, never taken on the token's word: "none", an HS token
 * against an RSA/EC key (algorithm confusion) and an RS/ES token without a
 * matching JWK are refused. It checks exp and nbf and extracts role and sub;
 * what a role may do is decided elsewhere.
 * A keyring is immutable after creation, so any thread may verify with it.
 */
#ifndef TC_AUTH_JWT_H
#define TC_AUTH_JWT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct jwt_keyring jwt_keyring_t;

typedef enum {
    JWT_OK = 0,
    JWT_MALFORMED, /* not three base64url parts, bad JSON, ... */
    JWT_BAD_ALG,   /* none, unknown, or not allowed for the key */
    JWT_NO_KEY,    /* no key for this alg/kid */
    JWT_BAD_SIGNATURE,
    JWT_EXPIRED,
    JWT_NOT_YET_VALID,  /* nbf in the future */
    JWT_MISSING_CLAIMS, /* role or exp missing / wrong type */
} jwt_status_t;

typedef struct {
    int64_t exp;    /* seconds since the epoch */
    int64_t nbf;    /* 0 if absent */
    char role[64];  /* "" never happens on JWT_OK: role is required */
    char sub[128];  /* "" if absent */
    json_t *claims; /* the whole payload object; the caller owns one reference */
} jwt_claims_t;

/* hs_secret: raw bytes of the HMAC secret, or NULL. jwks_json: the text of
 * a JWKS document ({"keys":[...]}), or NULL. Returns NULL with a reason in
 * err when a key cannot be used. Free with jwt_keyring_free. */
jwt_keyring_t *jwt_keyring_new(const uint8_t *hs_secret, size_t secret_len, const char *jwks_json, char *err,
                               size_t errlen);
void jwt_keyring_free(jwt_keyring_t *kr);

/* Verifies token at time now (seconds since the epoch); leeway: none. On
 * JWT_OK fills *out (release out->claims with json_decref). On failure
 * writes a client-facing message to msg, matching supabase/realtime's
 * wording where it has one ("Token has expired 12 seconds ago",
 * "Fields `role` and `exp` are required in JWT", "The token provided is not
 * a valid JWT", "Failed to validate JWT signature"). */
jwt_status_t jwt_verify(const jwt_keyring_t *kr, const char *token, size_t len, int64_t now, jwt_claims_t *out,
                        char *msg, size_t msglen);

/* Signs claims (a JSON object text) with HS256 and secret; for tests, the
 * load generator and, later, the auth endpoints. Returns a malloc'd token
 * the caller frees. */
char *jwt_sign_hs256(const uint8_t *secret, size_t secret_len, const char *claims_json);

/* base64url without padding. Encode: returns a malloc'd string. Decode:
 * returns the byte count written to out (room for len*3/4+3), -1 if
 * invalid. */
char *b64url_encode(const uint8_t *in, size_t len);
long b64url_decode(const char *in, size_t len, uint8_t *out);

#endif
