/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Delegated OCSP responders (docs/ocsp.md): a responder key per online CA on the CA's token and a
 * short-lived certificate from the CA, renewed at half-life; the signing of one certificate's
 * responses (both CertID hashes, under the key generation that issued it) and live nonce
 * responses. The queue, the pass and the refresher thread that keep the pre-signed responses
 * fresh are in ocsp_refresh.c; the state both use is declared in ocsp_internal.h.
 *
 * The state lives beside the context (a small registry keyed by it) so that ca_ctx needs no new
 * field; ca_ocsp_stop frees it, before ca_ctx_free frees the tokens its keys belong to.
 */
#include "internal.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocsp.h"
#include "ocsp_internal.h"

#define RESPONDER_SKEW  60 /* seconds a responder certificate is backdated (client clocks) */
#define META_PREFIX     "ocsp.responder."
#define NONCE_RATE_DEF  20
#define RESP_DAYS_DEF   4
#define RESP_DAYS_MAX   30
#define RESP_SUBJECT_CN " OCSP Responder"

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ocsp_state *reg;

/*
 * The states' lifetime: every public entry point that uses a state holds this for reading from
 * the lookup to its last use; ca_ocsp_stop holds it for writing while it unlinks a state, so a
 * state is freed only when no caller can still hold it (signetd stops and restarts the
 * refresher when a SIGHUP adds CAs). Writers are preferred so a steady stream of issuances
 * cannot hold a stop off; no entry point takes it twice.
 */
static pthread_rwlock_t life;
static pthread_once_t life_once = PTHREAD_ONCE_INIT;

static void life_init(void)
{
    pthread_rwlockattr_t a;

    pthread_rwlockattr_init(&a);
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&life, &a);
    pthread_rwlockattr_destroy(&a);
}

void ca_ocsp_life_read(void)
{
    pthread_once(&life_once, life_init);
    pthread_rwlock_rdlock(&life);
}

void ca_ocsp_life_done(void)
{
    pthread_rwlock_unlock(&life);
}

/* The state of ctx, or NULL. */
struct ocsp_state *ca_ocsp_state_of(struct ca_ctx *ctx)
{
    struct ocsp_state *s;

    pthread_mutex_lock(&reg_mu);
    for (s = reg; s != NULL && s->ctx != ctx; s = s->next)
        ;
    pthread_mutex_unlock(&reg_mu);
    return s;
}

/* Reads one CA's ocsp_* keys. SIGNET_E_CONFIG names a bad one. */
static enum signet_err read_conf(struct ca_ctx *ctx, struct ca_ent *ca, struct responder *r,
                                 char *detail)
{
    char sec[CA_NAME_MAX + 8];
    const char *v;
    uint64_t n;
    const struct ca_token_ent *t = ca->token >= 0 ? &ctx->tokens[ca->token] : NULL;

    snprintf(sec, sizeof(sec), "ca.%s", ca->name);
    r->validity = OCSP_VALIDITY_DEF;
    r->days = RESP_DAYS_DEF;
    r->type = HSM_KEY_EC_P256;
    r->rate = NONCE_RATE_DEF;
    r->eligible = ca->parent[0] != '\0' && t != NULL && strcmp(t->name, "root") != 0 &&
                  (t->pin == NULL || strcmp(t->pin, "quorum") != 0) && ca->cert != NULL &&
                  ca->store_id != 0;
    if ((v = sg_conf_get(ctx->conf, sec, "ocsp_validity")) != NULL &&
        (!sg_parse_duration(v, &r->validity) || r->validity < OCSP_VALIDITY_MIN ||
         r->validity > OCSP_VALIDITY_MAX)) {
        sg_detail(detail, "[%s] ocsp_validity = %.32s: give 8h to 10d (RFC 5019, CA/B BR 4.9.10)",
                  sec, v);
        return SIGNET_E_CONFIG;
    }
    if ((v = sg_conf_get(ctx->conf, sec, "ocsp_responder_days")) != NULL) {
        if (!sg_parse_u64(v, 1, RESP_DAYS_MAX, &n)) {
            sg_detail(detail, "[%s] ocsp_responder_days = %.32s: give 1 to %d", sec, v,
                      RESP_DAYS_MAX);
            return SIGNET_E_CONFIG;
        }
        r->days = (int64_t)n;
    }
    if ((v = sg_conf_get(ctx->conf, sec, "ocsp_key_type")) != NULL &&
        !hsm_key_type_parse(v, &r->type)) {
        sg_detail(detail, "[%s] ocsp_key_type = %.32s: give ec:P-256, ec:P-384, rsa:2048, ...", sec,
                  v);
        return SIGNET_E_CONFIG;
    }
    if ((v = sg_conf_get(ctx->conf, sec, "ocsp_nonce")) != NULL) {
        if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0) {
            sg_detail(detail, "[%s] ocsp_nonce = %.32s: give yes or no", sec, v);
            return SIGNET_E_CONFIG;
        }
        r->nonce = strcmp(v, "yes") == 0;
    }
    if ((v = sg_conf_get(ctx->conf, sec, "ocsp_nonce_rate")) != NULL) {
        if (!sg_parse_u64(v, 1, 10000, &n)) {
            sg_detail(detail, "[%s] ocsp_nonce_rate = %.32s: give 1 to 10000 per second", sec, v);
            return SIGNET_E_CONFIG;
        }
        r->rate = (double)n;
    }
    r->tokens = r->rate;
    return SIGNET_OK;
}

