/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Profile rules: the key list, subject and SAN rules, subject order, clients, and the
 * extension section with the CA / leaf consistency checks of RFC 5280. Everything is compiled
 * here once, when the profile is read; evaluation never parses profile text.
 */
#include "internal.h"

#include <ctype.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses one key= alternative ("ec:P-256", "rsa:2048-4096", "rsa:3072", "ed25519"). 1 = ok. */
static int parse_key_alt(const char *s, struct pol_key_rule *r)
{
    static const struct {
        const char *name;
        enum pol_key_kind kind;
    } named[] = {{"ec:P-256", POL_KEY_EC_P256},
                 {"ec:P-384", POL_KEY_EC_P384},
                 {"ec:P-521", POL_KEY_EC_P521},
                 {"ed25519", POL_KEY_ED25519}};
    uint64_t lo, hi;
    char buf[32];
    char *dash;

    memset(r, 0, sizeof(*r));
    for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
        if (strcmp(s, named[i].name) == 0) {
            r->kind = named[i].kind;
            return 1;
        }
    if (strncmp(s, "rsa:", 4) != 0 || strlen(s + 4) >= sizeof(buf))
        return 0;
    snprintf(buf, sizeof(buf), "%s", s + 4);
    if ((dash = strchr(buf, '-')) != NULL)
        *dash++ = 0;
    if (!sg_parse_u64(buf, 2048, 16384, &lo))
        return 0;
    hi = lo;
    if (dash && !sg_parse_u64(dash, lo, 16384, &hi))
        return 0;
    r->kind = POL_KEY_RSA;
    r->rsa_min = (unsigned)lo;
    r->rsa_max = (unsigned)hi;
    return 1;
}

enum signet_err pol_parse_keys(struct pol_parse *ps, struct policy_profile *p, const char *v)
{
    size_t n = 0;
    char **alts = sg_split_list(v, &n);
    enum signet_err rc = SIGNET_OK;

    if (alts == NULL)
        return SIGNET_E_NOMEM;
    if (n == 0 || n > POL_KEYS_MAX)
        rc = pol_perr(ps, "profile", "key", "key: list 1 to %d key types", POL_KEYS_MAX);
    for (size_t i = 0; rc == SIGNET_OK && i < n; i++) {
        if (!parse_key_alt(alts[i], &p->keys[i]))
            rc = pol_perr(ps, "profile", "key",
                          "key: unknown key type '%s' (use ec:P-256, ec:P-384, ec:P-521, "
                          "rsa:MIN-MAX with MIN >= 2048, ed25519)",
                          alts[i]);
    }
    p->nkeys = rc == SIGNET_OK ? n : 0;
    sg_strv_free(alts);
    return rc;
}

/* Splits "a|b|c" into a NULL-terminated list of at most POLICY_PATTERN_MAX entries. */
static enum signet_err split_alts(struct pol_parse *ps, const char *key, const char *word,
                                  const char *s, char ***out)
{
    char *copy = strdup(s), *save = NULL, *t;
    size_t n = 0;
    enum signet_err rc = SIGNET_OK;

    if (*out != NULL)
        rc = pol_perr(ps, "profile", key, "%s: %s given twice", key, word);
    else if (copy == NULL || (*out = calloc(POLICY_PATTERN_MAX + 1, sizeof(char *))) == NULL)
        rc = SIGNET_E_NOMEM;
    for (t = copy ? strtok_r(copy, "|", &save) : NULL; rc == SIGNET_OK && t;
         t = strtok_r(NULL, "|", &save)) {
        if (n == POLICY_PATTERN_MAX)
            rc = pol_perr(ps, "profile", key, "%s: more than %d %s alternatives", key,
                          POLICY_PATTERN_MAX, word);
        else if (!pol_no_controls((const unsigned char *)t, strlen(t)))
            rc = pol_perr(ps, "profile", key, "%s: a %s alternative holds a control character", key,
                          word);
        else if (((*out)[n++] = strdup(t)) == NULL)
            rc = SIGNET_E_NOMEM;
    }
    if (rc == SIGNET_OK && n == 0)
        rc = pol_perr(ps, "profile", key, "%s: %s needs at least one alternative", key, word);
    free(copy);
    return rc;
}

/* required / optional / forbidden: 1 when w is one of them. */
static int need_word(const char *w, enum pol_need *need)
{
    if (strcmp(w, "required") == 0)
        *need = POL_REQUIRED;
    else if (strcmp(w, "optional") == 0)
        *need = POL_OPTIONAL;
    else if (strcmp(w, "forbidden") == 0)
        *need = POL_FORBIDDEN;
    else
        return 0;
    return 1;
}

/* RFC 5280 Appendix A upper bounds (characters) for the usual attributes. */
static unsigned default_max_len(int nid)
{
    switch (nid) {
    case NID_countryName:
        return 2;
    case NID_commonName:
    case NID_organizationName:
    case NID_organizationalUnitName:
    case NID_serialNumber:
    case NID_title:
        return 64;
    case NID_domainComponent:
        return 63;
    case NID_pkcs9_emailAddress:
        return 255;
    default:
        return POL_ATTR_MAX;
    }
}

