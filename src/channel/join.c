/*
 * channel/join: a socket's channels coming and going: phx_join (checks,
 * limits, private channels authorized by the database, Postgres Changes
 * set up by the CDC thread), phx_leave, and the end of a channel. Owns
 * chan_t's lifetime and the pending joins. It never decodes a message
 * (socket.c does) and never sends a fan-out frame (fanout.c does).
 */
#include "channel/chan_int.h"
#include "channel/store.h"

#include <stdio.h>
#include <stdlib.h>

#include "cdc/engine.h"
#include "cdc/join.h"
#include "net/peer.h"
#include "util/log.h"
#include "util/mem.h"

static _Atomic uint64_t next_owner = 1;

chan_t *chan_find(chan_socket_t *s, msg_str_t topic) {
    for (chan_t *ch = s->chans; ch; ch = ch->next) {
        size_t len;
        const char *name = hub_topic_name(ch->sub.topic, &len);
        if (len == topic.len && (len == 0 || !memcmp(name, topic.s, len)))
            return ch;
    }
    return NULL;
}

/* Removes ch from its socket, publishing its presence leave. */
void chan_free(chan_t *ch) {
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
    chan_replay_free(ch);
    if (ch->cdc_client)
        cdc_engine_leave(ch->cdc_client);
    met_add(M_CHANNELS, -1);
    free(ch->join_ref);
    free(ch->presence_key);
    free(ch->role);
    free(ch->claims);
    free(ch);
}

