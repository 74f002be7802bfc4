/*
 * cdc/payload: owns the shape of the postgres_changes `data` object and of
 * the event payload around it. It builds bytes from a decoded message and
 * must never decide who receives them (cdc/subs does) nor touch a socket.
 * Each change's data is built once, then wrapped per distinct ids list.
 */
#include "cdc/payload.h"

#include <inttypes.h>
#include <string.h>

#include "util/mem.h"

/* Which columns a payload carries: want NULL is all of them. */
typedef struct {
    const uint8_t *want;
} cols_t;

static int col_wanted(const cols_t *c, size_t i) { return !c->want || c->want[i]; }

/* Appends "name":value when v carries a value; returns 1 if it did. */
static int put_field(const pgo_decoder_t *d, const pgo_column_t *col, const pgo_value_t *v, int first, buf_t **out) {
    if (!v || v->kind == 'u')
        return 0;
    if (!first)
        buf_putc(out, ',');
    buf_json_str(out, col->name, strlen(col->name));
    buf_putc(out, ':');
    pgo_value_json(d, col->type_oid, v, out);
    return 1;
}

static void put_columns(const pgo_decoder_t *d, const pgo_relation_t *rel, const cols_t *sel, buf_t **out) {
    int first = 1;
    buf_puts(out, "\"columns\":[");
    for (size_t i = 0; i < rel->ncols; i++) {
        if (!col_wanted(sel, i))
            continue;
        const char *type = pgo_type_name(d, rel->cols[i].type_oid);
        if (!first)
            buf_putc(out, ',');
        first = 0;
        buf_puts(out, "{\"name\":");
        buf_json_str(out, rel->cols[i].name, strlen(rel->cols[i].name));
        buf_puts(out, ",\"type\":");
        /* A type no TYPE message named: realtime-js then leaves the value as sent. */
        type = type ? type : "unknown";
        buf_json_str(out, type, strlen(type));
        buf_putc(out, '}');
    }
    buf_putc(out, ']');
}

/* record: the new row; unchanged TOAST values from a full old row when it
 * has them, else left out. */
static void put_record(const pgo_decoder_t *d, const pgo_msg_t *m, const cols_t *sel, buf_t **out) {
    const pgo_relation_t *rel = m->rel;
    int first = 1;
    buf_puts(out, "\"record\":{");
    if (m->kind != PGO_DELETE)
        for (size_t i = 0; i < rel->ncols; i++) {
            if (!col_wanted(sel, i) || i >= m->new_tuple.natts)
                continue;
            const pgo_value_t *v = &m->new_tuple.values[i];
            if (v->kind == 'u' && m->old_kind == 'O' && i < m->old_tuple.natts)
                v = &m->old_tuple.values[i];
            if (put_field(d, &rel->cols[i], v, first, out))
                first = 0;
        }
    buf_putc(out, '}');
}

/* old_record: what the old tuple carries (key columns only for a key tuple). */
static void put_old_record(const pgo_decoder_t *d, const pgo_msg_t *m, const cols_t *sel, buf_t **out) {
    const pgo_relation_t *rel = m->rel;
    int first = 1;
    buf_puts(out, "\"old_record\":{");
    if (m->kind != PGO_INSERT && m->old_kind)
        for (size_t i = 0; i < rel->ncols && i < m->old_tuple.natts; i++) {
            if (!col_wanted(sel, i))
                continue;
            if (m->old_kind == 'K' && !rel->cols[i].is_key)
                continue; /* sent as NULL by pgoutput, but really unknown */
            if (put_field(d, &rel->cols[i], &m->old_tuple.values[i], first, out))
                first = 0;
        }
    buf_putc(out, '}');
}

buf_t *cdc_payload_data_cols(const pgo_decoder_t *d, const pgo_msg_t *m, int64_t commit_time, uint64_t lsn,
                             const uint8_t *want) {
    const cols_t sel = {want};
    const char *type;
    switch (m->kind) {
    case PGO_INSERT: type = "INSERT"; break;
    case PGO_UPDATE: type = "UPDATE"; break;
    case PGO_DELETE: type = "DELETE"; break;
    default: return NULL;
    }
    if (!m->rel)
        return NULL;
    char ts[32];
    pgo_timestamp_iso(commit_time, ts);
    buf_t *b = buf_new(256 + (size_t)m->rel->ncols * 48);
    buf_puts(&b, "{\"schema\":");
    buf_json_str(&b, m->rel->schema, strlen(m->rel->schema));
    buf_puts(&b, ",\"table\":");
    buf_json_str(&b, m->rel->name, strlen(m->rel->name));
    buf_puts(&b, ",\"commit_timestamp\":");
    buf_json_str(&b, ts, strlen(ts));
    buf_printf(&b, ",\"type\":\"%s\",", type);
    put_columns(d, m->rel, &sel, &b);
    buf_putc(&b, ',');
    put_record(d, m, &sel, &b);
    buf_putc(&b, ',');
    put_old_record(d, m, &sel, &b);
    buf_printf(&b, ",\"errors\":null,\"lsn\":\"%" PRIX32 "/%" PRIX32 "\"}", (uint32_t)(lsn >> 32), (uint32_t)lsn);
    return b;
}

buf_t *cdc_payload_data_select(const pgo_decoder_t *d, const pgo_msg_t *m, int64_t commit_time, uint64_t lsn,
                               const char *const *select, size_t nselect) {
    if (!select || !nselect || !m->rel)
        return cdc_payload_data_cols(d, m, commit_time, lsn, NULL);
    uint8_t *want = xcalloc(m->rel->ncols ? m->rel->ncols : 1, 1);
    for (size_t i = 0; i < m->rel->ncols; i++) {
        want[i] = m->rel->cols[i].is_key;
        for (size_t k = 0; k < nselect && !want[i]; k++)
            want[i] = select[k] && strcmp(select[k], m->rel->cols[i].name) == 0;
    }
    buf_t *b = cdc_payload_data_cols(d, m, commit_time, lsn, want);
    free(want);
    return b;
}

buf_t *cdc_payload_data(const pgo_decoder_t *d, const pgo_msg_t *m, int64_t commit_time, uint64_t lsn) {
    return cdc_payload_data_cols(d, m, commit_time, lsn, NULL);
}

buf_t *cdc_payload_event(const uint32_t *ids, size_t nids, const buf_t *data) {
    buf_t *b = buf_new(32 + nids * 11 + data->len);
    buf_puts(&b, "{\"ids\":[");
    for (size_t i = 0; i < nids; i++)
        buf_printf(&b, i ? ",%" PRIu32 : "%" PRIu32, ids[i]);
    buf_puts(&b, "],\"data\":");
    buf_append(&b, data->data, data->len);
    buf_putc(&b, '}');
    return b;
}
