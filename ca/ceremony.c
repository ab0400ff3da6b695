/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ceremony engine (docs/ceremonies.md): one operation per ceremony file (OpenSSL config
 * syntax, section [ceremony]). A dry run needs no shares: it draws the serial, builds and lints
 * the TBS and writes a plan holding the exact TBS and the ceremony file's SHA-256. The real run
 * rebuilds the TBS from the file with the plan's serial and refuses unless the bytes are the
 * plan's, activates the quorum, signs exactly those bytes, verifies, writes the output and
 * appends a signed transcript to the audit chain.
 */
#include "ceremony_internal.h"

#include <openssl/conf.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum cer_op { OP_ROOT_INIT, OP_SIGN_SUB, OP_CROSS_SIGN, OP_ROOT_CRL, OP_ROOT_ROLLOVER, OP_MAX };

static const struct {
    const char *name;
    const char *keys; /* allowed keys, space-separated and space-framed */
    const char *required;
} ops[OP_MAX] = {
    [OP_ROOT_INIT] = {"root-init",
                      " operation ca token subject type days quorum shares_dir pass_dir ",
                      " ca token subject type quorum shares_dir "},
    [OP_SIGN_SUB] = {"sign-subordinate", " operation ca csr profile not_before not_after out ",
                     " ca csr profile not_before not_after out "},
    [OP_CROSS_SIGN] = {"cross-sign", " operation ca cert profile not_before not_after out ",
                       " ca cert profile not_before not_after out "},
    [OP_ROOT_CRL] = {"root-crl", " operation ca ", " ca "},
    [OP_ROOT_ROLLOVER] = {"root-rollover",
                          " operation ca new_ca subject type days profile out_dir ",
                          " ca new_ca subject type profile out_dir "},
};

/* A ceremony file read and checked. */
struct cer {
    struct sg_conf *conf;
    enum cer_op op;
    char hash[65]; /* SHA-256 of the file's bytes */
    const char *file;
};

static const char *get(const struct cer *c, const char *key)
{
    return sg_conf_get(c->conf, "ceremony", key);
}

/* Refuses keys the operation does not know and missing required keys. */
static enum signet_err check_keys(struct cer *c, char *detail)
{
    STACK_OF(CONF_VALUE) *sec = NCONF_get_section(sg_conf_nconf(c->conf), "ceremony");
    char word[80];

    for (int i = 0; sec != NULL && i < sk_CONF_VALUE_num(sec); i++) {
        const char *k = sk_CONF_VALUE_value(sec, i)->name;
        snprintf(word, sizeof(word), " %s ", k);
        if (strlen(k) > 60 || strstr(ops[c->op].keys, word) == NULL) {
            sg_detail(detail, "%s: unknown key '%.60s' in [ceremony] for operation %s (known:%s)",
                      c->file, k, ops[c->op].name, ops[c->op].keys);
            return SIGNET_E_USAGE;
        }
    }
    for (const char *p = ops[c->op].required; *p;) {
        size_t n;
        while (*p == ' ')
            p++;
        if ((n = strcspn(p, " ")) == 0)
            break;
        snprintf(word, sizeof(word), "%.*s", (int)n, p);
        if (get(c, word) == NULL) {
            sg_detail(detail, "%s: [ceremony] needs %s = ... for operation %s", c->file, word,
                      ops[c->op].name);
            return SIGNET_E_USAGE;
        }
        p += n;
    }
    return SIGNET_OK;
}

/* Loads the ceremony file, hashes its bytes and checks its keys. */
static enum signet_err cer_load(const char *file, struct cer *c, char *detail)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    const char *op;
    enum signet_err rc;

    memset(c, 0, sizeof(*c));
    c->file = file;
    if ((rc = sg_read_file(file, CEREMONY_FILE_MAX, &buf, &len, detail)) != SIGNET_OK)
        return rc;
    cer_sha256_hex(buf, len, c->hash);
    free(buf);
    if ((rc = sg_conf_load(file, &c->conf, detail)) != SIGNET_OK)
        return rc;
    if ((op = get(c, "operation")) == NULL) {
        sg_detail(detail,
                  "%s: [ceremony] needs operation = root-init | sign-subordinate | "
                  "cross-sign | root-crl | root-rollover",
                  file);
        return SIGNET_E_USAGE;
    }
    for (c->op = 0; c->op < OP_MAX && strcmp(ops[c->op].name, op) != 0; c->op++)
        ;
    if (c->op == OP_MAX) {
        sg_detail(detail, "%s: unknown operation '%.40s'", file, op);
        return SIGNET_E_USAGE;
    }
    return check_keys(c, detail);
}

