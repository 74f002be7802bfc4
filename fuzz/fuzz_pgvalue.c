/*
 * libFuzzer target for cdc/pgvalue and cdc/pgtime. The first input byte
 * picks a kind (and variant); the rest is up to three texts separated by
 * NUL bytes, each read as a value of that kind as an operand and as a
 * cell. Besides "no crash, no leak", it checks the modules' own promises:
 * operand and cell rules agree except where documented (long floats,
 * name clipping); pgv_cmp is a total order on what parses (reflexive,
 * antisymmetric, transitive over the three values); canonical output of
 * int, bool and uuid reads back as an equal value; a timestamp's XSD
 * rewrite changes nothing but the date/time separator and a bare zone
 * hour; the calendar round-trips; and
 * the decimal scanner's spans lie inside the text.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdc/pgtime.h"
#include "cdc/pgvalue.h"

#include "fuzz_check.h"

static const struct {
    const char *type;
} TYPES[] = {
    {"int2"},   {"int4"},   {"int8"}, {"float4"}, {"float8"}, {"numeric"}, {"bool"},      {"text"},        {"name"},
    {"bpchar"}, {"citext"}, {"uuid"}, {"date"},   {"time"},   {"timetz"},  {"timestamp"}, {"timestamptz"}, {"mood"},
};
#define NTYPES (sizeof TYPES / sizeof TYPES[0])

static int sign(int x) { return (x > 0) - (x < 0); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    int sub;
    pgv_kind_t kind = pgv_type_kind(TYPES[data[0] % NTYPES].type, &sub);
    /* Exactly sized copies of up to three texts: ASan sees over-reads. */
    char *txt[3] = {NULL, NULL, NULL};
    size_t len[3] = {0, 0, 0};
    size_t ntxt = 0, start = 1;
    for (size_t i = 1; i <= size && ntxt < 3; i++) {
        if (i < size && data[i] != 0)
            continue;
        len[ntxt] = i - start;
        txt[ntxt] = malloc(len[ntxt] ? len[ntxt] : 1);
        CHECK(txt[ntxt] != NULL);
        memcpy(txt[ntxt], data + start, len[ntxt]);
        ntxt++;
        start = i + 1;
    }

    pgv_val_t v[3];
    int ok[3];
    for (size_t k = 0; k < ntxt; k++) {
        pgv_val_t cell;
        int rc = pgv_parse(kind, sub, txt[k], len[k], 1, &v[k]);
        int rc_cell = pgv_parse(kind, sub, txt[k], len[k], 0, &cell);
        CHECK(rc == 0 || rc == PGV_ESYNTAX || rc == PGV_ERANGE || rc == PGV_EUNSUPPORTED);
        CHECK(rc_cell == 0 || rc_cell == PGV_ESYNTAX || rc_cell == PGV_ERANGE || rc_cell == PGV_EUNSUPPORTED);
        if (kind == PGV_FLOAT && len[k] >= 128)
            CHECK(rc_cell == PGV_ESYNTAX || rc_cell == rc); /* a cell never this long */
        else
            CHECK(rc_cell == rc);
        if (rc == 0 && rc_cell == 0) {
            if (kind == PGV_TEXT && sub == PGV_SUB_NAME)
                CHECK(cell.len == len[k] && v[k].len <= len[k] && v[k].len >= (len[k] > 63 ? 60 : len[k]));
            else
                CHECK(pgv_cmp(kind, &v[k], &cell) == 0);
        }
        CHECK(rc != 0 || v[k].len <= len[k]);
        ok[k] = rc == 0;
        if (ok[k])
            CHECK(pgv_cmp(kind, &v[k], &v[k]) == 0);

        /* canonical output reads back as an equal value */
        char canon[PGV_CANONICAL_MAX];
        size_t cn = ok[k] ? pgv_canonical(kind, &v[k], canon) : 0;
        if (cn) {
            pgv_val_t back;
            CHECK(pgv_parse(kind, sub, canon, cn, 0, &back) == 0);
            CHECK(pgv_cmp(kind, &back, &v[k]) == 0);
        }

        /* the XSD rewrite of timestamp output only puts a 'T' for the space
         * after the date and, with a zone, minutes after a bare +HH */
        char xsd[PGTIME_XSD_MAX];
        for (int tz = 0; tz < 2; tz++) {
            size_t xn = pgtime_xsd(txt[k], len[k], tz, xsd);
            if (xn == 0)
                continue;
            const char *sp = memchr(txt[k], ' ', len[k]);
            CHECK(sp != NULL);
            size_t at = (size_t)(sp - txt[k]);
            CHECK(xsd[at] == 'T' && memcmp(xsd, txt[k], at) == 0);
            if (!tz)
                CHECK(xn == len[k] && memcmp(xsd + at + 1, txt[k] + at + 1, len[k] - at - 1) == 0);
            else
                CHECK(xn == len[k] || xn == len[k] + 3);
        }

        pgv_decimal_t d;
        if (pgv_scan_decimal(txt[k], len[k], data[0] & 1, &d) == 0) {
            CHECK(d.end <= len[k] && d.ip + d.ilen <= d.end && d.fp + d.flen <= d.end && d.ilen + d.flen > 0);
            CHECK(d.exp <= PGV_EXP_SATURATED && d.exp >= -PGV_EXP_SATURATED);
        }
    }
    /* a total order on what parses */
    for (size_t a = 0; a < ntxt; a++)
        for (size_t b = 0; b < ntxt; b++) {
            if (!ok[a] || !ok[b])
                continue;
            int ab = pgv_cmp(kind, &v[a], &v[b]), ba = pgv_cmp(kind, &v[b], &v[a]);
            CHECK(sign(ab) == -sign(ba));
            for (size_t c = 0; c < ntxt; c++) {
                if (!ok[c])
                    continue;
                int bc = pgv_cmp(kind, &v[b], &v[c]), ac = pgv_cmp(kind, &v[a], &v[c]);
                if (ab <= 0 && bc <= 0)
                    CHECK(ac <= 0);
                if (ab == 0 && bc == 0)
                    CHECK(ac == 0);
            }
        }

    /* the calendar round-trips on any day an int64 µs timestamp names */
    if (size >= 9) {
        int64_t days;
        memcpy(&days, data + 1, 8);
        days %= INT64_C(106751992);
        int64_t y;
        int m, dd;
        pgtime_civil_from_days(days, &y, &m, &dd);
        CHECK(m >= 1 && m <= 12 && dd >= 1 && dd <= 31);
        CHECK(pgtime_days_from_civil(y, m, dd) == days);
    }
    for (size_t k = 0; k < ntxt; k++)
        free(txt[k]);
    return 0;
}
