/*
 * stream_check: proves cdc/stream against a real PostgreSQL 15 started by
 * scripts/db.sh (tests/tools/stream_check.sh does that, builds this, and
 * runs both modes). Not part of ctest: it needs a server and restarts it.
 *
 *   stream_check run N     a fresh cluster: the stream creates its slot; a
 *                          writer child inserts ids 1..N into public.t in
 *                          small separate transactions; after N/4 arrived
 *                          PostgreSQL is restarted (db.sh stop + start)
 *                          while the writer goes on; the stream must come
 *                          back by itself. Then: every id arrived; after
 *                          skipping whole transactions whose commit LSN is
 *                          below the highest confirmed LSN, every id arrived
 *                          exactly once and in commit order; the slot is
 *                          permanent and its confirmed_flush_lsn advanced,
 *                          also past WAL of an unpublished table (keepalive
 *                          confirms).
 *   stream_check resume N  the same cluster, a new process: the slot is
 *                          still there; id N+1, written while nobody
 *                          streamed, arrives, and nothing older does. It
 *                          is not confirmed at first: while WAL of an
 *                          unpublished table goes by (keepalives), the
 *                          slot must stay at or before its commit, and a
 *                          new stream must get it again. Two
 *                          more streams must fail through on_lost (and
 *                          close themselves from it): one on the busy
 *                          slot, one naming a publication that is not.
 *   In both modes the stream names a second publication: run one that does
 *   not exist (left out, streaming goes on without it), resume the
 *   messages publication (named in publication_names).
 *   stream_check writer CONNINFO N   the writer child (internal).
 *
 * Environment (scripts/db.sh start prints it): DB_HOST DB_PORT DB_NAME
 * DB_REPLICATION_USER DB_REPLICATION_PASSWORD DB_SOCKET_DIR DB_DIR, and
 * STREAM_CHECK_DB_SH (the path of scripts/db.sh) for run.
 * It decodes only the pgoutput it needs (BEGIN, RELATION, INSERT, COMMIT)
 * and does not use cdc/pgoutput.
 */
#include "cdc/stream.h"

#include <libpq-fe.h>
#include <signal.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/mem.h"

#define SLOT "stream_check_slot"
#define DEADLINE_MS 120000

typedef enum { PH_RUNNING, PH_WAIT_CONFIRM, PH_WAIT_KEEPALIVE, PH_DONE } phase_t;

static struct {
    uv_loop_t *loop;
    int resume; /* mode */
    int n;
    char su_conninfo[512];
    cdc_stream_t *stream;
    uv_timer_t deadline, verify;
    phase_t phase;

    /* the writer child and the restart */
    uv_process_t writer, stopper, starter;       /* distinct: a closing handle cannot be reused */
    int writer_alive, writer_done, restart_step; /* 0 not yet, 1 stopping, 2 starting, 3 done */
    char exe[1024];

    /* what arrived */
    uint32_t t_relid;
    int in_txn, cur_dup;
    uint64_t cur_commit;
    int *cur_ids, cur_n, cur_cap;
    int *seen_raw, *seen; /* per id: every arrival / after dedup */
    int *order, norder;   /* deduped ids in arrival order */
    int distinct;         /* ids seen at least once */
    uint64_t last_commit, confirmed_max;
    long inserts, txns, dup_txns, dup_inserts, sessions, losses;
    uint64_t cf_start, keepalive_target;
    cdc_stream_t *extra[2]; /* resume: the busy slot, the missing publication */
    int extra_done;
    cdc_stream_config_t cfg;
    cdc_stream_cb_t cb;
    uv_timer_t hold; /* resume: keeps id N+1 unconfirmed a while */
    uint64_t held_commit;
    int reopened;
} T;

/* ---- helpers -------------------------------------------------------------------- */

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "stream_check: FAIL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (T.writer_alive)
        uv_process_kill(&T.writer, SIGTERM);
    exit(1);
}

static const char *env(const char *k) {
    const char *v = getenv(k);
    if (!v || !*v)
        fail("environment variable %s is not set", k);
    return v;
}

static uint64_t lsn_of(const char *t) {
    unsigned int hi, lo;
    if (!t || sscanf(t, "%X/%X", &hi, &lo) != 2)
        return 0;
    return ((uint64_t)hi << 32) | lo;
}

