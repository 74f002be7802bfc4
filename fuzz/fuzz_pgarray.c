/*
 * libFuzzer target for cdc/pgarray and cdc/pgjson. The first input byte
 * picks a delimiter, a nesting limit and an element type; the rest is
 * array text. The scanner runs with a visitor that checks what it is told:
 * lists open and close in order, levels within the limit, indexes count up
 * from 0 in each list, every close reports the items seen, element text
 * lies inside the input, NULL is only an unescaped "null", and unescaping
 * never grows the text; a successful scan stops just past a '}'. The same
 * text then goes through pgjson_value as an array (and a vector) of that
 * element type, with a resolver that also knows an array of itself, and
 * the output must parse with jansson.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cdc/pgarray.h"
#include "cdc/pgjson.h"
#include "cdc/pgtype.h"
#include "fuzz_json.h"

#include "fuzz_check.h"

#define MAXL 16

typedef struct {
    const char *base;
    size_t n;
    int depth; /* lists open */
    int max_levels;
    size_t next[MAXL + 2]; /* per open level: the index its next item must have */
} chk_t;

static int chk_open(void *ctx, int level, size_t index) {
    chk_t *c = ctx;
    CHECK(level == c->depth + 1 && level >= 1 && level <= c->max_levels);
    if (level == 1)
        CHECK(index == 0);
    else
        CHECK(index == c->next[level - 1]++);
    c->depth = level;
    c->next[level] = 0;
    return 0;
}

static int chk_elem(void *ctx, int level, size_t index, const char *s, size_t n, unsigned flags) {
    chk_t *c = ctx;
    CHECK(level == c->depth && index == c->next[level]++);
    CHECK(s >= c->base && s + n <= c->base + c->n);
    CHECK((flags & ~(PGARRAY_ESCAPED | PGARRAY_NULL)) == 0);
    if (flags & PGARRAY_NULL)
        CHECK(!(flags & PGARRAY_ESCAPED) && n == 4);
    char *tmp = malloc(n ? n : 1);
    CHECK(tmp != NULL);
    size_t u = pgarray_unescape(s, n, tmp);
    CHECK(u <= n);
    if (!(flags & PGARRAY_ESCAPED))
        CHECK(u == n && memcmp(tmp, s, n) == 0);
    free(tmp);
    return 0;
}

static int chk_close(void *ctx, int level, size_t items) {
    chk_t *c = ctx;
    CHECK(level == c->depth && items == c->next[level]);
    c->depth--;
    return 0;
}

/* OIDs of this target's resolver. */
enum { T_SELF = 90001, T_SELFVEC = 90002 };

static pgjson_type_t resolve(const void *ctx, uint32_t oid) {
    (void)ctx;
    if (oid == T_SELF)
        return (pgjson_type_t){PGTYPE_ARRAY, T_SELF};
    if (oid == T_SELFVEC)
        return (pgjson_type_t){PGTYPE_VECTOR, T_SELF};
    const pgtype_t *t = pgtype_builtin(oid);
    return t ? (pgjson_type_t){t->json, t->elem} : (pgjson_type_t){PGTYPE_STRING, 0};
}

static const uint32_t ELEMS[] = {23, 25, 16, 701, 1700, 1184, 1114, 3802, 114, 603, 22, 1007, T_SELF, T_SELFVEC, 0};
#define NELEMS (sizeof ELEMS / sizeof ELEMS[0])

static void check_json(const buf_t *b) {
    json_error_t e;
    json_t *j = json_loadb((const char *)b->data, b->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!j && json_error_code(&e) == json_error_numeric_overflow) {
        size_t len;
        char *t = fuzz_shrink_numbers((const char *)b->data, b->len, &len);
        j = json_loadb(t, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
        free(t);
    }
    if (!j)
        fprintf(stderr, "invalid JSON (%s): %.*s\n", e.text, (int)b->len, (const char *)b->data);
    CHECK(j != NULL);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    uint8_t ctl = data[0];
    size_t n = size - 1;
    char *s = malloc(n ? n : 1); /* exactly sized: ASan sees over-reads */
    CHECK(s != NULL);
    memcpy(s, data + 1, n);

    static const pgarray_visitor_t V = {chk_open, chk_elem, chk_close};
    chk_t c = {.base = s, .n = n, .max_levels = 1 + (ctl & 7)};
    size_t at = 0;
    char delim = (ctl & 8) ? ';' : ',';
    if (pgarray_scan(s, n, &at, delim, c.max_levels, &V, &c) == 0) {
        CHECK(c.depth == 0 && at >= 2 && at <= n && s[at - 1] == '}');
    } else {
        CHECK(at == 0);
    }

    uint32_t elem = ELEMS[(ctl >> 4) % NELEMS];
    for (int vec = 0; vec < 2; vec++) {
        buf_t *b = buf_new(64);
        pgjson_value((pgjson_type_t){vec ? PGTYPE_VECTOR : PGTYPE_ARRAY, elem}, s, n, resolve, NULL, &b);
        check_json(b);
        buf_unref(b);
    }
    free(s);
    return 0;
}
