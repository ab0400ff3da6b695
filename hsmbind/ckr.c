/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CKR table: every return value Signet knows, its name, its recovery class and a hint for the
 * operator. Also the backoff computation and the circuit breaker's state machine, kept pure (time
 * is passed in) so the unit tests can drive them.
 *
 * How the classes were chosen (PKCS#11 v2.40 section 5.1 and the behaviour in FACTS.md):
 *  - retry: the module says the call failed but nothing about the session, login or token state
 *    changed (FUNCTION_FAILED, DEVICE_ERROR, DEVICE_MEMORY, HOST_MEMORY, GENERAL_ERROR, which
 *    SoftHSM returns while its files are rewritten, SESSION_COUNT, FUNCTION_CANCELED,
 *    OPERATION_ACTIVE, which a failed C_Sign can leave behind and a fresh session cures,
 *    USER_ANOTHER_ALREADY_LOGGED_IN while an SO ceremony runs, a signature that failed
 *    verification). The failed session is discarded and another call is made after a backoff.
 *  - reconnect: the session or the login is gone (SESSION_HANDLE_INVALID, SESSION_CLOSED,
 *    USER_NOT_LOGGED_IN) or a cached handle is (OBJECT_HANDLE_INVALID, KEY_HANDLE_INVALID).
 *  - reinit: the library or the token is gone (CRYPTOKI_NOT_INITIALIZED, DEVICE_REMOVED,
 *    TOKEN_NOT_PRESENT, TOKEN_NOT_RECOGNIZED, SLOT_ID_INVALID): every handle is discarded.
 *  - permanent: PIN errors (retrying burns the lockout counter), mechanism, key, template and
 *    argument errors (retrying gives the same answer), and every value not in this table.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

struct ckr_entry {
    CK_RV rv;
    const char *name;
    enum hsm_ckr_class cls;
    const char *hint; /* what to do, or NULL */
};

#define E(x, c, h)                                                                                 \
    {                                                                                              \
        x, #x, HSM_CKR_##c, h                                                                      \
    }

static const struct ckr_entry ckr_table[] = {
    E(CKR_OK, OK, NULL),
    E(CKR_CANCEL, PERMANENT, NULL),
    E(CKR_HOST_MEMORY, RETRY, "the host is out of memory"),
    E(CKR_SLOT_ID_INVALID, REINIT, "the slot disappeared; check the token is connected"),
    E(CKR_GENERAL_ERROR, RETRY, "the module failed; check its log (SoftHSM: token files)"),
    E(CKR_FUNCTION_FAILED, RETRY, NULL),
    E(CKR_ARGUMENTS_BAD, PERMANENT, "a bug in Signet; report it"),
    E(CKR_NO_EVENT, PERMANENT, NULL),
    E(CKR_NEED_TO_CREATE_THREADS, PERMANENT, "the module cannot use OS locking"),
    E(CKR_CANT_LOCK, PERMANENT, "the module cannot use OS locking"),
    E(CKR_ATTRIBUTE_READ_ONLY, PERMANENT, NULL),
    E(CKR_ATTRIBUTE_SENSITIVE, PERMANENT, NULL),
    E(CKR_ATTRIBUTE_TYPE_INVALID, PERMANENT, "the module does not support this attribute"),
    E(CKR_ATTRIBUTE_VALUE_INVALID, PERMANENT, "the module refuses this key template"),
    E(CKR_ACTION_PROHIBITED, PERMANENT, NULL),
    E(CKR_DATA_INVALID, PERMANENT, NULL),
    E(CKR_DATA_LEN_RANGE, PERMANENT, "the digest length does not suit the key"),
    E(CKR_DEVICE_ERROR, RETRY, "the HSM reported a device error"),
    E(CKR_DEVICE_MEMORY, RETRY, "the HSM is out of memory"),
    E(CKR_DEVICE_REMOVED, REINIT, "the HSM was removed; reconnect it"),
    E(CKR_ENCRYPTED_DATA_INVALID, PERMANENT, NULL),
    E(CKR_ENCRYPTED_DATA_LEN_RANGE, PERMANENT, NULL),
    E(CKR_FUNCTION_CANCELED, RETRY, NULL),
    E(CKR_FUNCTION_NOT_PARALLEL, PERMANENT, NULL),
    E(CKR_FUNCTION_NOT_SUPPORTED, PERMANENT, "the module does not implement this function"),
    E(CKR_KEY_HANDLE_INVALID, RECONNECT, "the key handle is stale; Signet looks the key up again"),
    E(CKR_KEY_SIZE_RANGE, PERMANENT, "the module does not support this key size"),
    E(CKR_KEY_TYPE_INCONSISTENT, PERMANENT, "the key type does not suit the mechanism"),
    E(CKR_KEY_NOT_NEEDED, PERMANENT, NULL),
    E(CKR_KEY_CHANGED, PERMANENT, NULL),
    E(CKR_KEY_NEEDED, PERMANENT, NULL),
    E(CKR_KEY_INDIGESTIBLE, PERMANENT, NULL),
    E(CKR_KEY_FUNCTION_NOT_PERMITTED, PERMANENT, "the key's attributes forbid this use"),
    E(CKR_KEY_NOT_WRAPPABLE, PERMANENT, "the key cannot be wrapped by this wrapping key"),
    E(CKR_KEY_UNEXTRACTABLE, PERMANENT, "the key is not extractable"),
    E(CKR_MECHANISM_INVALID, PERMANENT, "the module does not support this key type or mechanism"),
    E(CKR_MECHANISM_PARAM_INVALID, PERMANENT, NULL),
    E(CKR_OBJECT_HANDLE_INVALID, RECONNECT, "the object handle is stale; Signet looks it up again"),
    E(CKR_OPERATION_ACTIVE, RETRY, NULL),
    E(CKR_OPERATION_NOT_INITIALIZED, PERMANENT, NULL),
    E(CKR_PIN_INCORRECT, PERMANENT, "check the credential; it will not be tried again"),
    E(CKR_PIN_INVALID, PERMANENT, "check the credential; it will not be tried again"),
    E(CKR_PIN_LEN_RANGE, PERMANENT, "check the credential; it will not be tried again"),
    E(CKR_PIN_EXPIRED, PERMANENT, "the PIN expired; set a new one (signet hsm change-pin)"),
    E(CKR_PIN_LOCKED, PERMANENT, "the PIN is locked; the security officer must unlock it"),
    E(CKR_SESSION_CLOSED, RECONNECT, "the session was closed; Signet opens new ones"),
    E(CKR_SESSION_COUNT, RETRY, "the token has no free session"),
    E(CKR_SESSION_HANDLE_INVALID, RECONNECT,
      "the session is gone (HSM restart?); Signet opens new ones"),
    E(CKR_SESSION_PARALLEL_NOT_SUPPORTED, PERMANENT, NULL),
    E(CKR_SESSION_READ_ONLY, PERMANENT, NULL),
    E(CKR_SESSION_EXISTS, PERMANENT, NULL),
    E(CKR_SESSION_READ_ONLY_EXISTS, PERMANENT, "close the other read-only sessions first"),
    E(CKR_SESSION_READ_WRITE_SO_EXISTS, PERMANENT, NULL),
    E(CKR_SIGNATURE_INVALID, PERMANENT, NULL),
    E(CKR_SIGNATURE_LEN_RANGE, PERMANENT, NULL),
    E(CKR_TEMPLATE_INCOMPLETE, PERMANENT, "the module refuses this key template"),
    E(CKR_TEMPLATE_INCONSISTENT, PERMANENT, "the module refuses this key template"),
    E(CKR_TOKEN_NOT_PRESENT, REINIT, "the token is not present; reconnect it"),
    E(CKR_TOKEN_NOT_RECOGNIZED, REINIT, "the module does not recognise the token"),
    E(CKR_TOKEN_WRITE_PROTECTED, PERMANENT, "the token is write-protected"),
    E(CKR_UNWRAPPING_KEY_HANDLE_INVALID, PERMANENT, NULL),
    E(CKR_UNWRAPPING_KEY_SIZE_RANGE, PERMANENT, NULL),
    E(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT, PERMANENT, NULL),
    E(CKR_USER_ALREADY_LOGGED_IN, OK, NULL),
    E(CKR_USER_NOT_LOGGED_IN, RECONNECT,
      "the login was lost; Signet logs in again with the kept credential"),
    E(CKR_USER_PIN_NOT_INITIALIZED, PERMANENT, "initialise the user PIN (C_InitPIN)"),
    E(CKR_USER_TYPE_INVALID, PERMANENT, NULL),
    E(CKR_USER_ANOTHER_ALREADY_LOGGED_IN, RETRY, "another user (the SO?) is logged in"),
    E(CKR_USER_TOO_MANY_TYPES, PERMANENT, NULL),
    E(CKR_WRAPPED_KEY_INVALID, PERMANENT, NULL),
    E(CKR_WRAPPED_KEY_LEN_RANGE, PERMANENT, NULL),
    E(CKR_WRAPPING_KEY_HANDLE_INVALID, PERMANENT, NULL),
    E(CKR_WRAPPING_KEY_SIZE_RANGE, PERMANENT, NULL),
    E(CKR_WRAPPING_KEY_TYPE_INCONSISTENT, PERMANENT, NULL),
    E(CKR_RANDOM_SEED_NOT_SUPPORTED, PERMANENT, NULL),
    E(CKR_RANDOM_NO_RNG, PERMANENT, NULL),
    E(CKR_DOMAIN_PARAMS_INVALID, PERMANENT, "the module does not support this curve"),
    E(CKR_CURVE_NOT_SUPPORTED, PERMANENT, "the module does not support this curve"),
    E(CKR_BUFFER_TOO_SMALL, PERMANENT, "a bug in Signet; report it"),
    E(CKR_SAVED_STATE_INVALID, PERMANENT, NULL),
    E(CKR_INFORMATION_SENSITIVE, PERMANENT, NULL),
    E(CKR_STATE_UNSAVEABLE, PERMANENT, NULL),
    E(CKR_CRYPTOKI_NOT_INITIALIZED, REINIT,
      "the module was finalised; Signet initialises it again"),
    E(CKR_CRYPTOKI_ALREADY_INITIALIZED, PERMANENT, NULL),
    E(CKR_MUTEX_BAD, PERMANENT, NULL),
    E(CKR_MUTEX_NOT_LOCKED, PERMANENT, NULL),
    E(CKR_FUNCTION_REJECTED, PERMANENT, NULL),
    {HSMB_RV_BADSIG, "invalid signature from the token", HSM_CKR_RETRY,
     "the token returned a signature that does not verify with the key's public key"},
    {HSMB_RV_PUBMISMATCH, "public key mismatch", HSM_CKR_PERMANENT,
     "the key on the token is not the pinned one (the CA certificate's); check the token"},
    {HSMB_RV_NOTFOUND, "object not found", HSM_CKR_PERMANENT, "check the URI and the token"},
    {HSMB_RV_AMBIGUOUS, "several objects match", HSM_CKR_PERMANENT,
     "name the key by id= as well as object="},
    {HSMB_RV_NOMEM, "out of memory", HSM_CKR_PERMANENT, NULL},
    {HSMB_RV_STALE, "module re-initialised", HSM_CKR_RECONNECT, NULL},
    {HSMB_RV_NOPUB, "no public key object", HSM_CKR_PERMANENT,
     "the key has no public-key object with the same CKA_ID (keys unwrapped from a backup are "
     "not supported yet)"},
    {HSMB_RV_EXISTS, "label already used", HSM_CKR_PERMANENT, "choose another label"},
    {HSMB_RV_PINFAILED, "PIN refused earlier", HSM_CKR_PERMANENT,
     "the kept PIN failed once and is never tried again; restart with the right credential"},
    {HSMB_RV_BADKEY, "unsupported key", HSM_CKR_PERMANENT,
     "Signet handles ec:P-256, ec:P-384, rsa:2048/3072/4096 and ed25519"},
    {HSMB_RV_OVERRUN, "module overran a buffer", HSM_CKR_PERMANENT,
     "the PKCS#11 module answered with more than it was given room for (an attribute or object "
     "list); report it to the module's vendor"},
};

static const struct ckr_entry *ckr_lookup(CK_RV rv)
{
    for (size_t i = 0; i < sizeof(ckr_table) / sizeof(ckr_table[0]); i++)
        if (ckr_table[i].rv == rv)
            return &ckr_table[i];
    return NULL;
}

int hsm_ckr_entry(size_t i, CK_RV *out_rv, const char **out_name, enum hsm_ckr_class *out_cls,
                  const char **out_hint)
{
    if (i >= sizeof(ckr_table) / sizeof(ckr_table[0]))
        return 0;
    *out_rv = ckr_table[i].rv;
    *out_name = ckr_table[i].name;
    *out_cls = ckr_table[i].cls;
    *out_hint = ckr_table[i].hint;
    return 1;
}

const char *hsm_ckr_class_name(enum hsm_ckr_class cls)
{
    static const char *const names[HSM_CKR_CLASS_MAX] = {"ok", "retry", "reconnect", "reinit",
                                                         "permanent"};

    return (unsigned)cls < HSM_CKR_CLASS_MAX ? names[cls] : "unknown";
}

const char *hsm_ckr_name(CK_RV rv)
{
    const struct ckr_entry *e = ckr_lookup(rv);
    return e != NULL ? e->name : "unknown CKR";
}

enum hsm_ckr_class hsm_ckr_class(CK_RV rv)
{
    const struct ckr_entry *e = ckr_lookup(rv);
    return e != NULL ? e->cls : HSM_CKR_PERMANENT;
}

int hsm_ckr_is_pin_error(CK_RV rv)
{
    return rv == CKR_PIN_INCORRECT || rv == CKR_PIN_INVALID || rv == CKR_PIN_LEN_RANGE ||
           rv == CKR_PIN_EXPIRED || rv == CKR_PIN_LOCKED || rv == HSMB_RV_PINFAILED;
}

enum signet_err hsm_ckr_err(CK_RV rv)
{
    if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN)
        return SIGNET_OK;
    if (hsm_ckr_is_pin_error(rv))
        return SIGNET_E_PIN;
    switch (rv) {
    case HSMB_RV_NOTFOUND:
        return SIGNET_E_NOTFOUND;
    case HSMB_RV_AMBIGUOUS:
        return SIGNET_E_USAGE;
    case HSMB_RV_NOMEM:
    case CKR_HOST_MEMORY:
        return SIGNET_E_NOMEM;
    case HSMB_RV_EXISTS:
        return SIGNET_E_EXISTS;
    default:
        break;
    }
    switch (hsm_ckr_class(rv)) {
    case HSM_CKR_RETRY:
    case HSM_CKR_RECONNECT:
    case HSM_CKR_REINIT:
        return SIGNET_E_HSM_UNAVAILABLE;
    default:
        return SIGNET_E_HSM;
    }
}

