/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store codec: key layouts and the compact binary encoding of records.
 *
 * Every record starts with a type tag and a format version, then fixed-width big-endian integers,
 * strings as (u16 length, bytes) and blobs as (u32 length, bytes). Decoders check every length
 * against the bytes left and against the field's own bound, and refuse trailing bytes: a corrupt
 * record is an error, never an overread.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define TAG_CERT    'C'
#define TAG_CA      'A'
#define TAG_REVOKED 'R'
#define TAG_AUDIT   'U'
#define FORMAT_V1   1

void store_put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

void store_put_u64(unsigned char *p, uint64_t v)
{
    store_put_u32(p, (uint32_t)(v >> 32));
    store_put_u32(p + 4, (uint32_t)v);
}

uint32_t store_get_u32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

uint64_t store_get_u64(const unsigned char *p)
{
    return ((uint64_t)store_get_u32(p) << 32) | store_get_u32(p + 4);
}

int store_serial_ok(const unsigned char *serial, size_t len)
{
    return serial != NULL && len >= 1 && len <= STORE_SERIAL_MAX;
}

int store_str_ok(const char *s, size_t cap)
{
    return s != NULL && memchr(s, '\0', cap) != NULL;
}

/*
 * The cert/revoked/ocsp key: ca id, then the serial left-padded with zero octets to 20 bytes, so
 * that a cursor walks one CA's serials in numeric order (the serial is read as an unsigned
 * big-endian number; "00 80" and "80" are the same serial and the same key).
 */
void store_cert_key(unsigned char out[STORE_CERT_KEY_LEN], uint32_t ca_id,
                    const unsigned char *serial, size_t serial_len)
{
    memset(out, 0, STORE_CERT_KEY_LEN);
    store_put_u32(out, ca_id);
    memcpy(out + 4 + STORE_SERIAL_MAX - serial_len, serial, serial_len);
}

/*
 * The expiry key: ca id, not-after with its sign bit flipped (so that signed times sort as
 * unsigned big-endian bytes), then the padded serial.
 */
void store_expiry_key(unsigned char out[STORE_EXPIRY_KEY_LEN], uint32_t ca_id, int64_t not_after,
                      const unsigned char *serial, size_t serial_len)
{
    memset(out, 0, STORE_EXPIRY_KEY_LEN);
    store_put_u32(out, ca_id);
    store_put_u64(out + 4, (uint64_t)not_after ^ 0x8000000000000000ull);
    memcpy(out + 12 + STORE_SERIAL_MAX - serial_len, serial, serial_len);
}

/* ---- writer ---- */

void store_wbuf_free(struct store_wbuf *w)
{
    free(w->p);
    memset(w, 0, sizeof(*w));
}

/* Makes room for n more bytes; on failure marks w and returns NULL. */
static unsigned char *w_room(struct store_wbuf *w, size_t n)
{
    unsigned char *np = NULL;
    size_t ncap = 0;

    if (w->err)
        return NULL;
    if (w->cap - w->len < n) {
        ncap = w->cap ? w->cap : 256;
        while (ncap - w->len < n)
            ncap *= 2;
        np = realloc(w->p, ncap);
        if (np == NULL) {
            w->err = 1;
            return NULL;
        }
        w->p = np;
        w->cap = ncap;
    }
    w->len += n;
    return w->p + w->len - n;
}

static void w_bytes(struct store_wbuf *w, const void *p, size_t n)
{
    unsigned char *d = w_room(w, n);
    if (d != NULL && n > 0)
        memcpy(d, p, n);
}

static void w_u8(struct store_wbuf *w, unsigned v)
{
    unsigned char b = (unsigned char)v;
    w_bytes(w, &b, 1);
}

static void w_u32(struct store_wbuf *w, uint32_t v)
{
    unsigned char *d = w_room(w, 4);
    if (d != NULL)
        store_put_u32(d, v);
}

static void w_u64(struct store_wbuf *w, uint64_t v)
{
    unsigned char *d = w_room(w, 8);
    if (d != NULL)
        store_put_u64(d, v);
}

/* Strings are bounded by their callers (store_str_ok and field caps) well below 65536. */
static void w_str(struct store_wbuf *w, const char *s)
{
    size_t n = strlen(s);
    unsigned char *d = w_room(w, 2);
    if (d != NULL) {
        d[0] = (unsigned char)(n >> 8);
        d[1] = (unsigned char)n;
    }
    w_bytes(w, s, n);
}

static void w_blob(struct store_wbuf *w, const unsigned char *p, size_t n)
{
    w_u32(w, (uint32_t)n);
    w_bytes(w, p, n);
}

/* ---- reader ---- */

static const unsigned char *r_take(struct store_rbuf *r, size_t n)
{
    const unsigned char *p = r->p;
    if (r->err || r->left < n) {
        r->err = 1;
        return NULL;
    }
    r->p += n;
    r->left -= n;
    return p;
}

