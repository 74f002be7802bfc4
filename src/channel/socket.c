/*
 * channel/socket: see socket.h.
 *
 * Replies and error strings follow supabase/realtime's RealtimeChannel
 * where a client may rely on them. Channel pushes (system, presence_state,
 * phx_close) carry the channel's join_ref like Phoenix's; fan-out frames
 * carry none, so one encoding serves every recipient.
 * A channel whose token expired receives nothing from the moment it
 * expires; the once-a-second tick then tells the client and closes it.
 */
#include "channel/socket.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "auth/jwt.h"
#include "auth/token_cache.h"
#include "cdc/engine.h"
#include "db/pool.h"
#include "hub/hub.h"
#include "metrics/metrics.h"
#include "net/peer.h"
#include "net/server.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/redact.h"
#include "ws/frame.h"

typedef struct chan chan_t;

struct chan {
    hub_sub_t sub; /* first: the hub hands it back to chan_deliver */
    chan_socket_t *sock;
    chan_t *next;
    char *join_ref;
    char *presence_key; /* NULL until given or first needed */
    int64_t exp;        /* token expiry, seconds since the epoch */
    uint64_t token_hash;
    uint64_t owner;     /* presence owner: unique per channel instance */
    uint8_t self, ack, presence_enabled, tracked, is_private;
    uint8_t peer_counted; /* holds one of its address's channels (net/peer): released once, in chan_free */
    int nbindings;        /* postgres_changes bindings it holds (the connection's budget) */
    /* private channels: what realtime.messages' policies allow (public: all) */
    uint8_t read_broadcast, read_presence, write_broadcast, write_presence;
    /* Postgres Changes: the CDC thread's name for this channel (events
     * are routed to it by that name) */
    uint64_t cdc_client;
};

/* A join waiting for the database to authorize a private channel. */
typedef struct pending_join pending_join_t;

struct chan_socket {
    conn_t *conn;
    char *apikey;
    chan_t *chans;
    int nchans;
    int nbindings;           /* postgres_changes bindings of joined channels */
    int ntracked;            /* channels with a presence tracked (the connection's budget) */
    pending_join_t *pending; /* private joins being authorized */
    msg_vsn_t vsn;
    uint8_t log_debug;
    /* one-second fixed windows for the rate limits */
    int64_t window;
    uint32_t events, joins, presence;
    uint8_t warned;
};

/* What a join asks for, copied out of the message so a private join can
 * finish after the database answered. */
typedef struct {
    char *topic, *join_ref, *ref, *presence_key;
    char *pg_bindings;   /* config.postgres_changes (JSON text), NULL when none */
    char *role, *claims; /* the token's, for Postgres Changes authorization */
    uint8_t self, ack, presence_enabled, is_private;
    int nbindings; /* entries of pg_bindings, counted against the connection while pending */
    int64_t exp;
    uint64_t token_hash;
} join_t;

struct pending_join {
    pending_join_t *next;
    chan_socket_t *s; /* NULL once the socket is gone */
    join_t j;
    db_req_t *req;
    chan_t *recheck;      /* a joined channel whose token changed (NULL once it left) */
    uint8_t recheck_only; /* no join to finish */
    uint8_t cancelled;    /* the client left the topic before the join finished */
    uint8_t perms[4];     /* a private channel's, while Postgres Changes are set up */
    uint64_t cdc_client;  /* Postgres Changes registration being set up */
};

static _Atomic uint64_t next_owner = 1;

#define TOPIC_PREFIX "realtime:"
#define TOPIC_PREFIX_LEN (sizeof(TOPIC_PREFIX) - 1)

static uint64_t hash_token(const char *s, size_t n) {
    uint64_t h = hash_bytes(HASH_INIT, s, n);
    return h ? h : 1;
}

static int64_t now_s(void) { return worker_self->now_s; }

static int trace_on(const chan_socket_t *s) { return log_protocol || s->log_debug; }

static void trace(const chan_socket_t *s, const char *dir, const uint8_t *data, size_t len, int binary) {
    if (binary) {
        log_at(LOG_INFO, "protocol", "\"conn\":%llu,\"dir\":\"%s\",\"binary_bytes\":%zu",
               (unsigned long long)conn_id(s->conn), dir, len);
        return;
    }
    /* Tokens never reach the log, whatever the level (util/redact.h). Only
     * the first TRACE_BYTES are printed, so only those are redacted: the
     * redactor treats a string or token cut by the end as secret. */
    enum { TRACE_BYTES = 1500 };
    buf_t *r = buf_new(TRACE_BYTES + 64);
    redact_json((const char *)data, len > TRACE_BYTES ? TRACE_BYTES : len, &r);
    buf_t *b = buf_new(TRACE_BYTES + 64);
    buf_json_str(&b, (const char *)r->data, r->len > TRACE_BYTES ? TRACE_BYTES : r->len);
    buf_putc(&b, 0);
    log_at(LOG_INFO, "protocol", "\"conn\":%llu,\"dir\":\"%s\",\"frame\":%s", (unsigned long long)conn_id(s->conn),
           dir, (const char *)b->data);
    buf_unref(b);
    buf_unref(r);
}

/* Seals and queues one text frame built by proto/msg. */
static void send_text(chan_socket_t *s, buf_t *b) {
    if (trace_on(s))
        trace(s, "out", b->data, b->len, 0);
    ws_frame_seal(b, WS_OP_TEXT);
    met_add(M_MSG_OUT, 1);
    conn_send_owned(s->conn, b);
}

