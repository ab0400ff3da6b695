/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CA context: signet.conf read into tokens and CAs, profiles compiled, the store opened and
 * joined with the configured CAs; tokens and keys opened on first use; health.
 */
#include "internal.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CA_CERT_FILE_MAX (256u * 1024u)

static const char *def(const char *v, const char *fallback)
{
    return v ? v : fallback;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

X509 *ca_load_cert_file(const char *path, char *detail)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    X509 *x = NULL;
    BIO *b = NULL;

    if (sg_read_file(path, CA_CERT_FILE_MAX, &buf, &len, detail) != SIGNET_OK)
        return NULL;
    if ((b = BIO_new_mem_buf(buf, (int)len)) != NULL)
        x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    if (x == NULL) {
        const unsigned char *p = buf;
        x = d2i_X509(NULL, &p, (long)len);
    }
    if (x == NULL)
        sg_detail(detail, "%s: not a certificate (PEM or DER)", path);
    ERR_clear_error();
    BIO_free(b);
    free(buf);
    return x;
}

void ca_uri_attr(const char *uri, const char *attr, char *out, size_t cap)
{
    size_t alen = strlen(attr), n = 0;
    const char *p = uri;

    out[0] = 0;
    while ((p = strstr(p, attr)) != NULL && ((p != uri + 7 && p[-1] != ';') || p[alen] != '='))
        p += alen;
    if (p == NULL)
        return;
    for (p += alen + 1; *p && *p != ';' && *p != '?' && n + 1 < cap; p++) {
        if (*p == '%' && p[1] && p[2]) {
            unsigned char c;
            char hex[3] = {p[1], p[2], 0};
            if (sg_hex_decode(hex, &c, 1) == 1) {
                out[n++] = (char)c;
                p += 2;
                continue;
            }
        }
        out[n++] = *p;
    }
    out[n] = 0;
}

/* Reads the [token.NAME] sections. */
static enum signet_err load_tokens(struct ca_ctx *ctx, char *detail)
{
    char **names = NULL;
    size_t n = sg_conf_sections(ctx->conf, "token.", &names);
    enum signet_err rc = SIGNET_OK;

    if ((ctx->tokens = calloc(n + 1, sizeof(*ctx->tokens))) == NULL)
        rc = SIGNET_E_NOMEM;
    for (size_t i = 0; rc == SIGNET_OK && i < n; i++) {
        struct ca_token_ent *t = &ctx->tokens[ctx->ntokens++];
        char sec[128];
        const char *module, *label;
        snprintf(sec, sizeof(sec), "token.%s", names[i]);
        module = sg_conf_get(ctx->conf, sec, "module");
        label = sg_conf_get(ctx->conf, sec, "token");
        t->name = strdup(names[i]);
        if (module == NULL || label == NULL) {
            sg_detail(detail, "%s: [%s] needs module = PATH and token = LABEL",
                      sg_conf_file(ctx->conf), sec);
            rc = SIGNET_E_CONFIG;
            break;
        }
        t->module = sg_conf_path(ctx->conf, module);
        t->label = strdup(label);
        t->pin = dup_or_null(sg_conf_get(ctx->conf, sec, "pin"));
        /* init_args: the module's C_Initialize pReserved string (NSS softoken's configdir=...) */
        t->init_reserved = dup_or_null(sg_conf_get(ctx->conf, sec, "init_args")
                                           ? sg_conf_get(ctx->conf, sec, "init_args")
                                           : sg_conf_get(ctx->conf, sec, "init_reserved"));
        if (t->name == NULL || t->module == NULL || t->label == NULL)
            rc = SIGNET_E_NOMEM;
    }
    sg_strv_free(names);
    return rc;
}

/* 1 when set holds every profile the CA lists; otherwise 0 and the missing one is named. */
static int profiles_present(const struct ca_ctx *ctx, const struct ca_ent *ca,
                            const struct policy_set *set, char *detail)
{
    for (char **p = ca->profile_list; *p; p++) {
        if (policy_set_get(set, *p) == NULL) {
            sg_detail(detail,
                      "%s: [ca.%s] profiles names '%s', which is not a file in the policies "
                      "directory",
                      sg_conf_file(ctx->conf), ca->name, *p);
            return 0;
        }
    }
    return 1;
}

