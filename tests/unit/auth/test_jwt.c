/*
 * Unit tests for auth/jwt: HS/RS/ES verification against tokens and JWKS
 * built here with OpenSSL, the algorithm-pinning rules (alg none, algorithm
 * confusion, kid selection), claim checks and their client-facing messages,
 * strict base64url and the malformed-input paths. Keys are generated once
 * per run, so nothing depends on fixtures on disk.
 */
#include "auth/jwt.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1700000000LL
#define SECRET "super-secret-jwt-token-with-at-least-32-characters-long"
#define HS256_HDR "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define GOOD_CLAIMS "{\"role\":\"authenticated\",\"sub\":\"user-1\",\"exp\":1700000600}"

static EVP_PKEY *rsa_key, *rsa_other, *ec_key, *ec_other;

/* ---- token and key builders (all returned strings are malloc'd; callers free) */

static char *b64s(const char *s) { return b64url_encode((const uint8_t *)s, strlen(s)); }

/* b64(header) "." b64(payload) */
static char *signing_input(const char *hdr, const char *payload) {
    char *h = b64s(hdr), *p = b64s(payload);
    size_t n = strlen(h) + strlen(p) + 2;
    char *out = malloc(n);
    assert_non_null(out);
    snprintf(out, n, "%s.%s", h, p);
    free(h);
    free(p);
    return out;
}

static char *with_sig(char *input, const uint8_t *sig, size_t siglen) {
    char *s = b64url_encode(sig, siglen);
    size_t n = strlen(input) + strlen(s) + 2;
    char *out = malloc(n);
    assert_non_null(out);
    snprintf(out, n, "%s.%s", input, s);
    free(s);
    free(input);
    return out;
}

static char *tok_hmac(const char *hdr, const char *payload, const char *md, const void *key, size_t keylen) {
    uint8_t mac[64];
    size_t maclen = 0;
    char *in = signing_input(hdr, payload);
    assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, md, NULL, key, keylen, (const uint8_t *)in, strlen(in), mac,
                              sizeof(mac), &maclen));
    return with_sig(in, mac, maclen);
}

/* Signs with pkey; for EC (coord > 0) converts OpenSSL's DER to the raw
 * r || s that JWS uses, unless keep_der asks for the wrong form. */
static char *tok_pkey_ex(const char *hdr, const char *payload, const char *md, EVP_PKEY *pkey, size_t coord,
                         int keep_der) {
    uint8_t sig[1024], raw[132];
    size_t siglen = sizeof(sig);
    char *in = signing_input(hdr, payload);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_non_null(ctx);
    assert_int_equal(EVP_DigestSignInit_ex(ctx, NULL, md, NULL, NULL, pkey, NULL), 1);
    assert_int_equal(EVP_DigestSign(ctx, sig, &siglen, (const uint8_t *)in, strlen(in)), 1);
    EVP_MD_CTX_free(ctx);
    if (coord == 0 || keep_der)
        return with_sig(in, sig, siglen);
    const uint8_t *p = sig;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
    assert_non_null(es);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, (int)coord), (int)coord);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + coord, (int)coord), (int)coord);
    ECDSA_SIG_free(es);
    return with_sig(in, raw, 2 * coord);
}

static char *tok_pkey(const char *hdr, const char *payload, const char *md, EVP_PKEY *pkey, size_t coord) {
    return tok_pkey_ex(hdr, payload, md, pkey, coord, 0);
}

static void add_b64_bn(json_t *o, const char *name, EVP_PKEY *k, const char *param, int pad) {
    BIGNUM *bn = NULL;
    uint8_t buf[1024];
    assert_int_equal(EVP_PKEY_get_bn_param(k, param, &bn), 1);
    int n = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
    assert_true(n > 0);
    char *s = b64url_encode(buf, (size_t)n);
    json_object_set_new(o, name, json_string(s));
    free(s);
    BN_free(bn);
}

static json_t *jwk_rsa(EVP_PKEY *k, const char *kid) {
    json_t *o = json_pack("{s:s}", "kty", "RSA");
    if (kid)
        json_object_set_new(o, "kid", json_string(kid));
    add_b64_bn(o, "n", k, OSSL_PKEY_PARAM_RSA_N, 0);
    add_b64_bn(o, "e", k, OSSL_PKEY_PARAM_RSA_E, 0);
    return o;
}

