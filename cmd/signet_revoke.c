/* SPDX-License-Identifier: Apache-2.0 */
/* signet revoke and signet crl: revocation and CRL generation from the operator's terminal. */
#include <string.h>
#include <unistd.h>

#include "signet.h"

static int usage_revoke(const char *why)
{
    fprintf(errf,
            "signet: revoke: %s\n"
            "usage: signet revoke --ca N --serial HEX --reason REASON "
            "[--invalidity-date 2026-01-31T00:00:00Z]\n",
            why);
    return EXIT_USAGE;
}

/*
 * signet revoke: one durable write (cert, revoked index, audit, blocked key for keyCompromise).
 * Bad input (reason, serial, date) exits 1 with one line and changes nothing.
 */
int cmd_revoke(const char *conf, int argc, char **argv)
{
    static const char *const names[] = {"ca", "serial", "reason", "invalidity-date", NULL};
    static const char *const required[] = {"ca", "serial", "reason", NULL};
    struct ca_revoke_request req;
    struct ca_revoked out;
    struct ca_ctx *ctx = NULL;
    struct opts o;
    char detail[SIGNET_DETAIL_MAX] = "", requester[64], when[32];
    enum signet_err rc;

    memset(&req, 0, sizeof(req));
    if (!parse_opts(argc, argv, names, &o) || !need(&o, required))
        return usage_revoke("--ca, --serial and --reason are needed");
    if (ca_revoke_reason(opt(&o, "reason"), &req.reason, detail) != SIGNET_OK)
        return fail("revoke", SIGNET_E_INVALID, detail);
    if (opt(&o, "invalidity-date") &&
        !sg_parse_time(opt(&o, "invalidity-date"), &req.invalidity_date)) {
        snprintf(detail, sizeof(detail),
                 "--invalidity-date %.40s: give a time like "
                 "2026-01-31T00:00:00Z",
                 opt(&o, "invalidity-date"));
        return fail("revoke", SIGNET_E_INVALID, detail);
    }
    if (!open_ctx(conf, 0, &ctx))
        return EXIT_REFUSED;
    snprintf(requester, sizeof(requester), "cli:uid=%u", (unsigned)getuid());
    req.ca = opt(&o, "ca");
    req.serial_hex = opt(&o, "serial");
    req.requester = requester;
    rc = ca_revoke(ctx, &req, &out, detail);
    ca_ctx_free(ctx);
    if (rc != SIGNET_OK)
        return fail("revoke", rc == SIGNET_E_USAGE ? SIGNET_E_INVALID : rc, detail);
    sg_format_time(out.revoked_at, when, sizeof(when));
    if (json_out)
        printf("{\"ca\": \"%s\", \"serial\": \"%s\", \"revoked_at\": \"%s\", \"reason\": \"%s\"}\n",
               out.ca, out.serial, when, opt(&o, "reason"));
    else
        printf("revoked %s/%s at %s (%s); the next CRL lists it: signet crl generate --ca %s\n",
               out.ca, out.serial, when, opt(&o, "reason"), out.ca);
    return 0;
}

/* signet crl generate --ca N: the CA's CRLs, signed on its token and published. */
int cmd_crl(const char *conf, int argc, char **argv)
{
    static const char *const names[] = {"ca", NULL};
    static const char *const required[] = {"ca", NULL};
    struct ca_crl_result res;
    struct ca_ctx *ctx = NULL;
    struct opts o;
    char detail[SIGNET_DETAIL_MAX] = "", when[32];
    enum signet_err rc;

    if (argc < 1 || strcmp(argv[0], "generate") != 0) {
        fprintf(errf, "signet: crl: usage: signet crl generate --ca N\n");
        return EXIT_USAGE;
    }
    if (!parse_opts(argc - 1, argv + 1, names, &o) || !need(&o, required)) {
        fprintf(errf, "signet: crl: usage: signet crl generate --ca N\n");
        return EXIT_USAGE;
    }
    if (!open_ctx(conf, 0, &ctx))
        return EXIT_REFUSED;
    rc = ca_crl_generate(ctx, opt(&o, "ca"), &res, detail);
    ca_ctx_free(ctx);
    if (rc != SIGNET_OK)
        return fail("crl generate", rc, detail);
    sg_format_time(res.next_update, when, sizeof(when));
    if (json_out)
        printf("{\"ca\": \"%s\", \"number\": %llu, \"entries\": %zu, \"bytes\": %zu, "
               "\"published\": %zu, \"next_update\": \"%s\"}\n",
               opt(&o, "ca"), (unsigned long long)res.number, res.entries, res.bytes, res.published,
               when);
    else
        printf("CA %s: CRL %llu with %zu entries (%zu bytes), %zu file(s) published; next update "
               "%s\n",
               opt(&o, "ca"), (unsigned long long)res.number, res.entries, res.bytes, res.published,
               when);
    return 0;
}
