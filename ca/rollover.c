/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `signet ca rollover --name N`: a new key on the CA's token (label BASE-YYYYMMDD) and a new
 * certificate for the same name, signed by the parent when it can sign now (by the new key
 * itself for a root on an online token), else a CSR for a ceremony and a later --import-cert.
 * The switch: public/N-previous.crt holds the old certificate, [ca.N] key = names the new key
 * with previous_key = / previous_cert = naming the old ones, public/N.crt the new certificate,
 * the store record the new certificate. The old key stays on the token: it keeps signing CRLs
 * and OCSP for what it issued (ca_previous_generation) until --retire-previous, which is refused
 * while a certificate it issued has not expired. docs/keys.md "CA key rollover".
 */
#include "internal.h"

#include <ctype.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONF_MAX ((size_t)1 << 20) /* bound on signet.conf read for rewriting */

/* "N-previous.crt" beside path (the CA's certificate), or the pending-state file. */
static void sibling(const char *path, const char *name, const char *suffix, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    int dirlen = slash != NULL ? (int)(slash - path + 1) : 0;

    snprintf(out, cap, "%.*s%s%s", dirlen, path, name, suffix);
}

/* The length of b[0..n) without a trailing "-YYYYMMDD" (n when there is none). */
static size_t date_suffix(const char *b, size_t n)
{
    if (n <= 9 || b[n - 9] != '-')
        return n;
    for (size_t i = n - 8; i < n; i++)
        if (!isdigit((unsigned char)b[i]))
            return n;
    return n - 9;
}

/* The label of the new key: the old one without a -YYYYMMDD[-n] suffix, plus today's date. */
static void new_label(const char *old, int attempt, char *out, size_t cap)
{
    char base[128], day[16];
    size_t n;
    time_t now = (time_t)sg_now();
    struct tm tm;

    snprintf(base, sizeof(base), "%s", old);
    n = strlen(base);
    /* BASE-YYYYMMDD or BASE-YYYYMMDD-n from an earlier rollover: back to BASE */
    size_t m = date_suffix(base, n);
    if (m == n && n > 2 && base[n - 2] == '-' && isdigit((unsigned char)base[n - 1]) &&
        date_suffix(base, n - 2) != n - 2)
        m = date_suffix(base, n - 2);
    base[m] = '\0';
    gmtime_r(&now, &tm);
    strftime(day, sizeof(day), "%Y%m%d", &tm);
    if (attempt == 0)
        snprintf(out, cap, "%.90s-%s", base, day);
    else
        snprintf(out, cap, "%.90s-%s-%d", base, day, attempt + 1);
}

/* 1 when line (up to its end) is "name = ..." (whitespace allowed around the name). */
static int line_is(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name), i = 0;

    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (len - i < n || strncmp(line + i, name, n) != 0)
        return 0;
    for (i += n; i < len && (line[i] == ' ' || line[i] == '\t'); i++)
        ;
    return i < len && line[i] == '=';
}

/* Appends s to the growing buffer; 0 when it would not fit. */
static int put(char *buf, size_t cap, size_t *k, const char *s, size_t n)
{
    if (*k + n >= cap)
        return 0;
    memcpy(buf + *k, s, n);
    *k += n;
    buf[*k] = '\0';
    return 1;
}

/*
 * Rewrites [ca.NAME] of the configuration: key = new_key, then previous_key = and
 * previous_cert = (or without them when prev_key is NULL: retiring); every other line, comment
 * and section kept byte for byte. Atomic (sg_write_file), mode 0644 like ca create's.
 */