static void state_free(struct ocsp_state *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; s->r != NULL && i < s->ctx->ncas; i++) {
        EVP_PKEY_free(s->r[i].evp);
        hsm_key_free(s->r[i].key);
        X509_free(s->r[i].cert);
        ocsp_prev_clear(&s->r[i].prev);
    }
    for (int i = 0; i < HSM_KEY_TYPE_MAX; i++)
        EVP_PKEY_free(s->throwaway[i]);
    free(s->r);
    pthread_mutex_destroy(&s->sign_mu);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

/* The state of ctx, made (configuration read) when missing. */
enum signet_err ca_ocsp_state_get(struct ca_ctx *ctx, struct ocsp_state **out, char *detail)
{
    struct ocsp_state *s;
    enum signet_err rc = SIGNET_OK;

    pthread_mutex_lock(&reg_mu);
    for (s = reg; s != NULL && s->ctx != ctx; s = s->next)
        ;
    if (s == NULL) {
        if ((s = calloc(1, sizeof(*s))) == NULL ||
            (s->r = calloc(ctx->ncas + 1, sizeof(*s->r))) == NULL) {
            free(s);
            s = NULL;
            rc = SIGNET_E_NOMEM;
            sg_detail(detail, "OCSP: out of memory");
        } else {
            s->ctx = ctx;
            pthread_mutex_init(&s->sign_mu, NULL);
            pthread_mutex_init(&s->mu, NULL);
            pthread_cond_init(&s->cv, NULL);
            for (size_t i = 0; i < ctx->ncas && rc == SIGNET_OK; i++)
                rc = read_conf(ctx, &ctx->cas[i], &s->r[i], detail);
            if (rc != SIGNET_OK) {
                state_free(s);
                s = NULL;
            } else {
                s->next = reg;
                reg = s;
            }
        }
    }
    pthread_mutex_unlock(&reg_mu);
    *out = s;
    return rc;
}

/* A throwaway key of the responder key's type (lint signatures; never trusted). */
static EVP_PKEY *throwaway(struct ocsp_state *s, enum hsm_key_type t)
{
    if (s->throwaway[t] != NULL)
        return s->throwaway[t];
    switch (t) {
    case HSM_KEY_ED25519:
        s->throwaway[t] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        break;
    case HSM_KEY_EC_P384:
        s->throwaway[t] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        break;
    case HSM_KEY_EC_P256:
        s->throwaway[t] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        break;
    default:
        s->throwaway[t] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
        break;
    }
    return s->throwaway[t];
}

/* Seconds since the epoch of an ASN1_TIME (0 on error). */
int64_t ca_ocsp_tsecs(const ASN1_TIME *t)
{
    struct tm tm;

    return t != NULL && ASN1_TIME_to_tm(t, &tm) ? (int64_t)timegm(&tm) : 0;
}

