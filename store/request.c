/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store requests: the approval queue's database. A request is keyed by its id (8 random bytes,
 * shown as 16 hex digits); its record is a type tag, a format version, the state, the submitted
 * and decided times (u64 big-endian), the strings ca, profile, requester, serial, reason and
 * decided_by as (u16 length, bytes), and the CSR's DER as (u32 length, bytes). The number of
 * pending requests is kept in meta (STORE_META_REQUEST_PENDING) so that the bound costs one read.
 */
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define TAG_REQUEST 'Q'
#define FORMAT_V1   1
#define KEY_LEN     (STORE_REQUEST_ID_LEN / 2)
#define FIXED_LEN   (1 + 1 + 1 + 8 + 8)
#define ID_TRIES    8

/* The request database's handle, or 0 when the store has none (read-only, older store). */
static MDB_dbi req_dbi(const struct store *st)
{
    return (MDB_dbi)(uintptr_t)mdb_env_get_userctx(st->env);
}

/* See internal.h. */
enum signet_err store_request_open_db(struct store *st, MDB_txn *txn, char *detail)
{
    MDB_dbi dbi = 0;
    int rc = mdb_dbi_open(txn, STORE_DB_REQUEST_NAME, st->read_only ? 0 : MDB_CREATE, &dbi);

    if (rc == MDB_NOTFOUND && st->read_only)
        return SIGNET_OK; /* a store from before the queue: no requests to read */
    if (rc != 0)
        return store_lmdb_err(st, rc, "opening database 'request'", detail);
    /* named databases never get handle 0 (LMDB's free list), so 0 can mean "none" */
    mdb_env_set_userctx(st->env, (void *)(uintptr_t)dbi);
    return SIGNET_OK;
}

const char *store_request_state_name(enum store_request_state s)
{
    switch (s) {
    case STORE_REQUEST_PENDING:
        return "pending";
    case STORE_REQUEST_APPROVED:
        return "approved";
    case STORE_REQUEST_REJECTED:
        return "rejected";
    }
    return "unknown";
}

void store_request_free(struct store_request *r)
{
    if (r == NULL)
        return;
    free(r->csr);
    free(r);
}

