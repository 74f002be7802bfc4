/*
 * cdc/catalog: see catalog.h.
 *
 * Why the check is written from the policies rather than run as a SELECT
 * on the table: a change must be judged on its own row image (the row as
 * that transaction left it; for a DELETE, the row that no longer exists),
 * not on whatever the live row is by the time the check runs. The image is
 * turned back into a row of the table's type (jsonb_populate_record) and
 * the policies' expressions, printed by PostgreSQL itself, are evaluated
 * on it under the subscriber's role and claims, with PERMISSIVE policies
 * OR-ed and RESTRICTIVE ones AND-ed, as PostgreSQL combines them.
 */
#include "cdc/catalog.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cdc/subs.h"
#include "util/buf.h"
#include "util/hash.h"
#include "util/mem.h"

struct cdc_catalog {
    atomic_int refs;
    size_t n;
    cdc_table_t *t; /* sorted by oid */
    cdc_pol_terms_t terms;
    uint8_t *claim_ok; /* per CLAIM term: cacheable */
    uint32_t *watch;   /* relations whose changes invalidate cached CLAIM values */
    size_t nwatch;
    uint64_t fingerprint; /* of everything the plans were compiled from */
};

static uint64_t fp_add(uint64_t h, const void *p, size_t n) {
    static const uint8_t sep = 0xff; /* "ab"+"c" and "a"+"bc" differ */
    return hash_bytes(hash_bytes(h, p, n), &sep, 1);
}

static uint64_t fp_str(uint64_t h, const char *s) { return fp_add(h, s ? s : "", s ? strlen(s) : 0); }

static const char *const role_names[CDC_NROLES] = {"anon", "authenticated", "service_role"};

int cdc_cat_role(const char *role) {
    for (int i = 0; i < CDC_NROLES; i++)
        if (role && !strcmp(role, role_names[i]))
            return i;
    return CDC_ROLE_ANON;
}

const char *cdc_cat_role_name(int role) { return role_names[role >= 0 && role < CDC_NROLES ? role : 0]; }

/* One row per (table, request role). A policy applies to a role when it is
 * for PUBLIC or for a role the request role is a member of. */
const char *cdc_cat_sql(void) {
    return "SELECT c.oid::int8, n.nspname, c.relname, format('%I.%I', n.nspname, c.relname), quote_ident(c.relname),"
           " EXISTS (SELECT 1 FROM pg_publication_tables pt WHERE pt.pubname = $1"
           "         AND pt.schemaname = n.nspname AND pt.tablename = c.relname),"
           " c.relrowsecurity,"
           " (SELECT json_agg(json_build_array(a.attname,"
           "      CASE WHEN t.typtype = 'd' THEN bt.typname ELSE t.typname END,"
           "      a.atttypid::int8,"
           "      (CASE WHEN t.typtype = 'd' THEN t.typbasetype"
           "            WHEN et.typtype = 'd' THEN coalesce(nullif(bet.typarray, 0), a.atttypid)"
           "            ELSE a.atttypid END)::int8,"
           "      coalesce(t.typname IN ('json', 'jsonb') OR bt.typname IN ('json', 'jsonb'), false),"
           "      EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary"
           "              AND a.attnum = ANY (i.indkey)))"
           "    ORDER BY a.attnum)"
           "    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
           "    LEFT JOIN pg_type bt ON bt.oid = t.typbasetype"
           "    LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'"
           "    LEFT JOIN pg_type bet ON bet.oid = et.typbasetype"
           "   WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''),"
           " r.rolname, has_table_privilege(r.oid, c.oid, 'SELECT'), r.rolbypassrls OR r.rolsuper,"
           " (SELECT string_agg('(' || pg_get_expr(p.polqual, p.polrelid) || ')', ' OR ' ORDER BY p.polname)"
           "    FROM pg_policy p WHERE p.polrelid = c.oid AND p.polpermissive AND p.polcmd IN ('r', '*')"
           "     AND p.polqual IS NOT NULL"
           "     AND EXISTS (SELECT 1 FROM unnest(p.polroles) pr WHERE pr = 0 OR pg_has_role(r.oid, pr, 'MEMBER'))),"
           " (SELECT string_agg('(' || pg_get_expr(p.polqual, p.polrelid) || ')', ' AND ' ORDER BY p.polname)"
           "    FROM pg_policy p WHERE p.polrelid = c.oid AND NOT p.polpermissive AND p.polcmd IN ('r', '*')"
           "     AND p.polqual IS NOT NULL"
           "     AND EXISTS (SELECT 1 FROM unnest(p.polroles) pr WHERE pr = 0 OR pg_has_role(r.oid, pr, 'MEMBER')))"
           " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
           " CROSS JOIN (SELECT oid, rolname, rolbypassrls, rolsuper FROM pg_roles"
           "             WHERE rolname IN ('anon', 'authenticated', 'service_role')) r"
           " WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
           "   AND n.nspname NOT LIKE 'pg_toast%'"
           " ORDER BY c.oid";
}

