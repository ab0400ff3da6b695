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

#endif
