/*
 * redact: see redact.h.
 *
 * One forward pass, no recursion, no allocation beyond a scratch buffer for
 * unescaping strings: the input is whatever a client sent (or a prefix of
 * it), so it may be deep, invalid or cut anywhere. Strings are classified on
 * their unescaped text ("acc\u0065ss_token" is still access_token, and
 * "\u0065yJ..." is still a JWT: jansson decodes both before the server uses
 * them) but copied in their original escaped form when kept.
 */
#include "util/redact.h"
#include "util/hex.h"

#include <stdint.h>
#include <string.h>

static int is_b64u(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* A JWT-shaped run starting at s; cut_ok: also one that reaches the end of
 * the input before its second dot ("eyJ" and at least 7 more base64url
 * characters), because input that was clipped may end inside a token and
 * its first part alone is not ours to print. */
static size_t jwt_run(const char *s, size_t n, int cut_ok) {
    const unsigned char *u = (const unsigned char *)s;
    if (n < 3 || u[0] != 'e' || u[1] != 'y' || u[2] != 'J')
        return 0;
    size_t i = 3;
    while (i < n && is_b64u(u[i]))
        i++;
    if (i == n)
        return cut_ok && i >= 10 ? i : 0;
    if (u[i] != '.')
        return 0;
    size_t p2 = ++i;
    while (i < n && is_b64u(u[i]))
        i++;
    if (i == n)
        return cut_ok && i >= 10 ? i : 0;
    if (i == p2 || u[i] != '.')
        return 0;
    i++;
    while (i < n && is_b64u(u[i]))
        i++;
    /* A JWE has five parts: all of them belong to the token. */
    while (i + 1 < n && u[i] == '.' && is_b64u(u[i + 1])) {
        i++;
        while (i < n && is_b64u(u[i]))
            i++;
    }
    return i >= 10 ? i : 0;
}

size_t redact_jwt_len(const char *s, size_t n) { return jwt_run(s, n, 0); }

static int has_jwt(const char *s, size_t n, int cut_ok) {
    for (size_t i = 0; i + 3 <= n; i++)
        if (s[i] == 'e' && jwt_run(s + i, n - i, cut_ok))
            return 1;
    return 0;
}

size_t redact_jwts_inplace(char *s, size_t n) {
    size_t r = 0, w = 0;
    while (r < n) {
        size_t run = s[r] == 'e' ? jwt_run(s + r, n - r, 1) : 0;
        if (run) {
            /* run >= 10 == strlen(REDACTED), so w stays <= r */
            memcpy(s + w, REDACTED, sizeof(REDACTED) - 1);
            w += sizeof(REDACTED) - 1;
            r += run;
        } else {
            s[w++] = s[r++];
        }
    }
    return w;
}

/* Case-insensitive substring test where '-' and '_' are the same letter
 * (X-Api-Key, api_key). */
static int key_has(const char *key, size_t n, const char *needle) {
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++) {
        size_t j = 0;
        for (; j < m; j++) {
            unsigned char c = (unsigned char)key[i + j];
            if (c >= 'A' && c <= 'Z')
                c = (unsigned char)(c - 'A' + 'a');
            if (c == '-')
                c = '_';
            if (c != (unsigned char)needle[j])
                break;
        }
        if (j == m)
            return 1;
    }
    return 0;
}

int redact_key_is_secret(const char *key, size_t n) {
    /* Substrings rather than a list of names: a log line that hides a
     * harmless "token_type" costs nothing, one that shows a
     * "provider_refresh_token" costs an account. */
    static const char *const needles[] = {"token",   "password",      "passwd", "secret", "apikey",
                                          "api_key", "authorization", "cookie", "jwt"};
    for (size_t i = 0; i < sizeof(needles) / sizeof(needles[0]); i++)
        if (key_has(key, n, needles[i]))
            return 1;
    return 0;
}

/* ---- JSON ---------------------------------------------------------------- */

