/*
 * rest/catalog: the schema cache of the REST subset (see catalog.h). It
 * owns the one query that reads PostgreSQL's catalogs and the parsing of
 * its rows into tables, columns and functions; lookups are by exact name.
 * It never runs a query itself and never hands out a name that did not
 * come from a catalog row: rest/query quotes only what it finds here.
 */
#include "rest/catalog.h"
#include "util/mem.h"

#include <jansson.h>

#include <stdlib.h>
#include <string.h>

struct rest_catalog {
    rest_table_t *tables;
    size_t ntables, cap_tables;
    rest_func_t *funcs;
    size_t nfuncs, cap_funcs;
};

/* One statement, two halves: relations, then functions. Booleans stay
 * booleans (libpq sends them as t/f); JSON is cast to text so that a row
 * is nothing but text columns. bpchar arguments are typed "bpchar" rather
 * than format_type's "character", which would re-read as character(1)
 * and truncate; a function argument has no length to preserve anyway. */
const char *const REST_CATALOG_SQL =
    "SELECT 't'::text AS kind, n.nspname::text AS schema, c.relname::text AS name, c.relkind::text AS info,"
    " (c.relkind IN ('r', 'p') OR (c.relkind IN ('v', 'f')"
    "   AND (pg_catalog.pg_relation_is_updatable(c.oid::regclass, true) & 8) = 8)) AS flag,"
    " (SELECT coalesce(json_agg(json_build_object("
    "     'name', a.attname, 'type', pg_catalog.format_type(a.atttypid, a.atttypmod),"
    "     'nullable', NOT a.attnotnull,"
    "     'has_default', a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '',"
    "     'default', CASE WHEN a.attgenerated <> '' THEN NULL"
    "                     WHEN a.attidentity <> '' THEN pg_catalog.format('nextval(%L::regclass)',"
    "                          pg_catalog.pg_get_serial_sequence(c.oid::regclass::text, a.attname))"
    "                     ELSE pg_catalog.pg_get_expr(d.adbin, d.adrelid) END)"
    "   ORDER BY a.attnum), '[]')::text"
    "  FROM pg_catalog.pg_attribute a"
    "  LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
    "  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS items,"
    " (SELECT coalesce(json_agg(a.attname ORDER BY k.ord), '[]')::text"
    "  FROM pg_catalog.pg_index i"
    "  CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)"
    "  JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
    "  WHERE i.indrelid = c.oid AND i.indisprimary) AS extra,"
    " NULL::text AS ret_type, NULL::text AS ret_kind"
    " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND n.nspname = ANY ($1::text[])"
    " UNION ALL "
    "SELECT 'f'::text, n.nspname::text, p.proname::text, p.provolatile::text, p.proretset,"
    " (SELECT coalesce(json_agg(json_build_object('name', x.name, 'type', x.type,"
    "     'has_default', x.idx > p.pronargs - p.pronargdefaults, 'variadic', x.mode = 'v')"
    "   ORDER BY x.ord), '[]')::text"
    "  FROM (SELECT a.ord, coalesce(p.proargnames[a.ord], '') AS name,"
    "          CASE WHEN a.t = 'bpchar'::regtype THEN 'bpchar' ELSE pg_catalog.format_type(a.t, NULL) END AS type,"
    "          coalesce(p.proargmodes[a.ord], 'i') AS mode, row_number() OVER (ORDER BY a.ord) AS idx"
    "        FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) WITH ORDINALITY a(t, ord)"
    "        WHERE coalesce(p.proargmodes[a.ord], 'i') IN ('i', 'b', 'v')) x),"
    " CASE WHEN t.typrelid <> 0 THEN"
    "   (SELECT coalesce(json_agg(json_build_object('name', a.attname,"
    "       'type', pg_catalog.format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum), '[]')::text"
    "    FROM pg_catalog.pg_attribute a"
    "    WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped)"
    " ELSE"
    "   (SELECT coalesce(json_agg(json_build_object('name', coalesce(p.proargnames[a.ord], ''),"
    "       'type', pg_catalog.format_type(a.t, NULL)) ORDER BY a.ord), '[]')::text"
    "    FROM unnest(p.proallargtypes) WITH ORDINALITY a(t, ord)"
    "    WHERE p.proargmodes[a.ord] IN ('o', 'b', 't'))"
    " END,"
    " pg_catalog.format_type(p.prorettype, NULL),"
    " CASE WHEN p.prorettype = 'void'::regtype THEN 'v'"
    "      WHEN t.typrelid <> 0 THEN 'c'"
    "      WHEN 'o' = ANY (p.proargmodes) OR 'b' = ANY (p.proargmodes) OR 't' = ANY (p.proargmodes) THEN 'o'"
    "      ELSE 's' END"
    " FROM pg_catalog.pg_proc p"
    " JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
    " JOIN pg_catalog.pg_type t ON t.oid = p.prorettype"
    " WHERE p.prokind = 'f' AND n.nspname = ANY ($1::text[])"
    "   AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)";

