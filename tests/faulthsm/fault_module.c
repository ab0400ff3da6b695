/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fault_module: libfaulthsm.so itself, driven through raw PKCS#11 without hsmbind: exact
 * every-Nth injection, reproducible seeded probabilities, limits, an injected C_Sign that still
 * ends the operation, corruption, power loss (sessions die and restart logged out), power loss
 * without re-initialisation, outage (slot hidden, device calls refused, sessions gone after),
 * latency and the counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <p11-kit/pkcs11.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tokenfix.h"

struct state {
    struct tokenfix tok;
    char control[300];
    unsigned generation;
    void *dl;
    CK_FUNCTION_LIST_PTR p;
    CK_SLOT_ID slot;
    unsigned long (*calls)(const char *fn);
    unsigned long (*faults)(const char *fn);
    unsigned long (*corruptions)(void);
    unsigned long (*powerlosses)(void);
    long long (*outage_end_ms)(void);
    void (*reset_counts)(void);
};

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Replaces the control file atomically (a fresh file name each time, renamed over it). */
static void control(struct state *s, const char *text)
{
    char tmp[320];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.%u", s->control, s->generation++);
    assert_non_null(f = fopen(tmp, "w"));
    fputs(text, f);
    fclose(f);
    assert_int_equal(rename(tmp, s->control), 0);
    /* keep the old inode alive by a hard link so its number is not recycled */
    snprintf(tmp, sizeof(tmp), "%s.keep%u", s->control, s->generation);
    assert_int_equal(link(s->control, tmp), 0);
}

static void *sym(void *dl, const char *name)
{
    void *p = dlsym(dl, name);

    if (p == NULL)
        fprintf(stderr, "fault_module: %s: %s\n", name, dlerror());
    return p;
}

/* Finds the slot of our token (SoftHSM also shows a free slot with an uninitialised token). */
static int find_slot(struct state *s)
{
    CK_SLOT_ID slots[8];
    CK_ULONG n = 8;
    CK_TOKEN_INFO info;

    if (s->p->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
        return 0;
    for (CK_ULONG i = 0; i < n; i++)
        if (s->p->C_GetTokenInfo(slots[i], &info) == CKR_OK &&
            memcmp(info.label, "module ", 7) == 0) {
            s->slot = slots[i];
            return 1;
        }
    return 0;
}

static int setup(void **st)
{
    static struct state s;
    const char *label = "module";
    CK_RV (*get_list)(CK_FUNCTION_LIST_PTR_PTR) = NULL;
    CK_C_INITIALIZE_ARGS args;

    if (!tokenfix_setup(&s.tok, &label, 1))
        return -1;
    snprintf(s.control, sizeof(s.control), "%s/faulthsm.control", s.tok.dir);
    setenv("FAULTHSM_CONTROL", s.control, 1);
    if ((s.dl = dlopen(SIGNET_FAULTHSM_MODULE, RTLD_NOW | RTLD_LOCAL)) == NULL)
        return -1;
    *(void **)&get_list = sym(s.dl, "C_GetFunctionList");
    *(void **)&s.calls = sym(s.dl, "faulthsm_calls");
    *(void **)&s.faults = sym(s.dl, "faulthsm_faults");
    *(void **)&s.corruptions = sym(s.dl, "faulthsm_corruptions");
    *(void **)&s.powerlosses = sym(s.dl, "faulthsm_powerlosses");
    *(void **)&s.outage_end_ms = sym(s.dl, "faulthsm_outage_end_ms");
    *(void **)&s.reset_counts = sym(s.dl, "faulthsm_reset_counts");
    if (get_list == NULL || s.calls == NULL || s.faults == NULL || s.corruptions == NULL ||
        s.powerlosses == NULL || s.outage_end_ms == NULL || s.reset_counts == NULL ||
        get_list(&s.p) != CKR_OK)
        return -1;
    memset(&args, 0, sizeof(args));
    args.flags = CKF_OS_LOCKING_OK;
    if (s.p->C_Initialize(&args) != CKR_OK)
        return -1;
    if (!find_slot(&s))
        return -1;
    *st = &s;
    return 0;
}

static int teardown(void **st)
{
    struct state *s = *st;

    if (s == NULL)
        return 0;
    s->p->C_Finalize(NULL);
    tokenfix_teardown(&s->tok);
    return 0;
}

/* A logged-in read-write session. */
static CK_SESSION_HANDLE login(struct state *s)
{
    CK_SESSION_HANDLE h = 0;
    CK_RV rv;

    assert_int_equal(
        s->p->C_OpenSession(s->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h), CKR_OK);
    rv = s->p->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)TOKENFIX_PIN, strlen(TOKENFIX_PIN));
    assert_true(rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN);
    return h;
}

