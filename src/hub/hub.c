/*
 * hub: see hub.h.
 *
 * Topic lifetime. The global table holds one reference to each topic and
 * drops it (removing the topic) when the last subscriber on any worker
 * leaves; a message in flight holds its own reference, so a worker that
 * receives a message for a topic everyone has left finds an empty local
 * array, never freed memory. Subscriber counts change under the table
 * mutex (joins are rare next to messages); message references are atomic.
 *
 * Ordering. Messages from one publisher reach each worker in publish order
 * (one inbox per worker). Presence diffs are posted to other workers while
 * the topic's presence lock is held, so every worker sees diffs in the
 * order the state changed.
 */
#include "hub/hub.h"

#include <pthread.h>
#include <string.h>

#include "metrics/metrics.h"
#include "net/server.h"
#include "presence/presence.h"
#include "proto/msg.h"
#include "util/hash.h"
#include "util/htab.h"
#include "util/mem.h"
#include "ws/frame.h"

typedef struct {
    hub_sub_t **v;
    uint32_t n, cap;
} local_t;

struct hub_topic {
    atomic_int refs;
    uint32_t subs;                           /* all workers; under table_mu */
    _Atomic uint32_t wsubs[SRV_MAX_WORKERS]; /* per worker, read by publishers */
    local_t local[SRV_MAX_WORKERS];          /* local[w] touched by worker w only */
    pthread_mutex_t pres_mu;
    pres_topic_t *pres;
    uint64_t hash; /* its key in the table (topic_hash) */
    uint8_t is_private;
    size_t name_len;
    char name[];
};

static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
/* pacing: estimated bytes of postgres_changes messages not yet freed, and
 * the one pending notification */
static _Atomic size_t paced_posted;
static _Atomic size_t paced_below;
static void (*_Atomic paced_fn)(void);
/* Every topic with a subscriber, under table_mu (util/htab: zeroed is empty). */
static htab_t table;
static int nworkers;

/* What a lookup compares: a private topic and a public one of the same
 * name are two topics. */
typedef struct {
    const char *name;
    size_t len;
    uint8_t is_private;
} topic_key_t;

/* The private flag is hashed first, so the two topics of one name land
 * apart (and the keyed hash keeps crafted names from colliding). */
static uint64_t topic_hash(const char *name, size_t len, int is_private) {
    uint8_t p = (uint8_t)is_private;
    return hash_bytes(hash_bytes(HASH_INIT, &p, 1), name, len);
}

static bool topic_eq(const void *item, const void *key) {
    const hub_topic_t *t = item;
    const topic_key_t *k = key;
    return t->is_private == k->is_private && t->name_len == k->len && !memcmp(t->name, k->name, k->len);
}

/* Under table_mu. */
static hub_topic_t *topic_lookup(const char *name, size_t len, uint64_t h, int is_private) {
    topic_key_t k = {name, len, (uint8_t)is_private};
    return htab_find(&table, h, topic_eq, &k);
}

void hub_init(int n) { nworkers = n; }

static void topic_unref(hub_topic_t *t) {
    if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (int w = 0; w < SRV_MAX_WORKERS; w++)
        free(t->local[w].v);
    if (t->pres)
        pres_topic_free(t->pres);
    pthread_mutex_destroy(&t->pres_mu);
    free(t);
}

void hub_shutdown(void) {
    pthread_mutex_lock(&table_mu);
    hub_topic_t *t;
    for (size_t i = 0; (t = htab_next(&table, &i));)
        topic_unref(t); /* the table's reference; the table goes as a whole below */
    htab_free(&table);
    pthread_mutex_unlock(&table_mu);
}

