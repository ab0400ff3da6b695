/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fault_pin: a refused PIN is tried exactly once. CKR_PIN_INCORRECT on C_Login (injected, or a
 * real wrong PIN) makes hsm_token_open fail with SIGNET_E_PIN after one C_Login; and when the
 * re-login after a power loss is refused, no later hsm_sign logs in again, even after the token
 * would accept the PIN: a PIN that failed is never retried by itself (it would burn the lockout
 * counter).
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
    static struct faultfix fx;

    if (!faultfix_setup(&fx))
        return -1;
    *st = &fx;
    return 0;
}

static int teardown(void **st)
{
    faultfix_teardown(*st);
    return 0;
}

/* Opens with pin while the control file holds rules; wants SIGNET_E_PIN after one C_Login. */
static void open_refused(struct faultfix *fx, const char *pin, const char *rules)
{
    char detail[SIGNET_DETAIL_MAX] = "";
    struct hsm_token *tok = NULL;
    enum signet_err rc;

    assert_true(faultfix_control(fx, rules));
    fx->reset_counts();
    rc = faultfix_open(pin, 2, &tok, detail);
    printf("# open with rules \"%.*s\": %s (%s); C_Login called %lu time(s)\n",
           (int)strcspn(rules, "\n"), rules, signet_err_name(rc), detail, fx->calls("C_Login"));
    assert_int_equal(rc, SIGNET_E_PIN);
    assert_null(tok);
    assert_int_equal(fx->calls("C_Login"), 1);
    assert_true(detail[0] != '\0');
    assert_null(strstr(detail, pin)); /* the PIN is never in a message */
    assert_true(faultfix_control(fx, ""));
}

static void test_open_injected_pin_incorrect(void **st)
{
    open_refused(*st, TOKENFIX_PIN, "fail C_Login CKR_PIN_INCORRECT\n");
}

static void test_open_wrong_pin(void **st)
{
    open_refused(*st, "97531", "");
}

/* After a power loss the kept PIN is refused once; hsmbind then never logs in again. */
static void test_relogin_refused_after_powerloss(void **st)
{
    struct faultfix *fx = *st;
    char detail[SIGNET_DETAIL_MAX] = "";
    unsigned char sig[HSM_SIG_MAX];
    size_t siglen = sizeof(sig), failed_len;
    struct hsm_token *tok = NULL;
    struct hsm_key *key = NULL;
    struct hsm_stats before, after;
    enum signet_err rc;

    if (faultfix_open(NULL, 2, &tok, detail) != SIGNET_OK ||
        hsm_keygen(tok, "pin", HSM_KEY_EC_P256, 0, &key, detail) != SIGNET_OK)
        fail_msg("open/keygen: %s", detail);
    assert_int_equal(faultfix_sign(key, 0, sig, &siglen, detail), SIGNET_OK);
    hsm_token_stats(tok, &before);
    fx->reset_counts();
    assert_true(faultfix_control(fx, "powerloss\nfail C_Login CKR_PIN_INCORRECT\n"));

    detail[0] = '\0';
    siglen = sizeof(sig);
    rc = faultfix_sign(key, 1, sig, &siglen, detail);
    printf("# sign after power loss with the PIN refused: %s (%s)\n", signet_err_name(rc), detail);
    assert_int_equal(fx->powerlosses(), 1);
    assert_int_equal(rc, SIGNET_E_PIN);
    failed_len = siglen;
    assert_int_equal(fx->calls("C_Login"), 1);

    for (unsigned i = 2; i < 7; i++) {
        siglen = sizeof(sig);
        rc = faultfix_sign(key, i, sig, &siglen, detail);
        assert_int_not_equal(rc, SIGNET_OK);
    }
    assert_int_equal(fx->calls("C_Login"), 1);

    /* the token would now accept the PIN, but a refused PIN is not tried again by itself */
    assert_true(faultfix_control(fx, ""));
    for (unsigned i = 7; i < 10; i++) {
        siglen = sizeof(sig);
        rc = faultfix_sign(key, i, sig, &siglen, detail);
        assert_int_not_equal(rc, SIGNET_OK);
        (void)hsm_token_probe(tok, detail);
    }
    printf("# later calls: %s (%s)\n", signet_err_name(rc), detail);
    assert_int_equal(fx->calls("C_Login"), 1);
    hsm_token_stats(tok, &after);
    assert_int_equal(after.logins - before.logins, 1);
    hsm_key_free(key);
    hsm_token_free(tok);
    /* STYLE.md: on failure out-parameters are reset */
    if (failed_len != 0)
        fail_msg("the failed hsm_sign left *siglen = %zu (want 0: no signature)", failed_len);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_injected_pin_incorrect),
        cmocka_unit_test(test_open_wrong_pin),
        cmocka_unit_test(test_relogin_refused_after_powerloss),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
