/*
 * api/gotrue: see gotrue.h.
 *
 * Errors have GoTrue's shape, {"code": <status>, "error_code": "...",
 * "msg": "..."}, which auth-js turns into AuthApiError with .code set.
 * Access tokens carry what Supabase's do: aud, exp, iat, iss, sub, email,
 * phone, role (the database role, "authenticated"), app_metadata (where
 * the TechCare role lives), user_metadata, aal, amr, session_id and
 * is_anonymous.
 */
#include "api/gotrue.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "auth/jwt.h"
#include "db/pool.h"
#include "http/response.h"
#include "http/routes.h"
#include "net/server.h"
#include "util/log.h"
#include "util/mem.h"

/* Set once by gotrue_register, before the workers start; not owned. */
static const char *g_secret; /* signs access tokens; NULL: auth answers 503 */
static int g_exp;            /* access tokens' lifetime, s */
static const jwt_keyring_t *g_keys;

typedef enum {
    OP_PASSWORD,
    OP_REFRESH,
    OP_SIGNUP,
    OP_LOGOUT,
    OP_USER,
    OP_UPDATE_USER,
    OP_ADMIN_CREATE,
    OP_ADMIN_GET,
    OP_ADMIN_DELETE,
    OP_ADMIN_UPDATE
} op_kind_t;

typedef struct {
    http_pending_t pending; /* first */
    op_kind_t kind;
} op_t;

/* bcrypt reads only the first 72 bytes of a password: a longer one would be
 * stored as if it were its prefix (and costs us a 100 KB parameter for
 * nothing). GoTrue refuses it in checkPasswordStrength, before any other
 * password rule, counting bytes, with this status, code and wording. */
#define MAX_PASSWORD_BYTES 72
#define MSG_PASSWORD_TOO_LONG "Password cannot be longer than 72 characters"

/* Operations whose statement parameters hold a password or a refresh
 * token: a database error may echo a parameter, so its text is never
 * logged for them (only the SQLSTATE). */
static int carries_secret(op_kind_t k) {
    return k == OP_PASSWORD || k == OP_REFRESH || k == OP_SIGNUP || k == OP_UPDATE_USER || k == OP_ADMIN_CREATE ||
           k == OP_ADMIN_UPDATE;
}

/* The user columns every user-returning statement selects, in this order. */
#define USER_COLS                                                                                                      \
    "auth.tc_user_json(u)::text, u.id::text, coalesce(u.email, ''), u.role, u.aud, u.raw_app_meta_data::text, "        \
    "u.raw_user_meta_data::text, u.email_confirmed_at IS NOT NULL, coalesce(u.banned_until > now(), false), "          \
    "u.is_anonymous"
enum { U_JSON, U_ID, U_EMAIL, U_ROLE, U_AUD, U_APP, U_META, U_CONFIRMED, U_BANNED, U_ANON, U_NCOLS };

static void respond_json(op_t *op, int status, const char *json) {
    http_pending_respond(&op->pending, status, "application/json", NULL, json, strlen(json));
    free(op);
}

static void error_now(conn_t *c, int keep_alive, int status, const char *code, const char *msg) {
    json_t *e = json_pack("{s:i,s:s,s:s}", "code", status, "error_code", code, "msg", msg ? msg : "");
    char *body = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    http_respond(c, status, "application/json", NULL, body, strlen(body), keep_alive);
    free(body);
}

static void op_error(op_t *op, int status, const char *code, const char *msg) {
    conn_t *c = op->pending.c;
    if (c) {
        op->pending.c = NULL;
        error_now(c, op->pending.keep_alive, status, code, msg);
        conn_resume(c);
    }
    free(op);
}

/* ---- tokens ------------------------------------------------------------------ */

/* A session object (token grant / sign-up answer) for the user in row 0
 * of res, with refresh token and session id. Returns malloc'd JSON. */
