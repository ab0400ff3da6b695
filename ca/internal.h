/* SPDX-License-Identifier: Apache-2.0 */
/* ca: the context's fields and the helpers shared by its source files. */
#ifndef SIGNET_CA_INTERNAL_H
#define SIGNET_CA_INTERNAL_H

#include <openssl/x509.h>
#include <pthread.h>

#include "ca.h"

struct ca_token_ent {
    char *name;   /* [token.NAME] */
    char *module; /* PKCS#11 library */
    char *label;  /* token label */
    char *pin;    /* credential source specification (never the credential itself) */
    char *init_reserved;
    struct hsm_token *tok;               /* NULL until opened */
    enum signet_err failed;              /* sticky failure (a refused PIN is not tried again) */
    char fail_detail[SIGNET_DETAIL_MAX]; /* its message */
};

struct ca_ent {
    char *name;
    char *parent; /* "" for a root */
    char *key_uri;
    char *cert_path; /* resolved */
    char *profiles;  /* as configured */
    char **profile_list;
    char *crl_url;  /* NULL when unset */
    char *ocsp_url; /* NULL when unset */
    int token;      /* index in ctx->tokens, -1 when none matches the URI */
    X509 *cert;     /* NULL until the CA has a certificate */
    uint32_t store_id;
    struct hsm_key *key; /* found on first use */
    EVP_PKEY *evp;       /* token-backed signing key */
};

struct ca_ctx {
    struct sg_conf *conf;
    unsigned flags;
    struct store *st;
    struct policy_set *policies;  /* swapped by ca_reload_policies under policy_lock */
    pthread_rwlock_t policy_lock; /* readers: issuance and lookups; writer: reload */
    char *policies_dir;           /* where the profiles are read from */
    char *public_dir;
    struct ca_token_ent *tokens;
    size_t ntokens;
    struct ca_ent *cas;
    size_t ncas;
    pthread_mutex_t lock;                  /* tokens, keys, throwaway keys */
    EVP_PKEY *throwaway[HSM_KEY_TYPE_MAX]; /* lint keys: same algorithm, never trusted */
};

/* The CA entry named name, or NULL. */
struct ca_ent *ca_ent_find(struct ca_ctx *ctx, const char *name);
/*
 * The CA's token-backed key, found and checked against its certificate on first use (under
 * the lock). Borrowed.
 */
enum signet_err ca_ent_key(struct ca_ctx *ctx, struct ca_ent *ca, EVP_PKEY **out, char *detail);
/* Same, the hsm_key (for CSRs and public-key comparison). */
enum signet_err ca_ent_hsm_key(struct ca_ctx *ctx, struct ca_ent *ca, struct hsm_key **out,
                               char *detail);
/* The percent-decoded value of attr ("token", "object") in a pkcs11: URI ("" when none). */
void ca_uri_attr(const char *uri, const char *attr, char *out, size_t cap);
/* The digest to sign with for a key (NULL for Ed25519). */
const EVP_MD *ca_sign_md(EVP_PKEY *key);

/* Builds, signs and verifies a CA certificate (self-signed when issuer is NULL). */
struct ca_cert_params {
    const X509_NAME *subject;
    EVP_PKEY *subject_pub;
    X509 *issuer;       /* NULL: self-signed */
    EVP_PKEY *sign_key; /* the issuer's (or own) token key */
    int64_t days;
    int pathlen; /* -1 none */
};
enum signet_err ca_build_ca_cert(const struct ca_cert_params *cp, X509 **out, char *detail);

/*
 * Generates a configured CA's key on its token and certifies it: self-signed without a parent,
 * by the parent when its key can be used now, else a CSR to csr_out. Records it.
 */
enum signet_err ca_make(struct ca_ctx *ctx, struct ca_ent *ca, enum hsm_key_type type,
                        const X509_NAME *subject, int64_t days, int pathlen, const char *csr_out,
                        enum ca_create_result *res, char *detail);

/* Fresh serial: 16 bytes, top bit clear, first octet nonzero (127 random bits). */
int ca_new_serial(unsigned char serial[16]);
/* SKI per RFC 5280 4.2.1.2 method 1 (SHA-1 of the subjectPublicKey bits). 1 = ok. */
int ca_add_ski_aki(X509 *cert, X509 *issuer);