enum signet_err hsm_ckr_detail(CK_RV rv, const char *what, char *detail)
{
    const struct ckr_entry *e = ckr_lookup(rv);

    if (e != NULL && rv < HSMB_RV_BASE)
        sg_detail(detail, "%s failed: %s (0x%lx)%s%s", what, e->name, (unsigned long)rv,
                  e->hint != NULL ? ": " : "", e->hint != NULL ? e->hint : "");
    else if (e != NULL)
        sg_detail(detail, "%s failed: %s%s%s", what, e->name, e->hint != NULL ? ": " : "",
                  e->hint != NULL ? e->hint : "");
    else
        sg_detail(detail,
                  "%s failed: unknown CKR 0x%lx (treated as permanent; see the module's "
                  "documentation)",
                  what, (unsigned long)rv);
    return hsm_ckr_err(rv);
}

unsigned hsm_backoff_ms(unsigned base, unsigned max, unsigned attempt, uint32_t rnd)
{
    uint64_t d = base;

    for (unsigned i = 0; i < attempt && d < max; i++)
        d *= 2;
    if (d > max)
        d = max;
    if (d < 2)
        return (unsigned)d;
    /* equal jitter: half fixed, half random, so concurrent retries spread out */
    return (unsigned)(d / 2 + rnd % (d - d / 2 + 1));
}

