/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store internals: the environment, the committer's queue, key layouts and the record codec.
 * Only the store's own sources include this; nothing LMDB-shaped leaves the module.
 */
#ifndef SIGNET_STORE_INTERNAL_H
#define SIGNET_STORE_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>

#include "store.h"

/* The Signet release that introduced STORE_SCHEMA_VERSION; recorded in meta for newer readers. */
#define STORE_SIGNET_VERSION "0.1.0"

/* Meta names the store keeps for itself (store_txn_meta_put refuses the prefix). */
#define STORE_META_PREFIX     "store."
#define STORE_META_SCHEMA     "store.schema_version" /* u32 big-endian */
#define STORE_META_SIGNET     "store.signet_version" /* Signet release that wrote the schema */
#define STORE_META_AUDIT_HEAD "store.audit_head"     /* u64 seq + SHA-256 of the last entry */

#define STORE_HASH_LEN 32

/* The named databases of DESIGN.md; indexes st->dbi. */
enum store_db {
    STORE_DB_META,
    STORE_DB_CA,
    STORE_DB_CERT,
    STORE_DB_EXPIRY,
    STORE_DB_REVOKED,
    STORE_DB_OCSP,
    STORE_DB_CRL,
    STORE_DB_BLOCKED_KEY,
    STORE_DB_AUDIT,
    STORE_DB_MAX
};

/* One write waiting for the committer; lives on the caller's stack while it waits. */
struct store_pending {
    store_write_fn fn;
    void *arg;
    char *detail;       /* the caller's detail buffer, may be NULL */
    enum signet_err rc; /* the result, valid once done */
    int done;           /* set by the committer under st->mu */
    struct store_pending *next;
};

struct store {
    char dir[4096];
    MDB_env *env;
    MDB_dbi dbi[STORE_DB_MAX];
    int read_only;
    unsigned batch_max;
    unsigned batch_wait_us;

    pthread_mutex_t mu;         /* guards everything below */
    pthread_cond_t work;        /* the committer waits here for writes */
    pthread_cond_t done;        /* writers wait here for their batch */
    struct store_pending *head; /* FIFO of waiting writes */
    struct store_pending *tail;
    size_t queued;
    int stopping;
    int committer_started;
    pthread_t committer;
    uint64_t commits;
    uint64_t writes;
    uint64_t batch_largest;
};

/* A transaction handed to a write function: the child of the batch's transaction. */
struct store_txn {
    struct store *st;
    MDB_txn *txn;
};

/* ---- errors (env.c) ---- */

/*
 * Turns an LMDB code into a signet error with a detail naming what was being done: MDB_MAP_FULL
 * becomes SIGNET_E_STORE_FULL with how to grow the map, MDB_NOTFOUND SIGNET_E_NOTFOUND,
 * MDB_KEYEXIST SIGNET_E_EXISTS, anything else SIGNET_E_STORE.
 */
enum signet_err store_lmdb_err(struct store *st, int rc, const char *what, char *detail);

/* ---- committer (commit.c) ---- */

int store_committer_start(struct store *st);
void store_committer_stop(struct store *st);

/* ---- keys (codec.c) ---- */

#define STORE_CERT_KEY_LEN   (4 + STORE_SERIAL_MAX)     /* ca id, serial left-padded */
#define STORE_EXPIRY_KEY_LEN (4 + 8 + STORE_SERIAL_MAX) /* ca id, not-after, serial */

void store_put_u32(unsigned char *p, uint32_t v);
void store_put_u64(unsigned char *p, uint64_t v);
uint32_t store_get_u32(const unsigned char *p);
uint64_t store_get_u64(const unsigned char *p);
/* 1 when serial is 1..STORE_SERIAL_MAX octets. */
int store_serial_ok(const unsigned char *serial, size_t len);
void store_cert_key(unsigned char out[STORE_CERT_KEY_LEN], uint32_t ca_id,
                    const unsigned char *serial, size_t serial_len);
void store_expiry_key(unsigned char out[STORE_EXPIRY_KEY_LEN], uint32_t ca_id, int64_t not_after,
                      const unsigned char *serial, size_t serial_len);

/* ---- record codec (codec.c) ---- */

/* A growable output buffer; err is set on allocation failure and checked once at the end. */
struct store_wbuf {
    unsigned char *p;
    size_t len;
    size_t cap;
    int err;
};

/* A bounded reader; err is set on any overread and every later read yields zeroes. */
struct store_rbuf {
    const unsigned char *p;
    size_t left;
    int err;
};

void store_wbuf_free(struct store_wbuf *w);

/* Each encoder returns 1 = ok (w holds the record), 0 = out of memory. */
int store_cert_encode(const struct store_cert *c, struct store_wbuf *w);
int store_ca_encode(const struct store_ca *ca, struct store_wbuf *w);
int store_revoked_encode(const struct store_cert *c, struct store_wbuf *w);
int store_audit_encode(uint64_t seq, int64_t t, const char *actor, const char *action,
                       const char *object, const unsigned char prev[STORE_HASH_LEN],
                       struct store_wbuf *w);

/*
 * Decoders check every length against the bytes left and the field's bound and refuse trailing
 * bytes. Return SIGNET_OK with *out owned by the caller, or SIGNET_E_INVALID / SIGNET_E_NOMEM.
 */
enum signet_err store_cert_decode(const void *data, size_t len, struct store_cert **out,
                                  char *detail);
enum signet_err store_ca_decode(const void *data, size_t len, struct store_ca **out, char *detail);

/* An audit entry decoded in place: the strings point into scratch (freed by the caller). */
struct store_audit_rec {
    struct store_audit_entry e;
    char *scratch;
};
enum signet_err store_audit_decode(const void *data, size_t len, struct store_audit_rec *out,
                                   char *detail);

/* 1 when s is NUL-terminated within cap bytes. */
int store_str_ok(const char *s, size_t cap);

/* ---- approval queue (request.c) ---- */

#define STORE_DB_REQUEST_NAME      "request"               /* the queue's named database */
#define STORE_META_REQUEST_PENDING "store.request_pending" /* u64 BE: requests now pending */
#define STORE_DBS_EXTRA            1 /* named databases beyond enum store_db (request) */

/*
 * Opens the request database within open_dbs' transaction: created when the store is
 * writable; a read-only store written before the queue existed has none, and its reads then
 * find nothing. The handle is kept as the environment's user context (mdb_env_set_userctx),
 * NULL when absent, so struct store needs no new field.
 */
enum signet_err store_request_open_db(struct store *st, MDB_txn *txn, char *detail);

#endif
