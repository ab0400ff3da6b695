/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ca: serials, validity clamped to the issuer, only the profile's extensions issued, records
 * written PENDING then ISSUED, refused requests writing nothing, health. Runs on a demo PKI made
 * by ca_demo_init in a temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../ca/internal.h"
#include "pkifix.h"

#define SERIALS 20000

static struct pkifix pki;

/* "long": 10 years, which issuing-1 may issue. */
static const char long_profile[] =
    "[profile]\nvalidity = 10y\nkey = ec:P-256\nsubject.CN = required\n"
    "san.dns = optional\nextensions = e\n[e]\nbasicConstraints = critical, CA:FALSE\n"
    "keyUsage = critical, digitalSignature\n";

/* "manual": approval = manual. */
static const char manual_profile[] =
    "[profile]\nvalidity = 30d\nkey = ec:P-256\nsubject.CN = required\n"
    "san.dns = optional\nextensions = e\napproval = manual\n[e]\n"
    "basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n";

/* Makes the demo PKI once; issuing-1 may also issue "long", "manual" and subordinate-ca. */
static int group_setup(void **state)
{
    (void)state;
    if (!pkifix_demo_make(&pki, "/tmp/signet-ca.XXXXXX") ||
        !pkifix_add_profile(&pki, "long", long_profile) ||
        !pkifix_add_profile(&pki, "manual", manual_profile))
        return -1;
    return pkifix_enable_profiles(&pki, "long, manual, subordinate-ca") ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    return pkifix_demo_remove(&pki) ? 0 : -1;
}

static int setup(void **state)
{
    return pkifix_ctx_setup(&pki, state);
}

static enum signet_err issue(struct ca_ctx *ctx, const char *profile, const char *csr,
                             struct ca_issued **out, char *detail)
{
    struct ca_issue_request req = {(const unsigned char *)csr, strlen(csr), "issuing-1", profile,
                                   "unit"};
    return ca_issue(ctx, &req, out, detail);
}

static X509 *cert_of(const struct ca_issued *r)
{
    const unsigned char *p = r->der;
    X509 *x = d2i_X509(NULL, &p, (long)r->der_len);

    assert_non_null(x);
    return x;
}

/* Serials: positive, 16 octets with a nonzero first octet, unique, every bit varies. */
static void test_serials(void **state)
{
    static unsigned char s[SERIALS][16];
    unsigned ones[128] = {0};

    (void)state;
    for (int i = 0; i < SERIALS; i++) {
        assert_true(ca_new_serial(s[i]));
        assert_int_equal(s[i][0] & 0x80, 0);
        assert_int_not_equal(s[i][0], 0);
        for (int b = 0; b < 128; b++)
            ones[b] += (s[i][b / 8] >> (7 - b % 8)) & 1;
    }
    assert_int_equal(ones[0], 0); /* the sign bit */
    for (int b = 1; b < 128; b++)
        if (ones[b] < SERIALS * 45 / 100 || ones[b] > SERIALS * 55 / 100)
            fail_msg("bit %d set in %u of %d serials", b, ones[b], SERIALS);
    for (int i = 0; i < SERIALS; i++)
        for (int j = i + 1; j < i + 200 && j < SERIALS; j++)
            assert_memory_not_equal(s[i], s[j], 16);
}

/* The issued serial as OpenSSL reads it: positive, 127..128 bits, <= 20 octets. */
static void test_issued_serial(void **state)
{
    struct ca_issued *r = NULL;
    char detail[SIGNET_DETAIL_MAX] = "", *csr = pkifix_csr("s.example.test", "DNS:s.example.test");
    X509 *x;
    BIGNUM *bn;

    assert_int_equal(issue(*state, "tls-server", csr, &r, detail), SIGNET_OK);
    x = cert_of(r);
    bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    assert_false(BN_is_negative(bn));
    assert_true(BN_num_bits(bn) >= 121 && BN_num_bits(bn) <= 127);
    assert_true(BN_num_bytes(bn) <= 20);
    assert_int_equal(strlen(r->serial), 32);
    BN_free(bn);
    X509_free(x);
    ca_issued_free(r);
    free(csr);
}

