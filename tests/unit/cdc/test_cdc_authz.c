/*
 * Tests for cdc/authz against a real PostgreSQL, through db/pool, no mocks:
 * the row-level security verdict on a batch of changes for several
 * subscribers (two authenticated users, anon, service_role, and one whose
 * claims make the policy raise), for INSERT (new row), UPDATE (new row)
 * and DELETE (old row, full and key-only) images.
 *
 * Needs TC_AUTHZ_PG, a libpq conninfo of a superuser on a scratch database
 * (it creates roles, tables and policies there); skipped without it.
 * tests/tools/authz_pg_check.sh starts a throwaway cluster and runs this
 * binary with it set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdc/engine_int.h"
#include "metrics/metrics.h"
#include "util/mem.h"

#define UID_ALICE "a1000000-0000-4000-8000-000000000001"
#define UID_BOB "b0b00000-0000-4000-8000-000000000002"

static const char *const SCHEMA_SQL =
    "DROP SCHEMA IF EXISTS authz_t CASCADE;"
    "DROP PUBLICATION IF EXISTS authz_pub;"
    "DO $$ BEGIN"
    "  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'anon') THEN CREATE ROLE anon NOLOGIN; END IF;"
    "  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticated') THEN"
    "    CREATE ROLE authenticated NOLOGIN; END IF;"
    "  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'service_role') THEN"
    "    CREATE ROLE service_role NOLOGIN BYPASSRLS; END IF;"
    "END $$;"
    "CREATE SCHEMA authz_t;"
    "GRANT USAGE ON SCHEMA authz_t TO anon, authenticated, service_role;"
    /* as Supabase's auth.uid(): the claims' sub as a uuid (raises when it is not one) */
    "CREATE SCHEMA IF NOT EXISTS auth;"
    "GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;"
    "CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS"
    "  $$ SELECT nullif(current_setting('request.jwt.claims', true)::json->>'sub', '')::uuid $$;"
    "GRANT EXECUTE ON FUNCTION auth.uid() TO anon, authenticated, service_role;"
    "CREATE TABLE authz_t.members (team int, user_id uuid);"
    "GRANT SELECT ON authz_t.members TO authenticated;"
    "INSERT INTO authz_t.members VALUES (1, '" UID_ALICE "'), (2, '" UID_BOB "');"
    /* notes: policies the plan cannot decide, so the database judges */
    "CREATE TABLE authz_t.notes (id int PRIMARY KEY, team int, body text);"
    "ALTER TABLE authz_t.notes REPLICA IDENTITY FULL;"
    "ALTER TABLE authz_t.notes ENABLE ROW LEVEL SECURITY;"
    "GRANT SELECT ON authz_t.notes TO anon, authenticated, service_role;"
    "CREATE POLICY team_read ON authz_t.notes FOR SELECT TO authenticated USING ("
    "  auth.uid() IS NOT NULL AND EXISTS (SELECT 1 FROM authz_t.members m"
    "   WHERE m.team = notes.team AND m.user_id = auth.uid()));"
    "CREATE POLICY public_read ON authz_t.notes FOR SELECT TO anon USING (body LIKE 'public:%');"
    /* docs: an owner policy the plan decides in the server */
    "CREATE TABLE authz_t.docs (id int PRIMARY KEY, owner uuid, title text);"
    "ALTER TABLE authz_t.docs ENABLE ROW LEVEL SECURITY;"
    "GRANT SELECT ON authz_t.docs TO anon, authenticated, service_role;"
    "CREATE POLICY own_read ON authz_t.docs FOR SELECT TO authenticated USING (owner = (SELECT auth.uid()));"
    "CREATE PUBLICATION authz_pub FOR TABLE authz_t.notes, authz_t.docs;";

/* The subscribers, in match order. */
enum { ALICE, BOB, ANON, SERVICE, MALLORY, NSUBS };

typedef struct {
    cdc_eng_t e;
    PGconn *admin;
    char *conninfo_parts[5]; /* host, port, user, password, dbname */
    cdc_client_t *c[NSUBS];
    int answered;
    cdc_authz_verdict_t verdict;
} fx_t;

