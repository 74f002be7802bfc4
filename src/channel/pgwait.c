/*
 * channel/pgwait: a join's config.postgres_changes_options {wait, timeout}
 * (realtime-js 2.119). Every join with Postgres Changes is answered only
 * once the CDC thread registered its bindings with the replication stream
 * streaming (channel/join.c, cdc/join.c), within the server's join timeout
 * (8 s). With wait, the join instead:
 *   - waits as long as the client asked, clamped to
 *     [PGWAIT_MIN_MS, PGWAIT_MAX_MS] (PGWAIT_DEFAULT_MS when not given):
 *     when the CDC thread gives up on a stream that is not there, the
 *     bindings are handed to it again while the wait lasts;
 *   - is refused, when the wait runs out, with
 *     "PostgresChangesSubscribeTimeout: ..." saying what was not there;
 *   - is refused, when a binding is, with
 *     "RealtimeDisabledForConfiguration: <why>", as realtime-js documents.
 * The deadline is this worker's: one libuv timer per worker, armed for the
 * earliest deadline of its waiting joins. Everything here runs on the
 * socket's worker; the lists are per worker and never shared.
 *
 * It owns nothing of a pending join but its place on the list: channel/join.c
 * frees joins, and calls chan_pgwait_forget first.
 */
#include "channel/chan_int.h"

#include <stdio.h>

#include "cdc/join.h"
#include "util/log.h"

/* realtime-js's DEFAULT_POSTGRES_CHANGES_WAIT_TIMEOUT "mirrors the Realtime
 * server's own default": the same here. */
#define PGWAIT_DEFAULT_MS 15000
/* Supabase's default maximum (realtime-js: "the server clamps it to its own
 * configured maximum (20s by default)"). Longer would hold a half-joined
 * channel, its bindings counted against MAX_BINDINGS_PER_CLIENT, for
 * longer than a client waits by default (realtime-js waits timeout + 10 s),
 * and the stream retries every 5 s at most, so 20 s spans several attempts. */
#define PGWAIT_MAX_MS 20000
/* Below a second a join would be refused on a healthy server whose CDC
 * thread is busy with a batch or reading the catalog for the first join,
 * which is not what "wait" asks for. */
#define PGWAIT_MIN_MS 1000

typedef struct {
    uv_timer_t timer;
    uv_loop_t *loop;      /* the loop timer was set up on (NULL: not yet) */
    pending_join_t *head; /* this worker's waiting joins */
} wait_list_t;

/* Static storage: finish() in net/server closes every handle of a
 * stopping loop, this timer included, without a callback to free it. */
static wait_list_t lists[SRV_MAX_WORKERS];

static wait_list_t *my_list(void) { return &lists[worker_self->id]; }

static uint64_t now_ms(void) { return uv_now(&worker_self->loop); }

int chan_pgwait_parse(json_t *config) {
    json_t *opts = json_object_get(config, "postgres_changes_options");
    json_t *wait = json_object_get(opts, "wait");
    if (!json_is_true(wait) && !(json_is_string(wait) && !strcmp(json_string_value(wait), "true")))
        return 0;
    json_t *t = json_object_get(opts, "timeout");
    if (!json_is_number(t))
        return PGWAIT_DEFAULT_MS; /* absent or not a number: realtime-js's default */
    double ms = json_number_value(t);
    if (!(ms >= PGWAIT_MIN_MS)) /* NaN cannot come from JSON; negative, zero and small all clamp up */
        return PGWAIT_MIN_MS;
    return ms > PGWAIT_MAX_MS ? PGWAIT_MAX_MS : (int)ms;
}

/* What was not there, for the timeout's reason. The gauge is the CDC
 * thread's (updated every 100 ms): good enough to say why. */
static void timeout_reason(const pending_join_t *p, char *buf, size_t n) {
    int streaming = met_sum(M_CDC_STREAMING) > 0;
    snprintf(buf, n,
             "PostgresChangesSubscribeTimeout: Postgres Changes were not live within %d ms "
             "(postgres_changes_options.timeout): %s",
             p->j.wait_ms,
             streaming ? "the database did not answer the subscription in time"
                       : "the replication stream is not live (the database or its replication slot is unavailable)");
}

