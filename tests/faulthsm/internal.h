/* SPDX-License-Identifier: Apache-2.0 */
/*
 * faulthsm internals: the table of PKCS#11 functions, and the fault plan (rules read from
 * FAULTHSM_RULES and the FAULTHSM_CONTROL file) that every forwarder consults.
 * See faulthsm.c for the control language and docs/faulthsm.md for how tests use it.
 */
#ifndef FAULTHSM_INTERNAL_H
#define FAULTHSM_INTERNAL_H

#include <p11-kit/pkcs11.h>
#include <stdint.h>

/* Every entry of a PKCS#11 v2.40 CK_FUNCTION_LIST, in its order. */
#define FH_FUNCTION_NAMES(X)                                                                       \
    X(C_Initialize)                                                                                \
    X(C_Finalize)                                                                                  \
    X(C_GetInfo)                                                                                   \
    X(C_GetFunctionList)                                                                           \
    X(C_GetSlotList)                                                                               \
    X(C_GetSlotInfo)                                                                               \
    X(C_GetTokenInfo)                                                                              \
    X(C_GetMechanismList)                                                                          \
    X(C_GetMechanismInfo)                                                                          \
    X(C_InitToken)                                                                                 \
    X(C_InitPIN)                                                                                   \
    X(C_SetPIN)                                                                                    \
    X(C_OpenSession)                                                                               \
    X(C_CloseSession)                                                                              \
    X(C_CloseAllSessions)                                                                          \
    X(C_GetSessionInfo)                                                                            \
    X(C_GetOperationState)                                                                         \
    X(C_SetOperationState)                                                                         \
    X(C_Login)                                                                                     \
    X(C_Logout)                                                                                    \
    X(C_CreateObject)                                                                              \
    X(C_CopyObject)                                                                                \
    X(C_DestroyObject)                                                                             \
    X(C_GetObjectSize)                                                                             \
    X(C_GetAttributeValue)                                                                         \
    X(C_SetAttributeValue)                                                                         \
    X(C_FindObjectsInit)                                                                           \
    X(C_FindObjects)                                                                               \
    X(C_FindObjectsFinal)                                                                          \
    X(C_EncryptInit)                                                                               \
    X(C_Encrypt)                                                                                   \
    X(C_EncryptUpdate)                                                                             \
    X(C_EncryptFinal)                                                                              \
    X(C_DecryptInit)                                                                               \
    X(C_Decrypt)                                                                                   \
    X(C_DecryptUpdate)                                                                             \
    X(C_DecryptFinal)                                                                              \
    X(C_DigestInit)                                                                                \
    X(C_Digest)                                                                                    \
    X(C_DigestUpdate)                                                                              \
    X(C_DigestKey)                                                                                 \
    X(C_DigestFinal)                                                                               \
    X(C_SignInit)                                                                                  \
    X(C_Sign)                                                                                      \
    X(C_SignUpdate)                                                                                \
    X(C_SignFinal)                                                                                 \
    X(C_SignRecoverInit)                                                                           \
    X(C_SignRecover)                                                                               \
    X(C_VerifyInit)                                                                                \
    X(C_Verify)                                                                                    \
    X(C_VerifyUpdate)                                                                              \
    X(C_VerifyFinal)                                                                               \
    X(C_VerifyRecoverInit)                                                                         \
    X(C_VerifyRecover)                                                                             \
    X(C_DigestEncryptUpdate)                                                                       \
    X(C_DecryptDigestUpdate)                                                                       \
    X(C_SignEncryptUpdate)                                                                         \
    X(C_DecryptVerifyUpdate)                                                                       \
    X(C_GenerateKey)                                                                               \
    X(C_GenerateKeyPair)                                                                           \
    X(C_WrapKey)                                                                                   \
    X(C_UnwrapKey)                                                                                 \
    X(C_DeriveKey)                                                                                 \
    X(C_SeedRandom)                                                                                \
    X(C_GenerateRandom)                                                                            \
    X(C_GetFunctionStatus)                                                                         \
    X(C_CancelFunction)                                                                            \
    X(C_WaitForSlotEvent)

#define FH_ENUM(name) FH_##name,
enum fh_fn { FH_FUNCTION_NAMES(FH_ENUM) FH_FN_MAX };
#undef FH_ENUM

#define FH_FN_ALL (-1) /* a rule naming "*" */

/* The function's name ("C_Sign"), or NULL for an index out of range. */
const char *fh_fn_name(int fn);
/* The index of a function name, FH_FN_ALL for "*", or -2 when unknown. */
int fh_fn_lookup(const char *name);

/* A CKR from its symbolic name ("CKR_DEVICE_ERROR") or a number ("0x30", "48"). 1 = ok. */
int fh_ckr_parse(const char *s, CK_RV *out);
/* The symbolic name of rv, or "CKR_?" when it is not in the table. */
const char *fh_ckr_name(CK_RV rv);

/* What a forwarder must do before it calls the real module. */
struct fh_verdict {
    int powerloss;        /* 1: finalise the real module now (events are one-shot) */
    int powerloss_reinit; /* with powerloss: initialise it again (0 = leave it finalised) */
    int inject;           /* 1: answer rv instead of calling the real module */
    CK_RV rv;             /* the injected return value */
    int outage;           /* with inject: the answer comes from an outage */
    unsigned latency_ms;  /* sleep this long first */
};

/*
 * Re-reads the control file when it changed, fires the one-shot events it holds, and applies
 * the plan to one call of fn: fills *out. Thread-safe.
 */
void fh_plan_consult(enum fh_fn fn, struct fh_verdict *out);
/* 1 when an outage is in progress (C_GetSlotList then hides the token). Thread-safe. */
int fh_plan_outage_active(void);
/* The CLOCK_MONOTONIC millisecond at which the current or last outage ends; 0 = never had one. */
long long fh_plan_outage_end_ms(void);
/* 1 when this successful C_Sign's signature must be corrupted. Thread-safe. */
int fh_plan_corrupt(void);
/* Re-reads FAULTHSM_CONTROL and FAULTHSM_RULES from the environment (at C_Initialize). */
void fh_plan_env(void);
/* Milliseconds on CLOCK_MONOTONIC. */
long long fh_now_ms(void);

#endif
