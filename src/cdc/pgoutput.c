/*
 * cdc/pgoutput: see pgoutput.h. Owns the relation cache (relid ->
 * pgo_relation_t, replaced whole by every RELATION message), the cache of
 * non-built-in types named by TYPE messages, the "inside a stream block"
 * state that decides whether data messages carry an xid, and the text ->
 * JSON conversion by type. Every read of message bytes is bounds-checked;
 * tuple values stay views into the caller's bytes (one array allocation per
 * tuple, none per value). It must never trust a length field before
 * checking it against the bytes left, never block or do I/O, and never
 * emit anything but valid JSON from pgo_value_json, whatever the input.
 */
#include "cdc/pgoutput.h"
#include "util/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- built-in types ------------------------------------------------------ */

/* How a type's text becomes JSON: the categories of PostgreSQL's
 * to_jsonb (json_categorize_type), split where the text needs rewriting. */
enum {
    K_STRING, /* JSON string of the text */
    K_BOOL,   /* t/f -> true/false */
    K_NUM,    /* int2/4/8, numeric: the text is already a JSON number */
    K_FLOAT,  /* float4/8: rewritten in numeric's plain notation */
    K_JSON,   /* json, jsonb: spliced */
    K_TS,     /* timestamp: ISO with 'T' */
    K_TSTZ,   /* timestamptz: ISO with 'T' and a +HH:MM offset */
    K_ARRAY,  /* {...} of elem */
    K_VECTOR, /* int2vector, oidvector: space-separated elem */
};

typedef struct {
    uint32_t oid;
    uint32_t elem; /* K_ARRAY, K_VECTOR: element type */
    uint8_t kind;
    const char *name; /* pg_type.typname */
} builtin_t;

/* Every base, range and multirange type of PostgreSQL 15's pg_type below
 * FirstGenbkiObjectId (10000; pgoutput sends TYPE messages for everything
 * else), with their array types, sorted by OID for bsearch. From
 * "select oid, typname, typelem from pg_type where oid < 10000 and typtype
 * in ('b','r','m')", minus arrays of catalog row types. */
static const builtin_t BUILTINS[] = {
    {16, 0, K_BOOL, "bool"},
    {17, 0, K_STRING, "bytea"},
    {18, 0, K_STRING, "char"},
    {19, 0, K_STRING, "name"},
    {20, 0, K_NUM, "int8"},
    {21, 0, K_NUM, "int2"},
    {22, 21, K_VECTOR, "int2vector"},
    {23, 0, K_NUM, "int4"},
    {24, 0, K_STRING, "regproc"},
    {25, 0, K_STRING, "text"},
    {26, 0, K_STRING, "oid"},
    {27, 0, K_STRING, "tid"},
    {28, 0, K_STRING, "xid"},
    {29, 0, K_STRING, "cid"},
    {30, 26, K_VECTOR, "oidvector"},
    {114, 0, K_JSON, "json"},
    {142, 0, K_STRING, "xml"},
    {143, 142, K_ARRAY, "_xml"},
    {194, 0, K_STRING, "pg_node_tree"},
    {199, 114, K_ARRAY, "_json"},
    {271, 5069, K_ARRAY, "_xid8"},
    {600, 0, K_STRING, "point"},
    {601, 0, K_STRING, "lseg"},
    {602, 0, K_STRING, "path"},
    {603, 0, K_STRING, "box"},
    {604, 0, K_STRING, "polygon"},
    {628, 0, K_STRING, "line"},
    {629, 628, K_ARRAY, "_line"},
    {650, 0, K_STRING, "cidr"},
    {651, 650, K_ARRAY, "_cidr"},
    {700, 0, K_FLOAT, "float4"},
    {701, 0, K_FLOAT, "float8"},
    {718, 0, K_STRING, "circle"},
    {719, 718, K_ARRAY, "_circle"},
    {774, 0, K_STRING, "macaddr8"},
    {775, 774, K_ARRAY, "_macaddr8"},
    {790, 0, K_STRING, "money"},
    {791, 790, K_ARRAY, "_money"},
    {829, 0, K_STRING, "macaddr"},
    {869, 0, K_STRING, "inet"},
    {1000, 16, K_ARRAY, "_bool"},
    {1001, 17, K_ARRAY, "_bytea"},
    {1002, 18, K_ARRAY, "_char"},
    {1003, 19, K_ARRAY, "_name"},
    {1005, 21, K_ARRAY, "_int2"},
    {1006, 22, K_ARRAY, "_int2vector"},
    {1007, 23, K_ARRAY, "_int4"},
    {1008, 24, K_ARRAY, "_regproc"},
    {1009, 25, K_ARRAY, "_text"},
    {1010, 27, K_ARRAY, "_tid"},
    {1011, 28, K_ARRAY, "_xid"},
    {1012, 29, K_ARRAY, "_cid"},
    {1013, 30, K_ARRAY, "_oidvector"},
    {1014, 1042, K_ARRAY, "_bpchar"},
    {1015, 1043, K_ARRAY, "_varchar"},
    {1016, 20, K_ARRAY, "_int8"},
    {1017, 600, K_ARRAY, "_point"},
    {1018, 601, K_ARRAY, "_lseg"},
    {1019, 602, K_ARRAY, "_path"},
    {1020, 603, K_ARRAY, "_box"},
    {1021, 700, K_ARRAY, "_float4"},
    {1022, 701, K_ARRAY, "_float8"},
    {1027, 604, K_ARRAY, "_polygon"},
    {1028, 26, K_ARRAY, "_oid"},
    {1033, 0, K_STRING, "aclitem"},
    {1034, 1033, K_ARRAY, "_aclitem"},
    {1040, 829, K_ARRAY, "_macaddr"},
    {1041, 869, K_ARRAY, "_inet"},
    {1042, 0, K_STRING, "bpchar"},
    {1043, 0, K_STRING, "varchar"},
    {1082, 0, K_STRING, "date"},
    {1083, 0, K_STRING, "time"},
    {1114, 0, K_TS, "timestamp"},
    {1115, 1114, K_ARRAY, "_timestamp"},
    {1182, 1082, K_ARRAY, "_date"},
    {1183, 1083, K_ARRAY, "_time"},
    {1184, 0, K_TSTZ, "timestamptz"},
    {1185, 1184, K_ARRAY, "_timestamptz"},
    {1186, 0, K_STRING, "interval"},
    {1187, 1186, K_ARRAY, "_interval"},
    {1231, 1700, K_ARRAY, "_numeric"},
    {1266, 0, K_STRING, "timetz"},
    {1270, 1266, K_ARRAY, "_timetz"},
    {1560, 0, K_STRING, "bit"},
    {1561, 1560, K_ARRAY, "_bit"},
    {1562, 0, K_STRING, "varbit"},
    {1563, 1562, K_ARRAY, "_varbit"},
    {1700, 0, K_NUM, "numeric"},
    {1790, 0, K_STRING, "refcursor"},
    {2201, 1790, K_ARRAY, "_refcursor"},
    {2202, 0, K_STRING, "regprocedure"},
    {2203, 0, K_STRING, "regoper"},
    {2204, 0, K_STRING, "regoperator"},
    {2205, 0, K_STRING, "regclass"},
    {2206, 0, K_STRING, "regtype"},
    {2207, 2202, K_ARRAY, "_regprocedure"},
    {2208, 2203, K_ARRAY, "_regoper"},
    {2209, 2204, K_ARRAY, "_regoperator"},
    {2210, 2205, K_ARRAY, "_regclass"},
    {2211, 2206, K_ARRAY, "_regtype"},
    {2949, 2970, K_ARRAY, "_txid_snapshot"},
    {2950, 0, K_STRING, "uuid"},
    {2951, 2950, K_ARRAY, "_uuid"},
    {2970, 0, K_STRING, "txid_snapshot"},
    {3220, 0, K_STRING, "pg_lsn"},
    {3221, 3220, K_ARRAY, "_pg_lsn"},
    {3361, 0, K_STRING, "pg_ndistinct"},
    {3402, 0, K_STRING, "pg_dependencies"},
    {3614, 0, K_STRING, "tsvector"},
    {3615, 0, K_STRING, "tsquery"},
    {3642, 0, K_STRING, "gtsvector"},
    {3643, 3614, K_ARRAY, "_tsvector"},
    {3644, 3642, K_ARRAY, "_gtsvector"},
    {3645, 3615, K_ARRAY, "_tsquery"},
    {3734, 0, K_STRING, "regconfig"},
    {3735, 3734, K_ARRAY, "_regconfig"},
    {3769, 0, K_STRING, "regdictionary"},
    {3770, 3769, K_ARRAY, "_regdictionary"},
    {3802, 0, K_JSON, "jsonb"},
    {3807, 3802, K_ARRAY, "_jsonb"},
    {3904, 0, K_STRING, "int4range"},
    {3905, 3904, K_ARRAY, "_int4range"},
    {3906, 0, K_STRING, "numrange"},
    {3907, 3906, K_ARRAY, "_numrange"},
    {3908, 0, K_STRING, "tsrange"},
    {3909, 3908, K_ARRAY, "_tsrange"},
    {3910, 0, K_STRING, "tstzrange"},
    {3911, 3910, K_ARRAY, "_tstzrange"},
    {3912, 0, K_STRING, "daterange"},
    {3913, 3912, K_ARRAY, "_daterange"},
    {3926, 0, K_STRING, "int8range"},
    {3927, 3926, K_ARRAY, "_int8range"},
    {4072, 0, K_STRING, "jsonpath"},
    {4073, 4072, K_ARRAY, "_jsonpath"},
    {4089, 0, K_STRING, "regnamespace"},
    {4090, 4089, K_ARRAY, "_regnamespace"},
    {4096, 0, K_STRING, "regrole"},
    {4097, 4096, K_ARRAY, "_regrole"},
    {4191, 0, K_STRING, "regcollation"},
    {4192, 4191, K_ARRAY, "_regcollation"},
    {4451, 0, K_STRING, "int4multirange"},
    {4532, 0, K_STRING, "nummultirange"},
    {4533, 0, K_STRING, "tsmultirange"},
    {4534, 0, K_STRING, "tstzmultirange"},
    {4535, 0, K_STRING, "datemultirange"},
    {4536, 0, K_STRING, "int8multirange"},
    {4600, 0, K_STRING, "pg_brin_bloom_summary"},
    {4601, 0, K_STRING, "pg_brin_minmax_multi_summary"},
    {5017, 0, K_STRING, "pg_mcv_list"},
    {5038, 0, K_STRING, "pg_snapshot"},
    {5039, 5038, K_ARRAY, "_pg_snapshot"},
    {5069, 0, K_STRING, "xid8"},
    {6150, 4451, K_ARRAY, "_int4multirange"},
    {6151, 4532, K_ARRAY, "_nummultirange"},
    {6152, 4533, K_ARRAY, "_tsmultirange"},
    {6153, 4534, K_ARRAY, "_tstzmultirange"},
    {6155, 4535, K_ARRAY, "_datemultirange"},
    {6157, 4536, K_ARRAY, "_int8multirange"},
};

