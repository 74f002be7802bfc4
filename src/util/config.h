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
    char *jwt_secret;       /* API_JWT_SECRET; NULL if unset */
    char *jwks_json;        /* API_JWT_JWKS (JSON text) or the contents of --jwks-file */
    uint32_t max_message;   /* bytes */
    int max_channels;       /* per connection */
    int max_connections;
    int events_per_second;  /* per connection, all inbound messages */
    int joins_per_second;   /* per connection */
    int presence_per_second;/* per connection, track/untrack */
    size_t send_queue_max;  /* bytes queued to one client before it is closed */
    int heartbeat_interval_ms; /* the client's; idle clients are closed after twice this */
    int drain_timeout_ms;
    size_t max_body;        /* HTTP request body */
    /* database: unset DB_HOST = no database (Broadcast and Presence only) */
    char *db_host, *db_port, *db_user, *db_password, *db_name;
    int db_pool_size;       /* connections per worker */
    char *db_repl_user, *db_repl_password; /* replication connection (NULL: db_user / db_password) */
    char slot_name[64];     /* SLOT_NAME */
    char publication[64];
    char *table_events;     /* per-table event limits (cdc/catalog syntax) */
    int postgres_changes;   /* stream Postgres Changes when a database is configured */
    int rest_write_grace_ms; /* REST write answered -> its changes delivered */
    int jwt_exp;            /* seconds: lifetime of access tokens the auth subset issues */
    char log_level[16];
    int debug_protocol;
} config_t;

/* Fills c from argv and the environment. Returns 0, 1 if --help was
 * printed (the caller exits 0), or -1 after printing an error. Strings
 * are heap-allocated; config_free releases them. */
int config_load(config_t *c, int argc, char **argv);
void config_free(config_t *c);

#endif
