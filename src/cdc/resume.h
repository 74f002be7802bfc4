/*
 * cdc/resume: where a channel's Postgres Changes start, and the replay of
 * what a resuming channel missed (docs/PROTOCOL.md, "positions and
 * resume"). When a channel goes live it decides its start: the position it
 * resumes after, if the history (cdc/history) still holds everything
 * since, else the newest position (the database's WAL end or the last
 * change decoded, whichever is later). It tells the channel so in the
 * system message "Subscribed to PostgreSQL", routed through the hub.
 *
 * A resuming channel then catches up from the history, a chunk at a time:
 * each chunk is a transaction-queue entry (cdc/txq) holding only its
 * changes, so it is authorized like a live change, now, and paced like
 * one; its live changes are not delivered meanwhile (the history has them
 * too). The chunk that reaches the history's end switches it to live at
 * the last position decoded: the queue then holds its later changes behind
 * that chunk, so nothing is missed or repeated at the seam.
 *
 * It owns the list of channels catching up (a reference each) and its
 * scratch; it never publishes a change itself (cdc/publish does) and runs
 * on the CDC thread only.
 */
#ifndef TC_CDC_RESUME_H
#define TC_CDC_RESUME_H

#include <stddef.h>
#include <stdint.h>

#include "cdc/pgoutput.h"
#include "cdc/subs.h"

typedef struct cdc_eng cdc_eng_t;
struct cdc_client;

typedef struct {
    struct cdc_client **up; /* channels catching up (one reference each) */
    size_t n, cap, next;    /* next: where the round-robin over them goes on */
    uint64_t positions_at;  /* when cdc_resume_positions looks again (loop ms) */
    pgo_value_t *vals;      /* scratch: one history entry's values */
    cdc_cell_t *cells;
    uint8_t *unknown;
    size_t vcap, ccap;
    cdc_match_t *mbuf;
    size_t mcap;
} cdc_resume_t;

/* Client c just went live: decides its start, sends its system message,
 * and if it resumes, starts its catching up. */
void cdc_resume_live(cdc_eng_t *e, struct cdc_client *c);
/* Builds the next replay chunks (bounded work per call). Returns 1 if more
 * remains that could be done now (call again soon), 0 if it waits for
 * chunks to be published. */
int cdc_resume_pump(cdc_eng_t *e);
/* Called on every tick, works once a second: a live channel that was sent
 * nothing for the configured time (CDC_POSITION_EVERY_MS) gets the
 * position up to which everything was published, in a system message
 * "Position", so that a quiet channel's stored position stays inside the
 * history's window. */
void cdc_resume_positions(cdc_eng_t *e);
/* The replay chunk of client id was published. */
void cdc_resume_chunk_done(cdc_eng_t *e, uint64_t client);
void cdc_resume_free(cdc_eng_t *e);

#endif
