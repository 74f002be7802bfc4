/*
 * cdc/pgoutput: decodes the logical replication messages of PostgreSQL's
 * pgoutput plugin (protocol versions 1 to 4; streaming of large in-progress
 * transactions from version 2, two-phase commit from version 3) and keeps
 * the relation and type caches they need. It also converts column values
 * from their text form to JSON by type, the way supabase/realtime presents
 * them. I/O-free: it is fed the bytes of one XLogData payload at a time and
 * never talks to a server.
 *
 * The value conversion assumes the replication session runs with
 * TimeZone=UTC and DateStyle=ISO (the stream module sets both): it rewrites
 * PostgreSQL's ISO text, it does not parse dates in other styles.
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
    PGO_STREAM_START = 'S',      /* v2+ */
    PGO_STREAM_STOP = 'E',       /* v2+ */
    PGO_STREAM_COMMIT = 'c',     /* v2+ */
    PGO_STREAM_ABORT = 'A',      /* v2+; v4 may add abort LSN and time */
    PGO_BEGIN_PREPARE = 'b',     /* v3+, only with two_phase */
    PGO_PREPARE = 'P',           /* v3+ */
    PGO_COMMIT_PREPARED = 'K',   /* v3+ */
    PGO_ROLLBACK_PREPARED = 'r', /* v3+ */
    PGO_STREAM_PREPARE = 'p',    /* v3+ */
} pgo_kind_t;

/* One column value of a tuple. kind: 'n' NULL, 'u' unchanged TOASTed value
 * (not sent: the subscriber must not see garbage), 't' text. Binary values
 * ('b') are rejected by pgo_decode: the stream never asks for them. */
typedef struct {
    char kind;
    const char *data; /* view into the decoded message bytes; not NUL-terminated */
    uint32_t len;
} pgo_value_t;

typedef struct {
    uint16_t natts;      /* always the relation's ncols */
    pgo_value_t *values; /* owned by the message (pgo_msg_clear) */
} pgo_tuple_t;

typedef struct {
    char *name;
    uint32_t type_oid;
    int32_t typmod;
    uint8_t is_key; /* part of the replica identity */
} pgo_column_t;

typedef struct {
    uint32_t relid;
    char *schema, *name; /* "pg_catalog" where pgoutput sends "" */
    char replident;      /* 'd' default, 'n' nothing, 'f' full, 'i' index */
    uint16_t ncols;
    pgo_column_t *cols;
} pgo_relation_t;

typedef struct {
    pgo_kind_t kind;
    uint32_t xid;              /* BEGIN, STREAM_*, two-phase; data messages inside a stream */
    uint8_t in_stream;         /* decoded between STREAM_START and STREAM_STOP (xid valid) */
    uint8_t first_segment;     /* STREAM_START: first block of this transaction */
    uint8_t flags;             /* COMMIT, STREAM_COMMIT, two-phase, MESSAGE: the flags byte */
    uint64_t lsn;              /* BEGIN: final LSN; COMMIT: commit LSN; ORIGIN: origin's commit LSN;
                                  MESSAGE: its LSN; prepare/commit LSN (two-phase);
                                  ROLLBACK_PREPARED: end of the prepared transaction;
                                  STREAM_ABORT: abort LSN (when has_abort_info) */
    uint64_t end_lsn;          /* COMMIT, STREAM_COMMIT, two-phase: end LSN */
    int64_t commit_time;       /* BEGIN/COMMIT/STREAM_COMMIT/COMMIT_PREPARED: µs since 2000-01-01 UTC;
                                  BEGIN_PREPARE/PREPARE/STREAM_PREPARE: prepare time;
                                  ROLLBACK_PREPARED: rollback time; STREAM_ABORT: abort time */
    int64_t prepare_time;      /* ROLLBACK_PREPARED */
    const pgo_relation_t *rel; /* INSERT/UPDATE/DELETE/RELATION: from the cache; valid until the next
                                  RELATION message for the same relid or pgo_decoder_free */
    char old_kind;             /* UPDATE/DELETE: 'K' key columns, 'O' whole old row, 0 none */
    pgo_tuple_t old_tuple, new_tuple;
    uint32_t *truncate_relids; /* TRUNCATE; owned by the message */
    uint32_t ntruncate;
    uint8_t truncate_flags; /* 1 CASCADE, 2 RESTART IDENTITY */
    /* Views into the message bytes (NUL-terminated there): */
    const char *origin;     /* ORIGIN: origin name */
    const char *gid;        /* two-phase: global transaction id */
    const char *prefix;     /* MESSAGE */
    const uint8_t *content; /* MESSAGE */
    uint32_t content_len;
    uint8_t transactional;               /* MESSAGE */
    uint32_t subxid;                     /* STREAM_ABORT: the aborted (sub)transaction; == xid for the top level */
    uint8_t has_abort_info;              /* STREAM_ABORT: v4 with streaming=parallel sent lsn/commit_time */
    uint32_t type_oid;                   /* TYPE */
    const char *type_schema, *type_name; /* TYPE ("pg_catalog" where pgoutput sends "") */
} pgo_msg_t;

