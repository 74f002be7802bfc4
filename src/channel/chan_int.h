/*
 * channel/chan_int.h: what the files of the channel module share (not a
 * public header: only the .c files of src/channel include it). The module is one
 * Phoenix socket per WebSocket connection (socket.c), its joins and leaves
 * (join.c), its tokens (token.c) and what it publishes and receives
 * through the hub (fanout.c). Every function here runs on the socket's
 * worker.
 */
#ifndef TC_CHANNEL_CHAN_INT_H
#define TC_CHANNEL_CHAN_INT_H

#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "auth/jwt.h"
#include "auth/token_cache.h"
#include "channel/socket.h"
#include "db/pool.h"
#include "hub/hub.h"
#include "metrics/metrics.h"
#include "net/server.h"
#include "proto/msg.h"

#define TOPIC_PREFIX "realtime:"
#define TOPIC_PREFIX_LEN (sizeof(TOPIC_PREFIX) - 1)

typedef struct chan chan_t;
typedef struct chan_replay chan_replay_t;
typedef struct chan_persist chan_persist_t;

struct chan {
    hub_sub_t sub; /* first: the hub hands it back to chan_fanout_deliver */
    chan_socket_t *sock;
    chan_t *next;
    char *join_ref;
    char *presence_key; /* NULL until given or first needed */
    int64_t exp;        /* token expiry, seconds since the epoch */
    uint64_t token_hash;
    uint64_t owner; /* presence owner: unique per channel instance */
    uint8_t self, ack, presence_enabled, tracked, is_private;
    uint8_t peer_counted; /* holds one of its address's channels (net/peer): released once, in chan_free */
    int nbindings;        /* postgres_changes bindings it holds (the connection's budget) */
    /* private channels: what realtime.messages' policies allow (public: all) */
    uint8_t read_broadcast, read_presence, write_broadcast, write_presence;
    /* Postgres Changes: the CDC thread's name for this channel (events
     * are routed to it by that name) */
    uint64_t cdc_client;
    int64_t ready_deadline; /* config.broadcast.replication_ready not yet answered: give up then (s); 0: none */
    /* private channels: the token's role and claims (persisted broadcasts
     * are inserted under them); NULL on public ones */
    char *role, *claims;
    chan_replay_t *replay; /* config.broadcast.replay: its state (replay.c), or NULL */
};

/* A join waiting for the database to authorize a private channel. */
typedef struct pending_join pending_join_t;

struct chan_socket {
    conn_t *conn;
    char *apikey;
    chan_t *chans;
    int nchans;
    int nbindings;            /* postgres_changes bindings of joined channels */
    int ntracked;             /* channels with a presence tracked (the connection's budget) */
    pending_join_t *pending;  /* private joins being authorized */
    chan_persist_t *persists; /* persisted broadcasts being stored (fanout.c) */
    int npersists;
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
    char *pg_resume;     /* postgres_changes_resume.after as sent ("" if not a string), NULL when not asked */
    char *role, *claims; /* the token's, for Postgres Changes authorization */
    uint8_t self, ack, presence_enabled, is_private;
    uint8_t replication_ready; /* config.broadcast.replication_ready (channel/ready.c) */
    int nbindings;             /* entries of pg_bindings, counted against the connection while pending */
    int wait_ms;          /* postgres_changes_options.wait: the reply waits this long at most (pgwait.c); 0: no wait */
    int replay_limit;     /* config.broadcast.replay: 0 without, else 1..CHAN_REPLAY_MAX */
    int64_t replay_since; /* ... its since, milliseconds since the epoch */
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
    /* pgwait.c: a join with postgres_changes_options.wait, on its worker's list */
    pending_join_t *wait_next;
    uint64_t wait_deadline_ms; /* loop time */
    uint8_t wait_listed;
    int wait_worker; /* whose list: forget may run off its thread at shutdown (cdc_engine_stop) */
};

/* chan_socket_init's: read-only once the workers run. */
extern chan_config_t chan_cfg;
extern const jwt_keyring_t *chan_keys;

static inline int64_t chan_now_s(void) { return worker_self->now_s; }
static inline msg_str_t chan_str(const char *s) { return s ? (msg_str_t){s, strlen(s)} : MSG_STR_NULL; }