static char *session_json(PGresult *res, int row, const char *refresh, const char *session_id) {
    int64_t now = worker_self->now_s, exp = now + g_exp;
    json_error_t jerr;
    json_t *app = json_loads(PQgetvalue(res, row, U_APP), 0, &jerr);
    json_t *meta = json_loads(PQgetvalue(res, row, U_META), 0, &jerr);
    json_t *claims =
        json_pack("{s:s,s:I,s:I,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:s,s:[{s:s,s:I}],s:s,s:b}", "aud",
                  PQgetvalue(res, row, U_AUD), "exp", (json_int_t)exp, "iat", (json_int_t)now, "iss",
                  "techcare/auth/v1", "sub", PQgetvalue(res, row, U_ID), "email", PQgetvalue(res, row, U_EMAIL),
                  "phone", "", "role", PQgetvalue(res, row, U_ROLE), "app_metadata", app ? app : json_object(),
                  "user_metadata", meta ? meta : json_object(), "aal", "aal1", "amr", "method", "password", "timestamp",
                  (json_int_t)now, "session_id", session_id, "is_anonymous", PQgetvalue(res, row, U_ANON)[0] == 't');
    char *claims_text = json_dumps(claims, JSON_COMPACT);
    json_decref(claims);
    const char *secret = g_secret;
    char *jwt = jwt_sign_hs256((const uint8_t *)secret, strlen(secret), claims_text);
    free(claims_text);
    json_t *user = json_loads(PQgetvalue(res, row, U_JSON), 0, &jerr);
    json_t *s = json_pack("{s:s,s:s,s:i,s:I,s:s,s:o}", "access_token", jwt, "token_type", "bearer", "expires_in", g_exp,
                          "expires_at", (json_int_t)exp, "refresh_token", refresh, "user", user ? user : json_object());
    free(jwt);
    char *text = json_dumps(s, JSON_COMPACT);
    json_decref(s);
    return text;
}

/* The caller's verified claims from Authorization: Bearer, or NULL after
 * answering 401/403. */
static json_t *bearer_claims(conn_t *c, http_req_t *r, int need_service_role) {
    const char *auth = http_req_header(r, "authorization");
    int ka = http_req_keep_alive(r);
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) {
        error_now(c, ka, 401, "no_authorization", "This endpoint requires a Bearer token");
        return NULL;
    }
    jwt_claims_t cl;
    char msg[256];
    if (jwt_verify(g_keys, auth + 7, strlen(auth + 7), worker_self->now_s, &cl, msg, sizeof(msg)) != JWT_OK) {
        error_now(c, ka, 403, "bad_jwt", msg);
        return NULL;
    }
    if (need_service_role && strcmp(cl.role, "service_role") != 0) {
        json_decref(cl.claims);
        error_now(c, ka, 403, "not_admin", "User not allowed");
        return NULL;
    }
    return cl.claims;
}

/* ---- database round trips ------------------------------------------------------ */

