/* SPDX-License-Identifier: Apache-2.0 */
/*
 * POST /v1/certificates/{serial}/revoke {"reason": NAME, "invalidity_date"?: RFC 3339}: the web
 * side reads and checks the request, and the ca process revokes (ca_revoke) after checking again
 * that the client may use the certificate's profile. A client may revoke what it may issue.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crl.h"
#include "internal.h"

/* How a revocation error is answered (docs/api.md). */
static void refused(struct net_worker *w, struct evhttp_request *req, enum signet_err e,
                    const char *detail)
{
    switch (e) {
    case SIGNET_E_USAGE:
    case SIGNET_E_INVALID:
        return net_problem(w, req, 400, "malformed", "Bad Request", detail);
    case SIGNET_E_NOTFOUND:
        return net_problem(w, req, 404, "notFound", "Not Found", detail);
    case SIGNET_E_EXISTS:
    case SIGNET_E_POLICY:
        return net_problem(w, req, 409, "policyViolation", "Conflict", detail);
    case SIGNET_E_FORBIDDEN:
        return net_problem(w, req, 403, "forbidden", "Forbidden", detail);
    case SIGNET_E_HSM_UNAVAILABLE:
    case SIGNET_E_HSM:
    case SIGNET_E_PIN:
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "5");
        return net_problem(w, req, 503, "hsmUnavailable", "Service Unavailable",
                           "the CA cannot revoke now; try again");
    default:
        return net_problem(w, req, 500, "internal", "Internal Server Error",
                           "the revocation failed; see the CA's log");
    }
}

/* The end of a revocation (worker thread): log and answer. */
static void revoke_done(struct net_worker *w, struct evhttp_request *req,
                        const struct net_issue_req *r, const struct net_issue_resp *resp,
                        uint64_t usec)
{
    char at[32];
    const char *reason = crl_reason_name(r->reason);
    struct evbuffer *body;

    (void)usec;
    if (resp->err != SIGNET_OK) {
        sg_log(resp->err == SIGNET_E_INTERNAL || resp->err == SIGNET_E_STORE ? SG_LOG_ERR
                                                                             : SG_LOG_INFO,
               "revocation of %s by %s refused: %s: %s", r->serial, r->requester,
               signet_err_name(resp->err), resp->detail);
        return refused(w, req, resp->err, resp->detail);
    }
    sg_log(SG_LOG_INFO, "revoked serial %s of CA %s for %s", resp->serial, resp->ca, r->requester);
    if ((body = evbuffer_new()) == NULL)
        return net_problem(w, req, 500, "internal", "Internal Server Error", "out of memory");
    sg_format_time(resp->not_after, at, sizeof(at));
    evbuffer_add_printf(body,
                        "{\"serial\":\"%s\",\"ca\":\"%s\",\"status\":\"revoked\","
                        "\"revoked_at\":\"%s\",\"reason\":\"%s\"}\n",
                        resp->serial, resp->ca, at, reason ? reason : "unspecified");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    net_send(w, req, 200, "OK", body);
    evbuffer_free(body);
}

