/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `signet key migrate --from URI --to URI`: a private key moved between tokens or PKCS#11
 * modules by wrap and unwrap only (hsmbind/wrap.c), then proven: the new key signs a random
 * message that the CA certificate's public key verifies. The clear key is never in Signet's
 * memory: an RSA-3072 transport pair is made on the destination, a fresh AES-256 key on the
 * source travels wrapped under it (RSA-OAEP), and the private key travels wrapped under that
 * (CKM_AES_KEY_WRAP_PAD). Every transport object is destroyed on both sides on every path.
 */
#include "internal.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The token and key labels of a URI, checked: both must be present. */
static enum signet_err mig_parse(const char *what, const char *uri, char *tok, size_t tcap,
                                 char *obj, size_t ocap, char *detail)
{
    if (uri == NULL || strncmp(uri, "pkcs11:", 7) != 0 || strlen(uri) > 500) {
        sg_detail(detail, "--%s must be an RFC 7512 URI \"pkcs11:token=T;object=L\"", what);
        return SIGNET_E_USAGE;
    }
    ca_uri_attr(uri, "token", tok, tcap);
    ca_uri_attr(uri, "object", obj, ocap);
    if (tok[0] == '\0' || (obj[0] == '\0' && strcmp(what, "from") == 0)) {
        sg_detail(detail, "--%s %s must name the token (token=) %s", what, uri,
                  strcmp(what, "from") == 0 ? "and the key (object=)" : "");
        return SIGNET_E_USAGE;
    }
    return SIGNET_OK;
}

/* The certificate that proves the key: --cert, else the CA whose key = names this token+label. */
static X509 *mig_cert(struct ca_ctx *ctx, const struct ca_migrate_opts *o, const char *tok,
                      const char *obj, char *ca_name, size_t cap, char *detail)
{
    char t[128], l[256];

    if (o->cert_path != NULL)
        return ca_load_cert_file(o->cert_path, detail);
    for (size_t i = 0; i < ctx->ncas; i++) {
        struct ca_ent *ca = &ctx->cas[i];
        ca_uri_attr(ca->key_uri, "token", t, sizeof(t));
        ca_uri_attr(ca->key_uri, "object", l, sizeof(l));
        if (strcmp(t, tok) == 0 && strcmp(l, obj) == 0 && ca->cert != NULL) {
            snprintf(ca_name, cap, "%s", ca->name);
            X509_up_ref(ca->cert);
            return ca->cert;
        }
    }
    sg_detail(detail,
              "no CA in %s uses key %s;%s give --cert FILE: the certificate whose public key "
              "the migrated key must match",
              sg_conf_file(ctx->conf), obj, "");
    return NULL;
}

/* The listing entry of the private key labelled obj, or NULL; *clash: a key object uses it. */
static enum signet_err mig_lookup(struct hsm_token *tok, const char *obj,
                                  struct hsm_object_info *out, int *found, char *detail)
{
    struct hsm_object_info *v = NULL;
    size_t n = 0;
    enum signet_err rc = hsm_token_objects(tok, &v, &n, detail);

    *found = 0;
    for (size_t i = 0; rc == SIGNET_OK && i < n; i++) {
        if (strcmp(v[i].label, obj) != 0)
            continue;
        if (*found == 0 || v[i].is_private)
            *out = v[i];
        *found = 1;
    }
    free(v);
    return rc;
}

/* Names of the transport objects: unique per run, so a run never touches another's. */
struct mig_names {
    char kek[48], kek2[48], pair[48];
};

static int mig_names(struct mig_names *nm)
{
    unsigned char r[6];
    char hex[13];

    if (RAND_bytes(r, sizeof(r)) != 1)
        return 0;
    sg_hex_encode(r, sizeof(r), hex);
    snprintf(nm->kek, sizeof(nm->kek), "signet-migrate-kek-%s", hex);
    snprintf(nm->kek2, sizeof(nm->kek2), "signet-migrate-kek-%s-in", hex);
    snprintf(nm->pair, sizeof(nm->pair), "signet-migrate-rsa-%s", hex);
    return 1;
}

