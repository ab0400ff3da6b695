/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one CSR parser: PEM or DER in, a verified X509_REQ out, nothing accepted that is not a
 * single, strictly DER-encoded PKCS#10 request (RFC 2986) consuming the whole input.
 *
 * OpenSSL's d2i accepts BER (indefinite and non-minimal lengths) and nests as deep as the input
 * goes inside attribute values, and its PEM reader ignores whatever follows the first block.
 * A CA that signs what it was given must not be lenient about what it was given, so the input
 * is walked first: every length definite and minimal, every element inside its parent, nesting
 * bounded.
 */
#include "internal.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>

#define CSR_MAX       (64u * 1024u) /* bytes, as ca's CA_CSR_MAX */
#define CSR_DEPTH_MAX 32            /* a real CSR nests about 8 deep */

/*
 * Checks that buf[0..len) is exactly one DER element (X.690 10.1: definite, minimal lengths),
 * recursing into constructed elements up to CSR_DEPTH_MAX. 1 = ok; otherwise 0 and why in
 * detail (a phrase the caller puts in its message).
 */
static int der_strict(const unsigned char *buf, size_t len, int depth, char *detail)
{
    size_t i = 0;

    if (depth > CSR_DEPTH_MAX) {
        sg_detail(detail, "ASN.1 nested deeper than %d levels", CSR_DEPTH_MAX);
        return 0;
    }
    while (i < len) {
        unsigned char tag = buf[i++];
        size_t clen = 0;

        if ((tag & 0x1f) == 0x1f) { /* high tag number: base-128, no leading 0x80 */
            if (i >= len || buf[i] == 0x80)
                goto bad;
            while (i < len && (buf[i] & 0x80))
                i++;
            if (i++ >= len)
                goto bad;
        }
        if (i >= len)
            goto bad;
        if (buf[i] < 0x80) {
            clen = buf[i++];
        } else {
            size_t n = buf[i++] & 0x7f;
            if (n == 0) {
                sg_detail(detail, "an indefinite length (BER, not DER: X.690 10.1)");
                return 0;
            }
            if (n > sizeof(size_t) - 1 || n > len - i || buf[i] == 0)
                goto nonminimal;
            for (size_t k = 0; k < n; k++)
                clen = clen << 8 | buf[i++];
            if (clen < 0x80)
                goto nonminimal;
        }
        if (clen > len - i)
            goto bad;
        if ((tag & 0x20) && !der_strict(buf + i, clen, depth + 1, detail))
            return 0;
        i += clen;
        if (depth == 0 && i != len) {
            sg_detail(detail, "%zu bytes follow the request", len - i);
            return 0;
        }
    }
    return 1;
nonminimal:
    sg_detail(detail, "a length not in its shortest form (BER, not DER: X.690 10.1)");
    return 0;
bad:
    sg_detail(detail, "an ASN.1 element runs past its end");
    return 0;
}

/*
 * The DER of a PEM CSR: exactly one CERTIFICATE REQUEST block, no headers, nothing but white
 * space after it. Caller frees *out with OPENSSL_free. 1 = ok.
 */
static int pem_block(const unsigned char *buf, size_t len, unsigned char **out, long *out_len,
                     char *detail)
{
    BIO *b = BIO_new_mem_buf(buf, (int)len);
    char *name = NULL, *header = NULL, *rest = NULL;
    unsigned char *data = NULL;
    long dlen = 0, nrest;
    int ok = 0;

    *out = NULL;
    if (b == NULL || !PEM_read_bio(b, &name, &header, &data, &dlen)) {
        sg_detail(detail, "CSR: not PEM");
        goto out;
    }
    if (strcmp(name, "CERTIFICATE REQUEST") != 0 && strcmp(name, "NEW CERTIFICATE REQUEST") != 0) {
        sg_detail(detail, "CSR: a PEM block labelled '%.40s', not CERTIFICATE REQUEST", name);
        goto out;
    }
    if (header[0] != '\0') {
        sg_detail(detail, "CSR: PEM headers are not allowed");
        goto out;
    }
    nrest = BIO_get_mem_data(b, &rest);
    for (long k = 0; k < nrest; k++) {
        if (rest[k] != ' ' && rest[k] != '\t' && rest[k] != '\r' && rest[k] != '\n') {
            sg_detail(detail, "CSR: data after the END CERTIFICATE REQUEST line; send one CSR");
            goto out;
        }
    }
    *out = data;
    *out_len = dlen;
    data = NULL;
    ok = 1;
out:
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    BIO_free(b);
    return ok;
}

enum signet_err policy_csr_parse(const unsigned char *buf, size_t len, X509_REQ **out, char *detail)
{
    X509_REQ *req = NULL;
    EVP_PKEY *pub;
    unsigned char *der = NULL;
    const unsigned char *p;
    long dlen = (long)len;
    char why[SIGNET_DETAIL_MAX] = "";
    enum signet_err rc = SIGNET_E_BADCSR;

    *out = NULL;
    if (len == 0 || len > CSR_MAX) {
        sg_detail(detail, "CSR: %zu bytes; a CSR is 1 to %u bytes", len, CSR_MAX);
        return SIGNET_E_BADCSR;
    }
    if (len > 11 && memcmp(buf, "-----BEGIN ", 11) == 0) {
        if (!pem_block(buf, len, &der, &dlen, detail))
            goto out;
        p = der;
    } else {
        p = buf;
    }
    if (dlen <= 0 || !der_strict(p, (size_t)dlen, 0, why)) {
        sg_detail(detail,
                  "CSR: not a PKCS#10 certificate request in DER: %s; make one with "
                  "`openssl req -new`",
                  dlen <= 0 ? "empty" : why);
        goto out;
    }
    {
        const unsigned char *q = p;
        if ((req = d2i_X509_REQ(NULL, &q, dlen)) == NULL || q != p + dlen) {
            sg_detail(detail, "CSR: not a PKCS#10 certificate request (PEM or DER); make one "
                              "with `openssl req -new`");
            goto out;
        }
    }
    if (X509_REQ_get_version(req) != X509_REQ_VERSION_1) {
        sg_detail(detail, "CSR: version %ld; RFC 2986 4.1 allows only version 0 (v1)",
                  X509_REQ_get_version(req));
        goto out;
    }
    if ((pub = X509_REQ_get0_pubkey(req)) == NULL || X509_REQ_verify(req, pub) != 1) {
        sg_detail(detail, "CSR: %s (no proof of possession, RFC 2986); make the CSR again",
                  pub ? "its signature does not verify with its own public key"
                      : "its public key does not parse");
        goto out;
    }
    *out = req;
    req = NULL;
    rc = SIGNET_OK;
out:
    ERR_clear_error();
    X509_REQ_free(req);
    OPENSSL_free(der);
    return rc;
}