static unsigned r_u8(struct store_rbuf *r)
{
    const unsigned char *p = r_take(r, 1);
    return p ? p[0] : 0;
}

static uint32_t r_u32(struct store_rbuf *r)
{
    const unsigned char *p = r_take(r, 4);
    return p ? store_get_u32(p) : 0;
}

static uint64_t r_u64(struct store_rbuf *r)
{
    const unsigned char *p = r_take(r, 8);
    return p ? store_get_u64(p) : 0;
}

/* Reads a string of at most cap-1 bytes into out (cap bytes) and NUL-terminates it. */
static void r_str(struct store_rbuf *r, char *out, size_t cap)
{
    const unsigned char *lp = r_take(r, 2);
    size_t n = lp ? ((size_t)lp[0] << 8 | lp[1]) : 0;
    const unsigned char *p = NULL;

    out[0] = '\0';
    if (n >= cap || memchr(r->p, '\0', n <= r->left ? n : r->left) != NULL) {
        r->err = 1;
        return;
    }
    p = r_take(r, n);
    if (p == NULL)
        return;
    memcpy(out, p, n);
    out[n] = '\0';
}

/* Reads a blob of at most max bytes into a fresh allocation (NULL when empty). */
static unsigned char *r_blob(struct store_rbuf *r, size_t max, size_t *out_len)
{
    size_t n = r_u32(r);
    const unsigned char *p = NULL;
    unsigned char *copy = NULL;

    *out_len = 0;
    if (n > max) {
        r->err = 1;
        return NULL;
    }
    p = r_take(r, n);
    if (p == NULL || n == 0)
        return NULL;
    copy = malloc(n);
    if (copy == NULL) {
        r->err = 2;
        return NULL;
    }
    memcpy(copy, p, n);
    *out_len = n;
    return copy;
}

/* Checks the tag and format version at the start of a record. */
static int r_header(struct store_rbuf *r, int tag)
{
    unsigned t = r_u8(r);
    unsigned v = r_u8(r);
    return !r->err && t == (unsigned)tag && v == FORMAT_V1;
}

/* ---- records ---- */

int store_cert_encode(const struct store_cert *c, struct store_wbuf *w)
{
    w_u8(w, TAG_CERT);
    w_u8(w, FORMAT_V1);
    w_u32(w, c->ca_id);
    w_u8(w, (unsigned)c->serial_len);
    w_bytes(w, c->serial, c->serial_len);
    w_u8(w, (unsigned)c->state);
    w_u64(w, (uint64_t)c->not_after);
    w_u64(w, (uint64_t)c->created);
    w_str(w, c->profile);
    w_str(w, c->requester);
    w_blob(w, c->der, c->der_len);
    w_u64(w, (uint64_t)c->revoked_at);
    w_u32(w, (uint32_t)c->reason);
    w_u64(w, (uint64_t)c->invalidity_date);
    return !w->err;
}

/*
 * Decodes a cert record. SIGNET_OK with *out owned by the caller (store_cert_free), or
 * SIGNET_E_INVALID naming the record as corrupt, or SIGNET_E_NOMEM.
 */
enum signet_err store_cert_decode(const void *data, size_t len, struct store_cert **out,
                                  char *detail)
{
    struct store_rbuf r = {data, len, 0};
    struct store_cert *c = calloc(1, sizeof(*c));
    const unsigned char *sp = NULL;
    enum signet_err err = SIGNET_E_INVALID;

    *out = NULL;
    if (c == NULL)
        return SIGNET_E_NOMEM;
    if (!r_header(&r, TAG_CERT))
        goto out;
    c->ca_id = r_u32(&r);
    c->serial_len = r_u8(&r);
    if (c->serial_len < 1 || c->serial_len > STORE_SERIAL_MAX ||
        (sp = r_take(&r, c->serial_len)) == NULL)
        goto out;
    memcpy(c->serial, sp, c->serial_len);
    c->state = (enum store_cert_state)r_u8(&r);
    c->not_after = (int64_t)r_u64(&r);
    c->created = (int64_t)r_u64(&r);
    r_str(&r, c->profile, sizeof(c->profile));
    r_str(&r, c->requester, sizeof(c->requester));
    c->der = r_blob(&r, STORE_DER_MAX, &c->der_len);
    c->revoked_at = (int64_t)r_u64(&r);
    c->reason = (int)(int32_t)r_u32(&r);
    c->invalidity_date = (int64_t)r_u64(&r);
    if (r.err == 2) {
        err = SIGNET_E_NOMEM;
        goto out;
    }
    if (r.err || r.left != 0 || c->state < STORE_CERT_PENDING || c->state > STORE_CERT_REVOKED ||
        c->reason < -1 || c->reason > 10)
        goto out;
    *out = c;
    c = NULL;
    err = SIGNET_OK;
out:
    if (err == SIGNET_E_INVALID)
        sg_detail(detail,
                  "a certificate record in the store is corrupt (%zu bytes): restore the "
                  "store from a backup",
                  len);
    store_cert_free(c);
    return err;
}