/* 1 when the responder certificate can be used as it is (before half its life, right key). */
int ocsp_responder_fresh(X509 *cert, EVP_PKEY *pub, X509 *issuer, int64_t now)
{
    struct ocsp_lint_result res = {0};
    int64_t nb, na;

    if (cert == NULL)
        return 0;
    nb = ca_ocsp_tsecs(X509_get0_notBefore(cert));
    na = ca_ocsp_tsecs(X509_get0_notAfter(cert));
    return EVP_PKEY_eq(X509_get0_pubkey(cert), pub) == 1 && now < nb + (na - nb) / 2 &&
           ocsp_lint_responder(cert, issuer, &res) == 0;
}

/* Builds the responder TBS: subject "<CA CN> OCSP Responder", the extensions of RFC 6960. */
static X509 *responder_tbs(const char *ca_name, X509 *issuer, EVP_PKEY *pub, int64_t days)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    ASN1_NULL *nul = ASN1_NULL_new();
    unsigned char serial[16];
    char cn[CA_NAME_MAX + 32];
    int64_t now = sg_now(), end = now + days * 86400,
            ca_end = ca_ocsp_tsecs(X509_get0_notAfter(issuer));
    BIGNUM *bn = NULL;
    ASN1_INTEGER *ai = NULL;
    X509_EXTENSION *e[3] = {NULL};
    int ok = 0;

    if (end > ca_end)
        end = ca_end;
    snprintf(cn, sizeof(cn), "%s%s", ca_name, RESP_SUBJECT_CN);
    if (x == NULL || name == NULL || nul == NULL || !ca_new_serial(serial) ||
        (bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
        (ai = BN_to_ASN1_INTEGER(bn, NULL)) == NULL || !X509_set_version(x, X509_VERSION_3) ||
        !X509_set_serialNumber(x, ai) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (unsigned char *)cn, -1, -1, 0) ||
        !X509_set_subject_name(x, name) ||
        !X509_set_issuer_name(x, X509_get_subject_name(issuer)) || !X509_set_pubkey(x, pub) ||
        !ASN1_TIME_set(X509_getm_notBefore(x), (time_t)(now - RESPONDER_SKEW)) ||
        !ASN1_TIME_set(X509_getm_notAfter(x), (time_t)end))
        goto out;
    e[0] = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, "critical,CA:FALSE");
    e[1] = X509V3_EXT_conf_nid(NULL, NULL, NID_key_usage, "critical,digitalSignature");
    e[2] = X509V3_EXT_conf_nid(NULL, NULL, NID_ext_key_usage, "OCSPSigning");
    if (e[0] == NULL || e[1] == NULL || e[2] == NULL || !X509_add_ext(x, e[0], -1) ||
        !X509_add_ext(x, e[1], -1) || !X509_add_ext(x, e[2], -1) ||
        !X509_add1_ext_i2d(x, NID_id_pkix_OCSP_noCheck, nul, 0, X509V3_ADD_DEFAULT) ||
        !ca_add_ski_aki(x, issuer))
        goto out;
    ok = 1;
out:
    for (int i = 0; i < 3; i++)
        X509_EXTENSION_free(e[i]);
    ASN1_INTEGER_free(ai);
    BN_free(bn);
    ASN1_NULL_free(nul);
    X509_NAME_free(name);
    if (!ok) {
        X509_free(x);
        x = NULL;
    }
    return x;
}

struct meta_arg {
    const char *name, *object;
    const unsigned char *der;
    size_t len;
};

static enum signet_err meta_fn(struct store_txn *txn, void *arg, char *detail)
{
    struct meta_arg *a = arg;
    enum signet_err rc = store_txn_meta_put(txn, a->name, a->der, a->len, detail);

    if (rc == SIGNET_OK)
        rc = store_txn_audit(txn, "signetd", "ocsp-responder", a->object, detail);
    return rc;
}

/*
 * Issues a responder certificate for CA ca_name's generation whose certificate is issuer and
 * whose key is cakey (certifying pub), stores it in meta and publishes public/<file>; *slot
 * (freed first) receives it. Shared by the current generation and the previous one.
 */
