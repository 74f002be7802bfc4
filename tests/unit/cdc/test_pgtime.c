/*
 * Unit tests for cdc/pgtime: the calendar both ways (round trip over a
 * wide range, known dates, BC years), ISO 8601 input for every kind with
 * PostgreSQL's checks and special words, and the XSD rewrite of timestamp
 * output (what stays verbatim).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cdc/pgtime.h"

#define DAY PGTIME_USECS_PER_DAY
#define HOUR (INT64_C(3600) * PGTIME_USECS_PER_SEC)

static int parse(const char *s, pgtime_kind_t kind, int64_t *v, int32_t *zone) {
    return pgtime_parse(s, strlen(s), kind, v, zone);
}

static void test_calendar(void **state) {
    (void)state;
    assert_int_equal(pgtime_days_from_civil(2000, 1, 1), 0);
    assert_int_equal(pgtime_days_from_civil(1970, 1, 1), -10957);
    assert_int_equal(pgtime_days_from_civil(2000, 3, 1), 60); /* 2000 is a leap year */
    assert_int_equal(pgtime_days_from_civil(1, 1, 1), -730119);
    assert_int_equal(pgtime_days_from_civil(0, 12, 31), -730120); /* 1 BC */
    int64_t y;
    int m, d;
    pgtime_civil_from_days(-1, &y, &m, &d);
    assert_true(y == 1999 && m == 12 && d == 31);
    pgtime_civil_from_days(59, &y, &m, &d);
    assert_true(y == 2000 && m == 2 && d == 29);
    /* round trip over ~1.1 million years each side, in odd steps */
    for (int64_t days = -400000000; days <= 400000000; days += 7919 * 13) {
        pgtime_civil_from_days(days, &y, &m, &d);
        assert_true(m >= 1 && m <= 12 && d >= 1 && d <= 31);
        assert_int_equal(pgtime_days_from_civil(y, m, d), days);
    }
}

