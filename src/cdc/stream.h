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
 *
 * What the caller sees after a reconnect (on_streaming again). PostgreSQL
 * resumes decoding at the slot's confirmed_flush_lsn F and sends, each one
 * complete from its BEGIN, every transaction whose commit LSN (BEGIN's
 * final_lsn, COMMIT's commit_lsn) is >= F; transactions that committed
 * before F are never sent again, and no transaction arrives in part. F is
 * at most the highest LSN given to cdc_stream_confirm, but may be lower:
 * the last status update may not have reached the server, and PostgreSQL
 * 15 writes confirmed_flush_lsn to disk only when the slot is saved for
 * other reasons, so a server restart (even a clean one) can move it back.
 * So whole transactions the caller already handed on may come again,
 * always before any new one and in the original commit order. With the
 * recommended confirm of COMMIT's end_lsn, a transaction was handed on
 * already iff its commit LSN < the highest LSN confirmed (strictly: the
 * next commit record may start exactly at the previous one's end_lsn);
 * skip it whole, deciding at its BEGIN. A transaction whose COMMIT had not
 * arrived when the connection dropped comes again from its BEGIN: drop
 * what was buffered of it on on_lost. With streaming, an in-progress
 * transaction streamed before the loss is streamed again from its start.
 * The decoder's relation cache stays valid: a new session sends RELATION
 * before a relation's first change.
 *
 * Callbacks run on the loop and may call cdc_stream_confirm and
 * cdc_stream_close (nothing more is delivered after close).
 */
#ifndef TC_CDC_STREAM_H
#define TC_CDC_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct cdc_stream cdc_stream_t;

typedef struct {
    const char *host, *port, *user, *password, *dbname;
    const char *slot;        /* SLOT_NAME: [a-z0-9_], 1..63 bytes (it goes into the command text) */
    const char *publication; /* supabase_realtime: [A-Za-z0-9_], 1..63 bytes, case kept */
    /* A second publication read from the same slot (Broadcast from the
     * database: supabase_realtime_messages_publication), same character
     * set; NULL or "" for none. When it does not exist the stream runs on
     * the first alone (logged) and cdc_stream_has_second says so. */
    const char *publication2;
    int proto_version;      /* 1..4 (PostgreSQL 15 knows up to 3); 2+ allows streaming=on */
    int streaming;          /* ask for streaming of large in-progress transactions */
    int status_interval_ms; /* standby status update period (<= 0: 1000) */
} cdc_stream_config_t;

typedef struct {
    /* One pgoutput message: wal_start is the XLogData's start LSN, which
     * PostgreSQL sets only on the last message of a decoding step and
     * leaves 0 on those sent ahead of it (RELATION, TYPE, ORIGIN): use the
     * LSNs inside BEGIN/COMMIT for positions. data is valid during the
     * call. */
    void (*on_message)(void *ud, uint64_t wal_start, const uint8_t *data, size_t len);
    /* Connected and streaming (after every reconnect too). */
    void (*on_streaming)(void *ud);
    /* A connection attempt failed or the running stream dropped (why says
     * which); a reconnect is scheduled. Called for every failed attempt,
     * so it may come several times between two on_streaming. */
    void (*on_lost)(void *ud, const char *why);
} cdc_stream_cb_t;

/* Copies cfg and starts connecting on loop. Returns NULL (and logs) when
 * cfg is invalid: slot or publication name outside the sets above,
 * proto_version outside 1..4. Free with cdc_stream_close. */
cdc_stream_t *cdc_stream_new(uv_loop_t *loop, const cdc_stream_config_t *cfg, const cdc_stream_cb_t *cb, void *ud);
/* Everything up to lsn was handed on: the next status update may confirm
 * it (flush and apply positions), letting PostgreSQL recycle WAL. Confirm
 * COMMIT's end_lsn (STREAM COMMIT's for streamed transactions). Lower
 * values than before are ignored; never more than received is reported.
 * When everything received has been confirmed, a keepalive's position is
 * confirmed too (like PostgreSQL's own subscriber), so the slot keeps
 * moving while the published tables are quiet and the rest of the
 * database is not; that skips nothing, since a keepalive comes after every
 * transaction that committed before its position. Answers to keepalives
 * that ask for one carry no flush position (only the write position), so
 * that what the caller holds back never holds a PostgreSQL shutdown; the
 * periodic updates move the slot. */
void cdc_stream_confirm(cdc_stream_t *s, uint64_t lsn);
/* Never confirms past lsn (the caller keeps a window of WAL on purpose),
 * whatever was handed on; lsn may move both ways, but the slot never goes
 * back (nothing below the session's start is reported). */
void cdc_stream_hold(cdc_stream_t *s, uint64_t lsn);
/* The slot's confirmed position when this session started (PostgreSQL
 * sends every transaction committed at or after it). */
uint64_t cdc_stream_start_lsn(const cdc_stream_t *s);
/* How far the walsender has gone, as last heard (a keepalive's position,
 * or the last message's: for logical replication both headers carry
 * that, not the server's WAL end): every transaction that committed
 * before it was sent already. */
uint64_t cdc_stream_received(const cdc_stream_t *s);
/* The server's WAL end as last heard (XLogData, keepalives, or
 * IDENTIFY_SYSTEM at connect): every commit before it was already
 * written. */
uint64_t cdc_stream_wal_end(const cdc_stream_t *s);
/* Pauses (1) or resumes (0) reading: while paused no message is delivered
 * (the current callback's loop stops after it returns), the socket is not
 * read, and PostgreSQL keeps the WAL; status updates continue. A pause
 * lasts across reconnects until resumed. */
void cdc_stream_pause(cdc_stream_t *s, int paused);
/* Sends a last status update if it can without blocking, closes the
 * connection and handles; memory goes once libuv closed them. */
void cdc_stream_close(cdc_stream_t *s);
/* 1 while streaming with the second publication among publication_names. */
int cdc_stream_has_second(const cdc_stream_t *s);
/* Text form of an LSN ("16/B374D848"). */
void cdc_lsn_text(uint64_t lsn, char out[24]);

#endif
