/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hsmbind private header: the module table, the token and key structures, the CKR table, the
 * backoff and circuit-breaker logic. Nothing here leaves hsmbind/ (provider.c uses only the
 * public header). Lock order: module rwlock (read) -> key mutex -> token mutex; the token mutex
 * is never held while waiting for anything but itself.
 */
#ifndef SIGNET_HSMBIND_INTERNAL_H
#define SIGNET_HSMBIND_INTERNAL_H

#include <p11-kit/pkcs11.h>
#include <pthread.h>

#include "hsmbind.h"

/* ---- CKR table (ckr.c) ---- */

/* What to do about a return value: the recovery classes of DESIGN.md "Key custody". */
enum hsm_ckr_class {
    HSM_CKR_OK,        /* CKR_OK */
    HSM_CKR_RETRY,     /* transient: back off and call again */
    HSM_CKR_RECONNECT, /* sessions or login lost: reopen sessions, log in, re-find keys */
    HSM_CKR_REINIT,    /* library or token gone: C_Finalize + C_Initialize, then reconnect */
    HSM_CKR_PERMANENT, /* never retried: PIN, mechanism, key, argument errors, anything unknown */
    HSM_CKR_CLASS_MAX
};

/*
 * Internal results that travel the same path as a CK_RV (vendor-defined range, chosen so that no
 * module is likely to return them). They never leave hsmbind either.
 */
#define HSMB_RV_BASE        (CKR_VENDOR_DEFINED | 0x5347ff00UL)
#define HSMB_RV_BADSIG      (HSMB_RV_BASE + 1) /* the token's signature did not verify: retry */
#define HSMB_RV_PUBMISMATCH (HSMB_RV_BASE + 2) /* public key differs from the pin: permanent */
#define HSMB_RV_NOTFOUND    (HSMB_RV_BASE + 3) /* object not found: permanent */
#define HSMB_RV_AMBIGUOUS   (HSMB_RV_BASE + 4) /* more than one object matched: permanent */
#define HSMB_RV_NOMEM       (HSMB_RV_BASE + 5) /* allocation failed: permanent */
#define HSMB_RV_STALE       (HSMB_RV_BASE + 6) /* module re-initialised under us: reconnect */
#define HSMB_RV_NOPUB       (HSMB_RV_BASE + 7) /* no usable public key object: permanent */
#define HSMB_RV_EXISTS      (HSMB_RV_BASE + 8) /* label already used: permanent */
#define HSMB_RV_PINFAILED   (HSMB_RV_BASE + 9) /* PIN refused earlier, not tried again: permanent */
#define HSMB_RV_BADKEY      (HSMB_RV_BASE + 10) /* a key type Signet does not handle: permanent */
#define HSMB_RV_OVERRUN     (HSMB_RV_BASE + 11) /* the module claimed more than the room given */

/* "CKR_PIN_INCORRECT"; "CKR_0x..." is never returned: unknown values give "unknown CKR". */
const char *hsm_ckr_name(CK_RV rv);
enum hsm_ckr_class hsm_ckr_class(CK_RV rv);
/* 1 for the PIN errors that must never be retried with the same PIN. */
int hsm_ckr_is_pin_error(CK_RV rv);
/* The signet_err a permanent failure maps to. */
enum signet_err hsm_ckr_err(CK_RV rv);
/* Writes "WHAT failed: CKR_X (0x..): advice" into detail. Returns hsm_ckr_err(rv). */
enum signet_err hsm_ckr_detail(CK_RV rv, const char *what, char *detail);
/*
 * Entry i of the CKR table (for the documentation check): 1 and the fields filled while i is in
 * range, 0 after the last one. Internal HSMB_RV_* values are included.
 */
int hsm_ckr_entry(size_t i, CK_RV *out_rv, const char **out_name, enum hsm_ckr_class *out_cls,
                  const char **out_hint);
const char *hsm_ckr_class_name(enum hsm_ckr_class cls);
/*
 * The message every caller sees once the token refused its PIN: which token, when, what it said,
 * that Signet will not try the PIN again, and what the operator does (it depends on rv:
 * CKR_PIN_LOCKED and CKR_PIN_EXPIRED call for the security officer or a new PIN).
 */
