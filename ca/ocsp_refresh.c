/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pre-signed OCSP responses (docs/ocsp.md): responses signed at issuance and revocation (a
 * queue), re-signed at half their validity and for any certificate without one (a pass over
 * `cert`), by one refresher thread of the ca process; the entry points that presign, enqueue,
 * refresh and report on them. The responders, the state and the signing of one certificate's
 * responses are in ocsp.c.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocsp.h"
#include "ocsp_internal.h"

#define PASS_BATCH    1024 /* responses signed per pass at most; the next pass comes soon */
#define PASS_MIN_MS   2000 /* adaptive pass interval: twenty times the last pass, in bounds */
#define PASS_MAX_MS   60000
#define PENDING_GRACE 60 /* seconds before a PENDING record counts as interrupted */

/* The CA index of name, or ctx->ncas. */
static size_t ca_index(struct ca_ctx *ctx, const char *name)
{
    size_t i;

    for (i = 0; name != NULL && i < ctx->ncas; i++)
        if (strcmp(ctx->cas[i].name, name) == 0)
            break;
    return name != NULL ? i : ctx->ncas;
}

/* Parses a hex serial into octets. 1 = ok. */
static int parse_serial(const char *hex, unsigned char out[STORE_SERIAL_MAX], size_t *len)
{
    char even[2 * STORE_SERIAL_MAX + 2];
    size_t hl = hex != NULL ? strnlen(hex, sizeof(even)) : sizeof(even);
    long n = -1;

    if (hl >= 1 && hl <= 2 * STORE_SERIAL_MAX) { /* "minimal hex" may have an odd length */
        snprintf(even, sizeof(even), "%s%s", hl % 2 ? "0" : "", hex);
        n = sg_hex_decode(even, out, STORE_SERIAL_MAX);
    }

    *len = n > 0 ? (size_t)n : 0;
    return n > 0;
}

static enum signet_err ocsp_locked_presign(struct ca_ctx *ctx, const char *ca,
                                           const char *serial_hex, char *detail)
{
    struct ocsp_state *s;
    unsigned char serial[STORE_SERIAL_MAX];
    size_t len, i = ca_index(ctx, ca);
    enum signet_err rc;

    if (i >= ctx->ncas) {
        sg_detail(detail, "CA %s: no such CA; see `signet ca list`", ca ? ca : "(none)");
        return SIGNET_E_NOTFOUND;
    }
    if (!parse_serial(serial_hex, serial, &len)) {
        sg_detail(detail, "serial %.48s: give 1 to 20 octets in hex", serial_hex ? serial_hex : "");
        return SIGNET_E_USAGE;
    }
    if ((rc = ca_ocsp_state_get(ctx, &s, detail)) != SIGNET_OK)
        return rc;
    if (!s->r[i].eligible) {
        sg_detail(detail, "CA %s: not served by OCSP (a root, or its key is on no online token)",
                  ca);
        return SIGNET_E_POLICY;
    }
    return ca_ocsp_presign_one(s, i, serial, len, detail);
}

static void ocsp_locked_enqueue(struct ca_ctx *ctx, const char *ca, const char *serial_hex)
{
    struct ocsp_state *s = ca_ocsp_state_of(ctx);
    size_t i = ca_index(ctx, ca);
    struct qent e = {0};

    if (s == NULL || i >= ctx->ncas || !s->r[i].eligible ||
        !parse_serial(serial_hex, e.serial, &e.len))
        return;
    e.ca = i;
    pthread_mutex_lock(&s->mu);
    if (s->qlen < QUEUE_CAP) {
        s->q[(s->qhead + s->qlen) % QUEUE_CAP] = e;
        s->qlen++;
        pthread_cond_signal(&s->cv);
    } else {
        s->stats.queue_dropped++;
    }
    pthread_mutex_unlock(&s->mu);
}

/* ---- the pass ---- */

struct pass_arg {
    struct ocsp_state *s;
    size_t ca;
    int64_t now;
    struct store_cert **work; /* copies of the records to sign */
    size_t nwork, cap;
    uint64_t overdue, stale, missing;
};