int store_ca_encode(const struct store_ca *ca, struct store_wbuf *w)
{
    w_u8(w, TAG_CA);
    w_u8(w, FORMAT_V1);
    w_u32(w, ca->id);
    w_str(w, ca->name);
    w_str(w, ca->parent);
    w_str(w, ca->key_uri);
    w_u8(w, (unsigned)ca->state);
    w_u64(w, ca->crl_number);
    w_blob(w, ca->cert_der, ca->cert_len);
    return !w->err;
}

/* Decodes a CA record; conventions of store_cert_decode. */
enum signet_err store_ca_decode(const void *data, size_t len, struct store_ca **out, char *detail)
{
    struct store_rbuf r = {data, len, 0};
    struct store_ca *ca = calloc(1, sizeof(*ca));
    enum signet_err err = SIGNET_E_INVALID;

    *out = NULL;
    if (ca == NULL)
        return SIGNET_E_NOMEM;
    if (!r_header(&r, TAG_CA))
        goto out;
    ca->id = r_u32(&r);
    r_str(&r, ca->name, sizeof(ca->name));
    r_str(&r, ca->parent, sizeof(ca->parent));
    r_str(&r, ca->key_uri, sizeof(ca->key_uri));
    ca->state = (enum store_ca_state)r_u8(&r);
    ca->crl_number = r_u64(&r);
    ca->cert_der = r_blob(&r, STORE_DER_MAX, &ca->cert_len);
    if (r.err == 2) {
        err = SIGNET_E_NOMEM;
        goto out;
    }
    if (r.err || r.left != 0 || ca->name[0] == '\0' ||
        (ca->state != STORE_CA_ACTIVE && ca->state != STORE_CA_RETIRED))
        goto out;
    *out = ca;
    ca = NULL;
    err = SIGNET_OK;
out:
    if (err == SIGNET_E_INVALID)
        sg_detail(detail,
                  "a CA record in the store is corrupt (%zu bytes): restore the store "
                  "from a backup",
                  len);
    store_ca_free(ca);
    return err;
}

/* The revoked database's value: what a CRL entry needs, without the certificate. */
int store_revoked_encode(const struct store_cert *c, struct store_wbuf *w)
{
    w_u8(w, TAG_REVOKED);
    w_u8(w, FORMAT_V1);
    w_u64(w, (uint64_t)c->revoked_at);
    w_u32(w, (uint32_t)c->reason);
    w_u64(w, (uint64_t)c->invalidity_date);
    return !w->err;
}

int store_audit_encode(uint64_t seq, int64_t t, const char *actor, const char *action,
                       const char *object, const unsigned char prev[STORE_HASH_LEN],
                       struct store_wbuf *w)
{
    w_u8(w, TAG_AUDIT);
    w_u8(w, FORMAT_V1);
    w_u64(w, seq);
    w_u64(w, (uint64_t)t);
    w_str(w, actor);
    w_str(w, action);
    w_str(w, object);
    w_bytes(w, prev, STORE_HASH_LEN);
    return !w->err;
}

/*
 * Decodes an audit entry. The strings are copied into one scratch allocation the caller frees
 * (out->scratch). SIGNET_E_INVALID when the record is corrupt.
 */
enum signet_err store_audit_decode(const void *data, size_t len, struct store_audit_rec *out,
                                   char *detail)
{
    struct store_rbuf r = {data, len, 0};
    const size_t caps[3] = {STORE_AUDIT_WORD_MAX, STORE_AUDIT_WORD_MAX, STORE_AUDIT_TEXT_MAX};
    char *s[3] = {NULL, NULL, NULL};
    const unsigned char *h = NULL;
    char *scratch = NULL;
    size_t off = 0;
    enum signet_err err = SIGNET_E_INVALID;

    memset(out, 0, sizeof(*out));
    scratch = malloc(2 * STORE_AUDIT_WORD_MAX + STORE_AUDIT_TEXT_MAX);
    if (scratch == NULL)
        return SIGNET_E_NOMEM;
    if (!r_header(&r, TAG_AUDIT))
        goto out;
    out->e.seq = r_u64(&r);
    out->e.time = (int64_t)r_u64(&r);
    for (int i = 0; i < 3; i++) {
        s[i] = scratch + off;
        r_str(&r, s[i], caps[i]);
        off += caps[i];
    }
    h = r_take(&r, STORE_HASH_LEN);
    if (r.err || r.left != 0 || h == NULL)
        goto out;
    memcpy(out->e.prev_hash, h, STORE_HASH_LEN);
    out->e.actor = s[0];
    out->e.action = s[1];
    out->e.object = s[2];
    out->scratch = scratch;
    scratch = NULL;
    err = SIGNET_OK;
out:
    if (err != SIGNET_OK) {
        memset(out, 0, sizeof(*out));
        sg_detail(detail, "an audit entry in the store is corrupt (%zu bytes)", len);
    }
    free(scratch);
    return err;
}
