/*
 * util/htab: see htab.h. Grows at 3/4 full (linear probing degrades fast
 * past that) and shrinks at 1/8 so a table that emptied out does not keep
 * its peak.
 */
#include "util/htab.h"
#include "util/mem.h"

#include <stdlib.h>

#define HTAB_MIN 8 /* slots; a power of two */

void htab_free(htab_t *t) {
    free(t->slots);
    t->slots = NULL;
    t->mask = 0;
    t->n = 0;
}

static void put(htab_slot_t *slots, size_t mask, uint64_t hash, void *item) {
    size_t i = hash & mask;
    while (slots[i].item)
        i = (i + 1) & mask;
    slots[i].hash = hash;
    slots[i].item = item;
}

static void resize(htab_t *t, size_t cap) {
    htab_slot_t *old = t->slots;
    size_t oldcap = old ? t->mask + 1 : 0;
    t->slots = xcalloc(cap, sizeof(htab_slot_t));
    t->mask = cap - 1;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].item)
            put(t->slots, t->mask, old[i].hash, old[i].item);
    free(old);
}

void *htab_find(const htab_t *t, uint64_t hash, htab_eq_fn eq, const void *key) {
    if (!t->slots)
        return NULL;
    for (size_t i = hash & t->mask; t->slots[i].item; i = (i + 1) & t->mask)
        if (t->slots[i].hash == hash && eq(t->slots[i].item, key))
            return t->slots[i].item;
    return NULL;
}

void htab_insert(htab_t *t, uint64_t hash, void *item) {
    if (!t->slots)
        resize(t, HTAB_MIN);
    else if ((t->n + 1) * 4 > (t->mask + 1) * 3)
        resize(t, (t->mask + 1) * 2);
    put(t->slots, t->mask, hash, item);
    t->n++;
}

bool htab_remove(htab_t *t, uint64_t hash, const void *item) {
    if (!t->slots)
        return false;
    size_t mask = t->mask;
    size_t i = hash & mask;
    while (t->slots[i].item != item) {
        if (!t->slots[i].item)
            return false;
        i = (i + 1) & mask;
    }
    /* Later members of the probe run move back into the hole when the hole
     * lies on their own path from their home slot. */
    for (size_t j = (i + 1) & mask; t->slots[j].item; j = (j + 1) & mask) {
        size_t home = t->slots[j].hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i].item = NULL;
    t->slots[i].hash = 0;
    t->n--;
    if (t->mask + 1 > HTAB_MIN && t->n * 8 < t->mask + 1)
        resize(t, (t->mask + 1) / 2);
    return true;
}

void *htab_next(const htab_t *t, size_t *pos) {
    if (!t->slots)
        return NULL;
    while (*pos <= t->mask) {
        void *it = t->slots[(*pos)++].item;
        if (it)
            return it;
    }
    return NULL;
}
