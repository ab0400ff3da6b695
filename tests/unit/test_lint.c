/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ca lint: one deliberately broken certificate per lint (software keys, built with OpenSSL or
 * patched DER), each firing exactly that lint; the demo pipeline's certificates passing every
 * lint; and an issuance that lint refuses through ca_issue, storing nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../ca/internal.h"
#include "pkifix.h"

#define DAY 86400L

static EVP_PKEY *ca_key, *leaf_key, *rsa_key;
static X509 *ca_cert;
static struct pkifix pki;

/* Adds an extension from OpenSSL's x509v3_config syntax. */
static void add_ext(X509 *x, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, nid, value);

    assert_non_null(e);
    assert_true(X509_add_ext(x, e, -1));
    X509_EXTENSION_free(e);
}

/* Adds an extension with a raw DER value. */
static void add_raw_ext(X509 *x, const char *oid, int crit, const unsigned char *v, int len)
{
    ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
    ASN1_OCTET_STRING *s = ASN1_OCTET_STRING_new();
    X509_EXTENSION *e;

    assert_true(ASN1_OCTET_STRING_set(s, v, len));
    e = X509_EXTENSION_create_by_OBJ(NULL, o, crit, s);
    assert_non_null(e);
    assert_true(X509_add_ext(x, e, -1));
    X509_EXTENSION_free(e);
    ASN1_OCTET_STRING_free(s);
    ASN1_OBJECT_free(o);
}

static void del_ext(X509 *x, int nid)
{
    int i;

    while ((i = X509_get_ext_by_NID(x, nid, -1)) >= 0)
        X509_EXTENSION_free(X509_delete_ext(x, i));
}

static X509_NAME *name_of(const char *field, const char *value, int type)
{
    X509_NAME *n = X509_NAME_new();

    if (field)
        assert_true(
            X509_NAME_add_entry_by_txt(n, field, type, (const unsigned char *)value, -1, -1, 0));
    return n;
}

/* A GENERAL_NAME of type with the given bytes. */
static GENERAL_NAME *gn(int type, const void *data, int len)
{
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_STRING *s = type == GEN_IPADD ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();

    assert_true(ASN1_STRING_set(s, data, len < 0 ? (int)strlen(data) : len));
    GENERAL_NAME_set0_value(g, type, s);
    return g;
}

/* Replaces the SAN with the given names (a NULL-terminated list of GENERAL_NAME *). */
static void set_san(X509 *x, int crit, ...)
{
    GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
    GENERAL_NAME *g;
    va_list ap;

    va_start(ap, crit);
    while ((g = va_arg(ap, GENERAL_NAME *)) != NULL)
        sk_GENERAL_NAME_push(names, g);
    va_end(ap);
    del_ext(x, NID_subject_alt_name);
    assert_true(X509_add1_ext_i2d(x, NID_subject_alt_name, names, crit, X509V3_ADD_DEFAULT));
    GENERAL_NAMES_free(names);
}

static void set_serial_bytes(X509 *x, const unsigned char *b, int len, int neg)
{
    ASN1_INTEGER *ai = ASN1_INTEGER_new();

    assert_true(ASN1_STRING_set(ai, b, len));
    ai->type = neg ? V_ASN1_NEG_INTEGER : V_ASN1_INTEGER;
    assert_true(X509_set_serialNumber(x, ai));
    ASN1_INTEGER_free(ai);
}

/* Sets a validity time from raw text of the given type (UTCTime or GeneralizedTime). */
static void set_time_raw(X509 *x, int after, int type, const char *text)
{
    ASN1_TIME *t = ASN1_STRING_type_new(type);

    assert_true(ASN1_STRING_set(t, text, -1));
    assert_true(after ? X509_set1_notAfter(x, t) : X509_set1_notBefore(x, t));
    ASN1_TIME_free(t);
}

/*
 * A leaf as Signet issues it under tls-server: v3, 16-octet serial, issuer = the CA's subject,
 * CN www.example.test, 90 days, basicConstraints CA:FALSE, keyUsage digitalSignature,
 * EKU serverAuth, SAN, SKI, AKI. Unsigned.
 */
