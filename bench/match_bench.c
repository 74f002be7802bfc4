/*
 * bench/match_bench.c: what filter work costs on this machine, to size the
 * per-change budget of Postgres Changes (CDC_MATCH_BUDGET), and what the
 * subscription registry costs to fill, match and empty at attack scale.
 * Prints figures only; it asserts nothing (timings are not pass/fail).
 *
 * Not built by CMake (it is a measurement, not a product): build tccore,
 * then
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Isrc bench/match_bench.c BUILD/libtccore.a \
 *      $(pkg-config --libs libuv jansson libcrypto libpq) -lhttp_parser -lpthread -lm -o /tmp/match_bench
 *   /tmp/match_bench [quick]
 *
 * Sections:
 *  1. typical filters, cdc_filter_match against cdc_filter_match_budget:
 *     ns per evaluation (the budget's bookkeeping must not show);
 *  2. attacks on one 512 KiB cell (nested-repetition regexes, LIKE
 *     patterns, long comparisons): units charged unlimited, ms, ns/unit,
 *     and the time to hit the default budget of 2,000,000 units;
 *  3. what looking at a candidate costs, filter aside (to size
 *     CDC_SUBS_CANDIDATE_UNITS), and what skipping exhausted ones costs;
 *  4. the registry at 100 owners x 5,000 ilike bindings: add, one change
 *     with and without budgets, removal owner by owner.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cdc/filter.h"
#include "cdc/subs.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const cdc_column_t COLS[] = {
    {"id", "int4"}, {"customer_id", "uuid"}, {"body", "text"}, {"price", "numeric"}, {"status", "mood"},
};
#define NCOLS (sizeof COLS / sizeof COLS[0])
enum { C_ID, C_CUST, C_BODY, C_PRICE, C_STATUS };

static cdc_filter_t *parse(const char *f) {
    char err[256];
    cdc_filter_t *p = cdc_filter_parse(f, COLS, NCOLS, err, sizeof err);
    if (!p) {
        fprintf(stderr, "match_bench: filter %s: %s\n", f, err);
        exit(1);
    }
    return p;
}

static volatile int sink;

/* 1. typical filters */
static void bench_typical(int quick) {
    static const struct {
        const char *filter;
        const char *cell;
        int col;
    } cases[] = {
        {"id=eq.42", "42", C_ID},
        {"customer_id=eq.c0000000-0000-4000-8000-000000000001", "c0000000-0000-4000-8000-000000000001", C_CUST},
        {"body=ilike.%urgent%", "Technician is on the way, ETA 10 minutes", C_BODY},
        {"body=like.Booking%", "Booking #1234 confirmed for tomorrow", C_BODY},
        {"body=match.^(re|fw): ", "re: quote for the kitchen sink", C_BODY},
        {"body=imatch.\\m(urgent|asap)\\M", "Please come ASAP, the pipe burst", C_BODY},
        {"status=in.(happy,sad,ok,meh,angry,calm,bored,glad,tired,fine)", "fine", C_STATUS},
        {"price=gte.100.50", "250.00", C_PRICE},
    };
    long iters = quick ? 200000 : 2000000;
    printf("1. typical filters: ns per evaluation (%ld evaluations each)\n", iters);
    printf("   %-64s %10s %10s %8s\n", "filter", "match", "budget", "units");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cdc_filter_t *f = parse(cases[i].filter);
        cdc_cell_t cells[NCOLS];
        memset(cells, 0, sizeof cells);
        cells[cases[i].col] = (cdc_cell_t){cases[i].cell, strlen(cases[i].cell)};
        double best_m = 1e9, best_b = 1e9;
        uint64_t units = 0;
        for (int round = 0; round < 3; round++) {
            int acc = 0;
            double t0 = now_s();
            for (long k = 0; k < iters; k++)
                acc += cdc_filter_match(f, cells, NULL);
            double t1 = now_s();
            for (long k = 0; k < iters; k++) {
                uint64_t b = 2000000;
                acc += cdc_filter_match_budget(f, cells, NULL, &b);
                units = 2000000 - b;
            }
            double t2 = now_s();
            sink = acc;
            if ((t1 - t0) < best_m)
                best_m = t1 - t0;
            if ((t2 - t1) < best_b)
                best_b = t2 - t1;
        }
        printf("   %-64.64s %10.1f %10.1f %8llu\n", cases[i].filter, best_m * 1e9 / (double)iters,
               best_b * 1e9 / (double)iters, (unsigned long long)units);
        cdc_filter_free(f);
    }
}

