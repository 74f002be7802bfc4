/*
 * cdc/engine: see engine.h. The entry point of the CDC engine: the thread
 * and its libuv loop, the command queue workers post to, the replication
 * stream's callbacks (decoded messages go to cdc/txq) and the catalog.
 * The rest lives beside it, sharing one state struct (cdc/engine_int.h):
 *   cdc/clients  the registry of joined channels, wire ids, budgets
 *   cdc/join     joins: validate and register bindings, answer the worker
 *   cdc/txq      the transaction queue: match, hold, batch, in order
 *   cdc/authz    the row-level security verdict on a batch
 *   cdc/publish  encode once, fan out through the hub, confirm the LSN
 * This file owns the only instance of that struct; every other function
 * gets it as an argument. It never matches, judges or publishes a change.
 */
#include "cdc/engine.h"

#include <malloc.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cdc/engine_int.h"
#include "cdc/join.h"
#include "cdc/messages.h"
#include "hub/hub.h"
#include "metrics/metrics.h"
#include "util/log.h"
#include "util/mem.h"

#define PROTO_VERSION 1
#define CATALOG_MAX_AGE_MS 5000 /* policies and tables are re-read this often while in use */
#define TICK_MS 100
#define TRIM_BYTES (16u << 20)              /* after a burst that held this much, memory goes back to the system */
#define MAINTAIN_EVERY_MS UINT64_C(3600000) /* realtime.messages partitions: created ahead, dropped when old */
#define MAINTAIN_AHEAD_DAYS "3"

/* The engine. The public API (engine.h) has no handle, so its functions
 * reach it here; nothing else does. */
static cdc_eng_t engine = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void update_hold(cdc_eng_t *e);

/* ---- catalog ---------------------------------------------------------------- */

static void apply_type_bases(cdc_eng_t *e) {
    if (!e->cat || !e->dec)
        return;
    for (size_t i = 0; i < cdc_cat_count(e->cat); i++) {
        const cdc_table_t *t = cdc_cat_at(e->cat, i);
        for (size_t k = 0; k < t->ncols; k++)
            if (t->conv_oids[k] != t->type_oids[k]) {
                pgo_type_set_base(e->dec, t->type_oids[k], t->conv_oids[k]);
                if (e->hist.types) /* replays encode with the history's types */
                    pgo_type_set_base(e->hist.types, t->type_oids[k], t->conv_oids[k]);
            }
    }
}

static void on_catalog(void *ud, PGresult *const *results, int n, const char *error) {
    cdc_eng_t *e = ud;
    e->cat_loading = 0;
    char err[256];
    cdc_catalog_t *c = NULL;
    if (error)
        snprintf(err, sizeof(err), "%s", error);
    else if (n != 2)
        snprintf(err, sizeof(err), "catalog query: no result");
    else
        c = cdc_cat_load(results[0], results[1], e->cfg.table_events, err, sizeof(err));
    if (!c) {
        log_warn("postgres changes: catalog not loaded", "\"error\":\"%.*s\"", (int)strcspn(err, "\"\\\n"), err);
        e->q.retry_at = cdc_eng_now(e) + CDC_ENG_RETRY_MS;
        return;
    }
    cdc_cat_unref(e->cat);
    e->cat = c;
    e->cat_gen++;
    e->cat_loaded_ms = cdc_eng_now(e);
    apply_type_bases(e);
    cdc_join_try(e);
    cdc_txq_pump(e);
}

void cdc_eng_request_catalog(cdc_eng_t *e) {
    if (e->cat_loading)
        return;
    const char *params[] = {e->cfg.publication};
    db_stmt_t st[2] = {{cdc_cat_sql(), 1, params, 0}, {cdc_cat_functions_sql(), 1, params, 0}};
    if (db_run(e->db, NULL, NULL, st, 2, on_catalog, e))
        e->cat_loading = 1;
}

/* ---- commands ---------------------------------------------------------------- */

void cdc_cmd_free(cdc_cmd_t *c) {
    free(c->topic);
    free(c->claims);
    free(c->bindings);
    free(c->resume);
    free(c);
}

/* Wakes the loop through a; a failure (a handle not initialized, which
 * would be a bug) is logged: the timer still picks the work up. */
