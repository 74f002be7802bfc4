/*
 * auth/jwt: verifies JWS compact tokens for the join path and signs HS256
 * tokens for tests and tools.
 *
 * Owns the keyring: EVP_PKEY objects and keyed HMAC templates built once
 * from the configured secret and JWKS, then shared read-only by every
 * thread. Every per-call OpenSSL context is local to the call.
 * It must never let the token choose the kind of key (the key pins the
 * algorithm), never look at claims before the signature has verified, never
 * accept a MAC or signature of the wrong length, and never echo token bytes
 * into a message without sanitising them.
 */
#include "auth/jwt.h"
#include "util/log.h"
#include "util/mem.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Real tokens are a few hundred bytes; the bound keeps decoding on the
 * stack and caps the JSON an unauthenticated client can make us parse. */
#define JWT_MAX_TOKEN ((size_t)16 * 1024)
/* Room for the three decoded parts, each len * 3 / 4 + 3 by contract. */
#define JWT_DECODE_ROOM (JWT_MAX_TOKEN / 4 * 3 + 9)
/* RFC 7518 3.3: RSA keys below 2048 bits MUST NOT be used; the top bound
 * keeps one verification from costing a join-storm's worth of CPU. */
#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 16384

#define MSG_MALFORMED "The token provided is not a valid JWT"
#define MSG_BAD_SIGNATURE "Failed to validate JWT signature"
#define MSG_MISSING_CLAIMS "Fields `role` and `exp` are required in JWT"
/* Present but unusable: saying "required" of a claim the token has sends
 * its author looking for the wrong mistake. */
#define MSG_BAD_ROLE "Field `role` in JWT must be a non-empty string"
#define MSG_BAD_EXP "Field `exp` in JWT must be a NumericDate: an integer number of seconds since the epoch"
#define MSG_BAD_NBF "Field `nbf` in JWT must be a NumericDate: an integer number of seconds since the epoch"

typedef enum { KEY_HMAC, KEY_RSA, KEY_EC } key_kind_t;
enum { HASH_256, HASH_384, HASH_512, HASH_COUNT };

static const char *const HASH_NAME[HASH_COUNT] = {"SHA256", "SHA384", "SHA512"};
static const size_t HASH_LEN[HASH_COUNT] = {32, 48, 64};

typedef struct {
    const char *name;
    key_kind_t kind;
    int hash;        /* HASH_* */
    size_t ec_coord; /* ES: bytes in each of r and s; 0 otherwise */
} jws_alg_t;

static const jws_alg_t ALGS[] = {
    {"HS256", KEY_HMAC, HASH_256, 0}, {"HS384", KEY_HMAC, HASH_384, 0}, {"HS512", KEY_HMAC, HASH_512, 0},
    {"RS256", KEY_RSA, HASH_256, 0},  {"RS384", KEY_RSA, HASH_384, 0},  {"RS512", KEY_RSA, HASH_512, 0},
    {"ES256", KEY_EC, HASH_256, 32},  {"ES384", KEY_EC, HASH_384, 48},  {"ES512", KEY_EC, HASH_512, 66},
};
#define ALG_ES256 (&ALGS[6])

/* An EC key serves exactly one ES algorithm: the one of its curve. */
typedef struct {
    const char *crv;   /* JWK name */
    const char *group; /* OpenSSL group name */
    const jws_alg_t *alg;
} ec_curve_t;

static const ec_curve_t CURVES[] = {
    {"P-256", "prime256v1", ALG_ES256},
    {"P-384", "secp384r1", ALG_ES256 + 1},
    {"P-521", "secp521r1", ALG_ES256 + 2},
};

typedef struct {
    key_kind_t kind;
    char *kid;                     /* NULL when the key has none (always for the HS secret) */
    const jws_alg_t *only_alg;     /* NULL: any algorithm of the kind */
    EVP_PKEY *pkey;                /* RSA and EC */
    EVP_MAC_CTX *hmac[HASH_COUNT]; /* HMAC: keyed templates; calls duplicate them, never use them */
} jwt_key_t;

