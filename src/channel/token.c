/*
 * channel/token: a socket's tokens: which one a join or refresh carries
 * (else the connection's apikey), whether it is valid (auth/token_cache,
 * with the keys chan_socket_init was given), and access_token refreshes of
 * a joined channel. It never joins or leaves a channel itself: an invalid
 * refresh shuts the channel down through join.c.
 */
#include "channel/chan_int.h"

#include <stdio.h>

#include "cdc/engine.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/mem.h"

uint64_t chan_token_hash(const char *s, size_t n) {
    uint64_t h = hash_bytes(HASH_INIT, s, n);
    return h ? h : 1;
}

/* The token a join or refresh carries, else the connection's apikey.
 * Publishable keys ("sb_...") stand for the apikey, as in supabase/realtime. */
const char *chan_token_pick(chan_socket_t *s, json_t *payload) {
    json_t *t = json_object_get(payload, "access_token");
    if (!json_is_string(t))
        t = json_object_get(payload, "user_token");
    if (json_is_string(t) && strncmp(json_string_value(t), "sb_", 3) != 0)
        return json_string_value(t);
    return s->apikey;
}

int chan_token_verify(chan_socket_t *s, const char *token, tok_info_t *claims, char *msg, size_t msglen) {
    if (!token) {
        snprintf(msg, msglen, "%s", "API key is missing or not a valid string");
        return -1;
    }
    jwt_status_t st = tok_verify(chan_keys, token, strlen(token), chan_now_s(), claims, msg, msglen);
    if (st != JWT_OK) {
        met_add(M_AUTH_ERRORS, 1);
        log_info("token refused", "\"conn\":%llu,\"status\":%d", (unsigned long long)conn_id(s->conn), (int)st);
        return -1;
    }
    return 0;
}

void chan_token_refresh(chan_socket_t *s, chan_t *ch, const msg_in_t *m) {
    json_t *t = json_object_get(m->payload, "access_token");
    if (!json_is_string(t) || !strncmp(json_string_value(t), "sb_", 3))
        return;
    const char *token = json_string_value(t);
    uint64_t h = chan_token_hash(token, strlen(token));
    if (h == ch->token_hash)
        return;
    char msg[256];
    tok_info_t claims;
    if (chan_token_verify(s, token, &claims, msg, sizeof(msg)) < 0) {
        chan_shutdown(ch, msg);
        return;
    }
    ch->exp = claims.exp;
    ch->token_hash = h;
    if (ch->cdc_client)
        cdc_engine_claims(ch->cdc_client, claims.role, claims.claims_json);
    if (ch->is_private) {
        /* persisted broadcasts from now on are inserted under the new token */
        free(ch->role), free(ch->claims);
        ch->role = xstrdup(claims.role);
        ch->claims = xstrdup(claims.claims_json ? claims.claims_json : "{}");
        chan_join_recheck_private(s, ch, &claims);
    }
    log_debug("token refreshed", "\"conn\":%llu,\"exp\":%lld", (unsigned long long)conn_id(s->conn),
              (long long)ch->exp);
}
