/* SPDX-License-Identifier: Apache-2.0 */
/* Tokens and CA keys opened on first use; health; key generation. */
#include "internal.h"

#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* See internal.h: by section name first, then by label. */
struct ca_token_ent *ca_token_ent_find(struct ca_ctx *ctx, const char *name)
{
    for (size_t i = 0; name && i < ctx->ntokens; i++)
        if (strcmp(ctx->tokens[i].name, name) == 0)
            return &ctx->tokens[i];
    for (size_t i = 0; name && i < ctx->ntokens; i++)
        if (strcmp(ctx->tokens[i].label, name) == 0)
            return &ctx->tokens[i];
    return NULL;
}

/*
 * Opens t (caller holds the lock): loads the credential and logs in once. A refused PIN or a
 * missing token is remembered, so it is reported again without another C_Login.
 */
static enum signet_err token_open_locked(struct ca_ctx *ctx, struct ca_token_ent *t, char *detail)
{
    struct hsm_token_config cfg = {0};
    struct secret *pin = NULL;
    char what[128], why[SIGNET_DETAIL_MAX] = "";
    enum signet_err rc;

    if (t->tok != NULL)
        return SIGNET_OK;
    if (t->failed != SIGNET_OK) {
        sg_detail(detail, "%s", t->fail_detail);
        return t->failed;
    }
    if (ca_token_is_quorum(t)) {
        sg_detail(detail,
                  "token %s is activated only by a quorum of custodians (pin = quorum in "
                  "[token.%s]); use it in `signet ceremony run FILE --share F:PASS ...`",
                  t->label, t->name);
        return SIGNET_E_FORBIDDEN;
    }
    if (ca_token_is_shares(t)) {
        sg_detail(detail,
                  "token %s: its credential is given as custodians' shares when signetd starts "
                  "(pin = shares in [token.%s]); start it with --unlock-with-shares "
                  "FILE[:PASSFILE] ... (docs/custody.md)",
                  t->label, t->name);
        return SIGNET_E_PIN;
    }
    snprintf(what, sizeof(what), "token %s", t->label);
    if ((rc = secret_load(t->pin, sg_conf_dir(ctx->conf), what, &pin, detail)) != SIGNET_OK)
        return rc;
    cfg.module = t->module;
    cfg.token_label = t->label;
    cfg.init_reserved = t->init_reserved;
    rc = hsm_token_open(&cfg, pin, &t->tok, why);
    if (rc == SIGNET_E_PIN) {
        sg_detail(detail,
                  "token %s: the PIN was refused after one attempt, which is not repeated; "
                  "check the credential named by pin in [token.%s]",
                  t->label, t->name);
    } else if (rc == SIGNET_E_NOTFOUND) {
        sg_detail(detail,
                  "token %s does not exist: %s; check token = in [token.%s] and `signet hsm list`",
                  t->label, why, t->name);
    } else if (rc != SIGNET_OK) {
        sg_detail(detail, "token %s: %s", t->label, why);
    }
    if (rc == SIGNET_E_PIN || rc == SIGNET_E_NOTFOUND || rc == SIGNET_E_CONFIG) {
        t->failed = rc;
        snprintf(t->fail_detail, sizeof(t->fail_detail), "%s", detail ? detail : why);
    }
    return rc;
}

int ca_token_is_quorum(const struct ca_token_ent *t)
{
    return t != NULL && t->pin != NULL && strcmp(t->pin, "quorum") == 0;
}

int ca_token_is_shares(const struct ca_token_ent *t)
{
    return t != NULL && t->pin != NULL && strcmp(t->pin, "shares") == 0;
}

/* See internal.h: SHA-256 over the label and serial read with C_GetTokenInfo (no login). */
enum signet_err ca_token_share_id(const struct ca_token_ent *t, unsigned char id[CA_ROOT_ID_LEN],
                                  char *detail)
{
    struct hsm_slot_info *slots = NULL;
    size_t n = 0;
    enum signet_err rc = hsm_module_slots(t->module, t->init_reserved, &slots, &n, detail);

    if (rc != SIGNET_OK)
        return rc;
    rc = SIGNET_E_NOTFOUND;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(slots[i].label, t->label) == 0 && slots[i].initialized) {
            rc = ca_root_id(slots[i].label, slots[i].serial, id) ? SIGNET_OK : SIGNET_E_CRYPTO;
            break;
        }
    }
    if (rc == SIGNET_E_NOTFOUND)
        sg_detail(detail, "token %s is not present in module %s", t->label, t->module);
    free(slots);
    return rc;
}