/* Zero-argument functions that policies call (pg_depend records them), the
 * functions their bodies name, transitively, and the relations any of
 * those bodies name, with whether each is published. Text matching on
 * prosrc errs on the side of naming too much, which only makes caching
 * rarer. */
const char *cdc_cat_functions_sql(void) {
    return "WITH RECURSIVE roots AS ("
           "  SELECT DISTINCT p.oid, p.proname, n.nspname FROM pg_depend d"
           "    JOIN pg_proc p ON p.oid = d.refobjid JOIN pg_namespace n ON n.oid = p.pronamespace"
           "   WHERE d.classid = 'pg_policy'::regclass AND d.refclassid = 'pg_proc'::regclass AND p.pronargs = 0),"
           " reach(root, oid) AS ("
           "  SELECT oid, oid FROM roots"
           "  UNION"
           "  SELECT r.root, q.oid FROM reach r JOIN pg_proc f ON f.oid = r.oid"
           "    JOIN pg_proc q ON q.oid <> f.oid AND f.prosrc ~ ('\\m' || q.proname || '\\s*\\(')"
           "    JOIN pg_namespace qn ON qn.oid = q.pronamespace"
           "   WHERE qn.nspname NOT IN ('pg_catalog', 'information_schema'))"
           " SELECT ro.nspname, ro.proname,"
           "   bool_and(l.lanname IN ('sql', 'plpgsql')),"
           "   coalesce(jsonb_agg(DISTINCT jsonb_build_array(c.oid::int8,"
           "       EXISTS (SELECT 1 FROM pg_publication_tables pt WHERE pt.pubname = $1"
           "               AND pt.schemaname = cn.nspname AND pt.tablename = c.relname)))"
           "     FILTER (WHERE c.oid IS NOT NULL), '[]')"
           " FROM roots ro JOIN reach r ON r.root = ro.oid JOIN pg_proc f ON f.oid = r.oid"
           " JOIN pg_language l ON l.oid = f.prolang"
           " LEFT JOIN (pg_class c JOIN pg_namespace cn ON cn.oid = c.relnamespace"
           "            AND cn.nspname NOT IN ('pg_catalog', 'information_schema')"
           "            AND cn.nspname NOT LIKE 'pg_toast%' AND c.relkind IN ('r', 'p', 'v', 'm', 'f'))"
           "   ON f.prosrc ~ ('\\m' || c.relname || '\\M')"
           " GROUP BY ro.nspname, ro.proname";
}

/* ---- event limits -------------------------------------------------------- */

typedef int (*limit_fn)(void *ud, const char *schema, size_t slen, const char *table, size_t tlen, unsigned events);

