/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ceremony's to-be-signed certificate: built deterministically from the ceremony file, the
 * CA and a serial (so a real run can rebuild the dry run's plan and compare the bytes), linted
 * under a throwaway signature, and signed on the token byte for byte.
 */
#include "ceremony_internal.h"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cer_sha256_hex(const void *data, size_t len, char *out)
{
    unsigned char md[32];
    unsigned int n = 0;

    if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1)
        memset(md, 0, sizeof(md));
    sg_hex_encode(md, sizeof(md), out);
}

static int64_t not_before(const struct cer_tbs_in *in);

/* The file's validity inside the CA's own. */
static enum signet_err check_validity(const struct cer_tbs_in *in, char *detail)
{
    struct tm tm;
    int64_t inb = 0, ina = 0;

    if (in->not_before >= in->not_after) {
        sg_detail(detail, "not_before must be before not_after");
        return SIGNET_E_USAGE;
    }
    if (ASN1_TIME_to_tm(X509_get0_notBefore(in->ca->cert), &tm))
        inb = (int64_t)timegm(&tm);
    if (ASN1_TIME_to_tm(X509_get0_notAfter(in->ca->cert), &tm))
        ina = (int64_t)timegm(&tm);
    if (not_before(in) < inb || in->not_after > ina) {
        sg_detail(detail,
                  "the validity in the ceremony file is not inside CA %s's own (RFC 5280 6.1.3: "
                  "nothing verifies beyond the issuer's notAfter); shorten not_after",
                  in->ca->name);
        return SIGNET_E_POLICY;
    }
    return SIGNET_OK;
}

/* RFC 5280 4.2.1.3 and 4.2.1.9: a CA certificate, with keyCertSign. */
static enum signet_err check_ca_ext(X509 *x, const char *profile, char *detail)
{
    uint32_t flags = X509_get_extension_flags(x);

    if (!(flags & EXFLAG_CA)) {
        sg_detail(detail,
                  "profile %s does not make a CA certificate (basicConstraints CA:TRUE "
                  "missing); use a CA profile such as subordinate-ca",
                  profile);
        return SIGNET_E_POLICY;
    }
    if (!(flags & EXFLAG_KUSAGE) || !(X509_get_key_usage(x) & KU_KEY_CERT_SIGN)) {
        sg_detail(detail,
                  "RFC 5280 4.2.1.3: profile %s would issue a CA certificate without "
                  "keyCertSign; add keyCertSign to its keyUsage",
                  profile);
        return SIGNET_E_POLICY;
    }
    return SIGNET_OK;
}

/* Lints the throwaway-signed certificate. */
static enum signet_err lint(X509 *x, X509 *issuer, const char *profile, char *detail)
{
    struct ca_lint_result *res = malloc(sizeof(*res));
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der);
    size_t n;
    enum signet_err rc = SIGNET_E_LINT;

    if (res == NULL || len <= 0) {
        sg_detail(detail, "the certificate does not encode");
        goto out;
    }
    if ((n = ca_lint_cert(der, (size_t)len, issuer, res)) == 0) {
        rc = SIGNET_OK;
        goto out;
    }
    for (size_t i = 0; i < res->n; i++)
        sg_log(SG_LOG_ERR, "lint: profile %s: %s: %s", profile, res->f[i].lint, res->f[i].msg);
    sg_detail(detail, "profile %s: lint %s: %s%s; nothing signed (docs/lints.md)", profile,
              res->f[0].lint, res->f[0].msg, n > 1 ? " (and more findings in the log)" : "");
out:
    OPENSSL_free(der);
    free(res);
    return rc;
}

/*
 * The notBefore issued: the file's, but never later than the plan was made, so that the
 * certificate is valid when it is signed and imported (a CA certificate dated in the future
 * cannot be used, and would fail every path validation until then).
 */
static int64_t not_before(const struct cer_tbs_in *in)
{
    return in->not_before < in->planned ? in->not_before : in->planned;
}

