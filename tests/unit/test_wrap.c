/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of hsmbind/wrap.c on two throwaway SoftHSM2 tokens: a trusted AES wrapping key made
 * by the SO, a backup key wrapped only under it, unwrapping into the same and another token
 * (through the RSA-OAEP transport), the new key proven by a signature that verifies under the
 * original public key, and the refusals: not extractable, untrusted KEK, Ed25519, label in use,
 * tampered blob, SO login while the user is logged in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../ca/internal.h"
#include "../../hsmbind/internal.h"
#include "common.h"
#include "hsmbind.h"
#include "tokenfix.h"

#ifdef __SANITIZE_ADDRESS__
const char *__lsan_default_options(void);
__attribute__((no_sanitize("address", "undefined"))) const char *__lsan_default_options(void)
{
    static char opts[1200] = "fast_unwind_on_malloc=0:suppressions=";
    static const char file[] = __FILE__, supp[] = "../faulthsm/lsan.supp";
    size_t n = 0, dir = 0, k = 0;

    while (opts[n] != '\0')
        n++;
    for (size_t i = 0; file[i] != '\0'; i++)
        if (file[i] == '/')
            dir = i + 1;
    if (dir == 0 || n + dir + sizeof(supp) >= sizeof(opts))
        return "fast_unwind_on_malloc=0";
    for (size_t i = 0; i < dir; i++)
        opts[n + k++] = file[i];
    for (size_t i = 0; i < sizeof(supp); i++)
        opts[n + k++] = supp[i];
    return opts;
}
#endif

static struct tokenfix fx;
static struct hsm_token *ta, *tb; /* source and destination, user logged in */

static struct secret *pin_of(const char *s)
{
    struct secret *p = secret_new(64);
    assert_non_null(p);
    assert_true(secret_set(p, s, strlen(s)));
    return p;
}

static struct hsm_token_config config(const char *label)
{
    struct hsm_token_config c;
    memset(&c, 0, sizeof(c));
    c.module = SIGNET_SOFTHSM_MODULE;
    c.token_label = label;
    c.find_retry_ms = 200;
    return c;
}

/* The SO makes the trusted keys on token A before anyone logs in as the user. */
static int group_setup(void **state)
{
    static const char *const labels[] = {"wrap-a", "wrap-b"};
    struct hsm_token_config ca = config("wrap-a"), cb = config("wrap-b");
    char detail[SIGNET_DETAIL_MAX] = "";
    struct hsm_token *so = NULL;
    struct secret *sopin;
    (void)state;

    if (!tokenfix_setup(&fx, labels, 2))
        return -1;
    sopin = pin_of(TOKENFIX_SO_PIN);
    if (hsm_token_open(&ca, NULL, &so, detail) != SIGNET_OK ||
        hsm_wrapkey_generate(so, "kek-trusted", HSM_WRAPKEY_TRUSTED, sopin, detail) != SIGNET_OK ||
        hsm_wrapkey_generate(so, "kek-transport", HSM_WRAPKEY_TRUSTED | HSM_WRAPKEY_EXTRACTABLE,
                             sopin, detail) != SIGNET_OK) {
        fprintf(stderr, "setup: %s\n", detail);
        secret_free(sopin);
        hsm_token_free(so);
        return -1;
    }
    secret_free(sopin);
    hsm_token_free(so);
    if (hsm_token_open(&ca, pin_of(TOKENFIX_PIN), &ta, detail) != SIGNET_OK ||
        hsm_token_open(&cb, pin_of(TOKENFIX_PIN), &tb, detail) != SIGNET_OK) {
        fprintf(stderr, "open: %s\n", detail);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    hsm_token_free(ta);
    hsm_token_free(tb);
    tokenfix_teardown(&fx);
    return 0;
}

/* Signs a digest with key and verifies it with pub (the original certificate's key). */
static void assert_signs_for(struct hsm_key *key, EVP_PKEY *pub)
{
    unsigned char dg[32], sig[HSM_SIG_MAX];
    size_t siglen = sizeof(sig);
    char detail[SIGNET_DETAIL_MAX] = "";
    EVP_PKEY_CTX *pc;

    memset(dg, 0x5a, sizeof(dg));
    assert_int_equal(hsm_sign(key, EVP_sha256(), dg, sizeof(dg), sig, &siglen, detail), SIGNET_OK);
    assert_non_null(pc = EVP_PKEY_CTX_new(pub, NULL));
    assert_int_equal(EVP_PKEY_verify_init(pc), 1);
    assert_int_equal(EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()), 1);
    assert_int_equal(EVP_PKEY_verify(pc, sig, siglen, dg, sizeof(dg)), 1);
    dg[0] ^= 1; /* and it is a real check */
    assert_int_not_equal(EVP_PKEY_verify(pc, sig, siglen, dg, sizeof(dg)), 1);
    EVP_PKEY_CTX_free(pc);
}

