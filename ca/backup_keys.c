/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Backup key wrapping (docs/backup.md): CA keys marked for backup (CKA_EXTRACTABLE and
 * CKA_WRAP_WITH_TRUSTED, made with HSM_KEYGEN_BACKUP) are wrapped on their token with
 * CKM_AES_KEY_WRAP_PAD under a per-backup AES-256 key that the token's security officer imports
 * as a trusted (CKA_TRUSTED) session object; on restore the same key unwraps them into the new
 * token. hsmbind keeps its sessions to itself, so these few calls use their own sessions on the
 * same loaded module (C_Initialize answering "already initialised" is fine; nothing here
 * finalises the module, and one block of calls runs before hsmbind logs in to the token).
 */
#include "internal.h"

#include <dlfcn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <p11-kit/pkcs11.h>
#include <stdlib.h>
#include <string.h>

struct bk_p11 {
    void *dl;
    CK_FUNCTION_LIST_PTR fn;
    CK_SESSION_HANDLE s;
    int open;
};

/* Loads the module, initialises it (already-initialised is fine) and opens a R/W session on
 * the token with label. */
static enum signet_err p11_open(struct bk_p11 *p, const char *module, const char *label,
                                char *detail)
{
    CK_C_GetFunctionList gfl;
    CK_SLOT_ID slots[64];
    CK_ULONG n = 64;
    CK_TOKEN_INFO ti;
    char want[32];
    CK_RV rv;

    memset(p, 0, sizeof(*p));
    memset(want, ' ', sizeof(want));
    memcpy(want, label, strlen(label) < 32 ? strlen(label) : 32);
    if ((p->dl = dlopen(module, RTLD_NOW | RTLD_LOCAL)) == NULL ||
        (gfl = (CK_C_GetFunctionList)dlsym(p->dl, "C_GetFunctionList")) == NULL ||
        gfl(&p->fn) != CKR_OK) {
        sg_detail(detail, "PKCS#11 module %s will not load", module);
        return SIGNET_E_CONFIG;
    }
    rv = p->fn->C_Initialize(NULL);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        sg_detail(detail, "PKCS#11 module %s: C_Initialize: 0x%lx", module, (unsigned long)rv);
        return SIGNET_E_HSM;
    }
    if ((rv = p->fn->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK)
        n = 0;
    for (CK_ULONG i = 0; i < n; i++) {
        if (p->fn->C_GetTokenInfo(slots[i], &ti) != CKR_OK || memcmp(ti.label, want, 32) != 0)
            continue;
        rv = p->fn->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &p->s);
        if (rv != CKR_OK) {
            sg_detail(detail, "token %s: C_OpenSession: 0x%lx", label, (unsigned long)rv);
            return SIGNET_E_HSM;
        }
        p->open = 1;
        return SIGNET_OK;
    }
    sg_detail(detail, "no token labelled %s in %s", label, module);
    return SIGNET_E_NOTFOUND;
}

/* Logs out (when logged in here) and closes the session. */
static void p11_close(struct bk_p11 *p)
{
    if (p->open) {
        p->fn->C_Logout(p->s);
        p->fn->C_CloseSession(p->s);
    }
    if (p->dl != NULL)
        dlclose(p->dl);
    memset(p, 0, sizeof(*p));
}

/* C_Login as user type; an existing login of the same user is fine. */
static enum signet_err p11_login(struct bk_p11 *p, CK_USER_TYPE who, const struct secret *pin,
                                 const char *label, char *detail)
{
    CK_RV rv = p->fn->C_Login(p->s, who, (CK_UTF8CHAR_PTR)secret_data(pin), secret_len(pin));

    if (rv == CKR_OK || (rv == CKR_USER_ALREADY_LOGGED_IN && who == CKU_USER))
        return SIGNET_OK;
    sg_detail(detail, "token %s: the %s credential was refused (0x%lx)", label,
              who == CKU_SO ? "security officer's" : "user", (unsigned long)rv);
    return rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED ? SIGNET_E_PIN : SIGNET_E_HSM;
}

