/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ocsp: request parsing and its bounds (0, 1, 2 and 1,000 CertIDs, trailing bytes, MD5 CertIDs,
 * nonce sizes, a broken request signature), GET decoding variants, constant error responses,
 * lints catching broken responses, freshness, and on a demo PKI: the delegated responder, a
 * pre-signed good and revoked response that OCSP_basic_verify accepts against the chain.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../ca/internal.h"
#include "ocsp.h"
#include "pkifix.h"

/* ---- software fixtures: a CA, a responder, a leaf (no HSM) ---- */

static EVP_PKEY *ec_key(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

    assert_non_null(k);
    return k;
}

/* A certificate for pub signed by signer (self-signed when issuer is NULL) with extensions. */
static X509 *make_cert(const char *cn, EVP_PKEY *pub, X509 *issuer, EVP_PKEY *signer,
                       const char *const *exts, long serial)
{
    X509 *x = X509_new();
    X509V3_CTX v3;

    assert_non_null(x);
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(x));
    X509_set_pubkey(x, pub);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 4L * 86400);
    X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
    for (size_t i = 0; exts != NULL && exts[i] != NULL; i += 2) {
        X509_EXTENSION *e = X509V3_EXT_conf(NULL, &v3, exts[i], exts[i + 1]);
        assert_non_null(e);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    assert_true(X509_sign(x, signer, EVP_sha256()) > 0);
    return x;
}

static const char *const ca_exts[] = {"basicConstraints", "critical,CA:TRUE", "keyUsage",
                                      "critical,keyCertSign,cRLSign", NULL};
static const char *const resp_exts[] = {"basicConstraints",
                                        "critical,CA:FALSE",
                                        "keyUsage",
                                        "critical,digitalSignature",
                                        "extendedKeyUsage",
                                        "OCSPSigning",
                                        "noCheck",
                                        "ignored",
                                        NULL};
static const char *const resp_exts_bad[] = {"keyUsage", "critical,digitalSignature",
                                            "extendedKeyUsage", "OCSPSigning,serverAuth", NULL};

struct soft {
    EVP_PKEY *ca_key, *resp_key, *leaf_key, *tk;
    X509 *ca, *resp, *leaf;
};

static void soft_make(struct soft *s, const char *const *rexts)
{
    s->ca_key = ec_key();
    s->resp_key = ec_key();
    s->leaf_key = ec_key();
    s->tk = ec_key();
    s->ca = make_cert("Soft CA", s->ca_key, NULL, s->ca_key, ca_exts, 1);
    s->resp = make_cert("Soft OCSP", s->resp_key, s->ca, s->ca_key, rexts, 2);
    s->leaf = make_cert("leaf.test", s->leaf_key, s->ca, s->ca_key, NULL, 0x1234567);
}

static void soft_free(struct soft *s)
{
    EVP_PKEY_free(s->ca_key);
    EVP_PKEY_free(s->resp_key);
    EVP_PKEY_free(s->leaf_key);
    EVP_PKEY_free(s->tk);
    X509_free(s->ca);
    X509_free(s->resp);
    X509_free(s->leaf);
}

/* A DER request for n CertIDs of leaf under ca (md: the CertID hash), with an optional nonce. */
static unsigned char *make_req(X509 *leaf, X509 *ca, const EVP_MD *md, int n, int nonce_len,
                               size_t *len)
{
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    unsigned char *der = NULL;
    int l;

    for (int i = 0; i < n; i++)
        assert_non_null(OCSP_request_add0_id(req, OCSP_cert_to_id(md, leaf, ca)));
    if (nonce_len >= 0) {
        unsigned char nonce[256];
        memset(nonce, 0x5a, sizeof(nonce));
        /* OCSP_request_add1_nonce wraps the bytes in an OCTET STRING, as RFC 9654 says */
        assert_true(OCSP_request_add1_nonce(req, nonce_len ? nonce : NULL, nonce_len) == 1 ||
                    nonce_len == 0);
    }
    l = i2d_OCSP_REQUEST(req, &der);
    assert_true(l > 0);
    OCSP_REQUEST_free(req);
    *len = (size_t)l;
    return der;
}