static msg_str_t str_of(const char *s) { return s ? (msg_str_t){s, strlen(s)} : MSG_STR_NULL; }

static void reply(chan_socket_t *s, const msg_in_t *m, const char *status, const char *response) {
    if (!m->ref.s)
        return; /* nobody waits for it */
    send_text(s, msg_encode_reply(s->vsn, m->join_ref, m->ref, m->topic, status, response, strlen(response)));
}

static void reply_error(chan_socket_t *s, const msg_in_t *m, const char *reason) {
    buf_t *r = buf_new(64 + strlen(reason));
    buf_puts(&r, "{\"reason\":");
    buf_json_str(&r, reason, strlen(reason));
    buf_putc(&r, '}');
    buf_putc(&r, 0);
    reply(s, m, "error", (const char *)r->data);
    buf_unref(r);
}

/* An error the client did not ask a question for: malformed frames, rate
 * limits. Topic "phoenix" matches no channel, so the client logs it and
 * every channel keeps working. */
static void socket_error(chan_socket_t *s, const char *reason) {
    buf_t *p = buf_new(64 + strlen(reason));
    buf_puts(&p, "{\"reason\":");
    buf_json_str(&p, reason, strlen(reason));
    buf_putc(&p, '}');
    send_text(s, msg_encode(s->vsn, MSG_STR_NULL, MSG_STR_NULL, MSG_STR("phoenix"), "phx_error", (const char *)p->data,
                            p->len));
    buf_unref(p);
}

static void push(chan_t *ch, const char *event, const char *payload, size_t len) {
    size_t tlen;
    const char *topic = hub_topic_name(ch->sub.topic, &tlen);
    send_text(ch->sock, msg_encode(ch->sock->vsn, str_of(ch->join_ref), MSG_STR_NULL, (msg_str_t){topic, tlen}, event,
                                   payload, len));
}

static void push_system(chan_t *ch, const char *extension, const char *status, const char *message) {
    size_t tlen;
    const char *topic = hub_topic_name(ch->sub.topic, &tlen);
    buf_t *p = buf_new(128 + tlen + strlen(message));
    buf_puts(&p, "{\"extension\":");
    buf_json_str(&p, extension, strlen(extension));
    buf_puts(&p, ",\"status\":");
    buf_json_str(&p, status, strlen(status));
    buf_puts(&p, ",\"message\":");
    buf_json_str(&p, message, strlen(message));
    buf_puts(&p, ",\"channel\":");
    buf_json_str(&p, topic + TOPIC_PREFIX_LEN, tlen - TOPIC_PREFIX_LEN);
    buf_putc(&p, '}');
    push(ch, "system", (const char *)p->data, p->len);
    buf_unref(p);
}

static void push_presence_state(chan_t *ch) {
    buf_t *st = buf_new(256);
    hub_presence_state(&ch->sub, &st);
    push(ch, "presence_state", (const char *)st->data, st->len);
    buf_unref(st);
}

/* ---- fan-out ----------------------------------------------------------- */

static void chan_deliver(hub_sub_t *sub, hub_msg_t *m) {
    chan_t *ch = (chan_t *)sub;
    if (m->origin == sub && !ch->self)
        return;
    if (ch->exp <= now_s())
        return;
    if (m->kind == HUB_POSTGRES_CHANGES) {
        /* One frame per topic serves every channel the change was
         * authorized for; any other channel on the topic must not see it. */
        if (!ch->cdc_client || !hub_msg_routes_to(m, ch->cdc_client))
            return;
    } else if (m->kind == HUB_BROADCAST ? !ch->read_broadcast : !ch->read_presence) {
        return;
    }
    int form;
    if (ch->sock->vsn == MSG_VSN_1)
        form = HUB_FORM_V1;
    else if (m->kind == HUB_BROADCAST && m->encoding == MSG_ENC_RAW)
        form = HUB_FORM_V2_BINARY;
    else
        form = HUB_FORM_V2_TEXT;
    buf_t *f = hub_msg_frame(m, form);
    if (!f)
        return; /* vsn 1 cannot carry raw binary payloads, as in supabase/realtime */
    if (log_protocol || ch->sock->log_debug)
        log_at(LOG_INFO, "protocol", "\"conn\":%llu,\"dir\":\"out\",\"fanout_bytes\":%zu",
               (unsigned long long)conn_id(ch->sock->conn), f->len);
    met_add(M_MSG_OUT, 1);
    conn_send(ch->sock->conn, f);
}

/* ---- channels ------------------------------------------------------------ */

static chan_t *find_chan(chan_socket_t *s, msg_str_t topic) {
    for (chan_t *ch = s->chans; ch; ch = ch->next) {
        size_t len;
        const char *name = hub_topic_name(ch->sub.topic, &len);
        if (len == topic.len && !memcmp(name, topic.s, len))
            return ch;
    }
    return NULL;
}

