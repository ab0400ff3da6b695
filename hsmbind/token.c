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
    CK_ULONG got = 0;
    CK_RV rv;

    *n = 0;
    hsm_stat_add(&tok->find_calls, 1);
    if ((rv = f->C_FindObjectsInit(h, tmpl, ntmpl)) != CKR_OK)
        return rv;
    rv = f->C_FindObjects(h, out, max, &got);
    f->C_FindObjectsFinal(h);
    if (rv == CKR_OK && got > max)
        return HSMB_RV_OVERRUN; /* a module must not claim more than the room it was given */
    if (rv == CKR_OK)
        *n = got;
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

/* 1 when a call that answered rv leaves its session dead (so its number must not be closed). */
static int sess_dead(CK_RV rv)
{
    return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED ||
           hsm_ckr_class(rv) == HSM_CKR_REINIT;
}

/*
 * The token refused the credential (rv): remember it for good, wipe the kept PIN at once (it is
 * never used again), open the breaker for good and log the one message every caller will see.
 */
static void tok_pin_refused(struct hsm_token *tok, CK_RV rv)
{
    char msg[SIGNET_DETAIL_MAX];

    pthread_mutex_lock(&tok->lock);
    tok->pin_failed = 1;
    secret_free(tok->pin);
    tok->pin = NULL;
    hsm_brk_pin(&tok->brk, sg_now(), rv);
    tok->stats.breaker_trips = tok->brk.trips;
    hsm_brk_message(&tok->brk, tok->label, msg);
    pthread_mutex_unlock(&tok->lock);
    sg_log(SG_LOG_ERR, "%s", msg);
}

/*
 * C_Login with the kept credential, after checking the token's PIN flags: a locked PIN is not
 * tried, a PIN that failed once is never tried again, CKR_USER_ALREADY_LOGGED_IN is success.
 * Only the connecting thread calls it (tok->pin is not read elsewhere).
 */
static CK_RV tok_login(struct hsm_token *tok, CK_SESSION_HANDLE h)
{
    CK_RV rv;

    if (!tok->need_login)
        return CKR_OK;
    if (tok->pin_failed || tok->pin == NULL)
        return HSMB_RV_PINFAILED;
    if (tok->info.flags & CKF_USER_PIN_LOCKED) {
        rv = CKR_PIN_LOCKED;
    } else {
        if (tok->info.flags & CKF_USER_PIN_FINAL_TRY)
            sg_log(SG_LOG_WARN, "token '%s': one PIN attempt left before the PIN locks",
                   tok->label);
        hsm_stat_add(&tok->stats.logins, 1);
        rv = tok->mod->fn->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)secret_data(tok->pin),
                                   secret_len(tok->pin));
        if (rv == CKR_USER_ALREADY_LOGGED_IN)
            rv = CKR_OK;
    }
    if (hsm_ckr_is_pin_error(rv))
        tok_pin_refused(tok, rv);
    return rv;
}

/*
 * Forgets every idle session and the anchor and bumps the epoch. Sessions of the current
 * generation are closed unless dead (then, or when an earlier recovery marked their epoch dead,
 * their numbers may already name new sessions). PKCS#11 calls are made after the token mutex is
 * released. Caller holds the module read lock.
 */
