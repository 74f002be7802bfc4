/*
 * api/realtime: the realtime server's own HTTP endpoints, registered into
 * http/routes: the WebSocket handshake (/realtime/v1/websocket and Phoenix's
 * /socket/websocket), which verifies the apikey and hands the connection to
 * channel/socket; the broadcast endpoints realtime-js falls back to; /health
 * and /metrics. It owns nothing past a request, and never reads a socket.
 *
 * The broadcast API mirrors supabase/realtime's: the body
 * {"messages":[{"topic","event","payload","private"}]} (topics without the
 * "realtime:" prefix) answers 202, as does
 * /api/broadcast/<topic>/events/<event> whose body is the payload itself
 * (JSON, or raw bytes with application/octet-stream). Both need a valid
 * JWT in the apikey header / query or Authorization: Bearer.
 *
 * Private messages (?private=true, or "private": true in the batch) are
 * authorized by the INSERT policies on realtime.messages under the caller's
 * token (channel/store: one insert per private topic, rolled back; a
 * refusal is a 403 naming the topic and nothing of the request is
 * published), and ?persist=true / persist[ttl]=<s> stores the message for
 * replay (committed; published with meta.id). The answer waits for the
 * database (http_pending: the connection reads nothing more meanwhile).
 */
#include "api/realtime.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/token_cache.h"
#include "cdc/engine.h"
#include "channel/socket.h"
#include "channel/store.h"
#include "http/response.h"
#include "http/routes.h"
#include "hub/hub.h"
#include "metrics/metrics.h"
#include "net/server.h"
#include "proto/msg.h"
#include "util/log.h"
#include "util/mem.h"
#include "ws/frame.h"

/* Set once by rtapi_register, before the workers start. */
static const jwt_keyring_t *g_keys;
static int g_allow_log_level;

static void respond(conn_t *c, int status, const char *ctype, const char *body, size_t len, int keep_alive) {
    http_respond(c, status, ctype, NULL, body, len, keep_alive);
}

static void respond_json(conn_t *c, int status, const char *json, int keep_alive) {
    respond(c, status, "application/json", json, strlen(json), keep_alive);
}

static void respond_error(conn_t *c, int status, const char *reason, int keep_alive) {
    http_respond_error(c, status, reason, keep_alive);
}

/* ---- WebSocket handshake ------------------------------------------------ */

static int header_has_token(const char *v, const char *token) {
    size_t n = strlen(token);
    for (const char *p = v; p && *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && t[-1] == ' ')
            t--;
        if ((size_t)(t - p) == n && !strncasecmp(p, token, n))
            return 1;
        p = e;
    }
    return 0;
}

static void handle_upgrade(conn_t *c, http_req_t *r, const char *rest) {
    (void)rest;
    const char *upgrade = http_req_header(r, "upgrade");
    const char *connection = http_req_header(r, "connection");
    const char *version = http_req_header(r, "sec-websocket-version");
    const char *key = http_req_header(r, "sec-websocket-key");
    if (strcmp(http_req_method(r), "GET") != 0) {
        respond_error(c, 405, "WebSocket upgrade needs GET", 0);
        return;
    }
    if (!upgrade || strcasecmp(upgrade, "websocket") != 0 || !connection || !header_has_token(connection, "upgrade")) {
        respond_error(c, 426, "expected a WebSocket upgrade", 0);
        return;
    }
    if (!version || strcmp(version, "13") != 0) {
        buf_t *b = buf_new(128);
        buf_puts(&b, "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n");
        conn_send_owned(c, b);
        conn_close_after_write(c);
        return;
    }
    char accept[29];
    if (!key || ws_accept_key(key, strlen(key), accept) < 0) {
        respond_error(c, 400, "invalid Sec-WebSocket-Key", 0);
        return;
    }
    const char *q = http_req_query(r);
    char vsn[16], apikey[8192], level[16];
    msg_vsn_t v = MSG_VSN_1; /* Phoenix's default when the client names none */
    if (http_query_get(q, "vsn", vsn, sizeof(vsn)) >= 0) {
        if (!strcmp(vsn, "2.0.0"))
            v = MSG_VSN_2;
        else if (strcmp(vsn, "1.0.0") != 0) {
            respond_error(c, 400, "unsupported vsn: only 1.0.0 and 2.0.0 exist", 0);
            return;
        }
    }
    int have_key = http_query_get(q, "apikey", apikey, sizeof(apikey)) > 0;
    if (!have_key) {
        const char *h = http_req_header(r, "apikey");
        size_t hlen = h ? strlen(h) : 0;
        if (h && hlen < sizeof(apikey)) {
            memcpy(apikey, h, hlen + 1);
            have_key = 1;
        }
    }
    if (!have_key) {
        met_add(M_AUTH_ERRORS, 1);
        respond_error(c, 401, "API key is missing or not a valid string", 0);
        return;
    }
    /* The apikey must itself be a valid token: it stands in for joins that
     * carry none. Publishable keys ("sb_...") are not supported yet. */
    tok_info_t claims;
    char msg[256];
    if (tok_verify(g_keys, apikey, strlen(apikey), worker_self->now_s, &claims, msg, sizeof(msg)) != JWT_OK) {
        met_add(M_AUTH_ERRORS, 1);
        log_info("connection refused", "\"peer\":\"%s\",\"reason\":\"%s\"", conn_peer(c), msg);
        respond_error(c, 403, msg, 0);
        return;
    }
    /* Any client may put log_level=debug on its URL: honoured only when the
     * operator allows it (the trace never holds a token either way). */
    int debug =
        g_allow_log_level && http_query_get(q, "log_level", level, sizeof(level)) > 0 && !strcmp(level, "debug");
    chan_socket_upgrade(c, accept, v, apikey, debug);
}

