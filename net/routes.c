/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Routing, limits that evhttp does not apply itself (header size, methods per route), and the
 * small endpoints: CA certificates, /healthz, /metrics. Errors are RFC 7807 problem+json
 * documents; docs/api.md lists them.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void net_send(struct net_worker *w, struct evhttp_request *req, int status, const char *reason,
              struct evbuffer *body)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);

    if (status >= 100 && status < 600)
        atomic_fetch_add(&w->srv->metrics.http[status / 100], 1);
    if (w->stopping)
        evhttp_add_header(h, "Connection", "close");
    evhttp_send_reply(req, status, reason, body);
}

void net_problem(struct net_worker *w, struct evhttp_request *req, int status, const char *code,
                 const char *title, const char *detail)
{
    struct evbuffer *body = evbuffer_new();
    char *d = net_json_quote(detail, strlen(detail));
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);

    if (body == NULL || d == NULL) {
        evbuffer_free(body);
        free(d);
        net_send(w, req, 500, "Internal Server Error", NULL);
        return;
    }
    evbuffer_add_printf(body,
                        "{\"type\":\"urn:signet:error:%s\",\"title\":\"%s\",\"status\":%d,"
                        "\"detail\":%s}\n",
                        code, title, status, d);
    evhttp_remove_header(h, "Content-Type");
    evhttp_add_header(h, "Content-Type", "application/problem+json");
    evhttp_add_header(h, "Cache-Control", "no-store");
    net_send(w, req, status, title, body);
    evbuffer_free(body);
    free(d);
}

void net_method_not_allowed(struct net_worker *w, struct evhttp_request *req, const char *allow)
{
    char d[128];

    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
    snprintf(d, sizeof(d), "this resource allows %s", allow);
    net_problem(w, req, 405, "malformed", "Method Not Allowed", d);
}

int net_method_is(struct evhttp_request *req, int allowed)
{
    return (evhttp_request_get_command(req) & allowed) != 0;
}

/* 1 when name is a plain CA or profile name: [A-Za-z0-9._-], 1..CA_NAME_MAX-1, no leading dot. */
int net_name_ok(const char *name, size_t len)
{
    if (len == 0 || len >= CA_NAME_MAX || name[0] == '.')
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
              (name[i] >= '0' && name[i] <= '9') || name[i] == '.' || name[i] == '_' ||
              name[i] == '-'))
            return 0;
    return 1;
}

/* GET /healthz: 200 "ok" when the HSM and store are usable, 503 with the reasons otherwise. */
static void h_healthz(struct net_worker *w, struct evhttp_request *req)
{
    char detail[SIGNET_DETAIL_MAX] = "";
    struct evbuffer *body;
    enum signet_err rc;

    if (!net_method_is(req, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD))
        return net_method_not_allowed(w, req, "GET, HEAD");
    rc = w->srv->ipc != NULL ? net_ipc_health(w->srv->ipc, detail) : ca_health(w->srv->ca, detail);
    if (rc != SIGNET_OK) {
        sg_log(SG_LOG_WARN, "health: %s", detail);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "5");
        return net_problem(w, req, 503, "hsmUnavailable", "Service Unavailable", detail);
    }
    if ((body = evbuffer_new()) == NULL)
        return net_send(w, req, 500, "Internal Server Error", NULL);
    evbuffer_add_printf(body, "ok\n");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    net_send(w, req, 200, "OK", body);
    evbuffer_free(body);
}

/* GET /metrics: Prometheus text format. */
static void h_metrics(struct net_worker *w, struct evhttp_request *req)
{
    struct evbuffer *body;

    if (!net_method_is(req, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD))
        return net_method_not_allowed(w, req, "GET, HEAD");
    if ((body = evbuffer_new()) == NULL)
        return net_send(w, req, 500, "Internal Server Error", NULL);
    if (w->srv->ipc != NULL) {
        net_metrics_render_web(&w->srv->metrics, body);
        net_ipc_metrics(w->srv->ipc, body);
    } else {
        net_metrics_render(&w->srv->metrics, w->srv->ca, body);
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    net_send(w, req, 200, "OK", body);
    evbuffer_free(body);
}

/* PEM (one certificate) to DER into body. 1 = ok. */
static int pem_to_der(const char *pem, struct evbuffer *body)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    unsigned char *der = NULL;
    int n = x != NULL ? i2d_X509(x, &der) : -1, ok = 0;

    if (n > 0)
        ok = evbuffer_add(body, der, (size_t)n) == 0;
    OPENSSL_free(der);
    X509_free(x);
    BIO_free(b);
    return ok;
}