static void test_every_nth_and_limit(void **st)
{
    struct state *s = *st;
    CK_SESSION_HANDLE h = login(s);
    CK_SESSION_INFO info;
    unsigned failed = 0;

    control(s, "fail C_GetSessionInfo CKR_DEVICE_ERROR every 3\n");
    s->reset_counts();
    for (unsigned i = 1; i <= 9; i++) {
        CK_RV rv = s->p->C_GetSessionInfo(h, &info);

        assert_int_equal(rv, i % 3 == 0 ? CKR_DEVICE_ERROR : CKR_OK);
        failed += rv != CKR_OK;
    }
    assert_int_equal(failed, 3);
    assert_int_equal(s->calls("C_GetSessionInfo"), 9);
    assert_int_equal(s->faults("C_GetSessionInfo"), 3);
    assert_int_equal(s->faults(NULL), 3);

    control(s, "fail * CKR_FUNCTION_FAILED limit 2\n"); /* rewriting restarts the counters */
    assert_int_equal(s->p->C_GetSessionInfo(h, &info), CKR_FUNCTION_FAILED);
    assert_int_equal(s->p->C_GetSessionInfo(h, &info), CKR_FUNCTION_FAILED);
    assert_int_equal(s->p->C_GetSessionInfo(h, &info), CKR_OK);
    control(s, "");
    assert_int_equal(s->p->C_CloseSession(h), CKR_OK);
}

/* The draws of a "prob" rule depend only on the seed. */
static void test_prob_is_seeded(void **st)
{
    struct state *s = *st;
    CK_SESSION_HANDLE h = login(s);
    CK_BYTE rnd[8];
    char first[400], second[400];
    unsigned hits = 0;

    for (int round = 0; round < 2; round++) {
        char *pattern = round == 0 ? first : second;

        control(s, "seed 99\nfail C_GenerateRandom CKR_FUNCTION_FAILED prob 0.3\n");
        for (unsigned i = 0; i < sizeof(first) - 1; i++)
            pattern[i] = s->p->C_GenerateRandom(h, rnd, sizeof(rnd)) == CKR_OK ? '.' : 'X';
        pattern[sizeof(first) - 1] = '\0';
    }
    assert_string_equal(first, second);
    for (unsigned i = 0; first[i] != '\0'; i++)
        hits += first[i] == 'X';
    assert_in_range(hits, 80, 160); /* 30% of 399 is 120 */
    control(s, "");
    assert_int_equal(s->p->C_CloseSession(h), CKR_OK);
}

/* Makes an EC P-256 key pair in the session; returns the private key, *pub the public one. */
static CK_OBJECT_HANDLE ec_keypair(struct state *s, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE *pub)
{
    static CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    CK_MECHANISM mech = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE pubt[] = {{CKA_EC_PARAMS, p256, sizeof(p256)}, {CKA_VERIFY, &yes, sizeof(yes)}};
    CK_ATTRIBUTE privt[] = {{CKA_SIGN, &yes, sizeof(yes)}, {CKA_SENSITIVE, &yes, sizeof(yes)}};
    CK_OBJECT_HANDLE priv = 0;

    assert_int_equal(s->p->C_GenerateKeyPair(h, &mech, pubt, 2, privt, 2, pub, &priv), CKR_OK);
    return priv;
}

/* An injected C_Sign error ends the operation; corruption makes C_Verify refuse. */
static void test_sign_faults(void **st)
{
    struct state *s = *st;
    CK_SESSION_HANDLE h = login(s);
    CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
    CK_BYTE digest[32] = {1, 2, 3}, sig[128];
    CK_ULONG len = sizeof(sig);
    CK_OBJECT_HANDLE pub = 0, priv = ec_keypair(s, h, &pub);
    unsigned bad = 0;

    control(s, "fail C_Sign CKR_DEVICE_ERROR limit 1\n");
    assert_int_equal(s->p->C_SignInit(h, &mech, priv), CKR_OK);
    assert_int_equal(s->p->C_Sign(h, digest, sizeof(digest), sig, &len), CKR_DEVICE_ERROR);
    assert_int_equal(s->p->C_SignInit(h, &mech, priv), CKR_OK); /* not CKR_OPERATION_ACTIVE */
    len = sizeof(sig);
    assert_int_equal(s->p->C_Sign(h, digest, sizeof(digest), sig, &len), CKR_OK);

    control(s, "corrupt every 2\n");
    s->reset_counts();
    for (unsigned i = 0; i < 6; i++) {
        len = sizeof(sig);
        assert_int_equal(s->p->C_SignInit(h, &mech, priv), CKR_OK);
        assert_int_equal(s->p->C_Sign(h, digest, sizeof(digest), sig, &len), CKR_OK);
        assert_int_equal(s->p->C_VerifyInit(h, &mech, pub), CKR_OK);
        bad += s->p->C_Verify(h, digest, sizeof(digest), sig, len) != CKR_OK;
    }
    assert_int_equal(bad, 3);
    assert_int_equal(s->corruptions(), 3);
    control(s, "");
    assert_int_equal(s->p->C_CloseSession(h), CKR_OK);
}

