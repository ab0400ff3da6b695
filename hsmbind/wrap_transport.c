/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Transport of an AES key between tokens or modules (hsmbind.h "wrapping"): an RSA-3072 pair on
 * the destination whose private half only unwraps, the source's AES key wrapped under its public
 * half with CKM_RSA_PKCS_OAEP (SHA-1 / MGF1-SHA-1: all SoftHSM 2.6 accepts), and unwrapped on the
 * destination as a key that only wraps and unwraps. No clear key crosses this interface.
 */
#include "internal.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- transport between tokens: an RSA pair on the destination carries an AES key ---- */

struct tpair_arg {
    const char *label;
    unsigned char id[HSM_WRAP_ID_LEN];
    enum hsm_wrap_why why;
};

/* An RSA-3072 pair whose private half may only unwrap and whose public half may only wrap. */
static CK_RV tpair_op(struct hsm_token *tok, struct hsm_sess *s, void *arg)
{
    static const unsigned char f4[] = {0x01, 0x00, 0x01};
    struct tpair_arg *a = arg;
    CK_MECHANISM mech = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ULONG bits = 3072;
    CK_OBJECT_HANDLE pub, priv;
    CK_ULONG ll = strlen(a->label);

    if (hsm_find_labelled(tok, s->h, CKO_PRIVATE_KEY, a->label, &priv) != HSMB_RV_NOTFOUND) {
        a->why = WHY_EXISTS;
        return HSMB_RV_EXISTS;
    }
    CK_ATTRIBUTE pt[] = {{CKA_TOKEN, &yes, sizeof(yes)},
                         {CKA_PRIVATE, &no, sizeof(no)},
                         {CKA_WRAP, &yes, sizeof(yes)},
                         {CKA_VERIFY, &no, sizeof(no)},
                         {CKA_ENCRYPT, &no, sizeof(no)},
                         {CKA_MODULUS_BITS, &bits, sizeof(bits)},
                         {CKA_PUBLIC_EXPONENT, (void *)f4, sizeof(f4)},
                         {CKA_LABEL, (void *)a->label, ll},
                         {CKA_ID, a->id, sizeof(a->id)}};
    CK_ATTRIBUTE vt[] = {{CKA_TOKEN, &yes, sizeof(yes)},     {CKA_PRIVATE, &yes, sizeof(yes)},
                         {CKA_SENSITIVE, &yes, sizeof(yes)}, {CKA_EXTRACTABLE, &no, sizeof(no)},
                         {CKA_UNWRAP, &yes, sizeof(yes)},    {CKA_SIGN, &no, sizeof(no)},
                         {CKA_DECRYPT, &no, sizeof(no)},     {CKA_LABEL, (void *)a->label, ll},
                         {CKA_ID, a->id, sizeof(a->id)}};
    return tok->mod->fn->C_GenerateKeyPair(s->h, &mech, pt, 9, vt, 9, &pub, &priv);
}

struct tpub_arg {
    const unsigned char *id;
    EVP_PKEY *pub;
};

static CK_RV tpub_op(struct hsm_token *tok, struct hsm_sess *s, void *arg)
{
    struct tpub_arg *a = arg;
    enum hsm_key_type type;

    return hsm_key_read_public(tok, s->h, a->id, HSM_WRAP_ID_LEN, &a->pub, &type);
}

enum signet_err hsm_transport_keypair(struct hsm_token *dst, const char *label, EVP_PKEY **out,
                                      char *detail)
{
    struct tpair_arg a = {label, {0}, WHY_NONE};
    struct tpub_arg p = {NULL, NULL};
    char what[200];
    enum signet_err rc;

    *out = NULL;
    if (!hsm_wrap_label_ok(label)) {
        sg_detail(detail, "a transport key pair needs a label");
        return SIGNET_E_USAGE;
    }
    if (RAND_bytes(a.id, sizeof(a.id)) != 1)
        return SIGNET_E_CRYPTO;
    snprintf(what, sizeof(what), "generating transport key pair '%s' on token '%s'", label,
             dst->label);
    if ((rc = hsm_token_run(dst, what, tpair_op, &a, detail)) != SIGNET_OK) {
        if (a.why == WHY_EXISTS) {
            sg_detail(detail, "token '%s' already has a key labelled '%s'", dst->label, label);
            rc = SIGNET_E_EXISTS;
        }
        return rc;
    }
    p.id = a.id;
    snprintf(what, sizeof(what), "reading transport public key '%s'", label);
    if ((rc = hsm_token_run(dst, what, tpub_op, &p, detail)) != SIGNET_OK)
        return rc;
    *out = p.pub;
    return SIGNET_OK;
}

