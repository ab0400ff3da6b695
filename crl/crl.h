/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crl: building CRLs (full, delta, sharded) by one cursor pass over the store's revoked
 * database, streamed into DER and signed through hsmbind. Knows nothing of HTTP or of OCSP.
 *
 * A CRL is encoded straight into one growing buffer (no X509_CRL or X509_REVOKED object per
 * entry): crl_build writes the TBSCertList of RFC 5280 5.1.2 while the cursor walks the revoked
 * index; crl_doc_sign appends the signature (a throwaway key for the lint, then the token);
 * crl_lint reads the result back; crl_verify checks the token's signature before publication.
 */
#ifndef SIGNET_CRL_H
#define SIGNET_CRL_H

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "common.h"
#include "hsmbind.h"
#include "store.h"

/* ---- reason codes (RFC 5280 5.3.1) ---- */

/* The codes are OpenSSL's CRL_REASON_* (x509v3.h): KEY_COMPROMISE = 1, ..., AA_COMPROMISE = 10. */

/*
 * Parses an RFC 5280 reason name ("keyCompromise", case-sensitive as the RFC spells it) into
 * its code. 1 = ok (removeFromCRL parses: the caller decides to refuse it), 0 = unknown.
 */
int crl_reason_parse(const char *name, int *out);
/* The RFC 5280 name of a code; "unspecified" for -1; NULL for a code that has none. */
const char *crl_reason_name(int code);
/* The names a user may give, comma-separated, for error messages. Static. */
const char *crl_reason_names(void);

/* ---- building ---- */

#define CRL_URL_MAX      512
#define CRL_SHARDS_MAX   256
#define CRL_FINDINGS_MAX 16
#define CRL_MSG_MAX      256

struct crl_params {
    EVP_PKEY *issuer_pub;             /* chooses the signature algorithm (EC, RSA, Ed25519) */
    const unsigned char *issuer_name; /* DER Name: the CA certificate's subject, exactly */
    size_t issuer_name_len;
    const unsigned char *issuer_keyid; /* the CA's SKI: AKI keyIdentifier */
    size_t issuer_keyid_len;
    int64_t this_update;
    int64_t next_update;
    uint64_t number;          /* CRLNumber, > 0 */
    uint64_t delta_base;      /* 0: a full CRL; else a delta CRL over the full CRL of this number */
    int64_t delta_since;      /* delta: entries revoked at or after this time */
    const char *idp_url;      /* issuingDistributionPoint URI; NULL: no IDP */
    int only_user_certs;      /* IDP onlyContainsUserCerts (a subscriber CA's CRL) */
    const char *freshest_url; /* freshestCRL (full CRLs when deltas are published); NULL: none */
    unsigned shards;          /* > 1: only serials of shard `shard` (crl_shard_of) */
    unsigned shard;
};

/* The shard of a serial: its value modulo shards (0 when shards <= 1). */
unsigned crl_shard_of(const unsigned char *serial, size_t len, unsigned shards);

struct crl_stats {
    size_t entries;      /* listed */
    size_t expired;      /* dropped: certificate expired before thisUpdate */
    size_t other_shards; /* not in this shard, or not in this delta */
};

struct crl_doc; /* a CRL being built: one buffer, TBS then signature */

/*
 * Builds the TBSCertList: one cursor pass over the CA's revoked index (store_revoked_iter),
 * each entry encoded into the buffer as it is read. Entries whose certificate expired before
 * thisUpdate are dropped (RFC 5280 3.3). On success *out is owned by the caller
 * (crl_doc_free). Errors: SIGNET_E_USAGE (bad params), SIGNET_E_NOMEM, the store's.
 */
enum signet_err crl_build(struct store *st, uint32_t ca_id, const struct crl_params *p,
                          struct crl_doc **out, struct crl_stats *stats, char *detail);
void crl_doc_free(struct crl_doc *d);
/* The TBSCertList DER. Borrowed. */
const unsigned char *crl_doc_tbs(const struct crl_doc *d, size_t *out_len);
/* The signed CertificateList DER after crl_doc_sign; NULL before. Borrowed. */
const unsigned char *crl_doc_der(const struct crl_doc *d, size_t *out_len);

/*
 * Signs msg (the TBS) into sig (capacity *siglen in, length out). dg is msg's digest under the
 * signature algorithm's hash (dg_len bytes), or NULL when the algorithm signs the message itself
 * (Ed25519): crl_doc_sign hashes a TBS of tens of megabytes once for both of its signatures.
 */
