/*
 * libFuzzer target for cdc/subs. The input is a program: each step reads an
 * operation byte and its operands from the input (add a subscription with
 * an owner, a budget or none, a schema/table with wildcards, an event mask
 * and a filter from a fixed list; remove one by id; remove an owner's; match
 * a row), and the registry is checked after every step against a reference
 * that is only a flat array of subscriptions:
 *  - cdc_subs_count, cdc_subs_remove (0 / -1), cdc_subs_remove_owner
 *    (how many) agree with the reference;
 *  - cdc_subs_match finds exactly the subscriptions a linear scan would,
 *    sorted by id, with their owners; cdc_subs_match_budget with budgets no
 *    one can spend finds the same;
 *  - with small budgets it finds a subset; every subscription it drops has
 *    a budget that this change emptied, and *exhausted is the number of
 *    budgets this change emptied.
 * Besides that, ASan/UBSan watch the indexes (eq buckets, runs, owner
 * lists) through the churn, and no leak may remain after cdc_subs_free.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdc/subs.h"

#include "fuzz_check.h"

static const cdc_column_t cols[] = {{"id", "int4"}, {"name", "text"}, {"flag", "bool"}};
#define NCOLS 3

static const char *const filters[] = {
    NULL,
    "id=eq.1",
    "id=eq.2",
    "name=eq.ab",
    "flag=eq.true",
    "id=gt.3",
    "name=like.%a%b",
    "name=imatch.^(a+)+b$",
    "name=in.(ab,aaab,x)",
    "id=eq.1,name=neq.x",
    "name=is.null",
    "flag=eq.f,id=eq.2",
};
#define NFILTERS (sizeof filters / sizeof filters[0])
static const char *const names[] = {"ab", "x", "aaab", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", NULL};
static const char *const schemas[] = {"public", "other", "*"};
static const char *const tables[] = {"a", "b", "*"};
#define NOWNERS 4
#define NBUDGETS 3
#define MAXSUBS 256

typedef struct {
    uint32_t id;
    int owner, budget; /* budget -1: none */
    const char *schema, *table;
    unsigned events;
    cdc_filter_t *filter; /* the reference's own copy */
    int live;
} ref_t;

typedef struct {
    const uint8_t *p;
    size_t n, i;
} input_t;

static unsigned next(input_t *in, unsigned mod) {
    unsigned v = in->i < in->n ? in->p[in->i++] : 0;
    return v % mod;
}

static cdc_filter_t *compile(const char *f) {
    if (!f)
        return NULL;
    char err[128];
    cdc_filter_t *c = cdc_filter_parse(f, cols, NCOLS, err, sizeof err);
    CHECK(c != NULL);
    return c;
}

static int ref_match(const ref_t *r, const cdc_change_t *c) {
    if (!r->live || !(r->events & c->event))
        return 0;
    if (strcmp(r->schema, "*") && strcmp(r->schema, c->schema))
        return 0;
    if (strcmp(r->table, "*") && strcmp(r->table, c->table))
        return 0;
    return !r->filter || cdc_filter_match(r->filter, c->cells, c->unknown);
}