static void wake_send(uv_async_t *a) {
    int rc = uv_async_send(a);
    if (rc)
        log_warn("postgres changes: could not wake the CDC thread", "\"error\":\"%s\"", uv_strerror(rc));
}

static void process_commands(cdc_eng_t *e) {
    /* new joins go after those already waiting, in the order they came */
    cdc_cmd_t **joins_tail = NULL;
    pthread_mutex_lock(&e->mu);
    cdc_cmd_t *list = e->cmds;
    e->cmds = NULL;
    e->cmds_tail = &e->cmds;
    pthread_mutex_unlock(&e->mu);
    while (list) {
        cdc_cmd_t *c = list;
        list = c->next;
        c->next = NULL;
        cdc_client_t *cl;
        switch (c->kind) {
        case CDC_CMD_JOIN: cdc_join_enqueue(e, c, &joins_tail); continue;
        case CDC_CMD_LIVE:
            if ((cl = cdc_cli_find(&e->reg, c->client)) && !cl->live) {
                cl->live = 1;
                cdc_resume_live(e, cl); /* its start, its system message, its catching up */
            }
            break;
        case CDC_CMD_LEAVE: cdc_cli_remove(&e->reg, c->client); break;
        case CDC_CMD_WRITTEN: cdc_txq_written(e, c->client); break;
        case CDC_CMD_CLAIMS:
            if ((cl = cdc_cli_find(&e->reg, c->client))) {
                cdc_cli_set_claims(cl, c->role, c->claims);
                c->claims = NULL;
            }
            break;
        }
        cdc_cmd_free(c);
    }
    if (e->joins)
        cdc_join_try(e);
}

/* Queues c for the CDC thread; -1 (c freed) once it is stopping. */
static int post(cdc_eng_t *e, cdc_cmd_t *c) {
    pthread_mutex_lock(&e->mu);
    if (e->stop_requested || !atomic_load(&e->running)) {
        pthread_mutex_unlock(&e->mu);
        cdc_cmd_free(c);
        return -1;
    }
    *e->cmds_tail = c;
    e->cmds_tail = &c->next;
    wake_send(&e->wake);
    pthread_mutex_unlock(&e->mu);
    return 0;
}

uint64_t cdc_engine_join(const cdc_join_req_t *req) {
    cdc_eng_t *e = &engine;
    cdc_cmd_t *c = xcalloc(1, sizeof(*c));
    c->kind = CDC_CMD_JOIN;
    c->client = atomic_fetch_add(&e->next_client, 1);
    c->worker = req->worker;
    c->topic = xstrndup(req->topic, req->topic_len);
    c->topic_len = req->topic_len;
    c->is_private = req->is_private;
    c->role = cdc_cat_role(req->role);
    c->claims = xstrdup(req->claims ? req->claims : "{}");
    c->bindings = xstrdup(req->bindings);
    c->peer = req->peer;
    c->resume = req->resume ? xstrdup(req->resume) : NULL;
    c->done = req->done;
    c->ud = req->ud;
    uint64_t id = c->client;
    return post(e, c) < 0 ? 0 : id;
}

static void post_simple(cdc_cmd_kind_t kind, uint64_t client, const char *role, const char *claims) {
    cdc_cmd_t *c = xcalloc(1, sizeof(*c));
    c->kind = kind;
    c->client = client;
    c->role = cdc_cat_role(role);
    c->claims = claims ? xstrdup(claims) : NULL;
    (void)post(&engine, c);
}

void cdc_engine_mark_text(uint64_t mark, char *out, size_t outsz) {
    snprintf(out, outsz, "%016llx:%llu", (unsigned long long)engine.instance, (unsigned long long)mark);
}

uint64_t cdc_engine_mark(void) {
    return atomic_load(&engine.streaming_now) ? atomic_fetch_add(&engine.next_mark, 1) : 0;
}
void cdc_engine_written(uint64_t mark) { post_simple(CDC_CMD_WRITTEN, mark, NULL, NULL); }

