/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key wrapping (PKCS#11 2.40 C_WrapKey / C_UnwrapKey): AES wrapping keys (trusted ones made by
 * the Security Officer), a private key wrapped with CKM_AES_KEY_WRAP_PAD (RFC 5649), unwrapping
 * into a token with the attributes of DESIGN.md "Key custody" plus the public-key object
 * (wrap_transport.c carries an AES key from one token to another). The private key is never in
 * Signet's memory in clear: only wrapped blobs and public keys cross this interface.
 */
#include "internal.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WRAP_FIND_MAX 64 /* objects destroyed per class and label */

static const unsigned char oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                         0xce, 0x3d, 0x03, 0x01, 0x07};
static const unsigned char oid_p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static const unsigned char oid_ed25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};

/*
 * What C_UnwrapKey answers for a blob that does not open under the key: SoftHSM says
 * CKR_GENERAL_ERROR, which elsewhere means a failing module and is retried; here it is the
 * blob's fault and permanent (never a reason to reconnect or open the breaker).
 */
CK_RV hsm_unwrap_rv(CK_RV rv, enum hsm_wrap_why *why)
{
    if (rv == CKR_GENERAL_ERROR || rv == CKR_WRAPPED_KEY_INVALID ||
        rv == CKR_WRAPPED_KEY_LEN_RANGE || rv == CKR_ENCRYPTED_DATA_INVALID ||
        rv == CKR_ENCRYPTED_DATA_LEN_RANGE) {
        *why = WHY_BADBLOB;
        return HSMB_RV_BADKEY;
    }
    return rv;
}

/* Finds exactly one object of class cls labelled label; HSMB_RV_NOTFOUND / _AMBIGUOUS. */
CK_RV hsm_find_labelled(struct hsm_token *tok, CK_SESSION_HANDLE h, CK_OBJECT_CLASS cls,
                        const char *label, CK_OBJECT_HANDLE *out)
{
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_LABEL, (void *)label, strlen(label)}};
    CK_OBJECT_HANDLE obj[2];
    CK_ULONG n;
    CK_RV rv;

    if ((rv = hsm_find(tok, h, t, 2, obj, 2, &n)) != CKR_OK)
        return rv;
    if (n == 0)
        return HSMB_RV_NOTFOUND;
    if (n > 1)
        return HSMB_RV_AMBIGUOUS;
    *out = obj[0];
    return CKR_OK;
}

/* Reads a boolean attribute; 0 when unset or unreadable. */
static int attr_true(struct hsm_token *tok, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o,
                     CK_ATTRIBUTE_TYPE t)
{
    CK_BBOOL b = CK_FALSE;
    CK_ULONG len;

    return hsm_get_attr(tok, h, o, t, &b, sizeof(b), &len) == CKR_OK && len == 1 && b == CK_TRUE;
}

int hsm_wrap_label_ok(const char *label)
{
    return label != NULL && label[0] != '\0' && strlen(label) <= HSM_WRAP_LABEL_MAX;
}

/* ---- AES wrapping keys ---- */

struct wkgen_arg {
    const char *label;
    unsigned flags;
    const struct secret *so_pin;
    enum hsm_wrap_why why;
};