/*
 * Opens t with a credential obtained by quorum activation (quorum.c). Takes ownership of pin on
 * every path. A refusal is sticky like any refused PIN.
 */
enum signet_err ca_token_open_with(struct ca_ctx *ctx, struct ca_token_ent *t, struct secret *pin,
                                   char *detail)
{
    struct hsm_token_config cfg = {0};
    char why[SIGNET_DETAIL_MAX] = "";
    enum signet_err rc = SIGNET_OK;

    pthread_mutex_lock(&ctx->lock);
    if (t->tok != NULL) {
        secret_free(pin);
        goto out;
    }
    cfg.module = t->module;
    cfg.token_label = t->label;
    cfg.init_reserved = t->init_reserved;
    if ((rc = hsm_token_open(&cfg, pin, &t->tok, why)) != SIGNET_OK) {
        sg_detail(detail, "token %s: %s", t->label, why);
        if (rc == SIGNET_E_PIN) {
            t->failed = rc;
            snprintf(t->fail_detail, sizeof(t->fail_detail), "%s", why);
        }
    }
out:
    pthread_mutex_unlock(&ctx->lock);
    return rc;
}

enum signet_err ca_token(struct ca_ctx *ctx, const char *name, struct hsm_token **out, char *detail)
{
    struct ca_token_ent *t = ca_token_ent_find(ctx, name);
    enum signet_err rc;

    *out = NULL;
    if (t == NULL) {
        sg_detail(detail, "token %s: no [token.%s] section (and no token with that label) in %s",
                  name, name, sg_conf_file(ctx->conf));
        return SIGNET_E_NOTFOUND;
    }
    pthread_mutex_lock(&ctx->lock);
    rc = token_open_locked(ctx, t, detail);
    if (rc == SIGNET_OK)
        *out = t->tok;
    pthread_mutex_unlock(&ctx->lock);
    return rc;
}

/* Finds the CA's key (caller holds the lock) and pins its certificate's public key. */
static enum signet_err key_locked(struct ca_ctx *ctx, struct ca_ent *ca, char *detail)
{
    char why[SIGNET_DETAIL_MAX] = "";
    enum signet_err rc;

    if (ca->key != NULL)
        return SIGNET_OK;
    if (ca->token < 0) {
        sg_detail(detail, "CA %s: no [token.*] section has the token named in key = %s", ca->name,
                  ca->key_uri);
        return SIGNET_E_CONFIG;
    }
    if ((rc = token_open_locked(ctx, &ctx->tokens[ca->token], detail)) != SIGNET_OK)
        return rc;
    if ((rc = hsm_key_find(ctx->tokens[ca->token].tok, ca->key_uri, &ca->key, why)) != SIGNET_OK) {
        sg_detail(detail, "CA %s: key %s: %s", ca->name, ca->key_uri, why);
        return rc;
    }
    if (ca->cert != NULL && !hsm_key_pin_public(ca->key, X509_get0_pubkey(ca->cert))) {
        sg_detail(detail, "CA %s: the key %s does not match the certificate %s; refusing to sign",
                  ca->name, ca->key_uri, ca->cert_path);
        hsm_key_free(ca->key);
        ca->key = NULL;
        return SIGNET_E_HSM;
    }
    return SIGNET_OK;
}

enum signet_err ca_ent_hsm_key(struct ca_ctx *ctx, struct ca_ent *ca, struct hsm_key **out,
                               char *detail)
{
    enum signet_err rc;

    pthread_mutex_lock(&ctx->lock);
    rc = key_locked(ctx, ca, detail);
    *out = ca->key;
    pthread_mutex_unlock(&ctx->lock);
    return rc;
}

enum signet_err ca_ent_key(struct ca_ctx *ctx, struct ca_ent *ca, EVP_PKEY **out, char *detail)
{
    enum signet_err rc;

