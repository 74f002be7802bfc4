/*
 * cdc/stream: the logical replication connection. Opens a libpq
 * replication connection (replication=database), creates the permanent
 * slot with the pgoutput plugin on first start, START_REPLICATION from the
 * slot's confirmed position with proto_version and publication_names,
 * reads CopyData without blocking on a libuv loop, answers keepalives, and
 * sends standby status updates that confirm an LSN only once the caller
 * says its changes were handed on (cdc_stream_confirm). Reconnects with
 * backoff when PostgreSQL restarts; since the slot only moves on confirmed
 * LSNs, nothing is lost, and the caller skips what it already delivered.
 * It never decodes pgoutput (cdc/pgoutput does).
 */
#ifndef TC_CDC_STREAM_H
#define TC_CDC_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct cdc_stream cdc_stream_t;

typedef struct {
    const char *host, *port, *user, *password, *dbname;
    const char *slot;        /* SLOT_NAME */
    const char *publication; /* supabase_realtime */
    int proto_version;       /* 1..4; 2+ allows streaming=on */
    int streaming;           /* ask for streaming of large in-progress transactions */
    int status_interval_ms;  /* standby status update period (default 1000) */
} cdc_stream_config_t;

typedef struct {
    /* One pgoutput message: wal_start is the XLogData's start LSN. data is
     * valid during the call. */
    void (*on_message)(void *ud, uint64_t wal_start, const uint8_t *data, size_t len);
    /* Connected and streaming (after every reconnect too). */
    void (*on_streaming)(void *ud);
    /* The connection dropped; a reconnect is scheduled. */
    void (*on_lost)(void *ud, const char *why);
} cdc_stream_cb_t;

/* Starts connecting on loop. Free with cdc_stream_close. */
cdc_stream_t *cdc_stream_new(uv_loop_t *loop, const cdc_stream_config_t *cfg, const cdc_stream_cb_t *cb, void *ud);
/* Everything up to lsn was handed on: the next status update may confirm
 * it (flush and apply positions), letting PostgreSQL recycle WAL. */
void cdc_stream_confirm(cdc_stream_t *s, uint64_t lsn);
/* Closes the connection and handles; memory goes once libuv closed them. */
void cdc_stream_close(cdc_stream_t *s);
/* Text form of an LSN ("16/B374D848"). */
void cdc_lsn_text(uint64_t lsn, char out[24]);

#endif
