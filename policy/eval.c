/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Evaluation of a request against a compiled profile: the CSR's signature hash and requested
 * extensions, the key, SANs and subject attributes, into a decision with one verdict per rule
 * and the subject and SANs to issue.
 */
#include "internal.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void pol_printable(const unsigned char *s, size_t len, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < len && o + 5 < cap; i++) {
        if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\')
            out[o++] = (char)s[i];
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", s[i]);
    }
    if (cap)
        out[o < cap ? o : cap - 1] = '\0';
}

void pol_verdict(struct policy_decision *d, enum signet_err err, const char *rule,
                 const char *value, const char *fmt, ...)
{
    char why[SIGNET_DETAIL_MAX], text[SIGNET_DETAIL_MAX + 64];
    struct pol_reason *r;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (err == SIGNET_OK)
        snprintf(text, sizeof(text), "%s: ok%s%s%s", rule, value[0] ? " (" : "", value,
                 value[0] ? ")" : "");
    else
        snprintf(text, sizeof(text), "%s: %s", rule, why);
    if (err != SIGNET_OK && d->allowed) {
        d->allowed = 0;
        d->err = err;
        size_t l = strnlen(text, sizeof(d->error) - 1);
        memcpy(d->error, text, l);
        d->error[l] = '\0';
    }
    if (d->n == POL_REASONS_MAX)
        return;
    r = &d->reasons[d->n];
    r->rule = strdup(rule);
    r->value = strdup(value);
    r->why = strdup(err == SIGNET_OK && strcmp(why, "allowed") == 0 ? "" : why);
    r->text = strdup(text);
    r->allowed = err == SIGNET_OK;
    if (r->rule && r->value && r->why && r->text)
        d->n++;
    else
        free(r->rule), free(r->value), free(r->why), free(r->text);
}

/*
 * The hash an RSASSA-PSS signature stands on (RFC 4055 3.1): its hash parameter or MGF1's,
 * whichever is SHA-1 (the default of both); NID_undef when the parameters do not parse.
 */
static int pss_md(const X509_ALGOR *alg)
{
    RSA_PSS_PARAMS *pss =
        alg->parameter != NULL
            ? ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(RSA_PSS_PARAMS), alg->parameter)
            : NULL;
    int md = NID_sha1, mgf = NID_sha1;

    if (pss == NULL && alg->parameter != NULL)
        return NID_undef;
    if (pss != NULL && pss->hashAlgorithm != NULL)
        md = OBJ_obj2nid(pss->hashAlgorithm->algorithm);
    if (pss != NULL && pss->maskHash != NULL)
        mgf = OBJ_obj2nid(pss->maskHash->algorithm);
    RSA_PSS_PARAMS_free(pss);
    return mgf == NID_sha1 ? NID_sha1 : md;
}

/*
 * The CSR's own signature: MD2, MD4, MD5 and SHA-1 are refused (collisions, RFC 6151, 9155),
 * also as the hash of an RSASSA-PSS signature.
 */
static void eval_signature(const struct policy_csr *req, struct policy_decision *d)
{
    int sig = req->sig_nid, md = NID_undef, pk = NID_undef;
    const char *name = OBJ_nid2ln(sig);
    int known = sig == NID_rsassaPss ? (md = pss_md(req->sig_alg)) != NID_undef
                                     : OBJ_find_sigid_algs(sig, &md, &pk);

    if (!known)
        pol_verdict(d, SIGNET_E_BADCSR, "csr.signature", name ? name : "unknown",
                    "an unknown signature algorithm, or parameters that do not parse");
    else if (md == NID_md2 || md == NID_md4 || md == NID_md5 || md == NID_sha1 || md == NID_mdc2 ||
             md == NID_md5_sha1)
        pol_verdict(d, SIGNET_E_BADCSR, "csr.signature", name,
                    "signed with %s, a broken hash; sign the CSR with SHA-256 or better",
                    OBJ_nid2sn(md));
    else
        pol_verdict(d, SIGNET_OK, "csr.signature", name, "allowed");
    ERR_clear_error();
}