static json_t *jwk_ec(EVP_PKEY *k, const char *kid) {
    json_t *o = json_pack("{s:s,s:s}", "kty", "EC", "crv", "P-256");
    if (kid)
        json_object_set_new(o, "kid", json_string(kid));
    add_b64_bn(o, "x", k, OSSL_PKEY_PARAM_EC_PUB_X, 32);
    add_b64_bn(o, "y", k, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
    return o;
}

/* {"keys":[...]} from up to four JWKs (steals the references); malloc'd text. */
static char *jwks_of(json_t *a, json_t *b, json_t *c, json_t *d) {
    json_t *keys = json_array();
    json_t *all[] = {a, b, c, d};
    for (int i = 0; i < 4; i++)
        if (all[i])
            json_array_append_new(keys, all[i]);
    json_t *doc = json_pack("{s:o}", "keys", keys);
    char *s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return s;
}

static jwt_keyring_t *ring(const char *secret, const char *jwks) {
    char err[256];
    jwt_keyring_t *kr = jwt_keyring_new((const uint8_t *)secret, secret ? strlen(secret) : 0, jwks, err, sizeof(err));
    if (!kr)
        fail_msg("jwt_keyring_new: %s", err);
    return kr;
}

/* Verifies and, on success, drops the claims; the message goes to msg. */
static jwt_status_t check(const jwt_keyring_t *kr, const char *tok, char *msg, size_t msglen) {
    jwt_claims_t c;
    jwt_status_t st = jwt_verify(kr, tok, strlen(tok), NOW, &c, msg, msglen);
    if (st == JWT_OK) {
        assert_true(json_is_object(c.claims));
        json_decref(c.claims);
    } else {
        assert_null(c.claims);
    }
    return st;
}

static void expect(const jwt_keyring_t *kr, const char *tok, jwt_status_t want, const char *want_msg) {
    char msg[256];
    assert_int_equal(check(kr, tok, msg, sizeof(msg)), want);
    if (want_msg)
        assert_string_equal(msg, want_msg);
}

/* ---- fixtures --------------------------------------------------------- */

static int keys_setup(void **state) {
    (void)state;
    rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    rsa_other = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ec_other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    return rsa_key && rsa_other && ec_key && ec_other ? 0 : -1;
}

static int keys_teardown(void **state) {
    (void)state;
    EVP_PKEY_free(rsa_key);
    EVP_PKEY_free(rsa_other);
    EVP_PKEY_free(ec_key);
    EVP_PKEY_free(ec_other);
    return 0;
}

/* ---- base64url -------------------------------------------------------- */

static void test_b64url_roundtrip_and_strictness(void **state) {
    (void)state;
    uint8_t bytes[256], out[400];
    for (int i = 0; i < 256; i++)
        bytes[i] = (uint8_t)(255 - i);
    for (size_t n = 0; n <= 256; n += 1) {
        char *e = b64url_encode(bytes, n);
        assert_null(strchr(e, '='));
        assert_int_equal(b64url_decode(e, strlen(e), out), (long)n);
        assert_memory_equal(out, bytes, n);
        free(e);
    }
    char *e = b64url_encode((const uint8_t *)"\xfb\xff", 2);
    assert_string_equal(e, "-_8");
    free(e);
    assert_int_equal(b64url_decode("Zm9v", 4, out), 3);
    assert_int_equal(b64url_decode("Zm8=", 4, out), -1); /* padding */
    assert_int_equal(b64url_decode("Zm8", 3, out), 2);
    assert_int_equal(b64url_decode("Zm+v", 4, out), -1); /* plain base64 alphabet */
    assert_int_equal(b64url_decode("Zm/v", 4, out), -1);
    assert_int_equal(b64url_decode("Zm9 ", 4, out), -1);
    assert_int_equal(b64url_decode("Zm9vY", 5, out), -1); /* one char carries < 8 bits */
    assert_int_equal(b64url_decode("Zm9", 3, out), -1);   /* spare bits set: "Zm8" is canonical */
    assert_int_equal(b64url_decode("Zh", 2, out), -1);
    assert_int_equal(b64url_decode("Zg", 2, out), 1);
    assert_int_equal(b64url_decode("Zm\0v", 4, out), -1);
}

/* ---- HS --------------------------------------------------------------- */

static void test_hs_valid_all_sizes(void **state) {
    (void)state;
    jwt_keyring_t *kr = ring(SECRET, NULL);
    const char *algs[][2] = {{"HS256", "SHA256"}, {"HS384", "SHA384"}, {"HS512", "SHA512"}};
    for (int i = 0; i < 3; i++) {
        char hdr[64];
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", algs[i][0]);
        char *tok = tok_hmac(hdr, GOOD_CLAIMS, algs[i][1], SECRET, strlen(SECRET));
        jwt_claims_t c;
        char msg[128] = "untouched";
        assert_int_equal(jwt_verify(kr, tok, strlen(tok), NOW, &c, msg, sizeof(msg)), JWT_OK);
        assert_string_equal(msg, "");
        assert_string_equal(c.role, "authenticated");
        assert_string_equal(c.sub, "user-1");
        assert_int_equal(c.exp, 1700000600);
        assert_int_equal(c.nbf, 0);
        assert_string_equal(json_string_value(json_object_get(c.claims, "role")), "authenticated");
        json_decref(c.claims);
        free(tok);
    }
    jwt_keyring_free(kr);
}

static void test_sign_hs256_roundtrip(void **state) {
    (void)state;
    jwt_keyring_t *kr = ring(SECRET, NULL);
    char *tok = jwt_sign_hs256((const uint8_t *)SECRET, strlen(SECRET), GOOD_CLAIMS);
    assert_non_null(tok);
    char *same = tok_hmac(HS256_HDR, GOOD_CLAIMS, "SHA256", SECRET, strlen(SECRET));
    assert_string_equal(tok, same); /* same header bytes, same MAC */
    expect(kr, tok, JWT_OK, "");
    assert_null(jwt_sign_hs256((const uint8_t *)SECRET, strlen(SECRET), NULL));
    free(same);
    free(tok);
    jwt_keyring_free(kr);
}

static void test_hs_wrong_secret_and_tampering(void **state) {
    (void)state;
    jwt_keyring_t *kr = ring(SECRET, NULL);
    char *tok = tok_hmac(HS256_HDR, GOOD_CLAIMS, "SHA256", "another-secret", 14);
    expect(kr, tok, JWT_BAD_SIGNATURE, "Failed to validate JWT signature");
    free(tok);

    /* swap in a payload claiming service_role, keep the original signature */
    char *good = jwt_sign_hs256((const uint8_t *)SECRET, strlen(SECRET), GOOD_CLAIMS);
    char *evil = tok_hmac(HS256_HDR, "{\"role\":\"service_role\",\"exp\":1700000600}", "SHA256", "x", 1);
    char *gdot = strrchr(good, '.'), *edot = strrchr(evil, '.');
    size_t n = (size_t)(edot - evil) + strlen(gdot) + 1;
    char *mixed = malloc(n);
    snprintf(mixed, n, "%.*s%s", (int)(edot - evil), evil, gdot);
    expect(kr, mixed, JWT_BAD_SIGNATURE, "Failed to validate JWT signature");

    /* a truncated MAC must not verify, nor an empty one */
    gdot[1 + 8] = '\0'; /* 8 characters: 6 bytes, canonical */
    expect(kr, good, JWT_BAD_SIGNATURE, NULL);
    gdot[1] = '\0';
    expect(kr, good, JWT_BAD_SIGNATURE, NULL);
    free(mixed);
    free(evil);
    free(good);
    jwt_keyring_free(kr);
}

static void test_alg_none_refused(void **state) {
    (void)state;
    jwt_keyring_t *kr = ring(SECRET, NULL);
    char *in = signing_input("{\"alg\":\"none\",\"typ\":\"JWT\"}", GOOD_CLAIMS);
    size_t n = strlen(in) + 2;
    char *unsigned_tok = malloc(n);
    snprintf(unsigned_tok, n, "%s.", in);
    expect(kr, unsigned_tok, JWT_BAD_ALG, "Unsupported JWT algorithm: none");
    char *signed_tok = with_sig(in, (const uint8_t *)"whatever-signature-bytes", 24);
    expect(kr, signed_tok, JWT_BAD_ALG, "Unsupported JWT algorithm: none");
    char *upper = tok_hmac("{\"alg\":\"None\"}", GOOD_CLAIMS, "SHA256", SECRET, strlen(SECRET));
    expect(kr, upper, JWT_BAD_ALG, "Unsupported JWT algorithm: None");
    free(upper);
    free(signed_tok);
    free(unsigned_tok);
    jwt_keyring_free(kr);
}

static void test_bad_alg_message_sanitised(void **state) {
    (void)state;
    jwt_keyring_t *kr = ring(SECRET, NULL);
    char *tok = tok_hmac("{\"alg\":\"<script>\\n\\\"x\\\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", GOOD_CLAIMS,
                         "SHA256", SECRET, strlen(SECRET));
    char msg[256];
    assert_int_equal(check(kr, tok, msg, sizeof(msg)), JWT_BAD_ALG);
    assert_string_equal(msg, "Unsupported JWT algorithm: ?script???x?aaaaaaaaaaaaaaaaaaaa...");
    /* a short message buffer truncates instead of overflowing */
    char tiny[8];
    assert_int_equal(check(kr, tok, tiny, sizeof(tiny)), JWT_BAD_ALG);
    assert_string_equal(tiny, "Unsuppo");
    free(tok);
    jwt_keyring_free(kr);
}

/* The classic attack: an RS256 verifier that lets the token say HS256 would
 * use the public key PEM, which everyone has, as the HMAC secret. */
static void test_alg_confusion_refused(void **state) {
    (void)state;
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(bio, rsa_key), 1);
    char *pem = NULL;
    long pemlen = BIO_get_mem_data(bio, &pem);
    assert_true(pemlen > 0);

    char *jwks = jwks_of(jwk_rsa(rsa_key, "rsa-1"), NULL, NULL, NULL);
    jwt_keyring_t *pub_only = ring(NULL, jwks);
    char *tok = tok_hmac(HS256_HDR, GOOD_CLAIMS, "SHA256", pem, (size_t)pemlen);
    expect(pub_only, tok, JWT_BAD_ALG, "Unsupported JWT algorithm: HS256");
    char *kid_tok = tok_hmac("{\"alg\":\"HS256\",\"kid\":\"rsa-1\"}", GOOD_CLAIMS, "SHA256", pem, (size_t)pemlen);
    expect(pub_only, kid_tok, JWT_BAD_ALG, "Unsupported JWT algorithm: HS256");

    /* with an HS secret configured too, the PEM is still not a secret */
    jwt_keyring_t *both = ring(SECRET, jwks);
    expect(both, tok, JWT_BAD_SIGNATURE, "Failed to validate JWT signature");
    expect(both, kid_tok, JWT_BAD_SIGNATURE, "Failed to validate JWT signature");

    free(kid_tok);
    free(tok);
    jwt_keyring_free(both);
    jwt_keyring_free(pub_only);
    free(jwks);
    BIO_free(bio);
}

