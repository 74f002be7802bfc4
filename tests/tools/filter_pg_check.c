/*
 * tests/tools/filter_pg_check: compares cdc_filter_match with PostgreSQL's
 * own WHERE evaluation. Creates a table with a column of every type the
 * filter module understands, fills it with edge values, reads the rows back
 * as text (what pgoutput sends under TimeZone=UTC, DateStyle=ISO), then
 * for thousands of random filters, in the wire syntax realtime-js builds,
 * evaluates each row with the filter module and with the equivalent SQL
 * predicate, and counts agreements. It never changes anything outside the
 * throwaway database it is pointed at. Built and run by filter_pg_check.sh.
 *
 * Usage: filter_pg_check CONNINFO [FILTERS [SEED]]
 * Exit status: 0 when every comparison agrees (documented refusals aside).
 */
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdc/filter.h"

typedef struct {
    const char *name, *sqltype, *ddl;
    const char *const *values;  /* filter operands (valid and invalid) */
    const char *const *rowvals; /* inserted into rows */
} colspec_t;

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

static const char *const ints[] = {"0",
                                   "1",
                                   "-1",
                                   "7",
                                   "007",
                                   "+7",
                                   " 42 ",
                                   "32767",
                                   "32768",
                                   "-32768",
                                   "-32769",
                                   "2147483647",
                                   "2147483648",
                                   "-2147483648",
                                   "9223372036854775807",
                                   "-9223372036854775808",
                                   "9223372036854775808",
                                   "abc",
                                   "",
                                   "1.5",
                                   "1e3",
                                   "- 1",
                                   "12",
                                   "100",
                                   NULL};
static const char *const floats[] = {"0",
                                     "-0",
                                     "1.5",
                                     "0.1",
                                     "1e10",
                                     "-1e-5",
                                     "NaN",
                                     "nan",
                                     "Infinity",
                                     "-Infinity",
                                     "inf",
                                     "-inf",
                                     "1e308",
                                     "1e309",
                                     "1e39",
                                     "3.4028235e38",
                                     "1.17549435e-38",
                                     "1e-45",
                                     "1e-320",
                                     "0x10",
                                     "abc",
                                     "16777217",
                                     "100",
                                     " 2.5 ",
                                     "1.5000001",
                                     "0.30000000000000004",
                                     "",
                                     NULL};
static const char *const numerics[] = {"0",
                                       "0.0",
                                       "-0",
                                       "1",
                                       "1.0",
                                       "1.00",
                                       "-1.5",
                                       "123456789012345678901234567890.123456789",
                                       "123456789012345678901234567890.12345679",
                                       "1e3",
                                       "1E-3",
                                       "-1e-3",
                                       ".5",
                                       "5.",
                                       "NaN",
                                       "Infinity",
                                       "-Infinity",
                                       "inf",
                                       "0.000000000000000000001",
                                       "1e131072",
                                       "abc",
                                       "",
                                       "1000",
                                       "0.001",
                                       "-0.001",
                                       "99.99",
                                       "+3",
                                       " 42 ",
                                       "1e-16384",
                                       "1e",
                                       NULL};
static const char *const bools[] = {"t", "f", "true", "false", "TRUE", "yes", "no", "on", "off",
                                    "1", "0", "tr",   "o",     "x",    " t ", "",   NULL};
static const char *const texts[] = {"",
                                    "a",
                                    "A",
                                    "abc",
                                    "ABC",
                                    "a b",
                                    "abc ",
                                    " abc",
                                    "\xc3\xa9",
                                    "\xc3\x89",
                                    "\xe6\x97\xa5\xe6\x9c\xac",
                                    "a,b",
                                    "a\"b",
                                    "a\\b",
                                    "null",
                                    "NULL",
                                    "%",
                                    "_",
                                    "a%",
                                    "x(y)",
                                    "abd",
                                    "ab",
                                    "b",
                                    "Zebra",
                                    "zebra",
                                    "tab\there",
                                    "line\nbreak",
                                    "ab  ",
                                    NULL};
static const char *const bpchars[] = {"ab", "ab  ", "AB", "", "abcdef", "a", " ab", "abc", NULL};
static const char *const uuids[] = {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                                    "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
                                    "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
                                    "a0eebc999c0b4ef8bb6d6bb9bd380a11",
                                    "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
                                    "00000000-0000-0000-0000-000000000000",
                                    "ffffffff-ffff-ffff-ffff-ffffffffffff",
                                    "c0000000-0000-4000-8000-000000000001",
                                    "not-a-uuid",
                                    "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1",
                                    "",
                                    NULL};