struct jwt_keyring {
    jwt_key_t *keys;
    size_t nkeys;            /* usable keys, keys[0..nkeys) */
    size_t cap;              /* slots allocated; all zeroed or keyed, so all freed */
    const jwt_key_t *secret; /* the configured HS secret inside keys[], or NULL */
    EVP_MAC *mac;            /* fetched once: a fetch per call is a locked store lookup */
};

/* ---- small helpers ---------------------------------------------------- */

static void set_msg(char *dst, size_t room, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_msg(char *dst, size_t room, const char *fmt, ...) {
    if (!dst || room == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, room, fmt, ap);
    va_end(ap);
}

/* Copies at most 32 bytes of untrusted text into dst (>= 40 bytes) keeping
 * only characters that are harmless in any log line or JSON string. */
static void sanitize(const char *s, size_t n, char dst[40]) {
    size_t i, o = 0;
    for (i = 0; i < n && o < 32; i++) {
        char c = s[i];
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                     c == '_' || c == '.' || c == '+' || c == ':';
        dst[o++] = plain ? c : '?';
    }
    if (i < n) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
}

static const jws_alg_t *alg_by_name(const char *name) {
    for (size_t i = 0; i < sizeof(ALGS) / sizeof(ALGS[0]); i++)
        if (strcmp(ALGS[i].name, name) == 0)
            return &ALGS[i];
    return NULL;
}

static bool key_allows(const jwt_key_t *k, const jws_alg_t *alg) {
    return k->kind == alg->kind && (k->only_alg == NULL || k->only_alg == alg);
}

static void key_clear(jwt_key_t *k) {
    free(k->kid);
    EVP_PKEY_free(k->pkey);
    for (int h = 0; h < HASH_COUNT; h++)
        EVP_MAC_CTX_free(k->hmac[h]);
    memset(k, 0, sizeof(*k));
}

/* ---- building keys ---------------------------------------------------- */

/* Keys the three HMAC templates; the secret bytes live on only inside them. */
static bool hmac_key_init(const jwt_keyring_t *kr, jwt_key_t *k, const uint8_t *secret, size_t len) {
    k->kind = KEY_HMAC;
    for (int h = 0; h < HASH_COUNT; h++) {
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)HASH_NAME[h], 0),
            OSSL_PARAM_construct_end(),
        };
        k->hmac[h] = EVP_MAC_CTX_new(kr->mac);
        if (!k->hmac[h] || EVP_MAC_init(k->hmac[h], secret, len, params) != 1)
            return false;
    }
    return true;
}

/* Imports public key parameters and checks them (point on the curve, sane
 * modulus and exponent) once here rather than trusting them per token.
 * Returns a new EVP_PKEY the caller frees, or NULL. */
