/*
 * cdc/messages: see messages.h.
 *
 * What supabase/realtime does with such a row
 * (lib/realtime/tenants/replication_connection.ex), and so what we do:
 * INSERTs only; topic, event, private, id and a payload are required (a
 * row missing one is logged and dropped); binary_payload wins over
 * payload; the message goes to the tenant topic of `topic`, private or
 * public by `private`, as a user broadcast whose metadata is {"id": id}
 * (realtime-js shows it as payload.meta.id; replay de-duplicates on it).
 * vsn 1.0.0 clients get JSON payloads only: a binary one has no vsn 1
 * form, and supabase/realtime sends them nothing (channel/fanout does the
 * same). Differences: rows whose extension is not 'broadcast' (presence
 * probes some projects commit) are not delivered, and a topic or event
 * too long for vsn 2's one-byte lengths is dropped for every client rather
 * than failing only the vsn 2 ones.
 */
#include "cdc/messages.h"

#include <stdlib.h>
#include <string.h>

#include "hub/hub.h"
#include "metrics/metrics.h"
#include "proto/msg.h"
#include "util/hex.h"
#include "util/mem.h"

#define OID_JSON 114
#define OID_JSONB 3802
#define TOPIC_PREFIX "realtime:"
#define TOPIC_PREFIX_LEN 9

int cdc_msg_is_messages(const pgo_relation_t *rel) {
    if (!rel || !rel->schema || !rel->name || strcmp(rel->schema, "realtime") != 0)
        return 0;
    const char *n = rel->name;
    if (!strcmp(n, "messages") || !strcmp(n, "messages_default"))
        return 1;
    /* messages_YYYY_MM_DD */
    static const char shape[] = "messages_0000_00_00";
    if (strlen(n) != sizeof(shape) - 1)
        return 0;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == '0' ? (n[i] < '0' || n[i] > '9') : n[i] != shape[i])
            return 0;
    return 1;
}

/* The column named name of the new row: its value, or NULL when the
 * relation has no such column. */
static const pgo_value_t *column(const pgo_msg_t *m, const char *name, uint32_t *type_oid) {
    const pgo_relation_t *rel = m->rel;
    for (uint16_t i = 0; i < rel->ncols && i < m->new_tuple.natts; i++)
        if (!strcmp(rel->cols[i].name, name)) {
            if (type_oid)
                *type_oid = rel->cols[i].type_oid;
            return &m->new_tuple.values[i];
        }
    return NULL;
}

static int present(const pgo_value_t *v) { return v && v->kind == 't'; }

static int is_text(const pgo_value_t *v, const char *want) {
    size_t n = strlen(want);
    return present(v) && v->len == n && !memcmp(v->data, want, n);
}

/* The id as meta: a uuid's text only (the column's type), so nothing in
 * it needs escaping. */
static void set_meta(cdc_msg_t *b, const pgo_value_t *id) {
    b->meta[0] = 0;
    if (!present(id) || id->len > 40)
        return;
    for (uint32_t i = 0; i < id->len; i++) {
        char c = id->data[i];
        if (!(c == '-' || hex_digit((unsigned char)c) >= 0))
            return;
    }
    memcpy(b->meta, "{\"id\":\"", 7);
    memcpy(b->meta + 7, id->data, id->len);
    memcpy(b->meta + 7 + id->len, "\"}", 3);
}

cdc_msg_t *cdc_msg_from_insert(const pgo_msg_t *m, size_t max_payload, const char **why) {
    const char *dummy;
    if (!why)
        why = &dummy;
    *why = NULL; /* not for us, silently */
    if (m->kind != PGO_INSERT || !m->rel)
        return NULL;
    uint32_t ptype = 0;
    const pgo_value_t *topic = column(m, "topic", NULL), *event = column(m, "event", NULL);
    const pgo_value_t *priv = column(m, "private", NULL), *ext = column(m, "extension", NULL);
    const pgo_value_t *payload = column(m, "payload", &ptype), *bin = column(m, "binary_payload", NULL);
    const pgo_value_t *id = column(m, "id", NULL);
    if (!is_text(ext, "broadcast"))
        return NULL;
    /* The server stored and published it itself (channel/store: persisted
     * and private HTTP broadcasts): delivering it again would be a copy. */
    if (is_text(column(m, "tc_delivered", NULL), "t"))
        return NULL;
    if (!present(topic) || !present(event) || !present(priv) || !present(id)) {
        *why = "topic, event, private or id missing";
        return NULL;
    }
    if (topic->len == 0 || topic->len > CDC_MSG_TOPIC_MAX) {
        *why = "topic empty or longer than 246 bytes";
        return NULL;
    }
    if (event->len > CDC_MSG_EVENT_MAX) {
        *why = "event longer than 255 bytes";
        return NULL;
    }
    int binary = present(bin);
    if (!binary && !present(payload)) {
        *why = "payload missing";
        return NULL;
    }
    if (!binary && ptype != OID_JSONB && ptype != OID_JSON) {
        *why = "payload is not json";
        return NULL;
    }
    size_t plen = binary ? (bin->len >= 2 ? (bin->len - 2) / 2 : 0) : payload->len;
    if (plen > max_payload) {
        *why = "payload larger than the limit";
        return NULL;
    }
    cdc_msg_t *b = xcalloc(1, sizeof(*b));
    b->payload = xmalloc(plen ? plen : 1);
    if (binary) {
        long n = hex_bytea_decode(bin->data, bin->len, b->payload);
        if (n < 0) {
            *why = "binary_payload not in hex form";
            cdc_msg_free(b);
            return NULL;
        }
        b->payload_len = (size_t)n;
        b->encoding = MSG_ENC_RAW;
    } else {
        memcpy(b->payload, payload->data, plen);
        b->payload_len = plen;
        b->encoding = MSG_ENC_JSON;
    }
    b->topic_len = TOPIC_PREFIX_LEN + topic->len;
    b->topic = xmalloc(b->topic_len + 1);
    memcpy(b->topic, TOPIC_PREFIX, TOPIC_PREFIX_LEN);
    memcpy(b->topic + TOPIC_PREFIX_LEN, topic->data, topic->len);
    b->topic[b->topic_len] = 0;
    b->event = xstrndup(event->data, event->len);
    b->event_len = event->len;
    b->is_private = is_text(priv, "t");
    set_meta(b, id);
    return b;
}

void cdc_msg_free(cdc_msg_t *b) {
    if (!b)
        return;
    free(b->topic);
    free(b->event);
    free(b->payload);
    free(b);
}

size_t cdc_msg_cost(const cdc_msg_t *b) { return sizeof(*b) + b->topic_len + b->event_len + b->payload_len + 64; }

void cdc_msg_publish(const cdc_msg_t *b) {
    hub_topic_t *t = hub_topic_find(b->topic, b->topic_len, b->is_private);
    if (!t)
        return; /* nobody listens */
    size_t mlen = strlen(b->meta);
    hub_publish(hub_msg_broadcast(t, NULL, b->event, b->event_len, mlen ? b->meta : NULL, mlen, b->encoding, b->payload,
                                  b->payload_len));
    met_add(M_BROADCASTS, 1);
    hub_topic_release(t);
}

const char *cdc_msg_maintain_sql(void) {
    return "SELECT created, dropped, pruned FROM realtime.tc_messages_maintain($1::interval, $2::integer)";
}