static void test_parse_bounds(void **state)
{
    struct soft s;
    struct ocsp_request q;
    unsigned char *der, *big;
    size_t len;

    (void)state;
    soft_make(&s, resp_exts);
    der = make_req(s.leaf, s.ca, EVP_sha1(), 1, -1, &len);
    assert_int_equal(ocsp_request_parse(der, len, 1, &q, NULL), OCSP_RS_SUCCESSFUL);
    assert_int_equal(q.n, 1);
    assert_int_equal(q.id[0].hash, STORE_OCSP_SHA1);
    assert_int_equal(q.id[0].serial_len, 4);
    assert_int_equal(q.nonce_state, OCSP_NONCE_NONE);
    /* trailing garbage */
    big = malloc(len + 3);
    memcpy(big, der, len);
    memcpy(big + len, "xyz", 3);
    assert_int_equal(ocsp_request_parse(big, len + 3, 1, &q, NULL), OCSP_RS_MALFORMED);
    /* truncated, empty, garbage */
    assert_int_equal(ocsp_request_parse(der, len - 1, 1, &q, NULL), OCSP_RS_MALFORMED);
    assert_int_equal(ocsp_request_parse(der, 0, 1, &q, NULL), OCSP_RS_MALFORMED);
    assert_int_equal(ocsp_request_parse((const unsigned char *)"garbage\n", 8, 1, &q, NULL),
                     OCSP_RS_MALFORMED);
    free(big);
    OPENSSL_free(der);
    /* 0 entries, 2 entries (refused by default, accepted when allowed), 1,000 entries */
    der = make_req(s.leaf, s.ca, EVP_sha1(), 0, -1, &len);
    assert_int_equal(ocsp_request_parse(der, len, 1, &q, NULL), OCSP_RS_MALFORMED);
    OPENSSL_free(der);
    der = make_req(s.leaf, s.ca, EVP_sha256(), 2, -1, &len);
    assert_int_equal(ocsp_request_parse(der, len, 1, &q, NULL), OCSP_RS_MALFORMED);
    assert_int_equal(ocsp_request_parse(der, len, 8, &q, NULL), OCSP_RS_SUCCESSFUL);
    assert_int_equal(q.n, 2);
    assert_int_equal(q.id[1].hash, STORE_OCSP_SHA256);
    OPENSSL_free(der);
    der = make_req(s.leaf, s.ca, EVP_sha1(), 1000, -1, &len);
    assert_int_equal(ocsp_request_parse(der, len, OCSP_LIST_MAX, &q, NULL), OCSP_RS_MALFORMED);
    OPENSSL_free(der);
    /* MD5 CertID: malformedRequest (documented choice) */
    der = make_req(s.leaf, s.ca, EVP_md5(), 1, -1, &len);
    assert_int_equal(ocsp_request_parse(der, len, 1, &q, NULL), OCSP_RS_MALFORMED);
    OPENSSL_free(der);
    soft_free(&s);
}

static void test_nonce_sizes(void **state)
{
    struct soft s;
    struct ocsp_request q;
    const int sizes[] = {1, 16, 32, 33, 200};
    const int want[] = {OCSP_NONCE_OK, OCSP_NONCE_OK, OCSP_NONCE_OK, OCSP_NONCE_BAD,
                        OCSP_NONCE_BAD};

    (void)state;
    soft_make(&s, resp_exts);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t len;
        unsigned char *der = make_req(s.leaf, s.ca, EVP_sha1(), 1, sizes[i], &len);
        assert_int_equal(ocsp_request_parse(der, len, 1, &q, NULL), OCSP_RS_SUCCESSFUL);
        assert_int_equal(q.nonce_state, want[i]);
        if (want[i] == OCSP_NONCE_OK)
            assert_int_equal(q.nonce_len, sizes[i]);
        OPENSSL_free(der);
    }
    /* a zero-length nonce (an empty inner OCTET STRING) */
    {
        OCSP_REQUEST *req = OCSP_REQUEST_new();
        unsigned char *der = NULL, empty[2] = {0x04, 0x00};
        ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
        int l;
        OCSP_request_add0_id(req, OCSP_cert_to_id(EVP_sha1(), s.leaf, s.ca));
        ASN1_OCTET_STRING_set(os, empty, 2);
        assert_true(OCSP_REQUEST_add1_ext_i2d(req, NID_id_pkix_OCSP_Nonce, os, 0, 0) ||
                    X509_EXTENSION_create_by_NID(NULL, NID_id_pkix_OCSP_Nonce, 0, os) != NULL);
        l = i2d_OCSP_REQUEST(req, &der);
        assert_int_equal(ocsp_request_parse(der, (size_t)l, 1, &q, NULL), OCSP_RS_SUCCESSFUL);
        assert_int_equal(q.nonce_state, OCSP_NONCE_BAD);
        OPENSSL_free(der);
        ASN1_OCTET_STRING_free(os);
        OCSP_REQUEST_free(req);
    }
    soft_free(&s);
}