rest_catalog_t *rest_catalog_new(void) { return xcalloc(1, sizeof(rest_catalog_t)); }

static void free_cols(rest_column_t *cols, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(cols[i].name);
        free(cols[i].type);
        free(cols[i].default_expr);
    }
    free(cols);
}

static void free_table(rest_table_t *t) {
    free(t->schema);
    free(t->name);
    free_cols(t->cols, t->ncols);
    for (size_t i = 0; i < t->npk; i++)
        free(t->pk[i]);
    free(t->pk);
}

static void free_func(rest_func_t *f) {
    free(f->schema);
    free(f->name);
    for (size_t i = 0; i < f->nargs; i++) {
        free(f->args[i].name);
        free(f->args[i].type);
    }
    free(f->args);
    free(f->ret_type);
    free_cols(f->ret_cols, f->nret_cols);
}

void rest_catalog_free(rest_catalog_t *c) {
    if (!c)
        return;
    for (size_t i = 0; i < c->ntables; i++)
        free_table(&c->tables[i]);
    for (size_t i = 0; i < c->nfuncs; i++)
        free_func(&c->funcs[i]);
    free(c->tables);
    free(c->funcs);
    free(c);
}

/* libpq renders booleans as "t"/"f"; a text cast would give "true". */
static int parse_bool(const char *s, int *out) {
    if (!s)
        return -1;
    if (!strcmp(s, "t") || !strcmp(s, "true")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(s, "f") || !strcmp(s, "false")) {
        *out = 0;
        return 0;
    }
    return -1;
}

/* A JSON member that must be a string; NULL if absent or not a string. */
static const char *jstr(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A JSON member that must be a boolean; -1 if absent or not a boolean. */
static int jbool(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : -1;
}

static json_t *load_array(const char *text) {
    if (!text)
        return NULL;
    json_t *a = json_loads(text, JSON_DECODE_ANY, NULL);
    if (a && !json_is_array(a)) {
        json_decref(a);
        a = NULL;
    }
    return a;
}

/* Columns from a JSON array of {"name","type",...}; with_meta reads the
 * nullable/has_default/default members a relation row carries. Returns 0
 * and a malloc'd array in *out (caller frees with free_cols), or -1. */
static int parse_cols(const char *text, int with_meta, rest_column_t **out, size_t *nout) {
    json_t *a = load_array(text);
    if (!a)
        return -1;
    size_t n = json_array_size(a);
    rest_column_t *cols = xcalloc(n ? n : 1, sizeof(*cols));
    size_t i;
    for (i = 0; i < n; i++) {
        json_t *o = json_array_get(a, i);
        const char *name = jstr(o, "name"), *type = jstr(o, "type");
        if (!name || !type)
            goto fail;
        cols[i].name = xstrdup(name);
        cols[i].type = xstrdup(type);
        cols[i].nullable = 1;
        if (with_meta) {
            int nullable = jbool(o, "nullable"), has_default = jbool(o, "has_default");
            if (nullable < 0 || has_default < 0)
                goto fail;
            cols[i].nullable = nullable;
            cols[i].has_default = has_default;
            const char *def = jstr(o, "default");
            cols[i].default_expr = def ? xstrdup(def) : NULL;
        }
    }
    json_decref(a);
    *out = cols;
    *nout = n;
    return 0;
fail:
    free_cols(cols, i + 1); /* entries past i are still zeroed */
    json_decref(a);
    return -1;
}

/* The primary key: a JSON array of column names. */
static int parse_pk(const char *text, char ***out, size_t *nout) {
    json_t *a = load_array(text);
    if (!a)
        return -1;
    size_t n = json_array_size(a);
    char **pk = xcalloc(n ? n : 1, sizeof(*pk));
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_string(v)) {
            for (size_t j = 0; j < i; j++)
                free(pk[j]);
            free(pk);
            json_decref(a);
            return -1;
        }
        pk[i] = xstrdup(json_string_value(v));
    }
    json_decref(a);
    *out = pk;
    *nout = n;
    return 0;
}

