/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The root-rollover ceremony (docs/ceremonies.md): the quorum activates the current root's
 * token; a new root key is generated on it for the configured new root CA, which certifies itself
 * (ca_make); then two cross certificates are signed so that relying parties trusting either root
 * can build a path to the other's subordinates: the new root's key certified by the old root,
 * and the old root's key certified by the new one. Both go through the ceremony TBS path
 * (cer_build_tbs: the profile's extensions, throwaway signature, lints), are recorded PENDING
 * then ISSUED under their signer, signed on the token and verified. The dry run does all of it
 * with a stand-in key of the new root's type (the real key does not exist before), so every
 * refusal a real run could meet on the file, the CAs, the profile or the lints is met first.
 */
#include "ceremony_internal.h"

#include <limits.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DAY           86400
#define ROLL_DAYS     3650
#define ROLL_DAYS_MAX 36500
#define ROLL_PATH_MAX (PATH_MAX + 160)

/* What the file says, checked. */
struct roll {
    struct ca_ent *old, *nu; /* the current root, the new root (configured, no cert) */
    const struct policy_profile *prof;
    X509_NAME *subject; /* the new root's */
    enum hsm_key_type type;
    int64_t days;
    char by_old[ROLL_PATH_MAX]; /* out_dir/NEW-by-OLD.crt: the new key, signed by the old */
    char by_new[ROLL_PATH_MAX]; /* out_dir/OLD-by-NEW.crt: the old key, signed by the new */
};

/* Reads and checks the ceremony's keys against the configuration. */
static enum signet_err roll_check(struct ca_ctx *ctx, const struct cer_roll_in *f, struct roll *r,
                                  char *detail)
{
    uint64_t days = ROLL_DAYS;

    r->old = ca_ent_find(ctx, f->ca);
    r->nu = ca_ent_find(ctx, f->new_ca);
    if (r->old == NULL || r->old->cert == NULL || r->old->parent[0]) {
        sg_detail(detail, "CA %s: the rollover's ca must be a configured root with a certificate",
                  f->ca);
        return SIGNET_E_CONFIG;
    }
    if (r->nu == NULL || r->nu->parent[0] || r->nu->token < 0 ||
        !ca_token_is_quorum(&ctx->tokens[r->nu->token])) {
        sg_detail(detail,
                  "CA %s: add [ca.%s] to signet.conf first, with no parent and its key on an "
                  "offline (pin = quorum) token, e.g. key = pkcs11:token=%s;object=%s",
                  f->new_ca, f->new_ca,
                  r->old->token >= 0 ? ctx->tokens[r->old->token].label : "ROOT-TOKEN", f->new_ca);
        return SIGNET_E_CONFIG;
    }
    if (r->nu->cert != NULL) {
        sg_detail(detail, "CA %s already has a certificate (%s): the rollover was done", f->new_ca,
                  r->nu->cert_path);
        return SIGNET_E_EXISTS;
    }
    if (!hsm_key_type_parse(f->type, &r->type)) {
        sg_detail(detail, "type = %s: use ec:P-256, ec:P-384, rsa:3072, rsa:4096 or ed25519",
                  f->type);
        return SIGNET_E_USAGE;
    }
    if (f->days != NULL && !sg_parse_u64(f->days, 1, ROLL_DAYS_MAX, &days)) {
        sg_detail(detail, "days = %.32s: give 1 to %d", f->days, ROLL_DAYS_MAX);
        return SIGNET_E_USAGE;
    }
    r->days = (int64_t)days;
    if ((r->subject = ca_parse_dn(f->subject)) == NULL) {
        sg_detail(detail, "subject = %s: write it as CN=Name,O=Org or /CN=Name/O=Org", f->subject);
        return SIGNET_E_USAGE;
    }
    if ((r->prof = policy_set_get(ctx->policies, f->profile)) == NULL) {
        sg_detail(detail, "profile %s: no such file in the policies directory", f->profile);
        return SIGNET_E_NOTFOUND;
    }
    if (!ca_profile_allowed(ctx, r->old->name, f->profile) ||
        !ca_profile_allowed(ctx, r->nu->name, f->profile)) {
        sg_detail(detail, "profile %s must be in the profiles of both %s and %s", f->profile,
                  r->old->name, r->nu->name);
        return SIGNET_E_POLICY;
    }
    snprintf(r->by_old, sizeof(r->by_old), "%s/%s-by-%s.crt", f->out_dir, r->nu->name,
             r->old->name);
    snprintf(r->by_new, sizeof(r->by_new), "%s/%s-by-%s.crt", f->out_dir, r->old->name,
             r->nu->name);
    if (access(r->by_old, F_OK) == 0 || access(r->by_new, F_OK) == 0) {
        sg_detail(detail, "%s or %s exists; name a new out_dir", r->by_old, r->by_new);
        return SIGNET_E_EXISTS;
    }
    return SIGNET_OK;
}

/* notAfter of a certificate (0 when unreadable). */
static int64_t not_after_of(X509 *x)
{
    struct tm tm;

    return ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) ? (int64_t)timegm(&tm) : 0;
}

