/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The in-process OpenSSL 3 provider "signet-hsm": presents a token key (struct hsm_key) as an
 * EVP_PKEY whose private operations go through hsm_sign. Its KEYMGMT carries the key types'
 * OpenSSL names so X509_sign & co. treat the key as an ordinary EC / RSA / Ed25519 key, but
 * answers OSSL_OP_SIGNATURE with names only this provider implements ("SIGNET-ECDSA", ...), so
 * EVP never routes a signature to another provider (which would need the private key exported).
 * The private key never exists here: export refuses the private part and nothing reads CKA_VALUE.
 * Only the public API of hsmbind.h is used.
 */
#include <pthread.h>
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>

#include "hsmbind.h"

#define SP_NAME    "signet-hsm"
#define SP_PROPQ   "provider=" SP_NAME
#define SP_KEY_PRM "signet-hsm-key" /* private import parameter: an octet-ptr to struct hsm_key */
#define SP_MD_PROPQ                                                                                \
    "?provider=default" /* digests come from elsewhere: this provider has none                     \
                         */

enum sp_kind { SP_EC, SP_RSA, SP_ED25519, SP_KIND_MAX };

/* Reason codes raised through the core; texts in sp_reasons. */
enum sp_reason {
    SP_R_HSM = 1,
    SP_R_PRIVATE_STAYS,
    SP_R_DIGEST,
    SP_R_PARAM,
    SP_R_KEY,
    SP_R_INTERNAL,
};

static const OSSL_ITEM sp_reasons[] = {
    {SP_R_HSM, "HSM signing failed"},
    {SP_R_PRIVATE_STAYS, "the private key stays on the token"},
    {SP_R_DIGEST, "digest not allowed for this HSM key"},
    {SP_R_PARAM, "parameter not supported by the signet-hsm provider"},
    {SP_R_KEY, "not a signet-hsm token key"},
    {SP_R_INTERNAL, "internal error in the signet-hsm provider"},
    {0, NULL},
};

/* Core functions for raising errors, captured at provider init (one instance per process). */
static const OSSL_CORE_HANDLE *sp_core;
static OSSL_FUNC_core_new_error_fn *sp_new_error;
static OSSL_FUNC_core_set_error_debug_fn *sp_set_error_debug;
static OSSL_FUNC_core_vset_error_fn *sp_vset_error;

/* The key hsm_key_evp is importing on this thread; import refuses any other pointer. */
static _Thread_local struct hsm_key *sp_importing;

/* Raises a provider error with a formatted text; the caller sees it in OpenSSL's error queue. */
__attribute__((format(printf, 4, 5))) static void sp_raise_at(const char *file, int line,
                                                              int reason, const char *fmt, ...)
{
    va_list ap;

    if (sp_new_error == NULL || sp_vset_error == NULL)
        return;
    sp_new_error(sp_core);
    if (sp_set_error_debug != NULL)
        sp_set_error_debug(sp_core, file, line, NULL);
    va_start(ap, fmt);
    sp_vset_error(sp_core, reason, fmt, ap);
    va_end(ap);
}

#define sp_raise(...) sp_raise_at(OPENSSL_FILE, OPENSSL_LINE, __VA_ARGS__)

/* ---- key data ---- */

struct sp_key {
    enum sp_kind kind;
    struct hsm_key *hsm; /* the token key; NULL for a public key imported from another provider */
    EVP_PKEY *pub;       /* a reference to the public key (default provider) */
};

static const char *const sp_type_names[SP_KIND_MAX] = {"EC", "RSA", "ED25519"};
static const char *const sp_sig_names[SP_KIND_MAX] = {"SIGNET-ECDSA", "SIGNET-RSA",
                                                      "SIGNET-ED25519"};

static void sp_key_free(void *vkey)
{
    struct sp_key *key = vkey;

    if (key == NULL)
        return;
    EVP_PKEY_free(key->pub);
    OPENSSL_free(key);
}

static struct sp_key *sp_key_new(enum sp_kind kind)
{
    struct sp_key *key = OPENSSL_zalloc(sizeof(*key));

    if (key != NULL)
        key->kind = kind;
    return key;
}