/* ---- claims ----------------------------------------------------------- */

static void expect_claims(const jwt_keyring_t *kr, const char *claims, jwt_status_t want, const char *want_msg) {
    char *tok = jwt_sign_hs256((const uint8_t *)SECRET, strlen(SECRET), claims);
    expect(kr, tok, want, want_msg);
    free(tok);
}

static void test_expiry_and_nbf(void **state) {
    (void)state;
    jwt_keyring_t *kr = ring(SECRET, NULL);
    expect_claims(kr, "{\"role\":\"anon\",\"exp\":1699999988}", JWT_EXPIRED, "Token has expired 12 seconds ago");
    expect_claims(kr, "{\"role\":\"anon\",\"exp\":1700000000}", JWT_EXPIRED, "Token has expired 0 seconds ago");
    expect_claims(kr, "{\"role\":\"anon\",\"exp\":-9223372036854775807}", JWT_EXPIRED,
                  "Token has expired 9223372038554775807 seconds ago");
    expect_claims(kr, "{\"role\":\"anon\",\"exp\":1700000001}", JWT_OK, "");
    expect_claims(kr, "{\"role\":\"anon\",\"exp\":1700000600,\"nbf\":1700000001}", JWT_NOT_YET_VALID,
                  "Token is not valid yet");
    expect_claims(kr, "{\"role\":\"anon\",\"exp\":1700000600,\"nbf\":1700000000}", JWT_OK, "");
    expect_claims(kr, "{\"role\":\"anon\",\"exp\":1700000600,\"nbf\":\"soon\"}", JWT_MALFORMED,
                  "Field `nbf` in JWT must be a NumericDate: an integer number of seconds since the epoch");

    jwt_claims_t c;
    char *tok = jwt_sign_hs256((const uint8_t *)SECRET, strlen(SECRET),
                               "{\"role\":\"anon\",\"exp\":1.7000006e9,\"nbf\":1699999999}");
    assert_int_equal(jwt_verify(kr, tok, strlen(tok), NOW, &c, NULL, 0), JWT_OK);
    assert_int_equal(c.exp, 1700000600);
    assert_int_equal(c.nbf, 1699999999);
    assert_string_equal(c.sub, "");
    json_decref(c.claims);
    free(tok);
    jwt_keyring_free(kr);
}

