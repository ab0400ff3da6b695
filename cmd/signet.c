/* SPDX-License-Identifier: Apache-2.0 */
/*
 * signet: the operator tool. Argument parsing and wiring only; every operation lives in ca/.
 * Exit status: 0 success, 1 refused or failed (one line on stderr: what failed, why, what to
 * do), 2 bad usage.
 */
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "signet.h"

static const char usage_text[] =
    "usage: signet [-c FILE] [--json] [-v] COMMAND ...\n"
    "  demo init DIR\n"
    "  hsm list\n"
    "  hsm keygen --token T --label L --type TYPE\n"
    "  hsm change-pin --token T [--old-pin-file F] [--new-pin-file F]   (else prompts)\n"
    "  key migrate --from URI --to URI [--cert F] [--source-so-pin-file F] [--seal]\n"
    "  ca create --name N --parent P --token T --type TYPE --subject DN [--csr-out F] [--days D]\n"
    "  ca import-cert --name N --cert F\n"
    "  ca rollover --name N [--days D] [--csr-out F | --import-cert F | --retire-previous]\n"
    "  ca list\n"
    "  issue --ca N --profile P --csr F [--out F]   (exit 3: queued for approval)\n"
    "  cert list --ca N [--status issued|revoked|pending]\n"
    "  cert show --ca N --serial HEX\n"
    "  policy check --profile P --csr F\n"
    "  revoke --ca N --serial HEX --reason REASON [--invalidity-date ISO8601]\n"
    "  crl generate --ca N\n"
    "  request list [--ca N] [--status pending|approved|rejected]\n"
    "  request show --id ID | approve --id ID [--out F] | reject --id ID --reason TEXT\n"
    "  root init --name N --token T --subject DN --type TYPE --days D --quorum M/N --shares-dir "
    "DIR\n"
    "  ceremony run FILE --dry-run [--plan-out PLAN]\n"
    "  ceremony run FILE --share F[:PASSFILE] ... [--plan PLAN]\n"
    "  audit verify\n"
    "  backup create --out F | backup verify F [--recipient-key K] | backup init-kek [--token T]\n"
    "  backup restore F --dir D [--share F[:PASSFILE]]... [--recipient-key K]\n"
    "  backup prune DIR --keep N [--max-age DAYS]\n";

static int usage(const char *why)
{
    if (why)
        fprintf(errf, "signet: %s\n", why);
    fputs(usage_text, errf);
    return EXIT_USAGE;
}

/* ---- commands ---- */

static int cmd_demo(int argc, char **argv)
{
    char detail[SIGNET_DETAIL_MAX] = "";
    enum signet_err rc;

    if (argc != 2 || strcmp(argv[0], "init") != 0)
        return usage("demo: use `signet demo init DIR`");
    if ((rc = ca_demo_init(argv[1], detail)) != SIGNET_OK)
        return fail("demo init", rc, detail);
    if (json_out) {
        printf("{\"dir\": ");
        json_str(argv[1]);
        printf(", \"conf\": \"%s/signet.conf\"}\n", argv[1]);
    } else {
        printf("demo PKI created in %s: root (ec:P-384, token signet-root) and issuing-1 "
               "(ec:P-256, token signet-online)\n",
               argv[1]);
        printf("next: %s -c %s/signet.conf ca list\n", "signet", argv[1]);
    }
    return 0;
}

