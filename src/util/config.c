/*
 * config: see config.h. One table describes each setting once (flag,
 * environment variable, default, help), so --help can never drift from what
 * is parsed.
 */
#include "util/config.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

typedef enum { T_INT, T_SIZE, T_STR, T_BUF, T_BOOL, T_FILE } opt_type_t;

typedef struct {
    const char *flag, *env, *def, *help;
    opt_type_t type;
    size_t off, bufsz;
    long min, max;
} opt_t;

#define OFF(f) offsetof(config_t, f)
static const opt_t opts[] = {
    {"--host", "HOST", "0.0.0.0", "address to listen on", T_BUF, OFF(host), 64, 0, 0},
    {"--port", "PORT", "4000", "TCP port for HTTP and WebSocket", T_INT, OFF(port), 0, 1, 65535},
    {"--workers", "WORKERS", "0", "event-loop threads (0 = one per core)", T_INT, OFF(workers), 0, 0, 16},
    {"--jwt-secret", "API_JWT_SECRET", NULL, "HS256/384/512 secret that signs client JWTs", T_STR, OFF(jwt_secret), 0,
     0, 0},
    {"--jwks", "API_JWT_JWKS", NULL, "JWKS document (JSON text) with RS/ES public keys", T_STR, OFF(jwks_json), 0, 0,
     0},
    {"--jwks-file", "API_JWT_JWKS_FILE", NULL, "file holding a JWKS document", T_FILE, OFF(jwks_json), 0, 0, 0},
    {"--max-message-bytes", "MAX_MESSAGE_BYTES", "1048576", "largest WebSocket message accepted (close 1009 above)",
     T_INT, OFF(max_message), 0, 1024, 64 << 20},
    {"--max-channels", "MAX_CHANNELS_PER_CLIENT", "100", "channels one connection may join", T_INT, OFF(max_channels),
     0, 1, 100000},
    {"--max-connections", "MAX_CONNECTIONS", "200000", "connections accepted in all", T_INT, OFF(max_connections), 0, 1,
     10000000},
    {"--max-events-per-second", "MAX_EVENTS_PER_SECOND", "1000", "messages one connection may send per second", T_INT,
     OFF(events_per_second), 0, 1, 10000000},
    {"--max-joins-per-second", "MAX_JOINS_PER_SECOND", "100", "joins one connection may make per second", T_INT,
     OFF(joins_per_second), 0, 1, 1000000},
    {"--max-presence-per-second", "MAX_PRESENCE_EVENTS_PER_SECOND", "20",
     "presence track/untrack per connection per second", T_INT, OFF(presence_per_second), 0, 1, 1000000},
    {"--send-queue-bytes", "SEND_QUEUE_MAX_BYTES", "4194304",
     "bytes queued to one client: above it, Broadcast and Presence close it at once, Postgres Changes after "
     "--slow-consumer-ms (1013)",
     T_SIZE, OFF(send_queue_max), 0, 4096, 1L << 30},
    {"--heartbeat-interval-ms", "CLIENT_HEARTBEAT_INTERVAL_MS", "25000",
     "client heartbeat interval; silent clients are closed after twice this", T_INT, OFF(heartbeat_interval_ms), 0, 100,
     3600000},
    {"--drain-timeout-ms", "DRAIN_TIMEOUT_MS", "5000",
     "on SIGTERM, how long to wait for clients to take their close frames", T_INT, OFF(drain_timeout_ms), 0, 0, 600000},
    {"--max-body-bytes", "MAX_BODY_BYTES", "1048576", "largest HTTP request body", T_SIZE, OFF(max_body), 0, 1024,
     64 << 20},
    {"--db-host", "DB_HOST", NULL, "PostgreSQL host (unset: no database; Broadcast and Presence only)", T_STR,
     OFF(db_host), 0, 0, 0},
    {"--db-port", "DB_PORT", "5432", "PostgreSQL port", T_STR, OFF(db_port), 0, 0, 0},
    {"--db-user", "DB_USER", "authenticator", "PostgreSQL login role (switches to the caller's role per request)",
     T_STR, OFF(db_user), 0, 0, 0},
    {"--db-password", "DB_PASSWORD", NULL, "PostgreSQL password", T_STR, OFF(db_password), 0, 0, 0},
    {"--db-name", "DB_NAME", "postgres", "PostgreSQL database", T_STR, OFF(db_name), 0, 0, 0},
    {"--db-pool-size", "DB_POOL_SIZE", "4", "PostgreSQL connections per worker", T_INT, OFF(db_pool_size), 0, 1, 64},
    {"--db-replication-user", "DB_REPLICATION_USER", NULL,
     "role of the logical replication connection (unset: DB_USER); needs the REPLICATION attribute", T_STR,
     OFF(db_repl_user), 0, 0, 0},
    {"--db-replication-password", "DB_REPLICATION_PASSWORD", NULL, "its password (unset: DB_PASSWORD)", T_STR,
     OFF(db_repl_password), 0, 0, 0},
    {"--slot-name", "SLOT_NAME", "techcare_realtime",
     "permanent logical replication slot for Postgres Changes ([a-z0-9_])", T_BUF, OFF(slot_name), 64, 0, 0},
    {"--publication", "PUBLICATION", "supabase_realtime", "publication whose tables Postgres Changes streams", T_BUF,
     OFF(publication), 64, 0, 0},
    {"--messages-publication", "MESSAGES_PUBLICATION", "supabase_realtime_messages_publication",
     "publication of realtime.messages read from the same slot for Broadcast from the database (\"\": off)", T_BUF,
     OFF(messages_publication), 64, 0, 0},
    {"--messages-retention-hours", "MESSAGES_RETENTION_HOURS", "72",
     "hours realtime.messages keeps rows: older day partitions are dropped, days ahead created, hourly (0: the "
     "server leaves partitions alone)",
     T_INT, OFF(messages_retention_hours), 0, 0, 87600},
    {"--replication-ready-ms", "REPLICATION_READY_TIMEOUT_MS", "60000",
     "a join with config.broadcast.replication_ready waits this long for the replication stream before the system "
     "error",
     T_INT, OFF(replication_ready_timeout_ms), 0, 1000, 3600000},
    {"--table-events", "TABLE_EVENTS", "public.messages:INSERT,public.notifications:INSERT,public.payments:INSERT",
     "events published per table, schema.table:EVENT[|EVENT],... (tables not listed: all events)", T_STR,
     OFF(table_events), 0, 0, 0},
    {"--rest-write-grace-ms", "REST_WRITE_GRACE_MS", "5",
     "a change written through /rest/v1 is delivered this long after its HTTP answer left, so the writer reads its "
     "answer first",
     T_INT, OFF(rest_write_grace_ms), 0, 0, 1000},
    {"--postgres-changes", "POSTGRES_CHANGES", "on", "stream Postgres Changes when a database is configured (on/off)",
     T_BOOL, OFF(postgres_changes), 0, 0, 1},
    {"--jwt-exp", "JWT_EXP", "3600", "lifetime in seconds of the access tokens the auth endpoints issue", T_INT,
     OFF(jwt_exp), 0, 30, 31536000},
    {"--log-level", "LOG_LEVEL", "info", "debug, info, warn or error", T_BUF, OFF(log_level), 16, 0, 0},
    {"--debug-protocol", "DEBUG_PROTOCOL", "off", "log every protocol message in and out (on/off; tokens are redacted)",
     T_BOOL, OFF(debug_protocol), 0, 0, 1},
    {"--max-bindings-per-join", "MAX_BINDINGS_PER_JOIN", "100", "postgres_changes bindings one join may carry", T_INT,
     OFF(max_bindings_per_join), 0, 1, 100000},
    {"--max-bindings-per-client", "MAX_BINDINGS_PER_CLIENT", "500",
     "postgres_changes bindings across one connection's channels", T_INT, OFF(max_bindings_per_conn), 0, 1, 1000000},
    {"--max-filter-bytes", "MAX_FILTER_BYTES", "4096", "longest postgres_changes filter", T_INT, OFF(max_filter_bytes),
     0, 16, 65536},
    {"--max-presence-bytes", "MAX_PRESENCE_PAYLOAD_BYTES", "8192", "largest presence track payload (JSON bytes)", T_INT,
     OFF(max_presence_bytes), 0, 64, 16 << 20},
    {"--max-presence-per-client", "MAX_PRESENCE_PER_CLIENT", "10", "channels one connection may track presence on",
     T_INT, OFF(max_presence_per_conn), 0, 1, 100000},
    {"--max-connections-per-ip", "MAX_CONNECTIONS_PER_IP", "1000",
     "open connections from one client address (0 = no limit)", T_INT, OFF(max_conns_per_ip), 0, 0, 10000000},
    {"--max-channels-per-ip", "MAX_CHANNELS_PER_IP", "10000", "joined channels from one client address (0 = no limit)",
     T_INT, OFF(max_channels_per_ip), 0, 0, 100000000},
    {"--cdc-match-budget", "CDC_MATCH_BUDGET", "1000000",
     "filter work (about one byte compared each) one client address may cost per change; beyond it its other bindings "
     "do not match that change",
     T_SIZE, OFF(cdc_match_budget), 0, 1000, 1L << 40},
    {"--cdc-match-rate", "CDC_MATCH_RATE", "100000000",
     "filter work one client address may cost per second over all changes, with two seconds' worth as a burst (about a "
     "third of the CDC thread); beyond it its bindings match nothing until it recovers",
     T_SIZE, OFF(cdc_match_rate), 0, 1000, 1L << 40},
    {"--cdc-queue-bytes", "CDC_QUEUE_MAX_BYTES", "67108864",
     "decoded Postgres Changes waiting for delivery; above it the replication stream is paused (WAL waits in "
     "PostgreSQL)",
     T_SIZE, OFF(cdc_queue_max), 0, 1 << 20, 1L << 40},
    {"--cdc-backlog-bytes", "CDC_BACKLOG_MAX_BYTES", "67108864",
     "Postgres Changes bytes queued to clients and not yet written (summed over recipients); above it delivery waits "
     "for them",
     T_SIZE, OFF(cdc_backlog_max), 0, 1 << 20, 1L << 40},
    {"--cdc-history-seconds", "CDC_HISTORY_SECONDS", "600",
     "Postgres Changes kept for channels that resume after being away (by commit time; the replication slot keeps "
     "their WAL so they survive a restart); 0 keeps none and every resume is told to re-read",
     T_INT, OFF(cdc_history_seconds), 0, 0, 86400},
    {"--cdc-history-bytes", "CDC_HISTORY_MAX_BYTES", "67108864",
     "at most this many bytes of kept changes in memory; the oldest go first", T_SIZE, OFF(cdc_history_max), 0, 1 << 16,
     1L << 40},
    {"--cdc-position-every-ms", "CDC_POSITION_EVERY_MS", "30000",
     "a channel sent no change for this long is sent a newer position (system message \"Position\"), so its next "
     "resume stays inside the history",
     T_INT, OFF(cdc_position_every_ms), 0, 100, 3600000},
    {"--slow-consumer-ms", "SLOW_CONSUMER_TIMEOUT_MS", "10000",
     "a client whose send queue stays above --send-queue-bytes this long is closed (1013)", T_INT,
     OFF(slow_consumer_ms), 0, 100, 3600000},
    {"--http-header-timeout-ms", "HTTP_HEADER_TIMEOUT_MS", "10000",
     "a request's line and headers must arrive within this (else 408)", T_INT, OFF(http_header_timeout_ms), 0, 100,
     3600000},
    {"--http-body-timeout-ms", "HTTP_BODY_TIMEOUT_MS", "30000",
     "a request's body must arrive within this after its headers (else 408)", T_INT, OFF(http_body_timeout_ms), 0, 100,
     3600000},
    {"--http-idle-timeout-ms", "HTTP_IDLE_TIMEOUT_MS", "30000",
     "keep-alive connections without a request are closed after this", T_INT, OFF(http_idle_timeout_ms), 0, 100,
     3600000},
    {"--max-open-files", "MAX_OPEN_FILES", "0", "file descriptor limit to ask for at start (0 = the hard limit)", T_INT,
     OFF(max_open_files), 0, 0, 100000000},
    {"--allow-client-log-level", "ALLOW_CLIENT_LOG_LEVEL", "off",
     "honour ?log_level=debug on the socket URL (on/off; tokens are redacted either way)", T_BOOL,
     OFF(allow_client_log_level), 0, 0, 1},
    {"--web-root", "WEB_ROOT", NULL,
     "directory of the built web app (web/dist) served for GET and HEAD on non-API paths, index.html for app routes "
     "(unset: none, such paths answer 404)",
     T_STR, OFF(web_root), 0, 0, 0},
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static void usage(void) {
    printf("Usage: techcare-realtime [options]\n\n"
           "A Supabase Realtime-compatible server. Each option can also be set by the\n"
           "environment variable shown; a flag wins over the environment.\n\n");
    for (size_t i = 0; i < NOPTS; i++) {
        const opt_t *o = &opts[i];
        printf("  %-26s %-32s %s (default: %s)\n", o->flag, o->env, o->help, o->def ? o->def : "unset");
    }
    printf("  %-26s %-32s %s\n", "--help", "", "print this help");
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *s = xmalloc(cap);
    size_t n;
    while ((n = fread(s + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            s = xrealloc(s, cap);
        }
    }
    fclose(f);
    s[len] = 0;
    return s;
}

/* 1 or 0 for the spellings of a switch people write, -1 for anything else. */
static int switch_value(const char *v) {
    static const char *const on[] = {"on", "true", "yes", "1"}, *const off[] = {"off", "false", "no", "0"};
    for (size_t i = 0; i < sizeof(on) / sizeof(on[0]); i++) {
        if (!strcasecmp(v, on[i]))
            return 1;
        if (!strcasecmp(v, off[i]))
            return 0;
    }
    return -1;
}

static int set_opt(config_t *c, const opt_t *o, const char *v) {
    char *p = (char *)c + o->off;
    char *end;
    long n;
    switch (o->type) {
    case T_BOOL:
        if ((n = switch_value(v)) < 0) {
            fprintf(stderr, "techcare-realtime: %s / %s: '%s' is not a switch (on/off, true/false, yes/no, 1/0)\n",
                    o->flag, o->env, v);
            return -1;
        }
        *(int *)p = (int)n;
        return 0;
    case T_INT:
    case T_SIZE:
        errno = 0;
        n = strtol(v, &end, 10);
        if (errno || *end || end == v || n < o->min || n > o->max) {
            fprintf(stderr, "techcare-realtime: %s / %s: '%s' is not a number in [%ld, %ld]\n", o->flag, o->env, v,
                    o->min, o->max);
            return -1;
        }
        if (o->type == T_SIZE)
            *(size_t *)p = (size_t)n;
        else if (o->off == OFF(max_message))
            *(uint32_t *)p = (uint32_t)n;
        else
            *(int *)p = (int)n;
        return 0;
    case T_BUF: {
        size_t len = strlen(v);
        if (len >= o->bufsz) {
            fprintf(stderr, "techcare-realtime: %s: value too long\n", o->flag);
            return -1;
        }
        memcpy(p, v, len + 1); /* the terminator too: len < bufsz */
        return 0;
    }
    case T_STR:
        free(*(char **)p);
        *(char **)p = xstrdup(v);
        return 0;
    case T_FILE: {
        char *s = read_file(v);
        if (!s) {
            fprintf(stderr, "techcare-realtime: %s: cannot read %s\n", o->flag, v);
            return -1;
        }
        free(*(char **)p);
        *(char **)p = s;
        return 0;
    }
    }
    return -1;
}

/* An empty --web-root means none. One that is not a directory is not an
 * error: the app may be built after the server starts (http/static looks
 * the root up per request and answers 503 "not built" until then), but the
 * operator hears of it now. */
static void check_web_root(config_t *c) {
    struct stat st;
    if (c->web_root && !*c->web_root) {
        free(c->web_root);
        c->web_root = NULL;
    }
    if (!c->web_root)
        return;
    const char *why = "not a directory";
    if (stat(c->web_root, &st) != 0)
        why = strerror(errno);
    else if (S_ISDIR(st.st_mode))
        return;
    buf_t *b = buf_new(16 + strlen(c->web_root)); /* ours; released below */
    buf_json_str(&b, c->web_root, strlen(c->web_root));
    log_warn("WEB_ROOT is not a directory: the web app is not built (run scripts/run.sh); HTML routes answer 503",
             "\"web_root\":%.*s,\"error\":\"%s\"", (int)b->len, (const char *)b->data, why);
    buf_unref(b);
}

int config_load(config_t *c, int argc, char **argv) {
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < NOPTS; i++) {
        const char *v = getenv(opts[i].env);
        if (!v || !*v)
            v = opts[i].def;
        if (v && set_opt(c, &opts[i], v) < 0)
            return -1;
    }
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--help") || !strcmp(argv[a], "-h")) {
            usage();
            return 1;
        }
        const char *arg = argv[a], *val = NULL;
        const char *eq = strchr(arg, '=');
        size_t flen = eq ? (size_t)(eq - arg) : strlen(arg);
        const opt_t *o = NULL;
        for (size_t i = 0; i < NOPTS; i++)
            if (strlen(opts[i].flag) == flen && !strncmp(opts[i].flag, arg, flen))
                o = &opts[i];
        if (!o) {
            fprintf(stderr, "techcare-realtime: unknown option %s (see --help)\n", arg);
            return -1;
        }
        if (eq)
            val = eq + 1;
        else if (o->type == T_BOOL) /* "--flag" alone, or "--flag off" */
            val = a + 1 < argc && switch_value(argv[a + 1]) >= 0 ? argv[++a] : "on";
        else if (a + 1 < argc)
            val = argv[++a];
        else {
            fprintf(stderr, "techcare-realtime: %s needs a value\n", arg);
            return -1;
        }
        if (set_opt(c, o, val) < 0)
            return -1;
    }
    if (c->workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->workers = n < 1 ? 1 : n > 16 ? 16 : (int)n;
    }
    if (!c->jwt_secret && !c->jwks_json) {
        fprintf(stderr, "techcare-realtime: API_JWT_SECRET (or --jwt-secret / --jwks) is required\n");
        return -1;
    }
    check_web_root(c);
    return 0;
}

void config_free(config_t *c) {
    free(c->jwt_secret);
    free(c->jwks_json);
    free(c->db_host);
    free(c->db_port);
    free(c->db_user);
    free(c->db_password);
    free(c->db_name);
    free(c->db_repl_user);
    free(c->db_repl_password);
    free(c->table_events);
    free(c->web_root);
    c->web_root = NULL;
    c->db_repl_user = c->db_repl_password = c->table_events = NULL;
    c->db_host = c->db_port = c->db_user = c->db_password = c->db_name = NULL;
    c->jwt_secret = c->jwks_json = NULL;
}