static void *sp_key_dup(const void *vsrc, int selection)
{
    const struct sp_key *src = vsrc;
    struct sp_key *key = NULL;

    (void)selection;
    if (src == NULL || (key = sp_key_new(src->kind)) == NULL)
        return NULL;
    key->hsm = src->hsm;
    if (src->pub != NULL && EVP_PKEY_up_ref(src->pub))
        key->pub = src->pub;
    return key;
}

/* 1 when a parameter names a private component (EC/EdDSA "priv", RSA "d" and CRT values). */
static int sp_param_is_private(const char *name)
{
    return strcmp(name, OSSL_PKEY_PARAM_PRIV_KEY) == 0 ||
           strcmp(name, OSSL_PKEY_PARAM_RSA_D) == 0 || strncmp(name, "rsa-factor", 10) == 0 ||
           strncmp(name, "rsa-exponent", 12) == 0 || strncmp(name, "rsa-coefficient", 15) == 0;
}

/*
 * Public key import from another provider's key (OpenSSL 3.0 cross-exports keys this way to
 * compare them). Parameters carrying a private component are refused. 1 = ok.
 */
static int sp_import_public(struct sp_key *key, const OSSL_PARAM params[])
{
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pub = NULL;
    int ok = 0;

    for (const OSSL_PARAM *p = params; p != NULL && p->key != NULL; p++) {
        if (sp_param_is_private(p->key)) {
            sp_raise(SP_R_PRIVATE_STAYS, "refusing to import a private key into " SP_NAME);
            goto out;
        }
    }
    ctx = EVP_PKEY_CTX_new_from_name(NULL, sp_type_names[key->kind], "provider=default");
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pub, EVP_PKEY_PUBLIC_KEY, (OSSL_PARAM *)params) <= 0)
        goto out;
    EVP_PKEY_free(key->pub);
    key->pub = pub;
    pub = NULL;
    ok = 1;
out:
    EVP_PKEY_free(pub);
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/*
 * Import: either the private "signet-hsm-key" parameter (only from hsm_key_evp on this thread,
 * for a key of this keymgmt's type) or a public key. 1 = ok.
 */
static int sp_key_import(void *vkey, int selection, const OSSL_PARAM params[])
{
    struct sp_key *key = vkey;
    const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, SP_KEY_PRM);
    const void *ptr = NULL;
    size_t len = 0;
    EVP_PKEY *pub;

    if (key == NULL || key->pub != NULL)
        return 0;
    if (p == NULL)
        return (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0 && sp_import_public(key, params);
    if (!OSSL_PARAM_get_octet_ptr(p, &ptr, &len) || ptr == NULL || ptr != sp_importing) {
        sp_raise(SP_R_KEY, "a signet-hsm key can only be made by hsm_key_evp");
        return 0;
    }
    pub = hsm_key_public(sp_importing);
    if (pub == NULL || !EVP_PKEY_is_a(pub, sp_type_names[key->kind]) || !EVP_PKEY_up_ref(pub)) {
        sp_raise(SP_R_KEY, "key %s has no %s public key", hsm_key_uri(sp_importing),
                 sp_type_names[key->kind]);
        return 0;
    }
    key->hsm = sp_importing;
    key->pub = pub;
    return 1;
}

/* What import and export carry: the public key (hsm_key_evp's private parameter is not listed). */
static const OSSL_PARAM sp_pub_params[] = {
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
    OSSL_PARAM_END,
};

static const OSSL_PARAM *sp_key_import_types(int selection)
{
    (void)selection;
    return sp_pub_params;
}

/* Export hands out the public part only; a request that includes the private part fails. */
static int sp_key_export(void *vkey, int selection, OSSL_CALLBACK *cb, void *cbarg)
{
    struct sp_key *key = vkey;
    int sel = 0;

    if (key == NULL || key->pub == NULL)
        return 0;
    if (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) {
        sp_raise(SP_R_PRIVATE_STAYS, "key %s: only the public key can be exported",
                 key->hsm != NULL ? hsm_key_uri(key->hsm) : "(public)");
        return 0;
    }
    if (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY)
        sel = EVP_PKEY_PUBLIC_KEY;
    else if (selection & OSSL_KEYMGMT_SELECT_ALL_PARAMETERS)
        sel = EVP_PKEY_KEY_PARAMETERS;
    if (sel == 0)
        return 0;
    return EVP_PKEY_export(key->pub, sel, cb, cbarg);
}