static void on_catalog(void *ud, PGresult *const *results, int n, const char *error) {
    fx_t *f = ud;
    char err[256] = "";
    if (!error && n == 2)
        f->e.cat = cdc_cat_load(results[0], results[1], NULL, err, sizeof(err));
    if (!f->e.cat)
        fprintf(stderr, "catalog: %s %s\n", error ? error : "", err);
    f->answered = 1;
}

static void on_done(cdc_eng_t *e, cdc_tx_t *batch, cdc_authz_verdict_t v) {
    (void)batch;
    fx_t *f = (fx_t *)e; /* e is f's first member */
    f->verdict = v;
    f->answered = 1;
}

/* Runs the loop until a callback answered. */
static void wait_answer(fx_t *f) {
    while (!f->answered)
        uv_run(&f->e.loop, UV_RUN_ONCE);
}

static char *conninfo_value(PQconninfoOption *opts, const char *key) {
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (!strcmp(o->keyword, key) && o->val)
            return xstrdup(o->val);
    return NULL;
}

static int setup(void **state) {
    const char *ci = getenv("TC_AUTHZ_PG");
    if (!ci || !*ci) {
        *state = NULL;
        return 0;
    }
    fx_t *f = xcalloc(1, sizeof(*f));
    static met_block_t metrics; /* M_CDC_CHECKS counts the checks asked */
    met_register(&metrics);
    f->admin = PQconnectdb(ci);
    assert_int_equal(PQstatus(f->admin), CONNECTION_OK);
    PGresult *r = PQexec(f->admin, SCHEMA_SQL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("schema: %s", PQresultErrorMessage(r));
    PQclear(r);
    PQconninfoOption *opts = PQconninfoParse(ci, NULL);
    assert_non_null(opts);
    const char *keys[5] = {"host", "port", "user", "password", "dbname"};
    for (int i = 0; i < 5; i++)
        f->conninfo_parts[i] = conninfo_value(opts, keys[i]);
    PQconninfoFree(opts);

    cdc_eng_t *e = &f->e;
    assert_int_equal(uv_loop_init(&e->loop), 0);
    db_config_t dc = {f->conninfo_parts[0],
                      f->conninfo_parts[1],
                      f->conninfo_parts[2],
                      f->conninfo_parts[3],
                      f->conninfo_parts[4],
                      2,
                      1024};
    e->db = db_pool_new(&e->loop, &dc);
    cdc_cli_init(&e->reg);
    cdc_txq_init(&e->q);
    e->az.done = on_done;
    const char *params[] = {"authz_pub"};
    db_stmt_t st[2] = {{cdc_cat_sql(), 1, params, 0}, {cdc_cat_functions_sql(), 1, params, 0}};
    assert_non_null(db_run(e->db, NULL, NULL, st, 2, on_catalog, f));
    wait_answer(f);
    assert_non_null(e->cat);
    e->cat_loaded_ms = uv_now(&e->loop);

    static const struct {
        const char *role, *claims;
    } who[NSUBS] = {
        [ALICE] = {"authenticated", "{\"role\":\"authenticated\",\"sub\":\"" UID_ALICE "\"}"},
        [BOB] = {"authenticated", "{\"role\":\"authenticated\",\"sub\":\"" UID_BOB "\"}"},
        [ANON] = {"anon", "{\"role\":\"anon\"}"},
        [SERVICE] = {"service_role", "{\"role\":\"service_role\"}"},
        [MALLORY] = {"authenticated", "{\"role\":\"authenticated\",\"sub\":\"not-a-uuid\"}"},
    };
    for (int i = 0; i < NSUBS; i++)
        f->c[i] = cdc_cli_new(&e->reg, (uint64_t)i + 1, "realtime:t", 10, 0, 7, 0, cdc_cat_role(who[i].role),
                              xstrdup(who[i].claims));
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx_t *f = *state;
    if (!f)
        return 0;
    for (int i = 0; i < NSUBS; i++)
        cdc_cli_unref(f->c[i]);
    db_pool_close(f->e.db);
    uv_run(&f->e.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->e.loop), 0);
    cdc_cli_free(&f->e.reg);
    cdc_authz_free(&f->e.az);
    cdc_cat_unref(f->e.cat);
    for (int i = 0; i < 5; i++)
        free(f->conninfo_parts[i]);
    PQfinish(f->admin);
    free(f);
    return 0;
}

