/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fault_corrupt: C_Sign returns a signature with one bit flipped. hsmbind never hands such a
 * signature out: with every Nth C_Sign corrupted every signature it returns verifies with OpenSSL
 * and bad_sigs counts each corrupted one; with every C_Sign corrupted it fails with an error and
 * returns no signature. For each key family (ECDSA, RSA PKCS#1 v1.5, Ed25519).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "faultfix.h"

#define SIGNS 40
#define EVERY 4

static int setup(void **st)
{
    static struct faultfix_token s;

    *st = &s;
    return faultfix_token_with_keys(&s, 2, NULL) ? 0 : -1;
}

static int teardown(void **st)
{
    faultfix_done(*st);
    return 0;
}

/* Corruption on every EVERY-th C_Sign: whatever hsm_sign returns verifies. */
static void run_every_nth(struct faultfix_token *s, enum hsm_key_type type)
{
    char label[32], detail[SIGNET_DETAIL_MAX] = "";
    unsigned char sig[HSM_SIG_MAX];
    struct hsm_key *key = NULL;
    struct hsm_stats before, after;
    unsigned ok = 0;

    snprintf(label, sizeof(label), "nth-%s", hsm_key_type_name(type));
    if (hsm_keygen(s->tok, label, type, 0, &key, detail) != SIGNET_OK)
        fail_msg("keygen %s: %s", label, detail);
    hsm_token_stats(s->tok, &before);
    s->fx.reset_counts();
    assert_true(faultfix_control(&s->fx, "corrupt every 4\n"));
    for (unsigned i = 0; i < SIGNS; i++) {
        size_t siglen = sizeof(sig);
        enum signet_err rc;

        detail[0] = '\0';
        rc = faultfix_sign(key, i, sig, &siglen, detail);
        if (rc == SIGNET_OK) {
            if (!faultfix_verify(key, i, sig, siglen))
                fail_msg("%s: signature %u was returned but does not verify", label, i);
            ok++;
        } else if (rc != SIGNET_E_HSM) {
            fail_msg("%s: signature %u: %s (%s), want ok or hsm", label, i, signet_err_name(rc),
                     detail);
        }
    }
    assert_true(faultfix_control(&s->fx, ""));
    hsm_token_stats(s->tok, &after);
    printf("# %s: %u of %u signed, %lu C_Sign calls, %lu corrupted, bad_sigs %llu\n", label, ok,
           SIGNS, s->fx.calls("C_Sign"), s->fx.corruptions(),
           (unsigned long long)(after.bad_sigs - before.bad_sigs));
    assert_true(s->fx.corruptions() >= SIGNS / EVERY);
    assert_int_equal(after.bad_sigs - before.bad_sigs, s->fx.corruptions());
    assert_true(ok >= SIGNS - SIGNS / EVERY); /* the sound signatures are all delivered */
    assert_int_equal(after.signs - before.signs, ok);
    hsm_key_free(key);
}

/* Corruption on every C_Sign: hsm_sign fails and hands out nothing. */
static void run_always(struct faultfix_token *s, enum hsm_key_type type)
{
    char label[32], detail[SIGNET_DETAIL_MAX] = "";
    unsigned char sig[HSM_SIG_MAX];
    size_t siglen = sizeof(sig), failed_len;
    struct hsm_key *key = NULL;
    struct hsm_stats before, after;
    enum signet_err rc;

    snprintf(label, sizeof(label), "all-%s", hsm_key_type_name(type));
    if (hsm_keygen(s->tok, label, type, 0, &key, detail) != SIGNET_OK)
        fail_msg("keygen %s: %s", label, detail);
    hsm_token_stats(s->tok, &before);
    s->fx.reset_counts();
    assert_true(faultfix_control(&s->fx, "corrupt every 1\n"));
    detail[0] = '\0';
    memset(sig, 0xA5, sizeof(sig));
    rc = faultfix_sign(key, 1, sig, &siglen, detail);
    failed_len = siglen;
    hsm_token_stats(s->tok, &after);
    printf("# %s: %s (%s) after %lu C_Sign calls, %lu corrupted\n", label, signet_err_name(rc),
           detail, s->fx.calls("C_Sign"), s->fx.corruptions());
    assert_int_equal(rc, SIGNET_E_HSM);
    for (size_t i = 0; i < sizeof(sig); i++) /* not one byte of a signature reached us */
        assert_int_equal(sig[i], 0xA5);
    assert_true(detail[0] != '\0');
    assert_true(s->fx.corruptions() >= 1);
    assert_int_equal(after.bad_sigs - before.bad_sigs, s->fx.corruptions());
    assert_int_equal(after.signs, before.signs);

    /* the key is sound: once the token stops corrupting, it signs again */
    assert_true(faultfix_control(&s->fx, ""));
    siglen = sizeof(sig);
    rc = faultfix_sign(key, 2, sig, &siglen, detail);
    if (rc != SIGNET_OK)
        fail_msg("%s after corruption stopped: %s (%s)", label, signet_err_name(rc), detail);
    assert_true(faultfix_verify(key, 2, sig, siglen));
    hsm_key_free(key);
    /* STYLE.md: on failure out-parameters are reset; the length says "no signature" */
    if (failed_len != 0)
        fail_msg("%s: the failed hsm_sign left *siglen = %zu (want 0: no signature)", label,
                 failed_len);
}

static void test_every_nth_ec(void **st)
{
    run_every_nth(*st, HSM_KEY_EC_P256);
}

static void test_every_nth_rsa(void **st)
{
    run_every_nth(*st, HSM_KEY_RSA_2048);
}

static void test_every_nth_ed25519(void **st)
{
    run_every_nth(*st, HSM_KEY_ED25519);
}

static void test_always_ec(void **st)
{
    run_always(*st, HSM_KEY_EC_P256);
}

static void test_always_rsa(void **st)
{
    run_always(*st, HSM_KEY_RSA_2048);
}

static void test_always_ed25519(void **st)
{
    run_always(*st, HSM_KEY_ED25519);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_nth_ec),      cmocka_unit_test(test_every_nth_rsa),
        cmocka_unit_test(test_every_nth_ed25519), cmocka_unit_test(test_always_ec),
        cmocka_unit_test(test_always_rsa),        cmocka_unit_test(test_always_ed25519),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