static EVP_PKEY *pkey_from_bld(const char *type, OSSL_PARAM_BLD *bld) {
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY_CTX *check = NULL;
    EVP_PKEY *pkey = NULL;

    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        goto fail;
    check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (!check || EVP_PKEY_public_check(check) != 1)
        goto fail;
    goto done;
fail:
    EVP_PKEY_free(pkey);
    pkey = NULL;
done:
    EVP_PKEY_CTX_free(check);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

/* Decodes the base64url member name of jwk. Returns malloc'd bytes the
 * caller frees, or NULL if absent, not a string, empty or not base64url. */
static uint8_t *jwk_bytes(const json_t *jwk, const char *name, size_t *len) {
    const json_t *v = json_object_get(jwk, name);
    if (!json_is_string(v) || json_string_length(v) == 0)
        return NULL;
    size_t n = json_string_length(v);
    uint8_t *out = xmalloc(n / 4 * 3 + 3);
    long got = b64url_decode(json_string_value(v), n, out);
    if (got <= 0) {
        free(out);
        return NULL;
    }
    *len = (size_t)got;
    return out;
}

static bool rsa_key_init(jwt_key_t *k, const json_t *jwk, char *err, size_t errlen) {
    size_t nlen = 0, elen = 0;
    uint8_t *n = jwk_bytes(jwk, "n", &nlen), *e = jwk_bytes(jwk, "e", &elen);
    BIGNUM *bn_n = NULL, *bn_e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    bool ok = false;

    k->kind = KEY_RSA;
    /* bounds first: BN_bin2bn takes an int */
    if (!n || !e || elen > 8 || nlen > RSA_MAX_BITS / 8 + 1) {
        set_msg(err, errlen, "RSA key needs base64url \"n\" and \"e\"");
        goto out;
    }
    bn_n = BN_bin2bn(n, (int)nlen, NULL);
    bn_e = BN_bin2bn(e, (int)elen, NULL);
    if (!bn_n || !bn_e || BN_num_bits(bn_n) < RSA_MIN_BITS || BN_num_bits(bn_n) > RSA_MAX_BITS) {
        set_msg(err, errlen, "RSA key must be %d to %d bits", RSA_MIN_BITS, RSA_MAX_BITS);
        goto out;
    }
    bld = OSSL_PARAM_BLD_new();
    if (!bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) || !(k->pkey = pkey_from_bld("RSA", bld))) {
        set_msg(err, errlen, "RSA key is not a valid public key");
        goto out;
    }
    ok = true;
out:
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    free(n);
    free(e);
    return ok;
}

static bool ec_key_init(jwt_key_t *k, const json_t *jwk, char *err, size_t errlen) {
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    const ec_curve_t *curve = NULL;
    size_t xlen = 0, ylen = 0;
    uint8_t *x = NULL, *y = NULL, pub[1 + 2 * 66];
    OSSL_PARAM_BLD *bld = NULL;
    bool ok = false;

    k->kind = KEY_EC;
    for (size_t i = 0; crv && i < sizeof(CURVES) / sizeof(CURVES[0]); i++)
        if (strcmp(CURVES[i].crv, crv) == 0)
            curve = &CURVES[i];
    if (!curve) {
        set_msg(err, errlen, "EC key needs \"crv\" P-256, P-384 or P-521");
        goto out;
    }
    /* RFC 7518 6.2.1.2: coordinates are full length, never trimmed */
    size_t coord = curve->alg->ec_coord;
    x = jwk_bytes(jwk, "x", &xlen);
    y = jwk_bytes(jwk, "y", &ylen);
    if (!x || !y || xlen != coord || ylen != coord) {
        set_msg(err, errlen, "EC key needs base64url \"x\" and \"y\" of %zu bytes", coord);
        goto out;
    }
    pub[0] = 0x04; /* uncompressed point */
    memcpy(pub + 1, x, coord);
    memcpy(pub + 1 + coord, y, coord);
    bld = OSSL_PARAM_BLD_new();
    if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curve->group, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + 2 * coord) ||
        !(k->pkey = pkey_from_bld("EC", bld))) {
        set_msg(err, errlen, "EC key is not a valid %s public key", curve->crv);
        goto out;
    }
    k->only_alg = curve->alg;
    ok = true;
out:
    OSSL_PARAM_BLD_free(bld);
    free(x);
    free(y);
    return ok;
}

static bool oct_key_init(const jwt_keyring_t *kr, jwt_key_t *k, const json_t *jwk, char *err, size_t errlen) {
    size_t len = 0;
    uint8_t *secret = jwk_bytes(jwk, "k", &len);
    bool ok = secret && hmac_key_init(kr, k, secret, len);
    if (!ok)
        set_msg(err, errlen, "oct key needs a non-empty base64url \"k\"");
    if (secret) {
        OPENSSL_cleanse(secret, len);
        free(secret);
    }
    return ok;
}