void hsm_pin_message(const char *label, CK_RV rv, int64_t when, char *detail);

/*
 * Backoff before retry number attempt (0-based): base doubled per attempt, bounded by max, with
 * "equal jitter" (a uniform draw in [d/2, d]) from rnd. Pure, for tests.
 */
unsigned hsm_backoff_ms(unsigned base, unsigned max, unsigned attempt, uint32_t rnd);

/* ---- circuit breaker (ckr.c): pure state machine, time passed in ---- */

struct hsm_brk {
    enum hsm_breaker state;
    unsigned failures;      /* consecutive failed recoveries */
    unsigned threshold;     /* failures that open it */
    unsigned probe_ms;      /* while open, one probe per this interval */
    uint64_t next_probe_ms; /* monotonic time of the next allowed probe */
    int64_t since;          /* wall-clock time it opened */
    uint64_t trips;         /* times it opened */
    int pin_refused;        /* the token refused the PIN: open for good, never probed */
    CK_RV pin_rv;           /* what the token said then (CKR_PIN_INCORRECT, ...) */
    char last_error[256];   /* why the last recovery failed */
};

void hsm_brk_init(struct hsm_brk *b, unsigned threshold, unsigned probe_ms);
/* 1 = the call may proceed (*probe = 1: it is the half-open probe and must recover first). */
int hsm_brk_admit(struct hsm_brk *b, uint64_t now_ms, int *probe);
/* A recovery failed. Opens the breaker at the threshold or when the half-open probe failed. */
void hsm_brk_fail(struct hsm_brk *b, uint64_t now_ms, int64_t wall, const char *why);
/* A recovery (or any call) succeeded: closed (unless the PIN was refused: that stays). */
void hsm_brk_ok(struct hsm_brk *b);
/*
 * The token refused the PIN at wall-clock time wall: open for good. hsm_brk_admit refuses every
 * call and never makes a probe (a probe would log in again), until the process restarts.
 */
void hsm_brk_pin(struct hsm_brk *b, int64_t wall, CK_RV rv);
/*
 * What a refused caller is told: the hsm_pin_message after a PIN refusal; otherwise "HSM token
 * 'L' is unavailable since T: why; Signet retries by itself ... and what to check".
 */
void hsm_brk_message(const struct hsm_brk *b, const char *label, char *detail);

/* ---- modules (module.c) ---- */

struct hsm_module {
    char *path;              /* dlopen path, the table key */
    char *init_reserved;     /* pReserved for C_Initialize, or NULL */
    void *dl;                /* dlopen handle, kept for the life of the process */
    CK_FUNCTION_LIST_PTR fn; /* the module's function list */
    unsigned refs;           /* tokens and callers holding it */
    uint64_t generation;     /* bumped by every C_Finalize + C_Initialize */
    int initialized;         /* 1 after a successful C_Initialize */
    pthread_rwlock_t rw;     /* read: any call on sessions; write: re-initialise */
    struct hsm_module *next; /* the process-wide table */
};

/* Loads (once per path) and initialises. SIGNET_E_CONFIG when it will not load. */
enum signet_err hsm_module_acquire(const char *path, const char *init_reserved,
                                   struct hsm_module **out, char *detail);
/* Drops a reference; the last one finalises the library (the code stays mapped). */
void hsm_module_release(struct hsm_module *mod);
/*
 * C_Finalize + C_Initialize unless the generation already moved past seen (another thread did
 * it). Takes the write lock: the caller must hold no read lock. Returns the C_Initialize result.
 */
CK_RV hsm_module_reinit(struct hsm_module *mod, uint64_t seen);
/*
 * The slot list (tokenPresent = TRUE) into a new array the caller frees, at most HSM_SLOTS_MAX.
 * Caller holds the read lock.
 */
