/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tokens: finding one by label, the kept credential and its single login, the session pool, and
 * recovery (retry with backoff, reconnect, re-initialise, circuit breaker).
 *
 * Sessions: an "anchor" session holds the login (PKCS#11 login state belongs to the application
 * and lasts while one of its sessions is open) and serves probes; pool_size work sessions are
 * opened lazily and discarded after any failed call, so an operation a failing C_Sign left
 * active never poisons the next call. Every session carries the module generation and the token
 * epoch it was opened in: after a reconnect (epoch + 1) or a re-initialise (generation + 1) older
 * handles are dropped, and after a re-initialise they are never even closed, because handle
 * numbers restart and an old number may name somebody else's new session.
 */
#include "internal.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hsm_stat_add(uint64_t *counter, uint64_t n)
{
    __atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

uint64_t hsm_token_find_calls(struct hsm_token *tok)
{
    return __atomic_load_n(&tok->find_calls, __ATOMIC_RELAXED);
}

CK_RV hsm_find(struct hsm_token *tok, CK_SESSION_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG ntmpl,
               CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *n)
{
    CK_FUNCTION_LIST_PTR f = tok->mod->fn;
    CK_RV rv;

    *n = 0;
    hsm_stat_add(&tok->find_calls, 1);
    if ((rv = f->C_FindObjectsInit(h, tmpl, ntmpl)) != CKR_OK)
        return rv;
    rv = f->C_FindObjects(h, out, max, n);
    f->C_FindObjectsFinal(h);
    return rv;
}

/* Jitter for the backoff: a per-token xorshift, good enough to spread retries. */
static uint32_t tok_random(struct hsm_token *tok)
{
    uint32_t x;

    pthread_mutex_lock(&tok->lock);
    x = tok->rnd;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    tok->rnd = x;
    pthread_mutex_unlock(&tok->lock);
    return x;
}

/*
 * C_Login with the kept credential, after checking the token's PIN flags: a locked PIN is not
 * tried, a PIN that failed once is never tried again, CKR_USER_ALREADY_LOGGED_IN is success.
 */
static CK_RV tok_login(struct hsm_token *tok, CK_SESSION_HANDLE h)
{
    CK_RV rv;

    if (tok->pin == NULL)
        return CKR_OK;
    if (tok->pin_failed)
        return HSMB_RV_PINFAILED;
    if (tok->info.flags & CKF_USER_PIN_LOCKED)
        return CKR_PIN_LOCKED;
    if (tok->info.flags & CKF_USER_PIN_FINAL_TRY)
        sg_log(SG_LOG_WARN, "token '%s': one PIN attempt left before the PIN locks", tok->label);
    hsm_stat_add(&tok->stats.logins, 1);
    rv = tok->mod->fn->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)secret_data(tok->pin),
                               secret_len(tok->pin));
    if (rv == CKR_USER_ALREADY_LOGGED_IN)
        rv = CKR_OK;
    if (hsm_ckr_is_pin_error(rv)) {
        tok->pin_failed = 1;
        sg_log(SG_LOG_ERR, "token '%s': the PIN was refused (%s); it will not be tried again",
               tok->label, hsm_ckr_name(rv));
    }
    return rv;
}

/*
 * Closes every idle session of the current generation and the anchor, and bumps the epoch so
 * sessions in use are dropped when they come back. Caller holds the module read lock.
 */
static void tok_drop_sessions(struct hsm_token *tok)
{
    CK_FUNCTION_LIST_PTR f = tok->mod->fn;
    uint64_t cur = tok->mod->generation;

    pthread_mutex_lock(&tok->lock);
    tok->epoch++;
    for (unsigned i = 0; i < tok->pool_size; i++) {
        struct hsm_sess *s = &tok->pool[i];
        if (!s->busy && s->h != 0) {
            if (s->gen == cur)
                f->C_CloseSession(s->h);
            s->h = 0;
        }
    }
    if (tok->anchor != 0 && tok->gen == cur)
        f->C_CloseSession(tok->anchor);
    tok->anchor = 0;
    tok->gen = cur;
    pthread_mutex_unlock(&tok->lock);
}

/*
 * Locates the token (rescanning the slot list when asked), opens the anchor session and logs in.
 * Caller holds the module read lock and is the only one connecting.
 */