static void test_missing_or_mistyped_claims(void **state) {
    (void)state;
    jwt_keyring_t *kr = ring(SECRET, NULL);
    const char *want = "Fields `role` and `exp` are required in JWT";
    const char *bad_exp = "Field `exp` in JWT must be a NumericDate: an integer number of seconds since the epoch";
    const char *bad_role = "Field `role` in JWT must be a non-empty string";
    expect_claims(kr, "{\"exp\":1700000600}", JWT_MISSING_CLAIMS, want);
    expect_claims(kr, "{\"role\":\"anon\"}", JWT_MISSING_CLAIMS, want);
    /* JSON null is as good as absent */
    expect_claims(kr, "{\"role\":\"anon\",\"exp\":null}", JWT_MISSING_CLAIMS, want);
    expect_claims(kr, "{\"role\":null,\"exp\":1700000600}", JWT_MISSING_CLAIMS, want);
    /* present but not a date: the message says so instead of "required" */
    expect_claims(kr, "{\"role\":\"anon\",\"exp\":\"1700000600\"}", JWT_MISSING_CLAIMS, bad_exp);
    expect_claims(kr, "{\"role\":\"anon\",\"exp\":\"abc\"}", JWT_MISSING_CLAIMS, bad_exp);
    expect_claims(kr, "{\"role\":\"anon\",\"exp\":1700000600.5}", JWT_MISSING_CLAIMS, bad_exp);
    expect_claims(kr, "{\"role\":\"anon\",\"exp\":1.5}", JWT_MISSING_CLAIMS, bad_exp);
    expect_claims(kr, "{\"role\":\"anon\",\"exp\":1e300}", JWT_MISSING_CLAIMS, bad_exp);
    expect_claims(kr, "{\"role\":\"anon\",\"exp\":true}", JWT_MISSING_CLAIMS, bad_exp);
    expect_claims(kr, "{\"role\":\"anon\",\"exp\":[1700000600]}", JWT_MISSING_CLAIMS, bad_exp);
    expect_claims(kr, "{\"role\":7,\"exp\":1700000600}", JWT_MISSING_CLAIMS, bad_role);
    expect_claims(kr, "{\"role\":\"\",\"exp\":1700000600}", JWT_MISSING_CLAIMS, bad_role);
    /* an integral real is still a date (some issuers write 1.7e9) */
    expect_claims(kr, "{\"role\":\"anon\",\"exp\":1.7000006e9}", JWT_OK, "");
    /* missing claims win over expiry: nothing to say about a half token */
    expect_claims(kr, "{\"exp\":1}", JWT_MISSING_CLAIMS, want);
    /* a bad exp wins over a bad nbf, and a bad nbf has its own message */
    expect_claims(kr, "{\"role\":\"anon\",\"exp\":\"x\",\"nbf\":\"y\"}", JWT_MISSING_CLAIMS, bad_exp);
    jwt_keyring_free(kr);
}

static void test_role_and_sub_bounds(void **state) {
    (void)state;
    jwt_keyring_t *kr = ring(SECRET, NULL);
    char claims[512], r63[64], r64[65], s127[128], s128[129];
    memset(r63, 'r', 63), r63[63] = 0;
    memset(r64, 'r', 64), r64[64] = 0;
    memset(s127, 's', 127), s127[127] = 0;
    memset(s128, 's', 128), s128[128] = 0;

    snprintf(claims, sizeof(claims), "{\"role\":\"%s\",\"sub\":\"%s\",\"exp\":1700000600}", r63, s127);
    char *tok = jwt_sign_hs256((const uint8_t *)SECRET, strlen(SECRET), claims);
    jwt_claims_t c;
    assert_int_equal(jwt_verify(kr, tok, strlen(tok), NOW, &c, NULL, 0), JWT_OK);
    assert_string_equal(c.role, r63);
    assert_string_equal(c.sub, s127);
    json_decref(c.claims);
    free(tok);

    snprintf(claims, sizeof(claims), "{\"role\":\"%s\",\"exp\":1700000600}", r64);
    expect_claims(kr, claims, JWT_MALFORMED, "The token provided is not a valid JWT");
    snprintf(claims, sizeof(claims), "{\"role\":\"anon\",\"sub\":\"%s\",\"exp\":1700000600}", s128);
    expect_claims(kr, claims, JWT_MALFORMED, "The token provided is not a valid JWT");
    /* duplicate members could mean different things to different parsers */
    expect_claims(kr, "{\"role\":\"anon\",\"role\":\"service_role\",\"exp\":1700000600}", JWT_MALFORMED, NULL);
    jwt_keyring_free(kr);
}