/* Why this server cannot verify with a well-formed JWK, or NULL if it can.
 * why is a caller buffer of at least 64 bytes. */
static const char *jwk_skip_reason(const json_t *kty, const json_t *alg, const json_t *use, char *why) {
    char safe[40];
    const char *type = json_string_value(kty);

    if (alg && !alg_by_name(json_string_value(alg))) {
        sanitize(json_string_value(alg), json_string_length(alg), safe);
        snprintf(why, 64, "alg %s", safe);
    } else if (use && strcmp(json_string_value(use), "sig") != 0) {
        snprintf(why, 64, "use is not sig");
    } else if (strcmp(type, "RSA") != 0 && strcmp(type, "EC") != 0 && strcmp(type, "oct") != 0) {
        sanitize(type, json_string_length(kty), safe);
        snprintf(why, 64, "kty %s", safe);
    } else {
        return NULL;
    }
    return why;
}

/* Loads one JWK into *k. Returns 1 when loaded, 0 when skipped (a key this
 * server cannot use for signatures: logged, since tokens for it will then
 * fail), -1 with err set when the key is broken. */
static int jwk_load(const jwt_keyring_t *kr, jwt_key_t *k, const json_t *jwk, size_t idx, char *err, size_t errlen) {
    char why[160];
    const json_t *kty = json_object_get(jwk, "kty"), *kid = json_object_get(jwk, "kid");
    const json_t *alg = json_object_get(jwk, "alg"), *use = json_object_get(jwk, "use");
    bool ok;

    if (!json_is_object(jwk) || !json_is_string(kty) || (kid && !json_is_string(kid)) ||
        (alg && !json_is_string(alg)) || (use && !json_is_string(use))) {
        set_msg(err, errlen, "JWKS key %zu: \"kty\" must be a string, \"kid\"/\"alg\"/\"use\" strings if present", idx);
        return -1;
    }
    if (jwk_skip_reason(kty, alg, use, why)) {
        log_warn("jwks: skipping a key this server cannot verify with", "\"index\":%zu,\"reason\":\"%s\"", idx, why);
        return 0;
    }

    const char *type = json_string_value(kty);
    const jws_alg_t *pinned = alg ? alg_by_name(json_string_value(alg)) : NULL;
    if (strcmp(type, "RSA") == 0)
        ok = rsa_key_init(k, jwk, why, sizeof(why));
    else if (strcmp(type, "EC") == 0)
        ok = ec_key_init(k, jwk, why, sizeof(why));
    else
        ok = oct_key_init(kr, k, jwk, why, sizeof(why));
    if (ok && pinned && !key_allows(k, pinned)) {
        snprintf(why, sizeof(why), "\"alg\" %s does not fit the key", pinned->name);
        ok = false;
    }
    if (!ok) {
        set_msg(err, errlen, "JWKS key %zu: %s", idx, why);
        key_clear(k);
        return -1;
    }
    if (pinned)
        k->only_alg = pinned;
    if (kid)
        k->kid = xstrndup(json_string_value(kid), json_string_length(kid));
    return 1;
}

static bool jwks_load(jwt_keyring_t *kr, const json_t *keys, char *err, size_t errlen) {
    size_t i;
    const json_t *jwk;
    json_array_foreach(keys, i, jwk) {
        int rc = jwk_load(kr, &kr->keys[kr->nkeys], jwk, i, err, errlen);
        if (rc < 0)
            return false;
        kr->nkeys += (size_t)rc;
    }
    return true;
}

/* Returns a keyring the caller frees with jwt_keyring_free, or NULL with
 * err set. At least one usable key is required: a keyring that can verify
 * nothing is a configuration mistake better reported at startup. */
