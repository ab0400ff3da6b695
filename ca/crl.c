/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CRL generation and publication (DESIGN.md "Revocation, CRLs and OCSP"): number persisted
 * first, one cursor pass, throwaway signature and lint, token signature verified with the CA's
 * key, comparison with the last published CRL of the stream, then the crl database and
 * public/crl/. The scheduler of signetd's ca process, which calls it, is in crl_sched.c.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crl.h"

#define DAY             86400
#define VALIDITY_DEF    (7 * DAY)
#define VALIDITY_LEAF   (10 * DAY)  /* subscriber-issuing CAs */
#define VALIDITY_CA     (365 * DAY) /* CAs that issue only CAs */
#define DELAY_DEF       60
#define KEEP_PER_STREAM 2                 /* CRLs kept in the crl database per stream */
#define LINT_PARSE_MAX  ((size_t)8 << 20) /* OpenSSL parses CRLs up to this size whole */
#define BACKDATE        60                /* thisUpdate a minute back: clock skew */

static int fail_after_number;                                /* test hook */
static pthread_mutex_t gen_lock = PTHREAD_MUTEX_INITIALIZER; /* one generation at a time */

void ca_crl_test_fail_after_number(int on)
{
    fail_after_number = on;
}

struct crl_cfg {
    int64_t validity;
    int64_t delay;
    int delta;
    unsigned shards;
    int only_user; /* the CA issues subscriber certificates */
};

/* 1 when any profile of the CA issues end-entity certificates. */
static int issues_leaves(struct ca_ctx *ctx, const struct ca_ent *ca)
{
    int leaves = 0;

    pthread_rwlock_rdlock(&ctx->policy_lock);
    for (char **p = ca->profile_list; p != NULL && *p != NULL; p++) {
        const struct policy_profile *pr = policy_set_get(ctx->policies, *p);
        if (pr == NULL || !policy_profile_is_ca(pr))
            leaves = 1;
    }
    pthread_rwlock_unlock(&ctx->policy_lock);
    return leaves;
}

/* Reads [ca.NAME] crl_validity, crl_delay, crl_delta, crl_shards; checks the bounds. */
static enum signet_err load_cfg(struct ca_ctx *ctx, const struct ca_ent *ca, struct crl_cfg *c,
                                char *detail)
{
    char sec[96];
    const char *v;
    uint64_t n;
    int64_t max;

    snprintf(sec, sizeof(sec), "ca.%s", ca->name);
    memset(c, 0, sizeof(*c));
    c->validity = VALIDITY_DEF;
    c->delay = DELAY_DEF;
    c->only_user = issues_leaves(ctx, ca);
    max = c->only_user ? VALIDITY_LEAF : VALIDITY_CA;
    if ((v = sg_conf_get(ctx->conf, sec, "crl_validity")) != NULL &&
        (!sg_parse_duration(v, &c->validity) || c->validity < 3600 || c->validity > max)) {
        sg_detail(detail, "[%s] crl_validity = %.32s: give a duration from 1h to %lldd (%s)", sec,
                  v, (long long)(max / DAY),
                  c->only_user ? "a CA issuing subscriber certificates" : "a CA of CAs");
        return SIGNET_E_CONFIG;
    }
    if ((v = sg_conf_get(ctx->conf, sec, "crl_delay")) != NULL &&
        (!sg_parse_duration(v, &c->delay) || c->delay < 0 || c->delay > DAY)) {
        sg_detail(detail, "[%s] crl_delay = %.32s: give a duration from 0s to 1d", sec, v);
        return SIGNET_E_CONFIG;
    }
    if ((v = sg_conf_get(ctx->conf, sec, "crl_delta")) != NULL) {
        if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0) {
            sg_detail(detail, "[%s] crl_delta = %.32s: yes or no", sec, v);
            return SIGNET_E_CONFIG;
        }
        c->delta = strcmp(v, "yes") == 0;
    }
    if ((v = sg_conf_get(ctx->conf, sec, "crl_shards")) != NULL) {
        if (!sg_parse_u64(v, 0, CRL_SHARDS_MAX, &n)) {
            sg_detail(detail, "[%s] crl_shards = %.32s: 0 to %d", sec, v, CRL_SHARDS_MAX);
            return SIGNET_E_CONFIG;
        }
        c->shards = n > 1 ? (unsigned)n : 0;
    }
    if ((c->delta || c->shards) && ca->crl_url == NULL) {
        sg_detail(detail, "[%s] crl_delta and crl_shards need crl_url (their IDPs name it)", sec);
        return SIGNET_E_CONFIG;
    }
    if (c->delta && c->shards) {
        sg_detail(detail, "[%s] crl_delta with crl_shards is not supported: choose one", sec);
        return SIGNET_E_CONFIG;
    }
    return SIGNET_OK;
}

