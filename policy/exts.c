/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The profile's extension section: compiled once with OpenSSL's own x509v3_config syntax,
 * extended by the path_len and name_constraints keys of subordinate-CA profiles, and checked
 * for the CA / leaf consistency RFC 5280 asks for.
 */
#include "internal.h"

#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BIT_KEY_CERT_SIGN 5 /* RFC 5280 4.2.1.3 bit numbers */
#define BIT_CRL_SIGN      6

/* 1 when the stack already holds an extension of this type. */
static int has_ext(const STACK_OF(X509_EXTENSION) * exts, int nid)
{
    return X509v3_get_ext_by_NID(exts, nid, -1) >= 0;
}

/* Compiles one extension entry; refuses the ones the CA sets itself and repeats. */
static enum signet_err compile_one(struct pol_parse *ps, struct policy_profile *p, X509V3_CTX *v3,
                                   const char *section, const char *name, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_nconf(ps->conf, v3, name, value);
    int nid;

    if (ext == NULL) {
        char why[256] = "";
        unsigned long e = ERR_peek_last_error();
        if (e)
            snprintf(why, sizeof(why), ": %s", ERR_reason_error_string(e));
        ERR_clear_error();
        return pol_perr(ps, section, name, "[%s] %s: OpenSSL refuses this extension%s", section,
                        name, why);
    }
    nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
    if (nid == NID_subject_alt_name || nid == NID_subject_key_identifier ||
        nid == NID_authority_key_identifier || nid == NID_crl_distribution_points ||
        nid == NID_info_access) {
        X509_EXTENSION_free(ext);
        return pol_perr(ps, section, name,
                        "[%s] %s: set by the CA itself (SANs come from the CSR under the san.* "
                        "rules; CDP and AIA from crl_url and ocsp_url in [ca.NAME]); remove it",
                        section, name);
    }
    if (X509v3_get_ext_by_OBJ(p->exts, X509_EXTENSION_get_object(ext), -1) >= 0) {
        X509_EXTENSION_free(ext);
        return pol_perr(ps, section, name, "[%s] %s: extension given twice", section, name);
    }
    if (!sk_X509_EXTENSION_push(p->exts, ext)) {
        X509_EXTENSION_free(ext);
        return SIGNET_E_NOMEM;
    }
    return SIGNET_OK;
}

/* path_len = N and name_constraints = ...: extensions of their own, never twice. */
static enum signet_err compile_ca_keys(struct pol_parse *ps, struct policy_profile *p,
                                       X509V3_CTX *v3, const char *path_len, const char *nc)
{
    char buf[1024];
    uint64_t n;
    enum signet_err rc;

    if (path_len) {
        if (!sg_parse_u64(path_len, 0, 16, &n))
            return pol_perr(ps, "profile", "path_len", "path_len: a number from 0 to 16");
        if (has_ext(p->exts, NID_basic_constraints))
            return pol_perr(ps, "profile", "path_len",
                            "path_len: the extension section sets basicConstraints too; keep "
                            "one of them");
        snprintf(buf, sizeof(buf), "critical, CA:TRUE, pathlen:%u", (unsigned)n);
        if ((rc = compile_one(ps, p, v3, "profile", "basicConstraints", buf)) != SIGNET_OK)
            return rc;
    }
    if (nc) {
        if (has_ext(p->exts, NID_name_constraints))
            return pol_perr(ps, "profile", "name_constraints",
                            "name_constraints: the extension section sets nameConstraints too; "
                            "keep one of them");
        /* RFC 5280 4.2.1.10: conforming CAs mark nameConstraints critical */
        if (snprintf(buf, sizeof(buf), "%s%s", strncmp(nc, "critical", 8) ? "critical, " : "",
                     nc) >= (int)sizeof(buf))
            return pol_perr(ps, "profile", "name_constraints", "name_constraints: too long");
        if ((rc = compile_one(ps, p, v3, "profile", "nameConstraints", buf)) != SIGNET_OK)
            return rc;
    }
    return SIGNET_OK;
}

/* Where to point an error about an extension: its key line in the section, or [profile]. */
static const char *where(const char *section, const char *key_in_profile, const char **key)
{
    if (key_in_profile) {
        *key = key_in_profile;
        return "profile";
    }
    return section;
}