static enum signet_err conf_rewrite(struct ca_ctx *ctx, const char *name, const char *new_key,
                                    const char *prev_key, const char *prev_cert,
                                    const char *new_crl, const char *prev_crl, char *detail)
{
    const char *path = sg_conf_file(ctx->conf);
    unsigned char *in = NULL;
    char *out = NULL, hdr[160], extra[1400];
    size_t len = 0, k = 0, cap;
    int in_sec = 0, done = 0;
    enum signet_err rc;

    if ((rc = sg_read_file(path, CONF_MAX, &in, &len, detail)) != SIGNET_OK)
        return rc;
    cap = len + 4096;
    if ((out = malloc(cap)) == NULL) {
        free(in);
        return SIGNET_E_NOMEM;
    }
    out[0] = '\0';
    snprintf(hdr, sizeof(hdr), "[ca.%s]", name);
    snprintf(extra, sizeof(extra), "key           = %s\n", new_key);
    if (prev_key != NULL)
        snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
                 "previous_key  = %s\nprevious_cert = %s\n", prev_key, prev_cert);
    if (prev_key != NULL && prev_crl != NULL) /* the URL the old key's certificates carry */
        snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), "previous_crl_url = %s\n",
                 prev_crl);
    for (size_t p = 0; p < len;) {
        const char *line = (const char *)in + p;
        const char *nl = memchr(line, '\n', len - p);
        size_t ll = nl != NULL ? (size_t)(nl - line) : len - p, lead = 0;
        while (lead < ll && (line[lead] == ' ' || line[lead] == '\t'))
            lead++;
        if (lead < ll && line[lead] == '[')
            in_sec = ll - lead >= strlen(hdr) && strncmp(line + lead, hdr, strlen(hdr)) == 0;
        int ok = 1;
        if (in_sec && line_is(line, ll, "key"))
            ok = put(out, cap, &k, extra, strlen(extra)), done = 1;
        else if (in_sec && new_crl != NULL && line_is(line, ll, "crl_url"))
            ok = put(out, cap, &k, "crl_url  = ", 11) &&
                 put(out, cap, &k, new_crl, strlen(new_crl)) && put(out, cap, &k, "\n", 1);
        else if (!(in_sec &&
                   (line_is(line, ll, "previous_key") || line_is(line, ll, "previous_cert") ||
                    line_is(line, ll, "previous_crl_url"))))
            ok = put(out, cap, &k, line, ll) && put(out, cap, &k, "\n", nl != NULL ? 1 : 0);
        if (!ok) {
            rc = SIGNET_E_INTERNAL;
            goto out;
        }
        p += ll + (nl != NULL ? 1 : 0);
    }
    if (!done) {
        sg_detail(detail, "%s: no key = line in [ca.%s]; nothing was changed", path, name);
        rc = SIGNET_E_CONFIG;
        goto out;
    }
    rc = sg_write_file(path, out, k, 0644, detail);
out:
    free(in);
    free(out);
    return rc;
}

/* A CSR for the new key (subject of the current certificate), signed on the token. */
static enum signet_err write_csr(X509 *cur, struct hsm_key *key, const char *path, char *detail)
{
    X509_REQ *req = X509_REQ_new();
    EVP_PKEY *evp = NULL;
    BIO *b = NULL;
    enum signet_err rc = SIGNET_E_CRYPTO;

    if (req == NULL || hsm_key_evp(key, &evp, detail) != SIGNET_OK ||
        !X509_REQ_set_version(req, 0) ||
        !X509_REQ_set_subject_name(req, X509_get_subject_name(cur)) ||
        !X509_REQ_set_pubkey(req, hsm_key_public(key)) ||
        X509_REQ_sign(req, evp, ca_sign_md(evp)) <= 0) {
        sg_detail_openssl(detail);
        goto out;
    }
    if ((b = BIO_new_file(path, "wx")) == NULL || PEM_write_bio_X509_REQ(b, req) != 1) {
        sg_detail(detail, "cannot write the CSR to %s (it must not exist)", path);
        rc = SIGNET_E_IO;
        goto out;
    }
    rc = SIGNET_OK;
out:
    BIO_free(b);
    EVP_PKEY_free(evp);
    X509_REQ_free(req);
    ERR_clear_error();
    return rc;
}

