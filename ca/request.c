/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The approval queue (docs/approval.md): requests for profiles with approval = manual wait in
 * the store's request database until an operator approves them (then they are issued through
 * the normal pipeline, their policy checked again) or rejects them with a reason. Every step is
 * audited.
 */
#include "internal.h"

#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OBJECT_MAX (STORE_REQUEST_ID_LEN + 2 * CA_NAME_MAX + 2 * STORE_SERIAL_MAX + 200)

struct queue_arg {
    struct store_request *r;
    char object[OBJECT_MAX];
};

static enum signet_err queue_fn(struct store_txn *txn, void *arg, char *detail)
{
    struct queue_arg *a = arg;
    enum signet_err rc = store_txn_request_add(txn, a->r, detail);

    if (rc == SIGNET_OK) {
        snprintf(a->object, sizeof(a->object), "request %s: CA %s profile %s", a->r->id, a->r->ca,
                 a->r->profile);
        rc = store_txn_audit(txn, a->r->requester, "request.queue", a->object, detail);
    }
    return rc;
}

/* See internal.h. */
enum signet_err ca_request_queue(struct ca_ctx *ctx, const char *ca, const char *profile,
                                 const char *requester, const struct policy_csr *csr, char *out_id,
                                 char *detail)
{
    struct store_request r;
    struct queue_arg a = {&r, ""};
    size_t len = 0;
    const unsigned char *der = policy_csr_der(csr, &len);
    enum signet_err rc;

    memset(&r, 0, sizeof(r));
    out_id[0] = '\0';
    if (len == 0 || len > STORE_DER_MAX) {
        sg_detail(detail, "profile %s: a CSR of %zu bytes does not fit the approval queue", profile,
                  len);
        return SIGNET_E_BADCSR;
    }
    snprintf(r.ca, sizeof(r.ca), "%s", ca);
    snprintf(r.profile, sizeof(r.profile), "%s", profile);
    snprintf(r.requester, sizeof(r.requester), "%s", requester ? requester : "cli");
    r.csr = (unsigned char *)der; /* read, not freed, by the write */
    r.csr_len = len;
    rc = store_write(ctx->st, queue_fn, &a, detail);
    if (rc != SIGNET_OK)
        return rc;
    memcpy(out_id, r.id, sizeof(r.id));
    sg_log(SG_LOG_INFO, "request %s queued: CA %s profile %s for %s", r.id, ca, profile,
           r.requester);
    sg_detail(detail,
              "request %s queued: profile %s needs an operator's approval; an operator runs "
              "`signet request approve --id %s` (or reject)",
              r.id, profile, r.id);
    return SIGNET_E_QUEUED;
}

enum signet_err ca_request_get(struct ca_ctx *ctx, const char *id, struct store_request **out,
                               char *detail)
{
    return store_request_get(ctx->st, id, out, detail);
}

struct iter_arg {
    const char *ca;
    store_request_cb cb;
    void *arg;
};

static int iter_filter(const struct store_request *r, void *arg)
{
    struct iter_arg *a = arg;

    return a->ca != NULL && strcmp(a->ca, r->ca) != 0 ? 1 : a->cb(r, a->arg);
}

enum signet_err ca_request_iter(struct ca_ctx *ctx, const char *ca, enum store_request_state state,
                                store_request_cb cb, void *arg, char *detail)
{
    struct iter_arg a = {ca, cb, arg};

    if (ca != NULL && ca_ent_find(ctx, ca) == NULL) {
        sg_detail(detail, "CA %s: no such CA; see `signet ca list`", ca);
        return SIGNET_E_NOTFOUND;
    }
    return store_request_iter(ctx->st, state, iter_filter, &a, detail);
}

/* Says why a request that is not pending cannot be decided again. SIGNET_E_EXISTS. */
static enum signet_err not_pending(const struct store_request *r, char *detail)
{
    char when[32];

