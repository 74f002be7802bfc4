/*
 * cdc/history: see history.h.
 *
 * An entry copies the change's values into one allocation (a few bytes of
 * header per value), and points at a reference-counted copy of its
 * relation's shape as it was then: after an ALTER TABLE the older entries
 * keep reading their own columns. The entries sit in a ring in position
 * order, since the stream delivers them so; finding where a resume starts
 * is a binary search.
 */
#include "cdc/history.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/hash.h"
#include "util/mem.h"

struct cdc_hist_rel {
    int refs; /* the table's (while current), plus one per entry */
    pgo_relation_t rel;
};

#define ENTRY_OVERHEAD 64 /* the ring slot and the allocator's own, roughly */

/* ---- positions -------------------------------------------------------------- */

void cdc_pos_text(cdc_pos_t p, char out[CDC_POS_TEXT_MAX]) {
    snprintf(out, CDC_POS_TEXT_MAX, "%" PRIX32 "/%" PRIX32 ":%" PRIu32, (uint32_t)(p.lsn >> 32), (uint32_t)p.lsn,
             p.ord);
}

/* Up to max hex digits (at least one) of s[*i..n); -1 if none. */
static int hex_field(const char *s, size_t n, size_t *i, int max, uint64_t *out) {
    uint64_t v = 0;
    int d = 0;
    for (; *i < n && d < max; (*i)++, d++) {
        char c = s[*i];
        int x = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                       : -1;
        if (x < 0)
            break;
        v = v << 4 | (uint64_t)x;
    }
    *out = v;
    return d ? 0 : -1;
}

int cdc_pos_parse(const char *s, size_t n, cdc_pos_t *out) {
    size_t i = 0;
    uint64_t hi, lo, ord = 0;
    if (!s || hex_field(s, n, &i, 8, &hi) < 0 || i >= n || s[i++] != '/' || hex_field(s, n, &i, 8, &lo) < 0 || i >= n ||
        s[i++] != ':' || i >= n)
        return -1;
    for (int d = 0; i < n; i++, d++) {
        if (s[i] < '0' || s[i] > '9' || d >= 10)
            return -1;
        ord = ord * 10 + (uint64_t)(s[i] - '0');
    }
    if (ord > UINT32_MAX)
        return -1;
    out->lsn = hi << 32 | lo;
    out->ord = (uint32_t)ord;
    return 0;
}

/* ---- relations -------------------------------------------------------------- */

static bool rel_eq(const void *item, const void *key) {
    return ((const cdc_hist_rel_t *)item)->rel.relid == *(const uint32_t *)key;
}

static void rel_unref(cdc_hist_rel_t *r) {
    if (!r || --r->refs > 0)
        return;
    for (uint16_t i = 0; i < r->rel.ncols; i++)
        free(r->rel.cols[i].name);
    free(r->rel.cols);
    free(r->rel.schema);
    free(r->rel.name);
    free(r);
}

static int same_shape(const pgo_relation_t *a, const pgo_relation_t *b) {
    if (a->ncols != b->ncols || a->replident != b->replident || strcmp(a->schema, b->schema) ||
        strcmp(a->name, b->name))
        return 0;
    for (uint16_t i = 0; i < a->ncols; i++)
        if (a->cols[i].type_oid != b->cols[i].type_oid || a->cols[i].typmod != b->cols[i].typmod ||
            a->cols[i].is_key != b->cols[i].is_key || strcmp(a->cols[i].name, b->cols[i].name))
            return 0;
    return 1;
}

void cdc_hist_relation(cdc_hist_t *h, const pgo_relation_t *rel) {
    uint64_t k = hash_u64(rel->relid);
    cdc_hist_rel_t *cur = htab_find(&h->rels, k, rel_eq, &rel->relid);
    if (cur && same_shape(&cur->rel, rel))
        return; /* every new session sends it again */
    cdc_hist_rel_t *r = xcalloc(1, sizeof(*r));
    r->refs = 1;
    r->rel = *rel;
    r->rel.schema = xstrdup(rel->schema);
    r->rel.name = xstrdup(rel->name);
    r->rel.cols = xcalloc(rel->ncols ? rel->ncols : 1, sizeof(*r->rel.cols));
    for (uint16_t i = 0; i < rel->ncols; i++) {
        r->rel.cols[i] = rel->cols[i];
        r->rel.cols[i].name = xstrdup(rel->cols[i].name);
    }
    if (cur) {
        htab_remove(&h->rels, k, cur);
        rel_unref(cur); /* entries that use it keep it */
    }
    htab_insert(&h->rels, k, r);
}