static int hsm_list(struct ca_ctx *ctx)
{
    struct sg_conf *conf = ca_ctx_conf(ctx);
    char **tokens = NULL;
    size_t n = sg_conf_sections(conf, "token.", &tokens);
    int status = 0;

    for (size_t i = 0; i < n; i++) {
        char sec[128], detail[SIGNET_DETAIL_MAX] = "";
        struct hsm_token *tok = NULL;
        struct hsm_object_info *objs = NULL;
        size_t nobj = 0;
        snprintf(sec, sizeof(sec), "token.%s", tokens[i]);
        printf("token %s: label %s, module %s\n", tokens[i], sg_conf_get(conf, sec, "token"),
               sg_conf_get(conf, sec, "module"));
        if (ca_token(ctx, tokens[i], &tok, detail) != SIGNET_OK ||
            hsm_token_objects(tok, &objs, &nobj, detail) != SIGNET_OK) {
            printf("  (keys not listed: %s)\n", detail);
            continue;
        }
        for (size_t k = 0; k < nobj; k++)
            printf("  %s %s %s%s%s\n", objs[k].uri,
                   objs[k].type < HSM_KEY_TYPE_MAX ? hsm_key_type_name(objs[k].type) : "other",
                   objs[k].is_private ? "private" : "public",
                   objs[k].is_private && objs[k].sensitive ? " sensitive" : "",
                   !objs[k].is_private    ? ""
                   : !objs[k].extractable ? " never-extractable"
                   : objs[k].wrap_with_trusted
                       ? " backup-wrap-only" /* leaves only wrapped under a trusted key */
                       : " EXTRACTABLE");
        free(objs);
    }
    sg_strv_free(tokens);
    return status;
}

static int cmd_hsm(const char *conf, int argc, char **argv)
{
    static const char *const keygen_opts[] = {"token", "label", "type", NULL};
    struct ca_ctx *ctx = NULL;
    struct opts o;
    char detail[SIGNET_DETAIL_MAX] = "", uri[512] = "";
    enum hsm_key_type type;
    enum signet_err rc;
    int status;

    if (argc < 1)
        return usage("hsm: list or keygen");
    if (strcmp(argv[0], "list") == 0) {
        if (argc != 1)
            return usage("hsm list takes no arguments");
        if (!open_ctx(conf, CA_OPEN_READ_ONLY, &ctx))
            return EXIT_REFUSED;
        status = hsm_list(ctx);
        ca_ctx_free(ctx);
        return status;
    }
    if (strcmp(argv[0], "change-pin") == 0)
        return cmd_hsm_change_pin(conf, argc - 1, argv + 1);
    if (strcmp(argv[0], "keygen") != 0)
        return usage("hsm: unknown subcommand");
    if (!parse_opts(argc - 1, argv + 1, keygen_opts, &o) || !need(&o, keygen_opts))
        return usage(NULL);
    if (!hsm_key_type_parse(opt(&o, "type"), &type))
        return usage("--type: ec:P-256 ec:P-384 rsa:2048 rsa:3072 rsa:4096 ed25519");
    if (!open_ctx(conf, 0, &ctx))
        return EXIT_REFUSED;
    rc = ca_keygen(ctx, opt(&o, "token"), opt(&o, "label"), type, uri, sizeof(uri), detail);
    ca_ctx_free(ctx);
    if (rc != SIGNET_OK)
        return fail("hsm keygen", rc, detail);
    if (json_out) {
        printf("{\"uri\": ");
        json_str(uri);
        printf("}\n");
    } else {
        printf("%s\n", uri);
    }
    return 0;
}

