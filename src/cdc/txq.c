/*
 * cdc/txq: see txq.h.
 *
 * Each change is matched against the registry as soon as it is decoded
 * (the pgoutput bytes are only valid during the callback), and if anyone
 * matches, its `data` is encoded then, once, and its row image kept for
 * authorization. A transaction joins the queue at COMMIT (or in parts
 * before, when large). The queue is worked one batch at a time: cdc/authz
 * judges it (one database round trip for the whole batch, if any); while
 * that runs, new commits queue up behind it, so batches grow with load.
 * Then the batch is published in commit order (cdc/publish).
 *
 * Deduplication after a reconnect: transactions whose commit LSN is below
 * the highest end LSN already accepted into the queue are skipped at BEGIN
 * (see cdc/stream.h for why PostgreSQL resends them).
 */
#include "cdc/txq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdc/engine_int.h"
#include "cdc/payload.h"
#include "metrics/metrics.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/mem.h"

#define BATCH_MAX_CHANGES 4096
#define CATALOG_MIN_GAP_MS 200 /* an unknown table triggers a reload at most this often */
#define HOLD_MS 500            /* longest a REST write's changes wait for its answer */
#define WRITTEN_KEEP_MS 2000   /* answers seen before their COMMIT arrives are remembered this long */
#define WRITTEN_SWEEP_MIN 512  /* answers remembered before old ones are looked for */
#define PART_CHANGES 1024      /* a transaction is queued in parts of at most this many matched changes */
#define PART_BYTES (4u << 20)  /* ... or this many bytes */

static void on_authorized(cdc_eng_t *e, cdc_tx_t *batch, cdc_authz_verdict_t v);

void cdc_txq_init(cdc_txq_t *q) {
    memset(q, 0, sizeof(*q));
    q->tail = &q->head;
    q->written_sweep = WRITTEN_SWEEP_MIN;
}

/* ---- answered REST writes ---------------------------------------------------- */

typedef struct {
    uint64_t mark, at;
} written_t;

static bool written_eq(const void *item, const void *key) {
    return ((const written_t *)item)->mark == *(const uint64_t *)key;
}

/* Forgets answers whose COMMIT never came (rolled back), so the table
 * stays as large as the answers of the last WRITTEN_KEEP_MS. */
static void written_sweep(cdc_eng_t *e) {
    htab_t *t = &e->q.written;
    written_t **old = xmalloc((htab_count(t) + 1) * sizeof(*old));
    size_t n = 0;
    written_t *w;
    for (size_t i = 0; (w = htab_next(t, &i));)
        if (cdc_eng_now(e) - w->at >= WRITTEN_KEEP_MS)
            old[n++] = w; /* collected first: removing while iterating may skip */
    for (size_t i = 0; i < n; i++) {
        htab_remove(t, hash_u64(old[i]->mark), old[i]);
        free(old[i]);
    }
    free(old);
    size_t next = WRITTEN_SWEEP_MIN;
    while (next < htab_count(t) + 1)
        next *= 2;
    e->q.written_sweep = next;
}

void cdc_txq_written(cdc_eng_t *e, uint64_t mark) {
    if (htab_count(&e->q.written) + 1 > e->q.written_sweep)
        written_sweep(e);
    written_t *w = htab_find(&e->q.written, hash_u64(mark), written_eq, &mark);
    if (!w) {
        w = xcalloc(1, sizeof(*w));
        w->mark = mark;
        htab_insert(&e->q.written, hash_u64(mark), w);
    }
    w->at = cdc_eng_now(e);
    for (cdc_tx_t *t = e->q.head; t; t = t->next)
        if (t->mark == mark && t->hold_until)
            t->hold_until = e->cfg.write_grace_ms ? cdc_eng_now(e) + (uint64_t)e->cfg.write_grace_ms : 0;
}

/* When mark's answer went out (loop ms), or 0 if it has not. */
static uint64_t written_at(const cdc_eng_t *e, uint64_t mark) {
    const written_t *w = htab_find(&e->q.written, hash_u64(mark), written_eq, &mark);
    return w ? w->at : 0;
}

/* ---- changes and transactions ------------------------------------------- */