struct kexp_arg {
    const char *kek;
    struct hsm_pubtmpl *pt;
    unsigned char *blob;
    size_t len;
    enum hsm_wrap_why why;
};

/* The OAEP parameters SoftHSM 2.6 accepts: SHA-1 and MGF1 with SHA-1, no label. */
static CK_RSA_PKCS_OAEP_PARAMS oaep_params = {CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, NULL,
                                              0};

/* Imports the destination's RSA public key as a session object and wraps the AES key with it. */
static CK_RV kexp_op(struct hsm_token *tok, struct hsm_sess *s, void *arg)
{
    struct kexp_arg *a = arg;
    CK_FUNCTION_LIST_PTR f = tok->mod->fn;
    CK_MECHANISM mech = {CKM_RSA_PKCS_OAEP, &oaep_params, sizeof(oaep_params)};
    CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
    CK_KEY_TYPE kt = CKK_RSA;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_OBJECT_HANDLE kek, rsa = 0;
    CK_ULONG len = 0;
    CK_RV rv;

    if ((rv = hsm_find_labelled(tok, s->h, CKO_SECRET_KEY, a->kek, &kek)) != CKR_OK) {
        a->why = rv == HSMB_RV_NOTFOUND ? WHY_NOKEK : WHY_NONE;
        return rv;
    }
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
                        {CKA_KEY_TYPE, &kt, sizeof(kt)},
                        {CKA_TOKEN, &no, sizeof(no)},
                        {CKA_WRAP, &yes, sizeof(yes)},
                        {CKA_MODULUS, a->pt->n, (CK_ULONG)a->pt->nlen},
                        {CKA_PUBLIC_EXPONENT, a->pt->e, (CK_ULONG)a->pt->elen}};
    if ((rv = f->C_CreateObject(s->h, t, 6, &rsa)) != CKR_OK)
        return rv;
    if ((rv = f->C_WrapKey(s->h, &mech, rsa, kek, NULL, &len)) != CKR_OK)
        goto out;
    if (len == 0 || len > HSM_WRAP_BLOB_MAX) {
        rv = HSMB_RV_OVERRUN;
        goto out;
    }
    free(a->blob);
    if ((a->blob = malloc(len)) == NULL) {
        rv = HSMB_RV_NOMEM;
        goto out;
    }
    if ((rv = f->C_WrapKey(s->h, &mech, rsa, kek, a->blob, &len)) == CKR_OK)
        a->len = len;
out:
    f->C_DestroyObject(s->h, rsa);
    return rv;
}

enum signet_err hsm_wrapkey_export(struct hsm_token *src, const char *kek_label,
                                   const EVP_PKEY *transport_pub, unsigned char **out,
                                   size_t *out_len, char *detail)
{
    struct hsm_pubtmpl pt;
    struct kexp_arg a = {kek_label, &pt, NULL, 0, WHY_NONE};
    char what[200];
    enum signet_err rc;

    *out = NULL;
    *out_len = 0;
    if (!hsm_wrap_label_ok(kek_label) || transport_pub == NULL ||
        EVP_PKEY_get_base_id(transport_pub) != EVP_PKEY_RSA ||
        !hsm_pubtmpl_from(transport_pub, &pt)) {
        sg_detail(detail, "exporting a wrapping key needs its label and an RSA transport key");
        return SIGNET_E_USAGE;
    }
    snprintf(what, sizeof(what), "wrapping AES key '%s' on token '%s' for transport", kek_label,
             src->label);
    if ((rc = hsm_token_run(src, what, kexp_op, &a, detail)) != SIGNET_OK) {
        free(a.blob);
        if (a.why == WHY_NOKEK) {
            hsm_wrap_why_detail(a.why, "", kek_label, src->label, detail);
            rc = SIGNET_E_NOTFOUND;
        } else if (rc == SIGNET_E_HSM && strstr(detail, "UNEXTRACTABLE") != NULL) {
            sg_detail(detail,
                      "AES key '%s' on token '%s' is not extractable: it cannot be "
                      "transported (make it with HSM_WRAPKEY_EXTRACTABLE)",
                      kek_label, src->label);
            rc = SIGNET_E_FORBIDDEN;
        }
        return rc;
    }
    *out = a.blob;
    *out_len = a.len;
    return SIGNET_OK;
}

