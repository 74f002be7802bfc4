/*
 * tc-loadgen: the client side of the fan-out benchmark. It opens thousands
 * of WebSocket connections to one server (TechCare Realtime, nchan or the
 * Node `ws` peer), joins them to channels, measures connect and join rates,
 * the server's memory per idle connection, then has a few connections per
 * channel publish while every subscriber counts deliveries and the latency
 * carried in each payload.
 *
 * It owns only its sockets and its counters. It must never become the thing
 * it measures: each thread runs one epoll loop over non-blocking sockets,
 * parses frame headers only, touches a payload just to find "t":<ns>, and
 * never allocates per message. All connections of a channel live on one
 * thread, so the per-channel window counters need no atomics. It never
 * judges a number good or bad; it prints them.
 *
 * --pg-changes turns it into the client side of the Postgres Changes
 * benchmark (bench/cdc.sh): each connection is one TechCare user joined to
 * its role's channels, and a writer thread commits rows through libpq whose
 * "t=<ns>" stamps the receivers read back (see the section at the end).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "auth/jwt.h"
#include "proto/msg.h"
#include "util/buf.h"
#include "util/mem.h"
#include "ws/frame.h"

/* ---- options ---------------------------------------------------------- */

typedef enum { TGT_TECHCARE, TGT_NCHAN, TGT_WS } target_t;

#define MAX_PIDS 8

static struct {
    target_t target;
    const char *target_name;
    char host[64];
    int port;
    int conns;
    int per_channel;
    int pubs;
    double rate;         /* publishes/s per channel; 0 = windowed, as fast as accepted */
    double latency_rate; /* second fan-out phase at this fixed rate; 0 = none */
    double duration;
    double warmup;
    const char *secret;
    int chans_per_conn;
    int threads;
    int pids[MAX_PIDS];
    int npids;
    int idle;
    int csv;
    int window;
    int binary;
    int source_ips;
    int connect_conc;
    int hb_interval_s;
    int quiet;
    /* --pg-changes mode */
    int pgc;
    const char *db;     /* libpq conninfo: the superuser, for the users and the writer */
    double change_rate; /* changes/s committed by the writer */
    int mix[3];         /* % customers, technicians, admins */
    int wmix[4];        /* writer mix: messages, bids, booking updates, booking inserts */
    int inflight;       /* writer: transactions in flight at most */
    int rows_per_tx;    /* writer: rows per transaction (changes/s counts rows) */
    int pg_pids[MAX_PIDS];
    int npg_pids;
    double drain_max; /* seconds to wait for the writer's end marker */
    /* --adversary (with --pg-changes): hostile clients beside the honest ones */
    int adv; /* 1: the adversary scenario's accounting (also for "none") */
    int adv_regex, adv_burst, adv_stall, adv_slowloris;
    int adv_regex_channels, adv_regex_bindings, adv_regex_kib;
    double adv_regex_interval; /* s between the regex customer's big bookings */
    int adv_burst_rows;
    double adv_burst_interval; /* s between burst transactions */
    int adv_slowloris_conns;
    double adv_stall_max; /* s a stalled connection is kept at most before it is reopened */
    double adv_settle;    /* s between starting the hostile clients and starting the writer */
} opt = {
    .target = TGT_TECHCARE,
    .target_name = "techcare",
    .host = "127.0.0.1",
    .port = 4000,
    .conns = 1000,
    .per_channel = 100,
    .pubs = 1,
    .rate = 0,
    .duration = 10,
    .warmup = 1,
    .chans_per_conn = 1,
    .threads = 1,
    .window = 16,
    .source_ips = 0,
    .connect_conc = 1000,
    .hb_interval_s = 20,
    .change_rate = 100,
    .mix = {70, 25, 5},
    .wmix = {50, 25, 15, 10},
    .inflight = 256,
    .drain_max = 30,
    .rows_per_tx = 1,
    .adv_regex_channels = 5,
    .adv_regex_bindings = 100,
    .adv_regex_kib = 512,
    .adv_regex_interval = 1,
    .adv_burst_rows = 12000,
    .adv_burst_interval = 10,
    .adv_slowloris_conns = 200,
    .adv_stall_max = 30,
    .adv_settle = 2,
};