static void test_claims_unread_before_signature(void **state) {
    (void)state;
    jwt_keyring_t *kr = ring(SECRET, NULL);
    const char *bad[] = {"{\"exp\":1}", "{\"role\":\"anon\",\"exp\":1}", "not json at all"};
    for (int i = 0; i < 3; i++) {
        char *tok = tok_hmac(HS256_HDR, bad[i], "SHA256", "wrong", 5);
        expect(kr, tok, JWT_BAD_SIGNATURE, "Failed to validate JWT signature");
        free(tok);
    }
    /* once signed, a payload that is not a JSON object is malformed */
    expect_claims(kr, "not json at all", JWT_MALFORMED, "The token provided is not a valid JWT");
    expect_claims(kr, "[1,2]", JWT_MALFORMED, NULL);
    jwt_keyring_free(kr);
}

/* ---- malformed -------------------------------------------------------- */

static void test_malformed_inputs(void **state) {
    (void)state;
    jwt_keyring_t *kr = ring(SECRET, NULL);
    const char *m = "The token provided is not a valid JWT";
    char *good = jwt_sign_hs256((const uint8_t *)SECRET, strlen(SECRET), GOOD_CLAIMS);
    char buf[2048];

    expect(kr, "", JWT_MALFORMED, m);
    expect(kr, "abc", JWT_MALFORMED, m);
    expect(kr, "eyJhbGciOiJIUzI1NiJ9.e30", JWT_MALFORMED, m);
    snprintf(buf, sizeof(buf), "%s.e30", good);
    expect(kr, buf, JWT_MALFORMED, m); /* four parts */
    snprintf(buf, sizeof(buf), "%s.", good);
    expect(kr, buf, JWT_MALFORMED, m);
    expect(kr, "..", JWT_MALFORMED, m);
    snprintf(buf, sizeof(buf), "%s=", good);
    expect(kr, buf, JWT_MALFORMED, m); /* padding */
    snprintf(buf, sizeof(buf), "%s ", good);
    expect(kr, buf, JWT_MALFORMED, m);
    snprintf(buf, sizeof(buf), "%s", good);
    buf[5] = '*';
    expect(kr, buf, JWT_MALFORMED, m); /* bad base64 in the header */
    snprintf(buf, sizeof(buf), "%s", good);
    *strchr(buf, '.') = '+';
    expect(kr, buf, JWT_MALFORMED, m);

    const char *headers[] = {"not json",
                             "[\"HS256\"]",
                             "\"HS256\"",
                             "{}",
                             "{\"alg\":256}",
                             "{\"alg\":\"HS256\",\"kid\":7}",
                             "{\"alg\":\"HS256\",\"alg\":\"HS256\"}",
                             "{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}"};
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        char *tok = tok_hmac(headers[i], GOOD_CLAIMS, "SHA256", SECRET, strlen(SECRET));
        expect(kr, tok, JWT_MALFORMED, m);
        free(tok);
    }

    /* a token of valid shape but over 16 KiB is refused unread */
    size_t big = 17 * 1024;
    char *pad = malloc(big);
    memset(pad, 'a', big - 1);
    pad[big - 1] = 0;
    char claims[20 * 1024];
    snprintf(claims, sizeof(claims), "{\"role\":\"anon\",\"exp\":1700000600,\"pad\":\"%s\"}", pad);
    char *huge = jwt_sign_hs256((const uint8_t *)SECRET, strlen(SECRET), claims);
    expect(kr, huge, JWT_MALFORMED, m);
    memset(pad, 'A', big - 1);
    expect(kr, pad, JWT_MALFORMED, m);

    /* the length argument bounds the read: no NUL needed, none trusted */
    jwt_claims_t c;
    assert_int_equal(jwt_verify(kr, good, strlen(good) - 3, NOW, &c, NULL, 0), JWT_BAD_SIGNATURE);
    assert_int_equal(jwt_verify(kr, good, 10, NOW, &c, NULL, 0), JWT_MALFORMED);
    assert_int_equal(jwt_verify(kr, NULL, 0, NOW, &c, NULL, 0), JWT_MALFORMED);
    free(huge);
    free(pad);
    free(good);
    jwt_keyring_free(kr);
}

/* ---- RS / ES with JWKS ------------------------------------------------ */

