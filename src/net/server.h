/*
 * net/server: the worker threads: one libuv loop per core, each with its
 * own SO_REUSEPORT listener so the kernel spreads connections across them,
 * a mailbox (net/mailbox) through which other threads hand it work, a
 * one-second tick for timeouts and a check phase that flushes batched
 * writes. It is given its own configuration (srv_config_t) and the
 * handlers of the layers above (the stream handler new connections get,
 * the hooks of the check phase and of thread exit): it never names them.
 * A connection lives and dies on the worker that accepted it; no other
 * thread touches it.
 */
#ifndef TC_NET_SERVER_H
#define TC_NET_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "db/pool.h"
#include "metrics/metrics.h"
#include "net/conn.h"
#include "net/mailbox.h"

#define SRV_MAX_WORKERS 16
#define SRV_READ_BUF (64 * 1024)
/* Connections a worker keeps open beyond the connection ceiling, to answer
 * /health, /metrics or a 503 instead of a reset; their descriptors come
 * out of the reserve (srv_start). A new one sheds the oldest. */
#define SRV_OVERLOAD_PER_WORKER 8

struct conn;
struct db_pool;

/* What net needs, from main. Strings and pointers are borrowed: they must
 * outlive srv_join. */
typedef struct {
    const char *host;
    int port;
    int workers;
    int max_connections;       /* the connection ceiling, before descriptors */
    int max_open_files;        /* RLIMIT_NOFILE to ask for (0: the hard limit) */
    int max_conns_per_ip;      /* 0: no limit */
    size_t send_queue_max;     /* bytes of broadcast/presence queued to one client */
    int slow_consumer_ms;      /* above send_queue_max this long: closed (1013) */
    int heartbeat_interval_ms; /* WebSocket clients silent for twice this are closed */
    uint32_t max_message;      /* WebSocket message bytes */
    int drain_timeout_ms;
    const db_config_t *db; /* each worker's PostgreSQL pool, or NULL: no database */
    int cdc;               /* a CDC thread runs: its descriptors are reserved */
    /* what every accepted connection talks first (http/session) */
    const conn_stream_handler_t *accept;
    /* each loop iteration, after the writes (hub pacing); NULL: none */
    void (*after_flush)(void);
    /* on each worker thread as it ends (per-thread caches); NULL: none */
    void (*thread_exit)(void);
} srv_config_t;

typedef struct worker {
    int id;
    uv_loop_t loop;
    uv_tcp_t listener;
    mailbox_t mbox;   /* work from other threads (worker_post); wakes for drain too */
    uv_timer_t tick;  /* every second: idle clients, expired tokens */
    uv_check_t flush; /* after each poll: write what was queued */
    uv_timer_t drain_timer;
    pthread_t thread;
    met_block_t met;
    int64_t now_ms;     /* loop time, refreshed each iteration */
    int64_t now_s;      /* wall clock seconds, for token expiry */
    struct db_pool *db; /* this worker's PostgreSQL connections, or NULL */
    struct conn *conns; /* every open connection (intrusive list) */
    struct conn *dirty; /* connections with queued bytes to flush */
    atomic_int drain_requested;
    int draining;
    int stopped; /* loop finishing: mailbox closed */
    /* run after the next flush of queued writes (worker_after_flush) */
    struct {
        void (*fn)(uint64_t);
        uint64_t arg;
    } * after_flush;
    size_t nafter, capafter;
    uint8_t rbuf[SRV_READ_BUF];
    /* connections accepted above the ceiling, oldest first (net/conn) */
    struct conn *ovl_head, *ovl_tail;
    int novl;
    int64_t ovl_log_ms;    /* last "at the ceiling" warning (one a second) */
    uint64_t ovl_unlogged; /* connections accepted above the ceiling since */
    /* accept() failing for lack of descriptors or memory: the listener is
     * closed for a second (LISTEN_OPEN, _CLOSING, _CLOSED) */
    uv_timer_t relisten;
    int listener_state;
    int64_t accept_log_ms;
} worker_t;

typedef struct {
    srv_config_t net; /* copied by srv_start */
    int nworkers;
    worker_t *workers;
    atomic_int nconns;
    /* file descriptors (srv_start): the soft RLIMIT_NOFILE in force, the
     * part kept for everything that is not a client connection, and the
     * connection ceiling = min(max_connections, fd_limit - fd_reserve) */
    int fd_limit, fd_reserve, conn_ceiling;
} server_t;

extern server_t srv;
/* Bytes of paced buffers (buf_t.paced) in each worker's send queues:
 * written by that worker only, read by the CDC thread's pacing (hub). A
 * static array, so it can be read before the workers exist. */
extern _Atomic size_t srv_paced_bytes[SRV_MAX_WORKERS];
extern _Thread_local worker_t *worker_self;

/* Binds every worker's listener and starts the threads (cfg is copied).
 * Returns 0 or -1 (logged). */
int srv_start(const srv_config_t *cfg);
/* Asks every worker to drain: stop accepting, close clients with 1001,
 * then stop its loop once they are gone or the drain timeout passed. */
void srv_drain(void);
void srv_join(void);
/* The port worker w listens on (port 0 in srv_config_t: each worker's own
 * ephemeral one; tests). -1 if it has no listener. */
int srv_port(int w);

/* Runs fn(arg) on the calling worker once what is queued now has been
 * handed to the kernel (end of this loop iteration's check phase): for
 * work that must follow a response on the wire. */
void worker_after_flush(void (*fn)(uint64_t), uint64_t arg);

/* From any thread: runs fn(item, 1) on worker w, in posting order with
 * everything else posted to it; fn(item, 0) instead if w is stopping or its
 * mailbox is full (item is fn's either way). Returns 0, or -1 then. */
int worker_post(worker_t *w, mbox_fn fn, void *item);

/* Implemented by net/conn.c for the listener: closes the worker's oldest
 * connection accepted above the ceiling, freeing its descriptor at once.
 * Returns 1, or 0 if the worker has none. */
int conn_shed_overload(worker_t *w);

#endif
