/* SPDX-License-Identifier: Apache-2.0 */
/* signet: what every command shares: option parsing, one-line failures, JSON strings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signet.h"

int json_out; /* --json */
FILE *errf;   /* our own messages; library logs reach stderr only with -v */

/* A hint for what to do, by error class, when the detail does not already say. */
const char *hint(enum signet_err err)
{
    switch (err) {
    case SIGNET_E_BADCSR:
        return "make a new CSR with `openssl req -new`";
    case SIGNET_E_BADKEY:
    case SIGNET_E_POLICY:
        return "see the profile in the policies directory (docs/profiles.md)";
    case SIGNET_E_NOTFOUND:
        return "check the name (signet ca list, signet hsm list)";
    case SIGNET_E_PIN:
        return "fix the credential file or variable; it was tried once only";
    case SIGNET_E_HSM_UNAVAILABLE:
        return "try again when the HSM is back";
    case SIGNET_E_CONFIG:
        return "fix signet.conf";
    default:
        return "see docs/operator.md";
    }
}

/* One line on stderr: "signet: WHAT: WHY; WHAT TO DO". Returns EXIT_REFUSED (or 2 on usage). */
int fail(const char *what, enum signet_err err, char *detail)
{
    for (char *p = detail; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    if (json_out)
        printf("{\"error\": \"%s\"}\n", signet_err_name(err));
    fprintf(errf, "signet: %s: %s%s%s\n", what, detail[0] ? detail : signet_err_name(err),
            strstr(detail, "; ") ? "" : "; ", strstr(detail, "; ") ? "" : hint(err));
    return err == SIGNET_E_USAGE ? EXIT_USAGE : EXIT_REFUSED;
}

void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if (*s == '\n')
            fputs("\\n", stdout);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

/*
 * Parses "--name value" pairs of argv against the names allowed (a NULL-terminated list).
 * Returns 1, or 0 after printing a usage error.
 */
int parse_opts(int argc, char **argv, const char *const *allowed, struct opts *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 0; i < argc; i += 2) {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strncmp(argv[i], "--", 2) == 0 && strcmp(argv[i] + 2, *a) == 0;
        if (!ok || i + 1 >= argc || o->n == OPTS_MAX) {
            fprintf(errf, "signet: %s: %s\n", argv[i],
                    ok ? "needs a value" : "unknown option for this command");
            return 0;
        }
        o->name[o->n] = argv[i] + 2;
        o->val[o->n++] = argv[i + 1];
    }
    return 1;
}

const char *opt(const struct opts *o, const char *name)
{
    for (int i = o->n - 1; i >= 0; i--)
        if (strcmp(o->name[i], name) == 0)
            return o->val[i];
    return NULL;
}

/* Checks that each named option was given; prints which is missing. 1 = all there. */
int need(const struct opts *o, const char *const *names)
{
    for (; *names; names++)
        if (opt(o, *names) == NULL) {
            fprintf(errf, "signet: --%s is required\n", *names);
            return 0;
        }
    return 1;
}

int open_ctx(const char *conf, unsigned flags, struct ca_ctx **ctx)
{
    char detail[SIGNET_DETAIL_MAX] = "";
    enum signet_err rc = ca_ctx_open(conf, flags, ctx, detail);

    if (rc != SIGNET_OK) {
        fail("open configuration", rc, detail);
        return 0;
    }
    return 1;
}
