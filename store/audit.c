/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store audit: an append-only hash chain. Entry n holds the SHA-256 of entry n-1's stored
 * encoding (zero for entry 1), and meta "store.audit_head" holds the last sequence number and the
 * hash of the last entry, so that changing, removing or truncating entries breaks a link.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "internal.h"

#define HEAD_LEN (8 + STORE_HASH_LEN)

/* SHA-256 of an entry's stored bytes. Returns 1 = ok. */
static int entry_hash(const void *data, size_t len, unsigned char out[STORE_HASH_LEN])
{
    unsigned int n = 0;
    return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 && n == STORE_HASH_LEN;
}

/*
 * Reads the chain head in txn. *out_seq is 0 and out_hash zero when the chain is empty.
 * Returns 0 or an LMDB code (EINVAL for a corrupt head).
 */
static int head_get(struct store *st, MDB_txn *txn, uint64_t *out_seq,
                    unsigned char out_hash[STORE_HASH_LEN])
{
    MDB_val k = {strlen(STORE_META_AUDIT_HEAD), STORE_META_AUDIT_HEAD}, v;
    int rc = mdb_get(txn, st->dbi[STORE_DB_META], &k, &v);

    *out_seq = 0;
    memset(out_hash, 0, STORE_HASH_LEN);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    if (v.mv_size != HEAD_LEN)
        return EINVAL;
    *out_seq = store_get_u64(v.mv_data);
    memcpy(out_hash, (unsigned char *)v.mv_data + 8, STORE_HASH_LEN);
    return 0;
}

/* 1 when s is a bounded string (non-empty unless may_be_empty). */
static int text_ok(const char *s, size_t cap, int may_be_empty)
{
    return s != NULL && strnlen(s, cap) < cap && (may_be_empty || s[0] != '\0');
}

/* See store.h. */
enum signet_err store_txn_audit(struct store_txn *txn, const char *actor, const char *action,
                                const char *object, char *detail)
{
    struct store *st = txn->st;
    struct store_wbuf w = {0};
    unsigned char prev[STORE_HASH_LEN], hash[STORE_HASH_LEN], key[8], head[HEAD_LEN];
    uint64_t seq = 0;
    MDB_val k = {sizeof(key), key}, v, hk = {strlen(STORE_META_AUDIT_HEAD), STORE_META_AUDIT_HEAD};
    MDB_val hv = {sizeof(head), head};
    enum signet_err err = SIGNET_OK;
    int rc = 0;

    if (!text_ok(actor, STORE_AUDIT_WORD_MAX, 0) || !text_ok(action, STORE_AUDIT_WORD_MAX, 0) ||
        !text_ok(object, STORE_AUDIT_TEXT_MAX, 1)) {
        sg_detail(detail,
                  "audit entry: actor or action missing, or a field too long (actor and "
                  "action under %d bytes, object under %u)",
                  STORE_AUDIT_WORD_MAX, STORE_AUDIT_TEXT_MAX);
        return SIGNET_E_USAGE;
    }
    rc = head_get(st, txn->txn, &seq, prev);
    if (rc == EINVAL) {
        sg_detail(detail, "store %s: the audit chain's head record is corrupt", st->dir);
        return SIGNET_E_STORE;
    }
    if (rc != 0)
        return store_lmdb_err(st, rc, "reading the audit chain's head", detail);
    seq++;
    if (!store_audit_encode(seq, sg_now(), actor, action, object, prev, &w) ||
        !entry_hash(w.p, w.len, hash)) {
        sg_detail(detail, "audit entry %" PRIu64 ": out of memory or hashing failed", seq);
        err = SIGNET_E_INTERNAL;
        goto out;
    }
    store_put_u64(key, seq);
    v.mv_size = w.len;
    v.mv_data = w.p;
    store_put_u64(head, seq);
    memcpy(head + 8, hash, STORE_HASH_LEN);
    rc = mdb_put(txn->txn, st->dbi[STORE_DB_AUDIT], &k, &v, MDB_NOOVERWRITE);
    if (rc == 0)
        rc = mdb_put(txn->txn, st->dbi[STORE_DB_META], &hk, &hv, 0);
    err = store_lmdb_err(st, rc, "appending to the audit chain", detail);
out:
    store_wbuf_free(&w);
    return err;
}

/*
 * Checks one entry against the chain walked so far: its key is the expected sequence, it
 * decodes, and it names the previous entry's hash. Updates prev to this entry's hash.
 */