/* A signed request whose signature is broken is answered as if unsigned. */
static void test_broken_signature(void **state)
{
    struct soft s;
    struct ocsp_request q;
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    unsigned char *der = NULL;
    int l;

    (void)state;
    soft_make(&s, resp_exts);
    OCSP_request_add0_id(req, OCSP_cert_to_id(EVP_sha1(), s.leaf, s.ca));
    assert_int_equal(OCSP_request_sign(req, s.leaf, s.leaf_key, EVP_sha256(), NULL, 0), 1);
    l = i2d_OCSP_REQUEST(req, &der);
    der[l - 10] ^= 0x01; /* inside the signer certificate's signature or the request's */
    assert_int_equal(ocsp_request_parse(der, (size_t)l, 1, &q, NULL), OCSP_RS_SUCCESSFUL);
    assert_int_equal(q.was_signed, 1);
    assert_int_equal(q.n, 1);
    OPENSSL_free(der);
    OCSP_REQUEST_free(req);
    soft_free(&s);
}

static void test_get_decode(void **state)
{
    /* "MEIw" + bytes chosen so that +, / and = all appear: 0xfb 0xff 0xbf -> "+/+/" */
    const unsigned char raw[] = {0x30, 0x42, 0x30, 0xfb, 0xff, 0xbf, 0x01};
    const char *const ok[] = {
        "MEIw+/+/AQ==",
        "/MEIw+/+/AQ==",
        "//MEIw+/+/AQ==",
        "MEIw-_-_AQ",
        "MEIw%2B%2F%2B%2FAQ%3D%3D",
        "MEIw%2b/+%2fAQ",
        "MEIw /+/AQ==",
        "///MEIw+/+/AQ=",
    };
    const char *const bad[] = {"",        "/", "MEIw+/+/AQ==X", "MEIw*/+/AQ==", "MEIw%2",
                               "MEIw%zz", "M", "MEIw+/+/AQ==="};
    unsigned char out[64];
    size_t n;

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (!ocsp_get_decode(ok[i], strlen(ok[i]), out, sizeof(out), &n))
            fail_msg("did not decode %s", ok[i]);
        assert_int_equal(n, sizeof(raw));
        assert_memory_equal(out, raw, sizeof(raw));
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (ocsp_get_decode(bad[i], strlen(bad[i]), out, sizeof(out), &n))
            fail_msg("decoded %s", bad[i]);
    /* bounded: more than fits is refused, never written past cap */
    assert_false(ocsp_get_decode("MEIw+/+/AQ==", 12, out, 3, &n));
}

static void test_error_der(void **state)
{
    const enum ocsp_resp_status st[] = {OCSP_RS_MALFORMED, OCSP_RS_INTERNAL, OCSP_RS_TRYLATER,
                                        OCSP_RS_UNAUTHORIZED};

    (void)state;
    for (size_t i = 0; i < 4; i++) {
        size_t len;
        const unsigned char *d = ocsp_error_der(st[i], &len), *p = d;
        OCSP_RESPONSE *r = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
        assert_non_null(r);
        assert_int_equal(OCSP_response_status(r), (int)st[i]);
        assert_null(OCSP_response_get1_basic(r));
        OCSP_RESPONSE_free(r);
    }
}

static void test_freshness(void **state)
{
    (void)state;
    assert_int_equal(ocsp_freshness(1000, 1000, 1000 + 86400), OCSP_FRESH);
    assert_int_equal(ocsp_freshness(1000 + 43199, 1000, 1000 + 86400), OCSP_FRESH);
    assert_int_equal(ocsp_freshness(1000 + 43200, 1000, 1000 + 86400), OCSP_OVERDUE);
    assert_int_equal(ocsp_freshness(1000 + 86399, 1000, 1000 + 86400), OCSP_OVERDUE);
    assert_int_equal(ocsp_freshness(1000 + 86400, 1000, 1000 + 86400), OCSP_STALE);
    assert_int_equal(ocsp_freshness(5, 10, 10), OCSP_STALE);
}

/* A single for leaf with the soft responder. */
static struct ocsp_single soft_single(struct soft *s, enum store_ocsp_hash h, unsigned char *serial,
                                      size_t *slen)
{
    struct ocsp_single one = {0};
    int64_t now = sg_now();
    const ASN1_INTEGER *sn = X509_get0_serialNumber(s->leaf);

    *slen = (size_t)ASN1_STRING_length(sn);
    memcpy(serial, ASN1_STRING_get0_data(sn), *slen);
    one.hash = h;
    one.issuer = s->ca;
    one.serial = serial;
    one.serial_len = *slen;
    one.status = OCSP_CS_GOOD;
    one.reason = -1;
    one.produced_at = now;
    one.this_update = now;
    one.next_update = now + 86400;
    return one;
}

