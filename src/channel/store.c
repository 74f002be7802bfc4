/*
 * channel/store: see store.h. One transaction per call:
 *   for each message: set_config('realtime.topic', topic, true); INSERT
 * under the sender's role and claims (db/pool sets them), committed for a
 * persisted broadcast, rolled back for an authorization probe. The id is
 * made here, not RETURNING'd: RETURNING would also need the SELECT
 * policies to admit the new row, and the answer is about writing.
 */
#include "channel/store.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/msg.h"
#include "util/log.h"
#include "util/mem.h"

/* Statements per message. */
enum { PER_MSG = 2, PARAMS = 6 };

static const char SET_TOPIC_SQL[] = "SELECT set_config('realtime.topic', $1, true)";
/* tc_expires_at is compared with now()::timestamp by the replay, as
 * inserted_at's default is now() in the session's time zone. */
static const char INSERT_SQL[] =
    "INSERT INTO realtime.messages (id, topic, extension, private, event, payload, binary_payload, tc_expires_at, "
    "tc_delivered) VALUES ($1::uuid, $2, 'broadcast', true, $3, $4::jsonb, $5::bytea, "
    "now()::timestamp + make_interval(secs => $6::int), true)";
static const char PROBE_SQL[] = "INSERT INTO realtime.messages (id, topic, extension, private, event, payload) "
                                "VALUES ($1::uuid, $2, 'broadcast', true, $3, '{}')";

typedef struct {
    chan_store_cb cb;
    void *ud;
    int n;
    int store;
    db_req_t *req;
    char ids[CHAN_STORE_MAX_BATCH][37];
} op_t;

void chan_store_uuid(char out[37]) {
    uint8_t r[16];
    if (RAND_bytes(r, sizeof(r)) != 1)
        abort(); /* no randomness: nothing sensible to go on with */
    r[6] = (r[6] & 0x0f) | 0x40;
    r[8] = (r[8] & 0x3f) | 0x80;
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3],
             r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
}

void chan_store_meta(const char *id, char *out, size_t outlen) { snprintf(out, outlen, "{\"id\":\"%s\"}", id); }

int chan_store_meta_id(const char *meta, size_t len, char *out, size_t outlen) {
    if (!meta || !len || outlen == 0)
        return -1;
    json_error_t jerr;
    json_t *m = json_loadb(meta, len, 0, &jerr);
    json_t *id = json_object_get(m, "id");
    int r = -1;
    if (json_is_string(id) && json_string_length(id) < outlen) {
        memcpy(out, json_string_value(id), json_string_length(id) + 1);
        r = 0;
    }
    json_decref(m);
    return r;
}

int chan_store_parse_persist(json_t *v, int *persist, int64_t *ttl_s, char *err, size_t errlen) {
    *persist = 0;
    *ttl_s = CHAN_STORE_MAX_TTL_S;
    if (!v || json_is_null(v) || json_is_false(v))
        return 0;
    if (json_is_true(v)) {
        *persist = 1;
        return 0;
    }
    if (json_is_object(v)) {
        json_t *ttl = json_object_get(v, "ttl");
        if (!ttl || json_is_null(ttl)) {
            *persist = 1;
            return 0;
        }
        if (!json_is_integer(ttl) || json_integer_value(ttl) <= 0) {
            snprintf(err, errlen, "persist.ttl must be a positive integer (seconds)");
            return -1;
        }
        json_int_t t = json_integer_value(ttl);
        *ttl_s = t > CHAN_STORE_MAX_TTL_S ? CHAN_STORE_MAX_TTL_S : (int64_t)t;
        *persist = 1;
        return 0;
    }
    snprintf(err, errlen, "persist must be true, false or {\"ttl\": seconds}");
    return -1;
}

int chan_store_parse_ttl_text(const char *s, int64_t *ttl_s, char *err, size_t errlen) {
    /* digits only: no sign, space, exponent or fraction */
    size_t n = strspn(s, "0123456789");
    if (n == 0 || s[n] || n > 12) {
        snprintf(err, errlen, "persist[ttl] must be a positive integer (seconds)");
        return -1;
    }
    long long t = strtoll(s, NULL, 10);
    if (t <= 0) {
        snprintf(err, errlen, "persist[ttl] must be a positive integer (seconds)");
        return -1;
    }
    *ttl_s = t > CHAN_STORE_MAX_TTL_S ? CHAN_STORE_MAX_TTL_S : (int64_t)t;
    return 0;
}

static chan_store_status_t status_of(const PGresult *r) {
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (!state)
        return CHAN_STORE_UNAVAILABLE;
    if (!strcmp(state, "42501"))
        return CHAN_STORE_DENIED;
    /* data exceptions (invalid JSON text, \u0000, bad bytea) and
     * program limits (a jsonb too large): the message, not the server */
    if (!strncmp(state, "22", 2) || !strcmp(state, "54000"))
        return CHAN_STORE_INVALID;
    return CHAN_STORE_UNAVAILABLE;
}

