/*
 * rest/context: see context.h.
 */
#include "rest/context.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/mem.h"

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* the second byte's range */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

/* s[0..n) as UTF-8, each byte that starts no well-formed sequence
 * replaced by U+FFFD; lower-cased (ASCII) when lower. Caller frees. */
static char *clean(const char *s, size_t n, int lower) {
    char *out = xmalloc(3 * n + 1); /* a byte becomes at most 3 */
    size_t o = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(u + i, n - i);
        if (!k) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
            continue;
        }
        for (size_t j = 0; j < k; j++) {
            char c = (char)u[i + j];
            out[o++] = lower && c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
        }
        i += k;
    }
    out[o] = '\0';
    return out;
}

/* Sets obj[name] = value (both cleaned); a later name replaces an earlier
 * one, as PostgREST's HashMap.fromList does. */
static void put(json_t *obj, const char *name, size_t nlen, const char *value, size_t vlen, int lower) {
    char *k = clean(name, nlen, lower);
    char *v = clean(value, vlen, 0);
    json_t *js = json_stringn(v, strlen(v));
    if (!js)
        abort(); /* valid UTF-8 by construction: only out of memory */
    json_object_set_new(obj, k, js);
    free(k);
    free(v);
}

static char *dump(json_t *obj) {
    char *text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!text)
        abort(); /* jansson fails here only out of memory */
    return text;
}

char *rest_ctx_headers_json(const http_header_t *h, size_t n) {
    json_t *obj = json_object();
    for (size_t i = 0; i < n; i++) {
        /* PostgREST leaves Cookie out: it is request.cookies. */
        if (!h[i].name || !h[i].value || !strcasecmp(h[i].name, "cookie"))
            continue;
        put(obj, h[i].name, strlen(h[i].name), h[i].value, strlen(h[i].value), 1);
    }
    return dump(obj);
}

char *rest_ctx_cookies_json(const char *cookie) {
    json_t *obj = json_object();
    for (const char *p = cookie; p && *p;) {
        size_t len = strcspn(p, ";");
        const char *piece = p;
        p += len + (p[len] == ';');
        while (len > 0 && (*piece == ' ' || *piece == '\t'))
            piece++, len--;
        const char *eq = memchr(piece, '=', len);
        size_t nlen = eq ? (size_t)(eq - piece) : len;
        if (nlen == 0)
            continue;
        const char *value = eq ? eq + 1 : piece + len;
        put(obj, piece, nlen, value, (size_t)(piece + len - value), 0);
    }
    return dump(obj);
}