/* A CSR asking for CA:TRUE, keyCertSign and a comment gets the profile's extensions only. */
static void test_extension_section_only(void **state)
{
    struct ca_issued *r = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";
    char *csr = pkifix_csr_ext("www.example.test", "DNS:www.example.test", NID_basic_constraints,
                               "critical,CA:TRUE", NID_key_usage, "critical,keyCertSign,cRLSign");
    X509 *x;
    BASIC_CONSTRAINTS *bc;

    assert_int_equal(issue(*state, "tls-server", csr, &r, detail), SIGNET_OK);
    x = cert_of(r);
    bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL, NULL);
    assert_non_null(bc);
    assert_false(bc->ca);
    BASIC_CONSTRAINTS_free(bc);
    assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
    assert_int_equal(X509_check_ca(x), 0);
    /* profile (3) + SAN, SKI, AKI, CDP, AIA */
    assert_int_equal(X509_get_ext_count(x), 8);
    assert_true(X509_get_ext_by_NID(x, NID_netscape_comment, -1) < 0);
    /* AKI is the issuer's SKI */
    {
        struct ca_ent *ca = ca_ent_find(*state, "issuing-1");
        const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(x);
        assert_non_null(aki);
        assert_int_equal(ASN1_OCTET_STRING_cmp(aki, X509_get0_subject_key_id(ca->cert)), 0);
        assert_int_equal(X509_verify(x, X509_get0_pubkey(ca->cert)), 1);
    }
    X509_free(x);
    ca_issued_free(r);
    free(csr);
}

static int64_t secs(const ASN1_TIME *t)
{
    struct tm tm;

    assert_true(ASN1_TIME_to_tm(t, &tm));
    return (int64_t)timegm(&tm);
}

/* A profile asking 10 years under a 5-year issuer ends at the issuer's notAfter. */
static void test_validity_clamped(void **state)
{
    struct ca_issued *r = NULL;
    char detail[SIGNET_DETAIL_MAX] = "", *csr = pkifix_csr("long.example.test", NULL);
    struct ca_ent *ca = ca_ent_find(*state, "issuing-1");
    X509 *x;

    assert_int_equal(issue(*state, "long", csr, &r, detail), SIGNET_OK);
    x = cert_of(r);
    assert_int_equal(secs(X509_get0_notAfter(x)), secs(X509_get0_notAfter(ca->cert)));
    assert_int_equal(r->not_after, secs(X509_get0_notAfter(ca->cert)));
    X509_free(x);
    ca_issued_free(r);
    free(csr);
    /* and 90 days under the same issuer is 90 days */
    csr = pkifix_csr("n.example.test", "DNS:n.example.test");
    assert_int_equal(issue(*state, "tls-server", csr, &r, detail), SIGNET_OK);
    x = cert_of(r);
    assert_int_equal(secs(X509_get0_notAfter(x)) - secs(X509_get0_notBefore(x)), 90 * 86400);
    X509_free(x);
    ca_issued_free(r);
    free(csr);
}

static int count_cb(const struct store_cert *c, void *arg)
{
    (void)c;
    (*(int *)arg)++;
    return 1;
}

static int count(struct ca_ctx *ctx, enum store_cert_state st)
{
    int n = 0;

    assert_int_equal(ca_cert_iter(ctx, "issuing-1", st, count_cb, &n, NULL), SIGNET_OK);
    return n;
}

/* ISSUED records hold the certificate; refused requests write nothing at all. */
static void test_records(void **state)
{
    struct ca_ctx *ctx = *state;
    struct ca_issued *r = NULL;
    struct store_cert *c = NULL;
    char detail[SIGNET_DETAIL_MAX] = "", *csr = pkifix_csr("r.example.test", "DNS:r.example.test");
    char *other = pkifix_csr("r.other.test", "DNS:r.other.test");
    int before, pending;
    uint64_t audit_before = 0, audit_after = 0;

    assert_int_equal(issue(ctx, "tls-server", csr, &r, detail), SIGNET_OK);
    assert_int_equal(ca_cert_get(ctx, "issuing-1", r->serial, &c, detail), SIGNET_OK);
    assert_int_equal(c->state, STORE_CERT_ISSUED);
    assert_int_equal(c->der_len, r->der_len);
    assert_memory_equal(c->der, r->der, r->der_len);
    assert_string_equal(c->profile, "tls-server");
    assert_string_equal(c->requester, "unit");
    store_cert_free(c);
    ca_issued_free(r);
    r = NULL;

    before = count(ctx, 0);
    pending = count(ctx, STORE_CERT_PENDING);
    assert_int_equal(store_audit_verify(ca_ctx_store(ctx), &audit_before, detail), SIGNET_OK);
    assert_int_equal(issue(ctx, "tls-server", other, &r, detail), SIGNET_E_POLICY);
    assert_non_null(strstr(detail, "does not match"));
    assert_int_equal(issue(ctx, "tls-server", "junk", &r, detail), SIGNET_E_BADCSR);
    assert_int_equal(issue(ctx, "no-such", csr, &r, detail), SIGNET_E_NOTFOUND);
    assert_int_equal(issue(ctx, "subordinate-ca", csr, &r, detail), SIGNET_E_POLICY);
    assert_null(r);
    assert_int_equal(count(ctx, 0), before);
    assert_int_equal(count(ctx, STORE_CERT_PENDING), pending);
    assert_int_equal(store_audit_verify(ca_ctx_store(ctx), &audit_after, detail), SIGNET_OK);
    assert_int_equal(audit_after, audit_before);
    free(csr);
    free(other);
}