/* 2. attacks on one 512 KiB cell */
static void bench_attacks(void) {
    size_t n = 512 * 1024;
    char *aaa = malloc(n + 1), *digits = malloc(n + 1);
    if (!aaa || !digits)
        exit(1);
    memset(aaa, 'a', n);
    aaa[n - 1] = '!'; /* no anchored pattern can match: every position is tried */
    aaa[n] = '\0';
    memset(digits, '9', n);
    digits[n] = '\0';
    char longlike[200];
    snprintf(longlike, sizeof longlike, "body=like.%%%.*sb", 100,
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    const struct {
        const char *filter;
        const char *cell;
        int col;
    } cases[] = {
        {"body=imatch.^(a+)+$", aaa, C_BODY},
        {"body=imatch.^(a|aa)+$", aaa, C_BODY},
        {"body=imatch.^((a+)+b)+$", aaa, C_BODY},
        {"body=imatch.\"^(([a-z]+[0-9]*)+[a-z]{1,20})+$\"", aaa, C_BODY},
        {"body=match.\"(a{1,30}){1,30}$\"", aaa, C_BODY},
        {"body=ilike.%a%a%a%a%b", aaa, C_BODY},
        {longlike, aaa, C_BODY},
        {"price=eq.1", digits, C_PRICE},
        {"body=in.(a,b,c,d,e,f,g,h,i,j)", aaa, C_BODY},
    };
    printf("\n2. one 512 KiB cell: units charged without limit, time, ns per unit\n");
    printf("   %-50s %13s %9s %8s %12s\n", "filter", "units", "ms", "ns/unit", "2M units ms");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cdc_filter_t *f = parse(cases[i].filter);
        cdc_cell_t cells[NCOLS];
        memset(cells, 0, sizeof cells);
        cells[cases[i].col] = (cdc_cell_t){cases[i].cell, strlen(cases[i].cell)};
        uint64_t b = UINT64_MAX;
        double t0 = now_s();
        int r = cdc_filter_match_budget(f, cells, NULL, &b);
        double t1 = now_s();
        uint64_t units = UINT64_MAX - b;
        uint64_t small = 2000000;
        int r2 = cdc_filter_match_budget(f, cells, NULL, &small);
        double t2 = now_s();
        printf("   %-50.50s %13llu %9.2f %8.2f %12.3f   (answer %d, with 2M: %d)\n", cases[i].filter,
               (unsigned long long)units, (t1 - t0) * 1e3, units ? (t1 - t0) * 1e9 / (double)units : 0.0,
               (t2 - t1) * 1e3, r, r2);
        cdc_filter_free(f);
    }
    free(aaa);
    free(digits);
}

static void row(cdc_cell_t *cells, char *idbuf, int id, const char *body) {
    memset(cells, 0, NCOLS * sizeof *cells);
    snprintf(idbuf, 16, "%d", id);
    cells[C_ID] = (cdc_cell_t){idbuf, strlen(idbuf)};
    cells[C_BODY] = (cdc_cell_t){body, strlen(body)};
}

/* 3. what a candidate costs before and besides its filter */
static double per_candidate(cdc_subs_t *s, const cdc_change_t *c, int budgeted, uint64_t per_change, size_t nsubs,
                            uint64_t *gen) {
    cdc_match_t *out = NULL;
    size_t cap = 0;
    int reps = 20;
    double best = 1e9;
    for (int round = 0; round < 3; round++) {
        double t0 = now_s();
        for (int r = 0; r < reps; r++)
            sink = (int)(budgeted ? cdc_subs_match_budget(s, c, &out, &cap, ++*gen, per_change, NULL)
                                  : cdc_subs_match(s, c, &out, &cap));
        double t = (now_s() - t0) * 1e9 / (double)(reps * nsubs);
        if (t < best)
            best = t;
    }
    free(out);
    return best;
}