/* The new certificate: same subject, new key, signed by the parent or (root) the new key. */
static enum signet_err certify_new(struct ca_ctx *ctx, struct ca_ent *ca, struct hsm_key *key,
                                   int64_t days, X509 **out, char *detail)
{
    struct ca_ent *parent = ca->parent[0] ? ca_ent_find(ctx, ca->parent) : NULL;
    struct ca_cert_params cp = {0};
    EVP_PKEY *own = NULL, *pk = NULL;
    enum signet_err rc;

    if (parent == NULL) {
        if ((rc = hsm_key_evp(key, &own, detail)) != SIGNET_OK)
            return rc;
        pk = own;
    } else if ((rc = ca_ent_key(ctx, parent, &pk, detail)) != SIGNET_OK) {
        return rc;
    }
    cp.subject = X509_get_subject_name(ca->cert);
    cp.subject_pub = hsm_key_public(key);
    cp.issuer = parent != NULL ? parent->cert : NULL;
    cp.sign_key = pk;
    cp.days = days;
    cp.pathlen = (int)X509_get_pathlen(ca->cert);
    rc = ca_build_ca_cert(&cp, out, detail);
    EVP_PKEY_free(own);
    return rc;
}

/* The key's token entry label and whether the old key was made for backup (extractable). */
static int old_key_extractable(struct hsm_token *tok, const char *label)
{
    struct hsm_object_info *v = NULL;
    size_t n = 0;
    char why[SIGNET_DETAIL_MAX];
    int ext = 0;

    if (hsm_token_objects(tok, &v, &n, why) != SIGNET_OK)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].is_private && strcmp(v[i].label, label) == 0)
            ext = v[i].extractable;
    free(v);
    return ext;
}

/* Generates the new key, trying BASE-YYYYMMDD, then -2 .. -9 when a label is taken. */
static enum signet_err make_key(struct hsm_token *tok, const char *old_label, unsigned flags,
                                enum hsm_key_type type, struct hsm_key **out, char *detail)
{
    char label[128];
    enum signet_err rc = SIGNET_E_EXISTS;

    for (int i = 0; i < 9 && rc == SIGNET_E_EXISTS; i++) {
        new_label(old_label, i, label, sizeof(label));
        rc = hsm_keygen(tok, label, type, flags, out, detail);
    }
    return rc;
}

/*
 * The switch once the new certificate exists: previous certificate written, configuration
 * rewritten, new certificate over the old path, store record and audit. A crash between two
 * steps leaves key and certificate that do not match: signing is then refused (never wrong),
 * and running the same --import-cert again completes it.
 */
static enum signet_err do_switch(struct ca_ctx *ctx, struct ca_ent *ca, struct hsm_key *key,
                                 X509 *newcert, struct ca_rollover_result *res, char *detail)
{
    char prev_path[1100], prev_rel[1100], sec[96], old_uri[600], old_crl[600] = "",
                                                                 new_crl[700] = "";
    const char *cert_rel;
    enum signet_err rc;

    snprintf(sec, sizeof(sec), "ca.%s", ca->name);
    cert_rel = sg_conf_get(ctx->conf, sec, "cert");
    sibling(ca->cert_path, ca->name, "-previous.crt", prev_path, sizeof(prev_path));
    sibling(cert_rel != NULL ? cert_rel : ca->cert_path, ca->name, "-previous.crt", prev_rel,
            sizeof(prev_rel));
    snprintf(old_uri, sizeof(old_uri), "%s", ca->key_uri);
    /* the new key's CRL gets its own URL (NAME-gK.crl); the old one stays with the old key */
    if (ca->crl_url != NULL) {
        snprintf(old_crl, sizeof(old_crl), "%s", ca->crl_url);
        const char *slash = strrchr(old_crl, '/');
        snprintf(new_crl, sizeof(new_crl), "%.*s%s-g%u.crl",
                 slash != NULL ? (int)(slash - old_crl + 1) : 0, old_crl, ca->name,
                 ca_crl_url_gen(ca->name, old_crl) + 1);
    }
    if ((rc = ca_write_cert(prev_path, ca->cert, detail)) != SIGNET_OK ||
        (rc = conf_rewrite(ctx, ca->name, hsm_key_uri(key), old_uri, prev_rel,
                           ca->crl_url ? new_crl : NULL, ca->crl_url ? old_crl : NULL, detail)) !=
            SIGNET_OK ||
        (rc = ca_write_cert(ca->cert_path, newcert, detail)) != SIGNET_OK)
        return rc;
    snprintf(res->previous_cert, sizeof(res->previous_cert), "%s", prev_path);
    snprintf(res->new_key, sizeof(res->new_key), "%s", hsm_key_uri(key));
    snprintf(res->previous_key, sizeof(res->previous_key), "%s", old_uri);
    /* the context now speaks of the new generation (the CLI exits; signetd reloads on SIGHUP) */
    pthread_mutex_lock(&ctx->lock);
    EVP_PKEY_free(ca->evp);
    hsm_key_free(ca->key);
    ca->evp = NULL;
    ca->key = NULL;
    free(ca->key_uri);
    ca->key_uri = strdup(hsm_key_uri(key));
    X509_free(ca->cert);
    X509_up_ref(newcert);
    ca->cert = newcert;
    if (ca->crl_url != NULL) {
        free(ca->crl_url);
        ca->crl_url = strdup(new_crl);
    }
    pthread_mutex_unlock(&ctx->lock);
    if (ca->key_uri == NULL || (old_crl[0] && ca->crl_url == NULL))
        return SIGNET_E_NOMEM;
    if ((rc = ca_store_ca(ctx, ca, detail)) != SIGNET_OK)
        return rc;
    return ca_audit(ctx, "operator", "ca.rollover", ca->name, detail);
}

