/*
 * cdc/clients: the CDC engine's registry of joined channels ("clients": one
 * channel's postgres_changes bindings, its role and claims), the wire ids
 * their bindings are known by, and the filter work budgets of their client
 * addresses. It owns cdc_client_t (reference-counted: the registry holds
 * one, each stored match one), the wire-id registry and the budgets, and
 * the subscription registry (cdc/subs) the clients' bindings live in.
 *
 * It never matches changes, authorizes or publishes them, and it is only
 * ever touched on the CDC thread (no locks).
 */
#ifndef TC_CDC_CLIENTS_H
#define TC_CDC_CLIENTS_H

#include <stddef.h>
#include <stdint.h>

#include "cdc/history.h"
#include "cdc/subs.h"
#include "hub/hub.h"
#include "util/htab.h"

/* The filter work budget of one client address, shared by every binding
 * of every channel from it (see cdc/subs: cdc_subs_match_budget). */
typedef struct {
    uint64_t key; /* net/peer's key of the address */
    int refs;     /* one per client (channel) of the address */
    cdc_budget_t b;
} cdc_pbudget_t;

struct cdc_reg;

typedef struct cdc_client {
    uint64_t id;
    struct cdc_reg *reg; /* the registry it was made in (its budget's) */
    int refs;            /* the registry's, plus one per stored match */
    char *topic;
    size_t topic_len;
    uint8_t is_private, live, dead;
    hub_topic_t *t; /* found once live; holds a reference */
    int role;
    char *claims;
    char *sub;      /* the claims' sub, or NULL */
    uint32_t *subs; /* its internal subscription ids */
    size_t nsubs;
    cdc_pbudget_t *budget; /* its address's filter work budget (a reference) */
    uint8_t sub_uuid;      /* sub is a canonical lowercase uuid */
    uint8_t claims_bad;    /* its claims made a check fail: it is shown nothing until they change */
    int8_t *cvals;         /* cached CLAIM term values, valid while cgen/cfp match (cdc/authz) */
    uint64_t cgen;
    uint64_t cfp; /* catalog fingerprint they were computed with */
    /* cdc/resume: where its deliveries start */
    uint8_t resume_asked; /* the join named a position to resume after */
    uint8_t catching_up;  /* replayed from the history; live changes are not delivered */
    uint8_t chunk_out;    /* a replay chunk of its is queued */
    char *resume;         /* the position as sent, until LIVE */
    cdc_pos_t cursor;     /* catching up: the last history position looked at */
    cdc_pos_t live_after; /* live changes at or before it are not delivered (replayed, or before its start) */
    uint64_t pub_ms;      /* when something was last published to it (loop ms): quiet channels get positions */
    /* per-batch scratch of cdc/authz */
    uint64_t batch;
    uint32_t group;
} cdc_client_t;

typedef struct cdc_wire cdc_wire_t;

/* All zeroes but subs (cdc_cli_init) is an empty registry. */
typedef struct cdc_reg {
    cdc_subs_t *subs; /* every client's bindings (owner = cdc_client_t *) */
    htab_t clients;   /* cdc_client_t by id */
    htab_t budgets;   /* cdc_pbudget_t by address key */
    htab_t wires;     /* cdc_wire_t by binding text */
    uint32_t next_wire;
    cdc_wire_t **of_sub; /* internal subscription id -> its wire entry */
    size_t of_cap;
} cdc_reg_t;

void cdc_cli_init(cdc_reg_t *r);
/* Drops every client's reference and frees the registry (every batch that
 * held matches must be freed first). */
void cdc_cli_free(cdc_reg_t *r);

/* A new client (one reference, not in the registry yet) charging address
 * peer's budget (a new budget gets burst_cap: its rate bound's burst).
 * Takes claims (malloc'd). */
cdc_client_t *cdc_cli_new(cdc_reg_t *r, uint64_t id, const char *topic, size_t topic_len, int is_private, uint64_t peer,
                          uint64_t burst_cap, int role, char *claims);
/* Its binding with internal subscription id sub is known on the wire by
 * the id of key (the binding's text; NULL: a binding of its own). Returns
 * that wire id. */
uint32_t cdc_cli_add_binding(cdc_reg_t *r, cdc_client_t *c, const char *key, uint32_t sub);
/* A join that failed or must wait: forgets c's bindings and drops it. */
void cdc_cli_discard(cdc_reg_t *r, cdc_client_t *c);
/* The join succeeded: the registry holds c from now on. */
void cdc_cli_insert(cdc_reg_t *r, cdc_client_t *c);

cdc_client_t *cdc_cli_find(const cdc_reg_t *r, uint64_t id);
/* The channel left: its bindings go now, c itself once no match holds it. */
void cdc_cli_remove(cdc_reg_t *r, uint64_t id);
static inline size_t cdc_cli_count(const cdc_reg_t *r) { return htab_count(&r->clients); }

/* Does c skip the live change at pos? Yes before its start, and while it
 * catches up from the history (cdc/resume), which holds that change too.
 * Once yes, always yes: live_after only grows, and the end of a catch-up
 * sets it at or past every change already decoded. So authorization may
 * leave such a match out, and publishing skips it: each change once. */
static inline int cdc_cli_skips_live(const cdc_client_t *c, cdc_pos_t pos) {
    return c->catching_up || cdc_pos_cmp(pos, c->live_after) <= 0;
}

void cdc_cli_unref(cdc_client_t *c);
/* New claims (malloc'd, taken) for c: its cached CLAIM values go. */
void cdc_cli_set_claims(cdc_client_t *c, int role, char *claims);
/* The hub topic c receives on, once live; NULL if it left. */
hub_topic_t *cdc_cli_topic(cdc_client_t *c);

/* The id on the wire of internal subscription sub (0: none). */
uint32_t cdc_cli_wire_id(const cdc_reg_t *r, uint32_t sub);

/* The budgets' leaky bucket: what each address used flows away at rate
 * units a second. */
void cdc_cli_budget_drain(cdc_reg_t *r, uint64_t rate, uint64_t elapsed_ms);

#endif