static enum signet_err check_link(const MDB_val *k, const MDB_val *v, uint64_t expect,
                                  unsigned char prev[STORE_HASH_LEN], char *detail)
{
    struct store_audit_rec rec;
    uint64_t seq = k->mv_size == 8 ? store_get_u64(k->mv_data) : 0;
    enum signet_err err = SIGNET_OK;

    if (seq != expect) {
        sg_detail(detail,
                  "audit entry %" PRIu64 " is missing (found %" PRIu64 " next): "
                  "the chain was cut",
                  expect, seq);
        return SIGNET_E_INVALID;
    }
    if (store_audit_decode(v->mv_data, v->mv_size, &rec, detail) != SIGNET_OK || rec.e.seq != seq) {
        sg_detail(detail, "audit entry %" PRIu64 " is corrupt", seq);
        err = SIGNET_E_INVALID;
    } else if (CRYPTO_memcmp(rec.e.prev_hash, prev, STORE_HASH_LEN) != 0) {
        sg_detail(detail,
                  "audit entry %" PRIu64 " does not chain to entry %" PRIu64
                  ": an earlier entry was changed or removed",
                  seq, seq - 1);
        err = SIGNET_E_INVALID;
    } else if (!entry_hash(v->mv_data, v->mv_size, prev)) {
        sg_detail(detail, "audit entry %" PRIu64 ": hashing failed", seq);
        err = SIGNET_E_INTERNAL;
    }
    free(rec.scratch);
    return err;
}

/* Compares the end of the walk with the recorded head. */
static enum signet_err check_head(struct store *st, MDB_txn *txn, uint64_t last,
                                  const unsigned char hash[STORE_HASH_LEN], char *detail)
{
    unsigned char hhash[STORE_HASH_LEN];
    uint64_t hseq = 0;
    int rc = head_get(st, txn, &hseq, hhash);

    if (rc != 0 && rc != EINVAL)
        return store_lmdb_err(st, rc, "reading the audit chain's head", detail);
    if (rc == EINVAL || hseq != last ||
        (last > 0 && CRYPTO_memcmp(hhash, hash, STORE_HASH_LEN) != 0)) {
        sg_detail(detail,
                  "the audit chain ends at entry %" PRIu64 " but its head says %" PRIu64
                  ": the last entries were changed or removed",
                  last, hseq);
        return SIGNET_E_INVALID;
    }
    return SIGNET_OK;
}

/* See store.h. */
enum signet_err store_audit_verify(struct store *st, uint64_t *out_entries, char *detail)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    unsigned char prev[STORE_HASH_LEN];
    uint64_t n = 0;
    enum signet_err err = SIGNET_OK;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);

    if (out_entries != NULL)
        *out_entries = 0;
    memset(prev, 0, sizeof(prev));
    if (rc == 0)
        rc = mdb_cursor_open(txn, st->dbi[STORE_DB_AUDIT], &cur);
    for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if ((err = check_link(&k, &v, n + 1, prev, detail)) != SIGNET_OK)
            goto out;
        n++;
    }
    if (rc != MDB_NOTFOUND) {
        err = store_lmdb_err(st, rc, "reading the audit chain", detail);
        goto out;
    }
    if ((err = check_head(st, txn, n, prev, detail)) != SIGNET_OK)
        goto out;
    if (out_entries != NULL)
        *out_entries = n;
out:
    if (cur != NULL)
        mdb_cursor_close(cur);
    if (txn != NULL)
        mdb_txn_abort(txn);
    return err;
}

/* See store.h. */
enum signet_err store_audit_iter(struct store *st, uint64_t from, store_audit_cb cb, void *arg,
                                 char *detail)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    unsigned char start[8];
    MDB_val k = {sizeof(start), start}, v;
    struct store_audit_rec rec = {0};
    enum signet_err err = SIGNET_OK;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), stop = 0;

    if (cb == NULL) {
        if (txn != NULL)
            mdb_txn_abort(txn);
        sg_detail(detail, "audit iteration without a callback");
        return SIGNET_E_USAGE;
    }
    store_put_u64(start, from);
    if (rc == 0)
        rc = mdb_cursor_open(txn, st->dbi[STORE_DB_AUDIT], &cur);
    for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && !stop;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if ((err = store_audit_decode(v.mv_data, v.mv_size, &rec, detail)) != SIGNET_OK)
            goto out;
        stop = !cb(&rec.e, arg);
        free(rec.scratch);
        rec.scratch = NULL;
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        err = store_lmdb_err(st, rc, "reading the audit chain", detail);
out:
    if (cur != NULL)
        mdb_cursor_close(cur);
    if (txn != NULL)
        mdb_txn_abort(txn);
    return err;
}