static void bench_candidates(int quick) {
    size_t nsubs = quick ? 20000 : 100000;
    cdc_cell_t cells[NCOLS];
    char idbuf[16];
    row(cells, idbuf, 1, "hi");
    cdc_change_t c = {"public", "messages", CDC_EV_INSERT, NCOLS, cells, NULL};
    uint64_t gen = 0;
    printf("\n3. %zu candidates that do not match (no output): ns per candidate\n", nsubs);

    /* One budget, one run: DELETE-only bindings seen by an INSERT. */
    cdc_subs_t *s = cdc_subs_new();
    cdc_budget_t one = {0, 0};
    int owner;
    for (size_t i = 0; i < nsubs; i++)
        cdc_subs_add_budget(s, &owner, CDC_EV_DELETE, "public", "messages", NULL, 0, NULL, 0, NULL, 0, &one);
    printf("   no filter, event differs:    unbudgeted %5.1f, budgeted (unlimited) %5.1f, budget exhausted %5.2f\n",
           per_candidate(s, &c, 0, 0, nsubs, &gen), per_candidate(s, &c, 1, UINT64_MAX / 2, nsubs, &gen),
           per_candidate(s, &c, 1, 0, nsubs, &gen));
    cdc_subs_free(s);

    /* A cheap filter that fails: "id=gt.5" on id 1. */
    s = cdc_subs_new();
    for (size_t i = 0; i < nsubs; i++)
        cdc_subs_add_budget(s, &owner, CDC_EV_ALL, "public", "messages", parse("id=gt.5"), NCOLS, NULL, 0, NULL, 0,
                            &one);
    uint64_t b = UINT64_MAX;
    cdc_match_t *out = NULL;
    size_t cap = 0;
    one.gen = 0;
    cdc_subs_match_budget(s, &c, &out, &cap, ++gen, b, NULL);
    uint64_t units = b - one.left;
    free(out);
    printf("   filter id=gt.5 (fails):      unbudgeted %5.1f, budgeted (unlimited) %5.1f; %.1f units per candidate\n",
           per_candidate(s, &c, 0, 0, nsubs, &gen), per_candidate(s, &c, 1, UINT64_MAX / 2, nsubs, &gen),
           (double)units / (double)nsubs);
    cdc_subs_free(s);

    /* Worst case for runs: two budgets interleaved, one run per binding. */
    s = cdc_subs_new();
    cdc_budget_t two[2] = {{0, 0}, {0, 0}};
    for (size_t i = 0; i < nsubs; i++)
        cdc_subs_add_budget(s, &owner, CDC_EV_DELETE, "public", "messages", NULL, 0, NULL, 0, NULL, 0, &two[i & 1]);
    printf("   interleaved budgets, exhausted: %5.2f\n", per_candidate(s, &c, 1, 0, nsubs, &gen));
    cdc_subs_free(s);
}

/* 4. the registry at attack scale */
static void bench_registry(int quick) {
    size_t owners = 100, per = quick ? 500 : 5000;
    cdc_subs_t *s = cdc_subs_new();
    cdc_budget_t *budgets = calloc(owners, sizeof *budgets);
    int *own = calloc(owners, sizeof *own);
    cdc_filter_t **fs = malloc(owners * per * sizeof *fs);
    if (!budgets || !own || !fs)
        exit(1);
    double t0 = now_s();
    for (size_t i = 0; i < owners * per; i++) {
        char f[64];
        snprintf(f, sizeof f, "body=ilike.%%w%zu%%", i);
        fs[i] = parse(f);
    }
    double t1 = now_s();
    /* One client address: all owners (channels) share one budget. */
    for (size_t o = 0; o < owners; o++)
        for (size_t k = 0; k < per; k++)
            cdc_subs_add_budget(s, &own[o], CDC_EV_ALL, "public", "messages", fs[o * per + k], NCOLS, NULL, 0, NULL, 0,
                                &budgets[0]);
    double t2 = now_s();
    cdc_cell_t cells[NCOLS];
    char idbuf[16];
    row(cells, idbuf, 1, "A perfectly ordinary chat message of some length");
    cdc_change_t c = {"public", "messages", CDC_EV_INSERT, NCOLS, cells, NULL};
    cdc_match_t *out = NULL;
    size_t cap = 0, ex = 0;
    double t3 = now_s();
    size_t m1 = cdc_subs_match(s, &c, &out, &cap);
    double t4 = now_s();
    size_t m2 = cdc_subs_match_budget(s, &c, &out, &cap, 1, 2000000, &ex);
    double t5 = now_s();
    for (size_t o = 0; o < owners; o++)
        cdc_subs_remove_owner(s, &own[o]);
    double t6 = now_s();
    printf("\n4. registry: %zu owners x %zu ilike bindings (%zu subscriptions)\n", owners, per, owners * per);
    printf("   parse %.0f ms, add %.0f ms (%.0f ns/add)\n", (t1 - t0) * 1e3, (t2 - t1) * 1e3,
           (t2 - t1) * 1e9 / (double)(owners * per));
    printf("   one change, unbudgeted: %.1f ms (%zu matches); budget 2,000,000: %.1f ms (%zu matches, %zu exhausted)\n",
           (t4 - t3) * 1e3, m1, (t5 - t4) * 1e3, m2, ex);
    printf("   remove owner by owner: %.1f ms, %zu left\n", (t6 - t5) * 1e3, cdc_subs_count(s));
    free(out);
    free(fs);
    free(own);
    free(budgets);
    cdc_subs_free(s);
}

int main(int argc, char **argv) {
    int quick = argc > 1 && strcmp(argv[1], "quick") == 0;
    bench_typical(quick);
    bench_attacks();
    bench_candidates(quick);
    bench_registry(quick);
    return 0;
}
