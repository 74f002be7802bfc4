/*
 * util/hash: the one hash the server uses for its tables and fingerprints:
 * SipHash-1-3 under a key drawn at start-up, so names a client picks (topics,
 * presence keys, tokens) cannot be crafted to collide. Values differ from
 * one run to the next: never store or send one.
 */
#ifndef TC_UTIL_HASH_H
#define TC_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HASH_INIT 0ull

/* Hashes n bytes, continuing from h (start with HASH_INIT): feeding one
 * result into the next call hashes a sequence of fields. */
uint64_t hash_bytes(uint64_t h, const void *p, size_t n);

static inline uint64_t hash_str(const char *s) { return hash_bytes(HASH_INIT, s, strlen(s)); }

/* For integers the server assigns (owners, OIDs): a bijection on 64 bits
 * that spreads sequential values over a table's slots, cheaper than
 * hash_bytes and never colliding. */
static inline uint64_t hash_u64(uint64_t z) {
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

#endif