static int parse_args(const char *text, rest_arg_t **out, size_t *nout) {
    json_t *a = load_array(text);
    if (!a)
        return -1;
    size_t n = json_array_size(a);
    rest_arg_t *args = xcalloc(n ? n : 1, sizeof(*args));
    size_t i;
    for (i = 0; i < n; i++) {
        json_t *o = json_array_get(a, i);
        const char *name = jstr(o, "name"), *type = jstr(o, "type");
        int has_default = jbool(o, "has_default"), variadic = jbool(o, "variadic");
        if (!name || !type || has_default < 0 || variadic < 0)
            break;
        args[i].name = xstrdup(name);
        args[i].type = xstrdup(type);
        args[i].has_default = has_default;
        args[i].is_variadic = variadic;
    }
    json_decref(a);
    if (i < n) {
        for (size_t j = 0; j < i; j++) {
            free(args[j].name);
            free(args[j].type);
        }
        free(args);
        return -1;
    }
    *out = args;
    *nout = n;
    return 0;
}

static int add_table(rest_catalog_t *c, const char *const *v) {
    rest_table_t t = {0};
    if (!v[1] || !v[2] || !v[3] || parse_bool(v[4], &t.insertable) < 0)
        return -1;
    if (parse_cols(v[5], 1, &t.cols, &t.ncols) < 0)
        return -1;
    if (parse_pk(v[6], &t.pk, &t.npk) < 0) {
        free_cols(t.cols, t.ncols);
        return -1;
    }
    t.schema = xstrdup(v[1]);
    t.name = xstrdup(v[2]);
    if (c->ntables == c->cap_tables) {
        c->cap_tables = c->cap_tables ? c->cap_tables * 2 : 16;
        c->tables = xrealloc(c->tables, c->cap_tables * sizeof(*c->tables));
    }
    c->tables[c->ntables++] = t;
    return 0;
}

static int add_func(rest_catalog_t *c, const char *const *v) {
    rest_func_t f = {0};
    const char *kind = v[8];
    if (!v[1] || !v[2] || !v[3] || !v[7] || !kind || strlen(kind) != 1 || !strchr("vsco", kind[0]))
        return -1;
    if (strlen(v[3]) != 1 || !strchr("isv", v[3][0]) || parse_bool(v[4], &f.returns_set) < 0)
        return -1;
    if (parse_args(v[5], &f.args, &f.nargs) < 0)
        return -1;
    if (parse_cols(v[6], 0, &f.ret_cols, &f.nret_cols) < 0) {
        f.schema = f.name = NULL;
        free_func(&f);
        return -1;
    }
    f.schema = xstrdup(v[1]);
    f.name = xstrdup(v[2]);
    f.ret_type = xstrdup(v[7]);
    f.is_volatile = v[3][0] == 'v';
    f.returns_void = kind[0] == 'v';
    f.returns_composite = kind[0] == 'c' || kind[0] == 'o';
    f.ret_out_params = kind[0] == 'o';
    if (c->nfuncs == c->cap_funcs) {
        c->cap_funcs = c->cap_funcs ? c->cap_funcs * 2 : 16;
        c->funcs = xrealloc(c->funcs, c->cap_funcs * sizeof(*c->funcs));
    }
    c->funcs[c->nfuncs++] = f;
    return 0;
}

int rest_catalog_add_row(rest_catalog_t *c, const char *const *values, int n) {
    if (!c || !values || n != REST_CATALOG_NCOLS || !values[0])
        return -1;
    if (!strcmp(values[0], "t"))
        return add_table(c, values);
    if (!strcmp(values[0], "f"))
        return add_func(c, values);
    return -1;
}

const rest_table_t *rest_catalog_table(const rest_catalog_t *c, const char *schema, const char *name) {
    if (!c || !schema || !name)
        return NULL;
    for (size_t i = 0; i < c->ntables; i++)
        if (!strcmp(c->tables[i].name, name) && !strcmp(c->tables[i].schema, schema))
            return &c->tables[i];
    return NULL;
}

const rest_func_t *rest_catalog_func_at(const rest_catalog_t *c, const char *schema, const char *name, size_t i) {
    if (!c || !schema || !name)
        return NULL;
    for (size_t k = 0; k < c->nfuncs; k++)
        if (!strcmp(c->funcs[k].name, name) && !strcmp(c->funcs[k].schema, schema) && i-- == 0)
            return &c->funcs[k];
    return NULL;
}

const rest_func_t *rest_catalog_func(const rest_catalog_t *c, const char *schema, const char *name) {
    return rest_catalog_func_at(c, schema, name, 0);
}

const rest_column_t *rest_table_column(const rest_table_t *t, const char *name) {
    if (!t || !name)
        return NULL;
    for (size_t i = 0; i < t->ncols; i++)
        if (!strcmp(t->cols[i].name, name))
            return &t->cols[i];
    return NULL;
}
