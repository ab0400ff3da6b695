/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OCSP for the previous key generation after `signet ca rollover` (docs/ocsp.md "After a key
 * rollover"). The old key keeps answering for what it issued until those certificates expire:
 * a delegated responder certificate issued by the old key (same responder key "<ca>-ocsp",
 * EKU OCSPSigning, ocsp-nocheck), kept in meta "ocsp.responder.<ca>.previous" and published as
 * public/<ca>-previous-ocsp.crt. ca/ocsp.c signs each serial with the generation that issued it
 * (ocsp_prev_issued), so a stored response carries that generation's issuer hashes.
 */
#include "ocsp_prev.h"

#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ocsp_prev_clear(struct ocsp_prev *p)
{
    if (p == NULL)
        return;
    EVP_PKEY_free(p->evp);
    hsm_key_free(p->key);
    X509_free(p->cert);
    X509_free(p->responder);
    memset(p, 0, sizeof(*p));
}

struct issuer_meta {
    const char *name;
    const unsigned char *der;
    size_t len;
};

static enum signet_err issuer_meta_fn(struct store_txn *txn, void *arg, char *detail)
{
    struct issuer_meta *m = arg;

    return store_txn_meta_put(txn, m->name, m->der, m->len, detail);
}

/*
 * Keeps the previous CA certificate in meta "ocsp.issuer.<ca>.previous" (written when it
 * differs): the web processes, which run as an unprivileged user that may not read the PKI
 * directory, take the previous generation's issuer hashes from it.
 */
static enum signet_err prev_publish(struct ca_ctx *ctx, const char *ca_name, X509 *cert,
                                    char *detail)
{
    char name[STORE_META_NAME_MAX + CA_NAME_MAX];
    unsigned char *der = NULL, *old = malloc(STORE_DER_MAX);
    size_t olen = 0;
    int len = i2d_X509(cert, &der);
    enum signet_err rc = SIGNET_OK;

    snprintf(name, sizeof(name), OCSP_PREV_ISSUER_META, ca_name);
    if (len <= 0 || old == NULL) {
        sg_detail(detail, "CA %s: cannot encode the previous certificate", ca_name);
        rc = SIGNET_E_NOMEM;
    } else if (store_meta_get(ctx->st, name, old, STORE_DER_MAX, &olen, NULL) != SIGNET_OK ||
               olen != (size_t)len || memcmp(old, der, olen) != 0) {
        struct issuer_meta m = {name, der, (size_t)len};
        rc = store_write(ctx->st, issuer_meta_fn, &m, detail);
    }
    free(old);
    OPENSSL_free(der);
    return rc;
}

/* Reads [ca.NAME]'s previous generation once; SIGNET_OK with p->cert NULL when there is none. */
static enum signet_err prev_load(struct ca_ctx *ctx, struct ca_ent *ca, struct ocsp_prev *p,
                                 char *detail)
{
    enum signet_err rc;

    if (p->loaded)
        return SIGNET_OK;
    rc = ca_previous_generation(ctx, ca->name, &p->cert, &p->key, detail);
    if (rc == SIGNET_E_NOTFOUND) {
        p->loaded = 1;
        return SIGNET_OK;
    }
    if (rc == SIGNET_OK)
        rc = hsm_key_evp(p->key, &p->evp, detail);
    if (rc == SIGNET_OK)
        rc = prev_publish(ctx, ca->name, p->cert, detail);
    if (rc != SIGNET_OK) {
        ocsp_prev_clear(p); /* tried again at the next pass */
        return rc;
    }
    p->loaded = 1;
    sg_log(SG_LOG_INFO, "OCSP: CA %s: answering for the previous key generation too", ca->name);
    return SIGNET_OK;
}

/* The stored responder certificate of the previous generation, or NULL. */
static X509 *prev_stored(struct ca_ctx *ctx, const char *meta)
{
    unsigned char *buf = malloc(STORE_DER_MAX);
    const unsigned char *q = buf;
    size_t len = 0;
    X509 *x = NULL;

    if (buf != NULL && store_meta_get(ctx->st, meta, buf, STORE_DER_MAX, &len, NULL) == SIGNET_OK)
        x = d2i_X509(NULL, &q, (long)len);
    free(buf);
    return x;
}

enum signet_err ocsp_prev_ready(struct ca_ctx *ctx, struct ca_ent *ca, struct ocsp_prev *p,
                                struct hsm_key *rkey, int64_t days, char *detail)
{
    char meta[STORE_META_NAME_MAX + CA_NAME_MAX], file[CA_NAME_MAX + 32];
    EVP_PKEY *pub = rkey != NULL ? hsm_key_public(rkey) : NULL;
    enum signet_err rc;

    if ((rc = prev_load(ctx, ca, p, detail)) != SIGNET_OK || p->cert == NULL)
        return rc;
    if (pub == NULL) {
        sg_detail(detail, "CA %s: the OCSP responder key is not ready", ca->name);
        return SIGNET_E_INTERNAL;
    }
    snprintf(meta, sizeof(meta), "ocsp.responder.%s" OCSP_PREV_META_SUFFIX, ca->name);
    if (p->responder == NULL)
        p->responder = prev_stored(ctx, meta);
    if (ocsp_responder_fresh(p->responder, pub, p->cert, sg_now()))
        return SIGNET_OK;
    snprintf(file, sizeof(file), "%s-previous-ocsp.crt", ca->name);
    rc = ocsp_responder_issue(ctx, ca->name, p->cert, p->evp, pub, days, meta, file, &p->responder,
                              detail);
    ERR_clear_error();
    return rc;
}

int ocsp_prev_issued(const struct ocsp_prev *p, const struct ca_ent *ca, const struct store_cert *c)
{
    const unsigned char *q;
    X509 *x;
    int gen;

    if (p == NULL || p->cert == NULL || c == NULL || c->der == NULL || c->der_len == 0)
        return 0;
    q = c->der;
    if ((x = d2i_X509(NULL, &q, (long)c->der_len)) == NULL) {
        ERR_clear_error();
        return 0;
    }
    gen = ca_cert_generation(x, ca->cert, p->cert);
    X509_free(x);
    return gen == 1;
}
