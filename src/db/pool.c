/*
 * db/pool: see pool.h.
 *
 * One request is one pipeline (libpq pipeline mode, PostgreSQL 14+):
 *   BEGIN
 *   SELECT set_config('request.jwt.claims', $1, true), set_config('role', $2, true)
 *          [, set_config($3, $4, true) ...]     -- the caller's other settings
 *   <the caller's statements>
 *   COMMIT
 *   Sync
 * so the whole transaction costs one round trip. If a statement fails, the
 * server skips the rest up to the Sync and leaves the transaction aborted;
 * we send ROLLBACK before the connection is used again. set_config(..., true)
 * is transaction-local, so nothing leaks from one request to the next.
 *
 * Each connection's socket is watched by a uv_poll_t on the worker's loop.
 * libpq may change the socket while connecting, so the poll handle follows
 * PQsocket() and is replaced when the descriptor changes.
 */
#include "db/pool.h"

#include <stdio.h>
#include <string.h>

#include "db/pqwatch.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/mem.h"

typedef enum {
    PC_DOWN,
    PC_CONNECTING,
    PC_IDLE,
    PC_BUSY,
    PC_OPEN
} pc_state_t; /* OPEN: a db_run_open tx awaits db_tx_end */

typedef struct pconn pconn_t;

struct db_req {
    db_req_t *next;
    db_cb cb;
    void *ud;
    int cancelled;
    int open;      /* db_run_open: no COMMIT in the pipeline */
    int ending;    /* the COMMIT/ROLLBACK of an open transaction is running */
    pconn_t *conn; /* while open */
    char *role, *claims;
    int nset;
    struct {
        char *name, *value;
    } * set; /* the caller's settings, copied */
    int n;
    char **sql;
    int *nparams;
    char ***params;
    uint8_t *prepare; /* per statement */
};

struct pconn {
    db_pool_t *pool;
    int index;
    PGconn *pg;
    pq_watch_t watch;
    uv_timer_t retry;
    pc_state_t state;
    db_req_t *req;      /* running, or NULL while a ROLLBACK runs */
    PGresult **results; /* last result of each pipelined query */
    int nqueries, cur;
    int backoff_ms;
    /* prepared statements of this session, by name hash; those being
     * prepared by the running request come first in its pipeline */
    uint64_t *prepared;
    int nprepared, npre;
    uint64_t *noprep; /* failed to prepare on this session: run unnamed */
    int nnoprep;
};

struct db_pool {
    uv_loop_t *loop;
    char *host, *port, *user, *password, *dbname;
    int size, max_queue;
    pconn_t *conns;
    db_req_t *qhead, *qtail;
    int qlen;
    int closing;
    int open_timers; /* the pool's memory goes when the last one closed */
};

static void connect_start(pconn_t *c);
static void dispatch(db_pool_t *p);

/* ---- requests ------------------------------------------------------------- */

#define MAX_PREPARED 512

static void stmt_name(uint64_t h, char out[24]) { snprintf(out, 24, "tc_%016llx", (unsigned long long)h); }

static int no_prepare(const pconn_t *c, uint64_t h) {
    for (int i = 0; i < c->nnoprep; i++)
        if (c->noprep[i] == h)
            return 1;
    return 0;
}

static int is_prepared(const pconn_t *c, uint64_t h) {
    for (int i = 0; i < c->nprepared; i++)
        if (c->prepared[i] == h)
            return 1;
    return 0;
}

static void forget_prepared(pconn_t *c, uint64_t h) {
    for (int i = 0; i < c->nprepared; i++)
        if (c->prepared[i] == h) {
            c->prepared[i] = c->prepared[--c->nprepared];
            return;
        }
}

static void req_free(db_req_t *r) {
    for (int i = 0; i < r->n; i++) {
        free(r->sql[i]);
        for (int j = 0; j < r->nparams[i]; j++)
            free(r->params[i][j]);
        free(r->params[i]);
    }
    free(r->sql);
    free(r->prepare);
    free(r->nparams);
    free(r->params);
    free(r->role);
    free(r->claims);
    for (int i = 0; i < r->nset; i++) {
        free(r->set[i].name);
        free(r->set[i].value);
    }
    free(r->set);
    free(r);
}