/* The key of an id: its 16 hex digits as 8 bytes. 1 = a well-formed id. */
static int id_key(const char *id, unsigned char key[KEY_LEN])
{
    if (id == NULL || strlen(id) != STORE_REQUEST_ID_LEN)
        return 0;
    for (size_t i = 0; i < STORE_REQUEST_ID_LEN; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return 0;
    return sg_hex_decode(id, key, KEY_LEN) == KEY_LEN;
}

/* 1 when every string of r is terminated within its field and the CSR is in bounds. */
static int fields_ok(const struct store_request *r)
{
    return store_str_ok(r->ca, sizeof(r->ca)) && store_str_ok(r->profile, sizeof(r->profile)) &&
           store_str_ok(r->requester, sizeof(r->requester)) &&
           store_str_ok(r->serial, sizeof(r->serial)) &&
           store_str_ok(r->reason, sizeof(r->reason)) &&
           store_str_ok(r->decided_by, sizeof(r->decided_by)) && r->csr != NULL && r->csr_len > 0 &&
           r->csr_len <= STORE_DER_MAX && r->state >= STORE_REQUEST_PENDING &&
           r->state <= STORE_REQUEST_REJECTED;
}

static unsigned char *put_str(unsigned char *p, const char *s)
{
    size_t n = strlen(s);

    p[0] = (unsigned char)(n >> 8);
    p[1] = (unsigned char)n;
    memcpy(p + 2, s, n);
    return p + 2 + n;
}

/* Encodes r into a malloc'd buffer (*out, *out_len). 1 = ok, 0 = out of memory. */
static int request_encode(const struct store_request *r, unsigned char **out, size_t *out_len)
{
    const char *strs[] = {r->ca, r->profile, r->requester, r->serial, r->reason, r->decided_by};
    size_t len = FIXED_LEN + 4 + r->csr_len;
    unsigned char *buf, *p;

    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        len += 2 + strlen(strs[i]);
    if ((buf = malloc(len)) == NULL)
        return 0;
    buf[0] = TAG_REQUEST;
    buf[1] = FORMAT_V1;
    buf[2] = (unsigned char)r->state;
    store_put_u64(buf + 3, (uint64_t)r->submitted);
    store_put_u64(buf + 11, (uint64_t)r->decided);
    p = buf + FIXED_LEN;
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        p = put_str(p, strs[i]);
    store_put_u32(p, (uint32_t)r->csr_len);
    memcpy(p + 4, r->csr, r->csr_len);
    *out = buf;
    *out_len = len;
    return 1;
}

/* Reads a (u16 length, bytes) string into out (cap bytes, NUL added). 1 = ok. */
static int get_str(const unsigned char **p, size_t *left, char *out, size_t cap)
{
    size_t n;

    if (*left < 2)
        return 0;
    n = ((size_t)(*p)[0] << 8) | (*p)[1];
    if (n >= cap || *left - 2 < n || memchr(*p + 2, '\0', n) != NULL)
        return 0;
    memcpy(out, *p + 2, n);
    out[n] = '\0';
    *p += 2 + n;
    *left -= 2 + n;
    return 1;
}

/*
 * Decodes a record, checking every length against what is left and the field's bound, and
 * refusing trailing bytes. SIGNET_OK with *out owned by the caller, SIGNET_E_INVALID or
 * SIGNET_E_NOMEM.
 */
static enum signet_err request_decode(const unsigned char *key, const unsigned char *p, size_t len,
                                      struct store_request **out, char *detail)
{
    struct store_request *r = calloc(1, sizeof(*r));
    size_t left = len, n;
    int ok;

    *out = NULL;
    if (r == NULL)
        return SIGNET_E_NOMEM;
    sg_hex_encode(key, KEY_LEN, r->id);
    ok = len >= FIXED_LEN && p[0] == TAG_REQUEST && p[1] == FORMAT_V1 &&
         p[2] >= STORE_REQUEST_PENDING && p[2] <= STORE_REQUEST_REJECTED;
    if (ok) {
        r->state = (enum store_request_state)p[2];
        r->submitted = (int64_t)store_get_u64(p + 3);
        r->decided = (int64_t)store_get_u64(p + 11);
        p += FIXED_LEN;
        left -= FIXED_LEN;
        ok = get_str(&p, &left, r->ca, sizeof(r->ca)) &&
             get_str(&p, &left, r->profile, sizeof(r->profile)) &&
             get_str(&p, &left, r->requester, sizeof(r->requester)) &&
             get_str(&p, &left, r->serial, sizeof(r->serial)) &&
             get_str(&p, &left, r->reason, sizeof(r->reason)) &&
             get_str(&p, &left, r->decided_by, sizeof(r->decided_by)) && left >= 4;
    }
    if (ok) {
        n = store_get_u32(p);
        ok = n > 0 && n <= STORE_DER_MAX && n == left - 4 && (r->csr = malloc(n)) != NULL;
        if (ok) {
            memcpy(r->csr, p + 4, n);
            r->csr_len = n;
        }
    }
    if (!ok) {
        sg_detail(detail, "request %s: the record is corrupt; the store may be damaged", r->id);
        store_request_free(r);
        return SIGNET_E_INVALID;
    }
    *out = r;
    return SIGNET_OK;
}

/* The pending counter within txn (0 when never written). */
static enum signet_err pending_get(struct store *st, MDB_txn *txn, uint64_t *out, char *detail)
{
    MDB_val k = {strlen(STORE_META_REQUEST_PENDING), STORE_META_REQUEST_PENDING}, v;
    int rc = mdb_get(txn, st->dbi[STORE_DB_META], &k, &v);

    *out = 0;
    if (rc == MDB_NOTFOUND)
        return SIGNET_OK;
    if (rc != 0)
        return store_lmdb_err(st, rc, "reading the approval queue's count", detail);
    if (v.mv_size != 8) {
        sg_detail(detail, "store %s: the approval queue's count is corrupt", st->dir);
        return SIGNET_E_STORE;
    }
    *out = store_get_u64(v.mv_data);
    return SIGNET_OK;
}

/* Adds delta (+1 or -1) to the pending counter within the write transaction. */
static enum signet_err pending_add(struct store_txn *txn, int delta, char *detail)
{
    unsigned char buf[8];
    MDB_val k = {strlen(STORE_META_REQUEST_PENDING), STORE_META_REQUEST_PENDING};
    MDB_val v = {sizeof(buf), buf};
    uint64_t n = 0;
    enum signet_err err = pending_get(txn->st, txn->txn, &n, detail);

    if (err != SIGNET_OK)
        return err;
    n = delta < 0 ? (n > 0 ? n - 1 : 0) : n + 1;
    store_put_u64(buf, n);
    return store_lmdb_err(txn->st, mdb_put(txn->txn, txn->st->dbi[STORE_DB_META], &k, &v, 0),
                          "writing the approval queue's count", detail);
}

/* Writes r under key with the given put flags. */
static enum signet_err request_write(struct store_txn *txn, const unsigned char key[KEY_LEN],
                                     const struct store_request *r, unsigned flags, char *detail)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    MDB_val k = {KEY_LEN, (void *)key}, v;
    int rc;

    if (!request_encode(r, &buf, &len)) {
        sg_detail(detail, "request %s: out of memory", r->id);
        return SIGNET_E_NOMEM;
    }
    v.mv_data = buf;
    v.mv_size = len;
    rc = mdb_put(txn->txn, req_dbi(txn->st), &k, &v, flags);
    free(buf);
    return store_lmdb_err(txn->st, rc, "writing a request", detail);
}