/* GET /ca/{name}.crt (DER), /ca/{name}.pem, /ca/{name}/chain.pem: public, no credential. */
static void h_ca(struct net_worker *w, struct evhttp_request *req, const char *rest)
{
    char name[CA_NAME_MAX], detail[SIGNET_DETAIL_MAX] = "";
    size_t len = strlen(rest), nlen;
    int chain = 0, der = 0;
    char *pem = NULL;
    struct evbuffer *body = NULL;
    const char *type = "application/pem-certificate-chain";

    if (len > 10 && strcmp(rest + len - 10, "/chain.pem") == 0)
        chain = 1, nlen = len - 10;
    else if (len > 4 && strcmp(rest + len - 4, ".pem") == 0)
        nlen = len - 4;
    else if (len > 4 && strcmp(rest + len - 4, ".crt") == 0)
        der = 1, nlen = len - 4, type = "application/pkix-cert";
    else
        return net_problem(w, req, 404, "notFound", "Not Found",
                           "use /ca/NAME.crt, /ca/NAME.pem or /ca/NAME/chain.pem");
    if (!net_name_ok(rest, nlen))
        return net_problem(w, req, 404, "notFound", "Not Found", "no such CA");
    if (!net_method_is(req, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD))
        return net_method_not_allowed(w, req, "GET, HEAD");
    memcpy(name, rest, nlen);
    name[nlen] = '\0';
    if (ca_cert_pem(w->srv->ca, name, chain, &pem, detail) != SIGNET_OK) {
        snprintf(detail, sizeof(detail), "no CA named %s has a certificate", name);
        return net_problem(w, req, 404, "notFound", "Not Found", detail);
    }
    if ((body = evbuffer_new()) == NULL ||
        !(der ? pem_to_der(pem, body) : evbuffer_add(body, pem, strlen(pem)) == 0)) {
        net_problem(w, req, 500, "internal", "Internal Server Error", "cannot encode the CA");
        goto out;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "max-age=3600");
    net_send(w, req, 200, "OK", body);
out:
    evbuffer_free(body);
    free(pem);
}

/* Bytes of the request line and headers, as the client sent them (give or take separators). */
static size_t header_bytes(struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *uri = evhttp_request_get_uri(req);
    size_t n = uri != NULL ? strlen(uri) + 16 : 16;

    for (struct evkeyval *kv = h->tqh_first; kv != NULL; kv = kv->next.tqe_next)
        n += strlen(kv->key) + strlen(kv->value) + 4;
    return n;
}

static void on_done(struct evhttp_request *req, void *arg)
{
    struct net_worker *w = arg;

    (void)req;
    w->inflight--;
}

void net_route(struct evhttp_request *req, void *arg)
{
    struct net_worker *w = arg;
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u != NULL ? evhttp_uri_get_path(u) : NULL;

    w->inflight++;
    evhttp_request_set_on_complete_cb(req, on_done, w);
    if (header_bytes(req) > NET_HEADERS_MAX)
        return net_problem(w, req, 431, "tooLarge", "Request Header Fields Too Large",
                           "request headers are limited to 8 KiB");
    if (path == NULL || path[0] != '/')
        return net_problem(w, req, 400, "malformed", "Bad Request", "no request path");
    if (strcmp(path, "/healthz") == 0)
        return h_healthz(w, req);
    if (strcmp(path, "/metrics") == 0)
        return h_metrics(w, req);
    if (strcmp(path, "/v1/certificates") == 0)
        return net_h_enroll(w, req);
    if (strncmp(path, "/v1/certificates/", 17) == 0)
        return net_h_status(w, req, path + 17);
    if (strncmp(path, "/v1/requests/", 13) == 0)
        return net_h_request(w, req, path + 13);
    if (strncmp(path, "/ca/", 4) == 0)
        return h_ca(w, req, path + 4);
    if (strncmp(path, "/crl/", 5) == 0)
        return net_h_crl(w, req, path + 5);
    if (strcmp(path, "/ocsp") == 0 || strncmp(path, "/ocsp/", 6) == 0)
        return net_h_ocsp(w, req, path + 5);
    net_problem(w, req, 404, "notFound", "Not Found", "no such endpoint; see docs/api.md");
}
