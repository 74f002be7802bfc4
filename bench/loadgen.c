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
    const char *db;            /* libpq conninfo: the superuser, for the users and the writer */
    double change_rate;        /* changes/s committed by the writer */
    int mix[3];                /* % customers, technicians, admins */
    int wmix[4];               /* writer mix: messages, bids, booking updates, booking inserts */
    int inflight;              /* writer: transactions in flight at most */
    int rows_per_tx;           /* writer: rows per transaction (changes/s counts rows) */
    int pg_pids[MAX_PIDS];
    int npg_pids;
    double drain_max;          /* seconds to wait for the writer's end marker */
} opt = {
    .target = TGT_TECHCARE, .target_name = "techcare", .host = "127.0.0.1", .port = 4000, .conns = 1000,
    .per_channel = 100, .pubs = 1, .rate = 0, .duration = 10, .warmup = 1, .chans_per_conn = 1, .threads = 1,
    .window = 16, .source_ips = 0, .connect_conc = 1000, .hb_interval_s = 20,
    .change_rate = 100, .mix = {70, 25, 5}, .wmix = {50, 25, 15, 10}, .inflight = 256, .drain_max = 30,
    .rows_per_tx = 1,
};

static void usage(void) {
    printf(
        "Usage: tc-loadgen [options]\n\n"
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
    uint8_t epout;       /* EPOLLOUT registered */
    uint8_t dirty;       /* on the thread's flush list */
    uint8_t joins_pending;
    uint32_t id;         /* global index */
    uint32_t chan;       /* primary channel, global index */
    uint32_t lchan;      /* the same channel in the thread's array */
    uint32_t ref;        /* techcare: next message ref */
    int64_t next_hb;
    char *token;         /* techcare: this connection's JWT until the join is sent */
    uint8_t *in;         /* bytes of an incomplete frame between reads */
    uint32_t in_len, in_cap;
    uint8_t *out;        /* bytes the kernel did not take yet */
    uint32_t out_len, out_off, out_cap;
} conn_t;

typedef struct {
    uint32_t id;          /* global channel index */
    conn_t **pubs;
    int npubs, rr;
    int nsubs_open;       /* open connections that receive this channel's messages */
    uint64_t sent, delivered, seq;
    int64_t next_pub;     /* fixed-rate mode: when the next publish is due */
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
    int64_t rate_interval;   /* ns between publishes per channel; 0 = windowed */
    int64_t last_sweep;
    uint64_t deliv_local, pub_local, other_local;
    hist_t hist[2];
    /* read by the main thread */
    _Atomic uint64_t opened, failed, closed, joined, join_err;
    _Atomic uint64_t delivered, published, stalls, outstanding, other;
    _Atomic int64_t last_open, first_join, last_join, joins_sent;
    _Atomic uint32_t close_codes[16]; /* 1000..1014, [15] = others */
    /* --pg-changes */
    uint64_t kind_local[5];              /* deliveries by table: bookings, bids, messages, notifications, other */
    _Atomic uint64_t kind[5], subscribed, sub_err;
    uint8_t rbuf[RBUF_SIZE];
} thr_t;

static thr_t *thr;
static _Atomic int g_phase = PH_INIT;
static _Atomic int g_hist_slot = -1;     /* which histogram subscribers fill, -1 none */
static _Atomic int64_t g_rate_interval;  /* published to threads with the phase */
static int nchannels;
static char *apikey;                     /* techcare: shared anon JWT */
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
    case TGT_TECHCARE:
        snprintf(path, sizeof(path), "/realtime/v1/websocket?apikey=%s&vsn=2.0.0", apikey);
        break;
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
    case TGT_WS:
        snprintf(path, sizeof(path), "/");
        break;
    }
    char req[8448];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                     path, opt.host, opt.port, ws_key,
                     opt.target == TGT_NCHAN && c->is_pub ? "Accept: text/json\r\n" : "");
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
            fprintf(stderr, "[loadgen] frame of %" PRIu64 " bytes: too big for this benchmark\n", len);
            conn_close(t, c, 0);
            return -1;
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
        case WS_OP_CONT:
            on_message(t, c, opcode, data, (size_t)len, now, slot);
            break;
        case WS_OP_PING:
            send_frame(t, c, WS_OP_PONG, data, (size_t)len);
            break;
        case WS_OP_CLOSE: {
            int code = len >= 2 ? data[0] << 8 | data[1] : 1005;
            static _Atomic int shown;
            if (atomic_fetch_add(&shown, 1) < 3)
                fprintf(stderr, "[loadgen] server closed a connection: %d %.*s\n", code,
                        (int)(len > 2 ? len - 2 : 0), (const char *)data + 2);
            conn_close(t, c, code);
            return -1;
        }
        default:
            break;
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
    case TGT_NCHAN:
        n = snprintf(msg, sizeof(msg), "{\"t\":%" PRId64 ",\"s\":%" PRIu64 "}", now, s);
        break;
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
    double cpu_s;   /* utime + stime of the process tree */
    long rss_kb;    /* sum of VmRSS */
    long pss_kb;    /* sum of Pss_Anon + Pss_Shmem (Pss if the kernel lacks them) */
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
            progress("  %.0f s: %.0f deliveries/s so far", now_s() - t0, (double)(SUM(delivered) - d0) / (now_s() - t0));
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
           opt.target == TGT_NCHAN ? " + subscribe" : opt.target == TGT_TECHCARE ? " + apikey JWT check" : "");
    if (opt.npids)
        printf("%-28s %.0f %%\n", "server CPU, connecting", res.connect_cpu_pct);
    if (opt.target == TGT_NCHAN)
        printf("%-28s n/a (nchan subscribes in the upgrade request)\n", "join rate");
    else
    {
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
               "rss_per_conn_bytes,delivered_per_s,published_per_s,p50_us,p99_us,server_cpu_pct,server_pss_kb,loadgen_cpu_pct,"
               "machine_cpu_pct,softirq_cpu_pct,fixed_rate,fixed_delivered_per_s,fixed_p50_us,fixed_p99_us,fixed_server_cpu_pct\n");
        fanout_result_t *a = &res.fan[0], *b = &res.fan[1];
        printf("csv,%s,%d,%d,%u,%.0f,%.0f,%.0f,%d,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%ld,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f\n", t,
               res.opened, res.failed, res.closed, res.connect_rate, opt.target == TGT_NCHAN ? -1 : res.join_rate,
               opt.npids ? res.mem_per_conn : -1, opt.chans_per_conn, opt.npids ? res.rss_per_conn : -1, a->ran ? a->delivered_per_s : -1,
               a->ran ? a->published_per_s : -1, a->ran ? hist_pct(&a->hist, 50) / 1e3 : -1,
               a->ran ? hist_pct(&a->hist, 99) / 1e3 : -1, a->ran ? a->server_cpu_pct : -1, a->ran ? a->pss_kb : -1,
               a->ran ? a->loadgen_cpu_pct : -1, a->ran ? a->machine_cpu_pct : -1, a->ran ? a->softirq_cpu_pct : -1, b->ran ? b->rate : -1,
               b->ran ? b->delivered_per_s : -1, b->ran ? hist_pct(&b->hist, 50) / 1e3 : -1,
               b->ran ? hist_pct(&b->hist, 99) / 1e3 : -1, b->ran ? b->server_cpu_pct : -1);
    }
}