/* Four hex digits at s (n bytes available), or -1. */
static long hex4(const char *s, size_t n) {
    if (n < 4)
        return -1;
    long v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hex_digit((unsigned char)s[k]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

static void put_utf8(buf_t **b, unsigned long cp) {
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    buf_append(b, u, n);
}

/* Reads the string literal whose opening quote is at in[i], unescaping it
 * into *tmp (emptied first). Returns the index just past the closing quote,
 * or len if the input ends first (*terminated = 0). */
static size_t read_string(const char *in, size_t len, size_t i, buf_t **tmp, int *terminated) {
    (*tmp)->len = 0;
    *terminated = 0;
    i++;
    while (i < len) {
        unsigned char c = (unsigned char)in[i];
        if (c == '"') {
            *terminated = 1;
            return i + 1;
        }
        if (c != '\\') {
            size_t run = i + 1;
            while (run < len && in[run] != '"' && in[run] != '\\')
                run++;
            buf_append(tmp, in + i, run - i);
            i = run;
            continue;
        }
        if (i + 1 >= len)
            return len;
        char e = in[i + 1];
        i += 2;
        switch (e) {
        case 'b': buf_putc(tmp, '\b'); break;
        case 'f': buf_putc(tmp, '\f'); break;
        case 'n': buf_putc(tmp, '\n'); break;
        case 'r': buf_putc(tmp, '\r'); break;
        case 't': buf_putc(tmp, '\t'); break;
        case 'u': {
            long cp = hex4(in + i, len - i);
            if (cp < 0) {
                buf_putc(tmp, 'u'); /* invalid: keep the letter, classify the rest */
                break;
            }
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < len && in[i] == '\\' && in[i + 1] == 'u') {
                long lo = hex4(in + i + 2, len - i - 2);
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                }
            }
            if (cp >= 0xD800 && cp <= 0xDFFF)
                cp = 0xFFFD; /* a lone surrogate */
            put_utf8(tmp, (unsigned long)cp);
            break;
        }
        default: buf_putc(tmp, e); break; /* \" \\ \/ and anything invalid */
        }
    }
    return len;
}

static int is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static void put_marker(buf_t **out) { buf_puts(out, "\"" REDACTED "\""); }

void redact_json(const char *in, size_t len, buf_t **out) {
    buf_t *tmp = buf_new(64); /* unescaped string scratch; freed below */
    int depth = 0;
    int pending = 0;      /* the last key named a secret: its value is next */
    int secret_depth = 0; /* > 0: inside a secret key's object or array, opened at this depth */
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)in[i];
        if (c == '"') {
            int terminated;
            size_t end = read_string(in, len, i, &tmp, &terminated);
            const char *text = (const char *)tmp->data;
            size_t tlen = tmp->len;
            size_t k = end;
            while (k < len && is_ws((unsigned char)in[k]))
                k++;
            int is_key = terminated && k < len && in[k] == ':';
            /* A string cut off by the end of the input may be the start of
             * a token: "eyJ" anywhere in it is enough. The raw text is
             * checked too: "\uabceyJ..." is no token once decoded, but its
             * bytes would print as one. */
            int jwt = terminated ? has_jwt(text, tlen, 0) || has_jwt(in + i, end - i, 0)
                                 : memmem(text, tlen, "eyJ", 3) != NULL || memmem(in + i, end - i, "eyJ", 3) != NULL;
            int hide;
            if (is_key) {
                hide = jwt;
                pending = !jwt && !secret_depth && redact_key_is_secret(text, tlen);
            } else {
                hide = jwt || pending || secret_depth;
                pending = 0;
            }
            if (hide)
                put_marker(out);
            else
                buf_append(out, in + i, end - i);
            i = end;
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
            if (pending && !secret_depth)
                secret_depth = depth;
            pending = 0;
            buf_putc(out, (char)c);
            i++;
            continue;
        }
        if (c == '}' || c == ']') {
            if (secret_depth && depth <= secret_depth)
                secret_depth = 0;
            if (depth > 0)
                depth--;
            pending = 0;
            buf_putc(out, (char)c);
            i++;
            continue;
        }
        if (c == ':' || is_ws(c)) {
            buf_putc(out, (char)c);
            i++;
            continue;
        }
        if ((pending || secret_depth) && (c == '-' || (c >= '0' && c <= '9'))) {
            /* a secret written as a number */
            while (i < len && ((in[i] >= '0' && in[i] <= '9') || in[i] == '+' || in[i] == '-' || in[i] == '.' ||
                               in[i] == 'e' || in[i] == 'E'))
                i++;
            put_marker(out);
            pending = 0;
            continue;
        }
        size_t run = c == 'e' ? jwt_run(in + i, len - i, 1) : 0;
        if (run) {
            /* a token outside any string: invalid JSON, or not JSON at all */
            buf_puts(out, REDACTED);
            i += run;
            pending = 0;
            continue;
        }
        pending = 0; /* , true false null, or bytes that are not JSON */
        buf_putc(out, (char)c);
        i++;
    }
    buf_unref(tmp);
}
