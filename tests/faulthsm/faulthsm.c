/* SPDX-License-Identifier: Apache-2.0 */
/*
 * faulthsm: a PKCS#11 module that forwards every call to a real module and injects faults on
 * command, so that Signet's recovery (retry, reconnect, re-initialise, circuit breaker, signature
 * verification) can be tested against the failures a real HSM produces. Test-only.
 *
 * Environment
 *   FAULTHSM_MODULE   the real module (default /usr/lib/softhsm/libsofthsm2.so)
 *   FAULTHSM_CONTROL  a control file; re-read whenever its inode, size, mtime or ctime change
 *                     (one stat per call). Write it atomically (temp file + rename).
 *   FAULTHSM_RULES    directives applied before the control file's (';' separates them)
 *   FAULTHSM_LOG      when set and not "0", each injected fault is reported on stderr
 * The variables are read at C_GetFunctionList and at every C_Initialize.
 *
 * Control language: one directive per line (or per ';'), '#' starts a comment. The rules in
 * force are those of FAULTHSM_RULES followed by the control file's; rewriting the file replaces
 * its rules and restarts their counters. FN is a PKCS#11 function name ("C_Sign") or "*"
 * (every call that reaches the device: not C_Initialize, C_Finalize, C_GetInfo, C_GetSlotList,
 * C_GetSlotInfo, C_WaitForSlotEvent). CKR is a symbolic name or a number (0x30).
 *   seed N                            seed of the "prob" draws (default 1): runs are reproducible
 *   fail FN CKR [every N | prob P] [limit M]
 *                                     answer CKR instead of calling the real module, on every Nth
 *                                     matching call or with probability P, at most M times.
 *                                     An injected C_Sign still ends the real signing operation.
 *   latency FN|* MS                   sleep MS before the call
 *   corrupt [every N | prob P] [limit M]
 *                                     flip one bit of the signature a successful C_Sign returns
 *   powerloss [noinit]                event: C_Finalize the real module and (unless noinit)
 *                                     C_Initialize it again with the application's arguments.
 *                                     Every session and handle dies; sessions start logged out;
 *                                     handle numbers restart. With noinit the module stays
 *                                     finalised: calls answer CKR_CRYPTOKI_NOT_INITIALIZED until
 *                                     the application calls C_Initialize.
 *   outage MS [CKR]                   event: the device is gone for MS milliseconds: every call
 *                                     that reaches it answers CKR (default CKR_DEVICE_REMOVED);
 *                                     C_GetSlotList(tokenPresent) omits the slot and
 *                                     C_GetSlotInfo clears CKF_TOKEN_PRESENT. It begins with a
 *                                     power loss, so the device comes back with no sessions.
 *                                     "outage 0" ends an outage early.
 * Events fire once, when the text that holds them is (re-)read, i.e. on the first call after
 * the control file changes.
 *
 * Exported for tests in the same process (dlopen(path, RTLD_NOLOAD | RTLD_NOW) + dlsym):
 *   unsigned long faulthsm_calls(const char *fn)   calls of fn since the last reset (NULL: all)
 *   unsigned long faulthsm_faults(const char *fn)  of those, answered with an injected CKR
 *   unsigned long faulthsm_corruptions(void)       signatures corrupted
 *   unsigned long faulthsm_powerlosses(void)       power losses performed (outages included)
 *   long long faulthsm_outage_end_ms(void)         CLOCK_MONOTONIC ms when the outage ends
 *   void faulthsm_reset_counts(void)
 */
#include "internal.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FH_EXPORT         __attribute__((visibility("default")))
#define FH_DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define FH_SIG_SCRATCH    8192 /* bytes: a discarded signature when a C_Sign fault is injected */
#define FH_RESERVED_MAX   4096 /* bound on the pReserved string kept for re-initialising */

