/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ca side of the issuance boundary: net_issue_exec runs one plain request (the byte encodings
 * of the process split are in frame.c).
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "net.h"

/* The first CA (name order) whose profiles list holds profile; "" when none. */
static enum signet_err default_ca(struct ca_ctx *ctx, const char *profile, char *out, char *detail)
{
    struct ca_info *cas = NULL;
    size_t n = 0;
    enum signet_err rc;

    out[0] = '\0';
    if ((rc = ca_list(ctx, &cas, &n, detail)) != SIGNET_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (ca_profile_allowed(ctx, cas[i].name, profile)) {
            memcpy(out, cas[i].name, CA_NAME_MAX);
            out[CA_NAME_MAX - 1] = '\0';
            break;
        }
    }
    free(cas);
    if (out[0] == '\0') {
        sg_detail(detail, "no CA issues profile %s; name one that does in \"ca\"", profile);
        return SIGNET_E_NOTFOUND;
    }
    return SIGNET_OK;
}

/* A live OCSP signature (ca_ocsp_sign_live: rate-limited, nonce echoed) into resp->der. */
static enum signet_err ocsp_live_exec(struct ca_ctx *ctx, const struct net_issue_req *req,
                                      struct net_issue_resp *resp)
{
    unsigned char *der = NULL;
    size_t len = 0;

    resp->err = ca_ocsp_sign_live(ctx, req->csr, req->csr_len, &der, &len, resp->detail);
    if (resp->err == SIGNET_OK && len > sizeof(resp->der)) {
        sg_detail(resp->detail, "a live OCSP response of %zu bytes does not fit", len);
        resp->err = SIGNET_E_INTERNAL;
    } else if (resp->err == SIGNET_OK) {
        memcpy(resp->der, der, len);
        resp->der_len = (uint32_t)len;
    }
    free(der);
    return resp->err;
}

/* 1 when s is NUL-terminated within cap bytes. */
static int terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

enum signet_err net_issue_exec(struct ca_ctx *ctx, const struct net_issue_req *req,
                               struct net_issue_resp *resp)
{
    struct ca_issue_request ir = {0};
    struct ca_issued *got = NULL;
    struct ca_issue_opts io = {0, ""};
    char ca[CA_NAME_MAX];

    memset(resp, 0, offsetof(struct net_issue_resp, der));
    if (req->op == NET_OP_REVOKE)
        return net_revoke_exec(ctx, req, NULL, NULL, resp);
    if (req->op == NET_OP_OCSP_LIVE)
        return ocsp_live_exec(ctx, req, resp);
    if (!terminated(req->ca, sizeof(req->ca)) || !terminated(req->profile, sizeof(req->profile)) ||
        !terminated(req->requester, sizeof(req->requester)) || req->csr_len > CA_CSR_MAX) {
        sg_detail(resp->detail, "malformed issuance request");
        return resp->err = SIGNET_E_USAGE;
    }
    if (req->ca[0] != '\0')
        memcpy(ca, req->ca, sizeof(ca));
    else if ((resp->err = default_ca(ctx, req->profile, ca, resp->detail)) != SIGNET_OK)
        return resp->err;
    ir.csr = req->csr;
    ir.csr_len = req->csr_len;
    ir.ca = ca;
    ir.profile = req->profile;
    ir.requester = req->requester;
    if ((resp->err = ca_issue_ex(ctx, &ir, &io, &got, resp->detail)) != SIGNET_OK) {
        if (resp->err == SIGNET_E_QUEUED) { /* the answer carries the request's id as its serial */
            memcpy(resp->ca, ca, sizeof(resp->ca));
            snprintf(resp->serial, sizeof(resp->serial), "%s", io.queued_id);
        }
        return resp->err;
    }
    if (got->der_len > sizeof(resp->der)) {
        sg_detail(resp->detail, "certificate %s of CA %s is larger than %u bytes", got->serial,
                  got->ca, NET_CERT_MAX);
        resp->err = SIGNET_E_INTERNAL;
        goto out;
    }
    memcpy(resp->ca, got->ca, sizeof(resp->ca));
    memcpy(resp->serial, got->serial, sizeof(resp->serial));
    resp->not_after = got->not_after;
    resp->der_len = (uint32_t)got->der_len;
    memcpy(resp->der, got->der, got->der_len);
out:
    ca_issued_free(got);
    return resp->err;
}

enum signet_err net_revoke_exec(struct ca_ctx *ctx, const struct net_issue_req *req,
                                int (*may)(const char *profile, void *arg), void *may_arg,
                                struct net_issue_resp *resp)
{
    struct ca_revoke_request rr = {0};
    struct ca_revoked got = {0};

    memset(resp, 0, offsetof(struct net_issue_resp, der));
    if (!terminated(req->ca, sizeof(req->ca)) || !terminated(req->serial, sizeof(req->serial)) ||
        !terminated(req->requester, sizeof(req->requester))) {
        sg_detail(resp->detail, "malformed revocation request");
        return resp->err = SIGNET_E_USAGE;
    }
    rr.ca = req->ca[0] ? req->ca : NULL;
    rr.serial_hex = req->serial;
    rr.reason = req->reason;
    rr.invalidity_date = req->invalidity_date;
    rr.requester = req->requester;
    rr.may_revoke = may;
    rr.may_arg = may_arg;
    if ((resp->err = ca_revoke(ctx, &rr, &got, resp->detail)) != SIGNET_OK) {
        resp->forbidden = resp->err == SIGNET_E_FORBIDDEN;
        return resp->err;
    }
    memcpy(resp->ca, got.ca, sizeof(resp->ca));
    memcpy(resp->serial, got.serial, sizeof(resp->serial));
    resp->not_after = got.revoked_at;
    return SIGNET_OK;
}
