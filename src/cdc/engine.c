/*
 * cdc/engine: see engine.h.
 *
 * Flow on the CDC thread. Each change is matched against the registry as
 * soon as it is decoded (the pgoutput bytes are only valid during the
 * callback), and if anyone matches, its `data` is encoded then, once, and
 * its row image kept for authorization. A transaction joins the delivery
 * queue at COMMIT. The queue is worked one batch at a time: every change of
 * the batch whose matches include a subscriber who needs a database check
 * goes into one pipelined transaction, one statement per distinct
 * (role, claims) and table, judging all of that batch's rows of the table
 * for those claims at once. While it runs, new commits queue up behind it,
 * so batches grow with load and the checks cost one round trip per batch,
 * never one per subscriber per change. Then the batch is published in
 * commit order and its last end LSN confirmed.
 *
 * Deduplication after a reconnect: transactions whose commit LSN is below
 * the highest end LSN already accepted into the queue are skipped at BEGIN
 * (see cdc/stream.h for why PostgreSQL resends them).
 */
#include "cdc/engine.h"

#include <jansson.h>
#include <malloc.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "cdc/catalog.h"
#include "cdc/filter.h"
#include "cdc/payload.h"
#include "cdc/pgoutput.h"
#include "cdc/stream.h"
#include "cdc/subs.h"
#include "db/pool.h"
#include "hub/hub.h"
#include "metrics/metrics.h"
#include "util/buf.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/mem.h"

#define PROTO_VERSION 1
#define BATCH_MAX_CHANGES 4096
#define CATALOG_MAX_AGE_MS 5000  /* policies and tables are re-read this often while in use */
#define CATALOG_MIN_GAP_MS 200   /* an unknown table triggers a reload at most this often */
#define RETRY_MS 1000
#define HOLD_MS 500              /* longest a REST write's changes wait for its answer */
#define WRITTEN_KEEP_MS 2000     /* answers seen before their COMMIT arrives are remembered this long */
#define PART_CHANGES 1024        /* a transaction is queued in parts of at most this many matched changes */
#define PART_BYTES (4u << 20)    /* ... or this many bytes */
#define TRIM_BYTES (16u << 20)   /* after a burst that held this much, memory goes back to the system */

/* ---- commands from workers ------------------------------------------------ */

typedef enum { CMD_JOIN, CMD_LIVE, CMD_LEAVE, CMD_CLAIMS, CMD_WRITTEN } cmd_kind_t;

typedef struct cmd cmd_t;
struct cmd {
    cmd_t *next;
    cmd_kind_t kind;
    uint64_t client;
    int worker, is_private, role;
    char *topic, *claims, *bindings;
    size_t topic_len;
    void (*done)(void *, int, const char *, const char *);
    void *ud;
    uint64_t deadline_ms;  /* JOIN: give up waiting for the stream */
    uint64_t peer;         /* JOIN: the client address (its filter work budget) */
    uint64_t cat_gen;      /* JOIN: catalog generation when it last found a table missing */
};

/* ---- filter work budgets, one per client address ------------------------- */

/* Every binding of every channel from one address charges the same budget
 * (cdc/subs), refilled for each change: however many connections and
 * bindings an address holds, matching one change against them costs at
 * most match_budget units, so nobody else's delivery waits on them longer
 * than that. Per change is not enough when changes come in thousands (a
 * burst of rows that each cost an address its whole budget), so the budget
 * also has a rate bound: at most match_rate units a second (cdc/subs'
 * leaky bucket, drained here on the timer, two seconds' worth as a burst),
 * about a third of this thread: what one address's honest users receive in
 * a 12,000-row burst (300 subscribers: ~60 M units) fits in it. */
typedef struct pbudget pbudget_t;
struct pbudget {
    pbudget_t *next;
    uint64_t key;
    int refs;              /* one per client (channel) of the address */
    cdc_budget_t b;
};

static struct {
    pbudget_t **tab;
    size_t cap, count;
} B;

/* The address's budget (a reference); a new one gets cap: its rate bound's
 * burst. */
static pbudget_t *budget_get(uint64_t key, uint64_t cap) {
    if (B.count >= B.cap) {
        size_t ncap = B.cap ? B.cap * 2 : 256;
        pbudget_t **nt = xcalloc(ncap, sizeof(*nt));
        for (size_t i = 0; i < B.cap; i++)
            for (pbudget_t *p = B.tab[i], *n; p; p = n) {
                n = p->next;
                p->next = nt[p->key & (ncap - 1)];
                nt[p->key & (ncap - 1)] = p;
            }
        free(B.tab);
        B.tab = nt;
        B.cap = ncap;
    }
    pbudget_t **slot = &B.tab[key & (B.cap - 1)];
    for (pbudget_t *p = *slot; p; p = p->next)
        if (p->key == key) {
            p->refs++;
            return p;
        }
    pbudget_t *p = xcalloc(1, sizeof(*p));
    p->key = key;
    p->refs = 1;
    p->b.cap = cap;
    p->next = *slot;
    *slot = p;
    B.count++;
    return p;
}

static void budget_put(pbudget_t *p) {
    if (!p || --p->refs > 0)
        return;
    for (pbudget_t **q = &B.tab[p->key & (B.cap - 1)]; *q; q = &(*q)->next)
        if (*q == p) {
            *q = p->next;
            break;
        }
    B.count--;
    free(p);
}

/* The leaky bucket's drain: what an address's bindings used flows away at
 * match_rate units a second. */
static void budget_drain(uint64_t rate, uint64_t elapsed_ms) {
    uint64_t d = rate * elapsed_ms / 1000;
    for (size_t i = 0; i < B.cap; i++)
        for (pbudget_t *p = B.tab[i]; p; p = p->next)
            p->b.spent = p->b.spent > d ? p->b.spent - d : 0;
}

static void budget_free_all(void) {
    for (size_t i = 0; i < B.cap; i++)
        for (pbudget_t *p = B.tab[i], *n; p; p = n) {
            n = p->next;
            free(p);
        }
    free(B.tab);
    memset(&B, 0, sizeof(B));
}

/* ---- clients: one channel's bindings -------------------------------------- */

typedef struct client client_t;
struct client {
    uint64_t id;
    client_t *hnext;
    int refs;              /* the table's, plus one per stored match */
    char *topic;
    size_t topic_len;
    uint8_t is_private, live, dead;
    hub_topic_t *t;        /* found once live; holds a reference */
    int role;
    char *claims;
    char *sub;             /* the claims' sub, or NULL */
    uint32_t *subs;        /* its internal subscription ids */
    pbudget_t *budget;     /* its address's filter work budget (a reference) */
    size_t nsubs;
    uint8_t sub_uuid;      /* sub is a canonical lowercase uuid */
    uint8_t claims_bad;    /* its claims made a check fail: it is shown nothing until they change */
    int8_t *cvals;         /* cached CLAIM term values, valid while cgen/cfp match */
    uint64_t cgen;
    uint64_t cfp;          /* catalog fingerprint they were computed with */
    /* per-batch scratch */
    uint64_t batch;
    uint32_t group;
};

/* ---- received transactions -------------------------------------------------- */

typedef struct {
    uint32_t relid;
    uint32_t nm;
    uint64_t recv_ms;      /* when it was decoded */
    cdc_match_t *m;        /* owner = client_t* (one reference each) */
    buf_t **mdata;         /* per match: its data (select list) or NULL for data */
    uint8_t *ok;           /* per match, filled when authorized */
    buf_t *data;
    buf_t *row;            /* row image, JSON object, for checks */
    uint64_t cat_fp;       /* fingerprint of the catalog uv and preds were computed with */
    uint16_t nuv, npreds;  /* what the policy plans need of the row (keep_policy_inputs) */
    struct uid_val { uint16_t col; uint8_t unknown; char *val; } *uv;
    struct pred_val { uint32_t pred; int8_t val; } *preds;
    size_t cost;           /* bytes counted in E.queued_bytes until cleared */
} change_t;

typedef struct tx tx_t;
struct tx {
    tx_t *next;
    uint8_t partial;       /* a part of a transaction still being received: no end LSN to confirm */
    size_t bytes;          /* its changes' cost when queued (decides when to cut a part) */
    uint64_t mark;         /* a REST write of this server (cdc_engine_mark), or 0 */
    uint64_t hold_until;   /* waiting for that write's answer until then (0: not held) */
    uint64_t commit_lsn, end_lsn;
    int64_t commit_time;
    change_t *ch;
    size_t n, cap;
};

/* A check: subscriber group g may see change c of table oid? */
typedef struct {
    uint32_t g, oid;
    change_t *c;
    uint8_t visible;
} need_t;

static struct {
    cdc_engine_config_t cfg;
    char *strs[11];        /* copies behind cfg */
    pthread_t thread;
    uv_loop_t loop;
    uv_async_t wake;
    uv_timer_t timer;
    uv_timer_t hold_timer;
    pthread_mutex_t mu;
    cmd_t *cmds, **cmds_tail;
    int stop_requested;    /* under mu */
    atomic_int running;
    _Atomic uint64_t next_client;

    cdc_stream_t *stream;
    pgo_decoder_t *dec;
    int streaming;
    db_pool_t *db;
    cdc_catalog_t *cat;
    uint64_t cat_gen, cat_loaded_ms;
    int cat_loading;
    cdc_subs_t *subs;
    client_t **ctab;
    size_t ccap, ccount;
    cmd_t *joins;          /* waiting for catalog or stream */

    tx_t *cur;             /* being received */
    int cur_skip;
    uint64_t accepted_lsn; /* highest end LSN queued or delivered */
    tx_t *qhead, **qtail;
    tx_t *inflight;        /* batch being authorized */
    need_t *needs;
    size_t nneeds;
    uint64_t retry_at;
    uint64_t batch_no;
    uint64_t claims_gen;   /* bumped by changes to tables cached CLAIM values depend on */
    uint64_t stream_retry_at; /* stream closed by restart_stream: reopen then */
    int stopping;

    cdc_cell_t *cells;
    uint8_t *unknown;
    size_t cells_cap;
    cdc_match_t *mbuf;
    size_t mcap;

    _Atomic uint64_t next_mark;
    uint64_t instance;     /* random, names this process in write marks */
    atomic_int streaming_now; /* E.streaming, for other threads */
    struct { uint64_t mark, at; } *written; /* open addressing; mark 0 = empty */
    size_t wcap, wcount;