static void on_timer(uv_timer_t *t);

static void arm(wait_list_t *l) {
    if (uv_is_closing((uv_handle_t *)&l->timer))
        return; /* the worker is stopping: its joins end with the mailbox */
    uint64_t first = UINT64_MAX;
    for (pending_join_t *p = l->head; p; p = p->wait_next)
        if (p->wait_deadline_ms < first)
            first = p->wait_deadline_ms;
    if (first == UINT64_MAX) {
        uv_timer_stop(&l->timer);
        return;
    }
    uint64_t now = now_ms();
    uv_timer_start(&l->timer, on_timer, first > now ? first - now : 0, 0);
}

static void unlist(wait_list_t *l, pending_join_t *p) {
    if (!p->wait_listed)
        return;
    for (pending_join_t **q = &l->head; *q; q = &(*q)->wait_next)
        if (*q == p) {
            *q = p->wait_next;
            break;
        }
    p->wait_next = NULL;
    p->wait_listed = 0;
}

/* Deadlines passed: the client hears why now. The join stays allocated
 * until the CDC thread answers its attempt in flight (channel/join.c's
 * on_pg_joined then finds it detached and gives any registration back). */
static void on_timer(uv_timer_t *t) {
    wait_list_t *l = t->data;
    uint64_t now = now_ms();
    for (pending_join_t **q = &l->head; *q;) {
        pending_join_t *p = *q;
        if (p->wait_deadline_ms > now) {
            q = &p->wait_next;
            continue;
        }
        *q = p->wait_next;
        p->wait_next = NULL;
        p->wait_listed = 0;
        chan_socket_t *s = p->s;
        if (s && !p->cancelled) {
            char reason[320];
            timeout_reason(p, reason, sizeof(reason));
            msg_in_t m;
            memset(&m, 0, sizeof(m));
            m.topic = chan_str(p->j.topic);
            m.join_ref = chan_str(p->j.join_ref);
            m.ref = chan_str(p->j.ref);
            chan_join_pending_unlink(p); /* its bindings stop counting against the connection */
            chan_join_failed(s, &m, reason);
        }
    }
    arm(l);
}

void chan_pgwait_start(pending_join_t *p) {
    wait_list_t *l = my_list();
    if (l->loop != &worker_self->loop) {
        uv_timer_init(&worker_self->loop, &l->timer);
        l->timer.data = l;
        l->loop = &worker_self->loop;
    }
    p->wait_deadline_ms = now_ms() + (uint64_t)p->j.wait_ms;
    p->wait_next = l->head;
    l->head = p;
    p->wait_listed = 1;
    p->wait_worker = worker_self->id;
    arm(l);
}

int chan_pgwait_retry(pending_join_t *p, int run, const char *response, const char *reason) {
    if (!run || !p->s || p->cancelled || response || !reason || strcmp(reason, CDC_JOIN_UNREACHABLE) != 0)
        return 0;
    if (!p->wait_listed || now_ms() >= p->wait_deadline_ms)
        return 0;
    log_debug("postgres changes wait: trying again", "\"conn\":%llu,\"left_ms\":%llu",
              (unsigned long long)conn_id(p->s->conn), (unsigned long long)(p->wait_deadline_ms - now_ms()));
    return 1;
}

const char *chan_pgwait_reason(const pending_join_t *p, const char *reason, char *buf, size_t n) {
    if (!reason || !strcmp(reason, CDC_JOIN_UNREACHABLE)) {
        timeout_reason(p, buf, n); /* the stream was not there, and the wait is over */
        return buf;
    }
    if (!strcmp(reason, CDC_JOIN_STOPPING))
        return reason; /* not the join's fault: no prefix that blames its configuration */
    snprintf(buf, n, "RealtimeDisabledForConfiguration: %s", reason);
    return buf;
}

/* By the list's index rather than worker_self, so it holds on any thread;
 * in practice it runs on the join's worker: answers come through its
 * mailbox, and one dropped after the worker stopped finds p without a
 * socket, never listed. */
void chan_pgwait_forget(pending_join_t *p) {
    if (p->wait_listed)
        unlist(&lists[p->wait_worker], p);
}
