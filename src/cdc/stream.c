/*
 * cdc/stream: see stream.h.
 *
 * Owns one replication connection at a time and its life on the loop:
 *   connect (PQconnectPoll) -> IDENTIFY_SYSTEM -> slot/publication check
 *   -> CREATE_REPLICATION_SLOT when missing -> START_REPLICATION -> COPY BOTH
 * Every step is sent with PQsendQuery and read when the socket is readable,
 * so the loop never waits on PostgreSQL. Any failure ends the connection
 * (PQfinish) and schedules a new attempt with backoff; the slot keeps what
 * was not confirmed. It never decodes pgoutput, never drops or recreates a
 * slot it did not just create (an invalidated slot is the operator's call),
 * and never reports a flush position the caller did not hand on.
 *
 * The walsender of PostgreSQL 15 takes simple queries only (the extended
 * protocol is refused on replication connections), so the slot and
 * publication names go into the command text: they are checked against
 * small character sets in cdc_stream_new, which makes quoting trivial.
 */
#include "cdc/stream.h"

#include <ctype.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "db/pqwatch.h"
#include "util/log.h"
#include "util/mem.h"

#define CONNECT_TIMEOUT_MS 10000 /* PQconnectPoll has no deadline of its own */
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
#define PG_EPOCH_UNIX 946684800LL /* 2000-01-01T00:00:00Z */

typedef enum {
    ST_WAIT,       /* retry timer armed */
    ST_CONNECTING, /* PQconnectPoll; retry timer is the deadline */
    ST_IDENTIFY,
    ST_CHECK, /* slot and publication lookup */
    ST_CREATE,
    ST_START, /* START_REPLICATION sent, waiting for COPY BOTH */
    ST_STREAMING,
    ST_CLOSED,
} st_t;

struct cdc_stream {
    uv_loop_t *loop;
    cdc_stream_cb_t cb;
    void *ud;
    char *host, *port, *user, *password, *dbname, *slot, *publication, *publication2;
    int proto_version, streaming, status_interval_ms;
    int second_exists; /* 1: the lookup found publication2, it is in publication_names; -1: not (warned) */

    st_t state;
    PGconn *pg;
    pq_watch_t watch;  /* follows PQsocket */
    uv_timer_t retry;  /* backoff, or the connect deadline */
    uv_timer_t status; /* standby status updates while streaming */
    uv_timer_t kick;   /* resumes reading from the loop after a pause */
    int open_handles;  /* the memory goes when all three timers are closed */
    int paused;        /* the caller is behind: read nothing (WAL waits in PostgreSQL) */
    int backoff_ms;
    PGresult *res; /* the result kept for the running command */
    char dbname_seen[64];

    uint64_t received;  /* highest WAL end seen in XLogData or keepalive */
    uint64_t data_end;  /* highest WAL end of an XLogData */
    uint64_t confirmed; /* highest cdc_stream_confirm */
    uint64_t floor;     /* the slot's confirmed_flush_lsn when this session started */
    uint64_t xlogpos;   /* the server's WAL position at IDENTIFY_SYSTEM */
    uint64_t hold;      /* cdc_stream_hold: never confirm past it (while holding) */
    int holding;
    int status_pending; /* a status update did not fit the output buffer */
};

static void connect_start(cdc_stream_t *s);
static void on_retry(uv_timer_t *t);
static void on_poll(uv_poll_t *h, int status, int events);

/* ---- small helpers ---------------------------------------------------------- */

void cdc_lsn_text(uint64_t lsn, char out[24]) {
    snprintf(out, 24, "%" PRIX32 "/%" PRIX32, (uint32_t)(lsn >> 32), (uint32_t)lsn);
}

/* One half of an LSN at *t: 1 to 8 hex digits, *t moved past them. -1
 * otherwise (sscanf's %X, used before, would take a sign or blanks and
 * overflow without telling). */
