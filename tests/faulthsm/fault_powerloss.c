/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fault_powerloss: the HSM loses power (C_Finalize + C_Initialize of the real module: every
 * session and handle is gone, sessions start logged out, handle numbers restart). Signing
 * recovers by itself (new sessions, re-login with the kept PIN, keys found again) and every
 * signature verifies with the right key's public key, also when the old handle numbers now name
 * another key. Driven by call counts, not sleeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "faultfix.h"

#define ROUNDS 6

static int setup(void **st)
{
    static struct faultfix_token s;

    *st = &s;
    return faultfix_token_with_keys(&s, 2, "loss-a", "loss-b", NULL) ? 0 : -1;
}

static int teardown(void **st)
{
    faultfix_done(*st);
    return 0;
}

/* Signs message n with key; the signature must verify with that key's public key. */
static void sign_ok(struct hsm_key *key, unsigned n)
{
    char detail[SIGNET_DETAIL_MAX] = "";
    unsigned char sig[HSM_SIG_MAX];
    size_t siglen = sizeof(sig);
    enum signet_err rc = faultfix_sign(key, n, sig, &siglen, detail);

    if (rc != SIGNET_OK)
        fail_msg("%s: message %u: %s (%s)", hsm_key_label(key), n, signet_err_name(rc), detail);
    if (!faultfix_verify(key, n, sig, siglen))
        fail_msg("%s: message %u: the signature does not verify with its public key",
                 hsm_key_label(key), n);
}

static void test_powerloss_recovers(void **st)
{
    struct faultfix_token *s = *st;
    struct hsm_key *a = s->key[0], *b = s->key[1];
    struct hsm_stats before, after;

    sign_ok(a, 0);
    sign_ok(b, 0);
    hsm_token_stats(s->tok, &before);
    s->fx.reset_counts();
    for (unsigned r = 0; r < ROUNDS; r++) {
        /* alternate which key is used first, so the restarted handle numbers get reassigned */
        struct hsm_key *first = r % 2 == 0 ? b : a, *second = r % 2 == 0 ? a : b;

        assert_true(faultfix_control(&s->fx, "powerloss\n"));
        sign_ok(first, 10 + r);
        assert_int_equal(s->fx.powerlosses(), r + 1);
        sign_ok(second, 10 + r);
        for (unsigned i = 0; i < 10; i++)
            sign_ok(i % 2 ? a : b, 100 * r + i);
    }
    hsm_token_stats(s->tok, &after);
    printf("# %d power losses: %lu C_Login, %lu C_OpenSession, %lu C_FindObjectsInit; "
           "reconnects %llu, bad_sigs %llu\n",
           ROUNDS, s->fx.calls("C_Login"), s->fx.calls("C_OpenSession"),
           s->fx.calls("C_FindObjectsInit"),
           (unsigned long long)(after.reconnects - before.reconnects),
           (unsigned long long)(after.bad_sigs - before.bad_sigs));
    assert_true(s->fx.calls("C_Login") >= ROUNDS); /* logged in again after each loss */
    assert_true(after.reconnects - before.reconnects >= ROUNDS);
    assert_true(after.logins - before.logins >= ROUNDS);
    assert_int_equal(after.bad_sigs - before.bad_sigs, 0);
    assert_int_equal(hsm_token_breaker(s->tok), HSM_BREAKER_CLOSED);
}

/*
 * A power loss, then a transient fault (CKR_DEVICE_ERROR) on the first C_OpenSession of the
 * recovery. Signing recovers by itself: either within the same call, or (when the failed recovery
 * opened the breaker) once the breaker's next probe succeeds, within a second; a call refused
 * meanwhile fails fast with SIGNET_E_HSM_UNAVAILABLE. Real time only because the breaker's probe
 * interval is a time.
 */
static void test_powerloss_with_failed_reconnect(void **st)
{
    struct faultfix_token *s = *st;
    char detail[SIGNET_DETAIL_MAX] = "";
    unsigned char sig[HSM_SIG_MAX];
    size_t siglen = sizeof(sig);
    enum signet_err rc;
    long long t0 = faultfix_now_ms(), t1;
    unsigned refused = 0;

    s->fx.reset_counts();
    assert_true(
        faultfix_control(&s->fx, "powerloss\nfail C_OpenSession CKR_DEVICE_ERROR limit 1\n"));
    for (;;) {
        long long c0 = faultfix_now_ms();

        siglen = sizeof(sig);
        rc = faultfix_sign(s->key[0], 500, sig, &siglen, detail);
        t1 = faultfix_now_ms();
        if (rc == SIGNET_OK)
            break;
        refused++;
        if (rc != SIGNET_E_HSM_UNAVAILABLE || t1 - c0 > 200)
            fail_msg("while recovering: %s after %lld ms (%s)", signet_err_name(rc), t1 - c0,
                     detail);
        if (t1 - t0 > 1000)
            fail_msg("not recovered 1 s after the power loss: %s", detail);
        sg_sleep_ms(20);
    }
    printf("# power loss + one failed C_OpenSession: %u call(s) refused, signing again after "
           "%lld ms\n",
           refused, t1 - t0);
    assert_true(faultfix_verify(s->key[0], 500, sig, siglen));
    sign_ok(s->key[1], 500);
    assert_int_equal(s->fx.powerlosses(), 1);
    assert_int_equal(s->fx.faults("C_OpenSession"), 1);
    assert_int_equal(hsm_token_breaker(s->tok), HSM_BREAKER_CLOSED);
    assert_true(faultfix_control(&s->fx, ""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_powerloss_recovers),
        cmocka_unit_test(test_powerloss_with_failed_reconnect),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