/* The kind of the error being reported to a callback on this thread. */
static _Thread_local db_error_kind_t error_kind = DB_ERR_UNREACHABLE;

db_error_kind_t db_error_kind(void) { return error_kind; }

static void req_fail(db_req_t *r, const char *error) {
    error_kind = DB_ERR_UNREACHABLE;
    if (!r->cancelled && r->cb)
        r->cb(r->ud, NULL, 0, error);
    req_free(r);
}

/* ---- polling ---------------------------------------------------------------- */

static void on_poll(uv_poll_t *h, int status, int events);

static void unwatch(pconn_t *c) { pq_unwatch(&c->watch); }

static void watch(pconn_t *c, int events) { pq_watch(&c->watch, c->pg, events, c->state == PC_CONNECTING); }

/* ---- connection life -------------------------------------------------------- */

static void on_retry(uv_timer_t *t) { connect_start(t->data); }

static void fail_queue(db_pool_t *p, const char *error) {
    while (p->qhead) {
        db_req_t *r = p->qhead;
        p->qhead = r->next;
        p->qlen--;
        req_fail(r, error);
    }
    p->qtail = NULL;
}

static int any_up(const db_pool_t *p) {
    for (int i = 0; i < p->size; i++)
        if (p->conns[i].state >= PC_IDLE)
            return 1;
    return 0;
}

static void clear_results(pconn_t *c) {
    for (int i = 0; i < c->nqueries; i++)
        PQclear(c->results[i]);
    free(c->results);
    c->results = NULL;
    c->nqueries = c->cur = 0;
}

/* The connection is unusable: fail its request, retry later. */
static void broken(pconn_t *c, const char *why) {
    db_pool_t *p = c->pool;
    const char *msg = c->pg ? PQerrorMessage(c->pg) : "";
    log_warn("database connection lost", "\"conn\":%d,\"reason\":\"%s\",\"detail\":\"%.*s\"", c->index, why,
             (int)strcspn(msg, "\"\n"), msg);
    unwatch(c);
    if (c->pg)
        PQfinish(c->pg);
    c->pg = NULL;
    c->state = PC_DOWN;
    db_req_t *r = c->req;
    c->req = NULL;
    clear_results(c);
    if (r)
        req_fail(r, "database connection lost");
    if (!any_up(p))
        fail_queue(p, "database unavailable");
    if (p->closing)
        return;
    c->backoff_ms = c->backoff_ms ? (c->backoff_ms * 2 > 5000 ? 5000 : c->backoff_ms * 2) : 100;
    uv_timer_start(&c->retry, on_retry, (uint64_t)c->backoff_ms, 0);
}

static void connect_step(pconn_t *c) {
    switch (PQconnectPoll(c->pg)) {
    case PGRES_POLLING_READING: watch(c, UV_READABLE); return;
    case PGRES_POLLING_WRITING: watch(c, UV_WRITABLE); return;
    case PGRES_POLLING_OK:
        if (PQsetnonblocking(c->pg, 1) != 0 || PQenterPipelineMode(c->pg) != 1) {
            broken(c, "cannot enter pipeline mode");
            return;
        }
        c->state = PC_IDLE;
        c->backoff_ms = 0;
        watch(c, UV_READABLE);
        log_debug("database connected", "\"conn\":%d", c->index);
        dispatch(c->pool);
        return;
    default: broken(c, "connect failed"); return;
    }
}

static void connect_start(pconn_t *c) {
    db_pool_t *p = c->pool;
    c->nprepared = 0; /* a new session has none */
    const char *keys[] = {"host", "port", "user", "password", "dbname", "application_name", "connect_timeout", NULL};
    const char *vals[] = {p->host, p->port, p->user, p->password, p->dbname, "techcare-realtime", "5", NULL};
    c->pg = PQconnectStartParams(keys, vals, 0);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        broken(c, "connect failed");
        return;
    }
    c->state = PC_CONNECTING;
    connect_step(c);
}

/* ---- running a request ------------------------------------------------------- */

/* Statements to prepare before this request runs: named by their SQL's
 * hash, once per session (up to MAX_PREPARED; beyond, they run unnamed). */
