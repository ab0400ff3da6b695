/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key generation on the token (DESIGN.md "Key custody": token, private, sensitive, not
 * extractable unless backed up under a trusted wrapping key) and the key listing of
 * `signet hsm list`.
 */
#include "internal.h"

#include <openssl/rand.h>
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
static const unsigned char rsa_f4[] = {0x01, 0x00, 0x01};

#define KEY_ID_LEN  16   /* random CKA_ID shared by both halves */
#define OBJECTS_MAX 4096 /* bound on a listing */

struct keygen_arg {
    const char *label;
    enum hsm_key_type type;
    unsigned flags;
    unsigned char id[KEY_ID_LEN];
};

/* The mechanism and the public template's type-specific attribute for a key type. */
static void keygen_params(enum hsm_key_type type, CK_MECHANISM_TYPE *mech, CK_ATTRIBUTE *pubattr,
                          CK_ULONG *bits)
{
    switch (type) {
    case HSM_KEY_EC_P256:
        *mech = CKM_EC_KEY_PAIR_GEN;
        *pubattr = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)oid_p256, sizeof(oid_p256)};
        break;
    case HSM_KEY_EC_P384:
        *mech = CKM_EC_KEY_PAIR_GEN;
        *pubattr = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)oid_p384, sizeof(oid_p384)};
        break;
    case HSM_KEY_ED25519:
        *mech = CKM_EC_EDWARDS_KEY_PAIR_GEN;
        *pubattr = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)oid_ed25519, sizeof(oid_ed25519)};
        break;
    default:
        *mech = CKM_RSA_PKCS_KEY_PAIR_GEN;
        *bits = type == HSM_KEY_RSA_2048 ? 2048 : type == HSM_KEY_RSA_3072 ? 3072 : 4096;
        *pubattr = (CK_ATTRIBUTE){CKA_MODULUS_BITS, bits, sizeof(*bits)};
        break;
    }
}

/* Refuses a label in use, then C_GenerateKeyPair with the templates of DESIGN.md. */
static CK_RV keygen_op(struct hsm_token *tok, struct hsm_sess *s, void *arg)
{
    struct keygen_arg *ka = arg;
    CK_OBJECT_CLASS pcls = CKO_PRIVATE_KEY;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_BBOOL backup = (ka->flags & HSM_KEYGEN_BACKUP) ? CK_TRUE : CK_FALSE;
    CK_ULONG lablen = strlen(ka->label), found, bits = 0;
    CK_ATTRIBUTE find[] = {{CKA_CLASS, &pcls, sizeof(pcls)},
                           {CKA_LABEL, (void *)ka->label, lablen}};
    CK_OBJECT_HANDLE obj[1], pubh, privh;
    CK_MECHANISM mech = {0, NULL, 0};
    CK_ATTRIBUTE typeattr;
    CK_RV rv;

    if ((rv = hsm_find(tok, s->h, find, 2, obj, 1, &found)) != CKR_OK)
        return rv;
    if (found != 0)
        return HSMB_RV_EXISTS;
    keygen_params(ka->type, &mech.mechanism, &typeattr, &bits);
    CK_ATTRIBUTE pub[] = {
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_PRIVATE, &no, sizeof(no)},
        {CKA_VERIFY, &yes, sizeof(yes)},
        {CKA_LABEL, (void *)ka->label, lablen},
        {CKA_ID, ka->id, sizeof(ka->id)},
        typeattr,
        {CKA_PUBLIC_EXPONENT, (void *)rsa_f4, sizeof(rsa_f4)},
    };
    CK_ATTRIBUTE priv[] = {
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_PRIVATE, &yes, sizeof(yes)},
        {CKA_SENSITIVE, &yes, sizeof(yes)},
        {CKA_SIGN, &yes, sizeof(yes)},
        {CKA_EXTRACTABLE, &backup, sizeof(backup)},
        {CKA_LABEL, (void *)ka->label, lablen},
        {CKA_ID, ka->id, sizeof(ka->id)},
        {CKA_WRAP_WITH_TRUSTED, &yes, sizeof(yes)},
    };
    CK_ULONG npub = mech.mechanism == CKM_RSA_PKCS_KEY_PAIR_GEN ? 7 : 6;
    CK_ULONG npriv = backup ? 8 : 7;
    return tok->mod->fn->C_GenerateKeyPair(s->h, &mech, pub, npub, priv, npriv, &pubh, &privh);
}