/*
 * RFC 5280 consistency of the compiled set. A CA profile (basicConstraints cA TRUE): critical
 * basicConstraints (4.2.1.9), keyUsage with keyCertSign (4.2.1.3), a pathLenConstraint (Signet:
 * every subordinate is bounded). A leaf profile: no pathLenConstraint (4.2.1.9), no keyCertSign
 * (4.2.1.3), no nameConstraints (4.2.1.10).
 */
static enum signet_err check_ca_consistency(struct pol_parse *ps, struct policy_profile *p,
                                            const char *section, const char *path_len,
                                            const char *nc)
{
    int crit = 0;
    BASIC_CONSTRAINTS *bc = X509V3_get_d2i(p->exts, NID_basic_constraints, &crit, NULL);
    ASN1_BIT_STRING *ku = X509V3_get_d2i(p->exts, NID_key_usage, NULL, NULL);
    const char *key = "basicConstraints", *sec = where(section, path_len, &key);
    enum signet_err rc = SIGNET_OK;

    p->is_ca = bc != NULL && bc->ca;
    p->path_len = p->is_ca && bc->pathlen ? (int)ASN1_INTEGER_get(bc->pathlen) : -1;
    if (p->is_ca && !crit)
        rc = pol_perr(ps, sec, key, "RFC 5280 4.2.1.9: basicConstraints of a CA must be critical");
    else if (p->is_ca && (ku == NULL || !ASN1_BIT_STRING_get_bit(ku, BIT_KEY_CERT_SIGN)))
        rc = pol_perr(ps, section, ku ? "keyUsage" : NULL,
                      "RFC 5280 4.2.1.3: a CA profile needs keyUsage with keyCertSign");
    else if (p->is_ca && p->path_len < 0)
        rc = pol_perr(ps, sec, key,
                      "a CA profile must bound the path: set path_len = N (or pathlen:N in "
                      "basicConstraints)");
    else if (!p->is_ca && (path_len || (bc && bc->pathlen)))
        rc = pol_perr(ps, sec, key, "RFC 5280 4.2.1.9: pathLenConstraint without CA:TRUE");
    else if (!p->is_ca && ku &&
             (ASN1_BIT_STRING_get_bit(ku, BIT_KEY_CERT_SIGN) ||
              ASN1_BIT_STRING_get_bit(ku, BIT_CRL_SIGN)))
        rc = pol_perr(ps, section, "keyUsage",
                      "RFC 5280 4.2.1.3: keyCertSign or cRLSign without CA:TRUE");
    else if (!p->is_ca && has_ext(p->exts, NID_name_constraints))
        rc = pol_perr(ps, nc ? "profile" : section, nc ? "name_constraints" : "nameConstraints",
                      "RFC 5280 4.2.1.10: nameConstraints only in a CA certificate");
    BASIC_CONSTRAINTS_free(bc);
    ASN1_BIT_STRING_free(ku);
    ERR_clear_error();
    return rc;
}

enum signet_err pol_compile_extensions(struct pol_parse *ps, struct policy_profile *p,
                                       const char *section, const char *path_len,
                                       const char *name_constraints)
{
    STACK_OF(CONF_VALUE) *vals = NCONF_get_section(ps->conf, section);
    X509V3_CTX v3;
    enum signet_err rc;

    if (vals == NULL) {
        ERR_clear_error();
        return pol_perr(ps, "profile", "extensions", "extensions: no section [%s] in the file",
                        section);
    }
    if ((p->exts = sk_X509_EXTENSION_new_null()) == NULL)
        return SIGNET_E_NOMEM;
    X509V3_set_ctx(&v3, NULL, NULL, NULL, NULL, X509V3_CTX_TEST);
    X509V3_set_nconf(&v3, ps->conf);
    for (int i = 0; i < sk_CONF_VALUE_num(vals); i++) {
        CONF_VALUE *cv = sk_CONF_VALUE_value(vals, i);
        if ((rc = compile_one(ps, p, &v3, section, cv->name, cv->value)) != SIGNET_OK)
            return rc;
    }
    if ((rc = compile_ca_keys(ps, p, &v3, path_len, name_constraints)) != SIGNET_OK)
        return rc;
    return check_ca_consistency(ps, p, section, path_len, name_constraints);
}