/* One CRL to make: which stream, which file, which URLs. */
struct stream {
    uint32_t stream;  /* crl database stream */
    uint32_t counter; /* number sequence: FULL for full and delta */
    char file[512];   /* public/crl/... */
    char idp[CRL_URL_MAX];
    char freshest[CRL_URL_MAX];
    unsigned shard;
    int delta;
    int prev; /* the previous key generation's CRL (crl_prev.c) */
};

struct bump_arg {
    struct ca_ent *ca;
    uint32_t counter;
    uint64_t number; /* out */
};

/* Bumps the number inside a write; the full stream also records it in the CA record. */
static enum signet_err bump_fn(struct store_txn *txn, void *arg, char *detail)
{
    struct bump_arg *a = arg;
    struct store_ca *rec = NULL;
    enum signet_err err;
    uint64_t floor = 0;

    if (a->counter == STORE_CRL_STREAM_FULL) {
        if ((err = store_txn_ca_get(txn, a->ca->name, &rec, detail)) != SIGNET_OK)
            return err;
        floor = rec->crl_number;
    }
    err = store_txn_crl_number_next(txn, a->ca->store_id, a->counter, floor, &a->number, detail);
    if (err == SIGNET_OK && rec != NULL) {
        rec->crl_number = a->number;
        err = store_txn_ca_put(txn, rec, detail);
    }
    store_ca_free(rec);
    return err;
}

struct put_arg {
    uint32_t ca_id, stream;
    uint64_t number;
    size_t len;
    int fd; /* the temporary file holding the CRL */
};