enum signet_err hsm_keygen(struct hsm_token *tok, const char *label, enum hsm_key_type type,
                           unsigned flags, struct hsm_key **out, char *detail)
{
    struct keygen_arg ka = {label, type, flags, {0}};
    char what[300], uri[600], enc[200];
    enum signet_err rc;
    size_t k = 0;

    *out = NULL;
    if (label == NULL || label[0] == '\0' || strlen(label) > 100 ||
        (unsigned)type >= HSM_KEY_TYPE_MAX) {
        sg_detail(detail, "key generation needs a label of 1 to 100 characters and a known type");
        return SIGNET_E_USAGE;
    }
    if (RAND_bytes(ka.id, sizeof(ka.id)) != 1) {
        sg_detail(detail, "no random bytes for the key id");
        sg_detail_openssl(detail);
        return SIGNET_E_CRYPTO;
    }
    snprintf(what, sizeof(what), "generating %s key '%s' on token '%s'", hsm_key_type_name(type),
             label, tok->label);
    if ((rc = hsm_token_run(tok, what, keygen_op, &ka, detail)) != SIGNET_OK) {
        if (rc == SIGNET_E_EXISTS)
            sg_detail(detail,
                      "token '%s' already has a private key labelled '%s'; choose another "
                      "label",
                      tok->label, label);
        return rc;
    }
    for (size_t i = 0; i < sizeof(ka.id); i++)
        k += (size_t)snprintf(enc + k, sizeof(enc) - k, "%%%02X", ka.id[i]);
    /* the id names the new key exactly even if another key shares the label later */
    snprintf(uri, sizeof(uri), "pkcs11:id=%s", enc);
    return hsm_key_find(tok, uri, out, detail);
}

struct objects_arg {
    struct hsm_object_info *v;
    size_t n;
};

/* Reads a boolean attribute; -1 when unavailable. */
static int get_bool(struct hsm_token *tok, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o,
                    CK_ATTRIBUTE_TYPE t)
{
    CK_BBOOL b = CK_FALSE;
    CK_ATTRIBUTE a = {t, &b, sizeof(b)};

    return tok->mod->fn->C_GetAttributeValue(h, o, &a, 1) == CKR_OK ? b == CK_TRUE : -1;
}

/* The Signet key type of an object from its CKA_KEY_TYPE and curve or modulus. */
static enum hsm_key_type object_type(struct hsm_token *tok, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o)
{
    CK_KEY_TYPE kt;
    unsigned char buf[1100];
    CK_ULONG len;

    if (hsm_get_attr(tok, h, o, CKA_KEY_TYPE, &kt, sizeof(kt), &len) != CKR_OK || len != sizeof(kt))
        return HSM_KEY_TYPE_MAX;
    if (kt == CKK_EC || kt == CKK_EC_EDWARDS) {
        if (hsm_get_attr(tok, h, o, CKA_EC_PARAMS, buf, sizeof(buf), &len) != CKR_OK)
            return HSM_KEY_TYPE_MAX;
        if (len == sizeof(oid_p256) && memcmp(buf, oid_p256, len) == 0)
            return HSM_KEY_EC_P256;
        if (len == sizeof(oid_p384) && memcmp(buf, oid_p384, len) == 0)
            return HSM_KEY_EC_P384;
        if ((len == sizeof(oid_ed25519) && memcmp(buf, oid_ed25519, len) == 0) ||
            (len == sizeof(name_ed25519) && memcmp(buf, name_ed25519, len) == 0))
            return HSM_KEY_ED25519;
        return HSM_KEY_TYPE_MAX;
    }
    if (kt != CKK_RSA || hsm_get_attr(tok, h, o, CKA_MODULUS, buf, sizeof(buf), &len) != CKR_OK)
        return HSM_KEY_TYPE_MAX;
    return len == 256   ? HSM_KEY_RSA_2048
           : len == 384 ? HSM_KEY_RSA_3072
           : len == 512 ? HSM_KEY_RSA_4096
                        : HSM_KEY_TYPE_MAX;
}

