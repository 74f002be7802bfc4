/*
 * Unit tests for cdc/filter: the postgres_changes filter grammar as
 * realtime-js writes it and supabase/realtime accepts it, every rejection
 * path with its client-facing message, and evaluation with PostgreSQL's
 * semantics per column type (expected results were checked against
 * PostgreSQL 15 by hand; tests/tools/filter_pg_check.sh does it at scale),
 * and the work budget: every vector is also evaluated with budgets around
 * its exact cost, and pathological regexes and LIKE patterns over a 512 KiB
 * cell cost units linear in the cell and run out of small budgets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdc/filter.h"

/* The subscribed table of every test. */
static const cdc_column_t cols[] = {
    {"id", "int4"},
    {"customer_id", "uuid"},
    {"status", "booking_status"},
    {"title", "text"},
    {"code", "bpchar"},
    {"price", "numeric"},
    {"score", "float8"},
    {"ratio", "float4"},
    {"active", "bool"},
    {"starts_at", "timestamptz"},
    {"day", "date"},
    {"at", "time"},
    {"local_ts", "timestamp"},
    {"tz", "timetz"},
    {"tags", "_text"},
    {"small", "int2"},
    {"big", "int8"},
    {"email", "citext"},
    {"nm", "name"},
    {"payload", "jsonb"},
    {"vc", "varchar"},
    {"mystery", NULL},
};
#define NCOLS (sizeof cols / sizeof cols[0])

enum {
    C_ID,
    C_CUSTOMER,
    C_STATUS,
    C_TITLE,
    C_CODE,
    C_PRICE,
    C_SCORE,
    C_RATIO,
    C_ACTIVE,
    C_STARTS,
    C_DAY,
    C_AT,
    C_LOCAL_TS,
    C_TZ,
    C_TAGS,
    C_SMALL,
    C_BIG,
    C_EMAIL,
    C_NM,
    C_PAYLOAD,
    C_VC,
    C_MYSTERY,
};

static cdc_filter_t *parse_ok(const char *filter) {
    char err[256] = "";
    cdc_filter_t *f = cdc_filter_parse(filter, cols, NCOLS, err, sizeof err);
    if (!f)
        fail_msg("filter \"%s\" rejected: %s", filter, err);
    return f;
}

static void assert_parse_error(const char *filter, const char *want) {
    char err[256] = "";
    cdc_filter_t *f = cdc_filter_parse(filter, cols, NCOLS, err, sizeof err);
    if (f) {
        cdc_filter_free(f);
        fail_msg("filter \"%s\" accepted, wanted error \"%s\"", filter, want);
    }
    if (strcmp(err, want) != 0)
        fail_msg("filter \"%s\": error \"%s\", wanted \"%s\"", filter, err, want);
}

/* Work is charged deterministically and checked cumulatively, so for any
 * row the budgeted answer has a sharp threshold: with the units U that the
 * evaluation costs unlimited (or more) it is cdc_filter_match's answer and
 * leaves budget - U; with less it is -1 and leaves 0. Returns U. */
static uint64_t assert_budget_contract(const cdc_filter_t *f, const cdc_cell_t *cells, const uint8_t *unknown) {
    int r = cdc_filter_match(f, cells, unknown);
    uint64_t b = UINT64_MAX;
    assert_int_equal(cdc_filter_match_budget(f, cells, unknown, &b), r);
    uint64_t used = UINT64_MAX - b;
    b = used;
    assert_int_equal(cdc_filter_match_budget(f, cells, unknown, &b), r);
    assert_int_equal(b, 0);
    b = used + 5;
    assert_int_equal(cdc_filter_match_budget(f, cells, unknown, &b), r);
    assert_int_equal(b, 5);
    if (used > 0) {
        b = used - 1;
        assert_int_equal(cdc_filter_match_budget(f, cells, unknown, &b), -1);
        assert_int_equal(b, 0);
        b = used / 2;
        assert_int_equal(cdc_filter_match_budget(f, cells, unknown, &b), -1);
        assert_int_equal(b, 0);
    }
    return used;
}

/* Does the filter match a row whose column col holds value (NULL = SQL
 * NULL) and every other column is NULL? Every vector also checks the
 * budgeted evaluation against it. */
static int match1(const char *filter, int col, const char *value) {
    cdc_cell_t cells[NCOLS];
    memset(cells, 0, sizeof cells);
    if (value) {
        cells[col].data = value;
        cells[col].len = strlen(value);
    }
    cdc_filter_t *f = parse_ok(filter);
    int r = cdc_filter_match(f, cells, NULL);
    uint64_t used = assert_budget_contract(f, cells, NULL);
    assert_true(used >= 1); /* every vector has a condition: at least 1 unit */
    cdc_filter_free(f);
    return r;
}

#define MATCHES(filter, col, value) assert_int_equal(match1(filter, col, value), 1)
#define MISSES(filter, col, value) assert_int_equal(match1(filter, col, value), 0)

/* ---- grammar -------------------------------------------------------- */

static void test_empty_filter_matches_everything(void **state) {
    (void)state;
    const char *empties[] = {NULL, "", "   ", "\t\n"};
    cdc_cell_t cells[NCOLS];
    memset(cells, 0, sizeof cells);
    for (size_t i = 0; i < 4; i++) {
        cdc_filter_t *f = cdc_filter_parse(empties[i], cols, NCOLS, NULL, 0);
        assert_non_null(f);
        assert_int_equal(cdc_filter_match(f, cells, NULL), 1);
        assert_int_equal(assert_budget_contract(f, cells, NULL), 0); /* no condition, no work */
        uint64_t none = 0;
        assert_int_equal(cdc_filter_match_budget(f, cells, NULL, &none), 1);
        const size_t *idx;
        assert_int_equal(cdc_filter_columns(f, &idx), 0);
        size_t col;
        const char *v;
        size_t len;
        assert_int_equal(cdc_filter_eq_key(f, &col, &v, &len), 0);
        cdc_filter_free(f);
    }
}

