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

/* See internal.h. */
enum signet_err pol_perr(struct pol_parse *ps, const char *section, const char *key,
                         const char *fmt, ...)
{
    char msg[SIGNET_DETAIL_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sg_detail(ps->detail, "%s:%ld: %s", ps->path, find_line(ps->text, section, key), msg);
    return SIGNET_E_CONFIG;
}

/* The keys of [profile] that name sections or need the whole profile first. */
struct late_keys {
    const char *ext_section;
    const char *path_len;
    const char *name_constraints;
    const char *order;
    const char *validity_max;
};

/* validity / validity_max: a duration of at most 100 years. */
static enum signet_err parse_duration_key(struct pol_parse *ps, const char *key, const char *v,
                                          int64_t *out)
{
    if (!sg_parse_duration(v, out) || *out <= 0 || *out > 100LL * 365 * 86400)
        return pol_perr(ps, "profile", key,
                        "%s: '%s' is not a duration such as 90d, 12h or 5y (at most 100y)", key, v);
    return SIGNET_OK;
}

/* Words of a one-word key: 1 = v is one of a / b, set *out to 0 / 1. */
static int pick(const char *v, const char *a, const char *b, int *out)
{
    if (strcmp(v, a) == 0 || strcmp(v, b) == 0) {
        *out = strcmp(v, b) == 0;
        return 1;
    }
    return 0;
}

/* Handles one key of [profile]. */
static enum signet_err parse_key(struct pol_parse *ps, struct policy_profile *p, const char *key,
                                 const char *v, struct late_keys *late)
{
    uint64_t n;
    int w;

    if (strcmp(key, "description") == 0) {
        free(p->description);
        return (p->description = strdup(v)) ? SIGNET_OK : SIGNET_E_NOMEM;
    }
    if (strcmp(key, "validity") == 0)
        return parse_duration_key(ps, key, v, &p->validity);
    if (strcmp(key, "validity_max") == 0)
        return (late->validity_max = v), SIGNET_OK;
    if (strcmp(key, "key") == 0)
        return pol_parse_keys(ps, p, v);
    if (strcmp(key, "extensions") == 0)
        return (late->ext_section = v), SIGNET_OK;
    if (strcmp(key, "path_len") == 0)
        return (late->path_len = v), SIGNET_OK;
    if (strcmp(key, "name_constraints") == 0)
        return (late->name_constraints = v), SIGNET_OK;
    if (strcmp(key, "subject_order") == 0)
        return (late->order = v), SIGNET_OK;
    if (strcmp(key, "approval") == 0) {
        if (!pick(v, "auto", "manual", &w))
            return pol_perr(ps, "profile", key, "approval: '%s'; say auto or manual", v);
        p->approval = w ? POLICY_APPROVAL_MANUAL : POLICY_APPROVAL_AUTO;
        return SIGNET_OK;
    }
    if (strcmp(key, "csr_extensions") == 0) {
        if (!pick(v, "ignore", "refuse", &w))
            return pol_perr(ps, "profile", key, "csr_extensions: '%s'; say ignore or refuse", v);
        p->csr_ext = w ? POL_CSR_EXT_REFUSE : POL_CSR_EXT_IGNORE;
        return SIGNET_OK;
    }
    if (strcmp(key, "san_max") == 0) {
        if (!sg_parse_u64(v, 1, POLICY_SAN_MAX, &n))
            return pol_perr(ps, "profile", key, "san_max: a number from 1 to %d, not '%s'",
                            POLICY_SAN_MAX, v);
        p->san_max = (unsigned)n;
        return SIGNET_OK;
    }
    if (strcmp(key, "clients") == 0)
        return pol_parse_clients(ps, p, v);
    if (strncmp(key, "subject.", 8) == 0)
        return pol_parse_subject(ps, p, key, v);
    if (strncmp(key, "san.", 4) == 0)
        return pol_parse_san(ps, p, key, v);
    return pol_perr(ps, "profile", key,
                    "unknown key '%s' (known: description, validity, validity_max, key, "
                    "subject.ATTR, subject_order, san.TYPE, san_max, csr_extensions, extensions, "
                    "path_len, name_constraints, approval, clients)",
                    key);
}

/* The keys that depend on others: validity_max, subject_order, the extensions. */
static enum signet_err parse_late(struct pol_parse *ps, struct policy_profile *p,
                                  const struct late_keys *late)
{
    enum signet_err rc;

    p->validity_max = p->validity;
    if (late->validity_max) {
        if ((rc = parse_duration_key(ps, "validity_max", late->validity_max, &p->validity_max)) !=
            SIGNET_OK)
            return rc;
        if (p->validity_max < p->validity)
            return pol_perr(ps, "profile", "validity_max",
                            "validity_max: shorter than validity (the default); make it at "
                            "least as long");
    }
    if (late->order && (rc = pol_parse_order(ps, p, late->order)) != SIGNET_OK)
        return rc;
    if (late->ext_section == NULL)
        return pol_perr(ps, "profile", NULL,
                        "[profile] needs extensions = SECTION (the only extensions issued)");
    return pol_compile_extensions(ps, p, late->ext_section, late->path_len, late->name_constraints);
}

/* Reads every key of [profile] and checks the required ones are there. */
static enum signet_err parse_profile(struct pol_parse *ps, struct policy_profile *p)
{
    STACK_OF(CONF_VALUE) *vals = NCONF_get_section(ps->conf, "profile");
    struct late_keys late = {0};
    enum signet_err rc;

    if (vals == NULL) {
        ERR_clear_error();
        sg_detail(ps->detail, "%s:1: no [profile] section", ps->path);
        return SIGNET_E_CONFIG;
    }
    p->san_max = POLICY_SAN_MAX;
    p->path_len = -1;
    for (int i = 0; i < sk_CONF_VALUE_num(vals); i++) {
        CONF_VALUE *cv = sk_CONF_VALUE_value(vals, i);
        if ((rc = parse_key(ps, p, cv->name, cv->value, &late)) != SIGNET_OK)
            return rc;
    }
    if (p->validity == 0)
        return pol_perr(ps, "profile", NULL, "[profile] needs validity (e.g. validity = 90d)");
    if (p->nkeys == 0)
        return pol_perr(ps, "profile", NULL, "[profile] needs key (e.g. key = ec:P-256, ed25519)");
    return parse_late(ps, p, &late);
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
    struct pol_parse ps = {path, NULL, NULL, detail};
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
        pol_san_rule_clear(&p->san[k]);
    for (size_t i = 0; i < p->nsubj; i++)
        pol_subj_rule_clear(&p->subj[i]);
    sg_strv_free(p->clients);
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

int64_t policy_profile_validity_max(const struct policy_profile *p)
{
    return p->validity_max;
}

int64_t policy_profile_validity_for(const struct policy_profile *p, int64_t requested)
{
    if (requested <= 0)
        return p->validity;
    return requested < p->validity_max ? requested : p->validity_max;
}

enum policy_approval policy_profile_approval(const struct policy_profile *p)
{
    return p->approval;
}

/* Client names compare without their "client." prefix: "demo" and "client.demo" are one. */
static const char *client_base(const char *s)
{
    return strncmp(s, "client.", 7) == 0 ? s + 7 : s;
}

int policy_profile_allows_client(const struct policy_profile *p, const char *client)
{
    if (p->clients == NULL)
        return 1;
    if (client == NULL)
        return 0;
    for (char **c = p->clients; *c; c++)
        if (strcmp(*c, "*") == 0 || strcmp(client_base(*c), client_base(client)) == 0)
            return 1;
    return 0;
}

int policy_profile_is_ca(const struct policy_profile *p)
{
    return p->is_ca;
}

int policy_profile_path_len(const struct policy_profile *p)
{
    return p->path_len;
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

enum signet_err policy_set_reload(const char *dir, struct policy_set **set, char *detail)
{
    struct policy_set *fresh = NULL;
    enum signet_err rc = policy_set_load(dir, &fresh, detail);

    if (rc != SIGNET_OK)
        return rc;
    policy_set_free(*set);
    *set = fresh;
    return SIGNET_OK;
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
