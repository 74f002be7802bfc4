/*
 * util/hash: the one non-cryptographic hash the server uses for its own
 * tables and fingerprints (FNV-1a, 64 bits). Never for anything an
 * attacker's collisions could exploit beyond a slower lookup.
 */
#ifndef TC_UTIL_HASH_H
#define TC_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HASH_INIT 1469598103934665603ull

/* Continues hash h over n bytes (start with HASH_INIT). */
static inline uint64_t hash_bytes(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static inline uint64_t hash_str(const char *s) { return hash_bytes(HASH_INIT, s, strlen(s)); }

#endif