/* Walks spec, calling fn for each entry; -1 with err on a syntax error. */
static int limits_walk(const char *spec, limit_fn fn, void *ud, char *err, size_t errlen) {
    const char *p = spec ? spec : "";
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *e = p + strcspn(p, ",");
        const char *colon = memchr(p, ':', (size_t)(e - p));
        const char *dot = colon ? memchr(p, '.', (size_t)(colon - p)) : NULL;
        if (!colon || !dot || dot == p || colon == dot + 1) {
            snprintf(err, errlen, "table events: expected schema.table:EVENT[|EVENT] in \"%.*s\"", (int)(e - p), p);
            return -1;
        }
        unsigned events = 0;
        for (const char *q = colon + 1; q < e;) {
            size_t n = strcspn(q, "|,");
            if (q + n > e)
                n = (size_t)(e - q);
            if (n == 6 && !strncasecmp(q, "INSERT", 6))
                events |= CDC_EV_INSERT;
            else if (n == 6 && !strncasecmp(q, "UPDATE", 6))
                events |= CDC_EV_UPDATE;
            else if (n == 6 && !strncasecmp(q, "DELETE", 6))
                events |= CDC_EV_DELETE;
            else if (n == 1 && *q == '*')
                events |= CDC_EV_ALL;
            else {
                snprintf(err, errlen, "table events: unknown event \"%.*s\"", (int)n, q);
                return -1;
            }
            q += n;
            if (q < e && *q == '|')
                q++;
        }
        if (!events) {
            snprintf(err, errlen, "table events: no event for \"%.*s\"", (int)(colon - p), p);
            return -1;
        }
        if (fn && fn(ud, p, (size_t)(dot - p), dot + 1, (size_t)(colon - dot - 1), events))
            return 0;
        p = e;
    }
    return 0;
}

int cdc_cat_limits_check(const char *spec, char *err, size_t errlen) {
    return limits_walk(spec, NULL, NULL, err, errlen);
}

static int apply_limit(void *ud, const char *schema, size_t slen, const char *table, size_t tlen, unsigned events) {
    cdc_table_t *t = ud;
    if (strlen(t->schema) == slen && !memcmp(t->schema, schema, slen) && strlen(t->name) == tlen &&
        !memcmp(t->name, table, tlen))
        t->events = events;
    return 0;
}

/* ---- loading --------------------------------------------------------------- */

static void table_clear(cdc_table_t *t) {
    free(t->schema);
    free(t->name);
    free(t->qualified);
    for (size_t i = 0; i < t->ncols; i++) {
        free((char *)t->cols[i].name);
        free((char *)t->cols[i].type);
    }
    free(t->cols);
    free(t->type_oids);
    free(t->conv_oids);
    free(t->is_json);
    free(t->is_pk);
    for (int r = 0; r < CDC_NROLES; r++) {
        free(t->check_sql[r]);
        cdc_pol_free(t->plan[r]);
    }
}

static int load_columns(cdc_table_t *t, const char *json) {
    if (!json || !*json)
        return 0; /* a table without columns */
    json_t *a = json_loads(json, 0, NULL);
    if (!json_is_array(a)) {
        json_decref(a);
        return -1;
    }
    size_t n = json_array_size(a);
    t->cols = xcalloc(n ? n : 1, sizeof(*t->cols));
    t->type_oids = xcalloc(n ? n : 1, sizeof(*t->type_oids));
    t->conv_oids = xcalloc(n ? n : 1, sizeof(*t->conv_oids));
    t->is_json = xcalloc(n ? n : 1, sizeof(*t->is_json));
    t->is_pk = xcalloc(n ? n : 1, sizeof(*t->is_pk));
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(a, i);
        const char *name = json_string_value(json_array_get(c, 0));
        const char *type = json_string_value(json_array_get(c, 1));
        if (!name) {
            json_decref(a);
            return -1;
        }
        t->cols[i].name = xstrdup(name);
        t->cols[i].type = type ? xstrdup(type) : NULL;
        t->type_oids[i] = (uint32_t)json_integer_value(json_array_get(c, 2));
        t->conv_oids[i] = (uint32_t)json_integer_value(json_array_get(c, 3));
        t->is_json[i] = json_is_true(json_array_get(c, 4));
        t->is_pk[i] = json_is_true(json_array_get(c, 5));
        t->ncols = i + 1;
    }
    json_decref(a);
    return 0;
}