static void usage(void) {
    printf("Usage: tc-loadgen [options]\n\n"
           "Opens --connections WebSockets, joins them to channels of --per-channel\n"
           "subscribers, then lets --publishers-per-channel of them publish while all\n"
           "count deliveries. Phases: connect, join, idle memory, fan-out [, latency].\n\n"
           "  --target techcare|nchan|ws   protocol to speak (default techcare)\n"
           "      techcare: GET /realtime/v1/websocket?apikey=JWT&vsn=2.0.0, phx_join with\n"
           "                access_token and config.broadcast.self=true, broadcasts as\n"
           "                vsn 2.0.0 JSON text (or --binary kind 3); heartbeat every 20 s\n"
           "      nchan:    subscribers GET /sub/<ch>[,<ch2>]; publishers GET /pub/<ch>\n"
           "                and publish over that websocket (subscribed at connect: no joins)\n"
           "      ws:       GET /; {\"topic\",\"join\":1} to join (reply {\"joined\"}),\n"
           "                {\"topic\",\"payload\"} to publish; relayed to every other socket\n"
           "  --host H                     server address (default 127.0.0.1)\n"
           "  --port P                     server port (default 4000)\n"
           "  --connections N              connections in all (default 1000)\n"
           "  --per-channel K              connections per channel; channels = N/K (default 100)\n"
           "  --publishers-per-channel P   the first P connections of each channel publish (default 1)\n"
           "  --rate R                     publishes/s per channel; 0 = as fast as the server\n"
           "                               takes them, --window messages in flight per channel\n"
           "                               (default 0)\n"
           "  --window W                   rate 0: messages per channel published but not yet\n"
           "                               delivered to all its subscribers (default 16)\n"
           "  --latency-rate R             after the fan-out phase, a second one of the same\n"
           "                               duration at R publishes/s per channel, for latency at\n"
           "                               a fixed load (default 0 = none)\n"
           "  --duration S                 seconds measured per fan-out phase; with --idle, seconds\n"
           "                               to hold the idle connections (default 10)\n"
           "  --warmup S                   seconds of fan-out before measuring (default 1)\n"
           "  --secret S                   techcare: HS256 secret; one JWT per connection (role\n"
           "                               authenticated, distinct sub, exp in 1 h) plus an anon apikey\n"
           "  --channels-per-conn C        channels each connection joins (default 1); C > 1\n"
           "                               implies --idle (memory test)\n"
           "  --binary                     techcare: publish as binary kind 3 user push (JSON\n"
           "                               encoding, what realtime-js 2.x sends) instead of text\n"
           "  --threads T                  event-loop threads (default 1)\n"
           "  --server-pid PID[,PID...]    sample CPU (utime+stime) and memory (VmRSS, Pss) of\n"
           "                               these processes and their children (nginx workers)\n"
           "  --idle                       connect + join, hold, measure memory; no fan-out\n"
           "  --source-ips N               bind to 127.0.0.1..N round-robin (default: one per\n"
           "                               25,000 connections, for the ephemeral port range)\n"
           "  --connect-concurrency N      handshakes in progress at once (default 1000)\n"
           "  --csv                        end with a machine-readable line: csv,<values>\n"
           "  --quiet                      no progress lines on stderr\n"
           "  --help                       this text\n\n"
           "Postgres Changes mode (--pg-changes): every connection is one user of the\n"
           "TechCare schema, read from the bench.* tables bench/cdc.sh creates, and joins\n"
           "the channels the seed's screens open for its role (customers: own bookings\n"
           "UPDATE, bids of their pending booking, the chat of their assigned booking,\n"
           "their notifications; technicians: public:bookings technician_id=eq.me (*) +\n"
           "status=eq.pending (INSERT), chat, notifications; admins: bookings (*),\n"
           "profiles, reviews, technicians is_verified=eq.false). A writer thread then\n"
           "commits rows through libpq (pipeline mode, one transaction per row), each\n"
           "stamped \"t=<CLOCK_REALTIME ns>\" by PostgreSQL's clock_timestamp() as the\n"
           "row is written; receivers read the stamp back: commit -> client latency.\n"
           "  --pg-changes                 this mode (needs --db and --secret)\n"
           "  --db CONNINFO                libpq conninfo of a superuser (or service_role)\n"
           "  --change-rate R              rows/s the writer commits (default 100)\n"
           "  --mix C,T,A                  %% customers, technicians, admins (default 70,25,5)\n"
           "  --write-mix M,B,U,I          writer's %% of chat messages, bids, booking updates,\n"
           "                               booking inserts (default 50,25,15,10)\n"
           "  --writer-inflight N          transactions in flight at most (default 256)\n"
           "  --rows-per-tx N              rows the writer commits per transaction (default 1)\n"
           "  --pg-pid PID                 sample CPU of this postmaster and its children\n"
           "  --drain-max S                after the window, wait at most S s for the writer's\n"
           "                               end marker to be delivered (default 30)\n"
           "  --duration / --warmup        seconds measured / seconds of writes before them\n\n"
           "Adversary scenario (--pg-changes --adversary LIST, bench/adversary.sh): the same\n"
           "honest clients and writer, plus hostile clients from other loopback addresses\n"
           "(127.0.0.2-4; the honest ones use 127.0.0.1), so per-address limits and budgets\n"
           "apply to them only. Accounting changes for every LIST, \"none\" included: rows\n"
           "the writer commits inside the measured window are marked; each one's\n"
           "recipients among the connected clients are computed from the subscriptions\n"
           "and policies; latency and delivered %% are over those deliveries, whenever they\n"
           "arrive (after the window too, until the end marker or --drain-max), and a\n"
           "delivery that never arrives counts as infinitely late in the percentiles.\n"
           "  --adversary LIST             none, or a comma list of:\n"
           "      regex:     one customer (bench.customers row N_customers, from 127.0.0.2)\n"
           "                 joins --adv-regex-channels channels of --adv-regex-bindings\n"
           "                 bookings bindings each, filter description=imatch.((a?){I}){J}X\n"
           "                 (I, J in 16..25, X in b..; all distinct), and POSTs a booking with\n"
           "                 a --adv-regex-kib KiB description of 'a's to /rest/v1/bookings\n"
           "                 with its token every --adv-regex-interval s (default 5, 100, 512, 1)\n"
           "      burst:     every --adv-burst-interval s (10) one transaction inserting\n"
           "                 --adv-burst-rows (12000) pending bookings, as the superuser (--db)\n"
           "      stall:     one admin (bench.admins row N_admins, from 127.0.0.3) joins every\n"
           "                 table and never reads (SO_RCVBUF 4 KiB); when the server drops it,\n"
           "                 or after --adv-stall-max s (30), it reconnects and stalls again\n"
           "      slowloris: --adv-slowloris (200) connections from 127.0.0.4 send a request\n"
           "                 head one byte per second; reopened when the server closes them\n"
           "      all:       all four\n"
           "  --adv-settle S               s between starting the hostile clients and the\n"
           "                               writer (default 2)\n\n"
           "Latency (broadcast): CLOCK_MONOTONIC ns at publish, carried as \"t\" in every payload and read\n"
           "back by every subscriber (same machine), in log buckets (about 6%% wide).\n"
           "Memory per connection: the server's anonymous + shared memory (Pss_Anon +\n"
           "Pss_Shmem from /proc/PID/smaps_rollup, summed over its processes, so nginx's\n"
           "shared zone and fork-shared pages count once) after the joins and a settle\n"
           "pause, minus the same before connecting, divided by the connections.\n");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void progress(const char *fmt, ...) {
    if (opt.quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[loadgen %s] ", opt.target_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- latency histogram -------------------------------------------------- */

/* Log-linear buckets: 16 per power of two (about 6% wide) up to 2^40 ns. */
#define H_SUB 16
#define H_BUCKETS (41 * H_SUB)

typedef struct {
    uint64_t n[H_BUCKETS];
    uint64_t count;
    int64_t max;
} hist_t;

static int hist_index(int64_t v) {
    if (v < H_SUB)
        return v < 0 ? 0 : (int)v;
    int msb = 63 - __builtin_clzll((unsigned long long)v);
    int idx = (msb - 3) * H_SUB + (int)((v >> (msb - 4)) & (H_SUB - 1));
    return idx >= H_BUCKETS ? H_BUCKETS - 1 : idx;
}

/* The middle of bucket i, the value a percentile in it stands for. */
static double hist_value(int i) {
    if (i < H_SUB)
        return i;
    int msb = i / H_SUB + 3;
    double lo = (double)(1ull << msb) + (double)(i % H_SUB) * (double)(1ull << (msb - 4));
    return lo + (double)(1ull << (msb - 4)) / 2;
}

static void hist_add(hist_t *h, int64_t v) {
    h->n[hist_index(v)]++;
    h->count++;
    if (v > h->max)
        h->max = v;
}

static void hist_merge(hist_t *into, const hist_t *h) {
    for (int i = 0; i < H_BUCKETS; i++)
        into->n[i] += h->n[i];
    into->count += h->count;
    if (h->max > into->max)
        into->max = h->max;
}

static double hist_pct(const hist_t *h, double p) {
    if (!h->count)
        return 0;
    uint64_t want = (uint64_t)((double)h->count * p / 100.0);
    if (want >= h->count)
        want = h->count - 1;
    uint64_t seen = 0;
    for (int i = 0; i < H_BUCKETS; i++) {
        seen += h->n[i];
        if (seen > want)
            return hist_value(i);
    }
    return (double)h->max;
}

/* ---- connections and channels ------------------------------------------ */

enum { ST_NEW, ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_CLOSED };
enum { PH_INIT, PH_CONNECT, PH_JOIN, PH_HOLD, PH_FANOUT, PH_DRAIN, PH_DONE };

/* A channel with messages in flight and no delivery for this long lost
 * some (a subscriber went away). Generous: a saturated single-threaded
 * server can leave a channel unserved for seconds without losing anything. */
#define STALL_NS 10000000000LL

#define RBUF_SIZE (256 * 1024)
#define CARRY_MAX (64 * 1024)

typedef struct conn {
    int fd;
    uint8_t state;
    uint8_t is_pub;
    uint8_t epout; /* EPOLLOUT registered */
    uint8_t dirty; /* on the thread's flush list */
    uint8_t joins_pending;
    uint32_t id;    /* global index */
    uint32_t chan;  /* primary channel, global index */
    uint32_t lchan; /* the same channel in the thread's array */
    uint32_t ref;   /* techcare: next message ref */
    int64_t next_hb;
    char *token; /* techcare: this connection's JWT until the join is sent */
    uint8_t *in; /* bytes of an incomplete frame between reads */
    uint32_t in_len, in_cap;
    uint32_t skip; /* bytes still to come of a frame too big to carry (counted, not read) */
    uint8_t *out;  /* bytes the kernel did not take yet */
    uint32_t out_len, out_off, out_cap;
} conn_t;

typedef struct {
    uint32_t id; /* global channel index */
    conn_t **pubs;
    int npubs, rr;
    int nsubs_open; /* open connections that receive this channel's messages */
    uint64_t sent, delivered, seq;
    int64_t next_pub; /* fixed-rate mode: when the next publish is due */
    int64_t last_progress;
} chan_t;

typedef struct thr {
    int id;
    pthread_t th;
    int ep;
    conn_t *conns;
    uint32_t nconns;
    chan_t *chans;
    uint32_t nchans;
    uint32_t next_connect, in_handshake;
    conn_t **dirty;
    uint32_t ndirty;
    int phase;
    int64_t rate_interval; /* ns between publishes per channel; 0 = windowed */
    int64_t last_sweep;
    uint64_t deliv_local, pub_local, other_local;
    hist_t hist[2];
    /* read by the main thread */
    _Atomic uint64_t opened, failed, closed, joined, join_err;
    _Atomic uint64_t delivered, published, stalls, outstanding, other;
    _Atomic int64_t last_open, first_join, last_join, joins_sent;
    _Atomic uint32_t close_codes[16]; /* 1000..1014, [15] = others */
    /* --pg-changes */
    uint64_t kind_local[5]; /* deliveries by table: bookings, bids, messages, notifications, other */
    _Atomic uint64_t kind[5], subscribed, sub_err;
    /* --adversary: deliveries of rows marked in the window, of rows without a
     * stamp (hostile rows, bid notifications), frames too big to carry */
    uint64_t marked_local, unstamped_local, big_local;
    _Atomic uint64_t marked, unstamped, big;
    uint8_t rbuf[RBUF_SIZE];
} thr_t;

static thr_t *thr;
static _Atomic int g_phase = PH_INIT;
static _Atomic int g_hist_slot = -1;    /* which histogram subscribers fill, -1 none */
static _Atomic int64_t g_rate_interval; /* published to threads with the phase */
static int nchannels;
static char *apikey; /* techcare: shared anon JWT */
static char ws_key[] = "dGhlIHNhbXBsZSBub25jZQ==";
static char ws_accept[29];
static int64_t hb_interval_ns;

/* Receivers of one publish on a channel, given its open subscribers. */
static int recipients(const chan_t *ch) {
    if (opt.target == TGT_WS)
        return ch->nsubs_open > 0 ? ch->nsubs_open - 1 : 0; /* the publisher is skipped */
    return ch->nsubs_open;
}

static void mark_dirty(thr_t *t, conn_t *c) {
    if (c->dirty)
        return;
    c->dirty = 1;
    t->dirty[t->ndirty++] = c;
}

static void out_append(thr_t *t, conn_t *c, const void *p, size_t n) {
    if (c->out_len + n > c->out_cap) {
        if (c->out_off) {
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        if (c->out_len + n > c->out_cap) {
            uint32_t cap = c->out_cap ? c->out_cap : 1024;
            while (cap < c->out_len + n)
                cap *= 2;
            c->out = xrealloc(c->out, cap);
            c->out_cap = cap;
        }
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += (uint32_t)n;
    mark_dirty(t, c);
}

static _Thread_local uint32_t rnd_state = 2463534242u;
static uint32_t xorshift(void) {
    uint32_t x = rnd_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return rnd_state = x;
}

/* Queues one masked client frame. */
static void send_frame(thr_t *t, conn_t *c, int opcode, const void *payload, size_t len) {
    uint8_t stack[2048];
    uint8_t *f = len + 14 <= sizeof(stack) ? stack : xmalloc(len + 14);
    size_t n = ws_frame_encode_client(f, opcode, payload, len, xorshift());
    out_append(t, c, f, n);
    if (f != stack)
        free(f);
}

static void set_events(thr_t *t, conn_t *c, uint32_t ev) {
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(t->ep, EPOLL_CTL_MOD, c->fd, &e);
}

static void conn_close(thr_t *t, conn_t *c, int code) {
    if (c->state == ST_CLOSED)
        return;
    int was_open = c->state == ST_OPEN;
    if (c->state == ST_CONNECTING || c->state == ST_HANDSHAKE) {
        t->in_handshake--;
        atomic_fetch_add(&t->failed, 1);
    }
    c->state = ST_CLOSED;
    epoll_ctl(t->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;
    free(c->token);
    c->token = NULL;
    if (was_open) {
        atomic_fetch_add(&t->closed, 1);
        chan_t *ch = &t->chans[c->lchan];
        if (opt.target != TGT_NCHAN || !c->is_pub)
            ch->nsubs_open--;
        if (c->is_pub)
            for (int i = 0; i < ch->npubs; i++)
                if (ch->pubs[i] == c) {
                    ch->pubs[i] = ch->pubs[--ch->npubs];
                    break;
                }
    }
    if (code > 0) {
        int slot = code >= 1000 && code < 1015 ? code - 1000 : 15;
        atomic_fetch_add(&t->close_codes[slot], 1);
    }
}

static void flush(thr_t *t, conn_t *c) {
    while (c->state != ST_CLOSED && c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                if (!c->epout) {
                    c->epout = 1;
                    set_events(t, c, EPOLLIN | EPOLLOUT);
                }
                return;
            }
            conn_close(t, c, 0);
            return;
        }
        c->out_off += (uint32_t)n;
    }
    c->out_off = c->out_len = 0;
    if (c->epout && c->state != ST_CLOSED) {
        c->epout = 0;
        set_events(t, c, EPOLLIN);
    }
}

static void flush_dirty(thr_t *t) {
    for (uint32_t i = 0; i < t->ndirty; i++) {
        conn_t *c = t->dirty[i];
        c->dirty = 0;
        if (!c->epout)
            flush(t, c);
    }
    t->ndirty = 0;
}

/* ---- connecting and the handshake ------------------------------------- */

static void chan_name(char *out, size_t n, uint32_t ch) { snprintf(out, n, "bench-%u", ch); }

static void send_handshake(thr_t *t, conn_t *c) {
    char path[8192], name[32], name2[32];
    chan_name(name, sizeof(name), c->chan);
    switch (opt.target) {
    case TGT_TECHCARE: snprintf(path, sizeof(path), "/realtime/v1/websocket?apikey=%s&vsn=2.0.0", apikey); break;
    case TGT_NCHAN:
        if (c->is_pub) {
            snprintf(path, sizeof(path), "/pub/%s", name);
        } else {
            int len = snprintf(path, sizeof(path), "/sub/%s", name);
            for (int k = 1; k < opt.chans_per_conn; k++) {
                chan_name(name2, sizeof(name2), (c->chan + (uint32_t)k) % (uint32_t)nchannels);
                len += snprintf(path + len, sizeof(path) - (size_t)len, ",%s", name2);
            }
        }
        break;
    case TGT_WS: snprintf(path, sizeof(path), "/"); break;
    }
    char req[8448];
    int n =
        snprintf(req, sizeof(req),
                 "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                 path, opt.host, opt.port, ws_key, opt.target == TGT_NCHAN && c->is_pub ? "Accept: text/json\r\n" : "");
    out_append(t, c, req, (size_t)n);
}

static void start_connect(thr_t *t, conn_t *c) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        atomic_fetch_add(&t->failed, 1);
        c->state = ST_CLOSED;
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (opt.source_ips > 1) {
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000001u + c->id % (uint32_t)opt.source_ips);
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
            close(fd);
            atomic_fetch_add(&t->failed, 1);
            c->state = ST_CLOSED;
            return;
        }
    }
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    inet_pton(AF_INET, opt.host, &dst.sin_addr);
    c->fd = fd;
    c->state = ST_CONNECTING;
    t->in_handshake++;
    int r = connect(fd, (struct sockaddr *)&dst, sizeof(dst));
    struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
    if (r < 0 && errno != EINPROGRESS) {
        epoll_ctl(t->ep, EPOLL_CTL_ADD, fd, &e);
        conn_close(t, c, 0);
        return;
    }
    epoll_ctl(t->ep, EPOLL_CTL_ADD, fd, &e);
    c->epout = 1;
}

static void on_connected(thr_t *t, conn_t *c) {
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
        conn_close(t, c, 0);
        return;
    }
    c->state = ST_HANDSHAKE;
    c->epout = 0;
    set_events(t, c, EPOLLIN);
    send_handshake(t, c);
}

static void on_open(thr_t *t, conn_t *c, int64_t now) {
    c->state = ST_OPEN;
    t->in_handshake--;
    /* Spread the first heartbeats over a whole interval: 10,000 at once
     * would be a burst the latency figures would show. */
    c->next_hb = now + (int64_t)(xorshift() % ((uint32_t)opt.hb_interval_s * 1000u)) * 1000000;
    chan_t *ch = &t->chans[c->lchan];
    if (opt.target != TGT_NCHAN || !c->is_pub)
        ch->nsubs_open++;
    atomic_store_explicit(&t->last_open, now, memory_order_relaxed);
    atomic_fetch_add(&t->opened, 1);
}

/* Returns bytes consumed from the response head, 0 if incomplete, -1 if
 * the server refused the upgrade. */
static long parse_handshake(const uint8_t *p, size_t n) {
    const uint8_t *e = memmem(p, n, "\r\n\r\n", 4);
    if (!e)
        return n > 8192 ? -1 : 0;
    size_t head = (size_t)(e - p) + 4;
    if (n < 12 || memcmp(p, "HTTP/1.1 101", 12) != 0 || !memmem(p, head, ws_accept, 28)) {
        static _Atomic int shown;
        if (atomic_fetch_add(&shown, 1) < 3)
            fprintf(stderr, "[loadgen] upgrade refused: %.*s\n", (int)(head > 300 ? 300 : head), (const char *)p);
        return -1;
    }
    return (long)head;
}

/* ---- messages ----------------------------------------------------------- */

static void count_delivery(thr_t *t, conn_t *c, const uint8_t *p, size_t n, int64_t now, int slot) {
    t->deliv_local++;
    chan_t *ch = &t->chans[c->lchan];
    ch->delivered++;
    ch->last_progress = now;
    if (slot < 0)
        return;
    const uint8_t *q = memmem(p, n, "\"t\":", 4);
    if (!q)
        return;
    q += 4;
    const uint8_t *e = p + n;
    int64_t ts = 0;
    while (q < e && *q >= '0' && *q <= '9')
        ts = ts * 10 + (*q++ - '0');
    if (ts > 0 && ts <= now)
        hist_add(&t->hist[slot], now - ts);
}

static void on_join_reply(thr_t *t, conn_t *c, int ok, int64_t now) {
    if (!c->joins_pending)
        return;
    c->joins_pending--;
    if (ok)
        atomic_fetch_add(&t->joined, 1);
    else
        atomic_fetch_add(&t->join_err, 1);
    atomic_store_explicit(&t->last_join, now, memory_order_relaxed);
}

static void note_other(thr_t *t, const uint8_t *p, size_t n) {
    t->other_local++;
    static _Atomic int shown;
    if (atomic_fetch_add(&shown, 1) < 5)
        fprintf(stderr, "[loadgen] unexpected frame: %.*s\n", (int)(n > 300 ? 300 : n), (const char *)p);
}

static void cdc_on_message(thr_t *t, conn_t *c, const uint8_t *p, size_t n, int slot);
static void cdc_send_joins(thr_t *t, conn_t *c);

static void on_message(thr_t *t, conn_t *c, int opcode, const uint8_t *p, size_t n, int64_t now, int slot) {
    if (opt.pgc) {
        cdc_on_message(t, c, p, n, slot);
        return;
    }
    switch (opt.target) {
    case TGT_TECHCARE:
        if (opcode == WS_OP_BINARY || (n > 10 && !memcmp(p, "[null,null,", 11))) {
            count_delivery(t, c, p, n, now, slot);
        } else if (n > 2 && p[1] == '"' && memmem(p, n, "\"phx_reply\"", 11)) {
            /* A channel's reply: only joins ask for one (no ack). */
            if (c->joins_pending)
                on_join_reply(t, c, memmem(p, n, "\"status\":\"ok\"", 13) != NULL, now);
        } else if (!(n > 5 && !memcmp(p, "[null,", 6) && memmem(p, n, "\"phx_reply\"", 11))) {
            note_other(t, p, n); /* heartbeat replies are [null,"ref",...] */
        }
        break;
    case TGT_NCHAN:
        if (!c->is_pub)
            count_delivery(t, c, p, n, now, slot);
        /* a publisher's frames are the channel info nchan answers each publish with */
        break;
    case TGT_WS:
        if (n > 10 && !memcmp(p, "{\"joined\":", 10))
            on_join_reply(t, c, 1, now);
        else
            count_delivery(t, c, p, n, now, slot);
        break;
    }
}

/* Parses whole frames in p[0..n); returns bytes consumed, or -1 after
 * closing the connection. */
static long parse_frames(thr_t *t, conn_t *c, uint8_t *p, size_t n, int64_t now) {
    size_t off = 0;
    int slot = atomic_load_explicit(&g_hist_slot, memory_order_relaxed);
    while (n - off >= 2) {
        uint8_t *f = p + off;
        int opcode = f[0] & 0x0f;
        uint64_t len = f[1] & 0x7f;
        size_t hl = 2;
        if (len == 126) {
            if (n - off < 4)
                break;
            len = (uint64_t)f[2] << 8 | f[3];
            hl = 4;
        } else if (len == 127) {
            if (n - off < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | f[2 + i];
            hl = 10;
        }
        int masked = f[1] & 0x80;
        if (masked)
            hl += 4;
        if (len > CARRY_MAX - 16) {
            /* Too big to carry between reads (the adversary scenario's 512 KiB
             * rows): counted, never read; its bytes are skipped as they come. */
            if (len > UINT32_MAX || (!opt.pgc && !opt.adv)) {
                fprintf(stderr, "[loadgen] frame of %" PRIu64 " bytes: too big for this benchmark\n", len);
                conn_close(t, c, 0);
                return -1;
            }
            if (n - off < hl)
                break;
            t->big_local++;
            t->deliv_local++;
            if (n - off - hl >= len) {
                off += hl + (size_t)len;
                continue;
            }
            c->skip = (uint32_t)(len - (n - off - hl));
            return (long)n;
        }
        if (n - off < hl + len)
            break;
        uint8_t *data = f + hl;
        if (masked)
            for (uint64_t i = 0; i < len; i++)
                data[i] ^= f[hl - 4 + (i & 3)];
        switch (opcode) {
        case WS_OP_TEXT:
        case WS_OP_BINARY:
        case WS_OP_CONT: on_message(t, c, opcode, data, (size_t)len, now, slot); break;
        case WS_OP_PING: send_frame(t, c, WS_OP_PONG, data, (size_t)len); break;
        case WS_OP_CLOSE: {
            int code = len >= 2 ? data[0] << 8 | data[1] : 1005;
            static _Atomic int shown;
            if (atomic_fetch_add(&shown, 1) < 3)
                fprintf(stderr, "[loadgen] server closed a connection: %d %.*s\n", code, (int)(len > 2 ? len - 2 : 0),
                        (const char *)data + 2);
            conn_close(t, c, code);
            return -1;
        }
        default: break;
        }
        off += hl + (size_t)len;
    }
    return (long)off;
}

static void on_readable(thr_t *t, conn_t *c) {
    uint8_t *buf = t->rbuf;
    size_t have = c->in_len;
    if (have) {
        memcpy(buf, c->in, have);
        c->in_len = 0;
    }
    ssize_t r = recv(c->fd, buf + have, RBUF_SIZE - have, 0);
    if (r <= 0) {
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (have) { /* put the carry back */
                memcpy(c->in, buf, have);
                c->in_len = (uint32_t)have;
            }
            return;
        }
        conn_close(t, c, r == 0 ? 1006 : 0);
        return;
    }
    int64_t now = now_ns();
    size_t n = have + (size_t)r, off = 0;
    if (c->skip) { /* the rest of a frame too big to carry */
        size_t k = c->skip < n ? c->skip : n;
        c->skip -= (uint32_t)k;
        off = k;
        if (off == n)
            goto carry;
    }
    if (c->state == ST_HANDSHAKE) {
        long h = parse_handshake(buf, n);
        if (h < 0) {
            conn_close(t, c, 0);
            return;
        }
        if (h == 0)
            goto carry;
        off = (size_t)h;
        on_open(t, c, now);
    }
    long used = parse_frames(t, c, buf + off, n - off, now);
    if (used < 0)
        return;
    off += (size_t)used;
carry:
    if (off < n) {
        size_t rest = n - off;
        if (rest > c->in_cap) {
            c->in = xrealloc(c->in, rest);
            c->in_cap = (uint32_t)rest;
        }
        memcpy(c->in, buf + off, rest);
        c->in_len = (uint32_t)rest;
    } else if (c->in_cap > 4096) {
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    }
}

/* ---- joins, heartbeats, publishing --------------------------------------- */

static void send_text(thr_t *t, conn_t *c, const char *s, size_t n) { send_frame(t, c, WS_OP_TEXT, s, n); }

static void send_joins(thr_t *t, conn_t *c) {
    if (opt.pgc) {
        cdc_send_joins(t, c);
        return;
    }
    char name[32];
    char *msg = xmalloc(2048 + (c->token ? strlen(c->token) : 0));
    for (int k = 0; k < opt.chans_per_conn; k++) {
        uint32_t chid = (c->chan + (uint32_t)k) % (uint32_t)nchannels;
        chan_name(name, sizeof(name), chid);
        int n;
        if (opt.target == TGT_TECHCARE) {
            c->ref++;
            n = sprintf(msg,
                        "[\"%d\",\"%u\",\"realtime:%s\",\"phx_join\",{\"config\":{\"broadcast\":{\"ack\":false,"
                        "\"self\":true},\"presence\":{\"key\":\"\",\"enabled\":false},\"postgres_changes\":[],"
                        "\"private\":false},\"access_token\":\"%s\"}]",
                        k + 1, c->ref, name, c->token);
        } else {
            n = sprintf(msg, "{\"topic\":\"%s\",\"join\":1}", name);
        }
        send_text(t, c, msg, (size_t)n);
        c->joins_pending++;
    }
    free(msg);
    free(c->token);
    c->token = NULL;
}

static void send_heartbeat(thr_t *t, conn_t *c) {
    char msg[96];
    int n = snprintf(msg, sizeof(msg), "[null,\"%u\",\"phoenix\",\"heartbeat\",{}]", ++c->ref);
    send_text(t, c, msg, (size_t)n);
}

static void publish(thr_t *t, chan_t *ch, int64_t now) {
    if (!ch->npubs)
        return;
    conn_t *c = ch->pubs[ch->rr++ % ch->npubs];
    char name[32], msg[512];
    chan_name(name, sizeof(name), ch->id);
    uint64_t s = ++ch->seq;
    int n;
    switch (opt.target) {
    case TGT_TECHCARE:
        c->ref++;
        if (opt.binary) {
            char topic[64], ref[16], payload[96];
            int tl = snprintf(topic, sizeof(topic), "realtime:%s", name);
            int rl = snprintf(ref, sizeof(ref), "%u", c->ref);
            int pl = snprintf(payload, sizeof(payload), "{\"t\":%" PRId64 ",\"s\":%" PRIu64 "}", now, s);
            buf_t *b = msg_encode_user_push(MSG_STR("1"), (msg_str_t){ref, (size_t)rl}, (msg_str_t){topic, (size_t)tl},
                                            MSG_STR("b"), NULL, 0, MSG_ENC_JSON, (const uint8_t *)payload, (size_t)pl);
            if (!b)
                abort();
            send_frame(t, c, WS_OP_BINARY, b->data, b->len);
            buf_unref(b);
            goto sent;
        }
        n = snprintf(msg, sizeof(msg),
                     "[\"1\",\"%u\",\"realtime:%s\",\"broadcast\",{\"type\":\"broadcast\",\"event\":\"b\","
                     "\"payload\":{\"t\":%" PRId64 ",\"s\":%" PRIu64 "}}]",
                     c->ref, name, now, s);
        break;
    case TGT_NCHAN: n = snprintf(msg, sizeof(msg), "{\"t\":%" PRId64 ",\"s\":%" PRIu64 "}", now, s); break;
    default:
        n = snprintf(msg, sizeof(msg), "{\"topic\":\"%s\",\"payload\":{\"t\":%" PRId64 ",\"s\":%" PRIu64 "}}", name,
                     now, s);
        break;
    }
    send_text(t, c, msg, (size_t)n);
sent:
    ch->sent++;
    t->pub_local++;
}

/* Windowed mode: publish on every channel until W messages are in flight.
 * In flight = published x recipients - delivered, in units of a message. */
static void publish_windowed(thr_t *t, int64_t now) {
    uint64_t total_out = 0;
    for (uint32_t i = 0; i < t->nchans; i++) {
        chan_t *ch = &t->chans[i];
        uint64_t r = (uint64_t)recipients(ch);
        if (!r || !ch->npubs)
            continue;
        uint64_t limit = (uint64_t)opt.window * r;
        while (ch->sent * r - (ch->delivered < ch->sent * r ? ch->delivered : ch->sent * r) < limit)
            publish(t, ch, now);
        uint64_t want = ch->sent * r;
        if (ch->delivered < want) {
            total_out += want - ch->delivered;
            /* A subscriber that vanished mid-flight would stall the channel for good. */
            if (now - ch->last_progress > STALL_NS) {
                ch->delivered = want;
                ch->last_progress = now;
                atomic_fetch_add(&t->stalls, 1);
            }
        }
    }
    atomic_store_explicit(&t->outstanding, total_out, memory_order_relaxed);
}

static void publish_fixed(thr_t *t, int64_t now) {
    for (uint32_t i = 0; i < t->nchans; i++) {
        chan_t *ch = &t->chans[i];
        if (now - ch->next_pub > 1000000000LL)
            ch->next_pub = now; /* more than a second behind: do not burst to catch up */
        while (ch->next_pub <= now) {
            publish(t, ch, now);
            ch->next_pub += t->rate_interval;
        }
    }
}

/* Fixed rate and drain: what is still in flight. A channel that made no
 * progress for STALL_NS lost deliveries (a subscriber went away): forgive them,
 * or the drain would wait forever. */
static void update_outstanding(thr_t *t, int64_t now) {
    uint64_t total = 0;
    for (uint32_t i = 0; i < t->nchans; i++) {
        chan_t *ch = &t->chans[i];
        uint64_t want = ch->sent * (uint64_t)recipients(ch);
        if (ch->delivered >= want) {
            ch->last_progress = now;
            continue;
        }
        if (now - ch->last_progress > STALL_NS) {
            ch->delivered = want;
            ch->last_progress = now;
            atomic_fetch_add(&t->stalls, 1);
            continue;
        }
        total += want - ch->delivered;
    }
    atomic_store_explicit(&t->outstanding, total, memory_order_relaxed);
}

/* ---- the thread's loop ------------------------------------------------------ */

static void enter_phase(thr_t *t, int ph, int64_t now) {
    t->phase = ph;
    if (ph == PH_JOIN) {
        atomic_store(&t->first_join, now);
        for (uint32_t i = 0; i < t->nconns; i++)
            if (t->conns[i].state == ST_OPEN)
                send_joins(t, &t->conns[i]);
        flush_dirty(t);
        atomic_store(&t->joins_sent, now_ns());
    } else if (ph == PH_FANOUT) {
        t->rate_interval = atomic_load(&g_rate_interval);
        for (uint32_t i = 0; i < t->nchans; i++) {
            chan_t *ch = &t->chans[i];
            ch->sent = ch->delivered = 0;
            ch->last_progress = now;
            /* spread the channels' first publishes over one interval */
            ch->next_pub = now + (t->rate_interval ? (int64_t)(xorshift() % (uint64_t)t->rate_interval) : 0);
        }
    }
}

static void sweep(thr_t *t, int64_t now) {
    if (opt.target != TGT_TECHCARE)
        return;
    for (uint32_t i = 0; i < t->nconns; i++) {
        conn_t *c = &t->conns[i];
        if (c->state == ST_OPEN && now >= c->next_hb) {
            send_heartbeat(t, c);
            c->next_hb = now + hb_interval_ns;
        }
    }
}

static void *thr_main(void *arg) {
    thr_t *t = arg;
    struct epoll_event evs[512];
    rnd_state ^= (uint32_t)t->id * 2654435761u + 1;
    for (;;) {
        int ph = atomic_load(&g_phase);
        int64_t now = now_ns();
        if (ph != t->phase)
            enter_phase(t, ph, now);
        if (ph == PH_DONE)
            break;
        if (ph >= PH_CONNECT) {
            uint32_t conc = (uint32_t)(opt.connect_conc / opt.threads + 1);
            while (t->next_connect < t->nconns && t->in_handshake < conc)
                start_connect(t, &t->conns[t->next_connect++]);
        }
        int timeout = ph == PH_FANOUT && t->rate_interval ? 1 : 5;
        if (t->ndirty)
            timeout = 0;
        flush_dirty(t);
        int n = epoll_wait(t->ep, evs, 512, timeout);
        now = now_ns();
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c->state == ST_CLOSED)
                continue;
            if (c->state == ST_CONNECTING) {
                on_connected(t, c);
                continue;
            }
            if (evs[i].events & EPOLLOUT)
                flush(t, c);
            if (c->state != ST_CLOSED && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                on_readable(t, c);
        }
        if (ph == PH_FANOUT) {
            if (t->rate_interval)
                publish_fixed(t, now);
            else
                publish_windowed(t, now);
        }
        if (t->rate_interval || ph == PH_DRAIN)
            update_outstanding(t, now);
        if (now - t->last_sweep > 1000000000LL) {
            t->last_sweep = now;
            sweep(t, now);
        }
        atomic_store_explicit(&t->delivered, t->deliv_local, memory_order_relaxed);
        atomic_store_explicit(&t->published, t->pub_local, memory_order_relaxed);
        atomic_store_explicit(&t->other, t->other_local, memory_order_relaxed);
        if (opt.pgc)
            for (int k = 0; k < 5; k++)
                atomic_store_explicit(&t->kind[k], t->kind_local[k], memory_order_relaxed);
        if (opt.adv) {
            atomic_store_explicit(&t->marked, t->marked_local, memory_order_relaxed);
            atomic_store_explicit(&t->unstamped, t->unstamped_local, memory_order_relaxed);
            atomic_store_explicit(&t->big, t->big_local, memory_order_relaxed);
        }
    }
    for (uint32_t i = 0; i < t->nconns; i++) {
        conn_t *c = &t->conns[i];
        if (c->state != ST_CLOSED && c->fd >= 0)
            close(c->fd);
        free(c->in);
        free(c->out);
        free(c->token);
    }
    return NULL;
}