void hsm_brk_init(struct hsm_brk *b, unsigned threshold, unsigned probe_ms)
{
    memset(b, 0, sizeof(*b));
    b->state = HSM_BREAKER_CLOSED;
    b->threshold = threshold != 0 ? threshold : 1;
    b->probe_ms = probe_ms != 0 ? probe_ms : 100;
}

int hsm_brk_admit(struct hsm_brk *b, uint64_t now_ms, int *probe)
{
    *probe = 0;
    if (b->pin_refused)
        return 0; /* a probe would log in again with the refused PIN */
    switch (b->state) {
    case HSM_BREAKER_CLOSED:
        return 1;
    case HSM_BREAKER_OPEN:
        if (now_ms < b->next_probe_ms)
            return 0;
        b->state = HSM_BREAKER_HALF_OPEN;
        *probe = 1;
        return 1;
    default:
        return 0; /* half-open: another caller is probing */
    }
}

void hsm_brk_fail(struct hsm_brk *b, uint64_t now_ms, int64_t wall, const char *why)
{
    b->failures++;
    snprintf(b->last_error, sizeof(b->last_error), "%s", why != NULL ? why : "unknown error");
    if (b->state == HSM_BREAKER_CLOSED && b->failures < b->threshold)
        return;
    if (b->state == HSM_BREAKER_CLOSED) {
        b->trips++;
        b->since = wall;
    }
    b->state = HSM_BREAKER_OPEN;
    b->next_probe_ms = now_ms + b->probe_ms;
}

