/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GET /v1/requests/{id}: where a request queued for an operator's approval stands
 * (docs/approval.md). Served from the read-only store view; only the client that submitted a
 * request may read it (any other credential gets 404, so ids are not confirmed to others).
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The certificate DER as PEM, NUL-terminated. Caller frees. NULL on failure. */
static char *req_der_to_pem(const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL, *out = NULL;
    long n;

    if (x != NULL && b != NULL && PEM_write_bio_X509(b, x) &&
        (n = BIO_get_mem_data(b, &data)) > 0 && (out = malloc((size_t)n + 1)) != NULL) {
        memcpy(out, data, (size_t)n);
        out[n] = '\0';
    }
    X509_free(x);
    BIO_free(b);
    return out;
}

/*
 * Appends the approved request's serial and certificate. 1 = ok; 0 when the certificate is not
 * readable (the store view lags or the record is missing): the caller answers 500.
 */
static int add_certificate(struct net_worker *w, const struct store_request *r,
                           struct evbuffer *body)
{
    struct store_cert *c = NULL;
    char *pem = NULL, *q = NULL;
    int ok = 0;

    if (ca_cert_get(w->srv->ca, r->ca, r->serial, &c, NULL) == SIGNET_OK &&
        c->state != STORE_CERT_PENDING && (pem = req_der_to_pem(c->der, c->der_len)) != NULL &&
        (q = net_json_quote(pem, strlen(pem))) != NULL)
        ok = evbuffer_add_printf(body, ",\"serial\":\"%s\",\"ca\":\"%s\",\"certificate\":%s",
                                 r->serial, r->ca, q) > 0;
    store_cert_free(c);
    free(pem);
    free(q);
    return ok;
}

/* The status document of one request the caller may read. */
static void request_doc(struct net_worker *w, struct evhttp_request *req,
                        const struct store_request *r)
{
    struct evbuffer *body = evbuffer_new();
    int approved = r->state == STORE_REQUEST_APPROVED && r->serial[0] != '\0';
    /* an approval whose issuance still runs is pending to the client */
    const char *status = approved                             ? "approved"
                         : r->state == STORE_REQUEST_REJECTED ? "rejected"
                                                              : "pending";
    char *q = NULL;

    if (body == NULL)
        return net_send(w, req, 500, "Internal Server Error", NULL);
    evbuffer_add_printf(body, "{\"request\":\"%s\",\"status\":\"%s\"", r->id, status);
    if (approved && !add_certificate(w, r, body)) {
        sg_log(SG_LOG_ERR,
               "request %s: approved as serial %s of CA %s, but the certificate "
               "cannot be read",
               r->id, r->serial, r->ca);
        net_problem(w, req, 500, "internal", "Internal Server Error",
                    "the request was approved but its certificate cannot be read now; try again");
        goto out;
    }
    if (r->state == STORE_REQUEST_REJECTED && (q = net_json_quote(r->reason, strlen(r->reason))))
        evbuffer_add_printf(body, ",\"reason\":%s", q);
    evbuffer_add_printf(body, "}\n");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    net_send(w, req, 200, "OK", body);
out:
    evbuffer_free(body);
    free(q);
}

void net_h_request(struct net_worker *w, struct evhttp_request *req, const char *rest)
{
    char id[STORE_REQUEST_ID_LEN + 1], who[NET_REQUESTER_MAX] = "";
    size_t n = strspn(rest, "0123456789abcdef");
    struct store_request *r = NULL;
    enum net_auth a;

    if (n != STORE_REQUEST_ID_LEN || rest[n] != '\0')
        return net_problem(w, req, 404, "notFound", "Not Found",
                           "a request id is 16 lowercase hex digits");
    if (!net_method_is(req, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD))
        return net_method_not_allowed(w, req, "GET, HEAD");
    if ((a = net_authorize(w->srv, req, NULL, who, sizeof(who))) != NET_AUTH_OK) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                          a == NET_AUTH_NONE ? "Bearer realm=\"signet\""
                                             : "Bearer realm=\"signet\", error=\"invalid_token\"");
        return net_problem(w, req, 401, "unauthorized", "Unauthorized",
                           a == NET_AUTH_NONE ? "send Authorization: Bearer TOKEN"
                                              : "the bearer token is not one signetd knows");
    }
    memcpy(id, rest, n);
    id[n] = '\0';
    /* only the client that asked may read a request; to anyone else it does not exist */
    if (store_request_get(ca_ctx_store(w->srv->ca), id, &r, NULL) != SIGNET_OK ||
        strcmp(r->requester, who) != 0)
        net_problem(w, req, 404, "notFound", "Not Found", "no request with this id");
    else
        request_doc(w, req, r);
    store_request_free(r);
}
