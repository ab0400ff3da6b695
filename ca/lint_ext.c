/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The extension lints: key usage and basic constraints consistency, EKU against key usage,
 * subjectAltName syntax and criticality, extension criticality, duplicates and unknown critical
 * extensions, and CN/SAN consistency (RFC 5280 4.2, CA/Browser Forum BR 7.1.4.3).
 */
#include "lint.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- key usage, basic constraints, EKU ---- */

#define KU_BIT_DIGITAL_SIGNATURE 0
#define KU_BIT_KEY_ENCIPHERMENT  2
#define KU_BIT_KEY_AGREEMENT     4
#define KU_BIT_KEY_CERT_SIGN     5

static int ku_has(const struct lc *c, int bit)
{
    return c->ku != NULL && ASN1_BIT_STRING_get_bit(c->ku, bit);
}

static int is_ca(const struct lc *c)
{
    return c->bc != NULL && c->bc->ca;
}

void ca_lint_ku_cert_sign_ca(struct lc *c)
{
    if (ku_has(c, KU_BIT_KEY_CERT_SIGN) && !is_ca(c))
        ca_lint_add(c, "RFC 5280 4.2.1.3: keyCertSign without basicConstraints CA:TRUE");
}

void ca_lint_ca_cert_sign(struct lc *c)
{
    if (is_ca(c) && !ku_has(c, KU_BIT_KEY_CERT_SIGN))
        ca_lint_add(c, "RFC 5280 4.2.1.3, 4.2.1.9: CA:TRUE without keyUsage keyCertSign");
}

void ca_lint_ca_bc_critical(struct lc *c)
{
    const struct ext *e = ca_lint_ext_find(c, NID_basic_constraints);

    if (is_ca(c) && !e->critical)
        ca_lint_add(c, "RFC 5280 4.2.1.9: basicConstraints with CA:TRUE is not critical");
}

void ca_lint_pathlen_ca(struct lc *c)
{
    if (c->bc != NULL && c->bc->pathlen != NULL && !c->bc->ca)
        ca_lint_add(c, "RFC 5280 4.2.1.9: pathLenConstraint on a non-CA certificate");
}

void ca_lint_ku_nonempty(struct lc *c)
{
    int any = 0;

    for (int b = 0; c->ku != NULL && b < 9; b++)
        any |= ASN1_BIT_STRING_get_bit(c->ku, b);
    if (c->ku != NULL && !any)
        ca_lint_add(c, "RFC 5280 4.2.1.3: keyUsage with no bit set");
}

/* 1 when the EKU lists nid. */
static int eku_has(const struct lc *c, int nid)
{
    for (int i = 0; c->eku != NULL && i < sk_ASN1_OBJECT_num(c->eku); i++)
        if (OBJ_obj2nid(sk_ASN1_OBJECT_value(c->eku, i)) == nid)
            return 1;
    return 0;
}

/* serverAuth, clientAuth and OCSPSigning need the key usage bits their protocols use. */
void ca_lint_eku_ku(struct lc *c)
{
    int ds = ku_has(c, KU_BIT_DIGITAL_SIGNATURE), ka = ku_has(c, KU_BIT_KEY_AGREEMENT);

    if (c->ku == NULL || c->eku == NULL)
        return;
    if (eku_has(c, NID_server_auth) && !ds && !ka && !ku_has(c, KU_BIT_KEY_ENCIPHERMENT))
        ca_lint_add(c, "RFC 5280 4.2.1.12: EKU serverAuth but keyUsage has none of "
                       "digitalSignature, keyEncipherment, keyAgreement");
    if (eku_has(c, NID_client_auth) && !ds && !ka)
        ca_lint_add(c, "RFC 5280 4.2.1.12: EKU clientAuth but keyUsage has neither "
                       "digitalSignature nor keyAgreement");
    if (eku_has(c, NID_OCSP_sign) && !ds)
        ca_lint_add(c, "RFC 6960 4.2.2.2: EKU OCSPSigning but keyUsage lacks digitalSignature");
}

/* ---- SAN ---- */

void ca_lint_san_empty(struct lc *c)
{
    if (c->san != NULL && sk_GENERAL_NAME_num(c->san) == 0)
        ca_lint_add(c, "RFC 5280 4.2.1.6: subjectAltName with no names (SIZE (1..MAX))");
}

