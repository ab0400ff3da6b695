/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store: the LMDB environment and schema of DESIGN.md, typed records, and one committer thread
 * that gathers writes from many threads into one durable transaction (group commit).
 *
 * The environment is never opened with MDB_NOSYNC, MDB_NOMETASYNC or MDB_MAPASYNC: a write that
 * returned SIGNET_OK is on disk. No LMDB handle or code leaves this module.
 *
 * Keys are big-endian so cursor order is useful: cert and revoked by (ca id, serial), expiry by
 * (ca id, not-after, serial), audit by sequence.
 */
#ifndef SIGNET_STORE_H
#define SIGNET_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define STORE_SCHEMA_VERSION 1
#define STORE_SERIAL_MAX     20 /* octets: RFC 5280 4.1.2.2 */
#define STORE_NAME_MAX       64 /* CA and profile names */
#define STORE_DER_MAX        (64u * 1024u)
#define STORE_META_NAME_MAX  64            /* meta key names */
#define STORE_META_VALUE_MAX (64u * 1024u) /* meta values */
#define STORE_AUDIT_WORD_MAX 256           /* audit actor and action */
#define STORE_AUDIT_TEXT_MAX (16u * 1024u) /* audit object (may hold a ceremony transcript) */

struct store;
struct store_txn; /* a write transaction, handed to a write function by the committer */

struct store_options {
    size_t map_size;        /* bytes; 0 = 1 GiB */
    int read_only;          /* 1: no committer, reads only (web processes, cert list) */
    unsigned batch_max;     /* writes gathered into one transaction at most; 0 = 256 */
    unsigned batch_wait_us; /* how long the committer lingers for more writes; 0 = none */
    unsigned lmdb_flags;    /* extra mdb_env_open flags (LMDB's MDB_* values), for tests and
                               tuning; store_open refuses MDB_NOSYNC, MDB_NOMETASYNC, MDB_MAPASYNC,
                               MDB_WRITEMAP and MDB_NOLOCK with SIGNET_E_CONFIG */
};

/*
 * Opens (creating when missing, unless read_only) the store in directory dir: checks the schema
 * version (refusing a newer one), clears stale reader slots (mdb_reader_check), starts the
 * committer. opts may be NULL. Errors: SIGNET_E_STORE, SIGNET_E_NOTFOUND (read_only and no store
 * there), SIGNET_E_CONFIG (schema too new, or unsafe lmdb_flags), SIGNET_E_USAGE (lmdb_flags
 * other than those listed above or MDB_NORDAHEAD / MDB_NOMEMINIT).
 */
enum signet_err store_open(const char *dir, const struct store_options *opts, struct store **out,
                           char *detail);
/* Drains and stops the committer, closes the environment. NULL-safe. */
void store_close(struct store *st);

/* ---- records ---- */

enum store_ca_state { STORE_CA_ACTIVE = 1, STORE_CA_RETIRED = 2 };

struct store_ca {
    uint32_t id; /* assigned by store_txn_ca_put when 0 */
    char name[STORE_NAME_MAX];
    char parent[STORE_NAME_MAX]; /* "" for a root */
    char key_uri[512];
    enum store_ca_state state;
    uint64_t crl_number;     /* last CRL number used */
    unsigned char *cert_der; /* owned; may be NULL before the certificate exists */
    size_t cert_len;
};

enum store_cert_state { STORE_CERT_PENDING = 1, STORE_CERT_ISSUED = 2, STORE_CERT_REVOKED = 3 };
const char *store_cert_state_name(enum store_cert_state s);

struct store_cert {
    uint32_t ca_id;
    unsigned char serial[STORE_SERIAL_MAX];
    size_t serial_len;
    enum store_cert_state state;
    int64_t not_after; /* seconds since the epoch */
    int64_t created;   /* when the PENDING record was written */
    char profile[STORE_NAME_MAX];
    char requester[128];
    unsigned char *der; /* owned: TBS when pending, certificate otherwise */
    size_t der_len;
    int64_t revoked_at;      /* 0 unless revoked */
    int reason;              /* RFC 5280 CRLReason, -1 when none */
    int64_t invalidity_date; /* 0 when not given */
};

