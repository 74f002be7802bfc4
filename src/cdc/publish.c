/*
 * cdc/publish: see publish.h.
 */
#include "cdc/publish.h"

#include <stdlib.h>
#include <time.h>

#include "cdc/engine_int.h"
#include "cdc/payload.h"
#include "hub/hub.h"
#include "metrics/metrics.h"
#include "util/mem.h"

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

/* One hub message per (topic, data). Its wire ids are those of the
 * authorized bindings (identical bindings share one, as in
 * supabase/realtime, so the list stays short however many subscribers
 * share a topic); its routes are the authorized channels: a channel on the
 * topic that is not among them never sees the frame. */
static void publish_change(cdc_eng_t *e, const cdc_tx_t *tx, cdc_qchange_t *ch) {
    out_t *o = xmalloc((ch->nm ? ch->nm : 1) * sizeof(*o));
    size_t n = 0;
    for (uint32_t i = 0; i < ch->nm; i++) {
        if (!ch->ok[i])
            continue;
        cdc_client_t *c = ch->m[i].owner;
        if (!tx->replay_for && cdc_cli_skips_live(c, ch->pos))
            continue; /* each change exactly once, in order */
        hub_topic_t *t = cdc_cli_topic(c);
        if (!t)
            continue;
        c->pub_ms = cdc_eng_now(e);
        o[n++] = (out_t){t, ch->mdata[i] ? ch->mdata[i] : ch->data, cdc_cli_wire_id(&e->reg, ch->m[i].id), c->id};
    }
    qsort(o, n, sizeof(*o), out_cmp);
    char ref[CDC_POS_TEXT_MAX];
    cdc_pos_text(ch->pos, ref);
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
        hub_publish(hub_msg_postgres_changes(o[i].t, routes, r, ref, ev->data, ev->len));
        buf_unref(ev);
        met_add(M_CDC_EVENTS, 1);
        i = j;
    }
    free(routes);
    free(ids);
    free(o);
}

/* 1 while the clients' queues hold as much Postgres Changes as allowed.
 * Then a worker wakes us once they took half of it: each client gets a
 * burst at the pace clients read, and memory stays bounded. */
static int backlog_full(cdc_eng_t *e) {
    if (hub_paced_backlog() <= e->cfg.backlog_max)
        return 0;
    if (!e->pub.waiting) {
        e->pub.waiting = 1;
        hub_paced_notify(e->cfg.backlog_max / 2, cdc_eng_backlog_low);
    }
    /* it may have drained between the two looks */
    return hub_paced_backlog() > e->cfg.backlog_max / 2;
}

/* Milliseconds from a commit (PostgreSQL's epoch, 2000-01-01, in µs) to
 * now, by this machine's clock; 0 if the database's clock is ahead. */
static uint64_t lag_ms(int64_t commit_time) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = ((int64_t)ts.tv_sec - 946684800) * 1000000 + ts.tv_nsec / 1000;
    return now > commit_time ? (uint64_t)(now - commit_time) / 1000 : 0;
}

void cdc_pub_some(cdc_eng_t *e) {
    cdc_pub_t *p = &e->pub;
    while (p->batch) {
        cdc_tx_t *t = p->tx;
        if (p->i < t->n) {
            if (backlog_full(e))
                return;
            cdc_qchange_t *ch = &t->ch[p->i++];
            if (ch->bcast)
                cdc_msg_publish(ch->bcast); /* a broadcast from the database */
            else
                publish_change(e, t, ch);
            cdc_txq_change_clear(e, ch); /* its memory goes now, not with the batch */
            continue;
        }
        if (t->end_lsn)
            p->end = t->end_lsn;
        if (t->replay_for)
            cdc_resume_chunk_done(e, t->replay_for);
        else if (!t->partial) {
            met_add(M_CDC_TXS, 1);
            met_set(M_CDC_LAG_MS, lag_ms(t->commit_time));
        }
        p->tx = t->next;
        p->i = 0;
        if (!p->tx) {
            if (p->end)
                cdc_eng_confirm(e, p->end);
            cdc_txq_free_batch(e, p->batch);
            p->batch = NULL;
            p->end = 0;
        }
    }
}

void cdc_pub_batch(cdc_eng_t *e, cdc_tx_t *batch) {
    e->pub.batch = batch;
    e->pub.tx = batch;
    e->pub.i = 0;
    e->pub.end = 0;
    cdc_pub_some(e);
}

void cdc_pub_free(cdc_eng_t *e) {
    cdc_txq_free_batch(e, e->pub.batch);
    e->pub.batch = e->pub.tx = NULL;
}