static const char *const dates[] = {
    "2024-01-01", "2024-02-29",       "2023-02-29",    "0044-03-15 BC", "infinity", "-infinity",
    "epoch",      "2024-01-01 10:00", "20240101",      "10000-01-01",   "2024-1-5", "1970-01-01",
    "2000-01-01", "0001-01-01",       "0001-12-31 BC", "2024-13-01",    "abc",      "2024-01-01T10:00:00Z",
    NULL};
static const char *const times[] = {
    "00:00", "10:00:00",    "23:59:59.999999", "24:00:00", "10:00:00.5", "12:34:56.1234565", "allballs",
    "25:00", "10:00:00+05", "09:30",           "12:00:00", "abc",        "23:59:60",         NULL};
static const char *const timetzs[] = {"10:00:00+00", "10:00:00+01", "09:00:00-05:30", "10:00:00", "09:00:00+00",
                                      "23:59:59+14", "00:00:00-12", "10:00:00 Z",     "abc",      NULL};
static const char *const tss[] = {"2024-01-01 10:00:00",
                                  "2024-01-01T10:00:00",
                                  "2024-01-01T10:00:00Z",
                                  "2024-01-01 10:00:00+05",
                                  "2024-03-31 02:30:00",
                                  "2024-01-01",
                                  "infinity",
                                  "-infinity",
                                  "0044-03-15 10:00:00 BC",
                                  "2024-01-01 24:00:00",
                                  "2024-01-01 23:59:60",
                                  "2024-01-01 10:00:00.123456",
                                  "2024-01-01 10:00:00.1234565",
                                  "1999-12-31 23:59:59.999999",
                                  "epoch",
                                  "2024-01-01T10",
                                  "abc",
                                  "294277-01-01",
                                  NULL};
static const char *const tstzs[] = {"2024-01-01 10:00:00+00",
                                    "2024-01-01T10:00:00Z",
                                    "2024-01-01 11:00:00+01",
                                    "2024-03-31T01:30:00+01:00",
                                    "2024-10-27 01:30:00-0500",
                                    "2024-01-01",
                                    "2024-01-01 10:00:00",
                                    "2024-01-01 10:00:00 UTC",
                                    "2024-03-31 00:59:59.999999Z",
                                    "infinity",
                                    "-infinity",
                                    "0044-03-15 10:00:00+00 BC",
                                    "1970-01-01 00:00:00+00",
                                    "2024-01-01 05:30:00+05:30",
                                    "abc",
                                    "2024-01-01 10:00:00+16",
                                    NULL};
static const char *const moods[] = {"sad", "ok", "happy", "HAPPY", "meh", "", NULL};

static const char *const patterns[] = {
    "%",      "a%",   "%b%", "_b_", "\\%", "A%",  "%\xc3\xa9%",     "ab\\",          "%%",
    "a_c",    "_",    "__",  "%c",  "abc", "ABC", "%a%b%",          "\\_",           "a\\",
    "%\\\\%", "ab  ", "ab",  "%_",  "z%",  "Z%",  "%\xe6\x97\xa5%", "_\xe6\x9c\xac", NULL};
static const char *const regexes[] = {
    "^a",       "b$",    "a.c",      "^.$",    "[a-c]+",    "[[:upper:]]", "\\d",         "(a|b)c",          "a{2}",
    "\xc3\xa9", "^$",    "(?i)abc",  "[^a]",   "\\yab\\y",  "a**",         "(?=a)",       "***=a.c",         "^[a-z]+$",
    "\\s",      "[\\d]", "^ab {2}$", "(?n)^b", "b\\Z",      "\\Aa",        "[[:alpha:]]", "^(ab|cd)*$",      "\\m[a-z]",
    "[A-Z]\\M", "\\W",   "x|y|z",    "^.{3}$", "[]",        "a{3,2}",      "\\1",         "^\xe6\x97\xa5.$", "",
    "(",        "a{0}b", "[^\\n]",   ".*",     "^(a?){2}b", NULL};

