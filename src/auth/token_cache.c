/*
 * auth/token_cache: see token_cache.h. Direct-mapped: a token hashes to one
 * slot and replaces whatever was there. The whole token is compared on a
 * hit; the hash only picks the slot.
 *
 * Deliberately not a util/htab: a table keeps every token until someone
 * removes it, so it needs an eviction policy and grows with the tokens
 * clients present (any client can mint distinct-looking ones). A fixed
 * array where a collision simply evicts is bounded memory per worker with
 * no bookkeeping, and a miss only costs a signature check. The keyed
 * hash_bytes still decides the slot, so no client can aim its tokens at
 * the slot of another's to keep evicting it.
 */
#include "auth/token_cache.h"

#include <stdio.h>
#include <string.h>

#include "util/hash.h"
#include "util/mem.h"

/* Per thread. A slot holds ~200 bytes plus its token and claims (~0.5 KiB
 * for Supabase tokens), so 1024 slots cost ~0.7 MiB per worker: enough for
 * the apikey and the users active on that worker at once, and small next
 * to 10,000 connections (the benchmark counts it in memory per connection). */
#define SLOTS 1024

typedef struct {
    uint64_t hash;
    char *token;
    size_t len;
    int64_t exp, nbf;
    char role[64];
    char sub[128];
    char *claims;
} slot_t;

static _Thread_local slot_t *slots;

static void clear_slot(slot_t *s) {
    free(s->token);
    free(s->claims);
    memset(s, 0, sizeof(*s));
}

static jwt_status_t check_time(const slot_t *s, int64_t now, char *msg, size_t msglen) {
    if (s->exp <= now) {
        snprintf(msg, msglen, "Token has expired %lld seconds ago", (long long)(now - s->exp));
        return JWT_EXPIRED;
    }
    if (s->nbf > now) {
        snprintf(msg, msglen, "%s", "Token is not valid yet");
        return JWT_NOT_YET_VALID;
    }
    return JWT_OK;
}

static void fill(const slot_t *s, tok_info_t *out) {
    out->exp = s->exp;
    out->nbf = s->nbf;
    out->role = s->role;
    out->sub = s->sub;
    out->claims_json = s->claims;
}

jwt_status_t tok_verify(const jwt_keyring_t *kr, const char *token, size_t len, int64_t now, tok_info_t *out, char *msg,
                        size_t msglen) {
    if (!slots)
        slots = xcalloc(SLOTS, sizeof(*slots));
    uint64_t h = hash_bytes(HASH_INIT, token, len);
    slot_t *s = &slots[h & (SLOTS - 1)];
    if (s->token && s->hash == h && s->len == len && !memcmp(s->token, token, len)) {
        jwt_status_t st = check_time(s, now, msg, msglen);
        if (st == JWT_OK)
            fill(s, out);
        return st;
    }
    jwt_claims_t c;
    jwt_status_t st = jwt_verify(kr, token, len, now, &c, msg, msglen);
    if (st != JWT_OK)
        return st;
    clear_slot(s);
    s->hash = h;
    s->token = xstrndup(token, len);
    s->len = len;
    s->exp = c.exp;
    s->nbf = c.nbf;
    snprintf(s->role, sizeof(s->role), "%s", c.role);
    snprintf(s->sub, sizeof(s->sub), "%s", c.sub);
    s->claims = json_dumps(c.claims, JSON_COMPACT);
    json_decref(c.claims);
    if (!s->claims)
        abort();
    fill(s, out);
    return JWT_OK;
}

void tok_cache_free(void) {
    if (!slots)
        return;
    for (int i = 0; i < SLOTS; i++)
        clear_slot(&slots[i]);
    free(slots);
    slots = NULL;
}
