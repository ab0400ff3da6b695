/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store blocked keys: the blocked_key database of DESIGN.md, keyed by the SHA-256 of a key's
 * DER SubjectPublicKeyInfo. A record is a type tag, a format version, the time the key was
 * blocked (u64 big-endian, signed) and the reason as (u16 length, bytes).
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define TAG_BLOCKED 'K'
#define FORMAT_V1   1
#define HDR_LEN     (1 + 1 + 8 + 2)

/* Decodes a record, checking every length. SIGNET_OK or SIGNET_E_INVALID. */
static enum signet_err blocked_decode(const unsigned char *p, size_t len,
                                      struct store_blocked_key *out, char *detail)
{
    size_t rlen;

    if (len < HDR_LEN || p[0] != TAG_BLOCKED || p[1] != FORMAT_V1) {
        sg_detail(detail, "blocked-key record: bad header; the store may be damaged");
        return SIGNET_E_INVALID;
    }
    rlen = ((size_t)p[10] << 8) | p[11];
    if (rlen == 0 || rlen >= STORE_BLOCK_REASON_MAX || len != HDR_LEN + rlen ||
        memchr(p + HDR_LEN, '\0', rlen) != NULL) {
        sg_detail(detail, "blocked-key record: bad reason length; the store may be damaged");
        return SIGNET_E_INVALID;
    }
    if (out != NULL) {
        out->since = (int64_t)store_get_u64(p + 2);
        memcpy(out->reason, p + HDR_LEN, rlen);
        out->reason[rlen] = '\0';
    }
    return SIGNET_OK;
}

enum signet_err store_blocked_key_get(struct store *st, const unsigned char hash[STORE_SPKI_HASH],
                                      struct store_blocked_key *out, char *detail)
{
    MDB_txn *txn = NULL;
    MDB_val k = {STORE_SPKI_HASH, (void *)hash}, v;
    enum signet_err err;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);

    if (rc != 0)
        return store_lmdb_err(st, rc, "starting a read", detail);
    rc = mdb_get(txn, st->dbi[STORE_DB_BLOCKED_KEY], &k, &v);
    if (rc == MDB_NOTFOUND)
        err = SIGNET_E_NOTFOUND;
    else if (rc != 0)
        err = store_lmdb_err(st, rc, "reading the blocked-key table", detail);
    else
        err = blocked_decode(v.mv_data, v.mv_size, out, detail);
    mdb_txn_abort(txn);
    return err;
}

enum signet_err store_txn_blocked_key_put(struct store_txn *txn,
                                          const unsigned char hash[STORE_SPKI_HASH], int64_t since,
                                          const char *reason, char *detail)
{
    unsigned char rec[HDR_LEN + STORE_BLOCK_REASON_MAX];
    size_t rlen = reason ? strnlen(reason, STORE_BLOCK_REASON_MAX) : 0;
    MDB_val k = {STORE_SPKI_HASH, (void *)hash}, v = {HDR_LEN + rlen, rec};
    int rc;

    if (rlen == 0 || rlen >= STORE_BLOCK_REASON_MAX) {
        sg_detail(detail, "blocked key: give a reason of 1 to %d bytes",
                  STORE_BLOCK_REASON_MAX - 1);
        return SIGNET_E_USAGE;
    }
    rec[0] = TAG_BLOCKED;
    rec[1] = FORMAT_V1;
    store_put_u64(rec + 2, (uint64_t)since);
    rec[10] = (unsigned char)(rlen >> 8);
    rec[11] = (unsigned char)rlen;
    memcpy(rec + HDR_LEN, reason, rlen);
    rc = mdb_put(txn->txn, txn->st->dbi[STORE_DB_BLOCKED_KEY], &k, &v, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST)
        return SIGNET_OK;
    return store_lmdb_err(txn->st, rc, "writing the blocked-key table", detail);
}
