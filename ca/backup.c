/* SPDX-License-Identifier: Apache-2.0 */
/*
 * signet backup create / verify (docs/backup.md). The archive's parts:
 *   INFO                   created time, the configuration's directory, counts
 *   conf/signet.conf       the configuration
 *   files/REL              policies/, public/, clients/ (REL: relative to the configuration)
 *   store/data.mdb         compacted copy of the live store
 *   keys/index             "label token extractable" per key of an online token
 *   keys/LABEL.wrapped     CKM_AES_KEY_WRAP_PAD of the key under its token's backup KEK
 *   keys/TOKEN.kek.FP      that KEK wrapped with RSA-OAEP to the recipient whose SPKI hash
 *                          starts with FP
 *   roottoken/UUID/FILE    an offline SoftHSM2 token's files (still sealed by its credential)
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_MAX ((size_t)1 << 30) /* one file read into a backup */

static void step(ca_backup_progress_fn progress, const char *what)
{
    if (progress != NULL)
        progress(what);
}

/* Adds the file at path as part name. */
static enum signet_err add_file(struct ca_bk_arc *a, const char *path, const char *name,
                                char *detail)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    enum signet_err rc;

    if ((rc = sg_read_file(path, FILE_MAX, &buf, &len, detail)) != SIGNET_OK)
        return rc;
    if (!ca_bk_add(a, name, buf, len)) {
        sg_detail(detail, "backup: cannot add %s (name, size or memory)", path);
        rc = SIGNET_E_NOMEM;
    }
    OPENSSL_clear_free(buf, len);
    return rc;
}

/* Adds the regular files under dir (recursively, skipping dot files) as prefix/REL. */
static enum signet_err add_tree(struct ca_bk_arc *a, const char *dir, const char *prefix, int depth,
                                char *detail)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    struct stat sb;
    char path[PATH_MAX + 300], name[PATH_MAX + 300];
    enum signet_err rc = SIGNET_OK;

    if (d == NULL)
        return errno == ENOENT ? SIGNET_OK : SIGNET_E_IO;
    while (rc == SIGNET_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        snprintf(name, sizeof(name), "%s/%s", prefix, e->d_name);
        if (lstat(path, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode) && depth < 8)
            rc = add_tree(a, path, name, depth + 1, detail);
        else if (S_ISREG(sb.st_mode))
            rc = add_file(a, path, name, detail);
    }
    closedir(d);
    return rc;
}

/* path relative to base ("policies"), or NULL when path is not under base. */
static const char *under(const char *base, const char *path)
{
    size_t n = strlen(base);

    if (strncmp(path, base, n) != 0 || path[n] != '/')
        return NULL;
    return path + n + 1;
}

/* Adds a configured directory (a path under the configuration's directory) as files/REL. */
static enum signet_err add_conf_dir(struct ca_ctx *ctx, struct ca_bk_arc *a, const char *path,
                                    char *detail)
{
    const char *rel = under(sg_conf_dir(ctx->conf), path);
    char prefix[PATH_MAX];

    if (rel == NULL) {
        sg_detail(detail,
                  "backup: %s is outside %s; keep the PKI's files under the configuration's "
                  "directory",
                  path, sg_conf_dir(ctx->conf));
        return SIGNET_E_CONFIG;
    }
    snprintf(prefix, sizeof(prefix), "files/%s", rel);
    return add_tree(a, path, prefix, 0, detail);
}

/* The certificates (*.crt) of the custodians' directory: public, needed to check a restore. */
static enum signet_err add_custodian_certs(struct ca_ctx *ctx, struct ca_bk_arc *a, char *detail)
{
    char *dir = sg_conf_path(ctx->conf, "custodians"), path[PATH_MAX + 300], name[600];
    DIR *d = dir ? opendir(dir) : NULL;
    struct dirent *e;
    enum signet_err rc = dir ? SIGNET_OK : SIGNET_E_NOMEM;

    while (d != NULL && rc == SIGNET_OK && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || n < 5 || strcmp(e->d_name + n - 4, ".crt") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        snprintf(name, sizeof(name), "files/custodians/%s", e->d_name);
        rc = add_file(a, path, name, detail);
    }
    if (d != NULL)
        closedir(d);
    free(dir);
    return rc;
}