void store_ca_free(struct store_ca *ca);
void store_cert_free(struct store_cert *c);

/* ---- writes (through the committer) ---- */

/*
 * A write function runs inside the committer's current batch, in its own nested transaction:
 * returning an error aborts only its own changes, and store_write returns that error. It must
 * not block or call store_write.
 */
typedef enum signet_err (*store_write_fn)(struct store_txn *txn, void *arg, char *detail);

/*
 * Hands fn to the committer and returns once the batch that ran it is durable (fsync'd), with
 * fn's result or the commit's. Many threads may call it at once; one fsync serves a batch.
 * Errors: fn's own, SIGNET_E_STORE_FULL (map full: say how to grow it), SIGNET_E_STORE.
 */
enum signet_err store_write(struct store *st, store_write_fn fn, void *arg, char *detail);

/* Writes a CA record; assigns ca->id when 0. A name already used by another id: SIGNET_E_EXISTS. */
enum signet_err store_txn_ca_put(struct store_txn *txn, struct store_ca *ca, char *detail);
/*
 * Writes a certificate record (cert and expiry, and revoked when state is REVOKED).
 * must_be_new: refuse with SIGNET_E_EXISTS when (ca, serial) exists (a serial is never reused).
 * Otherwise the record replaces the existing one (PENDING -> ISSUED -> REVOKED).
 */
enum signet_err store_txn_cert_put(struct store_txn *txn, const struct store_cert *c,
                                   int must_be_new, char *detail);
/* Appends to the audit chain: sequence, time, actor, action, object, SHA-256 of the previous. */
enum signet_err store_txn_audit(struct store_txn *txn, const char *actor, const char *action,
                                const char *object, char *detail);
enum signet_err store_txn_meta_put(struct store_txn *txn, const char *name, const void *val,
                                   size_t len, char *detail);
/* Reads within the write transaction (sees its own writes). */
enum signet_err store_txn_cert_get(struct store_txn *txn, uint32_t ca_id,
                                   const unsigned char *serial, size_t serial_len,
                                   struct store_cert **out, char *detail);
/* A CA by name within the write transaction (e.g. to bump crl_number). SIGNET_E_NOTFOUND if none.
 */
enum signet_err store_txn_ca_get(struct store_txn *txn, const char *name, struct store_ca **out,
                                 char *detail);
/* A meta value within the write transaction; see store_meta_get. */
enum signet_err store_txn_meta_get(struct store_txn *txn, const char *name, void *buf, size_t cap,
                                   size_t *out_len, char *detail);

/* Convenience writes, each one store_write. */
enum signet_err store_ca_put(struct store *st, struct store_ca *ca, char *detail);
enum signet_err store_cert_put(struct store *st, const struct store_cert *c, int must_be_new,
                               char *detail);

/* ---- reads (a read transaction each; safe from any thread) ---- */

/* A CA by name, or by id. SIGNET_E_NOTFOUND when there is none. Free with store_ca_free. */
enum signet_err store_ca_get(struct store *st, const char *name, struct store_ca **out,
                             char *detail);
enum signet_err store_ca_get_id(struct store *st, uint32_t id, struct store_ca **out, char *detail);
/* All CAs, ordered by id. *out is an array of *out_n records; free with store_ca_list_free. */
enum signet_err store_ca_list(struct store *st, struct store_ca **out, size_t *out_n, char *detail);
void store_ca_list_free(struct store_ca *list, size_t n);

enum signet_err store_cert_get(struct store *st, uint32_t ca_id, const unsigned char *serial,
                               size_t serial_len, struct store_cert **out, char *detail);

