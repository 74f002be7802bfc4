/*
 * rest/query: the PostgREST grammar that supabase-js's from() and rpc()
 * send, turned into one parameterised SQL statement and the shape of the
 * HTTP answer. Identifiers are checked against the catalog and quoted;
 * every value is a bind parameter, never pasted into SQL. Errors are
 * PostgREST's (code, message, details, hint, HTTP status).
 * It runs nothing and knows nothing of sockets or claims: the caller runs
 * the statement inside the request's transaction, after setting the role
 * and request.jwt.claims.
 * (Implemented by src/rest/query*.c; query_int.h, their private header,
 * says which file owns what. This header is the whole public contract.)
 *
 * The caller's side, in full:
 *   1. rest_plan(); on -1 answer err (rest_error_json) with err.status.
 *   2. Run plan.sql with PQexecParams(conn, sql, nparams, NULL types,
 *      params, NULL, NULL, 0): every parameter is text of unknown type.
 *   3. On a PostgreSQL error: rest_error_from_pg, roll back, answer.
 *   4. Otherwise, by plan.result:
 *        REST_RESULT_ROWS    one row: body = column 0 (NULL if SQL NULL),
 *                            total = column 1 (-1 if NULL), nrows = column 2
 *        REST_RESULT_SCALAR  one row: body = column 0, total -1, nrows 1
 *        REST_RESULT_COMMAND no rows: body NULL, total -1,
 *                            nrows = atol(PQcmdTuples(res))
 *      and call rest_respond(). If it returns a status >= 400 (single
 *      object requested but not one row, max-affected exceeded, range not
 *      satisfiable), ROLL BACK rather than commit: the writes must not stay.
 *   5. Send the status, "Content-Type: application/json; charset=utf-8"
 *      when *out is non-empty, the header lines rest_respond appended, and
 *      *out as the body.
 */
#ifndef TC_REST_QUERY_H
#define TC_REST_QUERY_H

#include <stddef.h>

#include "rest/catalog.h"
#include "util/buf.h"

typedef struct {
    const char *method;  /* GET, HEAD, POST, PATCH, DELETE */
    const char *target;  /* path after /rest/v1/, percent-decoded: "bookings" or "rpc/accept_bid" */
    const char *query;   /* raw query string (still percent-encoded, '+' = space), "" if none */
    const char *prefer;  /* Prefer header(s), comma-joined, or NULL */
    const char *range;   /* Range header, or NULL */
    const char *accept;  /* Accept header, or NULL */
    const char *profile; /* Accept-Profile (GET/HEAD) or Content-Profile (others), or NULL: "public" */
    const char *body;    /* request body (JSON) or NULL */
    size_t body_len;
} rest_request_t;

typedef struct {
    int status;    /* HTTP status */
    char code[16]; /* "PGRST100", or a SQLSTATE like "42703" */
    char message[256];
    char details[512]; /* "" = JSON null */
    char hint[256];    /* "" = JSON null */
} rest_error_t;

typedef enum {
    REST_RESULT_ROWS,    /* one row: (body text JSON array or NULL, total int8 or NULL, nrows int8) */
    REST_RESULT_SCALAR,  /* one row, one column: a JSON text value (rpc: scalar, single row type, void) */
    REST_RESULT_COMMAND, /* INSERT/UPDATE/DELETE without RETURNING (return=minimal): no rows,
                            the affected row count is PQcmdTuples */
} rest_result_t;

typedef struct {
    char *sql;     /* malloc'd */
    char **params; /* malloc'd array of malloc'd text values (NULL entries = SQL NULL) */
    int nparams;
    rest_result_t result;
    int return_body;   /* answer with the rows (else no body: return=minimal, HEAD, void) */
    int count_exact;   /* Prefer: count=exact|planned|estimated: the statement returns the total */
    int single_object; /* Accept: application/vnd.pgrst.object+json */
    int is_write;      /* POST/PATCH/DELETE on a table (for the status code) */
    int is_insert;
    int is_delete; /* (is_write && !is_insert && !is_delete: PATCH) */
    int is_rpc;
    int rpc_void;         /* the function returns void: 204 No Content */
    long offset;          /* first row index, for Content-Range */
    long max_affected;    /* Prefer: handling=strict, max-affected=N on PATCH/DELETE; -1 if none */
    char *prefer_applied; /* value for Preference-Applied, or NULL */
} rest_plan_t;

/* Plans req against cat. Returns 0 and fills *plan (release with
 * rest_plan_free), or -1 and fills *err (*plan is then empty). */
int rest_plan(const rest_catalog_t *cat, const rest_request_t *req, rest_plan_t *plan, rest_error_t *err);
void rest_plan_free(rest_plan_t *plan);

/* Builds the HTTP answer from the statement's result: body (JSON text or
 * NULL), total (-1 if unknown), nrows (rows the statement returned or
 * affected; for ROWS with a body the body's own length wins). Appends
 * extra header lines ("Content-Range: 0-9/42\r\n"...) to *headers and the
 * body to *out; returns the HTTP status. May turn the answer into an
 * error, written to *out as JSON (single object requested but 0 or 2+
 * rows: 406 PGRST116; offset past the total: 416 PGRST103; max-affected
 * exceeded: 400 PGRST124): the caller must then roll back. */
int rest_respond(const rest_plan_t *plan, const char *body, long total, long nrows, buf_t **headers, buf_t **out);

/* Maps a PostgreSQL error to PostgREST's status and JSON (e.g. 23505 → 409,
 * 42501 → 401 for anon / 403 otherwise, P0001 → 400, 22P02 → 400,
 * 42883/42P01 → 404...). is_anon: the request ran as the anon role. */
void rest_error_from_pg(const char *sqlstate, const char *message, const char *detail, const char *hint, int is_anon,
                        rest_error_t *err);
/* Appends {"code":..,"details":..,"hint":..,"message":..} to *out. */
void rest_error_json(const rest_error_t *err, buf_t **out);

#endif
