/* SPDX-License-Identifier: Apache-2.0 */
/* signet backup verify and prune; opening an archive with a recipient key (docs/backup.md). */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEALED_MAX (CA_BK_SIZE_MAX + ((size_t)64 << 20)) /* archive plus CMS overhead */

/* A PEM private key file. */
static EVP_PKEY *load_key(const char *path, char *detail)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;

    if (f != NULL)
        fclose(f);
    if (k == NULL)
        sg_detail(detail, "backup: recipient key %s: %s", path,
                  f ? "not a PEM private key (or protected by a passphrase)" : strerror(errno));
    return k;
}

/* path with its last ".key" replaced by suffix ("" when none). */
static void beside(const char *path, const char *file, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');

    if (file != NULL)
        snprintf(out, cap, "%.*s%s", slash ? (int)(slash - path + 1) : 0, path, file);
    else if (strlen(path) > 4 && strcmp(path + strlen(path) - 4, ".key") == 0)
        snprintf(out, cap, "%.*s.crt", (int)strlen(path) - 4, path);
    else
        out[0] = 0;
}

enum signet_err ca_bk_load(const char *file, const struct ca_backup_keys *k,
                           const struct sg_conf *conf, struct ca_bk_arc *arc, int *embedded,
                           EVP_PKEY **rkey_out, char *detail)
{
    const char *rk = k ? k->recipient_key : NULL, *sc = k ? k->signer_cert : NULL;
    char *rk_conf = NULL, *sc_conf = NULL, crt[PATH_MAX + 8], sig[PATH_MAX + 32];
    unsigned char *buf = NULL, *plain = NULL;
    size_t len = 0, plen = 0;
    EVP_PKEY *key = NULL;
    X509 *rcert = NULL, *signer = NULL;
    enum signet_err rc;

    memset(arc, 0, sizeof(*arc));
    if (rk == NULL && conf != NULL && sg_conf_get(conf, "backup", "recipient_key") != NULL)
        rk = rk_conf = sg_conf_path(conf, sg_conf_get(conf, "backup", "recipient_key"));
    if (sc == NULL && conf != NULL && sg_conf_get(conf, "backup", "signer_cert") != NULL)
        sc = sc_conf = sg_conf_path(conf, sg_conf_get(conf, "backup", "signer_cert"));
    if (rk == NULL) {
        sg_detail(detail, "backup: give --recipient-key KEY (a backup recipient's private key)");
        rc = SIGNET_E_USAGE;
        goto out;
    }
    if (sc == NULL) { /* a fresh machine: the signer certificate kept beside the recipient key */
        beside(rk, "backup-signer.crt", sig, sizeof(sig));
        if (access(sig, R_OK) == 0)
            sc = sig;
    }
    if ((key = load_key(rk, detail)) == NULL) {
        rc = SIGNET_E_CONFIG;
        goto out;
    }
    beside(rk, NULL, crt, sizeof(crt));
    if (k != NULL && k->recipient_cert != NULL)
        snprintf(crt, sizeof(crt), "%s", k->recipient_cert);
    if (crt[0] && access(crt, R_OK) == 0 && (rcert = ca_load_cert_file(crt, detail)) == NULL) {
        rc = SIGNET_E_CONFIG;
        goto out;
    }
    if (sc != NULL && (signer = ca_load_cert_file(sc, detail)) == NULL) {
        rc = SIGNET_E_CONFIG;
        goto out;
    }
    if ((rc = sg_read_file(file, SEALED_MAX, &buf, &len, detail)) != SIGNET_OK ||
        (rc = ca_bk_open(buf, len, key, rcert, signer, &plain, &plen, embedded, detail)) !=
            SIGNET_OK ||
        (rc = ca_bk_parse(plain, plen, arc, detail)) != SIGNET_OK)
        goto out;
    if (rkey_out != NULL) {
        *rkey_out = key;
        key = NULL;
    }
out:
    free(rk_conf);
    free(sc_conf);
    free(buf);
    OPENSSL_clear_free(plain, plen);
    EVP_PKEY_free(key);
    X509_free(rcert);
    X509_free(signer);
    return rc;
}

