/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Lints of an OCSP response before its real signature (and again after): parsed back with
 * OpenSSL and walked as raw DER, checked against what the response was meant to say.
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

size_t ocsp_lint_responder(X509 *responder, X509 *issuer, struct ocsp_lint_result *res)
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

/*
 * The raw walk: OCSPResponse -> ResponseBytes -> BasicOCSPResponse; checks tbsResponseData
 * starts with responderID [2] (no version field: v1 by default, byKey) and verifies the
 * signature over the exact tbs bytes with signer_pub.
 */
static void lint_raw(const unsigned char *der, size_t len, EVP_PKEY *signer_pub,
                     struct ocsp_lint_result *res)
{
    const unsigned char *p = der, *c, *tbs, *q, *sig;
    size_t left = len, clen, tlen, qleft, siglen;
    unsigned char tag;
    EVP_MD_CTX *mctx = NULL;
    const EVP_MD *md;
    int id = EVP_PKEY_get_base_id(signer_pub);

    /* SEQ { ENUM, [0] { SEQ { OID, OCTET { SEQ { tbs, alg, BIT STRING, [0] } } } } } */
    if (!ocsp_der_next(&p, &left, &tag, &c, &clen) || tag != 0x30 || left != 0)
        goto bad;
    p = c;
    left = clen;
    if (!ocsp_der_next(&p, &left, &tag, &c, &clen) || tag != 0x0a ||
        !ocsp_der_next(&p, &left, &tag, &c, &clen) || tag != 0xa0 || left != 0)
        goto bad;
    p = c;
    left = clen;
    if (!ocsp_der_next(&p, &left, &tag, &c, &clen) || tag != 0x30)
        goto bad;
    p = c;
    left = clen;
    if (!ocsp_der_next(&p, &left, &tag, &c, &clen) || tag != 0x06 ||
        !ocsp_der_next(&p, &left, &tag, &c, &clen) || tag != 0x04 ||
        !ocsp_der_next(&c, &clen, &tag, &p, &left) || tag != 0x30)
        goto bad;
    tbs = p;
    if (!ocsp_der_next(&p, &left, &tag, &c, &clen) || tag != 0x30)
        goto bad;
    tlen = (size_t)(p - tbs);
    q = c;
    qleft = clen;
    if (!ocsp_der_next(&q, &qleft, &tag, &c, &clen) || tag != 0xa2)
        finding(res, "RFC 6960 4.2.1: version must be v1 (absent) and responderID byKey");
    if (!ocsp_der_next(&p, &left, &tag, &c, &clen) || tag != 0x30 ||
        !ocsp_der_next(&p, &left, &tag, &sig, &siglen) || tag != 0x03 || siglen < 2 || sig[0] != 0)
        goto bad;
    md = id == EVP_PKEY_ED25519                                     ? NULL
         : id == EVP_PKEY_EC && EVP_PKEY_get_bits(signer_pub) > 256 ? EVP_sha384()
                                                                    : EVP_sha256();
    if ((mctx = EVP_MD_CTX_new()) == NULL ||
        EVP_DigestVerifyInit(mctx, NULL, md, NULL, signer_pub) != 1 ||
        EVP_DigestVerify(mctx, sig + 1, siglen - 1, tbs, tlen) != 1)
        finding(res, "RFC 6960 4.2.1: the signature does not verify over tbsResponseData");
    EVP_MD_CTX_free(mctx);
    ERR_clear_error();
    return;
bad:
    finding(res, "RFC 6960 4.2.1: the response is not the DER structure expected");
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

size_t ocsp_lint(const unsigned char *der, size_t len, const struct ocsp_single *want,
                 X509 *responder, EVP_PKEY *signer_pub, struct ocsp_lint_result *res)
{
    const unsigned char *p = der;
    OCSP_RESPONSE *r = NULL;
    OCSP_BASICRESP *bs = NULL;
    const ASN1_OCTET_STRING *keyid = NULL;
    const X509_NAME *byname = NULL;
    const ASN1_GENERALIZEDTIME *pa;
    const STACK_OF(X509) * certs;
    unsigned char kh[20];
    int nidx;

    memset(res, 0, sizeof(*res));
    if ((r = d2i_OCSP_RESPONSE(NULL, &p, (long)len)) == NULL || p != der + len ||
        OCSP_response_status(r) != OCSP_RESPONSE_STATUS_SUCCESSFUL ||
        (bs = OCSP_response_get1_basic(r)) == NULL) {
        finding(res, "RFC 6960 4.2.1: OpenSSL cannot read the response back");
        goto out;
    }
    lint_raw(der, len, signer_pub, res);
    if (!OCSP_resp_get0_id(bs, &keyid, &byname) || keyid == NULL || !ocsp_key_hash(responder, kh) ||
        ASN1_STRING_length(keyid) != 20 || memcmp(ASN1_STRING_get0_data(keyid), kh, 20) != 0)
        finding(res, "RFC 6960 4.2.2.3: responderID byKey must be the SHA-1 of the responder key");
    pa = OCSP_resp_get0_produced_at(bs);
    if (!gt_ok(pa) || secs(pa) != want->produced_at)
        finding(res, "RFC 6960 4.2.1: producedAt must be GeneralizedTime Z, the signing time");
    lint_single(bs, want, secs(pa), res);
    certs = OCSP_resp_get0_certs(bs);
    if (sk_X509_num(certs) != 1 || X509_cmp(sk_X509_value(certs, 0), responder) != 0)
        finding(res, "RFC 6960 4.2.2.2: certs must hold the responder certificate only");
    nidx = OCSP_BASICRESP_get_ext_by_NID(bs, NID_id_pkix_OCSP_Nonce, -1);
    if ((want->nonce_len > 0) != (nidx >= 0) || OCSP_BASICRESP_get_ext_count(bs) > 1)
        finding(res, "RFC 9654: a nonce is echoed exactly when one was asked for");
    ocsp_lint_responder(responder, want->issuer, res);
out:
    ERR_clear_error();
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(r);
    return res->n;
}