/* The [token.NAME] entry whose label is the token of a pkcs11: URI, or NULL. */
static struct ca_token_ent *uri_token(struct ca_ctx *ctx, const char *uri)
{
    char label[128];

    ca_uri_attr(uri, "token", label, sizeof(label));
    for (size_t i = 0; i < ctx->ntokens; i++)
        if (strcmp(ctx->tokens[i].label, label) == 0)
            return &ctx->tokens[i];
    return NULL;
}

/* SoftHSM2's token directory (from SOFTHSM2_CONF) into out; 1 = found. */
static int softhsm_tokendir(char *out, size_t cap)
{
    const char *conf = getenv("SOFTHSM2_CONF");
    char line[PATH_MAX + 64];
    FILE *f;
    int found = 0;

    if (conf == NULL || (f = fopen(conf, "r")) == NULL)
        return 0;
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        char *v = strstr(line, "directories.tokendir");
        if (v == NULL || line[0] == '#' || (v = strchr(v, '=')) == NULL)
            continue;
        for (v++; *v == ' ' || *v == '\t'; v++)
            ;
        v[strcspn(v, " \t\r\n")] = 0;
        snprintf(out, cap, "%s", v);
        found = *v != 0;
    }
    fclose(f);
    return found;
}

/* The directory (UUID) of the SoftHSM2 token labelled label under tokendir, into out. */
static int softhsm_token_dir(const char *tokendir, const char *label, char *out, size_t cap)
{
    DIR *d = opendir(tokendir);
    struct dirent *e;
    char want[32], path[PATH_MAX];
    int found = 0;

    memset(want, ' ', sizeof(want));
    memcpy(want, label, strlen(label) < 32 ? strlen(label) : 32);
    while (d != NULL && !found && (e = readdir(d)) != NULL) {
        unsigned char *buf = NULL;
        size_t len = 0;
        if (e->d_name[0] == '.')
            continue;
        if (snprintf(path, sizeof(path), "%s/%s/token.object", tokendir, e->d_name) >=
                (int)sizeof(path) ||
            sg_read_file(path, 1u << 20, &buf, &len, NULL) != SIGNET_OK)
            continue;
        if (memmem(buf, len, want, sizeof(want)) != NULL) {
            snprintf(out, cap, "%s", e->d_name);
            found = 1;
        }
        free(buf);
    }
    if (d != NULL)
        closedir(d);
    return found;
}

/* Offline (quorum) SoftHSM2 tokens holding a CA key: their files as roottoken/UUID/FILE. */
static enum signet_err add_offline_tokens(struct ca_ctx *ctx, struct ca_bk_arc *a, char *detail)
{
    char tokendir[PATH_MAX], uuid[256], path[PATH_MAX + 300], prefix[PATH_MAX];
    enum signet_err rc;

    for (size_t i = 0; i < ctx->ntokens; i++) {
        struct ca_token_ent *t = &ctx->tokens[i];
        if (!ca_token_is_quorum(t) || strstr(t->module, "softhsm") == NULL)
            continue;
        if (!softhsm_tokendir(tokendir, sizeof(tokendir)) ||
            !softhsm_token_dir(tokendir, t->label, uuid, sizeof(uuid))) {
            sg_log(SG_LOG_WARN,
                   "backup: offline token %s not found in SoftHSM2's directory; "
                   "recover it from its own HSM backup",
                   t->label);
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", tokendir, uuid);
        snprintf(prefix, sizeof(prefix), "roottoken/%s", uuid);
        if ((rc = add_tree(a, path, prefix, 0, detail)) != SIGNET_OK)
            return rc;
    }
    return SIGNET_OK;
}

/* The compacted store copy, through a private temporary directory. */
static enum signet_err add_store(struct ca_ctx *ctx, struct ca_bk_arc *a, char *detail)
{
    char tmp[] = "/tmp/signet-backup.XXXXXX", path[PATH_MAX];
    enum signet_err rc;

