/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRL scheduler of signetd's ca process: a revocation marks its CA's CRL dirty and a new one
 * is generated (ca_crl_generate, crl.c) once [ca.NAME] crl_delay has passed; every CRL is
 * re-signed at half its validity, or a day before its nextUpdate when that comes first. One
 * thread, one generation at a time; a failed generation is tried again a minute later.
 */
#include "internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY 86400

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    int running, stop;
    struct ca_ctx *ctx;
    size_t n;
    int64_t *dirty_at; /* per ctx->cas index: first dirty mark, 0 = clean */
    int64_t *due_at;   /* next re-signing; 0 = not served */
    int64_t *delay;
} sched = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* When to re-sign a CRL valid from this to next: at half its validity or a day before the end. */
static int64_t resign_at(int64_t this_update, int64_t next_update)
{
    int64_t half = this_update + (next_update - this_update) / 2, day = next_update - DAY;

    return half < day ? half : day;
}

/* 1 when the scheduler serves the CA: a subordinate with a certificate and a crl_url. */
static int served(const struct ca_ent *ca)
{
    return ca->parent[0] != '\0' && ca->crl_url != NULL && ca->cert != NULL && ca->store_id != 0;
}

void ca_crl_mark_dirty(struct ca_ctx *ctx, const char *name)
{
    pthread_mutex_lock(&sched.mu);
    for (size_t i = 0; sched.running && sched.ctx == ctx && i < sched.n; i++) {
        if (strcmp(ctx->cas[i].name, name) == 0 && sched.due_at[i] != 0) {
            if (sched.dirty_at[i] == 0)
                sched.dirty_at[i] = sg_now();
            pthread_cond_signal(&sched.cv);
        }
    }
    pthread_mutex_unlock(&sched.mu);
}

/* The CA due first (or SIZE_MAX) and when the next one is due. Under sched.mu. */
static size_t next_due(int64_t now, int64_t *out_when)
{
    int64_t when = now + 60, due;

    for (size_t i = 0; i < sched.n; i++) {
        if (sched.due_at[i] == 0)
            continue;
        due = sched.due_at[i];
        if (sched.dirty_at[i] != 0 && sched.dirty_at[i] + sched.delay[i] < due)
            due = sched.dirty_at[i] + sched.delay[i];
        if (due <= now)
            return i;
        if (due < when)
            when = due;
    }
    *out_when = when;
    return SIZE_MAX;
}

static void *sched_main(void *arg)
{
    struct ca_ctx *ctx = arg;
    struct ca_crl_result res;
    char detail[SIGNET_DETAIL_MAX];
    int64_t when = 0;
    size_t i;

    pthread_mutex_lock(&sched.mu);
    while (!sched.stop) {
        if ((i = next_due(sg_now(), &when)) == SIZE_MAX) {
            struct timespec ts = {(time_t)when, 0};
            pthread_cond_timedwait(&sched.cv, &sched.mu, &ts);
            continue;
        }
        sched.dirty_at[i] = 0;
        pthread_mutex_unlock(&sched.mu);
        detail[0] = '\0';
        if (ca_crl_generate(ctx, ctx->cas[i].name, &res, detail) == SIGNET_OK) {
            when = resign_at(sg_now(), res.next_update);
        } else {
            sg_log(SG_LOG_ERR, "CRL scheduler: CA %s: %s; trying again in a minute",
                   ctx->cas[i].name, detail);
            when = sg_now() + 60;
        }
        pthread_mutex_lock(&sched.mu);
        sched.due_at[i] = when;
    }
    pthread_mutex_unlock(&sched.mu);
    return NULL;
}

/* Re-signing time of a CA from its newest stored CRL (now when it has none). */
static int64_t first_due(int64_t this_update, int64_t next_update)
{
    int64_t now = sg_now();

    if (this_update == 0 || resign_at(this_update, next_update) <= now)
        return now;
    return resign_at(this_update, next_update);
}

/* See ca.h. */
enum signet_err ca_crl_scheduler_start(struct ca_ctx *ctx, char *detail)
{
    int64_t tu, nu;
    enum signet_err err = SIGNET_OK;

    pthread_mutex_lock(&sched.mu);
    if (sched.running) {
        pthread_mutex_unlock(&sched.mu);
        sg_detail(detail, "the CRL scheduler is already running");
        return SIGNET_E_USAGE;
    }
    sched.n = ctx->ncas;
    sched.dirty_at = calloc(ctx->ncas + 1, sizeof(int64_t));
    sched.due_at = calloc(ctx->ncas + 1, sizeof(int64_t));
    sched.delay = calloc(ctx->ncas + 1, sizeof(int64_t));
    if (sched.dirty_at == NULL || sched.due_at == NULL || sched.delay == NULL) {
        err = SIGNET_E_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < ctx->ncas; i++) {
        if (!served(&ctx->cas[i]))
            continue;
        if ((err = ca_crl_sched_plan(ctx, &ctx->cas[i], &sched.delay[i], &tu, &nu, detail)) !=
            SIGNET_OK)
            goto out;
        sched.due_at[i] = first_due(tu, nu);
    }
    sched.ctx = ctx;
    sched.stop = 0;
    if (pthread_create(&sched.th, NULL, sched_main, ctx) != 0) {
        sg_detail(detail, "cannot start the CRL scheduler thread: %s", strerror(errno));
        err = SIGNET_E_INTERNAL;
        goto out;
    }
    sched.running = 1;
out:
    if (err != SIGNET_OK) {
        free(sched.dirty_at), free(sched.due_at), free(sched.delay);
        sched.dirty_at = sched.due_at = sched.delay = NULL;
        sched.n = 0;
    }
    pthread_mutex_unlock(&sched.mu);
    return err;
}

void ca_crl_scheduler_stop(struct ca_ctx *ctx)
{
    pthread_mutex_lock(&sched.mu);
    if (!sched.running || sched.ctx != ctx) {
        pthread_mutex_unlock(&sched.mu);
        return;
    }
    sched.stop = 1;
    pthread_cond_signal(&sched.cv);
    pthread_mutex_unlock(&sched.mu);
    pthread_join(sched.th, NULL);
    pthread_mutex_lock(&sched.mu);
    free(sched.dirty_at), free(sched.due_at), free(sched.delay);
    sched.dirty_at = sched.due_at = sched.delay = NULL;
    sched.n = 0;
    sched.running = 0;
    sched.ctx = NULL;
    pthread_mutex_unlock(&sched.mu);
}