/* 1 when the store has a request database; otherwise says so (writable stores always do). */
static int have_db(struct store *st, char *detail)
{
    if (req_dbi(st) != 0)
        return 1;
    sg_detail(detail, "store %s has no approval queue yet; open it writable once", st->dir);
    return 0;
}

enum signet_err store_txn_request_add(struct store_txn *txn, struct store_request *r, char *detail)
{
    unsigned char key[KEY_LEN];
    uint64_t pending = 0;
    enum signet_err err;

    if (!have_db(txn->st, detail))
        return SIGNET_E_STORE;
    r->state = STORE_REQUEST_PENDING;
    r->serial[0] = r->reason[0] = r->decided_by[0] = '\0';
    r->decided = 0;
    r->submitted = sg_now();
    if (!fields_ok(r)) {
        sg_detail(detail, "request: a field is empty, unterminated or too long");
        return SIGNET_E_USAGE;
    }
    if ((err = pending_get(txn->st, txn->txn, &pending, detail)) != SIGNET_OK)
        return err;
    if (pending >= STORE_REQUEST_PENDING_MAX) {
        sg_detail(detail,
                  "approval queue full: %llu requests are pending (at most %u); approve or "
                  "reject some (signet request list) and submit again",
                  (unsigned long long)pending, STORE_REQUEST_PENDING_MAX);
        return SIGNET_E_POLICY;
    }
    err = SIGNET_E_EXISTS;
    for (int i = 0; i < ID_TRIES && err == SIGNET_E_EXISTS; i++) {
        if (RAND_bytes(key, sizeof(key)) != 1) {
            sg_detail(detail, "request: no randomness for an id");
            return SIGNET_E_CRYPTO;
        }
        sg_hex_encode(key, KEY_LEN, r->id);
        err = request_write(txn, key, r, MDB_NOOVERWRITE, detail);
    }
    if (err == SIGNET_OK)
        err = pending_add(txn, +1, detail);
    return err;
}

