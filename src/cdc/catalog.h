/*
 * cdc/catalog: what the CDC thread knows of the database's tables, loaded
 * with one query: columns (names, type names, key columns), whether the
 * table is in the publication, and for each request role (anon,
 * authenticated, service_role) whether a change of the table can reach it:
 * never (no SELECT privilege, or RLS with no policy admitting the role),
 * always (no RLS, a role that bypasses it, or a lone `USING (true)`
 * policy), or only after a check in the database, whose SQL this module
 * writes from the table's own policies (pg_policy, as pg_get_expr prints
 * them). It also carries the per-table event limits the server is
 * configured with. It never runs a query itself: the caller runs
 * cdc_cat_sql() and hands over the result.
 *
 * A catalog is immutable once loaded and reference-counted: a reload makes
 * a new one, and work in flight keeps the one it started with.
 */
#ifndef TC_CDC_CATALOG_H
#define TC_CDC_CATALOG_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "cdc/filter.h"
#include "cdc/policy.h"

enum { CDC_ROLE_ANON = 0, CDC_ROLE_AUTHENTICATED, CDC_ROLE_SERVICE, CDC_NROLES };
typedef enum { CDC_VIS_NEVER = 0, CDC_VIS_ALWAYS, CDC_VIS_CHECK } cdc_vis_t;

typedef struct {
    uint32_t oid;
    char *schema, *name;
    char *qualified;   /* "public"."bookings", quoted for SQL */
    uint8_t published; /* in the publication */
    uint8_t rls;       /* relrowsecurity */
    unsigned events;   /* CDC_EV_* bits the server publishes for it (limits) */
    size_t ncols;
    cdc_column_t *cols;  /* name and type name, as cdc_filter_parse wants them */
    uint32_t *type_oids; /* per column */
    uint32_t *conv_oids; /* per column: the type whose JSON conversion applies (domains) */
    uint8_t *is_json;    /* per column: json or jsonb (spliced raw into row images) */
    uint8_t *is_pk;      /* per column: part of the primary key */
    cdc_vis_t vis[CDC_NROLES];
    char *check_sql[CDC_NROLES]; /* CDC_VIS_CHECK: $1 = JSON array of row images; returns the
                                    1-based positions of visible rows */
    /* CDC_VIS_CHECK without restrictive policies: the permissive
     * expression compiled by cdc/policy, to decide rows without the
     * database when it can. NULL otherwise. */
    cdc_policy_t *plan[CDC_NROLES];
} cdc_table_t;

typedef struct cdc_catalog cdc_catalog_t;

/* The catalog queries, run together; $1 is the publication name. The
 * first lists tables, the second the functions policies call without
 * arguments and the relations their bodies name (so a cached value of
 * `(SELECT is_admin())` can be dropped when one of those tables changes). */
const char *cdc_cat_sql(void);
const char *cdc_cat_functions_sql(void);

/* Per-table event limits: "schema.table:EVENT[|EVENT...][,...]", e.g.
 * "public.messages:INSERT,public.payments:INSERT". Returns 0, or -1 with a
 * reason in err. An empty or NULL spec means no limits. */
int cdc_cat_limits_check(const char *spec, char *err, size_t errlen);

/* Builds a catalog from the results of cdc_cat_sql() and
 * cdc_cat_functions_sql() (one reference for the caller), or NULL with a
 * reason in err. limits: as above (checked). */
cdc_catalog_t *cdc_cat_load(const PGresult *r, const PGresult *fns, const char *limits, char *err, size_t errlen);
cdc_catalog_t *cdc_cat_ref(cdc_catalog_t *c);
/* Equal for two catalogs whose plans, term numbering and cacheability are
 * the same (compiled from the same policies and columns): work prepared
 * with one is valid with the other. */
uint64_t cdc_cat_fingerprint(const cdc_catalog_t *c);
void cdc_cat_unref(cdc_catalog_t *c);

const cdc_table_t *cdc_cat_find(const cdc_catalog_t *c, const char *schema, const char *name);
const cdc_table_t *cdc_cat_by_oid(const cdc_catalog_t *c, uint32_t oid);
size_t cdc_cat_count(const cdc_catalog_t *c);
const cdc_table_t *cdc_cat_at(const cdc_catalog_t *c, size_t i);

/* The CLAIM terms and ROW predicates the plans refer to. A CLAIM term may
 * be cached per subscriber when cdc_cat_claim_cacheable says so: its
 * function (and every function its body names) is SQL or PL/pgSQL and
 * every relation those bodies name is published, so a change that could
 * alter its value is seen in the stream (cdc_cat_watched). */
const cdc_pol_terms_t *cdc_cat_terms(const cdc_catalog_t *c);
int cdc_cat_claim_cacheable(const cdc_catalog_t *c, size_t term);
int cdc_cat_watched(const cdc_catalog_t *c, uint32_t relid);

/* The request role of a token's role claim: anon, authenticated,
 * service_role; anything else counts as anon (least privilege). */
int cdc_cat_role(const char *role);
const char *cdc_cat_role_name(int role);

#endif