/* C_GenerateKey of an AES-256 wrapping key; in an SO login when it must be trusted. */
static CK_RV wkgen_op(struct hsm_token *tok, struct hsm_sess *s, void *arg)
{
    struct wkgen_arg *a = arg;
    CK_FUNCTION_LIST_PTR f = tok->mod->fn;
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ULONG len = 32;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_BBOOL trusted = (a->flags & HSM_WRAPKEY_TRUSTED) ? CK_TRUE : CK_FALSE;
    CK_BBOOL extract = (a->flags & HSM_WRAPKEY_EXTRACTABLE) ? CK_TRUE : CK_FALSE;
    CK_MECHANISM mech = {CKM_AES_KEY_GEN, NULL, 0};
    CK_OBJECT_HANDLE h;
    CK_RV rv;

    if (hsm_find_labelled(tok, s->h, CKO_SECRET_KEY, a->label, &h) != HSMB_RV_NOTFOUND) {
        a->why = WHY_EXISTS;
        return HSMB_RV_EXISTS;
    }
    /* a trusted key is made by the SO as a public object so that user sessions can use it */
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_VALUE_LEN, &len, sizeof(len)},
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_PRIVATE, trusted ? &no : &yes, sizeof(yes)},
        {CKA_SENSITIVE, &yes, sizeof(yes)},
        {CKA_EXTRACTABLE, &extract, sizeof(extract)},
        {CKA_WRAP, &yes, sizeof(yes)},
        {CKA_UNWRAP, &yes, sizeof(yes)},
        {CKA_ENCRYPT, &no, sizeof(no)},
        {CKA_DECRYPT, &no, sizeof(no)},
        {CKA_LABEL, (void *)a->label, strlen(a->label)},
        {CKA_TRUSTED, &yes, sizeof(yes)},
    };
    CK_ULONG nt = trusted ? 13 : 12;
    if (trusted) {
        rv = f->C_Login(s->h, CKU_SO, (CK_UTF8CHAR_PTR)secret_data(a->so_pin),
                        secret_len(a->so_pin));
        if (rv == CKR_USER_ANOTHER_ALREADY_LOGGED_IN || rv == CKR_USER_ALREADY_LOGGED_IN) {
            a->why = WHY_SO_USER;
            return HSMB_RV_EXISTS; /* permanent: waiting would not help */
        }
        if (rv != CKR_OK)
            return rv;
    }
    rv = f->C_GenerateKey(s->h, &mech, t, nt, &h);
    if (trusted)
        f->C_Logout(s->h);
    return rv;
}

enum signet_err hsm_wrapkey_generate(struct hsm_token *tok, const char *label, unsigned flags,
                                     const struct secret *so_pin, char *detail)
{
    struct wkgen_arg a = {label, flags, so_pin, WHY_NONE};
    char what[200];
    enum signet_err rc;

    if (!hsm_wrap_label_ok(label) || ((flags & HSM_WRAPKEY_TRUSTED) && so_pin == NULL)) {
        sg_detail(detail,
                  "a wrapping key needs a label of 1 to %d characters (and the SO PIN "
                  "when it is trusted)",
                  HSM_WRAP_LABEL_MAX);
        return SIGNET_E_USAGE;
    }
    if ((flags & HSM_WRAPKEY_TRUSTED) && tok->need_login) {
        sg_detail(detail,
                  "a trusted wrapping key is made in a Security Officer login: open token '%s' "
                  "without the user PIN for it",
                  tok->label);
        return SIGNET_E_USAGE;
    }
    snprintf(what, sizeof(what), "generating AES wrapping key '%s' on token '%s'", label,
             tok->label);
    rc = hsm_token_run(tok, what, wkgen_op, &a, detail);
    if (rc != SIGNET_OK && a.why == WHY_EXISTS) {
        sg_detail(detail, "token '%s' already has a secret key labelled '%s'; choose another label",
                  tok->label, label);
        return SIGNET_E_EXISTS;
    }
    if (rc != SIGNET_OK && a.why == WHY_SO_USER) {
        sg_detail(detail,
                  "token '%s': the Security Officer cannot log in while this process (or "
                  "signetd on it) is logged in as the user; stop them and retry",
                  tok->label);
        return SIGNET_E_HSM;
    }
    return rc;
}

struct destroy_arg {
    const char *label;
    unsigned n;
};

/* Destroys every key object (secret, private, public) labelled label. */
static CK_RV destroy_op(struct hsm_token *tok, struct hsm_sess *s, void *arg)
{
    struct destroy_arg *a = arg;
    CK_OBJECT_CLASS classes[3] = {CKO_SECRET_KEY, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY};
    CK_OBJECT_HANDLE obj[WRAP_FIND_MAX];
    CK_ULONG n;
    CK_RV rv;

    for (int c = 0; c < 3; c++) {
        CK_ATTRIBUTE t[] = {{CKA_CLASS, &classes[c], sizeof(classes[c])},
                            {CKA_LABEL, (void *)a->label, strlen(a->label)}};
        if ((rv = hsm_find(tok, s->h, t, 2, obj, WRAP_FIND_MAX, &n)) != CKR_OK)
            return rv;
        for (CK_ULONG i = 0; i < n; i++) {
            if ((rv = tok->mod->fn->C_DestroyObject(s->h, obj[i])) != CKR_OK)
                return rv;
            a->n++;
        }
    }
    return CKR_OK;
}

