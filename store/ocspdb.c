/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store ocsp: the pre-signed OCSP responses of the `ocsp` database, keyed like `cert` by
 * (ca id, serial left-padded). A record is a type tag, a format version, thisUpdate and
 * nextUpdate (u64 big-endian, signed), the status (one octet), then for each CertID hash
 * (SHA-1, SHA-256) a u32 length and that many bytes of OCSPResponse DER.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define TAG_OCSP  'O'
#define FORMAT_V1 1
#define HDR_LEN   (1 + 1 + 8 + 8 + 1)

void store_ocsp_free(struct store_ocsp *r)
{
    if (r == NULL)
        return;
    for (int i = 0; i < STORE_OCSP_NHASH; i++)
        free(r->der[i]);
    free(r);
}

/*
 * Parses a record in place: times, status and, per hash, where its DER starts and how long it
 * is. Every length is checked against the bytes left and STORE_OCSP_DER_MAX; trailing bytes are
 * refused. SIGNET_OK or SIGNET_E_INVALID.
 */
static enum signet_err ocsp_parse(const unsigned char *p, size_t len, struct store_ocsp *r,
                                  const unsigned char *der[STORE_OCSP_NHASH], char *detail)
{
    size_t off = HDR_LEN;

    if (len < HDR_LEN || p[0] != TAG_OCSP || p[1] != FORMAT_V1 || p[18] > 2)
        goto bad;
    r->this_update = (int64_t)store_get_u64(p + 2);
    r->next_update = (int64_t)store_get_u64(p + 10);
    r->status = p[18];
    for (int i = 0; i < STORE_OCSP_NHASH; i++) {
        size_t n;
        if (len - off < 4)
            goto bad;
        n = store_get_u32(p + off);
        off += 4;
        if (n > STORE_OCSP_DER_MAX || n > len - off)
            goto bad;
        der[i] = p + off;
        r->der_len[i] = n;
        off += n;
    }
    if (off != len)
        goto bad;
    return SIGNET_OK;
bad:
    sg_detail(detail, "ocsp record: bad encoding; the store may be damaged");
    return SIGNET_E_INVALID;
}

enum signet_err store_txn_ocsp_put(struct store_txn *txn, uint32_t ca_id,
                                   const unsigned char *serial, size_t serial_len,
                                   const struct store_ocsp *r, char *detail)
{
    unsigned char key[STORE_CERT_KEY_LEN];
    unsigned char *rec, *p;
    size_t len = HDR_LEN;
    MDB_val k = {sizeof(key), key}, v;
    int rc;

    if (!store_serial_ok(serial, serial_len) || r == NULL || r->status < 0 || r->status > 2) {
        sg_detail(detail, "ocsp record: serial of 1..%d octets and a status 0..2 needed",
                  STORE_SERIAL_MAX);
        return SIGNET_E_USAGE;
    }
    for (int i = 0; i < STORE_OCSP_NHASH; i++) {
        if (r->der_len[i] > STORE_OCSP_DER_MAX || (r->der_len[i] > 0 && r->der[i] == NULL)) {
            sg_detail(detail, "ocsp record: a response is limited to %u bytes", STORE_OCSP_DER_MAX);
            return SIGNET_E_USAGE;
        }
        len += 4 + r->der_len[i];
    }
    if ((rec = malloc(len)) == NULL) {
        sg_detail(detail, "ocsp record: out of memory");
        return SIGNET_E_NOMEM;
    }
    rec[0] = TAG_OCSP;
    rec[1] = FORMAT_V1;
    store_put_u64(rec + 2, (uint64_t)r->this_update);
    store_put_u64(rec + 10, (uint64_t)r->next_update);
    rec[18] = (unsigned char)r->status;
    p = rec + HDR_LEN;
    for (int i = 0; i < STORE_OCSP_NHASH; i++) {
        store_put_u32(p, (uint32_t)r->der_len[i]);
        if (r->der_len[i] > 0)
            memcpy(p + 4, r->der[i], r->der_len[i]);
        p += 4 + r->der_len[i];
    }
    store_cert_key(key, ca_id, serial, serial_len);
    v.mv_size = len;
    v.mv_data = rec;
    rc = mdb_put(txn->txn, txn->st->dbi[STORE_DB_OCSP], &k, &v, 0);
    free(rec);
    return store_lmdb_err(txn->st, rc, "writing an OCSP response", detail);
}

struct put_arg {
    uint32_t ca_id;
    const unsigned char *serial;
    size_t serial_len;
    const struct store_ocsp *r;
};

static enum signet_err put_fn(struct store_txn *txn, void *arg, char *detail)
{
    struct put_arg *a = arg;

    return store_txn_ocsp_put(txn, a->ca_id, a->serial, a->serial_len, a->r, detail);
}

enum signet_err store_ocsp_put(struct store *st, uint32_t ca_id, const unsigned char *serial,
                               size_t serial_len, const struct store_ocsp *r, char *detail)
{
    struct put_arg a = {ca_id, serial, serial_len, r};

    return store_write(st, put_fn, &a, detail);
}