/* Sets the fixed fields: serial, names, key, validity. 1 = ok. */
static int set_fields(X509 *x, const struct cer_tbs_in *in)
{
    BIGNUM *bn = BN_bin2bn(in->serial, CEREMONY_SERIAL_LEN, NULL);
    ASN1_INTEGER *ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    int ok = ai != NULL && X509_set_serialNumber(x, ai) && X509_set_version(x, X509_VERSION_3) &&
             X509_set_subject_name(x, in->subject) &&
             X509_set_issuer_name(x, X509_get_subject_name(in->ca->cert)) &&
             (in->csr != NULL ? policy_csr_copy_spki(in->csr, x) : X509_set_pubkey(x, in->pub)) &&
             ASN1_TIME_set(X509_getm_notBefore(x), (time_t)not_before(in)) &&
             ASN1_TIME_set(X509_getm_notAfter(x), (time_t)in->not_after);

    ASN1_INTEGER_free(ai);
    BN_free(bn);
    return ok;
}

enum signet_err cer_build_tbs(struct ca_ctx *ctx, const struct cer_tbs_in *in,
                              unsigned char **out_tbs, size_t *out_len, char *detail)
{
    EVP_PKEY *issuer_pub = X509_get0_pubkey(in->ca->cert), *tk;
    const char *pname = policy_profile_name(in->prof);
    X509 *x = X509_new();
    unsigned char *tbs = NULL;
    int len;
    enum signet_err rc;

    *out_tbs = NULL;
    if ((rc = check_validity(in, detail)) != SIGNET_OK ||
        (rc = policy_check_key(in->prof, in->pub, detail)) != SIGNET_OK)
        goto out;
    rc = SIGNET_E_CRYPTO;
    if (x == NULL || !set_fields(x, in) || !policy_add_extensions(in->prof, x) ||
        !ca_add_ski_aki(x, in->ca->cert) || !ca_add_urls(x, in->ca)) {
        sg_detail(detail, "cannot build the certificate");
        sg_detail_openssl(detail);
        goto out;
    }
    if ((tk = ca_throwaway_key(ctx, issuer_pub)) == NULL ||
        X509_sign(x, tk, ca_sign_md(issuer_pub)) <= 0) {
        sg_detail(detail, "cannot sign with a throwaway key");
        sg_detail_openssl(detail);
        goto out;
    }
    if ((rc = check_ca_ext(x, pname, detail)) != SIGNET_OK ||
        (rc = lint(x, in->ca->cert, pname, detail)) != SIGNET_OK)
        goto out;
    rc = SIGNET_E_CRYPTO;
    if ((len = i2d_re_X509_tbs(x, &tbs)) <= 0)
        goto out;
    *out_tbs = tbs;
    *out_len = (size_t)len;
    rc = SIGNET_OK;
out:
    ERR_clear_error();
    X509_free(x);
    return rc;
}

/*
 * The signature AlgorithmIdentifier inside a TBS (its third element, after the optional [0]
 * version and the serial), as a pointer into tbs. 1 = ok.
 */
static int tbs_sigalg(const unsigned char *tbs, size_t len, const unsigned char **alg,
                      size_t *alg_len)
{
    const unsigned char *p = tbs, *start;
    long n;
    int tag, cls;

    if (ASN1_get_object(&p, &n, &tag, &cls, (long)len) & 0x80 || tag != V_ASN1_SEQUENCE)
        return 0;
    if (ASN1_get_object(&p, &n, &tag, &cls, (long)(tbs + len - p)) & 0x80)
        return 0;
    if (cls == V_ASN1_CONTEXT_SPECIFIC) { /* [0] version: the serial follows */
        p += n;
        if (ASN1_get_object(&p, &n, &tag, &cls, (long)(tbs + len - p)) & 0x80)
            return 0;
    }
    p += n; /* the serial */
    start = p;
    if (ASN1_get_object(&p, &n, &tag, &cls, (long)(tbs + len - p)) & 0x80 || tag != V_ASN1_SEQUENCE)
        return 0;
    *alg = start;
    *alg_len = (size_t)(p - start) + (size_t)n;
    return 1;
}

