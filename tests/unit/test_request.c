/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The approval queue: a manual-approval profile queues what policy allows (and refuses what it
 * does not), requests list by CA and state, approval issues a certificate that verifies under
 * the CA and root, rejection records the reason, a decided request cannot be decided again, the
 * profiles in force at approval time decide, the pending bound, field bounds, and a read-only
 * store written before the queue existed. Runs on a demo PKI made by ca_demo_init.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <lmdb.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../ca/internal.h"
#include "pkifix.h"

static struct pkifix pki;
static char manual_path[192];

static const char manual_profile[] =
    "[profile]\nvalidity = 30d\nkey = ec:P-256\nsubject.CN = required\n"
    "san.dns = optional, match=*.example.test\nextensions = e\napproval = manual\n[e]\n"
    "basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n";

/* The demo PKI once, plus "manual" (approval = manual) that issuing-1 may issue. */
static int group_setup(void **state)
{
    (void)state;
    if (!pkifix_demo_make(&pki, "/tmp/signet-req.XXXXXX"))
        return -1;
    snprintf(manual_path, sizeof(manual_path), "%s/policies/manual.conf", pki.dir);
    if (!pkifix_write_text(manual_path, manual_profile))
        return -1;
    return pkifix_enable_profiles(&pki, "manual") ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    return pkifix_demo_remove(&pki) ? 0 : -1;
}

static int setup(void **state)
{
    return pkifix_ctx_setup(&pki, state);
}

/* Submits a CSR for cn under "manual"; returns ca_issue_ex's result, the id in id. */
static enum signet_err submit(struct ca_ctx *ctx, const char *cn, const char *requester, char *id,
                              char *detail)
{
    char *csr = pkifix_csr_dns(cn);
    struct ca_issue_request req = {(const unsigned char *)csr, strlen(csr), "issuing-1", "manual",
                                   requester};
    struct ca_issue_opts opts = {0, ""};
    struct ca_issued *r = NULL;
    enum signet_err rc = ca_issue_ex(ctx, &req, &opts, &r, detail);

    assert_null(r);
    strcpy(id, opts.queued_id);
    free(csr);
    return rc;
}

static int count_cb(const struct store_cert *c, void *arg)
{
    (void)c;
    ++*(int *)arg;
    return 1;
}

static int certs(struct ca_ctx *ctx)
{
    int n = 0;

    assert_int_equal(ca_cert_iter(ctx, "issuing-1", 0, count_cb, &n, NULL), SIGNET_OK);
    return n;
}

static int req_count_cb(const struct store_request *r, void *arg)
{
    (void)r;
    ++*(int *)arg;
    return 1;
}

static int requests(struct ca_ctx *ctx, const char *ca, enum store_request_state st)
{
    int n = 0;

    assert_int_equal(ca_request_iter(ctx, ca, st, req_count_cb, &n, NULL), SIGNET_OK);
    return n;
}

