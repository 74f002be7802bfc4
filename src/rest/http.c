/*
 * rest/http: see http.h.
 *
 * The schema cache is shared by all workers (immutable, reference-counted,
 * swapped under a mutex). A worker that needs it and finds none, or finds
 * it older than half a second when a request names something unknown (a
 * table created after we started, as supabase/realtime's e2e check does),
 * reloads it once through its own pool and re-plans the requests that were
 * waiting. Reads commit in the same round trip as the query; a write whose
 * answer may still become an error (single object requested, max-affected)
 * runs in an open transaction that is rolled back if it does.
 */
#include "rest/http.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "auth/token_cache.h"
#include "cdc/engine.h"
#include "db/pool.h"
#include "http/response.h"
#include "http/routes.h"
#include "metrics/metrics.h"
#include "net/server.h"
#include "rest/context.h"
#include "rest/query.h"
#include "util/log.h"
#include "util/mem.h"

typedef struct {
    atomic_int refs;
    rest_catalog_t *cat;
    int64_t loaded_ms;
} cat_ref_t;

static pthread_mutex_t cat_mu = PTHREAD_MUTEX_INITIALIZER;
static cat_ref_t *current;

/* Set once by rest_http_register, before the workers start; not owned. */
static const jwt_keyring_t *g_keys;

typedef struct rest_op rest_op_t;
struct rest_op {
    http_pending_t pending; /* first */
    rest_op_t *next_wait;
    char *method, *target, *query, *prefer, *range, *accept, *profile, *body;
    size_t body_len;
    char *bad_media; /* a body of this media type is not read: refused (refuse_media_type) */
    char *role, *claims;
    /* PostgREST's request context (rest/context): set with the claims in
     * every transaction of the request. headers holds Authorization and
     * apikey, as PostgREST's does: it is never logged. */
    char *ctx_path, *ctx_headers, *ctx_cookies;
    int is_anon, retried;
    rest_plan_t plan;
    int have_plan;
    db_req_t *open_tx;
    uint64_t cdc_mark; /* a write: its Postgres Changes wait for this answer */
    int status;        /* for an answer waiting on COMMIT */
    buf_t *headers, *out;
};

/* Per worker: requests waiting for a catalog load, and whether one runs. */
static _Thread_local rest_op_t *waiting;
static _Thread_local int loading;

static void plan_and_run(rest_op_t *op);

/* ---- catalog ------------------------------------------------------------- */

static cat_ref_t *cat_get(void) {
    pthread_mutex_lock(&cat_mu);
    cat_ref_t *r = current;
    if (r)
        atomic_fetch_add(&r->refs, 1);
    pthread_mutex_unlock(&cat_mu);
    return r;
}

static void cat_put(cat_ref_t *r) {
    if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
        rest_catalog_free(r->cat);
        free(r);
    }
}

static void op_free(rest_op_t *op) {
    free(op->method), free(op->target), free(op->query), free(op->prefer), free(op->range);
    free(op->accept), free(op->profile), free(op->body), free(op->role), free(op->claims);
    free(op->bad_media);
    free(op->ctx_path), free(op->ctx_headers), free(op->ctx_cookies);
    if (op->have_plan)
        rest_plan_free(&op->plan);
    if (op->headers)
        buf_unref(op->headers);
    if (op->out)
        buf_unref(op->out);
    free(op);
}

static void answer(rest_op_t *op, int status, const char *headers, const void *body, size_t len) {
    uint64_t mark = op->cdc_mark;
    http_pending_respond(&op->pending, status, "application/json; charset=utf-8", headers, body, len);
    op_free(op);
    if (mark) /* once the answer is on the wire, not merely queued */
        worker_after_flush(cdc_engine_written, mark);
}

static void answer_error(rest_op_t *op, const rest_error_t *e) {
    buf_t *b = buf_new(256);
    rest_error_json(e, &b);
    answer(op, e->status, NULL, b->data, b->len);
    buf_unref(b);
}