static pthread_mutex_t g_load_mu = PTHREAD_MUTEX_INITIALIZER;
static CK_FUNCTION_LIST_PTR g_real;                          /* the real module's function list */
static pthread_rwlock_t g_life = PTHREAD_RWLOCK_INITIALIZER; /* calls: read; (re)init: write */
static int g_app_init;  /* the application's C_Initialize is in force */
static int g_have_args; /* g_init_args holds the application's arguments */
static CK_C_INITIALIZE_ARGS g_init_args;
static char *g_init_reserved; /* our copy of pReserved */
static int g_log;             /* FAULTHSM_LOG */
static atomic_ulong g_calls[FH_FN_MAX], g_faults[FH_FN_MAX];
static atomic_ulong g_corruptions, g_powerlosses;

/* Loads the real module once; returns CKR_OK or CKR_GENERAL_ERROR with a message on stderr. */
static CK_RV fh_load(void)
{
    const char *path = getenv("FAULTHSM_MODULE");
    const char *log = getenv("FAULTHSM_LOG");
    CK_RV (*get_list)(CK_FUNCTION_LIST_PTR_PTR) = NULL;
    CK_FUNCTION_LIST_PTR list = NULL;
    void *dl;
    CK_RV rv = CKR_OK;

    pthread_mutex_lock(&g_load_mu);
    g_log = log != NULL && strcmp(log, "0") != 0;
    if (g_real != NULL)
        goto out;
    if (path == NULL || *path == '\0')
        path = FH_DEFAULT_MODULE;
    if ((dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
        fprintf(stderr, "faulthsm: cannot load the real module %s: %s\n", path, dlerror());
        rv = CKR_GENERAL_ERROR;
        goto out;
    }
    *(void **)&get_list = dlsym(dl, "C_GetFunctionList");
    if (get_list == NULL || get_list(&list) != CKR_OK || list == NULL) {
        fprintf(stderr, "faulthsm: %s has no usable C_GetFunctionList\n", path);
        dlclose(dl);
        rv = CKR_GENERAL_ERROR;
        goto out;
    }
    g_real = list; /* the real module stays loaded for the life of the process */
out:
    pthread_mutex_unlock(&g_load_mu);
    return rv;
}

/* Finalises the real module and, when asked and the application had initialised it, starts it
 * again with the application's own arguments: a power cut and a restart of the device. */
static void fh_powerloss(int reinit)
{
    CK_RV rv;

    pthread_rwlock_wrlock(&g_life);
    (void)g_real->C_Finalize(NULL);
    if (reinit && g_app_init) {
        rv = g_real->C_Initialize(g_have_args ? &g_init_args : NULL);
        if (rv != CKR_OK)
            fprintf(stderr, "faulthsm: re-initialising the real module after a power loss: %s\n",
                    fh_ckr_name(rv));
    }
    atomic_fetch_add(&g_powerlosses, 1);
    pthread_rwlock_unlock(&g_life);
    if (g_log)
        fprintf(stderr, "faulthsm: power loss%s\n", reinit ? "" : " (module left finalised)");
}

/* Sleeps ms milliseconds, restarting after signals. */
static void fh_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

/*
 * The prologue of every forwarder: counts the call, consults the plan, performs a pending power
 * loss and the latency. Returns 1 when the call must be answered with v->rv without reaching the
 * real module, 0 when it proceeds (the caller then takes g_life itself).
 */
static int fh_enter(enum fh_fn fn, struct fh_verdict *v)
{
    atomic_fetch_add(&g_calls[fn], 1);
    if (g_real == NULL && fh_load() != CKR_OK) {
        v->inject = 1;
        v->outage = 0;
        v->rv = CKR_GENERAL_ERROR;
        return 1;
    }
    fh_plan_consult(fn, v);
    if (v->powerloss)
        fh_powerloss(v->powerloss_reinit);
    if (v->latency_ms > 0)
        fh_sleep_ms(v->latency_ms);
    if (!v->inject)
        return 0;
    atomic_fetch_add(&g_faults[fn], 1);
    if (g_log)
        fprintf(stderr, "faulthsm: %s -> %s (%s)\n", fh_fn_name(fn), fh_ckr_name(v->rv),
                v->outage ? "outage" : "injected");
    return 1;
}

/* Keeps the application's C_Initialize arguments so a power loss can restart the module. */
static void fh_keep_args(const CK_C_INITIALIZE_ARGS *args)
{
    free(g_init_reserved);
    g_init_reserved = NULL;
    g_have_args = args != NULL;
    if (args == NULL)
        return;
    g_init_args = *args;
    if (args->pReserved != NULL) {
        size_t len = strnlen(args->pReserved, FH_RESERVED_MAX);

        if ((g_init_reserved = malloc(len + 1)) != NULL) {
            memcpy(g_init_reserved, args->pReserved, len);
            g_init_reserved[len] = '\0';
        }
    }
    g_init_args.pReserved = g_init_reserved;
}

/* Re-reads the environment, initialises the real module and keeps the arguments for power
 * losses. Under the write lock: no call is in flight in the real module meanwhile. */
static CK_RV fh_C_Initialize(CK_VOID_PTR init_args)
{
    struct fh_verdict v;
    CK_RV rv;

    fh_plan_env();
    if (fh_enter(FH_C_Initialize, &v))
        return v.rv;
    pthread_rwlock_wrlock(&g_life);
    rv = g_real->C_Initialize(init_args);
    if (rv == CKR_OK) {
        fh_keep_args(init_args);
        g_app_init = 1;
    }
    pthread_rwlock_unlock(&g_life);
    return rv;
}

/* Finalises the real module; later power losses then leave it finalised. */
static CK_RV fh_C_Finalize(CK_VOID_PTR reserved_arg)
{
    struct fh_verdict v;
    CK_RV rv;

    if (fh_enter(FH_C_Finalize, &v))
        return v.rv;
    pthread_rwlock_wrlock(&g_life);
    rv = g_real->C_Finalize(reserved_arg);
    g_app_init = 0;
    pthread_rwlock_unlock(&g_life);
    return rv;
}

/* During an outage no slot holds a token, as when a device is unplugged. */
static CK_RV fh_C_GetSlotList(CK_BBOOL token_present, CK_SLOT_ID_PTR list, CK_ULONG_PTR n)
{
    struct fh_verdict v;
    CK_RV rv;

    if (fh_enter(FH_C_GetSlotList, &v))
        return v.rv;
    if (token_present && n != NULL && fh_plan_outage_active()) {
        *n = 0; /* the device is unplugged: no slot holds a token */
        return CKR_OK;
    }
    pthread_rwlock_rdlock(&g_life);
    rv = g_real->C_GetSlotList(token_present, list, n);
    pthread_rwlock_unlock(&g_life);
    return rv;
}

/* During an outage the slot reports no token present. */
static CK_RV fh_C_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info)
{
    struct fh_verdict v;
    CK_RV rv;

    if (fh_enter(FH_C_GetSlotInfo, &v))
        return v.rv;
    pthread_rwlock_rdlock(&g_life);
    rv = g_real->C_GetSlotInfo(slot, info);
    pthread_rwlock_unlock(&g_life);
    if (rv == CKR_OK && info != NULL && fh_plan_outage_active())
        info->flags &= ~(CK_FLAGS)CKF_TOKEN_PRESENT;
    return rv;
}