void hub_subscribe(hub_sub_t *s, const char *name, size_t len, int is_private) {
    is_private = !!is_private;
    uint64_t h = topic_hash(name, len, is_private);
    pthread_mutex_lock(&table_mu);
    hub_topic_t *t = topic_lookup(name, len, h, is_private);
    if (!t) {
        t = xcalloc(1, sizeof(*t) + len + 1);
        atomic_init(&t->refs, 1); /* the table's */
        pthread_mutex_init(&t->pres_mu, NULL);
        t->hash = h;
        t->is_private = (uint8_t)is_private;
        t->name_len = len;
        memcpy(t->name, name, len);
        htab_insert(&table, h, t);
    }
    t->subs++;
    pthread_mutex_unlock(&table_mu);

    int w = worker_self->id;
    local_t *l = &t->local[w];
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    s->topic = t;
    s->worker = w;
    s->index = l->n;
    l->v[l->n++] = s;
    atomic_store_explicit(&t->wsubs[w], l->n, memory_order_release);
}

void hub_unsubscribe(hub_sub_t *s) {
    hub_topic_t *t = s->topic;
    if (!t)
        return;
    local_t *l = &t->local[s->worker];
    hub_sub_t *last = l->v[--l->n];
    if (last != s) {
        l->v[s->index] = last;
        last->index = s->index;
    }
    atomic_store_explicit(&t->wsubs[s->worker], l->n, memory_order_release);
    if (l->n == 0) {
        free(l->v);
        l->v = NULL;
        l->cap = 0;
    }
    s->topic = NULL;

    pthread_mutex_lock(&table_mu);
    int last_sub = --t->subs == 0;
    if (last_sub)
        htab_remove(&table, t->hash, t);
    pthread_mutex_unlock(&table_mu);
    if (last_sub)
        topic_unref(t);
}

hub_topic_t *hub_topic_find(const char *name, size_t len, int is_private) {
    is_private = !!is_private;
    pthread_mutex_lock(&table_mu);
    hub_topic_t *t = topic_lookup(name, len, topic_hash(name, len, is_private), is_private);
    if (t)
        atomic_fetch_add(&t->refs, 1);
    pthread_mutex_unlock(&table_mu);
    return t;
}

void hub_topic_release(hub_topic_t *t) { topic_unref(t); }

const char *hub_topic_name(const hub_topic_t *t, size_t *len) {
    *len = t->name_len;
    return t->name;
}

uint32_t hub_topic_subscribers(const hub_topic_t *t) {
    uint32_t n = 0;
    for (int w = 0; w < nworkers; w++)
        n += atomic_load_explicit(&t->wsubs[w], memory_order_relaxed);
    return n;
}

/* ---- messages --------------------------------------------------------- */

static hub_msg_t *msg_new(hub_kind_t kind, hub_topic_t *t, const hub_sub_t *origin, const void *payload, size_t len) {
    hub_msg_t *m = xcalloc(1, sizeof(*m) + len + 1);
    atomic_init(&m->refs, 1);
    m->kind = kind;
    m->topic = t;
    atomic_fetch_add(&t->refs, 1);
    m->origin = origin;
    m->payload_len = len;
    memcpy(m->payload, payload, len);
    return m;
}

hub_msg_t *hub_msg_broadcast(hub_topic_t *t, const hub_sub_t *origin, const char *event, size_t event_len,
                             const char *meta, size_t meta_len, uint8_t encoding, const void *payload, size_t len) {
    hub_msg_t *m = msg_new(HUB_BROADCAST, t, origin, payload, len);
    m->encoding = encoding;
    m->event = xstrndup(event, event_len);
    m->meta = meta && meta_len ? xstrndup(meta, meta_len) : NULL;
    return m;
}

hub_msg_t *hub_msg_postgres_changes(hub_topic_t *t, const uint64_t *routes, size_t n, const char *ref,
                                    const void *payload, size_t len) {
    hub_msg_t *m = msg_new(HUB_POSTGRES_CHANGES, t, NULL, payload, len);
    m->ref = ref ? xstrdup(ref) : NULL;
    m->routes = xmalloc((n ? n : 1) * sizeof(*routes));
    memcpy(m->routes, routes, n * sizeof(*routes));
    m->nroutes = (uint32_t)n;
    /* the frame is the payload plus a small envelope, once per recipient */
    m->pace_est = (len + 64) * (n ? n : 1);
    atomic_fetch_add_explicit(&paced_posted, m->pace_est, memory_order_relaxed);
    return m;
}