void cdc_txq_change_clear(cdc_eng_t *e, cdc_qchange_t *c) {
    for (uint32_t i = 0; i < c->nm; i++) {
        cdc_cli_unref(c->m[i].owner);
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
    cdc_msg_free(c->bcast);
    e->q.queued_bytes -= c->cost;
    memset(c, 0, sizeof(*c));
}

/* What the policy plans of tb need from the row, kept while the pgoutput
 * bytes are valid: the values of columns UID terms compare, and which of
 * the table's ROW predicates hold. */
void cdc_txq_policy_inputs(const cdc_catalog_t *cat, cdc_qchange_t *ch, const cdc_table_t *tb, const cdc_change_t *cc) {
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
                 * never equal, and only an exact decision may use that (see cdc/authz) */
                ch->uv[ch->nuv].unknown = cc->unknown[t->arg];
                ch->uv[ch->nuv].val = cc->unknown[t->arg] || !cc->cells[t->arg].data
                                          ? NULL
                                          : xstrndup(cc->cells[t->arg].data, cc->cells[t->arg].len);
                ch->nuv++;
            }
    }
    const cdc_pol_terms_t *terms = cdc_cat_terms(cat);
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

static void tx_free(cdc_eng_t *e, cdc_tx_t *t) {
    for (size_t i = 0; i < t->n; i++)
        cdc_txq_change_clear(e, &t->ch[i]);
    free(t->ch);
    free(t);
}

void cdc_txq_free_batch(cdc_eng_t *e, cdc_tx_t *t) {
    while (t) {
        cdc_tx_t *n = t->next;
        tx_free(e, t);
        t = n;
    }
}

/* The row as the transaction left it, for jsonb_populate_record: values
 * as JSON strings of their text (PostgreSQL parses them back by type),
 * json/jsonb spliced, unknown values (unchanged TOAST, columns a key-only
 * old tuple lacks) left out, so they read as NULL. */
buf_t *cdc_txq_row_image(const cdc_change_t *c, const pgo_relation_t *rel, const cdc_table_t *tb) {
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
static buf_t *data_selected(const pgo_decoder_t *dec, const pgo_msg_t *m, const cdc_table_t *tb, int64_t commit_time,
                            uint64_t lsn, const char *const *sel, size_t ns) {
    if (!tb || tb->ncols != m->rel->ncols)
        return cdc_payload_data_select(dec, m, commit_time, lsn, sel, ns);
    uint8_t *want = xcalloc(tb->ncols ? tb->ncols : 1, 1);
    for (size_t i = 0; i < tb->ncols; i++) {
        want[i] = tb->is_pk[i];
        for (size_t k = 0; k < ns && !want[i]; k++)
            want[i] = !strcmp(sel[k], m->rel->cols[i].name);
    }
    buf_t *b = cdc_payload_data_cols(dec, m, commit_time, lsn, want);
    free(want);
    return b;
}

/* What a decoded change holds in memory, roughly: enough to bound it. */
static size_t change_cost(const cdc_qchange_t *ch) {
    size_t n = sizeof(*ch) + ch->nm * (sizeof(*ch->m) + sizeof(*ch->mdata) + 1) + ch->data->len + 64;
    if (ch->row)
        n += ch->row->len + 64;
    for (uint32_t i = 0; i < ch->nm; i++)
        if (ch->mdata[i])
            n += ch->mdata[i]->len + 64;
    n += ch->nuv * (sizeof(*ch->uv) + 40) + ch->npreds * sizeof(*ch->preds);
    return n;
}

/* ---- holds: a REST write's changes wait for its answer ----------------- */

/* A REST write of this server: its changes wait for its answer (or at most
 * HOLD_MS). */
static void set_hold(cdc_eng_t *e, cdc_tx_t *t) {
    if (!t->mark || !t->n || t->hold_until)
        return;
    uint64_t at = written_at(e, t->mark);
    t->hold_until = at ? at + (uint64_t)e->cfg.write_grace_ms : cdc_eng_now(e) + HOLD_MS;
    if (t->hold_until <= cdc_eng_now(e))
        t->hold_until = 0;
}

static int held(cdc_eng_t *e, cdc_tx_t *t) {
    if (t->hold_until && cdc_eng_now(e) >= t->hold_until)
        t->hold_until = 0; /* the answer never came: deliver anyway */
    return t->hold_until != 0;
}

/* ---- receiving ------------------------------------------------------------ */

static void pause_stream(cdc_eng_t *e, int on) {
    if (e->q.paused == on)
        return;
    e->q.paused = on;
    if (on) {
        met_add(M_CDC_PAUSES, 1);
        e->q.trim_due = 1;
        log_info("postgres changes: delivery is behind, replication stream paused",
                 "\"queued_bytes\":%zu,\"limit\":%zu", e->q.queued_bytes, e->cfg.queue_max);
    } else {
        log_info("postgres changes: replication stream resumed", "\"queued_bytes\":%zu", e->q.queued_bytes);
    }
    if (e->stream)
        cdc_stream_pause(e->stream, on);
}

/* The transaction being received is large: queue what is decoded so far
 * and go on receiving the rest into a new part. Safe because pgoutput
 * (without streaming) sends only committed transactions; if the stream
 * drops before COMMIT, the transaction comes again from its BEGIN and its
 * first part_done changes are skipped (cdc_txq_change). */
static void queue_part(cdc_eng_t *e) {
    cdc_txq_t *q = &e->q;
    cdc_tx_t *t = q->cur;
    cdc_tx_t *next = xcalloc(1, sizeof(*next));
    next->commit_lsn = t->commit_lsn;
    next->commit_time = t->commit_time;
    next->mark = t->mark;
    t->partial = 1;
    set_hold(e, t);
    *q->tail = t;
    q->tail = &t->next;
    q->part_lsn = t->commit_lsn;
    q->part_done = q->cur_seen;
    q->cur = next;
    cdc_txq_pump(e);
}

/* Some address's bindings cost more than their budget on this change:
 * its remaining bindings miss it (cdc/subs). Counted, and logged at most
 * once a second so the log cannot be flooded by it either. */
static void budget_exhausted(cdc_eng_t *e, const cdc_change_t *cc, size_t n) {
    met_add(M_CDC_BUDGET, (int64_t)n);
    if (cdc_eng_now(e) < e->q.budget_log_ms)
        return;
    e->q.budget_log_ms = cdc_eng_now(e) + 1000;
    log_warn("postgres changes: a client address's filters used up their work budget on a change; their remaining "
             "bindings do not match it",
             "\"table\":\"%.*s.%.*s\",\"addresses\":%zu,\"budget\":%zu", (int)strcspn(cc->schema, "\"\\\n"), cc->schema,
             (int)strcspn(cc->table, "\"\\\n"), cc->table, n, e->cfg.match_budget);
}

static cdc_qchange_t *new_change(cdc_tx_t *t) {
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 8;
        t->ch = xrealloc(t->ch, t->cap * sizeof(*t->ch));
    }
    cdc_qchange_t *ch = &t->ch[t->n++];
    memset(ch, 0, sizeof(*ch));
    return ch;
}

