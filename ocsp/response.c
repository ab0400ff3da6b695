/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OCSP responses (RFC 6960 4.2.1, profiled by RFC 5019): tbsResponseData encoded here in DER,
 * signed with a throwaway key and linted, then signed with the responder key and checked again
 * (the same bytes but the signature, which verifies with the responder certificate's key; and
 * once per responder certificate OCSP_basic_verify against the issuer) before anyone may store or
 * serve it.
 */
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* AlgorithmIdentifier DER of the hash of a CertID. */
static const unsigned char alg_sha1[] = {0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e,
                                         0x03, 0x02, 0x1a, 0x05, 0x00};
static const unsigned char alg_sha256[] = {0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                           0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00};
/* Signature AlgorithmIdentifiers (RFC 5758 3.2, RFC 4055 5, RFC 8410 3). */
static const unsigned char sig_ecdsa256[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                             0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
static const unsigned char sig_ecdsa384[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                             0x48, 0xce, 0x3d, 0x04, 0x03, 0x03};
static const unsigned char sig_rsa256[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                           0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00};
static const unsigned char sig_ed25519[] = {0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70};
const unsigned char ocsp_oid_basic[11] = {0x06, 0x09, 0x2b, 0x06, 0x01, 0x05,
                                          0x05, 0x07, 0x30, 0x01, 0x01};
static const unsigned char oid_nonce[] = {0x06, 0x09, 0x2b, 0x06, 0x01, 0x05,
                                          0x05, 0x07, 0x30, 0x01, 0x02};

const EVP_MD *ocsp_sig_alg(EVP_PKEY *key, const unsigned char **alg, size_t *alg_len)
{
    *alg = NULL;
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_ED25519:
        *alg = sig_ed25519;
        *alg_len = sizeof(sig_ed25519);
        return NULL;
    case EVP_PKEY_EC:
        if (EVP_PKEY_get_bits(key) > 256) {
            *alg = sig_ecdsa384;
            *alg_len = sizeof(sig_ecdsa384);
            return EVP_sha384();
        }
        *alg = sig_ecdsa256;
        *alg_len = sizeof(sig_ecdsa256);
        return EVP_sha256();
    case EVP_PKEY_RSA:
        *alg = sig_rsa256;
        *alg_len = sizeof(sig_rsa256);
        return EVP_sha256();
    default:
        return NULL;
    }
}

/* CertID ::= SEQUENCE { hashAlgorithm, issuerNameHash, issuerKeyHash, serialNumber }. */
static void put_certid(struct ocsp_buf *b, const struct ocsp_single *s)
{
    unsigned char nh[OCSP_HASH_MAX], kh[OCSP_HASH_MAX];
    size_t hl = s->hash == STORE_OCSP_SHA256 ? 32 : 20;
    struct ocsp_buf c = {0};

    if (!ocsp_issuer_hashes(s->issuer, s->hash, nh, kh))
        b->err = 1;
    if (s->hash == STORE_OCSP_SHA256)
        ocsp_buf_add(&c, alg_sha256, sizeof(alg_sha256));
    else
        ocsp_buf_add(&c, alg_sha1, sizeof(alg_sha1));
    ocsp_buf_tlv(&c, 0x04, nh, hl);
    ocsp_buf_tlv(&c, 0x04, kh, hl);
    ocsp_buf_uint(&c, s->serial, s->serial_len);
    ocsp_buf_wrap(b, 0x30, &c);
}

/* SingleResponse ::= SEQUENCE { certID, certStatus, thisUpdate, nextUpdate [0] }. */
static void put_single(struct ocsp_buf *b, const struct ocsp_single *s)
{
    struct ocsp_buf r = {0}, t = {0};

    put_certid(&r, s);
    if (s->status == OCSP_CS_REVOKED) {
        struct ocsp_buf info = {0}, rs = {0};
        ocsp_buf_time(&info, s->revoked_at);
        if (s->reason >= 0) {
            unsigned char e = (unsigned char)s->reason;
            ocsp_buf_tlv(&rs, 0x0a, &e, 1);
            ocsp_buf_wrap(&info, 0xa0, &rs);
        }
        ocsp_buf_wrap(&r, 0xa1, &info);
    } else {
        ocsp_buf_tlv(&r, s->status == OCSP_CS_GOOD ? 0x80 : 0x82, NULL, 0);
    }
    ocsp_buf_time(&r, s->this_update);
    ocsp_buf_time(&t, s->next_update);
    ocsp_buf_wrap(&r, 0xa0, &t);
    ocsp_buf_wrap(b, 0x30, &r);
}