void ca_lint_san_criticality(struct lc *c)
{
    const struct ext *e = ca_lint_ext_find(c, NID_subject_alt_name);

    if (c->subject.vlen == 0 && (e == NULL || !e->critical))
        ca_lint_add(c, "RFC 5280 4.1.2.6, 4.2.1.6: empty subject %s",
                    e ? "but subjectAltName is not critical" : "and no subjectAltName");
    else if (c->subject.vlen > 0 && e != NULL && e->critical)
        ca_lint_add(c, "RFC 5280 4.2.1.6: subjectAltName is critical although the subject is not "
                       "empty");
}

/* Why a dNSName is not a preferred-syntax host name, or NULL (RFC 1034 3.5, RFC 6125 6.4.3). */
static const char *dns_bad(const unsigned char *s, size_t n)
{
    size_t label = 0;

    if (n == 0 || n > 253)
        return "is empty or longer than 253 octets";
    if (s[n - 1] == '.')
        return "ends with a dot";
    if (n >= 2 && s[0] == '*' && s[1] == '.') {
        s += 2;
        n -= 2;
        if (n == 0)
            return "is a bare wildcard";
    }
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (label == 0 || label > 63)
                return "has an empty label or one longer than 63 octets";
            if (s[i - 1] == '-' || s[i - label] == '-')
                return "has a label starting or ending with '-'";
            label = 0;
        } else if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-') {
            label++;
        } else {
            return s[i] >= 'A' && s[i] <= 'Z' ? "is not lowercase"
                                              : "has a character outside letters, digits, '-'";
        }
    }
    return NULL;
}