/* The number of key objects with this label on the token (through the listing). */
static size_t count_label(struct hsm_token *tok, const char *label)
{
    struct hsm_object_info *v = NULL;
    size_t n = 0, c = 0;
    char detail[SIGNET_DETAIL_MAX] = "";

    assert_int_equal(hsm_token_objects(tok, &v, &n, detail), SIGNET_OK);
    for (size_t i = 0; i < n; i++)
        c += strcmp(v[i].label, label) == 0;
    free(v);
    return c;
}

static void test_wrap_trusted_only(void **state)
{
    struct hsm_key *k = NULL, *u = NULL;
    unsigned char *blob = NULL;
    size_t len = 0;
    char detail[SIGNET_DETAIL_MAX] = "";
    (void)state;

    assert_int_equal(hsm_keygen(ta, "backup-ec", HSM_KEY_EC_P256, HSM_KEYGEN_BACKUP, &k, detail),
                     SIGNET_OK);
    assert_int_equal(hsm_wrapkey_generate(ta, "kek-plain", 0, NULL, detail), SIGNET_OK);
    /* an untrusted KEK is refused, with the reason */
    assert_int_equal(hsm_wrap(k, "kek-plain", &blob, &len, detail), SIGNET_E_FORBIDDEN);
    assert_null(blob);
    assert_non_null(strstr(detail, "trusted"));
    /* a missing KEK is named */
    assert_int_equal(hsm_wrap(k, "kek-none", &blob, &len, detail), SIGNET_E_NOTFOUND);
    assert_non_null(strstr(detail, "kek-none"));
    /* the trusted one wraps: ciphertext only, RFC 5649 adds 8 octets to a padded PKCS#8 */
    assert_int_equal(hsm_wrap(k, "kek-trusted", &blob, &len, detail), SIGNET_OK);
    assert_true(len > 40 && len % 8 == 0);
    /* into the same token under another label: signs what the original public key verifies */
    assert_int_equal(hsm_unwrap(ta, "kek-trusted", blob, len, hsm_key_public(k), "backup-ec-2",
                                HSM_KEYGEN_BACKUP, &u, detail),
                     SIGNET_OK);
    assert_int_equal(EVP_PKEY_eq(hsm_key_public(u), hsm_key_public(k)), 1);
    assert_signs_for(u, hsm_key_public(k));
    hsm_key_free(u);
    u = NULL;
    /* a label in use: refused, nothing written */
    assert_int_equal(count_label(ta, "backup-ec"), 2);
    assert_int_equal(
        hsm_unwrap(ta, "kek-trusted", blob, len, hsm_key_public(k), "backup-ec", 0, &u, detail),
        SIGNET_E_EXISTS);
    assert_null(u);
    assert_non_null(strstr(detail, "already holds"));
    assert_int_equal(count_label(ta, "backup-ec"), 2);
    /* a tampered blob: an error and no object left behind */
    blob[len / 2] ^= 0x40;
    assert_int_equal(
        hsm_unwrap(ta, "kek-trusted", blob, len, hsm_key_public(k), "backup-ec-bad", 0, &u, detail),
        SIGNET_E_INVALID);
    assert_non_null(strstr(detail, "altered"));
    assert_int_equal(hsm_token_breaker(ta), HSM_BREAKER_CLOSED);
    assert_null(u);
    assert_int_equal(count_label(ta, "backup-ec-bad"), 0);
    free(blob);
    hsm_key_free(k);
}

