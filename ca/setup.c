/* SPDX-License-Identifier: Apache-2.0 */
/* CA certificates and the operator's CA set-up: ca create (signed now or a CSR), import-cert. */
#include "internal.h"

#include <ctype.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY              86400LL
#define ROOT_DAYS        3650
#define SUBORDINATE_DAYS 1825

/* Adds one extension from its OpenSSL config text. 1 = ok. */
static int add_ext_txt(X509 *x, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, nid, value);
    int ok = e != NULL && X509_add_ext(x, e, -1);

    X509_EXTENSION_free(e);
    return ok;
}

/* Validity from now for days, clamped to the issuer's notAfter. 1 = ok. */
static int ca_validity(X509 *x, X509 *issuer, int64_t days)
{
    int64_t now = sg_now(), end = now + days * DAY;
    struct tm tm;

    if (issuer != NULL && ASN1_TIME_to_tm(X509_get0_notAfter(issuer), &tm)) {
        int64_t ina = (int64_t)timegm(&tm);
        if (ina <= now)
            return 0;
        if (end > ina)
            end = ina;
    }
    return ASN1_TIME_set(X509_getm_notBefore(x), (time_t)now) &&
           ASN1_TIME_set(X509_getm_notAfter(x), (time_t)end);
}

enum signet_err ca_build_ca_cert(const struct ca_cert_params *cp, X509 **out, char *detail)
{
    X509 *x = X509_new();
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    ASN1_INTEGER *ai = NULL;
    EVP_PKEY *verify_pub = cp->issuer ? X509_get0_pubkey(cp->issuer) : cp->subject_pub;
    char bc[64];
    enum signet_err rc = SIGNET_E_CRYPTO;

    *out = NULL;
    if (cp->pathlen >= 0)
        snprintf(bc, sizeof(bc), "critical,CA:TRUE,pathlen:%d", cp->pathlen);
    else
        snprintf(bc, sizeof(bc), "critical,CA:TRUE");
    if (x == NULL || !ca_new_serial(serial) || (bn = BN_bin2bn(serial, 16, NULL)) == NULL ||
        (ai = BN_to_ASN1_INTEGER(bn, NULL)) == NULL || !X509_set_serialNumber(x, ai) ||
        !X509_set_version(x, X509_VERSION_3) || !X509_set_subject_name(x, cp->subject) ||
        !X509_set_issuer_name(x, cp->issuer ? X509_get_subject_name(cp->issuer) : cp->subject) ||
        !X509_set_pubkey(x, cp->subject_pub))
        goto out;
    if (!ca_validity(x, cp->issuer, cp->days)) {
        sg_detail(detail, "the issuing CA's certificate has expired");
        rc = SIGNET_E_POLICY;
        goto out;
    }
    if (!add_ext_txt(x, NID_basic_constraints, bc) ||
        !add_ext_txt(x, NID_key_usage, "critical,keyCertSign,cRLSign") ||
        !ca_add_ski_aki(x, cp->issuer ? cp->issuer : x))
        goto out;
    if (X509_sign(x, cp->sign_key, ca_sign_md(verify_pub)) <= 0) {
        sg_detail(detail, "signing the CA certificate on the token failed");
        sg_detail_openssl(detail);
        rc = SIGNET_E_HSM;
        goto out;
    }
    if (X509_verify(x, verify_pub) != 1) {
        sg_detail(detail, "the CA certificate's signature does not verify; not used");
        rc = SIGNET_E_HSM;
        goto out;
    }
    *out = x;
    x = NULL;
    rc = SIGNET_OK;
out:
    if (rc == SIGNET_E_CRYPTO) {
        sg_detail(detail, "cannot build the CA certificate");
        sg_detail_openssl(detail);
    }
    ERR_clear_error();
    ASN1_INTEGER_free(ai);
    BN_free(bn);
    X509_free(x);
    return rc;
}

