/*
 * cdc/join: see join.h.
 */
#include "cdc/join.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdc/engine_int.h"
#include "cdc/filter.h"
#include "hub/hub.h"
#include "util/mem.h"

typedef struct {
    void (*done)(void *, int, const char *, const char *);
    void *ud;
    char *response, *reason;
} answer_t;

static void run_answer(void *arg, int run) {
    answer_t *a = arg;
    a->done(a->ud, run, a->response, a->reason);
    free(a->response);
    free(a->reason);
    free(a);
}

/* Sends the answer to the join's worker; takes response. */
static void answer(cdc_cmd_t *c, char *response, const char *reason) {
    answer_t *a = xcalloc(1, sizeof(*a));
    a->done = c->done;
    a->ud = c->ud;
    a->response = response;
    a->reason = reason ? xstrdup(reason) : NULL;
    hub_call(c->worker, run_answer, a);
}

static const char *jstr(json_t *o, const char *key, const char *def) {
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : def;
}

/* The text identical bindings share: what realtime-js compares, plus the
 * select list (it shapes the payload). Long filters make distinct keys
 * that may not fit: they get the unique internal id instead. */
static const char *binding_key(const char *event, const char *schema, const char *table, const char *filter,
                               json_t *sel, char *out, size_t outsz) {
    char *seltext = json_is_array(sel) ? json_dumps(sel, JSON_COMPACT) : NULL;
    int n = snprintf(out, outsz, "%s\x1f%s\x1f%s\x1f%s\x1f%s", event, schema, table, filter ? filter : "\x1e",
                     seltext ? seltext : "");
    free(seltext);
    return n >= 0 && (size_t)n < outsz ? out : NULL;
}

/* Checks the select list against the table: reason set if a column is not
 * one of its. Returns the names (borrowed from sel; free the array). */
static const char **select_columns(json_t *sel, const cdc_table_t *tb, size_t *ncols, char *reason, size_t rsz) {
    *ncols = 0;
    if (!json_is_array(sel) || json_array_size(sel) == 0)
        return NULL;
    size_t n = json_array_size(sel);
    const char **cols = xcalloc(n, sizeof(*cols));
    for (size_t k = 0; k < n && !reason[0]; k++) {
        const char *name = json_string_value(json_array_get(sel, k));
        int found = 0;
        for (size_t m = 0; name && tb && m < tb->ncols; m++)
            found |= !strcmp(tb->cols[m].name, name);
        if (!found)
            snprintf(reason, rsz, "Unable to subscribe to changes with given parameters: invalid column for select: %s",
                     name ? name : "(not a string)");
        cols[k] = name;
    }
    *ncols = n;
    return cols;
}

/* Outcome of one binding. */
enum { BIND_OK, BIND_REFUSED, BIND_RELOAD };

/* Validates binding b of join c and registers it on cl. On BIND_OK its
 * answer (b with its wire id) is appended to resp; BIND_REFUSED sets
 * reason; BIND_RELOAD: the table may have been created since the catalog
 * was read. */
static int bind_one(cdc_eng_t *e, cdc_cmd_t *c, cdc_client_t *cl, json_t *b, json_t *resp, char *reason, size_t rsz) {
    char key[1024];
    if (!json_is_object(b)) {
        snprintf(reason, rsz, "postgres_changes bindings must be objects");
        return BIND_REFUSED;
    }
    const char *event = jstr(b, "event", "*");
    const char *schema = jstr(b, "schema", "public");
    const char *table = jstr(b, "table", "*");
    const char *filter = jstr(b, "filter", NULL);
    json_t *sel = json_object_get(b, "select");
    unsigned mask = cdc_subs_event_mask(event);
    const cdc_table_t *tb = NULL;
    if (strcmp(table, "*") != 0 && strcmp(schema, "*") != 0) {
        tb = cdc_cat_find(e->cat, schema, table);
        if (!tb && (c->cat_gen == UINT64_MAX || c->cat_gen == e->cat_gen))
            return BIND_RELOAD; /* maybe created since the catalog was read: read it again once */
        if (!tb) {
            snprintf(reason, rsz, "Unable to subscribe to changes with given parameters: table %s.%s does not exist",
                     schema, table);
            return BIND_REFUSED;
        }
        if (!tb->published) {
            snprintf(reason, rsz,
                     "Unable to subscribe to changes with given parameters: table %s.%s is not in publication %s",
                     schema, table, e->cfg.publication);
            return BIND_REFUSED;
        }
        unsigned asked = mask;
        if ((asked & tb->events) != asked && asked != CDC_EV_ALL) {
            snprintf(reason, rsz,
                     "Unable to subscribe to changes with given parameters: event %s is not published for %s.%s "
                     "(this server publishes only %s%s%s)",
                     event, schema, table, tb->events & CDC_EV_INSERT ? "INSERT " : "",
                     tb->events & CDC_EV_UPDATE ? "UPDATE " : "", tb->events & CDC_EV_DELETE ? "DELETE" : "");
            return BIND_REFUSED;
        }
    } else if (filter && *filter) {
        snprintf(reason, rsz, "filters need an explicit schema and table");
        return BIND_REFUSED;
    }
    cdc_filter_t *f = NULL;
    char ferr[256];
    if (filter && *filter && tb) { /* tb: set whenever a filter got here */
        f = cdc_filter_parse(filter, tb->cols, tb->ncols, ferr, sizeof(ferr));
        if (!f) {
            snprintf(reason, rsz, "Unable to subscribe to changes with given parameters: %s", ferr);
            return BIND_REFUSED;
        }
    }
    size_t ncols;
    const char **cols = select_columns(sel, tb, &ncols, reason, rsz);
    if (reason[0]) {
        free(cols);
        cdc_filter_free(f);
        return BIND_REFUSED;
    }
    char aerr[256];
    uint32_t id = cdc_subs_add_budget(e->reg.subs, cl, mask, schema, table, f, tb ? tb->ncols : 0, cols, ncols, aerr,
                                      sizeof(aerr), &cl->budget->b);
    free(cols);
    if (!id) {
        snprintf(reason, rsz, "Unable to subscribe to changes with given parameters: %s", aerr);
        return BIND_REFUSED;
    }
    const char *bkey = binding_key(event, schema, table, filter, sel, key, sizeof(key));
    uint32_t wire = cdc_cli_add_binding(&e->reg, cl, bkey, id);
    json_t *copy = json_deep_copy(b);
    json_object_set_new(copy, "id", json_integer(wire));
    json_array_append_new(resp, copy);
    return BIND_OK;
}

