/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Evaluation of a request against a compiled profile: key rules, subject attributes and SANs,
 * into a decision with one reason per rule and the subject and SANs to issue.
 */
#include "internal.h"

#include <ctype.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REASONS_MAX 64
#define ATTR_MAX    128 /* bytes of one subject attribute value (RFC 5280 ub-* are 64..128) */

struct policy_decision {
    int allowed;
    enum signet_err err; /* class of the first refusal */
    char error[SIGNET_DETAIL_MAX];
    char *reasons[REASONS_MAX];
    size_t n;
    X509_NAME *subject;  /* to issue */
    GENERAL_NAMES *sans; /* to issue; NULL when none */
};

/* Records one rule's verdict; a refusal makes the decision a refusal (first one wins). */
static void verdict(struct policy_decision *d, enum signet_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void verdict(struct policy_decision *d, enum signet_err err, const char *fmt, ...)
{
    char buf[SIGNET_DETAIL_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (err != SIGNET_OK && d->allowed) {
        d->allowed = 0;
        d->err = err;
        snprintf(d->error, sizeof(d->error), "%s", buf);
    }
    if (d->n < REASONS_MAX)
        d->reasons[d->n++] = strdup(buf);
}

/* "ec:P-256"-style description of a key into out. */
static void key_desc(EVP_PKEY *pub, char *out, size_t cap)
{
    char group[64] = "";

    switch (EVP_PKEY_get_base_id(pub)) {
    case EVP_PKEY_EC:
        EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL);
        snprintf(out, cap, "ec:%s",
                 strcmp(group, "prime256v1") == 0  ? "P-256"
                 : strcmp(group, "secp384r1") == 0 ? "P-384"
                 : strcmp(group, "secp521r1") == 0 ? "P-521"
                                                   : group);
        break;
    case EVP_PKEY_RSA:
        snprintf(out, cap, "rsa:%d", EVP_PKEY_get_bits(pub));
        break;
    case EVP_PKEY_ED25519:
        snprintf(out, cap, "ed25519");
        break;
    default:
        snprintf(out, cap, "%s", OBJ_nid2sn(EVP_PKEY_get_base_id(pub)));
    }
    ERR_clear_error();
}

/* Key quality independent of the profile: RSA exponent 65537, EC point on the curve. */
static enum signet_err key_quality(EVP_PKEY *pub, const char *desc, char *detail)
{
    enum signet_err rc = SIGNET_OK;
    EVP_PKEY_CTX *pc = NULL;
    BIGNUM *e = NULL;

    if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA) {
        if (!EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_E, &e) || !BN_is_word(e, 65537)) {
            sg_detail(detail, "key: %s public exponent is not 65537; generate the key again", desc);
            rc = SIGNET_E_BADKEY;
        }
    } else if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC) {
        if ((pc = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL)) == NULL ||
            EVP_PKEY_public_check(pc) != 1) {
            sg_detail(detail, "key: %s public point is not valid on its curve", desc);
            rc = SIGNET_E_BADKEY;
        }
    }
    BN_free(e);
    EVP_PKEY_CTX_free(pc);
    ERR_clear_error();
    return rc;
}

enum signet_err policy_check_key(const struct policy_profile *p, EVP_PKEY *pub, char *detail)
{
    char desc[64], allowed[256] = "";
    int bits = EVP_PKEY_get_bits(pub), id = EVP_PKEY_get_base_id(pub);

    key_desc(pub, desc, sizeof(desc));
    for (size_t i = 0; i < p->nkeys; i++) {
        const struct pol_key_rule *r = &p->keys[i];
        char one[40];
        int ok = (r->kind == POL_KEY_EC_P256 && strcmp(desc, "ec:P-256") == 0) ||
                 (r->kind == POL_KEY_EC_P384 && strcmp(desc, "ec:P-384") == 0) ||
                 (r->kind == POL_KEY_ED25519 && id == EVP_PKEY_ED25519) ||
                 (r->kind == POL_KEY_RSA && id == EVP_PKEY_RSA && bits >= (int)r->rsa_min &&
                  bits <= (int)r->rsa_max);
        if (ok)
            return key_quality(pub, desc, detail);
        if (r->kind == POL_KEY_RSA)
            snprintf(one, sizeof(one), "rsa:%u-%u", r->rsa_min, r->rsa_max);
        else
            snprintf(one, sizeof(one), "%s",
                     r->kind == POL_KEY_EC_P256   ? "ec:P-256"
                     : r->kind == POL_KEY_EC_P384 ? "ec:P-384"
                                                  : "ed25519");
        if (strlen(allowed) + strlen(one) + 3 < sizeof(allowed))
            strcat(strcat(allowed, i ? ", " : ""), one);
    }
    sg_detail(detail,
              "key: %s is not allowed by profile %s (allowed: %s); make a CSR with an "
              "allowed key",
              desc, p->name, allowed);
    return SIGNET_E_BADKEY;
}