/* Removes ch from its socket, publishing its presence leave. */
static void chan_free(chan_t *ch) {
    chan_socket_t *s = ch->sock;
    for (pending_join_t *p = s->pending; p; p = p->next)
        if (p->recheck == ch)
            p->recheck = NULL;
    for (chan_t **p = &s->chans; *p; p = &(*p)->next)
        if (*p == ch) {
            *p = ch->next;
            break;
        }
    s->nchans--;
    s->nbindings -= ch->nbindings;
    if (ch->peer_counted)
        peer_channel_remove(conn_peer_entry(s->conn));
    if (ch->tracked) {
        hub_presence_untrack(&ch->sub, ch->owner);
        s->ntracked--;
    }
    hub_unsubscribe(&ch->sub);
    if (ch->cdc_client)
        cdc_engine_leave(ch->cdc_client);
    met_add(M_CHANNELS, -1);
    free(ch->join_ref);
    free(ch->presence_key);
    free(ch);
}

/* supabase/realtime's shutdown_response: a system error, then phx_close. */
static void shutdown_channel(chan_t *ch, const char *message) {
    log_info("channel shut down", "\"conn\":%llu,\"reason\":\"%.*s\"", (unsigned long long)conn_id(ch->sock->conn),
             (int)strcspn(message, "\"\\\n"), message);
    push_system(ch, "system", "error", message);
    push(ch, "phx_close", "{}", 2);
    chan_free(ch);
}

static int flag(json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    if (json_is_true(v))
        return 1;
    if (json_is_string(v))
        return !strcmp(json_string_value(v), "true");
    return 0;
}

static void uuid4(char out[37]) {
    uint8_t r[16];
    if (RAND_bytes(r, sizeof(r)) != 1)
        abort();
    r[6] = (r[6] & 0x0f) | 0x40;
    r[8] = (r[8] & 0x3f) | 0x80;
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3],
             r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
}

/* The token a join or refresh carries, else the connection's apikey.
 * Publishable keys ("sb_...") stand for the apikey, as in supabase/realtime. */
static const char *pick_token(chan_socket_t *s, json_t *payload) {
    json_t *t = json_object_get(payload, "access_token");
    if (!json_is_string(t))
        t = json_object_get(payload, "user_token");
    if (json_is_string(t) && strncmp(json_string_value(t), "sb_", 3) != 0)
        return json_string_value(t);
    return s->apikey;
}

static int verify(chan_socket_t *s, const char *token, tok_info_t *claims, char *msg, size_t msglen) {
    if (!token) {
        snprintf(msg, msglen, "%s", "API key is missing or not a valid string");
        return -1;
    }
    jwt_status_t st = tok_verify(srv.keys, token, strlen(token), now_s(), claims, msg, msglen);
    if (st != JWT_OK) {
        met_add(M_AUTH_ERRORS, 1);
        log_info("token refused", "\"conn\":%llu,\"status\":%d", (unsigned long long)conn_id(s->conn), (int)st);
        return -1;
    }
    return 0;
}

static int rate_ok(chan_socket_t *s, uint32_t *counter, int limit) {
    if (s->window != now_s()) {
        s->window = now_s();
        s->events = s->joins = s->presence = 0;
        s->warned = 0;
    }
    if (++*counter <= (uint32_t)limit)
        return 1;
    met_add(M_RATE_LIMITED, 1);
    return 0;
}

/* Client text in a log line goes through JSON escaping: a topic with a
 * quote in it must not break (or forge) a structured log line. */
static void log_refused(chan_socket_t *s, const char *what, msg_str_t topic, const char *reason) {
    buf_t *b = buf_new(128);
    buf_json_str(&b, topic.s ? topic.s : "", topic.len > 200 ? 200 : topic.len);
    buf_puts(&b, ",\"reason\":");
    buf_json_str(&b, reason, strlen(reason));
    buf_putc(&b, 0);
    log_info(what, "\"conn\":%llu,\"topic\":%s", (unsigned long long)conn_id(s->conn), (const char *)b->data);
    buf_unref(b);
}

static void join_failed(chan_socket_t *s, const msg_in_t *m, const char *reason) {
    met_add(M_JOIN_ERRORS, 1);
    log_refused(s, "join refused", m->topic, reason);
    reply_error(s, m, reason);
}

/* A join or track refused by an isolation limit: counted in its own
 * counter as well, and logged at info with the reason (join_failed). */
static void limit_refused(chan_socket_t *s, const msg_in_t *m, met_id_t counter, const char *reason) {
    met_add(counter, 1);
    join_failed(s, m, reason);
}

static void channels_per_ip_reason(char *out, size_t n) {
    snprintf(out, n,
             "ChannelsPerIpLimitReached: at most %d channels may be joined from one client address "
             "(MAX_CHANNELS_PER_IP)",
             srv.cfg.max_channels_per_ip);
}

/* Bindings the connection holds or is waiting for: joined channels, plus
 * joins still being authorized or set up (they become channels without
 * another check). A rejoin replaces its channel, so the channel on topic
 * does not count. */
static int bindings_held(const chan_socket_t *s, const chan_t *replaced) {
    int n = s->nbindings - (replaced ? replaced->nbindings : 0);
    for (const pending_join_t *p = s->pending; p; p = p->next)
        if (!p->recheck_only && !p->cancelled)
            n += p->j.nbindings;
    return n;
}

/* Checks config.postgres_changes against the join and connection limits
 * before anything is copied or sent to the CDC thread. Returns 0, or -1
 * after refusing the join. */