static void simple_error(rest_op_t *op, int status, const char *code, const char *message) {
    rest_error_t e = {.status = status};
    snprintf(e.code, sizeof(e.code), "%s", code);
    snprintf(e.message, sizeof(e.message), "%s", message);
    answer_error(op, &e);
}

static void on_catalog(void *ud, PGresult *const *results, int n, const char *error) {
    (void)ud;
    loading = 0;
    rest_op_t *list = waiting;
    waiting = NULL;
    if (error || n < 1 || PQresultStatus(results[0]) != PGRES_TUPLES_OK) {
        const char *why = error ? error : n ? PQresultErrorMessage(results[0]) : "no result";
        log_error("schema cache load failed", "\"error\":\"%.*s\"", (int)strcspn(why, "\"\n"), why);
        while (list) {
            rest_op_t *next = list->next_wait;
            simple_error(list, 503, "PGRST002", "Could not query the database for the schema cache. Retrying.");
            list = next;
        }
        return;
    }
    rest_catalog_t *cat = rest_catalog_new();
    PGresult *res = results[0];
    int rows = PQntuples(res), cols = PQnfields(res);
    const char *vals[REST_CATALOG_NCOLS];
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < cols && j < REST_CATALOG_NCOLS; j++)
            vals[j] = PQgetisnull(res, i, j) ? NULL : PQgetvalue(res, i, j);
        if (rest_catalog_add_row(cat, vals, cols) < 0)
            log_warn("schema cache row skipped", "\"row\":%d", i);
    }
    cat_ref_t *r = xcalloc(1, sizeof(*r));
    atomic_init(&r->refs, 1);
    r->cat = cat;
    r->loaded_ms = worker_self->now_ms;
    pthread_mutex_lock(&cat_mu);
    cat_ref_t *old = current;
    current = r;
    pthread_mutex_unlock(&cat_mu);
    cat_put(old);
    log_info("schema cache loaded", "\"rows\":%d", rows);
    while (list) {
        rest_op_t *next = list->next_wait;
        plan_and_run(list);
        list = next;
    }
}

/* Queues op until a fresh catalog is loaded (starting the load if none
 * runs on this worker). */
static void wait_for_catalog(rest_op_t *op) {
    op->next_wait = waiting;
    waiting = op;
    if (loading)
        return;
    const char *params[] = {"{public}"};
    db_stmt_t st = {REST_CATALOG_SQL, 1, params, 0};
    loading = 1;
    if (!db_run(worker_self->db, NULL, NULL, &st, 1, on_catalog, NULL))
        on_catalog(NULL, NULL, 0, "database busy");
}

/* ---- running ---------------------------------------------------------------- */

static void on_tx_end(void *ud, PGresult *const *results, int n, const char *error) {
    rest_op_t *op = ud;
    if (error || n < 1 || PQresultStatus(results[0]) != PGRES_COMMAND_OK) {
        rest_error_t e;
        const char *st = !error && n ? PQresultErrorField(results[0], PG_DIAG_SQLSTATE) : NULL;
        if (st) {
            rest_error_from_pg(st, PQresultErrorField(results[0], PG_DIAG_MESSAGE_PRIMARY),
                               PQresultErrorField(results[0], PG_DIAG_MESSAGE_DETAIL),
                               PQresultErrorField(results[0], PG_DIAG_MESSAGE_HINT), op->is_anon, &e);
            answer_error(op, &e);
        } else {
            simple_error(op, 503, "PGRST000", error ? error : "could not commit");
        }
        return;
    }
    answer(op, op->status, (const char *)op->headers->data, op->out->data, op->out->len);
}

