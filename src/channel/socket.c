/*
 * channel/socket: see socket.h. This file owns the socket itself: its
 * lifetime, decoding each message, rate limits, dispatch to join.c,
 * token.c and fanout.c, and what goes back to the client (replies,
 * pushes, errors). It never joins, authorizes or publishes by itself.
 *
 * Replies and error strings follow supabase/realtime's RealtimeChannel
 * where a client may rely on them. Channel pushes (system, presence_state,
 * phx_close) carry the channel's join_ref like Phoenix's; fan-out frames
 * carry none, so one encoding serves every recipient.
 */
#include "channel/chan_int.h"

#include <stdio.h>
#include <stdlib.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/redact.h"
#include "ws/frame.h"

chan_config_t chan_cfg;
const jwt_keyring_t *chan_keys;

void chan_socket_init(const chan_config_t *cfg, const jwt_keyring_t *keys) {
    chan_cfg = *cfg;
    chan_keys = keys;
}

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
    log_at(LOG_INFO, "protocol", "\"conn\":%llu,\"dir\":\"%s\",\"frame\":%s", (unsigned long long)conn_id(s->conn), dir,
           (const char *)b->data);
    buf_unref(b);
    buf_unref(r);
}

/* Seals and queues one text frame built by proto/msg. */
void chan_send_text(chan_socket_t *s, buf_t *b) {
    if (trace_on(s))
        trace(s, "out", b->data, b->len, 0);
    ws_frame_seal(b, WS_OP_TEXT);
    met_add(M_MSG_OUT, 1);
    conn_send_owned(s->conn, b);
}

void chan_reply(chan_socket_t *s, const msg_in_t *m, const char *status, const char *response) {
    if (!m->ref.s)
        return; /* nobody waits for it */
    chan_send_text(s, msg_encode_reply(s->vsn, m->join_ref, m->ref, m->topic, status, response, strlen(response)));
}

void chan_reply_error(chan_socket_t *s, const msg_in_t *m, const char *reason) {
    buf_t *r = buf_new(64 + strlen(reason));
    buf_puts(&r, "{\"reason\":");
    buf_json_str(&r, reason, strlen(reason));
    buf_putc(&r, '}');
    buf_putc(&r, 0);
    chan_reply(s, m, "error", (const char *)r->data);
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
    chan_send_text(s, msg_encode(s->vsn, MSG_STR_NULL, MSG_STR_NULL, MSG_STR("phoenix"), "phx_error",
                                 (const char *)p->data, p->len));
    buf_unref(p);
}

void chan_push(chan_t *ch, const char *event, const char *payload, size_t len) {
    size_t tlen;
    const char *topic = hub_topic_name(ch->sub.topic, &tlen);
    chan_send_text(ch->sock, msg_encode(ch->sock->vsn, chan_str(ch->join_ref), MSG_STR_NULL, (msg_str_t){topic, tlen},
                                        event, payload, len));
}

void chan_push_system(chan_t *ch, const char *extension, const char *status, const char *message) {
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
    chan_push(ch, "system", (const char *)p->data, p->len);
    buf_unref(p);
}

int chan_rate_ok(chan_socket_t *s, uint32_t *counter, int limit) {
    if (s->window != chan_now_s()) {
        s->window = chan_now_s();
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
void chan_log_refused(chan_socket_t *s, const char *what, msg_str_t topic, const char *reason) {
    buf_t *b = buf_new(128);
    buf_json_str(&b, topic.s ? topic.s : "", topic.len > 200 ? 200 : topic.len);
    buf_puts(&b, ",\"reason\":");
    buf_json_str(&b, reason, strlen(reason));
    buf_putc(&b, 0);
    log_info(what, "\"conn\":%llu,\"topic\":%s", (unsigned long long)conn_id(s->conn), (const char *)b->data);
    buf_unref(b);
}

static int str_eq(msg_str_t a, const char *lit) { return a.s && a.len == strlen(lit) && !memcmp(a.s, lit, a.len); }

static void dispatch(chan_socket_t *s, const msg_in_t *m) {
    if (str_eq(m->topic, "phoenix")) {
        if (str_eq(m->event, "heartbeat"))
            chan_reply(s, m, "ok", "{}");
        else
            chan_reply_error(s, m, "unknown event on topic phoenix");
        return;
    }
    if (str_eq(m->event, "phx_join")) {
        chan_join_handle(s, m);
        return;
    }
    chan_t *ch = chan_find(s, m->topic);
    if (!ch || (m->join_ref.s && ch->join_ref && !str_eq(m->join_ref, ch->join_ref))) {
        /* realtime-js may leave channels it never joined, with join_ref null. */
        if (str_eq(m->event, "phx_leave")) {
            /* ... or whose join is still being authorized: it must not
             * complete behind the client's back. */
            for (pending_join_t *p = s->pending; p; p = p->next)
                if (!p->recheck_only && p->j.topic && strlen(p->j.topic) == m->topic.len &&
                    !memcmp(p->j.topic, m->topic.s, m->topic.len))
                    p->cancelled = 1;
            chan_reply(s, m, "ok", "{}");
        } else {
            chan_reply_error(s, m, "unmatched topic");
        }
        return;
    }
    if (str_eq(m->event, "access_token")) {
        chan_token_refresh(s, ch, m);
        return;
    }
    if (ch->exp <= chan_now_s()) {
        char msg[96];
        snprintf(msg, sizeof(msg), "Token has expired %lld seconds ago", (long long)(chan_now_s() - ch->exp));
        chan_reply_error(s, m, msg);
        chan_shutdown(ch, msg);
        return;
    }
    if (str_eq(m->event, "phx_leave"))
        chan_join_leave(s, ch, m);
    else if (str_eq(m->event, "broadcast"))
        chan_fanout_broadcast(s, ch, m);
    else if (str_eq(m->event, "presence"))
        chan_fanout_presence(s, ch, m);
    else
        log_debug("unexpected event ignored", "\"conn\":%llu,\"event\":\"%.*s\"", (unsigned long long)conn_id(s->conn),
                  (int)strcspn(m->event.s, "\"\\\n") > 64 ? 64 : (int)strcspn(m->event.s, "\"\\\n"), m->event.s);
}

void chan_socket_on_message(chan_socket_t *s, int opcode, const uint8_t *data, size_t len) {
    if (trace_on(s))
        trace(s, "in", data, len, opcode == WS_OP_BINARY);
    if (!chan_rate_ok(s, &s->events, chan_cfg.events_per_second)) {
        if (s->events > 10u * (uint32_t)chan_cfg.events_per_second) {
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
            chan_shutdown(ch, msg);
        } else {
            (void)chan_ready_check(ch, now);
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
        chan_join_pending_unlink(s->pending); /* their answers arrive and are dropped */
    chan_fanout_persist_detach(s);
    while (s->chans)
        chan_free(s->chans);
    free(s->apikey);
    free(s);
}

static void ws_message(void *ud, int opcode, const uint8_t *data, size_t len) {
    chan_socket_on_message(ud, opcode, data, len);
}

static void ws_tick(void *ud, int64_t now_s) { chan_socket_tick(ud, now_s); }

static void ws_close(void *ud) { chan_socket_free(ud); }

const conn_ws_handler_t chan_socket_ws = {.message = ws_message, .tick = ws_tick, .close = ws_close};

void chan_socket_upgrade(conn_t *c, const char *accept_key, msg_vsn_t vsn, const char *apikey, int log_debug) {
    conn_upgrade(c, accept_key, &chan_socket_ws, chan_socket_new(c, vsn, apikey, log_debug));
}