static const OSSL_PARAM *sp_key_export_types(int selection)
{
    if (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY)
        return NULL;
    return sp_pub_params;
}

static int sp_key_has(const void *vkey, int selection)
{
    const struct sp_key *key = vkey;

    if (key == NULL || key->pub == NULL)
        return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) && key->hsm == NULL)
        return 0;
    return 1;
}

/* Compares public keys (or domain parameters) of two keys of this keymgmt. 1 = same. */
static int sp_key_match(const void *va, const void *vb, int selection)
{
    const struct sp_key *a = va, *b = vb;

    if (a == NULL || b == NULL || a->pub == NULL || b->pub == NULL)
        return 0;
    if (selection & OSSL_KEYMGMT_SELECT_KEYPAIR)
        return EVP_PKEY_eq(a->pub, b->pub) == 1;
    return EVP_PKEY_parameters_eq(a->pub, b->pub) == 1 || a->kind != SP_EC;
}

/*
 * Validation: the public key is checked by OpenSSL; the private half cannot be read, and every
 * signature hsm_sign returns is verified against the public key, so a token key is taken as valid.
 */
static int sp_key_validate(const void *vkey, int selection, int checktype)
{
    const struct sp_key *key = vkey;
    EVP_PKEY_CTX *ctx = NULL;
    int ok = 0;

    (void)checktype;
    if (!sp_key_has(vkey, selection))
        return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) == 0)
        return 1;
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pub, "provider=default");
    ok = ctx != NULL && EVP_PKEY_public_check(ctx) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/*
 * bits, security-bits, max-size (the largest signature), default/mandatory digest as OpenSSL's
 * own keys report them; anything else public (group, encoded-pub-key, n, e) from the public key.
 */
static int sp_key_get_params(void *vkey, OSSL_PARAM params[])
{
    struct sp_key *key = vkey;
    OSSL_PARAM *p;

    if (key == NULL || key->pub == NULL)
        return 0;
    if (!EVP_PKEY_get_params(key->pub, params))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_BITS);
    if (p != NULL && !OSSL_PARAM_set_int(p, EVP_PKEY_get_bits(key->pub)))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_SECURITY_BITS);
    if (p != NULL && !OSSL_PARAM_set_int(p, EVP_PKEY_get_security_bits(key->pub)))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_MAX_SIZE);
    if (p != NULL && !OSSL_PARAM_set_int(p, EVP_PKEY_get_size(key->pub)))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_DEFAULT_DIGEST);
    if (p != NULL && key->kind != SP_ED25519 && !OSSL_PARAM_set_utf8_string(p, "SHA256"))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_MANDATORY_DIGEST);
    if (p != NULL && key->kind == SP_ED25519 && !OSSL_PARAM_set_utf8_string(p, ""))
        return 0;
    return 1;
}

static const OSSL_PARAM sp_gettable[] = {
    OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_MANDATORY_DIGEST, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
    OSSL_PARAM_END,
};

static const OSSL_PARAM *sp_key_gettable_params(void *provctx)
{
    (void)provctx;
    return sp_gettable;
}

/* Per key type: new, query_operation_name (our signature's name) and the dispatch table. */
#define SP_KEYMGMT(pfx, kind)                                                                      \
    static void *pfx##_new(void *provctx)                                                          \
    {                                                                                              \
        (void)provctx;                                                                             \
        return sp_key_new(kind);                                                                   \
    }                                                                                              \
    static const char *pfx##_opname(int op)                                                        \
    {                                                                                              \
        return op == OSSL_OP_SIGNATURE ? sp_sig_names[kind] : NULL;                                \
    }                                                                                              \
    static const OSSL_DISPATCH pfx##_keymgmt[] = {                                                 \
        {OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))pfx##_new},                                        \
        {OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))sp_key_free},                                     \
        {OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))sp_key_dup},                                       \
        {OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))sp_key_has},                                       \
        {OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))sp_key_match},                                   \
        {OSSL_FUNC_KEYMGMT_VALIDATE, (void (*)(void))sp_key_validate},                             \
        {OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))sp_key_import},                                 \
        {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))sp_key_import_types},                     \
        {OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))sp_key_export},                                 \
        {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))sp_key_export_types},                     \
        {OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))sp_key_get_params},                         \
        {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))sp_key_gettable_params},               \
        {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))pfx##_opname},                    \
        {0, NULL}}