#define HSM_SLOTS_MAX 4096
CK_RV hsm_module_slot_list(struct hsm_module *mod, CK_SLOT_ID **out, CK_ULONG *out_n);
/* Finds the slot whose token has this label (blank-padded compare). CKR_OK or HSMB_RV_NOTFOUND. */
CK_RV hsm_module_find_label(struct hsm_module *mod, const char *label, CK_SLOT_ID *out_slot,
                            CK_TOKEN_INFO *out_info);
/* Copies a blank-padded PKCS#11 string into a trimmed C string of outcap bytes. */
void hsm_trim(char *out, size_t outcap, const unsigned char *in, size_t inlen);
/* Blank-pads label into 32 bytes. */
void hsm_pad32(unsigned char out[32], const char *label);

/* ---- tokens (token.c) ---- */

struct hsm_sess {
    CK_SESSION_HANDLE h; /* 0 when none is open */
    uint64_t gen;        /* module generation it was opened in */
    uint64_t epoch;      /* token epoch it was opened in */
    int busy;            /* taken by a thread */
};

/*
 * Recovery and the pool (token.c): a recovery first waits until no session is in use and new
 * takes are refused (they wait, or give HSMB_RV_STALE), so no thread ever holds a session number
 * from before a reconnect while new sessions are opened: after a power loss handle numbers
 * restart, and an old number may name a new session of another thread. Sessions known dead
 * (epoch below dead_below, or the call said CKR_SESSION_HANDLE_INVALID / CKR_SESSION_CLOSED, or
 * the module was re-initialised) are forgotten, never closed, for the same reason.
 */

struct hsm_token {
    struct hsm_module *mod;
    char label[33];
    CK_SLOT_ID slot;
    CK_TOKEN_INFO info; /* as read at the last connect */
    struct secret *pin; /* the kept credential; wiped and NULL once the token refused it */
    int need_login;     /* a credential was given: sessions must be logged in */
    int pin_failed;     /* the token refused pin: never try it again (under lock) */
    unsigned pool_size, find_retry_ms, retry_max, backoff_base_ms, backoff_max_ms;
    pthread_mutex_t lock;       /* everything below */
    pthread_cond_t cond;        /* a session came back; a recovery ended */
    struct hsm_sess *pool;      /* pool_size work sessions */
    CK_SESSION_HANDLE anchor;   /* holds the login; used for probes and login only */
    uint64_t gen;               /* module generation of anchor */
    uint64_t epoch;             /* bumped by every reconnect: handles of older epochs are stale */
    uint64_t dead_below;        /* sessions of epochs below this are dead: never closed */
    unsigned busy;              /* pool sessions taken */
    int recovering;             /* one thread is reconnecting; takes are refused meanwhile */
    uint64_t recover_seq;       /* bumped at the end of every recovery */
    enum signet_err recover_rc; /* result of the last recovery */
    struct hsm_brk brk;
    struct hsm_stats stats;
    uint64_t find_calls; /* C_FindObjectsInit calls, for the cache test */
    uint32_t rnd;        /* jitter state */
};

#define HSM_POOL_MAX 256 /* bound on pool_size */

/* One attempt of an operation on a session. Returns a CK_RV or an HSMB_RV_*. */
typedef CK_RV (*hsm_op_fn)(struct hsm_token *tok, struct hsm_sess *s, void *arg);

/*
 * Runs fn with the breaker, a pooled session, bounded retries with backoff and recovery.
 * what names the operation for messages ("C_Sign with key 'pkcs11:...'").
 */
enum signet_err hsm_token_run(struct hsm_token *tok, const char *what, hsm_op_fn fn, void *arg,
                              char *detail);
/*
 * C_FindObjects helper: up to max handles matching tmpl into out, count into *n. A module that
 * claims more than max gives HSMB_RV_OVERRUN and *n = 0.
 */
CK_RV hsm_find(struct hsm_token *tok, CK_SESSION_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG ntmpl,
               CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *n);
/* Adds to a statistics counter atomically. */
void hsm_stat_add(uint64_t *counter, uint64_t n);
/* The number of C_FindObjectsInit calls made on tok (tests assert the cache with it). */
uint64_t hsm_token_find_calls(struct hsm_token *tok);