/* libFuzzer calls it; declared for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static ref_t refs[MAXSUBS];
    static uint8_t want[MAXSUBS + 1], got[MAXSUBS + 1];
    int owners[NOWNERS];
    cdc_budget_t budgets[NBUDGETS];
    memset(budgets, 0, sizeof budgets);
    size_t nrefs = 0, live = 0;
    uint64_t gen = 0;
    input_t in = {data, size, 0};
    cdc_subs_t *s = cdc_subs_new();
    cdc_match_t *m = NULL;
    size_t cap = 0;
    uint32_t max_id = 0;

    while (in.i < in.n) {
        unsigned op = next(&in, 8);
        if (op <= 2) { /* add */
            if (nrefs == MAXSUBS)
                continue;
            ref_t *r = &refs[nrefs];
            memset(r, 0, sizeof *r);
            r->owner = (int)next(&in, NOWNERS);
            r->budget = (int)next(&in, NBUDGETS + 1) - 1;
            r->schema = schemas[next(&in, 3)];
            r->table = tables[next(&in, 3)];
            unsigned ev = next(&in, 8);
            const char *fs = filters[next(&in, NFILTERS)];
            int wild = !strcmp(r->schema, "*") || !strcmp(r->table, "*");
            char err[200];
            uint32_t id = cdc_subs_add_budget(s, &owners[r->owner], ev, r->schema, r->table, compile(fs), NCOLS, NULL,
                                              0, err, sizeof err, r->budget < 0 ? NULL : &budgets[r->budget]);
            if (fs && wild) { /* refused, filter freed by the registry */
                CHECK(id == 0);
                continue;
            }
            CHECK(id > max_id); /* never reused */
            max_id = id;
            r->id = id;
            r->events = ev ? ev : CDC_EV_ALL;
            r->filter = compile(fs);
            r->live = 1;
            nrefs++;
            live++;
        } else if (op == 3) { /* remove by id: a live one, a dead one or unknown */
            if (nrefs == 0)
                continue;
            ref_t *r = &refs[next(&in, (unsigned)nrefs)];
            CHECK(cdc_subs_remove(s, r->id) == (r->live ? 0 : -1));
            if (r->live) {
                r->live = 0;
                live--;
            }
            CHECK(cdc_subs_remove(s, max_id + 1) == -1);
        } else if (op == 4) { /* remove an owner */
            int o = (int)next(&in, NOWNERS);
            size_t expect = 0;
            for (size_t i = 0; i < nrefs; i++)
                if (refs[i].live && refs[i].owner == o) {
                    refs[i].live = 0;
                    expect++;
                }
            CHECK(cdc_subs_remove_owner(s, &owners[o]) == expect);
            live -= expect;
        } else { /* match a row */
            char idb[8];
            snprintf(idb, sizeof idb, "%u", next(&in, 5));
            const char *nm = names[next(&in, 5)];
            cdc_cell_t cells[NCOLS] = {{idb, strlen(idb)}, {nm, nm ? strlen(nm) : 0}, {next(&in, 2) ? "t" : "f", 1}};
            uint8_t unknown[NCOLS] = {0, 0, 0};
            if (next(&in, 8) == 0) {
                unknown[1] = 1;
                cells[1].data = NULL;
            }
            static const unsigned evs[] = {CDC_EV_INSERT, CDC_EV_UPDATE, CDC_EV_DELETE};
            cdc_change_t ch = {.schema = schemas[next(&in, 2)],
                               .table = tables[next(&in, 2)],
                               .event = evs[next(&in, 3)],
                               .ncols = NCOLS,
                               .cells = cells,
                               .unknown = unknown};
            memset(want, 0, sizeof want);
            size_t nwant = 0;
            for (size_t i = 0; i < nrefs; i++)
                if (ref_match(&refs[i], &ch)) {
                    want[i + 1] = 1; /* by reference slot; ids are mapped back to slots below */
                    nwant++;
                }
            size_t n = cdc_subs_match(s, &ch, &m, &cap);
            CHECK(n == nwant);
            for (size_t k = 0; k < n; k++) {
                size_t i = 0;
                while (i < nrefs && refs[i].id != m[k].id)
                    i++;
                CHECK(i < nrefs && want[i + 1]);
                CHECK(m[k].owner == &owners[refs[i].owner]);
                if (k)
                    CHECK(m[k - 1].id < m[k].id);
            }
            size_t ex = 99;
            CHECK(cdc_subs_match_budget(s, &ch, &m, &cap, ++gen, UINT64_MAX / 2, &ex) == nwant);
            CHECK(ex == 0);
            uint64_t per = (uint64_t)next(&in, 256) * next(&in, 4);
            n = cdc_subs_match_budget(s, &ch, &m, &cap, ++gen, per, &ex);
            memset(got, 0, sizeof got);
            for (size_t k = 0; k < n; k++) {
                size_t i = 0;
                while (i < nrefs && refs[i].id != m[k].id)
                    i++;
                CHECK(i < nrefs && want[i + 1]);
                got[i + 1] = 1;
                if (k)
                    CHECK(m[k - 1].id < m[k].id);
            }
            for (size_t i = 0; i < nrefs; i++)
                if (want[i + 1] && !got[i + 1]) {
                    CHECK(refs[i].budget >= 0);
                    CHECK(budgets[refs[i].budget].gen == gen && budgets[refs[i].budget].left == 0);
                }
            size_t zero = 0;
            for (int b = 0; b < NBUDGETS; b++)
                zero += budgets[b].gen == gen && budgets[b].left == 0;
            CHECK(ex == zero);
        }
        CHECK(cdc_subs_count(s) == live);
    }

    for (size_t i = 0; i < nrefs; i++)
        cdc_filter_free(refs[i].filter);
    free(m);
    cdc_subs_free(s);
    return 0;
}
