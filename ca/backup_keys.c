/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Backup key wrapping through hsmbind's wrap API (docs/backup.md).
 *
 * Each online token holds one trusted key-encryption key, "signet-backup-kek" (AES-256,
 * CKA_TRUSTED, made by the Security Officer once: demo init, `signet backup init-kek`, or a
 * restore). Keys marked for backup (HSM_KEYGEN_BACKUP: CKA_EXTRACTABLE with
 * CKA_WRAP_WITH_TRUSTED) are wrapped under it with CKM_AES_KEY_WRAP_PAD in the user's login, so
 * a backup needs no SO login while signetd runs. The KEK itself leaves the token only wrapped
 * with RSA-OAEP to each RSA backup recipient; on restore the recipient's key recovers it, it is
 * wrapped again to a transport pair made on the new token and unwrapped there, and the keys are
 * unwrapped under it (each proved by a signature against its certificate's public key).
 */
#include "internal.h"

#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

#define KEK_LABEL       "signet-backup-kek"
#define KEK_IN_LABEL    "signet-restore-kek"
#define TRANSPORT_LABEL "signet-restore-transport"
#define KEK_BLOB_MAX    1024 /* RSA-OAEP of 32 bytes under a key of up to 8192 bits */

/* Opens the token of t without the user PIN (for the SO's work). */
static enum signet_err open_no_login(const struct ca_token_ent *t, struct hsm_token **out,
                                     char *detail)
{
    struct hsm_token_config cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.module = t->module;
    cfg.token_label = t->label;
    cfg.init_reserved = t->init_reserved;
    cfg.pool_size = 1;
    return hsm_token_open(&cfg, NULL, out, detail);
}

enum signet_err ca_bk_kek_init(const struct ca_token_ent *t, const struct secret *so_pin,
                               int replace, char *detail)
{
    struct hsm_token *tok = NULL;
    enum signet_err rc;

    if ((rc = open_no_login(t, &tok, detail)) != SIGNET_OK)
        return rc;
    if (replace)
        hsm_object_destroy(tok, KEK_LABEL, NULL, NULL);
    rc = hsm_wrapkey_generate(tok, KEK_LABEL, HSM_WRAPKEY_TRUSTED | HSM_WRAPKEY_EXTRACTABLE, so_pin,
                              detail);
    hsm_token_free(tok);
    return rc;
}

/* The pkcs11: URI of label on token t. */
static void key_uri(const struct ca_token_ent *t, const char *label, char *out, size_t cap)
{
    snprintf(out, cap, "pkcs11:token=%s;object=%s", t->label, label);
}

enum signet_err ca_bk_wrap(struct ca_ctx *ctx, struct ca_token_ent *t, struct ca_bk_key *keys,
                           size_t n, EVP_PKEY *const *recips, size_t nrecips,
                           struct ca_bk_kek *keks, char *detail)
{
    struct hsm_token *tok = NULL;
    char uri[600], why[SIGNET_DETAIL_MAX];
    enum signet_err rc;

    if ((rc = ca_token(ctx, t->name, &tok, detail)) != SIGNET_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        struct hsm_key *k = NULL;
        key_uri(t, keys[i].label, uri, sizeof(uri));
        if ((rc = hsm_key_find(tok, uri, &k, detail)) != SIGNET_OK)
            return rc;
        rc = hsm_wrap(k, KEK_LABEL, &keys[i].wrapped, &keys[i].wrapped_len, why);
        hsm_key_free(k);
        if (rc == SIGNET_E_FORBIDDEN) { /* not marked for backup: it stays on its token */
            sg_log(SG_LOG_WARN, "backup: %s is not in the backup: %s", keys[i].label, why);
            keys[i].extractable = 0;
            continue;
        }
        if (rc != SIGNET_OK) {
            sg_detail(detail,
                      "backup: key %s: %s (is %s on token %s? `signet backup init-kek` makes it)",
                      keys[i].label, why, KEK_LABEL, t->label);
            return rc;
        }
        keys[i].extractable = 1;
    }
    for (size_t r = 0; r < nrecips; r++) {
        keks[r].blob = NULL;
        if (!EVP_PKEY_is_a(recips[r], "RSA"))
            continue;
        if ((rc = hsm_wrapkey_export(tok, KEK_LABEL, recips[r], &keks[r].blob, &keks[r].len,
                                     detail)) != SIGNET_OK)
            return rc;
    }
    return SIGNET_OK;
}

/* RSA-OAEP (SHA-1, MGF1-SHA-1: what SoftHSM accepts) with key, decrypt or encrypt. */
static int oaep(EVP_PKEY *key, int decrypt, const unsigned char *in, size_t len, unsigned char *out,
                size_t *out_len)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    int ok = c != NULL && (decrypt ? EVP_PKEY_decrypt_init(c) : EVP_PKEY_encrypt_init(c)) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha1()) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha1()) == 1 &&
             (decrypt ? EVP_PKEY_decrypt(c, out, out_len, in, len)
                      : EVP_PKEY_encrypt(c, out, out_len, in, len)) == 1;

    EVP_PKEY_CTX_free(c);
    return ok;
}