/* ---- names ---- */

/* 1 when s is a hostname of LDH labels (no wildcard), 1..253 bytes. */
static int valid_hostname(const char *s, size_t len)
{
    size_t lab = 0;

    if (len == 0 || len > 253 || s[0] == '.' || s[len - 1] == '.')
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (lab == 0 || s[i - 1] == '-')
                return 0;
            lab = 0;
            continue;
        }
        if (!isalnum(c) && !(c == '-' && lab > 0))
            return 0;
        if (++lab > 63)
            return 0;
    }
    return s[len - 1] != '-';
}

int policy_dns_match(const char *pattern, const char *name)
{
    size_t pl = strlen(pattern), nl = strlen(name);

    if (strncmp(pattern, "**.", 3) == 0) {
        const char *base = pattern + 2; /* ".example.test" */
        size_t bl = pl - 2;
        return nl > bl && strcasecmp(name + nl - bl, base) == 0;
    }
    if (strncmp(pattern, "*.", 2) == 0) {
        const char *base = pattern + 1;
        size_t bl = pl - 1;
        const char *dot = strchr(name, '.');
        return nl > bl && dot != NULL && dot == name + nl - bl && strcasecmp(dot, base) == 0;
    }
    return strcasecmp(pattern, name) == 0;
}

static int any_match(char **patterns, const char *v)
{
    if (patterns == NULL)
        return 1;
    for (char **p = patterns; *p; p++)
        if (policy_dns_match(*p, v))
            return 1;
    return 0;
}

/* Checks one requested SAN; counts it per kind; copies it into d->sans when allowed. */
static void check_san(const struct policy_profile *p, struct policy_decision *d,
                      const GENERAL_NAME *gn, unsigned counts[POL_SAN_KIND_MAX])
{
    int kind = gn->type == GEN_DNS     ? POL_SAN_DNS
               : gn->type == GEN_IPADD ? POL_SAN_IP
               : gn->type == GEN_EMAIL ? POL_SAN_EMAIL
               : gn->type == GEN_URI   ? POL_SAN_URI
                                       : -1;
    const ASN1_STRING *s = kind == POL_SAN_IP ? gn->d.iPAddress : gn->d.ia5;
    char v[256] = "";
    const struct pol_san_rule *r;

    if (kind < 0) {
        verdict(d, SIGNET_E_POLICY, "san: a SAN of type %d is not allowed by any rule", gn->type);
        return;
    }
    r = &p->san[kind];
    if (kind != POL_SAN_IP) {
        int len = ASN1_STRING_length(s);
        const unsigned char *b = ASN1_STRING_get0_data(s);
        if (len <= 0 || len >= (int)sizeof(v) || memchr(b, 0, (size_t)len) != NULL) {
            verdict(d, SIGNET_E_POLICY, "san.%s: a name that is empty, too long or holds NUL",
                    pol_san_kind_names[kind]);
            return;
        }
        memcpy(v, b, (size_t)len);
    } else if (ASN1_STRING_length(s) != 4 && ASN1_STRING_length(s) != 16) {
        verdict(d, SIGNET_E_POLICY, "san.ip: an address of %d bytes", ASN1_STRING_length(s));
        return;
    }
    if (r->need == POL_FORBIDDEN) {
        verdict(d, SIGNET_E_POLICY, "san.%s: forbidden by profile %s%s%s", pol_san_kind_names[kind],
                p->name, v[0] ? " (" : "", v[0] ? v : "");
        return;
    }
    if (kind == POL_SAN_DNS && !valid_hostname(v, strlen(v))) {
        verdict(d, SIGNET_E_POLICY,
                "san.dns: '%s' is not a hostname (letters, digits, '-', "
                "dots; no wildcards)",
                v);
        return;
    }
    if (kind == POL_SAN_EMAIL) {
        const char *at = strchr(v, '@');
        if (at == NULL || at == v || !any_match(r->patterns, at + 1)) {
            verdict(d, SIGNET_E_POLICY, "san.email: '%s' does not match the profile's domains", v);
            return;
        }
    } else if (kind != POL_SAN_IP && !any_match(r->patterns, v)) {
        verdict(d, SIGNET_E_POLICY, "san.%s: '%s' does not match the profile's match= patterns",
                pol_san_kind_names[kind], v);
        return;
    }
    counts[kind]++;
    if (d->sans == NULL && (d->sans = sk_GENERAL_NAME_new_null()) == NULL)
        return;
    GENERAL_NAME *dup = GENERAL_NAME_dup(gn);
    if (dup == NULL || !sk_GENERAL_NAME_push(d->sans, dup))
        GENERAL_NAME_free(dup);
}