/* Queued, not issued: SIGNET_E_QUEUED, an id named in the detail, the CSR kept, no cert. */
static void test_queue(void **state)
{
    struct ca_ctx *ctx = *state;
    char id[STORE_REQUEST_ID_LEN + 1], detail[SIGNET_DETAIL_MAX] = "";
    struct store_request *r = NULL;
    int before = certs(ctx), pend = requests(ctx, NULL, STORE_REQUEST_PENDING);
    uint64_t counted = 0;

    assert_int_equal(submit(ctx, "q1.example.test", "client:demo", id, detail), SIGNET_E_QUEUED);
    assert_int_equal(strlen(id), STORE_REQUEST_ID_LEN);
    assert_int_equal(strspn(id, "0123456789abcdef"), STORE_REQUEST_ID_LEN);
    if (strstr(detail, id) == NULL || strstr(detail, "signet request approve") == NULL)
        fail_msg("detail '%s' does not name request %s and how to approve it", detail, id);
    assert_int_equal(certs(ctx), before);
    assert_int_equal(requests(ctx, NULL, STORE_REQUEST_PENDING), pend + 1);
    assert_int_equal(store_request_pending(ca_ctx_store(ctx), &counted, NULL), SIGNET_OK);
    assert_int_equal(counted, (uint64_t)pend + 1);
    assert_int_equal(ca_request_get(ctx, id, &r, detail), SIGNET_OK);
    assert_int_equal(r->state, STORE_REQUEST_PENDING);
    assert_string_equal(r->ca, "issuing-1");
    assert_string_equal(r->profile, "manual");
    assert_string_equal(r->requester, "client:demo");
    assert_string_equal(r->serial, "");
    assert_true(r->submitted > 0 && r->decided == 0);
    {
        const unsigned char *p = r->csr;
        X509_REQ *x = d2i_X509_REQ(NULL, &p, (long)r->csr_len);
        char cn[64] = "";
        assert_non_null(x);
        assert_ptr_equal(p, r->csr + r->csr_len);
        X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(x), NID_commonName, cn, sizeof(cn));
        assert_string_equal(cn, "q1.example.test");
        X509_REQ_free(x);
    }
    store_request_free(r);
}

/* What the profile refuses is refused as before, never queued. */
static void test_refused_not_queued(void **state)
{
    struct ca_ctx *ctx = *state;
    char id[STORE_REQUEST_ID_LEN + 1], detail[SIGNET_DETAIL_MAX] = "";
    int pend = requests(ctx, NULL, 0);

    assert_int_equal(submit(ctx, "evil.example.com", "client:demo", id, detail), SIGNET_E_POLICY);
    assert_string_equal(id, "");
    assert_int_equal(requests(ctx, NULL, 0), pend);
}

/* Approval issues through the pipeline: the certificate verifies under issuing-1 and the root. */
static void test_approve(void **state)
{
    struct ca_ctx *ctx = *state;
    char id[STORE_REQUEST_ID_LEN + 1], detail[SIGNET_DETAIL_MAX] = "", cn[64] = "";
    struct ca_issued *got = NULL;
    struct store_request *r = NULL;
    struct store_cert *c = NULL;
    X509_STORE *xs = X509_STORE_new();
    X509_STORE_CTX *vc = X509_STORE_CTX_new();
    STACK_OF(X509) *chain = sk_X509_new_null();
    struct ca_ent *i1 = ca_ent_find(ctx, "issuing-1"), *root = ca_ent_find(ctx, "root");
    const unsigned char *p;
    X509 *x;
    int before = certs(ctx);

    assert_int_equal(submit(ctx, "a1.example.test", "client:demo", id, detail), SIGNET_E_QUEUED);
    assert_int_equal(ca_request_approve(ctx, id, "cli:uid=7", &got, detail), SIGNET_OK);
    assert_non_null(got);
    assert_int_equal(certs(ctx), before + 1);
    p = got->der;
    x = d2i_X509(NULL, &p, (long)got->der_len);
    assert_non_null(x);
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
    assert_string_equal(cn, "a1.example.test");
    assert_int_equal(X509_verify(x, X509_get0_pubkey(i1->cert)), 1);
    X509_STORE_add_cert(xs, root->cert);
    sk_X509_push(chain, i1->cert);
    X509_STORE_CTX_init(vc, xs, x, chain);
    X509_STORE_CTX_set_flags(vc, X509_V_FLAG_X509_STRICT);
    if (X509_verify_cert(vc) != 1)
        fail_msg("verify: %s", X509_verify_cert_error_string(X509_STORE_CTX_get_error(vc)));
    /* the request says approved, by whom, with the serial; the record keeps the requester */
    assert_int_equal(ca_request_get(ctx, id, &r, detail), SIGNET_OK);
    assert_int_equal(r->state, STORE_REQUEST_APPROVED);
    assert_string_equal(r->serial, got->serial);
    assert_string_equal(r->decided_by, "cli:uid=7");
    assert_true(r->decided >= r->submitted);
    assert_int_equal(ca_cert_get(ctx, "issuing-1", got->serial, &c, detail), SIGNET_OK);
    assert_int_equal(c->state, STORE_CERT_ISSUED);
    assert_string_equal(c->requester, "client:demo");
    assert_string_equal(c->profile, "manual");
    /* a second approval is refused and issues nothing */
    store_request_free(r);
    r = NULL;
    ca_issued_free(got);
    got = NULL;
    assert_int_equal(ca_request_approve(ctx, id, "cli:uid=8", &got, detail), SIGNET_E_EXISTS);
    assert_null(got);
    assert_non_null(strstr(detail, "not pending"));
    assert_int_equal(certs(ctx), before + 1);
    assert_int_equal(ca_request_reject(ctx, id, "cli:uid=8", "too late", detail), SIGNET_E_EXISTS);
    store_cert_free(c);
    X509_free(x);
    sk_X509_free(chain);
    X509_STORE_CTX_free(vc);
    X509_STORE_free(xs);
}