static const char *lsn_str(uint64_t lsn) {
    static char b[4][24];
    static int i;
    i = (i + 1) % 4;
    cdc_lsn_text(lsn, b[i]);
    return b[i];
}

/* One statement as the superuser over the socket, blocking (short, local
 * queries; the stream does not need the loop meanwhile). Returns the first
 * value (caller frees; NULL for SQL NULL or no row); fails the check on
 * error. */
static char *su_value(const char *sql) {
    PGconn *c = PQconnectdb(T.su_conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        fail("superuser connect: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        fail("%s: %s", sql, PQresultErrorMessage(r));
    char *v = NULL;
    if (st == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        v = xstrdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return v;
}

static uint64_t slot_confirmed(void) {
    char *v = su_value("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '" SLOT "'");
    uint64_t l = lsn_of(v);
    free(v);
    return l;
}

/* ---- a reader for just enough pgoutput -------------------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t n, off;
} rd_t;

static const uint8_t *take(rd_t *r, size_t k) {
    if (r->n - r->off < k)
        fail("truncated pgoutput message (%zu bytes)", r->n);
    const uint8_t *at = r->p + r->off;
    r->off += k;
    return at;
}

static uint64_t rd_uint(rd_t *r, int bytes) {
    const uint8_t *b = take(r, (size_t)bytes);
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = (v << 8) | b[i];
    return v;
}

static const char *rd_str(rd_t *r) {
    const char *s = (const char *)r->p + r->off;
    size_t len = strnlen(s, r->n - r->off);
    take(r, len + 1);
    return s;
}

/* ---- the stream's callbacks ----------------------------------------------------------- */

static void maybe_restart(void);
static void maybe_finish(void);
static void on_hold(uv_timer_t *t);

static void on_begin(rd_t *r) {
    if (T.in_txn)
        fail("BEGIN inside a transaction");
    T.in_txn = 1;
    T.cur_commit = rd_uint(r, 8);
    T.cur_n = 0;
    /* Handed on already iff it committed before the highest confirmed LSN
     * (we confirm COMMIT's end_lsn; see stream.h). */
    T.cur_dup = T.cur_commit < T.confirmed_max;
}

static void on_relation(rd_t *r) {
    uint32_t relid = (uint32_t)rd_uint(r, 4);
    const char *ns = rd_str(r);
    const char *name = rd_str(r);
    if (strcmp(ns, "public") == 0 && strcmp(name, "t") == 0)
        T.t_relid = relid;
}

static void on_insert(rd_t *r) {
    uint32_t relid = (uint32_t)rd_uint(r, 4);
    if (!T.in_txn)
        fail("INSERT outside a transaction");
    if (relid != T.t_relid)
        fail("INSERT into relation %u, not public.t (%u)", relid, T.t_relid);
    if (rd_uint(r, 1) != 'N' || rd_uint(r, 2) != 2 || rd_uint(r, 1) != 't')
        fail("unexpected INSERT tuple");
    uint32_t len = (uint32_t)rd_uint(r, 4);
    char text[16];
    if (len == 0 || len >= sizeof(text))
        fail("unexpected id length %u", len);
    memcpy(text, take(r, len), len);
    text[len] = '\0';
    int id = atoi(text);
    if (id < 1 || id > T.n + T.resume)
        fail("id %d out of range", id);
    T.inserts++;
    if (T.cur_n == T.cur_cap) {
        T.cur_cap = T.cur_cap ? 2 * T.cur_cap : 16;
        T.cur_ids = xrealloc(T.cur_ids, (size_t)T.cur_cap * sizeof(int));
    }
    T.cur_ids[T.cur_n++] = id;
}

static void on_commit(rd_t *r) {
    rd_uint(r, 1); /* flags */
    uint64_t commit = rd_uint(r, 8), end = rd_uint(r, 8);
    if (!T.in_txn)
        fail("COMMIT outside a transaction");
    if (commit != T.cur_commit)
        fail("COMMIT %s does not match BEGIN's final_lsn %s", lsn_str(commit), lsn_str(T.cur_commit));
    T.in_txn = 0;
    for (int i = 0; i < T.cur_n; i++)
        T.seen_raw[T.cur_ids[i]]++;
    if (T.resume && !T.reopened) {
        /* Hand nothing on: no confirm. Status updates go out meanwhile,
         * and keepalives come past it (WAL of public.u): neither may move
         * the slot past this commit. */
        if (T.held_commit || T.cur_n != 1 || T.cur_ids[0] != T.n + 1)
            fail("resume: the first transaction should be id %d alone", T.n + 1);
        T.held_commit = commit;
        free(su_value("INSERT INTO public.u SELECT generate_series(1, 10)"));
        uv_timer_start(&T.hold, on_hold, 4 * (uint64_t)T.cfg.status_interval_ms, 0);
        return;
    }
    if (T.resume && commit != T.held_commit)
        fail("resume: expected the unconfirmed transaction %s again, got %s", lsn_str(T.held_commit), lsn_str(commit));
    if (T.cur_dup) {
        /* A repeat: it must be a transaction we delivered before. */
        for (int i = 0; i < T.cur_n; i++)
            if (T.seen[T.cur_ids[i]] == 0)
                fail("transaction %s skipped as a repeat, but id %d never arrived", lsn_str(commit), T.cur_ids[i]);
        T.dup_txns++;
        T.dup_inserts += T.cur_n;
    } else {
        if (commit <= T.last_commit)
            fail("commit %s after %s: not in commit order", lsn_str(commit), lsn_str(T.last_commit));
        T.last_commit = commit;
        for (int i = 0; i < T.cur_n; i++) {
            int id = T.cur_ids[i];
            if (T.resume && id <= T.n)
                fail("old change resent to the resumed run: id %d", id);
            if (T.seen[id]++ == 0)
                T.distinct++;
            if (T.norder == T.n + 1)
                fail("more deliveries than ids");
            T.order[T.norder++] = id;
        }
        T.txns++;
    }
    cdc_stream_confirm(T.stream, end);
    if (end > T.confirmed_max)
        T.confirmed_max = end;
    maybe_restart();
    maybe_finish();
}

static void on_message(void *ud, uint64_t wal_start, const uint8_t *data, size_t len) {
    (void)ud;
    (void)wal_start;
    rd_t r = {data, len, 0};
    switch (rd_uint(&r, 1)) {
    case 'B': on_begin(&r); break;
    case 'R': on_relation(&r); break;
    case 'I': on_insert(&r); break;
    case 'C': on_commit(&r); break;
    case 'O':
    case 'Y':
    case 'M': break;
    default: fail("unexpected pgoutput message '%c'", data[0]); /* rd_uint read it: len >= 1 */
    }
}

static void spawn_writer(void);

static void on_extra_streaming(void *ud) { fail("stream %d should not be streaming", (int)(intptr_t)ud); }

static void on_extra_lost(void *ud, const char *why) {
    int i = (int)(intptr_t)ud;
    const char *want = i == 0 ? "is active for PID" : "publication does not exist";
    if (!strstr(why, want))
        fail("stream %d: expected a failure saying '%s', got '%s'", i, want, why);
    fprintf(stderr, "stream_check: stream %d failed as it should (%s)\n", i, why);
    cdc_stream_close(T.extra[i]); /* from inside its own callback */
    T.extra[i] = NULL;
    T.extra_done++;
    maybe_finish();
}

static void start_extra_streams(void) {
    static const char *slots[2] = {SLOT, "stream_check_other"};
    static const char *pubs[2] = {"supabase_realtime", "no_such_publication"};
    cdc_stream_cb_t cb = {NULL, on_extra_streaming, on_extra_lost};
    for (int i = 0; i < 2; i++) {
        cdc_stream_config_t cfg = {.host = env("DB_HOST"),
                                   .port = env("DB_PORT"),
                                   .user = env("DB_REPLICATION_USER"),
                                   .password = env("DB_REPLICATION_PASSWORD"),
                                   .dbname = env("DB_NAME"),
                                   .slot = slots[i],
                                   .publication = pubs[i],
                                   .proto_version = 1};
        T.extra[i] = cdc_stream_new(T.loop, &cfg, &cb, (void *)(intptr_t)i);
        if (!T.extra[i])
            fail("cdc_stream_new refused a valid config");
    }
}

/* The held transaction was not confirmed: the slot must not have passed
 * its commit; a new stream (same process) must get it again. Waits for the
 * two failing streams first, so the slot is busy while they try it. */
static void on_hold(uv_timer_t *t) {
    if (T.extra_done < 2) {
        uv_timer_start(t, on_hold, 50, 0);
        return;
    }
    uint64_t cf = slot_confirmed();
    if (cf > T.held_commit)
        fail("the slot moved to %s, past the unconfirmed commit %s", lsn_str(cf), lsn_str(T.held_commit));
    fprintf(stderr, "stream_check: slot at %s, not past the unconfirmed commit %s; reopening\n", lsn_str(cf),
            lsn_str(T.held_commit));
    cdc_stream_close(T.stream);
    T.reopened = 1;
    T.stream = cdc_stream_new(T.loop, &T.cfg, &T.cb, NULL);
    if (!T.stream)
        fail("cdc_stream_new refused a valid config");
}

static void on_streaming(void *ud) {
    (void)ud;
    T.sessions++;
    T.in_txn = 0;
    fprintf(stderr, "stream_check: streaming (session %ld)\n", T.sessions);
    /* The second publication: run names one that does not exist (left
     * out, the stream runs on the first), resume names the messages
     * publication of migration 003/011 (in publication_names). */
    if (cdc_stream_has_second(T.stream) != T.resume)
        fail("second publication %s, expected %s", cdc_stream_has_second(T.stream) ? "in" : "left out",
             T.resume ? "in" : "left out");
    if (T.sessions == 1 && !T.resume) {
        char *tmp = su_value("SELECT temporary FROM pg_replication_slots WHERE slot_name = '" SLOT "'");
        if (!tmp || strcmp(tmp, "f") != 0)
            fail("slot is not permanent (temporary = %s)", tmp ? tmp : "no slot");
        free(tmp);
        T.cf_start = slot_confirmed();
        spawn_writer(); /* only now: a slot sees nothing written before it existed */
    }
    if (T.sessions == 1 && T.resume)
        start_extra_streams(); /* now that this one holds the slot */
}

static void on_lost(void *ud, const char *why) {
    (void)ud;
    T.losses++;
    T.in_txn = 0; /* the server sends that transaction again from its BEGIN */
    fprintf(stderr, "stream_check: lost (%s); confirmed %s\n", why, lsn_str(T.confirmed_max));
}

/* ---- child processes ---------------------------------------------------------------- */

/* Every handle here is static storage: nothing to free when it closes. */
static void closed(uv_handle_t *h) { (void)h; }

static void on_writer_exit(uv_process_t *p, int64_t status, int sig) {
    T.writer_alive = 0;
    uv_close((uv_handle_t *)p, closed);
    if (status != 0 || sig != 0)
        fail("writer exited with status %lld signal %d", (long long)status, sig);
    T.writer_done = 1;
    maybe_finish();
}

static void spawn(uv_process_t *p, char **args, uv_exit_cb cb) {
    uv_stdio_container_t io[3] = {{.flags = UV_IGNORE}, {.flags = UV_IGNORE}, {.flags = UV_INHERIT_FD}};
    io[2].data.fd = 2;
    uv_process_options_t o = {.exit_cb = cb, .file = args[0], .args = args, .stdio_count = 3, .stdio = io};
    int rc = uv_spawn(T.loop, p, &o);
    if (rc != 0)
        fail("spawn %s: %s", args[0], uv_strerror(rc));
}

static void spawn_writer(void) {
    char nbuf[16];
    snprintf(nbuf, sizeof(nbuf), "%d", T.n);
    char *args[] = {T.exe, "writer", T.su_conninfo, nbuf, NULL};
    spawn(&T.writer, args, on_writer_exit);
    T.writer_alive = 1;
}

static void on_restart_exit(uv_process_t *p, int64_t status, int sig) {
    uv_close((uv_handle_t *)p, closed);
    if (status != 0 || sig != 0)
        fail("db.sh %s exited with status %lld", T.restart_step == 1 ? "stop" : "start", (long long)status);
    if (T.restart_step == 1) {
        fprintf(stderr, "stream_check: PostgreSQL stopped; starting it again\n");
        T.restart_step = 2;
        char *args[] = {(char *)env("STREAM_CHECK_DB_SH"),
                        "start",
                        "--dir",
                        (char *)env("DB_DIR"),
                        "--port",
                        (char *)env("DB_PORT"),
                        "--fast",
                        "--no-demo",
                        NULL};
        spawn(&T.starter, args, on_restart_exit);
        return;
    }
    fprintf(stderr, "stream_check: PostgreSQL started again\n");
    T.restart_step = 3;
    maybe_finish();
}

static void maybe_restart(void) {
    if (T.resume || T.restart_step != 0 || T.distinct < T.n / 4)
        return;
    fprintf(stderr, "stream_check: %d ids in, restarting PostgreSQL (confirmed %s)\n", T.distinct,
            lsn_str(T.confirmed_max));
    T.restart_step = 1;
    char *args[] = {(char *)env("STREAM_CHECK_DB_SH"), "stop", "--dir", (char *)env("DB_DIR"), NULL};
    spawn(&T.stopper, args, on_restart_exit);
}

/* ---- the end ---------------------------------------------------------------------- */

static void finish(void) {
    T.phase = PH_DONE;
    cdc_stream_close(T.stream);
    T.stream = NULL;
    uv_close((uv_handle_t *)&T.verify, closed);
    uv_close((uv_handle_t *)&T.deadline, closed);
    uv_close((uv_handle_t *)&T.hold, closed);
}

/* After everything arrived: the slot must catch up with our confirms, then
 * move past WAL the publication does not carry (keepalive confirms). */
static void on_verify(uv_timer_t *t) {
    (void)t;
    uint64_t cf = slot_confirmed();
    if (T.phase == PH_WAIT_CONFIRM && cf >= T.confirmed_max) {
        if (T.resume) {
            fprintf(stderr, "stream_check: slot confirmed_flush_lsn %s\n", lsn_str(cf));
            finish();
            return;
        }
        char *v = su_value("INSERT INTO public.u SELECT generate_series(1, 10);"
                           "SELECT pg_current_wal_insert_lsn()");
        T.keepalive_target = lsn_of(v);
        free(v);
        T.phase = PH_WAIT_KEEPALIVE;
        fprintf(stderr, "stream_check: slot at %s >= confirmed %s; waiting for it to pass %s (unpublished WAL)\n",
                lsn_str(cf), lsn_str(T.confirmed_max), lsn_str(T.keepalive_target));
    } else if (T.phase == PH_WAIT_KEEPALIVE && cf >= T.keepalive_target) {
        if (cf <= T.cf_start)
            fail("confirmed_flush_lsn did not advance: %s then %s", lsn_str(T.cf_start), lsn_str(cf));
        fprintf(stderr, "stream_check: slot confirmed_flush_lsn %s -> %s\n", lsn_str(T.cf_start), lsn_str(cf));
        finish();
    }
}

static void maybe_finish(void) {
    if (T.phase != PH_RUNNING)
        return;
    if (T.resume) {
        if (T.distinct < 1 || T.extra_done < 2 || !T.reopened)
            return;
    } else if (!T.writer_done || T.restart_step != 3 || T.distinct < T.n) {
        return;
    }
    T.phase = PH_WAIT_CONFIRM;
    uv_timer_start(&T.verify, on_verify, 0, 100);
}

static void on_deadline(uv_timer_t *t) {
    (void)t;
    fail("deadline: phase %d, %d of %d ids, writer %s, restart step %d, sessions %ld, slot at %s, confirmed %s",
         (int)T.phase, T.distinct, T.resume ? 1 : T.n, T.writer_done ? "done" : "running", T.restart_step, T.sessions,
         lsn_str(slot_confirmed()), lsn_str(T.confirmed_max));
}

/* ---- modes -------------------------------------------------------------------------- */

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Inserts 1..n in transactions of 1 to 4 rows, paced, retrying through the
 * restart (ON CONFLICT: a retried transaction that had committed inserts
 * nothing, and PostgreSQL 15 sends no empty transactions). Past 3n/4 it
 * waits (pinging) until it has seen the server go away, so the restart
 * always falls while it writes. */
static int writer_main(const char *conninfo, int n) {
    PGconn *c = NULL;
    int id = 1, failures = 0;
    time_t give_up = time(NULL) + DEADLINE_MS / 1000;
    while (id <= n) {
        if (time(NULL) > give_up)
            return 3;
        if (!c) {
            c = PQconnectdb(conninfo);
            if (PQstatus(c) != CONNECTION_OK) {
                PQfinish(c);
                c = NULL;
                failures++;
                sleep_ms(50);
                continue;
            }
        }
        PGresult *r;
        int hi = id + (id * 7) % 4;
        if (hi > n)
            hi = n;
        if (id > 3 * n / 4 && failures == 0) {
            r = PQexec(c, "SELECT 1");
        } else {
            char a[16], b[16];
            snprintf(a, sizeof(a), "%d", id);
            snprintf(b, sizeof(b), "%d", hi);
            const char *params[2] = {a, b};
            r = PQexecParams(c,
                             "INSERT INTO public.t (id, v) SELECT g, 'v' || g FROM generate_series($1::int, $2::int) g "
                             "ON CONFLICT (id) DO NOTHING",
                             2, NULL, params, NULL, NULL, 0);
        }
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
        int was_insert = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok) {
            failures++;
            PQfinish(c);
            c = NULL;
            sleep_ms(50);
            continue;
        }
        if (was_insert)
            id = hi + 1;
        sleep_ms(was_insert ? 2 : 10);
    }
    PQfinish(c);
    fprintf(stderr, "stream_check: writer inserted %d ids; %d attempts failed during the restart\n", n, failures);
    return failures > 0 ? 0 : 4;
}

static void check_bad_configs(void) {
    static const struct {
        const char *slot, *pub;
        int proto;
    } bad[] = {
        {"Bad_Slot", "supabase_realtime", 1},
        {"a;DROP", "supabase_realtime", 1},
        {"", "supabase_realtime", 1},
        {"s", "pub'x", 1},
        {"s", "pub\"x", 1},
        {"s", "", 1},
        {"s", "supabase_realtime", 0},
        {"s", "supabase_realtime", 5},
        {"a234567890123456789012345678901234567890123456789012345678901234", "supabase_realtime", 1},
    };
    cdc_stream_cb_t cb = {0};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cdc_stream_config_t cfg = {.slot = bad[i].slot, .publication = bad[i].pub, .proto_version = bad[i].proto};
        if (cdc_stream_new(T.loop, &cfg, &cb, NULL) != NULL)
            fail("config %zu (slot '%s', publication '%s', proto %d) was accepted", i, bad[i].slot, bad[i].pub,
                 bad[i].proto);
    }
}

static void setup_run(void) {
    char *v = su_value("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" SLOT "'");
    if (!v || strcmp(v, "0") != 0)
        fail("run expects a cluster without the slot " SLOT);
    free(v);
    free(su_value("DROP TABLE IF EXISTS public.t, public.u;"
                  "CREATE TABLE public.t (id int PRIMARY KEY, v text);"
                  "CREATE TABLE public.u (id int);"
                  "ALTER PUBLICATION supabase_realtime ADD TABLE public.t"));
}

static void setup_resume(void) {
    char *v = su_value("SELECT 'temporary=' || temporary || ' confirmed_flush_lsn=' || confirmed_flush_lsn "
                       "FROM pg_replication_slots WHERE slot_name = '" SLOT "'");
    if (!v || strncmp(v, "temporary=false ", 16) != 0)
        fail("the slot did not survive the first run as a permanent slot (%s)", v ? v : "absent");
    fprintf(stderr, "stream_check: slot still there: %s\n", v);
    free(v);
    char sql[128];
    snprintf(sql, sizeof(sql), "INSERT INTO public.t VALUES (%d, 'written while nobody streamed')", T.n + 1);
    free(su_value(sql));
}

static void verdict(void) {
    if (T.resume) {
        if (T.distinct != 1 || T.seen[T.n + 1] != 1 || T.norder != 1 || T.seen_raw[T.n + 1] != 2)
            fail("resume: expected id %d twice (held, then again), got %d ids, %d arrivals", T.n + 1, T.norder,
                 T.seen_raw[T.n + 1]);
        char *v = su_value("SELECT string_agg(slot_name, ',') FROM pg_replication_slots");
        if (!v || strcmp(v, SLOT) != 0)
            fail("slots after resume: %s (a stream created one it should not have)", v ? v : "none");
        free(v);
        printf("stream_check resume: OK (id %d written while down arrived, nothing older; slot reused; "
               "unconfirmed, it stayed behind the slot and came again to a new stream; busy slot and missing "
               "publication reported through on_lost)\n",
               T.n + 1);
        return;
    }
    for (int id = 1; id <= T.n; id++) {
        if (T.seen_raw[id] < 1)
            fail("id %d never arrived", id);
        if (T.seen[id] != 1)
            fail("id %d arrived %d times after dedup", id, T.seen[id]);
    }
    if (T.norder != T.n)
        fail("%d deliveries after dedup for %d ids", T.norder, T.n);
    for (int i = 0; i < T.n; i++)
        if (T.order[i] != i + 1)
            fail("position %d holds id %d: not in commit order", i, T.order[i]);
    if (T.sessions < 2 || T.losses < 1)
        fail("the stream did not reconnect by itself (sessions %ld, losses %ld)", T.sessions, T.losses);
    if (T.inserts != T.n + T.dup_inserts)
        fail("%ld INSERT messages, expected %d + %ld repeated", T.inserts, T.n, T.dup_inserts);
    printf("stream_check run: OK (%d ids in %ld transactions, each once after dedup, in commit order; "
           "%ld sessions, %ld failures seen; %ld transactions / %ld inserts repeated after the restart and "
           "skipped; slot permanent, confirmed_flush_lsn advanced to %s)\n",
           T.n, T.txns, T.sessions, T.losses, T.dup_txns, T.dup_inserts, lsn_str(slot_confirmed()));
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "writer") == 0)
        return writer_main(argv[2], atoi(argv[3]));
    if (argc != 3 || (strcmp(argv[1], "run") != 0 && strcmp(argv[1], "resume") != 0)) {
        fprintf(stderr, "usage: stream_check run|resume N\n");
        return 2;
    }
    T.resume = strcmp(argv[1], "resume") == 0;
    T.n = atoi(argv[2]);
    if (T.n < 8 || T.n > 1000000)
        fail("N must be in 8..1000000");
    T.seen_raw = xcalloc((size_t)T.n + 2, sizeof(int));
    T.seen = xcalloc((size_t)T.n + 2, sizeof(int));
    T.order = xcalloc((size_t)T.n + 2, sizeof(int));
    size_t exelen = sizeof(T.exe);
    if (uv_exepath(T.exe, &exelen) != 0)
        fail("uv_exepath");
    snprintf(T.su_conninfo, sizeof(T.su_conninfo), "host=%s port=%s user=postgres dbname=%s", env("DB_SOCKET_DIR"),
             env("DB_PORT"), env("DB_NAME"));

    T.loop = uv_default_loop();
    check_bad_configs();
    if (T.resume)
        setup_resume();
    else
        setup_run();

    T.cfg = (cdc_stream_config_t){
        .host = env("DB_HOST"),
        .port = env("DB_PORT"),
        .user = env("DB_REPLICATION_USER"),
        .password = env("DB_REPLICATION_PASSWORD"),
        .dbname = env("DB_NAME"),
        .slot = SLOT,
        .publication = "supabase_realtime",
        .publication2 = T.resume ? "supabase_realtime_messages_publication" : "no_such_publication",
        .proto_version = T.resume ? 1 : 2,
        .streaming = !T.resume,
        .status_interval_ms = 250,
    };
    T.cb = (cdc_stream_cb_t){on_message, on_streaming, on_lost};
    T.stream = cdc_stream_new(T.loop, &T.cfg, &T.cb, NULL);
    if (!T.stream)
        fail("cdc_stream_new refused a valid config");
    uv_timer_init(T.loop, &T.deadline);
    uv_timer_init(T.loop, &T.verify);
    uv_timer_init(T.loop, &T.hold);
    uv_timer_start(&T.deadline, on_deadline, DEADLINE_MS, 0);

    uv_run(T.loop, UV_RUN_DEFAULT);
    if (T.phase != PH_DONE)
        fail("the loop ended early");
    verdict();
    if (uv_loop_close(T.loop) != 0)
        fail("handles left open");
    free(T.seen_raw);
    free(T.seen);
    free(T.order);
    free(T.cur_ids);
    return 0;
}
