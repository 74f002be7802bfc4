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

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/hash.h"
#include "util/htab.h"
#include "util/mem.h"

/* ---- the registry ------------------------------------------------------- */

/* Four util/htab tables index the registry; each item carries its own key,
 * so the tables own nothing but their slots: tables by (schema, table),
 * and per table one per eq column, by value; subscriptions by id, owners by
 * pointer (hash_u64: ids and owners are the server's, not a client's). The
 * names and values a client picks go through the keyed hash_bytes. */

struct owner;
struct table;
struct run;
struct eqbucket;

typedef struct sub {
    uint32_t id;
    void *owner;
    cdc_budget_t *budget; /* NULL: unlimited */
    unsigned events;
    cdc_filter_t *filter;
    size_t ncols;
    char **select;
    size_t nselect;
    int keyed; /* filed under an eq key, not the table's plain list */
    size_t key_col;
    struct eqbucket *eqb;            /* keyed: the eq bucket it is filed under */
    struct table *tab;               /* the table entry it is filed under (owns the names) */
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
 * (schema, table) pair, or the eq bucket of a value under one of its
 * table's eq columns. A table remembers which columns carry eq buckets so
 * a change looks up each of them once, in that column's own table of
 * values: the schema and table are hashed once per change, not once per
 * column.
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

/* The subscriptions whose eq condition wants one value of one column.
 * Made with its first subscription, freed with its last. */
typedef struct eqbucket {
    run_t *runs;
    uint64_t hash; /* of the value: its key in the column's table */
    size_t vlen;
    char v[]; /* the value, vlen bytes */
} eqbucket_t;

typedef struct {
    size_t col;
    size_t nsubs;
    htab_t vals; /* eqbucket_t by value */
} eqcol_t;

typedef struct table {
    uint64_t hash; /* of (schema, table): its key in the registry's table */
    run_t *plain;
    eqcol_t *eqcols;
    size_t neqcols;
    size_t sl, tl;
    char names[]; /* schema, NUL, table, NUL */
} table_t;

struct cdc_subs {
    htab_t tables; /* table_t by (schema, table) */
    htab_t ids;    /* sub_t by id */
    htab_t owners; /* owner_t by owner pointer */
    /* Table entries whose schema, or whose table, is the wildcard "*": a
     * change looks for the wildcard entries only when there are some. */
    size_t wild_schema, wild_table;
    sub_t *all;
    size_t count;
    uint32_t next_id;
};

/* A (schema, table) pair to look up, with both lengths. */
typedef struct {
    const char *schema, *table;
    size_t sl, tl;
} names_t;

/* A byte string to look up. */
typedef struct {
    const char *p;
    size_t n;
} bytes_t;

static bool table_eq(const void *item, const void *key) {
    const table_t *t = item;
    const names_t *k = key;
    return t->sl == k->sl && t->tl == k->tl && memcmp(t->names, k->schema, k->sl) == 0 &&
           memcmp(t->names + t->sl + 1, k->table, k->tl) == 0;
}

static bool eqbucket_eq(const void *item, const void *key) {
    const eqbucket_t *b = item;
    const bytes_t *k = key;
    return b->vlen == k->n && memcmp(b->v, k->p, k->n) == 0;
}

static bool sub_eq(const void *item, const void *key) { return ((const sub_t *)item)->id == *(const uint32_t *)key; }

static bool owner_eq(const void *item, const void *key) {
    return ((const owner_t *)item)->owner == *(void *const *)key;
}

static uint64_t owner_hash(const void *owner) { return hash_u64((uint64_t)(uintptr_t)owner); }

/* Schema and table are hashed as two fields, so a change hashes its schema
 * once for both the (schema, table) and the (schema, "*") look-ups. */
static uint64_t names_hash(uint64_t schema_hash, const char *table, size_t tl) {
    return hash_bytes(schema_hash, table, tl);
}

static int is_wild(const char *name, size_t len) { return len == 1 && name[0] == '*'; }

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
    table_t *t;
    for (size_t i = 0; (t = htab_next(&s->tables, &i));) {
        runs_free(t->plain);
        for (size_t k = 0; k < t->neqcols; k++) {
            eqbucket_t *b;
            for (size_t j = 0; (b = htab_next(&t->eqcols[k].vals, &j));) {
                runs_free(b->runs);
                free(b);
            }
            htab_free(&t->eqcols[k].vals);
        }
        free(t->eqcols);
        free(t);
    }
    owner_t *o;
    for (size_t i = 0; (o = htab_next(&s->owners, &i));)
        free(o);
    htab_free(&s->tables);
    htab_free(&s->ids);
    htab_free(&s->owners);
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

static table_t *table_find(const cdc_subs_t *s, uint64_t h, const names_t *k) {
    return htab_find(&s->tables, h, table_eq, k);
}

static table_t *table_get_or_add(cdc_subs_t *s, const char *schema, const char *table) {
    names_t k = {schema, table, strlen(schema), strlen(table)};
    uint64_t h = names_hash(hash_bytes(HASH_INIT, schema, k.sl), table, k.tl);
    table_t *t = table_find(s, h, &k);
    if (t)
        return t;
    t = xcalloc(1, sizeof(*t) + k.sl + k.tl + 2); /* the registry's until table_maybe_drop */
    t->hash = h;
    t->sl = k.sl;
    t->tl = k.tl;
    memcpy(t->names, schema, k.sl + 1);
    memcpy(t->names + k.sl + 1, table, k.tl + 1);
    htab_insert(&s->tables, h, t);
    s->wild_schema += is_wild(schema, k.sl);
    s->wild_table += is_wild(table, k.tl);
    return t;
}

/* Drops a table entry nobody uses any more, so churn does not grow the map. */
static void table_maybe_drop(cdc_subs_t *s, table_t *t) {
    if (t->plain || t->neqcols)
        return;
    htab_remove(&s->tables, t->hash, t);
    s->wild_schema -= is_wild(t->names, t->sl);
    s->wild_table -= is_wild(t->names + t->sl + 1, t->tl);
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

/* Files x under schema.table: in the plain list, or when keyed in the
 * eq bucket of value v[0..vlen) under its key column. */
static void index_insert(cdc_subs_t *s, sub_t *x, const char *schema, const char *table, const char *v, size_t vlen) {
    table_t *t = table_get_or_add(s, schema, table);
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
    eqcol_t *ec = &t->eqcols[i];
    ec->nsubs++;
    uint64_t h = hash_bytes(HASH_INIT, v, vlen);
    bytes_t k = {v, vlen};
    eqbucket_t *b = htab_find(&ec->vals, h, eqbucket_eq, &k);
    if (!b) {
        b = xmalloc(sizeof(*b) + vlen); /* the column's until its last subscription leaves */
        b->runs = NULL;
        b->hash = h;
        b->vlen = vlen;
        if (vlen)
            memcpy(b->v, v, vlen);
        htab_insert(&ec->vals, h, b);
    }
    x->eqb = b;
    bucket_push(&b->runs, x);
}

static void index_remove(cdc_subs_t *s, sub_t *x) {
    table_t *t = x->tab;
    run_t *empty = run_pop(x);
    if (!x->keyed) {
        if (empty)
            run_unlink(&t->plain, empty);
    } else {
        eqbucket_t *b = x->eqb;
        if (empty)
            run_unlink(&b->runs, empty);
        for (size_t i = 0; i < t->neqcols; i++) {
            eqcol_t *ec = &t->eqcols[i];
            if (ec->col != x->key_col)
                continue;
            if (!b->runs) {
                htab_remove(&ec->vals, b->hash, b);
                free(b);
            }
            x->eqb = NULL;
            if (--ec->nsubs == 0) { /* its last bucket went with its last subscription */
                htab_free(&ec->vals);
                t->eqcols[i] = t->eqcols[--t->neqcols];
            }
            break;
        }
    }
    table_maybe_drop(s, t);
}

/* Links x to its owner's entry, made with the owner's first subscription
 * (owner_remove frees it with the last one, cdc_subs_free otherwise). */
static void owner_insert(cdc_subs_t *s, sub_t *x) {
    uint64_t h = owner_hash(x->owner);
    owner_t *o = htab_find(&s->owners, h, owner_eq, &x->owner);
    if (!o) {
        o = xcalloc(1, sizeof(*o));
        o->owner = x->owner;
        htab_insert(&s->owners, h, o);
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
        htab_remove(&s->owners, owner_hash(o->owner), o);
        free(o);
    }
}

uint32_t cdc_subs_add_budget(cdc_subs_t *s, void *owner, unsigned events, const char *schema, const char *table,
                             cdc_filter_t *filter, size_t ncols, const char *const *select, size_t nselect, char *err,
                             size_t errlen, cdc_budget_t *budget) {
    const char *why = NULL;
    if (!schema || !*schema || !table || !*table)
        why = "schema and table must not be empty";
    else if ((filter || (select && nselect)) && (strcmp(schema, "*") == 0 || strcmp(table, "*") == 0))
        why = filter
                  ? "Filters are not supported for wildcard subscriptions. Provide an explicit schema and table name."
                  : "Column selection is not supported for wildcard subscriptions. Provide an explicit schema and "
                    "table name.";
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
    x->filter = filter;
    x->ncols = ncols;
    if (select && nselect) {
        x->select = xcalloc(nselect, sizeof(*x->select));
        for (size_t i = 0; i < nselect; i++)
            x->select[i] = xstrdup(select[i]);
        x->nselect = nselect;
    }
    const char *v = NULL;
    size_t vlen = 0, col;
    if (filter && cdc_filter_eq_key(filter, &col, &v, &vlen) && col < ncols) {
        x->keyed = 1;
        x->key_col = col;
    }
    index_insert(s, x, schema, table, v, vlen);
    htab_insert(&s->ids, hash_u64(x->id), x);
    owner_insert(s, x);
    x->all_next = s->all;
    if (s->all)
        s->all->all_prev = x;
    s->all = x;
    s->count++;
    return x->id;
}

uint32_t cdc_subs_add(cdc_subs_t *s, void *owner, unsigned events, const char *schema, const char *table,
                      cdc_filter_t *filter, size_t ncols, const char *const *select, size_t nselect, char *err,
                      size_t errlen) {
    return cdc_subs_add_budget(s, owner, events, schema, table, filter, ncols, select, nselect, err, errlen, NULL);
}

static void sub_remove(cdc_subs_t *s, sub_t *x) {
    index_remove(s, x);
    htab_remove(&s->ids, hash_u64(x->id), x);
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
    sub_t *x = htab_find(&s->ids, hash_u64(id), sub_eq, &id);
    if (!x)
        return -1;
    sub_remove(s, x);
    return 0;
}

size_t cdc_subs_remove_owner(cdc_subs_t *s, void *owner) {
    owner_t *o = htab_find(&s->owners, owner_hash(owner), owner_eq, &owner);
    if (!o)
        return 0;
    /* The last removal frees o: count first, never read it after. */
    size_t n = o->n;
    for (size_t k = 0; k < n; k++)
        /* Before the last removal o->head moves on (the head has no
         * own_prev); the analyzer cannot see that the last frees o. */
        sub_remove(s, o->head); // NOLINT(clang-analyzer-unix.Malloc)
    return n;
}

size_t cdc_subs_count(const cdc_subs_t *s) { return s->count; }

const char *const *cdc_subs_select(const cdc_subs_t *s, uint32_t id, size_t *n) {
    sub_t *x = htab_find(&s->ids, hash_u64(id), sub_eq, &id);
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
    int budgeted; /* 0: cdc_subs_match, every budget ignored */
    uint64_t gen, per_change;
    size_t exhausted; /* budgets that reached 0 on this change */
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

/* The candidates filed under table entry t for change c. */
static void scan_table(const table_t *t, mctx_t *m) {
    const cdc_change_t *c = m->c;
    scan_bucket(t->plain, m);
    for (size_t k = 0; k < t->neqcols; k++) {
        size_t col = t->eqcols[k].col;
        /* NULL and unknown cells never satisfy eq. */
        if (col >= c->ncols || !c->cells[col].data || (c->unknown && c->unknown[col]))
            continue;
        bytes_t v = {c->cells[col].data, c->cells[col].len};
        const eqbucket_t *b = htab_find(&t->eqcols[k].vals, hash_bytes(HASH_INIT, v.p, v.n), eqbucket_eq, &v);
        if (b)
            scan_bucket(b->runs, m);
    }
}

static size_t match(const cdc_subs_t *s, mctx_t *m) {
    const cdc_change_t *c = m->c;
    size_t sl = strlen(c->schema), tl = strlen(c->table);
    /* The change's own names, then the wildcard entries when there are
     * any; a change of a schema or table literally named "*" must not be
     * scanned twice. */
    names_t k[2][2] = {{{c->schema, c->table, sl, tl}, {c->schema, "*", sl, 1}},
                       {{"*", c->table, 1, tl}, {"*", "*", 1, 1}}};
    int schemas = s->wild_schema && !is_wild(c->schema, sl) ? 2 : 1;
    int tables = s->wild_table && !is_wild(c->table, tl) ? 2 : 1;
    for (int i = 0; i < schemas; i++) {
        uint64_t hs = hash_bytes(HASH_INIT, k[i][0].schema, k[i][0].sl);
        for (int j = 0; j < tables; j++) {
            const table_t *t = table_find(s, names_hash(hs, k[i][j].table, k[i][j].tl), &k[i][j]);
            if (t)
                scan_table(t, m);
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

size_t cdc_subs_match_budget(const cdc_subs_t *s, const cdc_change_t *c, cdc_match_t **out, size_t *cap, uint64_t gen,
                             uint64_t per_change, size_t *exhausted) {
    mctx_t m = {.c = c, .out = out, .cap = cap, .budgeted = 1, .gen = gen, .per_change = per_change};
    size_t n = match(s, &m);
    if (exhausted)
        *exhausted = m.exhausted;
    return n;
}

/* 1 if x is filed under the change's schema and table, or a wildcard. */
static int sub_names_match(const sub_t *x, const cdc_change_t *c) {
    const table_t *t = x->tab;
    const char *schema = t->names, *table = t->names + t->sl + 1;
    return (is_wild(schema, t->sl) || strcmp(schema, c->schema) == 0) &&
           (is_wild(table, t->tl) || strcmp(table, c->table) == 0);
}

size_t cdc_subs_match_owner(const cdc_subs_t *s, const void *owner, const cdc_change_t *c, cdc_match_t **out,
                            size_t *cap, uint64_t per_change, uint64_t *used) {
    const owner_t *o = htab_find(&s->owners, owner_hash(owner), owner_eq, &owner);
    mctx_t m = {.c = c, .out = out, .cap = cap};
    uint64_t left = per_change;
    for (const sub_t *x = o ? o->head : NULL; x; x = x->own_next) {
        if (!sub_names_match(x, c))
            continue;
        if (left < CDC_SUBS_CANDIDATE_UNITS)
            break; /* as a live change's budget: the rest do not match */
        left -= CDC_SUBS_CANDIDATE_UNITS;
        if (sub_passes(x, c, &left) == 1)
            out_push(&m, x);
    }
    *used = per_change - left;
    if (m.n > 1)
        qsort(*m.out, m.n, sizeof(**m.out), cmp_match);
    return m.n;
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
    default: return -1;
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