/* ---- keys (key.c) ---- */

struct hsm_key {
    struct hsm_token *tok;
    pthread_mutex_t lock;  /* priv and epoch */
    CK_OBJECT_HANDLE priv; /* the private key handle, valid in epoch */
    uint64_t epoch;        /* token epoch priv was found in */
    enum hsm_key_type type;
    unsigned char id[64]; /* CKA_ID */
    size_t idlen;
    char label[128]; /* CKA_LABEL of the private key */
    char uri[600];   /* RFC 7512 URI */
    EVP_PKEY *pub;   /* public key read at find time; the pin */
};

/*
 * Reads one attribute of obj into buf (cap bytes); *out_len is its length. A module that answers
 * CKR_OK with a length above cap gives HSMB_RV_OVERRUN and *out_len = 0 (outside input is bounded).
 */
CK_RV hsm_get_attr(struct hsm_token *tok, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
                   CK_ATTRIBUTE_TYPE type, void *buf, CK_ULONG cap, CK_ULONG *out_len);
/* Looks up priv again in session s and checks the public key against the pin. */
CK_RV hsm_key_refresh(struct hsm_key *key, struct hsm_sess *s);
/* Builds the public key from the public object with this CKA_ID. */
CK_RV hsm_key_read_public(struct hsm_token *tok, CK_SESSION_HANDLE h, const unsigned char *id,
                          size_t idlen, EVP_PKEY **out, enum hsm_key_type *out_type);
/* Percent-encodes n bytes for an RFC 7512 attribute value into out (outcap bytes). */
void hsm_pct_encode(const unsigned char *s, size_t n, char *out, size_t outcap);
/* The type of a public key Signet handles, or HSM_KEY_TYPE_MAX. */
enum hsm_key_type hsm_pkey_type(const EVP_PKEY *pkey);

/* ---- wrapping helpers (wrap.c, wrap_transport.c) ---- */

#define HSM_WRAP_BLOB_MAX  16384 /* bound on a wrapped key: RSA-4096 PKCS#8 is ~2.4 kB */
#define HSM_WRAP_ID_LEN    16    /* random CKA_ID of an unwrapped key or transport pair */
#define HSM_WRAP_LABEL_MAX 100

/* Why an operation was refused before the token said anything (detail written afterwards). */
enum hsm_wrap_why {
    WHY_NONE,
    WHY_UNEXTRACTABLE,
    WHY_TRUSTED,
    WHY_EXISTS,
    WHY_NOKEK,
    WHY_SO_USER,
    WHY_BADBLOB
};

/* The public-key attributes of a key to be created (from an OpenSSL public key). */
struct hsm_pubtmpl {
    CK_KEY_TYPE kt;
    unsigned char *pt; /* DER OCTET STRING point (EC, Ed25519) */
    size_t ptlen;
    const unsigned char *params;
    size_t paramslen;
    unsigned char n[1024], e[16]; /* RSA */
    int nlen, elen;
};
/* Fills p from pub (EC P-256/P-384, Ed25519, RSA). 1 = ok; free(p->pt) after. */
int hsm_pubtmpl_from(const EVP_PKEY *pub, struct hsm_pubtmpl *p);
/* A C_UnwrapKey failure that means "this blob does not open": permanent, *why = WHY_BADBLOB. */
CK_RV hsm_unwrap_rv(CK_RV rv, enum hsm_wrap_why *why);
/* Exactly one object of class cls labelled label: HSMB_RV_NOTFOUND / HSMB_RV_AMBIGUOUS. */
CK_RV hsm_find_labelled(struct hsm_token *tok, CK_SESSION_HANDLE h, CK_OBJECT_CLASS cls,
                        const char *label, CK_OBJECT_HANDLE *out);
/* 1 when label has 1 to HSM_WRAP_LABEL_MAX characters. */
int hsm_wrap_label_ok(const char *label);
/* The detail for a refusal found before or by the token. */
void hsm_wrap_why_detail(enum hsm_wrap_why why, const char *uri, const char *kek, const char *tok,
                         char *detail);

#endif
