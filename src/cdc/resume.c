/*
 * cdc/resume: see resume.h.
 *
 * Why chunks and not the whole replay at once: a thousand channels
 * resuming together over a full history would each queue every change
 * they missed (data and row image) before any was sent. A chunk holds at
 * most CHUNK_CHANGES matched changes, one chunk per channel is queued at a
 * time, and looking through the history is bounded per call (SCAN_STEP
 * entries), so memory is bounded by the channels catching up, and the
 * CDC thread keeps decoding between calls.
 */
#include "cdc/resume.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdc/engine_int.h"
#include "metrics/metrics.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

#define CHUNK_CHANGES 256 /* matched changes per replay chunk */
#define SCAN_STEP 16384   /* history entries looked at per cdc_resume_pump */
/* What looking at one history entry costs a channel's client address, in
 * cdc/subs' work units (about 1-4 ns each): rebuilding its values is some
 * 50-100 ns. Charged to the address's rate bound (CDC_MATCH_RATE), so
 * rejoining again and again with an old position costs that address its
 * own share of the CDC thread, not everyone's. */
#define SCAN_UNITS 32
#define TOPIC_PREFIX "realtime:"

static cdc_pos_t pos_max(cdc_pos_t a, cdc_pos_t b) { return cdc_pos_cmp(a, b) >= 0 ? a : b; }

/* The newest start a channel can have: nothing decoded or written before
 * it is news to a client that reads its snapshot after hearing it. */
static cdc_pos_t newest(cdc_eng_t *e) {
    cdc_pos_t wal = {cdc_eng_wal_end(e), 0};
    return pos_max(e->hist.head, wal);
}

/* A postgres_changes system message ("Subscribed to PostgreSQL",
 * "Position") routed to c alone, ahead of every change it gets from now
 * on (the hub keeps each worker's order). asked: the join asked to resume
 * (recovered is said, false with why). */
static void send_system(cdc_eng_t *e, cdc_client_t *c, const char *message, cdc_pos_t pos, int asked, const char *why) {
    hub_topic_t *t = cdc_cli_topic(c);
    if (!t)
        return; /* it left meanwhile */
    c->pub_ms = cdc_eng_now(e);
    const char *name = c->topic;
    size_t len = c->topic_len, pl = strlen(TOPIC_PREFIX);
    if (len >= pl && memcmp(name, TOPIC_PREFIX, pl) == 0)
        name += pl, len -= pl;
    char text[CDC_POS_TEXT_MAX];
    cdc_pos_text(pos, text);
    buf_t *b = buf_new(192 + len + (why ? strlen(why) : 0));
    buf_puts(&b, "{\"extension\":\"postgres_changes\",\"status\":\"ok\",\"message\":");
    buf_json_str(&b, message, strlen(message));
    buf_puts(&b, ",\"channel\":");
    buf_json_str(&b, name, len);
    buf_puts(&b, ",\"position\":");
    buf_json_str(&b, text, strlen(text));
    if (asked) {
        buf_puts(&b, why ? ",\"recovered\":false,\"reason\":" : ",\"recovered\":true");
        if (why)
            buf_json_str(&b, why, strlen(why));
    }
    buf_putc(&b, '}');
    hub_publish(hub_msg_routed_system(t, c->id, b->data, b->len));
    buf_unref(b);
}

static void send_subscribed(cdc_eng_t *e, cdc_client_t *c, cdc_pos_t start, int asked, const char *why) {
    send_system(e, c, "Subscribed to PostgreSQL", start, asked, why);
}

/* Why c cannot resume after its position (NULL: it can). */
static const char *refusal(cdc_eng_t *e, const cdc_client_t *c, cdc_pos_t *from, char *buf, size_t n) {
    const cdc_hist_t *h = &e->hist;
    if (cdc_pos_parse(c->resume, strlen(c->resume), from) < 0)
        return "postgres_changes_resume.after is not a position this server gave";
    char a[CDC_POS_TEXT_MAX], b[CDC_POS_TEXT_MAX];
    cdc_pos_text(*from, a);
    if (!cdc_hist_enabled(h)) {
        snprintf(buf, n, "this server keeps no history of changes (CDC_HISTORY_SECONDS=0): %s cannot be resumed", a);
        return buf;
    }
    cdc_pos_t floor = cdc_hist_floor(h, cdc_eng_pg_now_us());
    if (cdc_pos_cmp(*from, floor) < 0) {
        cdc_pos_text(floor, b);
        snprintf(buf, n, "position %s is older than the retained history, which starts after %s", a, b);
        return buf;
    }
    uint64_t wal = cdc_eng_wal_end(e);
    if (cdc_pos_cmp(*from, h->head) > 0 && from->lsn > wal) {
        cdc_pos_text((cdc_pos_t){wal, 0}, b);
        snprintf(buf, n, "position %s is ahead of anything the database has written (%s)", a, b);
        return buf;
    }
    return NULL;
}

