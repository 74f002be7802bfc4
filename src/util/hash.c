/*
 * util/hash: SipHash-1-3 (Aumasson and Bernstein) keyed once per process.
 * It owns the key; it never reads the random source after the first call.
 */
#include "util/hash.h"

#include <pthread.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static uint64_t key0, key1;

static void key_init(void) {
    uint64_t r[2];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        /* Without the random source the tables still work; they only lose
         * their resistance to crafted collisions. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r[0] = hash_u64((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
        r[1] = hash_u64(r[0] ^ (uint64_t)getpid());
    }
    key0 = r[0];
    key1 = r[1];
}

static inline uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

#define SIPROUND                                                                                                       \
    do {                                                                                                               \
        v0 += v1;                                                                                                      \
        v1 = rotl(v1, 13);                                                                                             \
        v1 ^= v0;                                                                                                      \
        v0 = rotl(v0, 32);                                                                                             \
        v2 += v3;                                                                                                      \
        v3 = rotl(v3, 16);                                                                                             \
        v3 ^= v2;                                                                                                      \
        v0 += v3;                                                                                                      \
        v3 = rotl(v3, 21);                                                                                             \
        v3 ^= v0;                                                                                                      \
        v2 += v1;                                                                                                      \
        v1 = rotl(v1, 17);                                                                                             \
        v1 ^= v2;                                                                                                      \
        v2 = rotl(v2, 32);                                                                                             \
    } while (0)

uint64_t hash_bytes(uint64_t h, const void *data, size_t len) {
    pthread_once(&key_once, key_init);
    const uint8_t *p = data;
    /* The running value h perturbs the key, so (a, b) and (b, a) differ. */
    uint64_t k0 = key0 ^ h, k1 = key1;
    uint64_t v0 = k0 ^ UINT64_C(0x736f6d6570736575);
    uint64_t v1 = k1 ^ UINT64_C(0x646f72616e646f6d);
    uint64_t v2 = k0 ^ UINT64_C(0x6c7967656e657261);
    uint64_t v3 = k1 ^ UINT64_C(0x7465646279746573);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t m;
        memcpy(&m, p + i, 8); /* host order: values stay in-process */
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t last = (uint64_t)(len & 0xff) << 56;
    for (size_t b = 0; i + b < len; b++)
        last |= (uint64_t)p[i + b] << (8 * b);
    v3 ^= last;
    SIPROUND;
    v0 ^= last;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}
