/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of hsmbind/ on a real SoftHSM2 token (tokenfix): URIs, key generation of every type
 * with its attributes read back, signing checked with OpenSSL on the public key, refusals (label
 * in use, wrong PIN, missing token), the key-handle cache, concurrency, and the CKR table,
 * backoff and circuit breaker. Recovery through injected faults is in tests/faulthsm.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../hsmbind/internal.h"
#include "common.h"
#include "hsmbind.h"
#include "tokenfix.h"

#ifdef __SANITIZE_ADDRESS__
/*
 * Under ASan, SoftHSM 2.6.1 leaks an ASN.1 string per C_SignInit with an Ed25519 key (its own
 * allocation). tests/faulthsm/lsan.supp suppresses it, which needs full stacks: ask for both here
 * (LSAN_OPTIONS from the environment still overrides). Runs before main, so no libc calls.
 */
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
static struct hsm_token *tok;
static struct hsm_key *keys[HSM_KEY_TYPE_MAX];

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

static int group_setup(void **state)
{
    static const char *const labels[] = {"hsm-unit", "hsm-other"};
    struct hsm_token_config c = config("hsm-unit");
    char detail[SIGNET_DETAIL_MAX] = "";
    (void)state;

    if (!tokenfix_setup(&fx, labels, 2))
        return -1;
    if (hsm_token_open(&c, pin_of(TOKENFIX_PIN), &tok, detail) != SIGNET_OK) {
        fprintf(stderr, "open: %s\n", detail);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < HSM_KEY_TYPE_MAX; i++)
        hsm_key_free(keys[i]);
    hsm_token_free(tok);
    tokenfix_teardown(&fx);
    return 0;
}

/* The key of each type, generated on first use with label "k-<type>". */
static struct hsm_key *key_of(enum hsm_key_type t)
{
    char label[32], detail[SIGNET_DETAIL_MAX] = "";

    if (keys[t] == NULL) {
        snprintf(label, sizeof(label), "k-%s", hsm_key_type_name(t));
        assert_int_equal(hsm_keygen(tok, label, t, 0, &keys[t], detail), SIGNET_OK);
    }
    return keys[t];
}

static void test_key_type_names(void **state)
{
    enum hsm_key_type t;
    (void)state;
    for (int i = 0; i < HSM_KEY_TYPE_MAX; i++) {
        assert_true(hsm_key_type_parse(hsm_key_type_name((enum hsm_key_type)i), &t));
        assert_int_equal(t, i);
    }
    assert_false(hsm_key_type_parse("rsa:1024", &t));
    assert_false(hsm_key_type_parse("ec:P-521", &t));
    assert_false(hsm_key_type_parse(NULL, &t));
    assert_string_equal(hsm_breaker_name(HSM_BREAKER_HALF_OPEN), "half-open");
}