/* ---- broadcast API -------------------------------------------------------- */

/* The caller's verified token: role and claims copied into *role and
 * *claims (malloc'd; the caller frees), or 0 after answering 401. */
static int authorized(conn_t *c, http_req_t *r, char **role, char **claims_json) {
    char tok[8192];
    const char *auth = http_req_header(r, "authorization");
    const char *t = NULL;
    if (auth && !strncasecmp(auth, "Bearer ", 7))
        t = auth + 7;
    else if ((t = http_req_header(r, "apikey")) == NULL &&
             http_query_get(http_req_query(r), "apikey", tok, sizeof(tok)) > 0)
        t = tok;
    tok_info_t claims;
    char msg[256];
    if (!t) {
        respond_error(c, 401, "API key is missing or not a valid string", http_req_keep_alive(r));
        return 0;
    }
    if (tok_verify(g_keys, t, strlen(t), worker_self->now_s, &claims, msg, sizeof(msg)) != JWT_OK) {
        met_add(M_AUTH_ERRORS, 1);
        respond_error(c, 401, msg, http_req_keep_alive(r));
        return 0;
    }
    /* the cache's strings last until this thread's next verification */
    *role = xstrdup(claims.role);
    *claims_json = xstrdup(claims.claims_json ? claims.claims_json : "{}");
    return 1;
}

/* Publishes one message to "realtime:<topic>" (the private topic of that
 * name when priv); a topic nobody listens to costs a lookup. meta: JSON
 * object text or NULL. */
static void publish(const char *topic, size_t tlen, int priv, const char *event, size_t elen, const char *meta,
                    uint8_t enc, const void *payload, size_t plen) {
    char name[512];
    if (tlen + 9 >= sizeof(name))
        return;
    memcpy(name, "realtime:", 9);
    memcpy(name + 9, topic, tlen);
    hub_topic_t *t = hub_topic_find(name, tlen + 9, priv);
    if (!t)
        return;
    met_add(M_BROADCASTS, 1);
    hub_publish(hub_msg_broadcast(t, NULL, event, elen, meta, meta ? strlen(meta) : 0, enc, payload, plen));
    hub_topic_release(t);
}

/* One message of a request, copied so it can be published after the
 * database authorized (and, persisted, stored) it. */
typedef struct {
    char *topic, *event, *payload;
    size_t tlen, elen, plen;
    uint8_t enc, priv;
} bmsg_t;

/* A broadcast request waiting for the database. */
typedef struct {
    http_pending_t pending; /* first */
    bmsg_t *msgs;
    int n;
    int persist;         /* one message, stored for replay */
    char **probe_topics; /* the private topic each store message was for */
} bc_op_t;

static void bc_op_free(bc_op_t *op) {
    for (int i = 0; i < op->n; i++)
        free(op->msgs[i].topic), free(op->msgs[i].event), free(op->msgs[i].payload);
    free(op->msgs);
    free(op->probe_topics);
    free(op);
}

