/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crl DER: a small writer (headers, integers, times into one growing buffer) and a bounded
 * reader (definite, minimal lengths only) used by the builder, the lint and crl_info_read.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define PREFAULT_FROM ((size_t)1 << 20)
#define PREFAULT_STEP ((size_t)4 << 20)

unsigned char *crl_buf_room(struct crl_buf *b, size_t n)
{
    unsigned char *np;
    size_t ncap;

    if (b->err)
        return NULL;
    if (b->cap - b->len < n) {
        ncap = b->cap ? b->cap : 4096;
        while (ncap - b->len < n) {
            /* grow by half beyond 64 MiB so that the slack stays small for huge CRLs */
            ncap += ncap < ((size_t)64 << 20) ? ncap : ncap / 2;
        }
        if ((np = realloc(b->p, ncap)) == NULL) {
            b->err = 1;
            return NULL;
        }
        if (np != b->p)
            b->mapped = b->len;
        b->p = np;
        b->cap = ncap;
    }
    /*
     * A large CRL fills megabytes in one pass: past the first MiB, map them ahead a few at a
     * time (at most as much again as is written), not a page per fault.
     */
    if (b->len + n > b->mapped && b->len >= PREFAULT_FROM) {
        size_t step = b->len < PREFAULT_STEP ? b->len : PREFAULT_STEP;
        size_t to = b->len + n + step;
        to = to < b->cap ? to : b->cap;
        sg_prefault(b->p + b->len, to - b->len);
        b->mapped = to;
    }
    b->len += n;
    return b->p + b->len - n;
}

/*
 * Reserved, not touched: pages are mapped as the buffer fills, so a generous estimate costs
 * address space, not memory, and the buffer never moves (a realloc past the heap's mmap
 * threshold copies everything written so far into fresh pages).
 */
void crl_buf_reserve(struct crl_buf *b, size_t cap)
{
    unsigned char *np;

    if (b->err || b->len != 0 || cap <= b->cap || (np = malloc(cap)) == NULL)
        return;
    free(b->p);
    b->p = np;
    b->cap = cap;
    b->mapped = 0;
}

void crl_buf_put(struct crl_buf *b, const void *p, size_t n)
{
    unsigned char *d = crl_buf_room(b, n);
    if (d != NULL && n > 0)
        memcpy(d, p, n);
}

size_t crl_der_hdr(unsigned char *out, unsigned tag, size_t len)
{
    size_t n = 0, i;

    out[0] = (unsigned char)tag;
    if (len < 0x80) {
        out[1] = (unsigned char)len;
        return 2;
    }
    for (size_t v = len; v > 0; v >>= 8)
        n++;
    out[1] = (unsigned char)(0x80 | n);
    for (i = 0; i < n; i++)
        out[2 + i] = (unsigned char)(len >> (8 * (n - 1 - i)));
    return 2 + n;
}

void crl_buf_tlv(struct crl_buf *b, unsigned tag, const void *p, size_t n)
{
    unsigned char h[8];
    crl_buf_put(b, h, crl_der_hdr(h, tag, n));
    crl_buf_put(b, p, n);
}

size_t crl_der_uint(unsigned char *out, const unsigned char *mag, size_t n)
{
    size_t k = 0;

    while (n > 1 && mag[0] == 0)
        mag++, n--;
    if (mag[0] & 0x80)
        out[k++] = 0;
    memcpy(out + k, mag, n);
    return k + n;
}

size_t crl_der_u64(unsigned char *out, uint64_t v)
{
    unsigned char mag[8];

    for (int i = 0; i < 8; i++)
        mag[i] = (unsigned char)(v >> (8 * (7 - i)));
    return crl_der_uint(out, mag, 8);
}

/* Writes digits of v (width w) at out. */
static void digits(unsigned char *out, int v, int w)
{
    for (int i = w - 1; i >= 0; i--, v /= 10)
        out[i] = (unsigned char)('0' + v % 10);
}

/*
 * UTC calendar arithmetic on the proleptic Gregorian calendar, in 400-year eras of 146097
 * days, without gmtime_r/timegm: a CRL writes a time per entry, and libc's conversions go
 * through the time-zone machinery (and its lock) each time.
 */
struct civil {
    int64_t y;
    int mon, day, hour, min, sec; /* mon 1..12, day 1..31 */
};