    sg_format_time(r->decided, when, sizeof(when));
    if (r->state == STORE_REQUEST_REJECTED)
        sg_detail(detail, "request %s is not pending: rejected by %s at %s (%s); nothing done",
                  r->id, r->decided_by, when, r->reason);
    else if (r->serial[0] == '\0')
        sg_detail(detail,
                  "request %s is not pending: %s started approving it at %s; if that issuance "
                  "was interrupted, see docs/approval.md; nothing done",
                  r->id, r->decided_by, when);
    else
        sg_detail(detail,
                  "request %s is not pending: approved by %s at %s (serial %s); nothing done",
                  r->id, r->decided_by, when, r->serial);
    return SIGNET_E_EXISTS;
}

/* One decision step inside a write: what the request must be and what it becomes. */
enum step { STEP_CLAIM, STEP_RELEASE, STEP_APPROVED, STEP_REJECT };

struct decide_arg {
    enum step step;
    const char *id;
    const char *who;
    const char *text;          /* the serial (approved) or the reason (reject) */
    struct store_request *out; /* STEP_CLAIM: a copy of the claimed request */
};

/* Applies one step to the request within the transaction; see enum step. */
static enum signet_err decide_fn(struct store_txn *txn, void *arg, char *detail)
{
    struct decide_arg *a = arg;
    struct store_request *r = NULL;
    char object[OBJECT_MAX];
    enum signet_err rc = store_txn_request_get(txn, a->id, &r, detail);
    int claimed;

    if (rc != SIGNET_OK)
        return rc;
    claimed = r->state == STORE_REQUEST_APPROVED && r->serial[0] == '\0' &&
              strcmp(r->decided_by, a->who) == 0;
    if ((a->step == STEP_CLAIM || a->step == STEP_REJECT) && r->state != STORE_REQUEST_PENDING) {
        rc = not_pending(r, detail);
        goto out;
    }
    if ((a->step == STEP_RELEASE || a->step == STEP_APPROVED) && !claimed) {
        rc = not_pending(r, detail);
        goto out;
    }
    r->state = a->step == STEP_RELEASE  ? STORE_REQUEST_PENDING
               : a->step == STEP_REJECT ? STORE_REQUEST_REJECTED
                                        : STORE_REQUEST_APPROVED;
    r->decided = a->step == STEP_RELEASE ? 0 : sg_now();
    snprintf(r->decided_by, sizeof(r->decided_by), "%s", a->step == STEP_RELEASE ? "" : a->who);
    if (a->step == STEP_APPROVED)
        snprintf(r->serial, sizeof(r->serial), "%s", a->text);
    if (a->step == STEP_REJECT)
        snprintf(r->reason, sizeof(r->reason), "%s", a->text);
    if ((rc = store_txn_request_put(txn, r, detail)) != SIGNET_OK)
        goto out;
    if (a->step == STEP_APPROVED || a->step == STEP_REJECT) {
        snprintf(object, sizeof(object), "request %s: CA %s profile %s for %s: %s%s", r->id, r->ca,
                 r->profile, r->requester, a->step == STEP_APPROVED ? "serial " : "", a->text);
        rc = store_txn_audit(txn, a->who,
                             a->step == STEP_APPROVED ? "request.approve" : "request.reject",
                             object, detail);
    }
    if (rc == SIGNET_OK && a->step == STEP_CLAIM) {
        store_request_free(a->out); /* a batch that is run again claims again */
        a->out = r;
        r = NULL;
    }
out:
    store_request_free(r);
    return rc;
}

/* 1 when who is a usable operator or requester name: 1..127 printable bytes. */
static int who_ok(const char *who)
{
    size_t n = who ? strnlen(who, STORE_REQUEST_WHO_MAX) : 0;

    if (n == 0 || n >= STORE_REQUEST_WHO_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)who[i] < 0x20 || who[i] == 0x7f)
            return 0;
    return 1;
}

