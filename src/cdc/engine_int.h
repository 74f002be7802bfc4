/*
 * cdc/engine_int.h: the CDC engine's one state struct, private to the
 * engine's files: engine.c (thread, command queue, stream, catalog),
 * clients.c (registry), txq.c (transaction queue), authz.c (row-level
 * security checks), join.c (joins) and publish.c (encode and fan out).
 * Each member group names the file that writes it; the others may read it.
 * Everything is touched on the CDC thread only, except the members marked
 * "any thread". Nothing outside those files includes this header (tests
 * aside): the engine's public API is cdc/engine.h.
 */
#ifndef TC_CDC_ENGINE_INT_H
#define TC_CDC_ENGINE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "cdc/authz.h"
#include "cdc/catalog.h"
#include "cdc/clients.h"
#include "cdc/engine.h"
#include "cdc/history.h"
#include "cdc/pgoutput.h"
#include "cdc/publish.h"
#include "cdc/resume.h"
#include "cdc/stream.h"
#include "cdc/txq.h"
#include "db/pool.h"

#define CDC_ENG_RETRY_MS 1000 /* a failed catalog read, check or stream is tried again after this */

/* A command from a worker (engine.c's queue; join.c keeps waiting joins). */
typedef enum { CDC_CMD_JOIN, CDC_CMD_LIVE, CDC_CMD_LEAVE, CDC_CMD_CLAIMS, CDC_CMD_WRITTEN } cdc_cmd_kind_t;

typedef struct cdc_cmd cdc_cmd_t;
struct cdc_cmd {
    cdc_cmd_t *next;
    cdc_cmd_kind_t kind;
    uint64_t client; /* WRITTEN: the mark */
    int worker, is_private, role;
    char *topic, *claims, *bindings;
    char *resume; /* JOIN: postgres_changes_resume.after as sent, or NULL */
    size_t topic_len;
    void (*done)(void *, int, const char *, const char *);
    void *ud;
    uint64_t deadline_ms; /* JOIN: give up waiting for the stream */
    uint64_t peer;        /* JOIN: the client address (its filter work budget) */
    uint64_t cat_gen;     /* JOIN: catalog generation when it last found a table missing */
};

/* The configuration's strings, copied at start (cfg points at them). */
enum {
    CDC_STR_HOST,
    CDC_STR_PORT,
    CDC_STR_USER,
    CDC_STR_PASSWORD,
    CDC_STR_DBNAME,
    CDC_STR_REPL_USER,
    CDC_STR_REPL_PASSWORD,
    CDC_STR_SLOT,
    CDC_STR_PUBLICATION,
    CDC_STR_TABLE_EVENTS,
    CDC_STR_MESSAGES_PUBLICATION,
    CDC_STR_COUNT
};

struct cdc_eng {
    /* engine.c: configuration, thread, command queue */
    cdc_engine_config_t cfg;
    char *strs[CDC_STR_COUNT];
    pthread_t thread;
    uv_loop_t loop;
    uv_async_t wake;
    uv_async_t drained; /* a worker saw the clients' backlog drain */
    uv_timer_t timer;
    uv_timer_t hold_timer;   /* txq.c starts it: a held transaction's hold ends */
    uv_timer_t resume_timer; /* txq.c starts it: replay chunks remain to be built (cdc/resume) */
    pthread_mutex_t mu;      /* any thread: cmds, stop_requested */
    cdc_cmd_t *cmds, **cmds_tail;
    int stop_requested;
    atomic_int running;           /* any thread */
    _Atomic uint64_t next_client; /* any thread */
    _Atomic uint64_t next_mark;   /* any thread */
    atomic_int streaming_now;     /* any thread: streaming, for cdc_engine_mark */
    atomic_int messages_live;     /* any thread: streaming with the messages publication */
    uint64_t instance;            /* random, names this process in write marks */
    int stopping;
    uint64_t drained_ms; /* when the budgets' rate bound was last drained */

    /* engine.c: the stream, the decoder, the pool, the catalog */
    cdc_stream_t *stream;
    pgo_decoder_t *dec;
    int streaming;
    uint64_t stream_retry_at; /* stream closed by cdc_eng_restart_stream: reopen then */
    db_pool_t *db;
    cdc_catalog_t *cat;
    uint64_t cat_gen, cat_loaded_ms;
    int cat_loading;
    uint64_t claims_gen;  /* txq.c bumps it on changes to tables cached CLAIM values depend on */
    uint64_t maintain_at; /* next realtime.messages partition upkeep (0: now, once the pool is up) */
    int maintaining;

    uint64_t confirmed; /* highest LSN the stream was held at (cdc_hist_stream_start compares) */
    uint64_t wal_end;   /* the database's WAL end as last heard (cdc_eng_wal_end) */

    cdc_hist_t hist;  /* history.c: fed by txq.c, trimmed by engine.c's timer */
    cdc_resume_t rs;  /* resume.c */
    cdc_reg_t reg;    /* clients.c */
    cdc_cmd_t *joins; /* join.c: joins waiting for catalog or stream */
    cdc_txq_t q;      /* txq.c */
    cdc_authz_t az;   /* authz.c */
    cdc_pub_t pub;    /* publish.c */
};

static inline uint64_t cdc_eng_now(const cdc_eng_t *e) { return uv_now(&e->loop); }

/* engine.c: reads the catalog (once at a time); joins and queued work
 * resume when it is in. */
void cdc_eng_request_catalog(cdc_eng_t *e);
/* engine.c: closes the replication connection; the timer reopens it after
 * CDC_ENG_RETRY_MS. */
void cdc_eng_restart_stream(cdc_eng_t *e, const char *why);
/* engine.c: for hub_paced_notify, which passes no argument: wakes the
 * engine's loop (any thread). */
void cdc_eng_backlog_low(void);
void cdc_cmd_free(cdc_cmd_t *c);
/* engine.c: everything up to delivered_end was handed to the workers (0:
 * nothing new, the history's floor moved): confirms to the slot what
 * neither delivery nor the history still needs. */
void cdc_eng_confirm(cdc_eng_t *e, uint64_t delivered_end);
/* engine.c: the database's WAL end as last heard (the start position of a
 * join that does not resume). */
uint64_t cdc_eng_wal_end(cdc_eng_t *e);

/* Now in PostgreSQL's epoch (µs since 2000-01-01), by this machine's
 * clock: what commit times are compared with. */
static inline int64_t cdc_eng_pg_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((int64_t)ts.tv_sec - 946684800) * 1000000 + ts.tv_nsec / 1000;
}

#endif
