/* SPDX-License-Identifier: Apache-2.0 */
/* signet backup create | verify | restore | prune (docs/backup.md). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "signet.h"

#define SHARES_MAX 16

static const char usage_text[] =
    "usage: signet backup create --out FILE\n"
    "       signet backup verify FILE [--recipient-key KEY] [--signer-cert CRT]\n"
    "       signet backup restore FILE --dir DIR [--share FILE[:PASSFILE]]... "
    "[--recipient-key KEY] [--signer-cert CRT]\n"
    "       signet backup prune DIR --keep N [--max-age DAYS] [--dry-run]\n"
    "       signet backup init-kek [--token NAME] [--replace]   (the SO; signetd stopped)\n";

static int usage(const char *why)
{
    fprintf(errf, "signet: backup: %s\n%s", why, usage_text);
    return EXIT_USAGE;
}

/* Progress lines on the terminal only. */
static void progress(const char *step)
{
    fprintf(errf, "signet: backup: %s\n", step);
}

static ca_backup_progress_fn progress_fn(void)
{
    return isatty(fileno(errf)) ? progress : NULL;
}

struct bargs {
    const char *pos, *out, *dir, *rkey, *rcert, *scert, *keep, *max_age, *token;
    int dry_run, replace;
    struct ca_share_src shares[SHARES_MAX];
    char *share_buf[SHARES_MAX];
    size_t nshares;
};

/* --share FILE[:PASSFILE] */
static int add_share(struct bargs *b, const char *v)
{
    char *s, *colon;

    if (b->nshares == SHARES_MAX || (s = strdup(v)) == NULL)
        return 0;
    b->share_buf[b->nshares] = s;
    colon = strrchr(s, ':');
    if (colon != NULL)
        *colon = 0;
    b->shares[b->nshares].path = s;
    b->shares[b->nshares].pass = colon ? colon + 1 : NULL;
    b->nshares++;
    return 1;
}

/* One positional argument and --name value options. 1 = ok. */
static int parse(int argc, char **argv, struct bargs *b)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], **slot = NULL;
        if (strcmp(a, "--dry-run") == 0 || strcmp(a, "--replace") == 0) {
            *(a[2] == 'd' ? &b->dry_run : &b->replace) = 1;
            continue;
        }
        if (a[0] != '-' || a[1] != '-') {
            if (b->pos != NULL)
                return 0;
            b->pos = a;
            continue;
        }
        if (i + 1 >= argc)
            return 0;
        if (strcmp(a, "--out") == 0)
            slot = &b->out;
        else if (strcmp(a, "--dir") == 0)
            slot = &b->dir;
        else if (strcmp(a, "--recipient-key") == 0)
            slot = &b->rkey;
        else if (strcmp(a, "--recipient-cert") == 0)
            slot = &b->rcert;
        else if (strcmp(a, "--signer-cert") == 0)
            slot = &b->scert;
        else if (strcmp(a, "--keep") == 0)
            slot = &b->keep;
        else if (strcmp(a, "--max-age") == 0)
            slot = &b->max_age;
        else if (strcmp(a, "--token") == 0)
            slot = &b->token;
        else if (strcmp(a, "--share") == 0) {
            if (!add_share(b, argv[++i]))
                return 0;
            continue;
        } else
            return 0;
        *slot = argv[++i];
    }
    return 1;
}

static void print_summary(const char *verb, const char *file, const struct ca_backup_summary *s)
{
    char when[32];

    sg_format_time(s->created, when, sizeof(when));
    if (json_out) {
        printf("{\"file\": ");
        json_str(file);
        printf(", \"created\": \"%s\", \"parts\": %zu, \"bytes\": %llu, \"keys\": %zu, "
               "\"cas\": %zu, \"certificates\": %llu, \"revoked\": %llu, \"audit_entries\": "
               "%llu, \"signer_pinned\": %s",
               when, s->parts, (unsigned long long)s->bytes, s->keys, s->cas,
               (unsigned long long)s->certs, (unsigned long long)s->revoked,
               (unsigned long long)s->audit_entries, s->signer_pinned ? "true" : "false");
        if (s->crl_floor)
            printf(", \"crl_floor\": %llu, \"root\": ", (unsigned long long)s->crl_floor);
        if (s->crl_floor)
            json_str(s->root_checked);
        printf("}\n");
        return;
    }
    if (strcmp(verb, "wrote") == 0) {
        printf("wrote %s: taken %s, %zu parts (%llu bytes), %zu wrapped keys\n", file, when,
               s->parts, (unsigned long long)s->bytes, s->keys);
        return;
    }
    printf("%s %s: taken %s, %zu parts (%llu bytes), %zu wrapped keys, %zu CAs, %llu "
           "certificates (%llu revoked), %llu audit entries%s\n",
           verb, file, when, s->parts, (unsigned long long)s->bytes, s->keys, s->cas,
           (unsigned long long)s->certs, (unsigned long long)s->revoked,
           (unsigned long long)s->audit_entries,
           s->signer_pinned ? "" : " (signer NOT pinned: give --signer-cert)");
    if (s->crl_floor)
        printf("CRL numbers continue above %llu; root: %s\n", (unsigned long long)s->crl_floor,
               s->root_checked);
}

