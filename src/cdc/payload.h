/*
 * cdc/payload: the JSON realtime-js reads in a postgres_changes event,
 * built once per change and shared by every subscriber it goes to:
 *   data = {"schema","table","commit_timestamp","type","columns":[{"name","type"}],
 *           "record":{...},"old_record":{...},"errors":null,"lsn":"0/16B3748"}
 *   event payload = {"ids":[1,2],"data":<data>}
 * I/O-free: it reads a decoded pgoutput message and appends bytes.
 *
 * Shaping follows supabase/realtime's apply_rls:
 *  - record: the new row for INSERT and UPDATE, {} for DELETE. A column
 *    whose new value is an unchanged TOASTed value ('u': not sent by
 *    PostgreSQL) takes the old row's value when the old row carries it
 *    (replica identity full), and is otherwise left out of record: an
 *    absent key, never a made-up value;
 *  - old_record: for UPDATE and DELETE, the columns the old tuple carries
 *    (only the replica identity's key columns when it is a key tuple, all
 *    but unchanged TOAST values for a full old row); {} when there is none
 *    and always for INSERT;
 *  - with a select list, record, old_record and columns keep only the
 *    selected columns plus the replica identity's key columns (supabase
 *    keeps the primary key whatever the selection);
 *  - "lsn" is extra (realtime-js ignores unknown keys): the change's WAL
 *    position, PostgreSQL's %X/%X text.
 */
#ifndef TC_CDC_PAYLOAD_H
#define TC_CDC_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "cdc/pgoutput.h"
#include "util/buf.h"

/* The `data` object of an INSERT, UPDATE or DELETE message m (decoded by d,
 * which names the types; NULL knows built-in types only). commit_time: the
 * transaction's commit time (µs since 2000-01-01, from BEGIN/COMMIT).
 * Returns a new buf with one reference for the caller (buf_unref), or NULL
 * when m is not such a message. */
buf_t *cdc_payload_data(const pgo_decoder_t *d, const pgo_msg_t *m, int64_t commit_time, uint64_t lsn);
/* The same with only the selected columns (plus key columns); select NULL
 * or nselect 0 is every column. */
buf_t *cdc_payload_data_select(const pgo_decoder_t *d, const pgo_msg_t *m, int64_t commit_time, uint64_t lsn,
                               const char *const *select, size_t nselect);
/* The same with the columns want[i] != 0 (one flag per relation column;
 * NULL = all). The server keeps the selected columns plus the table's
 * primary key (from its catalog): with replica identity FULL every column
 * is a replica identity key, so the decoder's key flags cannot say which
 * columns are the primary key. */
buf_t *cdc_payload_data_cols(const pgo_decoder_t *d, const pgo_msg_t *m, int64_t commit_time, uint64_t lsn,
                             const uint8_t *want);
/* {"ids":[...],"data":<data>} with the ids as JSON numbers in the order
 * given. data is only read. Returns a new buf (caller buf_unref). */
buf_t *cdc_payload_event(const uint32_t *ids, size_t nids, const buf_t *data);

#endif
