/*
 * util/pct: the one percent-decoder (RFC 3986 %XX escapes) of the server,
 * for URL paths, query strings and form-encoded parameters. The rules that
 * differ between those are flags the caller states, never guesses made
 * here. It owns no memory but what pct_decode_dup returns; it never writes
 * past the caller's buffer, never yields a string longer than its input,
 * and never yields a NUL byte: every output is a C string, and a NUL
 * inside one would let a name mean one thing here and another to anything
 * that reads it as C (a file path, a SQL parameter), so there is no option
 * to allow it.
 */
#ifndef TC_UTIL_PCT_H
#define TC_UTIL_PCT_H

#include <stddef.h>

enum {
    /* '+' decodes to ' ' (query strings and application/x-www-form-urlencoded;
     * in a path '+' is itself). */
    PCT_PLUS_SPACE = 1u << 0,
    /* A '%' not followed by two hex digits is refused. Without this flag it
     * stays a literal '%' and the bytes after it are read as usual: browsers
     * send such query strings, and keeping them is no ambiguity. */
    PCT_STRICT = 1u << 1,
};

/* Why a decode was refused; PCT_OK (0) when it was not. When several apply,
 * the first met reading left to right wins. */
typedef enum {
    PCT_OK = 0,
    PCT_E_ESCAPE = -1, /* PCT_STRICT and a malformed escape */
    PCT_E_NUL = -2,    /* the output would hold a NUL byte (%00 or a raw one) */
    PCT_E_SPACE = -3,  /* the output and its terminating NUL do not fit in outlen */
} pct_status_t;

/* Decodes s[0..n) under flags into out[0..outlen), NUL-terminated, and
 * sets *outn (may be NULL) to the decoded length. On a refusal out holds
 * unspecified bytes (never more than outlen) and *outn is left alone. */
pct_status_t pct_decode(const char *s, size_t n, unsigned flags, char *out, size_t outlen, size_t *outn);

/* As pct_decode into a new string of at most n + 1 bytes, which the
 * caller frees. NULL when refused (never for lack of memory: util/mem's
 * policy). *outn may be NULL. */
char *pct_decode_dup(const char *s, size_t n, unsigned flags, size_t *outn);

#endif