/* Good and revoked responses verify with OpenSSL and say what they should. */
static void test_make_and_verify(void **state)
{
    struct soft s;
    unsigned char serial[20], *der = NULL;
    size_t slen, len;
    char detail[SIGNET_DETAIL_MAX] = "";

    (void)state;
    soft_make(&s, resp_exts);
    for (int h = 0; h < 2; h++) {
        for (int revoked = 0; revoked < 2; revoked++) {
            struct ocsp_single one = soft_single(&s, (enum store_ocsp_hash)h, serial, &slen);
            const unsigned char *p;
            OCSP_RESPONSE *r;
            OCSP_BASICRESP *bs;
            X509_STORE *st = X509_STORE_new();
            OCSP_CERTID *id = OCSP_cert_to_id(h ? EVP_sha256() : EVP_sha1(), s.leaf, s.ca);
            int status = -1, reason = -1;
            ASN1_GENERALIZEDTIME *rt = NULL;
            if (revoked) {
                one.status = OCSP_CS_REVOKED;
                one.revoked_at = one.this_update - 100;
                one.reason = 1;
            }
            assert_int_equal(ocsp_response_make(&one, s.resp, s.resp_key, s.tk, &der, &len, detail),
                             SIGNET_OK);
            p = der;
            r = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
            bs = OCSP_response_get1_basic(r);
            X509_STORE_add_cert(st, s.ca);
            assert_int_equal(OCSP_basic_verify(bs, NULL, st, 0), 1);
            assert_int_equal(OCSP_resp_find_status(bs, id, &status, &reason, &rt, NULL, NULL), 1);
            assert_int_equal(status, revoked ? V_OCSP_CERTSTATUS_REVOKED : V_OCSP_CERTSTATUS_GOOD);
            if (revoked)
                assert_int_equal(reason, 1);
            OCSP_CERTID_free(id);
            X509_STORE_free(st);
            OCSP_BASICRESP_free(bs);
            OCSP_RESPONSE_free(r);
            free(der);
        }
    }
    soft_free(&s);
}

/* The lints refuse: a short validity, a responder without nocheck, a tampered response. */
static void test_lint_catches(void **state)
{
    struct soft s, b;
    unsigned char serial[20], *der = NULL;
    size_t slen, len;
    char detail[SIGNET_DETAIL_MAX] = "";
    struct ocsp_single one;
    struct ocsp_lint_result res;

    (void)state;
    soft_make(&s, resp_exts);
    soft_make(&b, resp_exts_bad);
    one = soft_single(&s, STORE_OCSP_SHA1, serial, &slen);
    one.next_update = one.this_update + 3600; /* under 8 hours */
    assert_int_equal(ocsp_response_make(&one, s.resp, s.resp_key, s.tk, &der, &len, detail),
                     SIGNET_E_LINT);
    assert_null(der);
    assert_non_null(strstr(detail, "8 h"));
    one = soft_single(&b, STORE_OCSP_SHA1, serial, &slen);
    assert_int_equal(ocsp_response_make(&one, b.resp, b.resp_key, b.tk, &der, &len, detail),
                     SIGNET_E_LINT);
    assert_true(ocsp_lint_responder(b.resp, b.ca, &(struct ocsp_lint_result){0}) >= 2);
    /* a good response linted against other expectations, and with a flipped signature bit */
    one = soft_single(&s, STORE_OCSP_SHA1, serial, &slen);
    assert_int_equal(ocsp_response_make(&one, s.resp, s.resp_key, s.tk, &der, &len, detail),
                     SIGNET_OK);
    assert_int_equal(ocsp_lint(der, len, &one, s.resp, X509_get0_pubkey(s.resp), &res), 0);
    one.status = OCSP_CS_REVOKED;
    assert_true(ocsp_lint(der, len, &one, s.resp, X509_get0_pubkey(s.resp), &res) > 0);
    one.status = OCSP_CS_GOOD;
    one.hash = STORE_OCSP_SHA256;
    assert_true(ocsp_lint(der, len, &one, s.resp, X509_get0_pubkey(s.resp), &res) > 0);
    one.hash = STORE_OCSP_SHA1;
    assert_true(ocsp_lint(der, len, &one, s.resp, s.tk, &res) > 0);
    assert_true(ocsp_lint(der, len, &one, b.resp, X509_get0_pubkey(s.resp), &res) > 0);
    der[len - 1] ^= 0x01; /* last byte: inside the responder certificate's signature */
    assert_true(ocsp_lint(der, len, &one, s.resp, X509_get0_pubkey(s.resp), &res) > 0);
    free(der);
    soft_free(&s);
    soft_free(&b);
}

