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
 */
#include "api/realtime.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "auth/token_cache.h"
#include "cdc/engine.h"
#include "channel/socket.h"
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

static int authorized(conn_t *c, http_req_t *r) {
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
    return 1;
}

/* Publishes one message to "realtime:<topic>"; a topic nobody listens to
 * costs a lookup. */
static void publish(const char *topic, size_t tlen, const char *event, size_t elen, uint8_t enc, const void *payload,
                    size_t plen) {
    char name[512];
    if (tlen + 9 >= sizeof(name))
        return;
    memcpy(name, "realtime:", 9);
    memcpy(name + 9, topic, tlen);
    hub_topic_t *t = hub_topic_find(name, tlen + 9, 0);
    if (!t)
        return;
    met_add(M_BROADCASTS, 1);
    hub_publish(hub_msg_broadcast(t, NULL, event, elen, NULL, 0, enc, payload, plen));
    hub_topic_release(t);
}

static void broadcast_batch(conn_t *c, http_req_t *r) {
    size_t len;
    const char *body = http_req_body(r, &len);
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    json_t *msgs = json_object_get(root, "messages");
    if (!json_is_array(msgs)) {
        json_decref(root);
        respond_error(c, 400, "body must be {\"messages\":[{\"topic\",\"event\",\"payload\"}]}",
                      http_req_keep_alive(r));
        return;
    }
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        json_t *topic = json_object_get(m, "topic"), *event = json_object_get(m, "event");
        json_t *payload = json_object_get(m, "payload"), *priv = json_object_get(m, "private");
        /* Strict: "true" (a string), 1 or null must not be read as "not
         * private" and deliver what the sender meant to keep private. */
        if (priv && !json_is_boolean(priv)) {
            char why[96];
            snprintf(why, sizeof(why), "messages[%zu].private must be true or false", i);
            json_decref(root);
            respond_error(c, 400, why, http_req_keep_alive(r));
            return;
        }
        if (json_is_true(priv)) {
            json_decref(root);
            respond_error(c, 400, "private broadcasts are not available: no database configured",
                          http_req_keep_alive(r));
            return;
        }
        if (!json_is_string(topic) || !json_is_string(event) || !payload) {
            json_decref(root);
            respond_error(c, 400, "each message needs a string topic, a string event and a payload",
                          http_req_keep_alive(r));
            return;
        }
    }
    json_array_foreach(msgs, i, m) {
        json_t *topic = json_object_get(m, "topic"), *event = json_object_get(m, "event");
        char *text = json_dumps(json_object_get(m, "payload"), JSON_COMPACT | JSON_ENCODE_ANY);
        publish(json_string_value(topic), json_string_length(topic), json_string_value(event),
                json_string_length(event), MSG_ENC_JSON, text, strlen(text));
        free(text);
    }
    json_decref(root);
    respond(c, 202, "application/json", "", 0, http_req_keep_alive(r));
}

/* /realtime/v1/api/broadcast/<topic>/events/<event> */
static void broadcast_one(conn_t *c, http_req_t *r, const char *rest) {
    const char *sep = strstr(rest, "/events/");
    if (!sep || sep == rest || !sep[8] || strchr(sep + 8, '/')) {
        respond_error(c, 404, "expected /api/broadcast/<topic>/events/<event>", http_req_keep_alive(r));
        return;
    }
    /* ?private= is strict too: anything but true or false (including a
     * value too long to read) is refused, never taken for "public". */
    const char *q = http_req_query(r);
    if (http_query_has(q, "private")) {
        char priv[8];
        int flag = http_query_get(q, "private", priv, sizeof(priv)) < 0 ? -1 : http_bool_value(priv);
        if (flag < 0) {
            respond_error(c, 400, "query parameter private must be true or false", http_req_keep_alive(r));
            return;
        }
        if (flag) {
            respond_error(c, 400, "private broadcasts are not available: no database configured",
                          http_req_keep_alive(r));
            return;
        }
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
            respond_error(c, 400, "body is not valid JSON", http_req_keep_alive(r));
            return;
        }
        json_decref(v);
    }
    publish(rest, (size_t)(sep - rest), sep + 8, strlen(sep + 8), enc, body, len);
    respond(c, 202, "application/json", "", 0, http_req_keep_alive(r));
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
    if (!authorized(c, r))
        return;
    if (one)
        broadcast_one(c, r, rest);
    else
        broadcast_batch(c, r);
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