/* The visibility check of one (table, role): rows come back by position. */
static char *check_sql(const char *qualified, const char *alias, const char *permissive, const char *restrictive) {
    buf_t *b = buf_new(256 + strlen(permissive) + (restrictive ? strlen(restrictive) : 0));
    buf_puts(&b, "SELECT \"tc$o\" FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS \"tc$x\"(\"tc$v\", \"tc$o\")"
                 " CROSS JOIN LATERAL jsonb_populate_record(NULL::");
    buf_puts(&b, qualified);
    buf_puts(&b, ", \"tc$x\".\"tc$v\") AS ");
    buf_puts(&b, alias);
    buf_puts(&b, " WHERE (");
    buf_puts(&b, permissive);
    buf_puts(&b, ")");
    if (restrictive) {
        buf_puts(&b, " AND (");
        buf_puts(&b, restrictive);
        buf_puts(&b, ")");
    }
    buf_putc(&b, 0);
    char *s = xstrdup((const char *)b->data);
    buf_unref(b);
    return s;
}

static void set_role(cdc_catalog_t *c, cdc_table_t *t, int role, int can_select, int bypass, const char *alias,
                     const char *permissive, const char *restrictive) {
    if (!can_select)
        t->vis[role] = CDC_VIS_NEVER;
    else if (!t->rls || bypass)
        t->vis[role] = CDC_VIS_ALWAYS;
    else if (!permissive)
        t->vis[role] = CDC_VIS_NEVER; /* RLS with no policy for the role: nothing is visible */
    else if (!restrictive && !strcmp(permissive, "(true)"))
        t->vis[role] = CDC_VIS_ALWAYS;
    else {
        t->vis[role] = CDC_VIS_CHECK;
        t->check_sql[role] = check_sql(t->qualified, alias, permissive, restrictive);
        if (!restrictive) {
            t->plan[role] = cdc_pol_compile(permissive, t->cols, t->ncols, t->oid, &c->terms);
            /* Same inputs, same plans, same term numbering: a reload that
             * changes none of this keeps subscribers' cached values. */
            uint64_t h = c->fingerprint;
            h = fp_add(h, &t->oid, sizeof(t->oid));
            h = fp_add(h, &role, sizeof(role));
            h = fp_str(h, permissive);
            for (size_t k = 0; k < t->ncols; k++)
                h = fp_str(fp_str(h, t->cols[k].name), t->cols[k].type);
            c->fingerprint = h;
        }
    }
}