/* Reads one [ca.NAME] section of conf into ca; its profiles must be in set. */
static enum signet_err load_ca(struct ca_ctx *ctx, const struct sg_conf *conf, const char *name,
                               struct ca_ent *ca, const struct policy_set *set, char *detail)
{
    char sec[128], label[64];
    const char *key, *cert;

    snprintf(sec, sizeof(sec), "ca.%s", name);
    key = sg_conf_get(conf, sec, "key");
    cert = sg_conf_get(conf, sec, "cert");
    ca->token = -1;
    if ((ca->name = strdup(name)) == NULL)
        return SIGNET_E_NOMEM;
    if (key == NULL || cert == NULL || strlen(name) >= CA_NAME_MAX) {
        sg_detail(detail, "%s: [%s] needs key = pkcs11:URI and cert = PATH (names under %d chars)",
                  sg_conf_file(conf), sec, CA_NAME_MAX);
        return SIGNET_E_CONFIG;
    }
    ca->key_uri = strdup(key);
    ca->cert_path = sg_conf_path(conf, cert);
    ca->parent = strdup(def(sg_conf_get(conf, sec, "parent"), ""));
    ca->profiles = strdup(def(sg_conf_get(conf, sec, "profiles"), ""));
    ca->crl_url = dup_or_null(sg_conf_get(conf, sec, "crl_url"));
    ca->ocsp_url = dup_or_null(sg_conf_get(conf, sec, "ocsp_url"));
    if (!ca->key_uri || !ca->cert_path || !ca->parent || !ca->profiles ||
        (ca->profile_list = sg_split_list(ca->profiles, NULL)) == NULL)
        return SIGNET_E_NOMEM;
    ca_uri_attr(ca->key_uri, "token", label, sizeof(label));
    for (size_t i = 0; i < ctx->ntokens; i++)
        if (strcmp(ctx->tokens[i].label, label) == 0)
            ca->token = (int)i;
    if (access(ca->cert_path, F_OK) == 0 &&
        (ca->cert = ca_load_cert_file(ca->cert_path, detail)) == NULL)
        return SIGNET_E_CONFIG;
    return profiles_present(ctx, ca, set, detail) ? SIGNET_OK : SIGNET_E_CONFIG;
}

/*
 * Joins a configured CA with its store record (creating it when the store is writable). The
 * record's certificate is taken when the CA has none from its file.
 */
static enum signet_err join_one(struct ca_ctx *ctx, struct ca_ent *ca, char *detail)
{
    struct store_ca *rec = NULL;
    enum signet_err rc = store_ca_get(ctx->st, ca->name, &rec, detail);

    if (rc == SIGNET_OK) {
        ca->store_id = rec->id;
        if (ca->cert == NULL && rec->cert_der != NULL) {
            const unsigned char *p = rec->cert_der;
            ca->cert = d2i_X509(NULL, &p, (long)rec->cert_len);
        }
        store_ca_free(rec);
        return SIGNET_OK;
    }
    if (rc != SIGNET_E_NOTFOUND)
        return rc;
    if (ca->cert != NULL && !(ctx->flags & CA_OPEN_READ_ONLY))
        return ca_store_ca(ctx, ca, detail);
    return SIGNET_OK;
}

/* Joins each configured CA with its store record. */
static enum signet_err join_store(struct ca_ctx *ctx, char *detail)
{
    enum signet_err rc;

    for (size_t i = 0; i < ctx->ncas; i++)
        if ((rc = join_one(ctx, &ctx->cas[i], detail)) != SIGNET_OK)
            return rc;
    return SIGNET_OK;
}

/* Counts PENDING records (possibly issued) and says so: they are never dropped or reused. */
static int count_pending(const struct store_cert *c, void *arg)
{
    (void)c;
    (*(size_t *)arg)++;
    return 1;
}