static const char *field(PGresult *res, int row, int col) {
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* A statement failed: translate the SQLSTATE GoTrue would have caught. */
static void db_failed(op_t *op, PGresult *res, const char *error) {
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (state && !strcmp(state, "23505")) {
        op_error(op, 422, "email_exists", "User already registered");
        return;
    }
    if (state && !strcmp(state, "22023")) {
        op_error(op, 400, "validation_failed", PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
        return;
    }
    const char *text = error                      ? error
                       : !res                     ? "?"
                       : carries_secret(op->kind) ? "(withheld: the statement's parameters hold a password or token)"
                                                  : PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    if (!text)
        text = "?";
    /* %.*s of text up to its first quote: a message cannot break the line */
    log_warn("auth query failed", "\"sqlstate\":\"%.5s\",\"error\":\"%.*s\"", state ? state : "",
             (int)strcspn(text, "\"\\\n") > 200 ? 200 : (int)strcspn(text, "\"\\\n"), text);
    op_error(op, error ? 503 : 500, "unexpected_failure", error ? "Database unavailable" : "Database error");
}

static void on_done(void *ud, PGresult *const *results, int n, const char *error) {
    op_t *op = ud;
    PGresult *res = n > 0 ? results[n - 1] : NULL;
    if (error || !res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        for (int i = 0; i < n && !error; i++)
            if (PQresultStatus(results[i]) == PGRES_FATAL_ERROR)
                res = results[i];
        db_failed(op, res, error);
        return;
    }
    if (!op->pending.c) { /* the client left */
        free(op);
        return;
    }
    int rows = PQntuples(res);
    switch (op->kind) {
    case OP_PASSWORD:
    case OP_SIGNUP: {
        if (rows == 0) {
            op_error(op, 400, "invalid_credentials", "Invalid login credentials");
            return;
        }
        if (PQgetvalue(res, 0, U_BANNED)[0] == 't') {
            op_error(op, 400, "user_banned", "User is banned");
            return;
        }
        if (PQgetvalue(res, 0, U_CONFIRMED)[0] != 't') {
            op_error(op, 400, "email_not_confirmed", "Email not confirmed");
            return;
        }
        char *s = session_json(res, 0, PQgetvalue(res, 0, U_NCOLS), PQgetvalue(res, 0, U_NCOLS + 1));
        respond_json(op, 200, s);
        free(s);
        return;
    }
    case OP_REFRESH: {
        const char *status = field(res, 0, U_NCOLS + 2);
        if (!status || strcmp(status, "ok") != 0 || !field(res, 0, U_ID)) {
            int reused = status && !strcmp(status, "revoked");
            op_error(op, 400, reused ? "refresh_token_already_used" : "refresh_token_not_found",
                     reused ? "Invalid Refresh Token: Already Used" : "Invalid Refresh Token: Refresh Token Not Found");
            return;
        }
        char *s = session_json(res, 0, PQgetvalue(res, 0, U_NCOLS), PQgetvalue(res, 0, U_NCOLS + 1));
        respond_json(op, 200, s);
        free(s);
        return;
    }
    case OP_LOGOUT:
        http_pending_respond(&op->pending, 204, "application/json", NULL, "", 0);
        free(op);
        return;
    case OP_USER:
    case OP_UPDATE_USER:
    case OP_ADMIN_CREATE:
    case OP_ADMIN_GET:
    case OP_ADMIN_UPDATE:
        if (rows == 0 || !field(res, 0, U_JSON)) {
            if (op->kind == OP_USER || op->kind == OP_UPDATE_USER)
                op_error(op, 403, "session_not_found", "Session from session_id claim in JWT does not exist");
            else
                op_error(op, 404, "user_not_found", "User not found");
            return;
        }
        respond_json(op, 200, PQgetvalue(res, 0, U_JSON));
        return;
    case OP_ADMIN_DELETE:
        if (rows == 0 || PQgetvalue(res, 0, 0)[0] != 't') {
            op_error(op, 404, "user_not_found", "User not found");
            return;
        }
        respond_json(op, 200, "{}");
        return;
    }
}

/* Runs stmts in one transaction; the answer is read from the last one. */
static void run_many(conn_t *c, http_req_t *r, op_kind_t kind, const db_stmt_t *stmts, int n) {
    if (!worker_self->db) {
        error_now(c, http_req_keep_alive(r), 503, "unexpected_failure", "No database is configured");
        return;
    }
    op_t *op = xcalloc(1, sizeof(*op));
    op->kind = kind;
    http_pending_start(&op->pending, c, http_req_keep_alive(r));
    if (!db_run(worker_self->db, NULL, NULL, stmts, n, on_done, op))
        op_error(op, 503, "over_request_rate_limit", "Database busy, try again");
}

static void run(conn_t *c, http_req_t *r, op_kind_t kind, const char *sql, int nparams, const char *const *params) {
    db_stmt_t st = {sql, nparams, params, 0};
    run_many(c, r, kind, &st, 1);
}

/* Creating a user is its own statement: the identity row the function
 * inserts is visible to the next statement of the transaction, not to the
 * one that created it. The new id travels in a transaction-local setting. */
#define CREATE_USER_SQL(args) "SELECT set_config('tc.new_user', (auth.tc_create_user(" args ")).id::text, true)"
#define NEW_USER "auth.tc_get_user(current_setting('tc.new_user')::uuid)"

/* ---- endpoints -------------------------------------------------------------------- */

/* 1 (after answering 400) if body field "password" is longer than bcrypt
 * reads. */
static int password_too_long(conn_t *c, http_req_t *r, json_t *body) {
    json_t *pw = json_object_get(body, "password");
    if (!json_is_string(pw) || json_string_length(pw) <= MAX_PASSWORD_BYTES)
        return 0;
    error_now(c, http_req_keep_alive(r), 400, "validation_failed", MSG_PASSWORD_TOO_LONG);
    return 1;
}

static json_t *body_object(conn_t *c, http_req_t *r) {
    size_t len;
    const char *body = http_req_body(r, &len);
    json_error_t jerr;
    json_t *j = json_loadb(body, len, 0, &jerr);
    if (!json_is_object(j)) {
        json_decref(j);
        error_now(c, http_req_keep_alive(r), 400, "bad_json", "Could not parse request body as JSON");
        return NULL;
    }
    return j;
}

static const char *str(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Text of o[k] as JSON, or def; malloc'd. */
static char *json_text(json_t *o, const char *k, const char *def) {
    json_t *v = json_object_get(o, k);
    return json_is_object(v) ? json_dumps(v, JSON_COMPACT) : (def ? xstrdup(def) : NULL);
}

static void token_grant(conn_t *c, http_req_t *r) {
    char grant[32] = "";
    http_query_get(http_req_query(r), "grant_type", grant, sizeof(grant));
    json_t *b = body_object(c, r);
    if (!b)
        return;
    if (!strcmp(grant, "password")) {
        const char *email = str(b, "email"), *password = str(b, "password");
        if (!email || !password || !*email) {
            error_now(c, http_req_keep_alive(r), 400, "validation_failed",
                      "An email address and a password are required");
        } else {
            const char *p[] = {email, password, http_req_header(r, "user-agent")};
            run(c, r, OP_PASSWORD,
                "WITH u AS (SELECT * FROM auth.tc_sign_in($1, $2)), "
                "t AS (SELECT x.* FROM u, auth.tc_issue_refresh_token(u.id, NULL, $3, NULL) x "
                "      WHERE u.email_confirmed_at IS NOT NULL AND coalesce(u.banned_until <= now(), true)) "
                "SELECT " USER_COLS ", t.refresh_token, t.session_id::text FROM u LEFT JOIN t ON true",
                3, p);
        }
    } else if (!strcmp(grant, "refresh_token")) {
        const char *token = str(b, "refresh_token");
        if (!token || !*token) {
            error_now(c, http_req_keep_alive(r), 400, "validation_failed", "A refresh_token is required");
        } else {
            const char *p[] = {token};
            run(c, r, OP_REFRESH,
                "WITH x AS (SELECT * FROM auth.tc_rotate_refresh_token($1)) "
                "SELECT " USER_COLS ", x.refresh_token, x.session_id::text, x.status "
                "FROM x LEFT JOIN LATERAL auth.tc_get_user(x.user_id) u ON x.status = 'ok'",
                1, p);
        }
    } else {
        error_now(c, http_req_keep_alive(r), 400, "unsupported_grant_type",
                  "Unsupported grant type: only password and refresh_token");
    }
    json_decref(b);
}

static void signup(conn_t *c, http_req_t *r) {
    json_t *b = body_object(c, r);
    if (!b)
        return;
    const char *email = str(b, "email"), *password = str(b, "password");
    if (!email || !*email || !password) {
        error_now(c, http_req_keep_alive(r), 400, "validation_failed", "Signup requires a valid password");
    } else if (password_too_long(c, r, b)) {
        /* answered */
    } else if (strlen(password) < 6) {
        error_now(c, http_req_keep_alive(r), 422, "weak_password", "Password should be at least 6 characters.");
    } else {
        /* No mailer: addresses are confirmed at once (Supabase's
         * MAILER_AUTOCONFIRM), and a new account is a customer. */
        char *meta = json_text(b, "data", "{}");
        const char *p[] = {email, password, meta};
        const char *p2[] = {http_req_header(r, "user-agent")};
        db_stmt_t st[2] = {
            {CREATE_USER_SQL("$1, $2, true, '{\"role\":\"customer\"}', $3::jsonb"), 3, p, 0},
            {"WITH u AS (SELECT * FROM " NEW_USER "), "
             "t AS (SELECT x.* FROM u, auth.tc_issue_refresh_token(u.id, NULL, $1, NULL) x) "
             "SELECT " USER_COLS ", t.refresh_token, t.session_id::text FROM u, t",
             1, p2, 0},
        };
        run_many(c, r, OP_SIGNUP, st, 2);
        free(meta);
    }
    json_decref(b);
}

static void user_endpoint(conn_t *c, http_req_t *r) {
    json_t *claims = bearer_claims(c, r, 0);
    if (!claims)
        return;
    const char *sub = str(claims, "sub"), *sid = str(claims, "session_id");
    if (!sub) {
        error_now(c, http_req_keep_alive(r), 403, "bad_jwt", "invalid claim: missing sub claim");
    } else if (!strcmp(http_req_method(r), "GET")) {
        const char *p[] = {sub, sid};
        run(c, r, OP_USER,
            "SELECT " USER_COLS " FROM auth.tc_get_user($1::uuid) u "
            "WHERE $2::uuid IS NULL OR auth.tc_session_is_active($2::uuid)",
            2, p);
    } else {
        json_t *b = body_object(c, r);
        if (b && password_too_long(c, r, b)) {
            json_decref(b);
            b = NULL;
        }
        if (b) {
            char *meta = json_text(b, "data", NULL);
            const char *p[] = {sub, str(b, "email"), str(b, "password"), meta};
            run(c, r, OP_UPDATE_USER, "SELECT " USER_COLS " FROM auth.tc_update_user($1::uuid, $2, $3, $4::jsonb) u", 4,
                p);
            free(meta);
            json_decref(b);
        }
    }
    json_decref(claims);
}

static void logout(conn_t *c, http_req_t *r) {
    json_t *claims = bearer_claims(c, r, 0);
    if (!claims)
        return;
    char scope[16] = "global";
    http_query_get(http_req_query(r), "scope", scope, sizeof(scope));
    const char *sid = str(claims, "session_id");
    if (!sid) {
        http_respond(c, 204, "application/json", NULL, "", 0, http_req_keep_alive(r));
    } else {
        const char *p[] = {sid, scope};
        run(c, r, OP_LOGOUT, "SELECT auth.tc_logout($1::uuid, $2)", 2, p);
    }
    json_decref(claims);
}

static int valid_uuid(const char *s) {
    if (strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i]))
            return 0;
    }
    return 1;
}