/*
 * A responder pair that passed is remembered by content: a bad responder after a good one is
 * still refused, whether it is another object (same subject, serial, key and extensions, signed
 * by an impostor with the CA's name) or the good object itself re-signed in place; the good pair
 * still passes afterwards.
 */
static void test_responder_seen(void **state)
{
    struct soft s;
    EVP_PKEY *impostor = ec_key();
    X509 *forged;
    unsigned char serial[20], *der = NULL;
    size_t slen, len;
    char detail[SIGNET_DETAIL_MAX] = "";
    struct ocsp_single one;
    struct ocsp_lint_result res = {0};

    (void)state;
    soft_make(&s, resp_exts);
    forged = make_cert("Soft OCSP", s.resp_key, s.ca, impostor, resp_exts, 2);
    one = soft_single(&s, STORE_OCSP_SHA1, serial, &slen);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ocsp_lint_responder(s.resp, s.ca, &res), 0);
        assert_int_equal(ocsp_response_make(&one, s.resp, s.resp_key, s.tk, &der, &len, detail),
                         SIGNET_OK);
        free(der);
        der = NULL;
    }
    assert_int_equal(ocsp_lint_responder(forged, s.ca, &res), 1);
    assert_non_null(strstr(res.msg[0], "not issued by the CA"));
    assert_int_equal(ocsp_response_make(&one, forged, s.resp_key, s.tk, &der, &len, detail),
                     SIGNET_E_LINT);
    assert_null(der);
    assert_non_null(strstr(detail, "not issued by the CA"));
    /* the good pair again, then the same object re-signed by the impostor */
    assert_int_equal(ocsp_response_make(&one, s.resp, s.resp_key, s.tk, &der, &len, detail),
                     SIGNET_OK);
    free(der);
    der = NULL;
    assert_true(X509_sign(s.resp, impostor, EVP_sha256()) > 0);
    memset(&res, 0, sizeof(res));
    assert_int_equal(ocsp_lint_responder(s.resp, s.ca, &res), 1);
    assert_int_equal(ocsp_response_make(&one, s.resp, s.resp_key, s.tk, &der, &len, detail),
                     SIGNET_E_LINT);
    assert_null(der);
    assert_non_null(strstr(detail, "not issued by the CA"));
    assert_true(X509_sign(s.resp, s.ca_key, EVP_sha256()) > 0);
    assert_int_equal(ocsp_response_make(&one, s.resp, s.resp_key, s.tk, &der, &len, detail),
                     SIGNET_OK);
    free(der);
    X509_free(forged);
    EVP_PKEY_free(impostor);
    soft_free(&s);
}

/*
 * The token-signed response: a token key that is not the responder certificate's is refused,
 * and so is a real response that differs from the linted trial beyond its signature (here the
 * signatureAlgorithm, with a throwaway key of another type than the token key).
 */
static void test_token_key(void **state)
{
    struct soft s;
    EVP_PKEY *other = ec_key(), *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    unsigned char serial[20], *der = NULL;
    size_t slen, len;
    char detail[SIGNET_DETAIL_MAX] = "";
    struct ocsp_single one;

    (void)state;
    assert_non_null(p384);
    soft_make(&s, resp_exts);
    one = soft_single(&s, STORE_OCSP_SHA256, serial, &slen);
    assert_int_equal(ocsp_response_make(&one, s.resp, other, s.tk, &der, &len, detail),
                     SIGNET_E_LINT);
    assert_null(der);
    assert_non_null(strstr(detail, "token signature"));
    assert_non_null(strstr(detail, "does not verify"));
    assert_int_equal(ocsp_response_make(&one, s.resp, s.resp_key, p384, &der, &len, detail),
                     SIGNET_E_LINT);
    assert_null(der);
    assert_non_null(strstr(detail, "beyond its signature"));
    /* the right key still signs */
    assert_int_equal(ocsp_response_make(&one, s.resp, s.resp_key, s.tk, &der, &len, detail),
                     SIGNET_OK);
    free(der);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(other);
    soft_free(&s);
}

/*
 * A responder the lints accept but a relying party refuses (an unknown critical extension) is
 * caught by OCSP_basic_verify on its first response, and, never remembered, on the next.
 */
