/*
 * presence: the state of one topic's Presence, with Phoenix Presence
 * semantics. Each tracked entry is (key, owner, meta); an owner is one
 * channel instance on one connection. Tracking again under the same owner
 * and key replaces the meta (a leave of the old meta and a join of the new
 * one, the new carrying phx_ref_prev), untracking removes the owner's
 * entries. Every change yields the presence_diff JSON to fan out.
 * It is a plain single-threaded data structure: the hub serialises access.
 * (phx_refs are minted from one atomic counter, so topics used from
 * different threads still never share a ref.)
 */
#ifndef TC_PRESENCE_H
#define TC_PRESENCE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct pres_topic pres_topic_t;

pres_topic_t *pres_topic_new(void);
void pres_topic_free(pres_topic_t *t);

/* Tracks meta (a JSON object; borrowed, the state keeps its own copy with
 * "phx_ref" added) for owner under key. Appends the diff
 * {"joins":{...},"leaves":{...}} to *diff. An owner has at most one entry:
 * tracking under another key leaves the old key's entry (no phx_ref_prev).
 * A re-tracked meta moves to the end of its key's metas, as in the client.
 * Returns 0, or -1 (state and *diff untouched) if meta is not an object,
 * key is NULL or not UTF-8, or the meta cannot be encoded. */
int pres_track(pres_topic_t *t, uint64_t owner, const char *key, json_t *meta, buf_t **diff);
/* Removes all entries of owner. Appends the diff to *diff and returns 1 if
 * anything left, 0 (and appends nothing) otherwise. */
int pres_untrack(pres_topic_t *t, uint64_t owner, buf_t **diff);
/* Appends the whole state {"key":{"metas":[...]},...} to *out. */
void pres_state(const pres_topic_t *t, buf_t **out);
/* Number of entries (metas) and of distinct keys. */
size_t pres_entries(const pres_topic_t *t);
size_t pres_keys(const pres_topic_t *t);

#endif
