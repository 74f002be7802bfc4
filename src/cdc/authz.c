/*
 * cdc/authz: see authz.h.
 *
 * A batch is judged in two steps. First in the server: a table without
 * RLS, a role that bypasses it or a lone USING (true) needs nothing (the
 * catalog's vis), and the policy plan (cdc/policy) decides what it can
 * from the row's values kept at decode time and the subscriber's sub and
 * cached CLAIM values. What is left goes into one pipelined transaction:
 * per group of subscribers with the same role and claims, set them, ask
 * for stale CLAIM values, then one statement per table with every row of
 * the batch that group must be judged on (the catalog's check_sql, which
 * returns the positions of the visible rows).
 */
#include "cdc/authz.h"

#include <stdlib.h>
#include <string.h>

#include "cdc/engine_int.h"
#include "metrics/metrics.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/mem.h"

/* ---- groups -------------------------------------------------------------- */

/* A batch may hold thousands of distinct claims: groups are found by
 * hash (keyed: claims are what clients choose). */
static uint64_t claims_hash(const cdc_client_t *c) {
    return hash_bytes(HASH_INIT ^ (uint64_t)c->role, c->claims, strlen(c->claims));
}

static bool group_eq(const void *item, const void *key) {
    const cdc_group_t *g = item;
    const cdc_client_t *c = key;
    return g->first->role == c->role && !strcmp(g->first->claims, c->claims);
}

static void groups_reset(cdc_authz_t *a) {
    for (size_t i = 0; i < a->ngroups; i++) {
        free(a->groups[i]->vals);
        a->groups[i]->vals = NULL;
    }
    a->ngroups = 0;
    htab_free(&a->gindex);
}

static cdc_group_t *group_at(const cdc_authz_t *a, uint32_t g) { return a->groups[g]; }

static uint32_t group_of(cdc_authz_t *a, cdc_client_t *c) {
    if (c->batch == a->batch_no)
        return c->group;
    uint64_t h = claims_hash(c);
    cdc_group_t *g = htab_find(&a->gindex, h, group_eq, c);
    if (!g) {
        if (a->ngroups == a->gcap) {
            a->gcap = a->gcap ? a->gcap * 2 : 16;
            a->groups = xrealloc(a->groups, a->gcap * sizeof(*a->groups));
            for (size_t i = a->ngroups; i < a->gcap; i++)
                a->groups[i] = xcalloc(1, sizeof(**a->groups));
        }
        g = a->groups[a->ngroups];
        g->first = c;
        g->hash = h;
        g->idx = (uint32_t)a->ngroups++;
        g->refresh = 0;
        g->vals = NULL;
        htab_insert(&a->gindex, h, g);
    }
    c->batch = a->batch_no;
    c->group = g->idx;
    return g->idx;
}

/* ---- deciding in the server ---- */