static void test_ckr_table(void **state)
{
    char detail[SIGNET_DETAIL_MAX];
    (void)state;

    assert_int_equal(hsm_ckr_class(CKR_FUNCTION_FAILED), HSM_CKR_RETRY);
    assert_int_equal(hsm_ckr_class(CKR_DEVICE_ERROR), HSM_CKR_RETRY);
    assert_int_equal(hsm_ckr_class(CKR_DEVICE_MEMORY), HSM_CKR_RETRY);
    assert_int_equal(hsm_ckr_class(CKR_GENERAL_ERROR), HSM_CKR_RETRY);
    assert_int_equal(hsm_ckr_class(CKR_SESSION_COUNT), HSM_CKR_RETRY);
    assert_int_equal(hsm_ckr_class(CKR_OPERATION_ACTIVE), HSM_CKR_RETRY);
    assert_int_equal(hsm_ckr_class(CKR_SESSION_HANDLE_INVALID), HSM_CKR_RECONNECT);
    assert_int_equal(hsm_ckr_class(CKR_USER_NOT_LOGGED_IN), HSM_CKR_RECONNECT);
    assert_int_equal(hsm_ckr_class(CKR_KEY_HANDLE_INVALID), HSM_CKR_RECONNECT);
    assert_int_equal(hsm_ckr_class(CKR_DEVICE_REMOVED), HSM_CKR_REINIT);
    assert_int_equal(hsm_ckr_class(CKR_TOKEN_NOT_PRESENT), HSM_CKR_REINIT);
    assert_int_equal(hsm_ckr_class(CKR_CRYPTOKI_NOT_INITIALIZED), HSM_CKR_REINIT);
    assert_int_equal(hsm_ckr_class(CKR_SLOT_ID_INVALID), HSM_CKR_REINIT);
    assert_int_equal(hsm_ckr_class(CKR_PIN_INCORRECT), HSM_CKR_PERMANENT);
    assert_int_equal(hsm_ckr_class(CKR_PIN_LOCKED), HSM_CKR_PERMANENT);
    assert_int_equal(hsm_ckr_class(CKR_MECHANISM_INVALID), HSM_CKR_PERMANENT);
    assert_int_equal(hsm_ckr_class(CKR_USER_ALREADY_LOGGED_IN), HSM_CKR_OK);
    assert_int_equal(hsm_ckr_class(0x7777UL), HSM_CKR_PERMANENT); /* unknown: never retried */
    assert_int_equal(hsm_ckr_class(HSMB_RV_BADSIG), HSM_CKR_RETRY);
    assert_int_equal(hsm_ckr_err(CKR_PIN_EXPIRED), SIGNET_E_PIN);
    assert_int_equal(hsm_ckr_err(CKR_KEY_FUNCTION_NOT_PERMITTED), SIGNET_E_HSM);
    assert_string_equal(hsm_ckr_name(CKR_PIN_LEN_RANGE), "CKR_PIN_LEN_RANGE");

    assert_int_equal(hsm_ckr_detail(CKR_PIN_INCORRECT, "C_Login on token 'x'", detail),
                     SIGNET_E_PIN);
    assert_non_null(strstr(detail, "C_Login on token 'x' failed: CKR_PIN_INCORRECT (0xa0)"));
    assert_non_null(strstr(detail, "not be tried again"));
    hsm_ckr_detail(0x7777UL, "C_Sign", detail);
    assert_non_null(strstr(detail, "unknown CKR 0x7777"));
}

static void test_backoff(void **state)
{
    (void)state;
    /* doubling from the base, jitter in [d/2, d], bounded by the maximum */
    for (uint32_t r = 0; r < 1000; r += 7) {
        unsigned b0 = hsm_backoff_ms(5, 200, 0, r), b3 = hsm_backoff_ms(5, 200, 3, r);
        unsigned b9 = hsm_backoff_ms(5, 200, 9, r);
        assert_in_range(b0, 2, 5);
        assert_in_range(b3, 20, 40);
        assert_in_range(b9, 100, 200);
    }
    assert_int_equal(hsm_backoff_ms(5, 200, 60, 0), 100);
    assert_true(hsm_backoff_ms(5, 200, 2, 1) != hsm_backoff_ms(5, 200, 2, 6));
}

static void test_breaker_machine(void **state)
{
    struct hsm_brk b;
    char detail[SIGNET_DETAIL_MAX];
    int probe;
    (void)state;

    hsm_brk_init(&b, 2, 100);
    assert_true(hsm_brk_admit(&b, 1000, &probe));
    assert_false(probe);
    hsm_brk_fail(&b, 1000, 1700000000, "first");
    assert_int_equal(b.state, HSM_BREAKER_CLOSED); /* below the threshold */
    hsm_brk_fail(&b, 1010, 1700000000, "C_GetTokenInfo failed: CKR_DEVICE_REMOVED");
    assert_int_equal(b.state, HSM_BREAKER_OPEN);
    assert_int_equal(b.trips, 1);
    /* open: everyone fails fast until the probe interval has passed */
    assert_false(hsm_brk_admit(&b, 1050, &probe));
    hsm_brk_message(&b, "signet-online", detail);
    assert_string_equal(detail, "HSM token 'signet-online' is unavailable since "
                                "2023-11-14T22:13:20Z: C_GetTokenInfo failed: "
                                "CKR_DEVICE_REMOVED; Signet retries by itself (one probe every "
                                "100 ms) and signs again as soon as the token answers; if this "
                                "lasts, check the HSM, its connection and the module's log");
    /* then exactly one caller probes (half-open) */
    assert_true(hsm_brk_admit(&b, 1110, &probe));
    assert_true(probe);
    assert_int_equal(b.state, HSM_BREAKER_HALF_OPEN);
    assert_false(hsm_brk_admit(&b, 1111, &probe));
    /* a failed probe re-opens without counting a new trip */
    hsm_brk_fail(&b, 1120, 1700000050, "still down");
    assert_int_equal(b.state, HSM_BREAKER_OPEN);
    assert_int_equal(b.trips, 1);
    assert_int_equal(b.since, 1700000000);
    assert_false(hsm_brk_admit(&b, 1200, &probe));
    assert_true(hsm_brk_admit(&b, 1220, &probe));
    assert_true(probe);
    hsm_brk_ok(&b);
    assert_int_equal(b.state, HSM_BREAKER_CLOSED);
    assert_true(hsm_brk_admit(&b, 1221, &probe));
    assert_false(probe);
}

