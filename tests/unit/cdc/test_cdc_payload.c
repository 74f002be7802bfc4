/*
 * Unit tests for cdc/payload: RELATION, INSERT, UPDATE and DELETE messages
 * built byte by byte as pgoutput writes them, decoded with pgo_decode,
 * turned into the `data` object and the event payload, and read back with
 * jansson field by field: types, columns, record and old_record by replica
 * identity, unchanged TOAST values, select trimming, lsn and ids.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdc/payload.h"

typedef struct {
    uint8_t b[2048];
    size_t n;
} msg_t;
static void w_u8(msg_t *m, uint8_t v) { m->b[m->n++] = v; }
static void w_u16(msg_t *m, uint16_t v) {
    w_u8(m, (uint8_t)(v >> 8));
    w_u8(m, (uint8_t)v);
}
static void w_u32(msg_t *m, uint32_t v) {
    w_u16(m, (uint16_t)(v >> 16));
    w_u16(m, (uint16_t)v);
}
static void w_str(msg_t *m, const char *s) {
    memcpy(m->b + m->n, s, strlen(s) + 1);
    m->n += strlen(s) + 1;
}
static void w_text(msg_t *m, const char *s) {
    w_u8(m, 't');
    w_u32(m, (uint32_t)strlen(s));
    memcpy(m->b + m->n, s, strlen(s));
    m->n += strlen(s);
}
static void w_col(msg_t *m, int key, const char *name, uint32_t oid) {
    w_u8(m, (uint8_t)key);
    w_str(m, name);
    w_u32(m, oid);
    w_u32(m, 0xFFFFFFFF);
}
/* A tuple of 4 cells: "n" NULL, "u" unchanged TOAST, anything else text. */
static void w_tuple(msg_t *m, const char *const v[4]) {
    w_u16(m, 4);
    for (int i = 0; i < 4; i++) {
        if (strcmp(v[i], "n") == 0)
            w_u8(m, 'n');
        else if (strcmp(v[i], "u") == 0)
            w_u8(m, 'u');
        else
            w_text(m, v[i]);
    }
}

#define RELID 16384
#define COMMIT_US 1234567 /* 2000-01-01T00:00:01.234Z */
#define LSN 0x16B3748ULL

typedef struct {
    pgo_decoder_t *d;
    pgo_msg_t m;
    msg_t raw;
} fx_t;

/* public.todos (id int8 key, title text, done bool, due timestamptz). */
static int setup(void **state) {
    fx_t *f = calloc(1, sizeof(*f));
    f->d = pgo_decoder_new(1);
    msg_t r = {.n = 0};
    w_u8(&r, 'R');
    w_u32(&r, RELID);
    w_str(&r, "public");
    w_str(&r, "todos");
    w_u8(&r, 'd');
    w_u16(&r, 4);
    w_col(&r, 1, "id", 20);
    w_col(&r, 0, "title", 25);
    w_col(&r, 0, "done", 16);
    w_col(&r, 0, "due", 1184);
    pgo_msg_t pm;
    if (pgo_decode(f->d, r.b, r.n, &pm, NULL, 0) != 0)
        return -1;
    pgo_msg_clear(&pm);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx_t *f = *state;
    pgo_decoder_free(f->d);
    free(f);
    return 0;
}

static void decode(fx_t *f) {
    char err[128];
    int rc = pgo_decode(f->d, f->raw.b, f->raw.n, &f->m, err, sizeof(err));
    if (rc != 0)
        fail_msg("decode: %s", err);
}

/* Parses b as JSON (asserting it is) and checks the fields every data object has. */
static json_t *parse_data(buf_t *b, const char *type) {
    json_error_t je;
    assert_non_null(b);
    json_t *j = json_loadb((const char *)b->data, b->len, 0, &je);
    if (!j)
        fail_msg("bad JSON: %s in %.*s", je.text, (int)b->len, (const char *)b->data);
    assert_string_equal(json_string_value(json_object_get(j, "schema")), "public");
    assert_string_equal(json_string_value(json_object_get(j, "table")), "todos");
    assert_string_equal(json_string_value(json_object_get(j, "commit_timestamp")), "2000-01-01T00:00:01.234Z");
    assert_string_equal(json_string_value(json_object_get(j, "type")), type);
    assert_true(json_is_null(json_object_get(j, "errors")));
    assert_string_equal(json_string_value(json_object_get(j, "lsn")), "0/16B3748");
    assert_true(json_is_object(json_object_get(j, "record")));
    assert_true(json_is_object(json_object_get(j, "old_record")));
    assert_int_equal(json_object_size(j), 9);
    return j;
}

static void check_columns(json_t *j, const char *const *names, const char *const *types, size_t n) {
    json_t *cols = json_object_get(j, "columns");
    assert_true(json_is_array(cols));
    assert_int_equal(json_array_size(cols), n);
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(cols, i);
        assert_int_equal(json_object_size(c), 2);
        assert_string_equal(json_string_value(json_object_get(c, "name")), names[i]);
        assert_string_equal(json_string_value(json_object_get(c, "type")), types[i]);
    }
}