/* A path from the ceremony file: relative to the file's directory. Caller frees. */
static char *cer_path(const struct cer *c, const char *key)
{
    return sg_conf_path(c->conf, get(c, key));
}

/* ---- the plan ---- */

/* Writes the plan: a text file naming the ceremony and holding the TBS in hex. */
static enum signet_err plan_write(const char *path, const struct cer *c, const char *ca,
                                  const unsigned char *serial, int64_t planned,
                                  const unsigned char *tbs, size_t len, const char *tbs_hash,
                                  char *detail)
{
    size_t cap = 2 * len + 1024;
    char *text = malloc(cap), ser[2 * CEREMONY_SERIAL_LEN + 1];
    int n;
    enum signet_err rc;

    if (text == NULL)
        return SIGNET_E_NOMEM;
    sg_hex_encode(serial, CEREMONY_SERIAL_LEN, ser);
    n = snprintf(text, cap,
                 "# Signet ceremony plan: compare the TBS SHA-256 with what the real run prints\n"
                 "signet-plan 1\nceremony-sha256 %s\noperation %s\nca %s\nserial %s\n"
                 "planned %lld\ntbs-sha256 %s\ntbs ",
                 c->hash, ops[c->op].name, ca, ser, (long long)planned, tbs_hash);
    sg_hex_encode(tbs, len, text + n);
    strcat(text, "\n");
    rc = sg_write_file(path, text, strlen(text), 0644, detail);
    free(text);
    return rc;
}

int cer_line_field(const char *text, const char *key, char *out, size_t cap)
{
    size_t k = strlen(key);

    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, k) == 0 && p[k] == ' ') {
            size_t n = strcspn(p + k + 1, "\n");
            if (n >= cap)
                return 0;
            memcpy(out, p + k + 1, n);
            out[n] = 0;
            return 1;
        }
    }
    return 0;
}

/* Reads a plan and checks it names this ceremony file and CA; fills the serial and TBS. */
static enum signet_err plan_read(const char *path, const struct cer *c, const char *ca,
                                 unsigned char *serial, int64_t *planned, unsigned char **tbs,
                                 size_t *tbs_len, char *detail)
{
    unsigned char *text = NULL;
    size_t len = 0;
    char v[128], *hex = NULL;
    uint64_t when = 0;
    long n;
    enum signet_err rc;

    *tbs = NULL;
    if ((rc = sg_read_file(path, CEREMONY_PLAN_MAX, &text, &len, detail)) != SIGNET_OK)
        return rc;
    rc = SIGNET_E_INVALID;
    if (!cer_line_field((char *)text, "signet-plan", v, sizeof(v)) || strcmp(v, "1") != 0) {
        sg_detail(detail, "%s: not a Signet ceremony plan", path);
        goto out;
    }
    rc = SIGNET_E_FORBIDDEN;
    if (!cer_line_field((char *)text, "ceremony-sha256", v, sizeof(v)) || strcmp(v, c->hash) != 0) {
        sg_detail(detail,
                  "%s was made from another ceremony file than %s (SHA-256 %.16s... vs "
                  "%.16s...); run the dry run again and review the new plan",
                  path, c->file, v, c->hash);
        goto out;
    }
    if (!cer_line_field((char *)text, "ca", v, sizeof(v)) || strcmp(v, ca) != 0) {
        sg_detail(detail, "%s: the plan is for CA %s, not %s", path, v, ca);
        goto out;
    }
    rc = SIGNET_E_INVALID;
    if (!cer_line_field((char *)text, "planned", v, sizeof(v)) ||
        !sg_parse_u64(v, 0, (uint64_t)INT64_MAX, &when) ||
        !cer_line_field((char *)text, "serial", v, sizeof(v)) ||
        sg_hex_decode(v, serial, CEREMONY_SERIAL_LEN) != CEREMONY_SERIAL_LEN ||
        (hex = malloc(len + 1)) == NULL || !cer_line_field((char *)text, "tbs", hex, len + 1) ||
        (*tbs = malloc(strlen(hex) / 2 + 1)) == NULL ||
        (n = sg_hex_decode(hex, *tbs, strlen(hex) / 2 + 1)) <= 0) {
        sg_detail(detail, "%s: the plan's serial or TBS is malformed", path);
        goto out;
    }
    *tbs_len = (size_t)n;
    *planned = (int64_t)when;
    rc = SIGNET_OK;
out:
    if (rc != SIGNET_OK) {
        free(*tbs);
        *tbs = NULL;
    }
    free(hex);
    free(text);
    return rc;
}

