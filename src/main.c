/*
 * techcare-realtime: start-up and shutdown. Loads the configuration and the
 * JWT keys, hands each module the part it needs through its init call,
 * installs the handlers the transport calls up through (the HTTP session
 * at accept, hub pacing after each flush, the token cache at thread exit),
 * starts the worker threads, then waits in the main thread for
 * SIGTERM/SIGINT, which drains every worker (clients get close 1001) and
 * exits 0. main owns the configuration and the keys: both outlive the
 * workers.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "api/gotrue.h"
#include "api/realtime.h"
#include "auth/jwt.h"
#include "auth/token_cache.h"
#include "cdc/engine.h"
#include "channel/socket.h"
#include "http/session.h"
#include "http/static.h"
#include "hub/hub.h"
#include "net/server.h"
#include "rest/http.h"
#include "util/config.h"
#include "util/log.h"
#include "util/mem.h"

static uv_signal_t sigterm, sigint;

/* Drain the workers; closing both handles lets the main loop return, and
 * main then waits for the workers to finish. */
static void on_signal(uv_signal_t *h, int signum) {
    (void)h;
    log_info("shutting down", "\"signal\":%d", signum);
    srv_drain();
    uv_close((uv_handle_t *)&sigterm, NULL);
    uv_close((uv_handle_t *)&sigint, NULL);
    /* Closing the handles restored the default actions. A terminal's Ctrl-C
     * reaches both a wrapper script and us, and the script passes it on as
     * SIGTERM: that second signal must not kill the drain it asked for. The
     * drain is bounded (DRAIN_TIMEOUT_MS); SIGKILL still stops us at once. */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
}

