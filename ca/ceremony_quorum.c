/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Quorum activation of an offline token from share files, and `signet root init`: the root
 * token's credential made at random, split among custodians, and the root key and certificate.
 */
#include "internal.h"

#include <limits.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_LOG2N 16 /* scrypt N = 2^16, r = 8: 64 MiB per share */
#define ROOT_DAYS     3650
#define PASS_BYTES    16

/* The offline token entry named name; refuses one that is not pin = quorum. */
static enum signet_err quorum_token(struct ca_ctx *ctx, const char *name, struct ca_token_ent **t,
                                    char *detail)
{
    if ((*t = ca_token_ent_find(ctx, name)) == NULL) {
        sg_detail(detail, "token %s: no [token.%s] section in %s", name, name,
                  sg_conf_file(ctx->conf));
        return SIGNET_E_NOTFOUND;
    }
    if (!ca_token_is_quorum(*t)) {
        sg_detail(detail, "token %s: [token.%s] is not pin = quorum; shares are not used for it",
                  (*t)->label, (*t)->name);
        return SIGNET_E_CONFIG;
    }
    return SIGNET_OK;
}

/* Loads the passphrase of each share in use: its file, or the terminal. */
static enum signet_err load_passes(const struct ca_share_src *src, struct ca_share_in *in, size_t n,
                                   const int *use, char *detail)
{
    for (size_t i = 0; i < n; i++) {
        char spec[PATH_MAX + 8], what[PATH_MAX + 32];
        enum signet_err rc;
        if (!use[i])
            continue;
        snprintf(spec, sizeof(spec), src[i].pass ? "file:%s" : "prompt",
                 src[i].pass ? src[i].pass : "");
        snprintf(what, sizeof(what), "passphrase of share %s", src[i].path);
        if ((rc = secret_load(spec, ".", what, &in[i].pass, detail)) != SIGNET_OK)
            return rc;
    }
    return SIGNET_OK;
}

/* "1,3": the indexes of the shares used. */
static void indexes(const struct ca_share_in *in, size_t n, const int *use, char *out, size_t cap)
{
    struct ca_share_hdr h;
    size_t len = 0;

    out[0] = 0;
    for (size_t i = 0; i < n; i++)
        if (use[i] && ca_share_parse(in[i].file, in[i].len, &h) && len + 5 < cap)
            len += (size_t)snprintf(out + len, cap - len, "%s%u", len ? "," : "", h.index);
}

enum signet_err ca_quorum_activate(struct ca_ctx *ctx, const char *token,
                                   const struct ca_share_src *src, size_t n, char *out_indexes,
                                   size_t cap, char *detail)
{
    struct ca_token_ent *t = NULL;
    struct ca_share_in in[CA_SHARES_MAX];
    unsigned char id[CA_ROOT_ID_LEN];
    struct secret *combined = NULL, *pin = NULL;
    int use[CA_SHARES_MAX];
    char why[SIGNET_DETAIL_MAX] = "";
    enum signet_err rc;

    memset(in, 0, sizeof(in));
    if ((rc = quorum_token(ctx, token, &t, detail)) != SIGNET_OK)
        return rc;
    if (n == 0 || n > CA_SHARES_MAX) {
        sg_detail(detail,
                  "token %s is activated by a quorum: give --share FILE:PASSFILE for each "
                  "custodian present (at most %d)",
                  t->label, CA_SHARES_MAX);
        return SIGNET_E_PIN;
    }
    if ((rc = ca_token_share_id(t, id, detail)) != SIGNET_OK ||
        (rc = ca_shares_read(src, n, in, NULL, detail)) != SIGNET_OK ||
        (rc = ca_quorum_check(id, in, n, use, detail)) != SIGNET_OK ||
        (rc = load_passes(src, in, n, use, detail)) != SIGNET_OK ||
        (rc = ca_quorum_combine(in, n, use, &combined, detail)) != SIGNET_OK)
        goto out;
    if (out_indexes != NULL)
        indexes(in, n, use, out_indexes, cap);
    rc = SIGNET_E_NOMEM;
    if ((pin = ca_quorum_user_pin(combined)) == NULL)
        goto out;
    rc = ca_token_open_with(ctx, t, pin, why);
    pin = NULL;
    if (rc != SIGNET_OK)
        sg_detail(detail, "the quorum's credential was refused: %s", why);
out:
    secret_free(combined);
    for (size_t i = 0; i < n && i < CA_SHARES_MAX; i++) {
        free((char *)in[i].file);
        secret_free(in[i].pass);
    }
    return rc;
}

