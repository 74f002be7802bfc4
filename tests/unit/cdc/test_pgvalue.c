/*
 * Unit tests for cdc/pgvalue: type names to kinds, each type's input rules
 * (what PostgreSQL 15's input function accepts, refuses as syntax and
 * refuses as out of range), operand against cell rules, btree ordering
 * per kind (numeric and float specials, citext folding, bpchar padding,
 * timetz by instant then zone), canonical output, and the decimal literal
 * scanner cdc/pgjson shares.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdc/pgvalue.h"

static int parse(pgv_kind_t kind, int sub, const char *s, pgv_val_t *v) {
    return pgv_parse(kind, sub, s, strlen(s), 1, v);
}

/* Compares a and b as values of kind; both must parse. */
static int cmp_text(pgv_kind_t kind, int sub, const char *a, const char *b) {
    pgv_val_t va, vb;
    if (parse(kind, sub, a, &va) != 0)
        fail_msg("\"%s\" does not parse", a);
    if (parse(kind, sub, b, &vb) != 0)
        fail_msg("\"%s\" does not parse", b);
    int r = pgv_cmp(kind, &va, &vb);
    int back = pgv_cmp(kind, &vb, &va);
    assert_int_equal(r, -back); /* antisymmetric, and always -1, 0 or 1 */
    assert_true(r >= -1 && r <= 1);
    return r;
}

static void test_type_kinds(void **state) {
    (void)state;
    static const struct {
        const char *name;
        pgv_kind_t kind;
        int sub;
    } c[] = {
        {"int2", PGV_INT, 16},
        {"smallint", PGV_INT, 16},
        {"int4", PGV_INT, 32},
        {"integer", PGV_INT, 32},
        {"int8", PGV_INT, 64},
        {"float4", PGV_FLOAT, 4},
        {"double precision", PGV_FLOAT, 8},
        {"numeric", PGV_NUMERIC, 0},
        {"bool", PGV_BOOL, 0},
        {"text", PGV_TEXT, 0},
        {"varchar", PGV_TEXT, 0},
        {"name", PGV_TEXT, PGV_SUB_NAME},
        {"bpchar", PGV_BPCHAR, 0},
        {"citext", PGV_CITEXT, 0},
        {"uuid", PGV_UUID, 0},
        {"date", PGV_DATE, 0},
        {"time", PGV_TIME, 0},
        {"timetz", PGV_TIMETZ, 0},
        {"timestamp", PGV_TS, 0},
        {"timestamp with time zone", PGV_TSTZ, 0},
        /* arrays and built-ins whose equality is not their text */
        {"_int4", PGV_UNSUPPORTED, 0},
        {"int4[]", PGV_UNSUPPORTED, 0},
        {"jsonb", PGV_UNSUPPORTED, 0},
        {"interval", PGV_UNSUPPORTED, 0},
        {"bit varying", PGV_UNSUPPORTED, 0},
        /* enums, user types and built-ins compared by text */
        {"booking_status", PGV_OPAQUE, 0},
        {"pg_node_tree", PGV_OPAQUE, 0},
        {"Int4", PGV_OPAQUE, 0},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        int sub = -1;
        assert_int_equal(pgv_type_kind(c[i].name, &sub), c[i].kind);
        assert_int_equal(sub, c[i].sub);
    }
    int sub = -1;
    assert_int_equal(pgv_type_kind(NULL, &sub), PGV_OPAQUE);
    assert_int_equal(sub, 0);
    assert_true(pgv_kind_is_text(PGV_TEXT) && pgv_kind_is_text(PGV_BPCHAR) && pgv_kind_is_text(PGV_CITEXT));
    assert_false(pgv_kind_is_text(PGV_OPAQUE) || pgv_kind_is_text(PGV_UUID));
    assert_string_equal(pgv_kind_label(PGV_INT, 16), "smallint");
    assert_string_equal(pgv_kind_label(PGV_INT, 64), "bigint");
    assert_string_equal(pgv_kind_label(PGV_FLOAT, 4), "real");
    assert_string_equal(pgv_kind_label(PGV_TSTZ, 0), "timestamp with time zone");
    assert_string_equal(pgv_kind_label(PGV_CITEXT, 0), "text");
}

