/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fault_recovery: what a caller sees while hsmbind recovers.
 *  - A re-login refused after a power loss: every later hsm_sign and hsm_token_probe answers
 *    SIGNET_E_PIN with one message (the PIN was refused at T, Signet will not try it again, fix
 *    the credential and restart), never "unavailable ... retries by itself"; the breaker is open
 *    and never probes; the kept PIN is wiped at once.
 *  - A transient fault (CKR_DEVICE_ERROR, CKR_FUNCTION_FAILED) during the reconnect is retried
 *    inside it: the call that met the power loss succeeds, the breaker never opens. A fault that
 *    persists is retried retry_max times, no more, and then opens the breaker.
 *  - A key re-found in a session that lost its login is a lost login (reconnect), not a missing
 *    key.
 *  - After a power loss hsmbind never calls C_CloseSession on a session number from before it
 *    (the numbers restart: an old one may name a new session), and signing from several threads
 *    through repeated power losses never fails and never returns a bad signature.
 * Driven by call counts; real time only where the breaker's probe interval is the subject.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "../../hsmbind/internal.h"
#include "faultfix.h"

struct state {
    struct faultfix fx;
};

static int setup(void **st)
{
    static struct state s;

    if (!faultfix_setup(&s.fx))
        return -1;
    *st = &s;
    return 0;
}

/* Each test starts with no fault rule, whatever a failed one before it left. */
static int clear_rules(void **st)
{
    struct state *s = *st;

    return faultfix_control(&s->fx, "") ? 0 : -1;
}

static int teardown(void **st)
{
    struct state *s = *st;

    faultfix_teardown(&s->fx);
    return 0;
}

/* Opens the token (pool of pool_size) and makes a P-256 key labelled label; both or fail. */
static void open_with_key(unsigned pool_size, const char *label, struct hsm_token **tok,
                          struct hsm_key **key)
{
    char detail[SIGNET_DETAIL_MAX] = "";

    if (faultfix_open(NULL, pool_size, tok, detail) != SIGNET_OK)
        fail_msg("open: %s", detail);
    if (hsm_key_find(*tok, label, key, detail) != SIGNET_OK &&
        hsm_keygen(*tok, label + strlen("pkcs11:object="), HSM_KEY_EC_P256, 0, key, detail) !=
            SIGNET_OK)
        fail_msg("keygen: %s", detail);
}

/* Signs message n; it must succeed and verify. */
static void sign_ok(struct hsm_key *key, unsigned n, const char *when)
{
    char detail[SIGNET_DETAIL_MAX] = "";
    unsigned char sig[HSM_SIG_MAX];
    size_t siglen = sizeof(sig);
    enum signet_err rc = faultfix_sign(key, n, sig, &siglen, detail);

    if (rc != SIGNET_OK)
        fail_msg("%s: message %u: %s (%s)", when, n, signet_err_name(rc), detail);
    if (!faultfix_verify(key, n, sig, siglen))
        fail_msg("%s: message %u: the signature does not verify", when, n);
}

/* 1 when detail is the PIN message with a time between t0 and t1 (seconds). */
static int is_pin_message(const char *detail, int64_t t0, int64_t t1)
{
    const char *at = strstr(detail, "refused its PIN at ");
    char stamp[21];
    int64_t t;

    if (at == NULL)
        return 0;
    snprintf(stamp, sizeof(stamp), "%s", at + strlen("refused its PIN at "));
    return sg_parse_time(stamp, &t) && t >= t0 && t <= t1 &&
           strstr(detail, "HSM token 'fault'") == detail &&
           strstr(detail, "CKR_PIN_INCORRECT") != NULL &&
           strstr(detail, "Signet will not try it again") != NULL &&
           strstr(detail, "fix the credential") != NULL && strstr(detail, "restart") != NULL &&
           strstr(detail, "retries by itself") == NULL && strstr(detail, "retrying") == NULL &&
           strstr(detail, "unavailable") == NULL && strstr(detail, TOKENFIX_PIN) == NULL;
}

/*
 * Finding 1: after a power loss the re-login is refused; the call that met it, every later call,
 * the probe and the breaker's message all say SIGNET_E_PIN with the same message.
 */