/*
 * A refused PIN opens the breaker for good: no probe is ever admitted (it would log in again),
 * a success elsewhere does not close it, and its message is the PIN's, not "retries by itself".
 */
static void test_breaker_pin(void **state)
{
    struct hsm_brk b;
    char detail[SIGNET_DETAIL_MAX];
    int probe;
    (void)state;

    hsm_brk_init(&b, 1, 100);
    hsm_brk_pin(&b, 1700000000, CKR_PIN_INCORRECT);
    assert_int_equal(b.state, HSM_BREAKER_OPEN);
    assert_int_equal(b.trips, 1);
    for (uint64_t t = 1000; t < 100000; t += 777)
        assert_false(hsm_brk_admit(&b, t, &probe));
    hsm_brk_ok(&b);
    hsm_brk_fail(&b, 2000, 1700000500, "C_OpenSession failed: CKR_DEVICE_ERROR");
    assert_int_equal(b.state, HSM_BREAKER_OPEN);
    assert_false(hsm_brk_admit(&b, 10000000, &probe));
    hsm_brk_message(&b, "signet-online", detail);
    assert_string_equal(detail, "HSM token 'signet-online' refused its PIN at 2023-11-14T22:13:20Z "
                                "(CKR_PIN_INCORRECT); Signet will not try it again, since every "
                                "wrong attempt counts toward the token's lockout; fix the "
                                "credential named by pin = in signet.conf and send signetd "
                                "SIGHUP (or restart)");
    hsm_pin_message("t", CKR_PIN_LOCKED, 1700000000, detail);
    assert_non_null(strstr(detail, "security officer"));
    hsm_pin_message("t", CKR_PIN_EXPIRED, 1700000000, detail);
    assert_non_null(strstr(detail, "signet hsm change-pin"));
}

static void test_missing_token(void **state)
{
    struct hsm_token_config c = config("no-such-token");
    struct hsm_token *t = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";
    (void)state;

    assert_int_equal(hsm_token_open(&c, pin_of(TOKENFIX_PIN), &t, detail), SIGNET_E_NOTFOUND);
    assert_null(t);
    assert_non_null(strstr(detail, "'no-such-token'"));
    assert_non_null(strstr(detail, SIGNET_SOFTHSM_MODULE));
    assert_non_null(strstr(detail, "softhsm2.conf"));

    c.module = "/nonexistent/libpkcs11.so";
    assert_int_equal(hsm_token_open(&c, NULL, &t, detail), SIGNET_E_CONFIG);
    assert_non_null(strstr(detail, "/nonexistent/libpkcs11.so"));
}

static void test_wrong_pin(void **state)
{
    struct hsm_token_config c = config("hsm-other");
    struct hsm_token *t = NULL;
    struct hsm_stats st;
    char detail[SIGNET_DETAIL_MAX] = "";
    (void)state;

    assert_int_equal(hsm_token_open(&c, pin_of("999999"), &t, detail), SIGNET_E_PIN);
    assert_null(t);
    assert_non_null(strstr(detail, "'hsm-other'"));
    assert_non_null(strstr(detail, "CKR_PIN_INCORRECT"));
    assert_non_null(strstr(detail, "refused its PIN at "));
    assert_non_null(strstr(detail, "will not try it again"));
    assert_non_null(strstr(detail, "restart"));
    assert_null(strstr(detail, "999999"));
    /* the right PIN still works, and one login was made */
    assert_int_equal(hsm_token_open(&c, pin_of(TOKENFIX_PIN), &t, detail), SIGNET_OK);
    hsm_token_stats(t, &st);
    assert_int_equal(st.logins, 1);
    assert_int_equal(hsm_token_probe(t, detail), SIGNET_OK);
    assert_int_equal(hsm_token_breaker(t), HSM_BREAKER_CLOSED);
    hsm_token_free(t);
}

