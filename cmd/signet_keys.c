/* SPDX-License-Identifier: Apache-2.0 */
/*
 * signet key migrate, signet hsm change-pin, signet ca rollover (docs/keys.md). PINs come from
 * files (mode 0600) or the terminal, never from argv.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signet.h"

/* Removes a value-less flag ("--seal") from argv; 1 when it was there. */
static int take_flag(int *argc, char **argv, const char *flag)
{
    int found = 0, k = 0;

    for (int i = 0; i < *argc; i++) {
        if (strcmp(argv[i], flag) == 0)
            found = 1;
        else
            argv[k++] = argv[i];
    }
    *argc = k;
    return found;
}

/* A PIN from file:PATH when given, else from the terminal (prompt). NULL after a message. */
static struct secret *pin_from(const char *file, const char *what)
{
    char spec[1100], detail[SIGNET_DETAIL_MAX] = "";
    struct secret *s = NULL;
    enum signet_err rc;

    if (file != NULL && strlen(file) > 1000) {
        fail(what, SIGNET_E_USAGE, strcpy(detail, "file name too long"));
        return NULL;
    }
    snprintf(spec, sizeof(spec), file != NULL ? "file:%s" : "prompt", file);
    if ((rc = secret_load(spec, ".", what, &s, detail)) != SIGNET_OK) {
        fail(what, rc, detail);
        return NULL;
    }
    return s;
}

int cmd_key(const char *conf, int argc, char **argv)
{
    static const char *const names[] = {"from", "to", "cert", "source-so-pin-file", NULL};
    static const char *const required[] = {"from", "to", NULL};
    struct ca_migrate_opts mo = {0};
    struct ca_migrate_result res;
    struct secret *so = NULL;
    struct ca_ctx *ctx = NULL;
    struct opts o;
    char detail[SIGNET_DETAIL_MAX] = "";
    enum signet_err rc;

    if (argc < 1 || strcmp(argv[0], "migrate") != 0)
        return fail("key", SIGNET_E_USAGE,
                    strcpy(detail, "usage: signet key migrate --from URI --to URI [--cert FILE] "
                                   "[--source-so-pin-file F] [--seal]"));
    argc--;
    argv++;
    mo.seal = take_flag(&argc, argv, "--seal");
    if (!parse_opts(argc, argv, names, &o) || !need(&o, required))
        return EXIT_USAGE;
    mo.from = opt(&o, "from");
    mo.to = opt(&o, "to");
    mo.cert_path = opt(&o, "cert");
    if (opt(&o, "source-so-pin-file") != NULL &&
        (so = pin_from(opt(&o, "source-so-pin-file"), "source SO PIN")) == NULL)
        return EXIT_REFUSED;
    mo.source_so_pin = so;
    if (!open_ctx(conf, 0, &ctx)) {
        secret_free(so);
        return EXIT_REFUSED;
    }
    rc = ca_key_migrate(ctx, &mo, &res, detail);
    ca_ctx_free(ctx);
    secret_free(so);
    if (rc != SIGNET_OK)
        return fail("key migrate", rc, detail);
    if (json_out) {
        printf("{\"ca\": ");
        json_str(res.ca);
        printf(", \"uri\": ");
        json_str(res.new_uri);
        printf(", \"proven\": %s}\n", res.proven ? "true" : "false");
    } else {
        printf("key %s migrated to %s\n", mo.from, res.new_uri);
        printf("proof: the new key signed a random message that the certificate of %s "
               "verifies\n",
               res.ca[0] ? res.ca : mo.cert_path);
        printf("next: set key = %s in [ca.%s] of %s, then restart signetd; the source key is "
               "still on its token until you remove it\n",
               res.new_uri, res.ca[0] ? res.ca : "NAME", conf);
    }
    return 0;
}