static void on_result(void *ud, PGresult *const *results, int n, const char *error) {
    rest_op_t *op = ud;
    if (error) {
        simple_error(op, 503, "PGRST000", error);
        return;
    }
    db_req_t *tx = op->open_tx;
    /* With a write mark, it ran first and the statement second. */
    int si = op->cdc_mark ? 1 : 0;
    PGresult *res = n > si ? results[si] : NULL;
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (si && n > 0 && PQresultStatus(results[0]) != PGRES_TUPLES_OK) {
        res = results[0]; /* the write mark failed: so did the transaction */
        st = PGRES_FATAL_ERROR;
    }
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        rest_error_t e;
        rest_error_from_pg(res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : "XX000",
                           res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : "no result",
                           res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL,
                           res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL, op->is_anon, &e);
        if (tx)
            db_tx_end(tx, 0, NULL, NULL);
        answer_error(op, &e);
        return;
    }
    const char *body = NULL;
    long total = -1, nrows = 0;
    switch (op->plan.result) {
    case REST_RESULT_ROWS:
        if (PQntuples(res) > 0) {
            body = PQgetisnull(res, 0, 0) ? NULL : PQgetvalue(res, 0, 0);
            if (PQnfields(res) > 1 && !PQgetisnull(res, 0, 1))
                total = strtol(PQgetvalue(res, 0, 1), NULL, 10);
            if (PQnfields(res) > 2 && !PQgetisnull(res, 0, 2))
                nrows = strtol(PQgetvalue(res, 0, 2), NULL, 10);
        }
        break;
    case REST_RESULT_SCALAR:
        body = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : NULL;
        nrows = 1;
        break;
    case REST_RESULT_COMMAND:
        nrows = strtol(PQcmdTuples(res), NULL, 10); /* "" (no count) reads as 0 */
        break;
    }
    op->headers = buf_new(128);
    op->out = buf_new(body ? strlen(body) + 16 : 64);
    op->status = rest_respond(&op->plan, body, total, nrows, &op->headers, &op->out);
    buf_putc(&op->headers, 0);
    op->headers->len--; /* NUL-terminated for http_respond, not counted */
    if (tx) {
        op->open_tx = NULL;
        if (op->status >= 400) {
            db_tx_end(tx, 0, NULL, NULL);
        } else {
            db_tx_end(tx, 1, on_tx_end, op);
            return;
        }
    }
    answer(op, op->status, (const char *)op->headers->data, op->out->data, op->out->len);
}

static void refuse_media_type(rest_op_t *op, const rest_error_t *plan_err);

static int stale_miss(const rest_error_t *e) {
    return !strcmp(e->code, "PGRST205") || !strcmp(e->code, "PGRST202") || !strcmp(e->code, "PGRST204") ||
           !strcmp(e->code, "42703");
}

static void plan_and_run(rest_op_t *op) {
    if (!op->pending.c) { /* the client left while we waited */
        op_free(op);
        return;
    }
    cat_ref_t *cr = cat_get();
    if (!cr) {
        wait_for_catalog(op);
        return;
    }
    rest_request_t req = {op->method, op->target,  op->query, op->prefer,  op->range,
                          op->accept, op->profile, op->body,  op->body_len};
    rest_error_t err;
    int r = rest_plan(cr->cat, &req, &op->plan, &err);
    int64_t age = worker_self->now_ms - cr->loaded_ms;
    cat_put(cr);
    if (op->bad_media) {
        if (r == 0)
            rest_plan_free(&op->plan); /* planned only to find errors that come first */
        refuse_media_type(op, r < 0 ? &err : NULL);
        return;
    }
    if (r < 0) {
        if (stale_miss(&err) && !op->retried && age > 500) {
            op->retried = 1;
            wait_for_catalog(op);
            return;
        }
        answer_error(op, &err);
        return;
    }
    op->have_plan = 1;
    /* A write tells the CDC thread, through the WAL itself, to hold its
     * changes until this answer is out (see cdc_engine_mark). Before the
     * statement: the CDC thread delivers a large transaction in parts as it
     * decodes them, so the mark must come ahead of the first change. */
    char mark[48];
    const char *mark_params[] = {mark};
    db_stmt_t st[2] = {{"SELECT pg_logical_emit_message(true, '" CDC_WRITE_MARK_PREFIX "', $1)", 1, mark_params, 1},
                       {op->plan.sql, op->plan.nparams, (const char *const *)op->plan.params, 0}};
    db_stmt_t *first = &st[1];
    int nst = 1;
    if (op->plan.is_write || op->plan.is_rpc) {
        op->cdc_mark = cdc_engine_mark();
        if (op->cdc_mark) {
            cdc_engine_mark_text(op->cdc_mark, mark, sizeof(mark));
            first = &st[0];
            nst = 2;
        }
    }
    int two_phase = (op->plan.is_write || op->plan.is_rpc) && (op->plan.single_object || op->plan.max_affected >= 0);
    /* PostgREST's order: after the role and claims, method, path, headers,
     * cookies. Values are parameters of the pool's setup statement. */
    const db_setting_t settings[] = {{"request.method", op->method},
                                     {"request.path", op->ctx_path},
                                     {"request.headers", op->ctx_headers},
                                     {"request.cookies", op->ctx_cookies}};
    db_ctx_t ctx = {op->role, op->claims, settings, (int)(sizeof(settings) / sizeof(settings[0]))};
    db_req_t *dr = db_run_ctx(worker_self->db, &ctx, first, nst, two_phase, on_result, op);
    if (two_phase)
        op->open_tx = dr;
    if (!dr)
        simple_error(op, 503, "PGRST003", "Timed out acquiring connection from connection pool.");
}

