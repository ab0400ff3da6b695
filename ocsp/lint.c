/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Lints of an OCSP response before its real signature: walked as raw DER, its signed part read
 * back with OpenSSL, checked against what the response was meant to say; and the check of the
 * token-signed response against the linted one.
 */
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define RESPONDER_DAYS_MAX 31 /* a delegated responder certificate lives a few days */

static void finding(struct ocsp_lint_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void finding(struct ocsp_lint_result *res, const char *fmt, ...)
{
    va_list ap;

    if (res->n >= OCSP_LINT_FINDINGS)
        return;
    va_start(ap, fmt);
    vsnprintf(res->msg[res->n++], sizeof(res->msg[0]), fmt, ap);
    va_end(ap);
}

/* The responder certificate's lints, every time. */
static size_t lint_responder(X509 *responder, X509 *issuer, struct ocsp_lint_result *res)
{
    size_t before = res->n;
    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(responder, NID_ext_key_usage, NULL, NULL);
    int days = 0, secs = 0;

    if (eku == NULL || sk_ASN1_OBJECT_num(eku) != 1 ||
        OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)) != NID_OCSP_sign)
        finding(res, "RFC 6960 4.2.2.2: responder EKU must be id-kp-OCSPSigning only");
    sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
    if (X509_get_ext_by_NID(responder, NID_id_pkix_OCSP_noCheck, -1) < 0)
        finding(res, "RFC 6960 4.2.2.2.1: responder certificate lacks id-pkix-ocsp-nocheck");
    if (!(X509_get_extension_flags(responder) & EXFLAG_KUSAGE) ||
        !(X509_get_key_usage(responder) & KU_DIGITAL_SIGNATURE))
        finding(res, "RFC 5280 4.2.1.3: responder key usage lacks digitalSignature");
    if (X509_check_ca(responder) != 0)
        finding(res, "RFC 6960 4.2.2.2: the responder certificate must not be a CA");
    if (issuer == NULL || X509_check_issued(issuer, responder) != X509_V_OK ||
        X509_verify(responder, X509_get0_pubkey(issuer)) != 1)
        finding(res, "RFC 6960 4.2.2.2: responder certificate not issued by the CA");
    if (!ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(responder),
                        X509_get0_notAfter(responder)) ||
        days < 0 || days > RESPONDER_DAYS_MAX || (days == RESPONDER_DAYS_MAX && secs > 0))
        finding(res,
                "RFC 6960 4.2.2.2.1: a nocheck responder certificate must be short-lived "
                "(at most %d days)",
                RESPONDER_DAYS_MAX);
    ERR_clear_error();
    return res->n - before;
}

/*
 * The lints depend on the two certificates alone, so a pair that passed once passes again: it is
 * remembered by content (seen.c) and not linted again. What fails is never remembered.
 */
size_t ocsp_lint_responder(X509 *responder, X509 *issuer, struct ocsp_lint_result *res)
{
    size_t n;

    if (responder != NULL && issuer != NULL && ocsp_seen(responder, issuer, OCSP_SEEN_LINT))
        return 0;
    if ((n = lint_responder(responder, issuer, res)) == 0)
        ocsp_seen_add(responder, issuer, OCSP_SEEN_LINT);
    return n;
}

/* 1 when t is a GeneralizedTime "YYYYMMDDHHMMSSZ" (no fractions, UTC). */
static int gt_ok(const ASN1_GENERALIZEDTIME *t)
{
    return t != NULL && ASN1_STRING_type(t) == V_ASN1_GENERALIZEDTIME &&
           ASN1_STRING_length(t) == 15 && ASN1_STRING_get0_data(t)[14] == 'Z' &&
           ASN1_GENERALIZEDTIME_check(t) == 1;
}

static int64_t secs(const ASN1_TIME *t)
{
    struct tm tm;

    return t != NULL && ASN1_TIME_to_tm(t, &tm) ? (int64_t)timegm(&tm) : 0;
}