static const char *ALL_NAMES[] = {"id", "title", "done", "due"};
static const char *ALL_TYPES[] = {"int8", "text", "bool", "timestamptz"};

static void test_insert(void **state) {
    fx_t *f = *state;
    f->raw.n = 0;
    w_u8(&f->raw, 'I');
    w_u32(&f->raw, RELID);
    w_u8(&f->raw, 'N');
    w_tuple(&f->raw, (const char *const[]){"5", "say \"hi\"", "t", "2024-01-01 10:00:00+00"});
    decode(f);
    buf_t *b = cdc_payload_data(f->d, &f->m, COMMIT_US, LSN);
    json_t *j = parse_data(b, "INSERT");
    check_columns(j, ALL_NAMES, ALL_TYPES, 4);
    json_t *rec = json_object_get(j, "record");
    assert_int_equal(json_object_size(rec), 4);
    assert_int_equal(json_integer_value(json_object_get(rec, "id")), 5);
    assert_string_equal(json_string_value(json_object_get(rec, "title")), "say \"hi\"");
    assert_true(json_is_true(json_object_get(rec, "done")));
    assert_string_equal(json_string_value(json_object_get(rec, "due")), "2024-01-01T10:00:00+00:00");
    assert_int_equal(json_object_size(json_object_get(j, "old_record")), 0);

    /* the event wrapper: ids as numbers in the given order, data verbatim */
    uint32_t ids[] = {7, 1, 4294967295u};
    buf_t *ev = cdc_payload_event(ids, 3, b);
    json_t *e = json_loadb((const char *)ev->data, ev->len, 0, NULL);
    assert_non_null(e);
    assert_int_equal(json_object_size(e), 2);
    json_t *ja = json_object_get(e, "ids");
    assert_int_equal(json_array_size(ja), 3);
    assert_true(json_is_integer(json_array_get(ja, 0)));
    assert_int_equal(json_integer_value(json_array_get(ja, 0)), 7);
    assert_int_equal(json_integer_value(json_array_get(ja, 1)), 1);
    assert_int_equal(json_integer_value(json_array_get(ja, 2)), 4294967295LL);
    assert_true(json_equal(json_object_get(e, "data"), j));
    const char *prefix = "{\"ids\":[7,1,4294967295],\"data\":";
    assert_memory_equal(ev->data, prefix, strlen(prefix));
    json_decref(e);
    buf_unref(ev);
    ev = cdc_payload_event(NULL, 0, b);
    e = json_loadb((const char *)ev->data, ev->len, 0, NULL);
    assert_non_null(e);
    assert_int_equal(json_array_size(json_object_get(e, "ids")), 0);
    json_decref(e);
    buf_unref(ev);

    json_decref(j);
    buf_unref(b);
    pgo_msg_clear(&f->m);
}

static void test_update_default_identity_toast(void **state) {
    fx_t *f = *state;
    f->raw.n = 0;
    w_u8(&f->raw, 'U');
    w_u32(&f->raw, RELID);
    w_u8(&f->raw, 'N');
    w_tuple(&f->raw, (const char *const[]){"5", "u", "f", "n"});
    decode(f);
    buf_t *b = cdc_payload_data(f->d, &f->m, COMMIT_US, LSN);
    json_t *j = parse_data(b, "UPDATE");
    check_columns(j, ALL_NAMES, ALL_TYPES, 4);
    json_t *rec = json_object_get(j, "record");
    assert_int_equal(json_object_size(rec), 3);
    assert_null(json_object_get(rec, "title")); /* unchanged TOAST: key left out */
    assert_true(json_is_false(json_object_get(rec, "done")));
    assert_true(json_is_null(json_object_get(rec, "due")));
    assert_non_null(json_object_get(rec, "due"));
    assert_int_equal(json_object_size(json_object_get(j, "old_record")), 0);
    json_decref(j);
    buf_unref(b);
    pgo_msg_clear(&f->m);
}

static void test_update_full_identity(void **state) {
    fx_t *f = *state;
    f->raw.n = 0;
    w_u8(&f->raw, 'U');
    w_u32(&f->raw, RELID);
    w_u8(&f->raw, 'O');
    w_tuple(&f->raw, (const char *const[]){"4", "long text", "t", "u"});
    w_u8(&f->raw, 'N');
    w_tuple(&f->raw, (const char *const[]){"5", "u", "f", "u"});
    decode(f);
    buf_t *b = cdc_payload_data(f->d, &f->m, COMMIT_US, LSN);
    json_t *j = parse_data(b, "UPDATE");
    json_t *rec = json_object_get(j, "record");
    assert_int_equal(json_object_size(rec), 3);
    assert_int_equal(json_integer_value(json_object_get(rec, "id")), 5);
    /* unchanged TOAST taken from the full old row... */
    assert_string_equal(json_string_value(json_object_get(rec, "title")), "long text");
    /* ...unless the old row lacks it too */
    assert_null(json_object_get(rec, "due"));
    json_t *old = json_object_get(j, "old_record");
    assert_int_equal(json_object_size(old), 3);
    assert_int_equal(json_integer_value(json_object_get(old, "id")), 4);
    assert_string_equal(json_string_value(json_object_get(old, "title")), "long text");
    assert_true(json_is_true(json_object_get(old, "done")));
    json_decref(j);
    buf_unref(b);
    pgo_msg_clear(&f->m);
}