static int count_prepares(pconn_t *c, const db_req_t *r) {
    int n = 0;
    for (int i = 0; i < r->n; i++) {
        if (!r->prepare[i])
            continue;
        uint64_t h = hash_str(r->sql[i]);
        int dup = is_prepared(c, h) || no_prepare(c, h);
        for (int k = 0; k < i && !dup; k++)
            dup = r->prepare[k] && !strcmp(r->sql[k], r->sql[i]);
        n += !dup && c->nprepared + n < MAX_PREPARED;
    }
    return n;
}

#define SETUP_SQL                                                                                                      \
    "SELECT set_config('request.jwt.claims', $1, true), "                                                              \
    "CASE WHEN $2::text IS NULL THEN NULL ELSE set_config('role', $2, true) END"

/* The setup statement: claims and role, then the request's own settings
 * in the same SELECT (still one statement, one result). Only the number
 * of settings shapes the text; names and values are parameters. */
static int send_setup(PGconn *pg, const db_req_t *r) {
    const char *params[2 + 2 * DB_MAX_SETTINGS];
    char sql[sizeof(SETUP_SQL) + (size_t)DB_MAX_SETTINGS * 40];
    size_t len = strlen(SETUP_SQL);
    memcpy(sql, SETUP_SQL, len + 1);
    params[0] = r->claims ? r->claims : "";
    params[1] = r->role;
    for (int i = 0; i < r->nset; i++) {
        int w = snprintf(sql + len, sizeof(sql) - len, ", set_config($%d, $%d, true)", 3 + 2 * i, 4 + 2 * i);
        if (w < 0 || (size_t)w >= sizeof(sql) - len)
            return 0; /* cannot happen: nset <= DB_MAX_SETTINGS, checked in run() */
        len += (size_t)w;
        params[2 + (size_t)i * 2] = r->set[i].name;
        params[3 + (size_t)i * 2] = r->set[i].value;
    }
    return PQsendQueryParams(pg, sql, 2 + 2 * r->nset, NULL, params, NULL, NULL, 0);
}

static int send_all(pconn_t *c, db_req_t *r) {
    PGconn *pg = c->pg;
    if (!PQsendQueryParams(pg, "BEGIN", 0, NULL, NULL, NULL, NULL, 0))
        return -1;
    if (!send_setup(pg, r))
        return -1;
    /* Prepares after the role is set (parse analysis checks schema
     * privileges as the current role); finish() checks them. Prepared
     * statements outlive the transaction. */
    int base = c->nprepared;
    for (int i = 0; i < r->n && c->nprepared - base < c->npre; i++) {
        if (!r->prepare[i])
            continue;
        uint64_t h = hash_str(r->sql[i]);
        if (is_prepared(c, h) || no_prepare(c, h))
            continue;
        char name[24];
        stmt_name(h, name);
        if (!PQsendPrepare(pg, name, r->sql[i], r->nparams[i], NULL))
            return -1;
        if (c->nprepared % 32 == 0)
            c->prepared = xrealloc(c->prepared, ((size_t)c->nprepared + 32) * sizeof(*c->prepared));
        c->prepared[c->nprepared++] = h;
    }
    for (int i = 0; i < r->n; i++) {
        uint64_t h = r->prepare[i] ? hash_str(r->sql[i]) : 0;
        int ok;
        if (h && is_prepared(c, h)) {
            char name[24];
            stmt_name(h, name);
            ok = PQsendQueryPrepared(pg, name, r->nparams[i], (const char *const *)r->params[i], NULL, NULL, 0);
        } else {
            ok =
                PQsendQueryParams(pg, r->sql[i], r->nparams[i], NULL, (const char *const *)r->params[i], NULL, NULL, 0);
        }
        if (!ok)
            return -1;
    }
    if (!r->open && !PQsendQueryParams(pg, "COMMIT", 0, NULL, NULL, NULL, NULL, 0))
        return -1;
    return PQpipelineSync(pg) ? 0 : -1;
}

static void flush_out(pconn_t *c) {
    int f = PQflush(c->pg);
    if (f < 0)
        broken(c, "write failed");
    else
        watch(c, f == 1 ? UV_READABLE | UV_WRITABLE : UV_READABLE);
}