#define NBUILTINS (sizeof(BUILTINS) / sizeof(BUILTINS[0]))

static const builtin_t *builtin(uint32_t oid) {
    size_t lo = 0, hi = NBUILTINS;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (BUILTINS[mid].oid == oid)
            return &BUILTINS[mid];
        if (BUILTINS[mid].oid < oid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Only for TYPE messages, which are rare: a linear scan is fine. */
static const builtin_t *builtin_named(const char *name) {
    for (size_t i = 0; i < NBUILTINS; i++)
        if (strcmp(BUILTINS[i].name, name) == 0)
            return &BUILTINS[i];
    return NULL;
}

/* ---- OID -> pointer map -------------------------------------------------- */

/* Open addressing with linear probing; OID 0 (InvalidOid) marks an empty
 * slot, so it is never a key. Entries are never removed: relations and types
 * are few and replaced in place. */
typedef struct {
    uint32_t key;
    void *val;
} slot_t;

typedef struct {
    slot_t *slots; /* cap entries, cap a power of two (or 0) */
    uint32_t cap, n;
} oidmap_t;

static uint32_t oid_hash(uint32_t k) {
    k *= 0x9E3779B1u;
    return k ^ (k >> 15);
}

static void *map_get(const oidmap_t *m, uint32_t key) {
    if (m->cap == 0 || key == 0)
        return NULL;
    for (uint32_t i = oid_hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].key == key)
            return m->slots[i].val;
        if (m->slots[i].key == 0)
            return NULL;
    }
}

/* The value slot for key, created (holding NULL) if absent. key != 0.
 * The slots array belongs to the map (pgo_decoder_free frees it and, by
 * map, what the values point to). */
static void **map_slot(oidmap_t *m, uint32_t key) {
    if ((m->n + 1) * 4 > m->cap * 3) { /* keep the load under 3/4 */
        uint32_t ncap = m->cap ? m->cap * 2 : 16;
        slot_t *old = m->slots;
        uint32_t ocap = m->cap;
        m->slots = xcalloc(ncap, sizeof(slot_t));
        m->cap = ncap;
        m->n = 0;
        for (uint32_t i = 0; i < ocap; i++)
            if (old[i].key)
                *map_slot(m, old[i].key) = old[i].val;
        free(old);
    }
    uint32_t i = oid_hash(key) & (m->cap - 1);
    while (m->slots[i].key != 0 && m->slots[i].key != key)
        i = (i + 1) & (m->cap - 1);
    if (m->slots[i].key == 0) {
        m->slots[i].key = key;
        m->slots[i].val = NULL;
        m->n++;
    }
    return &m->slots[i].val;
}