/* ---- signing ceremonies ---- */

/* What the signing ceremony certifies: the CSR's (after the profile) or the cert's name and key. */
struct subject_src {
    struct policy_csr *req;
    X509 *cert;
    struct policy_decision *dec;
    char input_hash[65];
    char *input_path;
};

static void subject_src_free(struct subject_src *s)
{
    policy_csr_free(s->req);
    X509_free(s->cert);
    policy_decision_free(s->dec);
    free(s->input_path);
}

/* Reads the CSR (sign-subordinate, evaluated under the profile) or the certificate. */
static enum signet_err read_subject(const struct cer *c, const struct policy_profile *prof,
                                    struct subject_src *s, char *detail)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    enum signet_err rc;

    if ((s->input_path = cer_path(c, c->op == OP_SIGN_SUB ? "csr" : "cert")) == NULL)
        return SIGNET_E_NOMEM;
    if ((rc = sg_read_file(s->input_path, CA_CSR_MAX, &buf, &len, detail)) != SIGNET_OK)
        return rc;
    cer_sha256_hex(buf, len, s->input_hash);
    if (c->op == OP_CROSS_SIGN) {
        free(buf);
        return (s->cert = ca_load_cert_file(s->input_path, detail)) ? SIGNET_OK : SIGNET_E_INVALID;
    }
    rc = policy_csr_parse(buf, len, &s->req, detail);
    free(buf);
    if (rc != SIGNET_OK)
        return rc;
    if ((rc = policy_evaluate(prof, s->req, &s->dec, detail)) != SIGNET_OK)
        return rc;
    if (!policy_decision_allowed(s->dec)) {
        sg_detail(detail, "%s: profile %s refuses it: %s", s->input_path, policy_profile_name(prof),
                  policy_decision_error(s->dec));
        return policy_decision_err(s->dec);
    }
    return SIGNET_OK;
}

/* Fills the TBS input from the file: CA, profile, subject, key, validity. */
static enum signet_err tbs_input(struct ca_ctx *ctx, const struct cer *c, struct subject_src *s,
                                 struct cer_tbs_in *in, char *detail)
{
    const char *ca = get(c, "ca"), *profile = get(c, "profile");
    enum signet_err rc;

    memset(in, 0, sizeof(*in));
    if ((in->ca = ca_ent_find(ctx, ca)) == NULL || in->ca->cert == NULL) {
        sg_detail(detail, "CA %s: %s", ca, in->ca ? "has no certificate" : "not in signet.conf");
        return SIGNET_E_NOTFOUND;
    }
    if ((in->prof = policy_set_get(ctx->policies, profile)) == NULL) {
        sg_detail(detail, "profile %s: no such file in the policies directory", profile);
        return SIGNET_E_NOTFOUND;
    }
    if (!ca_profile_allowed(ctx, ca, profile)) {
        sg_detail(detail, "CA %s does not list profile %s in its profiles", ca, profile);
        return SIGNET_E_POLICY;
    }
    if (!sg_parse_time(get(c, "not_before"), &in->not_before) ||
        !sg_parse_time(get(c, "not_after"), &in->not_after)) {
        sg_detail(detail, "%s: not_before and not_after are times like 2026-12-01T00:00:00Z",
                  c->file);
        return SIGNET_E_USAGE;
    }
    if ((rc = read_subject(c, in->prof, s, detail)) != SIGNET_OK)
        return rc;
    if (s->cert != NULL) {
        in->subject = X509_get_subject_name(s->cert);
        in->pub = X509_get0_pubkey(s->cert);
    } else {
        in->subject = policy_decision_subject(s->dec);
        in->pub = policy_csr_key(s->req);
        in->csr = s->req;
    }
    return SIGNET_OK;
}

