/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the signet-hsm OpenSSL provider (hsmbind/provider.c): token keys made with
 * hsm_keygen on a throwaway SoftHSM2 token sign certificates, requests and CRLs through OpenSSL's
 * own calls; the results are checked with OpenSSL against hsm_key_public and with the `openssl
 * verify` command. The token is opened through libfaulthsm.so (forwarding to SoftHSM2) so that
 * one test can make the token refuse to sign.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "hsmbind.h"
#include "tokenfix.h"

#define LABEL "prov"

enum { K_P256, K_P384, K_RSA, K_ED, K_MAX };

static const enum hsm_key_type key_types[K_MAX] = {HSM_KEY_EC_P256, HSM_KEY_EC_P384,
                                                   HSM_KEY_RSA_2048, HSM_KEY_ED25519};
static const int key_bits[K_MAX] = {256, 384, 2048, 256};

static struct {
    struct tokenfix fx;
    char control[320]; /* FAULTHSM_CONTROL */
    struct hsm_token *tok;
    struct hsm_key *keys[K_MAX];
    EVP_PKEY *evps[K_MAX];
} g;

/* Replaces faulthsm's control file atomically. */
static void control(const char *text)
{
    char tmp[340];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", g.control);
    assert_non_null(f = fopen(tmp, "w"));
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, g.control), 0);
}

static int setup(void **state)
{
    static const char *const labels[] = {LABEL};
    struct hsm_token_config cfg = {.module = SIGNET_FAULTHSM_MODULE, .token_label = LABEL};
    char detail[SIGNET_DETAIL_MAX] = "", name[32];
    struct secret *pin = secret_new(16);

    (void)state;
    if (access(SIGNET_FAULTHSM_MODULE, R_OK) != 0) {
        fprintf(stderr, "missing %s: build the faulthsm target\n", SIGNET_FAULTHSM_MODULE);
        return -1;
    }
    if (pin == NULL || !secret_set(pin, TOKENFIX_PIN, strlen(TOKENFIX_PIN)) ||
        !tokenfix_setup(&g.fx, labels, 1))
        return -1;
    snprintf(g.control, sizeof(g.control), "%s/faulthsm.control", g.fx.dir);
    setenv("FAULTHSM_CONTROL", g.control, 1);
    if (hsm_token_open(&cfg, pin, &g.tok, detail) != SIGNET_OK) {
        fprintf(stderr, "hsm_token_open: %s\n", detail);
        return -1;
    }
    for (int i = 0; i < K_MAX; i++) {
        snprintf(name, sizeof(name), "provkey%d", i);
        if (hsm_keygen(g.tok, name, key_types[i], 0, &g.keys[i], detail) != SIGNET_OK ||
            hsm_key_evp(g.keys[i], &g.evps[i], detail) != SIGNET_OK) {
            fprintf(stderr, "%s: %s\n", name, detail);
            return -1;
        }
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < K_MAX; i++) {
        EVP_PKEY_free(g.evps[i]);
        hsm_key_free(g.keys[i]);
    }
    hsm_token_free(g.tok);
    tokenfix_teardown(&g.fx);
    return 0;
}

static const EVP_MD *md_for(int k)
{
    return k == K_ED ? NULL : k == K_P384 ? EVP_sha384() : EVP_sha256();
}

static X509_NAME *test_name(const char *cn)
{
    X509_NAME *n = X509_NAME_new();

    assert_non_null(n);
    assert_int_equal(
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0), 1);
    return n;
}

/* An unsigned self-issued CA certificate whose public key OpenSSL copies from the provider key. */
static X509 *unsigned_cert(int k)
{
    X509 *x = X509_new();
    X509_NAME *n = test_name("signet provider test");
    X509_EXTENSION *ext;

    assert_non_null(x);
    assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 4242), 1);
    assert_int_equal(X509_set_subject_name(x, n), 1);
    assert_int_equal(X509_set_issuer_name(x, n), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -60));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
    assert_int_equal(X509_set_pubkey(x, g.evps[k]), 1);
    ext = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, "critical,CA:TRUE");
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
    X509_NAME_free(n);
    return x;
}