static void test_slots(void **state)
{
    struct hsm_slot_info *v = NULL;
    size_t n = 0, seen = 0;
    char detail[SIGNET_DETAIL_MAX] = "";
    (void)state;

    assert_int_equal(hsm_module_slots(SIGNET_SOFTHSM_MODULE, NULL, &v, &n, detail), SIGNET_OK);
    for (size_t i = 0; i < n; i++)
        if (v[i].initialized &&
            (strcmp(v[i].label, "hsm-unit") == 0 || strcmp(v[i].label, "hsm-other") == 0))
            seen++;
    assert_int_equal(seen, 2);
    free(v);
}

static void test_uri(void **state)
{
    struct hsm_key *k = NULL, *p256 = key_of(HSM_KEY_EC_P256);
    char detail[SIGNET_DETAIL_MAX] = "";
    (void)state;

    assert_string_equal(hsm_key_uri(p256), "pkcs11:token=hsm-unit;object=k-ec%3AP-256");
    assert_string_equal(hsm_key_label(p256), "k-ec:P-256");
    /* good: the key's own URI, a hand-written one, one without the token */
    assert_int_equal(hsm_key_find(tok, hsm_key_uri(p256), &k, detail), SIGNET_OK);
    assert_int_equal(EVP_PKEY_eq(hsm_key_public(k), hsm_key_public(p256)), 1);
    hsm_key_free(k);
    assert_int_equal(
        hsm_key_find(tok, "pkcs11:token=hsm-unit;object=k-ec:P-256;type=private", &k, detail),
        SIGNET_OK);
    assert_int_equal(hsm_key_type(k), HSM_KEY_EC_P256);
    hsm_key_free(k);
    /* bad syntax, no object named, not a private key */
    assert_int_equal(hsm_key_find(tok, "http://example.com/key", &k, detail), SIGNET_E_USAGE);
    assert_null(k);
    assert_non_null(strstr(detail, "RFC 7512"));
    assert_int_equal(hsm_key_find(tok, "pkcs11:object=bad%zz", &k, detail), SIGNET_E_USAGE);
    assert_int_equal(hsm_key_find(tok, "pkcs11:token=hsm-unit", &k, detail), SIGNET_E_USAGE);
    assert_non_null(strstr(detail, "object="));
    assert_int_equal(hsm_key_find(tok, "pkcs11:object=k-ec:P-256;type=cert", &k, detail),
                     SIGNET_E_USAGE);
    /* wrong token */
    assert_int_equal(hsm_key_find(tok, "pkcs11:token=signet-root;object=k-ec:P-256", &k, detail),
                     SIGNET_E_USAGE);
    assert_non_null(strstr(detail, "'signet-root'"));
    assert_non_null(strstr(detail, "'hsm-unit'"));
    /* well-formed but absent */
    assert_int_equal(hsm_key_find(tok, "pkcs11:token=hsm-unit;object=nothing", &k, detail),
                     SIGNET_E_NOTFOUND);
    assert_non_null(strstr(detail, "object=nothing"));
}

/* Finds the private entry labelled label in a listing. */
static const struct hsm_object_info *listed(const struct hsm_object_info *v, size_t n,
                                            const char *label, int priv)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].label, label) == 0 && v[i].is_private == priv)
            return &v[i];
    return NULL;
}

