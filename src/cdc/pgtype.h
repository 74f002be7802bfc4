/*
 * cdc/pgtype: PostgreSQL 15's built-in types by OID, the ones pgoutput
 * never describes in a TYPE message (every OID below 10000): their name,
 * their element type (arrays, int2vector, oidvector) and how to_jsonb
 * presents their values (json_categorize_type, split where the text needs
 * rewriting). cdc/pgoutput names columns with it; cdc/pgjson converts
 * values by it.
 *
 * A constant table: it must never allocate, change, or know about types a
 * database defines (enums, domains, composites: the decoder's cache).
 */
#ifndef TC_CDC_PGTYPE_H
#define TC_CDC_PGTYPE_H

#include <stdint.h>

/* How a type's text becomes JSON. */
typedef enum {
    PGTYPE_STRING, /* JSON string of the text */
    PGTYPE_BOOL,   /* t/f -> true/false */
    PGTYPE_NUM,    /* int2/4/8, numeric: the text is already a JSON number */
    PGTYPE_FLOAT,  /* float4/8: rewritten in numeric's plain notation */
    PGTYPE_JSON,   /* json, jsonb: spliced */
    PGTYPE_TS,     /* timestamp: ISO with 'T' */
    PGTYPE_TSTZ,   /* timestamptz: ISO with 'T' and a +HH:MM offset */
    PGTYPE_ARRAY,  /* {...} of elem */
    PGTYPE_VECTOR, /* int2vector, oidvector: space-separated elem */
} pgtype_json_t;

typedef struct {
    uint32_t oid;
    uint32_t elem;    /* PGTYPE_ARRAY, PGTYPE_VECTOR: element type; else 0 */
    uint8_t json;     /* pgtype_json_t */
    const char *name; /* pg_type.typname */
} pgtype_t;

/* The built-in type with this OID, or NULL. */
const pgtype_t *pgtype_builtin(uint32_t oid);
/* The built-in type with this typname, or NULL (a linear scan: for TYPE
 * messages, which are rare). */
const pgtype_t *pgtype_builtin_named(const char *name);

#endif
