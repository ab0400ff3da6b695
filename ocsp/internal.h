/* SPDX-License-Identifier: Apache-2.0 */
/* ocsp internals: a small DER writer and reader used by the response encoder and the lints. */
#ifndef SIGNET_OCSP_INTERNAL_H
#define SIGNET_OCSP_INTERNAL_H

#include "ocsp.h"

/* A growable DER buffer; err is set on allocation failure or overflow and checked at the end. */
struct ocsp_buf {
    unsigned char *p;
    size_t len, cap;
    int err;
};

void ocsp_buf_free(struct ocsp_buf *b);
void ocsp_buf_add(struct ocsp_buf *b, const void *data, size_t len);
/* Appends tag, length and content. */
void ocsp_buf_tlv(struct ocsp_buf *b, unsigned char tag, const void *data, size_t len);
/* Appends tag and length of inner, then inner's bytes; frees inner. */
void ocsp_buf_wrap(struct ocsp_buf *b, unsigned char tag, struct ocsp_buf *inner);
/* A GeneralizedTime "YYYYMMDDHHMMSSZ". */
void ocsp_buf_time(struct ocsp_buf *b, int64_t t);
/* An INTEGER from unsigned big-endian octets (a zero octet prepended when the top bit is set). */
void ocsp_buf_uint(struct ocsp_buf *b, const unsigned char *v, size_t len);

/*
 * Reads one DER element at *p (left bytes): definite, minimal-enough lengths only. Sets tag,
 * content and its length, advances *p past the element. 1 = ok.
 */
int ocsp_der_next(const unsigned char **p, size_t *left, unsigned char *tag,
                  const unsigned char **content, size_t *clen);

/* The SHA-1 of a certificate's subjectPublicKey bits (ResponderID byKey). 1 = ok. */
int ocsp_key_hash(X509 *cert, unsigned char out[20]);

/* The DER of id-pkix-ocsp-basic (RFC 6960 4.2.1), OBJECT IDENTIFIER tag and length included. */
extern const unsigned char ocsp_oid_basic[11];

/*
 * The digest and signature AlgorithmIdentifier DER Signet uses with key (response.c): *alg is
 * NULL when the key type is not one Signet uses; the digest is NULL for Ed25519.
 */
const EVP_MD *ocsp_sig_alg(EVP_PKEY *key, const unsigned char **alg, size_t *alg_len);

/* Spans of an OCSPResponse's DER (pointers into it). */
struct ocsp_parts {
    const unsigned char *tbs; /* tbsResponseData, the whole element */
    size_t tbs_len;
    const unsigned char *alg; /* signatureAlgorithm, the whole element */
    size_t alg_len;
    const unsigned char *sig; /* the signature octets (after the unused-bits octet) */
    size_t sig_len;
    size_t signed_len;          /* from tbs to the end of the signature BIT STRING */
    const unsigned char *certs; /* content of certs' SEQUENCE OF; NULL when absent */
    size_t certs_len;
};

/*
 * Walks an OCSPResponse: SEQUENCE { responseStatus, [0] { SEQUENCE { responseType, OCTET STRING
 * { BasicOCSPResponse } } } }, definite lengths, nothing after any element, the signature with 0
 * unused bits (lint.c). Returns 1 with *out filled, -1 when the status is not successful or the
 * type not id-pkix-ocsp-basic, 0 when it is not that structure.
 */
int ocsp_response_split(const unsigned char *der, size_t len, struct ocsp_parts *out);

/*
 * The token-signed response real against the trial that ocsp_lint passed (lint.c): the same but
 * for the signature octets, and the signature verifies over tbsResponseData with the responder
 * certificate's key. Returns the number of findings (res is reset first).
 */
size_t ocsp_lint_token(const unsigned char *trial, size_t trial_len, const unsigned char *real,
                       size_t real_len, X509 *responder, struct ocsp_lint_result *res);

/* Pairs (responder certificate, issuer) that passed a check, by content (seen.c). */
#define OCSP_SEEN_LINT 1u /* ocsp_lint_responder found nothing */
#define OCSP_SEEN_RP   2u /* a response verified with OCSP_basic_verify against the issuer */

/* 1 when the pair passed every check in what. Thread-safe. */
int ocsp_seen(X509 *responder, X509 *issuer, unsigned what);
/* Remembers that the pair passed the checks in what. Thread-safe. */
void ocsp_seen_add(X509 *responder, X509 *issuer, unsigned what);

#endif