void cdc_hist_type(cdc_hist_t *h, const uint8_t *data, size_t len) {
    pgo_msg_t m;
    if (pgo_decode(h->types, data, len, &m, NULL, 0) == 0)
        pgo_msg_clear(&m);
}

/* ---- the ring ---------------------------------------------------------------- */

void cdc_hist_init(cdc_hist_t *h, int keep_seconds, size_t max_bytes) {
    memset(h, 0, sizeof(*h));
    h->keep_us = keep_seconds > 0 ? (int64_t)keep_seconds * 1000000 : 0;
    h->max_bytes = max_bytes;
    h->types = pgo_decoder_new(1);
}

static void entry_free(cdc_hist_t *h, cdc_hist_entry_t *e) {
    h->bytes -= e->bytes;
    rel_unref(e->rel);
    free(e);
}

void cdc_hist_free(cdc_hist_t *h) {
    for (size_t i = 0; i < h->n; i++)
        entry_free(h, h->ring[(h->at + i) % h->cap]);
    free(h->ring);
    free(h->samples);
    cdc_hist_rel_t *r;
    for (size_t i = 0; (r = htab_next(&h->rels, &i));)
        rel_unref(r);
    htab_free(&h->rels);
    pgo_decoder_free(h->types);
    memset(h, 0, sizeof(*h));
}

static void drop_oldest(cdc_hist_t *h) {
    cdc_hist_entry_t *e = h->ring[h->at];
    h->floor = e->pos; /* everything after it is still here */
    h->at = (h->at + 1) % h->cap;
    h->n--;
    h->evicted++;
    entry_free(h, e);
}

static void push(cdc_hist_t *h, cdc_hist_entry_t *e) {
    if (h->n == h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : 1024;
        cdc_hist_entry_t **ring = xmalloc(ncap * sizeof(*ring));
        for (size_t i = 0; i < h->n; i++)
            ring[i] = h->ring[(h->at + i) % h->cap];
        free(h->ring);
        h->ring = ring;
        h->at = 0;
        h->cap = ncap;
    }
    h->ring[(h->at + h->n) % h->cap] = e;
    h->n++;
    h->bytes += e->bytes;
}

void cdc_hist_stream_start(cdc_hist_t *h, uint64_t start_lsn, uint64_t confirmed) {
    cdc_pos_t start = {start_lsn, 0};
    if (confirmed && start_lsn <= confirmed)
        return; /* the slot resends from where we kept it: nothing is missing */
    if (cdc_pos_cmp(start, h->head) <= 0)
        return; /* the slot resends from head or before: nothing is missing */
    while (h->n)
        drop_oldest(h);
    h->floor = start;
    if (cdc_pos_cmp(h->head, start) < 0)
        h->head = start;
}

static size_t tuple_bytes(const pgo_tuple_t *t) {
    size_t n = 0;
    for (uint16_t i = 0; i < t->natts; i++)
        n += 5 + (t->values[i].kind == 't' ? t->values[i].len : 0);
    return n;
}

static uint8_t *put_tuple(uint8_t *p, const pgo_tuple_t *t) {
    for (uint16_t i = 0; i < t->natts; i++) {
        const pgo_value_t *v = &t->values[i];
        uint32_t len = v->kind == 't' ? v->len : 0;
        *p++ = (uint8_t)v->kind;
        memcpy(p, &len, 4);
        p += 4;
        if (len)
            memcpy(p, v->data, len);
        p += len;
    }
    return p;
}

static cdc_hist_rel_t *rel_of(cdc_hist_t *h, const pgo_relation_t *rel) {
    cdc_hist_rel_t *r = htab_find(&h->rels, hash_u64(rel->relid), rel_eq, &rel->relid);
    if (!r || !same_shape(&r->rel, rel)) { /* its RELATION message was not passed on (tests) */
        cdc_hist_relation(h, rel);
        r = htab_find(&h->rels, hash_u64(rel->relid), rel_eq, &rel->relid);
    }
    r->refs++;
    return r;
}