/* socket.c: what goes to the client, and the per-second rate limits. */
void chan_send_text(chan_socket_t *s, buf_t *b);
void chan_reply(chan_socket_t *s, const msg_in_t *m, const char *status, const char *response);
void chan_reply_error(chan_socket_t *s, const msg_in_t *m, const char *reason);
void chan_push(chan_t *ch, const char *event, const char *payload, size_t len);
void chan_push_system(chan_t *ch, const char *extension, const char *status, const char *message);
int chan_rate_ok(chan_socket_t *s, uint32_t *counter, int limit);
void chan_log_refused(chan_socket_t *s, const char *what, msg_str_t topic, const char *reason);

/* join.c: channels coming and going. */
chan_t *chan_find(chan_socket_t *s, msg_str_t topic);
void chan_free(chan_t *ch);
void chan_shutdown(chan_t *ch, const char *message);
void chan_join_failed(chan_socket_t *s, const msg_in_t *m, const char *reason);
void chan_join_handle(chan_socket_t *s, const msg_in_t *m);
void chan_join_leave(chan_socket_t *s, chan_t *ch, const msg_in_t *m);
void chan_join_recheck_private(chan_socket_t *s, chan_t *ch, const tok_info_t *claims);
void chan_join_pending_unlink(pending_join_t *p);

/* pgwait.c: postgres_changes_options {wait, timeout}: the join's reply
 * waits until its Postgres Changes are live, or says why they are not. */
int chan_pgwait_parse(json_t *config);
void chan_pgwait_start(pending_join_t *p);
int chan_pgwait_retry(pending_join_t *p, int run, const char *response, const char *reason);
const char *chan_pgwait_reason(const pending_join_t *p, const char *reason, char *buf, size_t n);
void chan_pgwait_forget(pending_join_t *p);

/* token.c: which token a message carries, whether it is valid, refresh. */
uint64_t chan_token_hash(const char *s, size_t n);
const char *chan_token_pick(chan_socket_t *s, json_t *payload);
int chan_token_verify(chan_socket_t *s, const char *token, tok_info_t *claims, char *msg, size_t msglen);
void chan_token_refresh(chan_socket_t *s, chan_t *ch, const msg_in_t *m);

/* ready.c: config.broadcast.replication_ready. chan_ready_start after the
 * join reply (may shut ch down: touch it no more); chan_ready_check from
 * the tick, 1 if it shut ch down. */
void chan_ready_start(chan_t *ch);
int chan_ready_check(chan_t *ch, int64_t now);

/* fanout.c: the hub's side. */
void chan_fanout_deliver(hub_sub_t *sub, hub_msg_t *m);
void chan_fanout_broadcast(chan_socket_t *s, chan_t *ch, const msg_in_t *m);
void chan_fanout_presence(chan_socket_t *s, chan_t *ch, const msg_in_t *m);
void chan_push_presence_state(chan_t *ch);
/* Sends hub message m to ch in ch's wire form (no filter: the caller's). */
void chan_fanout_send(chan_t *ch, hub_msg_t *m);
/* The socket is going: pending persisted broadcasts answer nobody. */
void chan_fanout_persist_detach(chan_socket_t *s);

/* replay.c: config.broadcast.replay. At most CHAN_REPLAY_MAX messages per
 * join, as supabase/realtime's hard limit. */
#define CHAN_REPLAY_MAX 25
/* join.c: the longest postgres_changes_resume.after taken as a position
 * candidate ("FFFFFFFF/FFFFFFFF:4294967295" is 28 bytes). */
#define CHAN_RESUME_MAX 64
/* Reads config.broadcast.replay into j (replay_since, replay_limit).
 * Returns 0 (also when absent), or -1 with the refusal in reason. */
int chan_replay_parse(json_t *broadcast, int is_private, join_t *j, char *reason, size_t len);
/* After the join's ok: runs the replay query under the channel's role
 * and claims; live broadcasts are held until the replayed ones are sent. */
void chan_replay_start(chan_t *ch, const join_t *j);
/* From delivery, for a broadcast while ch->replay is set: 1 if the message
 * is consumed (held for after the replay, or a live copy of a replayed
 * one), 0 to deliver it now. Never frees or closes anything. */
int chan_replay_filter(chan_t *ch, hub_msg_t *m);
void chan_replay_free(chan_t *ch);

#endif