static CK_RV tok_connect(struct hsm_token *tok, int rescan)
{
    CK_FUNCTION_LIST_PTR f = tok->mod->fn;
    CK_SESSION_HANDLE h = 0;
    CK_SLOT_ID slot = tok->slot;
    CK_TOKEN_INFO info;
    unsigned char want[32];
    CK_RV rv;

    if (rescan) {
        if ((rv = hsm_module_find_label(tok->mod, tok->label, &slot, &info)) != CKR_OK)
            return rv;
    } else {
        if ((rv = f->C_GetTokenInfo(slot, &info)) != CKR_OK)
            return rv;
        hsm_pad32(want, tok->label);
        if (memcmp(info.label, want, 32) != 0)
            return HSMB_RV_NOTFOUND;
    }
    pthread_mutex_lock(&tok->lock);
    tok->info = info;
    tok->slot = slot;
    pthread_mutex_unlock(&tok->lock);
    if ((rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h)) !=
        CKR_OK)
        return rv;
    if ((rv = tok_login(tok, h)) != CKR_OK) {
        f->C_CloseSession(h);
        return rv;
    }
    pthread_mutex_lock(&tok->lock);
    tok->anchor = h;
    tok->gen = tok->mod->generation;
    pthread_mutex_unlock(&tok->lock);
    return CKR_OK;
}

/*
 * One recovery: optionally re-initialise the module, drop every session, locate the token, log in
 * again. A reconnect that finds the slot or the token gone escalates once to a re-initialise.
 * Keys notice the new epoch and re-find their handles (and check their public key) lazily.
 */
static CK_RV tok_reconnect(struct hsm_token *tok, int reinit)
{
    struct hsm_module *mod = tok->mod;
    uint64_t seen;
    CK_RV rv = CKR_OK;

    pthread_mutex_lock(&tok->lock);
    seen = tok->gen;
    pthread_mutex_unlock(&tok->lock);
    for (int pass = 0; pass < 2; pass++) {
        if (reinit) {
            hsm_stat_add(&tok->stats.reinits, 1);
            if ((rv = hsm_module_reinit(mod, seen)) != CKR_OK)
                return rv;
        }
        pthread_rwlock_rdlock(&mod->rw);
        if (!mod->initialized) {
            rv = CKR_CRYPTOKI_NOT_INITIALIZED;
        } else {
            int rescan = reinit || seen != mod->generation;
            tok_drop_sessions(tok);
            rv = tok_connect(tok, rescan);
        }
        pthread_rwlock_unlock(&mod->rw);
        if (rv == CKR_OK)
            return CKR_OK;
        if (reinit || (hsm_ckr_class(rv) != HSM_CKR_REINIT &&
                       hsm_ckr_class(rv) != HSM_CKR_RECONNECT && rv != HSMB_RV_NOTFOUND))
            break;
        reinit = 1;
    }
    return rv;
}

/* Describes a failed reconnect of tok into why. */
static void tok_reconnect_detail(struct hsm_token *tok, CK_RV rv, char *why)
{
    char what[160];

    if (rv == HSMB_RV_NOTFOUND) {
        sg_detail(why, "token '%s' is not in the slot list of %s", tok->label, tok->mod->path);
        return;
    }
    snprintf(what, sizeof(what), "reconnecting to token '%s'", tok->label);
    hsm_ckr_detail(rv, what, why);
}

/*
 * Serialised recovery. A caller whose failed session belongs to an epoch that has already been
 * replaced takes the result of that recovery instead of starting another. probe: the half-open
 * probe, which always recovers. The breaker records the outcome. Returns SIGNET_OK,
 * SIGNET_E_PIN or SIGNET_E_HSM_UNAVAILABLE.
 */