static void test_keygen_attributes(void **state)
{
    struct hsm_object_info *v = NULL;
    const struct hsm_object_info *e;
    struct hsm_key *k = NULL;
    size_t n = 0;
    char detail[SIGNET_DETAIL_MAX] = "";
    (void)state;

    for (int t = 0; t < HSM_KEY_TYPE_MAX; t++) {
        assert_int_equal(hsm_key_type(key_of((enum hsm_key_type)t)), t);
        assert_int_equal(hsm_pkey_type(hsm_key_public(keys[t])), t);
    }
    assert_int_equal(hsm_keygen(tok, "k-backup", HSM_KEY_EC_P256, HSM_KEYGEN_BACKUP, &k, detail),
                     SIGNET_OK);
    hsm_key_free(k);
    assert_int_equal(hsm_token_objects(tok, &v, &n, detail), SIGNET_OK);
    for (int t = 0; t < HSM_KEY_TYPE_MAX; t++) {
        assert_non_null(e = listed(v, n, hsm_key_label(keys[t]), 1));
        assert_int_equal(e->type, t);
        assert_true(e->sensitive);
        assert_false(e->extractable);
        assert_true(e->always_sensitive);
        assert_true(e->never_extractable);
        assert_non_null(strstr(e->uri, "type=private"));
        assert_non_null(e = listed(v, n, hsm_key_label(keys[t]), 0));
        assert_int_equal(e->type, t);
    }
    assert_non_null(e = listed(v, n, "k-backup", 1));
    assert_true(e->sensitive);
    assert_true(e->extractable);
    assert_false(e->never_extractable);
    free(v);

    /* a label in use is refused and nothing new appears */
    assert_int_equal(hsm_keygen(tok, "k-ec:P-256", HSM_KEY_ED25519, 0, &k, detail),
                     SIGNET_E_EXISTS);
    assert_null(k);
    assert_non_null(strstr(detail, "'k-ec:P-256'"));
}

/* Signs msg with key (digesting it first unless Ed25519) and verifies with plain OpenSSL. */
static void sign_and_verify(struct hsm_key *key, const EVP_MD *md, const char *msg)
{
    unsigned char dg[EVP_MAX_MD_SIZE], sig[HSM_SIG_MAX];
    unsigned int dglen = 0;
    size_t siglen = sizeof(sig);
    char detail[SIGNET_DETAIL_MAX] = "";
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    int ed = hsm_key_type(key) == HSM_KEY_ED25519;

    assert_non_null(m);
    if (!ed) {
        assert_int_equal(EVP_Digest(msg, strlen(msg), dg, &dglen, md, NULL), 1);
        assert_int_equal(hsm_sign(key, md, dg, dglen, sig, &siglen, detail), SIGNET_OK);
    } else {
        assert_int_equal(
            hsm_sign(key, NULL, (const unsigned char *)msg, strlen(msg), sig, &siglen, detail),
            SIGNET_OK);
        assert_int_equal(siglen, 64);
    }
    assert_int_equal(EVP_DigestVerifyInit(m, NULL, ed ? NULL : md, NULL, hsm_key_public(key)), 1);
    assert_int_equal(EVP_DigestVerify(m, sig, siglen, (const unsigned char *)msg, strlen(msg)), 1);
    /* and a different message does not verify */
    assert_int_equal(EVP_DigestVerifyInit(m, NULL, ed ? NULL : md, NULL, hsm_key_public(key)), 1);
    assert_int_not_equal(EVP_DigestVerify(m, sig, siglen, (const unsigned char *)"other", 5), 1);
    EVP_MD_CTX_free(m);
}

static void test_sign_all_types(void **state)
{
    unsigned char sig[HSM_SIG_MAX], dg[32] = {0};
    size_t siglen;
    char detail[SIGNET_DETAIL_MAX] = "";
    struct hsm_stats st;
    (void)state;

    for (int t = 0; t < HSM_KEY_TYPE_MAX; t++) {
        struct hsm_key *k = key_of((enum hsm_key_type)t);
        const EVP_MD *md = t == HSM_KEY_EC_P384 ? EVP_sha384() : EVP_sha256();
        sign_and_verify(k, md, "tbsCertificate bytes");
        if (t == HSM_KEY_RSA_2048)
            sign_and_verify(k, EVP_sha512(), "with SHA-512");
    }
    /* wrong digest length, a digest for Ed25519, a buffer too small */
    siglen = sizeof(sig);
    assert_int_equal(hsm_sign(keys[HSM_KEY_EC_P256], EVP_sha256(), dg, 20, sig, &siglen, detail),
                     SIGNET_E_USAGE);
    assert_int_equal(hsm_sign(keys[HSM_KEY_ED25519], EVP_sha256(), dg, 32, sig, &siglen, detail),
                     SIGNET_E_USAGE);
    siglen = 100;
    assert_int_equal(hsm_sign(keys[HSM_KEY_RSA_2048], EVP_sha256(), dg, 32, sig, &siglen, detail),
                     SIGNET_E_USAGE);
    hsm_token_stats(tok, &st);
    assert_int_equal(st.bad_sigs, 0);
    assert_true(st.signs >= HSM_KEY_TYPE_MAX + 1);
}