static void test_syntax_errors(void **state) {
    (void)state;
    assert_parse_error("undefined", "invalid filter \"undefined\": expected column=operator.value");
    assert_parse_error("id=eq", "invalid filter \"id=eq\": expected column=operator.value");
    assert_parse_error("id=foo.1", "invalid filter operator foo");
    assert_parse_error("id=EQ.1", "invalid filter operator EQ");
    assert_parse_error("id=not.not.eq.1", "invalid filter operator not");
    assert_parse_error("nope=eq.1", "invalid column for filter nope");
    assert_parse_error("id =eq.1", "invalid column for filter id ");
    assert_parse_error("id=eq.1,", "filter must not contain empty segments (check for extra commas)");
    assert_parse_error("id=eq.1,,id=eq.2", "filter must not contain empty segments (check for extra commas)");
    assert_parse_error("id=in.1,2", "`in` filter value must be wrapped by parentheses");
    assert_parse_error("id=in.(1,2", "`in` filter value must be wrapped by parentheses");
    char big[9000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_parse_error(big, "filter is too long (at most 8192 bytes)");
}

static void test_segments_and_quoting(void **state) {
    (void)state;
    /* Surrounding whitespace of a segment is dropped, the AND is real. */
    cdc_filter_t *f = parse_ok("  id=gt.0 , id=lt.10  ");
    cdc_cell_t cells[NCOLS];
    memset(cells, 0, sizeof cells);
    cells[C_ID] = (cdc_cell_t){"5", 1};
    assert_int_equal(cdc_filter_match(f, cells, NULL), 1);
    assert_true(assert_budget_contract(f, cells, NULL) >= 2); /* two conditions */
    cells[C_ID] = (cdc_cell_t){"10", 2};
    assert_int_equal(cdc_filter_match(f, cells, NULL), 0);
    assert_budget_contract(f, cells, NULL);
    cdc_filter_free(f);
    /* realtime-js quotes values holding , ( ) " \ or edge whitespace. */
    MATCHES("title=eq.\"a,b\"", C_TITLE, "a,b");
    MATCHES("title=eq.\"say \\\"hi\\\"\"", C_TITLE, "say \"hi\"");
    MATCHES("title=eq.\"back\\\\slash\"", C_TITLE, "back\\slash");
    MATCHES("title=eq.\" padded \"", C_TITLE, " padded ");
    MATCHES("title=eq.\"(x)\"", C_TITLE, "(x)");
    /* A quote that does not close at the end keeps the value verbatim. */
    MATCHES("title=eq.\"ab", C_TITLE, "\"ab");
    MATCHES("title=eq.\"a\"b", C_TITLE, "\"a\"b");
    /* Parentheses hold commas: not a new condition. */
    MATCHES("title=eq.f(a,b)", C_TITLE, "f(a,b)");
    /* The value is everything after the first dot. */
    MATCHES("title=eq.a.b.c", C_TITLE, "a.b.c");
    MATCHES("title=eq.", C_TITLE, "");
    MATCHES("title=eq.x=y", C_TITLE, "x=y");
    /* What postgresChangesFilter() of realtime-js 2.119 builds. */
    f = parse_ok("customer_id=eq.c0000000-0000-4000-8000-000000000001,status=in.(confirmed,\"on hold\"),"
                 "title=not.like.skip%,score=is.null");
    const size_t *idx;
    assert_int_equal(cdc_filter_columns(f, &idx), 4);
    assert_int_equal(idx[0], C_CUSTOMER);
    assert_int_equal(idx[1], C_STATUS);
    assert_int_equal(idx[2], C_TITLE);
    assert_int_equal(idx[3], C_SCORE);
    cdc_filter_free(f);
}

static void test_columns_are_distinct(void **state) {
    (void)state;
    cdc_filter_t *f = parse_ok("id=gt.1,title=eq.x,id=lt.9");
    const size_t *idx;
    assert_int_equal(cdc_filter_columns(f, &idx), 2);
    assert_int_equal(idx[0], C_ID);
    assert_int_equal(idx[1], C_TITLE);
    cdc_filter_free(f);
}

/* ---- NULL, negation, unknown TOAST ----------------------------------- */

static void test_null_semantics(void **state) {
    (void)state;
    MISSES("id=eq.1", C_ID, NULL);
    MISSES("id=neq.1", C_ID, NULL);
    MISSES("id=not.eq.1", C_ID, NULL); /* NOT (NULL = 1) is NULL */
    MISSES("id=not.neq.1", C_ID, NULL);
    MISSES("title=like.%", C_TITLE, NULL);
    MISSES("title=not.like.x", C_TITLE, NULL);
    MISSES("title=match.", C_TITLE, NULL);
    MATCHES("id=is.null", C_ID, NULL);
    MISSES("id=not.is.null", C_ID, NULL);
    MATCHES("id=not.is.null", C_ID, "0");
    MATCHES("id=isdistinct.1", C_ID, NULL);
    MISSES("id=not.isdistinct.1", C_ID, NULL);
    MATCHES("id=not.isdistinct.1", C_ID, "1");
    MISSES("id=isdistinct.1", C_ID, "1");
    MATCHES("id=eq.1", C_ID, "1");
    MISSES("id=not.eq.1", C_ID, "1");
    MATCHES("id=not.eq.1", C_ID, "2");
}

static void test_unknown_toast_never_matches(void **state) {
    (void)state;
    cdc_cell_t cells[NCOLS];
    uint8_t unknown[NCOLS];
    memset(cells, 0, sizeof cells);
    memset(unknown, 0, sizeof unknown);
    unknown[C_TITLE] = 1;
    cells[C_ID] = (cdc_cell_t){"1", 1};
    const char *filters[] = {"title=is.null", "title=not.is.null", "title=isdistinct.x", "title=not.eq.x",
                             "title=not.in.()"};
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) {
        cdc_filter_t *f = parse_ok(filters[i]);
        assert_int_equal(cdc_filter_match(f, cells, unknown), 0);
        assert_int_equal(assert_budget_contract(f, cells, unknown), 1);
        cdc_filter_free(f);
    }
    /* Conditions on other columns are unaffected. */
    cdc_filter_t *f = parse_ok("id=eq.1");
    assert_int_equal(cdc_filter_match(f, cells, unknown), 1);
    assert_budget_contract(f, cells, unknown);
    cdc_filter_free(f);
}

/* ---- integers ------------------------------------------------------- */