enum signet_err ca_bk_store_tmp(const struct ca_bk_arc *a, char *dir, size_t cap, char *detail)
{
    const struct ca_bk_part *p = ca_bk_get(a, "store/data.mdb");
    char path[PATH_MAX];

    snprintf(dir, cap, "/tmp/signet-verify.XXXXXX");
    if (p == NULL) {
        sg_detail(detail, "backup: no store in the archive");
        return SIGNET_E_INVALID;
    }
    if (mkdtemp(dir) == NULL) {
        sg_detail(detail, "backup: cannot make a temporary directory: %s", strerror(errno));
        return SIGNET_E_IO;
    }
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    return sg_write_file(path, p->data, p->len, 0600, detail);
}

void ca_bk_store_tmp_rm(const char *dir)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/lock.mdb", dir);
    unlink(path);
    rmdir(dir);
}

struct count_arg {
    uint64_t certs, revoked;
};

static int count_cert(const struct store_cert *c, void *arg)
{
    struct count_arg *a = arg;

    a->certs++;
    a->revoked += c->state == STORE_CERT_REVOKED;
    return 1;
}

/* 1 when the key index of the backup holds a wrapped key whose certificate is cert. */
static int key_in_backup(const struct ca_bk_arc *a, const char *label)
{
    char name[300];

    snprintf(name, sizeof(name), "keys/%s.wrapped", label);
    return ca_bk_get(a, name) != NULL;
}

/* How CA ca (from the backup's store) is backed by a key; SIGNET_OK when it is. */
static enum signet_err check_ca_key(struct ca_ctx *ctx, const struct ca_bk_arc *a,
                                    const struct store_ca *ca, char *detail)
{
    char label[128];
    struct ca_ent *e = ctx ? ca_ent_find(ctx, ca->name) : NULL;
    struct hsm_key *k = NULL;
    const unsigned char *p = ca->cert_der;
    X509 *x = p ? d2i_X509(NULL, &p, (long)ca->cert_len) : NULL;
    int ok = 0;

    ca_uri_attr(ca->key_uri, "object", label, sizeof(label));
    if (x == NULL)
        ok = 1; /* no certificate yet: nothing to match */
    else if (key_in_backup(a, label))
        ok = 1; /* the public half is checked against the certificate when it is unwrapped */
    else if (e != NULL && e->token >= 0 && ca_token_is_quorum(&ctx->tokens[e->token]) && a->n > 0) {
        for (size_t i = 0; i < a->n && !ok; i++)
            ok = strncmp(a->p[i].name, "roottoken/", 10) == 0;
    }
    if (!ok && x != NULL && e != NULL && ca_ent_hsm_key(ctx, e, &k, NULL) == SIGNET_OK)
        ok = EVP_PKEY_eq(hsm_key_public(k), X509_get0_pubkey(x)) == 1;
    X509_free(x);
    if (!ok)
        sg_detail(detail,
                  "backup: CA %s: its key %s is neither in the backup nor on a configured token "
                  "with the same public key",
                  ca->name, ca->key_uri);
    return ok ? SIGNET_OK : SIGNET_E_NOTFOUND;
}

enum signet_err ca_bk_summarize(struct ca_ctx *ctx, const struct ca_bk_arc *a,
                                struct ca_backup_summary *sum, int check_keys, char *detail)
{
    char dir[64];
    struct store *st = NULL;
    struct store_options so = {0};
    struct store_ca *cas = NULL;
    size_t n = 0;
    struct count_arg cnt = {0, 0};
    const struct ca_bk_part *info = ca_bk_get(a, "INFO");
    enum signet_err rc;

