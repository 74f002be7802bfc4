/*
 * cdc/pgvalue: see pgvalue.h. Owns the type-name -> kind tables, the input
 * rules of the scalar types (each parser mirrors the PostgreSQL 15 input
 * function of its type, cited at each), their comparison and canonical
 * output. Parsers take (s, n), never NUL-terminated, and return 0,
 * PGV_ESYNTAX or PGV_ERANGE. It must never allocate for a cell, never
 * depend on the locale, and never word a message for a person.
 */
#include "cdc/pgvalue.h"
#include "cdc/pgchar.h"
#include "cdc/pgtime.h"
#include "util/hex.h"
#include "util/mem.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Column types
 * ---------------------------------------------------------------------- */

static const struct {
    const char *name;
    pgv_kind_t kind;
    int sub;
} type_table[] = {
    {"int2", PGV_INT, 16},
    {"smallint", PGV_INT, 16},
    {"int4", PGV_INT, 32},
    {"integer", PGV_INT, 32},
    {"int", PGV_INT, 32},
    {"int8", PGV_INT, 64},
    {"bigint", PGV_INT, 64},
    {"float4", PGV_FLOAT, 4},
    {"real", PGV_FLOAT, 4},
    {"float8", PGV_FLOAT, 8},
    {"double precision", PGV_FLOAT, 8},
    {"numeric", PGV_NUMERIC, 0},
    {"decimal", PGV_NUMERIC, 0},
    {"bool", PGV_BOOL, 0},
    {"boolean", PGV_BOOL, 0},
    {"text", PGV_TEXT, 0},
    {"varchar", PGV_TEXT, 0},
    {"character varying", PGV_TEXT, 0},
    {"name", PGV_TEXT, PGV_SUB_NAME},
    {"bpchar", PGV_BPCHAR, 0},
    {"character", PGV_BPCHAR, 0},
    {"citext", PGV_CITEXT, 0},
    {"uuid", PGV_UUID, 0},
    {"date", PGV_DATE, 0},
    {"time", PGV_TIME, 0},
    {"time without time zone", PGV_TIME, 0},
    {"timetz", PGV_TIMETZ, 0},
    {"time with time zone", PGV_TIMETZ, 0},
    {"timestamp", PGV_TS, 0},
    {"timestamp without time zone", PGV_TS, 0},
    {"timestamptz", PGV_TSTZ, 0},
    {"timestamp with time zone", PGV_TSTZ, 0},
};

/* Built-in types whose equality is not their text's. */
static const char *const unsupported_types[] = {
    "json",
    "jsonb",
    "jsonpath",
    "bytea",
    "interval",
    "inet",
    "cidr",
    "macaddr",
    "macaddr8",
    "money",
    "bit",
    "varbit",
    "bit varying",
    "xml",
    "tsvector",
    "tsquery",
    "point",
    "line",
    "lseg",
    "box",
    "path",
    "polygon",
    "circle",
    "oid",
    "xid",
    "xid8",
    "cid",
    "tid",
    "regclass",
    "regtype",
    "regproc",
    "regprocedure",
    "regoper",
    "regoperator",
    "regconfig",
    "regdictionary",
    "regnamespace",
    "regrole",
    "regcollation",
    "pg_lsn",
    "char",
    "int2vector",
    "oidvector",
    "txid_snapshot",
    "pg_snapshot",
    "int4range",
    "int8range",
    "numrange",
    "tsrange",
    "tstzrange",
    "daterange",
    "int4multirange",
    "int8multirange",
    "nummultirange",
    "tsmultirange",
    "tstzmultirange",
    "datemultirange",
    "record",
    "void",
    "unknown",
    "aclitem",
    "refcursor",
};

pgv_kind_t pgv_type_kind(const char *type, int *sub) {
    *sub = 0;
    if (!type)
        return PGV_OPAQUE;
    for (size_t i = 0; i < sizeof type_table / sizeof type_table[0]; i++)
        if (strcmp(type, type_table[i].name) == 0) {
            *sub = type_table[i].sub;
            return type_table[i].kind;
        }
    if (type[0] == '_' || strchr(type, '[') != NULL) /* arrays */
        return PGV_UNSUPPORTED;
    for (size_t i = 0; i < sizeof unsupported_types / sizeof unsupported_types[0]; i++)
        if (strcmp(type, unsupported_types[i]) == 0)
            return PGV_UNSUPPORTED;
    return PGV_OPAQUE;
}

int pgv_kind_is_text(pgv_kind_t k) { return k == PGV_TEXT || k == PGV_BPCHAR || k == PGV_CITEXT; }

