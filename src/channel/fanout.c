/*
 * channel/fanout: what a socket's channels publish through the hub
 * (broadcast, presence track/untrack) and what the hub delivers to them
 * (chan_fanout_deliver: the frame shared by every recipient, filtered by
 * the channel's permissions, token expiry and Postgres Changes routes).
 * A channel whose token expired receives nothing from the moment it
 * expires; the once-a-second tick then tells the client and closes it.
 * It never joins or leaves, and never copies a fan-out frame per client.
 */
#include "channel/chan_int.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/log.h"
#include "util/mem.h"

void chan_push_presence_state(chan_t *ch) {
    buf_t *st = buf_new(256);
    hub_presence_state(&ch->sub, &st);
    chan_push(ch, "presence_state", (const char *)st->data, st->len);
    buf_unref(st);
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

static void uuid4(char out[37]) {
    uint8_t r[16];
    if (RAND_bytes(r, sizeof(r)) != 1)
        abort();
    r[6] = (r[6] & 0x0f) | 0x40;
    r[8] = (r[8] & 0x3f) | 0x80;
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3],
             r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
}

void chan_fanout_broadcast(chan_socket_t *s, chan_t *ch, const msg_in_t *m) {
    hub_msg_t *hm;
    if (!ch->write_broadcast) {
        chan_reply_error(s, m, "You do not have permissions to write to this Channel topic");
        return;
    }
    if (m->binary) {
        hm = hub_msg_broadcast(ch->sub.topic, &ch->sub, m->user_event.s, m->user_event.len, m->meta.s, m->meta.len,
                               m->encoding, m->user_payload, m->user_payload_len);
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
            uuid4(k);
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