/* ---- decoder state ------------------------------------------------------- */

/* A type named by a TYPE message or given a base by pgo_type_set_base. */
typedef struct {
    char *name;    /* NULL until a TYPE message names it */
    uint32_t base; /* 0: none */
} utype_t;

struct pgo_decoder {
    int proto;
    int in_stream; /* between STREAM_START and STREAM_STOP */
    oidmap_t rels;  /* relid -> pgo_relation_t* */
    oidmap_t types; /* oid -> utype_t* */
};

static void relation_free(pgo_relation_t *r) {
    if (!r)
        return;
    for (uint16_t i = 0; i < r->ncols; i++)
        free(r->cols[i].name);
    free(r->cols);
    free(r->schema);
    free(r->name);
    free(r);
}

pgo_decoder_t *pgo_decoder_new(int proto_version) {
    pgo_decoder_t *d = xcalloc(1, sizeof(*d));
    d->proto = proto_version < 1 ? 1 : proto_version > 4 ? 4 : proto_version;
    return d;
}

void pgo_decoder_free(pgo_decoder_t *d) {
    if (!d)
        return;
    for (uint32_t i = 0; i < d->rels.cap; i++)
        if (d->rels.slots[i].key)
            relation_free(d->rels.slots[i].val);
    for (uint32_t i = 0; i < d->types.cap; i++) {
        utype_t *t = d->types.slots[i].val;
        if (d->types.slots[i].key && t) {
            free(t->name);
            free(t);
        }
    }
    free(d->rels.slots);
    free(d->types.slots);
    free(d);
}

const pgo_relation_t *pgo_relation(const pgo_decoder_t *d, uint32_t relid) { return map_get(&d->rels, relid); }

/* The type's entry, created empty if absent; pgo_decoder_free frees it. */
static utype_t *utype(pgo_decoder_t *d, uint32_t oid) {
    void **slot = map_slot(&d->types, oid);
    if (!*slot)
        *slot = xcalloc(1, sizeof(utype_t));
    return *slot;
}

const char *pgo_type_name(const pgo_decoder_t *d, uint32_t type_oid) {
    const builtin_t *b = builtin(type_oid);
    if (b)
        return b->name;
    const utype_t *t = d ? map_get(&d->types, type_oid) : NULL;
    return t ? t->name : NULL;
}

void pgo_type_set_base(pgo_decoder_t *d, uint32_t type_oid, uint32_t base_oid) {
    if (type_oid == 0 || builtin(type_oid))
        return; /* built-in types convert by their own rules */
    utype(d, type_oid)->base = base_oid == type_oid ? 0 : base_oid;
}

/* ---- message reader ------------------------------------------------------ */

/* The bytes left of one message. Every read checks them; the first failure
 * writes the reason to err and makes the decoder return -1. */
typedef struct {
    const uint8_t *p, *end;
    const char *what; /* message name for errors */
    char *err;
    size_t errlen;
} rd_t;

