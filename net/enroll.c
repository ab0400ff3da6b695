/* SPDX-License-Identifier: Apache-2.0 */
/*
 * POST /v1/certificates (enrollment) and GET /v1/certificates/{serial} (status). The handler
 * turns the HTTP request into a struct net_issue_req and starts it with net_issue_start (through
 * the ca process, answered later on this worker's loop): nothing of the web layer crosses that
 * boundary.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <limits.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* How an issuance error is answered (docs/api.md). */
struct answer {
    int status;
    const char *code, *title;
    enum net_outcome outcome;
    int client_detail; /* 1: the detail is about the request and is shown; 0: logged only */
};

static struct answer answer_for(enum signet_err e)
{
    switch (e) {
    case SIGNET_OK:
        return (struct answer){201, "", "Created", NET_OUT_ISSUED, 1};
    case SIGNET_E_BADCSR:
        return (struct answer){400, "badCSR", "Bad CSR", NET_OUT_BADCSR, 1};
    case SIGNET_E_BADKEY:
        return (struct answer){400, "badKey", "Bad Key", NET_OUT_BADKEY, 1};
    case SIGNET_E_POLICY:
        return (struct answer){400, "policyViolation", "Policy Violation", NET_OUT_POLICY, 1};
    case SIGNET_E_LINT:
        /* the request passed policy, yet what Signet built is wrong: our fault, not the client's */
        return (struct answer){500, "internal", "Internal Server Error", NET_OUT_ERROR, 1};
    case SIGNET_E_NOTFOUND:
        return (struct answer){404, "notFound", "Not Found", NET_OUT_POLICY, 1};
    case SIGNET_E_USAGE:
    case SIGNET_E_INVALID:
        return (struct answer){400, "badCSR", "Bad Request", NET_OUT_BADCSR, 1};
    case SIGNET_E_QUEUED:
        return (struct answer){202, "", "Accepted", NET_OUT_QUEUED, 1};
    case SIGNET_E_HSM_UNAVAILABLE:
    case SIGNET_E_HSM:
    case SIGNET_E_PIN:
        return (struct answer){503, "hsmUnavailable", "Service Unavailable", NET_OUT_UNAVAILABLE,
                               0};
    default:
        return (struct answer){500, "internal", "Internal Server Error", NET_OUT_ERROR, 0};
    }
}

/* 401 with the RFC 6750 challenge. */
static void unauthorized(struct net_worker *w, struct evhttp_request *req, enum net_auth a)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                      a == NET_AUTH_NONE ? "Bearer realm=\"signet\""
                                         : "Bearer realm=\"signet\", error=\"invalid_token\"");
    net_problem(w, req, 401, "unauthorized", "Unauthorized",
                a == NET_AUTH_NONE ? "send Authorization: Bearer TOKEN"
                                   : "the bearer token is not one signetd knows");
}

/*
 * The certificate DER as PEM, NUL-terminated: base64 of the bytes as they are, no parsing (the
 * DER is the ca process's or the store's, and the armour does not depend on what it holds).
 * Caller frees. NULL on failure.
 */
static char *der_to_pem(const unsigned char *der, size_t len)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL, *out = NULL;
    long n;

    if (b != NULL && len > 0 && len <= LONG_MAX &&
        PEM_write_bio(b, PEM_STRING_X509, "", der, (long)len) > 0 &&
        (n = BIO_get_mem_data(b, &data)) > 0 && (out = malloc((size_t)n + 1)) != NULL) {
        memcpy(out, data, (size_t)n);
        out[n] = '\0';
    }
    BIO_free(b);
    return out;
}

/*
 * Reads {"csr": PEM, "profile": NAME, "ca": NAME?} into r. Unknown members are refused. On
 * failure answers the request and returns 0.
 */