/* ResponseData ::= SEQUENCE { responderID byKey [2], producedAt, responses, [1] nonce }. */
static int encode_tbs(const struct ocsp_single *s, X509 *responder, struct ocsp_buf *out)
{
    unsigned char kh[20];
    struct ocsp_buf d = {0}, rid = {0}, list = {0};

    if (!ocsp_key_hash(responder, kh))
        return 0;
    ocsp_buf_tlv(&rid, 0x04, kh, sizeof(kh));
    ocsp_buf_wrap(&d, 0xa2, &rid);
    ocsp_buf_time(&d, s->produced_at);
    put_single(&list, s);
    ocsp_buf_wrap(&d, 0x30, &list);
    if (s->nonce_len > 0) {
        struct ocsp_buf ext = {0}, exts = {0}, val = {0}, inner = {0};
        ocsp_buf_tlv(&inner, 0x04, s->nonce, s->nonce_len);
        ocsp_buf_add(&ext, oid_nonce, sizeof(oid_nonce));
        ocsp_buf_wrap(&ext, 0x04, &inner);
        ocsp_buf_wrap(&exts, 0x30, &ext);
        ocsp_buf_wrap(&val, 0x30, &exts);
        ocsp_buf_wrap(&d, 0xa1, &val);
    }
    ocsp_buf_wrap(out, 0x30, &d);
    return !out->err;
}

/*
 * Signs tbs with key and wraps it into an OCSPResponse with the responder certificate's DER
 * (cert, cert_len).
 */
static enum signet_err sign_wrap(const struct ocsp_buf *tbs, EVP_PKEY *key,
                                 const unsigned char *cert, int cert_len, struct ocsp_buf *out,
                                 char *detail)
{
    const unsigned char *alg;
    size_t alg_len = 0, siglen = 0;
    const EVP_MD *md = ocsp_sig_alg(key, &alg, &alg_len);
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    unsigned char *sig = NULL, zero = 0;
    struct ocsp_buf basic = {0}, bits = {0}, certs = {0}, seq = {0}, rb = {0}, resp = {0},
                    oct = {0}, rbs = {0};
    enum signet_err rc = SIGNET_E_CRYPTO;

    if (alg == NULL || mctx == NULL || cert_len <= 0 ||
        EVP_DigestSignInit(mctx, NULL, md, NULL, key) != 1 ||
        EVP_DigestSign(mctx, NULL, &siglen, tbs->p, tbs->len) != 1 ||
        (sig = OPENSSL_malloc(siglen)) == NULL ||
        EVP_DigestSign(mctx, sig, &siglen, tbs->p, tbs->len) != 1) {
        sg_detail(detail, "OCSP response: signing failed");
        sg_detail_openssl(detail);
        rc = SIGNET_E_HSM;
        goto out;
    }
    ocsp_buf_add(&basic, tbs->p, tbs->len);
    ocsp_buf_add(&basic, alg, alg_len);
    ocsp_buf_add(&bits, &zero, 1);
    ocsp_buf_add(&bits, sig, siglen);
    ocsp_buf_wrap(&basic, 0x03, &bits);
    ocsp_buf_add(&seq, cert, (size_t)cert_len);
    ocsp_buf_wrap(&certs, 0x30, &seq);
    ocsp_buf_wrap(&basic, 0xa0, &certs);
    ocsp_buf_wrap(&oct, 0x30, &basic);
    ocsp_buf_add(&rb, ocsp_oid_basic, sizeof(ocsp_oid_basic));
    ocsp_buf_wrap(&rb, 0x04, &oct);
    ocsp_buf_tlv(&resp, 0x0a, &zero, 1);
    ocsp_buf_wrap(&rbs, 0x30, &rb);
    ocsp_buf_wrap(&resp, 0xa0, &rbs);
    ocsp_buf_wrap(out, 0x30, &resp);
    rc = out->err ? SIGNET_E_NOMEM : SIGNET_OK;
    if (rc != SIGNET_OK)
        sg_detail(detail, "OCSP response: out of memory");
out:
    ERR_clear_error();
    OPENSSL_free(sig);
    EVP_MD_CTX_free(mctx);
    return rc;
}

/* Logs the findings and says the first in detail. */
static enum signet_err refuse(const struct ocsp_lint_result *res, const char *when, char *detail)
{
    for (size_t i = 0; i < res->n; i++)
        sg_log(SG_LOG_ERR, "ocsp lint (%s): %s; not signed", when, res->msg[i]);
    sg_detail(detail, "OCSP response lint (%s): %s%s; refused (docs/ocsp.md)", when, res->msg[0],
              res->n > 1 ? " (and more in the log)" : "");
    return SIGNET_E_LINT;
}

