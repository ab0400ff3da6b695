/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crl and revocation: reason names; CRLs built by one pass that OpenSSL parses and verifies with
 * the right entries, reasons, invalidity dates, AKI and numbers; expired entries dropped; delta
 * and shard content; lint findings on broken CRLs; the refusal to lose an entry; numbers that
 * keep increasing after a failure between reserving a number and publishing; ca_revoke's answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../ca/internal.h"
#include "../../crl/internal.h"
#include "pkifix.h"

static struct pkifix pki;
static char sdir[128]; /* a standalone store for the crl-level tests */

/* ---- crl level: a plain store, a software key, a self-signed issuer ---- */

struct fix {
    struct store *st;
    EVP_PKEY *key;
    X509 *issuer;
    unsigned char *name;
    int name_len;
    unsigned char keyid[20];
};

static X509 *self_signed(EVP_PKEY *k)
{
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();

    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"Unit CRL CA", -1, -1,
                               0);
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_set_issuer_name(x, n);
    X509_set_subject_name(x, n);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400 * 30);
    X509_set_pubkey(x, k);
    ca_add_ski_aki(x, NULL);
    assert_true(X509_sign(x, k, EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519 ? NULL : EVP_sha256()) >
                0);
    X509_NAME_free(n);
    return x;
}

struct put_many {
    uint32_t ca;
    const struct store_revoked *r;
    size_t n;
};

static enum signet_err put_many_fn(struct store_txn *txn, void *arg, char *detail)
{
    struct put_many *a = arg;
    enum signet_err err = SIGNET_OK;

    for (size_t i = 0; i < a->n && err == SIGNET_OK; i++)
        err = store_txn_revoked_put(txn, a->ca, &a->r[i], detail);
    return err;
}

/* Entries of CA id ca: serials 1..n (serial i revoked at base+i, not after base+exp[i]). */
static void fill(struct fix *f, uint32_t ca, size_t n, int64_t base, const int64_t *not_after)
{
    struct store_revoked *r = calloc(n, sizeof(*r));
    struct put_many a = {ca, r, n};

    for (size_t i = 0; i < n; i++) {
        r[i].serial[0] = (unsigned char)((i + 1) >> 8);
        r[i].serial[1] = (unsigned char)(i + 1);
        r[i].serial_len = 2;
        if (r[i].serial[0] == 0) {
            r[i].serial[0] = r[i].serial[1];
            r[i].serial_len = 1;
        }
        r[i].revoked_at = base + (int64_t)i;
        r[i].reason = (int)(i % 6); /* 0 (omitted) to 5 */
        r[i].invalidity_date = i % 3 == 0 ? base - 3600 : 0;
        r[i].not_after = not_after ? not_after[i] : base + 86400 * 90;
    }
    assert_int_equal(store_write(f->st, put_many_fn, &a, NULL), SIGNET_OK);
    free(r);
}

static void params(struct fix *f, struct crl_params *p, uint64_t number)
{
    memset(p, 0, sizeof(*p));
    p->issuer_pub = f->key;
    p->issuer_name = f->name;
    p->issuer_name_len = (size_t)f->name_len;
    p->issuer_keyid = f->keyid;
    p->issuer_keyid_len = 20;
    p->this_update = sg_now() - 60;
    p->next_update = sg_now() + 86400;
    p->number = number;
    p->idp_url = "http://crl.example.test/unit.crl";
    p->only_user_certs = 1;
}

static int fix_setup(void **state)
{
    struct fix *f = calloc(1, sizeof(*f));
    const ASN1_OCTET_STRING *ski;

    snprintf(sdir, sizeof(sdir), "/tmp/signet-crlst.XXXXXX");
    if (f == NULL || mkdtemp(sdir) == NULL || store_open(sdir, NULL, &f->st, NULL) != SIGNET_OK)
        return -1;
    f->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    f->issuer = self_signed(f->key);
    f->name_len = i2d_X509_NAME(X509_get_subject_name(f->issuer), &f->name);
    ski = X509_get0_subject_key_id(f->issuer);
    memcpy(f->keyid, ASN1_STRING_get0_data(ski), 20);
    *state = f;
    return 0;
}

