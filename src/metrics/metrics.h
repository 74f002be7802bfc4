/*
 * metrics: counters and gauges for GET /metrics (Prometheus text format).
 * Each thread owns a block and is its only writer, so counting costs a
 * plain load and store, never a locked instruction; the reader sums the
 * blocks. It never formats anything but the exposition text.
 */
#ifndef TC_METRICS_H
#define TC_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "util/buf.h"

typedef enum {
    M_CONNECTIONS, /* gauge: open WebSocket connections */
    M_CHANNELS,    /* gauge: joined channels */
    M_CONNECTS,    /* WebSocket upgrades accepted */
    M_MSG_IN,      /* protocol messages received */
    M_MSG_OUT,     /* frames queued to clients */
    M_BYTES_IN,
    M_BYTES_OUT,
    M_JOINS,
    M_JOIN_ERRORS,
    M_BROADCASTS,      /* broadcasts published (each fans out to many) */
    M_PRESENCE,        /* presence track/untrack */
    M_PROTOCOL_ERRORS, /* malformed frames or messages */
    M_AUTH_ERRORS,     /* refused tokens */
    M_RATE_LIMITED,
    M_SLOW_CLOSES, /* clients closed because their send queue filled */
    M_IDLE_CLOSES, /* clients closed for missing heartbeats */
    M_HTTP_REQUESTS,
    M_CDC_TXS,       /* transactions delivered by the CDC thread */
    M_CDC_EVENTS,    /* postgres_changes hub messages published (one per topic per change) */
    M_CDC_CHECKS,    /* row-level security checks run in the database (row x claims) */
    M_CDC_STREAMING, /* gauge: 1 while the replication stream is up */
    M_CDC_CHANNELS,  /* gauge: channels with Postgres Changes bindings */
    M_CDC_QUEUED,    /* gauge: committed transactions waiting to be delivered */
    /* isolation: refusals and containment, one counter per limit */
    M_LIM_BINDINGS,    /* joins refused: bindings per join or per connection */
    M_LIM_FILTER,      /* joins refused: filter too long */
    M_LIM_PRESENCE,    /* presence tracks refused: payload size or tracks per connection */
    M_LIM_CONNS_IP,    /* connections refused: per client address */
    M_LIM_CHANNELS_IP, /* joins refused: channels per client address */
    M_LIM_FILES,       /* connections refused: near the file descriptor limit */
    M_HTTP_TIMEOUTS,   /* HTTP requests closed for a header, body or idle deadline */
    M_CDC_BUDGET,      /* (change, client address) pairs whose filter work hit the budget */
    M_CDC_PAUSES,      /* times the replication stream was paused for a full queue */
    M_CDC_QUEUE_BYTES, /* gauge: decoded changes waiting for delivery, bytes */
    M_CDC_BACKLOG,     /* gauge: Postgres Changes bytes queued to clients, not yet written */
    M_CDC_LAG_MS,      /* gauge: commit to publication of the last transaction published, ms */
    /* the change history and resumes (cdc/history, cdc/resume) */
    M_CDC_HISTORY_CHANGES, /* gauge: changes kept */
    M_CDC_HISTORY_BYTES,   /* gauge: their bytes */
    M_CDC_HISTORY_EVICTED, /* changes the history let go (age or bytes) */
    M_CDC_CATCHING_UP,     /* gauge: channels replaying from the history */
    M_CDC_RESUMES,         /* joins that resumed */
    M_CDC_RESUME_MISSES,   /* joins that asked to resume and could not (or fell out of the history) */
    M_CDC_REPLAYED,        /* changes queued for replay (before authorization) */
    M_COUNT
} met_id_t;

typedef struct {
    _Atomic uint64_t v[M_COUNT];
} met_block_t;

/* The calling thread's block; set once per thread with met_register. */
extern _Thread_local met_block_t *met_local;

/* Registers a block owned by the calling thread (lives as long as the
 * process). At most 64 threads. */
void met_register(met_block_t *b);

static inline void met_add(met_id_t id, int64_t n) {
    if (!met_local)
        return;
    uint64_t v = atomic_load_explicit(&met_local->v[id], memory_order_relaxed);
    atomic_store_explicit(&met_local->v[id], v + (uint64_t)n, memory_order_relaxed);
}

/* For gauges one thread owns: sets its block's value. */
static inline void met_set(met_id_t id, uint64_t v) {
    if (met_local)
        atomic_store_explicit(&met_local->v[id], v, memory_order_relaxed);
}

uint64_t met_sum(met_id_t id);
/* Appends the Prometheus exposition text to *out. */
void met_render(buf_t **out);

#endif