static void test_integers(void **state) {
    (void)state;
    pgv_val_t v;
    assert_int_equal(parse(PGV_INT, 32, " +42 ", &v), 0);
    assert_int_equal(v.u.i, 42);
    assert_int_equal(parse(PGV_INT, 16, "-32768", &v), 0);
    assert_int_equal(v.u.i, -32768);
    assert_int_equal(parse(PGV_INT, 16, "32768", &v), PGV_ERANGE);
    assert_int_equal(parse(PGV_INT, 32, "-2147483649", &v), PGV_ERANGE);
    assert_int_equal(parse(PGV_INT, 64, "-9223372036854775808", &v), 0);
    assert_true(v.u.i == INT64_MIN);
    assert_int_equal(parse(PGV_INT, 64, "9223372036854775808", &v), PGV_ERANGE);
    /* Both refuse; PostgreSQL names the overflow first, here the syntax error wins. */
    assert_int_equal(parse(PGV_INT, 64, "99999999999999999999999x", &v), PGV_ESYNTAX);
    assert_int_equal(parse(PGV_INT, 32, "1.0", &v), PGV_ESYNTAX);
    assert_int_equal(parse(PGV_INT, 32, "-", &v), PGV_ESYNTAX);
    assert_int_equal(parse(PGV_INT, 32, "", &v), PGV_ESYNTAX);
    assert_int_equal(parse(PGV_INT, 32, "1 2", &v), PGV_ESYNTAX);
    assert_int_equal(cmp_text(PGV_INT, 32, "007", "7"), 0);
    assert_int_equal(cmp_text(PGV_INT, 32, "-1", "1"), -1);
}

static void test_floats(void **state) {
    (void)state;
    pgv_val_t v;
    assert_int_equal(parse(PGV_FLOAT, 8, " 1.5e3 ", &v), 0);
    assert_true(v.u.f == 1500.0);
    assert_int_equal(parse(PGV_FLOAT, 8, "-Infinity", &v), 0);
    assert_true(isinf(v.u.f) && v.u.f < 0);
    assert_int_equal(parse(PGV_FLOAT, 8, "nan", &v), 0);
    assert_true(isnan(v.u.f));
    assert_int_equal(parse(PGV_FLOAT, 8, "0x10", &v), 0); /* strtod's hex, as PostgreSQL */
    assert_true(v.u.f == 16.0);
    assert_int_equal(parse(PGV_FLOAT, 8, "1e400", &v), PGV_ERANGE);
    assert_int_equal(parse(PGV_FLOAT, 4, "1e39", &v), PGV_ERANGE);
    assert_int_equal(parse(PGV_FLOAT, 8, "1e-400", &v), PGV_ERANGE);
    assert_int_equal(parse(PGV_FLOAT, 8, "abc", &v), PGV_ESYNTAX);
    assert_int_equal(parse(PGV_FLOAT, 8, "1.5x", &v), PGV_ESYNTAX);
    assert_int_equal(pgv_parse(PGV_FLOAT, 8, "1\0", 2, 1, &v), PGV_ESYNTAX);
    /* NaN equals NaN and sorts above everything, -0 = 0 */
    assert_int_equal(cmp_text(PGV_FLOAT, 8, "NaN", "nan"), 0);
    assert_int_equal(cmp_text(PGV_FLOAT, 8, "NaN", "Infinity"), 1);
    assert_int_equal(cmp_text(PGV_FLOAT, 8, "-0", "0"), 0);
    assert_int_equal(cmp_text(PGV_FLOAT, 4, "0.1", "0.10000001"), -1);

    /* A long float: an operand is copied and read, a cell is refused. */
    char longf[300];
    memset(longf, '0', sizeof longf);
    longf[0] = '1';
    longf[1] = '.';
    longf[sizeof longf - 1] = '\0';
    assert_int_equal(pgv_parse(PGV_FLOAT, 8, longf, strlen(longf), 1, &v), 0);
    assert_true(v.u.f == 1.0);
    assert_int_equal(pgv_parse(PGV_FLOAT, 8, longf, strlen(longf), 0, &v), PGV_ESYNTAX);
}

