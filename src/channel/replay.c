/*
 * channel/replay: config.broadcast.replay {since, limit} of a private
 * channel: the stored broadcasts of realtime.messages for its topic since
 * `since` (ms since the epoch), the newest `limit` of them (at most
 * CHAN_REPLAY_MAX, as supabase/realtime's Realtime.Messages.replay) sent
 * oldest first, each with meta {"replayed":true,"id":...}, before any live
 * broadcast of the channel and none twice.
 *
 * The seam: the channel is subscribed to its topic before the query starts
 * (join.c answered the join), so nothing published after the query's
 * snapshot can be missed; live broadcasts that arrive while it runs are
 * held here (bounded) and sent after the replayed ones, minus those whose
 * meta.id is one of the replayed ids. The replayed ids stay with the
 * channel (25 at most), so a copy that arrives later still (the replication
 * stream lags the commit) is skipped too, as supabase/realtime's dispatcher
 * skips replayed_message_ids.
 *
 * The query runs through the worker's db/pool under the joining token's
 * role and claims with realtime.topic set, so the SELECT policies on
 * realtime.messages decide which rows the user sees. Owns chan_replay_t;
 * it never joins, leaves or publishes.
 */
#include "channel/chan_int.h"

#include <stdio.h>
#include <stdlib.h>

#include "channel/store.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/mem.h"
#include "ws/frame.h"

/* Live broadcasts held while the query runs: beyond either bound the
 * channel is ended (a client that cannot be given its messages in order is
 * told so, rather than given them out of order or without some). */
#define HOLD_MAX_MSGS 4096
#define HOLD_MAX_BYTES (8u << 20)
/* since: 0 .. the year 9999, in milliseconds */
#define SINCE_MAX 253402300799999LL

struct chan_replay {
    db_req_t *req; /* while the query runs */
    hub_msg_t **held;
    uint32_t nheld, cap;
    size_t held_bytes;
    uint8_t overflow;
    int nids;
    char ids[CHAN_REPLAY_MAX][37];
};

/* The query gets 5 s, as supabase/realtime's: live broadcasts wait for it. */
static const char SET_TOPIC_SQL[] =
    "SELECT set_config('realtime.topic', $1, true), set_config('statement_timeout', '5000', true)";
/* The newest $3 since $2, then oldest first; rows "from the future" (past
 * a minute of clock drift) are not searched, as supabase/realtime does. */
static const char REPLAY_SQL[] = "SELECT id::text, coalesce(event, ''), payload::text, binary_payload FROM ("
                                 "SELECT id, event, payload, binary_payload, inserted_at FROM realtime.messages"
                                 " WHERE topic = $1 AND private IS TRUE AND extension = 'broadcast'"
                                 " AND inserted_at >= to_timestamp($2::bigint / 1000.0)::timestamp"
                                 " AND inserted_at < now()::timestamp + interval '1 minute'"
                                 " AND (tc_expires_at IS NULL OR tc_expires_at > now()::timestamp)"
                                 " ORDER BY inserted_at DESC LIMIT $3::int) m ORDER BY inserted_at, id";

int chan_replay_parse(json_t *broadcast, int is_private, join_t *j, char *reason, size_t len) {
    json_t *r = json_object_get(broadcast, "replay");
    if (!r || json_is_null(r))
        return 0;
    if (!is_private) {
        snprintf(reason, len, "UnableToReplayMessages: Replay is not allowed for public channels");
        return -1;
    }
    if (!json_is_object(r)) {
        snprintf(reason, len, "UnableToReplayMessages: Replay params are not valid: replay must be an object");
        return -1;
    }
    json_t *since = json_object_get(r, "since"), *limit = json_object_get(r, "limit");
    if (!json_is_integer(since) || json_integer_value(since) < 0 || json_integer_value(since) > SINCE_MAX) {
        snprintf(reason, len,
                 "UnableToReplayMessages: Replay params are not valid: since must be an integer of milliseconds "
                 "since the epoch");
        return -1;
    }
    int lim = CHAN_REPLAY_MAX; /* supabase/realtime's default when limit is absent */
    if (limit && !json_is_null(limit)) {
        if (!json_is_integer(limit) || json_integer_value(limit) < 1) {
            snprintf(reason, len,
                     "UnableToReplayMessages: Replay params are not valid: limit must be a positive integer "
                     "(at most %d are replayed)",
                     CHAN_REPLAY_MAX);
            return -1;
        }
        if (json_integer_value(limit) < CHAN_REPLAY_MAX)
            lim = (int)json_integer_value(limit);
    }
    j->replay_since = (int64_t)json_integer_value(since);
    j->replay_limit = lim;
    return 0;
}