/* Imports k as a public session AES key allowed to wrap and unwrap (trusted when asked). */
static CK_RV import_wrap_key(struct bk_p11 *p, const unsigned char k[CA_BK_WRAPKEY_LEN],
                             int trusted, CK_OBJECT_HANDLE *out)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    char label[] = "signet-backup-wrap";
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},        {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_TOKEN, &no, sizeof(no)},          {CKA_PRIVATE, &no, sizeof(no)},
        {CKA_SENSITIVE, &yes, sizeof(yes)},    {CKA_EXTRACTABLE, &no, sizeof(no)},
        {CKA_WRAP, &yes, sizeof(yes)},         {CKA_UNWRAP, &yes, sizeof(yes)},
        {CKA_LABEL, label, sizeof(label) - 1}, {CKA_VALUE, (void *)k, CA_BK_WRAPKEY_LEN},
        {CKA_TRUSTED, &yes, sizeof(yes)},
    };
    return p->fn->C_CreateObject(p->s, t, trusted ? 11 : 10, out);
}

/* Finds the private key labelled label. */
static CK_RV find_priv(struct bk_p11 *p, const char *label, CK_OBJECT_HANDLE *out)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_LABEL, (void *)label, strlen(label)}};
    CK_ULONG n = 0;
    CK_RV rv;

    if ((rv = p->fn->C_FindObjectsInit(p->s, t, 2)) != CKR_OK)
        return rv;
    rv = p->fn->C_FindObjects(p->s, out, 1, &n);
    p->fn->C_FindObjectsFinal(p->s);
    return rv != CKR_OK ? rv : n == 1 ? CKR_OK : CKR_KEY_HANDLE_INVALID;
}

/* Wraps one key (fills b); a key that is not extractable is marked so, not an error. */
static enum signet_err wrap_one(struct bk_p11 *p, CK_OBJECT_HANDLE wk, struct ca_bk_key *b,
                                char *detail)
{
    CK_MECHANISM m = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    CK_OBJECT_HANDLE h;
    CK_BBOOL ext = CK_FALSE;
    CK_ULONG len = 0;
    CK_ATTRIBUTE a[] = {{CKA_EXTRACTABLE, &ext, sizeof(ext)}, {CKA_ID, b->id, sizeof(b->id)}};
    CK_RV rv;

    if ((rv = find_priv(p, b->label, &h)) != CKR_OK) {
        sg_detail(detail, "key %s: not found on its token (0x%lx)", b->label, (unsigned long)rv);
        return SIGNET_E_NOTFOUND;
    }
    if ((rv = p->fn->C_GetAttributeValue(p->s, h, a, 2)) != CKR_OK) {
        sg_detail(detail, "key %s: attributes unreadable (0x%lx)", b->label, (unsigned long)rv);
        return SIGNET_E_HSM;
    }
    b->idlen = a[1].ulValueLen;
    if (!ext) {
        b->extractable = 0;
        return SIGNET_OK;
    }
    b->extractable = 1;
    if ((rv = p->fn->C_WrapKey(p->s, &m, wk, h, NULL, &len)) != CKR_OK || len == 0 ||
        len > CA_BK_WRAPPED_MAX || (b->wrapped = malloc(len)) == NULL ||
        (rv = p->fn->C_WrapKey(p->s, &m, wk, h, b->wrapped, &len)) != CKR_OK) {
        sg_detail(detail, "key %s: the token would not wrap it under the backup key (0x%lx)",
                  b->label, (unsigned long)rv);
        return SIGNET_E_HSM;
    }
    b->wrapped_len = len;
    return SIGNET_OK;
}

enum signet_err ca_bk_wrap(const char *module, const char *token_label, const struct secret *so_pin,
                           const struct secret *user_pin, const unsigned char k[CA_BK_WRAPKEY_LEN],
                           struct ca_bk_key *keys, size_t n, char *detail)
{
    struct bk_p11 p;
    CK_OBJECT_HANDLE wk;
    enum signet_err rc;
    CK_RV rv;