static void test_pin_public(void **state)
{
    (void)state;
    assert_int_equal(hsm_key_pin_public(key_of(HSM_KEY_EC_P256), hsm_key_public(keys[0])), 1);
    assert_int_equal(hsm_key_pin_public(keys[0], hsm_key_public(key_of(HSM_KEY_ED25519))), 0);
    sign_and_verify(keys[0], EVP_sha256(), "still signs");
}

static void test_handles_cached(void **state)
{
    struct hsm_key *k = key_of(HSM_KEY_EC_P256);
    uint64_t before = hsm_token_find_calls(tok);
    (void)state;

    for (int i = 0; i < 200; i++)
        sign_and_verify(k, EVP_sha256(), "cached");
    assert_int_equal(hsm_token_find_calls(tok), before); /* no C_FindObjects per signature */
}

struct worker {
    struct hsm_key *key;
    int ok;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    unsigned char dg[32], sig[HSM_SIG_MAX];
    char msg[64], detail[SIGNET_DETAIL_MAX];
    EVP_MD_CTX *m = EVP_MD_CTX_new();

    for (int i = 0; i < 500 && m != NULL; i++) {
        size_t siglen = sizeof(sig);
        unsigned dglen = 0;
        snprintf(msg, sizeof(msg), "message %d from %p", i, (void *)w);
        if (EVP_Digest(msg, strlen(msg), dg, &dglen, EVP_sha256(), NULL) != 1 ||
            hsm_sign(w->key, EVP_sha256(), dg, dglen, sig, &siglen, detail) != SIGNET_OK ||
            EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, hsm_key_public(w->key)) != 1 ||
            EVP_DigestVerify(m, sig, siglen, (unsigned char *)msg, strlen(msg)) != 1)
            break;
        w->ok++;
    }
    EVP_MD_CTX_free(m);
    return NULL;
}

static void test_concurrency(void **state)
{
    pthread_t th[4];
    struct worker w[4];
    struct hsm_stats st0, st1;
    (void)state;

    hsm_token_stats(tok, &st0);
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){key_of(HSM_KEY_EC_P256), 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].ok, 500);
    }
    hsm_token_stats(tok, &st1);
    assert_int_equal(st1.signs - st0.signs, 2000);
    assert_int_equal(st1.bad_sigs, 0);
    assert_int_equal(st1.logins, st0.logins); /* one login per token */
}

/*
 * A new token appears to this process after hsm_token_init; the token already open on the same
 * module notices the re-initialise (generation), reconnects by itself and signs again.
 */
static void test_token_init(void **state)
{
    struct hsm_token_config c = config("hsm-new");
    struct secret *so = pin_of(TOKENFIX_SO_PIN), *user = pin_of("4321");
    struct hsm_token *t = NULL;
    struct hsm_key *k = NULL;
    struct hsm_stats st0, st1;
    char detail[SIGNET_DETAIL_MAX] = "";
    (void)state;

    sign_and_verify(key_of(HSM_KEY_EC_P256), EVP_sha256(), "before");
    hsm_token_stats(tok, &st0);
    assert_int_equal(hsm_token_init(SIGNET_SOFTHSM_MODULE, NULL, "hsm-new", so, user, detail),
                     SIGNET_OK);
    assert_int_equal(hsm_token_init(SIGNET_SOFTHSM_MODULE, NULL, "hsm-new", so, user, detail),
                     SIGNET_E_EXISTS);
    assert_non_null(strstr(detail, "'hsm-new'"));
    assert_int_equal(hsm_token_open(&c, secret_dup(user), &t, detail), SIGNET_OK);
    assert_int_equal(hsm_keygen(t, "fresh", HSM_KEY_EC_P256, 0, &k, detail), SIGNET_OK);
    sign_and_verify(k, EVP_sha256(), "on the new token");
    hsm_key_free(k);
    hsm_token_free(t);
    secret_free(so);
    secret_free(user);

    /* handles and sessions of the old generation were discarded, not reused */
    sign_and_verify(keys[HSM_KEY_EC_P256], EVP_sha256(), "after");
    sign_and_verify(key_of(HSM_KEY_ED25519), NULL, "after, ed25519");
    hsm_token_stats(tok, &st1);
    assert_true(st1.reconnects > st0.reconnects);
    assert_int_equal(hsm_token_breaker(tok), HSM_BREAKER_CLOSED);
    assert_int_equal(hsm_token_probe(tok, detail), SIGNET_OK);
}