static void answer(op_t *op, chan_store_status_t st, int failed, const char *error) {
    const char *ids[CHAN_STORE_MAX_BATCH];
    for (int i = 0; i < op->n; i++)
        ids[i] = op->ids[i];
    op->cb(op->ud, st, failed, ids, error);
    free(op);
}

static void on_done(void *ud, PGresult *const *results, int n, const char *error) {
    op_t *op = ud;
    chan_store_status_t st = CHAN_STORE_OK;
    int failed = 0;
    const char *why = error;
    if (error) {
        st = CHAN_STORE_UNAVAILABLE;
    } else {
        for (int i = 0; i < n; i++) {
            ExecStatusType s = PQresultStatus(results[i]);
            if (s == PGRES_FATAL_ERROR) {
                st = status_of(results[i]);
                failed = i / PER_MSG;
                why = PQresultErrorMessage(results[i]);
                break;
            }
            if (s == PGRES_PIPELINE_ABORTED && st == CHAN_STORE_OK)
                st = CHAN_STORE_UNAVAILABLE;
        }
    }
    if (st == CHAN_STORE_UNAVAILABLE || st == CHAN_STORE_INVALID)
        log_warn("broadcast store failed", "\"error\":\"%.*s\"", why ? (int)strcspn(why, "\"\\\n") : 0, why ? why : "");
    if (!op->store && !error) {
        /* a probe: nothing it wrote may stay */
        db_tx_end(op->req, 0, NULL, NULL);
    }
    answer(op, st, failed, why);
}

/* bytea's text input: \x and two hex digits per byte (malloc'd). */
static char *bytea_hex(const uint8_t *p, size_t n) {
    static const char digits[] = "0123456789abcdef";
    char *s = xmalloc(2 * n + 3);
    s[0] = '\\', s[1] = 'x';
    for (size_t i = 0; i < n; i++) {
        s[2 + 2 * i] = digits[p[i] >> 4];
        s[3 + 2 * i] = digits[p[i] & 15];
    }
    s[2 * n + 2] = 0;
    return s;
}

int chan_store_run(db_pool_t *db, const char *role, const char *claims, const chan_store_msg_t *msgs, int n, int store,
                   chan_store_cb cb, void *ud, db_req_t **req) {
    if (!db || n <= 0 || n > CHAN_STORE_MAX_BATCH)
        return -1;
    role = chan_store_role(role);
    op_t *op = xcalloc(1, sizeof(*op));
    op->cb = cb;
    op->ud = ud;
    op->n = n;
    op->store = store;
    int rc = -1;
    db_stmt_t *st = xcalloc((size_t)n * PER_MSG, sizeof(*st));
    /* every value as text; db_run copies them */
    char *(*vals)[PARAMS] = xcalloc((size_t)n, sizeof(*vals));
    const char *(*params)[PARAMS] = xcalloc((size_t)n, sizeof(*params));
    const char **topic_param = xcalloc((size_t)n, sizeof(*topic_param));
    for (int i = 0; i < n; i++) {
        const chan_store_msg_t *m = &msgs[i];
        chan_store_uuid(op->ids[i]);
        vals[i][0] = xstrndup(op->ids[i], 36);
        vals[i][1] = xstrndup(m->topic, m->topic_len);
        vals[i][2] = xstrndup(m->event, m->event_len);
        if (store) {
            if (m->encoding == MSG_ENC_RAW)
                vals[i][4] = bytea_hex(m->payload, m->len);
            else
                vals[i][3] = xstrndup(m->payload, m->len);
            /* the whole retention (persist: true, or a ttl clamped to it)
             * is NULL: the row lives as long as the table keeps it */
            if (m->ttl_s > 0 && m->ttl_s < CHAN_STORE_MAX_TTL_S) {
                char ttl[24];
                snprintf(ttl, sizeof(ttl), "%lld", (long long)m->ttl_s);
                vals[i][5] = xstrdup(ttl);
            }
        }
        for (int k = 0; k < PARAMS; k++)
            params[i][k] = vals[i][k];
        topic_param[i] = vals[i][1];
        size_t at = (size_t)PER_MSG * (size_t)i;
        st[at] = (db_stmt_t){SET_TOPIC_SQL, 1, &topic_param[i], 1};
        st[at + 1] = store ? (db_stmt_t){INSERT_SQL, 6, params[i], 1} : (db_stmt_t){PROBE_SQL, 3, params[i], 1};
    }
    op->req = store ? db_run(db, role, claims, st, n * PER_MSG, on_done, op)
                    : db_run_open(db, role, claims, st, n * PER_MSG, on_done, op);
    if (!op->req) {
        free(op);
        goto cleanup;
    }
    if (req)
        *req = op->req;
    rc = 0;
cleanup:
    for (int i = 0; i < n; i++)
        for (int k = 0; k < PARAMS; k++)
            free(vals[i][k]);
    free(topic_param);
    free(params);
    free(vals);
    free(st);
    return rc;
}