static void pending_error(bc_op_t *op, int status, const char *reason) {
    buf_t *b = buf_new(64 + strlen(reason));
    buf_puts(&b, "{\"error\":");
    buf_json_str(&b, reason, strlen(reason));
    buf_putc(&b, '}');
    http_pending_respond(&op->pending, status, "application/json", NULL, b->data, b->len);
    buf_unref(b);
}

static void on_authorized(void *ud, chan_store_status_t st, int failed, const char *const *ids, const char *error) {
    (void)error;
    bc_op_t *op = ud;
    char why[600];
    switch (st) {
    case CHAN_STORE_OK:
        for (int i = 0; i < op->n; i++) {
            const bmsg_t *m = &op->msgs[i];
            char meta[64];
            if (op->persist)
                chan_store_meta(ids[0], meta, sizeof(meta));
            publish(m->topic, m->tlen, m->priv, m->event, m->elen, op->persist ? meta : NULL, m->enc, m->payload,
                    m->plen);
        }
        http_pending_respond(&op->pending, 202, "application/json", NULL, "", 0);
        break;
    case CHAN_STORE_DENIED:
        met_add(M_AUTH_ERRORS, 1);
        snprintf(why, sizeof(why), "You do not have permissions to write to this Channel topic: %.500s",
                 op->probe_topics[failed]);
        pending_error(op, 403, why);
        break;
    case CHAN_STORE_INVALID:
        pending_error(op, 400, "the database refused the payload (not storable as jsonb, or too large)");
        break;
    default: pending_error(op, 503, "Realtime was unable to reach the project database, try again"); break;
    }
    bc_op_free(op);
}

/* Private messages (and the public ones sent with them) are published
 * once the INSERT policies on realtime.messages allowed one insert per
 * private topic under the caller's token: committed when persisted,
 * rolled back otherwise. */
static void run_private(conn_t *c, http_req_t *r, bc_op_t *op, const char *role, const char *claims, int64_t ttl_s) {
    int ka = http_req_keep_alive(r);
    if (!worker_self->db) {
        /* the server's configuration, not a passing outage: as before */
        respond_error(c, 400, "private broadcasts are not available: this server has no database configured", ka);
        bc_op_free(op);
        return;
    }
    chan_store_msg_t sm[CHAN_STORE_MAX_BATCH];
    int ns = 0;
    op->probe_topics = xcalloc((size_t)op->n, sizeof(char *));
    for (int i = 0; i < op->n; i++) {
        const bmsg_t *m = &op->msgs[i];
        if (!m->priv)
            continue;
        int seen = 0;
        for (int k = 0; k < ns && !seen; k++)
            seen = sm[k].topic_len == m->tlen && !memcmp(sm[k].topic, m->topic, m->tlen);
        if (seen)
            continue;
        if (ns == CHAN_STORE_MAX_BATCH) {
            char why[96];
            snprintf(why, sizeof(why), "a batch may name at most %d private topics", CHAN_STORE_MAX_BATCH);
            respond_error(c, 400, why, ka);
            bc_op_free(op);
            return;
        }
        op->probe_topics[ns] = m->topic;
        sm[ns++] = (chan_store_msg_t){m->topic, m->tlen, m->event, m->elen, m->enc, m->payload, m->plen, ttl_s};
    }
    http_pending_start(&op->pending, c, ka);
    if (chan_store_run(worker_self->db, role, claims, sm, ns, op->persist, on_authorized, op, NULL) < 0) {
        pending_error(op, 503, "Realtime was unable to reach the project database, try again");
        bc_op_free(op);
    }
}

static void bmsg_set(bmsg_t *m, const char *topic, size_t tlen, const char *event, size_t elen, uint8_t enc,
                     const void *payload, size_t plen, int priv) {
    m->topic = xstrndup(topic, tlen), m->tlen = tlen;
    m->event = xstrndup(event, elen), m->elen = elen;
    m->payload = xmalloc(plen + 1);
    if (plen)
        memcpy(m->payload, payload, plen);
    m->payload[plen] = 0;
    m->plen = plen;
    m->enc = enc;
    m->priv = (uint8_t)priv;
}

