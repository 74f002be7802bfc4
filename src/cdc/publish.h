/*
 * cdc/publish: the last step of the CDC engine. An authorized batch goes
 * out change by change, in commit order: each change's data, encoded once
 * when it was decoded, becomes one hub message per (topic, data) naming
 * the authorized bindings' wire ids and routed to the authorized channels
 * only, while the clients' backlog (hub pacing) allows; the batch's last
 * end LSN is confirmed to PostgreSQL once all of it is out.
 *
 * It owns the batch being published and frees it. It never publishes a
 * match whose ok flag is 0, and never confirms an LSN before every message
 * up to it was handed to the workers.
 */
#ifndef TC_CDC_PUBLISH_H
#define TC_CDC_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

typedef struct cdc_eng cdc_eng_t;
typedef struct cdc_tx cdc_tx_t;

typedef struct {
    cdc_tx_t *batch; /* the batch being published (NULL: none) */
    cdc_tx_t *tx;    /* its transaction (or part) being published */
    size_t i;        /* next change of tx */
    uint64_t end;    /* highest end LSN of the batch published so far */
    int waiting;     /* waiting for the backlog to drain */
} cdc_pub_t;

/* Takes batch (authorized) and publishes as much as the backlog allows. */
void cdc_pub_batch(cdc_eng_t *e, cdc_tx_t *batch);
/* Publishes more of the current batch, if the backlog allows. */
void cdc_pub_some(cdc_eng_t *e);
static inline int cdc_pub_busy(const cdc_pub_t *p) { return p->batch != NULL; }
/* A worker saw the backlog drain. */
static inline void cdc_pub_drained(cdc_pub_t *p) { p->waiting = 0; }
/* Frees the batch being published (at stop). */
void cdc_pub_free(cdc_eng_t *e);

#endif
