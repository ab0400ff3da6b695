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
#define POLICY_PATTERN_MAX 32  /* match= alternatives in one rule */

struct policy_profile;
struct policy_set;

/*
 * Parses and compiles one profile file; the profile's name is the file's base name without
 * ".conf". An unknown key, a bad value or an extension section OpenSSL refuses is reported as
 * "FILE:LINE: ..." with SIGNET_E_CONFIG. *out is owned by the caller.
 */
enum signet_err policy_profile_load(const char *path, struct policy_profile **out, char *detail);
void policy_profile_free(struct policy_profile *p);

/* Loads every *.conf of dir (sorted); the first broken profile refuses the whole set. */
enum signet_err policy_set_load(const char *dir, struct policy_set **out, char *detail);
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

/*
 * Checks a public key against the profile's key list (type, curve, RSA size) and basic key
 * quality (RSA public exponent 65537, a valid EC point). Returns SIGNET_OK or SIGNET_E_BADKEY
 * with the reason in detail.
 */
enum signet_err policy_check_key(const struct policy_profile *p, EVP_PKEY *pub, char *detail);

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
enum signet_err policy_evaluate(const struct policy_profile *p, X509_REQ *req,
                                struct policy_decision **out, char *detail);
void policy_decision_free(struct policy_decision *d);
int policy_decision_allowed(const struct policy_decision *d);
/* The reason the request was refused (first failed rule), or "" when allowed. Borrowed. */
const char *policy_decision_error(const struct policy_decision *d);
/* The error class of the refusal: SIGNET_E_BADKEY or SIGNET_E_POLICY (SIGNET_OK when allowed). */
enum signet_err policy_decision_err(const struct policy_decision *d);
size_t policy_decision_count(const struct policy_decision *d);
/* "rule: ok|refused: why". Borrowed. */
const char *policy_decision_reason(const struct policy_decision *d, size_t i);
/* The subject to issue (only the attributes the profile allows). Borrowed; may be empty. */
const X509_NAME *policy_decision_subject(const struct policy_decision *d);
/* The SANs to issue, or NULL when none. Borrowed. */
const GENERAL_NAMES *policy_decision_sans(const struct policy_decision *d);

/* 1 when name matches the pattern ("example.test", "*.example.test" one label, "**.x" any). */
int policy_dns_match(const char *pattern, const char *name);

#endif
