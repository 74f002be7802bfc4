/*
 * cdc/pgoutput: decodes the logical replication messages of PostgreSQL's
 * pgoutput plugin (protocol versions 1 to 4; streaming of large in-progress
 * transactions from version 2) and keeps the relation and type caches they
 * need. It also converts column values from their text form to JSON by
 * type, the way supabase/realtime presents them. I/O-free: it is fed the
 * bytes of one XLogData payload at a time and never talks to a server.
 */
#ifndef TC_CDC_PGOUTPUT_H
#define TC_CDC_PGOUTPUT_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Message kinds: the values are the wire bytes. */
typedef enum {
    PGO_BEGIN = 'B',
    PGO_COMMIT = 'C',
    PGO_ORIGIN = 'O',
    PGO_RELATION = 'R',
    PGO_TYPE = 'Y',
    PGO_INSERT = 'I',
    PGO_UPDATE = 'U',
    PGO_DELETE = 'D',
    PGO_TRUNCATE = 'T',
    PGO_MESSAGE = 'M',
    PGO_STREAM_START = 'S',
    PGO_STREAM_STOP = 'E',
    PGO_STREAM_COMMIT = 'c',
    PGO_STREAM_ABORT = 'A',
} pgo_kind_t;

/* One column value of a tuple. kind: 'n' NULL, 'u' unchanged TOASTed value
 * (not sent: the subscriber must not see garbage), 't' text. */
typedef struct {
    char kind;
    const char *data; /* view into the decoded message bytes; not NUL-terminated */
    uint32_t len;
} pgo_value_t;

typedef struct {
    uint16_t natts;
    pgo_value_t *values; /* owned by the message (pgo_msg_clear) */
} pgo_tuple_t;

typedef struct {
    char *name;
    uint32_t type_oid;
    int32_t typmod;
    uint8_t is_key;    /* part of the replica identity */
} pgo_column_t;

typedef struct {
    uint32_t relid;
    char *schema, *name;
    char replident;    /* 'd' default, 'n' nothing, 'f' full, 'i' index */
    uint16_t ncols;
    pgo_column_t *cols;
} pgo_relation_t;

typedef struct {
    pgo_kind_t kind;
    uint32_t xid;          /* streamed transactions (and BEGIN) */
    uint64_t lsn;          /* BEGIN: final LSN; COMMIT: commit LSN */
    uint64_t end_lsn;      /* COMMIT: end LSN */
    int64_t commit_time;   /* BEGIN/COMMIT: µs since 2000-01-01 UTC */
    const pgo_relation_t *rel; /* INSERT/UPDATE/DELETE/RELATION: from the cache */
    char old_kind;         /* UPDATE/DELETE: 'K' key columns, 'O' whole old row, 0 none */
    pgo_tuple_t old_tuple, new_tuple;
    uint32_t *truncate_relids; /* TRUNCATE */
    uint32_t ntruncate;
    uint8_t truncate_flags;
} pgo_msg_t;

typedef struct pgo_decoder pgo_decoder_t;

/* proto_version: what START_REPLICATION asked for (1..4). Free with
 * pgo_decoder_free. */
pgo_decoder_t *pgo_decoder_new(int proto_version);
void pgo_decoder_free(pgo_decoder_t *d);
/* Decodes one pgoutput message (the payload of an XLogData). RELATION and
 * TYPE messages update the caches (and are returned too). Views in *out
 * point into data, which must outlive *out. Returns 0, or -1 with a reason
 * (truncated, unknown kind, relation not in cache...). */
int pgo_decode(pgo_decoder_t *d, const uint8_t *data, size_t len, pgo_msg_t *out, char *err, size_t errlen);
void pgo_msg_clear(pgo_msg_t *m);
const pgo_relation_t *pgo_relation(const pgo_decoder_t *d, uint32_t relid);
/* The type's name for the "columns" array realtime-js reads: "int4",
 * "text", "uuid", "timestamptz", "_int4" for arrays, the enum's name for
 * enums (from TYPE messages), ... NULL if unknown. */
const char *pgo_type_name(const pgo_decoder_t *d, uint32_t type_oid);

/* Appends value (text form of type type_oid) as JSON to *out, by type:
 * int2/4/8, float4/8 (NaN/Infinity as strings), numeric, oid as numbers;
 * bool as true/false; json/jsonb spliced as JSON; arrays of those as JSON
 * arrays; everything else (text, uuid, timestamps, dates, enums, bytea...)
 * as a JSON string. 'n' is null. 'u' must not reach here. */
void pgo_value_json(const pgo_decoder_t *d, uint32_t type_oid, const pgo_value_t *v, buf_t **out);
/* ISO 8601 UTC text of a pgoutput timestamp (µs since 2000-01-01), as
 * supabase/realtime's commit_timestamp: "2024-01-01T00:00:00.123Z". */
void pgo_timestamp_iso(int64_t pg_us, char out[32]);

#endif