void cdc_txq_fill(cdc_eng_t *e, cdc_tx_t *t, const pgo_decoder_t *dec, const pgo_msg_t *m, const cdc_change_t *cc,
                  const cdc_table_t *tb, const cdc_match_t *ms, size_t nm, cdc_pos_t pos, int64_t commit_time) {
    cdc_qchange_t *ch = new_change(t);
    ch->relid = m->rel->relid;
    ch->recv_ms = cdc_eng_now(e);
    ch->pos = pos;
    ch->nm = (uint32_t)nm;
    ch->m = xmalloc(nm * sizeof(*ch->m));
    memcpy(ch->m, ms, nm * sizeof(*ch->m));
    ch->mdata = xcalloc(nm, sizeof(*ch->mdata));
    ch->ok = xcalloc(nm, 1);
    ch->data = cdc_payload_data(dec, m, commit_time, pos.lsn);
    for (size_t i = 0; i < nm; i++) {
        ((cdc_client_t *)ch->m[i].owner)->refs++;
        size_t ns;
        const char *const *sel = cdc_subs_select(e->reg.subs, ch->m[i].id, &ns);
        if (sel)
            ch->mdata[i] = data_selected(dec, m, tb, commit_time, pos.lsn, sel, ns);
    }
    if (!tb || tb->rls)
        ch->row = cdc_txq_row_image(cc, m->rel, tb);
    if (tb && tb->rls && tb->ncols == cc->ncols) {
        ch->cat_fp = cdc_cat_fingerprint(e->cat);
        cdc_txq_policy_inputs(e->cat, ch, tb, cc);
    }
    ch->cost = change_cost(ch);
    e->q.queued_bytes += ch->cost;
    t->bytes += ch->cost;
}

void cdc_txq_append(cdc_eng_t *e, cdc_tx_t *t) {
    t->next = NULL;
    *e->q.tail = t;
    e->q.tail = &t->next;
}