static const char *cell(const PGresult *r, int row, int col) {
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

/* Which CLAIM terms may be cached, and the relations to watch for them. */
static void load_functions(cdc_catalog_t *c, const PGresult *fns) {
    size_t n = c->terms.nclaims;
    c->claim_ok = xcalloc(n ? n : 1, 1);
    if (!fns || PQresultStatus(fns) != PGRES_TUPLES_OK || PQnfields(fns) != 4)
        return; /* nothing cached: every claims term goes to the database */
    for (size_t i = 0; i < n; i++) {
        const char *fn = c->terms.fn[i];
        const char *dot = strchr(fn, '.');
        for (int row = 0; row < PQntuples(fns); row++) {
            const char *nsp = PQgetvalue(fns, row, 0), *name = PQgetvalue(fns, row, 1);
            int same = dot ? (strlen(nsp) == (size_t)(dot - fn) && !strncmp(nsp, fn, (size_t)(dot - fn)) &&
                              !strcmp(name, dot + 1))
                           : !strcmp(name, fn);
            if (!same || PQgetvalue(fns, row, 2)[0] != 't')
                continue;
            json_t *rels = json_loads(PQgetvalue(fns, row, 3), 0, NULL);
            int ok = json_is_array(rels);
            size_t k;
            json_t *rel;
            json_array_foreach(rels, k, rel) {
                if (!json_is_true(json_array_get(rel, 1))) {
                    ok = 0; /* reads something the stream does not show */
                    break;
                }
            }
            if (ok) {
                json_array_foreach(rels, k, rel) {
                    c->watch = xrealloc(c->watch, (c->nwatch + 1) * sizeof(*c->watch));
                    c->watch[c->nwatch++] = (uint32_t)json_integer_value(json_array_get(rel, 0));
                }
                c->claim_ok[i] = 1;
            }
            json_decref(rels);
        }
    }
}

const cdc_pol_terms_t *cdc_cat_terms(const cdc_catalog_t *c) { return &c->terms; }
int cdc_cat_claim_cacheable(const cdc_catalog_t *c, size_t term) {
    return term < c->terms.nclaims && c->claim_ok[term];
}
int cdc_cat_watched(const cdc_catalog_t *c, uint32_t relid) {
    for (size_t i = 0; i < c->nwatch; i++)
        if (c->watch[i] == relid)
            return 1;
    return 0;
}

cdc_catalog_t *cdc_cat_load(const PGresult *r, const PGresult *fns, const char *limits, char *err, size_t errlen) {
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQnfields(r) != 13) {
        snprintf(err, errlen, "catalog query failed: %s", PQresultErrorMessage(r));
        return NULL;
    }
    if (cdc_cat_limits_check(limits, err, errlen) < 0)
        return NULL;
    int rows = PQntuples(r);
    cdc_catalog_t *c = xcalloc(1, sizeof(*c));
    atomic_init(&c->refs, 1);
    c->fingerprint = HASH_INIT;
    c->t = xcalloc((size_t)(rows ? rows : 1), sizeof(*c->t));
    for (int i = 0; i < rows; i++) {
        uint32_t oid = (uint32_t)strtoul(PQgetvalue(r, i, 0), NULL, 10);
        /* Rows come ordered by table: a new oid starts the next table. */
        int next = c->n == 0 || c->t[c->n - 1].oid != oid;
        cdc_table_t *t = next ? &c->t[c->n++] : &c->t[c->n - 1];
        if (next) {
            t->oid = oid;
            t->schema = xstrdup(PQgetvalue(r, i, 1));
            t->name = xstrdup(PQgetvalue(r, i, 2));
            t->qualified = xstrdup(PQgetvalue(r, i, 3));
            t->published = PQgetvalue(r, i, 5)[0] == 't';
            t->rls = PQgetvalue(r, i, 6)[0] == 't';
            t->events = CDC_EV_ALL;
            if (load_columns(t, cell(r, i, 7)) < 0) {
                snprintf(err, errlen, "catalog: bad column list for %s", t->qualified);
                cdc_cat_unref(c);
                return NULL;
            }
            limits_walk(limits, apply_limit, t, err, errlen);
        }
        set_role(c, t, cdc_cat_role(PQgetvalue(r, i, 8)), PQgetvalue(r, i, 9)[0] == 't', PQgetvalue(r, i, 10)[0] == 't',
                 PQgetvalue(r, i, 4), cell(r, i, 11), cell(r, i, 12));
    }
    load_functions(c, fns);
    c->fingerprint = fp_add(c->fingerprint, c->claim_ok, c->terms.nclaims);
    c->fingerprint = fp_add(c->fingerprint, c->watch, c->nwatch * sizeof(*c->watch));
    return c;
}

uint64_t cdc_cat_fingerprint(const cdc_catalog_t *c) { return c->fingerprint; }

cdc_catalog_t *cdc_cat_ref(cdc_catalog_t *c) {
    atomic_fetch_add(&c->refs, 1);
    return c;
}

void cdc_cat_unref(cdc_catalog_t *c) {
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    for (size_t i = 0; i < c->n; i++)
        table_clear(&c->t[i]);
    free(c->t);
    cdc_pol_terms_clear(&c->terms);
    free(c->claim_ok);
    free(c->watch);
    free(c);
}

const cdc_table_t *cdc_cat_find(const cdc_catalog_t *c, const char *schema, const char *name) {
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->t[i].name, name) && !strcmp(c->t[i].schema, schema))
            return &c->t[i];
    return NULL;
}

const cdc_table_t *cdc_cat_by_oid(const cdc_catalog_t *c, uint32_t oid) {
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c->t[mid].oid < oid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->n && c->t[lo].oid == oid ? &c->t[lo] : NULL;
}

size_t cdc_cat_count(const cdc_catalog_t *c) { return c->n; }
const cdc_table_t *cdc_cat_at(const cdc_catalog_t *c, size_t i) { return &c->t[i]; }
