/*
 * cdc/subs: the postgres_changes subscriptions of one thread (the CDC
 * thread owns the registry; there is no locking here) and the question it
 * answers for every change: which (owner, id) pairs must receive it.
 *
 * Subscriptions are indexed by (schema, table) and, when their filter has an
 * eq condition on a column with a normalisable type (cdc_filter_eq_key), by
 * (schema, table, column, value), so one change costs work proportional to
 * the subscriptions it can match plus four hash look-ups and one per
 * indexed column of its table, not a scan of every subscription.
 *
 * Semantics follow supabase/realtime (postgres_cdc_rls):
 *  - schema "*" and table "*" are wildcards (supabase compares with LIKE
 *    after turning '*' into '%'); a filter or a select list needs an
 *    explicit schema and table (supabase refuses select on wildcards, and a
 *    filter is compiled against one table's columns);
 *  - the filter is evaluated on the NEW row for INSERT and UPDATE and on the
 *    OLD row for DELETE (apply_rls: is_visible_through_filters(old_columns)
 *    for DELETE). With the default replica identity a DELETE carries only
 *    the key columns: a condition on another column is unknown and fails,
 *    as it does in supabase (whose old_columns lack it). Unchanged TOAST
 *    values are unknown too.
 *
 * Work is bounded per change (cdc_subs_match_budget): subscriptions point at
 * a budget (one per client address, the caller's struct), refilled for each
 * change. When a budget runs out, the rest of its candidates do not match
 * that change, however their filters would have answered; other budgets'
 * subscriptions are unaffected. This is the one departure from supabase's
 * answers, and it happens only to a client whose bindings cost more than
 * its budget on one change.
 *
 * Removal costs what it removes: by id a few hash operations, by owner work
 * proportional to that owner's subscriptions, never to the registry's size.
 */
#ifndef TC_CDC_SUBS_H
#define TC_CDC_SUBS_H

#include <stddef.h>
#include <stdint.h>

#include "cdc/filter.h"
#include "cdc/pgoutput.h"

enum {
    CDC_EV_INSERT = 1,
    CDC_EV_UPDATE = 2,
    CDC_EV_DELETE = 4,
    CDC_EV_ALL = 7, /* event "*" */
};

typedef struct cdc_subs cdc_subs_t;

typedef struct {
    void *owner;
    uint32_t id;
} cdc_match_t;

/* One change as the registry sees it: where it happened, what it was, and
 * the row the filters read (new row for INSERT/UPDATE, old row for DELETE),
 * cells indexed like the relation's columns. unknown may be NULL. */
typedef struct {
    const char *schema, *table;
    unsigned event; /* one CDC_EV_* bit */
    size_t ncols;
    const cdc_cell_t *cells;
    const uint8_t *unknown;
} cdc_change_t;

/* A work budget shared by the subscriptions of one client address, refilled
 * for each change (cdc_subs_match_budget): gen is the change it was last
 * refilled for, left the units that remain (units: cdc_filter_match_budget's).
 * A per-change bound alone lets many changes add up (a burst of 12,000 rows
 * that each cost a client's full budget takes the thread for seconds), so a
 * budget may also carry a rate bound: with cap > 0, a refill grants at most
 * cap - spent, and what each change used is added to spent at the next
 * refill; the caller drains spent over time (a leaky bucket: cap is the
 * burst, the drain the rate). cap 0: no rate bound.
 * Owned by the caller, zeroed before first use; it must outlive the
 * subscriptions that point at it. The registry only reads and charges it. */
typedef struct cdc_budget {
    uint64_t gen, left;
    uint64_t given;      /* what the last refill granted */
    uint64_t spent, cap; /* rate bound (see above) */
} cdc_budget_t;

/* What looking at one candidate costs before its filter runs (list walk,
 * event mask, reaching its filter: cache misses, measured at 20-40 ns, where
 * a unit of filter work is 1-4 ns), so a budget spent on 100,000 cheap
 * bindings lasts about as long as one spent on a regex. */
#define CDC_SUBS_CANDIDATE_UNITS 8

/* Free with cdc_subs_free (which frees every subscription and its filter). */
cdc_subs_t *cdc_subs_new(void);
void cdc_subs_free(cdc_subs_t *s);

/* "*", "INSERT", "UPDATE", "DELETE" (any case) to an event mask; anything
 * else is "*", as supabase/realtime's action_filter does. NULL is "*". */
unsigned cdc_subs_event_mask(const char *event);