/* After something was kept in the transaction being received. Over the
 * bound, what this transaction holds is queued first: a pause must only
 * ever wait for queued work, which drains, never for the transaction being
 * received, which cannot grow while paused. */
static void check_bounds(cdc_eng_t *e) {
    cdc_txq_t *q = &e->q;
    if (q->cur->n >= PART_CHANGES || q->cur->bytes >= PART_BYTES || q->queued_bytes > e->cfg.queue_max)
        queue_part(e);
    if (q->queued_bytes > e->cfg.queue_max)
        pause_stream(e, 1);
}

/* A row of realtime.messages: queued in its transaction like a change, so
 * it goes out in commit order, after a REST write's answer, is skipped if
 * resent after a reconnect, and its LSN is confirmed only once it is out. */
static void keep_broadcast(cdc_eng_t *e, const pgo_msg_t *m) {
    const char *why = NULL;
    cdc_msg_t *b = cdc_msg_from_insert(m, e->cfg.messages_max_bytes, &why);
    if (!b) {
        if (why && cdc_eng_now(e) >= e->q.msg_log_ms) {
            e->q.msg_log_ms = cdc_eng_now(e) + 1000; /* the table is writable by users: bounded logging */
            log_warn("broadcast from database: row not delivered", "\"why\":\"%s\"", why);
        }
        return;
    }
    cdc_qchange_t *ch = new_change(e->q.cur);
    ch->relid = m->rel->relid;
    ch->recv_ms = cdc_eng_now(e);
    ch->bcast = b;
    ch->cost = cdc_msg_cost(b);
    e->q.queued_bytes += ch->cost;
    e->q.cur->bytes += ch->cost;
    check_bounds(e);
}

static void on_change(cdc_eng_t *e, const pgo_msg_t *m, cdc_pos_t pos) {
    cdc_txq_t *q = &e->q;
    if (!q->cur || q->cur_skip || !m->rel)
        return;
    if (cdc_msg_is_messages(m->rel)) {
        if (e->cfg.messages_publication && m->kind == PGO_INSERT)
            keep_broadcast(e, m);
        /* Postgres Changes on it too only if someone put it in their publication */
        if (!e->cat || !cdc_cat_by_oid(e->cat, m->rel->relid))
            return;
    }
    size_t n = m->rel->ncols;
    if (n > q->cells_cap) {
        q->cells_cap = n * 2;
        q->cells = xrealloc(q->cells, q->cells_cap * sizeof(*q->cells));
        q->unknown = xrealloc(q->unknown, q->cells_cap);
    }
    cdc_change_t cc;
    if (cdc_subs_change_from_msg(m, q->cells, q->unknown, &cc) < 0)
        return;
    const cdc_table_t *tb = e->cat ? cdc_cat_by_oid(e->cat, m->rel->relid) : NULL;
    if (e->cat && cdc_cat_watched(e->cat, m->rel->relid))
        e->claims_gen++; /* cached (SELECT is_admin())-like values may have changed */
    if (tb && !(tb->events & cc.event))
        return; /* the server does not publish this event for the table */
    size_t exhausted = 0;
    size_t nm =
        cdc_subs_match_budget(e->reg.subs, &cc, &q->mbuf, &q->mcap, ++q->change_gen, e->cfg.match_budget, &exhausted);
    if (exhausted)
        budget_exhausted(e, &cc, exhausted);
    if (!nm)
        return;
    cdc_txq_fill(e, q->cur, e->dec, m, &cc, tb, q->mbuf, nm, pos, q->cur->commit_time);
    check_bounds(e);
}

void cdc_txq_begin(cdc_eng_t *e, const pgo_msg_t *m) {
    cdc_txq_t *q = &e->q;
    if (q->cur)
        tx_free(e, q->cur);
    q->cur = xcalloc(1, sizeof(*q->cur));
    q->cur->commit_lsn = m->lsn;
    q->cur->commit_time = m->commit_time;
    q->cur_skip = m->lsn < q->accepted_lsn;
    q->cur_seen = 0;
    q->cur_ord = 0;
    /* parts of it were queued before the stream dropped: skip those */
    q->cur_skip_changes = q->part_lsn && m->lsn == q->part_lsn ? q->part_done : 0;
}

/* A change the history serves: any of a published table, not the rows of
 * realtime.messages (Broadcast from the database), unless someone put that
 * table in the Postgres Changes publication too. */
