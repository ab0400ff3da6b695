/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The issuance pipeline of DESIGN.md: CSR -> proof of possession -> key and policy -> TBS ->
 * throwaway-key signature and lint (lint.c) -> PENDING (durable) -> token signature, verified ->
 * ISSUED (durable).
 */
#include "internal.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERIAL_LEN   16 /* octets: 127 random bits, well over RFC 5280's 20-octet bound */
#define SERIAL_TRIES 4  /* fresh serials to try if one already exists (never expected) */

int ca_new_serial(unsigned char serial[SERIAL_LEN])
{
    do {
        if (RAND_priv_bytes(serial, SERIAL_LEN) != 1)
            return 0;
        serial[0] &= 0x7f;    /* positive (RFC 5280 4.1.2.2) */
    } while (serial[0] == 0); /* no leading zero octet: the DER stays SERIAL_LEN octets */
    return 1;
}

const EVP_MD *ca_sign_md(EVP_PKEY *key)
{
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_ED25519:
        return NULL;
    case EVP_PKEY_EC:
        return EVP_PKEY_get_bits(key) > 256 ? EVP_sha384() : EVP_sha256();
    default:
        return EVP_sha256();
    }
}

/* Sets the serial from octets. 1 = ok. */
static int set_serial(X509 *x, const unsigned char *serial, size_t len)
{
    BIGNUM *bn = BN_bin2bn(serial, (int)len, NULL);
    ASN1_INTEGER *ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    int ok = ai && X509_set_serialNumber(x, ai);

    ASN1_INTEGER_free(ai);
    BN_free(bn);
    return ok;
}

/* Seconds since the epoch of an ASN1_TIME (0 on error). */
static int64_t asn1_secs(const ASN1_TIME *t)
{
    struct tm tm;

    return t && ASN1_TIME_to_tm(t, &tm) ? (int64_t)timegm(&tm) : 0;
}

/*
 * Validity: from now for the requested seconds, never past the issuer's notAfter (RFC 5280
 * 6.1.3 would reject a path through an expired issuer). Refused when the issuer is not valid now.
 */
static enum signet_err set_validity(X509 *x, X509 *issuer, int64_t secs, int64_t *out_not_after,
                                    char *detail)
{
    int64_t now = sg_now(), end = now + secs;

    if (issuer != NULL) {
        int64_t inb = asn1_secs(X509_get0_notBefore(issuer));
        int64_t ina = asn1_secs(X509_get0_notAfter(issuer));
        if (now < inb || now >= ina) {
            char name[256];
            X509_NAME_oneline(X509_get_subject_name(issuer), name, sizeof(name));
            sg_detail(detail, "issuer %s: its certificate is not valid now; renew the CA", name);
            return SIGNET_E_POLICY;
        }
        if (end > ina)
            end = ina;
    }
    if (!ASN1_TIME_set(X509_getm_notBefore(x), (time_t)now) ||
        !ASN1_TIME_set(X509_getm_notAfter(x), (time_t)end))
        return SIGNET_E_CRYPTO;
    *out_not_after = end;
    return SIGNET_OK;
}

int ca_add_ski_aki(X509 *cert, X509 *issuer)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    ASN1_OCTET_STRING *ski = ASN1_OCTET_STRING_new();
    AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
    const ASN1_OCTET_STRING *iss_ski = NULL;
    int ok = 0;

    if (ski == NULL || akid == NULL)
        goto out;
    /* RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING's value */
    if (!X509_pubkey_digest(cert, EVP_sha1(), md, &mdlen) ||
        !ASN1_OCTET_STRING_set(ski, md, (int)mdlen))
        goto out;
    if (!X509_add1_ext_i2d(cert, NID_subject_key_identifier, ski, 0, X509V3_ADD_REPLACE))
        goto out;
    if (issuer != NULL)
        iss_ski = X509_get0_subject_key_id(issuer);
    if (issuer != NULL && iss_ski == NULL) {
        if (!X509_pubkey_digest(issuer, EVP_sha1(), md, &mdlen))
            goto out;
    }
    if ((akid->keyid = iss_ski ? ASN1_OCTET_STRING_dup(iss_ski) : ASN1_OCTET_STRING_new()) == NULL)
        goto out;
    if (iss_ski == NULL && !ASN1_OCTET_STRING_set(akid->keyid, md, (int)mdlen))
        goto out;
    ok = X509_add1_ext_i2d(cert, NID_authority_key_identifier, akid, 0, X509V3_ADD_REPLACE);