static int check_bindings(chan_socket_t *s, const msg_in_t *m, json_t *pgc) {
    char reason[256];
    size_t n = json_array_size(pgc);
    if (n > (size_t)srv.cfg.max_bindings_per_join) {
        snprintf(reason, sizeof(reason),
                 "TooManyBindings: a join may carry at most %d postgres_changes bindings (MAX_BINDINGS_PER_JOIN)",
                 srv.cfg.max_bindings_per_join);
        limit_refused(s, m, M_LIM_BINDINGS, reason);
        return -1;
    }
    size_t i;
    json_t *b;
    json_array_foreach(pgc, i, b) {
        json_t *f = json_object_get(b, "filter");
        if (json_is_string(f) && json_string_length(f) > (size_t)srv.cfg.max_filter_bytes) {
            snprintf(reason, sizeof(reason),
                     "FilterTooLong: a postgres_changes filter may be at most %d bytes (MAX_FILTER_BYTES)",
                     srv.cfg.max_filter_bytes);
            limit_refused(s, m, M_LIM_FILTER, reason);
            return -1;
        }
    }
    if ((size_t)bindings_held(s, find_chan(s, m->topic)) + n > (size_t)srv.cfg.max_bindings_per_conn) {
        snprintf(reason, sizeof(reason),
                 "TooManyBindings: a connection may hold at most %d postgres_changes bindings across its channels "
                 "(MAX_BINDINGS_PER_CLIENT)",
                 srv.cfg.max_bindings_per_conn);
        limit_refused(s, m, M_LIM_BINDINGS, reason);
        return -1;
    }
    return 0;
}

static void join_clear(join_t *j) {
    free(j->topic), free(j->join_ref), free(j->ref), free(j->presence_key);
    free(j->pg_bindings), free(j->role), free(j->claims);
    memset(j, 0, sizeof(*j));
}

static msg_in_t join_msg(const join_t *j) {
    msg_in_t m;
    memset(&m, 0, sizeof(m));
    m.topic = str_of(j->topic);
    m.join_ref = str_of(j->join_ref);
    m.ref = str_of(j->ref);
    return m;
}

/* What the CDC thread answered a join with Postgres Changes. */
typedef struct {
    uint64_t client;
    const char *response;
} pg_joined_t;

/* Joins: subscribes, answers ok, sends presence_state if asked, and for
 * Postgres Changes the system message that says they are live. Takes the
 * strings of j. pg: NULL without Postgres Changes. */
static void join_finish(chan_socket_t *s, join_t *j, const uint8_t perms[4], const pg_joined_t *pg) {
    msg_in_t m = join_msg(j);
    chan_t *dup = find_chan(s, m.topic);
    if (dup)
        chan_free(dup);
    if (s->nchans >= srv.cfg.max_channels) {
        join_failed(s, &m, "ChannelRateLimitReached: Too many channels");
        if (pg)
            cdc_engine_leave(pg->client);
        join_clear(j);
        return;
    }
    /* Counted here, where the channel comes into being, so that every
     * count has exactly one chan_t that gives it back (chan_free). */
    peer_t *peer = conn_peer_entry(s->conn);
    if (peer && peer_channel_add(peer, srv.cfg.max_channels_per_ip) < 0) {
        char reason[192];
        channels_per_ip_reason(reason, sizeof(reason));
        limit_refused(s, &m, M_LIM_CHANNELS_IP, reason);
        if (pg)
            cdc_engine_leave(pg->client);
        join_clear(j);
        return;
    }
    chan_t *ch = xcalloc(1, sizeof(*ch));
    ch->sock = s;
    ch->peer_counted = peer != NULL;
    ch->sub.deliver = chan_deliver;
    ch->join_ref = j->join_ref;
    ch->presence_key = j->presence_key;
    j->join_ref = j->presence_key = NULL;
    ch->exp = j->exp;
    ch->token_hash = j->token_hash;
    ch->owner = atomic_fetch_add(&next_owner, 1);
    ch->self = j->self;
    ch->ack = j->ack;
    ch->presence_enabled = j->presence_enabled;
    ch->is_private = j->is_private;
    ch->read_broadcast = perms[0];
    ch->read_presence = perms[1];
    ch->write_broadcast = perms[2];
    ch->write_presence = perms[3];
    hub_subscribe(&ch->sub, j->topic, strlen(j->topic), ch->is_private);
    ch->next = s->chans;
    s->chans = ch;
    s->nchans++;
    met_add(M_CHANNELS, 1);
    met_add(M_JOINS, 1);
    if (pg) {
        ch->nbindings = j->nbindings;
        s->nbindings += j->nbindings;
        ch->cdc_client = pg->client;
        /* Subscribed to the topic first, so nothing published once the
         * client hears "Subscribed" can miss it. */
        cdc_engine_live(pg->client);
    }
    reply(s, &m, "ok", pg ? pg->response : "{\"postgres_changes\":[]}");
    if (ch->presence_enabled)
        push_presence_state(ch);
    if (pg)
        push_system(ch, "postgres_changes", "ok", "Subscribed to PostgreSQL");
    join_clear(j);
}

/* ---- Postgres Changes ----------------------------------------------------- */

static void pending_unlink(pending_join_t *p);