static void test_relying_party(void **state)
{
    static const char *const resp_exts_crit[] = {
        "basicConstraints",    "critical,CA:FALSE",  "keyUsage", "critical,digitalSignature",
        "extendedKeyUsage",    "OCSPSigning",        "noCheck",  "ignored",
        "1.3.6.1.4.1.55555.1", "critical,DER:05:00", NULL};
    struct soft s;
    unsigned char serial[20], *der = NULL;
    size_t slen, len;
    char detail[SIGNET_DETAIL_MAX] = "";
    struct ocsp_single one;

    (void)state;
    soft_make(&s, resp_exts_crit);
    assert_int_equal(ocsp_lint_responder(s.resp, s.ca, &(struct ocsp_lint_result){0}), 0);
    one = soft_single(&s, STORE_OCSP_SHA1, serial, &slen);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ocsp_response_make(&one, s.resp, s.resp_key, s.tk, &der, &len, detail),
                         SIGNET_E_HSM);
        assert_null(der);
        assert_non_null(strstr(detail, "does not verify against the issuer"));
    }
    soft_free(&s);
}

/* ---- on a demo PKI: the HSM responder and pre-signed responses ---- */

static struct pkifix pki;

static int demo_setup(void **state)
{
    (void)state;
    if (!pkifix_demo_make(&pki, "/tmp/signet-ocsp.XXXXXX") ||
        !pkifix_sed_conf(&pki, "/^\\[ca.issuing-1\\]/a ocsp_nonce = yes\\nocsp_nonce_rate = 1"))
        return -1;
    return 0;
}

static int demo_teardown(void **state)
{
    (void)state;
    return pkifix_demo_remove(&pki) ? 0 : -1;
}

/* Checks the stored response of serial: verifies under the root and has the status. */
static void check_stored(struct ca_ctx *ctx, X509 *leaf, int want, int want_reason)
{
    struct ca_ent *ca = ca_ent_find(ctx, "issuing-1");
    struct ca_ent *root = ca_ent_find(ctx, "root");
    const ASN1_INTEGER *sn = X509_get0_serialNumber(leaf);
    struct store_ocsp *rec = NULL;

    assert_int_equal(store_ocsp_get(ctx->st, ca->store_id, ASN1_STRING_get0_data(sn),
                                    (size_t)ASN1_STRING_length(sn), &rec, NULL),
                     SIGNET_OK);
    assert_int_equal(rec->status, want);
    assert_true(rec->next_update - rec->this_update == OCSP_VALIDITY_DEF);
    for (int h = 0; h < STORE_OCSP_NHASH; h++) {
        const unsigned char *p = rec->der[h];
        OCSP_RESPONSE *r = d2i_OCSP_RESPONSE(NULL, &p, (long)rec->der_len[h]);
        OCSP_BASICRESP *bs = OCSP_response_get1_basic(r);
        X509_STORE *st = X509_STORE_new();
        STACK_OF(X509) *chain = sk_X509_new_null();
        OCSP_CERTID *id = OCSP_cert_to_id(h ? EVP_sha256() : EVP_sha1(), leaf, ca->cert);
        int status = -1, reason = -1;
        X509_STORE_add_cert(st, root->cert);
        sk_X509_push(chain, ca->cert);
        assert_int_equal(OCSP_basic_verify(bs, chain, st, 0), 1);
        assert_int_equal(OCSP_resp_find_status(bs, id, &status, &reason, NULL, NULL, NULL), 1);
        assert_int_equal(status, want);
        if (want == V_OCSP_CERTSTATUS_REVOKED)
            assert_int_equal(reason, want_reason);
        OCSP_CERTID_free(id);
        sk_X509_free(chain);
        X509_STORE_free(st);
        OCSP_BASICRESP_free(bs);
        OCSP_RESPONSE_free(r);
    }
    store_ocsp_free(rec);
}