/* Activates the CA's token when it is offline (pin = quorum) and returns its key. */
static enum signet_err activate(struct ca_ctx *ctx, struct ca_ent *ca,
                                const struct ca_ceremony_opts *o, EVP_PKEY **key, char *shares,
                                size_t cap, char *detail)
{
    struct ca_share_src src[CA_SHARES_MAX];
    size_t n = o->nshares < CA_SHARES_MAX ? o->nshares : CA_SHARES_MAX;
    enum signet_err rc;

    shares[0] = 0;
    memcpy(src, o->shares, n * sizeof(*src));
    if (ca->token >= 0 && ca_token_is_quorum(&ctx->tokens[ca->token]) &&
        ctx->tokens[ca->token].tok == NULL &&
        (rc = ca_quorum_activate(ctx, ctx->tokens[ca->token].name, src, n, shares, cap, detail)) !=
            SIGNET_OK)
        return rc;
    return ca_ent_key(ctx, ca, key, detail);
}

/* Writes the certificate as PEM, refusing to replace an existing file. */
static enum signet_err write_out(const char *path, const unsigned char *der, size_t len,
                                 char *detail)
{
    BIO *b = BIO_new(BIO_s_mem());
    BUF_MEM *m = NULL;
    enum signet_err rc = SIGNET_E_CRYPTO;

    if (access(path, F_OK) == 0) {
        sg_detail(detail, "%s exists; name a new out = file in the ceremony file", path);
        BIO_free(b);
        return SIGNET_E_EXISTS;
    }
    if (b != NULL && PEM_write_bio(b, "CERTIFICATE", "", der, (long)len) > 0) {
        BIO_get_mem_ptr(b, &m);
        rc = sg_write_file(path, m->data, m->length, 0644, detail);
    }
    BIO_free(b);
    return rc;
}

/*
 * Records the certificate in the signing CA's store records: PENDING with the TBS before the
 * token signs (a serial already used, e.g. a plan run twice, is refused here), ISSUED with the
 * certificate after (bytes: the TBS, then the certificate).
 */
static enum signet_err record(struct ca_ctx *ctx, const struct cer_tbs_in *in, const char *profile,
                              enum store_cert_state state, const unsigned char *bytes, size_t len,
                              char *detail)
{
    struct store_cert c;
    char hex[2 * CEREMONY_SERIAL_LEN + 1];
    enum signet_err rc;

    memset(&c, 0, sizeof(c));
    if (in->ca->store_id == 0) {
        sg_detail(detail, "CA %s has no store record", in->ca->name);
        return SIGNET_E_STORE;
    }
    c.ca_id = in->ca->store_id;
    memcpy(c.serial, in->serial, CEREMONY_SERIAL_LEN);
    c.serial_len = CEREMONY_SERIAL_LEN;
    c.state = state;
    c.not_after = in->not_after;
    c.created = sg_now();
    c.reason = -1;
    snprintf(c.profile, sizeof(c.profile), "%s", profile);
    snprintf(c.requester, sizeof(c.requester), "ceremony");
    c.der = (unsigned char *)bytes;
    c.der_len = len;
    rc = store_cert_put(ctx->st, &c, state == STORE_CERT_PENDING, detail);
    sg_hex_encode(in->serial, CEREMONY_SERIAL_LEN, hex);
    if (rc == SIGNET_E_EXISTS)
        sg_detail(detail,
                  "serial %s of CA %s is already used (was this plan signed before?); run the "
                  "dry run again for a new plan",
                  hex, in->ca->name);
    return rc;
}

