/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Secret buffers: locked in memory, wiped on every exit path, and the credential sources of
 * signet.conf (file:, env:, prompt).
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

struct secret {
    unsigned char *buf; /* cap bytes, mlocked when the system allowed it */
    size_t len;         /* bytes in use */
    size_t cap;         /* capacity */
    int locked;         /* 1 when mlock succeeded, so munlock is owed */
};

struct secret *secret_new(size_t cap)
{
    struct secret *s;

    if (cap == 0 || cap > SECRET_MAX)
        return NULL;
    if ((s = calloc(1, sizeof(*s))) == NULL)
        return NULL;
    if ((s->buf = OPENSSL_zalloc(cap)) == NULL) {
        free(s);
        return NULL;
    }
    s->cap = cap;
    /* mlock may fail under RLIMIT_MEMLOCK; the buffer is still wiped, so carry on. */
    s->locked = mlock(s->buf, cap) == 0;
    return s;
}

void secret_free(struct secret *s)
{
    if (s == NULL)
        return;
    OPENSSL_cleanse(s->buf, s->cap);
    if (s->locked)
        munlock(s->buf, s->cap);
    OPENSSL_clear_free(s->buf, s->cap);
    free(s);
}

int secret_set(struct secret *s, const void *data, size_t len)
{
    if (len > s->cap)
        return 0;
    OPENSSL_cleanse(s->buf, s->cap);
    memcpy(s->buf, data, len);
    s->len = len;
    return 1;
}

struct secret *secret_dup(const struct secret *s)
{
    struct secret *d;

    if (s == NULL || (d = secret_new(s->cap)) == NULL)
        return NULL;
    secret_set(d, s->buf, s->len);
    return d;
}

const unsigned char *secret_data(const struct secret *s)
{
    return s->buf;
}

size_t secret_len(const struct secret *s)
{
    return s->len;
}

int secret_equal(const struct secret *a, const struct secret *b)
{
    if (a->len != b->len)
        return 0;
    return CRYPTO_memcmp(a->buf, b->buf, a->len) == 0;
}

/* Drops one trailing "\n" or "\r\n". */
static void trim_newline(struct secret *s)
{
    if (s->len > 0 && s->buf[s->len - 1] == '\n')
        s->buf[--s->len] = 0;
    if (s->len > 0 && s->buf[s->len - 1] == '\r')
        s->buf[--s->len] = 0;
}

static enum signet_err secret_from_file(const char *path, const char *what, struct secret *s,
                                        char *detail)
{
    struct stat st;
    int fd = -1;
    ssize_t n;
    size_t got = 0;
    enum signet_err rc = SIGNET_E_CONFIG;

    if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        sg_detail(detail, "%s: cannot open credential file %s: %s", what, path, strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        sg_detail(detail, "%s: credential file %s is not a regular file", what, path);
        goto out;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        sg_detail(detail,
                  "%s: credential file %s has mode %04o: group or others may read it; "
                  "run chmod 600 %s",
                  what, path, (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    /* Read straight into the locked buffer: no unlocked copy of the secret ever exists. */
    while (got < s->cap && (n = read(fd, s->buf + got, s->cap - got)) > 0)
        got += (size_t)n;
    if (got == s->cap) {
        sg_detail(detail, "%s: credential file %s is larger than %zu bytes", what, path, s->cap);
        goto out;
    }
    s->len = got;
    trim_newline(s);
    if (s->len == 0) {
        sg_detail(detail, "%s: credential file %s is empty", what, path);
        goto out;
    }
    rc = SIGNET_OK;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

static enum signet_err secret_from_env(const char *var, const char *what, struct secret *s,
                                       char *detail)
{
    const char *v = getenv(var);

    if (v == NULL || *v == '\0') {
        sg_detail(detail, "%s: environment variable %s is not set", what, var);
        return SIGNET_E_CONFIG;
    }
    if (!secret_set(s, v, strlen(v))) {
        sg_detail(detail, "%s: environment variable %s is longer than %zu bytes", what, var,
                  s->cap);
        return SIGNET_E_CONFIG;
    }
    return SIGNET_OK;
}

static enum signet_err secret_from_prompt(const char *what, struct secret *s, char *detail)
{
    struct termios old, quiet;
    int fd = -1, c;
    unsigned char ch;
    enum signet_err rc = SIGNET_E_CONFIG;

    if ((fd = open("/dev/tty", O_RDWR | O_CLOEXEC)) < 0) {
        sg_detail(detail, "%s: credential source 'prompt' needs a terminal, and there is none",
                  what);
        return SIGNET_E_CONFIG;
    }
    if (tcgetattr(fd, &old) != 0)
        goto out;
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    dprintf(fd, "PIN for %s: ", what);
    tcsetattr(fd, TCSAFLUSH, &quiet);
    s->len = 0;
    while ((c = (int)read(fd, &ch, 1)) == 1 && ch != '\n') {
        if (s->len < s->cap)
            s->buf[s->len++] = ch;
    }
    ch = 0;
    tcsetattr(fd, TCSAFLUSH, &old);
    dprintf(fd, "\n");
    if (s->len == 0) {
        sg_detail(detail, "%s: no PIN entered", what);
        goto out;
    }
    rc = SIGNET_OK;
out:
    close(fd);
    return rc;
}

enum signet_err secret_load(const char *spec, const char *basedir, const char *what,
                            struct secret **out, char *detail)
{
    struct secret *s = NULL;
    enum signet_err rc;
    char path[4096];

    *out = NULL;
    if (what == NULL)
        what = "credential";
    if (spec == NULL) {
        sg_detail(detail,
                  "%s: no credential source configured (pin = file:PATH | env:VAR | prompt)", what);
        return SIGNET_E_CONFIG;
    }
    if ((s = secret_new(SECRET_MAX)) == NULL) {
        sg_detail(detail, "%s: cannot allocate a locked buffer", what);
        return SIGNET_E_NOMEM;
    }
    if (strncmp(spec, "file:", 5) == 0) {
        const char *p = spec + 5;
        if (p[0] != '/' && basedir != NULL)
            snprintf(path, sizeof(path), "%s/%s", basedir, p);
        else
            snprintf(path, sizeof(path), "%s", p);
        rc = secret_from_file(path, what, s, detail);
    } else if (strncmp(spec, "env:", 4) == 0) {
        rc = secret_from_env(spec + 4, what, s, detail);
    } else if (strcmp(spec, "prompt") == 0) {
        rc = secret_from_prompt(what, s, detail);
    } else if (strcmp(spec, "quorum") == 0) {
        sg_detail(detail,
                  "%s: this credential is activated by a quorum of custodians in a ceremony", what);
        rc = SIGNET_E_CONFIG;
    } else {
        /* never echo the value: an operator may have written the PIN itself there */
        sg_detail(detail, "%s: unknown credential source (use file:PATH, env:VAR or prompt)", what);
        rc = SIGNET_E_CONFIG;
    }
    if (rc != SIGNET_OK) {
        secret_free(s);
        return rc;
    }
    *out = s;
    return SIGNET_OK;
}

int sg_no_core_dumps(void)
{
    struct rlimit rl = {0, 0};
    int ok = setrlimit(RLIMIT_CORE, &rl) == 0;

    /* also keeps other processes of the same user from reading our memory via ptrace */
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0 && ok;
}