    /* Bounded memory and paced delivery (docs/ARCHITECTURE.md, "Isolation").
     * Decoded changes waiting for delivery are counted; above queue_max the
     * stream is paused, so a transaction of any size costs a bounded
     * amount here (PostgreSQL keeps its WAL meanwhile). A transaction is
     * queued in parts as it is decoded: pgoutput sends a transaction only
     * once it committed, so its first part may go out before its COMMIT
     * message arrives. */
    size_t queued_bytes;
    int paused;
    int trim_due;          /* a burst held much memory: trim once it is gone */
    uint64_t part_lsn;     /* commit LSN of the transaction whose parts are queued (0: none) */
    size_t part_done;      /* its change messages covered by those parts */
    size_t cur_seen;       /* change messages of E.cur's transaction seen so far */
    size_t cur_skip_changes; /* ... of which the first ones were queued before a reconnect */
    /* Publishing: one authorized batch at a time, change by change, while
     * the clients' backlog (hub pacing) is below backlog_max. */
    tx_t *pub;             /* the batch being published */
    tx_t *pub_tx;          /* its transaction (or part) being published */
    size_t pub_i;          /* next change of pub_tx */
    uint64_t pub_end;      /* highest end LSN of the batch published so far */
    int pub_waiting;       /* waiting for the backlog to drain */
    uint64_t change_gen;   /* numbers decoded changes: budgets refill per change */
    uint64_t budget_log_ms; /* next time an exhausted budget may be logged */
    uint64_t drained_ms;   /* when the budgets' rate bound was last drained */
    uv_async_t drained;    /* a worker saw the backlog drain */
} E;

static uint64_t now_ms(void) { return uv_now(&E.loop); }

/* ---- answered REST writes ---------------------------------------------------- */

static size_t wslot(uint64_t mark, size_t cap) { return (size_t)(mark * 0x9E3779B97F4A7C15ull) & (cap - 1); }

static void written_add(uint64_t mark) {
    if ((E.wcount + 1) * 2 > E.wcap) {
        /* Rebuild, forgetting answers whose COMMIT never came (rolled back). */
        size_t ocap = E.wcap;
        __typeof__(E.written) old = E.written;
        size_t live = 0;
        for (size_t i = 0; i < ocap; i++)
            live += old[i].mark && now_ms() - old[i].at < WRITTEN_KEEP_MS;
        E.wcap = ocap ? ocap : 1024;
        while ((live + 1) * 2 > E.wcap)
            E.wcap *= 2;
        E.written = xcalloc(E.wcap, sizeof(*E.written));
        E.wcount = 0;
        for (size_t i = 0; i < ocap; i++)
            if (old[i].mark && now_ms() - old[i].at < WRITTEN_KEEP_MS) {
                size_t k = wslot(old[i].mark, E.wcap);
                while (E.written[k].mark)
                    k = (k + 1) & (E.wcap - 1);
                E.written[k] = old[i];
                E.wcount++;
            }
        free(old);
    }
    size_t k = wslot(mark, E.wcap);
    while (E.written[k].mark && E.written[k].mark != mark)
        k = (k + 1) & (E.wcap - 1);
    if (!E.written[k].mark)
        E.wcount++;
    E.written[k].mark = mark;
    E.written[k].at = now_ms();
}

/* When mark's answer went out (loop ms), or 0 if it has not. */
static uint64_t written_at(uint64_t mark) {
    if (!E.wcap)
        return 0;
    for (size_t k = wslot(mark, E.wcap); E.written[k].mark; k = (k + 1) & (E.wcap - 1))
        if (E.written[k].mark == mark)
            return E.written[k].at;
    return 0;
}

/* ---- client table --------------------------------------------------------- */

static char *claims_sub(const char *claims);

static client_t **client_slot(uint64_t id) {
    client_t **p = &E.ctab[id & (E.ccap - 1)];
    while (*p && (*p)->id != id)
        p = &(*p)->hnext;
    return p;
}

static void client_unref(client_t *c) {
    if (--c->refs > 0)
        return;
    if (c->t)
        hub_topic_release(c->t);
    free(c->topic);
    free(c->claims);
    free(c->sub);
    free(c->cvals);
    free(c->subs);
    budget_put(c->budget); /* after its subscriptions, which point at it, are gone */
    free(c);
}