/* The real run's transcript (signed and appended by cer_transcript_append). */
static enum signet_err transcript(struct ca_ctx *ctx, const struct cer *c, struct cer_tbs_in *in,
                                  EVP_PKEY *key, const struct subject_src *s,
                                  const struct ca_ceremony_opts *o,
                                  const struct ca_ceremony_result *r, int64_t started, char *detail)
{
    char text[4096], t0[32], t1[32], plan_hash[65] = "none";
    unsigned char *buf = NULL;
    size_t len = 0;

    if (o->plan_in && sg_read_file(o->plan_in, CEREMONY_PLAN_MAX, &buf, &len, NULL) == SIGNET_OK)
        cer_sha256_hex(buf, len, plan_hash);
    free(buf);
    sg_format_time(started, t0, sizeof(t0));
    sg_format_time(sg_now(), t1, sizeof(t1));
    snprintf(text, sizeof(text),
             "signet-transcript 1\noperation %s\nca %s\nceremony-file %s\nceremony-sha256 %s\n"
             "input %s sha256 %s\nplan-sha256 %s\nshares %s\nserial %s\ntbs-sha256 %s\n"
             "output %s sha256 %s\nstarted %s\nfinished %s\n",
             r->operation, in->ca->name, c->file, c->hash, s->input_path, s->input_hash, plan_hash,
             r->shares[0] ? r->shares : "none", r->serial, r->tbs_sha256, r->out, r->out_sha256, t0,
             t1);
    return cer_transcript_append(ctx, in->ca, key, text, detail);
}

/* sign-subordinate and cross-sign: dry run or real run. */
static enum signet_err run_sign(struct ca_ctx *ctx, const struct cer *c,
                                const struct ca_ceremony_opts *o, struct ca_ceremony_result *r,
                                char *detail)
{
    struct subject_src s = {0};
    struct cer_tbs_in in;
    unsigned char *tbs = NULL, *plan_tbs = NULL, *der = NULL;
    size_t len = 0, plan_len = 0, dlen = 0;
    char *out = NULL;
    EVP_PKEY *key = NULL;
    int64_t started = sg_now();
    enum signet_err rc;

    if ((rc = tbs_input(ctx, c, &s, &in, detail)) != SIGNET_OK)
        goto out;
    if (o->plan_in && !o->dry_run) {
        if ((rc = plan_read(o->plan_in, c, in.ca->name, in.serial, &in.planned, &plan_tbs,
                            &plan_len, detail)) != SIGNET_OK)
            goto out;
    } else if (!ca_new_serial(in.serial)) {
        rc = SIGNET_E_CRYPTO;
        goto out;
    } else {
        in.planned = started;
    }
    if ((rc = cer_build_tbs(ctx, &in, &tbs, &len, detail)) != SIGNET_OK)
        goto out;
    rc = SIGNET_E_FORBIDDEN;
    if (plan_tbs && (plan_len != len || memcmp(plan_tbs, tbs, len) != 0)) {
        sg_detail(detail,
                  "%s: its TBS is not what %s makes now (the CA, the profile or an input "
                  "changed since the dry run); nothing signed: run the dry run again",
                  o->plan_in, c->file);
        goto out;
    }
    cer_sha256_hex(tbs, len, r->tbs_sha256);
    sg_hex_encode(in.serial, CEREMONY_SERIAL_LEN, r->serial);
    sg_format_time(in.not_before < in.planned ? in.not_before : in.planned, r->not_before,
                   sizeof(r->not_before));
    sg_format_time(in.not_after, r->not_after, sizeof(r->not_after));
    X509_NAME_oneline(in.subject, r->subject, sizeof(r->subject));
    if (o->dry_run) {
        rc = o->plan_out ? plan_write(o->plan_out, c, in.ca->name, in.serial, in.planned, tbs, len,
                                      r->tbs_sha256, detail)
                         : SIGNET_OK;
        goto out;
    }
    rc = SIGNET_E_NOMEM;
    if ((out = cer_path(c, "out")) == NULL)
        goto out;
    if (access(out, F_OK) == 0) {
        sg_detail(detail, "%s exists; name a new out = file in the ceremony file", out);
        rc = SIGNET_E_EXISTS;
        goto out;
    }
    if ((rc = activate(ctx, in.ca, o, &key, r->shares, sizeof(r->shares), detail)) != SIGNET_OK ||
        (rc = record(ctx, &in, get(c, "profile"), STORE_CERT_PENDING, tbs, len, detail)) !=
            SIGNET_OK ||
        (rc = cer_sign_tbs(tbs, len, key, in.ca->cert, &der, &dlen, detail)) != SIGNET_OK ||
        (rc = record(ctx, &in, get(c, "profile"), STORE_CERT_ISSUED, der, dlen, detail)) !=
            SIGNET_OK ||
        (rc = write_out(out, der, dlen, detail)) != SIGNET_OK)
        goto out;
    snprintf(r->out, sizeof(r->out), "%s", out);
    cer_sha256_hex(der, dlen, r->out_sha256);
    rc = transcript(ctx, c, &in, key, &s, o, r, started, detail);
out:
    subject_src_free(&s);
    OPENSSL_free(tbs);
    OPENSSL_free(der);
    free(plan_tbs);
    free(out);
    return rc;
}