static int fix_teardown(void **state)
{
    struct fix *f = *state;
    char cmd[160];

    store_close(f->st);
    EVP_PKEY_free(f->key);
    X509_free(f->issuer);
    OPENSSL_free(f->name);
    free(f);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Builds and signs with the fixture key; returns the doc. */
static struct crl_doc *make(struct fix *f, uint32_t ca, const struct crl_params *p,
                            struct crl_stats *st)
{
    struct crl_doc *d = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";

    assert_int_equal(crl_build(f->st, ca, p, &d, st, detail), SIGNET_OK);
    assert_int_equal(crl_doc_sign(d, crl_sign_evp, f->key, detail), SIGNET_OK);
    return d;
}

static X509_CRL *parse(const unsigned char *der, size_t len)
{
    const unsigned char *q = der;
    X509_CRL *c = d2i_X509_CRL(NULL, &q, (long)len);

    assert_non_null(c);
    assert_ptr_equal(q, der + len);
    return c;
}

static void test_reasons(void **state)
{
    int code = -5;
    char detail[SIGNET_DETAIL_MAX] = "";
    static const char *const names[] = {
        "unspecified",   "keyCompromise",        "cACompromise",    "affiliationChanged",
        "superseded",    "cessationOfOperation", "certificateHold", NULL,
        "removeFromCRL", "privilegeWithdrawn",   "aACompromise"};

    (void)state;
    for (int i = 0; i < 11; i++) {
        if (names[i] == NULL)
            continue;
        assert_true(crl_reason_parse(names[i], &code));
        assert_int_equal(code, i);
        assert_string_equal(crl_reason_name(i), names[i]);
    }
    assert_false(crl_reason_parse("notAReason", &code));
    assert_false(crl_reason_parse("keycompromise", &code));
    assert_false(crl_reason_parse("", &code));
    assert_int_equal(ca_revoke_reason("removeFromCRL", &code, detail), SIGNET_E_USAGE);
    assert_non_null(strstr(detail, "removeFromCRL"));
    assert_int_equal(ca_revoke_reason("bogus", &code, detail), SIGNET_E_USAGE);
    assert_non_null(strstr(detail, "keyCompromise"));
    assert_int_equal(ca_revoke_reason("superseded", &code, detail), SIGNET_OK);
    assert_int_equal(code, 4);
}

/* A full CRL over 300 entries: OpenSSL parses, verifies, finds each entry with its reason. */
static void test_build_full(void **state)
{
    struct fix *f = *state;
    struct crl_params p;
    struct crl_stats st;
    struct crl_lint_result lr;
    struct crl_doc *d;
    const unsigned char *der;
    size_t len;
    X509_CRL *c;
    int64_t base = sg_now() - 1000;

    fill(f, 1, 300, base, NULL);
    params(f, &p, 7);
    d = make(f, 1, &p, &st);
    der = crl_doc_der(d, &len);
    assert_int_equal(st.entries, 300);
    assert_int_equal(crl_lint(der, len, &p, 0, &lr), 0);
    assert_int_equal(crl_lint(der, len, &p, 1000, &lr), 0); /* OpenSSL parses a sample */
    assert_int_equal(crl_verify(der, len, f->key, NULL), SIGNET_OK);
    c = parse(der, len);
    assert_int_equal(X509_CRL_verify(c, f->key), 1);
    assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(c)), 300);
    for (int i = 0; i < 300; i++) {
        X509_REVOKED *r = sk_X509_REVOKED_value(X509_CRL_get_REVOKED(c), i);
        ASN1_ENUMERATED *rc = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, NULL, NULL);
        ASN1_GENERALIZEDTIME *inv = X509_REVOKED_get_ext_d2i(r, NID_invalidity_date, NULL, NULL);
        assert_int_equal(ASN1_INTEGER_get(X509_REVOKED_get0_serialNumber(r)), i + 1);
        if (i % 6 == 0)
            assert_null(rc); /* unspecified is omitted */
        else
            assert_int_equal(ASN1_ENUMERATED_get(rc), i % 6);
        assert_true((inv != NULL) == (i % 3 == 0));
        ASN1_ENUMERATED_free(rc);
        ASN1_GENERALIZEDTIME_free(inv);
    }
    {
        ASN1_INTEGER *num = X509_CRL_get_ext_d2i(c, NID_crl_number, NULL, NULL);
        AUTHORITY_KEYID *aki = X509_CRL_get_ext_d2i(c, NID_authority_key_identifier, NULL, NULL);
        ISSUING_DIST_POINT *idp =
            X509_CRL_get_ext_d2i(c, NID_issuing_distribution_point, NULL, NULL);
        assert_int_equal(ASN1_INTEGER_get(num), 7);
        assert_memory_equal(aki->keyid->data, f->keyid, 20);
        assert_non_null(idp);
        assert_true(idp->onlyuser != 0);
        assert_int_equal(X509_NAME_cmp(X509_CRL_get_issuer(c), X509_get_subject_name(f->issuer)),
                         0);
        ASN1_INTEGER_free(num);
        AUTHORITY_KEYID_free(aki);
        ISSUING_DIST_POINT_free(idp);
    }
    X509_CRL_free(c);
    crl_doc_free(d);
}

