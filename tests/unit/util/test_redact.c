/*
 * test_redact: util/redact against what must never reach a log line
 * (tokens, passwords, refresh tokens) and what must (everything else, byte
 * for byte). Covers the frames realtime-js really sends, escapes that hide
 * a key or a token from a naive scan, input cut anywhere, and a random run
 * that checks two invariants: no JWT-shaped run survives, and valid JSON
 * stays valid JSON.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/redact.h"

/* A real HS256 token's shape (its parts need not verify here). */
#define JWT "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoiYW5vbiIsImV4cCI6MTcwMDAwMDYwMH0.c2lnbmF0dXJlLWJ5dGVz"

/* The redacted form of in[0..len), NUL-terminated; the caller frees it. */
static char *red_n(const char *in, size_t len) {
    buf_t *b = buf_new(len + 16);
    redact_json(in, len, &b);
    char *s = malloc(b->len + 1);
    assert_non_null(s);
    memcpy(s, b->data, b->len);
    s[b->len] = 0;
    buf_unref(b);
    return s;
}

static char *red(const char *in) { return red_n(in, strlen(in)); }

static void expect(const char *in, const char *want) {
    char *got = red(in);
    if (strcmp(got, want) != 0)
        fail_msg("redact_json(%s)\n  got  %s\n  want %s", in, got, want);
    free(got);
}

/* 1 if s holds a JWT-shaped run anywhere. */
static int any_jwt(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (redact_jwt_len(s + i, n - i))
            return 1;
    return 0;
}

/* ---- keys --------------------------------------------------------------------- */

static void test_secret_keys(void **state) {
    (void)state;
    const char *secret[] = {"access_token",  "user_token",   "apikey",        "token",
                            "refresh_token", "password",     "authorization", "Authorization",
                            "ACCESS_TOKEN",  "X-Api-Key",    "api_key",       "provider_refresh_token",
                            "client_secret", "new_password", "Cookie",        "jwt"};
    for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
        assert_true(redact_key_is_secret(secret[i], strlen(secret[i])));
    const char *plain[] = {"topic",  "event",    "payload", "ref",     "join_ref",
                           "config", "presence", "key",     "email",   "postgres_changes",
                           "filter", "user_id",  "status",  "message", ""};
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
        assert_false(redact_key_is_secret(plain[i], strlen(plain[i])));
}

/* ---- frames realtime-js sends --------------------------------------------------- */

static void test_join_frames(void **state) {
    (void)state;
    /* vsn 2.0.0 join with the user's token */
    expect("[\"1\",\"1\",\"realtime:room\",\"phx_join\",{\"config\":{\"broadcast\":{\"self\":false},"
           "\"presence\":{\"key\":\"\"},\"postgres_changes\":[],\"private\":false},\"access_token\":\"" JWT "\"}]",
           "[\"1\",\"1\",\"realtime:room\",\"phx_join\",{\"config\":{\"broadcast\":{\"self\":false},"
           "\"presence\":{\"key\":\"\"},\"postgres_changes\":[],\"private\":false},\"access_token\":\"[redacted]\"}]");
    /* vsn 1.0.0, the legacy user_token */
    expect("{\"topic\":\"realtime:a\",\"event\":\"phx_join\",\"payload\":{\"user_token\":\"" JWT
           "\"},\"ref\":\"1\",\"join_ref\":\"1\"}",
           "{\"topic\":\"realtime:a\",\"event\":\"phx_join\",\"payload\":{\"user_token\":\"[redacted]\"},"
           "\"ref\":\"1\",\"join_ref\":\"1\"}");
    /* the access_token message: the event name stays, the token goes */
    expect("[\"1\",\"7\",\"realtime:a\",\"access_token\",{\"access_token\":\"" JWT "\"}]",
           "[\"1\",\"7\",\"realtime:a\",\"access_token\",{\"access_token\":\"[redacted]\"}]");
    /* a secret that is not a JWT (publishable key, refresh token) goes by its key */
    expect("{\"apikey\":\"sb_publishable_abc\",\"refresh_token\":\"r3fr35h\",\"password\":\"hunter2\"}",
           "{\"apikey\":\"[redacted]\",\"refresh_token\":\"[redacted]\",\"password\":\"[redacted]\"}");
}