/* Writes a CSR for the CA's token key (signed by it) to path, for a ceremony. */
static enum signet_err write_csr(struct ca_ent *ca, const X509_NAME *subject, const char *path,
                                 char *detail)
{
    X509_REQ *req = X509_REQ_new();
    EVP_PKEY *pub = hsm_key_public(ca->key);
    BIO *b = BIO_new(BIO_s_mem());
    BUF_MEM *m = NULL;
    enum signet_err rc = SIGNET_E_CRYPTO;

    if (req == NULL || b == NULL || !X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
        !X509_REQ_set_subject_name(req, subject) || !X509_REQ_set_pubkey(req, pub) ||
        X509_REQ_sign(req, ca->evp, ca_sign_md(pub)) <= 0 || !PEM_write_bio_X509_REQ(b, req)) {
        sg_detail(detail, "CA %s: cannot make its CSR", ca->name);
        sg_detail_openssl(detail);
        goto out;
    }
    BIO_get_mem_ptr(b, &m);
    rc = sg_write_file(path, m->data, m->length, 0644, detail);
out:
    BIO_free(b);
    X509_REQ_free(req);
    return rc;
}

/* Makes the new CA's certificate now (self-signed or by a usable parent) and records it. */
static enum signet_err certify(struct ca_ctx *ctx, struct ca_ent *ca, const X509_NAME *subject,
                               EVP_PKEY *parent_key, struct ca_ent *parent, int64_t days,
                               int pathlen, char *detail)
{
    struct ca_cert_params cp = {subject,
                                hsm_key_public(ca->key),
                                parent ? parent->cert : NULL,
                                parent ? parent_key : ca->evp,
                                days,
                                pathlen};
    X509 *x = NULL;
    enum signet_err rc;

    if ((rc = ca_build_ca_cert(&cp, &x, detail)) != SIGNET_OK)
        return rc;
    X509_free(ca->cert);
    ca->cert = x;
    if (!hsm_key_pin_public(ca->key, X509_get0_pubkey(x))) {
        sg_detail(detail, "CA %s: its key no longer matches its new certificate", ca->name);
        return SIGNET_E_HSM;
    }
    if ((rc = ca_write_cert(ca->cert_path, x, detail)) != SIGNET_OK)
        return rc;
    return ca_store_ca(ctx, ca, detail);
}

/*
 * Generates the CA's key on its token, then certifies it: self-signed without a parent; by the
 * parent when the parent's key can be used now; otherwise a CSR goes to csr_out (a ceremony).
 */
enum signet_err ca_make(struct ca_ctx *ctx, struct ca_ent *ca, enum hsm_key_type type,
                        const X509_NAME *subject, int64_t days, int pathlen, const char *csr_out,
                        enum ca_create_result *res, char *detail)
{
    struct ca_ent *parent = ca->parent[0] ? ca_ent_find(ctx, ca->parent) : NULL;
    struct hsm_token *tok = NULL;
    char label[128], why[SIGNET_DETAIL_MAX] = "", sect[CA_NAME_MAX + 8];
    const char *bk;
    unsigned flags;
    EVP_PKEY *pkey = NULL;
    enum signet_err rc;