static enum signet_err tok_recover(struct hsm_token *tok, int reinit, uint64_t seen_epoch,
                                   int probe, char *detail)
{
    char why[SIGNET_DETAIL_MAX] = "";
    enum signet_err rc;
    CK_RV rv;

    pthread_mutex_lock(&tok->lock);
    while (tok->recovering)
        pthread_cond_wait(&tok->cond, &tok->lock);
    if (!probe && tok->epoch != seen_epoch) {
        rc = tok->recover_rc;
        if (rc != SIGNET_OK)
            hsm_brk_message(&tok->brk, tok->label, detail);
        pthread_mutex_unlock(&tok->lock);
        return rc;
    }
    tok->recovering = 1;
    pthread_mutex_unlock(&tok->lock);

    rv = tok_reconnect(tok, reinit);
    if (rv != CKR_OK)
        tok_reconnect_detail(tok, rv, why);

    pthread_mutex_lock(&tok->lock);
    tok->recovering = 0;
    if (rv == CKR_OK) {
        rc = SIGNET_OK;
        tok->stats.reconnects++;
        hsm_brk_ok(&tok->brk);
    } else {
        rc = hsm_ckr_is_pin_error(rv) ? SIGNET_E_PIN : SIGNET_E_HSM_UNAVAILABLE;
        hsm_brk_fail(&tok->brk, sg_mono_ms(), sg_now(), why);
        if (tok->brk.trips != tok->stats.breaker_trips) {
            sg_log(SG_LOG_ERR, "token '%s': circuit breaker open: %s", tok->label, why);
            tok->stats.breaker_trips = tok->brk.trips;
        }
        if (rc == SIGNET_E_PIN || tok->brk.state != HSM_BREAKER_OPEN)
            sg_detail(detail, "%s", why);
        else
            hsm_brk_message(&tok->brk, tok->label, detail);
    }
    tok->recover_rc = rc;
    pthread_cond_broadcast(&tok->cond);
    pthread_mutex_unlock(&tok->lock);
    return rc;
}

/*
 * Takes a work session, opening a new one when the slot is empty or stale. Caller holds the
 * module read lock; waits while all sessions are in use.
 */
static CK_RV pool_take(struct hsm_token *tok, struct hsm_sess **out)
{
    struct hsm_sess *s = NULL;
    CK_SESSION_HANDLE old = 0;
    uint64_t cur = tok->mod->generation, epoch;
    CK_SLOT_ID slot;
    CK_RV rv = CKR_OK;

    pthread_mutex_lock(&tok->lock);
    for (;;) {
        for (unsigned i = 0; i < tok->pool_size && s == NULL; i++)
            if (!tok->pool[i].busy)
                s = &tok->pool[i];
        if (s != NULL)
            break;
        pthread_cond_wait(&tok->cond, &tok->lock);
    }
    s->busy = 1;
    epoch = tok->epoch;
    slot = tok->slot;
    if (s->h != 0 && (s->gen != cur || s->epoch != epoch)) {
        old = s->gen == cur ? s->h : 0;
        s->h = 0;
    }
    pthread_mutex_unlock(&tok->lock);
    if (old != 0)
        tok->mod->fn->C_CloseSession(old);
    if (s->h == 0) {
        rv = tok->mod->fn->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
                                         &s->h);
        s->gen = cur;
        s->epoch = epoch;
        if (rv != CKR_OK) {
            s->h = 0;
            pthread_mutex_lock(&tok->lock);
            s->busy = 0;
            pthread_cond_broadcast(&tok->cond);
            pthread_mutex_unlock(&tok->lock);
            return rv;
        }
    }
    *out = s;
    return CKR_OK;
}

/* Returns a session; a failed or stale one is closed (when its number is still ours). */
static void pool_put(struct hsm_token *tok, struct hsm_sess *s, int failed)
{
    CK_SESSION_HANDLE old = 0;
    uint64_t cur = tok->mod->generation;

    pthread_mutex_lock(&tok->lock);
    if (failed || s->gen != cur || s->epoch != tok->epoch) {
        old = s->gen == cur ? s->h : 0;
        s->h = 0;
    }
    s->busy = 0;
    pthread_cond_broadcast(&tok->cond);
    pthread_mutex_unlock(&tok->lock);
    if (old != 0)
        tok->mod->fn->C_CloseSession(old);
}

/* One attempt of fn on a pooled session; *out_epoch is the epoch the attempt ran in. */
static CK_RV tok_attempt(struct hsm_token *tok, hsm_op_fn fn, void *arg, uint64_t *out_epoch)
{
    struct hsm_sess *s = NULL;
    int stale;
    CK_RV rv;

    pthread_rwlock_rdlock(&tok->mod->rw);
    pthread_mutex_lock(&tok->lock);
    stale = tok->gen != tok->mod->generation || tok->anchor == 0 || !tok->mod->initialized;
    *out_epoch = tok->epoch;
    pthread_mutex_unlock(&tok->lock);
    if (stale) {
        rv = HSMB_RV_STALE;
    } else if ((rv = pool_take(tok, &s)) == CKR_OK) {
        *out_epoch = s->epoch;
        rv = fn(tok, s, arg);
        pool_put(tok, s, rv != CKR_OK);
    }
    pthread_rwlock_unlock(&tok->mod->rw);
    return rv;
}