jwt_keyring_t *jwt_keyring_new(const uint8_t *hs_secret, size_t secret_len, const char *jwks_json, char *err,
                               size_t errlen) {
    jwt_keyring_t *kr = xcalloc(1, sizeof(*kr));
    json_t *doc = NULL;
    const json_t *keys = NULL;
    json_error_t jerr;

    set_msg(err, errlen, "%s", "");
    if (jwks_json) {
        doc = json_loads(jwks_json, JSON_REJECT_DUPLICATES, &jerr);
        if (!doc) {
            set_msg(err, errlen, "JWKS is not valid JSON: %s (line %d)", jerr.text, jerr.line);
            goto fail;
        }
        keys = json_object_get(doc, "keys");
        if (!json_is_array(keys)) {
            set_msg(err, errlen, "JWKS must be an object with a \"keys\" array");
            goto fail;
        }
    }
    kr->cap = 1 + json_array_size(keys);
    kr->keys = xcalloc(kr->cap, sizeof(jwt_key_t));
    kr->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!kr->mac) {
        set_msg(err, errlen, "OpenSSL has no HMAC");
        goto fail;
    }
    if (hs_secret) {
        /* an empty HMAC key would let anyone mint tokens */
        if (secret_len == 0) {
            set_msg(err, errlen, "the JWT secret must not be empty");
            goto fail;
        }
        if (!hmac_key_init(kr, &kr->keys[0], hs_secret, secret_len)) {
            set_msg(err, errlen, "cannot key HMAC with the JWT secret");
            goto fail;
        }
        kr->nkeys = 1;
        kr->secret = &kr->keys[0];
    }
    if (keys && !jwks_load(kr, keys, err, errlen))
        goto fail;
    if (kr->nkeys == 0) {
        set_msg(err, errlen, "no usable JWT key: set a secret or a JWKS with RSA, EC or oct keys");
        goto fail;
    }
    json_decref(doc);
    return kr;
fail:
    json_decref(doc);
    jwt_keyring_free(kr);
    return NULL;
}

void jwt_keyring_free(jwt_keyring_t *kr) {
    if (!kr)
        return;
    /* every slot: a failed setup may leave a half-keyed one past nkeys */
    for (size_t i = 0; i < kr->cap; i++)
        key_clear(&kr->keys[i]);
    free(kr->keys);
    EVP_MAC_free(kr->mac);
    free(kr);
}

/* ---- verifying -------------------------------------------------------- */

typedef struct {
    const char *signing_input; /* header "." payload, as sent */
    size_t signing_len;
    const uint8_t *header, *payload, *sig; /* decoded, inside the caller's buffer */
    size_t header_len, payload_len, sig_len;
} jws_parts_t;

/* Splits token into exactly three parts and decodes each into dec. */
static bool jws_split(const char *token, size_t len, uint8_t *dec, jws_parts_t *p) {
    const char *end = token + len;
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', (size_t)(end - d1 - 1)) : NULL;
    if (!d2 || memchr(d2 + 1, '.', (size_t)(end - d2 - 1)) || d1 == token || d2 == d1 + 1)
        return false;

    long h = b64url_decode(token, (size_t)(d1 - token), dec);
    if (h < 0)
        return false;
    long pl = b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), dec + h);
    if (pl < 0)
        return false;
    long s = b64url_decode(d2 + 1, (size_t)(end - d2 - 1), dec + h + pl);
    if (s < 0)
        return false;
    p->signing_input = token;
    p->signing_len = (size_t)(d2 - token);
    p->header = dec;
    p->header_len = (size_t)h;
    p->payload = dec + h;
    p->payload_len = (size_t)pl;
    p->sig = dec + h + pl;
    p->sig_len = (size_t)s;
    return true;
}

/* Picks the key for alg and the token's kid (NULL if none). BAD_ALG when no
 * configured key can verify alg at all, or the kid names a key of another
 * kind; NO_KEY when such keys exist but the token does not single one out. */
