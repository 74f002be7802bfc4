/*
 * channel/ready: config.broadcast.replication_ready, as supabase/realtime's
 * RealtimeChannel answers it. A channel that asked gets the system message
 * {"extension":"system","status":"ok","message":"Replication connection
 * established"} once Broadcast from the database can reach it (the CDC
 * thread streams with the messages publication), right after its join
 * reply when it already does; if that does not happen within
 * REPLICATION_READY_TIMEOUT_MS (or there is no CDC thread at all), it gets
 * status "error", "Replication connection was not established in time",
 * and phx_close. The wait is checked by the socket's one-second tick.
 * It owns only the channel's ready deadline; it never joins, and never
 * frees a channel other than through chan_shutdown.
 */
#include "channel/chan_int.h"

#include "cdc/engine.h"

#define READY_OK "Replication connection established"
#define READY_LATE "Replication connection was not established in time"

void chan_ready_start(chan_t *ch) {
    if (cdc_engine_messages_live()) {
        chan_push_system(ch, "system", "ok", READY_OK);
        return;
    }
    if (!cdc_engine_running()) {
        chan_shutdown(ch, READY_LATE); /* no database or no stream configured: it never comes */
        return;
    }
    int64_t s = (chan_cfg.replication_ready_timeout_ms + 999) / 1000;
    ch->ready_deadline = chan_now_s() + (s > 0 ? s : 1);
}

int chan_ready_check(chan_t *ch, int64_t now) {
    if (!ch->ready_deadline)
        return 0;
    if (cdc_engine_messages_live()) {
        ch->ready_deadline = 0;
        chan_push_system(ch, "system", "ok", READY_OK);
        return 0;
    }
    if (now < ch->ready_deadline)
        return 0;
    chan_shutdown(ch, READY_LATE);
    return 1;
}