/* One word of a subject rule. */
static enum signet_err subject_word(struct pol_parse *ps, const char *key, const char *w,
                                    struct pol_subj_rule *r, int *have_need)
{
    uint64_t m;

    if (need_word(w, &r->need))
        *have_need = 1;
    else if (strcmp(w, "must-be-a-SAN") == 0)
        r->must_be_san = 1;
    else if (strncmp(w, "maxlen=", 7) == 0) {
        if (!sg_parse_u64(w + 7, 1, 1024, &m))
            return pol_perr(ps, "profile", key, "%s: maxlen= takes a number from 1 to 1024", key);
        r->max_len = (unsigned)m;
    } else if (strncmp(w, "values=", 7) == 0)
        return split_alts(ps, key, "values=", w + 7, &r->values);
    else if (strncmp(w, "match=", 6) == 0)
        return split_alts(ps, key, "match=", w + 6, &r->patterns);
    else
        return pol_perr(ps, "profile", key,
                        "%s: unknown word '%s' (known: required, optional, forbidden, "
                        "must-be-a-SAN, maxlen=N, values=A|B, match=GLOB|GLOB)",
                        key, w);
    return SIGNET_OK;
}

enum signet_err pol_parse_subject(struct pol_parse *ps, struct policy_profile *p, const char *key,
                                  const char *v)
{
    struct pol_subj_rule *r;
    int nid = OBJ_txt2nid(key + 8), have_need = 0;
    size_t n = 0;
    char **w;
    enum signet_err rc = SIGNET_OK;

    if (nid == NID_undef || strlen(key + 8) >= sizeof(r->name))
        return pol_perr(ps, "profile", key, "%s: unknown subject attribute '%s'", key, key + 8);
    for (size_t i = 0; i < p->nsubj; i++)
        if (p->subj[i].nid == nid)
            return pol_perr(ps, "profile", key, "%s: a rule for this attribute is given twice",
                            key);
    if (p->nsubj == POL_SUBJ_MAX)
        return pol_perr(ps, "profile", key, "%s: more than %d subject rules", key, POL_SUBJ_MAX);
    if ((w = sg_split_list(v, &n)) == NULL)
        return SIGNET_E_NOMEM;
    r = &p->subj[p->nsubj++];
    r->nid = nid;
    snprintf(r->name, sizeof(r->name), "%s", key + 8);
    for (size_t i = 0; rc == SIGNET_OK && i < n; i++)
        rc = subject_word(ps, key, w[i], r, &have_need);
    if (rc == SIGNET_OK && !have_need)
        rc = pol_perr(ps, "profile", key, "%s: say required, optional or forbidden", key);
    if (rc == SIGNET_OK && r->max_len == 0)
        r->max_len = default_max_len(nid);
    sg_strv_free(w);
    return rc;
}

/* ip match=: every alternative compiled to a network. */
static enum signet_err compile_nets(struct pol_parse *ps, const char *key, struct pol_san_rule *r)
{
    size_t n = 0;

    while (r->patterns[n])
        n++;
    if ((r->nets = calloc(n, sizeof(*r->nets))) == NULL)
        return SIGNET_E_NOMEM;
    for (size_t i = 0; i < n; i++)
        if (!pol_cidr_parse(r->patterns[i], &r->nets[i]))
            return pol_perr(ps, "profile", key,
                            "%s: '%s' is not a network such as 10.0.0.0/8 or 2001:db8::/32 "
                            "(host bits zero)",
                            key, r->patterns[i]);
    r->nnets = n;
    return SIGNET_OK;
}

/* One word of a SAN rule of kind k. */
static enum signet_err san_word(struct pol_parse *ps, const char *key, int k, const char *w,
                                struct pol_san_rule *r, int *have_need)
{
    uint64_t m;

    if (need_word(w, &r->need))
        *have_need = 1;
    else if (strncmp(w, "max=", 4) == 0) {
        if (!sg_parse_u64(w + 4, 1, POLICY_SAN_MAX, &m))
            return pol_perr(ps, "profile", key, "%s: max= takes a number from 1 to %d", key,
                            POLICY_SAN_MAX);
        r->max = (unsigned)m;
    } else if (strncmp(w, "match=", 6) == 0)
        return split_alts(ps, key, "match=", w + 6, &r->patterns);
    else if (k == POL_SAN_DNS && strcmp(w, "wildcard=allowed") == 0)
        r->wildcard = 1;
    else if (k == POL_SAN_DNS && strcmp(w, "wildcard=forbidden") == 0)
        r->wildcard = 0;
    else
        return pol_perr(ps, "profile", key,
                        "%s: unknown word '%s' (known: required, optional, forbidden, max=N, "
                        "match=A|B%s)",
                        key, w, k == POL_SAN_DNS ? ", wildcard=allowed|forbidden" : "");
    return SIGNET_OK;
}