/* The key against the profile, then the blocked-key table through the caller's callback. */
static void eval_key(const struct policy_profile *p, const struct policy_csr *req,
                     const struct policy_eval_opts *opts, struct policy_decision *d)
{
    EVP_PKEY *pub = req->pub;
    unsigned char h[POLICY_SPKI_HASH];
    char why[SIGNET_DETAIL_MAX] = "", hex[2 * POLICY_SPKI_HASH + 1], desc[64];
    int blocked;

    if (pub == NULL) {
        pol_verdict(d, SIGNET_E_BADKEY, "key", "", "the CSR's public key does not parse");
        return;
    }
    if (policy_check_key(p, pub, why) != SIGNET_OK) {
        pol_verdict(d, SIGNET_E_BADKEY, "key", "", "%s", strncmp(why, "key: ", 5) ? why : why + 5);
        return;
    }
    pol_key_desc(pub, desc, sizeof(desc));
    pol_verdict(d, SIGNET_OK, "key", desc, "allowed");
    if (opts == NULL || opts->key_blocked == NULL)
        return;
    /*
     * The key as it would be certified (what a keyCompromise revocation blocks), and, when that
     * is another encoding of the point (compressed, hybrid), the key in its usual form: the same
     * key must not come back in another encoding.
     */
    SHA256(req->spki_der, req->spki_der_len, h);
    blocked = opts->key_blocked(h, opts->key_blocked_arg);
    if (blocked == 0) {
        unsigned char canon[POLICY_SPKI_HASH];
        if (!policy_spki_sha256(pub, canon)) {
            pol_verdict(d, SIGNET_E_BADKEY, "key.blocked", "", "the key does not encode");
            return;
        }
        if (memcmp(canon, h, sizeof(h)) != 0 &&
            (blocked = opts->key_blocked(canon, opts->key_blocked_arg)) != 0)
            memcpy(h, canon, sizeof(h));
    }
    sg_hex_encode(h, sizeof(h), hex);
    if (blocked > 0)
        pol_verdict(d, SIGNET_E_BADKEY, "key.blocked", hex,
                    "this key (SPKI SHA-256 %s) is in the blocked-key table; make a new key", hex);
    else if (blocked < 0)
        pol_verdict(d, SIGNET_E_STORE, "key.blocked", hex,
                    "the blocked-key table cannot be read; try again");
    else
        pol_verdict(d, SIGNET_OK, "key.blocked", hex, "allowed");
}

/* Counts the extension-request attributes; more than one, or one with several values, is bad. */
static int ext_attrs_ok(const struct policy_csr *req, int *present)
{
    int n = 0;

    for (int nid = 0; nid < 2; nid++) {
        int id = nid ? NID_ms_ext_req : NID_ext_req, idx = -1;
        while ((idx = X509at_get_attr_by_NID(req->attrs, id, idx)) >= 0) {
            n++;
            if (X509_ATTRIBUTE_count(X509at_get_attr(req->attrs, idx)) != 1)
                return 0;
        }
    }
    *present = n > 0;
    return n <= 1;
}

/*
 * The requested extensions (an empty list when none are asked for), read as
 * X509_REQ_get_extensions does: the first extension request attribute, PKCS#9 then Microsoft's.
 * NULL when it does not parse, and (unlike OpenSSL, which answers an empty list) for an
 * attribute without a value, which ext_attrs_ok has refused before.
 */
static STACK_OF(X509_EXTENSION) * csr_extensions(const struct policy_csr *req)
{
    static const int nids[] = {NID_ext_req, NID_ms_ext_req};
    const unsigned char *q;

    for (size_t i = 0; i < sizeof(nids) / sizeof(nids[0]); i++) {
        int idx = X509at_get_attr_by_NID(req->attrs, nids[i], -1);
        ASN1_TYPE *t;
        if (idx < 0)
            continue;
        t = X509_ATTRIBUTE_get0_type(X509at_get_attr(req->attrs, idx), 0);
        if (t == NULL || t->type != V_ASN1_SEQUENCE)
            return NULL;
        q = t->value.sequence->data;
        return d2i_X509_EXTENSIONS(NULL, &q, t->value.sequence->length);
    }
    return sk_X509_EXTENSION_new_null();
}

/* One requested extension other than subjectAltName: ignored or refused, never copied. */
static void eval_one_ext(const struct policy_profile *p, X509_EXTENSION *e,
                         struct policy_decision *d)
{
    char name[80];
    const ASN1_OBJECT *obj = X509_EXTENSION_get_object(e);

    OBJ_obj2txt(name, sizeof(name), obj, 0);
    if (X509V3_EXT_get(e) != NULL) {
        void *v = X509V3_EXT_d2i(e);
        if (v == NULL) {
            pol_verdict(d, SIGNET_E_BADCSR, "csr.extensions", name,
                        "the requested %s does not parse", name);
            ERR_clear_error();
            return;
        }
        X509V3_EXT_METHOD const *m = X509V3_EXT_get(e);
        if (m->it)
            ASN1_item_free(v, ASN1_ITEM_ptr(m->it));
        else if (m->ext_free)
            m->ext_free(v);
    }
    if (p->csr_ext == POL_CSR_EXT_REFUSE)
        pol_verdict(d, SIGNET_E_POLICY, "csr.extensions", name,
                    "the CSR asks for %s%s; profile %s refuses requested extensions "
                    "(csr_extensions = refuse)",
                    X509_EXTENSION_get_critical(e) ? "critical " : "", name, p->name);
    else
        pol_verdict(d, SIGNET_OK, "csr.extensions", name,
                    "ignored: only the profile's section is issued");
}