/* Checks an imported certificate for the pending key: same subject, its key, the parent's. */
static enum signet_err import_check(struct ca_ctx *ctx, struct ca_ent *ca, struct hsm_key *key,
                                    X509 *x, char *detail)
{
    struct ca_ent *parent = ca->parent[0] ? ca_ent_find(ctx, ca->parent) : NULL;
    X509 *issuer = parent != NULL ? parent->cert : x;

    if (X509_NAME_cmp(X509_get_subject_name(x), X509_get_subject_name(ca->cert)) != 0) {
        sg_detail(detail, "the certificate's subject is not CA %s's", ca->name);
        return SIGNET_E_POLICY;
    }
    if (EVP_PKEY_eq(X509_get0_pubkey(x), hsm_key_public(key)) != 1) {
        sg_detail(detail, "the certificate is not for the pending key %s", hsm_key_uri(key));
        return SIGNET_E_BADKEY;
    }
    if (issuer == NULL || X509_check_issued(issuer, x) != X509_V_OK ||
        X509_verify(x, X509_get0_pubkey(issuer)) != 1) {
        ERR_clear_error();
        sg_detail(detail, "the certificate is not signed by %s", parent ? ca->parent : "itself");
        return SIGNET_E_POLICY;
    }
    return SIGNET_OK;
}

/* --import-cert: the pending key (from N.rollover-pending) and the ceremony's certificate. */
static enum signet_err rollover_import(struct ca_ctx *ctx, struct ca_ent *ca, struct hsm_token *tok,
                                       const char *cert_path, struct ca_rollover_result *res,
                                       char *detail)
{
    char pend[1100], uri[700] = "";
    unsigned char *buf = NULL;
    size_t len = 0;
    struct hsm_key *key = NULL;
    X509 *x = NULL;
    enum signet_err rc;

    sibling(ca->cert_path, ca->name, ".rollover-pending", pend, sizeof(pend));
    if ((rc = sg_read_file(pend, sizeof(uri) - 1, &buf, &len, detail)) != SIGNET_OK) {
        sg_detail(detail, "CA %s has no rollover waiting for a certificate (%s)", ca->name, pend);
        return SIGNET_E_NOTFOUND;
    }
    snprintf(uri, sizeof(uri), "%.*s", (int)strcspn((char *)buf, "\n"), (char *)buf);
    free(buf);
    if ((x = ca_load_cert_file(cert_path, detail)) == NULL)
        return SIGNET_E_INVALID;
    if ((rc = hsm_key_find(tok, uri, &key, detail)) == SIGNET_OK &&
        (rc = import_check(ctx, ca, key, x, detail)) == SIGNET_OK &&
        (rc = do_switch(ctx, ca, key, x, res, detail)) == SIGNET_OK) {
        unlink(pend);
        res->signed_now = 1;
    }
    hsm_key_free(key);
    X509_free(x);
    return rc;
}

