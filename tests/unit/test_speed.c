/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shortcuts taken for issuance speed give the same bytes as the slow paths they replace:
 * policy_spki_sha256 builds EC and Ed25519 SubjectPublicKeyInfo DER with the ASN.1 templates
 * instead of i2d_PUBKEY (OpenSSL 3's encoder), and must hash exactly what i2d_PUBKEY encodes
 * for an uncompressed point, or a key in the blocked-key table would no longer be found.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <string.h>

#include "policy.h"

/* SHA-256 of i2d_PUBKEY(k): the reference the fast path must match. */
static void reference(EVP_PKEY *k, unsigned char out[32])
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);

    assert_true(n > 0);
    SHA256(der, (size_t)n, out);
    OPENSSL_free(der);
}

/* k's hash through policy_spki_sha256 equals the reference. */
static void same_hash(EVP_PKEY *k)
{
    unsigned char want[32], got[32];

    assert_non_null(k);
    reference(k, want);
    assert_true(policy_spki_sha256(k, got));
    assert_memory_equal(want, got, 32);
}

/* k re-read from its SPKI DER, as a CSR's key is (the decoder path). */
static EVP_PKEY *reparsed(EVP_PKEY *k)
{
    unsigned char *der = NULL;
    const unsigned char *p;
    int n = i2d_PUBKEY(k, &der);
    EVP_PKEY *r;

    assert_true(n > 0);
    p = der;
    r = d2i_PUBKEY(NULL, &p, n);
    OPENSSL_free(der);
    assert_non_null(r);
    return r;
}

static void test_ec_curves(void **state)
{
    const char *curves[] = {"P-256", "P-384", "P-521", "secp256k1"};

    (void)state;
    for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
        EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curves[i]);
        EVP_PKEY *r = reparsed(k);
        same_hash(k);
        same_hash(r);
        EVP_PKEY_free(r);
        EVP_PKEY_free(k);
    }
}

/*
 * A key whose point came compressed hashes as its uncompressed form: one key, one hash, however
 * it was encoded (the compressed SPKI's own hash is another, so the test sees the forms).
 */
static void test_ec_compressed(void **state)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), *r;
    unsigned char a[32], b[32], c[32];

    (void)state;
    assert_non_null(k);
    reference(k, a);
    assert_int_equal(
        EVP_PKEY_set_utf8_string_param(k, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed"),
        1);
    r = reparsed(k);
    reference(r, c); /* the compressed SPKI */
    assert_true(policy_spki_sha256(r, b));
    assert_memory_equal(a, b, 32);
    assert_memory_not_equal(c, b, 32);
    EVP_PKEY_free(r);
    EVP_PKEY_free(k);
}

static void test_other_types(void **state)
{
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *edr = reparsed(ed);

    (void)state;
    same_hash(ed);
    same_hash(edr);
    same_hash(rsa);
    EVP_PKEY_free(edr);
    EVP_PKEY_free(ed);
    EVP_PKEY_free(rsa);
}

/* Different keys, different hashes (the fast path hashes the key, not a constant). */
static void test_distinct(void **state)
{
    EVP_PKEY *a = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *b = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    unsigned char ha[32], hb[32];

    (void)state;
    assert_true(policy_spki_sha256(a, ha));
    assert_true(policy_spki_sha256(b, hb));
    assert_memory_not_equal(ha, hb, 32);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ec_curves),
        cmocka_unit_test(test_ec_compressed),
        cmocka_unit_test(test_other_types),
        cmocka_unit_test(test_distinct),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