void cdc_engine_live(uint64_t client) { post_simple(CDC_CMD_LIVE, client, NULL, NULL); }
void cdc_engine_leave(uint64_t client) { post_simple(CDC_CMD_LEAVE, client, NULL, NULL); }
void cdc_engine_claims(uint64_t client, const char *role, const char *claims) {
    post_simple(CDC_CMD_CLAIMS, client, role, claims ? claims : "{}");
}

int cdc_engine_running(void) { return atomic_load(&engine.running); }
int cdc_engine_messages_live(void) { return atomic_load(&engine.running) && atomic_load(&engine.messages_live); }

/* A worker saw the clients' backlog drain (hub_paced_notify). */
void cdc_eng_backlog_low(void) {
    cdc_eng_t *e = &engine;
    /* e->mu orders this against cdc_engine_stop: once stop is requested the
     * handle may be closing. */
    pthread_mutex_lock(&e->mu);
    if (!e->stop_requested)
        wake_send(&e->drained);
    pthread_mutex_unlock(&e->mu);
}

/* ---- the stream ------------------------------------------------------------ */

static void on_message(void *ud, uint64_t wal_start, const uint8_t *data, size_t len) {
    cdc_eng_t *e = ud;
    (void)wal_start;
    /* A join or leave posted before these bytes were written applies to them. */
    process_commands(e);
    pgo_msg_t m;
    char err[160];
    if (pgo_decode(e->dec, data, len, &m, err, sizeof(err)) < 0) {
        log_warn("postgres changes: undecodable message skipped", "\"error\":\"%s\"", err);
        return;
    }
    switch (m.kind) {
    case PGO_BEGIN: cdc_txq_begin(e, &m); break;
    case PGO_INSERT:
    case PGO_UPDATE:
    case PGO_DELETE: cdc_txq_change(e, &m); break;
    case PGO_MESSAGE: cdc_txq_message(e, &m); break;
    case PGO_COMMIT: cdc_txq_commit(e, &m); break;
    case PGO_TYPE: cdc_hist_type(&e->hist, data, len); break;
    case PGO_RELATION: {
        cdc_hist_relation(&e->hist, m.rel); /* the history keeps each shape its changes had */
        const cdc_table_t *tb = e->cat ? cdc_cat_by_oid(e->cat, m.rel->relid) : NULL;
        if (!tb && cdc_msg_is_messages(m.rel))
            break; /* Broadcast from the database: not a Postgres Changes table */
        if (!tb || tb->ncols != m.rel->ncols)
            cdc_eng_request_catalog(e); /* new or altered table */
        else
            for (size_t k = 0; k < tb->ncols; k++)
                if (tb->conv_oids[k] != tb->type_oids[k])
                    pgo_type_set_base(e->dec, tb->type_oids[k], tb->conv_oids[k]);
        break;
    }
    default: break;
    }
    pgo_msg_clear(&m);
}

static void on_streaming(void *ud) {
    cdc_eng_t *e = ud;
    pgo_decoder_free(e->dec);
    e->dec = pgo_decoder_new(PROTO_VERSION);
    apply_type_bases(e);
    e->streaming = 1;
    atomic_store(&e->streaming_now, 1);
    atomic_store(&e->messages_live, e->stream && cdc_stream_has_second(e->stream));
    if (e->stream)
        cdc_hist_stream_start(&e->hist, cdc_stream_start_lsn(e->stream), e->confirmed);
    update_hold(e);
    log_info("postgres changes: streaming", "\"slot\":\"%s\",\"publication\":\"%s\",\"broadcast_from_database\":%s",
             e->cfg.slot, e->cfg.publication, atomic_load(&e->messages_live) ? "true" : "false");
    cdc_join_try(e);
}

static void on_lost(void *ud, const char *why) {
    cdc_eng_t *e = ud;
    if (e->streaming)
        log_warn("postgres changes: replication stream lost", "\"why\":\"%.*s\"", (int)strcspn(why, "\"\\\n"), why);
    e->streaming = 0;
    atomic_store(&e->streaming_now, 0);
    atomic_store(&e->messages_live, 0);
    cdc_txq_lost(e);
}