SP_KEYMGMT(sp_ec, SP_EC);
SP_KEYMGMT(sp_rsa, SP_RSA);
SP_KEYMGMT(sp_ed, SP_ED25519);

/* ---- signature ---- */

struct sp_sig {
    struct sp_key *key; /* borrowed: the EVP_PKEY_CTX holds the key */
    EVP_MD *md;         /* digest for EC / RSA; NULL for Ed25519 */
    EVP_MD_CTX *mdctx;  /* running digest of digest_sign_update */
};

static void *sp_sig_newctx(void *provctx, const char *propq)
{
    (void)provctx;
    (void)propq;
    return OPENSSL_zalloc(sizeof(struct sp_sig));
}

static void sp_sig_freectx(void *vctx)
{
    struct sp_sig *ctx = vctx;

    if (ctx == NULL)
        return;
    EVP_MD_free(ctx->md);
    EVP_MD_CTX_free(ctx->mdctx);
    OPENSSL_free(ctx);
}

/* Copies a context mid-operation (EVP_DigestSignFinal finalises a duplicate). NULL on failure. */
static void *sp_sig_dupctx(void *vsrc)
{
    const struct sp_sig *src = vsrc;
    struct sp_sig *ctx = OPENSSL_zalloc(sizeof(*ctx));

    if (ctx == NULL)
        return NULL;
    ctx->key = src->key;
    if (src->md != NULL && EVP_MD_up_ref(src->md))
        ctx->md = src->md;
    if ((src->mdctx != NULL && ((ctx->mdctx = EVP_MD_CTX_new()) == NULL ||
                                !EVP_MD_CTX_copy_ex(ctx->mdctx, src->mdctx))) ||
        (src->md != NULL && ctx->md == NULL)) {
        sp_sig_freectx(ctx);
        return NULL;
    }
    return ctx;
}

/*
 * Chooses the digest: SHA-256/384/512 for EC and RSA (what Signet's profiles allow and what
 * sp_algorithm_id can name); none for Ed25519, which signs the message. 1 = ok.
 */
static int sp_sig_set_md(struct sp_sig *ctx, const char *mdname)
{
    static const char *const allowed[] = {"SHA2-256", "SHA2-384", "SHA2-512"};
    EVP_MD *md = NULL;

    if (ctx->key->kind == SP_ED25519) {
        if (mdname != NULL && mdname[0] != '\0') {
            sp_raise(SP_R_DIGEST, "Ed25519 signs the message itself; digest %s refused", mdname);
            return 0;
        }
        return 1;
    }
    if (mdname == NULL || mdname[0] == '\0')
        mdname = "SHA256";
    md = EVP_MD_fetch(NULL, mdname, SP_MD_PROPQ);
    for (size_t i = 0; md != NULL && i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        if (EVP_MD_is_a(md, allowed[i])) {
            EVP_MD_free(ctx->md);
            ctx->md = md;
            return 1;
        }
    }
    EVP_MD_free(md);
    sp_raise(SP_R_DIGEST, "digest %s refused: use SHA256, SHA384 or SHA512", mdname);
    return 0;
}

