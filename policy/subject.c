/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CSR's subject against the profile's subject.* rules: each attribute allowed, once, in a
 * single-valued RDN, valid UTF-8 without control characters, within its length, among the
 * allowed values or patterns, and (must-be-a-SAN) equal to a SAN. The subject issued holds the
 * allowed attributes in the profile's order.
 */
#include "internal.h"

#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SUBJ_ENT_MAX 32 /* attributes looked at; more is refused at once */

/*
 * Validates UTF-8 (no overlong forms, no surrogates, at most U+10FFFF) and refuses C0 and C1
 * controls and DEL. Returns the number of characters, or -1.
 */
static long utf8_chars(const unsigned char *s, size_t len)
{
    long chars = 0;

    for (size_t i = 0; i < len; chars++) {
        unsigned char c = s[i];
        uint32_t cp;
        size_t n = c < 0x80             ? 1
                   : (c & 0xe0) == 0xc0 ? 2
                   : (c & 0xf0) == 0xe0 ? 3
                   : (c & 0xf8) == 0xf0 ? 4
                                        : 0;
        if (n == 0 || i + n > len)
            return -1;
        cp = n == 1 ? c : c & (0xff >> (n + 1));
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return -1;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return -1;
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
            return -1;
        i += n;
    }
    return chars;
}

/* 1 when the attribute value equals one of the allowed SANs (DNS and e-mail without case). */
static int value_is_san(const struct policy_decision *d, const char *v)
{
    for (int i = 0; i < sk_GENERAL_NAME_num(d->sans); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(d->sans, i);
        if ((gn->type == GEN_DNS || gn->type == GEN_EMAIL || gn->type == GEN_URI) &&
            (size_t)ASN1_STRING_length(gn->d.ia5) == strlen(v) &&
            strncasecmp((const char *)ASN1_STRING_get0_data(gn->d.ia5), v, strlen(v)) == 0)
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

static int in_list(char **list, const char *v, int glob)
{
    if (list == NULL)
        return 1;
    for (char **p = list; *p; p++)
        if (glob ? pol_glob_match(*p, v) : strcmp(*p, v) == 0)
            return 1;
    return 0;
}

static const struct pol_subj_rule *subj_rule(const struct policy_profile *p, int nid, size_t *idx)
{
    for (size_t i = 0; i < p->nsubj; i++)
        if (p->subj[i].nid == nid) {
            *idx = i;
            return &p->subj[i];
        }
    return NULL;
}

/* The checks on one attribute value (utf8, len bytes, chars characters). 1 = ok. */
static int value_ok(const struct policy_profile *p, const struct pol_subj_rule *r,
                    struct policy_decision *d, const char *utf8, long chars, const char *shown)
{
    char rule[48];

    snprintf(rule, sizeof(rule), "subject.%s", r->name);
    if (chars > (long)r->max_len)
        pol_verdict(d, SIGNET_E_POLICY, rule, shown,
                    "'%s' is %ld characters, more than the %u allowed", shown, chars, r->max_len);
    else if (r->nid == NID_countryName &&
             (chars != 2 || utf8[0] < 'A' || utf8[0] > 'Z' || utf8[1] < 'A' || utf8[1] > 'Z'))
        pol_verdict(d, SIGNET_E_POLICY, rule, shown,
                    "'%s' is not a two-letter uppercase country code (ISO 3166, RFC 5280 "
                    "Appendix A)",
                    shown);
    else if (!in_list(r->values, utf8, 0))
        pol_verdict(d, SIGNET_E_POLICY, rule, shown,
                    "'%s' is not one of the profile's values=", shown);
    else if (!in_list(r->patterns, utf8, 1))
        pol_verdict(d, SIGNET_E_POLICY, rule, shown,
                    "'%s' does not match the profile's match= patterns", shown);
    else if (r->must_be_san && !value_is_san(d, utf8))
        pol_verdict(d, SIGNET_E_POLICY, rule, shown, "'%s' must also be one of the SANs (%s)",
                    shown, p->name);
    else
        return 1;
    return 0;
}

/* One subject entry; sets taken[rule] to the entry's index + 1 when allowed. */
static void check_entry(const struct policy_profile *p, const X509_NAME *name, int i,
                        struct policy_decision *d, int *taken)
{
    const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
    int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
    size_t idx = 0;
    const struct pol_subj_rule *r = subj_rule(p, nid, &idx);
    unsigned char *utf8 = NULL;
    int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
    char rule[80], shown[256] = "", oid[64];
    long chars = -1;

    OBJ_obj2txt(oid, sizeof(oid), X509_NAME_ENTRY_get_object(e), 0);
    snprintf(rule, sizeof(rule), "subject.%s", r ? r->name : oid);
    if (len > 0) {
        pol_printable(utf8, (size_t)len, shown, sizeof(shown));
        chars = utf8_chars(utf8, (size_t)len);
    }
    if (i > 0 && X509_NAME_ENTRY_set(e) == X509_NAME_ENTRY_set(X509_NAME_get_entry(name, i - 1)))
        pol_verdict(d, SIGNET_E_POLICY, rule, shown,
                    "a multi-valued RDN; give one attribute per RDN");
    else if (r == NULL || r->need == POL_FORBIDDEN)
        pol_verdict(d, SIGNET_E_POLICY, rule, shown, "forbidden by profile %s", p->name);
    else if (taken[idx])
        pol_verdict(d, SIGNET_E_POLICY, rule, shown, "given more than once");
    else if (len <= 0)
        pol_verdict(d, SIGNET_E_POLICY, rule, shown, "empty or not a decodable string");
    else if (chars < 0)
        pol_verdict(d, SIGNET_E_POLICY, rule, shown,
                    "'%s' holds a NUL or control character, or is not valid UTF-8", shown);
    else if (value_ok(p, r, d, (const char *)utf8, chars, shown)) {
        pol_verdict(d, SIGNET_OK, rule, shown, "allowed");
        taken[idx] = i + 1;
    }
    OPENSSL_free(utf8);
    ERR_clear_error();
}

void pol_eval_subject(const struct policy_profile *p, const struct policy_csr *req,
                      struct policy_decision *d)
{
    const X509_NAME *name = req->subject;
    int n = X509_NAME_entry_count(name), taken[POL_SUBJ_MAX] = {0};
    char nbuf[16];

    if (n > SUBJ_ENT_MAX) {
        snprintf(nbuf, sizeof(nbuf), "%d", n);
        pol_verdict(d, SIGNET_E_POLICY, "subject", nbuf, "%d attributes, more than %d", n,
                    SUBJ_ENT_MAX);
        return;
    }
    for (int i = 0; i < n; i++)
        check_entry(p, name, i, d, taken);
    for (size_t k = 0; k < p->nsubj; k++) {
        char rule[48];
        snprintf(rule, sizeof(rule), "subject.%s", p->subj[k].name);
        if (p->subj[k].need == POL_REQUIRED && !taken[k])
            pol_verdict(d, SIGNET_E_POLICY, rule, "",
                        "required by profile %s, and the CSR has none", p->name);
        else if (taken[k] &&
                 !X509_NAME_add_entry(d->subject, X509_NAME_get_entry(name, taken[k] - 1), -1, 0))
            pol_verdict(d, SIGNET_E_INTERNAL, rule, "", "out of memory");
    }
}
