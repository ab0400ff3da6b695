/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Profile files: parsed with NCONF, every key checked (unknown keys refused with file:line),
 * the extension section compiled once into X509_EXTENSIONs.
 */
#include "internal.h"

#include <ctype.h>
#include <dirent.h>
#include <openssl/conf.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROFILE_FILE_MAX (256u * 1024u)

const char *const pol_san_kind_names[POL_SAN_KIND_MAX] = {"dns", "ip", "email", "uri"};

struct parse {
    const char *path;
    const char *text; /* the raw file, to find line numbers */
    CONF *conf;
    char *detail;
};

/*
 * The 1-based line of key in [section] of the raw text (key NULL: the section header), or 0
 * when not found. NCONF keeps no line numbers, so errors about values are located this way.
 */
static long find_line(const char *text, const char *section, const char *key)
{
    long line = 1;
    int in = 0;
    size_t klen = key ? strlen(key) : 0, slen = strlen(section);

    for (const char *p = text; *p; line++) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        const char *q = p;
        while (q < p + n && isspace((unsigned char)*q))
            q++;
        if (*q == '[') {
            const char *s = q + 1;
            while (*s == ' ')
                s++;
            in = strncmp(s, section, slen) == 0 && (s[slen] == ']' || s[slen] == ' ');
            if (in && key == NULL)
                return line;
        } else if (in && key && strncmp(q, key, klen) == 0 &&
                   (q[klen] == '=' || q[klen] == ' ' || q[klen] == '\t')) {
            return line;
        }
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

/* Formats "FILE:LINE: msg" for key in section into the detail. Returns SIGNET_E_CONFIG. */
static enum signet_err perr(struct parse *ps, const char *section, const char *key, const char *fmt,
                            ...) __attribute__((format(printf, 4, 5)));
static enum signet_err perr(struct parse *ps, const char *section, const char *key, const char *fmt,
                            ...)
{
    char msg[SIGNET_DETAIL_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sg_detail(ps->detail, "%s:%ld: %s", ps->path, find_line(ps->text, section, key), msg);
    return SIGNET_E_CONFIG;
}

/* Parses one key= alternative ("ec:P-256", "rsa:2048-4096", "rsa:3072", "ed25519"). 1 = ok. */
static int parse_key_alt(const char *s, struct pol_key_rule *r)
{
    uint64_t lo, hi;
    char buf[32];
    char *dash;

    memset(r, 0, sizeof(*r));
    if (strcmp(s, "ec:P-256") == 0) {
        r->kind = POL_KEY_EC_P256;
        return 1;
    }
    if (strcmp(s, "ec:P-384") == 0) {
        r->kind = POL_KEY_EC_P384;
        return 1;
    }
    if (strcmp(s, "ed25519") == 0) {
        r->kind = POL_KEY_ED25519;
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

static enum signet_err parse_keys(struct parse *ps, struct policy_profile *p, const char *v)
{
    size_t n = 0;
    char **alts = sg_split_list(v, &n);
    enum signet_err rc = SIGNET_OK;

    if (alts == NULL)
        return SIGNET_E_NOMEM;
    if (n == 0 || n > POL_KEYS_MAX)
        rc = perr(ps, "profile", "key", "key: list 1 to %d key types", POL_KEYS_MAX);
    for (size_t i = 0; rc == SIGNET_OK && i < n; i++) {
        if (!parse_key_alt(alts[i], &p->keys[i]))
            rc = perr(ps, "profile", "key",
                      "key: unknown key type '%s' (use ec:P-256, ec:P-384, rsa:MIN-MAX with "
                      "MIN >= 2048, ed25519)",
                      alts[i]);
    }
    p->nkeys = rc == SIGNET_OK ? n : 0;
    sg_strv_free(alts);
    return rc;
}

/* Parses the words of a subject or SAN rule into its parts. */
static enum signet_err parse_rule_words(struct parse *ps, const char *key, const char *v,
                                        enum pol_need *need, int *must_be_san, unsigned *max,
                                        char ***patterns)
{
    size_t n = 0;
    char **w = sg_split_list(v, &n);
    enum signet_err rc = SIGNET_OK;
    int have_need = 0;

    if (w == NULL)
        return SIGNET_E_NOMEM;
    for (size_t i = 0; rc == SIGNET_OK && i < n; i++) {
        uint64_t m;
        if (strcmp(w[i], "required") == 0 || strcmp(w[i], "optional") == 0 ||
            strcmp(w[i], "forbidden") == 0) {
            *need = w[i][0] == 'r' ? POL_REQUIRED : w[i][0] == 'o' ? POL_OPTIONAL : POL_FORBIDDEN;
            have_need = 1;
        } else if (must_be_san && strcmp(w[i], "must-be-a-SAN") == 0) {
            *must_be_san = 1;
        } else if (max && strncmp(w[i], "max=", 4) == 0) {
            if (!sg_parse_u64(w[i] + 4, 1, POLICY_SAN_MAX, &m))
                rc = perr(ps, "profile", key, "%s: max= takes a number from 1 to %d", key,
                          POLICY_SAN_MAX);
            else
                *max = (unsigned)m;
        } else if (patterns && strncmp(w[i], "match=", 6) == 0) {
            char *s = strdup(w[i] + 6), *save = NULL, *t;
            size_t np = 0;
            if (s == NULL || (*patterns = calloc(POLICY_PATTERN_MAX + 1, sizeof(char *))) == NULL) {
                free(s);
                rc = SIGNET_E_NOMEM;
                break;
            }
            for (t = strtok_r(s, "|", &save); t && rc == SIGNET_OK;
                 t = strtok_r(NULL, "|", &save)) {
                if (np == POLICY_PATTERN_MAX)
                    rc = perr(ps, "profile", key, "%s: more than %d match= alternatives", key,
                              POLICY_PATTERN_MAX);
                else if (((*patterns)[np++] = strdup(t)) == NULL)
                    rc = SIGNET_E_NOMEM;
            }
            free(s);
            if (rc == SIGNET_OK && np == 0)
                rc = perr(ps, "profile", key, "%s: match= needs at least one pattern", key);
        } else {
            rc = perr(ps, "profile", key, "%s: unknown word '%s'", key, w[i]);
        }
    }
    if (rc == SIGNET_OK && !have_need)
        rc = perr(ps, "profile", key, "%s: say required, optional or forbidden", key);
    sg_strv_free(w);
    return rc;
}

static enum signet_err parse_subject(struct parse *ps, struct policy_profile *p, const char *key,
                                     const char *v)
{
    struct pol_subj_rule *r;
    int nid = OBJ_txt2nid(key + 8);

    if (nid == NID_undef || strlen(key + 8) >= sizeof(r->name))
        return perr(ps, "profile", key, "%s: unknown subject attribute '%s'", key, key + 8);
    if (p->nsubj == POL_SUBJ_MAX)
        return perr(ps, "profile", key, "%s: more than %d subject rules", key, POL_SUBJ_MAX);
    r = &p->subj[p->nsubj++];
    r->nid = nid;
    snprintf(r->name, sizeof(r->name), "%s", key + 8);
    return parse_rule_words(ps, key, v, &r->need, &r->must_be_san, NULL, NULL);
}

static enum signet_err parse_san(struct parse *ps, struct policy_profile *p, const char *key,
                                 const char *v)
{
    for (int k = 0; k < POL_SAN_KIND_MAX; k++) {
        if (strcmp(key + 4, pol_san_kind_names[k]) != 0)
            continue;
        struct pol_san_rule *r = &p->san[k];
        enum signet_err rc;
        if (r->patterns) /* a repeated key */
            return perr(ps, "profile", key, "%s: given twice", key);
        rc = parse_rule_words(ps, key, v, &r->need, NULL, &r->max,
                              k == POL_SAN_IP ? NULL : &r->patterns);
        return rc;
    }
    return perr(ps, "profile", key,
                "%s: unknown SAN type (use san.dns, san.ip, san.email, san.uri)", key);
}

/*
 * Compiles the extension section entry by entry, so that an entry OpenSSL refuses is reported
 * with its own line. SAN, SKI, AKI, CDP and AIA are refused: the CA sets those itself.
 */
static enum signet_err compile_extensions(struct parse *ps, struct policy_profile *p,
                                          const char *section)
{
    STACK_OF(CONF_VALUE) *vals = NCONF_get_section(ps->conf, section);
    X509V3_CTX v3;

    if (vals == NULL) {
        ERR_clear_error();
        return perr(ps, "profile", "extensions", "extensions: no section [%s] in the file",
                    section);
    }
    if ((p->exts = sk_X509_EXTENSION_new_null()) == NULL)
        return SIGNET_E_NOMEM;
    X509V3_set_ctx(&v3, NULL, NULL, NULL, NULL, X509V3_CTX_TEST);
    X509V3_set_nconf(&v3, ps->conf);
    for (int i = 0; i < sk_CONF_VALUE_num(vals); i++) {
        CONF_VALUE *cv = sk_CONF_VALUE_value(vals, i);
        X509_EXTENSION *ext = X509V3_EXT_nconf(ps->conf, &v3, cv->name, cv->value);
        int nid;
        if (ext == NULL) {
            char why[256] = "";
            unsigned long e = ERR_peek_last_error();
            if (e)
                snprintf(why, sizeof(why), ": %s", ERR_reason_error_string(e));
            ERR_clear_error();
            return perr(ps, section, cv->name, "[%s] %s: OpenSSL refuses this extension%s", section,
                        cv->name, why);
        }
        nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
        if (nid == NID_subject_alt_name || nid == NID_subject_key_identifier ||
            nid == NID_authority_key_identifier || nid == NID_crl_distribution_points ||
            nid == NID_info_access) {
            X509_EXTENSION_free(ext);
            return perr(ps, section, cv->name,
                        "[%s] %s: set by the CA itself (SANs come from the CSR under the san.* "
                        "rules; CDP and AIA from crl_url and ocsp_url in [ca.NAME]); remove it",
                        section, cv->name);
        }
        for (int j = 0; j < sk_X509_EXTENSION_num(p->exts); j++) {
            if (OBJ_cmp(X509_EXTENSION_get_object(sk_X509_EXTENSION_value(p->exts, j)),
                        X509_EXTENSION_get_object(ext)) == 0) {
                X509_EXTENSION_free(ext);
                return perr(ps, section, cv->name, "[%s] %s: extension given twice", section,
                            cv->name);
            }
        }
        if (!sk_X509_EXTENSION_push(p->exts, ext)) {
            X509_EXTENSION_free(ext);
            return SIGNET_E_NOMEM;
        }
    }
    return SIGNET_OK;
}

/* Handles one key of [profile]. */
static enum signet_err parse_key(struct parse *ps, struct policy_profile *p, const char *key,
                                 const char *v, const char **ext_section)
{
    if (strcmp(key, "description") == 0) {
        free(p->description);
        return (p->description = strdup(v)) ? SIGNET_OK : SIGNET_E_NOMEM;
    }
    if (strcmp(key, "validity") == 0) {
        if (!sg_parse_duration(v, &p->validity) || p->validity > 100LL * 365 * 86400)
            return perr(ps, "profile", key,
                        "validity: '%s' is not a duration such as 90d, 12h or 5y", v);
        return SIGNET_OK;
    }
    if (strcmp(key, "key") == 0)
        return parse_keys(ps, p, v);
    if (strcmp(key, "extensions") == 0) {
        *ext_section = v;
        return SIGNET_OK;
    }
    if (strcmp(key, "approval") == 0) {
        if (strcmp(v, "auto") != 0)
            return perr(ps, "profile", key,
                        "approval: only 'auto' is supported in this version, not '%s'", v);
        return SIGNET_OK;
    }
    if (strncmp(key, "subject.", 8) == 0)
        return parse_subject(ps, p, key, v);
    if (strncmp(key, "san.", 4) == 0)
        return parse_san(ps, p, key, v);
    return perr(ps, "profile", key,
                "unknown key '%s' (known: description, validity, key, subject.ATTR, san.TYPE, "
                "extensions, approval)",
                key);
}

/* Reads every key of [profile] and checks the required ones are there. */
static enum signet_err parse_profile(struct parse *ps, struct policy_profile *p)
{
    STACK_OF(CONF_VALUE) *vals = NCONF_get_section(ps->conf, "profile");
    const char *ext_section = NULL;
    enum signet_err rc;

    if (vals == NULL) {
        ERR_clear_error();
        sg_detail(ps->detail, "%s:1: no [profile] section", ps->path);
        return SIGNET_E_CONFIG;
    }
    for (int i = 0; i < sk_CONF_VALUE_num(vals); i++) {
        CONF_VALUE *cv = sk_CONF_VALUE_value(vals, i);
        if ((rc = parse_key(ps, p, cv->name, cv->value, &ext_section)) != SIGNET_OK)
            return rc;
    }
    if (p->validity == 0)
        return perr(ps, "profile", NULL, "[profile] needs validity (e.g. validity = 90d)");
    if (p->nkeys == 0)
        return perr(ps, "profile", NULL, "[profile] needs key (e.g. key = ec:P-256, ed25519)");
    if (ext_section == NULL)
        return perr(ps, "profile", NULL,
                    "[profile] needs extensions = SECTION (the only extensions issued)");
    return compile_extensions(ps, p, ext_section);
}

/* The profile name from a path: base name without ".conf"; NULL when not a valid name. */
static char *profile_name(const char *path)
{
    const char *b = strrchr(path, '/');
    size_t n;

    b = b ? b + 1 : path;
    n = strlen(b);
    if (n > 5 && strcmp(b + n - 5, ".conf") == 0)
        n -= 5;
    if (n == 0 || n >= 64)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)b[i]) && b[i] != '-' && b[i] != '_' && b[i] != '.')
            return NULL;
    return strndup(b, n);
}

enum signet_err policy_profile_load(const char *path, struct policy_profile **out, char *detail)
{
    struct policy_profile *p = NULL;
    struct sg_conf *conf = NULL;
    unsigned char *text = NULL;
    size_t len;
    struct parse ps = {path, NULL, NULL, detail};
    enum signet_err rc;

    *out = NULL;
    if ((rc = sg_read_file(path, PROFILE_FILE_MAX, &text, &len, detail)) != SIGNET_OK)
        goto out;
    if ((rc = sg_conf_load(path, &conf, detail)) != SIGNET_OK)
        goto out;
    ps.text = (const char *)text;
    ps.conf = sg_conf_nconf(conf);
    rc = SIGNET_E_NOMEM;
    if ((p = calloc(1, sizeof(*p))) == NULL || (p->path = strdup(path)) == NULL)
        goto out;
    if ((p->name = profile_name(path)) == NULL) {
        sg_detail(detail,
                  "%s: a profile file is named NAME.conf with NAME of letters, digits, "
                  "'-', '_' or '.'",
                  path);
        rc = SIGNET_E_CONFIG;
        goto out;
    }
    if ((rc = parse_profile(&ps, p)) != SIGNET_OK)
        goto out;
    if (p->description == NULL && (p->description = strdup("")) == NULL) {
        rc = SIGNET_E_NOMEM;
        goto out;
    }
    *out = p;
    p = NULL;
out:
    if (rc == SIGNET_E_NOMEM)
        sg_detail(detail, "%s: out of memory", path);
    policy_profile_free(p);
    sg_conf_free(conf);
    free(text);
    return rc;
}

void policy_profile_free(struct policy_profile *p)
{
    if (p == NULL)
        return;
    for (int k = 0; k < POL_SAN_KIND_MAX; k++)
        sg_strv_free(p->san[k].patterns);
    sk_X509_EXTENSION_pop_free(p->exts, X509_EXTENSION_free);
    free(p->name);
    free(p->path);
    free(p->description);
    free(p);
}

const char *policy_profile_name(const struct policy_profile *p)
{
    return p->name;
}

const char *policy_profile_description(const struct policy_profile *p)
{
    return p->description;
}

int64_t policy_profile_validity(const struct policy_profile *p)
{
    return p->validity;
}

int policy_add_extensions(const struct policy_profile *p, X509 *cert)
{
    for (int i = 0; i < sk_X509_EXTENSION_num(p->exts); i++)
        if (!X509_add_ext(cert, sk_X509_EXTENSION_value(p->exts, i), -1))
            return 0;
    return 1;
}

/* ---- sets ---- */

struct policy_set {
    struct policy_profile **v; /* sorted by name */
    size_t n;
};

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

enum signet_err policy_set_load(const char *dir, struct policy_set **out, char *detail)
{
    struct policy_set *set = NULL;
    DIR *d = NULL;
    struct dirent *e;
    char **names = NULL, path[4096];
    size_t n = 0, cap = 0;
    enum signet_err rc = SIGNET_E_NOMEM;

    *out = NULL;
    if ((d = opendir(dir)) == NULL) {
        sg_detail(detail, "policies directory %s cannot be read; check [signet] policies", dir);
        return SIGNET_E_CONFIG;
    }
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || l < 6 || strcmp(e->d_name + l - 5, ".conf") != 0)
            continue;
        if (n + 1 >= cap) {
            char **nv = realloc(names, (cap = cap ? 2 * cap : 16) * sizeof(*names));
            if (nv == NULL)
                goto out;
            names = nv;
        }
        if ((names[n] = strdup(e->d_name)) == NULL)
            goto out;
        names[++n] = NULL;
    }
    if (n > 0)
        qsort(names, n, sizeof(*names), cmp_name);
    if ((set = calloc(1, sizeof(*set))) == NULL ||
        (set->v = calloc(n + 1, sizeof(*set->v))) == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        if ((rc = policy_profile_load(path, &set->v[set->n], detail)) != SIGNET_OK)
            goto out;
        set->n++;
    }
    *out = set;
    set = NULL;
    rc = SIGNET_OK;
out:
    if (rc == SIGNET_E_NOMEM)
        sg_detail(detail, "%s: out of memory", dir);
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
    if (d)
        closedir(d);
    policy_set_free(set);
    return rc;
}

void policy_set_free(struct policy_set *set)
{
    if (set == NULL)
        return;
    for (size_t i = 0; i < set->n; i++)
        policy_profile_free(set->v[i]);
    free(set->v);
    free(set);
}

size_t policy_set_count(const struct policy_set *set)
{
    return set ? set->n : 0;
}

const struct policy_profile *policy_set_at(const struct policy_set *set, size_t i)
{
    return set && i < set->n ? set->v[i] : NULL;
}

const struct policy_profile *policy_set_get(const struct policy_set *set, const char *name)
{
    for (size_t i = 0; set && i < set->n; i++)
        if (strcmp(set->v[i]->name, name) == 0)
            return set->v[i];
    return NULL;
}
