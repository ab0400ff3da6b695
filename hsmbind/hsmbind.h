/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hsmbind: every PKCS#11 call Signet makes. Module loading, tokens, login with a kept credential,
 * a session pool, keys named by RFC 7512 URIs, key generation, signing with verification,
 * recovery (retry / reconnect / re-initialise, backoff, circuit breaker), and an OpenSSL 3
 * provider that presents a token key as an EVP_PKEY whose private half never leaves the token.
 *
 * No CK_RV, session or object handle leaves this module. All functions are thread-safe on one
 * struct hsm_token unless said otherwise.
 */
#ifndef SIGNET_HSMBIND_H
#define SIGNET_HSMBIND_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct hsm_token; /* a token in a loaded module: credential, session pool, breaker, key cache */
struct hsm_key;   /* a private key on a token: handle cached, public key kept */

enum hsm_key_type {
    HSM_KEY_EC_P256,
    HSM_KEY_EC_P384,
    HSM_KEY_RSA_2048,
    HSM_KEY_RSA_3072,
    HSM_KEY_RSA_4096,
    HSM_KEY_ED25519,
    HSM_KEY_TYPE_MAX
};

/* "ec:P-256", "ec:P-384", "rsa:2048", "rsa:3072", "rsa:4096", "ed25519". 1 = ok. */
int hsm_key_type_parse(const char *s, enum hsm_key_type *out);
const char *hsm_key_type_name(enum hsm_key_type type);

struct hsm_token_config {
    const char *module;             /* path of the PKCS#11 library */
    const char *token_label;        /* CKA_LABEL of the token (32 chars max) */
    const char *init_reserved;      /* optional pReserved string for C_Initialize (NSS softoken) */
    unsigned int pool_size;         /* sessions in the pool, one per worker; 0 = 4 */
    unsigned int find_retry_ms;     /* how long to retry finding the token at open; 0 = 2000 */
    unsigned int retry_max;         /* attempts of a transient failure; 0 = 6 */
    unsigned int backoff_base_ms;   /* first backoff; doubles, with jitter; 0 = 5 */
    unsigned int backoff_max_ms;    /* bound on one backoff; 0 = 200 */
    unsigned int breaker_probe_ms;  /* while open, at most one probe per this interval; 0 = 100 */
    unsigned int breaker_threshold; /* consecutive failed recoveries that open it; 0 = 1 */
};

/*
 * Loads the module (once per path per process), finds the token by label (retrying for up to
 * find_retry_ms: another process may be rewriting SoftHSM's files), opens the session pool and,
 * when pin is not NULL, logs in as the user. The token takes ownership of pin on every path and
 * keeps it in locked memory for unattended re-login after an outage; it is wiped in
 * hsm_token_free. A PIN the token refused is never tried again automatically: the open fails
 * with SIGNET_E_PIN after exactly one C_Login.
 * Errors: SIGNET_E_CONFIG (module will not load), SIGNET_E_NOTFOUND (no such token), SIGNET_E_PIN,
 * SIGNET_E_HSM, SIGNET_E_HSM_UNAVAILABLE.
 */
enum signet_err hsm_token_open(const struct hsm_token_config *cfg, struct secret *pin,
                               struct hsm_token **out, char *detail);
/* Closes sessions, forgets keys and wipes the credential. NULL-safe. Keys must be freed first. */
void hsm_token_free(struct hsm_token *tok);
const char *hsm_token_label(const struct hsm_token *tok);

/*
 * Initialises a token in the first free slot of a module (C_InitToken with the SO PIN, then
 * C_InitPIN for the user PIN). Used by `signet demo init`; re-initialises the module so the new
 * token is visible to later hsm_token_open calls in this process.
 */
enum signet_err hsm_token_init(const char *module, const char *init_reserved, const char *label,
                               const struct secret *so_pin, const struct secret *user_pin,
                               char *detail);

enum hsm_breaker { HSM_BREAKER_CLOSED, HSM_BREAKER_OPEN, HSM_BREAKER_HALF_OPEN, HSM_BREAKER_MAX };
const char *hsm_breaker_name(enum hsm_breaker state);
enum hsm_breaker hsm_token_breaker(struct hsm_token *tok);

