/*
 * fuzz_rest: libFuzzer target for rest_plan and rest_respond. The input
 * is a method byte, then newline-separated target, query string, Prefer,
 * Range, Accept and body, planned against a small fixed catalog (a table
 * with an enum, jsonb, array and a quote in a column name, a composite
 * primary key table, and functions of every return kind). It asserts what
 * must hold for any input:
 *   - a plan's SQL references every bind parameter and no other ($1..$n):
 *     PostgreSQL refuses a parameter it cannot type;
 *   - outside double-quoted identifiers the SQL holds no ';', "--" or
 *     comment, only the planner's own string literals, and balanced
 *     parentheses: no request byte escaped into the statement;
 *   - an error has a 3xx-5xx status, a code and a terminated message;
 *   - rest_respond answers any result without crashing or leaking.
 */
#include "rest/catalog.h"
#include "rest/query.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Catalog rows as string literals glued to macro calls: clang-format 14 takes
 * each COL(...) for a call and stacks the rest of the row diagonally. */
/* clang-format off */
#define COL(n, t, def, expr) "{\"name\":\"" n "\",\"type\":\"" t "\",\"nullable\":true,\"has_default\":" def ",\"default\":" expr "}"
#define ARG(n, t, def, var) "{\"name\":\"" n "\",\"type\":\"" t "\",\"has_default\":" def ",\"variadic\":" var "}"
#define RC(n, t) "{\"name\":\"" n "\",\"type\":\"" t "\"}"

static const char *const ROWS[][REST_CATALOG_NCOLS] = {
    {"t", "public", "bookings", "r", "t",
     "[" COL("id", "bigint", "true", "\"nextval('bookings_id_seq'::regclass)\"") ","
     COL("status", "booking_status", "true", "\"'pending'::booking_status\"") ","
     COL("service", "text", "false", "null") "," COL("price", "numeric(10,2)", "false", "null") ","
     COL("tags", "text[]", "true", "\"'{}'::text[]\"") "," COL("meta", "jsonb", "true", "\"'{}'::jsonb\"") ","
     COL("we\\\"ird", "text", "false", "null") "]",
     "[\"id\"]", NULL, NULL},
    {"t", "public", "settings", "r", "t",
     "[" COL("user_id", "uuid", "false", "null") "," COL("key", "text", "false", "null") ","
     COL("value", "jsonb", "false", "null") "]",
     "[\"user_id\",\"key\"]", NULL, NULL},
    {"t", "public", "empty", "v", "f", "[]", "[]", NULL, NULL},
    {"f", "public", "accept", "v", "f", "[" ARG("id", "bigint", "false", "false") "]",
     "[" RC("id", "bigint") "," RC("status", "booking_status") "]", "bookings", "c"},
    {"f", "public", "by_status", "s", "t", "[" ARG("s", "booking_status", "false", "false") "]",
     "[" RC("id", "bigint") "," RC("status", "booking_status") "]", "bookings", "c"},
    {"f", "public", "n", "s", "f", "[]", "[]", "bigint", "s"},
    {"f", "public", "touch", "v", "f", "[]", "[]", "void", "v"},
    {"f", "public", "add", "i", "f", "[" ARG("a", "integer", "false", "false") "," ARG("b", "integer", "true", "false") "]",
     "[]", "integer", "s"},
    {"f", "public", "echo", "i", "f", "[" ARG("", "jsonb", "false", "false") "]", "[]", "jsonb", "s"},
    {"f", "public", "stats", "s", "f", "[]", "[" RC("n", "bigint") "," RC("t", "numeric") "]", "record", "o"},
    {"f", "public", "tags", "i", "t", "[" ARG("t", "text[]", "false", "true") "]", "[]", "text", "s"},
    {"f", "public", "pick", "i", "f", "[" ARG("a", "integer", "false", "false") "]", "[]", "integer", "s"},
    {"f", "public", "pick", "i", "f", "[" ARG("a", "text", "false", "false") "]", "[]", "text", "s"},
};
/* clang-format on */

/* The only string literals the planner writes itself, plus the column
 * defaults of the catalog above (pasted for Prefer: missing=default). */
static const char *const LITERALS[] = {"'[]'", "'null'", "''", "'pending'", "'{}'", "'bookings_id_seq'"};

static rest_catalog_t *cat;

static void setup(void) {
    cat = rest_catalog_new();
    for (size_t i = 0; i < sizeof(ROWS) / sizeof(ROWS[0]); i++)
        if (rest_catalog_add_row(cat, ROWS[i], REST_CATALOG_NCOLS) != 0) {
            fprintf(stderr, "fuzz_rest: catalog row %zu rejected\n", i);
            abort();
        }
}

