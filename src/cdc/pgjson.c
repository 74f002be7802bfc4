/*
 * cdc/pgjson: see pgjson.h. Owns the JSON writing of values: strings
 * escaped as PostgreSQL's escape_json does (so they compare byte for byte
 * with to_jsonb's), an RFC 8259 validator for json/jsonb text spliced
 * verbatim, float text rewritten in numeric's notation, and arrays turned
 * into JSON arrays element by element. Reading the text itself is shared:
 * decimal numbers (cdc/pgvalue), timestamps (cdc/pgtime), array syntax
 * (cdc/pgarray). It must never emit invalid JSON, never recurse past
 * MAX_NEST, and never read past the length it is given.
 */
#include "cdc/pgjson.h"
#include "cdc/pgarray.h"
#include "cdc/pgchar.h"
#include "cdc/pgtime.h"
#include "cdc/pgtype.h"
#include "cdc/pgvalue.h"
#include "util/hex.h"
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

/* ---- JSON text helpers --------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

/* Appends s as a JSON string, escaped the way PostgreSQL's escape_json
 * does (so values compare byte for byte with to_jsonb's), with every byte
 * that is not part of well-formed UTF-8 replaced by U+FFFD: a database in
 * SQL_ASCII can hold any bytes, and one invalid sequence in a WebSocket
 * text frame makes browsers drop the connection. */
static void json_string(buf_t **out, const char *str, size_t n) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    size_t run = 0; /* start of the bytes not yet copied */
    buf_putc(out, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t l = utf8_len(s + i, n - i);
            if (l) {
                i += l;
                continue;
            }
        }
        buf_append(out, s + run, i - run);
        switch (c) {
        case '"': buf_append(out, "\\\"", 2); break;
        case '\\': buf_append(out, "\\\\", 2); break;
        case '\b': buf_append(out, "\\b", 2); break;
        case '\f': buf_append(out, "\\f", 2); break;
        case '\n': buf_append(out, "\\n", 2); break;
        case '\r': buf_append(out, "\\r", 2); break;
        case '\t': buf_append(out, "\\t", 2); break;
        default:
            if (c >= 0x80) {
                buf_append(out, "\\ufffd", 6);
            } else {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                buf_append(out, esc, 6);
            }
        }
        i++;
        run = i;
    }
    buf_append(out, s + run, n - run);
    buf_putc(out, '"');
}

static int is_digit(char c) { return pgc_isdigit((unsigned char)c); }
static int is_json_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* RFC 8259 number at s[*i]; advances *i past it. */
static int scan_number(const char *s, size_t n, size_t *ip) {
    size_t i = *ip;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n || !is_digit(s[i]))
        return -1;
    if (s[i] == '0')
        i++;
    else
        while (i < n && is_digit(s[i]))
            i++;
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || !is_digit(s[i]))
            return -1;
        while (i < n && is_digit(s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || !is_digit(s[i]))
            return -1;
        while (i < n && is_digit(s[i]))
            i++;
    }
    *ip = i;
    return 0;
}

static int hex4(const char *s, size_t n, size_t i, unsigned *v) {
    if (n - i < 4)
        return -1;
    *v = 0;
    for (size_t k = 0; k < 4; k++) {
        int h = hex_digit((unsigned char)s[i + k]);
        if (h < 0)
            return -1;
        *v = *v * 16 + (unsigned)h;
    }
    return 0;
}

/* RFC 8259 string at s[*i] (the opening quote), in UTF-8; \u escapes
 * must pair surrogates as PostgreSQL's json input insists. */
