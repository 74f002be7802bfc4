/*
 * presence: one topic's Phoenix Presence state, and the presence_diff JSON
 * each change yields, in the shape @supabase/realtime-js merges: a state is
 * {key:{metas:[{...user fields, phx_ref}]}} and a diff lists whole metas under
 * "joins" and "leaves" (the client matches them by phx_ref).
 * It owns the entries, each meta's encoded bytes and two indexes (owner ->
 * entry, key -> entries in track order). It never sends anything, never
 * locks (the hub serialises calls per topic; only phx_ref minting is shared
 * across topics, and that is atomic) and never keeps a caller's json_t.
 */
#include "presence/presence.h"
#include "util/hash.h"
#include "util/htab.h"
#include "util/mem.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define REF_LEN 11 /* base64url of 64 bits, unpadded */

typedef struct pres_key pres_key_t;

/* One (key, owner, meta). An owner has at most one entry in a topic: a
 * Supabase channel tracks under exactly one presence key. */
typedef struct pres_entry {
    uint64_t owner;
    pres_key_t *key;
    struct pres_entry *prev, *next; /* in key's list, oldest track first */
    char *json;                     /* the meta as sent, phx_ref included */
    size_t json_len;
    char ref[REF_LEN + 1];
} pres_entry_t;

struct pres_key {
    char *name;
    size_t len;
    uint64_t hash;
    pres_entry_t *head, *tail;
    pres_key_t *prev, *next; /* the topic's keys, oldest first */
};

struct pres_topic {
    htab_t by_owner; /* pres_entry_t */
    htab_t by_key;   /* pres_key_t */
    pres_key_t *keys_head, *keys_tail;
};

/* ---- process-wide secrets and phx_ref minting ---------------------------- */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static uint64_t g_ref_salt; /* so refs differ from a previous run's */
static atomic_uint_fast64_t g_ref_counter;

