/* SPDX-License-Identifier: Apache-2.0 */
/*
 * POST /ocsp and GET /ocsp/{base64} (RFC 6960 A.1, RFC 5019): runs in the web process with the
 * read-only store and no HSM. The issuer is found by its CertID hashes among the CAs that have
 * a responder; a fresh pre-signed response is served as stored, with RFC 5019 section 6 caching
 * headers. Everything else is a constant unsigned error response with HTTP 200 (RFC 6960 2.3):
 * malformedRequest for what does not parse, unauthorized for an issuer not served and for a
 * serial never issued (never "good"), tryLater for a response not yet signed or stale.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "ocsp.h"

#define ISSUERS_MAX    64   /* CAs looked at */
#define CACHE_TTL_MS   5000 /* issuer table rebuilt at most this often (a responder appears) */
#define RESP_BUF       STORE_OCSP_DER_MAX
#define OCSP_CT        "application/ocsp-response"
#define ALLOWED_METHOD "GET, HEAD, POST"

struct issuer {
    uint32_t store_id;
    int served; /* has a responder certificate */
    int nonce;  /* [ca.NAME] ocsp_nonce = yes: requests with a nonce are signed live */
    int gen;    /* 0 the current key generation, 1 the previous one (after a rollover) */
    int rolled; /* the CA has two generations: check a stored response's issuer key hash */
    unsigned char name[STORE_OCSP_NHASH][OCSP_HASH_MAX];
    unsigned char key[STORE_OCSP_NHASH][OCSP_HASH_MAX];
};

/* The issuer table, shared by the workers of this process. */
static pthread_rwlock_t cache_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct issuer cache[ISSUERS_MAX];
static size_t cache_n;
static uint64_t cache_at; /* sg_mono_ms of the build, 0 = never */

/* Answers by kind, for /metrics. */
enum {
    ANS_GOOD,
    ANS_REVOKED,
    ANS_UNKNOWN,
    ANS_MALFORMED,
    ANS_UNAUTH,
    ANS_TRYLATER,
    ANS_STALE,
    ANS_MAX
};
static _Atomic uint64_t answers[ANS_MAX];
static const char *const answer_names[ANS_MAX] = {
    "good", "revoked", "unknown", "malformedRequest", "unauthorized", "tryLater", "stale"};

/* Hashes of one CA certificate (PEM) into e. 1 = ok. */
static int issuer_fill(const char *pem, struct issuer *e)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    int ok = x != NULL;

    for (int h = 0; ok && h < STORE_OCSP_NHASH; h++)
        ok = ocsp_issuer_hashes(x, (enum store_ocsp_hash)h, e->name[h], e->key[h]);
    X509_free(x);
    BIO_free(b);
    return ok;
}

/*
 * After `signet ca rollover`: the previous generation of CA name while [ca.NAME] has
 * previous_key, once the ca process has its responder (meta "ocsp.responder.NAME.previous")
 * and its certificate (meta "ocsp.issuer.NAME.previous": this process may run as a user that
 * cannot read public/), as entry e with gen 1. 1 = filled.
 */
static int issuer_prev(struct ca_ctx *ca, const char *name, uint32_t store_id, struct issuer *e)
{
    const struct sg_conf *conf = ca_ctx_conf(ca);
    char sec[CA_NAME_MAX + 8], meta[STORE_META_NAME_MAX + CA_NAME_MAX];
    unsigned char one, *buf = NULL;
    const unsigned char *p;
    size_t len = 0;
    enum signet_err rc;
    X509 *x = NULL;
    int ok = 0;

    snprintf(sec, sizeof(sec), "ca.%s", name);
    snprintf(meta, sizeof(meta), "ocsp.responder.%s.previous", name);
    if (sg_conf_get(conf, sec, "previous_key") == NULL)
        return 0;
    rc = store_meta_get(ca_ctx_store(ca), meta, &one, sizeof(one), &len, NULL);
    if ((rc != SIGNET_OK && rc != SIGNET_E_USAGE) || len == 0 ||
        (buf = malloc(STORE_DER_MAX)) == NULL)
        goto out;
    snprintf(meta, sizeof(meta), "ocsp.issuer.%s.previous", name);
    if (store_meta_get(ca_ctx_store(ca), meta, buf, STORE_DER_MAX, &len, NULL) != SIGNET_OK)
        goto out;
    p = buf;
    if ((x = d2i_X509(NULL, &p, (long)len)) == NULL)
        goto out;
    memset(e, 0, sizeof(*e));
    e->store_id = store_id;
    e->served = 1;
    e->gen = 1;
    ok = 1;
    for (int h = 0; ok && h < STORE_OCSP_NHASH; h++)
        ok = ocsp_issuer_hashes(x, (enum store_ocsp_hash)h, e->name[h], e->key[h]);
out:
    X509_free(x);
    free(buf);
    return ok;
}