/* Reads the request under id within txn. */
static enum signet_err get_in(struct store *st, MDB_txn *txn, const char *id,
                              struct store_request **out, char *detail)
{
    unsigned char key[KEY_LEN];
    MDB_val k = {KEY_LEN, key}, v;
    int rc;

    *out = NULL;
    if (!id_key(id, key) || req_dbi(st) == 0) {
        sg_detail(detail, "request %.*s: no such request; see `signet request list`",
                  STORE_REQUEST_ID_LEN + 8, id ? id : "");
        return SIGNET_E_NOTFOUND;
    }
    rc = mdb_get(txn, req_dbi(st), &k, &v);
    if (rc == MDB_NOTFOUND) {
        sg_detail(detail, "request %s: no such request; see `signet request list`", id);
        return SIGNET_E_NOTFOUND;
    }
    if (rc != 0)
        return store_lmdb_err(st, rc, "reading a request", detail);
    return request_decode(key, v.mv_data, v.mv_size, out, detail);
}

enum signet_err store_txn_request_get(struct store_txn *txn, const char *id,
                                      struct store_request **out, char *detail)
{
    return get_in(txn->st, txn->txn, id, out, detail);
}

enum signet_err store_txn_request_put(struct store_txn *txn, const struct store_request *r,
                                      char *detail)
{
    struct store_request *old = NULL;
    unsigned char key[KEY_LEN];
    enum signet_err err;

    if (!fields_ok(r) || !id_key(r->id, key)) {
        sg_detail(detail, "request: a field is empty, unterminated or too long");
        return SIGNET_E_USAGE;
    }
    if ((err = get_in(txn->st, txn->txn, r->id, &old, detail)) != SIGNET_OK)
        return err;
    err = request_write(txn, key, r, 0, detail);
    if (err == SIGNET_OK && old->state == STORE_REQUEST_PENDING &&
        r->state != STORE_REQUEST_PENDING)
        err = pending_add(txn, -1, detail);
    else if (err == SIGNET_OK && old->state != STORE_REQUEST_PENDING &&
             r->state == STORE_REQUEST_PENDING)
        err = pending_add(txn, +1, detail);
    store_request_free(old);
    return err;
}

enum signet_err store_request_get(struct store *st, const char *id, struct store_request **out,
                                  char *detail)
{
    MDB_txn *txn = NULL;
    enum signet_err err;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);

    *out = NULL;
    if (rc != 0)
        return store_lmdb_err(st, rc, "starting a read", detail);
    err = get_in(st, txn, id, out, detail);
    mdb_txn_abort(txn);
    return err;
}

enum signet_err store_request_iter(struct store *st, enum store_request_state state,
                                   store_request_cb cb, void *arg, char *detail)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    struct store_request *r = NULL;
    enum signet_err err = SIGNET_OK;
    int rc;

    if (req_dbi(st) == 0)
        return SIGNET_OK; /* no queue yet: nothing to list */
    if ((rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)) == 0)
        rc = mdb_cursor_open(txn, req_dbi(st), &cur);
    for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != KEY_LEN) {
            sg_detail(detail, "store %s: a request key is corrupt", st->dir);
            err = SIGNET_E_INVALID;
            goto out;
        }
        if ((err = request_decode(k.mv_data, v.mv_data, v.mv_size, &r, detail)) != SIGNET_OK)
            goto out;
        if ((state == 0 || r->state == state) && !cb(r, arg))
            break;
        store_request_free(r);
        r = NULL;
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        err = store_lmdb_err(st, rc, "listing requests", detail);
out:
    store_request_free(r);
    if (cur != NULL)
        mdb_cursor_close(cur);
    if (txn != NULL)
        mdb_txn_abort(txn);
    return err;
}

enum signet_err store_request_pending(struct store *st, uint64_t *out, char *detail)
{
    MDB_txn *txn = NULL;
    enum signet_err err;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);

    *out = 0;
    if (rc != 0)
        return store_lmdb_err(st, rc, "starting a read", detail);
    err = pending_get(st, txn, out, detail);
    mdb_txn_abort(txn);
    return err;
}