typedef struct pgo_decoder pgo_decoder_t;

/* proto_version: what START_REPLICATION asked for (1..4; others are
 * clamped). Free with pgo_decoder_free. After a reconnect use a new
 * decoder: the new walsender resends RELATION and TYPE messages, and a
 * stream block cut by the disconnect must not linger. */
pgo_decoder_t *pgo_decoder_new(int proto_version);
void pgo_decoder_free(pgo_decoder_t *d);
/* Decodes one pgoutput message (the payload of an XLogData). RELATION and
 * TYPE messages update the caches (and are returned too). Views in *out
 * point into data, which must outlive *out. Returns 0, or -1 with a reason
 * in err (may be NULL) and *out zeroed: truncated, trailing bytes, unknown
 * kind, a kind the protocol version does not have, relation not in cache,
 * tuple width not the relation's, binary value, STREAM_START inside a
 * stream or STREAM_STOP outside one. Call pgo_msg_clear after success. */
int pgo_decode(pgo_decoder_t *d, const uint8_t *data, size_t len, pgo_msg_t *out, char *err, size_t errlen);
void pgo_msg_clear(pgo_msg_t *m);
const pgo_relation_t *pgo_relation(const pgo_decoder_t *d, uint32_t relid);
/* The type's name for the "columns" array realtime-js reads: "int4",
 * "text", "uuid", "timestamptz", "_int4" for arrays, the enum's name for
 * enums (from TYPE messages), ... NULL if unknown. For a domain it is the
 * base type's name: pgoutput's TYPE message names the base (and values of
 * a domain over a built-in type convert like the base's). */
const char *pgo_type_name(const pgo_decoder_t *d, uint32_t type_oid);
/* Values of type_oid (a type PostgreSQL names in TYPE messages) convert
 * like base_oid's: a domain's base type, or for an array of domains or
 * enums the matching array type (e.g. 1007 _int4, 1009 _text). Without it
 * a non-built-in type converts as a string, or as an array of strings when
 * its name starts with '_' (PostgreSQL's array type names). The caller
 * learns it from pg_type (typbasetype, typelem). */
void pgo_type_set_base(pgo_decoder_t *d, uint32_t type_oid, uint32_t base_oid);

/* Appends value (text form of type type_oid) as JSON to *out, exactly as
 * PostgreSQL's to_jsonb(value::type) prints it (what supabase/realtime
 * sends), minus insignificant whitespace: int2/4/8 and numeric as numbers;
 * float4/8 as numbers in numeric's plain notation (1e+100 becomes 1 and
 * 100 zeros, as to_jsonb does); NaN and Infinity as strings; bool as
 * true/false; json/jsonb spliced as they are (json keeps its key order and
 * spacing, jsonb is already normalized); timestamp "2024-01-01T10:00:00",
 * timestamptz "2024-01-01T10:00:00+00:00"; arrays (and int2vector,
 * oidvector) as JSON arrays of their elements so converted; everything else
 * (text, oid, uuid, date, time, interval, enums, bytea, ranges, composite
 * types...) as a JSON string of the text. 'n' is null; 'u' (which must not
 * reach here) is null too. Text that does not parse as its type claims
 * (never from PostgreSQL) becomes a JSON string; invalid UTF-8 in strings
 * becomes U+FFFD: the output is always valid JSON. d may be NULL (built-in
 * types only). */
void pgo_value_json(const pgo_decoder_t *d, uint32_t type_oid, const pgo_value_t *v, buf_t **out);
/* ISO 8601 UTC text of a pgoutput timestamp (µs since 2000-01-01), as
 * supabase/realtime's commit_timestamp (to_char 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"':
 * milliseconds truncated): "2024-01-01T00:00:00.123Z". */
void pgo_timestamp_iso(int64_t pg_us, char out[32]);

#endif