/* ---- the server's process: CPU and memory ----------------------------------- */

typedef struct {
    double cpu_s; /* utime + stime of the process tree */
    long rss_kb;  /* sum of VmRSS */
    long pss_kb;  /* sum of Pss_Anon + Pss_Shmem (Pss if the kernel lacks them) */
    int nprocs;
} proc_sample_t;

static long read_kb(const char *path, const char *key) {
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, key, kl)) {
            v = strtol(line + kl, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* utime+stime in seconds and the parent pid, from /proc/PID/stat. */
static int read_stat(int pid, double *cpu, int *ppid) {
    char path[64], line[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = 0;
    char *p = strrchr(line, ')'); /* the command may hold spaces */
    if (!p)
        return -1;
    unsigned long ut = 0, st = 0;
    int pp = 0;
    if (sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &pp, &ut, &st) != 3)
        return -1;
    *cpu = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    *ppid = pp;
    return 0;
}

static void sample_one(int pid, proc_sample_t *s) {
    double cpu;
    int pp;
    if (read_stat(pid, &cpu, &pp) < 0)
        return;
    char path[64];
    s->cpu_s += cpu;
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    long rss = read_kb(path, "VmRSS:");
    /* Anonymous + shared memory, each page divided among the processes
     * mapping it: what connections cost (heap, nginx's shm zone), without
     * the binary's text, which other processes of the same program on the
     * machine would make wobble. */
    snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
    long anon = read_kb(path, "Pss_Anon:"), shm = read_kb(path, "Pss_Shmem:");
    long pss = anon >= 0 && shm >= 0 ? anon + shm : read_kb(path, "Pss:");
    s->rss_kb += rss > 0 ? rss : 0;
    s->pss_kb += pss >= 0 ? pss : (rss > 0 ? rss : 0);
    s->nprocs++;
}

/* The given pids and their direct children (nginx's workers). */
static proc_sample_t sample_pids(const int *pids, int npids) {
    proc_sample_t s = {0, 0, 0, 0};
    if (!npids)
        return s;
    for (int i = 0; i < npids; i++)
        sample_one(pids[i], &s);
    DIR *d = opendir("/proc");
    if (!d)
        return s;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        int pid = atoi(e->d_name), pp;
        double cpu;
        if (read_stat(pid, &cpu, &pp) < 0)
            continue;
        for (int i = 0; i < npids; i++)
            if (pp == pids[i] && pid != pids[i]) {
                sample_one(pid, &s);
                break;
            }
    }
    closedir(d);
    return s;
}

static proc_sample_t sample_server(void) { return sample_pids(opt.pids, opt.npids); }

static double self_cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

/* Busy, softirq and total jiffies of the whole machine, from /proc/stat.
 * Softirq time is where loopback TCP receive work often lands (with IRQ
 * time accounting it is charged to no process). */
static void machine_cpu(double *busy, double *total, double *softirq) {
    *busy = *total = *softirq = 0;
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return;
    unsigned long long v[10] = {0};
    if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
               &v[6], &v[7], &v[8], &v[9]) >= 8) {
        for (int i = 0; i < 8; i++)
            *total += (double)v[i];
        *busy = *total - (double)v[3] - (double)v[4];
        *softirq = (double)v[6];
    }
    fclose(f);
}

/* ---- the main thread: phases and the report ------------------------------ */

/* The sum over threads of one of their _Atomic uint64_t counters. */
static uint64_t sum_field(size_t off) {
    uint64_t s = 0;
    for (int i = 0; i < opt.threads; i++)
        s += atomic_load_explicit((_Atomic uint64_t *)((char *)&thr[i] + off), memory_order_relaxed);
    return s;
}
#define SUM(field) sum_field(offsetof(thr_t, field))

typedef struct {
    double rate;
    double delivered_per_s, published_per_s;
    double server_cpu_pct, loadgen_cpu_pct, machine_cpu_pct, softirq_cpu_pct;
    hist_t hist;
    long rss_kb, pss_kb;
    uint64_t stalls;
    double drain_s; /* time for the in-flight messages to arrive after publishing stopped */
    int ran;
} fanout_result_t;

static struct {
    int opened, failed;
    double connect_s, connect_rate;
    uint32_t joined, join_err;
    double join_s, join_rate, joins_sent_s;
    double connect_cpu_pct, join_cpu_pct; /* server CPU during those phases */
    proc_sample_t before, idle;
    double mem_per_conn, rss_per_conn;
    fanout_result_t fan[2];
    uint32_t closed;
} res;

static void wait_until(uint64_t target, uint64_t (*get)(void), double timeout_s, const char *what) {
    double start = now_s(), last_print = start;
    uint64_t v;
    while ((v = get()) < target && now_s() - start < timeout_s) {
        sleep_s(0.002);
        if (now_s() - last_print > 2) {
            last_print = now_s();
            progress("%s: %" PRIu64 " / %" PRIu64, what, v, target);
        }
    }
    if (v < target)
        progress("%s: gave up after %.0f s at %" PRIu64 " / %" PRIu64, what, timeout_s, v, target);
}

static uint64_t get_connect_done(void) { return SUM(opened) + SUM(failed); }
static uint64_t get_join_done(void) { return SUM(joined) + SUM(join_err); }

static int64_t max_last(int which) {
    int64_t m = 0;
    for (int i = 0; i < opt.threads; i++) {
        int64_t v = which ? atomic_load(&thr[i].last_join) : atomic_load(&thr[i].last_open);
        if (v > m)
            m = v;
    }
    return m;
}

static int64_t min_first_join(void) {
    int64_t m = 0;
    for (int i = 0; i < opt.threads; i++) {
        int64_t v = atomic_load(&thr[i].first_join);
        if (v && (!m || v < m))
            m = v;
    }
    return m;
}

static void run_fanout(int slot, double rate) {
    fanout_result_t *r = &res.fan[slot];
    r->rate = rate;
    atomic_store(&g_rate_interval, rate > 0 ? (int64_t)(1e9 / rate) : 0);
    progress("fan-out: %s for %.0f s (+%.0f s warm-up)",
             rate > 0 ? "fixed rate" : "windowed, as fast as the server takes it", opt.duration, opt.warmup);
    atomic_store(&g_phase, PH_FANOUT);
    sleep_s(opt.warmup);
    uint64_t d0 = SUM(delivered), p0 = SUM(published), st0 = SUM(stalls);
    proc_sample_t s0 = sample_server();
    double l0 = self_cpu_s(), mb0, mt0, ms0;
    machine_cpu(&mb0, &mt0, &ms0);
    double t0 = now_s();
    atomic_store(&g_hist_slot, slot);
    for (double el = 0; el < opt.duration; el = now_s() - t0) {
        sleep_s(opt.duration - el > 1 ? 1 : opt.duration - el);
        if (now_s() - t0 < opt.duration - 0.01)
            progress("  %.0f s: %.0f deliveries/s so far", now_s() - t0,
                     (double)(SUM(delivered) - d0) / (now_s() - t0));
    }
    atomic_store(&g_hist_slot, -1);
    double t1 = now_s();
    uint64_t d1 = SUM(delivered), p1 = SUM(published), st1 = SUM(stalls);
    proc_sample_t s1 = sample_server();
    double l1 = self_cpu_s(), mb1, mt1, ms1;
    machine_cpu(&mb1, &mt1, &ms1);
    double el = t1 - t0;
    r->delivered_per_s = (double)(d1 - d0) / el;
    r->published_per_s = (double)(p1 - p0) / el;
    r->server_cpu_pct = opt.npids ? (s1.cpu_s - s0.cpu_s) / el * 100 : -1;
    r->loadgen_cpu_pct = (l1 - l0) / el * 100;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    r->machine_cpu_pct = mt1 > mt0 ? (mb1 - mb0) / (mt1 - mt0) * 100 * (double)ncpu : 0;
    r->softirq_cpu_pct = mt1 > mt0 ? (ms1 - ms0) / (mt1 - mt0) * 100 * (double)ncpu : 0;
    r->rss_kb = s1.rss_kb;
    r->pss_kb = s1.pss_kb;
    r->stalls = st1 - st0;
    r->ran = 1;
    /* Stop publishing; let what is in flight arrive before the next phase. */
    atomic_store(&g_phase, PH_DRAIN);
    double ds = now_s();
    uint64_t left;
    while ((left = SUM(outstanding)) > 0 || now_s() - ds < 0.1) {
        if (now_s() - ds > 60) {
            progress("drain: %" PRIu64 " deliveries still missing after 60 s", left);
            break;
        }
        sleep_s(0.02);
    }
    r->drain_s = now_s() - ds;
    progress("drained in %.1f s", r->drain_s);
    for (int i = 0; i < opt.threads; i++)
        hist_merge(&r->hist, &thr[i].hist[slot]);
}