static void test_rs_valid_and_wrong_key(void **state) {
    (void)state;
    char *jwks = jwks_of(jwk_rsa(rsa_key, "rsa-1"), NULL, NULL, NULL);
    jwt_keyring_t *kr = ring(NULL, jwks);
    const char *algs[][2] = {{"RS256", "SHA256"}, {"RS384", "SHA384"}, {"RS512", "SHA512"}};
    for (int i = 0; i < 3; i++) {
        char hdr[64];
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"kid\":\"rsa-1\"}", algs[i][0]);
        char *tok = tok_pkey(hdr, GOOD_CLAIMS, algs[i][1], rsa_key, 0);
        expect(kr, tok, JWT_OK, "");
        free(tok);
    }
    /* no kid: the only RSA key is used */
    char *tok = tok_pkey("{\"alg\":\"RS256\"}", GOOD_CLAIMS, "SHA256", rsa_key, 0);
    expect(kr, tok, JWT_OK, "");
    free(tok);
    tok = tok_pkey("{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", GOOD_CLAIMS, "SHA256", rsa_other, 0);
    expect(kr, tok, JWT_BAD_SIGNATURE, "Failed to validate JWT signature");
    free(tok);
    /* signed with SHA-512 but labelled RS256 */
    tok = tok_pkey("{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", GOOD_CLAIMS, "SHA512", rsa_key, 0);
    expect(kr, tok, JWT_BAD_SIGNATURE, NULL);
    free(tok);
    /* RS only against RSA keys: this keyring has no EC key */
    tok = tok_pkey("{\"alg\":\"ES256\",\"kid\":\"rsa-1\"}", GOOD_CLAIMS, "SHA256", ec_key, 32);
    expect(kr, tok, JWT_BAD_ALG, "Unsupported JWT algorithm: ES256");
    free(tok);
    jwt_keyring_free(kr);
    free(jwks);
}

static void test_es_valid_and_signature_shape(void **state) {
    (void)state;
    char *jwks = jwks_of(jwk_ec(ec_key, "ec-1"), jwk_rsa(rsa_key, "rsa-1"), NULL, NULL);
    jwt_keyring_t *kr = ring(NULL, jwks);
    const char *hdr = "{\"alg\":\"ES256\",\"kid\":\"ec-1\",\"typ\":\"JWT\"}";

    char *tok = tok_pkey(hdr, GOOD_CLAIMS, "SHA256", ec_key, 32);
    expect(kr, tok, JWT_OK, "");
    free(tok);
    tok = tok_pkey("{\"alg\":\"ES256\"}", GOOD_CLAIMS, "SHA256", ec_key, 32);
    expect(kr, tok, JWT_OK, ""); /* the only P-256 key */
    free(tok);
    tok = tok_pkey(hdr, GOOD_CLAIMS, "SHA256", ec_other, 32);
    expect(kr, tok, JWT_BAD_SIGNATURE, "Failed to validate JWT signature");
    free(tok);
    /* DER as produced by OpenSSL is not the JWS form */
    tok = tok_pkey_ex(hdr, GOOD_CLAIMS, "SHA256", ec_key, 32, 1);
    expect(kr, tok, JWT_BAD_SIGNATURE, NULL);
    free(tok);

    /* raw r || s of the wrong length: a valid signature plus one byte, and
     * one byte short of it */
    tok = tok_pkey(hdr, GOOD_CLAIMS, "SHA256", ec_key, 32);
    uint8_t sig[66];
    char *dot = strrchr(tok, '.');
    assert_int_equal(b64url_decode(dot + 1, strlen(dot + 1), sig), 64);
    *dot = '\0';
    char *longer = with_sig(strdup(tok), sig, 65), *shorter = with_sig(strdup(tok), sig, 63);
    expect(kr, longer, JWT_BAD_SIGNATURE, "Failed to validate JWT signature");
    expect(kr, shorter, JWT_BAD_SIGNATURE, "Failed to validate JWT signature");
    free(longer);
    free(shorter);
    free(tok);

    /* ES only against EC keys of the right curve; ES with an RSA kid */
    tok = tok_pkey("{\"alg\":\"ES384\",\"kid\":\"ec-1\"}", GOOD_CLAIMS, "SHA384", ec_key, 32);
    expect(kr, tok, JWT_BAD_ALG, "Unsupported JWT algorithm: ES384");
    free(tok);
    tok = tok_pkey("{\"alg\":\"ES256\",\"kid\":\"rsa-1\"}", GOOD_CLAIMS, "SHA256", ec_key, 32);
    expect(kr, tok, JWT_BAD_ALG, "Unsupported JWT algorithm: ES256");
    free(tok);
    tok = tok_pkey("{\"alg\":\"RS256\",\"kid\":\"ec-1\"}", GOOD_CLAIMS, "SHA256", rsa_key, 0);
    expect(kr, tok, JWT_BAD_ALG, "Unsupported JWT algorithm: RS256");
    free(tok);
    jwt_keyring_free(kr);
    free(jwks);
}

static void test_es384_and_es512(void **state) {
    (void)state;
    EVP_PKEY *k384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    EVP_PKEY *k521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
    json_t *j384 = json_pack("{s:s,s:s}", "kty", "EC", "crv", "P-384");
    json_t *j521 = json_pack("{s:s,s:s,s:s}", "kty", "EC", "crv", "P-521", "alg", "ES512");
    add_b64_bn(j384, "x", k384, OSSL_PKEY_PARAM_EC_PUB_X, 48);
    add_b64_bn(j384, "y", k384, OSSL_PKEY_PARAM_EC_PUB_Y, 48);
    add_b64_bn(j521, "x", k521, OSSL_PKEY_PARAM_EC_PUB_X, 66);
    add_b64_bn(j521, "y", k521, OSSL_PKEY_PARAM_EC_PUB_Y, 66);
    char *jwks = jwks_of(j384, j521, NULL, NULL);
    jwt_keyring_t *kr = ring(NULL, jwks);

    char *tok = tok_pkey("{\"alg\":\"ES384\"}", GOOD_CLAIMS, "SHA384", k384, 48);
    expect(kr, tok, JWT_OK, "");
    free(tok);
    tok = tok_pkey("{\"alg\":\"ES512\"}", GOOD_CLAIMS, "SHA512", k521, 66);
    expect(kr, tok, JWT_OK, "");
    free(tok);
    tok = tok_pkey("{\"alg\":\"ES256\"}", GOOD_CLAIMS, "SHA256", k384, 48);
    expect(kr, tok, JWT_BAD_ALG, NULL);
    free(tok);
    jwt_keyring_free(kr);
    free(jwks);
    EVP_PKEY_free(k384);
    EVP_PKEY_free(k521);
}