static jwt_status_t select_key(const jwt_keyring_t *kr, const jws_alg_t *alg, const char *kid, const jwt_key_t **out) {
    const jwt_key_t *only = NULL;
    size_t usable = 0;
    bool kid_elsewhere = false;

    for (size_t i = 0; i < kr->nkeys; i++) {
        const jwt_key_t *k = &kr->keys[i];
        bool named = kid && k->kid && strcmp(k->kid, kid) == 0;
        if (!key_allows(k, alg)) {
            kid_elsewhere |= named;
            continue;
        }
        usable++;
        only = k;
        if (named) {
            *out = k;
            return JWT_OK;
        }
    }
    if (usable == 0)
        return JWT_BAD_ALG;
    /* Supabase Auth puts a kid on HS256 tokens without publishing the oct
     * key; like supabase/realtime, such tokens fall back to the secret. */
    if (alg->kind == KEY_HMAC && kr->secret) {
        *out = kr->secret;
        return JWT_OK;
    }
    if (kid)
        return kid_elsewhere ? JWT_BAD_ALG : JWT_NO_KEY;
    if (usable == 1) {
        *out = only;
        return JWT_OK;
    }
    return JWT_NO_KEY;
}

static bool hmac_verify(const jwt_key_t *k, const jws_alg_t *alg, const jws_parts_t *p) {
    uint8_t mac[EVP_MAX_MD_SIZE];
    size_t maclen = 0;
    bool ok = false;

    /* a truncated MAC could be forged a byte at a time */
    if (p->sig_len != HASH_LEN[alg->hash])
        return false;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(k->hmac[alg->hash]);
    if (ctx && EVP_MAC_update(ctx, (const uint8_t *)p->signing_input, p->signing_len) == 1 &&
        EVP_MAC_final(ctx, mac, &maclen, sizeof(mac)) == 1 && maclen == p->sig_len)
        ok = CRYPTO_memcmp(mac, p->sig, maclen) == 0;
    EVP_MAC_CTX_free(ctx);
    /* the MAC of attacker-chosen input is a valid token: leave no copy */
    OPENSSL_cleanse(mac, sizeof(mac));
    return ok;
}

/* JWS carries ECDSA signatures as fixed-width r || s; OpenSSL verifies
 * DER. Returns the DER length written to der, 0 on failure. */
static size_t ecdsa_raw_to_der(const uint8_t *raw, size_t coord, uint8_t *der, size_t room) {
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)coord, NULL), *s = BN_bin2bn(raw + coord, (int)coord, NULL);
    size_t n = 0;

    if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        goto out;
    }
    /* sig owns r and s now */
    int len = i2d_ECDSA_SIG(sig, NULL);
    if (len > 0 && (size_t)len <= room) {
        uint8_t *w = der;
        if (i2d_ECDSA_SIG(sig, &w) == len)
            n = (size_t)len;
    }
out:
    ECDSA_SIG_free(sig);
    return n;
}

static bool pkey_verify(const jwt_key_t *k, const jws_alg_t *alg, const jws_parts_t *p) {
    const uint8_t *sig = p->sig;
    size_t siglen = p->sig_len;
    uint8_t der[2 * 66 + 16];
    bool ok = false;

    if (alg->kind == KEY_EC) {
        if (siglen != 2 * alg->ec_coord)
            return false;
        siglen = ecdsa_raw_to_der(sig, alg->ec_coord, der, sizeof(der));
        sig = der;
        if (siglen == 0)
            return false;
    } else if (siglen != (size_t)EVP_PKEY_get_size(k->pkey)) {
        return false;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx && EVP_DigestVerifyInit_ex(ctx, NULL, HASH_NAME[alg->hash], NULL, NULL, k->pkey, NULL) == 1)
        ok = EVP_DigestVerify(ctx, sig, siglen, (const uint8_t *)p->signing_input, p->signing_len) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        ERR_clear_error(); /* a forged token is not this thread's OpenSSL error */
    return ok;
}

/* NumericDate as an integer, or a JSON real holding an integral value
 * (some issuers serialise 1.7e9). Anything else is not a date to us. */