enum signet_err hsm_object_destroy(struct hsm_token *tok, const char *label, unsigned *out_n,
                                   char *detail)
{
    struct destroy_arg a = {label, 0};
    char what[200];
    enum signet_err rc;

    if (!hsm_wrap_label_ok(label)) {
        sg_detail(detail, "destroying objects needs a label of 1 to %d characters",
                  HSM_WRAP_LABEL_MAX);
        return SIGNET_E_USAGE;
    }
    snprintf(what, sizeof(what), "destroying objects labelled '%s' on token '%s'", label,
             tok->label);
    rc = hsm_token_run(tok, what, destroy_op, &a, detail);
    if (out_n != NULL)
        *out_n = a.n;
    return rc;
}

/* ---- wrapping a private key ---- */

struct wrap_arg {
    struct hsm_key *key;
    const char *kek;
    unsigned char *blob;
    size_t len;
    enum hsm_wrap_why why;
};

/* The private key handle for session s, re-found after a reconnect (as sign.c does). */
static CK_RV wrap_handle(struct hsm_key *key, struct hsm_sess *s, CK_OBJECT_HANDLE *out)
{
    CK_RV rv = CKR_OK;

    pthread_mutex_lock(&key->lock);
    if (s->epoch != key->epoch)
        rv = hsm_key_refresh(key, s);
    *out = key->priv;
    pthread_mutex_unlock(&key->lock);
    return rv;
}

/* Checks the key may be wrapped by the KEK, then C_WrapKey with CKM_AES_KEY_WRAP_PAD. */
static CK_RV wrap_op(struct hsm_token *tok, struct hsm_sess *s, void *arg)
{
    struct wrap_arg *a = arg;
    CK_MECHANISM mech = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    CK_OBJECT_HANDLE priv, kek;
    CK_ULONG len = 0;
    CK_RV rv;

    if ((rv = wrap_handle(a->key, s, &priv)) != CKR_OK)
        return rv;
    if (!attr_true(tok, s->h, priv, CKA_EXTRACTABLE)) {
        a->why = WHY_UNEXTRACTABLE;
        return CKR_KEY_UNEXTRACTABLE;
    }
    if ((rv = hsm_find_labelled(tok, s->h, CKO_SECRET_KEY, a->kek, &kek)) != CKR_OK) {
        a->why = rv == HSMB_RV_NOTFOUND ? WHY_NOKEK : WHY_NONE;
        return rv;
    }
    if (attr_true(tok, s->h, priv, CKA_WRAP_WITH_TRUSTED) &&
        !attr_true(tok, s->h, kek, CKA_TRUSTED)) {
        a->why = WHY_TRUSTED;
        return CKR_KEY_NOT_WRAPPABLE;
    }
    if ((rv = tok->mod->fn->C_WrapKey(s->h, &mech, kek, priv, NULL, &len)) != CKR_OK)
        return rv;
    if (len == 0 || len > HSM_WRAP_BLOB_MAX)
        return HSMB_RV_OVERRUN;
    free(a->blob);
    if ((a->blob = malloc(len)) == NULL)
        return HSMB_RV_NOMEM;
    if ((rv = tok->mod->fn->C_WrapKey(s->h, &mech, kek, priv, a->blob, &len)) != CKR_OK)
        return rv;
    if (len > HSM_WRAP_BLOB_MAX)
        return HSMB_RV_OVERRUN;
    a->len = len;
    return CKR_OK;
}

/* The message for a refusal found before or by the token. */
void hsm_wrap_why_detail(enum hsm_wrap_why why, const char *uri, const char *kek, const char *tok,
                         char *detail)
{
    switch (why) {
    case WHY_UNEXTRACTABLE:
        sg_detail(detail,
                  "key %s is not extractable (CKA_EXTRACTABLE false, as Signet makes every key "
                  "not marked for backup): it can never leave its token. To move the CA, "
                  "generate a new key on the new token, certify it (signet ca rollover, or a "
                  "ceremony) and cross-sign it with the old key",
                  uri);
        break;
    case WHY_TRUSTED:
        sg_detail(detail,
                  "key %s may be wrapped only by a trusted key (CKA_WRAP_WITH_TRUSTED) and "
                  "wrapping key '%s' is not trusted; a trusted key is made by the Security "
                  "Officer (hsm_wrapkey_generate with HSM_WRAPKEY_TRUSTED)",
                  uri, kek);
        break;
    case WHY_NOKEK:
        sg_detail(detail, "no AES wrapping key labelled '%s' on token '%s'", kek, tok);
        break;
    default:
        break;
    }
}