/* Passphrase I: random (demo, written to shares_dir), from pass_dir, or asked. */
static enum signet_err custodian_pass(const struct ca_root_init_opts *o, unsigned i,
                                      struct secret **out, char *detail)
{
    char path[PATH_MAX + 32], spec[PATH_MAX + 40], what[64];

    snprintf(what, sizeof(what), "passphrase of custodian %u", i);
    if (o->random_pass) {
        unsigned char raw[PASS_BYTES];
        char hex[2 * PASS_BYTES + 1];
        enum signet_err rc = SIGNET_E_CRYPTO;
        if (RAND_priv_bytes(raw, sizeof(raw)) == 1 && (*out = secret_new(sizeof(hex))) != NULL) {
            sg_hex_encode(raw, sizeof(raw), hex);
            secret_set(*out, hex, strlen(hex));
            snprintf(path, sizeof(path), "%s/share-%u.pass", o->shares_dir, i);
            rc = sg_write_file(path, hex, strlen(hex), 0600, detail);
        }
        OPENSSL_cleanse(raw, sizeof(raw));
        OPENSSL_cleanse(hex, sizeof(hex));
        return rc;
    }
    if (o->pass_dir != NULL)
        snprintf(spec, sizeof(spec), "file:%s/share-%u.pass", o->pass_dir, i);
    else
        snprintf(spec, sizeof(spec), "prompt");
    return secret_load(spec, ".", what, out, detail);
}

/* Makes the passphrases, splits and seals, and writes shares_dir/share-I.share (0600). */
static enum signet_err write_shares(const struct ca_root_init_opts *o, const struct secret *secret,
                                    const unsigned char *id, char *detail)
{
    struct secret *pass[CA_SHARES_MAX] = {0};
    char *files[CA_SHARES_MAX] = {0}, path[PATH_MAX + 32];
    size_t lens[CA_SHARES_MAX] = {0};
    enum signet_err rc = SIGNET_OK;

    for (unsigned i = 0; i < o->n && rc == SIGNET_OK; i++) {
        snprintf(path, sizeof(path), "%s/share-%u.share", o->shares_dir, i + 1);
        if (access(path, F_OK) == 0) {
            sg_detail(detail, "%s exists: choose an empty --shares-dir", path);
            rc = SIGNET_E_EXISTS;
        }
    }
    for (unsigned i = 0; i < o->n && rc == SIGNET_OK; i++)
        rc = custodian_pass(o, i + 1, &pass[i], detail);
    if (rc == SIGNET_OK)
        rc = ca_quorum_split_seal(secret, id, o->m, o->n, pass, o->log2n ? o->log2n : DEFAULT_LOG2N,
                                  files, lens, detail);
    for (unsigned i = 0; i < o->n && rc == SIGNET_OK; i++) {
        snprintf(path, sizeof(path), "%s/share-%u.share", o->shares_dir, i + 1);
        rc = sg_write_file(path, files[i], lens[i], 0600, detail);
    }
    for (unsigned i = 0; i < o->n && i < CA_SHARES_MAX; i++) {
        free(files[i]);
        secret_free(pass[i]);
    }
    return rc;
}

/* The checks before anything is made: the root CA entry, the token, the quorum. */
static enum signet_err root_init_check(struct ca_ctx *ctx, const struct ca_root_init_opts *o,
                                       struct ca_ent **ca, struct ca_token_ent **t,
                                       enum hsm_key_type *type, char *detail)
{
    unsigned char id[CA_ROOT_ID_LEN];
    char why[SIGNET_DETAIL_MAX];
    enum signet_err rc;