static void print_report(void) {
    const char *t = opt.target_name;
    printf("\n== tc-loadgen %s: %d connections, %d per channel (%d channels), %d publisher(s)/channel, "
           "%d channel(s)/conn, %d thread(s) ==\n",
           t, opt.conns, opt.per_channel, nchannels, opt.pubs, opt.chans_per_conn, opt.threads);
    printf("%-28s %d open, %d failed, %u closed later\n", "connections", res.opened, res.failed, res.closed);
    printf("%-28s %.0f conn/s (%.3f s, TCP + HTTP upgrade%s)\n", "connect rate", res.connect_rate, res.connect_s,
           opt.target == TGT_NCHAN      ? " + subscribe"
           : opt.target == TGT_TECHCARE ? " + apikey JWT check"
                                        : "");
    if (opt.npids)
        printf("%-28s %.0f %%\n", "server CPU, connecting", res.connect_cpu_pct);
    if (opt.target == TGT_NCHAN)
        printf("%-28s n/a (nchan subscribes in the upgrade request)\n", "join rate");
    else {
        printf("%-28s %.0f joins/s (%u ok, %u failed, %.3f s first join sent to last reply)\n", "join rate",
               res.join_rate, res.joined, res.join_err, res.join_s);
        printf("%-28s %.3f s after the first (the loadgen's share of the time above)\n", "last join sent",
               res.joins_sent_s);
        if (opt.npids)
            printf("%-28s %.0f %%\n", "server CPU, joining", res.join_cpu_pct);
    }
    if (opt.npids) {
        printf("%-28s %.1f MiB anon+shm (%.1f MiB RSS) before connecting\n", "server memory, empty",
               (double)res.before.pss_kb / 1024, (double)res.before.rss_kb / 1024);
        printf("%-28s %.1f MiB anon+shm (%.1f MiB RSS), %d process(es)\n", "server memory, idle",
               (double)res.idle.pss_kb / 1024, (double)res.idle.rss_kb / 1024, res.idle.nprocs);
        printf("%-28s %.0f bytes anon+shm, %.0f bytes RSS (%d channel(s) each)\n", "server memory per idle conn",
               res.mem_per_conn, res.rss_per_conn, opt.chans_per_conn);
    }
    for (int i = 0; i < 2; i++) {
        fanout_result_t *r = &res.fan[i];
        if (!r->ran)
            continue;
        char label[64];
        if (r->rate > 0)
            snprintf(label, sizeof(label), "at %.0f pub/s/channel", r->rate);
        else
            snprintf(label, sizeof(label), "window %d", opt.window);
        printf("-- fan-out, %s --\n", label);
        printf("%-28s %.0f msgs/s\n", "delivered", r->delivered_per_s);
        printf("%-28s %.0f msgs/s\n", "published", r->published_per_s);
        printf("%-28s p50 %.0f us, p99 %.0f us, max %.0f us (%" PRIu64 " samples)\n", "latency",
               hist_pct(&r->hist, 50) / 1e3, hist_pct(&r->hist, 99) / 1e3, (double)r->hist.max / 1e3, r->hist.count);
        if (opt.npids) {
            printf("%-28s %.0f %%\n", "server CPU", r->server_cpu_pct);
            printf("%-28s %.1f MiB anon+shm (%.1f MiB RSS)\n", "server memory", (double)r->pss_kb / 1024,
                   (double)r->rss_kb / 1024);
        }
        printf("%-28s %.0f %% (%d thread(s))\n", "loadgen CPU", r->loadgen_cpu_pct, opt.threads);
        printf("%-28s %.0f %% of %ld00 %% (softirq %.0f %%)\n", "machine CPU busy", r->machine_cpu_pct,
               sysconf(_SC_NPROCESSORS_ONLN), r->softirq_cpu_pct);
        printf("%-28s %.1f s for the last in-flight messages to arrive\n", "drain", r->drain_s);
        if (r->stalls)
            printf("%-28s %" PRIu64 " (channels with lost deliveries, window reset)\n", "stalls", r->stalls);
    }
    uint32_t codes[16] = {0};
    for (int i = 0; i < opt.threads; i++)
        for (int k = 0; k < 16; k++)
            codes[k] += atomic_load(&thr[i].close_codes[k]);
    for (int k = 0; k < 16; k++)
        if (codes[k])
            printf("%-28s %u connection(s) closed with %s%d\n", "closes", codes[k], k == 15 ? "other than " : "",
                   k == 15 ? 1015 : 1000 + k);
    if (SUM(other))
        printf("%-28s %" PRIu64 "\n", "unexpected frames", SUM(other));
    if (opt.csv) {
        printf("csv,target,connections,failed,closed,connect_per_s,joins_per_s,mem_per_conn_bytes,channels_per_conn,"
               "rss_per_conn_bytes,delivered_per_s,published_per_s,p50_us,p99_us,server_cpu_pct,server_pss_kb,loadgen_"
               "cpu_pct,"
               "machine_cpu_pct,softirq_cpu_pct,fixed_rate,fixed_delivered_per_s,fixed_p50_us,fixed_p99_us,fixed_"
               "server_cpu_pct\n");
        fanout_result_t *a = &res.fan[0], *b = &res.fan[1];
        printf("csv,%s,%d,%d,%u,%.0f,%.0f,%.0f,%d,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%ld,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,"
               "%.0f\n",
               t, res.opened, res.failed, res.closed, res.connect_rate, opt.target == TGT_NCHAN ? -1 : res.join_rate,
               opt.npids ? res.mem_per_conn : -1, opt.chans_per_conn, opt.npids ? res.rss_per_conn : -1,
               a->ran ? a->delivered_per_s : -1, a->ran ? a->published_per_s : -1,
               a->ran ? hist_pct(&a->hist, 50) / 1e3 : -1, a->ran ? hist_pct(&a->hist, 99) / 1e3 : -1,
               a->ran ? a->server_cpu_pct : -1, a->ran ? a->pss_kb : -1, a->ran ? a->loadgen_cpu_pct : -1,
               a->ran ? a->machine_cpu_pct : -1, a->ran ? a->softirq_cpu_pct : -1, b->ran ? b->rate : -1,
               b->ran ? b->delivered_per_s : -1, b->ran ? hist_pct(&b->hist, 50) / 1e3 : -1,
               b->ran ? hist_pct(&b->hist, 99) / 1e3 : -1, b->ran ? b->server_cpu_pct : -1);
    }
}

/* ---- set-up --------------------------------------------------------------- */

static int parse_args(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV()                                                                                                        \
    do {                                                                                                               \
        if (!v) {                                                                                                      \
            fprintf(stderr, "tc-loadgen: %s needs a value\n", a);                                                      \
            return -1;                                                                                                 \
        }                                                                                                              \
        i++;                                                                                                           \
    } while (0)
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage();
            return 1;
        } else if (!strcmp(a, "--target")) {
            NEEDV();
            if (!strcmp(v, "techcare"))
                opt.target = TGT_TECHCARE;
            else if (!strcmp(v, "nchan"))
                opt.target = TGT_NCHAN;
            else if (!strcmp(v, "ws"))
                opt.target = TGT_WS;
            else {
                fprintf(stderr, "tc-loadgen: unknown target %s\n", v);
                return -1;
            }
            opt.target_name = v;
        } else if (!strcmp(a, "--host")) {
            NEEDV();
            snprintf(opt.host, sizeof(opt.host), "%s", v);
        } else if (!strcmp(a, "--port")) {
            NEEDV();
            opt.port = atoi(v);
        } else if (!strcmp(a, "--connections")) {
            NEEDV();
            opt.conns = atoi(v);
        } else if (!strcmp(a, "--per-channel")) {
            NEEDV();
            opt.per_channel = atoi(v);
        } else if (!strcmp(a, "--publishers-per-channel")) {
            NEEDV();
            opt.pubs = atoi(v);
        } else if (!strcmp(a, "--rate")) {
            NEEDV();
            opt.rate = atof(v);
        } else if (!strcmp(a, "--latency-rate")) {
            NEEDV();
            opt.latency_rate = atof(v);
        } else if (!strcmp(a, "--window")) {
            NEEDV();
            opt.window = atoi(v);
        } else if (!strcmp(a, "--duration")) {
            NEEDV();
            opt.duration = atof(v);
        } else if (!strcmp(a, "--warmup")) {
            NEEDV();
            opt.warmup = atof(v);
        } else if (!strcmp(a, "--secret")) {
            NEEDV();
            opt.secret = v;
        } else if (!strcmp(a, "--channels-per-conn")) {
            NEEDV();
            opt.chans_per_conn = atoi(v);
        } else if (!strcmp(a, "--threads")) {
            NEEDV();
            opt.threads = atoi(v);
        } else if (!strcmp(a, "--server-pid")) {
            NEEDV();
            char *copy = xstrdup(v), *save = NULL;
            for (char *p = strtok_r(copy, ",", &save); p && opt.npids < MAX_PIDS; p = strtok_r(NULL, ",", &save))
                opt.pids[opt.npids++] = atoi(p);
            free(copy);
        } else if (!strcmp(a, "--pg-pid")) {
            NEEDV();
            char *copy = xstrdup(v), *save = NULL;
            for (char *p = strtok_r(copy, ",", &save); p && opt.npg_pids < MAX_PIDS; p = strtok_r(NULL, ",", &save))
                opt.pg_pids[opt.npg_pids++] = atoi(p);
            free(copy);
        } else if (!strcmp(a, "--pg-changes")) {
            opt.pgc = 1;
        } else if (!strcmp(a, "--db")) {
            NEEDV();
            opt.db = v;
        } else if (!strcmp(a, "--change-rate")) {
            NEEDV();
            opt.change_rate = atof(v);
        } else if (!strcmp(a, "--mix")) {
            NEEDV();
            if (sscanf(v, "%d,%d,%d", &opt.mix[0], &opt.mix[1], &opt.mix[2]) != 3) {
                fprintf(stderr, "tc-loadgen: --mix wants C,T,A\n");
                return -1;
            }
        } else if (!strcmp(a, "--write-mix")) {
            NEEDV();
            if (sscanf(v, "%d,%d,%d,%d", &opt.wmix[0], &opt.wmix[1], &opt.wmix[2], &opt.wmix[3]) != 4) {
                fprintf(stderr, "tc-loadgen: --write-mix wants M,B,U,I\n");
                return -1;
            }
        } else if (!strcmp(a, "--drain-max")) {
            NEEDV();
            opt.drain_max = atof(v);
        } else if (!strcmp(a, "--writer-inflight")) {
            NEEDV();
            opt.inflight = atoi(v);
        } else if (!strcmp(a, "--rows-per-tx")) {
            NEEDV();
            opt.rows_per_tx = atoi(v);
        } else if (!strcmp(a, "--adversary")) {
            NEEDV();
            opt.adv = 1;
            char *copy = xstrdup(v), *save = NULL;
            for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
                if (!strcmp(p, "regex"))
                    opt.adv_regex = 1;
                else if (!strcmp(p, "burst"))
                    opt.adv_burst = 1;
                else if (!strcmp(p, "stall"))
                    opt.adv_stall = 1;
                else if (!strcmp(p, "slowloris"))
                    opt.adv_slowloris = 1;
                else if (!strcmp(p, "all"))
                    opt.adv_regex = opt.adv_burst = opt.adv_stall = opt.adv_slowloris = 1;
                else if (strcmp(p, "none")) {
                    fprintf(stderr, "tc-loadgen: --adversary: unknown %s\n", p);
                    free(copy);
                    return -1;
                }
            }
            free(copy);
        } else if (!strcmp(a, "--adv-regex-channels")) {
            NEEDV();
            opt.adv_regex_channels = atoi(v);
        } else if (!strcmp(a, "--adv-regex-bindings")) {
            NEEDV();
            opt.adv_regex_bindings = atoi(v);
        } else if (!strcmp(a, "--adv-regex-kib")) {
            NEEDV();
            opt.adv_regex_kib = atoi(v);
        } else if (!strcmp(a, "--adv-regex-interval")) {
            NEEDV();
            opt.adv_regex_interval = atof(v);
        } else if (!strcmp(a, "--adv-burst-rows")) {
            NEEDV();
            opt.adv_burst_rows = atoi(v);
        } else if (!strcmp(a, "--adv-burst-interval")) {
            NEEDV();
            opt.adv_burst_interval = atof(v);
        } else if (!strcmp(a, "--adv-slowloris")) {
            NEEDV();
            opt.adv_slowloris_conns = atoi(v);
        } else if (!strcmp(a, "--adv-stall-max")) {
            NEEDV();
            opt.adv_stall_max = atof(v);
        } else if (!strcmp(a, "--adv-settle")) {
            NEEDV();
            opt.adv_settle = atof(v);
        } else if (!strcmp(a, "--idle")) {
            opt.idle = 1;
        } else if (!strcmp(a, "--csv")) {
            opt.csv = 1;
        } else if (!strcmp(a, "--binary")) {
            opt.binary = 1;
        } else if (!strcmp(a, "--quiet")) {
            opt.quiet = 1;
        } else if (!strcmp(a, "--source-ips")) {
            NEEDV();
            opt.source_ips = atoi(v);
        } else if (!strcmp(a, "--connect-concurrency")) {
            NEEDV();
            opt.connect_conc = atoi(v);
        } else {
            fprintf(stderr, "tc-loadgen: unknown option %s (see --help)\n", a);
            return -1;
        }
#undef NEEDV
    }
    if (opt.conns < 1 || opt.per_channel < 1 || opt.pubs < 0 || opt.pubs > opt.per_channel || opt.threads < 1 ||
        opt.threads > 64 || opt.chans_per_conn < 1 || opt.window < 1 || opt.connect_conc < 1 || opt.port < 1) {
        fprintf(stderr, "tc-loadgen: inconsistent options (see --help)\n");
        return -1;
    }
    if (opt.target == TGT_TECHCARE && !opt.secret) {
        fprintf(stderr, "tc-loadgen: --target techcare needs --secret\n");
        return -1;
    }
    if (opt.pgc) {
        if (!opt.db || opt.target != TGT_TECHCARE || opt.change_rate <= 0 || opt.inflight < 1 || opt.rows_per_tx < 1 ||
            opt.mix[0] < 0 || opt.mix[1] < 0 || opt.mix[2] < 0 || opt.mix[0] + opt.mix[1] + opt.mix[2] != 100 ||
            opt.wmix[0] < 0 || opt.wmix[1] < 0 || opt.wmix[2] < 0 || opt.wmix[3] < 0 ||
            opt.wmix[0] + opt.wmix[1] + opt.wmix[2] + opt.wmix[3] != 100) {
            fprintf(stderr, "tc-loadgen: --pg-changes needs --db, --target techcare, --change-rate > 0 and mixes "
                            "summing to 100\n");
            return -1;
        }
        if (opt.adv && (opt.adv_regex_channels < 1 || opt.adv_regex_bindings < 1 || opt.adv_regex_kib < 1 ||
                        opt.adv_regex_kib > 16384 || opt.adv_regex_interval <= 0 || opt.adv_burst_rows < 1 ||
                        opt.adv_burst_interval <= 0 || opt.adv_slowloris_conns < 1 || opt.adv_stall_max <= 0)) {
            fprintf(stderr, "tc-loadgen: inconsistent --adv-* options\n");
            return -1;
        }
        opt.per_channel = 1; /* every connection is its own user */
        opt.pubs = 0;
        opt.chans_per_conn = 1;
    }
    if (opt.adv && !opt.pgc) {
        fprintf(stderr, "tc-loadgen: --adversary needs --pg-changes\n");
        return -1;
    }
    if (opt.chans_per_conn > 1)
        opt.idle = 1; /* deliveries cannot be attributed to a channel's window then */
    if (opt.source_ips <= 0)
        opt.source_ips = (opt.conns + 24999) / 25000;
    return 0;
}

static void raise_nofile(void) {
    struct rlimit rl;
    rlim_t want = (rlim_t)opt.conns + 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
        rl.rlim_cur = want;
        if (rl.rlim_max < want)
            rl.rlim_max = want; /* root may raise the hard limit */
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            fprintf(stderr, "tc-loadgen: cannot raise the open-file limit to %lu: %s\n", (unsigned long)want,
                    strerror(errno));
    }
}

/* One anon apikey for the URL and one user token per connection, signed
 * here so that every join makes the server verify a distinct JWT. */
static char **sign_tokens(void) {
    time_t now = time(NULL);
    char claims[256];
    size_t sl = strlen(opt.secret);
    snprintf(claims, sizeof(claims), "{\"iss\":\"supabase\",\"role\":\"anon\",\"iat\":%ld,\"exp\":%ld}", (long)now,
             (long)now + 3600);
    apikey = jwt_sign_hs256((const uint8_t *)opt.secret, sl, claims);
    char **toks = xcalloc((size_t)opt.conns, sizeof(*toks));
    for (int i = 0; i < opt.conns; i++) {
        snprintf(claims, sizeof(claims),
                 "{\"aud\":\"authenticated\",\"role\":\"authenticated\",\"sub\":\"00000000-0000-4000-8000-%012x\","
                 "\"iat\":%ld,\"exp\":%ld}",
                 i, (long)now, (long)now + 3600);
        toks[i] = jwt_sign_hs256((const uint8_t *)opt.secret, sl, claims);
    }
    return toks;
}

/* Channel c's connections all go to thread c % T, so a channel's counters
 * are touched by one thread only. */
static void build_threads(char **toks) {
    nchannels = (opt.conns + opt.per_channel - 1) / opt.per_channel;
    thr = xcalloc((size_t)opt.threads, sizeof(thr_t));
    for (int i = 0; i < opt.threads; i++) {
        thr_t *t = &thr[i];
        t->id = i;
        t->phase = PH_INIT;
        t->ep = epoll_create1(EPOLL_CLOEXEC);
        if (t->ep < 0) {
            perror("epoll_create1");
            exit(1);
        }
    }
    for (int c = 0; c < nchannels; c++) {
        thr_t *t = &thr[c % opt.threads];
        int members = c == nchannels - 1 ? opt.conns - c * opt.per_channel : opt.per_channel;
        t->nconns += (uint32_t)members;
        t->nchans++;
    }
    for (int i = 0; i < opt.threads; i++) {
        thr_t *t = &thr[i];
        t->conns = xcalloc(t->nconns ? t->nconns : 1, sizeof(conn_t));
        t->chans = xcalloc(t->nchans ? t->nchans : 1, sizeof(chan_t));
        t->dirty = xcalloc(t->nconns ? t->nconns : 1, sizeof(conn_t *));
        t->nconns = t->nchans = 0;
    }
    for (int c = 0; c < nchannels; c++) {
        thr_t *t = &thr[c % opt.threads];
        chan_t *ch = &t->chans[t->nchans];
        ch->id = (uint32_t)c;
        int members = c == nchannels - 1 ? opt.conns - c * opt.per_channel : opt.per_channel;
        int np = opt.pubs < members ? opt.pubs : members;
        ch->pubs = xcalloc((size_t)(np ? np : 1), sizeof(conn_t *));
        for (int m = 0; m < members; m++) {
            conn_t *cn = &t->conns[t->nconns++];
            cn->fd = -1;
            cn->id = (uint32_t)(c * opt.per_channel + m);
            cn->chan = (uint32_t)c;
            cn->lchan = t->nchans;
            cn->is_pub = m < np;
            if (toks) {
                cn->token = toks[cn->id];
                toks[cn->id] = NULL;
            }
            if (cn->is_pub)
                ch->pubs[ch->npubs++] = cn;
        }
        t->nchans++;
    }
}