static void test_integers(void **state) {
    (void)state;
    MATCHES("id=eq.007", C_ID, "7");
    MATCHES("id=eq.+7", C_ID, "7");
    MATCHES("id=eq. 7 ", C_ID, "7");
    MATCHES("id=gt.-1", C_ID, "0");
    MISSES("id=gt.10", C_ID, "9");
    MATCHES("id=lt.10", C_ID, "9"); /* numeric, not text, order */
    MATCHES("id=gte.9", C_ID, "9");
    MATCHES("id=lte.-2147483648", C_ID, "-2147483648");
    MATCHES("big=gt.9223372036854775806", C_BIG, "9223372036854775807");
    MATCHES("big=eq.-9223372036854775808", C_BIG, "-9223372036854775808");
    MATCHES("small=neq.32767", C_SMALL, "-32768");
    assert_parse_error("id=eq.abc", "invalid input syntax for type integer: \"abc\"");
    assert_parse_error("id=eq.1.5", "invalid input syntax for type integer: \"1.5\"");
    assert_parse_error("id=eq.", "invalid input syntax for type integer: \"\"");
    assert_parse_error("id=eq.2147483648", "value \"2147483648\" is out of range for type integer");
    assert_parse_error("small=eq.32768", "value \"32768\" is out of range for type smallint");
    assert_parse_error("big=eq.9223372036854775808", "value \"9223372036854775808\" is out of range for type bigint");
    assert_parse_error("id=lt.1e3", "invalid input syntax for type integer: \"1e3\"");
    /* A cell that is not an integer compares as unknown. */
    MISSES("id=neq.1", C_ID, "garbage");
}

/* ---- numeric and floats --------------------------------------------- */

static void test_numeric(void **state) {
    (void)state;
    MATCHES("price=eq.1", C_PRICE, "1.00");
    MATCHES("price=eq.1.0", C_PRICE, "1");
    MATCHES("price=eq.1e0", C_PRICE, "1.000");
    MATCHES("price=eq.-0", C_PRICE, "0.00");
    MATCHES("price=eq.0.001", C_PRICE, "0.0010");
    MATCHES("price=eq..5", C_PRICE, "0.5");
    MATCHES("price=eq.5.", C_PRICE, "5");
    MATCHES("price=eq.1E-3", C_PRICE, "0.001");
    MATCHES("price=lt.100", C_PRICE, "99.999999999999999999999999");
    MISSES("price=lt.100", C_PRICE, "100.000000000000000000000001");
    MATCHES("price=gt.123456789012345678901234567890.12345678", C_PRICE, "123456789012345678901234567890.123456789");
    MATCHES("price=lt.-1.4", C_PRICE, "-1.5");
    MATCHES("price=gt.-1.5", C_PRICE, "-1.4");
    MATCHES("price=lt.0", C_PRICE, "-0.001");
    MATCHES("price=gt.0.000000000000000000000999", C_PRICE, "0.000000000000000000001");
    /* NaN equals NaN and sorts above everything, Infinity included. */
    MATCHES("price=eq.NaN", C_PRICE, "NaN");
    MATCHES("price=gt.Infinity", C_PRICE, "NaN");
    MATCHES("price=lt.-1e100", C_PRICE, "-Infinity");
    MATCHES("price=eq.inf", C_PRICE, "Infinity");
    MATCHES("price=gt.99999999999999999999", C_PRICE, "Infinity");
    assert_parse_error("price=eq.abc", "invalid input syntax for type numeric: \"abc\"");
    assert_parse_error("price=eq.1e", "invalid input syntax for type numeric: \"1e\"");
    assert_parse_error("price=eq.1e131072", "value \"1e131072\" is out of range for type numeric");
    assert_parse_error("price=eq.1e-16384", "value \"1e-16384\" is out of range for type numeric");
}

static void test_floats(void **state) {
    (void)state;
    MATCHES("score=eq.1.5", C_SCORE, "1.5");
    MATCHES("score=eq.-0", C_SCORE, "0");
    MATCHES("score=eq.NaN", C_SCORE, "NaN");
    MATCHES("score=gt.Infinity", C_SCORE, "NaN");
    MATCHES("score=lt.-1e308", C_SCORE, "-Infinity");
    MATCHES("score=eq.1e10", C_SCORE, "10000000000");
    MATCHES("score=eq.0x10", C_SCORE, "16"); /* strtod, as float8in */
    MISSES("score=eq.0.1", C_SCORE, "0.10000000000000002");
    /* float4 values are rounded to single precision on both sides. */
    MATCHES("ratio=eq.0.1", C_RATIO, "0.1");
    MATCHES("ratio=eq.16777217", C_RATIO, "1.6777216e+07");
    MISSES("ratio=eq.1.5000001", C_RATIO, "1.5");
    assert_parse_error("score=eq.1e400", "value \"1e400\" is out of range for type double precision");
    assert_parse_error("ratio=eq.1e39", "value \"1e39\" is out of range for type real");
    assert_parse_error("score=eq.abc", "invalid input syntax for type double precision: \"abc\"");
}

/* ---- booleans and IS -------------------------------------------------- */

static void test_booleans(void **state) {
    (void)state;
    MATCHES("active=eq.true", C_ACTIVE, "t");
    MATCHES("active=eq.t", C_ACTIVE, "t");
    MATCHES("active=eq.YES", C_ACTIVE, "t");
    MATCHES("active=eq.on", C_ACTIVE, "t");
    MATCHES("active=eq.1", C_ACTIVE, "t");
    MATCHES("active=eq.fal", C_ACTIVE, "f");
    MATCHES("active=lt.true", C_ACTIVE, "f");
    MISSES("active=neq.f", C_ACTIVE, "f");
    assert_parse_error("active=eq.o", "invalid input syntax for type boolean: \"o\"");
    assert_parse_error("active=eq.2", "invalid input syntax for type boolean: \"2\"");
    MATCHES("active=is.true", C_ACTIVE, "t");
    MISSES("active=is.true", C_ACTIVE, NULL);
    MATCHES("active=not.is.true", C_ACTIVE, NULL);
    MATCHES("active=not.is.true", C_ACTIVE, "f");
    MATCHES("active=is.false", C_ACTIVE, "f");
    MATCHES("active=is.unknown", C_ACTIVE, NULL);
    MISSES("active=is.unknown", C_ACTIVE, "f");
    MATCHES("active=not.is.unknown", C_ACTIVE, "f");
    MATCHES("title=is.\"null\"", C_TITLE, NULL);
}

static void test_is_errors(void **state) {
    (void)state;
    assert_parse_error("id=is.NULL", "invalid value for is filter: must be null, true, false, or unknown");
    assert_parse_error("id=is.not.null", "invalid value for is filter: must be null, true, false, or unknown");
    assert_parse_error("id=is.true", "is true filter requires a boolean column, got int4");
    assert_parse_error("title=is.unknown", "is unknown filter requires a boolean column, got text");
}