static void test_plain_frames_unchanged(void **state) {
    (void)state;
    const char *keep[] = {
        "[null,\"2\",\"phoenix\",\"heartbeat\",{}]",
        "[\"1\",\"3\",\"realtime:room\",\"broadcast\",{\"type\":\"broadcast\",\"event\":\"msg\",\"payload\":{\"t\":"
        "\"hi \\\"there\\\" \\u00e9\",\"n\":-1.5e3,\"ok\":true,\"no\":null}}]",
        "{\"status\":\"ok\",\"response\":{\"postgres_changes\":[{\"event\":\"*\",\"schema\":\"public\","
        "\"table\":\"bookings\",\"filter\":\"customer_id=eq.c0000000-0000-4000-8000-000000000001\",\"id\":1}]}}",
        "  { \"a\" : [ 1 , 2 , { \"b\" : \"eyJ not a token\" } ] }  ",
        "[\"x.y.z\",\"eyJhbGci\",\"eyJa.b\",\"hello.eyJ.x\"]",
        "",
        "not json at all: { ] \" , : 12",
    };
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
        expect(keep[i], keep[i]);
}

/* ---- the value of a secret key ------------------------------------------------------ */

static void test_secret_values_of_every_type(void **state) {
    (void)state;
    expect("{\"password\":123456}", "{\"password\":\"[redacted]\"}");
    expect("{\"password\":-1.5e+3,\"n\":7}", "{\"password\":\"[redacted]\",\"n\":7}");
    expect("{\"token\":null,\"apikey\":true}", "{\"token\":null,\"apikey\":true}");
    expect("{\"password\":[\"a\",{\"b\":\"c\",\"d\":[1,2]},3],\"after\":\"kept\"}",
           "{\"password\":[\"[redacted]\",{\"b\":\"[redacted]\",\"d\":[\"[redacted]\",\"[redacted]\"]},"
           "\"[redacted]\"],\"after\":\"kept\"}");
    expect("{\"Authorization\" : \"Bearer abc\" , \"x\":1}", "{\"Authorization\" : \"[redacted]\" , \"x\":1}");
    /* deep inside a payload */
    expect("{\"a\":{\"b\":{\"c\":[{\"refresh_token\":\"zzz\"}]}}}",
           "{\"a\":{\"b\":{\"c\":[{\"refresh_token\":\"[redacted]\"}]}}}");
    /* a secret key as a value is just a word */
    expect("{\"event\":\"password\",\"x\":\"y\"}", "{\"event\":\"password\",\"x\":\"y\"}");
    expect("[\"password\",\"hunter2\"]", "[\"password\",\"hunter2\"]");
}

/* ---- JWTs wherever they are ------------------------------------------------------------ */

static void test_jwt_anywhere(void **state) {
    (void)state;
    expect("{\"topic\":\"" JWT "\"}", "{\"topic\":\"[redacted]\"}");
    expect("{\"m\":\"Bearer " JWT " trailing\"}", "{\"m\":\"[redacted]\"}");
    expect("{\"" JWT "\":1,\"x\":2}", "{\"[redacted]\":1,\"x\":2}");
    expect("[\"" JWT "\"]", "[\"[redacted]\"]");
    /* JSON inside a string (a broadcast payload that carries a frame) */
    expect("{\"payload\":\"{\\\"access_token\\\":\\\"" JWT "\\\"}\"}", "{\"payload\":\"[redacted]\"}");
    /* a JWE has five parts */
    expect("[\"eyJhbGciOiJSU0EtT0FFUCJ9.a2V5.aXY.Y2lwaGVy.dGFn\"]", "[\"[redacted]\"]");
    /* unsigned tokens (empty third part) too */
    expect("[\"eyJhbGciOiJub25lIn0.eyJyb2xlIjoiYSJ9.\"]", "[\"[redacted]\"]");
    /* outside any string: invalid JSON, a query string */
    expect("apikey=" JWT "&vsn=2.0.0", "apikey=[redacted]&vsn=2.0.0");
    expect("{bare: " JWT "}", "{bare: [redacted]}");
}