static int read_request(struct net_worker *w, struct evhttp_request *req, struct net_issue_req *r)
{
    static const struct net_json_limits lim = {1, NET_BODY_MAX, 8, 16};
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in), n;
    const char *s, *body = len > 0 ? (const char *)evbuffer_pullup(in, -1) : NULL;
    struct net_json *j = NULL;
    char detail[SIGNET_DETAIL_MAX];
    int ok = 0;

    if (len > NET_BODY_MAX)
        return net_problem(w, req, 413, "tooLarge", "Content Too Large",
                           "request bodies are limited to 64 KiB"),
               0;
    if (body == NULL || !net_json_parse(body, len, &lim, &j, detail)) {
        if (body == NULL)
            snprintf(detail, sizeof(detail), "send a JSON object {\"csr\", \"profile\"}");
        return net_problem(w, req, 400, "badCSR", "Bad Request", detail), 0;
    }
    for (size_t i = 0; i < net_json_count(j); i++) {
        const char *k = net_json_key_at(j, i);
        if (k == NULL || (strcmp(k, "csr") && strcmp(k, "profile") && strcmp(k, "ca"))) {
            net_problem(w, req, 400, "badCSR", "Bad Request",
                        "the request object allows only csr, profile and ca");
            goto out;
        }
    }
    if ((s = net_json_string(net_json_get(j, "profile"), &n)) == NULL || !net_name_ok(s, n)) {
        net_problem(w, req, 400, "policyViolation", "Bad Request",
                    "\"profile\" must name a profile (letters, digits, . _ -)");
        goto out;
    }
    memcpy(r->profile, s, n + 1);
    if (net_json_get(j, "ca") != NULL) {
        if ((s = net_json_string(net_json_get(j, "ca"), &n)) == NULL || !net_name_ok(s, n)) {
            net_problem(w, req, 400, "notFound", "Bad Request", "\"ca\" must name a CA");
            goto out;
        }
        memcpy(r->ca, s, n + 1);
    }
    if ((s = net_json_string(net_json_get(j, "csr"), &n)) == NULL || n == 0 || n > CA_CSR_MAX) {
        net_problem(w, req, 400, "badCSR", "Bad CSR", "\"csr\" must hold a PEM CSR");
        goto out;
    }
    memcpy(r->csr, s, n);
    r->csr_len = (uint32_t)n;
    ok = 1;
out:
    net_json_free(j);
    return ok;
}

/* 201 {"serial", "certificate", "chain"} with a Location header. */
static void issued(struct net_worker *w, struct evhttp_request *req,
                   const struct net_issue_resp *resp)
{
    char *pem = der_to_pem(resp->der, resp->der_len), *chain = NULL, *qc = NULL, *qch = NULL;
    char loc[64 + sizeof(resp->serial)];
    struct evbuffer *body = evbuffer_new();

    if (pem == NULL || body == NULL ||
        ca_cert_pem(w->srv->ca, resp->ca, 1, &chain, NULL) != SIGNET_OK ||
        (qc = net_json_quote(pem, strlen(pem))) == NULL ||
        (qch = net_json_quote(chain, strlen(chain))) == NULL) {
        sg_log(SG_LOG_ERR, "serial %s of CA %s: issued and recorded, but the reply failed",
               resp->serial, resp->ca);
        net_problem(w, req, 500, "internal", "Internal Server Error",
                    "the certificate was issued but could not be sent; fetch it by serial");
        goto out;
    }
    evbuffer_add_printf(body, "{\"serial\":\"%s\",\"ca\":\"%s\",\"certificate\":%s,\"chain\":%s}\n",
                        resp->serial, resp->ca, qc, qch);
    snprintf(loc, sizeof(loc), "/v1/certificates/%s", resp->serial);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Location", loc);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    net_send(w, req, 201, "Created", body);
out:
    evbuffer_free(body);
    free(pem);
    free(chain);
    free(qc);
    free(qch);
}

