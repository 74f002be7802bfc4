/*
 * fuzz/fuzz_json.h: helpers the fuzz targets that compare JSON output share.
 * Header-only (static inline): each target is its own program.
 */
#ifndef TC_FUZZ_JSON_H
#define TC_FUZZ_JSON_H

#include <stdlib.h>

/* Rewrites every run of digits outside strings to its first two digits, so
 * that numbers beyond double's range (which are valid JSON, and which
 * to_jsonb prints for numeric) parse with jansson; "01" stays invalid.
 * The caller frees the result. */
static inline char *fuzz_shrink_numbers(const char *s, size_t n, size_t *outlen) {
    char *o = malloc(n + 1);
    if (!o)
        abort();
    size_t k = 0;
    int in_str = 0, run = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            o[k++] = c;
            if (c == '\\' && i + 1 < n)
                o[k++] = s[++i];
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"')
            in_str = 1;
        if (c >= '0' && c <= '9') {
            if (run++ < 2)
                o[k++] = c;
            continue;
        }
        run = 0;
        o[k++] = c;
    }
    *outlen = k;
    return o;
}

#endif
