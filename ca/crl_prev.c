/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The previous key generation's CRL after `signet ca rollover` (docs/crl.md "After a key
 * rollover"): the revoked certificates whose AKI is the previous certificate's SKI, signed by
 * the previous key, with its AKI and the URL its certificates carry. The set only shrinks (no
 * certificate is issued under the old key any more), so it is built with OpenSSL's CRL object
 * rather than crl_build's stream; it goes through the same lint, token signature and check.
 * Also the naming of a generation's CRL URL: NAME.crl is the first, NAME-gK.crl the K-th.
 */
#include "internal.h"

#include "crl.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREV_LINT_PARSE_MAX ((size_t)8 << 20)

unsigned ca_crl_url_gen(const char *name, const char *url)
{
    const char *file = url != NULL ? strrchr(url, '/') : NULL;
    size_t n = strlen(name);
    unsigned k = 0;
    char tail[8];

    file = file != NULL ? file + 1 : url;
    if (file == NULL || strncmp(file, name, n) != 0)
        return 0;
    if (strcmp(file + n, ".crl") == 0)
        return 1;
    if (sscanf(file + n, "-g%u%7s", &k, tail) == 2 && strcmp(tail, ".crl") == 0 && k >= 2 &&
        k <= CA_CRL_GEN_MAX)
        return k;
    return 0;
}

uint32_t ca_crl_gen_stream(unsigned gen)
{
    return gen <= 1 ? STORE_CRL_STREAM_FULL : STORE_CRL_STREAM_GEN + gen;
}

int ca_crl_gen_suffix(unsigned gen, char *out, size_t cap)
{
    int w = gen <= 1 ? snprintf(out, cap, "%s", "") : snprintf(out, cap, "-g%u", gen);
    return w >= 0 && (size_t)w < cap;
}

struct prev_list {
    struct store_revoked *v;
    size_t n, cap;
    int64_t this_update;
    size_t expired;
};

/* Collects the unexpired entries (the certificates are read after the cursor pass). */
static int collect_cb(const struct store_revoked *r, void *arg)
{
    struct prev_list *l = arg;

    if (r->not_after < l->this_update) {
        l->expired++;
        return 1;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct store_revoked *v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL)
            return 0;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *r;
    return 1;
}

/* 1 when the stored certificate (ca_id, serial) was issued by prev's key. */
static int issued_by(struct store *st, uint32_t ca_id, const struct store_revoked *r, X509 *prev)
{
    struct store_cert *c = NULL;
    const unsigned char *p;
    X509 *x = NULL;
    int gen = -1;

    if (store_cert_get(st, ca_id, r->serial, r->serial_len, &c, NULL) != SIGNET_OK)
        return 0;
    p = c->der;
    if ((x = d2i_X509(NULL, &p, (long)c->der_len)) != NULL)
        gen = ca_cert_generation(x, NULL, prev);
    X509_free(x);
    store_cert_free(c);
    return gen == 1;
}

/* One revokedCertificates entry: serial, date, reasonCode (never unspecified), invalidity. */
static int add_entry(X509_CRL *crl, const struct store_revoked *r)
{
    X509_REVOKED *rv = X509_REVOKED_new();
    BIGNUM *bn = BN_bin2bn(r->serial, (int)r->serial_len, NULL);
    ASN1_INTEGER *sn = bn != NULL ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    ASN1_TIME *t = ASN1_TIME_set(NULL, (time_t)r->revoked_at);
    ASN1_ENUMERATED *reason = NULL;
    ASN1_GENERALIZEDTIME *inv = NULL;
    int ok = rv != NULL && sn != NULL && t != NULL && X509_REVOKED_set_serialNumber(rv, sn) &&
             X509_REVOKED_set_revocationDate(rv, t);

    if (ok && r->reason > 0) {
        ok = (reason = ASN1_ENUMERATED_new()) != NULL && ASN1_ENUMERATED_set(reason, r->reason) &&
             X509_REVOKED_add1_ext_i2d(rv, NID_crl_reason, reason, 0, 0) == 1;
    }
    if (ok && r->invalidity_date != 0) {
        ok = (inv = ASN1_GENERALIZEDTIME_set(NULL, (time_t)r->invalidity_date)) != NULL &&
             X509_REVOKED_add1_ext_i2d(rv, NID_invalidity_date, inv, 0, 0) == 1;
    }
    if (ok && X509_CRL_add0_revoked(crl, rv))
        rv = NULL;
    else
        ok = 0;
    X509_REVOKED_free(rv);
    BN_free(bn);
    ASN1_INTEGER_free(sn);
    ASN1_TIME_free(t);
    ASN1_ENUMERATED_free(reason);
    ASN1_GENERALIZEDTIME_free(inv);
    return ok;
}