static char *dup_or_null(const char *s) { return s ? xstrdup(s) : NULL; }

/* ---- request bodies ------------------------------------------------------------ */

/* A body is read as JSON only when it says it is: PostgREST takes
 * application/json (any parameters, such as charset, ignored; case does not
 * matter) or no Content-Type at all as JSON, and refuses a type it cannot
 * read with "Content-Type not acceptable: <type>" (code PGRST102; its
 * ApiRequest/Payload.hs). PostgREST answers that with 400; we answer 415
 * Unsupported Media Type, the status HTTP has for exactly this (RFC 9110
 * 15.5.16), keeping PostgREST's code and message for clients that match on
 * them. text/csv and form bodies, which PostgREST also reads, are not in
 * this subset and get the same answer. */
#define REST_MEDIA_STATUS 415

/* Copies the media type of a Content-Type value (without parameters or
 * surrounding blanks) to out; returns 1 if it is application/json. */
static int content_type_is_json(const char *ctype, char *out, size_t n) {
    while (*ctype == ' ' || *ctype == '\t')
        ctype++;
    size_t len = strcspn(ctype, ";");
    while (len > 0 && (ctype[len - 1] == ' ' || ctype[len - 1] == '\t'))
        len--;
    snprintf(out, n, "%.*s", (int)(len < n ? len : n - 1), ctype);
    return len == 16 && !strncasecmp(ctype, "application/json", 16);
}

/* The media type of the body of r when PostgREST would not read it as
 * JSON (malloc'd, the caller frees), or NULL. Only methods whose body
 * PostgREST reads are checked: DELETE's is ignored there, GET and HEAD
 * have none. */
static char *unreadable_media_type(http_req_t *r, const char *method) {
    if (strcmp(method, "POST") && strcmp(method, "PATCH") && strcmp(method, "PUT"))
        return NULL;
    const char *ctype = http_req_header(r, "content-type");
    char type[128];
    if (!ctype || content_type_is_json(ctype, type, sizeof(type)))
        return NULL;
    return xstrdup(type);
}

/* Answers 415 for op's unreadable body, unless planning found an error
 * PostgREST reports before it reads the body (its ApiRequest: schema
 * profile, method, query string, range; the Prefer header before that),
 * which is answered instead. Answers (and frees) op either way. */
