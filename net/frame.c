/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The byte encodings of the process split (docs/architecture.md): frame headers and the
 * payloads that cross the socketpair. Every decoder checks every length against what it has
 * and against the field it fills, refuses NUL inside strings and trailing bytes, and never
 * trusts a count from the other side.
 */
#include <stdlib.h>
#include <string.h>

#include "net.h"

void net_frame_header(unsigned char out[NET_FRAME_HDR], enum net_msg type, uint32_t id,
                      size_t payload_len)
{
    uint32_t n = (uint32_t)(payload_len + 5);

    out[0] = (unsigned char)(n >> 24), out[1] = (unsigned char)(n >> 16);
    out[2] = (unsigned char)(n >> 8), out[3] = (unsigned char)n;
    out[4] = (unsigned char)type;
    out[5] = (unsigned char)(id >> 24), out[6] = (unsigned char)(id >> 16);
    out[7] = (unsigned char)(id >> 8), out[8] = (unsigned char)id;
}

int net_frame_parse_header(const unsigned char in[NET_FRAME_HDR], enum net_msg *type, uint32_t *id,
                           size_t *payload_len)
{
    uint32_t n = ((uint32_t)in[0] << 24) | ((uint32_t)in[1] << 16) | ((uint32_t)in[2] << 8) | in[3];

    if (n < 5 || n > NET_FRAME_MAX || in[4] == 0 || in[4] >= NET_MSG_MAX)
        return 0;
    *type = (enum net_msg)in[4];
    *id = ((uint32_t)in[5] << 24) | ((uint32_t)in[6] << 16) | ((uint32_t)in[7] << 8) | in[8];
    *payload_len = n - 5;
    return 1;
}

/* Appends n bytes at *off when they fit. 1 = ok. */
static int put(unsigned char *out, size_t cap, size_t *off, const void *p, size_t n)
{
    if (*off + n > cap)
        return 0;
    if (n > 0)
        memcpy(out + *off, p, n);
    *off += n;
    return 1;
}

/* A 4-byte little-endian count. */
static int put_u32(unsigned char *out, size_t cap, size_t *off, uint32_t v)
{
    unsigned char l[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};

    return put(out, cap, off, l, 4);
}

/* A string as a 2-byte little-endian length and its bytes (no NUL); it must end within max. */
static int put_str(unsigned char *out, size_t cap, size_t *off, const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    unsigned char l[2] = {(unsigned char)(n & 0xff), (unsigned char)(n >> 8)};

    return n < max && n <= 0xffff && put(out, cap, off, l, 2) && put(out, cap, off, s, n);
}

static int get_u32(const unsigned char *in, size_t len, size_t *off, uint32_t *v)
{
    if (len < 4 || *off > len - 4)
        return 0;
    *v = (uint32_t)in[*off] | ((uint32_t)in[*off + 1] << 8) | ((uint32_t)in[*off + 2] << 16) |
         ((uint32_t)in[*off + 3] << 24);
    *off += 4;
    return 1;
}

/* Reads a string written by put_str into dst (cap bytes, NUL-terminated). 1 = ok. */
static int get_str(const unsigned char *in, size_t len, size_t *off, char *dst, size_t cap)
{
    size_t n;

    if (len < 2 || *off > len - 2)
        return 0;
    n = (size_t)in[*off] | ((size_t)in[*off + 1] << 8);
    *off += 2;
    if (n >= cap || n > len - *off || memchr(in + *off, '\0', n) != NULL)
        return 0;
    memcpy(dst, in + *off, n);
    dst[n] = '\0';
    *off += n;
    return 1;
}

size_t net_issue_req_encode(const struct net_issue_req *req, unsigned char *out, size_t cap)
{
    size_t off = 0;

    if (req->csr_len > CA_CSR_MAX || !put_str(out, cap, &off, req->ca, sizeof(req->ca)) ||
        !put_str(out, cap, &off, req->profile, sizeof(req->profile)) ||
        !put_str(out, cap, &off, req->requester, sizeof(req->requester)) ||
        !put_u32(out, cap, &off, req->op) ||
        !put_str(out, cap, &off, req->serial, sizeof(req->serial)) ||
        !put_u32(out, cap, &off, (uint32_t)req->reason) ||
        !put_u32(out, cap, &off, (uint32_t)(uint64_t)req->invalidity_date) ||
        !put_u32(out, cap, &off, (uint32_t)((uint64_t)req->invalidity_date >> 32)) ||
        !put_u32(out, cap, &off, req->csr_len) || !put(out, cap, &off, req->csr, req->csr_len))
        return 0;
    return off;
}

int net_issue_req_decode(const unsigned char *in, size_t len, struct net_issue_req *out)
{
    size_t off = 0;
    uint32_t n, reason, lo, hi;

    memset(out, 0, offsetof(struct net_issue_req, csr));
    if (!get_str(in, len, &off, out->ca, sizeof(out->ca)) ||
        !get_str(in, len, &off, out->profile, sizeof(out->profile)) ||
        !get_str(in, len, &off, out->requester, sizeof(out->requester)) ||
        !get_u32(in, len, &off, &out->op) || out->op > NET_OP_OCSP_LIVE ||
        !get_str(in, len, &off, out->serial, sizeof(out->serial)) ||
        !get_u32(in, len, &off, &reason) || reason > 10 || !get_u32(in, len, &off, &lo) ||
        !get_u32(in, len, &off, &hi) || !get_u32(in, len, &off, &n) || n > CA_CSR_MAX ||
        n != len - off)
        return 0;
    out->reason = (int32_t)reason;
    out->invalidity_date = (int64_t)(((uint64_t)hi << 32) | lo);
    memcpy(out->csr, in + off, n);
    out->csr_len = n;
    return 1;
}

