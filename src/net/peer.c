/*
 * net/peer: see peer.h.
 *
 * A chained hash table in STRIPES independent parts, each behind its own
 * mutex: two workers accepting from different addresses rarely wait for
 * each other. An entry lives while its address has a connection; channels
 * belong to connections, so they are gone by then too.
 */
#include "net/peer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>

#include "util/hash.h"
#include "util/mem.h"

#define STRIPES 64
#define BUCKETS 1024 /* per stripe */

struct peer {
    peer_t *next;
    uint64_t key;
    uint8_t addr[16]; /* IPv4 in the first 4 bytes, or the IPv6 /64 in the first 8 */
    uint8_t family;
    int conns, channels;
    char text[48];
};

static struct stripe {
    pthread_mutex_t mu;
    peer_t *b[BUCKETS];
} stripes[STRIPES];
static pthread_once_t stripes_once = PTHREAD_ONCE_INIT;

static void stripes_init(void) {
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&stripes[i].mu, NULL);
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
    pthread_once(&stripes_once, stripes_init);
    struct stripe *s = stripe_of(key);
    peer_t **slot = &s->b[key % BUCKETS];
    pthread_mutex_lock(&s->mu);
    peer_t *p = *slot;
    while (p && (p->key != key || p->family != fam || memcmp(p->addr, a, sizeof(a))))
        p = p->next;
    if (!p) {
        p = xcalloc(1, sizeof(*p));
        p->key = key;
        p->family = fam;
        memcpy(p->addr, a, sizeof(a));
        memcpy(p->text, text, sizeof(p->text));
        p->next = *slot;
        *slot = p;
    } else if (max > 0 && p->conns >= max) {
        p = NULL;
    }
    if (p)
        p->conns++;
    pthread_mutex_unlock(&s->mu);
    return p;
}

void peer_conn_close(peer_t *p) {
    if (!p)
        return;
    struct stripe *s = stripe_of(p->key);
    pthread_mutex_lock(&s->mu);
    if (--p->conns == 0) {
        for (peer_t **q = &s->b[p->key % BUCKETS]; *q; q = &(*q)->next)
            if (*q == p) {
                *q = p->next;
                break;
            }
        free(p);
    }
    pthread_mutex_unlock(&s->mu);
}

int peer_channel_add(peer_t *p, int max) {
    if (!p)
        return 0;
    struct stripe *s = stripe_of(p->key);
    int r = 0;
    pthread_mutex_lock(&s->mu);
    if (max > 0 && p->channels >= max)
        r = -1;
    else
        p->channels++;
    pthread_mutex_unlock(&s->mu);
    return r;
}

void peer_channel_remove(peer_t *p) {
    if (!p)
        return;
    struct stripe *s = stripe_of(p->key);
    pthread_mutex_lock(&s->mu);
    if (p->channels > 0)
        p->channels--;
    pthread_mutex_unlock(&s->mu);
}

uint64_t peer_key(const peer_t *p) { return p ? p->key : 0; }
const char *peer_text(const peer_t *p) { return p ? p->text : ""; }

int peer_conns(const peer_t *p) {
    if (!p)
        return 0;
    struct stripe *s = stripe_of(p->key);
    pthread_mutex_lock(&s->mu);
    int n = p->conns;
    pthread_mutex_unlock(&s->mu);
    return n;
}

int peer_channels(const peer_t *p) {
    if (!p)
        return 0;
    struct stripe *s = stripe_of(p->key);
    pthread_mutex_lock(&s->mu);
    int n = p->channels;
    pthread_mutex_unlock(&s->mu);
    return n;
}