static int ca_create_cmd(const char *conf, int argc, char **argv)
{
    static const char *const names[] = {"name",    "parent", "token",   "type",     "subject",
                                        "csr-out", "days",   "pathlen", "profiles", NULL};
    static const char *const required[] = {"name", "parent", "token", "type", "subject", NULL};
    struct ca_create_opts co = {0};
    struct ca_ctx *ctx = NULL;
    struct opts o;
    uint64_t days = 0, pathlen = 0;
    enum ca_create_result res;
    char detail[SIGNET_DETAIL_MAX] = "";
    enum signet_err rc;

    if (!parse_opts(argc, argv, names, &o) || !need(&o, required))
        return usage(NULL);
    if ((opt(&o, "days") && !sg_parse_u64(opt(&o, "days"), 1, 36500, &days)) ||
        (opt(&o, "pathlen") && !sg_parse_u64(opt(&o, "pathlen"), 0, 16, &pathlen)))
        return usage("--days takes 1..36500, --pathlen 0..16");
    co.name = opt(&o, "name");
    co.parent = opt(&o, "parent");
    if (strcmp(co.parent, "none") == 0) /* a self-signed root */
        co.parent = NULL;
    co.token = opt(&o, "token");
    co.type = opt(&o, "type");
    co.subject = opt(&o, "subject");
    co.csr_out = opt(&o, "csr-out");
    co.days = (int64_t)days;
    co.pathlen = opt(&o, "pathlen") ? (int)pathlen : (co.parent ? 0 : -1);
    co.profiles = opt(&o, "profiles");
    if (!open_ctx(conf, 0, &ctx))
        return EXIT_REFUSED;
    rc = ca_create(ctx, &co, &res, detail);
    ca_ctx_free(ctx);
    if (rc != SIGNET_OK)
        return fail("ca create", rc, detail);
    if (json_out)
        printf("{\"name\": \"%s\", \"result\": \"%s\"}\n", co.name,
               res == CA_CREATED_CSR ? "csr" : "certificate");
    else if (res == CA_CREATED_CSR)
        printf("CA %s: key generated; CSR written to %s; after the ceremony run: signet ca "
               "import-cert --name %s --cert FILE\n",
               co.name, co.csr_out, co.name);
    else
        printf("CA %s: key generated and certificate signed by %s\n", co.name,
               co.parent ? co.parent : "itself");
    return 0;
}

static int ca_list_cmd(struct ca_ctx *ctx)
{
    struct ca_info *v = NULL;
    size_t n = 0;
    char detail[SIGNET_DETAIL_MAX] = "", nb[32], na[32];
    enum signet_err rc = ca_list(ctx, &v, &n, detail);

    if (rc != SIGNET_OK)
        return fail("ca list", rc, detail);
    if (json_out)
        printf("[");
    for (size_t i = 0; i < n; i++) {
        sg_format_time(v[i].not_before, nb, sizeof(nb));
        sg_format_time(v[i].not_after, na, sizeof(na));
        if (json_out) {
            printf("%s{\"name\": ", i ? ", " : "");
            json_str(v[i].name);
            printf(", \"parent\": ");
            json_str(v[i].parent);
            printf(", \"key\": ");
            json_str(v[i].key_uri);
            printf(", \"subject\": ");
            json_str(v[i].subject);
            printf(", \"not_after\": \"%s\", \"profiles\": ", v[i].has_cert ? na : "");
            json_str(v[i].profiles);
            printf("}");
        } else {
            printf("%s parent=%s key=%s subject=%s not_after=%s profiles=%s\n", v[i].name,
                   v[i].parent[0] ? v[i].parent : "-", v[i].key_uri,
                   v[i].has_cert ? v[i].subject : "(no certificate yet)", v[i].has_cert ? na : "-",
                   v[i].profiles[0] ? v[i].profiles : "-");
        }
    }
    if (json_out)
        printf("]\n");
    free(v);
    return 0;
}

static int cmd_ca(const char *conf, int argc, char **argv)
{
    static const char *const import_opts[] = {"name", "cert", NULL};
    struct ca_ctx *ctx = NULL;
    struct opts o;
    char detail[SIGNET_DETAIL_MAX] = "";
    enum signet_err rc;
    int status;

    if (argc < 1)
        return usage("ca: create, import-cert or list");
    if (strcmp(argv[0], "create") == 0)
        return ca_create_cmd(conf, argc - 1, argv + 1);
    if (strcmp(argv[0], "rollover") == 0)
        return cmd_ca_rollover(conf, argc - 1, argv + 1);
    if (strcmp(argv[0], "list") == 0) {
        if (argc != 1)
            return usage("ca list takes no arguments");
        if (!open_ctx(conf, CA_OPEN_READ_ONLY, &ctx))
            return EXIT_REFUSED;
        status = ca_list_cmd(ctx);
        ca_ctx_free(ctx);
        return status;
    }
    if (strcmp(argv[0], "import-cert") != 0)
        return usage("ca: unknown subcommand");
    if (!parse_opts(argc - 1, argv + 1, import_opts, &o) || !need(&o, import_opts))
        return usage(NULL);
    if (!open_ctx(conf, 0, &ctx))
        return EXIT_REFUSED;
    rc = ca_import_cert(ctx, opt(&o, "name"), opt(&o, "cert"), detail);
    ca_ctx_free(ctx);
    if (rc != SIGNET_OK)
        return fail("ca import-cert", rc, detail);
    printf(json_out ? "{\"name\": \"%s\", \"imported\": true}\n" : "CA %s: certificate imported\n",
           opt(&o, "name"));
    return 0;
}

