/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Credential rotation at the CA level: `signet hsm change-pin` (C_SetPIN, then the [token.T]
 * pin source rewritten atomically when it is a file) and ca_reload_credentials, which signetd
 * calls on SIGHUP so that each open token keeps the credential its pin source now names,
 * without closing a session (docs/keys.md "PIN rotation").
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* 1 when the token's credential comes from custodians (quorum or shares): only a ceremony. */
static int pin_is_custodial(const struct ca_token_ent *t)
{
    return t->pin != NULL && (strcmp(t->pin, "quorum") == 0 || strcmp(t->pin, "shares") == 0);
}

/*
 * The pin file of t when its source is file:PATH (resolved against the configuration's
 * directory), checked writable before anything changes. NULL (and *rc SIGNET_OK) when the
 * source is not a file. Caller frees.
 */
static char *pin_file_of(struct ca_ctx *ctx, const struct ca_token_ent *t, enum signet_err *rc,
                         char *detail)
{
    struct stat st;
    char *path, *slash, dir[1024];

    *rc = SIGNET_OK;
    if (t->pin == NULL || strncmp(t->pin, "file:", 5) != 0)
        return NULL;
    if ((path = sg_conf_path(ctx->conf, t->pin + 5)) == NULL) {
        *rc = SIGNET_E_NOMEM;
        return NULL;
    }
    snprintf(dir, sizeof(dir), "%s", path);
    if ((slash = strrchr(dir, '/')) != NULL)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        sg_detail(detail,
                  "the pin source of [token.%s] (%s) is not a regular file; nothing "
                  "was changed",
                  t->name, path);
        *rc = SIGNET_E_CONFIG;
    } else if (access(dir, W_OK) != 0) {
        sg_detail(detail,
                  "cannot write the pin file of [token.%s] in %s (%s): run as the user that "
                  "owns it; nothing was changed",
                  t->name, dir, strerror(errno));
        *rc = SIGNET_E_IO;
    }
    if (*rc != SIGNET_OK) {
        free(path);
        return NULL;
    }
    return path;
}

/* Opens the token with pin (a copy) in this process to prove it logs in. */
static enum signet_err pin_prove(const struct ca_token_ent *t, const struct secret *pin,
                                 char *detail)
{
    struct hsm_token_config cfg = {0};
    struct hsm_token *tok = NULL;
    struct secret *copy = secret_dup(pin);
    enum signet_err rc;

    if (copy == NULL)
        return SIGNET_E_NOMEM;
    cfg.module = t->module;
    cfg.token_label = t->label;
    cfg.init_reserved = t->init_reserved;
    rc = hsm_token_open(&cfg, copy, &tok, detail);
    hsm_token_free(tok);
    return rc;
}

/* C_SetPIN through the context's open token, or through a token opened without a login. */
static enum signet_err pin_set(struct ca_token_ent *t, const struct secret *old_pin,
                               const struct secret *new_pin, int *opened_here, char *detail)
{
    struct hsm_token_config cfg = {0};
    struct hsm_token *tok = NULL;
    enum signet_err rc;

    *opened_here = 0;
    if (t->tok != NULL)
        return hsm_token_change_pin(t->tok, old_pin, new_pin, detail);
    cfg.module = t->module;
    cfg.token_label = t->label;
    cfg.init_reserved = t->init_reserved;
    /* a public R/W session changes the user PIN too (PKCS#11 2.40 C_SetPIN): no login needed */
    if ((rc = hsm_token_open(&cfg, NULL, &tok, detail)) != SIGNET_OK)
        return rc;
    *opened_here = 1;
    rc = hsm_token_change_pin(tok, old_pin, new_pin, detail);
    hsm_token_free(tok);
    return rc;
}