static X509 *leaf_new(void)
{
    X509 *x = X509_new();
    X509_NAME *subj = name_of("CN", "www.example.test", MBSTRING_UTF8);
    unsigned char serial[16];

    assert_true(ca_new_serial(serial));
    set_serial_bytes(x, serial, sizeof(serial), 0);
    assert_true(X509_set_version(x, X509_VERSION_3));
    assert_true(X509_set_issuer_name(x, X509_get_subject_name(ca_cert)));
    assert_true(X509_set_subject_name(x, subj));
    assert_true(X509_set_pubkey(x, leaf_key));
    assert_non_null(X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, NULL));
    assert_non_null(X509_time_adj_ex(X509_getm_notAfter(x), 90, 0, NULL));
    add_ext(x, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(x, NID_key_usage, "critical,digitalSignature");
    add_ext(x, NID_ext_key_usage, "serverAuth");
    set_san(x, 0, gn(GEN_DNS, "www.example.test", -1), NULL);
    assert_true(ca_add_ski_aki(x, ca_cert));
    X509_NAME_free(subj);
    return x;
}

/* Signs (with key, default the CA's) and encodes; frees x. Caller frees *der. */
static size_t finish(X509 *x, EVP_PKEY *key, unsigned char **der)
{
    int len;

    key = key ? key : ca_key;
    assert_true(X509_sign(x, key, ca_sign_md(key)) > 0);
    *der = NULL;
    len = i2d_X509(x, der);
    assert_true(len > 0);
    X509_free(x);
    return (size_t)len;
}

static void show(const struct ca_lint_result *r)
{
    for (size_t i = 0; i < r->n; i++)
        print_message("  finding %s: %s\n", r->f[i].lint, r->f[i].msg);
}

/*
 * Lints der against the CA: lint must fire, with a message citing a standard; every other
 * finding must come from the NULL-terminated list of lints that necessarily follow from the
 * same fault (usually none). Frees der.
 */
static void expect(unsigned char *der, size_t len, const char *lint, ...)
{
    struct ca_lint_result *r = calloc(1, sizeof(*r));
    int fired = 0;

    assert_non_null(r);
    assert_true(ca_lint_cert(der, len, ca_cert, r) > 0);
    for (size_t i = 0; i < r->n; i++) {
        int ok = strcmp(r->f[i].lint, lint) == 0;
        const char *also;
        va_list ap;
        if (ok) {
            fired = 1;
            if (strncmp(r->f[i].msg, "RFC ", 4) != 0 && strncmp(r->f[i].msg, "CA/B", 4) != 0 &&
                strncmp(r->f[i].msg, "Signet", 6) != 0) {
                show(r);
                fail_msg("%s: message cites no standard", lint);
            }
        }
        va_start(ap, lint);
        while (!ok && (also = va_arg(ap, const char *)) != NULL)
            ok = strcmp(r->f[i].lint, also) == 0;
        va_end(ap);
        if (!ok) {
            show(r);
            fail_msg("expected only %s, got %s", lint, r->f[i].lint);
        }
    }
    if (!fired) {
        show(r);
        fail_msg("%s did not fire", lint);
    }
    free(r);
    OPENSSL_free(der);
}

/* ---- DER surgery for faults OpenSSL will not encode ---- */

/* Reads a TLV header at p: returns the header length, with *vlen. 0 on error. */
static size_t hdr(const unsigned char *p, size_t avail, size_t *vlen)
{
    size_t n, len = 0;

    *vlen = 0;
    if (avail < 2)
        return 0;
    if (p[1] < 0x80) {
        *vlen = p[1];
        return 2;
    }
    n = p[1] & 0x7f;
    for (size_t i = 0; i < n && 2 + i < avail; i++)
        len = len << 8 | p[2 + i];
    *vlen = len;
    return 2 + n;
}

/* Appends a tag and a minimal DER length. */
static size_t put_hdr(unsigned char *out, unsigned char tag, size_t len)
{
    size_t n = 0;

    out[n++] = tag;
    if (len < 0x80) {
        out[n++] = (unsigned char)len;
    } else if (len < 0x100) {
        out[n++] = 0x81;
        out[n++] = (unsigned char)len;
    } else {
        out[n++] = 0x82;
        out[n++] = (unsigned char)(len >> 8);
        out[n++] = (unsigned char)len;
    }
    return n;
}

/*
 * Rewrites the TLVs of [p, p + len) into out, replacing the TLV that starts at target (an
 * address inside them) with rep and fixing the lengths of every TLV enclosing it.
 */