static int fail(rd_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(rd_t *r, const char *fmt, ...) {
    if (r->err && r->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err, r->errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int need(rd_t *r, size_t n) {
    if ((size_t)(r->end - r->p) < n)
        return fail(r, "truncated %s message", r->what);
    return 0;
}

static int rd_u8(rd_t *r, uint8_t *v) {
    if (need(r, 1))
        return -1;
    *v = *r->p++;
    return 0;
}

static int rd_u16(rd_t *r, uint16_t *v) {
    if (need(r, 2))
        return -1;
    *v = (uint16_t)((uint16_t)r->p[0] << 8 | r->p[1]);
    r->p += 2;
    return 0;
}

static int rd_u32(rd_t *r, uint32_t *v) {
    if (need(r, 4))
        return -1;
    *v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
    r->p += 4;
    return 0;
}

static int rd_u64(rd_t *r, uint64_t *v) {
    uint32_t hi, lo;
    if (rd_u32(r, &hi) || rd_u32(r, &lo))
        return -1;
    *v = (uint64_t)hi << 32 | lo;
    return 0;
}

/* Timestamps are signed on the wire; converting through uint64_t keeps
 * the bit pattern without implementation-defined shifts of negatives. */
static int rd_i64(rd_t *r, int64_t *v) {
    uint64_t u;
    if (rd_u64(r, &u))
        return -1;
    memcpy(v, &u, sizeof(*v));
    return 0;
}

/* A NUL-terminated string; *s is a view into the message. */
static int rd_str(rd_t *r, const char **s) {
    const uint8_t *nul = memchr(r->p, 0, (size_t)(r->end - r->p));
    if (!nul)
        return fail(r, "truncated %s message (unterminated string)", r->what);
    *s = (const char *)r->p;
    r->p = nul + 1;
    return 0;
}

/* pgoutput writes "" for pg_catalog (logicalrep_write_namespace). */
static const char *namespace_name(const char *s) { return *s ? s : "pg_catalog"; }

static int rd_done(rd_t *r) {
    if (r->p != r->end)
        return fail(r, "%zu trailing bytes after %s message", (size_t)(r->end - r->p), r->what);
    return 0;
}

static int rd_oid(rd_t *r, uint32_t *v, const char *field) {
    if (rd_u32(r, v))
        return -1;
    if (*v == 0)
        return fail(r, "%s message with %s 0", r->what, field);
    return 0;
}

/* Data messages carry the (sub)transaction's xid only inside a stream
 * block: the decoder's own state decides, nothing in the bytes says so. */
static int rd_stream_xid(const pgo_decoder_t *d, rd_t *r, pgo_msg_t *m) {
    if (!d->in_stream)
        return 0;
    m->in_stream = 1;
    return rd_u32(r, &m->xid);
}

/* ---- messages ------------------------------------------------------------ */

static int dec_begin(rd_t *r, pgo_msg_t *m) {
    if (rd_u64(r, &m->lsn) || rd_i64(r, &m->commit_time) || rd_u32(r, &m->xid))
        return -1;
    return rd_done(r);
}

static int dec_commit(rd_t *r, pgo_msg_t *m) {
    if (rd_u8(r, &m->flags) || rd_u64(r, &m->lsn) || rd_u64(r, &m->end_lsn) || rd_i64(r, &m->commit_time))
        return -1;
    return rd_done(r);
}

static int dec_origin(rd_t *r, pgo_msg_t *m) {
    if (rd_u64(r, &m->lsn) || rd_str(r, &m->origin))
        return -1;
    return rd_done(r);
}

/* Reads a RELATION into a new pgo_relation_t and only then replaces the
 * cached one: a malformed message leaves the cache as it was. The cache
 * owns the relation (freed by the next RELATION for the relid, or by
 * pgo_decoder_free). */
static int dec_relation(pgo_decoder_t *d, rd_t *r, pgo_msg_t *m) {
    uint32_t relid;
    const char *nsp = "", *name = "";
    uint8_t ident;
    uint16_t ncols;
    if (rd_stream_xid(d, r, m) || rd_oid(r, &relid, "relation OID") || rd_str(r, &nsp) || rd_str(r, &name) ||
        rd_u8(r, &ident) || rd_u16(r, &ncols))
        return -1;
    if (ident != 'd' && ident != 'n' && ident != 'f' && ident != 'i')
        return fail(r, "RELATION %u with unknown replica identity 0x%02x", relid, ident);
    /* Each column takes at least 10 bytes: refuse to allocate for columns
     * the message cannot hold. */
    if (need(r, (size_t)ncols * 10))
        return -1;

    pgo_relation_t *rel = xcalloc(1, sizeof(*rel));
    rel->relid = relid;
    rel->replident = (char)ident;
    rel->cols = ncols ? xcalloc(ncols, sizeof(pgo_column_t)) : NULL;
    for (uint16_t i = 0; i < ncols; i++) {
        pgo_column_t *c = &rel->cols[i];
        uint8_t flags;
        const char *cname = "";
        uint32_t typmod;
        if (rd_u8(r, &flags) || rd_str(r, &cname) || rd_u32(r, &c->type_oid) || rd_u32(r, &typmod))
            goto fail;
        c->name = xstrdup(cname);
        c->is_key = flags & 1;
        memcpy(&c->typmod, &typmod, sizeof(c->typmod));
        rel->ncols = (uint16_t)(i + 1); /* what relation_free must free */
    }
    if (rd_done(r))
        goto fail;
    rel->schema = xstrdup(namespace_name(nsp));
    rel->name = xstrdup(name);

    void **slot = map_slot(&d->rels, relid);
    relation_free(*slot);
    *slot = rel;
    m->rel = rel;
    return 0;
fail:
    relation_free(rel);
    return -1;
}

static int dec_type(pgo_decoder_t *d, rd_t *r, pgo_msg_t *m) {
    if (rd_stream_xid(d, r, m) || rd_oid(r, &m->type_oid, "type OID") || rd_str(r, &m->type_schema) ||
        rd_str(r, &m->type_name) || rd_done(r))
        return -1;
    m->type_schema = namespace_name(m->type_schema);
    if (builtin(m->type_oid))
        return 0; /* never sent for them; keep the static names */
    utype_t *t = utype(d, m->type_oid);
    free(t->name);
    t->name = xstrdup(m->type_name);
    /* For a domain pgoutput names its base type (logicalrep_write_typ
     * looks through domains): a built-in name in pg_catalog means a domain
     * over that type, and its values convert like the base's. */
    if (!t->base && strcmp(m->type_schema, "pg_catalog") == 0) {
        const builtin_t *b = builtin_named(m->type_name);
        if (b)
            t->base = b->oid;
    }
    return 0;
}

/* TupleData. The values array goes into *t before it is filled, so the
 * caller's pgo_msg_clear frees it on every path. */
static int rd_tuple(rd_t *r, const pgo_relation_t *rel, pgo_tuple_t *t) {
    uint16_t natts;
    if (rd_u16(r, &natts))
        return -1;
    if (natts != rel->ncols)
        return fail(r, "%s tuple has %u columns, relation %s.%s has %u", r->what, natts, rel->schema, rel->name,
                    rel->ncols);
    if (need(r, natts)) /* one kind byte per column at least */
        return -1;
    t->values = natts ? xmalloc((size_t)natts * sizeof(pgo_value_t)) : NULL;
    for (uint16_t i = 0; i < natts; i++) {
        pgo_value_t *v = &t->values[i];
        uint8_t kind;
        if (rd_u8(r, &kind))
            return -1;
        v->kind = (char)kind;
        v->data = NULL;
        v->len = 0;
        switch (kind) {
        case 'n':
        case 'u':
            break;
        case 't':
            if (rd_u32(r, &v->len) || need(r, v->len))
                return -1;
            v->data = (const char *)r->p;
            r->p += v->len;
            break;
        case 'b':
            return fail(r, "binary value in column %s of %s.%s (binary mode is not supported)", rel->cols[i].name,
                        rel->schema, rel->name);
        default:
            return fail(r, "unknown tuple value kind 0x%02x in %s message", kind, r->what);
        }
        t->natts = (uint16_t)(i + 1);
    }
    return 0;
}

static int rd_relation_ref(pgo_decoder_t *d, rd_t *r, pgo_msg_t *m) {
    uint32_t relid;
    if (rd_stream_xid(d, r, m) || rd_oid(r, &relid, "relation OID"))
        return -1;
    m->rel = map_get(&d->rels, relid);
    if (!m->rel)
        return fail(r, "%s for relation %u, which no RELATION message described", r->what, relid);
    return 0;
}

static int dec_insert(pgo_decoder_t *d, rd_t *r, pgo_msg_t *m) {
    uint8_t tag;
    if (rd_relation_ref(d, r, m) || rd_u8(r, &tag))
        return -1;
    if (tag != 'N')
        return fail(r, "INSERT with tuple tag 0x%02x, not 'N'", tag);
    if (rd_tuple(r, m->rel, &m->new_tuple))
        return -1;
    return rd_done(r);
}

static int dec_update(pgo_decoder_t *d, rd_t *r, pgo_msg_t *m) {
    uint8_t tag;
    if (rd_relation_ref(d, r, m) || rd_u8(r, &tag))
        return -1;
    if (tag == 'K' || tag == 'O') {
        m->old_kind = (char)tag;
        if (rd_tuple(r, m->rel, &m->old_tuple) || rd_u8(r, &tag))
            return -1;
    }
    if (tag != 'N')
        return fail(r, "UPDATE with tuple tag 0x%02x where 'N'%s was due", tag, m->old_kind ? "" : ", 'K' or 'O'");
    if (rd_tuple(r, m->rel, &m->new_tuple))
        return -1;
    return rd_done(r);
}

static int dec_delete(pgo_decoder_t *d, rd_t *r, pgo_msg_t *m) {
    uint8_t tag;
    if (rd_relation_ref(d, r, m) || rd_u8(r, &tag))
        return -1;
    if (tag != 'K' && tag != 'O')
        return fail(r, "DELETE with tuple tag 0x%02x, not 'K' or 'O'", tag);
    m->old_kind = (char)tag;
    if (rd_tuple(r, m->rel, &m->old_tuple))
        return -1;
    return rd_done(r);
}

static int dec_truncate(pgo_decoder_t *d, rd_t *r, pgo_msg_t *m) {
    if (rd_stream_xid(d, r, m) || rd_u32(r, &m->ntruncate) || rd_u8(r, &m->truncate_flags))
        return -1;
    if ((size_t)(r->end - r->p) / 4 < m->ntruncate)
        return fail(r, "truncated TRUNCATE message (%u relations announced)", m->ntruncate);
    if (m->ntruncate) {
        m->truncate_relids = xmalloc((size_t)m->ntruncate * sizeof(uint32_t));
        for (uint32_t i = 0; i < m->ntruncate; i++)
            if (rd_u32(r, &m->truncate_relids[i]))
                return -1;
    }
    return rd_done(r);
}

static int dec_message(pgo_decoder_t *d, rd_t *r, pgo_msg_t *m) {
    uint8_t flags;
    if (rd_stream_xid(d, r, m) || rd_u8(r, &flags) || rd_u64(r, &m->lsn) || rd_str(r, &m->prefix) ||
        rd_u32(r, &m->content_len) || need(r, m->content_len))
        return -1;
    m->flags = flags;
    m->transactional = flags & 1;
    m->content = r->p;
    r->p += m->content_len;
    return rd_done(r);
}

static int dec_stream_start(pgo_decoder_t *d, rd_t *r, pgo_msg_t *m) {
    if (d->in_stream)
        return fail(r, "STREAM START inside a stream block");
    if (rd_u32(r, &m->xid) || rd_u8(r, &m->first_segment) || rd_done(r))
        return -1;
    d->in_stream = 1;
    return 0;
}

static int dec_stream_stop(pgo_decoder_t *d, rd_t *r) {
    if (!d->in_stream)
        return fail(r, "STREAM STOP outside a stream block");
    if (rd_done(r))
        return -1;
    d->in_stream = 0;
    return 0;
}

static int dec_stream_commit(rd_t *r, pgo_msg_t *m) {
    if (rd_u32(r, &m->xid) || rd_u8(r, &m->flags) || rd_u64(r, &m->lsn) || rd_u64(r, &m->end_lsn) ||
        rd_i64(r, &m->commit_time))
        return -1;
    return rd_done(r);
}

/* Version 4 appends the abort LSN and time only when streaming=parallel,
 * an option the decoder does not see: the length tells. */
static int dec_stream_abort(const pgo_decoder_t *d, rd_t *r, pgo_msg_t *m) {
    if (rd_u32(r, &m->xid) || rd_u32(r, &m->subxid))
        return -1;
    if (d->proto >= 4 && r->end - r->p == 16) {
        if (rd_u64(r, &m->lsn) || rd_i64(r, &m->commit_time))
            return -1;
        m->has_abort_info = 1;
    }
    return rd_done(r);
}

static int dec_begin_prepare(rd_t *r, pgo_msg_t *m) {
    if (rd_u64(r, &m->lsn) || rd_u64(r, &m->end_lsn) || rd_i64(r, &m->commit_time) || rd_u32(r, &m->xid) ||
        rd_str(r, &m->gid))
        return -1;
    return rd_done(r);
}

/* PREPARE, STREAM PREPARE and COMMIT PREPARED share one layout. */
static int dec_prepare_like(rd_t *r, pgo_msg_t *m) {
    if (rd_u8(r, &m->flags) || rd_u64(r, &m->lsn) || rd_u64(r, &m->end_lsn) || rd_i64(r, &m->commit_time) ||
        rd_u32(r, &m->xid) || rd_str(r, &m->gid))
        return -1;
    return rd_done(r);
}

static int dec_rollback_prepared(rd_t *r, pgo_msg_t *m) {
    if (rd_u8(r, &m->flags) || rd_u64(r, &m->lsn) || rd_u64(r, &m->end_lsn) || rd_i64(r, &m->prepare_time) ||
        rd_i64(r, &m->commit_time) || rd_u32(r, &m->xid) || rd_str(r, &m->gid))
        return -1;
    return rd_done(r);
}

static const char *kind_name(uint8_t k) {
    switch (k) {
    case PGO_BEGIN: return "BEGIN";
    case PGO_COMMIT: return "COMMIT";
    case PGO_ORIGIN: return "ORIGIN";
    case PGO_RELATION: return "RELATION";
    case PGO_TYPE: return "TYPE";
    case PGO_INSERT: return "INSERT";
    case PGO_UPDATE: return "UPDATE";
    case PGO_DELETE: return "DELETE";
    case PGO_TRUNCATE: return "TRUNCATE";
    case PGO_MESSAGE: return "MESSAGE";
    case PGO_STREAM_START: return "STREAM START";
    case PGO_STREAM_STOP: return "STREAM STOP";
    case PGO_STREAM_COMMIT: return "STREAM COMMIT";
    case PGO_STREAM_ABORT: return "STREAM ABORT";
    case PGO_BEGIN_PREPARE: return "BEGIN PREPARE";
    case PGO_PREPARE: return "PREPARE";
    case PGO_COMMIT_PREPARED: return "COMMIT PREPARED";
    case PGO_ROLLBACK_PREPARED: return "ROLLBACK PREPARED";
    case PGO_STREAM_PREPARE: return "STREAM PREPARE";
    default: return NULL;
    }
}

/* The first protocol version that has message kind k. */
static int kind_min_proto(uint8_t k) {
    switch (k) {
    case PGO_STREAM_START:
    case PGO_STREAM_STOP:
    case PGO_STREAM_COMMIT:
    case PGO_STREAM_ABORT:
        return 2;
    case PGO_BEGIN_PREPARE:
    case PGO_PREPARE:
    case PGO_COMMIT_PREPARED:
    case PGO_ROLLBACK_PREPARED:
    case PGO_STREAM_PREPARE:
        return 3;
    default:
        return 1;
    }
}

static int dispatch(pgo_decoder_t *d, rd_t *r, pgo_msg_t *m) {
    switch (m->kind) {
    case PGO_BEGIN: return dec_begin(r, m);
    case PGO_COMMIT: return dec_commit(r, m);
    case PGO_ORIGIN: return dec_origin(r, m);
    case PGO_RELATION: return dec_relation(d, r, m);
    case PGO_TYPE: return dec_type(d, r, m);
    case PGO_INSERT: return dec_insert(d, r, m);
    case PGO_UPDATE: return dec_update(d, r, m);
    case PGO_DELETE: return dec_delete(d, r, m);
    case PGO_TRUNCATE: return dec_truncate(d, r, m);
    case PGO_MESSAGE: return dec_message(d, r, m);
    case PGO_STREAM_START: return dec_stream_start(d, r, m);
    case PGO_STREAM_STOP: return dec_stream_stop(d, r);
    case PGO_STREAM_COMMIT: return dec_stream_commit(r, m);
    case PGO_STREAM_ABORT: return dec_stream_abort(d, r, m);
    case PGO_BEGIN_PREPARE: return dec_begin_prepare(r, m);
    case PGO_PREPARE:
    case PGO_STREAM_PREPARE:
    case PGO_COMMIT_PREPARED: return dec_prepare_like(r, m);
    case PGO_ROLLBACK_PREPARED: return dec_rollback_prepared(r, m);
    }
    return fail(r, "unknown message kind 0x%02x", (unsigned)m->kind);
}

int pgo_decode(pgo_decoder_t *d, const uint8_t *data, size_t len, pgo_msg_t *out, char *err, size_t errlen) {
    memset(out, 0, sizeof(*out));
    if (err && errlen)
        err[0] = '\0';
    rd_t r = {.p = NULL, .end = NULL, .what = "?", .err = err, .errlen = errlen};
    if (!data || len == 0)
        return fail(&r, "empty message");
    r.p = data + 1;
    r.end = data + len;
    uint8_t k = data[0];
    r.what = kind_name(k);
    if (!r.what)
        return fail(&r, "unknown message kind 0x%02x", k);
    if (d->proto < kind_min_proto(k))
        return fail(&r, "%s message in protocol version %d", r.what, d->proto);
    out->kind = (pgo_kind_t)k;
    if (dispatch(d, &r, out) != 0) {
        pgo_msg_clear(out);
        return -1;
    }
    return 0;
}

void pgo_msg_clear(pgo_msg_t *m) {
    if (!m)
        return;
    free(m->old_tuple.values);
    free(m->new_tuple.values);
    free(m->truncate_relids);
    memset(m, 0, sizeof(*m));
}

/* ---- JSON text helpers --------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

/* Appends s as a JSON string, escaped the way PostgreSQL's escape_json
 * does (so values compare byte for byte with to_jsonb's), with every byte
 * that is not part of well-formed UTF-8 replaced by U+FFFD: a database in
 * SQL_ASCII can hold any bytes, and one invalid sequence in a WebSocket
 * text frame makes browsers drop the connection. */
static void json_string(buf_t **out, const char *str, size_t n) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    size_t run = 0; /* start of the bytes not yet copied */
    buf_putc(out, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t l = utf8_len(s + i, n - i);
            if (l) {
                i += l;
                continue;
            }
        }
        buf_append(out, s + run, i - run);
        switch (c) {
        case '"': buf_append(out, "\\\"", 2); break;
        case '\\': buf_append(out, "\\\\", 2); break;
        case '\b': buf_append(out, "\\b", 2); break;
        case '\f': buf_append(out, "\\f", 2); break;
        case '\n': buf_append(out, "\\n", 2); break;
        case '\r': buf_append(out, "\\r", 2); break;
        case '\t': buf_append(out, "\\t", 2); break;
        default:
            if (c >= 0x80) {
                buf_append(out, "\\ufffd", 6);
            } else {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                buf_append(out, esc, 6);
            }
        }
        i++;
        run = i;
    }
    buf_append(out, s + run, n - run);
    buf_putc(out, '"');
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static int is_json_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* RFC 8259 number at s[*i]; advances *i past it. */
static int scan_number(const char *s, size_t n, size_t *ip) {
    size_t i = *ip;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n || !is_digit(s[i]))
        return -1;
    if (s[i] == '0')
        i++;
    else
        while (i < n && is_digit(s[i]))
            i++;
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || !is_digit(s[i]))
            return -1;
        while (i < n && is_digit(s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || !is_digit(s[i]))
            return -1;
        while (i < n && is_digit(s[i]))
            i++;
    }
    *ip = i;
    return 0;
}