/* Called per record in serial order; return 0 to stop. The record is borrowed for the call. */
typedef int (*store_cert_cb)(const struct store_cert *c, void *arg);
/* Iterates a CA's certificates; state 0 = all states. */
enum signet_err store_cert_iter(struct store *st, uint32_t ca_id, enum store_cert_state state,
                                store_cert_cb cb, void *arg, char *detail);
/*
 * Iterates a CA's certificates whose not-after is at most until, earliest first (the expiry
 * index: sweeps, CRL pruning). Same callback convention as store_cert_iter.
 */
enum signet_err store_expiry_iter(struct store *st, uint32_t ca_id, int64_t until, store_cert_cb cb,
                                  void *arg, char *detail);

/*
 * Copies the value of name into buf. SIGNET_E_NOTFOUND when absent; SIGNET_E_USAGE when it does
 * not fit in cap (*out_len then holds the size needed). Names starting with "store." are the
 * store's own (schema version, audit head): readable here, refused by store_txn_meta_put.
 */
enum signet_err store_meta_get(struct store *st, const char *name, void *buf, size_t cap,
                               size_t *out_len, char *detail);

struct store_audit_entry {
    uint64_t seq;      /* 1, 2, 3, ... without gaps */
    int64_t time;      /* seconds since the epoch */
    const char *actor; /* borrowed for the callback, NUL-terminated */
    const char *action;
    const char *object;
    unsigned char prev_hash[32]; /* SHA-256 of the previous entry's encoding; zero for the first */
};
/* Called per audit entry in sequence order; return 0 to stop. The entry is borrowed. */
typedef int (*store_audit_cb)(const struct store_audit_entry *e, void *arg);
/* Iterates the audit entries with seq >= from (1 = all). Does not verify: see below. */
enum signet_err store_audit_iter(struct store *st, uint64_t from, store_audit_cb cb, void *arg,
                                 char *detail);

/*
 * Walks the audit chain and checks every link: sequences start at 1 without gaps, every entry
 * decodes, every entry's prev_hash is the SHA-256 of the previous entry's encoding, and the last
 * entry matches the head recorded in meta (so removing the first, a middle or the last entries is
 * seen). Returns SIGNET_OK and the entry count; SIGNET_E_INVALID naming the first bad entry.
 */
enum signet_err store_audit_verify(struct store *st, uint64_t *out_entries, char *detail);

/* ---- blocked keys (blocked.c) ---- */

#define STORE_SPKI_HASH        32  /* SHA-256 of a DER SubjectPublicKeyInfo: the table's key */
#define STORE_BLOCK_REASON_MAX 256 /* bytes of a reason, NUL included */

/* Why a key is blocked ("keyCompromise: serial 1a2b of issuing-1") and since when. */
struct store_blocked_key {
    int64_t since; /* seconds since the epoch */
    char reason[STORE_BLOCK_REASON_MAX];
};

/*
 * Looks the key up in the blocked_key database. SIGNET_OK with *out filled (out may be NULL)
 * when the key is blocked; SIGNET_E_NOTFOUND (no detail) when it is not; SIGNET_E_STORE or
 * SIGNET_E_INVALID (a corrupt record) otherwise. Compromised keys are never certified again.
 */
enum signet_err store_blocked_key_get(struct store *st, const unsigned char hash[STORE_SPKI_HASH],
                                      struct store_blocked_key *out, char *detail);
/*
 * Blocks a key (inside a write function). A key already blocked keeps its first record: the
 * call then returns SIGNET_OK without changing it. The reason must be 1..255 bytes.
 */
enum signet_err store_txn_blocked_key_put(struct store_txn *txn,
                                          const unsigned char hash[STORE_SPKI_HASH], int64_t since,
                                          const char *reason, char *detail);

struct store_stats {
    uint64_t commits;   /* durable transactions */
    uint64_t writes;    /* write functions run */
    uint64_t batch_max; /* largest batch so far */
    uint64_t map_size;  /* bytes of the map (the most the store can hold) */
    uint64_t map_used;  /* bytes of the map in use (last page used times the page size) */
};
void store_stats(struct store *st, struct store_stats *out);

