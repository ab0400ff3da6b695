/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store revocation: the revoked index read by one cursor pass (CRL building), the revoked
 * value's second format (which adds the certificate's not-after, so that a CRL pass never reads
 * the cert record), the crl database (ca id, stream, number -> CRL DER) and the CRL numbers,
 * bumped and persisted inside a write transaction.
 *
 * Revoked value, format 1 (codec.c): 'R' 1 revoked_at:u64 reason:u32 invalidity:u64.
 * Format 2 (here):                    'R' 2 revoked_at:u64 reason:u32 invalidity:u64 not_after:u64.
 * A format 1 value still decodes: its not-after is then read from the cert record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#define TAG_REVOKED    'R'
#define REVOKED_V1     1
#define REVOKED_V2     2
#define REVOKED_V1_LEN (2 + 8 + 4 + 8)
#define REVOKED_V2_LEN (REVOKED_V1_LEN + 8)
#define CRL_KEY_LEN    (4 + 4 + 8)
#define DROP_EVERY     16384 /* entries between two releases of the map's pages */

/* The crl key: ca id, stream, number, all big-endian, so a cursor walks a stream in order. */
static void crl_key(unsigned char out[CRL_KEY_LEN], uint32_t ca_id, uint32_t stream, uint64_t n)
{
    store_put_u32(out, ca_id);
    store_put_u32(out + 4, stream);
    store_put_u64(out + 8, n);
}

/*
 * Drops the process's mapping of [p, p+len), pages of the store's read-only shared map (they stay
 * in the page cache; a later read faults them back in). Nothing is lost: this keeps a pass over a
 * large database from growing the resident set by the database's size. The caller vouches that
 * the range is in the map (values of a read-only transaction are).
 */
static void drop_pages(const void *p, size_t len)
{
    uintptr_t a = (uintptr_t)p, e = a + len, pg = (uintptr_t)sysconf(_SC_PAGESIZE);

    if (len == 0)
        return;
    a &= ~(pg - 1);
    e = (e + pg - 1) & ~(pg - 1);
    madvise((void *)a, e - a, MADV_DONTNEED);
}

/*
 * 1 when [p, p+len) lies in a read-only shared mapping of a data.mdb (/proc/self/maps): only
 * there is dropping pages harmless (a private or writable mapping would lose its changes).
 */
static int in_map(const void *p, size_t len, uintptr_t *out_lo, uintptr_t *out_hi)
{
    char line[4608], perms[8];
    unsigned long lo, hi;
    uintptr_t a = (uintptr_t)p;
    int ok = 0;
    FILE *f = fopen("/proc/self/maps", "r");

    while (f != NULL && !ok && fgets(line, sizeof(line), f) != NULL) {
        size_t n = strcspn(line, "\n");
        line[n] = '\0';
        if (n < 9 || strcmp(line + n - 9, "/data.mdb") != 0 ||
            sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 || strcmp(perms, "r--s") != 0)
            continue;
        ok = a >= lo && a + len <= hi;
        *out_lo = lo;
        *out_hi = hi;
    }
    if (f != NULL)
        fclose(f);
    return ok;
}

void store_view_release(struct store *st, const void *p, size_t len)
{
    uintptr_t lo, hi;

    (void)st;
    if (p != NULL && in_map(p, len, &lo, &hi))
        drop_pages(p, len);
}

/* Strips the key's zero padding: the serial's minimal unsigned big-endian octets. */
static void serial_from_key(const unsigned char *key, struct store_revoked *r)
{
    const unsigned char *s = key + 4;
    size_t n = STORE_SERIAL_MAX;

    while (n > 1 && *s == 0)
        s++, n--;
    memcpy(r->serial, s, n);
    r->serial_len = n;
}

/* Decodes a revoked value of format 1 or 2 into r. 1 = ok. */
static int revoked_decode(const unsigned char *p, size_t len, struct store_revoked *r)
{
    if (len < 2 || p[0] != TAG_REVOKED)
        return 0;
    if (!((p[1] == REVOKED_V1 && len == REVOKED_V1_LEN) ||
          (p[1] == REVOKED_V2 && len == REVOKED_V2_LEN)))
        return 0;
    r->revoked_at = (int64_t)store_get_u64(p + 2);
    r->reason = (int)(int32_t)store_get_u32(p + 10);
    r->invalidity_date = (int64_t)store_get_u64(p + 14);
    r->not_after = p[1] == REVOKED_V2 ? (int64_t)store_get_u64(p + 22) : 0;
    return r->reason >= -1 && r->reason <= 10;
}