static void test_pin_refused_is_one_story(void **st)
{
    struct state *s = *st;
    char first[SIGNET_DETAIL_MAX] = "", detail[SIGNET_DETAIL_MAX] = "";
    unsigned char sig[HSM_SIG_MAX];
    size_t siglen;
    struct hsm_token *tok = NULL;
    struct hsm_key *key = NULL;
    struct hsm_stats st0, st1;
    enum signet_err rc;
    int64_t t0 = sg_now(), t1;

    open_with_key(2, "pkcs11:object=pin-story", &tok, &key);
    sign_ok(key, 0, "before");
    hsm_token_stats(tok, &st0);
    s->fx.reset_counts();
    assert_true(faultfix_control(&s->fx, "powerloss\nfail C_Login CKR_PIN_INCORRECT\n"));
    siglen = sizeof(sig);
    rc = faultfix_sign(key, 1, sig, &siglen, first);
    t1 = sg_now();
    printf("# the call that met the refusal: %s (%s)\n", signet_err_name(rc), first);
    assert_int_equal(rc, SIGNET_E_PIN);
    assert_int_equal(siglen, 0);
    if (!is_pin_message(first, t0, t1))
        fail_msg("not the PIN message: \"%s\"", first);
    /* the refused credential is wiped at once: it is never used again */
    assert_null(tok->pin);

    /* the token would accept the PIN now; calls before and after the probe interval */
    assert_true(faultfix_control(&s->fx, ""));
    for (unsigned i = 2; i < 12; i++) {
        siglen = sizeof(sig);
        detail[0] = '\0';
        rc = faultfix_sign(key, i, sig, &siglen, detail);
        if (rc != SIGNET_E_PIN || strcmp(detail, first) != 0)
            fail_msg("call %u: %s (%s), want pinRefused (%s)", i, signet_err_name(rc), detail,
                     first);
        detail[0] = '\0';
        rc = hsm_token_probe(tok, detail);
        if (rc != SIGNET_E_PIN || strcmp(detail, first) != 0)
            fail_msg("probe %u: %s (%s), want pinRefused (%s)", i, signet_err_name(rc), detail,
                     first);
        assert_int_equal(hsm_token_breaker(tok), HSM_BREAKER_OPEN);
        if (i == 6)
            sg_sleep_ms(250); /* past the breaker's probe interval: still no probe */
    }
    pthread_mutex_lock(&tok->lock);
    hsm_brk_message(&tok->brk, hsm_token_label(tok), detail);
    pthread_mutex_unlock(&tok->lock);
    assert_string_equal(detail, first);
    hsm_token_stats(tok, &st1);
    assert_int_equal(s->fx.calls("C_Login"), 1);
    assert_int_equal(st1.logins - st0.logins, 1);
    assert_int_equal(st1.breaker_trips - st0.breaker_trips, 1);
    assert_true(st1.fast_fails - st0.fast_fails >= 10);
    /* nothing reaches the token any more: no reconnect, no re-initialise */
    s->fx.reset_counts();
    siglen = sizeof(sig);
    assert_int_equal(faultfix_sign(key, 99, sig, &siglen, detail), SIGNET_E_PIN);
    assert_int_equal(hsm_token_probe(tok, detail), SIGNET_E_PIN);
    assert_int_equal(s->fx.calls(NULL), 0);
    hsm_key_free(key);
    hsm_token_free(tok);
}

/* The same at open time: one C_Login, SIGNET_E_PIN, the same kind of message. */
static void test_pin_refused_at_open(void **st)
{
    struct state *s = *st;
    char detail[SIGNET_DETAIL_MAX] = "";
    struct hsm_token *tok = NULL;
    int64_t t0 = sg_now();

    s->fx.reset_counts();
    assert_int_equal(faultfix_open("97531", 2, &tok, detail), SIGNET_E_PIN);
    printf("# open with a wrong PIN: %s\n", detail);
    assert_null(tok);
    assert_int_equal(s->fx.calls("C_Login"), 1);
    assert_non_null(strstr(detail, "refused its PIN at "));
    assert_non_null(strstr(detail, "Signet will not try it again"));
    assert_null(strstr(detail, "97531"));
    assert_true(is_pin_message(detail, t0, sg_now()));
}

/*
 * Finding 2: one transient fault on a call the reconnect makes is retried inside the reconnect:
 * the signing call that met the power loss succeeds, no call is refused, the breaker never opens.
 */
