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
 *    answer (evaluated by an NFA here, linear in the text: at most about
 *    program size x text length steps; LIKE at most pattern x text);
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
 *    (not true); filters longer than 8192 bytes are refused;
 *  - work per evaluation can be bounded (cdc_filter_match_budget): a row
 *    whose evaluation runs out of budget does not match, whatever the
 *    unbounded answer would have been. That is the one place where the
 *    answer is not PostgreSQL's: it stops a customer's filter (a regex or
 *    LIKE over a 512 KiB cell) from stalling everyone else's changes.
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
 * Never allocates: it runs per change per candidate subscriber. Its work is
 * not bounded (cdc_filter_match_budget's without a limit): for filters the
 * operator wrote (policy predicates), not for customers' bindings. */
int cdc_filter_match(const cdc_filter_t *f, const cdc_cell_t *cells, const uint8_t *unknown);

/* Like cdc_filter_match, charging the work done to *budget, in units of
 * about one step of the slowest kind of work: one byte of a cell compared
 * or scanned (parsing a typed value charges the cell's length), one regex
 * NFA state advanced over one character, one LIKE matcher step; at least 1
 * per condition evaluated (none for a filter without conditions). Returns
 * 1 (match), 0 (no match) or -1 when *budget ran out before the answer was
 * known: then *budget is 0 and the caller must treat the row as not
 * matching. Whenever it returns 0 or 1 the answer is cdc_filter_match's,
 * and *budget has dropped by the work done. The cut is exact: with at
 * least the units an unlimited evaluation costs it answers, with fewer it
 * returns -1. Work sized only as it runs is checked as it goes, so it may
 * overrun the budget a little before -1: a regex by one text position (at
 * most a few thousand units), LIKE by one pattern length; everything else
 * is charged before it runs. Bounds: a regex costs at most about (program
 * size) units per character of the cell, LIKE at most (pattern length) per
 * character (never worse: see cdc/pglike.c), a comparison the shorter
 * operand's length, a typed cell its length to parse. Never allocates. */
int cdc_filter_match_budget(const cdc_filter_t *f, const cdc_cell_t *cells, const uint8_t *unknown, uint64_t *budget);
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
