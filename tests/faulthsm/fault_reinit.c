/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fault_reinit: the library reports CKR_CRYPTOKI_NOT_INITIALIZED, either because the real module
 * was finalised under us ("powerloss noinit": every call answers it until C_Initialize) or
 * because a call answers it once. hsmbind re-initialises the module (C_Finalize + C_Initialize),
 * logs in again, finds its keys again, and the signature verifies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "faultfix.h"

static int setup(void **st)
{
    static struct faultfix_token s;

    *st = &s;
    return faultfix_token_with_keys(&s, 2, "reinit", NULL) ? 0 : -1;
}

static int teardown(void **st)
{
    faultfix_done(*st);
    return 0;
}

/* With rules in the control file, one signature succeeds, verifies, and needed a re-init. */
static void sign_through(struct faultfix_token *s, const char *rules, unsigned n)
{
    char detail[SIGNET_DETAIL_MAX] = "";
    unsigned char sig[HSM_SIG_MAX];
    size_t siglen = sizeof(sig);
    struct hsm_stats before, after;
    enum signet_err rc;

    siglen = sizeof(sig);
    assert_int_equal(faultfix_sign(s->key[0], n, sig, &siglen, detail), SIGNET_OK);
    hsm_token_stats(s->tok, &before);
    s->fx.reset_counts();
    assert_true(faultfix_control(&s->fx, rules));
    siglen = sizeof(sig);
    rc = faultfix_sign(s->key[0], n + 1, sig, &siglen, detail);
    hsm_token_stats(s->tok, &after);
    printf("# rules \"%.*s\": %s; C_Finalize %lu, C_Initialize %lu, C_Login %lu; reinits %llu\n",
           (int)strcspn(rules, "\n"), rules, signet_err_name(rc), s->fx.calls("C_Finalize"),
           s->fx.calls("C_Initialize"), s->fx.calls("C_Login"),
           (unsigned long long)(after.reinits - before.reinits));
    if (rc != SIGNET_OK)
        fail_msg("signing after CKR_CRYPTOKI_NOT_INITIALIZED: %s (%s)", signet_err_name(rc),
                 detail);
    assert_true(faultfix_verify(s->key[0], n + 1, sig, siglen));
    assert_true(after.reinits > before.reinits);
    assert_true(s->fx.calls("C_Initialize") >= 1);
    assert_true(s->fx.calls("C_Login") >= 1); /* a re-initialised module starts logged out */
    assert_true(s->fx.faults(NULL) + s->fx.powerlosses() >= 1);
    assert_true(faultfix_control(&s->fx, ""));
    for (unsigned i = 0; i < 10; i++) {
        siglen = sizeof(sig);
        assert_int_equal(faultfix_sign(s->key[0], n + 2 + i, sig, &siglen, detail), SIGNET_OK);
        assert_true(faultfix_verify(s->key[0], n + 2 + i, sig, siglen));
    }
    assert_int_equal(hsm_token_breaker(s->tok), HSM_BREAKER_CLOSED);
}

static void test_module_finalised_under_us(void **st)
{
    sign_through(*st, "powerloss noinit\n", 0);
}

static void test_not_initialized_on_sign_init(void **st)
{
    sign_through(*st, "fail C_SignInit CKR_CRYPTOKI_NOT_INITIALIZED limit 1\n", 100);
}

static void test_not_initialized_on_sign(void **st)
{
    sign_through(*st, "fail C_Sign CKR_CRYPTOKI_NOT_INITIALIZED limit 1\n", 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_module_finalised_under_us),
        cmocka_unit_test(test_not_initialized_on_sign_init),
        cmocka_unit_test(test_not_initialized_on_sign),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