/*
 * C_Sign: an injected fault still completes the real operation (into a scratch buffer that is
 * then wiped), as a failing C_Sign ends it on a real device, so the next C_SignInit is not
 * refused with CKR_OPERATION_ACTIVE. A successful signature may be corrupted by one bit.
 */
static CK_RV fh_C_Sign(CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG inl, CK_BYTE_PTR sig,
                       CK_ULONG_PTR sigl)
{
    struct fh_verdict v;
    CK_RV rv;

    if (fh_enter(FH_C_Sign, &v)) {
        if (!v.outage) {
            unsigned char scratch[FH_SIG_SCRATCH];
            CK_ULONG n = sizeof(scratch);

            pthread_rwlock_rdlock(&g_life);
            (void)g_real->C_Sign(s, in, inl, scratch, &n);
            pthread_rwlock_unlock(&g_life);
            memset(scratch, 0, sizeof(scratch));
        }
        return v.rv;
    }
    pthread_rwlock_rdlock(&g_life);
    rv = g_real->C_Sign(s, in, inl, sig, sigl);
    pthread_rwlock_unlock(&g_life);
    if (rv == CKR_OK && sig != NULL && sigl != NULL && *sigl > 0 && fh_plan_corrupt()) {
        sig[*sigl / 2] ^= 0x01;
        atomic_fetch_add(&g_corruptions, 1);
        if (g_log)
            fprintf(stderr, "faulthsm: C_Sign -> signature corrupted\n");
    }
    return rv;
}