/* ---- a fake module that breaks the PKCS#11 contract on lengths (outside input is bounded) ---- */

static CK_ULONG fake_extra; /* how much more than the room given the fake claims */

static CK_RV fake_find_init(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
    (void)h, (void)t, (void)n;
    return CKR_OK;
}

static CK_RV fake_find(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR out, CK_ULONG max, CK_ULONG_PTR n)
{
    (void)h;
    for (CK_ULONG i = 0; i < max; i++)
        out[i] = i + 1;
    *n = max + fake_extra;
    return CKR_OK;
}

static CK_RV fake_find_final(CK_SESSION_HANDLE h)
{
    (void)h;
    return CKR_OK;
}

static CK_RV fake_get_attr(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR a, CK_ULONG n)
{
    (void)h, (void)o, (void)n;
    memset(a->pValue, 'x', a->ulValueLen);
    a->ulValueLen += fake_extra;
    return CKR_OK;
}

static CK_RV fake_slot_list(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR n)
{
    (void)present;
    if (list == NULL) {
        *n = 2;
        return CKR_OK;
    }
    for (CK_ULONG i = 0; i < *n; i++)
        list[i] = i;
    *n += fake_extra;
    return CKR_OK;
}

/*
 * A module that answers CKR_OK with more objects, a longer attribute or more slots than it was
 * given room for is refused (HSMB_RV_OVERRUN) and the length is not passed on.
 */
