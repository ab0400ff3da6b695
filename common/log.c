/* SPDX-License-Identifier: Apache-2.0 */
/* Error names, detail strings and logging to stderr. */
#include "common.h"

#include <openssl/err.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const err_names[SIGNET_E_MAX] = {
    [SIGNET_OK] = "ok",
    [SIGNET_E_USAGE] = "usage",
    [SIGNET_E_INVALID] = "invalid",
    [SIGNET_E_NOMEM] = "noMemory",
    [SIGNET_E_IO] = "io",
    [SIGNET_E_CONFIG] = "config",
    [SIGNET_E_NOTFOUND] = "notFound",
    [SIGNET_E_EXISTS] = "exists",
    [SIGNET_E_BADCSR] = "badCSR",
    [SIGNET_E_BADKEY] = "badKey",
    [SIGNET_E_POLICY] = "policyViolation",
    [SIGNET_E_LINT] = "lint",
    [SIGNET_E_CRYPTO] = "crypto",
    [SIGNET_E_HSM] = "hsm",
    [SIGNET_E_HSM_UNAVAILABLE] = "hsmUnavailable",
    [SIGNET_E_PIN] = "pinRefused",
    [SIGNET_E_STORE] = "store",
    [SIGNET_E_STORE_FULL] = "storeFull",
    [SIGNET_E_FORBIDDEN] = "forbidden",
    [SIGNET_E_QUEUED] = "queued",
    [SIGNET_E_INTERNAL] = "internal",
};

const char *signet_err_name(enum signet_err err)
{
    if ((unsigned)err >= SIGNET_E_MAX || err_names[err] == NULL)
        return "internal";
    return err_names[err];
}

void sg_detail(char *detail, const char *fmt, ...)
{
    va_list ap;

    if (detail == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(detail, SIGNET_DETAIL_MAX, fmt, ap);
    va_end(ap);
}

void sg_detail_openssl(char *detail)
{
    unsigned long e;
    char buf[256];
    size_t used;

    while ((e = ERR_get_error()) != 0) {
        if (detail == NULL)
            continue;
        used = strlen(detail);
        if (used + 3 >= SIGNET_DETAIL_MAX)
            continue;
        ERR_error_string_n(e, buf, sizeof(buf));
        /* keep only the reason part: the text after the last colon */
        const char *reason = strrchr(buf, ':');
        snprintf(detail + used, SIGNET_DETAIL_MAX - used, "; %s", reason ? reason + 1 : buf);
    }
}

static const char *log_prog = "signet";
static enum sg_log_level log_level = SG_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void sg_log_init(const char *progname, enum sg_log_level level)
{
    if (progname != NULL)
        log_prog = progname;
    if (level < SG_LOG_LEVEL_MAX)
        log_level = level;
}

void sg_log(enum sg_log_level level, const char *fmt, ...)
{
    static const char *const names[SG_LOG_LEVEL_MAX] = {"error", "warning", "info", "debug"};
    char line[2048];
    va_list ap;

    if (level > log_level || level >= SG_LOG_LEVEL_MAX)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&log_lock);
    fprintf(stderr, "%s[%ld]: %s: %s\n", log_prog, (long)getpid(), names[level], line);
    pthread_mutex_unlock(&log_lock);
}

void sg_log_openssl(enum sg_log_level level, const char *context)
{
    unsigned long e;
    char buf[256];

    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        sg_log(level, "%s: %s", context, buf);
    }
}
