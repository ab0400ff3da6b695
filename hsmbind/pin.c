/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Credential rotation: C_SetPIN on a token, and replacing the credential a token keeps for
 * unattended re-login without closing a session (PKCS#11 keeps sessions logged in across
 * C_SetPIN; only the next C_Login needs the new PIN). A token that refused its old PIN after an
 * outage recovers with the new one as soon as it is given.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

#define PIN_MAX 256 /* bound on a PIN given to C_SetPIN */

struct setpin_arg {
    const struct secret *old_pin, *new_pin;
    CK_RV said; /* what C_SetPIN answered */
};

/*
 * C_SetPIN on a pool session (logged in as the user, or a public R/W session: both change the
 * user PIN). A PIN error is returned as a permanent internal result so that the token's kept
 * credential is never marked refused: the wrong PIN was the caller's, not the one it keeps.
 */
static CK_RV setpin_op(struct hsm_token *tok, struct hsm_sess *s, void *arg)
{
    struct setpin_arg *a = arg;

    a->said = tok->mod->fn->C_SetPIN(
        s->h, (CK_UTF8CHAR_PTR)secret_data(a->old_pin), secret_len(a->old_pin),
        (CK_UTF8CHAR_PTR)secret_data(a->new_pin), secret_len(a->new_pin));
    if (hsm_ckr_is_pin_error(a->said) || a->said == CKR_PIN_LOCKED)
        return HSMB_RV_BADKEY; /* permanent, detail rewritten by the caller */
    return a->said;
}

enum signet_err hsm_token_change_pin(struct hsm_token *tok, const struct secret *old_pin,
                                     const struct secret *new_pin, char *detail)
{
    struct setpin_arg a = {old_pin, new_pin, CKR_OK};
    char what[160];
    enum signet_err rc;
    struct secret *keep;

    if (old_pin == NULL || new_pin == NULL || secret_len(old_pin) == 0 || secret_len(new_pin) < 4 ||
        secret_len(old_pin) > PIN_MAX || secret_len(new_pin) > PIN_MAX) {
        sg_detail(detail, "a PIN change needs the old PIN and a new PIN of 4 to %d characters",
                  PIN_MAX);
        return SIGNET_E_USAGE;
    }
    if (secret_equal(old_pin, new_pin)) {
        sg_detail(detail, "the new PIN of token '%s' is the old one; nothing was changed",
                  tok->label);
        return SIGNET_E_USAGE;
    }
    snprintf(what, sizeof(what), "changing the user PIN of token '%s'", tok->label);
    if ((rc = hsm_token_run(tok, what, setpin_op, &a, detail)) != SIGNET_OK) {
        if (hsm_ckr_is_pin_error(a.said) || a.said == CKR_PIN_LOCKED) {
            sg_detail(detail, "token '%s' refused the PIN change: %s; %s. Nothing was changed",
                      tok->label, hsm_ckr_name(a.said),
                      a.said == CKR_PIN_INCORRECT ? "the old PIN is wrong"
                      : a.said == CKR_PIN_LOCKED  ? "the PIN is locked: the Security Officer "
                                                    "must set a new one"
                                                  : "the new PIN is not acceptable to the token");
            return SIGNET_E_PIN;
        }
        return rc;
    }
    if (tok->need_login) {
        if ((keep = secret_dup(new_pin)) == NULL) {
            sg_detail(detail,
                      "the PIN of token '%s' was changed but the new one could not be kept; "
                      "restart the process with the new PIN",
                      tok->label);
            return SIGNET_E_NOMEM;
        }
        return hsm_token_set_credential(tok, keep, detail);
    }
    return SIGNET_OK;
}

enum signet_err hsm_token_set_credential(struct hsm_token *tok, struct secret *pin, char *detail)
{
    struct secret *old;
    int was_refused;

    if (pin == NULL || secret_len(pin) == 0) {
        secret_free(pin);
        sg_detail(detail, "a new credential for token '%s' is empty", tok->label);
        return SIGNET_E_USAGE;
    }
    if (!tok->need_login) {
        secret_free(pin);
        sg_detail(detail, "token '%s' was opened without a credential; nothing to replace",
                  tok->label);
        return SIGNET_E_USAGE;
    }
    pthread_mutex_lock(&tok->lock);
    /* tok->pin is read outside the lock only by the recovering thread: wait for it to end */
    while (tok->recovering)
        pthread_cond_wait(&tok->cond, &tok->lock);
    old = tok->pin;
    tok->pin = pin;
    was_refused = tok->pin_failed;
    if (was_refused) {
        /* the refused PIN is gone: let the next call probe at once, with the new PIN */
        tok->pin_failed = 0;
        tok->brk.pin_refused = 0;
        tok->brk.pin_rv = CKR_OK;
        tok->brk.state = HSM_BREAKER_OPEN;
        tok->brk.next_probe_ms = 0;
        snprintf(tok->brk.last_error, sizeof(tok->brk.last_error),
                 "a new credential was given after the old one was refused");
    }
    pthread_mutex_unlock(&tok->lock);
    secret_free(old);
    sg_log(SG_LOG_INFO, "token '%s': credential replaced%s", tok->label,
           was_refused ? " (the old one had been refused; logging in again)" : "");
    return SIGNET_OK;
}
