/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Requested subjectAltNames against the profile's san.* rules: the total count first (a CSR
 * with 10,000 names is refused before any name is looked at), then each name's syntax, the
 * profile's patterns, networks or prefixes, duplicates, and the per-type counts.
 */
#include "internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NAME_MAX_BYTES 1024 /* the longest name of any type looked at (URIs) */

static int kind_of(const GENERAL_NAME *gn)
{
    return gn->type == GEN_DNS     ? POL_SAN_DNS
           : gn->type == GEN_IPADD ? POL_SAN_IP
           : gn->type == GEN_EMAIL ? POL_SAN_EMAIL
           : gn->type == GEN_URI   ? POL_SAN_URI
                                   : -1;
}

static const char *gen_type_name(int type)
{
    static const char *const names[] = {"otherName",    "email",   "DNS",
                                        "x400Address",  "dirName", "URI",
                                        "ediPartyName", "IP",      "registeredID"};
    return type >= 0 && type < (int)(sizeof(names) / sizeof(names[0])) ? names[type] : "unknown";
}

/* 1 when a and b are the same name (DNS and e-mail without case, the rest byte for byte). */
static int same_name(const GENERAL_NAME *a, const GENERAL_NAME *b)
{
    if (a->type != b->type)
        return 0;
    if (a->type == GEN_DNS || a->type == GEN_EMAIL) {
        const ASN1_STRING *x = a->d.ia5, *y = b->d.ia5;
        return ASN1_STRING_length(x) == ASN1_STRING_length(y) &&
               strncasecmp((const char *)ASN1_STRING_get0_data(x),
                           (const char *)ASN1_STRING_get0_data(y),
                           (size_t)ASN1_STRING_length(x)) == 0;
    }
    return GENERAL_NAME_cmp((GENERAL_NAME *)a, (GENERAL_NAME *)b) == 0;
}

/* Does the (syntactically valid) name v of kind k match the rule's allow-list? */
static int allowed_by(const struct pol_san_rule *r, int k, const char *v, const unsigned char *ip,
                      size_t iplen)
{
    if (k == POL_SAN_IP) {
        for (size_t i = 0; i < r->nnets; i++)
            if (pol_cidr_contains(&r->nets[i], ip, iplen))
                return 1;
        return r->nets == NULL;
    }
    if (r->patterns == NULL)
        return 1;
    for (char **p = r->patterns; *p; p++) {
        if (k == POL_SAN_URI && strncmp(v, *p, strlen(*p)) == 0)
            return 1;
        if (k == POL_SAN_EMAIL && policy_dns_match(*p, strchr(v, '@') + 1))
            return 1;
        if (k == POL_SAN_DNS &&
            (v[0] == '*' ? pol_dns_wildcard_match(*p, v) : policy_dns_match(*p, v)))
            return 1;
    }
    return 0;
}

/* The rule's allow-list as text, for refusals. */
static void allow_text(const struct pol_san_rule *r, char *out, size_t cap)
{
    out[0] = '\0';
    for (char **p = r->patterns; p && *p; p++)
        if (strlen(out) + strlen(*p) + 2 < cap)
            strcat(strcat(out, p == r->patterns ? "" : "|"), *p);
}

/* Checks the syntax of one name; 1 = ok, else the reason in why. */
static int syntax_ok(const struct pol_san_rule *r, int k, const char *v, size_t len, char *why,
                     size_t cap)
{
    switch (k) {
    case POL_SAN_DNS:
        return pol_dns_ok(v, len, r->wildcard, why, cap);
    case POL_SAN_EMAIL:
        return pol_email_ok(v, len, why, cap);
    case POL_SAN_URI:
        return pol_uri_ok(v, len, why, cap);
    default:
        return 1;
    }
}