/*
 * root-crl: the quorum activates the CA's token and the CRL engine (ca_crl_generate) builds,
 * lints, signs, verifies and publishes the CRL; the transcript names its number and hash. The dry
 * run only checks the file and the CA (the CRL's content is decided at signing time).
 */
static enum signet_err run_root_crl(struct ca_ctx *ctx, const struct cer *c,
                                    const struct ca_ceremony_opts *o, struct ca_ceremony_result *r,
                                    char *detail)
{
    struct ca_ent *ca = ca_ent_find(ctx, get(c, "ca"));
    struct ca_crl_result res = {0};
    unsigned char *buf = NULL;
    size_t len = 0;
    char text[2048], t0[32], t1[32], path[600];
    EVP_PKEY *key = NULL;
    int64_t started = sg_now();
    enum signet_err rc;

    if (ca == NULL || ca->cert == NULL) {
        sg_detail(detail, "CA %s: %s", get(c, "ca"),
                  ca ? "has no certificate" : "not in signet.conf");
        return SIGNET_E_NOTFOUND;
    }
    if (o->dry_run)
        return SIGNET_OK;
    if ((rc = activate(ctx, ca, o, &key, r->shares, sizeof(r->shares), detail)) != SIGNET_OK ||
        (rc = ca_crl_generate(ctx, ca->name, &res, detail)) != SIGNET_OK)
        return rc;
    snprintf(path, sizeof(path), "%s/crl/%s.crl", ctx->public_dir, ca->name);
    snprintf(r->out, sizeof(r->out), "%.500s", path);
    if (sg_read_file(path, 64u << 20, &buf, &len, NULL) == SIGNET_OK)
        cer_sha256_hex(buf, len, r->out_sha256);
    free(buf);
    sg_format_time(started, t0, sizeof(t0));
    sg_format_time(sg_now(), t1, sizeof(t1));
    snprintf(text, sizeof(text),
             "signet-transcript 1\noperation root-crl\nca %s\nceremony-file %s\n"
             "ceremony-sha256 %s\nshares %s\ncrl-number %llu\nentries %zu\n"
             "output %s sha256 %s\nstarted %s\nfinished %s\n",
             ca->name, c->file, c->hash, r->shares[0] ? r->shares : "none",
             (unsigned long long)res.number, res.entries, r->out, r->out_sha256, t0, t1);
    return cer_transcript_append(ctx, ca, key, text, detail);
}