static void test_delete_key(void **state) {
    fx_t *f = *state;
    f->raw.n = 0;
    w_u8(&f->raw, 'D');
    w_u32(&f->raw, RELID);
    w_u8(&f->raw, 'K');
    w_tuple(&f->raw, (const char *const[]){"9", "n", "n", "n"});
    decode(f);
    buf_t *b = cdc_payload_data(f->d, &f->m, COMMIT_US, ((uint64_t)0xA << 32) | 0xBC);
    json_error_t je;
    json_t *j = json_loadb((const char *)b->data, b->len, 0, &je);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "DELETE");
    assert_string_equal(json_string_value(json_object_get(j, "lsn")), "A/BC");
    check_columns(j, ALL_NAMES, ALL_TYPES, 4);
    assert_int_equal(json_object_size(json_object_get(j, "record")), 0);
    json_t *old = json_object_get(j, "old_record");
    assert_int_equal(json_object_size(old), 1); /* key columns only */
    assert_int_equal(json_integer_value(json_object_get(old, "id")), 9);
    json_decref(j);
    buf_unref(b);
    pgo_msg_clear(&f->m);
}

static void test_delete_full(void **state) {
    fx_t *f = *state;
    f->raw.n = 0;
    w_u8(&f->raw, 'D');
    w_u32(&f->raw, RELID);
    w_u8(&f->raw, 'O');
    w_tuple(&f->raw, (const char *const[]){"9", "bye", "n", "2024-06-30 23:59:59.5+00"});
    decode(f);
    buf_t *b = cdc_payload_data(f->d, &f->m, COMMIT_US, LSN);
    json_t *j = parse_data(b, "DELETE");
    assert_int_equal(json_object_size(json_object_get(j, "record")), 0);
    json_t *old = json_object_get(j, "old_record");
    assert_int_equal(json_object_size(old), 4);
    assert_string_equal(json_string_value(json_object_get(old, "title")), "bye");
    assert_true(json_is_null(json_object_get(old, "done")));
    assert_string_equal(json_string_value(json_object_get(old, "due")), "2024-06-30T23:59:59.5+00:00");
    json_decref(j);
    buf_unref(b);
    pgo_msg_clear(&f->m);
}

static void test_select(void **state) {
    fx_t *f = *state;
    f->raw.n = 0;
    w_u8(&f->raw, 'U');
    w_u32(&f->raw, RELID);
    w_u8(&f->raw, 'O');
    w_tuple(&f->raw, (const char *const[]){"4", "a", "t", "n"});
    w_u8(&f->raw, 'N');
    w_tuple(&f->raw, (const char *const[]){"4", "b", "f", "n"});
    decode(f);
    const char *sel[] = {"done", "nosuch"};
    buf_t *b = cdc_payload_data_select(f->d, &f->m, COMMIT_US, LSN, sel, 2);
    json_t *j = parse_data(b, "UPDATE");
    /* the key column stays, as supabase keeps the primary key */
    check_columns(j, (const char *const[]){"id", "done"}, (const char *const[]){"int8", "bool"}, 2);
    json_t *rec = json_object_get(j, "record"), *old = json_object_get(j, "old_record");
    assert_int_equal(json_object_size(rec), 2);
    assert_true(json_is_false(json_object_get(rec, "done")));
    assert_int_equal(json_integer_value(json_object_get(rec, "id")), 4);
    assert_int_equal(json_object_size(old), 2);
    assert_true(json_is_true(json_object_get(old, "done")));
    json_decref(j);
    buf_unref(b);
    /* an empty selection is every column */
    b = cdc_payload_data_select(f->d, &f->m, COMMIT_US, LSN, sel, 0);
    j = parse_data(b, "UPDATE");
    check_columns(j, ALL_NAMES, ALL_TYPES, 4);
    json_decref(j);
    buf_unref(b);
    pgo_msg_clear(&f->m);
}

static void test_not_a_change(void **state) {
    fx_t *f = *state;
    f->raw.n = 0;
    w_u8(&f->raw, 'B');
    w_u32(&f->raw, 0);
    w_u32(&f->raw, 0x100);
    w_u32(&f->raw, 0);
    w_u32(&f->raw, 0);
    w_u32(&f->raw, 77);
    decode(f);
    assert_null(cdc_payload_data(f->d, &f->m, 0, 0));
    pgo_msg_clear(&f->m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_insert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_default_identity_toast, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_full_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_select, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_change, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