const char *pgv_kind_label(pgv_kind_t k, int sub) {
    switch (k) {
    case PGV_INT: return sub == 16 ? "smallint" : sub == 32 ? "integer" : "bigint";
    case PGV_FLOAT: return sub == 4 ? "real" : "double precision";
    case PGV_NUMERIC: return "numeric";
    case PGV_BOOL: return "boolean";
    case PGV_UUID: return "uuid";
    case PGV_DATE: return "date";
    case PGV_TIME: return "time without time zone";
    case PGV_TIMETZ: return "time with time zone";
    case PGV_TS: return "timestamp without time zone";
    case PGV_TSTZ: return "timestamp with time zone";
    default: return "text";
    }
}

/* ------------------------------------------------------------------------
 * Scalar parsers
 * ---------------------------------------------------------------------- */

/* int2in/int4in/int8in (pg_strtoint*): spaces, sign, decimal digits, spaces. */
static int parse_int(const char *s, size_t n, int bits, int64_t *out) {
    pgc_trim(&s, &n);
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i >= n)
        return PGV_ESYNTAX;
    uint64_t lim = bits == 16 ? 32767u : bits == 32 ? 2147483647u : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    int range = 0;
    for (; i < n; i++) {
        if (!pgc_isdigit((unsigned char)s[i]))
            return PGV_ESYNTAX;
        if (!range) {
            v = v * 10 + (uint64_t)(s[i] - '0');
            if (v > lim + (uint64_t)neg)
                range = 1;
        }
    }
    if (range)
        return PGV_ERANGE;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* float4in/float8in: strtof/strtod as PostgreSQL calls them, so hex floats,
 * "inf", "NaN" and denormals are accepted exactly when it accepts them. */
static int parse_float(const char *s, size_t n, int is4, int may_alloc, double *out) {
    char stack[128];
    char *buf = stack;
    while (n > 0 && pgc_isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    if (n == 0 || memchr(s, '\0', n) != NULL)
        return PGV_ESYNTAX;
    if (n >= sizeof stack) {
        if (!may_alloc) /* a cell: PostgreSQL's float output is never this long */
            return PGV_ESYNTAX;
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
            rc = PGV_ERANGE;
    } else {
        v = strtod(buf, &end);
        if (end != buf && errno == ERANGE && (v == 0.0 || v >= HUGE_VAL || v <= -HUGE_VAL))
            rc = PGV_ERANGE;
    }
    if (end == buf)
        rc = PGV_ESYNTAX;
    else if (rc == 0) {
        while (pgc_isspace((unsigned char)*end))
            end++;
        if (*end != '\0')
            rc = PGV_ESYNTAX;
    }
    if (buf != stack)
        free(buf);
    if (rc == 0)
        *out = v;
    return rc;
}

int pgv_scan_decimal(const char *s, size_t n, int plus, pgv_decimal_t *d) {
    size_t i = 0;
    memset(d, 0, sizeof *d);
    if (i < n && (s[i] == '-' || (plus && s[i] == '+')))
        d->neg = s[i++] == '-';
    d->ip = i;
    while (i < n && pgc_isdigit((unsigned char)s[i]))
        i++;
    d->ilen = i - d->ip;
    d->fp = i;
    if (i < n && s[i] == '.') {
        d->fp = ++i;
        while (i < n && pgc_isdigit((unsigned char)s[i]))
            i++;
        d->flen = i - d->fp;
    }
    if (d->ilen + d->flen == 0)
        return PGV_ESYNTAX;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        int eneg = 0;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        if (i >= n || !pgc_isdigit((unsigned char)s[i]))
            return PGV_ESYNTAX;
        int64_t exp = 0;
        for (; i < n && pgc_isdigit((unsigned char)s[i]); i++) {
            exp = exp * 10 + (s[i] - '0');
            if (exp >= PGV_EXP_SATURATED)
                exp = PGV_EXP_SATURATED;
        }
        d->exp = eneg ? -exp : exp;
    }
    d->end = i;
    return 0;
}

/* numeric_in: spaces, NaN/Infinity spellings, sign, digits with one point,
 * exponent, spaces; limits as make_result()'s (weight and display scale). */