/* A format 1 value has no not-after: read it from the cert record under the same key. */
static enum signet_err legacy_not_after(struct store *st, MDB_txn *txn, MDB_val *k,
                                        struct store_revoked *r, char *detail)
{
    struct store_cert *c = NULL;
    MDB_val v;
    enum signet_err err;
    int rc = mdb_get(txn, st->dbi[STORE_DB_CERT], k, &v);

    if (rc != 0)
        return store_lmdb_err(st, rc, "reading a revoked certificate's record", detail);
    if ((err = store_cert_decode(v.mv_data, v.mv_size, &c, detail)) != SIGNET_OK)
        return err;
    r->not_after = c->not_after;
    store_cert_free(c);
    return SIGNET_OK;
}

/* See store.h. */
size_t store_revoked_total(struct store *st)
{
    MDB_txn *txn = NULL;
    MDB_stat ms;
    size_t n = 0;

    if (mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn) != 0)
        return 0;
    if (mdb_stat(txn, st->dbi[STORE_DB_REVOKED], &ms) == 0)
        n = ms.ms_entries;
    mdb_txn_abort(txn);
    return n;
}

/* See store.h. One read transaction, one cursor, values decoded in place. */
enum signet_err store_revoked_iter(struct store *st, uint32_t ca_id, store_revoked_cb cb, void *arg,
                                   char *detail)
{
    unsigned char start[STORE_CERT_KEY_LEN];
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k = {sizeof(start), start}, v;
    struct store_revoked r;
    enum signet_err err = SIGNET_OK;
    uintptr_t lo = 0, hi = 0;
    size_t seen = 0;
    int rc, go;

    if (cb == NULL) {
        sg_detail(detail, "revoked iteration without a callback");
        return SIGNET_E_USAGE;
    }
    memset(start, 0, sizeof(start));
    store_put_u32(start, ca_id);
    rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
    if (rc == 0)
        rc = mdb_cursor_open(txn, st->dbi[STORE_DB_REVOKED], &cur);
    for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != STORE_CERT_KEY_LEN || store_get_u32(k.mv_data) != ca_id)
            break;
        memset(&r, 0, sizeof(r));
        if (!revoked_decode(v.mv_data, v.mv_size, &r)) {
            sg_detail(detail,
                      "a revoked record of CA %u is corrupt (%zu bytes): restore the store "
                      "from a backup",
                      ca_id, v.mv_size);
            err = SIGNET_E_INVALID;
            goto out;
        }
        serial_from_key(k.mv_data, &r);
        if (r.not_after == 0 && ((const unsigned char *)v.mv_data)[1] == REVOKED_V1 &&
            (err = legacy_not_after(st, txn, &k, &r, detail)) != SIGNET_OK)
            goto out;
        if ((go = cb(&r, arg)) == 0)
            break;
        /*
         * Pages left behind are not needed again by this pass: every so often (or when the
         * caller asks) the whole map's pages are given back (the kernel maps neighbours on each
         * fault, so dropping only the pages visited would not keep the resident set small).
         */
        if ((go == STORE_ITER_RELEASE || (go == 1 && ++seen % DROP_EVERY == 0)) &&
            (lo != 0 || in_map(v.mv_data, v.mv_size, &lo, &hi)))
            drop_pages((const void *)lo, hi - lo);
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        err = store_lmdb_err(st, rc, "iterating revoked certificates", detail);
out:
    if (cur != NULL)
        mdb_cursor_close(cur);
    if (txn != NULL)
        mdb_txn_abort(txn);
    return err;
}