/* Fills one listing entry for object o (attribute lengths bounded by hsm_get_attr). */
static void object_describe(struct hsm_token *tok, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o,
                            int is_private, struct hsm_object_info *e)
{
    unsigned char id[64];
    CK_ULONG lablen = 0, idlen = 0;
    char t[100], l[400], i[200];

    memset(e, 0, sizeof(*e));
    if (hsm_get_attr(tok, h, o, CKA_LABEL, e->label, sizeof(e->label) - 1, &lablen) != CKR_OK)
        lablen = 0;
    e->label[lablen] = '\0';
    if (hsm_get_attr(tok, h, o, CKA_ID, id, sizeof(id), &idlen) != CKR_OK)
        idlen = 0;
    e->type = object_type(tok, h, o);
    e->is_private = is_private;
    if (is_private) {
        e->sensitive = get_bool(tok, h, o, CKA_SENSITIVE) == 1;
        e->extractable = get_bool(tok, h, o, CKA_EXTRACTABLE) == 1;
        e->always_sensitive = get_bool(tok, h, o, CKA_ALWAYS_SENSITIVE) == 1;
        e->never_extractable = get_bool(tok, h, o, CKA_NEVER_EXTRACTABLE) == 1;
        e->wrap_with_trusted = get_bool(tok, h, o, CKA_WRAP_WITH_TRUSTED) == 1;
    }
    hsm_pct_encode((const unsigned char *)tok->label, strlen(tok->label), t, sizeof(t));
    hsm_pct_encode((const unsigned char *)e->label, strlen(e->label), l, sizeof(l));
    hsm_pct_encode(id, idlen, i, sizeof(i));
    /* a long label and id may not both fit: the label alone then names the object */
    if (snprintf(e->uri, sizeof(e->uri), "pkcs11:token=%s;object=%s;id=%s;type=%s", t, l, i,
                 is_private ? "private" : "public") >= (int)sizeof(e->uri) &&
        snprintf(e->uri, sizeof(e->uri), "pkcs11:token=%s;object=%s;type=%s", t, l,
                 is_private ? "private" : "public") >= (int)sizeof(e->uri))
        e->uri[0] = '\0';
}

/* The listing operation: private keys then public keys, bounded by OBJECTS_MAX. */
static CK_RV objects_op(struct hsm_token *tok, struct hsm_sess *s, void *arg)
{
    struct objects_arg *oa = arg;
    CK_OBJECT_CLASS classes[2] = {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY};
    CK_OBJECT_HANDLE *obj = NULL;
    CK_ULONG n;
    CK_RV rv = CKR_OK;

    free(oa->v);
    oa->v = NULL;
    oa->n = 0;
    if ((obj = calloc(OBJECTS_MAX, sizeof(*obj))) == NULL ||
        (oa->v = calloc(OBJECTS_MAX, sizeof(*oa->v))) == NULL) {
        rv = HSMB_RV_NOMEM;
        goto out;
    }
    for (int c = 0; c < 2; c++) {
        CK_ATTRIBUTE tmpl = {CKA_CLASS, &classes[c], sizeof(classes[c])};
        if ((rv = hsm_find(tok, s->h, &tmpl, 1, obj, OBJECTS_MAX - oa->n, &n)) != CKR_OK)
            goto out;
        for (CK_ULONG j = 0; j < n; j++)
            object_describe(tok, s->h, obj[j], c == 0, &oa->v[oa->n++]);
    }
out:
    free(obj);
    return rv;
}

enum signet_err hsm_token_objects(struct hsm_token *tok, struct hsm_object_info **out,
                                  size_t *out_n, char *detail)
{
    struct objects_arg oa = {NULL, 0};
    char what[100];
    enum signet_err rc;

    *out = NULL;
    *out_n = 0;
    snprintf(what, sizeof(what), "listing keys on token '%s'", tok->label);
    if ((rc = hsm_token_run(tok, what, objects_op, &oa, detail)) != SIGNET_OK) {
        free(oa.v);
        return rc;
    }
    *out = oa.v;
    *out_n = oa.n;
    return SIGNET_OK;
}
