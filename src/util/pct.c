/*
 * util/pct: see pct.h. One pass, one output byte per input byte or per
 * three-byte escape, so the output never outgrows the input and a caller
 * can size its buffer from the input alone.
 */
#include "util/pct.h"
#include "util/hex.h"
#include "util/mem.h"

#include <stdlib.h>

pct_status_t pct_decode(const char *s, size_t n, unsigned flags, char *out, size_t outlen, size_t *outn) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+' && (flags & PCT_PLUS_SPACE)) {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < n ? hex_digit((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < n ? hex_digit((unsigned char)s[i + 2]) : -1;
            if (hi >= 0 && lo >= 0) {
                c = (char)(hi << 4 | lo);
                i += 2;
            } else if (flags & PCT_STRICT) {
                return PCT_E_ESCAPE;
            } /* else: a literal '%', and s[i + 1] is read next as itself */
        }
        if (c == '\0')
            return PCT_E_NUL;
        if (o + 1 >= outlen) /* room for c and the terminator */
            return PCT_E_SPACE;
        out[o++] = c;
    }
    if (outlen == 0)
        return PCT_E_SPACE;
    out[o] = '\0';
    if (outn)
        *outn = o;
    return PCT_OK;
}

char *pct_decode_dup(const char *s, size_t n, unsigned flags, size_t *outn) {
    char *out = xmalloc(n + 1); /* the caller's, unless refused */
    if (pct_decode(s, n, flags, out, n + 1, outn) != PCT_OK) {
        free(out);
        return NULL;
    }
    return out;
}