int cmd_hsm_change_pin(const char *conf, int argc, char **argv)
{
    static const char *const names[] = {"token", "old-pin-file", "new-pin-file", NULL};
    static const char *const required[] = {"token", NULL};
    struct secret *old_pin = NULL, *new_pin = NULL, *again = NULL;
    struct ca_pin_change res;
    struct ca_ctx *ctx = NULL;
    struct opts o;
    char detail[SIGNET_DETAIL_MAX] = "";
    enum signet_err rc;
    int status = EXIT_REFUSED;

    if (!parse_opts(argc, argv, names, &o) || !need(&o, required))
        return EXIT_USAGE;
    if ((old_pin = pin_from(opt(&o, "old-pin-file"), "old PIN")) == NULL ||
        (new_pin = pin_from(opt(&o, "new-pin-file"), "new PIN")) == NULL)
        goto out;
    if (opt(&o, "new-pin-file") == NULL) {
        if ((again = pin_from(NULL, "new PIN again")) == NULL)
            goto out;
        if (!secret_equal(new_pin, again)) {
            status = fail("hsm change-pin", SIGNET_E_USAGE,
                          strcpy(detail, "the two new PINs differ; nothing was changed"));
            goto out;
        }
    }
    if (!open_ctx(conf, 0, &ctx))
        goto out;
    rc = ca_change_pin(ctx, opt(&o, "token"), old_pin, new_pin, &res, detail);
    if (rc != SIGNET_OK) {
        status = fail("hsm change-pin", rc, detail);
        goto out;
    }
    if (json_out) {
        printf("{\"token\": ");
        json_str(opt(&o, "token"));
        printf(", \"source\": ");
        json_str(res.source);
        printf(", \"source_updated\": %s}\n", res.source_updated ? "true" : "false");
    } else if (res.source_updated) {
        printf("token %s: PIN changed; %s rewritten; send SIGHUP to signetd so that its next "
               "login uses it\n",
               opt(&o, "token"), res.source);
    } else {
        printf("token %s: PIN changed; its source (%s) is not a file: update it yourself, then "
               "send SIGHUP to signetd\n",
               opt(&o, "token"), res.source);
    }
    status = 0;
out:
    ca_ctx_free(ctx);
    secret_free(old_pin);
    secret_free(new_pin);
    secret_free(again);
    return status;
}

int cmd_ca_rollover(const char *conf, int argc, char **argv)
{
    static const char *const names[] = {"name", "days", "csr-out", "import-cert", NULL};
    static const char *const required[] = {"name", NULL};
    struct ca_rollover_opts ro = {0};
    struct ca_rollover_result res;
    struct ca_ctx *ctx = NULL;
    struct opts o;
    uint64_t days = 0;
    char detail[SIGNET_DETAIL_MAX] = "";
    enum signet_err rc;

    ro.retire = take_flag(&argc, argv, "--retire-previous");
    if (!parse_opts(argc, argv, names, &o) || !need(&o, required))
        return EXIT_USAGE;
    if (opt(&o, "days") && !sg_parse_u64(opt(&o, "days"), 1, 36500, &days))
        return fail("ca rollover", SIGNET_E_USAGE, strcpy(detail, "--days takes 1..36500"));
    ro.name = opt(&o, "name");
    ro.days = (int64_t)days;
    ro.csr_out = opt(&o, "csr-out");
    ro.import_cert = opt(&o, "import-cert");
    if (!open_ctx(conf, 0, &ctx))
        return EXIT_REFUSED;
    rc = ca_rollover(ctx, &ro, &res, detail);
    ca_ctx_free(ctx);
    if (rc != SIGNET_OK)
        return fail("ca rollover", rc, detail);
    if (json_out) {
        printf("{\"name\": ");
        json_str(ro.name);
        printf(", \"result\": \"%s\", \"key\": ", res.retired      ? "retired"
                                                  : res.signed_now ? "switched"
                                                                   : "csr");
        json_str(res.new_key);
        printf(", \"previous_key\": ");
        json_str(res.previous_key);
        printf(", \"previous_cert\": ");
        json_str(res.previous_cert);
        printf("}\n");
    } else if (res.retired) {
        printf("CA %s: previous key %s retired from the configuration (still on the token)\n",
               ro.name, res.previous_key);
    } else if (res.signed_now) {
        printf("CA %s: new key %s certified; previous key %s and certificate %s keep signing "
               "CRLs and OCSP for what they issued; restart signetd (its SIGHUP reload refuses a "
               "changed key)\n",
               ro.name, res.new_key, res.previous_key, res.previous_cert);
    } else {
        printf("CA %s: new key %s; CSR written to %s; after the ceremony run: signet ca "
               "rollover --name %s --import-cert FILE\n",
               ro.name, res.new_key, res.csr, ro.name);
    }
    return 0;
}
