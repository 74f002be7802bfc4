/*
 * cdc/filter: owns the postgres_changes filter grammar (the one
 * supabase/realtime's Subscriptions.parse_subscription_params and
 * realtime.subscription_check_filters accept) and its evaluation on a row
 * image, with PostgreSQL's semantics for the column's type: typed
 * comparison of integers, floats, numerics, booleans, uuids and date/time
 * values, LIKE/ILIKE, regular expressions (~ / ~*), IS and IS DISTINCT FROM,
 * SQL three-valued logic for NULL.
 *
 * It must never do I/O, never ask the database, and never allocate in
 * cdc_filter_match / cdc_filter_match_budget: they run for every change and
 * every candidate subscriber. Everything a match needs is prepared by
 * cdc_filter_parse. Evaluation charges its work to a budget the caller
 * gives (one evaluation path: cdc_filter_match is the budgeted one with a
 * budget nobody can spend), so no customer-written filter can take the
 * CDC thread for longer than its budget, however long the cell.
 *
 * Deliberate choices (see also docs in filter.h):
 *  - text ordering (lt/gt on text, varchar, bpchar, name, citext) is byte
 *    order, i.e. the "C" collation; ILIKE, imatch and citext fold ASCII
 *    letters only, as PostgreSQL does under the C collation;
 *  - regular expressions are PostgreSQL AREs minus back-references,
 *    lookaround, octal escapes, collating elements and the b/e/x/q options,
 *    which are refused at parse time; what is accepted is evaluated by a
 *    Thompson NFA here (a yes/no answer needs no submatch rules, so it
 *    equals PostgreSQL's);
 *  - date/time filter values are ISO 8601 forms only; a timestamptz value
 *    without an offset is taken as UTC;
 *  - a LIKE pattern ending in an escape and malformed regexes are refused at
 *    join, where PostgreSQL would fail at evaluation.
 */
#include "cdc/filter.h"
#include "util/hex.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

/* Longest filter accepted: real ones are a few hundred bytes; the bound
 * keeps parse-time work and per-condition state small. */
#define FILTER_MAX_LEN 8192
/* supabase/realtime's limit on `in` lists. */
#define IN_MAX_VALUES 100
/* Regex program size and group nesting: the matcher keeps its state on the
 * stack (about 10 bytes per instruction). */
#define RE_MAX_INST 2048
#define RE_MAX_DEPTH 64
#define RE_DUPMAX 255
/* NAMEDATALEN - 1: PostgreSQL truncates name input to this many bytes. */
#define NAME_MAX_BYTES 63

/* ------------------------------------------------------------------------
 * Types
 * ---------------------------------------------------------------------- */

typedef enum {
    OP_EQ, OP_NEQ, OP_LT, OP_LTE, OP_GT, OP_GTE, OP_IN, OP_LIKE, OP_ILIKE,
    OP_IS, OP_MATCH, OP_IMATCH, OP_ISDISTINCT,
} op_t;

static const char *const op_names[] = {
    "eq", "neq", "lt", "lte", "gt", "gte", "in", "like", "ilike", "is", "match", "imatch", "isdistinct",
};

typedef enum {
    K_INT,         /* sub: bits 16/32/64 */
    K_FLOAT,       /* sub: 4 or 8 */
    K_NUMERIC,
    K_BOOL,
    K_TEXT,        /* text, varchar; sub SUB_NAME for name */
    K_BPCHAR,
    K_CITEXT,
    K_UUID,
    K_DATE,
    K_TIME,
    K_TIMETZ,
    K_TS,
    K_TSTZ,
    K_OPAQUE,      /* enums and other user types: compared by their text */
    K_UNSUPPORTED, /* built-in types whose equality we cannot mirror */
} kind_t;

#define SUB_NAME 1

/* A decimal number as a view into its text: the significant digits run
 * from dig to dig+nch (a '.' may sit among them and is skipped), the first
 * one has decimal weight `weight` (10^weight). */
typedef struct {
    int8_t sign;     /* -1, 0 (zero), 1 */
    uint8_t special; /* 0 finite, 1 +Infinity, 2 -Infinity, 3 NaN */
    const char *dig;
    size_t nch;
    int64_t weight;
} dec_t;

#define DEC_PINF 1
#define DEC_NINF 2
#define DEC_NAN 3

/* A typed value: a filter operand, an `in` element, or a parsed cell. */
typedef struct {
    uint8_t isnull;
    union {
        int64_t i; /* ints, bool, date, time, timestamps */
        double f;
        uint8_t uuid[16];
        struct {
            int64_t t;    /* µs since midnight */
            int32_t zone; /* seconds west of UTC, PostgreSQL's convention */
        } tz;
        dec_t dec;
    } u;
    const char *s; /* text form (text kinds), owned by the condition */
    size_t len;
} tval_t;

typedef struct re_prog re_prog_t;

typedef struct {
    size_t col;
    op_t op;
    uint8_t negate;
    uint8_t is_kw; /* OP_IS: 0 null, 1 true, 2 false, 3 unknown */
    kind_t kind;
    int sub;
    tval_t val;    /* scalar operand; like/ilike: the pattern */
    char *vbuf;    /* owns val.s and what val.u.dec points into */
    tval_t *list;  /* OP_IN */
    size_t nlist;
    uint64_t list_bytes; /* OP_IN, text kinds: the elements' bytes, to size the work up front */
    char *lbuf;    /* owns the list's strings */
    re_prog_t *re; /* OP_MATCH / OP_IMATCH */
    char *key;     /* normalised eq value for cdc_filter_eq_key, or NULL */
    size_t keylen;
} cond_t;

struct cdc_filter {
    cond_t *conds;
    size_t n;
    size_t *cols; /* distinct column indexes, in order of first use */
    size_t ncols;
};

/* ------------------------------------------------------------------------
 * Small helpers
 * ---------------------------------------------------------------------- */

/* isspace() in the C locale, which is what PostgreSQL's input functions use
 * for the server's usual locales; locale-independent on purpose. */