static int history_keeps(const cdc_eng_t *e, const pgo_msg_t *m) {
    return m->rel && (!cdc_msg_is_messages(m->rel) || (e->cat && cdc_cat_by_oid(e->cat, m->rel->relid)));
}

void cdc_txq_change(cdc_eng_t *e, const pgo_msg_t *m) {
    cdc_txq_t *q = &e->q;
    if (!q->cur)
        return;
    /* Every change gets its position and goes to the history first, sent
     * again or not (the history knows what it already has). */
    cdc_pos_t pos = {q->cur->commit_lsn, ++q->cur_ord};
    cdc_hist_add(&e->hist, m, pos, q->cur->commit_time, history_keeps(e, m), cdc_eng_pg_now_us());
    if (e->hist.bytes > e->hist.max_bytes && cdc_hist_evict(&e->hist, cdc_eng_pg_now_us()))
        cdc_eng_confirm(e, 0);
    if (!q->cur_skip && ++q->cur_seen <= q->cur_skip_changes)
        return;
    on_change(e, m, pos);
}

void cdc_txq_message(cdc_eng_t *e, const pgo_msg_t *m) {
    if (e->q.cur && m->transactional && m->prefix && !strcmp(m->prefix, CDC_WRITE_MARK_PREFIX) && m->content_len < 48) {
        char text[48], own[20];
        memcpy(text, m->content, m->content_len);
        text[m->content_len] = 0;
        snprintf(own, sizeof(own), "%016llx:", (unsigned long long)e->instance);
        if (!strncmp(text, own, 17)) /* another server's writes are not ours to wait for */
            e->q.cur->mark = strtoull(text + 17, NULL, 10);
    }
}

void cdc_txq_commit(cdc_eng_t *e, const pgo_msg_t *m) {
    cdc_txq_t *q = &e->q;
    if (q->cur && !q->cur_skip) {
        q->cur->end_lsn = m->end_lsn;
        set_hold(e, q->cur);
        if (m->end_lsn > q->accepted_lsn)
            q->accepted_lsn = m->end_lsn;
        q->part_lsn = 0;
        q->part_done = 0;
        if (!q->cur->n && !q->head && !cdc_authz_busy(&e->az) && !cdc_pub_busy(&e->pub)) {
            tx_free(e, q->cur); /* nothing to deliver and nothing ahead of it */
            cdc_eng_confirm(e, m->end_lsn);
        } else {
            *q->tail = q->cur;
            q->tail = &q->cur->next;
        }
    } else if (q->cur) {
        tx_free(e, q->cur);
    }
    q->cur = NULL;
    cdc_txq_pump(e);
}

void cdc_txq_lost(cdc_eng_t *e) {
    if (e->q.cur) {
        tx_free(e, e->q.cur); /* it comes again from its BEGIN */
        e->q.cur = NULL;
    }
}

size_t cdc_txq_length(const cdc_eng_t *e) {
    size_t n = 0;
    for (const cdc_tx_t *t = e->q.head; t; t = t->next)
        n++;
    return n;
}

void cdc_txq_free(cdc_eng_t *e) {
    cdc_txq_t *q = &e->q;
    if (q->cur)
        tx_free(e, q->cur);
    cdc_txq_free_batch(e, q->head);
    written_t *w;
    for (size_t i = 0; (w = htab_next(&q->written, &i));)
        free(w);
    htab_free(&q->written);
    free(q->cells);
    free(q->unknown);
    free(q->mbuf);
    cdc_txq_init(q);
}

/* ---- working the queue ------------------------------------------------------ */

/* The transactions at the head of the queue, up to the first one still
 * waiting for its REST answer (commit order is never broken). */
static cdc_tx_t *take_batch(cdc_eng_t *e) {
    cdc_txq_t *q = &e->q;
    cdc_tx_t *head = q->head, **p = &q->head;
    size_t changes = 0;
    while (*p && !held(e, *p) && (changes == 0 || changes + (*p)->n <= BATCH_MAX_CHANGES)) {
        changes += (*p)->n;
        p = &(*p)->next;
    }
    q->head = *p;
    *p = NULL;
    if (!q->head)
        q->tail = &q->head;
    return head;
}

static void requeue_front(cdc_eng_t *e, cdc_tx_t *batch) {
    cdc_txq_t *q = &e->q;
    cdc_tx_t *last = batch;
    while (last->next)
        last = last->next;
    last->next = q->head;
    if (!q->head)
        q->tail = &last->next;
    q->head = batch;
}