/* ---- building changes as cdc/txq does --------------------------------- */

/* A row: column values as pgoutput's text, NULL = SQL NULL, "?" = unknown
 * (a column a key-only old row lacks). */
typedef struct {
    const char *table;
    unsigned event;
    const char *v[3];
} row_t;

/* Appends to t a change of row matched by every subscriber. With plan,
 * what the policy plans need of the row is kept too (the server may then
 * decide without the database). */
static void add_change(fx_t *f, cdc_tx_t *t, const row_t *row, int plan) {
    cdc_eng_t *e = &f->e;
    const cdc_table_t *tb = cdc_cat_find(e->cat, "authz_t", row->table);
    assert_non_null(tb);
    assert_int_equal(tb->ncols, 3);
    pgo_column_t cols[3];
    memset(cols, 0, sizeof(cols));
    cdc_cell_t cells[3];
    uint8_t unknown[3];
    for (int i = 0; i < 3; i++) {
        cols[i].name = (char *)tb->cols[i].name;
        unknown[i] = row->v[i] && !strcmp(row->v[i], "?");
        cells[i] = (cdc_cell_t){unknown[i] ? NULL : row->v[i], row->v[i] ? strlen(row->v[i]) : 0};
    }
    pgo_relation_t rel = {tb->oid, "authz_t", (char *)row->table, 'f', 3, cols};
    cdc_change_t cc = {"authz_t", row->table, row->event, 3, cells, unknown};

    t->ch = xrealloc(t->ch, (t->n + 1) * sizeof(*t->ch));
    cdc_qchange_t *ch = &t->ch[t->n++];
    memset(ch, 0, sizeof(*ch));
    ch->relid = tb->oid;
    ch->pos = (cdc_pos_t){100, (uint32_t)t->n}; /* after every subscriber's start (live_after 0/0) */
    ch->recv_ms = uv_now(&e->loop);
    ch->nm = NSUBS;
    ch->m = xcalloc(NSUBS, sizeof(*ch->m));
    ch->mdata = xcalloc(NSUBS, sizeof(*ch->mdata));
    ch->ok = xcalloc(NSUBS, 1);
    for (int i = 0; i < NSUBS; i++) {
        ch->m[i] = (cdc_match_t){f->c[i], (uint32_t)i + 1};
        f->c[i]->refs++;
    }
    ch->row = cdc_txq_row_image(&cc, &rel, tb);
    if (plan) {
        ch->cat_fp = cdc_cat_fingerprint(e->cat);
        cdc_txq_policy_inputs(e->cat, ch, tb, &cc);
    }
}

/* Judges t to the end (again after a blame, as cdc/txq does). Returns how
 * many database round trips it took. */
static int judge(fx_t *f, cdc_tx_t *t, int *blamed) {
    int trips = 0;
    *blamed = 0;
    for (;;) {
        f->answered = 0;
        int r = cdc_authz_begin(&f->e, t);
        assert_true(r == 0 || r == 1);
        if (r == 0)
            return trips;
        trips++;
        wait_answer(f);
        assert_false(cdc_authz_busy(&f->e.az));
        if (f->verdict == CDC_AUTHZ_BLAMED) {
            (*blamed)++;
            continue;
        }
        assert_int_equal(f->verdict, CDC_AUTHZ_DONE);
        return trips;
    }
}

static void free_tx(fx_t *f, cdc_tx_t *t) { cdc_txq_free_batch(&f->e, t); }