static void on_pg_joined(void *ud, int run, const char *response, const char *reason) {
    pending_join_t *p = ud;
    chan_socket_t *s = run ? p->s : NULL;
    int cancelled = p->cancelled;
    pending_unlink(p);
    if (!s || cancelled) {
        if (response)
            cdc_engine_leave(p->cdc_client);
    } else if (!response) {
        msg_in_t m = join_msg(&p->j);
        join_failed(s, &m, reason ? reason : "Unable to subscribe to changes");
    } else {
        pg_joined_t pg = {p->cdc_client, response};
        join_finish(s, &p->j, p->perms, &pg);
    }
    join_clear(&p->j);
    free(p);
}

/* Hands the join's postgres_changes bindings to the CDC thread, which
 * checks them against the publication and answers in on_pg_joined. */
static void start_pg_join(chan_socket_t *s, join_t *j, const uint8_t perms[4]) {
    msg_in_t m = join_msg(j);
    if (!cdc_engine_running()) {
        join_failed(s, &m,
                    worker_self->db ? "Postgres Changes are turned off on this server"
                                    : "Postgres Changes are not available: this server has no database configured");
        join_clear(j);
        return;
    }
    pending_join_t *p = xcalloc(1, sizeof(*p));
    p->j = *j;
    memset(j, 0, sizeof(*j));
    memcpy(p->perms, perms, sizeof(p->perms));
    p->s = s;
    p->next = s->pending;
    s->pending = p;
    cdc_join_req_t req = {worker_self->id, p->j.topic, strlen(p->j.topic), p->j.is_private, p->j.role,
                          p->j.claims, p->j.pg_bindings, peer_key(conn_peer_entry(s->conn)), on_pg_joined, p};
    p->cdc_client = cdc_engine_join(&req);
    if (!p->cdc_client) {
        pending_unlink(p);
        join_failed(s, &m, "Realtime was unable to connect to the project database");
        join_clear(&p->j);
        free(p);
    }
}

/* Authorized (public, or by realtime.messages for a private channel):
 * finish, or set up Postgres Changes first. */
static void join_continue(chan_socket_t *s, join_t *j, const uint8_t perms[4]) {
    if (j->pg_bindings)
        start_pg_join(s, j, perms);
    else
        join_finish(s, j, perms, NULL);
}

/* ---- private channels ------------------------------------------------------- */


static void pending_unlink(pending_join_t *p) {
    if (!p->s)
        return;
    for (pending_join_t **q = &p->s->pending; *q; q = &(*q)->next)
        if (*q == p) {
            *q = p->next;
            break;
        }
    p->s = NULL;
}

static void on_access(void *ud, PGresult *const *results, int n, const char *error) {
    pending_join_t *p = ud;
    uint8_t perms[4] = {0, 0, 0, 0};
    int ok = !error && n == 1 && PQresultStatus(results[0]) == PGRES_TUPLES_OK && PQntuples(results[0]) == 1;
    if (ok)
        for (int i = 0; i < 4; i++)
            perms[i] = PQgetvalue(results[0], 0, i)[0] == 't';
    const char *why = error ? error : !ok && n == 1 ? PQresultErrorMessage(results[0]) : NULL;
    /* Nothing the check wrote may stay. */
    if (!error)
        db_tx_end(p->req, 0, NULL, NULL);
    chan_socket_t *s = p->s;
    chan_t *ch = p->recheck;
    pending_unlink(p);
    if (s && ch) {
        /* supabase/realtime: permissions are evaluated again with the new
         * token; losing read access ends the channel. */
        if (ok && (perms[0] || perms[1])) {
            ch->read_broadcast = perms[0];
            ch->read_presence = perms[1];
            ch->write_broadcast = perms[2];
            ch->write_presence = perms[3];
        } else {
            char msg[512];
            size_t tlen;
            const char *topic = hub_topic_name(ch->sub.topic, &tlen);
            if (ok)
                snprintf(msg, sizeof(msg), "You no longer have permission to read from this Channel topic: %.*s",
                         (int)(tlen - TOPIC_PREFIX_LEN), topic + TOPIC_PREFIX_LEN);
            else
                snprintf(msg, sizeof(msg), "Realtime was unable to connect to the project database");
            shutdown_channel(ch, msg);
        }
    } else if (s && !p->recheck_only) {
        msg_in_t m = join_msg(&p->j);
        char msg[512];
        if (!ok) {
            log_warn("private channel check failed", "\"error\":\"%.*s\"", why ? (int)strcspn(why, "\"\\\n") : 0,
                     why ? why : "");
            join_failed(s, &m, "Realtime was unable to connect to the project database");
        } else if (!perms[0] && !perms[1]) {
            snprintf(msg, sizeof(msg), "You do not have permissions to read from this Channel topic: %s",
                     p->j.topic + TOPIC_PREFIX_LEN);
            join_failed(s, &m, msg);
        } else if (!p->cancelled) {
            join_continue(s, &p->j, perms);
        }
    }
    join_clear(&p->j);
    free(p);
}

/* Starts the check of p->j.topic for claims; on_access gets the answer.
 * Returns -1 if the database cannot take it. */
static int start_access_check(chan_socket_t *s, pending_join_t *p, const tok_info_t *claims) {
    const char *params[] = {p->j.topic + TOPIC_PREFIX_LEN};
    db_stmt_t st = {"SELECT * FROM realtime.tc_channel_access($1)", 1, params, 0};
    const char *role = claims->role;
    if (strcmp(role, "anon") && strcmp(role, "authenticated") && strcmp(role, "service_role"))
        role = "anon";
    p->s = s;
    p->req = db_run_open(worker_self->db, role, claims->claims_json, &st, 1, on_access, p);
    if (!p->req)
        return -1;
    p->next = s->pending;
    s->pending = p;
    return 0;
}