/* Every CA key type: the signature algorithm follows the key, and the CRL verifies. */
static void test_key_types(void **state)
{
    struct fix *f = *state, g;
    struct crl_params p;
    struct crl_lint_result lr;
    struct crl_doc *d;
    const unsigned char *der;
    size_t len;
    X509_CRL *c;
    EVP_PKEY *keys[3] = {EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"),
                         EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048),
                         EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")};
    const int nids[3] = {NID_ecdsa_with_SHA384, NID_sha256WithRSAEncryption, NID_ED25519};

    fill(f, 7, 20, sg_now() - 1000, NULL);
    for (int i = 0; i < 3; i++) {
        g = *f;
        g.key = keys[i];
        g.issuer = self_signed(keys[i]);
        g.name = NULL;
        g.name_len = i2d_X509_NAME(X509_get_subject_name(g.issuer), &g.name);
        memcpy(g.keyid, ASN1_STRING_get0_data(X509_get0_subject_key_id(g.issuer)), 20);
        params(&g, &p, 40 + (uint64_t)i);
        d = make(&g, 7, &p, NULL);
        der = crl_doc_der(d, &len);
        assert_int_equal(crl_lint(der, len, &p, 0, &lr), 0);
        assert_int_equal(crl_verify(der, len, keys[i], NULL), SIGNET_OK);
        assert_int_equal(crl_verify(der, len, f->key, NULL), SIGNET_E_CRYPTO);
        c = parse(der, len);
        assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(c)), 20);
        assert_int_equal(X509_CRL_get_signature_nid(c), nids[i]);
        assert_int_equal(X509_CRL_verify(c, keys[i]), 1);
        X509_CRL_free(c);
        crl_doc_free(d);
        X509_free(g.issuer);
        OPENSSL_free(g.name);
        EVP_PKEY_free(keys[i]);
    }
}

/* Expired entries leave; an empty list is absent; the times encode by year. */
static void test_expired_and_empty(void **state)
{
    struct fix *f = *state;
    int64_t now = sg_now(), na[4] = {now - 86400, now + 86400, now - 100, now + 10};
    struct crl_params p;
    struct crl_stats st;
    struct crl_lint_result lr;
    struct crl_doc *d;
    const unsigned char *der;
    size_t len;
    X509_CRL *c;

    fill(f, 2, 4, now - 5000, na);
    params(f, &p, 1);
    d = make(f, 2, &p, &st);
    assert_int_equal(st.entries, 2);
    assert_int_equal(st.expired, 2);
    der = crl_doc_der(d, &len);
    assert_int_equal(crl_lint(der, len, &p, 0, &lr), 0);
    crl_doc_free(d);
    /* a CA without entries, and a nextUpdate past 2050 (GeneralizedTime) */
    params(f, &p, 2);
    p.next_update = 2556144000; /* 2051-01-01 */
    d = make(f, 99, &p, &st);
    der = crl_doc_der(d, &len);
    assert_int_equal(st.entries, 0);
    assert_int_equal(crl_lint(der, len, &p, 0, &lr), 0);
    c = parse(der, len);
    assert_null(X509_CRL_get_REVOKED(c));
    assert_int_equal(ASN1_STRING_type(X509_CRL_get0_nextUpdate(c)), V_ASN1_GENERALIZEDTIME);
    assert_int_equal(ASN1_STRING_type(X509_CRL_get0_lastUpdate(c)), V_ASN1_UTCTIME);
    X509_CRL_free(c);
    crl_doc_free(d);
}

/* Shards partition the entries by serial; a delta lists only revocations since its base. */
static void test_delta_and_shards(void **state)
{
    struct fix *f = *state;
    struct crl_params p;
    struct crl_stats st;
    struct crl_lint_result lr;
    struct crl_doc *d;
    struct crl_info in;
    const unsigned char *der;
    size_t len, total = 0;
    int64_t base = sg_now() - 1000;
    X509_CRL *c;

    fill(f, 3, 100, base, NULL);
    for (unsigned k = 0; k < 4; k++) {
        params(f, &p, 10 + k);
        p.shards = 4;
        p.shard = k;
        p.idp_url = k == 0 ? "http://x.test/a-shard-0.crl" : "http://x.test/a-shard-n.crl";
        d = make(f, 3, &p, &st);
        der = crl_doc_der(d, &len);
        assert_int_equal(crl_lint(der, len, &p, 0, &lr), 0);
        c = parse(der, len);
        for (int i = 0; i < sk_X509_REVOKED_num(X509_CRL_get_REVOKED(c)); i++) {
            long s = ASN1_INTEGER_get(
                X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(X509_CRL_get_REVOKED(c), i)));
            assert_int_equal(s % 4, k);
        }
        total += st.entries;
        X509_CRL_free(c);
        crl_doc_free(d);
    }
    assert_int_equal(total, 100);
    params(f, &p, 21);
    p.delta_base = 20;
    p.delta_since = base + 90; /* serials 91..100 */
    d = make(f, 3, &p, &st);
    der = crl_doc_der(d, &len);
    assert_int_equal(st.entries, 10);
    assert_int_equal(crl_lint(der, len, &p, 0, &lr), 0);
    assert_true(crl_info_read(der, len, &in));
    assert_int_equal(in.delta_base, 20);
    assert_int_equal(in.number, 21);
    c = parse(der, len);
    {
        int crit = -1;
        ASN1_INTEGER *b = X509_CRL_get_ext_d2i(c, NID_delta_crl, &crit, NULL);
        assert_int_equal(ASN1_INTEGER_get(b), 20);
        assert_int_equal(crit, 1);
        ASN1_INTEGER_free(b);
    }
    X509_CRL_free(c);
    crl_doc_free(d);
    /* a full CRL with freshestCRL */
    params(f, &p, 22);
    p.freshest_url = "http://x.test/a-delta.crl";
    d = make(f, 3, &p, &st);
    der = crl_doc_der(d, &len);
    assert_int_equal(crl_lint(der, len, &p, 0, &lr), 0);
    c = parse(der, len);
    assert_true(X509_CRL_get_ext_by_NID(c, NID_freshest_crl, -1) >= 0);
    X509_CRL_free(c);
    crl_doc_free(d);
}