static int canonical_uuid(const char *s) {
    if (!s || strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        char ch = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (ch != '-')
                return 0;
        } else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

static void client_set_claims(client_t *c, int role, char *claims) {
    free(c->claims);
    free(c->sub);
    free(c->cvals);
    c->claims = claims;
    c->role = role;
    c->sub = claims_sub(claims);
    c->sub_uuid = (uint8_t)canonical_uuid(c->sub);
    c->claims_bad = 0;
    c->cvals = NULL;
    c->cfp = 0;
}

static char *claims_sub(const char *claims) {
    json_t *o = json_loads(claims, 0, NULL);
    const char *sub = json_string_value(json_object_get(o, "sub"));
    char *r = sub ? xstrdup(sub) : NULL;
    json_decref(o);
    return r;
}

static void client_insert(client_t *c) {
    if (E.ccount + 1 > E.ccap) {
        size_t ncap = E.ccap * 2;
        client_t **nt = xcalloc(ncap, sizeof(*nt));
        for (size_t i = 0; i < E.ccap; i++)
            for (client_t *x = E.ctab[i], *n; x; x = n) {
                n = x->hnext;
                x->hnext = nt[x->id & (ncap - 1)];
                nt[x->id & (ncap - 1)] = x;
            }
        free(E.ctab);
        E.ctab = nt;
        E.ccap = ncap;
    }
    c->hnext = E.ctab[c->id & (E.ccap - 1)];
    E.ctab[c->id & (E.ccap - 1)] = c;
    E.ccount++;
}

static void wire_put(uint32_t sub);

static void client_remove(uint64_t id) {
    client_t **p = client_slot(id);
    client_t *c = *p;
    if (!c)
        return;
    *p = c->hnext;
    E.ccount--;
    cdc_subs_remove_owner(E.subs, c);
    for (size_t i = 0; i < c->nsubs; i++)
        wire_put(c->subs[i]);
    c->dead = 1;
    client_unref(c);
}

/* ---- wire ids ------------------------------------------------------------------ */

/* The id a binding is known by on the wire. Identical bindings (same
 * event, schema, table, filter and select, as sent) share one, as in
 * supabase/realtime; a registry keyed by that text hands them out, so two
 * different bindings never share one. Internal subscription ids (cdc/subs)
 * stay unique: they are what matching and authorization work on. */
typedef struct wire wire_t;
struct wire {
    wire_t *next;
    char *key;
    uint32_t id;
    uint32_t refs;
};

static struct {
    wire_t **tab;
    size_t cap, count;
    uint32_t next_id;
    wire_t **of_sub; /* internal subscription id -> its entry */
    size_t of_cap;
} W;

static void wire_grow(void) {
    size_t ncap = W.cap * 2;
    wire_t **nt = xcalloc(ncap, sizeof(*nt));
    for (size_t i = 0; i < W.cap; i++)
        for (wire_t *w = W.tab[i], *n; w; w = n) {
            n = w->next;
            size_t h = hash_str(w->key) & (ncap - 1);
            w->next = nt[h];
            nt[h] = w;
        }
    free(W.tab);
    W.tab = nt;
    W.cap = ncap;
}

static uint32_t wire_get(const char *key, uint32_t sub) {
    char unique[32];
    if (!key) {
        snprintf(unique, sizeof(unique), "\x1d%u", sub); /* a binding of its own */
        key = unique;
    }
    if (!W.cap) {
        W.cap = 1024;
        W.tab = xcalloc(W.cap, sizeof(*W.tab));
        W.next_id = 1000; /* readable, like supabase/realtime's */
    }
    if (W.count >= W.cap)
        wire_grow(); /* distinct filters make distinct keys: keep chains short */
    wire_t **p = &W.tab[hash_str(key) & (W.cap - 1)];
    while (*p && strcmp((*p)->key, key))
        p = &(*p)->next;
    if (!*p) {
        *p = xcalloc(1, sizeof(**p));
        (*p)->key = xstrdup(key);
        (*p)->id = W.next_id++;
        W.count++;
    }
    (*p)->refs++;
    if (sub >= W.of_cap) {
        size_t ncap = W.of_cap ? W.of_cap : 1024;
        while (ncap <= sub)
            ncap *= 2;
        W.of_sub = xrealloc(W.of_sub, ncap * sizeof(*W.of_sub));
        memset(W.of_sub + W.of_cap, 0, (ncap - W.of_cap) * sizeof(*W.of_sub));
        W.of_cap = ncap;
    }
    W.of_sub[sub] = *p;
    return (*p)->id;
}

static uint32_t wire_id(uint32_t sub) { return sub < W.of_cap && W.of_sub[sub] ? W.of_sub[sub]->id : 0; }

/* Drops one use of the wire id of subscription sub (the registry entry
 * goes with its last use). */
static void wire_put(uint32_t sub) {
    wire_t *w = sub < W.of_cap ? W.of_sub[sub] : NULL;
    if (!w)
        return;
    W.of_sub[sub] = NULL;
    if (--w->refs > 0)
        return;
    wire_t **p = &W.tab[hash_str(w->key) & (W.cap - 1)];
    while (*p != w)
        p = &(*p)->next;
    *p = w->next;
    W.count--;
    free(w->key);
    free(w);
}

static void wire_free_all(void) {
    for (size_t i = 0; i < W.cap; i++)
        for (wire_t *w = W.tab[i], *n; w; w = n) {
            n = w->next;
            free(w->key);
            free(w);
        }
    free(W.tab);
    free(W.of_sub);
    memset(&W, 0, sizeof(W));
}

/* ---- changes and transactions ------------------------------------------- */

/* Frees what c holds (it may be cleared again: published changes are
 * cleared at once, their transaction later). */
static void change_clear(change_t *c) {
    for (uint32_t i = 0; i < c->nm; i++) {
        client_unref(c->m[i].owner);
        if (c->mdata[i])
            buf_unref(c->mdata[i]);
    }
    free(c->m);
    free(c->mdata);
    free(c->ok);
    if (c->data)
        buf_unref(c->data);
    if (c->row)
        buf_unref(c->row);
    for (uint16_t i = 0; i < c->nuv; i++)
        free(c->uv[i].val);
    free(c->uv);
    free(c->preds);
    E.queued_bytes -= c->cost;
    memset(c, 0, sizeof(*c));
}

/* What the policy plans of tb need from the row, kept while the pgoutput
 * bytes are valid: the values of columns UID terms compare, and which of
 * the table's ROW predicates hold. */
static void keep_policy_inputs(change_t *ch, const cdc_table_t *tb, const cdc_change_t *cc) {
    for (int r = 0; r < CDC_NROLES; r++) {
        const cdc_policy_t *p = tb->plan[r];
        for (size_t i = 0; p && i < p->n; i++)
            for (size_t k = 0; k < p->d[i].n; k++) {
                const pol_term_t *t = &p->d[i].t[k];
                if (t->kind != POL_UID || t->arg >= cc->ncols)
                    continue;
                int have = 0;
                for (uint16_t v = 0; v < ch->nuv; v++)
                    have |= ch->uv[v].col == t->arg;
                if (have)
                    continue;
                ch->uv = xrealloc(ch->uv, (ch->nuv + 1u) * sizeof(*ch->uv));
                ch->uv[ch->nuv].col = (uint16_t)t->arg;
                /* unknown (unchanged TOAST, not in a key-only old row) and NULL stay NULL:
                 * never equal, and only an exact decision may use that (see uid_eq) */
                ch->uv[ch->nuv].unknown = cc->unknown[t->arg];
                ch->uv[ch->nuv].val = cc->unknown[t->arg] || !cc->cells[t->arg].data
                                          ? NULL
                                          : xstrndup(cc->cells[t->arg].data, cc->cells[t->arg].len);
                ch->nuv++;
            }
    }
    const cdc_pol_terms_t *terms = cdc_cat_terms(E.cat);
    for (size_t i = 0; i < terms->nrows; i++) {
        if (terms->row_table[i] != tb->oid)
            continue;
        /* a predicate on an unknown value is unknown: counted as not
         * proven, and the plan then cannot decide "false" from it */
        int v = cdc_filter_match(terms->rows[i], cc->cells, cc->unknown);
        const size_t *cols;
        size_t nc = cdc_filter_columns(terms->rows[i], &cols);
        int unknown = 0;
        for (size_t k = 0; k < nc; k++)
            unknown |= cols[k] < cc->ncols && cc->unknown[cols[k]];
        ch->preds = xrealloc(ch->preds, (ch->npreds + 1u) * sizeof(*ch->preds));
        ch->preds[ch->npreds].pred = (uint32_t)i;
        ch->preds[ch->npreds].val = unknown ? -1 : (int8_t)v;
        ch->npreds++;
    }
}

static void tx_free(tx_t *t) {
    for (size_t i = 0; i < t->n; i++)
        change_clear(&t->ch[i]);
    free(t->ch);
    free(t);
}

static void free_batch(tx_t *t) {
    while (t) {
        tx_t *n = t->next;
        tx_free(t);
        t = n;
    }
}

/* The row as the transaction left it, for jsonb_populate_record: values
 * as JSON strings of their text (PostgreSQL parses them back by type),
 * json/jsonb spliced, unknown values (unchanged TOAST, columns a key-only
 * old tuple lacks) left out, so they read as NULL. */
static buf_t *row_image(const cdc_change_t *c, const pgo_relation_t *rel, const cdc_table_t *tb) {
    buf_t *b = buf_new(64 + 32 * c->ncols);
    buf_putc(&b, '{');
    int first = 1;
    for (size_t i = 0; i < c->ncols; i++) {
        if (c->unknown[i])
            continue;
        if (!first)
            buf_putc(&b, ',');
        first = 0;
        buf_json_str(&b, rel->cols[i].name, strlen(rel->cols[i].name));
        buf_putc(&b, ':');
        if (!c->cells[i].data)
            buf_puts(&b, "null");
        else if (tb && i < tb->ncols && tb->is_json[i])
            buf_append(&b, c->cells[i].data, c->cells[i].len);
        else
            buf_json_str(&b, c->cells[i].data, c->cells[i].len);
    }
    buf_putc(&b, '}');
    return b;
}

/* A select list keeps the chosen columns and the primary key, as
 * supabase/realtime does. */
static buf_t *data_selected(const pgo_msg_t *m, const cdc_table_t *tb, const tx_t *t, const char *const *sel,
                            size_t ns) {
    if (!tb || tb->ncols != m->rel->ncols)
        return cdc_payload_data_select(E.dec, m, t->commit_time, t->commit_lsn, sel, ns);
    uint8_t *want = xcalloc(tb->ncols ? tb->ncols : 1, 1);
    for (size_t i = 0; i < tb->ncols; i++) {
        want[i] = tb->is_pk[i];
        for (size_t k = 0; k < ns && !want[i]; k++)
            want[i] = !strcmp(sel[k], m->rel->cols[i].name);
    }
    buf_t *b = cdc_payload_data_cols(E.dec, m, t->commit_time, t->commit_lsn, want);
    free(want);
    return b;
}

/* What a decoded change holds in memory, roughly: enough to bound it. */
static size_t change_cost(const change_t *ch) {
    size_t n = sizeof(*ch) + ch->nm * (sizeof(*ch->m) + sizeof(*ch->mdata) + 1) + ch->data->len + 64;
    if (ch->row)
        n += ch->row->len + 64;
    for (uint32_t i = 0; i < ch->nm; i++)
        if (ch->mdata[i])
            n += ch->mdata[i]->len + 64;
    n += ch->nuv * (sizeof(*ch->uv) + 40) + ch->npreds * sizeof(*ch->preds);
    return n;
}

static void set_hold(tx_t *t);
static void pump(void);

static void pause_stream(int on) {
    if (E.paused == on)
        return;
    E.paused = on;
    if (on) {
        met_add(M_CDC_PAUSES, 1);
        E.trim_due = 1;
        log_info("postgres changes: delivery is behind, replication stream paused",
                 "\"queued_bytes\":%zu,\"limit\":%zu", E.queued_bytes, E.cfg.queue_max);
    } else {
        log_info("postgres changes: replication stream resumed", "\"queued_bytes\":%zu", E.queued_bytes);
    }
    if (E.stream)
        cdc_stream_pause(E.stream, on);
}

/* The transaction being received is large: queue what is decoded so far
 * and go on receiving the rest into a new part. Safe because pgoutput
 * (without streaming) sends only committed transactions; if the stream
 * drops before COMMIT, the transaction comes again from its BEGIN and its
 * first part_done changes are skipped (on_message). */
static void queue_part(void) {
    tx_t *t = E.cur;
    tx_t *next = xcalloc(1, sizeof(*next));
    next->commit_lsn = t->commit_lsn;
    next->commit_time = t->commit_time;
    next->mark = t->mark;
    t->partial = 1;
    set_hold(t);
    *E.qtail = t;
    E.qtail = &t->next;
    E.part_lsn = t->commit_lsn;
    E.part_done = E.cur_seen;
    E.cur = next;
    pump();
}

/* Some address's bindings cost more than their budget on this change:
 * its remaining bindings miss it (cdc/subs). Counted, and logged at most
 * once a second so the log cannot be flooded by it either. */
static void budget_exhausted(const cdc_change_t *cc, size_t n) {
    met_add(M_CDC_BUDGET, (int64_t)n);
    if (now_ms() < E.budget_log_ms)
        return;
    E.budget_log_ms = now_ms() + 1000;
    log_warn("postgres changes: a client address's filters used up their work budget on a change; their remaining "
             "bindings do not match it",
             "\"table\":\"%.*s.%.*s\",\"addresses\":%zu,\"budget\":%zu", (int)strcspn(cc->schema, "\"\\\n"), cc->schema,
             (int)strcspn(cc->table, "\"\\\n"), cc->table, n, E.cfg.match_budget);
}

static void on_change(const pgo_msg_t *m) {
    if (!E.cur || E.cur_skip || !m->rel)
        return;
    size_t n = m->rel->ncols;
    if (n > E.cells_cap) {
        E.cells_cap = n * 2;
        E.cells = xrealloc(E.cells, E.cells_cap * sizeof(*E.cells));
        E.unknown = xrealloc(E.unknown, E.cells_cap);
    }
    cdc_change_t cc;
    if (cdc_subs_change_from_msg(m, E.cells, E.unknown, &cc) < 0)
        return;
    const cdc_table_t *tb = E.cat ? cdc_cat_by_oid(E.cat, m->rel->relid) : NULL;
    if (E.cat && cdc_cat_watched(E.cat, m->rel->relid))
        E.claims_gen++; /* cached (SELECT is_admin())-like values may have changed */
    if (tb && !(tb->events & cc.event))
        return; /* the server does not publish this event for the table */
    size_t exhausted = 0;
    size_t nm = cdc_subs_match_budget(E.subs, &cc, &E.mbuf, &E.mcap, ++E.change_gen, E.cfg.match_budget, &exhausted);
    if (exhausted)
        budget_exhausted(&cc, exhausted);
    if (!nm)
        return;
    tx_t *t = E.cur;
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 8;
        t->ch = xrealloc(t->ch, t->cap * sizeof(*t->ch));
    }
    change_t *ch = &t->ch[t->n++];
    memset(ch, 0, sizeof(*ch));
    ch->relid = m->rel->relid;
    ch->recv_ms = now_ms();
    ch->nm = (uint32_t)nm;
    ch->m = xmalloc(nm * sizeof(*ch->m));
    memcpy(ch->m, E.mbuf, nm * sizeof(*ch->m));
    ch->mdata = xcalloc(nm, sizeof(*ch->mdata));
    ch->ok = xcalloc(nm, 1);
    ch->data = cdc_payload_data(E.dec, m, t->commit_time, t->commit_lsn);
    for (size_t i = 0; i < nm; i++) {
        ((client_t *)ch->m[i].owner)->refs++;
        size_t ns;
        const char *const *sel = cdc_subs_select(E.subs, ch->m[i].id, &ns);
        if (sel)
            ch->mdata[i] = data_selected(m, tb, t, sel, ns);
    }
    if (!tb || tb->rls)
        ch->row = row_image(&cc, m->rel, tb);
    if (tb && tb->rls && tb->ncols == cc.ncols) {
        ch->cat_fp = cdc_cat_fingerprint(E.cat);
        keep_policy_inputs(ch, tb, &cc);
    }
    ch->cost = change_cost(ch);
    E.queued_bytes += ch->cost;
    t->bytes += ch->cost;
    /* Over the bound, what this transaction holds is queued first: a pause
     * must only ever wait for queued work, which drains, never for the
     * transaction being received, which cannot grow while paused. */
    if (t->n >= PART_CHANGES || t->bytes >= PART_BYTES || E.queued_bytes > E.cfg.queue_max)
        queue_part();
    if (E.queued_bytes > E.cfg.queue_max)
        pause_stream(1);
}

/* ---- publishing ------------------------------------------------------------ */

typedef struct {
    hub_topic_t *t;
    buf_t *data;
    uint32_t wire;   /* the binding's id on the wire (shared by identical bindings) */
    uint64_t client; /* who may receive it */
} out_t;

static int out_cmp(const void *a, const void *b) {
    const out_t *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    if (x->data != y->data)
        return x->data < y->data ? -1 : 1;
    return x->client < y->client ? -1 : x->client > y->client;
}