/* 202 {"request", "status": "pending"}: a manual-approval profile queued it (docs/approval.md). */
static void queued(struct net_worker *w, struct evhttp_request *req,
                   const struct net_issue_resp *resp)
{
    char loc[64 + sizeof(resp->serial)];
    struct evbuffer *body = evbuffer_new();

    if (body == NULL)
        return net_problem(w, req, 500, "internal", "Internal Server Error", "out of memory");
    evbuffer_add_printf(body, "{\"request\":\"%s\",\"ca\":\"%s\",\"status\":\"pending\"}\n",
                        resp->serial, resp->ca);
    snprintf(loc, sizeof(loc), "/v1/requests/%s", resp->serial);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Location", loc);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    net_send(w, req, 202, "Accepted", body);
    evbuffer_free(body);
}

/* The end of an issuance (worker thread): metrics, log, and the answer. */
static void enroll_done(struct net_worker *w, struct evhttp_request *req,
                        const struct net_issue_req *r, const struct net_issue_resp *resp,
                        uint64_t usec)
{
    const char *who = r->requester;

    net_metrics_issue(&w->srv->metrics, r->profile, answer_for(resp->err).outcome, usec);
    if (resp->err == SIGNET_OK) {
        sg_log(SG_LOG_INFO, "issued serial %s of CA %s, profile %s, to %s", resp->serial, resp->ca,
               r->profile, who);
        issued(w, req, resp);
    } else if (resp->err == SIGNET_E_QUEUED && !resp->forbidden) {
        sg_log(SG_LOG_INFO, "queued request %s for CA %s, profile %s, from %s", resp->serial,
               resp->ca, r->profile, who);
        queued(w, req, resp);
    } else if (resp->forbidden) {
        sg_log(SG_LOG_INFO, "refused %s (profile %s): %s", who, r->profile, resp->detail);
        net_problem(w, req, 403, "forbidden", "Forbidden", resp->detail);
    } else {
        struct answer an = answer_for(resp->err);
        sg_log(an.status >= 500 ? SG_LOG_ERR : SG_LOG_INFO, "refused %s (profile %s): %s: %s", who,
               r->profile, signet_err_name(resp->err), resp->detail);
        if (resp->err == SIGNET_E_HSM_UNAVAILABLE)
            evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "5");
        net_problem(w, req, an.status, an.code, an.title,
                    an.client_detail ? resp->detail : "the CA cannot issue now; see its log");
    }
}

/*
 * POST /v1/certificates: authorizes, reads the request and starts the issuance; enroll_done
 * answers when it ends (later, on this worker's loop, under the process split).
 */
void net_h_enroll(struct net_worker *w, struct evhttp_request *req)
{
    struct net_issue_req *r = NULL;
    char who[NET_REQUESTER_MAX] = "";
    enum net_auth a;

    if (!net_method_is(req, EVHTTP_REQ_POST))
        return net_method_not_allowed(w, req, "POST");
    if ((a = net_authorize(w->srv, req, NULL, who, sizeof(who))) != NET_AUTH_OK)
        return unauthorized(w, req, a);
    if ((r = malloc(sizeof(*r))) == NULL) {
        net_problem(w, req, 500, "internal", "Internal Server Error", "out of memory");
        return;
    }
    memset(r, 0, offsetof(struct net_issue_req, csr));
    if (!read_request(w, req, r))
        goto out;
    if (net_authorize(w->srv, req, r->profile, who, sizeof(who)) != NET_AUTH_OK) {
        char d[SIGNET_DETAIL_MAX];
        snprintf(d, sizeof(d), "%s may not use profile %s", who, r->profile);
        net_problem(w, req, 403, "forbidden", "Forbidden", d);
        goto out;
    }
    memcpy(r->requester, who, sizeof(r->requester));
    net_issue_start(w, req, r, enroll_done); /* takes r */
    return;
out:
    free(r);
}