static void report_pending(struct ca_ctx *ctx)
{
    for (size_t i = 0; i < ctx->ncas; i++) {
        size_t n = 0;
        if (ctx->cas[i].store_id == 0)
            continue;
        store_cert_iter(ctx->st, ctx->cas[i].store_id, STORE_CERT_PENDING, count_pending, &n, NULL);
        if (n > 0)
            sg_log(SG_LOG_WARN,
                   "CA %s: %zu PENDING record(s) from interrupted issuance; treated as possibly "
                   "issued (serials never reused); see: signet cert list --ca %s --status pending",
                   ctx->cas[i].name, n, ctx->cas[i].name);
    }
}

/* Bounds on [signet] store_map_size: below 1 MiB nothing useful fits; 1 TiB is a sanity cap. */
#define STORE_MAP_MIN (1ull << 20)
#define STORE_MAP_MAX (1ull << 40)

/* [signet] paths, SOFTHSM2_CONF, profiles and the store. */
static enum signet_err open_paths(struct ca_ctx *ctx, char *detail)
{
    const char *sh = sg_conf_get(ctx->conf, "signet", "softhsm2_conf");
    char *p = NULL;
    struct store_options so = {0};
    const char *msize;
    uint64_t map_size = 0; /* 0: the store's default */
    enum signet_err rc;

    if (sh != NULL) {
        if ((p = sg_conf_path(ctx->conf, sh)) == NULL)
            return SIGNET_E_NOMEM;
        setenv("SOFTHSM2_CONF", p, 1);
        free(p);
    }
    if ((p = sg_conf_path(ctx->conf,
                          def(sg_conf_get(ctx->conf, "signet", "policies"), "policies"))) == NULL)
        return SIGNET_E_NOMEM;
    ctx->policies_dir = p;
    if ((rc = policy_set_load(p, &ctx->policies, detail)) != SIGNET_OK)
        return rc;
    if ((ctx->public_dir = sg_conf_path(
             ctx->conf, def(sg_conf_get(ctx->conf, "signet", "public"), "public"))) == NULL)
        return SIGNET_E_NOMEM;
    if ((p = sg_conf_path(ctx->conf, def(sg_conf_get(ctx->conf, "signet", "store"), "store"))) ==
        NULL)
        return SIGNET_E_NOMEM;
    so.read_only = (ctx->flags & CA_OPEN_READ_ONLY) != 0;
    if ((msize = sg_conf_get(ctx->conf, "signet", "store_map_size")) != NULL &&
        !sg_parse_u64(msize, STORE_MAP_MIN, STORE_MAP_MAX, &map_size)) {
        free(p);
        sg_detail(detail,
                  "%s: [signet] store_map_size = %.32s is not a byte count between %llu and %llu",
                  sg_conf_file(ctx->conf), msize, (unsigned long long)STORE_MAP_MIN,
                  (unsigned long long)STORE_MAP_MAX);
        return SIGNET_E_CONFIG;
    }
    so.map_size = (size_t)map_size;
    if (!so.read_only)
        sg_mkdirs(p, 0700, NULL);
    rc = store_open(p, &so, &ctx->st, detail);
    free(p);
    return rc;
}

/*
 * Logs in to every token except the root's and any activated by quorum (signetd). A pin = shares
 * token must have been opened by ca_unlock_with_shares already.
 */
enum signet_err ca_ctx_login_online(struct ca_ctx *ctx, char *detail)
{
    enum signet_err orc = ca_offline_check(ctx, detail);

    if (orc != SIGNET_OK)
        return orc;
    for (size_t i = 0; i < ctx->ntokens; i++) {
        struct hsm_token *tok;
        enum signet_err rc;
        if (strcmp(ctx->tokens[i].name, "root") == 0 ||
            (ctx->tokens[i].pin && strcmp(ctx->tokens[i].pin, "quorum") == 0))
            continue;
        if ((rc = ca_token(ctx, ctx->tokens[i].name, &tok, detail)) != SIGNET_OK)
            return rc;
    }
    return SIGNET_OK;
}