static int hex4(const char *s, size_t n, size_t i, unsigned *v) {
    if (n - i < 4)
        return -1;
    *v = 0;
    for (size_t k = 0; k < 4; k++) {
        char c = s[i + k];
        if (!is_hex(c))
            return -1;
        *v = *v * 16 + (unsigned)(is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return 0;
}

/* RFC 8259 string at s[*i] (the opening quote), in UTF-8; \u escapes
 * must pair surrogates as PostgreSQL's json input insists. */
static int scan_string(const char *s, size_t n, size_t *ip) {
    size_t i = *ip + 1;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') {
            *ip = i + 1;
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c >= 0x80) {
            size_t l = utf8_len((const unsigned char *)s + i, n - i);
            if (!l)
                return -1;
            i += l;
            continue;
        }
        if (c != '\\') {
            i++;
            continue;
        }
        if (++i >= n)
            return -1;
        c = (unsigned char)s[i++];
        if (c == 'u') {
            unsigned u, lo;
            if (hex4(s, n, i, &u))
                return -1;
            i += 4;
            if (u >= 0xDC00 && u <= 0xDFFF)
                return -1;
            if (u >= 0xD800 && u <= 0xDBFF) {
                if (n - i < 6 || s[i] != '\\' || s[i + 1] != 'u' || hex4(s, n, i + 2, &lo) || lo < 0xDC00 ||
                    lo > 0xDFFF)
                    return -1;
                i += 6;
            }
        } else if (!strchr("\"\\/bfnrt", c) || c == 0) {
            return -1;
        }
    }
    return -1;
}