/* root-init from a ceremony file: the same as `signet root init`. */
static enum signet_err run_root_init(struct ca_ctx *ctx, const struct cer *c,
                                     const struct ca_ceremony_opts *o, char *detail)
{
    struct ca_root_init_opts ro = {0};
    char *shares = cer_path(c, "shares_dir"), *pass = NULL;
    uint64_t days = 0;
    unsigned m = 0, n = 0;
    enum signet_err rc = SIGNET_E_USAGE;

    if (sscanf(get(c, "quorum"), "%u/%u", &m, &n) != 2 ||
        (get(c, "days") && !sg_parse_u64(get(c, "days"), 1, 36500, &days))) {
        sg_detail(detail, "%s: quorum = M/N and days = 1..36500", c->file);
        goto out;
    }
    if (get(c, "pass_dir") && (pass = cer_path(c, "pass_dir")) == NULL)
        goto out;
    ro.name = get(c, "ca");
    ro.token = get(c, "token");
    ro.subject = get(c, "subject");
    ro.type = get(c, "type");
    ro.days = (int64_t)days;
    ro.m = m;
    ro.n = n;
    ro.shares_dir = shares;
    ro.pass_dir = pass;
    rc = o->dry_run ? SIGNET_OK : ca_root_init(ctx, &ro, detail);
out:
    free(shares);
    free(pass);
    return rc;
}

/* See ceremony_internal.h: ceremony steps the rollover shares. */
enum signet_err cer_activate(struct ca_ctx *ctx, struct ca_ent *ca,
                             const struct ca_ceremony_opts *o, EVP_PKEY **key, char *shares,
                             size_t cap, char *detail)
{
    return activate(ctx, ca, o, key, shares, cap, detail);
}

enum signet_err cer_record(struct ca_ctx *ctx, const struct cer_tbs_in *in, const char *profile,
                           enum store_cert_state state, const unsigned char *bytes, size_t len,
                           char *detail)
{
    return record(ctx, in, profile, state, bytes, len, detail);
}

enum signet_err cer_write_out(const char *path, const unsigned char *der, size_t len, char *detail)
{
    return write_out(path, der, len, detail);
}

/* root-rollover: the file's keys handed to ceremony_rollover.c. */
static enum signet_err run_rollover(struct ca_ctx *ctx, const struct cer *c,
                                    const struct ca_ceremony_opts *o, struct ca_ceremony_result *r,
                                    char *detail)
{
    struct cer_roll_in f = {.file = c->file,
                            .hash = c->hash,
                            .ca = get(c, "ca"),
                            .new_ca = get(c, "new_ca"),
                            .subject = get(c, "subject"),
                            .type = get(c, "type"),
                            .days = get(c, "days"),
                            .profile = get(c, "profile"),
                            .opts = o};
    char *dir = cer_path(c, "out_dir");
    enum signet_err rc;

    if (dir == NULL)
        return SIGNET_E_NOMEM;
    f.out_dir = dir;
    rc = cer_run_rollover(ctx, &f, r, detail);
    free(dir);
    return rc;
}

enum signet_err ca_ceremony_run(struct ca_ctx *ctx, const struct ca_ceremony_opts *o,
                                struct ca_ceremony_result *out, char *detail)
{
    struct cer c;
    enum signet_err rc;

    memset(out, 0, sizeof(*out));
    if ((rc = cer_load(o->file, &c, detail)) != SIGNET_OK)
        goto out;
    snprintf(out->operation, sizeof(out->operation), "%s", ops[c.op].name);
    switch (c.op) {
    case OP_SIGN_SUB:
    case OP_CROSS_SIGN:
        rc = run_sign(ctx, &c, o, out, detail);
        break;
    case OP_ROOT_INIT:
        rc = run_root_init(ctx, &c, o, detail);
        break;
    case OP_ROOT_CRL:
        rc = run_root_crl(ctx, &c, o, out, detail);
        break;
    case OP_ROOT_ROLLOVER:
        rc = run_rollover(ctx, &c, o, out, detail);
        break;
    default: /* every operation of ops[] has its case above */
        sg_detail(detail, "this operation is not available (see docs/ceremonies.md); nothing done");
        rc = SIGNET_E_USAGE;
    }
out:
    sg_conf_free(c.conf);
    return rc;
}