hub_msg_t *hub_msg_routed_system(hub_topic_t *t, uint64_t route, const void *payload, size_t len) {
    hub_msg_t *m = hub_msg_postgres_changes(t, &route, 1, NULL, payload, len);
    m->event = xstrdup("system");
    return m;
}

size_t hub_paced_backlog(void) {
    size_t s = atomic_load_explicit(&paced_posted, memory_order_relaxed);
    for (int w = 0; w < nworkers; w++)
        s += atomic_load_explicit(&srv_paced_bytes[w], memory_order_relaxed);
    return s;
}

void hub_paced_notify(size_t below, void (*fn)(void)) {
    atomic_store(&paced_below, below);
    atomic_store(&paced_fn, fn);
}

void hub_paced_poll(void) {
    if (!atomic_load_explicit(&paced_fn, memory_order_relaxed))
        return;
    if (hub_paced_backlog() > atomic_load(&paced_below))
        return;
    void (*fn)(void) = atomic_exchange(&paced_fn, NULL);
    if (fn)
        fn();
}

int hub_msg_routes_to(const hub_msg_t *m, uint64_t route) {
    size_t lo = 0, hi = m->nroutes;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m->routes[mid] < route)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->nroutes && m->routes[lo] == route;
}

void hub_call(int w, void (*fn)(void *arg, int run), void *arg) { worker_post(&srv.workers[w], fn, arg); }