/* PEM of a DER certificate into a malloc'd string. */
static char *der_to_pem(const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    BIO *b = BIO_new(BIO_s_mem());
    BUF_MEM *m = NULL;
    char *s = NULL;

    if (x && b && PEM_write_bio_X509(b, x)) {
        BIO_get_mem_ptr(b, &m);
        s = strndup(m->data, m->length);
    }
    BIO_free(b);
    X509_free(x);
    return s;
}

static int cmd_issue(const char *conf, int argc, char **argv)
{
    static const char *const names[] = {"ca", "profile", "csr", "out", NULL};
    static const char *const required[] = {"ca", "profile", "csr", NULL};
    struct ca_issue_request req = {0};
    struct ca_issued *r = NULL;
    struct ca_issue_opts io = {0, ""};
    struct ca_ctx *ctx = NULL;
    struct opts o;
    unsigned char *csr = NULL;
    char detail[SIGNET_DETAIL_MAX] = "", requester[64], *pem = NULL;
    enum signet_err rc;

    if (!parse_opts(argc, argv, names, &o) || !need(&o, required))
        return usage(NULL);
    if ((rc = ca_read_csr_file(opt(&o, "csr"), &csr, &req.csr_len, detail)) != SIGNET_OK) {
        if (rc != SIGNET_E_INVALID)
            strncat(detail, "; check the path given to --csr", sizeof(detail) - strlen(detail) - 1);
        return fail("issue: read CSR", rc == SIGNET_E_INVALID ? SIGNET_E_BADCSR : rc, detail);
    }
    if (!open_ctx(conf, 0, &ctx)) {
        free(csr);
        return EXIT_REFUSED;
    }
    snprintf(requester, sizeof(requester), "cli:uid=%u", (unsigned)getuid());
    req.csr = csr;
    req.ca = opt(&o, "ca");
    req.profile = opt(&o, "profile");
    req.requester = requester;
    rc = ca_issue_ex(ctx, &req, &io, &r, detail);
    ca_ctx_free(ctx);
    free(csr);
    if (rc == SIGNET_E_QUEUED) {
        if (json_out)
            printf("{\"request\": \"%s\", \"status\": \"pending\"}\n", io.queued_id);
        fprintf(errf, "signet: issue: %s\n", detail);
        return EXIT_QUEUED;
    }
    if (rc != SIGNET_OK)
        return fail("issue", rc, detail);
    if ((pem = der_to_pem(r->der, r->der_len)) == NULL) {
        snprintf(detail, sizeof(detail),
                 "serial %s was issued and recorded but cannot be "
                 "printed; get it with signet cert show --ca %s --serial %s",
                 r->serial, r->ca, r->serial);
        ca_issued_free(r);
        return fail("issue", SIGNET_E_INTERNAL, detail);
    }
    if (opt(&o, "out") &&
        (rc = sg_write_file(opt(&o, "out"), pem, strlen(pem), 0644, detail)) != SIGNET_OK) {
        fail("issue: write the certificate (it is issued and recorded)", rc, detail);
        free(pem);
        ca_issued_free(r);
        return EXIT_REFUSED;
    }
    if (json_out) {
        printf("{\"ca\": \"%s\", \"serial\": \"%s\", \"certificate\": ", r->ca, r->serial);
        json_str(pem);
        printf("}\n");
    } else if (opt(&o, "out")) {
        printf("serial %s\n", r->serial);
    } else {
        fputs(pem, stdout);
        fprintf(errf, "serial %s\n", r->serial);
    }
    free(pem);
    ca_issued_free(r);
    return 0;
}