static int sp_sig_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    struct sp_sig *ctx = vctx;
    const OSSL_PARAM *p;
    char name[64], *pname = name;
    int pad = 0;

    if (ctx == NULL || params == NULL)
        return ctx != NULL;
    p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST);
    if (p != NULL && (!OSSL_PARAM_get_utf8_string(p, &pname, sizeof(name)) || ctx->key == NULL ||
                      !sp_sig_set_md(ctx, name)))
        return 0;
    p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
    if (p != NULL) {
        pname = name;
        if (p->data_type == OSSL_PARAM_UTF8_STRING
                ? !OSSL_PARAM_get_utf8_string(p, &pname, sizeof(name)) ||
                      strcmp(name, OSSL_PKEY_RSA_PAD_MODE_PKCSV15) != 0
                : !OSSL_PARAM_get_int(p, &pad) || pad != RSA_PKCS1_PADDING) {
            sp_raise(SP_R_PARAM, "only PKCS#1 v1.5 padding is offered for HSM RSA keys");
            return 0;
        }
    }
    return 1;
}

static const OSSL_PARAM sp_sig_settable[] = {
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
    OSSL_PARAM_END,
};

static const OSSL_PARAM *sp_sig_settable_ctx_params(void *vctx, void *provctx)
{
    (void)vctx;
    (void)provctx;
    return sp_sig_settable;
}

/*
 * DER AlgorithmIdentifier of the signature (RFC 5758 3.2 ecdsa-with-SHA*, RFC 4055 5
 * sha*WithRSAEncryption with NULL parameters, RFC 8410 3 Ed25519 without parameters).
 */
static int sp_algorithm_id(const struct sp_sig *ctx, const unsigned char **out, size_t *out_len)
{
    static const unsigned char ec[3][12] = {
        {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02},
        {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03},
        {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04}};
    static const unsigned char rsa[3][15] = {
        {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00},
        {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c, 0x05, 0x00},
        {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d, 0x05, 0x00}};
    static const unsigned char ed[] = {0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70};
    int i;

    if (ctx->key == NULL)
        return 0;
    if (ctx->key->kind == SP_ED25519) {
        *out = ed;
        *out_len = sizeof(ed);
        return 1;
    }
    if (ctx->md == NULL)
        return 0;
    i = EVP_MD_is_a(ctx->md, "SHA2-256") ? 0 : EVP_MD_is_a(ctx->md, "SHA2-384") ? 1 : 2;
    *out = ctx->key->kind == SP_EC ? ec[i] : rsa[i];
    *out_len = ctx->key->kind == SP_EC ? sizeof(ec[i]) : sizeof(rsa[i]);
    return 1;
}

static int sp_sig_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    struct sp_sig *ctx = vctx;
    const unsigned char *aid = NULL;
    size_t aid_len = 0;
    OSSL_PARAM *p;

    if (ctx == NULL)
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID);
    if (p != NULL &&
        (!sp_algorithm_id(ctx, &aid, &aid_len) || !OSSL_PARAM_set_octet_string(p, aid, aid_len)))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST);
    if (p != NULL && ctx->md != NULL && !OSSL_PARAM_set_utf8_string(p, EVP_MD_get0_name(ctx->md)))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
    if (p != NULL && ctx->key != NULL && ctx->key->kind == SP_RSA &&
        !OSSL_PARAM_set_int(p, RSA_PKCS1_PADDING))
        return 0;
    return 1;
}

static const OSSL_PARAM sp_sig_gettable[] = {
    OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_int(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL),
    OSSL_PARAM_END,
};

static const OSSL_PARAM *sp_sig_gettable_ctx_params(void *vctx, void *provctx)
{
    (void)vctx;
    (void)provctx;
    return sp_sig_gettable;
}

/* Common to every init: binds the key, resets running state, applies params. 1 = ok. */
static int sp_sig_bind(struct sp_sig *ctx, void *vkey, const OSSL_PARAM params[])
{
    struct sp_key *key = vkey;

    if (ctx == NULL || key == NULL || key->pub == NULL)
        return 0;
    ctx->key = key;
    EVP_MD_free(ctx->md);
    ctx->md = NULL;
    EVP_MD_CTX_free(ctx->mdctx);
    ctx->mdctx = NULL;
    return sp_sig_set_ctx_params(ctx, params);
}

static int sp_sig_sign_init(void *vctx, void *vkey, const OSSL_PARAM params[])
{
    struct sp_sig *ctx = vctx;

    if (!sp_sig_bind(ctx, vkey, params))
        return 0;
    if (ctx->key->hsm == NULL) {
        sp_raise(SP_R_KEY, "this key has no private half on a token");
        return 0;
    }
    return 1;
}

