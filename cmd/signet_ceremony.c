/* SPDX-License-Identifier: Apache-2.0 */
/* signet root init, signet ceremony run and signet audit verify: the offline root's commands. */
#include <stdlib.h>
#include <string.h>

#include "signet.h"

#define SHARE_ARGS_MAX 16

/*
 * "--share FILE[:PASSFILE]": splits at the last ':' (a passphrase file), else the passphrase is
 * asked on the terminal. The strings point into a copy the caller frees.
 */
static int share_arg(const char *arg, struct ca_share_src *out, char **copy)
{
    char *c = strdup(arg), *colon;

    if (c == NULL)
        return 0;
    *copy = c;
    out->path = c;
    out->pass = NULL;
    if ((colon = strrchr(c, ':')) != NULL) {
        *colon = 0;
        out->pass = colon + 1;
    }
    return out->path[0] != 0;
}

static int parse_quorum(const char *s, unsigned *m, unsigned *n)
{
    char tail;
    return s != NULL && sscanf(s, "%u/%u%c", m, n, &tail) == 2;
}

int cmd_root(const char *conf, int argc, char **argv)
{
    static const char *const names[] = {"name",   "token",      "subject",  "type", "days",
                                        "quorum", "shares-dir", "pass-dir", NULL};
    static const char *const required[] = {"name",   "token",      "subject", "type",
                                           "quorum", "shares-dir", NULL};
    struct ca_root_init_opts ro = {0};
    struct ca_ctx *ctx = NULL;
    struct opts o;
    char detail[SIGNET_DETAIL_MAX] = "";
    uint64_t days = 0;
    enum signet_err rc;

    if (argc < 1 || strcmp(argv[0], "init") != 0) {
        fprintf(errf, "signet: root: use `signet root init --name N --token T --subject DN "
                      "--type TYPE --days D --quorum M/N --shares-dir DIR [--pass-dir DIR]`\n");
        return EXIT_USAGE;
    }
    if (!parse_opts(argc - 1, argv + 1, names, &o) || !need(&o, required))
        return EXIT_USAGE;
    if (!parse_quorum(opt(&o, "quorum"), &ro.m, &ro.n) ||
        (opt(&o, "days") && !sg_parse_u64(opt(&o, "days"), 1, 36500, &days))) {
        fprintf(errf, "signet: root init: --quorum M/N (e.g. 2/3) and --days 1..36500\n");
        return EXIT_USAGE;
    }
    ro.name = opt(&o, "name");
    ro.token = opt(&o, "token");
    ro.subject = opt(&o, "subject");
    ro.type = opt(&o, "type");
    ro.days = (int64_t)days;
    ro.shares_dir = opt(&o, "shares-dir");
    ro.pass_dir = opt(&o, "pass-dir");
    sg_no_core_dumps();
    if (!open_ctx(conf, 0, &ctx))
        return EXIT_REFUSED;
    rc = ca_root_init(ctx, &ro, detail);
    ca_ctx_free(ctx);
    if (rc != SIGNET_OK)
        return fail("root init", rc, detail);
    printf(json_out ? "{\"root\": \"%s\", \"quorum\": \"%u/%u\", \"shares\": \"%s\"}\n"
                    : "root %s created; its credential is split %u of %u in %s/share-*.share: "
                      "give each custodian their share\n",
           ro.name, ro.m, ro.n, ro.shares_dir);
    return 0;
}

/* Parses ceremony run's arguments into co (shares into src, copies freed by the caller). */
static int ceremony_args(int argc, char **argv, struct ca_ceremony_opts *co,
                         struct ca_share_src *src, char **copies)
{
    memset(co, 0, sizeof(*co));
    co->shares = src;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--dry-run") == 0) {
            co->dry_run = 1;
            continue;
        }
        if (a[0] != '-' && co->file == NULL) {
            co->file = a;
            continue;
        }
        if (v == NULL) {
            fprintf(errf, "signet: ceremony run: %s needs a value\n", a);
            return 0;
        }
        i++;
        if (strcmp(a, "--plan-out") == 0)
            co->plan_out = v;
        else if (strcmp(a, "--plan") == 0)
            co->plan_in = v;
        else if (strcmp(a, "--share") == 0 && co->nshares < SHARE_ARGS_MAX) {
            if (!share_arg(v, &src[co->nshares], &copies[co->nshares]))
                return 0;
            co->nshares++;
        } else {
            fprintf(errf, "signet: ceremony run: unknown or repeated too often: %s\n", a);
            return 0;
        }
    }
    if (co->file == NULL || (co->dry_run && (co->nshares || co->plan_in)) ||
        (!co->dry_run && co->plan_out)) {
        fprintf(errf, "signet: use `signet ceremony run FILE --dry-run [--plan-out PLAN]` or "
                      "`signet ceremony run FILE --share F[:PASSFILE] ... [--plan PLAN]`\n");
        return 0;
    }
    return 1;
}

