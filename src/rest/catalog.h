/*
 * rest/catalog: the schema cache of the REST subset: the tables, views,
 * columns and functions of the exposed schema that requests may name. It
 * is filled from one catalog query (REST_CATALOG_SQL) and consulted by
 * rest/query; an identifier not found here is never put into SQL.
 * Immutable once built: a reload builds a new catalog and swaps it.
 */
#ifndef TC_REST_CATALOG_H
#define TC_REST_CATALOG_H

#include <stddef.h>

typedef struct {
    char *name;
    char *type;      /* format_type() text, e.g. "uuid", "bigint", "text[]", "public.booking_status" */
    int has_default; /* DEFAULT, identity or generated */
    int nullable;
    char *default_expr; /* SQL of the default (identity: its nextval), NULL if none or generated;
                           used for Prefer: missing=default */
} rest_column_t;

typedef struct {
    char *schema, *name;
    rest_column_t *cols;
    size_t ncols;
    char **pk; /* primary key column names */
    size_t npk;
    int insertable; /* table or auto-updatable view */
} rest_table_t;

typedef struct {
    char *name; /* "" for an unnamed argument */
    char *type; /* format_type() text */
    int has_default;
    int is_variadic;
} rest_arg_t;

typedef struct {
    char *schema, *name;
    rest_arg_t *args; /* IN / INOUT / VARIADIC args in order */
    size_t nargs;
    char *ret_type; /* format_type() of the result */
    int returns_set;
    int returns_composite; /* a row type, or OUT/INOUT/TABLE parameters: rows to json objects */
    int ret_out_params;    /* the result columns are OUT/INOUT/TABLE parameters (FROM needs a column alias list) */
    int returns_void;
    int is_volatile;         /* VOLATILE functions may not run on GET */
    rest_column_t *ret_cols; /* the result's columns when returns_composite */
    size_t nret_cols;
} rest_func_t;

typedef struct rest_catalog rest_catalog_t;

/* The query that loads the catalog for the schemas in $1 (text[]). Every
 * result row has REST_CATALOG_NCOLS text columns:
 *   0 kind    't' relation (table, view, materialized view, partitioned or
 *             foreign table) | 'f' function (prokind 'f', not trigger)
 *   1 schema  2 name
 *   3 't': relkind          'f': volatility: 'i' | 's' | 'v'
 *   4 't': insertable t/f   'f': returns set t/f
 *   5 't': columns JSON [{"name","type","nullable","has_default","default"}] by attnum
 *     'f': input args JSON [{"name","type","has_default","variadic"}] in order
 *   6 't': primary key JSON ["col",...] in key order
 *     'f': result columns JSON [{"name","type"}] ([] unless composite)
 *   7 't': NULL             'f': format_type() of the result
 *   8 't': NULL             'f': 'v' void | 's' scalar | 'c' row type | 'o' OUT parameters
 * Feed each row to rest_catalog_add_row. Type names are format_type()'s,
 * qualified only when not on the loading session's search_path: requests
 * must run with the same search_path (the default "$user", public). */
#define REST_CATALOG_NCOLS 9
extern const char *const REST_CATALOG_SQL;

/* Empty catalog; release with rest_catalog_free. */
rest_catalog_t *rest_catalog_new(void);
void rest_catalog_free(rest_catalog_t *c);
/* Adds one row of REST_CATALOG_SQL's result: values[i] are the text
 * columns (NULL for SQL NULL), n their count. Returns 0 or -1 if the row
 * is malformed (the catalog is then unchanged). */
int rest_catalog_add_row(rest_catalog_t *c, const char *const *values, int n);
const rest_table_t *rest_catalog_table(const rest_catalog_t *c, const char *schema, const char *name);
/* The first function of that name (rest_catalog_func_at(c, s, n, 0)). */
const rest_func_t *rest_catalog_func(const rest_catalog_t *c, const char *schema, const char *name);
/* The i-th overload of that name, in load order, or NULL past the last. */
const rest_func_t *rest_catalog_func_at(const rest_catalog_t *c, const char *schema, const char *name, size_t i);
const rest_column_t *rest_table_column(const rest_table_t *t, const char *name);

#endif