/* The same, signed by the token key. */
static X509 *self_signed(int k)
{
    X509 *x = unsigned_cert(k);

    assert_true(X509_sign(x, g.evps[k], md_for(k)) > 0);
    return x;
}

/* Runs `openssl verify` on the certificate as its own trust anchor; 1 when it says OK. */
static int openssl_verify(X509 *x, int k)
{
    char pem[400], cmd[1200], out[512] = "";
    FILE *f, *p;
    size_t n;
    int rc;

    snprintf(pem, sizeof(pem), "%s/cert-%d.pem", g.fx.dir, k);
    assert_non_null(f = fopen(pem, "w"));
    assert_int_equal(PEM_write_X509(f, x), 1);
    assert_int_equal(fclose(f), 0);
    snprintf(cmd, sizeof(cmd), "openssl verify -x509_strict -CAfile '%s' '%s' 2>&1", pem, pem);
    assert_non_null(p = popen(cmd, "r"));
    n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    rc = pclose(p);
    if (rc != 0 || strstr(out, ": OK") == NULL)
        fprintf(stderr, "openssl verify (key %d): %s\n", k, out);
    return rc == 0 && strstr(out, ": OK") != NULL;
}

static void test_x509_sign(void **state)
{
    (void)state;
    for (int k = 0; k < K_MAX; k++) {
        X509 *x = self_signed(k);

        assert_int_equal(X509_verify(x, hsm_key_public(g.keys[k])), 1);
        /* the check can fail: another key's public key does not verify it */
        assert_int_not_equal(X509_verify(x, hsm_key_public(g.keys[(k + 1) % K_MAX])), 1);
        ERR_clear_error();
        assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), hsm_key_public(g.keys[k])), 1);
        assert_int_equal(X509_check_private_key(x, g.evps[k]), 1);
        assert_true(openssl_verify(x, k));
        X509_free(x);
    }
}

static void test_req_and_crl_sign(void **state)
{
    (void)state;
    for (int k = 0; k < K_MAX; k++) {
        X509_REQ *req = X509_REQ_new();
        X509_CRL *crl = X509_CRL_new();
        X509_NAME *n = test_name("signet provider req");
        ASN1_TIME *now = ASN1_TIME_adj(NULL, time(NULL), 0, 0);

        assert_non_null(req);
        assert_non_null(crl);
        assert_int_equal(X509_REQ_set_subject_name(req, n), 1);
        assert_int_equal(X509_REQ_set_pubkey(req, g.evps[k]), 1);
        assert_true(X509_REQ_sign(req, g.evps[k], md_for(k)) > 0);
        assert_int_equal(X509_REQ_verify(req, hsm_key_public(g.keys[k])), 1);

        assert_int_equal(X509_CRL_set_version(crl, 1), 1);
        assert_int_equal(X509_CRL_set_issuer_name(crl, n), 1);
        assert_int_equal(X509_CRL_set1_lastUpdate(crl, now), 1);
        assert_true(X509_CRL_sign(crl, g.evps[k], md_for(k)) > 0);
        assert_int_equal(X509_CRL_verify(crl, hsm_key_public(g.keys[k])), 1);
        ASN1_TIME_free(now);
        X509_NAME_free(n);
        X509_REQ_free(req);
        X509_CRL_free(crl);
    }
}

/* 1 when sig verifies over msg with the key's plain public key. */
static int verify_plain(int k, const unsigned char *sig, size_t siglen, const char *msg)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    int ok;

    assert_non_null(m);
    assert_int_equal(EVP_DigestVerifyInit(m, NULL, md_for(k), NULL, hsm_key_public(g.keys[k])), 1);
    ok = EVP_DigestVerify(m, sig, siglen, (const unsigned char *)msg, strlen(msg)) == 1;
    EVP_MD_CTX_free(m);
    ERR_clear_error();
    return ok;
}