/* Not under g_life: a blocking wait must not hold up C_Finalize. */
static CK_RV fh_C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR slot, CK_VOID_PTR reserved_arg)
{
    struct fh_verdict v;

    if (fh_enter(FH_C_WaitForSlotEvent, &v))
        return v.rv;
    return g_real->C_WaitForSlotEvent(flags, slot, reserved_arg);
}

static CK_RV fh_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out);

/* The forwarders with nothing special: name, parameter list, argument list. */
#define FH_GENERIC(X)                                                                              \
    X(C_GetInfo, (CK_INFO_PTR i), (i))                                                             \
    X(C_GetTokenInfo, (CK_SLOT_ID sl, CK_TOKEN_INFO_PTR i), (sl, i))                               \
    X(C_GetMechanismList, (CK_SLOT_ID sl, CK_MECHANISM_TYPE_PTR m, CK_ULONG_PTR n), (sl, m, n))    \
    X(C_GetMechanismInfo, (CK_SLOT_ID sl, CK_MECHANISM_TYPE t, CK_MECHANISM_INFO_PTR i),           \
      (sl, t, i))                                                                                  \
    X(C_InitToken, (CK_SLOT_ID sl, CK_UTF8CHAR_PTR p, CK_ULONG pl, CK_UTF8CHAR_PTR l),             \
      (sl, p, pl, l))                                                                              \
    X(C_InitPIN, (CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR p, CK_ULONG pl), (s, p, pl))                \
    X(C_SetPIN,                                                                                    \
      (CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR o, CK_ULONG ol, CK_UTF8CHAR_PTR p, CK_ULONG pl),       \
      (s, o, ol, p, pl))                                                                           \
    X(C_OpenSession,                                                                               \
      (CK_SLOT_ID sl, CK_FLAGS f, CK_VOID_PTR a, CK_NOTIFY cb, CK_SESSION_HANDLE_PTR s),           \
      (sl, f, a, cb, s))                                                                           \
    X(C_CloseSession, (CK_SESSION_HANDLE s), (s))                                                  \
    X(C_CloseAllSessions, (CK_SLOT_ID sl), (sl))                                                   \
    X(C_GetSessionInfo, (CK_SESSION_HANDLE s, CK_SESSION_INFO_PTR i), (s, i))                      \
    X(C_GetOperationState, (CK_SESSION_HANDLE s, CK_BYTE_PTR o, CK_ULONG_PTR ol), (s, o, ol))      \
    X(C_SetOperationState,                                                                         \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR o, CK_ULONG ol, CK_OBJECT_HANDLE e, CK_OBJECT_HANDLE a),   \
      (s, o, ol, e, a))                                                                            \
    X(C_Login, (CK_SESSION_HANDLE s, CK_USER_TYPE u, CK_UTF8CHAR_PTR p, CK_ULONG pl),              \
      (s, u, p, pl))                                                                               \
    X(C_Logout, (CK_SESSION_HANDLE s), (s))                                                        \
    X(C_CreateObject,                                                                              \
      (CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR o), (s, t, n, o)) \
    X(C_CopyObject,                                                                                \
      (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n,                    \
       CK_OBJECT_HANDLE_PTR no),                                                                   \
      (s, o, t, n, no))                                                                            \
    X(C_DestroyObject, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o), (s, o))                          \
    X(C_GetObjectSize, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ULONG_PTR z), (s, o, z))       \
    X(C_GetAttributeValue,                                                                         \
      (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n), (s, o, t, n))     \
    X(C_SetAttributeValue,                                                                         \
      (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n), (s, o, t, n))     \
    X(C_FindObjectsInit, (CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n), (s, t, n))         \
    X(C_FindObjects, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE_PTR o, CK_ULONG mx, CK_ULONG_PTR got), \
      (s, o, mx, got))                                                                             \
    X(C_FindObjectsFinal, (CK_SESSION_HANDLE s), (s))                                              \
    FH_GENERIC_CRYPTO(X)

