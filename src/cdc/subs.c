/*
 * cdc/subs: owns the postgres_changes subscriptions of one thread, their
 * compiled filters and select lists, and the indexes that find the
 * subscriptions a change can match. It never does I/O, never locks (one
 * thread owns it) and never builds payloads: it answers "who gets this".
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

typedef struct sub {
    uint32_t id;
    void *owner;
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
    struct sub *prev, *next;         /* in its bucket */
    struct sub *all_prev, *all_next; /* in the registry */
} sub_t;

/* Every subscription lives in exactly one bucket: the plain list of its
 * (schema, table) pair, or the eq bucket of (schema, table, value) under
 * its key column. A table remembers which columns carry eq buckets so a
 * change looks up each of them once. */
typedef struct {
    size_t col;
    size_t nsubs;
} eqcol_t;

typedef struct {
    sub_t *plain;
    eqcol_t *eqcols;
    size_t neqcols;
} table_t;

struct cdc_subs {
    hmap_t tables; /* "schema\0table" -> table_t */
    hmap_t eq;     /* "schema\0table\0" + col (size_t) + value -> sub_t list */
    hmap_t ids;    /* id (uint32_t) -> sub_t */
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
            free(t->eqcols);
            free(t);
        }
    hmap_clear(&s->tables);
    hmap_clear(&s->eq);
    hmap_clear(&s->ids);
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

/* "schema\0table" into buf (caller frees the result). */
static char *table_key(const char *schema, size_t sl, const char *table, size_t tl, size_t *len) {
    char *k = xmalloc(sl + 1 + tl);
    memcpy(k, schema, sl);
    k[sl] = '\0';
    memcpy(k + sl + 1, table, tl);
    *len = sl + 1 + tl;
    return k;
}

/* The eq bucket key: "schema\0table\0" + column index + value. Caller frees. */
static char *eq_key(const char *schema, const char *table, size_t col, const char *v, size_t vlen, size_t *len) {
    size_t sl = strlen(schema), tl = strlen(table);
    size_t n = sl + 1 + tl + 1 + sizeof(col) + vlen;
    char *k = xmalloc(n);
    memcpy(k, schema, sl + 1);
    memcpy(k + sl + 1, table, tl + 1);
    memcpy(k + sl + tl + 2, &col, sizeof(col));
    if (vlen)
        memcpy(k + sl + tl + 2 + sizeof(col), v, vlen);
    *len = n;
    return k;
}

static table_t *table_get(const cdc_subs_t *s, const char *schema, const char *table) {
    size_t klen;
    char *k = table_key(schema, strlen(schema), table, strlen(table), &klen);
    table_t *t = hmap_get(&s->tables, k, klen);
    free(k);
    return t;
}

static table_t *table_get_or_add(cdc_subs_t *s, const char *schema, const char *table) {
    table_t *t = table_get(s, schema, table);
    if (t)
        return t;
    size_t klen;
    char *k = table_key(schema, strlen(schema), table, strlen(table), &klen);
    t = xcalloc(1, sizeof(*t));
    hmap_put(&s->tables, k, klen, t);
    free(k);
    return t;
}

