/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store queries: listing CAs, iterating a CA's certificates in serial order, meta values, and
 * the one-call convenience writes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* See store.h. */
enum signet_err store_ca_list(struct store *st, struct store_ca **out, size_t *out_n, char *detail)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    struct store_ca *list = NULL, *grown = NULL, *one = NULL;
    size_t n = 0, cap = 0;
    enum signet_err err = SIGNET_OK;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);

    *out = NULL;
    *out_n = 0;
    if (rc == 0)
        rc = mdb_cursor_open(txn, st->dbi[STORE_DB_CA], &cur);
    for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if ((err = store_ca_decode(v.mv_data, v.mv_size, &one, detail)) != SIGNET_OK)
            goto out;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            grown = realloc(list, cap * sizeof(*list));
            if (grown == NULL) {
                err = SIGNET_E_NOMEM;
                goto out;
            }
            list = grown;
        }
        list[n++] = *one; /* the record's cert_der moves into the list */
        free(one);
        one = NULL;
    }
    if (rc != MDB_NOTFOUND) {
        err = store_lmdb_err(st, rc, "listing CAs", detail);
        goto out;
    }
    *out = list;
    *out_n = n;
    list = NULL;
out:
    store_ca_free(one);
    store_ca_list_free(list, n);
    if (cur != NULL)
        mdb_cursor_close(cur);
    if (txn != NULL)
        mdb_txn_abort(txn);
    return err;
}

/*
 * Decodes the record at a cursor position and hands it to cb when its state matches. For the
 * revoked and expiry indexes the certificate record is looked up by key k. Returns SIGNET_OK and
 * *out_stop = 1 when cb asked to stop.
 */
static enum signet_err iter_one(struct store *st, MDB_txn *txn, int via_index, MDB_val *k,
                                MDB_val *v, enum store_cert_state state, store_cert_cb cb,
                                void *arg, int *out_stop, char *detail)
{
    struct store_cert *c = NULL;
    MDB_val cv = *v;
    enum signet_err err = SIGNET_OK;
    int rc = via_index ? mdb_get(txn, st->dbi[STORE_DB_CERT], k, &cv) : 0;

    if (rc != 0)
        return store_lmdb_err(st, rc, "reading an indexed certificate's record", detail);
    if ((err = store_cert_decode(cv.mv_data, cv.mv_size, &c, detail)) != SIGNET_OK)
        return err;
    if (state == 0 || c->state == state)
        *out_stop = !cb(c, arg);
    store_cert_free(c);
    return SIGNET_OK;
}

/* See store.h. Revoked certificates are found through the revoked index alone. */
enum signet_err store_cert_iter(struct store *st, uint32_t ca_id, enum store_cert_state state,
                                store_cert_cb cb, void *arg, char *detail)
{
    unsigned char start[STORE_CERT_KEY_LEN];
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k = {sizeof(start), start}, v;
    enum signet_err err = SIGNET_OK;
    int via_revoked = state == STORE_CERT_REVOKED, stop = 0, rc = 0;

    if ((unsigned)state > STORE_CERT_REVOKED || cb == NULL) {
        sg_detail(detail, "certificate iteration: unknown state %d or no callback", (int)state);
        return SIGNET_E_USAGE;
    }
    memset(start, 0, sizeof(start));
    store_put_u32(start, ca_id);
    rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
    if (rc == 0)
        rc = mdb_cursor_open(txn, st->dbi[via_revoked ? STORE_DB_REVOKED : STORE_DB_CERT], &cur);
    for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && !stop;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != STORE_CERT_KEY_LEN || store_get_u32(k.mv_data) != ca_id)
            break;
        err = iter_one(st, txn, via_revoked, &k, &v, state, cb, arg, &stop, detail);
        if (err != SIGNET_OK)
            goto out;
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        err = store_lmdb_err(st, rc, "iterating certificates", detail);
out:
    if (cur != NULL)
        mdb_cursor_close(cur);
    if (txn != NULL)
        mdb_txn_abort(txn);
    return err;
}

/* See store.h. Each expiry key names its cert record by (ca id, padded serial). */
enum signet_err store_expiry_iter(struct store *st, uint32_t ca_id, int64_t until, store_cert_cb cb,
                                  void *arg, char *detail)
{
    unsigned char start[STORE_EXPIRY_KEY_LEN], ck[STORE_CERT_KEY_LEN];
    unsigned char none[1] = {0}, last[8];
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k = {sizeof(start), start}, v, cert = {sizeof(ck), ck};
    enum signet_err err = SIGNET_OK;
    int stop = 0, rc = 0;

    if (cb == NULL) {
        sg_detail(detail, "expiry iteration without a callback");
        return SIGNET_E_USAGE;
    }
    store_expiry_key(start, ca_id, INT64_MIN, none, 1);
    store_put_u64(last, (uint64_t)until ^ 0x8000000000000000ull);
    rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
    if (rc == 0)
        rc = mdb_cursor_open(txn, st->dbi[STORE_DB_EXPIRY], &cur);
    for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && !stop;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != STORE_EXPIRY_KEY_LEN || store_get_u32(k.mv_data) != ca_id ||
            memcmp((unsigned char *)k.mv_data + 4, last, 8) > 0)
            break;
        memcpy(ck, k.mv_data, 4);
        memcpy(ck + 4, (unsigned char *)k.mv_data + 12, STORE_SERIAL_MAX);
        err = iter_one(st, txn, 1, &cert, &v, 0, cb, arg, &stop, detail);
        if (err != SIGNET_OK)
            goto out;
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        err = store_lmdb_err(st, rc, "iterating the expiry index", detail);
out:
    if (cur != NULL)
        mdb_cursor_close(cur);
    if (txn != NULL)
        mdb_txn_abort(txn);
    return err;
}