static void test_wrap_refusals(void **state)
{
    struct hsm_key *k = NULL, *e = NULL;
    unsigned char *blob = NULL;
    size_t len = 0;
    char detail[SIGNET_DETAIL_MAX] = "";
    struct secret *sopin = pin_of(TOKENFIX_SO_PIN);
    (void)state;

    assert_int_equal(hsm_keygen(ta, "online-ec", HSM_KEY_EC_P256, 0, &k, detail), SIGNET_OK);
    assert_int_equal(hsm_wrap(k, "kek-trusted", &blob, &len, detail), SIGNET_E_FORBIDDEN);
    assert_null(blob);
    assert_non_null(strstr(detail, "not extractable"));
    assert_non_null(strstr(detail, "cross-sign"));
    assert_int_equal(hsm_keygen(ta, "backup-ed", HSM_KEY_ED25519, HSM_KEYGEN_BACKUP, &e, detail),
                     SIGNET_OK);
    assert_int_equal(hsm_wrap(e, "kek-trusted", &blob, &len, detail), SIGNET_E_FORBIDDEN);
    assert_non_null(strstr(detail, "Ed25519"));
    /* the SO cannot log in on a token opened with the user PIN */
    assert_int_equal(hsm_wrapkey_generate(ta, "kek-x", HSM_WRAPKEY_TRUSTED, sopin, detail),
                     SIGNET_E_USAGE);
    /* a label used by a secret key */
    assert_int_equal(hsm_wrapkey_generate(ta, "kek-plain2", 0, NULL, detail), SIGNET_OK);
    assert_int_equal(hsm_wrapkey_generate(ta, "kek-plain2", 0, NULL, detail), SIGNET_E_EXISTS);
    secret_free(sopin);
    hsm_key_free(k);
    hsm_key_free(e);
}

/* A P-256 and an RSA key moved from token A to token B through the RSA-OAEP transport. */
static void test_transport(void **state)
{
    enum hsm_key_type types[2] = {HSM_KEY_EC_P256, HSM_KEY_RSA_2048};
    char detail[SIGNET_DETAIL_MAX] = "";
    EVP_PKEY *tpub = NULL;
    unsigned char *kblob = NULL;
    size_t klen = 0;
    unsigned n = 0;
    (void)state;

    assert_int_equal(hsm_transport_keypair(tb, "transport-1", &tpub, detail), SIGNET_OK);
    assert_int_equal(EVP_PKEY_get_base_id(tpub), EVP_PKEY_RSA);
    /* a non-extractable KEK cannot travel */
    assert_int_equal(hsm_wrapkey_export(ta, "kek-trusted", tpub, &kblob, &klen, detail),
                     SIGNET_E_FORBIDDEN);
    assert_int_equal(hsm_wrapkey_export(ta, "kek-transport", tpub, &kblob, &klen, detail),
                     SIGNET_OK);
    assert_int_equal(klen, 384);
    assert_int_equal(hsm_wrapkey_import(tb, "transport-1", kblob, klen, "kek-arrived", detail),
                     SIGNET_OK);
    assert_int_equal(hsm_wrapkey_import(tb, "transport-1", kblob, klen, "kek-arrived", detail),
                     SIGNET_E_EXISTS);
    for (int i = 0; i < 2; i++) {
        struct hsm_key *k = NULL, *m = NULL;
        unsigned char *blob = NULL;
        size_t len = 0;
        char label[32];
        snprintf(label, sizeof(label), "moved-%d", i);
        assert_int_equal(hsm_keygen(ta, label, types[i], HSM_KEYGEN_BACKUP, &k, detail), SIGNET_OK);
        assert_int_equal(hsm_wrap(k, "kek-transport", &blob, &len, detail), SIGNET_OK);
        assert_int_equal(
            hsm_unwrap(tb, "kek-arrived", blob, len, hsm_key_public(k), label, 0, &m, detail),
            SIGNET_OK);
        assert_int_equal(hsm_key_type(m), types[i]);
        assert_signs_for(m, hsm_key_public(k));
        assert_int_equal(count_label(tb, label), 2); /* private and public objects */
        free(blob);
        hsm_key_free(m);
        hsm_key_free(k);
    }
    assert_int_equal(hsm_object_destroy(tb, "transport-1", &n, detail), SIGNET_OK);
    assert_int_equal(n, 2);
    assert_int_equal(count_label(tb, "transport-1"), 0);
    assert_int_equal(hsm_object_destroy(tb, "kek-arrived", &n, detail), SIGNET_OK);
    assert_int_equal(n, 1);
    free(kblob);
    EVP_PKEY_free(tpub);
}