size_t net_issue_resp_encode(const struct net_issue_resp *resp, unsigned char *out, size_t cap)
{
    size_t off = 0;
    uint64_t na = (uint64_t)resp->not_after;

    if ((unsigned)resp->err >= SIGNET_E_MAX || resp->der_len > NET_CERT_MAX ||
        !put_u32(out, cap, &off, (uint32_t)resp->err) ||
        !put_u32(out, cap, &off, resp->forbidden ? 1u : 0u) ||
        !put_str(out, cap, &off, resp->detail, sizeof(resp->detail)) ||
        !put_str(out, cap, &off, resp->ca, sizeof(resp->ca)) ||
        !put_str(out, cap, &off, resp->serial, sizeof(resp->serial)) ||
        !put_u32(out, cap, &off, (uint32_t)na) || !put_u32(out, cap, &off, (uint32_t)(na >> 32)) ||
        !put_u32(out, cap, &off, resp->der_len) || !put(out, cap, &off, resp->der, resp->der_len))
        return 0;
    return off;
}

int net_issue_resp_decode(const unsigned char *in, size_t len, struct net_issue_resp *out)
{
    size_t off = 0;
    uint32_t err, forbidden, lo, hi, n;

    memset(out, 0, offsetof(struct net_issue_resp, der));
    if (!get_u32(in, len, &off, &err) || err >= SIGNET_E_MAX ||
        !get_u32(in, len, &off, &forbidden) || forbidden > 1 ||
        !get_str(in, len, &off, out->detail, sizeof(out->detail)) ||
        !get_str(in, len, &off, out->ca, sizeof(out->ca)) ||
        !get_str(in, len, &off, out->serial, sizeof(out->serial)) || !get_u32(in, len, &off, &lo) ||
        !get_u32(in, len, &off, &hi) || !get_u32(in, len, &off, &n) || n > NET_CERT_MAX ||
        n != len - off)
        goto bad;
    out->err = (enum signet_err)err;
    out->forbidden = (int)forbidden;
    out->not_after = (int64_t)(((uint64_t)hi << 32) | lo);
    out->der_len = n;
    memcpy(out->der, in + off, n);
    return 1;
bad:
    memset(out, 0, offsetof(struct net_issue_resp, der));
    return 0;
}

size_t net_text_encode(enum signet_err err, const char *text, unsigned char *out, size_t cap)
{
    size_t off = 0, n = strnlen(text, NET_TEXT_MAX + 1);

    if ((unsigned)err >= SIGNET_E_MAX || n > NET_TEXT_MAX || !put_u32(out, cap, &off, err) ||
        !put_u32(out, cap, &off, (uint32_t)n) || !put(out, cap, &off, text, n))
        return 0;
    return off;
}

int net_text_decode(const unsigned char *in, size_t len, enum signet_err *err, char *text,
                    size_t cap)
{
    size_t off = 0;
    uint32_t e, n;

    if (!get_u32(in, len, &off, &e) || e >= SIGNET_E_MAX || !get_u32(in, len, &off, &n) ||
        n > NET_TEXT_MAX || n >= cap || n != len - off || memchr(in + off, '\0', n) != NULL)
        return 0;
    *err = (enum signet_err)e;
    memcpy(text, in + off, n);
    text[n] = '\0';
    return 1;
}

size_t net_client_msg_encode(const struct net_client_msg *m, unsigned char *out, size_t cap)
{
    size_t off = 0;

    if (!put_str(out, cap, &off, m->name, sizeof(m->name)) ||
        !put(out, cap, &off, m->hash, sizeof(m->hash)) ||
        !put_str(out, cap, &off, m->profiles, sizeof(m->profiles)) ||
        !put(out, cap, &off, (const unsigned char[]){m->has_spki ? 1 : 0}, 1) ||
        !put(out, cap, &off, m->spki, sizeof(m->spki)))
        return 0;
    return off;
}

int net_client_msg_decode(const unsigned char *in, size_t len, struct net_client_msg *out)
{
    size_t off = 0;

    memset(out, 0, sizeof(*out));
    if (!get_str(in, len, &off, out->name, sizeof(out->name)) || out->name[0] == '\0' ||
        len - off < sizeof(out->hash))
        return 0;
    memcpy(out->hash, in + off, sizeof(out->hash));
    off += sizeof(out->hash);
    if (!get_str(in, len, &off, out->profiles, sizeof(out->profiles)) ||
        len - off != 1 + sizeof(out->spki) || in[off] > 1)
        return 0;
    out->has_spki = in[off++];
    memcpy(out->spki, in + off, sizeof(out->spki));
    return 1;
}