/* Checks a DNS match= pattern: a name, "*.name" or "**.name", lowercase, valid. */
static enum signet_err check_dns_pattern(struct pol_parse *ps, const char *key, const char *pat)
{
    const char *base = strncmp(pat, "**.", 3) == 0  ? pat + 3
                       : strncmp(pat, "*.", 2) == 0 ? pat + 2
                                                    : pat;
    char why[SIGNET_DETAIL_MAX];

    if (!pol_dns_ok(base, strlen(base), 0, why, sizeof(why)))
        return pol_perr(ps, "profile", key, "%s: pattern '%s': %s", key, pat, why);
    return SIGNET_OK;
}

enum signet_err pol_parse_san(struct pol_parse *ps, struct policy_profile *p, const char *key,
                              const char *v)
{
    for (int k = 0; k < POL_SAN_KIND_MAX; k++) {
        struct pol_san_rule *r = &p->san[k];
        enum signet_err rc = SIGNET_OK;
        size_t n = 0;
        int have_need = 0;
        char **w;

        if (strcmp(key + 4, pol_san_kind_names[k]) != 0)
            continue;
        if (r->need != POL_FORBIDDEN || r->patterns || r->max)
            return pol_perr(ps, "profile", key, "%s: given twice", key);
        if ((w = sg_split_list(v, &n)) == NULL)
            return SIGNET_E_NOMEM;
        for (size_t i = 0; rc == SIGNET_OK && i < n; i++)
            rc = san_word(ps, key, k, w[i], r, &have_need);
        sg_strv_free(w);
        if (rc == SIGNET_OK && !have_need)
            rc = pol_perr(ps, "profile", key, "%s: say required, optional or forbidden", key);
        if (rc == SIGNET_OK && k == POL_SAN_IP && r->patterns)
            rc = compile_nets(ps, key, r);
        for (size_t i = 0; rc == SIGNET_OK && k != POL_SAN_IP && k != POL_SAN_URI && r->patterns &&
                           r->patterns[i];
             i++)
            rc = check_dns_pattern(ps, key, r->patterns[i]);
        return rc;
    }
    return pol_perr(ps, "profile", key,
                    "%s: unknown SAN type (use san.dns, san.ip, san.email, san.uri)", key);
}

enum signet_err pol_parse_order(struct pol_parse *ps, struct policy_profile *p, const char *v)
{
    struct pol_subj_rule sorted[POL_SUBJ_MAX];
    int taken[POL_SUBJ_MAX] = {0};
    size_t n = 0, done = 0;
    char **w = sg_split_list(v, &n);
    enum signet_err rc = SIGNET_OK;

    if (w == NULL)
        return SIGNET_E_NOMEM;
    for (size_t i = 0; rc == SIGNET_OK && i < n; i++) {
        int nid = OBJ_txt2nid(w[i]);
        size_t j = 0;
        while (j < p->nsubj && (p->subj[j].nid != nid || nid == NID_undef))
            j++;
        if (j == p->nsubj)
            rc = pol_perr(ps, "profile", "subject_order",
                          "subject_order: '%s' has no subject.%s rule in this profile", w[i], w[i]);
        else if (taken[j]++)
            rc = pol_perr(ps, "profile", "subject_order", "subject_order: '%s' given twice", w[i]);
        else
            sorted[done++] = p->subj[j];
    }
    if (rc == SIGNET_OK && done != p->nsubj)
        rc = pol_perr(ps, "profile", "subject_order",
                      "subject_order: list every subject.ATTR rule of the profile (%zu of %zu)",
                      done, p->nsubj);
    if (rc == SIGNET_OK)
        memcpy(p->subj, sorted, done * sizeof(sorted[0]));
    sg_strv_free(w);
    return rc;
}

enum signet_err pol_parse_clients(struct pol_parse *ps, struct policy_profile *p, const char *v)
{
    size_t n = 0;
    char **w = sg_split_list(v, &n);

    if (w == NULL)
        return SIGNET_E_NOMEM;
    if (p->clients != NULL || n == 0 || n > POL_CLIENTS_MAX) {
        sg_strv_free(w);
        return pol_perr(ps, "profile", "clients",
                        "clients: given twice, empty or more than %d names", POL_CLIENTS_MAX);
    }
    for (size_t i = 0; i < n; i++)
        for (const char *c = w[i]; *c; c++)
            if (!isalnum((unsigned char)*c) && !strchr("-_.*", *c)) {
                char bad[80];
                snprintf(bad, sizeof(bad), "%s", w[i]);
                sg_strv_free(w);
                return pol_perr(ps, "profile", "clients",
                                "clients: '%s' is not a client name ([client.NAME] of "
                                "signet.conf, or *)",
                                bad);
            }
    p->clients = w;
    return SIGNET_OK;
}

void pol_subj_rule_clear(struct pol_subj_rule *r)
{
    sg_strv_free(r->values);
    sg_strv_free(r->patterns);
    r->values = r->patterns = NULL;
}

void pol_san_rule_clear(struct pol_san_rule *r)
{
    sg_strv_free(r->patterns);
    free(r->nets);
    r->patterns = NULL;
    r->nets = NULL;
}