static void test_escapes_do_not_hide(void **state) {
    (void)state;
    /* jansson decodes these before the server uses them, so must we */
    expect("{\"acc\\u0065ss_token\":\"abc\"}", "{\"acc\\u0065ss_token\":\"[redacted]\"}");
    expect("{\"pass\\u0077ord\":\"abc\"}", "{\"pass\\u0077ord\":\"[redacted]\"}");
    expect("{\"x\":\"\\u0065yJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYSJ9.c2ln\"}", "{\"x\":\"[redacted]\"}");
    expect("{\"x\":\"eyJhbGciOiJIUzI1NiJ9\\u002eeyJyb2xlIjoiYSJ9.c2ln\"}", "{\"x\":\"[redacted]\"}");
    expect("{\"x\":\"eyJhbGciOiJIUzI1NiJ9\\/.eyJ\"}", "{\"x\":\"eyJhbGciOiJIUzI1NiJ9\\/.eyJ\"}");
    /* surrogate pairs and broken escapes are harmless */
    expect("{\"x\":\"\\ud83d\\ude00 \\ud800 \\uZZZZ \\q\"}", "{\"x\":\"\\ud83d\\ude00 \\ud800 \\uZZZZ \\q\"}");
}

/* ---- input cut anywhere ------------------------------------------------------------------- */

static void test_truncated(void **state) {
    (void)state;
    expect("[\"1\",\"1\",\"realtime:a\",\"phx_join\",{\"access_token\":\"eyJhbGciOiJIUz",
           "[\"1\",\"1\",\"realtime:a\",\"phx_join\",{\"access_token\":\"[redacted]\"");
    expect("{\"password\":\"hun", "{\"password\":\"[redacted]\"");
    expect("{\"password\":12", "{\"password\":\"[redacted]\"");
    expect("{\"password\":", "{\"password\":");
    expect("{\"x\":\"Bearer eyJhbG", "{\"x\":\"[redacted]\"");
    expect("{\"x\":\"abc\\", "{\"x\":\"abc\\");
    expect("{\"x\":\"abc\\u00", "{\"x\":\"abc\\u00");
    expect("apikey=eyJhbGciOiJIUzI1", "apikey=[redacted]");
    expect("apikey=eyJhbGciOiJIUzI1NiJ9.eyJyb2xl", "apikey=[redacted]");
    /* a key cut before its colon is only a word */
    expect("{\"access_to", "{\"access_to");

    /* Every prefix of a frame holding a token: no part of the token past
     * its first few characters is ever printed. */
    const char *frame = "[\"1\",\"1\",\"realtime:a\",\"phx_join\",{\"config\":{},\"access_token\":\"" JWT
                        "\",\"x\":\"Bearer " JWT "\"}]";
    const char *tail = strstr(JWT, ".") - 8; /* any 12 characters of the token's later parts */
    for (size_t n = 0; n <= strlen(frame); n++) {
        char *got = red_n(frame, n);
        assert_null(strstr(got, "eyJhbGciOiJIUzI1NiIsInR5"));
        assert_null(strstr(got, "eyJyb2xl"));
        char probe[13];
        memcpy(probe, tail, 12);
        probe[12] = 0;
        assert_null(strstr(got, probe));
        assert_false(any_jwt(got, strlen(got)));
        free(got);
    }
}

/* ---- free text (log lines) ----------------------------------------------------------------- */

static void test_inplace(void **state) {
    (void)state;
    char line[512];
    snprintf(line, sizeof(line), "{\"msg\":\"x\",\"url\":\"/ws?apikey=%s&vsn=2.0.0\",\"t\":\"%s\"}", JWT, JWT);
    size_t n = redact_jwts_inplace(line, strlen(line));
    line[n] = 0;
    assert_string_equal(line, "{\"msg\":\"x\",\"url\":\"/ws?apikey=[redacted]&vsn=2.0.0\",\"t\":\"[redacted]\"}");

    /* cut at the end of a line buffer */
    snprintf(line, sizeof(line), "{\"t\":\"%.30s", JWT);
    n = redact_jwts_inplace(line, strlen(line));
    line[n] = 0;
    assert_string_equal(line, "{\"t\":\"[redacted]");

    const char *plain = "{\"msg\":\"listening\",\"eyJ\":\"a.b.c\",\"e\":\"eyJa.b\"}";
    strcpy(line, plain);
    n = redact_jwts_inplace(line, strlen(line));
    assert_int_equal(n, strlen(plain));
    assert_memory_equal(line, plain, n);
    assert_int_equal(redact_jwts_inplace(line, 0), 0);
}