enum signet_err hsm_wrap(struct hsm_key *key, const char *kek_label, unsigned char **out,
                         size_t *out_len, char *detail)
{
    struct wrap_arg a = {key, kek_label, NULL, 0, WHY_NONE};
    char what[800];
    enum signet_err rc;

    *out = NULL;
    *out_len = 0;
    if (!hsm_wrap_label_ok(kek_label)) {
        sg_detail(detail, "wrapping needs the label of an AES wrapping key");
        return SIGNET_E_USAGE;
    }
    if (key->type == HSM_KEY_ED25519) {
        sg_detail(detail,
                  "key %s is Ed25519: SoftHSM 2.6 cannot wrap Ed25519 keys "
                  "(CKR_KEY_NOT_WRAPPABLE); re-key and cross-sign instead",
                  key->uri);
        return SIGNET_E_FORBIDDEN;
    }
    snprintf(what, sizeof(what), "wrapping key %s under '%s'", key->uri, kek_label);
    rc = hsm_token_run(key->tok, what, wrap_op, &a, detail);
    if (rc != SIGNET_OK) {
        free(a.blob);
        if (a.why != WHY_NONE) {
            hsm_wrap_why_detail(a.why, key->uri, kek_label, key->tok->label, detail);
            rc = a.why == WHY_NOKEK ? SIGNET_E_NOTFOUND : SIGNET_E_FORBIDDEN;
        }
        return rc;
    }
    *out = a.blob;
    *out_len = a.len;
    return SIGNET_OK;
}

/* ---- unwrapping a private key ---- */

/* The public key object's type-specific attributes from an OpenSSL public key. 1 = ok. */
int hsm_pubtmpl_from(const EVP_PKEY *pub, struct hsm_pubtmpl *p)
{
    enum hsm_key_type type = hsm_pkey_type(pub);
    unsigned char raw[200];
    size_t rawlen = 0;
    BIGNUM *n = NULL, *e = NULL;
    int ok = 0;

    memset(p, 0, sizeof(*p));
    if (type == HSM_KEY_EC_P256 || type == HSM_KEY_EC_P384 || type == HSM_KEY_ED25519) {
        p->kt = type == HSM_KEY_ED25519 ? CKK_EC_EDWARDS : CKK_EC;
        p->params = type == HSM_KEY_EC_P256   ? oid_p256
                    : type == HSM_KEY_EC_P384 ? oid_p384
                                              : oid_ed25519;
        p->paramslen = type == HSM_KEY_EC_P256   ? sizeof(oid_p256)
                       : type == HSM_KEY_EC_P384 ? sizeof(oid_p384)
                                                 : sizeof(oid_ed25519);
        if (EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, raw,
                                            sizeof(raw), &rawlen) != 1 ||
            rawlen > 127) /* short DER length form */
            return 0;
        if ((p->pt = malloc(rawlen + 2)) == NULL)
            return 0;
        p->pt[0] = 0x04;
        p->pt[1] = (unsigned char)rawlen;
        memcpy(p->pt + 2, raw, rawlen);
        p->ptlen = rawlen + 2;
        return 1;
    }
    if (type == HSM_KEY_TYPE_MAX)
        return 0;
    p->kt = CKK_RSA;
    if (EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
        EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_E, &e) == 1 &&
        BN_num_bytes(n) <= (int)sizeof(p->n) && BN_num_bytes(e) <= (int)sizeof(p->e)) {
        p->nlen = BN_bn2bin(n, p->n);
        p->elen = BN_bn2bin(e, p->e);
        ok = 1;
    }
    BN_free(n);
    BN_free(e);
    return ok;
}

struct unwrap_arg {
    const char *kek;
    const unsigned char *blob;
    size_t len;
    struct hsm_pubtmpl *pt;
    const char *label;
    unsigned flags;
    unsigned char id[HSM_WRAP_ID_LEN];
    enum hsm_wrap_why why;
};