#define FH_INIT_PARAMS (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (s, m, k)
#define FH_IO_PARAMS                                                                               \
    (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG inl, CK_BYTE_PTR o, CK_ULONG_PTR ol),           \
        (s, in, inl, o, ol)
#define FH_FINAL_PARAMS    (CK_SESSION_HANDLE s, CK_BYTE_PTR o, CK_ULONG_PTR ol), (s, o, ol)
#define FH_UPDATE_PARAMS   (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG inl), (s, in, inl)
#define FH_X(X, name, ...) X(name, __VA_ARGS__)

#define FH_GENERIC_CRYPTO(X)                                                                       \
    FH_X(X, C_EncryptInit, FH_INIT_PARAMS)                                                         \
    FH_X(X, C_Encrypt, FH_IO_PARAMS)                                                               \
    FH_X(X, C_EncryptUpdate, FH_IO_PARAMS)                                                         \
    FH_X(X, C_EncryptFinal, FH_FINAL_PARAMS)                                                       \
    FH_X(X, C_DecryptInit, FH_INIT_PARAMS)                                                         \
    FH_X(X, C_Decrypt, FH_IO_PARAMS)                                                               \
    FH_X(X, C_DecryptUpdate, FH_IO_PARAMS)                                                         \
    FH_X(X, C_DecryptFinal, FH_FINAL_PARAMS)                                                       \
    X(C_DigestInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m), (s, m))                             \
    FH_X(X, C_Digest, FH_IO_PARAMS)                                                                \
    FH_X(X, C_DigestUpdate, FH_UPDATE_PARAMS)                                                      \
    X(C_DigestKey, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k), (s, k))                              \
    FH_X(X, C_DigestFinal, FH_FINAL_PARAMS)                                                        \
    FH_X(X, C_SignInit, FH_INIT_PARAMS)                                                            \
    FH_X(X, C_SignUpdate, FH_UPDATE_PARAMS)                                                        \
    FH_X(X, C_SignFinal, FH_FINAL_PARAMS)                                                          \
    FH_X(X, C_SignRecoverInit, FH_INIT_PARAMS)                                                     \
    FH_X(X, C_SignRecover, FH_IO_PARAMS)                                                           \
    FH_X(X, C_VerifyInit, FH_INIT_PARAMS)                                                          \
    X(C_Verify, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG inl, CK_BYTE_PTR g, CK_ULONG gl),   \
      (s, in, inl, g, gl))                                                                         \
    FH_X(X, C_VerifyUpdate, FH_UPDATE_PARAMS)                                                      \
    X(C_VerifyFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR g, CK_ULONG gl), (s, g, gl))                \
    FH_X(X, C_VerifyRecoverInit, FH_INIT_PARAMS)                                                   \
    FH_X(X, C_VerifyRecover, FH_IO_PARAMS)                                                         \
    FH_X(X, C_DigestEncryptUpdate, FH_IO_PARAMS)                                                   \
    FH_X(X, C_DecryptDigestUpdate, FH_IO_PARAMS)                                                   \
    FH_X(X, C_SignEncryptUpdate, FH_IO_PARAMS)                                                     \
    FH_X(X, C_DecryptVerifyUpdate, FH_IO_PARAMS)                                                   \
    X(C_GenerateKey,                                                                               \
      (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR t, CK_ULONG n,                    \
       CK_OBJECT_HANDLE_PTR k),                                                                    \
      (s, m, t, n, k))                                                                             \
    X(C_GenerateKeyPair,                                                                           \
      (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pt, CK_ULONG pn,                  \
       CK_ATTRIBUTE_PTR vt, CK_ULONG vn, CK_OBJECT_HANDLE_PTR pk, CK_OBJECT_HANDLE_PTR vk),        \
      (s, m, pt, pn, vt, vn, pk, vk))                                                              \
    X(C_WrapKey,                                                                                   \
      (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE w, CK_OBJECT_HANDLE k,            \
       CK_BYTE_PTR o, CK_ULONG_PTR ol),                                                            \
      (s, m, w, k, o, ol))                                                                         \
    X(C_UnwrapKey,                                                                                 \
      (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE u, CK_BYTE_PTR w, CK_ULONG wl,    \
       CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR k),                                    \
      (s, m, u, w, wl, t, n, k))                                                                   \
    X(C_DeriveKey,                                                                                 \
      (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR t,            \
       CK_ULONG n, CK_OBJECT_HANDLE_PTR k),                                                        \
      (s, m, b, t, n, k))                                                                          \
    FH_X(X, C_SeedRandom, FH_UPDATE_PARAMS)                                                        \
    X(C_GenerateRandom, (CK_SESSION_HANDLE s, CK_BYTE_PTR o, CK_ULONG ol), (s, o, ol))             \
    X(C_GetFunctionStatus, (CK_SESSION_HANDLE s), (s))                                             \
    X(C_CancelFunction, (CK_SESSION_HANDLE s), (s))

