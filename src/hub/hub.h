/*
 * hub: topics and fan-out. A topic is shared by all workers; each worker
 * keeps its own array of local subscribers to it, touched only by that
 * worker. Publishing delivers to the publisher's worker at once and posts
 * one reference of the message to every other worker that has
 * subscribers, through the worker's mailbox (net/mailbox); each wire form of a message (vsn 1 JSON, vsn 2 JSON, vsn 2
 * binary) is encoded at most once and its bytes are shared by every
 * recipient on every worker. Presence state lives with its topic.
 * The hub never knows what a subscriber is: it calls sub->deliver. A
 * cross-node bus (Redis, later) plugs in at hub_publish, beside local
 * delivery.
 */
#ifndef TC_HUB_H
#define TC_HUB_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct hub_topic hub_topic_t;
typedef struct hub_sub hub_sub_t;
typedef struct hub_msg hub_msg_t;

struct hub_sub {
    hub_topic_t *topic; /* set while subscribed */
    uint32_t index;     /* position in the worker's local array */
    int worker;
    /* Runs on the subscriber's worker. Must not unsubscribe anyone or
     * close anything synchronously (it runs while the hub iterates). */
    void (*deliver)(hub_sub_t *s, hub_msg_t *m);
};

typedef enum { HUB_BROADCAST, HUB_PRESENCE_DIFF, HUB_POSTGRES_CHANGES } hub_kind_t;
enum { HUB_FORM_V1 = 0, HUB_FORM_V2_TEXT, HUB_FORM_V2_BINARY, HUB_NFORMS };

struct hub_msg {
    atomic_int refs;
    hub_kind_t kind;
    hub_topic_t *topic;                  /* holds a reference */
    const hub_sub_t *origin;             /* compared, never dereferenced: self-broadcast filter */
    _Atomic(buf_t *) frames[HUB_NFORMS]; /* sealed WebSocket frames, built on first use */
    uint8_t encoding;                    /* MSG_ENC_RAW or MSG_ENC_JSON (broadcast) */
    char *event;                         /* user event (broadcast); "system" for a routed system message */
    char *ref;                           /* the Phoenix ref it carries (a change's position) or NULL */
    char *meta;                          /* JSON object text or NULL (broadcast) */
    uint64_t *routes;                    /* postgres_changes: the channels (CDC client ids) it is for, ascending */
    uint32_t nroutes;
    size_t pace_est; /* postgres_changes: its estimated bytes over all recipients, until freed */
    size_t payload_len;
    uint8_t payload[]; /* broadcast payload, or the presence diff JSON */
};

void hub_init(int nworkers);
void hub_shutdown(void);

/* Subscribes s to topic on the calling worker. Creates the topic if
 * needed. A private channel and a public one of the same name are distinct
 * topics (as in supabase/realtime): private ones are authorized. */
void hub_subscribe(hub_sub_t *s, const char *topic, size_t len, int is_private);
/* Unsubscribes s (no-op if not subscribed). Call on s's worker. */
void hub_unsubscribe(hub_sub_t *s);

/* Topic lookup for publishers without a subscription (the HTTP API).
 * Returns a reference the caller drops with hub_topic_release, or NULL if
 * nobody is subscribed. */
hub_topic_t *hub_topic_find(const char *name, size_t len, int is_private);
void hub_topic_release(hub_topic_t *t);
const char *hub_topic_name(const hub_topic_t *t, size_t *len);
/* Subscribers across workers (approximate while changing). */
uint32_t hub_topic_subscribers(const hub_topic_t *t);

/* A broadcast message with one reference for the caller; payload is copied. */
hub_msg_t *hub_msg_broadcast(hub_topic_t *t, const hub_sub_t *origin, const char *event, size_t event_len,
                             const char *meta, size_t meta_len, uint8_t encoding, const void *payload, size_t len);
/* A postgres_changes event on topic t for the channels routes[0..n)
 * (ascending; the other subscribers of t must not see it): payload is
 * {"ids":[...],"data":...} (copied), ref the change's position (copied;
 * NULL: none). One reference for the caller. */
hub_msg_t *hub_msg_postgres_changes(hub_topic_t *t, const uint64_t *routes, size_t n, const char *ref,
                                    const void *payload, size_t len);
/* A "system" message routed like a postgres_changes event (the CDC
 * thread's "Subscribed to PostgreSQL"), so it reaches its channel in order
 * with the changes that follow it. payload: the JSON object (copied). */
hub_msg_t *hub_msg_routed_system(hub_topic_t *t, uint64_t route, const void *payload, size_t len);
/* 1 if route is among the message's routes. */
int hub_msg_routes_to(const hub_msg_t *m, uint64_t route);
/* Runs fn(arg, 1) on worker w's thread, in order with the hub messages
 * posted to it (both go through its mailbox, net/mailbox); if the worker
 * is stopping instead, fn(arg, 0) runs (on whichever thread drops it) so
 * arg can be freed. From any thread. */
void hub_call(int w, void (*fn)(void *arg, int run), void *arg);

/* Delivers m to every subscriber of its topic on every worker. Consumes
 * the caller's reference. From a worker thread (local subscribers get it at
 * once) or another thread (every worker gets it through its inbox). */
void hub_publish(hub_msg_t *m);
/* The sealed frame of m in the given form, or NULL when the form cannot
 * carry it (raw binary payloads have no vsn 1 form). Borrowed: valid while
 * the caller holds m. */
buf_t *hub_msg_frame(hub_msg_t *m, int form);
/* Another reference to m (for a holder that keeps it past the delivery
 * call); the holder drops it with hub_msg_unref. */
hub_msg_t *hub_msg_ref(hub_msg_t *m);
void hub_msg_unref(hub_msg_t *m);

/* Presence. owner identifies the tracking channel; key its presence key.
 * The diff is published to the topic. Returns 0, or -1 if meta is not an
 * object. */
int hub_presence_track(hub_sub_t *s, uint64_t owner, const char *key, json_t *meta);
void hub_presence_untrack(hub_sub_t *s, uint64_t owner);
/* Appends the topic's presence state JSON to *out. */
void hub_presence_state(hub_sub_t *s, buf_t **out);

/* Pacing of Postgres Changes. Their frames are paced buffers (buf_t.paced):
 * the backlog is what was published and not yet written to the recipients'
 * sockets, summed over recipients (an estimate while a message waits in
 * inboxes, the queued bytes once workers queued it). The CDC thread publishes
 * while it is below its bound, so a burst reaches each client at the pace
 * clients read, never as one block that overfills their queues. */
size_t hub_paced_backlog(void);
/* Asks for fn to be called once, on some worker thread, when the backlog is
 * at most below (replaces an earlier request). The caller should check the
 * backlog again after asking: it may already be there. */
void hub_paced_notify(size_t below, void (*fn)(void));
/* Worker check phase, after writes: runs a due request. */
void hub_paced_poll(void);

#endif