/* ---- Postgres Changes mode (--pg-changes) ------------------------------------ */

/* Every connection is one TechCare user. The users, their bookings and the
 * technicians who bid come from bench.customers / bench.techs / bench.admins,
 * which bench/cdc.sh fills. The first C customers, T technicians and A admins
 * (the --mix of --connections) connect; the writer writes rows that concern
 * the connected customers, and bids from every bench technician. */

enum { ROLE_CUSTOMER, ROLE_TECH, ROLE_ADMIN };
enum { K_BOOKINGS, K_BIDS, K_MESSAGES, K_NOTIFICATIONS, K_OTHER };
enum { W_MESSAGE, W_BID, W_UPDATE, W_INSERT };

typedef struct {
    int role;
    char id[40];
    char pending[40];  /* customer: a pending booking (its bids channel) */
    char assigned[40]; /* customer: an accepted booking (its chat); technician: the chat it follows */
    char tech[40];     /* customer: the technician of the assigned booking */
} cdc_user_t;

static cdc_user_t *cusers; /* one per connection */
static int n_cust, n_tech, n_admin;
static cdc_user_t *wcust; /* the customers the writer writes for: the connected ones, or
                           * (no customer connects) the first bench customers */
static int n_wcust;
static char (*bid_techs)[40]; /* every bench technician (verified): who bids */
static int n_bid_techs;
/* --adversary: per writer customer, whether the technician of its assigned
 * booking is connected (its notifications, its bookings channel) and whether
 * a connected technician follows that booking's chat; the hostile users. */
static uint8_t *w_tech_conn, *w_chat_tech;
static cdc_user_t adv_cust, adv_admin;
static int have_adv_cust, have_adv_admin;

static _Atomic int w_stop;
static _Atomic uint64_t w_committed, w_errors, w_skipped, w_inflight_max;
static _Atomic int w_failed;
static _Atomic int64_t w_marker_sent, marker_seen; /* now_ns() of the end marker's commit / first delivery */
static char marker[48];                            /* "end<nonce>=": this run's end marker */

/* CPU seconds of the postmaster's children by kind: [0] backends of the
 * --db user (the writer), [1] backends of other users (the server's pool:
 * RLS checks, catalog), [2] walsenders, [3] everything else (checkpointer,
 * WAL writer, autovacuum, the postmaster). */
static void pg_breakdown(double out[4]) {
    out[0] = out[1] = out[2] = out[3] = 0;
    if (!opt.npg_pids)
        return;
    const char *u = strstr(opt.db, "user=");
    char user[64] = "postgres";
    if (u)
        sscanf(u + 5, "%63[^ ]", user);
    char want[80];
    snprintf(want, sizeof(want), "postgres: %s ", user);
    DIR *d = opendir("/proc");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        int pid = atoi(e->d_name), pp;
        double cpu;
        if (read_stat(pid, &cpu, &pp) < 0)
            continue;
        if (pid != opt.pg_pids[0] && pp != opt.pg_pids[0])
            continue;
        char path[64], cmd[256] = "";
        snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
        FILE *f = fopen(path, "r");
        if (f) {
            size_t n = fread(cmd, 1, sizeof(cmd) - 1, f);
            cmd[n] = 0;
            fclose(f);
        }
        int k = 3;
        if (pid == opt.pg_pids[0])
            k = 3;
        else if (!strncmp(cmd, "postgres: walsender", 19))
            k = 2;
        else if (!strncmp(cmd, want, strlen(want)))
            k = 0;
        else if (strstr(cmd, "127.0.0.1") || strstr(cmd, "[local]"))
            k = 1;
        out[k] += cpu;
    }
    closedir(d);
}

static int64_t realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void cdc_join(thr_t *t, conn_t *c, int k, const char *topic, const char *bindings) {
    size_t cap = 1024 + strlen(bindings) + strlen(c->token);
    char *msg = xmalloc(cap);
    c->ref++;
    int n = snprintf(msg, cap,
                     "[\"%d\",\"%u\",\"realtime:%s\",\"phx_join\",{\"config\":{\"broadcast\":{\"ack\":false,"
                     "\"self\":false},\"presence\":{\"key\":\"\",\"enabled\":false},\"postgres_changes\":[%s],"
                     "\"private\":false},\"access_token\":\"%s\"}]",
                     k, c->ref, topic, bindings, c->token);
    send_text(t, c, msg, (size_t)n);
    c->joins_pending++;
    free(msg);
}

#define BINDING(ev, table, filter_fmt, ...)                                                                            \
    snprintf(b, sizeof(b), "{\"event\":\"" ev "\",\"schema\":\"public\",\"table\":\"" table "\"" filter_fmt "}",       \
             ##__VA_ARGS__)

/* The channels of the seed's screens (sections 6.1-6.3), one join each. */
/* Chat (the assigned booking's messages) and NotificationBell: both roles
 * have them, as join refs ref and ref + 1. */
static void cdc_join_chat_and_bell(thr_t *t, conn_t *c, int ref, const cdc_user_t *u) {
    char topic[128], b[512];
    snprintf(topic, sizeof(topic), "chat:%s", u->assigned);
    BINDING("INSERT", "messages", ",\"filter\":\"booking_id=eq.%s\"", u->assigned);
    cdc_join(t, c, ref, topic, b);
    snprintf(topic, sizeof(topic), "user:%s:notifications", u->id);
    BINDING("INSERT", "notifications", ",\"filter\":\"user_id=eq.%s\"", u->id);
    cdc_join(t, c, ref + 1, topic, b);
}

static void cdc_send_joins(thr_t *t, conn_t *c) {
    const cdc_user_t *u = &cusers[c->id];
    char topic[128], b[512], b2[256];
    switch (u->role) {
    case ROLE_CUSTOMER:
        BINDING("UPDATE", "bookings", ",\"filter\":\"customer_id=eq.%s\"", u->id);
        cdc_join(t, c, 1, "public:bookings", b);
        snprintf(topic, sizeof(topic), "bids:%s", u->pending);
        BINDING("INSERT", "bids", ",\"filter\":\"booking_id=eq.%s\"", u->pending);
        cdc_join(t, c, 2, topic, b);
        cdc_join_chat_and_bell(t, c, 3, u);
        break;
    case ROLE_TECH:
        /* TechDashboard (technician_id=eq.me, *) and Marketplace (status=eq.pending,
         * INSERT) both listen on public:bookings: one channel, two bindings. */
        snprintf(
            b2, sizeof(b2),
            "{\"event\":\"INSERT\",\"schema\":\"public\",\"table\":\"bookings\",\"filter\":\"status=eq.pending\"}");
        BINDING("*", "bookings", ",\"filter\":\"technician_id=eq.%s\"},%s", u->id, b2);
        b[strlen(b) - 1] = 0; /* the macro's closing brace is already in b2 */
        cdc_join(t, c, 1, "public:bookings", b);
        cdc_join_chat_and_bell(t, c, 2, u);
        break;
    default:
        BINDING("*", "bookings", "%s", "");
        cdc_join(t, c, 1, "public:bookings", b);
        BINDING("INSERT", "profiles", "%s", "");
        cdc_join(t, c, 2, "public:profiles", b);
        BINDING("INSERT", "reviews", "%s", "");
        cdc_join(t, c, 3, "public:reviews", b);
        BINDING("INSERT", "technicians", ",\"filter\":\"is_verified=eq.false\"");
        cdc_join(t, c, 4, "public:technicians", b);
        break;
    }
    free(c->token);
    c->token = NULL;
}

static int cdc_joins_of(int role) { return role == ROLE_TECH ? 3 : 4; }

static void cdc_on_message(thr_t *t, conn_t *c, const uint8_t *p, size_t n, int slot) {
    size_t hn = n < 200 ? n : 200; /* the event name is within the first bytes */
    if (n > 6 && memmem(p, hn, "\"postgres_changes\",{", 20)) {
        t->deliv_local++;
        int kind = K_OTHER;
        const uint8_t *q = memmem(p, n, "\"table\":\"", 9);
        if (q && q + 11 < p + n) {
            q += 9;
            if (q[0] == 'b')
                kind = q[1] == 'o' ? K_BOOKINGS : K_BIDS;
            else if (q[0] == 'm')
                kind = K_MESSAGES;
            else if (q[0] == 'n')
                kind = K_NOTIFICATIONS;
        }
        t->kind_local[kind]++;
        if (opt.adv) {
            /* The end marker's old_record carries an earlier stamp: look for it first. */
            if (memmem(p, n, marker, strlen(marker))) {
                int64_t z = 0;
                atomic_compare_exchange_strong(&marker_seen, &z, now_ns());
                return;
            }
            const uint8_t *s = memmem(p, n, "\"t=", 3);
            if (!s) {
                t->unstamped_local++;
                return;
            }
            s += 3;
            int64_t ts = 0;
            while (s < p + n && *s >= '0' && *s <= '9')
                ts = ts * 10 + (*s++ - '0');
            if (ts > 0 && s < p + n && *s == 'm') { /* a row the writer committed in the window */
                int64_t d = realtime_ns() - ts;
                t->marked_local++;
                hist_add(&t->hist[0], d > 0 ? d : 0);
            }
            return;
        }
        if (slot < 0) {
            if (memmem(p, n, marker, strlen(marker))) {
                int64_t z = 0;
                atomic_compare_exchange_strong(&marker_seen, &z, now_ns());
            }
            return;
        }
        /* The first "t=<ns>" value is the new row's (record comes before old_record). */
        const uint8_t *s = memmem(p, n, "\"t=", 3);
        if (!s)
            return;
        s += 3;
        int64_t ts = 0;
        while (s < p + n && *s >= '0' && *s <= '9')
            ts = ts * 10 + (*s++ - '0');
        if (ts > 0) {
            int64_t d = realtime_ns() - ts;
            hist_add(&t->hist[0], d > 0 ? d : 0);
        }
    } else if (n > 6 && memmem(p, hn, "\"system\",{", 10)) {
        if (memmem(p, n, "\"status\":\"ok\"", 13)) {
            atomic_fetch_add(&t->subscribed, 1);
        } else {
            atomic_fetch_add(&t->sub_err, 1);
            static _Atomic int shown;
            if (atomic_fetch_add(&shown, 1) < 3)
                fprintf(stderr, "[loadgen] system error: %.*s\n", (int)(n > 400 ? 400 : n), (const char *)p);
        }
    } else if (n > 2 && memmem(p, hn, "\"phx_reply\"", 11)) {
        if (p[1] == '"' && c->joins_pending) {
            int ok = memmem(p, n, "\"status\":\"ok\"", 13) != NULL;
            if (!ok) {
                static _Atomic int shown;
                if (atomic_fetch_add(&shown, 1) < 3)
                    fprintf(stderr, "[loadgen] join refused: %.*s\n", (int)(n > 400 ? 400 : n), (const char *)p);
            }
            on_join_reply(t, c, ok, now_ns());
        }
        /* else a heartbeat's reply */
    } else {
        note_other(t, p, n);
    }
}

/* ---- the users, from the database ---- */

static PGresult *q_exec(PGconn *pg, const char *sql) {
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "tc-loadgen: %s: %s", sql, PQerrorMessage(pg));
        exit(1);
    }
    return r;
}

static void copy_id(char *dst, PGresult *r, int row, int col) {
    snprintf(dst, 40, "%s", PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

static void load_users(void) {
    PGconn *pg = PQconnectdb(opt.db);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "tc-loadgen: cannot connect to the database: %s", PQerrorMessage(pg));
        exit(1);
    }
    n_cust = (int)((double)opt.conns * opt.mix[0] / 100.0 + 0.5);
    n_tech = (int)((double)opt.conns * opt.mix[1] / 100.0 + 0.5);
    if (n_cust + n_tech > opt.conns)
        n_tech = opt.conns - n_cust;
    n_admin = opt.conns - n_cust - n_tech;
    PGresult *rc =
        q_exec(pg, "select id, pending_booking, assigned_booking, assigned_tech from bench.customers order by idx");
    PGresult *rt = q_exec(pg, "select id, chat_booking from bench.techs order by idx");
    PGresult *ra = q_exec(pg, "select id from bench.admins order by idx");
    if (PQntuples(rc) < n_cust || PQntuples(rt) < n_tech || PQntuples(ra) < n_admin || PQntuples(rc) < 1) {
        fprintf(stderr, "tc-loadgen: bench.* has %d customers, %d technicians, %d admins; %d/%d/%d wanted\n",
                PQntuples(rc), PQntuples(rt), PQntuples(ra), n_cust, n_tech, n_admin);
        exit(1);
    }
    cusers = xcalloc((size_t)opt.conns, sizeof(*cusers));
    int k = 0;
    for (int i = 0; i < n_cust; i++, k++) {
        cusers[k].role = ROLE_CUSTOMER;
        copy_id(cusers[k].id, rc, i, 0);
        copy_id(cusers[k].pending, rc, i, 1);
        copy_id(cusers[k].assigned, rc, i, 2);
        copy_id(cusers[k].tech, rc, i, 3);
    }
    for (int i = 0; i < n_tech; i++, k++) {
        cusers[k].role = ROLE_TECH;
        copy_id(cusers[k].id, rt, i, 0);
        copy_id(cusers[k].assigned, rt, i, 1);
    }
    for (int i = 0; i < n_admin; i++, k++) {
        cusers[k].role = ROLE_ADMIN;
        copy_id(cusers[k].id, ra, i, 0);
    }
    n_wcust = n_cust ? n_cust : (PQntuples(rc) < 100 ? PQntuples(rc) : 100);
    wcust = n_cust ? cusers : xcalloc((size_t)n_wcust, sizeof(*wcust));
    for (int i = 0; !n_cust && i < n_wcust; i++) {
        wcust[i].role = ROLE_CUSTOMER;
        copy_id(wcust[i].id, rc, i, 0);
        copy_id(wcust[i].pending, rc, i, 1);
        copy_id(wcust[i].assigned, rc, i, 2);
        copy_id(wcust[i].tech, rc, i, 3);
    }
    n_bid_techs = PQntuples(rt);
    bid_techs = xcalloc((size_t)n_bid_techs, sizeof(*bid_techs));
    for (int i = 0; i < n_bid_techs; i++)
        copy_id(bid_techs[i], rt, i, 0);
    if (opt.adv) {
        /* Who receives each honest row, from the connected users (see the
         * expected fan-out in writer_main). */
        w_tech_conn = xcalloc((size_t)n_wcust, 1);
        w_chat_tech = xcalloc((size_t)n_wcust, 1);
        for (int i = 0; i < n_wcust; i++)
            for (int u = n_cust; u < n_cust + n_tech; u++) {
                if (!strcmp(cusers[u].id, wcust[i].tech))
                    w_tech_conn[i] = 1;
                if (cusers[u].assigned[0] && !strcmp(cusers[u].assigned, wcust[i].assigned))
                    w_chat_tech[i] = 1;
            }
        /* The hostile customer and admin: the first ones no honest client is. */
        if (PQntuples(rc) > n_cust) {
            adv_cust.role = ROLE_CUSTOMER;
            copy_id(adv_cust.id, rc, n_cust, 0);
            have_adv_cust = 1;
        }
        if (PQntuples(ra) > n_admin) {
            adv_admin.role = ROLE_ADMIN;
            copy_id(adv_admin.id, ra, n_admin, 0);
            have_adv_admin = 1;
        }
        if (((opt.adv_regex || opt.adv_burst) && !have_adv_cust) || (opt.adv_stall && !have_adv_admin)) {
            fprintf(stderr, "tc-loadgen: --adversary needs one more bench customer (regex, burst) and admin (stall) "
                            "than the honest clients use\n");
            exit(1);
        }
    }
    PQclear(rc);
    PQclear(rt);
    PQclear(ra);
    PQfinish(pg);
}

static char **cdc_sign_tokens(void) {
    time_t now = time(NULL);
    char claims[320];
    size_t sl = strlen(opt.secret);
    snprintf(claims, sizeof(claims), "{\"iss\":\"supabase\",\"role\":\"anon\",\"iat\":%ld,\"exp\":%ld}", (long)now,
             (long)now + 7200);
    apikey = jwt_sign_hs256((const uint8_t *)opt.secret, sl, claims);
    char **toks = xcalloc((size_t)opt.conns, sizeof(*toks));
    for (int i = 0; i < opt.conns; i++) {
        snprintf(claims, sizeof(claims),
                 "{\"aud\":\"authenticated\",\"role\":\"authenticated\",\"sub\":\"%s\",\"iat\":%ld,\"exp\":%ld}",
                 cusers[i].id, (long)now, (long)now + 7200);
        toks[i] = jwt_sign_hs256((const uint8_t *)opt.secret, sl, claims);
    }
    return toks;
}

/* ---- the writer ---- */

#define STAMP "'t=' || ((extract(epoch from clock_timestamp()) * 1000000)::bigint * 1000)::text"
/* --adversary: rows written inside the measured window end their stamp with
 * "m" (receivers read the digits, then look for it). */
