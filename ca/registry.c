/* SPDX-License-Identifier: Apache-2.0 */
/* The CA registry seen from outside: listing, certificates and chains, records, audit. */
#include "internal.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum signet_err ca_list(struct ca_ctx *ctx, struct ca_info **out, size_t *out_n, char *detail)
{
    struct ca_info *v;

    *out = NULL;
    *out_n = 0;
    if ((v = calloc(ctx->ncas + 1, sizeof(*v))) == NULL) {
        sg_detail(detail, "CA list: out of memory");
        return SIGNET_E_NOMEM;
    }
    for (size_t i = 0; i < ctx->ncas; i++) {
        const struct ca_ent *ca = &ctx->cas[i];
        struct ca_info *c = &v[i];
        snprintf(c->name, sizeof(c->name), "%s", ca->name);
        snprintf(c->parent, sizeof(c->parent), "%s", ca->parent);
        snprintf(c->key_uri, sizeof(c->key_uri), "%s", ca->key_uri);
        snprintf(c->token, sizeof(c->token), "%s",
                 ca->token >= 0 ? ctx->tokens[ca->token].name : "");
        snprintf(c->profiles, sizeof(c->profiles), "%s", ca->profiles);
        c->store_id = ca->store_id;
        if (ca->cert != NULL) {
            struct tm tm;
            c->has_cert = 1;
            X509_NAME_oneline(X509_get_subject_name(ca->cert), c->subject, sizeof(c->subject));
            if (ASN1_TIME_to_tm(X509_get0_notAfter(ca->cert), &tm))
                c->not_after = (int64_t)timegm(&tm);
            if (ASN1_TIME_to_tm(X509_get0_notBefore(ca->cert), &tm))
                c->not_before = (int64_t)timegm(&tm);
        }
    }
    *out = v;
    *out_n = ctx->ncas;
    return SIGNET_OK;
}

/* Appends cert as PEM to b. 1 = ok. */
static int pem_append(BIO *b, X509 *cert)
{
    return PEM_write_bio_X509(b, cert) == 1;
}

/*
 * A read-only view (signetd's web process, which has no SIGHUP of its own for the CA set) asked
 * for a CA it does not know, or one without a certificate: the CA set is completed from the
 * store (ca_reload_view), at most once a second whatever the requests ask for.
 */
static void refresh_view(struct ca_ctx *ctx)
{
    static _Atomic uint64_t last;
    uint64_t now = sg_mono_ms(), prev = atomic_load(&last);
    char report[SIGNET_DETAIL_MAX] = "", why[SIGNET_DETAIL_MAX] = "";
    size_t changed = 0;

    if (!(ctx->flags & CA_OPEN_READ_ONLY) || (prev != 0 && now - prev < 1000) ||
        !atomic_compare_exchange_strong(&last, &prev, now))
        return;
    if (ca_reload_view(ctx, report, sizeof(report), &changed, why) != SIGNET_OK)
        sg_log(SG_LOG_WARN, "CA set not read again from the store: %s", why);
    else if (changed > 0)
        sg_log(SG_LOG_INFO, "CA set read again from the store: %s", report);
}

enum signet_err ca_cert_pem(struct ca_ctx *ctx, const char *name, int chain, char **out,
                            char *detail)
{
    struct ca_ent *ca = ca_ent_find(ctx, name);
    BIO *b = NULL;
    BUF_MEM *m = NULL;
    enum signet_err rc = SIGNET_E_NOMEM;
    size_t depth = 0;

    *out = NULL;
    if (ca == NULL || ca->cert == NULL) {
        refresh_view(ctx);
        ca = ca_ent_find(ctx, name);
    }
    if (ca == NULL || ca->cert == NULL) {
        sg_detail(detail, "CA %s: %s; see `signet ca list`", name,
                  ca ? "has no certificate yet" : "no such CA");
        return SIGNET_E_NOTFOUND;
    }
    if ((b = BIO_new(BIO_s_mem())) == NULL)
        goto out;
    for (; ca != NULL && ca->cert != NULL && depth < 16; depth++) {
        if (!pem_append(b, ca->cert))
            goto out;
        if (!chain || ca->parent[0] == '\0')
            break;
        ca = ca_ent_find(ctx, ca->parent);
    }
    BIO_get_mem_ptr(b, &m);
    if ((*out = strndup(m->data, m->length)) == NULL)
        goto out;
    rc = SIGNET_OK;
out:
    if (rc != SIGNET_OK)
        sg_detail(detail, "CA %s: out of memory", name);
    BIO_free(b);
    return rc;
}

