/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Keys: RFC 7512 URIs (parsed with p11-kit), finding a private key and its public half once and
 * caching the handle, re-finding it after a reconnect (and checking the public key against the
 * pin), building an OpenSSL public key from the token's attributes, and key generation.
 */
#include "internal.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <p11-kit/uri.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                         0xce, 0x3d, 0x03, 0x01, 0x07};
static const unsigned char oid_p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static const unsigned char oid_ed25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
/* the other encoding PKCS#11 3.0 allows for CKA_EC_PARAMS: PrintableString "edwards25519" */
static const unsigned char name_ed25519[] = {0x13, 0x0c, 'e', 'd', 'w', 'a', 'r',
                                             'd',  's',  '2', '5', '5', '1', '9'};

#define ATTR_MAX 1100 /* bound on one attribute read: RSA-8192 modulus, DER points, labels */

CK_RV hsm_get_attr(struct hsm_token *tok, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
                   CK_ATTRIBUTE_TYPE type, void *buf, CK_ULONG cap, CK_ULONG *out_len)
{
    CK_ATTRIBUTE a = {type, buf, cap};
    CK_RV rv = tok->mod->fn->C_GetAttributeValue(h, obj, &a, 1);

    *out_len = 0;
    if (rv != CKR_OK)
        return rv;
    if (a.ulValueLen > cap)
        return HSMB_RV_OVERRUN; /* the length comes from outside: never trust it past cap */
    *out_len = a.ulValueLen;
    return CKR_OK;
}

/* Percent-encodes s for an RFC 7512 attribute value (everything but unreserved characters). */
void hsm_pct_encode(const unsigned char *s, size_t n, char *out, size_t outcap)
{
    size_t k = 0;

    for (size_t i = 0; i < n && k + 4 < outcap; i++) {
        unsigned char c = s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~')
            out[k++] = (char)c;
        else
            k += (size_t)snprintf(out + k, outcap - k, "%%%02X", c);
    }
    out[k] = '\0';
}

/* "pkcs11:token=T;object=L" (with ";id=..." when the key has no label). */
static void key_format_uri(struct hsm_key *key)
{
    char t[100], o[400], id[200];

    hsm_pct_encode((const unsigned char *)key->tok->label, strlen(key->tok->label), t, sizeof(t));
    hsm_pct_encode((const unsigned char *)key->label, strlen(key->label), o, sizeof(o));
    hsm_pct_encode(key->id, key->idlen, id, sizeof(id));
    if (key->label[0] != '\0')
        snprintf(key->uri, sizeof(key->uri), "pkcs11:token=%s;object=%s", t, o);
    else
        snprintf(key->uri, sizeof(key->uri), "pkcs11:token=%s;id=%s", t, id);
}

/* An EC public key from CKA_EC_PARAMS (a named curve) and CKA_EC_POINT (DER OCTET STRING). */
static CK_RV pub_from_ec(const unsigned char *ecp, size_t ecplen, const unsigned char *pt,
                         size_t ptlen, EVP_PKEY **out)
{
    ASN1_OCTET_STRING *os = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    const unsigned char *p = pt, *data = pt;
    size_t dlen = ptlen;
    char group[16];
    CK_RV rv = HSMB_RV_BADKEY;

    if (ecplen == sizeof(oid_p256) && memcmp(ecp, oid_p256, ecplen) == 0)
        snprintf(group, sizeof(group), "P-256");
    else if (ecplen == sizeof(oid_p384) && memcmp(ecp, oid_p384, ecplen) == 0)
        snprintf(group, sizeof(group), "P-384");
    else
        goto out;
    /* PKCS#11 2.40 wraps the point in an OCTET STRING; some modules give it raw */
    if ((os = d2i_ASN1_OCTET_STRING(NULL, &p, (long)ptlen)) != NULL && p == pt + ptlen) {
        data = ASN1_STRING_get0_data(os);
        dlen = (size_t)ASN1_STRING_length(os);
    }
    OSSL_PARAM prm[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)data, dlen),
        OSSL_PARAM_construct_end()};
    if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
        EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, prm) <= 0)
        goto out;
    rv = CKR_OK;
out:
    ASN1_OCTET_STRING_free(os);
    EVP_PKEY_CTX_free(ctx);
    return rv;
}

/* An Ed25519 public key from CKA_EC_POINT (32 bytes, DER-wrapped or raw). */
static CK_RV pub_from_ed(const unsigned char *pt, size_t ptlen, EVP_PKEY **out)
{
    if (ptlen == 34 && pt[0] == 0x04 && pt[1] == 32) {
        pt += 2;
        ptlen = 32;
    }
    if (ptlen != 32)
        return HSMB_RV_BADKEY;
    *out = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pt, 32);
    return *out != NULL ? CKR_OK : HSMB_RV_BADKEY;
}