/* See store.h. */
enum signet_err store_txn_revoked_put(struct store_txn *txn, uint32_t ca_id,
                                      const struct store_revoked *r, char *detail)
{
    unsigned char key[STORE_CERT_KEY_LEN], val[REVOKED_V2_LEN];
    MDB_val k = {sizeof(key), key}, v = {sizeof(val), val};

    if (!store_serial_ok(r->serial, r->serial_len) || r->reason < -1 || r->reason > 10) {
        sg_detail(detail, "revoked record: serial of %zu octets or reason %d out of range",
                  r->serial_len, r->reason);
        return SIGNET_E_USAGE;
    }
    store_cert_key(key, ca_id, r->serial, r->serial_len);
    val[0] = TAG_REVOKED;
    val[1] = REVOKED_V2;
    store_put_u64(val + 2, (uint64_t)r->revoked_at);
    store_put_u32(val + 10, (uint32_t)r->reason);
    store_put_u64(val + 14, (uint64_t)r->invalidity_date);
    store_put_u64(val + 22, (uint64_t)r->not_after);
    return store_lmdb_err(txn->st, mdb_put(txn->txn, txn->st->dbi[STORE_DB_REVOKED], &k, &v, 0),
                          "writing a revoked record", detail);
}

/*
 * Positions cur on the newest record of (ca, stream): the last key below (ca, stream+1, 0).
 * Returns 0 with k/v filled, MDB_NOTFOUND when the stream is empty, or an LMDB code.
 */
static int crl_last(MDB_cursor *cur, uint32_t ca_id, uint32_t stream, MDB_val *k, MDB_val *v)
{
    unsigned char key[CRL_KEY_LEN];
    int rc;

    crl_key(key, ca_id, stream, UINT64_MAX);
    k->mv_size = sizeof(key);
    k->mv_data = key;
    rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
    if (rc == 0 && k->mv_size == CRL_KEY_LEN && memcmp(k->mv_data, key, CRL_KEY_LEN) == 0)
        return 0; /* number UINT64_MAX itself: never written, but be exact */
    rc = rc == MDB_NOTFOUND ? mdb_cursor_get(cur, k, v, MDB_LAST)
                            : (rc == 0 ? mdb_cursor_get(cur, k, v, MDB_PREV) : rc);
    if (rc != 0)
        return rc;
    if (k->mv_size != CRL_KEY_LEN || store_get_u32(k->mv_data) != ca_id ||
        store_get_u32((const unsigned char *)k->mv_data + 4) != stream)
        return MDB_NOTFOUND;
    return 0;
}

/* Reads the newest record of a stream in txn and hands it to cb (borrowed). */
static enum signet_err crl_latest_in(struct store *st, MDB_txn *txn, uint32_t ca_id,
                                     uint32_t stream, store_crl_cb cb, void *arg, char *detail)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, st->dbi[STORE_DB_CRL], &cur);

    if (rc == 0)
        rc = crl_last(cur, ca_id, stream, &k, &v);
    if (rc == 0 && cb != NULL)
        cb(store_get_u64((const unsigned char *)k.mv_data + 8), v.mv_data, v.mv_size, arg);
    if (cur != NULL)
        mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        return SIGNET_E_NOTFOUND;
    return store_lmdb_err(st, rc, "reading the crl database", detail);
}

/* See store.h. */
enum signet_err store_crl_latest(struct store *st, uint32_t ca_id, uint32_t stream, store_crl_cb cb,
                                 void *arg, char *detail)
{
    MDB_txn *txn = NULL;
    enum signet_err err;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);

    if (rc != 0)
        return store_lmdb_err(st, rc, "starting a read", detail);
    err = crl_latest_in(st, txn, ca_id, stream, cb, arg, detail);
    mdb_txn_abort(txn);
    return err;
}

/* See store.h. */
enum signet_err store_txn_crl_latest(struct store_txn *txn, uint32_t ca_id, uint32_t stream,
                                     store_crl_cb cb, void *arg, char *detail)
{
    return crl_latest_in(txn->st, txn->txn, ca_id, stream, cb, arg, detail);
}

/* Deletes the records of (ca, stream) older than number, keeping the newest keep-1 of them. */
static int crl_prune(struct store_txn *txn, uint32_t ca_id, uint32_t stream, uint64_t number,
                     unsigned keep)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    unsigned char key[CRL_KEY_LEN];
    unsigned seen = 0;
    int rc = mdb_cursor_open(txn->txn, txn->st->dbi[STORE_DB_CRL], &cur);

    crl_key(key, ca_id, stream, number);
    k.mv_size = sizeof(key);
    k.mv_data = key;
    if (rc == 0)
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    for (rc = rc == 0 ? mdb_cursor_get(cur, &k, &v, MDB_PREV) : rc; rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_PREV)) {
        if (k.mv_size != CRL_KEY_LEN || store_get_u32(k.mv_data) != ca_id ||
            store_get_u32((const unsigned char *)k.mv_data + 4) != stream)
            break;
        if (++seen >= keep && (rc = mdb_cursor_del(cur, 0)) != 0)
            break;
    }
    if (cur != NULL)
        mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int fill_copy(unsigned char *space, size_t len, void *arg)
{
    memcpy(space, arg, len);
    return 1;
}