/* Rebuilds the issuer table from the CAs of the configuration and the store's responders. */
static void cache_build(struct ca_ctx *ca)
{
    struct ca_info *cas = NULL;
    struct issuer tmp[ISSUERS_MAX];
    size_t n = 0, ncas = 0;

    if (ca_list(ca, &cas, &ncas, NULL) != SIGNET_OK)
        ncas = 0;
    for (size_t i = 0; i < ncas && n < ISSUERS_MAX; i++) {
        char meta[STORE_META_NAME_MAX + CA_NAME_MAX], *pem = NULL;
        unsigned char one;
        size_t len = 0;
        enum signet_err rc;
        if (!cas[i].has_cert || cas[i].store_id == 0 ||
            ca_cert_pem(ca, cas[i].name, 0, &pem, NULL) != SIGNET_OK)
            continue;
        memset(&tmp[n], 0, sizeof(tmp[n]));
        tmp[n].store_id = cas[i].store_id;
        snprintf(meta, sizeof(meta), "ocsp.responder.%s", cas[i].name);
        rc = store_meta_get(ca_ctx_store(ca), meta, &one, sizeof(one), &len, NULL);
        tmp[n].served = rc == SIGNET_OK || rc == SIGNET_E_USAGE;
        snprintf(meta, sizeof(meta), "ca.%s", cas[i].name);
        tmp[n].nonce = sg_conf_get(ca_ctx_conf(ca), meta, "ocsp_nonce") != NULL &&
                       strcmp(sg_conf_get(ca_ctx_conf(ca), meta, "ocsp_nonce"), "yes") == 0;
        if (issuer_fill(pem, &tmp[n]) && ++n < ISSUERS_MAX &&
            issuer_prev(ca, cas[i].name, cas[i].store_id, &tmp[n])) {
            tmp[n - 1].rolled = tmp[n].rolled = 1;
            n++;
        }
        free(pem);
    }
    free(cas);
    pthread_rwlock_wrlock(&cache_lock);
    memcpy(cache, tmp, n * sizeof(tmp[0]));
    cache_n = n;
    cache_at = sg_mono_ms();
    pthread_rwlock_unlock(&cache_lock);
}

/*
 * The store id of the served CA matching the CertID; 0 when none (unauthorized). *nonce (may
 * be NULL) receives whether that CA signs nonce requests live; *rolled (may be NULL) whether
 * the CA has two key generations (the stored response must carry the request's key hash).
 */
static uint32_t issuer_find(struct ca_ctx *ca, const struct ocsp_certid *id, int *nonce,
                            int *rolled)
{
    uint32_t found = 0;
    uint64_t at;

    pthread_rwlock_rdlock(&cache_lock);
    at = cache_at;
    pthread_rwlock_unlock(&cache_lock);
    if (at == 0 || sg_mono_ms() - at > CACHE_TTL_MS)
        cache_build(ca);
    pthread_rwlock_rdlock(&cache_lock);
    for (size_t i = 0; i < cache_n && found == 0; i++) {
        if (!cache[i].served || memcmp(cache[i].name[id->hash], id->name_hash, id->hash_len) != 0 ||
            memcmp(cache[i].key[id->hash], id->key_hash, id->hash_len) != 0)
            continue;
        found = cache[i].store_id;
        if (nonce != NULL)
            *nonce = cache[i].nonce;
        if (rolled != NULL)
            *rolled = cache[i].rolled;
    }
    pthread_rwlock_unlock(&cache_lock);
    return found;
}

/* An HTTP-date (RFC 9110 5.6.7) into out (at least 32 bytes). */
static void http_date(int64_t t, char *out, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Sends an OCSPResponse body with HTTP 200. */
static void send_der(struct net_worker *w, struct evhttp_request *req, const unsigned char *der,
                     size_t len)
{
    struct evbuffer *body = evbuffer_new();
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);

    if (body == NULL || evbuffer_add(body, der, len) != 0) {
        evbuffer_free(body);
        net_send(w, req, 500, "Internal Server Error", NULL);
        return;
    }
    evhttp_add_header(h, "Content-Type", OCSP_CT);
    net_send(w, req, 200, "OK", body);
    evbuffer_free(body);
}

/* An unsigned error response, not cacheable. */
static void send_error(struct net_worker *w, struct evhttp_request *req, enum ocsp_resp_status st,
                       int kind)
{
    size_t len;
    const unsigned char *der = ocsp_error_der(st, &len);

    atomic_fetch_add(&answers[kind], 1);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control",
                      "max-age=0, no-cache, no-store");
    send_der(w, req, der, len);
}

