/*
 * cdc/pgtime: PostgreSQL date/time text, both ways the CDC path meets it:
 * reading ISO 8601 input (filter operands and the cells pgoutput sends, as
 * PostgreSQL 15's date/time input functions accept them), and rewriting a
 * timestamp's ISO output text in the XSD form to_jsonb prints. Also the
 * proleptic Gregorian calendar arithmetic both directions need, counted
 * from PostgreSQL's epoch 2000-01-01.
 *
 * It must never allocate, never consult the session's TimeZone or
 * DateStyle (text without an offset is UTC; output text is DateStyle ISO),
 * and never evaluate now/today/tomorrow/yesterday, whose value depends on
 * when they are read.
 */
#ifndef TC_CDC_PGTIME_H
#define TC_CDC_PGTIME_H

#include <stddef.h>
#include <stdint.h>

#define PGTIME_USECS_PER_SEC INT64_C(1000000)
#define PGTIME_USECS_PER_DAY INT64_C(86400000000)

typedef enum { PGTIME_DATE, PGTIME_TIME, PGTIME_TIMETZ, PGTIME_TS, PGTIME_TSTZ } pgtime_kind_t;

/* pgtime_parse's results besides 0. */
#define PGTIME_ESYNTAX (-1)
#define PGTIME_ERANGE (-2)
#define PGTIME_EUNSUPPORTED (-3) /* now, today, tomorrow, yesterday */

/* Days from 2000-01-01 to y-m-d (astronomical year: 0 is 1 BC). */
int64_t pgtime_days_from_civil(int64_t y, int m, int d);
/* The inverse: the date `days` days after 2000-01-01; exact for any day an
 * int64 µs timestamp can name. */
void pgtime_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

/* Parses s[0..n) as a value of kind:
 *   [date] [(T|spaces) time] [zone] [BC|AD]   zone and era in any order
 * date "YYYY-MM-DD" (4+ digit year) or "YYYYMMDD"; time "HH:MM[:SS[.f]]";
 * zone Z, UTC, GMT or a numeric offset; specials infinity, -infinity,
 * epoch, allballs. With PostgreSQL's checks: real calendar dates, no year
 * 0, 24:00:00 only exactly, leap second 60, the range of date and
 * timestamp. *v gets days (DATE; INT64_MAX/MIN for +-infinity) or µs (since
 * midnight, or since 2000-01-01 UTC for TSTZ, local for TS); *zone seconds
 * west of UTC (TIME/TIMETZ; 0 otherwise). Returns 0 or a PGTIME_E* code. */
int pgtime_parse(const char *s, size_t n, pgtime_kind_t kind, int64_t *v, int32_t *zone);

/* The longest text pgtime_xsd writes. */
#define PGTIME_XSD_MAX 96

/* timestamp (tz 0) or timestamptz (tz 1) output text in DateStyle ISO,
 * "2024-01-01 10:00:00.5+00" (years may have more than four digits, " BC"
 * may follow), rewritten as to_jsonb writes it: 'T' between date and time,
 * the offset always with minutes ("+00:00"). Returns the length written to
 * out, or 0 when s is not such text (infinity, anything else): then the
 * caller keeps s as it is. */
size_t pgtime_xsd(const char *s, size_t n, int tz, char out[PGTIME_XSD_MAX]);

#endif
