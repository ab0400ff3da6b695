/* SPDX-License-Identifier: Apache-2.0 */
/* crl internals: the DER writer and reader shared by the builder, the lint and the reader. */
#ifndef SIGNET_CRL_INTERNAL_H
#define SIGNET_CRL_INTERNAL_H

#include "crl.h"

/* A growing output buffer; err is set on allocation failure and checked once at the end. */
struct crl_buf {
    unsigned char *p;
    size_t len;
    size_t cap;
    size_t mapped; /* bytes from p known mapped (prefaulted or written) */
    int err;
};

/* Makes room for n more bytes and returns where they go (NULL and err set on failure). */
unsigned char *crl_buf_room(struct crl_buf *b, size_t n);
void crl_buf_put(struct crl_buf *b, const void *p, size_t n);
/* Gives an empty buffer room for cap bytes at once (a hint: it still grows past cap). */
void crl_buf_reserve(struct crl_buf *b, size_t cap);
/* Encodes a DER header (tag, definite length) into out (6 bytes); returns its length. */
size_t crl_der_hdr(unsigned char *out, unsigned tag, size_t len);
/* Appends a whole TLV. */
void crl_buf_tlv(struct crl_buf *b, unsigned tag, const void *p, size_t n);
/* Encodes a non-negative INTEGER from unsigned big-endian octets into out (n + 1 bytes). */
size_t crl_der_uint(unsigned char *out, const unsigned char *mag, size_t n);
size_t crl_der_u64(unsigned char *out, uint64_t v); /* INTEGER content only */
/* UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 5.1.2.4): whole TLV into out. */
size_t crl_der_time(unsigned char *out, int64_t t);
size_t crl_der_gentime(unsigned char *out, int64_t t); /* always GeneralizedTime */

/* A bounded DER reader. */
struct crl_der {
    const unsigned char *p;
    size_t left;
};

/*
 * Reads one TLV with definite minimal length: *tag, the content (*c, *clen) and the whole
 * element (*whole, *wlen when not NULL). 1 = ok, 0 = malformed or past the end.
 */
int crl_der_next(struct crl_der *d, unsigned *tag, const unsigned char **c, size_t *clen,
                 const unsigned char **whole, size_t *wlen);
/* Time (UTCTime or GeneralizedTime content) to seconds. 1 = ok. */
int crl_der_time_read(unsigned tag, const unsigned char *c, size_t n, int64_t *out);
/* The tag and DER of the signature AlgorithmIdentifier for a key (static). NULL when unknown. */
const unsigned char *crl_sig_alg(EVP_PKEY *key, size_t *out_len, const EVP_MD **out_md);

/* The TBSCertList's parts, located by crl_parse (pointers into the DER). */
struct crl_parts {
    const unsigned char *tbs;
    size_t tbs_len;
    const unsigned char *alg; /* outer signatureAlgorithm, whole TLV */
    size_t alg_len;
    const unsigned char *sig; /* BIT STRING content after the unused-bits octet */
    size_t sig_len;
    int version_present;
    uint64_t version;
    const unsigned char *tbs_alg;
    size_t tbs_alg_len;
    const unsigned char *issuer; /* whole Name TLV */
    size_t issuer_len;
    unsigned this_tag, next_tag;
    int64_t this_update, next_update; /* next_update 0 when absent */
    int has_next;
    const unsigned char *entries; /* content of revokedCertificates; NULL when absent */
    size_t entries_len;
    const unsigned char *exts; /* content of the SEQUENCE inside [0]; NULL when absent */
    size_t exts_len;
};
/* Splits a CertificateList into its parts. 1 = ok. */
int crl_parse(const unsigned char *der, size_t len, struct crl_parts *out);

/* One Extension (RFC 5280 4.1): OID content, criticality, extnValue content. 1 = ok. */
struct crl_ext {
    const unsigned char *oid;
    size_t oid_len;
    int critical;
    int critical_explicit_false; /* DER forbids encoding the default */
    const unsigned char *val;
    size_t val_len;
};
int crl_ext_next(struct crl_der *d, struct crl_ext *out);
/* 1 when the extension's OID is 2.5.29.N. */
int crl_ext_is(const struct crl_ext *e, unsigned n);

/* One revokedCertificates entry. */
struct crl_entry {
    const unsigned char *serial; /* INTEGER content */
    size_t serial_len;
    unsigned date_tag;
    int64_t date;
    const unsigned char *exts; /* crlEntryExtensions content; NULL when absent */
    size_t exts_len;
};
int crl_entry_next(struct crl_der *d, struct crl_entry *out);
/* Compares two INTEGER contents as unsigned magnitudes: <0, 0, >0. */
int crl_serial_cmp(const unsigned char *a, size_t an, const unsigned char *b, size_t bn);

/* The document's buffer and offsets, for sign.c (the struct itself is build.c's). */
struct crl_doc_view {
    struct crl_buf *b;
    size_t *tbs_off, *tbs_end, *der_off;
    EVP_PKEY *pub;
    unsigned char *dg; /* the TBS's digest, EVP_MAX_MD_SIZE bytes of room */
    size_t *dg_len;    /* 0 until computed */
};
void crl_doc_view(struct crl_doc *d, struct crl_doc_view *v);

#endif