    if (mkdtemp(tmp) == NULL) {
        sg_detail(detail, "backup: cannot make a temporary directory: %s", strerror(errno));
        return SIGNET_E_IO;
    }
    snprintf(path, sizeof(path), "%s/data.mdb", tmp);
    if ((rc = store_backup_copy(ctx->st, tmp, detail)) == SIGNET_OK)
        rc = add_file(a, path, "store/data.mdb", detail);
    unlink(path);
    rmdir(tmp);
    return rc;
}

/* The keys to back up on token t: its CAs' keys and the backup signer when it is there. */
static size_t token_keys(struct ca_ctx *ctx, struct ca_token_ent *t, struct ca_bk_key *keys,
                         size_t cap)
{
    const char *signer = sg_conf_get(ctx->conf, "backup", "signer_key");
    size_t n = 0;

    for (size_t i = 0; i < ctx->ncas && n < cap; i++)
        if (ctx->cas[i].token >= 0 && &ctx->tokens[ctx->cas[i].token] == t)
            ca_uri_attr(ctx->cas[i].key_uri, "object", keys[n++].label, sizeof(keys[0].label));
    if (signer != NULL && uri_token(ctx, signer) == t && n < cap)
        ca_uri_attr(signer, "object", keys[n++].label, sizeof(keys[0].label));
    return n;
}

/* "keys/TOKEN.kek.FP": FP the first 16 hex digits of the SHA-256 of the recipient's SPKI. */
int ca_bk_kek_name(const char *token, EVP_PKEY *recipient, char *out, size_t cap)
{
    unsigned char *der = NULL, md[32];
    char hex[65];
    int len = i2d_PUBKEY(recipient, &der);

    if (len <= 0)
        return 0;
    SHA256(der, (size_t)len, md);
    OPENSSL_free(der);
    sg_hex_encode(md, 32, hex);
    snprintf(out, cap, "keys/%s.kek.%.16s", token, hex);
    return 1;
}

/* Wraps the keys of one online token and adds them (keys/LABEL.wrapped, KEKs, index lines). */
static enum signet_err wrap_token(struct ca_ctx *ctx, struct ca_token_ent *t, struct ca_bk_arc *a,
                                  STACK_OF(X509) * recips, char *index, size_t icap, size_t *nkeys,
                                  char *detail)
{
    size_t nr = (size_t)sk_X509_num(recips), n, nkek = 0;
    struct ca_bk_key *keys = calloc(ctx->ncas + 1, sizeof(*keys));
    struct ca_bk_kek *keks = calloc(nr, sizeof(*keks));
    EVP_PKEY **rp = calloc(nr, sizeof(*rp));
    char name[300];
    enum signet_err rc = SIGNET_E_NOMEM;

    if (keys == NULL || keks == NULL || rp == NULL)
        goto out;
    for (size_t r = 0; r < nr; r++)
        rp[r] = X509_get0_pubkey(sk_X509_value(recips, (int)r));
    rc = SIGNET_OK;
    if ((n = token_keys(ctx, t, keys, ctx->ncas + 1)) == 0 ||
        (rc = ca_bk_wrap(ctx, t, keys, n, rp, nr, keks, detail)) != SIGNET_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(index);
        snprintf(index + len, icap - len, "%s %s %d\n", keys[i].label, t->name,
                 keys[i].extractable);
        snprintf(name, sizeof(name), "keys/%s.wrapped", keys[i].label);
        if (keys[i].extractable && !ca_bk_add(a, name, keys[i].wrapped, keys[i].wrapped_len)) {
            rc = SIGNET_E_NOMEM;
            goto out;
        }
        *nkeys += keys[i].extractable;
    }
    for (size_t r = 0; r < nr && rc == SIGNET_OK; r++) {
        if (keks[r].blob == NULL)
            continue;
        nkek++;
        if (!ca_bk_kek_name(t->name, rp[r], name, sizeof(name)) ||
            !ca_bk_add(a, name, keks[r].blob, keks[r].len))
            rc = SIGNET_E_NOMEM;
    }
    if (rc == SIGNET_OK && nkek == 0) {
        sg_detail(detail, "backup: no RSA certificate among [backup] recipients: the token's "
                          "key-encryption key is exported with RSA-OAEP to an RSA recipient");
        rc = SIGNET_E_CONFIG;
    }
out:
    for (size_t r = 0; keks != NULL && r < nr; r++)
        free(keks[r].blob);
    free(keks);
    free(rp);
    ca_bk_keys_free(keys, ctx->ncas + 1);
    return rc;
}

/* Wraps the keys of every online token under its KEK (the user's login only). */
static enum signet_err add_keys(struct ca_ctx *ctx, struct ca_bk_arc *a, STACK_OF(X509) * recips,
                                size_t *nkeys, char *detail)
{
    size_t icap = 64 + ctx->ncas * 300 + 300;
    char *index = calloc(1, icap);
    enum signet_err rc = SIGNET_OK;

    if (index == NULL)
        return SIGNET_E_NOMEM;
    for (size_t i = 0; i < ctx->ntokens && rc == SIGNET_OK; i++)
        if (!ca_token_is_quorum(&ctx->tokens[i]))
            rc = wrap_token(ctx, &ctx->tokens[i], a, recips, index, icap, nkeys, detail);
    if (rc == SIGNET_OK && !ca_bk_add(a, "keys/index", index, strlen(index)))
        rc = SIGNET_E_NOMEM;
    free(index);
    return rc;
}

enum signet_err ca_backup_kek_init(struct ca_ctx *ctx, const char *token, int replace, char *detail)
{
    enum signet_err rc = SIGNET_E_NOTFOUND;
    char sect[CA_NAME_MAX + 8];

