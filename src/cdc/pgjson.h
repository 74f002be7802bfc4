/*
 * cdc/pgjson: a PostgreSQL value's text as JSON, exactly as to_jsonb
 * prints it (what supabase/realtime sends), minus insignificant
 * whitespace. See pgo_value_json (cdc/pgoutput.h) for the rules per type;
 * this module applies them given how the type converts (cdc/pgtype's
 * categories) and a way to learn how an array's element type converts.
 *
 * It must never emit anything but valid JSON, whatever the text (invalid
 * UTF-8 becomes U+FFFD, text that does not parse as its type claims
 * becomes a JSON string), never recurse without bound, and never know
 * where types come from (the caller's resolver does).
 */
#ifndef TC_CDC_PGJSON_H
#define TC_CDC_PGJSON_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* How values of a type convert. */
typedef struct {
    uint8_t json;  /* pgtype_json_t */
    uint32_t elem; /* arrays and vectors: the element type's OID */
} pgjson_type_t;

/* How values of type oid convert: called once per array or vector for its
 * element type, with the ctx given to pgjson_value; the answer must depend
 * only on oid. Unknown types are PGTYPE_STRING. */
typedef pgjson_type_t (*pgjson_resolve_fn)(const void *ctx, uint32_t oid);

/* Appends s[0..n), the text of a value converting as type, as JSON to *out. */
void pgjson_value(pgjson_type_t type, const char *s, size_t n, pgjson_resolve_fn resolve, const void *ctx, buf_t **out);

#endif