/* ---- pre-signed OCSP responses (ocspdb.c) ---- */

#define STORE_OCSP_DER_MAX (16u * 1024u) /* bytes of one pre-signed response */

enum store_ocsp_hash { STORE_OCSP_SHA1 = 0, STORE_OCSP_SHA256 = 1, STORE_OCSP_NHASH = 2 };

/*
 * The pre-signed answers for one certificate: the same status signed twice, once with a SHA-1
 * CertID and once with a SHA-256 one (a client matches the CertID of its request, hash included).
 * status: 0 good, 1 revoked, 2 unknown (RFC 6960 CertStatus).
 */
struct store_ocsp {
    int64_t this_update; /* seconds since the epoch */
    int64_t next_update;
    int status;
    unsigned char *der[STORE_OCSP_NHASH]; /* owned OCSPResponse DER, indexed by store_ocsp_hash */
    size_t der_len[STORE_OCSP_NHASH];
};
void store_ocsp_free(struct store_ocsp *r);

/* Writes (replacing) the record of (ca, serial) inside a write function. */
enum signet_err store_txn_ocsp_put(struct store_txn *txn, uint32_t ca_id,
                                   const unsigned char *serial, size_t serial_len,
                                   const struct store_ocsp *r, char *detail);
/* The same in its own durable write. */
enum signet_err store_ocsp_put(struct store *st, uint32_t ca_id, const unsigned char *serial,
                               size_t serial_len, const struct store_ocsp *r, char *detail);
/* The record of (ca, serial). SIGNET_E_NOTFOUND (no detail) when there is none. */
enum signet_err store_ocsp_get(struct store *st, uint32_t ca_id, const unsigned char *serial,
                               size_t serial_len, struct store_ocsp **out, char *detail);
/*
 * The web path's read: copies the response for one hash into buf (cap bytes) without allocating,
 * with its times and status. SIGNET_E_NOTFOUND when there is no record; SIGNET_E_USAGE when cap
 * is too small. With buf NULL only the times and status are read.
 */
enum signet_err store_ocsp_read(struct store *st, uint32_t ca_id, const unsigned char *serial,
                                size_t serial_len, enum store_ocsp_hash hash, unsigned char *buf,
                                size_t cap, size_t *out_len, int64_t *this_update,
                                int64_t *next_update, int *status, char *detail);

/* Called per record in serial order (record borrowed, der left NULL); return 0 to stop. */
typedef int (*store_ocsp_cb)(const unsigned char *serial, size_t serial_len,
                             const struct store_ocsp *r, void *arg);
/* Iterates one CA's records (times and status only). */
enum signet_err store_ocsp_iter(struct store *st, uint32_t ca_id, store_ocsp_cb cb, void *arg,
                                char *detail);

/* ---- revocation and CRLs (revocation.c) ---- */

#define STORE_CRL_MAX        ((size_t)1 << 30)   /* bytes of one stored CRL */
#define STORE_CRL_NUMBER_MAX ((uint64_t)1 << 62) /* RFC 5280 5.2.3 allows 20 octets */

/* One entry of the revoked index, as a CRL needs it. */
struct store_revoked {
    unsigned char serial[STORE_SERIAL_MAX]; /* minimal unsigned big-endian octets */
    size_t serial_len;
    int64_t revoked_at;      /* seconds since the epoch */
    int reason;              /* RFC 5280 CRLReason, -1 when none */
    int64_t invalidity_date; /* 0 when not given */
    int64_t not_after;       /* the certificate's notAfter */
};

/*
 * Called per entry in serial order; the entry is borrowed for the call. Returns 0 to stop, 1 to go
 * on (the iterator gives the store map's pages back to the kernel every 16,384 entries, which
 * keeps the resident set small; they stay in the page cache), STORE_ITER_PACED to go on without
 * that, or STORE_ITER_RELEASE to go on once the pages are given back now: a caller that watches
 * its own memory (a CRL build) releases only when it must, since every page visited after a
 * release faults again.
 */