/* Creates the public-key object that goes with an unwrapped private key. */
static CK_RV unwrap_public(struct hsm_token *tok, CK_SESSION_HANDLE h, struct unwrap_arg *a)
{
    CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_OBJECT_HANDLE obj;
    CK_ATTRIBUTE t[10] = {
        {CKA_CLASS, &cls, sizeof(cls)},  {CKA_KEY_TYPE, &a->pt->kt, sizeof(a->pt->kt)},
        {CKA_TOKEN, &yes, sizeof(yes)},  {CKA_PRIVATE, &no, sizeof(no)},
        {CKA_VERIFY, &yes, sizeof(yes)}, {CKA_LABEL, (void *)a->label, strlen(a->label)},
        {CKA_ID, a->id, sizeof(a->id)},
    };
    CK_ULONG n = 7;

    if (a->pt->kt == CKK_RSA) {
        t[n++] = (CK_ATTRIBUTE){CKA_MODULUS, a->pt->n, (CK_ULONG)a->pt->nlen};
        t[n++] = (CK_ATTRIBUTE){CKA_PUBLIC_EXPONENT, a->pt->e, (CK_ULONG)a->pt->elen};
    } else {
        t[n++] = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)a->pt->params, a->pt->paramslen};
        t[n++] = (CK_ATTRIBUTE){CKA_EC_POINT, a->pt->pt, a->pt->ptlen};
    }
    return tok->mod->fn->C_CreateObject(h, t, n, &obj);
}

/* Refuses a label in use, C_UnwrapKey into a token private key, then its public object. */
static CK_RV unwrap_op(struct hsm_token *tok, struct hsm_sess *s, void *arg)
{
    struct unwrap_arg *a = arg;
    CK_MECHANISM mech = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_BBOOL yes = CK_TRUE;
    CK_BBOOL backup = (a->flags & HSM_KEYGEN_BACKUP) ? CK_TRUE : CK_FALSE;
    CK_OBJECT_HANDLE kek, priv, pub;
    CK_RV rv;

    if (hsm_find_labelled(tok, s->h, CKO_PRIVATE_KEY, a->label, &priv) != HSMB_RV_NOTFOUND ||
        hsm_find_labelled(tok, s->h, CKO_PUBLIC_KEY, a->label, &pub) != HSMB_RV_NOTFOUND) {
        a->why = WHY_EXISTS;
        return HSMB_RV_EXISTS;
    }
    if ((rv = hsm_find_labelled(tok, s->h, CKO_SECRET_KEY, a->kek, &kek)) != CKR_OK) {
        a->why = rv == HSMB_RV_NOTFOUND ? WHY_NOKEK : WHY_NONE;
        return rv;
    }
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &a->pt->kt, sizeof(a->pt->kt)},
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_PRIVATE, &yes, sizeof(yes)},
        {CKA_SENSITIVE, &yes, sizeof(yes)},
        {CKA_SIGN, &yes, sizeof(yes)},
        {CKA_EXTRACTABLE, &backup, sizeof(backup)},
        {CKA_LABEL, (void *)a->label, strlen(a->label)},
        {CKA_ID, a->id, sizeof(a->id)},
        {CKA_WRAP_WITH_TRUSTED, &yes, sizeof(yes)},
    };
    CK_ULONG nt = backup ? 10 : 9;
    rv = tok->mod->fn->C_UnwrapKey(s->h, &mech, kek, (CK_BYTE_PTR)a->blob, a->len, t, nt, &priv);
    if (rv != CKR_OK)
        return hsm_unwrap_rv(rv, &a->why);
    if ((rv = unwrap_public(tok, s->h, a)) != CKR_OK)
        tok->mod->fn->C_DestroyObject(s->h, priv); /* never leave half a key behind */
    return rv;
}

/* Signs a random digest with the new key and verifies it with pub: the pair belongs together. */
static enum signet_err unwrap_prove(struct hsm_key *key, const EVP_PKEY *pub, char *detail)
{
    unsigned char msg[32], sig[HSM_SIG_MAX];
    size_t siglen = sizeof(sig);
    const EVP_MD *md = key->type == HSM_KEY_ED25519 ? NULL : EVP_sha256();
    EVP_PKEY_CTX *pc = NULL;
    EVP_MD_CTX *mc = NULL;
    enum signet_err rc;
    int ok = 0;

