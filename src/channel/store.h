/*
 * channel/store: broadcasts written to realtime.messages by the server
 * itself, through the worker's db/pool under the sender's role and claims
 * with realtime.topic set, so the INSERT policies on realtime.messages
 * decide: a persisted broadcast (send(..., {persist}) on a private channel,
 * httpSend(..., {persist})) is stored for a later replay; a private HTTP
 * broadcast that is not persisted is authorized by the same insert, rolled
 * back. Also the readers of what a client says about persistence. It never
 * publishes (callers do, once the database said yes) and never builds SQL
 * from values.
 */
#ifndef TC_CHANNEL_STORE_H
#define TC_CHANNEL_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "db/pool.h"

/* The longest a persisted broadcast is kept for replay, in seconds:
 * realtime.messages' own retention (3 days, 003's tc_prune_messages and
 * supabase/realtime's janitor). persist: true means this; a larger ttl is
 * clamped to it. */
#define CHAN_STORE_MAX_TTL_S ((int64_t)259200) /* 3 days */
/* Messages of one chan_store_run (the HTTP batch's distinct private topics). */
#define CHAN_STORE_MAX_BATCH 64

typedef struct {
    const char *topic; /* without "realtime:" */
    size_t topic_len;
    const char *event;
    size_t event_len;
    uint8_t encoding; /* MSG_ENC_JSON (payload is JSON text) or MSG_ENC_RAW (bytes) */
    const void *payload;
    size_t len;
    int64_t ttl_s; /* stored: seconds to keep for replay; CHAN_STORE_MAX_TTL_S (or more, or 0) stores no expiry */
} chan_store_msg_t;

typedef enum {
    CHAN_STORE_OK = 0,
    CHAN_STORE_DENIED,      /* an INSERT policy refused it (SQLSTATE 42501) */
    CHAN_STORE_INVALID,     /* the database refused the payload (not storable JSON, too large) */
    CHAN_STORE_UNAVAILABLE, /* no database, busy, or it failed otherwise */
} chan_store_status_t;

/* The answer of chan_store_run, on the pool's worker. failed: index of the
 * message the status is about (0 when OK). ids[i]: message i's id (uuid
 * text, 36 chars; valid during the call only). error: the database's
 * message or NULL (for logs, never for clients). */
typedef void (*chan_store_cb)(void *ud, chan_store_status_t status, int failed, const char *const *ids,
                              const char *error);

/* Inserts msgs[0..n) (n <= CHAN_STORE_MAX_BATCH) as private broadcasts in
 * one transaction under role and claims (copied; a role other than anon,
 * authenticated or service_role runs as anon, as joins do). store: commit
 * them (persist; each row marked tc_delivered, since the caller publishes
 * it itself); 0: roll back (authorization only; the payload is not sent to
 * the database, the probe row carries topic and event with payload {}).
 * Returns 0, or -1 when the pool cannot take it (cb will not run). *req
 * (may be NULL) receives the handle for db_cancel. */
int chan_store_run(db_pool_t *db, const char *role, const char *claims, const chan_store_msg_t *msgs, int n, int store,
                   chan_store_cb cb, void *ud, db_req_t **req);

/* Reads a persist option: JSON true, false, null/absent (*persist 0), or
 * {"ttl": seconds} (a positive integer, clamped to CHAN_STORE_MAX_TTL_S).
 * Sets *persist and *ttl_s. Returns 0, or -1 with a reason in err. */
int chan_store_parse_persist(json_t *v, int *persist, int64_t *ttl_s, char *err, size_t errlen);
/* The same for text ("true", "false", or a ttl in seconds as digits). */
int chan_store_parse_ttl_text(const char *s, int64_t *ttl_s, char *err, size_t errlen);

/* Writes {"id":"<id>"} (the meta a stored broadcast is published with,
 * as supabase/realtime's messages from the database carry it) into out. */
void chan_store_meta(const char *id, char *out, size_t outlen);
/* The id in a message's meta JSON ({"id":"..."}), copied into out (at most
 * outlen - 1 bytes); 0 if found, else -1. */
int chan_store_meta_id(const char *meta, size_t len, char *out, size_t outlen);
/* A fresh random (version 4) uuid as text. */
void chan_store_uuid(char out[37]);

/* The database role a token's role runs as: the three the database knows,
 * anything else (or NULL) as anon, never a role a token merely names. */
static inline const char *chan_store_role(const char *role) {
    if (role && (!strcmp(role, "anon") || !strcmp(role, "authenticated") || !strcmp(role, "service_role")))
        return role;
    return "anon";
}

#endif
