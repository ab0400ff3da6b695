/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The previous key generation's OCSP responder after `signet ca rollover` (ocsp_prev.c), shared
 * by ca/ocsp.c: what the old key issued is answered under the old certificate's hashes by a
 * responder certificate the old key issued (docs/ocsp.md "After a key rollover").
 */
#ifndef SIGNET_CA_OCSP_PREV_H
#define SIGNET_CA_OCSP_PREV_H

#include "internal.h"

#define OCSP_PREV_META_SUFFIX ".previous"               /* meta "ocsp.responder.<ca>.previous" */
#define OCSP_PREV_ISSUER_META "ocsp.issuer.%s.previous" /* the previous CA certificate (DER) */

/* One CA's previous generation, owned by its responder state (zeroed = not looked at yet). */
struct ocsp_prev {
    int loaded;          /* [ca.NAME] was read: cert is the previous certificate, or NULL */
    X509 *cert;          /* the previous CA certificate (public/<ca>-previous.crt) */
    struct hsm_key *key; /* the previous CA key, pinned to cert */
    EVP_PKEY *evp;
    X509 *responder; /* issued by the previous key for the responder key "<ca>-ocsp" */
};

/*
 * Loads CA ca's previous generation once (none: SIGNET_OK with cert NULL) and makes sure its
 * responder certificate (for rkey, valid days) is fresh: loaded from the store meta or issued by
 * the previous key. Caller holds the OCSP signing lock.
 */
enum signet_err ocsp_prev_ready(struct ca_ctx *ctx, struct ca_ent *ca, struct ocsp_prev *p,
                                struct hsm_key *rkey, int64_t days, char *detail);
/* 1 when the stored certificate c was issued by the previous key (its AKI), else 0. */
int ocsp_prev_issued(const struct ocsp_prev *p, const struct ca_ent *ca,
                     const struct store_cert *c);
/* Frees what p holds and zeroes it. */
void ocsp_prev_clear(struct ocsp_prev *p);

/* From ocsp.c: the responder certificate can be used as it is (right key, before half-life). */
int ocsp_responder_fresh(X509 *cert, EVP_PKEY *pub, X509 *issuer, int64_t now);
/* From ocsp.c: issues, stores (meta) and publishes (public/<file>) a responder certificate. */
enum signet_err ocsp_responder_issue(struct ca_ctx *ctx, const char *ca_name, X509 *issuer,
                                     EVP_PKEY *cakey, EVP_PKEY *pub, int64_t days, const char *meta,
                                     const char *file, X509 **slot, char *detail);

#endif