struct kimp_arg {
    const char *tlabel;
    const unsigned char *blob;
    size_t len;
    const char *label;
    enum hsm_wrap_why why;
};

/* Unwraps the AES key with the transport private key into a token object that only unwraps. */
static CK_RV kimp_op(struct hsm_token *tok, struct hsm_sess *s, void *arg)
{
    struct kimp_arg *a = arg;
    CK_MECHANISM mech = {CKM_RSA_PKCS_OAEP, &oaep_params, sizeof(oaep_params)};
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_OBJECT_HANDLE rsa, h;
    CK_RV rv;

    if (hsm_find_labelled(tok, s->h, CKO_SECRET_KEY, a->label, &h) != HSMB_RV_NOTFOUND) {
        a->why = WHY_EXISTS;
        return HSMB_RV_EXISTS;
    }
    if ((rv = hsm_find_labelled(tok, s->h, CKO_PRIVATE_KEY, a->tlabel, &rsa)) != CKR_OK) {
        a->why = rv == HSMB_RV_NOTFOUND ? WHY_NOKEK : WHY_NONE;
        return rv;
    }
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
                        {CKA_KEY_TYPE, &kt, sizeof(kt)},
                        {CKA_TOKEN, &yes, sizeof(yes)},
                        {CKA_PRIVATE, &yes, sizeof(yes)},
                        {CKA_SENSITIVE, &yes, sizeof(yes)},
                        {CKA_EXTRACTABLE, &no, sizeof(no)},
                        {CKA_UNWRAP, &yes, sizeof(yes)},
                        {CKA_WRAP, &yes, sizeof(yes)},
                        {CKA_LABEL, (void *)a->label, strlen(a->label)}};
    return hsm_unwrap_rv(
        tok->mod->fn->C_UnwrapKey(s->h, &mech, rsa, (CK_BYTE_PTR)a->blob, a->len, t, 9, &h),
        &a->why);
}

enum signet_err hsm_wrapkey_import(struct hsm_token *dst, const char *transport_label,
                                   const unsigned char *blob, size_t len, const char *kek_label,
                                   char *detail)
{
    struct kimp_arg a = {transport_label, blob, len, kek_label, WHY_NONE};
    char what[300];
    enum signet_err rc;

    if (!hsm_wrap_label_ok(transport_label) || !hsm_wrap_label_ok(kek_label) || blob == NULL ||
        len == 0 || len > HSM_WRAP_BLOB_MAX) {
        sg_detail(detail, "importing a wrapping key needs the transport label, a new label and "
                          "a wrapped key");
        return SIGNET_E_USAGE;
    }
    snprintf(what, sizeof(what), "unwrapping AES key '%s' on token '%s' with '%s'", kek_label,
             dst->label, transport_label);
    if ((rc = hsm_token_run(dst, what, kimp_op, &a, detail)) != SIGNET_OK) {
        if (a.why == WHY_EXISTS) {
            sg_detail(detail, "token '%s' already has a secret key labelled '%s'", dst->label,
                      kek_label);
            rc = SIGNET_E_EXISTS;
        } else if (a.why == WHY_NOKEK) {
            sg_detail(detail, "no transport private key labelled '%s' on token '%s'",
                      transport_label, dst->label);
            rc = SIGNET_E_NOTFOUND;
        } else if (a.why == WHY_BADBLOB) {
            sg_detail(detail,
                      "the transported key does not unwrap under '%s' on token '%s': altered, "
                      "or wrapped for another transport key",
                      transport_label, dst->label);
            rc = SIGNET_E_INVALID;
        }
    }
    return rc;
}
