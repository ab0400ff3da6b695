/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#11 modules: loaded with dlopen once per path per process and shared by every token on them
 * (a root and an online token on one SoftHSM), re-initialised when the library or a token is lost,
 * listed for `signet hsm list`, and the token initialisation of `signet demo init`.
 */
#include "internal.h"

#include <dlfcn.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hsm_module *table; /* every module loaded by this process */

void hsm_trim(char *out, size_t outcap, const unsigned char *in, size_t inlen)
{
    size_t n = inlen;

    while (n > 0 && (in[n - 1] == ' ' || in[n - 1] == '\0'))
        n--;
    if (n >= outcap)
        n = outcap - 1;
    memcpy(out, in, n);
    out[n] = '\0';
}

void hsm_pad32(unsigned char out[32], const char *label)
{
    size_t n = strlen(label);

    memset(out, ' ', 32);
    memcpy(out, label, n > 32 ? 32 : n);
}

/* C_Initialize with OS locking and the optional pReserved string. Caller holds the write lock. */
static CK_RV module_initialize(struct hsm_module *mod)
{
    CK_C_INITIALIZE_ARGS args;
    CK_RV rv;

    memset(&args, 0, sizeof(args));
    args.flags = CKF_OS_LOCKING_OK;
    args.pReserved = mod->init_reserved;
    rv = mod->fn->C_Initialize(&args);
    if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED)
        rv = CKR_OK;
    mod->initialized = rv == CKR_OK;
    return rv;
}

/* dlopen + C_GetFunctionList for a new table entry. */
static enum signet_err module_load(const char *path, const char *init_reserved,
                                   struct hsm_module **out, char *detail)
{
    struct hsm_module *mod = NULL;
    CK_C_GetFunctionList getfn;
    enum signet_err rc = SIGNET_E_NOMEM;
    CK_RV rv;

    if ((mod = calloc(1, sizeof(*mod))) == NULL || (mod->path = strdup(path)) == NULL ||
        (init_reserved != NULL && (mod->init_reserved = strdup(init_reserved)) == NULL)) {
        sg_detail(detail, "PKCS#11 module %s: out of memory", path);
        goto out;
    }
    pthread_rwlock_init(&mod->rw, NULL);
    if ((mod->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
        sg_detail(detail,
                  "PKCS#11 module %s will not load: %s; check the module path in signet.conf", path,
                  dlerror());
        rc = SIGNET_E_CONFIG;
        goto out;
    }
    *(void **)&getfn = dlsym(mod->dl, "C_GetFunctionList");
    if (getfn == NULL || (rv = getfn(&mod->fn)) != CKR_OK || mod->fn == NULL) {
        sg_detail(detail,
                  "PKCS#11 module %s has no usable C_GetFunctionList; is it a PKCS#11 "
                  "library?",
                  path);
        rc = SIGNET_E_CONFIG;
        goto out;
    }
    *out = mod;
    mod = NULL;
    rc = SIGNET_OK;
out:
    if (mod != NULL) {
        if (mod->dl != NULL)
            dlclose(mod->dl);
        if (mod->path != NULL)
            pthread_rwlock_destroy(&mod->rw);
        free(mod->path);
        free(mod->init_reserved);
        free(mod);
    }
    return rc;
}

/*
 * Finds or loads the module for path and initialises it when nobody holds it. Returns with a
 * reference the caller drops with hsm_module_release. Errors: SIGNET_E_CONFIG (will not load),
 * SIGNET_E_HSM (C_Initialize failed), SIGNET_E_NOMEM.
 */
enum signet_err hsm_module_acquire(const char *path, const char *init_reserved,
                                   struct hsm_module **out, char *detail)
{
    struct hsm_module *mod;
    enum signet_err rc = SIGNET_OK;
    CK_RV rv = CKR_OK;