struct audit_find {
    const char *action, *needle;
    int found;
};

static int audit_cb(const struct store_audit_entry *e, void *arg)
{
    struct audit_find *a = arg;

    if (strcmp(e->action, a->action) == 0 && strstr(e->object, a->needle) != NULL)
        a->found++;
    return 1;
}

/* Rejection keeps the reason; neither approve nor reject works afterwards; both are audited. */
static void test_reject(void **state)
{
    struct ca_ctx *ctx = *state;
    char id[STORE_REQUEST_ID_LEN + 1], detail[SIGNET_DETAIL_MAX] = "";
    struct store_request *r = NULL;
    struct ca_issued *got = NULL;
    struct audit_find af = {"request.reject", NULL, 0};
    int before = certs(ctx);

    assert_int_equal(submit(ctx, "r1.example.test", "cli:uid=0", id, detail), SIGNET_E_QUEUED);
    assert_int_equal(ca_request_reject(ctx, id, "cli:uid=9", "not ours", detail), SIGNET_OK);
    assert_int_equal(ca_request_get(ctx, id, &r, detail), SIGNET_OK);
    assert_int_equal(r->state, STORE_REQUEST_REJECTED);
    assert_string_equal(r->reason, "not ours");
    assert_string_equal(r->decided_by, "cli:uid=9");
    assert_int_equal(ca_request_approve(ctx, id, "cli:uid=9", &got, detail), SIGNET_E_EXISTS);
    assert_non_null(strstr(detail, "rejected"));
    assert_int_equal(ca_request_reject(ctx, id, "cli:uid=9", "again", detail), SIGNET_E_EXISTS);
    assert_int_equal(certs(ctx), before);
    af.needle = id;
    assert_int_equal(store_audit_iter(ca_ctx_store(ctx), 1, audit_cb, &af, NULL), SIGNET_OK);
    assert_int_equal(af.found, 1);
    af.action = "request.queue";
    af.found = 0;
    assert_int_equal(store_audit_iter(ca_ctx_store(ctx), 1, audit_cb, &af, NULL), SIGNET_OK);
    assert_int_equal(af.found, 1);
    store_request_free(r);
}