static void close_walk(uv_handle_t *h, void *arg) {
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Watches SIGTERM and SIGINT on loop (once each: on_signal then ignores
 * them). Returns 0, or a libuv error (logged). */
static int watch_signals(uv_loop_t *loop) {
    int r;
    if ((r = uv_signal_init(loop, &sigterm)) < 0 || (r = uv_signal_init(loop, &sigint)) < 0 ||
        (r = uv_signal_start_oneshot(&sigterm, on_signal, SIGTERM)) < 0 ||
        (r = uv_signal_start_oneshot(&sigint, on_signal, SIGINT)) < 0)
        log_error("cannot watch signals", "\"error\":\"%s\"", uv_strerror(r));
    return r < 0 ? r : 0;
}

/* Closes every handle left on loop (the signal watchers) and the loop. */
static void close_loop(uv_loop_t *loop) {
    uv_walk(loop, close_walk, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    if (uv_loop_close(loop) < 0)
        log_warn("main loop still busy at exit", "%s", "\"loop\":\"default\"");
}

/* The modules above net get their part of the configuration here, before
 * any worker runs. */
static void init_modules(const config_t *c, const jwt_keyring_t *keys) {
    chan_config_t cc = {c->max_channels,        c->events_per_second,           c->joins_per_second,
                        c->presence_per_second, c->max_bindings_per_join,       c->max_bindings_per_conn,
                        c->max_filter_bytes,    c->max_presence_bytes,          c->max_presence_per_conn,
                        c->max_channels_per_ip, c->replication_ready_timeout_ms};
    chan_socket_init(&cc, keys);
    http_session_config_t hc = {c->max_body, c->http_header_timeout_ms, c->http_body_timeout_ms,
                                c->http_idle_timeout_ms};
    http_session_init(&hc);
    /* The HTTP endpoints register into http/routes' table, complete before
     * any worker reads it. */
    rtapi_register(keys, c->allow_client_log_level);
    gotrue_register(c->jwt_secret, c->jwt_exp, keys);
    rest_http_register(keys);
    if (c->web_root)
        static_register(c->web_root, c->send_queue_max);
}

static int start_cdc(const config_t *c) {
    if (!c->db_host || !c->postgres_changes)
        return 0;
    cdc_engine_config_t ec = {c->db_host,
                              c->db_port,
                              c->db_user,
                              c->db_password,
                              c->db_name,
                              c->db_repl_user ? c->db_repl_user : c->db_user,
                              c->db_repl_password ? c->db_repl_password : c->db_password,
                              c->slot_name,
                              c->publication,
                              c->table_events,
                              0,
                              c->rest_write_grace_ms,
                              c->cdc_queue_max,
                              c->cdc_backlog_max,
                              c->cdc_match_budget,
                              c->cdc_match_rate,
                              c->messages_publication,
                              c->messages_retention_hours,
                              c->max_message,
                              c->cdc_history_seconds,
                              c->cdc_history_max,
                              c->cdc_position_every_ms};
    return cdc_engine_start(&ec);
}

static int start_workers(const config_t *c) {
    static db_config_t dc;
    dc = (db_config_t){c->db_host, c->db_port, c->db_user, c->db_password, c->db_name, c->db_pool_size, 4096};
    srv_config_t sc = {
        .host = c->host,
        .port = c->port,
        .workers = c->workers,
        .max_connections = c->max_connections,
        .max_open_files = c->max_open_files,
        .max_conns_per_ip = c->max_conns_per_ip,
        .send_queue_max = c->send_queue_max,
        .slow_consumer_ms = c->slow_consumer_ms,
        .heartbeat_interval_ms = c->heartbeat_interval_ms,
        .max_message = c->max_message,
        .drain_timeout_ms = c->drain_timeout_ms,
        .db = c->db_host ? &dc : NULL,
        .cdc = c->db_host && c->postgres_changes,
        .accept = &http_session_handler,
        .after_flush = hub_paced_poll,
        .thread_exit = tok_cache_free,
    };
    return srv_start(&sc);
}

int main(int argc, char **argv) {
    int rc = 1;
    static config_t cfg; /* the workers read parts of it until srv_join */
    jwt_keyring_t *keys = NULL;
    /* Before anything parses JSON: jansson then allocates under the
     * project's out-of-memory policy (util/mem). */
    mem_json_init();
    int r = config_load(&cfg, argc, argv);
    if (r != 0)
        return r > 0 ? 0 : 2;
    int lvl = log_parse_level(cfg.log_level);
    if (lvl < 0) {
        fprintf(stderr, "techcare-realtime: unknown log level '%s'\n", cfg.log_level);
        goto out_cfg;
    }
    log_min_level = (log_level_t)lvl;
    log_protocol = cfg.debug_protocol;
    signal(SIGPIPE, SIG_IGN);

    char err[256] = "";
    const char *secret = cfg.jwt_secret;
    keys = jwt_keyring_new((const uint8_t *)secret, secret ? strlen(secret) : 0, cfg.jwks_json, err, sizeof(err));
    if (!keys) {
        log_error("cannot use the JWT keys", "\"error\":\"%s\"", err);
        goto out_cfg;
    }
    init_modules(&cfg, keys);
    hub_init(cfg.workers);
    /* Signals are watched before anything listens: a supervisor (or a
     * test) that sees the port open may stop us at once, and that SIGTERM
     * must drain, not kill. One that comes early waits in libuv's pipe
     * until uv_run below. */
    uv_loop_t *loop = uv_default_loop();
    if (watch_signals(loop) < 0)
        goto out_loop;
    if (start_cdc(&cfg) < 0)
        goto out_loop;
    if (start_workers(&cfg) < 0)
        goto out_cdc;
    log_info("listening", "\"host\":\"%s\",\"port\":%d,\"workers\":%d,\"path\":\"/realtime/v1/websocket\"", cfg.host,
             cfg.port, srv.nworkers);
    uv_run(loop, UV_RUN_DEFAULT);
    /* Before the workers are freed: the CDC thread posts to them. */
    cdc_engine_stop();
    srv_join();
    close_loop(loop);
    hub_shutdown();
    log_info("stopped", "%s", "\"exit\":0");
    rc = 0;
    goto out_keys;
out_cdc:
    cdc_engine_stop();
out_loop:
    close_loop(loop);
out_keys:
    jwt_keyring_free(keys);
out_cfg:
    config_free(&cfg);
    return rc;
}