static int parse_numeric(const char *s, size_t n, pgv_dec_t *out) {
    pgc_trim(&s, &n);
    memset(out, 0, sizeof *out);
    if (pgc_word_eq(s, n, "nan")) {
        out->special = PGV_DEC_NAN;
        return 0;
    }
    if (pgc_word_eq(s, n, "infinity") || pgc_word_eq(s, n, "+infinity") || pgc_word_eq(s, n, "inf") ||
        pgc_word_eq(s, n, "+inf")) {
        out->special = PGV_DEC_PINF;
        return 0;
    }
    if (pgc_word_eq(s, n, "-infinity") || pgc_word_eq(s, n, "-inf")) {
        out->special = PGV_DEC_NINF;
        return 0;
    }
    pgv_decimal_t d;
    if (pgv_scan_decimal(s, n, 1, &d) != 0)
        return PGV_ESYNTAX;
    if (d.exp >= PGV_EXP_SATURATED || d.exp <= -PGV_EXP_SATURATED) /* "value overflows numeric format" */
        return PGV_ERANGE;
    if (d.end != n)
        return PGV_ESYNTAX;
    /* The first and last significant digits, and the first one's index
     * among all the digits (the point not counted). */
    const char *first = NULL, *last = NULL;
    int64_t first_idx = 0;
    for (size_t k = 0; k < d.ilen + d.flen; k++) {
        const char *c = k < d.ilen ? s + d.ip + k : s + d.fp + (k - d.ilen);
        if (*c != '0') {
            if (!first) {
                first = c;
                first_idx = (int64_t)k;
            }
            last = c;
        }
    }
    int64_t dscale = (int64_t)d.flen - d.exp;
    if (dscale < 0)
        dscale = 0;
    if (dscale > 16383)
        return PGV_ERANGE;
    if (!first) { /* zero */
        out->sign = 0;
        return 0;
    }
    out->sign = d.neg ? -1 : 1;
    out->dig = first;
    out->nch = (size_t)(last - first) + 1;
    out->weight = (int64_t)d.ilen - 1 - first_idx + d.exp;
    /* make_result: the weight in base-10000 digits must fit an int16. */
    int64_t w = out->weight;
    int64_t w4 = w >= 0 ? w / 4 : -((-w + 3) / 4);
    if (w4 > 32767)
        return PGV_ERANGE;
    return 0;
}

int pgv_parse_bool(const char *s, size_t n, int64_t *out) {
    pgc_trim(&s, &n);
    if (n == 0)
        return PGV_ESYNTAX;
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
        while (j < n && pgc_tolower((unsigned char)s[j]) == words[k].w[j])
            j++;
        if (j == n) {
            *out = words[k].v;
            return 0;
        }
    }
    return PGV_ESYNTAX;
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
        if (i + 2 > n || !pgc_isxdigit((unsigned char)s[i]) || !pgc_isxdigit((unsigned char)s[i + 1]))
            return PGV_ESYNTAX;
        out[b] = (uint8_t)(hex_digit((unsigned char)s[i]) << 4 | hex_digit((unsigned char)s[i + 1]));
        i += 2;
        if (i < n && s[i] == '-' && (b % 2) == 1 && b < 15)
            i++;
    }
    if (braces) {
        if (i >= n || s[i] != '}')
            return PGV_ESYNTAX;
        i++;
    }
    return i == n ? 0 : PGV_ESYNTAX;
}

/* bpchar compares without its padding (bpcharcmp). */
static size_t bpchar_len(const char *s, size_t n) {
    while (n > 0 && s[n - 1] == ' ')
        n--;
    return n;
}

int pgv_parse(pgv_kind_t kind, int sub, const char *s, size_t n, int operand, pgv_val_t *out) {
    memset(out, 0, sizeof *out);
    out->s = s;
    out->len = n;
    switch (kind) {
    case PGV_INT: return parse_int(s, n, sub, &out->u.i);
    case PGV_FLOAT: return parse_float(s, n, sub == 4, operand, &out->u.f);
    case PGV_NUMERIC: return parse_numeric(s, n, &out->u.dec);
    case PGV_BOOL: return pgv_parse_bool(s, n, &out->u.i);
    case PGV_UUID: return parse_uuid(s, n, out->u.uuid);
    case PGV_DATE: return pgtime_parse(s, n, PGTIME_DATE, &out->u.i, &out->u.tz.zone);
    case PGV_TS: return pgtime_parse(s, n, PGTIME_TS, &out->u.i, &out->u.tz.zone);
    case PGV_TSTZ: return pgtime_parse(s, n, PGTIME_TSTZ, &out->u.i, &out->u.tz.zone);
    case PGV_TIME: return pgtime_parse(s, n, PGTIME_TIME, &out->u.i, &out->u.tz.zone);
    case PGV_TIMETZ: {
        int64_t t;
        int32_t z;
        int rc = pgtime_parse(s, n, PGTIME_TIMETZ, &t, &z);
        if (rc == 0) {
            out->u.tz.t = t;
            out->u.tz.zone = z;
        }
        return rc;
    }
    default:
        /* text kinds and opaque: the bytes are the value */
        if (kind == PGV_BPCHAR)
            out->len = bpchar_len(s, n);
        if (kind == PGV_TEXT && sub == PGV_SUB_NAME && operand && n > PGV_NAME_MAX_BYTES) {
            /* namein clips to NAMEDATALEN - 1 bytes at a character boundary */
            size_t k = 0;
            while (k < n) {
                size_t l = pgc_u8len((const unsigned char *)s + k, n - k);
                if (k + l > PGV_NAME_MAX_BYTES)
                    break;
                k += l;
            }
            out->len = k;
        }
        return 0;
    }
}