static void civil_of(int64_t t, struct civil *c)
{
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400), rem = t - days * 86400;
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                      /* 0 .. 146096 */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* 0 .. 399 */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* 0 .. 365 */
    int64_t mp = (5 * doy + 2) / 153;                                    /* March = 0 */

    c->day = (int)(doy - (153 * mp + 2) / 5 + 1);
    c->mon = (int)(mp < 10 ? mp + 3 : mp - 9);
    c->y = yoe + era * 400 + (c->mon <= 2);
    c->hour = (int)(rem / 3600);
    c->min = (int)(rem % 3600 / 60);
    c->sec = (int)(rem % 60);
}

/* Seconds since the epoch of a UTC civil time (the inverse of civil_of). */
static int64_t civil_to_time(const struct civil *c)
{
    int64_t y = c->y - (c->mon <= 2), era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400, mp = c->mon > 2 ? c->mon - 3 : c->mon + 9;
    int64_t doy = (153 * mp + 2) / 5 + c->day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return (era * 146097 + doe - 719468) * 86400 + c->hour * 3600 + c->min * 60 + c->sec;
}

/* Encodes a time as tag (0x17 UTCTime, 0x18 GeneralizedTime) at out; returns the length. */
static size_t time_tlv(unsigned char *out, const struct civil *t, int generalized)
{
    unsigned char *c = out + 2;
    size_t n = 0;

    if (generalized)
        digits(c, (int)t->y, 4), n = 4;
    else
        digits(c, (int)(t->y % 100), 2), n = 2;
    digits(c + n, t->mon, 2);
    digits(c + n + 2, t->day, 2);
    digits(c + n + 4, t->hour, 2);
    digits(c + n + 6, t->min, 2);
    digits(c + n + 8, t->sec, 2);
    c[n + 10] = 'Z';
    out[0] = generalized ? 0x18 : 0x17;
    out[1] = (unsigned char)(n + 11);
    return n + 13;
}

size_t crl_der_time(unsigned char *out, int64_t t)
{
    struct civil c;

    civil_of(t, &c);
    return time_tlv(out, &c, c.y >= 2050 || c.y < 1950);
}

size_t crl_der_gentime(unsigned char *out, int64_t t)
{
    struct civil c;

    civil_of(t, &c);
    return time_tlv(out, &c, 1);
}

int crl_der_next(struct crl_der *d, unsigned *tag, const unsigned char **c, size_t *clen,
                 const unsigned char **whole, size_t *wlen)
{
    const unsigned char *p = d->p;
    size_t left = d->left, len = 0, hl = 2;

    if (left < 2 || (p[0] & 0x1f) == 0x1f)
        return 0;
    if (p[1] < 0x80) {
        len = p[1];
    } else {
        size_t n = p[1] & 0x7f;
        if (n == 0 || n > sizeof(size_t) || left < 2 + n || p[2] == 0)
            return 0;
        for (size_t i = 0; i < n; i++)
            len = (len << 8) | p[2 + i];
        if (len < 0x80)
            return 0; /* not minimal */
        hl += n;
    }
    if (len > left - hl)
        return 0;
    *tag = p[0];
    *c = p + hl;
    *clen = len;
    if (whole != NULL)
        *whole = p;
    if (wlen != NULL)
        *wlen = hl + len;
    d->p = p + hl + len;
    d->left = left - hl - len;
    return 1;
}

/* Parses n decimal digits. -1 on a non-digit. */
static int num(const unsigned char *c, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (c[i] < '0' || c[i] > '9')
            return -1;
        v = v * 10 + (c[i] - '0');
    }
    return v;
}