/* AKI (keyIdentifier), CRLNumber and, with a URL, the critical IDP. */
static int add_exts(X509_CRL *crl, const struct crl_params *p)
{
    AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
    ASN1_INTEGER *num = ASN1_INTEGER_new();
    ISSUING_DIST_POINT *idp = NULL;
    GENERAL_NAME *gn = NULL;
    int ok = akid != NULL && num != NULL && (akid->keyid = ASN1_OCTET_STRING_new()) != NULL &&
             ASN1_OCTET_STRING_set(akid->keyid, p->issuer_keyid, (int)p->issuer_keyid_len) &&
             ASN1_INTEGER_set_uint64(num, p->number) &&
             X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, akid, 0, 0) == 1 &&
             X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) == 1;

    if (ok && p->idp_url != NULL) {
        ASN1_IA5STRING *uri = ASN1_IA5STRING_new();
        ok = (idp = ISSUING_DIST_POINT_new()) != NULL &&
             (idp->distpoint = DIST_POINT_NAME_new()) != NULL &&
             (idp->distpoint->name.fullname = GENERAL_NAMES_new()) != NULL && uri != NULL &&
             ASN1_STRING_set(uri, p->idp_url, (int)strlen(p->idp_url)) &&
             (gn = GENERAL_NAME_new()) != NULL;
        if (ok) {
            GENERAL_NAME_set0_value(gn, GEN_URI, uri);
            uri = NULL;
            ok = sk_GENERAL_NAME_push(idp->distpoint->name.fullname, gn) > 0;
            if (ok)
                gn = NULL;
        }
        ASN1_IA5STRING_free(uri);
        if (ok) {
            idp->distpoint->type = 0;
            idp->onlyuser = p->only_user_certs ? 0xFF : 0;
            ok = X509_CRL_add1_ext_i2d(crl, NID_issuing_distribution_point, idp, 1, 0) == 1;
        }
    }
    GENERAL_NAME_free(gn);
    ISSUING_DIST_POINT_free(idp);
    AUTHORITY_KEYID_free(akid);
    ASN1_INTEGER_free(num);
    return ok;
}

/* The unsigned CRL: header, the previous generation's entries in serial order, extensions. */
static enum signet_err prev_tbs(struct store *st, uint32_t ca_id, const struct crl_params *p,
                                X509 *prev, X509_CRL **out, struct crl_stats *stats, char *detail)
{
    struct prev_list l = {NULL, 0, 0, p->this_update, 0};
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *tu = ASN1_TIME_set(NULL, (time_t)p->this_update);
    ASN1_TIME *nu = ASN1_TIME_set(NULL, (time_t)p->next_update);
    enum signet_err err = SIGNET_E_CRYPTO;

    *out = NULL;
    if ((err = store_revoked_iter(st, ca_id, collect_cb, &l, detail)) != SIGNET_OK)
        goto out;
    err = SIGNET_E_CRYPTO;
    if (crl == NULL || tu == NULL || nu == NULL || !X509_CRL_set_version(crl, 1) ||
        !X509_CRL_set_issuer_name(crl, X509_get_subject_name(prev)) ||
        !X509_CRL_set1_lastUpdate(crl, tu) || !X509_CRL_set1_nextUpdate(crl, nu))
        goto crypto;
    stats->expired = l.expired;
    for (size_t i = 0; i < l.n; i++) {
        if (!issued_by(st, ca_id, &l.v[i], prev)) {
            stats->other_shards++;
            continue;
        }
        if (!add_entry(crl, &l.v[i]))
            goto crypto;
        stats->entries++;
    }
    if (!X509_CRL_sort(crl) || !add_exts(crl, p))
        goto crypto;
    *out = crl;
    crl = NULL;
    err = SIGNET_OK;
    goto out;
crypto:
    sg_detail(detail, "the previous generation's CRL cannot be built");
    sg_detail_openssl(detail);
out:
    free(l.v);
    X509_CRL_free(crl);
    ASN1_TIME_free(tu);
    ASN1_TIME_free(nu);
    return err;
}