static void tok_drop_sessions(struct hsm_token *tok, int dead)
{
    CK_FUNCTION_LIST_PTR f = tok->mod->fn;
    uint64_t cur = tok->mod->generation;
    CK_SESSION_HANDLE close_list[HSM_POOL_MAX + 1];
    size_t n = 0;

    pthread_mutex_lock(&tok->lock);
    if (dead)
        tok->dead_below = tok->epoch + 1;
    for (unsigned i = 0; i < tok->pool_size; i++) {
        struct hsm_sess *s = &tok->pool[i];
        if (s->busy || s->h == 0)
            continue;
        if (s->gen == cur && s->epoch >= tok->dead_below)
            close_list[n++] = s->h;
        s->h = 0;
    }
    if (tok->anchor != 0 && tok->gen == cur && !dead)
        close_list[n++] = tok->anchor;
    tok->anchor = 0;
    tok->gen = cur;
    tok->epoch++;
    pthread_mutex_unlock(&tok->lock);
    for (size_t i = 0; i < n; i++)
        f->C_CloseSession(close_list[i]);
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
 * One reconnect: optionally re-initialise the module, drop every session (dead: without closing
 * them), locate the token, log in again. A reconnect that finds the slot or the token gone
 * escalates once to a re-initialise. Keys notice the new epoch and re-find their handles (and
 * check their public key) lazily.
 */
static CK_RV tok_reconnect(struct hsm_token *tok, int reinit, int dead)
{
    struct hsm_module *mod = tok->mod;
    uint64_t seen;
    CK_RV rv = CKR_OK;

    for (int pass = 0; pass < 2; pass++) {
        pthread_mutex_lock(&tok->lock);
        seen = tok->gen;
        pthread_mutex_unlock(&tok->lock);
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
            tok_drop_sessions(tok, dead);
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

/*
 * A reconnect whose transient failures (the retry class: CKR_DEVICE_ERROR on C_OpenSession or
 * C_Login, ...) are retried with the same bounded backoff as any call, retry_max attempts in all.
 * Anything else (the token gone, a PIN error) ends it at once.
 */
static CK_RV tok_reconnect_retry(struct hsm_token *tok, int reinit, int dead)
{
    CK_RV rv = CKR_OK;

    for (unsigned attempt = 0; attempt < tok->retry_max; attempt++) {
        if (attempt > 0) {
            hsm_stat_add(&tok->stats.retries, 1);
            sg_sleep_ms(hsm_backoff_ms(tok->backoff_base_ms, tok->backoff_max_ms, attempt - 1,
                                       tok_random(tok)));
        }
        rv = tok_reconnect(tok, reinit, dead);
        if (rv == CKR_OK || hsm_ckr_class(rv) != HSM_CKR_RETRY)
            break;
        dead = 0; /* the first pass dropped everything */
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
 * Whether the caller must recover, under tok->lock after any recovery in progress ended:
 * -1 = yes; otherwise the result to return (with detail filled): the token's PIN was refused,
 * a recovery ran since the caller's attempt (seen_seq), or the breaker is not closed.
 */
static int tok_recover_needed(struct hsm_token *tok, uint64_t seen_seq, int probe, char *detail)
{
    if (tok->pin_failed) {
        hsm_brk_message(&tok->brk, tok->label, detail);
        return SIGNET_E_PIN;
    }
    if (probe)
        return -1;
    if (tok->recover_seq != seen_seq) {
        if (tok->recover_rc != SIGNET_OK)
            hsm_brk_message(&tok->brk, tok->label, detail);
        return tok->recover_rc;
    }
    if (tok->brk.state != HSM_BREAKER_CLOSED) {
        hsm_brk_message(&tok->brk, tok->label, detail);
        return SIGNET_E_HSM_UNAVAILABLE;
    }
    return -1;
}

/*
 * Serialised recovery after a call answered cause. A caller whose attempt predates a recovery
 * (seen_seq) takes that recovery's result instead of starting another. The recovery waits until
 * no pool session is in use (takes are refused meanwhile), so no thread keeps an old session
 * number. probe: the half-open probe, which always recovers. The breaker records the outcome.
 * Returns SIGNET_OK, SIGNET_E_PIN or SIGNET_E_HSM_UNAVAILABLE.
 */
static enum signet_err tok_recover(struct hsm_token *tok, CK_RV cause, uint64_t seen_seq, int probe,
                                   char *detail)
{
    char why[SIGNET_DETAIL_MAX] = "";
    enum signet_err rc;
    int early;
    CK_RV rv;

    pthread_mutex_lock(&tok->lock);
    while (tok->recovering)
        pthread_cond_wait(&tok->cond, &tok->lock);
    if ((early = tok_recover_needed(tok, seen_seq, probe, detail)) >= 0) {
        pthread_mutex_unlock(&tok->lock);
        return (enum signet_err)early;
    }
    tok->recovering = 1;
    while (tok->busy != 0)
        pthread_cond_wait(&tok->cond, &tok->lock);
    pthread_mutex_unlock(&tok->lock);

    rv = tok_reconnect_retry(tok, hsm_ckr_class(cause) == HSM_CKR_REINIT, sess_dead(cause));
    if (rv != CKR_OK)
        tok_reconnect_detail(tok, rv, why);

    pthread_mutex_lock(&tok->lock);
    tok->recovering = 0;
    tok->recover_seq++;
    if (rv == CKR_OK) {
        rc = SIGNET_OK;
        hsm_stat_add(&tok->stats.reconnects, 1);
        hsm_brk_ok(&tok->brk);
    } else if (tok->pin_failed) {
        rc = SIGNET_E_PIN;
        hsm_brk_message(&tok->brk, tok->label, detail);
    } else {
        rc = SIGNET_E_HSM_UNAVAILABLE;
        hsm_brk_fail(&tok->brk, sg_mono_ms(), sg_now(), why);
        if (tok->brk.trips != tok->stats.breaker_trips) {
            sg_log(SG_LOG_ERR, "token '%s': circuit breaker open: %s", tok->label, why);
            tok->stats.breaker_trips = tok->brk.trips;
        }
        if (tok->brk.state != HSM_BREAKER_OPEN)
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
 * module read lock; waits while all sessions are in use. HSMB_RV_STALE while a recovery runs
 * (waiting for it here would hold the read lock a re-initialise needs). *out_seq: the recovery
 * sequence number the session belongs to.
 */
static CK_RV pool_take(struct hsm_token *tok, struct hsm_sess **out, uint64_t *out_seq)
{
    struct hsm_sess *s = NULL;
    CK_SESSION_HANDLE old = 0;
    uint64_t cur = tok->mod->generation, epoch;
    CK_SLOT_ID slot;
    CK_RV rv = CKR_OK;

    pthread_mutex_lock(&tok->lock);
    for (;;) {
        if (tok->recovering) {
            *out_seq = tok->recover_seq;
            pthread_mutex_unlock(&tok->lock);
            return HSMB_RV_STALE;
        }
        for (unsigned i = 0; i < tok->pool_size && s == NULL; i++)
            if (!tok->pool[i].busy)
                s = &tok->pool[i];
        if (s != NULL)
            break;
        pthread_cond_wait(&tok->cond, &tok->lock);
    }
    s->busy = 1;
    tok->busy++;
    *out_seq = tok->recover_seq;
    epoch = tok->epoch;
    slot = tok->slot;
    if (s->h != 0 && (s->gen != cur || s->epoch != epoch)) {
        old = s->gen == cur && s->epoch >= tok->dead_below ? s->h : 0;
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
            tok->busy--;
            pthread_cond_broadcast(&tok->cond);
            pthread_mutex_unlock(&tok->lock);
            return rv;
        }
    }
    *out = s;
    return CKR_OK;
}

/*
 * Returns a session after a call that answered rv. A failed or stale session is closed when its
 * number is still ours; a dead one (rv says so, its epoch was marked dead, or the module was
 * re-initialised) is only forgotten.
 */
static void pool_put(struct hsm_token *tok, struct hsm_sess *s, CK_RV rv)
{
    CK_SESSION_HANDLE old = 0;
    uint64_t cur = tok->mod->generation;

    pthread_mutex_lock(&tok->lock);
    if (sess_dead(rv) || s->gen != cur || s->epoch < tok->dead_below) {
        s->h = 0;
    } else if (rv != CKR_OK || s->epoch != tok->epoch) {
        old = s->h;
        s->h = 0;
    }
    s->busy = 0;
    tok->busy--;
    pthread_cond_broadcast(&tok->cond);
    pthread_mutex_unlock(&tok->lock);
    if (old != 0)
        tok->mod->fn->C_CloseSession(old);
}

/* One attempt of fn on a pooled session; *out_seq is the recovery sequence it ran in. */
static CK_RV tok_attempt(struct hsm_token *tok, hsm_op_fn fn, void *arg, uint64_t *out_seq)
{
    struct hsm_sess *s = NULL;
    int stale;
    CK_RV rv;

    pthread_mutex_lock(&tok->lock);
    while (tok->recovering)
        pthread_cond_wait(&tok->cond, &tok->lock);
    *out_seq = tok->recover_seq;
    pthread_mutex_unlock(&tok->lock);
    pthread_rwlock_rdlock(&tok->mod->rw);
    pthread_mutex_lock(&tok->lock);
    stale = tok->gen != tok->mod->generation || tok->anchor == 0 || !tok->mod->initialized;
    pthread_mutex_unlock(&tok->lock);
    if (stale) {
        rv = HSMB_RV_STALE;
    } else if ((rv = pool_take(tok, &s, out_seq)) == CKR_OK) {
        rv = fn(tok, s, arg);
        pool_put(tok, s, rv);
    }
    pthread_rwlock_unlock(&tok->mod->rw);
    return rv;
}

/*
 * Admission through the breaker: fails fast while it is open (SIGNET_E_PIN for good once the
 * token refused the PIN), makes the caller the probe when the interval has passed, and otherwise
 * waits for a recovery in progress.
 */
static enum signet_err tok_admit(struct hsm_token *tok, int count_fast, char *detail)
{
    int probe = 0;
    uint64_t seq;

    pthread_mutex_lock(&tok->lock);
    if (!hsm_brk_admit(&tok->brk, sg_mono_ms(), &probe)) {
        enum signet_err rc = tok->brk.pin_refused ? SIGNET_E_PIN : SIGNET_E_HSM_UNAVAILABLE;
        if (count_fast)
            tok->stats.fast_fails++;
        hsm_brk_message(&tok->brk, tok->label, detail);
        pthread_mutex_unlock(&tok->lock);
        return rc;
    }
    while (!probe && tok->recovering)
        pthread_cond_wait(&tok->cond, &tok->lock);
    seq = tok->recover_seq;
    pthread_mutex_unlock(&tok->lock);
    return probe ? tok_recover(tok, HSMB_RV_STALE, seq, 1, detail) : SIGNET_OK;
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
    if (tok->pin_failed) {
        hsm_brk_message(&tok->brk, tok->label, detail);
        pthread_mutex_unlock(&tok->lock);
        return SIGNET_E_PIN;
    }
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
    uint64_t seq;
    CK_RV rv;

    for (unsigned attempt = 0;;) {
        if ((rc = tok_admit(tok, 1, detail)) != SIGNET_OK)
            return rc;
        if ((rv = tok_attempt(tok, fn, arg, &seq)) == CKR_OK) {
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
        if ((rc = tok_recover(tok, rv, seq, 0, detail)) != SIGNET_OK)
            return rc;
    }
}

/* Fills the defaults of struct hsm_token_config into tok. */
static void tok_configure(struct hsm_token *tok, const struct hsm_token_config *cfg)
{
    tok->pool_size = cfg->pool_size != 0 ? cfg->pool_size : 4;
    if (tok->pool_size > HSM_POOL_MAX)
        tok->pool_size = HSM_POOL_MAX;
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

/*
 * Connects at open: transient failures are retried; a PIN error stops after one C_Login with the
 * same message later calls would give.
 */
static enum signet_err tok_first_connect(struct hsm_token *tok, char *detail)
{
    char what[160];
    CK_RV rv;

    for (unsigned attempt = 0;; attempt++) {
        rv = tok_reconnect(tok, 0, 0);
        if (rv == CKR_OK)
            return SIGNET_OK;
        if (hsm_ckr_is_pin_error(rv)) {
            char msg[SIGNET_DETAIL_MAX];
            pthread_mutex_lock(&tok->lock);
            hsm_brk_message(&tok->brk, tok->label, msg);
            pthread_mutex_unlock(&tok->lock);
            sg_detail(detail, "%s%s", msg,
                      (tok->info.flags & CKF_USER_PIN_FINAL_TRY)
                          ? "; the token said that was the final try before it locks"
                          : "");
            return SIGNET_E_PIN;
        }
        if (hsm_ckr_class(rv) == HSM_CKR_PERMANENT || attempt + 1 >= tok->retry_max) {
            snprintf(what, sizeof(what), "opening token '%s' in %s", tok->label, tok->mod->path);
            return hsm_ckr_detail(rv, what, detail);
        }
        hsm_stat_add(&tok->stats.retries, 1);
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
    tok->need_login = pin != NULL;
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
            tok_drop_sessions(tok, 0);
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

/* The probe's call on the anchor: it must be alive and, with a credential, logged in. */
static CK_RV probe_op(struct hsm_token *tok, CK_SESSION_HANDLE anchor, int need_login)
{
    CK_SESSION_INFO si;
    CK_RV rv;

    if ((rv = tok->mod->fn->C_GetSessionInfo(anchor, &si)) != CKR_OK)
        return rv;
    if (need_login && si.state != CKS_RW_USER_FUNCTIONS && si.state != CKS_RO_USER_FUNCTIONS)
        return CKR_USER_NOT_LOGGED_IN;
    return CKR_OK;
}

enum signet_err hsm_token_probe(struct hsm_token *tok, char *detail)
{
    CK_SESSION_HANDLE anchor;
    enum signet_err rc;
    uint64_t seq;
    char what[96];
    int stale;
    CK_RV rv;

    if ((rc = tok_admit(tok, 0, detail)) != SIGNET_OK)
        return rc;
    pthread_rwlock_rdlock(&tok->mod->rw);
    pthread_mutex_lock(&tok->lock);
    seq = tok->recover_seq;
    anchor = tok->anchor;
    stale = tok->gen != tok->mod->generation || anchor == 0 || !tok->mod->initialized ||
            tok->recovering;
    pthread_mutex_unlock(&tok->lock);
    /* the PKCS#11 call is made without the token mutex (a slow token must not stall the pool) */
    rv = stale ? HSMB_RV_STALE : probe_op(tok, anchor, tok->need_login);
    pthread_rwlock_unlock(&tok->mod->rw);
    if (rv == CKR_OK)
        return SIGNET_OK;
    if (hsm_ckr_class(rv) == HSM_CKR_PERMANENT) {
        snprintf(what, sizeof(what), "probing token '%s'", tok->label);
        return hsm_ckr_detail(rv, what, detail);
    }
    return tok_recover(tok, rv, seq, 0, detail);
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