/* ---- set-up --------------------------------------------------------------- */

static int parse_args(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV()                                                         \
    do {                                                                \
        if (!v) {                                                       \
            fprintf(stderr, "tc-loadgen: %s needs a value\n", a);       \
            return -1;                                                  \
        }                                                               \
        i++;                                                            \
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
        opt.per_channel = 1; /* every connection is its own user */
        opt.pubs = 0;
        opt.chans_per_conn = 1;
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

static cdc_user_t *cusers;         /* one per connection */
static int n_cust, n_tech, n_admin;
static cdc_user_t *wcust;          /* the customers the writer writes for: the connected ones, or
                                    * (no customer connects) the first bench customers */
static int n_wcust;
static char (*bid_techs)[40];      /* every bench technician (verified): who bids */
static int n_bid_techs;

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

#define BINDING(ev, table, filter_fmt, ...)                                                                        \
    snprintf(b, sizeof(b), "{\"event\":\"" ev "\",\"schema\":\"public\",\"table\":\"" table "\"" filter_fmt "}", \
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
        snprintf(b2, sizeof(b2),
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
    PGresult *rc = q_exec(pg, "select id, pending_booking, assigned_booking, assigned_tech from bench.customers order by idx");
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

static const char *const w_sql[4] = {
    "insert into public.messages (booking_id, sender_id, body) values ($1::uuid, $2::uuid, " STAMP ")",
    "insert into public.bids (booking_id, technician_id, amount, message) values ($1::uuid, $2::uuid, 50, " STAMP ")",
    "update public.bookings set description = " STAMP " where id = $1::uuid",
    "insert into public.bookings (customer_id, service, description, price) values ($1::uuid, 'bench job', " STAMP
    ", 50)",
};
static const char *const w_name[4] = {"w_msg", "w_bid", "w_upd", "w_ins"};

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
    for (int k = 0; k < 4; k++) {
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
    /* rows of each transaction in flight (a ring, in send order) */
    size_t ring_cap = (size_t)opt.inflight + 1, ring_head = 0, ring_len = 0;
    uint32_t *ring = calloc(ring_cap, sizeof(*ring));
    uint32_t rows_open = 0; /* rows sent in the transaction not yet synced */
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
                case W_UPDATE:
                    v[0] = cu->assigned;
                    break;
                default:
                    v[0] = cu->id;
                    break;
                }
                if (!PQsendQueryPrepared(pg, w_name[kind], nv, v, NULL, NULL, 0)) {
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
                    ring[(ring_head + ring_len++) % ring_cap] = rows_open;
                    rows_open = 0;
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
            ring[(ring_head + ring_len++) % ring_cap] = rows_open;
            rows_open = 0;
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
                uint32_t rows = ring_len ? ring[ring_head] : 1;
                if (ring_len) {
                    ring_head = (ring_head + 1) % ring_cap;
                    ring_len--;
                }
                if (cur_err)
                    errors += rows;
                else
                    committed += rows;
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
    for (double el = 0; el < opt.duration; el = now_s() - t0) {
        sleep_s(opt.duration - el > 1 ? 1 : opt.duration - el);
        double e = now_s() - t0;
        if (e < opt.duration - 0.01)
            progress("  %.0f s: %.0f committed/s, %.0f delivered/s", e, (double)(atomic_load(&w_committed) - w0) / e,
                     (double)(SUM(delivered) - d0) / e);
    }
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
    printf("%-28s %.0f rows/s (%" PRIu64 " failed, %" PRIu64 " not sent: behind by > 1 s; max %" PRIu64
           " in flight)\n",
           "committed by the writer", committed, e1 - e0, atomic_load(&w_skipped), atomic_load(&w_inflight_max));
    printf("%-28s %.0f msgs/s (bookings %.0f, bids %.0f, messages %.0f, notifications %.0f, other %.0f)\n",
           "delivered", delivered, kr[0], kr[1], kr[2], kr[3], kr[4]);
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
               " deliveries after the window\n", "drain", drain_s, backlog);
    else
        printf("%-28s end marker not delivered within %.0f s; %" PRIu64 " deliveries after the window\n", "drain",
               opt.drain_max, backlog);
    if (SUM(other))
        printf("%-28s %" PRIu64 "\n", "unexpected frames", SUM(other));
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
        progress("joined %u (%u failed) in %.3f s: %.0f joins/s", res.joined, res.join_err, res.join_s,
                 res.join_rate);
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
        progress("server memory %.1f MiB -> %.1f MiB anon+shm: %.0f bytes per connection", (double)res.before.pss_kb / 1024,
                 (double)res.idle.pss_kb / 1024, res.mem_per_conn);

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