    if ((rc = p11_open(&p, module, token_label, detail)) != SIGNET_OK)
        goto out;
    /* only the security officer may set CKA_TRUSTED: import the wrapping key as the SO */
    if ((rc = p11_login(&p, CKU_SO, so_pin, token_label, detail)) != SIGNET_OK)
        goto out;
    if ((rv = import_wrap_key(&p, k, 1, &wk)) != CKR_OK) {
        sg_detail(detail, "token %s: the backup wrapping key could not be imported (0x%lx)",
                  token_label, (unsigned long)rv);
        rc = SIGNET_E_HSM;
        goto out;
    }
    p.fn->C_Logout(p.s);
    if ((rc = p11_login(&p, CKU_USER, user_pin, token_label, detail)) != SIGNET_OK)
        goto out;
    for (size_t i = 0; i < n && rc == SIGNET_OK; i++)
        rc = wrap_one(&p, wk, &keys[i], detail);
    p.fn->C_DestroyObject(p.s, wk);
out:
    p11_close(&p);
    return rc;
}

/* The DER OBJECT IDENTIFIER of an EC or Ed25519 key's curve into out; its length or 0. */
static size_t curve_der(EVP_PKEY *pub, unsigned char *out, size_t cap)
{
    char name[64] = "";
    ASN1_OBJECT *obj = NULL;
    unsigned char *q = out;
    int nid, len;

    if (EVP_PKEY_is_a(pub, "ED25519"))
        nid = NID_ED25519;
    else if (!EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name),
                                             NULL) ||
             (nid = OBJ_sn2nid(name)) == NID_undef)
        if ((nid = OBJ_txt2nid(name)) == NID_undef)
            return 0;
    if ((obj = OBJ_nid2obj(nid)) == NULL || (len = i2d_ASN1_OBJECT(obj, NULL)) <= 0 ||
        (size_t)len > cap)
        return 0;
    i2d_ASN1_OBJECT(obj, &q);
    return (size_t)len;
}

/* Creates the public half (label, id) from pub, as keygen would have. */
static enum signet_err make_public(struct bk_p11 *p, const struct ca_bk_key *b, EVP_PKEY *pub,
                                   char *detail)
{
    CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_KEY_TYPE kt;
    CK_OBJECT_HANDLE h;
    unsigned char params[32], pt[160], ptder[164], n_[1024], e_[16];
    size_t plen = 0, ptlen = 0, nlen = 0, elen = 0;
    BIGNUM *bn_n = NULL, *bn_e = NULL;
    CK_ATTRIBUTE t[8] = {
        {CKA_CLASS, &cls, sizeof(cls)},   {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_TOKEN, &yes, sizeof(yes)},   {CKA_PRIVATE, &no, sizeof(no)},
        {CKA_VERIFY, &yes, sizeof(yes)},  {CKA_LABEL, (void *)b->label, strlen(b->label)},
        {CKA_ID, (void *)b->id, b->idlen}};
    CK_RV rv;

    if (EVP_PKEY_is_a(pub, "RSA")) {
        kt = CKK_RSA;
        if (!EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_N, &bn_n) ||
            !EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_E, &bn_e) ||
            (nlen = (size_t)BN_num_bytes(bn_n)) > sizeof(n_) ||
            (elen = (size_t)BN_num_bytes(bn_e)) > sizeof(e_)) {
            BN_free(bn_n);
            BN_free(bn_e);
            sg_detail(detail, "key %s: unusable RSA public key", b->label);
            return SIGNET_E_INVALID;
        }
        BN_bn2bin(bn_n, n_);
        BN_bn2bin(bn_e, e_);
        BN_free(bn_n);
        BN_free(bn_e);
        t[7] = (CK_ATTRIBUTE){CKA_MODULUS, n_, nlen};
        CK_ATTRIBUTE t2[9];
        memcpy(t2, t, sizeof(t));
        t2[8] = (CK_ATTRIBUTE){CKA_PUBLIC_EXPONENT, e_, elen};
        rv = p->fn->C_CreateObject(p->s, t2, 9, &h);
    } else {
        kt = EVP_PKEY_is_a(pub, "ED25519") ? CKK_EC_EDWARDS : CKK_EC;
        if ((plen = curve_der(pub, params, sizeof(params))) == 0 ||
            !EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt,
                                             sizeof(pt), &ptlen) ||
            ptlen > 127) {
            sg_detail(detail, "key %s: unusable EC public key", b->label);
            return SIGNET_E_INVALID;
        }
        ptder[0] = 0x04; /* the point as a DER OCTET STRING (PKCS#11 2.40 CKA_EC_POINT) */
        ptder[1] = (unsigned char)ptlen;
        memcpy(ptder + 2, pt, ptlen);
        t[7] = (CK_ATTRIBUTE){CKA_EC_PARAMS, params, plen};
        CK_ATTRIBUTE t2[9];
        memcpy(t2, t, sizeof(t));
        t2[8] = (CK_ATTRIBUTE){CKA_EC_POINT, ptder, ptlen + 2};
        rv = p->fn->C_CreateObject(p->s, t2, 9, &h);
    }
    if (rv != CKR_OK) {
        sg_detail(detail, "key %s: the public key could not be created (0x%lx)", b->label,
                  (unsigned long)rv);
        return SIGNET_E_HSM;
    }
    return SIGNET_OK;
}

