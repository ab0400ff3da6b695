/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_sign: signatures per second on one SoftHSM2 token, per key type, through three paths:
 *   raw   C_SignInit + C_Sign straight through the module's function list, handle cached
 *         (the peer: the limit of the token itself)
 *   rawv  raw, then the signature checked with OpenSSL against the public key: the floor for
 *         any path that, like hsm_sign, verifies every signature before returning it
 *   hsm   hsm_sign (hsmbind: session pool, recovery, verification of every signature)
 *   evp   EVP_DigestSignInit + EVP_DigestSign on hsm_key_evp's key (the provider path the CA's
 *         X509_sign takes; it also hashes the 100-byte message)
 * each with 1 thread, 2 threads and 2 processes. It makes its own token in a temporary directory.
 * This is a measurement, not product: it includes pkcs11.h and keeps a throwaway PIN in memory.
 *
 * With --issue-floor it measures instead, for ec:P-256 with 1 thread and 2 processes, the
 * cryptography one issuance needs at the least (bench/issue.sh's floor; see issue_once):
 *   issue       the CSR's self-signature verified, then twice (the certificate, its OCSP
 *               response) a throwaway-key signature for the lint and hsm_sign, which verifies
 *               the token's result
 *   issue-cert  the same for the certificate alone (no OCSP response)
 *
 * Usage: bench_sign [--seconds S] [--module PATH] [--only KEYTYPE] [--issue-floor]
 * Prints a table and one "MEASURE key=K path=P mode=M rate=R" line per figure (sign/s).
 * Internal: bench_sign --worker PATH KEYINDEX SECONDS START_MS runs one process of "2 processes".
 */
#include <dlfcn.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

#include "hsmbind.h"

#define BENCH_LABEL "bench"
#define BENCH_PIN   "1234" /* a throwaway token made and removed by this program */
#define BENCH_SO    "5678"
#define MSG_LEN     100

extern char **environ;

enum path { P_RAW, P_RAWV, P_HSM, P_EVP, P_MAX, P_ISSUE = P_MAX, P_ISSUE_CERT };
static const char *const path_names[P_ISSUE_CERT + 1] = {"raw", "rawv",  "hsm",
                                                         "evp", "issue", "issue-cert"};
static const char *const path_titles[P_MAX] = {"raw C_Sign (peer)", "raw + verify", "hsm_sign",
                                               "provider EVP"};

struct kdef {
    enum hsm_key_type type;
    const char *name, *label;
    CK_MECHANISM_TYPE mech;
    int md_bits; /* 0: Ed25519 signs the message */
};

static const struct kdef kdefs[] = {
    {HSM_KEY_EC_P256, "ec:P-256", "bench-p256", CKM_ECDSA, 256},
    {HSM_KEY_EC_P384, "ec:P-384", "bench-p384", CKM_ECDSA, 384},
    {HSM_KEY_RSA_2048, "rsa:2048", "bench-rsa2048", CKM_RSA_PKCS, 256},
    {HSM_KEY_ED25519, "ed25519", "bench-ed25519", CKM_EDDSA, 0},
};
#define NKEYS (sizeof(kdefs) / sizeof(kdefs[0]))

static const char *module_path = SIGNET_SOFTHSM_MODULE;
static CK_FUNCTION_LIST *p11;
static struct hsm_token *tok;

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "bench_sign: %s: %s\n", what, detail);
    exit(1);
}

/* ---- the peer: raw PKCS#11 ---- */

