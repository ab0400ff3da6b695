/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fault_transient: 2,000 signatures with 5% transient faults injected on C_SignInit and C_Sign
 * all succeed and verify with OpenSSL; hsmbind's stats and faulthsm's counters show the faults
 * were really injected and retried. Driven by call counts and a fixed seed, not by sleeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "faultfix.h"

#define SIGNATURES 2000
#define THREADS    4

/* 2.5% on C_SignInit (random, seeded) + every 40th C_Sign: 5% of signing attempts */
static const char *const transient_rules = "seed 7\n"
                                           "fail C_SignInit CKR_DEVICE_ERROR prob 0.025\n"
                                           "fail C_Sign CKR_FUNCTION_FAILED every 40\n";

static int setup(void **st)
{
    static struct faultfix_token s;

    *st = &s;
    return faultfix_token_with_keys(&s, THREADS, "transient", NULL) ? 0 : -1;
}

static int teardown(void **st)
{
    faultfix_done(*st);
    return 0;
}

/* Checks that the faults injected since the counters were reset were retried, not returned. */
static void assert_retried(struct faultfix_token *s, const struct hsm_stats *before,
                           unsigned long signs)
{
    struct hsm_stats after;
    unsigned long injected = s->fx.faults("C_SignInit") + s->fx.faults("C_Sign");

    hsm_token_stats(s->tok, &after);
    printf("# %lu signatures, %lu C_SignInit + %lu C_Sign calls, %lu faults injected; "
           "hsmbind: %llu retries, %llu reconnects\n",
           signs, s->fx.calls("C_SignInit"), s->fx.calls("C_Sign"), injected,
           (unsigned long long)(after.retries - before->retries),
           (unsigned long long)(after.reconnects - before->reconnects));
    /* about 5% of >= 2,000 attempts: the faults were really injected */
    assert_true(injected >= signs * 3 / 100);
    assert_true(s->fx.faults("C_Sign") >= s->fx.calls("C_Sign") / 40);
    assert_true(s->fx.faults("C_SignInit") > 0);
    assert_int_equal(after.signs - before->signs, signs);
    assert_int_equal(after.bad_sigs - before->bad_sigs, 0);
    assert_true(after.retries > before->retries);
    /* every injected fault was recovered by a retry or a reconnect, never handed to us */
    assert_true((after.retries - before->retries) + (after.reconnects - before->reconnects) >=
                injected);
}

static void test_transient_2000(void **st)
{
    struct faultfix_token *s = *st;
    struct hsm_stats before;
    unsigned char sig[HSM_SIG_MAX];
    char detail[SIGNET_DETAIL_MAX];

    assert_true(faultfix_control(&s->fx, transient_rules));
    s->fx.reset_counts();
    hsm_token_stats(s->tok, &before);
    for (unsigned i = 0; i < SIGNATURES; i++) {
        size_t siglen = sizeof(sig);
        enum signet_err rc;

        detail[0] = '\0';
        rc = faultfix_sign(s->key[0], i, sig, &siglen, detail);
        if (rc != SIGNET_OK)
            fail_msg("signature %u failed: %s: %s", i, signet_err_name(rc), detail);
        if (!faultfix_verify(s->key[0], i, sig, siglen))
            fail_msg("signature %u does not verify with OpenSSL", i);
    }
    assert_retried(s, &before, SIGNATURES);
    assert_true(faultfix_control(&s->fx, ""));
}

struct worker {
    struct faultfix_token *s;
    unsigned first, n, failed;
    char why[SIGNET_DETAIL_MAX + 64];
};

/* Signs w->n messages starting at w->first; records the first failure. */
static void *worker_run(void *arg)
{
    struct worker *w = arg;
    unsigned char sig[HSM_SIG_MAX];
    char detail[SIGNET_DETAIL_MAX];

    for (unsigned i = w->first; i < w->first + w->n; i++) {
        size_t siglen = sizeof(sig);
        enum signet_err rc;

        detail[0] = '\0';
        rc = faultfix_sign(w->s->key[0], i, sig, &siglen, detail);
        if (rc != SIGNET_OK || !faultfix_verify(w->s->key[0], i, sig, siglen)) {
            if (w->failed++ == 0)
                snprintf(w->why, sizeof(w->why), "signature %u: %s: %s", i, signet_err_name(rc),
                         rc == SIGNET_OK ? "does not verify" : detail);
        }
    }
    return NULL;
}

/* The same 2,000 signatures from THREADS threads sharing the token's session pool. */
static void test_transient_threads(void **st)
{
    struct faultfix_token *s = *st;
    struct hsm_stats before;
    struct worker w[THREADS];
    pthread_t th[THREADS];

    assert_true(faultfix_control(&s->fx, transient_rules));
    s->fx.reset_counts();
    hsm_token_stats(s->tok, &before);
    for (unsigned t = 0; t < THREADS; t++) {
        memset(&w[t], 0, sizeof(w[t]));
        w[t].s = s;
        w[t].first = 10000 + t * (SIGNATURES / THREADS);
        w[t].n = SIGNATURES / THREADS;
        assert_int_equal(pthread_create(&th[t], NULL, worker_run, &w[t]), 0);
    }
    for (unsigned t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    for (unsigned t = 0; t < THREADS; t++)
        if (w[t].failed > 0)
            fail_msg("thread %u: %u failures; first: %s", t, w[t].failed, w[t].why);
    assert_retried(s, &before, SIGNATURES);
    assert_true(faultfix_control(&s->fx, ""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transient_2000),
        cmocka_unit_test(test_transient_threads),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