struct list_arg {
    int n;
};

static int print_cert(const struct store_cert *c, void *arg)
{
    struct list_arg *a = arg;
    char serial[2 * STORE_SERIAL_MAX + 1], na[32];

    sg_hex_encode(c->serial, c->serial_len, serial);
    sg_format_time(c->not_after, na, sizeof(na));
    if (json_out) {
        printf("%s{\"serial\": \"%s\", \"status\": \"%s\", \"not_after\": \"%s\", \"profile\": ",
               a->n ? ", " : "", serial, store_cert_state_name(c->state), na);
        json_str(c->profile);
        printf(", \"requester\": ");
        json_str(c->requester);
        printf("}");
    } else {
        printf("%s %s %s %s %s\n", serial, store_cert_state_name(c->state), na,
               c->profile[0] ? c->profile : "-", c->requester[0] ? c->requester : "-");
    }
    a->n++;
    return 1;
}

static int cert_show(struct ca_ctx *ctx, const char *ca, const char *serial)
{
    struct store_cert *c = NULL;
    char detail[SIGNET_DETAIL_MAX] = "", hex[2 * STORE_SERIAL_MAX + 1], na[32], *pem = NULL;
    enum signet_err rc = ca_cert_get(ctx, ca, serial, &c, detail);

    if (rc != SIGNET_OK)
        return fail("cert show", rc, detail);
    sg_hex_encode(c->serial, c->serial_len, hex);
    sg_format_time(c->not_after, na, sizeof(na));
    if (c->state != STORE_CERT_PENDING)
        pem = der_to_pem(c->der, c->der_len);
    if (json_out) {
        printf("{\"serial\": \"%s\", \"status\": \"%s\", \"not_after\": \"%s\", \"profile\": ", hex,
               store_cert_state_name(c->state), na);
        json_str(c->profile);
        printf(", \"certificate\": ");
        json_str(pem ? pem : "");
        printf("}\n");
    } else {
        printf("serial:    %s\nstatus:    %s\nnot after: %s\nprofile:   %s\nrequester: %s\n%s", hex,
               store_cert_state_name(c->state), na, c->profile, c->requester,
               pem ? pem : "(pending: signing was interrupted; treated as possibly issued)\n");
    }
    free(pem);
    store_cert_free(c);
    return 0;
}

static int cmd_cert(const char *conf, int argc, char **argv)
{
    static const char *const list_opts[] = {"ca", "status", NULL};
    static const char *const show_opts[] = {"ca", "serial", NULL};
    struct ca_ctx *ctx = NULL;
    struct opts o;
    struct list_arg la = {0};
    enum store_cert_state st = 0;
    char detail[SIGNET_DETAIL_MAX] = "";
    enum signet_err rc;
    int show, status = 0;

    if (argc < 1 || (strcmp(argv[0], "list") != 0 && strcmp(argv[0], "show") != 0))
        return usage("cert: list or show");
    show = strcmp(argv[0], "show") == 0;
    if (!parse_opts(argc - 1, argv + 1, show ? show_opts : list_opts, &o) ||
        !need(&o, show ? show_opts : (const char *const[]){"ca", NULL}))
        return usage(NULL);
    if (opt(&o, "status")) {
        const char *s = opt(&o, "status");
        st = strcmp(s, "issued") == 0    ? STORE_CERT_ISSUED
             : strcmp(s, "revoked") == 0 ? STORE_CERT_REVOKED
             : strcmp(s, "pending") == 0 ? STORE_CERT_PENDING
                                         : 0;
        if (st == 0)
            return usage("--status: issued, revoked or pending");
    }
    if (!open_ctx(conf, CA_OPEN_READ_ONLY, &ctx))
        return EXIT_REFUSED;
    if (show) {
        status = cert_show(ctx, opt(&o, "ca"), opt(&o, "serial"));
    } else {
        if (json_out)
            printf("[");
        rc = ca_cert_iter(ctx, opt(&o, "ca"), st, print_cert, &la, detail);
        if (json_out)
            printf("]\n");
        if (rc != SIGNET_OK)
            status = fail("cert list", rc, detail);
    }
    ca_ctx_free(ctx);
    return status;
}