hub_msg_t *hub_msg_ref(hub_msg_t *m) {
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

void hub_msg_unref(hub_msg_t *m) {
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (int i = 0; i < HUB_NFORMS; i++)
        buf_unref(atomic_load(&m->frames[i]));
    if (m->pace_est)
        atomic_fetch_sub_explicit(&paced_posted, m->pace_est, memory_order_relaxed);
    free(m->event);
    free(m->ref);
    free(m->meta);
    free(m->routes);
    topic_unref(m->topic);
    free(m);
}

static buf_t *encode(hub_msg_t *m, int form) {
    msg_str_t topic = {m->topic->name, m->topic->name_len};
    msg_vsn_t vsn = form == HUB_FORM_V1 ? MSG_VSN_1 : MSG_VSN_2;
    buf_t *b = NULL;
    int opcode = WS_OP_TEXT;
    if (m->kind == HUB_PRESENCE_DIFF || m->kind == HUB_POSTGRES_CHANGES) {
        msg_str_t ref = m->ref ? (msg_str_t){m->ref, strlen(m->ref)} : MSG_STR_NULL;
        const char *event = m->kind == HUB_PRESENCE_DIFF ? "presence_diff" : m->event ? m->event : "postgres_changes";
        b = msg_encode(vsn, MSG_STR_NULL, ref, topic, event, (const char *)m->payload, m->payload_len);
    } else if (form == HUB_FORM_V2_BINARY) {
        msg_str_t ev = {m->event, strlen(m->event)};
        b = msg_encode_broadcast_binary(topic, ev, m->meta, m->meta ? strlen(m->meta) : 0, m->encoding, m->payload,
                                        m->payload_len);
        opcode = WS_OP_BINARY;
    } else if (m->encoding == MSG_ENC_JSON) {
        msg_str_t ev = {m->event, strlen(m->event)};
        b = msg_encode_broadcast_json(vsn, topic, ev, (const char *)m->payload, m->payload_len, m->meta,
                                      m->meta ? strlen(m->meta) : 0);
    }
    if (b) {
        ws_frame_seal(b, opcode);
        b->paced = m->kind == HUB_POSTGRES_CHANGES; /* set before it is shared */
    }
    return b;
}

buf_t *hub_msg_frame(hub_msg_t *m, int form) {
    buf_t *b = atomic_load_explicit(&m->frames[form], memory_order_acquire);
    if (b)
        return b;
    b = encode(m, form);
    if (!b)
        return NULL;
    buf_t *expected = NULL;
    /* Two workers may race to encode; the loser frees its copy. */
    if (!atomic_compare_exchange_strong(&m->frames[form], &expected, b)) {
        buf_unref(b);
        return expected;
    }
    return b;
}

static void deliver_local(hub_msg_t *m, int w) {
    local_t *l = &m->topic->local[w];
    for (uint32_t i = 0; i < l->n; i++)
        l->v[i]->deliver(l->v[i], m);
}

/* A message in worker w's mailbox (one reference each): delivered to w's
 * subscribers when the worker drains its mailbox (the whole batch per
 * wake-up), or only released if w is stopping. */
static void inbox_deliver(void *item, int run) {
    hub_msg_t *m = item;
    if (run)
        deliver_local(m, worker_self->id);
    hub_msg_unref(m);
}

static void post_remote(hub_msg_t *m, int self) {
    for (int w = 0; w < nworkers; w++) {
        if (w == self || !atomic_load_explicit(&m->topic->wsubs[w], memory_order_acquire))
            continue;
        atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
        worker_post(&srv.workers[w], inbox_deliver, m);
    }
}

void hub_publish(hub_msg_t *m) {
    int self = worker_self ? worker_self->id : -1;
    post_remote(m, self);
    if (self >= 0)
        deliver_local(m, self);
    hub_msg_unref(m);
}

/* ---- presence --------------------------------------------------------- */

/* Called with pres_mu held and a diff built: posts it to other workers
 * before the lock is released, delivers locally after. */
static void publish_diff_locked(hub_topic_t *t, buf_t *diff, hub_msg_t **local_out) {
    hub_msg_t *m = msg_new(HUB_PRESENCE_DIFF, t, NULL, diff->data, diff->len);
    post_remote(m, worker_self->id);
    *local_out = m;
}

/* After a track or untrack, outside the topic's lock: the diff buffer is
 * released, and the diff message (if the state changed) delivered to this
 * worker's own subscribers; other workers got it under the lock. */
static void presence_done(buf_t *diff, hub_msg_t *m) {
    buf_unref(diff);
    if (m) {
        deliver_local(m, worker_self->id);
        hub_msg_unref(m);
    }
}

int hub_presence_track(hub_sub_t *s, uint64_t owner, const char *key, json_t *meta) {
    hub_topic_t *t = s->topic;
    buf_t *diff = buf_new(256);
    hub_msg_t *m = NULL;
    pthread_mutex_lock(&t->pres_mu);
    if (!t->pres)
        t->pres = pres_topic_new();
    int r = pres_track(t->pres, owner, key, meta, &diff);
    if (r == 0)
        publish_diff_locked(t, diff, &m);
    pthread_mutex_unlock(&t->pres_mu);
    presence_done(diff, m);
    return r;
}

void hub_presence_untrack(hub_sub_t *s, uint64_t owner) {
    hub_topic_t *t = s->topic;
    if (!t)
        return;
    buf_t *diff = buf_new(256);
    hub_msg_t *m = NULL;
    pthread_mutex_lock(&t->pres_mu);
    if (t->pres && pres_untrack(t->pres, owner, &diff))
        publish_diff_locked(t, diff, &m);
    pthread_mutex_unlock(&t->pres_mu);
    presence_done(diff, m);
}

void hub_presence_state(hub_sub_t *s, buf_t **out) {
    hub_topic_t *t = s->topic;
    pthread_mutex_lock(&t->pres_mu);
    if (t->pres)
        pres_state(t->pres, out);
    else
        buf_puts(out, "{}");
    pthread_mutex_unlock(&t->pres_mu);
}
