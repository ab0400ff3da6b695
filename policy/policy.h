/* SPDX-License-Identifier: Apache-2.0 */
/*
 * policy: certificate profiles. One file per profile (policies/NAME.conf, OpenSSL config
 * syntax, grammar in docs/profiles.md), compiled once at load; a request is evaluated against
 * a compiled profile into a decision (allowed or not, with one reason per rule) and the subject
 * and SANs the certificate may carry.
 */
#ifndef SIGNET_POLICY_H
#define SIGNET_POLICY_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define POLICY_SAN_MAX     100 /* bound on SANs in one request, whatever a profile says */
#define POLICY_PATTERN_MAX 32  /* match= / values= alternatives in one rule */
#define POLICY_SPKI_HASH   32  /* bytes of the SHA-256 of a SubjectPublicKeyInfo */

struct policy_profile;
struct policy_set;

/* approval = auto | manual. Manual requests wait for an operator (the queue comes later). */
enum policy_approval { POLICY_APPROVAL_AUTO = 0, POLICY_APPROVAL_MANUAL };

/*
 * Parses and compiles one profile file; the profile's name is the file's base name without
 * ".conf". An unknown key, a bad value or an extension section OpenSSL refuses is reported as
 * "FILE:LINE: ..." with SIGNET_E_CONFIG. *out is owned by the caller.
 */
enum signet_err policy_profile_load(const char *path, struct policy_profile **out, char *detail);
void policy_profile_free(struct policy_profile *p);

/*
 * Loads every *.conf of dir (sorted); the first broken profile refuses the whole set with
 * "FILE:LINE: ..." and nothing of it is kept (*out stays NULL).
 */
enum signet_err policy_set_load(const char *dir, struct policy_set **out, char *detail);
/*
 * Reload (SIGHUP): loads dir into a new set; only when every profile compiles, frees *set and
 * puts the new set there. On failure *set is untouched (the profiles in force stay in force).
 * The caller makes sure nobody still uses the old set (e.g. a write lock around the call).
 */
enum signet_err policy_set_reload(const char *dir, struct policy_set **set, char *detail);
void policy_set_free(struct policy_set *set);
size_t policy_set_count(const struct policy_set *set);
/* The i-th profile (name order), or NULL. Borrowed. */
const struct policy_profile *policy_set_at(const struct policy_set *set, size_t i);
/* The profile named name, or NULL. Borrowed. */
const struct policy_profile *policy_set_get(const struct policy_set *set, const char *name);

const char *policy_profile_name(const struct policy_profile *p);
const char *policy_profile_description(const struct policy_profile *p);
/* Default validity in seconds. */
int64_t policy_profile_validity(const struct policy_profile *p);
/* Maximum validity in seconds (validity_max; the default when not given). */
int64_t policy_profile_validity_max(const struct policy_profile *p);
/*
 * The validity to issue for a request asking for requested seconds (0 = the default): at most
 * validity_max. The CA still clamps the result to its own notAfter.
 */
int64_t policy_profile_validity_for(const struct policy_profile *p, int64_t requested);
enum policy_approval policy_profile_approval(const struct policy_profile *p);
/*
 * 1 when the client may use the profile: the profile has no clients key, or client (a
 * [client.NAME] name, with or without its "client." prefix) is listed, or the list holds "*".
 */
int policy_profile_allows_client(const struct policy_profile *p, const char *client);
/* 1 for a CA profile (its extension section says CA:TRUE). */
int policy_profile_is_ca(const struct policy_profile *p);
/* The pathLenConstraint a CA profile issues, or -1 (leaf profiles). */
int policy_profile_path_len(const struct policy_profile *p);

/*
 * Checks a public key against the profile's key list (type, curve, RSA size) and key quality:
 * RSA public exponent exactly 65537, no prime factor below 10,000, not a near-square modulus
 * (Fermat); an EC point valid on its curve. Returns SIGNET_OK or SIGNET_E_BADKEY with the
 * reason in detail. The blocked-key table is not consulted here (see policy_evaluate_ex).
 */
enum signet_err policy_check_key(const struct policy_profile *p, EVP_PKEY *pub, char *detail);

/* SHA-256 of the key's DER SubjectPublicKeyInfo: the blocked_key table's key. 1 = ok. */
int policy_spki_sha256(EVP_PKEY *pub, unsigned char out[POLICY_SPKI_HASH]);

/* A parsed PKCS#10 request whose self-signature verified (policy/csr.c). */
struct policy_csr;

/*
 * Parses a CSR (PEM or DER, at most 64 KiB, the whole input consumed) and verifies its
 * self-signature (proof of possession, RFC 2986). SIGNET_OK with *out owned by the caller
 * (policy_csr_free), or SIGNET_E_BADCSR with the reason in detail.
 */
enum signet_err policy_csr_parse(const unsigned char *buf, size_t len, struct policy_csr **out,
                                 char *detail);
