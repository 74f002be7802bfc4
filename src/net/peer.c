/*
 * net/peer: see peer.h.
 *
 * A hash table in STRIPES independent parts, each a util/htab behind its
 * own mutex: two workers accepting from different addresses rarely wait
 * for each other. The high 32 bits of an address's hash pick its stripe,
 * the low ones its slot in the stripe's table. An entry lives while its
 * address has a connection; channels belong to connections, so they are
 * gone by then too. A mutex that fails to lock or unlock is a broken
 * invariant, not a condition to serve through: it logs and aborts.
 */
#include "net/peer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/hash.h"
#include "util/htab.h"
#include "util/log.h"
#include "util/mem.h"

#define STRIPES 64

struct peer {
    uint64_t key;
    uint8_t addr[16]; /* IPv4 in the first 4 bytes, or the IPv6 /64 in the first 8 */
    uint8_t family;
    int conns, channels;
    char text[48];
};

static struct stripe {
    pthread_mutex_t mu;
    htab_t peers; /* peer_t by key; the stripe owns the entries */
} stripes[STRIPES];
static pthread_once_t stripes_once = PTHREAD_ONCE_INIT;

static void must(int rc, const char *what) {
    if (rc == 0)
        return;
    log_at(LOG_FATAL, "peer table mutex failed", "\"op\":\"%s\",\"errno\":%d", what, rc);
    abort();
}

static void stripes_init(void) {
    for (int i = 0; i < STRIPES; i++)
        must(pthread_mutex_init(&stripes[i].mu, NULL), "init");
}

static void stripe_lock(struct stripe *s) { must(pthread_mutex_lock(&s->mu), "lock"); }
static void stripe_unlock(struct stripe *s) { must(pthread_mutex_unlock(&s->mu), "unlock"); }

/* The lookup key: an address as addr_bytes reduces it. */
typedef struct {
    const uint8_t *addr;
    uint8_t family;
} addr_key_t;

static bool peer_eq(const void *item, const void *key) {
    const peer_t *p = item;
    const addr_key_t *k = key;
    return p->family == k->family && memcmp(p->addr, k->addr, sizeof(p->addr)) == 0;
}

/* The bytes that identify an address for counting, and their text. */
static int addr_bytes(const struct sockaddr *sa, uint8_t out[16], uint8_t *family, char *text, size_t tsz) {
    memset(out, 0, 16);
    if (sa->sa_family == AF_INET) {
        memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        *family = 4;
        inet_ntop(AF_INET, out, text, (socklen_t)tsz);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(a, mapped, 12)) {
            memcpy(out, a + 12, 4);
            *family = 4;
            inet_ntop(AF_INET, out, text, (socklen_t)tsz);
            return 0;
        }
        memcpy(out, a, 8);
        *family = 6;
        uint8_t full[16] = {0};
        memcpy(full, a, 8);
        inet_ntop(AF_INET6, full, text, (socklen_t)tsz);
        size_t n = strlen(text);
        if (n + 4 < tsz)
            memcpy(text + n, "/64", 4);
        return 0;
    }
    return -1;
}

static struct stripe *stripe_of(uint64_t key) { return &stripes[(key >> 32) % STRIPES]; }

peer_t *peer_conn_open(const struct sockaddr *sa, int max) {
    uint8_t a[16], fam;
    char text[48] = "";
    if (addr_bytes(sa, a, &fam, text, sizeof(text)) < 0) {
        /* Unix sockets and the like: one shared entry, never limited. */
        memset(a, 0, sizeof(a));
        fam = 0;
        strcpy(text, "local");
        max = 0;
    }
    uint64_t key = hash_bytes(hash_bytes(HASH_INIT, &fam, 1), a, sizeof(a));
    must(pthread_once(&stripes_once, stripes_init), "once");
    struct stripe *s = stripe_of(key);
    addr_key_t k = {.addr = a, .family = fam};
    stripe_lock(s);
    peer_t *p = htab_find(&s->peers, key, peer_eq, &k);
    if (!p) {
        p = xcalloc(1, sizeof(*p)); /* the stripe's until its last connection closes */
        p->key = key;
        p->family = fam;
        memcpy(p->addr, a, sizeof(a));
        memcpy(p->text, text, sizeof(p->text));
        htab_insert(&s->peers, key, p);
    } else if (max > 0 && p->conns >= max) {
        p = NULL;
    }
    if (p)
        p->conns++;
    stripe_unlock(s);
    return p;
}

void peer_conn_close(peer_t *p) {
    if (!p)
        return;
    struct stripe *s = stripe_of(p->key);
    stripe_lock(s);
    if (--p->conns == 0) {
        htab_remove(&s->peers, p->key, p);
        free(p);
    }
    stripe_unlock(s);
}

int peer_channel_add(peer_t *p, int max) {
    if (!p)
        return 0;
    struct stripe *s = stripe_of(p->key);
    int r = 0;
    stripe_lock(s);
    if (max > 0 && p->channels >= max)
        r = -1;
    else
        p->channels++;
    stripe_unlock(s);
    return r;
}

void peer_channel_remove(peer_t *p) {
    if (!p)
        return;
    struct stripe *s = stripe_of(p->key);
    stripe_lock(s);
    if (p->channels > 0)
        p->channels--;
    stripe_unlock(s);
}

uint64_t peer_key(const peer_t *p) { return p ? p->key : 0; }
const char *peer_text(const peer_t *p) { return p ? p->text : ""; }

int peer_conns(const peer_t *p) {
    if (!p)
        return 0;
    struct stripe *s = stripe_of(p->key);
    stripe_lock(s);
    int n = p->conns;
    stripe_unlock(s);
    return n;
}

int peer_channels(const peer_t *p) {
    if (!p)
        return 0;
    struct stripe *s = stripe_of(p->key);
    stripe_lock(s);
    int n = p->channels;
    stripe_unlock(s);
    return n;
}