/*
 * The CRL URL must be .../NAME.crl or .../NAME-gK.crl (the generation's CRL is published under
 * that name), without shards or deltas: each key generation has its own full CRL.
 */
static enum signet_err crl_check(struct ca_ctx *ctx, struct ca_ent *ca, const char *sec,
                                 char *detail)
{
    const char *sh = sg_conf_get(ctx->conf, sec, "crl_shards"),
               *de = sg_conf_get(ctx->conf, sec, "crl_delta");

    if (ca->crl_url == NULL)
        return SIGNET_OK;
    if (ca_crl_url_gen(ca->name, ca->crl_url) == 0 ||
        ca_crl_url_gen(ca->name, ca->crl_url) >= CA_CRL_GEN_MAX || strlen(ca->crl_url) > 500) {
        sg_detail(detail,
                  "CA %s: crl_url = %.80s: a rollover publishes each key generation's CRL as "
                  ".../%s.crl, .../%s-g2.crl, ...; set crl_url to such a URL first",
                  ca->name, ca->crl_url, ca->name, ca->name);
        return SIGNET_E_CONFIG;
    }
    if ((sh != NULL && strcmp(sh, "0") != 0 && strcmp(sh, "1") != 0) ||
        (de != NULL && strcmp(de, "yes") == 0)) {
        sg_detail(detail,
                  "CA %s: crl_shards and crl_delta are not supported across a key rollover "
                  "(each key generation has one full CRL); nothing was made",
                  ca->name);
        return SIGNET_E_CONFIG;
    }
    return SIGNET_OK;
}

/* Refusals before anything is made. */
static enum signet_err rollover_check(struct ca_ctx *ctx, struct ca_ent *ca, const char *name,
                                      char *detail)
{
    char sec[96];

    if (ca == NULL || ca->cert == NULL) {
        sg_detail(detail, "CA %s: %s", name, ca ? "has no certificate yet" : "no such CA");
        return SIGNET_E_NOTFOUND;
    }
    if (ca->token < 0 || ca_token_is_quorum(&ctx->tokens[ca->token])) {
        sg_detail(detail,
                  "CA %s: its key is on an offline token (pin = quorum): a new root key is "
                  "made and certified in a ceremony (docs/ceremonies.md), not here",
                  name);
        return SIGNET_E_FORBIDDEN;
    }
    snprintf(sec, sizeof(sec), "ca.%s", name);
    if (sg_conf_get(ctx->conf, sec, "previous_key") != NULL) {
        sg_detail(detail,
                  "CA %s already has a previous key generation (previous_key = %s): one at a "
                  "time; retire it with --retire-previous once what it issued has expired",
                  name, sg_conf_get(ctx->conf, sec, "previous_key"));
        return SIGNET_E_EXISTS;
    }
    return crl_check(ctx, ca, sec, detail);
}

enum signet_err ca_previous_generation(struct ca_ctx *ctx, const char *name, X509 **out_cert,
                                       struct hsm_key **out_key, char *detail)
{
    struct ca_ent *ca = ca_ent_find(ctx, name);
    const char *uri, *cert;
    struct hsm_token *tok = NULL;
    char sec[96], *path = NULL;
    enum signet_err rc;