static void start(pconn_t *c, db_req_t *r) {
    c->state = PC_BUSY;
    c->req = r;
    c->npre = count_prepares(c, r);
    c->nqueries = c->npre + r->n + (r->open ? 2 : 3);
    c->cur = 0;
    c->results = xcalloc((size_t)c->nqueries, sizeof(PGresult *));
    if (send_all(c, r) < 0) {
        broken(c, "send failed");
        return;
    }
    flush_out(c);
}

static void start_rollback(pconn_t *c) {
    c->state = PC_BUSY;
    c->npre = 0;
    c->nqueries = 1;
    c->cur = 0;
    c->results = xcalloc(1, sizeof(PGresult *));
    if (!PQsendQueryParams(c->pg, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0) || !PQpipelineSync(c->pg)) {
        broken(c, "send failed");
        return;
    }
    flush_out(c);
}

/* The Sync came back: hand the results over, then take the next request. */
static void finish(pconn_t *c) {
    db_req_t *r = c->req;
    PGresult **res = c->results;
    int nq = c->nqueries;
    int pre = c->npre;
    /* A prepare that failed left no statement behind, and aborted the
     * transaction: forget the name, never prepare that SQL on this session
     * again, and report the request as failed (its statements only say
     * "aborted"). The request's prepares are the last `pre` names, in
     * pipeline order, after BEGIN and the setup. */
    char *prep_error = NULL;
    if (pre > 0 && pre <= c->nprepared && nq >= pre + 2) {
        uint64_t *failed = xmalloc((size_t)pre * sizeof(*failed));
        int nf = 0, first = c->nprepared - pre;
        for (int i = 0; i < pre; i++) {
            PGresult *pr = res[2 + i];
            if (pr && PQresultStatus(pr) == PGRES_COMMAND_OK)
                continue;
            failed[nf++] = c->prepared[first + i];
            if (!prep_error && pr && PQresultStatus(pr) == PGRES_FATAL_ERROR) {
                const char *m = PQresultErrorMessage(pr);
                size_t ml = strcspn(m, "\n");
                prep_error = xmalloc(ml + 32);
                snprintf(prep_error, ml + 32, "prepare failed: %.*s", (int)ml, m);
            }
        }
        for (int i = 0; i < nf; i++) {
            forget_prepared(c, failed[i]);
            if (c->nnoprep % 16 == 0)
                c->noprep = xrealloc(c->noprep, ((size_t)c->nnoprep + 16) * sizeof(*c->noprep));
            c->noprep[c->nnoprep++] = failed[i];
        }
        free(failed);
        if (nf && !prep_error)
            prep_error = xstrdup("prepare failed");
    }
    c->npre = 0;
    c->req = NULL;
    c->results = NULL;
    c->nqueries = c->cur = 0;
    if (r && r->open && !r->ending) {
        /* The caller decides how the transaction ends: keep the connection. */
        c->state = PC_OPEN;
        c->req = r;
        r->conn = c;
        if (prep_error) {
            /* nothing to decide: roll back and report */
            c->state = PC_IDLE;
            c->req = NULL;
            r->conn = NULL;
            error_kind = DB_ERR_PREPARE;
            if (!r->cancelled)
                r->cb(r->ud, NULL, 0, prep_error);
            error_kind = DB_ERR_UNREACHABLE;
            req_free(r);
            start_rollback(c);
        } else if (!r->cancelled) {
            r->cb(r->ud, res + pre + 2, r->n, NULL);
        } else {
            db_tx_end(r, 0, NULL, NULL);
        }
        for (int i = 0; i < nq; i++)
            PQclear(res[i]);
        free(res);
        free(prep_error);
        return;
    }
    PGTransactionStatusType ts = PQtransactionStatus(c->pg);
    if (ts == PQTRANS_INERROR || ts == PQTRANS_INTRANS)
        start_rollback(c);
    else
        c->state = PC_IDLE;
    if (r && r->ending) {
        if (r->cb && !r->cancelled)
            r->cb(r->ud, res, 1, NULL);
        req_free(r);
    } else if (r) {
        error_kind = prep_error ? DB_ERR_PREPARE : DB_ERR_UNREACHABLE;
        if (!r->cancelled)
            r->cb(r->ud, prep_error ? NULL : res + pre + 2, prep_error ? 0 : r->n, prep_error);
        error_kind = DB_ERR_UNREACHABLE;
        req_free(r);
    }
    free(prep_error);
    for (int i = 0; i < nq; i++)
        PQclear(res[i]);
    free(res);
    dispatch(c->pool);
}