static void admin_users(conn_t *c, http_req_t *r, const char *rest) {
    json_t *claims = bearer_claims(c, r, 1);
    if (!claims)
        return;
    json_decref(claims);
    const char *method = http_req_method(r);
    int ka = http_req_keep_alive(r);
    if (!*rest) {
        if (strcmp(method, "POST") != 0) {
            error_now(c, ka, 405, "method_not_allowed", "Use POST to create a user");
            return;
        }
        json_t *b = body_object(c, r);
        if (!b)
            return;
        const char *email = str(b, "email"), *password = str(b, "password");
        if (!email || !*email) {
            error_now(c, ka, 400, "validation_failed", "Unable to validate email address: invalid format");
        } else if (password_too_long(c, r, b)) {
            /* answered */
        } else {
            char *app = json_text(b, "app_metadata", "{}"), *meta = json_text(b, "user_metadata", "{}");
            const char *confirm = json_is_true(json_object_get(b, "email_confirm")) ? "true" : "false";
            const char *p[] = {email, password ? password : "", confirm, app, meta};
            db_stmt_t st[2] = {
                {CREATE_USER_SQL("$1, $2, $3::boolean, $4::jsonb, $5::jsonb"), 5, p, 0},
                {"SELECT " USER_COLS " FROM " NEW_USER " u", 0, NULL, 0},
            };
            run_many(c, r, OP_ADMIN_CREATE, st, 2);
            free(app);
            free(meta);
        }
        json_decref(b);
        return;
    }
    if (!valid_uuid(rest)) {
        error_now(c, ka, 404, "user_not_found", "User not found");
        return;
    }
    const char *p[] = {rest};
    if (!strcmp(method, "GET")) {
        run(c, r, OP_ADMIN_GET, "SELECT " USER_COLS " FROM auth.tc_get_user($1::uuid) u", 1, p);
    } else if (!strcmp(method, "DELETE")) {
        run(c, r, OP_ADMIN_DELETE, "SELECT auth.tc_delete_user($1::uuid)", 1, p);
    } else if (!strcmp(method, "PUT")) {
        json_t *b = body_object(c, r);
        if (!b)
            return;
        if (password_too_long(c, r, b)) {
            json_decref(b);
            return;
        }
        char *app = json_text(b, "app_metadata", NULL), *meta = json_text(b, "user_metadata", NULL);
        json_t *ec = json_object_get(b, "email_confirm");
        const char *up[] = {rest,
                            str(b, "email"),
                            str(b, "password"),
                            meta,
                            app,
                            json_is_boolean(ec) ? (json_is_true(ec) ? "true" : "false") : NULL};
        run(c, r, OP_ADMIN_UPDATE,
            "SELECT " USER_COLS " FROM auth.tc_update_user($1::uuid, $2, $3, $4::jsonb, $5::jsonb, $6::boolean) u", 6,
            up);
        free(app);
        free(meta);
        json_decref(b);
    } else {
        error_now(c, ka, 405, "method_not_allowed", "Method not allowed");
    }
}

