/* SPDX-License-Identifier: Apache-2.0 */
/*
 * signet request list / show / approve / reject: the manual-approval queue (docs/approval.md).
 * Requests for profiles with approval = manual wait here; approving issues the certificate
 * through the normal pipeline with the profiles in force now.
 */
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "signet.h"

#define LIST_MAX 100000 /* requests one listing shows at most; more are counted */

struct req_list {
    struct store_request **v;
    size_t n, cap, more;
};

/* Keeps a copy of each request (the iterator lends them). */
static int collect(const struct store_request *r, void *arg)
{
    struct req_list *l = arg;
    struct store_request *c;

    if (l->n == LIST_MAX) {
        l->more++;
        return 1;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct store_request **v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL)
            return 0;
        l->v = v;
        l->cap = cap;
    }
    if ((c = malloc(sizeof(*c))) == NULL || (c->csr = malloc(r->csr_len)) == NULL) {
        free(c);
        return 0;
    }
    memcpy(c->csr, r->csr, r->csr_len);
    memcpy(c, r, offsetof(struct store_request, csr));
    c->csr_len = r->csr_len;
    l->v[l->n++] = c;
    return 1;
}

/* Oldest first, then by id. */
static int by_time(const void *a, const void *b)
{
    const struct store_request *x = *(struct store_request *const *)a;
    const struct store_request *y = *(struct store_request *const *)b;

    if (x->submitted != y->submitted)
        return x->submitted < y->submitted ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* The CSR's subject on one line ("CN=a, O=b"), "-" when empty. */
static void csr_subject(const struct store_request *r, char *out, size_t cap)
{
    const unsigned char *p = r->csr;
    X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)r->csr_len);
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n = 0;

    snprintf(out, cap, "-");
    if (req != NULL && b != NULL &&
        X509_NAME_print_ex(b, X509_REQ_get_subject_name(req), 0, XN_FLAG_ONELINE) >= 0 &&
        (n = BIO_get_mem_data(b, &data)) > 0)
        snprintf(out, cap, "%.*s", (int)n, data);
    BIO_free(b);
    X509_REQ_free(req);
}

/* The state as users read it: an approval whose issuance is still running is "approving". */
static const char *state_word(const struct store_request *r)
{
    if (r->state == STORE_REQUEST_APPROVED && r->serial[0] == '\0')
        return "approving";
    return store_request_state_name(r->state);
}

/* One request as a JSON object. */
static void print_json(const struct store_request *r, const char *subject)
{
    char t[32];

    sg_format_time(r->submitted, t, sizeof(t));
    printf("{\"id\": \"%s\", \"status\": \"%s\", \"ca\": ", r->id, state_word(r));
    json_str(r->ca);
    printf(", \"profile\": ");
    json_str(r->profile);
    printf(", \"requester\": ");
    json_str(r->requester);
    printf(", \"subject\": ");
    json_str(subject);
    printf(", \"submitted\": \"%s\"", t);
    if (r->state != STORE_REQUEST_PENDING) {
        sg_format_time(r->decided, t, sizeof(t));
        printf(", \"decided_by\": ");
        json_str(r->decided_by);
        printf(", \"decided\": \"%s\"", t);
    }
    if (r->serial[0])
        printf(", \"serial\": \"%s\"", r->serial);
    if (r->state == STORE_REQUEST_REJECTED) {
        printf(", \"reason\": ");
        json_str(r->reason);
    }
    printf("}");
}

/* Parses --status; 1 = ok. */
static int parse_state(const char *s, enum store_request_state *out)
{
    *out = 0;
    if (s == NULL)
        return 1;
    for (int st = STORE_REQUEST_PENDING; st <= STORE_REQUEST_REJECTED; st++)
        if (strcmp(s, store_request_state_name((enum store_request_state)st)) == 0) {
            *out = (enum store_request_state)st;
            return 1;
        }
    return 0;
}