static const colspec_t columns[] = {
    {"i2", "int2", "int2", ints, L("0", "1", "-1", "7", "32767", "-32768", "42", "12", "100")},
    {"i4", "int4", "int4", ints, L("0", "1", "-1", "7", "2147483647", "-2147483648", "42", "100")},
    {"i8", "int8", "int8", ints, L("0", "7", "-1", "9223372036854775807", "-9223372036854775808", "42", "12")},
    {"f4", "float4", "float4", floats,
     L("0", "-0", "1.5", "0.1", "NaN", "Infinity", "-Infinity", "3.4028235e38", "1e-45", "16777217", "100")},
    {"f8", "float8", "float8", floats,
     L("0", "-0", "1.5", "0.1", "NaN", "Infinity", "-Infinity", "1e308", "1e-320", "0.30000000000000004", "100",
       "1e10")},
    {"n", "numeric", "numeric", numerics,
     L("0", "0.0", "1", "1.00", "-1.5", "123456789012345678901234567890.123456789", "1000", "0.001", "-0.001", "NaN",
       "Infinity", "-Infinity", "0.000000000000000000001", "99.99")},
    {"nn", "numeric", "numeric(10,2)", numerics, L("0", "1", "1.5", "-1.5", "99.99", "1000", "-0.01")},
    {"b", "bool", "bool", bools, L("t", "f")},
    {"tx", "text", "text", texts, NULL},
    {"vc", "varchar", "varchar(20)", texts, NULL},
    {"bc", "bpchar", "char(6)", bpchars, L("ab", "AB", "", "abcdef", "a", " ab", "abc")},
    {"nm", "name", "name", texts, L("a", "abc", "ABC", "Zebra", "ab", "")},
    {"ci", "citext", "citext", texts, L("a", "A", "abc", "ABC", "Zebra", "zebra", "ab", "", "\xc3\x89", "\xc3\xa9")},
    {"u", "uuid", "uuid", uuids,
     L("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "00000000-0000-0000-0000-000000000000",
       "ffffffff-ffff-ffff-ffff-ffffffffffff", "c0000000-0000-4000-8000-000000000001")},
    {"d", "date", "date", dates,
     L("2024-01-01", "2024-02-29", "0044-03-15 BC", "infinity", "-infinity", "1970-01-01", "10000-01-01", "2000-01-01",
       "0001-01-01")},
    {"tm", "time", "time", times, L("00:00", "10:00:00", "23:59:59.999999", "24:00:00", "10:00:00.5", "12:00:00")},
    {"ttz", "timetz", "timetz", timetzs,
     L("10:00:00+00", "10:00:00+01", "09:00:00-05:30", "09:00:00+00", "23:59:59+14")},
    {"ts", "timestamp", "timestamp", tss,
     L("2024-01-01 10:00:00", "2024-03-31 02:30:00", "2024-01-01", "infinity", "-infinity", "0044-03-15 10:00:00 BC",
       "2024-01-01 10:00:00.123456", "1999-12-31 23:59:59.999999", "2024-01-02")},
    {"tstz", "timestamptz", "timestamptz", tstzs,
     L("2024-01-01 10:00:00+00", "2024-01-01 11:00:00+01", "2024-03-31T01:30:00+01:00", "2024-10-27 06:30:00+00",
       "infinity", "-infinity", "0044-03-15 10:00:00+00 BC", "1970-01-01 00:00:00+00", "2024-03-31 00:59:59.999999Z")},
    {"e", "mood", "mood", moods, L("sad", "ok", "happy")},
};
#define NCOLS (sizeof columns / sizeof columns[0])

static const char *const ops[] = {"eq",   "neq",   "lt", "lte",   "gt",     "gte",       "in",
                                  "like", "ilike", "is", "match", "imatch", "isdistinct"};
#define NOPS (sizeof ops / sizeof ops[0])

static uint64_t rng_state = 88172645463325252ull;
static uint32_t rnd(uint32_t n) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static size_t count(const char *const *v) {
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

static const char *pick(const char *const *v) { return v[rnd((uint32_t)count(v))]; }

/* Growable string. */
typedef struct {
    char *p;
    size_t n, cap;
} str_t;

static void sadd(str_t *s, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(s->p ? s->p + s->n : NULL, s->p ? s->cap - s->n : 0, fmt, ap);
        va_end(ap);
        if (s->p && (size_t)k < s->cap - s->n) {
            s->n += (size_t)k;
            return;
        }
        s->cap = (s->cap + (size_t)k + 64) * 2;
        s->p = realloc(s->p, s->cap);
        if (!s->p)
            abort();
    }
}

/* realtime-js serializeScalar: quote when a reserved character or
 * surrounding whitespace is present. */