static void broadcast_batch(conn_t *c, http_req_t *r, const char *role, const char *claims) {
    size_t len;
    const char *body = http_req_body(r, &len);
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    json_t *msgs = json_object_get(root, "messages");
    int ka = http_req_keep_alive(r);
    if (!json_is_array(msgs)) {
        json_decref(root);
        respond_error(c, 400, "body must be {\"messages\":[{\"topic\",\"event\",\"payload\"}]}", ka);
        return;
    }
    size_t i;
    json_t *m;
    int any_private = 0;
    json_array_foreach(msgs, i, m) {
        json_t *topic = json_object_get(m, "topic"), *event = json_object_get(m, "event");
        json_t *payload = json_object_get(m, "payload"), *priv = json_object_get(m, "private");
        /* Strict: "true" (a string), 1 or null must not be read as "not
         * private" and deliver what the sender meant to keep private. */
        if (priv && !json_is_boolean(priv)) {
            char why[96];
            snprintf(why, sizeof(why), "messages[%zu].private must be true or false", i);
            json_decref(root);
            respond_error(c, 400, why, ka);
            return;
        }
        if (!json_is_string(topic) || !json_is_string(event) || !payload) {
            json_decref(root);
            respond_error(c, 400, "each message needs a string topic, a string event and a payload", ka);
            return;
        }
        any_private |= json_is_true(priv);
    }
    bc_op_t *op = xcalloc(1, sizeof(*op));
    op->n = (int)json_array_size(msgs);
    op->msgs = xcalloc(op->n ? (size_t)op->n : 1, sizeof(*op->msgs));
    json_array_foreach(msgs, i, m) {
        json_t *topic = json_object_get(m, "topic"), *event = json_object_get(m, "event");
        char *text = json_dumps(json_object_get(m, "payload"), JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text)
            abort(); /* jansson fails here only out of memory */
        bmsg_set(&op->msgs[i], json_string_value(topic), json_string_length(topic), json_string_value(event),
                 json_string_length(event), MSG_ENC_JSON, text, strlen(text),
                 json_is_true(json_object_get(m, "private")));
        free(text);
    }
    json_decref(root);
    if (any_private) {
        run_private(c, r, op, role, claims, 0);
        return;
    }
    for (int k = 0; k < op->n; k++) {
        const bmsg_t *b = &op->msgs[k];
        publish(b->topic, b->tlen, 0, b->event, b->elen, NULL, b->enc, b->payload, b->plen);
    }
    bc_op_free(op);
    respond(c, 202, "application/json", "", 0, ka);
}

/* ?name= as a strict boolean: 1, 0 (also when absent), or -1 (answered 400). */
static int query_flag(conn_t *c, http_req_t *r, const char *name) {
    const char *q = http_req_query(r);
    if (!http_query_has(q, name))
        return 0;
    char v[8];
    int flag = http_query_get(q, name, v, sizeof(v)) < 0 ? -1 : http_bool_value(v);
    if (flag < 0) {
        char why[96];
        snprintf(why, sizeof(why), "query parameter %s must be true or false", name);
        respond_error(c, 400, why, http_req_keep_alive(r));
    }
    return flag;
}

/* /realtime/v1/api/broadcast/<topic>/events/<event>[?private=true][&persist=true | &persist[ttl]=<s>] */
static void broadcast_one(conn_t *c, http_req_t *r, const char *rest, const char *role, const char *claims) {
    int ka = http_req_keep_alive(r);
    const char *sep = strstr(rest, "/events/");
    if (!sep || sep == rest || !sep[8] || strchr(sep + 8, '/')) {
        respond_error(c, 404, "expected /api/broadcast/<topic>/events/<event>", ka);
        return;
    }
    /* ?private= and ?persist= are strict too: anything but true or false
     * (including a value too long to read) is refused, never taken for
     * "public" or "not stored". */
    int priv = query_flag(c, r, "private");
    if (priv < 0)
        return;
    int persist = query_flag(c, r, "persist");
    if (persist < 0)
        return;
    int64_t ttl_s = CHAN_STORE_MAX_TTL_S;
    const char *q = http_req_query(r);
    if (http_query_has(q, "persist[ttl]")) {
        char v[24], why[96];
        if (http_query_get(q, "persist[ttl]", v, sizeof(v)) < 0 ||
            chan_store_parse_ttl_text(v, &ttl_s, why, sizeof(why)) < 0) {
            respond_error(c, 400, "persist[ttl] must be a positive integer (seconds)", ka);
            return;
        }
        persist = 1;
    }
    if (persist && !priv) {
        respond_error(c, 400, "persist is only available on private channels (?private=true)", ka);
        return;
    }
    size_t len;
    const char *body = http_req_body(r, &len);
    const char *ctype = http_req_header(r, "content-type");
    uint8_t enc = MSG_ENC_JSON;
    if (ctype && !strncasecmp(ctype, "application/octet-stream", 24)) {
        enc = MSG_ENC_RAW;
    } else {
        json_error_t jerr;
        json_t *v = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
        if (!v) {
            respond_error(c, 400, "body is not valid JSON", ka);
            return;
        }
        json_decref(v);
    }
    size_t tlen = (size_t)(sep - rest);
    if (!priv) {
        publish(rest, tlen, 0, sep + 8, strlen(sep + 8), NULL, enc, body, len);
        respond(c, 202, "application/json", "", 0, ka);
        return;
    }
    bc_op_t *op = xcalloc(1, sizeof(*op));
    op->n = 1;
    op->persist = persist;
    op->msgs = xcalloc(1, sizeof(*op->msgs));
    bmsg_set(&op->msgs[0], rest, tlen, sep + 8, strlen(sep + 8), enc, body, len, 1);
    run_private(c, r, op, role, claims, ttl_s);
}