void hsm_brk_ok(struct hsm_brk *b)
{
    if (b->pin_refused)
        return;
    b->state = HSM_BREAKER_CLOSED;
    b->failures = 0;
}

void hsm_brk_pin(struct hsm_brk *b, int64_t wall, CK_RV rv)
{
    if (b->pin_refused)
        return;
    if (b->state == HSM_BREAKER_CLOSED)
        b->trips++;
    b->pin_refused = 1;
    b->pin_rv = rv;
    b->since = wall;
    b->state = HSM_BREAKER_OPEN;
    snprintf(b->last_error, sizeof(b->last_error), "the token refused the PIN (%s)",
             hsm_ckr_name(rv));
}

void hsm_pin_message(const char *label, CK_RV rv, int64_t when, char *detail)
{
    char at[32];

    sg_format_time(when, at, sizeof(at));
    if (rv == CKR_PIN_LOCKED)
        sg_detail(detail,
                  "HSM token '%s' reported its user PIN locked at %s (CKR_PIN_LOCKED); Signet "
                  "will not try it; have the security officer unlock it or set a new user PIN, "
                  "put the PIN in the credential named by pin = in signet.conf, and send signetd "
                  "SIGHUP (or restart)",
                  label, at);
    else if (rv == CKR_PIN_EXPIRED)
        sg_detail(detail,
                  "HSM token '%s' refused its PIN at %s because it expired (CKR_PIN_EXPIRED); "
                  "Signet will not try it again; set a new PIN (signet hsm change-pin), put it in "
                  "the credential named by pin = in signet.conf, and send signetd SIGHUP (or "
                  "restart)",
                  label, at);
    else
        sg_detail(detail,
                  "HSM token '%s' refused its PIN at %s (%s); Signet will not try it again, "
                  "since every wrong attempt counts toward the token's lockout; fix the "
                  "credential named by pin = in signet.conf and send signetd SIGHUP (or restart)",
                  label, at, hsm_ckr_name(rv));
}

