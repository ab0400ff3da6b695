/* SPDX-License-Identifier: Apache-2.0 */
#include "faultfix.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FAULTFIX_MSG_MAX 64

long long faultfix_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Resolves one symbol of libfaulthsm.so into *slot; 1 = ok. */
static int faultfix_sym(void *dl, const char *name, void *slot)
{
    void *p = dlsym(dl, name);

    if (p == NULL) {
        fprintf(stderr, "faultfix: %s: %s\n", name, dlerror());
        return 0;
    }
    memcpy(slot, &p, sizeof(p));
    return 1;
}

int faultfix_setup(struct faultfix *fx)
{
    const char *label = FAULTFIX_LABEL;

    memset(fx, 0, sizeof(*fx));
    for (size_t i = 0; i < FAULTFIX_FDS; i++)
        fx->fds[i] = -1;
    if (!tokenfix_setup(&fx->tok, &label, 1))
        return 0;
    snprintf(fx->control, sizeof(fx->control), "%s/faulthsm.control", fx->tok.dir);
    setenv("FAULTHSM_CONTROL", fx->control, 1);
    if (getenv("FAULTHSM_MODULE") == NULL)
        setenv("FAULTHSM_MODULE", SIGNET_SOFTHSM_MODULE, 1);
    if (!faultfix_control(fx, ""))
        return 0;
    /* hsmbind dlopens the same path and so gets this same instance and its counters */
    if ((fx->dl = dlopen(SIGNET_FAULTHSM_MODULE, RTLD_NOW | RTLD_LOCAL)) == NULL) {
        fprintf(stderr, "faultfix: %s\n", dlerror());
        return 0;
    }
    return faultfix_sym(fx->dl, "faulthsm_calls", &fx->calls) &&
           faultfix_sym(fx->dl, "faulthsm_faults", &fx->faults) &&
           faultfix_sym(fx->dl, "faulthsm_corruptions", &fx->corruptions) &&
           faultfix_sym(fx->dl, "faulthsm_powerlosses", &fx->powerlosses) &&
           faultfix_sym(fx->dl, "faulthsm_outage_end_ms", &fx->outage_end_ms) &&
           faultfix_sym(fx->dl, "faulthsm_reset_counts", &fx->reset_counts);
}

void faultfix_teardown(struct faultfix *fx)
{
    if (fx == NULL)
        return;
    for (size_t i = 0; i < FAULTFIX_FDS; i++)
        if (fx->fds[i] >= 0)
            close(fx->fds[i]);
    /* the module stays loaded: hsmbind may still hold it */
    tokenfix_teardown(&fx->tok);
}

/*
 * Writes a new file and renames it over the control file. The descriptor of each file written is
 * kept open so that no later control file gets a recycled inode number: with coarse file times,
 * a recycled inode and an equal size would hide a change from the module's stat check.
 */
int faultfix_control(struct faultfix *fx, const char *text)
{
    char tmp[320];
    size_t len = strlen(text);
    int fd;

    snprintf(tmp, sizeof(tmp), "%s.%u", fx->control, fx->generation);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
        return 0;
    if (write(fd, text, len) != (ssize_t)len || rename(tmp, fx->control) != 0) {
        close(fd);
        return 0;
    }
    if (fx->fds[fx->generation % FAULTFIX_FDS] >= 0)
        close(fx->fds[fx->generation % FAULTFIX_FDS]);
    fx->fds[fx->generation % FAULTFIX_FDS] = fd;
    fx->generation++;
    return 1;
}

enum signet_err faultfix_open(const char *pin, unsigned pool_size, struct hsm_token **out,
                              char *detail)
{
    struct hsm_token_config cfg;
    struct secret *s = secret_new(64);

    memset(&cfg, 0, sizeof(cfg));
    cfg.module = SIGNET_FAULTHSM_MODULE;
    cfg.token_label = FAULTFIX_LABEL;
    cfg.pool_size = pool_size;
    if (pin == NULL)
        pin = TOKENFIX_PIN;
    if (s == NULL || !secret_set(s, pin, strlen(pin))) {
        secret_free(s);
        return SIGNET_E_NOMEM;
    }
    return hsm_token_open(&cfg, s, out, detail);
}

int faultfix_token_with_keys(struct faultfix_token *t, unsigned pool_size, ...)
{
    char detail[SIGNET_DETAIL_MAX] = "";
    const char *label;
    size_t n = 0;
    va_list ap;
    int ok = 0;

    memset(t, 0, sizeof(*t));
    if (!faultfix_setup(&t->fx)) {
        fprintf(stderr, "faultfix: the token or libfaulthsm.so could not be set up\n");
        goto out;
    }
    if (faultfix_open(NULL, pool_size, &t->tok, detail) != SIGNET_OK)
        goto out;
    va_start(ap, pool_size);
    while ((label = va_arg(ap, const char *)) != NULL && n < FAULTFIX_KEYS &&
           hsm_keygen(t->tok, label, HSM_KEY_EC_P256, 0, &t->key[n], detail) == SIGNET_OK)
        n++;
    va_end(ap);
    if (label != NULL) {
        if (n == FAULTFIX_KEYS)
            snprintf(detail, sizeof(detail), "more than %d key labels", FAULTFIX_KEYS);
        goto out;
    }
    ok = 1;
out:
    if (!ok) {
        if (detail[0] != '\0')
            fprintf(stderr, "faultfix: %s\n", detail);
        faultfix_done(t);
    }
    return ok;
}

void faultfix_done(struct faultfix_token *t)
{
    for (size_t i = 0; i < FAULTFIX_KEYS; i++) {
        hsm_key_free(t->key[i]);
        t->key[i] = NULL;
    }
    hsm_token_free(t->tok);
    t->tok = NULL;
    faultfix_teardown(&t->fx);
}

/* The message number n; returns its length. */
static size_t faultfix_message(unsigned n, unsigned char *msg)
{
    return (size_t)snprintf((char *)msg, FAULTFIX_MSG_MAX, "faulthsm test message %u", n);
}

enum signet_err faultfix_sign(struct hsm_key *key, unsigned n, unsigned char *sig, size_t *siglen,
                              char *detail)
{
    unsigned char msg[FAULTFIX_MSG_MAX], dig[EVP_MAX_MD_SIZE];
    size_t len = faultfix_message(n, msg);
    unsigned diglen = 0;

    if (hsm_key_type(key) == HSM_KEY_ED25519)
        return hsm_sign(key, NULL, msg, len, sig, siglen, detail);
    if (!EVP_Digest(msg, len, dig, &diglen, EVP_sha256(), NULL))
        return SIGNET_E_CRYPTO;
    return hsm_sign(key, EVP_sha256(), dig, diglen, sig, siglen, detail);
}

int faultfix_verify(struct hsm_key *key, unsigned n, const unsigned char *sig, size_t siglen)
{
    unsigned char msg[FAULTFIX_MSG_MAX];
    size_t len = faultfix_message(n, msg);
    EVP_PKEY *pub = hsm_key_public(key);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    const EVP_MD *md = hsm_key_type(key) == HSM_KEY_ED25519 ? NULL : EVP_sha256();
    int ok = 0;

    if (pub == NULL || ctx == NULL)
        goto out;
    if (EVP_DigestVerifyInit(ctx, NULL, md, NULL, pub) != 1)
        goto out;
    ok = EVP_DigestVerify(ctx, sig, siglen, msg, len) == 1;
out:
    EVP_MD_CTX_free(ctx);
    return ok;
}