static int c_isspace(int c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
static int c_isdigit(int c) { return c >= '0' && c <= '9'; }
static int c_isalpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int c_isalnum(int c) { return c_isdigit(c) || c_isalpha(c); }
static int c_isxdigit(int c) { return c_isdigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static int c_tolower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }
static int c_toupper(int c) { return (c >= 'a' && c <= 'z') ? c - 32 : c; }

static void trim(const char **s, size_t *n) {
    while (*n > 0 && c_isspace((unsigned char)**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && c_isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

/* Case-insensitive comparison of s[0..n) with a NUL-terminated lowercase word. */
static int word_eq(const char *s, size_t n, const char *w) {
    size_t wl = strlen(w);
    if (n != wl)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (c_tolower((unsigned char)s[i]) != w[i])
            return 0;
    return 1;
}

static void seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Length of the UTF-8 sequence at s (1 for an invalid byte), never past n. */
static size_t u8len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t l = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    if (l > n)
        return 1;
    for (size_t i = 1; i < l; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 1;
    return l;
}

/* Decodes one code point. An invalid byte b decodes to 0xDC00 + b (a lone
 * surrogate, which no valid text contains), so garbage still compares
 * byte-for-byte and never crashes. */
static uint32_t u8dec(const unsigned char *s, size_t n, size_t *len) {
    size_t l = u8len(s, n);
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

/* ------------------------------------------------------------------------
 * Column types
 * ---------------------------------------------------------------------- */

static const struct {
    const char *name;
    kind_t kind;
    int sub;
} type_table[] = {
    {"int2", K_INT, 16}, {"smallint", K_INT, 16}, {"int4", K_INT, 32}, {"integer", K_INT, 32},
    {"int", K_INT, 32}, {"int8", K_INT, 64}, {"bigint", K_INT, 64},
    {"float4", K_FLOAT, 4}, {"real", K_FLOAT, 4}, {"float8", K_FLOAT, 8}, {"double precision", K_FLOAT, 8},
    {"numeric", K_NUMERIC, 0}, {"decimal", K_NUMERIC, 0},
    {"bool", K_BOOL, 0}, {"boolean", K_BOOL, 0},
    {"text", K_TEXT, 0}, {"varchar", K_TEXT, 0}, {"character varying", K_TEXT, 0}, {"name", K_TEXT, SUB_NAME},
    {"bpchar", K_BPCHAR, 0}, {"character", K_BPCHAR, 0},
    {"citext", K_CITEXT, 0},
    {"uuid", K_UUID, 0},
    {"date", K_DATE, 0},
    {"time", K_TIME, 0}, {"time without time zone", K_TIME, 0},
    {"timetz", K_TIMETZ, 0}, {"time with time zone", K_TIMETZ, 0},
    {"timestamp", K_TS, 0}, {"timestamp without time zone", K_TS, 0},
    {"timestamptz", K_TSTZ, 0}, {"timestamp with time zone", K_TSTZ, 0},
};

/* Built-in types whose equality is not their text's: refused but for IS NULL. */
static const char *const unsupported_types[] = {
    "json", "jsonb", "jsonpath", "bytea", "interval", "inet", "cidr", "macaddr", "macaddr8", "money", "bit",
    "varbit", "bit varying", "xml", "tsvector", "tsquery", "point", "line", "lseg", "box", "path", "polygon",
    "circle", "oid", "xid", "xid8", "cid", "tid", "regclass", "regtype", "regproc", "regprocedure", "regoper",
    "regoperator", "regconfig", "regdictionary", "regnamespace", "regrole", "regcollation", "pg_lsn", "char",
    "int2vector", "oidvector", "txid_snapshot", "pg_snapshot", "int4range", "int8range", "numrange", "tsrange",
    "tstzrange", "daterange", "int4multirange", "int8multirange", "nummultirange", "tsmultirange",
    "tstzmultirange", "datemultirange", "record", "void", "unknown", "aclitem", "refcursor",
};

static kind_t type_kind(const char *type, int *sub) {
    *sub = 0;
    if (!type)
        return K_OPAQUE;
    for (size_t i = 0; i < sizeof type_table / sizeof type_table[0]; i++)
        if (strcmp(type, type_table[i].name) == 0) {
            *sub = type_table[i].sub;
            return type_table[i].kind;
        }
    if (type[0] == '_' || strchr(type, '[') != NULL) /* arrays */
        return K_UNSUPPORTED;
    for (size_t i = 0; i < sizeof unsupported_types / sizeof unsupported_types[0]; i++)
        if (strcmp(type, unsupported_types[i]) == 0)
            return K_UNSUPPORTED;
    return K_OPAQUE;
}

static int kind_is_text(kind_t k) { return k == K_TEXT || k == K_BPCHAR || k == K_CITEXT; }

/* ------------------------------------------------------------------------
 * Scalar parsers. Each takes (s, n), not NUL-terminated, and mirrors the
 * PostgreSQL 15 input function of its type. They return 0 on success,
 * -1 on a syntax error, -2 when the value is out of the type's range.
 * ---------------------------------------------------------------------- */

/* int2in/int4in/int8in (pg_strtoint*): spaces, sign, decimal digits, spaces. */
static int parse_int(const char *s, size_t n, int bits, int64_t *out) {
    trim(&s, &n);
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i >= n)
        return -1;
    uint64_t lim = bits == 16 ? 32767u : bits == 32 ? 2147483647u : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    int range = 0;
    for (; i < n; i++) {
        if (!c_isdigit((unsigned char)s[i]))
            return -1;
        if (!range) {
            v = v * 10 + (uint64_t)(s[i] - '0');
            if (v > lim + (uint64_t)neg)
                range = 1;
        }
    }
    if (range)
        return -2;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* float4in/float8in: strtof/strtod as PostgreSQL calls them, so hex floats,
 * "inf", "NaN" and denormals are accepted exactly when it accepts them. */
static int parse_float(const char *s, size_t n, int is4, int may_alloc, double *out) {
    char stack[128];
    char *buf = stack;
    while (n > 0 && c_isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    if (n == 0 || memchr(s, '\0', n) != NULL)
        return -1;
    if (n >= sizeof stack) {
        if (!may_alloc) /* a cell: PostgreSQL's float output is never this long */
            return -1;
        buf = xmalloc(n + 1);
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    int rc = 0;
    errno = 0;
    double v;
    if (is4) {
        float fv = strtof(buf, &end);
        v = fv;
        if (end != buf && errno == ERANGE && (fv == 0.0f || fv >= HUGE_VALF || fv <= -HUGE_VALF))
            rc = -2;
    } else {
        v = strtod(buf, &end);
        if (end != buf && errno == ERANGE && (v == 0.0 || v >= HUGE_VAL || v <= -HUGE_VAL))
            rc = -2;
    }
    if (end == buf)
        rc = -1;
    else if (rc == 0) {
        while (c_isspace((unsigned char)*end))
            end++;
        if (*end != '\0')
            rc = -1;
    }
    if (buf != stack)
        free(buf);
    if (rc == 0)
        *out = v;
    return rc;
}

/* numeric_in: spaces, NaN/Infinity spellings, sign, digits with one point,
 * exponent, spaces; limits as make_result()'s (weight and display scale). */
static int parse_numeric(const char *s, size_t n, dec_t *out) {
    trim(&s, &n);
    memset(out, 0, sizeof *out);
    if (word_eq(s, n, "nan")) {
        out->special = DEC_NAN;
        return 0;
    }
    if (word_eq(s, n, "infinity") || word_eq(s, n, "+infinity") || word_eq(s, n, "inf") || word_eq(s, n, "+inf")) {
        out->special = DEC_PINF;
        return 0;
    }
    if (word_eq(s, n, "-infinity") || word_eq(s, n, "-inf")) {
        out->special = DEC_NINF;
        return 0;
    }
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    size_t start = i;
    int64_t intdigits = 0, fracdigits = 0;
    int seen_point = 0;
    const char *first = NULL, *last = NULL;
    int64_t first_idx = 0, idx = 0;
    for (; i < n; i++) {
        char c = s[i];
        if (c == '.' && !seen_point) {
            seen_point = 1;
            continue;
        }
        if (!c_isdigit((unsigned char)c))
            break;
        if (seen_point)
            fracdigits++;
        else
            intdigits++;
        if (c != '0') {
            if (!first) {
                first = s + i;
                first_idx = idx;
            }
            last = s + i;
        }
        idx++;
    }
    if (intdigits + fracdigits == 0)
        return -1;
    (void)start;
    int64_t exp = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        int eneg = 0;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        if (i >= n || !c_isdigit((unsigned char)s[i]))
            return -1;
        for (; i < n && c_isdigit((unsigned char)s[i]); i++) {
            exp = exp * 10 + (s[i] - '0');
            if (exp >= INT_MAX / 2) /* PostgreSQL: "value overflows numeric format" */
                exp = INT_MAX / 2;
        }
        if (exp >= INT_MAX / 2)
            return -2;
        if (eneg)
            exp = -exp;
    }
    if (i != n)
        return -1;
    int64_t dscale = fracdigits - exp;
    if (dscale < 0)
        dscale = 0;
    if (dscale > 16383)
        return -2;
    if (!first) { /* zero */
        out->sign = 0;
        return 0;
    }
    out->sign = neg ? -1 : 1;
    out->dig = first;
    out->nch = (size_t)(last - first) + 1;
    out->weight = intdigits - 1 - first_idx + exp;
    /* make_result: the weight in base-10000 digits must fit an int16. */
    int64_t w = out->weight;
    int64_t w4 = w >= 0 ? w / 4 : -((-w + 3) / 4);
    if (w4 > 32767)
        return -2;
    return 0;
}

/* boolin: spaces, then a prefix of true/false/yes/no, on/off (two letters
 * at least), or exactly 1/0. */
static int parse_bool(const char *s, size_t n, int64_t *out) {
    trim(&s, &n);
    if (n == 0)
        return -1;
    static const struct {
        const char *w;
        size_t min;
        int v;
    } words[] = {{"true", 1, 1}, {"false", 1, 0}, {"yes", 1, 1}, {"no", 1, 0}, {"on", 2, 1}, {"off", 2, 0}};
    if (n == 1 && (s[0] == '1' || s[0] == '0')) {
        *out = s[0] == '1';
        return 0;
    }
    for (size_t k = 0; k < sizeof words / sizeof words[0]; k++) {
        size_t wl = strlen(words[k].w);
        if (n < words[k].min || n > wl)
            continue;
        size_t j = 0;
        while (j < n && c_tolower((unsigned char)s[j]) == words[k].w[j])
            j++;
        if (j == n) {
            *out = words[k].v;
            return 0;
        }
    }
    return -1;
}

/* uuid_in (string_to_uuid): 32 hex digits, optional braces, an optional
 * hyphen after any group of four digits; no spaces. */
static int parse_uuid(const char *s, size_t n, uint8_t out[16]) {
    size_t i = 0;
    int braces = 0;
    if (i < n && s[i] == '{') {
        braces = 1;
        i++;
    }
    for (int b = 0; b < 16; b++) {
        if (i + 2 > n || !c_isxdigit((unsigned char)s[i]) || !c_isxdigit((unsigned char)s[i + 1]))
            return -1;
        out[b] = (uint8_t)(hex_digit((unsigned char)s[i]) << 4 | hex_digit((unsigned char)s[i + 1]));
        i += 2;
        if (i < n && s[i] == '-' && (b % 2) == 1 && b < 15)
            i++;
    }
    if (braces) {
        if (i >= n || s[i] != '}')
            return -1;
        i++;
    }
    return i == n ? 0 : -1;
}

/* --- dates and times ---------------------------------------------------- */

#define USECS_PER_SEC INT64_C(1000000)
#define USECS_PER_DAY INT64_C(86400000000)
#define POSTGRES_EPOCH_JDATE 2451545
#define DATE_END_JULIAN INT64_C(2147483494)
#define MIN_TIMESTAMP INT64_C(-211813488000000000)
#define END_TIMESTAMP INT64_C(9223371331200000000)
#define DT_ERR_UNSUPPORTED -3

/* Days from 2000-01-01 to the proleptic Gregorian date (astronomical year). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468 - 10957;
}

static int is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static size_t read_digits(const char *s, size_t n, size_t i, int64_t *v, size_t maxd) {
    size_t j = i;
    *v = 0;
    while (j < n && c_isdigit((unsigned char)s[j]) && j - i < maxd) {
        *v = *v * 10 + (s[j] - '0');
        j++;
    }
    return j - i;
}

/* Fractional seconds as ParseFractionalSecond: rint(strtod(".ddd") * 1e6). */
static int64_t frac_usec(const char *s, size_t n) {
    if (n <= 6) {
        int64_t v = 0;
        for (size_t i = 0; i < 6; i++)
            v = v * 10 + (i < n ? s[i] - '0' : 0);
        return v;
    }
    char buf[40];
    if (n > sizeof buf - 3)
        n = sizeof buf - 3; /* digits past the 37th cannot move rint() */
    buf[0] = '0';
    buf[1] = '.';
    memcpy(buf + 2, s, n);
    buf[n + 2] = '\0';
    return (int64_t)rint(strtod(buf, NULL) * 1e6);
}

/* A numeric zone: +HH, +HHMM, +HH:MM, +HH:MM:SS (DecodeTimezone).
 * Returns seconds east of UTC via *east. */
static int parse_zone_num(const char *s, size_t n, size_t *i, int32_t *east) {
    size_t j = *i;
    int neg = s[j] == '-';
    j++;
    int64_t hr = 0, mn = 0, sc = 0;
    size_t d = read_digits(s, n, j, &hr, 6);
    if (d == 0)
        return -1;
    j += d;
    if (j < n && s[j] == ':') {
        size_t d2 = read_digits(s, n, j + 1, &mn, 2);
        if (d2 == 0)
            return -1;
        j += 1 + d2;
        if (j < n && s[j] == ':') {
            size_t d3 = read_digits(s, n, j + 1, &sc, 2);
            if (d3 == 0)
                return -1;
            j += 1 + d3;
        }
    } else if (d > 2) {
        if (d > 4)
            return -1;
        mn = hr % 100;
        hr /= 100;
    }
    if (hr > 15 || mn > 59 || sc > 59)
        return -2;
    *east = (int32_t)((hr * 3600 + mn * 60 + sc) * (neg ? -1 : 1));
    *i = j;
    return 0;
}

enum { DT_DATE, DT_TIME, DT_TIMETZ, DT_TS, DT_TSTZ };

/*
 * ISO 8601 date/time input, for every date/time kind:
 *   [date] [(T|spaces) time] [zone] [BC|AD]   with zone and era in any order
 * date "YYYY-MM-DD" (4+ digit year) or "YYYYMMDD"; time "HH:MM[:SS[.f]]";
 * zone Z, UTC, GMT or a numeric offset. Specials: infinity, -infinity,
 * epoch, allballs; now/today/tomorrow/yesterday are refused (PostgreSQL
 * would evaluate them at each change). Mirrors PostgreSQL's checks: real
 * calendar dates, no year 0, 24:00:00 only exactly, leap second 60, range
 * of date and timestamp. *v gets days (DT_DATE) or µs; *zone seconds west.
 */
static int parse_datetime(const char *s, size_t n, int kind, int64_t *v, int32_t *zone) {
    trim(&s, &n);
    *zone = 0;
    if (word_eq(s, n, "now") || word_eq(s, n, "today") || word_eq(s, n, "tomorrow") || word_eq(s, n, "yesterday"))
        return DT_ERR_UNSUPPORTED;
    int timeonly = kind == DT_TIME || kind == DT_TIMETZ;
    if (!timeonly) {
        if (word_eq(s, n, "infinity") || word_eq(s, n, "+infinity")) {
            *v = INT64_MAX;
            return 0;
        }
        if (word_eq(s, n, "-infinity")) {
            *v = INT64_MIN;
            return 0;
        }
        if (word_eq(s, n, "epoch")) {
            *v = kind == DT_DATE ? days_from_civil(1970, 1, 1) : days_from_civil(1970, 1, 1) * USECS_PER_DAY;
            return 0;
        }
    } else if (word_eq(s, n, "allballs")) {
        *v = 0;
        return 0;
    }
    size_t i = 0;
    int64_t y = 0, mo = 1, d = 1;
    int have_date = 0;
    /* A date starts with digits followed by '-', or is 8 digits. */
    size_t dl = 0;
    while (dl < n && c_isdigit((unsigned char)s[dl]))
        dl++;
    if (dl >= 4 && dl < n && s[dl] == '-') {
        if (dl > 9)
            return -1;
        read_digits(s, n, 0, &y, dl);
        i = dl + 1;
        size_t k = read_digits(s, n, i, &mo, 2);
        if (k == 0 || i + k >= n || s[i + k] != '-')
            return -1;
        i += k + 1;
        k = read_digits(s, n, i, &d, 2);
        if (k == 0)
            return -1;
        i += k;
        have_date = 1;
    } else if (dl == 8 && !timeonly) {
        read_digits(s, n, 0, &y, 4);
        read_digits(s, n, 4, &mo, 2);
        read_digits(s, n, 6, &d, 2);
        i = 8;
        have_date = 1;
    } else if (!timeonly) {
        return -1;
    }
    if (have_date && i < n && !(s[i] == 'T' || s[i] == 't' || c_isspace((unsigned char)s[i])))
        return -1;
    /* time */
    int64_t hh = 0, mi = 0, ss = 0, fs = 0;
    int have_time = 0;
    if (have_date && i < n && (s[i] == 'T' || s[i] == 't')) {
        i++;
        if (i >= n || !c_isdigit((unsigned char)s[i]))
            return -1;
    }
    while (i < n && c_isspace((unsigned char)s[i]))
        i++;
    if (i < n && c_isdigit((unsigned char)s[i])) {
        size_t k = read_digits(s, n, i, &hh, 2);
        i += k;
        if (i >= n || s[i] != ':')
            return -1;
        k = read_digits(s, n, i + 1, &mi, 2);
        if (k == 0)
            return -1;
        i += 1 + k;
        if (i < n && s[i] == ':') {
            k = read_digits(s, n, i + 1, &ss, 2);
            if (k == 0)
                return -1;
            i += 1 + k;
            if (i < n && s[i] == '.') {
                size_t f0 = ++i;
                while (i < n && c_isdigit((unsigned char)s[i]))
                    i++;
                if (i == f0)
                    return -1;
                fs = frac_usec(s + f0, i - f0);
            }
        }
        if (i < n && c_isdigit((unsigned char)s[i]))
            return -1;
        have_time = 1;
    }
    if (timeonly && !have_time)
        return -1;
    /* zone and era, either order */
    int bc = 0, have_zone = 0, have_era = 0;
    int32_t east = 0;
    for (;;) {
        while (i < n && c_isspace((unsigned char)s[i]))
            i++;
        if (i >= n)
            break;
        if ((s[i] == '+' || s[i] == '-') && !have_zone && have_time) {
            int rc = parse_zone_num(s, n, &i, &east);
            if (rc)
                return rc;
            have_zone = 1;
            continue;
        }
        size_t w = i;
        while (w < n && c_isalpha((unsigned char)s[w]))
            w++;
        if (w == i || (w < n && !c_isspace((unsigned char)s[w]) && s[w] != '+' && s[w] != '-'))
            return -1;
        if (!have_zone && have_time && (word_eq(s + i, w - i, "z") || word_eq(s + i, w - i, "utc") ||
                                        word_eq(s + i, w - i, "gmt"))) {
            have_zone = 1;
            east = 0;
        } else if (!have_era && (word_eq(s + i, w - i, "bc") || word_eq(s + i, w - i, "ad"))) {
            have_era = 1;
            bc = c_tolower((unsigned char)s[i]) == 'b';
        } else {
            return -1;
        }
        i = w;
    }
    /* DecodeTime's checks */
    if (mi > 59 || ss > 60 || hh > 24 || (hh == 24 && (mi > 0 || ss > 0 || fs > 0)) || fs > USECS_PER_SEC)
        return -2;
    int64_t tod = ((hh * 60 + mi) * 60 + ss) * USECS_PER_SEC + fs;
    if (timeonly) {
        if (tod > USECS_PER_DAY)
            return -2;
        *v = tod;
        *zone = -east;
        return 0;
    }
    if (y == 0 || mo < 1 || mo > 12 || d < 1)
        return -2;
    int64_t ay = bc ? 1 - y : y;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (d > mdays[mo - 1] + (mo == 2 && is_leap(ay)))
        return -2;
    int64_t days = days_from_civil(ay, (int)mo, (int)d);
    int64_t julian = days + POSTGRES_EPOCH_JDATE;
    if (julian < 0 || julian >= DATE_END_JULIAN)
        return -2;
    if (kind == DT_DATE) {
        *v = days;
        return 0;
    }
    if (days > END_TIMESTAMP / USECS_PER_DAY + 1)
        return -2;
    int64_t ts = days * USECS_PER_DAY + tod;
    if (kind == DT_TSTZ)
        ts -= (int64_t)east * USECS_PER_SEC;
    if (ts < MIN_TIMESTAMP || ts >= END_TIMESTAMP)
        return -2;
    *v = ts;
    return 0;
}

/* ------------------------------------------------------------------------
 * Typed values: parse (filter operands and cells alike) and compare
 * ---------------------------------------------------------------------- */

static const char *kind_label(kind_t k, int sub) {
    switch (k) {
    case K_INT: return sub == 16 ? "smallint" : sub == 32 ? "integer" : "bigint";
    case K_FLOAT: return sub == 4 ? "real" : "double precision";
    case K_NUMERIC: return "numeric";
    case K_BOOL: return "boolean";
    case K_UUID: return "uuid";
    case K_DATE: return "date";
    case K_TIME: return "time without time zone";
    case K_TIMETZ: return "time with time zone";
    case K_TS: return "timestamp without time zone";
    case K_TSTZ: return "timestamp with time zone";
    default: return "text";
    }
}

/* bpchar compares without its padding (bpcharcmp). */
static size_t bpchar_len(const char *s, size_t n) {
    while (n > 0 && s[n - 1] == ' ')
        n--;
    return n;
}

/* Parses s[0..n) as a value of the kind. For cells, err is NULL; for filter
 * operands s must outlive the value (numerics point into it). A bpchar's
 * length excludes its padding, so comparisons need not trim it again.
 * Returns 0, or -1 with a PostgreSQL-like message in err. */
static int tval_parse(kind_t kind, int sub, const char *s, size_t n, tval_t *out, char *err, size_t errlen) {
    int rc = 0;
    memset(out, 0, sizeof *out);
    out->s = s;
    out->len = n;
    switch (kind) {
    case K_INT: rc = parse_int(s, n, sub, &out->u.i); break;
    case K_FLOAT: rc = parse_float(s, n, sub == 4, err != NULL, &out->u.f); break;
    case K_NUMERIC: rc = parse_numeric(s, n, &out->u.dec); break;
    case K_BOOL: rc = parse_bool(s, n, &out->u.i); break;
    case K_UUID: rc = parse_uuid(s, n, out->u.uuid); break;
    case K_DATE: rc = parse_datetime(s, n, DT_DATE, &out->u.i, &out->u.tz.zone); break;
    case K_TS: rc = parse_datetime(s, n, DT_TS, &out->u.i, &out->u.tz.zone); break;
    case K_TSTZ: rc = parse_datetime(s, n, DT_TSTZ, &out->u.i, &out->u.tz.zone); break;
    case K_TIME: rc = parse_datetime(s, n, DT_TIME, &out->u.i, &out->u.tz.zone); break;
    case K_TIMETZ: {
        int64_t t;
        int32_t z;
        rc = parse_datetime(s, n, DT_TIMETZ, &t, &z);
        if (rc == 0) {
            out->u.tz.t = t;
            out->u.tz.zone = z;
        }
        break;
    }
    default:
        /* text kinds and opaque: the bytes are the value */
        if (kind == K_BPCHAR)
            out->len = bpchar_len(s, n);
        if (kind == K_TEXT && sub == SUB_NAME && err && n > NAME_MAX_BYTES) {
            /* namein clips to NAMEDATALEN - 1 bytes at a character boundary */
            size_t k = 0;
            while (k < n) {
                size_t l = u8len((const unsigned char *)s + k, n - k);
                if (k + l > NAME_MAX_BYTES)
                    break;
                k += l;
            }
            out->len = k;
        }
        return 0;
    }
    if (rc == 0)
        return 0;
    if (err) {
        int shown = n > 64 ? 64 : (int)n;
        if (rc == -2)
            seterr(err, errlen, "value \"%.*s\" is out of range for type %s", shown, s, kind_label(kind, sub));
        else if (rc == DT_ERR_UNSUPPORTED)
            seterr(err, errlen, "\"%.*s\" is not supported in filters: give a date/time value", shown, s);
        else
            seterr(err, errlen, "invalid input syntax for type %s: \"%.*s\"", kind_label(kind, sub), shown, s);
    }
    return -1;
}

static int cmp_i64(int64_t a, int64_t b) { return a < b ? -1 : a > b; }

/* float8_cmp_internal: NaN equals NaN and sorts above everything. */
static int cmp_float(double a, double b) {
    if (isnan(a))
        return isnan(b) ? 0 : 1;
    if (isnan(b))
        return -1;
    return a < b ? -1 : a > b;
}

/* The k-th significant digit of a decimal view, '0' past its end. */
static char dec_digit(const dec_t *d, size_t *pos) {
    while (*pos < d->nch && d->dig[*pos] == '.')
        (*pos)++;
    if (*pos >= d->nch)
        return '0';
    return d->dig[(*pos)++];
}

static int dec_more(const dec_t *d, size_t pos) {
    while (pos < d->nch && d->dig[pos] == '.')
        pos++;
    return pos < d->nch;
}

/* cmp_numerics: -Infinity < finite < Infinity < NaN; NaN = NaN. */
static int cmp_numeric(const dec_t *a, const dec_t *b) {
    static const int rank[] = {1, 2, 0, 3}; /* finite, +inf, -inf, nan */
    if (a->special || b->special) {
        int ra = rank[a->special], rb = rank[b->special];
        return ra < rb ? -1 : ra > rb;
    }
    if (a->sign != b->sign)
        return a->sign < b->sign ? -1 : 1;
    if (a->sign == 0)
        return 0;
    int mag;
    if (a->weight != b->weight) {
        mag = a->weight > b->weight ? 1 : -1;
    } else {
        size_t pa = 0, pb = 0;
        mag = 0;
        while (dec_more(a, pa) || dec_more(b, pb)) {
            char ca = dec_digit(a, &pa), cb = dec_digit(b, &pb);
            if (ca != cb) {
                mag = ca > cb ? 1 : -1;
                break;
            }
        }
    }
    return a->sign > 0 ? mag : -mag;
}

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn) {
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c)
        return c < 0 ? -1 : 1;
    return an < bn ? -1 : an > bn;
}

static int cmp_fold(const char *a, size_t an, const char *b, size_t bn) {
    size_t m = an < bn ? an : bn;
    for (size_t i = 0; i < m; i++) {
        int ca = c_tolower((unsigned char)a[i]), cb = c_tolower((unsigned char)b[i]);
        if (ca != cb)
            return ca < cb ? -1 : 1;
    }
    return an < bn ? -1 : an > bn;
}

/* timetz_cmp_internal: by UTC instant, then by zone. */
static int cmp_timetz(const tval_t *a, const tval_t *b) {
    int64_t ta = a->u.tz.t + (int64_t)a->u.tz.zone * USECS_PER_SEC;
    int64_t tb = b->u.tz.t + (int64_t)b->u.tz.zone * USECS_PER_SEC;
    if (ta != tb)
        return ta < tb ? -1 : 1;
    return a->u.tz.zone > b->u.tz.zone ? 1 : a->u.tz.zone < b->u.tz.zone ? -1 : 0;
}

/* Work accounting for cdc_filter_match_budget: *left units remain. A
 * charge larger than what remains empties the budget and fails, so callers
 * charge before the work they can size and stop there. */
static inline int charge(uint64_t *left, uint64_t units) {
    if (*left < units) {
        *left = 0;
        return -1;
    }
    *left -= units;
    return 0;
}

static int kind_is_bytes(kind_t k) { return k == K_TEXT || k == K_OPAQUE || k == K_BPCHAR || k == K_CITEXT; }

/* What reading a cell of n bytes as a value of the kind costs: the typed
 * kinds are parsed (linear in the cell, which a customer controls: a
 * 512 KiB "number" must cost what it costs), bpchar's padding is scanned
 * from the end, the other text kinds are their bytes as they are. */
static uint64_t cell_units(kind_t kind, size_t n) {
    return kind == K_TEXT || kind == K_OPAQUE || kind == K_CITEXT ? 0 : n;
}

/* A cell as a value of the kind, parsed once however many operands it is
 * compared with (an `in` list has up to 100). Returns 0, or -1 if the cell
 * is not a value of the kind (then no comparison is true). */
static int cell_value(kind_t kind, int sub, const char *s, size_t n, tval_t *out) {
    if (kind == K_TEXT || kind == K_OPAQUE || kind == K_CITEXT) {
        out->s = s; /* nothing else of a text value is ever read */
        out->len = n;
        return 0;
    }
    return tval_parse(kind, sub, s, n, out, NULL, 0);
}

/* An upper bound of the work cmp_tval does on a cell of n bytes and operand
 * v, known before the cell is read: the bytes it may compare (numerics are
 * charged per comparison instead, digits being known only once parsed). */
static uint64_t cmp_units(kind_t kind, size_t n, const tval_t *v) {
    return kind_is_bytes(kind) ? (uint64_t)(n < v->len ? n : v->len) : 0;
}

/* The digits cmp_numeric may walk. */
static uint64_t numeric_units(const tval_t *a, const tval_t *b) {
    return a->u.dec.nch > b->u.dec.nch ? a->u.dec.nch : b->u.dec.nch;
}

/* Compares a cell's value (cell_value) with a parsed operand. */
static int cmp_tval(kind_t kind, const tval_t *c, const tval_t *v) {
    switch (kind) {
    case K_TEXT:
    case K_OPAQUE:
    case K_BPCHAR: return cmp_bytes(c->s, c->len, v->s, v->len);
    case K_CITEXT: return cmp_fold(c->s, c->len, v->s, v->len);
    case K_FLOAT: return cmp_float(c->u.f, v->u.f);
    case K_NUMERIC: return cmp_numeric(&c->u.dec, &v->u.dec);
    case K_UUID: {
        int r = memcmp(c->u.uuid, v->u.uuid, 16);
        return r < 0 ? -1 : r > 0;
    }
    case K_TIMETZ: return cmp_timetz(c, v);
    default: return cmp_i64(c->u.i, v->u.i);
    }
}

/* ------------------------------------------------------------------------
 * LIKE: PostgreSQL's MatchText semantics (UTF-8: '_' is one character,
 * '\' escapes the next byte), as an iterative matcher that backtracks only
 * to the last '%': it never recurses and never allocates.
 *
 * Why backtracking to the last '%' only is enough, and why it is
 * O(text x pattern): the pieces between '%'s are tried at increasing text
 * positions, so when a later '%' is reached the pattern before it has
 * matched the shortest prefix it can; any other way of matching it ends
 * further right, where the new '%' could skip to anyway, so earlier '%'s
 * never need retrying. star_t only moves forward (it restarts at ti, never
 * behind it), so each text position starts at most one attempt, and an
 * attempt runs at most to the next '%': "%a%a%a%b" over a long text is
 * linear, "%aaaa...b" is text x pattern, nothing is worse.
 * Each loop step, and each byte skipped looking for a piece's first
 * literal, costs one unit of *left; -1 when it runs out.
 * ---------------------------------------------------------------------- */

static int like_match(const char *t, size_t tn, const char *p, size_t pn, int fold, uint64_t *left) {
    size_t ti = 0, pi = 0, star_p = (size_t)-1, star_t = 0;
    /* Steps are counted on the way and checked at each backtrack: between
     * two backtracks pi only moves forward, so a run is at most the
     * pattern's length past the budget, and the step loop stays lean. */
    uint64_t steps = 0, l = *left;
    while (ti < tn) {
        steps++;
        if (pi < pn) {
            char pc = p[pi];
            if (pc == '%') {
                star_p = ++pi;
                star_t = ti;
                if (pi == pn)
                    break; /* a trailing '%' takes the rest of the text */
                continue;
            }
            if (pc == '_') {
                ti += (unsigned char)t[ti] < 0x80 ? 1 : u8len((const unsigned char *)t + ti, tn - ti);
                pi++;
                continue;
            }
            size_t adv = 1;
            if (pc == '\\' && pi + 1 < pn) {
                pc = p[pi + 1];
                adv = 2;
            }
            int a = (unsigned char)pc, b = (unsigned char)t[ti];
            if (fold) {
                a = c_tolower(a);
                b = c_tolower(b);
            }
            if (a == b) {
                ti++;
                pi += adv;
                continue;
            }
        }
        if (star_p == (size_t)-1)
            break;
        if (steps > l)
            goto out;
        star_t += (unsigned char)t[star_t] < 0x80 ? 1 : u8len((const unsigned char *)t + star_t, tn - star_t);
        /* An attempt where the text lacks the piece's first literal fails
         * on its first step: find the next one in one scan, at one step per
         * byte skipped. Only for an ASCII literal, whose every occurrence is
         * a character boundary (no UTF-8 sequence holds a byte < 0x80). */
        unsigned char lit = (unsigned char)p[star_p];
        if (lit == '\\' && star_p + 1 < pn)
            lit = (unsigned char)p[star_p + 1];
        else if (lit == '_' || lit == '%')
            lit = 0x80;
        if (lit < 0x80 && star_t < tn) {
            size_t from = star_t;
            if (!fold) {
                const char *q = memchr(t + star_t, lit, tn - star_t);
                star_t = q ? (size_t)(q - t) : tn;
            } else {
                int lc = c_tolower(lit);
                while (star_t < tn && c_tolower((unsigned char)t[star_t]) != lc)
                    star_t++;
            }
            steps += star_t - from;
        }
        ti = star_t;
        pi = star_p;
    }
    while (pi < pn && p[pi] == '%') {
        steps++;
        pi++;
    }
    if (steps > l)
        goto out;
    *left = l - steps;
    return pi == pn && (ti >= tn || star_p == pn);
out:
    *left = 0;
    return -1;
}

/* A pattern whose last character is an unescaped '\': PostgreSQL raises
 * "LIKE pattern must not end with escape character" when it gets there. */
static int like_ends_with_escape(const char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (p[i] == '\\') {
            if (i + 1 >= n)
                return 1;
            i += 2;
        } else {
            i++;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Regular expressions: a PostgreSQL ARE subset compiled to a Thompson NFA.
 * ---------------------------------------------------------------------- */

enum {
    RI_CHAR, RI_ANY, RI_ANYNL, RI_SET, RI_SPLIT, RI_JMP, RI_MATCH,
    RI_BOL, RI_EOL, RI_BOS, RI_EOS, RI_WBEG, RI_WEND, RI_WB, RI_NWB,
};

typedef struct {
    uint8_t op;
    uint32_t a, b; /* CHAR: the code point and its other case; SET: index; SPLIT/JMP: targets */
} rinst_t;

typedef struct {
    uint32_t lo, hi;
} rrange_t;

/* Character class bits (ASCII only, as under the C collation). */
enum {
    CC_ALPHA = 1 << 0, CC_DIGIT = 1 << 1, CC_ALNUM = 1 << 2, CC_UPPER = 1 << 3, CC_LOWER = 1 << 4,
    CC_SPACE = 1 << 5, CC_PUNCT = 1 << 6, CC_PRINT = 1 << 7, CC_GRAPH = 1 << 8, CC_CNTRL = 1 << 9,
    CC_XDIGIT = 1 << 10, CC_BLANK = 1 << 11, CC_WORD = 1 << 12,
};

typedef struct {
    uint8_t neg;
    uint32_t classes;    /* CC_* the set contains */
    uint32_t notclasses; /* CC_* whose complement the set contains (\D \S \W in brackets) */
    size_t r0, nr;       /* ranges[r0 .. r0 + nr) */
    uint64_t ascii[2];   /* set_match's answer for each ASCII character, made at compile */
} rset_t;

struct re_prog {
    rinst_t *code;
    size_t n;
    rset_t *sets;
    size_t nsets;
    rrange_t *ranges;
    size_t nranges;
    uint8_t icase, nlstop, nlanchor;
    uint8_t anchored; /* starts with \A, or ^ without newline anchors: can only match at 0 */
    uint8_t first_any; /* a match may start with any character, or consume none */
    uint64_t first[2]; /* else: the ASCII bytes a match may start with (non-ASCII: always tried) */
};

static int cc_test(uint32_t cls, uint32_t c) {
    if (c > 127)
        return 0;
    int ch = (int)c;
    if ((cls & CC_ALPHA) && c_isalpha(ch)) return 1;
    if ((cls & CC_DIGIT) && c_isdigit(ch)) return 1;
    if ((cls & CC_ALNUM) && c_isalnum(ch)) return 1;
    if ((cls & CC_UPPER) && ch >= 'A' && ch <= 'Z') return 1;
    if ((cls & CC_LOWER) && ch >= 'a' && ch <= 'z') return 1;
    if ((cls & CC_SPACE) && c_isspace(ch)) return 1;
    if ((cls & CC_PUNCT) && ch > 32 && ch < 127 && !c_isalnum(ch)) return 1;
    if ((cls & CC_PRINT) && ch >= 32 && ch < 127) return 1;
    if ((cls & CC_GRAPH) && ch > 32 && ch < 127) return 1;
    if ((cls & CC_CNTRL) && (ch < 32 || ch == 127)) return 1;
    if ((cls & CC_XDIGIT) && c_isxdigit(ch)) return 1;
    if ((cls & CC_BLANK) && (ch == ' ' || ch == '\t')) return 1;
    if ((cls & CC_WORD) && (c_isalnum(ch) || ch == '_')) return 1;
    return 0;
}

static int notcc_test(uint32_t notcls, uint32_t c) {
    for (uint32_t bit = 1; bit <= CC_WORD; bit <<= 1)
        if ((notcls & bit) && !cc_test(bit, c))
            return 1;
    return 0;
}

static uint32_t other_case(uint32_t c) {
    if (c < 128) {
        int u = c_toupper((int)c), l = c_tolower((int)c);
        return (uint32_t)(u != (int)c ? u : l);
    }
    return c;
}

static int set_has(const re_prog_t *re, const rset_t *st, uint32_t c) {
    if (cc_test(st->classes, c) || notcc_test(st->notclasses, c))
        return 1;
    for (size_t i = 0; i < st->nr; i++) {
        const rrange_t *r = &re->ranges[st->r0 + i];
        if (c >= r->lo && c <= r->hi)
            return 1;
    }
    return 0;
}

/* The set's answer for c, from its classes and ranges. */
static int set_match_slow(const re_prog_t *re, const rset_t *st, uint32_t c) {
    int m = set_has(re, st, c);
    if (!m && re->icase) {
        uint32_t o = other_case(c);
        if (o != c)
            m = set_has(re, st, o);
    }
    if (st->neg)
        return !m && !(re->nlstop && c == '\n');
    return m;
}

/* Most text is ASCII: one bit test instead of classes and a range scan. */
static int set_match(const re_prog_t *re, const rset_t *st, uint32_t c) {
    if (c < 128)
        return (int)((st->ascii[c >> 6] >> (c & 63)) & 1);
    return set_match_slow(re, st, c);
}

/* Fills every set's ASCII answers; icase and nlstop must be final. */
static void set_fill_ascii(re_prog_t *re) {
    for (size_t i = 0; i < re->nsets; i++) {
        rset_t *st = &re->sets[i];
        st->ascii[0] = st->ascii[1] = 0;
        for (uint32_t c = 0; c < 128; c++)
            if (set_match_slow(re, st, c))
                st->ascii[c >> 6] |= UINT64_C(1) << (c & 63);
    }
}

/* --- parser: pattern -> AST ------------------------------------------ */

enum { RN_EMPTY, RN_CHAR, RN_ANY, RN_SET, RN_CAT, RN_ALT, RN_REP, RN_ASSERT };

typedef struct {
    uint8_t kind;
    uint8_t aop;    /* RN_ASSERT: RI_BOL.. */
    int32_t first;  /* CAT/ALT: first child; REP: the child */
    int32_t last;   /* CAT/ALT: last child (for appending) */
    int32_t next;   /* next sibling */
    uint32_t c;     /* RN_CHAR */
    int32_t set;    /* RN_SET */
    int32_t min, max; /* RN_REP; max -1 = unbounded */
} rnode_t;

typedef struct {
    const uint32_t *p;
    size_t n, i;
    rnode_t *nodes;
    size_t nn, ncap;
    re_prog_t *re;
    size_t scap, rcap;
    int depth;
    const char *err;
} rparse_t;

static int32_t rn_new(rparse_t *ps, uint8_t kind) {
    if (ps->nn == ps->ncap) {
        ps->ncap = ps->ncap ? ps->ncap * 2 : 32;
        ps->nodes = xrealloc(ps->nodes, ps->ncap * sizeof *ps->nodes);
    }
    rnode_t *nd = &ps->nodes[ps->nn];
    memset(nd, 0, sizeof *nd);
    nd->kind = kind;
    nd->first = nd->last = nd->next = -1;
    return (int32_t)ps->nn++;
}

static void rn_append(rparse_t *ps, int32_t parent, int32_t child) {
    rnode_t *p = &ps->nodes[parent];
    if (p->first < 0)
        p->first = child;
    else
        ps->nodes[p->last].next = child;
    ps->nodes[parent].last = child;
}

static int32_t rset_new(rparse_t *ps) {
    re_prog_t *re = ps->re;
    if (re->nsets == ps->scap) {
        ps->scap = ps->scap ? ps->scap * 2 : 8;
        re->sets = xrealloc(re->sets, ps->scap * sizeof *re->sets);
    }
    rset_t *st = &re->sets[re->nsets];
    memset(st, 0, sizeof *st);
    st->r0 = re->nranges;
    return (int32_t)re->nsets++;
}

/* Ranges of a set are appended while it is the newest set. */
static void rset_range(rparse_t *ps, int32_t set, uint32_t lo, uint32_t hi) {
    re_prog_t *re = ps->re;
    if (re->nranges == ps->rcap) {
        ps->rcap = ps->rcap ? ps->rcap * 2 : 16;
        re->ranges = xrealloc(re->ranges, ps->rcap * sizeof *re->ranges);
    }
    re->ranges[re->nranges].lo = lo;
    re->ranges[re->nranges].hi = hi;
    re->nranges++;
    re->sets[set].nr++;
}

static int rp_peek(const rparse_t *ps, size_t ahead) {
    return ps->i + ahead < ps->n ? (int)ps->p[ps->i + ahead] : -1;
}

static int rp_fail(rparse_t *ps, const char *msg) {
    if (!ps->err)
        ps->err = msg;
    return -1;
}

/* Hex digits for \x (1..8), \u (exactly 4), \U (exactly 8). */
static int rp_hex(rparse_t *ps, size_t minc, size_t maxc, uint32_t *out) {
    uint64_t v = 0;
    size_t k = 0;
    while (k < maxc && ps->i < ps->n && ps->p[ps->i] < 128 && c_isxdigit((int)ps->p[ps->i])) {
        v = v * 16 + (uint64_t)hex_digit((unsigned char)ps->p[ps->i]);
        ps->i++;
        k++;
    }
    if (k < minc)
        return rp_fail(ps, "invalid escape \\ sequence");
    if (v > 0x10FFFF)
        return rp_fail(ps, "invalid escape \\ sequence");
    *out = (uint32_t)v;
    return 0;
}

/* One escape after '\' (already consumed). Sets *chr for a character, or
 * *cls / *notcls for a class shorthand, or *assert for a constraint.
 * Returns 0 or -1. */
static int rp_escape(rparse_t *ps, int in_bracket, uint32_t *chr, uint32_t *cls, uint32_t *notcls, int *assert) {
    *cls = *notcls = 0;
    *assert = -1;
    if (ps->i >= ps->n)
        return rp_fail(ps, "invalid escape \\ sequence");
    uint32_t e = ps->p[ps->i++];
    switch (e) {
    case 'a': *chr = 7; return 0;
    case 'b': *chr = 8; return 0;
    case 'B': *chr = '\\'; return 0;
    case 'e': *chr = 27; return 0;
    case 'f': *chr = 12; return 0;
    case 'n': *chr = 10; return 0;
    case 'r': *chr = 13; return 0;
    case 't': *chr = 9; return 0;
    case 'v': *chr = 11; return 0;
    case 'c':
        if (ps->i >= ps->n)
            return rp_fail(ps, "invalid escape \\ sequence");
        *chr = ps->p[ps->i++] & 037;
        return 0;
    case 'x': return rp_hex(ps, 1, 8, chr);
    case 'u': return rp_hex(ps, 4, 4, chr);
    case 'U': return rp_hex(ps, 8, 8, chr);
    case 'd': *cls = CC_DIGIT; return 0;
    case 's': *cls = CC_SPACE; return 0;
    case 'w': *cls = CC_WORD; return 0;
    case 'D': *notcls = CC_DIGIT; return 0;
    case 'S': *notcls = CC_SPACE; return 0;
    case 'W': *notcls = CC_WORD; return 0;
    default: break;
    }
    if (!in_bracket) {
        switch (e) {
        case 'A': *assert = RI_BOS; return 0;
        case 'Z': *assert = RI_EOS; return 0;
        case 'm': *assert = RI_WBEG; return 0;
        case 'M': *assert = RI_WEND; return 0;
        case 'y': *assert = RI_WB; return 0;
        case 'Y': *assert = RI_NWB; return 0;
        default: break;
        }
    }
    if (e >= '0' && e <= '9')
        return rp_fail(ps, "back-references and octal escapes are not supported");
    if (e < 128 && c_isalnum((int)e))
        return rp_fail(ps, "invalid escape \\ sequence");
    *chr = e;
    return 0;
}

static const struct {
    const char *name;
    uint32_t bit;
} class_names[] = {
    {"alpha", CC_ALPHA}, {"digit", CC_DIGIT}, {"alnum", CC_ALNUM}, {"upper", CC_UPPER}, {"lower", CC_LOWER},
    {"space", CC_SPACE}, {"punct", CC_PUNCT}, {"print", CC_PRINT}, {"graph", CC_GRAPH}, {"cntrl", CC_CNTRL},
    {"xdigit", CC_XDIGIT}, {"blank", CC_BLANK}, {"word", CC_WORD},
};

/* A bracket expression, '[' consumed. */
static int32_t rp_bracket(rparse_t *ps) {
    int32_t node = rn_new(ps, RN_SET);
    int32_t set = rset_new(ps);
    ps->nodes[node].set = set;
    if (rp_peek(ps, 0) == '^') {
        ps->re->sets[set].neg = 1;
        ps->i++;
    }
    int first = 1;
    for (;;) {
        int c = rp_peek(ps, 0);
        if (c < 0)
            return rp_fail(ps, "brackets [] not balanced");
        if (c == ']' && !first) {
            ps->i++;
            break;
        }
        first = 0;
        if (c == '[' && (rp_peek(ps, 1) == ':' || rp_peek(ps, 1) == '.' || rp_peek(ps, 1) == '=')) {
            int kind = rp_peek(ps, 1);
            if (kind != ':')
                return rp_fail(ps, "collating elements and equivalence classes are not supported");
            size_t s = ps->i + 2, e = s;
            while (e + 1 < ps->n && !(ps->p[e] == ':' && ps->p[e + 1] == ']'))
                e++;
            if (e + 1 >= ps->n)
                return rp_fail(ps, "brackets [] not balanced");
            uint32_t bit = 0;
            for (size_t k = 0; k < sizeof class_names / sizeof class_names[0] && !bit; k++) {
                size_t nl = strlen(class_names[k].name);
                if (e - s != nl)
                    continue;
                size_t j = 0;
                while (j < nl && ps->p[s + j] == (uint32_t)(unsigned char)class_names[k].name[j])
                    j++;
                if (j == nl)
                    bit = class_names[k].bit;
            }
            if (!bit)
                return rp_fail(ps, "invalid character class");
            /* Under case folding upper and lower mean alpha, as in PostgreSQL. */
            if (ps->re->icase && (bit == CC_UPPER || bit == CC_LOWER))
                bit = CC_ALPHA;
            ps->re->sets[set].classes |= bit;
            ps->i = e + 2;
            if (rp_peek(ps, 0) == '-' && rp_peek(ps, 1) != ']' && rp_peek(ps, 1) >= 0)
                return rp_fail(ps, "invalid character range");
            continue;
        }
        uint32_t lo, hi, cls, notcls;
        int assert;
        ps->i++;
        if (c == '\\') {
            if (rp_escape(ps, 1, &lo, &cls, &notcls, &assert))
                return -1;
            if (cls || notcls) {
                ps->re->sets[set].classes |= cls;
                ps->re->sets[set].notclasses |= notcls;
                if (rp_peek(ps, 0) == '-' && rp_peek(ps, 1) != ']' && rp_peek(ps, 1) >= 0)
                    return rp_fail(ps, "invalid character range");
                continue;
            }
        } else {
            lo = (uint32_t)c;
        }
        hi = lo;
        if (rp_peek(ps, 0) == '-' && rp_peek(ps, 1) >= 0 && rp_peek(ps, 1) != ']') {
            ps->i++;
            int c2 = rp_peek(ps, 0);
            ps->i++;
            if (c2 == '\\') {
                if (rp_escape(ps, 1, &hi, &cls, &notcls, &assert))
                    return -1;
                if (cls || notcls)
                    return rp_fail(ps, "invalid character range");
            } else if (c2 == '[' && (rp_peek(ps, 0) == ':' || rp_peek(ps, 0) == '.' || rp_peek(ps, 0) == '=')) {
                return rp_fail(ps, "invalid character range");
            } else {
                hi = (uint32_t)c2;
            }
            if (lo > hi)
                return rp_fail(ps, "invalid character range");
        }
        rset_range(ps, set, lo, hi);
    }
    return node;
}

static int32_t rp_alt(rparse_t *ps);

static int rp_is_quant(const rparse_t *ps) {
    int c = rp_peek(ps, 0);
    if (c == '*' || c == '+' || c == '?')
        return 1;
    return c == '{' && rp_peek(ps, 1) >= '0' && rp_peek(ps, 1) <= '9';
}

/* An atom; *is_assert tells a constraint (which takes no quantifier). */
static int32_t rp_atom(rparse_t *ps, int *is_assert) {
    *is_assert = 0;
    uint32_t c = ps->p[ps->i++];
    int32_t nd;
    switch (c) {
    case '(': {
        if (rp_peek(ps, 0) == '?') {
            int c2 = rp_peek(ps, 1);
            if (c2 == '=' || c2 == '!' || c2 == '<')
                return rp_fail(ps, "lookahead and lookbehind constraints are not supported");
            if (c2 != ':')
                return rp_fail(ps, "invalid embedded option");
            ps->i += 2;
        }
        if (++ps->depth > RE_MAX_DEPTH)
            return rp_fail(ps, "regular expression is too complex");
        nd = rp_alt(ps);
        if (nd < 0)
            return -1;
        if (rp_peek(ps, 0) != ')')
            return rp_fail(ps, "parentheses () not balanced");
        ps->i++;
        ps->depth--;
        return nd;
    }
    case ')': return rp_fail(ps, "parentheses () not balanced");
    case '.': return rn_new(ps, RN_ANY);
    case '[': return rp_bracket(ps);
    case '^':
    case '$':
        nd = rn_new(ps, RN_ASSERT);
        ps->nodes[nd].aop = c == '^' ? RI_BOL : RI_EOL;
        *is_assert = 1;
        return nd;
    case '*':
    case '+':
    case '?': return rp_fail(ps, "quantifier operand invalid");
    case '{':
        if (rp_peek(ps, 0) >= '0' && rp_peek(ps, 0) <= '9')
            return rp_fail(ps, "quantifier operand invalid");
        break;
    case '\\': {
        uint32_t chr = 0, cls, notcls;
        int assert;
        if (rp_escape(ps, 0, &chr, &cls, &notcls, &assert))
            return -1;
        if (assert >= 0) {
            nd = rn_new(ps, RN_ASSERT);
            ps->nodes[nd].aop = (uint8_t)assert;
            *is_assert = 1;
            return nd;
        }
        if (cls || notcls) {
            nd = rn_new(ps, RN_SET);
            int32_t set = rset_new(ps);
            ps->nodes[nd].set = set;
            ps->re->sets[set].classes = cls;
            ps->re->sets[set].notclasses = notcls;
            return nd;
        }
        c = chr;
        break;
    }
    default: break;
    }
    nd = rn_new(ps, RN_CHAR);
    ps->nodes[nd].c = c;
    return nd;
}

static int rp_bound(rparse_t *ps, int32_t *v) {
    int64_t x = 0;
    size_t k = 0;
    while (ps->i < ps->n && ps->p[ps->i] >= '0' && ps->p[ps->i] <= '9') {
        if (x <= RE_DUPMAX)
            x = x * 10 + (ps->p[ps->i] - '0');
        ps->i++;
        k++;
    }
    if (k == 0)
        return 0;
    if (x > RE_DUPMAX)
        return rp_fail(ps, "invalid repetition count(s)");
    *v = (int32_t)x;
    return 1;
}

static int32_t rp_quantified(rparse_t *ps) {
    int is_assert;
    int32_t atom = rp_atom(ps, &is_assert);
    if (atom < 0 || !rp_is_quant(ps))
        return atom;
    if (is_assert)
        return rp_fail(ps, "quantifier operand invalid");
    int32_t min = 0, max = -1;
    int c = (int)ps->p[ps->i++];
    if (c == '+')
        min = 1;
    else if (c == '?')
        max = 1;
    else if (c == '{') {
        int r = rp_bound(ps, &min);
        if (r < 0)
            return -1;
        max = min;
        if (rp_peek(ps, 0) == ',') {
            ps->i++;
            max = -1;
            r = rp_bound(ps, &max);
            if (r < 0)
                return -1;
            if (r == 0)
                max = -1;
        }
        if (rp_peek(ps, 0) != '}')
            return rp_fail(ps, "braces {} not balanced");
        ps->i++;
        if (max >= 0 && min > max)
            return rp_fail(ps, "invalid repetition count(s)");
    }
    if (rp_peek(ps, 0) == '?') /* non-greedy: the same yes/no answer */
        ps->i++;
    if (rp_is_quant(ps))
        return rp_fail(ps, "quantifier operand invalid");
    int32_t rep = rn_new(ps, RN_REP);
    ps->nodes[rep].first = atom;
    ps->nodes[rep].min = min;
    ps->nodes[rep].max = max;
    return rep;
}

static int32_t rp_cat(rparse_t *ps) {
    int32_t cat = rn_new(ps, RN_CAT);
    for (;;) {
        int c = rp_peek(ps, 0);
        if (c < 0 || c == '|' || (c == ')' && ps->depth > 0))
            break;
        int32_t q = rp_quantified(ps);
        if (q < 0)
            return -1;
        rn_append(ps, cat, q);
    }
    return cat;
}

static int32_t rp_alt(rparse_t *ps) {
    int32_t first = rp_cat(ps);
    if (first < 0 || rp_peek(ps, 0) != '|')
        return first;
    int32_t alt = rn_new(ps, RN_ALT);
    rn_append(ps, alt, first);
    while (rp_peek(ps, 0) == '|') {
        ps->i++;
        int32_t b = rp_cat(ps);
        if (b < 0)
            return -1;
        rn_append(ps, alt, b);
    }
    return alt;
}

/* --- code generation ------------------------------------------------- */

typedef struct {
    rinst_t *code;
    size_t n;
    int over;
    size_t steps; /* emission calls: "(()){255}" nests emit nothing, forever */
} remit_t;

#define RE_NO_PATCH UINT32_MAX
#define RE_MAX_EMIT_STEPS 100000

static size_t re_put(remit_t *em, uint8_t op, uint32_t a, uint32_t b) {
    if (em->n >= RE_MAX_INST) {
        em->over = 1;
        return em->n;
    }
    em->code[em->n].op = op;
    em->code[em->n].a = a;
    em->code[em->n].b = b;
    return em->n++;
}

static void re_emit(const rparse_t *ps, int32_t id, remit_t *em) {
    if (em->over)
        return;
    if (++em->steps > RE_MAX_EMIT_STEPS) {
        em->over = 1;
        return;
    }
    const rnode_t *nd = &ps->nodes[id];
    switch (nd->kind) {
    case RN_EMPTY: return;
    case RN_CHAR: {
        uint32_t alt = ps->re->icase ? other_case(nd->c) : nd->c;
        re_put(em, RI_CHAR, nd->c, alt);
        return;
    }
    case RN_ANY: re_put(em, ps->re->nlstop ? RI_ANYNL : RI_ANY, 0, 0); return;
    case RN_SET: re_put(em, RI_SET, (uint32_t)nd->set, 0); return;
    case RN_ASSERT: re_put(em, nd->aop, 0, 0); return;
    case RN_CAT:
        for (int32_t ch = nd->first; ch >= 0 && !em->over; ch = ps->nodes[ch].next)
            re_emit(ps, ch, em);
        return;
    case RN_ALT: {
        /* The JMPs out of each branch are chained through their targets
         * (RE_NO_PATCH ends the chain) and patched once the end is known. */
        uint32_t jumps = RE_NO_PATCH;
        for (int32_t ch = nd->first; ch >= 0 && !em->over; ch = ps->nodes[ch].next) {
            if (ps->nodes[ch].next < 0) {
                re_emit(ps, ch, em);
                break;
            }
            size_t sp = re_put(em, RI_SPLIT, 0, 0);
            if (em->over)
                return;
            em->code[sp].a = (uint32_t)em->n;
            re_emit(ps, ch, em);
            size_t j = re_put(em, RI_JMP, jumps, 0);
            if (em->over)
                return;
            jumps = (uint32_t)j;
            em->code[sp].b = (uint32_t)em->n;
        }
        if (em->over)
            return;
        while (jumps != RE_NO_PATCH) {
            uint32_t nx = em->code[jumps].a;
            em->code[jumps].a = (uint32_t)em->n;
            jumps = nx;
        }
        return;
    }
    case RN_REP: {
        for (int32_t k = 0; k < nd->min && !em->over; k++)
            re_emit(ps, nd->first, em);
        if (nd->max < 0) {
            size_t loop = re_put(em, RI_SPLIT, 0, 0);
            if (em->over)
                return;
            em->code[loop].a = (uint32_t)em->n;
            re_emit(ps, nd->first, em);
            re_put(em, RI_JMP, (uint32_t)loop, 0);
            if (em->over)
                return;
            em->code[loop].b = (uint32_t)em->n;
            return;
        }
        /* x{m,n}: n-m optional copies, each SPLIT skipping to the end;
         * the skips are chained through b like the JMPs above. */
        uint32_t splits = RE_NO_PATCH;
        for (int32_t k = nd->min; k < nd->max && !em->over; k++) {
            size_t sp = re_put(em, RI_SPLIT, 0, splits);
            if (em->over)
                return;
            em->code[sp].a = (uint32_t)em->n;
            splits = (uint32_t)sp;
            re_emit(ps, nd->first, em);
        }
        if (em->over)
            return;
        while (splits != RE_NO_PATCH) {
            uint32_t nx = em->code[splits].b;
            em->code[splits].b = (uint32_t)em->n;
            splits = nx;
        }
        return;
    }
    default: return;
    }
}

static void re_free(re_prog_t *re) {
    if (!re)
        return;
    free(re->code);
    free(re->sets);
    free(re->ranges);
    free(re);
}

/* The ASCII characters a match can start with: the consuming instructions
 * reachable from the start, taking every assertion as passable (so it is a
 * superset). A position whose character is outside it, with no thread
 * alive, cannot start a match and can be skipped without its closure. */
static void re_fill_first(re_prog_t *re) {
    uint16_t stack[2 * RE_MAX_INST + 2];
    uint64_t mark[RE_MAX_INST / 64 + 1];
    size_t sp = 0;
    memset(mark, 0, sizeof mark);
    re->first[0] = re->first[1] = 0;
    re->first_any = 0;
    stack[sp++] = 0;
    while (sp > 0 && !re->first_any) {
        uint32_t x = stack[--sp];
        if (mark[x >> 6] & (UINT64_C(1) << (x & 63)))
            continue;
        mark[x >> 6] |= UINT64_C(1) << (x & 63);
        const rinst_t *in = &re->code[x];
        switch (in->op) {
        case RI_JMP: stack[sp++] = (uint16_t)in->a; break;
        case RI_SPLIT:
            stack[sp++] = (uint16_t)in->b;
            stack[sp++] = (uint16_t)in->a;
            break;
        case RI_MATCH: /* an empty match: every position can */
        case RI_ANY:
        case RI_ANYNL: re->first_any = 1; break;
        case RI_CHAR:
            if (in->a < 128)
                re->first[in->a >> 6] |= UINT64_C(1) << (in->a & 63);
            if (in->b < 128)
                re->first[in->b >> 6] |= UINT64_C(1) << (in->b & 63);
            break;
        case RI_SET:
            re->first[0] |= re->sets[in->a].ascii[0];
            re->first[1] |= re->sets[in->a].ascii[1];
            break;
        default: stack[sp++] = (uint16_t)(x + 1); break; /* an assertion */
        }
    }
}

/* Decodes the pattern to code points; the caller frees *out. */
static size_t decode_all(const char *s, size_t n, uint32_t **out) {
    uint32_t *cp = xmalloc((n + 1) * sizeof *cp);
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        size_t l;
        cp[k++] = u8dec((const unsigned char *)s + i, n - i, &l);
        i += l;
    }
    *out = cp;
    return k;
}

/* Compiles pattern for ~ (icase 0) or ~* (icase 1). Returns a program
 * (free with re_free) or NULL with a message in *err (static text). */
static re_prog_t *re_compile(const char *pat, size_t patlen, int icase, const char **err) {
    re_prog_t *re = xcalloc(1, sizeof *re);
    re->icase = (uint8_t)icase;
    rparse_t ps = {0};
    ps.re = re;
    uint32_t *cp = NULL;
    ps.n = decode_all(pat, patlen, &cp);
    ps.p = cp;
    int literal = 0;
    /* Directors and embedded options, only at the start (as in PostgreSQL). */
    if (ps.n >= 4 && cp[0] == '*' && cp[1] == '*' && cp[2] == '*' && (cp[3] == '=' || cp[3] == ':')) {
        literal = cp[3] == '=';
        ps.i = 4;
    }
    if (!literal && ps.i + 1 < ps.n && cp[ps.i] == '(' && cp[ps.i + 1] == '?' && ps.i + 2 < ps.n &&
        cp[ps.i + 2] < 128 && c_isalpha((int)cp[ps.i + 2])) {
        size_t j = ps.i + 2;
        for (; j < ps.n && cp[j] != ')'; j++) {
            switch (cp[j]) {
            case 'i': re->icase = 1; break;
            case 'c': re->icase = 0; break;
            case 'n':
            case 'm': re->nlstop = re->nlanchor = 1; break;
            case 'p': re->nlstop = 1; re->nlanchor = 0; break;
            case 'w': re->nlstop = 0; re->nlanchor = 1; break;
            case 's': re->nlstop = re->nlanchor = 0; break;
            case 't': break;
            case 'q': literal = 1; break;
            case 'b':
            case 'e':
            case 'x': ps.err = "regular expression options b, e and x are not supported"; break;
            default: ps.err = "invalid embedded option"; break;
            }
            if (ps.err)
                break;
        }
        if (!ps.err && j >= ps.n)
            ps.err = "invalid embedded option";
        ps.i = j + 1;
    }
    int32_t root = -1;
    if (!ps.err) {
        if (literal) {
            root = rn_new(&ps, RN_CAT);
            for (; ps.i < ps.n; ps.i++) {
                int32_t c = rn_new(&ps, RN_CHAR);
                ps.nodes[c].c = cp[ps.i];
                rn_append(&ps, root, c);
            }
        } else {
            root = rp_alt(&ps);
            if (root >= 0 && ps.i < ps.n)
                root = rp_fail(&ps, "parentheses () not balanced");
        }
    }
    if (root < 0 || ps.err) {
        *err = ps.err ? ps.err : "invalid regular expression";
        goto fail;
    }
    remit_t em = {xmalloc(RE_MAX_INST * sizeof(rinst_t)), 0, 0, 0};
    re_emit(&ps, root, &em);
    re_put(&em, RI_MATCH, 0, 0);
    re->code = em.code;
    re->n = em.n;
    if (em.over) {
        *err = "regular expression is too complex";
        goto fail;
    }
    set_fill_ascii(re);
    re_fill_first(re);
    re->anchored = re->code[0].op == RI_BOS || (re->code[0].op == RI_BOL && !re->nlanchor);
    free(cp);
    free(ps.nodes);
    return re;
fail:
    free(cp);
    free(ps.nodes);
    re_free(re);
    return NULL;
}

#define RC_NONE UINT32_MAX /* "no character": before the start, past the end */

static int re_word(uint32_t c) { return c != RC_NONE && cc_test(CC_WORD, c); }

static int re_assert(const re_prog_t *re, uint8_t op, uint32_t prev, uint32_t cur) {
    switch (op) {
    case RI_BOL: return prev == RC_NONE || (re->nlanchor && prev == '\n');
    case RI_EOL: return cur == RC_NONE || (re->nlanchor && cur == '\n');
    case RI_BOS: return prev == RC_NONE;
    case RI_EOS: return cur == RC_NONE;
    case RI_WBEG: return !re_word(prev) && re_word(cur);
    case RI_WEND: return re_word(prev) && !re_word(cur);
    case RI_WB: return re_word(prev) != re_word(cur);
    case RI_NWB: return re_word(prev) == re_word(cur);
    default: return 0;
    }
}

typedef struct {
    uint16_t *stack;
    uint64_t *mark;
    uint16_t *list;
    size_t n;
    int matched;
    uint64_t visited; /* instructions entered: the closure's work */
} rclosure_t;

/* Adds pc and everything reachable from it without consuming a character
 * at this position (context: prev and cur characters) to cl->list. */
static void re_addthread(const re_prog_t *re, rclosure_t *cl, uint32_t pc, uint32_t prev, uint32_t cur) {
    size_t sp = 0, visited = 0;
    cl->stack[sp++] = (uint16_t)pc;
    while (sp > 0) {
        uint32_t x = cl->stack[--sp];
        if (cl->mark[x >> 6] & (UINT64_C(1) << (x & 63)))
            continue;
        cl->mark[x >> 6] |= UINT64_C(1) << (x & 63);
        visited++;
        const rinst_t *in = &re->code[x];
        switch (in->op) {
        case RI_JMP: cl->stack[sp++] = (uint16_t)in->a; break;
        case RI_SPLIT:
            cl->stack[sp++] = (uint16_t)in->b;
            cl->stack[sp++] = (uint16_t)in->a;
            break;
        case RI_MATCH: cl->matched = 1; break;
        case RI_CHAR:
        case RI_ANY:
        case RI_ANYNL:
        case RI_SET: cl->list[cl->n++] = (uint16_t)x; break;
        default:
            if (re_assert(re, in->op, prev, cur))
                cl->stack[sp++] = (uint16_t)(x + 1);
            break;
        }
    }
    cl->visited += visited;
}

static int re_consumes(const re_prog_t *re, const rinst_t *in, uint32_t c) {
    switch (in->op) {
    case RI_CHAR: return c == in->a || c == in->b;
    case RI_ANY: return 1;
    case RI_ANYNL: return c != '\n';
    case RI_SET: return set_match(re, &re->sets[in->a], c);
    default: return 0;
    }
}

/* Does the pattern match anywhere in s? Linear in len(s) x program size;
 * all state on the stack. Charges *left per text position: the
 * instructions its closure entered plus the threads tried on its character
 * (a bracket set costs its ranges, which it scans for non-ASCII
 * characters). The charge follows the
 * position's work, so it may overrun by one position (a few thousand units
 * at most) before -1 stops it. */
static int re_exec(const re_prog_t *re, const char *s, size_t n, uint64_t *left) {
    uint16_t stack[2 * RE_MAX_INST + 2], clist[RE_MAX_INST], raw[RE_MAX_INST];
    uint64_t mark[RE_MAX_INST / 64 + 1];
    size_t nraw = 0, pos = 0;
    uint32_t prev = RC_NONE;
    uint64_t l = *left;
    rclosure_t cl = {stack, mark, clist, 0, 0, 0};
    for (;;) {
        if (nraw == 0 && !re->first_any && !re->anchored && pos < n) {
            /* No thread alive: skip the ASCII characters no match starts
             * with, one unit each, never past the budget. (An anchored
             * pattern stops instead, below.) */
            size_t lim = n - pos, k = 0;
            if (lim > l)
                lim = (size_t)l;
            for (; k < lim; k++) {
                unsigned char b = (unsigned char)s[pos + k];
                if (b >= 128 || ((re->first[b >> 6] >> (b & 63)) & 1))
                    break;
            }
            if (k > 0) {
                prev = (unsigned char)s[pos + k - 1];
                pos += k;
                l -= k;
            }
        }
        size_t clen = 0;
        uint32_t cur = pos < n ? u8dec((const unsigned char *)s + pos, n - pos, &clen) : RC_NONE;
        memset(mark, 0, ((re->n + 63) / 64) * sizeof mark[0]);
        cl.n = 0;
        cl.visited = 1; /* the position itself: decoding, clearing marks */
        for (size_t k = 0; k < nraw; k++)
            re_addthread(re, &cl, raw[k], prev, cur);
        /* A match may start here, unless the pattern is anchored at 0: then
         * once its threads died nothing can match any more. */
        if (!re->anchored || pos == 0)
            re_addthread(re, &cl, 0, prev, cur);
        else if (cl.n == 0 && !cl.matched)
            cur = RC_NONE;
        uint64_t work = cl.visited;
        if (cl.matched || cur == RC_NONE) {
            if (work > l)
                goto out;
            *left = l - work;
            return cl.matched;
        }
        nraw = 0;
        work += cl.n;
        for (size_t k = 0; k < cl.n; k++) {
            const rinst_t *in = &re->code[clist[k]];
            if (re_consumes(re, in, cur))
                raw[nraw++] = (uint16_t)(clist[k] + 1);
        }
        if (cur >= 128) /* sets scan their ranges for non-ASCII characters */
            for (size_t k = 0; k < cl.n; k++)
                if (re->code[clist[k]].op == RI_SET)
                    work += re->sets[re->code[clist[k]].a].nr;
        if (work > l)
            goto out;
        l -= work;
        prev = cur;
        pos += clen;
    }
out:
    *left = 0;
    return -1;
}

/* ------------------------------------------------------------------------
 * `in` lists: PostgreSQL's array literal syntax (the value between the
 * parentheses becomes '{...}' for a one-dimensional array).
 * ---------------------------------------------------------------------- */

typedef struct {
    char *buf;     /* element strings, NUL-terminated, back to back */
    size_t w;      /* bytes used in buf */
    size_t *off;   /* offsets into buf */
    size_t *len;
    uint8_t *isnull;
    size_t n, cap;
    /* Shape checks of a multi-dimensional list (PostgreSQL's array_in):
     * per nesting level, whether it holds sub-lists (1) or elements (2),
     * and the length every sub-list at that level must have. */
    uint8_t level_kind[7];
    size_t level_len[7];
    int nested;
} plist_t;

#define ARRAY_MAXDIM 6

static int plist_push(plist_t *pl, size_t start, size_t len, int isnull) {
    if (pl->n == pl->cap) {
        pl->cap = pl->cap ? pl->cap * 2 : 8;
        pl->off = xrealloc(pl->off, pl->cap * sizeof *pl->off);
        pl->len = xrealloc(pl->len, pl->cap * sizeof *pl->len);
        pl->isnull = xrealloc(pl->isnull, pl->cap);
    }
    pl->off[pl->n] = start;
    pl->len[pl->n] = len;
    pl->isnull[pl->n] = (uint8_t)isnull;
    pl->n++;
    return 0;
}

/* One element at s[*i] (not '{'), up to the ',' or '}' that ends it. */
static int array_scalar(const char *s, size_t n, size_t *i, plist_t *pl) {
    size_t start = pl->w, keep = pl->w;
    int quoted = 0;
    if (s[*i] == '"') {
        quoted = 1;
        (*i)++;
        for (;;) {
            if (*i >= n)
                return -1;
            if (s[*i] == '"') {
                (*i)++;
                break;
            }
            if (s[*i] == '\\' && ++(*i) >= n)
                return -1;
            pl->buf[pl->w++] = s[(*i)++];
        }
        keep = pl->w;
    } else {
        while (*i < n && s[*i] != ',' && s[*i] != '}') {
            char c = s[*i];
            if (c == '"' || c == '{')
                return -1;
            if (c == '\\') {
                if (++(*i) >= n)
                    return -1;
                quoted = 1;
                pl->buf[pl->w++] = s[(*i)++];
                keep = pl->w;
                continue;
            }
            pl->buf[pl->w++] = c;
            (*i)++;
            if (!c_isspace((unsigned char)c))
                keep = pl->w;
        }
    }
    pl->w = keep;
    plist_push(pl, start, keep - start, !quoted && word_eq(pl->buf + start, keep - start, "null"));
    pl->buf[pl->w++] = '\0';
    return 0;
}

/* The items of a list at nesting `level` (1 = outermost), s[*i] just past
 * its '{'; consumes the closing '}'. */
static int array_level(const char *s, size_t n, size_t *i, int level, plist_t *pl) {
    size_t items = 0;
    while (*i < n && c_isspace((unsigned char)s[*i]))
        (*i)++;
    if (*i < n && s[*i] == '}') {
        (*i)++;
        return level == 1 ? 0 : -1; /* only the whole list may be empty */
    }
    for (;;) {
        while (*i < n && c_isspace((unsigned char)s[*i]))
            (*i)++;
        if (*i >= n || s[*i] == ',' || s[*i] == '}')
            return -1; /* empty element */
        uint8_t kind = s[*i] == '{' ? 1 : 2;
        if (pl->level_kind[level] && pl->level_kind[level] != kind)
            return -1; /* elements and sub-lists mixed */
        pl->level_kind[level] = kind;
        if (kind == 1) {
            if (level >= ARRAY_MAXDIM)
                return -1;
            pl->nested = 1;
            (*i)++;
            if (array_level(s, n, i, level + 1, pl) != 0)
                return -1;
        } else if (array_scalar(s, n, i, pl) != 0) {
            return -1;
        }
        items++;
        while (*i < n && c_isspace((unsigned char)s[*i]))
            (*i)++;
        if (*i >= n)
            return -1;
        if (s[*i] == '}') {
            (*i)++;
            break;
        }
        if (s[*i] != ',')
            return -1;
        (*i)++;
    }
    if (level > 1) { /* sub-lists of one level all have the same length */
        if (pl->level_len[level] && pl->level_len[level] != items)
            return -1;
        pl->level_len[level] = items;
    }
    return 0;
}

/* Parses the text between the parentheses of in.(...) as PostgreSQL parses
 * '{...}' for = ANY(array): quoting, backslash escapes, NULL, and
 * rectangular nested lists, which = ANY flattens. Returns 0, or -1 with a
 * message in err; the caller frees pl's arrays either way. */
static int parse_array_items(const char *s, size_t n, plist_t *pl, char *err, size_t errlen) {
    memset(pl, 0, sizeof *pl);
    pl->buf = xmalloc(n + 2);
    /* Parse "{" s "}" without building it: the closing brace is virtual. */
    char *whole = xmalloc(n + 2);
    memcpy(whole, s, n);
    whole[n] = '}';
    whole[n + 1] = '\0';
    size_t i = 0;
    int rc = array_level(whole, n + 1, &i, 1, pl);
    if (rc == 0 && i != n + 1)
        rc = -1; /* junk after the closing brace */
    free(whole);
    if (rc != 0)
        seterr(err, errlen, "invalid filter value for in: malformed list \"(%.*s)\"", n > 64 ? 64 : (int)n, s);
    return rc;
}

/* ------------------------------------------------------------------------
 * The filter string: segments, conditions
 * ---------------------------------------------------------------------- */

/* Splits at top-level commas as supabase/realtime's split_top_level: not
 * inside parentheses, nor inside a double-quoted string that began after
 * '.', '(' or ','. Calls back with each raw segment. */
typedef struct {
    const char *s;
    size_t n;
} span_t;

static size_t split_top_level(const char *s, size_t n, span_t **out) {
    size_t cap = 4, cnt = 0, start = 0;
    span_t *v = xmalloc(cap * sizeof *v);
    int depth = 0, quoted = 0;
    char prev = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (quoted) {
            if (c == '\\' && i + 1 < n) {
                prev = s[++i];
                continue;
            }
            if (c == '"')
                quoted = 0;
            prev = c;
            continue;
        }
        if (c == '"' && (prev == '.' || prev == '(' || prev == ',')) {
            quoted = 1;
        } else if (c == '(') {
            depth++;
        } else if (c == ')') {
            if (depth > 0)
                depth--;
        } else if (c == ',' && depth == 0) {
            if (cnt == cap)
                v = xrealloc(v, (cap *= 2) * sizeof *v);
            v[cnt].s = s + start;
            v[cnt].n = i - start;
            cnt++;
            start = i + 1;
            prev = 0;
            continue;
        }
        prev = c;
    }
    if (cnt == cap)
        v = xrealloc(v, (cap + 1) * sizeof *v);
    v[cnt].s = s + start;
    v[cnt].n = n - start;
    cnt++;
    *out = v;
    return cnt;
}

/* unquote_value: "..." with \x escapes, only when the closing quote is the
 * last byte; otherwise the value stays as written. Returns a new string
 * (caller frees) and its length. */
static char *unquote_value(const char *v, size_t n, size_t *outlen) {
    char *out = xmalloc(n + 1);
    if (n >= 2 && v[0] == '"') {
        size_t w = 0, i = 1;
        for (;;) {
            if (i >= n)
                break; /* unterminated: keep as is */
            if (v[i] == '"') {
                if (i == n - 1) {
                    out[w] = '\0';
                    *outlen = w;
                    return out;
                }
                break;
            }
            if (v[i] == '\\' && i + 1 < n)
                i++;
            out[w++] = v[i++];
        }
    }
    memcpy(out, v, n);
    out[n] = '\0';
    *outlen = n;
    return out;
}

static void cond_free(cond_t *c) {
    free(c->vbuf);
    free(c->list);
    free(c->lbuf);
    re_free(c->re);
    free(c->key);
}

void cdc_filter_free(cdc_filter_t *f) {
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        cond_free(&f->conds[i]);
    free(f->conds);
    free(f->cols);
    free(f);
}

/* The normalised text pgoutput would send for an eq operand, for the kinds
 * whose output form is canonical regardless of typmod and session settings. */
static void cond_make_key(cond_t *c) {
    char tmp[48];
    const char *k = NULL;
    size_t kl = 0;
    switch (c->kind) {
    case K_INT:
        kl = (size_t)snprintf(tmp, sizeof tmp, "%lld", (long long)c->val.u.i);
        k = tmp;
        break;
    case K_BOOL:
        tmp[0] = c->val.u.i ? 't' : 'f';
        k = tmp;
        kl = 1;
        break;
    case K_UUID: {
        static const char hx[] = "0123456789abcdef";
        size_t w = 0;
        for (int b = 0; b < 16; b++) {
            if (b == 4 || b == 6 || b == 8 || b == 10)
                tmp[w++] = '-';
            tmp[w++] = hx[c->val.u.uuid[b] >> 4];
            tmp[w++] = hx[c->val.u.uuid[b] & 15];
        }
        k = tmp;
        kl = w;
        break;
    }
    case K_TEXT:
    case K_OPAQUE:
        k = c->val.s;
        kl = c->val.len;
        break;
    default: return;
    }
    c->key = xstrndup(k, kl);
    c->keylen = kl;
}

static int op_is_ordering(op_t op) { return op == OP_LT || op == OP_LTE || op == OP_GT || op == OP_GTE; }

/* Type checks and operand preparation for one condition whose column,
 * operator and raw value are known. Returns 0 or -1 with err set. */
static int cond_prepare(cond_t *c, const cdc_column_t *col, const char *raw, size_t rawlen, char *err,
                        size_t errlen) {
    const char *tname = col->type ? col->type : "unknown";
    if (c->op == OP_IS) {
        static const char *const kws[] = {"null", "true", "false", "unknown"};
        size_t len;
        char *v = unquote_value(raw, rawlen, &len);
        size_t k = 0;
        while (k < 4 && !(strlen(kws[k]) == len && memcmp(kws[k], v, len) == 0))
            k++;
        free(v);
        if (k == 4) {
            seterr(err, errlen, "invalid value for is filter: must be null, true, false, or unknown");
            return -1;
        }
        if (k != 0 && c->kind != K_BOOL) {
            seterr(err, errlen, "is %s filter requires a boolean column, got %s", kws[k], tname);
            return -1;
        }
        c->is_kw = (uint8_t)k;
        return 0;
    }
    if (c->kind == K_UNSUPPORTED) {
        seterr(err, errlen, "filters on column %s of type %s support only is.null", col->name, tname);
        return -1;
    }
    if (c->op == OP_LIKE || c->op == OP_ILIKE || c->op == OP_MATCH || c->op == OP_IMATCH) {
        if (!kind_is_text(c->kind)) {
            seterr(err, errlen, "operator %s requires a text-compatible column type, got %s", op_names[c->op], tname);
            return -1;
        }
        size_t len;
        c->vbuf = unquote_value(raw, rawlen, &len);
        c->val.s = c->vbuf;
        c->val.len = len;
        if (c->op == OP_LIKE || c->op == OP_ILIKE) {
            if (like_ends_with_escape(c->vbuf, len)) {
                seterr(err, errlen, "LIKE pattern must not end with escape character");
                return -1;
            }
            return 0;
        }
        const char *rerr = NULL;
        /* citext's ~ and ~* both fold case */
        c->re = re_compile(c->vbuf, len, c->op == OP_IMATCH || c->kind == K_CITEXT, &rerr);
        if (!c->re) {
            seterr(err, errlen, "invalid regular expression for %s filter: %s", op_names[c->op], rerr);
            return -1;
        }
        return 0;
    }
    if (op_is_ordering(c->op) && c->kind == K_OPAQUE) {
        seterr(err, errlen, "operator %s is not supported on column %s of type %s: its sort order is not known",
               op_names[c->op], col->name, tname);
        return -1;
    }
    if (c->op == OP_IN) {
        /* raw is "(...)"; the caller checked the parentheses */
        plist_t pl = {0};
        int rc = parse_array_items(raw + 1, rawlen - 2, &pl, err, errlen);
        if (rc == 0 && pl.n > IN_MAX_VALUES) {
            seterr(err, errlen, "too many values for `in` filter. Maximum %d", IN_MAX_VALUES);
            rc = -1;
        }
        if (rc == 0) {
            c->lbuf = pl.buf;
            pl.buf = NULL;
            c->nlist = pl.n;
            c->list = xcalloc(pl.n ? pl.n : 1, sizeof *c->list);
            for (size_t k = 0; k < pl.n && rc == 0; k++) {
                if (pl.isnull[k]) {
                    c->list[k].isnull = 1;
                    continue;
                }
                rc = tval_parse(c->kind, c->sub, c->lbuf + pl.off[k], pl.len[k], &c->list[k], err, errlen);
                c->list_bytes += c->list[k].len;
            }
        }
        free(pl.buf);
        free(pl.off);
        free(pl.len);
        free(pl.isnull);
        return rc;
    }
    /* eq, neq, lt, lte, gt, gte, isdistinct: a literal of the column's type */
    size_t len;
    c->vbuf = unquote_value(raw, rawlen, &len);
    if (tval_parse(c->kind, c->sub, c->vbuf, len, &c->val, err, errlen) != 0)
        return -1;
    if (c->op == OP_EQ && !c->negate)
        cond_make_key(c);
    return 0;
}

static const cdc_column_t *find_column(const cdc_column_t *cols, size_t ncols, const char *name, size_t nl,
                                       size_t *idx) {
    for (size_t i = 0; i < ncols; i++)
        if (cols[i].name && strlen(cols[i].name) == nl && memcmp(cols[i].name, name, nl) == 0) {
            *idx = i;
            return &cols[i];
        }
    return NULL;
}

/* One segment "col=[not.]op.value" into c. Returns 0 or -1 with err. */
static int parse_condition(const char *seg, size_t n, const cdc_column_t *cols, size_t ncols, cond_t *c, char *err,
                           size_t errlen) {
    int shown = n > 64 ? 64 : (int)n;
    const char *eq = memchr(seg, '=', n);
    if (!eq) {
        seterr(err, errlen, "invalid filter \"%.*s\": expected column=operator.value", shown, seg);
        return -1;
    }
    const char *name = seg;
    size_t namelen = (size_t)(eq - seg);
    const char *rest = eq + 1;
    size_t rn = n - namelen - 1;
    if (rn >= 4 && memcmp(rest, "not.", 4) == 0) {
        c->negate = 1;
        rest += 4;
        rn -= 4;
    }
    const char *dot = memchr(rest, '.', rn);
    if (!dot) {
        seterr(err, errlen, "invalid filter \"%.*s\": expected column=operator.value", shown, seg);
        return -1;
    }
    size_t oplen = (size_t)(dot - rest);
    size_t op = 0;
    while (op < sizeof op_names / sizeof op_names[0] &&
           !(strlen(op_names[op]) == oplen && memcmp(op_names[op], rest, oplen) == 0))
        op++;
    if (op == sizeof op_names / sizeof op_names[0]) {
        seterr(err, errlen, "invalid filter operator %.*s", oplen > 32 ? 32 : (int)oplen, rest);
        return -1;
    }
    c->op = (op_t)op;
    const char *val = dot + 1;
    size_t vlen = rn - oplen - 1;
    if (c->op == OP_IN && !(vlen >= 2 && val[0] == '(' && val[vlen - 1] == ')')) {
        seterr(err, errlen, "`in` filter value must be wrapped by parentheses");
        return -1;
    }
    const cdc_column_t *col = find_column(cols, ncols, name, namelen, &c->col);
    if (!col) {
        seterr(err, errlen, "invalid column for filter %.*s", namelen > 64 ? 64 : (int)namelen, name);
        return -1;
    }
    c->kind = type_kind(col->type, &c->sub);
    return cond_prepare(c, col, val, vlen, err, errlen);
}

cdc_filter_t *cdc_filter_parse(const char *filter, const cdc_column_t *cols, size_t ncols, char *err,
                               size_t errlen) {
    cdc_filter_t *f = xcalloc(1, sizeof *f);
    span_t *segs = NULL;
    if (err && errlen)
        err[0] = '\0';
    const char *s = filter ? filter : "";
    size_t n = strlen(s);
    trim(&s, &n);
    if (n == 0)
        return f;
    if (n > FILTER_MAX_LEN) {
        seterr(err, errlen, "filter is too long (at most %d bytes)", FILTER_MAX_LEN);
        goto fail;
    }
    size_t nseg = split_top_level(s, n, &segs);
    f->conds = xcalloc(nseg, sizeof *f->conds);
    f->cols = xcalloc(nseg, sizeof *f->cols);
    for (size_t i = 0; i < nseg; i++) {
        const char *seg = segs[i].s;
        size_t sl = segs[i].n;
        trim(&seg, &sl);
        if (sl == 0) {
            seterr(err, errlen, "filter must not contain empty segments (check for extra commas)");
            goto fail;
        }
        cond_t *c = &f->conds[f->n++];
        if (parse_condition(seg, sl, cols, ncols, c, err, errlen) != 0)
            goto fail;
        size_t k = 0;
        while (k < f->ncols && f->cols[k] != c->col)
            k++;
        if (k == f->ncols)
            f->cols[f->ncols++] = c->col;
    }
    free(segs);
    return f;
fail:
    free(segs);
    cdc_filter_free(f);
    return NULL;
}

/* ------------------------------------------------------------------------
 * Evaluation
 * ---------------------------------------------------------------------- */

/* TV_BUDGET: the budget ran out before the condition's value was known. */
enum { TV_FALSE = 0, TV_TRUE = 1, TV_NULL = 2, TV_BUDGET = 3 };

static int tv_not(int tv) { return tv == TV_NULL ? TV_NULL : !tv; }

/* One condition on its cell. Charges 1 for the condition plus, before
 * reading the cell, a bound of the work it will do (LIKE and regexes charge
 * as they go; numerics per comparison). */
static int cond_eval(const cond_t *c, const cdc_cell_t *cell, uint64_t *left) {
    int isnull = cell->data == NULL;
    size_t n = cell->len;
    tval_t cv;
    int r;
    switch (c->op) {
    case OP_IS:
        if (charge(left, 1) != 0)
            return TV_BUDGET;
        if (c->is_kw == 0 || c->is_kw == 3) {
            r = isnull;
        } else if (isnull) {
            r = 0;
        } else {
            int64_t b;
            if (charge(left, n) != 0) /* boolin trims the whole cell */
                return TV_BUDGET;
            if (parse_bool(cell->data, n, &b) != 0)
                return TV_NULL;
            r = c->is_kw == 1 ? b == 1 : b == 0;
        }
        return c->negate ? !r : r;
    case OP_ISDISTINCT:
        r = 1;
        if (charge(left, isnull ? 1 : 1 + cell_units(c->kind, n) + cmp_units(c->kind, n, &c->val)) != 0)
            return TV_BUDGET;
        if (!isnull) {
            if (cell_value(c->kind, c->sub, cell->data, n, &cv) != 0)
                return TV_NULL;
            if (c->kind == K_NUMERIC && charge(left, numeric_units(&cv, &c->val)) != 0)
                return TV_BUDGET;
            r = cmp_tval(c->kind, &cv, &c->val) != 0;
        }
        return c->negate ? !r : r;
    case OP_IN: {
        int tv;
        if (charge(left, 1) != 0)
            return TV_BUDGET;
        if (c->nlist == 0) { /* x = ANY('{}') is false, even for NULL x */
            tv = TV_FALSE;
        } else if (isnull) {
            tv = TV_NULL;
        } else {
            /* Each element is compared once, at most the shorter of the
             * two in bytes: charged whole, before the loop. */
            uint64_t bytes = 0;
            if (kind_is_bytes(c->kind)) {
                bytes = (uint64_t)n * c->nlist;
                if (bytes > c->list_bytes)
                    bytes = c->list_bytes;
            }
            if (charge(left, cell_units(c->kind, n) + c->nlist + bytes) != 0)
                return TV_BUDGET;
            if (cell_value(c->kind, c->sub, cell->data, n, &cv) != 0)
                return TV_NULL;
            tv = TV_FALSE;
            for (size_t k = 0; k < c->nlist; k++) {
                if (c->list[k].isnull) {
                    tv = TV_NULL;
                    continue;
                }
                if (c->kind == K_NUMERIC && charge(left, numeric_units(&cv, &c->list[k])) != 0)
                    return TV_BUDGET;
                if (cmp_tval(c->kind, &cv, &c->list[k]) == 0) {
                    tv = TV_TRUE;
                    break;
                }
            }
        }
        return c->negate ? tv_not(tv) : tv;
    }
    default: break;
    }
    if (isnull)
        return charge(left, 1) != 0 ? TV_BUDGET : TV_NULL;
    switch (c->op) {
    case OP_LIKE:
    case OP_ILIKE:
        if (charge(left, 1) != 0)
            return TV_BUDGET;
        r = like_match(cell->data, n, c->val.s, c->val.len, c->op == OP_ILIKE || c->kind == K_CITEXT, left);
        break;
    case OP_MATCH:
    case OP_IMATCH:
        if (charge(left, 1) != 0)
            return TV_BUDGET;
        r = re_exec(c->re, cell->data, n, left);
        break;
    default: {
        if (charge(left, 1 + cell_units(c->kind, n) + cmp_units(c->kind, n, &c->val)) != 0)
            return TV_BUDGET;
        if (cell_value(c->kind, c->sub, cell->data, n, &cv) != 0)
            return TV_NULL;
        if (c->kind == K_NUMERIC && charge(left, numeric_units(&cv, &c->val)) != 0)
            return TV_BUDGET;
        int cmp = cmp_tval(c->kind, &cv, &c->val);
        switch (c->op) {
        case OP_EQ: r = cmp == 0; break;
        case OP_NEQ: r = cmp != 0; break;
        case OP_LT: r = cmp < 0; break;
        case OP_LTE: r = cmp <= 0; break;
        case OP_GT: r = cmp > 0; break;
        default: r = cmp >= 0; break;
        }
        break;
    }
    }
    if (r < 0)
        return TV_BUDGET;
    return c->negate ? !r : r;
}

/* The evaluation both entry points inline: a call between them would cost
 * more than the budget's bookkeeping does. */
static inline int filter_eval(const cdc_filter_t *f, const cdc_cell_t *cells, const uint8_t *unknown,
                              uint64_t *budget) {
    if (!f)
        return 1;
    for (size_t i = 0; i < f->n; i++) {
        const cond_t *c = &f->conds[i];
        if (unknown && unknown[c->col] && cells[c->col].data == NULL)
            return charge(budget, 1) != 0 ? -1 : 0;
        int tv = cond_eval(c, &cells[c->col], budget);
        if (tv == TV_BUDGET) {
            *budget = 0;
            return -1;
        }
        if (tv != TV_TRUE)
            return 0;
    }
    return 1;
}

int cdc_filter_match_budget(const cdc_filter_t *f, const cdc_cell_t *cells, const uint8_t *unknown,
                            uint64_t *budget) {
    return filter_eval(f, cells, unknown, budget);
}

int cdc_filter_match(const cdc_filter_t *f, const cdc_cell_t *cells, const uint8_t *unknown) {
    /* The same evaluation with a budget no evaluation can spend (2^64 units
     * are centuries of work), so both entry points always agree. */
    uint64_t unlimited = UINT64_MAX;
    return filter_eval(f, cells, unknown, &unlimited) == 1;
}

size_t cdc_filter_columns(const cdc_filter_t *f, const size_t **idx) {
    *idx = f ? f->cols : NULL;
    return f ? f->ncols : 0;
}

int cdc_filter_eq_key(const cdc_filter_t *f, size_t *col, const char **value, size_t *len) {
    for (size_t i = 0; f && i < f->n; i++)
        if (f->conds[i].key) {
            *col = f->conds[i].col;
            *value = f->conds[i].key;
            *len = f->conds[i].keylen;
            return 1;
        }
    return 0;
}