/* The CSR's requested subjectAltName (NULL when none); refuses two of them. */
static GENERAL_NAMES *requested_sans(X509_REQ *req, struct policy_decision *d)
{
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
    GENERAL_NAMES *gens = NULL;
    int found = 0;

    for (int i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
        X509_EXTENSION *e = sk_X509_EXTENSION_value(exts, i);
        if (OBJ_obj2nid(X509_EXTENSION_get_object(e)) != NID_subject_alt_name)
            continue;
        if (found++) {
            verdict(d, SIGNET_E_POLICY, "san: the CSR requests subjectAltName twice");
            break;
        }
        if ((gens = X509V3_EXT_d2i(e)) == NULL)
            verdict(d, SIGNET_E_POLICY, "san: the CSR's subjectAltName does not parse");
    }
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    ERR_clear_error();
    return gens;
}

static void eval_sans(const struct policy_profile *p, X509_REQ *req, struct policy_decision *d)
{
    unsigned counts[POL_SAN_KIND_MAX] = {0};
    GENERAL_NAMES *gens = requested_sans(req, d);
    int n = sk_GENERAL_NAME_num(gens);

    if (n > POLICY_SAN_MAX)
        verdict(d, SIGNET_E_POLICY, "san: %d SANs, more than the %d allowed", n, POLICY_SAN_MAX);
    for (int i = 0; i < n && n <= POLICY_SAN_MAX; i++)
        check_san(p, d, sk_GENERAL_NAME_value(gens, i), counts);
    for (int k = 0; k < POL_SAN_KIND_MAX; k++) {
        const struct pol_san_rule *r = &p->san[k];
        unsigned max = r->max ? r->max : POLICY_SAN_MAX;
        if (r->need == POL_REQUIRED && counts[k] == 0)
            verdict(d, SIGNET_E_POLICY, "san.%s: required by profile %s, and the CSR has none",
                    pol_san_kind_names[k], p->name);
        else if (counts[k] > max)
            verdict(d, SIGNET_E_POLICY, "san.%s: %u names, more than max=%u", pol_san_kind_names[k],
                    counts[k], max);
        else if (counts[k] > 0)
            verdict(d, SIGNET_OK, "san.%s: ok (%u)", pol_san_kind_names[k], counts[k]);
    }
    GENERAL_NAMES_free(gens);
}

/* 1 when the attribute value equals one of the allowed SANs (DNS names, case-insensitive). */
static int value_is_san(const struct policy_decision *d, const char *v)
{
    for (int i = 0; i < sk_GENERAL_NAME_num(d->sans); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(d->sans, i);
        if ((gn->type == GEN_DNS || gn->type == GEN_EMAIL) &&
            strcasecmp((const char *)ASN1_STRING_get0_data(gn->d.ia5), v) == 0)
            return 1;
        if (gn->type == GEN_IPADD) {
            ASN1_OCTET_STRING *ip = a2i_IPADDRESS(v);
            int eq = ip && ASN1_STRING_cmp(ip, gn->d.iPAddress) == 0;
            ASN1_OCTET_STRING_free(ip);
            ERR_clear_error();
            if (eq)
                return 1;
        }
    }
    return 0;
}

static const struct pol_subj_rule *subj_rule(const struct policy_profile *p, int nid)
{
    for (size_t i = 0; i < p->nsubj; i++)
        if (p->subj[i].nid == nid)
            return &p->subj[i];
    return NULL;
}