/* Adds a subscription. events: CDC_EV_* bits (0 means all). filter: NULL or
 * compiled by cdc_filter_parse against the table's ncols columns; the
 * registry owns it from this call on, failure included. The filter only
 * applies to changes whose relation has exactly ncols columns: after an
 * ALTER TABLE the caller must compile it again and re-add (until then the
 * subscription matches nothing of that table rather than reading the wrong
 * column). select: NULL or nselect column names (copied). Returns the new
 * id (> 0, never reused while the registry lives) or 0 with a client-facing
 * reason in err: filter or select on a wildcard schema/table, empty names. */
uint32_t cdc_subs_add(cdc_subs_t *s, void *owner, unsigned events, const char *schema, const char *table,
                      cdc_filter_t *filter, size_t ncols, const char *const *select, size_t nselect, char *err,
                      size_t errlen);
/* As cdc_subs_add, with budget (NULL = unlimited) charged when this
 * subscription is a candidate of cdc_subs_match_budget. The registry keeps
 * only the pointer: the budget must outlive the subscription. O(1) amortised
 * (plus copying the names and select list). */
uint32_t cdc_subs_add_budget(cdc_subs_t *s, void *owner, unsigned events, const char *schema, const char *table,
                             cdc_filter_t *filter, size_t ncols, const char *const *select, size_t nselect, char *err,
                             size_t errlen, cdc_budget_t *budget);
/* Removes one subscription (and frees its filter). 0, or -1 if unknown id.
 * O(1) amortised. */
int cdc_subs_remove(cdc_subs_t *s, uint32_t id);
/* Removes every subscription of owner; returns how many. Work proportional
 * to that owner's subscriptions, not to the registry's size. */
size_t cdc_subs_remove_owner(cdc_subs_t *s, void *owner);
size_t cdc_subs_count(const cdc_subs_t *s);
/* The select list of subscription id (view, valid until it is removed);
 * NULL with *n = 0 when it has none or the id is unknown. */
const char *const *cdc_subs_select(const cdc_subs_t *s, uint32_t id, size_t *n);

/* Fills *out with the subscriptions that must receive change c, sorted by
 * id. *out is a growable array owned by the caller (start with NULL and
 * cap 0, free with free()); it is reused across calls. Returns the count.
 * Ignores budgets: every candidate is evaluated to the end. */
size_t cdc_subs_match(const cdc_subs_t *s, const cdc_change_t *c, cdc_match_t **out, size_t *cap);
/* As cdc_subs_match, charging each candidate's work to its budget (those
 * added without one are unlimited). gen identifies the change: the caller
 * increments it per change and never passes 0 (a zeroed budget has gen 0,
 * and is refilled by any other gen). A budget whose gen differs is first
 * refilled to per_change units. Each candidate costs
 * CDC_SUBS_CANDIDATE_UNITS, filter or not, plus its filter's work
 * (cdc_filter_match_budget). A candidate whose budget is 0 (or below
 * CDC_SUBS_CANDIDATE_UNITS) is not evaluated and does not match; one whose
 * filter runs out of budget does not match either. So when a budget runs
 * out, the rest of its candidates miss this change; which ones were
 * evaluated first is unspecified. Other budgets are unaffected.
 * *exhausted (may be NULL) gets the number of distinct budgets that reached
 * 0 on this change (one reaching exactly 0 on its last candidate counts). */
size_t cdc_subs_match_budget(const cdc_subs_t *s, const cdc_change_t *c, cdc_match_t **out, size_t *cap, uint64_t gen,
                             uint64_t per_change, size_t *exhausted);

/* The matches of change c among owner's subscriptions only (a replay to
 * one channel): work proportional to that owner's subscriptions. They
 * share per_change units, as a live change's candidates of one budget do
 * (once spent, the rest do not match), but no budget is charged: *used
 * gets the units spent, for the caller to account (a replay waits for its
 * rate bound rather than missing changes). */
size_t cdc_subs_match_owner(const cdc_subs_t *s, const void *owner, const cdc_change_t *c, cdc_match_t **out,
                            size_t *cap, uint64_t per_change, uint64_t *used);

/* Prepares the cdc_change_t of a decoded INSERT/UPDATE/DELETE message.
 * cells and unknown must have room for m->rel->ncols entries; they and the
 * message must outlive *c. Columns the change does not carry (unchanged
 * TOAST, non-key columns of a key-only old tuple) are marked unknown.
 * Returns 0, or -1 if m is not such a message (or a DELETE without an old
 * tuple). */
int cdc_subs_change_from_msg(const pgo_msg_t *m, cdc_cell_t *cells, uint8_t *unknown, cdc_change_t *c);

#endif