/* An RSA public key from CKA_MODULUS and CKA_PUBLIC_EXPONENT. */
static CK_RV pub_from_rsa(const unsigned char *n, size_t nlen, const unsigned char *e, size_t elen,
                          EVP_PKEY **out)
{
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *prm = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    BIGNUM *bn = NULL, *be = NULL;
    CK_RV rv = HSMB_RV_BADKEY;

    if ((bn = BN_bin2bn(n, (int)nlen, NULL)) == NULL ||
        (be = BN_bin2bn(e, (int)elen, NULL)) == NULL || (bld = OSSL_PARAM_BLD_new()) == NULL ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) ||
        (prm = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
        (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
        EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, prm) <= 0)
        goto out;
    rv = CKR_OK;
out:
    OSSL_PARAM_free(prm);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    BN_free(bn);
    BN_free(be);
    return rv;
}

enum hsm_key_type hsm_pkey_type(const EVP_PKEY *pkey)
{
    int bits = EVP_PKEY_get_bits(pkey);

    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_EC:
        return bits == 256 ? HSM_KEY_EC_P256 : bits == 384 ? HSM_KEY_EC_P384 : HSM_KEY_TYPE_MAX;
    case EVP_PKEY_RSA:
        return bits == 2048   ? HSM_KEY_RSA_2048
               : bits == 3072 ? HSM_KEY_RSA_3072
               : bits == 4096 ? HSM_KEY_RSA_4096
                              : HSM_KEY_TYPE_MAX;
    case EVP_PKEY_ED25519:
        return HSM_KEY_ED25519;
    default:
        return HSM_KEY_TYPE_MAX;
    }
}

CK_RV hsm_key_read_public(struct hsm_token *tok, CK_SESSION_HANDLE h, const unsigned char *id,
                          size_t idlen, EVP_PKEY **out, enum hsm_key_type *out_type)
{
    CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_ID, (void *)id, idlen}};
    CK_OBJECT_HANDLE obj[2];
    CK_KEY_TYPE kt;
    unsigned char a[ATTR_MAX], b[ATTR_MAX];
    CK_ULONG n, alen, blen;
    EVP_PKEY *pkey = NULL;
    CK_RV rv;

    *out = NULL;
    if ((rv = hsm_find(tok, h, tmpl, 2, obj, 2, &n)) != CKR_OK)
        return rv;
    if (n == 0)
        return HSMB_RV_NOPUB;
    if (n > 1)
        return HSMB_RV_AMBIGUOUS;
    if ((rv = hsm_get_attr(tok, h, obj[0], CKA_KEY_TYPE, &kt, sizeof(kt), &alen)) != CKR_OK)
        return rv;
    if (kt == CKK_EC || kt == CKK_EC_EDWARDS) {
        if ((rv = hsm_get_attr(tok, h, obj[0], CKA_EC_PARAMS, a, sizeof(a), &alen)) != CKR_OK ||
            (rv = hsm_get_attr(tok, h, obj[0], CKA_EC_POINT, b, sizeof(b), &blen)) != CKR_OK)
            return rv;
        if (kt == CKK_EC)
            rv = pub_from_ec(a, alen, b, blen, &pkey);
        else if ((alen == sizeof(oid_ed25519) && memcmp(a, oid_ed25519, alen) == 0) ||
                 (alen == sizeof(name_ed25519) && memcmp(a, name_ed25519, alen) == 0))
            rv = pub_from_ed(b, blen, &pkey);
        else
            rv = HSMB_RV_BADKEY;
    } else if (kt == CKK_RSA) {
        if ((rv = hsm_get_attr(tok, h, obj[0], CKA_MODULUS, a, sizeof(a), &alen)) != CKR_OK ||
            (rv = hsm_get_attr(tok, h, obj[0], CKA_PUBLIC_EXPONENT, b, sizeof(b), &blen)) != CKR_OK)
            return rv;
        rv = pub_from_rsa(a, alen, b, blen, &pkey);
    } else {
        rv = HSMB_RV_BADKEY;
    }
    if (rv == CKR_OK && (*out_type = hsm_pkey_type(pkey)) == HSM_KEY_TYPE_MAX)
        rv = HSMB_RV_BADKEY;
    if (rv != CKR_OK) {
        EVP_PKEY_free(pkey);
        return rv;
    }
    *out = pkey;
    return CKR_OK;
}