static cdc_stream_t *open_stream(cdc_eng_t *e) {
    cdc_stream_config_t sc = {.host = e->cfg.host,
                              .port = e->cfg.port,
                              .user = e->cfg.repl_user,
                              .password = e->cfg.repl_password,
                              .dbname = e->cfg.dbname,
                              .slot = e->cfg.slot,
                              .publication = e->cfg.publication,
                              .publication2 = e->cfg.messages_publication,
                              .proto_version = PROTO_VERSION,
                              .streaming = 0,
                              .status_interval_ms = 1000};
    cdc_stream_cb_t cb = {on_message, on_streaming, on_lost};
    cdc_stream_t *st = cdc_stream_new(&e->loop, &sc, &cb, e);
    if (st && e->q.paused)
        cdc_stream_pause(st, 1);
    return st;
}

void cdc_eng_restart_stream(cdc_eng_t *e, const char *why) {
    if (!e->stream)
        return;
    log_warn("postgres changes: closing the replication stream", "\"why\":\"%s\"", why);
    cdc_stream_close(e->stream);
    e->stream = NULL;
    e->stream_retry_at = cdc_eng_now(e) + CDC_ENG_RETRY_MS;
    on_lost(e, why);
}

/* ---- what the slot may let go ----------------------------------------------- */

/* The slot keeps what a restart needs: what was not handed to the workers
 * yet, and with a history (cdc/history) its window, which a restarted
 * server decodes again, so a resume survives kill -9: the stream is held
 * at what the history's floor allows. */
static void update_hold(cdc_eng_t *e) {
    if (!cdc_hist_enabled(&e->hist))
        return;
    uint64_t lsn = cdc_hist_slot_lsn(&e->hist, cdc_eng_pg_now_us());
    if (lsn > e->confirmed)
        e->confirmed = lsn;
    if (e->stream)
        cdc_stream_hold(e->stream, lsn);
}

void cdc_eng_confirm(cdc_eng_t *e, uint64_t delivered_end) {
    if (e->stream && delivered_end)
        cdc_stream_confirm(e->stream, delivered_end); /* it keeps the highest */
    update_hold(e);
}

uint64_t cdc_eng_wal_end(cdc_eng_t *e) {
    uint64_t now = e->stream ? cdc_stream_wal_end(e->stream) : 0;
    if (now > e->wal_end)
        e->wal_end = now; /* kept across reconnects: the WAL only grows */
    return e->wal_end;
}

/* ---- realtime.messages upkeep ------------------------------------------------- */

static void on_maintained(void *ud, PGresult *const *results, int n, const char *error) {
    cdc_eng_t *e = ud;
    e->maintaining = 0;
    if (error || n < 1 || PQresultStatus(results[0]) != PGRES_TUPLES_OK || PQntuples(results[0]) != 1) {
        const char *why = error ? error : n >= 1 ? PQresultErrorMessage(results[0]) : "no result";
        /* a database without migration 011 has nothing to maintain: say so, try again later */
        log_warn("broadcast from database: realtime.messages partition upkeep failed", "\"error\":\"%.*s\"",
                 (int)strcspn(why, "\"\\\n"), why);
        return;
    }
    log_info("broadcast from database: realtime.messages partitions kept",
             "\"created\":%s,\"dropped\":%s,\"pruned\":%s,\"retention_hours\":%d", PQgetvalue(results[0], 0, 0),
             PQgetvalue(results[0], 0, 1), PQgetvalue(results[0], 0, 2), e->cfg.messages_retention_hours);
}

/* Creates the days ahead and drops the days past retention, at start and
 * every hour, as service_role (the function is SECURITY DEFINER as the
 * table's owner). */
static void maintain_messages(cdc_eng_t *e, uint64_t now) {
    if (!e->cfg.messages_publication || e->cfg.messages_retention_hours <= 0 || e->maintaining || now < e->maintain_at)
        return;
    char keep[32];
    snprintf(keep, sizeof(keep), "%d hours", e->cfg.messages_retention_hours);
    const char *params[] = {keep, MAINTAIN_AHEAD_DAYS};
    db_stmt_t st[1] = {{cdc_msg_maintain_sql(), 2, params, 0}};
    e->maintain_at = now + MAINTAIN_EVERY_MS;
    if (db_run(e->db, "service_role", "{\"role\":\"service_role\"}", st, 1, on_maintained, e))
        e->maintaining = 1;
}