static void test_presign_demo(void **state)
{
    struct ca_ctx *ctx = NULL;
    struct ca_issued *iss = NULL;
    char detail[SIGNET_DETAIL_MAX] = "", path[256], *csr = pkifix_csr_dns("o.example.test");
    struct ca_issue_request req = {(const unsigned char *)csr, strlen(csr), "issuing-1",
                                   "tls-server", "unit"};
    struct ca_ocsp_stats st;
    struct store_cert *c = NULL;
    X509 *leaf;
    const unsigned char *p;

    (void)state;
    assert_int_equal(ca_ctx_open(pki.conf, CA_OPEN_LOGIN_ONLINE, &ctx, detail), SIGNET_OK);
    if (ca_issue(ctx, &req, &iss, detail) != SIGNET_OK)
        fail_msg("issue: %s", detail);
    p = iss->der;
    leaf = d2i_X509(NULL, &p, (long)iss->der_len);
    /* the root has no responder: refused */
    assert_int_equal(ca_ocsp_presign(ctx, "root", iss->serial, detail), SIGNET_E_POLICY);
    /* the first pass covers a certificate issued before the responder existed */
    assert_int_equal(ca_ocsp_refresh(ctx, detail), SIGNET_OK);
    ca_ocsp_stats(ctx, &st);
    assert_int_equal(st.responders, 1);
    assert_true(st.signed_total >= 1);
    assert_int_equal(st.stale + st.overdue + st.missing, 0);
    assert_int_equal(ca_ocsp_health(ctx, NULL), SIGNET_OK);
    snprintf(path, sizeof(path), "%s/public/issuing-1-ocsp.crt", pki.dir);
    assert_int_equal(access(path, R_OK), 0);
    check_stored(ctx, leaf, V_OCSP_CERTSTATUS_GOOD, -1);
    /* revoked (keyCompromise) and signed again */
    assert_int_equal(ca_cert_get(ctx, "issuing-1", iss->serial, &c, detail), SIGNET_OK);
    c->state = STORE_CERT_REVOKED;
    c->revoked_at = sg_now() - 5;
    c->reason = 1;
    assert_int_equal(store_cert_put(ctx->st, c, 0, detail), SIGNET_OK);
    assert_int_equal(ca_ocsp_presign(ctx, "issuing-1", iss->serial, detail), SIGNET_OK);
    check_stored(ctx, leaf, V_OCSP_CERTSTATUS_REVOKED, 1);
    /* never issued: no response */
    assert_int_equal(ca_ocsp_presign(ctx, "issuing-1", "0123456789abcdef0123", detail),
                     SIGNET_E_NOTFOUND);
    ca_ocsp_stop(ctx);
    store_cert_free(c);
    X509_free(leaf);
    ca_issued_free(iss);
    ca_ctx_free(ctx);
    free(csr);
}

/* The refresher thread signs what is queued. */
static void test_refresher_queue(void **state)
{
    struct ca_ctx *ctx = NULL;
    struct ca_issued *iss = NULL;
    char detail[SIGNET_DETAIL_MAX] = "", *csr = pkifix_csr_dns("q.example.test");
    struct ca_issue_request req = {(const unsigned char *)csr, strlen(csr), "issuing-1",
                                   "tls-server", "unit"};
    struct store_ocsp *rec = NULL;
    unsigned char serial[20];
    long n;
    int found = 0;

    (void)state;
    assert_int_equal(ca_ctx_open(pki.conf, CA_OPEN_LOGIN_ONLINE, &ctx, detail), SIGNET_OK);
    assert_int_equal(ca_ocsp_start(ctx, detail), SIGNET_OK);
    if (ca_issue(ctx, &req, &iss, detail) != SIGNET_OK)
        fail_msg("issue: %s", detail);
    ca_ocsp_enqueue(ctx, "issuing-1", iss->serial);
    n = sg_hex_decode(iss->serial, serial, sizeof(serial));
    for (int i = 0; i < 100 && !found; i++) {
        found = store_ocsp_get(ctx->st, ca_ent_find(ctx, "issuing-1")->store_id, serial, (size_t)n,
                               &rec, NULL) == SIGNET_OK;
        if (!found)
            sg_sleep_ms(50);
    }
    assert_true(found);
    assert_int_equal(rec->status, 0);
    store_ocsp_free(rec);
    ca_ocsp_stop(ctx);
    ca_ocsp_stop(ctx); /* idempotent */
    ca_issued_free(iss);
    ca_ctx_free(ctx);
    free(csr);
}

