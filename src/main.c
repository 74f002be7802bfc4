/*
 * techcare-realtime: start-up and shutdown. Loads the configuration and the
 * JWT keys, starts the worker threads, then waits in the main thread for
 * SIGTERM/SIGINT, which drains every worker (clients get close 1001) and
 * exits 0.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "api/gotrue.h"
#include "api/realtime.h"
#include "auth/jwt.h"
#include "cdc/engine.h"
#include "http/static.h"
#include "hub/hub.h"
#include "net/server.h"
#include "rest/http.h"
#include "util/config.h"
#include "util/log.h"

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

int main(int argc, char **argv) {
    int rc = 1;
    int r = config_load(&srv.cfg, argc, argv);
    if (r != 0)
        return r > 0 ? 0 : 2;
    int lvl = log_parse_level(srv.cfg.log_level);
    if (lvl < 0) {
        fprintf(stderr, "techcare-realtime: unknown log level '%s'\n", srv.cfg.log_level);
        goto out_cfg;
    }
    log_min_level = (log_level_t)lvl;
    log_protocol = srv.cfg.debug_protocol;
    signal(SIGPIPE, SIG_IGN);

    char err[256] = "";
    const char *secret = srv.cfg.jwt_secret;
    srv.keys = jwt_keyring_new((const uint8_t *)secret, secret ? strlen(secret) : 0, srv.cfg.jwks_json, err, sizeof(err));
    if (!srv.keys) {
        log_error("cannot use the JWT keys", "\"error\":\"%s\"", err);
        goto out_cfg;
    }
    /* The HTTP endpoints, each handed what it needs; the route table is
     * complete before any worker reads it. */
    rtapi_register(srv.keys, srv.cfg.allow_client_log_level);
    gotrue_register(srv.cfg.jwt_secret, srv.cfg.jwt_exp, srv.keys);
    rest_http_register(srv.keys);
    if (srv.cfg.web_root)
        static_register(srv.cfg.web_root, srv.cfg.send_queue_max);
    srv.nworkers = srv.cfg.workers;
    hub_init(srv.nworkers);
    if (srv.cfg.db_host && srv.cfg.postgres_changes) {
        const config_t *c = &srv.cfg;
        cdc_engine_config_t ec = {c->db_host, c->db_port, c->db_user, c->db_password, c->db_name,
                                  c->db_repl_user ? c->db_repl_user : c->db_user,
                                  c->db_repl_password ? c->db_repl_password : c->db_password,
                                  c->slot_name, c->publication, c->table_events, 0, c->rest_write_grace_ms,
                                  c->cdc_queue_max, c->cdc_backlog_max, c->cdc_match_budget,
                                  c->cdc_match_rate};
        if (cdc_engine_start(&ec) < 0)
            goto out_keys;
    }
    if (srv_start() < 0)
        goto out_cdc;
    log_info("listening", "\"host\":\"%s\",\"port\":%d,\"workers\":%d,\"path\":\"/realtime/v1/websocket\"",
             srv.cfg.host, srv.cfg.port, srv.nworkers);

    uv_loop_t *loop = uv_default_loop();
    uv_signal_init(loop, &sigterm);
    uv_signal_init(loop, &sigint);
    uv_signal_start_oneshot(&sigterm, on_signal, SIGTERM);
    uv_signal_start_oneshot(&sigint, on_signal, SIGINT);
    uv_run(loop, UV_RUN_DEFAULT);
    /* Before the workers are freed: the CDC thread posts to them. */
    cdc_engine_stop();
    srv_join();
    uv_walk(loop, close_walk, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    hub_shutdown();
    log_info("stopped", "%s", "\"exit\":0");
    rc = 0;
    goto out_keys;
out_cdc:
    cdc_engine_stop();
out_keys:
    jwt_keyring_free(srv.keys);
out_cfg:
    config_free(&srv.cfg);
    return rc;
}
