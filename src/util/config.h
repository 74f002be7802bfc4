/*
 * config: every setting of the server, from flags, then environment
 * variables (the names supabase/realtime's self-hosting uses where one
 * exists), then defaults. It parses and validates once at start-up and is
 * read-only afterwards; it never reaches into other modules.
 */
#ifndef TC_UTIL_CONFIG_H
#define TC_UTIL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char host[64];
    int port;
    int workers;
    char *jwt_secret;     /* API_JWT_SECRET; NULL if unset */
    char *jwks_json;      /* API_JWT_JWKS (JSON text) or the contents of --jwks-file */
    uint32_t max_message; /* bytes */
    int max_channels;     /* per connection */
    int max_connections;
    int events_per_second;     /* per connection, all inbound messages */
    int joins_per_second;      /* per connection */
    int presence_per_second;   /* per connection, track/untrack */
    size_t send_queue_max;     /* bytes queued to one client before it is closed */
    int heartbeat_interval_ms; /* the client's; idle clients are closed after twice this */
    int drain_timeout_ms;
    size_t max_body; /* HTTP request body */
    /* database: unset DB_HOST = no database (Broadcast and Presence only) */
    char *db_host, *db_port, *db_user, *db_password, *db_name;
    int db_pool_size;                      /* connections per worker */
    char *db_repl_user, *db_repl_password; /* replication connection (NULL: db_user / db_password) */
    char slot_name[64];                    /* SLOT_NAME */
    char publication[64];
    char messages_publication[64];    /* Broadcast from the database ("": off) */
    int messages_retention_hours;     /* realtime.messages partitions kept (0: no upkeep) */
    int replication_ready_timeout_ms; /* config.broadcast.replication_ready's wait */
    char *table_events;               /* per-table event limits (cdc/catalog syntax) */
    int postgres_changes;             /* stream Postgres Changes when a database is configured */
    int rest_write_grace_ms;          /* REST write answered -> its changes delivered */
    int jwt_exp;                      /* seconds: lifetime of access tokens the auth subset issues */
    char log_level[16];
    int debug_protocol;
    /* isolation: what one client (connection or address) may cost others;
     * every limit is refused with a reason naming it (docs/ARCHITECTURE.md,
     * "Isolation") */
    int max_bindings_per_join;  /* postgres_changes bindings in one join */
    int max_bindings_per_conn;  /* ... across a connection's channels */
    int max_filter_bytes;       /* one binding's filter text */
    int max_presence_bytes;     /* one presence track payload (JSON text) */
    int max_presence_per_conn;  /* channels one connection tracks presence on */
    int max_conns_per_ip;       /* open connections from one client address (0: no limit) */
    int max_channels_per_ip;    /* joined channels from one client address (0: no limit) */
    size_t cdc_match_budget;    /* filter work units per client address per change */
    size_t cdc_match_rate;      /* ... and per second (leaky bucket of one second) */
    size_t cdc_queue_max;       /* decoded changes held before the stream is paused */
    size_t cdc_backlog_max;     /* Postgres Changes bytes published, not yet written */
    int cdc_history_seconds;    /* changes kept for resumes, by commit time (0: none) */
    size_t cdc_history_max;     /* ... and their bytes at most */
    int cdc_position_every_ms;  /* a quiet channel is told a newer position this often */
    int slow_consumer_ms;       /* a queue above send_queue_max this long closes (1013) */
    int http_header_timeout_ms; /* request line + headers must arrive within this */
    int http_body_timeout_ms;   /* the body within this after the headers */
    int http_idle_timeout_ms;   /* keep-alive connection without a request */
    int max_open_files;         /* RLIMIT_NOFILE to ask for (0: the hard limit) */
    int allow_client_log_level; /* honour ?log_level=debug from clients */
    char *web_root;             /* WEB_ROOT: the built web app served at / (NULL: none, http/static) */
} config_t;

/* Fills c from argv and the environment. Returns 0, 1 if --help was
 * printed (the caller exits 0), or -1 after printing an error. Strings
 * are heap-allocated; config_free releases them. */
int config_load(config_t *c, int argc, char **argv);
void config_free(config_t *c);

#endif