/* ---- the thread ---------------------------------------------------------------- */

static void update_gauges(cdc_eng_t *e) {
    met_set(M_CDC_STREAMING, (uint64_t)e->streaming);
    met_set(M_CDC_CHANNELS, cdc_cli_count(&e->reg));
    met_set(M_CDC_QUEUED, cdc_txq_length(e));
    size_t backlog = hub_paced_backlog();
    met_set(M_CDC_QUEUE_BYTES, e->q.queued_bytes);
    met_set(M_CDC_BACKLOG, backlog);
    met_set(M_CDC_HISTORY_CHANGES, cdc_hist_len(&e->hist));
    met_set(M_CDC_HISTORY_BYTES, e->hist.bytes);
    met_set(M_CDC_HISTORY_EVICTED, e->hist.evicted);
    met_set(M_CDC_CATCHING_UP, e->rs.n);
    if (e->q.queued_bytes > TRIM_BYTES || backlog > TRIM_BYTES)
        e->q.trim_due = 1;
    /* A burst's memory was freed across threads in many small pieces: give
     * it back to the system once it is all gone, rather than keeping the
     * peak resident. */
    if (e->q.trim_due && e->q.queued_bytes == 0 && backlog == 0 && !cdc_pub_busy(&e->pub)) {
        e->q.trim_due = 0;
        malloc_trim(0);
    }
}

static void on_timer(uv_timer_t *t) {
    cdc_eng_t *e = t->data;
    uint64_t now = cdc_eng_now(e);
    if (e->drained_ms)
        cdc_cli_budget_drain(&e->reg, e->cfg.match_rate, now - e->drained_ms);
    e->drained_ms = now;
    update_gauges(e);
    if (!e->stream && !e->stopping && now >= e->stream_retry_at)
        e->stream = open_stream(e);
    process_commands(e);
    if (e->joins)
        cdc_join_try(e);
    maintain_messages(e, now);
    int64_t pg_now = cdc_eng_pg_now_us();
    cdc_hist_evict(&e->hist, pg_now);
    cdc_hist_sample(&e->hist, pg_now, cdc_eng_wal_end(e));
    update_hold(e); /* the window moved on: the slot may let the oldest go */
    cdc_resume_positions(e);
    int in_use = cdc_cli_count(&e->reg) || e->joins;
    if (!e->cat_loading && in_use && now - e->cat_loaded_ms > CATALOG_MAX_AGE_MS)
        cdc_eng_request_catalog(e);
    cdc_txq_pump(e);
}

