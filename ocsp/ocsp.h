/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ocsp: OCSP request parsing (RFC 6960, bounded), response building and signing through
 * hsmbind, for pre-signed responses. Knows nothing of HTTP or of CRLs.
 *
 * Choices (docs/ocsp.md): a request carries 1..list_max CertIDs (1 by default, RFC 5019 2.1.1);
 * a CertID hashed with anything but SHA-1 or SHA-256 (MD5, ...) makes the whole request
 * malformedRequest (a signed "unknown" would need the HSM on the web path); a request signature
 * is never checked, so a broken one is the same as none; a nonce is read (RFC 9654: 1..32
 * octets) and only used when live nonce mode is on. Responses are encoded here in DER (version
 * v1, responderID byKey, one SingleResponse, GeneralizedTime without fractions), signed once
 * with a throwaway key for the lints and, only when they find nothing, with the responder key.
 */
#ifndef SIGNET_OCSP_H
#define SIGNET_OCSP_H

#include <openssl/x509.h>

#include "common.h"
#include "hsmbind.h"
#include "store.h"

#define OCSP_REQ_MAX       (64u * 1024u) /* bytes of a request (POST body) */
#define OCSP_GET_MAX       4096u         /* bytes of a request decoded from a GET URL */
#define OCSP_LIST_DEFAULT  1             /* CertIDs per request (RFC 5019) */
#define OCSP_LIST_MAX      8             /* the most a configuration may allow */
#define OCSP_NONCE_MAX     32            /* RFC 9654 */
#define OCSP_HASH_MAX      32            /* SHA-256 */
#define OCSP_VALIDITY_MIN  (8 * 3600)    /* seconds: the shortest configurable validity */
#define OCSP_VALIDITY_MAX  (10 * 86400)  /* the longest */
#define OCSP_VALIDITY_DEF  86400         /* default: 1 day, refreshed at half (RFC 5019 6) */
#define OCSP_LINT_FINDINGS 16

/* OCSPResponseStatus (RFC 6960 4.2.1). */
enum ocsp_resp_status {
    OCSP_RS_SUCCESSFUL = 0,
    OCSP_RS_MALFORMED = 1,
    OCSP_RS_INTERNAL = 2,
    OCSP_RS_TRYLATER = 3,
    OCSP_RS_SIGREQUIRED = 5,
    OCSP_RS_UNAUTHORIZED = 6
};
/* CertStatus (RFC 6960 4.2.1). */
enum ocsp_cert_status { OCSP_CS_GOOD = 0, OCSP_CS_REVOKED = 1, OCSP_CS_UNKNOWN = 2 };
enum ocsp_nonce_state { OCSP_NONCE_NONE = 0, OCSP_NONCE_OK, OCSP_NONCE_BAD };

struct ocsp_certid {
    enum store_ocsp_hash hash; /* SHA-1 or SHA-256 */
    size_t hash_len;           /* 20 or 32 */
    unsigned char name_hash[OCSP_HASH_MAX];
    unsigned char key_hash[OCSP_HASH_MAX];
    unsigned char serial[STORE_SERIAL_MAX]; /* unsigned big-endian, no leading zero octet */
    size_t serial_len; /* 0: negative, zero or longer than 20 octets (never issued by Signet) */
};

struct ocsp_request {
    size_t n;
    struct ocsp_certid id[OCSP_LIST_MAX];
    enum ocsp_nonce_state nonce_state;
    unsigned char nonce[OCSP_NONCE_MAX];
    size_t nonce_len;
    int was_signed; /* it carried a signature (never checked) */
};

/*
 * Parses an OCSPRequest (DER, at most OCSP_REQ_MAX bytes, nothing after it) with 1..list_max
 * CertIDs (list_max is clamped to 1..OCSP_LIST_MAX). Returns OCSP_RS_SUCCESSFUL with *out
 * filled, or OCSP_RS_MALFORMED with detail saying why.
 */
enum ocsp_resp_status ocsp_request_parse(const unsigned char *der, size_t len, size_t list_max,
                                         struct ocsp_request *out, char *detail);

/* The constant DER of an unsigned error response (status other than SUCCESSFUL). */
const unsigned char *ocsp_error_der(enum ocsp_resp_status st, size_t *out_len);

