/*
 * cdc/pgoutput: see pgoutput.h. Owns the relation cache (relid ->
 * pgo_relation_t, replaced whole by every RELATION message), the cache of
 * non-built-in types named by TYPE messages, the "inside a stream block"
 * state that decides whether data messages carry an xid, and which
 * conversion a type's values get (built-in types by cdc/pgtype, others by
 * what TYPE messages and pgo_type_set_base said); cdc/pgjson writes the
 * JSON. Every read of message bytes is bounds-checked; tuple values stay
 * views into the caller's bytes (one array allocation per tuple, none per
 * value). It must never trust a length field before checking it against
 * the bytes left, never block or do I/O, and never emit anything but valid
 * JSON from pgo_value_json, whatever the input.
 */
#include "cdc/pgoutput.h"
#include "cdc/pgjson.h"
#include "cdc/pgtime.h"
#include "cdc/pgtype.h"
#include "util/hash.h"
#include "util/htab.h"
#include "util/mem.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- decoder state ------------------------------------------------------- */

/* A type named by a TYPE message or given a base by pgo_type_set_base. */
typedef struct {
    uint32_t oid;  /* its key in the types table */
    char *name;    /* NULL until a TYPE message names it */
    uint32_t base; /* 0: none */
} utype_t;

/* Two util/htab tables keyed by OID (hash_u64: OIDs are PostgreSQL's
 * numbers, not a client's choice). Entries are few and replaced, never
 * removed but to replace a relation; the decoder owns every item. */
struct pgo_decoder {
    int proto;
    int in_stream; /* between STREAM_START and STREAM_STOP */
    htab_t rels;   /* pgo_relation_t by relid */
    htab_t types;  /* utype_t by oid */
};

static bool rel_eq(const void *item, const void *key) {
    return ((const pgo_relation_t *)item)->relid == *(const uint32_t *)key;
}

static bool utype_eq(const void *item, const void *key) {
    return ((const utype_t *)item)->oid == *(const uint32_t *)key;
}

static pgo_relation_t *rel_find(const pgo_decoder_t *d, uint32_t relid) {
    return htab_find(&d->rels, hash_u64(relid), rel_eq, &relid);
}

static utype_t *utype_find(const pgo_decoder_t *d, uint32_t oid) {
    return htab_find(&d->types, hash_u64(oid), utype_eq, &oid);
}

static void relation_free(pgo_relation_t *r) {
    if (!r)
        return;
    for (uint16_t i = 0; r->cols && i < r->ncols; i++)
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
    pgo_relation_t *rel;
    for (size_t i = 0; (rel = htab_next(&d->rels, &i));)
        relation_free(rel);
    utype_t *t;
    for (size_t i = 0; (t = htab_next(&d->types, &i));) {
        free(t->name);
        free(t);
    }
    htab_free(&d->rels);
    htab_free(&d->types);
    free(d);
}

const pgo_relation_t *pgo_relation(const pgo_decoder_t *d, uint32_t relid) { return rel_find(d, relid); }

/* The type's entry, created empty if absent; pgo_decoder_free frees it. */
static utype_t *utype(pgo_decoder_t *d, uint32_t oid) {
    utype_t *t = utype_find(d, oid);
    if (!t) {
        t = xcalloc(1, sizeof(*t));
        t->oid = oid;
        htab_insert(&d->types, hash_u64(oid), t);
    }
    return t;
}

const char *pgo_type_name(const pgo_decoder_t *d, uint32_t type_oid) {
    const pgtype_t *b = pgtype_builtin(type_oid);
    if (b)
        return b->name;
    const utype_t *t = d ? utype_find(d, type_oid) : NULL;
    return t ? t->name : NULL;
}