    if (ca->parent[0] && (parent == NULL || parent->cert == NULL)) {
        sg_detail(detail, "CA %s: parent %s %s", ca->name, ca->parent,
                  parent ? "has no certificate yet" : "is not a CA in signet.conf");
        return SIGNET_E_NOTFOUND;
    }
    ca_uri_attr(ca->key_uri, "object", label, sizeof(label));
    if (ca->token < 0) {
        sg_detail(detail, "CA %s: no [token.*] section holds the token of %s", ca->name,
                  ca->key_uri);
        return SIGNET_E_CONFIG;
    }
    if ((rc = ca_token(ctx, ctx->tokens[ca->token].name, &tok, detail)) != SIGNET_OK)
        return rc;
    /* online CA keys are marked for backup (wrapped only under a trusted key, docs/backup.md);
     * a key on a quorum (offline) token never leaves it; [ca.NAME] backup = no opts out */
    snprintf(sect, sizeof(sect), "ca.%s", ca->name);
    bk = sg_conf_get(ctx->conf, sect, "backup");
    flags = ca_token_is_quorum(&ctx->tokens[ca->token]) || (bk != NULL && strcmp(bk, "no") == 0)
                ? 0
                : HSM_KEYGEN_BACKUP;
    if ((rc = hsm_keygen(tok, label, type, flags, &ca->key, why)) != SIGNET_OK) {
        sg_detail(detail, "CA %s: key %s on token %s: %s", ca->name, label, hsm_token_label(tok),
                  why);
        return rc;
    }
    if ((rc = hsm_key_evp(ca->key, &ca->evp, detail)) != SIGNET_OK)
        return rc;
    if (parent != NULL && ca_ent_key(ctx, parent, &pkey, why) != SIGNET_OK) {
        if (csr_out == NULL) {
            sg_detail(detail,
                      "CA %s: the parent %s cannot sign now (%s); give --csr-out FILE "
                      "to write a CSR for a ceremony",
                      ca->name, parent->name, why);
            return SIGNET_E_HSM_UNAVAILABLE;
        }
        if ((rc = write_csr(ca, subject, csr_out, detail)) == SIGNET_OK)
            *res = CA_CREATED_CSR;
        return rc;
    }
    if ((rc = certify(ctx, ca, subject, pkey, parent, days, pathlen, detail)) == SIGNET_OK)
        *res = CA_CREATED_SIGNED;
    return rc;
}

/* 1 when name is a usable CA name: letters, digits, '-', '_', '.'; not empty; short. */
static int valid_name(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n >= CA_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '-' && name[i] != '_' && name[i] != '.')
            return 0;
    return 1;
}

/* Appends text to the configuration file, atomically. */
static enum signet_err conf_append(struct ca_ctx *ctx, const char *text, char *detail)
{
    unsigned char *old = NULL;
    size_t len = 0;
    char *all = NULL;
    enum signet_err rc;

    if ((rc = sg_read_file(sg_conf_file(ctx->conf), 1u << 20, &old, &len, detail)) != SIGNET_OK)
        return rc;
    if ((all = malloc(len + strlen(text) + 2)) == NULL) {
        free(old);
        return SIGNET_E_NOMEM;
    }
    memcpy(all, old, len);
    if (len > 0 && all[len - 1] != '\n')
        all[len++] = '\n';
    memcpy(all + len, text, strlen(text));
    rc = sg_write_file(sg_conf_file(ctx->conf), all, len + strlen(text), 0644, detail);
    free(all);
    free(old);
    return rc;
}

/* RFC 7512 2.3: percent-encodes a URI attribute value (a token label may hold spaces). */
static void uri_pct(const char *in, char *out, size_t cap)
{
    size_t n = 0;

    for (; *in && n + 4 < cap; in++) {
        unsigned char c = (unsigned char)*in;
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
            out[n++] = (char)c;
        else
            n += (size_t)snprintf(out + n, cap - n, "%%%02X", c);
    }
    out[n] = 0;
}

/* Adds a new CA entry to the context (after its section is written). */
static struct ca_ent *add_ent(struct ca_ctx *ctx, const struct ca_create_opts *o, const char *label,
                              char *detail)
{
    struct ca_ent *ca;
    char uri[512], cert[300], enc[200];

    if (ctx->ncas + 1 >= CA_CAS_CAP) { /* the array has CA_CAS_CAP slots and never moves */
        sg_detail(detail, "CA %s: a configuration holds at most %d CAs", o->name, CA_CAS_CAP - 1);
        return NULL;
    }
    ca = &ctx->cas[ctx->ncas];
    memset(ca, 0, sizeof(*ca));
    uri_pct(label, enc, sizeof(enc));
    snprintf(uri, sizeof(uri), "pkcs11:token=%s;object=%s", enc, o->name);
    snprintf(cert, sizeof(cert), "%s/%s.crt", ctx->public_dir, o->name);
    ca->token = -1;
    for (size_t i = 0; i < ctx->ntokens; i++)
        if (strcmp(ctx->tokens[i].label, label) == 0)
            ca->token = (int)i;
    ca->name = strdup(o->name);
    ca->parent = strdup(o->parent ? o->parent : "");
    ca->key_uri = strdup(uri);
    ca->cert_path = strdup(cert);
    ca->profiles = strdup(o->profiles ? o->profiles : "tls-server, tls-client");
    ctx->ncas++;
    if (!ca->name || !ca->parent || !ca->key_uri || !ca->cert_path || !ca->profiles ||
        (ca->profile_list = sg_split_list(ca->profiles, NULL)) == NULL) {
        sg_detail(detail, "CA %s: out of memory", o->name);
        return NULL;
    }
    return ca;
}

