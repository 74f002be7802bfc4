/*
 * cdc/clients: see clients.h. Three tables on util/htab: clients by id
 * (ids this server assigns: hash_u64), budgets by address key and wire
 * entries by binding text (both chosen by clients, so keyed hash_bytes /
 * hash_str: crafted collisions cannot degrade them).
 */
#include "cdc/clients.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/hash.h"
#include "util/mem.h"

/* ---- filter work budgets, one per client address ------------------------- */

/* Every binding of every channel from one address charges the same budget
 * (cdc/subs), refilled for each change: however many connections and
 * bindings an address holds, matching one change against them costs at
 * most match_budget units, so nobody else's delivery waits on them longer
 * than that. Per change is not enough when changes come in thousands (a
 * burst of rows that each cost an address its whole budget), so the budget
 * also has a rate bound: at most match_rate units a second (cdc/subs'
 * leaky bucket, drained on the engine's timer, two seconds' worth as a
 * burst), about a third of the CDC thread: what one address's honest users
 * receive in a 12,000-row burst (300 subscribers: ~60 M units) fits in it. */

static uint64_t budget_hash(uint64_t key) { return hash_bytes(HASH_INIT, &key, sizeof(key)); }

static bool budget_eq(const void *item, const void *key) {
    return ((const cdc_pbudget_t *)item)->key == *(const uint64_t *)key;
}

/* The address's budget (a reference); a new one gets cap. */
static cdc_pbudget_t *budget_get(cdc_reg_t *r, uint64_t key, uint64_t cap) {
    uint64_t h = budget_hash(key);
    cdc_pbudget_t *p = htab_find(&r->budgets, h, budget_eq, &key);
    if (p) {
        p->refs++;
        return p;
    }
    p = xcalloc(1, sizeof(*p));
    p->key = key;
    p->refs = 1;
    p->b.cap = cap;
    htab_insert(&r->budgets, h, p);
    return p;
}

static void budget_put(cdc_reg_t *r, cdc_pbudget_t *p) {
    if (!p || --p->refs > 0)
        return;
    htab_remove(&r->budgets, budget_hash(p->key), p);
    free(p);
}

void cdc_cli_budget_drain(cdc_reg_t *r, uint64_t rate, uint64_t elapsed_ms) {
    uint64_t d = rate * elapsed_ms / 1000;
    cdc_pbudget_t *p;
    for (size_t i = 0; (p = htab_next(&r->budgets, &i));)
        p->b.spent = p->b.spent > d ? p->b.spent - d : 0;
}

/* ---- wire ids ------------------------------------------------------------------ */

/* The id a binding is known by on the wire. Identical bindings (same
 * event, schema, table, filter and select, as sent) share one, as in
 * supabase/realtime; a registry keyed by that text hands them out, so two
 * different bindings never share one. Internal subscription ids (cdc/subs)
 * stay unique: they are what matching and authorization work on. */
struct cdc_wire {
    char *key;
    uint32_t id;
    uint32_t refs;
};

static bool wire_eq(const void *item, const void *key) { return !strcmp(((const cdc_wire_t *)item)->key, key); }

static uint32_t wire_get(cdc_reg_t *r, const char *key, uint32_t sub) {
    char unique[32];
    if (!key) {
        snprintf(unique, sizeof(unique), "\x1d%u", sub); /* a binding of its own */
        key = unique;
    }
    if (!r->next_wire)
        r->next_wire = 1000; /* readable, like supabase/realtime's */
    uint64_t h = hash_str(key);
    cdc_wire_t *w = htab_find(&r->wires, h, wire_eq, key);
    if (!w) {
        w = xcalloc(1, sizeof(*w));
        w->key = xstrdup(key);
        w->id = r->next_wire++;
        htab_insert(&r->wires, h, w);
    }
    w->refs++;
    if (sub >= r->of_cap) {
        size_t ncap = r->of_cap ? r->of_cap : 1024;
        while (ncap <= sub)
            ncap *= 2;
        r->of_sub = xrealloc(r->of_sub, ncap * sizeof(*r->of_sub));
        memset(r->of_sub + r->of_cap, 0, (ncap - r->of_cap) * sizeof(*r->of_sub));
        r->of_cap = ncap;
    }
    r->of_sub[sub] = w;
    return w->id;
}

uint32_t cdc_cli_wire_id(const cdc_reg_t *r, uint32_t sub) {
    return sub < r->of_cap && r->of_sub[sub] ? r->of_sub[sub]->id : 0;
}

/* Drops one use of the wire id of subscription sub (the registry entry
 * goes with its last use). */
static void wire_put(cdc_reg_t *r, uint32_t sub) {
    cdc_wire_t *w = sub < r->of_cap ? r->of_sub[sub] : NULL;
    if (!w)
        return;
    r->of_sub[sub] = NULL;
    if (--w->refs > 0)
        return;
    htab_remove(&r->wires, hash_str(w->key), w);
    free(w->key);
    free(w);
}