int cmd_ceremony(const char *conf, int argc, char **argv)
{
    struct ca_share_src src[SHARE_ARGS_MAX];
    char *copies[SHARE_ARGS_MAX] = {0}, detail[SIGNET_DETAIL_MAX] = "";
    struct ca_ceremony_opts co;
    struct ca_ceremony_result r;
    struct ca_ctx *ctx = NULL;
    enum signet_err rc;
    int status = EXIT_USAGE;

    if (argc < 1 || strcmp(argv[0], "run") != 0 ||
        !ceremony_args(argc - 1, argv + 1, &co, src, copies))
        goto out;
    sg_no_core_dumps();
    status = EXIT_REFUSED;
    if (!open_ctx(conf, co.dry_run ? CA_OPEN_READ_ONLY : 0, &ctx))
        goto out;
    rc = ca_ceremony_run(ctx, &co, &r, detail);
    if (rc != SIGNET_OK) {
        status = fail(co.dry_run ? "ceremony dry run" : "ceremony", rc, detail);
        goto out;
    }
    status = 0;
    if (json_out) {
        printf("{\"operation\": \"%s\", \"dry_run\": %s, \"serial\": \"%s\", \"tbs_sha256\": "
               "\"%s\", \"out\": ",
               r.operation, co.dry_run ? "true" : "false", r.serial, r.tbs_sha256);
        json_str(r.out);
        printf(", \"shares\": \"%s\"}\n", r.shares);
        goto out;
    }
    printf("ceremony %s (%s)\n", r.operation, co.dry_run ? "dry run: nothing signed" : "signed");
    if (r.serial[0])
        printf("subject: %s\nserial: %s\nvalidity: %s to %s\n", r.subject, r.serial, r.not_before,
               r.not_after);
    if (r.tbs_sha256[0])
        printf("TBS SHA-256: %s\n", r.tbs_sha256);
    if (co.dry_run && co.plan_out)
        printf("plan: %s\n", co.plan_out);
    if (!co.dry_run && r.shares[0])
        printf("shares used: %s\n", r.shares);
    if (r.out[0])
        printf("written: %s (SHA-256 %s)\n", r.out, r.out_sha256);
out:
    for (int i = 0; i < SHARE_ARGS_MAX; i++)
        free(copies[i]);
    ca_ctx_free(ctx);
    return status;
}

int cmd_audit(const char *conf, int argc, char **argv)
{
    char detail[SIGNET_DETAIL_MAX] = "";
    struct ca_ctx *ctx = NULL;
    uint64_t entries = 0;
    size_t transcripts = 0;
    enum signet_err rc;

    (void)argv;
    if (argc != 1 || strcmp(argv[0], "verify") != 0) {
        fprintf(errf, "signet: audit: use `signet audit verify`\n");
        return EXIT_USAGE;
    }
    if (!open_ctx(conf, CA_OPEN_READ_ONLY, &ctx))
        return EXIT_REFUSED;
    rc = ca_audit_verify(ctx, &entries, &transcripts, detail);
    ca_ctx_free(ctx);
    if (rc != SIGNET_OK)
        return fail("audit verify", rc, detail);
    printf(json_out ? "{\"entries\": %llu, \"transcripts\": %zu, \"ok\": true}\n"
                    : "audit chain intact: %llu entries, %zu ceremony transcripts verified\n",
           (unsigned long long)entries, transcripts);
    return 0;
}