/* Checks one requested SAN (index i of gens); appends it to d->sans when allowed. 1 = allowed. */
static int check_san(const struct policy_profile *p, struct policy_decision *d,
                     const GENERAL_NAMES *gens, int i)
{
    const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
    int k = kind_of(gn);
    char v[NAME_MAX_BYTES + 1] = "", shown[256], why[SIGNET_DETAIL_MAX], rule[16], allow[512];
    const struct pol_san_rule *r;
    const ASN1_STRING *s;
    size_t len;

    if (k < 0) {
        pol_verdict(d, SIGNET_E_POLICY, "san", gen_type_name(gn->type),
                    "a %s name; profiles allow only dns, ip, email and uri SANs",
                    gen_type_name(gn->type));
        return 0;
    }
    r = &p->san[k];
    s = k == POL_SAN_IP ? gn->d.iPAddress : gn->d.ia5;
    len = (size_t)(ASN1_STRING_length(s) > 0 ? ASN1_STRING_length(s) : 0);
    snprintf(rule, sizeof(rule), "san.%s", pol_san_kind_names[k]);
    if (k == POL_SAN_IP) {
        if (len != 4 && len != 16) {
            pol_verdict(d, SIGNET_E_POLICY, rule, "", "an address of %zu bytes (4 or 16)", len);
            return 0;
        }
        inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s), shown, sizeof(shown));
    } else {
        pol_printable(ASN1_STRING_get0_data(s), len, shown, sizeof(shown));
        if (len == 0 || len > NAME_MAX_BYTES) {
            pol_verdict(d, SIGNET_E_POLICY, rule, shown, "an empty name or one over %d bytes",
                        NAME_MAX_BYTES);
            return 0;
        }
        if (!pol_no_controls(ASN1_STRING_get0_data(s), len)) {
            pol_verdict(d, SIGNET_E_POLICY, rule, shown, "'%s' holds a NUL or control character",
                        shown);
            return 0;
        }
        memcpy(v, ASN1_STRING_get0_data(s), len);
    }
    if (r->need == POL_FORBIDDEN) {
        pol_verdict(d, SIGNET_E_POLICY, rule, shown, "forbidden by profile %s (%s)", p->name,
                    shown);
        return 0;
    }
    if (!syntax_ok(r, k, v, len, why, sizeof(why))) {
        pol_verdict(d, SIGNET_E_POLICY, rule, shown, "'%s' is not %s: %s", shown,
                    k == POL_SAN_DNS     ? "a hostname the profile accepts"
                    : k == POL_SAN_EMAIL ? "a valid e-mail address"
                                         : "a valid URI",
                    why);
        return 0;
    }
    if (!allowed_by(r, k, v, ASN1_STRING_get0_data(s), len)) {
        allow_text(r, allow, sizeof(allow));
        pol_verdict(d, SIGNET_E_POLICY, rule, shown,
                    "'%s' does not match the profile's match= list (%s)", shown, allow);
        return 0;
    }
    for (int j = 0; j < i; j++)
        if (same_name(gn, sk_GENERAL_NAME_value(gens, j))) {
            pol_verdict(d, SIGNET_E_POLICY, rule, shown, "'%s' is requested twice", shown);
            return 0;
        }
    GENERAL_NAME *dup = GENERAL_NAME_dup(gn);
    if ((d->sans == NULL && (d->sans = sk_GENERAL_NAME_new_null()) == NULL) || dup == NULL ||
        !sk_GENERAL_NAME_push(d->sans, dup)) {
        GENERAL_NAME_free(dup);
        pol_verdict(d, SIGNET_E_INTERNAL, rule, shown, "out of memory");
        return 0;
    }
    pol_verdict(d, SIGNET_OK, rule, shown, "allowed");
    return 1;
}

void pol_eval_sans(const struct policy_profile *p, const GENERAL_NAMES *gens,
                   struct policy_decision *d)
{
    unsigned counts[POL_SAN_KIND_MAX] = {0};
    int n = sk_GENERAL_NAME_num(gens);
    char nbuf[16];

    if (n > (int)p->san_max) { /* bounded before any name is looked at */
        snprintf(nbuf, sizeof(nbuf), "%d", n);
        pol_verdict(d, SIGNET_E_POLICY, "san", nbuf, "%d SANs, more than the %u allowed", n,
                    p->san_max);
        return;
    }
    if (gens != NULL && n == 0)
        pol_verdict(d, SIGNET_E_POLICY, "san", "",
                    "an empty subjectAltName (RFC 5280 4.2.1.6: at least one name)");
    for (int i = 0; i < n; i++)
        if (check_san(p, d, gens, i))
            counts[kind_of(sk_GENERAL_NAME_value(gens, i))]++;
    for (int k = 0; k < POL_SAN_KIND_MAX; k++) {
        const struct pol_san_rule *r = &p->san[k];
        unsigned max = r->max ? r->max : p->san_max;
        char rule[16];
        snprintf(rule, sizeof(rule), "san.%s", pol_san_kind_names[k]);
        snprintf(nbuf, sizeof(nbuf), "%u", counts[k]);
        if (r->need == POL_REQUIRED && counts[k] == 0)
            pol_verdict(d, SIGNET_E_POLICY, rule, "0",
                        "required by profile %s, and the CSR has none", p->name);
        else if (counts[k] > max)
            pol_verdict(d, SIGNET_E_POLICY, rule, nbuf, "%u names, more than max=%u", counts[k],
                        max);
    }
}