/* Unknown and malformed ids; bad reasons and operators are refused before anything is written. */
static void test_bad_ids_and_reasons(void **state)
{
    struct ca_ctx *ctx = *state;
    char id[STORE_REQUEST_ID_LEN + 1], detail[SIGNET_DETAIL_MAX] = "", big[400];
    struct ca_issued *got = NULL;
    struct store_request *r = NULL;

    assert_int_equal(ca_request_approve(ctx, "0000000000000000", "cli:uid=1", &got, detail),
                     SIGNET_E_NOTFOUND);
    assert_non_null(strstr(detail, "no such request"));
    assert_int_equal(ca_request_approve(ctx, "../../etc", "cli:uid=1", &got, detail),
                     SIGNET_E_NOTFOUND);
    assert_int_equal(ca_request_reject(ctx, "ABCDEF0123456789", "cli:uid=1", "x", detail),
                     SIGNET_E_NOTFOUND);
    assert_int_equal(ca_request_get(ctx, "", &r, detail), SIGNET_E_NOTFOUND);
    assert_int_equal(submit(ctx, "b1.example.test", "cli:uid=0", id, detail), SIGNET_E_QUEUED);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(ca_request_reject(ctx, id, "cli:uid=1", big, detail), SIGNET_E_USAGE);
    assert_int_equal(ca_request_reject(ctx, id, "cli:uid=1", "a\nb", detail), SIGNET_E_USAGE);
    assert_int_equal(ca_request_reject(ctx, id, "cli:uid=1", "", detail), SIGNET_E_USAGE);
    assert_int_equal(ca_request_reject(ctx, id, "", "fine", detail), SIGNET_E_USAGE);
    assert_int_equal(ca_request_get(ctx, id, &r, detail), SIGNET_OK);
    assert_int_equal(r->state, STORE_REQUEST_PENDING);
    store_request_free(r);
    big[STORE_REQUEST_REASON_MAX - 1] = '\0'; /* the longest reason allowed */
    assert_int_equal(ca_request_reject(ctx, id, "cli:uid=1", big, detail), SIGNET_OK);
    assert_int_equal(ca_request_get(ctx, id, &r, detail), SIGNET_OK);
    assert_int_equal(strlen(r->reason), STORE_REQUEST_REASON_MAX - 1);
    store_request_free(r);
}

/* Listing filters by state and CA; an unknown CA is an error. */
static void test_list_filters(void **state)
{
    struct ca_ctx *ctx = *state;
    char id[STORE_REQUEST_ID_LEN + 1], detail[SIGNET_DETAIL_MAX] = "";
    int all, pend, appr, rej;

    assert_int_equal(submit(ctx, "l1.example.test", "cli:uid=0", id, detail), SIGNET_E_QUEUED);
    all = requests(ctx, NULL, 0);
    pend = requests(ctx, NULL, STORE_REQUEST_PENDING);
    appr = requests(ctx, NULL, STORE_REQUEST_APPROVED);
    rej = requests(ctx, NULL, STORE_REQUEST_REJECTED);
    assert_true(pend >= 1);
    assert_int_equal(all, pend + appr + rej);
    assert_int_equal(requests(ctx, "issuing-1", 0), all);
    assert_int_equal(requests(ctx, "root", 0), 0);
    assert_int_equal(ca_request_iter(ctx, "nope", 0, req_count_cb, &all, detail),
                     SIGNET_E_NOTFOUND);
}

/* Approval checks the profile in force now: a tightened profile refuses; the request waits. */
static void test_approve_rechecks_policy(void **state)
{
    struct ca_ctx *ctx = *state;
    char id[STORE_REQUEST_ID_LEN + 1], detail[SIGNET_DETAIL_MAX] = "",
                                       tight[sizeof(manual_profile)];
    struct ca_issued *got = NULL;
    struct store_request *r = NULL;
    char *p;
    int before = certs(ctx);

    assert_int_equal(submit(ctx, "p1.example.test", "cli:uid=0", id, detail), SIGNET_E_QUEUED);
    strcpy(tight, manual_profile);
    p = strstr(tight, "*.example.test");
    memcpy(p, "*.example.tesx", 14); /* the queued name no longer matches */
    assert_true(pkifix_write_text(manual_path, tight));
    assert_int_equal(ca_reload_policies(ctx, detail), SIGNET_OK);
    assert_int_equal(ca_request_approve(ctx, id, "cli:uid=3", &got, detail), SIGNET_E_POLICY);
    assert_null(got);
    assert_non_null(strstr(detail, "stays pending"));
    assert_int_equal(certs(ctx), before);
    assert_int_equal(ca_request_get(ctx, id, &r, detail), SIGNET_OK);
    assert_int_equal(r->state, STORE_REQUEST_PENDING);
    assert_string_equal(r->decided_by, "");
    store_request_free(r);
    /* restored, the same request is approved */
    assert_true(pkifix_write_text(manual_path, manual_profile));
    assert_int_equal(ca_reload_policies(ctx, detail), SIGNET_OK);
    assert_int_equal(ca_request_approve(ctx, id, "cli:uid=3", &got, detail), SIGNET_OK);
    assert_int_equal(certs(ctx), before + 1);
    ca_issued_free(got);
}