/* Finds the first occurrence of pat in buf (a test helper for DER surgery). */
static unsigned char *at(unsigned char *buf, size_t len, const void *pat, size_t plen)
{
    unsigned char *p = memmem(buf, len, pat, plen);
    assert_non_null(p);
    return p;
}

static int has(const struct crl_lint_result *r, const char *lint)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->f[i].lint, lint) == 0)
            return 1;
    return 0;
}

/* Deliberately broken CRLs each get the finding that names the fault. */
static void test_lint_findings(void **state)
{
    struct fix *f = *state;
    struct crl_params p;
    struct crl_lint_result lr;
    struct crl_doc *d;
    const unsigned char *der;
    unsigned char *b;
    size_t len;

    params(f, &p, 5);
    d = make(f, 1, &p, NULL);
    der = crl_doc_der(d, &len);
    b = malloc(len);
    /* version v1 */
    memcpy(b, der, len);
    at(b, len, "\x02\x01\x01\x30", 4)[2] = 0;
    assert_true(crl_lint(b, len, &p, 0, &lr) > 0);
    assert_true(has(&lr, "crl_version"));
    /* a reason code of 0 (unspecified must be omitted) */
    memcpy(b, der, len);
    at(b, len, "\x0a\x01\x01", 3)[2] = 0;
    assert_true(crl_lint(b, len, &p, 0, &lr) > 0);
    assert_true(has(&lr, "crl_entry_reason"));
    /* serials out of order: swap the values of the first two one-octet serials */
    memcpy(b, der, len);
    {
        unsigned char *s1 = at(b, len, "\x02\x01\x01\x17", 4);
        unsigned char *s2 = at(b, len, "\x02\x01\x02\x17", 4);
        s1[2] = 2, s2[2] = 1;
    }
    assert_true(crl_lint(b, len, &p, 0, &lr) > 0);
    assert_true(has(&lr, "crl_entry_serial"));
    /* AKI not the issuer's SKI */
    memcpy(b, der, len);
    at(b, len, f->keyid, 20)[0] ^= 1;
    assert_true(crl_lint(b, len, &p, 0, &lr) > 0);
    assert_true(has(&lr, "crl_aki"));
    /* IDP not critical */
    memcpy(b, der, len);
    at(b, len, "\x55\x1d\x1c\x01\x01\xff", 6)[5] = 0;
    assert_true(crl_lint(b, len, &p, 0, &lr) > 0);
    assert_true(has(&lr, "crl_idp") && has(&lr, "crl_extensions"));
    /* the wrong number, issuer and delta expectations */
    p.number = 6;
    p.delta_base = 4;
    p.issuer_name_len--;
    assert_true(crl_lint(der, len, &p, 0, &lr) > 0);
    assert_true(has(&lr, "crl_number") && has(&lr, "crl_delta") && has(&lr, "crl_issuer"));
    /* truncated: structure */
    assert_true(crl_lint(der, len - 1, &p, 0, &lr) > 0);
    assert_true(has(&lr, "crl_structure"));
    free(b);
    crl_doc_free(d);
}

/*
 * Times on both sides of RFC 5280's 2050 boundary: 2049-12-31T23:59:59Z as UTCTime and
 * 2050-01-01T00:00:00Z as GeneralizedTime, written so and passed by the lint's crl_times.
 */