int crl_der_time_read(unsigned tag, const unsigned char *c, size_t n, int64_t *out)
{
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    struct civil t;
    int y, off;

    if (tag == 0x17 && n == 13) {
        y = num(c, 2);
        y = y < 0 ? -1 : (y < 50 ? 2000 + y : 1900 + y);
        off = 2;
    } else if (tag == 0x18 && n == 15) {
        y = num(c, 4);
        off = 4;
    } else {
        return 0;
    }
    if (y < 0 || c[n - 1] != 'Z')
        return 0;
    t.y = y;
    t.mon = num(c + off, 2);
    t.day = num(c + off + 2, 2);
    t.hour = num(c + off + 4, 2);
    t.min = num(c + off + 6, 2);
    t.sec = num(c + off + 8, 2);
    if (t.mon < 1 || t.mon > 12 || t.day < 1 || t.day > mdays[t.mon - 1] || t.hour < 0 ||
        t.hour > 23 || t.min < 0 || t.min > 59 || t.sec < 0 || t.sec > 59)
        return 0;
    if (t.mon == 2 && t.day == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return 0;
    *out = civil_to_time(&t);
    return 1;
}

/* RFC 5758 3.2, RFC 4055 5 (NULL parameters), RFC 8410 3 */
static const unsigned char alg_ecdsa256[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                             0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
static const unsigned char alg_ecdsa384[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                             0x48, 0xce, 0x3d, 0x04, 0x03, 0x03};
static const unsigned char alg_rsa256[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                           0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00};
static const unsigned char alg_ed25519[] = {0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70};

/* The digest follows ca_sign_md: SHA-384 for EC keys over 256 bits, else SHA-256. */
const unsigned char *crl_sig_alg(EVP_PKEY *key, size_t *out_len, const EVP_MD **out_md)
{
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_ED25519:
        *out_md = NULL;
        *out_len = sizeof(alg_ed25519);
        return alg_ed25519;
    case EVP_PKEY_EC:
        if (EVP_PKEY_get_bits(key) > 256) {
            *out_md = EVP_sha384();
            *out_len = sizeof(alg_ecdsa384);
            return alg_ecdsa384;
        }
        *out_md = EVP_sha256();
        *out_len = sizeof(alg_ecdsa256);
        return alg_ecdsa256;
    case EVP_PKEY_RSA:
        *out_md = EVP_sha256();
        *out_len = sizeof(alg_rsa256);
        return alg_rsa256;
    default:
        return NULL;
    }
}

/* Reads the optional fields of a TBSCertList after the issuer into out. 1 = ok. */
static int parse_tbs_tail(struct crl_der *t, struct crl_parts *out)
{
    const unsigned char *c;
    size_t n;
    unsigned tag;

    if (!crl_der_next(t, &out->this_tag, &c, &n, NULL, NULL) ||
        !crl_der_time_read(out->this_tag, c, n, &out->this_update))
        return 0;
    if (t->left > 0 && (t->p[0] == 0x17 || t->p[0] == 0x18)) {
        if (!crl_der_next(t, &out->next_tag, &c, &n, NULL, NULL) ||
            !crl_der_time_read(out->next_tag, c, n, &out->next_update))
            return 0;
        out->has_next = 1;
    }
    if (t->left > 0 && t->p[0] == 0x30) {
        if (!crl_der_next(t, &tag, &out->entries, &out->entries_len, NULL, NULL))
            return 0;
    }
    if (t->left > 0) {
        struct crl_der x;
        if (!crl_der_next(t, &tag, &c, &n, NULL, NULL) || tag != 0xa0)
            return 0;
        x.p = c;
        x.left = n;
        if (!crl_der_next(&x, &tag, &out->exts, &out->exts_len, NULL, NULL) || tag != 0x30 ||
            x.left != 0)
            return 0;
    }
    return t->left == 0;
}

int crl_parse(const unsigned char *der, size_t len, struct crl_parts *out)
{
    struct crl_der d = {der, len}, o, t;
    const unsigned char *c;
    size_t n;
    unsigned tag;

    memset(out, 0, sizeof(*out));
    if (!crl_der_next(&d, &tag, &c, &n, NULL, NULL) || tag != 0x30 || d.left != 0)
        return 0;
    o.p = c;
    o.left = n;
    if (!crl_der_next(&o, &tag, &c, &n, &out->tbs, &out->tbs_len) || tag != 0x30)
        return 0;
    t.p = c;
    t.left = n;
    if (!crl_der_next(&o, &tag, &c, &n, &out->alg, &out->alg_len) || tag != 0x30 ||
        !crl_der_next(&o, &tag, &c, &n, NULL, NULL) || tag != 0x03 || n < 1 || c[0] != 0 ||
        o.left != 0)
        return 0;
    out->sig = c + 1;
    out->sig_len = n - 1;
    if (t.left > 0 && t.p[0] == 0x02) {
        if (!crl_der_next(&t, &tag, &c, &n, NULL, NULL) || n != 1)
            return 0;
        out->version_present = 1;
        out->version = c[0];
    }
    if (!crl_der_next(&t, &tag, &c, &n, &out->tbs_alg, &out->tbs_alg_len) || tag != 0x30 ||
        !crl_der_next(&t, &tag, &c, &n, &out->issuer, &out->issuer_len) || tag != 0x30)
        return 0;
    return parse_tbs_tail(&t, out);
}