/*
 * A private key search that found nothing in a session that is not logged in (the token lost
 * power since the last login: private objects are invisible) is a lost login, which a reconnect
 * cures, not a missing key.
 */
static CK_RV not_found_or_logged_out(struct hsm_token *tok, CK_SESSION_HANDLE h)
{
    CK_SESSION_INFO si;
    CK_RV rv;

    if (!tok->need_login)
        return HSMB_RV_NOTFOUND;
    if ((rv = tok->mod->fn->C_GetSessionInfo(h, &si)) != CKR_OK)
        return rv;
    if (si.state != CKS_RW_USER_FUNCTIONS && si.state != CKS_RO_USER_FUNCTIONS)
        return CKR_USER_NOT_LOGGED_IN;
    return HSMB_RV_NOTFOUND;
}

/* Finds the one private key with this id (and label, when the key has one). */
static CK_RV find_private(struct hsm_token *tok, CK_SESSION_HANDLE h, const unsigned char *id,
                          size_t idlen, const char *label, CK_OBJECT_HANDLE *out)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[3] = {{CKA_CLASS, &cls, sizeof(cls)}};
    CK_OBJECT_HANDLE obj[2];
    CK_ULONG n = 1, found;
    CK_RV rv;

    if (id != NULL) {
        tmpl[n] = (CK_ATTRIBUTE){CKA_ID, (void *)id, idlen};
        n++;
    }
    if (label != NULL && label[0] != '\0') {
        tmpl[n] = (CK_ATTRIBUTE){CKA_LABEL, (void *)label, strlen(label)};
        n++;
    }
    if ((rv = hsm_find(tok, h, tmpl, n, obj, 2, &found)) != CKR_OK)
        return rv;
    if (found == 0)
        return not_found_or_logged_out(tok, h);
    if (found > 1)
        return HSMB_RV_AMBIGUOUS;
    *out = obj[0];
    return CKR_OK;
}

CK_RV hsm_key_refresh(struct hsm_key *key, struct hsm_sess *s)
{
    EVP_PKEY *now = NULL;
    enum hsm_key_type type;
    CK_OBJECT_HANDLE priv;
    CK_RV rv;

    if ((rv = find_private(key->tok, s->h, key->id, key->idlen, key->label, &priv)) != CKR_OK)
        return rv;
    if ((rv = hsm_key_read_public(key->tok, s->h, key->id, key->idlen, &now, &type)) != CKR_OK)
        return rv;
    if (EVP_PKEY_eq(now, key->pub) != 1) {
        sg_log(SG_LOG_ERR,
               "key %s: the public key on the token changed after a reconnect; "
               "refusing to sign",
               key->uri);
        rv = HSMB_RV_PUBMISMATCH;
    } else {
        key->priv = priv;
        key->epoch = s->epoch;
    }
    EVP_PKEY_free(now);
    return rv;
}

struct find_arg {
    struct hsm_key *key;
    const unsigned char *id; /* from the URI, or NULL */
    size_t idlen;
    const char *label; /* from the URI, or NULL */
};

/* The find operation: private key, its CKA_ID and label, then the public key. */
static CK_RV find_op(struct hsm_token *tok, struct hsm_sess *s, void *arg)
{
    struct find_arg *fa = arg;
    struct hsm_key *key = fa->key;
    CK_OBJECT_HANDLE priv;
    CK_ULONG len;
    CK_RV rv;

    if ((rv = find_private(tok, s->h, fa->id, fa->idlen, fa->label, &priv)) != CKR_OK)
        return rv;
    if ((rv = hsm_get_attr(tok, s->h, priv, CKA_ID, key->id, sizeof(key->id), &len)) != CKR_OK)
        return rv;
    key->idlen = len;
    if ((rv = hsm_get_attr(tok, s->h, priv, CKA_LABEL, key->label, sizeof(key->label) - 1, &len)) !=
        CKR_OK)
        return rv;
    key->label[len] = '\0';
    EVP_PKEY_free(key->pub);
    key->pub = NULL;
    if ((rv = hsm_key_read_public(tok, s->h, key->id, key->idlen, &key->pub, &key->type)) != CKR_OK)
        return rv;
    key->priv = priv;
    key->epoch = s->epoch;
    return CKR_OK;
}

/*
 * Checks the URI's token attributes against tok and pulls out object= and id=. Returns 1 or 0
 * with detail filled.
 */