/* Checks the statement's shape; aborts on a violation. */
static void check_sql(const rest_plan_t *p) {
    const char *s = p->sql;
    int depth = 0;
    char *seen = calloc((size_t)p->nparams + 1, 1);
    if (!seen)
        abort();
    for (size_t i = 0; s[i];) {
        char c = s[i];
        if (c == '"') { /* identifier: "" is an escaped quote */
            i++;
            for (;;) {
                if (!s[i])
                    abort(); /* unterminated identifier */
                if (s[i] == '"' && s[i + 1] == '"') {
                    i += 2;
                    continue;
                }
                if (s[i] == '"')
                    break;
                i++;
            }
            i++;
            continue;
        }
        if (c == '\'') {
            size_t k, len = 0;
            for (k = 0; k < sizeof(LITERALS) / sizeof(LITERALS[0]); k++) {
                len = strlen(LITERALS[k]);
                if (!strncmp(s + i, LITERALS[k], len))
                    break;
            }
            if (k == sizeof(LITERALS) / sizeof(LITERALS[0])) {
                fprintf(stderr, "unexpected literal at %zu: %s\n", i, s);
                abort();
            }
            i += len;
            continue;
        }
        if (c == ';' || (c == '-' && s[i + 1] == '-') || (c == '/' && s[i + 1] == '*')) {
            fprintf(stderr, "forbidden token at %zu: %s\n", i, s);
            abort();
        }
        if (c == '(')
            depth++;
        if (c == ')' && --depth < 0)
            abort();
        if (c == '$') {
            long n = strtol(s + i + 1, NULL, 10);
            if (n < 1 || n > p->nparams) {
                fprintf(stderr, "$%ld of %d: %s\n", n, p->nparams, s);
                abort();
            }
            seen[n] = 1;
        }
        i++;
    }
    if (depth != 0)
        abort();
    for (int n = 1; n <= p->nparams; n++)
        if (!seen[n] || !p->params[n - 1]) {
            fprintf(stderr, "parameter $%d unused or NULL: %s\n", n, s);
            abort();
        }
    free(seen);
}

static void check_error(const rest_error_t *e, int min_status) {
    if (e->status < min_status || e->status > 599 || !e->code[0])
        abort();
    if (strnlen(e->message, sizeof(e->message)) == sizeof(e->message) ||
        strnlen(e->details, sizeof(e->details)) == sizeof(e->details) ||
        strnlen(e->hint, sizeof(e->hint)) == sizeof(e->hint))
        abort();
    buf_t *b = buf_new(64);
    rest_error_json(e, &b);
    buf_unref(b);
}

/* Splits data at '\n' into up to n fields (malloc'd, NUL-terminated; the
 * caller frees). Missing fields are NULL. */
static void split(const uint8_t *data, size_t size, char **f, int n) {
    size_t start = 0;
    int k = 0;
    for (size_t i = 0; i <= size && k < n; i++) {
        if (i == size || (data[i] == '\n' && k < n - 1)) {
            size_t len = i - start;
            f[k] = malloc(len + 1);
            if (!f[k])
                abort();
            memcpy(f[k], data + start, len);
            f[k][len] = '\0';
            k++;
            start = i + 1;
        }
    }
    for (; k < n; k++)
        f[k] = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const methods[] = {"GET", "HEAD", "POST", "PATCH", "DELETE", "PUT"};
    if (!cat)
        setup();
    if (size < 2)
        return 0;
    const char *method = methods[data[0] % 6];
    uint8_t flags = data[1];
    char *f[6]; /* target, query, prefer, range, accept, body */
    split(data + 2, size - 2, f, 6);
    rest_request_t req = {
        .method = method,
        .target = f[0] ? f[0] : "",
        .query = f[1] ? f[1] : "",
        .prefer = (flags & 1) ? f[2] : NULL,
        .range = (flags & 2) ? f[3] : NULL,
        .accept = (flags & 4) ? f[4] : NULL,
        .profile = (flags & 8) ? "public" : NULL,
        .body = (flags & 16) ? NULL : f[5],
        .body_len = (flags & 16) || !f[5] ? 0 : strlen(f[5]),
    };
    rest_plan_t plan;
    rest_error_t err;
    if (rest_plan(cat, &req, &plan, &err) == 0) {
        check_sql(&plan);
        /* answer a few plausible results and the raw body as one */
        static const char *const bodies[] = {NULL, "[]", "[{\"a\":1}]", "[{\"a\":\"x,]\"}, \n {\"b\":[1,2]}]", "7"};
        long total = (flags & 32) ? (long)(size % 7) - 1 : -1;
        for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]) + 1; i++) {
            const char *body = i < sizeof(bodies) / sizeof(bodies[0]) ? bodies[i] : f[5];
            buf_t *h = buf_new(64), *o = buf_new(64);
            int st = rest_respond(&plan, body, total, (long)i - 1, &h, &o);
            if (st < 200 || st > 599)
                abort();
            buf_unref(h);
            buf_unref(o);
        }
        rest_plan_free(&plan);
    } else {
        if (plan.sql || plan.params || plan.nparams)
            abort();
        check_error(&err, 300); /* 300: PGRST203, ambiguous overload */
    }
    rest_error_from_pg(f[2], f[1], f[3], f[4], flags & 64, &err);
    check_error(&err, 400);
    for (int i = 0; i < 6; i++)
        free(f[i]);
    return 0;
}
