/*
 * cdc/txq: the CDC engine's transaction queue. It turns decoded messages
 * into queued transactions (each change matched against the registry as
 * it is decoded, its data encoded once, its row image kept for
 * authorization), bounds what they hold (pausing the stream, queueing a
 * large transaction in parts), holds a REST write's changes until its
 * answer went out, and works the queue one batch at a time: authorize
 * (cdc/authz), then publish (cdc/publish), in commit order.
 *
 * It owns every transaction and change until it hands a batch to authz or
 * publish (they hand it back or free it). It never reorders transactions,
 * and never lets a change out that authz has not judged.
 */
#ifndef TC_CDC_TXQ_H
#define TC_CDC_TXQ_H

#include <stddef.h>
#include <stdint.h>

#include "cdc/catalog.h"
#include "cdc/history.h"
#include "cdc/messages.h"
#include "cdc/pgoutput.h"
#include "cdc/subs.h"
#include "util/buf.h"
#include "util/htab.h"

typedef struct cdc_eng cdc_eng_t;

/* What the policy plans need of a change's row (cdc_txq_policy_inputs). */
typedef struct {
    uint16_t col;
    uint8_t unknown;
    char *val;
} cdc_uid_val_t;
typedef struct {
    uint32_t pred;
    int8_t val;
} cdc_pred_val_t;

/* One matched change, or one broadcast from the database (bcast set, no
 * matches: nothing to authorize, cdc/messages publishes it in its place
 * in commit order). */
typedef struct cdc_qchange {
    uint32_t relid;
    uint32_t nm;
    uint64_t recv_ms; /* when it was decoded */
    cdc_match_t *m;   /* owner = cdc_client_t * (one reference each) */
    buf_t **mdata;    /* per match: its data (select list) or NULL for data */
    uint8_t *ok;      /* per match, filled when authorized */
    buf_t *data;
    buf_t *row;      /* row image, JSON object, for checks */
    uint64_t cat_fp; /* fingerprint of the catalog uv and preds were computed with */
    uint16_t nuv, npreds;
    cdc_uid_val_t *uv;
    cdc_pred_val_t *preds;
    size_t cost;      /* bytes counted in queued_bytes until cleared */
    cdc_msg_t *bcast; /* a row of realtime.messages to broadcast (cdc/messages) */
    cdc_pos_t pos;    /* where it is in the WAL (cdc/history): sent as the event's ref */
} cdc_qchange_t;

typedef struct cdc_tx cdc_tx_t;
struct cdc_tx {
    cdc_tx_t *next;
    uint8_t partial;     /* a part of a transaction still being received: no end LSN to confirm */
    uint64_t replay_for; /* a replay chunk (cdc/resume) for this client alone, or 0: a transaction */
    size_t bytes;        /* its changes' cost when queued (decides when to cut a part) */
    uint64_t mark;       /* a REST write of this server (cdc_engine_mark), or 0 */
    uint64_t hold_until; /* waiting for that write's answer until then (0: not held) */
    uint64_t commit_lsn, end_lsn;
    int64_t commit_time;
    cdc_qchange_t *ch;
    size_t n, cap;
};

/* Zeroed, then cdc_txq_init. */
typedef struct {
    cdc_tx_t *cur; /* being received */
    int cur_skip;
    uint64_t accepted_lsn; /* highest end LSN queued or delivered */
    cdc_tx_t *head, **tail;
    uint64_t retry_at; /* the next batch waits until then */
    /* Bounded memory (docs/ARCHITECTURE.md, "Isolation"). Decoded changes
     * waiting for delivery are counted; above queue_max the stream is
     * paused, so a transaction of any size costs a bounded amount here
     * (PostgreSQL keeps its WAL meanwhile). A transaction is queued in
     * parts as it is decoded: pgoutput sends a transaction only once it
     * committed, so its first part may go out before its COMMIT arrives. */
    size_t queued_bytes;
    int paused;
    int trim_due;            /* a burst held much memory: trim once it is gone */
    uint64_t part_lsn;       /* commit LSN of the transaction whose parts are queued (0: none) */
    size_t part_done;        /* its change messages covered by those parts */
    size_t cur_seen;         /* change messages of cur's transaction seen so far */
    uint32_t cur_ord;        /* ... counted for positions (sent again or not) */
    size_t cur_skip_changes; /* ... of which the first ones were queued before a reconnect */
    /* answered REST writes (cdc_txq_written): mark -> when */
    htab_t written;
    size_t written_sweep; /* forget old answers when the table holds this many */
    /* matching scratch */
    cdc_cell_t *cells;
    uint8_t *unknown;
    size_t cells_cap;
    cdc_match_t *mbuf;
    size_t mcap;
    uint64_t change_gen;    /* numbers decoded changes: budgets refill per change */
    uint64_t budget_log_ms; /* next time an exhausted budget may be logged */
    uint64_t msg_log_ms;    /* next time a dropped realtime.messages row may be logged */
} cdc_txq_t;

void cdc_txq_init(cdc_txq_t *q);
/* Frees what is being received and queued (not the batch authz or publish
 * holds) and the queue's scratch. */
void cdc_txq_free(cdc_eng_t *e);

/* Decoded messages of the stream, in order. */
void cdc_txq_begin(cdc_eng_t *e, const pgo_msg_t *m);
void cdc_txq_change(cdc_eng_t *e, const pgo_msg_t *m);
void cdc_txq_message(cdc_eng_t *e, const pgo_msg_t *m);
void cdc_txq_commit(cdc_eng_t *e, const pgo_msg_t *m);
/* The stream dropped: the transaction being received comes again. */
void cdc_txq_lost(cdc_eng_t *e);

/* A REST write's answer went out (cdc_engine_written). */
void cdc_txq_written(cdc_eng_t *e, uint64_t mark);
/* Moves the queue on as far as it can (publishing, checks, holds). */
void cdc_txq_pump(cdc_eng_t *e);
/* Transactions queued (gauges). */
size_t cdc_txq_length(const cdc_eng_t *e);

/* Adds to t a change decoded from m (by dec, which names its types),
 * matched by the nm matches ms (copied; each takes a reference to its
 * owner): its data encoded once (and once per select list), its row image
 * and policy inputs kept for cdc/authz. Live changes and replay chunks
 * (cdc/resume) are both made here. */
void cdc_txq_fill(cdc_eng_t *e, cdc_tx_t *t, const pgo_decoder_t *dec, const pgo_msg_t *m, const cdc_change_t *cc,
                  const cdc_table_t *tb, const cdc_match_t *ms, size_t nm, cdc_pos_t pos, int64_t commit_time);
/* Queues a complete replay chunk (takes t) behind everything queued. */
void cdc_txq_append(cdc_eng_t *e, cdc_tx_t *t);

/* Frees what c holds (it may be cleared again: published changes are
 * cleared at once, their transaction later). */
void cdc_txq_change_clear(cdc_eng_t *e, cdc_qchange_t *c);
/* Frees a list of transactions. */
void cdc_txq_free_batch(cdc_eng_t *e, cdc_tx_t *t);

/* How a change is prepared for authorization, exposed for tests: the row
 * image (JSON object for jsonb_populate_record; unknown values left out)
 * and what tb's policy plans need of the row. */
buf_t *cdc_txq_row_image(const cdc_change_t *c, const pgo_relation_t *rel, const cdc_table_t *tb);
void cdc_txq_policy_inputs(const cdc_catalog_t *cat, cdc_qchange_t *ch, const cdc_table_t *tb, const cdc_change_t *cc);

#endif