/* Why a URI has no scheme (RFC 3986 3.1), or NULL. */
static int uri_has_scheme(const unsigned char *s, size_t n)
{
    size_t i = 0;

    if (n == 0 || !((s[0] | 0x20) >= 'a' && (s[0] | 0x20) <= 'z'))
        return 0;
    for (i = 1; i < n && s[i] != ':'; i++)
        if (!(((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '+' || s[i] == '-' || s[i] == '.'))
            return 0;
    return i < n && i + 1 < n;
}

void ca_lint_san_dns(struct lc *c)
{
    for (int i = 0; c->san != NULL && i < sk_GENERAL_NAME_num(c->san); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(c->san, i);
        const char *why;
        if (g->type == GEN_DNS &&
            (why = dns_bad(g->d.dNSName->data, (size_t)g->d.dNSName->length)) != NULL)
            ca_lint_add(c, "RFC 5280 4.2.1.6 (RFC 1034 3.5): dNSName \"%.*s\" %s",
                        g->d.dNSName->length > 80 ? 80 : g->d.dNSName->length,
                        (const char *)g->d.dNSName->data, why);
    }
}

void ca_lint_san_ip(struct lc *c)
{
    for (int i = 0; c->san != NULL && i < sk_GENERAL_NAME_num(c->san); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(c->san, i);
        if (g->type == GEN_IPADD && g->d.iPAddress->length != 4 && g->d.iPAddress->length != 16)
            ca_lint_add(c, "RFC 5280 4.2.1.6: iPAddress of %d octets (4 or 16)",
                        g->d.iPAddress->length);
    }
}

void ca_lint_san_email(struct lc *c)
{
    for (int i = 0; c->san != NULL && i < sk_GENERAL_NAME_num(c->san); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(c->san, i);
        const unsigned char *s, *at;
        size_t n;
        if (g->type != GEN_EMAIL)
            continue;
        s = g->d.rfc822Name->data;
        n = (size_t)g->d.rfc822Name->length;
        at = memchr(s, '@', n);
        if (at == NULL || at == s || at == s + n - 1 ||
            memchr(at + 1, '@', n - (size_t)(at + 1 - s)) != NULL || memchr(s, 0, n) != NULL)
            ca_lint_add(c,
                        "RFC 5280 4.2.1.6 (RFC 5321 4.1.2): rfc822Name \"%.*s\" is not "
                        "local@domain with one '@'",
                        (int)(n > 80 ? 80 : n), (const char *)s);
    }
}

void ca_lint_san_uri(struct lc *c)
{
    for (int i = 0; c->san != NULL && i < sk_GENERAL_NAME_num(c->san); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(c->san, i);
        if (g->type == GEN_URI && !uri_has_scheme(g->d.uniformResourceIdentifier->data,
                                                  (size_t)g->d.uniformResourceIdentifier->length))
            ca_lint_add(c, "RFC 5280 4.2.1.6 (RFC 3986 3.1): URI \"%.*s\" has no scheme",
                        g->d.uniformResourceIdentifier->length > 80
                            ? 80
                            : g->d.uniformResourceIdentifier->length,
                        (const char *)g->d.uniformResourceIdentifier->data);
    }
}

void ca_lint_san_duplicate(struct lc *c)
{
    int n = c->san ? sk_GENERAL_NAME_num(c->san) : 0;

    if (n > SAN_CMP_MAX)
        n = SAN_CMP_MAX;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (GENERAL_NAME_cmp(sk_GENERAL_NAME_value(c->san, i),
                                 sk_GENERAL_NAME_value(c->san, j)) == 0) {
                ca_lint_add(c,
                            "Signet profiles (docs/profiles.md): subjectAltName names %d and %d "
                            "are the same",
                            i + 1, j + 1);
                return;
            }
}

/* ---- extensions ---- */

enum crit_rule { CRIT_ANY, CRIT_MUST, CRIT_MUST_NOT };

static const struct {
    int nid;
    enum crit_rule rule;
    const char *section;
} known_exts[] = {
    {NID_authority_key_identifier, CRIT_MUST_NOT, "RFC 5280 4.2.1.1"},
    {NID_subject_key_identifier, CRIT_MUST_NOT, "RFC 5280 4.2.1.2"},
    {NID_key_usage, CRIT_MUST, "RFC 5280 4.2.1.3"},
    {NID_certificate_policies, CRIT_ANY, "RFC 5280 4.2.1.4"},
    {NID_policy_mappings, CRIT_MUST, "RFC 5280 4.2.1.5"},
    {NID_subject_alt_name, CRIT_ANY, "RFC 5280 4.2.1.6"}, /* san_criticality */
    {NID_issuer_alt_name, CRIT_MUST_NOT, "RFC 5280 4.2.1.7"},
    {NID_subject_directory_attributes, CRIT_MUST_NOT, "RFC 5280 4.2.1.8"},
    {NID_basic_constraints, CRIT_ANY, "RFC 5280 4.2.1.9"}, /* ca_bc_critical */
    {NID_name_constraints, CRIT_MUST, "RFC 5280 4.2.1.10"},
    {NID_policy_constraints, CRIT_MUST, "RFC 5280 4.2.1.11"},
    {NID_ext_key_usage, CRIT_ANY, "RFC 5280 4.2.1.12"},
    {NID_crl_distribution_points, CRIT_MUST_NOT, "RFC 5280 4.2.1.13"},
    {NID_inhibit_any_policy, CRIT_MUST, "RFC 5280 4.2.1.14"},
    {NID_freshest_crl, CRIT_MUST_NOT, "RFC 5280 4.2.1.15"},
    {NID_info_access, CRIT_MUST_NOT, "RFC 5280 4.2.2.1"},
    {NID_sinfo_access, CRIT_MUST_NOT, "RFC 5280 4.2.2.2"},
    {NID_id_pkix_OCSP_noCheck, CRIT_MUST_NOT, "RFC 6960 4.2.2.2.1"},
    {NID_tlsfeature, CRIT_ANY, "RFC 7633 4"},
};

static size_t known_index(int nid)
{
    for (size_t i = 0; i < sizeof(known_exts) / sizeof(known_exts[0]); i++)
        if (known_exts[i].nid == nid)
            return i;
    return (size_t)-1;
}

void ca_lint_ext_criticality(struct lc *c)
{
    for (size_t i = 0; i < c->next; i++) {
        size_t k = known_index(c->ext[i].nid);
        if (k == (size_t)-1 || known_exts[k].rule == CRIT_ANY)
            continue;
        if ((known_exts[k].rule == CRIT_MUST) != (c->ext[i].critical != 0))
            ca_lint_add(c, "%s: %s must %sbe critical", known_exts[k].section,
                        OBJ_nid2ln(c->ext[i].nid), known_exts[k].rule == CRIT_MUST ? "" : "not ");
    }
}

void ca_lint_ext_duplicate(struct lc *c)
{
    for (size_t i = 0; i < c->next; i++)
        for (size_t j = i + 1; j < c->next; j++)
            if (c->ext[i].oid.vlen == c->ext[j].oid.vlen &&
                memcmp(c->ext[i].oid.val, c->ext[j].oid.val, c->ext[i].oid.vlen) == 0) {
                ca_lint_add(c, "RFC 5280 4.2: extension %s appears twice",
                            c->ext[i].nid != NID_undef ? OBJ_nid2ln(c->ext[i].nid) : "(unknown)");
                return;
            }
}

void ca_lint_ext_unknown_critical(struct lc *c)
{
    for (size_t i = 0; i < c->next; i++)
        if (c->ext[i].critical && known_index(c->ext[i].nid) == (size_t)-1) {
            char oid[80];
            const unsigned char *p = c->ext[i].oid.start;
            ASN1_OBJECT *o = d2i_ASN1_OBJECT(NULL, &p, (long)c->ext[i].oid.total);
            if (o == NULL || OBJ_obj2txt(oid, sizeof(oid), o, 1) <= 0)
                snprintf(oid, sizeof(oid), "(unreadable)");
            ca_lint_add(c, "RFC 5280 4.2: critical extension %s that Signet does not know", oid);
            ASN1_OBJECT_free(o);
        }
}

void ca_lint_ext_decodes(struct lc *c)
{
    for (size_t i = 0; i < c->next; i++) {
        const X509V3_EXT_METHOD *m = NULL;
        void *v;
        if (c->ext[i].nid == NID_undef || X509V3_EXT_get_nid(c->ext[i].nid) == NULL)
            continue;
        if ((v = ca_lint_ext_decode(&c->ext[i], &m)) == NULL) {
            ca_lint_add(c, "RFC 5280 4.2: extension %s does not decode", OBJ_nid2ln(c->ext[i].nid));
            continue;
        }
        if (m->it)
            ASN1_item_free(v, ASN1_ITEM_ptr(m->it));
        else
            m->ext_free(v);
    }
}

/* ---- CN and SANs ---- */

/* 1 when the CN (UTF-8) names one of the DNS (case-insensitively) or IP SANs. */
static int cn_matches(const struct lc *c, const unsigned char *cn, size_t n)
{
    unsigned char ip[16];
    char buf[64];
    int iplen = 0;

    if (n < sizeof(buf)) {
        memcpy(buf, cn, n);
        buf[n] = 0;
        iplen = inet_pton(AF_INET, buf, ip) == 1 ? 4 : inet_pton(AF_INET6, buf, ip) == 1 ? 16 : 0;
    }
    for (int i = 0; c->san != NULL && i < sk_GENERAL_NAME_num(c->san); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(c->san, i);
        if (g->type == GEN_DNS && (size_t)g->d.dNSName->length == n &&
            strncasecmp((const char *)g->d.dNSName->data, (const char *)cn, n) == 0)
            return 1;
        if (g->type == GEN_IPADD && iplen && g->d.iPAddress->length == iplen &&
            memcmp(g->d.iPAddress->data, ip, (size_t)iplen) == 0)
            return 1;
    }
    return 0;
}

/*
 * A TLS server certificate's CN (when present) is one of its DNS or IP SANs (CA/Browser Forum
 * BR 7.1.4.3). Applies to non-CA certificates asserting serverAuth, or with no EKU and a DNS or
 * IP SAN; a client certificate's CN may name a person or a system.
 */
void ca_lint_cn_in_san(struct lc *c)
{
    int host = 0, idx = -1;

    for (int i = 0; c->san != NULL && i < sk_GENERAL_NAME_num(c->san); i++) {
        int t = sk_GENERAL_NAME_value(c->san, i)->type;
        host |= t == GEN_DNS || t == GEN_IPADD;
    }
    if (is_ca(c) || c->subj == NULL || !(eku_has(c, NID_server_auth) || (c->eku == NULL && host)))
        return;
    while ((idx = X509_NAME_get_index_by_NID(c->subj, NID_commonName, idx)) >= 0) {
        unsigned char *u = NULL;
        int n =
            ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(c->subj, idx)));
        if (n < 0 || !cn_matches(c, u, (size_t)n))
            ca_lint_add(c,
                        "CA/Browser Forum BR 7.1.4.3: CN \"%.*s\" is not one of the DNS or IP "
                        "subjectAltNames",
                        n > 80  ? 80
                        : n < 0 ? 0
                                : n,
                        u ? (const char *)u : "");
        OPENSSL_free(u);
    }
}
