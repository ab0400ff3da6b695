/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signing on the token with the mechanism the key type calls for, and the check that every
 * signature verifies with the key's public key before it is returned (a token that returns a bad
 * signature must never put it into a certificate).
 *   EC:      CKM_ECDSA over the local digest; the token's r||s (PKCS#11 2.40 2.3.1) becomes a DER
 *            ECDSA-Sig-Value (RFC 5480 / X9.62)
 *   RSA:     CKM_RSA_PKCS over the DigestInfo built here (RFC 8017 9.2 EMSA-PKCS1-v1_5 step 2)
 *   Ed25519: CKM_EDDSA without parameters over the whole message (RFC 8032 PureEdDSA)
 */
#include "internal.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#define ED_MSG_MAX ((size_t)1 << 30) /* bound on a message signed with Ed25519 */

struct sign_arg {
    struct hsm_key *key;
    const EVP_MD *md;
    const unsigned char *data; /* digest (EC, RSA) or message (Ed25519) */
    size_t datalen;
    const unsigned char *in; /* what the token signs */
    size_t inlen;
    unsigned char out[HSM_SIG_MAX]; /* the verified signature */
    size_t outlen;
};

/* DER DigestInfo { AlgorithmIdentifier(md, NULL), OCTET STRING digest }. Caller frees *out. */
static int digest_info(const EVP_MD *md, const unsigned char *dg, size_t dglen, unsigned char **out,
                       size_t *outlen)
{
    X509_SIG *sig = NULL;
    X509_ALGOR *alg = NULL;
    ASN1_OCTET_STRING *os = NULL;
    ASN1_OBJECT *oid = OBJ_nid2obj(EVP_MD_get_type(md));
    int len, ok = 0;

    *out = NULL;
    if (oid == NULL || OBJ_length(oid) == 0 || (sig = X509_SIG_new()) == NULL)
        goto out;
    X509_SIG_getm(sig, &alg, &os);
    if (!X509_ALGOR_set0(alg, oid, V_ASN1_NULL, NULL) ||
        !ASN1_OCTET_STRING_set(os, dg, (int)dglen) || (len = i2d_X509_SIG(sig, out)) <= 0)
        goto out;
    *outlen = (size_t)len;
    ok = 1;
out:
    X509_SIG_free(sig);
    return ok;
}

/* r||s (two halves of equal length) to a DER ECDSA-Sig-Value in out. */
static int ecdsa_der(const unsigned char *raw, size_t rawlen, unsigned char *out, size_t cap,
                     size_t *outlen)
{
    ECDSA_SIG *es = NULL;
    BIGNUM *r = NULL, *s = NULL;
    unsigned char *p = out;
    int len, ok = 0;

    if (rawlen == 0 || rawlen % 2 != 0 || rawlen > 2 * 66)
        return 0;
    if ((es = ECDSA_SIG_new()) == NULL || (r = BN_bin2bn(raw, (int)rawlen / 2, NULL)) == NULL ||
        (s = BN_bin2bn(raw + rawlen / 2, (int)rawlen / 2, NULL)) == NULL ||
        !ECDSA_SIG_set0(es, r, s))
        goto out;
    r = s = NULL;
    if ((len = i2d_ECDSA_SIG(es, NULL)) <= 0 || (size_t)len > cap || i2d_ECDSA_SIG(es, &p) != len)
        goto out;
    *outlen = (size_t)len;
    ok = 1;
out:
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return ok;
}

/* 1 when sig verifies over a's data with the key's public key (OpenSSL default provider). */
static int sig_verify(struct sign_arg *a, const unsigned char *sig, size_t siglen)
{
    EVP_PKEY *pub = a->key->pub;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_MD_CTX *mctx = NULL;
    int ok = 0;

    if (a->key->type == HSM_KEY_ED25519) {
        ok = (mctx = EVP_MD_CTX_new()) != NULL &&
             EVP_DigestVerifyInit_ex(mctx, NULL, NULL, NULL, NULL, pub, NULL) == 1 &&
             EVP_DigestVerify(mctx, sig, siglen, a->data, a->datalen) == 1;
    } else if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL)) != NULL &&
               EVP_PKEY_verify_init(ctx) == 1) {
        if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA &&
            (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1 ||
             EVP_PKEY_CTX_set_signature_md(ctx, a->md) != 1))
            goto out;
        ok = EVP_PKEY_verify(ctx, sig, siglen, a->data, a->datalen) == 1;
    }
out:
    ERR_clear_error(); /* a failed verification is reported as bad_sigs, not via the queue */
    EVP_PKEY_CTX_free(ctx);
    EVP_MD_CTX_free(mctx);
    return ok;
}

/*
 * The private key handle for session s, re-found (and the public key re-checked against the pin)
 * when the session belongs to another epoch than the handle: after a reconnect handle numbers may
 * name other objects.
 */
static CK_RV sign_handle(struct hsm_key *key, struct hsm_sess *s, CK_OBJECT_HANDLE *out)
{
    CK_RV rv = CKR_OK;

    pthread_mutex_lock(&key->lock);
    if (s->epoch != key->epoch)
        rv = hsm_key_refresh(key, s);
    *out = key->priv;
    pthread_mutex_unlock(&key->lock);
    return rv;
}