static void js_scalar(str_t *s, const char *v) {
    size_t n = strlen(v);
    int q =
        strpbrk(v, ",()\"\\") != NULL || (n > 0 && (strchr(" \t\n\r\v\f", v[0]) || strchr(" \t\n\r\v\f", v[n - 1])));
    if (!q) {
        sadd(s, "%s", v);
        return;
    }
    sadd(s, "\"");
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            sadd(s, "\\");
        sadd(s, "%c", *v);
    }
    sadd(s, "\"");
}

static PGconn *conn;

static void lit(str_t *s, const char *v) {
    char *e = PQescapeLiteral(conn, v, strlen(v));
    if (!e) {
        fprintf(stderr, "escape: %s", PQerrorMessage(conn));
        exit(2);
    }
    sadd(s, "%s", e);
    PQfreemem(e);
}

static PGresult *exec_ok(const char *sql) {
    PGresult *r = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fprintf(stderr, "SQL failed: %s\n%s", sql, PQerrorMessage(conn));
        exit(2);
    }
    return r;
}

#define MAXROWS 512

static int nrows;
static int row_id[MAXROWS];
static char *cell[MAXROWS][NCOLS]; /* NULL = SQL NULL */

static void setup(int rows) {
    PQclear(exec_ok("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; SET extra_float_digits = 1"));
    PQclear(exec_ok("DROP TABLE IF EXISTS ft; DROP TYPE IF EXISTS mood; CREATE EXTENSION IF NOT EXISTS citext"));
    PQclear(exec_ok("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')"));
    /* Text columns use the C collation explicitly: the filter module
     * orders text by bytes. */
    str_t fixed = {0};
    sadd(&fixed, "CREATE TABLE ft (id serial primary key");
    for (size_t c = 0; c < NCOLS; c++) {
        const char *t = columns[c].sqltype;
        int coll = !strcmp(t, "text") || !strcmp(t, "varchar") || !strcmp(t, "bpchar") || !strcmp(t, "name") ||
                   !strcmp(t, "citext");
        sadd(&fixed, ", %s %s%s", columns[c].name, columns[c].ddl, coll ? " COLLATE \"C\"" : "");
    }
    sadd(&fixed, ")");
    PQclear(exec_ok(fixed.p));
    free(fixed.p);
    for (int r = 0; r < rows; r++) {
        str_t ins = {0};
        sadd(&ins, "INSERT INTO ft (");
        for (size_t c = 0; c < NCOLS; c++)
            sadd(&ins, "%s%s", c ? ", " : "", columns[c].name);
        sadd(&ins, ") VALUES (");
        for (size_t c = 0; c < NCOLS; c++) {
            if (c)
                sadd(&ins, ", ");
            const char *const *pool = columns[c].rowvals ? columns[c].rowvals : columns[c].values;
            if (rnd(6) == 0)
                sadd(&ins, "NULL");
            else {
                lit(&ins, pick(pool));
                sadd(&ins, "::%s", columns[c].sqltype);
            }
        }
        sadd(&ins, ")");
        PQclear(exec_ok(ins.p));
        free(ins.p);
    }
    str_t sel = {0};
    sadd(&sel, "SELECT id");
    for (size_t c = 0; c < NCOLS; c++)
        sadd(&sel, ", %s", columns[c].name); /* the output function's text, as pgoutput sends it */
    sadd(&sel, " FROM ft ORDER BY id");
    PGresult *res = exec_ok(sel.p);
    free(sel.p);
    nrows = PQntuples(res);
    for (int r = 0; r < nrows; r++) {
        row_id[r] = atoi(PQgetvalue(res, r, 0));
        for (size_t c = 0; c < NCOLS; c++)
            cell[r][c] = PQgetisnull(res, r, (int)c + 1) ? NULL : strdup(PQgetvalue(res, r, (int)c + 1));
    }
    PQclear(res);
}