void hsm_brk_message(const struct hsm_brk *b, const char *label, char *detail)
{
    char when[32];

    if (b->pin_refused) {
        hsm_pin_message(label, b->pin_rv, b->since, detail);
        return;
    }
    sg_format_time(b->since, when, sizeof(when));
    sg_detail(detail,
              "HSM token '%s' is unavailable since %s: %s; Signet retries by itself (one probe "
              "every %u ms) and signs again as soon as the token answers; if this lasts, check "
              "the HSM, its connection and the module's log",
              label, when, b->last_error, b->probe_ms);
}

int hsm_key_type_parse(const char *s, enum hsm_key_type *out)
{
    static const char *const names[HSM_KEY_TYPE_MAX] = {"ec:P-256", "ec:P-384", "rsa:2048",
                                                        "rsa:3072", "rsa:4096", "ed25519"};

    if (s == NULL)
        return 0;
    for (int i = 0; i < HSM_KEY_TYPE_MAX; i++) {
        if (strcmp(s, names[i]) == 0) {
            if (out != NULL)
                *out = (enum hsm_key_type)i;
            return 1;
        }
    }
    return 0;
}

const char *hsm_key_type_name(enum hsm_key_type type)
{
    static const char *const names[HSM_KEY_TYPE_MAX] = {"ec:P-256", "ec:P-384", "rsa:2048",
                                                        "rsa:3072", "rsa:4096", "ed25519"};

    return (unsigned)type < HSM_KEY_TYPE_MAX ? names[type] : "unknown";
}

const char *hsm_breaker_name(enum hsm_breaker state)
{
    static const char *const names[HSM_BREAKER_MAX] = {"closed", "open", "half-open"};

    return (unsigned)state < HSM_BREAKER_MAX ? names[state] : "unknown";
}