    if (RAND_bytes(msg, sizeof(msg)) != 1)
        return SIGNET_E_CRYPTO;
    if ((rc = hsm_sign(key, md, msg, sizeof(msg), sig, &siglen, detail)) != SIGNET_OK)
        return rc;
    if (md == NULL) {
        ok = (mc = EVP_MD_CTX_new()) != NULL &&
             EVP_DigestVerifyInit(mc, NULL, NULL, NULL, (EVP_PKEY *)pub) == 1 &&
             EVP_DigestVerify(mc, sig, siglen, msg, sizeof(msg)) == 1;
    } else {
        ok = (pc = EVP_PKEY_CTX_new((EVP_PKEY *)pub, NULL)) != NULL &&
             EVP_PKEY_verify_init(pc) == 1 &&
             (EVP_PKEY_get_base_id(pub) != EVP_PKEY_RSA ||
              EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1) &&
             EVP_PKEY_CTX_set_signature_md(pc, md) == 1 &&
             EVP_PKEY_verify(pc, sig, siglen, msg, sizeof(msg)) == 1;
    }
    EVP_PKEY_CTX_free(pc);
    EVP_MD_CTX_free(mc);
    if (!ok) {
        sg_detail(detail,
                  "the unwrapped key %s does not sign what the expected public key verifies",
                  key->uri);
        return SIGNET_E_CRYPTO;
    }
    return SIGNET_OK;
}

enum signet_err hsm_unwrap(struct hsm_token *tok, const char *kek_label, const unsigned char *blob,
                           size_t len, const EVP_PKEY *pub, const char *label, unsigned flags,
                           struct hsm_key **out, char *detail)
{
    struct hsm_pubtmpl pt;
    struct unwrap_arg a = {kek_label, blob, len, &pt, label, flags, {0}, WHY_NONE};
    char what[300], uri[600], enc[200];
    enum signet_err rc;

    *out = NULL;
    memset(&pt, 0, sizeof(pt));
    if (!hsm_wrap_label_ok(kek_label) || !hsm_wrap_label_ok(label) || blob == NULL || len == 0 ||
        len > HSM_WRAP_BLOB_MAX || pub == NULL) {
        sg_detail(detail,
                  "unwrapping needs a wrapping key label, a key label of 1 to %d "
                  "characters, a wrapped key of at most %d bytes and its public key",
                  HSM_WRAP_LABEL_MAX, HSM_WRAP_BLOB_MAX);
        return SIGNET_E_USAGE;
    }
    if (!hsm_pubtmpl_from(pub, &pt)) {
        sg_detail(detail, "the public key given for '%s' is not a type Signet handles", label);
        rc = SIGNET_E_BADKEY;
        goto out;
    }
    if (RAND_bytes(a.id, sizeof(a.id)) != 1) {
        rc = SIGNET_E_CRYPTO;
        sg_detail(detail, "no random bytes for the key id");
        goto out;
    }
    snprintf(what, sizeof(what), "unwrapping key '%s' on token '%s' under '%s'", label, tok->label,
             kek_label);
    if ((rc = hsm_token_run(tok, what, unwrap_op, &a, detail)) != SIGNET_OK) {
        if (a.why == WHY_EXISTS) {
            sg_detail(detail,
                      "token '%s' already holds a key labelled '%s'; nothing was written. "
                      "Choose another label or remove the old key first",
                      tok->label, label);
            rc = SIGNET_E_EXISTS;
        } else if (a.why == WHY_NOKEK) {
            hsm_wrap_why_detail(a.why, "", kek_label, tok->label, detail);
            rc = SIGNET_E_NOTFOUND;
        } else if (a.why == WHY_BADBLOB) {
            sg_detail(detail,
                      "the wrapped key for '%s' does not unwrap under '%s' on token '%s': it is "
                      "truncated, altered or wrapped under another key; nothing was written",
                      label, kek_label, tok->label);
            rc = SIGNET_E_INVALID;
        }
        goto out;
    }
    hsm_pct_encode(a.id, sizeof(a.id), enc, sizeof(enc));
    snprintf(uri, sizeof(uri), "pkcs11:id=%s", enc);
    if ((rc = hsm_key_find(tok, uri, out, detail)) == SIGNET_OK &&
        (rc = unwrap_prove(*out, pub, detail)) != SIGNET_OK) {
        hsm_key_free(*out);
        *out = NULL;
    }
out:
    free(pt.pt);
    return rc;
}
