/*
 * metrics: see metrics.h. Names follow Prometheus conventions; gauges are
 * sums of per-thread deltas (a connection opened on one thread and closed
 * on another still nets to zero).
 */
#include "metrics/metrics.h"

#include <pthread.h>

_Thread_local met_block_t *met_local;

static met_block_t *blocks[64];
static _Atomic int nblocks;
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;

static const struct {
    const char *name, *type, *help;
} defs[M_COUNT] = {
    [M_CONNECTIONS] = {"realtime_connections", "gauge", "Open WebSocket connections"},
    [M_CHANNELS] = {"realtime_channels", "gauge", "Joined channels"},
    [M_CONNECTS] = {"realtime_connects_total", "counter", "WebSocket upgrades accepted"},
    [M_MSG_IN] = {"realtime_messages_in_total", "counter", "Protocol messages received"},
    [M_MSG_OUT] = {"realtime_messages_out_total", "counter", "Frames queued to clients"},
    [M_BYTES_IN] = {"realtime_bytes_in_total", "counter", "Bytes received"},
    [M_BYTES_OUT] = {"realtime_bytes_out_total", "counter", "Bytes written to sockets"},
    [M_JOINS] = {"realtime_joins_total", "counter", "Channel joins accepted"},
    [M_JOIN_ERRORS] = {"realtime_join_errors_total", "counter", "Channel joins refused"},
    [M_BROADCASTS] = {"realtime_broadcasts_total", "counter", "Broadcasts published"},
    [M_PRESENCE] = {"realtime_presence_events_total", "counter", "Presence track and untrack events"},
    [M_PROTOCOL_ERRORS] = {"realtime_protocol_errors_total", "counter", "Malformed frames or messages"},
    [M_AUTH_ERRORS] = {"realtime_auth_errors_total", "counter", "Refused tokens"},
    [M_RATE_LIMITED] = {"realtime_rate_limited_total", "counter", "Messages refused by a rate limit"},
    [M_SLOW_CLOSES] = {"realtime_slow_consumer_closes_total", "counter",
                       "Clients closed because their send queue was full"},
    [M_IDLE_CLOSES] = {"realtime_idle_closes_total", "counter", "Clients closed for missing heartbeats"},
    [M_HTTP_REQUESTS] = {"realtime_http_requests_total", "counter", "HTTP requests served"},
    [M_CDC_TXS] = {"realtime_cdc_transactions_total", "counter", "transactions delivered from the replication stream"},
    [M_CDC_EVENTS] = {"realtime_cdc_events_total", "counter",
                      "postgres_changes messages published (one per topic per change)"},
    [M_CDC_STREAMING] = {"realtime_cdc_streaming", "gauge", "1 while the logical replication stream is up"},
    [M_CDC_CHANNELS] = {"realtime_cdc_channels", "gauge", "channels with postgres_changes bindings"},
    [M_CDC_QUEUED] = {"realtime_cdc_queued_transactions", "gauge",
                      "committed transactions waiting to be authorized and delivered"},
    [M_CDC_CHECKS] = {"realtime_cdc_rls_checks_total", "counter",
                      "row-level security checks run in the database (rows x claims)"},
    [M_LIM_BINDINGS] = {"realtime_limit_bindings_total", "counter",
                        "joins refused: too many postgres_changes bindings per join or per connection"},
    [M_LIM_FILTER] = {"realtime_limit_filter_bytes_total", "counter",
                      "joins refused: a postgres_changes filter too long"},
    [M_LIM_PRESENCE] = {"realtime_limit_presence_total", "counter",
                        "presence tracks refused: payload too large or too many tracked channels per connection"},
    [M_LIM_CONNS_IP] = {"realtime_limit_connections_per_ip_total", "counter",
                        "connections refused: too many from one client address"},
    [M_LIM_CHANNELS_IP] = {"realtime_limit_channels_per_ip_total", "counter",
                           "joins refused: too many channels from one client address"},
    [M_LIM_FILES] = {"realtime_limit_open_files_total", "counter",
                     "connections refused near the file descriptor limit"},
    [M_HTTP_TIMEOUTS] = {"realtime_http_timeouts_total", "counter",
                         "HTTP connections closed for a header, body or idle deadline"},
    [M_CDC_BUDGET] = {"realtime_cdc_match_budget_exceeded_total", "counter",
                      "changes on which one client address's filters used up their work budget"},
    [M_CDC_PAUSES] = {"realtime_cdc_stream_pauses_total", "counter",
                      "times the replication stream was paused because delivery was behind"},
    [M_CDC_QUEUE_BYTES] = {"realtime_cdc_queue_bytes", "gauge",
                           "decoded changes waiting to be authorized and delivered, bytes"},
    [M_CDC_BACKLOG] = {"realtime_cdc_backlog_bytes", "gauge",
                       "postgres_changes bytes queued to clients and not yet written (summed over recipients)"},
    [M_CDC_LAG_MS] = {"realtime_cdc_lag_ms", "gauge",
                      "milliseconds from the commit of the last transaction published to its publication (database and "
                      "server clocks)"},
    [M_CDC_HISTORY_CHANGES] = {"realtime_cdc_history_changes", "gauge",
                               "changes kept in the history resumes are served from"},
    [M_CDC_HISTORY_BYTES] = {"realtime_cdc_history_bytes", "gauge", "bytes the history's changes take"},
    [M_CDC_HISTORY_EVICTED] = {"realtime_cdc_history_evicted_total", "counter",
                               "changes the history let go for their age or its bytes bound"},
    [M_CDC_CATCHING_UP] = {"realtime_cdc_catching_up_channels", "gauge",
                           "channels replaying what they missed from the history"},
    [M_CDC_RESUMES] = {"realtime_cdc_resumes_total", "counter", "joins that resumed Postgres Changes from a position"},
    [M_CDC_RESUME_MISSES] = {"realtime_cdc_resume_misses_total", "counter",
                             "joins that asked to resume and were told to re-read (recovered: false)"},
    [M_CDC_REPLAYED] = {"realtime_cdc_replayed_changes_total", "counter",
                        "changes queued for replay to resuming channels (before authorization)"},
};

void met_register(met_block_t *b) {
    pthread_mutex_lock(&reg_mu);
    int n = atomic_load(&nblocks);
    if (n < 64) {
        blocks[n] = b;
        atomic_store(&nblocks, n + 1);
    }
    pthread_mutex_unlock(&reg_mu);
    met_local = b;
}

uint64_t met_sum(met_id_t id) {
    uint64_t s = 0;
    int n = atomic_load(&nblocks);
    for (int i = 0; i < n; i++)
        s += atomic_load_explicit(&blocks[i]->v[id], memory_order_relaxed);
    return s;
}

void met_render(buf_t **out) {
    for (int i = 0; i < M_COUNT; i++) {
        buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", defs[i].name, defs[i].help, defs[i].name, defs[i].type,
                   defs[i].name, (long long)met_sum((met_id_t)i));
    }
}
