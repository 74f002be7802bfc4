/*
 * cdc/pgvalue: PostgreSQL values in their text form, typed: which kind of
 * value a column type name means, reading text as a value of that kind the
 * way PostgreSQL 15's input functions do (integers, floats, numerics,
 * booleans, uuids, date/time through cdc/pgtime; text kinds are their
 * bytes), comparing two values as PostgreSQL's btree operators do, and the
 * canonical output text of the kinds that have one. cdc/filter evaluates
 * conditions with it; cdc/pgjson shares its reading of decimal numbers.
 *
 * It must never allocate except to parse a long float operand (never for
 * a cell), never depend on the process locale, and never know what a
 * filter or a subscription is: error wording is its callers'.
 */
#ifndef TC_CDC_PGVALUE_H
#define TC_CDC_PGVALUE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    PGV_INT,   /* sub: bits 16/32/64 */
    PGV_FLOAT, /* sub: 4 or 8 */
    PGV_NUMERIC,
    PGV_BOOL,
    PGV_TEXT, /* text, varchar; sub PGV_SUB_NAME for name */
    PGV_BPCHAR,
    PGV_CITEXT,
    PGV_UUID,
    PGV_DATE,
    PGV_TIME,
    PGV_TIMETZ,
    PGV_TS,
    PGV_TSTZ,
    PGV_OPAQUE,      /* enums and other user types: compared by their text */
    PGV_UNSUPPORTED, /* built-in types whose equality is not their text's */
} pgv_kind_t;

#define PGV_SUB_NAME 1
/* NAMEDATALEN - 1: PostgreSQL truncates name input to this many bytes. */
#define PGV_NAME_MAX_BYTES 63

/* The kind of a column type name as pgo_type_name gives it ("int4",
 * "timestamptz", "_int4", an enum's name...) or its SQL spelling
 * ("integer", "character varying"); NULL is PGV_OPAQUE. *sub gets the
 * kind's variant (bits, float width, PGV_SUB_NAME) or 0. */
pgv_kind_t pgv_type_kind(const char *type, int *sub);
/* text, varchar, name, bpchar, citext: LIKE and regexes apply. */
int pgv_kind_is_text(pgv_kind_t k);
/* The SQL name of the kind for messages ("integer", "timestamp with time
 * zone"; "text" for the text kinds and the rest). */
const char *pgv_kind_label(pgv_kind_t k, int sub);

/* A decimal number as a view into its text: the significant digits run
 * from dig to dig+nch (a '.' may sit among them and is skipped), the first
 * one has decimal weight `weight` (10^weight). */
typedef struct {
    int8_t sign;     /* -1, 0 (zero), 1 */
    uint8_t special; /* 0 finite, PGV_DEC_PINF, PGV_DEC_NINF, PGV_DEC_NAN */
    const char *dig;
    size_t nch;
    int64_t weight;
} pgv_dec_t;

#define PGV_DEC_PINF 1
#define PGV_DEC_NINF 2
#define PGV_DEC_NAN 3

/* A typed value. Views into the text it was parsed from (s, a numeric's
 * digits), which must outlive it. */
typedef struct {
    uint8_t isnull; /* set by callers (an `in` list's NULL); pgv_parse clears it */
    union {
        int64_t i; /* ints, bool, date (days), time and timestamps (µs) */
        double f;
        uint8_t uuid[16];
        struct {
            int64_t t;    /* µs since midnight */
            int32_t zone; /* seconds west of UTC, PostgreSQL's convention */
        } tz;
        pgv_dec_t dec;
    } u;
    const char *s; /* the text */
    size_t len;    /* its length; bpchar without its padding, name clipped */
} pgv_val_t;

/* pgv_parse's results besides 0. */
#define PGV_ESYNTAX (-1)
#define PGV_ERANGE (-2)
#define PGV_EUNSUPPORTED (-3) /* a date/time word evaluated at read time (now, today...) */

/* Reads s[0..n) as a value of the kind into *out (text kinds and
 * PGV_OPAQUE: the bytes; bpchar's length drops its trailing spaces). An
 * operand (operand != 0) is text a person wrote: a float operand of any
 * length is read (allocating a copy past 127 bytes) and a name operand is
 * clipped to 63 bytes at a character boundary, as namein does. A cell
 * (operand 0) is text PostgreSQL wrote: never allocates, a float longer
 * than PostgreSQL ever prints is refused. Returns 0 or PGV_E*. */
int pgv_parse(pgv_kind_t kind, int sub, const char *s, size_t n, int operand, pgv_val_t *out);
/* boolin: spaces, then a prefix of true/false/yes/no, on/off (two letters
 * at least), or exactly 1/0. *out gets 1 or 0. Returns 0 or PGV_ESYNTAX. */
int pgv_parse_bool(const char *s, size_t n, int64_t *out);

/* Compares two parsed values of the kind: <0, 0, >0 as PostgreSQL's btree
 * comparison (text kinds by bytes, the "C" collation; citext folding ASCII;
 * NaN above everything and equal to itself; timetz by instant, then zone). */
int pgv_cmp(pgv_kind_t kind, const pgv_val_t *a, const pgv_val_t *b);

/* PostgreSQL's output text of v for the kinds whose output does not depend
 * on typmod or session settings: int (canonical decimal), bool ("t"/"f"),
 * uuid (lowercase 8-4-4-4-12). Writes it to out and returns its length, or
 * returns 0 for any other kind. */
#define PGV_CANONICAL_MAX 48
size_t pgv_canonical(pgv_kind_t kind, const pgv_val_t *v, char out[PGV_CANONICAL_MAX]);

/* The parts of a decimal literal at s[0..n): [sign] digits [. digits]
 * [(e|E) [+|-] digits], at least one digit before the exponent. */
typedef struct {
    int neg;         /* the sign was '-' */
    size_t ip, ilen; /* integer digits s[ip .. ip + ilen) */
    size_t fp, flen; /* fraction digits s[fp .. fp + flen) (fp: after the point, or ip + ilen) */
    int64_t exp;     /* the exponent, saturated at PGV_EXP_SATURATED in magnitude */
    size_t end;      /* where the literal ends: the caller decides what may follow */
} pgv_decimal_t;

#define PGV_EXP_SATURATED INT64_C(1073741823) /* INT_MAX / 2: numeric_in's overflow point */

/* Scans a decimal literal at the start of s (no spaces skipped). plus: a
 * leading '+' is accepted ('-' always is). Returns 0, or PGV_ESYNTAX when
 * there are no digits or an exponent mark has no digits. */
int pgv_scan_decimal(const char *s, size_t n, int plus, pgv_decimal_t *d);

#endif
