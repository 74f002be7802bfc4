/*
 * redact: rewrites client-supplied text for log lines so that no token,
 * password or refresh token ever reaches a log, at any level, even with
 * protocol tracing on (docs/ARCHITECTURE.md, "Isolation").
 *
 * Two rules, applied to JSON text that may be invalid or truncated:
 *  - the value of a secret key becomes "[redacted]": a key whose name,
 *    unescaped and in any case, contains token, password, passwd, secret,
 *    apikey, api_key, authorization, cookie or jwt (access_token,
 *    user_token, refresh_token, apikey, Authorization, ...). A string or
 *    number value is replaced; inside an object or array value every string
 *    and number is;
 *  - any string (key or value, unescaped or as written) that holds a JWT-shaped
 *    run becomes "[redacted]" wherever it appears, and a JWT-shaped run
 *    outside any string (invalid JSON, a URL) is replaced by [redacted].
 * A JWT-shaped run is "eyJ" followed by base64url characters, a dot, at
 * least one base64url character, a dot and any base64url characters (more
 * dot-separated parts, as in a JWE, belong to the run), 10 bytes or more.
 * Everything else is copied byte for byte, so valid JSON stays valid JSON.
 * Pure functions: no state, safe from any thread.
 */
#ifndef TC_UTIL_REDACT_H
#define TC_UTIL_REDACT_H

#include <stddef.h>

#include "util/buf.h"

#define REDACTED "[redacted]"

/* Appends the redacted form of in[0..len) (JSON text, possibly invalid or
 * cut short) to *out. */
void redact_json(const char *in, size_t len, buf_t **out);

/* Length of the JWT-shaped run that starts at s (at most n bytes), or 0 if
 * none starts there. */
size_t redact_jwt_len(const char *s, size_t n);

/* Replaces, in place, every JWT-shaped run of s[0..n) by [redacted]; free
 * text such as a finished log line. Returns the new length (never more
 * than n: a run is longer than the marker). */
size_t redact_jwts_inplace(char *s, size_t n);

/* 1 if key[0..n) (raw bytes, already unescaped) names a secret. */
int redact_key_is_secret(const char *key, size_t n);

#endif