/*
 * Signs data on the token: a digest of ctx->md for EC and RSA, the message for Ed25519. With
 * sig NULL, reports the largest signature. 1 = ok; on failure the hsm detail is raised.
 */
static int sp_sig_token_sign(struct sp_sig *ctx, unsigned char *sig, size_t *siglen, size_t sigsize,
                             const unsigned char *data, size_t datalen)
{
    char detail[SIGNET_DETAIL_MAX] = "";
    size_t len = sigsize;
    enum signet_err err;

    if (sig == NULL) {
        *siglen = (size_t)EVP_PKEY_get_size(ctx->key->pub);
        return 1;
    }
    if (ctx->key->hsm == NULL)
        return 0;
    err = hsm_sign(ctx->key->hsm, ctx->md, data, datalen, sig, &len, detail);
    if (err != SIGNET_OK) {
        /* hsmbind's detail names the key, the call and what the token answered */
        sp_raise(SP_R_HSM, "%s: %s", signet_err_name(err), detail);
        return 0;
    }
    *siglen = len;
    return 1;
}

/* EVP_PKEY_sign: tbs is a digest. Without a digest set, EC infers it from the length. */
static int sp_sig_sign(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize,
                       const unsigned char *tbs, size_t tbslen)
{
    struct sp_sig *ctx = vctx;

    if (ctx->md == NULL && ctx->key->kind == SP_EC)
        (void)sp_sig_set_md(ctx, tbslen == 48 ? "SHA384" : tbslen == 64 ? "SHA512" : "SHA256");
    if (ctx->md == NULL || (size_t)EVP_MD_get_size(ctx->md) != tbslen) {
        sp_raise(SP_R_DIGEST, "EVP_PKEY_sign needs a SHA-256/384/512 digest of matching length");
        return 0;
    }
    return sp_sig_token_sign(ctx, sig, siglen, sigsize, tbs, tbslen);
}

static int sp_sig_digest_sign_init(void *vctx, const char *mdname, void *vkey,
                                   const OSSL_PARAM params[])
{
    struct sp_sig *ctx = vctx;

    if (!sp_sig_sign_init(ctx, vkey, params) || !sp_sig_set_md(ctx, mdname))
        return 0;
    if (ctx->md == NULL)
        return 1;
    ctx->mdctx = EVP_MD_CTX_new();
    return ctx->mdctx != NULL && EVP_DigestInit_ex(ctx->mdctx, ctx->md, NULL);
}

static int sp_sig_digest_sign_update(void *vctx, const unsigned char *data, size_t len)
{
    struct sp_sig *ctx = vctx;

    return ctx->mdctx != NULL && EVP_DigestUpdate(ctx->mdctx, data, len);
}

static int sp_sig_digest_sign_final(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize)
{
    struct sp_sig *ctx = vctx;
    unsigned char dgst[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;

    if (sig == NULL)
        return sp_sig_token_sign(ctx, NULL, siglen, sigsize, NULL, 0);
    if (ctx->mdctx == NULL || !EVP_DigestFinal_ex(ctx->mdctx, dgst, &dlen))
        return 0;
    return sp_sig_token_sign(ctx, sig, siglen, sigsize, dgst, dlen);
}

/* One-shot: hashes locally for EC and RSA; Ed25519 sends the whole message to the token. */
static int sp_sig_digest_sign(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize,
                              const unsigned char *tbs, size_t tbslen)
{
    struct sp_sig *ctx = vctx;
    unsigned char dgst[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;

    if (sig == NULL || ctx->md == NULL)
        return sp_sig_token_sign(ctx, sig, siglen, sigsize, tbs, tbslen);
    if (!EVP_Digest(tbs, tbslen, dgst, &dlen, ctx->md, NULL))
        return 0;
    return sp_sig_token_sign(ctx, sig, siglen, sigsize, dgst, dlen);
}

#define SP_SIG_COMMON                                                                              \
    {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))sp_sig_newctx},                                   \
        {OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))sp_sig_freectx},                             \
        {OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))sp_sig_dupctx},                               \
        {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, (void (*)(void))sp_sig_digest_sign_init},           \
        {OSSL_FUNC_SIGNATURE_DIGEST_SIGN, (void (*)(void))sp_sig_digest_sign},                     \
        {OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))sp_sig_get_ctx_params},               \
        {OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, (void (*)(void))sp_sig_gettable_ctx_params},     \
        {OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (void (*)(void))sp_sig_set_ctx_params},               \
    {                                                                                              \
        OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, (void (*)(void))sp_sig_settable_ctx_params        \
    }