/* Loads the module's function list (our own dlopen; SoftHSM shares its state per process). */
static void raw_load(void)
{
    CK_C_GetFunctionList get;
    CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
    void *dl = dlopen(module_path, RTLD_NOW);
    CK_RV rv;

    if (dl == NULL || (get = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList")) == NULL ||
        get(&p11) != CKR_OK)
        die("cannot load", module_path);
    rv = p11->C_Initialize(&args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
        die("C_Initialize", "failed");
}

/* The slot holding the bench token, or 0 with *found = 0. */
static CK_SLOT_ID raw_slot(int *found)
{
    CK_SLOT_ID slots[16];
    CK_ULONG nslots = 16;
    CK_TOKEN_INFO info;
    size_t n = strlen(BENCH_LABEL);

    *found = 0;
    if (p11->C_GetSlotList(CK_TRUE, slots, &nslots) != CKR_OK)
        return 0;
    for (CK_ULONG i = 0; i < nslots; i++) {
        if (p11->C_GetTokenInfo(slots[i], &info) == CKR_OK &&
            memcmp(info.label, BENCH_LABEL, n) == 0 && info.label[n] == ' ') {
            *found = 1;
            return slots[i];
        }
    }
    return 0;
}

/*
 * A logged-in session of its own and the private key's handle, looked up once. A worker process
 * (may_reinit) that starts while another rewrites the token files may not see the token: SoftHSM
 * fixes its slot list at C_Initialize, so it initialises again and retries briefly (FACTS.md).
 */
static void raw_open(const char *label, int may_reinit, CK_SESSION_HANDLE *out_s,
                     CK_OBJECT_HANDLE *out_k)
{
    CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)},
                           {CKA_LABEL, (void *)label, strlen(label)}};
    CK_ULONG found = 0;
    CK_SLOT_ID slot = 0;
    int ok = 0;
    CK_RV rv;

    for (long long until = now_ms() + 3000; !ok && now_ms() < until;) {
        slot = raw_slot(&ok);
        if (!ok && may_reinit) {
            usleep(20000);
            p11->C_Finalize(NULL);
            p11->C_Initialize(&args);
        } else if (!ok) {
            break;
        }
    }
    if (!ok)
        die("no token", BENCH_LABEL);
    if (p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, out_s) != CKR_OK)
        die("C_OpenSession", "failed");
    /* a login in another process rewrites the token file at the same moment: retry briefly */
    for (int i = 0; i < 50; i++, usleep(20000)) {
        rv = p11->C_Login(*out_s, CKU_USER, (CK_UTF8CHAR_PTR)BENCH_PIN, strlen(BENCH_PIN));
        if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN)
            break;
    }
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
        fprintf(stderr, "bench_sign: C_Login: CKR 0x%lx\n", (unsigned long)rv);
        exit(1);
    }
    if (p11->C_FindObjectsInit(*out_s, tmpl, 2) != CKR_OK ||
        p11->C_FindObjects(*out_s, out_k, 1, &found) != CKR_OK ||
        p11->C_FindObjectsFinal(*out_s) != CKR_OK || found != 1)
        die("no key", label);
}

/* ---- one worker: a loop of signatures until the deadline ---- */

struct worker {
    const struct kdef *kd;
    enum path path;
    struct hsm_key *key;
    EVP_PKEY *pub; /* rawv: the key's public half */
    EVP_PKEY *evp;
    EVP_PKEY *soft; /* issue: an in-memory key of the same type (the CSR's, the lint's) */
    unsigned char csr_sig[HSM_SIG_MAX]; /* issue: the "CSR" signature over the message */
    size_t csr_siglen;
    CK_SESSION_HANDLE s; /* raw */
    CK_OBJECT_HANDLE k;  /* raw */
    long long start_ms, end_ms;
    unsigned long done;
    int failed;
};

/* The bytes each path signs: the digest (EC), DigestInfo || digest (RSA raw), the message. */
static void inputs(const struct kdef *kd, unsigned char *msg, unsigned char *dgst, unsigned *dlen,
                   unsigned char *raw, size_t *rawlen, const EVP_MD **md)
{
    static const unsigned char di256[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                          0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                          0x01, 0x05, 0x00, 0x04, 0x20};

    memset(msg, 'm', MSG_LEN);
    *md = kd->md_bits == 384 ? EVP_sha384() : kd->md_bits == 256 ? EVP_sha256() : NULL;
    *dlen = 0;
    if (*md != NULL)
        EVP_Digest(msg, MSG_LEN, dgst, dlen, *md, NULL);
    if (kd->mech == CKM_EDDSA) {
        memcpy(raw, msg, MSG_LEN);
        *rawlen = MSG_LEN;
    } else if (kd->mech == CKM_RSA_PKCS) {
        memcpy(raw, di256, sizeof(di256));
        memcpy(raw + sizeof(di256), dgst, *dlen);
        *rawlen = sizeof(di256) + *dlen;
    } else {
        memcpy(raw, dgst, *dlen);
        *rawlen = *dlen;
    }
}

