/*
 * cdc/filter: the filter grammar of a postgres_changes subscription, as
 * realtime-js sends it and supabase/realtime accepts it today:
 *   col=op.value[,col=op.value...]   (conditions AND-ed)
 * with op in eq, neq, lt, lte, gt, gte, in, like, ilike, is, match, imatch,
 * isdistinct, each optionally negated with "not." before it. Parsed once at
 * join against the table's columns and types, then evaluated on each
 * change's row image in the server: no database round trip.
 * I/O-free; it never sees a connection.
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
 * (unchanged TOAST: data NULL and unknown[i] set) does not match. */
int cdc_filter_match(const cdc_filter_t *f, const cdc_cell_t *cells, const uint8_t *unknown);
/* The columns the filter reads (indexes), to know which old/new values it needs. */
size_t cdc_filter_columns(const cdc_filter_t *f, const size_t **idx);
/* For subscription indexing: if the filter contains an eq condition on a
 * column (not negated), returns 1 and that column index and value text
 * (view into the filter; valid while it lives), so subscribers can be
 * found by (table, column, value) instead of scanning them all. */
int cdc_filter_eq_key(const cdc_filter_t *f, size_t *col, const char **value, size_t *len);

#endif