    *out_cert = NULL;
    *out_key = NULL;
    snprintf(sec, sizeof(sec), "ca.%s", name);
    if (ca == NULL || (uri = sg_conf_get(ctx->conf, sec, "previous_key")) == NULL ||
        (cert = sg_conf_get(ctx->conf, sec, "previous_cert")) == NULL) {
        sg_detail(detail, "CA %s has no previous key generation", name);
        return SIGNET_E_NOTFOUND;
    }
    if (ca->token < 0 ||
        (rc = ca_token(ctx, ctx->tokens[ca->token].name, &tok, detail)) != SIGNET_OK)
        return ca->token < 0 ? SIGNET_E_CONFIG : rc;
    if ((path = sg_conf_path(ctx->conf, cert)) == NULL)
        return SIGNET_E_NOMEM;
    rc = SIGNET_E_INVALID;
    if ((*out_cert = ca_load_cert_file(path, detail)) != NULL &&
        (rc = hsm_key_find(tok, uri, out_key, detail)) == SIGNET_OK &&
        !hsm_key_pin_public(*out_key, X509_get0_pubkey(*out_cert))) {
        sg_detail(detail, "CA %s: previous key %s does not match %s", name, uri, path);
        rc = SIGNET_E_HSM;
    }
    if (rc != SIGNET_OK) {
        hsm_key_free(*out_key);
        X509_free(*out_cert);
        *out_key = NULL;
        *out_cert = NULL;
    }
    free(path);
    return rc;
}

struct live_arg {
    const ASN1_OCTET_STRING *ski; /* the previous certificate's key identifier */
    int64_t now;
    size_t live;
    int64_t last; /* the latest notAfter among them */
};

/* Counts unexpired certificates whose AKI is the previous key's SKI (every record: 1 = go on). */
static int live_cb(const struct store_cert *c, void *arg)
{
    struct live_arg *a = arg;
    const unsigned char *p = c->der;
    X509 *x;

    if (c->state == STORE_CERT_PENDING || c->not_after <= a->now ||
        (x = d2i_X509(NULL, &p, (long)c->der_len)) == NULL)
        return 1; /* go on */
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(x);
    if (aki != NULL && ASN1_OCTET_STRING_cmp(aki, a->ski) == 0) {
        a->live++;
        if (c->not_after > a->last)
            a->last = c->not_after;
    }
    X509_free(x);
    return 1;
}

/* --retire-previous: refused while the previous key's certificates are unexpired. */
static enum signet_err rollover_retire(struct ca_ctx *ctx, struct ca_ent *ca,
                                       struct ca_rollover_result *res, char *detail)
{
    struct live_arg a = {NULL, sg_now(), 0, 0};
    struct hsm_key *key = NULL;
    X509 *prev = NULL;
    char when[32];
    enum signet_err rc;

    if ((rc = ca_previous_generation(ctx, ca->name, &prev, &key, detail)) != SIGNET_OK)
        return rc;
    a.ski = X509_get0_subject_key_id(prev);
    if (a.ski == NULL) {
        sg_detail(detail, "the previous certificate of %s has no subject key identifier", ca->name);
        rc = SIGNET_E_INVALID;
    } else if ((rc = ca_cert_iter(ctx, ca->name, 0, live_cb, &a, detail)) == SIGNET_OK &&
               a.live > 0) {
        sg_format_time(a.last, when, sizeof(when));
        sg_detail(detail,
                  "CA %s: the previous key issued %zu certificates that have not expired (the "
                  "last on %s): it must keep signing CRLs and OCSP for them until then",
                  ca->name, a.live, when);
        rc = SIGNET_E_FORBIDDEN;
    } else if (rc == SIGNET_OK && (rc = conf_rewrite(ctx, ca->name, ca->key_uri, NULL, NULL, NULL,
                                                     NULL, detail)) == SIGNET_OK) {
        snprintf(res->previous_key, sizeof(res->previous_key), "%s", hsm_key_uri(key));
        res->retired = 1;
        rc = ca_audit(ctx, "operator", "ca.rollover-retire", ca->name, detail);
    }
    hsm_key_free(key);
    X509_free(prev);
    return rc;
}