/* policy check: the blocked-key table, read-only. 1 blocked, 0 not, -1 unreadable. */
static int policy_key_blocked(const unsigned char h[POLICY_SPKI_HASH], void *arg)
{
    enum signet_err rc = store_blocked_key_get(arg, h, NULL, NULL);
    return rc == SIGNET_OK ? 1 : rc == SIGNET_E_NOTFOUND ? 0 : -1;
}

/* Prints every rule's verdict (text or --json); returns the exit status. */
static int policy_print(const char *profile, const struct policy_decision *d)
{
    struct policy_verdict v;
    int ok = policy_decision_allowed(d);

    if (json_out)
        printf("{\"profile\": \"%s\", \"allowed\": %s, \"rules\": [", profile,
               ok ? "true" : "false");
    for (size_t i = 0; policy_decision_verdict(d, i, &v); i++) {
        if (json_out) {
            printf("%s{\"rule\": ", i ? ", " : "");
            json_str(v.rule);
            printf(", \"value\": ");
            json_str(v.value);
            printf(", \"allowed\": %s, \"why\": ", v.allowed ? "true" : "false");
            json_str(v.why);
            printf("}");
        } else {
            printf("%-8s %-16s %-32s %s\n", v.allowed ? "allowed" : "REFUSED", v.rule,
                   v.value[0] ? v.value : "-", v.why);
        }
    }
    if (json_out)
        printf("]}\n");
    else if (ok)
        printf("profile %s allows this CSR (approval: %s)\n", profile,
               policy_decision_approval(d) == POLICY_APPROVAL_MANUAL ? "manual" : "auto");
    else
        printf("profile %s refuses this CSR (%s): %s\n", profile,
               signet_err_name(policy_decision_err(d)), policy_decision_error(d));
    return ok ? 0 : EXIT_REFUSED;
}

/* `policy check --profile P --csr F`: a dry run of the profile's rules; nothing is written. */
static int cmd_policy(const char *conf, int argc, char **argv)
{
    static const char *const names[] = {"profile", "csr", NULL};
    const struct policy_profile *p;
    struct policy_eval_opts eo = {policy_key_blocked, NULL};
    struct policy_decision *d = NULL;
    struct ca_ctx *ctx = NULL;
    struct policy_csr *req = NULL;
    struct opts o;
    unsigned char *csr = NULL;
    size_t len = 0;
    char detail[SIGNET_DETAIL_MAX] = "";
    enum signet_err rc;
    int status = EXIT_REFUSED;

    if (argc < 1 || strcmp(argv[0], "check") != 0)
        return usage("policy: use `signet policy check --profile P --csr F`");
    if (!parse_opts(argc - 1, argv + 1, names, &o) || !need(&o, names))
        return usage(NULL);
    if ((rc = ca_read_csr_file(opt(&o, "csr"), &csr, &len, detail)) != SIGNET_OK)
        return fail("policy check: read CSR", rc == SIGNET_E_INVALID ? SIGNET_E_BADCSR : rc,
                    detail);
    if (!open_ctx(conf, CA_OPEN_READ_ONLY, &ctx))
        goto out;
    if ((p = policy_set_get(ca_ctx_policies(ctx), opt(&o, "profile"))) == NULL) {
        snprintf(detail, sizeof(detail), "profile %s: not in the policies directory",
                 opt(&o, "profile"));
        status = fail("policy check", SIGNET_E_NOTFOUND, detail);
        goto out;
    }
    eo.key_blocked_arg = ca_ctx_store(ctx);
    if ((rc = policy_csr_parse(csr, len, &req, detail)) != SIGNET_OK ||
        (rc = policy_evaluate_ex(p, req, &eo, &d, detail)) != SIGNET_OK) {
        status = fail("policy check", rc, detail);
        goto out;
    }
    status = policy_print(policy_profile_name(p), d);
out:
    policy_decision_free(d);
    policy_csr_free(req);
    ca_ctx_free(ctx);
    free(csr);
    return status;
}