/* Sends one replayed row to ch in its wire form. */
static void send_row(chan_t *ch, PGresult *res, int row) {
    size_t tlen;
    const char *topic = hub_topic_name(ch->sub.topic, &tlen);
    const char *id = PQgetvalue(res, row, 0);
    msg_str_t event = {PQgetvalue(res, row, 1), (size_t)PQgetlength(res, row, 1)};
    char meta[96];
    snprintf(meta, sizeof(meta), "{\"replayed\":true,\"id\":\"%.40s\"}", id);
    buf_t *b;
    if (!PQgetisnull(res, row, 3)) {
        /* binary payload: only vsn 2.0.0 can carry it (supabase/realtime
         * skips it on vsn 1.0.0 as well) */
        if (ch->sock->vsn != MSG_VSN_2)
            return;
        size_t hlen = (size_t)PQgetlength(res, row, 3);
        uint8_t *bytes = xmalloc(hlen / 2 + 1);
        long n = hex_bytea_decode(PQgetvalue(res, row, 3), hlen, bytes);
        if (n < 0) {
            free(bytes);
            return;
        }
        b = msg_encode_broadcast_binary((msg_str_t){topic, tlen}, event, meta, strlen(meta), MSG_ENC_RAW, bytes,
                                        (size_t)n);
        free(bytes);
        if (!b) {
            log_info("replayed message skipped", "\"reason\":\"event longer than 255 bytes\"");
            return;
        }
        ws_frame_seal(b, WS_OP_BINARY);
        met_add(M_MSG_OUT, 1);
        conn_send_owned(ch->sock->conn, b);
        return;
    }
    const char *payload = PQgetisnull(res, row, 2) ? "null" : PQgetvalue(res, row, 2);
    chan_send_text(ch->sock, msg_encode_broadcast_json(ch->sock->vsn, (msg_str_t){topic, tlen}, event, payload,
                                                       strlen(payload), meta, strlen(meta)));
}

static int replayed(const chan_replay_t *r, const char *id) {
    for (int i = 0; i < r->nids; i++)
        if (!strcmp(r->ids[i], id))
            return 1;
    return 0;
}

/* The live copy of a replayed message? */
static int duplicate(const chan_replay_t *r, const hub_msg_t *m) {
    char id[40];
    if (!r->nids || !m->meta || chan_store_meta_id(m->meta, strlen(m->meta), id, sizeof(id)) < 0)
        return 0;
    return replayed(r, id);
}

static void release_held(chan_replay_t *r) {
    for (uint32_t i = 0; i < r->nheld; i++)
        hub_msg_unref(r->held[i]);
    free(r->held);
    r->held = NULL;
    r->nheld = r->cap = 0;
    r->held_bytes = 0;
}

static void on_replay(void *ud, PGresult *const *results, int n, const char *error) {
    chan_t *ch = ud;
    chan_replay_t *r = ch->replay;
    r->req = NULL;
    PGresult *res = !error && n == 2 ? results[1] : NULL;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *why = error ? error : res ? PQresultErrorMessage(res) : "";
        log_warn("replay failed", "\"error\":\"%.*s\"", (int)strcspn(why, "\"\\\n"), why);
        release_held(r);
        chan_shutdown(ch, "UnableToReplayMessages: Realtime was unable to replay messages");
        return;
    }
    if (r->overflow) {
        release_held(r);
        chan_shutdown(ch, "UnableToReplayMessages: too many live messages arrived while replaying");
        return;
    }
    int rows = PQntuples(res);
    for (int i = 0; i < rows && r->nids < CHAN_REPLAY_MAX; i++) {
        snprintf(r->ids[r->nids++], sizeof(r->ids[0]), "%s", PQgetvalue(res, i, 0));
        send_row(ch, res, i);
    }
    /* then what arrived meanwhile, in order, without the replayed ones */
    hub_msg_t **held = r->held;
    uint32_t nheld = r->nheld;
    r->held = NULL;
    r->nheld = r->cap = 0;
    r->held_bytes = 0;
    for (uint32_t i = 0; i < nheld; i++) {
        if (!duplicate(r, held[i]) && ch->exp > chan_now_s())
            chan_fanout_send(ch, held[i]);
        hub_msg_unref(held[i]);
    }
    free(held);
    if (!r->nids)
        chan_replay_free(ch); /* nothing to deduplicate against later */
}

void chan_replay_start(chan_t *ch, const join_t *j) {
    if (!j->replay_limit)
        return;
    size_t tlen;
    const char *topic = hub_topic_name(ch->sub.topic, &tlen);
    char *sub_topic = xstrndup(topic + TOPIC_PREFIX_LEN, tlen - TOPIC_PREFIX_LEN);
    char since[24], limit[16];
    snprintf(since, sizeof(since), "%lld", (long long)j->replay_since);
    snprintf(limit, sizeof(limit), "%d", j->replay_limit);
    const char *p1[] = {sub_topic};
    const char *p2[] = {sub_topic, since, limit};
    db_stmt_t st[2] = {{SET_TOPIC_SQL, 1, p1, 1}, {REPLAY_SQL, 3, p2, 1}};
    const char *role = chan_store_role(ch->role);
    ch->replay = xcalloc(1, sizeof(*ch->replay));
    ch->replay->req = worker_self->db ? db_run(worker_self->db, role, ch->claims, st, 2, on_replay, ch) : NULL;
    free(sub_topic);
    if (!ch->replay->req) {
        chan_replay_free(ch);
        chan_shutdown(ch, "UnableToReplayMessages: Realtime was unable to replay messages");
    }
}

int chan_replay_filter(chan_t *ch, hub_msg_t *m) {
    chan_replay_t *r = ch->replay;
    if (!r->req)
        return duplicate(r, m);
    if (r->overflow)
        return 1; /* the channel ends when the query answers */
    if (r->nheld >= HOLD_MAX_MSGS || r->held_bytes + m->payload_len > HOLD_MAX_BYTES) {
        r->overflow = 1;
        release_held(r);
        return 1;
    }
    if (r->nheld == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->held = xrealloc(r->held, r->cap * sizeof(*r->held));
    }
    r->held[r->nheld++] = hub_msg_ref(m);
    r->held_bytes += m->payload_len;
    return 1;
}

void chan_replay_free(chan_t *ch) {
    chan_replay_t *r = ch->replay;
    if (!r)
        return;
    if (r->req)
        db_cancel(r->req);
    release_held(r);
    free(r);
    ch->replay = NULL;
}