/* Checks ok[] of change i against the expected verdicts. */
static void expect(const cdc_tx_t *t, size_t i, const int want[NSUBS]) {
    static const char *const names[NSUBS] = {"alice", "bob", "anon", "service", "mallory"};
    for (int k = 0; k < NSUBS; k++)
        if (t->ch[i].ok[k] != want[k])
            fail_msg("change %zu, %s: authorized %d, expected %d (row %.*s)", i, names[k], t->ch[i].ok[k], want[k],
                     (int)t->ch[i].row->len, (const char *)t->ch[i].row->data);
}

/* notes: team 1 is alice's, team 2 bob's; anon reads "public:" bodies;
 * service_role bypasses RLS; mallory's claims make the policy raise. */
static const row_t NOTES[] = {
    {"notes", CDC_EV_INSERT, {"1", "1", "team one"}},      /* INSERT: new row */
    {"notes", CDC_EV_UPDATE, {"2", "2", "public: two"}},   /* UPDATE: new row */
    {"notes", CDC_EV_DELETE, {"3", "1", "public: three"}}, /* DELETE: full old row */
    {"notes", CDC_EV_DELETE, {"4", "?", "?"}},             /* DELETE: key-only old row */
    {"notes", CDC_EV_INSERT, {"5", "3", "nobody's team"}},
};
static const int NOTES_WANT[][NSUBS] = {
    /* alice bob anon service mallory */
    {1, 0, 0, 1, 0}, {0, 1, 1, 1, 0},
    {1, 0, 1, 1, 0}, {0, 0, 0, 1, 0}, /* unknown values read as NULL: no team, no body */
    {0, 0, 0, 1, 0},
};

/* Every check goes to the database; the policy error is blamed on
 * mallory's claims only, and the rest is judged without them. */
static void database_judges(void **state) {
    fx_t *f = *state;
    if (!f)
        skip();
    cdc_tx_t *t = xcalloc(1, sizeof(*t));
    for (size_t i = 0; i < sizeof(NOTES) / sizeof(*NOTES); i++)
        add_change(f, t, &NOTES[i], 0);
    int blamed;
    int trips = judge(f, t, &blamed);
    assert_int_equal(blamed, 1);
    assert_int_equal(trips, 2);
    assert_true(f->c[MALLORY]->claims_bad);
    assert_false(f->c[ALICE]->claims_bad);
    assert_false(f->c[BOB]->claims_bad);
    for (size_t i = 0; i < sizeof(NOTES) / sizeof(*NOTES); i++)
        expect(t, i, NOTES_WANT[i]);
    free_tx(f, t);

    /* Once blamed, mallory is not asked again until the token changes:
     * one round trip, no blame. */
    t = xcalloc(1, sizeof(*t));
    add_change(f, t, &NOTES[0], 0);
    assert_int_equal(judge(f, t, &blamed), 1);
    assert_int_equal(blamed, 0);
    expect(t, 0, NOTES_WANT[0]);
    free_tx(f, t);

    /* New claims (a valid sub, team 1's member): judged again, and now seen. */
    cdc_cli_set_claims(f->c[MALLORY], CDC_ROLE_AUTHENTICATED,
                       xstrdup("{\"role\":\"authenticated\",\"sub\":\"" UID_ALICE "\"}"));
    t = xcalloc(1, sizeof(*t));
    add_change(f, t, &NOTES[0], 0);
    assert_int_equal(judge(f, t, &blamed), 1);
    assert_int_equal(blamed, 0);
    expect(t, 0, (const int[NSUBS]){1, 0, 0, 1, 1});
    free_tx(f, t);
    cdc_cli_set_claims(f->c[MALLORY], CDC_ROLE_AUTHENTICATED,
                       xstrdup("{\"role\":\"authenticated\",\"sub\":\"not-a-uuid\"}"));
}

/* docs: owner = (SELECT auth.uid()) is decided in the server from the row's
 * owner and the subscriber's sub (no round trip), and the database, asked
 * the same question, agrees. */