/* One random condition: appends to the wire filter and to the SQL. */
static void gen_condition(str_t *wire, str_t *sql, int *refusal) {
    size_t c = rnd(NCOLS);
    const colspec_t *col = &columns[c];
    const char *op = ops[rnd(NOPS)];
    int neg = rnd(4) == 0;
    const char *t = col->sqltype;
    int texty = !strcmp(t, "text") || !strcmp(t, "varchar") || !strcmp(t, "bpchar") || !strcmp(t, "name") ||
                !strcmp(t, "citext");
    /* Steer pattern operators to text columns most of the time. */
    if ((!strcmp(op, "like") || !strcmp(op, "ilike") || !strcmp(op, "match") || !strcmp(op, "imatch")) && !texty &&
        rnd(8) != 0) {
        static const size_t text_cols[] = {8, 9, 10, 11, 12};
        c = text_cols[rnd(5)];
        col = &columns[c];
        t = col->sqltype;
    }
    sadd(wire, "%s=%s%s.", col->name, neg ? "not." : "", op);
    str_t pred = {0};
    if (!strcmp(op, "in")) {
        size_t k = rnd(5);
        str_t inner = {0};
        for (size_t j = 0; j < k; j++) {
            if (j)
                sadd(&inner, ",");
            if (rnd(10) == 0)
                sadd(&inner, "NULL");
            else
                js_scalar(&inner, pick(col->values));
        }
        sadd(wire, "(%s)", inner.p ? inner.p : "");
        str_t arr = {0};
        sadd(&arr, "{%s}", inner.p ? inner.p : "");
        sadd(&pred, "%s = ANY(", col->name);
        lit(&pred, arr.p);
        sadd(&pred, "::%s[])", t);
        free(arr.p);
        free(inner.p);
    } else if (!strcmp(op, "is")) {
        static const char *const kw[] = {"null", "true", "false", "unknown", "NULL", "not.null"};
        const char *v = kw[rnd(6)];
        sadd(wire, "%s", v);
        /* supabase/realtime takes only the four lowercase keywords: make
         * PostgreSQL fail the others too. */
        if (strcmp(v, "NULL") == 0 || strcmp(v, "not.null") == 0)
            sadd(&pred, "1/0 = 1");
        else
            sadd(&pred, "%s IS %s", col->name, v);
    } else {
        const char *v;
        if (!strcmp(op, "like") || !strcmp(op, "ilike"))
            v = rnd(3) ? pick(patterns) : pick(col->values);
        else if (!strcmp(op, "match") || !strcmp(op, "imatch"))
            v = pick(regexes);
        else
            v = pick(col->values);
        js_scalar(wire, v);
        const char *sqlop = !strcmp(op, "eq")       ? "="
                            : !strcmp(op, "neq")    ? "<>"
                            : !strcmp(op, "lt")     ? "<"
                            : !strcmp(op, "lte")    ? "<="
                            : !strcmp(op, "gt")     ? ">"
                            : !strcmp(op, "gte")    ? ">="
                            : !strcmp(op, "like")   ? "LIKE"
                            : !strcmp(op, "ilike")  ? "ILIKE"
                            : !strcmp(op, "match")  ? "~"
                            : !strcmp(op, "imatch") ? "~*"
                                                    : "IS DISTINCT FROM";
        /* Pattern operands are text, except citext's own case-folding operators. */
        int pattern = !strcmp(op, "like") || !strcmp(op, "ilike") || !strcmp(op, "match") || !strcmp(op, "imatch");
        const char *cast = pattern && strcmp(t, "citext") ? "text" : t;
        /* supabase/realtime validates a regex at subscribe time; PostgreSQL
         * would only notice when a row reaches it. A LIKE pattern that ends
         * in an escape is refused at subscribe time here. Constant
         * predicates make PostgreSQL check both up front. */
        if (!strcmp(op, "match") || !strcmp(op, "imatch")) {
            sadd(&pred, "(''::text ~ ");
            lit(&pred, v);
            sadd(&pred, ") IS NOT NULL AND ");
        } else if (!strcmp(op, "like") || !strcmp(op, "ilike")) {
            sadd(&pred, "(");
            lit(&pred, v);
            sadd(&pred, "::text LIKE ");
            lit(&pred, v);
            sadd(&pred, "::text) IS NOT NULL AND ");
        }
        sadd(&pred, "%s %s ", col->name, sqlop);
        lit(&pred, v);
        sadd(&pred, "::%s", cast);
        /* Refused by design: ordering on enums; regex features outside the subset. */
        if (!strcmp(t, "mood") && (!strcmp(op, "lt") || !strcmp(op, "lte") || !strcmp(op, "gt") || !strcmp(op, "gte")))
            *refusal = 1;
        if (pattern && (!strcmp(op, "match") || !strcmp(op, "imatch")) && (strstr(v, "(?=") || strstr(v, "\\1")))
            *refusal = 1;
    }
    sadd(sql, "%s(%s)", neg ? "NOT " : "", pred.p);
    free(pred.p);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s CONNINFO [FILTERS [SEED]]\n", argv[0]);
        return 2;
    }
    int nfilters = argc > 2 ? atoi(argv[2]) : 3000;
    if (argc > 3)
        rng_state ^= strtoull(argv[3], NULL, 10) * 0x9E3779B97F4A7C15ull;
    conn = PQconnectdb(argv[1]);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "connect: %s", PQerrorMessage(conn));
        return 2;
    }
    setup(300);
    cdc_column_t cols[NCOLS];
    for (size_t c = 0; c < NCOLS; c++) {
        cols[c].name = columns[c].name;
        cols[c].type = columns[c].sqltype;
    }
    long both_ok = 0, both_err = 0, refused_by_design = 0, enum_label = 0, bad = 0;
    long pairs = 0, agree = 0, pg_matches = 0;
    int shown = 0;
    for (int k = 0; k < nfilters; k++) {
        str_t wire = {0}, sql = {0};
        int refusal = 0;
        int nc = 1 + (int)rnd(3);
        sadd(&sql, "SELECT id FROM ft WHERE ");
        for (int j = 0; j < nc; j++) {
            if (j) {
                sadd(&wire, ",");
                sadd(&sql, " AND ");
            }
            gen_condition(&wire, &sql, &refusal);
        }
        sadd(&sql, " ORDER BY id");
        char err[256];
        cdc_filter_t *f = cdc_filter_parse(wire.p, cols, NCOLS, err, sizeof err);
        PGresult *res = PQexec(conn, sql.p);
        int pg_ok = PQresultStatus(res) == PGRES_TUPLES_OK;
        if (!f || !pg_ok) {
            if (!f && !pg_ok) {
                both_err++;
            } else if (!f && refusal) {
                refused_by_design++;
            } else if (f && !pg_ok && strstr(PQresultErrorMessage(res), "invalid input value for enum")) {
                enum_label++; /* documented: enum labels are not known, the value just never matches */
            } else {
                bad++;
                if (shown++ < 30)
                    fprintf(stderr, "ACCEPTANCE MISMATCH: filter %s\n  ours: %s\n  pg: %s  sql: %s\n", wire.p,
                            f ? "accepted" : err, pg_ok ? "accepted\n" : PQresultErrorMessage(res), sql.p);
            }
            PQclear(res);
            cdc_filter_free(f);
            free(wire.p);
            free(sql.p);
            continue;
        }
        both_ok++;
        int nres = PQntuples(res);
        int ri = 0;
        for (int r = 0; r < nrows; r++) {
            cdc_cell_t cells[NCOLS];
            for (size_t c = 0; c < NCOLS; c++) {
                cells[c].data = cell[r][c];
                cells[c].len = cell[r][c] ? strlen(cell[r][c]) : 0;
            }
            while (ri < nres && atoi(PQgetvalue(res, ri, 0)) < row_id[r])
                ri++;
            int pg = ri < nres && atoi(PQgetvalue(res, ri, 0)) == row_id[r];
            int ours = cdc_filter_match(f, cells, NULL);
            pairs++;
            pg_matches += pg;
            if (pg == ours) {
                agree++;
            } else if (shown++ < 30) {
                fprintf(stderr, "MATCH MISMATCH: filter %s row %d: pg %d ours %d\n  sql: %s\n  row:", wire.p, row_id[r],
                        pg, ours, sql.p);
                for (size_t c = 0; c < NCOLS; c++)
                    fprintf(stderr, " %s=%s%s%s", columns[c].name, cell[r][c] ? "'" : "",
                            cell[r][c] ? cell[r][c] : "NULL", cell[r][c] ? "'" : "");
                fprintf(stderr, "\n");
            }
        }
        PQclear(res);
        cdc_filter_free(f);
        free(wire.p);
        free(sql.p);
    }
    printf("filters: %d (%d rows); accepted by both: %ld; rejected by both: %ld; refused by design: %ld; "
           "enum label unknown to us: %ld; acceptance mismatches: %ld\n",
           nfilters, nrows, both_ok, both_err, refused_by_design, enum_label, bad);
    printf("row evaluations: %ld, agreements: %ld (%.4f%%), PostgreSQL matches: %ld\n", pairs, agree,
           pairs ? 100.0 * (double)agree / (double)pairs : 100.0, pg_matches);
    for (int r = 0; r < nrows; r++)
        for (size_t c = 0; c < NCOLS; c++)
            free(cell[r][c]);
    PQfinish(conn);
    return (agree == pairs && bad == 0) ? 0 : 1;
}
