/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The issuance boundary between the web side and the ca side: plain request/response structures,
 * their byte encoding for the process split, and the ca-side executor.
 */
#include <stdlib.h>
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
    char ca[CA_NAME_MAX];

    memset(resp, 0, offsetof(struct net_issue_resp, der));
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
    if ((resp->err = ca_issue(ctx, &ir, &got, resp->detail)) != SIGNET_OK)
        return resp->err;
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

/* Appends n bytes at *off when they fit. 1 = ok. */
static int put(unsigned char *out, size_t cap, size_t *off, const void *p, size_t n)
{
    if (*off + n > cap)
        return 0;
    memcpy(out + *off, p, n);
    *off += n;
    return 1;
}

/* A string as a 2-byte little-endian length and its bytes (no NUL). */
static int put_str(unsigned char *out, size_t cap, size_t *off, const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    unsigned char l[2] = {(unsigned char)(n & 0xff), (unsigned char)(n >> 8)};

    return n < max && put(out, cap, off, l, 2) && put(out, cap, off, s, n);
}

size_t net_issue_req_encode(const struct net_issue_req *req, unsigned char *out, size_t cap)
{
    size_t off = 0;
    unsigned char l[4];
    uint32_t n = req->csr_len;

    if (n > CA_CSR_MAX)
        return 0;
    l[0] = (unsigned char)n, l[1] = (unsigned char)(n >> 8), l[2] = (unsigned char)(n >> 16);
    l[3] = (unsigned char)(n >> 24);
    if (!put_str(out, cap, &off, req->ca, sizeof(req->ca)) ||
        !put_str(out, cap, &off, req->profile, sizeof(req->profile)) ||
        !put_str(out, cap, &off, req->requester, sizeof(req->requester)) ||
        !put(out, cap, &off, l, 4) || !put(out, cap, &off, req->csr, n))
        return 0;
    return off;
}

/* Reads a string written by put_str into dst (cap bytes, NUL-terminated). 1 = ok. */
static int get_str(const unsigned char *in, size_t len, size_t *off, char *dst, size_t cap)
{
    size_t n;

    if (*off + 2 > len)
        return 0;
    n = (size_t)in[*off] | ((size_t)in[*off + 1] << 8);
    *off += 2;
    if (n >= cap || *off + n > len || memchr(in + *off, '\0', n) != NULL)
        return 0;
    memcpy(dst, in + *off, n);
    dst[n] = '\0';
    *off += n;
    return 1;
}

int net_issue_req_decode(const unsigned char *in, size_t len, struct net_issue_req *out)
{
    size_t off = 0;
    uint32_t n;

    memset(out, 0, offsetof(struct net_issue_req, csr));
    if (!get_str(in, len, &off, out->ca, sizeof(out->ca)) ||
        !get_str(in, len, &off, out->profile, sizeof(out->profile)) ||
        !get_str(in, len, &off, out->requester, sizeof(out->requester)) || off + 4 > len)
        return 0;
    n = (uint32_t)in[off] | ((uint32_t)in[off + 1] << 8) | ((uint32_t)in[off + 2] << 16) |
        ((uint32_t)in[off + 3] << 24);
    off += 4;
    if (n > CA_CSR_MAX || off + n != len)
        return 0;
    memcpy(out->csr, in + off, n);
    out->csr_len = n;
    return 1;
}