/*
 * Health probe: a cheap call on the token (C_GetSessionInfo / C_GetTokenInfo). When the breaker
 * is open and the probe interval has passed, attempts recovery; success closes the breaker.
 * Returns SIGNET_OK when the token is usable now.
 */
enum signet_err hsm_token_probe(struct hsm_token *tok, char *detail);

struct hsm_stats {
    uint64_t signs;         /* signatures returned */
    uint64_t retries;       /* transient failures retried */
    uint64_t reconnects;    /* sessions reopened and logged in again */
    uint64_t reinits;       /* C_Finalize + C_Initialize of the module */
    uint64_t breaker_trips; /* times the breaker opened */
    uint64_t fast_fails;    /* calls refused at once while it was open */
    uint64_t bad_sigs;      /* signatures from the token that failed verification */
    uint64_t logins;        /* C_Login calls made */
};
void hsm_token_stats(struct hsm_token *tok, struct hsm_stats *out);

/* ---- keys ---- */

/*
 * Finds a private key by RFC 7512 URI (parsed with p11-kit): "pkcs11:token=T;object=L" or with
 * id=%01%02. The token attribute, when present, must match tok's label. The handle and the public
 * key are looked up once and cached. The key remains owned by the caller and must be freed before
 * its token. Errors: SIGNET_E_USAGE (bad URI), SIGNET_E_NOTFOUND, SIGNET_E_HSM*.
 */
enum signet_err hsm_key_find(struct hsm_token *tok, const char *uri, struct hsm_key **out,
                             char *detail);

enum hsm_keygen_flag {
    HSM_KEYGEN_BACKUP =
        1 /* extractable only under a trusted wrapping key (CKA_WRAP_WITH_TRUSTED) */
};

/*
 * Generates a key pair on the token, labelled label (refused with SIGNET_E_EXISTS when a private
 * key with that label exists). Private key: CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, CKA_SIGN,
 * CKA_EXTRACTABLE false (unless HSM_KEYGEN_BACKUP); a random CKA_ID shared by both halves.
 */
enum signet_err hsm_keygen(struct hsm_token *tok, const char *label, enum hsm_key_type type,
                           unsigned flags, struct hsm_key **out, char *detail);
void hsm_key_free(struct hsm_key *key);

enum hsm_key_type hsm_key_type(const struct hsm_key *key);
/* The key's RFC 7512 URI ("pkcs11:token=...;object=..."). Borrowed. */
const char *hsm_key_uri(const struct hsm_key *key);
const char *hsm_key_label(const struct hsm_key *key);
/* The public key (a plain OpenSSL key, default provider). Borrowed; lives as long as key. */
EVP_PKEY *hsm_key_public(const struct hsm_key *key);

/*
 * Pins the public key the key must have (normally the CA certificate's). After any reconnect the
 * token's public key is read again and must equal this before the key signs again; on mismatch
 * signing fails with SIGNET_E_HSM. Without a pin, the public key read at find time is the pin.
 * Returns 1 when expected equals the current public key, 0 (and pins nothing) otherwise.
 */
int hsm_key_pin_public(struct hsm_key *key, const EVP_PKEY *expected);

#define HSM_SIG_MAX 1024 /* bytes: enough for RSA-4096 and DER ECDSA P-384 */

/*
 * Signs on the token with the mechanism the key type calls for:
 *   EC:      data is a digest made locally with md; CKM_ECDSA; the result is DER ECDSA-Sig-Value
 *   RSA:     data is a digest made with md; CKM_RSA_PKCS over the DigestInfo; PKCS#1 v1.5 bytes
 *   Ed25519: data is the whole message, md must be NULL; CKM_EDDSA; 64 bytes
 * Every signature is verified with the key's public key before it is returned; a bad one is
 * never returned (SIGNET_E_HSM, counted in bad_sigs). Transient failures are retried with
 * backoff; lost sessions, logouts, device removal and an uninitialised library are recovered
 * (re-login with the kept credential, keys re-found, public key compared with the pin). While
 * the breaker is open the call fails at once with SIGNET_E_HSM_UNAVAILABLE.
 * *siglen is the capacity of sig on input and the signature's length on output.
 */