/* Reads the CRL from the temporary file into the store's reserved space. */
static int fill_from_fd(unsigned char *space, size_t len, void *arg)
{
    struct put_arg *a = arg;
    size_t off = 0;
    ssize_t n;

    sg_prefault(space, len); /* LMDB's fresh pages for the value: mapped at once */
    while (off < len) {
        n = pread(a->fd, space + off, len - off, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        off += (size_t)n;
    }
    return 1;
}

static enum signet_err put_fn(struct store_txn *txn, void *arg, char *detail)
{
    struct put_arg *a = arg;
    return store_txn_crl_put_fill(txn, a->ca_id, a->stream, a->number, a->len, KEEP_PER_STREAM,
                                  fill_from_fd, a, detail);
}

/*
 * Writes the CRL to a temporary file beside path (0644) and keeps it open: the signed buffer can
 * then be freed before the store reads the CRL back, so a large CRL is never in memory twice.
 * The file's writeback starts here and runs while the store commits; publish() waits for it
 * (fsync) before the rename, so the public name never points at a file not yet on disk. tmp
 * receives the temporary name.
 */
static enum signet_err write_temp(const char *path, const unsigned char *p, size_t len, char *tmp,
                                  size_t cap, int *out_fd, char *detail)
{
    size_t off = 0;
    ssize_t n;
    int fd;

    *out_fd = -1;
    snprintf(tmp, cap, "%s.tmp.XXXXXX", path);
    if ((fd = mkstemp(tmp)) < 0) {
        sg_detail(detail, "%s: cannot create a temporary file: %s", path, strerror(errno));
        return SIGNET_E_IO;
    }
    while (off < len) {
        if ((n = write(fd, p + off, len - off)) < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    if (off != len || fchmod(fd, 0644) != 0 ||
        (sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE) != 0 && fsync(fd) != 0)) {
        sg_detail(detail, "%s: cannot write %s: %s", path, tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return SIGNET_E_IO;
    }
    *out_fd = fd;
    return SIGNET_OK;
}

/* Renames the temporary file over path and syncs the directory: old or new, never half. */
static enum signet_err rename_sync(const char *tmp, const char *path, char *detail)
{
    char d[4200];
    int dfd;

    if (rename(tmp, path) != 0) {
        sg_detail(detail, "%s: cannot rename %s over it: %s", path, tmp, strerror(errno));
        unlink(tmp);
        return SIGNET_E_IO;
    }
    snprintf(d, sizeof(d), "%s", path);
    if ((dfd = open(dirname(d), O_RDONLY | O_DIRECTORY)) >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return SIGNET_OK;
}

struct cmp_arg {
    struct ca_ctx *ctx;
    struct ca_ent *ca;
    const unsigned char *der;
    size_t len;
    int64_t this_update;
    X509 *prev; /* the previous generation's stream: its CRL may shed the current's entries */
    enum signet_err err;
    char *detail;
};

/* An entry may leave the CRL when its certificate expired, or its hold was released. */
static int may_drop(const unsigned char *serial, size_t len, void *arg)
{
    struct cmp_arg *a = arg;
    struct store_cert *c = NULL;
    int ok;

    while (len > 1 && serial[0] == 0)
        serial++, len--;
    if (store_cert_get(a->ctx->st, a->ca->store_id, serial, len, &c, NULL) != SIGNET_OK)
        return 0;
    ok = c->not_after < a->this_update || c->state != STORE_CERT_REVOKED;
    if (!ok && a->prev != NULL) { /* listed by a CRL of the old key before a restart */
        const unsigned char *p = c->der;
        X509 *x = d2i_X509(NULL, &p, (long)c->der_len);
        ok = x != NULL && ca_cert_generation(x, NULL, a->prev) != 1;
        X509_free(x);
    }
    store_cert_free(c);
    return ok;
}

/* The old CRL is a view of the store's map: its pages go back as the walk passes them. */
static void release_view(const unsigned char *p, size_t len, void *arg)
{
    struct cmp_arg *a = arg;
    store_view_release(a->ctx->st, p, len);
}

static void compare_cb(uint64_t number, const unsigned char *der, size_t len, void *arg)
{
    struct cmp_arg *a = arg;

    (void)number;
    a->err = crl_compare(der, len, a->der, a->len, may_drop, release_view, a, a->detail);
}

/* Latest stored CRL's number and thisUpdate (for the delta base). */
struct latest {
    uint64_t number;
    int64_t this_update;
};

static void latest_cb(uint64_t number, const unsigned char *der, size_t len, void *arg)
{
    struct latest *l = arg;
    struct crl_info in;

    l->number = number;
    if (crl_info_read(der, len, &in))
        l->this_update = in.this_update;
}

/* Logs every lint finding and refuses with the first. */
static enum signet_err lint_refuse(const struct ca_ent *ca, const struct stream *s,
                                   const struct crl_lint_result *r, char *detail)
{
    for (size_t i = 0; i < r->n; i++)
        sg_log(SG_LOG_ERR, "lint: CA %s CRL %s: %s: %s; not published", ca->name, s->file,
               r->f[i].lint, r->f[i].msg);
    sg_detail(detail, "CA %s: CRL lint %s: %s%s; not published (docs/crl.md)", ca->name,
              r->f[0].lint, r->f[0].msg, r->n + r->dropped > 1 ? " (more in the log)" : "");
    return SIGNET_E_LINT;
}

/* What every stream of one generation shares. */
struct gen {
    struct ca_ctx *ctx;
    struct ca_ent *ca;
    struct crl_cfg cfg;
    struct hsm_key *key;
    unsigned char *name_der; /* the CA's subject, its own bytes */
    size_t name_len;
    unsigned char keyid[EVP_MAX_MD_SIZE];
    size_t keyid_len;
    struct latest base; /* the full CRL before this generation (delta base) */
    int64_t now;
    unsigned gen;    /* key generation of crl_url: 1 = NAME.crl, K = NAME-gK.crl */
    X509 *prev_cert; /* the previous key generation, while there is one */
    struct hsm_key *prev_key;
    char prev_url[CRL_URL_MAX]; /* the URL its certificates carry (previous_crl_url) */
    unsigned char *prev_name_der;
    size_t prev_name_len;
    unsigned char prev_keyid[EVP_MAX_MD_SIZE];
    size_t prev_keyid_len;
};

/* Reserves the number, builds, lints, signs, verifies, compares: the signed CRL in *out. */
static enum signet_err make_doc(struct gen *g, const struct stream *s, struct crl_params *p,
                                struct crl_doc **out, struct crl_stats *st, unsigned char **raw,
                                size_t *raw_len, char *detail)
{
    struct bump_arg b = {g->ca, s->counter, 0};
    struct crl_lint_result *lr = NULL;
    EVP_PKEY *pub = X509_get0_pubkey(s->prev ? g->prev_cert : g->ca->cert),
             *tk = ca_throwaway_key(g->ctx, pub);
    const unsigned char *der;
    size_t len;
    enum signet_err err;

    *out = NULL;
    if (tk == NULL) {
        sg_detail(detail, "CA %s: no throwaway key for the CRL lint", g->ca->name);
        return SIGNET_E_CRYPTO;
    }
    if ((err = store_write(g->ctx->st, bump_fn, &b, detail)) != SIGNET_OK)
        return err;
    if (fail_after_number) {
        sg_detail(detail, "CA %s: CRL %llu: stopped after the number was persisted (test)",
                  g->ca->name, (unsigned long long)b.number);
        return SIGNET_E_INTERNAL;
    }
    p->number = b.number;
    if (s->prev)
        return ca_crl_prev_sign(g->ctx->st, g->ca->store_id, p, g->prev_cert, g->prev_key, tk, raw,
                                raw_len, st, detail);
    if ((err = crl_build(g->ctx->st, g->ca->store_id, p, out, st, detail)) != SIGNET_OK ||
        (err = crl_doc_sign(*out, crl_sign_evp, tk, detail)) != SIGNET_OK)
        goto out;
    der = crl_doc_der(*out, &len);
    if ((lr = malloc(sizeof(*lr))) == NULL) {
        err = SIGNET_E_NOMEM;
        goto out;
    }
    if (crl_lint(der, len, p, LINT_PARSE_MAX, lr) > 0) {
        err = lint_refuse(g->ca, s, lr, detail);
        goto out;
    }
    if ((err = crl_doc_sign(*out, crl_sign_hsm, g->key, detail)) != SIGNET_OK)
        goto out;
    der = crl_doc_der(*out, &len);
    if ((err = crl_verify(der, len, pub, detail)) != SIGNET_OK) {
        sg_detail(detail,
                  "CA %s: the token's CRL signature does not verify with the CA "
                  "certificate's key; not published",
                  g->ca->name);
        err = SIGNET_E_HSM;
    }
out:
    free(lr);
    if (err != SIGNET_OK) {
        crl_doc_free(*out);
        *out = NULL;
    }
    return err;
}

/* Makes and publishes one stream's CRL. */
static enum signet_err publish(struct gen *g, const struct stream *s, struct ca_crl_result *res,
                               char *detail)
{
    struct crl_params p;
    struct crl_stats st;
    struct crl_doc *d = NULL;
    struct cmp_arg ca;
    struct put_arg pa = {.fd = -1};
    const unsigned char *der;
    unsigned char *raw = NULL; /* the previous generation's CRL */
    char tmp[600];
    size_t len;
    enum signet_err err;

    memset(&p, 0, sizeof(p));
    p.issuer_pub = X509_get0_pubkey(g->ca->cert);
    p.issuer_name = g->name_der;
    p.issuer_name_len = g->name_len;
    p.issuer_keyid = g->keyid;
    p.issuer_keyid_len = g->keyid_len;
    if (s->prev) {
        p.issuer_pub = X509_get0_pubkey(g->prev_cert);
        p.issuer_name = g->prev_name_der;
        p.issuer_name_len = g->prev_name_len;
        p.issuer_keyid = g->prev_keyid;
        p.issuer_keyid_len = g->prev_keyid_len;
    }
    p.this_update = g->now - BACKDATE;
    p.next_update = g->now + g->cfg.validity;
    p.idp_url = s->idp[0] ? s->idp : NULL;
    p.only_user_certs = g->cfg.only_user && p.idp_url != NULL;
    p.freshest_url = s->freshest[0] ? s->freshest : NULL;
    p.shards = g->cfg.shards;
    p.shard = s->shard;
    if (s->delta) {
        p.delta_base = g->base.number;
        /* the base was signed at its thisUpdate + BACKDATE; a second's margin for the clock */
        p.delta_since = g->base.this_update + BACKDATE - 1;
    }
    if ((err = make_doc(g, s, &p, &d, &st, &raw, &len, detail)) != SIGNET_OK)
        return err;
    der = raw != NULL ? raw : crl_doc_der(d, &len);
    memset(&ca, 0, sizeof(ca));
    ca.prev = s->prev ? g->prev_cert : NULL;
    ca.ctx = g->ctx;
    ca.ca = g->ca;
    ca.der = der;
    ca.len = len;
    ca.this_update = p.this_update;
    ca.detail = detail;
    /* a delta lists changes since its base: only its number is held to the last one */
    err = s->delta
              ? SIGNET_E_NOTFOUND
              : store_crl_latest(g->ctx->st, g->ca->store_id, s->stream, compare_cb, &ca, detail);
    if (err == SIGNET_OK && ca.err != SIGNET_OK)
        err = ca.err;
    else if (err == SIGNET_E_NOTFOUND)
        err = SIGNET_OK;
    if (err != SIGNET_OK)
        goto out;
    /* from here the CRL lives in a file, then in the store: the buffer goes first */
    if ((err = write_temp(s->file, der, len, tmp, sizeof(tmp), &pa.fd, detail)) != SIGNET_OK)
        goto out;
    crl_doc_free(d);
    d = NULL;
    OPENSSL_free(raw);
    raw = NULL;
    pa.ca_id = g->ca->store_id;
    pa.stream = s->stream;
    pa.number = p.number;
    pa.len = len;
    if ((err = store_write(g->ctx->st, put_fn, &pa, detail)) != SIGNET_OK) {
        unlink(tmp);
        goto out;
    }
    if (fsync(pa.fd) != 0) { /* the writeback write_temp started, finished */
        sg_detail(detail,
                  "CA %s: CRL %llu is recorded in the store but not published: cannot write "
                  "%s: %s (the next generation publishes a newer one)",
                  g->ca->name, (unsigned long long)p.number, tmp, strerror(errno));
        unlink(tmp);
        err = SIGNET_E_IO;
        goto out;
    }
    if ((err = rename_sync(tmp, s->file, detail)) != SIGNET_OK)
        goto out;
    sg_log(SG_LOG_INFO,
           "CA %s: CRL %llu published to %s: %zu entries, %zu expired dropped, %zu "
           "bytes",
           g->ca->name, (unsigned long long)p.number, s->file, st.entries, st.expired, len);
    res->published++;
    if (!s->delta && !s->prev) {
        if (res->number == 0)
            res->number = p.number;
        res->entries += st.entries;
        res->bytes += len;
        res->next_update = p.next_update;
    }
out:
    if (pa.fd >= 0)
        close(pa.fd);
    crl_doc_free(d);
    OPENSSL_free(raw);
    return err;
}

/* Fills the file and URLs of a stream; suffix "" (full), "-delta" or "-shard-K". */
static enum signet_err stream_init(struct gen *g, struct stream *s, const char *suffix,
                                   char *detail)
{
    const char *url = s->prev ? g->prev_url : g->ca->crl_url;
    char gs[16] = "";
    int w;

    /* the file of a key generation K >= 2 is NAME-gK.crl, as its URL says */
    ca_crl_gen_suffix(s->prev ? ca_crl_url_gen(g->ca->name, g->prev_url) : g->gen, gs, sizeof(gs));
    w = snprintf(s->file, sizeof(s->file), "%s/crl/%s%s%s.crl", g->ctx->public_dir, g->ca->name, gs,
                 suffix);
    if (w < 0 || (size_t)w >= sizeof(s->file) ||
        (url && !crl_url_variant(url, suffix, s->idp, sizeof(s->idp)))) {
        sg_detail(detail, "CA %s: the CRL path or URL is too long", g->ca->name);
        return SIGNET_E_CONFIG;
    }
    if (g->cfg.delta && !s->delta &&
        !crl_url_variant(g->ca->crl_url, "-delta", s->freshest, sizeof(s->freshest))) {
        sg_detail(detail, "CA %s: the delta CRL URL is too long", g->ca->name);
        return SIGNET_E_CONFIG;
    }
    return SIGNET_OK;
}

/*
 * The previous key generation of a rolled-over CA (previous_key, previous_cert and
 * previous_crl_url of [ca.NAME]): its certificate, key, subject bytes, SKI and URL. Without
 * previous_crl_url (a rollover made before it was written) only the current CRL is made, and
 * the log says so.
 */
static enum signet_err prev_init(struct ca_ctx *ctx, struct gen *g, char *detail)
{
    const ASN1_OCTET_STRING *ski;
    const char *url;
    char sec[96];
    enum signet_err err;
    int n;

    snprintf(sec, sizeof(sec), "ca.%s", g->ca->name);
    if (sg_conf_get(ctx->conf, sec, "previous_key") == NULL)
        return SIGNET_OK;
    if ((url = sg_conf_get(ctx->conf, sec, "previous_crl_url")) == NULL || g->ca->crl_url == NULL) {
        sg_log(SG_LOG_WARN,
               "CA %s: a previous key generation without previous_crl_url: its CRL is not "
               "published (docs/keys.md)",
               g->ca->name);
        return SIGNET_OK;
    }
    if (strlen(url) >= sizeof(g->prev_url) || ca_crl_url_gen(g->ca->name, url) == 0 ||
        ca_crl_url_gen(g->ca->name, url) == g->gen) {
        sg_detail(detail,
                  "[%s] previous_crl_url = %.64s: .../%s.crl or .../%s-gK.crl, not crl_url's", sec,
                  url, g->ca->name, g->ca->name);
        return SIGNET_E_CONFIG;
    }
    snprintf(g->prev_url, sizeof(g->prev_url), "%s", url);
    if ((err = ca_previous_generation(ctx, g->ca->name, &g->prev_cert, &g->prev_key, detail)) !=
        SIGNET_OK)
        return err;
    if ((n = i2d_X509_NAME(X509_get_subject_name(g->prev_cert), &g->prev_name_der)) <= 0 ||
        (ski = X509_get0_subject_key_id(g->prev_cert)) == NULL ||
        (size_t)ASN1_STRING_length(ski) > sizeof(g->prev_keyid)) {
        sg_detail(detail, "CA %s: the previous certificate has no usable subject or key identifier",
                  g->ca->name);
        return SIGNET_E_INVALID;
    }
    g->prev_name_len = (size_t)n;
    g->prev_keyid_len = (size_t)ASN1_STRING_length(ski);
    memcpy(g->prev_keyid, ASN1_STRING_get0_data(ski), g->prev_keyid_len);
    return SIGNET_OK;
}

/* Everything a generation needs before the first number is reserved. */
static enum signet_err gen_init(struct ca_ctx *ctx, const char *name, struct gen *g, char *detail)
{
    const ASN1_OCTET_STRING *ski;
    unsigned int mdlen = 0;
    char dir[4200];
    int n;
    enum signet_err err;

    memset(g, 0, sizeof(*g));
    g->ctx = ctx;
    if ((g->ca = ca_ent_find(ctx, name)) == NULL || g->ca->cert == NULL || g->ca->store_id == 0) {
        sg_detail(detail, "CA %.64s: no such CA with a certificate; see `signet ca list`",
                  name ? name : "(none)");
        return SIGNET_E_NOTFOUND;
    }
    if ((err = load_cfg(ctx, g->ca, &g->cfg, detail)) != SIGNET_OK ||
        (err = ca_ent_hsm_key(ctx, g->ca, &g->key, detail)) != SIGNET_OK)
        return err;
    if ((n = i2d_X509_NAME(X509_get_subject_name(g->ca->cert), &g->name_der)) <= 0)
        goto crypto;
    g->name_len = (size_t)n;
    if ((ski = X509_get0_subject_key_id(g->ca->cert)) != NULL &&
        (size_t)ASN1_STRING_length(ski) <= sizeof(g->keyid)) {
        g->keyid_len = (size_t)ASN1_STRING_length(ski);
        memcpy(g->keyid, ASN1_STRING_get0_data(ski), g->keyid_len);
    } else if (X509_pubkey_digest(g->ca->cert, EVP_sha1(), g->keyid, &mdlen)) {
        g->keyid_len = mdlen;
    } else {
        goto crypto;
    }
    g->gen = ca_crl_url_gen(g->ca->name, g->ca->crl_url);
    if (g->gen > 1 && (g->cfg.shards || g->cfg.delta)) {
        sg_detail(detail,
                  "CA %s: crl_url names key generation %u: crl_shards and crl_delta are "
                  "not supported after a rollover (docs/crl.md)",
                  g->ca->name, g->gen);
        return SIGNET_E_CONFIG;
    }
    if ((err = prev_init(ctx, g, detail)) != SIGNET_OK)
        return err;
    snprintf(dir, sizeof(dir), "%s/crl", ctx->public_dir);
    g->now = sg_now();
    return sg_mkdirs(dir, 0755, detail);
crypto:
    sg_detail(detail, "CA %s: cannot read its certificate's subject or key", g->ca->name);
    sg_detail_openssl(detail);
    return SIGNET_E_CRYPTO;
}

/*
 * Serialises generations of one CA across processes (signetd's scheduler and `signet crl
 * generate`): the numbers are unique anyway, but the files must not be renamed out of order.
 */
static enum signet_err lock_files(struct ca_ctx *ctx, const struct ca_ent *ca, int *out,
                                  char *detail)
{
    char path[4200];
    int fd;

    snprintf(path, sizeof(path), "%s/crl/.%s.lock", ctx->public_dir, ca->name);
    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0 || flock(fd, LOCK_EX) != 0) {
        sg_detail(detail, "%s: cannot lock: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return SIGNET_E_IO;
    }
    *out = fd;
    return SIGNET_OK;
}

/* See ca.h. */
enum signet_err ca_crl_generate(struct ca_ctx *ctx, const char *name, struct ca_crl_result *out,
                                char *detail)
{
    struct ca_crl_result res;
    struct gen g;
    struct stream s;
    char suffix[32];
    int lockfd = -1;
    enum signet_err err;

    memset(&res, 0, sizeof(res));
    if (out != NULL)
        memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&gen_lock);
    if ((err = gen_init(ctx, name, &g, detail)) != SIGNET_OK ||
        (err = lock_files(ctx, g.ca, &lockfd, detail)) != SIGNET_OK)
        goto out;
    for (unsigned k = 0; k < (g.cfg.shards ? g.cfg.shards : 1) && err == SIGNET_OK; k++) {
        memset(&s, 0, sizeof(s));
        s.shard = k;
        s.stream = g.cfg.shards ? STORE_CRL_STREAM_SHARD + k : ca_crl_gen_stream(g.gen);
        /* a key generation's CRL continues the CA's one sequence */
        s.counter = g.cfg.shards ? s.stream : STORE_CRL_STREAM_FULL;
        snprintf(suffix, sizeof(suffix), g.cfg.shards ? "-shard-%u" : "", k);
        if ((err = stream_init(&g, &s, suffix, detail)) == SIGNET_OK) {
            if (s.stream == STORE_CRL_STREAM_FULL)
                store_crl_latest(ctx->st, g.ca->store_id, s.stream, latest_cb, &g.base, NULL);
            err = publish(&g, &s, &res, detail);
        }
    }
    if (err == SIGNET_OK && g.cfg.delta) {
        memset(&s, 0, sizeof(s));
        s.stream = STORE_CRL_STREAM_DELTA;
        s.counter = STORE_CRL_STREAM_FULL; /* RFC 5280 5.2.3: one sequence with the full CRL */
        s.delta = 1;
        if (g.base.number == 0) /* the first full CRL is the base */
            store_crl_latest(ctx->st, g.ca->store_id, STORE_CRL_STREAM_FULL, latest_cb, &g.base,
                             NULL);
        if ((err = stream_init(&g, &s, "-delta", detail)) == SIGNET_OK)
            err = publish(&g, &s, &res, detail);
    }
    if (err == SIGNET_OK && g.prev_cert != NULL) {
        /* the previous key's CRL, where its certificates point; the same number sequence */
        memset(&s, 0, sizeof(s));
        s.prev = 1;
        s.stream = ca_crl_gen_stream(ca_crl_url_gen(g.ca->name, g.prev_url));
        s.counter = STORE_CRL_STREAM_FULL;
        if ((err = stream_init(&g, &s, "", detail)) == SIGNET_OK)
            err = publish(&g, &s, &res, detail);
    }
out:
    if (lockfd >= 0)
        close(lockfd); /* releases the flock */
    OPENSSL_free(g.name_der);
    OPENSSL_free(g.prev_name_der);
    X509_free(g.prev_cert);
    hsm_key_free(g.prev_key);
    pthread_mutex_unlock(&gen_lock);
    if (err == SIGNET_OK && out != NULL)
        *out = res;
    return err;
}

/* See ca.h. */
enum signet_err ca_crl_urls(struct ca_ctx *ctx, const char *name, const unsigned char *serial,
                            size_t serial_len, char *cdp, size_t cdp_cap, char *freshest,
                            size_t freshest_cap, char *detail)
{
    struct ca_ent *ca = ca_ent_find(ctx, name);
    struct crl_cfg cfg;
    char suffix[32] = "";
    enum signet_err err;

    if (cdp_cap > 0)
        cdp[0] = '\0';
    if (freshest_cap > 0)
        freshest[0] = '\0';
    if (ca == NULL) {
        sg_detail(detail, "CA %.64s: no such CA", name ? name : "(none)");
        return SIGNET_E_NOTFOUND;
    }
    if (ca->crl_url == NULL)
        return SIGNET_OK;
    if ((err = load_cfg(ctx, ca, &cfg, detail)) != SIGNET_OK)
        return err;
    if (cfg.shards)
        snprintf(suffix, sizeof(suffix), "-shard-%u", crl_shard_of(serial, serial_len, cfg.shards));
    if (!crl_url_variant(ca->crl_url, suffix, cdp, cdp_cap) ||
        (cfg.delta && !crl_url_variant(ca->crl_url, "-delta", freshest, freshest_cap))) {
        sg_detail(detail, "CA %s: a CRL URL does not fit in the space given", ca->name);
        return SIGNET_E_CONFIG;
    }
    return SIGNET_OK;
}

/* See internal.h. */
enum signet_err ca_crl_sched_plan(struct ca_ctx *ctx, const struct ca_ent *ca, int64_t *delay,
                                  int64_t *this_update, int64_t *next_update, char *detail)
{
    struct latest l = {0, 0};
    struct crl_cfg cfg;
    uint32_t stream;
    enum signet_err err;

    *this_update = *next_update = 0;
    if ((err = load_cfg(ctx, ca, &cfg, detail)) != SIGNET_OK)
        return err;
    *delay = cfg.delay;
    if (cfg.shards)
        stream = STORE_CRL_STREAM_SHARD;
    else /* after a rollover: the new generation's stream (none yet: due now) */
        stream = ca_crl_gen_stream(ca_crl_url_gen(ca->name, ca->crl_url));
    if (store_crl_latest(ctx->st, ca->store_id, stream, latest_cb, &l, NULL) == SIGNET_OK &&
        l.this_update != 0) {
        *this_update = l.this_update;
        *next_update = l.this_update + BACKDATE + cfg.validity;
    }
    return SIGNET_OK;
}