void policy_csr_free(struct policy_csr *c);
/* The CSR's public key (borrowed). */
EVP_PKEY *policy_csr_key(const struct policy_csr *c);
/* The CSR's subject as requested (borrowed; policy_decision_subject is what may be issued). */
const X509_NAME *policy_csr_subject(const struct policy_csr *c);
/* The CSR's DER as received, PEM armour removed (borrowed). */
const unsigned char *policy_csr_der(const struct policy_csr *c, size_t *len);
/*
 * Puts the CSR's SubjectPublicKeyInfo into cert as it stands: the algorithm identifier and the
 * subjectPublicKey bits the self-signature was verified with and policy judged. 1 = ok.
 */
int policy_csr_copy_spki(const struct policy_csr *c, X509 *cert);

/*
 * Adds the profile's extension section (compiled at load) to cert. Only these extensions, plus
 * what the CA adds itself (SAN, SKI, AKI, CDP, AIA), are ever issued. 1 = ok.
 */
int policy_add_extensions(const struct policy_profile *p, X509 *cert);

/* ---- evaluation ---- */

struct policy_decision;

/*
 * Evaluates a parsed CSR (its signature already verified) against the profile: key, subject
 * attributes and SANs. Always fills *out (unless memory runs out); the request is allowed only
 * when policy_decision_allowed says so. Reasons name each rule and its verdict.
 */
enum signet_err policy_evaluate(const struct policy_profile *p, const struct policy_csr *req,
                                struct policy_decision **out, char *detail);

/*
 * Asked by policy_evaluate_ex with the SHA-256 of the CSR's SubjectPublicKeyInfo: 1 when the key
 * is in the blocked-key table, 0 when not, -1 when the table cannot be read (the request is then
 * refused, fail closed). Policy itself never opens the store.
 */
typedef int (*policy_key_blocked_fn)(const unsigned char spki_sha256[POLICY_SPKI_HASH], void *arg);

struct policy_eval_opts {
    policy_key_blocked_fn key_blocked; /* NULL: no blocked-key check */
    void *key_blocked_arg;
};

/* policy_evaluate with options; opts may be NULL (then it is policy_evaluate). */
enum signet_err policy_evaluate_ex(const struct policy_profile *p, const struct policy_csr *req,
                                   const struct policy_eval_opts *opts,
                                   struct policy_decision **out, char *detail);
void policy_decision_free(struct policy_decision *d);
int policy_decision_allowed(const struct policy_decision *d);
/* The reason the request was refused (first failed rule), or "" when allowed. Borrowed. */
const char *policy_decision_error(const struct policy_decision *d);
/*
 * The error class of the refusal (SIGNET_OK when allowed): SIGNET_E_BADKEY for key problems,
 * SIGNET_E_POLICY for names, subject and extensions, SIGNET_E_BADCSR for a malformed request
 * (weak signature hash, extensions that do not parse), SIGNET_E_STORE when the blocked-key
 * lookup failed.
 */
enum signet_err policy_decision_err(const struct policy_decision *d);
size_t policy_decision_count(const struct policy_decision *d);
/* "rule: ok (value)" or "rule: why" for the i-th rule. Borrowed. */
const char *policy_decision_reason(const struct policy_decision *d, size_t i);

/* One rule's verdict, for `signet policy check`. Strings are borrowed from d. */
struct policy_verdict {
    const char *rule;  /* "key", "san.dns", "subject.CN", "csr.extensions", ... */
    const char *value; /* what was checked ("ec:P-256", "www.example.test"); may be "" */
    int allowed;
    const char *why; /* for a refusal: the reason; otherwise a short note or "" */
};
/* Fills *out for the i-th rule. 1 = ok, 0 when i is out of range. */
int policy_decision_verdict(const struct policy_decision *d, size_t i, struct policy_verdict *out);
/* The approval mode of the profile that made the decision. */
enum policy_approval policy_decision_approval(const struct policy_decision *d);
/* The subject to issue (only the attributes the profile allows). Borrowed; may be empty. */
const X509_NAME *policy_decision_subject(const struct policy_decision *d);
/* The SANs to issue, or NULL when none. Borrowed. */
const GENERAL_NAMES *policy_decision_sans(const struct policy_decision *d);

/* 1 when name matches the pattern ("example.test", "*.example.test" one label, "**.x" any). */
int policy_dns_match(const char *pattern, const char *name);

/*
 * Checks a DNS name as a SAN must be (docs/profiles.md): lowercase LDH, no trailing dot, labels
 * of at most 63 and names of at most 253 bytes, IDNA A-labels valid; a leftmost "*" label only
 * with wildcard set. 1 = ok; 0 with the reason in why (SIGNET_DETAIL_MAX bytes, may be NULL).
 */
int policy_dns_name_ok(const char *name, size_t len, int wildcard, char *why);

#endif