enum signet_err ocsp_responder_issue(struct ca_ctx *ctx, const char *ca_name, X509 *issuer,
                                     EVP_PKEY *cakey, EVP_PKEY *pub, int64_t days, const char *meta,
                                     const char *file, X509 **slot, char *detail)
{
    X509 *x = responder_tbs(ca_name, issuer, pub, days);
    struct ocsp_lint_result res = {0};
    unsigned char *der = NULL;
    char path[4200], object[CA_NAME_MAX + 64], hex[2 * STORE_SERIAL_MAX + 1];
    int len;
    enum signet_err rc = SIGNET_E_HSM;

    if (x == NULL) {
        sg_detail(detail, "CA %s: cannot build the OCSP responder certificate", ca_name);
        sg_detail_openssl(detail);
        return SIGNET_E_CRYPTO;
    }
    if (X509_sign(x, cakey, ca_sign_md(X509_get0_pubkey(issuer))) <= 0 ||
        X509_verify(x, X509_get0_pubkey(issuer)) != 1) {
        sg_detail(detail, "CA %s: signing the OCSP responder certificate failed", ca_name);
        sg_detail_openssl(detail);
        goto out;
    }
    if (ocsp_lint_responder(x, issuer, &res) > 0) {
        sg_log(SG_LOG_ERR, "ocsp lint: CA %s responder: %s", ca_name, res.msg[0]);
        sg_detail(detail, "CA %s: responder certificate lint: %s", ca_name, res.msg[0]);
        rc = SIGNET_E_LINT;
        goto out;
    }
    if ((len = i2d_X509(x, &der)) <= 0) {
        rc = SIGNET_E_CRYPTO;
        goto out;
    }
    {
        const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
        sg_hex_encode(ASN1_STRING_get0_data(sn),
                      (size_t)ASN1_STRING_length(sn) > STORE_SERIAL_MAX
                          ? STORE_SERIAL_MAX
                          : (size_t)ASN1_STRING_length(sn),
                      hex);
    }
    snprintf(object, sizeof(object), "%s/%s", ca_name, hex);
    struct meta_arg a = {meta, object, der, (size_t)len};
    if ((rc = store_write(ctx->st, meta_fn, &a, detail)) != SIGNET_OK)
        goto out;
    snprintf(path, sizeof(path), "%s/%s", ctx->public_dir, file);
    if (ca_write_cert(path, x, NULL) != SIGNET_OK)
        sg_log(SG_LOG_WARN, "CA %s: could not write %s (the store has the responder)", ca_name,
               path);
    sg_log(SG_LOG_INFO, "CA %s: OCSP responder certificate %s issued (%s)", ca_name, hex, file);
    X509_free(*slot);
    *slot = x;
    x = NULL;
out:
    OPENSSL_free(der);
    X509_free(x);
    return rc;
}

/* Issues the current generation's responder certificate (signed by the CA's token key). */
static enum signet_err responder_issue(struct ocsp_state *s, struct ca_ent *ca, struct responder *r,
                                       const char *meta, char *detail)
{
    EVP_PKEY *cakey = NULL;
    char file[CA_NAME_MAX + 16];
    enum signet_err rc;

    if ((rc = ca_ent_key(s->ctx, ca, &cakey, detail)) != SIGNET_OK)
        return rc;
    snprintf(file, sizeof(file), "%s-ocsp.crt", ca->name);
    return ocsp_responder_issue(s->ctx, ca->name, ca->cert, cakey, hsm_key_public(r->key), r->days,
                                meta, file, &r->cert, detail);
}

/*
 * Makes sure CA i has a usable responder (caller holds sign_mu): finds or generates the key
 * "<ca>-ocsp" on the CA's token, loads the certificate from the store, and issues a new one when
 * there is none, it is past half its life or it does not match the key.
 */
enum signet_err ca_ocsp_responder_ready(struct ocsp_state *s, size_t i, char *detail)
{
    struct ca_ctx *ctx = s->ctx;
    struct ca_ent *ca = &ctx->cas[i];
    struct responder *r = &s->r[i];
    struct hsm_token *tok;
    char label[CA_NAME_MAX + 8], uri[600], meta[STORE_META_NAME_MAX + CA_NAME_MAX], tlabel[64];
    unsigned char *buf = NULL;
    size_t len = 0;
    enum signet_err rc;

