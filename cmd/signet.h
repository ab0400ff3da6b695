/* SPDX-License-Identifier: Apache-2.0 */
/*
 * signet's command files share these: option parsing, the one-line failure, JSON output and
 * opening the configuration. Each command group lives in its own signet_*.c file.
 */
#ifndef SIGNET_CMD_SIGNET_H
#define SIGNET_CMD_SIGNET_H

#include <stdio.h>

#include "ca.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE   2
#define EXIT_QUEUED  3 /* issue: the request waits for an operator's approval */
#define OPTS_MAX     12

extern int json_out; /* --json */
extern FILE *errf;   /* our own messages; library logs reach stderr only with -v */

struct opts {
    const char *name[OPTS_MAX];
    const char *val[OPTS_MAX];
    int n;
};

/* A hint for what to do, by error class. */
const char *hint(enum signet_err err);
/* One line on stderr: "signet: WHAT: WHY; WHAT TO DO". Returns 1, or 2 for SIGNET_E_USAGE. */
int fail(const char *what, enum signet_err err, char *detail);
/* Prints s as a JSON string on stdout. */
void json_str(const char *s);
/* Parses "--name value" pairs against allowed (NULL-terminated). 1, or 0 after a usage error. */
int parse_opts(int argc, char **argv, const char *const *allowed, struct opts *o);
/* The last value given for name, or NULL. */
const char *opt(const struct opts *o, const char *name);
/* 1 when each of names was given; otherwise prints which is missing and returns 0. */
int need(const struct opts *o, const char *const *names);
/* Opens the configuration; on failure prints why and returns 0. */
int open_ctx(const char *conf, unsigned flags, struct ca_ctx **ctx);

/* Command groups in their own files: argc/argv start after the command word. */
int cmd_revoke(const char *conf, int argc, char **argv);   /* signet_revoke.c */
int cmd_crl(const char *conf, int argc, char **argv);      /* signet_revoke.c */
int cmd_request(const char *conf, int argc, char **argv);  /* signet_request.c */
int cmd_root(const char *conf, int argc, char **argv);     /* signet_ceremony.c */
int cmd_ceremony(const char *conf, int argc, char **argv); /* signet_ceremony.c */
int cmd_audit(const char *conf, int argc, char **argv);    /* signet_ceremony.c */

/* ---- backup (signet_backup.c) ---- */
int cmd_backup(const char *conf, int argc, char **argv); /* signet_backup.c */

/* ---- keys: migrate, PIN change, rollover (signet_keys.c) ---- */
int cmd_key(const char *conf, int argc, char **argv);            /* key migrate */
int cmd_hsm_change_pin(const char *conf, int argc, char **argv); /* hsm change-pin */
int cmd_ca_rollover(const char *conf, int argc, char **argv);    /* ca rollover */

#endif