static bool numeric_date(const json_t *v, int64_t *out) {
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return true;
    }
    if (!json_is_real(v))
        return false;
    double d = json_real_value(v);
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
        return false;
    int64_t i = (int64_t)d;
    if ((double)i != d)
        return false;
    *out = i;
    return true;
}

/* Checks the claims of a verified payload and fills out (except claims). */
static jwt_status_t check_claims(const json_t *pl, int64_t now, jwt_claims_t *out, char *msg, size_t msglen) {
    const json_t *role = json_object_get(pl, "role"), *sub = json_object_get(pl, "sub");
    const json_t *nbf = json_object_get(pl, "nbf");

    const size_t sub_len = json_is_string(sub) ? json_string_length(sub) : 0;

    const json_t *exp = json_object_get(pl, "exp");

    if (!role || json_is_null(role) || !exp || json_is_null(exp)) {
        set_msg(msg, msglen, MSG_MISSING_CLAIMS);
        return JWT_MISSING_CLAIMS;
    }
    if (!json_is_string(role) || json_string_length(role) == 0) {
        set_msg(msg, msglen, MSG_BAD_ROLE);
        return JWT_MISSING_CLAIMS;
    }
    if (!numeric_date(exp, &out->exp)) {
        set_msg(msg, msglen, MSG_BAD_EXP);
        return JWT_MISSING_CLAIMS;
    }
    if (nbf && !numeric_date(nbf, &out->nbf)) {
        set_msg(msg, msglen, MSG_BAD_NBF);
        return JWT_MALFORMED;
    }
    /* a role we would have to truncate is not one we can authorise */
    if (json_string_length(role) >= sizeof(out->role) || sub_len >= sizeof(out->sub)) {
        set_msg(msg, msglen, MSG_MALFORMED);
        return JWT_MALFORMED;
    }
    memcpy(out->role, json_string_value(role), json_string_length(role) + 1);
    if (sub_len)
        memcpy(out->sub, json_string_value(sub), sub_len + 1);
    if (out->exp <= now) {
        /* unsigned: exp may be as far in the past as INT64_MIN */
        set_msg(msg, msglen, "Token has expired %llu seconds ago",
                (unsigned long long)((uint64_t)now - (uint64_t)out->exp));
        return JWT_EXPIRED;
    }
    if (out->nbf > now) {
        set_msg(msg, msglen, "Token is not valid yet");
        return JWT_NOT_YET_VALID;
    }
    return JWT_OK;
}

/* Reads alg and kid from the decoded header. The header reference stays
 * with the caller, kid points into it. */
static jwt_status_t parse_header(const jws_parts_t *p, json_t **hdr, const jws_alg_t **alg, const char **kid, char *msg,
                                 size_t msglen) {
    char safe[40];
    *hdr = json_loadb((const char *)p->header, p->header_len, JSON_REJECT_DUPLICATES, NULL);
    const json_t *a = json_object_get(*hdr, "alg"), *k = json_object_get(*hdr, "kid");
    /* "crit" names extensions we would have to understand (RFC 7515 4.1.11) */
    if (!json_is_object(*hdr) || !json_is_string(a) || (k && !json_is_string(k)) || json_object_get(*hdr, "crit")) {
        set_msg(msg, msglen, MSG_MALFORMED);
        return JWT_MALFORMED;
    }
    *kid = json_string_value(k);
    *alg = alg_by_name(json_string_value(a));
    if (!*alg) {
        sanitize(json_string_value(a), json_string_length(a), safe);
        set_msg(msg, msglen, "Unsupported JWT algorithm: %s", safe);
        return JWT_BAD_ALG;
    }
    return JWT_OK;
}