static void test_digest_sign(void **state)
{
    static const char msg[] = "signet provider message";
    (void)state;
    for (int k = 0; k < K_MAX; k++) {
        unsigned char sig[HSM_SIG_MAX];
        size_t siglen = 0;
        EVP_MD_CTX *m = EVP_MD_CTX_new();

        assert_non_null(m);
        assert_int_equal(EVP_DigestSignInit(m, NULL, md_for(k), NULL, g.evps[k]), 1);
        assert_int_equal(EVP_DigestSign(m, NULL, &siglen, (const unsigned char *)msg, strlen(msg)),
                         1);
        assert_int_equal(siglen, (size_t)EVP_PKEY_get_size(hsm_key_public(g.keys[k])));
        assert_int_equal(EVP_DigestSign(m, sig, &siglen, (const unsigned char *)msg, strlen(msg)),
                         1);
        EVP_MD_CTX_free(m);
        assert_true(verify_plain(k, sig, siglen, msg));
        assert_false(verify_plain(k, sig, siglen, "another message"));
        if (k == K_ED)
            continue;
        /* streaming: update in pieces, then final */
        assert_non_null(m = EVP_MD_CTX_new());
        siglen = sizeof(sig);
        assert_int_equal(EVP_DigestSignInit(m, NULL, md_for(k), NULL, g.evps[k]), 1);
        assert_int_equal(EVP_DigestSignUpdate(m, msg, 7), 1);
        assert_int_equal(EVP_DigestSignUpdate(m, msg + 7, strlen(msg) - 7), 1);
        assert_int_equal(EVP_DigestSignFinal(m, sig, &siglen), 1);
        EVP_MD_CTX_free(m);
        assert_true(verify_plain(k, sig, siglen, msg));
    }
}

/* EVP_PKEY_sign on a ready digest (EC and RSA). */
static void test_pkey_sign_digest(void **state)
{
    unsigned char dgst[32], sig[HSM_SIG_MAX];
    size_t siglen = sizeof(sig);
    (void)state;

    for (int k = 0; k < K_MAX; k++) {
        EVP_PKEY_CTX *c;

        if (k != K_P256 && k != K_RSA)
            continue;
        assert_int_equal(EVP_Digest("abc", 3, dgst, NULL, EVP_sha256(), NULL), 1);
        assert_non_null(c = EVP_PKEY_CTX_new_from_pkey(NULL, g.evps[k], NULL));
        assert_int_equal(EVP_PKEY_sign_init(c), 1);
        assert_int_equal(EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()), 1);
        siglen = sizeof(sig);
        assert_int_equal(EVP_PKEY_sign(c, sig, &siglen, dgst, sizeof(dgst)), 1);
        EVP_PKEY_CTX_free(c);
        assert_true(verify_plain(k, sig, siglen, "abc"));
    }
}

static void test_public_part(void **state)
{
    (void)state;
    for (int k = 0; k < K_MAX; k++) {
        EVP_PKEY *pub = hsm_key_public(g.keys[k]);

        assert_int_equal(EVP_PKEY_eq(g.evps[k], pub), 1);
        assert_int_equal(EVP_PKEY_eq(pub, g.evps[k]), 1);
        if (k != K_ED) /* a different key of another type (or same type) is not equal */
            assert_int_not_equal(EVP_PKEY_eq(g.evps[k], hsm_key_public(g.keys[K_ED])), 1);
        assert_int_not_equal(EVP_PKEY_eq(g.evps[K_P256], g.evps[K_P384]), 1);
        ERR_clear_error();
        assert_int_equal(EVP_PKEY_get_bits(g.evps[k]), key_bits[k]);
        assert_int_equal(EVP_PKEY_get_size(g.evps[k]), EVP_PKEY_get_size(pub));
        assert_true(EVP_PKEY_is_a(g.evps[k], k == K_RSA ? "RSA" : k == K_ED ? "ED25519" : "EC"));
        assert_string_equal(OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(g.evps[k])),
                            "signet-hsm");
    }
}