/* Signs with key (re-signing replaces the signature) and encodes; OPENSSL_malloc'd DER. */
static int sign_der(X509_CRL *crl, EVP_PKEY *key, unsigned char **der, size_t *len)
{
    int n;

    OPENSSL_free(*der);
    *der = NULL;
    if (X509_CRL_sign(crl, key, ca_sign_md(key)) <= 0 || (n = i2d_X509_CRL(crl, der)) <= 0)
        return 0;
    *len = (size_t)n;
    return 1;
}

enum signet_err ca_crl_prev_sign(struct store *st, uint32_t ca_id, const struct crl_params *p,
                                 X509 *prev, struct hsm_key *key, EVP_PKEY *throwaway,
                                 unsigned char **out, size_t *out_len, struct crl_stats *stats,
                                 char *detail)
{
    X509_CRL *crl = NULL;
    EVP_PKEY *evp = NULL;
    struct crl_lint_result *lr = NULL;
    unsigned char *der = NULL;
    size_t len = 0;
    enum signet_err err;

    *out = NULL;
    memset(stats, 0, sizeof(*stats));
    if ((err = prev_tbs(st, ca_id, p, prev, &crl, stats, detail)) != SIGNET_OK)
        return err;
    err = SIGNET_E_CRYPTO;
    if (!sign_der(crl, throwaway, &der, &len)) {
        sg_detail(detail, "the previous generation's CRL: the lint signature failed");
        sg_detail_openssl(detail);
        goto out;
    }
    if ((lr = malloc(sizeof(*lr))) == NULL) {
        err = SIGNET_E_NOMEM;
        goto out;
    }
    if (crl_lint(der, len, p, PREV_LINT_PARSE_MAX, lr) > 0) {
        for (size_t i = 0; i < lr->n; i++)
            sg_log(SG_LOG_ERR, "lint: previous-generation CRL: %s: %s; not published",
                   lr->f[i].lint, lr->f[i].msg);
        sg_detail(detail, "previous-generation CRL lint %s: %s; not published", lr->f[0].lint,
                  lr->f[0].msg);
        err = SIGNET_E_LINT;
        goto out;
    }
    if ((err = hsm_key_evp(key, &evp, detail)) != SIGNET_OK)
        goto out;
    if (!sign_der(crl, evp, &der, &len)) {
        sg_detail(detail, "the previous key did not sign its generation's CRL");
        sg_detail_openssl(detail);
        err = SIGNET_E_HSM;
        goto out;
    }
    if (crl_verify(der, len, X509_get0_pubkey(prev), detail) != SIGNET_OK) {
        sg_detail(detail, "the previous key's CRL signature does not verify with the previous "
                          "certificate; not published");
        err = SIGNET_E_HSM;
        goto out;
    }
    *out = der;
    *out_len = len;
    der = NULL;
    err = SIGNET_OK;
out:
    OPENSSL_free(der);
    free(lr);
    EVP_PKEY_free(evp);
    X509_CRL_free(crl);
    ERR_clear_error();
    return err;
}