static void test_time_boundary(void **state)
{
    struct fix *f = *state;
    struct crl_params p;
    struct crl_lint_result lr;
    struct crl_doc *d;
    const unsigned char *der;
    size_t len;

    params(f, &p, 7);
    p.this_update = INT64_C(2524607999);
    p.next_update = INT64_C(2524608000);
    d = make(f, 1, &p, NULL);
    der = crl_doc_der(d, &len);
    assert_non_null(at((unsigned char *)der, len,
                       "\x17\x0d"
                       "491231235959Z",
                       15));
    assert_non_null(at((unsigned char *)der, len,
                       "\x18\x0f"
                       "20500101000000Z",
                       17));
    assert_int_equal(crl_lint(der, len, &p, 0, &lr), 0);
    assert_false(has(&lr, "crl_times"));
    crl_doc_free(d);
}

static int drop_none(const unsigned char *s, size_t n, void *arg)
{
    (void)s, (void)n, (void)arg;
    return 0;
}

/* A new CRL missing an entry of the last one is refused unless the entry may go. */
static void test_never_lose_entry(void **state)
{
    struct fix *f = *state;
    struct crl_params p;
    struct crl_doc *old, *cur;
    const unsigned char *od, *nd;
    size_t ol, nl;
    char detail[SIGNET_DETAIL_MAX] = "";

    params(f, &p, 30);
    old = make(f, 1, &p, NULL); /* CA 1: 300 entries */
    params(f, &p, 31);
    cur = make(f, 2, &p, NULL); /* CA 2: 2 entries, serials 2 and 4 */
    od = crl_doc_der(old, &ol);
    nd = crl_doc_der(cur, &nl);
    assert_int_equal(crl_compare(od, ol, nd, nl, drop_none, NULL, NULL, detail), SIGNET_E_POLICY);
    assert_non_null(strstr(detail, "would drop serial 01"));
    assert_int_equal(crl_compare(nd, nl, od, ol, drop_none, NULL, NULL, detail), SIGNET_E_POLICY);
    assert_non_null(strstr(detail, "not above")); /* 30 after 31 */
    crl_doc_free(old);
    params(f, &p, 32);
    old = make(f, 1, &p, NULL);
    od = crl_doc_der(old, &ol);
    assert_int_equal(crl_compare(nd, nl, od, ol, drop_none, NULL, NULL, detail), SIGNET_OK);
    crl_doc_free(old);
    crl_doc_free(cur);
}

static void test_url_variants(void **state)
{
    char out[128];

    (void)state;
    assert_true(crl_url_variant("http://h/crl/a.crl", "-delta", out, sizeof(out)));
    assert_string_equal(out, "http://h/crl/a-delta.crl");
    assert_true(crl_url_variant("http://h/crl/a.crl", "-shard-3", out, sizeof(out)));
    assert_string_equal(out, "http://h/crl/a-shard-3.crl");
    assert_false(crl_url_variant("http://h/crl/a.crl", "-shard-3", out, 10));
    assert_int_equal(crl_shard_of((const unsigned char *)"\x01\x00", 2, 7), 256 % 7);
}

/* ---- ca level: a demo PKI ---- */

static int demo_setup(void **state)
{
    if (!pkifix_demo_make(&pki, "/tmp/signet-crl.XXXXXX"))
        return -1;
    return pkifix_ctx_setup(&pki, state);
}

static int demo_teardown(void **state)
{
    pkifix_ctx_teardown(state);
    return pkifix_demo_remove(&pki) ? 0 : -1;
}

/* Issues a tls-server certificate; returns its serial (hex) and key's SPKI hash. */
static void issue(struct ca_ctx *ctx, const char *cn, char serial[41], unsigned char spki[32])
{
    X509_REQ *req = X509_REQ_new();
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    unsigned char *der = NULL;
    char san[128], detail[SIGNET_DETAIL_MAX] = "";
    struct ca_issued *r = NULL;
    int n;

    snprintf(san, sizeof(san), "DNS:%s", cn);
    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_UTF8,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_REQ_set_pubkey(req, k);
    sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san));
    X509_REQ_add_extensions(req, exts);
    assert_true(X509_REQ_sign(req, k, EVP_sha256()) > 0);
    n = i2d_X509_REQ(req, &der);
    {
        struct ca_issue_request ir = {der, (size_t)n, "issuing-1", "tls-server", "unit"};
        if (ca_issue(ctx, &ir, &r, detail) != SIGNET_OK)
            fail_msg("issue: %s", detail);
    }
    strcpy(serial, r->serial);
    OPENSSL_free(der);
    der = NULL;
    n = i2d_PUBKEY(k, &der);
    SHA256(der, (size_t)n, spki);
    OPENSSL_free(der);
    ca_issued_free(r);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    EVP_PKEY_free(k);
    X509_REQ_free(req);
}

static enum signet_err do_revoke(struct ca_ctx *ctx, const char *ca, const char *serial, int reason,
                                 const char *const *allowed, char *detail)
{
    struct ca_revoke_request r;

    memset(&r, 0, sizeof(r));
    r.ca = ca;
    r.serial_hex = serial;
    r.reason = reason;
    r.requester = "unit";
    r.allowed_profiles = allowed;
    return ca_revoke(ctx, &r, NULL, detail);
}