/* Unwraps one key with wk as a token private key marked for backup again. */
static enum signet_err unwrap_one(struct bk_p11 *p, CK_OBJECT_HANDLE wk, const struct ca_bk_key *b,
                                  EVP_PKEY *pub, char *detail)
{
    CK_MECHANISM m = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_KEY_TYPE kt = EVP_PKEY_is_a(pub, "RSA")       ? CKK_RSA
                     : EVP_PKEY_is_a(pub, "ED25519") ? CKK_EC_EDWARDS
                                                     : CKK_EC;
    CK_BBOOL yes = CK_TRUE;
    CK_OBJECT_HANDLE h;
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_PRIVATE, &yes, sizeof(yes)},
        {CKA_SENSITIVE, &yes, sizeof(yes)},
        {CKA_SIGN, &yes, sizeof(yes)},
        {CKA_EXTRACTABLE, &yes, sizeof(yes)},
        {CKA_WRAP_WITH_TRUSTED, &yes, sizeof(yes)},
        {CKA_LABEL, (void *)b->label, strlen(b->label)},
        {CKA_ID, (void *)b->id, b->idlen},
    };
    CK_RV rv;

    if (find_priv(p, b->label, &h) == CKR_OK) {
        sg_detail(detail, "key %s: the new token already holds a key with that label", b->label);
        return SIGNET_E_EXISTS;
    }
    rv = p->fn->C_UnwrapKey(p->s, &m, wk, b->wrapped, b->wrapped_len, t, 10, &h);
    if (rv != CKR_OK) {
        sg_detail(detail,
                  "key %s: the token refused to unwrap it (0x%lx): a wrong or altered "
                  "backup key",
                  b->label, (unsigned long)rv);
        return SIGNET_E_HSM;
    }
    return make_public(p, b, pub, detail);
}

enum signet_err ca_bk_unwrap(const char *module, const char *token_label,
                             const struct secret *user_pin,
                             const unsigned char k[CA_BK_WRAPKEY_LEN], const struct ca_bk_key *keys,
                             EVP_PKEY *const *pubs, size_t n, char *detail)
{
    struct bk_p11 p;
    CK_OBJECT_HANDLE wk;
    enum signet_err rc;
    CK_RV rv;

    if ((rc = p11_open(&p, module, token_label, detail)) != SIGNET_OK)
        goto out;
    if ((rc = p11_login(&p, CKU_USER, user_pin, token_label, detail)) != SIGNET_OK)
        goto out;
    if ((rv = import_wrap_key(&p, k, 0, &wk)) != CKR_OK) {
        sg_detail(detail, "token %s: the backup wrapping key could not be imported (0x%lx)",
                  token_label, (unsigned long)rv);
        rc = SIGNET_E_HSM;
        goto out;
    }
    for (size_t i = 0; i < n && rc == SIGNET_OK; i++)
        if (keys[i].extractable)
            rc = unwrap_one(&p, wk, &keys[i], pubs[i], detail);
    p.fn->C_DestroyObject(p.s, wk);
out:
    p11_close(&p);
    return rc;
}

void ca_bk_keys_free(struct ca_bk_key *keys, size_t n)
{
    for (size_t i = 0; keys != NULL && i < n; i++)
        free(keys[i].wrapped);
    free(keys);
}