    sg_detail(detail, "no online [token.%s] in the configuration", token ? token : "*");
    for (size_t i = 0; i < ctx->ntokens; i++) {
        struct ca_token_ent *t = &ctx->tokens[i];
        struct secret *so = NULL;
        const char *spec;
        if (ca_token_is_quorum(t) || (token != NULL && strcmp(token, t->name) != 0))
            continue;
        snprintf(sect, sizeof(sect), "token.%s", t->name);
        if ((spec = sg_conf_get(ctx->conf, sect, "so_pin")) == NULL) {
            sg_detail(detail,
                      "[%s] so_pin is not set: the Security Officer makes the trusted "
                      "backup key-encryption key",
                      sect);
            return SIGNET_E_CONFIG;
        }
        if ((rc = secret_load(spec, sg_conf_dir(ctx->conf), "SO PIN", &so, detail)) == SIGNET_OK)
            rc = ca_bk_kek_init(t, so, replace, detail);
        secret_free(so);
        if (rc != SIGNET_OK)
            return rc;
    }
    return rc;
}

/* The backup signer: its token key (through the provider) and certificate. */
static enum signet_err signer_load(struct ca_ctx *ctx, struct hsm_key **key, EVP_PKEY **evp,
                                   X509 **cert, char *detail)
{
    const char *uri = sg_conf_get(ctx->conf, "backup", "signer_key");
    const char *crt = sg_conf_get(ctx->conf, "backup", "signer_cert");
    struct ca_token_ent *t = uri ? uri_token(ctx, uri) : NULL;
    struct hsm_token *tok = NULL;
    char *path = NULL;
    enum signet_err rc;

    if (uri == NULL || crt == NULL || t == NULL) {
        sg_detail(detail, "backup: [backup] signer_key (a key on a configured token) and "
                          "signer_cert are needed to sign a backup");
        return SIGNET_E_CONFIG;
    }
    if ((path = sg_conf_path(ctx->conf, crt)) == NULL)
        return SIGNET_E_NOMEM;
    *cert = ca_load_cert_file(path, detail);
    free(path);
    if (*cert == NULL)
        return SIGNET_E_CONFIG;
    if ((rc = ca_token(ctx, t->name, &tok, detail)) != SIGNET_OK ||
        (rc = hsm_key_find(tok, uri, key, detail)) != SIGNET_OK ||
        (rc = hsm_key_evp(*key, evp, detail)) != SIGNET_OK)
        return rc;
    if (!EVP_PKEY_eq(hsm_key_public(*key), X509_get0_pubkey(*cert))) {
        sg_detail(detail, "backup: signer_key %s does not match signer_cert %s", uri, crt);
        return SIGNET_E_CONFIG;
    }
    return SIGNET_OK;
}

/* The [backup] recipients' certificates. */
static enum signet_err recipients_load(struct ca_ctx *ctx, STACK_OF(X509) * *out, char *detail)
{
    const char *v = sg_conf_get(ctx->conf, "backup", "recipients");
    char **list = v ? sg_split_list(v, NULL) : NULL;
    enum signet_err rc = SIGNET_OK;