static void test_private_part_refused(void **state)
{
    (void)state;
    for (int k = 0; k < K_MAX; k++) {
        OSSL_PARAM *params = NULL;
        BIO *bio = BIO_new(BIO_s_mem());
        BIGNUM *bn = NULL;
        char text[512];

        ERR_clear_error();
        assert_int_equal(EVP_PKEY_todata(g.evps[k], EVP_PKEY_KEYPAIR, &params), 0);
        assert_null(params);
        ERR_error_string_n(ERR_peek_error(), text, sizeof(text));
        assert_non_null(strstr(text, "private key stays on the token"));
        assert_int_equal(PEM_write_bio_PrivateKey(bio, g.evps[k], NULL, NULL, 0, NULL, NULL), 0);
        assert_int_equal(BIO_pending(bio), 0);
        assert_int_equal(EVP_PKEY_get_bn_param(g.evps[k], OSSL_PKEY_PARAM_PRIV_KEY, &bn), 0);
        assert_int_equal(EVP_PKEY_get_bn_param(g.evps[k], OSSL_PKEY_PARAM_RSA_D, &bn), 0);
        assert_null(bn);
        BIO_free(bio);
        ERR_clear_error();
        /* the public part is exported */
        assert_int_equal(EVP_PKEY_todata(g.evps[k], EVP_PKEY_PUBLIC_KEY, &params), 1);
        assert_non_null(params);
        OSSL_PARAM_free(params);
    }
}

/* Key types used elsewhere in the process keep coming from the default provider. */
static void test_default_provider_untouched(void **state)
{
    static const char *const names[] = {"EC", "RSA", "ED25519"};
    (void)state;

    /* the provider lives in a library context of its own, not in the default one */
    assert_int_equal(OSSL_PROVIDER_available(NULL, "signet-hsm"), 0);
    for (int round = 0; round < 2; round++) {
        X509 *x;
        EVP_PKEY *p;

        if (round == 1) /* loading a provider flushes OpenSSL's method caches */
            assert_int_equal(OSSL_PROVIDER_unload(OSSL_PROVIDER_load(NULL, "base")), 1);
        for (int k = 0; k < K_MAX; k++) {
            x = self_signed(k);
            X509_free(x);
        }
        for (size_t i = 0; i < 3; i++) {
            EVP_KEYMGMT *km = EVP_KEYMGMT_fetch(NULL, names[i], NULL);

            assert_non_null(km);
            assert_string_equal(OSSL_PROVIDER_get0_name(EVP_KEYMGMT_get0_provider(km)), "default");
            EVP_KEYMGMT_free(km);
        }
        p = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        assert_non_null(p);
        assert_string_equal(OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(p)), "default");
        EVP_PKEY_free(p);
    }
}

enum { MIX_THREADS = 2, MIX_ROUNDS = 120, MIX_PUBS = 3 };

/* Shared by the threads of test_threads_mix; a thread never asserts, it records its first failure.
 */
struct mix {
    OSSL_PARAM *pub_params[MIX_PUBS]; /* public halves of the P-256, RSA and Ed25519 token keys */
    pthread_mutex_t lock;
    int failures;
    char first[256];
};

static const char *const mix_names[MIX_PUBS] = {"EC", "RSA", "ED25519"};
static const int mix_keys[MIX_PUBS] = {K_P256, K_RSA, K_ED};

/* Records a failure of a worker thread (the first one's text is kept for the report). */
static void mix_fail(struct mix *m, const char *what, int round)
{
    pthread_mutex_lock(&m->lock);
    if (m->failures++ == 0)
        snprintf(m->first, sizeof(m->first), "round %d: %s", round, what);
    pthread_mutex_unlock(&m->lock);
    ERR_clear_error();
}