/*
 * The source's AES transport key: trusted (made by the SO, before the user logs in in this
 * process) when the operator gave the SO PIN, which a key made for backup
 * (CKA_WRAP_WITH_TRUSTED) needs; otherwise a plain one in the user's login.
 */
static enum signet_err mig_source_kek(struct ca_ctx *ctx, struct ca_token_ent *src,
                                      const struct secret *so_pin, const struct mig_names *nm,
                                      char *detail)
{
    struct hsm_token_config cfg = {0};
    struct hsm_token *tok = NULL;
    enum signet_err rc;

    if (so_pin == NULL) {
        if ((rc = ca_token(ctx, src->name, &tok, detail)) != SIGNET_OK)
            return rc;
        return hsm_wrapkey_generate(tok, nm->kek, HSM_WRAPKEY_EXTRACTABLE, NULL, detail);
    }
    if (src->tok != NULL) {
        sg_detail(detail,
                  "token %s is already logged in as the user in this process; the SO "
                  "cannot log in",
                  src->label);
        return SIGNET_E_INTERNAL;
    }
    cfg.module = src->module;
    cfg.token_label = src->label;
    cfg.init_reserved = src->init_reserved;
    if ((rc = hsm_token_open(&cfg, NULL, &tok, detail)) != SIGNET_OK)
        return rc;
    rc = hsm_wrapkey_generate(tok, nm->kek, HSM_WRAPKEY_TRUSTED | HSM_WRAPKEY_EXTRACTABLE, so_pin,
                              detail);
    hsm_token_free(tok);
    return rc;
}

/* The checks before anything is written: extractable source, free label on the destination. */
static enum signet_err mig_precheck(struct hsm_token *st, struct hsm_token *dt, const char *sobj,
                                    const char *dobj, const char *from, char *detail)
{
    struct hsm_object_info info;
    enum signet_err rc;
    int found;

    if ((rc = mig_lookup(st, sobj, &info, &found, detail)) != SIGNET_OK)
        return rc;
    if (!found || !info.is_private) {
        sg_detail(detail, "no private key labelled '%s' on token %s (%s)", sobj,
                  hsm_token_label(st), from);
        return SIGNET_E_NOTFOUND;
    }
    if (!info.extractable) {
        sg_detail(detail,
                  "key %s is not extractable (CKA_EXTRACTABLE false%s): the token will never "
                  "let it out, wrapped or not, so it cannot be migrated. Generate a new key on "
                  "the destination token, certify it for the same CA name (signet ca rollover) "
                  "and cross-sign between the old and the new key; nothing was changed",
                  from, info.never_extractable ? ", and it never was" : "");
        return SIGNET_E_FORBIDDEN;
    }
    if (info.type == HSM_KEY_ED25519) {
        sg_detail(detail,
                  "key %s is Ed25519, which SoftHSM 2.6 cannot wrap: re-key and "
                  "cross-sign instead; nothing was changed",
                  from);
        return SIGNET_E_FORBIDDEN;
    }
    if ((rc = mig_lookup(dt, dobj, &info, &found, detail)) != SIGNET_OK)
        return rc;
    if (found) {
        sg_detail(detail,
                  "destination token %s already holds a key labelled '%s'; nothing was "
                  "changed. Choose another label (--to ...;object=NEW) or remove that key",
                  hsm_token_label(dt), dobj);
        return SIGNET_E_EXISTS;
    }
    return SIGNET_OK;
}