static void test_transient_fault_during_reconnect(void **st)
{
    static const char *const rules[] = {
        "fail C_OpenSession CKR_DEVICE_ERROR limit 1",
        "fail C_Login CKR_DEVICE_ERROR limit 1",
        "fail C_GetTokenInfo CKR_FUNCTION_FAILED limit 1",
        "fail C_OpenSession CKR_DEVICE_ERROR limit 2",
        "fail C_Login CKR_GENERAL_ERROR limit 3",
    };
    struct state *s = *st;
    struct hsm_token *tok = NULL;
    struct hsm_key *key = NULL;
    char text[200];

    open_with_key(2, "pkcs11:object=transient", &tok, &key);
    sign_ok(key, 0, "before");
    for (size_t r = 0; r < sizeof(rules) / sizeof(rules[0]); r++) {
        struct hsm_stats st0, st1;
        const char *fn = rules[r] + strlen("fail ");
        char fname[32];

        snprintf(fname, sizeof(fname), "%.*s", (int)strcspn(fn, " "), fn);
        hsm_token_stats(tok, &st0);
        s->fx.reset_counts();
        snprintf(text, sizeof(text), "powerloss\n%s\n", rules[r]);
        assert_true(faultfix_control(&s->fx, text));
        sign_ok(key, 10 + (unsigned)r, rules[r]); /* the very call that meets the power loss */
        hsm_token_stats(tok, &st1);
        printf("# power loss + \"%s\": %lu injected, retries +%llu, reconnects +%llu, trips "
               "+%llu\n",
               rules[r], s->fx.faults(fname), (unsigned long long)(st1.retries - st0.retries),
               (unsigned long long)(st1.reconnects - st0.reconnects),
               (unsigned long long)(st1.breaker_trips - st0.breaker_trips));
        assert_int_equal(s->fx.powerlosses(), 1);
        assert_true(s->fx.faults(fname) >= 1);
        assert_int_equal(st1.breaker_trips, st0.breaker_trips);
        assert_int_equal(st1.fast_fails, st0.fast_fails);
        assert_true(st1.retries > st0.retries);
        assert_int_equal(hsm_token_breaker(tok), HSM_BREAKER_CLOSED);
        assert_true(faultfix_control(&s->fx, ""));
    }
    hsm_key_free(key);
    hsm_token_free(tok);
}

/*
 * A transient fault that does not go away: the reconnect tries retry_max (6) times with backoff,
 * then gives up with SIGNET_E_HSM_UNAVAILABLE and opens the breaker; once the fault is gone the
 * next probe closes it.
 */
static void test_persistent_fault_bounded(void **st)
{
    struct state *s = *st;
    char detail[SIGNET_DETAIL_MAX] = "";
    unsigned char sig[HSM_SIG_MAX];
    size_t siglen = sizeof(sig);
    struct hsm_token *tok = NULL;
    struct hsm_key *key = NULL;
    enum signet_err rc;
    long long t0, t1;

    open_with_key(2, "pkcs11:object=persistent", &tok, &key);
    sign_ok(key, 0, "before");
    s->fx.reset_counts();
    assert_true(faultfix_control(&s->fx, "powerloss\nfail C_OpenSession CKR_DEVICE_ERROR\n"));
    t0 = faultfix_now_ms();
    rc = faultfix_sign(key, 1, sig, &siglen, detail);
    t1 = faultfix_now_ms();
    printf("# persistent CKR_DEVICE_ERROR on C_OpenSession: %s after %lld ms, %lu C_OpenSession "
           "(%s)\n",
           signet_err_name(rc), t1 - t0, s->fx.calls("C_OpenSession"), detail);
    assert_int_equal(rc, SIGNET_E_HSM_UNAVAILABLE);
    assert_int_equal(s->fx.calls("C_OpenSession"), 6);
    assert_true(t1 - t0 < 1500);
    assert_non_null(strstr(detail, "unavailable"));
    assert_non_null(strstr(detail, "CKR_DEVICE_ERROR"));
    assert_non_null(strstr(detail, "retries by itself"));
    assert_int_equal(hsm_token_breaker(tok), HSM_BREAKER_OPEN);
    assert_true(faultfix_control(&s->fx, ""));
    sg_sleep_ms(150);
    sign_ok(key, 2, "after the fault went away");
    assert_int_equal(hsm_token_breaker(tok), HSM_BREAKER_CLOSED);
    hsm_key_free(key);
    hsm_token_free(tok);
}

/*
 * After a power loss no session number from before it is closed: the numbers restart, and an old
 * one may name a session opened since (another thread's, or the new login's).
 */
static void test_no_close_of_dead_sessions(void **st)
{
    struct state *s = *st;
    struct hsm_token *tok = NULL;
    struct hsm_key *key = NULL;

    open_with_key(2, "pkcs11:object=dead-sessions", &tok, &key);
    for (unsigned r = 0; r < 3; r++) {
        sign_ok(key, r, "before");
        s->fx.reset_counts();
        assert_true(faultfix_control(&s->fx, "powerloss\n"));
        sign_ok(key, 100 + r, "after the power loss");
        printf("# power loss %u: %lu C_CloseSession, %lu C_OpenSession\n", r,
               s->fx.calls("C_CloseSession"), s->fx.calls("C_OpenSession"));
        assert_int_equal(s->fx.powerlosses(), 1);
        assert_int_equal(s->fx.calls("C_CloseSession"), 0);
        assert_true(faultfix_control(&s->fx, ""));
    }
    hsm_key_free(key);
    hsm_token_free(tok);
}

/*
 * A key is re-found after a reconnect in a session that has lost its login (the token lost power
 * again before the key's refresh): finding nothing there is a lost login, recovered, not "no such
 * key". Key b is not refreshed after the first power loss; the second one strikes, a transient
 * fault discards the pooled session, and b's refresh runs in a fresh, logged-out session.
 */