    if (list == NULL || list[0] == NULL || (*out = sk_X509_new_null()) == NULL) {
        sg_strv_free(list);
        sg_detail(detail, "backup: [backup] recipients (certificate files) is not set");
        return SIGNET_E_CONFIG;
    }
    for (size_t i = 0; list[i] != NULL && rc == SIGNET_OK; i++) {
        char *path = sg_conf_path(ctx->conf, list[i]);
        X509 *x = path ? ca_load_cert_file(path, detail) : NULL;
        free(path);
        if (x == NULL || !sk_X509_push(*out, x)) {
            X509_free(x);
            rc = SIGNET_E_CONFIG;
        }
    }
    sg_strv_free(list);
    return rc;
}

/* Collects every part of the archive. */
static enum signet_err collect(struct ca_ctx *ctx, struct ca_bk_arc *a, STACK_OF(X509) * recips,
                               ca_backup_progress_fn progress, struct ca_backup_summary *sum,
                               char *detail)
{
    char info[PATH_MAX + 256], *clients = NULL;
    enum signet_err rc;

    step(progress, "wrapping the keys marked for backup in their tokens");
    if ((rc = add_keys(ctx, a, recips, &sum->keys, detail)) != SIGNET_OK)
        return rc;
    step(progress, "copying the store (compacted, consistent while signetd writes)");
    if ((rc = add_store(ctx, a, detail)) != SIGNET_OK)
        return rc;
    step(progress, "adding the configuration, profiles, public files and offline tokens");
    if ((rc = add_file(a, sg_conf_file(ctx->conf), "conf/signet.conf", detail)) != SIGNET_OK ||
        (rc = add_conf_dir(ctx, a, ctx->policies_dir, detail)) != SIGNET_OK ||
        (rc = add_conf_dir(ctx, a, ctx->public_dir, detail)) != SIGNET_OK ||
        (rc = add_offline_tokens(ctx, a, detail)) != SIGNET_OK ||
        (rc = add_custodian_certs(ctx, a, detail)) != SIGNET_OK)
        return rc;
    if ((clients = sg_conf_path(ctx->conf, "clients")) == NULL)
        return SIGNET_E_NOMEM;
    rc = add_conf_dir(ctx, a, clients, detail);
    free(clients);
    if (rc != SIGNET_OK)
        return rc;
    sum->created = sg_now();
    snprintf(info, sizeof(info), "created=%lld\nconf_dir=%s\nkeys=%zu\n", (long long)sum->created,
             sg_conf_dir(ctx->conf), sum->keys);
    if (!ca_bk_add(a, "INFO", info, strlen(info)))
        return SIGNET_E_NOMEM;
    sum->parts = a->n + 1;
    sum->bytes = a->bytes;
    return SIGNET_OK;
}

enum signet_err ca_backup_create(struct ca_ctx *ctx, const char *out,
                                 ca_backup_progress_fn progress, struct ca_backup_summary *sum,
                                 char *detail)
{
    struct ca_bk_arc a = {0};
    struct hsm_key *key = NULL;
    EVP_PKEY *evp = NULL;
    X509 *signer = NULL;
    STACK_OF(X509) *recips = NULL;
    unsigned char *plain = NULL, *sealed = NULL;
    size_t plen = 0, slen = 0;
    enum signet_err rc;

    memset(sum, 0, sizeof(*sum));
    if ((rc = recipients_load(ctx, &recips, detail)) != SIGNET_OK ||
        (rc = collect(ctx, &a, recips, progress, sum, detail)) != SIGNET_OK)
        goto out;
    step(progress, "signing (CMS SignedData, backup signer in the HSM) and encrypting");
    if ((rc = signer_load(ctx, &key, &evp, &signer, detail)) != SIGNET_OK ||
        (rc = ca_bk_serialize(&a, &plain, &plen, detail)) != SIGNET_OK ||
        (rc = ca_bk_seal(plain, plen, signer, evp, recips, &sealed, &slen, detail)) != SIGNET_OK)
        goto out;
    step(progress, "writing the backup");
    rc = sg_write_file(out, sealed, slen, 0600, detail);
    sum->signer_pinned = 1;
out:
    OPENSSL_clear_free(plain, plen);
    free(sealed);
    ca_bk_arc_free(&a);
    EVP_PKEY_free(evp);
    hsm_key_free(key);
    X509_free(signer);
    sk_X509_pop_free(recips, X509_free);
    return rc;
}