    *out = NULL;
    if (path == NULL || path[0] == '\0') {
        sg_detail(detail, "no PKCS#11 module named; set module = PATH in signet.conf");
        return SIGNET_E_CONFIG;
    }
    pthread_mutex_lock(&table_lock);
    for (mod = table; mod != NULL; mod = mod->next)
        if (strcmp(mod->path, path) == 0)
            break;
    if (mod == NULL) {
        if ((rc = module_load(path, init_reserved, &mod, detail)) != SIGNET_OK)
            goto out;
        mod->next = table;
        table = mod;
    }
    if (mod->refs == 0 || !mod->initialized) {
        pthread_rwlock_wrlock(&mod->rw);
        rv = mod->initialized ? CKR_OK : module_initialize(mod);
        mod->generation++;
        pthread_rwlock_unlock(&mod->rw);
        if (rv != CKR_OK) {
            sg_detail(detail, "PKCS#11 module %s: C_Initialize failed: %s (0x%lx)", path,
                      hsm_ckr_name(rv), (unsigned long)rv);
            rc = SIGNET_E_HSM;
            goto out;
        }
    }
    mod->refs++;
    *out = mod;
out:
    pthread_mutex_unlock(&table_lock);
    return rc;
}

void hsm_module_release(struct hsm_module *mod)
{
    if (mod == NULL)
        return;
    pthread_mutex_lock(&table_lock);
    if (mod->refs > 0 && --mod->refs == 0 && mod->initialized) {
        /* the code stays mapped: some modules do not survive dlclose, and it is reused */
        pthread_rwlock_wrlock(&mod->rw);
        mod->fn->C_Finalize(NULL);
        mod->initialized = 0;
        mod->generation++;
        pthread_rwlock_unlock(&mod->rw);
    }
    pthread_mutex_unlock(&table_lock);
}

CK_RV hsm_module_reinit(struct hsm_module *mod, uint64_t seen)
{
    CK_RV rv = CKR_OK;

    pthread_rwlock_wrlock(&mod->rw);
    if (mod->generation == seen || !mod->initialized) {
        sg_log(SG_LOG_DEBUG, "re-initialising PKCS#11 module %s", mod->path);
        mod->fn->C_Finalize(NULL);
        mod->initialized = 0;
        rv = module_initialize(mod);
        mod->generation++;
    }
    pthread_rwlock_unlock(&mod->rw);
    return rv;
}

/*
 * C_GetSlotList twice (count, then the list), bounded by HSM_SLOTS_MAX; the count a module gives
 * the second time is checked against the room it was given. Caller frees *out.
 */
CK_RV hsm_module_slot_list(struct hsm_module *mod, CK_SLOT_ID **out, CK_ULONG *out_n)
{
    CK_SLOT_ID *v = NULL;
    CK_ULONG n = 0, cap;
    CK_RV rv;

    *out = NULL;
    *out_n = 0;
    for (int tries = 0; tries < 3; tries++) {
        if ((rv = mod->fn->C_GetSlotList(CK_TRUE, NULL, &n)) != CKR_OK)
            return rv;
        if (n > HSM_SLOTS_MAX)
            return HSMB_RV_OVERRUN;
        cap = n + 1; /* room for one token inserted meanwhile */
        if ((v = calloc(cap, sizeof(*v))) == NULL)
            return HSMB_RV_NOMEM;
        n = cap;
        rv = mod->fn->C_GetSlotList(CK_TRUE, v, &n);
        if (rv == CKR_OK && n <= cap) {
            *out = v;
            *out_n = n;
            return CKR_OK;
        }
        free(v);
        v = NULL;
        if (rv == CKR_OK)
            return HSMB_RV_OVERRUN;
        if (rv != CKR_BUFFER_TOO_SMALL)
            return rv;
    }
    return CKR_BUFFER_TOO_SMALL; /* the list kept growing */
}

/*
 * Walks the slots with a token present and returns the one labelled label. A slot whose token
 * cannot be read is skipped. Caller holds the read lock.
 */
CK_RV hsm_module_find_label(struct hsm_module *mod, const char *label, CK_SLOT_ID *out_slot,
                            CK_TOKEN_INFO *out_info)
{
    CK_SLOT_ID *slots = NULL;
    CK_ULONG n = 0;
    unsigned char want[32];
    CK_TOKEN_INFO info;
    CK_RV rv;

    hsm_pad32(want, label);
    if ((rv = hsm_module_slot_list(mod, &slots, &n)) != CKR_OK)
        return rv;
    rv = HSMB_RV_NOTFOUND;
    for (CK_ULONG i = 0; i < n && rv != CKR_OK; i++) {
        if (mod->fn->C_GetTokenInfo(slots[i], &info) != CKR_OK)
            continue;
        if ((info.flags & CKF_TOKEN_INITIALIZED) && memcmp(info.label, want, 32) == 0) {
            *out_slot = slots[i];
            if (out_info != NULL)
                *out_info = info;
            rv = CKR_OK;
        }
    }
    free(slots);
    return rv;
}

/*
 * Lists the slots with a token present (`signet hsm list`). Caller frees *out. Errors as
 * hsm_module_acquire, SIGNET_E_HSM when the slot list cannot be read.
 */
enum signet_err hsm_module_slots(const char *module, const char *init_reserved,
                                 struct hsm_slot_info **out, size_t *out_n, char *detail)
{
    struct hsm_module *mod = NULL;
    struct hsm_slot_info *v = NULL;
    CK_SLOT_ID *slots = NULL;
    CK_ULONG n = 0;
    enum signet_err rc;
    CK_RV rv;
    size_t k = 0;