static void test_powerloss(void **st)
{
    struct state *s = *st;
    CK_SESSION_HANDLE old = login(s), h = 0;
    CK_SESSION_INFO info;
    CK_ULONG n = 4;
    CK_SLOT_ID slot[4];
    CK_C_INITIALIZE_ARGS args;

    s->reset_counts();
    control(s, "powerloss\n");
    assert_int_equal(s->p->C_GetSessionInfo(old, &info), CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(s->powerlosses(), 1);
    assert_int_equal(
        s->p->C_OpenSession(s->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h), CKR_OK);
    assert_int_equal(s->p->C_GetSessionInfo(h, &info), CKR_OK);
    assert_int_equal(info.state, CKS_RW_PUBLIC_SESSION); /* logged out */
    assert_int_equal(s->p->C_CloseSession(h), CKR_OK);

    control(s, "powerloss noinit\n");
    assert_int_equal(s->p->C_GetSlotList(CK_TRUE, slot, &n), CKR_CRYPTOKI_NOT_INITIALIZED);
    assert_int_equal(s->p->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
    memset(&args, 0, sizeof(args));
    args.flags = CKF_OS_LOCKING_OK;
    assert_int_equal(s->p->C_Initialize(&args), CKR_OK);
    n = 4;
    assert_int_equal(s->p->C_GetSlotList(CK_TRUE, slot, &n), CKR_OK);
    assert_int_equal(s->powerlosses(), 2);
    control(s, "");
}

/* An outage of 300 ms: the slot is empty and device calls refused; afterwards no session. */
static void test_outage(void **st)
{
    struct state *s = *st;
    CK_SESSION_HANDLE old = login(s);
    CK_SESSION_INFO info;
    CK_SLOT_INFO sinfo;
    CK_TOKEN_INFO tinfo;
    CK_SLOT_ID slots[4];
    CK_ULONG n = 4;
    long long end;

    control(s, "outage 300 CKR_TOKEN_NOT_PRESENT\n");
    assert_int_equal(s->p->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
    assert_int_equal(n, 0);
    end = s->outage_end_ms();
    assert_in_range(end - now_ms(), 50, 300);
    assert_int_equal(s->p->C_GetSlotInfo(s->slot, &sinfo), CKR_OK);
    assert_false(sinfo.flags & CKF_TOKEN_PRESENT);
    assert_int_equal(s->p->C_GetTokenInfo(s->slot, &tinfo), CKR_TOKEN_NOT_PRESENT);
    assert_int_equal(s->p->C_GetSessionInfo(old, &info), CKR_TOKEN_NOT_PRESENT);
    while (now_ms() < end) /* the requirement under test is about time */
        usleep(10000);
    n = 4;
    assert_int_equal(s->p->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
    assert_int_equal(n, 2); /* our token and SoftHSM's free slot */
    assert_int_equal(s->p->C_GetTokenInfo(s->slot, &tinfo), CKR_OK);
    assert_int_equal(s->p->C_GetSessionInfo(old, &info), CKR_SESSION_HANDLE_INVALID);
    control(s, "");
}

static void test_latency(void **st)
{
    struct state *s = *st;
    CK_INFO info;
    long long t0;

    control(s, "latency C_GetInfo 60\n");
    t0 = now_ms();
    assert_int_equal(s->p->C_GetInfo(&info), CKR_OK);
    assert_true(now_ms() - t0 >= 60);
    control(s, "");
    t0 = now_ms();
    assert_int_equal(s->p->C_GetInfo(&info), CKR_OK);
    assert_true(now_ms() - t0 < 60);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_nth_and_limit),
        cmocka_unit_test(test_prob_is_seeded),
        cmocka_unit_test(test_sign_faults),
        cmocka_unit_test(test_powerloss),
        cmocka_unit_test(test_outage),
        cmocka_unit_test(test_latency),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