static void test_health_and_registry(void **state)
{
    struct ca_ctx *ctx = *state;
    struct ca_info *v = NULL;
    size_t n = 0;
    char detail[SIGNET_DETAIL_MAX] = "", *pem = NULL;

    assert_int_equal(ca_health(ctx, detail), SIGNET_OK);
    assert_int_equal(ca_list(ctx, &v, &n, detail), SIGNET_OK);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].name, "issuing-1");
    assert_string_equal(v[0].parent, "root");
    assert_true(v[0].has_cert && v[0].store_id != 0);
    assert_string_equal(v[1].name, "root");
    free(v);
    assert_true(ca_profile_allowed(ctx, "issuing-1", "tls-server"));
    assert_false(ca_profile_allowed(ctx, "root", "tls-server"));
    assert_false(ca_profile_allowed(ctx, "issuing-1", "no-such-profile"));
    assert_int_equal(ca_cert_pem(ctx, "issuing-1", 1, &pem, detail), SIGNET_OK);
    assert_non_null(strstr(strstr(pem, "END CERTIFICATE") + 1, "BEGIN CERTIFICATE"));
    free(pem);
    assert_non_null(sg_conf_get(ca_ctx_conf(ctx), "daemon", "listen"));
}

/* signetd's open: online tokens logged in, the root never opened. */
static void test_open_online(void **state)
{
    struct ca_ctx *ctx = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";

    (void)state;
    assert_int_equal(ca_ctx_open(pki.conf, CA_OPEN_LOGIN_ONLINE, &ctx, detail), SIGNET_OK);
    for (size_t i = 0; i < ctx->ntokens; i++)
        if (strcmp(ctx->tokens[i].name, "root") == 0)
            assert_null(ctx->tokens[i].tok);
        else
            assert_non_null(ctx->tokens[i].tok);
    assert_int_equal(ca_health(ctx, detail), SIGNET_OK);
    ca_ctx_free(ctx);
}

/* Asserts that a request under profile is refused with want, naming why, and stores nothing. */
static void refused(struct ca_ctx *ctx, const char *profile, const char *csr, enum signet_err want,
                    const char *why)
{
    struct ca_issued *r = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";
    int before = count(ctx, 0);

    assert_int_equal(issue(ctx, profile, csr, &r, detail), want);
    assert_null(r);
    if (strstr(detail, why) == NULL)
        fail_msg("detail '%s' lacks '%s'", detail, why);
    assert_int_equal(count(ctx, 0), before);
}

/* A profile that needs manual approval queues the request: no certificate record yet. */
static void test_manual_approval_queued(void **state)
{
    char *csr = pkifix_csr("m.example.test", "DNS:m.example.test");

    refused(*state, "manual", csr, SIGNET_E_QUEUED, "queued");
    free(csr);
}

/* issuing-1 has pathLen 0: it may not issue a subordinate CA (RFC 5280 4.2.1.9). */
static void test_issuer_path_len(void **state)
{
    char *csr = pkifix_csr("Sub CA", NULL);

    refused(*state, "subordinate-ca", csr, SIGNET_E_POLICY, "4.2.1.9");
    free(csr);
}

struct block_arg {
    unsigned char hash[POLICY_SPKI_HASH];
};

static enum signet_err block_fn(struct store_txn *txn, void *arg, char *detail)
{
    struct block_arg *b = arg;

