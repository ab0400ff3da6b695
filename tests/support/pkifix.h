/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test fixtures: a throwaway demo PKI (ca_demo_init) in a temporary directory, the edits the
 * unit tests make to it (extra profiles, sed on signet.conf), a ca_ctx opened on it as a cmocka
 * setup, and PEM CSRs with a software P-256 key. Only the cmocka unit tests link this.
 */
#ifndef SIGNET_PKIFIX_H
#define SIGNET_PKIFIX_H

#include <stddef.h>

struct pkifix {
    char dir[64];   /* the demo PKI: <mkdtemp directory>/pki */
    char conf[128]; /* dir/signet.conf */
};

/*
 * Makes a directory from tmpl (mkdtemp syntax, "/tmp/signet-x.XXXXXX"), creates the demo PKI in
 * its "pki" subdirectory and fills fx->dir and fx->conf. Says why on stderr when ca_demo_init
 * fails. Returns 1 on success, 0 on failure.
 */
int pkifix_demo_make(struct pkifix *fx, const char *tmpl);

/*
 * Removes the temporary directory made by pkifix_demo_make and everything in it. Returns 1 on
 * success (and on a fixture that was never made), 0 when the removal failed.
 */
int pkifix_demo_remove(struct pkifix *fx);

/* Writes text to path (created or truncated). Returns 1 on success, 0 on failure. */
int pkifix_write_text(const char *path, const char *text);

/*
 * Writes text as the profile file policies/NAME.conf of the demo PKI. The profile is compiled
 * only once a CA lists it (pkifix_enable_profiles). Returns 1 on success, 0 on failure.
 */
int pkifix_add_profile(const struct pkifix *fx, const char *name, const char *text);

/*
 * Appends names (", "-separated profile names) to issuing-1's profile list in signet.conf, the
 * demo's "profiles = tls-server, tls-client, ocsp-responder" line. Returns 1 on success, 0 on
 * failure.
 */
int pkifix_enable_profiles(const struct pkifix *fx, const char *names);

/* Runs the sed expression expr in place on signet.conf. Returns 1 on success, 0 on failure. */
int pkifix_sed_conf(const struct pkifix *fx, const char *expr);

/*
 * A cmocka setup: opens a ca_ctx on fx->conf (no token login) into *state, which the test owns
 * until pkifix_ctx_teardown. Says why on stderr on failure. Returns 0 on success, -1 on failure.
 */
int pkifix_ctx_setup(const struct pkifix *fx, void **state);

/* A cmocka teardown: frees the ca_ctx in *state (NULL-safe). Returns 0. */
int pkifix_ctx_teardown(void **state);

/*
 * A PEM CSR signed with a fresh software P-256 key: subject CN=cn, a subjectAltName san in
 * OpenSSL's x509v3_config syntax ("DNS:a.example.test"; NULL: none) and up to two further
 * requested extensions nid1=v1, nid2=v2 (a NULL value: none). The extension request attribute
 * is present only when some extension is. Fails the running cmocka test when signing fails.
 * Returns a string the caller frees with free().
 */
char *pkifix_csr_ext(const char *cn, const char *san, int nid1, const char *v1, int nid2,
                     const char *v2);

/* pkifix_csr_ext with no further extensions. The caller frees the result with free(). */
char *pkifix_csr(const char *cn, const char *san);

/* pkifix_csr with the SAN "DNS:cn". The caller frees the result with free(). */
char *pkifix_csr_dns(const char *cn);

#endif