/* Subject attributes: each must be allowed, appear once, and be copied to d->subject. */
static void eval_subject(const struct policy_profile *p, X509_REQ *req, struct policy_decision *d)
{
    const X509_NAME *name = X509_REQ_get_subject_name(req);

    for (int i = 0; i < X509_NAME_entry_count(name); i++) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
        int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
        const struct pol_subj_rule *r = subj_rule(p, nid);
        const ASN1_STRING *s = X509_NAME_ENTRY_get_data(e);
        unsigned char *utf8 = NULL;
        int len = ASN1_STRING_to_UTF8(&utf8, s);
        const char *an = nid != NID_undef ? OBJ_nid2sn(nid) : "unknown attribute";

        if (r == NULL || r->need == POL_FORBIDDEN)
            verdict(d, SIGNET_E_POLICY, "subject.%s: forbidden by profile %s", r ? r->name : an,
                    p->name);
        else if (X509_NAME_get_index_by_NID(name, nid, i) >= 0)
            verdict(d, SIGNET_E_POLICY, "subject.%s: given more than once", r->name);
        else if (len <= 0 || len > ATTR_MAX || memchr(utf8, 0, (size_t)len) != NULL)
            verdict(d, SIGNET_E_POLICY, "subject.%s: empty, longer than %d bytes or holds NUL",
                    r->name, ATTR_MAX);
        else if (r->must_be_san && !value_is_san(d, (const char *)utf8))
            verdict(d, SIGNET_E_POLICY, "subject.%s: '%s' must also be one of the SANs", r->name,
                    (const char *)utf8);
        else if (!X509_NAME_add_entry(d->subject, e, -1, 0))
            verdict(d, SIGNET_E_INTERNAL, "subject.%s: out of memory", r->name);
        else
            verdict(d, SIGNET_OK, "subject.%s: ok", r->name);
        OPENSSL_free(utf8);
        ERR_clear_error();
    }
    for (size_t i = 0; i < p->nsubj; i++)
        if (p->subj[i].need == POL_REQUIRED &&
            X509_NAME_get_index_by_NID(name, p->subj[i].nid, -1) < 0)
            verdict(d, SIGNET_E_POLICY, "subject.%s: required by profile %s, and the CSR has none",
                    p->subj[i].name, p->name);
}

enum signet_err policy_evaluate(const struct policy_profile *p, X509_REQ *req,
                                struct policy_decision **out, char *detail)
{
    struct policy_decision *d = NULL;
    EVP_PKEY *pub = X509_REQ_get0_pubkey(req);
    char why[SIGNET_DETAIL_MAX] = "";

    *out = NULL;
    if ((d = calloc(1, sizeof(*d))) == NULL || (d->subject = X509_NAME_new()) == NULL) {
        policy_decision_free(d);
        sg_detail(detail, "policy %s: out of memory", p->name);
        return SIGNET_E_NOMEM;
    }
    d->allowed = 1;
    if (pub == NULL)
        verdict(d, SIGNET_E_BADKEY, "key: the CSR's public key does not parse");
    else if (policy_check_key(p, pub, why) != SIGNET_OK)
        verdict(d, SIGNET_E_BADKEY, "%s", why);
    else
        verdict(d, SIGNET_OK, "key: ok");
    eval_sans(p, req, d); /* before the subject: must-be-a-SAN looks at the allowed SANs */
    eval_subject(p, req, d);
    verdict(d, SIGNET_OK,
            "extensions: only the profile's section is issued; requested "
            "extensions other than subjectAltName are ignored");
    *out = d;
    return SIGNET_OK;
}

void policy_decision_free(struct policy_decision *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->reasons[i]);
    X509_NAME_free(d->subject);
    GENERAL_NAMES_free(d->sans);
    free(d);
}

int policy_decision_allowed(const struct policy_decision *d)
{
    return d->allowed;
}

const char *policy_decision_error(const struct policy_decision *d)
{
    return d->allowed ? "" : d->error;
}

enum signet_err policy_decision_err(const struct policy_decision *d)
{
    return d->allowed ? SIGNET_OK : d->err;
}

size_t policy_decision_count(const struct policy_decision *d)
{
    return d->n;
}

const char *policy_decision_reason(const struct policy_decision *d, size_t i)
{
    return i < d->n && d->reasons[i] ? d->reasons[i] : "";
}

const X509_NAME *policy_decision_subject(const struct policy_decision *d)
{
    return d->subject;
}

const GENERAL_NAMES *policy_decision_sans(const struct policy_decision *d)
{
    return d->sans;
}