/* ---- the store alone: the pending bound, sizes, an older read-only store ---- */

struct fill_arg {
    unsigned n;
    struct store_request *r;
};

static enum signet_err fill_fn(struct store_txn *txn, void *arg, char *detail)
{
    struct fill_arg *a = arg;
    enum signet_err rc = SIGNET_OK;

    for (unsigned i = 0; i < a->n && rc == SIGNET_OK; i++)
        rc = store_txn_request_add(txn, a->r, detail);
    return rc;
}

static void base_request(struct store_request *r, unsigned char *csr, size_t len)
{
    memset(r, 0, sizeof(*r));
    strcpy(r->ca, "issuing-1");
    strcpy(r->profile, "manual");
    strcpy(r->requester, "client:demo");
    r->csr = csr;
    r->csr_len = len;
}

static int first_id(const struct store_request *r, void *arg)
{
    strcpy(arg, r->id);
    return 0;
}

struct decide_arg {
    const char *id;
};

static enum signet_err reject_fn(struct store_txn *txn, void *arg, char *detail)
{
    struct decide_arg *a = arg;
    struct store_request *r = NULL;
    enum signet_err rc = store_txn_request_get(txn, a->id, &r, detail);

    if (rc == SIGNET_OK) {
        r->state = STORE_REQUEST_REJECTED;
        strcpy(r->reason, "bound test");
        strcpy(r->decided_by, "unit");
        r->decided = sg_now();
        rc = store_txn_request_put(txn, r, detail);
    }
    store_request_free(r);
    return rc;
}

/* STORE_REQUEST_PENDING_MAX pending requests fill the queue; deciding one makes room. */
static void test_store_bound(void **state)
{
    char sdir[64] = "/tmp/signet-reqst.XXXXXX", detail[SIGNET_DETAIL_MAX] = "", cmd[128];
    char id[STORE_REQUEST_ID_LEN + 1] = "";
    unsigned char csr[100] = {0x30};
    struct store *st = NULL;
    struct store_request r;
    struct fill_arg a = {STORE_REQUEST_PENDING_MAX, &r};
    struct decide_arg d = {id};
    uint64_t n = 0;

    (void)state;
    assert_non_null(mkdtemp(sdir));
    assert_int_equal(store_open(sdir, NULL, &st, detail), SIGNET_OK);
    base_request(&r, csr, sizeof(csr));
    assert_int_equal(store_write(st, fill_fn, &a, detail), SIGNET_OK);
    assert_int_equal(store_request_pending(st, &n, NULL), SIGNET_OK);
    assert_int_equal(n, STORE_REQUEST_PENDING_MAX);
    a.n = 1;
    assert_int_equal(store_write(st, fill_fn, &a, detail), SIGNET_E_POLICY);
    assert_non_null(strstr(detail, "approval queue full"));
    assert_int_equal(store_request_iter(st, STORE_REQUEST_PENDING, first_id, id, detail),
                     SIGNET_OK);
    assert_int_equal(strlen(id), STORE_REQUEST_ID_LEN);
    assert_int_equal(store_write(st, reject_fn, &d, detail), SIGNET_OK);
    assert_int_equal(store_request_pending(st, &n, NULL), SIGNET_OK);
    assert_int_equal(n, STORE_REQUEST_PENDING_MAX - 1);
    assert_int_equal(store_write(st, fill_fn, &a, detail), SIGNET_OK);
    assert_int_equal(store_write(st, fill_fn, &a, detail), SIGNET_E_POLICY);
    store_close(st);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sdir);
    assert_int_equal(system(cmd), 0);
}