static int scan_string(const char *s, size_t n, size_t *ip) {
    size_t i = *ip + 1;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') {
            *ip = i + 1;
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c >= 0x80) {
            size_t l = utf8_len((const unsigned char *)s + i, n - i);
            if (!l)
                return -1;
            i += l;
            continue;
        }
        if (c != '\\') {
            i++;
            continue;
        }
        if (++i >= n)
            return -1;
        c = (unsigned char)s[i++];
        if (c == 'u') {
            unsigned u, lo;
            if (hex4(s, n, i, &u))
                return -1;
            i += 4;
            if (u >= 0xDC00 && u <= 0xDFFF)
                return -1;
            if (u >= 0xD800 && u <= 0xDBFF) {
                if (n - i < 6 || s[i] != '\\' || s[i + 1] != 'u' || hex4(s, n, i + 2, &lo) || lo < 0xDC00 ||
                    lo > 0xDFFF)
                    return -1;
                i += 6;
            }
        } else if (!strchr("\"\\/bfnrt", c) || c == 0) {
            return -1;
        }
    }
    return -1;
}

static size_t skip_ws(const char *s, size_t n, size_t i) {
    while (i < n && is_json_ws(s[i]))
        i++;
    return i;
}

/* Whether s is exactly one RFC 8259 JSON text (any value, surrounding
 * whitespace allowed). Iterative, so nesting depth costs heap, not stack:
 * the open containers are a byte stack, on the C stack up to 256 levels. */
static int json_valid(const char *s, size_t n) {
    char small[256], *stack = small;
    size_t depth = 0, cap = sizeof(small);
    int ok = 0;
    size_t i = skip_ws(s, n, 0);
    for (;;) {
        /* a value starts at s[i] */
        if (i >= n)
            goto out;
        char c = s[i];
        if (c == '{' || c == '[') {
            if (depth == cap) {
                char *bigger = xmalloc(cap * 2);
                memcpy(bigger, stack, cap);
                if (stack != small)
                    free(stack);
                stack = bigger;
                cap *= 2;
            }
            stack[depth++] = c;
            i = skip_ws(s, n, i + 1);
            if (i < n && s[i] == (c == '{' ? '}' : ']')) {
                depth--;
                i++;
                goto after_value;
            }
            if (c == '[')
                continue;
            goto member; /* a key first */
        }
        if (c == '"') {
            if (scan_string(s, n, &i))
                goto out;
        } else if (c == '-' || is_digit(c)) {
            if (scan_number(s, n, &i))
                goto out;
        } else if (n - i >= 4 && memcmp(s + i, "true", 4) == 0) {
            i += 4;
        } else if (n - i >= 5 && memcmp(s + i, "false", 5) == 0) {
            i += 5;
        } else if (n - i >= 4 && memcmp(s + i, "null", 4) == 0) {
            i += 4;
        } else {
            goto out;
        }
    after_value:
        i = skip_ws(s, n, i);
        if (depth == 0) {
            ok = i == n;
            goto out;
        }
        if (i >= n)
            goto out;
        if (s[i] == (stack[depth - 1] == '{' ? '}' : ']')) {
            depth--;
            i++;
            goto after_value;
        }
        if (s[i] != ',')
            goto out;
        i = skip_ws(s, n, i + 1);
        if (stack[depth - 1] == '[')
            continue;
    member:
        if (i >= n || s[i] != '"' || scan_string(s, n, &i))
            goto out;
        i = skip_ws(s, n, i);
        if (i >= n || s[i] != ':')
            goto out;
        i = skip_ws(s, n, i + 1);
    }
out:
    if (stack != small)
        free(stack);
    return ok;
}

/* ---- conversions by type ------------------------------------------------- */

/* Arrays nest at most 6 deep in PostgreSQL (MAXDIM); anything deeper is not
 * an array's text, and the limit keeps the recursion bounded. */
#define MAX_NEST 8

/* Where element types are learnt. */
typedef struct {
    pgjson_resolve_fn resolve;
    const void *ctx;
} types_t;

/* float4/float8 text as to_jsonb prints it: to_jsonb feeds float8out's
 * text to numeric_in, so "1e+100" comes out as 1 and 100 zeros and
 * "1.5e-10" as 0.00000000015 (the scale is the fraction's digits minus
 * the exponent). NaN and the infinities are not numbers: the caller makes
 * strings of them. float8out never writes '+' or spaces, so neither is
 * taken. */