/* ---- health and metrics ---------------------------------------------------- */

static void serve_health(conn_t *c, int ka) {
    char body[192];
    /* Postgres Changes: off (no database, or turned off), connecting, or streaming. */
    const char *pgc = !cdc_engine_running() ? "off" : met_sum(M_CDC_STREAMING) ? "streaming" : "connecting";
    snprintf(body, sizeof(body), "{\"status\":\"ok\",\"connections\":%llu,\"postgres_changes\":\"%s\"}",
             (unsigned long long)met_sum(M_CONNECTIONS), pgc);
    respond_json(c, 200, body, ka);
}

static void serve_metrics(conn_t *c, int ka) {
    buf_t *b = buf_new(4096); /* ours; released below */
    met_render(&b);
    respond(c, 200, "text/plain; version=0.0.4", (const char *)b->data, b->len, ka);
    buf_unref(b);
}

/* one: the route below /realtime/v1/api/broadcast/ (rest names the topic
 * and event), else the batch endpoint itself. */
static void handle_broadcast(conn_t *c, http_req_t *r, const char *rest, int one) {
    int ka = http_req_keep_alive(r);
    if (strcmp(http_req_method(r), "POST") != 0) {
        respond_error(c, 405, "use POST", ka);
        return;
    }
    char *role = NULL, *claims = NULL;
    if (!authorized(c, r, &role, &claims))
        return;
    if (one)
        broadcast_one(c, r, rest, role, claims);
    else
        broadcast_batch(c, r, role, claims);
    free(role);
    free(claims);
}

static void handle_broadcast_batch(conn_t *c, http_req_t *r, const char *rest) { handle_broadcast(c, r, rest, 0); }
static void handle_broadcast_one(conn_t *c, http_req_t *r, const char *rest) { handle_broadcast(c, r, rest, 1); }

static void handle_health(conn_t *c, http_req_t *r, const char *rest) {
    (void)rest;
    serve_health(c, http_req_keep_alive(r));
}

static void handle_metrics(conn_t *c, http_req_t *r, const char *rest) {
    (void)rest;
    serve_metrics(c, http_req_keep_alive(r));
}

void rtapi_register(const jwt_keyring_t *keys, int allow_client_log_level) {
    g_keys = keys;
    g_allow_log_level = allow_client_log_level;
    /* The handshake answers every method itself (405 for all but GET). */
    routes_add("/realtime/v1/websocket", ROUTE_OPTIONS, handle_upgrade);
    routes_add("/socket/websocket", ROUTE_OPTIONS, handle_upgrade);
    routes_add("/realtime/v1/api/broadcast", ROUTE_EXACT, handle_broadcast_batch);
    routes_add("/realtime/v1/api/broadcast", ROUTE_UNDER, handle_broadcast_one);
    static const char *const health[] = {"/health", "/api/health", "/realtime/v1/api/health"};
    for (size_t i = 0; i < sizeof(health) / sizeof(health[0]); i++)
        routes_add(health[i], ROUTE_WHEN_FULL, handle_health);
    routes_add("/metrics", ROUTE_WHEN_FULL, handle_metrics);
    static const char *const ns[] = {"/realtime/v1", "/socket", "/api", "/health", "/metrics"};
    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
        routes_reserve(ns[i]);
}