void pgo_type_set_base(pgo_decoder_t *d, uint32_t type_oid, uint32_t base_oid) {
    if (type_oid == 0 || pgtype_builtin(type_oid))
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

    pgo_relation_t *old = rel_find(d, relid);
    if (old) {
        htab_remove(&d->rels, hash_u64(relid), old);
        relation_free(old);
    }
    htab_insert(&d->rels, hash_u64(relid), rel);
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
    if (pgtype_builtin(m->type_oid))
        return 0; /* never sent for them; keep the static names */
    utype_t *t = utype(d, m->type_oid);
    free(t->name);
    t->name = xstrdup(m->type_name);
    /* For a domain pgoutput names its base type (logicalrep_write_typ
     * looks through domains): a built-in name in pg_catalog means a domain
     * over that type, and its values convert like the base's. */
    if (!t->base && strcmp(m->type_schema, "pg_catalog") == 0) {
        const pgtype_t *b = pgtype_builtin_named(m->type_name);
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
        case 'u': break;
        case 't':
            if (rd_u32(r, &v->len) || need(r, v->len))
                return -1;
            v->data = (const char *)r->p;
            r->p += v->len;
            break;
        case 'b':
            return fail(r, "binary value in column %s of %s.%s (binary mode is not supported)", rel->cols[i].name,
                        rel->schema, rel->name);
        default: return fail(r, "unknown tuple value kind 0x%02x in %s message", kind, r->what);
        }
        t->natts = (uint16_t)(i + 1);
    }
    return 0;
}

static int rd_relation_ref(pgo_decoder_t *d, rd_t *r, pgo_msg_t *m) {
    uint32_t relid;
    if (rd_stream_xid(d, r, m) || rd_oid(r, &relid, "relation OID"))
        return -1;
    m->rel = rel_find(d, relid);
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
    case PGO_STREAM_ABORT: return 2;
    case PGO_BEGIN_PREPARE:
    case PGO_PREPARE:
    case PGO_COMMIT_PREPARED:
    case PGO_ROLLBACK_PREPARED:
    case PGO_STREAM_PREPARE: return 3;
    default: return 1;
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

/* ---- value conversion ---------------------------------------------------- */

/* How values of oid convert: built-in rules, else a base type the caller
 * set (followed a few steps, in case of cycles), else string, or array of
 * strings for a name that says "array". */
static pgjson_type_t type_info(const pgo_decoder_t *d, uint32_t oid) {
    for (int hops = 0; hops < 4; hops++) {
        const pgtype_t *b = pgtype_builtin(oid);
        if (b)
            return (pgjson_type_t){b->json, b->elem};
        const utype_t *t = d ? utype_find(d, oid) : NULL;
        if (!t)
            break;
        if (t->base) {
            oid = t->base;
            continue;
        }
        if (t->name && t->name[0] == '_')
            return (pgjson_type_t){PGTYPE_ARRAY, 0};
        break;
    }
    return (pgjson_type_t){PGTYPE_STRING, 0};
}

/* pgjson's resolver for array elements: ctx is the decoder (or NULL). */
static pgjson_type_t resolve_type(const void *ctx, uint32_t oid) { return type_info(ctx, oid); }

void pgo_value_json(const pgo_decoder_t *d, uint32_t type_oid, const pgo_value_t *v, buf_t **out) {
    if (v->kind != 't' || (!v->data && v->len)) {
        buf_append(out, "null", 4);
        return;
    }
    pgjson_value(type_info(d, type_oid), v->len ? v->data : "", v->len, resolve_type, d, out);
}

/* ---- commit timestamps --------------------------------------------------- */

void pgo_timestamp_iso(int64_t pg_us, char out[32]) {
    const int64_t day_us = PGTIME_USECS_PER_DAY;
    int64_t days = pg_us / day_us, rem = pg_us % day_us;
    if (rem < 0) { /* floor, not truncation, before 2000 */
        rem += day_us;
        days--;
    }
    int64_t y;
    int mon, mday;
    pgtime_civil_from_days(days, &y, &mon, &mday);
    int64_t secs = rem / 1000000;
    int ms = (int)(rem / 1000 % 1000); /* to_char's MS truncates */
    /* The widest (year -290308) takes 27 bytes; tmp satisfies the compiler's
     * worst case of every int at full width. */
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)y, mon, mday, (int)(secs / 3600),
             (int)(secs / 60 % 60), (int)(secs % 60), ms);
    memcpy(out, tmp, 31);
    out[31] = '\0';
}