static int float_json(const char *s, size_t n, buf_t **out) {
    pgv_decimal_t dl;
    if (pgv_scan_decimal(s, n, 0, &dl) != 0 || dl.end != n)
        return -1;
    if (dl.exp > 1000 || dl.exp < -1000)
        return -1; /* numeric_in's limit; float8 needs 324 */
    size_t ip = dl.ip, ilen = dl.ilen, fp = dl.fp, flen = dl.flen;
    long exp = (long)dl.exp;

    /* The digits D = int part then fraction, the point after D[point). */
    long total = (long)(ilen + flen), point = (long)ilen + exp;
    long scale = (long)flen - exp;
    if (scale < 0)
        scale = 0;
#define DIGIT(k) ((k) < 0 || (k) >= total ? '0' : (size_t)(k) < ilen ? s[ip + (size_t)(k)] : s[fp + (size_t)(k)-ilen])
    long first = 0; /* first nonzero digit */
    while (first < total && DIGIT(first) == '0')
        first++;
    if (dl.neg && first < total)
        buf_putc(out, '-');                 /* numeric has no negative zero */
    if (first >= total || first >= point) { /* all zero, or nothing before the point */
        buf_putc(out, '0');
    } else {
        for (long k = first; k < point; k++)
            buf_putc(out, DIGIT(k));
    }
    if (scale > 0) {
        buf_putc(out, '.');
        for (long k = point; k < point + scale; k++)
            buf_putc(out, DIGIT(k));
    }
#undef DIGIT
    return 0;
}

/* timestamp(tz) output as to_jsonb writes it (XSD style); anything that is
 * not ISO output text (infinity) stays as it is. */
static void timestamp_json(const char *s, size_t n, int tz, buf_t **out) {
    char tmp[PGTIME_XSD_MAX];
    size_t o = pgtime_xsd(s, n, tz, tmp);
    if (o)
        json_string(out, tmp, o);
    else
        json_string(out, s, n);
}

static void value_json(const types_t *ty, pgjson_type_t ti, const char *s, size_t n, buf_t **out, int depth);

/* Converts one element (unescaped text) of a container at depth, whose
 * element type converts as et. */
static void element_json(const types_t *ty, pgjson_type_t et, const char *s, size_t n, buf_t **out, int depth) {
    value_json(ty, et, s, n, out, depth + 1);
}

/* Array elements are escaped with backslashes; the unescaped copy goes to
 * a stack buffer when it fits. */
static void element_unescape_json(const types_t *ty, pgjson_type_t et, const char *s, size_t n, buf_t **out,
                                  int depth) {
    char small[256] = {0};
    char *tmp = n <= sizeof(small) ? small : xmalloc(n);
    size_t o = pgarray_unescape(s, n, tmp);
    element_json(ty, et, tmp, o, out, depth);
    if (tmp != small)
        free(tmp);
}

/* The array being written: the scanner's levels become nested JSON arrays.
 * The element type is resolved once per array, not per element: the
 * resolver's answer depends only on the OID, and asking it is a lookup. */
typedef struct {
    const types_t *ty;
    pgjson_type_t et; /* how the elements convert */
    buf_t **out;
    int depth; /* the outermost list's */
} array_out_t;

static int array_open(void *ctx, int level, size_t index) {
    array_out_t *a = ctx;
    (void)level;
    if (index > 0)
        buf_putc(a->out, ',');
    buf_putc(a->out, '[');
    return 0;
}