static void test_module_overrun(void **state)
{
    CK_FUNCTION_LIST fl;
    struct hsm_module m;
    struct hsm_token t;
    CK_OBJECT_HANDLE obj[2];
    CK_SLOT_ID *slots = NULL;
    unsigned char buf[16];
    CK_ULONG n = 99;
    (void)state;

    memset(&fl, 0, sizeof(fl));
    memset(&m, 0, sizeof(m));
    memset(&t, 0, sizeof(t));
    fl.C_FindObjectsInit = fake_find_init;
    fl.C_FindObjects = fake_find;
    fl.C_FindObjectsFinal = fake_find_final;
    fl.C_GetAttributeValue = fake_get_attr;
    fl.C_GetSlotList = fake_slot_list;
    m.fn = &fl;
    t.mod = &m;

    fake_extra = 0;
    assert_int_equal(hsm_find(&t, 1, NULL, 0, obj, 2, &n), CKR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(hsm_get_attr(&t, 1, 1, CKA_LABEL, buf, sizeof(buf), &n), CKR_OK);
    assert_int_equal(n, sizeof(buf));
    assert_int_equal(hsm_module_slot_list(&m, &slots, &n), CKR_OK);
    assert_int_equal(n, 3);
    free(slots);

    fake_extra = 1000;
    assert_int_equal(hsm_find(&t, 1, NULL, 0, obj, 2, &n), HSMB_RV_OVERRUN);
    assert_int_equal(n, 0);
    assert_int_equal(hsm_get_attr(&t, 1, 1, CKA_LABEL, buf, sizeof(buf), &n), HSMB_RV_OVERRUN);
    assert_int_equal(n, 0);
    assert_int_equal(hsm_module_slot_list(&m, &slots, &n), HSMB_RV_OVERRUN);
    assert_null(slots);
    assert_int_equal(n, 0);
    assert_int_equal(hsm_ckr_err(HSMB_RV_OVERRUN), SIGNET_E_HSM);
    fake_extra = 0;
}

/* ---- docs/hsm.md's CKR table is checked against ckr.c's, both ways ---- */

/* The class named in a row of the documentation ("reconnect"), or HSM_CKR_CLASS_MAX. */
static enum hsm_ckr_class doc_class(const char *s)
{
    for (int c = 0; c < HSM_CKR_CLASS_MAX; c++)
        if (strncmp(s, hsm_ckr_class_name((enum hsm_ckr_class)c),
                    strlen(hsm_ckr_class_name((enum hsm_ckr_class)c))) == 0)
            return (enum hsm_ckr_class)c;
    return HSM_CKR_CLASS_MAX;
}

/* Prints the table the documentation must hold (paste it into docs/hsm.md after a change). */
static void print_ckr_table(void)
{
    CK_RV rv;
    const char *name, *hint;
    enum hsm_ckr_class cls;

    printf("| CKR | value | class | operator hint |\n|---|---|---|---|\n");
    for (size_t i = 0; hsm_ckr_entry(i, &rv, &name, &cls, &hint); i++)
        if (rv < HSMB_RV_BASE)
            printf("| `%s` | 0x%lx | %s | %s |\n", name, (unsigned long)rv, hsm_ckr_class_name(cls),
                   hint != NULL ? hint : "");
}

static void test_ckr_doc(void **state)
{
    char path[1024], line[1024], name[128];
    const char *cname, *hint;
    enum hsm_ckr_class cls;
    size_t rows = 0, entries = 0, bad = 0;
    CK_RV rv;
    FILE *f;
    (void)state;

    /* __FILE__ is tests/unit/test_hsmbind.c in the source tree */
    snprintf(path, sizeof(path), "%s", __FILE__);
    *strrchr(path, '/') = '\0';
    snprintf(path + strlen(path), sizeof(path) - strlen(path), "/../../docs/hsm.md");
    assert_non_null(f = fopen(path, "r"));
    while (fgets(line, sizeof(line), f) != NULL) {
        char *p = line, *q;
        int found = 0;
        if (strncmp(p, "| `CKR_", 7) != 0)
            continue;
        q = strchr(p + 3, '`');
        assert_non_null(q);
        snprintf(name, sizeof(name), "%.*s", (int)(q - (p + 3)), p + 3);
        rows++;
        /* "| `NAME` | 0x.. | class | hint |" */
        q = strchr(q, '|');
        q = q != NULL ? strchr(q + 1, '|') : NULL;
        assert_non_null(q);
        while (*++q == ' ')
            ;
        for (size_t i = 0; hsm_ckr_entry(i, &rv, &cname, &cls, &hint); i++) {
            if (strcmp(cname, name) != 0)
                continue;
            found = 1;
            if (doc_class(q) != cls) {
                printf("# docs/hsm.md: %s is %.12s, ckr.c says %s\n", name, q,
                       hsm_ckr_class_name(cls));
                bad++;
            }
        }
        if (!found) {
            printf("# docs/hsm.md: %s is not in ckr.c\n", name);
            bad++;
        }
    }
    fclose(f);
    for (size_t i = 0; hsm_ckr_entry(i, &rv, &cname, &cls, &hint); i++)
        entries += rv < HSMB_RV_BASE;
    if (rows != entries || bad != 0) {
        printf("# docs/hsm.md has %zu CKR rows, ckr.c %zu entries, %zu wrong; the table:\n", rows,
               entries, bad);
        print_ckr_table();
    }
    assert_int_equal(bad, 0);
    assert_int_equal(rows, entries);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_type_names),
        cmocka_unit_test(test_ckr_table),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_breaker_machine),
        cmocka_unit_test(test_breaker_pin),
        cmocka_unit_test(test_module_overrun),
        cmocka_unit_test(test_ckr_doc),
        cmocka_unit_test(test_missing_token),
        cmocka_unit_test(test_wrong_pin),
        cmocka_unit_test(test_slots),
        cmocka_unit_test(test_uri),
        cmocka_unit_test(test_keygen_attributes),
        cmocka_unit_test(test_sign_all_types),
        cmocka_unit_test(test_pin_public),
        cmocka_unit_test(test_handles_cached),
        cmocka_unit_test(test_concurrency),
        cmocka_unit_test(test_token_init),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