/*
 * Admission through the breaker: fails fast while it is open, makes the caller the probe when the
 * interval has passed, and otherwise waits for a recovery in progress.
 */
static enum signet_err tok_admit(struct hsm_token *tok, int count_fast, char *detail)
{
    int probe = 0;
    uint64_t epoch;

    pthread_mutex_lock(&tok->lock);
    if (!hsm_brk_admit(&tok->brk, sg_mono_ms(), &probe)) {
        if (count_fast)
            tok->stats.fast_fails++;
        hsm_brk_message(&tok->brk, tok->label, detail);
        pthread_mutex_unlock(&tok->lock);
        return SIGNET_E_HSM_UNAVAILABLE;
    }
    while (!probe && tok->recovering)
        pthread_cond_wait(&tok->cond, &tok->lock);
    epoch = tok->epoch;
    pthread_mutex_unlock(&tok->lock);
    return probe ? tok_recover(tok, 0, epoch, 1, detail) : SIGNET_OK;
}

/* The retry budget is spent: the breaker counts a failed recovery. */
static enum signet_err tok_give_up(struct hsm_token *tok, CK_RV rv, const char *what, char *detail)
{
    char why[SIGNET_DETAIL_MAX] = "";

    if (rv == HSMB_RV_BADSIG) {
        sg_detail(detail,
                  "%s: token returned an invalid signature %u times in a row; nothing was "
                  "returned; check the token",
                  what, tok->retry_max);
        return SIGNET_E_HSM;
    }
    hsm_ckr_detail(rv, what, why);
    pthread_mutex_lock(&tok->lock);
    hsm_brk_fail(&tok->brk, sg_mono_ms(), sg_now(), why);
    if (tok->brk.trips != tok->stats.breaker_trips) {
        sg_log(SG_LOG_ERR, "token '%s': circuit breaker open: %s", tok->label, why);
        tok->stats.breaker_trips = tok->brk.trips;
    }
    if (tok->brk.state == HSM_BREAKER_OPEN)
        hsm_brk_message(&tok->brk, tok->label, detail);
    else
        sg_detail(detail, "%s", why);
    pthread_mutex_unlock(&tok->lock);
    return SIGNET_E_HSM_UNAVAILABLE;
}

enum signet_err hsm_token_run(struct hsm_token *tok, const char *what, hsm_op_fn fn, void *arg,
                              char *detail)
{
    enum signet_err rc;
    uint64_t epoch;
    CK_RV rv;

    for (unsigned attempt = 0;;) {
        if ((rc = tok_admit(tok, 1, detail)) != SIGNET_OK)
            return rc;
        if ((rv = tok_attempt(tok, fn, arg, &epoch)) == CKR_OK) {
            pthread_mutex_lock(&tok->lock);
            if (tok->brk.failures != 0)
                hsm_brk_ok(&tok->brk);
            pthread_mutex_unlock(&tok->lock);
            return SIGNET_OK;
        }
        enum hsm_ckr_class cls = hsm_ckr_class(rv);
        if (cls == HSM_CKR_PERMANENT || cls == HSM_CKR_OK) {
            rc = hsm_ckr_detail(rv, what, detail);
            return rc == SIGNET_E_HSM_UNAVAILABLE ? SIGNET_E_HSM : rc;
        }
        if (++attempt >= tok->retry_max)
            return tok_give_up(tok, rv, what, detail);
        if (cls == HSM_CKR_RETRY) {
            hsm_stat_add(&tok->stats.retries, 1);
            sg_sleep_ms(hsm_backoff_ms(tok->backoff_base_ms, tok->backoff_max_ms, attempt - 1,
                                       tok_random(tok)));
            continue;
        }
        if ((rc = tok_recover(tok, cls == HSM_CKR_REINIT, epoch, 0, detail)) != SIGNET_OK)
            return rc;
    }
}