    so.read_only = 1;
    sum->parts = a->n + 1;
    sum->bytes = a->bytes;
    if (info != NULL) {
        char buf[64] = "";
        memcpy(buf, info->data, info->len < 63 ? info->len : 63);
        sscanf(buf, "created=%lld", (long long *)&sum->created);
    }
    for (size_t i = 0; i < a->n; i++)
        sum->keys += strncmp(a->p[i].name, "keys/", 5) == 0 && strstr(a->p[i].name, ".wrapped");
    if ((rc = ca_bk_store_tmp(a, dir, sizeof(dir), detail)) != SIGNET_OK)
        goto out;
    if ((rc = store_open(dir, &so, &st, detail)) != SIGNET_OK ||
        (rc = store_ca_list(st, &cas, &n, detail)) != SIGNET_OK ||
        (rc = store_audit_verify(st, &sum->audit_entries, detail)) != SIGNET_OK)
        goto out;
    sum->cas = n;
    for (size_t i = 0; i < n && rc == SIGNET_OK; i++) {
        rc = store_cert_iter(st, cas[i].id, 0, count_cert, &cnt, detail);
        if (rc == SIGNET_OK && check_keys)
            rc = check_ca_key(ctx, a, &cas[i], detail);
    }
    sum->certs = cnt.certs;
    sum->revoked = cnt.revoked;
out:
    store_ca_list_free(cas, n);
    store_close(st);
    ca_bk_store_tmp_rm(dir);
    return rc;
}

enum signet_err ca_backup_verify(struct ca_ctx *ctx, const char *file,
                                 const struct ca_backup_keys *k, struct ca_backup_summary *sum,
                                 char *detail)
{
    struct ca_bk_arc a;
    int embedded = 1;
    enum signet_err rc;

    memset(sum, 0, sizeof(*sum));
    if ((rc = ca_bk_load(file, k, ctx ? ctx->conf : NULL, &a, &embedded, NULL, detail)) !=
        SIGNET_OK)
        return rc;
    sum->signer_pinned = !embedded;
    rc = ca_bk_summarize(ctx, &a, sum, 1, detail);
    ca_bk_arc_free(&a);
    return rc;
}

/* 1 when the file begins like DER CMS EnvelopedData (1.2.840.113549.1.7.3). */
static int looks_like_backup(const char *path)
{
    static const unsigned char oid[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                        0xf7, 0x0d, 0x01, 0x07, 0x03};
    unsigned char head[32];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(head, 1, sizeof(head), f) : 0;

    if (f != NULL)
        fclose(f);
    return n >= 16 && head[0] == 0x30 && memmem(head, n, oid, sizeof(oid)) != NULL;
}

struct bk_file {
    char path[PATH_MAX];
    int64_t mtime;
};

static int newest_first(const void *a, const void *b)
{
    const struct bk_file *x = a, *y = b;

    return x->mtime < y->mtime ? 1 : x->mtime > y->mtime ? -1 : strcmp(x->path, y->path);
}

enum signet_err ca_backup_prune(const char *dir, unsigned keep, int64_t max_age_s, int dry_run,
                                size_t *deleted, size_t *kept, char *detail)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    struct bk_file *v = NULL;
    size_t n = 0, cap = 0;
    struct stat sb;
    int64_t now = sg_now();
    enum signet_err rc = SIGNET_OK;

    *deleted = *kept = 0;
    if (d == NULL) {
        sg_detail(detail, "backup prune: %s: %s", dir, strerror(errno));
        return SIGNET_E_NOTFOUND;
    }
    while ((e = readdir(d)) != NULL) {
        char path[PATH_MAX];
        if (e->d_name[0] == '.' ||
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path) ||
            lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || !looks_like_backup(path))
            continue;
        if (n == cap) {
            struct bk_file *nv = realloc(v, (cap = cap ? 2 * cap : 32) * sizeof(*v));
            if (nv == NULL) {
                rc = SIGNET_E_NOMEM;
                goto out;
            }
            v = nv;
        }
        snprintf(v[n].path, sizeof(v[n].path), "%s", path);
        v[n++].mtime = (int64_t)sb.st_mtime;
    }
    qsort(v, n, sizeof(*v), newest_first);
    for (size_t i = 0; i < n; i++) {
        int old = max_age_s > 0 && now - v[i].mtime > max_age_s;
        if (i < keep && (i == 0 || !old)) {
            (*kept)++;
            continue;
        }
        if (!dry_run && unlink(v[i].path) != 0) {
            sg_detail(detail, "backup prune: cannot delete %s: %s", v[i].path, strerror(errno));
            rc = SIGNET_E_IO;
            goto out;
        }
        (*deleted)++;
    }
out:
    closedir(d);
    free(v);
    return rc;
}