/* Asks the database what the token's claims may do on this topic; the
 * join finishes in on_access. */
static void authorize_private(chan_socket_t *s, join_t *j, const tok_info_t *claims) {
    msg_in_t m = join_msg(j);
    if (!worker_self->db) {
        join_failed(s, &m, "Private channels are not available: this server has no database configured");
        join_clear(j);
        return;
    }
    pending_join_t *p = xcalloc(1, sizeof(*p));
    p->j = *j;
    memset(j, 0, sizeof(*j));
    if (start_access_check(s, p, claims) < 0) {
        join_failed(s, &m, "Realtime was unable to connect to the project database");
        join_clear(&p->j);
        free(p);
    }
}

/* The token of private channel ch changed: evaluate its permissions again. */
static void recheck_private(chan_socket_t *s, chan_t *ch, const tok_info_t *claims) {
    if (!worker_self->db)
        return;
    size_t tlen;
    const char *topic = hub_topic_name(ch->sub.topic, &tlen);
    pending_join_t *p = xcalloc(1, sizeof(*p));
    p->j.topic = xstrndup(topic, tlen);
    p->recheck = ch;
    p->recheck_only = 1;
    if (start_access_check(s, p, claims) < 0) {
        join_clear(&p->j);
        free(p);
        shutdown_channel(ch, "Realtime was unable to connect to the project database");
    }
}

static void handle_join(chan_socket_t *s, const msg_in_t *m) {
    char msg[256];
    if (m->topic.len < TOPIC_PREFIX_LEN || memcmp(m->topic.s, TOPIC_PREFIX, TOPIC_PREFIX_LEN) != 0) {
        join_failed(s, m, "unmatched topic");
        return;
    }
    if (m->topic.len == TOPIC_PREFIX_LEN) {
        join_failed(s, m, "You must provide a topic name");
        return;
    }
    if (!rate_ok(s, &s->joins, srv.cfg.joins_per_second)) {
        join_failed(s, m, "ClientJoinRateLimitReached: Too many joins per second");
        return;
    }
    json_t *config = json_object_get(m->payload, "config");
    json_t *bc = json_object_get(config, "broadcast");
    json_t *pres = json_object_get(config, "presence");
    json_t *pgc = json_object_get(config, "postgres_changes");
    const char *token = pick_token(s, m->payload);
    tok_info_t claims;
    if (verify(s, token, &claims, msg, sizeof(msg)) < 0) {
        join_failed(s, m, msg);
        return;
    }
    int pg_join = json_is_array(pgc) && json_array_size(pgc) > 0;
    if (pg_join && check_bindings(s, m, pgc) < 0)
        return;
    json_t *key = json_object_get(pres, "key");
    if (json_is_string(key) && json_string_length(key) > (size_t)srv.cfg.max_presence_bytes) {
        /* The key is held by the channel, tracked or not. */
        snprintf(msg, sizeof(msg),
                 "PresencePayloadTooLarge: a presence key may be at most %d bytes (MAX_PRESENCE_PAYLOAD_BYTES)",
                 srv.cfg.max_presence_bytes);
        limit_refused(s, m, M_LIM_PRESENCE, msg);
        return;
    }
    /* Refused early when already at the limit (no CDC or database work for
     * a join that cannot finish); join_finish counts for real. A rejoin
     * frees its own channel's count first, so it is never refused here. */
    peer_t *peer = conn_peer_entry(s->conn);
    if (peer && srv.cfg.max_channels_per_ip > 0 && !find_chan(s, m->topic) &&
        peer_channels(peer) >= srv.cfg.max_channels_per_ip) {
        channels_per_ip_reason(msg, sizeof(msg));
        limit_refused(s, m, M_LIM_CHANNELS_IP, msg);
        return;
    }
    join_t j = {0};
    j.topic = xstrndup(m->topic.s, m->topic.len);
    j.join_ref = m->join_ref.s ? xstrndup(m->join_ref.s, m->join_ref.len) : NULL;
    j.ref = m->ref.s ? xstrndup(m->ref.s, m->ref.len) : NULL;
    j.exp = claims.exp;
    j.token_hash = hash_token(token, strlen(token));
    j.self = flag(bc, "self");
    j.ack = flag(bc, "ack");
    j.presence_enabled = flag(pres, "enabled");
    j.is_private = flag(config, "private");
    if (pg_join) {
        j.nbindings = (int)json_array_size(pgc);
        j.pg_bindings = json_dumps(pgc, JSON_COMPACT);
        if (!j.pg_bindings)
            abort(); /* jansson only fails here out of memory */
        j.role = xstrdup(claims.role);
        j.claims = xstrdup(claims.claims_json ? claims.claims_json : "{}");
    }
    if (json_is_string(key) && json_string_length(key) > 0)
        j.presence_key = xstrndup(json_string_value(key), json_string_length(key));
    else if (json_is_integer(key)) {
        char k[32];
        snprintf(k, sizeof(k), "%lld", (long long)json_integer_value(key));
        j.presence_key = xstrdup(k);
    }
    if (j.is_private) {
        authorize_private(s, &j, &claims);
        return;
    }
    static const uint8_t all[4] = {1, 1, 1, 1};
    join_continue(s, &j, all);
}

