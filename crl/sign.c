/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crl sign: the signature over the TBS bytes as built (a software key for the lint, the token
 * through hsm_sign for publication) and its verification with the CA's public key.
 */
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* See crl.h. With a digest: the signature over it (EC, RSA PKCS#1 v1.5); else the message. */
enum signet_err crl_sign_evp(void *arg, const unsigned char *msg, size_t len,
                             const unsigned char *dg, size_t dg_len, unsigned char *sig,
                             size_t *siglen, char *detail)
{
    EVP_PKEY *key = arg;
    EVP_MD_CTX *m = NULL;
    EVP_PKEY_CTX *pc = NULL;
    const EVP_MD *md = NULL;
    size_t alg_len;
    enum signet_err err = SIGNET_E_CRYPTO;

    if (crl_sig_alg(key, &alg_len, &md) == NULL)
        goto out;
    if (dg != NULL && md != NULL) {
        if ((pc = EVP_PKEY_CTX_new(key, NULL)) != NULL && EVP_PKEY_sign_init(pc) == 1 &&
            EVP_PKEY_CTX_set_signature_md(pc, md) == 1 &&
            EVP_PKEY_sign(pc, sig, siglen, dg, dg_len) == 1)
            err = SIGNET_OK;
    } else if ((m = EVP_MD_CTX_new()) != NULL && EVP_DigestSignInit(m, NULL, md, NULL, key) == 1 &&
               EVP_DigestSign(m, sig, siglen, msg, len) == 1) {
        err = SIGNET_OK;
    }
out:
    if (err != SIGNET_OK) {
        sg_detail(detail, "CRL: the software signature failed");
        sg_detail_openssl(detail);
    }
    EVP_PKEY_CTX_free(pc);
    EVP_MD_CTX_free(m);
    return err;
}

/* See crl.h. EC and RSA: the digest is signed on the token; Ed25519: the message. */
enum signet_err crl_sign_hsm(void *arg, const unsigned char *msg, size_t len,
                             const unsigned char *dg, size_t dg_len, unsigned char *sig,
                             size_t *siglen, char *detail)
{
    struct hsm_key *key = arg;
    unsigned char own[EVP_MAX_MD_SIZE];
    unsigned int olen = 0;
    const EVP_MD *md = NULL;
    size_t alg_len;

    if (crl_sig_alg(hsm_key_public(key), &alg_len, &md) == NULL) {
        sg_detail(detail, "CRL: the CA key's type cannot sign CRLs");
        return SIGNET_E_USAGE;
    }
    if (md == NULL)
        return hsm_sign(key, NULL, msg, len, sig, siglen, detail);
    if (dg == NULL) {
        if (EVP_Digest(msg, len, own, &olen, md, NULL) != 1) {
            sg_detail(detail, "CRL: cannot hash the TBS");
            sg_detail_openssl(detail);
            return SIGNET_E_CRYPTO;
        }
        dg = own;
        dg_len = olen;
    }
    return hsm_sign(key, md, dg, dg_len, sig, siglen, detail);
}

/* See crl.h. */
enum signet_err crl_doc_sign(struct crl_doc *d, crl_sign_fn fn, void *arg, char *detail)
{
    struct crl_doc_view v;
    unsigned char sig[HSM_SIG_MAX], h[8];
    size_t siglen = sizeof(sig), alg_len = 0, hl;
    const unsigned char *alg;
    const EVP_MD *md = NULL;
    enum signet_err err;

    crl_doc_view(d, &v);
    v.b->len = *v.tbs_end; /* drop an earlier signature */
    *v.der_off = 0;
    if ((alg = crl_sig_alg(v.pub, &alg_len, &md)) == NULL) {
        sg_detail(detail, "CRL: the issuer's key type is not one Signet signs CRLs with");
        return SIGNET_E_USAGE;
    }
    if (md != NULL && *v.dg_len == 0) { /* once per TBS: it does not change between signatures */
        unsigned int n = 0;
        if (EVP_Digest(v.b->p + *v.tbs_off, *v.tbs_end - *v.tbs_off, v.dg, &n, md, NULL) != 1) {
            sg_detail(detail, "CRL: cannot hash the TBS");
            sg_detail_openssl(detail);
            return SIGNET_E_CRYPTO;
        }
        *v.dg_len = n;
    }
    err = fn(arg, v.b->p + *v.tbs_off, *v.tbs_end - *v.tbs_off, md != NULL ? v.dg : NULL,
             md != NULL ? *v.dg_len : 0, sig, &siglen, detail);
    if (err != SIGNET_OK)
        return err;
    crl_buf_put(v.b, alg, alg_len);
    crl_buf_put(v.b, h, crl_der_hdr(h, 0x03, siglen + 1));
    crl_buf_put(v.b, "", 1); /* no unused bits */
    crl_buf_put(v.b, sig, siglen);
    if (v.b->err) {
        sg_detail(detail, "CRL: out of memory while signing");
        return SIGNET_E_NOMEM;
    }
    hl = crl_der_hdr(h, 0x30, v.b->len - *v.tbs_off);
    memcpy(v.b->p + *v.tbs_off - hl, h, hl);
    *v.der_off = *v.tbs_off - hl;
    return SIGNET_OK;
}

/* See crl.h. */
enum signet_err crl_verify(const unsigned char *der, size_t len, EVP_PKEY *pub, char *detail)
{
    struct crl_parts cp;
    EVP_MD_CTX *m = NULL;
    const EVP_MD *md = NULL;
    const unsigned char *alg;
    size_t alg_len = 0;
    enum signet_err err = SIGNET_E_CRYPTO;

    if (!crl_parse(der, len, &cp)) {
        sg_detail(detail, "CRL: does not parse as a CertificateList");
        return SIGNET_E_INVALID;
    }
    if ((alg = crl_sig_alg(pub, &alg_len, &md)) == NULL || cp.alg_len != alg_len ||
        memcmp(cp.alg, alg, alg_len) != 0 || cp.tbs_alg_len != alg_len ||
        memcmp(cp.tbs_alg, alg, alg_len) != 0) {
        sg_detail(detail, "CRL: its signature algorithm does not match the CA key");
        return SIGNET_E_CRYPTO;
    }
    if ((m = EVP_MD_CTX_new()) != NULL && EVP_DigestVerifyInit(m, NULL, md, NULL, pub) == 1 &&
        EVP_DigestVerify(m, cp.sig, cp.sig_len, cp.tbs, cp.tbs_len) == 1)
        err = SIGNET_OK;
    else
        sg_detail(detail, "CRL: the signature does not verify with the CA's public key");
    ERR_clear_error();
    EVP_MD_CTX_free(m);
    return err;
}