/* Parses "CN=a,O=b" or "/CN=a/O=b" into a name. NULL on error. */
X509_NAME *ca_parse_dn(const char *dn);

/* Writes a certificate as PEM to path (0644, atomically). */
enum signet_err ca_write_cert(const char *path, X509 *cert, char *detail);
/* Stores the CA record (creating it when new) with its certificate. */
enum signet_err ca_store_ca(struct ca_ctx *ctx, struct ca_ent *ca, char *detail);
/* Appends an audit entry in its own durable write. */
enum signet_err ca_audit(struct ca_ctx *ctx, const char *actor, const char *action,
                         const char *object, char *detail);

/* Reads a certificate file (PEM or DER). NULL with detail on failure. */
X509 *ca_load_cert_file(const char *path, char *detail);

/* ---- lint before sign (ca/lint.c) ---------------------------------------------------------- */

#define CA_LINT_FINDINGS_MAX 32 /* findings kept per certificate; more are only counted */
#define CA_LINT_MSG_MAX      256

struct ca_lint_finding {
    const char *lint;          /* the lint's stable name ("serial_length"); static */
    char msg[CA_LINT_MSG_MAX]; /* cites its standard: "RFC 5280 4.1.2.2: serial longer than ..." */
};

struct ca_lint_result {
    size_t n;       /* findings kept in f */
    size_t dropped; /* findings beyond CA_LINT_FINDINGS_MAX */
    struct ca_lint_finding f[CA_LINT_FINDINGS_MAX];
};

struct ca_lint_info {
    const char *name;   /* stable name */
    const char *source; /* the standard it comes from ("RFC 5280 4.1.2.2") */
    const char *what;   /* one line: what it checks */
};

/* The number of lints and their descriptions, in the order they run. */
size_t ca_lint_count(void);
const struct ca_lint_info *ca_lint_at(size_t i);

/*
 * Runs every lint over a certificate (DER, signed with a throwaway key of the issuer's type)
 * and the issuer's certificate. Reads the DER itself (nothing trusts OpenSSL's re-encoding), so
 * a certificate OpenSSL would refuse still gets the findings that say why. Fills *out and
 * returns the number of findings (0 = clean).
 */
size_t ca_lint_cert(const unsigned char *der, size_t len, X509 *issuer, struct ca_lint_result *out);

/* ---- shared by issuance, CRLs and ceremonies (issue.c) ---- */

/*
 * A throwaway key with the same signature algorithm as pub, made once per context (borrowed):
 * every TBS is signed with it and linted before the token signs the same bytes.
 */
EVP_PKEY *ca_throwaway_key(struct ca_ctx *ctx, EVP_PKEY *pub);
/* CDP and AIA (OCSP) from the CA's configuration, when set. 1 = ok. */
int ca_add_urls(X509 *x, const struct ca_ent *ca);

/* ---- offline root: quorum shares and ceremonies (quorum.c, ceremony*.c, tokens.c) ---- */

#define CA_ROOT_ID_LEN       32 /* SHA-256: names the root a share belongs to */
#define CA_QUORUM_SECRET_LEN 64 /* random bytes split into shares: user PIN half, SO PIN half */
#define CA_SHARE_FILE_MAX    4096
#define CA_SHARES_MAX        16

/* The [token.NAME] entry by section name or label, or NULL. */
struct ca_token_ent *ca_token_ent_find(struct ca_ctx *ctx, const char *name);
/* 1 when the token's credential is "quorum" (offline: activated only in a ceremony). */
int ca_token_is_quorum(const struct ca_token_ent *t);
/*
 * signetd's start-up check: refuses (SIGNET_E_CONFIG) a CA whose key is on an offline token
 * (pin = quorum) when one of its profiles is served to a [client.*] (its online set).
 */
enum signet_err ca_offline_check(struct ca_ctx *ctx, char *detail);
/* Opens t with a credential from quorum activation; takes ownership of pin on every path. */
enum signet_err ca_token_open_with(struct ca_ctx *ctx, struct ca_token_ent *t, struct secret *pin,
                                   char *detail);