/* EC and RSA also stream (update/final) and sign a ready digest; Ed25519 is one-shot only. */
static const OSSL_DISPATCH sp_sig_digest_fns[] = {
    SP_SIG_COMMON,
    {OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*)(void))sp_sig_sign_init},
    {OSSL_FUNC_SIGNATURE_SIGN, (void (*)(void))sp_sig_sign},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, (void (*)(void))sp_sig_digest_sign_update},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, (void (*)(void))sp_sig_digest_sign_final},
    {0, NULL},
};

static const OSSL_DISPATCH sp_sig_ed_fns[] = {SP_SIG_COMMON, {0, NULL}};

/* ---- provider ---- */

static const OSSL_ALGORITHM sp_keymgmt_algs[] = {
    {"EC:id-ecPublicKey:1.2.840.10045.2.1", SP_PROPQ, sp_ec_keymgmt, "Signet HSM EC key"},
    {"RSA:rsaEncryption:1.2.840.113549.1.1.1", SP_PROPQ, sp_rsa_keymgmt, "Signet HSM RSA key"},
    {"ED25519:1.3.101.112", SP_PROPQ, sp_ed_keymgmt, "Signet HSM Ed25519 key"},
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM sp_signature_algs[] = {
    {"SIGNET-ECDSA", SP_PROPQ, sp_sig_digest_fns, "ECDSA on a token"},
    {"SIGNET-RSA", SP_PROPQ, sp_sig_digest_fns, "RSA PKCS#1 v1.5 on a token"},
    {"SIGNET-ED25519", SP_PROPQ, sp_sig_ed_fns, "Ed25519 on a token"},
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM *sp_query(void *provctx, int op, int *no_cache)
{
    (void)provctx;
    *no_cache = 0;
    if (op == OSSL_OP_KEYMGMT)
        return sp_keymgmt_algs;
    if (op == OSSL_OP_SIGNATURE)
        return sp_signature_algs;
    return NULL;
}

static const OSSL_ITEM *sp_reason_strings(void *provctx)
{
    (void)provctx;
    return sp_reasons;
}

static const OSSL_DISPATCH sp_provider_fns[] = {
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))sp_query},
    {OSSL_FUNC_PROVIDER_GET_REASON_STRINGS, (void (*)(void))sp_reason_strings},
    {0, NULL},
};

/* Provider entry point: captures the core's error functions. */
static int sp_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
                   const OSSL_DISPATCH **out, void **provctx)
{
    for (; in != NULL && in->function_id != 0; in++) {
        if (in->function_id == OSSL_FUNC_CORE_NEW_ERROR)
            sp_new_error = OSSL_FUNC_core_new_error(in);
        else if (in->function_id == OSSL_FUNC_CORE_SET_ERROR_DEBUG)
            sp_set_error_debug = OSSL_FUNC_core_set_error_debug(in);
        else if (in->function_id == OSSL_FUNC_CORE_VSET_ERROR)
            sp_vset_error = OSSL_FUNC_core_vset_error(in);
    }
    sp_core = handle;
    *out = sp_provider_fns;
    *provctx = (void *)handle;
    return 1;
}

static pthread_once_t sp_once = PTHREAD_ONCE_INIT;
static OSSL_LIB_CTX *sp_libctx; /* ours alone: see sp_load */
static OSSL_PROVIDER *sp_prov;