void cdc_resume_live(cdc_eng_t *e, cdc_client_t *c) {
    char buf[256];
    cdc_pos_t from = {0, 0};
    const char *why = c->resume_asked ? refusal(e, c, &from, buf, sizeof(buf)) : NULL;
    free(c->resume);
    c->resume = NULL;
    if (!c->resume_asked || why) {
        c->live_after = newest(e);
        send_subscribed(e, c, c->live_after, c->resume_asked, why);
        if (why) {
            met_add(M_CDC_RESUME_MISSES, 1);
            log_info("postgres changes: resume refused; the client re-reads", "\"why\":\"%s\"", why);
        }
        return;
    }
    met_add(M_CDC_RESUMES, 1);
    send_subscribed(e, c, from, 1, NULL);
    c->cursor = from;
    c->catching_up = 1;
    c->refs++; /* the list's */
    cdc_resume_t *r = &e->rs;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->up = xrealloc(r->up, r->cap * sizeof(*r->up));
    }
    r->up[r->n++] = c;
}

/* Takes list entry i out (its reference dropped). */
static void unlist(cdc_resume_t *r, size_t i) {
    cdc_client_t *c = r->up[i];
    r->up[i] = r->up[--r->n];
    c->catching_up = 0;
    cdc_cli_unref(c);
}

static void grow_scratch(cdc_resume_t *r, size_t nvals, size_t ncols) {
    if (nvals > r->vcap) {
        r->vcap = nvals * 2;
        r->vals = xrealloc(r->vals, r->vcap * sizeof(*r->vals));
    }
    if (ncols > r->ccap) {
        r->ccap = ncols * 2;
        r->cells = xrealloc(r->cells, r->ccap * sizeof(*r->cells));
        r->unknown = xrealloc(r->unknown, r->ccap);
    }
}

/* The matches of history entry he for c (in r->mbuf), and its message and
 * change for cdc_txq_fill. Returns how many. */
static size_t match_entry(cdc_eng_t *e, cdc_client_t *c, const cdc_hist_entry_t *he, pgo_msg_t *m, cdc_change_t *cc,
                          const cdc_table_t **tb) {
    cdc_resume_t *r = &e->rs;
    grow_scratch(r, (size_t)he->natts_new + he->natts_old + 1, cdc_hist_entry_rel(he)->ncols + 1u);
    cdc_hist_msg(he, m, r->vals);
    if (cdc_subs_change_from_msg(m, r->cells, r->unknown, cc) < 0)
        return 0;
    *tb = e->cat ? cdc_cat_by_oid(e->cat, m->rel->relid) : NULL;
    if (*tb && !((*tb)->events & cc->event))
        return 0; /* an event the server does not publish for the table (TABLE_EVENTS) */
    uint64_t used = 0;
    size_t n = cdc_subs_match_owner(e->reg.subs, c, cc, &r->mbuf, &r->mcap, e->cfg.match_budget, &used);
    c->budget->b.spent += used; /* its address's rate bound pays, and the replay waits when it is spent */
    return n;
}

/* The history moved past c's cursor while it caught up (its bounds, under
 * load): what it missed cannot all be given. It is told as a refused
 * resume is, and goes on live from the newest position. */
static void lost(cdc_eng_t *e, cdc_client_t *c) {
    char a[CDC_POS_TEXT_MAX], b[CDC_POS_TEXT_MAX], why[192];
    cdc_pos_text(c->cursor, a);
    cdc_pos_text(e->hist.floor, b);
    snprintf(why, sizeof(why), "the retained history moved past %s (it starts after %s) while this channel caught up",
             a, b);
    c->live_after = newest(e);
    send_subscribed(e, c, c->live_after, 1, why);
    met_add(M_CDC_RESUME_MISSES, 1);
    log_warn("postgres changes: a resuming channel fell out of the history; it re-reads", "\"why\":\"%s\"", why);
}

/* Builds c's next chunk, looking at no more than *budget entries. Returns
 * 1 when c is done catching up (live now, or gone). */