/*
 * Decodes the {base64} of GET /ocsp/{base64}: leading slashes dropped, %XX escapes decoded,
 * a space read as '+', URL-safe '-' and '_' read as '+' and '/', padding optional. Writes at
 * most cap bytes. 1 = ok.
 */
int ocsp_get_decode(const char *path, size_t len, unsigned char *out, size_t cap, size_t *out_len);

/* issuerNameHash and issuerKeyHash of a CA certificate for one hash. 1 = ok. */
int ocsp_issuer_hashes(X509 *issuer, enum store_ocsp_hash hash, unsigned char name[OCSP_HASH_MAX],
                       unsigned char key[OCSP_HASH_MAX]);

/* What one response says. */
struct ocsp_single {
    enum store_ocsp_hash hash;
    X509 *issuer;
    const unsigned char *serial; /* unsigned big-endian */
    size_t serial_len;
    enum ocsp_cert_status status;
    int64_t revoked_at; /* revoked only */
    int reason;         /* CRLReason, -1 none (revoked only) */
    int64_t produced_at, this_update, next_update;
    const unsigned char *nonce; /* echoed when nonce_len > 0 */
    size_t nonce_len;
};

struct ocsp_lint_result {
    size_t n;
    char msg[OCSP_LINT_FINDINGS][192];
};

/*
 * Lints a response (DER) against what it must say: the DER structure walked, nothing after it;
 * status successful, basic type; the BasicOCSPResponse without its certs read back by OpenSSL
 * (the certificate is checked by its bytes, not parsed); version v1 and responderID byKey equal
 * to the responder key's SHA-1; producedAt, thisUpdate and nextUpdate GeneralizedTime
 * "YYYYMMDDHHMMSSZ", thisUpdate <= producedAt, nextUpdate - thisUpdate within
 * OCSP_VALIDITY_MIN..MAX; one SingleResponse whose CertID uses SHA-1 or SHA-256 with the issuer's
 * hashes and the serial; status, revocation time and reason consistent; signatureAlgorithm the
 * one of signer_pub and the signature verifies with it; certs holds exactly the responder
 * certificate, byte for byte; the responder certificate valid from producedAt to nextUpdate and
 * the issuer's at producedAt; the responder certificate's own lints (ocsp_lint_responder).
 * Returns the number of findings (0 = clean).
 */
size_t ocsp_lint(const unsigned char *der, size_t len, const struct ocsp_single *want,
                 X509 *responder, EVP_PKEY *signer_pub, struct ocsp_lint_result *res);
/*
 * The responder certificate's own lints (part of ocsp_lint): EKU id-kp-OCSPSigning only,
 * id-pkix-ocsp-nocheck, KU digitalSignature, not a CA, issued and signed by issuer, at most 31
 * days long. They depend on the two certificates alone: a pair that passed is remembered by
 * content (the last few pairs, thread-safe) and not linted again. Returns the number of findings
 * added to res.
 */
size_t ocsp_lint_responder(X509 *responder, X509 *issuer, struct ocsp_lint_result *res);

/*
 * Builds a response: encodes tbsResponseData, signs it with throwaway (a key of the responder
 * key's type) and lints it (ocsp_lint); any finding refuses with SIGNET_E_LINT (logged). Then
 * signs the same bytes with key (the responder's token key as an EVP_PKEY) and checks that the
 * result is the linted response but for the signature, which must verify with the responder
 * certificate's key (SIGNET_E_LINT otherwise: a token key that is not the certificate's). The
 * first response of a responder certificate and issuer pair is also checked with
 * OCSP_basic_verify against the issuer (SIGNET_E_HSM when it fails). *out (caller frees with
 * free) holds the OCSPResponse DER.
 */
enum signet_err ocsp_response_make(const struct ocsp_single *s, X509 *responder, EVP_PKEY *key,
                                   EVP_PKEY *throwaway, unsigned char **out, size_t *out_len,
                                   char *detail);

/* Where a response stands at now: fresh, overdue (past half its validity: re-sign it) or stale
 * (at or past nextUpdate: never served as fresh). */
enum ocsp_freshness { OCSP_FRESH = 0, OCSP_OVERDUE = 1, OCSP_STALE = 2 };
enum ocsp_freshness ocsp_freshness(int64_t now, int64_t this_update, int64_t next_update);

#endif