/* Field bounds: the CSR 1..STORE_DER_MAX bytes, strings terminated within their fields. */
static void test_store_sizes(void **state)
{
    char sdir[64] = "/tmp/signet-reqsz.XXXXXX", detail[SIGNET_DETAIL_MAX] = "", cmd[128];
    static unsigned char csr[STORE_DER_MAX + 1];
    struct store *st = NULL;
    struct store_request r, *got = NULL;
    struct fill_arg a = {1, &r};

    (void)state;
    assert_non_null(mkdtemp(sdir));
    assert_int_equal(store_open(sdir, NULL, &st, detail), SIGNET_OK);
    base_request(&r, csr, STORE_DER_MAX + 1);
    assert_int_equal(store_write(st, fill_fn, &a, detail), SIGNET_E_USAGE);
    base_request(&r, csr, 0);
    assert_int_equal(store_write(st, fill_fn, &a, detail), SIGNET_E_USAGE);
    base_request(&r, csr, STORE_DER_MAX);
    memset(r.requester, 'x', sizeof(r.requester)); /* unterminated */
    assert_int_equal(store_write(st, fill_fn, &a, detail), SIGNET_E_USAGE);
    base_request(&r, csr, STORE_DER_MAX);
    csr[0] = 0x30;
    csr[STORE_DER_MAX - 1] = 0x42;
    assert_int_equal(store_write(st, fill_fn, &a, detail), SIGNET_OK);
    assert_int_equal(store_request_get(st, r.id, &got, detail), SIGNET_OK);
    assert_int_equal(got->csr_len, STORE_DER_MAX);
    assert_int_equal(got->csr[STORE_DER_MAX - 1], 0x42);
    assert_string_equal(got->requester, "client:demo");
    store_request_free(got);
    store_close(st);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sdir);
    assert_int_equal(system(cmd), 0);
}

/* A store written before the queue (no request database) opens read-only and lists nothing. */
static void test_store_without_queue(void **state)
{
    char sdir[64] = "/tmp/signet-reqold.XXXXXX", detail[SIGNET_DETAIL_MAX] = "", cmd[128];
    struct store_options ro = {0};
    struct store *st = NULL;
    struct store_request *got = NULL;
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    int n = 0;

    (void)state;
    assert_non_null(mkdtemp(sdir));
    assert_int_equal(store_open(sdir, NULL, &st, detail), SIGNET_OK);
    store_close(st);
    st = NULL;
    /* drop the request database as an older Signet would never have made it */
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
    assert_int_equal(mdb_env_open(env, sdir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "request", 0, &dbi), 0);
    assert_int_equal(mdb_drop(txn, dbi, 1), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    ro.read_only = 1;
    assert_int_equal(store_open(sdir, &ro, &st, detail), SIGNET_OK);
    assert_int_equal(store_request_get(st, "0123456789abcdef", &got, detail), SIGNET_E_NOTFOUND);
    assert_int_equal(store_request_iter(st, 0, req_count_cb, &n, detail), SIGNET_OK);
    assert_int_equal(n, 0);
    store_close(st);
    st = NULL;
    /* opened writable again, the queue is created */
    assert_int_equal(store_open(sdir, NULL, &st, detail), SIGNET_OK);
    assert_int_equal(store_request_iter(st, 0, req_count_cb, &n, detail), SIGNET_OK);
    store_close(st);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sdir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_queue, setup, pkifix_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_refused_not_queued, setup, pkifix_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_approve, setup, pkifix_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_reject, setup, pkifix_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_ids_and_reasons, setup, pkifix_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_list_filters, setup, pkifix_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_approve_rechecks_policy, setup, pkifix_ctx_teardown),
        cmocka_unit_test(test_store_bound),
        cmocka_unit_test(test_store_sizes),
        cmocka_unit_test(test_store_without_queue),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