/* ---- text kinds ------------------------------------------------------- */

static void test_text(void **state) {
    (void)state;
    MATCHES("title=eq.hello", C_TITLE, "hello");
    MISSES("title=eq.hello", C_TITLE, "Hello");
    MISSES("title=eq.hello", C_TITLE, "hello ");
    /* Byte order, as the C collation: uppercase before lowercase. */
    MATCHES("title=lt.apple", C_TITLE, "Zebra");
    MATCHES("title=gt.abc", C_TITLE, "abcd");
    MATCHES("title=lt.b", C_TITLE, "abc");
    MATCHES("title=gt.z", C_TITLE, "\xc3\xa9"); /* é after ASCII */
    MATCHES("title=gte.", C_TITLE, "");
    MATCHES("vc=eq.x", C_VC, "x");
    /* bpchar: trailing spaces do not count in comparisons. */
    MATCHES("code=eq.ab", C_CODE, "ab    ");
    MATCHES("code=eq.ab  ", C_CODE, "ab    ");
    MATCHES("code=lt.ab!", C_CODE, "ab    ");
    MISSES("code=eq. ab", C_CODE, "ab    ");
    /* citext: ASCII case folded. */
    MATCHES("email=eq.Ann@Example.COM", C_EMAIL, "ann@example.com");
    MATCHES("email=lt.B", C_EMAIL, "a");
    MISSES("email=eq.\xc3\xa9", C_EMAIL, "\xc3\x89");
    /* name: the operand is clipped to 63 bytes, as namein does. */
    char longname[80], filter[120];
    memset(longname, 'n', 70);
    longname[70] = '\0';
    snprintf(filter, sizeof filter, "nm=eq.%s", longname);
    longname[63] = '\0';
    MATCHES(filter, C_NM, longname);
}

/* ---- uuid ------------------------------------------------------------- */