/* Validates and registers every binding of join c. Returns 1 when done
 * (answered), 0 to wait for a fresh catalog. */
static int do_join(cdc_eng_t *e, cdc_cmd_t *c) {
    char reason[512];
    json_t *arr = json_loads(c->bindings, 0, NULL);
    json_t *resp = json_array();
    size_t n = json_array_size(arr);
    cdc_client_t *cl =
        cdc_cli_new(&e->reg, c->client, c->topic, c->topic_len, c->is_private, c->peer,
                    2 * e->cfg.match_rate /* two seconds' worth as a burst */, c->role, xstrdup(c->claims));
    reason[0] = 0;
    int r = BIND_OK;
    for (size_t i = 0; i < n && r == BIND_OK; i++)
        r = bind_one(e, c, cl, json_array_get(arr, i), resp, reason, sizeof(reason));
    json_decref(arr);
    if (r != BIND_OK) {
        cdc_cli_discard(&e->reg, cl);
        json_decref(resp);
        if (r == BIND_RELOAD)
            return 0;
        answer(c, NULL, reason);
        return 1;
    }
    cl->resume_asked = c->resume != NULL; /* decided when it goes live (cdc/resume) */
    cl->resume = c->resume;
    c->resume = NULL;
    cdc_cli_insert(&e->reg, cl);
    json_t *o = json_object();
    json_object_set_new(o, "postgres_changes", resp);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    answer(c, text, NULL);
    return 1;
}

void cdc_join_enqueue(cdc_eng_t *e, cdc_cmd_t *c, cdc_cmd_t ***tail) {
    c->cat_gen = UINT64_MAX;
    c->deadline_ms = cdc_eng_now(e) + (uint64_t)e->cfg.join_timeout_ms;
    c->next = NULL;
    /* the end of the list is found once per round, and only when a join
     * came (commands are processed for every WAL message) */
    if (!*tail)
        for (*tail = &e->joins; **tail;)
            *tail = &(**tail)->next;
    **tail = c;
    *tail = &c->next;
}

void cdc_join_try(cdc_eng_t *e) {
    cdc_cmd_t **p = &e->joins;
    while (*p) {
        cdc_cmd_t *c = *p;
        int done = 0;
        if (e->cat && e->streaming) {
            done = do_join(e, c);
            if (!done) {
                c->cat_gen = e->cat_gen; /* one reload, then the table is really unknown */
                cdc_eng_request_catalog(e);
            }
        } else if (cdc_eng_now(e) >= c->deadline_ms) {
            answer(c, NULL, CDC_JOIN_UNREACHABLE);
            done = 1;
        } else if (!e->cat) {
            cdc_eng_request_catalog(e);
        }
        if (done) {
            *p = c->next;
            cdc_cmd_free(c);
        } else {
            p = &c->next;
        }
    }
}

void cdc_join_refuse(cdc_cmd_t *c, const char *reason) { answer(c, NULL, reason); }

void cdc_join_cancel_all(cdc_eng_t *e) {
    while (e->joins) {
        cdc_cmd_t *c = e->joins;
        e->joins = c->next;
        cdc_join_refuse(c, CDC_JOIN_STOPPING);
        cdc_cmd_free(c);
    }
}