/*
 * The CSR's requested extensions: one extension request attribute at most, parseable, not
 * empty, no extension twice (RFC 5280 4.2). Returns the requested subjectAltName (NULL when
 * none; caller frees); *bad is set when the request is malformed.
 */
static GENERAL_NAMES *eval_csr_exts(const struct policy_profile *p, const struct policy_csr *req,
                                    struct policy_decision *d, int *bad)
{
    STACK_OF(X509_EXTENSION) *exts = NULL;
    GENERAL_NAMES *gens = NULL;
    int present = 0;

    *bad = 1;
    if (!ext_attrs_ok(req, &present)) {
        pol_verdict(d, SIGNET_E_BADCSR, "csr.extensions", "",
                    "more than one extension request attribute, or one with several values");
        return NULL;
    }
    if ((exts = csr_extensions(req)) == NULL || (present && sk_X509_EXTENSION_num(exts) == 0)) {
        pol_verdict(d, SIGNET_E_BADCSR, "csr.extensions", "",
                    "the extension request is empty or does not parse");
        goto out;
    }
    for (int i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
        X509_EXTENSION *e = sk_X509_EXTENSION_value(exts, i);
        if (X509v3_get_ext_by_OBJ(exts, X509_EXTENSION_get_object(e), i) >= 0) {
            pol_verdict(d, SIGNET_E_BADCSR, "csr.extensions", "",
                        "an extension requested twice (RFC 5280 4.2)");
            goto out;
        }
        if (OBJ_obj2nid(X509_EXTENSION_get_object(e)) != NID_subject_alt_name)
            eval_one_ext(p, e, d);
        else if ((gens = X509V3_EXT_d2i(e)) == NULL) {
            pol_verdict(d, SIGNET_E_BADCSR, "san", "", "the CSR's subjectAltName does not parse");
            goto out;
        }
    }
    *bad = 0;
out:
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    ERR_clear_error();
    if (*bad) {
        GENERAL_NAMES_free(gens);
        gens = NULL;
    }
    return gens;
}

enum signet_err policy_evaluate_ex(const struct policy_profile *p, const struct policy_csr *req,
                                   const struct policy_eval_opts *opts,
                                   struct policy_decision **out, char *detail)
{
    struct policy_decision *d = NULL;
    GENERAL_NAMES *gens = NULL;
    int bad = 0;

    *out = NULL;
    if ((d = calloc(1, sizeof(*d))) == NULL || (d->subject = X509_NAME_new()) == NULL) {
        policy_decision_free(d);
        sg_detail(detail, "policy %s: out of memory", p->name);
        return SIGNET_E_NOMEM;
    }
    d->allowed = 1;
    d->approval = p->approval;
    eval_signature(req, d);
    eval_key(p, req, opts, d);
    gens = eval_csr_exts(p, req, d, &bad);
    if (!bad)
        pol_eval_sans(p, gens, d); /* before the subject: must-be-a-SAN looks at them */
    pol_eval_subject(p, req, d);
    GENERAL_NAMES_free(gens);
    *out = d;
    return SIGNET_OK;
}

enum signet_err policy_evaluate(const struct policy_profile *p, const struct policy_csr *req,
                                struct policy_decision **out, char *detail)
{
    return policy_evaluate_ex(p, req, NULL, out, detail);
}

void policy_decision_free(struct policy_decision *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->n; i++) {
        free(d->reasons[i].rule);
        free(d->reasons[i].value);
        free(d->reasons[i].why);
        free(d->reasons[i].text);
    }
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
    return i < d->n ? d->reasons[i].text : "";
}

int policy_decision_verdict(const struct policy_decision *d, size_t i, struct policy_verdict *out)
{
    if (i >= d->n)
        return 0;
    out->rule = d->reasons[i].rule;
    out->value = d->reasons[i].value;
    out->allowed = d->reasons[i].allowed;
    out->why = d->reasons[i].why;
    return 1;
}

enum policy_approval policy_decision_approval(const struct policy_decision *d)
{
    return d->approval;
}

const X509_NAME *policy_decision_subject(const struct policy_decision *d)
{
    return d->subject;
}

const GENERAL_NAMES *policy_decision_sans(const struct policy_decision *d)
{
    return d->sans;
}
