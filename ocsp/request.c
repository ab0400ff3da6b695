/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OCSP requests: the bounded parser of RFC 6960 4.1, the GET URL decoding of RFC 6960 A.1 (as
 * clients really send it), the constant error responses and the issuer hashes of a CertID.
 */
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <string.h>

#include "internal.h"

/* Copies a CertID serial as unsigned octets; serial_len 0 when it cannot be one of Signet's. */
static void copy_serial(const ASN1_INTEGER *ai, struct ocsp_certid *id)
{
    const unsigned char *d = ASN1_STRING_get0_data(ai);
    size_t n = (size_t)ASN1_STRING_length(ai);

    id->serial_len = 0;
    if (ASN1_STRING_type(ai) == V_ASN1_NEG_INTEGER || d == NULL)
        return;
    while (n > 0 && d[0] == 0) {
        d++;
        n--;
    }
    if (n == 0 || n > STORE_SERIAL_MAX)
        return;
    memcpy(id->serial, d, n);
    id->serial_len = n;
}

/* Reads one CertID. 1 = ok; 0 = malformed or a hash Signet does not answer for. */
static int read_certid(OCSP_ONEREQ *one, struct ocsp_certid *id, size_t i, char *detail)
{
    ASN1_OCTET_STRING *nh = NULL, *kh = NULL;
    ASN1_OBJECT *md = NULL;
    ASN1_INTEGER *serial = NULL;
    OCSP_CERTID *cid = OCSP_onereq_get0_id(one);
    int nid;

    if (cid == NULL || !OCSP_id_get0_info(&nh, &md, &kh, &serial, cid) || nh == NULL ||
        kh == NULL || md == NULL || serial == NULL) {
        sg_detail(detail, "request entry %zu: CertID incomplete", i);
        return 0;
    }
    nid = OBJ_obj2nid(md);
    if (nid == NID_sha1) {
        id->hash = STORE_OCSP_SHA1;
        id->hash_len = 20;
    } else if (nid == NID_sha256) {
        id->hash = STORE_OCSP_SHA256;
        id->hash_len = 32;
    } else {
        sg_detail(detail, "request entry %zu: CertID hash %s is not SHA-1 or SHA-256", i,
                  nid != NID_undef ? OBJ_nid2sn(nid) : "(unknown)");
        return 0;
    }
    if ((size_t)ASN1_STRING_length(nh) != id->hash_len ||
        (size_t)ASN1_STRING_length(kh) != id->hash_len) {
        sg_detail(detail, "request entry %zu: issuer hashes are not %zu octets", i, id->hash_len);
        return 0;
    }
    memcpy(id->name_hash, ASN1_STRING_get0_data(nh), id->hash_len);
    memcpy(id->key_hash, ASN1_STRING_get0_data(kh), id->hash_len);
    copy_serial(serial, id);
    return 1;
}

/* Reads the nonce extension (RFC 9654: an OCTET STRING of 1..32 octets inside extnValue). */
static void read_nonce(OCSP_REQUEST *req, struct ocsp_request *out)
{
    int idx = OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce, -1);
    X509_EXTENSION *ext = idx >= 0 ? OCSP_REQUEST_get_ext(req, idx) : NULL;
    ASN1_OCTET_STRING *v = ext ? X509_EXTENSION_get_data(ext) : NULL;
    const unsigned char *p, *c;
    size_t left, clen;
    unsigned char tag;

    out->nonce_state = OCSP_NONCE_NONE;
    if (idx < 0)
        return;
    out->nonce_state = OCSP_NONCE_BAD;
    if (v == NULL || OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce, idx) >= 0)
        return; /* twice is as bad as wrong */
    p = ASN1_STRING_get0_data(v);
    left = (size_t)ASN1_STRING_length(v);
    if (!ocsp_der_next(&p, &left, &tag, &c, &clen) || tag != 0x04 || left != 0 || clen == 0 ||
        clen > OCSP_NONCE_MAX)
        return;
    memcpy(out->nonce, c, clen);
    out->nonce_len = clen;
    out->nonce_state = OCSP_NONCE_OK;
}

enum ocsp_resp_status ocsp_request_parse(const unsigned char *der, size_t len, size_t list_max,
                                         struct ocsp_request *out, char *detail)
{
    const unsigned char *p = der;
    OCSP_REQUEST *req = NULL;
    enum ocsp_resp_status st = OCSP_RS_MALFORMED;
    int n;

