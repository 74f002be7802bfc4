/*
 * cdc/authz: the row-level security verdict on a batch of matched changes:
 * for each (change, subscriber) match, may that subscriber's role and
 * claims SELECT the change's row? It decides in the server what the
 * catalog's policy plans can (cdc/policy), and asks PostgreSQL the rest
 * through the engine's db/pool: one pipelined transaction per batch, one
 * statement per distinct (role, claims) and table judging all of that
 * batch's rows at once.
 *
 * It only fills the batch's ok[] flags (and caches CLAIM values and marks
 * failing claims on clients). It never publishes, requeues, reorders or
 * frees a batch: it hands it back through the done callback with a verdict,
 * and the caller (cdc/txq) decides what follows. A match it could not
 * judge stays refused (ok = 0).
 */
#ifndef TC_CDC_AUTHZ_H
#define TC_CDC_AUTHZ_H

#include <stddef.h>
#include <stdint.h>

#include "util/htab.h"

typedef struct cdc_eng cdc_eng_t;
typedef struct cdc_tx cdc_tx_t;
typedef struct cdc_client cdc_client_t;
typedef struct cdc_qchange cdc_qchange_t;

typedef enum {
    CDC_AUTHZ_DONE,        /* every ok[] of the batch is final */
    CDC_AUTHZ_BLAMED,      /* some subscribers' claims made a check fail: they are marked
                              (claims_bad), judge the batch again without them */
    CDC_AUTHZ_RETRY_NOW,   /* a statement could not be prepared: it runs unprepared from now
                              on, so judging again at once can succeed */
    CDC_AUTHZ_BUSY,        /* the pool refused the request (its queue is full): try later */
    CDC_AUTHZ_UNREACHABLE, /* the database could not be reached */
} cdc_authz_verdict_t;

/* Runs when the database answered (or failed) for the batch. */
typedef void (*cdc_authz_done_fn)(cdc_eng_t *e, cdc_tx_t *batch, cdc_authz_verdict_t v);

/* Subscribers with the same role and claims see the same rows: a group. */
typedef struct {
    cdc_client_t *first; /* a client of the group, for its role and claims */
    uint64_t hash;
    uint32_t idx;
    uint8_t refresh; /* ask for its CLAIM term values in this batch */
    int8_t *vals;    /* the values that came back */
} cdc_group_t;

/* A check: subscriber group g may see change c of table oid? */
typedef struct {
    uint32_t g, oid;
    cdc_qchange_t *c;
    uint8_t visible;
} cdc_need_t;

typedef enum { CDC_ST_CLAIMS_SET, CDC_ST_CLAIM_VALUES, CDC_ST_ROWS } cdc_st_kind_t;
typedef struct {
    cdc_st_kind_t kind;
    uint32_t g;
    size_t from, to; /* ROWS: needs[from..to) */
} cdc_st_info_t;

/* One of the (up to two) requests a batch's pipeline is split in. */
typedef struct {
    cdc_eng_t *e;
    size_t from, n; /* its statements: st[from..from + n) */
} cdc_authz_part_t;

/* Zeroed is ready; done must be set before the first batch. */
typedef struct {
    cdc_authz_done_fn done;
    cdc_tx_t *batch;      /* being judged by the database (NULL: none) */
    uint64_t batch_no;    /* numbers batches: clients' group scratch is valid for one */
    cdc_group_t **groups; /* groups[0..ngroups) this batch's; up to gcap kept for reuse */
    size_t ngroups, gcap;
    htab_t gindex; /* cdc_group_t by role and claims */
    cdc_need_t *needs;
    size_t nneeds, needs_cap;
    cdc_st_info_t *st;
    size_t nst;
    uint64_t gen; /* claims_gen when the batch's values were asked for */
    uint64_t fp;  /* and the catalog's fingerprint then */
    /* The pipeline is split in up to two requests (the pool's two
     * connections), at a group boundary: the checks may use two cores. */
    cdc_authz_part_t part[2];
    int pending;                    /* requests not answered yet */
    int failed;                     /* one could not be sent */
    int blamed;                     /* a group's claims made a statement fail */
    cdc_authz_verdict_t error_kind; /* of the first error the pool reported */
    char *error;                    /* that error's text, for the log */
} cdc_authz_t;

/* Judges batch. Returns 0: judged in the server, ok[] final (done does not
 * run); 1: checks sent, done runs later; -1: a table of the batch is not
 * in the catalog (read it again, then retry); -2: no check could be sent
 * (retry later). Only one batch at a time (cdc_authz_busy). */
int cdc_authz_begin(cdc_eng_t *e, cdc_tx_t *batch);
static inline int cdc_authz_busy(const cdc_authz_t *a) { return a->batch != NULL; }
/* Frees the state (not a batch in flight: its owner frees that). */
void cdc_authz_free(cdc_authz_t *a);

#endif