/* Signs a digest with key; the result of hsm_sign. */
static enum signet_err sign_once(struct hsm_key *key)
{
    unsigned char dg[32] = {1}, sig[HSM_SIG_MAX];
    size_t siglen = sizeof(sig);
    char detail[SIGNET_DETAIL_MAX] = "";

    return hsm_sign(key, EVP_sha256(), dg, sizeof(dg), sig, &siglen, detail);
}

/* Changes the user PIN behind the token's back (as `signet hsm change-pin` in another process). */
static void setpin_raw(struct hsm_token *tok, const char *old_pin, const char *new_pin)
{
    CK_SESSION_HANDLE h;

    assert_int_equal(
        tok->mod->fn->C_OpenSession(tok->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h),
        CKR_OK);
    assert_int_equal(tok->mod->fn->C_SetPIN(h, (CK_UTF8CHAR_PTR)old_pin, strlen(old_pin),
                                            (CK_UTF8CHAR_PTR)new_pin, strlen(new_pin)),
                     CKR_OK);
    tok->mod->fn->C_CloseSession(h);
}

/* An outage: every session of the application is closed (and the login with them). */
static void outage(struct hsm_token *tok)
{
    assert_int_equal(tok->mod->fn->C_CloseAllSessions(tok->slot), CKR_OK);
}

static void test_change_pin(void **state)
{
    struct hsm_key *k = NULL;
    struct secret *wrong = pin_of("0000"), *cur = pin_of(TOKENFIX_PIN), *next = pin_of("24680");
    char detail[SIGNET_DETAIL_MAX] = "";
    (void)state;

    assert_int_equal(hsm_keygen(tb, "pin-key", HSM_KEY_EC_P256, 0, &k, detail), SIGNET_OK);
    /* a wrong old PIN: clear error, nothing changed, the token still works */
    assert_int_equal(hsm_token_change_pin(tb, wrong, next, detail), SIGNET_E_PIN);
    assert_non_null(strstr(detail, "old PIN is wrong"));
    assert_null(strstr(detail, "24680"));
    assert_int_equal(hsm_token_breaker(tb), HSM_BREAKER_CLOSED);
    assert_int_equal(sign_once(k), SIGNET_OK);
    outage(tb); /* the old PIN still logs in: it was not changed */
    assert_int_equal(sign_once(k), SIGNET_OK);
    assert_int_equal(hsm_token_change_pin(tb, cur, cur, detail), SIGNET_E_USAGE);
    /* the change: sessions stay valid, and a re-login after an outage uses the new PIN */
    assert_int_equal(hsm_token_change_pin(tb, cur, next, detail), SIGNET_OK);
    assert_int_equal(sign_once(k), SIGNET_OK);
    outage(tb);
    assert_int_equal(sign_once(k), SIGNET_OK);
    /* changed elsewhere, credential given before the outage: no call fails */
    setpin_raw(tb, "24680", "13579");
    assert_int_equal(sign_once(k), SIGNET_OK);
    assert_int_equal(hsm_token_set_credential(tb, pin_of("13579"), detail), SIGNET_OK);
    outage(tb);
    assert_int_equal(sign_once(k), SIGNET_OK);
    /* changed elsewhere and an outage first: refused, then the new credential recovers it */
    setpin_raw(tb, "13579", TOKENFIX_PIN);
    outage(tb);
    assert_int_equal(sign_once(k), SIGNET_E_PIN);
    assert_int_equal(sign_once(k), SIGNET_E_PIN); /* never tried again by itself */
    assert_int_equal(hsm_token_set_credential(tb, pin_of(TOKENFIX_PIN), detail), SIGNET_OK);
    assert_int_equal(sign_once(k), SIGNET_OK);
    assert_int_equal(hsm_token_breaker(tb), HSM_BREAKER_CLOSED);
    secret_free(wrong);
    secret_free(cur);
    secret_free(next);
    hsm_key_free(k);
}