static void test_refresh_after_lost_login(void **st)
{
    struct state *s = *st;
    struct hsm_token *tok = NULL;
    struct hsm_key *a = NULL, *b = NULL;

    char detail[SIGNET_DETAIL_MAX] = "";

    open_with_key(2, "pkcs11:object=refresh-a", &tok, &a);
    if (hsm_keygen(tok, "refresh-b", HSM_KEY_EC_P256, 0, &b, detail) != SIGNET_OK)
        fail_msg("keygen: %s", detail);
    sign_ok(a, 0, "before");
    sign_ok(b, 0, "before");
    assert_true(faultfix_control(&s->fx, "powerloss\n"));
    sign_ok(a, 1, "after the first power loss"); /* a is refreshed, b is not */
    s->fx.reset_counts();
    assert_true(faultfix_control(&s->fx, "powerloss\nfail C_FindObjectsInit CKR_DEVICE_ERROR "
                                         "limit 1\n"));
    sign_ok(b, 1, "after the second power loss");
    assert_int_equal(s->fx.powerlosses(), 1);
    assert_int_equal(s->fx.faults("C_FindObjectsInit"), 1);
    sign_ok(a, 2, "after");
    assert_int_equal(hsm_token_breaker(tok), HSM_BREAKER_CLOSED);
    hsm_key_free(a);
    hsm_key_free(b);
    hsm_token_free(tok);
}

#define THREADS 4
#define SIGNS   250

struct worker {
    struct hsm_key *key;
    unsigned id, ok;
    char error[SIGNET_DETAIL_MAX];
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    for (unsigned i = 0; i < SIGNS; i++) {
        unsigned char sig[HSM_SIG_MAX];
        size_t siglen = sizeof(sig);
        unsigned n = w->id * 100000 + i;
        enum signet_err rc = faultfix_sign(w->key, n, sig, &siglen, w->error);

        if (rc != SIGNET_OK)
            return NULL;
        if (!faultfix_verify(w->key, n, sig, siglen)) {
            snprintf(w->error, sizeof(w->error), "message %u: bad signature returned", n);
            return NULL;
        }
        w->ok++;
    }
    return NULL;
}

/*
 * Threads sign through repeated power losses with fewer sessions than threads: the recovery
 * waits for sessions in use to come back before it opens new ones, so every call succeeds.
 */
static void test_threads_through_powerlosses(void **st)
{
    struct state *s = *st;
    struct hsm_token *tok = NULL;
    struct hsm_key *key = NULL;
    struct worker w[THREADS];
    pthread_t th[THREADS];
    struct hsm_stats st0, st1;
    unsigned losses = 0;

    open_with_key(2, "pkcs11:object=threads", &tok, &key);
    sign_ok(key, 0, "before");
    hsm_token_stats(tok, &st0);
    s->fx.reset_counts();
    for (unsigned i = 0; i < THREADS; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].key = key;
        w[i].id = i + 1;
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (unsigned r = 0; r < 5; r++) {
        sg_sleep_ms(40);
        assert_true(faultfix_control(&s->fx, r % 2 ? "powerloss\n" : "powerloss\n# again\n"));
    }
    for (unsigned i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        if (w[i].ok != SIGNS)
            fail_msg("thread %u: %u of %d signatures, then: %s", i, w[i].ok, SIGNS, w[i].error);
    }
    losses = (unsigned)s->fx.powerlosses();
    hsm_token_stats(tok, &st1);
    printf("# %d threads x %d signatures, %u power losses: reconnects +%llu, retries +%llu, "
           "bad_sigs +%llu\n",
           THREADS, SIGNS, losses, (unsigned long long)(st1.reconnects - st0.reconnects),
           (unsigned long long)(st1.retries - st0.retries),
           (unsigned long long)(st1.bad_sigs - st0.bad_sigs));
    assert_true(losses >= 1);
    assert_int_equal(st1.bad_sigs - st0.bad_sigs, 0);
    assert_int_equal(hsm_token_breaker(tok), HSM_BREAKER_CLOSED);
    hsm_key_free(key);
    hsm_token_free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_pin_refused_is_one_story, clear_rules),
        cmocka_unit_test_setup(test_pin_refused_at_open, clear_rules),
        cmocka_unit_test_setup(test_transient_fault_during_reconnect, clear_rules),
        cmocka_unit_test_setup(test_persistent_fault_bounded, clear_rules),
        cmocka_unit_test_setup(test_no_close_of_dead_sessions, clear_rules),
        cmocka_unit_test_setup(test_refresh_after_lost_login, clear_rules),
        cmocka_unit_test_setup(test_threads_through_powerlosses, clear_rules),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