/* The raw walk (internal.h): every byte outside tbs, alg, the signature and certs accounted for. */
int ocsp_response_split(const unsigned char *der, size_t len, struct ocsp_parts *out)
{
    const unsigned char *p = der, *c, *e;
    size_t left = len, clen;
    unsigned char tag;

    memset(out, 0, sizeof(*out));
    /* SEQ { ENUM, [0] { SEQ { OID, OCTET { SEQ { tbs, alg, BIT STRING, [0] { SEQ } } } } } } */
    if (!ocsp_der_next(&p, &left, &tag, &c, &clen) || tag != 0x30 || left != 0)
        return 0;
    p = c;
    left = clen;
    if (!ocsp_der_next(&p, &left, &tag, &c, &clen) || tag != 0x0a)
        return 0;
    if (clen != 1 || c[0] != 0)
        return -1;
    if (!ocsp_der_next(&p, &left, &tag, &c, &clen) || tag != 0xa0 || left != 0)
        return 0;
    p = c;
    left = clen;
    if (!ocsp_der_next(&p, &left, &tag, &c, &clen) || tag != 0x30 || left != 0)
        return 0;
    p = c;
    left = clen;
    e = p;
    if (!ocsp_der_next(&p, &left, &tag, &c, &clen) || tag != 0x06)
        return 0;
    if ((size_t)(p - e) != sizeof(ocsp_oid_basic) ||
        memcmp(e, ocsp_oid_basic, sizeof(ocsp_oid_basic)) != 0)
        return -1;
    if (!ocsp_der_next(&p, &left, &tag, &c, &clen) || tag != 0x04 || left != 0 ||
        !ocsp_der_next(&c, &clen, &tag, &p, &left) || tag != 0x30 || clen != 0)
        return 0;
    out->tbs = p;
    if (!ocsp_der_next(&p, &left, &tag, &c, &clen) || tag != 0x30)
        return 0;
    out->tbs_len = (size_t)(p - out->tbs);
    out->alg = p;
    if (!ocsp_der_next(&p, &left, &tag, &c, &clen) || tag != 0x30)
        return 0;
    out->alg_len = (size_t)(p - out->alg);
    if (!ocsp_der_next(&p, &left, &tag, &c, &clen) || tag != 0x03 || clen < 2 || c[0] != 0)
        return 0;
    out->sig = c + 1;
    out->sig_len = clen - 1;
    out->signed_len = (size_t)(p - out->tbs);
    if (left == 0)
        return 1; /* no certs */
    if (!ocsp_der_next(&p, &left, &tag, &c, &clen) || tag != 0xa0 || left != 0 ||
        !ocsp_der_next(&c, &clen, &tag, &out->certs, &out->certs_len) || tag != 0x30 || clen != 0)
        return 0;
    return 1;
}

/*
 * The signature of pt: signatureAlgorithm is the one Signet uses with pub, and the signature
 * verifies over the exact tbsResponseData bytes with pub.
 */
static void lint_sig(const struct ocsp_parts *pt, EVP_PKEY *pub, struct ocsp_lint_result *res)
{
    const unsigned char *alg = NULL;
    size_t alg_len = 0;
    const EVP_MD *md = pub != NULL ? ocsp_sig_alg(pub, &alg, &alg_len) : NULL;
    EVP_MD_CTX *mctx = NULL;

    if (alg == NULL || pt->alg_len != alg_len || memcmp(pt->alg, alg, alg_len) != 0)
        finding(res, "RFC 6960 4.2.1: signatureAlgorithm is not the one of the signing key");
    if (alg == NULL || (mctx = EVP_MD_CTX_new()) == NULL ||
        EVP_DigestVerifyInit(mctx, NULL, md, NULL, pub) != 1 ||
        EVP_DigestVerify(mctx, pt->sig, pt->sig_len, pt->tbs, pt->tbs_len) != 1)
        finding(res, "RFC 6960 4.2.1: the signature does not verify over tbsResponseData");
    EVP_MD_CTX_free(mctx);
    ERR_clear_error();
}

/*
 * OpenSSL's reading of the signed part: the BasicOCSPResponse without its certs field (which is
 * OPTIONAL), so that the responder certificate, checked by its bytes instead, is not parsed
 * again (in OpenSSL 3.0 that builds a decoder for its key, under a global lock). OCSP_RESPDATA
 * alone has no accessors. NULL when OpenSSL refuses it or leaves bytes.
 */
static OCSP_BASICRESP *basic_read(const struct ocsp_parts *pt)
{
    struct ocsp_buf b = {0};
    const unsigned char *p;
    OCSP_BASICRESP *bs = NULL;

    ocsp_buf_tlv(&b, 0x30, pt->tbs, pt->signed_len);
    p = b.p;
    if (!b.err && (bs = d2i_OCSP_BASICRESP(NULL, &p, (long)b.len)) != NULL && p != b.p + b.len) {
        OCSP_BASICRESP_free(bs);
        bs = NULL;
    }
    ocsp_buf_free(&b);
    return bs;
}