/* The moves themselves, once the tokens are open and the checks passed. */
static enum signet_err mig_move(struct hsm_token *st, struct hsm_token *dt, struct hsm_key *key,
                                X509 *cert, const char *dobj, unsigned flags,
                                const struct mig_names *nm, struct hsm_key **out, char *detail)
{
    EVP_PKEY *tpub = NULL;
    unsigned char *kblob = NULL, *blob = NULL;
    size_t klen = 0, len = 0;
    enum signet_err rc;

    if ((rc = hsm_transport_keypair(dt, nm->pair, &tpub, detail)) != SIGNET_OK ||
        (rc = hsm_wrapkey_export(st, nm->kek, tpub, &kblob, &klen, detail)) != SIGNET_OK ||
        (rc = hsm_wrapkey_import(dt, nm->pair, kblob, klen, nm->kek2, detail)) != SIGNET_OK ||
        (rc = hsm_wrap(key, nm->kek, &blob, &len, detail)) != SIGNET_OK)
        goto out;
    rc = hsm_unwrap(dt, nm->kek2, blob, len, X509_get0_pubkey(cert), dobj, flags, out, detail);
out:
    free(kblob);
    free(blob);
    EVP_PKEY_free(tpub);
    return rc;
}

/* Destroys the transport objects on both sides (best effort: logged, never fatal). */
static void mig_cleanup(struct hsm_token *st, struct hsm_token *dt, const struct mig_names *nm)
{
    char why[SIGNET_DETAIL_MAX] = "";

    if (st != NULL && hsm_object_destroy(st, nm->kek, NULL, why) != SIGNET_OK)
        sg_log(SG_LOG_WARN, "transport key %s left on %s: %s", nm->kek, hsm_token_label(st), why);
    if (dt != NULL && (hsm_object_destroy(dt, nm->kek2, NULL, why) != SIGNET_OK ||
                       hsm_object_destroy(dt, nm->pair, NULL, why) != SIGNET_OK))
        sg_log(SG_LOG_WARN, "transport objects left on %s: %s", hsm_token_label(dt), why);
}

/* Opens both tokens (source through the SO step first when asked) and runs the checks. */
static enum signet_err mig_open(struct ca_ctx *ctx, const struct ca_migrate_opts *o,
                                struct ca_token_ent *se, struct ca_token_ent *de, const char *sobj,
                                const char *dobj, const struct mig_names *nm, struct hsm_token **st,
                                struct hsm_token **dt, int *kek_made, char *detail)
{
    enum signet_err rc;

    *kek_made = 0;
    if (o->source_so_pin != NULL) {
        if ((rc = mig_source_kek(ctx, se, o->source_so_pin, nm, detail)) != SIGNET_OK)
            return rc;
        *kek_made = 1;
    }
    if ((rc = ca_token(ctx, se->name, st, detail)) != SIGNET_OK ||
        (rc = ca_token(ctx, de->name, dt, detail)) != SIGNET_OK)
        return rc;
    if ((rc = mig_precheck(*st, *dt, sobj, dobj, o->from, detail)) != SIGNET_OK)
        return rc;
    if (!*kek_made) {
        if ((rc = mig_source_kek(ctx, se, NULL, nm, detail)) != SIGNET_OK)
            return rc;
        *kek_made = 1;
    }
    return SIGNET_OK;
}

enum signet_err ca_key_migrate(struct ca_ctx *ctx, const struct ca_migrate_opts *o,
                               struct ca_migrate_result *res, char *detail)
{
    char stok[128], sobj[256], dtok[128], dobj[256], why[SIGNET_DETAIL_MAX] = "";
    struct ca_token_ent *se, *de;
    struct hsm_token *st = NULL, *dt = NULL;
    struct hsm_key *key = NULL, *moved = NULL;
    struct hsm_object_info info;
    struct mig_names nm;
    X509 *cert = NULL;
    enum signet_err rc;
    int kek_made = 0, found = 0;

