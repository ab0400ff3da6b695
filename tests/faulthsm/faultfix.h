/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fixture of the fault tests: a throwaway SoftHSM2 token opened by hsmbind through
 * libfaulthsm.so, the control file that commands it, its call counters, and signing helpers
 * that check every signature with OpenSSL against hsm_key_public.
 */
#ifndef FAULTFIX_H
#define FAULTFIX_H

#include <stddef.h>

#include "hsmbind.h"
#include "tokenfix.h"

#define FAULTFIX_LABEL "fault"
#define FAULTFIX_FDS   256 /* control files kept open so their inode numbers are not reused */
#define FAULTFIX_KEYS  2   /* keys a faultfix_token holds */

struct faultfix {
    struct tokenfix tok;   /* the SoftHSM2 token in a temp dir */
    char control[300];     /* FAULTHSM_CONTROL */
    unsigned generation;   /* control files written */
    int fds[FAULTFIX_FDS]; /* descriptors of the control files written (see faultfix_control) */
    void *dl;              /* our reference to libfaulthsm.so */
    unsigned long (*calls)(const char *fn);
    unsigned long (*faults)(const char *fn);
    unsigned long (*corruptions)(void);
    unsigned long (*powerlosses)(void);
    long long (*outage_end_ms)(void);
    void (*reset_counts)(void);
};

/*
 * Makes the token (label FAULTFIX_LABEL, PIN TOKENFIX_PIN), points FAULTHSM_CONTROL at an empty
 * control file in its directory, loads libfaulthsm.so and resolves its counters. 1 = ok.
 */
int faultfix_setup(struct faultfix *fx);
void faultfix_teardown(struct faultfix *fx);

/* Replaces the control file atomically with text (the module sees it on its next call). 1 = ok. */
int faultfix_control(struct faultfix *fx, const char *text);

/*
 * Opens the token through libfaulthsm.so with pin (NULL = TOKENFIX_PIN), pool_size sessions
 * and otherwise hsmbind's defaults. Returns what hsm_token_open returns.
 */
enum signet_err faultfix_open(const char *pin, unsigned pool_size, struct hsm_token **out,
                              char *detail);

/*
 * Signs message number n ("faulthsm test message n") with key: a SHA-256 digest for EC and
 * RSA keys, the message itself for Ed25519. *siglen: capacity in, length out.
 */
enum signet_err faultfix_sign(struct hsm_key *key, unsigned n, unsigned char *sig, size_t *siglen,
                              char *detail);

/* 1 when sig is a valid signature of message n by hsm_key_public(key), checked by OpenSSL. */
int faultfix_verify(struct hsm_key *key, unsigned n, const unsigned char *sig, size_t siglen);

/* The usual state of a fault test: the fixture, the token opened through it, its keys. */
struct faultfix_token {
    struct faultfix fx;
    struct hsm_token *tok;
    struct hsm_key *key[FAULTFIX_KEYS];
};

/*
 * faultfix_setup, then faultfix_open with pool_size sessions, then one P-256 key per label of
 * the NULL-terminated list that follows (at most FAULTFIX_KEYS; none is fine). On failure it says
 * why on stderr and undoes what it did. 1 = ok.
 */
int faultfix_token_with_keys(struct faultfix_token *t, unsigned pool_size, ...)
    __attribute__((sentinel));

/* Frees the keys and the token, then faultfix_teardown. */
void faultfix_done(struct faultfix_token *t);

/* CLOCK_MONOTONIC in milliseconds (the clock faulthsm_outage_end_ms uses). */
long long faultfix_now_ms(void);

#endif