/* Checks a raw PKCS#11 signature with OpenSSL (EC r||s converted to DER first). 1 = valid. */
static int raw_verify(struct worker *w, const unsigned char *sig, size_t siglen,
                      const unsigned char *msg, const unsigned char *dgst, unsigned dlen,
                      const EVP_MD *md)
{
    unsigned char der[HSM_SIG_MAX], *p = der;
    ECDSA_SIG *es = NULL;
    EVP_PKEY_CTX *c = NULL;
    EVP_MD_CTX *m = NULL;
    int ok = 0, n;

    if (w->kd->mech == CKM_EDDSA) {
        ok = (m = EVP_MD_CTX_new()) != NULL &&
             EVP_DigestVerifyInit(m, NULL, NULL, NULL, w->pub) == 1 &&
             EVP_DigestVerify(m, sig, siglen, msg, MSG_LEN) == 1;
        EVP_MD_CTX_free(m);
        return ok;
    }
    if (w->kd->mech == CKM_ECDSA) {
        if ((es = ECDSA_SIG_new()) == NULL ||
            !ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)siglen / 2, NULL),
                            BN_bin2bn(sig + siglen / 2, (int)siglen / 2, NULL)) ||
            (n = i2d_ECDSA_SIG(es, &p)) <= 0)
            goto out;
        sig = der;
        siglen = (size_t)n;
    }
    ok = (c = EVP_PKEY_CTX_new_from_pkey(NULL, w->pub, NULL)) != NULL &&
         EVP_PKEY_verify_init(c) == 1 && EVP_PKEY_CTX_set_signature_md(c, md) == 1 &&
         EVP_PKEY_verify(c, sig, siglen, dgst, dlen) == 1;
out:
    ECDSA_SIG_free(es);
    EVP_PKEY_CTX_free(c);
    return ok;
}

/*
 * The cryptography one issuance needs at the least: the CSR's self-signature verified, then for
 * the certificate and for its OCSP response a throwaway-key signature (lint before sign) and the
 * token's signature through hsm_sign, which verifies it. No encoding, policy, lint set, store
 * or HTTP: what is left of the CPU for those is what any pipeline has. 1 = ok.
 */
static int issue_once(struct worker *w, const unsigned char *msg, const unsigned char *dgst,
                      unsigned dlen, const EVP_MD *md)
{
    unsigned char sig[HSM_SIG_MAX];
    size_t siglen;
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    int ok = m != NULL && EVP_DigestVerifyInit(m, NULL, md, NULL, w->soft) == 1 &&
             EVP_DigestVerify(m, w->csr_sig, w->csr_siglen, msg, MSG_LEN) == 1;

    for (int k = 0; ok && k < (w->path == P_ISSUE ? 2 : 1); k++) {
        siglen = sizeof(sig);
        ok = EVP_MD_CTX_reset(m) == 1 && EVP_DigestSignInit(m, NULL, md, NULL, w->soft) == 1 &&
             EVP_DigestSign(m, sig, &siglen, msg, MSG_LEN) == 1;
        siglen = sizeof(sig);
        ok = ok && hsm_sign(w->key, md, dgst, dlen, sig, &siglen, NULL) == SIGNET_OK;
    }
    EVP_MD_CTX_free(m);
    return ok;
}

/* One signature through the worker's path. 1 = ok. */
static int sign_once(struct worker *w, const unsigned char *msg, const unsigned char *dgst,
                     unsigned dlen, const unsigned char *raw, size_t rawlen, const EVP_MD *md)
{
    unsigned char sig[HSM_SIG_MAX];
    size_t siglen = sizeof(sig);
    CK_ULONG cklen = sizeof(sig);
    CK_MECHANISM mech = {w->kd->mech, NULL, 0};
    EVP_MD_CTX *m;
    int ok;

    switch (w->path) {
    case P_RAW:
    case P_RAWV:
        return p11->C_SignInit(w->s, &mech, w->k) == CKR_OK &&
               p11->C_Sign(w->s, (CK_BYTE_PTR)raw, rawlen, sig, &cklen) == CKR_OK &&
               (w->path == P_RAW || raw_verify(w, sig, cklen, msg, dgst, dlen, md));
    case P_ISSUE:
    case P_ISSUE_CERT:
        return issue_once(w, msg, dgst, dlen, md);
    case P_HSM:
        return md == NULL ? hsm_sign(w->key, NULL, msg, MSG_LEN, sig, &siglen, NULL) == SIGNET_OK
                          : hsm_sign(w->key, md, dgst, dlen, sig, &siglen, NULL) == SIGNET_OK;
    default:
        if ((m = EVP_MD_CTX_new()) == NULL)
            return 0;
        ok = EVP_DigestSignInit(m, NULL, md, NULL, w->evp) == 1 &&
             EVP_DigestSign(m, sig, &siglen, msg, MSG_LEN) == 1;
        EVP_MD_CTX_free(m);
        return ok;
    }
}

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    unsigned char msg[MSG_LEN], dgst[EVP_MAX_MD_SIZE], raw[128];
    unsigned dlen;
    size_t rawlen;
    const EVP_MD *md;

    inputs(w->kd, msg, dgst, &dlen, raw, &rawlen, &md);
    while (now_ms() < w->start_ms)
        usleep(200);
    while (now_ms() < w->end_ms) {
        if (!sign_once(w, msg, dgst, dlen, raw, rawlen, md)) {
            w->failed = 1;
            break;
        }
        w->done++;
    }
    return NULL;
}