/* Checks the options of ca create; fills type and subject. */
static enum signet_err create_check(struct ca_ctx *ctx, const struct ca_create_opts *o,
                                    enum hsm_key_type *type, X509_NAME **subject, char *detail)
{
    if (!valid_name(o->name)) {
        sg_detail(detail, "CA name '%s': use letters, digits, '-', '_' or '.'", o->name);
        return SIGNET_E_USAGE;
    }
    if (ca_ent_find(ctx, o->name) != NULL) {
        sg_detail(detail, "CA %s: already in %s; choose another name", o->name,
                  sg_conf_file(ctx->conf));
        return SIGNET_E_EXISTS;
    }
    if (o->parent && o->parent[0] && ca_ent_find(ctx, o->parent) == NULL) {
        sg_detail(detail, "CA %s: no such parent CA; see `signet ca list`", o->parent);
        return SIGNET_E_NOTFOUND;
    }
    if (!hsm_key_type_parse(o->type, type)) {
        sg_detail(detail,
                  "key type '%s': use ec:P-256, ec:P-384, rsa:2048, rsa:3072, rsa:4096 or "
                  "ed25519",
                  o->type);
        return SIGNET_E_USAGE;
    }
    if ((*subject = ca_parse_dn(o->subject)) == NULL) {
        sg_detail(detail, "subject '%s': write it as CN=Name,O=Org or /CN=Name/O=Org", o->subject);
        return SIGNET_E_USAGE;
    }
    return SIGNET_OK;
}

enum signet_err ca_create(struct ca_ctx *ctx, const struct ca_create_opts *o,
                          enum ca_create_result *out_result, char *detail)
{
    enum hsm_key_type type;
    X509_NAME *subject = NULL;
    struct hsm_token *tok = NULL;
    struct ca_ent *ca;
    char section[2048];
    enum signet_err rc;

    *out_result = 0;
    if ((rc = create_check(ctx, o, &type, &subject, detail)) != SIGNET_OK)
        goto out;
    if ((rc = ca_token(ctx, o->token, &tok, detail)) != SIGNET_OK)
        goto out;
    rc = SIGNET_E_NOMEM;
    if ((ca = add_ent(ctx, o, hsm_token_label(tok), detail)) == NULL)
        goto out;
    snprintf(section, sizeof(section),
             "\n# added by signet ca create\n[ca.%s]\nkey      = %s\ncert     = public/%s.crt\n"
             "%s%s%sprofiles = %s\n",
             ca->name, ca->key_uri, ca->name, ca->parent[0] ? "parent   = " : "", ca->parent,
             ca->parent[0] ? "\n" : "", ca->profiles);
    if ((rc = conf_append(ctx, section, detail)) != SIGNET_OK)
        goto out;
    rc = ca_make(ctx, ca, type, subject,
                 o->days > 0 ? o->days : (ca->parent[0] ? SUBORDINATE_DAYS : ROOT_DAYS), o->pathlen,
                 o->csr_out, out_result, detail);
    if (rc == SIGNET_OK)
        rc = ca_audit(ctx, "operator", *out_result == CA_CREATED_CSR ? "ca-csr" : "ca-create",
                      ca->name, detail);
out:
    X509_NAME_free(subject);
    return rc;
}

/*
 * The checks of import-cert on the certificate alone and against the parent: RFC 5280 4.2.1.9
 * CA:TRUE, 4.2.1.3 keyCertSign, and issued by the configured parent (names, AKI, the parent's
 * key usage, and the signature) or, for a root, self-signed.
 */