int cdc_hist_add(cdc_hist_t *h, const pgo_msg_t *m, cdc_pos_t pos, int64_t commit_time, int keep, int64_t now_us) {
    if (cdc_pos_cmp(pos, h->head) <= 0)
        return 0;
    h->head = pos;
    if (!keep || !m->rel)
        return 1; /* not a change the history serves (a broadcast row) */
    if (!h->keep_us || now_us - commit_time > h->keep_us) {
        /* Not kept (no history, or already too old when decoded, as after
         * a long outage): a resume from before it cannot be served, and
         * whatever is older is too old as well. */
        while (h->n)
            drop_oldest(h);
        h->floor = pos;
        return 1;
    }
    const pgo_tuple_t *nt = &m->new_tuple, *ot = &m->old_tuple;
    size_t data = tuple_bytes(nt) + (m->old_kind ? tuple_bytes(ot) : 0);
    cdc_hist_entry_t *e = xmalloc(sizeof(*e) + data);
    e->pos = pos;
    e->commit_time = commit_time;
    e->rel = rel_of(h, m->rel);
    e->kind = (uint8_t)m->kind;
    e->old_kind = m->old_kind;
    e->natts_new = nt->natts;
    e->natts_old = m->old_kind ? ot->natts : 0;
    e->bytes = sizeof(*e) + data + ENTRY_OVERHEAD;
    uint8_t *p = put_tuple(e->data, nt);
    if (m->old_kind)
        put_tuple(p, ot);
    push(h, e);
    return 1;
}

int cdc_hist_evict(cdc_hist_t *h, int64_t now_us) {
    cdc_pos_t before = h->floor;
    while (h->n) {
        const cdc_hist_entry_t *e = h->ring[h->at];
        if (h->bytes <= h->max_bytes && now_us - e->commit_time <= h->keep_us)
            break;
        drop_oldest(h);
    }
    return cdc_pos_cmp(before, h->floor) != 0;
}

size_t cdc_hist_after(const cdc_hist_t *h, cdc_pos_t pos) {
    size_t lo = 0, hi = h->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cdc_pos_cmp(cdc_hist_at(h, mid)->pos, pos) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void cdc_hist_sample(cdc_hist_t *h, int64_t now_us, uint64_t wal_end) {
    if (!h->keep_us || !wal_end)
        return;
    if (h->ns && now_us - h->samples[h->ns - 1].at_us < 1000000)
        return;
    /* the newest sample older than the window is all the past it needs */
    size_t old = 0;
    while (old + 1 < h->ns && h->samples[old + 1].at_us <= now_us - h->keep_us)
        old++;
    if (old) {
        memmove(h->samples, h->samples + old, (h->ns - old) * sizeof(*h->samples));
        h->ns -= old;
    }
    if (h->ns == h->scap) {
        h->scap = h->scap ? h->scap * 2 : 64;
        h->samples = xrealloc(h->samples, h->scap * sizeof(*h->samples));
    }
    h->samples[h->ns++] = (cdc_hist_sample_t){now_us, wal_end};
}

cdc_pos_t cdc_hist_floor(const cdc_hist_t *h, int64_t now_us) {
    cdc_pos_t f = h->floor;
    if (!h->keep_us || !h->ns || h->samples[0].at_us > now_us - h->keep_us)
        return f;
    size_t i = 0;
    while (i + 1 < h->ns && h->samples[i + 1].at_us <= now_us - h->keep_us)
        i++;
    cdc_pos_t aged = {h->samples[i].lsn, 0};
    uint64_t keep = cdc_hist_keep_lsn(h);
    if (keep && keep < aged.lsn)
        aged.lsn = keep; /* what is kept must come again after a restart */
    return cdc_pos_cmp(aged, f) > 0 ? aged : f;
}

uint64_t cdc_hist_keep_lsn(const cdc_hist_t *h) { return h->n ? cdc_hist_at(h, 0)->pos.lsn : 0; }

const pgo_relation_t *cdc_hist_entry_rel(const cdc_hist_entry_t *e) { return &e->rel->rel; }

static const uint8_t *get_tuple(const uint8_t *p, pgo_tuple_t *t, pgo_value_t *vals, uint16_t natts) {
    t->natts = natts;
    t->values = vals;
    for (uint16_t i = 0; i < natts; i++) {
        uint32_t len;
        vals[i].kind = (char)*p++;
        memcpy(&len, p, 4);
        p += 4;
        vals[i].data = (const char *)p;
        vals[i].len = len;
        p += len;
    }
    return p;
}

void cdc_hist_msg(const cdc_hist_entry_t *e, pgo_msg_t *m, pgo_value_t *vals) {
    memset(m, 0, sizeof(*m));
    m->kind = (pgo_kind_t)e->kind;
    m->lsn = e->pos.lsn;
    m->commit_time = e->commit_time;
    m->rel = &e->rel->rel;
    m->old_kind = e->old_kind;
    const uint8_t *p = get_tuple(e->data, &m->new_tuple, vals, e->natts_new);
    if (e->old_kind)
        get_tuple(p, &m->old_tuple, vals + e->natts_new, e->natts_old);
}