/* supabase/realtime's shutdown_response: a system error, then phx_close. */
void chan_shutdown(chan_t *ch, const char *message) {
    log_info("channel shut down", "\"conn\":%llu,\"reason\":\"%.*s\"", (unsigned long long)conn_id(ch->sock->conn),
             (int)strcspn(message, "\"\\\n"), message);
    chan_push_system(ch, "system", "error", message);
    chan_push(ch, "phx_close", "{}", 2);
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

void chan_join_failed(chan_socket_t *s, const msg_in_t *m, const char *reason) {
    met_add(M_JOIN_ERRORS, 1);
    chan_log_refused(s, "join refused", m->topic, reason);
    chan_reply_error(s, m, reason);
}

/* A join or track refused by an isolation limit: counted in its own
 * counter as well, and logged at info with the reason (join_failed). */
static void limit_refused(chan_socket_t *s, const msg_in_t *m, met_id_t counter, const char *reason) {
    met_add(counter, 1);
    chan_join_failed(s, m, reason);
}

static void channels_per_ip_reason(char *out, size_t n) {
    snprintf(out, n,
             "ChannelsPerIpLimitReached: at most %d channels may be joined from one client address "
             "(MAX_CHANNELS_PER_IP)",
             chan_cfg.max_channels_per_ip);
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
    if (n > (size_t)chan_cfg.max_bindings_per_join) {
        snprintf(reason, sizeof(reason),
                 "TooManyBindings: a join may carry at most %d postgres_changes bindings (MAX_BINDINGS_PER_JOIN)",
                 chan_cfg.max_bindings_per_join);
        limit_refused(s, m, M_LIM_BINDINGS, reason);
        return -1;
    }
    size_t i;
    json_t *b;
    json_array_foreach(pgc, i, b) {
        json_t *f = json_object_get(b, "filter");
        if (json_is_string(f) && json_string_length(f) > (size_t)chan_cfg.max_filter_bytes) {
            snprintf(reason, sizeof(reason),
                     "FilterTooLong: a postgres_changes filter may be at most %d bytes (MAX_FILTER_BYTES)",
                     chan_cfg.max_filter_bytes);
            limit_refused(s, m, M_LIM_FILTER, reason);
            return -1;
        }
    }
    if ((size_t)bindings_held(s, chan_find(s, m->topic)) + n > (size_t)chan_cfg.max_bindings_per_conn) {
        snprintf(reason, sizeof(reason),
                 "TooManyBindings: a connection may hold at most %d postgres_changes bindings across its channels "
                 "(MAX_BINDINGS_PER_CLIENT)",
                 chan_cfg.max_bindings_per_conn);
        limit_refused(s, m, M_LIM_BINDINGS, reason);
        return -1;
    }
    return 0;
}

static void join_clear(join_t *j) {
    free(j->topic), free(j->join_ref), free(j->ref), free(j->presence_key);
    free(j->pg_bindings), free(j->pg_resume), free(j->role), free(j->claims);
    memset(j, 0, sizeof(*j));
}

static msg_in_t join_msg(const join_t *j) {
    msg_in_t m;
    memset(&m, 0, sizeof(m));
    m.topic = chan_str(j->topic);
    m.join_ref = chan_str(j->join_ref);
    m.ref = chan_str(j->ref);
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
    chan_t *dup = chan_find(s, m.topic);
    if (dup)
        chan_free(dup);
    if (s->nchans >= chan_cfg.max_channels) {
        chan_join_failed(s, &m, "ChannelRateLimitReached: Too many channels");
        if (pg)
            cdc_engine_leave(pg->client);
        join_clear(j);
        return;
    }
    /* Counted here, where the channel comes into being, so that every
     * count has exactly one chan_t that gives it back (chan_free). */
    peer_t *peer = conn_peer_entry(s->conn);
    if (peer && peer_channel_add(peer, chan_cfg.max_channels_per_ip) < 0) {
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
    ch->sub.deliver = chan_fanout_deliver;
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
    if (ch->is_private) { /* persisted broadcasts and the replay run under them */
        ch->role = j->role;
        ch->claims = j->claims;
        j->role = j->claims = NULL;
    }
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
        /* Subscribed to the topic first: the CDC thread answers "live"
         * with the system message "Subscribed to PostgreSQL" (its start
         * position, and whether it resumed) routed to this channel through
         * the hub, ahead of every change it then delivers. */
        cdc_engine_live(pg->client);
    }
    chan_reply(s, &m, "ok", pg ? pg->response : "{\"postgres_changes\":[]}");
    if (ch->presence_enabled)
        chan_push_presence_state(ch);
    chan_replay_start(ch, j); /* after the ok, before any live broadcast (replay.c) */
    if (j->replication_ready)
        chan_ready_start(ch); /* last: it may shut ch down */
    join_clear(j);
}

/* ---- Postgres Changes ----------------------------------------------------- */

static int post_pg_join(chan_socket_t *s, pending_join_t *p);

static void on_pg_joined(void *ud, int run, const char *response, const char *reason) {
    pending_join_t *p = ud;
    char why[512];
    if (p->j.wait_ms) { /* postgres_changes_options.wait (pgwait.c) */
        if (chan_pgwait_retry(p, run, response, reason)) {
            if (post_pg_join(p->s, p))
                return;
            reason = CDC_JOIN_STOPPING; /* the CDC thread refuses posts only once it stops */
        }
        if (!response)
            reason = chan_pgwait_reason(p, reason, why, sizeof(why));
    }
    chan_socket_t *s = run ? p->s : NULL;
    int cancelled = p->cancelled;
    chan_join_pending_unlink(p);
    if (!s || cancelled) {
        if (response)
            cdc_engine_leave(p->cdc_client);
    } else if (!response) {
        msg_in_t m = join_msg(&p->j);
        chan_join_failed(s, &m, reason ? reason : "Unable to subscribe to changes");
    } else {
        pg_joined_t pg = {p->cdc_client, response};
        join_finish(s, &p->j, p->perms, &pg);
    }
    join_clear(&p->j);
    free(p);
}

/* Hands p's bindings to the CDC thread (again, for a join that waits);
 * returns 0 when the thread is stopping. */
static int post_pg_join(chan_socket_t *s, pending_join_t *p) {
    cdc_join_req_t req = {worker_self->id,
                          p->j.topic,
                          strlen(p->j.topic),
                          p->j.is_private,
                          p->j.role,
                          p->j.claims,
                          p->j.pg_bindings,
                          peer_key(conn_peer_entry(s->conn)),
                          p->j.pg_resume,
                          on_pg_joined,
                          p};
    p->cdc_client = cdc_engine_join(&req);
    return p->cdc_client != 0;
}

/* Hands the join's postgres_changes bindings to the CDC thread, which
 * checks them against the publication and answers in on_pg_joined. */
static void start_pg_join(chan_socket_t *s, join_t *j, const uint8_t perms[4]) {
    msg_in_t m = join_msg(j);
    if (!cdc_engine_running()) {
        const char *why = worker_self->db
                              ? "Postgres Changes are turned off on this server"
                              : "Postgres Changes are not available: this server has no database configured";
        char buf[256];
        if (j->wait_ms) { /* as pgwait.c words a refusal */
            snprintf(buf, sizeof(buf), "RealtimeDisabledForConfiguration: %s", why);
            why = buf;
        }
        chan_join_failed(s, &m, why);
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
    if (post_pg_join(s, p) && p->j.wait_ms)
        chan_pgwait_start(p);
    if (!p->cdc_client) {
        chan_join_pending_unlink(p);
        chan_join_failed(s, &m, "Realtime was unable to connect to the project database");
        join_clear(&p->j);
        free(p);
    }
}

/* Authorized (public, or by realtime.messages for a private channel):
 * finish, or set up Postgres Changes first. */
static void join_continue(chan_socket_t *s, join_t *j, const uint8_t perms[4]) {
    if (j->replay_limit && !perms[0]) { /* supabase/realtime's can_replay? */
        char msg[512];
        msg_in_t m = join_msg(j);
        snprintf(msg, sizeof(msg), "You do not have permissions to read from this Channel topic: %s",
                 j->topic + TOPIC_PREFIX_LEN);
        chan_join_failed(s, &m, msg);
        join_clear(j);
        return;
    }
    if (j->pg_bindings)
        start_pg_join(s, j, perms);
    else
        join_finish(s, j, perms, NULL);
}

/* ---- private channels ------------------------------------------------------- */

void chan_join_pending_unlink(pending_join_t *p) {
    if (!p->s)
        return;
    chan_pgwait_forget(p); /* on its worker's list only while it has a socket */
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
    chan_join_pending_unlink(p);
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
            chan_shutdown(ch, msg);
        }
    } else if (s && !p->recheck_only) {
        msg_in_t m = join_msg(&p->j);
        char msg[512];
        if (!ok) {
            log_warn("private channel check failed", "\"error\":\"%.*s\"", why ? (int)strcspn(why, "\"\\\n") : 0,
                     why ? why : "");
            chan_join_failed(s, &m, "Realtime was unable to connect to the project database");
        } else if (!perms[0] && !perms[1]) {
            snprintf(msg, sizeof(msg), "You do not have permissions to read from this Channel topic: %s",
                     p->j.topic + TOPIC_PREFIX_LEN);
            chan_join_failed(s, &m, msg);
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
    const char *role = chan_store_role(claims->role);
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
        chan_join_failed(s, &m, "Private channels are not available: this server has no database configured");
        join_clear(j);
        return;
    }
    pending_join_t *p = xcalloc(1, sizeof(*p));
    p->j = *j;
    memset(j, 0, sizeof(*j));
    if (start_access_check(s, p, claims) < 0) {
        chan_join_failed(s, &m, "Realtime was unable to connect to the project database");
        join_clear(&p->j);
        free(p);
    }
}

/* The token of private channel ch changed: evaluate its permissions again. */
void chan_join_recheck_private(chan_socket_t *s, chan_t *ch, const tok_info_t *claims) {
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
        chan_shutdown(ch, "Realtime was unable to connect to the project database");
    }
}