/* Drops a table entry nobody uses any more, so churn does not grow the map. */
static void table_maybe_drop(cdc_subs_t *s, const char *schema, const char *table, table_t *t) {
    if (t->plain || t->neqcols)
        return;
    size_t klen;
    char *k = table_key(schema, strlen(schema), table, strlen(table), &klen);
    hmap_del(&s->tables, k, klen);
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

static void index_insert(cdc_subs_t *s, sub_t *x) {
    table_t *t = table_get_or_add(s, x->schema, x->table);
    if (!x->keyed) {
        list_push(&t->plain, x);
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
    sub_t *head = hmap_get(&s->eq, x->key, x->key_len);
    list_push(&head, x);
    hmap_put(&s->eq, x->key, x->key_len, head);
}

static void index_remove(cdc_subs_t *s, sub_t *x) {
    table_t *t = table_get(s, x->schema, x->table);
    if (!x->keyed) {
        list_unlink(&t->plain, x);
    } else {
        sub_t *head = hmap_get(&s->eq, x->key, x->key_len);
        list_unlink(&head, x);
        if (head)
            hmap_put(&s->eq, x->key, x->key_len, head);
        else
            hmap_del(&s->eq, x->key, x->key_len);
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

uint32_t cdc_subs_add(cdc_subs_t *s, void *owner, unsigned events, const char *schema, const char *table,
                      cdc_filter_t *filter, size_t ncols, const char *const *select, size_t nselect,
                      char *err, size_t errlen) {
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
        x->keyed = 1;
        x->key_col = col;
        x->key = eq_key(schema, table, col, v, vlen, &x->key_len);
    }
    index_insert(s, x);
    hmap_put(&s->ids, &x->id, sizeof(x->id), x);
    x->all_next = s->all;
    if (s->all)
        s->all->all_prev = x;
    s->all = x;
    s->count++;
    return x->id;
}

static void sub_remove(cdc_subs_t *s, sub_t *x) {
    index_remove(s, x);
    hmap_del(&s->ids, &x->id, sizeof(x->id));
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
    size_t n = 0;
    sub_t *x = s->all, *next;
    for (; x; x = next) {
        next = x->all_next;
        if (x->owner == owner) {
            sub_remove(s, x);
            n++;
        }
    }
    return n;
}

size_t cdc_subs_count(const cdc_subs_t *s) { return s->count; }

const char *const *cdc_subs_select(const cdc_subs_t *s, uint32_t id, size_t *n) {
    sub_t *x = hmap_get(&s->ids, &id, sizeof(id));
    *n = x ? x->nselect : 0;
    return x && x->nselect ? (const char *const *)x->select : NULL;
}

/* ---- matching ----------------------------------------------------------- */

static int sub_passes(const sub_t *x, const cdc_change_t *c) {
    if (!(x->events & c->event))
        return 0;
    if (!x->filter)
        return 1;
    /* A filter compiled for another shape of the table must not read the
     * wrong column: no match until the caller re-adds it. */
    if (x->ncols != c->ncols)
        return 0;
    return cdc_filter_match(x->filter, c->cells, c->unknown);
}

static void out_push(cdc_match_t **out, size_t *cap, size_t *n, const sub_t *x) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *out = xrealloc(*out, *cap * sizeof(**out));
    }
    (*out)[(*n)++] = (cdc_match_t){.owner = x->owner, .id = x->id};
}

static void scan_list(const sub_t *x, const cdc_change_t *c, cdc_match_t **out, size_t *cap, size_t *n) {
    for (; x; x = x->next)
        if (sub_passes(x, c))
            out_push(out, cap, n, x);
}

static int cmp_match(const void *a, const void *b) {
    uint32_t x = ((const cdc_match_t *)a)->id, y = ((const cdc_match_t *)b)->id;
    return x < y ? -1 : x > y;
}

size_t cdc_subs_match(const cdc_subs_t *s, const cdc_change_t *c, cdc_match_t **out, size_t *cap) {
    size_t n = 0;
    const char *schemas[2] = {c->schema, "*"}, *tables[2] = {c->table, "*"};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            /* A change of a table literally named "*" must not be scanned twice. */
            if ((i && strcmp(c->schema, "*") == 0) || (j && strcmp(c->table, "*") == 0))
                continue;
            const table_t *t = table_get(s, schemas[i], tables[j]);
            if (!t)
                continue;
            scan_list(t->plain, c, out, cap, &n);
            for (size_t k = 0; k < t->neqcols; k++) {
                size_t col = t->eqcols[k].col;
                /* NULL and unknown cells never satisfy eq. */
                if (col >= c->ncols || !c->cells[col].data || (c->unknown && c->unknown[col]))
                    continue;
                size_t klen;
                char *key = eq_key(schemas[i], tables[j], col, c->cells[col].data, c->cells[col].len, &klen);
                scan_list(hmap_get(&s->eq, key, klen), c, out, cap, &n);
                free(key);
            }
        }
    if (n > 1)
        qsort(*out, n, sizeof(**out), cmp_match);
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
