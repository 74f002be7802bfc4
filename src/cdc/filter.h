/*
 * cdc/filter: the filter grammar of a postgres_changes subscription, as
 * realtime-js sends it and supabase/realtime accepts it today:
 *   col=op.value[,col=op.value...]   (conditions AND-ed)
 * with op in eq, neq, lt, lte, gt, gte, in, like, ilike, is, match, imatch,
 * isdistinct, each optionally negated with "not." before it. Parsed once at
 * join against the table's columns and types, then evaluated on each
 * change's row image in the server: no database round trip.
 * I/O-free; it never sees a connection.
 *
 * Semantics are PostgreSQL's for the column's type (checked against
 * PostgreSQL 15 by tests/tools/filter_pg_check.sh), with these choices:
 *  - text, varchar, bpchar, name and citext order by bytes: the "C"
 *    collation. ILIKE, imatch and citext fold ASCII letters only, and
 *    regex classes ([[:alpha:]], \w...) are ASCII, as under "C";
 *  - bpchar compares without trailing spaces; LIKE and regexes see the
 *    padded text pgoutput sends. (supabase/realtime casts the operand to
 *    `character`, i.e. char(1), which truncates it: not copied.)
 *  - like/ilike/match/imatch are also accepted on varchar (supabase/realtime
 *    refuses them there); a LIKE pattern ending in an escape is refused;
 *  - match/imatch: PostgreSQL AREs without back-references, lookahead or
 *    lookbehind, octal escapes, collating elements, and options b, e, x:
 *    those are refused at parse time, everything else gives PostgreSQL's
 *    answer (evaluated by an NFA here, linear in the text);
 *  - date/time operands are ISO 8601 ("2024-01-01", "2024-01-01T10:00:00Z",
 *    "2024-01-01 15:30:00+05:30", " BC", infinity, epoch, allballs); a
 *    timestamptz operand without offset is UTC; now/today/... are refused.
 *    Cells with any numeric offset are understood;
 *  - enums and other types this module does not know (any type name not
 *    built in, or NULL) compare by their text: eq, neq, in, isdistinct and
 *    is work; ordering operators are refused (the enum's order is unknown),
 *    and a label that is not in the enum is accepted but never matches;
 *  - json, jsonb, bytea, interval, arrays ("_int4") and the other built-in
 *    types whose equality is not their text's accept only is.null;
 *  - in.(...) is PostgreSQL's array literal: quoting, backslash escapes,
 *    unquoted NULL, rectangular nested lists (flattened), at most 100 values;
 *  - a cell that is not valid text for its type makes the condition unknown
 *    (not true); filters longer than 8192 bytes are refused.
 */
#ifndef TC_CDC_FILTER_H
#define TC_CDC_FILTER_H

#include <stddef.h>
#include <stdint.h>

typedef struct cdc_filter cdc_filter_t;

/* A column of the subscribed table: name and type name as pgo_type_name
 * gives it ("int4", "text", "uuid", "timestamptz", "numeric", "bool",
 * "_int4", an enum name, ...). */
typedef struct {
    const char *name;
    const char *type;
} cdc_column_t;

/* Parses filter (NULL or "" = matches everything) for a table with these
 * columns. Returns a filter (free with cdc_filter_free) or NULL with a
 * client-facing reason in err ("invalid column for filter x", "invalid
 * filter operator foo", "invalid filter value for in: ..."). */
cdc_filter_t *cdc_filter_parse(const char *filter, const cdc_column_t *cols, size_t ncols, char *err, size_t errlen);
void cdc_filter_free(cdc_filter_t *f);

/* One value of the row being tested: NULL data = SQL NULL. Text form, as
 * pgoutput sends it. */
typedef struct {
    const char *data;
    size_t len;
} cdc_cell_t;

/* 1 if the row (cells indexed like the columns given to parse) passes every
 * condition, else 0. A condition on a column whose value is unknown
 * (unchanged TOAST: data NULL and unknown[i] set) does not match; unknown
 * may be NULL when no value is. SQL logic: a condition is met only when it
 * is true, so a NULL cell fails eq and not.eq alike; is and isdistinct are
 * NULL-aware; x = ANY of an empty in list is false even for NULL x.
 * Never allocates: it runs per change per candidate subscriber. */
int cdc_filter_match(const cdc_filter_t *f, const cdc_cell_t *cells, const uint8_t *unknown);
/* The columns the filter reads (indexes), to know which old/new values it needs. */
size_t cdc_filter_columns(const cdc_filter_t *f, const size_t **idx);
/* For subscription indexing: if the filter contains an eq condition on a
 * column (not negated), returns 1 and that column index and value text
 * (view into the filter; valid while it lives), so subscribers can be
 * found by (table, column, value) instead of scanning them all.
 * The value is normalised to the text pgoutput sends for an equal value:
 * integers in canonical decimal ("007" -> "7", "-0" -> "0"), bool as "t"/"f",
 * uuid as lowercase 8-4-4-4-12, text/varchar/name/enum verbatim (name
 * clipped to 63 bytes). Only those types give a key (the first such eq
 * condition): numeric, float, bpchar, citext and date/time text depends on
 * typmod, padding, case or session settings, so they give none. */
int cdc_filter_eq_key(const cdc_filter_t *f, size_t *col, const char **value, size_t *len);

#endif
