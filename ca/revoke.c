/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Revocation (RFC 5280 5.3.1 reasons): one durable write updates the cert record and the revoked
 * index and appends to the audit log; keyCompromise also blocks the certificate's key. Then the
 * hook runs (the OCSP response is re-signed there) and the CA's CRL is marked dirty.
 */
#include "internal.h"

#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crl.h"

static ca_revoke_hook_fn revoke_hook;
static void *revoke_hook_arg;

void ca_revoke_set_hook(ca_revoke_hook_fn fn, void *arg)
{
    revoke_hook = fn;
    revoke_hook_arg = arg;
}

/* See ca.h. */
enum signet_err ca_revoke_reason(const char *name, int *out, char *detail)
{
    *out = -1;
    if (name == NULL || !crl_reason_parse(name, out)) {
        sg_detail(detail, "reason %.64s: not an RFC 5280 reason; use one of: %s",
                  name ? name : "(none)", crl_reason_names());
        return SIGNET_E_USAGE;
    }
    if (*out == CRL_REASON_REMOVE_FROM_CRL) {
        sg_detail(detail, "reason removeFromCRL: RFC 5280 5.3.1 reserves it for delta CRLs; "
                          "it is not a revocation reason");
        *out = -1;
        return SIGNET_E_USAGE;
    }
    return SIGNET_OK;
}

/* Parses a hex serial (0x prefix and an odd digit count accepted). Returns octets or -1. */
static long parse_serial(const char *hex, unsigned char out[STORE_SERIAL_MAX])
{
    char buf[2 * STORE_SERIAL_MAX + 2];
    size_t n;

    if (hex == NULL)
        return -1;
    if (strncasecmp(hex, "0x", 2) == 0)
        hex += 2;
    n = strlen(hex);
    if (n == 0 || n > 2 * STORE_SERIAL_MAX || strspn(hex, "0123456789abcdefABCDEF") != n)
        return -1;
    snprintf(buf, sizeof(buf), "%s%s", n % 2 ? "0" : "", hex);
    return sg_hex_decode(buf, out, STORE_SERIAL_MAX);
}

/*
 * The SHA-256 of the SubjectPublicKeyInfo inside a certificate or a TBSCertificate (a PENDING
 * record holds the TBS): the 7th element of the TBS, or the 6th without the [0] version; and in
 * canon that of the same key in its usual encoding (policy_spki_sha256: EC points uncompressed),
 * equal to out for most keys. 1 = ok.
 */
static int spki_hash(const unsigned char *der, size_t len, unsigned char out[STORE_SPKI_HASH],
                     unsigned char canon[STORE_SPKI_HASH])
{
    const unsigned char *p = der, *end = der + len, *el;
    long n;
    int tag, cls;

    if (der == NULL || len < 2 || (ASN1_get_object(&p, &n, &tag, &cls, (long)(end - p)) & 0x80) ||
        tag != V_ASN1_SEQUENCE)
        return 0;
    /* a certificate's first element is the TBS (a SEQUENCE); a TBS's is [0] or an INTEGER */
    if (p < end && *p == 0x30 &&
        ((ASN1_get_object(&p, &n, &tag, &cls, (long)(end - p)) & 0x80) || tag != V_ASN1_SEQUENCE))
        return 0;
    for (int i = 0; p < end && i < 7; i++) {
        el = p;
        if (ASN1_get_object(&p, &n, &tag, &cls, (long)(end - p)) & 0x80)
            return 0;
        p += n;
        if (i == 0 && cls == V_ASN1_CONTEXT_SPECIFIC && tag == 0)
            i = -1, el = NULL; /* the version: count from the serial */
        if (i == 5) {
            const unsigned char *q = el;
            EVP_PKEY *pk = d2i_PUBKEY(NULL, &q, (long)(p - el));
            int ok = pk != NULL && policy_spki_sha256(pk, canon);
            SHA256(el, (size_t)(p - el), out);
            if (!ok) /* a key OpenSSL cannot read has no other form to block */
                memcpy(canon, out, STORE_SPKI_HASH);
            EVP_PKEY_free(pk);
            ERR_clear_error();
            return 1;
        }
    }
    return 0;
}

struct rv_arg {
    const struct ca_revoke_request *req;
    const char *ca_name;
    uint32_t ca_id;
    unsigned char serial[STORE_SERIAL_MAX];
    size_t serial_len;
    const char *hex;
    int64_t now;
    char profile[STORE_NAME_MAX]; /* out */
};