enum signet_err ca_change_pin(struct ca_ctx *ctx, const char *token, const struct secret *old_pin,
                              const struct secret *new_pin, struct ca_pin_change *out, char *detail)
{
    struct ca_token_ent *t = ca_token_ent_find(ctx, token);
    char why[SIGNET_DETAIL_MAX] = "";
    char *file = NULL;
    enum signet_err rc;
    int opened;

    memset(out, 0, sizeof(*out));
    if (t == NULL) {
        sg_detail(detail, "token %s: no [token.%s] section (and no token with that label) in %s",
                  token, token, sg_conf_file(ctx->conf));
        return SIGNET_E_NOTFOUND;
    }
    if (pin_is_custodial(t)) {
        sg_detail(detail,
                  "token %s is activated by custodians (pin = %s in [token.%s]): its PIN is "
                  "derived from their shares and is changed only in a ceremony that makes new "
                  "shares (docs/ceremonies.md); nothing was changed",
                  t->label, t->pin, t->name);
        return SIGNET_E_FORBIDDEN;
    }
    pthread_mutex_lock(&ctx->lock);
    file = pin_file_of(ctx, t, &rc, detail);
    if (rc == SIGNET_OK)
        rc = pin_set(t, old_pin, new_pin, &opened, why);
    pthread_mutex_unlock(&ctx->lock);
    if (rc != SIGNET_OK) {
        if (why[0] != '\0')
            sg_detail(detail, "%s", why);
        goto out;
    }
    out->changed = 1;
    if ((rc = pin_prove(t, new_pin, why)) != SIGNET_OK) {
        sg_detail(detail, "token %s: the PIN was changed but the new one does not log in: %s",
                  t->label, why);
        goto out;
    }
    if (file != NULL) {
        snprintf(out->source, sizeof(out->source), "%s", file);
        if ((rc = sg_write_file(file, secret_data(new_pin), secret_len(new_pin), 0600, why)) !=
            SIGNET_OK) {
            sg_detail(detail,
                      "token %s: the PIN WAS changed, but %s could not be rewritten (%s): write "
                      "the new PIN there (mode 0600) before signetd next logs in",
                      t->label, file, why);
            goto out;
        }
        out->source_updated = 1;
    } else {
        snprintf(out->source, sizeof(out->source), "%s", t->pin != NULL ? t->pin : "");
    }
    ca_audit(ctx, "operator", "hsm.change-pin", t->label, why);
out:
    free(file);
    return rc;
}

enum signet_err ca_reload_credentials(struct ca_ctx *ctx, size_t *out_reloaded, char *detail)
{
    enum signet_err first = SIGNET_OK;
    size_t done = 0;

    if (out_reloaded != NULL)
        *out_reloaded = 0;
    pthread_mutex_lock(&ctx->lock);
    for (size_t i = 0; i < ctx->ntokens; i++) {
        struct ca_token_ent *t = &ctx->tokens[i];
        struct secret *pin = NULL;
        char what[128], why[SIGNET_DETAIL_MAX] = "";
        enum signet_err rc;

        if (pin_is_custodial(t) || t->pin == NULL || strcmp(t->pin, "prompt") == 0)
            continue; /* nothing to re-read without a person */
        if (t->tok == NULL) {
            if (t->failed == SIGNET_E_PIN) {
                t->failed = SIGNET_OK; /* the next use opens it with the source's new PIN */
                t->fail_detail[0] = '\0';
                done++;
            }
            continue;
        }
        snprintf(what, sizeof(what), "token %s", t->label);
        rc = secret_load(t->pin, sg_conf_dir(ctx->conf), what, &pin, why);
        if (rc == SIGNET_OK)
            rc = hsm_token_set_credential(t->tok, pin, why);
        if (rc == SIGNET_OK) {
            done++;
        } else {
            sg_log(SG_LOG_ERR, "reloading the credential of token %s: %s; the old one is kept",
                   t->label, why);
            if (first == SIGNET_OK) {
                first = rc;
                sg_detail(detail, "token %s: %s; the old credential is kept", t->label, why);
            }
        }
    }
    pthread_mutex_unlock(&ctx->lock);
    if (out_reloaded != NULL)
        *out_reloaded = done;
    return first;
}