static int do_create(const char *conf, struct bargs *b)
{
    struct ca_backup_summary s;
    struct ca_ctx *ctx = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";
    enum signet_err rc;

    if (b->out == NULL || b->pos != NULL)
        return usage("create needs --out FILE");
    if (!open_ctx(conf, 0, &ctx))
        return EXIT_REFUSED;
    rc = ca_backup_create(ctx, b->out, progress_fn(), &s, detail);
    ca_ctx_free(ctx);
    if (rc != SIGNET_OK)
        return fail("backup create", rc, detail);
    print_summary("wrote", b->out, &s);
    return 0;
}

static int do_verify(const char *conf, struct bargs *b)
{
    struct ca_backup_keys k = {b->rkey, b->rcert, b->scert};
    struct ca_backup_summary s;
    struct ca_ctx *ctx = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";
    enum signet_err rc;

    if (b->pos == NULL)
        return usage("verify needs the backup file");
    if (access(conf, R_OK) == 0 && !open_ctx(conf, 0, &ctx))
        return EXIT_REFUSED;
    rc = ca_backup_verify(ctx, b->pos, &k, &s, detail);
    ca_ctx_free(ctx);
    if (rc != SIGNET_OK)
        return fail("backup verify", rc, detail);
    print_summary("verified", b->pos, &s);
    return 0;
}

static int do_restore(struct bargs *b)
{
    struct ca_backup_restore_opts o;
    struct ca_backup_summary s;
    char detail[SIGNET_DETAIL_MAX] = "";
    uint64_t t0 = sg_mono_ms();
    enum signet_err rc;

    if (b->pos == NULL || b->dir == NULL)
        return usage("restore needs the backup file and --dir DIR");
    memset(&o, 0, sizeof(o));
    o.file = b->pos;
    o.dir = b->dir;
    o.keys = (struct ca_backup_keys){b->rkey, b->rcert, b->scert};
    o.shares = b->shares;
    o.nshares = b->nshares;
    o.progress = progress_fn();
    sg_no_core_dumps();
    if ((rc = ca_backup_restore(&o, &s, detail)) != SIGNET_OK)
        return fail("backup restore", rc, detail);
    print_summary("restored", b->pos, &s);
    if (!json_out)
        printf("restore took %.1f s; start signetd with -c %s/signet.conf\n",
               (double)(sg_mono_ms() - t0) / 1000.0, b->dir);
    return 0;
}

static int do_prune(struct bargs *b)
{
    uint64_t keep = 0, days = 0;
    size_t deleted = 0, kept = 0;
    char detail[SIGNET_DETAIL_MAX] = "";
    enum signet_err rc;

    if (b->pos == NULL || b->keep == NULL || !sg_parse_u64(b->keep, 1, 100000, &keep))
        return usage("prune needs DIR and --keep N (1 or more)");
    if (b->max_age != NULL && !sg_parse_u64(b->max_age, 1, 36500, &days))
        return usage("--max-age is a number of days (1 to 36500)");
    rc = ca_backup_prune(b->pos, (unsigned)keep, (int64_t)days * 86400, b->dry_run, &deleted, &kept,
                         detail);
    if (rc != SIGNET_OK)
        return fail("backup prune", rc, detail);
    if (json_out)
        printf("{\"deleted\": %zu, \"kept\": %zu}\n", deleted, kept);
    else
        printf("%s %zu backup(s), kept %zu in %s\n", b->dry_run ? "would delete" : "deleted",
               deleted, kept, b->pos);
    return 0;
}

static int do_kek(const char *conf, struct bargs *b)
{
    struct ca_ctx *ctx = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";
    enum signet_err rc;

    if (b->pos != NULL)
        return usage("init-kek takes no file");
    if (!open_ctx(conf, 0, &ctx))
        return EXIT_REFUSED;
    rc = ca_backup_kek_init(ctx, b->token, b->replace, detail);
    ca_ctx_free(ctx);
    if (rc != SIGNET_OK)
        return fail("backup init-kek", rc, detail);
    printf("backup key-encryption key made on %s\n", b->token ? b->token : "every online token");
    return 0;
}

int cmd_backup(const char *conf, int argc, char **argv)
{
    struct bargs b;
    int rc;

    memset(&b, 0, sizeof(b));
    if (argc < 1)
        return usage("which one: create, verify, restore or prune?");
    if (!parse(argc - 1, argv + 1, &b)) {
        rc = usage("unknown option, missing value or extra argument");
        goto out;
    }
    if (strcmp(argv[0], "create") == 0)
        rc = do_create(conf, &b);
    else if (strcmp(argv[0], "verify") == 0)
        rc = do_verify(conf, &b);
    else if (strcmp(argv[0], "restore") == 0)
        rc = do_restore(&b);
    else if (strcmp(argv[0], "prune") == 0)
        rc = do_prune(&b);
    else if (strcmp(argv[0], "init-kek") == 0)
        rc = do_kek(conf, &b);
    else
        rc = usage("unknown backup command");
out:
    for (size_t i = 0; i < b.nshares; i++)
        free(b.share_buf[i]);
    return rc;
}