/* Reads public/crl/NAME; returns the parsed CRL (the caller frees). */
static X509_CRL *published(const char *name)
{
    char path[256];
    unsigned char *der = NULL;
    size_t len = 0;
    X509_CRL *c;

    snprintf(path, sizeof(path), "%s/public/crl/%s", pki.dir, name);
    assert_int_equal(sg_read_file(path, 64u << 20, &der, &len, NULL), SIGNET_OK);
    c = parse(der, len);
    free(der);
    return c;
}

static long crl_num(X509_CRL *c)
{
    ASN1_INTEGER *n = X509_CRL_get_ext_d2i(c, NID_crl_number, NULL, NULL);
    long v = ASN1_INTEGER_get(n);

    ASN1_INTEGER_free(n);
    return v;
}

/* Revocation answers, the blocked key, and the CRL that lists the revoked certificate only. */
static void test_revoke_and_generate(void **state)
{
    struct ca_ctx *ctx = *state;
    static const char *const other[] = {"tls-client", NULL};
    static const char *const mine[] = {"tls-server", NULL};
    char good[41], bad[41], detail[SIGNET_DETAIL_MAX] = "", cmd[512];
    unsigned char spki[32], spki2[32];
    struct ca_crl_result res;
    struct ca_ent *ca = ca_ent_find(ctx, "issuing-1");
    X509_CRL *c;
    X509_REVOKED *rv = NULL;
    ASN1_INTEGER *ai;
    BIGNUM *bn = NULL;

    issue(ctx, "good.example.test", good, spki2);
    issue(ctx, "bad.example.test", bad, spki);
    assert_int_equal(do_revoke(ctx, "issuing-1", "zz", 1, NULL, detail), SIGNET_E_USAGE);
    assert_int_equal(
        do_revoke(ctx, "issuing-1", "0123456789012345678901234567890123456789ab", 1, NULL, detail),
        SIGNET_E_USAGE);
    assert_int_equal(do_revoke(ctx, "issuing-1", "00ff00ff00ff00ff", 4, NULL, detail),
                     SIGNET_E_NOTFOUND);
    assert_int_equal(do_revoke(ctx, "root", bad, 1, NULL, detail), SIGNET_E_NOTFOUND);
    assert_non_null(strstr(detail, "issuing-1 issued it"));
    assert_int_equal(do_revoke(ctx, NULL, bad, 1, other, detail), SIGNET_E_FORBIDDEN);
    assert_int_equal(do_revoke(ctx, "issuing-1", bad, 8, NULL, detail), SIGNET_E_USAGE);
    assert_int_equal(store_blocked_key_get(ctx->st, spki, NULL, NULL), SIGNET_E_NOTFOUND);
    assert_int_equal(do_revoke(ctx, NULL, bad, 1, mine, detail), SIGNET_OK);
    assert_int_equal(do_revoke(ctx, "issuing-1", bad, 4, NULL, detail), SIGNET_E_EXISTS);
    assert_non_null(strstr(detail, "already revoked"));
    assert_int_equal(store_blocked_key_get(ctx->st, spki, NULL, NULL), SIGNET_OK);
    assert_int_equal(store_blocked_key_get(ctx->st, spki2, NULL, NULL), SIGNET_E_NOTFOUND);
    assert_int_equal(ca_crl_generate(ctx, "issuing-1", &res, detail), SIGNET_OK);
    assert_int_equal(res.entries, 1);
    c = published("issuing-1.crl");
    assert_int_equal(X509_CRL_verify(c, X509_get0_pubkey(ca->cert)), 1);
    assert_int_equal(crl_num(c), (long)res.number);
    BN_hex2bn(&bn, bad);
    ai = BN_to_ASN1_INTEGER(bn, NULL);
    assert_int_equal(X509_CRL_get0_by_serial(c, &rv, ai), 1);
    ASN1_INTEGER_free(ai);
    BN_free(bn);
    bn = NULL;
    BN_hex2bn(&bn, good);
    ai = BN_to_ASN1_INTEGER(bn, NULL);
    assert_int_equal(X509_CRL_get0_by_serial(c, &rv, ai), 0);
    ASN1_INTEGER_free(ai);
    BN_free(bn);
    X509_CRL_free(c);
    /* GnuTLS reads it too */
    snprintf(cmd, sizeof(cmd),
             "command -v certtool >/dev/null || exit 0; certtool --crl-info --inder --infile "
             "'%s/public/crl/issuing-1.crl' >/dev/null 2>&1",
             pki.dir);
    assert_int_equal(system(cmd), 0);
}

