/*
 * fuzz_jwt: libFuzzer target for jwt_verify. Every input goes, as a token,
 * to a keyring holding only an HS secret and to one holding only a JWKS
 * (RSA and EC keys generated at start-up); it is also signed as a payload
 * with the secret, so the claim checks behind the signature get fuzzed too.
 * It asserts what must hold for any input: no crash, no leak, claims only
 * on JWT_OK, and a NUL-terminated message within the buffer.
 */
#include "auth/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET "fuzz-secret-fuzz-secret-fuzz-secret!"

static jwt_keyring_t *hs_ring, *jwks_ring;

static char *b64_param(EVP_PKEY *k, const char *param, int pad) {
    BIGNUM *bn = NULL;
    uint8_t buf[512];
    if (!EVP_PKEY_get_bn_param(k, param, &bn))
        abort();
    int n = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
    BN_free(bn);
    if (n <= 0)
        abort();
    return b64url_encode(buf, (size_t)n);
}

/* Builds both keyrings once; they live for the whole fuzzing process. */
static void setup(void) {
    char err[256], jwks[2048];
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!rsa || !ec)
        abort();
    char *n = b64_param(rsa, OSSL_PKEY_PARAM_RSA_N, 0), *e = b64_param(rsa, OSSL_PKEY_PARAM_RSA_E, 0);
    char *x = b64_param(ec, OSSL_PKEY_PARAM_EC_PUB_X, 32), *y = b64_param(ec, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
    snprintf(jwks, sizeof(jwks),
             "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r1\",\"n\":\"%s\",\"e\":\"%s\"},"
             "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"e1\",\"x\":\"%s\",\"y\":\"%s\"},"
             "{\"kty\":\"oct\",\"kid\":\"o1\",\"k\":\"c2VjcmV0\"}]}",
             n, e, x, y);
    hs_ring = jwt_keyring_new((const uint8_t *)SECRET, strlen(SECRET), NULL, err, sizeof(err));
    jwks_ring = jwt_keyring_new(NULL, 0, jwks, err, sizeof(err));
    if (!hs_ring || !jwks_ring) {
        fprintf(stderr, "fuzz_jwt setup: %s\n", err);
        abort();
    }
    free(n);
    free(e);
    free(x);
    free(y);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
}

static void verify(const jwt_keyring_t *kr, const char *tok, size_t len) {
    jwt_claims_t c;
    char msg[96];
    jwt_status_t st = jwt_verify(kr, tok, len, 1700000000, &c, msg, sizeof(msg));
    if (strnlen(msg, sizeof(msg)) == sizeof(msg))
        abort();
    if (st == JWT_OK) {
        if (!json_is_object(c.claims) || c.role[0] == '\0')
            abort();
        json_decref(c.claims);
    } else if (c.claims) {
        abort();
    }
}

/* libFuzzer calls it; declared for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!hs_ring)
        setup();
    /* a copy without a terminator, so ASan catches any read past len */
    char *tok = malloc(size ? size : 1);
    memcpy(tok, data, size);
    verify(hs_ring, tok, size);
    verify(jwks_ring, tok, size);
    free(tok);

    /* the same bytes as claims behind a valid HS256 signature */
    if (size < 4096 && !memchr(data, 0, size)) {
        char *claims = malloc(size + 1);
        memcpy(claims, data, size);
        claims[size] = '\0';
        char *signed_tok = jwt_sign_hs256((const uint8_t *)SECRET, strlen(SECRET), claims);
        if (signed_tok) {
            verify(hs_ring, signed_tok, strlen(signed_tok));
            free(signed_tok);
        }
        free(claims);
    }
    return 0;
}