/* ---- clients ------------------------------------------------------------- */

static bool client_eq(const void *item, const void *key) {
    return ((const cdc_client_t *)item)->id == *(const uint64_t *)key;
}

void cdc_cli_init(cdc_reg_t *r) {
    memset(r, 0, sizeof(*r));
    r->subs = cdc_subs_new();
}

void cdc_cli_unref(cdc_client_t *c) {
    if (--c->refs > 0)
        return;
    if (c->t)
        hub_topic_release(c->t);
    free(c->topic);
    free(c->claims);
    free(c->resume);
    free(c->sub);
    free(c->cvals);
    free(c->subs);
    budget_put(c->reg, c->budget); /* after its subscriptions, which point at it, are gone */
    free(c);
}

static int canonical_uuid(const char *s) {
    if (!s || strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        char ch = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (ch != '-')
                return 0;
        } else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

static char *claims_sub(const char *claims) {
    json_t *o = json_loads(claims, 0, NULL);
    const char *sub = json_string_value(json_object_get(o, "sub"));
    char *s = sub ? xstrdup(sub) : NULL;
    json_decref(o);
    return s;
}

void cdc_cli_set_claims(cdc_client_t *c, int role, char *claims) {
    free(c->claims);
    free(c->sub);
    free(c->cvals);
    c->claims = claims;
    c->role = role;
    c->sub = claims_sub(claims);
    c->sub_uuid = (uint8_t)canonical_uuid(c->sub);
    c->claims_bad = 0;
    c->cvals = NULL;
    c->cfp = 0;
}

cdc_client_t *cdc_cli_new(cdc_reg_t *r, uint64_t id, const char *topic, size_t topic_len, int is_private, uint64_t peer,
                          uint64_t burst_cap, int role, char *claims) {
    cdc_client_t *c = xcalloc(1, sizeof(*c));
    c->id = id;
    c->reg = r;
    c->refs = 1;
    c->topic = xstrndup(topic, topic_len);
    c->topic_len = topic_len;
    c->is_private = (uint8_t)is_private;
    c->budget = budget_get(r, peer, burst_cap);
    cdc_cli_set_claims(c, role, claims);
    return c;
}

uint32_t cdc_cli_add_binding(cdc_reg_t *r, cdc_client_t *c, const char *key, uint32_t sub) {
    c->subs = xrealloc(c->subs, (c->nsubs + 1) * sizeof(*c->subs));
    c->subs[c->nsubs++] = sub;
    return wire_get(r, key, sub);
}

/* Forgets c's bindings: matching stops now, their wire ids are released. */
static void drop_bindings(cdc_reg_t *r, cdc_client_t *c) {
    cdc_subs_remove_owner(r->subs, c);
    for (size_t i = 0; i < c->nsubs; i++)
        wire_put(r, c->subs[i]);
}

void cdc_cli_discard(cdc_reg_t *r, cdc_client_t *c) {
    drop_bindings(r, c);
    cdc_cli_unref(c);
}

void cdc_cli_insert(cdc_reg_t *r, cdc_client_t *c) { htab_insert(&r->clients, hash_u64(c->id), c); }

cdc_client_t *cdc_cli_find(const cdc_reg_t *r, uint64_t id) {
    return htab_find(&r->clients, hash_u64(id), client_eq, &id);
}

void cdc_cli_remove(cdc_reg_t *r, uint64_t id) {
    cdc_client_t *c = cdc_cli_find(r, id);
    if (!c)
        return;
    htab_remove(&r->clients, hash_u64(id), c);
    drop_bindings(r, c);
    c->dead = 1; /* matches still queued are not delivered */
    cdc_cli_unref(c);
}

hub_topic_t *cdc_cli_topic(cdc_client_t *c) {
    if (!c->t && c->live && !c->dead)
        c->t = hub_topic_find(c->topic, c->topic_len, c->is_private);
    return c->dead ? NULL : c->t;
}

void cdc_cli_free(cdc_reg_t *r) {
    cdc_client_t *c;
    for (size_t i = 0; (c = htab_next(&r->clients, &i));)
        cdc_cli_unref(c); /* unref does not touch the clients table */
    htab_free(&r->clients);
    cdc_subs_free(r->subs);
    cdc_wire_t *w;
    for (size_t i = 0; (w = htab_next(&r->wires, &i));) {
        free(w->key);
        free(w);
    }
    htab_free(&r->wires);
    free(r->of_sub);
    cdc_pbudget_t *p;
    for (size_t i = 0; (p = htab_next(&r->budgets, &i));)
        free(p);
    htab_free(&r->budgets);
    memset(r, 0, sizeof(*r));
}
