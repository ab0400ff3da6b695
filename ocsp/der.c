/* SPDX-License-Identifier: Apache-2.0 */
/* A small DER writer and reader: just what OCSP responses need, every length bounded. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define BUF_LIMIT (1u << 20) /* no OCSP structure Signet makes comes near this */

void ocsp_buf_free(struct ocsp_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

void ocsp_buf_add(struct ocsp_buf *b, const void *data, size_t len)
{
    if (b->err || len == 0)
        return;
    if (len > BUF_LIMIT || b->len + len > BUF_LIMIT) {
        b->err = 1;
        return;
    }
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        unsigned char *np;
        while (cap < b->len + len)
            cap *= 2;
        if ((np = realloc(b->p, cap)) == NULL) {
            b->err = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
}

/* Tag and definite length (short or long form). */
static void put_header(struct ocsp_buf *b, unsigned char tag, size_t len)
{
    unsigned char h[6];
    size_t n = 0;

    h[n++] = tag;
    if (len < 0x80) {
        h[n++] = (unsigned char)len;
    } else if (len <= 0xff) {
        h[n++] = 0x81;
        h[n++] = (unsigned char)len;
    } else if (len <= 0xffff) {
        h[n++] = 0x82;
        h[n++] = (unsigned char)(len >> 8);
        h[n++] = (unsigned char)len;
    } else {
        h[n++] = 0x83;
        h[n++] = (unsigned char)(len >> 16);
        h[n++] = (unsigned char)(len >> 8);
        h[n++] = (unsigned char)len;
    }
    ocsp_buf_add(b, h, n);
}

void ocsp_buf_tlv(struct ocsp_buf *b, unsigned char tag, const void *data, size_t len)
{
    put_header(b, tag, len);
    ocsp_buf_add(b, data, len);
}

void ocsp_buf_wrap(struct ocsp_buf *b, unsigned char tag, struct ocsp_buf *inner)
{
    if (inner->err)
        b->err = 1;
    put_header(b, tag, inner->len);
    ocsp_buf_add(b, inner->p, inner->len);
    ocsp_buf_free(inner);
}

void ocsp_buf_time(struct ocsp_buf *b, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    char s[32];

    if (gmtime_r(&tt, &tm) == NULL || tm.tm_year + 1900 > 9999 ||
        strftime(s, sizeof(s), "%Y%m%d%H%M%SZ", &tm) != 15) {
        b->err = 1;
        return;
    }
    ocsp_buf_tlv(b, 0x18, s, 15);
}

void ocsp_buf_uint(struct ocsp_buf *b, const unsigned char *v, size_t len)
{
    unsigned char tmp[1 + STORE_SERIAL_MAX + 1];

    while (len > 1 && v[0] == 0) {
        v++;
        len--;
    }
    if (len == 0 || len > STORE_SERIAL_MAX + 1) {
        b->err = 1;
        return;
    }
    tmp[0] = 0;
    memcpy(tmp + 1, v, len);
    if (v[0] & 0x80)
        ocsp_buf_tlv(b, 0x02, tmp, len + 1);
    else
        ocsp_buf_tlv(b, 0x02, v, len);
}

int ocsp_der_next(const unsigned char **p, size_t *left, unsigned char *tag,
                  const unsigned char **content, size_t *clen)
{
    const unsigned char *q = *p;
    size_t n = *left, len, hl = 2;

    if (n < 2 || (q[0] & 0x1f) == 0x1f)
        return 0;
    *tag = q[0];
    if (q[1] < 0x80) {
        len = q[1];
    } else {
        size_t k = q[1] & 0x7f;
        if (k == 0 || k > 3 || n < 2 + k || q[2] == 0)
            return 0;
        len = 0;
        for (size_t i = 0; i < k; i++)
            len = (len << 8) | q[2 + i];
        if (len < 0x80)
            return 0;
        hl += k;
    }
    if (len > n - hl)
        return 0;
    *content = q + hl;
    *clen = len;
    *p = q + hl + len;
    *left = n - hl - len;
    return 1;
}

int ocsp_key_hash(X509 *cert, unsigned char out[20])
{
    unsigned int n = 0;

    return X509_pubkey_digest(cert, EVP_sha1(), out, &n) == 1 && n == 20;
}
