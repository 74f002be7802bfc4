/*
 * cdc/subs: owns the postgres_changes subscriptions of one thread, their
 * compiled filters and select lists, and the indexes that find the
 * subscriptions a change can match: by table, by eq key, by id and by
 * owner. It never does I/O, never locks (one thread owns it) and never
 * builds payloads: it answers "who gets this". It does not own the work
 * budgets subscriptions point at (the caller's structs); it only charges
 * them. Every operation costs work in proportion to what it touches: an add
 * or a removal is a few hash operations, removing an owner is proportional
 * to that owner's subscriptions, a change to its candidates.
 */
#include "cdc/subs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/hash.h"
#include "util/mem.h"

/* ---- a small chained hash map from byte strings to pointers ------------- */

typedef struct hent {
    struct hent *next;
    uint64_t h;
    size_t klen;
    void *val;
    char key[]; /* klen bytes */
} hent_t;

typedef struct {
    hent_t **b;
    size_t nb, n;
} hmap_t;


static hent_t **hmap_slot(const hmap_t *m, const void *key, size_t klen, uint64_t h) {
    if (m->nb == 0)
        return NULL;
    hent_t **pp = &m->b[h & (m->nb - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->h == h && (*pp)->klen == klen && memcmp((*pp)->key, key, klen) == 0)
            return pp;
    return NULL;
}

static void *hmap_get(const hmap_t *m, const void *key, size_t klen) {
    hent_t **pp = hmap_slot(m, key, klen, hash_bytes(HASH_INIT, key, klen));
    return pp ? (*pp)->val : NULL;
}

static void hmap_grow(hmap_t *m) {
    size_t nb = m->nb ? m->nb * 2 : 16;
    hent_t **b = xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < m->nb; i++) {
        hent_t *e = m->b[i], *next;
        for (; e; e = next) {
            next = e->next;
            e->next = b[e->h & (nb - 1)];
            b[e->h & (nb - 1)] = e;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
}

/* Sets key to val (val non-NULL), replacing any previous value. */
static void hmap_put(hmap_t *m, const void *key, size_t klen, void *val) {
    uint64_t h = hash_bytes(HASH_INIT, key, klen);
    hent_t **pp = hmap_slot(m, key, klen, h);
    if (pp) {
        (*pp)->val = val;
        return;
    }
    if (m->n + 1 > m->nb)
        hmap_grow(m);
    hent_t *e = xmalloc(sizeof(*e) + klen);
    e->h = h;
    e->klen = klen;
    e->val = val;
    memcpy(e->key, key, klen);
    e->next = m->b[h & (m->nb - 1)];
    m->b[h & (m->nb - 1)] = e;
    m->n++;
}

static void hmap_del(hmap_t *m, const void *key, size_t klen) {
    hent_t **pp = hmap_slot(m, key, klen, hash_bytes(HASH_INIT, key, klen));
    if (!pp)
        return;
    hent_t *e = *pp;
    *pp = e->next;
    free(e);
    m->n--;
}

/* Frees the entries, not the values (the caller owns those). */
static void hmap_clear(hmap_t *m) {
    for (size_t i = 0; i < m->nb; i++) {
        hent_t *e = m->b[i], *next;
        for (; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(m->b);
    memset(m, 0, sizeof(*m));
}

/* ---- the registry ------------------------------------------------------- */

struct owner;
struct table;
struct run;

typedef struct sub {
    uint32_t id;
    void *owner;
    cdc_budget_t *budget; /* NULL: unlimited */
    unsigned events;
    char *schema, *table;
    cdc_filter_t *filter;
    size_t ncols;
    char **select;
    size_t nselect;
    int keyed;        /* filed under an eq key, not the table's plain list */
    size_t key_col;
    char *key;        /* "schema\0table\0" + value: its eq bucket's key */
    size_t key_len;
    struct table *tab;               /* the table entry it is filed under */
    struct run *run;                 /* the run of its bucket it is in */
    struct owner *own;               /* its owner's entry */
    struct sub *prev, *next;         /* in its run */
    struct sub *own_prev, *own_next; /* among its owner's subscriptions */
    struct sub *all_prev, *all_next; /* in the registry */
} sub_t;

/* The subscriptions of one owner, so removing them all touches only them
 * (a client leaving 100 channels of 5,000 bindings each must not walk the
 * registry 100 times). */
typedef struct owner {
    void *owner;
    sub_t *head;
    size_t n;
} owner_t;

/* Every subscription lives in exactly one bucket: the plain list of its
 * (schema, table) pair, or the eq bucket of (schema, table, value) under
 * its key column. A table remembers which columns carry eq buckets so a
 * change looks up each of them once.
 *
 * A bucket is a list of runs, each a list of subscriptions sharing one
 * budget, so a budget that ran out skips its whole run at once: an
 * exhausted client's 500,000 bindings cost one step per run, not per
 * binding. A new subscription joins the bucket's newest run when that run
 * has its budget (a join adds its bindings one after another), else starts
 * a run: no lookup structure, and at worst (budgets interleaved) one run
 * per subscription, which costs what a plain list would. */
typedef struct run {
    cdc_budget_t *budget;
    sub_t *subs;
    struct run *prev, *next; /* in its bucket */
} run_t;

typedef struct {
    size_t col;
    size_t nsubs;
} eqcol_t;

typedef struct table {
    run_t *plain;
    eqcol_t *eqcols;
    size_t neqcols;
} table_t;

struct cdc_subs {
    hmap_t tables; /* "schema\0table" -> table_t */
    hmap_t eq;     /* "schema\0table\0" + col (size_t) + value -> run_t list */
    hmap_t ids;    /* id (uint32_t) -> sub_t */
    hmap_t owners; /* owner pointer -> owner_t */
    sub_t *all;
    size_t count;
    uint32_t next_id;
};

cdc_subs_t *cdc_subs_new(void) {
    cdc_subs_t *s = xcalloc(1, sizeof(*s));
    s->next_id = 1;
    return s;
}

static void sub_free(sub_t *x) {
    cdc_filter_free(x->filter);
    for (size_t i = 0; i < x->nselect; i++)
        free(x->select[i]);
    free(x->select);
    free(x->schema);
    free(x->table);
    free(x->key);
    free(x);
}

/* Frees a bucket's runs, not their subscriptions. */
static void runs_free(run_t *r) {
    for (run_t *next; r; r = next) {
        next = r->next;
        free(r);
    }
}

void cdc_subs_free(cdc_subs_t *s) {
    if (!s)
        return;
    sub_t *x = s->all, *next;
    for (; x; x = next) {
        next = x->all_next;
        sub_free(x);
    }
    for (size_t i = 0; i < s->tables.nb; i++)
        for (hent_t *e = s->tables.b[i]; e; e = e->next) {
            table_t *t = e->val;
            runs_free(t->plain);
            free(t->eqcols);
            free(t);
        }
    for (size_t i = 0; i < s->eq.nb; i++)
        for (hent_t *e = s->eq.b[i]; e; e = e->next)
            runs_free(e->val);
    for (size_t i = 0; i < s->owners.nb; i++)
        for (hent_t *e = s->owners.b[i]; e; e = e->next)
            free(e->val);
    hmap_clear(&s->tables);
    hmap_clear(&s->eq);
    hmap_clear(&s->ids);
    hmap_clear(&s->owners);
    free(s);
}

unsigned cdc_subs_event_mask(const char *event) {
    if (!event)
        return CDC_EV_ALL;
    if (strcasecmp(event, "INSERT") == 0)
        return CDC_EV_INSERT;
    if (strcasecmp(event, "UPDATE") == 0)
        return CDC_EV_UPDATE;
    if (strcasecmp(event, "DELETE") == 0)
        return CDC_EV_DELETE;
    return CDC_EV_ALL;
}

/* Keys are built in the caller's buffer when they fit (the match path
 * builds several per change and should not allocate for them), else on the
 * heap: the caller frees the result when it is not buf. */
#define KEY_STACK 256

/* "schema\0table". */
static char *table_key(char *buf, const char *schema, size_t sl, const char *table, size_t tl, size_t *len) {
    size_t n = sl + 1 + tl;
    char *k = n <= KEY_STACK ? buf : xmalloc(n);
    memcpy(k, schema, sl);
    k[sl] = '\0';
    memcpy(k + sl + 1, table, tl);
    *len = n;
    return k;
}

/* The eq bucket key: "schema\0table\0" + column index + value. */
static char *eq_key(char *buf, const char *schema, const char *table, size_t col, const char *v, size_t vlen,
                    size_t *len) {
    size_t sl = strlen(schema), tl = strlen(table);
    size_t n = sl + 1 + tl + 1 + sizeof(col) + vlen;
    char *k = n <= KEY_STACK ? buf : xmalloc(n);
    memcpy(k, schema, sl + 1);
    memcpy(k + sl + 1, table, tl + 1);
    memcpy(k + sl + tl + 2, &col, sizeof(col));
    if (vlen)
        memcpy(k + sl + tl + 2 + sizeof(col), v, vlen);
    *len = n;
    return k;
}

static table_t *table_get(const cdc_subs_t *s, const char *schema, const char *table) {
    char buf[KEY_STACK];
    size_t klen;
    char *k = table_key(buf, schema, strlen(schema), table, strlen(table), &klen);
    table_t *t = hmap_get(&s->tables, k, klen);
    if (k != buf)
        free(k);
    return t;
}

static table_t *table_get_or_add(cdc_subs_t *s, const char *schema, const char *table) {
    table_t *t = table_get(s, schema, table);
    if (t)
        return t;
    char buf[KEY_STACK];
    size_t klen;
    char *k = table_key(buf, schema, strlen(schema), table, strlen(table), &klen);
    t = xcalloc(1, sizeof(*t));
    hmap_put(&s->tables, k, klen, t);
    if (k != buf)
        free(k);
    return t;
}

/* Drops a table entry nobody uses any more, so churn does not grow the map. */
static void table_maybe_drop(cdc_subs_t *s, const char *schema, const char *table, table_t *t) {
    if (t->plain || t->neqcols)
        return;
    char buf[KEY_STACK];
    size_t klen;
    char *k = table_key(buf, schema, strlen(schema), table, strlen(table), &klen);
    hmap_del(&s->tables, k, klen);
    if (k != buf)
        free(k);
    free(t->eqcols);
    free(t);
}

static void list_push(sub_t **head, sub_t *x) {
    x->prev = NULL;
    x->next = *head;
    if (*head)
        (*head)->prev = x;
    *head = x;
}

static void list_unlink(sub_t **head, sub_t *x) {
    if (x->prev)
        x->prev->next = x->next;
    else
        *head = x->next;
    if (x->next)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
}

/* Files x in the bucket whose run list is *head. A new run is the
 * bucket's: run_unlink frees it when its last subscription leaves,
 * cdc_subs_free otherwise. */
static void bucket_push(run_t **head, sub_t *x) {
    run_t *r = *head;
    if (!r || r->budget != x->budget) {
        r = xcalloc(1, sizeof(*r));
        r->budget = x->budget;
        r->next = *head;
        if (*head)
            (*head)->prev = r;
        *head = r;
    }
    x->run = r;
    list_push(&r->subs, x);
}

/* Takes x out of its run; returns its run if that is now empty (the caller
 * unlinks it from the bucket with run_unlink), else NULL. */
static run_t *run_pop(sub_t *x) {
    run_t *r = x->run;
    list_unlink(&r->subs, x);
    x->run = NULL;
    return r->subs ? NULL : r;
}

/* Unlinks an empty run from the bucket whose run list is *head; frees it. */
static void run_unlink(run_t **head, run_t *r) {
    if (r->prev)
        r->prev->next = r->next;
    else
        *head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    free(r);
}

static void index_insert(cdc_subs_t *s, sub_t *x) {
    table_t *t = table_get_or_add(s, x->schema, x->table);
    x->tab = t;
    if (!x->keyed) {
        bucket_push(&t->plain, x);
        return;
    }
    size_t i;
    for (i = 0; i < t->neqcols && t->eqcols[i].col != x->key_col; i++)
        ;
    if (i == t->neqcols) {
        t->eqcols = xrealloc(t->eqcols, (t->neqcols + 1) * sizeof(*t->eqcols));
        t->eqcols[t->neqcols++] = (eqcol_t){.col = x->key_col, .nsubs = 0};
    }
    t->eqcols[i].nsubs++;
    run_t *head = hmap_get(&s->eq, x->key, x->key_len);
    run_t *old = head;
    bucket_push(&head, x);
    if (head != old)
        hmap_put(&s->eq, x->key, x->key_len, head);
}

static void index_remove(cdc_subs_t *s, sub_t *x) {
    table_t *t = x->tab;
    run_t *empty = run_pop(x);
    if (!x->keyed) {
        if (empty)
            run_unlink(&t->plain, empty);
    } else {
        if (empty) {
            run_t *head = hmap_get(&s->eq, x->key, x->key_len);
            run_unlink(&head, empty);
            if (head)
                hmap_put(&s->eq, x->key, x->key_len, head);
            else
                hmap_del(&s->eq, x->key, x->key_len);
        }
        for (size_t i = 0; i < t->neqcols; i++) {
            if (t->eqcols[i].col != x->key_col)
                continue;
            if (--t->eqcols[i].nsubs == 0)
                t->eqcols[i] = t->eqcols[--t->neqcols];
            break;
        }
    }
    table_maybe_drop(s, x->schema, x->table, t);
}

/* Links x to its owner's entry, made with the owner's first subscription
 * (owner_remove frees it with the last one, cdc_subs_free otherwise). */
static void owner_insert(cdc_subs_t *s, sub_t *x) {
    owner_t *o = hmap_get(&s->owners, &x->owner, sizeof(x->owner));
    if (!o) {
        o = xcalloc(1, sizeof(*o));
        o->owner = x->owner;
        hmap_put(&s->owners, &o->owner, sizeof(o->owner), o);
    }
    x->own = o;
    x->own_prev = NULL;
    x->own_next = o->head;
    if (o->head)
        o->head->own_prev = x;
    o->head = x;
    o->n++;
}

/* Unlinks x from its owner; drops the owner's entry with its last one. */
static void owner_remove(cdc_subs_t *s, sub_t *x) {
    owner_t *o = x->own;
    if (x->own_prev)
        x->own_prev->own_next = x->own_next;
    else
        o->head = x->own_next;
    if (x->own_next)
        x->own_next->own_prev = x->own_prev;
    if (--o->n == 0) {
        hmap_del(&s->owners, &o->owner, sizeof(o->owner));
        free(o);
    }
}

uint32_t cdc_subs_add_budget(cdc_subs_t *s, void *owner, unsigned events, const char *schema, const char *table,
                             cdc_filter_t *filter, size_t ncols, const char *const *select, size_t nselect,
                             char *err, size_t errlen, cdc_budget_t *budget) {
    const char *why = NULL;
    if (!schema || !*schema || !table || !*table)
        why = "schema and table must not be empty";
    else if ((filter || (select && nselect)) && (strcmp(schema, "*") == 0 || strcmp(table, "*") == 0))
        why = filter ? "Filters are not supported for wildcard subscriptions. Provide an explicit schema and table name."
                     : "Column selection is not supported for wildcard subscriptions. Provide an explicit schema and table name.";
    if (why) {
        if (err && errlen)
            snprintf(err, errlen, "%s", why);
        cdc_filter_free(filter);
        return 0;
    }
    sub_t *x = xcalloc(1, sizeof(*x));
    x->id = s->next_id++;
    x->owner = owner;
    x->budget = budget;
    x->events = (events & CDC_EV_ALL) ? (events & CDC_EV_ALL) : CDC_EV_ALL;
    x->schema = xstrdup(schema);
    x->table = xstrdup(table);
    x->filter = filter;
    x->ncols = ncols;
    if (select && nselect) {
        x->select = xcalloc(nselect, sizeof(*x->select));
        for (size_t i = 0; i < nselect; i++)
            x->select[i] = xstrdup(select[i]);
        x->nselect = nselect;
    }
    const char *v;
    size_t vlen, col;
    if (filter && cdc_filter_eq_key(filter, &col, &v, &vlen) && col < ncols) {
        char buf[KEY_STACK];
        x->keyed = 1;
        x->key_col = col;
        char *k = eq_key(buf, schema, table, col, v, vlen, &x->key_len);
        if (k == buf) { /* the subscription keeps its key: always on the heap */
            k = xmalloc(x->key_len);
            memcpy(k, buf, x->key_len);
        }
        x->key = k;
    }
    index_insert(s, x);
    hmap_put(&s->ids, &x->id, sizeof(x->id), x);
    owner_insert(s, x);
    x->all_next = s->all;
    if (s->all)
        s->all->all_prev = x;
    s->all = x;
    s->count++;
    return x->id;
}

uint32_t cdc_subs_add(cdc_subs_t *s, void *owner, unsigned events, const char *schema, const char *table,
                      cdc_filter_t *filter, size_t ncols, const char *const *select, size_t nselect,
                      char *err, size_t errlen) {
    return cdc_subs_add_budget(s, owner, events, schema, table, filter, ncols, select, nselect, err, errlen, NULL);
}

static void sub_remove(cdc_subs_t *s, sub_t *x) {
    index_remove(s, x);
    hmap_del(&s->ids, &x->id, sizeof(x->id));
    owner_remove(s, x);
    if (x->all_prev)
        x->all_prev->all_next = x->all_next;
    else
        s->all = x->all_next;
    if (x->all_next)
        x->all_next->all_prev = x->all_prev;
    s->count--;
    sub_free(x);
}

int cdc_subs_remove(cdc_subs_t *s, uint32_t id) {
    sub_t *x = hmap_get(&s->ids, &id, sizeof(id));
    if (!x)
        return -1;
    sub_remove(s, x);
    return 0;
}

size_t cdc_subs_remove_owner(cdc_subs_t *s, void *owner) {
    owner_t *o = hmap_get(&s->owners, &owner, sizeof(owner));
    if (!o)
        return 0;
    /* The last removal frees o: count first, never read it after. */
    size_t n = o->n;
    for (size_t k = 0; k < n; k++)
        sub_remove(s, o->head);
    return n;
}

size_t cdc_subs_count(const cdc_subs_t *s) { return s->count; }

const char *const *cdc_subs_select(const cdc_subs_t *s, uint32_t id, size_t *n) {
    sub_t *x = hmap_get(&s->ids, &id, sizeof(id));
    *n = x ? x->nselect : 0;
    return x && x->nselect ? (const char *const *)x->select : NULL;
}

/* ---- matching ----------------------------------------------------------- */

/* What one match call carries through the lists it scans. */
typedef struct {
    const cdc_change_t *c;
    cdc_match_t **out;
    size_t *cap;
    size_t n;
    int budgeted;       /* 0: cdc_subs_match, every budget ignored */
    uint64_t gen, per_change;
    size_t exhausted;   /* budgets that reached 0 on this change */
} mctx_t;

/* 1 if x must receive the change, 0 if not, -1 if *left ran out first. */
static int sub_passes(const sub_t *x, const cdc_change_t *c, uint64_t *left) {
    if (!(x->events & c->event))
        return 0;
    if (!x->filter)
        return 1;
    /* A filter compiled for another shape of the table must not read the
     * wrong column: no match until the caller re-adds it. */
    if (x->ncols != c->ncols)
        return 0;
    return cdc_filter_match_budget(x->filter, c->cells, c->unknown, left);
}

static void out_push(mctx_t *m, const sub_t *x) {
    if (m->n == *m->cap) {
        *m->cap = *m->cap ? *m->cap * 2 : 16;
        *m->out = xrealloc(*m->out, *m->cap * sizeof(**m->out));
    }
    (*m->out)[m->n++] = (cdc_match_t){.owner = x->owner, .id = x->id};
}

/* A budget's first candidate on this change: what the previous change used
 * counts against the rate bound, then the budget gets per_change units, or
 * what the rate bound still allows if that is less. */
static void refill(cdc_budget_t *b, mctx_t *m) {
    b->spent += b->given - b->left;
    uint64_t grant = m->per_change;
    if (b->cap) {
        uint64_t room = b->cap > b->spent ? b->cap - b->spent : 0;
        if (grant > room)
            grant = room;
    }
    b->gen = m->gen;
    b->given = b->left = grant;
    if (grant == 0)
        m->exhausted++;
}

/* The candidates of one bucket. A candidate of a budget first takes
 * CDC_SUBS_CANDIDATE_UNITS (looking at it is work too: without this,
 * 100,000 bindings without filters would be free), then its filter's work.
 * Once a budget is at 0 the rest of its run is skipped, and so are its
 * other runs; it reaches 0 once per change, which is when it is counted as
 * exhausted. */
static void scan_bucket(const run_t *r, mctx_t *m) {
    for (; r; r = r->next) {
        cdc_budget_t *b = m->budgeted ? r->budget : NULL;
        if (!b) {
            for (const sub_t *x = r->subs; x; x = x->next) {
                uint64_t unlimited = UINT64_MAX;
                if (sub_passes(x, m->c, &unlimited) == 1)
                    out_push(m, x);
            }
            continue;
        }
        if (b->gen != m->gen)
            refill(b, m);
        for (const sub_t *x = r->subs; x && b->left > 0; x = x->next) {
            if (b->left < CDC_SUBS_CANDIDATE_UNITS) {
                b->left = 0;
                m->exhausted++;
                break;
            }
            b->left -= CDC_SUBS_CANDIDATE_UNITS;
            int pass = sub_passes(x, m->c, &b->left);
            if (b->left == 0)
                m->exhausted++;
            if (pass == 1)
                out_push(m, x);
        }
    }
}

static int cmp_match(const void *a, const void *b) {
    uint32_t x = ((const cdc_match_t *)a)->id, y = ((const cdc_match_t *)b)->id;
    return x < y ? -1 : x > y;
}

static size_t match(const cdc_subs_t *s, mctx_t *m) {
    const cdc_change_t *c = m->c;
    const char *schemas[2] = {c->schema, "*"}, *tables[2] = {c->table, "*"};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            /* A change of a table literally named "*" must not be scanned twice. */
            if ((i && strcmp(c->schema, "*") == 0) || (j && strcmp(c->table, "*") == 0))
                continue;
            const table_t *t = table_get(s, schemas[i], tables[j]);
            if (!t)
                continue;
            scan_bucket(t->plain, m);
            for (size_t k = 0; k < t->neqcols; k++) {
                size_t col = t->eqcols[k].col;
                /* NULL and unknown cells never satisfy eq. */
                if (col >= c->ncols || !c->cells[col].data || (c->unknown && c->unknown[col]))
                    continue;
                char buf[KEY_STACK];
                size_t klen;
                char *key = eq_key(buf, schemas[i], tables[j], col, c->cells[col].data, c->cells[col].len, &klen);
                scan_bucket(hmap_get(&s->eq, key, klen), m);
                if (key != buf)
                    free(key);
            }
        }
    if (m->n > 1)
        qsort(*m->out, m->n, sizeof(**m->out), cmp_match);
    return m->n;
}

size_t cdc_subs_match(const cdc_subs_t *s, const cdc_change_t *c, cdc_match_t **out, size_t *cap) {
    mctx_t m = {.c = c, .out = out, .cap = cap};
    return match(s, &m);
}

size_t cdc_subs_match_budget(const cdc_subs_t *s, const cdc_change_t *c, cdc_match_t **out, size_t *cap,
                             uint64_t gen, uint64_t per_change, size_t *exhausted) {
    mctx_t m = {.c = c, .out = out, .cap = cap, .budgeted = 1, .gen = gen, .per_change = per_change};
    size_t n = match(s, &m);
    if (exhausted)
        *exhausted = m.exhausted;
    return n;
}

int cdc_subs_change_from_msg(const pgo_msg_t *m, cdc_cell_t *cells, uint8_t *unknown, cdc_change_t *c) {
    const pgo_tuple_t *row;
    int key_only = 0;
    memset(c, 0, sizeof(*c));
    if (!m->rel)
        return -1;
    switch (m->kind) {
    case PGO_INSERT:
        c->event = CDC_EV_INSERT;
        row = &m->new_tuple;
        break;
    case PGO_UPDATE:
        c->event = CDC_EV_UPDATE;
        row = &m->new_tuple;
        break;
    case PGO_DELETE:
        if (!m->old_kind)
            return -1;
        c->event = CDC_EV_DELETE;
        row = &m->old_tuple;
        key_only = m->old_kind == 'K';
        break;
    default:
        return -1;
    }
    size_t n = m->rel->ncols;
    for (size_t i = 0; i < n; i++) {
        const pgo_value_t *v = i < row->natts ? &row->values[i] : NULL;
        int unk = !v || v->kind == 'u' || (key_only && !m->rel->cols[i].is_key);
        unknown[i] = (uint8_t)unk;
        if (unk || v->kind == 'n')
            cells[i] = (cdc_cell_t){.data = NULL, .len = 0};
        else
            cells[i] = (cdc_cell_t){.data = v->data, .len = v->len};
    }
    c->schema = m->rel->schema;
    c->table = m->rel->name;
    c->ncols = n;
    c->cells = cells;
    c->unknown = unknown;
    return 0;
}
