/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The online token's credential as custodians' shares (docs/custody.md): `signetd
 * --split-pin` splits the PIN an online token has into M-of-N sealed shares (the share format of
 * the offline root, quorum.c), and `signetd --unlock-with-shares` rebuilds it at start in locked
 * memory and logs in with it, so that no PIN is on disk and hsmbind can still log in again by
 * itself after an HSM outage (it keeps the credential it was opened with).
 *
 * The 64 bytes split: byte 0 is the PIN's length L (1..CA_UNLOCK_PIN_MAX), bytes 1..L the PIN,
 * the rest random. The shares are bound to the token's identity (label and serial number), so
 * shares of another token, or of the offline root, are refused by name before any login.
 */
#include "internal.h"

#include <limits.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UNLOCK_LOG2N 16 /* scrypt N = 2^16, r = 8: 64 MiB per share, as for the root */

int ca_unlock_needed(struct ca_ctx *ctx)
{
    for (size_t i = 0; i < ctx->ntokens; i++)
        if (ca_token_is_shares(&ctx->tokens[i]))
            return 1;
    return 0;
}

/* The online token entry to split; refuses an offline (quorum) token. */
static enum signet_err split_token(struct ca_ctx *ctx, const char *name, struct ca_token_ent **t,
                                   char *detail)
{
    if ((*t = ca_token_ent_find(ctx, name)) == NULL) {
        sg_detail(detail, "token %s: no [token.%s] section in %s", name, name,
                  sg_conf_file(ctx->conf));
        return SIGNET_E_NOTFOUND;
    }
    if (ca_token_is_quorum(*t)) {
        sg_detail(detail,
                  "token %s is offline (pin = quorum in [token.%s]): its shares are made by "
                  "`signet root init`, and signetd never opens it",
                  (*t)->label, (*t)->name);
        return SIGNET_E_CONFIG;
    }
    return SIGNET_OK;
}

/* The 64 bytes that are split: length, PIN, random padding. */
static enum signet_err pack_pin(const struct secret *pin, struct secret **out, char *detail)
{
    unsigned char buf[CA_QUORUM_SECRET_LEN];
    size_t len = secret_len(pin);
    enum signet_err rc = SIGNET_E_CRYPTO;

    *out = NULL;
    if (len == 0 || len > CA_UNLOCK_PIN_MAX) {
        sg_detail(detail, "the token's PIN is %zu bytes; shares hold 1 to %d", len,
                  CA_UNLOCK_PIN_MAX);
        return SIGNET_E_USAGE;
    }
    if (RAND_priv_bytes(buf, sizeof(buf)) == 1) {
        buf[0] = (unsigned char)len;
        memcpy(buf + 1, secret_data(pin), len);
        if ((*out = secret_new(sizeof(buf))) != NULL && secret_set(*out, buf, sizeof(buf)))
            rc = SIGNET_OK;
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    if (rc != SIGNET_OK) {
        secret_free(*out);
        *out = NULL;
        sg_detail(detail, "no random bytes (or memory) to split the token's PIN");
    }
    return rc;
}

/* The PIN held in a combined secret, or NULL (with detail) when it holds none. */
static struct secret *unpack_pin(const struct secret *combined, const char *label, char *detail)
{
    const unsigned char *d = secret_data(combined);
    struct secret *pin = NULL;