/* One signing attempt: C_SignInit + C_Sign, conversion, verification. */
static CK_RV sign_op(struct hsm_token *tok, struct hsm_sess *s, void *arg)
{
    struct sign_arg *a = arg;
    CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
    unsigned char raw[HSM_SIG_MAX];
    CK_ULONG rawlen = sizeof(raw);
    CK_OBJECT_HANDLE h;
    CK_RV rv;

    if ((rv = sign_handle(a->key, s, &h)) != CKR_OK)
        return rv;
    if (a->key->type == HSM_KEY_ED25519)
        mech.mechanism = CKM_EDDSA;
    else if (EVP_PKEY_get_base_id(a->key->pub) == EVP_PKEY_RSA)
        mech.mechanism = CKM_RSA_PKCS;
    if ((rv = tok->mod->fn->C_SignInit(s->h, &mech, h)) != CKR_OK)
        return rv;
    if ((rv = tok->mod->fn->C_Sign(s->h, (CK_BYTE_PTR)a->in, a->inlen, raw, &rawlen)) != CKR_OK)
        return rv;
    if (mech.mechanism == CKM_ECDSA) {
        if (!ecdsa_der(raw, rawlen, a->out, sizeof(a->out), &a->outlen))
            a->outlen = 0;
    } else if (rawlen <= sizeof(a->out)) {
        memcpy(a->out, raw, rawlen);
        a->outlen = rawlen;
    } else {
        a->outlen = 0;
    }
    if (a->outlen == 0 || !sig_verify(a, a->out, a->outlen)) {
        hsm_stat_add(&tok->stats.bad_sigs, 1);
        sg_log(SG_LOG_WARN, "token '%s' returned a signature that does not verify with key %s",
               tok->label, a->key->uri);
        return HSMB_RV_BADSIG;
    }
    return CKR_OK;
}

/* Checks the caller's arguments against the key type; cap is the signature buffer's size. */
static enum signet_err sign_check(const struct hsm_key *key, const EVP_MD *md, size_t datalen,
                                  const unsigned char *sig, size_t cap, char *detail)
{
    if (sig == NULL || (size_t)EVP_PKEY_get_size(key->pub) > cap) {
        sg_detail(detail, "signing with %s: the signature buffer must hold %d bytes", key->uri,
                  EVP_PKEY_get_size(key->pub));
        return SIGNET_E_USAGE;
    }
    if (key->type == HSM_KEY_ED25519) {
        if (md != NULL || datalen > ED_MSG_MAX) {
            sg_detail(detail,
                      "signing with Ed25519 key %s: pass the whole message (at most %zu "
                      "bytes) and no digest (RFC 8032 PureEdDSA)",
                      key->uri, ED_MSG_MAX);
            return SIGNET_E_USAGE;
        }
        return SIGNET_OK;
    }
    if (md == NULL || EVP_MD_get_size(md) <= 0 || (size_t)EVP_MD_get_size(md) != datalen) {
        sg_detail(detail,
                  "signing with %s: pass a digest made with the named md (%d bytes, got "
                  "%zu)",
                  key->uri, md != NULL ? EVP_MD_get_size(md) : 0, datalen);
        return SIGNET_E_USAGE;
    }
    return SIGNET_OK;
}

enum signet_err hsm_sign(struct hsm_key *key, const EVP_MD *md, const unsigned char *data,
                         size_t datalen, unsigned char *sig, size_t *siglen, char *detail)
{
    struct sign_arg a;
    unsigned char *di = NULL;
    char what[700];
    enum signet_err rc;
    size_t cap;

    if (key == NULL || siglen == NULL || (data == NULL && datalen != 0)) {
        sg_detail(detail, "hsm_sign: no key, no signature length or no data");
        return SIGNET_E_USAGE;
    }
    /* on every failure the length says "no signature" */
    cap = *siglen;
    *siglen = 0;
    if ((rc = sign_check(key, md, datalen, sig, cap, detail)) != SIGNET_OK)
        return rc;
    memset(&a, 0, sizeof(a));
    a.key = key;
    a.md = md;
    a.data = data != NULL ? data : (const unsigned char *)"";
    a.datalen = datalen;
    a.in = a.data;
    a.inlen = datalen;
    if (EVP_PKEY_get_base_id(key->pub) == EVP_PKEY_RSA) {
        if (!digest_info(md, data, datalen, &di, &a.inlen)) {
            sg_detail(detail, "signing with %s: digest %s has no DigestInfo OID", key->uri,
                      EVP_MD_get0_name(md));
            sg_detail_openssl(NULL);
            return SIGNET_E_USAGE;
        }
        a.in = di;
    }
    snprintf(what, sizeof(what), "C_Sign with key %s", key->uri);
    rc = hsm_token_run(key->tok, what, sign_op, &a, detail);
    OPENSSL_free(di);
    if (rc != SIGNET_OK)
        return rc;
    memcpy(sig, a.out, a.outlen);
    *siglen = a.outlen;
    hsm_stat_add(&key->tok->stats.signs, 1);
    return SIGNET_OK;
}