static int u32_cmp(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static hub_topic_t *client_topic(client_t *c) {
    if (!c->t && c->live && !c->dead)
        c->t = hub_topic_find(c->topic, c->topic_len, c->is_private);
    return c->dead ? NULL : c->t;
}

/* One hub message per (topic, data). Its wire ids are those of the
 * authorized bindings (identical bindings share one, as in
 * supabase/realtime, so the list stays short however many subscribers
 * share a topic); its routes are the authorized channels: a channel on the
 * topic that is not among them never sees the frame. */
static void publish_change(change_t *ch) {
    out_t *o = xmalloc(ch->nm * sizeof(*o));
    size_t n = 0;
    for (uint32_t i = 0; i < ch->nm; i++) {
        if (!ch->ok[i])
            continue;
        client_t *c = ch->m[i].owner;
        hub_topic_t *t = client_topic(c);
        if (!t)
            continue;
        o[n++] = (out_t){t, ch->mdata[i] ? ch->mdata[i] : ch->data, wire_id(ch->m[i].id), c->id};
    }
    qsort(o, n, sizeof(*o), out_cmp);
    uint32_t *ids = xmalloc((n ? n : 1) * sizeof(*ids));
    uint64_t *routes = xmalloc((n ? n : 1) * sizeof(*routes));
    for (size_t i = 0; i < n;) {
        size_t j = i, k = 0, r = 0;
        for (; j < n && o[j].t == o[i].t && o[j].data == o[i].data; j++) {
            ids[k++] = o[j].wire;
            if (!r || routes[r - 1] != o[j].client)
                routes[r++] = o[j].client;
        }
        qsort(ids, k, sizeof(*ids), u32_cmp);
        size_t u = 0;
        for (size_t q = 0; q < k; q++)
            if (!u || ids[u - 1] != ids[q])
                ids[u++] = ids[q];
        buf_t *ev = cdc_payload_event(ids, u, o[i].data);
        hub_publish(hub_msg_postgres_changes(o[i].t, routes, r, ev->data, ev->len));
        buf_unref(ev);
        met_add(M_CDC_EVENTS, 1);
        i = j;
    }
    free(routes);
    free(ids);
    free(o);
}

/* A worker saw the clients' backlog drain (hub_paced_notify). */
static void on_backlog_low(void) {
    /* E.mu orders this against cdc_engine_stop: once stop is requested the
     * handle may be closing. */
    pthread_mutex_lock(&E.mu);
    if (!E.stop_requested)
        uv_async_send(&E.drained);
    pthread_mutex_unlock(&E.mu);
}

/* 1 while the clients' queues hold as much Postgres Changes as allowed.
 * Then a worker wakes us once they took half of it: each client gets a
 * burst at the pace clients read, and memory stays bounded. */
static int backlog_full(void) {
    if (hub_paced_backlog() <= E.cfg.backlog_max)
        return 0;
    if (!E.pub_waiting) {
        E.pub_waiting = 1;
        hub_paced_notify(E.cfg.backlog_max / 2, on_backlog_low);
    }
    /* it may have drained between the two looks */
    return hub_paced_backlog() > E.cfg.backlog_max / 2;
}

/* Milliseconds from a commit (PostgreSQL's epoch, 2000-01-01, in µs) to
 * now, by this machine's clock; 0 if the database's clock is ahead. */
static uint64_t lag_ms(int64_t commit_time) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = ((int64_t)ts.tv_sec - 946684800) * 1000000 + ts.tv_nsec / 1000;
    return now > commit_time ? (uint64_t)(now - commit_time) / 1000 : 0;
}

/* Publishes the batch being published as far as the backlog allows;
 * confirms its end LSN and frees it when it is all out. */
static void publish_some(void) {
    while (E.pub) {
        tx_t *t = E.pub_tx;
        if (E.pub_i < t->n) {
            if (backlog_full())
                return;
            change_t *ch = &t->ch[E.pub_i++];
            publish_change(ch);
            change_clear(ch); /* its memory goes now, not with the batch */
            continue;
        }
        if (t->end_lsn)
            E.pub_end = t->end_lsn;
        if (!t->partial) {
            met_add(M_CDC_TXS, 1);
            met_set(M_CDC_LAG_MS, lag_ms(t->commit_time));
        }
        E.pub_tx = t->next;
        E.pub_i = 0;
        if (!E.pub_tx) {
            if (E.pub_end && E.stream)
                cdc_stream_confirm(E.stream, E.pub_end);
            free_batch(E.pub);
            E.pub = NULL;
            E.pub_end = 0;
        }
    }
}

static void publish_batch(tx_t *batch) {
    E.pub = batch;
    E.pub_tx = batch;
    E.pub_i = 0;
    E.pub_end = 0;
    publish_some();
}

/* ---- authorization ------------------------------------------------------- */

static int need_cmp(const void *a, const void *b) {
    const need_t *x = a, *y = b;
    if (x->g != y->g)
        return x->g < y->g ? -1 : 1;
    if (x->oid != y->oid)
        return x->oid < y->oid ? -1 : 1;
    return x->c < y->c ? -1 : x->c > y->c;
}

/* Groups: subscribers with the same role and claims see the same rows.
 * A batch may hold thousands of distinct claims: found by hash. */
typedef struct {
    client_t **first;  /* a client of each group, for its role and claims */
    uint8_t *refresh;  /* per group: ask for its CLAIM term values in this batch */
    int8_t **vals;     /* per group: the values that came back */
    size_t n, cap;
    uint32_t *slots;   /* open addressing: group index + 1, 0 = empty */
    uint64_t *hashes;  /* per group */
    size_t nslots;
} groups_t;

/* One statement of the authorization pipeline. */
typedef enum { ST_CLAIMS_SET, ST_CLAIM_VALUES, ST_ROWS } st_kind_t;
typedef struct {
    st_kind_t kind;
    uint32_t g;
    size_t from, to; /* ST_ROWS: E.needs[from..to) */
} st_info_t;

static struct {
    groups_t gs;
    st_info_t *st;
    size_t nst;
    uint64_t gen;    /* claims_gen when the batch's values were asked for */
    uint64_t fp;     /* and the catalog's fingerprint then */
    /* The pipeline is split in up to two requests (the pool's two
     * connections), at a group boundary: the checks may use two cores. */
    size_t part_from[2], part_n[2];
    int pending;     /* requests not answered yet */
    int failed;      /* one could not be sent, or the database was unreachable */
    int blamed;      /* a group's claims made a statement fail */
    char *error;     /* the first unreachable-database error */
} A;

static uint64_t claims_hash(const client_t *c) {
    return hash_bytes(HASH_INIT ^ (uint64_t)c->role, c->claims, strlen(c->claims));
}

static void groups_reset(groups_t *gs) {
    for (size_t i = 0; i < gs->n; i++)
        free(gs->vals[i]);
    gs->n = 0;
    if (gs->slots)
        memset(gs->slots, 0, gs->nslots * sizeof(*gs->slots));
}

static void groups_free(groups_t *gs) {
    groups_reset(gs);
    free(gs->first);
    free(gs->refresh);
    free(gs->vals);
    free(gs->slots);
    free(gs->hashes);
    memset(gs, 0, sizeof(*gs));
}

static void groups_rehash(groups_t *gs) {
    gs->nslots = gs->nslots ? gs->nslots * 2 : 64;
    free(gs->slots);
    gs->slots = xcalloc(gs->nslots, sizeof(*gs->slots));
    for (size_t i = 0; i < gs->n; i++) {
        size_t k = (size_t)gs->hashes[i] & (gs->nslots - 1);
        while (gs->slots[k])
            k = (k + 1) & (gs->nslots - 1);
        gs->slots[k] = (uint32_t)i + 1;
    }
}

static uint32_t group_of(groups_t *gs, client_t *c) {
    if (c->batch == E.batch_no)
        return c->group;
    if ((gs->n + 1) * 2 > gs->nslots)
        groups_rehash(gs);
    uint64_t h = claims_hash(c);
    size_t k = (size_t)h & (gs->nslots - 1);
    for (; gs->slots[k]; k = (k + 1) & (gs->nslots - 1)) {
        uint32_t g = gs->slots[k] - 1;
        if (gs->hashes[g] == h && gs->first[g]->role == c->role && !strcmp(gs->first[g]->claims, c->claims)) {
            c->batch = E.batch_no;
            c->group = g;
            return g;
        }
    }
    if (gs->n == gs->cap) {
        gs->cap = gs->cap ? gs->cap * 2 : 16;
        gs->first = xrealloc(gs->first, gs->cap * sizeof(*gs->first));
        gs->hashes = xrealloc(gs->hashes, gs->cap * sizeof(*gs->hashes));
        gs->refresh = xrealloc(gs->refresh, gs->cap);
        gs->vals = xrealloc(gs->vals, gs->cap * sizeof(*gs->vals));
    }
    gs->first[gs->n] = c;
    gs->hashes[gs->n] = h;
    gs->refresh[gs->n] = 0;
    gs->vals[gs->n] = NULL;
    gs->slots[k] = (uint32_t)gs->n + 1;
    c->batch = E.batch_no;
    c->group = (uint32_t)gs->n++;
    return c->group;
}

/* ---- deciding in the server ---- */

typedef struct {
    const change_t *ch;
    const client_t *c;
    const cdc_table_t *tb;
} decide_ud_t;

static int uid_eq(void *ud, uint32_t col) {
    const decide_ud_t *d = ud;
    for (uint16_t i = 0; i < d->ch->nuv; i++) {
        if (d->ch->uv[i].col != col)
            continue;
        const char *v = d->ch->uv[i].val;
        if (d->ch->uv[i].unknown)
            return -1;
        if (!v || !d->c->sub)
            return 0; /* NULL = x and x = NULL are never true */
        if (!strcmp(v, d->c->sub))
            return 1;
        /* Different text is a different value only when both are
         * canonical: pgoutput prints uuids in lowercase. */
        return d->c->sub_uuid && col < d->tb->ncols && d->tb->cols[col].type &&
                       !strcmp(d->tb->cols[col].type, "uuid")
                   ? 0
                   : -1;
    }
    return -1;
}

static int row_pred(void *ud, uint32_t pred) {
    const decide_ud_t *d = ud;
    for (uint16_t i = 0; i < d->ch->npreds; i++)
        if (d->ch->preds[i].pred == pred)
            return d->ch->preds[i].val;
    return -1;
}

static int claims_valid(const client_t *c) {
    return c->cvals && c->cfp == cdc_cat_fingerprint(E.cat) && c->cgen == E.claims_gen;
}

/* 1 visible, 0 not, -1 ask the database (the plan cannot tell). */
static int decide(const change_t *ch, const cdc_table_t *tb, client_t *c, int *wants_claims) {
    const cdc_policy_t *p = tb->plan[c->role];
    if (!p || !ch->cat_fp || ch->cat_fp != cdc_cat_fingerprint(E.cat))
        return -1;
    decide_ud_t ud = {ch, c, tb};
    cdc_pol_input_t in = {uid_eq, row_pred, claims_valid(c) ? c->cvals : NULL, &ud};
    int r = cdc_pol_decide(p, &in);
    if (r < 0 && !in.claim && cdc_cat_terms(E.cat)->nclaims)
        *wants_claims = 1;
    return r;
}

