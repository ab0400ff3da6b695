/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Responder certificate + issuer pairs that already passed a check which depends on the two
 * certificates alone, so that the check runs once per pair and not once per response: the
 * responder lints with their X509_verify by the issuer (OCSP_SEEN_LINT) and the relying party's
 * OCSP_basic_verify against the issuer (OCSP_SEEN_RP).
 *
 * A pair is known by the DER of both certificates, compared byte for byte: not by pointer (a new
 * certificate can be allocated where a freed one was, and an X509 can be changed and re-signed in
 * place) and not by OpenSSL's cached SHA-1 (computed once, never updated after a change). A few
 * pairs are kept (several CAs, and a CA's current and previous key generation after a rollover,
 * whose certificates the ca process signs for in turn); a new pair replaces the oldest. The
 * refresher thread and live signing use it at the same time, so it is under a mutex.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SEEN_MAX 8

struct seen {
    unsigned char *der; /* the responder's DER, then the issuer's */
    size_t rlen, ilen;
    unsigned what; /* OCSP_SEEN_* passed */
};

static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static struct seen seen[SEEN_MAX];
static size_t seen_next;

/* The key of a pair: both DER encodings in one buffer (caller frees). 1 = ok. */
static int pair_der(X509 *responder, X509 *issuer, unsigned char **out, size_t *rlen, size_t *ilen)
{
    unsigned char *r = NULL, *i = NULL;
    int rl = responder != NULL ? i2d_X509(responder, &r) : 0;
    int il = issuer != NULL ? i2d_X509(issuer, &i) : 0;
    int ok = 0;

    *out = NULL;
    if (rl > 0 && il > 0 && (*out = malloc((size_t)rl + (size_t)il)) != NULL) {
        memcpy(*out, r, (size_t)rl);
        memcpy(*out + rl, i, (size_t)il);
        *rlen = (size_t)rl;
        *ilen = (size_t)il;
        ok = 1;
    }
    OPENSSL_free(r);
    OPENSSL_free(i);
    return ok;
}

/* The entry of a key, or NULL (caller holds seen_mu). */
static struct seen *find(const unsigned char *der, size_t rlen, size_t ilen)
{
    for (size_t k = 0; k < SEEN_MAX; k++)
        if (seen[k].der != NULL && seen[k].rlen == rlen && seen[k].ilen == ilen &&
            memcmp(seen[k].der, der, rlen + ilen) == 0)
            return &seen[k];
    return NULL;
}

int ocsp_seen(X509 *responder, X509 *issuer, unsigned what)
{
    unsigned char *der;
    size_t rlen, ilen;
    const struct seen *e;
    int hit;

    if (!pair_der(responder, issuer, &der, &rlen, &ilen))
        return 0;
    pthread_mutex_lock(&seen_mu);
    e = find(der, rlen, ilen);
    hit = e != NULL && (e->what & what) == what;
    pthread_mutex_unlock(&seen_mu);
    free(der);
    return hit;
}

void ocsp_seen_add(X509 *responder, X509 *issuer, unsigned what)
{
    unsigned char *der;
    size_t rlen, ilen;
    struct seen *e;

    if (!pair_der(responder, issuer, &der, &rlen, &ilen))
        return; /* not remembered: checked again next time */
    pthread_mutex_lock(&seen_mu);
    if ((e = find(der, rlen, ilen)) != NULL) {
        e->what |= what;
    } else {
        e = &seen[seen_next];
        seen_next = (seen_next + 1) % SEEN_MAX;
        free(e->der);
        e->der = der;
        e->rlen = rlen;
        e->ilen = ilen;
        e->what = what;
        der = NULL;
    }
    pthread_mutex_unlock(&seen_mu);
    free(der);
}