enum signet_err hsm_sign(struct hsm_key *key, const EVP_MD *md, const unsigned char *data,
                         size_t datalen, unsigned char *sig, size_t *siglen, char *detail);

/*
 * An EVP_PKEY whose private operations go through hsm_sign (the in-process provider
 * "signet-hsm", loaded on first use into a library context of its own, so that OpenSSL's
 * fetch cache never hands its key management to unqualified fetches in the default context).
 * Usable with X509_sign, X509_REQ_sign, X509_CRL_sign, EVP_DigestSign called on the default
 * context: OpenSSL 3.0 falls back to the key's own provider for the signature. The key must
 * outlive the EVP_PKEY.
 * Caller frees *out with EVP_PKEY_free.
 */
enum signet_err hsm_key_evp(struct hsm_key *key, EVP_PKEY **out, char *detail);

/* ---- listing ---- */

struct hsm_slot_info {
    unsigned long slot;
    char label[33];        /* token label, trimmed */
    char manufacturer[33]; /* trimmed */
    char model[17];        /* trimmed */
    char serial[17];       /* trimmed */
    int initialized;       /* CKF_TOKEN_INITIALIZED */
};

struct hsm_object_info {
    char uri[512]; /* RFC 7512 URI of the object */
    char label[128];
    enum hsm_key_type type; /* HSM_KEY_TYPE_MAX when not one Signet knows */
    int is_private;         /* 1 private key, 0 public key */
    int sensitive, extractable, always_sensitive, never_extractable;
    int wrap_with_trusted; /* CKA_WRAP_WITH_TRUSTED: extractable only under a trusted key */
};

/* Slots with a token present. Caller frees *out with free(). */
enum signet_err hsm_module_slots(const char *module, const char *init_reserved,
                                 struct hsm_slot_info **out, size_t *out_n, char *detail);
/* Key objects on a (logged-in) token. Caller frees *out with free(). */
enum signet_err hsm_token_objects(struct hsm_token *tok, struct hsm_object_info **out,
                                  size_t *out_n, char *detail);

/* ---- wrapping: backup and migration (wrap.c) ---- */

/*
 * What SoftHSM 2.6 allows (FACTS.md): CKM_AES_KEY_WRAP_PAD wraps extractable EC and RSA private
 * keys, never Ed25519 (CKR_KEY_NOT_WRAPPABLE) nor non-extractable ones; a key made with
 * HSM_KEYGEN_BACKUP (CKA_WRAP_WITH_TRUSTED) is wrapped only by a key with CKA_TRUSTED, which only
 * the Security Officer can set, on a public object. RSA OAEP wrapping takes SHA-1 / MGF1-SHA-1
 * only. Every call runs through hsm_token_run (retries, recovery, breaker).
 */
enum hsm_wrapkey_flag {
    HSM_WRAPKEY_TRUSTED = 1,    /* CKA_TRUSTED: made in an SO login, a public token object */
    HSM_WRAPKEY_EXTRACTABLE = 2 /* may itself be wrapped (for transport to another token) */
};

/*
 * Generates an AES-256 token key labelled label with CKA_WRAP and CKA_UNWRAP (no encrypt or
 * decrypt), sensitive, not extractable unless HSM_WRAPKEY_EXTRACTABLE. HSM_WRAPKEY_TRUSTED
 * needs so_pin and a token opened WITHOUT the user PIN (hsm_token_open(cfg, NULL, ...)): the SO
 * logs in on a session of the pool, generates and logs out. Without it the key is a private
 * object made in the user's login. Errors: SIGNET_E_EXISTS (label used by a secret key),
 * SIGNET_E_USAGE, SIGNET_E_PIN-like HSM errors (a wrong SO PIN gives SIGNET_E_PIN), SIGNET_E_HSM
 * (the user is logged in: the SO cannot log in).
 */
enum signet_err hsm_wrapkey_generate(struct hsm_token *tok, const char *label, unsigned flags,
                                     const struct secret *so_pin, char *detail);