typedef enum signet_err (*crl_sign_fn)(void *arg, const unsigned char *msg, size_t len,
                                       const unsigned char *dg, size_t dg_len, unsigned char *sig,
                                       size_t *siglen, char *detail);
/* A crl_sign_fn over a software key (arg: EVP_PKEY *): the throwaway lint key. */
enum signet_err crl_sign_evp(void *arg, const unsigned char *msg, size_t len,
                             const unsigned char *dg, size_t dg_len, unsigned char *sig,
                             size_t *siglen, char *detail);
/* A crl_sign_fn over a token key (arg: struct hsm_key *), through hsm_sign. */
enum signet_err crl_sign_hsm(void *arg, const unsigned char *msg, size_t len,
                             const unsigned char *dg, size_t dg_len, unsigned char *sig,
                             size_t *siglen, char *detail);
/*
 * Appends signatureAlgorithm and the signature made by fn over the TBS; signing again replaces
 * the previous signature (first the throwaway key, then the token).
 */
enum signet_err crl_doc_sign(struct crl_doc *d, crl_sign_fn fn, void *arg, char *detail);

/*
 * Verifies a CertificateList's signature over its TBS bytes with pub (no re-encoding).
 * SIGNET_OK, or SIGNET_E_CRYPTO with why.
 */
enum signet_err crl_verify(const unsigned char *der, size_t len, EVP_PKEY *pub, char *detail);

/* ---- lint ---- */

struct crl_finding {
    const char *lint; /* stable name; static */
    char msg[CRL_MSG_MAX];
};

struct crl_lint_result {
    size_t n;       /* findings kept */
    size_t dropped; /* beyond CRL_FINDINGS_MAX */
    struct crl_finding f[CRL_FINDINGS_MAX];
};

/* Documentation of the lints, in the order they run. */
struct crl_lint_info {
    const char *name;
    const char *source;
    const char *what;
};
size_t crl_lint_count(void);
const struct crl_lint_info *crl_lint_at(size_t i);

/*
 * Lints a signed CertificateList (normally signed with a throwaway key) against what it must
 * be (p: issuer bytes, keyid, number, delta base, IDP, times). Reads the DER itself, then parses
 * it with d2i_X509_CRL when it is at most parse_max bytes (0: always). Returns the number of
 * findings (0 = clean).
 */
size_t crl_lint(const unsigned char *der, size_t len, const struct crl_params *p, size_t parse_max,
                struct crl_lint_result *out);

/* ---- reading ---- */

/* What crl_info reads from a CertificateList (no per-entry objects). */
struct crl_info {
    uint64_t number;
    uint64_t delta_base; /* 0 when not a delta CRL */
    int64_t this_update;
    int64_t next_update;
};
/*
 * Reads a CRL's header fields without walking its entries (a large CRL stays untouched).
 * 1 = ok, 0 = not a CRL this module can read.
 */
int crl_info_read(const unsigned char *der, size_t len, struct crl_info *out);

/*
 * Says whether an entry of the previous CRL may be missing from a new one: 1 when the
 * certificate expired before the new thisUpdate (or its certificateHold was released).
 */
typedef int (*crl_may_drop_fn)(const unsigned char *serial, size_t len, void *arg);
/*
 * Told, as a merge walk moves on, which bytes of the old CRL it has read (so that a view of a
 * stored CRL can give its pages back: store_view_release). May be NULL.
 */
typedef void (*crl_release_fn)(const unsigned char *p, size_t len, void *arg);
/*
 * Compares a new CRL with the last published one of the same stream by one merge walk over
 * both (entries are in serial order): an entry of old missing from new that may_drop does not
 * excuse refuses with SIGNET_E_POLICY naming the serial ("never lose an entry"); a new number not
 * above the old one refuses too. SIGNET_E_INVALID when either does not parse.
 */
enum signet_err crl_compare(const unsigned char *old_der, size_t old_len,
                            const unsigned char *new_der, size_t new_len, crl_may_drop_fn may_drop,
                            crl_release_fn release, void *arg, char *detail);

/* "name.crl" -> "name-delta.crl" / "name-shard-K.crl" (inserted before ".crl"). 1 = ok. */
int crl_url_variant(const char *url, const char *suffix, char *out, size_t cap);

#endif
