/*
 * channel/fanout: what a socket's channels publish through the hub
 * (broadcast, presence track/untrack) and what the hub delivers to them
 * (chan_fanout_deliver: the frame shared by every recipient, filtered by
 * the channel's permissions, token expiry and Postgres Changes routes).
 * A channel whose token expired receives nothing from the moment it
 * expires; the once-a-second tick then tells the client and closes it.
 * A broadcast sent with persist (vsn 2.0.0: the binary push's meta) is
 * stored first (channel/store, under the channel's token) and published
 * once the insert committed, with meta.id.
 * It never joins or leaves, and never copies a fan-out frame per client.
 */
#include "channel/chan_int.h"

#include <stdio.h>
#include <stdlib.h>

#include "channel/store.h"
#include "util/log.h"
#include "util/mem.h"

void chan_push_presence_state(chan_t *ch) {
    buf_t *st = buf_new(256);
    hub_presence_state(&ch->sub, &st);
    chan_push(ch, "presence_state", (const char *)st->data, st->len);
    buf_unref(st);
}

void chan_fanout_send(chan_t *ch, hub_msg_t *m) {
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

void chan_fanout_deliver(hub_sub_t *sub, hub_msg_t *m) {
    chan_t *ch = (chan_t *)sub;
    if (m->origin == sub && !ch->self)
        return;
    if (ch->exp <= chan_now_s())
        return;
    if (m->kind == HUB_POSTGRES_CHANGES) {
        /* One frame per topic serves every channel the change was
         * authorized for; any other channel on the topic must not see it. */
        if (!ch->cdc_client || !hub_msg_routes_to(m, ch->cdc_client))
            return;
    } else if (m->kind == HUB_BROADCAST ? !ch->read_broadcast : !ch->read_presence) {
        return;
    }
    /* A replay in progress holds live broadcasts until the replayed ones
     * are out, and skips live copies of what it replayed (replay.c). */
    if (m->kind == HUB_BROADCAST && ch->replay && chan_replay_filter(ch, m))
        return;
    chan_fanout_send(ch, m);
}

/* Persisted broadcasts being stored, per connection: each holds its
 * payload until the database answers. */
#define MAX_PENDING_PERSISTS 32

struct chan_persist {
    chan_persist_t *next;
    chan_socket_t *s; /* NULL once the socket is gone */
    uint64_t owner;   /* the sending channel's: it may leave meanwhile */
    char *join_ref, *ref, *topic;
    uint8_t ack, encoding;
    char *event;
    size_t len;
    uint8_t payload[];
};

static void persist_unlink(chan_persist_t *p) {
    if (!p->s)
        return;
    for (chan_persist_t **q = &p->s->persists; *q; q = &(*q)->next)
        if (*q == p) {
            *q = p->next;
            break;
        }
    p->s->npersists--;
    p->s = NULL;
}

void chan_fanout_persist_detach(chan_socket_t *s) {
    while (s->persists)
        persist_unlink(s->persists); /* their answers arrive and only publish */
}

/* An error reply realtime-js shows for a persisted send: it resolves
 * send() with response.error; reason is what every other reply carries. */
static void persist_error(chan_socket_t *s, const msg_in_t *m, const char *why) {
    buf_t *r = buf_new(64 + 2 * strlen(why));
    buf_puts(&r, "{\"reason\":");
    buf_json_str(&r, why, strlen(why));
    buf_puts(&r, ",\"error\":");
    buf_json_str(&r, why, strlen(why));
    buf_putc(&r, '}');
    buf_putc(&r, 0);
    chan_reply(s, m, "error", (const char *)r->data);
    buf_unref(r);
}

static void on_persisted(void *ud, chan_store_status_t st, int failed, const char *const *ids, const char *error) {
    (void)failed, (void)error;
    chan_persist_t *p = ud;
    chan_socket_t *s = p->s;
    persist_unlink(p);
    msg_in_t m;
    memset(&m, 0, sizeof(m));
    m.topic = chan_str(p->topic);
    m.join_ref = chan_str(p->join_ref);
    m.ref = chan_str(p->ref);
    if (st == CHAN_STORE_OK) {
        /* Stored, then delivered by us (the row is marked tc_delivered so
         * the replication path does not deliver it again), with its id as
         * meta.id: a replay that found it skips this live copy. */
        chan_t *ch = NULL;
        for (chan_t *c = s ? s->chans : NULL; c; c = c->next)
            if (c->owner == p->owner)
                ch = c;
        hub_topic_t *t = ch ? ch->sub.topic : hub_topic_find(p->topic, strlen(p->topic), 1);
        if (t) {
            char meta[64];
            chan_store_meta(ids[0], meta, sizeof(meta));
            met_add(M_BROADCASTS, 1);
            hub_publish(hub_msg_broadcast(t, ch ? &ch->sub : NULL, p->event, strlen(p->event), meta, strlen(meta),
                                          p->encoding, p->payload, p->len));
            if (!ch)
                hub_topic_release(t);
        }
        if (s && p->ack)
            chan_reply(s, &m, "ok", "{}");
    } else if (s) {
        char why[512];
        if (st == CHAN_STORE_DENIED)
            snprintf(why, sizeof(why), "You do not have permissions to write to this Channel topic: %s",
                     p->topic + TOPIC_PREFIX_LEN);
        else if (st == CHAN_STORE_INVALID)
            snprintf(why, sizeof(why), "Unable to store the message: the database refused its payload");
        else
            snprintf(why, sizeof(why), "Realtime was unable to store the message");
        persist_error(s, &m, why);
    }
    free(p->join_ref), free(p->ref), free(p->topic), free(p->event);
    free(p);
}

/* Stores the broadcast under the channel's role and claims; it is
 * published and acknowledged once the insert committed (on_persisted). */
static void persist(chan_socket_t *s, chan_t *ch, const msg_in_t *m, const char *event, size_t elen, uint8_t enc,
                    const void *payload, size_t len, int64_t ttl_s) {
    char why[160];
    if (!ch->is_private) {
        persist_error(s, m, "persist is only available on private channels");
        return;
    }
    if (!worker_self->db) {
        persist_error(s, m, "persist is not available: this server has no database configured");
        return;
    }
    if (s->npersists >= MAX_PENDING_PERSISTS) {
        snprintf(why, sizeof(why),
                 "TooManyPendingPersists: at most %d persisted broadcasts may wait for the database per connection",
                 MAX_PENDING_PERSISTS);
        persist_error(s, m, why);
        return;
    }
    size_t tlen;
    const char *topic = hub_topic_name(ch->sub.topic, &tlen);
    chan_persist_t *p = xcalloc(1, sizeof(*p) + len);
    p->owner = ch->owner;
    p->join_ref = m->join_ref.s ? xstrndup(m->join_ref.s, m->join_ref.len) : NULL;
    p->ref = m->ref.s ? xstrndup(m->ref.s, m->ref.len) : NULL;
    p->topic = xstrndup(topic, tlen);
    p->ack = ch->ack;
    p->encoding = enc;
    p->event = xstrndup(event, elen);
    p->len = len;
    if (len)
        memcpy(p->payload, payload, len);
    chan_store_msg_t sm = {topic + TOPIC_PREFIX_LEN, tlen - TOPIC_PREFIX_LEN, event, elen, enc, payload, len, ttl_s};
    if (chan_store_run(worker_self->db, ch->role ? ch->role : "anon", ch->claims, &sm, 1, 1, on_persisted, p, NULL) <
        0) {
        free(p->join_ref), free(p->ref), free(p->topic), free(p->event);
        free(p);
        persist_error(s, m, "Realtime was unable to store the message: the database is busy");
        return;
    }
    p->s = s;
    p->next = s->persists;
    s->persists = p;
    s->npersists++;
}

void chan_fanout_broadcast(chan_socket_t *s, chan_t *ch, const msg_in_t *m) {
    hub_msg_t *hm;
    if (!ch->write_broadcast) {
        chan_reply_error(s, m, "You do not have permissions to write to this Channel topic");
        return;
    }
    /* persist: in a vsn 2.0.0 binary push it is the frame's meta
     * ({"persist": true | {"ttl": n}}), in a JSON push a payload key. The
     * client's meta is not passed on: supabase/realtime does not either,
     * and meta.id / meta.replayed must be the server's word. */
    char why[160];
    int do_persist = 0;
    int64_t ttl_s = 0;
    json_t *meta = NULL;
    json_t *pv = NULL;
    if (m->binary) {
        json_error_t jerr;
        meta = m->meta.len ? json_loadb(m->meta.s, m->meta.len, 0, &jerr) : NULL;
        pv = json_object_get(meta, "persist");
    } else {
        pv = json_object_get(m->payload, "persist");
    }
    int bad = chan_store_parse_persist(pv, &do_persist, &ttl_s, why, sizeof(why));
    json_decref(meta);
    if (bad < 0) {
        persist_error(s, m, why);
        return;
    }
    if (m->binary) {
        if (do_persist) {
            persist(s, ch, m, m->user_event.s, m->user_event.len, m->encoding, m->user_payload, m->user_payload_len,
                    ttl_s);
            return;
        }
        hm = hub_msg_broadcast(ch->sub.topic, &ch->sub, m->user_event.s, m->user_event.len, NULL, 0, m->encoding,
                               m->user_payload, m->user_payload_len);
    } else {
        json_t *ev = json_object_get(m->payload, "event");
        json_t *pl = json_object_get(m->payload, "payload");
        if (!json_is_string(ev) || !pl) {
            chan_reply_error(s, m, "broadcast needs a string event and a payload");
            return;
        }
        char *text = json_dumps(pl, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text)
            abort();
        if (do_persist) {
            persist(s, ch, m, json_string_value(ev), json_string_length(ev), MSG_ENC_JSON, text, strlen(text), ttl_s);
            free(text);
            return;
        }
        hm = hub_msg_broadcast(ch->sub.topic, &ch->sub, json_string_value(ev), json_string_length(ev), NULL, 0,
                               MSG_ENC_JSON, text, strlen(text));
        free(text);
    }
    met_add(M_BROADCASTS, 1);
    hub_publish(hm);
    if (ch->ack)
        chan_reply(s, m, "ok", "{}");
}

static void presence_refused(chan_socket_t *s, const msg_in_t *m, const char *reason) {
    met_add(M_LIM_PRESENCE, 1);
    chan_log_refused(s, "presence refused", m->topic, reason);
    chan_reply_error(s, m, reason);
}

void chan_fanout_presence(chan_socket_t *s, chan_t *ch, const msg_in_t *m) {
    json_t *ev = json_object_get(m->payload, "event");
    const char *event = json_is_string(ev) ? json_string_value(ev) : "";
    if (!chan_rate_ok(s, &s->presence, chan_cfg.presence_per_second)) {
        chan_reply_error(s, m, "Too many presence messages per second");
        return;
    }
    met_add(M_PRESENCE, 1);
    if (!ch->write_presence) {
        chan_reply_error(s, m, "You do not have permissions to track presence on this Channel topic");
        return;
    }
    if (!strcmp(event, "track")) {
        json_t *meta = json_object_get(m->payload, "payload");
        if (!json_is_object(meta)) {
            chan_reply_error(s, m, "Presence track payload must be a map");
            return;
        }
        char reason[192];
        /* The state keeps this payload for as long as the channel tracks
         * it, on every topic it tracks: both are bounded. Sizing encodes
         * without keeping anything (json_dumpb with no buffer). */
        size_t bytes = json_dumpb(meta, NULL, 0, JSON_COMPACT);
        if (bytes > (size_t)chan_cfg.max_presence_bytes) {
            snprintf(reason, sizeof(reason),
                     "PresencePayloadTooLarge: a presence payload may be at most %d bytes of JSON "
                     "(MAX_PRESENCE_PAYLOAD_BYTES)",
                     chan_cfg.max_presence_bytes);
            presence_refused(s, m, reason);
            return;
        }
        if (!ch->tracked && s->ntracked >= chan_cfg.max_presence_per_conn) {
            /* Tracking again where it already tracks is an update, not a
             * new slot. */
            snprintf(reason, sizeof(reason),
                     "TooManyPresences: a connection may track presence on at most %d channels at once "
                     "(MAX_PRESENCE_PER_CLIENT)",
                     chan_cfg.max_presence_per_conn);
            presence_refused(s, m, reason);
            return;
        }
        if (!ch->presence_key) {
            char k[37];
            chan_store_uuid(k);
            ch->presence_key = xstrdup(k);
        }
        if (!ch->presence_enabled) {
            /* Tracking turns presence on, as in supabase/realtime; the client
             * applies diffs only after a state. */
            ch->presence_enabled = 1;
            chan_push_presence_state(ch);
        }
        if (hub_presence_track(&ch->sub, ch->owner, ch->presence_key, meta) < 0) {
            /* state untouched: a key that is not UTF-8 (the payload was checked) */
            chan_reply_error(s, m, "Presence could not be tracked: the presence key must be valid UTF-8");
            return;
        }
        if (!ch->tracked)
            s->ntracked++;
        ch->tracked = 1;
        chan_reply(s, m, "ok", "{}");
    } else if (!strcmp(event, "untrack")) {
        if (ch->tracked) {
            hub_presence_untrack(&ch->sub, ch->owner);
            s->ntracked--;
        }
        ch->tracked = 0;
        chan_reply(s, m, "ok", "{}");
    } else {
        chan_reply_error(s, m, "presence event must be track or untrack");
    }
}