static size_t rebuild(const unsigned char *p, size_t len, const unsigned char *target,
                      const unsigned char *rep, size_t rep_len, unsigned char *out)
{
    size_t o = 0;

    for (const unsigned char *q = p; q < p + len;) {
        size_t vlen, h = hdr(q, (size_t)(p + len - q), &vlen);
        assert_true(h > 0);
        if (q == target) {
            memcpy(out + o, rep, rep_len);
            o += rep_len;
        } else if (target > q && target < q + h + vlen) {
            unsigned char *inner = malloc(vlen + rep_len + 16);
            size_t n = rebuild(q + h, vlen, target, rep, rep_len, inner);
            o += put_hdr(out + o, q[0], n);
            memcpy(out + o, inner, n);
            o += n;
            free(inner);
        } else {
            memcpy(out + o, q, h + vlen);
            o += h + vlen;
        }
        q += h + vlen;
    }
    return o;
}

/* Replaces the i-th field of the TBSCertificate (0 = [0] version) of *der with rep. */
static size_t replace_tbs_field(unsigned char **der, size_t len, int i, const unsigned char *rep,
                                size_t rep_len)
{
    size_t vlen, h = hdr(*der, len, &vlen), h2 = hdr(*der + h, len - h, &vlen);
    const unsigned char *q = *der + h + h2;
    unsigned char *out = OPENSSL_malloc(len + rep_len + 16);
    size_t n;

    for (; i > 0; i--) {
        size_t h3 = hdr(q, len, &vlen);
        q += h3 + vlen;
    }
    n = rebuild(*der, len, q, rep, rep_len, out);
    OPENSSL_free(*der);
    *der = out;
    return n;
}

/* ---- fixtures ---- */