static void test_numerics(void **state) {
    (void)state;
    pgv_val_t v;
    assert_int_equal(parse(PGV_NUMERIC, 0, " -001.2300e1 ", &v), 0);
    assert_int_equal(v.u.dec.sign, -1);
    assert_int_equal(v.u.dec.special, 0);
    assert_int_equal(v.u.dec.weight, 1); /* 12.3 */
    assert_int_equal(v.u.dec.nch, 4);    /* "1.23": the point sits among the digits */
    assert_memory_equal(v.u.dec.dig, "1.23", 4);
    assert_int_equal(parse(PGV_NUMERIC, 0, "0.000", &v), 0);
    assert_int_equal(v.u.dec.sign, 0);
    assert_int_equal(parse(PGV_NUMERIC, 0, "-Inf", &v), 0);
    assert_int_equal(v.u.dec.special, PGV_DEC_NINF);
    assert_int_equal(parse(PGV_NUMERIC, 0, "+infinity", &v), 0);
    assert_int_equal(v.u.dec.special, PGV_DEC_PINF);
    assert_int_equal(parse(PGV_NUMERIC, 0, "NaN", &v), 0);
    assert_int_equal(v.u.dec.special, PGV_DEC_NAN);
    assert_int_equal(parse(PGV_NUMERIC, 0, ".5", &v), 0);
    assert_int_equal(parse(PGV_NUMERIC, 0, "5.", &v), 0);
    assert_int_equal(parse(PGV_NUMERIC, 0, ".", &v), PGV_ESYNTAX);
    assert_int_equal(parse(PGV_NUMERIC, 0, "1.2.3", &v), PGV_ESYNTAX);
    assert_int_equal(parse(PGV_NUMERIC, 0, "1e", &v), PGV_ESYNTAX);
    assert_int_equal(parse(PGV_NUMERIC, 0, "1e5x", &v), PGV_ESYNTAX);
    assert_int_equal(parse(PGV_NUMERIC, 0, "1e1073741823", &v), PGV_ERANGE);   /* overflows numeric format */
    assert_int_equal(parse(PGV_NUMERIC, 0, "1e99999999999x", &v), PGV_ERANGE); /* before the junk */
    assert_int_equal(parse(PGV_NUMERIC, 0, "1e-16384", &v), PGV_ERANGE);       /* display scale */
    assert_int_equal(parse(PGV_NUMERIC, 0, "1e-16383", &v), 0);
    assert_int_equal(parse(PGV_NUMERIC, 0, "1e131071", &v), 0); /* weight 32767 base-10000 digits */
    assert_int_equal(parse(PGV_NUMERIC, 0, "1e131072", &v), PGV_ERANGE);
    /* -Infinity < finite < Infinity < NaN; trailing zeros do not matter */
    assert_int_equal(cmp_text(PGV_NUMERIC, 0, "1.50", "1.5"), 0);
    assert_int_equal(cmp_text(PGV_NUMERIC, 0, "100", "1e2"), 0);
    assert_int_equal(cmp_text(PGV_NUMERIC, 0, "0.001", "0.0009"), 1);
    assert_int_equal(cmp_text(PGV_NUMERIC, 0, "-2", "-10"), 1);
    assert_int_equal(cmp_text(PGV_NUMERIC, 0, "-0", "0"), 0);
    assert_int_equal(cmp_text(PGV_NUMERIC, 0, "-Infinity", "-1e100"), -1);
    assert_int_equal(cmp_text(PGV_NUMERIC, 0, "Infinity", "1e100"), 1);
    assert_int_equal(cmp_text(PGV_NUMERIC, 0, "NaN", "Infinity"), 1);
    assert_int_equal(cmp_text(PGV_NUMERIC, 0, "NaN", "nan"), 0);
    assert_int_equal(cmp_text(PGV_NUMERIC, 0, "12.345", "12.34"), 1);
}