/* Per certificate: counts and picks those whose response is missing, wrong or half-way. */
static int pass_cb(const struct store_cert *c, void *arg)
{
    struct pass_arg *a = arg;
    struct ca_ent *ca = &a->s->ctx->cas[a->ca];
    int64_t tu = 0, nu = 0;
    int status = -1, need, want;
    enum ocsp_freshness fr;
    size_t len;
    enum signet_err rc;

    if (c->not_after < a->now ||
        (c->state == STORE_CERT_PENDING && a->now - c->created < PENDING_GRACE))
        return 1; /* expired, or an issuance still in flight */
    want = c->state == STORE_CERT_REVOKED ? 1 : c->state == STORE_CERT_PENDING ? 2 : 0;
    rc = store_ocsp_read(a->s->ctx->st, ca->store_id, c->serial, c->serial_len, STORE_OCSP_SHA1,
                         NULL, 0, &len, &tu, &nu, &status, NULL);
    fr = ocsp_freshness(a->now, tu, nu);
    need = rc != SIGNET_OK || status != want || fr != OCSP_FRESH;
    if (rc != SIGNET_OK)
        a->missing++;
    else if (fr == OCSP_STALE)
        a->stale++;
    else if (fr == OCSP_OVERDUE)
        a->overdue++;
    if (need && a->nwork < a->cap) {
        struct store_cert *cp = calloc(1, sizeof(*cp));
        if (cp != NULL) {
            *cp = *c;
            cp->der = NULL;
            cp->der_len = 0;
            a->work[a->nwork++] = cp;
        }
    }
    return 1;
}

/* 1 when ca_ocsp_stop asked the refresher to stop (a SIGTERM must not wait for a whole pass). */
static int stop_asked(struct ocsp_state *s)
{
    int v;

    pthread_mutex_lock(&s->mu);
    v = s->stopping;
    pthread_mutex_unlock(&s->mu);
    return v;
}

/* One full pass over every served CA; returns 1 when the batch was full (more to do soon). */
static int pass_run(struct ocsp_state *s, char *detail)
{
    struct ca_ctx *ctx = s->ctx;
    struct pass_arg a = {.s = s, .now = sg_now(), .cap = PASS_BATCH};
    uint64_t responders = 0;
    int64_t until = 0;
    int full = 0;

    if ((a.work = calloc(PASS_BATCH, sizeof(*a.work))) == NULL)
        return 0;
    for (size_t i = 0; i < ctx->ncas && !stop_asked(s); i++) {
        char why[SIGNET_DETAIL_MAX] = "";
        enum signet_err rc;
        if (!s->r[i].eligible)
            continue;
        pthread_mutex_lock(&s->sign_mu);
        if (ca_ocsp_responder_ready(s, i, why) != SIGNET_OK) {
            sg_log(SG_LOG_ERR, "OCSP: CA %s: responder not ready: %s", ctx->cas[i].name, why);
            sg_detail(detail, "%s", why);
        } else {
            int64_t na = ca_ocsp_tsecs(X509_get0_notAfter(s->r[i].cert));
            char pwhy[SIGNET_DETAIL_MAX] = "";
            responders++;
            /* the previous generation's responder exists even before it has anything to sign */
            if (ocsp_prev_ready(ctx, &ctx->cas[i], &s->r[i].prev, s->r[i].key, s->r[i].days,
                                pwhy) != SIGNET_OK)
                sg_log(SG_LOG_ERR, "OCSP: CA %s: previous generation: %s", ctx->cas[i].name, pwhy);
            until = until == 0 || na < until ? na : until;
        }
        pthread_mutex_unlock(&s->sign_mu);
        a.ca = i;
        a.nwork = 0;
        store_cert_iter(ctx->st, ctx->cas[i].store_id, 0, pass_cb, &a, NULL);
        full |= a.nwork == a.cap;
        for (size_t k = 0; k < a.nwork; k++) {
            char d[SIGNET_DETAIL_MAX] = "";
            int64_t tu = 0, nu = 0;
            int st = -1;
            size_t len;
            int had;
            if (stop_asked(s)) { /* the rest waits for the next start */
                for (; k < a.nwork; k++)
                    free(a.work[k]);
                break;
            }
            had = store_ocsp_read(ctx->st, ctx->cas[i].store_id, a.work[k]->serial,
                                  a.work[k]->serial_len, STORE_OCSP_SHA1, NULL, 0, &len, &tu, &nu,
                                  &st, NULL) == SIGNET_OK;
            rc = ca_ocsp_presign_one(s, i, a.work[k]->serial, a.work[k]->serial_len, d);
            if (rc != SIGNET_OK) {
                sg_log(SG_LOG_ERR, "OCSP: CA %s: %s", ctx->cas[i].name, d);
            } else if (!had) {
                a.missing--;
            } else if (ocsp_freshness(a.now, tu, nu) == OCSP_STALE) {
                a.stale--;
            } else if (ocsp_freshness(a.now, tu, nu) == OCSP_OVERDUE) {
                a.overdue--;
            }
            free(a.work[k]);
        }
    }
    free(a.work);
    pthread_mutex_lock(&s->mu);
    s->stats.responders = responders;
    s->stats.responder_until = until;
    s->stats.overdue = a.overdue;
    s->stats.stale = a.stale;
    s->stats.missing = a.missing;
    s->stats.last_pass = sg_now();
    pthread_mutex_unlock(&s->mu);
    return full;
}

