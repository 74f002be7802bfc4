/*
 * cdc/engine: the CDC thread, where Postgres Changes flow
 *   WAL (cdc/stream) -> decode (cdc/pgoutput) -> match (cdc/subs, in cdc/txq)
 *   -> authorize (cdc/authz: cdc/catalog's checks, run through db/pool)
 *   -> encode once (cdc/payload) -> fan-out (cdc/publish, hub)
 * (the engine's modules and their one state struct: cdc/engine_int.h)
 * It owns, on its own libuv loop: the replication stream, the decoder,
 * the catalog, the subscription registry, the transactions received and
 * not yet delivered, and one database pool for catalog and authorization
 * queries. Workers talk to it only through the calls below (a locked
 * command queue) and it answers joins through hub_call; it never touches a
 * connection or a channel.
 *
 * Broadcast from the database rides the same stream: rows inserted into
 * realtime.messages (the second publication) are queued in their
 * transaction and broadcast in commit order by cdc/messages.
 *
 * Guarantees: a change reaches a subscription only if its filter matches
 * and the table's row-level security admits the change's row image for the
 * subscriber's role and claims (or the table has no RLS, or the role
 * bypasses it); per subscription, changes arrive in commit order; a
 * transaction's end LSN is confirmed to PostgreSQL only once all of its
 * messages were handed to the workers.
 */
#ifndef TC_CDC_ENGINE_H
#define TC_CDC_ENGINE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *host, *port, *user, *password, *dbname; /* authorization and catalog queries */
    const char *repl_user, *repl_password;              /* the replication connection */
    const char *slot, *publication;
    const char *table_events; /* cdc_cat_limits_check's syntax */
    int join_timeout_ms;      /* how long a join waits for the stream */
    int write_grace_ms;       /* REST write answered -> its changes go out */
    size_t queue_max;         /* decoded changes held (bytes) before the stream is paused */
    size_t backlog_max;       /* published bytes not yet written to clients before publishing waits */
    size_t match_budget;      /* filter work per client address per change */
    size_t match_rate;        /* ... and per second (0: 100,000,000) */
    /* Broadcast from the database (cdc/messages): the publication of
     * realtime.messages read from the same slot (NULL or "": none), the
     * hours of messages kept (partitions older are dropped; 0: the server
     * does no partition upkeep), the largest payload delivered (0: 1 MiB). */
    const char *messages_publication;
    int messages_retention_hours;
    size_t messages_max_bytes;
    /* The change history resumes are served from (cdc/history): changes
     * committed within the last history_seconds (0: none kept), at most
     * history_max_bytes of them. */
    int history_seconds;
    size_t history_max_bytes;
    int position_every_ms; /* a quiet channel's newer position, this often (0: 30 s) */
} cdc_engine_config_t;

/* What a join asked for; copied. */
typedef struct {
    int worker;        /* where done runs */
    const char *topic; /* "realtime:..." */
    size_t topic_len;
    int is_private;
    const char *role;     /* the token's role claim */
    const char *claims;   /* the token's payload, JSON */
    const char *bindings; /* config.postgres_changes, a JSON array */
    uint64_t peer;        /* the client address (net/peer key): filter work is budgeted per address */
    /* postgres_changes_resume.after (docs/PROTOCOL.md): NULL when the join
     * did not ask to resume, else the position text as sent ("" when it
     * was not a string). */
    const char *resume;
    /* Runs on the worker with the answer: response is the join reply's
     * {"postgres_changes":[...]} (each binding with its wire id), or
     * reason says why the join is refused (response NULL). run = 0: the
     * worker is stopping; only free ud. Strings are valid during the call. */
    void (*done)(void *ud, int run, const char *response, const char *reason);
    void *ud;
} cdc_join_req_t;

/* Starts the thread and connects. Returns 0, or -1 (logged) on a bad
 * configuration. */
int cdc_engine_start(const cdc_engine_config_t *cfg);
/* Stops the thread (closes the stream after a last status update). */
void cdc_engine_stop(void);
int cdc_engine_running(void);
/* 1 while the replication stream is live with the messages publication
 * (what a join's config.broadcast.replication_ready waits for). Any
 * thread. */
int cdc_engine_messages_live(void);

/* Registers the join's bindings; returns the client id (> 0) that names
 * them in the calls below, and done will run on req->worker; or 0 when the
 * thread is stopping (done never runs). */
uint64_t cdc_engine_join(const cdc_join_req_t *req);
/* The channel is subscribed to its topic on its worker: deliveries may
 * start. The CDC thread answers through the hub with the system message
 * "Subscribed to PostgreSQL" routed to the channel (its start position,
 * and for a resume whether it could), then replays what a resume missed
 * (cdc/resume). */
void cdc_engine_live(uint64_t client);
/* The channel left (or never finished joining): forget its bindings. */
void cdc_engine_leave(uint64_t client);
/* The channel's token changed: authorize with these claims from now on. */
void cdc_engine_claims(uint64_t client, const char *role, const char *claims);

/* Read-your-writes ordering for writes made through this server's REST
 * API: a write transaction carries a mark (a transactional logical
 * message, CDC_WRITE_MARK_PREFIX, text of the mark) and its changes are
 * delivered only once the worker says the HTTP response was queued
 * (cdc_engine_written) plus write_grace_ms (time for the client to read
 * it), or after a longer wait if that never comes. So a client that
 * inserts and then waits for its own INSERT event has the insert's answer
 * (its id) first. cdc_engine_mark returns 0 when not streaming. */
#define CDC_WRITE_MARK_PREFIX "techcare:rest-write"
uint64_t cdc_engine_mark(void);
/* The message text of a mark: "<this process's instance id>:<mark>", so
 * another server on the same database never waits for marks it will not
 * see answered. */
void cdc_engine_mark_text(uint64_t mark, char *out, size_t outsz);
void cdc_engine_written(uint64_t mark);

#endif