    if (!r->eligible) {
        sg_detail(detail, "CA %s: not served by OCSP (a root, or its key is on no online token)",
                  ca->name);
        return SIGNET_E_POLICY;
    }
    snprintf(label, sizeof(label), "%s-ocsp", ca->name);
    snprintf(meta, sizeof(meta), META_PREFIX "%s", ca->name);
    if (r->key == NULL) {
        if ((rc = ca_token(ctx, ctx->tokens[ca->token].name, &tok, detail)) != SIGNET_OK)
            return rc;
        ca_uri_attr(ca->key_uri, "token", tlabel, sizeof(tlabel));
        snprintf(uri, sizeof(uri), "pkcs11:token=%s;object=%s", tlabel, label);
        rc = hsm_key_find(tok, uri, &r->key, NULL);
        if (rc == SIGNET_E_NOTFOUND) {
            sg_log(SG_LOG_INFO, "CA %s: generating the OCSP responder key %s (%s)", ca->name, label,
                   hsm_key_type_name(r->type));
            rc = hsm_keygen(tok, label, r->type, 0, &r->key, detail);
        }
        if (rc != SIGNET_OK || (rc = hsm_key_evp(r->key, &r->evp, detail)) != SIGNET_OK)
            return rc;
        r->type = hsm_key_type(r->key);
    }
    if (r->cert == NULL && (buf = malloc(STORE_DER_MAX)) != NULL &&
        store_meta_get(ctx->st, meta, buf, STORE_DER_MAX, &len, NULL) == SIGNET_OK) {
        const unsigned char *p = buf;
        r->cert = d2i_X509(NULL, &p, (long)len);
    }
    free(buf);
    if (ocsp_responder_fresh(r->cert, hsm_key_public(r->key), ca->cert, sg_now()))
        return SIGNET_OK;
    return responder_issue(s, ca, r, meta, detail);
}

/*
 * Signs both CertID hashes of one response with the responder certificate rcert (of the
 * generation that issued the certificate; caller holds sign_mu and made the responder).
 */
static enum signet_err sign_pair(struct ocsp_state *s, size_t i, X509 *rcert,
                                 struct ocsp_single *one, struct store_ocsp *rec, char *detail)
{
    struct responder *r = &s->r[i];
    EVP_PKEY *tk = throwaway(s, r->type);
    enum signet_err rc = SIGNET_OK;

    if (tk == NULL) {
        sg_detail(detail, "OCSP: cannot make a throwaway lint key");
        return SIGNET_E_CRYPTO;
    }
    for (int h = 0; h < STORE_OCSP_NHASH && rc == SIGNET_OK; h++) {
        one->hash = (enum store_ocsp_hash)h;
        rc = ocsp_response_make(one, rcert, r->evp, tk, &rec->der[h], &rec->der_len[h], detail);
    }
    return rc;
}

/* Fills the response's times: now, and now + validity clamped to rcert's notAfter. */
static void set_times_by(const struct responder *r, X509 *rcert, struct ocsp_single *one)
{
    int64_t now = sg_now(), until = ca_ocsp_tsecs(X509_get0_notAfter(rcert));

    one->produced_at = now;
    one->this_update = now;
    one->next_update = now + r->validity;
    if (one->next_update > until)
        one->next_update = until;
}

/* The same with the current generation's responder. */
static void set_times(const struct responder *r, struct ocsp_single *one)
{
    set_times_by(r, r->cert, one);
}

