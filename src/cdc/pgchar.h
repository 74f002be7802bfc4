/*
 * cdc/pgchar: the byte- and character-level rules every reader of
 * PostgreSQL text in cdc/ shares: character classes as the "C" locale has
 * them (what PostgreSQL's input functions use for the usual server
 * locales), trimming, keyword comparison, and stepping through UTF-8 the
 * lenient way the filter's matchers need. Header-only (static inline):
 * these run per byte in the matchers, where a call would cost more than
 * the work.
 *
 * It must never depend on the process locale (no <ctype.h>), never read
 * past the length it is given, and never allocate.
 */
#ifndef TC_CDC_PGCHAR_H
#define TC_CDC_PGCHAR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* isspace() in the C locale; locale-independent on purpose. */
static inline int pgc_isspace(int c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
static inline int pgc_isdigit(int c) { return c >= '0' && c <= '9'; }
static inline int pgc_isalpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static inline int pgc_isalnum(int c) { return pgc_isdigit(c) || pgc_isalpha(c); }
static inline int pgc_isxdigit(int c) { return pgc_isdigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
/* ASCII letters only, as PostgreSQL folds under the C collation. */
static inline int pgc_tolower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }
static inline int pgc_toupper(int c) { return (c >= 'a' && c <= 'z') ? c - 32 : c; }

/* Narrows s[0..*n) to drop leading and trailing C-locale spaces. */
static inline void pgc_trim(const char **s, size_t *n) {
    while (*n > 0 && pgc_isspace((unsigned char)**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && pgc_isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

/* Case-insensitive comparison of s[0..n) with a NUL-terminated lowercase word. */
static inline int pgc_word_eq(const char *s, size_t n, const char *w) {
    size_t wl = strlen(w);
    if (n != wl)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (pgc_tolower((unsigned char)s[i]) != w[i])
            return 0;
    return 1;
}

/* Length of the UTF-8 sequence at s (1 for an invalid byte), never past n
 * (n >= 1). Lenient: the lead byte and continuation bytes decide, as when
 * PostgreSQL steps through text it already accepted; the JSON writer
 * (cdc/pgjson) has its own strict check, because there an invalid
 * sequence must be replaced, not stepped over. */
static inline size_t pgc_u8len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t l = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    if (l > n)
        return 1;
    for (size_t i = 1; i < l; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 1;
    return l;
}

/* Decodes one code point (n >= 1); *len gets its length. An invalid byte b
 * decodes to 0xDC00 + b (a lone surrogate, which no valid text contains),
 * so garbage still compares byte-for-byte and never crashes. */
static inline uint32_t pgc_u8dec(const unsigned char *s, size_t n, size_t *len) {
    size_t l = pgc_u8len(s, n);
    *len = l;
    if (l == 1)
        return s[0] < 0x80 ? s[0] : 0xDC00u + s[0];
    if (l == 2)
        return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    if (l == 3)
        return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) | ((uint32_t)(s[2] & 0x3F) << 6) |
           (s[3] & 0x3F);
}

#endif