enum signet_err ca_write_cert(const char *path, X509 *cert, char *detail)
{
    BIO *b = BIO_new(BIO_s_mem());
    BUF_MEM *m = NULL;
    enum signet_err rc;

    if (b == NULL || !pem_append(b, cert)) {
        BIO_free(b);
        sg_detail(detail, "%s: cannot encode the certificate", path);
        return SIGNET_E_NOMEM;
    }
    BIO_get_mem_ptr(b, &m);
    rc = sg_write_file(path, m->data, m->length, 0644, detail);
    BIO_free(b);
    return rc;
}

struct ca_put_arg {
    struct store_ca *rec;
    const char *action;
};

static enum signet_err put_ca_fn(struct store_txn *txn, void *arg, char *detail)
{
    struct ca_put_arg *a = arg;
    enum signet_err rc = store_txn_ca_put(txn, a->rec, detail);

    if (rc == SIGNET_OK)
        rc = store_txn_audit(txn, "operator", a->action, a->rec->name, detail);
    return rc;
}

enum signet_err ca_store_ca(struct ca_ctx *ctx, struct ca_ent *ca, char *detail)
{
    struct store_ca rec;
    unsigned char *der = NULL;
    int len = 0;
    struct ca_put_arg a = {&rec, ca->store_id ? "ca-update" : "ca-register"};
    enum signet_err rc;

    memset(&rec, 0, sizeof(rec));
    rec.id = ca->store_id;
    snprintf(rec.name, sizeof(rec.name), "%s", ca->name);
    snprintf(rec.parent, sizeof(rec.parent), "%s", ca->parent);
    snprintf(rec.key_uri, sizeof(rec.key_uri), "%s", ca->key_uri);
    rec.state = STORE_CA_ACTIVE;
    if (ca->cert != NULL && (len = i2d_X509(ca->cert, &der)) <= 0) {
        sg_detail(detail, "CA %s: cannot encode its certificate", ca->name);
        return SIGNET_E_CRYPTO;
    }
    if (ca->store_id != 0) {
        struct store_ca *old = NULL;
        if (store_ca_get(ctx->st, ca->name, &old, NULL) == SIGNET_OK) {
            rec.crl_number = old->crl_number;
            store_ca_free(old);
        }
    }
    rec.cert_der = der;
    rec.cert_len = len > 0 ? (size_t)len : 0;
    rc = store_write(ctx->st, put_ca_fn, &a, detail);
    if (rc == SIGNET_OK)
        ca->store_id = rec.id;
    OPENSSL_free(der);
    return rc;
}

struct audit_arg {
    const char *actor, *action, *object;
};

static enum signet_err audit_fn(struct store_txn *txn, void *arg, char *detail)
{
    struct audit_arg *a = arg;
    return store_txn_audit(txn, a->actor, a->action, a->object, detail);
}

enum signet_err ca_audit(struct ca_ctx *ctx, const char *actor, const char *action,
                         const char *object, char *detail)
{
    struct audit_arg a = {actor, action, object};
    return store_write(ctx->st, audit_fn, &a, detail);
}

/* The CA's store id, with a clear error when the CA is unknown or has no record. */
static enum signet_err ca_id(struct ca_ctx *ctx, const char *name, uint32_t *out, char *detail)
{
    struct ca_ent *ca = ca_ent_find(ctx, name);