/*
 * The libraries log to stderr; a command's outcome must be one line there. Keep our own
 * stream on a copy of stderr and send the libraries' lines to /dev/null (-v shows them).
 */
static void quiet_libraries(void)
{
    int fd = dup(STDERR_FILENO), nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

    if (f == NULL || nul < 0) {
        if (nul >= 0)
            close(nul);
        return;
    }
    setvbuf(f, NULL, _IOLBF, 0);
    errf = f;
    dup2(nul, STDERR_FILENO);
    close(nul);
}

int main(int argc, char **argv)
{
    const char *conf = getenv("SIGNET_CONF");
    int i = 1;

    int verbose = 0;

    errf = stderr;
    sg_log_init("signet", SG_LOG_DEBUG);
    sg_no_core_dumps();
    for (int k = 1; k < argc && argv[k][0] == '-'; k++)
        verbose |= strcmp(argv[k], "-v") == 0;
    if (!verbose)
        quiet_libraries();
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-v") == 0)
            continue;
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
            conf = argv[++i];
        else if (strcmp(argv[i], "--json") == 0)
            json_out = 1;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        } else
            return usage("unknown option");
    }
    if (conf == NULL || conf[0] == '\0')
        conf = "signet.conf";
    if (i >= argc)
        return usage(NULL);
    if (strcmp(argv[i], "demo") == 0)
        return cmd_demo(argc - i - 1, argv + i + 1);
    if (strcmp(argv[i], "hsm") == 0)
        return cmd_hsm(conf, argc - i - 1, argv + i + 1);
    if (strcmp(argv[i], "key") == 0)
        return cmd_key(conf, argc - i - 1, argv + i + 1);
    if (strcmp(argv[i], "ca") == 0)
        return cmd_ca(conf, argc - i - 1, argv + i + 1);
    if (strcmp(argv[i], "issue") == 0)
        return cmd_issue(conf, argc - i - 1, argv + i + 1);
    if (strcmp(argv[i], "cert") == 0)
        return cmd_cert(conf, argc - i - 1, argv + i + 1);
    if (strcmp(argv[i], "policy") == 0)
        return cmd_policy(conf, argc - i - 1, argv + i + 1);
    if (strcmp(argv[i], "revoke") == 0)
        return cmd_revoke(conf, argc - i - 1, argv + i + 1);
    if (strcmp(argv[i], "crl") == 0)
        return cmd_crl(conf, argc - i - 1, argv + i + 1);
    if (strcmp(argv[i], "request") == 0)
        return cmd_request(conf, argc - i - 1, argv + i + 1);
    if (strcmp(argv[i], "root") == 0)
        return cmd_root(conf, argc - i - 1, argv + i + 1);
    if (strcmp(argv[i], "ceremony") == 0)
        return cmd_ceremony(conf, argc - i - 1, argv + i + 1);
    if (strcmp(argv[i], "audit") == 0)
        return cmd_audit(conf, argc - i - 1, argv + i + 1);
    if (strcmp(argv[i], "backup") == 0)
        return cmd_backup(conf, argc - i - 1, argv + i + 1);
    return usage("unknown command");
}