    *out = NULL;
    pthread_mutex_lock(&ctx->lock);
    if ((rc = key_locked(ctx, ca, detail)) == SIGNET_OK && ca->evp == NULL)
        rc = hsm_key_evp(ca->key, &ca->evp, detail);
    *out = ca->evp;
    pthread_mutex_unlock(&ctx->lock);
    return rc;
}

enum signet_err ca_health(struct ca_ctx *ctx, char *detail)
{
    enum signet_err first = SIGNET_OK;
    char all[SIGNET_DETAIL_MAX] = "";
    struct store_ca *list = NULL;
    size_t n = 0;

    for (size_t i = 0; i < ctx->ntokens; i++) {
        char why[SIGNET_DETAIL_MAX] = "";
        enum signet_err rc;
        struct hsm_token *tok;
        pthread_mutex_lock(&ctx->lock);
        tok = ctx->tokens[i].tok;
        pthread_mutex_unlock(&ctx->lock);
        if (tok == NULL || (rc = hsm_token_probe(tok, why)) == SIGNET_OK)
            continue;
        if (first == SIGNET_OK)
            first = rc;
        snprintf(all + strlen(all), sizeof(all) - strlen(all), "%stoken %s: %s", all[0] ? "; " : "",
                 ctx->tokens[i].label, why);
    }
    {
        char why[SIGNET_DETAIL_MAX] = "";
        enum signet_err rc = store_ca_list(ctx->st, &list, &n, why);
        if (rc == SIGNET_OK)
            store_ca_list_free(list, n);
        else {
            if (first == SIGNET_OK)
                first = rc;
            snprintf(all + strlen(all), sizeof(all) - strlen(all), "%sstore: %s",
                     all[0] ? "; " : "", why);
        }
    }
    if (first != SIGNET_OK)
        sg_detail(detail, "%s", all);
    return first;
}

enum signet_err ca_keygen(struct ca_ctx *ctx, const char *token, const char *label,
                          enum hsm_key_type type, char *uri_out, size_t uri_cap, char *detail)
{
    struct hsm_token *tok = NULL;
    struct hsm_key *key = NULL;
    char why[SIGNET_DETAIL_MAX] = "";
    enum signet_err rc;

    if ((rc = ca_token(ctx, token, &tok, detail)) != SIGNET_OK)
        return rc;
    if ((rc = hsm_keygen(tok, label, type, 0, &key, why)) != SIGNET_OK) {
        sg_detail(detail, "token %s: key %s: %s", hsm_token_label(tok), label, why);
        return rc;
    }
    if (uri_out)
        snprintf(uri_out, uri_cap, "%s", hsm_key_uri(key));
    hsm_key_free(key);
    return ca_audit(ctx, "operator", "keygen", label, detail);
}

/* See internal.h. */
int ca_conf_profile_served(const struct sg_conf *conf, const char *profile)
{
    char **clients = NULL;
    size_t n = sg_conf_sections(conf, "client.", &clients);
    int served = 0;

    for (size_t i = 0; i < n && !served; i++) {
        char sec[CA_NAME_MAX + 16];
        char **list;
        snprintf(sec, sizeof(sec), "client.%s", clients[i]);
        list = sg_split_list(
            sg_conf_get(conf, sec, "profiles") ? sg_conf_get(conf, sec, "profiles") : "", NULL);
        for (char **p = list; p && *p && !served; p++)
            served = strcmp(*p, profile) == 0;
        sg_strv_free(list);
    }
    sg_strv_free(clients);
    return served;
}

enum signet_err ca_offline_check(struct ca_ctx *ctx, char *detail)
{
    for (size_t i = 0; i < ctx->ncas; i++) {
        struct ca_ent *ca = &ctx->cas[i];
        if (ca->token < 0 || !ca_token_is_quorum(&ctx->tokens[ca->token]))
            continue;
        for (char **p = ca->profile_list; p && *p; p++) {
            if (ca_conf_profile_served(ctx->conf, *p)) {
                sg_detail(detail,
                          "CA %s would serve profile %s to clients, but its key is on the offline "
                          "token %s (pin = quorum in [token.%s]); signetd never loads an offline "
                          "key: move the CA to an online token or remove %s from its profiles",
                          ca->name, *p, ctx->tokens[ca->token].label, ctx->tokens[ca->token].name,
                          *p);
                return SIGNET_E_CONFIG;
            }
        }
    }
    return SIGNET_OK;
}