/* Prepares a worker of path for key ki: its own raw session, or the shared hsmbind key. */
static void worker_init(struct worker *w, size_t ki, enum path path, struct hsm_key *key,
                        EVP_PKEY *evp, int may_reinit)
{
    memset(w, 0, sizeof(*w));
    w->kd = &kdefs[ki];
    w->path = path;
    w->key = key;
    w->evp = evp;
    w->pub = key != NULL ? hsm_key_public(key) : NULL;
    if (path == P_RAW || path == P_RAWV)
        raw_open(kdefs[ki].label, may_reinit, &w->s, &w->k);
    if (path == P_ISSUE || path == P_ISSUE_CERT) {
        unsigned char msg[MSG_LEN];
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        memset(msg, 'm', MSG_LEN);
        w->csr_siglen = sizeof(w->csr_sig);
        if (kdefs[ki].type != HSM_KEY_EC_P256 ||
            (w->soft = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL || m == NULL ||
            EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, w->soft) != 1 ||
            EVP_DigestSign(m, w->csr_sig, &w->csr_siglen, msg, MSG_LEN) != 1)
            die("issue floor", "needs ec:P-256 and an in-memory P-256 key");
        EVP_MD_CTX_free(m);
    }
}

static void worker_close(struct worker *w)
{
    if (w->path == P_RAW || w->path == P_RAWV)
        p11->C_CloseSession(w->s);
    EVP_PKEY_free(w->soft);
}

/* nthreads workers in this process for seconds; returns sign/s. */
static double run_threads(size_t ki, enum path path, struct hsm_key *key, EVP_PKEY *evp,
                          int nthreads, double seconds)
{
    struct worker w[2];
    pthread_t th[2];
    unsigned long total = 0;
    long long start = now_ms() + 50;

    for (int i = 0; i < nthreads; i++) {
        worker_init(&w[i], ki, path, key, evp, 0);
        w[i].start_ms = start;
        w[i].end_ms = start + (long long)(seconds * 1000);
    }
    for (int i = 0; i < nthreads; i++)
        pthread_create(&th[i], NULL, worker_run, &w[i]);
    for (int i = 0; i < nthreads; i++) {
        pthread_join(th[i], NULL);
        if (w[i].failed)
            die(kdefs[ki].name, "a signature failed");
        total += w[i].done;
        worker_close(&w[i]);
    }
    return (double)total / seconds;
}

/* Opens the bench token through hsmbind (pool of 4 sessions). */
static void open_token(void)
{
    struct hsm_token_config cfg = {.module = module_path, .token_label = BENCH_LABEL};
    struct secret *pin = secret_new(16);
    char detail[SIGNET_DETAIL_MAX] = "";

    if (pin == NULL || !secret_set(pin, BENCH_PIN, strlen(BENCH_PIN)))
        die("secret", "no memory");
    if (hsm_token_open(&cfg, pin, &tok, detail) != SIGNET_OK)
        die("hsm_token_open", detail);
}

/* Finds key ki on the open token and makes its EVP_PKEY. */
static void find_key(size_t ki, struct hsm_key **key, EVP_PKEY **evp)
{
    char uri[128], detail[SIGNET_DETAIL_MAX] = "";

    snprintf(uri, sizeof(uri), "pkcs11:token=%s;object=%s", BENCH_LABEL, kdefs[ki].label);
    if (hsm_key_find(tok, uri, key, detail) != SIGNET_OK || hsm_key_evp(*key, evp, detail))
        die(uri, detail);
}