/* Signs and stores the response of one certificate record (caller holds sign_mu). */
static enum signet_err presign_rec(struct ocsp_state *s, size_t i, const struct store_cert *c,
                                   char *detail)
{
    struct ca_ent *ca = &s->ctx->cas[i];
    struct ocsp_single one = {0};
    struct store_ocsp rec = {0};
    X509 *issuer = ca->cert, *rcert;
    char why[SIGNET_DETAIL_MAX] = "";
    enum signet_err rc, prc;

    if (c->state != STORE_CERT_ISSUED && c->state != STORE_CERT_REVOKED &&
        c->state != STORE_CERT_PENDING) {
        sg_detail(detail, "CA %s: the certificate is %s; no OCSP response", ca->name,
                  store_cert_state_name(c->state));
        return SIGNET_E_POLICY;
    }
    if ((rc = ca_ocsp_responder_ready(s, i, detail)) != SIGNET_OK)
        return rc;
    rcert = s->r[i].cert;
    /* after a rollover: what the previous key issued is answered by its own generation */
    prc = ocsp_prev_ready(s->ctx, ca, &s->r[i].prev, s->r[i].key, s->r[i].days, why);
    if (ocsp_prev_issued(&s->r[i].prev, ca, c)) {
        if (prc != SIGNET_OK) {
            sg_detail(detail, "%s", why);
            return prc;
        }
        issuer = s->r[i].prev.cert;
        rcert = s->r[i].prev.responder;
    } else if (prc != SIGNET_OK) {
        sg_log(SG_LOG_ERR, "OCSP: CA %s: previous generation: %s", ca->name, why);
    }
    one.issuer = issuer;
    one.serial = c->serial;
    one.serial_len = c->serial_len;
    /* a PENDING record is possibly issued (DESIGN.md): covered, as unknown, never good */
    one.status = c->state == STORE_CERT_REVOKED   ? OCSP_CS_REVOKED
                 : c->state == STORE_CERT_PENDING ? OCSP_CS_UNKNOWN
                                                  : OCSP_CS_GOOD;
    one.revoked_at = c->revoked_at;
    one.reason =
        c->state == STORE_CERT_REVOKED && c->reason >= 0 && c->reason <= 10 && c->reason != 7
            ? c->reason
            : -1;
    set_times_by(&s->r[i], rcert, &one);
    if ((rc = sign_pair(s, i, rcert, &one, &rec, detail)) == SIGNET_OK) {
        rec.this_update = one.this_update;
        rec.next_update = one.next_update;
        rec.status = (int)one.status;
        rc = store_ocsp_put(s->ctx->st, ca->store_id, c->serial, c->serial_len, &rec, detail);
    }
    for (int h = 0; h < STORE_OCSP_NHASH; h++)
        free(rec.der[h]);
    pthread_mutex_lock(&s->mu);
    if (rc == SIGNET_OK)
        s->stats.signed_total++;
    else
        s->stats.sign_failures++;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* Presign by CA index and serial octets. */
enum signet_err ca_ocsp_presign_one(struct ocsp_state *s, size_t i, const unsigned char *serial,
                                    size_t len, char *detail)
{
    struct store_cert *c = NULL;
    enum signet_err rc;

    /* read under sign_mu: the newest state is the one signed, whoever signs last */
    pthread_mutex_lock(&s->sign_mu);
    if ((rc = store_cert_get(s->ctx->st, s->ctx->cas[i].store_id, serial, len, &c, detail)) ==
        SIGNET_E_NOTFOUND)
        sg_detail(detail, "CA %s: no such certificate", s->ctx->cas[i].name);
    if (rc == SIGNET_OK)
        rc = presign_rec(s, i, c, detail);
    pthread_mutex_unlock(&s->sign_mu);
    store_cert_free(c);
    return rc;
}

void ca_ocsp_stop(struct ca_ctx *ctx)
{
    struct ocsp_state *s, **pp;

    if (ctx == NULL)
        return;
    pthread_once(&life_once, life_init);
    pthread_rwlock_wrlock(&life); /* no entry point is using a state now */
    pthread_mutex_lock(&reg_mu);
    for (pp = &reg; *pp != NULL && (*pp)->ctx != ctx; pp = &(*pp)->next)
        ;
    s = *pp;
    if (s != NULL)
        *pp = s->next;
    pthread_mutex_unlock(&reg_mu);
    pthread_rwlock_unlock(&life);
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->running)
        pthread_join(s->thread, NULL);
    state_free(s);
}

/* ---- live nonce mode ---- */