/* An expired certificate is refused and nothing changes. */
static void test_revoke_expired(void **state)
{
    struct ca_ctx *ctx = *state;
    struct ca_ent *ca = ca_ent_find(ctx, "issuing-1");
    struct store_cert c, *back = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";

    memset(&c, 0, sizeof(c));
    c.ca_id = ca->store_id;
    memcpy(c.serial, "\x7e\x57", 2);
    c.serial_len = 2;
    c.state = STORE_CERT_ISSUED;
    c.not_after = sg_now() - 86400;
    c.created = sg_now() - 86400 * 30;
    c.reason = -1;
    strcpy(c.profile, "tls-server");
    assert_int_equal(store_cert_put(ctx->st, &c, 1, NULL), SIGNET_OK);
    assert_int_equal(do_revoke(ctx, "issuing-1", "7e57", 1, NULL, detail), SIGNET_E_POLICY);
    assert_non_null(strstr(detail, "expired on"));
    assert_int_equal(store_cert_get(ctx->st, ca->store_id, c.serial, 2, &back, NULL), SIGNET_OK);
    assert_int_equal(back->state, STORE_CERT_ISSUED);
    store_cert_free(back);
}

/* A PENDING record (possibly issued; it holds the TBS) may be revoked; keyCompromise blocks its
 * key. */
static void test_revoke_pending(void **state)
{
    struct ca_ctx *ctx = *state;
    struct ca_ent *ca = ca_ent_find(ctx, "issuing-1");
    struct store_cert *rec = NULL, pend;
    unsigned char serial[STORE_SERIAL_MAX], spki[32], *tbs = NULL;
    char hex[41], detail[SIGNET_DETAIL_MAX] = "";
    const unsigned char *q;
    X509 *x;
    long n = 0;
    int tl;

    issue(ctx, "pending.example.test", hex, spki);
    n = sg_hex_decode(hex, serial, sizeof(serial));
    assert_int_equal(store_cert_get(ctx->st, ca->store_id, serial, (size_t)n, &rec, NULL),
                     SIGNET_OK);
    q = rec->der;
    x = d2i_X509(NULL, &q, (long)rec->der_len);
    assert_non_null(x);
    tl = i2d_re_X509_tbs(x, &tbs);
    assert_true(tl > 0);
    memset(&pend, 0, sizeof(pend));
    pend.ca_id = ca->store_id;
    memcpy(pend.serial, "\x5e\x5e\x5e", 3);
    pend.serial_len = 3;
    pend.state = STORE_CERT_PENDING;
    pend.not_after = rec->not_after;
    pend.created = sg_now();
    pend.reason = -1;
    strcpy(pend.profile, "tls-server");
    pend.der = tbs;
    pend.der_len = (size_t)tl;
    assert_int_equal(store_cert_put(ctx->st, &pend, 1, NULL), SIGNET_OK);
    assert_int_equal(store_blocked_key_get(ctx->st, spki, NULL, NULL), SIGNET_E_NOTFOUND);
    assert_int_equal(do_revoke(ctx, "issuing-1", "5E5E5E", 1, NULL, detail), SIGNET_OK);
    assert_int_equal(store_blocked_key_get(ctx->st, spki, NULL, NULL), SIGNET_OK);
    OPENSSL_free(tbs);
    X509_free(x);
    store_cert_free(rec);
}

/* A failure after the number is reserved: the next published number is above the reserved one. */
static void test_number_after_failure(void **state)
{
    struct ca_ctx *ctx = *state;
    struct ca_crl_result r1, r2;
    char detail[SIGNET_DETAIL_MAX] = "";
    X509_CRL *c;

    assert_int_equal(ca_crl_generate(ctx, "issuing-1", &r1, detail), SIGNET_OK);
    ca_crl_test_fail_after_number(1);
    assert_int_equal(ca_crl_generate(ctx, "issuing-1", NULL, detail), SIGNET_E_INTERNAL);
    ca_crl_test_fail_after_number(0);
    c = published("issuing-1.crl");
    assert_int_equal(crl_num(c), (long)r1.number); /* nothing published by the failed run */
    X509_CRL_free(c);
    assert_int_equal(ca_crl_generate(ctx, "issuing-1", &r2, detail), SIGNET_OK);
    assert_true(r2.number >= r1.number + 2);
    c = published("issuing-1.crl");
    assert_int_equal(crl_num(c), (long)r2.number);
    X509_CRL_free(c);
}