/* The SingleResponse: CertID, status, times. */
static void lint_single(OCSP_BASICRESP *bs, const struct ocsp_single *w, int64_t produced,
                        struct ocsp_lint_result *res)
{
    OCSP_SINGLERESP *one = OCSP_resp_count(bs) == 1 ? OCSP_resp_get0(bs, 0) : NULL;
    const OCSP_CERTID *cid = one ? OCSP_SINGLERESP_get0_id(one) : NULL;
    ASN1_OCTET_STRING *nh = NULL, *kh = NULL;
    ASN1_OBJECT *mdo = NULL;
    ASN1_INTEGER *sn = NULL;
    ASN1_GENERALIZEDTIME *rt = NULL, *tu = NULL, *nu = NULL;
    unsigned char wn[OCSP_HASH_MAX], wk[OCSP_HASH_MAX];
    size_t hl = w->hash == STORE_OCSP_SHA256 ? 32 : 20;
    BIGNUM *a = NULL, *b = NULL;
    int reason = -2, st, want_nid = w->hash == STORE_OCSP_SHA256 ? NID_sha256 : NID_sha1;

    if (one == NULL || cid == NULL) {
        finding(res, "RFC 5019 2.2.1: exactly one SingleResponse expected");
        return;
    }
    if (!OCSP_id_get0_info(&nh, &mdo, &kh, &sn, (OCSP_CERTID *)cid) || OBJ_obj2nid(mdo) != want_nid)
        finding(res, "RFC 6960 4.1.1: CertID hash must be SHA-1 or SHA-256 as requested");
    else if (!ocsp_issuer_hashes(w->issuer, w->hash, wn, wk) ||
             (size_t)ASN1_STRING_length(nh) != hl || (size_t)ASN1_STRING_length(kh) != hl ||
             memcmp(ASN1_STRING_get0_data(nh), wn, hl) != 0 ||
             memcmp(ASN1_STRING_get0_data(kh), wk, hl) != 0)
        finding(res, "RFC 6960 4.1.1: CertID issuer hashes are not the CA's");
    if (sn == NULL || (a = ASN1_INTEGER_to_BN(sn, NULL)) == NULL ||
        (b = BN_bin2bn(w->serial, (int)w->serial_len, NULL)) == NULL || BN_cmp(a, b) != 0)
        finding(res, "RFC 6960 4.1.1: CertID serial is not the certificate's");
    BN_free(a);
    BN_free(b);
    st = OCSP_single_get0_status(one, &reason, &rt, &tu, &nu);
    if (st != (int)w->status)
        finding(res, "RFC 6960 4.2.1: certStatus is %d, the store says %d", st, (int)w->status);
    if (st == OCSP_CS_REVOKED &&
        (!gt_ok(rt) || secs(rt) != w->revoked_at || secs(rt) > produced ||
         reason != (w->reason >= 0 ? w->reason : OCSP_REVOKED_STATUS_NOSTATUS) || reason == 7 ||
         reason > 10))
        finding(res, "RFC 5280 5.3.1: revocation time or reason inconsistent");
    if (!gt_ok(tu) || !gt_ok(nu))
        finding(res, "RFC 5019 2.2.4: thisUpdate and nextUpdate must be GeneralizedTime Z, "
                     "no fractions");
    else if (secs(tu) != w->this_update || secs(nu) != w->next_update || secs(tu) > produced ||
             secs(nu) - secs(tu) < OCSP_VALIDITY_MIN || secs(nu) - secs(tu) > OCSP_VALIDITY_MAX)
        finding(res, "RFC 5019 4: thisUpdate <= producedAt and a validity of 8 h to 10 d "
                     "required");
}

/*
 * The certificates at the response's times: the responder certificate valid from producedAt to
 * nextUpdate (a response never outlives the certificate that verifies it) and the CA's at
 * producedAt, as a relying party's path validation at signing time would require.
 */
static void lint_window(X509 *responder, const struct ocsp_single *w, struct ocsp_lint_result *res)
{
    int64_t nb = secs(X509_get0_notBefore(responder)), na = secs(X509_get0_notAfter(responder));

    if (nb == 0 || na == 0 || w->produced_at < nb || w->next_update > na)
        finding(res, "RFC 5280 4.1.2.5: the responder certificate must be valid from producedAt "
                     "to nextUpdate");
    if (w->issuer != NULL && (w->produced_at < secs(X509_get0_notBefore(w->issuer)) ||
                              w->produced_at > secs(X509_get0_notAfter(w->issuer))))
        finding(res, "RFC 5280 4.1.2.5: the CA certificate is not valid at producedAt");
}