    memset(out, 0, sizeof(*out));
    if (list_max < 1)
        list_max = 1;
    if (list_max > OCSP_LIST_MAX)
        list_max = OCSP_LIST_MAX;
    if (der == NULL || len == 0 || len > OCSP_REQ_MAX) {
        sg_detail(detail, "request: empty or over %u bytes", OCSP_REQ_MAX);
        return st;
    }
    if ((req = d2i_OCSP_REQUEST(NULL, &p, (long)len)) == NULL) {
        sg_detail(detail, "request: not a DER OCSPRequest");
        goto out;
    }
    if (p != der + len) {
        sg_detail(detail, "request: %zu bytes after the OCSPRequest", (size_t)(der + len - p));
        goto out;
    }
    n = OCSP_request_onereq_count(req);
    if (n < 1 || (size_t)n > list_max) {
        sg_detail(detail, "request: %d CertIDs; 1 to %zu are answered", n, list_max);
        goto out;
    }
    for (int i = 0; i < n; i++)
        if (!read_certid(OCSP_request_onereq_get0(req, i), &out->id[i], (size_t)i, detail))
            goto out;
    out->n = (size_t)n;
    out->was_signed = OCSP_request_is_signed(req);
    read_nonce(req, out);
    st = OCSP_RS_SUCCESSFUL;
out:
    ERR_clear_error();
    OCSP_REQUEST_free(req);
    return st;
}

/* OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED } without responseBytes. */
static const unsigned char err_der[7][5] = {
    {0x30, 0x03, 0x0a, 0x01, 0x00}, {0x30, 0x03, 0x0a, 0x01, 0x01}, {0x30, 0x03, 0x0a, 0x01, 0x02},
    {0x30, 0x03, 0x0a, 0x01, 0x03}, {0x30, 0x03, 0x0a, 0x01, 0x04}, {0x30, 0x03, 0x0a, 0x01, 0x05},
    {0x30, 0x03, 0x0a, 0x01, 0x06}};

const unsigned char *ocsp_error_der(enum ocsp_resp_status st, size_t *out_len)
{
    if ((int)st <= 0 || (int)st > 6 || st == 4)
        st = OCSP_RS_INTERNAL;
    *out_len = sizeof(err_der[0]);
    return err_der[st];
}

/* The value of a base64 character (standard or URL-safe; ' ' is a '+' a form decoder made). */
static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-' || c == ' ')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

static int hex_val(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int ocsp_get_decode(const char *path, size_t len, unsigned char *out, size_t cap, size_t *out_len)
{
    uint32_t acc = 0;
    size_t bits = 0, n = 0, pad = 0;

    *out_len = 0;
    while (len > 0 && path[0] == '/') {
        path++;
        len--;
    }
    if (len == 0 || len > 3 * 4 * (OCSP_GET_MAX / 3 + 1))
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)path[i];
        int v;
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= len || (hi = hex_val((unsigned char)path[i + 1])) < 0 ||
                (lo = hex_val((unsigned char)path[i + 2])) < 0)
                return 0;
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        if (c == '=') {
            pad++;
            continue;
        }
        if (pad > 0 || (v = b64_val(c)) < 0)
            return 0; /* data after padding, or not base64 */
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n >= cap)
                return 0;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    /* leftover bits must be fewer than a byte and zero; padding at most two */
    if (bits >= 6 || pad > 2 || (acc & ((1u << bits) - 1)) != 0 || n == 0)
        return 0;
    *out_len = n;
    return 1;
}

int ocsp_issuer_hashes(X509 *issuer, enum store_ocsp_hash hash, unsigned char name[OCSP_HASH_MAX],
                       unsigned char key[OCSP_HASH_MAX])
{
    const EVP_MD *md = hash == STORE_OCSP_SHA256 ? EVP_sha256() : EVP_sha1();
    unsigned char *der = NULL;
    unsigned int n = 0;
    int len = i2d_X509_NAME(X509_get_subject_name(issuer), &der), ok;

    ok = len > 0 && EVP_Digest(der, (size_t)len, name, &n, md, NULL) == 1 &&
         X509_pubkey_digest(issuer, md, key, &n) == 1;
    OPENSSL_free(der);
    return ok;
}