/* What a share file says about itself before it is unsealed (all of it authenticated). */
struct ca_share_hdr {
    unsigned index, m, n;                  /* x coordinate (1..n), threshold, share count */
    unsigned log2n, r, p;                  /* scrypt cost */
    unsigned char root_id[CA_ROOT_ID_LEN]; /* the root this share activates */
    unsigned char check[32];               /* SHA-256 commitment to the combined secret */
};

/* SHA-256("signet root id v1" || label || 0 || serial): the identity shares are bound to. */
int ca_root_id(const char *label, const char *serial, unsigned char out[CA_ROOT_ID_LEN]);
/*
 * Splits secret (CA_QUORUM_SECRET_LEN bytes) into n shares, threshold m, with libgfshare, and
 * seals share i under pass[i] (scrypt 2^log2n, r 8, p 1; AES-256-GCM, the header as AAD).
 * out_files[i] is a PEM-armoured share file the caller frees; out_lens its length.
 */
enum signet_err ca_quorum_split_seal(const struct secret *secret,
                                     const unsigned char root_id[CA_ROOT_ID_LEN], unsigned m,
                                     unsigned n, struct secret *const *pass, unsigned log2n,
                                     char **out_files, size_t *out_lens, char *detail);
/* Parses a share file's header without unsealing it. 1 = ok. */
int ca_share_parse(const char *file, size_t len, struct ca_share_hdr *out);
/*
 * Unseals one share. SIGNET_E_PIN: the passphrase is wrong; SIGNET_E_INVALID: the share was
 * altered (the tag does not verify). *out holds the share bytes in locked memory.
 */
enum signet_err ca_share_unseal(const char *file, size_t len, const struct secret *pass,
                                struct secret **out, char *detail);

/* One share given to a ceremony: its file's bytes, its name for messages, its passphrase. */
struct ca_share_in {
    const char *name;
    const char *file;
    size_t len;
    struct secret *pass; /* borrowed; NULL until loaded */
};
/*
 * Reads the n share files of src into in (name, file bytes; passphrases are loaded later, only
 * for shares that will be used); with hdr, also parses each header, refusing a file that is not
 * a share. The caller frees every in[i].file, including after an error.
 */
enum signet_err ca_shares_read(const struct ca_share_src *src, size_t n, struct ca_share_in *in,
                               struct ca_share_hdr *hdr, char *detail);
/*
 * Checks headers (root, duplicates counted once, at least m distinct) without unsealing: the
 * indexes of distinct usable shares are marked in use[] (1 per share given). Returns
 * SIGNET_E_FORBIDDEN (another root), SIGNET_E_INVALID (not a share), SIGNET_E_PIN (too few).
 */
enum signet_err ca_quorum_check(const unsigned char root_id[CA_ROOT_ID_LEN],
                                const struct ca_share_in *in, size_t n, int *use, char *detail);
/* Unseals the shares marked in use, combines them and checks the commitment. */
enum signet_err ca_quorum_combine(const struct ca_share_in *in, size_t n, const int *use,
                                  struct secret **out, char *detail);
/* The user PIN (hex of the first half) of a combined secret. NULL on ENOMEM. */
struct secret *ca_quorum_user_pin(const struct secret *combined);
struct secret *ca_quorum_so_pin(const struct secret *combined);

/* ---- approval queue (request.c) ---- */

/*
 * Queues a request that policy allows but whose profile needs an operator (called by ca_issue
 * under the policy lock): the CSR's DER, CA, profile and requester go into the request database
 * with a fresh id (written to out_id, STORE_REQUEST_ID_LEN + 1 bytes), audited as
 * "request.queue". Returns SIGNET_E_QUEUED with detail naming the id, or the store's error
 * (SIGNET_E_POLICY when the queue is full).
 */
enum signet_err ca_request_queue(struct ca_ctx *ctx, const char *ca, const char *profile,
                                 const char *requester, const struct policy_csr *csr, char *out_id,
                                 char *detail);

/* ---- CRLs (crl.c) ---- */