static enum signet_err ocsp_locked_refresh(struct ca_ctx *ctx, char *detail)
{
    struct ocsp_state *s;
    enum signet_err rc = ca_ocsp_state_get(ctx, &s, detail);
    char why[SIGNET_DETAIL_MAX] = "";

    if (rc != SIGNET_OK)
        return rc;
    while (pass_run(s, why))
        ;
    return SIGNET_OK;
}

/* Signs what is queued (mu held on entry and exit). */
static void drain_queue(struct ocsp_state *s)
{
    while (s->qlen > 0 && !s->stopping) {
        struct qent e = s->q[s->qhead];
        char d[SIGNET_DETAIL_MAX] = "";
        s->qhead = (s->qhead + 1) % QUEUE_CAP;
        s->qlen--;
        pthread_mutex_unlock(&s->mu);
        if (ca_ocsp_presign_one(s, e.ca, e.serial, e.len, d) != SIGNET_OK)
            sg_log(SG_LOG_ERR, "OCSP: CA %s: %s", s->ctx->cas[e.ca].name, d);
        pthread_mutex_lock(&s->mu);
    }
}

/* The refresher: the queue first, then a pass whenever its adaptive interval has passed. */
static void *refresher(void *arg)
{
    struct ocsp_state *s = arg;
    uint64_t next = 0, interval = PASS_MIN_MS;

    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        uint64_t now = sg_mono_ms();
        drain_queue(s);
        if (s->stopping)
            break;
        if (now >= next) {
            uint64_t t0 = sg_mono_ms();
            char d[SIGNET_DETAIL_MAX] = "";
            int full;
            pthread_mutex_unlock(&s->mu);
            full = pass_run(s, d);
            pthread_mutex_lock(&s->mu);
            interval = (sg_mono_ms() - t0) * 20;
            interval = interval < PASS_MIN_MS   ? PASS_MIN_MS
                       : interval > PASS_MAX_MS ? PASS_MAX_MS
                                                : interval;
            next = sg_mono_ms() + (full ? 100 : interval);
            continue;
        }
        if (s->qlen == 0) {
            struct timespec ts;
            uint64_t wait = next - now;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += (time_t)(wait / 1000);
            ts.tv_nsec += (long)(wait % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

enum signet_err ca_ocsp_start(struct ca_ctx *ctx, char *detail)
{
    struct ocsp_state *s;
    enum signet_err rc = ca_ocsp_state_get(ctx, &s, detail);

    if (rc != SIGNET_OK)
        return rc;
    pthread_mutex_lock(&s->mu);
    if (!s->running) {
        s->stopping = 0;
        if (pthread_create(&s->thread, NULL, refresher, s) != 0) {
            sg_detail(detail, "OCSP: cannot start the refresher thread: %s", strerror(errno));
            rc = SIGNET_E_INTERNAL;
        } else {
            s->running = 1;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void ocsp_locked_stats(struct ca_ctx *ctx, struct ca_ocsp_stats *out)
{
    struct ocsp_state *s = ca_ocsp_state_of(ctx);

    memset(out, 0, sizeof(*out));
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    out->queue_len = s->qlen;
    pthread_mutex_unlock(&s->mu);
}

enum signet_err ca_ocsp_health(struct ca_ctx *ctx, char *detail)
{
    struct ca_ocsp_stats st;

    ca_ocsp_stats(ctx, &st);
    if (st.stale > 0 || st.overdue > 0) {
        sg_detail(detail,
                  "ocsp: %llu response(s) stale and %llu overdue: the refresher is behind; "
                  "check the HSM and the log",
                  (unsigned long long)st.stale, (unsigned long long)st.overdue);
        return SIGNET_E_HSM_UNAVAILABLE;
    }
    return SIGNET_OK;
}

/* ---- entry points: each holds the states' lifetime lock while it uses one ---- */

enum signet_err ca_ocsp_presign(struct ca_ctx *ctx, const char *ca, const char *serial_hex,
                                char *detail)
{
    enum signet_err rc;

    ca_ocsp_life_read();
    rc = ocsp_locked_presign(ctx, ca, serial_hex, detail);
    ca_ocsp_life_done();
    return rc;
}

void ca_ocsp_enqueue(struct ca_ctx *ctx, const char *ca, const char *serial_hex)
{
    ca_ocsp_life_read();
    ocsp_locked_enqueue(ctx, ca, serial_hex);
    ca_ocsp_life_done();
}

enum signet_err ca_ocsp_refresh(struct ca_ctx *ctx, char *detail)
{
    enum signet_err rc;

    ca_ocsp_life_read();
    rc = ocsp_locked_refresh(ctx, detail);
    ca_ocsp_life_done();
    return rc;
}

void ca_ocsp_stats(struct ca_ctx *ctx, struct ca_ocsp_stats *out)
{
    ca_ocsp_life_read();
    ocsp_locked_stats(ctx, out);
    ca_ocsp_life_done();
}