    return store_txn_blocked_key_put(txn, b->hash, sg_now(), "keyCompromise", detail);
}

/* A key in the blocked-key table is never certified again, whatever else the request says. */
static void test_blocked_key_refused(void **state)
{
    struct ca_ctx *ctx = *state;
    char *csr = pkifix_csr("b.example.test", "DNS:b.example.test");
    struct ca_issued *r = NULL;
    struct block_arg b;
    char detail[SIGNET_DETAIL_MAX] = "";
    BIO *bio = BIO_new_mem_buf(csr, -1);
    X509_REQ *req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);

    assert_non_null(req);
    assert_true(policy_spki_sha256(X509_REQ_get0_pubkey(req), b.hash));
    /* the same key is fine before it is blocked */
    assert_int_equal(issue(ctx, "tls-server", csr, &r, detail), SIGNET_OK);
    ca_issued_free(r);
    assert_int_equal(store_write(ca_ctx_store(ctx), block_fn, &b, detail), SIGNET_OK);
    refused(ctx, "tls-server", csr, SIGNET_E_BADKEY, "block");
    X509_REQ_free(req);
    BIO_free(bio);
    free(csr);
}

/* A PEM CSR for k (its point in k's current form) naming cn as CN and DNS SAN. Caller frees. */
static char *csr_for(EVP_PKEY *k, const char *cn)
{
    X509_REQ *req = X509_REQ_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    char san[96];
    BIO *b = BIO_new(BIO_s_mem());
    char *pem, *data;
    long n;

    snprintf(san, sizeof(san), "DNS:%s", cn);
    assert_true(X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_UTF8,
                                           (const unsigned char *)cn, -1, -1, 0));
    sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san));
    assert_true(X509_REQ_add_extensions(req, exts));
    assert_true(X509_REQ_set_pubkey(req, k));
    assert_true(X509_REQ_sign(req, k, EVP_sha256()) > 0);
    assert_true(PEM_write_bio_X509_REQ(b, req));
    n = BIO_get_mem_data(b, &data);
    pem = strndup(data, (size_t)n);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    BIO_free(b);
    return pem;
}

/*
 * keyCompromise blocks the key whatever its encoding: a certificate issued for a compressed
 * point, revoked for keyCompromise, refuses the same CSR and a CSR with the point uncompressed.
 */
static void test_compressed_key_revoked(void **state)
{
    struct ca_ctx *ctx = *state;
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    struct ca_issued *r = NULL;
    char detail[SIGNET_DETAIL_MAX] = "", *compressed, *plain;
    struct ca_revoke_request rr = {0};

    assert_non_null(k);
    plain = csr_for(k, "z.example.test");
    assert_true(EVP_PKEY_set_utf8_string_param(k, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                               "compressed"));
    compressed = csr_for(k, "z.example.test");
    assert_int_equal(issue(ctx, "tls-server", compressed, &r, detail), SIGNET_OK);
    {
        X509 *x = cert_of(r); /* certified as it came: 33 bytes, not 65 */
        ASN1_BIT_STRING *bits = X509_get0_pubkey_bitstr(x);
        assert_int_equal(ASN1_STRING_length(bits), 33);
        X509_free(x);
    }
    rr.ca = "issuing-1";
    rr.serial_hex = r->serial;
    rr.reason = CRL_REASON_KEY_COMPROMISE;
    rr.requester = "unit";
    assert_int_equal(ca_revoke(ctx, &rr, NULL, detail), SIGNET_OK);
    ca_issued_free(r);
    refused(ctx, "tls-server", compressed, SIGNET_E_BADKEY, "block");
    refused(ctx, "tls-server", plain, SIGNET_E_BADKEY, "block");
    free(compressed);
    free(plain);
    EVP_PKEY_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serials),
        cmocka_unit_test_setup_teardown(test_issued_serial, setup, pkifix_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_extension_section_only, setup, pkifix_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_validity_clamped, setup, pkifix_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_records, setup, pkifix_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_health_and_registry, setup, pkifix_ctx_teardown),
        cmocka_unit_test(test_open_online),
        cmocka_unit_test_setup_teardown(test_manual_approval_queued, setup, pkifix_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_issuer_path_len, setup, pkifix_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_blocked_key_refused, setup, pkifix_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_compressed_key_revoked, setup, pkifix_ctx_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