/* Looks up the raw record in txn. SIGNET_E_NOTFOUND (no detail) when absent. */
static enum signet_err ocsp_raw(struct store *st, MDB_txn *txn, uint32_t ca_id,
                                const unsigned char *serial, size_t serial_len, MDB_val *v,
                                char *detail)
{
    unsigned char key[STORE_CERT_KEY_LEN];
    MDB_val k = {sizeof(key), key};
    int rc;

    if (!store_serial_ok(serial, serial_len)) {
        sg_detail(detail, "ocsp record: serial of 1..%d octets needed", STORE_SERIAL_MAX);
        return SIGNET_E_USAGE;
    }
    store_cert_key(key, ca_id, serial, serial_len);
    rc = mdb_get(txn, st->dbi[STORE_DB_OCSP], &k, v);
    if (rc == MDB_NOTFOUND)
        return SIGNET_E_NOTFOUND;
    return store_lmdb_err(st, rc, "reading an OCSP response", detail);
}

enum signet_err store_ocsp_get(struct store *st, uint32_t ca_id, const unsigned char *serial,
                               size_t serial_len, struct store_ocsp **out, char *detail)
{
    MDB_txn *txn = NULL;
    MDB_val v;
    const unsigned char *der[STORE_OCSP_NHASH] = {NULL};
    struct store_ocsp *r = NULL;
    enum signet_err err;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);

    *out = NULL;
    if (rc != 0)
        return store_lmdb_err(st, rc, "starting a read", detail);
    if ((err = ocsp_raw(st, txn, ca_id, serial, serial_len, &v, detail)) != SIGNET_OK)
        goto out;
    err = SIGNET_E_NOMEM;
    if ((r = calloc(1, sizeof(*r))) == NULL)
        goto out;
    if ((err = ocsp_parse(v.mv_data, v.mv_size, r, der, detail)) != SIGNET_OK)
        goto out;
    err = SIGNET_E_NOMEM;
    for (int i = 0; i < STORE_OCSP_NHASH; i++)
        if (r->der_len[i] > 0 && ((r->der[i] = malloc(r->der_len[i])) == NULL ||
                                  !memcpy(r->der[i], der[i], r->der_len[i])))
            goto out;
    *out = r;
    r = NULL;
    err = SIGNET_OK;
out:
    if (err == SIGNET_E_NOMEM)
        sg_detail(detail, "ocsp record: out of memory");
    store_ocsp_free(r);
    mdb_txn_abort(txn);
    return err;
}

enum signet_err store_ocsp_read(struct store *st, uint32_t ca_id, const unsigned char *serial,
                                size_t serial_len, enum store_ocsp_hash hash, unsigned char *buf,
                                size_t cap, size_t *out_len, int64_t *this_update,
                                int64_t *next_update, int *status, char *detail)
{
    MDB_txn *txn = NULL;
    MDB_val v;
    const unsigned char *der[STORE_OCSP_NHASH] = {NULL};
    struct store_ocsp r = {0};
    enum signet_err err;
    int rc;

    *out_len = 0;
    if ((unsigned)hash >= STORE_OCSP_NHASH) {
        sg_detail(detail, "ocsp record: no such CertID hash");
        return SIGNET_E_USAGE;
    }
    if ((rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)) != 0)
        return store_lmdb_err(st, rc, "starting a read", detail);
    if ((err = ocsp_raw(st, txn, ca_id, serial, serial_len, &v, detail)) != SIGNET_OK ||
        (err = ocsp_parse(v.mv_data, v.mv_size, &r, der, detail)) != SIGNET_OK)
        goto out;
    *out_len = r.der_len[hash];
    *this_update = r.this_update;
    *next_update = r.next_update;
    *status = r.status;
    if (buf == NULL)
        goto out; /* times and status only */
    if (r.der_len[hash] == 0) {
        err = SIGNET_E_NOTFOUND;
        goto out;
    }
    if (r.der_len[hash] > cap) {
        sg_detail(detail, "ocsp record: the response needs %zu bytes", r.der_len[hash]);
        err = SIGNET_E_USAGE;
        goto out;
    }
    memcpy(buf, der[hash], r.der_len[hash]);
out:
    mdb_txn_abort(txn);
    return err;
}

enum signet_err store_ocsp_iter(struct store *st, uint32_t ca_id, store_ocsp_cb cb, void *arg,
                                char *detail)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    unsigned char start[STORE_CERT_KEY_LEN] = {0};
    MDB_val k = {sizeof(start), start}, v;
    enum signet_err err = SIGNET_OK;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);

    if (rc == 0)
        rc = mdb_cursor_open(txn, st->dbi[STORE_DB_OCSP], &cur);
    if (rc != 0) {
        err = store_lmdb_err(st, rc, "reading OCSP responses", detail);
        goto out;
    }
    store_put_u32(start, ca_id);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const unsigned char *der[STORE_OCSP_NHASH];
        const unsigned char *key = k.mv_data, *serial;
        struct store_ocsp r = {0};
        size_t slen = STORE_SERIAL_MAX;
        if (k.mv_size != STORE_CERT_KEY_LEN || store_get_u32(key) != ca_id)
            break;
        if ((err = ocsp_parse(v.mv_data, v.mv_size, &r, der, detail)) != SIGNET_OK)
            goto out;
        serial = key + 4;
        while (slen > 1 && serial[0] == 0) {
            serial++;
            slen--;
        }
        if (!cb(serial, slen, &r, arg))
            break;
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        err = store_lmdb_err(st, rc, "reading OCSP responses", detail);
out:
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return err;
}