typedef struct {
    const cdc_qchange_t *ch;
    const cdc_client_t *c;
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
        return d->c->sub_uuid && col < d->tb->ncols && d->tb->cols[col].type && !strcmp(d->tb->cols[col].type, "uuid")
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

static int claims_valid(const cdc_eng_t *e, const cdc_client_t *c) {
    return c->cvals && c->cfp == cdc_cat_fingerprint(e->cat) && c->cgen == e->claims_gen;
}

/* 1 visible, 0 not, -1 ask the database (the plan cannot tell). */
static int decide(const cdc_eng_t *e, const cdc_qchange_t *ch, const cdc_table_t *tb, cdc_client_t *c,
                  int *wants_claims) {
    const cdc_policy_t *p = tb->plan[c->role];
    if (!p || !ch->cat_fp || ch->cat_fp != cdc_cat_fingerprint(e->cat))
        return -1;
    decide_ud_t ud = {ch, c, tb};
    cdc_pol_input_t in = {uid_eq, row_pred, claims_valid(e, c) ? c->cvals : NULL, &ud};
    int r = cdc_pol_decide(p, &in);
    if (r < 0 && !in.claim && cdc_cat_terms(e->cat)->nclaims)
        *wants_claims = 1;
    return r;
}

static int need_cmp(const void *x_, const void *y_) {
    const cdc_need_t *x = x_, *y = y_;
    if (x->g != y->g)
        return x->g < y->g ? -1 : 1;
    if (x->oid != y->oid)
        return x->oid < y->oid ? -1 : 1;
    return x->c < y->c ? -1 : x->c > y->c;
}

static void add_need(cdc_authz_t *a, cdc_need_t n) {
    if (a->nneeds == a->needs_cap) {
        a->needs_cap = a->needs_cap ? a->needs_cap * 2 : 64;
        a->needs = xrealloc(a->needs, a->needs_cap * sizeof(*a->needs));
    }
    a->needs[a->nneeds++] = n;
}

/* Decides what it can and collects what the database must judge (needs,
 * sorted and unique). Returns the number of statements the batch needs
 * (0: it is judged), or -1 if a table is missing from the catalog. */
static long plan_batch(cdc_eng_t *e, cdc_tx_t *batch) {
    cdc_authz_t *a = &e->az;
    a->batch_no++;
    a->nneeds = 0;
    groups_reset(a);
    size_t refresh = 0;
    for (cdc_tx_t *t = batch; t; t = t->next)
        for (size_t i = 0; i < t->n; i++) {
            cdc_qchange_t *ch = &t->ch[i];
            if (!ch->nm)
                continue; /* a broadcast from the database (cdc/messages): nobody to judge */
            const cdc_table_t *tb = cdc_cat_by_oid(e->cat, ch->relid);
            if (!tb && e->cat_loaded_ms <= ch->recv_ms)
                return -1; /* read the catalog again first */
            if (!tb) {
                /* Still unknown after a fresh read (a relation kind the
                 * catalog does not list): nobody is authorized for it. */
                memset(ch->ok, 0, ch->nm);
                continue;
            }
            for (uint32_t k = 0; k < ch->nm; k++) {
                cdc_client_t *c = ch->m[k].owner;
                if (!t->replay_for && cdc_cli_skips_live(c, ch->pos)) {
                    ch->ok[k] = 0; /* publishing would skip it: no check to ask for */
                    continue;
                }
                cdc_vis_t v = c->dead ? CDC_VIS_NEVER : tb->vis[c->role];
                ch->ok[k] = v == CDC_VIS_ALWAYS;
                if (v != CDC_VIS_CHECK || c->claims_bad)
                    continue;
                if (!ch->row)
                    continue; /* no row image (RLS turned on since): not delivered */
                int wants = 0;
                int r = decide(e, ch, tb, c, &wants);
                if (wants) {
                    cdc_group_t *g = group_at(a, group_of(a, c));
                    refresh += !g->refresh;
                    g->refresh = 1;
                }
                if (r >= 0) {
                    ch->ok[k] = (uint8_t)r;
                    continue;
                }
                add_need(a, (cdc_need_t){group_of(a, c), tb->oid, ch, 0});
            }
        }
    if (a->nneeds) {
        qsort(a->needs, a->nneeds, sizeof(*a->needs), need_cmp);
        size_t w = 0;
        for (size_t i = 0; i < a->nneeds; i++)
            if (!w || need_cmp(&a->needs[w - 1], &a->needs[i]))
                a->needs[w++] = a->needs[i];
        a->nneeds = w;
    }
    return (long)(a->nneeds + refresh);
}

/* ---- asking the database ---- */

/* The cacheable CLAIM terms as one row: SELECT t0, t1, ... (non-cacheable
 * ones are not asked; they stay unknown). NULL if there are none. */
static char *claim_values_sql(const cdc_catalog_t *cat) {
    const cdc_pol_terms_t *t = cdc_cat_terms(cat);
    buf_t *b = buf_new(64);
    buf_puts(&b, "SELECT ");
    int any = 0;
    for (size_t i = 0; i < t->nclaims; i++) {
        if (any)
            buf_puts(&b, ", ");
        if (cdc_cat_claim_cacheable(cat, i)) {
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

typedef struct {
    db_stmt_t *st;
    size_t cap;
} stmts_t;

static void add_st(cdc_authz_t *a, stmts_t *s, db_stmt_t st, cdc_st_info_t info) {
    if (a->nst == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->st = xrealloc(s->st, s->cap * sizeof(*s->st));
        a->st = xrealloc(a->st, s->cap * sizeof(*a->st));
    }
    s->st[a->nst] = st;
    a->st[a->nst++] = info;
}

static void on_auth(void *ud, PGresult *const *results, int n, const char *error);

/* Splits the pipeline at the group boundary nearest the middle (each
 * group's statements start with its claims, so each part stands alone). */
static void split_parts(cdc_eng_t *e) {
    cdc_authz_t *a = &e->az;
    size_t split = a->nst;
    if (a->nst >= 32)
        for (size_t k = a->nst / 2; k < a->nst; k++)
            if (a->st[k].kind == CDC_ST_CLAIMS_SET) {
                split = k;
                break;
            }
    a->part[0] = (cdc_authz_part_t){e, 0, split};
    a->part[1] = (cdc_authz_part_t){e, split, a->nst - split};
}

/* One pipeline: per group, set its claims and role, ask for its CLAIM term
 * values if they are stale, then one statement per table with every row
 * of the batch that group must be judged on. Returns the requests sent. */
static int start_checks(cdc_eng_t *e) {
    cdc_authz_t *a = &e->az;
    stmts_t s = {NULL, 0};
    a->nst = 0;
    a->gen = e->claims_gen;
    a->fp = cdc_cat_fingerprint(e->cat);
    char *cv = claim_values_sql(e->cat);
    const char **params = xmalloc((2 * a->ngroups + a->nneeds + 1) * sizeof(*params));
    buf_t **rows = xcalloc(a->nneeds + 1, sizeof(*rows));
    size_t np = 0, nrows = 0, i = 0;
    for (uint32_t g = 0; g < a->ngroups; g++) {
        const cdc_group_t *gr = group_at(a, g);
        int has_rows = i < a->nneeds && a->needs[i].g == g;
        int ask = gr->refresh && cv;
        if (!has_rows && !ask)
            continue;
        params[np] = gr->first->claims;
        params[np + 1] = cdc_cat_role_name(gr->first->role);
        add_st(a, &s,
               (db_stmt_t){"SELECT set_config('request.jwt.claims', $1, true), set_config('role', $2, true)", 2,
                           &params[np], 1},
               (cdc_st_info_t){CDC_ST_CLAIMS_SET, g, 0, 0});
        np += 2;
        if (ask)
            add_st(a, &s, (db_stmt_t){cv, 0, NULL, 1}, (cdc_st_info_t){CDC_ST_CLAIM_VALUES, g, 0, 0});
        while (i < a->nneeds && a->needs[i].g == g) {
            size_t j = i;
            buf_t *b = buf_new(256);
            buf_putc(&b, '[');
            for (; j < a->nneeds && a->needs[j].g == g && a->needs[j].oid == a->needs[i].oid; j++) {
                if (j > i)
                    buf_putc(&b, ',');
                buf_append(&b, a->needs[j].c->row->data, a->needs[j].c->row->len);
            }
            buf_putc(&b, ']');
            buf_putc(&b, 0);
            rows[nrows++] = b;
            const cdc_table_t *tb = cdc_cat_by_oid(e->cat, a->needs[i].oid);
            params[np] = (const char *)b->data;
            add_st(a, &s, (db_stmt_t){tb->check_sql[gr->first->role], 1, &params[np], 1},
                   (cdc_st_info_t){CDC_ST_ROWS, g, i, j});
            np++;
            i = j;
        }
    }
    met_add(M_CDC_CHECKS, (int64_t)a->nneeds);
    split_parts(e);
    a->pending = 0;
    a->failed = a->blamed = 0;
    free(a->error);
    a->error = NULL;
    int sent = 0;
    for (int part = 0; part < 2; part++) {
        if (!a->part[part].n)
            continue;
        if (db_run(e->db, NULL, NULL, s.st + a->part[part].from, (int)a->part[part].n, on_auth, &a->part[part])) {
            a->pending++;
            sent++;
        } else {
            a->failed = 1;
        }
    }
    for (size_t k = 0; k < nrows; k++)
        buf_unref(rows[k]);
    free(rows);
    free(params);
    free(s.st);
    free(cv);
    return sent;
}

/* results[k] answers st[from + k]. */
static void apply_checks(cdc_eng_t *e, size_t from, PGresult *const *results, int n) {
    cdc_authz_t *a = &e->az;
    size_t nclaims = cdc_cat_terms(e->cat)->nclaims;
    for (size_t k = 0; from + k < a->nst && (int)k < n; k++) {
        const cdc_st_info_t *si = &a->st[from + k];
        const PGresult *r = results[k];
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            continue;
        if (si->kind == CDC_ST_CLAIM_VALUES && PQntuples(r) == 1 && (size_t)PQnfields(r) == nclaims) {
            int8_t *v = xmalloc(nclaims ? nclaims : 1);
            for (size_t c = 0; c < nclaims; c++)
                v[c] = !cdc_cat_claim_cacheable(e->cat, c) ? -1
                       : PQgetisnull(r, 0, (int)c)         ? 0 /* NULL is not true */
                                                           : PQgetvalue(r, 0, (int)c)[0] == 't';
            cdc_group_t *g = group_at(a, si->g);
            free(g->vals);
            g->vals = v;
        } else if (si->kind == CDC_ST_ROWS) {
            for (int row = 0; row < PQntuples(r); row++) {
                long o = strtol(PQgetvalue(r, row, 0), NULL, 10);
                if (o >= 1 && (size_t)o <= si->to - si->from)
                    a->needs[si->from + (size_t)o - 1].visible = 1;
            }
        }
    }
}

static int find_need(const cdc_authz_t *a, uint32_t g, uint32_t oid, cdc_qchange_t *c) {
    cdc_need_t key = {g, oid, c, 0};
    size_t lo = 0, hi = a->nneeds;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (need_cmp(&a->needs[mid], &key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < a->nneeds && !need_cmp(&a->needs[lo], &key) ? a->needs[lo].visible : 0;
}

/* The database's answers become ok[] flags, and the CLAIM values that came
 * back are cached on the clients for the next batches. */
static void finish_batch(cdc_eng_t *e, cdc_tx_t *batch) {
    cdc_authz_t *a = &e->az;
    size_t nclaims = cdc_cat_terms(e->cat)->nclaims;
    for (cdc_tx_t *t = batch; t; t = t->next)
        for (size_t i = 0; i < t->n; i++) {
            cdc_qchange_t *ch = &t->ch[i];
            const cdc_table_t *tb = cdc_cat_by_oid(e->cat, ch->relid);
            for (uint32_t k = 0; k < ch->nm; k++) {
                cdc_client_t *c = ch->m[k].owner;
                if (c->dead || c->batch != a->batch_no)
                    continue;
                int8_t *v = c->group < a->ngroups ? group_at(a, c->group)->vals : NULL;
                if (v && !claims_valid(e, c)) {
                    free(c->cvals);
                    c->cvals = xmalloc(nclaims ? nclaims : 1);
                    memcpy(c->cvals, v, nclaims);
                    c->cgen = a->gen;
                    c->cfp = a->fp;
                }
                if (ch->ok[k] || !tb || tb->vis[c->role] != CDC_VIS_CHECK)
                    continue;
                if (!t->replay_for && cdc_cli_skips_live(c, ch->pos))
                    continue; /* left out in plan_batch */
                ch->ok[k] = (uint8_t)find_need(a, c->group, tb->oid, ch);
            }
        }
}

/* A statement failed for group g's claims (a sub that is not a uuid, a
 * policy that raises for them): everyone with those claims is shown
 * nothing from RLS tables until their token changes, and the batch is
 * judged again without them. */
static void blame_group(cdc_eng_t *e, cdc_tx_t *batch, uint32_t g, const char *why) {
    const cdc_client_t *first = group_at(&e->az, g)->first;
    log_warn("postgres changes: a subscriber's claims make the row-level security check fail; it receives nothing "
             "from tables with RLS until its token changes",
             "\"role\":\"%s\",\"error\":\"%.*s\"", cdc_cat_role_name(first->role), (int)strcspn(why, "\"\\\n"), why);
    for (cdc_tx_t *t = batch; t; t = t->next)
        for (size_t i = 0; i < t->n; i++)
            for (uint32_t k = 0; k < t->ch[i].nm; k++) {
                cdc_client_t *c = t->ch[i].m[k].owner;
                if (c->batch == e->az.batch_no && c->group == g)
                    c->claims_bad = 1;
            }
}

/* A refused prepare leaves that SQL unprepared on that connection, so the
 * same batch can run again at once; anything else is the database gone. */
static cdc_authz_verdict_t pool_error_kind(void) {
    return db_error_kind() == DB_ERR_PREPARE ? CDC_AUTHZ_RETRY_NOW : CDC_AUTHZ_UNREACHABLE;
}

static void on_auth(void *ud, PGresult *const *results, int n, const char *error) {
    const cdc_authz_part_t *part = ud;
    cdc_eng_t *e = part->e;
    cdc_authz_t *a = &e->az;
    cdc_tx_t *batch = a->batch;
    if (!batch)
        return;
    /* Each part is read as it comes (its results live only during this
     * call); the batch moves on once every part has answered. */
    if (error) {
        if (!a->error) {
            a->error = xstrdup(error);
            a->error_kind = pool_error_kind();
        }
    } else {
        int bad = 0;
        for (int i = 0; i < n && part->from + (size_t)i < a->nst; i++)
            if (PQresultStatus(results[i]) == PGRES_FATAL_ERROR) {
                blame_group(e, batch, a->st[part->from + (size_t)i].g, PQresultErrorMessage(results[i]));
                bad = 1;
                break;
            }
        if (bad)
            a->blamed = 1;
        else
            apply_checks(e, part->from, results, n);
    }
    if (--a->pending > 0)
        return;
    a->batch = NULL;
    cdc_authz_verdict_t v = CDC_AUTHZ_DONE;
    if (a->error || a->failed) {
        const char *why = a->error ? a->error : "the check queue is full";
        log_warn("postgres changes: authorization unavailable", "\"error\":\"%.*s\"", (int)strcspn(why, "\"\\\n"), why);
        v = a->error ? a->error_kind : CDC_AUTHZ_BUSY;
    } else if (a->blamed) {
        v = CDC_AUTHZ_BLAMED;
    } else {
        finish_batch(e, batch);
    }
    a->done(e, batch, v);
}

int cdc_authz_begin(cdc_eng_t *e, cdc_tx_t *batch) {
    cdc_authz_t *a = &e->az;
    long needs = plan_batch(e, batch);
    if (needs < 0)
        return -1;
    if (needs == 0) {
        finish_batch(e, batch);
        return 0;
    }
    a->batch = batch; /* before sending: on_auth looks for it */
    if (!start_checks(e)) {
        a->batch = NULL;
        return -2;
    }
    return 1;
}

void cdc_authz_free(cdc_authz_t *a) {
    groups_reset(a);
    for (size_t i = 0; i < a->gcap; i++)
        free(a->groups[i]);
    free(a->groups);
    free(a->needs);
    free(a->st);
    free(a->error);
    memset(a, 0, sizeof(*a));
}