enum signet_err ca_rollover(struct ca_ctx *ctx, const struct ca_rollover_opts *o,
                            struct ca_rollover_result *res, char *detail)
{
    struct ca_ent *ca = ca_ent_find(ctx, o->name);
    struct hsm_key *cur = NULL, *key = NULL;
    struct hsm_token *tok = NULL;
    char old_label[128], pend[1100], line[700];
    X509 *x = NULL;
    int64_t days;
    enum signet_err rc;

    memset(res, 0, sizeof(*res));
    if (o->retire && ca != NULL)
        return rollover_retire(ctx, ca, res, detail);
    if ((rc = rollover_check(ctx, ca, o->name, detail)) != SIGNET_OK)
        return rc;
    if ((rc = ca_token(ctx, ctx->tokens[ca->token].name, &tok, detail)) != SIGNET_OK)
        return rc;
    if (o->import_cert != NULL)
        return rollover_import(ctx, ca, tok, o->import_cert, res, detail);
    if ((rc = ca_ent_hsm_key(ctx, ca, &cur, detail)) != SIGNET_OK)
        return rc;
    if (ca->parent[0] && o->csr_out == NULL) {
        struct ca_ent *parent = ca_ent_find(ctx, ca->parent);
        EVP_PKEY *pk = NULL;
        char why[SIGNET_DETAIL_MAX] = "";
        if (parent == NULL || parent->cert == NULL ||
            ca_ent_key(ctx, parent, &pk, why) != SIGNET_OK) {
            sg_detail(detail,
                      "CA %s: the parent %s cannot sign now (%s); give --csr-out FILE for a "
                      "ceremony, then --import-cert FILE; nothing was made",
                      ca->name, ca->parent, parent == NULL ? "not configured" : why);
            return SIGNET_E_HSM_UNAVAILABLE;
        }
    }
    ca_uri_attr(ca->key_uri, "object", old_label, sizeof(old_label));
    rc = make_key(tok, old_label, old_key_extractable(tok, old_label) ? HSM_KEYGEN_BACKUP : 0,
                  hsm_key_type(cur), &key, detail);
    if (rc != SIGNET_OK)
        return rc;
    days = o->days;
    if (days <= 0) { /* the validity period of the current certificate */
        int d = 0, s = 0;
        ASN1_TIME_diff(&d, &s, X509_get0_notBefore(ca->cert), X509_get0_notAfter(ca->cert));
        days = d > 0 ? d : 365;
    }
    rc = certify_new(ctx, ca, key, days, &x, detail);
    if (rc == SIGNET_OK) {
        rc = do_switch(ctx, ca, key, x, res, detail);
        res->signed_now = rc == SIGNET_OK;
    } else if (ca->parent[0] && o->csr_out != NULL) {
        /* the parent cannot sign now (offline root): a CSR for the ceremony */
        char why[SIGNET_DETAIL_MAX] = "";
        sibling(ca->cert_path, ca->name, ".rollover-pending", pend, sizeof(pend));
        snprintf(line, sizeof(line), "%s\n", hsm_key_uri(key));
        if ((rc = write_csr(ca->cert, key, o->csr_out, why)) == SIGNET_OK &&
            (rc = sg_write_file(pend, line, strlen(line), 0644, why)) == SIGNET_OK) {
            snprintf(res->new_key, sizeof(res->new_key), "%s", hsm_key_uri(key));
            snprintf(res->csr, sizeof(res->csr), "%s", o->csr_out);
        } else {
            sg_detail(detail, "%s", why);
        }
    }
    X509_free(x);
    hsm_key_free(key);
    return rc;
}

int ca_cert_generation(const X509 *issued, const X509 *current, const X509 *previous)
{
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id((X509 *)issued), *ski;

    if (aki == NULL)
        return -1;
    if (current != NULL && (ski = X509_get0_subject_key_id((X509 *)current)) != NULL &&
        ASN1_OCTET_STRING_cmp(aki, ski) == 0)
        return 0;
    if (previous != NULL && (ski = X509_get0_subject_key_id((X509 *)previous)) != NULL &&
        ASN1_OCTET_STRING_cmp(aki, ski) == 0)
        return 1;
    return -1;
}
