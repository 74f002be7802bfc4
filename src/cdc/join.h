/*
 * cdc/join: a channel's postgres_changes join on the CDC thread. It
 * validates each binding against the catalog (table exists, is published,
 * the event is published for it, the filter and select list parse), then
 * registers them (cdc/clients, cdc/subs) and answers the worker with each
 * binding's wire id, or with why the join is refused. A join waits while
 * the catalog or the replication stream is not there yet (up to the
 * configured join timeout), and reads the catalog once more before it
 * calls a table unknown.
 *
 * It owns the waiting join commands. It never registers part of a join:
 * either every binding is registered, or none stays.
 */
#ifndef TC_CDC_JOIN_H
#define TC_CDC_JOIN_H

/* The reason a join is refused with when the stream or the catalog was
 * not there within the join timeout: the one refusal a later attempt may
 * not get (channel/pgwait.c tries again while its client's wait lasts). */
#define CDC_JOIN_UNREACHABLE "Realtime was unable to connect to the project database"

typedef struct cdc_eng cdc_eng_t;
typedef struct cdc_cmd cdc_cmd_t;

/* Queues join command c (taken) behind those already waiting. *tail caches
 * the end of the waiting list between calls of one command round: start
 * it at NULL. */
void cdc_join_enqueue(cdc_eng_t *e, cdc_cmd_t *c, cdc_cmd_t ***tail);
/* Answers every waiting join it can (catalog and stream are up, or the
 * join timed out). */
void cdc_join_try(cdc_eng_t *e);
/* The refusal a join gets when the server stops before answering it. */
#define CDC_JOIN_STOPPING "Postgres Changes stopped: the server is shutting down"

/* Answers join command c (not taken) with a refusal, through its worker's
 * mailbox like every answer: the worker owns the join's channel state,
 * and a worker that has already closed its mailbox drops the answer
 * (run = 0) only after its connections are gone. */
void cdc_join_refuse(cdc_cmd_t *c, const char *reason);
/* At stop: every waiting join is refused with CDC_JOIN_STOPPING and freed. */
void cdc_join_cancel_all(cdc_eng_t *e);

#endif