/*
 * Test hook: when set to 1, ca_crl_generate fails with SIGNET_E_INTERNAL right after the CRL
 * number is persisted and before anything is published (a crash between the two).
 */
void ca_crl_test_fail_after_number(int on);

/* ---- online token unlocked by shares; CA-set reload (unlock.c, tokens.c, ctx.c) ---- */

#define CA_UNLOCK_PIN_MAX (CA_QUORUM_SECRET_LEN - 2) /* bytes of an online PIN split in shares */

/* 1 when the token's credential is "shares" (online; given as shares when signetd starts). */
int ca_token_is_shares(const struct ca_token_ent *t);
/* The identity shares of t are bound to (label and serial number, no login). */
enum signet_err ca_token_share_id(const struct ca_token_ent *t, unsigned char id[CA_ROOT_ID_LEN],
                                  char *detail);
/* 1 when the [client.*] sections of conf let some client use profile. */
int ca_conf_profile_served(const struct sg_conf *conf, const char *profile);

/* ---- backup archive and key wrapping (backup_arc.c, backup_keys.c) ---- */

#define CA_BK_WRAPPED_MAX 8192               /* bytes of one wrapped private key */
#define CA_BK_NAME_MAX    255                /* bytes of a part name */
#define CA_BK_PARTS_MAX   100000             /* parts in one archive */
#define CA_BK_SIZE_MAX    ((size_t)2 << 30)  /* bytes of a whole archive (2 GiB) */
#define CA_BK_MAGIC       "SIGNET-BACKUP-v1" /* first 16 bytes of the inner archive */

/* One key to back up: which, and (after ca_bk_wrap) its wrapped bytes. */
struct ca_bk_key {
    char label[128];        /* CKA_LABEL of the private key */
    int extractable;        /* 0: not marked for backup, nothing wrapped */
    unsigned char *wrapped; /* CKM_AES_KEY_WRAP_PAD output under the KEK (owned) */
    size_t wrapped_len;
};
/* The token's KEK wrapped (RSA-OAEP) to one recipient; blob NULL for a non-RSA recipient. */
struct ca_bk_kek {
    unsigned char *blob;
    size_t len;
};

/*
 * Makes the token's trusted, extractable backup KEK (signet-backup-kek) in an SO login; the
 * process must not be logged in to the token as the user. replace: destroy an existing one.
 */
enum signet_err ca_bk_kek_init(const struct ca_token_ent *t, const struct secret *so_pin,
                               int replace, char *detail);
/*
 * Wraps keys (labels set) on token t under its KEK in the user's login; a key that is not
 * extractable gets extractable = 0. keks[r] receives the KEK wrapped to recips[r] (RSA only).
 */
enum signet_err ca_bk_wrap(struct ca_ctx *ctx, struct ca_token_ent *t, struct ca_bk_key *keys,
                           size_t n, EVP_PKEY *const *recips, size_t nrecips,
                           struct ca_bk_kek *keks, char *detail);
/* Recovers the KEK with rkey into token t and unwraps the extractable keys (proved by pubs). */
enum signet_err ca_bk_unwrap(struct ca_ctx *ctx, struct ca_token_ent *t, EVP_PKEY *rkey,
                             const unsigned char *kek_blob, size_t kek_len,
                             const struct ca_bk_key *keys, EVP_PKEY *const *pubs, size_t n,
                             char *detail);
void ca_bk_keys_free(struct ca_bk_key *keys, size_t n);

/* The archive in memory: named parts (the manifest is made by ca_bk_serialize). */
struct ca_bk_part {
    char *name;
    unsigned char *data;
    size_t len;
};
struct ca_bk_arc {
    struct ca_bk_part *p;
    size_t n, cap;
    size_t bytes; /* sum of the parts' lengths */
};
/* Adds a copy of data under name (refuses a bad or duplicate name). 1 = ok. */
int ca_bk_add(struct ca_bk_arc *a, const char *name, const void *data, size_t len);
const struct ca_bk_part *ca_bk_get(const struct ca_bk_arc *a, const char *name);
void ca_bk_arc_free(struct ca_bk_arc *a);
/* Magic, MANIFEST (SHA-256, length and name of every part), then the parts. */
enum signet_err ca_bk_serialize(const struct ca_bk_arc *a, unsigned char **out, size_t *out_len,
                                char *detail);