    if (secret_len(combined) != CA_QUORUM_SECRET_LEN || d[0] == 0 || d[0] > CA_UNLOCK_PIN_MAX) {
        sg_detail(detail,
                  "token %s: the shares combine to something that is not a PIN split by "
                  "signetd --split-pin",
                  label);
        return NULL;
    }
    if ((pin = secret_new(d[0])) == NULL || !secret_set(pin, d + 1, d[0])) {
        secret_free(pin);
        sg_detail(detail, "token %s: out of memory", label);
        return NULL;
    }
    return pin;
}

/* Seals the shares under the custodians' passphrases and writes shares_dir/share-I.share. */
static enum signet_err write_split(const struct secret *secret, const unsigned char *id, unsigned m,
                                   unsigned n, const char *shares_dir, const char *pass_dir,
                                   char *detail)
{
    struct secret *pass[CA_SHARES_MAX] = {0};
    char *files[CA_SHARES_MAX] = {0}, path[PATH_MAX + 32], spec[PATH_MAX + 40], what[64];
    size_t lens[CA_SHARES_MAX] = {0};
    enum signet_err rc = sg_mkdirs(shares_dir, 0700, detail);

    for (unsigned i = 0; i < n && rc == SIGNET_OK; i++) {
        snprintf(path, sizeof(path), "%s/share-%u.share", shares_dir, i + 1);
        if (access(path, F_OK) == 0) {
            sg_detail(detail, "%s exists: choose an empty --shares-dir", path);
            rc = SIGNET_E_EXISTS;
        }
    }
    for (unsigned i = 0; i < n && rc == SIGNET_OK; i++) {
        snprintf(what, sizeof(what), "passphrase of custodian %u", i + 1);
        if (pass_dir != NULL)
            snprintf(spec, sizeof(spec), "file:%s/share-%u.pass", pass_dir, i + 1);
        else
            snprintf(spec, sizeof(spec), "prompt");
        rc = secret_load(spec, ".", what, &pass[i], detail);
    }
    if (rc == SIGNET_OK)
        rc = ca_quorum_split_seal(secret, id, m, n, pass, UNLOCK_LOG2N, files, lens, detail);
    for (unsigned i = 0; i < n && rc == SIGNET_OK; i++) {
        snprintf(path, sizeof(path), "%s/share-%u.share", shares_dir, i + 1);
        rc = sg_write_file(path, files[i], lens[i], 0600, detail);
    }
    for (unsigned i = 0; i < n && i < CA_SHARES_MAX; i++) {
        free(files[i]);
        secret_free(pass[i]);
    }
    return rc;
}

enum signet_err ca_unlock_split(struct ca_ctx *ctx, const char *token, unsigned m, unsigned n,
                                const char *shares_dir, const char *pass_dir, char *detail)
{
    struct ca_token_ent *t = NULL;
    struct secret *pin = NULL, *packed = NULL;
    unsigned char id[CA_ROOT_ID_LEN];
    char what[128], why[SIGNET_DETAIL_MAX] = "", text[256];
    enum signet_err rc;

    if (m < 1 || m > n || n > CA_SHARES_MAX) {
        sg_detail(detail, "--quorum %u/%u: use M/N with 1 <= M <= N <= %d", m, n, CA_SHARES_MAX);
        return SIGNET_E_USAGE;
    }
    if ((rc = split_token(ctx, token, &t, detail)) != SIGNET_OK)
        return rc;
    snprintf(what, sizeof(what), "token %s", t->label);
    /* a token already on shares: its PIN is asked for (nobody should have it in a file) */
    if ((rc = secret_load(t->pin != NULL && !ca_token_is_shares(t) ? t->pin : "prompt",
                          sg_conf_dir(ctx->conf), what, &pin, detail)) != SIGNET_OK ||
        (rc = pack_pin(pin, &packed, detail)) != SIGNET_OK)
        goto out;
    /* one login proves the PIN before custodians are handed shares of it */
    if ((rc = ca_token_open_with(ctx, t, pin, why)) != SIGNET_OK) {
        pin = NULL;
        sg_detail(detail, "token %s: the PIN to split was refused: %s", t->label, why);
        goto out;
    }
    pin = NULL;
    if ((rc = ca_token_share_id(t, id, detail)) != SIGNET_OK ||
        (rc = write_split(packed, id, m, n, shares_dir, pass_dir, detail)) != SIGNET_OK)
        goto out;
    snprintf(text, sizeof(text), "token=%s quorum=%u/%u shares-dir=%s", t->label, m, n, shares_dir);
    rc = ca_audit(ctx, "operator", "unlock-split", text, detail);
out:
    secret_free(pin);
    secret_free(packed);
    return rc;
}

/* Rebuilds one token's PIN from the shares sel[0..ns) of in and opens the token with it. */
static enum signet_err unlock_one(struct ca_ctx *ctx, struct ca_token_ent *t,
                                  const unsigned char *id, const struct ca_share_src *src,
                                  const struct ca_share_in *in, const size_t *sel, size_t ns,
                                  char *idx, size_t cap, char *detail)
{
    struct ca_share_in sub[CA_SHARES_MAX];
    int use[CA_SHARES_MAX];
    struct secret *combined = NULL, *pin = NULL;
    char why[SIGNET_DETAIL_MAX] = "";
    size_t len = 0;
    enum signet_err rc;

    memset(sub, 0, sizeof(sub));
    idx[0] = '\0';
    for (size_t j = 0; j < ns; j++)
        sub[j] = in[sel[j]], sub[j].pass = NULL;
    if ((rc = ca_quorum_check(id, sub, ns, use, detail)) != SIGNET_OK)
        goto out;
    for (size_t j = 0; j < ns; j++) {
        char spec[PATH_MAX + 8], what[PATH_MAX + 32];
        struct ca_share_hdr h;
        if (!use[j])
            continue;
        snprintf(spec, sizeof(spec), src[sel[j]].pass ? "file:%s" : "prompt",
                 src[sel[j]].pass ? src[sel[j]].pass : "");
        snprintf(what, sizeof(what), "passphrase of share %s", sub[j].name);
        if ((rc = secret_load(spec, ".", what, &sub[j].pass, detail)) != SIGNET_OK)
            goto out;
        if (ca_share_parse(sub[j].file, sub[j].len, &h) && len + 5 < cap)
            len += (size_t)snprintf(idx + len, cap - len, "%s%u", len ? "," : "", h.index);
    }
    if ((rc = ca_quorum_combine(sub, ns, use, &combined, detail)) != SIGNET_OK)
        goto out;
    rc = SIGNET_E_INVALID;
    if ((pin = unpack_pin(combined, t->label, detail)) == NULL)
        goto out;
    if ((rc = ca_token_open_with(ctx, t, pin, why)) != SIGNET_OK)
        sg_detail(detail, "token %s: the PIN rebuilt from the shares was refused: %s", t->label,
                  why);
out:
    secret_free(combined);
    for (size_t j = 0; j < ns; j++)
        secret_free(sub[j].pass);
    return rc;
}

/* Matches every share to a pin = shares token by identity; refuses one that matches none. */
static enum signet_err match_shares(struct ca_ctx *ctx, const struct ca_share_hdr *hdr, size_t n,
                                    const struct ca_share_src *src, unsigned char (*ids)[32],
                                    char *detail)
{
    enum signet_err rc;

    for (size_t i = 0; i < ctx->ntokens; i++)
        if (ca_token_is_shares(&ctx->tokens[i]) &&
            (rc = ca_token_share_id(&ctx->tokens[i], ids[i], detail)) != SIGNET_OK)
            return rc;
    for (size_t k = 0; k < n; k++) {
        int found = 0;
        for (size_t i = 0; i < ctx->ntokens && !found; i++)
            found = ca_token_is_shares(&ctx->tokens[i]) &&
                    memcmp(ids[i], hdr[k].root_id, CA_ROOT_ID_LEN) == 0;
        if (!found) {
            sg_detail(detail,
                      "%s: this share belongs to no pin = shares token of %s (another token, "
                      "another split, or the offline root); nothing was logged in to",
                      src[k].path, sg_conf_file(ctx->conf));
            return SIGNET_E_FORBIDDEN;
        }
    }
    return SIGNET_OK;
}

enum signet_err ca_unlock_with_shares(struct ca_ctx *ctx, const struct ca_share_src *src, size_t n,
                                      char *out_report, size_t cap, char *detail)
{
    struct ca_share_in in[CA_SHARES_MAX];
    struct ca_share_hdr hdr[CA_SHARES_MAX];
    unsigned char(*ids)[32] = NULL;
    size_t rlen = 0;
    enum signet_err rc = SIGNET_E_USAGE;

    memset(in, 0, sizeof(in));
    if (out_report != NULL && cap > 0)
        out_report[0] = '\0';
    if (!ca_unlock_needed(ctx)) {
        sg_detail(detail, "no [token.*] in %s says pin = shares: no shares are needed",
                  sg_conf_file(ctx->conf));
        return SIGNET_E_CONFIG;
    }
    if (n > CA_SHARES_MAX) {
        sg_detail(detail, "%zu shares given; at most %d", n, CA_SHARES_MAX);
        return SIGNET_E_USAGE;
    }
    rc = SIGNET_E_NOMEM;
    if ((ids = calloc(ctx->ntokens + 1, sizeof(*ids))) == NULL)
        goto out;
    if ((rc = ca_shares_read(src, n, in, hdr, detail)) != SIGNET_OK ||
        (rc = match_shares(ctx, hdr, n, src, ids, detail)) != SIGNET_OK)
        goto out;
    for (size_t i = 0; i < ctx->ntokens && rc == SIGNET_OK; i++) {
        struct ca_token_ent *t = &ctx->tokens[i];
        size_t sel[CA_SHARES_MAX], ns = 0;
        char idx[64];
        if (!ca_token_is_shares(t) || t->tok != NULL)
            continue;
        for (size_t k = 0; k < n; k++)
            if (memcmp(ids[i], hdr[k].root_id, CA_ROOT_ID_LEN) == 0)
                sel[ns++] = k;
        if (ns == 0) {
            sg_detail(detail,
                      "token %s (pin = shares): none of its shares was given; give "
                      "--unlock-with-shares FILE[:PASSFILE] for each custodian present",
                      t->label);
            rc = SIGNET_E_PIN;
            break;
        }
        rc = unlock_one(ctx, t, ids[i], src, in, sel, ns, idx, sizeof(idx), detail);
        if (rc == SIGNET_OK && out_report != NULL && rlen + 1 < cap)
            rlen += (size_t)snprintf(out_report + rlen, cap - rlen, "%s%s: shares %s",
                                     rlen ? "; " : "", t->name, idx);
    }
out:
    for (size_t i = 0; i < n && i < CA_SHARES_MAX; i++)
        free((char *)in[i].file);
    free(ids);
    return rc;
}
