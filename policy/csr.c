/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one CSR parser: PEM or DER in, a verified struct policy_csr out, nothing accepted that is
 * not a single, strictly DER-encoded PKCS#10 request (RFC 2986) consuming the whole input.
 *
 * OpenSSL's d2i accepts BER (indefinite and non-minimal lengths) and nests as deep as the input
 * goes inside attribute values, and its PEM reader ignores whatever follows the first block.
 * A CA that signs what it was given must not be lenient about what it was given, so the input
 * is walked first: every length definite and minimal, every element inside its parent, nesting
 * bounded.
 *
 * The request is read with templates of its own rather than d2i_X509_REQ: OpenSSL 3.0 decodes
 * the public key inside d2i_X509_REQ by building a decoder context over every provider's
 * decoders, under a global lock (~86 us a key here, a seventh of an issuance's CPU). EC keys on
 * a named curve and Ed25519 keys are imported from their parameters instead (~15 us); any other
 * key goes through the general decoder as before. The self-signature is checked over the
 * request info's bytes as received (the template keeps them, as X509_REQ_INFO does).
 */
#include "internal.h"

#include <openssl/asn1t.h>
#include <openssl/core_names.h>
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

/* OpenSSL's template macros, as OpenSSL lays them out */
/* clang-format off */

/* SubjectPublicKeyInfo, RFC 5280 4.1: read without decoding the key. */
typedef struct {
    X509_ALGOR *alg;
    ASN1_BIT_STRING *bits;
} SG_SPKI;

ASN1_SEQUENCE(SG_SPKI) =
    {
        ASN1_SIMPLE(SG_SPKI, alg, X509_ALGOR),
        ASN1_SIMPLE(SG_SPKI, bits, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(SG_SPKI)

    /* CertificationRequestInfo, RFC 2986 4.1, its received encoding kept for the signature. */
    typedef struct {
    ASN1_ENCODING enc;
    ASN1_INTEGER *version;
    X509_NAME *subject;
    SG_SPKI *spki;
    STACK_OF(X509_ATTRIBUTE) * attrs;
} SG_CSR_INFO;

/* attributes are not OPTIONAL in RFC 2986, but OpenSSL accepts their absence; so does Signet */
ASN1_SEQUENCE_enc(SG_CSR_INFO, enc, 0) =
    {
        ASN1_SIMPLE(SG_CSR_INFO, version, ASN1_INTEGER),
        ASN1_SIMPLE(SG_CSR_INFO, subject, X509_NAME),
        ASN1_SIMPLE(SG_CSR_INFO, spki, SG_SPKI),
        ASN1_IMP_SET_OF_OPT(SG_CSR_INFO, attrs, X509_ATTRIBUTE, 0),
} static_ASN1_SEQUENCE_END_ref(SG_CSR_INFO, SG_CSR_INFO)

    /* CertificationRequest, RFC 2986 4.2. */
    typedef struct {
    SG_CSR_INFO *info;
    X509_ALGOR *sig_alg;
    ASN1_BIT_STRING *sig;
} SG_CSR;

ASN1_SEQUENCE(SG_CSR) =
    {
        ASN1_SIMPLE(SG_CSR, info, SG_CSR_INFO),
        ASN1_SIMPLE(SG_CSR, sig_alg, X509_ALGOR),
        ASN1_SIMPLE(SG_CSR, sig, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(SG_CSR)

    /* clang-format on */

    /* An EC public key on a named curve, imported from its parameters. NULL when it is not one. */
    static EVP_PKEY
    * ec_named(const SG_SPKI *spki, int curve_nid)
{
    const char *curve = OSSL_EC_curve_nid2name(curve_nid);
    OSSL_PARAM params[3];
    EVP_PKEY_CTX *pctx = NULL;
    EVP_PKEY *pk = NULL;

    if (curve == NULL)
        return NULL;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)curve, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, spki->bits->data,
                                                  (size_t)spki->bits->length);
    params[2] = OSSL_PARAM_construct_end();
    if ((pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
        EVP_PKEY_fromdata_init(pctx) != 1 ||
        EVP_PKEY_fromdata(pctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pk = NULL;
    EVP_PKEY_CTX_free(pctx);
    return pk;
}

/*
 * The public key of the SubjectPublicKeyInfo: EC on a named curve and Ed25519 imported from
 * their parameters, anything else through OpenSSL's decoder. The algorithm's parameters must be
 * what its RFC says (OpenSSL's decoders ignore some, and a certificate must not carry them).
 * NULL with why (a phrase) when the key is not acceptable.
 */
static EVP_PKEY *spki_key(SG_SPKI *spki, char *why)
{
    int nid = OBJ_obj2nid(spki->alg->algorithm), ptype;
    const ASN1_OBJECT *aobj;
    const void *pval;
    unsigned char *der = NULL;
    const unsigned char *p;
    int len;
    EVP_PKEY *pk = NULL;

    X509_ALGOR_get0(&aobj, &ptype, &pval, spki->alg);
    /* a key is whole octets: no unused bits in its BIT STRING */
    if ((spki->bits->flags & ASN1_STRING_FLAG_BITS_LEFT) && (spki->bits->flags & 0x07)) {
        sg_detail(why, "its public key BIT STRING has unused bits");
        return NULL;
    }
    switch (nid) {
    case NID_rsaEncryption:
        if (ptype != V_ASN1_NULL) {
            sg_detail(why, "rsaEncryption parameters must be NULL (RFC 3279 2.3.1)");
            return NULL;
        }
        break;
    case NID_X9_62_id_ecPublicKey:
        if (ptype != V_ASN1_OBJECT && ptype != V_ASN1_SEQUENCE) {
            sg_detail(why, "id-ecPublicKey parameters must name the curve (RFC 5480 2.1.1)");
            return NULL;
        }
        if (spki->bits->length < 2 || spki->bits->data[0] == 0x00) {
            sg_detail(why, "its EC point is the point at infinity, not a public key");
            return NULL;
        }
        if (ptype == V_ASN1_OBJECT && (pk = ec_named(spki, OBJ_obj2nid(pval))) != NULL)
            return pk;
        break; /* explicit parameters or an unknown curve: the decoder, then policy, judge */
    case NID_ED25519:
    case NID_ED448:
        if (ptype != V_ASN1_UNDEF) {
            sg_detail(why, "EdDSA key parameters must be absent (RFC 8410 3)");
            return NULL;
        }
        if (nid == NID_ED25519)
            pk = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, spki->bits->data,
                                                (size_t)spki->bits->length);
        if (pk != NULL)
            return pk;
        break;
    default:
        if (ptype == V_ASN1_BOOLEAN) { /* no key algorithm has a BOOLEAN parameter */
            sg_detail(why, "its key algorithm has a BOOLEAN parameter");
            return NULL;
        }
    }
    if ((len = ASN1_item_i2d((ASN1_VALUE *)spki, &der, ASN1_ITEM_rptr(SG_SPKI))) > 0) {
        p = der;
        pk = d2i_PUBKEY(NULL, &p, len);
    }
    OPENSSL_free(der);
    if (pk == NULL)
        sg_detail(why, "its public key does not parse");
    return pk;
}

void policy_csr_free(struct policy_csr *c)
{
    if (c == NULL)
        return;
    X509_NAME_free(c->subject);
    EVP_PKEY_free(c->pub);
    X509_ALGOR_free(c->sig_alg);
    OPENSSL_free(c->spki_der);
    X509_ALGOR_free(c->spki_alg);
    ASN1_BIT_STRING_free(c->spki_bits);
    sk_X509_ATTRIBUTE_pop_free(c->attrs, X509_ATTRIBUTE_free);
    OPENSSL_free(c->der);
    free(c);
}

EVP_PKEY *policy_csr_key(const struct policy_csr *c)
{
    return c->pub;
}

const X509_NAME *policy_csr_subject(const struct policy_csr *c)
{
    return c->subject;
}

const unsigned char *policy_csr_der(const struct policy_csr *c, size_t *len)
{
    *len = c->der_len;
    return c->der;
}

int policy_csr_copy_spki(const struct policy_csr *c, X509 *cert)
{
    X509_PUBKEY *dst = X509_get_X509_PUBKEY(cert);
    const ASN1_OBJECT *aobj = NULL;
    const void *pval = NULL;
    ASN1_OBJECT *obj = NULL;
    void *val = NULL;
    unsigned char *enc = NULL;
    int ptype = V_ASN1_UNDEF, len = c->spki_bits->length;

    X509_ALGOR_get0(&aobj, &ptype, &pval, c->spki_alg);
    if (dst == NULL || len <= 0 || ptype == V_ASN1_BOOLEAN || (obj = OBJ_dup(aobj)) == NULL ||
        (enc = OPENSSL_memdup(c->spki_bits->data, (size_t)len)) == NULL)
        goto fail;
    if (ptype == V_ASN1_OBJECT)
        val = OBJ_dup(pval);
    else if (ptype != V_ASN1_UNDEF && ptype != V_ASN1_NULL)
        val = ASN1_STRING_dup(pval);
    if (ptype != V_ASN1_UNDEF && ptype != V_ASN1_NULL && val == NULL)
        goto fail;
    if (X509_PUBKEY_set0_param(dst, obj, ptype, val, enc, len))
        return 1;
fail:
    ASN1_OBJECT_free(obj);
    if (ptype == V_ASN1_OBJECT)
        ASN1_OBJECT_free(val);
    else
        ASN1_STRING_free(val);
    OPENSSL_free(enc);
    return 0;
}

enum signet_err policy_csr_parse(const unsigned char *buf, size_t len, struct policy_csr **out,
                                 char *detail)
{
    SG_CSR *req = NULL;
    struct policy_csr *c = NULL;
    unsigned char *der = NULL;
    const unsigned char *p;
    long dlen = (long)len;
    int slen;
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
        req = (SG_CSR *)ASN1_item_d2i(NULL, &q, dlen, ASN1_ITEM_rptr(SG_CSR));
        if (req == NULL || q != p + dlen) {
            sg_detail(detail, "CSR: not a PKCS#10 certificate request (PEM or DER); make one "
                              "with `openssl req -new`");
            goto out;
        }
    }
    if (ASN1_INTEGER_get(req->info->version) != X509_REQ_VERSION_1) {
        sg_detail(detail, "CSR: version %ld; RFC 2986 4.1 allows only version 0 (v1)",
                  ASN1_INTEGER_get(req->info->version));
        goto out;
    }
    rc = SIGNET_E_NOMEM;
    if ((c = calloc(1, sizeof(*c))) == NULL || (c->der = OPENSSL_memdup(p, (size_t)dlen)) == NULL)
        goto out;
    c->der_len = (size_t)dlen;
    rc = SIGNET_E_BADCSR;
    if ((c->pub = spki_key(req->info->spki, why)) == NULL) {
        sg_detail(detail, "CSR: %s; make the CSR again with a supported key", why);
        goto out;
    }
    if (ASN1_item_verify(ASN1_ITEM_rptr(SG_CSR_INFO), req->sig_alg, req->sig, req->info, c->pub) !=
        1) {
        sg_detail(detail, "CSR: its signature does not verify with its own public key (no proof "
                          "of possession, RFC 2986); make the CSR again");
        goto out;
    }
    /* the SPKI as it will be certified (policy_csr_copy_spki): what a keyCompromise blocks */
    rc = SIGNET_E_NOMEM;
    if ((slen = ASN1_item_i2d((ASN1_VALUE *)req->info->spki, &c->spki_der,
                              ASN1_ITEM_rptr(SG_SPKI))) <= 0)
        goto out;
    c->spki_der_len = (size_t)slen;
    rc = SIGNET_E_BADCSR;
    /* the parts policy reads move from the parsed request to the result */
    c->sig_nid = OBJ_obj2nid(req->sig_alg->algorithm);
    c->sig_alg = req->sig_alg;
    req->sig_alg = NULL;
    c->subject = req->info->subject;
    req->info->subject = NULL;
    c->spki_alg = req->info->spki->alg;
    req->info->spki->alg = NULL;
    c->spki_bits = req->info->spki->bits;
    req->info->spki->bits = NULL;
    c->attrs = req->info->attrs;
    req->info->attrs = NULL;
    *out = c;
    c = NULL;
    rc = SIGNET_OK;
out:
    ERR_clear_error();
    policy_csr_free(c);
    ASN1_item_free((ASN1_VALUE *)req, ASN1_ITEM_rptr(SG_CSR));
    OPENSSL_free(der);
    return rc;
}