    memset(res, 0, sizeof(*res));
    if ((rc = mig_parse("from", o->from, stok, sizeof(stok), sobj, sizeof(sobj), detail)) !=
            SIGNET_OK ||
        (rc = mig_parse("to", o->to, dtok, sizeof(dtok), dobj, sizeof(dobj), detail)) != SIGNET_OK)
        return rc;
    if (dobj[0] == '\0')
        snprintf(dobj, sizeof(dobj), "%s", sobj);
    if ((se = ca_token_ent_find(ctx, stok)) == NULL ||
        (de = ca_token_ent_find(ctx, dtok)) == NULL) {
        sg_detail(detail,
                  "token %s: no [token.*] section with that name or label in %s; add one "
                  "(module, token, pin) for each side",
                  se == NULL ? stok : dtok, sg_conf_file(ctx->conf));
        return SIGNET_E_CONFIG;
    }
    if (se == de && strcmp(sobj, dobj) == 0) {
        sg_detail(detail, "--from and --to name the same key");
        return SIGNET_E_USAGE;
    }
    if (ca_token_is_quorum(se) || ca_token_is_quorum(de)) {
        sg_detail(detail, "a quorum token (pin = quorum) is used only in a ceremony; migrate "
                          "its key there");
        return SIGNET_E_FORBIDDEN;
    }
    if ((cert = mig_cert(ctx, o, stok, sobj, res->ca, sizeof(res->ca), detail)) == NULL)
        return o->cert_path != NULL ? SIGNET_E_INVALID : SIGNET_E_NOTFOUND;
    if (!mig_names(&nm)) {
        rc = SIGNET_E_CRYPTO;
        goto out;
    }
    rc = mig_open(ctx, o, se, de, sobj, dobj, &nm, &st, &dt, &kek_made, detail);
    if (rc != SIGNET_OK)
        goto out;
    if ((rc = hsm_key_find(st, o->from, &key, detail)) != SIGNET_OK)
        goto out;
    if (!hsm_key_pin_public(key, X509_get0_pubkey(cert))) {
        sg_detail(detail, "key %s does not match the certificate's public key; nothing was moved",
                  o->from);
        rc = SIGNET_E_BADKEY;
        goto out;
    }
    if ((rc = mig_lookup(st, sobj, &info, &found, detail)) != SIGNET_OK)
        goto out;
    rc = mig_move(st, dt, key, cert, dobj, info.extractable && !o->seal ? HSM_KEYGEN_BACKUP : 0,
                  &nm, &moved, detail);
    if (rc == SIGNET_E_FORBIDDEN && o->source_so_pin == NULL && strstr(detail, "trusted")) {
        sg_detail(detail,
                  "key %s was made for backup: it may be wrapped only under a trusted key, "
                  "which only the Security Officer of token %s can make; give "
                  "--source-so-pin-file FILE (mode 0600); nothing was changed",
                  o->from, se->label);
        goto out;
    }
    if (rc == SIGNET_E_INVALID && strcmp(se->module, de->module) != 0) {
        char why2[SIGNET_DETAIL_MAX];
        snprintf(why2, sizeof(why2), "%s", detail);
        sg_detail(detail,
                  "%s. Between modules this usually means the source padded the key in a way "
                  "the destination refuses: SoftHSM 2.6 zero-pads the PKCS#8 before RFC 5649 "
                  "wrapping, which stricter modules (NSS softoken) reject (docs/keys.md)",
                  why2);
    }
    if (rc != SIGNET_OK)
        goto out;
    res->proven = 1; /* hsm_unwrap signed a random message verified with the certificate's key */
    snprintf(res->new_uri, sizeof(res->new_uri), "%s", hsm_key_uri(moved));
    if (ca_audit(ctx, "operator", "key.migrate", res->new_uri, why) != SIGNET_OK)
        sg_log(SG_LOG_WARN, "key migrated, audit entry not written: %s", why);
out:
    if (kek_made && st == NULL && ca_token(ctx, se->name, &st, why) != SIGNET_OK)
        sg_log(SG_LOG_WARN, "transport key %s left on token %s: %s", nm.kek, se->label, why);
    if (kek_made || dt != NULL)
        mig_cleanup(kek_made ? st : NULL, dt, &nm);
    hsm_key_free(moved);
    hsm_key_free(key);
    X509_free(cert);
    return rc;
}