/* Fills the defaults of struct hsm_token_config into tok. */
static void tok_configure(struct hsm_token *tok, const struct hsm_token_config *cfg)
{
    tok->pool_size = cfg->pool_size != 0 ? cfg->pool_size : 4;
    if (tok->pool_size > 256)
        tok->pool_size = 256;
    tok->find_retry_ms = cfg->find_retry_ms != 0 ? cfg->find_retry_ms : 2000;
    tok->retry_max = cfg->retry_max != 0 ? cfg->retry_max : 6;
    tok->backoff_base_ms = cfg->backoff_base_ms != 0 ? cfg->backoff_base_ms : 5;
    tok->backoff_max_ms = cfg->backoff_max_ms != 0 ? cfg->backoff_max_ms : 200;
    hsm_brk_init(&tok->brk, cfg->breaker_threshold, cfg->breaker_probe_ms);
    tok->rnd = (uint32_t)(sg_mono_ms() * 2654435761u) | 1u;
}

/*
 * Looks for the token by label until find_retry_ms has passed, re-initialising the module between
 * looks (SoftHSM fixes its slot list at C_Initialize, and another process may be rewriting the
 * token files). CKR_OK or HSMB_RV_NOTFOUND or the error of C_GetSlotList.
 */
static CK_RV tok_find_slot(struct hsm_token *tok)
{
    uint64_t deadline = sg_mono_ms() + tok->find_retry_ms;
    CK_RV rv;

    for (;;) {
        pthread_rwlock_rdlock(&tok->mod->rw);
        rv = hsm_module_find_label(tok->mod, tok->label, &tok->slot, &tok->info);
        tok->gen = tok->mod->generation;
        pthread_rwlock_unlock(&tok->mod->rw);
        if (rv == CKR_OK || sg_mono_ms() >= deadline)
            return rv;
        sg_sleep_ms(50);
        hsm_module_reinit(tok->mod, tok->mod->generation);
    }
}

/* Connects at open: transient failures are retried; a PIN error stops after one C_Login. */
static enum signet_err tok_first_connect(struct hsm_token *tok, char *detail)
{
    char what[160];
    CK_RV rv;

    for (unsigned attempt = 0;; attempt++) {
        rv = tok_reconnect(tok, 0);
        if (rv == CKR_OK)
            return SIGNET_OK;
        if (hsm_ckr_is_pin_error(rv)) {
            sg_detail(detail,
                      "token '%s' refused the PIN (%s)%s; it will not be tried again: "
                      "check the credential",
                      tok->label, hsm_ckr_name(rv),
                      (tok->info.flags & CKF_USER_PIN_FINAL_TRY)
                          ? " and the token said that was the final try before it locks"
                          : "");
            return SIGNET_E_PIN;
        }
        if (hsm_ckr_class(rv) == HSM_CKR_PERMANENT || attempt + 1 >= tok->retry_max) {
            snprintf(what, sizeof(what), "opening token '%s' in %s", tok->label, tok->mod->path);
            return hsm_ckr_detail(rv, what, detail);
        }
        sg_sleep_ms(
            hsm_backoff_ms(tok->backoff_base_ms, tok->backoff_max_ms, attempt, tok_random(tok)));
    }
}

enum signet_err hsm_token_open(const struct hsm_token_config *cfg, struct secret *pin,
                               struct hsm_token **out, char *detail)
{
    struct hsm_token *tok = NULL;
    enum signet_err rc;
    CK_RV rv;

    *out = NULL;
    if (cfg == NULL || cfg->token_label == NULL || cfg->token_label[0] == '\0' ||
        strlen(cfg->token_label) > 32) {
        sg_detail(detail, "a token label of 1 to 32 characters is required");
        secret_free(pin);
        return SIGNET_E_USAGE;
    }
    if ((tok = calloc(1, sizeof(*tok))) == NULL) {
        secret_free(pin);
        return SIGNET_E_NOMEM;
    }
    tok->pin = pin;
    pthread_mutex_init(&tok->lock, NULL);
    pthread_cond_init(&tok->cond, NULL);
    snprintf(tok->label, sizeof(tok->label), "%s", cfg->token_label);
    tok_configure(tok, cfg);
    if ((tok->pool = calloc(tok->pool_size, sizeof(*tok->pool))) == NULL) {
        rc = SIGNET_E_NOMEM;
        goto out;
    }
    if ((rc = hsm_module_acquire(cfg->module, cfg->init_reserved, &tok->mod, detail)) != SIGNET_OK)
        goto out;
    if ((rv = tok_find_slot(tok)) != CKR_OK) {
        if (rv == HSMB_RV_NOTFOUND) {
            sg_detail(detail,
                      "no token labelled '%s' in PKCS#11 module %s; check the token "
                      "label and softhsm2.conf (SOFTHSM2_CONF=%s)",
                      tok->label, cfg->module,
                      getenv("SOFTHSM2_CONF") != NULL ? getenv("SOFTHSM2_CONF") : "unset");
            rc = SIGNET_E_NOTFOUND;
        } else {
            rc = hsm_ckr_detail(rv, "C_GetSlotList", detail);
        }
        goto out;
    }
    if ((rc = tok_first_connect(tok, detail)) != SIGNET_OK)
        goto out;
    *out = tok;
    tok = NULL;
out:
    hsm_token_free(tok);
    return rc;
}