/* ------------------------------------------------------------------------
 * Comparison
 * ---------------------------------------------------------------------- */

static int cmp_i64(int64_t a, int64_t b) { return a < b ? -1 : a > b; }

/* float8_cmp_internal: NaN equals NaN and sorts above everything. */
static int cmp_float(double a, double b) {
    if (isnan(a))
        return isnan(b) ? 0 : 1;
    if (isnan(b))
        return -1;
    return a < b ? -1 : a > b;
}

/* The next significant digit of a decimal view at *pos, '0' past its end. */
static char dec_digit(const pgv_dec_t *d, size_t *pos) {
    while (*pos < d->nch && d->dig[*pos] == '.')
        (*pos)++;
    if (*pos >= d->nch)
        return '0';
    return d->dig[(*pos)++];
}

static int dec_more(const pgv_dec_t *d, size_t pos) {
    while (pos < d->nch && d->dig[pos] == '.')
        pos++;
    return pos < d->nch;
}

/* cmp_numerics: -Infinity < finite < Infinity < NaN; NaN = NaN. */
static int cmp_numeric(const pgv_dec_t *a, const pgv_dec_t *b) {
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
        int ca = pgc_tolower((unsigned char)a[i]), cb = pgc_tolower((unsigned char)b[i]);
        if (ca != cb)
            return ca < cb ? -1 : 1;
    }
    return an < bn ? -1 : an > bn;
}

/* timetz_cmp_internal: by UTC instant, then by zone. */
static int cmp_timetz(const pgv_val_t *a, const pgv_val_t *b) {
    int64_t ta = a->u.tz.t + (int64_t)a->u.tz.zone * PGTIME_USECS_PER_SEC;
    int64_t tb = b->u.tz.t + (int64_t)b->u.tz.zone * PGTIME_USECS_PER_SEC;
    if (ta != tb)
        return ta < tb ? -1 : 1;
    return a->u.tz.zone > b->u.tz.zone ? 1 : a->u.tz.zone < b->u.tz.zone ? -1 : 0;
}

int pgv_cmp(pgv_kind_t kind, const pgv_val_t *a, const pgv_val_t *b) {
    switch (kind) {
    case PGV_TEXT:
    case PGV_OPAQUE:
    case PGV_BPCHAR: return cmp_bytes(a->s, a->len, b->s, b->len);
    case PGV_CITEXT: return cmp_fold(a->s, a->len, b->s, b->len);
    case PGV_FLOAT: return cmp_float(a->u.f, b->u.f);
    case PGV_NUMERIC: return cmp_numeric(&a->u.dec, &b->u.dec);
    case PGV_UUID: {
        int r = memcmp(a->u.uuid, b->u.uuid, 16);
        return r < 0 ? -1 : r > 0;
    }
    case PGV_TIMETZ: return cmp_timetz(a, b);
    default: return cmp_i64(a->u.i, b->u.i);
    }
}

/* ------------------------------------------------------------------------
 * Output
 * ---------------------------------------------------------------------- */

size_t pgv_canonical(pgv_kind_t kind, const pgv_val_t *v, char out[PGV_CANONICAL_MAX]) {
    switch (kind) {
    case PGV_INT: /* int2out/int4out/int8out */
        return (size_t)snprintf(out, PGV_CANONICAL_MAX, "%lld", (long long)v->u.i);
    case PGV_BOOL: /* boolout */ out[0] = v->u.i ? 't' : 'f'; return 1;
    case PGV_UUID: { /* uuid_out */
        static const char hx[] = "0123456789abcdef";
        size_t w = 0;
        for (int b = 0; b < 16; b++) {
            if (b == 4 || b == 6 || b == 8 || b == 10)
                out[w++] = '-';
            out[w++] = hx[v->u.uuid[b] >> 4];
            out[w++] = hx[v->u.uuid[b] & 15];
        }
        return w;
    }
    default: return 0;
    }
}