/* 1 when the request's rights cover profile. */
static int allowed(const struct ca_revoke_request *req, const char *profile)
{
    if (req->may_revoke != NULL)
        return req->may_revoke(profile, req->may_arg);
    if (req->allowed_profiles == NULL)
        return 1;
    for (const char *const *p = req->allowed_profiles; *p != NULL; p++)
        if (strcmp(*p, profile) == 0)
            return 1;
    return 0;
}

/* The checks that need the current record: re-read inside the write, so two revokers race safely.
 */
static enum signet_err rv_check(struct rv_arg *a, const struct store_cert *c, char *detail)
{
    char when[32];

    if (!allowed(a->req, c->profile)) {
        sg_detail(detail,
                  "certificate %s of CA %s: profile %s is not one this client may use, "
                  "so it may not revoke it",
                  a->hex, a->ca_name, c->profile);
        return SIGNET_E_FORBIDDEN;
    }
    if (c->state == STORE_CERT_REVOKED) {
        sg_format_time(c->revoked_at, when, sizeof(when));
        sg_detail(detail, "certificate %s of CA %s is already revoked (since %s, %s)", a->hex,
                  a->ca_name, when, crl_reason_name(c->reason) ? crl_reason_name(c->reason) : "?");
        return SIGNET_E_EXISTS;
    }
    if (c->not_after < a->now) {
        sg_format_time(c->not_after, when, sizeof(when));
        sg_detail(detail,
                  "certificate %s of CA %s expired on %s: an expired certificate is not "
                  "revoked (it leaves CRLs anyway)",
                  a->hex, a->ca_name, when);
        return SIGNET_E_POLICY;
    }
    return SIGNET_OK;
}

static enum signet_err rv_fn(struct store_txn *txn, void *arg, char *detail)
{
    struct rv_arg *a = arg;
    struct store_cert *c = NULL;
    struct store_revoked r;
    unsigned char h[STORE_SPKI_HASH], canon[STORE_SPKI_HASH];
    char object[256], why[STORE_BLOCK_REASON_MAX];
    enum signet_err err;

    if ((err = store_txn_cert_get(txn, a->ca_id, a->serial, a->serial_len, &c, detail)) !=
        SIGNET_OK)
        return err;
    if ((err = rv_check(a, c, detail)) != SIGNET_OK)
        goto out;
    snprintf(a->profile, sizeof(a->profile), "%s", c->profile);
    c->state = STORE_CERT_REVOKED;
    c->revoked_at = a->now;
    c->reason = a->req->reason;
    c->invalidity_date = a->req->invalidity_date;
    memset(&r, 0, sizeof(r));
    memcpy(r.serial, c->serial, c->serial_len);
    r.serial_len = c->serial_len;
    r.revoked_at = a->now;
    r.reason = a->req->reason;
    r.invalidity_date = a->req->invalidity_date;
    r.not_after = c->not_after;
    snprintf(object, sizeof(object), "%s/%s reason=%s", a->ca_name, a->hex,
             crl_reason_name(a->req->reason));
    if ((err = store_txn_cert_put(txn, c, 0, detail)) != SIGNET_OK ||
        (err = store_txn_revoked_put(txn, a->ca_id, &r, detail)) != SIGNET_OK ||
        (err = store_txn_audit(txn, a->req->requester ? a->req->requester : "cli", "revoke", object,
                               detail)) != SIGNET_OK)
        goto out;
    if (a->req->reason == CRL_REASON_KEY_COMPROMISE) {
        if (!spki_hash(c->der, c->der_len, h, canon)) {
            sg_detail(detail,
                      "certificate %s of CA %s: its key cannot be read from the record, "
                      "so it cannot be blocked; nothing changed",
                      a->hex, a->ca_name);
            err = SIGNET_E_INVALID;
            goto out;
        }
        snprintf(why, sizeof(why), "keyCompromise: serial %s of %s", a->hex, a->ca_name);
        err = store_txn_blocked_key_put(txn, h, a->now, why, detail);
        /* the same key in its usual encoding, if the certificate has another (a compressed
         * point): policy checks both forms of a requested key */
        if (err == SIGNET_OK && memcmp(h, canon, sizeof(h)) != 0)
            err = store_txn_blocked_key_put(txn, canon, a->now, why, detail);
    }
out:
    store_cert_free(c);
    return err;
}

/* Finds the CA holding the serial: the named one, or (no name) the first that has it. */
static enum signet_err find_ca(struct ca_ctx *ctx, const struct ca_revoke_request *req,
                               struct rv_arg *a, struct ca_ent **out, char *detail)
{
    struct store_cert *c = NULL;
    struct ca_ent *named = req->ca ? ca_ent_find(ctx, req->ca) : NULL;