static void on_hold_timer(uv_timer_t *t) { cdc_txq_pump(t->data); }

/* Wakes the loop when the head's hold ends, not at the next tick. */
static void arm_hold_timer(cdc_eng_t *e) {
    if (e->stopping)
        return; /* the timer is closing */
    e->hold_timer.data = e;
    int rc = uv_timer_start(&e->hold_timer, on_hold_timer, e->q.head->hold_until - cdc_eng_now(e), 0);
    if (rc)
        log_warn("postgres changes: hold timer not started; the held write waits for the next tick", "\"error\":\"%s\"",
                 uv_strerror(rc));
}

static void pump_batches(cdc_eng_t *e) {
    cdc_txq_t *q = &e->q;
    while (!cdc_authz_busy(&e->az) && !cdc_pub_busy(&e->pub) && q->head && !held(e, q->head) &&
           cdc_eng_now(e) >= q->retry_at) {
        if (!e->cat) {
            cdc_eng_request_catalog(e);
            return;
        }
        cdc_tx_t *batch = take_batch(e);
        e->az.done = on_authorized;
        int r = cdc_authz_begin(e, batch);
        if (r == 0) {
            cdc_pub_batch(e, batch);
            continue;
        }
        if (r == 1)
            return; /* on_authorized goes on */
        requeue_front(e, batch);
        if (r == -2) {
            q->retry_at = cdc_eng_now(e) + CDC_ENG_RETRY_MS;
            return;
        }
        /* A table the catalog does not know yet (added to the publication
         * since it was read): read it again first. */
        if (cdc_eng_now(e) - e->cat_loaded_ms < CATALOG_MIN_GAP_MS) {
            q->retry_at = e->cat_loaded_ms + CATALOG_MIN_GAP_MS;
            return;
        }
        cdc_eng_request_catalog(e);
        return;
    }
}

static void on_resume_timer(uv_timer_t *t) { cdc_txq_pump(t->data); }

/* Replay chunks to build for resuming channels (cdc/resume): a bounded
 * step now, and the loop comes back soon if more remains. */
static void pump_resumes(cdc_eng_t *e) {
    if (!e->rs.n || !cdc_resume_pump(e) || e->stopping)
        return;
    int rc = uv_timer_start(&e->resume_timer, on_resume_timer, 1, 0);
    if (rc)
        log_warn("postgres changes: resume timer not started; replays wait for the next tick", "\"error\":\"%s\"",
                 uv_strerror(rc));
}

void cdc_txq_pump(cdc_eng_t *e) {
    pump_resumes(e);
    cdc_pub_some(e);
    if (cdc_pub_busy(&e->pub))
        return; /* the rest waits for the clients to take what is out */
    if (e->q.paused && e->q.queued_bytes <= e->cfg.queue_max / 2)
        pause_stream(e, 0);
    pump_batches(e);
    if (!cdc_authz_busy(&e->az) && e->q.head && held(e, e->q.head))
        arm_hold_timer(e);
}

/* cdc/authz is done with batch. Nothing unauthorized goes out: unless the
 * verdict is final, the batch goes back to the head of the queue. */
static void on_authorized(cdc_eng_t *e, cdc_tx_t *batch, cdc_authz_verdict_t v) {
    switch (v) {
    case CDC_AUTHZ_DONE: cdc_pub_batch(e, batch); break;
    case CDC_AUTHZ_BLAMED: /* judged again without the blamed claims */
    case CDC_AUTHZ_RETRY_NOW: /* that SQL now runs unprepared on that connection */ requeue_front(e, batch); break;
    case CDC_AUTHZ_BUSY:
        requeue_front(e, batch);
        e->q.retry_at = cdc_eng_now(e) + CDC_ENG_RETRY_MS;
        return;
    case CDC_AUTHZ_UNREACHABLE:
        requeue_front(e, batch);
        e->q.retry_at = cdc_eng_now(e) + CDC_ENG_RETRY_MS;
        /* Also let go of the replication connection: if PostgreSQL is
         * shutting down, its WAL sender waits for us to confirm what we
         * cannot authorize, and we would hold its shutdown forever. What
         * was not confirmed comes again on the new stream (and what is
         * still queued here is skipped there). */
        cdc_eng_restart_stream(e, "authorization queries cannot reach the database");
        return;
    }
    cdc_txq_pump(e);
}