/* Parses and checks bounds, the manifest and every hash. */
enum signet_err ca_bk_parse(const unsigned char *buf, size_t len, struct ca_bk_arc *out,
                            char *detail);
/* CMS SignedData by (signer, key), then EnvelopedData (AES-256-CBC) to recips; DER. */
enum signet_err ca_bk_seal(const unsigned char *plain, size_t len, X509 *signer, EVP_PKEY *key,
                           STACK_OF(X509) * recips, unsigned char **out, size_t *out_len,
                           char *detail);
/*
 * Decrypts with (rkey, rcert) and verifies the signature with trusted (the pinned backup signer;
 * NULL: the certificate in the backup, reported through *embedded = 1). *plain is the archive.
 */
enum signet_err ca_bk_open(const unsigned char *in, size_t len, EVP_PKEY *rkey, X509 *rcert,
                           X509 *trusted, unsigned char **plain, size_t *plain_len, int *embedded,
                           char *detail);

/* The archive part holding token's KEK for recipient ("keys/TOKEN.kek.FP"). 1 = ok. */
int ca_bk_kek_name(const char *token, EVP_PKEY *recipient, char *out, size_t cap);
/* Reads, decrypts, verifies and parses a backup file (backup_verify.c); *rkey_out (may be NULL)
 * receives the recipient key. */
enum signet_err ca_bk_load(const char *file, const struct ca_backup_keys *k,
                           const struct sg_conf *conf, struct ca_bk_arc *arc, int *embedded,
                           EVP_PKEY **rkey_out, char *detail);
/* Writes the archive's store copy into a fresh temporary directory (dir, cap >= 32). */
enum signet_err ca_bk_store_tmp(const struct ca_bk_arc *a, char *dir, size_t cap, char *detail);
void ca_bk_store_tmp_rm(const char *dir);
/* Opens the store copy: counts, audit chain, and (check_keys) every CA's key. */
enum signet_err ca_bk_summarize(struct ca_ctx *ctx, const struct ca_bk_arc *a,
                                struct ca_backup_summary *sum, int check_keys, char *detail);

/* ---- CRLs of the previous key generation (crl_prev.c) ---- */
#define CA_CRL_GEN_MAX 999 /* NAME-g999.crl */
struct crl_params;
struct crl_stats;
/* Generation of a CRL URL for CA name: 1 for .../NAME.crl, K for .../NAME-gK.crl, 0 other. */
unsigned ca_crl_url_gen(const char *name, const char *url);
/* The crl database stream of generation K (FULL for 0 and 1, STORE_CRL_STREAM_GEN + K). */
uint32_t ca_crl_gen_stream(unsigned gen);
/* The file-name suffix of generation K: "" or "-gK". 1 = it fits. */
int ca_crl_gen_suffix(unsigned gen, char *out, size_t cap);
/*
 * The previous generation's CRL (p: its issuer bytes, keyid, URL, number, times): the unexpired
 * revoked certificates whose AKI is prev's SKI in serial order, signed with throwaway, linted,
 * signed by key (the previous key) and verified with prev. *out (OPENSSL_free) on success.
 */
enum signet_err ca_crl_prev_sign(struct store *st, uint32_t ca_id, const struct crl_params *p,
                                 X509 *prev, struct hsm_key *key, EVP_PKEY *throwaway,
                                 unsigned char **out, size_t *out_len, struct crl_stats *stats,
                                 char *detail);

/* ---- CRL internals shared by crl.c and crl_sched.c ---- */

/*
 * What the scheduler needs of a CA's CRLs: its regeneration delay ([ca.NAME] crl_delay), and
 * the thisUpdate and nextUpdate of the newest CRL stored for the stream it serves (both 0 when
 * there is none). SIGNET_E_CONFIG for a bad [ca.NAME] CRL setting.
 */
enum signet_err ca_crl_sched_plan(struct ca_ctx *ctx, const struct ca_ent *ca, int64_t *delay,
                                  int64_t *this_update, int64_t *next_update, char *detail);

#endif
