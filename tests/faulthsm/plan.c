/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fault plan of faulthsm: rules parsed from the FAULTHSM_RULES variable and the file named by
 * FAULTHSM_CONTROL (re-read whenever its identity, size or times change), the one-shot events
 * they carry (power loss, outage), and the seeded random draws behind "prob" rules.
 * The language is described at the top of faulthsm.c and in docs/faulthsm.md.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FH_RULES_MAX   64
#define FH_CONTROL_MAX (64 * 1024) /* bytes of control file read */
#define FH_LINE_MAX    512

struct fh_fail {
    int fn;              /* function index or FH_FN_ALL */
    CK_RV rv;            /* what to answer */
    unsigned long every; /* fire on every Nth matching call (0 = use prob) */
    double prob;         /* or with this probability */
    unsigned long limit; /* fire at most this often (0 = no bound) */
    unsigned long seen;  /* matching calls so far */
    unsigned long fired; /* times fired */
    uint64_t rng;        /* xorshift state, from the seed */
};

struct fh_delay {
    int fn;      /* function index or FH_FN_ALL */
    unsigned ms; /* added latency */
};

struct fh_corrupt {
    int on;
    unsigned long every, limit, seen, fired;
    double prob;
    uint64_t rng;
};

struct fh_plan {
    uint64_t seed;
    struct fh_fail fail[FH_RULES_MAX];
    size_t nfail;
    struct fh_delay delay[FH_RULES_MAX];
    size_t ndelay;
    struct fh_corrupt corrupt;
};