enum signet_err ca_ctx_open(const char *conf_path, unsigned flags, struct ca_ctx **out,
                            char *detail)
{
    struct ca_ctx *ctx = NULL;
    char **names = NULL;
    size_t n;
    enum signet_err rc = SIGNET_E_NOMEM;

    *out = NULL;
    if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
        goto out;
    pthread_mutex_init(&ctx->lock, NULL);
    pthread_rwlock_init(&ctx->policy_lock, NULL);
    ctx->flags = flags;
    if ((rc = sg_conf_load(conf_path, &ctx->conf, detail)) != SIGNET_OK)
        goto out;
    if ((rc = open_paths(ctx, detail)) != SIGNET_OK || (rc = load_tokens(ctx, detail)) != SIGNET_OK)
        goto out;
    n = sg_conf_sections(ctx->conf, "ca.", &names);
    rc = SIGNET_E_NOMEM;
    /* room for CAs added by ca_reload_cas: the entries never move */
    if (n >= CA_CAS_CAP) {
        sg_detail(detail, "%s: %zu [ca.*] sections; at most %d are supported", conf_path, n,
                  CA_CAS_CAP - 1);
        rc = SIGNET_E_CONFIG;
        goto out;
    }
    if ((ctx->cas = calloc(CA_CAS_CAP, sizeof(*ctx->cas))) == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        ctx->ncas++;
        if ((rc = load_ca(ctx, ctx->conf, names[i], &ctx->cas[i], ctx->policies, detail)) !=
            SIGNET_OK)
            goto out;
    }
    if ((rc = join_store(ctx, detail)) != SIGNET_OK)
        goto out;
    report_pending(ctx);
    if ((flags & CA_OPEN_LOGIN_ONLINE) && (rc = ca_ctx_login_online(ctx, detail)) != SIGNET_OK)
        goto out;
    *out = ctx;
    ctx = NULL;
    rc = SIGNET_OK;
out:
    if (rc == SIGNET_E_NOMEM)
        sg_detail(detail, "%s: out of memory", conf_path);
    sg_strv_free(names);
    ca_ctx_free(ctx);
    return rc;
}

/* Frees what one CA entry holds (not the entry itself). */
static void ent_clear(struct ca_ent *ca)
{
    EVP_PKEY_free(ca->evp);
    hsm_key_free(ca->key);
    X509_free(ca->cert);
    sg_strv_free(ca->profile_list);
    free(ca->name);
    free(ca->parent);
    free(ca->key_uri);
    free(ca->cert_path);
    free(ca->profiles);
    free(ca->crl_url);
    free(ca->ocsp_url);
    memset(ca, 0, sizeof(*ca));
}

/*
 * Configurations replaced by ca_reload_cas: other threads may still be reading one (ca_ctx_conf
 * hands the pointer out), so each is kept until its context is freed.
 */
struct retired_conf {
    const struct ca_ctx *ctx;
    struct sg_conf *conf;
    struct retired_conf *next;
};
static struct retired_conf *retired;
static pthread_mutex_t retired_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t reload_mu = PTHREAD_MUTEX_INITIALIZER; /* one CA-set reload at a time */