static void test_dates_and_timestamps(void **state) {
    (void)state;
    int64_t v;
    int32_t z;
    assert_int_equal(parse("2024-02-29", PGTIME_DATE, &v, &z), 0);
    assert_int_equal(v, pgtime_days_from_civil(2024, 2, 29));
    assert_int_equal(parse("20240229", PGTIME_DATE, &v, &z), 0);
    assert_int_equal(v, pgtime_days_from_civil(2024, 2, 29));
    assert_int_equal(parse("0044-03-15 BC", PGTIME_DATE, &v, &z), 0);
    assert_int_equal(v, -746117); /* PostgreSQL: '0044-03-15 BC'::date - '2000-01-01' */
    assert_int_equal(parse("epoch", PGTIME_DATE, &v, &z), 0);
    assert_int_equal(v, -10957);
    assert_int_equal(parse(" Infinity ", PGTIME_TS, &v, &z), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(parse("-infinity", PGTIME_DATE, &v, &z), 0);
    assert_true(v == INT64_MIN);

    assert_int_equal(parse("2000-01-01T10:00:00.5Z", PGTIME_TSTZ, &v, &z), 0);
    assert_int_equal(v, 10 * HOUR + 500000);
    assert_int_equal(z, 0);
    assert_int_equal(parse("2000-01-01 15:30:00+05:30", PGTIME_TSTZ, &v, &z), 0);
    assert_int_equal(v, 10 * HOUR);
    assert_int_equal(parse("2000-01-01 15:30:00+0530", PGTIME_TSTZ, &v, &z), 0);
    assert_int_equal(v, 10 * HOUR);
    assert_int_equal(parse("2000-01-01 15:30:00+05:30", PGTIME_TS, &v, &z), 0); /* TS ignores the zone */
    assert_int_equal(v, 15 * HOUR + 30 * 60 * PGTIME_USECS_PER_SEC);
    assert_int_equal(parse("2000-01-01 00:00:00 UTC", PGTIME_TSTZ, &v, &z), 0);
    assert_int_equal(v, 0);
    assert_int_equal(parse("2000-01-01 00:00:00 AD gmt", PGTIME_TSTZ, &v, &z), 0);
    assert_int_equal(parse("2000-01-01 24:00:00", PGTIME_TS, &v, &z), 0);
    assert_int_equal(v, DAY);
    assert_int_equal(parse("2000-01-01 23:59:60", PGTIME_TS, &v, &z), 0); /* leap second: next minute */
    assert_int_equal(v, DAY);
    assert_int_equal(parse("2000-01-01 00:00:00.1234567", PGTIME_TS, &v, &z), 0); /* rint */
    assert_int_equal(v, 123457);
    assert_int_equal(parse("2000-01-01 00:00:00.0000004", PGTIME_TS, &v, &z), 0);
    assert_int_equal(v, 0);
    assert_int_equal(parse("2000-01-01", PGTIME_TSTZ, &v, &z), 0); /* midnight UTC */
    assert_int_equal(v, 0);

    static const struct {
        const char *s;
        pgtime_kind_t kind;
        int rc;
    } bad[] = {
        {"now", PGTIME_TSTZ, PGTIME_EUNSUPPORTED},
        {"Today", PGTIME_DATE, PGTIME_EUNSUPPORTED},
        {"tomorrow", PGTIME_TS, PGTIME_EUNSUPPORTED},
        {"yesterday", PGTIME_TIME, PGTIME_EUNSUPPORTED},
        {"2023-02-29", PGTIME_DATE, PGTIME_ERANGE},
        {"0000-01-01", PGTIME_DATE, PGTIME_ERANGE},
        {"2024-13-01", PGTIME_DATE, PGTIME_ERANGE},
        {"2024-01-01 24:00:01", PGTIME_TS, PGTIME_ERANGE},
        {"2024-01-01 10:60", PGTIME_TS, PGTIME_ERANGE},
        {"2024-01-01 10:00+16", PGTIME_TSTZ, PGTIME_ERANGE},
        {"5874898-01-01", PGTIME_DATE, PGTIME_ERANGE},
        {"294277-01-01", PGTIME_TS, PGTIME_ERANGE},
        {"4714-11-23 BC", PGTIME_DATE, PGTIME_ERANGE},
        {"2024-01-01T", PGTIME_TS, PGTIME_ESYNTAX},
        {"2024-01-01 10", PGTIME_TS, PGTIME_ESYNTAX},
        {"2024-01-01 BC BC", PGTIME_DATE, PGTIME_ESYNTAX},
        {"", PGTIME_DATE, PGTIME_ESYNTAX},
        {"allballs", PGTIME_DATE, PGTIME_ESYNTAX},
        /* ISO 8601 only: PostgreSQL reads these (zone names, other date
         * orders, a Z without a time, a trailing point), or refuses them as
         * out of range rather than as syntax; here they are refused as
         * syntax. Operands only: PostgreSQL's output never looks so. */
        {"2024-01-01 10:00 EST", PGTIME_TSTZ, PGTIME_ESYNTAX},
        {"2024/01/01", PGTIME_DATE, PGTIME_ESYNTAX},
        {"2024-01-01 Z", PGTIME_TSTZ, PGTIME_ESYNTAX},
        {"2024-01-01 10:00:00.", PGTIME_TS, PGTIME_ESYNTAX},
        {"1234567890-01-01", PGTIME_DATE, PGTIME_ESYNTAX},
        {"24-01-01", PGTIME_DATE, PGTIME_ESYNTAX},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse(bad[i].s, bad[i].kind, &v, &z);
        if (rc != bad[i].rc)
            fail_msg("\"%s\": %d, wanted %d", bad[i].s, rc, bad[i].rc);
    }
}

static void test_times(void **state) {
    (void)state;
    int64_t v;
    int32_t z;
    assert_int_equal(parse("allballs", PGTIME_TIMETZ, &v, &z), 0);
    assert_int_equal(v, 0);
    assert_int_equal(parse("10:30", PGTIME_TIME, &v, &z), 0);
    assert_int_equal(v, 10 * HOUR + 30 * 60 * PGTIME_USECS_PER_SEC);
    assert_int_equal(parse("24:00:00", PGTIME_TIME, &v, &z), 0);
    assert_int_equal(v, DAY);
    assert_int_equal(parse("10:00:00-05:30", PGTIME_TIMETZ, &v, &z), 0);
    assert_int_equal(v, 10 * HOUR);
    assert_int_equal(z, 5 * 3600 + 1800);                                        /* seconds west */
    assert_int_equal(parse("2024-01-01 10:00:00+01", PGTIME_TIMETZ, &v, &z), 0); /* a date is allowed */
    assert_int_equal(z, -3600);
    assert_int_equal(parse("epoch", PGTIME_TIME, &v, &z), PGTIME_ESYNTAX);
    assert_int_equal(parse("infinity", PGTIME_TIME, &v, &z), PGTIME_ESYNTAX);
    assert_int_equal(parse("10", PGTIME_TIME, &v, &z), PGTIME_ESYNTAX);
    assert_int_equal(parse("10:00:00 BC", PGTIME_TIME, &v, &z), 0); /* era words are read, then unused */
}

static void xsd(const char *in, int tz, const char *want) {
    char out[PGTIME_XSD_MAX];
    size_t n = pgtime_xsd(in, strlen(in), tz, out);
    if (!want) {
        if (n != 0)
            fail_msg("\"%s\" rewritten as \"%.*s\"", in, (int)n, out);
        return;
    }
    if (n != strlen(want) || memcmp(out, want, n) != 0)
        fail_msg("\"%s\": got \"%.*s\", wanted \"%s\"", in, (int)n, out, want);
}

static void test_xsd(void **state) {
    (void)state;
    xsd("2024-01-01 10:00:00", 0, "2024-01-01T10:00:00");
    xsd("2024-01-01 10:00:00.123456", 0, "2024-01-01T10:00:00.123456");
    xsd("12345-06-07 08:09:10 BC", 0, "12345-06-07T08:09:10 BC");
    xsd("2024-01-01 10:00:00+00", 1, "2024-01-01T10:00:00+00:00");
    xsd("2024-01-01 10:00:00-08", 1, "2024-01-01T10:00:00-08:00");
    xsd("2024-01-01 10:00:00+05:30", 1, "2024-01-01T10:00:00+05:30");
    xsd("1900-01-01 10:00:00+00:19:32", 1, "1900-01-01T10:00:00+00:19:32");
    xsd("0044-03-15 10:00:00+00 BC", 1, "0044-03-15T10:00:00+00:00 BC");
    /* not ISO output text: the caller keeps it */
    xsd("infinity", 0, NULL);
    xsd("2024-01-01 10:00:00", 1, NULL); /* timestamptz without offset */
    xsd("2024-01-01", 0, NULL);
    xsd("24-01-01 10:00:00", 0, NULL);
    xsd("2024-01-01T10:00:00", 0, NULL);
    xsd("2024-1-01 10:00:00", 0, NULL);
    char longer[80];
    memset(longer, '1', 65);
    memcpy(longer, "2024-01-01 10:00:00.", 20);
    longer[65] = '\0';
    xsd(longer, 0, NULL); /* longer than any output */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calendar),
        cmocka_unit_test(test_dates_and_timestamps),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_xsd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