struct fh_file_id {
    int present;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static char *g_env_rules;       /* FAULTHSM_RULES, copied */
static char *g_control_path;    /* FAULTHSM_CONTROL, copied */
static char *g_file_text;       /* the control file's last content */
static struct fh_file_id g_fid; /* identity of the file behind g_file_text */
static int g_env_fired;         /* the events of FAULTHSM_RULES already fired */
static int g_loaded;            /* g_plan reflects the sources */
static struct fh_plan g_plan;
static int g_pending_powerloss, g_pending_reinit;
static long long g_outage_end; /* CLOCK_MONOTONIC ms; outage while now < this */
static CK_RV g_outage_rv = CKR_DEVICE_REMOVED;

#define FH_NAME(name) #name,
static const char *const fh_names[FH_FN_MAX] = {FH_FUNCTION_NAMES(FH_NAME)};
#undef FH_NAME

const char *fh_fn_name(int fn)
{
    return fn >= 0 && fn < FH_FN_MAX ? fh_names[fn] : NULL;
}

int fh_fn_lookup(const char *name)
{
    if (strcmp(name, "*") == 0)
        return FH_FN_ALL;
    for (int i = 0; i < FH_FN_MAX; i++)
        if (strcmp(fh_names[i], name) == 0)
            return i;
    return -2;
}

#define FH_CKR_NAMES(X)                                                                            \
    X(CKR_OK)                                                                                      \
    X(CKR_HOST_MEMORY)                                                                             \
    X(CKR_SLOT_ID_INVALID)                                                                         \
    X(CKR_GENERAL_ERROR)                                                                           \
    X(CKR_FUNCTION_FAILED)                                                                         \
    X(CKR_ARGUMENTS_BAD)                                                                           \
    X(CKR_CANT_LOCK)                                                                               \
    X(CKR_DATA_INVALID)                                                                            \
    X(CKR_DEVICE_ERROR)                                                                            \
    X(CKR_DEVICE_MEMORY)                                                                           \
    X(CKR_DEVICE_REMOVED)                                                                          \
    X(CKR_FUNCTION_CANCELED)                                                                       \
    X(CKR_KEY_HANDLE_INVALID)                                                                      \
    X(CKR_MECHANISM_INVALID)                                                                       \
    X(CKR_OBJECT_HANDLE_INVALID)                                                                   \
    X(CKR_OPERATION_ACTIVE)                                                                        \
    X(CKR_OPERATION_NOT_INITIALIZED)                                                               \
    X(CKR_PIN_INCORRECT)                                                                           \
    X(CKR_PIN_LOCKED)                                                                              \
    X(CKR_PIN_EXPIRED)                                                                             \
    X(CKR_SESSION_CLOSED)                                                                          \
    X(CKR_SESSION_COUNT)                                                                           \
    X(CKR_SESSION_HANDLE_INVALID)                                                                  \
    X(CKR_TOKEN_NOT_PRESENT)                                                                       \
    X(CKR_TOKEN_NOT_RECOGNIZED)                                                                    \
    X(CKR_USER_ALREADY_LOGGED_IN)                                                                  \
    X(CKR_USER_NOT_LOGGED_IN)                                                                      \
    X(CKR_BUFFER_TOO_SMALL)                                                                        \
    X(CKR_CRYPTOKI_NOT_INITIALIZED)                                                                \
    X(CKR_CRYPTOKI_ALREADY_INITIALIZED)

struct fh_ckr {
    const char *name;
    CK_RV rv;
};
#define FH_CKR(name) {#name, name},
static const struct fh_ckr fh_ckrs[] = {FH_CKR_NAMES(FH_CKR)};
#undef FH_CKR

int fh_ckr_parse(const char *s, CK_RV *out)
{
    char *end = NULL;
    unsigned long v;

    for (size_t i = 0; i < sizeof(fh_ckrs) / sizeof(fh_ckrs[0]); i++)
        if (strcasecmp(s, fh_ckrs[i].name) == 0) {
            *out = fh_ckrs[i].rv;
            return 1;
        }
    if (*s < '0' || *s > '9')
        return 0;
    errno = 0;
    v = strtoul(s, &end, 0);
    if (errno != 0 || *end != '\0')
        return 0;
    *out = v;
    return 1;
}

const char *fh_ckr_name(CK_RV rv)
{
    for (size_t i = 0; i < sizeof(fh_ckrs) / sizeof(fh_ckrs[0]); i++)
        if (fh_ckrs[i].rv == rv)
            return fh_ckrs[i].name;
    return "CKR_?";
}

long long fh_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* splitmix64: turns the seed and a rule's index into an independent xorshift state. */
static uint64_t fh_seed_state(uint64_t seed, size_t index)
{
    uint64_t z = seed + 0x9E3779B97F4A7C15ull * (uint64_t)(index + 1);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return z != 0 ? z : 1;
}

/* A uniform draw in [0,1) from an xorshift64* state. */
static double fh_draw(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return (double)((x * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

/* Strict unsigned parse; 1 = ok. */
static int fh_parse_ulong(const char *s, unsigned long *out)
{
    char *end = NULL;

    if (s == NULL || *s < '0' || *s > '9')
        return 0;
    errno = 0;
    *out = strtoul(s, &end, 10);
    return errno == 0 && *end == '\0';
}

/* Parses "every N" / "prob P" / "limit M" options from tok[i..n). 1 = ok. */
static int fh_parse_trigger(char **tok, int n, unsigned long *every, double *prob,
                            unsigned long *limit)
{
    char *end = NULL;
    int have = 0;

    for (int i = 0; i + 1 < n; i += 2) {
        if (strcmp(tok[i], "every") == 0) {
            if (!fh_parse_ulong(tok[i + 1], every) || *every == 0)
                return 0;
            have = 1;
        } else if (strcmp(tok[i], "prob") == 0) {
            *prob = strtod(tok[i + 1], &end);
            if (*end != '\0' || !(*prob >= 0.0 && *prob <= 1.0))
                return 0;
            have = 1;
        } else if (strcmp(tok[i], "limit") == 0) {
            if (!fh_parse_ulong(tok[i + 1], limit))
                return 0;
        } else {
            return 0;
        }
    }
    if (n % 2 != 0)
        return 0;
    if (!have)
        *every = 1; /* a bare rule fires on every call */
    return 1;
}

/* Applies one tokenised directive to plan; events fire only when fire is set. 1 = ok. */
static int fh_directive(struct fh_plan *plan, char **tok, int n, int fire, const char **why)
{
    unsigned long num = 0;

    if (strcmp(tok[0], "seed") == 0 && n == 2 && fh_parse_ulong(tok[1], &num)) {
        plan->seed = num;
    } else if (strcmp(tok[0], "fail") == 0 && n >= 3) {
        struct fh_fail *f = &plan->fail[plan->nfail];

        if (plan->nfail == FH_RULES_MAX)
            return *why = "too many fail rules", 0;
        memset(f, 0, sizeof(*f));
        if ((f->fn = fh_fn_lookup(tok[1])) == -2)
            return *why = "unknown PKCS#11 function", 0;
        if (!fh_ckr_parse(tok[2], &f->rv))
            return *why = "unknown CKR", 0;
        if (!fh_parse_trigger(tok + 3, n - 3, &f->every, &f->prob, &f->limit))
            return *why = "expected: every N | prob P [limit M]", 0;
        plan->nfail++;
    } else if (strcmp(tok[0], "latency") == 0 && n == 3) {
        struct fh_delay *d = &plan->delay[plan->ndelay];

        if (plan->ndelay == FH_RULES_MAX)
            return *why = "too many latency rules", 0;
        if ((d->fn = fh_fn_lookup(tok[1])) == -2 || !fh_parse_ulong(tok[2], &num) || num > 60000)
            return *why = "expected: latency FUNCTION|* MS (MS <= 60000)", 0;
        d->ms = (unsigned)num;
        plan->ndelay++;
    } else if (strcmp(tok[0], "corrupt") == 0) {
        memset(&plan->corrupt, 0, sizeof(plan->corrupt));
        if (!fh_parse_trigger(tok + 1, n - 1, &plan->corrupt.every, &plan->corrupt.prob,
                              &plan->corrupt.limit))
            return *why = "expected: corrupt every N | prob P [limit M]", 0;
        plan->corrupt.on = 1;
    } else if (strcmp(tok[0], "powerloss") == 0 && (n == 1 || strcmp(tok[1], "noinit") == 0)) {
        if (n > 2)
            return *why = "expected: powerloss [noinit]", 0;
        if (fire) {
            g_pending_powerloss = 1;
            g_pending_reinit = n == 1;
        }
    } else if (strcmp(tok[0], "outage") == 0 && (n == 2 || n == 3)) {
        CK_RV rv = CKR_DEVICE_REMOVED;

        if (!fh_parse_ulong(tok[1], &num) || num > 3600000 ||
            (n == 3 && !fh_ckr_parse(tok[2], &rv)))
            return *why = "expected: outage MS [CKR]", 0;
        if (fire) {
            g_outage_end = fh_now_ms() + (long long)num;
            g_outage_rv = rv;
            if (num > 0) { /* the device loses its state: sessions are gone when it returns */
                g_pending_powerloss = 1;
                g_pending_reinit = 1;
            }
        }
    } else {
        return *why = "unknown directive or wrong arguments", 0;
    }
    return 1;
}

/* Parses text (lines or ';'-separated directives, '#' comments) into plan. Bad lines are logged. */
static void fh_parse_text(struct fh_plan *plan, const char *text, const char *source, int fire)
{
    char line[FH_LINE_MAX];
    unsigned lineno = 0;
    const char *p = text;

    while (p != NULL && *p != '\0') {
        size_t len = strcspn(p, "\n;");
        char *tok[16], *save = NULL, *hash;
        int n = 0;
        const char *why = NULL;

        lineno++;
        if (len >= sizeof(line)) {
            fprintf(stderr, "faulthsm: %s: directive %u is too long; ignored\n", source, lineno);
        } else {
            memcpy(line, p, len);
            line[len] = '\0';
            if ((hash = strchr(line, '#')) != NULL)
                *hash = '\0';
            for (char *t = strtok_r(line, " \t\r", &save); t != NULL && n < 16;
                 t = strtok_r(NULL, " \t\r", &save))
                tok[n++] = t;
            if (n > 0 && !fh_directive(plan, tok, n, fire, &why))
                fprintf(stderr, "faulthsm: %s: directive %u (\"%s\"): %s; ignored\n", source,
                        lineno, tok[0], why);
        }
        p += len;
        if (*p != '\0')
            p++;
    }
}

/* Rebuilds g_plan from the sources, seeding every random rule afresh. Called with g_mu held. */
static void fh_plan_rebuild(int fire_file)
{
    struct fh_plan *plan = &g_plan;

    memset(plan, 0, sizeof(*plan));
    plan->seed = 1;
    fh_parse_text(plan, g_env_rules, "FAULTHSM_RULES", !g_env_fired);
    g_env_fired = 1;
    fh_parse_text(plan, g_file_text, g_control_path != NULL ? g_control_path : "control",
                  fire_file);
    for (size_t i = 0; i < plan->nfail; i++)
        plan->fail[i].rng = fh_seed_state(plan->seed, i);
    plan->corrupt.rng = fh_seed_state(plan->seed, FH_RULES_MAX);
    g_loaded = 1;
}

/* Reads the control file (bounded) into a new string; NULL when it cannot be read. */
static char *fh_read_control(const char *path, struct fh_file_id *fid)
{
    struct stat st;
    char *buf = NULL;
    ssize_t got = 0, r;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0 || fstat(fd, &st) != 0 || (buf = calloc(1, FH_CONTROL_MAX + 1)) == NULL)
        goto out;
    while (got < FH_CONTROL_MAX && (r = read(fd, buf + got, FH_CONTROL_MAX - got)) > 0)
        got += r;
    fid->present = 1;
    fid->dev = st.st_dev;
    fid->ino = st.st_ino;
    fid->size = st.st_size;
    fid->mtime = st.st_mtim;
    fid->ctime = st.st_ctim;
out:
    if (fd >= 0)
        close(fd);
    return buf;
}

/* 1 when the stat result differs from the file identity last read. */
static int fh_fid_changed(const struct stat *st, const struct fh_file_id *fid)
{
    return !fid->present || st->st_dev != fid->dev || st->st_ino != fid->ino ||
           st->st_size != fid->size || st->st_mtim.tv_sec != fid->mtime.tv_sec ||
           st->st_mtim.tv_nsec != fid->mtime.tv_nsec || st->st_ctim.tv_sec != fid->ctime.tv_sec ||
           st->st_ctim.tv_nsec != fid->ctime.tv_nsec;
}

/* Re-reads the control file when it changed (one stat per call). Called with g_mu held. */
static void fh_plan_poll(void)
{
    struct stat st;
    struct fh_file_id fid;
    char *text;

    if (g_control_path == NULL) {
        if (!g_loaded)
            fh_plan_rebuild(0);
        return;
    }
    if (stat(g_control_path, &st) != 0) {
        if (g_fid.present || !g_loaded) { /* removed: no file rules any more */
            free(g_file_text);
            g_file_text = NULL;
            memset(&g_fid, 0, sizeof(g_fid));
            fh_plan_rebuild(0);
        }
        return;
    }
    if (!fh_fid_changed(&st, &g_fid)) {
        if (!g_loaded) /* the environment changed, not the file: its events do not fire again */
            fh_plan_rebuild(0);
        return;
    }
    memset(&fid, 0, sizeof(fid));
    if ((text = fh_read_control(g_control_path, &fid)) == NULL)
        return;
    free(g_file_text);
    g_file_text = text;
    g_fid = fid;
    fh_plan_rebuild(1);
}

/* 1 when both strings are NULL or equal. */
static int fh_same(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

void fh_plan_env(void)
{
    const char *rules = getenv("FAULTHSM_RULES");
    const char *control = getenv("FAULTHSM_CONTROL");

    pthread_mutex_lock(&g_mu);
    if (!fh_same(rules, g_env_rules)) {
        free(g_env_rules);
        g_env_rules = rules != NULL ? strdup(rules) : NULL;
        g_env_fired = 0;
        g_loaded = 0;
    }
    if (control != NULL && *control == '\0')
        control = NULL;
    if (!fh_same(control, g_control_path)) {
        free(g_control_path);
        g_control_path = control != NULL ? strdup(control) : NULL;
        memset(&g_fid, 0, sizeof(g_fid));
        g_loaded = 0;
    }
    pthread_mutex_unlock(&g_mu);
}

/* 1 when a rule (every / prob / limit) fires on this matching call; updates its counters. */
static int fh_trigger(unsigned long every, double prob, unsigned long limit, unsigned long *seen,
                      unsigned long *fired, uint64_t *rng)
{
    int hit;

    (*seen)++;
    if (limit != 0 && *fired >= limit)
        return 0;
    hit = every != 0 ? *seen % every == 0 : fh_draw(rng) < prob;
    if (hit)
        (*fired)++;
    return hit;
}

/* Functions that outages and "*" fail rules leave alone: the library itself, not the device. */
static int fh_library_level(enum fh_fn fn)
{
    return fn == FH_C_Initialize || fn == FH_C_Finalize || fn == FH_C_GetFunctionList ||
           fn == FH_C_GetInfo || fn == FH_C_GetSlotList || fn == FH_C_GetSlotInfo ||
           fn == FH_C_WaitForSlotEvent;
}

void fh_plan_consult(enum fh_fn fn, struct fh_verdict *out)
{
    struct fh_plan *plan = &g_plan;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&g_mu);
    fh_plan_poll();
    if (g_pending_powerloss) {
        out->powerloss = 1;
        out->powerloss_reinit = g_pending_reinit;
        g_pending_powerloss = 0;
    }
    for (size_t i = 0; i < plan->ndelay; i++)
        if (plan->delay[i].fn == FH_FN_ALL || plan->delay[i].fn == (int)fn)
            out->latency_ms += plan->delay[i].ms;
    if (!fh_library_level(fn) && fh_now_ms() < g_outage_end) {
        out->inject = 1;
        out->outage = 1;
        out->rv = g_outage_rv;
        goto out;
    }
    for (size_t i = 0; i < plan->nfail; i++) {
        struct fh_fail *f = &plan->fail[i];

        if (f->fn == (int)fn || (f->fn == FH_FN_ALL && !fh_library_level(fn))) {
            if (fh_trigger(f->every, f->prob, f->limit, &f->seen, &f->fired, &f->rng)) {
                out->inject = 1;
                out->rv = f->rv;
                break;
            }
        }
    }
out:
    pthread_mutex_unlock(&g_mu);
}

int fh_plan_outage_active(void)
{
    int active;

    pthread_mutex_lock(&g_mu);
    active = fh_now_ms() < g_outage_end;
    pthread_mutex_unlock(&g_mu);
    return active;
}

long long fh_plan_outage_end_ms(void)
{
    long long end;

    pthread_mutex_lock(&g_mu);
    end = g_outage_end;
    pthread_mutex_unlock(&g_mu);
    return end;
}

int fh_plan_corrupt(void)
{
    struct fh_corrupt *c = &g_plan.corrupt;
    int hit = 0;

    pthread_mutex_lock(&g_mu);
    if (c->on)
        hit = fh_trigger(c->every, c->prob, c->limit, &c->seen, &c->fired, &c->rng);
    pthread_mutex_unlock(&g_mu);
    return hit;
}