/* The position a rejoin resumes Postgres Changes after (our extension,
 * docs/PROTOCOL.md): top-level postgres_changes_resume.after, where
 * realtime-js's updateJoinPayload puts it. NULL when not asked; "" when
 * asked with something that cannot be a position (the CDC thread says so
 * in the system message). */
static char *resume_parse(json_t *payload) {
    json_t *r = json_object_get(payload, "postgres_changes_resume");
    if (!r)
        return NULL;
    json_t *after = json_object_get(r, "after");
    if (!json_is_string(after) || json_string_length(after) > CHAN_RESUME_MAX)
        return xstrdup("");
    return xstrndup(json_string_value(after), json_string_length(after));
}

void chan_join_handle(chan_socket_t *s, const msg_in_t *m) {
    char msg[256];
    if (m->topic.len < TOPIC_PREFIX_LEN || memcmp(m->topic.s, TOPIC_PREFIX, TOPIC_PREFIX_LEN) != 0) {
        chan_join_failed(s, m, "unmatched topic");
        return;
    }
    if (m->topic.len == TOPIC_PREFIX_LEN) {
        chan_join_failed(s, m, "You must provide a topic name");
        return;
    }
    if (!chan_rate_ok(s, &s->joins, chan_cfg.joins_per_second)) {
        chan_join_failed(s, m, "ClientJoinRateLimitReached: Too many joins per second");
        return;
    }
    json_t *config = json_object_get(m->payload, "config");
    json_t *bc = json_object_get(config, "broadcast");
    json_t *pres = json_object_get(config, "presence");
    json_t *pgc = json_object_get(config, "postgres_changes");
    const char *token = chan_token_pick(s, m->payload);
    tok_info_t claims;
    if (chan_token_verify(s, token, &claims, msg, sizeof(msg)) < 0) {
        chan_join_failed(s, m, msg);
        return;
    }
    int pg_join = json_is_array(pgc) && json_array_size(pgc) > 0;
    if (pg_join && check_bindings(s, m, pgc) < 0)
        return;
    json_t *key = json_object_get(pres, "key");
    if (json_is_string(key) && json_string_length(key) > (size_t)chan_cfg.max_presence_bytes) {
        /* The key is held by the channel, tracked or not. */
        snprintf(msg, sizeof(msg),
                 "PresencePayloadTooLarge: a presence key may be at most %d bytes (MAX_PRESENCE_PAYLOAD_BYTES)",
                 chan_cfg.max_presence_bytes);
        limit_refused(s, m, M_LIM_PRESENCE, msg);
        return;
    }
    /* Refused early when already at the limit (no CDC or database work for
     * a join that cannot finish); join_finish counts for real. A rejoin
     * frees its own channel's count first, so it is never refused here. */
    peer_t *peer = conn_peer_entry(s->conn);
    if (peer && chan_cfg.max_channels_per_ip > 0 && !chan_find(s, m->topic) &&
        peer_channels(peer) >= chan_cfg.max_channels_per_ip) {
        channels_per_ip_reason(msg, sizeof(msg));
        limit_refused(s, m, M_LIM_CHANNELS_IP, msg);
        return;
    }
    join_t j = {0};
    j.topic = xstrndup(m->topic.s, m->topic.len);
    j.join_ref = m->join_ref.s ? xstrndup(m->join_ref.s, m->join_ref.len) : NULL;
    j.ref = m->ref.s ? xstrndup(m->ref.s, m->ref.len) : NULL;
    j.exp = claims.exp;
    j.token_hash = chan_token_hash(token, strlen(token));
    j.self = flag(bc, "self");
    j.ack = flag(bc, "ack");
    j.presence_enabled = flag(pres, "enabled");
    j.is_private = flag(config, "private");
    j.replication_ready = flag(bc, "replication_ready");
    if (chan_replay_parse(bc, j.is_private, &j, msg, sizeof(msg)) < 0) {
        chan_join_failed(s, m, msg);
        join_clear(&j);
        return;
    }
    if (pg_join || j.is_private) {
        j.role = xstrdup(claims.role);
        j.claims = xstrdup(claims.claims_json ? claims.claims_json : "{}");
    }
    if (pg_join) {
        j.nbindings = (int)json_array_size(pgc);
        j.pg_bindings = json_dumps(pgc, JSON_COMPACT);
        if (!j.pg_bindings)
            abort();                           /* jansson only fails here out of memory */
        j.wait_ms = chan_pgwait_parse(config); /* role and claims: set above */
        j.pg_resume = resume_parse(m->payload);
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

void chan_join_leave(chan_socket_t *s, chan_t *ch, const msg_in_t *m) {
    chan_reply(s, m, "ok", "{}");
    chan_push(ch, "phx_close", "{}", 2);
    chan_free(ch);
}
