/*
 * cdc/history: the recent changes of the published tables, in commit
 * order, so a channel that was away can be given what it missed
 * (cdc/resume). Each change is kept as the decoder gave it (its relation's
 * shape, its old and new values as text), bounded by age (commit time) and
 * bytes; the oldest go first. It also keeps the positions that say what it
 * holds: every change after floor is here or still to come on the stream,
 * and head is the last change decoded.
 *
 * Nothing here survives the process: after a restart the history is
 * decoded again from the replication slot, which the engine confirms only
 * up to the oldest change kept (cdc_hist_keep_lsn). It never matches,
 * authorizes or publishes, and is touched on the CDC thread only.
 */
#ifndef TC_CDC_HISTORY_H
#define TC_CDC_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "cdc/pgoutput.h"
#include "util/htab.h"

/* A change's position: its transaction's commit LSN (BEGIN's final LSN)
 * and its index among the transaction's changes, from 1. (lsn, 0) is the
 * place just before the first change of any transaction committed at lsn
 * or later. Ordered by lsn, then ord; the same on every server reading the
 * same database, since both come from the WAL. */
typedef struct {
    uint64_t lsn;
    uint32_t ord;
} cdc_pos_t;

static inline int cdc_pos_cmp(cdc_pos_t a, cdc_pos_t b) {
    if (a.lsn != b.lsn)
        return a.lsn < b.lsn ? -1 : 1;
    return a.ord < b.ord ? -1 : a.ord > b.ord;
}

#define CDC_POS_TEXT_MAX 32
/* "16/B374D848:3" */
void cdc_pos_text(cdc_pos_t p, char out[CDC_POS_TEXT_MAX]);
/* Parses what cdc_pos_text writes (len bytes); 0, or -1 if it is not a
 * position. */
int cdc_pos_parse(const char *s, size_t len, cdc_pos_t *out);

typedef struct cdc_hist_rel cdc_hist_rel_t;

typedef struct {
    cdc_pos_t pos;
    int64_t commit_time;
    cdc_hist_rel_t *rel;
    uint8_t kind; /* PGO_INSERT, PGO_UPDATE, PGO_DELETE */
    char old_kind;
    uint16_t natts_new, natts_old;
    size_t bytes; /* what it costs, counted in the history's bytes */
    /* per value: kind ('n', 'u', 't'), 4-byte length, then for 't' the
     * text; new tuple first, then old */
    uint8_t data[];
} cdc_hist_entry_t;

/* The database's WAL end at some time: what the floor may rise to once
 * that time is older than the window, when no change was kept since. */
typedef struct {
    int64_t at_us;
    uint64_t lsn;
} cdc_hist_sample_t;

typedef struct {
    cdc_hist_entry_t **ring; /* entries in position order, from at (a ring of cap) */
    size_t at, n, cap;
    size_t bytes;
    htab_t rels;                /* cdc_hist_rel_t by relid: the current shape of each relation */
    pgo_decoder_t *types;       /* type names from every session's TYPE messages (replay encodes with it) */
    int64_t keep_us;            /* age bound (0: no history) */
    size_t max_bytes;           /* bytes bound */
    cdc_pos_t floor, head;      /* see above */
    uint64_t evicted;           /* changes dropped for age or bytes, ever */
    cdc_hist_sample_t *samples; /* WAL ends, oldest first, about one a second */
    size_t ns, scap;
} cdc_hist_t;

/* keep_seconds 0 keeps nothing (resume is never possible); the positions
 * are still tracked. */
void cdc_hist_init(cdc_hist_t *h, int keep_seconds, size_t max_bytes);
void cdc_hist_free(cdc_hist_t *h);
static inline int cdc_hist_enabled(const cdc_hist_t *h) { return h->keep_us > 0; }

/* The stream (re)started at the slot's confirmed position start_lsn, and
 * this process had confirmed up to confirmed (0: nothing yet). If the slot
 * is ahead of what was confirmed (moved by someone else, or recreated),
 * changes may be missing between head and it: the history is cleared and
 * starts there. */
void cdc_hist_stream_start(cdc_hist_t *h, uint64_t start_lsn, uint64_t confirmed);
/* A RELATION message (the relation's current shape) and a TYPE message's
 * bytes (decoded again into the history's own type cache). */
void cdc_hist_relation(cdc_hist_t *h, const pgo_relation_t *rel);
void cdc_hist_type(cdc_hist_t *h, const uint8_t *data, size_t len);

/* A decoded change at pos. Returns 1 if it is new (pos after head: head
 * moves there, and the change is kept if keep and the history is on), 0 if
 * it was decoded before (a transaction sent again after a reconnect).
 * now_us: the time now, in PostgreSQL's epoch (µs since 2000-01-01). */
int cdc_hist_add(cdc_hist_t *h, const pgo_msg_t *m, cdc_pos_t pos, int64_t commit_time, int keep, int64_t now_us);
/* Drops what is too old or over the bytes bound. Returns 1 if the floor
 * moved. */
int cdc_hist_evict(cdc_hist_t *h, int64_t now_us);

/* Notes the WAL end now (at most once a second is kept), dropping the
 * samples the window no longer needs. */
void cdc_hist_sample(cdc_hist_t *h, int64_t now_us, uint64_t wal_end);
/* The floor resumes are judged by: floor, raised with time to the WAL end
 * of a window ago when nothing kept is older (never past the oldest change
 * kept). So a position older than the window is refused whether or not
 * changes came since, the same before and after a restart. */
cdc_pos_t cdc_hist_floor(const cdc_hist_t *h, int64_t now_us);
/* What the slot may be confirmed up to so that a restarted server can
 * serve every position cdc_hist_floor allows: its LSN. Decoding again from
 * there rebuilds the same history. */
static inline uint64_t cdc_hist_slot_lsn(const cdc_hist_t *h, int64_t now_us) { return cdc_hist_floor(h, now_us).lsn; }

/* The first entry after pos (its index for cdc_hist_at), or cdc_hist_len
 * when there is none. O(log n). */
size_t cdc_hist_after(const cdc_hist_t *h, cdc_pos_t pos);
static inline size_t cdc_hist_len(const cdc_hist_t *h) { return h->n; }
static inline const cdc_hist_entry_t *cdc_hist_at(const cdc_hist_t *h, size_t i) {
    return h->ring[(h->at + i) % h->cap];
}
/* The LSN the slot must keep for the history (the commit LSN of the
 * oldest change kept), or 0 when nothing is kept. */
uint64_t cdc_hist_keep_lsn(const cdc_hist_t *h);

/* The schema and table an entry's relation had. */
const pgo_relation_t *cdc_hist_entry_rel(const cdc_hist_entry_t *e);
/* Rebuilds the decoded message of e into *m (kind, rel, tuples), its
 * values pointing into e and into vals, which needs room for
 * natts_new + natts_old values. Valid while e is kept. */
void cdc_hist_msg(const cdc_hist_entry_t *e, pgo_msg_t *m, pgo_value_t *vals);

#endif