/*
 * Brings the backup's KEK into tok as KEK_IN_LABEL: recovered with the recipient's key, wrapped
 * again to a transport pair made on tok, unwrapped there.
 */
static enum signet_err kek_in(struct hsm_token *tok, EVP_PKEY *rkey, const unsigned char *blob,
                              size_t len, char *detail)
{
    unsigned char kek[KEK_BLOB_MAX], again[KEK_BLOB_MAX]; /* RSA decrypt wants the modulus size */
    size_t klen = sizeof(kek), alen = sizeof(again);
    EVP_PKEY *tpub = NULL;
    enum signet_err rc;

    if (!oaep(rkey, 1, blob, len, kek, &klen) || klen != 32) {
        sg_detail(detail, "restore: the recipient key does not open the backup's key-encryption "
                          "key (another recipient, or altered)");
        OPENSSL_cleanse(kek, sizeof(kek));
        return SIGNET_E_INVALID;
    }
    hsm_object_destroy(tok, TRANSPORT_LABEL, NULL, NULL);
    if ((rc = hsm_transport_keypair(tok, TRANSPORT_LABEL, &tpub, detail)) == SIGNET_OK) {
        if (!oaep(tpub, 0, kek, klen, again, &alen))
            rc = SIGNET_E_CRYPTO;
        else
            rc = hsm_wrapkey_import(tok, TRANSPORT_LABEL, again, alen, KEK_IN_LABEL, detail);
    }
    OPENSSL_cleanse(kek, sizeof(kek));
    EVP_PKEY_free(tpub);
    hsm_object_destroy(tok, TRANSPORT_LABEL, NULL, NULL);
    return rc;
}

enum signet_err ca_bk_unwrap(struct ca_ctx *ctx, struct ca_token_ent *t, EVP_PKEY *rkey,
                             const unsigned char *kek_blob, size_t kek_len,
                             const struct ca_bk_key *keys, EVP_PKEY *const *pubs, size_t n,
                             char *detail)
{
    struct hsm_token *tok = NULL;
    enum signet_err rc;

    if ((rc = ca_token(ctx, t->name, &tok, detail)) != SIGNET_OK ||
        (rc = kek_in(tok, rkey, kek_blob, kek_len, detail)) != SIGNET_OK)
        return rc;
    for (size_t i = 0; i < n && rc == SIGNET_OK; i++) {
        struct hsm_key *k = NULL;
        if (!keys[i].extractable)
            continue;
        rc = hsm_unwrap(tok, KEK_IN_LABEL, keys[i].wrapped, keys[i].wrapped_len, pubs[i],
                        keys[i].label, HSM_KEYGEN_BACKUP, &k, detail);
        hsm_key_free(k);
    }
    hsm_object_destroy(tok, KEK_IN_LABEL, NULL, NULL);
    return rc;
}

void ca_bk_keys_free(struct ca_bk_key *keys, size_t n)
{
    for (size_t i = 0; keys != NULL && i < n; i++)
        free(keys[i].wrapped);
    free(keys);
}