static int uri_select(struct hsm_token *tok, P11KitUri *u, const char *uri, struct find_arg *fa,
                      char *detail)
{
    CK_TOKEN_INFO info;
    CK_ATTRIBUTE *a;
    char want[33];

    pthread_mutex_lock(&tok->lock);
    info = tok->info;
    pthread_mutex_unlock(&tok->lock);
    if (!p11_kit_uri_match_token_info(u, &info)) {
        hsm_trim(want, sizeof(want), p11_kit_uri_get_token_info(u)->label, 32);
        sg_detail(detail, "key URI %s names token '%s', not '%s'; fix the URI or the token label",
                  uri, want, tok->label);
        return 0;
    }
    if ((a = p11_kit_uri_get_attribute(u, CKA_CLASS)) != NULL &&
        (a->ulValueLen != sizeof(CK_OBJECT_CLASS) ||
         *(CK_OBJECT_CLASS *)a->pValue != CKO_PRIVATE_KEY)) {
        sg_detail(detail, "key URI %s names an object that is not a private key (type=private)",
                  uri);
        return 0;
    }
    if ((a = p11_kit_uri_get_attribute(u, CKA_ID)) != NULL) {
        fa->id = a->pValue;
        fa->idlen = a->ulValueLen;
    }
    if ((a = p11_kit_uri_get_attribute(u, CKA_LABEL)) != NULL) {
        if (a->ulValueLen == 0 || a->ulValueLen > 127) {
            sg_detail(detail, "key URI %s: object= must be 1 to 127 bytes", uri);
            return 0;
        }
        fa->label = a->pValue;
    }
    if (fa->id == NULL && fa->label == NULL) {
        sg_detail(detail, "key URI %s names no key: add object=LABEL or id=%%XX", uri);
        return 0;
    }
    return 1;
}

enum signet_err hsm_key_find(struct hsm_token *tok, const char *uri, struct hsm_key **out,
                             char *detail)
{
    struct find_arg fa = {0};
    struct hsm_key *key = NULL;
    P11KitUri *u = NULL;
    char label[128] = "", what[700];
    enum signet_err rc = SIGNET_E_USAGE;
    int r;

    *out = NULL;
    if (uri == NULL || strlen(uri) > 512) {
        sg_detail(detail, "a key URI (pkcs11:token=T;object=L) of at most 512 characters is "
                          "required");
        return SIGNET_E_USAGE;
    }
    if ((u = p11_kit_uri_new()) == NULL || (key = calloc(1, sizeof(*key))) == NULL) {
        rc = SIGNET_E_NOMEM;
        goto out;
    }
    pthread_mutex_init(&key->lock, NULL);
    key->tok = tok;
    if ((r = p11_kit_uri_parse(uri, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, u)) != P11_KIT_URI_OK) {
        sg_detail(detail, "key URI '%s' is not an RFC 7512 PKCS#11 URI: %s", uri,
                  p11_kit_uri_message(r));
        goto out;
    }
    if (!uri_select(tok, u, uri, &fa, detail))
        goto out;
    if (fa.label != NULL) {
        memcpy(label, fa.label, p11_kit_uri_get_attribute(u, CKA_LABEL)->ulValueLen);
        fa.label = label;
    }
    fa.key = key;
    snprintf(what, sizeof(what), "looking up key %s", uri);
    if ((rc = hsm_token_run(tok, what, find_op, &fa, detail)) != SIGNET_OK) {
        if (rc == SIGNET_E_NOTFOUND)
            sg_detail(detail,
                      "no private key matches %s on token '%s'; list keys with `signet "
                      "hsm list`",
                      uri, tok->label);
        goto out;
    }
    key_format_uri(key);
    *out = key;
    key = NULL;
out:
    hsm_key_free(key);
    if (u != NULL)
        p11_kit_uri_free(u);
    return rc;
}

void hsm_key_free(struct hsm_key *key)
{
    if (key == NULL)
        return;
    EVP_PKEY_free(key->pub);
    pthread_mutex_destroy(&key->lock);
    free(key);
}

enum hsm_key_type hsm_key_type(const struct hsm_key *key)
{
    return key->type;
}

const char *hsm_key_uri(const struct hsm_key *key)
{
    return key->uri;
}

const char *hsm_key_label(const struct hsm_key *key)
{
    return key->label;
}

EVP_PKEY *hsm_key_public(const struct hsm_key *key)
{
    return key->pub;
}

int hsm_key_pin_public(struct hsm_key *key, const EVP_PKEY *expected)
{
    /* the pin is the public key read at find time; pinning checks the caller agrees with it, and
     * every refresh after a reconnect compares the token's key with it */
    return key != NULL && expected != NULL && EVP_PKEY_eq(key->pub, expected) == 1;
}
