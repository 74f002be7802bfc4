/*
 * util/htab: the one hash table of the server. It indexes items the caller
 * owns by a 64-bit hash the caller computes (util/hash), with an equality
 * callback to tell apart items whose hashes are equal. It owns only its slot
 * array: it never allocates, frees or copies an item, and never locks.
 *
 * Open addressing with linear probing and backward-shift deletion, so a
 * table that churns never fills with tombstones and lookups never skip dead
 * slots. The hash is stored beside the item, so growing never rehashes.
 */
#ifndef TC_UTIL_HTAB_H
#define TC_UTIL_HTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t hash;
    void *item; /* NULL: a free slot */
} htab_slot_t;

/* All zeroes is an empty table that allocates on its first insert, so a
 * table can live inside a calloc'd struct without an init call. */
typedef struct {
    htab_slot_t *slots;
    size_t mask; /* slot count - 1 */
    size_t n;
} htab_t;

typedef bool (*htab_eq_fn)(const void *item, const void *key);

/* Frees the slot array (not the items) and leaves an empty table. */
void htab_free(htab_t *t);

/* The item whose hash is hash and for which eq(item, key) holds, or NULL. */
void *htab_find(const htab_t *t, uint64_t hash, htab_eq_fn eq, const void *key);

/* Adds item under hash. The caller has checked that no equal item is in the
 * table. Aborts on out-of-memory, as util/mem does. */
void htab_insert(htab_t *t, uint64_t hash, void *item);

/* Removes item (compared by address), which must be in the table under
 * hash. Returns false if it was not there. */
bool htab_remove(htab_t *t, uint64_t hash, const void *item);

static inline size_t htab_count(const htab_t *t) { return t->n; }

/* Iteration: for (size_t i = 0; (it = htab_next(t, &i));) ... Removing
 * during iteration may skip or repeat items; collect first, then remove. */
void *htab_next(const htab_t *t, size_t *pos);

#endif