static int next_chunk(cdc_eng_t *e, cdc_client_t *c, size_t *budget) {
    cdc_hist_t *h = &e->hist;
    if (c->dead)
        return 1;
    if (cdc_pos_cmp(c->cursor, h->floor) < 0) {
        lost(e, c);
        return 1;
    }
    cdc_tx_t *t = NULL;
    cdc_budget_t *b = &c->budget->b;
    size_t i = cdc_hist_after(h, c->cursor), end = cdc_hist_len(h);
    for (; i < end && *budget && (!t || t->n < CHUNK_CHANGES); i++, (*budget)--) {
        if (b->cap && b->spent >= b->cap)
            break; /* its address used its share: it goes on as the bound drains */
        b->spent += SCAN_UNITS;
        const cdc_hist_entry_t *he = cdc_hist_at(h, i);
        c->cursor = he->pos;
        pgo_msg_t m;
        cdc_change_t cc;
        const cdc_table_t *tb = NULL;
        size_t nm = match_entry(e, c, he, &m, &cc, &tb);
        if (!nm)
            continue;
        if (!t) {
            t = xcalloc(1, sizeof(*t));
            t->replay_for = c->id;
        }
        cdc_txq_fill(e, t, h->types, &m, &cc, tb, e->rs.mbuf, nm, he->pos, he->commit_time);
    }
    int done = i == end;
    if (done) /* its later changes are behind this chunk in the queue */
        c->live_after = pos_max(c->cursor, h->head);
    if (t) {
        met_add(M_CDC_REPLAYED, (int64_t)t->n);
        c->chunk_out = !done;
        cdc_txq_append(e, t);
    }
    return done;
}

int cdc_resume_pump(cdc_eng_t *e) {
    cdc_resume_t *r = &e->rs;
    size_t budget = SCAN_STEP;
    int more = 0;
    /* Replays wait while the queue is half full, as the stream does: what
     * chunks hold counts in the same bound. */
    if (e->q.queued_bytes > e->cfg.queue_max / 2)
        return 0;
    for (size_t k = r->n; k > 0 && r->n && budget; k--) {
        if (r->next >= r->n)
            r->next = 0;
        cdc_client_t *c = r->up[r->next];
        if (c->chunk_out && !c->dead) {
            r->next++;
            continue;
        }
        size_t before = budget;
        if (next_chunk(e, c, &budget))
            unlist(r, r->next); /* the last entry moved here: look at it next */
        else if (!c->chunk_out && budget != before && budget == 0)
            more = 1, r->next++; /* this call's step ran out before a chunk filled */
        else
            r->next++; /* a chunk is out, or its address's bound stopped it (the tick retries) */
    }
    return more || (!budget && r->n);
}

/* Everything at or before the returned position was handed to the hub:
 * the first transaction still in the pipeline (being published, judged,
 * queued or received) starts after it. Replay chunks do not count: they
 * hold old changes for channels that are catching up. */
static cdc_pos_t published_upto(cdc_eng_t *e) {
    const cdc_tx_t *lists[] = {e->pub.tx, e->az.batch, e->q.head, e->q.cur};
    for (size_t k = 0; k < sizeof(lists) / sizeof(lists[0]); k++)
        for (const cdc_tx_t *t = lists[k]; t; t = k == 3 ? NULL : t->next)
            if (!t->replay_for)
                return (cdc_pos_t){t->commit_lsn, 0};
    /* idle: everything the stream sent was published (a keepalive's
     * position comes after every transaction that committed before it) */
    cdc_pos_t sent = {e->stream ? cdc_stream_received(e->stream) : 0, 0};
    return pos_max(e->hist.head, sent);
}

void cdc_resume_positions(cdc_eng_t *e) {
    uint64_t now = cdc_eng_now(e);
    if (now < e->rs.positions_at)
        return;
    e->rs.positions_at = now + (e->cfg.position_every_ms < 1000 ? (uint64_t)e->cfg.position_every_ms : 1000);
    cdc_pos_t upto = {0, 0};
    int known = 0;
    cdc_client_t *c;
    for (size_t i = 0; (c = htab_next(&e->reg.clients, &i));) {
        if (!c->live || c->dead || c->catching_up || now - c->pub_ms < (uint64_t)e->cfg.position_every_ms)
            continue;
        if (!known)
            upto = published_upto(e), known = 1;
        if (cdc_pos_cmp(upto, c->live_after) <= 0)
            continue;         /* nothing newer to tell */
        c->live_after = upto; /* everything up to it is out already */
        send_system(e, c, "Position", upto, 0, NULL);
    }
}

void cdc_resume_chunk_done(cdc_eng_t *e, uint64_t client) {
    cdc_client_t *c = cdc_cli_find(&e->reg, client);
    if (c) /* one that left is dropped from the list by the next pump (dead) */
        c->chunk_out = 0;
}

void cdc_resume_free(cdc_eng_t *e) {
    cdc_resume_t *r = &e->rs;
    while (r->n)
        unlist(r, r->n - 1);
    free(r->up);
    free(r->vals);
    free(r->cells);
    free(r->unknown);
    free(r->mbuf);
    memset(r, 0, sizeof(*r));
}