#define STAMP_M STAMP " || 'm'"
#define W_SQL(stamp)                                                                                                   \
    "insert into public.messages (booking_id, sender_id, body) values ($1::uuid, $2::uuid, " stamp ")",                \
        "insert into public.bids (booking_id, technician_id, amount, message) values ($1::uuid, $2::uuid, 50, " stamp  \
        ")",                                                                                                           \
        "update public.bookings set description = " stamp " where id = $1::uuid",                                      \
        "insert into public.bookings (customer_id, service, description, price) values ($1::uuid, 'bench job', " stamp \
        ", 50)"

static const char *const w_sql[8] = {W_SQL(STAMP), W_SQL(STAMP_M)};
static const char *const w_name[8] = {"w_msg", "w_bid", "w_upd", "w_ins", "w_msg_m", "w_bid_m", "w_upd_m", "w_ins_m"};

/* --adversary: the window is open (rows are marked), and what the marked rows
 * that committed should bring: deliveries to connected clients. */
static _Atomic int g_mark;
static _Atomic uint64_t w_expected, w_marked_rows;

/* Deliveries of one honest row to the connected clients, from the seed's
 * subscriptions and TechCare's policies (the stamped ones only: a bid's
 * notification does not carry the stamp). k counts rows of that kind. */
static uint32_t w_fanout(int kind, uint64_t k) {
    int i = (int)(k % (uint64_t)n_wcust);
    uint32_t cust = n_cust > 0; /* the writer's customers are the connected ones, if any */
    switch (kind) {
    case W_MESSAGE: {
        /* the chat's two parties (a technician follows one chat), and the
         * other party's notification (its body is the message's start) */
        int by_tech = (int)((k / (uint64_t)n_wcust) % 2);
        return cust + w_chat_tech[i] + (by_tech ? cust : w_tech_conn[i]);
    }
    case W_BID: /* the customer's bids channel */ return cust;
    case W_UPDATE: /* the customer, its technician, every admin */ return cust + w_tech_conn[i] + (uint32_t)n_admin;
    default: /* a pending booking: every connected (verified) technician, every admin */
        return (uint32_t)n_tech + (uint32_t)n_admin;
    }
}

/* Smooth weighted round robin over the write mix: 100 slots. */
static void build_schedule(uint8_t sched[100]) {
    int cur[4] = {0, 0, 0, 0};
    for (int s = 0; s < 100; s++) {
        int best = 0;
        for (int k = 0; k < 4; k++) {
            cur[k] += opt.wmix[k];
            if (cur[k] > cur[best])
                best = k;
        }
        cur[best] -= 100;
        sched[s] = (uint8_t)best;
    }
}

static void *writer_main(void *arg) {
    (void)arg;
    PGconn *pg = PQconnectdb(opt.db);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "[writer] cannot connect: %s", PQerrorMessage(pg));
        atomic_store(&w_failed, 1);
        return NULL;
    }
    for (int k = 0; k < (opt.adv ? 8 : 4); k++) {
        PGresult *r = PQprepare(pg, w_name[k], w_sql[k], 0, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "[writer] prepare %s: %s", w_name[k], PQerrorMessage(pg));
            atomic_store(&w_failed, 1);
            PQclear(r);
            PQfinish(pg);
            return NULL;
        }
        PQclear(r);
    }
    if (!PQenterPipelineMode(pg) || PQsetnonblocking(pg, 1) != 0) {
        fprintf(stderr, "[writer] pipeline mode: %s", PQerrorMessage(pg));
        atomic_store(&w_failed, 1);
        PQfinish(pg);
        return NULL;
    }
    uint8_t sched[100];
    build_schedule(sched);
    uint64_t cnt[4] = {0, 0, 0, 0}, seq = 0, sent = 0, inflight = 0, committed = 0, errors = 0, skipped = 0;
    uint64_t maxin = 0;
    int cur_err = 0, shown = 0;
    /* rows of each transaction in flight (a ring, in send order), and the
     * deliveries its marked rows should bring */
    size_t ring_cap = (size_t)opt.inflight + 1, ring_head = 0, ring_len = 0;
    struct wtx {
        uint32_t rows, marked, expect;
    } *ring = calloc(ring_cap, sizeof(*ring));
    uint32_t rows_open = 0, marked_open = 0, expect_open = 0; /* the transaction not yet synced */
    uint64_t expected = 0, marked_rows = 0;
    int64_t start = now_ns();
    double rate = opt.change_rate;
    for (;;) {
        int stop = atomic_load_explicit(&w_stop, memory_order_relaxed);
        if (!stop) {
            uint64_t due = (uint64_t)((double)(now_ns() - start) / 1e9 * rate);
            /* More than a second behind: the database does not keep up; do
             * not build an ever-growing debt (what was not written shows in
             * the committed rate). */
            if (due > sent + (uint64_t)rate + 1) {
                skipped += due - sent - (uint64_t)rate;
                sent = due - (uint64_t)rate;
            }
            while (sent < due && inflight < (uint64_t)opt.inflight) {
                int kind = sched[seq++ % 100];
                uint64_t k = cnt[kind]++;
                const cdc_user_t *cu = &wcust[k % (uint64_t)n_wcust];
                const char *v[2] = {NULL, NULL};
                int nv = 1;
                switch (kind) {
                case W_MESSAGE: /* the chat of an assigned booking, customer and technician in turn */
                    v[0] = cu->assigned;
                    v[1] = (k / (uint64_t)n_wcust) % 2 ? cu->tech : cu->id;
                    nv = 2;
                    break;
                case W_BID: /* every (pending booking, technician) pair once */
                    v[0] = cu->pending;
                    v[1] = bid_techs[(k / (uint64_t)n_wcust) % (uint64_t)n_bid_techs];
                    nv = 2;
                    break;
                case W_UPDATE: v[0] = cu->assigned; break;
                default: v[0] = cu->id; break;
                }
                int mk = opt.adv && atomic_load_explicit(&g_mark, memory_order_relaxed);
                if (mk) {
                    marked_open++;
                    expect_open += w_fanout(kind, k);
                }
                if (!PQsendQueryPrepared(pg, w_name[kind + (mk ? 4 : 0)], nv, v, NULL, NULL, 0)) {
                    fprintf(stderr, "[writer] send: %s", PQerrorMessage(pg));
                    atomic_store(&w_failed, 1);
                    goto out;
                }
                sent++;
                /* a Sync ends the implicit transaction of the rows before it */
                if (++rows_open == (uint32_t)opt.rows_per_tx) {
                    if (!PQpipelineSync(pg)) {
                        fprintf(stderr, "[writer] sync: %s", PQerrorMessage(pg));
                        atomic_store(&w_failed, 1);
                        goto out;
                    }
                    ring[(ring_head + ring_len++) % ring_cap] = (struct wtx){rows_open, marked_open, expect_open};
                    rows_open = marked_open = expect_open = 0;
                    inflight++;
                }
            }
            if (inflight > maxin)
                maxin = inflight;
        } else if (rows_open) { /* the last, partial transaction */
            if (!PQpipelineSync(pg)) {
                atomic_store(&w_failed, 1);
                goto out;
            }
            ring[(ring_head + ring_len++) % ring_cap] = (struct wtx){rows_open, marked_open, expect_open};
            rows_open = marked_open = expect_open = 0;
            inflight++;
        } else if (inflight == 0) {
            break;
        }
        int fl = PQflush(pg);
        if (fl < 0) {
            fprintf(stderr, "[writer] flush: %s", PQerrorMessage(pg));
            atomic_store(&w_failed, 1);
            goto out;
        }
        struct pollfd pfd = {.fd = PQsocket(pg), .events = (short)(POLLIN | (fl ? POLLOUT : 0))};
        poll(&pfd, 1, 1);
        if (!PQconsumeInput(pg)) {
            fprintf(stderr, "[writer] %s", PQerrorMessage(pg));
            atomic_store(&w_failed, 1);
            goto out;
        }
        int nulls = 0;
        while (inflight > 0 && !PQisBusy(pg)) {
            PGresult *r = PQgetResult(pg);
            if (!r) {
                if (++nulls > 1)
                    break;
                continue;
            }
            nulls = 0;
            ExecStatusType st = PQresultStatus(r);
            if (st == PGRES_PIPELINE_SYNC) {
                inflight--;
                struct wtx tx = ring_len ? ring[ring_head] : (struct wtx){1, 0, 0};
                if (ring_len) {
                    ring_head = (ring_head + 1) % ring_cap;
                    ring_len--;
                }
                if (cur_err) {
                    errors += tx.rows;
                } else {
                    committed += tx.rows;
                    marked_rows += tx.marked;
                    expected += tx.expect;
                }
                cur_err = 0;
            } else if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
                cur_err = 1;
                if (st != PGRES_PIPELINE_ABORTED && shown++ < 5)
                    fprintf(stderr, "[writer] %s", PQresultErrorMessage(r));
            }
            PQclear(r);
        }
        atomic_store_explicit(&w_committed, committed, memory_order_relaxed);
        atomic_store_explicit(&w_errors, errors, memory_order_relaxed);
        atomic_store_explicit(&w_skipped, skipped, memory_order_relaxed);
        atomic_store_explicit(&w_inflight_max, maxin, memory_order_relaxed);
        atomic_store_explicit(&w_expected, expected, memory_order_relaxed);
        atomic_store_explicit(&w_marked_rows, marked_rows, memory_order_relaxed);
    }
    /* The end marker: one more update, of customer 0's assigned booking
     * (customer 0, its technician and the admins receive it). Changes are
     * published in commit order, so once it arrives everything written
     * before it has been. */
    if (PQexitPipelineMode(pg) && PQsetnonblocking(pg, 0) == 0) {
        const char *v[1] = {wcust[0].assigned};
        PGresult *r = PQexecParams(pg,
                                   "update public.bookings set description = $2 || "
                                   "((extract(epoch from clock_timestamp()) * 1000000)::bigint * 1000)::text "
                                   "where id = $1::uuid",
                                   2, NULL, (const char *[]){v[0], marker + 1}, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_COMMAND_OK)
            atomic_store(&w_marker_sent, now_ns());
        else
            fprintf(stderr, "[writer] end marker: %s", PQerrorMessage(pg));
        PQclear(r);
    }
out:
    free(ring);
    PQfinish(pg);
    return NULL;
}

/* ---- the adversary (--adversary) ---- */

/* Hostile clients, each on its own thread with plain blocking sockets (they
 * are few, and none of their time is measured): they connect from other
 * loopback addresses than the honest clients (127.0.0.1), as another host
 * would, so that what the server limits or budgets per address is theirs. */

#define ADV_SRC_REGEX "127.0.0.2"
#define ADV_SRC_STALL "127.0.0.3"
#define ADV_SRC_SLOW "127.0.0.4"

static _Atomic int adv_stop;
static struct {
    _Atomic uint64_t regex_joins_ok, regex_joins_refused, regex_subscribed, regex_sub_err, regex_conns;
    _Atomic uint64_t posts_ok, posts_failed;
    _Atomic uint64_t bursts_ok, bursts_failed, burst_ms_max;
    _Atomic uint64_t stall_conns, stall_joined, stall_dropped, stall_timeouts;
    _Atomic uint64_t slow_opened, slow_408, slow_closed, slow_failed, slow_open_now, slow_open_max;
} adv;
static char adv_first_refusal[256];
static pthread_mutex_t adv_lock = PTHREAD_MUTEX_INITIALIZER;

static void adv_note_refusal(const char *what, const uint8_t *p, size_t n) {
    pthread_mutex_lock(&adv_lock);
    if (!adv_first_refusal[0])
        snprintf(adv_first_refusal, sizeof(adv_first_refusal), "%s: %.*s", what, (int)(n > 200 ? 200 : n),
                 (const char *)p);
    pthread_mutex_unlock(&adv_lock);
}

/* Sleeps up to s seconds, in steps, returning early once adv_stop is set. */
static void adv_sleep(double s) {
    double end = now_s() + s;
    while (!atomic_load(&adv_stop) && now_s() < end) {
        double left = end - now_s();
        sleep_s(left > 0.05 ? 0.05 : (left > 0 ? left : 0));
    }
}

/* A blocking TCP connection from src to the server; rcvbuf > 0 shrinks the
 * receive buffer before connecting (so a client that does not read fills
 * the server's queue soon). Returns the fd or -1. */