static void handle_leave(chan_socket_t *s, chan_t *ch, const msg_in_t *m) {
    reply(s, m, "ok", "{}");
    push(ch, "phx_close", "{}", 2);
    chan_free(ch);
}

static void handle_access_token(chan_socket_t *s, chan_t *ch, const msg_in_t *m) {
    json_t *t = json_object_get(m->payload, "access_token");
    if (!json_is_string(t) || !strncmp(json_string_value(t), "sb_", 3))
        return;
    const char *token = json_string_value(t);
    uint64_t h = hash_token(token, strlen(token));
    if (h == ch->token_hash)
        return;
    char msg[256];
    tok_info_t claims;
    if (verify(s, token, &claims, msg, sizeof(msg)) < 0) {
        shutdown_channel(ch, msg);
        return;
    }
    ch->exp = claims.exp;
    ch->token_hash = h;
    if (ch->cdc_client)
        cdc_engine_claims(ch->cdc_client, claims.role, claims.claims_json);
    if (ch->is_private)
        recheck_private(s, ch, &claims);
    log_debug("token refreshed", "\"conn\":%llu,\"exp\":%lld", (unsigned long long)conn_id(s->conn),
              (long long)ch->exp);
}

static void handle_broadcast(chan_socket_t *s, chan_t *ch, const msg_in_t *m) {
    hub_msg_t *hm;
    if (!ch->write_broadcast) {
        reply_error(s, m, "You do not have permissions to write to this Channel topic");
        return;
    }
    if (m->binary) {
        hm = hub_msg_broadcast(ch->sub.topic, &ch->sub, m->user_event.s, m->user_event.len, m->meta.s, m->meta.len,
                               m->encoding, m->user_payload, m->user_payload_len);
    } else {
        json_t *ev = json_object_get(m->payload, "event");
        json_t *pl = json_object_get(m->payload, "payload");
        if (!json_is_string(ev) || !pl) {
            reply_error(s, m, "broadcast needs a string event and a payload");
            return;
        }
        char *text = json_dumps(pl, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text)
            abort();
        hm = hub_msg_broadcast(ch->sub.topic, &ch->sub, json_string_value(ev), json_string_length(ev), NULL, 0,
                               MSG_ENC_JSON, text, strlen(text));
        free(text);
    }
    met_add(M_BROADCASTS, 1);
    hub_publish(hm);
    if (ch->ack)
        reply(s, m, "ok", "{}");
}

static void presence_refused(chan_socket_t *s, const msg_in_t *m, const char *reason) {
    met_add(M_LIM_PRESENCE, 1);
    log_refused(s, "presence refused", m->topic, reason);
    reply_error(s, m, reason);
}

static void handle_presence(chan_socket_t *s, chan_t *ch, const msg_in_t *m) {
    json_t *ev = json_object_get(m->payload, "event");
    const char *event = json_is_string(ev) ? json_string_value(ev) : "";
    if (!rate_ok(s, &s->presence, srv.cfg.presence_per_second)) {
        reply_error(s, m, "Too many presence messages per second");
        return;
    }
    met_add(M_PRESENCE, 1);
    if (!ch->write_presence) {
        reply_error(s, m, "You do not have permissions to track presence on this Channel topic");
        return;
    }
    if (!strcmp(event, "track")) {
        json_t *meta = json_object_get(m->payload, "payload");
        if (!json_is_object(meta)) {
            reply_error(s, m, "Presence track payload must be a map");
            return;
        }
        char reason[192];
        /* The state keeps this payload for as long as the channel tracks
         * it, on every topic it tracks: both are bounded. Sizing encodes
         * without keeping anything (json_dumpb with no buffer). */
        size_t bytes = json_dumpb(meta, NULL, 0, JSON_COMPACT);
        if (bytes > (size_t)srv.cfg.max_presence_bytes) {
            snprintf(reason, sizeof(reason),
                     "PresencePayloadTooLarge: a presence payload may be at most %d bytes of JSON "
                     "(MAX_PRESENCE_PAYLOAD_BYTES)",
                     srv.cfg.max_presence_bytes);
            presence_refused(s, m, reason);
            return;
        }
        if (!ch->tracked && s->ntracked >= srv.cfg.max_presence_per_conn) {
            /* Tracking again where it already tracks is an update, not a
             * new slot. */
            snprintf(reason, sizeof(reason),
                     "TooManyPresences: a connection may track presence on at most %d channels at once "
                     "(MAX_PRESENCE_PER_CLIENT)",
                     srv.cfg.max_presence_per_conn);
            presence_refused(s, m, reason);
            return;
        }
        if (!ch->presence_key) {
            char k[37];
            uuid4(k);
            ch->presence_key = xstrdup(k);
        }
        if (!ch->presence_enabled) {
            /* Tracking turns presence on, as in supabase/realtime; the client
             * applies diffs only after a state. */
            ch->presence_enabled = 1;
            push_presence_state(ch);
        }
        if (hub_presence_track(&ch->sub, ch->owner, ch->presence_key, meta) < 0) {
            /* state untouched: a key that is not UTF-8 (the payload was checked) */
            reply_error(s, m, "Presence could not be tracked: the presence key must be valid UTF-8");
            return;
        }
        if (!ch->tracked)
            s->ntracked++;
        ch->tracked = 1;
        reply(s, m, "ok", "{}");
    } else if (!strcmp(event, "untrack")) {
        if (ch->tracked) {
            hub_presence_untrack(&ch->sub, ch->owner);
            s->ntracked--;
        }
        ch->tracked = 0;
        reply(s, m, "ok", "{}");
    } else {
        reply_error(s, m, "presence event must be track or untrack");
    }
}