/* A fresh pre-signed response with the caching headers of RFC 5019 section 6. */
static void send_fresh(struct net_worker *w, struct evhttp_request *req, const unsigned char *der,
                       size_t len, int64_t this_update, int64_t next_update, int64_t now)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    unsigned char md[32];
    char etag[2 * sizeof(md) + 3], cc[96], lm[40], ex[40];
    unsigned int mdlen = 0;

    EVP_Digest(der, len, md, &mdlen, EVP_sha256(), NULL);
    etag[0] = '"';
    sg_hex_encode(md, sizeof(md), etag + 1);
    strcat(etag, "\"");
    snprintf(cc, sizeof(cc), "max-age=%lld, public, no-transform, must-revalidate",
             (long long)(next_update - now));
    http_date(this_update, lm, sizeof(lm));
    http_date(next_update, ex, sizeof(ex));
    evhttp_add_header(h, "Cache-Control", cc);
    evhttp_add_header(h, "ETag", etag);
    evhttp_add_header(h, "Last-Modified", lm);
    evhttp_add_header(h, "Expires", ex);
    send_der(w, req, der, len);
}

/*
 * 1 when the stored response's CertID carries the request's issuer key hash: a rolled-over
 * CA's serial is answered only under the generation that issued it (the other: unauthorized).
 */
static int same_generation(const unsigned char *der, size_t len, const struct ocsp_certid *id)
{
    const unsigned char *p = der;
    OCSP_RESPONSE *r = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
    OCSP_BASICRESP *bs = r != NULL ? OCSP_response_get1_basic(r) : NULL;
    OCSP_SINGLERESP *one = bs != NULL ? OCSP_resp_get0(bs, 0) : NULL;
    const OCSP_CERTID *cid = one != NULL ? OCSP_SINGLERESP_get0_id(one) : NULL;
    ASN1_OCTET_STRING *kh = NULL;
    int ok = cid != NULL && OCSP_id_get0_info(NULL, NULL, &kh, NULL, (OCSP_CERTID *)cid) == 1 &&
             kh != NULL && (size_t)ASN1_STRING_length(kh) == id->hash_len &&
             memcmp(ASN1_STRING_get0_data(kh), id->key_hash, id->hash_len) == 0;

    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(r);
    return ok;
}

/* Answers one parsed request. */
static void answer(struct net_worker *w, struct evhttp_request *req, const struct ocsp_request *q)
{
    struct ca_ctx *ca = w->srv->ca;
    const struct ocsp_certid *id = &q->id[0];
    int rolled = 0;
    uint32_t ca_id = issuer_find(ca, id, NULL, &rolled);
    unsigned char *buf;
    size_t len = 0;
    int64_t tu = 0, nu = 0, now = sg_now();
    int status = -1;
    struct store_cert *c = NULL;
    enum signet_err rc;

    if (ca_id == 0 || id->serial_len == 0)
        return send_error(w, req, OCSP_RS_UNAUTHORIZED, ANS_UNAUTH);
    if ((buf = malloc(RESP_BUF)) == NULL)
        return send_error(w, req, OCSP_RS_INTERNAL, ANS_TRYLATER);
    rc = store_ocsp_read(ca_ctx_store(ca), ca_id, id->serial, id->serial_len, id->hash, buf,
                         RESP_BUF, &len, &tu, &nu, &status, NULL);
    if (rc == SIGNET_OK && rolled && !same_generation(buf, len, id)) {
        send_error(w, req, OCSP_RS_UNAUTHORIZED, ANS_UNAUTH); /* the other key: never good */
    } else if (rc == SIGNET_OK && ocsp_freshness(now, tu, nu) != OCSP_STALE) {
        atomic_fetch_add(&answers[status == 1   ? ANS_REVOKED
                                  : status == 2 ? ANS_UNKNOWN
                                                : ANS_GOOD],
                         1);
        send_fresh(w, req, buf, len, tu, nu, now);
    } else if (rc == SIGNET_OK) {
        send_error(w, req, OCSP_RS_TRYLATER, ANS_STALE); /* stale: never served as fresh */
    } else if (store_cert_get(ca_ctx_store(ca), ca_id, id->serial, id->serial_len, &c, NULL) ==
                   SIGNET_OK &&
               (c->state == STORE_CERT_ISSUED || c->state == STORE_CERT_REVOKED)) {
        send_error(w, req, OCSP_RS_TRYLATER, ANS_TRYLATER); /* issued, not yet signed */
    } else {
        send_error(w, req, OCSP_RS_UNAUTHORIZED, ANS_UNAUTH); /* never issued: never good */
    }
    store_cert_free(c);
    free(buf);
}