typedef int (*store_revoked_cb)(const struct store_revoked *r, void *arg);
#define STORE_ITER_PACED   2
#define STORE_ITER_RELEASE 3
/*
 * Iterates a CA's revoked index in serial order with one cursor in one read transaction,
 * decoding each value in place (no cert record is read, except for values written before the
 * index carried the not-after). Errors: SIGNET_E_INVALID (a corrupt value), SIGNET_E_STORE.
 */
enum signet_err store_revoked_iter(struct store *st, uint32_t ca_id, store_revoked_cb cb, void *arg,
                                   char *detail);
/* Entries in the revoked index over all CAs (0 on error): a bound for one CA's CRL, in O(1). */
size_t store_revoked_total(struct store *st);
/*
 * Writes (replaces) the revoked index entry of (ca, serial) in its current format, which carries
 * the not-after. Call after store_txn_cert_put of the REVOKED record, in the same write.
 */
enum signet_err store_txn_revoked_put(struct store_txn *txn, uint32_t ca_id,
                                      const struct store_revoked *r, char *detail);

/*
 * CRL streams of the crl database: a CA's full CRL, its delta CRL, and shard K of a sharded CA
 * (STORE_CRL_STREAM_SHARD + K). Full and delta share one number sequence (RFC 5280 5.2.3).
 */
#define STORE_CRL_STREAM_FULL  0u
#define STORE_CRL_STREAM_DELTA 1u
#define STORE_CRL_STREAM_SHARD 256u

/* Receives a stored CRL, borrowed for the call (it may be a view of the map). */
typedef void (*store_crl_cb)(uint64_t number, const unsigned char *der, size_t len, void *arg);
/*
 * The newest CRL of (ca, stream), handed to cb. SIGNET_E_NOTFOUND (no detail) when the stream
 * has none; SIGNET_E_STORE otherwise.
 */
enum signet_err store_crl_latest(struct store *st, uint32_t ca_id, uint32_t stream, store_crl_cb cb,
                                 void *arg, char *detail);
enum signet_err store_txn_crl_latest(struct store_txn *txn, uint32_t ca_id, uint32_t stream,
                                     store_crl_cb cb, void *arg, char *detail);
/*
 * Stores a CRL under (ca, stream, number); a number already stored is SIGNET_E_EXISTS. With
 * keep > 0, older CRLs of the stream beyond the newest keep (this one included) are deleted.
 */
enum signet_err store_txn_crl_put(struct store_txn *txn, uint32_t ca_id, uint32_t stream,
                                  uint64_t number, const unsigned char *der, size_t len,
                                  unsigned keep, char *detail);
/* Fills len bytes at space (inside a write function). 1 = ok. */
typedef int (*store_fill_fn)(unsigned char *space, size_t len, void *arg);
/*
 * Same as store_txn_crl_put, but the value's space is reserved in the store and fill writes the
 * CRL into it (from a file, say), so that a large CRL need not be in memory twice.
 */
enum signet_err store_txn_crl_put_fill(struct store_txn *txn, uint32_t ca_id, uint32_t stream,
                                       uint64_t number, size_t len, unsigned keep,
                                       store_fill_fn fill, void *arg, char *detail);
/*
 * Releases the resident pages of a borrowed view of the store (a CRL handed to store_crl_cb)
 * once the caller has read past them; a range outside the store's map is ignored. Read-only
 * hint: the bytes stay readable.
 */
void store_view_release(struct store *st, const void *p, size_t len);
/*
 * Bumps and persists the CRL number of (ca, counter stream) inside the write: the next number is
 * one above the largest of the persisted counter, the newest stored CRL of the stream and floor.
 * Once the write is durable, *out is never handed out again, whatever happens next.
 */
enum signet_err store_txn_crl_number_next(struct store_txn *txn, uint32_t ca_id, uint32_t stream,
                                          uint64_t floor, uint64_t *out, char *detail);

/* ---- approval queue (request.c) ---- */