out:
    ASN1_OCTET_STRING_free(ski);
    AUTHORITY_KEYID_free(akid);
    return ok;
}

/* CDP and AIA (OCSP) from the CA's configuration, when set. 1 = ok. */
int ca_add_urls(X509 *x, const struct ca_ent *ca)
{
    char v[600];
    X509_EXTENSION *e;

    if (ca->crl_url) {
        snprintf(v, sizeof(v), "URI:%s", ca->crl_url);
        if ((e = X509V3_EXT_conf_nid(NULL, NULL, NID_crl_distribution_points, v)) == NULL)
            return 0;
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    if (ca->ocsp_url) {
        snprintf(v, sizeof(v), "OCSP;URI:%s", ca->ocsp_url);
        if ((e = X509V3_EXT_conf_nid(NULL, NULL, NID_info_access, v)) == NULL)
            return 0;
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    return 1;
}

/*
 * A throwaway key with the same signature algorithm as pub, made once per context. Signing the
 * TBS with it first fills the signature AlgorithmIdentifiers exactly as the token signature
 * will, and shows the TBS encodes, before anything is recorded.
 */
EVP_PKEY *ca_throwaway_key(struct ca_ctx *ctx, EVP_PKEY *pub)
{
    int id = EVP_PKEY_get_base_id(pub);
    int slot = id == EVP_PKEY_ED25519         ? HSM_KEY_ED25519
               : id == EVP_PKEY_RSA           ? HSM_KEY_RSA_2048
               : EVP_PKEY_get_bits(pub) > 256 ? HSM_KEY_EC_P384
                                              : HSM_KEY_EC_P256;
    EVP_PKEY *k;

    pthread_mutex_lock(&ctx->lock);
    if ((k = ctx->throwaway[slot]) == NULL) {
        if (slot == HSM_KEY_ED25519)
            k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        else if (slot == HSM_KEY_RSA_2048)
            k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
        else
            k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", slot == HSM_KEY_EC_P384 ? "P-384" : "P-256");
        ctx->throwaway[slot] = k;
    }
    pthread_mutex_unlock(&ctx->lock);
    return k;
}

/* Builds the TBS for a leaf from the decision. Caller frees *out. */
static enum signet_err build_tbs(struct ca_ent *ca, const struct policy_profile *prof,
                                 const struct policy_csr *req, const struct policy_decision *dec,
                                 X509 **out, int64_t *out_not_after, char *detail)
{
    X509 *x = X509_new();
    const X509_NAME *subj = policy_decision_subject(dec);
    const GENERAL_NAMES *sans = policy_decision_sans(dec);
    int empty = X509_NAME_entry_count(subj) == 0;
    enum signet_err rc = SIGNET_E_CRYPTO;

    *out = NULL;
    if (empty && sk_GENERAL_NAME_num(sans) <= 0) {
        sg_detail(detail,
                  "policy %s: the certificate would name nobody: give a subject "
                  "attribute or a SAN the profile allows",
                  policy_profile_name(prof));
        rc = SIGNET_E_POLICY;
        goto out;
    }
    if (x == NULL || !X509_set_version(x, X509_VERSION_3) ||
        !X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) ||
        !X509_set_subject_name(x, subj) || !policy_csr_copy_spki(req, x))
        goto out;
    if ((rc = set_validity(x, ca->cert, policy_profile_validity(prof), out_not_after, detail)) !=
        SIGNET_OK)
        goto out;
    rc = SIGNET_E_CRYPTO;
    if (!policy_add_extensions(prof, x))
        goto out;
    /* RFC 5280 4.2.1.6: with an empty subject the SAN extension is critical */
    if (sans != NULL &&
        !X509_add1_ext_i2d(x, NID_subject_alt_name, (void *)sans, empty, X509V3_ADD_REPLACE))
        goto out;
    if (!ca_add_ski_aki(x, ca->cert) || !ca_add_urls(x, ca))
        goto out;
    *out = x;
    x = NULL;
    rc = SIGNET_OK;
out:
    if (rc == SIGNET_E_CRYPTO) {
        sg_detail(detail, "CA %s: cannot build the certificate", ca->name);
        sg_detail_openssl(detail);
    }
    X509_free(x);
    return rc;
}

/*
 * A sharded or delta-publishing CA's CRL URLs depend on the serial (ca_crl_urls): the CDP of
 * build_tbs is replaced by the serial's shard URL, and freshestCRL names the delta CRL. 1 = ok.
 */
static int set_crl_urls(struct ca_ctx *ctx, struct ca_ent *ca, X509 *x,
                        const unsigned char serial[SERIAL_LEN])
{
    char cdp[512], fresh[512], v[600];
    X509_EXTENSION *e;
    int i;

    if (ca->crl_url == NULL || ca_crl_urls(ctx, ca->name, serial, SERIAL_LEN, cdp, sizeof(cdp),
                                           fresh, sizeof(fresh), NULL) != SIGNET_OK)
        return 1;
    if (strcmp(cdp, ca->crl_url) != 0 && cdp[0] != '\0') {
        while ((i = X509_get_ext_by_NID(x, NID_crl_distribution_points, -1)) >= 0)
            X509_EXTENSION_free(X509_delete_ext(x, i));
        snprintf(v, sizeof(v), "URI:%s", cdp);
        if ((e = X509V3_EXT_conf_nid(NULL, NULL, NID_crl_distribution_points, v)) == NULL)
            return 0;
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    if (fresh[0] != '\0' && X509_get_ext_by_NID(x, NID_freshest_crl, -1) < 0) {
        snprintf(v, sizeof(v), "URI:%s", fresh);
        if ((e = X509V3_EXT_conf_nid(NULL, NULL, NID_freshest_crl, v)) == NULL)
            return 0;
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    return 1;
}

/* Sets a fresh serial and lint-signs; writes the TBS DER to *tbs. */
static enum signet_err serial_and_tbs(struct ca_ctx *ctx, struct ca_ent *ca, X509 *x,
                                      unsigned char serial[SERIAL_LEN], unsigned char **tbs,
                                      int *tbs_len, char *detail)
{
    EVP_PKEY *issuer_pub = X509_get0_pubkey(ca->cert);
    EVP_PKEY *lint = ca_throwaway_key(ctx, issuer_pub);

    *tbs = NULL;
    if (!ca_new_serial(serial) || !set_serial(x, serial, SERIAL_LEN) ||
        !set_crl_urls(ctx, ca, x, serial) || lint == NULL ||
        X509_sign(x, lint, ca_sign_md(issuer_pub)) <= 0 ||
        (*tbs_len = i2d_re_X509_tbs(x, tbs)) <= 0) {
        sg_detail(detail, "CA %s: the certificate does not encode", ca->name);
        sg_detail_openssl(detail);
        return SIGNET_E_LINT;
    }
    return SIGNET_OK;
}

/*
 * Runs the lint set over the throwaway-signed certificate before anything is recorded. Each
 * finding is logged with the CA, the profile and the lint's name; any finding refuses the
 * issuance with SIGNET_E_LINT (nothing is stored; the profile or the CA needs fixing).
 */
static enum signet_err lint_tbs(struct ca_ent *ca, X509 *x, const char *profile, char *detail)
{
    struct ca_lint_result *res = NULL;
    unsigned char *der = NULL;
    int len;
    size_t n;
    enum signet_err rc = SIGNET_E_NOMEM;

    if ((res = malloc(sizeof(*res))) == NULL)
        goto out;
    if ((len = i2d_X509(x, &der)) <= 0) {
        sg_detail(detail, "CA %s: the certificate does not encode", ca->name);
        sg_detail_openssl(detail);
        rc = SIGNET_E_LINT;
        goto out;
    }
    if ((n = ca_lint_cert(der, (size_t)len, ca->cert, res)) == 0) {
        rc = SIGNET_OK;
        goto out;
    }
    for (size_t i = 0; i < res->n; i++)
        sg_log(SG_LOG_ERR, "lint: CA %s profile %s: %s: %s; not issued", ca->name, profile,
               res->f[i].lint, res->f[i].msg);
    sg_detail(detail,
              "CA %s profile %s: lint %s: %s%s; not issued: fix the profile's extension "
              "section or the CA (docs/lints.md)",
              ca->name, profile, res->f[0].lint, res->f[0].msg,
              n > 1 ? " (and more findings in the log)" : "");
    rc = SIGNET_E_LINT;
out:
    if (rc == SIGNET_E_NOMEM)
        sg_detail(detail, "issuance: out of memory");
    OPENSSL_free(der);
    free(res);
    return rc;
}

struct rec_arg {
    struct store_cert *c;
    int must_be_new;
    const char *action;
    const char *object;
};

static enum signet_err rec_fn(struct store_txn *txn, void *arg, char *detail)
{
    struct rec_arg *a = arg;
    enum signet_err rc = store_txn_cert_put(txn, a->c, a->must_be_new, detail);

    if (rc == SIGNET_OK)
        rc = store_txn_audit(txn, a->c->requester, a->action, a->object, detail);
    return rc;
}

/* Records PENDING {serial, TBS}; a serial that exists gets a fresh one (never reused). */
static enum signet_err record_pending(struct ca_ctx *ctx, struct ca_ent *ca, X509 *x,
                                      struct store_cert *c, char *object, size_t objcap,
                                      char *detail)
{
    enum signet_err rc = SIGNET_E_EXISTS;
    unsigned char *tbs = NULL;
    int tbs_len = 0;

    for (int i = 0; i < SERIAL_TRIES && rc == SIGNET_E_EXISTS; i++) {
        char hex[2 * SERIAL_LEN + 1];
        struct rec_arg a = {c, 1, "issue-pending", object};
        OPENSSL_free(tbs);
        if ((rc = serial_and_tbs(ctx, ca, x, c->serial, &tbs, &tbs_len, detail)) != SIGNET_OK ||
            (rc = lint_tbs(ca, x, c->profile, detail)) != SIGNET_OK)
            break;
        c->serial_len = SERIAL_LEN;
        c->der = tbs;
        c->der_len = (size_t)tbs_len;
        sg_hex_encode(c->serial, SERIAL_LEN, hex);
        snprintf(object, objcap, "%s/%s", ca->name, hex);
        rc = store_write(ctx->st, rec_fn, &a, detail);
    }
    c->der = NULL;
    OPENSSL_free(tbs);
    return rc;
}

/*
 * Signs on the token (hsm_sign verifies the signature), records ISSUED. The PENDING record stays
 * if any step fails.
 */
static enum signet_err sign_and_record(struct ca_ctx *ctx, struct ca_ent *ca, EVP_PKEY *key,
                                       X509 *x, struct store_cert *c, const char *object,
                                       unsigned char **out_der, int *out_len, char *detail)
{
    EVP_PKEY *issuer_pub = X509_get0_pubkey(ca->cert);
    struct rec_arg a = {c, 0, "issue", object};
    enum signet_err rc;

    *out_der = NULL;
    if (X509_sign(x, key, ca_sign_md(issuer_pub)) <= 0) {
        char why[SIGNET_DETAIL_MAX] = "";
        sg_detail_openssl(why);
        sg_detail(detail,
                  "CA %s: signing %s on the token failed (%s); its PENDING record stays (possibly "
                  "issued, serial never reused): check the HSM, then issue again",
                  ca->name, object, why[0] == ';' ? why + 2 : why);
        return SIGNET_E_HSM;
    }
    /* verified once: hsm_sign checked the token's signature over this TBS's digest with the
     * key's public key, which ca_ent_key pinned to the issuer certificate's (a signature that
     * does not verify fails X509_sign above); X509_verify here would hash and verify again */
    if ((*out_len = i2d_X509(x, out_der)) <= 0) {
        sg_detail(detail, "CA %s: cannot encode %s", ca->name, object);
        return SIGNET_E_CRYPTO;
    }
    c->state = STORE_CERT_ISSUED;
    c->der = *out_der;
    c->der_len = (size_t)*out_len;
    rc = store_write(ctx->st, rec_fn, &a, detail);
    c->der = NULL;
    if (rc == SIGNET_OK) { /* pre-sign its OCSP response (a no-op without the refresher) */
        const char *slash = strchr(object, '/');
        ca_ocsp_enqueue(ctx, ca->name, slash ? slash + 1 : "");
    }
    return rc;
}

/* Finds CA and profile and checks the CA may issue it. */
static enum signet_err lookup(struct ca_ctx *ctx, const struct ca_issue_request *req,
                              struct ca_ent **ca, const struct policy_profile **prof, char *detail)
{
    if ((*ca = ca_ent_find(ctx, req->ca)) == NULL) {
        sg_detail(detail, "CA %s: no such CA; see `signet ca list`", req->ca ? req->ca : "(none)");
        return SIGNET_E_NOTFOUND;
    }
    if ((*prof = policy_set_get(ctx->policies, req->profile ? req->profile : "")) == NULL) {
        char names[256] = "";
        for (size_t i = 0; i < policy_set_count(ctx->policies); i++) {
            const char *n = policy_profile_name(policy_set_at(ctx->policies, i));
            if (strlen(names) + strlen(n) + 3 < sizeof(names))
                strcat(strcat(names, i ? ", " : ""), n);
        }
        sg_detail(detail, "profile %s: no such profile in the policies directory; known: %s",
                  req->profile ? req->profile : "(none)", names);
        return SIGNET_E_NOTFOUND;
    }
    if (!ca_profile_allowed(ctx, req->ca, req->profile)) {
        sg_detail(detail, "CA %s does not issue profile %s (its profiles: %s)", req->ca,
                  req->profile, (*ca)->profiles);
        return SIGNET_E_POLICY;
    }
    if ((*ca)->cert == NULL || (*ca)->store_id == 0) {
        sg_detail(detail, "CA %s: has no certificate yet; import it with `signet ca import-cert`",
                  req->ca);
        return SIGNET_E_CONFIG;
    }
    return SIGNET_OK;
}

/* policy's blocked-key question, answered from the store: 1 blocked, 0 not, -1 unreadable. */
static int key_blocked(const unsigned char spki_sha256[POLICY_SPKI_HASH], void *arg)
{
    struct ca_ctx *ctx = arg;

    switch (store_blocked_key_get(ctx->st, spki_sha256, NULL, NULL)) {
    case SIGNET_OK:
        return 1;
    case SIGNET_E_NOTFOUND:
        return 0;
    default:
        return -1;
    }
}

/*
 * What a decision that policy allowed may still not do here: a subordinate CA whose
 * pathLenConstraint the issuer's own constraint does not leave room for (RFC 5280 4.2.1.9:
 * pathLen N allows at most N intermediate CAs below the issuer). approval = manual is not refused
 * here: ca_issue_ex queues such requests once every check has passed.
 */
static enum signet_err check_issuer_rules(const struct ca_ent *ca,
                                          const struct policy_profile *prof, char *detail)
{
    long issuer_pl = X509_get_pathlen(ca->cert);
    int pl = policy_profile_path_len(prof);

    if (policy_profile_is_ca(prof) && issuer_pl >= 0 && (pl < 0 || pl >= issuer_pl)) {
        char want[48];
        if (pl < 0)
            snprintf(want, sizeof(want), "no pathLenConstraint");
        else
            snprintf(want, sizeof(want), "pathLenConstraint %d", pl);
        sg_detail(detail,
                  "RFC 5280 4.2.1.9: CA %s has pathLenConstraint %ld, so it cannot issue a CA "
                  "certificate with %s (profile %s); give the profile a path_len below %ld",
                  ca->name, issuer_pl, want, policy_profile_name(prof), issuer_pl);
        return SIGNET_E_POLICY;
    }
    return SIGNET_OK;
}

enum signet_err ca_issue(struct ca_ctx *ctx, const struct ca_issue_request *req,
                         struct ca_issued **out, char *detail)
{
    return ca_issue_ex(ctx, req, NULL, out, detail);
}

/* See ca.h: ca_issue, where approval = manual queues what policy allows (ca/request.c). */
enum signet_err ca_issue_ex(struct ca_ctx *ctx, const struct ca_issue_request *req,
                            struct ca_issue_opts *iopts, struct ca_issued **out, char *detail)
{
    const struct policy_eval_opts opts = {key_blocked, ctx};
    struct ca_ent *ca = NULL;
    const struct policy_profile *prof = NULL;
    struct policy_csr *csr = NULL;
    struct policy_decision *dec = NULL;
    X509 *x = NULL;
    EVP_PKEY *key = NULL;
    struct store_cert c;
    struct ca_issued *r = NULL;
    unsigned char *der = NULL;
    int der_len = 0;
    char object[CA_NAME_MAX + 2 * SERIAL_LEN + 2] = "";
    enum signet_err rc;

    *out = NULL;
    memset(&c, 0, sizeof(c));
    /* the profile set may not be swapped by a reload while this request uses one of its profiles */
    pthread_rwlock_rdlock(&ctx->policy_lock);
    if ((rc = lookup(ctx, req, &ca, &prof, detail)) != SIGNET_OK ||
        (rc = policy_csr_parse(req->csr, req->csr_len, &csr, detail)) != SIGNET_OK ||
        (rc = policy_evaluate_ex(prof, csr, &opts, &dec, detail)) != SIGNET_OK)
        goto out;
    if (!policy_decision_allowed(dec)) {
        rc = policy_decision_err(dec);
        sg_detail(detail, "profile %s refuses the request: %s", policy_profile_name(prof),
                  policy_decision_error(dec));
        goto out;
    }
    if ((rc = check_issuer_rules(ca, prof, detail)) != SIGNET_OK)
        goto out;
    if (policy_profile_approval(prof) == POLICY_APPROVAL_MANUAL && !(iopts && iopts->approved)) {
        char id[STORE_REQUEST_ID_LEN + 1];
        rc = ca_request_queue(ctx, ca->name, policy_profile_name(prof), req->requester, csr, id,
                              detail);
        if (iopts != NULL)
            memcpy(iopts->queued_id, id, sizeof(id));
        goto out;
    }
    /* the token before anything is recorded: a missing token or refused PIN writes nothing */
    if ((rc = ca_ent_key(ctx, ca, &key, detail)) != SIGNET_OK ||
        (rc = build_tbs(ca, prof, csr, dec, &x, &c.not_after, detail)) != SIGNET_OK)
        goto out;
    c.ca_id = ca->store_id;
    c.state = STORE_CERT_PENDING;
    c.created = sg_now();
    c.reason = -1;
    snprintf(c.profile, sizeof(c.profile), "%s", policy_profile_name(prof));
    snprintf(c.requester, sizeof(c.requester), "%s", req->requester ? req->requester : "cli");
    if ((rc = record_pending(ctx, ca, x, &c, object, sizeof(object), detail)) != SIGNET_OK)
        goto out;
    if ((rc = sign_and_record(ctx, ca, key, x, &c, object, &der, &der_len, detail)) != SIGNET_OK) {
        sg_log(SG_LOG_ERR,
               "issuance of %s stopped after PENDING; the record stays (possibly "
               "issued)",
               object);
        goto out;
    }
    rc = SIGNET_E_NOMEM;
    if ((r = calloc(1, sizeof(*r))) == NULL || (r->der = malloc((size_t)der_len)) == NULL)
        goto out;
    memcpy(r->der, der, (size_t)der_len);
    r->der_len = (size_t)der_len;
    r->not_after = c.not_after;
    snprintf(r->ca, sizeof(r->ca), "%s", ca->name);
    sg_hex_encode(c.serial, c.serial_len, r->serial);
    *out = r;
    r = NULL;
    rc = SIGNET_OK;
out:
    if (rc == SIGNET_E_NOMEM)
        sg_detail(detail, "issuance: out of memory");
    ca_issued_free(r);
    OPENSSL_free(der);
    X509_free(x);
    policy_decision_free(dec);
    policy_csr_free(csr);
    pthread_rwlock_unlock(&ctx->policy_lock);
    return rc;
}