/* The child of "2 processes": one thread from start_ms for seconds; prints its count. */
static int worker_main(char **argv)
{
    enum path path = P_MAX;
    size_t ki = (size_t)atoi(argv[3]);
    double seconds = atof(argv[4]);
    struct hsm_key *key = NULL;
    EVP_PKEY *evp = NULL;
    struct worker w;

    int found = 0;

    for (int p = 0; p <= P_ISSUE_CERT; p++)
        if (strcmp(argv[2], path_names[p]) == 0) {
            path = (enum path)p;
            found = 1;
        }
    if (!found || ki >= NKEYS || seconds <= 0)
        die("worker", "bad arguments");
    if (path != P_RAW) {
        open_token();
        find_key(ki, &key, &evp);
    }
    if (path == P_RAW || path == P_RAWV)
        raw_load();
    worker_init(&w, ki, path, key, evp, path == P_RAW); /* rawv: hsmbind holds the module */
    w.start_ms = atoll(argv[5]);
    w.end_ms = w.start_ms + (long long)(seconds * 1000);
    worker_run(&w);
    printf("%lu %d\n", w.done, w.failed);
    worker_close(&w);
    EVP_PKEY_free(evp);
    hsm_key_free(key);
    hsm_token_free(tok);
    return 0;
}

/* Two processes of this program, each one thread; returns their summed sign/s. */
static double run_processes(size_t ki, enum path path, double seconds)
{
    char kbuf[8], sbuf[32], tbuf[32], line[64];
    FILE *out[2];
    pid_t pid[2];
    unsigned long total = 0, done;
    int failed, status;

    snprintf(kbuf, sizeof(kbuf), "%zu", ki);
    snprintf(sbuf, sizeof(sbuf), "%g", seconds);
    snprintf(tbuf, sizeof(tbuf), "%lld", now_ms() + 1500); /* time for both to log in */
    for (int i = 0; i < 2; i++) {
        int fds[2];
        posix_spawn_file_actions_t fa;
        char *args[] = {"bench_sign", "--worker", (char *)path_names[path], kbuf, sbuf, tbuf, NULL};

        if (pipe(fds) != 0)
            die("pipe", "failed");
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
        posix_spawn_file_actions_addclose(&fa, fds[0]);
        if (posix_spawn(&pid[i], "/proc/self/exe", &fa, NULL, args, environ) != 0)
            die("posix_spawn", "failed");
        posix_spawn_file_actions_destroy(&fa);
        close(fds[1]);
        out[i] = fdopen(fds[0], "r");
    }
    for (int i = 0; i < 2; i++) {
        if (fgets(line, sizeof(line), out[i]) == NULL ||
            sscanf(line, "%lu %d", &done, &failed) != 2 || failed)
            die(kdefs[ki].name, "a worker process failed");
        total += done;
        fclose(out[i]);
        waitpid(pid[i], &status, 0);
    }
    return (double)total / seconds;
}

#define ROUNDS 4 /* thread figures alternate the paths in rounds, so load changes hit all alike */

/* The nine figures of key ki: paths x {1 thread, 2 threads, 2 processes}; prints its rows. */
static void measure_key(size_t ki, struct hsm_key *key, EVP_PKEY *evp, double seconds,
                        double rate[P_MAX][3])
{
    for (int m = 0; m < 2; m++)
        for (int r = 0; r < ROUNDS; r++)
            for (int p = 0; p < P_MAX; p++)
                rate[p][m] +=
                    run_threads(ki, (enum path)p, key, evp, m + 1, seconds / ROUNDS) / ROUNDS;
    for (int p = 0; p < P_MAX; p++) {
        rate[p][2] = run_processes(ki, (enum path)p, seconds);
        printf("%-10s %-18s %10.0f %10.0f %10.0f\n", kdefs[ki].name, path_titles[p], rate[p][0],
               rate[p][1], rate[p][2]);
        fflush(stdout);
    }
}

static char token_dir[64]; /* removed at exit, also when a measurement dies */

static void remove_token_dir(void)
{
    char cmd[128];

    if (token_dir[0] == '\0')
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", token_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_sign: could not remove %s\n", token_dir);
}

/* Makes the temporary token directory and the token itself. */
static void make_token(char *dir, size_t cap)
{
    char conf[300], detail[SIGNET_DETAIL_MAX] = "";
    struct secret *so = secret_new(16), *user = secret_new(16);
    FILE *f;

    snprintf(dir, cap, "/tmp/signet-bench.XXXXXX");
    if (mkdtemp(dir) == NULL)
        die("mkdtemp", "failed");
    snprintf(token_dir, sizeof(token_dir), "%s", dir);
    atexit(remove_token_dir);
    snprintf(conf, sizeof(conf), "%s/tokens", dir);
    if (sg_mkdirs(conf, 0700, detail) != SIGNET_OK)
        die("mkdir", detail);
    snprintf(conf, sizeof(conf), "%s/softhsm2.conf", dir);
    if ((f = fopen(conf, "w")) == NULL)
        die("fopen", conf);
    fprintf(f, "directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n",
            dir);
    fclose(f);
    setenv("SOFTHSM2_CONF", conf, 1);
    if (so == NULL || user == NULL || !secret_set(so, BENCH_SO, 4) ||
        !secret_set(user, BENCH_PIN, 4) ||
        hsm_token_init(module_path, NULL, BENCH_LABEL, so, user, detail) != SIGNET_OK)
        die("hsm_token_init", detail);
    secret_free(so);
    secret_free(user);
}