static size_t skip_ws(const char *s, size_t n, size_t i) {
    while (i < n && is_json_ws(s[i]))
        i++;
    return i;
}

/* Whether s is exactly one RFC 8259 JSON text (any value, surrounding
 * whitespace allowed). Iterative, so nesting depth costs heap, not stack:
 * the open containers are a byte stack, on the C stack up to 256 levels. */
static int json_valid(const char *s, size_t n) {
    char small[256], *stack = small;
    size_t depth = 0, cap = sizeof(small);
    int ok = 0;
    size_t i = skip_ws(s, n, 0);
    for (;;) {
        /* a value starts at s[i] */
        if (i >= n)
            goto out;
        char c = s[i];
        if (c == '{' || c == '[') {
            if (depth == cap) {
                char *bigger = xmalloc(cap * 2);
                memcpy(bigger, stack, cap);
                if (stack != small)
                    free(stack);
                stack = bigger;
                cap *= 2;
            }
            stack[depth++] = c;
            i = skip_ws(s, n, i + 1);
            if (i < n && s[i] == (c == '{' ? '}' : ']')) {
                depth--;
                i++;
                goto after_value;
            }
            if (c == '[')
                continue;
            goto member; /* a key first */
        }
        if (c == '"') {
            if (scan_string(s, n, &i))
                goto out;
        } else if (c == '-' || is_digit(c)) {
            if (scan_number(s, n, &i))
                goto out;
        } else if (n - i >= 4 && memcmp(s + i, "true", 4) == 0) {
            i += 4;
        } else if (n - i >= 5 && memcmp(s + i, "false", 5) == 0) {
            i += 5;
        } else if (n - i >= 4 && memcmp(s + i, "null", 4) == 0) {
            i += 4;
        } else {
            goto out;
        }
    after_value:
        i = skip_ws(s, n, i);
        if (depth == 0) {
            ok = i == n;
            goto out;
        }
        if (i >= n)
            goto out;
        if (s[i] == (stack[depth - 1] == '{' ? '}' : ']')) {
            depth--;
            i++;
            goto after_value;
        }
        if (s[i] != ',')
            goto out;
        i = skip_ws(s, n, i + 1);
        if (stack[depth - 1] == '[')
            continue;
    member:
        if (i >= n || s[i] != '"' || scan_string(s, n, &i))
            goto out;
        i = skip_ws(s, n, i);
        if (i >= n || s[i] != ':')
            goto out;
        i = skip_ws(s, n, i + 1);
    }
out:
    if (stack != small)
        free(stack);
    return ok;
}