/* 1 when pkey exists and comes from the default provider; frees it. */
static int mix_from_default(EVP_PKEY *pkey)
{
    int ok = pkey != NULL &&
             strcmp(OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(pkey)), "default") == 0;

    EVP_PKEY_free(pkey);
    return ok;
}

/* One X509_sign with token key k, checked against the key's public half. 1 = ok. */
static int mix_sign(int k)
{
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();
    int ok = x != NULL && n != NULL &&
             X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"mix", -1, -1,
                                        0) == 1 &&
             X509_set_version(x, X509_VERSION_3) && X509_set_subject_name(x, n) &&
             X509_set_issuer_name(x, n) && X509_gmtime_adj(X509_getm_notBefore(x), 0) != NULL &&
             X509_gmtime_adj(X509_getm_notAfter(x), 60) != NULL && X509_set_pubkey(x, g.evps[k]) &&
             X509_sign(x, g.evps[k], md_for(k)) > 0 && ERR_peek_error() == 0 &&
             X509_verify(x, hsm_key_public(g.keys[k])) == 1;

    X509_NAME_free(n);
    X509_free(x);
    return ok;
}

/* A public key of type i made with EVP_PKEY_fromdata and no property query. */
static EVP_PKEY *mix_fromdata(struct mix *m, int i)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, mix_names[i], NULL);
    EVP_PKEY *p = NULL;

    if (c == NULL || EVP_PKEY_fromdata_init(c) <= 0 ||
        EVP_PKEY_fromdata(c, &p, EVP_PKEY_PUBLIC_KEY, m->pub_params[i]) <= 0 ||
        EVP_PKEY_eq(p, hsm_key_public(g.keys[mix_keys[i]])) != 1) {
        EVP_PKEY_free(p);
        p = NULL;
    }
    EVP_PKEY_CTX_free(c);
    return p;
}

struct mix_arg {
    struct mix *m;
    int t; /* thread number */
};

/*
 * Worker: token signatures interleaved with unqualified key generation and public key imports,
 * which must keep coming from the default provider. Thread 0 also flushes OpenSSL's method caches
 * now and then (loading and unloading a provider does), since the order in which the caches are
 * refilled is what used to decide which provider unqualified fetches got.
 */