/* certs holds the responder certificate, byte for byte, and nothing else. */
static void lint_certs(const struct ocsp_parts *pt, X509 *responder, struct ocsp_lint_result *res)
{
    unsigned char *der = NULL;
    int len = i2d_X509(responder, &der);

    if (len <= 0 || pt->certs == NULL || pt->certs_len != (size_t)len ||
        memcmp(pt->certs, der, (size_t)len) != 0)
        finding(res, "RFC 6960 4.2.2.2: certs must hold the responder certificate only");
    OPENSSL_free(der);
}

size_t ocsp_lint(const unsigned char *der, size_t len, const struct ocsp_single *want,
                 X509 *responder, EVP_PKEY *signer_pub, struct ocsp_lint_result *res)
{
    struct ocsp_parts pt;
    OCSP_BASICRESP *bs = NULL;
    const ASN1_OCTET_STRING *keyid = NULL;
    const X509_NAME *byname = NULL;
    const ASN1_GENERALIZEDTIME *pa;
    const unsigned char *q, *c;
    size_t qleft, clen;
    unsigned char kh[20], tag;
    int split, nidx;

    memset(res, 0, sizeof(*res));
    if ((split = ocsp_response_split(der, len, &pt)) != 1) {
        finding(res, split < 0 ? "RFC 6960 4.2.1: responseStatus must be successful and "
                                 "responseType id-pkix-ocsp-basic"
                               : "RFC 6960 4.2.1: the response is not the DER structure expected");
        return res->n;
    }
    if ((bs = basic_read(&pt)) == NULL) {
        finding(res, "RFC 6960 4.2.1: OpenSSL cannot read the response back");
        goto out;
    }
    /* tbsResponseData starts with responderID [2]: no version field (v1 by default), byKey */
    q = pt.tbs;
    qleft = pt.tbs_len;
    if (!ocsp_der_next(&q, &qleft, &tag, &c, &clen) ||
        !ocsp_der_next(&c, &clen, &tag, &q, &qleft) || tag != 0xa2)
        finding(res, "RFC 6960 4.2.1: version must be v1 (absent) and responderID byKey");
    lint_sig(&pt, signer_pub, res);
    if (!OCSP_resp_get0_id(bs, &keyid, &byname) || keyid == NULL || !ocsp_key_hash(responder, kh) ||
        ASN1_STRING_length(keyid) != 20 || memcmp(ASN1_STRING_get0_data(keyid), kh, 20) != 0)
        finding(res, "RFC 6960 4.2.2.3: responderID byKey must be the SHA-1 of the responder key");
    pa = OCSP_resp_get0_produced_at(bs);
    if (!gt_ok(pa) || secs(pa) != want->produced_at)
        finding(res, "RFC 6960 4.2.1: producedAt must be GeneralizedTime Z, the signing time");
    lint_single(bs, want, secs(pa), res);
    lint_certs(&pt, responder, res);
    nidx = OCSP_BASICRESP_get_ext_by_NID(bs, NID_id_pkix_OCSP_Nonce, -1);
    if ((want->nonce_len > 0) != (nidx >= 0) || OCSP_BASICRESP_get_ext_count(bs) > 1)
        finding(res, "RFC 9654: a nonce is echoed exactly when one was asked for");
    lint_window(responder, want, res);
    ocsp_lint_responder(responder, want->issuer, res);
out:
    ERR_clear_error();
    OCSP_BASICRESP_free(bs);
    return res->n;
}

size_t ocsp_lint_token(const unsigned char *trial, size_t trial_len, const unsigned char *real,
                       size_t real_len, X509 *responder, struct ocsp_lint_result *res)
{
    struct ocsp_parts a, b;

    memset(res, 0, sizeof(*res));
    if (ocsp_response_split(trial, trial_len, &a) != 1 ||
        ocsp_response_split(real, real_len, &b) != 1) {
        finding(res, "RFC 6960 4.2.1: the response is not the DER structure expected");
        return res->n;
    }
    /* the walk accounts for every byte outside these three spans and the signature */
    if (a.tbs_len != b.tbs_len || memcmp(a.tbs, b.tbs, a.tbs_len) != 0 || a.alg_len != b.alg_len ||
        memcmp(a.alg, b.alg, a.alg_len) != 0 || (a.certs == NULL) != (b.certs == NULL) ||
        a.certs_len != b.certs_len ||
        (a.certs != NULL && memcmp(a.certs, b.certs, a.certs_len) != 0))
        finding(res, "RFC 6960 4.2.1: the token-signed response differs from the linted one "
                     "beyond its signature");
    lint_sig(&b, X509_get0_pubkey(responder), res);
    return res->n;
}