/*
 * The TBS input of one cross certificate: signer certifies subject/pub from now to the earlier
 * of the two roots' ends (nothing verifies beyond either).
 */
static void cross_in(struct cer_tbs_in *in, struct ca_ent *signer, const struct roll *r,
                     const X509_NAME *subject, EVP_PKEY *pub, X509 *other, int64_t now)
{
    int64_t a = not_after_of(signer->cert), b = not_after_of(other);

    memset(in, 0, sizeof(*in));
    in->ca = signer;
    in->prof = r->prof;
    in->subject = subject;
    in->pub = pub;
    in->planned = now;
    in->not_before = now;
    in->not_after = a < b ? a : b;
}

/* Signs one cross certificate on the token and writes it; fills its TBS and output hashes. */
static enum signet_err cross_sign(struct ca_ctx *ctx, struct cer_tbs_in *in, EVP_PKEY *key,
                                  const char *profile, const char *path, char *tbs_hash,
                                  char *out_hash, char *detail)
{
    unsigned char *tbs = NULL, *der = NULL;
    size_t len = 0, dlen = 0;
    enum signet_err rc = SIGNET_E_CRYPTO;

    if (!ca_new_serial(in->serial))
        goto out;
    if ((rc = cer_build_tbs(ctx, in, &tbs, &len, detail)) != SIGNET_OK)
        goto out;
    cer_sha256_hex(tbs, len, tbs_hash);
    if ((rc = cer_record(ctx, in, profile, STORE_CERT_PENDING, tbs, len, detail)) != SIGNET_OK ||
        (rc = cer_sign_tbs(tbs, len, key, in->ca->cert, &der, &dlen, detail)) != SIGNET_OK ||
        (rc = cer_record(ctx, in, profile, STORE_CERT_ISSUED, der, dlen, detail)) != SIGNET_OK ||
        (rc = cer_write_out(path, der, dlen, detail)) != SIGNET_OK)
        goto out;
    cer_sha256_hex(der, dlen, out_hash);
out:
    OPENSSL_free(tbs);
    OPENSSL_free(der);
    return rc;
}

/* The dry run: the new root and both cross TBSs built and linted with a stand-in key. */
static enum signet_err roll_dry(struct ca_ctx *ctx, struct roll *r, struct ca_ceremony_result *res,
                                char *detail)
{
    struct ca_cert_params cp = {0};
    struct ca_ent stand;
    struct cer_tbs_in in;
    unsigned char *tbs = NULL;
    size_t len = 0;
    const char *alg = r->type == HSM_KEY_ED25519 ? "ED25519" : NULL;
    EVP_PKEY *k = NULL;
    X509 *x = NULL;
    int64_t now = sg_now();
    enum signet_err rc = SIGNET_E_CRYPTO;

    if (alg != NULL)
        k = EVP_PKEY_Q_keygen(NULL, NULL, alg);
    else if (r->type == HSM_KEY_EC_P256 || r->type == HSM_KEY_EC_P384)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", r->type == HSM_KEY_EC_P384 ? "P-384" : "P-256");
    else
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    cp.subject = r->subject;
    cp.subject_pub = k;
    cp.sign_key = k;
    cp.days = r->days;
    cp.pathlen = -1;
    if (k == NULL || (rc = ca_build_ca_cert(&cp, &x, detail)) != SIGNET_OK)
        goto out;
    stand = *r->nu;
    stand.cert = x;
    cross_in(&in, r->old, r, r->subject, k, x, now);
    if (!ca_new_serial(in.serial) ||
        (rc = cer_build_tbs(ctx, &in, &tbs, &len, detail)) != SIGNET_OK)
        goto out;
    OPENSSL_free(tbs);
    tbs = NULL;
    cross_in(&in, &stand, r, X509_get_subject_name(r->old->cert), X509_get0_pubkey(r->old->cert),
             r->old->cert, now);
    if (!ca_new_serial(in.serial) ||
        (rc = cer_build_tbs(ctx, &in, &tbs, &len, detail)) != SIGNET_OK)
        goto out;
    sg_format_time(now, res->not_before, sizeof(res->not_before));
    sg_format_time(now + r->days * DAY, res->not_after, sizeof(res->not_after));
out:
    OPENSSL_free(tbs);
    X509_free(x);
    EVP_PKEY_free(k);
    return rc;
}

