/*
 * db/pool: a worker's connections to PostgreSQL, non-blocking libpq driven
 * by the worker's libuv loop, so database work never blocks the loop that
 * serves WebSockets. A request is one transaction, sent as one pipeline:
 * BEGIN; set the role and request.jwt.claims the way PostgREST does (so
 * row-level security decides), plus any other transaction-local settings
 * the caller names (PostgREST's request.headers, request.method...), all
 * in one statement; the caller's statements; COMMIT. One round trip. Requests queue (bounded) when every connection is
 * busy; broken connections reconnect with backoff. It never builds SQL from values: callers pass parameters.
 */
#ifndef TC_DB_POOL_H
#define TC_DB_POOL_H

#include <libpq-fe.h>
#include <uv.h>

typedef struct db_pool db_pool_t;
typedef struct db_req db_req_t;

typedef struct {
    const char *sql;
    int nparams;
    const char *const *params; /* text values, NULL = SQL NULL */
    int prepare;               /* run as a prepared statement, prepared once per connection
                                  (for SQL that is run again and again: parse and plan once) */
} db_stmt_t;

/* Runs on the pool's loop when the transaction is over. results[i] is the
 * result of stmts[i] (owned by the pool: valid during the call only);
 * error is NULL, or a message when the database could not be reached or a
 * statement to prepare could not be (then results is NULL; that SQL runs
 * unprepared on that connection from then on, so a retry can succeed). A statement that failed has PGRES_FATAL_ERROR
 * (read PQresultErrorField) and the ones after it PGRES_PIPELINE_ABORTED; the transaction was rolled back. */
typedef void (*db_cb)(void *ud, PGresult *const *results, int n, const char *error);

/* What a non-NULL error handed to a db_cb means, so callers decide on a
 * kind, never on the message's text. Valid only during that call, on the
 * pool's thread (like errno). */
typedef enum {
    DB_ERR_UNREACHABLE = 1, /* no connection, or it died during the transaction */
    DB_ERR_PREPARE = 2,     /* a statement to prepare was refused; it runs unprepared from now on */
} db_error_kind_t;
db_error_kind_t db_error_kind(void);

typedef struct {
    const char *host, *port, *user, *password, *dbname;
    int size;      /* connections */
    int max_queue; /* requests waiting for a connection before db_run refuses */
} db_config_t;

/* Creates a pool on loop and starts connecting. Free with db_pool_free
 * (after the loop stopped using it: it closes its handles). */
db_pool_t *db_pool_new(uv_loop_t *loop, const db_config_t *cfg);
void db_pool_close(db_pool_t *p);

/* One more transaction-local setting, set with set_config(name, value,
 * true) after the role and claims: name and value are both bind
 * parameters, never SQL text. value NULL sets "" (PostgreSQL's reset value
 * of a custom setting). */
typedef struct {
    const char *name, *value;
} db_setting_t;

#define DB_MAX_SETTINGS 16 /* per request: the setup statement's parameters stay few */

/* What a transaction runs as: role (NULL: stay the login role),
 * claims_json (NULL: none) and up to DB_MAX_SETTINGS more settings. */
typedef struct {
    const char *role, *claims_json;
    const db_setting_t *settings;
    int nsettings;
} db_ctx_t;

/* As db_run (open = 0) or db_run_open (open = 1), with ctx's settings too.
 * Copies everything. NULL when the queue is full, or nsettings is outside
 * 0..DB_MAX_SETTINGS (a caller's bug: logged). */
db_req_t *db_run_ctx(db_pool_t *p, const db_ctx_t *ctx, const db_stmt_t *stmts, int n, int open, db_cb cb, void *ud);

/* Starts a transaction: role (NULL: stay the login role) and claims_json
 * (NULL: none) are set with set_config(..., true) before stmts run. Copies
 * everything it needs. Returns a handle, or NULL when the queue is full
 * (the callback will not run). */
db_req_t *db_run(db_pool_t *p, const char *role, const char *claims_json, const db_stmt_t *stmts, int n, db_cb cb,
                 void *ud);
/* As db_run, but the transaction stays open when cb runs: cb must call
 * db_tx_end (its results show whether to commit). The connection is
 * reserved meanwhile. For writes whose answer may still turn into an error
 * (PostgREST's single-object and max-affected checks) that must undo them. */
db_req_t *db_run_open(db_pool_t *p, const char *role, const char *claims_json, const db_stmt_t *stmts, int n, db_cb cb,
                      void *ud);
/* Ends the open transaction of r with COMMIT (commit != 0) or ROLLBACK;
 * cb(ud, &result_of_commit_or_rollback, 1, error) runs when it is done. */
void db_tx_end(db_req_t *r, int commit, db_cb cb, void *ud);

/* The callback of r will not run (its connection finishes the work). */
void db_cancel(db_req_t *r);
/* Connections up and idle / busy, requests queued. */
void db_pool_stats(const db_pool_t *p, int *up, int *busy, int *queued);

#endif