static void plan_agrees_with_database(void **state) {
    fx_t *f = *state;
    if (!f)
        skip();
    static const row_t DOCS[] = {
        {"docs", CDC_EV_INSERT, {"1", UID_ALICE, "alice's"}},
        {"docs", CDC_EV_UPDATE, {"2", UID_BOB, "bob's"}},
        {"docs", CDC_EV_DELETE, {"3", NULL, "no owner"}},
    };
    /* mallory's sub is not a uuid: the plan cannot call it unequal, so its
     * checks go to the database, where the policy raises */
    static const int WANT[][NSUBS] = {{1, 0, 0, 1, 0}, {0, 1, 0, 1, 0}, {0, 0, 0, 1, 0}};
    for (int plan = 0; plan < 2; plan++) {
        f->c[MALLORY]->claims_bad = 1; /* keep the comparison to the decidable subscribers */
        cdc_tx_t *t = xcalloc(1, sizeof(*t));
        for (size_t i = 0; i < 3; i++)
            add_change(f, t, &DOCS[i], plan);
        int blamed;
        int trips = judge(f, t, &blamed);
        assert_int_equal(blamed, 0);
        assert_int_equal(trips, plan ? 0 : 1);
        for (size_t i = 0; i < 3; i++)
            expect(t, i, WANT[i]);
        free_tx(f, t);
    }
    f->c[MALLORY]->claims_bad = 0;
}

/* A policy that raises for a subscriber's claims, alone in its batch. */
static void policy_error_alone(void **state) {
    fx_t *f = *state;
    if (!f)
        skip();
    f->c[MALLORY]->claims_bad = 0;
    cdc_tx_t *t = xcalloc(1, sizeof(*t));
    add_change(f, t, &NOTES[1], 0);
    int blamed;
    judge(f, t, &blamed);
    assert_int_equal(blamed, 1);
    assert_true(f->c[MALLORY]->claims_bad);
    expect(t, 0, NOTES_WANT[1]);
    free_tx(f, t);
}

/* A live change for subscribers that will not get it live (alice catches
 * up from the history, bob's start is past it) asks nothing for them; the
 * same change in alice's replay chunk is judged as usual. */
static void skipped_live_matches_ask_nothing(void **state) {
    fx_t *f = *state;
    if (!f)
        skip();
    f->c[MALLORY]->claims_bad = 1; /* keep its error out of the round trips */
    f->c[ALICE]->catching_up = 1;
    f->c[BOB]->live_after = (cdc_pos_t){200, 0};
    cdc_tx_t *t = xcalloc(1, sizeof(*t));
    add_change(f, t, &NOTES[0], 0); /* alice's team: she would see it */
    add_change(f, t, &NOTES[1], 0); /* bob's team: he would see it */
    int blamed;
    uint64_t checks = met_sum(M_CDC_CHECKS);
    assert_int_equal(judge(f, t, &blamed), 1);
    assert_int_equal(met_sum(M_CDC_CHECKS) - checks, 2); /* anon's two; none for alice or bob */
    expect(t, 0, (const int[NSUBS]){0, 0, 0, 1, 0});
    expect(t, 1, (const int[NSUBS]){0, 0, 1, 1, 0});
    free_tx(f, t);

    t = xcalloc(1, sizeof(*t));
    t->replay_for = f->c[ALICE]->id;
    add_change(f, t, &NOTES[0], 0);
    checks = met_sum(M_CDC_CHECKS);
    assert_int_equal(judge(f, t, &blamed), 1);
    assert_int_equal(met_sum(M_CDC_CHECKS) - checks, 3); /* alice's, bob's and anon's */
    expect(t, 0, (const int[NSUBS]){1, 0, 0, 1, 0});
    free_tx(f, t);
    f->c[ALICE]->catching_up = 0;
    f->c[BOB]->live_after = (cdc_pos_t){0, 0};
    f->c[MALLORY]->claims_bad = 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(database_judges),
        cmocka_unit_test(plan_agrees_with_database),
        cmocka_unit_test(skipped_live_matches_ask_nothing),
        cmocka_unit_test(policy_error_alone),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