static void *mix_worker(void *varg)
{
    const struct mix_arg *a = varg;
    struct mix *m = a->m;

    for (int r = 0; r < MIX_ROUNDS; r++) {
        int i = (r + a->t) % MIX_PUBS;
        EVP_KEYMGMT *km;

        if (a->t == 0 && r % 20 == 10)
            (void)OSSL_PROVIDER_unload(OSSL_PROVIDER_load(NULL, "base"));
        if (!mix_sign((r + a->t) % K_MAX))
            mix_fail(m, "X509_sign with a token key", r);
        if (i == 0 && !mix_from_default(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")))
            mix_fail(m, "EVP_PKEY_Q_keygen EC P-256 not from the default provider", r);
        if (i == 1 && r % 6 == 1 && !mix_from_default(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", 1024)))
            mix_fail(m, "EVP_PKEY_Q_keygen RSA not from the default provider", r);
        if (i == 2 && !mix_from_default(EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")))
            mix_fail(m, "EVP_PKEY_Q_keygen ED25519 not from the default provider", r);
        for (int j = 0; j < MIX_PUBS; j++) {
            if (!mix_from_default(mix_fromdata(m, j)))
                mix_fail(m, "EVP_PKEY_fromdata of a public key not from the default provider", r);
        }
        km = EVP_KEYMGMT_fetch(NULL, mix_names[i], NULL);
        if (km == NULL ||
            strcmp(OSSL_PROVIDER_get0_name(EVP_KEYMGMT_get0_provider(km)), "default") != 0)
            mix_fail(m, "EVP_KEYMGMT_fetch without properties not from the default provider", r);
        EVP_KEYMGMT_free(km);
    }
    return NULL;
}

/* Two threads sign with token keys and make default-provider keys, interleaved; all succeed. */
static void test_threads_mix(void **state)
{
    struct mix m = {.failures = 0};
    struct mix_arg args[MIX_THREADS];
    pthread_t th[MIX_THREADS];
    (void)state;

    assert_int_equal(pthread_mutex_init(&m.lock, NULL), 0);
    for (int i = 0; i < MIX_PUBS; i++)
        assert_int_equal(EVP_PKEY_todata(hsm_key_public(g.keys[mix_keys[i]]), EVP_PKEY_PUBLIC_KEY,
                                         &m.pub_params[i]),
                         1);
    for (int t = 0; t < MIX_THREADS; t++) {
        args[t] = (struct mix_arg){.m = &m, .t = t};
        assert_int_equal(pthread_create(&th[t], NULL, mix_worker, &args[t]), 0);
    }
    for (int t = 0; t < MIX_THREADS; t++)
        assert_int_equal(pthread_join(th[t], NULL), 0);
    if (m.failures != 0)
        fprintf(stderr, "%d failures; first: %s\n", m.failures, m.first);
    assert_int_equal(m.failures, 0);
    for (int i = 0; i < MIX_PUBS; i++)
        OSSL_PARAM_free(m.pub_params[i]);
    pthread_mutex_destroy(&m.lock);
}

/* A digest outside SHA-256/384/512 is refused with a message saying which ones are allowed. */
static void test_digest_refused(void **state)
{
    X509 *x = unsigned_cert(K_P256);
    char text[512];
    (void)state;

    ERR_clear_error();
    assert_true(X509_sign(x, g.evps[K_P256], EVP_sha1()) <= 0);
    ERR_error_string_n(ERR_peek_error(), text, sizeof(text));
    assert_non_null(strstr(text, "digest not allowed"));
    ERR_clear_error();
    X509_free(x);
}

/* Drains OpenSSL's queue into text: every entry's reason and data. */
static void drain(char *text, size_t cap)
{
    const char *data = NULL;
    unsigned long e;
    size_t used = 0;

    text[0] = '\0';
    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, NULL)) != 0 && used + 1 < cap) {
        char one[256];

        ERR_error_string_n(e, one, sizeof(one));
        used += (size_t)snprintf(text + used, cap - used, "%s [%s]\n", one, data ? data : "");
        if (used >= cap)
            used = cap - 1;
    }
}

/* When the token refuses to sign, X509_sign fails and the error queue says why. */
static void test_hsm_failure_reported(void **state)
{
    X509 *x;
    char text[4096];
    (void)state;

    control("fail C_Sign 0x68\n");
    for (int k = 0; k < K_MAX; k++) {
        x = unsigned_cert(k);
        ERR_clear_error();
        assert_true(X509_sign(x, g.evps[k], md_for(k)) <= 0);
        drain(text, sizeof(text));
        assert_non_null(strstr(text, "HSM signing failed"));
        /* hsmbind's detail: which key, which call, what the token said */
        assert_non_null(strstr(text, "hsm: "));
        assert_non_null(strstr(text, hsm_key_uri(g.keys[k])));
        assert_non_null(strstr(text, "CKR_KEY_FUNCTION_NOT_PERMITTED"));
        X509_free(x);
    }
    control("");
    x = self_signed(K_P256);
    assert_int_equal(X509_verify(x, hsm_key_public(g.keys[K_P256])), 1);
    X509_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_x509_sign),
        cmocka_unit_test(test_req_and_crl_sign),
        cmocka_unit_test(test_digest_sign),
        cmocka_unit_test(test_pkey_sign_digest),
        cmocka_unit_test(test_public_part),
        cmocka_unit_test(test_private_part_refused),
        cmocka_unit_test(test_default_provider_untouched),
        cmocka_unit_test(test_threads_mix),
        cmocka_unit_test(test_digest_refused),
        cmocka_unit_test(test_hsm_failure_reported),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