static void test_jwt_len(void **state) {
    (void)state;
    assert_int_equal(redact_jwt_len(JWT, strlen(JWT)), strlen(JWT));
    assert_int_equal(redact_jwt_len(JWT "\"", strlen(JWT) + 1), strlen(JWT));
    assert_int_equal(redact_jwt_len(JWT ". x", strlen(JWT) + 3), strlen(JWT));
    assert_int_equal(redact_jwt_len("eyJabc", 6), 0);
    assert_int_equal(redact_jwt_len("eyJabcdefgh.", 12), 0);
    assert_int_equal(redact_jwt_len("eyJabcdefgh..x", 14), 0); /* empty second part */
    assert_int_equal(redact_jwt_len("eyJa.b.c", 8), 0);        /* shorter than any real token */
    assert_int_equal(redact_jwt_len("xeyJabcdef.g.h", 14), 0);
    assert_int_equal(redact_jwt_len("eyJabcdef.g.h", 13), 13);
}

/* ---- random: the invariants ------------------------------------------------------------------ */

static uint64_t rng = 0x243f6a8885a308d3u;
static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* Bytes drawn from pieces that matter to the redactor. */
static size_t random_text(char *out, size_t cap) {
    static const char *const pieces[] = {
        "{",        "}", "[",       "]", ":",    ",",       "\"", "\\", "\\u0065",   "\\u",
        "\\\"",     " ", "eyJ",     ".", "abc",  "-",       "_",  "1",  "e5",        "access_token",
        "password", "x", "Bearer ", JWT, "true", "\\ud83d", "\n", "=",  "eyJhbGciOi"};
    size_t n = 0, want = rnd() % 200;
    while (n < want) {
        const char *p = pieces[rnd() % (sizeof(pieces) / sizeof(pieces[0]))];
        size_t l = strlen(p);
        if (n + l >= cap)
            break;
        memcpy(out + n, p, l);
        n += l;
    }
    return n;
}

/* A random valid JSON document, some of whose strings are tokens and some
 * of whose keys are secret. Returns a new reference. */
static json_t *random_json(int depth) {
    static const char *const keys[] = {"a", "topic", "access_token", "Password", "payload", "apikey", "x-y"};
    static const char *const strs[] = {"", "hi", JWT, ("Bearer " JWT), "eyJ", "a.b.c", "\xc3\xa9\"\\/\n"};
    switch (depth > 3 ? rnd() % 4 : rnd() % 6) {
    case 0: return json_string(strs[rnd() % 7]);
    case 1: return json_integer((json_int_t)rnd() - 100000);
    case 2: return json_real((double)rnd() / 7.0);
    case 3: return rnd() % 2 ? json_true() : json_null();
    case 4: {
        json_t *a = json_array();
        for (uint32_t i = rnd() % 4; i > 0; i--)
            json_array_append_new(a, random_json(depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (uint32_t i = rnd() % 4; i > 0; i--)
            json_object_set_new(o, keys[rnd() % 7], random_json(depth + 1));
        return o;
    }
    }
}

static void test_random_invariants(void **state) {
    (void)state;
    char in[4096];
    for (int round = 0; round < 20000; round++) {
        size_t n = random_text(in, sizeof(in));
        char *got = red_n(in, n);
        if (any_jwt(got, strlen(got)))
            fail_msg("a JWT survived in %s (input %.*s)", got, (int)n, in);
        free(got);
    }
    for (int round = 0; round < 5000; round++) {
        json_t *doc = random_json(0);
        char *text = json_dumps(doc, JSON_ENCODE_ANY | (round % 2 ? JSON_COMPACT : JSON_INDENT(1)));
        assert_non_null(text);
        char *got = red(text);
        json_error_t err;
        json_t *back = json_loads(got, JSON_DECODE_ANY, &err);
        if (!back)
            fail_msg("valid JSON became invalid: %s -> %s (%s)", text, got, err.text);
        assert_false(any_jwt(got, strlen(got)));
        /* Nothing but secrets changes: with no secret key and no token
         * the text comes back byte for byte. */
        if (!strstr(text, "eyJ") && !strstr(text, "access_token") && !strstr(text, "Password") &&
            !strstr(text, "apikey"))
            assert_string_equal(got, text);
        json_decref(back);
        json_decref(doc);
        free(text);
        free(got);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secret_keys),
        cmocka_unit_test(test_join_frames),
        cmocka_unit_test(test_plain_frames_unchanged),
        cmocka_unit_test(test_secret_values_of_every_type),
        cmocka_unit_test(test_jwt_anywhere),
        cmocka_unit_test(test_escapes_do_not_hide),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_inplace),
        cmocka_unit_test(test_jwt_len),
        cmocka_unit_test(test_random_invariants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