static void test_uuid(void **state) {
    (void)state;
    const char *cell = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
    MATCHES("customer_id=eq.a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", C_CUSTOMER, cell);
    MATCHES("customer_id=eq.A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", C_CUSTOMER, cell);
    MATCHES("customer_id=eq.{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", C_CUSTOMER, cell);
    MATCHES("customer_id=eq.a0eebc999c0b4ef8bb6d6bb9bd380a11", C_CUSTOMER, cell);
    MATCHES("customer_id=eq.a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11", C_CUSTOMER, cell);
    MATCHES("customer_id=lt.b0000000-0000-0000-0000-000000000000", C_CUSTOMER, cell);
    MISSES("customer_id=eq.a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12", C_CUSTOMER, cell);
    assert_parse_error("customer_id=eq.not-a-uuid", "invalid input syntax for type uuid: \"not-a-uuid\"");
    assert_parse_error("customer_id=eq.a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1",
                       "invalid input syntax for type uuid: \"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1\"");
    assert_parse_error("customer_id=eq. a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                       "invalid input syntax for type uuid: \" a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"");
    assert_parse_error("customer_id=like.a%", "operator like requires a text-compatible column type, got uuid");
}

/* ---- dates and times -------------------------------------------------- */

static void test_timestamptz(void **state) {
    (void)state;
    const char *cell = "2024-01-01 10:00:00+00";
    MATCHES("starts_at=eq.2024-01-01T10:00:00Z", C_STARTS, cell);
    MATCHES("starts_at=eq.2024-01-01 10:00:00", C_STARTS, cell); /* no offset: UTC */
    MATCHES("starts_at=eq.2024-01-01T11:00:00+01:00", C_STARTS, cell);
    MATCHES("starts_at=eq.2024-01-01 15:30:00+05:30", C_STARTS, cell);
    MATCHES("starts_at=eq.2024-01-01 05:00:00-0500", C_STARTS, cell);
    MATCHES("starts_at=eq.2024-01-01 10:00:00 UTC", C_STARTS, cell);
    MATCHES("starts_at=eq.2024-01-01T10:00:00.000000Z", C_STARTS, cell);
    MATCHES("starts_at=eq.2024-01-01 11:00:00+01", C_STARTS, "2024-01-01 10:00:00+00");
    MATCHES("starts_at=gt.2024-01-01", C_STARTS, cell);
    MATCHES("starts_at=lt.2024-01-01T10:00:00.000001Z", C_STARTS, cell);
    MATCHES("starts_at=eq.2024-01-01T10:00:00Z", C_STARTS, "2024-01-01 15:30:00+05:30");
    MATCHES("starts_at=lt.0001-01-01", C_STARTS, "0044-03-15 10:00:00+00 BC");
    MATCHES("starts_at=gt.294000-01-01", C_STARTS, "infinity");
    MISSES("starts_at=lt.-infinity", C_STARTS, "-infinity");
    MATCHES("starts_at=eq.epoch", C_STARTS, "1970-01-01 00:00:00+00");
    assert_parse_error("starts_at=eq.now", "\"now\" is not supported in filters: give a date/time value");
    assert_parse_error("starts_at=eq.2024-02-30",
                       "value \"2024-02-30\" is out of range for type timestamp with time zone");
    assert_parse_error("starts_at=eq.2024-01-01T10",
                       "invalid input syntax for type timestamp with time zone: \"2024-01-01T10\"");
    assert_parse_error("starts_at=eq.Jan 1 2024",
                       "invalid input syntax for type timestamp with time zone: \"Jan 1 2024\"");
    assert_parse_error("starts_at=eq.2024-01-01 10:00:00+16",
                       "value \"2024-01-01 10:00:00+16\" is out of range for type timestamp with time zone");
}

static void test_other_datetimes(void **state) {
    (void)state;
    /* timestamp without time zone ignores an offset, like PostgreSQL. */
    MATCHES("local_ts=eq.2024-01-01 10:00:00+05", C_LOCAL_TS, "2024-01-01 10:00:00");
    MATCHES("local_ts=eq.2024-01-01 24:00:00", C_LOCAL_TS, "2024-01-02 00:00:00");
    MATCHES("local_ts=eq.2024-01-01 23:59:60", C_LOCAL_TS, "2024-01-02 00:00:00");
    MATCHES("local_ts=eq.2024-01-01 10:00:00.1234565", C_LOCAL_TS, "2024-01-01 10:00:00.123456");
    MATCHES("local_ts=lt.2000-01-01", C_LOCAL_TS, "1999-12-31 23:59:59.999999");
    MATCHES("day=eq.2024-01-01", C_DAY, "2024-01-01");
    MATCHES("day=eq.20240101", C_DAY, "2024-01-01");
    MATCHES("day=eq.2024-1-5", C_DAY, "2024-01-05");
    MATCHES("day=eq.2024-01-01T10:00:00Z", C_DAY, "2024-01-01");
    MATCHES("day=lt.0001-01-01", C_DAY, "0001-12-31 BC");
    MATCHES("day=gt.9999-12-31", C_DAY, "10000-01-01");
    MATCHES("day=eq.2024-02-29", C_DAY, "2024-02-29");
    assert_parse_error("day=eq.2023-02-29", "value \"2023-02-29\" is out of range for type date");
    assert_parse_error("day=eq.0000-01-01", "value \"0000-01-01\" is out of range for type date");
    MATCHES("at=eq.10:00", C_AT, "10:00:00");
    MATCHES("at=gt.23:59:59.999999", C_AT, "24:00:00");
    MATCHES("at=eq.allballs", C_AT, "00:00:00");
    MATCHES("at=eq.10:00:00+05", C_AT, "10:00:00");
    assert_parse_error("at=eq.24:00:01", "value \"24:00:01\" is out of range for type time without time zone");
    assert_parse_error("at=eq.25:00", "value \"25:00\" is out of range for type time without time zone");
    /* timetz: by instant, then by zone. */
    MISSES("tz=eq.09:00:00+00", C_TZ, "10:00:00+01");
    MATCHES("tz=lt.09:00:00+00", C_TZ, "10:00:00+01");
    MATCHES("tz=eq.10:00:00+01", C_TZ, "10:00:00+01");
    MATCHES("tz=gt.10:00:00+00", C_TZ, "09:00:00-05:30");
}

/* ---- in ---------------------------------------------------------------- */

static void test_in_lists(void **state) {
    (void)state;
    MATCHES("id=in.(1,2,3)", C_ID, "2");
    MATCHES("id=in.( 1 , 007 )", C_ID, "7");
    MISSES("id=in.(1,2,3)", C_ID, "4");
    MATCHES("id=not.in.(1,2,3)", C_ID, "4");
    MATCHES("title=in.(\"a,b\",c)", C_TITLE, "a,b");
    MATCHES("title=in.(\"say \\\"hi\\\"\")", C_TITLE, "say \"hi\"");
    MATCHES("title=in.(a b ,c)", C_TITLE, "a b");
    MATCHES("title=in.(a\\ ,c)", C_TITLE, "a ");
    MATCHES("title=in.(\"NULL\")", C_TITLE, "NULL");
    MISSES("title=in.(NULL)", C_TITLE, "NULL"); /* unquoted NULL is SQL NULL */
    /* SQL: 4 = ANY('{1,NULL}') is NULL, and so is its negation. */
    MISSES("id=in.(1,null)", C_ID, "4");
    MISSES("id=not.in.(1,null)", C_ID, "4");
    MATCHES("id=in.(1,null)", C_ID, "1");
    /* Empty list: false even for NULL, so its negation is true even for NULL. */
    MISSES("id=in.()", C_ID, "1");
    MATCHES("id=not.in.()", C_ID, NULL);
    MATCHES("id=not.in.( )", C_ID, "1");
    MISSES("id=in.(1)", C_ID, NULL);
    /* PostgreSQL's nested (rectangular) lists are flattened by = ANY. */
    MATCHES("customer_id=in.({a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11})", C_CUSTOMER,
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    MATCHES("id=in.({1,2},{3,4})", C_ID, "4");
    MATCHES("status=in.(confirmed,pending)", C_STATUS, "pending");
    MATCHES("starts_at=in.(2024-01-01T10:00:00Z)", C_STARTS, "2024-01-01 10:00:00+00");
    assert_parse_error("id=in.(1,abc)", "invalid input syntax for type integer: \"abc\"");
    assert_parse_error("id=in.(1,)", "invalid filter value for in: malformed list \"(1,)\"");
    assert_parse_error("id=in.(,)", "invalid filter value for in: malformed list \"(,)\"");
    assert_parse_error("title=in.(a\"b\")", "invalid filter value for in: malformed list \"(a\"b\")\"");
    assert_parse_error("title=in.(\"a\"b)", "invalid filter value for in: malformed list \"(\"a\"b)\"");
    assert_parse_error("id=in.({1},{2,3})", "invalid filter value for in: malformed list \"({1},{2,3})\"");
    assert_parse_error("id=in.({1},2)", "invalid filter value for in: malformed list \"({1},2)\"");
    assert_parse_error("id=in.({})", "invalid filter value for in: malformed list \"({})\"");
    assert_parse_error("id=in.(a}b)", "invalid filter value for in: malformed list \"(a}b)\"");
    assert_parse_error("id=in.({{{{{{1}}}}}})", "invalid filter value for in: malformed list \"({{{{{{1}}}}}})\"");
    char filter[400] = "id=in.(";
    for (int i = 0; i < 101; i++)
        snprintf(filter + strlen(filter), sizeof filter - strlen(filter), "%s%d", i ? "," : "", i);
    strcat(filter, ")");
    assert_parse_error(filter, "too many values for `in` filter. Maximum 100");
}

/* ---- like / ilike ------------------------------------------------------ */

static void test_like(void **state) {
    (void)state;
    MATCHES("title=like.hel%", C_TITLE, "hello");
    MATCHES("title=like.%llo", C_TITLE, "hello");
    MATCHES("title=like.h_llo", C_TITLE, "hello");
    MATCHES("title=like.%", C_TITLE, "");
    MISSES("title=like._", C_TITLE, "");
    MATCHES("title=like.%l%l%", C_TITLE, "hello");
    MISSES("title=like.%l%l%l%", C_TITLE, "hello");
    MATCHES("title=like.100\\%", C_TITLE, "100%");
    MISSES("title=like.100\\%", C_TITLE, "1000");
    MATCHES("title=like.a\\_b", C_TITLE, "a_b");
    MISSES("title=like.a\\_b", C_TITLE, "axb");
    MATCHES("title=like.\\a", C_TITLE, "a");
    MATCHES("title=like.caf_", C_TITLE, "caf\xc3\xa9"); /* _ is one character */
    MATCHES("title=like.%_\xe6\x9c\xac", C_TITLE, "\xe6\x97\xa5\xe6\x9c\xac");
    MISSES("title=like.HELLO", C_TITLE, "hello");
    MATCHES("title=ilike.HEL%", C_TITLE, "hello");
    MISSES("title=ilike.\xc3\x89", C_TITLE, "\xc3\xa9"); /* ASCII folding only */
    MATCHES("title=not.like.skip%", C_TITLE, "keep");
    MATCHES("vc=like.x%", C_VC, "xyz");
    /* bpchar LIKE sees the padding, as PostgreSQL's bpcharlike. */
    MISSES("code=like.ab", C_CODE, "ab    ");
    MATCHES("code=like.ab%", C_CODE, "ab    ");
    /* citext LIKE folds case. */
    MATCHES("email=like.ANN%", C_EMAIL, "ann@example.com");
    assert_parse_error("title=like.ab\\", "LIKE pattern must not end with escape character");
    assert_parse_error("id=like.1%", "operator like requires a text-compatible column type, got int4");
    assert_parse_error("status=ilike.x%", "operator ilike requires a text-compatible column type, got booking_status");
}

/* ---- match / imatch ---------------------------------------------------- */

static void test_regex(void **state) {
    (void)state;
    MATCHES("title=match.^post-", C_TITLE, "post-1");
    MISSES("title=match.^post-", C_TITLE, "a post-1");
    MATCHES("title=match.ell", C_TITLE, "hello");
    MATCHES("title=match.o$", C_TITLE, "hello");
    MATCHES("title=match.^h.l+o$", C_TITLE, "hello");
    MATCHES("title=match.^(ab|cd)*$", C_TITLE, "abcdab");
    MISSES("title=match.^(ab|cd)*$", C_TITLE, "abc");
    /* A comma must be quoted, as realtime-js does, or it splits the filter. */
    assert_parse_error("title=match.^a{2,3}$", "invalid regular expression for match filter: braces {} not balanced");
    MATCHES("title=match.\"^a{2,3}$\"", C_TITLE, "aaa");
    MISSES("title=match.\"^a{2,3}$\"", C_TITLE, "aaaa");
    MATCHES("title=match.\"^a{2,}$\"", C_TITLE, "aaaaa");
    MATCHES("title=match.\"a{,3}\"", C_TITLE, "a{,3}"); /* not a bound: literal */
    MATCHES("title=match.\\d+", C_TITLE, "abc123");
    MISSES("title=match.\\d", C_TITLE, "abc");
    MATCHES("title=match.[\\d]", C_TITLE, "5");
    MATCHES("title=match.^[[:upper:]][[:lower:]]+$", C_TITLE, "Hello");
    MATCHES("title=match.^[^a-c]$", C_TITLE, "d");
    MATCHES("title=match.[]]", C_TITLE, "]");
    MATCHES("title=match.^.$", C_TITLE, "\xc3\xa9"); /* . is one character */
    MATCHES("title=match.\\mab\\M", C_TITLE, "x ab y");
    MISSES("title=match.a\\yb", C_TITLE, "ab");
    MATCHES("title=match.\\Aab\\Z", C_TITLE, "ab");
    MATCHES("title=match.\\x41", C_TITLE, "A");
    MATCHES("title=match.\\u00e9", C_TITLE, "\xc3\xa9");
    MATCHES("title=match.a.b", C_TITLE, "a\nb");
    MISSES("title=match.(?n)a.b", C_TITLE, "a\nb");
    MATCHES("title=match.(?n)^b", C_TITLE, "a\nb");
    MATCHES("title=match.***=a.c", C_TITLE, "xa.cx");
    MISSES("title=match.***=a.c", C_TITLE, "abc");
    MATCHES("title=match.a+?b", C_TITLE, "aab");
    MATCHES("title=match.", C_TITLE, "anything");
    MATCHES("title=imatch.^HEL", C_TITLE, "hello");
    MATCHES("title=match.(?i)^HEL", C_TITLE, "hello");
    MISSES("title=imatch.[^H]", C_TITLE, "h");
    MISSES("title=imatch.\xc3\x89", C_TITLE, "\xc3\xa9");
    MATCHES("code=match.^ab  ", C_CODE, "ab    "); /* bpchar keeps its padding */
    MATCHES("email=match.^ANN", C_EMAIL, "ann@example.com");
    MATCHES("title=not.match.^skip", C_TITLE, "keep");
    assert_parse_error("title=match.a**", "invalid regular expression for match filter: quantifier operand invalid");
    assert_parse_error("title=match.(", "invalid regular expression for match filter: parentheses () not balanced");
    assert_parse_error("title=match.a)", "invalid regular expression for match filter: parentheses () not balanced");
    assert_parse_error("title=match.[a", "invalid regular expression for match filter: brackets [] not balanced");
    assert_parse_error("title=match.[z-a]", "invalid regular expression for match filter: invalid character range");
    assert_parse_error("title=match.a{256}",
                       "invalid regular expression for match filter: invalid repetition count(s)");
    assert_parse_error("title=match.\"a{3,2}\"",
                       "invalid regular expression for match filter: invalid repetition count(s)");
    assert_parse_error("title=match.\\q", "invalid regular expression for match filter: invalid escape \\ sequence");
    assert_parse_error("title=match.^*", "invalid regular expression for match filter: quantifier operand invalid");
    assert_parse_error("title=match.[[:nope:]]",
                       "invalid regular expression for match filter: invalid character class");
    assert_parse_error(
        "title=imatch.(?=a)",
        "invalid regular expression for imatch filter: lookahead and lookbehind constraints are not supported");
    assert_parse_error(
        "title=match.(a)\\1",
        "invalid regular expression for match filter: back-references and octal escapes are not supported");
    assert_parse_error(
        "title=match.(?x)a b",
        "invalid regular expression for match filter: regular expression options b, e and x are not supported");
    assert_parse_error("title=match.(a{255}){255}",
                       "invalid regular expression for match filter: regular expression is too complex");
    assert_parse_error("id=match.1", "operator match requires a text-compatible column type, got int4");
}

/* ---- enums, unsupported and unknown types ------------------------------ */

static void test_enum_and_unsupported(void **state) {
    (void)state;
    MATCHES("status=eq.confirmed", C_STATUS, "confirmed");
    MISSES("status=eq.Confirmed", C_STATUS, "confirmed");
    MATCHES("status=neq.pending", C_STATUS, "confirmed");
    MATCHES("status=isdistinct.pending", C_STATUS, "confirmed");
    MATCHES("mystery=eq.x", C_MYSTERY, "x");
    assert_parse_error(
        "status=lt.pending",
        "operator lt is not supported on column status of type booking_status: its sort order is not known");
    assert_parse_error("payload=eq.{}", "filters on column payload of type jsonb support only is.null");
    assert_parse_error("tags=eq.\"{a}\"", "filters on column tags of type _text support only is.null");
    MATCHES("payload=is.null", C_PAYLOAD, NULL);
    MATCHES("tags=not.is.null", C_TAGS, "{a,b}");
}

/* ---- eq key ------------------------------------------------------------ */

static void assert_key(const char *filter, int want_col, const char *want) {
    cdc_filter_t *f = parse_ok(filter);
    size_t col = 99;
    const char *v = NULL;
    size_t len = 0;
    int has = cdc_filter_eq_key(f, &col, &v, &len);
    if (!want) {
        assert_int_equal(has, 0);
    } else {
        assert_int_equal(has, 1);
        assert_int_equal(col, want_col);
        assert_int_equal(len, strlen(want));
        assert_memory_equal(v, want, len);
    }
    cdc_filter_free(f);
}

static void test_eq_key(void **state) {
    (void)state;
    assert_key("customer_id=eq.C0000000-0000-4000-8000-000000000001", C_CUSTOMER,
               "c0000000-0000-4000-8000-000000000001");
    assert_key("customer_id=eq.{c0000000000040008000000000000001}", C_CUSTOMER, "c0000000-0000-4000-8000-000000000001");
    assert_key("id=eq.007", C_ID, "7");
    assert_key("id=eq.-0", C_ID, "0");
    assert_key("active=eq.yes", C_ACTIVE, "t");
    assert_key("title=eq.\"a,b\"", C_TITLE, "a,b");
    assert_key("status=eq.confirmed", C_STATUS, "confirmed");
    assert_key("id=gt.1,title=eq.x,id=eq.3", C_TITLE, "x"); /* the first eq */
    assert_key("id=not.eq.1", 0, NULL);
    assert_key("id=in.(1)", 0, NULL);
    assert_key("price=eq.1", 0, NULL);     /* "1" vs "1.00": typmod decides the text */
    assert_key("code=eq.ab", 0, NULL);     /* padding */
    assert_key("email=eq.A@b.c", 0, NULL); /* case */
    assert_key("starts_at=eq.2024-01-01T10:00:00Z", 0, NULL);
}

/* ---- work budget ------------------------------------------------------- */

#define BIG (512 * 1024)

/* A 512 KiB cell of 'a' ending in tail (NUL-terminated, caller frees). */
static char *big_cell(const char *tail) {
    size_t tl = strlen(tail);
    char *s = malloc(BIG + 1);
    assert_non_null(s);
    memset(s, 'a', BIG);
    memcpy(s + BIG - tl, tail, tl);
    s[BIG] = '\0';
    return s;
}

/* Units the filter costs on one cell, unlimited; checks the answer. */
static uint64_t units_on(const char *filter, int col, const char *value, size_t len, int want) {
    cdc_cell_t cells[NCOLS];
    memset(cells, 0, sizeof cells);
    cells[col] = (cdc_cell_t){value, len};
    cdc_filter_t *f = parse_ok(filter);
    uint64_t b = UINT64_MAX;
    assert_int_equal(cdc_filter_match_budget(f, cells, NULL, &b), want);
    assert_int_equal(cdc_filter_match(f, cells, NULL), want);
    cdc_filter_free(f);
    return UINT64_MAX - b;
}

/* Runs out at a small budget: -1, budget emptied. */
static void assert_runs_out(const char *filter, int col, const char *value, size_t len, uint64_t budget) {
    cdc_cell_t cells[NCOLS];
    memset(cells, 0, sizeof cells);
    cells[col] = (cdc_cell_t){value, len};
    cdc_filter_t *f = parse_ok(filter);
    uint64_t b = budget;
    assert_int_equal(cdc_filter_match_budget(f, cells, NULL, &b), -1);
    assert_int_equal(b, 0);
    cdc_filter_free(f);
}

static void test_budget_regex_nested_repetition(void **state) {
    (void)state;
    char *yes = big_cell("a"), *no = big_cell("!");
    /* Nested repetition: exponential for a backtracking matcher, linear
     * here; without a limit the answer is right, and the units it costs
     * are bounded by (program size) x (text length). */
    static const char *const pats[] = {"title=imatch.^(a+)+$", "title=match.^(a|aa)+$", "title=imatch.^((a+)+a*)+$"};
    for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++) {
        uint64_t u = units_on(pats[i], C_TITLE, yes, BIG, 1);
        assert_true(u > BIG);      /* every position was charged */
        assert_true(u < 64 * BIG); /* a few instructions per position, not more */
        u = units_on(pats[i], C_TITLE, no, BIG, 0);
        assert_true(u > BIG && u < 64 * BIG);
        assert_runs_out(pats[i], C_TITLE, yes, BIG, 100000);
        assert_runs_out(pats[i], C_TITLE, no, BIG, 100000);
        assert_runs_out(pats[i], C_TITLE, yes, BIG, 2000000); /* the server's default budget */
    }
    /* The same pattern over a short cell fits any sensible budget. */
    assert_true(units_on("title=imatch.^(a+)+$", C_TITLE, "aaaa", 4, 1) < 100);
    /* An anchored pattern whose threads died stops: "^b" over 512 KiB of 'a'. */
    assert_true(units_on("title=match.^b", C_TITLE, no, BIG, 0) < 10);
    /* A pattern that cannot start on 'a' skips the text at one unit a byte. */
    uint64_t u = units_on("title=match.x+y", C_TITLE, no, BIG, 0);
    assert_true(u >= BIG && u <= BIG + 10);
    free(yes);
    free(no);
}

static void test_budget_like(void **state) {
    (void)state;
    char *a = big_cell("a"), *b = big_cell("b");
    /* Several '%'s do not multiply: linear in the text. */
    uint64_t u = units_on("title=ilike.%a%a%a%a%b", C_TITLE, a, BIG, 0);
    assert_true(u >= BIG && u <= 4 * (uint64_t)BIG);
    u = units_on("title=ilike.%a%a%a%a%b", C_TITLE, b, BIG, 1);
    assert_true(u <= 4 * (uint64_t)BIG);
    assert_true(units_on("title=like.%a%a%a%a%b", C_TITLE, b, BIG, 1) <= 4 * (uint64_t)BIG);
    /* A long piece after '%' costs at most text x pattern. */
    char pat[160] = "title=like.%";
    memset(pat + strlen(pat), 'a', 100);
    strcpy(pat + strlen("title=like.%") + 100, "b");
    u = units_on(pat, C_TITLE, a, BIG, 0);
    assert_true(u > 50 * (uint64_t)BIG && u <= 102 * (uint64_t)BIG);
    assert_true(units_on(pat, C_TITLE, b, BIG, 1) <= 102 * (uint64_t)BIG);
    assert_runs_out(pat, C_TITLE, a, BIG, 100000);
    assert_runs_out(pat, C_TITLE, a, BIG, 2000000);
    assert_runs_out("title=ilike.%a%a%a%a%b", C_TITLE, a, BIG, 1000);
    /* A trailing '%' ends the match: the rest of the text is not walked. */
    assert_true(units_on("title=like.aaa%", C_TITLE, a, BIG, 1) < 10);
    assert_true(units_on("title=like.%", C_TITLE, a, BIG, 1) < 10);
    /* '_' and escapes still count per step. */
    assert_true(units_on("title=like.%\\a_b", C_TITLE, b, BIG, 1) <= 4 * (uint64_t)BIG);
    free(a);
    free(b);
}

static void test_budget_comparisons(void **state) {
    (void)state;
    char *digits = malloc(BIG + 1), *spaces = malloc(BIG + 1);
    assert_non_null(digits);
    assert_non_null(spaces);
    memset(digits, '9', BIG);
    digits[BIG] = '\0';
    memset(spaces, ' ', BIG);
    spaces[0] = 'x';
    spaces[BIG] = '\0';
    /* Parsing a typed value charges the cell's length. */
    assert_true(units_on("price=eq.1", C_PRICE, digits, BIG, 0) >= BIG);
    assert_true(units_on("id=eq.1", C_ID, digits, BIG, 0) >= BIG);
    assert_true(units_on("active=is.true", C_ACTIVE, spaces, BIG, 0) >= BIG);
    assert_runs_out("price=gt.1", C_PRICE, digits, BIG, 1000);
    /* bpchar's padding is scanned, and charged. */
    assert_true(units_on("code=eq.x", C_CODE, spaces, BIG, 1) >= BIG);
    /* Text compares charge the shorter side: a short operand is cheap. */
    assert_true(units_on("title=eq.aaa", C_TITLE, digits, BIG, 0) < 10);
    /* An in list compares the cell once per element. */
    uint64_t u1 = units_on("title=in.(x)", C_TITLE, "abcdef", 6, 0);
    uint64_t u3 = units_on("title=in.(x,y,z)", C_TITLE, "abcdef", 6, 0);
    assert_true(u3 > u1);
    assert_true(units_on("price=in.(1,2,3)", C_PRICE, digits, BIG, 0) >= BIG);
    /* NULL cells and IS NULL cost the condition's one unit. */
    assert_int_equal(units_on("id=is.null", C_ID, NULL, 0, 1), 1);
    assert_int_equal(units_on("id=eq.1", C_ID, NULL, 0, 0), 1);
    assert_int_equal(units_on("id=is.null,title=is.null", C_ID, NULL, 0, 1), 2);
    /* A budget of 0 answers nothing, a filter without conditions needs none. */
    cdc_cell_t cells[NCOLS];
    memset(cells, 0, sizeof cells);
    cdc_filter_t *f = parse_ok("id=is.null");
    uint64_t b = 0;
    assert_int_equal(cdc_filter_match_budget(f, cells, NULL, &b), -1);
    assert_int_equal(b, 0);
    cdc_filter_free(f);
    b = 0;
    assert_int_equal(cdc_filter_match_budget(NULL, cells, NULL, &b), 1);
    free(digits);
    free(spaces);
}

/* Many budgets against one evaluation: every answer is -1 or the right one,
 * and -1 exactly below the unlimited cost. */
static void test_budget_sweep(void **state) {
    (void)state;
    static const struct {
        const char *filter;
        int col;
        const char *value;
    } v[] = {
        {"title=imatch.\\m(urgent|asap)\\M", C_TITLE, "please come ASAP, the pipe burst"},
        {"title=ilike.%urgent%", C_TITLE, "not Urgent at all"},
        {"title=match.^(ab|cd)*$,id=gt.3", C_TITLE, "abcdab"},
        {"status=in.(a,b,c,\"on hold\")", C_STATUS, "on hold"},
        {"price=in.(1.5,2.50,NULL)", C_PRICE, "2.5"},
        {"code=eq.ab", C_CODE, "ab    "},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        cdc_cell_t cells[NCOLS];
        memset(cells, 0, sizeof cells);
        cells[v[i].col] = (cdc_cell_t){v[i].value, strlen(v[i].value)};
        cells[C_ID] = (cdc_cell_t){"4", 1};
        cdc_filter_t *f = parse_ok(v[i].filter);
        int want = cdc_filter_match(f, cells, NULL);
        uint64_t used = assert_budget_contract(f, cells, NULL);
        for (uint64_t budget = 0; budget <= used + 2; budget++) {
            uint64_t b = budget;
            int r = cdc_filter_match_budget(f, cells, NULL, &b);
            if (budget < used) {
                assert_int_equal(r, -1);
                assert_int_equal(b, 0);
            } else {
                assert_int_equal(r, want);
                assert_int_equal(b, budget - used);
            }
        }
        cdc_filter_free(f);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_filter_matches_everything),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_segments_and_quoting),
        cmocka_unit_test(test_columns_are_distinct),
        cmocka_unit_test(test_null_semantics),
        cmocka_unit_test(test_unknown_toast_never_matches),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_numeric),
        cmocka_unit_test(test_floats),
        cmocka_unit_test(test_booleans),
        cmocka_unit_test(test_is_errors),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_timestamptz),
        cmocka_unit_test(test_other_datetimes),
        cmocka_unit_test(test_in_lists),
        cmocka_unit_test(test_like),
        cmocka_unit_test(test_regex),
        cmocka_unit_test(test_enum_and_unsupported),
        cmocka_unit_test(test_eq_key),
        cmocka_unit_test(test_budget_regex_nested_repetition),
        cmocka_unit_test(test_budget_like),
        cmocka_unit_test(test_budget_comparisons),
        cmocka_unit_test(test_budget_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