static const char *reason_name(int r)
{
    static const char *const names[] = {
        "unspecified",   "keyCompromise",        "cACompromise",    "affiliationChanged",
        "superseded",    "cessationOfOperation", "certificateHold", NULL,
        "removeFromCRL", "privilegeWithdrawn",   "aACompromise"};

    if (r < 0 || r >= (int)(sizeof(names) / sizeof(names[0])) || names[r] == NULL)
        return "unspecified";
    return names[r];
}

/* Writes the status document of one record. */
static void status_doc(struct net_worker *w, struct evhttp_request *req, const char *ca,
                       const char *serial, const struct store_cert *c)
{
    char na[32], ra[32];
    char *pem = NULL, *q = NULL;
    struct evbuffer *body = evbuffer_new();

    if (body == NULL) {
        net_send(w, req, 500, "Internal Server Error", NULL);
        return;
    }
    sg_format_time(c->not_after, na, sizeof(na));
    evbuffer_add_printf(body,
                        "{\"serial\":\"%s\",\"ca\":\"%s\",\"status\":\"%s\",\"profile\":\"%s\","
                        "\"not_after\":\"%s\"",
                        serial, ca, store_cert_state_name(c->state), c->profile, na);
    if (c->state == STORE_CERT_REVOKED) {
        sg_format_time(c->revoked_at, ra, sizeof(ra));
        evbuffer_add_printf(body, ",\"revoked_at\":\"%s\",\"reason\":\"%s\"", ra,
                            reason_name(c->reason));
    }
    if (c->state != STORE_CERT_PENDING && (pem = der_to_pem(c->der, c->der_len)) != NULL &&
        (q = net_json_quote(pem, strlen(pem))) != NULL)
        evbuffer_add_printf(body, ",\"certificate\":%s", q);
    evbuffer_add_printf(body, "}\n");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    net_send(w, req, 200, "OK", body);
    evbuffer_free(body);
    free(pem);
    free(q);
}

void net_h_status(struct net_worker *w, struct evhttp_request *req, const char *rest)
{
    char serial[2 * STORE_SERIAL_MAX + 1], who[NET_REQUESTER_MAX];
    size_t n = strspn(rest, "0123456789abcdefABCDEF");
    struct ca_info *cas = NULL;
    size_t ncas = 0;
    struct store_cert *c = NULL;
    enum net_auth a;

    if (rest[n] == '/' && strcmp(rest + n, "/revoke") == 0 && n > 0)
        return net_h_revoke(w, req, rest, n);
    if (n == 0 || n >= sizeof(serial) || rest[n] != '\0')
        return net_problem(w, req, 404, "notFound", "Not Found", "a serial is 1 to 40 hex digits");
    if (!net_method_is(req, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD))
        return net_method_not_allowed(w, req, "GET, HEAD");
    if ((a = net_authorize(w->srv, req, NULL, who, sizeof(who))) != NET_AUTH_OK)
        return unauthorized(w, req, a);
    for (size_t i = 0; i < n; i++)
        serial[i] = (char)(rest[i] >= 'A' && rest[i] <= 'F' ? rest[i] + 32 : rest[i]);
    serial[n] = '\0';
    if (ca_list(w->srv->ca, &cas, &ncas, NULL) != SIGNET_OK)
        ncas = 0;
    for (size_t i = 0; i < ncas; i++) {
        if (cas[i].store_id == 0 || ca_cert_get(w->srv->ca, cas[i].name, serial, &c, NULL))
            continue;
        /* a client sees only certificates of profiles it may use */
        if (net_authorize(w->srv, req, c->profile, who, sizeof(who)) == NET_AUTH_OK)
            status_doc(w, req, cas[i].name, serial, c);
        else
            net_problem(w, req, 404, "notFound", "Not Found", "no certificate with this serial");
        goto out;
    }
    net_problem(w, req, 404, "notFound", "Not Found", "no certificate with this serial");
out:
    store_cert_free(c);
    free(cas);
}