static int lsn_half(const char **t, uint32_t *out) {
    uint32_t v = 0;
    int n = 0;
    for (; n < 9 && isxdigit((unsigned char)**t); n++, (*t)++) {
        char c = **t;
        v = (v << 4) | (uint32_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    if (n == 0 || n > 8)
        return -1;
    *out = v;
    return 0;
}

/* "16/B374D848" -> lsn; 0 when unparsable (0 means "none" everywhere here). */
static uint64_t lsn_parse(const char *t) {
    uint32_t hi, lo;
    if (!t || lsn_half(&t, &hi) < 0 || *t++ != '/' || lsn_half(&t, &lo) < 0 || *t)
        return 0;
    return ((uint64_t)hi << 32) | lo;
}

static uint64_t get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* Server text goes into JSON log lines and into `why`: keep its first line
 * and replace what would need escaping. */
static void clean_text(const char *in, char *out, size_t n) {
    size_t i = 0;
    for (; in && *in && *in != '\n' && i + 1 < n; in++)
        out[i++] = (*in == '"' || *in == '\\') ? '\'' : ((unsigned char)*in < 0x20 ? ' ' : *in);
    out[i] = '\0';
}

static int valid_name(const char *n, int upper_ok) {
    size_t len = n ? strlen(n) : 0;
    if (len == 0 || len > 63)
        return 0;
    for (const char *p = n; *p; p++) {
        int ok =
            (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || (upper_ok && *p >= 'A' && *p <= 'Z');
        if (!ok)
            return 0;
    }
    return 1;
}

/* ---- polling ---------------------------------------------------------------- */

static void unwatch(cdc_stream_t *s) { pq_unwatch(&s->watch); }

static int watch(cdc_stream_t *s, int events) { return pq_watch(&s->watch, s->pg, events, s->state == ST_CONNECTING); }

/* ---- connection life -------------------------------------------------------- */

static void on_closed(uv_handle_t *h) {
    cdc_stream_t *s = h->data;
    if (--s->open_handles > 0)
        return;
    free(s->host);
    free(s->port);
    free(s->user);
    free(s->password);
    free(s->dbname);
    free(s->slot);
    free(s->publication);
    free(s->publication2);
    free(s);
}

static void drop_conn(cdc_stream_t *s) {
    unwatch(s);
    PQclear(s->res);
    s->res = NULL;
    if (s->pg)
        PQfinish(s->pg);
    s->pg = NULL;
    s->status_pending = 0;
}

/* The attempt or the stream failed: log, drop the connection, schedule the
 * next try, then tell the caller, last, since it may close us. detail is
 * the server's word (NULL: libpq's last error). */
static void lost(cdc_stream_t *s, const char *what, const char *detail) {
    char clean[200], why[320], conf[24];
    clean_text(detail ? detail : (s->pg ? PQerrorMessage(s->pg) : ""), clean, sizeof(clean));
    if (clean[0])
        snprintf(why, sizeof(why), "%s: %s", what, clean);
    else
        snprintf(why, sizeof(why), "%s", what);
    int was_streaming = s->state == ST_STREAMING;
    drop_conn(s);
    uv_timer_stop(&s->status);
    s->state = ST_WAIT;
    s->backoff_ms =
        s->backoff_ms ? (s->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : s->backoff_ms * 2) : BACKOFF_FIRST_MS;
    uv_timer_start(&s->retry, on_retry, (uint64_t)s->backoff_ms, 0);
    cdc_lsn_text(s->confirmed, conf);
    log_warn(was_streaming ? "replication stream lost" : "replication connect failed",
             "\"slot\":\"%s\",\"reason\":\"%s\",\"confirmed\":\"%s\",\"retry_ms\":%d", s->slot, why, conf,
             s->backoff_ms);
    if (s->cb.on_lost)
        s->cb.on_lost(s->ud, why);
}

/* While paused and streaming, the socket is not watched for reading: the
 * kernel's buffer fills, the WAL sender blocks, and the WAL stays in
 * PostgreSQL, which is the spill for a large burst. Status updates still
 * go out on their timer, so the WAL sender does not time us out. */
static int read_events(const cdc_stream_t *s) { return s->paused && s->state == ST_STREAMING ? 0 : UV_READABLE; }

static void flush_out(cdc_stream_t *s) {
    int f = PQflush(s->pg);
    int ev = (f == 1 ? UV_WRITABLE : 0) | read_events(s);
    if (f < 0)
        lost(s, "write failed", NULL);
    else if (!ev)
        unwatch(s);
    else if (watch(s, ev) < 0)
        lost(s, "cannot watch the socket", "");
}

/* Sends one replication command (simple query protocol: the only one a
 * walsender takes); its result is read in cmd_read. */
static void send_cmd(cdc_stream_t *s, st_t next, const char *sql) {
    s->state = next;
    if (!PQsendQuery(s->pg, sql)) {
        lost(s, "send failed", NULL);
        return;
    }
    flush_out(s);
}

static void connect_step(cdc_stream_t *s) {
    switch (PQconnectPoll(s->pg)) {
    case PGRES_POLLING_READING:
        if (watch(s, UV_READABLE) < 0)
            lost(s, "cannot watch the socket", "");
        return;
    case PGRES_POLLING_WRITING:
        if (watch(s, UV_WRITABLE) < 0)
            lost(s, "cannot watch the socket", "");
        return;
    case PGRES_POLLING_OK:
        uv_timer_stop(&s->retry);
        if (PQsetnonblocking(s->pg, 1) != 0) {
            lost(s, "cannot make the connection non-blocking", NULL);
            return;
        }
        send_cmd(s, ST_IDENTIFY, "IDENTIFY_SYSTEM");
        return;
    default: lost(s, "connect failed", NULL); return;
    }
}

/* The decoder reads timestamps, intervals, floats and bytea in their text
 * forms: the settings those forms depend on. */
#define OPTIONS "-c datestyle=ISO -c timezone=UTC -c intervalstyle=postgres -c extra_float_digits=3 -c bytea_output=hex"

static void connect_start(cdc_stream_t *s) {
    const char *keys[] = {"host",    "port", "user", "password", "dbname", "replication", "application_name",
                          "options", NULL};
    const char *vals[] = {s->host, s->port, s->user, s->password, s->dbname, "database", "techcare-realtime-cdc",
                          OPTIONS, NULL};
    s->state = ST_CONNECTING;
    s->pg = PQconnectStartParams(keys, vals, 0);
    if (!s->pg || PQstatus(s->pg) == CONNECTION_BAD) {
        lost(s, "connect failed", NULL);
        return;
    }
    uv_timer_start(&s->retry, on_retry, CONNECT_TIMEOUT_MS, 0);
    connect_step(s);
}

/* Backoff over (ST_WAIT), or the connect deadline passed (ST_CONNECTING). */
static void on_retry(uv_timer_t *t) {
    cdc_stream_t *s = t->data;
    if (s->state == ST_WAIT)
        connect_start(s);
    else if (s->state == ST_CONNECTING)
        lost(s, "connect timed out", "");
}

/* ---- standby status updates --------------------------------------------------- */

static int64_t now_pg_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((int64_t)ts.tv_sec - PG_EPOCH_UNIX) * 1000000 + ts.tv_nsec / 1000;
}

/* Queues a status update ('r'). flush (and apply, the same here) is what
 * the caller confirmed, capped at what arrived; once everything received
 * is confirmed, it is all that arrived, keepalive positions included
 * (stream.h says why that is safe). Never below the slot's position at the
 * start of the session: PostgreSQL 15 would move the slot back. Returns
 * PQputCopyData's answer: 1 queued, 0 no room yet, -1 failed. */
static int put_status(cdc_stream_t *s, int reply) {
    uint64_t flush = s->confirmed >= s->data_end ? s->received : s->confirmed;
    if (flush > s->received)
        flush = s->received;
    if (flush < s->floor)
        flush = s->floor;
    if (s->holding && flush > s->hold)
        flush = s->hold;
    if (flush < s->floor)
        flush = s->floor;
    uint64_t write = s->received > flush ? s->received : flush;
    /* The answer to a keepalive that asks for one reports no flush
     * position (InvalidXLogRecPtr, as pg_receivewal does when it does not
     * fsync): the walsender then counts what we received as replicated.
     * A PostgreSQL shutdown waits until the position it reads there
     * reaches all it sent; what we confirm may stay far behind on purpose
     * (the history's window), and must not hold a shutdown. The slot
     * still moves with the periodic updates, which carry it. */
    if (reply && flush < write)
        flush = 0;
    uint8_t m[34];
    m[0] = 'r';
    put_u64(m + 1, write);
    put_u64(m + 9, flush);
    put_u64(m + 17, flush);
    put_u64(m + 25, (uint64_t)now_pg_us());
    m[33] = 0; /* no reply requested */
    return PQputCopyData(s->pg, (const char *)m, (int)sizeof(m));
}

static void send_status(cdc_stream_t *s, int reply) {
    int r = put_status(s, reply);
    if (r < 0) {
        lost(s, "write failed", NULL);
        return;
    }
    s->status_pending = r == 0; /* retried when the socket is writable */
    flush_out(s);
}

static void on_status_timer(uv_timer_t *t) {
    cdc_stream_t *s = t->data;
    if (s->state == ST_STREAMING)
        send_status(s, 0);
}

/* ---- streaming ------------------------------------------------------------------ */

/* One CopyData message. Returns 0 when the stream is no longer running
 * (failed, or closed by a callback). */
static int copy_data(cdc_stream_t *s, const uint8_t *p, size_t n) {
    if (n >= 25 && p[0] == 'w') { /* XLogData: start, end, send time, payload */
        uint64_t start = get_u64(p + 1), end = get_u64(p + 9);
        if (end > s->data_end)
            s->data_end = end;
        if (end > s->received)
            s->received = end;
        if (s->cb.on_message)
            s->cb.on_message(s->ud, start, p + 25, n - 25);
        return s->state == ST_STREAMING;
    }
    if (n >= 18 && p[0] == 'k') { /* keepalive: end, send time, reply requested */
        uint64_t end = get_u64(p + 1);
        if (end > s->received)
            s->received = end;
        if (p[17])
            send_status(s, 1);
        return s->state == ST_STREAMING;
    }
    lost(s, "unexpected replication message", "");
    return 0;
}

/* The server left COPY mode: an error (slot invalidated, publication
 * dropped...) or its shutdown. Take its reason if it is already here. */
static void stream_ended(cdc_stream_t *s) {
    char detail[200] = "";
    if (!PQisBusy(s->pg)) {
        PGresult *r = PQgetResult(s->pg);
        if (r && PQresultStatus(r) == PGRES_FATAL_ERROR)
            clean_text(PQresultErrorMessage(r), detail, sizeof(detail));
        PQclear(r);
    }
    lost(s, "server ended the replication stream", detail);
}

/* Delivers every complete message libpq holds. A read that failed still
 * lets through what arrived before it: fewer repeats after the reconnect. */
static void stream_read(cdc_stream_t *s) {
    if (s->paused)
        return;
    int alive = PQconsumeInput(s->pg);
    while (!s->paused) {
        char *buf = NULL;
        int n = PQgetCopyData(s->pg, &buf, 1);
        if (n == 0) {
            if (!alive)
                lost(s, "read failed", NULL);
            return;
        }
        if (n == -1) {
            stream_ended(s);
            return;
        }
        if (n < 0) {
            lost(s, "replication stream failed", NULL);
            return;
        }
        int going = copy_data(s, (const uint8_t *)buf, (size_t)n);
        PQfreemem(buf);
        if (!going)
            return;
    }
}

static void stream_started(cdc_stream_t *s) {
    char from[24];
    s->state = ST_STREAMING;
    s->backoff_ms = 0;
    cdc_lsn_text(s->floor, from);
    log_info("replication stream started",
             "\"slot\":\"%s\",\"publication\":\"%s\",\"publication2\":\"%s\",\"proto_version\":%d,\"streaming\":%s,"
             "\"from\":\"%s\"",
             s->slot, s->publication, s->second_exists == 1 ? s->publication2 : "", s->proto_version,
             s->streaming && s->proto_version >= 2 ? "true" : "false", from);
    uv_timer_start(&s->status, on_status_timer, (uint64_t)s->status_interval_ms, (uint64_t)s->status_interval_ms);
    if (s->paused) {
        flush_out(s); /* stop watching for reads: a readable socket nobody reads would spin the loop */
        if (s->state != ST_STREAMING)
            return;
    }
    if (s->cb.on_streaming)
        s->cb.on_streaming(s->ud);
    /* The first XLogData may have come in the same read as the
     * CopyBothResponse: the socket will not say so again. */
    if (s->state == ST_STREAMING)
        stream_read(s);
}

/* ---- the commands before streaming ----------------------------------------------- */

static void send_check(cdc_stream_t *s) {
    char sql[640];
    snprintf(sql, sizeof(sql),
             "SELECT EXISTS (SELECT FROM pg_catalog.pg_publication WHERE pubname = '%s'), s.slot_type, s.plugin, "
             "s.database, s.temporary, s.confirmed_flush_lsn, s.wal_status, "
             "EXISTS (SELECT FROM pg_catalog.pg_publication WHERE pubname = '%s') "
             "FROM (VALUES (1)) v LEFT JOIN pg_catalog.pg_replication_slots s ON s.slot_name = '%s'",
             s->publication, s->publication2 ? s->publication2 : "", s->slot);
    send_cmd(s, ST_CHECK, sql);
}

static void send_start(cdc_stream_t *s) {
    char sql[640], second[80] = "";
    /* A publication that does not exist would fail the decoding at its
     * first change, not here: only one the lookup found is named. */
    if (s->second_exists == 1)
        snprintf(second, sizeof(second), ",\"%s\"", s->publication2);
    snprintf(sql, sizeof(sql),
             "START_REPLICATION SLOT %s LOGICAL 0/0 (proto_version '%d', publication_names '\"%s\"%s', messages "
             "'true'%s)",
             s->slot, s->proto_version, s->publication, second,
             s->streaming && s->proto_version >= 2 ? ", streaming 'on'" : "");
    send_cmd(s, ST_START, sql);
}

static int result_is(cdc_stream_t *s, const PGresult *r, ExecStatusType want, const char *what) {
    if (r && PQresultStatus(r) == want)
        return 1;
    lost(s, what, r ? PQresultErrorMessage(r) : "no result");
    return 0;
}

static void identified(cdc_stream_t *s, const PGresult *r) {
    if (!result_is(s, r, PGRES_TUPLES_OK, "IDENTIFY_SYSTEM failed"))
        return;
    if (PQntuples(r) != 1 || PQnfields(r) < 4 || PQgetisnull(r, 0, 3)) {
        lost(s, "IDENTIFY_SYSTEM failed", "not a replication=database connection");
        return;
    }
    char sysid[32], tli[16], pos[24];
    clean_text(PQgetvalue(r, 0, 0), sysid, sizeof(sysid));
    clean_text(PQgetvalue(r, 0, 1), tli, sizeof(tli));
    clean_text(PQgetvalue(r, 0, 2), pos, sizeof(pos));
    clean_text(PQgetvalue(r, 0, 3), s->dbname_seen, sizeof(s->dbname_seen));
    s->xlogpos = lsn_parse(pos);
    log_info("replication connected",
             "\"slot\":\"%s\",\"systemid\":\"%s\",\"timeline\":\"%s\",\"xlogpos\":\"%s\","
             "\"dbname\":\"%s\"",
             s->slot, sysid, tli, pos, s->dbname_seen);
    send_check(s);
}

/* The lookup row: publication exists?, then the slot's columns, all NULL
 * when there is no such slot. */
static void checked(cdc_stream_t *s, const PGresult *r) {
    if (!result_is(s, r, PGRES_TUPLES_OK, "slot lookup failed"))
        return;
    if (PQntuples(r) != 1 || PQnfields(r) != 8) {
        lost(s, "slot lookup failed", "unexpected result");
        return;
    }
    if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
        lost(s, "publication does not exist", s->publication);
        return;
    }
    int second = s->publication2 && strcmp(PQgetvalue(r, 0, 7), "t") == 0;
    if (s->publication2 && !second && s->second_exists != -1)
        log_warn("publication does not exist: streaming without it", "\"publication\":\"%s\"", s->publication2);
    s->second_exists = second ? 1 : -1; /* -1: warned once */
    if (PQgetisnull(r, 0, 1)) {
        char sql[160];
        snprintf(sql, sizeof(sql), "CREATE_REPLICATION_SLOT %s LOGICAL pgoutput (SNAPSHOT 'nothing')", s->slot);
        send_cmd(s, ST_CREATE, sql);
        return;
    }
    const char *problem = NULL;
    if (strcmp(PQgetvalue(r, 0, 1), "logical") != 0)
        problem = "it is not a logical slot";
    else if (strcmp(PQgetvalue(r, 0, 2), "pgoutput") != 0)
        problem = "it uses another output plugin";
    else if (strcmp(PQgetvalue(r, 0, 3), s->dbname_seen) != 0)
        problem = "it belongs to another database";
    else if (strcmp(PQgetvalue(r, 0, 4), "f") != 0)
        problem = "it is another session's temporary slot";
    else if (strcmp(PQgetvalue(r, 0, 6), "lost") == 0)
        problem = "it was invalidated (its WAL is gone, max_slot_wal_keep_size); drop it to start over";
    if (problem) {
        lost(s, "replication slot unusable", problem);
        return;
    }
    s->floor = lsn_parse(PQgetvalue(r, 0, 5));
    send_start(s);
}

static void created(cdc_stream_t *s, const PGresult *r) {
    if (r && PQresultStatus(r) == PGRES_FATAL_ERROR) {
        const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (code && strcmp(code, "42710") == 0) { /* duplicate_object: another instance won the race */
            send_check(s);
            return;
        }
    }
    if (!result_is(s, r, PGRES_TUPLES_OK, "CREATE_REPLICATION_SLOT failed"))
        return;
    if (PQntuples(r) != 1 || PQnfields(r) < 2) {
        lost(s, "CREATE_REPLICATION_SLOT failed", "unexpected result");
        return;
    }
    char point[24];
    clean_text(PQgetvalue(r, 0, 1), point, sizeof(point));
    s->floor = lsn_parse(point);
    log_info("replication slot created", "\"slot\":\"%s\",\"plugin\":\"pgoutput\",\"consistent_point\":\"%s\"", s->slot,
             point);
    send_start(s);
}

/* A command's results are all in (PQgetResult said NULL). */
static void cmd_done(cdc_stream_t *s) {
    PGresult *r = s->res;
    s->res = NULL;
    switch (s->state) {
    case ST_IDENTIFY: identified(s, r); break;
    case ST_CHECK: checked(s, r); break;
    case ST_CREATE: created(s, r); break;
    default: /* ST_START ended without entering COPY BOTH */
        result_is(s, r, PGRES_COPY_BOTH, "START_REPLICATION failed");
        break;
    }
    PQclear(r);
}

static void cmd_read(cdc_stream_t *s) {
    if (!PQconsumeInput(s->pg)) {
        lost(s, "read failed", NULL);
        return;
    }
    while (!PQisBusy(s->pg)) {
        PGresult *r = PQgetResult(s->pg);
        if (!r) {
            cmd_done(s);
            return;
        }
        if (PQresultStatus(r) == PGRES_COPY_BOTH) {
            PQclear(r);
            stream_started(s);
            return;
        }
        /* Keep the first error, else the last result. */
        if (s->res && PQresultStatus(s->res) == PGRES_FATAL_ERROR) {
            PQclear(r);
        } else {
            PQclear(s->res);
            s->res = r;
        }
    }
}

static void on_poll(uv_poll_t *h, int status, int events) {
    cdc_stream_t *s = h->data;
    if (status < 0) {
        lost(s, "poll error", uv_strerror(status));
        return;
    }
    if (s->state == ST_CONNECTING) {
        connect_step(s);
        return;
    }
    st_t st = s->state;
    if (events & UV_WRITABLE) {
        flush_out(s);
        if (s->state != st)
            return;
        if (st == ST_STREAMING && s->status_pending) {
            send_status(s, 1);
            if (s->state != st)
                return;
        }
    }
    if (events & UV_READABLE) {
        if (st == ST_STREAMING)
            stream_read(s);
        else
            cmd_read(s);
    }
}

/* ---- public ------------------------------------------------------------------------ */

int cdc_stream_has_second(const cdc_stream_t *s) { return s->state == ST_STREAMING && s->second_exists == 1; }

static char *dup_or_null(const char *v) { return v ? xstrdup(v) : NULL; }

cdc_stream_t *cdc_stream_new(uv_loop_t *loop, const cdc_stream_config_t *cfg, const cdc_stream_cb_t *cb, void *ud) {
    char shown[64];
    if (!valid_name(cfg->slot, 0)) {
        clean_text(cfg->slot ? cfg->slot : "", shown, sizeof(shown));
        log_error("invalid replication slot name", "\"slot\":\"%s\",\"allowed\":\"[a-z0-9_]{1,63}\"", shown);
        return NULL;
    }
    if (!valid_name(cfg->publication, 1)) {
        clean_text(cfg->publication ? cfg->publication : "", shown, sizeof(shown));
        log_error("invalid publication name", "\"publication\":\"%s\",\"allowed\":\"[A-Za-z0-9_]{1,63}\"", shown);
        return NULL;
    }
    if (cfg->publication2 && cfg->publication2[0] && !valid_name(cfg->publication2, 1)) {
        clean_text(cfg->publication2, shown, sizeof(shown));
        log_error("invalid publication name", "\"publication\":\"%s\",\"allowed\":\"[A-Za-z0-9_]{1,63}\"", shown);
        return NULL;
    }
    if (cfg->proto_version < 1 || cfg->proto_version > 4) {
        log_error("invalid pgoutput proto_version", "\"proto_version\":%d", cfg->proto_version);
        return NULL;
    }
    cdc_stream_t *s = xcalloc(1, sizeof(*s));
    s->loop = loop;
    if (cb)
        s->cb = *cb;
    s->ud = ud;
    s->host = dup_or_null(cfg->host);
    s->port = dup_or_null(cfg->port);
    s->user = dup_or_null(cfg->user);
    s->password = dup_or_null(cfg->password);
    s->dbname = dup_or_null(cfg->dbname);
    s->slot = xstrdup(cfg->slot);
    s->publication = xstrdup(cfg->publication);
    s->publication2 = cfg->publication2 && cfg->publication2[0] ? xstrdup(cfg->publication2) : NULL;
    s->proto_version = cfg->proto_version;
    s->streaming = cfg->streaming;
    s->status_interval_ms = cfg->status_interval_ms > 0 ? cfg->status_interval_ms : 1000;
    uv_timer_init(loop, &s->retry);
    uv_timer_init(loop, &s->status);
    pq_watch_init(&s->watch, loop, on_poll, s);
    s->retry.data = s->status.data = s;
    uv_timer_init(loop, &s->kick);
    s->kick.data = s;
    s->open_handles = 3;
    /* Connect from the loop, so no callback runs before the caller has s. */
    s->state = ST_WAIT;
    uv_timer_start(&s->retry, on_retry, 0, 0);
    return s;
}

uint64_t cdc_stream_start_lsn(const cdc_stream_t *s) { return s->floor; }

uint64_t cdc_stream_received(const cdc_stream_t *s) { return s->received; }

uint64_t cdc_stream_wal_end(const cdc_stream_t *s) { return s->received > s->xlogpos ? s->received : s->xlogpos; }

void cdc_stream_hold(cdc_stream_t *s, uint64_t lsn) {
    s->holding = 1;
    s->hold = lsn;
}

void cdc_stream_confirm(cdc_stream_t *s, uint64_t lsn) {
    if (lsn > s->confirmed)
        s->confirmed = lsn;
}

void cdc_stream_close(cdc_stream_t *s) {
    if (!s || s->state == ST_CLOSED)
        return;
    /* Best effort, without waiting: the walsender reads it before our
     * Terminate, so the slot has the last confirm when the next run starts. */
    if (s->state == ST_STREAMING && put_status(s, 0) > 0)
        (void)PQflush(s->pg);
    s->state = ST_CLOSED;
    drop_conn(s);
    uv_close((uv_handle_t *)&s->retry, on_closed);
    uv_close((uv_handle_t *)&s->status, on_closed);
    uv_close((uv_handle_t *)&s->kick, on_closed);
}

/* libpq may already hold whole messages that arrived before the pause: the
 * socket will not say so again, so read them from the loop (not inside the
 * caller, which may be in the middle of its own work). */
static void on_kick(uv_timer_t *t) {
    cdc_stream_t *s = t->data;
    if (s->state == ST_STREAMING && !s->paused)
        stream_read(s);
}

void cdc_stream_pause(cdc_stream_t *s, int paused) {
    if (!s || s->state == ST_CLOSED || s->paused == !!paused)
        return;
    s->paused = !!paused;
    if (s->state != ST_STREAMING)
        return;
    if (paused) {
        /* keep watching for writability only if output is waiting */
        if (s->status_pending)
            (void)watch(s, UV_WRITABLE);
        else
            unwatch(s);
        return;
    }
    if (watch(s, UV_READABLE | (s->status_pending ? UV_WRITABLE : 0)) < 0) {
        lost(s, "cannot watch the socket", "");
        return;
    }
    uv_timer_start(&s->kick, on_kick, 0, 0);
}