/* With crl_delta = yes: a delta CRL and freshestCRL; the URLs for certificates. */
static void test_delta_config(void **state)
{
    struct ca_ctx *ctx = *state, *c2 = NULL;
    char cmd[512], detail[SIGNET_DETAIL_MAX] = "", cdp[512], fr[512], serial[41];
    unsigned char spki[32];
    struct ca_crl_result res;
    X509_CRL *full, *delta;

    snprintf(cmd, sizeof(cmd),
             "sed -i 's/^\\[ca.issuing-1\\]/[ca.issuing-1]\\ncrl_delta = yes/' '%s'", pki.conf);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(ca_ctx_open(pki.conf, 0, &c2, detail), SIGNET_OK);
    issue(c2, "late.example.test", serial, spki);
    assert_int_equal(do_revoke(c2, "issuing-1", serial, 4, NULL, detail), SIGNET_OK);
    assert_int_equal(ca_crl_generate(c2, "issuing-1", &res, detail), SIGNET_OK);
    assert_int_equal(res.published, 2);
    full = published("issuing-1.crl");
    delta = published("issuing-1-delta.crl");
    assert_true(X509_CRL_get_ext_by_NID(full, NID_freshest_crl, -1) >= 0);
    assert_true(X509_CRL_get_ext_by_NID(delta, NID_delta_crl, -1) >= 0);
    assert_true(crl_num(delta) > crl_num(full));
    /* the delta lists what was revoked since its base: the late revocation, maybe the earlier */
    assert_true(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(delta)) >= 1);
    assert_true(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(delta)) <
                sk_X509_REVOKED_num(X509_CRL_get_REVOKED(full)) + 1);
    {
        X509_REVOKED *rv = NULL;
        BIGNUM *bn = NULL;
        ASN1_INTEGER *ai;
        BN_hex2bn(&bn, serial);
        ai = BN_to_ASN1_INTEGER(bn, NULL);
        assert_int_equal(X509_CRL_get0_by_serial(delta, &rv, ai), 1);
        ASN1_INTEGER_free(ai);
        BN_free(bn);
    }
    assert_int_equal(ca_crl_urls(c2, "issuing-1", (const unsigned char *)"\x01", 1, cdp,
                                 sizeof(cdp), fr, sizeof(fr), detail),
                     SIGNET_OK);
    assert_string_equal(cdp, "http://127.0.0.1:8080/crl/issuing-1.crl");
    assert_string_equal(fr, "http://127.0.0.1:8080/crl/issuing-1-delta.crl");
    X509_CRL_free(full);
    X509_CRL_free(delta);
    ca_ctx_free(c2);
    (void)ctx;
}

/* The scheduler signs a new CRL crl_delay after a revocation marks it dirty. */
static void test_scheduler(void **state)
{
    struct ca_ctx *c2 = NULL;
    char cmd[512], detail[SIGNET_DETAIL_MAX] = "", serial[41];
    unsigned char spki[32];
    X509_CRL *c;
    long before, after = 0;

    (void)state;
    snprintf(cmd, sizeof(cmd),
             "sed -i 's/^\\[ca.issuing-1\\]/[ca.issuing-1]\\ncrl_delay = 1s/' '%s'", pki.conf);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(ca_ctx_open(pki.conf, 0, &c2, detail), SIGNET_OK);
    c = published("issuing-1.crl");
    before = crl_num(c);
    X509_CRL_free(c);
    assert_int_equal(ca_crl_scheduler_start(c2, detail), SIGNET_OK);
    assert_int_equal(ca_crl_scheduler_start(c2, detail), SIGNET_E_USAGE);
    issue(c2, "sched.example.test", serial, spki);
    assert_int_equal(do_revoke(c2, "issuing-1", serial, 3, NULL, detail), SIGNET_OK);
    /* poll the published file for the outcome: at most 15 s */
    for (int i = 0; i < 150 && after <= before; i++) {
        sg_sleep_ms(100);
        c = published("issuing-1.crl");
        after = crl_num(c);
        X509_CRL_free(c);
    }
    ca_crl_scheduler_stop(c2);
    assert_true(after > before);
    ca_ctx_free(c2);
}

int main(void)
{
    const struct CMUnitTest crl_tests[] = {
        cmocka_unit_test(test_reasons),           cmocka_unit_test(test_key_types),
        cmocka_unit_test(test_url_variants),      cmocka_unit_test(test_build_full),
        cmocka_unit_test(test_expired_and_empty), cmocka_unit_test(test_delta_and_shards),
        cmocka_unit_test(test_lint_findings),     cmocka_unit_test(test_never_lose_entry),
        cmocka_unit_test(test_time_boundary),
    };
    const struct CMUnitTest ca_tests[] = {
        cmocka_unit_test(test_revoke_and_generate), cmocka_unit_test(test_revoke_expired),
        cmocka_unit_test(test_revoke_pending),      cmocka_unit_test(test_number_after_failure),
        cmocka_unit_test(test_delta_config),        cmocka_unit_test(test_scheduler),
    };
    int rc = cmocka_run_group_tests_name("crl", crl_tests, fix_setup, fix_teardown);

    return rc + cmocka_run_group_tests_name("revocation", ca_tests, demo_setup, demo_teardown);
}