static void test_kid_selection(void **state) {
    (void)state;
    char *jwks = jwks_of(jwk_rsa(rsa_key, "rsa-1"), jwk_rsa(rsa_other, "rsa-2"), NULL, NULL);
    jwt_keyring_t *kr = ring(NULL, jwks);

    char *tok = tok_pkey("{\"alg\":\"RS256\",\"kid\":\"rsa-2\"}", GOOD_CLAIMS, "SHA256", rsa_other, 0);
    expect(kr, tok, JWT_OK, "");
    free(tok);
    tok = tok_pkey("{\"alg\":\"RS256\",\"kid\":\"rsa-2\"}", GOOD_CLAIMS, "SHA256", rsa_key, 0);
    expect(kr, tok, JWT_BAD_SIGNATURE, NULL); /* kid picks the key, the key decides */
    free(tok);
    tok = tok_pkey("{\"alg\":\"RS256\",\"kid\":\"nope<>\"}", GOOD_CLAIMS, "SHA256", rsa_key, 0);
    expect(kr, tok, JWT_NO_KEY, "No key found to verify the JWT with kid nope??");
    free(tok);
    /* two RSA keys and no kid: ambiguous, never "try them all" */
    tok = tok_pkey("{\"alg\":\"RS256\"}", GOOD_CLAIMS, "SHA256", rsa_key, 0);
    expect(kr, tok, JWT_NO_KEY, "No key found to verify the JWT");
    free(tok);
    jwt_keyring_free(kr);
    free(jwks);
}

static void test_hs_kid_and_oct_keys(void **state) {
    (void)state;
    char *k = b64url_encode((const uint8_t *)"oct-secret-bytes", 16);
    json_t *oct = json_pack("{s:s,s:s,s:s}", "kty", "oct", "kid", "hs-1", "k", k);
    char *jwks = jwks_of(oct, jwk_ec(ec_key, "ec-1"), NULL, NULL);
    jwt_keyring_t *with_secret = ring(SECRET, jwks), *oct_only = ring(NULL, jwks);

    char *by_oct = tok_hmac("{\"alg\":\"HS256\",\"kid\":\"hs-1\"}", GOOD_CLAIMS, "SHA256", "oct-secret-bytes", 16);
    expect(with_secret, by_oct, JWT_OK, "");
    expect(oct_only, by_oct, JWT_OK, "");
    /* Supabase Auth's HS256 tokens carry a kid with no published oct key:
     * they verify against the configured secret */
    char *by_secret = tok_hmac("{\"alg\":\"HS256\",\"kid\":\"gotrue\"}", GOOD_CLAIMS, "SHA256", SECRET, strlen(SECRET));
    expect(with_secret, by_secret, JWT_OK, "");
    expect(oct_only, by_secret, JWT_NO_KEY, "No key found to verify the JWT with kid gotrue");
    char *no_kid = tok_hmac("{\"alg\":\"HS512\"}", GOOD_CLAIMS, "SHA512", "oct-secret-bytes", 16);
    expect(oct_only, no_kid, JWT_OK, "");                 /* the only oct key */
    expect(with_secret, no_kid, JWT_BAD_SIGNATURE, NULL); /* the secret comes first */
    free(no_kid);
    free(by_secret);
    free(by_oct);
    jwt_keyring_free(with_secret);
    jwt_keyring_free(oct_only);
    free(jwks);
    free(k);
}