/* The transcript: every output's hash, signed by the old root's key. */
static enum signet_err roll_transcript(struct ca_ctx *ctx, const struct cer_roll_in *f,
                                       const struct roll *r, EVP_PKEY *old_key,
                                       const char hashes[4][65],
                                       const struct ca_ceremony_result *res, int64_t started,
                                       char *detail)
{
    char text[16384], t0[32], t1[32];
    int n;

    sg_format_time(started, t0, sizeof(t0));
    sg_format_time(sg_now(), t1, sizeof(t1));
    n = snprintf(
        text, sizeof(text),
        "signet-transcript 1\noperation root-rollover\nca %s\nnew-ca %s\nceremony-file %s\n"
        "ceremony-sha256 %s\nshares %s\nnew-root %s sha256 %s\n"
        "cross %s tbs-sha256 %s sha256 %s\ncross %s tbs-sha256 %s sha256 %s\n"
        "started %s\nfinished %s\n",
        r->old->name, r->nu->name, f->file, f->hash, res->shares[0] ? res->shares : "none",
        res->out, res->out_sha256, r->by_old, hashes[0], hashes[1], r->by_new, hashes[2], hashes[3],
        t0, t1);
    if (n < 0 || (size_t)n >= sizeof(text)) {
        sg_detail(detail, "the rollover's transcript does not fit: shorter paths, please");
        return SIGNET_E_USAGE;
    }
    return cer_transcript_append(ctx, r->old, old_key, text, detail);
}

/* The real run after the checks: activation, the new root, both cross certificates. */
static enum signet_err roll_real(struct ca_ctx *ctx, const struct cer_roll_in *f, struct roll *r,
                                 struct ca_ceremony_result *res, char *detail)
{
    struct cer_tbs_in in;
    enum ca_create_result made;
    EVP_PKEY *old_key = NULL, *new_key = NULL;
    char hashes[4][65];
    unsigned char *der = NULL;
    int dlen;
    int64_t started = sg_now();
    enum signet_err rc;

    if ((rc = cer_activate(ctx, r->old, f->opts, &old_key, res->shares, sizeof(res->shares),
                           detail)) != SIGNET_OK)
        return rc;
    if ((rc = sg_mkdirs(f->out_dir, 0755, detail)) != SIGNET_OK ||
        (rc = ca_make(ctx, r->nu, r->type, r->subject, r->days, -1, NULL, &made, detail)) !=
            SIGNET_OK ||
        (rc = ca_ent_key(ctx, r->nu, &new_key, detail)) != SIGNET_OK)
        return rc;
    snprintf(res->out, sizeof(res->out), "%s", r->nu->cert_path);
    if ((dlen = i2d_X509(r->nu->cert, &der)) > 0)
        cer_sha256_hex(der, (size_t)dlen, res->out_sha256);
    OPENSSL_free(der);
    cross_in(&in, r->old, r, r->subject, X509_get0_pubkey(r->nu->cert), r->nu->cert, sg_now());
    if ((rc = cross_sign(ctx, &in, old_key, f->profile, r->by_old, hashes[0], hashes[1], detail)) !=
        SIGNET_OK)
        return rc;
    sg_hex_encode(in.serial, CEREMONY_SERIAL_LEN, res->serial);
    snprintf(res->tbs_sha256, sizeof(res->tbs_sha256), "%s", hashes[0]);
    sg_format_time(in.not_before, res->not_before, sizeof(res->not_before));
    sg_format_time(in.not_after, res->not_after, sizeof(res->not_after));
    cross_in(&in, r->nu, r, X509_get_subject_name(r->old->cert), X509_get0_pubkey(r->old->cert),
             r->old->cert, sg_now());
    if ((rc = cross_sign(ctx, &in, new_key, f->profile, r->by_new, hashes[2], hashes[3], detail)) !=
        SIGNET_OK)
        return rc;
    return roll_transcript(ctx, f, r, old_key, (const char(*)[65])hashes, res, started, detail);
}

enum signet_err cer_run_rollover(struct ca_ctx *ctx, const struct cer_roll_in *f,
                                 struct ca_ceremony_result *res, char *detail)
{
    struct roll r;
    enum signet_err rc;

    memset(&r, 0, sizeof(r));
    if ((rc = roll_check(ctx, f, &r, detail)) == SIGNET_OK) {
        X509_NAME_oneline(r.subject, res->subject, sizeof(res->subject));
        rc = f->opts->dry_run ? roll_dry(ctx, &r, res, detail) : roll_real(ctx, f, &r, res, detail);
    }
    X509_NAME_free(r.subject);
    return rc;
}
