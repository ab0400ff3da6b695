/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fault_outage: the HSM disappears (every call answers CKR_DEVICE_REMOVED, or
 * CKR_TOKEN_NOT_PRESENT with the slot gone) and comes back with no sessions. Without a restart:
 * during the outage hsm_sign fails fast with SIGNET_E_HSM_UNAVAILABLE and a message saying so,
 * the breaker is open; within 1 s after the outage a signature succeeds and verifies and the
 * breaker is closed. Real time is used because the requirement is about time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "faultfix.h"

#define FAST_FAIL_MS    200  /* bound on one failing call during the outage */
#define RECOVERY_MS     1000 /* a signature must succeed this soon after the outage */
#define CALL_SPACING_MS 20   /* a steady stream of requests, as a daemon would see */

static int setup(void **st)
{
    static struct faultfix_token s;

    *st = &s;
    return faultfix_token_with_keys(&s, 2, "outage", NULL) ? 0 : -1;
}

static int teardown(void **st)
{
    faultfix_done(*st);
    return 0;
}

/* 1 when needle occurs in hay, ignoring case. */
static int contains_nocase(const char *hay, const char *needle)
{
    return strcasestr(hay, needle) != NULL;
}

/* Signs through an outage of outage_ms answering ckr; asserts fast failure, then recovery. */
static void run_outage(struct faultfix_token *s, unsigned outage_ms, const char *ckr)
{
    char rules[128], detail[SIGNET_DETAIL_MAX];
    unsigned char sig[HSM_SIG_MAX];
    size_t siglen = sizeof(sig);
    struct hsm_stats before, after;
    long long end, t0, t1, worst = 0, recovered_at = -1;
    unsigned n = 0, during = 0, saw_open = 0;
    enum signet_err rc;

    assert_int_equal(faultfix_sign(s->key[0], n, sig, &siglen, detail), SIGNET_OK);
    assert_int_equal(hsm_token_breaker(s->tok), HSM_BREAKER_CLOSED);
    hsm_token_stats(s->tok, &before);
    s->fx.reset_counts();
    snprintf(rules, sizeof(rules), "outage %u %s\n", outage_ms, ckr);
    assert_true(faultfix_control(&s->fx, rules));

    for (;;) {
        n++;
        siglen = sizeof(sig);
        detail[0] = '\0';
        t0 = faultfix_now_ms();
        rc = faultfix_sign(s->key[0], n, sig, &siglen, detail);
        t1 = faultfix_now_ms();
        end = s->fx.outage_end_ms(); /* known once the module has read the control file */
        assert_true(end > 0);
        if (t1 < end) { /* the whole call fell inside the outage */
            during++;
            if (rc != SIGNET_E_HSM_UNAVAILABLE)
                fail_msg("call %u during the outage: %s (%s), want hsmUnavailable", n,
                         signet_err_name(rc), detail);
            if (!contains_nocase(detail, "unavailable"))
                fail_msg("call %u during the outage: message \"%s\" does not say the HSM is "
                         "unavailable",
                         n, detail);
            if (t1 - t0 > worst)
                worst = t1 - t0;
            if (t1 - t0 > FAST_FAIL_MS)
                fail_msg("call %u during the outage took %lld ms (bound %d ms): %s", n, t1 - t0,
                         FAST_FAIL_MS, detail);
            if (hsm_token_breaker(s->tok) == HSM_BREAKER_OPEN)
                saw_open++;
        } else if (rc == SIGNET_OK) {
            recovered_at = t1;
            break;
        } else if (t1 > end + RECOVERY_MS) {
            fail_msg("no signature within %d ms after the outage: last %s (%s)", RECOVERY_MS,
                     signet_err_name(rc), detail);
        }
        sg_sleep_ms(CALL_SPACING_MS);
    }
    assert_true(faultfix_verify(s->key[0], n, sig, siglen));
    hsm_token_stats(s->tok, &after);
    printf("# outage %u ms (%s): %u calls failed during it (slowest %lld ms), breaker seen open "
           "%u times; signing again %lld ms after its end; trips %llu, fast fails %llu, "
           "reconnects %llu, reinits %llu\n",
           outage_ms, ckr, during, worst, saw_open, recovered_at - end,
           (unsigned long long)(after.breaker_trips - before.breaker_trips),
           (unsigned long long)(after.fast_fails - before.fast_fails),
           (unsigned long long)(after.reconnects - before.reconnects),
           (unsigned long long)(after.reinits - before.reinits));
    assert_true(during >= outage_ms / (FAST_FAIL_MS + CALL_SPACING_MS));
    assert_true(saw_open > 0);
    assert_true(after.breaker_trips > before.breaker_trips);
    assert_true(after.fast_fails > before.fast_fails);
    assert_true(s->fx.faults(NULL) > 0);
    assert_int_equal(s->fx.powerlosses(), 1);
    assert_int_equal(hsm_token_breaker(s->tok), HSM_BREAKER_CLOSED);

    /* and it keeps working */
    for (unsigned i = 0; i < 20; i++) {
        siglen = sizeof(sig);
        assert_int_equal(faultfix_sign(s->key[0], 100 + i, sig, &siglen, detail), SIGNET_OK);
        assert_true(faultfix_verify(s->key[0], 100 + i, sig, siglen));
    }
}

static void test_outage_device_removed_3s(void **st)
{
    run_outage(*st, 3000, "CKR_DEVICE_REMOVED");
}

static void test_outage_token_not_present(void **st)
{
    run_outage(*st, 1000, "CKR_TOKEN_NOT_PRESENT");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outage_device_removed_3s),
        cmocka_unit_test(test_outage_token_not_present),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