static int array_elem(void *ctx, int level, size_t index, const char *s, size_t n, unsigned flags) {
    array_out_t *a = ctx;
    int depth = a->depth + level - 1;
    if (index > 0)
        buf_putc(a->out, ',');
    if (flags & PGARRAY_NULL)
        buf_append(a->out, "null", 4);
    else if (flags & PGARRAY_ESCAPED)
        element_unescape_json(a->ty, a->et, s, n, a->out, depth);
    else
        element_json(a->ty, a->et, s, n, a->out, depth);
    return 0;
}

static int array_close(void *ctx, int level, size_t items) {
    array_out_t *a = ctx;
    (void)level;
    (void)items;
    buf_putc(a->out, ']');
    return 0;
}

/* array_out's text: an optional "[1:2][0:1]=" bounds prefix (to_jsonb
 * drops the bounds), then nested braces. box is the one built-in element
 * type with ';' as delimiter. On failure the caller takes back what was
 * written. */
static int array_json(const types_t *ty, uint32_t elem, const char *s, size_t n, buf_t **out, int depth) {
    static const pgarray_visitor_t visitor = {array_open, array_elem, array_close};
    array_out_t a = {ty, ty->resolve(ty->ctx, elem), out, depth};
    size_t i = 0;
    if (n && s[0] == '[') {
        const char *eq = memchr(s, '=', n);
        if (!eq)
            return -1;
        i = (size_t)(eq - s) + 1;
    }
    if (pgarray_scan(s, n, &i, elem == 603 ? ';' : ',', MAX_NEST - depth, &visitor, &a) != 0)
        return -1;
    while (i < n && pgc_isspace((unsigned char)s[i]))
        i++;
    return i == n ? 0 : -1;
}

/* int2vector, oidvector: "1 2 3". */
static int vector_json(const types_t *ty, uint32_t elem, const char *s, size_t n, buf_t **out, int depth) {
    pgjson_type_t et = ty->resolve(ty->ctx, elem);
    buf_putc(out, '[');
    int first = 1;
    for (size_t i = 0; i < n;) {
        if (s[i] == ' ') {
            i++;
            continue;
        }
        size_t start = i;
        while (i < n && s[i] != ' ')
            i++;
        if (!first)
            buf_putc(out, ',');
        first = 0;
        element_json(ty, et, s + start, i - start, out, depth);
    }
    buf_putc(out, ']');
    return 0;
}

static void value_json(const types_t *ty, pgjson_type_t ti, const char *s, size_t n, buf_t **out, int depth) {
    size_t mark = (*out)->len; /* to take back a half-written array */
    size_t i = 0;
    switch (ti.json) {
    case PGTYPE_BOOL:
        if (n == 1 && s[0] == 't') {
            buf_append(out, "true", 4);
            return;
        }
        if (n == 1 && s[0] == 'f') {
            buf_append(out, "false", 5);
            return;
        }
        break;
    case PGTYPE_NUM:
        if (scan_number(s, n, &i) == 0 && i == n) {
            buf_append(out, s, n);
            return;
        }
        break;
    case PGTYPE_FLOAT:
        if (float_json(s, n, out) == 0)
            return;
        (*out)->len = mark;
        break;
    case PGTYPE_JSON:
        if (json_valid(s, n)) {
            buf_append(out, s, n);
            return;
        }
        break;
    case PGTYPE_TS:
    case PGTYPE_TSTZ: timestamp_json(s, n, ti.json == PGTYPE_TSTZ, out); return;
    case PGTYPE_ARRAY:
    case PGTYPE_VECTOR:
        if (depth < MAX_NEST && (ti.json == PGTYPE_ARRAY ? array_json(ty, ti.elem, s, n, out, depth)
                                                         : vector_json(ty, ti.elem, s, n, out, depth)) == 0)
            return;
        (*out)->len = mark;
        break;
    }
    json_string(out, s, n);
}

void pgjson_value(pgjson_type_t type, const char *s, size_t n, pgjson_resolve_fn resolve, const void *ctx,
                  buf_t **out) {
    types_t ty = {resolve, ctx};
    value_json(&ty, type, s, n, out, 0);
}