/* Reads {"reason", "invalidity_date"?} into r. 1 = ok; 0 = answered with a problem. */
static int read_revoke(struct net_worker *w, struct evhttp_request *req, struct net_issue_req *r)
{
    static const struct net_json_limits lim = {1, 4096, 4, 8};
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in), n;
    const char *s, *body;
    struct net_json *j = NULL;
    char detail[SIGNET_DETAIL_MAX], tmp[64];
    int ok = 0, code;

    if (len > 4096)
        return net_problem(w, req, 413, "tooLarge", "Content Too Large",
                           "a revocation request is at most 4 KiB"),
               0;
    body = len > 0 ? (const char *)evbuffer_pullup(in, -1) : NULL;
    if (body == NULL || !net_json_parse(body, len, &lim, &j, detail)) {
        if (body == NULL)
            snprintf(detail, sizeof(detail), "send a JSON object {\"reason\": NAME}");
        return net_problem(w, req, 400, "malformed", "Bad Request", detail), 0;
    }
    for (size_t i = 0; i < net_json_count(j); i++) {
        const char *k = net_json_key_at(j, i);
        if (k == NULL || (strcmp(k, "reason") && strcmp(k, "invalidity_date"))) {
            net_problem(w, req, 400, "malformed", "Bad Request",
                        "the revocation object allows only reason and invalidity_date");
            goto out;
        }
    }
    if ((s = net_json_string(net_json_get(j, "reason"), &n)) == NULL || n >= sizeof(tmp)) {
        net_problem(w, req, 400, "malformed", "Bad Request",
                    "\"reason\" must be an RFC 5280 reason name, e.g. keyCompromise");
        goto out;
    }
    memcpy(tmp, s, n + 1);
    if (ca_revoke_reason(tmp, &code, detail) != SIGNET_OK) {
        net_problem(w, req, 400, "malformed", "Bad Request", detail);
        goto out;
    }
    r->reason = code;
    if (net_json_get(j, "invalidity_date") != NULL) {
        if ((s = net_json_string(net_json_get(j, "invalidity_date"), &n)) == NULL ||
            n >= sizeof(tmp) || (memcpy(tmp, s, n + 1), !sg_parse_time(tmp, &r->invalidity_date))) {
            net_problem(w, req, 400, "malformed", "Bad Request",
                        "\"invalidity_date\" must be a time like 2026-01-31T00:00:00Z");
            goto out;
        }
    }
    ok = 1;
out:
    net_json_free(j);
    return ok;
}

/*
 * The web side's own check on its read-only view: the serial exists and the client may use its
 * profile (403 otherwise). The ca process checks again on what it receives. 1 = go on.
 */
static int may_revoke_here(struct net_worker *w, struct evhttp_request *req,
                           const struct net_issue_req *r)
{
    struct ca_info *cas = NULL;
    size_t ncas = 0;
    struct store_cert *c = NULL;
    char who[NET_REQUESTER_MAX], d[SIGNET_DETAIL_MAX];
    int ok = 1;

    if (ca_list(w->srv->ca, &cas, &ncas, NULL) != SIGNET_OK)
        ncas = 0;
    for (size_t i = 0; i < ncas && c == NULL; i++)
        if (cas[i].store_id == 0 || ca_cert_get(w->srv->ca, cas[i].name, r->serial, &c, NULL))
            c = NULL;
    if (c != NULL && net_authorize(w->srv, req, c->profile, who, sizeof(who)) != NET_AUTH_OK) {
        snprintf(d, sizeof(d), "%s may not revoke certificates of profile %s", r->requester,
                 c->profile);
        net_problem(w, req, 403, "forbidden", "Forbidden", d);
        ok = 0;
    }
    store_cert_free(c);
    free(cas);
    return ok;
}

void net_h_revoke(struct net_worker *w, struct evhttp_request *req, const char *serial, size_t n)
{
    struct net_issue_req *r = NULL;
    char who[NET_REQUESTER_MAX] = "";
    enum net_auth a;

    if (!net_method_is(req, EVHTTP_REQ_POST))
        return net_method_not_allowed(w, req, "POST");
    if ((a = net_authorize(w->srv, req, NULL, who, sizeof(who))) != NET_AUTH_OK) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                          "Bearer realm=\"signet\"");
        return net_problem(w, req, 401, "unauthorized", "Unauthorized",
                           "send Authorization: Bearer TOKEN or a client certificate");
    }
    if (n == 0 || n > 2 * STORE_SERIAL_MAX)
        return net_problem(w, req, 400, "malformed", "Bad Request",
                           "a serial is 1 to 40 hex digits");
    if ((r = calloc(1, sizeof(*r))) == NULL)
        return net_problem(w, req, 500, "internal", "Internal Server Error", "out of memory");
    r->op = NET_OP_REVOKE;
    for (size_t i = 0; i < n; i++)
        r->serial[i] = (char)(serial[i] >= 'A' && serial[i] <= 'F' ? serial[i] + 32 : serial[i]);
    if (!read_revoke(w, req, r)) {
        free(r);
        return;
    }
    memcpy(r->requester, who, sizeof(r->requester));
    if (!may_revoke_here(w, req, r)) {
        free(r);
        return;
    }
    net_issue_start(w, req, r, revoke_done); /* takes r */
}
