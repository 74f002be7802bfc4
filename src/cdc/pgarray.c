/*
 * cdc/pgarray: see pgarray.h. Owns the lexical rules of array text (the
 * ones array_in's scanner and array_out's quoting share): braces, the
 * delimiter, double quotes, backslash escapes, spaces (scanner_isspace:
 * the C locale's), unquoted NULL. It must never allocate, never recurse
 * past max_levels, and never decide what an element's text means.
 */
#include "cdc/pgarray.h"
#include "cdc/pgchar.h"

static size_t skip_spaces(const char *s, size_t n, size_t i) {
    while (i < n && pgc_isspace((unsigned char)s[i]))
        i++;
    return i;
}

/* One {...} at s[*ip], the index-th item of its parent (0 at level 1). */
static int scan_level(const char *s, size_t n, size_t *ip, char delim, int level, int max_levels, size_t index,
                      const pgarray_visitor_t *v, void *ctx) {
    size_t i = *ip, items = 0;
    if (level > max_levels || i >= n || s[i] != '{')
        return -1;
    if (v->open && v->open(ctx, level, index) != 0)
        return -1;
    i = skip_spaces(s, n, i + 1);
    if (i < n && s[i] == '}') {
        i++;
        goto closed;
    }
    for (;;) {
        i = skip_spaces(s, n, i);
        if (i >= n)
            return -1;
        if (s[i] == '{') {
            if (scan_level(s, n, &i, delim, level + 1, max_levels, items, v, ctx) != 0)
                return -1;
        } else if (s[i] == '"') {
            size_t start = ++i;
            unsigned flags = 0;
            while (i < n && s[i] != '"') {
                if (s[i] == '\\') {
                    flags = PGARRAY_ESCAPED;
                    i++;
                }
                i++;
            }
            if (i >= n)
                return -1; /* unterminated, or ends in an escape */
            if (v->elem(ctx, level, items, s + start, i - start, flags) != 0)
                return -1;
            i++;
        } else {
            size_t start = i, end = i; /* end: after the last non-space or escaped byte */
            unsigned flags = 0;
            while (i < n && s[i] != delim && s[i] != '}') {
                if (s[i] == '{' || s[i] == '"')
                    return -1;
                if (s[i] == '\\') {
                    flags = PGARRAY_ESCAPED;
                    if (++i >= n)
                        return -1;
                    end = i + 1;
                } else if (!pgc_isspace((unsigned char)s[i])) {
                    end = i + 1;
                }
                i++;
            }
            if (end == start)
                return -1; /* empty unquoted element */
            if (!flags && pgc_word_eq(s + start, end - start, "null"))
                flags = PGARRAY_NULL;
            if (v->elem(ctx, level, items, s + start, end - start, flags) != 0)
                return -1;
        }
        items++;
        i = skip_spaces(s, n, i);
        if (i >= n)
            return -1;
        if (s[i] == delim) {
            i++;
            continue;
        }
        if (s[i] == '}') {
            i++;
            break;
        }
        return -1;
    }
closed:
    if (v->close && v->close(ctx, level, items) != 0)
        return -1;
    *ip = i;
    return 0;
}

int pgarray_scan(const char *s, size_t n, size_t *ip, char delim, int max_levels, const pgarray_visitor_t *v,
                 void *ctx) {
    return scan_level(s, n, ip, delim, 1, max_levels, 0, v, ctx);
}

size_t pgarray_unescape(const char *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n)
            i++;
        out[o++] = s[i];
    }
    return o;
}