static enum signet_err import_checks(struct ca_ctx *ctx, struct ca_ent *ca, X509 *x,
                                     const char *cert_path, char *detail)
{
    uint32_t flags = X509_get_extension_flags(x);
    struct ca_ent *parent = ca->parent[0] ? ca_ent_find(ctx, ca->parent) : NULL;
    X509 *issuer = parent ? parent->cert : x;

    if (!(flags & EXFLAG_BCONS) || !(flags & EXFLAG_CA)) {
        sg_detail(detail,
                  "%s: RFC 5280 4.2.1.9: not a CA certificate (basicConstraints CA:TRUE "
                  "missing); it cannot sign certificates",
                  cert_path);
        return SIGNET_E_POLICY;
    }
    if (!(flags & EXFLAG_KUSAGE) || !(X509_get_key_usage(x) & KU_KEY_CERT_SIGN)) {
        sg_detail(detail,
                  "%s: RFC 5280 4.2.1.3: keyUsage lacks keyCertSign; a CA certificate "
                  "needs it",
                  cert_path);
        return SIGNET_E_POLICY;
    }
    if (ca->parent[0] && (parent == NULL || parent->cert == NULL)) {
        sg_detail(detail, "CA %s: its parent %s has no certificate to check the import against",
                  ca->name, ca->parent);
        return SIGNET_E_NOTFOUND;
    }
    if (X509_check_issued(issuer, x) != X509_V_OK ||
        X509_verify(x, X509_get0_pubkey(issuer)) != 1) {
        if (parent)
            sg_detail(detail,
                      "%s: not issued by the configured parent CA %s (issuer name, "
                      "key identifier or signature differ); import the certificate "
                      "the parent signed",
                      cert_path, ca->parent);
        else
            sg_detail(detail,
                      "%s: CA %s has no parent, and this certificate is not "
                      "self-signed",
                      cert_path, ca->name);
        ERR_clear_error();
        return SIGNET_E_POLICY;
    }
    return SIGNET_OK;
}

enum signet_err ca_import_cert(struct ca_ctx *ctx, const char *name, const char *cert_path,
                               char *detail)
{
    struct ca_ent *ca = ca_ent_find(ctx, name);
    struct hsm_key *key = NULL;
    X509 *x = NULL, *old = NULL;
    enum signet_err rc;

    if (ca == NULL) {
        sg_detail(detail, "CA %s: no such CA; see `signet ca list`", name);
        return SIGNET_E_NOTFOUND;
    }
    if ((x = ca_load_cert_file(cert_path, detail)) == NULL)
        return SIGNET_E_INVALID;
    old = ca->cert; /* the key is compared with the new certificate, not the old one */
    ca->cert = NULL;
    if ((rc = ca_ent_hsm_key(ctx, ca, &key, detail)) != SIGNET_OK)
        goto out;
    rc = SIGNET_E_BADKEY;
    if (EVP_PKEY_eq(X509_get0_pubkey(x), hsm_key_public(key)) != 1) {
        sg_detail(detail,
                  "%s: its public key is not the key of CA %s (%s); import the "
                  "certificate issued for this CA's CSR",
                  cert_path, name, ca->key_uri);
        goto out;
    }
    if ((rc = import_checks(ctx, ca, x, cert_path, detail)) != SIGNET_OK)
        goto out;
    rc = SIGNET_E_BADKEY;
    if (!hsm_key_pin_public(key, X509_get0_pubkey(x)))
        goto out;
    ca->cert = x;
    x = NULL;
    if ((rc = ca_write_cert(ca->cert_path, ca->cert, detail)) == SIGNET_OK &&
        (rc = ca_store_ca(ctx, ca, detail)) == SIGNET_OK)
        rc = ca_audit(ctx, "operator", "ca-import-cert", name, detail);
out:
    if (ca->cert == NULL) {
        ca->cert = old; /* refused: the CA keeps the certificate it had */
        old = NULL;
    }
    ERR_clear_error();
    X509_free(old);
    X509_free(x);
    return rc;
}