/* The request's client rule still holds ("client:NAME" requesters only). */
static enum signet_err recheck_client(struct ca_ctx *ctx, const struct store_request *r,
                                      char *detail)
{
    if (strncmp(r->requester, "client:", 7) != 0 ||
        ca_profile_allows_client(ctx, r->profile, r->requester + 7))
        return SIGNET_OK;
    sg_detail(detail,
              "request %s: profile %s no longer lets %s use it (its clients rule); reject the "
              "request",
              r->id, r->profile, r->requester);
    return SIGNET_E_FORBIDDEN;
}

enum signet_err ca_request_approve(struct ca_ctx *ctx, const char *id, const char *operator_name,
                                   struct ca_issued **out, char *detail)
{
    struct decide_arg a = {STEP_CLAIM, id, operator_name, NULL, NULL};
    struct ca_issue_request req = {0};
    struct ca_issue_opts opts = {1, ""};
    struct ca_issued *got = NULL;
    char why[SIGNET_DETAIL_MAX] = "";
    enum signet_err rc;

    *out = NULL;
    if (!who_ok(operator_name)) {
        sg_detail(detail, "request approve: name the operator (1 to %d printable bytes)",
                  STORE_REQUEST_WHO_MAX - 1);
        return SIGNET_E_USAGE;
    }
    if ((rc = store_write(ctx->st, decide_fn, &a, detail)) != SIGNET_OK) {
        store_request_free(a.out);
        return rc;
    }
    req.csr = a.out->csr;
    req.csr_len = a.out->csr_len;
    req.ca = a.out->ca;
    req.profile = a.out->profile;
    req.requester = a.out->requester;
    if ((rc = recheck_client(ctx, a.out, why)) == SIGNET_OK)
        rc = ca_issue_ex(ctx, &req, &opts, &got, why);
    if (rc != SIGNET_OK) {
        /* not issued: the request waits again, so an operator can retry or reject it */
        struct decide_arg rel = {STEP_RELEASE, id, operator_name, NULL, NULL};
        char d2[SIGNET_DETAIL_MAX] = "";
        if (store_write(ctx->st, decide_fn, &rel, d2) != SIGNET_OK)
            sg_log(SG_LOG_ERR, "request %s: not issued and cannot be made pending again: %s", id,
                   d2);
        sg_detail(detail, "request %s: not issued, it stays pending: %s", id, why);
        goto out;
    }
    a.step = STEP_APPROVED;
    a.text = got->serial;
    if ((rc = store_write(ctx->st, decide_fn, &a, detail)) != SIGNET_OK) {
        sg_log(SG_LOG_ERR, "request %s: issued as serial %s of CA %s but not marked approved", id,
               got->serial, got->ca);
        goto out;
    }
    sg_log(SG_LOG_INFO, "request %s approved by %s: serial %s of CA %s", id, operator_name,
           got->serial, got->ca);
    *out = got;
    got = NULL;
out:
    ca_issued_free(got);
    store_request_free(a.out);
    return rc;
}

enum signet_err ca_request_reject(struct ca_ctx *ctx, const char *id, const char *operator_name,
                                  const char *reason, char *detail)
{
    struct decide_arg a = {STEP_REJECT, id, operator_name, reason, NULL};
    enum signet_err rc;

    if (!who_ok(operator_name)) {
        sg_detail(detail, "request reject: name the operator (1 to %d printable bytes)",
                  STORE_REQUEST_WHO_MAX - 1);
        return SIGNET_E_USAGE;
    }
    if (reason == NULL || reason[0] == '\0' || strlen(reason) >= STORE_REQUEST_REASON_MAX) {
        sg_detail(detail, "request reject: give a reason of 1 to %d printable bytes",
                  STORE_REQUEST_REASON_MAX - 1);
        return SIGNET_E_USAGE;
    }
    for (const char *p = reason; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            sg_detail(detail, "request reject: the reason may not hold control characters");
            return SIGNET_E_USAGE;
        }
    if ((rc = store_write(ctx->st, decide_fn, &a, detail)) == SIGNET_OK)
        sg_log(SG_LOG_INFO, "request %s rejected by %s: %s", id, operator_name, reason);
    return rc;
}