#define FH_FORWARD(name, params, args)                                                             \
    static CK_RV fh_##name params                                                                  \
    {                                                                                              \
        struct fh_verdict v;                                                                       \
        CK_RV rv;                                                                                  \
                                                                                                   \
        if (fh_enter(FH_##name, &v))                                                               \
            return v.rv;                                                                           \
        pthread_rwlock_rdlock(&g_life);                                                            \
        rv = g_real->name args;                                                                    \
        pthread_rwlock_unlock(&g_life);                                                            \
        return rv;                                                                                 \
    }
FH_GENERIC(FH_FORWARD)
#undef FH_FORWARD

#define FH_ENTRY(name) .name = fh_##name,
static CK_FUNCTION_LIST g_list = {.version = {2, 40}, FH_FUNCTION_NAMES(FH_ENTRY)};
#undef FH_ENTRY

/* Loads the real module (once) and hands out our forwarding list. */
static CK_RV fh_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
    CK_RV rv;

    atomic_fetch_add(&g_calls[FH_C_GetFunctionList], 1);
    if (out == NULL)
        return CKR_ARGUMENTS_BAD;
    fh_plan_env();
    if ((rv = fh_load()) != CKR_OK)
        return rv;
    *out = &g_list;
    return CKR_OK;
}

FH_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
    return fh_C_GetFunctionList(out);
}

/* Looks up a function index for the counters; -1 for NULL (all), -2 when unknown. */
static int fh_counter_index(const char *fn)
{
    if (fn == NULL)
        return -1;
    return fh_fn_lookup(fn) >= 0 ? fh_fn_lookup(fn) : -2;
}

/* Sums one counter array for fn (NULL: every function). */
static unsigned long fh_sum(atomic_ulong *arr, const char *fn)
{
    int i = fh_counter_index(fn);
    unsigned long total = 0;

    if (i >= 0)
        return atomic_load(&arr[i]);
    if (i == -2)
        return 0;
    for (int k = 0; k < FH_FN_MAX; k++)
        total += atomic_load(&arr[k]);
    return total;
}

FH_EXPORT unsigned long faulthsm_calls(const char *fn)
{
    return fh_sum(g_calls, fn);
}

FH_EXPORT unsigned long faulthsm_faults(const char *fn)
{
    return fh_sum(g_faults, fn);
}

FH_EXPORT unsigned long faulthsm_corruptions(void)
{
    return atomic_load(&g_corruptions);
}

FH_EXPORT unsigned long faulthsm_powerlosses(void)
{
    return atomic_load(&g_powerlosses);
}

FH_EXPORT long long faulthsm_outage_end_ms(void)
{
    return fh_plan_outage_end_ms();
}

FH_EXPORT void faulthsm_reset_counts(void)
{
    for (int k = 0; k < FH_FN_MAX; k++) {
        atomic_store(&g_calls[k], 0);
        atomic_store(&g_faults[k], 0);
    }
    atomic_store(&g_corruptions, 0);
    atomic_store(&g_powerlosses, 0);
}
