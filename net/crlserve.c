/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GET and HEAD /crl/{name}.crl, /crl/{name}-delta.crl and /crl/{name}-shard-{K}.crl: the newest
 * CRL of that stream from the store's crl database (the web process's read-only view), as
 * application/pkix-crl with Cache-Control max-age up to nextUpdate (at most an hour), an ETag
 * naming the stream and CRL number, and Last-Modified = thisUpdate; If-None-Match answers 304.
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crl.h"
#include "internal.h"

#define MAX_AGE_CAP 3600

struct served {
    struct evbuffer *body;
    uint64_t number;
    struct crl_info info;
    int ok;
};

/* Copies the stored CRL into the response body (the read transaction ends after this). */
static void take(uint64_t number, const unsigned char *der, size_t len, void *arg)
{
    struct served *s = arg;

    s->number = number;
    s->ok = crl_info_read(der, len, &s->info) && evbuffer_add(s->body, der, len) == 0;
}

/*
 * Splits rest ("issuing-1-shard-3.crl") into a CA name and a stream. 1 = ok; 0 = not a CRL path.
 * A CA named like a variant ("x-delta") is found first by its exact name.
 */
static int parse_path(struct store *st, const char *rest, char *name, uint32_t *stream)
{
    size_t len = strlen(rest), n;
    const char *dash;
    struct store_ca *ca = NULL;
    uint64_t k;

    if (len <= 4 || len - 4 >= CA_NAME_MAX + 16 || strcmp(rest + len - 4, ".crl") != 0)
        return 0;
    n = len - 4;
    if (!net_name_ok(rest, n))
        return 0;
    memcpy(name, rest, n);
    name[n] = '\0';
    *stream = STORE_CRL_STREAM_FULL;
    if (n < CA_NAME_MAX && store_ca_get(st, name, &ca, NULL) == SIGNET_OK) {
        store_ca_free(ca);
        return 1;
    }
    if (n > 6 && strcmp(name + n - 6, "-delta") == 0) {
        name[n - 6] = '\0';
        *stream = STORE_CRL_STREAM_DELTA;
        return 1;
    }
    if ((dash = strstr(name, "-shard-")) != NULL) {
        const char *num = dash + 7;
        if (*num == '\0' || strlen(num) > 3 || !sg_parse_u64(num, 0, CRL_SHARDS_MAX - 1, &k))
            return 0;
        name[dash - name] = '\0';
        *stream = STORE_CRL_STREAM_SHARD + (uint32_t)k;
        return 1;
    }
    if ((dash = strrchr(name, '-')) != NULL && dash[1] == 'g' && dash[2] >= '1' && dash[2] <= '9' &&
        strlen(dash + 2) <= 3 && sg_parse_u64(dash + 2, 2, 999, &k)) {
        name[dash - name] = '\0'; /* NAME-gK.crl: key generation K after a rollover */
        *stream = STORE_CRL_STREAM_GEN + (uint32_t)k;
        return 1;
    }
    return 1;
}

/* Adds the caching headers; returns 1 when If-None-Match matched (answer 304). */
static int cache_headers(struct evhttp_request *req, uint32_t stream, const struct served *s)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    const char *inm = evhttp_find_header(evhttp_request_get_input_headers(req), "If-None-Match");
    char etag[64], v[64];
    int64_t age = s->info.next_update - sg_now();
    time_t lm = (time_t)s->info.this_update;
    struct tm tm;

    snprintf(etag, sizeof(etag), "\"%u-%llu\"", stream, (unsigned long long)s->number);
    evhttp_add_header(h, "ETag", etag);
    if (age < 0)
        age = 0;
    snprintf(v, sizeof(v), "public, max-age=%lld",
             (long long)(age > MAX_AGE_CAP ? MAX_AGE_CAP : age));
    evhttp_add_header(h, "Cache-Control", v);
    gmtime_r(&lm, &tm);
    strftime(v, sizeof(v), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    evhttp_add_header(h, "Last-Modified", v);
    return inm != NULL && (strstr(inm, etag) != NULL || strcmp(inm, "*") == 0);
}

void net_h_crl(struct net_worker *w, struct evhttp_request *req, const char *rest)
{
    struct store *st = ca_ctx_store(w->srv->ca);
    char name[CA_NAME_MAX + 16], detail[SIGNET_DETAIL_MAX] = "";
    struct store_ca *ca = NULL;
    struct served s;
    uint32_t stream = 0;
    enum signet_err err;

    memset(&s, 0, sizeof(s));
    if (!parse_path(st, rest, name, &stream) || strlen(name) >= CA_NAME_MAX)
        return net_problem(
            w, req, 404, "notFound", "Not Found",
            "use /crl/NAME.crl, /crl/NAME-gK.crl, /crl/NAME-delta.crl or /crl/NAME-shard-K.crl");
    if (!net_method_is(req, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD))
        return net_method_not_allowed(w, req, "GET, HEAD");
    if (store_ca_get(st, name, &ca, NULL) != SIGNET_OK) {
        snprintf(detail, sizeof(detail), "no CA named %s", name);
        return net_problem(w, req, 404, "notFound", "Not Found", detail);
    }
    if ((s.body = evbuffer_new()) == NULL) {
        net_problem(w, req, 500, "internal", "Internal Server Error", "out of memory");
        goto out;
    }
    err = store_crl_latest(st, ca->id, stream, take, &s, NULL);
    if (err == SIGNET_E_NOTFOUND) {
        snprintf(detail, sizeof(detail), "CA %s has published no such CRL yet", name);
        net_problem(w, req, 404, "notFound", "Not Found", detail);
        goto out;
    }
    if (err != SIGNET_OK || !s.ok) {
        net_problem(w, req, 500, "internal", "Internal Server Error", "the CRL cannot be read");
        goto out;
    }
    if (cache_headers(req, stream, &s)) {
        net_send(w, req, 304, "Not Modified", NULL);
        goto out;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/pkix-crl");
    net_send(w, req, 200, "OK", s.body);
out:
    evbuffer_free(s.body);
    store_ca_free(ca);
}