/* 1 when name is a meta name a caller may use (bounded, not empty). */
static int meta_name_ok(const char *name)
{
    return name != NULL && name[0] != '\0' && strlen(name) < STORE_META_NAME_MAX;
}

/* Reads a meta value in txn into buf; conventions of store_meta_get. */
static enum signet_err meta_get_in(struct store *st, MDB_txn *txn, const char *name, void *buf,
                                   size_t cap, size_t *out_len, char *detail)
{
    MDB_val k, v;
    int rc = 0;

    if (out_len != NULL)
        *out_len = 0;
    if (!meta_name_ok(name)) {
        sg_detail(detail, "meta name missing or longer than %d", STORE_META_NAME_MAX - 1);
        return SIGNET_E_USAGE;
    }
    k.mv_size = strlen(name);
    k.mv_data = (void *)name;
    rc = mdb_get(txn, st->dbi[STORE_DB_META], &k, &v);
    if (rc == MDB_NOTFOUND) {
        sg_detail(detail, "no meta value named %s", name);
        return SIGNET_E_NOTFOUND;
    }
    if (rc != 0)
        return store_lmdb_err(st, rc, "reading a meta value", detail);
    if (out_len != NULL)
        *out_len = v.mv_size;
    if (v.mv_size > cap) {
        sg_detail(detail, "meta value %s has %zu bytes, more than the %zu given", name, v.mv_size,
                  cap);
        return SIGNET_E_USAGE;
    }
    if (v.mv_size > 0)
        memcpy(buf, v.mv_data, v.mv_size);
    return SIGNET_OK;
}

/* See store.h. */
enum signet_err store_meta_get(struct store *st, const char *name, void *buf, size_t cap,
                               size_t *out_len, char *detail)
{
    MDB_txn *txn = NULL;
    enum signet_err err = SIGNET_OK;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);

    if (rc != 0)
        return store_lmdb_err(st, rc, "starting a read", detail);
    err = meta_get_in(st, txn, name, buf, cap, out_len, detail);
    mdb_txn_abort(txn);
    return err;
}

enum signet_err store_txn_meta_get(struct store_txn *txn, const char *name, void *buf, size_t cap,
                                   size_t *out_len, char *detail)
{
    return meta_get_in(txn->st, txn->txn, name, buf, cap, out_len, detail);
}

/* See store.h. The store's own names (prefix "store.") are refused. */
enum signet_err store_txn_meta_put(struct store_txn *txn, const char *name, const void *val,
                                   size_t len, char *detail)
{
    MDB_val k, v;

    if (!meta_name_ok(name) || strncmp(name, STORE_META_PREFIX, strlen(STORE_META_PREFIX)) == 0) {
        sg_detail(detail, "meta name missing, too long or reserved (\"%s\" names are the store's)",
                  STORE_META_PREFIX);
        return SIGNET_E_USAGE;
    }
    if (len > STORE_META_VALUE_MAX || (len > 0 && val == NULL)) {
        sg_detail(detail, "meta value %s of %zu bytes (at most %u)", name, len,
                  STORE_META_VALUE_MAX);
        return SIGNET_E_USAGE;
    }
    k.mv_size = strlen(name);
    k.mv_data = (void *)name;
    v.mv_size = len;
    v.mv_data = (void *)val;
    return store_lmdb_err(txn->st, mdb_put(txn->txn, txn->st->dbi[STORE_DB_META], &k, &v, 0),
                          "writing a meta value", detail);
}

/* ---- convenience writes ---- */

struct cert_put_arg {
    const struct store_cert *c;
    int must_be_new;
};

static enum signet_err ca_put_fn(struct store_txn *txn, void *arg, char *detail)
{
    return store_txn_ca_put(txn, arg, detail);
}

static enum signet_err cert_put_fn(struct store_txn *txn, void *arg, char *detail)
{
    struct cert_put_arg *a = arg;
    return store_txn_cert_put(txn, a->c, a->must_be_new, detail);
}

enum signet_err store_ca_put(struct store *st, struct store_ca *ca, char *detail)
{
    return store_write(st, ca_put_fn, ca, detail);
}

enum signet_err store_cert_put(struct store *st, const struct store_cert *c, int must_be_new,
                               char *detail)
{
    struct cert_put_arg a = {c, must_be_new};
    return store_write(st, cert_put_fn, &a, detail);
}