static void list_print(const struct req_list *l)
{
    char subject[256], t[32];

    if (json_out)
        printf("[");
    else if (l->n > 0)
        printf("%-16s  %-9s  %-12s  %-14s  %-20s  %-20s  %s\n", "ID", "STATUS", "CA", "PROFILE",
               "SUBMITTED", "REQUESTER", "SUBJECT / SERIAL / REASON");
    for (size_t i = 0; i < l->n; i++) {
        const struct store_request *r = l->v[i];
        csr_subject(r, subject, sizeof(subject));
        if (json_out) {
            printf("%s", i ? ", " : "");
            print_json(r, subject);
            continue;
        }
        sg_format_time(r->submitted, t, sizeof(t));
        printf("%-16s  %-9s  %-12s  %-14s  %-20s  %-20s  %s%s%s\n", r->id, state_word(r), r->ca,
               r->profile, t, r->requester, subject,
               r->serial[0]                         ? "  serial "
               : r->state == STORE_REQUEST_REJECTED ? "  reason: "
                                                    : "",
               r->serial[0]                         ? r->serial
               : r->state == STORE_REQUEST_REJECTED ? r->reason
                                                    : "");
    }
    if (json_out)
        printf("]\n");
    else if (l->n == 0)
        printf("no requests\n");
    if (l->more > 0)
        fprintf(errf, "signet: request list: %zu more not shown; filter with --ca or --status\n",
                l->more);
}

static int req_list(const char *conf, int argc, char **argv)
{
    static const char *const names[] = {"ca", "status", NULL};
    struct ca_ctx *ctx = NULL;
    struct req_list l = {0};
    enum store_request_state state;
    char detail[SIGNET_DETAIL_MAX] = "";
    enum signet_err rc;
    struct opts o;
    int ret = EXIT_REFUSED;

    if (!parse_opts(argc, argv, names, &o))
        return EXIT_USAGE;
    if (!parse_state(opt(&o, "status"), &state)) {
        fprintf(errf, "signet: request list: --status is pending, approved or rejected\n");
        return EXIT_USAGE;
    }
    if (!open_ctx(conf, CA_OPEN_READ_ONLY, &ctx))
        return EXIT_REFUSED;
    rc = ca_request_iter(ctx, opt(&o, "ca"), state, collect, &l, detail);
    if (rc != SIGNET_OK) {
        fail("request list", rc, detail);
        goto out;
    }
    if (l.n > 1)
        qsort(l.v, l.n, sizeof(*l.v), by_time);
    list_print(&l);
    ret = 0;
out:
    for (size_t i = 0; i < l.n; i++)
        store_request_free(l.v[i]);
    free(l.v);
    ca_ctx_free(ctx);
    return ret;
}

static int req_show(const char *conf, int argc, char **argv)
{
    static const char *const names[] = {"id", NULL};
    struct ca_ctx *ctx = NULL;
    struct store_request *r = NULL;
    char detail[SIGNET_DETAIL_MAX] = "", subject[256], t[32];
    enum signet_err rc;
    struct opts o;

    if (!parse_opts(argc, argv, names, &o) || !need(&o, names))
        return EXIT_USAGE;
    if (!open_ctx(conf, CA_OPEN_READ_ONLY, &ctx))
        return EXIT_REFUSED;
    rc = ca_request_get(ctx, opt(&o, "id"), &r, detail);
    ca_ctx_free(ctx);
    if (rc != SIGNET_OK)
        return fail("request show", rc, detail);
    csr_subject(r, subject, sizeof(subject));
    if (json_out) {
        print_json(r, subject);
        printf("\n");
    } else {
        sg_format_time(r->submitted, t, sizeof(t));
        printf("id:        %s\nstatus:    %s\nca:        %s\nprofile:   %s\nrequester: %s\n"
               "subject:   %s\nsubmitted: %s\n",
               r->id, state_word(r), r->ca, r->profile, r->requester, subject, t);
        if (r->state != STORE_REQUEST_PENDING) {
            sg_format_time(r->decided, t, sizeof(t));
            printf("decided:   %s by %s\n", t, r->decided_by);
        }
        if (r->serial[0])
            printf("serial:    %s\n", r->serial);
        if (r->state == STORE_REQUEST_REJECTED)
            printf("reason:    %s\n", r->reason);
    }
    store_request_free(r);
    return 0;
}

