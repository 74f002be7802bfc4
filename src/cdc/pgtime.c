/*
 * cdc/pgtime: see pgtime.h. Owns the ISO 8601 date/time input rules (a
 * mirror of the subset of PostgreSQL 15's ParseDateTime/DecodeDateTime that
 * ISO text reaches), the XSD rewrite of ISO timestamp output, and the
 * calendar conversions. It must never allocate, never read past the length
 * it is given, and never accept a value PostgreSQL would refuse.
 */
#include "cdc/pgtime.h"
#include "cdc/pgchar.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define POSTGRES_EPOCH_JDATE 2451545
#define DATE_END_JULIAN INT64_C(2147483494)
#define MIN_TIMESTAMP INT64_C(-211813488000000000)
#define END_TIMESTAMP INT64_C(9223371331200000000)
/* 1970-01-01 - 2000-01-01 in days: the civil algorithms count from 1970. */
#define UNIX_TO_PG_DAYS 10957

/* ------------------------------------------------------------------------
 * Calendar (H. Hinnant's days_from_civil / civil_from_days)
 * ---------------------------------------------------------------------- */

int64_t pgtime_days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468 - UNIX_TO_PG_DAYS;
}

void pgtime_civil_from_days(int64_t days, int64_t *y, int *m, int *d) {
    int64_t z = days + UNIX_TO_PG_DAYS;
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* ------------------------------------------------------------------------
 * Input
 * ---------------------------------------------------------------------- */

/* Up to maxd digits at s[i] into *v; returns how many were read. */
static size_t read_digits(const char *s, size_t n, size_t i, int64_t *v, size_t maxd) {
    size_t j = i;
    *v = 0;
    while (j < n && pgc_isdigit((unsigned char)s[j]) && j - i < maxd) {
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
        return PGTIME_ESYNTAX;
    j += d;
    if (j < n && s[j] == ':') {
        size_t d2 = read_digits(s, n, j + 1, &mn, 2);
        if (d2 == 0)
            return PGTIME_ESYNTAX;
        j += 1 + d2;
        if (j < n && s[j] == ':') {
            size_t d3 = read_digits(s, n, j + 1, &sc, 2);
            if (d3 == 0)
                return PGTIME_ESYNTAX;
            j += 1 + d3;
        }
    } else if (d > 2) {
        if (d > 4)
            return PGTIME_ESYNTAX;
        mn = hr % 100;
        hr /= 100;
    }
    if (hr > 15 || mn > 59 || sc > 59)
        return PGTIME_ERANGE;
    *east = (int32_t)((hr * 3600 + mn * 60 + sc) * (neg ? -1 : 1));
    *i = j;
    return 0;
}

int pgtime_parse(const char *s, size_t n, pgtime_kind_t kind, int64_t *v, int32_t *zone) {
    pgc_trim(&s, &n);
    *zone = 0;
    if (pgc_word_eq(s, n, "now") || pgc_word_eq(s, n, "today") || pgc_word_eq(s, n, "tomorrow") ||
        pgc_word_eq(s, n, "yesterday"))
        return PGTIME_EUNSUPPORTED;
    int timeonly = kind == PGTIME_TIME || kind == PGTIME_TIMETZ;
    if (!timeonly) {
        if (pgc_word_eq(s, n, "infinity") || pgc_word_eq(s, n, "+infinity")) {
            *v = INT64_MAX;
            return 0;
        }
        if (pgc_word_eq(s, n, "-infinity")) {
            *v = INT64_MIN;
            return 0;
        }
        if (pgc_word_eq(s, n, "epoch")) {
            *v = kind == PGTIME_DATE ? pgtime_days_from_civil(1970, 1, 1)
                                     : pgtime_days_from_civil(1970, 1, 1) * PGTIME_USECS_PER_DAY;
            return 0;
        }
    } else if (pgc_word_eq(s, n, "allballs")) {
        *v = 0;
        return 0;
    }
    size_t i = 0;
    int64_t y = 0, mo = 1, d = 1;
    int have_date = 0;
    /* A date starts with digits followed by '-', or is 8 digits. */
    size_t dl = 0;
    while (dl < n && pgc_isdigit((unsigned char)s[dl]))
        dl++;
    if (dl >= 4 && dl < n && s[dl] == '-') {
        if (dl > 9)
            return PGTIME_ESYNTAX;
        read_digits(s, n, 0, &y, dl);
        i = dl + 1;
        size_t k = read_digits(s, n, i, &mo, 2);
        if (k == 0 || i + k >= n || s[i + k] != '-')
            return PGTIME_ESYNTAX;
        i += k + 1;
        k = read_digits(s, n, i, &d, 2);
        if (k == 0)
            return PGTIME_ESYNTAX;
        i += k;
        have_date = 1;
    } else if (dl == 8 && !timeonly) {
        read_digits(s, n, 0, &y, 4);
        read_digits(s, n, 4, &mo, 2);
        read_digits(s, n, 6, &d, 2);
        i = 8;
        have_date = 1;
    } else if (!timeonly) {
        return PGTIME_ESYNTAX;
    }
    if (have_date && i < n && !(s[i] == 'T' || s[i] == 't' || pgc_isspace((unsigned char)s[i])))
        return PGTIME_ESYNTAX;
    /* time */
    int64_t hh = 0, mi = 0, ss = 0, fs = 0;
    int have_time = 0;
    if (have_date && i < n && (s[i] == 'T' || s[i] == 't')) {
        i++;
        if (i >= n || !pgc_isdigit((unsigned char)s[i]))
            return PGTIME_ESYNTAX;
    }
    while (i < n && pgc_isspace((unsigned char)s[i]))
        i++;
    if (i < n && pgc_isdigit((unsigned char)s[i])) {
        size_t k = read_digits(s, n, i, &hh, 2);
        i += k;
        if (i >= n || s[i] != ':')
            return PGTIME_ESYNTAX;
        k = read_digits(s, n, i + 1, &mi, 2);
        if (k == 0)
            return PGTIME_ESYNTAX;
        i += 1 + k;
        if (i < n && s[i] == ':') {
            k = read_digits(s, n, i + 1, &ss, 2);
            if (k == 0)
                return PGTIME_ESYNTAX;
            i += 1 + k;
            if (i < n && s[i] == '.') {
                size_t f0 = ++i;
                while (i < n && pgc_isdigit((unsigned char)s[i]))
                    i++;
                if (i == f0)
                    return PGTIME_ESYNTAX;
                fs = frac_usec(s + f0, i - f0);
            }
        }
        if (i < n && pgc_isdigit((unsigned char)s[i]))
            return PGTIME_ESYNTAX;
        have_time = 1;
    }
    if (timeonly && !have_time)
        return PGTIME_ESYNTAX;
    /* zone and era, either order */
    int bc = 0, have_zone = 0, have_era = 0;
    int32_t east = 0;
    for (;;) {
        while (i < n && pgc_isspace((unsigned char)s[i]))
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
        while (w < n && pgc_isalpha((unsigned char)s[w]))
            w++;
        if (w == i || (w < n && !pgc_isspace((unsigned char)s[w]) && s[w] != '+' && s[w] != '-'))
            return PGTIME_ESYNTAX;
        if (!have_zone && have_time &&
            (pgc_word_eq(s + i, w - i, "z") || pgc_word_eq(s + i, w - i, "utc") || pgc_word_eq(s + i, w - i, "gmt"))) {
            have_zone = 1;
            east = 0;
        } else if (!have_era && (pgc_word_eq(s + i, w - i, "bc") || pgc_word_eq(s + i, w - i, "ad"))) {
            have_era = 1;
            bc = pgc_tolower((unsigned char)s[i]) == 'b';
        } else {
            return PGTIME_ESYNTAX;
        }
        i = w;
    }
    /* DecodeTime's checks */
    if (mi > 59 || ss > 60 || hh > 24 || (hh == 24 && (mi > 0 || ss > 0 || fs > 0)) || fs > PGTIME_USECS_PER_SEC)
        return PGTIME_ERANGE;
    int64_t tod = ((hh * 60 + mi) * 60 + ss) * PGTIME_USECS_PER_SEC + fs;
    if (timeonly) {
        if (tod > PGTIME_USECS_PER_DAY)
            return PGTIME_ERANGE;
        *v = tod;
        *zone = -east;
        return 0;
    }
    if (y == 0 || mo < 1 || mo > 12 || d < 1)
        return PGTIME_ERANGE;
    int64_t ay = bc ? 1 - y : y;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (d > mdays[mo - 1] + (mo == 2 && is_leap(ay)))
        return PGTIME_ERANGE;
    int64_t days = pgtime_days_from_civil(ay, (int)mo, (int)d);
    int64_t julian = days + POSTGRES_EPOCH_JDATE;
    if (julian < 0 || julian >= DATE_END_JULIAN)
        return PGTIME_ERANGE;
    if (kind == PGTIME_DATE) {
        *v = days;
        return 0;
    }
    if (days > END_TIMESTAMP / PGTIME_USECS_PER_DAY + 1)
        return PGTIME_ERANGE;
    int64_t ts = days * PGTIME_USECS_PER_DAY + tod;
    if (kind == PGTIME_TSTZ)
        ts -= (int64_t)east * PGTIME_USECS_PER_SEC;
    if (ts < MIN_TIMESTAMP || ts >= END_TIMESTAMP)
        return PGTIME_ERANGE;
    *v = ts;
    return 0;
}

/* ------------------------------------------------------------------------
 * Output text -> XSD
 * ---------------------------------------------------------------------- */

/* Exactly count digits at s[*ip], advancing past them. (Not read_digits:
 * their value is not needed, and this runs for every timestamp sent.) */
static int match_digits(const char *s, size_t n, size_t *ip, size_t count) {
    for (size_t k = 0; k < count; k++, (*ip)++)
        if (*ip >= n || !pgc_isdigit((unsigned char)s[*ip]))
            return -1;
    return 0;
}

size_t pgtime_xsd(const char *s, size_t n, int tz, char out[PGTIME_XSD_MAX]) {
    size_t i = 0, o = 0;
    /* Real output is at most ~40 bytes; the bound keeps out's size fixed. */
    if (n > 64)
        return 0;
    while (i < n && pgc_isdigit((unsigned char)s[i]))
        i++;
    if (i < 4 || i >= n || s[i] != '-')
        return 0;
    i++;
    if (match_digits(s, n, &i, 2) || i >= n || s[i++] != '-' || match_digits(s, n, &i, 2) || i >= n || s[i] != ' ')
        return 0;
    memcpy(out, s, i);
    o = i;
    out[o++] = 'T';
    size_t t = ++i;
    if (match_digits(s, n, &i, 2) || i >= n || s[i++] != ':' || match_digits(s, n, &i, 2) || i >= n || s[i++] != ':' ||
        match_digits(s, n, &i, 2))
        return 0;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && pgc_isdigit((unsigned char)s[i]))
            i++;
    }
    memcpy(out + o, s + t, i - t);
    o += i - t;
    if (tz) {
        /* +HH, +HH:MM or +HH:MM:SS */
        if (i >= n || (s[i] != '+' && s[i] != '-'))
            return 0;
        size_t z = i++;
        if (match_digits(s, n, &i, 2))
            return 0;
        while (i + 2 < n && s[i] == ':' && pgc_isdigit((unsigned char)s[i + 1]) && pgc_isdigit((unsigned char)s[i + 2]))
            i += 3;
        memcpy(out + o, s + z, i - z);
        o += i - z;
        if (i - z == 3) {
            memcpy(out + o, ":00", 3);
            o += 3;
        }
    }
    memcpy(out + o, s + i, n - i); /* " BC" */
    o += n - i;
    return o;
}