/* The end of a live signature (worker thread): the ca process's answer, never cached. */
static void live_done(struct net_worker *w, struct evhttp_request *req,
                      const struct net_issue_req *r, const struct net_issue_resp *resp,
                      uint64_t usec)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    struct evbuffer *body;

    (void)r, (void)usec;
    if (resp->err != SIGNET_OK || resp->der_len == 0 || (body = evbuffer_new()) == NULL)
        return send_error(w, req, OCSP_RS_TRYLATER, ANS_TRYLATER);
    evbuffer_add(body, resp->der, resp->der_len);
    evhttp_add_header(h, "Content-Type", OCSP_CT);
    evhttp_add_header(h, "Cache-Control", "no-cache, no-store"); /* it echoes one nonce */
    net_send(w, req, 200, "OK", body);
    evbuffer_free(body);
}

/*
 * A request with a nonce to a CA in live nonce mode goes to the ca process, which signs it
 * (rate-limited: tryLater beyond the rate). 1 = handed over; 0 = serve it pre-signed.
 */
static int live(struct net_worker *w, struct evhttp_request *req, const struct ocsp_request *q,
                const unsigned char *der, size_t len)
{
    struct net_issue_req *r;
    int nonce = 0;

    if (q->nonce_state == OCSP_NONCE_NONE ||
        issuer_find(w->srv->ca, &q->id[0], &nonce, NULL) == 0 || !nonce)
        return 0;
    if (q->nonce_state == OCSP_NONCE_BAD) /* RFC 9654: 1 to 32 octets */
        return send_error(w, req, OCSP_RS_MALFORMED, ANS_MALFORMED), 1;
    if (len > CA_CSR_MAX || (r = calloc(1, sizeof(*r))) == NULL)
        return send_error(w, req, OCSP_RS_INTERNAL, ANS_TRYLATER), 1;
    r->op = NET_OP_OCSP_LIVE;
    snprintf(r->requester, sizeof(r->requester), "ocsp");
    memcpy(r->csr, der, len);
    r->csr_len = (uint32_t)len;
    net_issue_start(w, req, r, live_done); /* takes r */
    return 1;
}

/* Parses and answers request bytes. */
static void handle(struct net_worker *w, struct evhttp_request *req, const unsigned char *der,
                   size_t len)
{
    struct ocsp_request q;

    if (ocsp_request_parse(der, len, OCSP_LIST_DEFAULT, &q, NULL) != OCSP_RS_SUCCESSFUL)
        return send_error(w, req, OCSP_RS_MALFORMED, ANS_MALFORMED);
    if (live(w, req, &q, der, len))
        return;
    answer(w, req, &q);
}

void net_h_ocsp(struct net_worker *w, struct evhttp_request *req, const char *rest)
{
    if (!net_method_is(req, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST))
        return net_method_not_allowed(w, req, ALLOWED_METHOD);
    if (evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t len = evbuffer_get_length(in);
        unsigned char *der;
        if (rest[0] != '\0' && strcmp(rest, "/") != 0)
            return net_problem(w, req, 404, "notFound", "Not Found",
                               "POST OCSP requests to /ocsp; see docs/ocsp.md");
        if (len > OCSP_REQ_MAX)
            return net_problem(w, req, 413, "tooLarge", "Payload Too Large",
                               "OCSP requests are limited to 64 KiB");
        if (len == 0 || (der = evbuffer_pullup(in, (ev_ssize_t)len)) == NULL)
            return send_error(w, req, OCSP_RS_MALFORMED, ANS_MALFORMED);
        return handle(w, req, der, len);
    }
    {
        unsigned char der[OCSP_GET_MAX];
        size_t len = 0;
        if (!ocsp_get_decode(rest, strlen(rest), der, sizeof(der), &len))
            return send_error(w, req, OCSP_RS_MALFORMED, ANS_MALFORMED);
        handle(w, req, der, len);
    }
}

/* The web side's OCSP figures (rendered by metrics.c). */
void net_ocsp_render(struct evbuffer *buf)
{
    evbuffer_add_printf(buf, "# HELP signet_ocsp_answers_total OCSP answers by kind.\n"
                             "# TYPE signet_ocsp_answers_total counter\n");
    for (int i = 0; i < ANS_MAX; i++)
        evbuffer_add_printf(buf, "signet_ocsp_answers_total{answer=\"%s\"} %llu\n", answer_names[i],
                            (unsigned long long)atomic_load(&answers[i]));
}