    if (o->m < 1 || o->m > o->n || o->n > CA_SHARES_MAX) {
        sg_detail(detail, "--quorum %u/%u: use M/N with 1 <= M <= N <= %d", o->m, o->n,
                  CA_SHARES_MAX);
        return SIGNET_E_USAGE;
    }
    if (!hsm_key_type_parse(o->type, type)) {
        sg_detail(detail, "key type '%s': use ec:P-256, ec:P-384, rsa:3072, rsa:4096 or ed25519",
                  o->type);
        return SIGNET_E_USAGE;
    }
    if ((rc = quorum_token(ctx, o->token, t, detail)) != SIGNET_OK)
        return rc;
    if ((*ca = ca_ent_find(ctx, o->name)) == NULL || (*ca)->parent[0] ||
        (*ca)->token != (int)(*t - ctx->tokens)) {
        sg_detail(detail,
                  "CA %s: add a [ca.%s] section with key = pkcs11:token=%s;object=%s and no "
                  "parent to %s first",
                  o->name, o->name, (*t)->label, o->name, sg_conf_file(ctx->conf));
        return SIGNET_E_CONFIG;
    }
    if ((*ca)->cert != NULL) {
        sg_detail(detail, "CA %s already has a certificate (%s)", o->name, (*ca)->cert_path);
        return SIGNET_E_EXISTS;
    }
    if (ca_token_share_id(*t, id, why) == SIGNET_OK) {
        sg_detail(detail,
                  "token %s already exists: root init makes a new token so that nobody but the "
                  "quorum ever knows its credential",
                  (*t)->label);
        return SIGNET_E_EXISTS;
    }
    return sg_mkdirs(o->shares_dir, 0700, detail);
}

/* Initialises the token with the two halves of secret; returns its identity in id. */
static enum signet_err make_token(struct ca_token_ent *t, const struct secret *secret,
                                  unsigned char *id, char *detail)
{
    struct secret *pin = ca_quorum_user_pin(secret), *so = ca_quorum_so_pin(secret);
    enum signet_err rc = SIGNET_E_NOMEM;

    if (pin != NULL && so != NULL &&
        (rc = hsm_token_init(t->module, t->init_reserved, t->label, so, pin, detail)) == SIGNET_OK)
        rc = ca_token_share_id(t, id, detail);
    secret_free(pin);
    secret_free(so);
    return rc;
}

enum signet_err ca_root_init(struct ca_ctx *ctx, const struct ca_root_init_opts *o, char *detail)
{
    struct ca_ent *ca = NULL;
    struct ca_token_ent *t = NULL;
    enum hsm_key_type type;
    X509_NAME *subject = NULL;
    struct secret *secret = NULL;
    unsigned char raw[CA_QUORUM_SECRET_LEN], id[CA_ROOT_ID_LEN];
    enum ca_create_result res;
    char text[256], idhex[2 * CA_ROOT_ID_LEN + 1];
    enum signet_err rc;

    if ((rc = root_init_check(ctx, o, &ca, &t, &type, detail)) != SIGNET_OK)
        return rc;
    if ((subject = ca_parse_dn(o->subject)) == NULL) {
        sg_detail(detail, "subject '%s': write it as CN=Name,O=Org or /CN=Name/O=Org", o->subject);
        return SIGNET_E_USAGE;
    }
    rc = SIGNET_E_CRYPTO;
    if ((secret = secret_new(CA_QUORUM_SECRET_LEN)) == NULL ||
        RAND_priv_bytes(raw, sizeof(raw)) != 1 || !secret_set(secret, raw, sizeof(raw))) {
        sg_detail(detail, "no random bytes for the root token's credential");
        goto out;
    }
    if ((rc = make_token(t, secret, id, detail)) != SIGNET_OK ||
        (rc = write_shares(o, secret, id, detail)) != SIGNET_OK)
        goto out;
    if ((rc = ca_token_open_with(ctx, t, ca_quorum_user_pin(secret), detail)) != SIGNET_OK ||
        (rc = ca_make(ctx, ca, type, subject, o->days > 0 ? o->days : ROOT_DAYS, -1, NULL, &res,
                      detail)) != SIGNET_OK)
        goto out;
    sg_hex_encode(id, sizeof(id), idhex);
    snprintf(text, sizeof(text), "root=%s token=%s quorum=%u/%u root-id=%s", o->name, t->label,
             o->m, o->n, idhex);
    rc = ca_audit(ctx, "operator", "root-init", text, detail);
out:
    OPENSSL_cleanse(raw, sizeof(raw));
    secret_free(secret);
    X509_NAME_free(subject);
    return rc;
}
