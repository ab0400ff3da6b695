/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ca: the CA registry (signet.conf [ca.NAME] sections joined with the store's ca records), the
 * tokens of [token.NAME] sections, the issuance pipeline of DESIGN.md, and the operator's
 * set-up operations (demo PKI, key generation, subordinate CAs, certificate import).
 *
 * Both programs call this: signetd opens a context with CA_OPEN_LOGIN_ONLINE and issues through
 * ca_issue; the operator tool `signet` drives the rest. Nothing here knows HTTP.
 *
 * A context is safe to use from several threads for ca_issue, ca_health and the reads.
 */
#ifndef SIGNET_CA_H
#define SIGNET_CA_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "hsmbind.h"
#include "policy.h"
#include "store.h"

#define CA_CSR_MAX  (64u * 1024u) /* bytes: a larger CSR is refused before parsing */
#define CA_NAME_MAX 64            /* CA, token and profile names */

struct ca_ctx;

enum ca_open_flag {
    /*
     * Log in at open to every token of signet.conf that online CAs use: every [token.NAME]
     * except [token.root] and except any whose pin is "quorum". The root token is never opened
     * this way (signetd). Without this flag tokens are opened on first use.
     */
    CA_OPEN_LOGIN_ONLINE = 1u << 0,
    /* Open the store read-only (listing commands); writes then fail with SIGNET_E_STORE. */
    CA_OPEN_READ_ONLY = 1u << 1,
};

/*
 * Reads signet.conf at conf_path ([signet] store, policies, public, softhsm2_conf; [token.*];
 * [ca.*]), sets SOFTHSM2_CONF from softhsm2_conf (resolved against the configuration's
 * directory) before any module is loaded, compiles every profile of the policies directory
 * (a broken profile is refused with file:line), opens the store, and joins each [ca.NAME]
 * with its store record (creating the record when the CA's certificate exists and the store is
 * writable). PENDING records left by an interrupted issuance are kept: they are treated as
 * possibly issued and their serials are never reused; the count is logged.
 * Errors: SIGNET_E_CONFIG, SIGNET_E_NOTFOUND (no such file), SIGNET_E_STORE, SIGNET_E_PIN and
 * SIGNET_E_HSM* (with CA_OPEN_LOGIN_ONLINE). On success *out is owned by the caller.
 */
enum signet_err ca_ctx_open(const char *conf_path, unsigned flags, struct ca_ctx **out,
                            char *detail);
/* Frees keys, tokens (wiping credentials), the store and the configuration. NULL-safe. */
void ca_ctx_free(struct ca_ctx *ctx);
/* The loaded configuration (for [daemon] and [client.*]). Borrowed; lives as long as ctx. */
struct sg_conf *ca_ctx_conf(const struct ca_ctx *ctx);
/* The open store. Borrowed. */
struct store *ca_ctx_store(const struct ca_ctx *ctx);
/* The compiled profiles. Borrowed; valid until the next ca_reload_policies. */
const struct policy_set *ca_ctx_policies(const struct ca_ctx *ctx);

/*
 * Reloads the profiles (signetd's SIGHUP): the policies directory is compiled into a new set,
 * which replaces the old one only when every profile compiles and every CA's profiles are in it;
 * otherwise the profiles in force stay in force and detail says why (file:line). Issuances in
 * flight finish under the set they started with.
 */
enum signet_err ca_reload_policies(struct ca_ctx *ctx, char *detail);
/*
 * 1 when the profile exists and its clients rule lets client (a [client.NAME] name) use it.
 * The daemon checks this beside the client's own profiles list.
 */
int ca_profile_allows_client(struct ca_ctx *ctx, const char *profile, const char *client);

/*
 * Health: every token opened so far answers hsm_token_probe and the store is readable.
 * Returns SIGNET_OK, or the first error with every failing part named in detail ("token
 * signet-online: ...; store: ...").
 */
enum signet_err ca_health(struct ca_ctx *ctx, char *detail);

/* ---- registry ---- */

struct ca_info {
    char name[CA_NAME_MAX];
    char parent[CA_NAME_MAX]; /* "" for a root */
    char key_uri[512];
    char token[CA_NAME_MAX]; /* the [token.NAME] holding the key, "" when none matches */
    char profiles[512];      /* as configured, comma-separated */
    char subject[256];       /* one-line subject of its certificate, "" when none yet */
    int64_t not_before;      /* 0 when no certificate yet */
    int64_t not_after;
    uint32_t store_id; /* 0 when the store has no record */
    int has_cert;
};

/* The CAs of signet.conf in name order. Caller frees *out with free(). */
enum signet_err ca_list(struct ca_ctx *ctx, struct ca_info **out, size_t *out_n, char *detail);
/* 1 when the CA exists and lists the profile in its profiles key. */
int ca_profile_allowed(struct ca_ctx *ctx, const char *ca, const char *profile);
/*
 * The CA's certificate as PEM; with chain, followed by its parents' up to the root.
 * Caller frees *out. Errors: SIGNET_E_NOTFOUND.
 */
enum signet_err ca_cert_pem(struct ca_ctx *ctx, const char *ca, int chain, char **out,
                            char *detail);

/*
 * Opens (once) the token of a [token.NAME] section, matched by section name or by token label,
 * loading its credential. A refused PIN is tried exactly once and then reported with
 * SIGNET_E_PIN; later calls repeat that error without trying again. Borrowed.
 */
enum signet_err ca_token(struct ca_ctx *ctx, const char *name, struct hsm_token **out,
                         char *detail);

/* ---- issuance ---- */

struct ca_issue_request {
    const unsigned char *csr; /* PEM or DER, at most CA_CSR_MAX bytes */
    size_t csr_len;
    const char *ca;        /* CA name */
    const char *profile;   /* profile name; the CA must list it */
    const char *requester; /* who asked ("cli:uid", "client:demo"), recorded and audited */
};

struct ca_issued {
    char ca[CA_NAME_MAX];
    char serial[2 * STORE_SERIAL_MAX + 1]; /* lowercase hex */
    unsigned char *der;                    /* the certificate; owned */
    size_t der_len;
    int64_t not_after;
};
void ca_issued_free(struct ca_issued *r);

/*
 * The issuance pipeline (DESIGN.md): the CSR is size-bounded, parsed and its self-signature
 * verified (proof of possession); its key is checked against the profile; the profile decides
 * subject and SANs; the TBS gets a random positive serial (127 random bits), validity from the
 * profile clamped to the issuer's notAfter, AKI/SKI, CDP/AIA from the CA's configuration and the
 * profile's extension section only (nothing from the CSR's requested extensions); PENDING is
 * recorded durably, the certificate is signed on the token and verified with the issuer's
 * public key, ISSUED is recorded durably. A refused request writes nothing. A failure after
 * PENDING leaves the PENDING record (possibly issued).
 * Errors: SIGNET_E_BADCSR, SIGNET_E_BADKEY (also a key in the blocked-key table),
 * SIGNET_E_POLICY (also a manual-approval profile, an issuer pathLen with no room),
 * SIGNET_E_LINT (a finding on the TBS: nothing stored), SIGNET_E_NOTFOUND (CA, profile),
 * SIGNET_E_CONFIG, SIGNET_E_PIN, SIGNET_E_HSM*, SIGNET_E_STORE*, SIGNET_E_CRYPTO.
 */
enum signet_err ca_issue(struct ca_ctx *ctx, const struct ca_issue_request *req,
                         struct ca_issued **out, char *detail);

/* Reads a CSR file (PEM or DER), refusing one larger than CA_CSR_MAX. Caller frees *out. */
enum signet_err ca_read_csr_file(const char *path, unsigned char **out, size_t *out_len,
                                 char *detail);

/* ---- certificates ---- */

/* Iterates a CA's certificate records in serial order; state 0 = all. */
enum signet_err ca_cert_iter(struct ca_ctx *ctx, const char *ca, enum store_cert_state state,
                             store_cert_cb cb, void *arg, char *detail);
/* One record by hex serial. Caller frees *out with store_cert_free. */
enum signet_err ca_cert_get(struct ca_ctx *ctx, const char *ca, const char *serial_hex,
                            struct store_cert **out, char *detail);

/* ---- set-up (operator tool) ---- */

/*
 * Creates the demo PKI of SPEC.md in dir (created when missing; refused when it already holds
 * a PKI): SoftHSM2 configuration and tokens signet-root and signet-online with random PINs and
 * SO PINs (0600 files, never argv), signet.conf, the four profiles, a demo bearer token, the
 * store, a self-signed ec:P-384 root (10 years) and issuing-1 (ec:P-256 on signet-online,
 * 5 years, pathLen 0) signed by the root, and public/{root.crt,issuing-1.crt,chain.pem,crl/}.
 */
enum signet_err ca_demo_init(const char *dir, char *detail);

/* Generates a key on a token (sensitive, never extractable). Writes its URI to uri_out. */
enum signet_err ca_keygen(struct ca_ctx *ctx, const char *token, const char *label,
                          enum hsm_key_type type, char *uri_out, size_t uri_cap, char *detail);

struct ca_create_opts {
    const char *name;     /* new CA's name: [ca.NAME] and the key's label */
    const char *parent;   /* issuing CA; NULL or "" for a self-signed root */
    const char *token;    /* [token.NAME] or label for the new key */
    const char *type;     /* key type, e.g. "ec:P-256" */
    const char *subject;  /* "CN=Issuing 2,O=Example" or "/CN=Issuing 2/O=Example" */
    const char *csr_out;  /* where to write the CSR when the parent cannot sign now */
    int64_t days;         /* validity; 0 = 10 years for a root, 5 years otherwise */
    int pathlen;          /* pathLenConstraint; -1 = none */
    const char *profiles; /* profiles it may issue; NULL = "tls-server, tls-client" */
};

enum ca_create_result { CA_CREATED_SIGNED = 1, CA_CREATED_CSR = 2 };

/*
 * Creates a CA: appends its [ca.NAME] section to signet.conf, generates its key on the token,
 * then either signs its certificate with the parent (when the parent's token can be used now)
 * or writes a CSR for a ceremony to csr_out. *out_result says which.
 */
enum signet_err ca_create(struct ca_ctx *ctx, const struct ca_create_opts *opts,
                          enum ca_create_result *out_result, char *detail);

/*
 * Imports a CA's certificate (PEM or DER) after checking that its public key equals the CA's
 * token key; writes it where [ca.NAME] cert points and into the store.
 */
enum signet_err ca_import_cert(struct ca_ctx *ctx, const char *name, const char *cert_path,
                               char *detail);

/* ---- approval queue (request.c) ---- */

struct ca_issue_opts {
    int approved;                             /* 1: an operator approved it (no queueing) */
    char queued_id[STORE_REQUEST_ID_LEN + 1]; /* out: the request's id on SIGNET_E_QUEUED */
};

/*
 * ca_issue with options (opts NULL = ca_issue). When the profile says approval = manual and
 * opts->approved is 0, a request that every check allows (CSR, proof of possession, key
 * quality, blocked keys, subject and SANs, issuer rules) is not issued but queued: the call
 * returns SIGNET_E_QUEUED, opts->queued_id holds the request's id and detail names it and the
 * command that approves it. Nothing is signed or recorded in the certificate database then.
 */
enum signet_err ca_issue_ex(struct ca_ctx *ctx, const struct ca_issue_request *req,
                            struct ca_issue_opts *opts, struct ca_issued **out, char *detail);

/* One request by id. Caller frees *out with store_request_free. SIGNET_E_NOTFOUND if none. */
enum signet_err ca_request_get(struct ca_ctx *ctx, const char *id, struct store_request **out,
                               char *detail);
/* Iterates the requests of one CA (ca NULL = all) in a state (0 = all), in id order. */
enum signet_err ca_request_iter(struct ca_ctx *ctx, const char *ca, enum store_request_state state,
                                store_request_cb cb, void *arg, char *detail);
/*
 * Approves a pending request: claims it (so that two operators cannot both issue it), checks the
 * stored CSR again against the profiles in force now (and the profile's clients rule for a
 * client's request), issues through the normal pipeline and marks it approved with the serial;
 * audited as "request.approve" by operator ("cli:uid=0"). If issuance fails the request is
 * pending again and the error is returned. *out is the certificate (ca_issued_free).
 * Errors: SIGNET_E_NOTFOUND (no such id), SIGNET_E_EXISTS (already decided), ca_issue's.
 */
enum signet_err ca_request_approve(struct ca_ctx *ctx, const char *id, const char *operator_name,
                                   struct ca_issued **out, char *detail);
/*
 * Rejects a pending request with a reason (1..STORE_REQUEST_REASON_MAX-1 bytes, printable);
 * audited as "request.reject". Errors: SIGNET_E_NOTFOUND, SIGNET_E_EXISTS (already decided),
 * SIGNET_E_USAGE (reason).
 */
enum signet_err ca_request_reject(struct ca_ctx *ctx, const char *id, const char *operator_name,
                                  const char *reason, char *detail);

/* ---- offline root: quorum activation, ceremonies, audit (quorum.c, ceremony*.c) ---- */

/* One custodian's share: the sealed file and where its passphrase comes from. */
struct ca_share_src {
    const char *path; /* share file */
    const char *pass; /* passphrase file (0600), or NULL to ask on the terminal */
};

/*
 * Activates an offline token (pin = quorum): reads the share files, refuses shares of another
 * root (by the token's identity, read without logging in), counts a share given twice once,
 * refuses fewer than M distinct shares, then unseals each (a wrong passphrase and an altered
 * share are told apart), combines them, checks the result against the shares' commitment and
 * only then logs in. The combined credential stays in locked memory, owned by the token.
 * out_indexes (may be NULL) receives the share indexes used ("1,3").
 * Errors: SIGNET_E_PIN (too few, wrong passphrase, refused by the token), SIGNET_E_FORBIDDEN
 * (another root), SIGNET_E_INVALID (altered or not a share), SIGNET_E_NOTFOUND, SIGNET_E_IO.
 */
enum signet_err ca_quorum_activate(struct ca_ctx *ctx, const char *token,
                                   const struct ca_share_src *src, size_t n, char *out_indexes,
                                   size_t cap, char *detail);

struct ca_root_init_opts {
    const char *name;       /* [ca.NAME] of the root (must exist in signet.conf) */
    const char *token;      /* [token.NAME] with pin = quorum; the token must not exist yet */
    const char *subject;    /* "CN=Root,O=Example" */
    const char *type;       /* key type */
    int64_t days;           /* validity; 0 = 10 years */
    unsigned m, n;          /* quorum */
    const char *shares_dir; /* share-I.share written here (0600) */
    const char *pass_dir;   /* share-I.pass read from here; NULL: asked on the terminal */
    int random_pass;        /* demo only: random passphrases written as shares_dir/share-I.pass */
    unsigned log2n;         /* scrypt cost; 0 = 2^16 (64 MiB) */
};

/*
 * `signet root init`: a random credential (user PIN and SO PIN) made in locked memory, the
 * token initialised with it, the credential split M of N and sealed per custodian, then the root
 * key generated on the token and its self-signed certificate made and recorded. The credential
 * is never shown or written in clear.
 */
enum signet_err ca_root_init(struct ca_ctx *ctx, const struct ca_root_init_opts *o, char *detail);

struct ca_ceremony_opts {
    const char *file;     /* ceremony file (OpenSSL config syntax) */
    int dry_run;          /* no shares; plan written to plan_out */
    const char *plan_out; /* dry run: where the plan goes (NULL: not written) */
    const char *plan_in;  /* real run: sign exactly this plan's TBS */
    const struct ca_share_src *shares;
    size_t nshares;
};

struct ca_ceremony_result {
    char operation[32];
    char tbs_sha256[65]; /* hex SHA-256 of the TBS signed (or to be signed) */
    char serial[41];
    char not_before[32], not_after[32]; /* the validity signed */
    char subject[256];                  /* the subject certified (one line) */
    char out[512];                      /* file written ("" for a dry run) */
    char out_sha256[65];                /* SHA-256 of the DER written */
    char shares[64];                    /* indexes used ("1,3") */
};

/*
 * Runs one ceremony (docs/ceremonies.md). Refuses unknown keys in the file, a profile that would
 * make a CA certificate without keyCertSign, a plan made from another ceremony file; writes
 * nothing on a refusal. A real run appends a transcript to the audit chain, signed by the key
 * used. Errors: SIGNET_E_USAGE, SIGNET_E_CONFIG, SIGNET_E_POLICY, SIGNET_E_LINT, SIGNET_E_PIN,
 * SIGNET_E_FORBIDDEN, SIGNET_E_INVALID, SIGNET_E_HSM*, SIGNET_E_IO.
 */
enum signet_err ca_ceremony_run(struct ca_ctx *ctx, const struct ca_ceremony_opts *o,
                                struct ca_ceremony_result *out, char *detail);

/*
 * Checks the audit chain (store_audit_verify) and every ceremony transcript's signature against
 * the certificate of the CA that signed it. *out_entries and *out_transcripts count them.
 */
enum signet_err ca_audit_verify(struct ca_ctx *ctx, uint64_t *out_entries, size_t *out_transcripts,
                                char *detail);

/* ---- OCSP responder (ocsp.c) ---- */

/*
 * Delegated OCSP responders and pre-signed responses (docs/ocsp.md). Every online CA (a parent,
 * a key on a token signetd logs in to: never the root) gets a responder key "<ca>-ocsp" on its
 * token and a short-lived certificate from the CA (EKU id-kp-OCSPSigning only, ocsp-nocheck),
 * kept in store meta "ocsp.responder.<ca>" and public/<ca>-ocsp.crt, renewed at half-life.
 * [ca.NAME] keys: ocsp_validity (8h..10d, default 1d), ocsp_responder_days (1..30, default 4),
 * ocsp_key_type (default ec:P-256), ocsp_nonce (yes/no, default no), ocsp_nonce_rate (live
 * responses per second, default 20).
 */
struct ca_ocsp_stats {
    uint64_t responders;     /* CAs with a responder certificate */
    uint64_t signed_total;   /* responses signed (each counts both CertID hashes once) */
    uint64_t sign_failures;  /* responses that could not be signed or stored */
    uint64_t overdue;        /* past half their validity and not refreshed (last pass) */
    uint64_t stale;          /* past nextUpdate (last pass): the web answers tryLater */
    uint64_t missing;        /* issued or revoked certificates with no response (last pass) */
    uint64_t queue_len;      /* (ca, serial) waiting to be signed */
    uint64_t queue_dropped;  /* enqueues dropped on a full queue (the next pass covers them) */
    uint64_t live_signed;    /* live nonce responses signed */
    uint64_t live_refused;   /* live requests refused by the rate limit */
    int64_t last_pass;       /* end of the last full pass, 0 before the first */
    int64_t responder_until; /* earliest responder notAfter, 0 when none */
};

/*
 * Starts the refresher thread of the ca process: sets up the responders (issuing or renewing
 * their certificates), then signs what is queued, re-signs responses at half their validity,
 * signs any issued or revoked certificate without a response and renews responders. Refuses a
 * bad ocsp_* key with SIGNET_E_CONFIG. Call once after ca_ctx_open (CA_OPEN_LOGIN_ONLINE).
 */
enum signet_err ca_ocsp_start(struct ca_ctx *ctx, char *detail);
/* Stops the thread and frees the responder keys. Call before ca_ctx_free. NULL-safe, idempotent. */
void ca_ocsp_stop(struct ca_ctx *ctx);
/*
 * Asks for the response of (ca, serial hex) to be signed soon (after issuance and revocation).
 * Cheap and never blocks on the HSM; a no-op before ca_ocsp_start or for a CA with no responder.
 */
void ca_ocsp_enqueue(struct ca_ctx *ctx, const char *ca, const char *serial_hex);
/*
 * Signs and stores the responses (SHA-1 and SHA-256 CertIDs) for one certificate now: good, or
 * revoked with time and reason. Sets the responder up first when needed (works without
 * ca_ocsp_start). Errors: SIGNET_E_NOTFOUND (CA, certificate), SIGNET_E_POLICY (CA without a
 * responder, certificate PENDING), SIGNET_E_CONFIG, SIGNET_E_LINT, SIGNET_E_HSM*, SIGNET_E_STORE*.
 */
enum signet_err ca_ocsp_presign(struct ca_ctx *ctx, const char *ca, const char *serial_hex,
                                char *detail);
/* One full refresher pass now, in the caller's thread (tests, `signet` tools). */
enum signet_err ca_ocsp_refresh(struct ca_ctx *ctx, char *detail);
/* Figures for /metrics. Zeroes before ca_ocsp_start. */
void ca_ocsp_stats(struct ca_ctx *ctx, struct ca_ocsp_stats *out);
/* For /healthz: SIGNET_E_HSM_UNAVAILABLE naming what is stale or overdue, else SIGNET_OK. */
enum signet_err ca_ocsp_health(struct ca_ctx *ctx, char *detail);
/*
 * Live nonce mode: answers one OCSPRequest (DER) by signing a fresh response that echoes its
 * nonce (1..32 octets), for CAs with ocsp_nonce = yes, rate-limited per CA. *out (free()) is
 * always an OCSPResponse: signed, or an unsigned error (malformedRequest for a bad nonce,
 * unauthorized, tryLater when over the rate). SIGNET_OK unless out of memory.
 */
enum signet_err ca_ocsp_sign_live(struct ca_ctx *ctx, const unsigned char *req, size_t len,
                                  unsigned char **out, size_t *out_len, char *detail);

/* ---- revocation (revoke.c) ---- */

struct ca_revoke_request {
    const char *ca;          /* CA name; NULL: the CA that holds the serial (the HTTP API) */
    const char *serial_hex;  /* hex, 1 to 20 octets; a 0x prefix and odd digit counts accepted */
    int reason;              /* RFC 5280 CRLReason (ca_revoke_reason); not removeFromCRL */
    int64_t invalidity_date; /* RFC 5280 5.3.2; 0 = none */
    const char *requester;   /* who asked ("cli:uid=0", "client:demo"): audited */
    /* rights (the HTTP API): NULL/NULL = operator; else the certificate's profile must pass */
    const char *const *allowed_profiles; /* NULL-terminated profiles the client may use */
    int (*may_revoke)(const char *profile, void *arg); /* or a callback: 1 = may */
    void *may_arg;
};

struct ca_revoked {
    char ca[CA_NAME_MAX];
    char serial[2 * STORE_SERIAL_MAX + 1]; /* lowercase hex, minimal */
    char profile[CA_NAME_MAX];
    int64_t revoked_at;
    int reason;
};

/*
 * Parses an RFC 5280 reason name for revocation ("keyCompromise", ...); removeFromCRL and
 * unknown names are SIGNET_E_USAGE with the list of names.
 */
enum signet_err ca_revoke_reason(const char *name, int *out, char *detail);

/*
 * Revokes a certificate: one durable write sets the cert record REVOKED (time, reason,
 * invalidity date), writes the revoked index and appends an audit entry; keyCompromise also
 * puts the certificate's SPKI SHA-256 in the blocked-key table. Then the revoke hook runs and
 * the CA's CRL is marked dirty (ca_crl_mark_dirty). A PENDING record may be revoked.
 * Errors (nothing changed): SIGNET_E_USAGE (serial not hex or too long, bad reason, invalidity
 * date in the future), SIGNET_E_NOTFOUND (no such serial, or not under the CA named: the detail
 * says which CA has it), SIGNET_E_EXISTS (already revoked), SIGNET_E_POLICY (expired),
 * SIGNET_E_FORBIDDEN (profile not in the request's rights), SIGNET_E_STORE*.
 * out (may be NULL) receives what was revoked.
 */
enum signet_err ca_revoke(struct ca_ctx *ctx, const struct ca_revoke_request *req,
                          struct ca_revoked *out, char *detail);

/*
 * Called after each durable revocation (ca name, minimal hex serial), from the revoking thread:
 * the place where the OCSP response of that certificate is re-signed (ca_ocsp_presign). One
 * hook per process; NULL removes it.
 */
typedef void (*ca_revoke_hook_fn)(struct ca_ctx *ctx, const char *ca, const char *serial_hex,
                                  void *arg);
void ca_revoke_set_hook(ca_revoke_hook_fn fn, void *arg);

/* ---- CRLs (crl.c) ---- */

struct ca_crl_result {
    uint64_t number;  /* of the full CRL (or of shard 0) */
    size_t entries;   /* entries of the full CRL (all shards together) */
    size_t bytes;     /* DER size of the full CRL (all shards together) */
    size_t published; /* CRLs written (full, delta, shards) */
    int64_t next_update;
};

/*
 * Generates, lints, signs, verifies and publishes the CRLs of a CA ([ca.NAME] crl_validity,
 * crl_delta, crl_shards, crl_url; docs/crl.md): for each stream the next CRL number is persisted
 * first (so a crash leaves it above any published number), the TBS is built by one cursor pass,
 * signed with a throwaway key and linted, signed on the token and verified with the CA's public
 * key, compared with the last published CRL of the stream (an unexpired entry missing refuses),
 * stored in the crl database and written to public/crl/NAME[-delta|-shard-K].crl atomically.
 * Errors: SIGNET_E_NOTFOUND (CA), SIGNET_E_CONFIG, SIGNET_E_LINT, SIGNET_E_POLICY (would lose an
 * entry), SIGNET_E_HSM*, SIGNET_E_PIN, SIGNET_E_STORE*, SIGNET_E_IO. out may be NULL.
 */
enum signet_err ca_crl_generate(struct ca_ctx *ctx, const char *ca, struct ca_crl_result *out,
                                char *detail);

/*
 * The CRL URLs to put in a certificate of (ca, serial): cdp receives the CRL distribution point
 * (shard K's "-shard-K" URL when the CA is sharded), freshest the delta CRL's URL when the CA
 * publishes deltas ("" otherwise). cdp is "" when the CA has no crl_url. Caps: CRL_URL_MAX (512)
 * is enough. SIGNET_E_NOTFOUND for an unknown CA, SIGNET_E_CONFIG for a URL that does not fit.
 */
enum signet_err ca_crl_urls(struct ca_ctx *ctx, const char *ca, const unsigned char *serial,
                            size_t serial_len, char *cdp, size_t cdp_cap, char *freshest,
                            size_t freshest_cap, char *detail);

/* Marks the CA's CRL dirty: the scheduler signs a new one crl_delay after the first mark. */
void ca_crl_mark_dirty(struct ca_ctx *ctx, const char *ca);
/*
 * Starts the CRL scheduler of signetd's ca process: one thread, woken by ca_crl_mark_dirty,
 * that regenerates dirty CRLs after crl_delay and re-signs each CRL before its nextUpdate (at
 * half its validity or one day before, whichever is sooner). It serves CAs with a parent and a
 * crl_url (a root's CRL is a ceremony). One scheduler per process.
 */
enum signet_err ca_crl_scheduler_start(struct ca_ctx *ctx, char *detail);
/* Stops and joins the scheduler thread (a generation in progress finishes first). NULL-safe. */
void ca_crl_scheduler_stop(struct ca_ctx *ctx);

/* ---- online token unlocked by shares; CA-set reload (unlock.c, ctx.c) ---- */

/*
 * Splits the credential of an online token into n sealed shares, m of which rebuild it
 * (docs/custody.md, "The online token's credential in shares"). The PIN comes from the token's
 * configured source ("prompt" when it is already pin = shares) and is checked by one login
 * first. Share I goes to shares_dir/share-I.share (0600); its passphrase comes from
 * pass_dir/share-I.pass (0600) or the terminal. Refuses a pin = quorum token.
 */
enum signet_err ca_unlock_split(struct ca_ctx *ctx, const char *token, unsigned m, unsigned n,
                                const char *shares_dir, const char *pass_dir, char *detail);

/* 1 when some [token.*] says pin = shares (its credential is given at start as shares). */
int ca_unlock_needed(struct ca_ctx *ctx);

/*
 * Rebuilds the credential of every pin = shares token from the share files (each share is
 * matched to its token by the identity in its header; a share of no such token is refused by
 * name) and logs in to the token once with it. The credential then lives only in the token's
 * locked buffer, which hsmbind uses to log in again after an outage. A token left without
 * enough shares is refused before any login. out_report (may be NULL) gets "TOKEN: 1,3; ...".
 */
enum signet_err ca_unlock_with_shares(struct ca_ctx *ctx, const struct ca_share_src *src, size_t n,
                                      char *out_report, size_t cap, char *detail);

/* Logs in to the online tokens (what CA_OPEN_LOGIN_ONLINE does) after ca_unlock_with_shares. */
enum signet_err ca_ctx_login_online(struct ca_ctx *ctx, char *detail);

#define CA_CAS_CAP 256 /* CAs one context holds, reloads included */

/*
 * Reads signet.conf again and takes in what is new about the CA set: a [ca.NAME] section that
 * was not there, and a configured CA whose certificate has appeared since (signet ca
 * import-cert). A CA removed or changed (key, cert, parent, profiles, crl_url, ocsp_url) is
 * refused with SIGNET_E_CONFIG naming it, and nothing is taken. Issuances in flight finish
 * first (the policy lock); the CA entries of a context never move, so pointers held elsewhere
 * stay valid. before(arg), when given, runs just before anything changes (signetd stops its CRL
 * scheduler and OCSP refresher there). out_report (may be NULL) says what changed ("" when
 * nothing); *out_changed counts the CAs added or completed.
 */
enum signet_err ca_reload_cas(struct ca_ctx *ctx, void (*before)(void *), void *arg,
                              char *out_report, size_t cap, size_t *out_changed, char *detail);
/*
 * A read-only view's CA set (signetd's web process, which cannot read signet.conf once it has
 * dropped privileges) completed from the store: CAs recorded with a certificate that the view
 * lacks are added (name, parent, key, certificate; no profiles), and configured CAs get a
 * certificate recorded since. out_report names them; *out_changed counts them.
 */
enum signet_err ca_reload_view(struct ca_ctx *ctx, char *out_report, size_t cap,
                               size_t *out_changed, char *detail);

/* ---- backup, restore and retention (backup.c, backup_restore.c) ---- */

/* Where a backup's recipient key, recipient certificate and trusted signer come from. */
struct ca_backup_keys {
    const char *recipient_key;  /* PEM private key; NULL: [backup] recipient_key */
    const char *recipient_cert; /* NULL: KEY with .key replaced by .crt, when present */
    const char *signer_cert;    /* trusted backup signer; NULL: [backup] signer_cert, or for a
                                   restore backup-signer.crt beside the recipient key */
};

struct ca_backup_summary {
    size_t parts;      /* parts in the archive */
    uint64_t bytes;    /* bytes of the parts */
    size_t keys;       /* keys wrapped in it */
    size_t cas;        /* CAs in its store */
    uint64_t certs;    /* certificate records in its store */
    uint64_t revoked;  /* revoked among them */
    int64_t created;   /* when it was taken */
    int signer_pinned; /* 1: checked against a configured signer, 0: against the one it carries */
    uint64_t audit_entries;
    uint64_t crl_floor;     /* restore: the CRL number every stream continues above */
    char root_checked[128]; /* restore: how the offline root was checked */
};

/*
 * `signet backup create`: a compacted copy of the live store (safe while signetd writes), the
 * configuration, profiles, public/ and clients/, the keys marked for backup wrapped in their
 * token under a fresh AES key (CKM_AES_KEY_WRAP_PAD; the SO imports it as trusted), and an
 * offline SoftHSM2 root token's files as they are (still sealed by its quorum credential); a
 * manifest of SHA-256s; signed (CMS SignedData) by [backup] signer_key and encrypted (CMS
 * EnvelopedData) to [backup] recipients. Written to out (0600, atomically).
 */
typedef void (*ca_backup_progress_fn)(const char *step); /* one line per step; may be NULL */
enum signet_err ca_backup_create(struct ca_ctx *ctx, const char *out,
                                 ca_backup_progress_fn progress, struct ca_backup_summary *sum,
                                 char *detail);
/*
 * `signet backup init-kek`: the Security Officer ([token.NAME] so_pin) makes the token's trusted
 * backup key-encryption key (all online tokens when token is NULL). Run it while nothing is
 * logged in to the token as the user (signetd stopped, on a real HSM); replace: a new one.
 */
enum signet_err ca_backup_kek_init(struct ca_ctx *ctx, const char *token, int replace,
                                   char *detail);
/*
 * `signet backup verify`: decrypts, checks the signature against the trusted signer, the
 * manifest and every hash, opens the store copy, and checks that every CA certificate matches a
 * key in the backup, an offline token carried in it, or a key on the configured token.
 * ctx may be NULL (no configured token to look at).
 */
enum signet_err ca_backup_verify(struct ca_ctx *ctx, const char *file,
                                 const struct ca_backup_keys *k, struct ca_backup_summary *sum,
                                 char *detail);

struct ca_backup_restore_opts {
    const char *file;
    const char *dir; /* must not exist or be empty */
    struct ca_backup_keys keys;
    const struct ca_share_src *shares; /* quorum shares of the offline root (may be none) */
    size_t nshares;
    ca_backup_progress_fn progress;
};
/*
 * `signet backup restore`: into a fresh directory and fresh tokens (new credentials), then
 * checks CA keys against certificates, the audit chain, the root with the shares; moves CRL
 * numbers above anything seen, regenerates CRLs and re-signs OCSP for revoked certificates.
 */
enum signet_err ca_backup_restore(const struct ca_backup_restore_opts *o,
                                  struct ca_backup_summary *sum, char *detail);

/*
 * `signet backup prune DIR`: keeps the keep newest Signet backups (by mtime), deletes the older
 * ones; max_age_s > 0 also deletes backups older than that among the kept ones, except the
 * newest. Only files that are CMS EnvelopedData are considered. *deleted counts deletions.
 */
enum signet_err ca_backup_prune(const char *dir, unsigned keep, int64_t max_age_s, int dry_run,
                                size_t *deleted, size_t *kept, char *detail);

/* ---- keys: migration, PIN rotation, rollover (migrate.c, pin.c, rollover.c) ---- */

struct ca_pin_change {
    int changed;        /* C_SetPIN succeeded (and the new PIN logged in) */
    int source_updated; /* the file: pin source was rewritten (0600, atomically) */
    char source[512];   /* the pin file's path, or the source specification when not a file */
};
/*
 * `signet hsm change-pin --token T`: C_SetPIN from old_pin to new_pin, a login with the new PIN
 * to prove it, then the [token.T] pin file rewritten atomically (0600) when pin = file:PATH
 * (env: and prompt sources are the operator's to update). Refused (SIGNET_E_FORBIDDEN) for a
 * custodial token (pin = quorum or shares): only a ceremony changes those. A wrong old PIN gives
 * SIGNET_E_PIN and nothing is changed or written; an unwritable pin file is found before the
 * change.
 */
enum signet_err ca_change_pin(struct ca_ctx *ctx, const char *token, const struct secret *old_pin,
                              const struct secret *new_pin, struct ca_pin_change *out,
                              char *detail);

/*
 * signetd's SIGHUP: every open token re-reads its pin source (file: or env:) and keeps the new
 * credential for its next login (hsm_token_set_credential): no session is closed, no call fails,
 * and a token that refused its old PIN after an outage recovers. A token not yet opened because
 * its PIN was refused is opened again on next use. Quorum, shares and prompt tokens are skipped.
 * On a source that cannot be read the old credential is kept and the first error returned.
 * *out_reloaded (may be NULL): tokens given a new credential.
 */
enum signet_err ca_reload_credentials(struct ca_ctx *ctx, size_t *out_reloaded, char *detail);

struct ca_migrate_opts {
    const char *from;                   /* pkcs11:token=T;object=L of the key to move */
    const char *to;                     /* pkcs11:token=T2[;object=L2] (L2 defaults to L) */
    const char *cert_path;              /* certificate to prove against (default: the CA's) */
    const struct secret *source_so_pin; /* for a key extractable only under a trusted key */
    int seal;                           /* the moved key is never extractable again */
};
struct ca_migrate_result {
    char ca[64];       /* the CA whose key it is ("" with --cert) */
    char new_uri[600]; /* the key on the destination */
    int proven;        /* it signed what the certificate's public key verifies */
};
/*
 * `signet key migrate`: wrap/unwrap only (docs/keys.md). Refuses a non-extractable key
 * (SIGNET_E_FORBIDDEN, saying to re-key and cross-sign), a destination that holds the label
 * (SIGNET_E_EXISTS), a key that does not match the certificate; checks all before writing.
 * signet.conf is not changed: pointing [ca.N] key = at the new URI is a separate step.
 */
enum signet_err ca_key_migrate(struct ca_ctx *ctx, const struct ca_migrate_opts *o,
                               struct ca_migrate_result *res, char *detail);

/* ---- CA key rollover (rollover.c) ---- */

struct ca_rollover_opts {
    const char *name;
    int64_t days;            /* validity of the new certificate; 0 = the current one's */
    const char *csr_out;     /* when the parent cannot sign now: write a CSR here */
    const char *import_cert; /* complete a rollover that waited for a ceremony */
    int retire;              /* drop the previous generation (refused while it has live certs) */
};
struct ca_rollover_result {
    int signed_now;           /* the switch was made: N.crt is the new certificate */
    int retired;              /* --retire-previous done */
    char new_key[600];        /* the new key's URI */
    char previous_key[600];   /* the old key's URI (still on the token) */
    char previous_cert[1100]; /* where the old certificate now is (public/N-previous.crt) */
    char csr[1100];           /* the CSR written for a ceremony */
};
/*
 * `signet ca rollover --name N`: new key (label BASE-YYYYMMDD on the CA's token, the same type,
 * made for backup when the old one was) and a certificate for the same subject, signed by the
 * parent now or by itself for an online root; else a CSR (csr_out) and N.rollover-pending beside
 * the certificate until import_cert. The switch rewrites [ca.N]: key = new, previous_key = old,
 * previous_cert = public/N-previous.crt (written first), then N.crt and the store record.
 * One previous generation at a time. Refused for a CA on a quorum token (a ceremony's work).
 */
enum signet_err ca_rollover(struct ca_ctx *ctx, const struct ca_rollover_opts *o,
                            struct ca_rollover_result *res, char *detail);
/*
 * The previous generation of CA name (from previous_key / previous_cert of [ca.NAME]): its
 * certificate and its key (pinned to it). For the CRL and OCSP signers: what the old key issued
 * is revoked and answered for under that key until it expires. SIGNET_E_NOTFOUND when there is
 * none. Caller frees *out_key (hsm_key_free, after any EVP_PKEY made from it) and *out_cert.
 */
enum signet_err ca_previous_generation(struct ca_ctx *ctx, const char *name, X509 **out_cert,
                                       struct hsm_key **out_key, char *detail);
/*
 * Which generation issued a certificate, by its authority key identifier against the subject key
 * identifiers of the CA's current and previous certificates: 0 current, 1 previous, -1 neither
 * (or no AKI). The CRL and OCSP signers partition a rolled-over CA's certificates with it.
 */
int ca_cert_generation(const X509 *issued, const X509 *current, const X509 *previous);

#endif