static void init_secrets(void) {
    uint64_t r;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        /* Not secret, but still different per run, which is what refs need. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r = hash_u64((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^ (uint64_t)getpid();
    }
    g_ref_salt = r;
}

/* Unique within the process for 2^64 tracks, from any thread: the counter is
 * atomic and mix64 is a bijection. The salt makes a restarted server's refs
 * unlikely to repeat ones a reconnecting client still holds. */
static void new_ref(char out[REF_LEN + 1]) {
    static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint64_t c = atomic_fetch_add_explicit(&g_ref_counter, 1, memory_order_relaxed);
    uint64_t v = hash_u64(c + g_ref_salt);
    for (int i = 0; i < REF_LEN; i++) {
        out[i] = b64url[v >> 58];
        v <<= 6;
    }
    out[REF_LEN] = '\0';
}

/* ---- hashing -------------------------------------------------------------- */

/* Presence keys come from clients: util/hash is keyed against crafted
 * collisions. Owners are server-assigned, so mixing is enough. */
static uint64_t key_hash(const char *s, size_t len) { return hash_bytes(HASH_INIT, s, len); }
static uint64_t owner_hash(uint64_t owner) { return hash_u64(owner); }

/* ---- lookups ------------------------------------------------------------------ */

static bool owner_eq(const void *item, const void *key) {
    return ((const pres_entry_t *)item)->owner == *(const uint64_t *)key;
}

typedef struct {
    const char *name;
    size_t len;
} name_t;

static bool key_eq(const void *item, const void *key) {
    const pres_key_t *k = item;
    const name_t *n = key;
    return k->len == n->len && memcmp(k->name, n->name, n->len) == 0;
}

static pres_entry_t *owner_find(const pres_topic_t *t, uint64_t owner) {
    return htab_find(&t->by_owner, owner_hash(owner), owner_eq, &owner);
}

static pres_key_t *key_find(const pres_topic_t *t, const char *name, size_t len, uint64_t hash) {
    name_t n = {name, len};
    return htab_find(&t->by_key, hash, key_eq, &n);
}

/* The name goes out verbatim inside a JSON string, so it must be UTF-8;
 * jansson's string constructor is the validator we already link. */
static bool key_name_ok(const char *name, size_t len) {
    json_t *s = json_stringn(name, len);
    if (!s)
        return false;
    json_decref(s);
    return true;
}

/* The topic owns the new key; key_destroy frees it. */
static pres_key_t *key_create(pres_topic_t *t, const char *name, size_t len, uint64_t hash) {
    pres_key_t *k = xcalloc(1, sizeof(*k));
    k->name = xstrndup(name, len);
    k->len = len;
    k->hash = hash;
    k->prev = t->keys_tail;
    if (t->keys_tail)
        t->keys_tail->next = k;
    else
        t->keys_head = k;
    t->keys_tail = k;
    htab_insert(&t->by_key, hash, k);
    return k;
}

/* Only once the key has no entries left. */
static void key_destroy(pres_topic_t *t, pres_key_t *k) {
    htab_remove(&t->by_key, k->hash, k);
    if (k->prev)
        k->prev->next = k->next;
    else
        t->keys_head = k->next;
    if (k->next)
        k->next->prev = k->prev;
    else
        t->keys_tail = k->prev;
    free(k->name);
    free(k);
}

static void key_append(pres_key_t *k, pres_entry_t *e) {
    e->key = k;
    e->next = NULL;
    e->prev = k->tail;
    if (k->tail)
        k->tail->next = e;
    else
        k->head = e;
    k->tail = e;
}

static void key_unlink(pres_key_t *k, pres_entry_t *e) {
    if (e->prev)
        e->prev->next = e->next;
    else
        k->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        k->tail = e->prev;
    e->prev = e->next = NULL;
}

/* ---- encoding ------------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
} bytes_t;

static int dump_cb(const char *s, size_t n, void *data) {
    bytes_t *b = data;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 128;
        while (cap < b->len + n)
            cap *= 2;
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return 0;
}

/* Encodes meta once, at track time, with our phx_ref (and phx_ref_prev on an
 * update), so presence_state for a big topic is a run of memcpys and later
 * changes to the caller's object cannot reach the state. A shallow copy is
 * enough for that: only top-level members are set, on the copy, and the
 * bytes are taken before it is dropped. Ours override any the user sent; a
 * user "phx_ref_prev" on a fresh join is dropped, as it would lie.
 * Returns the bytes (caller frees; not NUL-terminated) or NULL if jansson
 * refuses (out of memory, a cycle). */
static char *encode_meta(json_t *meta, const char *ref, const char *prev, size_t *len) {
    bytes_t out = {0};
    json_t *copy = json_copy(meta);
    if (!copy)
        goto fail;
    if (json_object_set_new(copy, "phx_ref", json_string(ref)) != 0)
        goto fail;
    if (prev) {
        if (json_object_set_new(copy, "phx_ref_prev", json_string(prev)) != 0)
            goto fail;
    } else {
        json_object_del(copy, "phx_ref_prev"); /* -1 when absent: fine */
    }
    if (json_dump_callback(copy, dump_cb, &out, JSON_COMPACT) != 0)
        goto fail;
    json_decref(copy);
    *len = out.len;
    return out.p;
fail:
    json_decref(copy);
    free(out.p);
    return NULL;
}

/* {"<key>":{"metas":[<meta>]}}, or {} with no entry. */
static void put_one(buf_t **b, const pres_key_t *k, const char *json, size_t len) {
    if (!k) {
        buf_append(b, "{}", 2);
        return;
    }
    buf_putc(b, '{');
    buf_json_str(b, k->name, k->len);
    buf_puts(b, ":{\"metas\":[");
    buf_append(b, json, len);
    buf_puts(b, "]}}");
}

static void put_diff(buf_t **b, const pres_key_t *jk, const char *jjson, size_t jlen, const pres_key_t *lk,
                     const char *ljson, size_t llen) {
    buf_puts(b, "{\"joins\":");
    put_one(b, jk, jjson, jlen);
    buf_puts(b, ",\"leaves\":");
    put_one(b, lk, ljson, llen);
    buf_putc(b, '}');
}

/* ---- public API ------------------------------------------------------------------- */

/* The caller frees with pres_topic_free. */
pres_topic_t *pres_topic_new(void) {
    pthread_once(&g_once, init_secrets);
    pres_topic_t *t = xcalloc(1, sizeof(*t));
    return t;
}

void pres_topic_free(pres_topic_t *t) {
    if (!t)
        return;
    pres_key_t *k = t->keys_head;
    while (k) {
        pres_key_t *knext = k->next;
        pres_entry_t *e = k->head;
        while (e) {
            pres_entry_t *enext = e->next;
            free(e->json);
            free(e);
            e = enext;
        }
        free(k->name);
        free(k);
        k = knext;
    }
    htab_free(&t->by_owner);
    htab_free(&t->by_key);
    free(t);
}

int pres_track(pres_topic_t *t, uint64_t owner, const char *key, json_t *meta, buf_t **diff) {
    if (!key || !json_is_object(meta))
        return -1;
    size_t klen = strlen(key);
    uint64_t khash = key_hash(key, klen);
    pres_key_t *k = key_find(t, key, klen, khash);
    if (!k && !key_name_ok(key, klen))
        return -1;

    pres_entry_t *e = owner_find(t, owner);
    pres_key_t *oldk = e ? e->key : NULL;
    /* Only a re-track under the same key is an update that the client can
     * tie together; a move to another key is a plain leave plus join. */
    char ref[REF_LEN + 1];
    new_ref(ref);
    size_t jlen;
    char *json = encode_meta(meta, ref, e && oldk == k ? e->ref : NULL, &jlen);
    if (!json)
        return -1;

    /* Nothing below can fail: the diff and the state change together. */
    if (!k)
        k = key_create(t, key, klen, khash);
    put_diff(diff, k, json, jlen, oldk, e ? e->json : NULL, e ? e->json_len : 0);
    if (e) {
        key_unlink(oldk, e);
        free(e->json);
    } else {
        e = xcalloc(1, sizeof(*e)); /* freed by pres_untrack / pres_topic_free */
        e->owner = owner;
        htab_insert(&t->by_owner, owner_hash(owner), e);
    }

    e->json = json;
    e->json_len = jlen;
    memcpy(e->ref, ref, sizeof(ref));
    /* To the tail even on an update: the client's syncDiff puts a joined
     * meta after the ones it already had, so this keeps both in one order. */
    key_append(k, e);
    if (oldk && oldk != k && !oldk->head)
        key_destroy(t, oldk);
    return 0;
}

int pres_untrack(pres_topic_t *t, uint64_t owner, buf_t **diff) {
    pres_entry_t *e = owner_find(t, owner);
    if (!e)
        return 0;
    pres_key_t *k = e->key;
    put_diff(diff, NULL, NULL, 0, k, e->json, e->json_len);
    key_unlink(k, e);
    if (!k->head)
        key_destroy(t, k);
    htab_remove(&t->by_owner, owner_hash(owner), e);
    free(e->json);
    free(e);
    return 1;
}

void pres_state(const pres_topic_t *t, buf_t **out) {
    buf_putc(out, '{');
    for (const pres_key_t *k = t->keys_head; k; k = k->next) {
        if (k != t->keys_head)
            buf_putc(out, ',');
        buf_json_str(out, k->name, k->len);
        buf_puts(out, ":{\"metas\":[");
        for (const pres_entry_t *e = k->head; e; e = e->next) {
            if (e != k->head)
                buf_putc(out, ',');
            buf_append(out, e->json, e->json_len);
        }
        buf_puts(out, "]}");
    }
    buf_putc(out, '}');
}

size_t pres_entries(const pres_topic_t *t) { return t->by_owner.n; }

size_t pres_keys(const pres_topic_t *t) { return t->by_key.n; }
