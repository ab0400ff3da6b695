/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OCSP responder's parts shared by ocsp.c (responders, signing, live nonce answers) and
 * ocsp_refresh.c (the refresher thread and its queue): the per-context state and the functions
 * both call. Private to those two files.
 */
#ifndef SIGNET_CA_OCSP_INTERNAL_H
#define SIGNET_CA_OCSP_INTERNAL_H

#include "internal.h"
#include "ocsp_prev.h"

#define QUEUE_CAP 4096 /* (ca, serial) waiting; more are dropped, the pass covers them */

struct responder {
    int eligible;     /* an online CA: gets a responder */
    int64_t validity; /* seconds of a response */
    int64_t days;     /* of the responder certificate */
    enum hsm_key_type type;
    int nonce;           /* live nonce mode */
    double rate, tokens; /* live responses per second; bucket */
    uint64_t refill_ms;
    struct hsm_key *key; /* NULL until set up */
    EVP_PKEY *evp;
    X509 *cert;
    struct ocsp_prev prev; /* the previous key generation after a rollover (ocsp_prev.c) */
};

struct qent {
    size_t ca;
    unsigned char serial[STORE_SERIAL_MAX];
    size_t len;
};

struct ocsp_state {
    struct ca_ctx *ctx;
    struct ocsp_state *next;
    pthread_mutex_t sign_mu; /* responders and signing */
    pthread_mutex_t mu;      /* queue, flags, stats */
    pthread_cond_t cv;
    pthread_t thread;
    int running, stopping;
    struct responder *r; /* ctx->ncas of them */
    EVP_PKEY *throwaway[HSM_KEY_TYPE_MAX];
    struct qent q[QUEUE_CAP];
    size_t qhead, qlen;
    struct ca_ocsp_stats stats;
};

/* The states' lifetime lock (ocsp.c), held for reading by an entry point while it uses a state. */
void ca_ocsp_life_read(void);
void ca_ocsp_life_done(void);
/* The state of ctx, or NULL. */
struct ocsp_state *ca_ocsp_state_of(struct ca_ctx *ctx);
/* The state of ctx, made (configuration read) when missing. */
enum signet_err ca_ocsp_state_get(struct ca_ctx *ctx, struct ocsp_state **out, char *detail);
/* Seconds since the epoch of an ASN1_TIME (0 on error). */
int64_t ca_ocsp_tsecs(const ASN1_TIME *t);
/* Makes sure CA i has a usable responder, key and fresh certificate (caller holds sign_mu). */
enum signet_err ca_ocsp_responder_ready(struct ocsp_state *s, size_t i, char *detail);
/* Signs and stores the responses of CA i's certificate serial (takes sign_mu). */
enum signet_err ca_ocsp_presign_one(struct ocsp_state *s, size_t i, const unsigned char *serial,
                                    size_t len, char *detail);

#endif
