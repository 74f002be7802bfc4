/*
 * jwt_bench: single-core jwt_verify throughput for HS256 and ES256, the two
 * algorithms the join path meets most. Standalone on purpose (not in CMake):
 *
 *   cc -std=c11 -O2 -D_GNU_SOURCE -Isrc bench/jwt_bench.c src/auth/jwt.c \
 *      src/auth/b64.c src/util/mem.c src/util/log.c \
 *      $(pkg-config --cflags --libs jansson libcrypto) -o /tmp/jwt_bench
 *
 * It only measures; it never judges a number good or bad.
 */
#include "auth/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SECRET "super-secret-jwt-token-with-at-least-32-characters-long"
#define CLAIMS "{\"role\":\"authenticated\",\"sub\":\"0a1b2c3d-4e5f-6789-abcd-ef0123456789\",\"exp\":4102444800}"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Verifies tok until about a second has passed; prints the rate. */
static int run(const char *name, const jwt_keyring_t *kr, const char *tok) {
    size_t len = strlen(tok);
    long n = 0;
    double start = now_s(), el;
    do {
        for (int i = 0; i < 256; i++, n++) {
            jwt_claims_t c;
            if (jwt_verify(kr, tok, len, 1700000000, &c, NULL, 0) != JWT_OK) {
                fprintf(stderr, "%s: token does not verify\n", name);
                return 1;
            }
            json_decref(c.claims);
        }
        el = now_s() - start;
    } while (el < 1.0);
    printf("%-6s %10.0f verifications/s (%ld in %.2f s)\n", name, (double)n / el, n, el);
    return 0;
}

/* Returns an ES256 token for CLAIMS (malloc'd) and the JWKS text in *jwks
 * (malloc'd); both freed by the caller. */
static char *es256_token(char **jwks) {
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    BIGNUM *x = NULL, *y = NULL;
    uint8_t xb[32], yb[32], der[80], raw[64];
    size_t derlen = sizeof(der);
    if (!k || !EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
        !EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &y) || BN_bn2binpad(x, xb, 32) != 32 ||
        BN_bn2binpad(y, yb, 32) != 32)
        abort();
    char *xs = b64url_encode(xb, 32), *ys = b64url_encode(yb, 32);
    *jwks = malloc(256);
    snprintf(*jwks, 256, "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"k1\",\"x\":\"%s\",\"y\":\"%s\"}]}", xs,
             ys);

    const char *hdr = "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"k1\"}";
    char *h = b64url_encode((const uint8_t *)hdr, strlen(hdr));
    char *p = b64url_encode((const uint8_t *)CLAIMS, strlen(CLAIMS));
    char *tok = malloc(strlen(h) + strlen(p) + 100);
    sprintf(tok, "%s.%s", h, p);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, k, NULL) != 1 ||
        EVP_DigestSign(ctx, der, &derlen, (const uint8_t *)tok, strlen(tok)) != 1)
        abort();
    const uint8_t *dp = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &dp, (long)derlen);
    if (!sig || BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32) != 32 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32) != 32)
        abort();
    char *s = b64url_encode(raw, 64);
    strcat(tok, ".");
    strcat(tok, s);

    free(s);
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(ctx);
    free(h);
    free(p);
    free(xs);
    free(ys);
    BN_free(x);
    BN_free(y);
    EVP_PKEY_free(k);
    return tok;
}

int main(void) {
    char err[256], *jwks = NULL;
    int rc = 0;
    char *hs = jwt_sign_hs256((const uint8_t *)SECRET, strlen(SECRET), CLAIMS);
    char *es = es256_token(&jwks);
    jwt_keyring_t *kr = jwt_keyring_new((const uint8_t *)SECRET, strlen(SECRET), jwks, err, sizeof(err));
    if (!kr || !hs) {
        fprintf(stderr, "setup: %s\n", err);
        return 1;
    }
    rc |= run("HS256", kr, hs);
    rc |= run("ES256", kr, es);
    jwt_keyring_free(kr);
    free(hs);
    free(es);
    free(jwks);
    return rc;
}
