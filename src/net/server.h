/*
 * net/server: the process-wide state every thread reads (configuration,
 * keys) and the worker threads: one libuv loop per core, each with its own
 * SO_REUSEPORT listener so the kernel spreads connections across them, an
 * inbox through which other threads hand it hub messages, a one-second tick
 * for timeouts and a check phase that flushes batched writes.
 * A connection lives and dies on the worker that accepted it; no other
 * thread touches it.
 */
#ifndef TC_NET_SERVER_H
#define TC_NET_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "auth/jwt.h"
#include "metrics/metrics.h"
#include "util/config.h"

#define SRV_MAX_WORKERS 16
#define SRV_READ_BUF (64 * 1024)

struct conn;
struct hub_msg;
struct db_pool;

typedef struct worker {
    int id;
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t wake;       /* inbox has messages, or stop/drain requested */
    uv_timer_t tick;       /* every second: idle clients, expired tokens */
    uv_check_t flush;      /* after each poll: write what was queued */
    uv_timer_t drain_timer;
    pthread_t thread;
    met_block_t met;
    int64_t now_ms;        /* loop time, refreshed each iteration */
    int64_t now_s;         /* wall clock seconds, for token expiry */
    struct db_pool *db;    /* this worker's PostgreSQL connections, or NULL */
    struct conn *conns;    /* every open connection (intrusive list) */
    struct conn *dirty;    /* connections with queued bytes to flush */
    /* bytes of paced buffers (buf_t.paced) in this worker's send queues:
     * written by this worker only, read by the CDC thread's pacing */
    _Atomic size_t paced_bytes;
    pthread_mutex_t inbox_mu;
    struct hub_msg **inbox;
    size_t inbox_len, inbox_cap;
    atomic_int drain_requested;
    int draining;
    int stopped;           /* loop finishing: inbox closed (under inbox_mu) */
    /* run after the next flush of queued writes (worker_after_flush) */
    struct { void (*fn)(uint64_t); uint64_t arg; } *after_flush;
    size_t nafter, capafter;
    uint8_t rbuf[SRV_READ_BUF];
} worker_t;

typedef struct {
    config_t cfg;
    jwt_keyring_t *keys;
    int nworkers;
    worker_t *workers;
    atomic_int nconns;
} server_t;

extern server_t srv;
extern _Thread_local worker_t *worker_self;

/* Binds every worker's listener and starts the threads. Returns 0 or -1
 * (logged). */
int srv_start(void);
/* Asks every worker to drain: stop accepting, close clients with 1001,
 * then stop its loop once they are gone or the drain timeout passed. */
void srv_drain(void);
void srv_join(void);

/* Runs fn(arg) on the calling worker once what is queued now has been
 * handed to the kernel (end of this loop iteration's check phase): for
 * work that must follow a response on the wire. */
void worker_after_flush(void (*fn)(uint64_t), uint64_t arg);

/* Hands msg (the caller's reference moves to the worker) to worker w, from
 * any thread. */
void worker_post(worker_t *w, struct hub_msg *msg);

#endif