/*
 * Makes the library context the provider lives in, once: a context of its own holding this
 * provider and a default provider (whose encoders write our keys' SubjectPublicKeyInfo).
 *
 * Why not the default context: our KEYMGMT answers to "EC", "RSA" and "ED25519", and OpenSSL
 * 3.0.19 lets a second implementation of those names leak into unqualified fetches there (e.g.
 * EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), which then fails: we generate nothing). A
 * signature init on our key ends with evp_keymgmt_fetch_from_prov(our provider, "EC", NULL),
 * which stores our KEYMGMT in the method cache under the query "" (a NULL query is cached as "")
 * and our provider; a cache lookup by an unqualified fetch (provider NULL, query "" again) matches
 * an entry of ANY provider (query_cmp compares providers only when both are set) and returns the
 * first one in the hash chain, i.e. ours whenever it was cached first since the last flush (every
 * provider load/unload flushes). The cache is consulted before properties are looked at, so a
 * default property query such as EVP_set_default_properties(NULL, "?provider=default") does not
 * help: it ranks implementations in the store (a fresh query string does get the default
 * provider's), but the unqualified fetch never gets that far. Re-seeding the cache with the
 * default provider's entries after each flush is what the earlier workaround did, on every
 * signature, and it still raced with other threads.
 *
 * In a context of its own, the default context's store and cache never contain our
 * implementations, so nothing there can pick them. Signing still works through OpenSSL's own
 * calls with the default context: EVP_DigestSignInit & co. first fetch our SIGNET-* signature
 * in the context they were given (not found; that error is popped), then from the provider of
 * the key's KEYMGMT, which finds ours (the two tries of do_sigver_init and
 * evp_pkey_signature_init in OpenSSL 3.0). Nothing global is changed: no default properties,
 * no provider added to the default context.
 */
static void sp_load(void)
{
    OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();

    if (ctx == NULL)
        return;
    if (OSSL_PROVIDER_load(ctx, "default") == NULL ||
        !OSSL_PROVIDER_add_builtin(ctx, SP_NAME, sp_init) ||
        (sp_prov = OSSL_PROVIDER_load(ctx, SP_NAME)) == NULL) {
        sp_prov = NULL;
        OSSL_LIB_CTX_free(ctx); /* unloads whatever was loaded in it */
        return;
    }
    sp_libctx = ctx;
}

/*
 * Builds the EVP_PKEY for a token key: EVP_PKEY_fromdata on this provider's keymgmt with the
 * private "signet-hsm-key" parameter. The key data refers to key (which must outlive the
 * EVP_PKEY) and holds a reference to its public key. Caller frees *out.
 */
enum signet_err hsm_key_evp(struct hsm_key *key, EVP_PKEY **out, char *detail)
{
    static const char *const names[HSM_KEY_TYPE_MAX] = {"EC", "EC", "RSA", "RSA", "RSA", "ED25519"};
    enum signet_err err = SIGNET_E_CRYPTO;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM params[2];
    void *ptr = key;
    enum hsm_key_type type;

    if (out != NULL)
        *out = NULL;
    if (key == NULL || out == NULL || (type = hsm_key_type(key)) >= HSM_KEY_TYPE_MAX) {
        sg_detail(detail, "hsm_key_evp: no key or an unknown key type");
        return SIGNET_E_USAGE;
    }
    if (pthread_once(&sp_once, sp_load) != 0 || sp_prov == NULL) {
        sg_detail(detail, "cannot load the OpenSSL provider " SP_NAME);
        sg_detail_openssl(detail);
        return SIGNET_E_INTERNAL;
    }
    params[0] = OSSL_PARAM_construct_octet_ptr(SP_KEY_PRM, &ptr, 1);
    params[1] = OSSL_PARAM_construct_end();
    ctx = EVP_PKEY_CTX_new_from_name(sp_libctx, names[type], SP_PROPQ);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0) {
        sg_detail(detail, "key %s: provider " SP_NAME " has no %s key management", hsm_key_uri(key),
                  names[type]);
        goto out;
    }
    sp_importing = key;
    if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) <= 0) {
        sg_detail(detail, "key %s: cannot make an EVP_PKEY", hsm_key_uri(key));
        goto out;
    }
    *out = pkey;
    pkey = NULL;
    err = SIGNET_OK;
out:
    sp_importing = NULL;
    if (err != SIGNET_OK)
        sg_detail_openssl(detail);
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    return err;
}