static int str_eq(msg_str_t a, const char *lit) { return a.s && a.len == strlen(lit) && !memcmp(a.s, lit, a.len); }

static void dispatch(chan_socket_t *s, const msg_in_t *m) {
    if (str_eq(m->topic, "phoenix")) {
        if (str_eq(m->event, "heartbeat"))
            reply(s, m, "ok", "{}");
        else
            reply_error(s, m, "unknown event on topic phoenix");
        return;
    }
    if (str_eq(m->event, "phx_join")) {
        handle_join(s, m);
        return;
    }
    chan_t *ch = find_chan(s, m->topic);
    if (!ch || (m->join_ref.s && ch->join_ref && !str_eq(m->join_ref, ch->join_ref))) {
        /* realtime-js may leave channels it never joined, with join_ref null. */
        if (str_eq(m->event, "phx_leave")) {
            /* ... or whose join is still being authorized: it must not
             * complete behind the client's back. */
            for (pending_join_t *p = s->pending; p; p = p->next)
                if (!p->recheck_only && p->j.topic && strlen(p->j.topic) == m->topic.len &&
                    !memcmp(p->j.topic, m->topic.s, m->topic.len))
                    p->cancelled = 1;
            reply(s, m, "ok", "{}");
        } else {
            reply_error(s, m, "unmatched topic");
        }
        return;
    }
    if (str_eq(m->event, "access_token")) {
        handle_access_token(s, ch, m);
        return;
    }
    if (ch->exp <= now_s()) {
        char msg[96];
        snprintf(msg, sizeof(msg), "Token has expired %lld seconds ago", (long long)(now_s() - ch->exp));
        reply_error(s, m, msg);
        shutdown_channel(ch, msg);
        return;
    }
    if (str_eq(m->event, "phx_leave"))
        handle_leave(s, ch, m);
    else if (str_eq(m->event, "broadcast"))
        handle_broadcast(s, ch, m);
    else if (str_eq(m->event, "presence"))
        handle_presence(s, ch, m);
    else
        log_debug("unexpected event ignored", "\"conn\":%llu,\"event\":\"%.*s\"", (unsigned long long)conn_id(s->conn),
                  (int)strcspn(m->event.s, "\"\\\n") > 64 ? 64 : (int)strcspn(m->event.s, "\"\\\n"), m->event.s);
}

void chan_socket_on_message(chan_socket_t *s, int opcode, const uint8_t *data, size_t len) {
    if (trace_on(s))
        trace(s, "in", data, len, opcode == WS_OP_BINARY);
    if (!rate_ok(s, &s->events, srv.cfg.events_per_second)) {
        if (s->events > 10u * (uint32_t)srv.cfg.events_per_second) {
            conn_close(s->conn, WS_CLOSE_POLICY, "rate limit exceeded");
        } else if (!s->warned) {
            s->warned = 1;
            socket_error(s, "ClientRateLimitReached: Too many messages per second");
        }
        return;
    }
    msg_in_t m;
    char err[160];
    int r;
    if (opcode == WS_OP_BINARY) {
        if (s->vsn != MSG_VSN_2) {
            r = -1;
            snprintf(err, sizeof(err), "binary frames need vsn 2.0.0");
        } else {
            r = msg_decode_binary(data, len, &m, err, sizeof(err));
        }
    } else {
        r = msg_decode_text(s->vsn, (const char *)data, len, &m, err, sizeof(err));
    }
    if (r < 0) {
        met_add(M_PROTOCOL_ERRORS, 1);
        log_warn("malformed message", "\"conn\":%llu,\"peer\":\"%s\",\"error\":\"%s\"",
                 (unsigned long long)conn_id(s->conn), conn_peer(s->conn), err);
        char reason[200];
        snprintf(reason, sizeof(reason), "malformed message: %s", err);
        socket_error(s, reason);
        return;
    }
    dispatch(s, &m);
    msg_in_clear(&m);
}

void chan_socket_tick(chan_socket_t *s, int64_t now) {
    for (chan_t *ch = s->chans, *n; ch; ch = n) {
        n = ch->next;
        if (ch->exp <= now) {
            char msg[96];
            snprintf(msg, sizeof(msg), "Token has expired %lld seconds ago", (long long)(now - ch->exp));
            shutdown_channel(ch, msg);
        }
    }
}

int chan_socket_channels(const chan_socket_t *s) { return s->nchans; }

chan_socket_t *chan_socket_new(conn_t *c, msg_vsn_t vsn, const char *apikey, int log_debug) {
    chan_socket_t *s = xcalloc(1, sizeof(*s));
    s->conn = c;
    s->vsn = vsn;
    s->apikey = apikey ? xstrdup(apikey) : NULL;
    s->log_debug = (uint8_t)log_debug;
    return s;
}

void chan_socket_free(chan_socket_t *s) {
    while (s->pending)
        pending_unlink(s->pending); /* their answers arrive and are dropped */
    while (s->chans)
        chan_free(s->chans);
    free(s->apikey);
    free(s);
}
