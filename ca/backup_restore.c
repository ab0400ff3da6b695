/* SPDX-License-Identifier: Apache-2.0 */
/* signet backup restore: a backup into a fresh directory and fresh tokens (docs/backup.md). */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CRL_GAP ((uint64_t)1 << 20) /* numbers skipped for CRLs signed after the backup */

/* Refuses a directory that exists and is not empty; makes it otherwise. */
static enum signet_err fresh_dir(const char *dir, char *real, char *detail)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int empty = 1;
    enum signet_err rc;

    while (d != NULL && (e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            empty = 0;
    if (d != NULL)
        closedir(d);
    if (!empty) {
        sg_detail(detail, "restore: %s is not empty; restore into a new or empty directory", dir);
        return SIGNET_E_EXISTS;
    }
    if ((rc = sg_mkdirs(dir, 0755, detail)) != SIGNET_OK)
        return rc;
    if (realpath(dir, real) == NULL) {
        sg_detail(detail, "restore: %s: %s", dir, strerror(errno));
        return SIGNET_E_IO;
    }
    return SIGNET_OK;
}

/* Writes one part to dir/rel, making its directories. */
static enum signet_err put(const char *dir, const char *rel, const struct ca_bk_part *p,
                           unsigned mode, char *detail)
{
    char path[PATH_MAX + 300], *slash;
    enum signet_err rc;

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    slash = strrchr(path, '/');
    *slash = 0;
    rc = sg_mkdirs(path, 0700, detail);
    *slash = '/';
    return rc != SIGNET_OK ? rc : sg_write_file(path, p->data, p->len, mode, detail);
}

/* signet.conf with the old directory replaced by the new one. */
static enum signet_err write_conf(const struct ca_bk_arc *a, const char *dir, char *detail)
{
    const struct ca_bk_part *c = ca_bk_get(a, "conf/signet.conf"), *info = ca_bk_get(a, "INFO");
    char old[PATH_MAX] = "", path[PATH_MAX + 32], *text, *out, *o;
    const char *s, *hit;
    enum signet_err rc;

    if (c == NULL || info == NULL) {
        sg_detail(detail, "restore: the backup holds no configuration");
        return SIGNET_E_INVALID;
    }
    if ((text = calloc(1, info->len + 1)) == NULL)
        return SIGNET_E_NOMEM;
    memcpy(text, info->data, info->len);
    if ((s = strstr(text, "conf_dir=")) != NULL)
        snprintf(old, sizeof(old), "%.*s", (int)strcspn(s + 9, "\n"), s + 9);
    free(text);
    if ((text = calloc(1, c->len + 1)) == NULL ||
        (out = calloc(1, 2 * c->len + 64 * (strlen(dir) + 1) + 1)) == NULL) {
        free(text);
        return SIGNET_E_NOMEM;
    }
    memcpy(text, c->data, c->len);
    o = out;
    for (s = text; old[0] && (hit = strstr(s, old)) != NULL && o - out < (long)c->len;
         s = hit + strlen(old)) {
        memcpy(o, s, (size_t)(hit - s));
        o += hit - s;
        o += sprintf(o, "%s", dir);
    }
    strcpy(o, s);
    snprintf(path, sizeof(path), "%s/signet.conf", dir);
    rc = sg_write_file(path, out, strlen(out), 0644, detail);
    free(text);
    free(out);
    return rc;
}

/* A random hex credential written to the file of a file: spec (relative to dir). */
static enum signet_err new_cred(const char *dir, const char *spec, struct secret **out,
                                char *detail)
{
    unsigned char raw[16];
    char hex[33], path[PATH_MAX + 300];

    *out = NULL;
    if (spec == NULL || strncmp(spec, "file:", 5) != 0) {
        sg_detail(detail,
                  "restore: credential source '%.40s' is not file:PATH; restore writes "
                  "the new token's credentials to files",
                  spec ? spec : "(none)");
        return SIGNET_E_CONFIG;
    }
    if (RAND_priv_bytes(raw, sizeof(raw)) != 1 || (*out = secret_new(sizeof(hex))) == NULL)
        return SIGNET_E_CRYPTO;
    sg_hex_encode(raw, sizeof(raw), hex);
    secret_set(*out, hex, 32);
    OPENSSL_cleanse(raw, sizeof(raw));
    OPENSSL_cleanse(hex, sizeof(hex));
    if (spec[5] == '/')
        snprintf(path, sizeof(path), "%s", spec + 5);
    else
        snprintf(path, sizeof(path), "%s/%s", dir, spec + 5);
    return sg_write_file(path, secret_data(*out), secret_len(*out), 0600, detail);
}

/* Lays out the files: configuration, profiles, public, clients, store, offline token files. */
static enum signet_err lay_out(const struct ca_bk_arc *a, const char *dir, char *detail)
{
    char text[PATH_MAX + 200], path[PATH_MAX + 64], store_rel[256] = "store";
    enum signet_err rc = SIGNET_OK;

    for (size_t i = 0; i < a->n && rc == SIGNET_OK; i++) {
        const struct ca_bk_part *p = &a->p[i];
        char rel[PATH_MAX];
        if (strncmp(p->name, "files/", 6) == 0)
            rc = put(dir, p->name + 6, p, strncmp(p->name, "files/public/", 13) == 0 ? 0644 : 0600,
                     detail);
        else if (strncmp(p->name, "roottoken/", 10) == 0) {
            snprintf(rel, sizeof(rel), "hsm/tokens/%s", p->name + 10);
            rc = put(dir, rel, p, 0600, detail);
        }
    }
    if (rc != SIGNET_OK || (rc = write_conf(a, dir, detail)) != SIGNET_OK)
        return rc;
    snprintf(path, sizeof(path), "%s/hsm/tokens", dir);
    if ((rc = sg_mkdirs(path, 0700, detail)) != SIGNET_OK)
        return rc;
    snprintf(text, sizeof(text),
             "# SoftHSM2 configuration of the restored PKI\n"
             "directories.tokendir = %s/hsm/tokens\nobjectstore.backend = file\n"
             "log.level = ERROR\n",
             dir);
    snprintf(path, sizeof(path), "%s/hsm/softhsm2.conf", dir);
    if ((rc = sg_write_file(path, text, strlen(text), 0600, detail)) != SIGNET_OK)
        return rc;
    setenv("SOFTHSM2_CONF", path, 1);
    {
        struct sg_conf *conf = NULL;
        snprintf(path, sizeof(path), "%s/signet.conf", dir);
        if ((rc = sg_conf_load(path, &conf, detail)) != SIGNET_OK)
            return rc;
        if (sg_conf_get(conf, "signet", "store") != NULL)
            snprintf(store_rel, sizeof(store_rel), "%s", sg_conf_get(conf, "signet", "store"));
        sg_conf_free(conf);
    }
    snprintf(path, sizeof(path), "%s/data.mdb", store_rel);
    return put(dir, path, ca_bk_get(a, "store/data.mdb"), 0600, detail);
}

/* The certificate whose key is label: a CA's, or the backup signer's. Borrowed or owned *own. */
static EVP_PKEY *pub_for(struct ca_ctx *ctx, const char *label, X509 **own)
{
    const char *sk = sg_conf_get(ctx->conf, "backup", "signer_key");
    const char *sc = sg_conf_get(ctx->conf, "backup", "signer_cert");
    char obj[128];

    for (size_t i = 0; i < ctx->ncas; i++) {
        ca_uri_attr(ctx->cas[i].key_uri, "object", obj, sizeof(obj));
        if (strcmp(obj, label) == 0 && ctx->cas[i].cert != NULL)
            return X509_get0_pubkey(ctx->cas[i].cert);
    }
    if (sk != NULL && sc != NULL) {
        ca_uri_attr(sk, "object", obj, sizeof(obj));
        char *path = sg_conf_path(ctx->conf, sc);
        if (strcmp(obj, label) == 0 && path != NULL)
            *own = ca_load_cert_file(path, NULL);
        free(path);
        if (*own != NULL)
            return X509_get0_pubkey(*own);
    }
    return NULL;
}

/* The keys of token t listed in keys/index, with their wrapped bytes (borrowed from a). */
static size_t index_keys(const struct ca_bk_arc *a, const char *token, struct ca_bk_key *keys,
                         size_t cap)
{
    const struct ca_bk_part *ix = ca_bk_get(a, "keys/index");
    char line[512], label[128], tname[128], name[300];
    size_t pos = 0, n = 0;
    int ext;

    while (ix != NULL && pos < ix->len && n < cap) {
        const char *p = (const char *)ix->data + pos, *nl = memchr(p, '\n', ix->len - pos);
        size_t ll = nl ? (size_t)(nl - p) : ix->len - pos;
        const struct ca_bk_part *w;
        pos += ll + 1;
        if (ll >= sizeof(line))
            continue;
        memcpy(line, p, ll);
        line[ll] = 0;
        if (sscanf(line, "%127s %127s %d", label, tname, &ext) != 3 || strcmp(tname, token) != 0 ||
            !ext)
            continue;
        snprintf(name, sizeof(name), "keys/%s.wrapped", label);
        if ((w = ca_bk_get(a, name)) == NULL)
            continue;
        memset(&keys[n], 0, sizeof(keys[n]));
        snprintf(keys[n].label, sizeof(keys[n].label), "%s", label);
        keys[n].extractable = 1;
        keys[n].wrapped = w->data;
        keys[n].wrapped_len = w->len;
        n++;
    }
    return n;
}

/* Unwraps token t's keys from the backup (its KEK opened with the recipient's key). */
static enum signet_err unwrap_keys(struct ca_ctx *ctx, struct ca_token_ent *t,
                                   const struct ca_bk_arc *a, EVP_PKEY *rkey, char *detail)
{
    struct ca_bk_key keys[64];
    EVP_PKEY *pubs[64];
    X509 *own[64] = {NULL};
    const struct ca_bk_part *kek;
    char name[300];
    size_t n = index_keys(a, t->name, keys, 64);
    enum signet_err rc = SIGNET_OK;

    if (n == 0)
        return SIGNET_OK;
    if (!ca_bk_kek_name(t->name, rkey, name, sizeof(name)) || (kek = ca_bk_get(a, name)) == NULL) {
        sg_detail(detail,
                  "restore: the backup holds no key-encryption key of token %s for this "
                  "recipient key (give the key of an RSA recipient)",
                  t->label);
        return SIGNET_E_NOTFOUND;
    }
    for (size_t j = 0; j < n && rc == SIGNET_OK; j++)
        if ((pubs[j] = pub_for(ctx, keys[j].label, &own[j])) == NULL) {
            sg_detail(detail, "restore: key %s has no certificate to check it against",
                      keys[j].label);
            rc = SIGNET_E_INVALID;
        }
    if (rc == SIGNET_OK)
        rc = ca_bk_unwrap(ctx, t, rkey, kek->data, kek->len, keys, pubs, n, detail);
    for (size_t j = 0; j < 64; j++)
        X509_free(own[j]);
    return rc;
}

/*
 * A new token for each online [token.*] with fresh credentials and a fresh trusted backup KEK
 * (made by the SO before any user login), then its keys unwrapped.
 */
static enum signet_err new_tokens(struct ca_ctx *ctx, const struct ca_bk_arc *a, const char *dir,
                                  EVP_PKEY *rkey, ca_backup_progress_fn progress, char *detail)
{
    enum signet_err rc = SIGNET_OK;

    for (size_t i = 0; i < ctx->ntokens && rc == SIGNET_OK; i++) {
        struct ca_token_ent *t = &ctx->tokens[i];
        struct secret *pin = NULL, *so = NULL;
        char sect[CA_NAME_MAX + 8];

        if (ca_token_is_quorum(t))
            continue;
        snprintf(sect, sizeof(sect), "token.%s", t->name);
        if (progress != NULL)
            progress("a new token with fresh credentials; unwrapping its keys");
        if ((rc = new_cred(dir, t->pin, &pin, detail)) == SIGNET_OK &&
            (rc = new_cred(dir, sg_conf_get(ctx->conf, sect, "so_pin"), &so, detail)) ==
                SIGNET_OK &&
            (rc = hsm_token_init(t->module, t->init_reserved, t->label, so, pin, detail)) ==
                SIGNET_OK &&
            (rc = ca_bk_kek_init(t, so, 0, detail)) == SIGNET_OK)
            rc = unwrap_keys(ctx, t, a, rkey, detail);
        secret_free(pin);
        secret_free(so);
    }
    return rc;
}

/* Every CA certificate's public key equals its key's (the offline root through the shares). */
static enum signet_err check_keys(struct ca_ctx *ctx, const struct ca_backup_restore_opts *o,
                                  struct ca_backup_summary *sum, char *detail)
{
    enum signet_err rc;

    snprintf(sum->root_checked, sizeof(sum->root_checked), "no offline token");
    for (size_t i = 0; i < ctx->ncas; i++) {
        struct ca_ent *ca = &ctx->cas[i];
        struct ca_token_ent *t = ca->token >= 0 ? &ctx->tokens[ca->token] : NULL;
        struct hsm_key *k = NULL;
        char used[64] = "";

        if (ca->cert == NULL || t == NULL)
            continue;
        if (ca_token_is_quorum(t)) {
            if (o->nshares == 0) {
                snprintf(sum->root_checked, sizeof(sum->root_checked),
                         "%s not checked: no --share given", ca->name);
                continue;
            }
            if ((rc = ca_quorum_activate(ctx, t->name, o->shares, o->nshares, used, sizeof(used),
                                         detail)) != SIGNET_OK)
                return rc;
            snprintf(sum->root_checked, sizeof(sum->root_checked),
                     "%s activated by shares %s, key matches its certificate", ca->name, used);
        }
        if ((rc = ca_ent_hsm_key(ctx, ca, &k, detail)) != SIGNET_OK)
            return rc;
        if (EVP_PKEY_eq(hsm_key_public(k), X509_get0_pubkey(ca->cert)) != 1) {
            sg_detail(detail, "restore: CA %s: the restored key does not match its certificate",
                      ca->name);
            return SIGNET_E_INVALID;
        }
    }
    return SIGNET_OK;
}

/* An X509_CRL extension's integer (CRL number, delta indicator), or 0. */
static uint64_t crl_ext_u64(X509_CRL *crl, int nid)
{
    ASN1_INTEGER *v = X509_CRL_get_ext_d2i(crl, nid, NULL, NULL);
    uint64_t n = 0;

    if (v != NULL && ASN1_INTEGER_get_uint64(&n, v) != 1)
        n = 0;
    ASN1_INTEGER_free(v);
    return n;
}

static void note_max(uint64_t number, const unsigned char *der, size_t len, void *arg)
{
    (void)der;
    (void)len;
    if (number > *(uint64_t *)arg)
        *(uint64_t *)arg = number;
}

/* The largest CRL number the store or the published CRLs of the backup have seen. */
static uint64_t crl_seen(struct ca_ctx *ctx, const struct ca_bk_arc *a)
{
    uint64_t max = 0, v;
    unsigned char buf[8];
    char name[STORE_META_NAME_MAX];
    size_t len;

    for (size_t i = 0; i < a->n; i++) {
        const unsigned char *p = a->p[i].data;
        X509_CRL *crl;
        if (strncmp(a->p[i].name, "files/public/", 13) != 0 ||
            (crl = d2i_X509_CRL(NULL, &p, (long)a->p[i].len)) == NULL)
            continue;
        if ((v = crl_ext_u64(crl, NID_crl_number)) > max)
            max = v;
        if ((v = crl_ext_u64(crl, NID_delta_crl)) > max)
            max = v;
        X509_CRL_free(crl);
    }
    for (size_t i = 0; i < ctx->ncas; i++) {
        struct store_ca *sc = NULL;
        if (store_ca_get(ctx->st, ctx->cas[i].name, &sc, NULL) != SIGNET_OK)
            continue;
        if (sc->crl_number > max)
            max = sc->crl_number;
        for (uint32_t s = 0; s < 2 + 256; s++) {
            uint32_t stream = s < 2 ? s : STORE_CRL_STREAM_SHARD + (s - 2);
            snprintf(name, sizeof(name), "crl.number.%u.%u", sc->id, stream);
            if (store_meta_get(ctx->st, name, buf, sizeof(buf), &len, NULL) == SIGNET_OK &&
                len == 8) {
                v = 0;
                for (int b = 0; b < 8; b++)
                    v = (v << 8) | buf[b];
                if (v > max)
                    max = v;
            }
            if (s < 2)
                store_crl_latest(ctx->st, sc->id, stream, note_max, &max, NULL);
        }
        store_ca_free(sc);
    }
    return max;
}

struct floor_arg {
    struct ca_ctx *ctx;
    uint64_t floor;
};

/* Sets every CA's CRL counters (full, delta, shards) to the floor. */
static enum signet_err floor_fn(struct store_txn *txn, void *arg, char *detail)
{
    struct floor_arg *fa = arg;
    unsigned char buf[8];
    char name[STORE_META_NAME_MAX];
    enum signet_err rc = SIGNET_OK;

    for (int b = 0; b < 8; b++)
        buf[b] = (unsigned char)(fa->floor >> (56 - 8 * b));
    for (size_t i = 0; i < fa->ctx->ncas && rc == SIGNET_OK; i++) {
        struct store_ca *sc = NULL;
        if (store_txn_ca_get(txn, fa->ctx->cas[i].name, &sc, NULL) != SIGNET_OK)
            continue;
        for (uint32_t s = 0; s < 2 + 256 && rc == SIGNET_OK; s++) {
            uint32_t stream = s < 2 ? s : STORE_CRL_STREAM_SHARD + (s - 2);
            snprintf(name, sizeof(name), "crl.number.%u.%u", sc->id, stream);
            rc = store_txn_meta_put(txn, name, buf, sizeof(buf), detail);
        }
        store_ca_free(sc);
    }
    return rc == SIGNET_OK ? store_txn_audit(txn, "operator", "backup.restore.crl-floor",
                                             "CRL numbers moved above the backup", detail)
                           : rc;
}

struct revoked_arg {
    struct ca_ctx *ctx;
    const char *ca;
    size_t resigned;
    enum signet_err rc;
};

/* Re-signs the OCSP response of a revoked certificate whose stored answer is not "revoked". */
static int revoked_cb(const struct store_revoked *r, void *arg)
{
    struct revoked_arg *ra = arg;
    struct store_ocsp *o = NULL;
    char hex[2 * STORE_SERIAL_MAX + 1];
    uint32_t id = 0;
    struct ca_ent *e = ca_ent_find(ra->ctx, ra->ca);

    if (e == NULL)
        return 0;
    id = e->store_id;
    if (store_ocsp_get(ra->ctx->st, id, r->serial, r->serial_len, &o, NULL) == SIGNET_OK &&
        o->status == 1) {
        store_ocsp_free(o);
        return 1;
    }
    store_ocsp_free(o);
    sg_hex_encode(r->serial, r->serial_len, hex);
    if (ca_ocsp_presign(ra->ctx, ra->ca, hex, NULL) == SIGNET_OK)
        ra->resigned++;
    return 1;
}

/* Revocation state after the restore: OCSP answers revoked for revoked ones, fresh CRLs. */
static enum signet_err revocation(struct ca_ctx *ctx, char *detail)
{
    enum signet_err rc;

    for (size_t i = 0; i < ctx->ncas; i++) {
        struct ca_ent *ca = &ctx->cas[i];
        struct revoked_arg ra = {ctx, ca->name, 0, SIGNET_OK};
        if (ca->cert == NULL || ca->token < 0 || ca_token_is_quorum(&ctx->tokens[ca->token]))
            continue;
        if (ca->store_id != 0 &&
            (rc = store_revoked_iter(ctx->st, ca->store_id, revoked_cb, &ra, detail)) != SIGNET_OK)
            return rc;
        if (ca->crl_url != NULL && ca->parent[0] &&
            (rc = ca_crl_generate(ctx, ca->name, NULL, detail)) != SIGNET_OK)
            return rc;
    }
    return SIGNET_OK;
}

enum signet_err ca_backup_restore(const struct ca_backup_restore_opts *o,
                                  struct ca_backup_summary *sum, char *detail)
{
    struct ca_bk_arc a;
    struct ca_ctx *ctx = NULL;
    EVP_PKEY *rkey = NULL;
    char dir[PATH_MAX], conf[PATH_MAX + 32], what[2 * PATH_MAX + 64];
    int embedded = 1;
    size_t transcripts = 0;
    struct floor_arg fa;
    enum signet_err rc;

    memset(sum, 0, sizeof(*sum));
    if ((rc = fresh_dir(o->dir, dir, detail)) != SIGNET_OK)
        return rc;
    if ((rc = ca_bk_load(o->file, &o->keys, NULL, &a, &embedded, &rkey, detail)) != SIGNET_OK)
        return rc;
    sum->signer_pinned = !embedded;
    if (embedded)
        sg_log(SG_LOG_WARN, "restore: no trusted backup signer certificate was given; the "
                            "signature was checked with the certificate the backup carries");
    if ((rc = ca_bk_summarize(NULL, &a, sum, 0, detail)) != SIGNET_OK ||
        (rc = lay_out(&a, dir, detail)) != SIGNET_OK)
        goto out;
    if (o->progress != NULL)
        o->progress("files and store laid out; opening the restored configuration");
    snprintf(conf, sizeof(conf), "%s/signet.conf", dir);
    if ((rc = ca_ctx_open(conf, 0, &ctx, detail)) != SIGNET_OK ||
        (rc = new_tokens(ctx, &a, dir, rkey, o->progress, detail)) != SIGNET_OK ||
        (rc = check_keys(ctx, o, sum, detail)) != SIGNET_OK ||
        (rc = ca_audit_verify(ctx, &sum->audit_entries, &transcripts, detail)) != SIGNET_OK)
        goto out;
    fa.ctx = ctx;
    fa.floor = crl_seen(ctx, &a) + CRL_GAP;
    sum->crl_floor = fa.floor;
    if (o->progress != NULL)
        o->progress("keys and audit chain checked; CRL numbers moved on, revocations re-signed");
    if ((rc = store_write(ctx->st, floor_fn, &fa, detail)) != SIGNET_OK ||
        (rc = revocation(ctx, detail)) != SIGNET_OK)
        goto out;
    snprintf(what, sizeof(what), "restored from %s (taken %lld) into %s", o->file,
             (long long)sum->created, dir);
    rc = ca_audit(ctx, "operator", "backup.restore", what, detail);
out:
    ca_ctx_free(ctx);
    ca_bk_arc_free(&a);
    EVP_PKEY_free(rkey);
    return rc;
}