static void close_cb(uv_handle_t *h, void *arg) {
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Closes the stream, the pool and every handle: the loop then ends. */
static void shutdown_engine(cdc_eng_t *e) {
    if (e->stream) {
        cdc_stream_close(e->stream);
        e->stream = NULL;
    }
    if (e->db) {
        db_pool_close(e->db);
        e->db = NULL;
    }
    uv_walk(&e->loop, close_cb, NULL);
}

static void on_drained(uv_async_t *a) {
    cdc_eng_t *e = a->data;
    cdc_pub_drained(&e->pub);
    cdc_txq_pump(e);
}

static void on_wake(uv_async_t *a) {
    cdc_eng_t *e = a->data;
    pthread_mutex_lock(&e->mu);
    int stop = e->stop_requested;
    pthread_mutex_unlock(&e->mu);
    if (stop) {
        e->stopping = 1;
        shutdown_engine(e);
        return;
    }
    process_commands(e);
    cdc_txq_pump(e);
}

static met_block_t engine_met;

static void *engine_main(void *arg) {
    cdc_eng_t *e = arg;
    met_register(&engine_met);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* Copies cfg's strings (e->strs owns them) and applies the defaults. */
static void copy_config(cdc_eng_t *e, const cdc_engine_config_t *cfg) {
    const char *const src[CDC_STR_COUNT] = {
        [CDC_STR_HOST] = cfg->host,
        [CDC_STR_PORT] = cfg->port,
        [CDC_STR_USER] = cfg->user,
        [CDC_STR_PASSWORD] = cfg->password,
        [CDC_STR_DBNAME] = cfg->dbname,
        [CDC_STR_REPL_USER] = cfg->repl_user,
        [CDC_STR_REPL_PASSWORD] = cfg->repl_password,
        [CDC_STR_SLOT] = cfg->slot,
        [CDC_STR_PUBLICATION] = cfg->publication,
        [CDC_STR_TABLE_EVENTS] = cfg->table_events,
        [CDC_STR_MESSAGES_PUBLICATION] =
            cfg->messages_publication && cfg->messages_publication[0] ? cfg->messages_publication : NULL,
    };
    for (int i = 0; i < CDC_STR_COUNT; i++)
        e->strs[i] = src[i] ? xstrdup(src[i]) : NULL;
    e->cfg.host = e->strs[CDC_STR_HOST];
    e->cfg.port = e->strs[CDC_STR_PORT];
    e->cfg.user = e->strs[CDC_STR_USER];
    e->cfg.password = e->strs[CDC_STR_PASSWORD];
    e->cfg.dbname = e->strs[CDC_STR_DBNAME];
    e->cfg.repl_user = e->strs[CDC_STR_REPL_USER];
    e->cfg.repl_password = e->strs[CDC_STR_REPL_PASSWORD];
    e->cfg.slot = e->strs[CDC_STR_SLOT];
    e->cfg.publication = e->strs[CDC_STR_PUBLICATION];
    e->cfg.table_events = e->strs[CDC_STR_TABLE_EVENTS];
    e->cfg.messages_publication = e->strs[CDC_STR_MESSAGES_PUBLICATION];
    e->cfg.messages_retention_hours = cfg->messages_retention_hours;
    e->cfg.messages_max_bytes = cfg->messages_max_bytes ? cfg->messages_max_bytes : (1u << 20);
    e->cfg.join_timeout_ms = cfg->join_timeout_ms > 0 ? cfg->join_timeout_ms : 8000;
    e->cfg.write_grace_ms = cfg->write_grace_ms >= 0 ? cfg->write_grace_ms : 0;
    e->cfg.queue_max = cfg->queue_max ? cfg->queue_max : (64u << 20);
    e->cfg.backlog_max = cfg->backlog_max ? cfg->backlog_max : (64u << 20);
    e->cfg.match_budget = cfg->match_budget ? cfg->match_budget : 1000000;
    e->cfg.match_rate = cfg->match_rate ? cfg->match_rate : 100000000;
    e->cfg.history_seconds = cfg->history_seconds > 0 ? cfg->history_seconds : 0;
    e->cfg.history_max_bytes = cfg->history_max_bytes ? cfg->history_max_bytes : (64u << 20);
    e->cfg.position_every_ms = cfg->position_every_ms > 0 ? cfg->position_every_ms : 30000;
}

/* The loop's handles. Returns 0, or -1 (logged) with the loop initialized
 * and the handles made so far open: the caller closes them (close_loop). */
static int init_handles(cdc_eng_t *e) {
    int rc;
    const char *what = "uv_async_init";
    if ((rc = uv_async_init(&e->loop, &e->wake, on_wake)) || (rc = uv_async_init(&e->loop, &e->drained, on_drained)))
        goto fail;
    what = "uv_timer_init";
    if ((rc = uv_timer_init(&e->loop, &e->timer)) || (rc = uv_timer_init(&e->loop, &e->hold_timer)) ||
        (rc = uv_timer_init(&e->loop, &e->resume_timer)))
        goto fail;
    e->wake.data = e->drained.data = e->timer.data = e->hold_timer.data = e->resume_timer.data = e;
    what = "uv_timer_start";
    if ((rc = uv_timer_start(&e->timer, on_timer, TICK_MS, TICK_MS)))
        goto fail;
    return 0;
fail:
    log_error("postgres changes: CDC loop setup failed", "\"call\":\"%s\",\"error\":\"%s\"", what, uv_strerror(rc));
    return -1;
}

/* Undoes a start that got as far as an initialized loop: closes what it
 * opened, lets the loop finish closing, closes the loop. */
static void close_loop(cdc_eng_t *e) {
    shutdown_engine(e);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&e->loop);
    if (rc)
        log_warn("postgres changes: CDC loop not closed", "\"error\":\"%s\"", uv_strerror(rc));
}

/* Frees everything the engine holds besides the loop (at stop, or after a
 * failed start). Waiting joins are refused through their workers. */
static void free_state(cdc_eng_t *e) {
    cdc_join_cancel_all(e);
    for (cdc_cmd_t *c = e->cmds, *n; c; c = n) {
        n = c->next;
        if (c->kind == CDC_CMD_JOIN)
            cdc_join_refuse(c, CDC_JOIN_STOPPING);
        cdc_cmd_free(c);
    }
    e->cmds = NULL;
    e->cmds_tail = &e->cmds;
    cdc_txq_free(e);
    cdc_txq_free_batch(e, e->az.batch);
    e->az.batch = NULL;
    cdc_pub_free(e);
    cdc_resume_free(e);
    cdc_cli_free(&e->reg); /* after every batch and the resume list: they hold client references */
    cdc_hist_free(&e->hist);
    cdc_cat_unref(e->cat);
    e->cat = NULL;
    pgo_decoder_free(e->dec);
    e->dec = NULL;
    cdc_authz_free(&e->az);
    for (int i = 0; i < CDC_STR_COUNT; i++) {
        free(e->strs[i]);
        e->strs[i] = NULL;
    }
}

int cdc_engine_start(const cdc_engine_config_t *cfg) {
    cdc_eng_t *e = &engine;
    char err[256];
    if (cdc_cat_limits_check(cfg->table_events, err, sizeof(err)) < 0) {
        log_error("bad configuration", "\"error\":\"%s\"", err);
        return -1;
    }
    copy_config(e, cfg);
    atomic_init(&e->next_client, 1);
    atomic_init(&e->next_mark, 1);
    if (RAND_bytes((unsigned char *)&e->instance, sizeof(e->instance)) != 1)
        e->instance = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    e->cmds_tail = &e->cmds;
    cdc_cli_init(&e->reg);
    cdc_txq_init(&e->q);
    cdc_hist_init(&e->hist, e->cfg.history_seconds, e->cfg.history_max_bytes);
    int rc = uv_loop_init(&e->loop);
    if (rc) {
        log_error("postgres changes: CDC loop setup failed", "\"call\":\"uv_loop_init\",\"error\":\"%s\"",
                  uv_strerror(rc));
        goto fail_state;
    }
    if (init_handles(e) < 0)
        goto fail_loop;
    db_config_t dc = {e->cfg.host, e->cfg.port, e->cfg.user, e->cfg.password, e->cfg.dbname, 2, 1 << 20};
    e->db = db_pool_new(&e->loop, &dc);
    e->stream = open_stream(e);
    if (!e->stream)
        goto fail_loop; /* cdc_stream_new logged why */
    e->dec = pgo_decoder_new(PROTO_VERSION);
    cdc_eng_request_catalog(e);
    atomic_store(&e->running, 1);
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0) {
        log_error("thread creation failed", "\"thread\":\"cdc\"");
        atomic_store(&e->running, 0);
        goto fail_loop;
    }
    return 0;
fail_loop:
    e->stopping = 1; /* nothing may start a timer or reopen the stream now */
    close_loop(e);
fail_state:
    free_state(e);
    return -1;
}

void cdc_engine_stop(void) {
    cdc_eng_t *e = &engine;
    if (!atomic_load(&e->running))
        return;
    pthread_mutex_lock(&e->mu);
    e->stop_requested = 1;
    wake_send(&e->wake);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thread, NULL);
    atomic_store(&e->running, 0);
    /* What never got out: refuse waiting joins (through their workers,
     * which may still be draining), drop the rest. */
    free_state(e);
    int rc = uv_loop_close(&e->loop);
    if (rc)
        log_warn("postgres changes: CDC loop not closed", "\"error\":\"%s\"", uv_strerror(rc));
    /* e->mu is not destroyed: workers still draining their connections may
     * post a leave after we stopped; post() takes e->mu to see that we have,
     * so it must outlive us (it is static; nothing leaks). ThreadSanitizer
     * saw the destroy race such a post. */
}