static void test_keyring_errors(void **state) {
    (void)state;
    char err[256];
    struct {
        const char *jwks, *why;
    } bad[] = {
        {"{\"keys\":[", "JWKS is not valid JSON"},
        {"[]", "JWKS must be an object"},
        {"{\"keys\":{}}", "JWKS must be an object"},
        {"{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\"}]}", "JWKS key 0: RSA key needs"},
        {"{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}", "JWKS key 0: RSA key must be"},
        {"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AQAB\",\"y\":\"AQAB\"}]}", "JWKS key 0: EC key needs"},
        {"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-192\",\"x\":\"AQAB\",\"y\":\"AQAB\"}]}", "JWKS key 0: EC key needs"},
        {"{\"keys\":[{\"kty\":\"oct\",\"k\":\"\"}]}", "JWKS key 0: oct key"},
        {"{\"keys\":[{\"kty\":7}]}", "JWKS key 0: \"kty\" must"},
        {"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AA\"}]}", "no usable JWT key"},
        {"{\"keys\":[]}", "no usable JWT key"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        assert_null(jwt_keyring_new(NULL, 0, bad[i].jwks, err, sizeof(err)));
        if (strncmp(err, bad[i].why, strlen(bad[i].why)) != 0)
            fail_msg("jwks %zu: got \"%s\", want prefix \"%s\"", i, err, bad[i].why);
    }
    assert_null(jwt_keyring_new((const uint8_t *)"", 0, NULL, err, sizeof(err)));
    assert_string_equal(err, "the JWT secret must not be empty");
    assert_null(jwt_keyring_new(NULL, 0, NULL, err, sizeof(err)));

    /* an EC point that is not on the curve */
    json_t *j = jwk_ec(ec_key, NULL);
    char *y = strdup(json_string_value(json_object_get(j, "y")));
    y[5] = y[5] == 'A' ? 'B' : 'A';
    json_object_set_new(j, "y", json_string(y));
    char *jwks = jwks_of(j, NULL, NULL, NULL);
    assert_null(jwt_keyring_new(NULL, 0, jwks, err, sizeof(err)));
    assert_string_equal(err, "JWKS key 0: EC key is not a valid P-256 public key");
    free(jwks);
    free(y);

    /* a JWK "alg" that contradicts its key, and one that pins it */
    j = jwk_rsa(rsa_key, "r");
    json_object_set_new(j, "alg", json_string("ES256"));
    jwks = jwks_of(j, NULL, NULL, NULL);
    assert_null(jwt_keyring_new(NULL, 0, jwks, err, sizeof(err)));
    assert_string_equal(err, "JWKS key 0: \"alg\" ES256 does not fit the key");
    free(jwks);
    j = jwk_rsa(rsa_key, "r");
    json_object_set_new(j, "alg", json_string("RS512"));
    jwks = jwks_of(j, NULL, NULL, NULL);
    jwt_keyring_t *kr = ring(NULL, jwks);
    char *tok = tok_pkey("{\"alg\":\"RS256\",\"kid\":\"r\"}", GOOD_CLAIMS, "SHA256", rsa_key, 0);
    expect(kr, tok, JWT_BAD_ALG, "Unsupported JWT algorithm: RS256");
    free(tok);
    jwt_keyring_free(kr);
    free(jwks);

    /* unusable keys are skipped, not fatal, when another key works */
    jwks = jwks_of(json_pack("{s:s,s:s,s:s}", "kty", "OKP", "crv", "Ed25519", "x", "AA"),
                   json_pack("{s:s,s:s,s:s}", "kty", "RSA", "use", "enc", "n", "x"), jwk_ec(ec_key, "ec-1"), NULL);
    kr = ring(NULL, jwks);
    tok = tok_pkey("{\"alg\":\"ES256\"}", GOOD_CLAIMS, "SHA256", ec_key, 32);
    expect(kr, tok, JWT_OK, "");
    free(tok);
    jwt_keyring_free(kr);
    free(jwks);
    jwt_keyring_free(NULL);
}

/* ---- threads ---------------------------------------------------------- */

typedef struct {
    const jwt_keyring_t *kr;
    const char *tok[2];
    int ok;
} worker_t;

static void *worker(void *arg) {
    worker_t *w = arg;
    for (int i = 0; i < 400; i++) {
        const char *t = w->tok[i & 1];
        jwt_claims_t c;
        if (jwt_verify(w->kr, t, strlen(t), NOW, &c, NULL, 0) == JWT_OK && strcmp(c.role, "authenticated") == 0)
            w->ok++;
        json_decref(c.claims);
    }
    return NULL;
}

/* One keyring, two threads: per-call contexts must not be shared. */
static void test_concurrent_verify(void **state) {
    (void)state;
    char *jwks = jwks_of(jwk_ec(ec_key, "ec-1"), NULL, NULL, NULL);
    jwt_keyring_t *kr = ring(SECRET, jwks);
    char *hs = jwt_sign_hs256((const uint8_t *)SECRET, strlen(SECRET), GOOD_CLAIMS);
    char *es = tok_pkey("{\"alg\":\"ES256\",\"kid\":\"ec-1\"}", GOOD_CLAIMS, "SHA256", ec_key, 32);
    worker_t w[2] = {{kr, {hs, es}, 0}, {kr, {es, hs}, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, worker, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(w[0].ok, 400);
    assert_int_equal(w[1].ok, 400);
    free(es);
    free(hs);
    jwt_keyring_free(kr);
    free(jwks);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url_roundtrip_and_strictness),
        cmocka_unit_test(test_hs_valid_all_sizes),
        cmocka_unit_test(test_sign_hs256_roundtrip),
        cmocka_unit_test(test_hs_wrong_secret_and_tampering),
        cmocka_unit_test(test_alg_none_refused),
        cmocka_unit_test(test_bad_alg_message_sanitised),
        cmocka_unit_test(test_alg_confusion_refused),
        cmocka_unit_test(test_expiry_and_nbf),
        cmocka_unit_test(test_missing_or_mistyped_claims),
        cmocka_unit_test(test_role_and_sub_bounds),
        cmocka_unit_test(test_claims_unread_before_signature),
        cmocka_unit_test(test_malformed_inputs),
        cmocka_unit_test(test_rs_valid_and_wrong_key),
        cmocka_unit_test(test_es_valid_and_signature_shape),
        cmocka_unit_test(test_es384_and_es512),
        cmocka_unit_test(test_kid_selection),
        cmocka_unit_test(test_hs_kid_and_oct_keys),
        cmocka_unit_test(test_keyring_errors),
        cmocka_unit_test(test_concurrent_verify),
    };
    return cmocka_run_group_tests(tests, keys_setup, keys_teardown);
}