/* --issue-floor: both issue paths on ec:P-256, 1 thread and 2 processes; four MEASURE lines. */
static int issue_floor(double seconds)
{
    char detail[SIGNET_DETAIL_MAX] = "";
    struct hsm_key *key = NULL;
    EVP_PKEY *evp = NULL;

    if (hsm_keygen(tok, kdefs[0].label, kdefs[0].type, 0, &key, detail) != SIGNET_OK ||
        hsm_key_evp(key, &evp, detail) != SIGNET_OK)
        die(kdefs[0].name, detail);
    for (enum path p = P_ISSUE; p <= P_ISSUE_CERT; p++) {
        double one = run_threads(0, p, key, evp, 1, seconds);
        double two = run_processes(0, p, seconds);
        printf("MEASURE key=%s path=%s mode=1t rate=%.0f\n", kdefs[0].name, path_names[p], one);
        printf("MEASURE key=%s path=%s mode=2p rate=%.0f\n", kdefs[0].name, path_names[p], two);
        fflush(stdout);
    }
    EVP_PKEY_free(evp);
    hsm_key_free(key);
    hsm_token_free(tok);
    return 0;
}

int main(int argc, char **argv)
{
    static const char *const modes[3] = {"1t", "2t", "2p"};
    double seconds = 2, rate[NKEYS][P_MAX][3] = {{{0}}};
    const char *only = NULL;
    int floor_only = 0;
    char dir[64], detail[SIGNET_DETAIL_MAX] = "";
    struct hsm_key *keys[NKEYS] = {0};
    EVP_PKEY *evps[NKEYS] = {0};

    if (getenv("SIGNET_BENCH_MODULE") != NULL)
        module_path = getenv("SIGNET_BENCH_MODULE");
    if (argc == 6 && strcmp(argv[1], "--worker") == 0)
        return worker_main(argv);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--issue-floor") == 0) {
            floor_only = 1;
            continue;
        }
        if (i + 1 >= argc)
            die(argv[i], "needs a value");
        if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--module") == 0)
            module_path = argv[i + 1];
        else if (strcmp(argv[i], "--only") == 0)
            only = argv[i + 1];
        else
            die(argv[i], "unknown option");
        i++;
    }
    if (seconds <= 0 || seconds > 60)
        die("--seconds", "must be in (0, 60]");
    make_token(dir, sizeof(dir));
    open_token();
    raw_load();
    if (floor_only)
        return issue_floor(seconds);
    for (size_t k = 0; k < NKEYS; k++) {
        if (hsm_keygen(tok, kdefs[k].label, kdefs[k].type, 0, &keys[k], detail) != SIGNET_OK ||
            hsm_key_evp(keys[k], &evps[k], detail) != SIGNET_OK)
            die(kdefs[k].name, detail);
    }
    printf("bench_sign: SoftHSM2 token in %s, module %s, %g s per figure, %d-byte message\n", dir,
           module_path, seconds, MSG_LEN);
    printf("%-10s %-18s %10s %10s %10s\n", "key", "path", "1 thread", "2 threads", "2 procs");
    for (size_t k = 0; k < NKEYS; k++) {
        if (only == NULL || strcmp(only, kdefs[k].name) == 0)
            measure_key(k, keys[k], evps[k], seconds, rate[k]);
    }
    for (size_t k = 0; k < NKEYS; k++)
        for (int p = 0; p < P_MAX; p++)
            for (int m = 0; m < 3; m++)
                printf("MEASURE key=%s path=%s mode=%s rate=%.0f\n", kdefs[k].name, path_names[p],
                       modes[m], rate[k][p][m]);
    for (size_t k = 0; k < NKEYS; k++) {
        EVP_PKEY_free(evps[k]);
        hsm_key_free(keys[k]);
    }
    hsm_token_free(tok);
    return 0;
}