static void on_auth(void *ud, PGresult *const *results, int n, const char *error);
static void pump(void);
static void request_catalog(void);

/* Decides what it can and collects what the database must judge (E.needs).
 * Returns the number of statements the batch needs (0: publish now), or
 * -1 if a table is missing from the catalog. */
static long plan_batch(tx_t *batch, groups_t *gs) {
    E.batch_no++;
    E.nneeds = 0;
    groups_reset(gs);
    size_t cap = 0, refresh = 0;
    for (tx_t *t = batch; t; t = t->next)
        for (size_t i = 0; i < t->n; i++) {
            change_t *ch = &t->ch[i];
            const cdc_table_t *tb = cdc_cat_by_oid(E.cat, ch->relid);
            if (!tb && E.cat_loaded_ms <= ch->recv_ms)
                return -1; /* read the catalog again first */
            if (!tb) {
                /* Still unknown after a fresh read (a relation kind the
                 * catalog does not list): nobody is authorized for it. */
                memset(ch->ok, 0, ch->nm);
                continue;
            }
            for (uint32_t k = 0; k < ch->nm; k++) {
                client_t *c = ch->m[k].owner;
                cdc_vis_t v = c->dead ? CDC_VIS_NEVER : tb->vis[c->role];
                ch->ok[k] = v == CDC_VIS_ALWAYS;
                if (v != CDC_VIS_CHECK || c->claims_bad)
                    continue;
                if (!ch->row)
                    continue; /* no row image (RLS turned on since): not delivered */
                int wants = 0;
                int r = decide(ch, tb, c, &wants);
                if (wants) {
                    uint32_t g = group_of(gs, c);
                    refresh += !gs->refresh[g];
                    gs->refresh[g] = 1;
                }
                if (r >= 0) {
                    ch->ok[k] = (uint8_t)r;
                    continue;
                }
                if (E.nneeds == cap) {
                    cap = cap ? cap * 2 : 64;
                    E.needs = xrealloc(E.needs, cap * sizeof(*E.needs));
                }
                E.needs[E.nneeds++] = (need_t){group_of(gs, c), tb->oid, ch, 0};
            }
        }
    if (E.nneeds) {
        qsort(E.needs, E.nneeds, sizeof(*E.needs), need_cmp);
        size_t w = 0;
        for (size_t i = 0; i < E.nneeds; i++)
            if (!w || need_cmp(&E.needs[w - 1], &E.needs[i]))
                E.needs[w++] = E.needs[i];
        E.nneeds = w;
    }
    return (long)(E.nneeds + refresh);
}

/* The cacheable CLAIM terms as one row: SELECT t0, t1, ... (non-cacheable
 * ones are not asked; they stay unknown). NULL if there are none. */
static char *claim_values_sql(void) {
    const cdc_pol_terms_t *t = cdc_cat_terms(E.cat);
    buf_t *b = buf_new(64);
    buf_puts(&b, "SELECT ");
    int any = 0;
    for (size_t i = 0; i < t->nclaims; i++) {
        if (any)
            buf_puts(&b, ", ");
        if (cdc_cat_claim_cacheable(E.cat, i)) {
            buf_puts(&b, t->claims[i]);
            any = 1;
        } else {
            buf_puts(&b, "NULL::boolean");
        }
    }
    buf_putc(&b, 0);
    char *s = any ? xstrdup((const char *)b->data) : NULL;
    buf_unref(b);
    return s;
}

static void add_st(size_t *cap, db_stmt_t **st, db_stmt_t s, st_info_t info) {
    if (A.nst == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *st = xrealloc(*st, *cap * sizeof(**st));
        A.st = xrealloc(A.st, *cap * sizeof(*A.st));
    }
    (*st)[A.nst] = s;
    A.st[A.nst++] = info;
}

/* One pipeline: per group, set its claims and role, ask for its CLAIM term
 * values if they are stale, then one statement per table with every row
 * of the batch that group must be judged on. */
static int start_checks(groups_t *gs) {
    size_t cap = 0;
    db_stmt_t *st = NULL;
    A.nst = 0;
    A.gen = E.claims_gen;
    A.fp = cdc_cat_fingerprint(E.cat);
    char *cv = claim_values_sql();
    const char **params = xmalloc((2 * gs->n + E.nneeds + 1) * sizeof(*params));
    buf_t **rows = xcalloc(E.nneeds + 1, sizeof(*rows));
    size_t np = 0, nrows = 0, i = 0;
    for (uint32_t g = 0; g < gs->n; g++) {
        int has_rows = i < E.nneeds && E.needs[i].g == g;
        int ask = gs->refresh[g] && cv;
        if (!has_rows && !ask)
            continue;
        params[np] = gs->first[g]->claims;
        params[np + 1] = cdc_cat_role_name(gs->first[g]->role);
        add_st(&cap, &st,
               (db_stmt_t){"SELECT set_config('request.jwt.claims', $1, true), set_config('role', $2, true)", 2,
                           &params[np], 1},
               (st_info_t){ST_CLAIMS_SET, g, 0, 0});
        np += 2;
        if (ask)
            add_st(&cap, &st, (db_stmt_t){cv, 0, NULL, 1}, (st_info_t){ST_CLAIM_VALUES, g, 0, 0});
        while (i < E.nneeds && E.needs[i].g == g) {
            size_t j = i;
            buf_t *b = buf_new(256);
            buf_putc(&b, '[');
            for (; j < E.nneeds && E.needs[j].g == g && E.needs[j].oid == E.needs[i].oid; j++) {
                if (j > i)
                    buf_putc(&b, ',');
                buf_append(&b, E.needs[j].c->row->data, E.needs[j].c->row->len);
            }
            buf_putc(&b, ']');
            buf_putc(&b, 0);
            rows[nrows++] = b;
            const cdc_table_t *tb = cdc_cat_by_oid(E.cat, E.needs[i].oid);
            params[np] = (const char *)b->data;
            add_st(&cap, &st, (db_stmt_t){tb->check_sql[gs->first[g]->role], 1, &params[np], 1},
                   (st_info_t){ST_ROWS, g, i, j});
            np++;
            i = j;
        }
    }
    met_add(M_CDC_CHECKS, (int64_t)E.nneeds);
    /* Split at the group boundary nearest the middle (each group's
     * statements start with its claims, so each part stands alone). */
    size_t split = A.nst;
    if (A.nst >= 32)
        for (size_t k = A.nst / 2; k < A.nst; k++)
            if (A.st[k].kind == ST_CLAIMS_SET) {
                split = k;
                break;
            }
    A.part_from[0] = 0;
    A.part_n[0] = split;
    A.part_from[1] = split;
    A.part_n[1] = A.nst - split;
    A.pending = 0;
    A.failed = A.blamed = 0;
    free(A.error);
    A.error = NULL;
    int sent = 0;
    for (intptr_t part = 0; part < 2; part++) {
        if (!A.part_n[part])
            continue;
        if (db_run(E.db, NULL, NULL, st + A.part_from[part], (int)A.part_n[part], on_auth, (void *)part)) {
            A.pending++;
            sent++;
        } else {
            A.failed = 1;
        }
    }
    for (size_t k = 0; k < nrows; k++)
        buf_unref(rows[k]);
    free(rows);
    free(params);
    free(st);
    free(cv);
    return sent ? 0 : -1;
}

/* results[k] answers A.st[from + k]. */
static void apply_checks(size_t from, PGresult *const *results, int n) {
    groups_t *gs = &A.gs;
    size_t nclaims = cdc_cat_terms(E.cat)->nclaims;
    for (size_t k = 0; from + k < A.nst && (int)k < n; k++) {
        const st_info_t *si = &A.st[from + k];
        const PGresult *r = results[k];
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            continue;
        if (si->kind == ST_CLAIM_VALUES && PQntuples(r) == 1 && (size_t)PQnfields(r) == nclaims) {
            int8_t *v = xmalloc(nclaims ? nclaims : 1);
            for (size_t c = 0; c < nclaims; c++)
                v[c] = !cdc_cat_claim_cacheable(E.cat, c) ? -1
                       : PQgetisnull(r, 0, (int)c)        ? 0 /* NULL is not true */
                                                          : PQgetvalue(r, 0, (int)c)[0] == 't';
            free(gs->vals[si->g]);
            gs->vals[si->g] = v;
        } else if (si->kind == ST_ROWS) {
            for (int row = 0; row < PQntuples(r); row++) {
                long o = strtol(PQgetvalue(r, row, 0), NULL, 10);
                if (o >= 1 && (size_t)o <= si->to - si->from)
                    E.needs[si->from + (size_t)o - 1].visible = 1;
            }
        }
    }
}