static void gotrue_handle(conn_t *c, http_req_t *r, const char *rest) {
    (void)rest;
    const char *p = http_req_path(r) + strlen("/auth/v1");
    const char *m = http_req_method(r);
    int ka = http_req_keep_alive(r);
    if (!g_secret) {
        error_now(c, ka, 503, "unexpected_failure", "Auth needs API_JWT_SECRET to sign access tokens");
        return;
    }
    if (!strcmp(p, "/token") && !strcmp(m, "POST"))
        token_grant(c, r);
    else if (!strcmp(p, "/signup") && !strcmp(m, "POST"))
        signup(c, r);
    else if (!strcmp(p, "/logout") && !strcmp(m, "POST"))
        logout(c, r);
    else if (!strcmp(p, "/user") && (!strcmp(m, "GET") || !strcmp(m, "PUT")))
        user_endpoint(c, r);
    else if (!strncmp(p, "/admin/users", 12) && (p[12] == 0 || p[12] == '/'))
        admin_users(c, r, p[12] ? p + 13 : "");
    else if (!strcmp(p, "/health") || !strcmp(p, "/settings")) {
        static const char info[] =
            "{\"name\":\"techcare-auth\",\"external\":{\"email\":true},\"mailer_autoconfirm\":true}";
        http_respond(c, 200, "application/json", NULL, info, sizeof(info) - 1, ka);
    } else
        error_now(c, ka, 404, "not_found", "Not found");
}

void gotrue_register(const char *jwt_secret, int jwt_exp, const jwt_keyring_t *keys) {
    g_secret = jwt_secret;
    g_exp = jwt_exp;
    g_keys = keys;
    routes_add("/auth/v1", ROUTE_UNDER, gotrue_handle);
    routes_reserve("/auth/v1");
}
