/*
 * cdc/messages: Broadcast from the database. A row inserted into
 * realtime.messages (by realtime.send, realtime.send_binary,
 * realtime.broadcast_changes, or any INSERT a policy lets through) arrives
 * on the CDC thread's one replication stream, from the second publication
 * (MESSAGES_PUBLICATION), and becomes a broadcast to the channel
 * "realtime:<topic>": the private channel of that topic when the row is
 * private, the public one when not, as supabase/realtime's
 * ReplicationConnection does.
 *
 * It owns turning one decoded row into a cdc_msg_t (validated, bounded,
 * with its payload copied: the pgoutput bytes die with the callback),
 * publishing it through the hub, and the partition upkeep statement. It
 * never judges a row by Postgres Changes' policies: who may read a
 * private topic was decided at join by realtime.messages' SELECT policies
 * (channel/join), and channel/fanout delivers a broadcast only to channels
 * allowed to read broadcasts. It never needs a postgres_changes binding,
 * and never writes to the database except through cdc_msg_maintain_sql.
 */
#ifndef TC_CDC_MESSAGES_H
#define TC_CDC_MESSAGES_H

#include <stddef.h>
#include <stdint.h>

#include "cdc/pgoutput.h"

#define CDC_MSG_TOPIC_MAX 246 /* "realtime:" + topic fits vsn 2's one-byte topic length (255) */
#define CDC_MSG_EVENT_MAX 255 /* vsn 2's one-byte event length */

/* One broadcast to deliver. */
typedef struct {
    char *topic; /* "realtime:<topic>", NUL-terminated */
    size_t topic_len;
    uint8_t is_private;
    uint8_t encoding; /* MSG_ENC_JSON or MSG_ENC_RAW */
    char *event;      /* NUL-terminated */
    size_t event_len;
    char meta[64]; /* {"id":"<uuid>"}, NUL-terminated */
    size_t payload_len;
    uint8_t *payload; /* JSON text, or the raw bytes of binary_payload */
} cdc_msg_t;

/* 1 if rel is realtime.messages: the root, as publish_via_partition_root
 * names it, or one of its day partitions (realtime.messages_YYYY_MM_DD,
 * realtime.messages_default) when the publication was made without it. */
int cdc_msg_is_messages(const pgo_relation_t *rel);

/* The broadcast an INSERT into realtime.messages asks for. Returns NULL
 * when the row is not delivered: silently (why NULL) when it is not an
 * INSERT or its extension is not 'broadcast'; with why (a static string)
 * when topic, event, private or the
 * payload missing (NULL), topic longer than CDC_MSG_TOPIC_MAX or empty,
 * event longer than CDC_MSG_EVENT_MAX, a payload (JSON text or bytes)
 * larger than max_payload, a binary_payload not in bytea's hex form, or an
 * unchanged TOAST value (never in an INSERT). Free with cdc_msg_free. */
cdc_msg_t *cdc_msg_from_insert(const pgo_msg_t *m, size_t max_payload, const char **why);
void cdc_msg_free(cdc_msg_t *b);
/* Bytes it holds (the queue's memory bound counts them). */
size_t cdc_msg_cost(const cdc_msg_t *b);
/* Delivers b to the subscribers of its topic on every worker (nobody
 * subscribed: a lookup). From the CDC thread; b stays the caller's. */
void cdc_msg_publish(const cdc_msg_t *b);

/* The partition upkeep the engine runs as service_role: $1 the retention
 * (an interval's text, "72 hours"), $2 the days to create ahead. One row:
 * created, dropped, pruned. */
const char *cdc_msg_maintain_sql(void);

#endif