static int adv_tcp(const char *src, int rcvbuf) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &a.sin_addr);
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    inet_pton(AF_INET, opt.host, &dst.sin_addr);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int adv_send_all(int fd, const void *p, size_t n) {
    const char *b = p;
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A minimal blocking WebSocket client. */
typedef struct {
    int fd;
    uint8_t *buf;
    size_t len, cap;
    uint32_t ref;
} aws_t;

static void aws_close(aws_t *w) {
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    w->len = 0;
}

/* Reads what is there (waiting up to timeout_ms for something): 1 read,
 * 0 nothing yet, -1 closed. */
static int aws_fill(aws_t *w, int timeout_ms) {
    struct pollfd pfd = {.fd = w->fd, .events = POLLIN};
    int r = poll(&pfd, 1, timeout_ms);
    if (r <= 0)
        return 0;
    if (w->cap - w->len < 65536) {
        w->cap = w->cap ? w->cap * 2 : 262144;
        w->buf = xrealloc(w->buf, w->cap);
    }
    ssize_t n = recv(w->fd, w->buf + w->len, w->cap - w->len, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        return -1;
    if (n > 0)
        w->len += (size_t)n;
    return 1;
}

static int aws_open(aws_t *w, const char *src, int rcvbuf) {
    w->fd = adv_tcp(src, rcvbuf);
    w->len = 0;
    if (w->fd < 0)
        return -1;
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "GET /realtime/v1/websocket?apikey=%s&vsn=2.0.0 HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     apikey, opt.host, opt.port, ws_key);
    if (adv_send_all(w->fd, req, (size_t)n) < 0)
        goto fail;
    double end = now_s() + 10;
    const uint8_t *e = NULL;
    while (!(e = w->len ? memmem(w->buf, w->len, "\r\n\r\n", 4) : NULL) && now_s() < end)
        if (aws_fill(w, 100) < 0)
            goto fail;
    if (!e || w->len < 12 || memcmp(w->buf, "HTTP/1.1 101", 12) != 0)
        goto fail;
    size_t head = (size_t)(e - w->buf) + 4;
    memmove(w->buf, w->buf + head, w->len - head);
    w->len -= head;
    return 0;
fail:
    aws_close(w);
    return -1;
}

static int aws_send(aws_t *w, int opcode, const char *s, size_t n) {
    uint8_t *f = xmalloc(n + 14);
    size_t fl = ws_frame_encode_client(f, opcode, (const uint8_t *)s, n, xorshift());
    int r = adv_send_all(w->fd, f, fl);
    free(f);
    return r;
}

/* The next whole message (text or binary) into p and n, valid until the next
 * call: 1, 0 on timeout, -1 closed. Answers pings. */
static int aws_next(aws_t *w, int timeout_ms, uint8_t **p, size_t *n, size_t *consumed) {
    if (*consumed) {
        memmove(w->buf, w->buf + *consumed, w->len - *consumed);
        w->len -= *consumed;
        *consumed = 0;
    }
    double end = now_s() + timeout_ms / 1e3;
    for (;;) {
        if (w->len >= 2) {
            uint8_t *f = w->buf;
            uint64_t len = f[1] & 0x7f;
            size_t hl = 2;
            if (len == 126 && w->len >= 4) {
                len = (uint64_t)f[2] << 8 | f[3];
                hl = 4;
            } else if (len == 127 && w->len >= 10) {
                len = 0;
                for (int i = 0; i < 8; i++)
                    len = len << 8 | f[2 + i];
                hl = 10;
            } else if (len >= 126) {
                len = UINT64_MAX;
            }
            if (len != UINT64_MAX && w->len >= hl + len) {
                int op = f[0] & 0x0f;
                *consumed = hl + (size_t)len;
                if (op == WS_OP_CLOSE)
                    return -1;
                if (op == WS_OP_PING) {
                    aws_send(w, WS_OP_PONG, (const char *)f + hl, (size_t)len);
                    memmove(w->buf, w->buf + *consumed, w->len - *consumed);
                    w->len -= *consumed;
                    *consumed = 0;
                    continue;
                }
                if (op == WS_OP_TEXT || op == WS_OP_BINARY) {
                    *p = f + hl;
                    *n = (size_t)len;
                    return 1;
                }
                memmove(w->buf, w->buf + *consumed, w->len - *consumed);
                w->len -= *consumed;
                *consumed = 0;
                continue;
            }
        }
        int left = (int)((end - now_s()) * 1e3);
        if (left <= 0)
            return 0;
        int r = aws_fill(w, left > 100 ? 100 : left);
        if (r < 0)
            return -1;
    }
}

/* Joins and waits (up to 15 s) for their replies and, for the ones that
 * were accepted, the "Subscribed to PostgreSQL" system message. joins[i]
 * is the bindings JSON of topic prefix-i. Returns the accepted joins. */
static int aws_join_all(aws_t *w, const char *token, const char *prefix, char **joins, int njoins, _Atomic uint64_t *ok,
                        _Atomic uint64_t *refused, _Atomic uint64_t *subscribed, _Atomic uint64_t *sub_err) {
    for (int i = 0; i < njoins; i++) {
        size_t cap = strlen(joins[i]) + strlen(token) + 512;
        char *m = xmalloc(cap);
        int n = snprintf(m, cap,
                         "[\"%d\",\"%u\",\"realtime:%s-%d\",\"phx_join\",{\"config\":{\"broadcast\":{\"ack\":false,"
                         "\"self\":false},\"presence\":{\"key\":\"\",\"enabled\":false},\"postgres_changes\":[%s],"
                         "\"private\":false},\"access_token\":\"%s\"}]",
                         i + 1, ++w->ref, prefix, i, joins[i], token);
        int r = aws_send(w, WS_OP_TEXT, m, (size_t)n);
        free(m);
        if (r < 0)
            return 0;
    }
    int replies = 0, accepted = 0, sys = 0;
    double end = now_s() + 15;
    size_t consumed = 0;
    while ((replies < njoins || sys < accepted) && now_s() < end && !atomic_load(&adv_stop)) {
        uint8_t *p;
        size_t n;
        int r = aws_next(w, 200, &p, &n, &consumed);
        if (r < 0)
            return 0;
        if (r == 0)
            continue;
        size_t hn = n < 200 ? n : 200;
        if (memmem(p, hn, "\"phx_reply\"", 11) && n > 2 && p[1] == '"') {
            replies++;
            if (memmem(p, n, "\"status\":\"ok\"", 13)) {
                accepted++;
                atomic_fetch_add(ok, 1);
            } else {
                atomic_fetch_add(refused, 1);
                adv_note_refusal("join refused", p, n);
            }
        } else if (memmem(p, hn, "\"system\",{", 10)) {
            sys++;
            if (memmem(p, n, "\"status\":\"ok\"", 13)) {
                atomic_fetch_add(subscribed, 1);
            } else {
                atomic_fetch_add(sub_err, 1);
                adv_note_refusal("system error", p, n);
            }
        } else if (memmem(p, hn, "\"phx_error\"", 11) || memmem(p, hn, "\"phx_close\"", 11)) {
            adv_note_refusal("channel closed", p, n);
        }
    }
    if (consumed) {
        memmove(w->buf, w->buf + consumed, w->len - consumed);
        w->len -= consumed;
    }
    return accepted;
}

static char *adv_token(const char *sub) {
    time_t now = time(NULL);
    char claims[320];
    snprintf(claims, sizeof(claims),
             "{\"aud\":\"authenticated\",\"role\":\"authenticated\",\"sub\":\"%s\",\"iat\":%ld,\"exp\":%ld}", sub,
             (long)now, (long)now + 7200);
    return jwt_sign_hs256((const uint8_t *)opt.secret, strlen(opt.secret), claims);
}

/* regex: 5 channels x 100 bookings bindings with a costly case-insensitive
 * regex each (all distinct, so none is shared), and a booking with a long
 * description of 'a's (which never matches: no 'b') every interval, through
 * REST as that customer. */
static void *adv_regex_main(void *arg) {
    (void)arg;
    char *token = adv_token(adv_cust.id);
    int nch = opt.adv_regex_channels, nb = opt.adv_regex_bindings;
    char **joins = xcalloc((size_t)nch, sizeof(*joins));
    for (int c = 0, b = 0; c < nch; c++) {
        size_t cap = (size_t)nb * 160 + 16, len = 0;
        joins[c] = xmalloc(cap);
        joins[c][0] = 0;
        for (int i = 0; i < nb; i++, b++)
            len += (size_t)snprintf(joins[c] + len, cap - len,
                                    "%s{\"event\":\"*\",\"schema\":\"public\",\"table\":\"bookings\","
                                    "\"filter\":\"description=imatch.((a?){%d}){%d}%c\"}",
                                    i ? "," : "", 16 + b % 10, 16 + (b / 10) % 10, 'b' + (b / 100) % 24);
    }
    /* The REST request: headers + {"customer_id":..,"description":"aaa..."} */
    size_t dlen = (size_t)opt.adv_regex_kib * 1024;
    size_t bcap = dlen + 256;
    char *body = xmalloc(bcap);
    int bl = snprintf(body, bcap, "{\"customer_id\":\"%s\",\"service\":\"regex bench\",\"price\":10,\"description\":\"",
                      adv_cust.id);
    memset(body + bl, 'a', dlen);
    bl += (int)dlen;
    bl += snprintf(body + bl, bcap - (size_t)bl, "\"}");
    char head[2048];
    int hl = snprintf(head, sizeof(head),
                      "POST /rest/v1/bookings HTTP/1.1\r\nHost: %s:%d\r\napikey: %s\r\nAuthorization: Bearer %s\r\n"
                      "Content-Type: application/json\r\nPrefer: return=minimal\r\nContent-Length: %d\r\n"
                      "Connection: close\r\n\r\n",
                      opt.host, opt.port, apikey, token, bl);
    aws_t w = {.fd = -1};
    double next_post = now_s(), next_hb = now_s() + 20;
    char scratch[65536];
    while (!atomic_load(&adv_stop)) {
        if (w.fd < 0) {
            if (aws_open(&w, ADV_SRC_REGEX, 0) < 0) {
                adv_sleep(0.5);
                continue;
            }
            atomic_fetch_add(&adv.regex_conns, 1);
            aws_join_all(&w, token, "hostile", joins, nch, &adv.regex_joins_ok, &adv.regex_joins_refused,
                         &adv.regex_subscribed, &adv.regex_sub_err);
            w.len = 0;
        }
        if (now_s() >= next_post) {
            next_post += opt.adv_regex_interval;
            if (now_s() > next_post)
                next_post = now_s() + opt.adv_regex_interval;
            int fd = adv_tcp(ADV_SRC_REGEX, 0);
            int ok = 0;
            if (fd >= 0 && adv_send_all(fd, head, (size_t)hl) == 0 && adv_send_all(fd, body, (size_t)bl) == 0) {
                char resp[512];
                ssize_t n = recv(fd, resp, sizeof(resp) - 1, 0);
                if (n >= 12) {
                    resp[n] = 0;
                    ok = resp[9] == '2';
                    if (!ok)
                        adv_note_refusal("regex booking POST", (const uint8_t *)resp, (size_t)n);
                }
            }
            if (fd >= 0)
                close(fd);
            atomic_fetch_add(ok ? &adv.posts_ok : &adv.posts_failed, 1);
        }
        if (now_s() >= next_hb) {
            next_hb = now_s() + 20;
            char hb[96];
            int n = snprintf(hb, sizeof(hb), "[null,\"%u\",\"phoenix\",\"heartbeat\",{}]", ++w.ref);
            if (aws_send(&w, WS_OP_TEXT, hb, (size_t)n) < 0) {
                aws_close(&w);
                continue;
            }
        }
        /* Read and drop whatever comes (its own bookings). */
        struct pollfd pfd = {.fd = w.fd, .events = POLLIN};
        if (poll(&pfd, 1, 50) > 0) {
            ssize_t n = recv(w.fd, scratch, sizeof(scratch), MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                aws_close(&w);
        }
    }
    aws_close(&w);
    free(w.buf);
    for (int c = 0; c < nch; c++)
        free(joins[c]);
    free(joins);
    free(body);
    free(token);
    return NULL;
}

/* burst: one transaction of N pending bookings every interval, as the
 * superuser (every connected technician and admin receives each row). */
static void *adv_burst_main(void *arg) {
    (void)arg;
    PGconn *pg = PQconnectdb(opt.db);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "[adversary] burst: cannot connect: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return NULL;
    }
    char rows[16];
    snprintf(rows, sizeof(rows), "%d", opt.adv_burst_rows);
    const char *v[2] = {adv_cust.id, rows};
    adv_sleep(1);
    while (!atomic_load(&adv_stop)) {
        double t0 = now_s();
        PGresult *r = PQexecParams(pg,
                                   "insert into public.bookings (customer_id, service, description, price) "
                                   "select $1::uuid, 'burst', 'burst', 10 from generate_series(1, $2::int)",
                                   2, NULL, v, NULL, NULL, 0);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            fprintf(stderr, "[adversary] burst: %s", PQerrorMessage(pg));
        PQclear(r);
        uint64_t ms = (uint64_t)((now_s() - t0) * 1e3);
        if (ms > atomic_load(&adv.burst_ms_max))
            atomic_store(&adv.burst_ms_max, ms);
        atomic_fetch_add(ok ? &adv.bursts_ok : &adv.bursts_failed, 1);
        adv_sleep(opt.adv_burst_interval - (now_s() - t0));
    }
    PQfinish(pg);
    return NULL;
}

/* stall: an admin on every table that never reads. Each second it writes a
 * heartbeat (reading nothing): once the server has dropped it, the write
 * fails and it comes back; after stall_max s it comes back anyway. */
static void *adv_stall_main(void *arg) {
    (void)arg;
    char *token = adv_token(adv_admin.id);
    char *joins[1] = {"{\"event\":\"*\",\"schema\":\"public\",\"table\":\"bookings\"},"
                      "{\"event\":\"*\",\"schema\":\"public\",\"table\":\"bids\"},"
                      "{\"event\":\"INSERT\",\"schema\":\"public\",\"table\":\"messages\"},"
                      "{\"event\":\"INSERT\",\"schema\":\"public\",\"table\":\"notifications\"},"
                      "{\"event\":\"INSERT\",\"schema\":\"public\",\"table\":\"payments\"},"
                      "{\"event\":\"*\",\"schema\":\"public\",\"table\":\"profiles\"},"
                      "{\"event\":\"*\",\"schema\":\"public\",\"table\":\"technicians\"},"
                      "{\"event\":\"*\",\"schema\":\"public\",\"table\":\"reviews\"}"};
    aws_t w = {.fd = -1};
    static _Atomic uint64_t dummy_ok, dummy_ref, dummy_err;
    while (!atomic_load(&adv_stop)) {
        if (aws_open(&w, ADV_SRC_STALL, 4096) < 0) {
            adv_sleep(0.5);
            continue;
        }
        atomic_fetch_add(&adv.stall_conns, 1);
        if (aws_join_all(&w, token, "stall", joins, 1, &dummy_ok, &dummy_ref, &adv.stall_joined, &dummy_err) < 1) {
            aws_close(&w);
            adv_sleep(0.5);
            continue;
        }
        double t0 = now_s();
        int dropped = 0;
        while (!atomic_load(&adv_stop) && now_s() - t0 < opt.adv_stall_max) {
            adv_sleep(1);
            char hb[96];
            int n = snprintf(hb, sizeof(hb), "[null,\"%u\",\"phoenix\",\"heartbeat\",{}]", ++w.ref);
            struct pollfd pfd = {.fd = w.fd, .events = POLLRDHUP};
            if ((poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR | POLLRDHUP))) ||
                aws_send(&w, WS_OP_TEXT, hb, (size_t)n) < 0) {
                dropped = 1;
                break;
            }
        }
        if (atomic_load(&adv_stop))
            break;
        atomic_fetch_add(dropped ? &adv.stall_dropped : &adv.stall_timeouts, 1);
        aws_close(&w); /* unread data: the kernel resets the connection */
    }
    aws_close(&w);
    free(w.buf);
    free(token);
    return NULL;
}