/* Destroys every secret, private and public key object labelled label; *out_n (may be NULL). */
enum signet_err hsm_object_destroy(struct hsm_token *tok, const char *label, unsigned *out_n,
                                   char *detail);

/*
 * Wraps key's private half under the AES key labelled kek_label on the same token with
 * CKM_AES_KEY_WRAP_PAD. *out (malloc, caller frees; at most 16384 bytes) is ciphertext only.
 * Errors: SIGNET_E_FORBIDDEN with a detail that says why and what to do (not extractable:
 * re-key and cross-sign; CKA_WRAP_WITH_TRUSTED and an untrusted KEK; Ed25519 on SoftHSM),
 * SIGNET_E_NOTFOUND (no such KEK), SIGNET_E_HSM*.
 */
enum signet_err hsm_wrap(struct hsm_key *key, const char *kek_label, unsigned char **out,
                         size_t *out_len, char *detail);

/*
 * Unwraps blob (from hsm_wrap) under the AES key kek_label into tok as a private key labelled
 * label: token, private, sensitive, CKA_SIGN, a fresh random CKA_ID; extractable only under a
 * trusted key when flags has HSM_KEYGEN_BACKUP, else never. Creates the matching public-key
 * object from pub (SoftHSM creates none on unwrap), then signs a random digest with the new key
 * and verifies it with pub before returning it in *out (hsm_key_free). A label already used by a
 * private or public key is refused before anything is written (SIGNET_E_EXISTS).
 */
enum signet_err hsm_unwrap(struct hsm_token *tok, const char *kek_label, const unsigned char *blob,
                           size_t len, const EVP_PKEY *pub, const char *label, unsigned flags,
                           struct hsm_key **out, char *detail);

/*
 * Transport of an AES key between tokens (or modules) with no clear key in memory:
 * 1. hsm_transport_keypair(dst, T, &pub): an RSA-3072 pair labelled T on the destination, the
 *    private half unwrap-only, not extractable; pub is its public key (EVP_PKEY_free).
 * 2. hsm_wrapkey_export(src, K, pub, &blob, &len): the extractable AES key K of the source
 *    wrapped with RSA-OAEP under pub (a session copy of pub, destroyed at once).
 * 3. hsm_wrapkey_import(dst, T, blob, len, K2): K unwrapped as K2 (token, private, sensitive,
 *    not extractable, wrap/unwrap) on the destination.
 * Then hsm_object_destroy both T and the AES keys when done.
 */
enum signet_err hsm_transport_keypair(struct hsm_token *dst, const char *label, EVP_PKEY **out,
                                      char *detail);
enum signet_err hsm_wrapkey_export(struct hsm_token *src, const char *kek_label,
                                   const EVP_PKEY *transport_pub, unsigned char **out,
                                   size_t *out_len, char *detail);
enum signet_err hsm_wrapkey_import(struct hsm_token *dst, const char *transport_label,
                                   const unsigned char *blob, size_t len, const char *kek_label,
                                   char *detail);

/* ---- credential rotation (pin.c) ---- */

/*
 * C_SetPIN: changes the user PIN of tok from old_pin to new_pin (4 to 256 characters, not the
 * same). A wrong old PIN gives SIGNET_E_PIN with a detail saying so and changes nothing; it
 * never marks the token's kept credential as refused. On success a token opened with a
 * credential keeps new_pin (a copy) for its next login. Sessions stay logged in.
 */
enum signet_err hsm_token_change_pin(struct hsm_token *tok, const struct secret *old_pin,
                                     const struct secret *new_pin, char *detail);

/*
 * Replaces the credential tok keeps for unattended re-login (takes ownership of pin on every
 * path). No session is closed and no login is made now: sessions logged in stay valid, and the
 * next re-login (after an outage) uses pin. When the token had refused its old credential (the
 * PIN was changed elsewhere and an outage forced a login), the refusal is forgotten and the next
 * call recovers with pin at once. Waits for a recovery in progress. SIGNET_E_USAGE when tok was
 * opened without a credential.
 */
enum signet_err hsm_token_set_credential(struct hsm_token *tok, struct secret *pin, char *detail);

#endif