/* OCSP_basic_verify with the issuer as the only trust anchor: what a relying party does. */
static int basic_verify(const unsigned char *der, size_t len, X509 *issuer)
{
    const unsigned char *p = der;
    OCSP_RESPONSE *r = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
    OCSP_BASICRESP *bs = r ? OCSP_response_get1_basic(r) : NULL;
    X509_STORE *store = X509_STORE_new();
    int ok = 0;

    if (bs != NULL && store != NULL && X509_STORE_add_cert(store, issuer) == 1 &&
        X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN) == 1)
        ok = OCSP_basic_verify(bs, NULL, store, 0) == 1;
    ERR_clear_error();
    X509_STORE_free(store);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(r);
    return ok;
}

/*
 * The relying party's check (OCSP_basic_verify against the issuer) of a response, once per
 * responder certificate and issuer: it parses the whole response, the certificate included, and
 * verifies two signatures, while what it adds to the lints and to ocsp_lint_token (the chain, the
 * responder found by OpenSSL's rules) depends on the two certificates alone. 1 = it verifies.
 */
static int relying_party_once(const struct ocsp_buf *real, X509 *responder, X509 *issuer)
{
    if (ocsp_seen(responder, issuer, OCSP_SEEN_RP))
        return 1;
    if (!basic_verify(real->p, real->len, issuer))
        return 0;
    ocsp_seen_add(responder, issuer, OCSP_SEEN_RP);
    return 1;
}

enum signet_err ocsp_response_make(const struct ocsp_single *s, X509 *responder, EVP_PKEY *key,
                                   EVP_PKEY *throwaway, unsigned char **out, size_t *out_len,
                                   char *detail)
{
    struct ocsp_buf tbs = {0}, trial = {0}, real = {0};
    struct ocsp_lint_result *res = calloc(1, sizeof(*res));
    unsigned char *cert = NULL;
    int cert_len = i2d_X509(responder, &cert);
    enum signet_err rc = SIGNET_E_NOMEM;

    *out = NULL;
    *out_len = 0;
    if (res == NULL)
        goto out;
    if (cert_len <= 0) {
        sg_detail(detail, "OCSP response: cannot encode the responder certificate");
        rc = SIGNET_E_CRYPTO;
        goto out;
    }
    if (!encode_tbs(s, responder, &tbs)) {
        sg_detail(detail, "OCSP response: cannot encode the response data");
        rc = SIGNET_E_LINT;
        goto out;
    }
    if ((rc = sign_wrap(&tbs, throwaway, cert, cert_len, &trial, detail)) != SIGNET_OK)
        goto out;
    if (ocsp_lint(trial.p, trial.len, s, responder, throwaway, res) > 0) {
        rc = refuse(res, "throwaway signature", detail);
        goto out;
    }
    /*
     * The token signs the same tbs bytes and sign_wrap wraps them with the same certificate
     * bytes, so the real response is the linted one with another signature; ocsp_lint_token
     * checks that rather than assume it, and verifies the signature with the certificate's key.
     */
    if ((rc = sign_wrap(&tbs, key, cert, cert_len, &real, detail)) != SIGNET_OK)
        goto out;
    if (ocsp_lint_token(trial.p, trial.len, real.p, real.len, responder, res) > 0) {
        rc = refuse(res, "token signature", detail);
        goto out;
    }
    if (!relying_party_once(&real, responder, s->issuer)) {
        sg_detail(detail, "OCSP response: does not verify against the issuer; not stored");
        rc = SIGNET_E_HSM;
        goto out;
    }
    *out = real.p;
    *out_len = real.len;
    real.p = NULL;
    rc = SIGNET_OK;
out:
    if (rc == SIGNET_E_NOMEM)
        sg_detail(detail, "OCSP response: out of memory");
    ocsp_buf_free(&tbs);
    ocsp_buf_free(&trial);
    ocsp_buf_free(&real);
    OPENSSL_free(cert);
    free(res);
    return rc;
}

enum ocsp_freshness ocsp_freshness(int64_t now, int64_t this_update, int64_t next_update)
{
    if (now >= next_update || next_update <= this_update)
        return OCSP_STALE;
    return now >= this_update + (next_update - this_update) / 2 ? OCSP_OVERDUE : OCSP_FRESH;
}