/* Frees the configurations ctx replaced. */
static void retired_free(const struct ca_ctx *ctx)
{
    pthread_mutex_lock(&retired_mu);
    for (struct retired_conf **pp = &retired; *pp != NULL;) {
        struct retired_conf *r = *pp;
        if (r->ctx != ctx) {
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        sg_conf_free(r->conf);
        free(r);
    }
    pthread_mutex_unlock(&retired_mu);
}

void ca_ctx_free(struct ca_ctx *ctx)
{
    if (ctx == NULL)
        return;
    for (size_t i = 0; i < ctx->ncas; i++)
        ent_clear(&ctx->cas[i]);
    free(ctx->cas);
    retired_free(ctx);
    for (size_t i = 0; i < ctx->ntokens; i++) {
        struct ca_token_ent *t = &ctx->tokens[i];
        hsm_token_free(t->tok);
        free(t->name);
        free(t->module);
        free(t->label);
        free(t->pin);
        free(t->init_reserved);
    }
    free(ctx->tokens);
    for (int i = 0; i < HSM_KEY_TYPE_MAX; i++)
        EVP_PKEY_free(ctx->throwaway[i]);
    store_close(ctx->st);
    policy_set_free(ctx->policies);
    free(ctx->policies_dir);
    free(ctx->public_dir);
    sg_conf_free(ctx->conf);
    pthread_mutex_destroy(&ctx->lock);
    pthread_rwlock_destroy(&ctx->policy_lock);
    free(ctx);
}

struct sg_conf *ca_ctx_conf(const struct ca_ctx *ctx)
{
    return __atomic_load_n(&ctx->conf, __ATOMIC_ACQUIRE);
}

struct store *ca_ctx_store(const struct ca_ctx *ctx)
{
    return ctx->st;
}

const struct policy_set *ca_ctx_policies(const struct ca_ctx *ctx)
{
    return ctx->policies;
}

struct ca_ent *ca_ent_find(struct ca_ctx *ctx, const char *name)
{
    size_t n = __atomic_load_n(&ctx->ncas, __ATOMIC_ACQUIRE); /* ca_reload_cas may add one */

    for (size_t i = 0; name && i < n; i++)
        if (strcmp(ctx->cas[i].name, name) == 0)
            return &ctx->cas[i];
    return NULL;
}

int ca_profile_allowed(struct ca_ctx *ctx, const char *ca, const char *profile)
{
    struct ca_ent *e = ca_ent_find(ctx, ca);

    for (char **p = e ? e->profile_list : NULL; p && *p; p++)
        if (strcmp(*p, profile) == 0)
            return 1;
    return 0;
}

enum signet_err ca_reload_policies(struct ca_ctx *ctx, char *detail)
{
    struct policy_set *fresh = NULL, *old;
    enum signet_err rc;

    if ((rc = policy_set_load(ctx->policies_dir, &fresh, detail)) != SIGNET_OK)
        return rc;
    for (size_t i = 0; i < ctx->ncas; i++) {
        if (!profiles_present(ctx, &ctx->cas[i], fresh, detail)) {
            policy_set_free(fresh);
            return SIGNET_E_CONFIG;
        }
    }
    /* waits for issuances in flight, which hold the read side for their whole run */
    pthread_rwlock_wrlock(&ctx->policy_lock);
    old = ctx->policies;
    ctx->policies = fresh;
    pthread_rwlock_unlock(&ctx->policy_lock);
    policy_set_free(old);
    return SIGNET_OK;
}

int ca_profile_allows_client(struct ca_ctx *ctx, const char *profile, const char *client)
{
    const struct policy_profile *p;
    int ok;

    pthread_rwlock_rdlock(&ctx->policy_lock);
    p = policy_set_get(ctx->policies, profile);
    ok = p != NULL && policy_profile_allows_client(p, client);
    pthread_rwlock_unlock(&ctx->policy_lock);
    return ok;
}

/* ---- CA-set reload (SIGHUP) ---- */

static int same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The first key of [ca.NAME] that differs between a CA in use and its section read again. */
static const char *changed_key(const struct ca_ent *a, const struct ca_ent *b)
{
    if (!same(a->key_uri, b->key_uri))
        return "key";
    if (!same(a->cert_path, b->cert_path))
        return "cert";
    if (!same(a->parent, b->parent))
        return "parent";
    if (!same(a->profiles, b->profiles))
        return "profiles";
    if (!same(a->crl_url, b->crl_url))
        return "crl_url";
    return same(a->ocsp_url, b->ocsp_url) ? NULL : "ocsp_url";
}

/* What a reload will take: new entries, and certificates for CAs in use that had none. */
struct reload_plan {
    struct ca_ent add[CA_CAS_CAP];
    size_t nadd;
    X509 *cert[CA_CAS_CAP]; /* per ctx->cas index: a certificate that appeared */
    uint32_t store_id[CA_CAS_CAP];
    size_t ncert;
};

static void plan_free(struct reload_plan *pl)
{
    if (pl == NULL)
        return;
    for (size_t i = 0; i < pl->nadd; i++)
        ent_clear(&pl->add[i]);
    for (size_t i = 0; i < CA_CAS_CAP; i++)
        X509_free(pl->cert[i]);
    free(pl);
}

/* Checks a CA that was not configured before: its token is open-able here, it is online. */
static enum signet_err check_new(struct ca_ctx *ctx, const struct sg_conf *conf,
                                 const struct ca_ent *ca, char *detail)
{
    char label[64];

    if (ca->token < 0) {
        ca_uri_attr(ca->key_uri, "token", label, sizeof(label));
        sg_detail(detail,
                  "CA %s: its key is on token '%s', which is not a [token.*] this process "
                  "read at start; restart signetd to add a token",
                  ca->name, label);
        return SIGNET_E_CONFIG;
    }
    for (char **p = ca->profile_list; ca_token_is_quorum(&ctx->tokens[ca->token]) && p && *p; p++) {
        if (ca_conf_profile_served(conf, *p)) {
            sg_detail(detail,
                      "CA %s would serve profile %s to clients, but its key is on the offline "
                      "token %s (pin = quorum); not added",
                      ca->name, *p, ctx->tokens[ca->token].label);
            return SIGNET_E_CONFIG;
        }
    }
    return SIGNET_OK;
}

/* Compares one [ca.NAME] of conf with the CAs in use and plans what to take. */
static enum signet_err plan_one(struct ca_ctx *ctx, const struct sg_conf *conf, const char *name,
                                struct reload_plan *pl, char *detail)
{
    struct ca_ent tmp, *cur = ca_ent_find(ctx, name);
    const char *what;
    enum signet_err rc;

    memset(&tmp, 0, sizeof(tmp));
    if ((rc = load_ca(ctx, conf, name, &tmp, ctx->policies, detail)) != SIGNET_OK)
        goto out;
    if (cur == NULL) {
        if ((rc = check_new(ctx, conf, &tmp, detail)) != SIGNET_OK ||
            (rc = join_one(ctx, &tmp, detail)) != SIGNET_OK)
            goto out;
        pl->add[pl->nadd++] = tmp;
        return SIGNET_OK;
    }
    if ((what = changed_key(cur, &tmp)) != NULL) {
        sg_detail(detail,
                  "CA %s: %s changed in [ca.%s] since signetd started; a CA in use is not "
                  "changed by a reload: put the old value back, or restart signetd",
                  name, what, name);
        rc = SIGNET_E_CONFIG;
        goto out;
    }
    if (cur->cert == NULL) {
        /* imported since: the store record (registered when missing) is read on a copy */
        struct ca_ent probe = *cur;
        size_t i = (size_t)(cur - ctx->cas);
        probe.cert = tmp.cert;
        tmp.cert = NULL;
        if ((rc = join_one(ctx, &probe, detail)) != SIGNET_OK) {
            X509_free(probe.cert);
            goto out;
        }
        if (probe.cert != NULL) {
            pl->cert[i] = probe.cert;
            pl->store_id[i] = probe.store_id;
            pl->ncert++;
        }
    }
out:
    ent_clear(&tmp);
    return rc;
}

/* Builds the plan from conf: every CA in use still there, nothing of theirs changed. */
static enum signet_err plan_build(struct ca_ctx *ctx, const struct sg_conf *conf,
                                  struct reload_plan *pl, char *detail)
{
    char **names = NULL;
    size_t n = sg_conf_sections(conf, "ca.", &names);
    enum signet_err rc = SIGNET_OK;

    for (size_t i = 0; i < ctx->ncas && rc == SIGNET_OK; i++) {
        size_t k = 0;
        while (k < n && strcmp(names[k], ctx->cas[i].name) != 0)
            k++;
        if (k == n) {
            sg_detail(detail,
                      "CA %s: its [ca.%s] section is gone from %s; a CA in use is not removed "
                      "by a reload: put it back, or restart signetd",
                      ctx->cas[i].name, ctx->cas[i].name, sg_conf_file(conf));
            rc = SIGNET_E_CONFIG;
        }
    }
    if (rc == SIGNET_OK && n >= CA_CAS_CAP) {
        sg_detail(detail, "%s: at most %d CAs are supported", sg_conf_file(conf), CA_CAS_CAP - 1);
        rc = SIGNET_E_CONFIG;
    }
    pthread_rwlock_rdlock(&ctx->policy_lock);
    for (size_t i = 0; i < n && rc == SIGNET_OK; i++)
        rc = plan_one(ctx, conf, names[i], pl, detail);
    pthread_rwlock_unlock(&ctx->policy_lock);
    sg_strv_free(names);
    return rc;
}

/* Says what the plan takes, "added issuing-2; certificate of issuing-3", into out. */
static void plan_report(const struct ca_ctx *ctx, const struct reload_plan *pl, char *out,
                        size_t cap)
{
    size_t len = 0;

    out[0] = '\0';
    for (size_t i = 0; i < pl->nadd && len + 1 < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%sadded CA %s%s", len ? "; " : "",
                                pl->add[i].name, pl->add[i].cert ? "" : " (no certificate yet)");
    for (size_t i = 0; i < ctx->ncas && len + 1 < cap; i++)
        if (pl->cert[i] != NULL)
            len += (size_t)snprintf(out + len, cap - len, "%sCA %s: its certificate is in use",
                                    len ? "; " : "", ctx->cas[i].name);
}

/* Takes the plan: issuances in flight finish first (they hold the policy lock's read side). */
static void plan_apply(struct ca_ctx *ctx, struct reload_plan *pl, struct sg_conf *conf)
{
    struct retired_conf *r = calloc(1, sizeof(*r));
    struct sg_conf *old;

    pthread_rwlock_wrlock(&ctx->policy_lock);
    pthread_mutex_lock(&ctx->lock);
    for (size_t i = 0; i < ctx->ncas; i++) {
        if (pl->cert[i] == NULL)
            continue;
        if (ctx->cas[i].key != NULL &&
            !hsm_key_pin_public(ctx->cas[i].key, X509_get0_pubkey(pl->cert[i])))
            continue; /* the key found before does not match: keep refusing to sign */
        if (ctx->cas[i].store_id == 0)
            ctx->cas[i].store_id = pl->store_id[i];
        __atomic_store_n(&ctx->cas[i].cert, pl->cert[i], __ATOMIC_RELEASE);
        pl->cert[i] = NULL;
    }
    for (size_t i = 0; i < pl->nadd; i++) {
        ctx->cas[ctx->ncas] = pl->add[i];
        memset(&pl->add[i], 0, sizeof(pl->add[i]));
        __atomic_store_n(&ctx->ncas, ctx->ncas + 1, __ATOMIC_RELEASE);
    }
    pl->nadd = 0;
    pthread_mutex_unlock(&ctx->lock);
    old = ctx->conf;
    __atomic_store_n(&ctx->conf, conf, __ATOMIC_RELEASE);
    pthread_rwlock_unlock(&ctx->policy_lock);
    pthread_mutex_lock(&retired_mu);
    if (r != NULL) {
        r->ctx = ctx;
        r->conf = old;
        r->next = retired;
        retired = r;
    } /* else: the old configuration is leaked rather than freed under a reader */
    pthread_mutex_unlock(&retired_mu);
}

enum signet_err ca_reload_cas(struct ca_ctx *ctx, void (*before)(void *), void *arg,
                              char *out_report, size_t cap, size_t *out_changed, char *detail)
{
    struct sg_conf *conf = NULL;
    struct reload_plan *pl = NULL;
    char report[SIGNET_DETAIL_MAX] = "";
    size_t changed = 0;
    enum signet_err rc;

    pthread_mutex_lock(&reload_mu);
    if ((rc = sg_conf_load(sg_conf_file(ctx->conf), &conf, detail)) != SIGNET_OK)
        goto out;
    rc = SIGNET_E_NOMEM;
    if ((pl = calloc(1, sizeof(*pl))) == NULL)
        goto out;
    if ((rc = plan_build(ctx, conf, pl, detail)) != SIGNET_OK)
        goto out;
    changed = pl->nadd + pl->ncert;
    if (changed > 0) {
        plan_report(ctx, pl, report, sizeof(report));
        if (before != NULL)
            before(arg);
        plan_apply(ctx, pl, conf);
        conf = NULL;
    }
out:
    pthread_mutex_unlock(&reload_mu);
    if (out_report != NULL && cap > 0)
        snprintf(out_report, cap, "%s", report);
    if (out_changed != NULL)
        *out_changed = changed;
    plan_free(pl);
    sg_conf_free(conf);
    return rc;
}

/* A CA entry made from its store record alone (read-only views). 1 = ok. */
static int ent_from_record(struct ca_ctx *ctx, const struct store_ca *rec, struct ca_ent *ca)
{
    const unsigned char *p = rec->cert_der;
    char label[64];

    memset(ca, 0, sizeof(*ca));
    ca->token = -1;
    ca->store_id = rec->id;
    ca->name = strdup(rec->name);
    ca->parent = strdup(rec->parent);
    ca->key_uri = strdup(rec->key_uri);
    ca->cert_path = strdup("");
    ca->profiles = strdup(""); /* the ca process decides what a CA issues */
    ca->profile_list = sg_split_list("", NULL);
    ca->cert = d2i_X509(NULL, &p, (long)rec->cert_len);
    ca_uri_attr(rec->key_uri, "token", label, sizeof(label));
    for (size_t i = 0; i < ctx->ntokens; i++)
        if (strcmp(ctx->tokens[i].label, label) == 0)
            ca->token = (int)i;
    return ca->name && ca->parent && ca->key_uri && ca->cert_path && ca->profiles &&
           ca->profile_list && ca->cert;
}

enum signet_err ca_reload_view(struct ca_ctx *ctx, char *out_report, size_t cap,
                               size_t *out_changed, char *detail)
{
    struct store_ca *list = NULL;
    size_t n = 0, changed = 0, len = 0;
    enum signet_err rc;

    *out_changed = 0;
    out_report[0] = '\0';
    pthread_mutex_lock(&reload_mu);
    if ((rc = store_ca_list(ctx->st, &list, &n, detail)) != SIGNET_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        struct ca_ent *cur = ca_ent_find(ctx, list[i].name), add;
        const unsigned char *p = list[i].cert_der;
        X509 *x;
        if (list[i].cert_der == NULL || (cur != NULL && cur->cert != NULL))
            continue;
        if (cur != NULL) { /* configured, certificate imported since */
            if ((x = d2i_X509(NULL, &p, (long)list[i].cert_len)) == NULL)
                continue;
            pthread_rwlock_wrlock(&ctx->policy_lock);
            if (cur->store_id == 0)
                cur->store_id = list[i].id;
            __atomic_store_n(&cur->cert, x, __ATOMIC_RELEASE);
            pthread_rwlock_unlock(&ctx->policy_lock);
        } else {
            if (ctx->ncas + 1 >= CA_CAS_CAP || !ent_from_record(ctx, &list[i], &add)) {
                ent_clear(&add);
                continue;
            }
            pthread_rwlock_wrlock(&ctx->policy_lock);
            ctx->cas[ctx->ncas] = add;
            __atomic_store_n(&ctx->ncas, ctx->ncas + 1, __ATOMIC_RELEASE);
            pthread_rwlock_unlock(&ctx->policy_lock);
        }
        changed++;
        if (len + 1 < cap)
            len += (size_t)snprintf(out_report + len, cap - len, "%sCA %s", len ? ", " : "",
                                    list[i].name);
    }
    *out_changed = changed;
out:
    pthread_mutex_unlock(&reload_mu);
    store_ca_list_free(list, n);
    return rc;
}
