/* SPDX-License-Identifier: Apache-2.0 */
/* The ceremony engine's parts shared by ceremony.c, ceremony_tbs.c and ceremony_audit.c. */
#ifndef SIGNET_CA_CEREMONY_INTERNAL_H
#define SIGNET_CA_CEREMONY_INTERNAL_H

#include "internal.h"

#define CEREMONY_FILE_MAX   (64u * 1024u)
#define CEREMONY_PLAN_MAX   (256u * 1024u)
#define CEREMONY_SERIAL_LEN 16

/* What a signing ceremony (sign-subordinate, cross-sign) makes a TBS from. */
struct cer_tbs_in {
    struct ca_ent *ca;                 /* the signing CA */
    const struct policy_profile *prof; /* extensions, key rules */
    const X509_NAME *subject;          /* subject to certify */
    EVP_PKEY *pub;                     /* key to certify (borrowed) */
    const struct policy_csr *csr;      /* when from a CSR: its SPKI is certified as it stands */
    int64_t not_before, not_after;     /* from the ceremony file */
    int64_t planned;                   /* when the TBS was planned (the dry run's time) */
    unsigned char serial[CEREMONY_SERIAL_LEN]; /* fixed by the caller (fresh or the plan's) */
};

/*
 * Builds the TBS, signs it with a throwaway key of the CA's algorithm (so the
 * AlgorithmIdentifiers are final) and lints it. Refuses a certificate that is not a CA or is a
 * CA without keyCertSign (RFC 5280 4.2.1.3), a validity outside the CA's, a key the profile
 * refuses, and any lint finding. *out_tbs is the exact TBS DER (OPENSSL_free).
 */
enum signet_err cer_build_tbs(struct ca_ctx *ctx, const struct cer_tbs_in *in,
                              unsigned char **out_tbs, size_t *out_len, char *detail);

/*
 * Signs exactly the TBS bytes with key (digest by the issuer's algorithm), assembles the
 * certificate around them, parses it back and verifies it with the issuer's public key and that
 * its TBS is the same bytes. *out_der is the certificate (OPENSSL_free).
 */
enum signet_err cer_sign_tbs(const unsigned char *tbs, size_t len, EVP_PKEY *key, X509 *issuer,
                             unsigned char **out_der, size_t *out_len, char *detail);

/* SHA-256 hex of data (out: 65 bytes). */
void cer_sha256_hex(const void *data, size_t len, char *out);

/*
 * Signs the transcript text with the CA's key and appends it to the audit chain as action
 * "ceremony" (text, then a "signature HEX" line).
 */
enum signet_err cer_transcript_append(struct ca_ctx *ctx, struct ca_ent *ca, EVP_PKEY *key,
                                      const char *text, char *detail);

/* ---- root-rollover (ceremony_rollover.c) ---- */

/* A root-rollover ceremony file's keys (paths resolved) and the run's options. */
struct cer_roll_in {
    const char *file, *hash; /* the ceremony file and its SHA-256 */
    const char *ca;          /* the current root */
    const char *new_ca;      /* [ca.NEW]: no parent, key on a quorum token, no certificate yet */
    const char *subject, *type, *days, *profile;
    const char *out_dir; /* where the two cross certificates go */
    const struct ca_ceremony_opts *opts;
};

/*
 * root-rollover: the new root's key and self-signed certificate (ca_make), the new root signed
 * by the old and the old by the new (profile's extensions, linted, recorded, verified), a
 * transcript signed by the old root. The dry run builds and lints all three with a stand-in key.
 */
enum signet_err cer_run_rollover(struct ca_ctx *ctx, const struct cer_roll_in *f,
                                 struct ca_ceremony_result *res, char *detail);

/* ceremony.c's steps, for the rollover: activation, store records, writing a certificate. */
enum signet_err cer_activate(struct ca_ctx *ctx, struct ca_ent *ca,
                             const struct ca_ceremony_opts *o, EVP_PKEY **key, char *shares,
                             size_t cap, char *detail);
enum signet_err cer_record(struct ca_ctx *ctx, const struct cer_tbs_in *in, const char *profile,
                           enum store_cert_state state, const unsigned char *bytes, size_t len,
                           char *detail);
enum signet_err cer_write_out(const char *path, const unsigned char *der, size_t len, char *detail);

/* The value of the "KEY VALUE" line of text (a plan or a transcript), copied to out. 1 = found. */
int cer_line_field(const char *text, const char *key, char *out, size_t cap);

#endif