    *out = NULL;
    *out_n = 0;
    if ((rc = hsm_module_acquire(module, init_reserved, &mod, detail)) != SIGNET_OK)
        return rc;
    pthread_rwlock_rdlock(&mod->rw);
    if ((rv = hsm_module_slot_list(mod, &slots, &n)) != CKR_OK) {
        rc = hsm_ckr_detail(rv, "C_GetSlotList", detail);
        goto out;
    }
    if ((v = calloc(n + 1, sizeof(*v))) == NULL) {
        rc = SIGNET_E_NOMEM;
        goto out;
    }
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO ti;
        if (mod->fn->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
            continue;
        v[k].slot = slots[i];
        hsm_trim(v[k].label, sizeof(v[k].label), ti.label, sizeof(ti.label));
        hsm_trim(v[k].manufacturer, sizeof(v[k].manufacturer), ti.manufacturerID,
                 sizeof(ti.manufacturerID));
        hsm_trim(v[k].model, sizeof(v[k].model), ti.model, sizeof(ti.model));
        hsm_trim(v[k].serial, sizeof(v[k].serial), ti.serialNumber, sizeof(ti.serialNumber));
        v[k].initialized = (ti.flags & CKF_TOKEN_INITIALIZED) != 0;
        k++;
    }
    *out = v;
    *out_n = k;
    v = NULL;
    rc = SIGNET_OK;
out:
    pthread_rwlock_unlock(&mod->rw);
    free(v);
    free(slots);
    hsm_module_release(mod);
    return rc;
}

/* The SO part of hsm_token_init: SO login on a fresh RW session, C_InitPIN, logout. */
static CK_RV token_init_pin(struct hsm_module *mod, CK_SLOT_ID slot, const struct secret *so_pin,
                            const struct secret *user_pin, const char **out_fn)
{
    CK_SESSION_HANDLE h = 0;
    CK_RV rv;

    *out_fn = "C_OpenSession";
    rv = mod->fn->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h);
    if (rv != CKR_OK)
        return rv;
    *out_fn = "C_Login (security officer)";
    rv = mod->fn->C_Login(h, CKU_SO, (CK_UTF8CHAR_PTR)secret_data(so_pin), secret_len(so_pin));
    if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) {
        *out_fn = "C_InitPIN";
        rv = mod->fn->C_InitPIN(h, (CK_UTF8CHAR_PTR)secret_data(user_pin), secret_len(user_pin));
        mod->fn->C_Logout(h);
    }
    mod->fn->C_CloseSession(h);
    return rv;
}

/*
 * Initialises a token labelled label in the first slot without an initialised token, sets the
 * user PIN, then re-initialises the module so that the new token is in its slot list (SoftHSM
 * fixes the list at C_Initialize). SIGNET_E_EXISTS when a token has that label already.
 */
enum signet_err hsm_token_init(const char *module, const char *init_reserved, const char *label,
                               const struct secret *so_pin, const struct secret *user_pin,
                               char *detail)
{
    struct hsm_module *mod = NULL;
    CK_SLOT_ID *slots = NULL, slot = 0;
    CK_ULONG n = 0;
    unsigned char padded[32];
    const char *fn = "C_GetSlotList";
    enum signet_err rc;
    int found = 0;
    CK_RV rv;
    char what[128];

    if (label == NULL || label[0] == '\0' || strlen(label) > 32 || so_pin == NULL ||
        user_pin == NULL) {
        sg_detail(detail, "token initialisation needs a label of 1 to 32 characters and two PINs");
        return SIGNET_E_USAGE;
    }
    if ((rc = hsm_module_acquire(module, init_reserved, &mod, detail)) != SIGNET_OK)
        return rc;
    pthread_rwlock_rdlock(&mod->rw);
    if (hsm_module_find_label(mod, label, &slot, NULL) == CKR_OK) {
        sg_detail(detail, "a token labelled '%s' exists already in %s", label, module);
        rc = SIGNET_E_EXISTS;
        goto out;
    }
    if ((rv = hsm_module_slot_list(mod, &slots, &n)) != CKR_OK)
        goto fail;
    for (CK_ULONG i = 0; i < n && !found; i++) {
        CK_TOKEN_INFO ti;
        if (mod->fn->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
            !(ti.flags & CKF_TOKEN_INITIALIZED)) {
            slot = slots[i];
            found = 1;
        }
    }
    if (!found) {
        sg_detail(detail, "%s has no free slot for token '%s'", module, label);
        rc = SIGNET_E_HSM;
        goto out;
    }
    hsm_pad32(padded, label);
    fn = "C_InitToken";
    rv = mod->fn->C_InitToken(slot, (CK_UTF8CHAR_PTR)secret_data(so_pin), secret_len(so_pin),
                              padded);
    if (rv == CKR_OK)
        rv = token_init_pin(mod, slot, so_pin, user_pin, &fn);
    if (rv != CKR_OK)
        goto fail;
    pthread_rwlock_unlock(&mod->rw);
    rv = hsm_module_reinit(mod, mod->generation);
    pthread_rwlock_rdlock(&mod->rw);
    if (rv != CKR_OK) {
        fn = "C_Initialize";
        goto fail;
    }
    rc = SIGNET_OK;
    goto out;
fail:
    snprintf(what, sizeof(what), "%s for token '%s' in %s", fn, label, module);
    rc = hsm_ckr_detail(rv, what, detail);
    if (rc == SIGNET_E_HSM_UNAVAILABLE)
        rc = SIGNET_E_HSM;
out:
    pthread_rwlock_unlock(&mod->rw);
    free(slots);
    hsm_module_release(mod);
    return rc;
}