#define STORE_REQUEST_ID_LEN      16    /* hex digits of a request id (64 random bits) */
#define STORE_REQUEST_WHO_MAX     128   /* requester and operator names, NUL included */
#define STORE_REQUEST_REASON_MAX  256   /* a rejection reason, NUL included */
#define STORE_REQUEST_PENDING_MAX 10000 /* pending requests at most: then "approval queue full" */

enum store_request_state {
    STORE_REQUEST_PENDING = 1,
    STORE_REQUEST_APPROVED = 2, /* serial "" while the approving operator's issuance runs */
    STORE_REQUEST_REJECTED = 3
};
/* "pending", "approved", "rejected". */
const char *store_request_state_name(enum store_request_state s);

/* A request waiting for (or decided by) an operator: the request database, keyed by its id. */
struct store_request {
    char id[STORE_REQUEST_ID_LEN + 1]; /* lowercase hex; assigned by store_txn_request_add */
    char ca[STORE_NAME_MAX];
    char profile[STORE_NAME_MAX];
    char requester[STORE_REQUEST_WHO_MAX]; /* "client:demo", "cli:uid=0" */
    int64_t submitted;                     /* seconds since the epoch */
    enum store_request_state state;
    char serial[2 * STORE_SERIAL_MAX + 1];  /* approved: the certificate's serial (hex) */
    char reason[STORE_REQUEST_REASON_MAX];  /* rejected: why */
    char decided_by[STORE_REQUEST_WHO_MAX]; /* "" while pending */
    int64_t decided;                        /* 0 while pending */
    unsigned char *csr;                     /* owned: the CSR's DER (at most STORE_DER_MAX) */
    size_t csr_len;
};
void store_request_free(struct store_request *r);

/*
 * Adds r as a new PENDING request with a fresh random id (written to r->id) and submitted time
 * now. Refuses with SIGNET_E_POLICY ("approval queue full") when STORE_REQUEST_PENDING_MAX
 * requests are pending, SIGNET_E_USAGE when a field is out of bounds.
 */
enum signet_err store_txn_request_add(struct store_txn *txn, struct store_request *r, char *detail);
/* Replaces an existing request (a decision). SIGNET_E_NOTFOUND when the id is unknown. */
enum signet_err store_txn_request_put(struct store_txn *txn, const struct store_request *r,
                                      char *detail);
/* One request by id, in a write or a read transaction. SIGNET_E_NOTFOUND when there is none
 * (also for a malformed id, and in a read-only store that has no request database). */
enum signet_err store_txn_request_get(struct store_txn *txn, const char *id,
                                      struct store_request **out, char *detail);
enum signet_err store_request_get(struct store *st, const char *id, struct store_request **out,
                                  char *detail);
/* Called per request (id order); return 0 to stop. The record is borrowed for the call. */
typedef int (*store_request_cb)(const struct store_request *r, void *arg);
/* Iterates the requests; state 0 = all. */
enum signet_err store_request_iter(struct store *st, enum store_request_state state,
                                   store_request_cb cb, void *arg, char *detail);
/* How many requests are pending (kept as a counter beside the queue). */
enum signet_err store_request_pending(struct store *st, uint64_t *out, char *detail);

/* ---- backup (backup.c) ---- */

/*
 * Copies the live store into dest_dir (an existing empty directory) as one compacted data.mdb
 * (mdb_env_copy2, MDB_CP_COMPACT): one read transaction, so writers go on meanwhile and the copy
 * is the store as of its start. Errors: SIGNET_E_EXISTS (dest_dir not empty or missing),
 * SIGNET_E_STORE.
 */
enum signet_err store_backup_copy(struct store *st, const char *dest_dir, char *detail);

/* ---- CRL streams of key generations (revocation.c, ca/crl_prev.c) ---- */
/* The CRL of a CA's key generation K >= 2 (NAME-gK.crl) after a rollover; NAME.crl is FULL. */
#define STORE_CRL_STREAM_GEN 1024u

#endif