    if (ca == NULL) {
        sg_detail(detail, "CA %s: no such CA in %s; see `signet ca list`", name,
                  sg_conf_file(ctx->conf));
        return SIGNET_E_NOTFOUND;
    }
    *out = ca->store_id;
    return SIGNET_OK;
}

enum signet_err ca_cert_iter(struct ca_ctx *ctx, const char *ca, enum store_cert_state state,
                             store_cert_cb cb, void *arg, char *detail)
{
    uint32_t id = 0;
    enum signet_err rc = ca_id(ctx, ca, &id, detail);

    if (rc != SIGNET_OK || id == 0) /* a CA without a record has no certificates yet */
        return rc;
    return store_cert_iter(ctx->st, id, state, cb, arg, detail);
}

enum signet_err ca_cert_get(struct ca_ctx *ctx, const char *ca, const char *serial_hex,
                            struct store_cert **out, char *detail)
{
    unsigned char serial[STORE_SERIAL_MAX];
    char hex[2 * STORE_SERIAL_MAX + 2];
    uint32_t id = 0;
    long n;
    enum signet_err rc;

    *out = NULL;
    if ((rc = ca_id(ctx, ca, &id, detail)) != SIGNET_OK)
        return rc;
    /* accept an odd number of digits and a 0x prefix, as people copy serials from tools */
    if (strncasecmp(serial_hex, "0x", 2) == 0)
        serial_hex += 2;
    snprintf(hex, sizeof(hex), "%s%s", strlen(serial_hex) % 2 ? "0" : "", serial_hex);
    if (strlen(serial_hex) > 2 * STORE_SERIAL_MAX ||
        (n = sg_hex_decode(hex, serial, sizeof(serial))) <= 0) {
        sg_detail(detail, "serial %s: not a hex serial of at most %d octets", serial_hex,
                  STORE_SERIAL_MAX);
        return SIGNET_E_USAGE;
    }
    if (id == 0) {
        sg_detail(detail, "CA %s: no certificate with serial %s", ca, serial_hex);
        return SIGNET_E_NOTFOUND;
    }
    rc = store_cert_get(ctx->st, id, serial, (size_t)n, out, detail);
    if (rc == SIGNET_E_NOTFOUND)
        sg_detail(detail, "CA %s: no certificate with serial %s; see `signet cert list --ca %s`",
                  ca, serial_hex, ca);
    return rc;
}

enum signet_err ca_read_csr_file(const char *path, unsigned char **out, size_t *out_len,
                                 char *detail)
{
    enum signet_err rc = sg_read_file(path, CA_CSR_MAX, out, out_len, detail);

    if (rc == SIGNET_E_INVALID)
        sg_detail(detail, "%s: larger than %u bytes, which no CSR needs", path, CA_CSR_MAX);
    return rc;
}

void ca_issued_free(struct ca_issued *r)
{
    if (r == NULL)
        return;
    free(r->der);
    free(r);
}

X509_NAME *ca_parse_dn(const char *dn)
{
    X509_NAME *name = X509_NAME_new();
    char *copy = strdup(dn), *save = NULL, *tok;
    const char *sep = dn[0] == '/' ? "/" : ",";
    int ok = name != NULL && copy != NULL;

    for (tok = ok ? strtok_r(copy, sep, &save) : NULL; tok && ok;
         tok = strtok_r(NULL, sep, &save)) {
        char *eq = strchr(tok, '=');
        while (*tok == ' ')
            tok++;
        if (eq == NULL || eq == tok) {
            ok = 0;
            break;
        }
        *eq = 0;
        ok = X509_NAME_add_entry_by_txt(name, tok, MBSTRING_UTF8, (unsigned char *)eq + 1, -1, -1,
                                        0) == 1;
    }
    if (ok && X509_NAME_entry_count(name) == 0)
        ok = 0;
    free(copy);
    ERR_clear_error();
    if (!ok) {
        X509_NAME_free(name);
        return NULL;
    }
    return name;
}