static void refuse_media_type(rest_op_t *op, const rest_error_t *plan_err) {
    static const char *const earlier[] = {"PGRST100", "PGRST101", "PGRST103", "PGRST106", "PGRST122"};
    if (plan_err)
        for (size_t i = 0; i < sizeof(earlier) / sizeof(earlier[0]); i++)
            if (!strcmp(plan_err->code, earlier[i])) {
                answer_error(op, plan_err);
                return;
            }
    char message[200];
    snprintf(message, sizeof(message), "Content-Type not acceptable: %s", op->bad_media);
    simple_error(op, REST_MEDIA_STATUS, "PGRST102", message);
}

static void rest_http_handle(conn_t *c, http_req_t *r, const char *target) {
    int ka = http_req_keep_alive(r);
    if (!worker_self->db) {
        static const char none[] =
            "{\"code\":\"PGRST000\",\"details\":null,\"hint\":null,\"message\":\"No database is configured\"}";
        http_respond(c, 503, "application/json", NULL, none, sizeof(none) - 1, ka);
        return;
    }
    /* The JWT: Authorization: Bearer wins, else the apikey (the anon key). */
    const char *auth = http_req_header(r, "authorization");
    const char *token = auth && !strncasecmp(auth, "Bearer ", 7) ? auth + 7 : http_req_header(r, "apikey");
    rest_op_t *op = xcalloc(1, sizeof(*op));
    http_pending_start(&op->pending, c, ka);
    if (!token) {
        simple_error(op, 401, "PGRST302", "Anonymous access is disabled");
        return;
    }
    tok_info_t ti;
    char msg[256];
    jwt_status_t js = tok_verify(g_keys, token, strlen(token), worker_self->now_s, &ti, msg, sizeof(msg));
    if (js != JWT_OK) {
        met_add(M_AUTH_ERRORS, 1);
        simple_error(op, 401, js == JWT_EXPIRED ? "PGRST303" : "PGRST301", js == JWT_EXPIRED ? "JWT expired" : msg);
        return;
    }
    if (strcmp(ti.role, "anon") && strcmp(ti.role, "authenticated") && strcmp(ti.role, "service_role")) {
        simple_error(op, 401, "PGRST301", "JWT role is not one this server switches to");
        return;
    }
    const char *method = http_req_method(r);
    /* Refused in plan_and_run, after what PostgREST checks first
     * (authentication, here above; the query string, there), and before
     * anything runs. */
    op->bad_media = unreadable_media_type(r, method);
    int reading = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    size_t blen;
    const char *body = http_req_body(r, &blen);
    op->method = xstrdup(method);
    op->target = xstrdup(target);
    op->query = xstrdup(http_req_query(r));
    op->prefer = dup_or_null(http_req_header(r, "prefer"));
    op->range = dup_or_null(http_req_header(r, "range"));
    op->accept = dup_or_null(http_req_header(r, "accept"));
    op->profile = dup_or_null(http_req_header(r, reading ? "accept-profile" : "content-profile"));
    op->body = blen ? xstrndup(body, blen) : NULL;
    op->body_len = blen;
    op->role = xstrdup(ti.role);
    op->claims = xstrdup(ti.claims_json);
    op->is_anon = !strcmp(ti.role, "anon");
    /* request.path: the path below /rest/v1, as PostgREST behind Supabase's
     * gateway sees it ("/bookings", "/rpc/fn"); percent-decoded, since
     * http/request keeps no raw path (PostgREST's is raw: they differ only
     * for escaped characters). */
    size_t tlen = strlen(target);
    op->ctx_path = xmalloc(tlen + 2);
    op->ctx_path[0] = '/';
    memcpy(op->ctx_path + 1, target, tlen + 1);
    size_t nh = http_req_header_count(r);
    op->ctx_headers = rest_ctx_headers_json(nh ? http_req_header_at(r, 0) : NULL, nh);
    op->ctx_cookies = rest_ctx_cookies_json(http_req_header(r, "cookie"));
    plan_and_run(op);
}

void rest_http_register(const jwt_keyring_t *keys) {
    g_keys = keys;
    routes_add("/rest/v1", ROUTE_UNDER, rest_http_handle);
    routes_reserve("/rest/v1");
}