/* Live nonce mode: the nonce is echoed, bad nonces and strangers refused, the rate enforced. */
static void test_live_nonce(void **state)
{
    struct ca_ctx *ctx = NULL;
    struct ca_issued *iss = NULL;
    char detail[SIGNET_DETAIL_MAX] = "", *csr = pkifix_csr_dns("n.example.test");
    struct ca_issue_request ireq = {(const unsigned char *)csr, strlen(csr), "issuing-1",
                                    "tls-server", "unit"};
    struct ca_ent *ca;
    X509 *leaf;
    const unsigned char *p;
    int signed_n = 0, later = 0;

    (void)state;
    assert_int_equal(ca_ctx_open(pki.conf, CA_OPEN_LOGIN_ONLINE, &ctx, detail), SIGNET_OK);
    if (ca_issue(ctx, &ireq, &iss, detail) != SIGNET_OK)
        fail_msg("issue: %s", detail);
    ca = ca_ent_find(ctx, "issuing-1");
    p = iss->der;
    leaf = d2i_X509(NULL, &p, (long)iss->der_len);
    /* at 1 per second (a bucket of one), requests sent back to back meet a refusal soon, however
     * slow the build signs; 20 tries bound it */
    for (int i = 0; i < 20 && (signed_n < 1 || later < 1); i++) {
        size_t len, olen;
        unsigned char *req = make_req(leaf, ca->cert, EVP_sha256(), 1, 16, &len), *out = NULL;
        const unsigned char *q = req, *o;
        OCSP_REQUEST *r = d2i_OCSP_REQUEST(NULL, &q, (long)len);
        OCSP_RESPONSE *resp;
        assert_int_equal(ca_ocsp_sign_live(ctx, req, len, &out, &olen, detail), SIGNET_OK);
        o = out;
        resp = d2i_OCSP_RESPONSE(NULL, &o, (long)olen);
        assert_non_null(resp);
        if (OCSP_response_status(resp) == OCSP_RESPONSE_STATUS_SUCCESSFUL) {
            OCSP_BASICRESP *bs = OCSP_response_get1_basic(resp);
            assert_int_equal(OCSP_check_nonce(r, bs), 1);
            signed_n++;
            OCSP_BASICRESP_free(bs);
        } else {
            assert_int_equal(OCSP_response_status(resp), OCSP_RESPONSE_STATUS_TRYLATER);
            later++;
        }
        OCSP_RESPONSE_free(resp);
        OCSP_REQUEST_free(r);
        OPENSSL_free(req);
        free(out);
    }
    assert_true(signed_n >= 1);
    assert_true(later >= 1); /* beyond the rate: tryLater, not a signature */
    {
        size_t len, olen;
        unsigned char *req = make_req(leaf, ca->cert, EVP_sha1(), 1, 40, &len), *out = NULL;
        const unsigned char *o;
        OCSP_RESPONSE *resp;
        assert_int_equal(ca_ocsp_sign_live(ctx, req, len, &out, &olen, detail), SIGNET_OK);
        o = out;
        resp = d2i_OCSP_RESPONSE(NULL, &o, (long)olen);
        assert_int_equal(OCSP_response_status(resp), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
        OCSP_RESPONSE_free(resp);
        OPENSSL_free(req);
        free(out);
    }
    {
        size_t len, olen;
        unsigned char *req = make_req(ca->cert, ca_ent_find(ctx, "root")->cert, EVP_sha1(), 1, 16,
                                      &len),
                      *out = NULL;
        const unsigned char *o;
        OCSP_RESPONSE *resp;
        assert_int_equal(ca_ocsp_sign_live(ctx, req, len, &out, &olen, detail), SIGNET_OK);
        o = out;
        resp = d2i_OCSP_RESPONSE(NULL, &o, (long)olen);
        assert_int_equal(OCSP_response_status(resp), OCSP_RESPONSE_STATUS_UNAUTHORIZED);
        OCSP_RESPONSE_free(resp);
        OPENSSL_free(req);
        free(out);
    }
    ca_ocsp_stop(ctx);
    X509_free(leaf);
    ca_issued_free(iss);
    ca_ctx_free(ctx);
    free(csr);
}

int main(void)
{
    const struct CMUnitTest soft[] = {
        cmocka_unit_test(test_parse_bounds),     cmocka_unit_test(test_nonce_sizes),
        cmocka_unit_test(test_broken_signature), cmocka_unit_test(test_get_decode),
        cmocka_unit_test(test_error_der),        cmocka_unit_test(test_freshness),
        cmocka_unit_test(test_make_and_verify),  cmocka_unit_test(test_lint_catches),
        cmocka_unit_test(test_responder_seen),   cmocka_unit_test(test_token_key),
        cmocka_unit_test(test_relying_party),
    };
    const struct CMUnitTest demo[] = {
        cmocka_unit_test(test_presign_demo),
        cmocka_unit_test(test_refresher_queue),
        cmocka_unit_test(test_live_nonce),
    };
    int rc;

    sg_log_init("test_ocsp", SG_LOG_WARN);
    rc = cmocka_run_group_tests_name("ocsp", soft, NULL, NULL);
    return rc + cmocka_run_group_tests_name("ocsp_demo", demo, demo_setup, demo_teardown);
}