static int group_setup(void **state)
{
    X509_NAME *n = X509_NAME_new();

    (void)state;
    ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    leaf_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    ca_cert = X509_new();
    if (!ca_key || !leaf_key || !rsa_key || !ca_cert)
        return -1;
    /* UTF8String on purpose: issuer_dn_match tells it from a PrintableString copy */
    X509_NAME_add_entry_by_txt(n, "O", V_ASN1_UTF8STRING, (const unsigned char *)"Signet", -1, -1,
                               0);
    X509_NAME_add_entry_by_txt(n, "CN", V_ASN1_UTF8STRING, (const unsigned char *)"Lint CA", -1, -1,
                               0);
    X509_set_version(ca_cert, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(ca_cert), 0x1234567890abcdL);
    X509_set_subject_name(ca_cert, n);
    X509_set_issuer_name(ca_cert, n);
    X509_set_pubkey(ca_cert, ca_key);
    X509_time_adj_ex(X509_getm_notBefore(ca_cert), -1, 0, NULL);
    X509_time_adj_ex(X509_getm_notAfter(ca_cert), 3650, 0, NULL);
    X509_add1_ext_i2d(ca_cert, NID_basic_constraints, &(BASIC_CONSTRAINTS){1, NULL}, 1, 0);
    {
        X509_EXTENSION *e =
            X509V3_EXT_conf_nid(NULL, NULL, NID_key_usage, "critical,keyCertSign,cRLSign");
        X509_add_ext(ca_cert, e, -1);
        X509_EXTENSION_free(e);
    }
    X509_NAME_free(n);
    if (!ca_add_ski_aki(ca_cert, NULL) || X509_sign(ca_cert, ca_key, EVP_sha256()) <= 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    X509_free(ca_cert);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(leaf_key);
    EVP_PKEY_free(rsa_key);
    return 0;
}

/* ---- the good certificate, and the registry ---- */

static void test_good_leaf_clean(void **state)
{
    struct ca_lint_result r;
    unsigned char *der;
    size_t len = finish(leaf_new(), NULL, &der);

    (void)state;
    if (ca_lint_cert(der, len, ca_cert, &r) != 0) {
        show(&r);
        fail_msg("a good leaf has findings");
    }
    OPENSSL_free(der);
}

static void test_registry(void **state)
{
    (void)state;
    assert_true(ca_lint_count() >= 30);
    for (size_t i = 0; i < ca_lint_count(); i++) {
        const struct ca_lint_info *a = ca_lint_at(i);
        assert_non_null(a->name);
        assert_true(a->source[0] && a->what[0]);
        for (size_t j = i + 1; j < ca_lint_count(); j++)
            assert_string_not_equal(a->name, ca_lint_at(j)->name);
    }
    assert_null(ca_lint_at(ca_lint_count()));
}

/* ---- one broken certificate per lint ---- */

static void test_cert_structure(void **state)
{
    static const unsigned char seq[] = {0x30, 0x03, 0x02, 0x01, 0x05};
    unsigned char *der = OPENSSL_memdup(seq, sizeof(seq));

    (void)state;
    expect(der, sizeof(seq), "cert_structure", NULL);
}

/* A critical flag encoded 01 instead of FF: BER, not DER (OpenSSL itself would accept it). */
static void test_der_strict(void **state)
{
    static const unsigned char bc[] = {0x06, 0x03, 0x55, 0x1d, 0x13, 0x01, 0x01, 0xff};
    unsigned char *der, *p;
    size_t len = finish(leaf_new(), NULL, &der);

    (void)state;
    p = memmem(der, len, bc, sizeof(bc));
    assert_non_null(p);
    p[sizeof(bc) - 1] = 0x01;
    expect(der, len, "der_strict", NULL);
}

static void test_version_v3(void **state)
{
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    assert_true(X509_set_version(x, X509_VERSION_2));
    expect(der, finish(x, NULL, &der), "version_v3", NULL);
}

static void test_sig_alg_match(void **state)
{
    X509 *x = leaf_new();
    const X509_ALGOR *alg;
    unsigned char *der;
    int len;

    (void)state;
    assert_true(X509_sign(x, ca_key, EVP_sha256()) > 0);
    X509_get0_signature(NULL, &alg, x);
    assert_true(
        X509_ALGOR_set0((X509_ALGOR *)alg, OBJ_nid2obj(NID_ecdsa_with_SHA384), V_ASN1_UNDEF, NULL));
    der = NULL;
    len = i2d_X509(x, &der);
    X509_free(x);
    expect(der, (size_t)len, "sig_alg_match", NULL);
}

/* Signed with an RSA key under an EC issuer. */
static void test_sig_alg_issuer_key(void **state)
{
    unsigned char *der;

    (void)state;
    expect(der, finish(leaf_new(), rsa_key, &der), "sig_alg_issuer_key", NULL);
}

/* An empty [3] { SEQUENCE {} } (OpenSSL omits an empty list; the DER is patched). */
static void test_extensions_empty(void **state)
{
    static const unsigned char empty[] = {0xa3, 0x02, 0x30, 0x00};
    unsigned char *der;
    size_t len = finish(leaf_new(), NULL, &der);

    (void)state;
    len = replace_tbs_field(&der, len, 7, empty, sizeof(empty));
    /* AKI and SKI cannot be there either, so those two follow */
    expect(der, len, "extensions_empty", "aki_issuer_ski", "ski_present", NULL);
}

/* Subject SEQUENCE { SET {}, SET { CN=www.example.test } } (OpenSSL refuses it; patched). */
static void test_rdn_empty(void **state)
{
    static const unsigned char name[] = {0x30, 0x1d, 0x31, 0x00, 0x31, 0x19, 0x30, 0x17,
                                         0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x10, 'w',
                                         'w',  'w',  '.',  'e',  'x',  'a',  'm',  'p',
                                         'l',  'e',  '.',  't',  'e',  's',  't'};
    unsigned char *der;
    size_t len = finish(leaf_new(), NULL, &der);

    (void)state;
    len = replace_tbs_field(&der, len, 5, name, sizeof(name));
    expect(der, len, "rdn_empty", NULL);
}

static void test_serial_positive(void **state)
{
    static const unsigned char s[16] = {0x12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    set_serial_bytes(x, s, sizeof(s), 1);
    expect(der, finish(x, NULL, &der), "serial_positive", NULL);
}

static void test_serial_length(void **state)
{
    unsigned char s[21];
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    memset(s, 0x5a, sizeof(s));
    set_serial_bytes(x, s, sizeof(s), 0);
    expect(der, finish(x, NULL, &der), "serial_length", NULL);
}

/* A leading 00 the next octet does not need (OpenSSL's parser would refuse it). */
static void test_serial_minimal(void **state)
{
    static const unsigned char s[17] = {0, 0x12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    set_serial_bytes(x, s, sizeof(s), 0);
    expect(der, finish(x, NULL, &der), "serial_minimal", NULL);
}

static void test_serial_entropy(void **state)
{
    static const unsigned char s[4] = {1, 2, 3, 4};
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    set_serial_bytes(x, s, sizeof(s), 0);
    expect(der, finish(x, NULL, &der), "serial_entropy", NULL);
}

/* No seconds in notAfter. */
static void test_validity_format(void **state)
{
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    set_time_raw(x, 1, V_ASN1_UTCTIME, "3001010000Z");
    expect(der, finish(x, NULL, &der), "validity_format", NULL);
}

/* A 2030 date as GeneralizedTime. */
static void test_validity_encoding(void **state)
{
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    set_time_raw(x, 1, V_ASN1_GENERALIZEDTIME, "20300101000000Z");
    expect(der, finish(x, NULL, &der), "validity_encoding", NULL);
}

static void test_validity_order(void **state)
{
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    X509_time_adj_ex(X509_getm_notBefore(x), 2, 0, NULL);
    X509_time_adj_ex(X509_getm_notAfter(x), 1, 0, NULL);
    expect(der, finish(x, NULL, &der), "validity_order", NULL);
}

/* Twenty years under a ten-year issuer. */
static void test_validity_in_issuer(void **state)
{
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    X509_time_adj_ex(X509_getm_notAfter(x), 20 * 365, 0, NULL);
    expect(der, finish(x, NULL, &der), "validity_in_issuer", NULL);
}

/* The issuer's DN with PrintableString instead of its UTF8String: equal names, other bytes. */
static void test_issuer_dn_match(void **state)
{
    X509_NAME *n = X509_NAME_new();
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    X509_NAME_add_entry_by_txt(n, "O", V_ASN1_PRINTABLESTRING, (const unsigned char *)"Signet", -1,
                               -1, 0);
    X509_NAME_add_entry_by_txt(n, "CN", V_ASN1_PRINTABLESTRING, (const unsigned char *)"Lint CA",
                               -1, -1, 0);
    assert_int_equal(X509_NAME_cmp(n, X509_get_subject_name(ca_cert)), 0);
    assert_true(X509_set_issuer_name(x, n));
    X509_NAME_free(n);
    expect(der, finish(x, NULL, &der), "issuer_dn_match", NULL);
}

static void test_aki_issuer_ski(void **state)
{
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    {
        AUTHORITY_KEYID *aki = AUTHORITY_KEYID_new();
        unsigned char other[20];

        memset(other, 0x11, sizeof(other));
        aki->keyid = ASN1_OCTET_STRING_new();
        assert_true(ASN1_OCTET_STRING_set(aki->keyid, other, sizeof(other)));
        assert_true(X509_add1_ext_i2d(x, NID_authority_key_identifier, aki, 0, X509V3_ADD_REPLACE));
        AUTHORITY_KEYID_free(aki);
    }
    expect(der, finish(x, NULL, &der), "aki_issuer_ski", NULL);
}

static void test_ski_present(void **state)
{
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    del_ext(x, NID_subject_key_identifier);
    expect(der, finish(x, NULL, &der), "ski_present", NULL);
}

/* basicConstraints whose value is an INTEGER. */
static void test_ext_decodes(void **state)
{
    static const unsigned char v[] = {0x02, 0x01, 0x05};
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    del_ext(x, NID_basic_constraints);
    add_raw_ext(x, "2.5.29.19", 1, v, sizeof(v));
    expect(der, finish(x, NULL, &der), "ext_decodes", NULL);
}

static void test_ext_duplicate(void **state)
{
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    add_ext(x, NID_ext_key_usage, "serverAuth");
    expect(der, finish(x, NULL, &der), "ext_duplicate", NULL);
}

static void test_ext_unknown_critical(void **state)
{
    static const unsigned char v[] = {0x05, 0x00};
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    add_raw_ext(x, "1.3.6.1.4.1.55555.1", 1, v, sizeof(v));
    expect(der, finish(x, NULL, &der), "ext_unknown_critical", NULL);
}

/* keyUsage not critical, and a critical CRL distribution point. */
static void test_ext_criticality(void **state)
{
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    del_ext(x, NID_key_usage);
    add_ext(x, NID_key_usage, "digitalSignature");
    add_ext(x, NID_crl_distribution_points, "critical,URI:http://crl.example.test/1.crl");
    expect(der, finish(x, NULL, &der), "ext_criticality", NULL);
}

static void set_bc_ku(X509 *x, const char *bc, const char *ku)
{
    del_ext(x, NID_basic_constraints);
    del_ext(x, NID_key_usage);
    if (bc)
        add_ext(x, NID_basic_constraints, bc);
    if (ku)
        add_ext(x, NID_key_usage, ku);
}

static void test_ku_cert_sign_ca(void **state)
{
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    set_bc_ku(x, "critical,CA:FALSE", "critical,digitalSignature,keyCertSign");
    expect(der, finish(x, NULL, &der), "ku_cert_sign_ca", NULL);
}

static void test_ca_cert_sign(void **state)
{
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    set_bc_ku(x, "critical,CA:TRUE", "critical,digitalSignature");
    expect(der, finish(x, NULL, &der), "ca_cert_sign", NULL);
}

static void test_ca_bc_critical(void **state)
{
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    set_bc_ku(x, "CA:TRUE", "critical,digitalSignature,keyCertSign");
    expect(der, finish(x, NULL, &der), "ca_bc_critical", NULL);
}

static void test_pathlen_ca(void **state)
{
    BASIC_CONSTRAINTS bc = {0, ASN1_INTEGER_new()};
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    ASN1_INTEGER_set(bc.pathlen, 0);
    del_ext(x, NID_basic_constraints);
    assert_true(X509_add1_ext_i2d(x, NID_basic_constraints, &bc, 1, X509V3_ADD_DEFAULT));
    ASN1_INTEGER_free(bc.pathlen);
    expect(der, finish(x, NULL, &der), "pathlen_ca", NULL);
}

/* A keyUsage with no bit (and no EKU, which would need one). */
static void test_ku_nonempty(void **state)
{
    ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    del_ext(x, NID_key_usage);
    del_ext(x, NID_ext_key_usage);
    assert_true(X509_add1_ext_i2d(x, NID_key_usage, ku, 1, X509V3_ADD_DEFAULT));
    ASN1_BIT_STRING_free(ku);
    expect(der, finish(x, NULL, &der), "ku_nonempty", NULL);
}

static void test_eku_ku(void **state)
{
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    set_bc_ku(x, "critical,CA:FALSE", "critical,nonRepudiation");
    expect(der, finish(x, NULL, &der), "eku_ku", NULL);
}

/* An empty SAN; the subject then carries no CN that would need one. */
static void test_san_empty(void **state)
{
    X509_NAME *n = name_of("O", "Example", MBSTRING_UTF8);
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    assert_true(X509_set_subject_name(x, n));
    X509_NAME_free(n);
    set_san(x, 0, NULL);
    expect(der, finish(x, NULL, &der), "san_empty", NULL);
}

static void test_san_criticality(void **state)
{
    X509_NAME *n = name_of(NULL, NULL, 0);
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    assert_true(X509_set_subject_name(x, n));
    X509_NAME_free(n);
    expect(der, finish(x, NULL, &der), "san_criticality", NULL);
    x = leaf_new();
    set_san(x, 1, gn(GEN_DNS, "www.example.test", -1), NULL);
    expect(der, finish(x, NULL, &der), "san_criticality", NULL);
}

static void test_san_dns(void **state)
{
    static const char *bad[] = {
        "WWW.example.test",
        "www.example.test.",
        "a..example.test",
        "-a.example.test",
        "a*.example.test",
        "*.*.example.test",
        "under_score.example.test",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.test"};
    unsigned char *der;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        X509 *x = leaf_new();
        set_san(x, 0, gn(GEN_DNS, "www.example.test", -1), gn(GEN_DNS, bad[i], -1), NULL);
        print_message("  %s\n", bad[i]);
        expect(der, finish(x, NULL, &der), "san_dns", NULL);
    }
}

static void test_san_ip(void **state)
{
    static const unsigned char ip[5] = {10, 0, 0, 1, 2};
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    set_san(x, 0, gn(GEN_DNS, "www.example.test", -1), gn(GEN_IPADD, ip, sizeof(ip)), NULL);
    expect(der, finish(x, NULL, &der), "san_ip", NULL);
}

static void test_san_email(void **state)
{
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    set_san(x, 0, gn(GEN_DNS, "www.example.test", -1), gn(GEN_EMAIL, "a@b@example.test", -1), NULL);
    expect(der, finish(x, NULL, &der), "san_email", NULL);
}

static void test_san_uri(void **state)
{
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    set_san(x, 0, gn(GEN_DNS, "www.example.test", -1), gn(GEN_URI, "www.example.test/x", -1), NULL);
    expect(der, finish(x, NULL, &der), "san_uri", NULL);
}

static void test_san_duplicate(void **state)
{
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    set_san(x, 0, gn(GEN_DNS, "www.example.test", -1), gn(GEN_DNS, "www.example.test", -1), NULL);
    expect(der, finish(x, NULL, &der), "san_duplicate", NULL);
}

static void test_cn_in_san(void **state)
{
    X509 *x = leaf_new();
    unsigned char *der;

    (void)state;
    set_san(x, 0, gn(GEN_DNS, "api.example.test", -1), NULL);
    expect(der, finish(x, NULL, &der), "cn_in_san", NULL);
}

/* ---- through the pipeline: a demo PKI in a temporary directory ---- */

/* "lintbad": keyUsage not critical, which the profile loader takes and lint refuses. */
static const char lintbad_profile[] =
    "[profile]\nvalidity = 30d\nkey = ec:P-256\nsubject.CN = required\n"
    "extensions = e\n[e]\nbasicConstraints = critical, CA:FALSE\n"
    "keyUsage = digitalSignature\nextendedKeyUsage = clientAuth\n";

/* Makes the demo PKI plus profile "lintbad" (keyUsage not critical: the loader takes it). */
static int demo_setup(void **state)
{
    char detail[SIGNET_DETAIL_MAX] = "";

    if (!pkifix_demo_make(&pki, "/tmp/signet-lint.XXXXXX") ||
        !pkifix_add_profile(&pki, "lintbad", lintbad_profile) ||
        !pkifix_enable_profiles(&pki, "lintbad") || pkifix_ctx_setup(&pki, state) != 0)
        return -1;
    /* the root is offline: two custodians' shares activate it for the subordinate-ca lints */
    {
        char s1[160], p1[160], s2[160], p2[160];
        struct ca_share_src src[2] = {{s1, p1}, {s2, p2}};
        snprintf(s1, sizeof(s1), "%s/custodians/share-1.share", pki.dir);
        snprintf(p1, sizeof(p1), "%s/custodians/share-1.pass", pki.dir);
        snprintf(s2, sizeof(s2), "%s/custodians/share-2.share", pki.dir);
        snprintf(p2, sizeof(p2), "%s/custodians/share-2.pass", pki.dir);
        if (ca_quorum_activate(*state, "root", src, 2, NULL, 0, detail) != SIGNET_OK) {
            fprintf(stderr, "root activation: %s\n", detail);
            return -1;
        }
    }
    return 0;
}

static int demo_teardown(void **state)
{
    pkifix_ctx_teardown(state);
    return pkifix_demo_remove(&pki) ? 0 : -1;
}

/* Lints der against issuer and fails with the findings when there are any. */
static void assert_clean(const unsigned char *der, size_t len, X509 *issuer, const char *what)
{
    struct ca_lint_result r;

    if (ca_lint_cert(der, len, issuer, &r) != 0) {
        show(&r);
        fail_msg("%s has lint findings", what);
    }
}

/* Issues through ca_issue and lints the result against the issuer's certificate. */
static void issue_clean(struct ca_ctx *ctx, const char *ca, const char *profile, const char *cn,
                        const char *san)
{
    char detail[SIGNET_DETAIL_MAX] = "", *csr = pkifix_csr(cn, san);
    struct ca_issue_request req = {(const unsigned char *)csr, strlen(csr), ca, profile, "unit"};
    struct ca_issued *r = NULL;

    if (ca_issue(ctx, &req, &r, detail) != SIGNET_OK)
        fail_msg("issue %s/%s: %s", ca, profile, detail);
    assert_clean(r->der, r->der_len, ca_ent_find(ctx, ca)->cert, profile);
    ca_issued_free(r);
    free(csr);
}

/* The demo's CA certificates and what its profiles issue pass every lint. */
static void test_demo_clean(void **state)
{
    struct ca_ctx *ctx = *state;
    X509 *root = ca_ent_find(ctx, "root")->cert, *iss = ca_ent_find(ctx, "issuing-1")->cert;
    unsigned char *der = NULL;
    int len;

    len = i2d_X509(iss, &der);
    assert_clean(der, (size_t)len, root, "issuing-1");
    OPENSSL_free(der);
    der = NULL;
    len = i2d_X509(root, &der);
    assert_clean(der, (size_t)len, root, "root");
    OPENSSL_free(der);
    issue_clean(ctx, "issuing-1", "tls-server", "www.example.test",
                "DNS:www.example.test,DNS:api.example.test");
    issue_clean(ctx, "issuing-1", "tls-client", "client-7", NULL);
    issue_clean(ctx, "issuing-1", "ocsp-responder", "OCSP responder", NULL);
    issue_clean(ctx, "root", "subordinate-ca", "Issuing 9", NULL);
}

static int count_cb(const struct store_cert *c, void *arg)
{
    (void)c;
    ++*(size_t *)arg;
    return 1;
}

/* A profile whose keyUsage is not critical reaches lint: refused, nothing stored. */
static void test_issue_refused(void **state)
{
    struct ca_ctx *ctx = *state;
    char detail[SIGNET_DETAIL_MAX] = "", *csr = pkifix_csr("client-8", NULL);
    struct ca_issue_request req = {(const unsigned char *)csr, strlen(csr), "issuing-1", "lintbad",
                                   "unit"};
    struct ca_issued *r = NULL;
    size_t before = 0, after = 0;

    assert_int_equal(ca_cert_iter(ctx, "issuing-1", 0, count_cb, &before, detail), SIGNET_OK);
    assert_int_equal(ca_issue(ctx, &req, &r, detail), SIGNET_E_LINT);
    assert_null(r);
    print_message("  %s\n", detail);
    assert_non_null(strstr(detail, "lint ext_criticality"));
    assert_non_null(strstr(detail, "RFC 5280 4.2.1.3"));
    assert_non_null(strstr(detail, "lintbad"));
    assert_int_equal(ca_cert_iter(ctx, "issuing-1", 0, count_cb, &after, detail), SIGNET_OK);
    assert_int_equal(before, after);
    free(csr);
}

int main(void)
{
    const struct CMUnitTest lint_tests[] = {
        cmocka_unit_test(test_good_leaf_clean),
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_cert_structure),
        cmocka_unit_test(test_der_strict),
        cmocka_unit_test(test_version_v3),
        cmocka_unit_test(test_sig_alg_match),
        cmocka_unit_test(test_sig_alg_issuer_key),
        cmocka_unit_test(test_extensions_empty),
        cmocka_unit_test(test_rdn_empty),
        cmocka_unit_test(test_serial_positive),
        cmocka_unit_test(test_serial_length),
        cmocka_unit_test(test_serial_minimal),
        cmocka_unit_test(test_serial_entropy),
        cmocka_unit_test(test_validity_format),
        cmocka_unit_test(test_validity_encoding),
        cmocka_unit_test(test_validity_order),
        cmocka_unit_test(test_validity_in_issuer),
        cmocka_unit_test(test_issuer_dn_match),
        cmocka_unit_test(test_aki_issuer_ski),
        cmocka_unit_test(test_ski_present),
        cmocka_unit_test(test_ext_decodes),
        cmocka_unit_test(test_ext_duplicate),
        cmocka_unit_test(test_ext_unknown_critical),
        cmocka_unit_test(test_ext_criticality),
        cmocka_unit_test(test_ku_cert_sign_ca),
        cmocka_unit_test(test_ca_cert_sign),
        cmocka_unit_test(test_ca_bc_critical),
        cmocka_unit_test(test_pathlen_ca),
        cmocka_unit_test(test_ku_nonempty),
        cmocka_unit_test(test_eku_ku),
        cmocka_unit_test(test_san_empty),
        cmocka_unit_test(test_san_criticality),
        cmocka_unit_test(test_san_dns),
        cmocka_unit_test(test_san_ip),
        cmocka_unit_test(test_san_email),
        cmocka_unit_test(test_san_uri),
        cmocka_unit_test(test_san_duplicate),
        cmocka_unit_test(test_cn_in_san),
    };
    const struct CMUnitTest demo_tests[] = {
        cmocka_unit_test(test_demo_clean),
        cmocka_unit_test(test_issue_refused),
    };
    int rc = cmocka_run_group_tests_name("lint", lint_tests, group_setup, group_teardown);

    return rc + cmocka_run_group_tests_name("lint_pipeline", demo_tests, demo_setup, demo_teardown);
}