static int find_need(uint32_t g, uint32_t oid, change_t *c) {
    need_t key = {g, oid, c, 0};
    size_t lo = 0, hi = E.nneeds;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (need_cmp(&E.needs[mid], &key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < E.nneeds && !need_cmp(&E.needs[lo], &key) ? E.needs[lo].visible : 0;
}

static void finish_batch(tx_t *batch) {
    groups_t *gs = &A.gs;
    size_t nclaims = cdc_cat_terms(E.cat)->nclaims;
    for (tx_t *t = batch; t; t = t->next)
        for (size_t i = 0; i < t->n; i++) {
            change_t *ch = &t->ch[i];
            const cdc_table_t *tb = cdc_cat_by_oid(E.cat, ch->relid);
            for (uint32_t k = 0; k < ch->nm; k++) {
                client_t *c = ch->m[k].owner;
                if (c->dead || c->batch != E.batch_no)
                    continue;
                int8_t *v = c->group < gs->n ? gs->vals[c->group] : NULL;
                if (v && !claims_valid(c)) {
                    /* cache what came back for the next batches */
                    free(c->cvals);
                    c->cvals = xmalloc(nclaims ? nclaims : 1);
                    memcpy(c->cvals, v, nclaims);
                    c->cgen = A.gen;
                    c->cfp = A.fp;
                }
                if (ch->ok[k] || !tb || tb->vis[c->role] != CDC_VIS_CHECK)
                    continue;
                ch->ok[k] = (uint8_t)find_need(c->group, tb->oid, ch);
            }
        }
    publish_batch(batch);
}

static void requeue_front(tx_t *batch) {
    tx_t *last = batch;
    while (last->next)
        last = last->next;
    last->next = E.qhead;
    if (!E.qhead)
        E.qtail = &last->next;
    E.qhead = batch;
}

/* A statement failed for group g's claims (a sub that is not a uuid, a
 * policy that raises for them): everyone with those claims is shown
 * nothing from RLS tables until their token changes, and the batch is
 * judged again without them. */
static void blame_group(tx_t *batch, uint32_t g, const char *why) {
    const client_t *first = A.gs.first[g];
    log_warn("postgres changes: a subscriber's claims make the row-level security check fail; it receives nothing "
             "from tables with RLS until its token changes",
             "\"role\":\"%s\",\"error\":\"%.*s\"", cdc_cat_role_name(first->role), (int)strcspn(why, "\"\\\n"), why);
    for (tx_t *t = batch; t; t = t->next)
        for (size_t i = 0; i < t->n; i++)
            for (uint32_t k = 0; k < t->ch[i].nm; k++) {
                client_t *c = t->ch[i].m[k].owner;
                if (c->batch == E.batch_no && c->group == g)
                    c->claims_bad = 1;
            }
}

static void restart_stream(const char *why);

static void on_auth(void *ud, PGresult *const *results, int n, const char *error) {
    size_t from = A.part_from[(intptr_t)ud];
    tx_t *batch = E.inflight;
    if (!batch)
        return;
    /* Each part is read as it comes (its results live only during this
     * call); the batch moves on once every part has answered. */
    if (error) {
        if (!A.error)
            A.error = xstrdup(error);
    } else {
        int bad = 0;
        for (int i = 0; i < n && from + (size_t)i < A.nst; i++)
            if (PQresultStatus(results[i]) == PGRES_FATAL_ERROR) {
                blame_group(batch, A.st[from + (size_t)i].g, PQresultErrorMessage(results[i]));
                bad = 1;
                break;
            }
        if (bad)
            A.blamed = 1;
        else
            apply_checks(from, results, n);
    }
    if (--A.pending > 0)
        return;
    E.inflight = NULL;
    if (A.error || A.failed) {
        const char *why = A.error ? A.error : "the check queue is full";
        log_warn("postgres changes: authorization unavailable", "\"error\":\"%.*s\"", (int)strcspn(why, "\"\\\n"),
                 why);
        /* Nothing unauthorized goes out: hold the batch and try again. */
        requeue_front(batch);
        if (A.error && !strncmp(A.error, "prepare failed", 14)) {
            pump(); /* that SQL now runs unprepared on that connection */
            return;
        }
        E.retry_at = now_ms() + RETRY_MS;
        if (A.error)
            /* Also let go of the replication connection: if PostgreSQL is
             * shutting down, its WAL sender waits for us to confirm what we
             * cannot authorize, and we would hold its shutdown forever. What
             * was not confirmed comes again on the new stream (and what is
             * still queued here is skipped there). */
            restart_stream("authorization queries cannot reach the database");
        return;
    }
    if (A.blamed) {
        requeue_front(batch); /* judged again without the blamed claims */
        pump();
        return;
    }
    finish_batch(batch);
    pump();
}

/* A REST write of this server: its changes wait for its answer (or at most
 * HOLD_MS). */
static void set_hold(tx_t *t) {
    if (!t->mark || !t->n || t->hold_until)
        return;
    uint64_t at = written_at(t->mark);
    t->hold_until = at ? at + (uint64_t)E.cfg.write_grace_ms : now_ms() + HOLD_MS;
    if (t->hold_until <= now_ms())
        t->hold_until = 0;
}

static int held(tx_t *t) {
    if (t->hold_until && now_ms() >= t->hold_until)
        t->hold_until = 0; /* the answer never came: deliver anyway */
    return t->hold_until != 0;
}

/* The transactions at the head of the queue, up to the first one still
 * waiting for its REST answer (commit order is never broken). */
static tx_t *take_batch(void) {
    tx_t *head = E.qhead, **p = &E.qhead;
    size_t changes = 0;
    while (*p && !held(*p) && (changes == 0 || changes + (*p)->n <= BATCH_MAX_CHANGES)) {
        changes += (*p)->n;
        p = &(*p)->next;
    }
    E.qhead = *p;
    *p = NULL;
    if (!E.qhead)
        E.qtail = &E.qhead;
    return head;
}

static void on_hold_timer(uv_timer_t *t) {
    (void)t;
    pump();
}

static void pump_batches(void);

static void pump(void) {
    publish_some();
    if (E.pub)
        return; /* the rest waits for the clients to take what is out */
    if (E.paused && E.queued_bytes <= E.cfg.queue_max / 2)
        pause_stream(0);
    pump_batches();
    if (!E.inflight && E.qhead && held(E.qhead)) /* wake when its hold ends, not at the next tick */
        uv_timer_start(&E.hold_timer, on_hold_timer, E.qhead->hold_until - now_ms(), 0);
}

static void pump_batches(void) {
    while (!E.inflight && !E.pub && E.qhead && !held(E.qhead) && now_ms() >= E.retry_at) {
        if (!E.cat) {
            request_catalog();
            return;
        }
        tx_t *batch = take_batch();
        long needs = plan_batch(batch, &A.gs);
        if (needs < 0) {
            /* A table the catalog does not know yet (added to the
             * publication since it was read): read it again first. */
            requeue_front(batch);
            if (now_ms() - E.cat_loaded_ms < CATALOG_MIN_GAP_MS) {
                E.retry_at = E.cat_loaded_ms + CATALOG_MIN_GAP_MS;
                return;
            }
            request_catalog();
            return;
        }
        if (needs == 0) {
            finish_batch(batch);
            continue;
        }
        E.inflight = batch;
        int r = start_checks(&A.gs);
        if (r < 0) {
            E.inflight = NULL;
            requeue_front(batch);
            E.retry_at = now_ms() + RETRY_MS;
            return;
        }
    }
}

/* ---- catalog ---------------------------------------------------------------- */

static void try_joins(void);

static void apply_type_bases(void) {
    if (!E.cat || !E.dec)
        return;
    for (size_t i = 0; i < cdc_cat_count(E.cat); i++) {
        const cdc_table_t *t = cdc_cat_at(E.cat, i);
        for (size_t k = 0; k < t->ncols; k++)
            if (t->conv_oids[k] != t->type_oids[k])
                pgo_type_set_base(E.dec, t->type_oids[k], t->conv_oids[k]);
    }
}

static void on_catalog(void *ud, PGresult *const *results, int n, const char *error) {
    (void)ud;
    E.cat_loading = 0;
    char err[256];
    cdc_catalog_t *c = NULL;
    if (error)
        snprintf(err, sizeof(err), "%s", error);
    else if (n != 2)
        snprintf(err, sizeof(err), "catalog query: no result");
    else
        c = cdc_cat_load(results[0], results[1], E.cfg.table_events, err, sizeof(err));
    if (!c) {
        log_warn("postgres changes: catalog not loaded", "\"error\":\"%.*s\"", (int)strcspn(err, "\"\\\n"), err);
        E.retry_at = now_ms() + RETRY_MS;
        return;
    }
    cdc_cat_unref(E.cat);
    E.cat = c;
    E.cat_gen++;
    E.cat_loaded_ms = now_ms();
    apply_type_bases();
    try_joins();
    pump();
}

static void request_catalog(void) {
    if (E.cat_loading)
        return;
    const char *params[] = {E.cfg.publication};
    db_stmt_t st[2] = {{cdc_cat_sql(), 1, params, 0}, {cdc_cat_functions_sql(), 1, params, 0}};
    if (db_run(E.db, NULL, NULL, st, 2, on_catalog, NULL))
        E.cat_loading = 1;
}

/* ---- joins ------------------------------------------------------------------ */

static void cmd_free(cmd_t *c) {
    free(c->topic);
    free(c->claims);
    free(c->bindings);
    free(c);
}

typedef struct {
    void (*done)(void *, int, const char *, const char *);
    void *ud;
    char *response, *reason;
} answer_t;

static void run_answer(void *arg, int run) {
    answer_t *a = arg;
    a->done(a->ud, run, a->response, a->reason);
    free(a->response);
    free(a->reason);
    free(a);
}

static void answer(cmd_t *c, char *response, const char *reason) {
    answer_t *a = xcalloc(1, sizeof(*a));
    a->done = c->done;
    a->ud = c->ud;
    a->response = response;
    a->reason = reason ? xstrdup(reason) : NULL;
    hub_call(c->worker, run_answer, a);
}

static const char *jstr(json_t *o, const char *key, const char *def) {
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : def;
}

/* Validates and registers every binding of join c. Returns 1 when done
 * (answered), 0 to wait for a fresh catalog. */
/* The text identical bindings share: what realtime-js compares, plus the
 * select list (it shapes the payload). Long filters make distinct keys
 * that may not fit: they get the unique internal id instead. */
static const char *binding_key(const char *event, const char *schema, const char *table, const char *filter,
                               json_t *sel, char *out, size_t outsz) {
    char *seltext = json_is_array(sel) ? json_dumps(sel, JSON_COMPACT) : NULL;
    int n = snprintf(out, outsz, "%s\x1f%s\x1f%s\x1f%s\x1f%s", event, schema, table, filter ? filter : "\x1e",
                     seltext ? seltext : "");
    free(seltext);
    return n >= 0 && (size_t)n < outsz ? out : NULL;
}

static int do_join(cmd_t *c) {
    char reason[512], key[1024];
    json_t *arr = json_loads(c->bindings, 0, NULL);
    json_t *resp = json_array();
    size_t n = json_array_size(arr);
    client_t *cl = xcalloc(1, sizeof(*cl));
    cl->id = c->client;
    cl->refs = 1;
    cl->topic = xstrndup(c->topic, c->topic_len);
    cl->topic_len = c->topic_len;
    cl->is_private = (uint8_t)c->is_private;
    cl->budget = budget_get(c->peer, 2 * E.cfg.match_rate); /* two seconds' worth as a burst */
    client_set_claims(cl, c->role, xstrdup(c->claims));
    reason[0] = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        json_t *b = json_array_get(arr, i);
        if (!json_is_object(b)) {
            snprintf(reason, sizeof(reason), "postgres_changes bindings must be objects");
            break;
        }
        const char *event = jstr(b, "event", "*");
        const char *schema = jstr(b, "schema", "public");
        const char *table = jstr(b, "table", "*");
        const char *filter = jstr(b, "filter", NULL);
        json_t *sel = json_object_get(b, "select");
        unsigned mask = cdc_subs_event_mask(event);
        const cdc_table_t *tb = NULL;
        if (strcmp(table, "*") != 0 && strcmp(schema, "*") != 0) {
            tb = cdc_cat_find(E.cat, schema, table);
            if (!tb && (c->cat_gen == UINT64_MAX || c->cat_gen == E.cat_gen)) {
                /* Maybe created since the catalog was read: read it again once. */
                json_decref(arr);
                json_decref(resp);
                cdc_subs_remove_owner(E.subs, cl);
                for (size_t k = 0; k < cl->nsubs; k++)
                    wire_put(cl->subs[k]);
                client_unref(cl);
                return 0;
            }
            if (!tb) {
                snprintf(reason, sizeof(reason),
                         "Unable to subscribe to changes with given parameters: table %s.%s does not exist", schema,
                         table);
                break;
            }
            if (!tb->published) {
                snprintf(reason, sizeof(reason),
                         "Unable to subscribe to changes with given parameters: table %s.%s is not in publication %s",
                         schema, table, E.cfg.publication);
                break;
            }
            unsigned asked = mask;
            if ((asked & tb->events) != asked && asked != CDC_EV_ALL) {
                snprintf(reason, sizeof(reason),
                         "Unable to subscribe to changes with given parameters: event %s is not published for %s.%s "
                         "(this server publishes only %s%s%s)",
                         event, schema, table, tb->events & CDC_EV_INSERT ? "INSERT " : "",
                         tb->events & CDC_EV_UPDATE ? "UPDATE " : "", tb->events & CDC_EV_DELETE ? "DELETE" : "");
                break;
            }
        } else if (filter && *filter) {
            snprintf(reason, sizeof(reason), "filters need an explicit schema and table");
            break;
        }
        cdc_filter_t *f = NULL;
        char ferr[256];
        if (filter && *filter) {
            f = cdc_filter_parse(filter, tb->cols, tb->ncols, ferr, sizeof(ferr));
            if (!f) {
                snprintf(reason, sizeof(reason), "Unable to subscribe to changes with given parameters: %s", ferr);
                break;
            }
        }
        const char **cols = NULL;
        size_t ncols = 0;
        if (json_is_array(sel) && json_array_size(sel) > 0) {
            ncols = json_array_size(sel);
            cols = xcalloc(ncols, sizeof(*cols));
            for (size_t k = 0; k < ncols && !reason[0]; k++) {
                const char *name = json_string_value(json_array_get(sel, k));
                int found = 0;
                for (size_t m = 0; name && tb && m < tb->ncols; m++)
                    found |= !strcmp(tb->cols[m].name, name);
                if (!found)
                    snprintf(reason, sizeof(reason),
                             "Unable to subscribe to changes with given parameters: invalid column for select: %s",
                             name ? name : "(not a string)");
                cols[k] = name;
            }
            if (reason[0]) {
                free(cols);
                cdc_filter_free(f);
                break;
            }
        }
        char aerr[256];
        uint32_t id = cdc_subs_add_budget(E.subs, cl, mask, schema, table, f, tb ? tb->ncols : 0, cols, ncols, aerr,
                                          sizeof(aerr), &cl->budget->b);
        free(cols);
        if (!id) {
            snprintf(reason, sizeof(reason), "Unable to subscribe to changes with given parameters: %s", aerr);
            break;
        }
        cl->subs = xrealloc(cl->subs, (cl->nsubs + 1) * sizeof(*cl->subs));
        cl->subs[cl->nsubs++] = id;
        uint32_t wire = wire_get(binding_key(event, schema, table, filter, sel, key, sizeof(key)), id);
        json_t *copy = json_deep_copy(b);
        json_object_set_new(copy, "id", json_integer(wire));
        json_array_append_new(resp, copy);
    }
    json_decref(arr);
    if (reason[0]) {
        cdc_subs_remove_owner(E.subs, cl);
        for (size_t k = 0; k < cl->nsubs; k++)
            wire_put(cl->subs[k]);
        client_unref(cl);
        json_decref(resp);
        answer(c, NULL, reason);
        return 1;
    }
    client_insert(cl);
    json_t *o = json_object();
    json_object_set_new(o, "postgres_changes", resp);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    answer(c, text, NULL);
    return 1;
}

static void try_joins(void) {
    cmd_t **p = &E.joins;
    while (*p) {
        cmd_t *c = *p;
        int done = 0;
        if (E.cat && E.streaming) {
            done = do_join(c);
            if (!done) {
                c->cat_gen = E.cat_gen; /* one reload, then the table is really unknown */
                request_catalog();
            }
        } else if (now_ms() >= c->deadline_ms) {
            answer(c, NULL, "Realtime was unable to connect to the project database");
            done = 1;
        } else if (!E.cat) {
            request_catalog();
        }
        if (done) {
            *p = c->next;
            cmd_free(c);
        } else {
            p = &c->next;
        }
    }
}

/* ---- commands ---------------------------------------------------------------- */

static void process_commands(void) {
    /* new joins go after those already waiting, in the order they came;
     * the end of that list is found once, and only when a join came (this
     * runs for every WAL message) */
    cmd_t **joins_tail = NULL;
    pthread_mutex_lock(&E.mu);
    cmd_t *list = E.cmds;
    E.cmds = NULL;
    E.cmds_tail = &E.cmds;
    pthread_mutex_unlock(&E.mu);
    while (list) {
        cmd_t *c = list;
        list = c->next;
        c->next = NULL;
        switch (c->kind) {
        case CMD_JOIN:
            c->cat_gen = UINT64_MAX;
            c->deadline_ms = now_ms() + (uint64_t)E.cfg.join_timeout_ms;
            c->next = NULL;
            if (!joins_tail)
                for (joins_tail = &E.joins; *joins_tail;)
                    joins_tail = &(*joins_tail)->next;
            *joins_tail = c;
            joins_tail = &c->next;
            continue;
        case CMD_LIVE: {
            client_t *cl = *client_slot(c->client);
            if (cl)
                cl->live = 1;
            break;
        }
        case CMD_LEAVE:
            client_remove(c->client);
            break;
        case CMD_WRITTEN:
            written_add(c->client);
            for (tx_t *t = E.qhead; t; t = t->next)
                if (t->mark == c->client && t->hold_until)
                    t->hold_until = E.cfg.write_grace_ms ? now_ms() + (uint64_t)E.cfg.write_grace_ms : 0;
            break;
        case CMD_CLAIMS: {
            client_t *cl = *client_slot(c->client);
            if (cl) {
                client_set_claims(cl, c->role, c->claims);
                c->claims = NULL;
            }
            break;
        }
        }
        cmd_free(c);
    }
    if (E.joins)
        try_joins();
}

/* Queues c for the CDC thread; -1 (c freed) once it is stopping. */
static int post(cmd_t *c) {
    pthread_mutex_lock(&E.mu);
    if (E.stop_requested || !atomic_load(&E.running)) {
        pthread_mutex_unlock(&E.mu);
        cmd_free(c);
        return -1;
    }
    *E.cmds_tail = c;
    E.cmds_tail = &c->next;
    uv_async_send(&E.wake);
    pthread_mutex_unlock(&E.mu);
    return 0;
}

uint64_t cdc_engine_join(const cdc_join_req_t *req) {
    cmd_t *c = xcalloc(1, sizeof(*c));
    c->kind = CMD_JOIN;
    c->client = atomic_fetch_add(&E.next_client, 1);
    c->worker = req->worker;
    c->topic = xstrndup(req->topic, req->topic_len);
    c->topic_len = req->topic_len;
    c->is_private = req->is_private;
    c->role = cdc_cat_role(req->role);
    c->claims = xstrdup(req->claims ? req->claims : "{}");
    c->bindings = xstrdup(req->bindings);
    c->peer = req->peer;
    c->done = req->done;
    c->ud = req->ud;
    uint64_t id = c->client;
    return post(c) < 0 ? 0 : id;
}

static void post_simple(cmd_kind_t kind, uint64_t client, const char *role, const char *claims) {
    cmd_t *c = xcalloc(1, sizeof(*c));
    c->kind = kind;
    c->client = client;
    c->role = cdc_cat_role(role);
    c->claims = claims ? xstrdup(claims) : NULL;
    (void)post(c);
}

void cdc_engine_mark_text(uint64_t mark, char *out, size_t outsz) {
    snprintf(out, outsz, "%016llx:%llu", (unsigned long long)E.instance, (unsigned long long)mark);
}

uint64_t cdc_engine_mark(void) {
    return atomic_load(&E.streaming_now) ? atomic_fetch_add(&E.next_mark, 1) : 0;
}
void cdc_engine_written(uint64_t mark) { post_simple(CMD_WRITTEN, mark, NULL, NULL); }

void cdc_engine_live(uint64_t client) { post_simple(CMD_LIVE, client, NULL, NULL); }
void cdc_engine_leave(uint64_t client) { post_simple(CMD_LEAVE, client, NULL, NULL); }
void cdc_engine_claims(uint64_t client, const char *role, const char *claims) {
    post_simple(CMD_CLAIMS, client, role, claims ? claims : "{}");
}

int cdc_engine_running(void) { return atomic_load(&E.running); }

/* ---- the stream ------------------------------------------------------------ */

static void on_message(void *ud, uint64_t wal_start, const uint8_t *data, size_t len) {
    (void)ud;
    (void)wal_start;
    /* A join or leave posted before these bytes were written applies to them. */
    process_commands();
    pgo_msg_t m;
    char err[160];
    if (pgo_decode(E.dec, data, len, &m, err, sizeof(err)) < 0) {
        log_warn("postgres changes: undecodable message skipped", "\"error\":\"%s\"", err);
        return;
    }
    switch (m.kind) {
    case PGO_BEGIN:
        if (E.cur)
            tx_free(E.cur);
        E.cur = xcalloc(1, sizeof(*E.cur));
        E.cur->commit_lsn = m.lsn;
        E.cur->commit_time = m.commit_time;
        E.cur_skip = m.lsn < E.accepted_lsn;
        E.cur_seen = 0;
        /* parts of it were queued before the stream dropped: skip those */
        E.cur_skip_changes = E.part_lsn && m.lsn == E.part_lsn ? E.part_done : 0;
        break;
    case PGO_INSERT:
    case PGO_UPDATE:
    case PGO_DELETE:
        if (E.cur && !E.cur_skip && ++E.cur_seen <= E.cur_skip_changes)
            break;
        on_change(&m);
        break;
    case PGO_MESSAGE:
        if (E.cur && m.transactional && m.prefix && !strcmp(m.prefix, CDC_WRITE_MARK_PREFIX) && m.content_len < 48) {
            char text[48], own[20];
            memcpy(text, m.content, m.content_len);
            text[m.content_len] = 0;
            snprintf(own, sizeof(own), "%016llx:", (unsigned long long)E.instance);
            if (!strncmp(text, own, 17)) /* another server's writes are not ours to wait for */
                E.cur->mark = strtoull(text + 17, NULL, 10);
        }
        break;
    case PGO_COMMIT:
        if (E.cur && !E.cur_skip) {
            E.cur->end_lsn = m.end_lsn;
            set_hold(E.cur);
            if (m.end_lsn > E.accepted_lsn)
                E.accepted_lsn = m.end_lsn;
            E.part_lsn = 0;
            E.part_done = 0;
            if (!E.cur->n && !E.qhead && !E.inflight && !E.pub) {
                tx_free(E.cur); /* nothing to deliver and nothing ahead of it */
                cdc_stream_confirm(E.stream, m.end_lsn);
            } else {
                *E.qtail = E.cur;
                E.qtail = &E.cur->next;
            }
        } else if (E.cur) {
            tx_free(E.cur);
        }
        E.cur = NULL;
        pump();
        break;
    case PGO_RELATION: {
        const cdc_table_t *tb = E.cat ? cdc_cat_by_oid(E.cat, m.rel->relid) : NULL;
        if (!tb || tb->ncols != m.rel->ncols)
            request_catalog(); /* new or altered table */
        else
            for (size_t k = 0; k < tb->ncols; k++)
                if (tb->conv_oids[k] != tb->type_oids[k])
                    pgo_type_set_base(E.dec, tb->type_oids[k], tb->conv_oids[k]);
        break;
    }
    default:
        break;
    }
    pgo_msg_clear(&m);
}

static void on_streaming(void *ud) {
    (void)ud;
    pgo_decoder_free(E.dec);
    E.dec = pgo_decoder_new(PROTO_VERSION);
    apply_type_bases();
    E.streaming = 1;
    atomic_store(&E.streaming_now, 1);
    log_info("postgres changes: streaming", "\"slot\":\"%s\",\"publication\":\"%s\"", E.cfg.slot, E.cfg.publication);
    try_joins();
}

static void on_lost(void *ud, const char *why) {
    (void)ud;
    if (E.streaming)
        log_warn("postgres changes: replication stream lost", "\"why\":\"%.*s\"", (int)strcspn(why, "\"\\\n"), why);
    E.streaming = 0;
    atomic_store(&E.streaming_now, 0);
    if (E.cur) {
        tx_free(E.cur); /* it comes again from its BEGIN */
        E.cur = NULL;
    }
}

static cdc_stream_t *open_stream(void) {
    cdc_stream_config_t sc = {E.cfg.host,  E.cfg.port,        E.cfg.repl_user, E.cfg.repl_password,
                              E.cfg.dbname, E.cfg.slot,        E.cfg.publication, PROTO_VERSION, 0, 1000};
    cdc_stream_cb_t cb = {on_message, on_streaming, on_lost};
    cdc_stream_t *st = cdc_stream_new(&E.loop, &sc, &cb, NULL);
    if (st && E.paused)
        cdc_stream_pause(st, 1);
    return st;
}

/* Closes the replication connection; the timer opens a new one after
 * RETRY_MS. */
static void restart_stream(const char *why) {
    if (!E.stream)
        return;
    log_warn("postgres changes: closing the replication stream", "\"why\":\"%s\"", why);
    cdc_stream_close(E.stream);
    E.stream = NULL;
    E.stream_retry_at = now_ms() + RETRY_MS;
    on_lost(NULL, why);
}

/* ---- the thread ---------------------------------------------------------------- */

static void update_gauges(void) {
    size_t queued = 0;
    for (tx_t *t = E.qhead; t; t = t->next)
        queued++;
    met_set(M_CDC_STREAMING, (uint64_t)E.streaming);
    met_set(M_CDC_CHANNELS, E.ccount);
    met_set(M_CDC_QUEUED, queued);
    size_t backlog = hub_paced_backlog();
    met_set(M_CDC_QUEUE_BYTES, E.queued_bytes);
    met_set(M_CDC_BACKLOG, backlog);
    if (E.queued_bytes > TRIM_BYTES || backlog > TRIM_BYTES)
        E.trim_due = 1;
    /* A burst's memory was freed across threads in many small pieces: give
     * it back to the system once it is all gone, rather than keeping the
     * peak resident. */
    if (E.trim_due && E.queued_bytes == 0 && backlog == 0 && !E.pub) {
        E.trim_due = 0;
        malloc_trim(0);
    }
}

static void on_timer(uv_timer_t *t) {
    (void)t;
    uint64_t now = now_ms();
    if (E.drained_ms)
        budget_drain(E.cfg.match_rate, now - E.drained_ms);
    E.drained_ms = now;
    update_gauges();
    if (!E.stream && !E.stopping && now_ms() >= E.stream_retry_at)
        E.stream = open_stream();
    process_commands();
    if (E.joins)
        try_joins();
    if (!E.cat_loading && (E.ccount || E.joins) && now_ms() - E.cat_loaded_ms > CATALOG_MAX_AGE_MS)
        request_catalog();
    pump();
}

static void close_cb(uv_handle_t *h, void *arg) {
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void shutdown_engine(void) {
    if (E.stream) {
        cdc_stream_close(E.stream);
        E.stream = NULL;
    }
    if (E.db) {
        db_pool_close(E.db);
        E.db = NULL;
    }
    uv_walk(&E.loop, close_cb, NULL);
}

static void on_drained(uv_async_t *a) {
    (void)a;
    E.pub_waiting = 0;
    pump();
}

static void on_wake(uv_async_t *a) {
    (void)a;
    pthread_mutex_lock(&E.mu);
    int stop = E.stop_requested;
    pthread_mutex_unlock(&E.mu);
    if (stop) {
        E.stopping = 1;
        shutdown_engine();
        return;
    }
    process_commands();
    pump();
}

static met_block_t engine_met;

static void *engine_main(void *arg) {
    (void)arg;
    met_register(&engine_met);
    uv_run(&E.loop, UV_RUN_DEFAULT);
    return NULL;
}

static char *dup_or_null(int i, const char *s) { return E.strs[i] = s ? xstrdup(s) : NULL; }

int cdc_engine_start(const cdc_engine_config_t *cfg) {
    char err[256];
    if (cdc_cat_limits_check(cfg->table_events, err, sizeof(err)) < 0) {
        log_error("bad configuration", "\"error\":\"%s\"", err);
        return -1;
    }
    E.cfg.host = dup_or_null(0, cfg->host);
    E.cfg.port = dup_or_null(1, cfg->port);
    E.cfg.user = dup_or_null(2, cfg->user);
    E.cfg.password = dup_or_null(3, cfg->password);
    E.cfg.dbname = dup_or_null(4, cfg->dbname);
    E.cfg.repl_user = dup_or_null(5, cfg->repl_user);
    E.cfg.repl_password = dup_or_null(6, cfg->repl_password);
    E.cfg.slot = dup_or_null(7, cfg->slot);
    E.cfg.publication = dup_or_null(8, cfg->publication);
    E.cfg.table_events = dup_or_null(9, cfg->table_events);
    E.cfg.join_timeout_ms = cfg->join_timeout_ms > 0 ? cfg->join_timeout_ms : 8000;
    E.cfg.write_grace_ms = cfg->write_grace_ms >= 0 ? cfg->write_grace_ms : 0;
    E.cfg.queue_max = cfg->queue_max ? cfg->queue_max : (64u << 20);
    E.cfg.backlog_max = cfg->backlog_max ? cfg->backlog_max : (64u << 20);
    E.cfg.match_budget = cfg->match_budget ? cfg->match_budget : 1000000;
    E.cfg.match_rate = cfg->match_rate ? cfg->match_rate : 100000000;
    atomic_init(&E.next_client, 1);
    atomic_init(&E.next_mark, 1);
    if (RAND_bytes((unsigned char *)&E.instance, sizeof(E.instance)) != 1)
        E.instance = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    E.ccap = 1024;
    E.ctab = xcalloc(E.ccap, sizeof(*E.ctab));
    E.cmds_tail = &E.cmds;
    E.qtail = &E.qhead;
    E.subs = cdc_subs_new();
    pthread_mutex_init(&E.mu, NULL);
    uv_loop_init(&E.loop);
    uv_async_init(&E.loop, &E.wake, on_wake);
    uv_async_init(&E.loop, &E.drained, on_drained);
    uv_timer_init(&E.loop, &E.timer);
    uv_timer_init(&E.loop, &E.hold_timer);
    uv_timer_start(&E.timer, on_timer, 100, 100);
    db_config_t dc = {E.cfg.host, E.cfg.port, E.cfg.user, E.cfg.password, E.cfg.dbname, 2, 1 << 20};
    E.db = db_pool_new(&E.loop, &dc);
    E.stream = open_stream();
    if (!E.stream) {
        db_pool_close(E.db);
        E.db = NULL;
        uv_walk(&E.loop, close_cb, NULL);
        uv_run(&E.loop, UV_RUN_DEFAULT);
        uv_loop_close(&E.loop);
        return -1;
    }
    E.dec = pgo_decoder_new(PROTO_VERSION);
    request_catalog();
    atomic_store(&E.running, 1);
    if (pthread_create(&E.thread, NULL, engine_main, NULL) != 0) {
        log_error("thread creation failed", "\"thread\":\"cdc\"");
        atomic_store(&E.running, 0);
        return -1;
    }
    return 0;
}

void cdc_engine_stop(void) {
    if (!atomic_load(&E.running))
        return;
    pthread_mutex_lock(&E.mu);
    E.stop_requested = 1;
    uv_async_send(&E.wake);
    pthread_mutex_unlock(&E.mu);
    pthread_join(E.thread, NULL);
    atomic_store(&E.running, 0);
    /* What never got out: answer waiting joins, drop the rest. */
    while (E.joins) {
        cmd_t *c = E.joins;
        E.joins = c->next;
        c->done(c->ud, 0, NULL, NULL);
        cmd_free(c);
    }
    for (cmd_t *c = E.cmds, *n; c; c = n) {
        n = c->next;
        if (c->kind == CMD_JOIN)
            c->done(c->ud, 0, NULL, NULL);
        cmd_free(c);
    }
    E.cmds = NULL;
    if (E.cur)
        tx_free(E.cur);
    free_batch(E.inflight);
    free_batch(E.pub);
    free_batch(E.qhead);
    for (size_t i = 0; i < E.ccap; i++)
        for (client_t *c = E.ctab[i], *n; c; c = n) {
            n = c->hnext;
            client_unref(c);
        }
    free(E.ctab);
    cdc_subs_free(E.subs);
    cdc_cat_unref(E.cat);
    pgo_decoder_free(E.dec);
    free(E.needs);
    groups_free(&A.gs);
    free(A.st);
    free(A.error);
    wire_free_all();
    budget_free_all();
    free(E.cells);
    free(E.unknown);
    free(E.mbuf);
    free(E.written);
    uv_loop_close(&E.loop);
    /* E.mu is not destroyed: workers still draining their connections may
     * post a leave after we stopped; post() takes E.mu to see that we have,
     * so it must outlive us (it is static; nothing leaks). ThreadSanitizer
     * saw the destroy race such a post. */
    for (int i = 0; i < 11; i++)
        free(E.strs[i]);
}