static jwt_status_t check_signature(const jwt_keyring_t *kr, const jws_parts_t *p, const jws_alg_t *alg,
                                    const char *kid, char *msg, size_t msglen) {
    const jwt_key_t *key = NULL;
    char safe[40];
    jwt_status_t st = select_key(kr, alg, kid, &key);

    if (st == JWT_BAD_ALG) {
        set_msg(msg, msglen, "Unsupported JWT algorithm: %s", alg->name);
        return st;
    }
    if (st == JWT_NO_KEY) {
        if (kid) {
            sanitize(kid, strlen(kid), safe);
            set_msg(msg, msglen, "No key found to verify the JWT with kid %s", safe);
        } else {
            set_msg(msg, msglen, "No key found to verify the JWT");
        }
        return st;
    }
    if (!(key->kind == KEY_HMAC ? hmac_verify(key, alg, p) : pkey_verify(key, alg, p))) {
        set_msg(msg, msglen, MSG_BAD_SIGNATURE);
        return JWT_BAD_SIGNATURE;
    }
    return JWT_OK;
}

/* Order matters: structure, then the header's alg, then the signature, and
 * only then the payload, so nothing an unverified token claims is acted on.
 * On JWT_OK the caller owns out->claims; on failure out is zeroed. */
jwt_status_t jwt_verify(const jwt_keyring_t *kr, const char *token, size_t len, int64_t now, jwt_claims_t *out,
                        char *msg, size_t msglen) {
    uint8_t dec[JWT_DECODE_ROOM];
    jws_parts_t parts;
    json_t *hdr = NULL, *payload = NULL;
    const jws_alg_t *alg = NULL;
    const char *kid = NULL;
    jwt_status_t st;

    if (out)
        memset(out, 0, sizeof(*out));
    set_msg(msg, msglen, "%s", "");
    if (!kr || !token || !out || len == 0 || len > JWT_MAX_TOKEN || !jws_split(token, len, dec, &parts)) {
        set_msg(msg, msglen, MSG_MALFORMED);
        return JWT_MALFORMED;
    }
    st = parse_header(&parts, &hdr, &alg, &kid, msg, msglen);
    if (st != JWT_OK)
        goto out;
    st = check_signature(kr, &parts, alg, kid, msg, msglen);
    if (st != JWT_OK)
        goto out;
    payload = json_loadb((const char *)parts.payload, parts.payload_len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(payload)) {
        set_msg(msg, msglen, MSG_MALFORMED);
        st = JWT_MALFORMED;
        goto out;
    }
    st = check_claims(payload, now, out, msg, msglen);
    if (st == JWT_OK) {
        out->claims = payload;
        payload = NULL;
    }
out:
    if (st != JWT_OK)
        memset(out, 0, sizeof(*out));
    json_decref(payload);
    json_decref(hdr);
    return st;
}

/* ---- signing ---------------------------------------------------------- */

/* Returns a malloc'd token the caller frees, or NULL if claims_json is NULL
 * or OpenSSL fails. The claims text is signed as given, not re-serialised. */
char *jwt_sign_hs256(const uint8_t *secret, size_t secret_len, const char *claims_json) {
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    uint8_t mac[32];
    size_t maclen = 0;

    if (!claims_json)
        return NULL;
    char *h = b64url_encode((const uint8_t *)header, sizeof(header) - 1);
    char *c = b64url_encode((const uint8_t *)claims_json, strlen(claims_json));
    size_t hl = strlen(h), cl = strlen(c);
    char *tok = xmalloc(hl + 1 + cl + 1 + 43 + 1);
    memcpy(tok, h, hl);
    tok[hl] = '.';
    memcpy(tok + hl + 1, c, cl);
    free(h);
    free(c);
    if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret_len ? secret : (const uint8_t *)"", secret_len,
                   (const uint8_t *)tok, hl + 1 + cl, mac, sizeof(mac), &maclen) ||
        maclen != sizeof(mac)) {
        free(tok);
        return NULL;
    }
    char *s = b64url_encode(mac, maclen);
    tok[hl + 1 + cl] = '.';
    memcpy(tok + hl + 1 + cl + 1, s, strlen(s) + 1);
    free(s);
    return tok;
}