/* SEQUENCE { tbs, alg, BIT STRING sig }. Caller frees *out. 1 = ok. */
static int assemble(const unsigned char *tbs, size_t tlen, const unsigned char *alg, size_t alen,
                    const unsigned char *sig, size_t slen, unsigned char **out, size_t *out_len)
{
    int bits_len = ASN1_object_size(0, (int)slen + 1, V_ASN1_BIT_STRING);
    int body = (int)(tlen + alen) + bits_len;
    int total = ASN1_object_size(1, body, V_ASN1_SEQUENCE);
    unsigned char *buf = OPENSSL_malloc((size_t)total), *p = buf;

    if (buf == NULL || bits_len <= 0 || total <= 0) {
        OPENSSL_free(buf);
        return 0;
    }
    ASN1_put_object(&p, 1, body, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
    memcpy(p, tbs, tlen);
    p += tlen;
    memcpy(p, alg, alen);
    p += alen;
    ASN1_put_object(&p, 0, (int)slen + 1, V_ASN1_BIT_STRING, V_ASN1_UNIVERSAL);
    *p++ = 0;
    memcpy(p, sig, slen);
    *out = buf;
    *out_len = (size_t)total;
    return 1;
}

/* One signature over msg with key (md NULL for Ed25519). Caller frees *out. 1 = ok. */
static int sign_bytes(EVP_PKEY *key, const EVP_MD *md, const unsigned char *msg, size_t len,
                      unsigned char **out, size_t *out_len)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    size_t n = 0;
    int ok = m != NULL && EVP_DigestSignInit(m, NULL, md, NULL, key) == 1 &&
             EVP_DigestSign(m, NULL, &n, msg, len) == 1 && (*out = OPENSSL_malloc(n)) != NULL &&
             EVP_DigestSign(m, *out, &n, msg, len) == 1;

    if (ok)
        *out_len = n;
    EVP_MD_CTX_free(m);
    return ok;
}

enum signet_err cer_sign_tbs(const unsigned char *tbs, size_t len, EVP_PKEY *key, X509 *issuer,
                             unsigned char **out_der, size_t *out_len, char *detail)
{
    EVP_PKEY *pub = X509_get0_pubkey(issuer);
    const unsigned char *alg = NULL, *p;
    unsigned char *sig = NULL, *der = NULL, *re = NULL;
    size_t alen = 0, slen = 0, dlen = 0;
    X509 *x = NULL;
    int relen;
    enum signet_err rc = SIGNET_E_INVALID;

    *out_der = NULL;
    if (!tbs_sigalg(tbs, len, &alg, &alen)) {
        sg_detail(detail, "the plan's TBS does not parse");
        goto out;
    }
    rc = SIGNET_E_HSM;
    if (!sign_bytes(key, ca_sign_md(pub), tbs, len, &sig, &slen)) {
        sg_detail(detail, "the token did not sign");
        sg_detail_openssl(detail);
        goto out;
    }
    rc = SIGNET_E_CRYPTO;
    if (!assemble(tbs, len, alg, alen, sig, slen, &der, &dlen))
        goto out;
    p = der;
    if ((x = d2i_X509(NULL, &p, (long)dlen)) == NULL || p != der + dlen ||
        (relen = i2d_re_X509_tbs(x, &re)) != (int)len || memcmp(re, tbs, len) != 0) {
        sg_detail(detail, "the signed certificate does not parse back to the same TBS");
        goto out;
    }
    if (X509_verify(x, pub) != 1) {
        sg_detail(detail, "the signature does not verify with the CA's public key; not written");
        rc = SIGNET_E_HSM;
        goto out;
    }
    *out_der = der;
    *out_len = dlen;
    der = NULL;
    rc = SIGNET_OK;
out:
    ERR_clear_error();
    X509_free(x);
    OPENSSL_free(re);
    OPENSSL_free(sig);
    OPENSSL_free(der);
    return rc;
}