/* Takes one token from CA i's bucket. 1 = allowed. */
static int rate_take(struct ocsp_state *s, size_t i)
{
    struct responder *r = &s->r[i];
    uint64_t now = sg_mono_ms();
    int ok;

    pthread_mutex_lock(&s->mu);
    r->tokens += (double)(now - r->refill_ms) * r->rate / 1000.0;
    if (r->tokens > r->rate)
        r->tokens = r->rate;
    r->refill_ms = now;
    ok = r->tokens >= 1.0;
    if (ok)
        r->tokens -= 1.0;
    else
        s->stats.live_refused++;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

/* The served CA whose hashes the CertID carries, or ctx->ncas. */
static size_t find_issuer(struct ocsp_state *s, const struct ocsp_certid *id)
{
    unsigned char nh[OCSP_HASH_MAX], kh[OCSP_HASH_MAX];

    for (size_t i = 0; i < s->ctx->ncas; i++)
        if (s->r[i].eligible && ocsp_issuer_hashes(s->ctx->cas[i].cert, id->hash, nh, kh) &&
            memcmp(nh, id->name_hash, id->hash_len) == 0 &&
            memcmp(kh, id->key_hash, id->hash_len) == 0)
            return i;
    return s->ctx->ncas;
}

/* Copies an error response into *out. */
static enum signet_err live_error(enum ocsp_resp_status st, unsigned char **out, size_t *len)
{
    const unsigned char *d = ocsp_error_der(st, len);

    if ((*out = malloc(*len)) == NULL)
        return SIGNET_E_NOMEM;
    memcpy(*out, d, *len);
    return SIGNET_OK;
}

static enum signet_err ocsp_locked_sign_live(struct ca_ctx *ctx, const unsigned char *req,
                                             size_t len, unsigned char **out, size_t *out_len,
                                             char *detail)
{
    struct ocsp_state *s = NULL;
    struct ocsp_request q;
    struct store_cert *c = NULL;
    struct ocsp_single one = {0};
    size_t i;
    enum signet_err rc;

    *out = NULL;
    *out_len = 0;
    if (ca_ocsp_state_get(ctx, &s, detail) != SIGNET_OK)
        return live_error(OCSP_RS_INTERNAL, out, out_len);
    if (ocsp_request_parse(req, len, 1, &q, detail) != OCSP_RS_SUCCESSFUL ||
        q.nonce_state == OCSP_NONCE_BAD)
        return live_error(OCSP_RS_MALFORMED, out, out_len);
    if ((i = find_issuer(s, &q.id[0])) >= ctx->ncas || !s->r[i].nonce || q.id[0].serial_len == 0 ||
        store_cert_get(ctx->st, ctx->cas[i].store_id, q.id[0].serial, q.id[0].serial_len, &c,
                       NULL) != SIGNET_OK ||
        (c->state != STORE_CERT_ISSUED && c->state != STORE_CERT_REVOKED)) {
        store_cert_free(c);
        return live_error(OCSP_RS_UNAUTHORIZED, out, out_len);
    }
    if (!rate_take(s, i)) {
        store_cert_free(c);
        return live_error(OCSP_RS_TRYLATER, out, out_len);
    }
    pthread_mutex_lock(&s->sign_mu);
    if ((rc = ca_ocsp_responder_ready(s, i, detail)) == SIGNET_OK) {
        one.issuer = ctx->cas[i].cert;
        one.hash = q.id[0].hash;
        one.serial = c->serial;
        one.serial_len = c->serial_len;
        one.status = c->state == STORE_CERT_REVOKED ? OCSP_CS_REVOKED : OCSP_CS_GOOD;
        one.revoked_at = c->revoked_at;
        one.reason =
            one.status == OCSP_CS_REVOKED && c->reason >= 0 && c->reason <= 10 && c->reason != 7
                ? c->reason
                : -1;
        one.nonce = q.nonce_state == OCSP_NONCE_OK ? q.nonce : NULL;
        one.nonce_len = q.nonce_state == OCSP_NONCE_OK ? q.nonce_len : 0;
        set_times(&s->r[i], &one);
        rc = ocsp_response_make(&one, s->r[i].cert, s->r[i].evp, throwaway(s, s->r[i].type), out,
                                out_len, detail);
    }
    pthread_mutex_unlock(&s->sign_mu);
    store_cert_free(c);
    if (rc == SIGNET_OK) {
        pthread_mutex_lock(&s->mu);
        s->stats.live_signed++;
        pthread_mutex_unlock(&s->mu);
        return SIGNET_OK;
    }
    sg_log(SG_LOG_ERR, "OCSP live: %s", detail ? detail : "signing failed");
    return live_error(OCSP_RS_TRYLATER, out, out_len);
}

/* ---- entry points: each holds the states' lifetime lock while it uses one ---- */

enum signet_err ca_ocsp_sign_live(struct ca_ctx *ctx, const unsigned char *req, size_t len,
                                  unsigned char **out, size_t *out_len, char *detail)
{
    enum signet_err rc;

    ca_ocsp_life_read();
    rc = ocsp_locked_sign_live(ctx, req, len, out, out_len, detail);
    ca_ocsp_life_done();
    return rc;
}