/* PEM of a DER certificate, malloc'd; NULL on failure. */
static char *cert_pem(const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL, *s = NULL;
    long n;

    if (x != NULL && b != NULL && PEM_write_bio_X509(b, x) && (n = BIO_get_mem_data(b, &data)) > 0)
        s = strndup(data, (size_t)n);
    BIO_free(b);
    X509_free(x);
    return s;
}

static int req_approve(const char *conf, int argc, char **argv)
{
    static const char *const names[] = {"id", "out", NULL};
    static const char *const required[] = {"id", NULL};
    struct ca_ctx *ctx = NULL;
    struct ca_issued *r = NULL;
    char detail[SIGNET_DETAIL_MAX] = "", who[64], *pem = NULL;
    enum signet_err rc;
    struct opts o;
    int ret = EXIT_REFUSED;

    if (!parse_opts(argc, argv, names, &o) || !need(&o, required))
        return EXIT_USAGE;
    if (!open_ctx(conf, 0, &ctx))
        return EXIT_REFUSED;
    snprintf(who, sizeof(who), "cli:uid=%u", (unsigned)getuid());
    rc = ca_request_approve(ctx, opt(&o, "id"), who, &r, detail);
    ca_ctx_free(ctx);
    if (rc != SIGNET_OK)
        return fail("request approve", rc, detail);
    if ((pem = cert_pem(r->der, r->der_len)) == NULL) {
        snprintf(detail, sizeof(detail),
                 "request %s was approved as serial %s but the certificate cannot be printed; "
                 "get it with signet cert show --ca %s --serial %s",
                 opt(&o, "id"), r->serial, r->ca, r->serial);
        fail("request approve", SIGNET_E_INTERNAL, detail);
        goto out;
    }
    if (opt(&o, "out") &&
        (rc = sg_write_file(opt(&o, "out"), pem, strlen(pem), 0644, detail)) != SIGNET_OK) {
        fail("request approve: write the certificate (it is issued and recorded)", rc, detail);
        goto out;
    }
    if (json_out) {
        printf("{\"request\": \"%s\", \"status\": \"approved\", \"ca\": \"%s\", \"serial\": "
               "\"%s\", \"certificate\": ",
               opt(&o, "id"), r->ca, r->serial);
        json_str(pem);
        printf("}\n");
    } else {
        if (!opt(&o, "out"))
            fputs(pem, stdout);
        fprintf(opt(&o, "out") ? stdout : errf, "request %s approved: serial %s of CA %s\n",
                opt(&o, "id"), r->serial, r->ca);
    }
    ret = 0;
out:
    free(pem);
    ca_issued_free(r);
    return ret;
}

static int req_reject(const char *conf, int argc, char **argv)
{
    static const char *const names[] = {"id", "reason", NULL};
    struct ca_ctx *ctx = NULL;
    char detail[SIGNET_DETAIL_MAX] = "", who[64];
    enum signet_err rc;
    struct opts o;

    if (!parse_opts(argc, argv, names, &o) || !need(&o, names))
        return EXIT_USAGE;
    if (!open_ctx(conf, 0, &ctx))
        return EXIT_REFUSED;
    snprintf(who, sizeof(who), "cli:uid=%u", (unsigned)getuid());
    rc = ca_request_reject(ctx, opt(&o, "id"), who, opt(&o, "reason"), detail);
    ca_ctx_free(ctx);
    if (rc != SIGNET_OK)
        return fail("request reject", rc, detail);
    if (json_out)
        printf("{\"request\": \"%s\", \"status\": \"rejected\"}\n", opt(&o, "id"));
    else
        printf("request %s rejected\n", opt(&o, "id"));
    return 0;
}

int cmd_request(const char *conf, int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "list") == 0)
        return req_list(conf, argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "show") == 0)
        return req_show(conf, argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "approve") == 0)
        return req_approve(conf, argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "reject") == 0)
        return req_reject(conf, argc - 1, argv + 1);
    fprintf(errf, "signet: request: use `signet request list [--ca N] [--status pending|approved|"
                  "rejected]`, `request show --id ID`, `request approve --id ID [--out F]` or "
                  "`request reject --id ID --reason TEXT`\n");
    return EXIT_USAGE;
}