/* See store.h. */
enum signet_err store_txn_crl_put(struct store_txn *txn, uint32_t ca_id, uint32_t stream,
                                  uint64_t number, const unsigned char *der, size_t len,
                                  unsigned keep, char *detail)
{
    if (der == NULL) {
        sg_detail(detail, "CRL record of CA %u: no DER", ca_id);
        return SIGNET_E_USAGE;
    }
    return store_txn_crl_put_fill(txn, ca_id, stream, number, len, keep, fill_copy, (void *)der,
                                  detail);
}

/* See store.h. The value is reserved in the map (MDB_RESERVE) and filled in place. */
enum signet_err store_txn_crl_put_fill(struct store_txn *txn, uint32_t ca_id, uint32_t stream,
                                       uint64_t number, size_t len, unsigned keep,
                                       store_fill_fn fill, void *arg, char *detail)
{
    unsigned char key[CRL_KEY_LEN];
    MDB_val k = {sizeof(key), key}, v = {len, NULL};
    char what[96];
    int rc;

    if (number == 0 || fill == NULL || len == 0 || len > STORE_CRL_MAX) {
        sg_detail(detail, "CRL record of CA %u: number 0, or %zu bytes (1 to %zu)", ca_id, len,
                  (size_t)STORE_CRL_MAX);
        return SIGNET_E_USAGE;
    }
    crl_key(key, ca_id, stream, number);
    snprintf(what, sizeof(what), "writing CRL %llu of CA %u stream %u", (unsigned long long)number,
             ca_id, stream);
    rc = mdb_put(txn->txn, txn->st->dbi[STORE_DB_CRL], &k, &v, MDB_NOOVERWRITE | MDB_RESERVE);
    if (rc == 0 && !fill(v.mv_data, len, arg)) {
        sg_detail(detail, "%s: the CRL's bytes could not be read", what);
        return SIGNET_E_IO;
    }
    if (rc == 0 && keep > 0)
        rc = crl_prune(txn, ca_id, stream, number, keep);
    return store_lmdb_err(txn->st, rc, what, detail);
}

/* Stores the newest number seen in cb into arg. */
static void note_number(uint64_t number, const unsigned char *der, size_t len, void *arg)
{
    (void)der, (void)len;
    *(uint64_t *)arg = number;
}

/* See store.h. The counter is meta "crl.number.CA.STREAM" (u64 big-endian). */
enum signet_err store_txn_crl_number_next(struct store_txn *txn, uint32_t ca_id, uint32_t stream,
                                          uint64_t floor, uint64_t *out, char *detail)
{
    char name[STORE_META_NAME_MAX];
    unsigned char buf[8];
    size_t len = 0;
    uint64_t cur = 0, stored = 0;
    enum signet_err err;

    *out = 0;
    snprintf(name, sizeof(name), "crl.number.%u.%u", ca_id, stream);
    err = store_txn_meta_get(txn, name, buf, sizeof(buf), &len, detail);
    if (err == SIGNET_OK && len == sizeof(buf))
        cur = store_get_u64(buf);
    else if (err != SIGNET_E_NOTFOUND && err != SIGNET_OK)
        return err;
    err = store_txn_crl_latest(txn, ca_id, stream, note_number, &stored, detail);
    if (err != SIGNET_OK && err != SIGNET_E_NOTFOUND)
        return err;
    /* never below what was counted, stored, or used elsewhere (the CA record) */
    if (stored > cur)
        cur = stored;
    if (floor > cur)
        cur = floor;
    if (cur >= STORE_CRL_NUMBER_MAX) {
        sg_detail(detail, "CA %u stream %u: CRL numbers exhausted", ca_id, stream);
        return SIGNET_E_STORE;
    }
    store_put_u64(buf, cur + 1);
    if ((err = store_txn_meta_put(txn, name, buf, sizeof(buf), detail)) != SIGNET_OK)
        return err;
    *out = cur + 1;
    return SIGNET_OK;
}