static void read_results(pconn_t *c) {
    if (!PQconsumeInput(c->pg)) {
        broken(c, "read failed");
        return;
    }
    while (c->state == PC_BUSY && !PQisBusy(c->pg)) {
        PGresult *res = PQgetResult(c->pg);
        if (!res) {
            c->cur++; /* end of one query's results */
            continue;
        }
        if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            finish(c);
            return;
        }
        if (c->cur < c->nqueries) {
            PQclear(c->results[c->cur]);
            c->results[c->cur] = res;
        } else {
            PQclear(res);
        }
    }
    /* Notices, or a server that closed on us while idle. */
    if (c->state == PC_IDLE && PQstatus(c->pg) == CONNECTION_BAD)
        broken(c, "server closed the connection");
}

static void on_poll(uv_poll_t *h, int status, int events) {
    pconn_t *c = h->data;
    if (status < 0) {
        broken(c, "poll error");
        return;
    }
    if (c->state == PC_CONNECTING) {
        connect_step(c);
        return;
    }
    if (events & UV_WRITABLE) {
        flush_out(c);
        if (!c->pg)
            return;
    }
    if (events & UV_READABLE)
        read_results(c);
}

static void dispatch(db_pool_t *p) {
    for (int i = 0; i < p->size && p->qhead; i++) {
        pconn_t *c = &p->conns[i];
        if (c->state != PC_IDLE)
            continue;
        db_req_t *r = p->qhead;
        p->qhead = r->next;
        if (!p->qhead)
            p->qtail = NULL;
        p->qlen--;
        if (r->cancelled) {
            req_free(r);
            i--; /* same connection, next request */
            continue;
        }
        start(c, r);
    }
}

/* ---- public ------------------------------------------------------------------ */

static db_req_t *run(db_pool_t *p, const db_ctx_t *ctx, const db_stmt_t *stmts, int n, db_cb cb, void *ud, int open) {
    if (ctx->nsettings < 0 || ctx->nsettings > DB_MAX_SETTINGS) {
        log_error("database request with too many settings", "\"settings\":%d,\"max\":%d", ctx->nsettings,
                  DB_MAX_SETTINGS);
        return NULL;
    }
    /* Queue while connections are up or coming up; refuse at once only when
     * every one is down (the database is unreachable: say so now, not after
     * a timeout). */
    int coming = 0;
    for (int i = 0; i < p->size; i++)
        coming |= p->conns[i].state != PC_DOWN;
    if (p->closing || p->qlen >= p->max_queue || !coming)
        return NULL;
    db_req_t *r = xcalloc(1, sizeof(*r));
    r->cb = cb;
    r->ud = ud;
    r->open = open;
    r->role = ctx->role ? xstrdup(ctx->role) : NULL;
    r->claims = ctx->claims_json ? xstrdup(ctx->claims_json) : NULL;
    r->nset = ctx->nsettings;
    r->set = xcalloc((size_t)r->nset + 1, sizeof(*r->set));
    for (int i = 0; i < r->nset; i++) {
        r->set[i].name = xstrdup(ctx->settings[i].name);
        r->set[i].value = xstrdup(ctx->settings[i].value ? ctx->settings[i].value : "");
    }
    r->n = n;
    r->sql = xcalloc((size_t)n, sizeof(char *));
    r->nparams = xcalloc((size_t)n, sizeof(int));
    r->params = xcalloc((size_t)n, sizeof(char **));
    r->prepare = xcalloc((size_t)n ? (size_t)n : 1, 1);
    for (int i = 0; i < n; i++) {
        r->prepare[i] = (uint8_t)(stmts[i].prepare != 0);
        r->sql[i] = xstrdup(stmts[i].sql);
        r->nparams[i] = stmts[i].nparams;
        r->params[i] = xcalloc((size_t)stmts[i].nparams + 1, sizeof(char *));
        for (int j = 0; j < stmts[i].nparams; j++)
            r->params[i][j] = stmts[i].params[j] ? xstrdup(stmts[i].params[j]) : NULL;
    }
    if (p->qtail)
        p->qtail->next = r;
    else
        p->qhead = r;
    p->qtail = r;
    p->qlen++;
    dispatch(p);
    return r;
}