/* ---- the CA level: ca_change_pin and ca_reload_credentials on a demo PKI ---- */

static char demo_dir[256], demo_conf[300], pin_path[300];

static int demo_setup(void **state)
{
    char detail[SIGNET_DETAIL_MAX] = "";
    (void)state;

    snprintf(demo_dir, sizeof(demo_dir), "/tmp/signet-wrap.XXXXXX");
    if (mkdtemp(demo_dir) == NULL)
        return -1;
    strcat(demo_dir, "/pki");
    if (ca_demo_init(demo_dir, detail) != SIGNET_OK) {
        fprintf(stderr, "demo init: %s\n", detail);
        return -1;
    }
    snprintf(demo_conf, sizeof(demo_conf), "%s/signet.conf", demo_dir);
    snprintf(pin_path, sizeof(pin_path), "%s/hsm/online.pin", demo_dir);
    return 0;
}

static int demo_teardown(void **state)
{
    char cmd[400];
    (void)state;

    *strrchr(demo_dir, '/') = '\0';
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", demo_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_pin(const char *pin)
{
    char detail[SIGNET_DETAIL_MAX] = "";
    assert_int_equal(sg_write_file(pin_path, pin, strlen(pin), 0600, detail), SIGNET_OK);
}

static char *read_pin(void)
{
    unsigned char *b = NULL;
    size_t n = 0;
    char detail[SIGNET_DETAIL_MAX] = "";
    assert_int_equal(sg_read_file(pin_path, 256, &b, &n, detail), SIGNET_OK);
    return (char *)b;
}

/* Signs with issuing-1's key through the context (what issuance, CRLs and OCSP do). */
static enum signet_err ca_sign_once(struct ca_ctx *ctx)
{
    struct hsm_key *key = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";
    enum signet_err rc = ca_ent_hsm_key(ctx, ca_ent_find(ctx, "issuing-1"), &key, detail);

    return rc != SIGNET_OK ? rc : sign_once(key);
}

static void test_ca_pin_rotation(void **state)
{
    struct ca_ctx *ctx = NULL;
    struct hsm_token *tok = NULL;
    struct ca_pin_change res;
    char detail[SIGNET_DETAIL_MAX] = "", *old = NULL, *now = NULL;
    struct secret *wrong = pin_of("definitely-wrong"), *next = pin_of("rotated-1357"), *cur;
    size_t n = 0;
    (void)state;

    assert_int_equal(ca_ctx_open(demo_conf, 0, &ctx, detail), SIGNET_OK);
    old = read_pin();
    cur = pin_of(old);
    assert_int_equal(ca_sign_once(ctx), SIGNET_OK);
    assert_int_equal(ca_token(ctx, "online", &tok, detail), SIGNET_OK);
    /* a wrong old PIN: refused, the file untouched, signing goes on */
    assert_int_equal(ca_change_pin(ctx, "online", wrong, next, &res, detail), SIGNET_E_PIN);
    assert_int_equal(res.changed, 0);
    assert_non_null(strstr(detail, "old PIN is wrong"));
    now = read_pin();
    assert_string_equal(now, old);
    free(now);
    assert_int_equal(ca_sign_once(ctx), SIGNET_OK);
    /* the quorum root: only a ceremony */
    assert_int_equal(ca_change_pin(ctx, "root", cur, next, &res, detail), SIGNET_E_FORBIDDEN);
    assert_non_null(strstr(detail, "ceremony"));
    /* changed by another process, then an outage before the reload: refused for good... */
    setpin_raw(tok, old, "rotated-1357");
    assert_int_equal(ca_sign_once(ctx), SIGNET_OK); /* sessions stay logged in */
    outage(tok);
    assert_int_equal(ca_sign_once(ctx), SIGNET_E_PIN);
    /* ...until the source holds the new PIN and the reload (signetd's SIGHUP) runs */
    write_pin("rotated-1357");
    assert_int_equal(ca_reload_credentials(ctx, &n, detail), SIGNET_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ca_sign_once(ctx), SIGNET_OK);
    /* the reload before the outage: no call fails at all */
    setpin_raw(tok, "rotated-1357", old);
    write_pin(old);
    assert_int_equal(ca_reload_credentials(ctx, &n, detail), SIGNET_OK);
    outage(tok);
    assert_int_equal(ca_sign_once(ctx), SIGNET_OK);
    /* an unreadable source: the old credential is kept, the error names the token */
    assert_int_equal(unlink(pin_path), 0);
    assert_int_not_equal(ca_reload_credentials(ctx, &n, detail), SIGNET_OK);
    assert_non_null(strstr(detail, "signet-online"));
    assert_null(strstr(detail, old));
    outage(tok);
    assert_int_equal(ca_sign_once(ctx), SIGNET_OK);
    /* ca_change_pin through the context: the file is rewritten 0600 */
    write_pin(old);
    assert_int_equal(ca_change_pin(ctx, "online", cur, next, &res, detail), SIGNET_OK);
    assert_int_equal(res.source_updated, 1);
    now = read_pin();
    assert_string_equal(now, "rotated-1357");
    free(now);
    outage(tok);
    assert_int_equal(ca_sign_once(ctx), SIGNET_OK);
    ca_ctx_free(ctx);
    free(old);
    secret_free(wrong);
    secret_free(next);
    secret_free(cur);
}

/* ca_cert_generation on the demo's chain: issuing-1's AKI is the root's SKI. */
static void test_cert_generation(void **state)
{
    char path[400], detail[SIGNET_DETAIL_MAX] = "";
    X509 *root, *issuing;
    (void)state;

    snprintf(path, sizeof(path), "%s/public/root.crt", demo_dir);
    assert_non_null(root = ca_load_cert_file(path, detail));
    snprintf(path, sizeof(path), "%s/public/issuing-1.crt", demo_dir);
    assert_non_null(issuing = ca_load_cert_file(path, detail));
    assert_int_equal(ca_cert_generation(issuing, root, NULL), 0);
    assert_int_equal(ca_cert_generation(issuing, issuing, root), 1);
    assert_int_equal(ca_cert_generation(issuing, issuing, NULL), -1);
    assert_int_equal(ca_cert_generation(issuing, NULL, issuing), -1);
    X509_free(root);
    X509_free(issuing);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrap_trusted_only),
        cmocka_unit_test(test_wrap_refusals),
        cmocka_unit_test(test_transport),
        cmocka_unit_test(test_change_pin),
    };
    const struct CMUnitTest ca_tests[] = {
        cmocka_unit_test(test_ca_pin_rotation),
        cmocka_unit_test(test_cert_generation),
    };
    int failed = cmocka_run_group_tests(tests, group_setup, group_teardown);
    /* after the first group: its tokens are closed, so the module reads the demo's conf */
    return failed + cmocka_run_group_tests(ca_tests, demo_setup, demo_teardown);
}