void hsm_token_free(struct hsm_token *tok)
{
    if (tok == NULL)
        return;
    if (tok->mod != NULL) {
        pthread_rwlock_rdlock(&tok->mod->rw);
        if (tok->mod->initialized && tok->pool != NULL)
            tok_drop_sessions(tok);
        pthread_rwlock_unlock(&tok->mod->rw);
        hsm_module_release(tok->mod);
    }
    free(tok->pool);
    secret_free(tok->pin);
    pthread_cond_destroy(&tok->cond);
    pthread_mutex_destroy(&tok->lock);
    OPENSSL_cleanse(tok, sizeof(*tok));
    free(tok);
}

const char *hsm_token_label(const struct hsm_token *tok)
{
    return tok->label;
}

enum hsm_breaker hsm_token_breaker(struct hsm_token *tok)
{
    enum hsm_breaker st;

    pthread_mutex_lock(&tok->lock);
    st = tok->brk.state;
    pthread_mutex_unlock(&tok->lock);
    return st;
}

/* The probe's call: the anchor session must be alive and, with a PIN, logged in. */
static CK_RV probe_op(struct hsm_token *tok)
{
    CK_SESSION_INFO si;
    CK_RV rv;

    if ((rv = tok->mod->fn->C_GetSessionInfo(tok->anchor, &si)) != CKR_OK)
        return rv;
    if (tok->pin != NULL && si.state != CKS_RW_USER_FUNCTIONS && si.state != CKS_RO_USER_FUNCTIONS)
        return CKR_USER_NOT_LOGGED_IN;
    return CKR_OK;
}

enum signet_err hsm_token_probe(struct hsm_token *tok, char *detail)
{
    enum signet_err rc;
    uint64_t epoch;
    char what[96];
    CK_RV rv;

    if ((rc = tok_admit(tok, 0, detail)) != SIGNET_OK)
        return rc;
    pthread_rwlock_rdlock(&tok->mod->rw);
    pthread_mutex_lock(&tok->lock);
    epoch = tok->epoch;
    if (tok->gen != tok->mod->generation || tok->anchor == 0 || !tok->mod->initialized)
        rv = HSMB_RV_STALE;
    else
        rv = probe_op(tok);
    pthread_mutex_unlock(&tok->lock);
    pthread_rwlock_unlock(&tok->mod->rw);
    if (rv == CKR_OK)
        return SIGNET_OK;
    if (hsm_ckr_class(rv) == HSM_CKR_PERMANENT) {
        snprintf(what, sizeof(what), "probing token '%s'", tok->label);
        return hsm_ckr_detail(rv, what, detail);
    }
    return tok_recover(tok, hsm_ckr_class(rv) == HSM_CKR_REINIT, epoch, 0, detail);
}

void hsm_token_stats(struct hsm_token *tok, struct hsm_stats *out)
{
    pthread_mutex_lock(&tok->lock);
    out->signs = __atomic_load_n(&tok->stats.signs, __ATOMIC_RELAXED);
    out->retries = __atomic_load_n(&tok->stats.retries, __ATOMIC_RELAXED);
    out->reconnects = __atomic_load_n(&tok->stats.reconnects, __ATOMIC_RELAXED);
    out->reinits = __atomic_load_n(&tok->stats.reinits, __ATOMIC_RELAXED);
    out->breaker_trips = tok->brk.trips;
    out->fast_fails = tok->stats.fast_fails;
    out->bad_sigs = __atomic_load_n(&tok->stats.bad_sigs, __ATOMIC_RELAXED);
    out->logins = __atomic_load_n(&tok->stats.logins, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&tok->lock);
}