db_req_t *db_run(db_pool_t *p, const char *role, const char *claims_json, const db_stmt_t *stmts, int n, db_cb cb,
                 void *ud) {
    db_ctx_t ctx = {role, claims_json, NULL, 0};
    return run(p, &ctx, stmts, n, cb, ud, 0);
}

db_req_t *db_run_open(db_pool_t *p, const char *role, const char *claims_json, const db_stmt_t *stmts, int n, db_cb cb,
                      void *ud) {
    db_ctx_t ctx = {role, claims_json, NULL, 0};
    return run(p, &ctx, stmts, n, cb, ud, 1);
}

db_req_t *db_run_ctx(db_pool_t *p, const db_ctx_t *ctx, const db_stmt_t *stmts, int n, int open, db_cb cb, void *ud) {
    return run(p, ctx, stmts, n, cb, ud, open != 0);
}

void db_tx_end(db_req_t *r, int commit, db_cb cb, void *ud) {
    pconn_t *c = r->conn;
    r->ending = 1;
    r->cb = cb;
    r->ud = ud;
    c->state = PC_BUSY;
    c->npre = 0;
    c->nqueries = 1;
    c->cur = 0;
    c->results = xcalloc(1, sizeof(PGresult *));
    if (!PQsendQueryParams(c->pg, commit ? "COMMIT" : "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0) ||
        !PQpipelineSync(c->pg)) {
        broken(c, "send failed");
        return;
    }
    flush_out(c);
}

void db_cancel(db_req_t *r) { r->cancelled = 1; }

db_pool_t *db_pool_new(uv_loop_t *loop, const db_config_t *cfg) {
    db_pool_t *p = xcalloc(1, sizeof(*p));
    p->loop = loop;
    p->host = xstrdup(cfg->host);
    p->port = xstrdup(cfg->port);
    p->user = xstrdup(cfg->user);
    p->password = xstrdup(cfg->password ? cfg->password : "");
    p->dbname = xstrdup(cfg->dbname);
    p->size = cfg->size > 0 ? cfg->size : 1;
    p->max_queue = cfg->max_queue > 0 ? cfg->max_queue : 1024;
    p->conns = xcalloc((size_t)p->size, sizeof(pconn_t));
    for (int i = 0; i < p->size; i++) {
        pconn_t *c = &p->conns[i];
        c->pool = p;
        c->index = i;
        uv_timer_init(loop, &c->retry);
        c->retry.data = c;
        pq_watch_init(&c->watch, loop, on_poll, c);
        p->open_timers++;
        connect_start(c);
    }
    return p;
}

static void on_pool_closed(uv_handle_t *h) {
    pconn_t *c = h->data;
    db_pool_t *p = c->pool;
    if (--p->open_timers > 0)
        return;
    for (int i = 0; i < p->size; i++) {
        free(p->conns[i].prepared);
        free(p->conns[i].noprep);
    }
    free(p->conns);
    free(p->host);
    free(p->port);
    free(p->user);
    free(p->password);
    free(p->dbname);
    free(p);
}

/* Fails what is queued or running, closes connections and handles; the
 * memory goes when the loop has closed the last handle. */
void db_pool_close(db_pool_t *p) {
    p->closing = 1;
    fail_queue(p, "server shutting down");
    for (int i = 0; i < p->size; i++) {
        pconn_t *c = &p->conns[i];
        db_req_t *r = c->req;
        c->req = NULL;
        if (r)
            req_fail(r, "server shutting down");
        clear_results(c);
        unwatch(c);
        if (c->pg)
            PQfinish(c->pg);
        c->pg = NULL;
        c->state = PC_DOWN;
        uv_close((uv_handle_t *)&c->retry, on_pool_closed);
    }
}

void db_pool_stats(const db_pool_t *p, int *up, int *busy, int *queued) {
    *up = *busy = 0;
    for (int i = 0; i < p->size; i++) {
        *up += p->conns[i].state >= PC_IDLE;
        *busy += p->conns[i].state >= PC_BUSY;
    }
    *queued = p->qlen;
}
