/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ca lint, private to lint.c and lint_ext.c: the certificate as spans into its DER and what
 * the lints decode from it, the finding collector, and the extension lints of lint_ext.c.
 */
#ifndef SIGNET_CA_LINT_H
#define SIGNET_CA_LINT_H

#include <openssl/x509v3.h>

#include "internal.h"

#define EXT_MAX     64  /* extensions read from one certificate */
#define SAN_CMP_MAX 512 /* names compared pairwise for duplicates */

/* One TLV read from DER. */
struct tlv {
    const unsigned char *start; /* the tag octet; NULL when absent */
    const unsigned char *val;
    size_t vlen;
    size_t total; /* tag, length and value octets */
    unsigned char tag;
    int len_minimal; /* the length used the fewest octets (X.690 10.1) */
};

struct ext {
    struct tlv oid;  /* the extnID OBJECT IDENTIFIER */
    struct tlv crit; /* the critical BOOLEAN, start NULL when absent */
    int nid;
    int critical;
    const unsigned char *val; /* extnValue's content */
    size_t vlen;
};

/* The certificate being linted: spans into its DER and what the lints decode from them. */
struct lc {
    struct tlv cert, tbs, version, serial, sigalg_in, issuer, validity, nb, na, subject, spki;
    struct tlv exts, sigalg_out; /* exts.start NULL: no [3] */
    struct ext ext[EXT_MAX];
    size_t next;
    X509 *issuer_cert;
    X509_NAME *subj;       /* decoded subject, or NULL */
    GENERAL_NAMES *san;    /* decoded SAN, or NULL */
    BASIC_CONSTRAINTS *bc; /* or NULL */
    ASN1_BIT_STRING *ku;   /* or NULL */
    EXTENDED_KEY_USAGE *eku;
    struct ca_lint_result *res;
    const char *cur; /* the running lint's name */
};

/* Adds a finding for the running lint; its message starts with the standard it cites. */
void ca_lint_add(struct lc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The first extension with nid, or NULL. */
const struct ext *ca_lint_ext_find(const struct lc *c, int nid);
/*
 * Decodes an extension value with OpenSSL's method for its type; NULL when there is none or
 * the value does not decode completely. Free with the method (*m) returned.
 */
void *ca_lint_ext_decode(const struct ext *e, const X509V3_EXT_METHOD **m);

/* The lints of lint_ext.c (each adds its findings to c). */
void ca_lint_ku_cert_sign_ca(struct lc *c);
void ca_lint_ca_cert_sign(struct lc *c);
void ca_lint_ca_bc_critical(struct lc *c);
void ca_lint_pathlen_ca(struct lc *c);
void ca_lint_ku_nonempty(struct lc *c);
void ca_lint_eku_ku(struct lc *c);
void ca_lint_san_empty(struct lc *c);
void ca_lint_san_criticality(struct lc *c);
void ca_lint_san_dns(struct lc *c);
void ca_lint_san_ip(struct lc *c);
void ca_lint_san_email(struct lc *c);
void ca_lint_san_uri(struct lc *c);
void ca_lint_san_duplicate(struct lc *c);
void ca_lint_ext_criticality(struct lc *c);
void ca_lint_ext_duplicate(struct lc *c);
void ca_lint_ext_unknown_critical(struct lc *c);
void ca_lint_ext_decodes(struct lc *c);
void ca_lint_cn_in_san(struct lc *c);

#endif