    *out = NULL;
    if (req->ca != NULL && (named == NULL || named->store_id == 0)) {
        sg_detail(detail, "CA %.64s: no such CA with a certificate; see `signet ca list`", req->ca);
        return SIGNET_E_NOTFOUND;
    }
    if (named != NULL &&
        store_cert_get(ctx->st, named->store_id, a->serial, a->serial_len, &c, NULL) == SIGNET_OK) {
        store_cert_free(c);
        *out = named;
        return SIGNET_OK;
    }
    for (size_t i = 0; i < ctx->ncas; i++) {
        struct ca_ent *e = &ctx->cas[i];
        if (e->store_id == 0 || e == named ||
            store_cert_get(ctx->st, e->store_id, a->serial, a->serial_len, &c, NULL) != SIGNET_OK)
            continue;
        store_cert_free(c);
        if (named == NULL) {
            *out = e;
            return SIGNET_OK;
        }
        sg_detail(detail,
                  "CA %s has no certificate with serial %s (CA %s issued it; name that "
                  "CA to revoke it)",
                  named->name, a->hex, e->name);
        return SIGNET_E_NOTFOUND;
    }
    if (named != NULL)
        sg_detail(detail, "CA %s has no certificate with serial %s; see `signet cert list --ca %s`",
                  named->name, a->hex, named->name);
    else
        sg_detail(detail, "no CA has a certificate with serial %s", a->hex);
    return SIGNET_E_NOTFOUND;
}

/* See ca.h. */
enum signet_err ca_revoke(struct ca_ctx *ctx, const struct ca_revoke_request *req,
                          struct ca_revoked *out, char *detail)
{
    struct rv_arg a;
    struct ca_ent *ca = NULL;
    char hex[2 * STORE_SERIAL_MAX + 1];
    long n;
    enum signet_err err;

    if (out != NULL)
        memset(out, 0, sizeof(*out));
    memset(&a, 0, sizeof(a));
    if ((n = parse_serial(req->serial_hex, a.serial)) <= 0) {
        sg_detail(detail, "serial %.48s: not a hex serial of 1 to %d octets",
                  req->serial_hex ? req->serial_hex : "(none)", STORE_SERIAL_MAX);
        return SIGNET_E_USAGE;
    }
    if (req->reason < 0 || req->reason > 10 || req->reason == 7 ||
        req->reason == CRL_REASON_REMOVE_FROM_CRL) {
        sg_detail(detail,
                  "reason code %d: not a revocation reason (RFC 5280 5.3.1); use one of: "
                  "%s",
                  req->reason, crl_reason_names());
        return SIGNET_E_USAGE;
    }
    /* the serial as the store keys it: leading zero octets do not make another serial */
    a.serial_len = (size_t)n;
    while (a.serial_len > 1 && a.serial[0] == 0)
        memmove(a.serial, a.serial + 1, --a.serial_len);
    sg_hex_encode(a.serial, a.serial_len, hex);
    a.hex = hex;
    a.req = req;
    a.now = sg_now();
    if (req->invalidity_date > a.now) {
        sg_detail(detail, "invalidity date in the future (RFC 5280 5.3.2: when the key is known "
                          "or suspected compromised)");
        return SIGNET_E_USAGE;
    }
    if ((err = find_ca(ctx, req, &a, &ca, detail)) != SIGNET_OK)
        return err;
    a.ca_name = ca->name;
    a.ca_id = ca->store_id;
    if ((err = store_write(ctx->st, rv_fn, &a, detail)) != SIGNET_OK)
        return err;
    sg_log(SG_LOG_INFO, "revoked %s/%s (%s) for %s", ca->name, hex, crl_reason_name(req->reason),
           req->requester ? req->requester : "cli");
    if (out != NULL) {
        snprintf(out->ca, sizeof(out->ca), "%s", ca->name);
        snprintf(out->serial, sizeof(out->serial), "%s", hex);
        snprintf(out->profile, sizeof(out->profile), "%s", a.profile);
        out->revoked_at = a.now;
        out->reason = req->reason;
    }
    /* durable now: the OCSP response is re-signed by the hook (ca_ocsp_presign), then the CRL */
    if (revoke_hook != NULL)
        revoke_hook(ctx, ca->name, hex, revoke_hook_arg);
    ca_crl_mark_dirty(ctx, ca->name);
    return SIGNET_OK;
}