/* ---- conversions by type ------------------------------------------------- */

/* Arrays nest at most 6 deep in PostgreSQL (MAXDIM); anything deeper is not
 * an array's text, and the limit keeps the recursion bounded. */
#define MAX_NEST 8

typedef struct {
    uint8_t kind;
    uint32_t elem;
} tinfo_t;

/* How values of oid convert: built-in rules, else a base type the caller
 * set (followed a few steps, in case of cycles), else string, or array of
 * strings for a name that says "array". */
static tinfo_t type_info(const pgo_decoder_t *d, uint32_t oid) {
    for (int hops = 0; hops < 4; hops++) {
        const builtin_t *b = builtin(oid);
        if (b)
            return (tinfo_t){b->kind, b->elem};
        const utype_t *t = d ? map_get(&d->types, oid) : NULL;
        if (!t)
            break;
        if (t->base) {
            oid = t->base;
            continue;
        }
        if (t->name && t->name[0] == '_')
            return (tinfo_t){K_ARRAY, 0};
        break;
    }
    return (tinfo_t){K_STRING, 0};
}

/* float4/float8 text as to_jsonb prints it: to_jsonb feeds float8out's
 * text to numeric_in, so "1e+100" comes out as 1 and 100 zeros and
 * "1.5e-10" as 0.00000000015 (the scale is the fraction's digits minus
 * the exponent). NaN and the infinities are not numbers: the caller makes
 * strings of them. */
static int float_json(const char *s, size_t n, buf_t **out) {
    size_t i = 0;
    int neg = 0;
    if (i < n && s[i] == '-') {
        neg = 1;
        i++;
    }
    size_t ip = i;
    while (i < n && is_digit(s[i]))
        i++;
    size_t ilen = i - ip, fp = i, flen = 0;
    if (i < n && s[i] == '.') {
        fp = ++i;
        while (i < n && is_digit(s[i]))
            i++;
        flen = i - fp;
    }
    if (ilen + flen == 0)
        return -1;
    long exp = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        int eneg = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        if (i >= n || !is_digit(s[i]))
            return -1;
        for (; i < n && is_digit(s[i]); i++)
            if ((exp = exp * 10 + (s[i] - '0')) > 1000)
                return -1; /* numeric_in's limit; float8 needs 324 */
        if (eneg)
            exp = -exp;
    }
    if (i != n)
        return -1;

    /* The digits D = int part then fraction, the point after D[point). */
    long total = (long)(ilen + flen), point = (long)ilen + exp;
    long scale = (long)flen - exp;
    if (scale < 0)
        scale = 0;
#define DIGIT(k) ((k) < 0 || (k) >= total ? '0' : (size_t)(k) < ilen ? s[ip + (size_t)(k)] : s[fp + (size_t)(k) - ilen])
    long first = 0; /* first nonzero digit */
    while (first < total && DIGIT(first) == '0')
        first++;
    if (neg && first < total)
        buf_putc(out, '-'); /* numeric has no negative zero */
    if (first >= total || first >= point) { /* all zero, or nothing before the point */
        buf_putc(out, '0');
    } else {
        for (long k = first; k < point; k++)
            buf_putc(out, DIGIT(k));
    }
    if (scale > 0) {
        buf_putc(out, '.');
        for (long k = point; k < point + scale; k++)
            buf_putc(out, DIGIT(k));
    }
#undef DIGIT
    return 0;
}

static int match_digits(const char *s, size_t n, size_t *ip, size_t count) {
    for (size_t k = 0; k < count; k++, (*ip)++)
        if (*ip >= n || !is_digit(s[*ip]))
            return -1;
    return 0;
}

/* timestamp(tz) in DateStyle ISO, "2024-01-01 10:00:00.5+00" (years may
 * have more than four digits, " BC" may follow), as to_jsonb writes it
 * (XSD style): 'T' between date and time, and the offset always with
 * minutes, "+00:00". Anything else (infinity) stays as it is. */
static void timestamp_json(const char *s, size_t n, int tz, buf_t **out) {
    char tmp[96];
    size_t i = 0, o = 0;
    if (n > 64)
        goto verbatim;
    while (i < n && is_digit(s[i]))
        i++;
    if (i < 4 || i >= n || s[i] != '-')
        goto verbatim;
    i++;
    if (match_digits(s, n, &i, 2) || i >= n || s[i++] != '-' || match_digits(s, n, &i, 2) || i >= n || s[i] != ' ')
        goto verbatim;
    memcpy(tmp, s, i);
    o = i;
    tmp[o++] = 'T';
    size_t t = ++i;
    if (match_digits(s, n, &i, 2) || i >= n || s[i++] != ':' || match_digits(s, n, &i, 2) || i >= n ||
        s[i++] != ':' || match_digits(s, n, &i, 2))
        goto verbatim;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && is_digit(s[i]))
            i++;
    }
    memcpy(tmp + o, s + t, i - t);
    o += i - t;
    if (tz) {
        /* +HH, +HH:MM or +HH:MM:SS */
        if (i >= n || (s[i] != '+' && s[i] != '-'))
            goto verbatim;
        size_t z = i++;
        if (match_digits(s, n, &i, 2))
            goto verbatim;
        while (i + 2 < n && s[i] == ':' && is_digit(s[i + 1]) && is_digit(s[i + 2]))
            i += 3;
        memcpy(tmp + o, s + z, i - z);
        o += i - z;
        if (i - z == 3) {
            memcpy(tmp + o, ":00", 3);
            o += 3;
        }
    }
    memcpy(tmp + o, s + i, n - i); /* " BC" */
    o += n - i;
    json_string(out, tmp, o);
    return;
verbatim:
    json_string(out, s, n);
}

static void value_json(const pgo_decoder_t *d, tinfo_t ti, const char *s, size_t n, buf_t **out, int depth);

/* Converts one array element (unescaped text) by the element's type. */
static void element_json(const pgo_decoder_t *d, uint32_t elem, const char *s, size_t n, buf_t **out, int depth) {
    value_json(d, type_info(d, elem), s, n, out, depth + 1);
}

/* Array elements are escaped with backslashes; the unescaped copy goes to
 * a stack buffer when it fits. */