static void test_bools_and_uuids(void **state) {
    (void)state;
    static const struct {
        const char *s;
        int v; /* -1: refused */
    } b[] = {
        {"t", 1},   {"TRUE", 1}, {" tr ", 1}, {"y", 1},  {"on", 1},     {"1", 1}, {"f", 0},  {"No", 0},
        {"off", 0}, {"0", 0},    {"o", -1},   {"of", 0}, {"truee", -1}, {"", -1}, {"2", -1}, {"10", -1},
    };
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) {
        int64_t out = -1;
        int rc = pgv_parse_bool(b[i].s, strlen(b[i].s), &out);
        if (b[i].v < 0) {
            assert_int_equal(rc, PGV_ESYNTAX);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(out, b[i].v);
        }
    }
    pgv_val_t v;
    assert_int_equal(parse(PGV_UUID, 0, "{A0EEBC999C0B4EF8BB6D6BB9BD380A11}", &v), 0);
    assert_int_equal(v.u.uuid[0], 0xa0);
    assert_int_equal(v.u.uuid[15], 0x11);
    assert_int_equal(
        cmp_text(PGV_UUID, 0, "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), 0);
    assert_int_equal(parse(PGV_UUID, 0, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1", &v), PGV_ESYNTAX);
    assert_int_equal(parse(PGV_UUID, 0, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-", &v), PGV_ESYNTAX);
    assert_int_equal(parse(PGV_UUID, 0, "a-0eebc999c0b4ef8bb6d6bb9bd380a11", &v), PGV_ESYNTAX);
    assert_int_equal(parse(PGV_UUID, 0, " a0eebc999c0b4ef8bb6d6bb9bd380a11", &v), PGV_ESYNTAX);
    assert_int_equal(parse(PGV_UUID, 0, "{a0eebc999c0b4ef8bb6d6bb9bd380a11", &v), PGV_ESYNTAX);
}

static void test_text_kinds(void **state) {
    (void)state;
    pgv_val_t v;
    assert_int_equal(parse(PGV_BPCHAR, 0, "ab   ", &v), 0);
    assert_int_equal(v.len, 2);
    assert_int_equal(cmp_text(PGV_BPCHAR, 0, "ab   ", "ab"), 0);
    assert_int_equal(cmp_text(PGV_TEXT, 0, "ab ", "ab"), 1);
    assert_int_equal(cmp_text(PGV_TEXT, 0, "B", "a"), -1); /* "C" collation: bytes */
    assert_int_equal(cmp_text(PGV_TEXT, 0, "\xc3\xa9", "z"), 1);
    assert_int_equal(cmp_text(PGV_CITEXT, 0, "Ann@Example.COM", "ann@example.com"), 0);
    assert_int_equal(cmp_text(PGV_CITEXT, 0, "B", "a"), 1);
    assert_int_equal(cmp_text(PGV_CITEXT, 0, "\xc3\x89", "\xc3\xa9"), -1); /* ASCII folding only */
    assert_int_equal(cmp_text(PGV_OPAQUE, 0, "happy", "happy"), 0);

    /* name: an operand is clipped to 63 bytes at a character boundary, a cell is not */
    char name[80];
    memset(name, 'x', 62);
    memcpy(name + 62, "\xc3\xa9tail", 7); /* the 2-byte character straddles byte 63 */
    assert_int_equal(pgv_parse(PGV_TEXT, PGV_SUB_NAME, name, 68, 1, &v), 0);
    assert_int_equal(v.len, 62);
    assert_int_equal(pgv_parse(PGV_TEXT, PGV_SUB_NAME, name, 68, 0, &v), 0);
    assert_int_equal(v.len, 68);
    memset(name, 'y', 70);
    assert_int_equal(pgv_parse(PGV_TEXT, PGV_SUB_NAME, name, 70, 1, &v), 0);
    assert_int_equal(v.len, PGV_NAME_MAX_BYTES);
    assert_int_equal(pgv_parse(PGV_TEXT, 0, name, 70, 1, &v), 0); /* text is never clipped */
    assert_int_equal(v.len, 70);
}

static void test_datetimes(void **state) {
    (void)state;
    pgv_val_t v;
    assert_int_equal(parse(PGV_DATE, 0, "2000-01-02", &v), 0);
    assert_int_equal(v.u.i, 1);
    assert_int_equal(parse(PGV_TSTZ, 0, "2000-01-01 01:00:00+01", &v), 0);
    assert_int_equal(v.u.i, 0);
    assert_int_equal(parse(PGV_TSTZ, 0, "today", &v), PGV_EUNSUPPORTED);
    assert_int_equal(parse(PGV_DATE, 0, "2023-02-29", &v), PGV_ERANGE);
    assert_int_equal(parse(PGV_TIME, 0, "25:00", &v), PGV_ERANGE);
    assert_int_equal(parse(PGV_TIME, 0, "noon", &v), PGV_ESYNTAX);
    assert_int_equal(cmp_text(PGV_TSTZ, 0, "2024-01-01T10:00:00Z", "2024-01-01 15:30:00+05:30"), 0);
    assert_int_equal(cmp_text(PGV_TS, 0, "2024-01-01T10:00:00Z", "2024-01-01 15:30:00+05:30"), -1);
    assert_int_equal(cmp_text(PGV_DATE, 0, "-infinity", "0001-01-01 BC"), -1);
    /* timetz: by instant, then the zone (PostgreSQL: the larger west offset sorts higher) */
    assert_int_equal(parse(PGV_TIMETZ, 0, "10:00:00+01", &v), 0);
    assert_int_equal(v.u.tz.t, INT64_C(36000000000));
    assert_int_equal(v.u.tz.zone, -3600);
    assert_int_equal(cmp_text(PGV_TIMETZ, 0, "10:00:00+01", "09:00:00+00"), -1);
    assert_int_equal(cmp_text(PGV_TIMETZ, 0, "10:00:00+01", "10:00:00+01"), 0);
    assert_int_equal(cmp_text(PGV_TIMETZ, 0, "10:00:00+01", "11:00:00+00"), -1);
}

static void test_canonical(void **state) {
    (void)state;
    char out[PGV_CANONICAL_MAX];
    pgv_val_t v;
    assert_int_equal(parse(PGV_INT, 64, " -0007 ", &v), 0);
    assert_int_equal(pgv_canonical(PGV_INT, &v, out), 2);
    assert_memory_equal(out, "-7", 2);
    assert_int_equal(parse(PGV_INT, 64, "-9223372036854775808", &v), 0);
    assert_int_equal(pgv_canonical(PGV_INT, &v, out), 20);
    assert_memory_equal(out, "-9223372036854775808", 20);
    assert_int_equal(parse(PGV_BOOL, 0, "yes", &v), 0);
    assert_int_equal(pgv_canonical(PGV_BOOL, &v, out), 1);
    assert_int_equal(out[0], 't');
    assert_int_equal(parse(PGV_UUID, 0, "{A0EEBC999C0B4EF8BB6D6BB9BD380A11}", &v), 0);
    assert_int_equal(pgv_canonical(PGV_UUID, &v, out), 36);
    assert_memory_equal(out, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", 36);
    assert_int_equal(parse(PGV_NUMERIC, 0, "1", &v), 0);
    assert_int_equal(pgv_canonical(PGV_NUMERIC, &v, out), 0); /* typmod decides numeric's output */
    assert_int_equal(parse(PGV_TEXT, 0, "x", &v), 0);
    assert_int_equal(pgv_canonical(PGV_TEXT, &v, out), 0);
}

static void test_scan_decimal(void **state) {
    (void)state;
    pgv_decimal_t d;
    const char *s = "-12.340e-5 rest";
    assert_int_equal(pgv_scan_decimal(s, strlen(s), 0, &d), 0);
    assert_true(d.neg);
    assert_int_equal(d.ip, 1);
    assert_int_equal(d.ilen, 2);
    assert_int_equal(d.fp, 4);
    assert_int_equal(d.flen, 3);
    assert_int_equal(d.exp, -5);
    assert_int_equal(d.end, 10);
    s = "7";
    assert_int_equal(pgv_scan_decimal(s, 1, 0, &d), 0);
    assert_int_equal(d.fp, 1); /* no point: the fraction starts where the digits end */
    assert_int_equal(d.flen, 0);
    assert_int_equal(d.end, 1);
    assert_int_equal(pgv_scan_decimal("+1", 2, 0, &d), PGV_ESYNTAX);
    assert_int_equal(pgv_scan_decimal("+1", 2, 1, &d), 0);
    assert_false(d.neg);
    assert_int_equal(pgv_scan_decimal("1e+", 3, 1, &d), PGV_ESYNTAX);
    assert_int_equal(pgv_scan_decimal("-.", 2, 1, &d), PGV_ESYNTAX);
    assert_int_equal(pgv_scan_decimal("1x", 2, 1, &d), 0);
    assert_int_equal(d.end, 1);
    s = "1e999999999999999999999";
    assert_int_equal(pgv_scan_decimal(s, strlen(s), 1, &d), 0);
    assert_true(d.exp == PGV_EXP_SATURATED);
    assert_int_equal(d.end, strlen(s));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_kinds), cmocka_unit_test(test_integers),        cmocka_unit_test(test_floats),
        cmocka_unit_test(test_numerics),   cmocka_unit_test(test_bools_and_uuids), cmocka_unit_test(test_text_kinds),
        cmocka_unit_test(test_datetimes),  cmocka_unit_test(test_canonical),       cmocka_unit_test(test_scan_decimal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