/* slowloris: connections that send a request head one byte per second. */
static void *adv_slowloris_main(void *arg) {
    (void)arg;
    int n = opt.adv_slowloris_conns;
    struct slow {
        int fd;
        size_t pos;
    } *sl = xcalloc((size_t)n, sizeof(*sl));
    static const char head[] = "GET /realtime/v1/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    struct pollfd *pfd = xcalloc((size_t)n, sizeof(*pfd));
    for (int i = 0; i < n; i++)
        sl[i].fd = -1;
    double next = now_s();
    while (!atomic_load(&adv_stop)) {
        uint64_t open_now = 0;
        for (int i = 0; i < n; i++) {
            if (sl[i].fd < 0) {
                int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                struct sockaddr_in a = {.sin_family = AF_INET},
                                   dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
                inet_pton(AF_INET, ADV_SRC_SLOW, &a.sin_addr);
                inet_pton(AF_INET, opt.host, &dst.sin_addr);
                int one = 1;
                setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
                if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
                    (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 && errno != EINPROGRESS)) {
                    if (fd >= 0)
                        close(fd);
                    atomic_fetch_add(&adv.slow_failed, 1);
                    continue;
                }
                sl[i].fd = fd;
                sl[i].pos = 0;
                atomic_fetch_add(&adv.slow_opened, 1);
            }
            open_now++;
        }
        atomic_store(&adv.slow_open_now, open_now);
        if (open_now > atomic_load(&adv.slow_open_max))
            atomic_store(&adv.slow_open_max, open_now);
        if (now_s() >= next) { /* one more byte on each */
            next += 1;
            for (int i = 0; i < n; i++) {
                if (sl[i].fd < 0)
                    continue;
                char ch = sl[i].pos < sizeof(head) - 1 ? head[sl[i].pos] : 'a';
                if (send(sl[i].fd, &ch, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1)
                    sl[i].pos++;
            }
        }
        for (int i = 0; i < n; i++)
            pfd[i] = (struct pollfd){.fd = sl[i].fd, .events = POLLIN};
        poll(pfd, (nfds_t)n, 100);
        for (int i = 0; i < n; i++) {
            if (sl[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char buf[1024];
            ssize_t r = recv(sl[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
            if (r > 0 && r >= 12 && !memcmp(buf, "HTTP/1.1 408", 12))
                atomic_fetch_add(&adv.slow_408, 1);
            if (r > 0)
                continue; /* the close follows */
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            close(sl[i].fd);
            sl[i].fd = -1;
            atomic_fetch_add(&adv.slow_closed, 1);
        }
    }
    for (int i = 0; i < n; i++)
        if (sl[i].fd >= 0)
            close(sl[i].fd);
    free(sl);
    free(pfd);
    return NULL;
}

/* The p-th percentile over the expected deliveries: the ones that never
 * came count as infinitely late (-1 when the rank falls among them). */
static double pct_of_expected(const hist_t *h, uint64_t expected, double p) {
    if (!expected)
        return -1;
    uint64_t rank = (uint64_t)((double)expected * p / 100.0);
    if (rank >= expected)
        rank = expected - 1;
    if (rank >= h->count)
        return -1;
    uint64_t seen = 0;
    for (int i = 0; i < H_BUCKETS; i++) {
        seen += h->n[i];
        if (seen > rank)
            return hist_value(i);
    }
    return (double)h->max;
}

static void adv_report(const hist_t *h) {
    uint64_t exp = atomic_load(&w_expected), got = SUM(marked);
    double p50 = pct_of_expected(h, exp, 50), p99 = pct_of_expected(h, exp, 99);
    char a[32], b[32];
    snprintf(a, sizeof(a), p50 < 0 ? "lost" : "%.1f ms", p50 / 1e6);
    snprintf(b, sizeof(b), p99 < 0 ? "lost" : "%.1f ms", p99 / 1e6);
    printf("%-28s %" PRIu64 " rows committed in the window should bring %" PRIu64 " deliveries; %" PRIu64
           " arrived (%.2f %%)\n",
           "honest rows (adversary)", atomic_load(&w_marked_rows), exp, got,
           exp ? 100.0 * (double)got / (double)exp : 0);
    printf("%-28s p50 %s, p99 %s, max %.1f ms (over the expected deliveries; lost = never arrived)\n", "honest latency",
           a, b, (double)h->max / 1e6);
    printf("%-28s %" PRIu64 " frames without a stamp (hostile rows, bid notifications), %" PRIu64
           " too big to read (skipped)\n",
           "other rows to honest clients", SUM(unstamped), SUM(big));
    if (opt.adv_regex)
        printf("%-28s %" PRIu64 " connection(s); joins %" PRIu64 " ok, %" PRIu64 " refused; subscribed %" PRIu64
               " ok, %" PRIu64 " errors; %d KiB bookings POSTed: %" PRIu64 " ok, %" PRIu64 " failed\n",
               "adversary regex", atomic_load(&adv.regex_conns), atomic_load(&adv.regex_joins_ok),
               atomic_load(&adv.regex_joins_refused), atomic_load(&adv.regex_subscribed),
               atomic_load(&adv.regex_sub_err), opt.adv_regex_kib, atomic_load(&adv.posts_ok),
               atomic_load(&adv.posts_failed));
    if (opt.adv_burst)
        printf("%-28s %" PRIu64 " transactions of %d rows committed (%" PRIu64 " failed), the slowest in %" PRIu64
               " ms\n",
               "adversary burst", atomic_load(&adv.bursts_ok), opt.adv_burst_rows, atomic_load(&adv.bursts_failed),
               atomic_load(&adv.burst_ms_max));
    if (opt.adv_stall)
        printf("%-28s %" PRIu64 " connection(s), %" PRIu64 " subscribed; %" PRIu64 " dropped by the server, %" PRIu64
               " kept for %.0f s and reopened\n",
               "adversary stall", atomic_load(&adv.stall_conns), atomic_load(&adv.stall_joined),
               atomic_load(&adv.stall_dropped), atomic_load(&adv.stall_timeouts), opt.adv_stall_max);
    if (opt.adv_slowloris)
        printf("%-28s %" PRIu64 " opened (%" PRIu64 " failed), %" PRIu64 " answered 408, %" PRIu64
               " closed by the server; %" PRIu64 " open at the end\n",
               "adversary slowloris", atomic_load(&adv.slow_opened), atomic_load(&adv.slow_failed),
               atomic_load(&adv.slow_408), atomic_load(&adv.slow_closed), atomic_load(&adv.slow_open_now));
    if (adv_first_refusal[0])
        printf("%-28s %s\n", "adversary, first refusal", adv_first_refusal);
    if (opt.csv) {
        printf("advcsv,marked_rows,expected,arrived,delivered_pct,p50_us,p99_us,max_us,unstamped,big,regex_joins_ok,"
               "regex_joins_refused,regex_subscribed,posts_ok,posts_failed,bursts_ok,stall_conns,stall_dropped,"
               "slow_opened,slow_408,slow_closed\n");
        printf("advcsv,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.2f,%.0f,%.0f,%.0f,%" PRIu64 ",%" PRIu64 ",%" PRIu64
               ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
               ",%" PRIu64 ",%" PRIu64 "\n",
               atomic_load(&w_marked_rows), exp, got, exp ? 100.0 * (double)got / (double)exp : 0,
               p50 < 0 ? -1 : p50 / 1e3, p99 < 0 ? -1 : p99 / 1e3, (double)h->max / 1e3, SUM(unstamped), SUM(big),
               atomic_load(&adv.regex_joins_ok), atomic_load(&adv.regex_joins_refused),
               atomic_load(&adv.regex_subscribed), atomic_load(&adv.posts_ok), atomic_load(&adv.posts_failed),
               atomic_load(&adv.bursts_ok), atomic_load(&adv.stall_conns), atomic_load(&adv.stall_dropped),
               atomic_load(&adv.slow_opened), atomic_load(&adv.slow_408), atomic_load(&adv.slow_closed));
    }
}

static pthread_t adv_th[4];
static int adv_nth;

static void adv_start(void) {
    void *(*fn[4])(void *) = {adv_regex_main, adv_burst_main, adv_stall_main, adv_slowloris_main};
    int on[4] = {opt.adv_regex, opt.adv_burst, opt.adv_stall, opt.adv_slowloris};
    for (int i = 0; i < 4; i++)
        if (on[i] && pthread_create(&adv_th[adv_nth], NULL, fn[i], NULL) == 0)
            adv_nth++;
}

static void adv_finish(void) {
    atomic_store(&adv_stop, 1);
    for (int i = 0; i < adv_nth; i++)
        pthread_join(adv_th[i], NULL);
}

/* ---- the run ---- */

static uint64_t get_subscribed(void) { return SUM(subscribed) + SUM(sub_err); }

static int cdc_main(void) {
    if (!opt.secret) {
        fprintf(stderr, "tc-loadgen: --pg-changes needs --secret\n");
        return 2;
    }
    if (ws_accept_key(ws_key, strlen(ws_key), ws_accept) < 0)
        return 1;
    hb_interval_ns = (int64_t)opt.hb_interval_s * 1000000000LL;
    load_users();
    snprintf(marker, sizeof(marker), "\"end%d-%ld=", (int)getpid(), (long)time(NULL));
    char **toks = cdc_sign_tokens();
    build_threads(toks);
    free(toks);
    for (int i = 0; i < opt.threads; i++)
        if (pthread_create(&thr[i].th, NULL, thr_main, &thr[i]) != 0) {
            perror("pthread_create");
            return 1;
        }
    progress("%d clients: %d customers, %d technicians, %d admins; %d bidding technicians", opt.conns, n_cust, n_tech,
             n_admin, n_bid_techs);

    int64_t c0 = now_ns();
    atomic_store(&g_phase, PH_CONNECT);
    wait_until((uint64_t)opt.conns, get_connect_done, 120, "connected");
    res.opened = (int)SUM(opened);
    res.failed = (int)SUM(failed);
    res.connect_s = (double)(max_last(0) - c0) / 1e9;
    progress("connected %d (%d failed) in %.3f s", res.opened, res.failed, res.connect_s);

    uint64_t want_joins = 0;
    for (int i = 0; i < opt.conns; i++)
        want_joins += (uint64_t)cdc_joins_of(cusers[i].role);
    int64_t j0 = now_ns();
    atomic_store(&g_phase, PH_JOIN);
    wait_until(want_joins, get_join_done, 120, "joined");
    wait_until(SUM(joined), get_subscribed, 120, "subscribed");
    res.joined = (uint32_t)SUM(joined);
    res.join_err = (uint32_t)SUM(join_err);
    double join_s = (double)(now_ns() - j0) / 1e9;
    uint64_t subscribed = SUM(subscribed), sub_err = SUM(sub_err);
    progress("joined %u channels (%u refused), %" PRIu64 " subscribed to PostgreSQL (%" PRIu64 " errors) in %.2f s",
             res.joined, res.join_err, subscribed, sub_err, join_s);
    atomic_store(&g_phase, PH_HOLD);
    sleep_s(0.5);
    if (opt.adv) {
        adv_start();
        if (adv_nth)
            progress("adversary:%s%s%s%s started; the writer starts in %.1f s", opt.adv_regex ? " regex" : "",
                     opt.adv_burst ? " burst" : "", opt.adv_stall ? " stall" : "",
                     opt.adv_slowloris ? " slowloris" : "", opt.adv_settle);
        sleep_s(opt.adv_settle);
    }

    /* Writes: warm-up, then the measured window. */
    pthread_t wth;
    if (pthread_create(&wth, NULL, writer_main, NULL) != 0) {
        perror("pthread_create");
        return 1;
    }
    progress("writer: %.0f changes/s; %.0f s warm-up + %.0f s measured", opt.change_rate, opt.warmup, opt.duration);
    sleep_s(opt.warmup);
    uint64_t k0[5], k1[5];
    uint64_t d0 = SUM(delivered), w0 = atomic_load(&w_committed), e0 = atomic_load(&w_errors);
    for (int k = 0; k < 5; k++)
        k0[k] = sum_field(offsetof(thr_t, kind) + (size_t)k * sizeof(_Atomic uint64_t));
    proc_sample_t s0 = sample_server(), g0 = sample_pids(opt.pg_pids, opt.npg_pids);
    double pb0[4], pb1[4];
    pg_breakdown(pb0);
    double l0 = self_cpu_s(), mb0, mt0, ms0;
    machine_cpu(&mb0, &mt0, &ms0);
    double t0 = now_s();
    atomic_store(&g_hist_slot, 0);
    atomic_store(&g_mark, 1);
    for (double el = 0; el < opt.duration; el = now_s() - t0) {
        sleep_s(opt.duration - el > 1 ? 1 : opt.duration - el);
        double e = now_s() - t0;
        if (e < opt.duration - 0.01)
            progress("  %.0f s: %.0f committed/s, %.0f delivered/s", e, (double)(atomic_load(&w_committed) - w0) / e,
                     (double)(SUM(delivered) - d0) / e);
    }
    atomic_store(&g_mark, 0);
    atomic_store(&g_hist_slot, -1);
    double t1 = now_s();
    uint64_t d1 = SUM(delivered), w1 = atomic_load(&w_committed), e1 = atomic_load(&w_errors);
    for (int k = 0; k < 5; k++)
        k1[k] = sum_field(offsetof(thr_t, kind) + (size_t)k * sizeof(_Atomic uint64_t));
    proc_sample_t s1 = sample_server(), g1 = sample_pids(opt.pg_pids, opt.npg_pids);
    pg_breakdown(pb1);
    double l1 = self_cpu_s(), mb1, mt1, ms1;
    machine_cpu(&mb1, &mt1, &ms1);
    double el = t1 - t0;

    /* Stop writing; wait for the end marker (everything committed before
     * it has then been delivered), then for stragglers on other workers. */
    int64_t stop_ns = now_ns();
    atomic_store(&w_stop, 1);
    pthread_join(wth, NULL);
    double drain_s = -1;
    if (atomic_load(&w_marker_sent)) {
        double ws = now_s();
        while (!atomic_load(&marker_seen) && now_s() - ws < opt.drain_max)
            sleep_s(0.005);
        int64_t seen = atomic_load(&marker_seen);
        if (seen)
            drain_s = (double)(seen - stop_ns) / 1e9;
        else
            progress("drain: the end marker did not arrive within %.0f s", opt.drain_max);
        sleep_s(0.3);
    }
    if (opt.adv) { /* stragglers on other workers, after the end marker */
        double ws = now_s();
        while (SUM(marked) < atomic_load(&w_expected) && now_s() - ws < 2)
            sleep_s(0.01);
        adv_finish();
    }
    uint64_t backlog = SUM(delivered) - d1;
    res.closed = (uint32_t)SUM(closed);
    atomic_store(&g_phase, PH_DONE);
    for (int i = 0; i < opt.threads; i++)
        pthread_join(thr[i].th, NULL);

    hist_t h;
    memset(&h, 0, sizeof(h));
    for (int i = 0; i < opt.threads; i++)
        hist_merge(&h, &thr[i].hist[0]);
    double committed = (double)(w1 - w0) / el, delivered = (double)(d1 - d0) / el;
    double srv = opt.npids ? (s1.cpu_s - s0.cpu_s) / el * 100 : -1;
    double pgc = opt.npg_pids ? (g1.cpu_s - g0.cpu_s) / el * 100 : -1;
    double lg = (l1 - l0) / el * 100;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    double mach = mt1 > mt0 ? (mb1 - mb0) / (mt1 - mt0) * 100 * (double)ncpu : 0;
    double kr[5];
    for (int k = 0; k < 5; k++)
        kr[k] = (double)(k1[k] - k0[k]) / el;

    printf("\n== tc-loadgen pg-changes: %d clients (%d customers, %d technicians, %d admins), writer %.0f changes/s, "
           "%.0f s measured ==\n",
           opt.conns, n_cust, n_tech, n_admin, opt.change_rate, el);
    printf("%-28s %d open, %d failed, %u closed later\n", "connections", res.opened, res.failed, res.closed);
    printf("%-28s %u ok, %u refused; subscribed to PostgreSQL %" PRIu64 " ok, %" PRIu64 " errors (%.2f s)\n",
           "channels", res.joined, res.join_err, subscribed, sub_err, join_s);
    printf("%-28s %.0f rows/s (%" PRIu64 " failed, %" PRIu64 " not sent: behind by > 1 s; max %" PRIu64 " in flight)\n",
           "committed by the writer", committed, e1 - e0, atomic_load(&w_skipped), atomic_load(&w_inflight_max));
    printf("%-28s %.0f msgs/s (bookings %.0f, bids %.0f, messages %.0f, notifications %.0f, other %.0f)\n", "delivered",
           delivered, kr[0], kr[1], kr[2], kr[3], kr[4]);
    printf("%-28s p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms (%" PRIu64 " samples)\n",
           "commit -> client latency", hist_pct(&h, 50) / 1e6, hist_pct(&h, 95) / 1e6, hist_pct(&h, 99) / 1e6,
           (double)h.max / 1e6, h.count);
    if (opt.npids)
        printf("%-28s %.0f %%\n", "server CPU", srv);
    double pbp[4];
    for (int k = 0; k < 4; k++)
        pbp[k] = (pb1[k] - pb0[k]) / el * 100;
    if (opt.npg_pids)
        printf("%-28s %.0f %% (%d processes): writer's backend %.0f %%, server's backends (RLS checks) %.0f %%, "
               "walsender %.0f %%, other %.0f %%\n",
               "PostgreSQL CPU", pgc, g1.nprocs, pbp[0], pbp[1], pbp[2], pbp[3]);
    printf("%-28s %.0f %% (writer included)\n", "loadgen CPU", lg);
    printf("%-28s %.0f %% of %ld00 %%\n", "machine CPU busy", mach, ncpu);
    if (drain_s >= 0)
        printf("%-28s %.2f s from the writer's stop to the end marker's delivery; %" PRIu64
               " deliveries after the window\n",
               "drain", drain_s, backlog);
    else
        printf("%-28s end marker not delivered within %.0f s; %" PRIu64 " deliveries after the window\n", "drain",
               opt.drain_max, backlog);
    if (SUM(other))
        printf("%-28s %" PRIu64 "\n", "unexpected frames", SUM(other));
    if (opt.adv)
        adv_report(&h);
    if (opt.csv) {
        printf("csv,clients,customers,technicians,admins,target_rate,committed_per_s,write_errors,delivered_per_s,"
               "bookings_per_s,bids_per_s,messages_per_s,notifications_per_s,p50_us,p95_us,p99_us,max_us,samples,"
               "server_cpu_pct,pg_cpu_pct,loadgen_cpu_pct,machine_cpu_pct,drain_s,backlog,joins_failed,sub_failed,"
               "closed,pg_writer_pct,pg_server_pct,pg_walsender_pct,pg_other_pct\n");
        printf("csv,%d,%d,%d,%d,%.0f,%.0f,%" PRIu64 ",%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%" PRIu64
               ",%.0f,%.0f,%.0f,%.0f,%.2f,%" PRIu64 ",%u,%" PRIu64 ",%u,%.0f,%.0f,%.0f,%.0f\n",
               opt.conns, n_cust, n_tech, n_admin, opt.change_rate, committed, e1 - e0, delivered, kr[0], kr[1], kr[2],
               kr[3], hist_pct(&h, 50) / 1e3, hist_pct(&h, 95) / 1e3, hist_pct(&h, 99) / 1e3, (double)h.max / 1e3,
               h.count, srv, pgc, lg, mach, drain_s, backlog, res.join_err, sub_err, res.closed, pbp[0], pbp[1], pbp[2],
               pbp[3]);
    }
    free(apikey);
    int bad = res.failed || !res.opened || atomic_load(&w_failed);
    return bad ? 1 : 0;
}

int main(int argc, char **argv) {
    int r = parse_args(argc, argv);
    if (r != 0)
        return r > 0 ? 0 : 2;
    raise_nofile();
    if (opt.pgc)
        return cdc_main();
    hb_interval_ns = (int64_t)opt.hb_interval_s * 1000000000LL;
    if (ws_accept_key(ws_key, strlen(ws_key), ws_accept) < 0)
        return 1;
    char **toks = NULL;
    if (opt.target == TGT_TECHCARE) {
        double ts = now_s();
        toks = sign_tokens();
        progress("signed %d JWTs in %.2f s", opt.conns, now_s() - ts);
    }
    build_threads(toks);
    free(toks);

    res.before = sample_server();
    for (int i = 0; i < opt.threads; i++)
        if (pthread_create(&thr[i].th, NULL, thr_main, &thr[i]) != 0) {
            perror("pthread_create");
            return 1;
        }

    /* Connect. */
    int64_t c0 = now_ns();
    proc_sample_t cs0 = sample_server();
    atomic_store(&g_phase, PH_CONNECT);
    wait_until((uint64_t)opt.conns, get_connect_done, 120, "connected");
    proc_sample_t cs1 = sample_server();
    if (opt.npids)
        res.connect_cpu_pct = (cs1.cpu_s - cs0.cpu_s) / ((double)(now_ns() - c0) / 1e9) * 100;
    res.opened = (int)SUM(opened);
    res.failed = (int)SUM(failed);
    res.connect_s = (double)(max_last(0) - c0) / 1e9;
    res.connect_rate = res.connect_s > 0 ? res.opened / res.connect_s : 0;
    progress("connected %d (%d failed) in %.3f s: %.0f conn/s", res.opened, res.failed, res.connect_s,
             res.connect_rate);

    /* Join. */
    if (opt.target != TGT_NCHAN) {
        int64_t j0 = now_ns();
        proc_sample_t js0 = sample_server();
        atomic_store(&g_phase, PH_JOIN);
        wait_until((uint64_t)res.opened * (uint64_t)opt.chans_per_conn, get_join_done, 120, "joined");
        proc_sample_t js1 = sample_server();
        if (opt.npids)
            res.join_cpu_pct = (js1.cpu_s - js0.cpu_s) / ((double)(now_ns() - j0) / 1e9) * 100;
        res.joined = (uint32_t)SUM(joined);
        res.join_err = (uint32_t)SUM(join_err);
        res.join_s = (double)(max_last(1) - min_first_join()) / 1e9;
        int64_t sent = 0;
        for (int i = 0; i < opt.threads; i++)
            if (atomic_load(&thr[i].joins_sent) > sent)
                sent = atomic_load(&thr[i].joins_sent);
        res.joins_sent_s = (double)(sent - min_first_join()) / 1e9;
        res.join_rate = res.join_s > 0 ? res.joined / res.join_s : 0;
        progress("joined %u (%u failed) in %.3f s: %.0f joins/s", res.joined, res.join_err, res.join_s, res.join_rate);
    }

    /* Idle memory: let the server settle (freed handshake buffers etc.). */
    atomic_store(&g_phase, PH_HOLD);
    sleep_s(opt.idle ? (opt.duration > 2 ? opt.duration : 2) : 2);
    res.idle = sample_server();
    if (res.opened) {
        res.mem_per_conn = (double)(res.idle.pss_kb - res.before.pss_kb) * 1024.0 / res.opened;
        res.rss_per_conn = (double)(res.idle.rss_kb - res.before.rss_kb) * 1024.0 / res.opened;
    }
    if (opt.npids)
        progress("server memory %.1f MiB -> %.1f MiB anon+shm: %.0f bytes per connection",
                 (double)res.before.pss_kb / 1024, (double)res.idle.pss_kb / 1024, res.mem_per_conn);

    if (!opt.idle && opt.pubs > 0) {
        run_fanout(0, opt.rate);
        if (opt.latency_rate > 0)
            run_fanout(1, opt.latency_rate);
    }
    res.closed = (uint32_t)SUM(closed);
    atomic_store(&g_phase, PH_DONE);
    for (int i = 0; i < opt.threads; i++)
        pthread_join(thr[i].th, NULL);
    print_report();
    free(apikey);
    return res.failed || !res.opened ? 1 : 0;
}