static void element_unescape_json(const pgo_decoder_t *d, uint32_t elem, const char *s, size_t n, buf_t **out,
                                  int depth) {
    char small[256] = {0};
    char *tmp = n <= sizeof(small) ? small : xmalloc(n);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n)
            i++;
        tmp[o++] = s[i];
    }
    element_json(d, elem, tmp, o, out, depth);
    if (tmp != small)
        free(tmp);
}

static int is_array_space(char c) {
    /* array_in's scanner_isspace */
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* One {...} level of array_out's text starting at s[*ip]. */
static int array_level(const pgo_decoder_t *d, uint32_t elem, char delim, const char *s, size_t n, size_t *ip,
                       buf_t **out, int depth) {
    size_t i = *ip;
    if (depth >= MAX_NEST || i >= n || s[i] != '{')
        return -1;
    buf_putc(out, '[');
    i++;
    while (i < n && is_array_space(s[i]))
        i++;
    if (i < n && s[i] == '}') {
        buf_putc(out, ']');
        *ip = i + 1;
        return 0;
    }
    for (int first = 1;; first = 0) {
        if (!first)
            buf_putc(out, ',');
        while (i < n && is_array_space(s[i]))
            i++;
        if (i >= n)
            return -1;
        if (s[i] == '{') {
            if (array_level(d, elem, delim, s, n, &i, out, depth + 1))
                return -1;
        } else if (s[i] == '"') {
            size_t start = ++i;
            int escaped = 0;
            while (i < n && s[i] != '"') {
                if (s[i] == '\\') {
                    escaped = 1;
                    i++;
                }
                i++;
            }
            if (i >= n)
                return -1;
            if (escaped)
                element_unescape_json(d, elem, s + start, i - start, out, depth);
            else
                element_json(d, elem, s + start, i - start, out, depth);
            i++;
        } else {
            size_t start = i, end = i; /* end: after the last non-space */
            int escaped = 0;
            while (i < n && s[i] != delim && s[i] != '}') {
                if (s[i] == '{' || s[i] == '"')
                    return -1;
                if (s[i] == '\\') {
                    escaped = 1;
                    if (++i >= n)
                        return -1;
                    end = i + 1;
                } else if (!is_array_space(s[i])) {
                    end = i + 1;
                }
                i++;
            }
            if (end == start)
                return -1; /* empty unquoted element */
            if (!escaped && end - start == 4 && strncasecmp(s + start, "NULL", 4) == 0)
                buf_append(out, "null", 4);
            else if (escaped)
                element_unescape_json(d, elem, s + start, end - start, out, depth);
            else
                element_json(d, elem, s + start, end - start, out, depth);
        }
        while (i < n && is_array_space(s[i]))
            i++;
        if (i >= n)
            return -1;
        if (s[i] == delim) {
            i++;
            continue;
        }
        if (s[i] == '}') {
            i++;
            break;
        }
        return -1;
    }
    buf_putc(out, ']');
    *ip = i;
    return 0;
}

/* array_out's text: an optional "[1:2][0:1]=" bounds prefix (to_jsonb
 * drops the bounds), then nested braces. box is the one built-in element
 * type with ';' as delimiter. */
static int array_json(const pgo_decoder_t *d, uint32_t elem, const char *s, size_t n, buf_t **out, int depth) {
    size_t i = 0;
    if (n && s[0] == '[') {
        const char *eq = memchr(s, '=', n);
        if (!eq)
            return -1;
        i = (size_t)(eq - s) + 1;
    }
    if (array_level(d, elem, elem == 603 ? ';' : ',', s, n, &i, out, depth))
        return -1;
    while (i < n && is_array_space(s[i]))
        i++;
    return i == n ? 0 : -1;
}

/* int2vector, oidvector: "1 2 3". */
static int vector_json(const pgo_decoder_t *d, uint32_t elem, const char *s, size_t n, buf_t **out, int depth) {
    buf_putc(out, '[');
    int first = 1;
    for (size_t i = 0; i < n;) {
        if (s[i] == ' ') {
            i++;
            continue;
        }
        size_t start = i;
        while (i < n && s[i] != ' ')
            i++;
        if (!first)
            buf_putc(out, ',');
        first = 0;
        element_json(d, elem, s + start, i - start, out, depth);
    }
    buf_putc(out, ']');
    return 0;
}

static void value_json(const pgo_decoder_t *d, tinfo_t ti, const char *s, size_t n, buf_t **out, int depth) {
    size_t mark = (*out)->len; /* to take back a half-written array */
    size_t i = 0;
    switch (ti.kind) {
    case K_BOOL:
        if (n == 1 && s[0] == 't') {
            buf_append(out, "true", 4);
            return;
        }
        if (n == 1 && s[0] == 'f') {
            buf_append(out, "false", 5);
            return;
        }
        break;
    case K_NUM:
        if (scan_number(s, n, &i) == 0 && i == n) {
            buf_append(out, s, n);
            return;
        }
        break;
    case K_FLOAT:
        if (float_json(s, n, out) == 0)
            return;
        (*out)->len = mark;
        break;
    case K_JSON:
        if (json_valid(s, n)) {
            buf_append(out, s, n);
            return;
        }
        break;
    case K_TS:
    case K_TSTZ:
        timestamp_json(s, n, ti.kind == K_TSTZ, out);
        return;
    case K_ARRAY:
    case K_VECTOR:
        if (depth < MAX_NEST && (ti.kind == K_ARRAY ? array_json(d, ti.elem, s, n, out, depth)
                                                   : vector_json(d, ti.elem, s, n, out, depth)) == 0)
            return;
        (*out)->len = mark;
        break;
    }
    json_string(out, s, n);
}

void pgo_value_json(const pgo_decoder_t *d, uint32_t type_oid, const pgo_value_t *v, buf_t **out) {
    if (v->kind != 't' || (!v->data && v->len)) {
        buf_append(out, "null", 4);
        return;
    }
    value_json(d, type_info(d, type_oid), v->len ? v->data : "", v->len, out, 0);
}

/* ---- commit timestamps --------------------------------------------------- */

/* Days since 1970-01-01 -> proleptic Gregorian date (H. Hinnant's
 * civil_from_days), exact for any int64 µs timestamp. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

void pgo_timestamp_iso(int64_t pg_us, char out[32]) {
    const int64_t day_us = INT64_C(86400000000);
    int64_t days = pg_us / day_us, rem = pg_us % day_us;
    if (rem < 0) { /* floor, not truncation, before 2000 */
        rem += day_us;
        days--;
    }
    int64_t y;
    int mon, mday;
    civil_from_days(days + 10957, &y, &mon, &mday); /* 2000-01-01 is day 10957 */
    int64_t secs = rem / 1000000;
    int ms = (int)(rem / 1000 % 1000); /* to_char's MS truncates */
    /* The widest (year -290308) takes 27 bytes; tmp satisfies the compiler's
     * worst case of every int at full width. */
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)y, mon, mday,
             (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60), ms);
    memcpy(out, tmp, 31);
    out[31] = '\0';
}
